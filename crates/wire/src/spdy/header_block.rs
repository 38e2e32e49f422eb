//! The name/value header block of SYN_STREAM, SYN_REPLY and HEADERS (SPDY draft 3 §2.6.10,
//! unchanged in 3.1), before compression.
//!
//! Wire form: a 32-bit pair count, then per pair a 32-bit name length, the name, a 32-bit value
//! length, the value. Names are non-empty lower-case US-ASCII and appear once per block; a value
//! is empty or holds one or more non-empty values separated by single NUL bytes.
//!
//! Parsing is stricter than moby/spdystream, which lower-cases and merges what it reads: a gateway
//! that reads `streamtype` one way while the upstream reads it another is a smuggling bug, so an
//! upper-case name or a repeated name is an error here.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes};

use super::{Limits, SpdyError};

/// One header: a name and its raw value (NUL-separated if it holds several values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    name: String,
    value: Bytes,
}

impl Header {
    /// The header's name (lower-case ASCII).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw value, NUL separators included.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The raw value as UTF-8, if it is.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    /// The individual values (one empty value for an empty header, as Go's `http.Header` reads it).
    pub fn values(&self) -> impl Iterator<Item = &[u8]> {
        self.value.split(|b| *b == 0)
    }
}

/// An ordered set of headers with distinct names, as carried by one SYN_STREAM, SYN_REPLY or
/// HEADERS frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderBlock {
    headers: Vec<Header>,
}

impl HeaderBlock {
    /// An empty block.
    pub fn new() -> HeaderBlock {
        HeaderBlock::default()
    }

    /// Sets `name` to `value`, replacing and returning any previous value.
    ///
    /// # Errors
    /// [`SpdyError::InvalidHeaderName`] if `name` is empty, has upper-case letters or anything but
    /// printable ASCII; [`SpdyError::InvalidHeaderValue`] if `value` starts or ends with NUL or has
    /// two NULs in a row.
    pub fn insert(
        &mut self,
        name: &str,
        value: impl Into<Bytes>,
    ) -> Result<Option<Bytes>, SpdyError> {
        let value = value.into();
        validate_name(name.as_bytes())?;
        validate_value(name, &value)?;
        if let Some(existing) = self.headers.iter_mut().find(|h| h.name == name) {
            return Ok(Some(std::mem::replace(&mut existing.value, value)));
        }
        self.headers.push(Header {
            name: name.to_owned(),
            value,
        });
        Ok(None)
    }

    /// `self` with `name` set to `value`; see [`HeaderBlock::insert`].
    ///
    /// # Errors
    /// As [`HeaderBlock::insert`].
    pub fn with(mut self, name: &str, value: impl Into<Bytes>) -> Result<HeaderBlock, SpdyError> {
        self.insert(name, value)?;
        Ok(self)
    }

    /// The header called `name`.
    pub fn get(&self, name: &str) -> Option<&Header> {
        self.headers.iter().find(|h| h.name == name)
    }

