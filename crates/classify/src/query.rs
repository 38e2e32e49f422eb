//! Reads the few query parameters classification needs, the way Go's `url.ParseQuery` does, but
//! refusing what Go would silently drop (bad percent-encoding, `;`).

use crate::ClassifyError;

/// Longest query string accepted, in bytes. Exec commands travel in the query, so this is larger
/// than the path limit.
pub const MAX_QUERY_LEN: usize = 64 * 1024;

/// The first value of each query parameter that request classification reads (Go's
/// `url.Values.Get` semantics: the first occurrence wins).
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub(crate) watch: Option<String>,
    pub(crate) field_selector: Option<String>,
    pub(crate) label_selector: Option<String>,
    pub(crate) limit: Option<String>,
    pub(crate) timeout_seconds: Option<String>,
}

impl Query {
    /// Parses the raw query (without the `?`). Every pair must be well encoded, even those that
    /// are not read, so that the gateway never forwards a query it could not have read itself.
    pub(crate) fn parse(raw: &str) -> Result<Self, ClassifyError> {
        if raw.len() > MAX_QUERY_LEN {
            return Err(ClassifyError::QueryTooLong {
                len: raw.len(),
                max: MAX_QUERY_LEN,
            });
        }
        if raw.contains(';') {
            return Err(ClassifyError::QuerySemicolon);
        }
        let mut query = Self::default();
        let mut offset = 0;
        for pair in raw.split('&') {
            let start = offset;
            offset += pair.len() + 1;
            if pair.is_empty() {
                continue;
            }
            let (raw_key, raw_value, value_start) = match pair.split_once('=') {
                Some((k, v)) => (k, v, start + k.len() + 1),
                None => (pair, "", start + pair.len()),
            };
            let key = unescape(raw_key, start)?;
            let value = unescape(raw_value, value_start)?;
            let Ok(key) = String::from_utf8(key) else {
                // Not a parameter we read; its encoding was valid, so leave it be.
                continue;
            };
            let slot = match key.as_str() {
                "watch" => &mut query.watch,
                "fieldSelector" => &mut query.field_selector,
                "labelSelector" => &mut query.label_selector,
                "limit" => &mut query.limit,
                "timeoutSeconds" => &mut query.timeout_seconds,
                _ => continue,
            };
            if slot.is_none() {
                let value =
                    String::from_utf8(value).map_err(|_| ClassifyError::QueryNotUtf8 { key })?;
                *slot = Some(value);
            }
        }
        Ok(query)
    }
}

/// Decodes `%XX` and `+` (form encoding, as Go's `QueryUnescape`). `base` is the offset of `s`
/// in the whole query, for error messages.
fn unescape(s: &str, base: usize) -> Result<Vec<u8>, ClassifyError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_value);
                let lo = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(ClassifyError::QueryEncoding { at: base + i });
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins() {
        let q = Query::parse("watch=1&watch=0").unwrap();
        assert_eq!(q.watch.as_deref(), Some("1"));
    }

    #[test]
    fn keys_and_values_are_decoded() {
        let q = Query::parse("w%61tch=tr%75e&fieldSelector=metadata.name%3Dfoo+bar").unwrap();
        assert_eq!(q.watch.as_deref(), Some("true"));
        assert_eq!(q.field_selector.as_deref(), Some("metadata.name=foo bar"));
    }

    #[test]
    fn key_without_value_is_empty() {
        let q = Query::parse("watch").unwrap();
        assert_eq!(q.watch.as_deref(), Some(""));
    }

    #[test]
    fn bad_escape_anywhere_is_an_error() {
        assert_eq!(
            Query::parse("command=ls&x=%zz").unwrap_err(),
            ClassifyError::QueryEncoding { at: 13 }
        );
        assert_eq!(
            Query::parse("a=%4").unwrap_err(),
            ClassifyError::QueryEncoding { at: 2 }
        );
        assert_eq!(
            Query::parse("%").unwrap_err(),
            ClassifyError::QueryEncoding { at: 0 }
        );
    }

    #[test]
    fn semicolon_is_refused() {
        assert_eq!(
            Query::parse("watch=1;x=2").unwrap_err(),
            ClassifyError::QuerySemicolon
        );
    }

    #[test]
    fn non_utf8_value_of_a_read_parameter_is_an_error() {
        assert_eq!(
            Query::parse("fieldSelector=%ff").unwrap_err(),
            ClassifyError::QueryNotUtf8 {
                key: "fieldSelector".into()
            }
        );
        // ... but not of one that is only passed through.
        assert!(Query::parse("command=%ff").is_ok());
    }

    #[test]
    fn too_long_is_refused() {
        let long = "a".repeat(MAX_QUERY_LEN + 1);
        assert!(matches!(
            Query::parse(&long),
            Err(ClassifyError::QueryTooLong { .. })
        ));
    }
}
