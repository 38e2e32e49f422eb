//! What a stream benchmark must receive, byte for byte — the sandbox container server's
//! `GET /bytes` pattern, or the zeros of `head -c N /dev/zero` — and the HTTP/1.1 response head
//! in front of a port-forwarded body. I/O-free, so the checks are tested on their own.

use anyhow::{Context as _, bail};

/// What the sandbox's container server repeats in `GET /bytes?n=N`
/// (`sandbox/internal/containerserver`).
pub const HTTP_BYTES_PATTERN: &[u8; 16] = b"0123456789abcdef";

/// The largest response head accepted from the forwarded port before the body.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The content a stream is expected to carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Zero bytes (`/dev/zero`).
    Zeros,
    /// [`HTTP_BYTES_PATTERN`] over and over, from its first byte.
    HttpBytesPattern,
}

/// How much of the reference is compared at once.
const COMPARE_CHUNK: usize = 64 * 1024;

/// Checks a stream's bytes against its [`Content`] as they arrive, at memcmp speed, and counts
/// them.
#[derive(Debug)]
pub struct Verifier {
    /// The content repeated over `COMPARE_CHUNK` bytes plus one period, so any offset's next
    /// `COMPARE_CHUNK` bytes are one slice of it.
    reference: Vec<u8>,
    period: usize,
    bytes: u64,
    first_mismatch: Option<u64>,
}

impl Verifier {
    /// A verifier at offset 0.
    pub fn new(content: Content) -> Self {
        let pattern: &[u8] = match content {
            Content::Zeros => &[0],
            Content::HttpBytesPattern => HTTP_BYTES_PATTERN,
        };
        let reference = pattern
            .iter()
            .copied()
            .cycle()
            .take(COMPARE_CHUNK + pattern.len())
            .collect();
        Self {
            reference,
            period: pattern.len(),
            bytes: 0,
            first_mismatch: None,
        }
    }

    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            let n = chunk.len().min(COMPARE_CHUNK);
            // The remainder is below `period` (at most 16), so the cast cannot truncate.
            let phase = (self.bytes % self.period as u64) as usize;
            let (now, rest) = chunk.split_at(n);
            if self.first_mismatch.is_none() && now != &self.reference[phase..phase + n] {
                let at = now
                    .iter()
                    .zip(&self.reference[phase..])
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                self.first_mismatch = Some(self.bytes + at as u64);
            }
            self.bytes += n as u64;
            chunk = rest;
        }
    }

    /// Bytes taken so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The offset of the first byte that differed from the content, if one did.
    pub fn first_mismatch(&self) -> Option<u64> {
        self.first_mismatch
    }
}

/// The parts of an HTTP/1.1 response head the port-forward benchmark checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// `Content-Length`, if sent.
    pub content_length: Option<u64>,
    /// Bytes of the head, up to and including the blank line; the body starts after them.
    pub len: usize,
}

/// Parses a response head from the start of `buf`: `Ok(None)` while it is incomplete (and still
/// within [`MAX_HEAD_BYTES`]), an error if it is malformed or too large.
pub fn parse_response_head(buf: &[u8]) -> anyhow::Result<Option<ResponseHead>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp
        .parse(buf)
        .context("the forwarded port answered something that is not an HTTP/1.1 response")?
    {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial if buf.len() > MAX_HEAD_BYTES => {
            bail!("the response head from the forwarded port is over {MAX_HEAD_BYTES} bytes")
        }
        httparse::Status::Partial => return Ok(None),
    };
    let mut content_length = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .with_context(|| {
                    format!(
                        "bad Content-Length {:?} from the forwarded port",
                        String::from_utf8_lossy(h.value)
                    )
                })?;
            if content_length.is_some_and(|c| c != value) {
                bail!("the forwarded port sent two different Content-Length headers");
            }
            content_length = Some(value);
        }
    }
    Ok(Some(ResponseHead {
        status: resp.code.unwrap_or(0),
        content_length,
        len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(offset: usize, n: usize) -> Vec<u8> {
        (offset..offset + n)
            .map(|i| HTTP_BYTES_PATTERN[i % 16])
            .collect()
    }

    #[test]
    fn verifier_accepts_the_content_whatever_the_chunking() {
        let cases: [(&str, Content, Vec<u8>); 3] = [
            ("zeros", Content::Zeros, vec![0; 300_000]),
            ("pattern", Content::HttpBytesPattern, pattern(0, 300_000)),
            ("empty", Content::HttpBytesPattern, Vec::new()),
        ];
        for (name, content, data) in cases {
            for chunk in [1, 7, 16, 4096, 65_537, 300_000] {
                let mut v = Verifier::new(content);
                for c in data.chunks(chunk) {
                    v.feed(c);
                }
                assert_eq!(v.bytes(), data.len() as u64, "{name}, chunks of {chunk}");
                assert_eq!(v.first_mismatch(), None, "{name}, chunks of {chunk}");
            }
        }
    }

    #[test]
    fn verifier_reports_the_first_wrong_byte() {
        let cases: [(&str, Content, Vec<u8>, u64); 4] = [
            (
                "a one in zeros",
                Content::Zeros,
                {
                    let mut d = vec![0; 200_000];
                    d[150_001] = 1;
                    d[150_002] = 1;
                    d
                },
                150_001,
            ),
            (
                "a shifted pattern",
                Content::HttpBytesPattern,
                pattern(1, 100),
                0,
            ),
            (
                "a dropped byte",
                Content::HttpBytesPattern,
                {
                    let mut d = pattern(0, 100_000);
                    d.remove(70_000);
                    d
                },
                70_000,
            ),
            (
                "zeros for the pattern",
                Content::HttpBytesPattern,
                vec![0; 10],
                0,
            ),
        ];
        for (name, content, data, at) in cases {
            for chunk in [3, 65_536, 1 << 20] {
                let mut v = Verifier::new(content);
                for c in data.chunks(chunk) {
                    v.feed(c);
                }
                assert_eq!(v.first_mismatch(), Some(at), "{name}, chunks of {chunk}");
                assert_eq!(v.bytes(), data.len() as u64, "{name}");
            }
        }
    }

    #[test]
    fn response_heads() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\nContent-Type: x\r\n\r\n0123";
        let head = parse_response_head(ok).unwrap().unwrap();
        assert_eq!(
            head,
            ResponseHead {
                status: 200,
                content_length: Some(1 << 30),
                len: ok.len() - 4
            }
        );
        let cases: [(&str, &[u8], Option<bool>); 6] = [
            // (name, input, Some(true) = complete, Some(false) = incomplete, None = error)
            ("partial", b"HTTP/1.1 200 OK\r\nContent-Len", Some(false)),
            ("no length", b"HTTP/1.1 400 Bad\r\n\r\n", Some(true)),
            ("garbage", b"SSH-2.0-OpenSSH\r\n\r\n", None),
            (
                "bad length",
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                None,
            ),
            (
                "two lengths",
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n",
                None,
            ),
            ("empty", b"", Some(false)),
        ];
        for (name, input, want) in cases {
            let got = parse_response_head(input);
            match want {
                Some(complete) => {
                    assert_eq!(got.unwrap().is_some(), complete, "{name}");
                }
                None => assert!(got.is_err(), "{name}: {got:?}"),
            }
        }
        let mut huge = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        huge.resize(MAX_HEAD_BYTES + 10, b'a');
        assert!(
            parse_response_head(&huge).is_err(),
            "an endless head is refused"
        );
    }
}