    /// Removes the header called `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Bytes> {
        let index = self.headers.iter().position(|h| h.name == name)?;
        Some(self.headers.remove(index).value)
    }

    /// The headers in wire order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.headers.iter()
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Appends a header whose name and value the caller guarantees are valid and new (the
    /// Kubernetes constants, and values checked to be printable ASCII).
    pub(crate) fn push_valid(&mut self, name: &'static str, value: Bytes) {
        debug_assert!(validate_name(name.as_bytes()).is_ok());
        debug_assert!(validate_value(name, &value).is_ok());
        debug_assert!(self.get(name).is_none());
        self.headers.push(Header {
            name: name.to_owned(),
            value,
        });
    }

    /// Appends the uncompressed wire form to `out`, checking `limits` first so the peer's decoder
    /// (with the same limits) accepts it.
    pub(crate) fn write_to(&self, limits: &Limits, out: &mut Vec<u8>) -> Result<(), SpdyError> {
        let count = u32::try_from(self.headers.len()).unwrap_or(u32::MAX);
        if count > limits.max_headers {
            return Err(SpdyError::TooManyHeaders {
                count: self.headers.len() as u64,
                max: limits.max_headers,
            });
        }
        let mut total: u64 = 4;
        for header in &self.headers {
            let name_len = header.name.len() as u64;
            let value_len = header.value.len() as u64;
            if name_len > u64::from(limits.max_header_name_len) {
                return Err(SpdyError::HeaderNameTooLong {
                    len: name_len,
                    max: limits.max_header_name_len,
                });
            }
            if value_len > u64::from(limits.max_header_value_len) {
                return Err(SpdyError::HeaderValueTooLong {
                    name: header.name.clone(),
                    len: value_len,
                    max: limits.max_header_value_len,
                });
            }
            total += 8 + name_len + value_len;
        }
        if total > u64::from(limits.max_header_block_len) {
            return Err(SpdyError::HeaderBlockTooLarge {
                max: limits.max_header_block_len as usize,
            });
        }
        out.reserve(usize::try_from(total).unwrap_or(0));
        out.put_u32(count);
        for header in &self.headers {
            // Both lengths were checked against u32 limits above.
            out.put_u32(header.name.len() as u32);
            out.put_slice(header.name.as_bytes());
            out.put_u32(header.value.len() as u32);
            out.put_slice(&header.value);
        }
        Ok(())
    }

    /// Parses a decompressed header block, which must be exactly one block.
    pub(crate) fn parse(block: &Bytes, limits: &Limits) -> Result<HeaderBlock, SpdyError> {
        let mut at = 0usize;
        let count = read_u32(block, &mut at, "it ends before its pair count")?;
        if count > limits.max_headers {
            return Err(SpdyError::TooManyHeaders {
                count: u64::from(count),
                max: limits.max_headers,
            });
        }
        // Each pair takes at least 8 bytes, so the block's size bounds the allocation too.
        let capacity = (count as usize).min(block.len() / 8);
        let mut headers = Vec::with_capacity(capacity);
        let mut seen = BTreeSet::new();
        for _ in 0..count {
            let name_len = read_u32(block, &mut at, "it ends inside a header name length")?;
            if name_len > limits.max_header_name_len {
                return Err(SpdyError::HeaderNameTooLong {
                    len: u64::from(name_len),
                    max: limits.max_header_name_len,
                });
            }
            let name = take(block, &mut at, name_len, "it ends inside a header name")?;
            validate_name(&name)?;
            // validate_name accepts printable ASCII only, which is UTF-8.
            let name = String::from_utf8_lossy(&name).into_owned();
            let value_len = read_u32(block, &mut at, "it ends inside a header value length")?;
            if value_len > limits.max_header_value_len {
                return Err(SpdyError::HeaderValueTooLong {
                    name,
                    len: u64::from(value_len),
                    max: limits.max_header_value_len,
                });
            }
            let value = take(block, &mut at, value_len, "it ends inside a header value")?;
            validate_value(&name, &value)?;
            if !seen.insert(name.clone()) {
                return Err(SpdyError::DuplicateHeader { name });
            }
            headers.push(Header { name, value });
        }
        if at != block.len() {
            return Err(SpdyError::MalformedHeaderBlock {
                reason: "bytes follow its last header",
            });
        }
        Ok(HeaderBlock { headers })
    }
}

impl<'a> IntoIterator for &'a HeaderBlock {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;

    fn into_iter(self) -> Self::IntoIter {
        self.headers.iter()
    }
}

fn read_u32(block: &[u8], at: &mut usize, reason: &'static str) -> Result<u32, SpdyError> {
    let bytes: [u8; 4] = at
        .checked_add(4)
        .and_then(|end| block.get(*at..end))
        .and_then(|b| b.try_into().ok())
        .ok_or(SpdyError::MalformedHeaderBlock { reason })?;
    *at += 4;
    Ok(u32::from_be_bytes(bytes))
}

fn take(block: &Bytes, at: &mut usize, len: u32, reason: &'static str) -> Result<Bytes, SpdyError> {
    let end = at
        .checked_add(len as usize)
        .filter(|end| *end <= block.len())
        .ok_or(SpdyError::MalformedHeaderBlock { reason })?;
    let bytes = block.slice(*at..end);
    *at = end;
    Ok(bytes)
}

fn validate_name(name: &[u8]) -> Result<(), SpdyError> {
    let reason = if name.is_empty() {
        "names must not be empty"
    } else if name.iter().any(u8::is_ascii_uppercase) {
        "names must be lower case"
    } else if !name.iter().all(u8::is_ascii_graphic) {
        "names must be printable US-ASCII without spaces"
    } else {
        return Ok(());
    };
    Err(SpdyError::InvalidHeaderName {
        name: crate::error::shorten(name),
        reason,
    })
}

fn validate_value(name: &str, value: &[u8]) -> Result<(), SpdyError> {
    let reason = if value.first() == Some(&0) || value.last() == Some(&0) {
        "a value must not start or end with NUL"
    } else if value.windows(2).any(|w| w == [0, 0]) {
        "values must be separated by a single NUL"
    } else {
        return Ok(());
    };
    Err(SpdyError::InvalidHeaderValue {
        name: name.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<HeaderBlock, SpdyError> {
        HeaderBlock::parse(&Bytes::copy_from_slice(bytes), &Limits::DEFAULT)
    }

    fn encoded(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_u32(pairs.len() as u32);
        for (name, value) in pairs {
            out.put_u32(name.len() as u32);
            out.put_slice(name);
            out.put_u32(value.len() as u32);
            out.put_slice(value);
        }
        out
    }

    #[test]
    fn round_trips_multi_and_empty_values() {
        let block = HeaderBlock::new()
            .with("streamtype", "error")
            .and_then(|b| b.with("x-multi", &b"a\0b"[..]))
            .and_then(|b| b.with("empty", ""))
            .expect("valid headers");
        let mut out = Vec::new();
        block.write_to(&Limits::DEFAULT, &mut out).expect("fits");
        let parsed = parse(&out).expect("parses");
        assert_eq!(parsed, block);
        let multi = parsed.get("x-multi").expect("present");
        assert_eq!(multi.values().collect::<Vec<_>>(), [&b"a"[..], b"b"]);
        let empty = parsed.get("empty").expect("present");
        assert_eq!(empty.values().collect::<Vec<_>>(), [&b""[..]]);
    }

    #[test]
    fn refuses_upper_case_duplicate_and_empty_names() {
        assert!(matches!(
            parse(&encoded(&[(b"StreamType", b"stdin")])),
            Err(SpdyError::InvalidHeaderName { .. })
        ));
        assert!(matches!(
            parse(&encoded(&[
                (b"streamtype", b"stdin"),
                (b"streamtype", b"stdout")
            ])),
            Err(SpdyError::DuplicateHeader { .. })
        ));
        assert!(matches!(
            parse(&encoded(&[(b"", b"x")])),
            Err(SpdyError::InvalidHeaderName { .. })
        ));
        assert!(matches!(
            parse(&encoded(&[(b"a b", b"x")])),
            Err(SpdyError::InvalidHeaderName { .. })
        ));
    }

    #[test]
    fn refuses_badly_separated_values() {
        for value in [&b"\0a"[..], b"a\0", b"a\0\0b", b"\0"] {
            assert!(
                matches!(
                    parse(&encoded(&[(b"x", value)])),
                    Err(SpdyError::InvalidHeaderValue { .. })
                ),
                "{value:?}"
            );
        }
    }

    #[test]
    fn refuses_truncated_and_trailing_bytes() {
        let good = encoded(&[(b"port", b"8080")]);
        for cut in 0..good.len() {
            assert!(matches!(
                parse(&good[..cut]),
                Err(SpdyError::MalformedHeaderBlock { .. })
            ));
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            parse(&long),
            Err(SpdyError::MalformedHeaderBlock { .. })
        ));
    }

    #[test]
    fn enforces_limits_on_both_sides() {
        let limits = Limits {
            max_headers: 1,
            max_header_name_len: 4,
            max_header_value_len: 4,
            ..Limits::DEFAULT
        };
        let too_many = encoded(&[(b"a", b""), (b"b", b"")]);
        assert!(matches!(
            HeaderBlock::parse(&Bytes::from(too_many), &limits),
            Err(SpdyError::TooManyHeaders { count: 2, max: 1 })
        ));
        let long_name = encoded(&[(b"abcde", b"")]);
        assert!(matches!(
            HeaderBlock::parse(&Bytes::from(long_name), &limits),
            Err(SpdyError::HeaderNameTooLong { len: 5, max: 4 })
        ));
        let long_value = HeaderBlock::new().with("a", "12345").expect("valid");
        assert!(matches!(
            long_value.write_to(&limits, &mut Vec::new()),
            Err(SpdyError::HeaderValueTooLong { len: 5, max: 4, .. })
        ));
        // A huge count with no bytes behind it must fail without allocating for it.
        let mut huge = Vec::new();
        huge.put_u32(u32::MAX);
        let unlimited = Limits {
            max_headers: u32::MAX,
            ..Limits::DEFAULT
        };
        assert!(matches!(
            HeaderBlock::parse(&Bytes::from(huge), &unlimited),
            Err(SpdyError::MalformedHeaderBlock { .. })
        ));
    }

    #[test]
    fn insert_replaces_and_validates() {
        let mut block = HeaderBlock::new();
        assert_eq!(block.insert("port", "80").expect("valid"), None);
        assert_eq!(
            block.insert("port", "8080").expect("valid"),
            Some(Bytes::from_static(b"80"))
        );
        assert_eq!(block.len(), 1);
        assert!(block.insert("Port", "1").is_err());
        assert!(block.insert("port", &b"1\0"[..]).is_err());
        assert_eq!(block.remove("port"), Some(Bytes::from_static(b"8080")));
        assert!(block.is_empty());
    }
}
