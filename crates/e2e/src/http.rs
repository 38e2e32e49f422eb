//! A minimal HTTP/1.1 client over `std::net::TcpStream`, enough to talk to the sandbox's built-in
//! server through `kubectl port-forward` (RFC 9112: status line, headers, Content-Length or
//! chunked body). One request per connection (`Connection: close`), so every request is a new
//! forwarded stream.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::{HarnessError, Result};

/// Most bytes accepted in the status line plus headers.
const MAX_HEAD: usize = 64 << 10;
/// Most bytes accepted in a body.
const MAX_BODY: usize = 64 << 20;

/// A response: status code and body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Header fields, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<HttpResponse> {
    request(addr, "GET", path, None, timeout)
}

/// `POST path` with `body` (sent with Content-Length).
pub fn post(addr: SocketAddr, path: &str, body: &[u8], timeout: Duration) -> Result<HttpResponse> {
    request(addr, "POST", path, Some(body), timeout)
}

/// Sends one request and reads the whole response.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<HttpResponse> {
    let fail = |detail: String| HarnessError::Http {
        method: method.to_owned(),
        path: path.to_owned(),
        addr: addr.to_string(),
        detail,
    };
    let stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail(format!("connect: {e}")))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| fail(format!("setting timeouts: {e}")))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut writer = &stream;
    writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.write_all(body.unwrap_or_default()))
        .and_then(|()| writer.flush())
        .map_err(|e| fail(format!("sending the request: {e}")))?;
    read_response(BufReader::new(&stream)).map_err(fail)
}

/// Reads a response from `reader`; errors are plain text for [`HarnessError::Http`].
pub fn read_response(mut reader: impl BufRead) -> std::result::Result<HttpResponse, String> {
    let mut budget = MAX_HEAD;
    let status_line = read_line(&mut reader, &mut budget)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x status line: {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("no status code in {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader, &mut budget)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("malformed header line {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let chunked = header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        read_chunked(&mut reader)?
    } else if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("bad Content-Length {len:?}"))?;
        if len > MAX_BODY {
            return Err(format!(
                "Content-Length {len} exceeds the {MAX_BODY}-byte limit"
            ));
        }
        let mut body = vec![0u8; len];
        reader
            .read_exact(&mut body)
            .map_err(|e| format!("reading a {len}-byte body: {e}"))?;
        body
    } else {
        let mut body = Vec::new();
        reader
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| format!("reading the body to EOF: {e}"))?;
        if body.len() > MAX_BODY {
            return Err(format!("body exceeds the {MAX_BODY}-byte limit"));
        }
        body
    };
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn read_line(reader: &mut impl BufRead, budget: &mut usize) -> std::result::Result<String, String> {
    let mut line = Vec::new();
    let limit = (*budget as u64).saturating_add(1);
    let n = reader
        .take(limit)
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading the response head: {e}"))?;
    if n == 0 {
        return Err("connection closed before the response head ended".to_owned());
    }
    if n > *budget || line.last() != Some(&b'\n') {
        return Err(format!("response head over {MAX_HEAD} bytes or cut short"));
    }
    *budget -= n;
    let text = String::from_utf8(line).map_err(|_| "response head is not UTF-8".to_owned())?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

fn read_chunked(reader: &mut impl BufRead) -> std::result::Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut budget = MAX_HEAD;
    loop {
        let size_line = read_line(reader, &mut budget)?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size line {size_line:?}"))?;
        if size == 0 {
            // Trailer fields, then an empty line.
            while !read_line(reader, &mut budget)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(format!("chunked body exceeds the {MAX_BODY}-byte limit"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|e| format!("reading a {size}-byte chunk: {e}"))?;
        if !read_line(reader, &mut budget)?.is_empty() {
            return Err("chunk not followed by CRLF".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::net::TcpListener;

    fn parse(raw: &[u8]) -> std::result::Result<HttpResponse, String> {
        read_response(Cursor::new(raw.to_vec()))
    }

    #[test]
    fn content_length_body() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").expect("valid");
        assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    }

    #[test]
    fn chunked_body_with_extension_and_trailer() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
        assert_eq!(parse(raw).expect("valid").text(), "abcde");
    }

    #[test]
    fn body_to_eof() {
        let r = parse(b"HTTP/1.0 404 Not Found\r\n\r\ngone").expect("valid");
        assert_eq!((r.status, r.text().as_str()), (404, "gone"));
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(parse(b"SSH-2.0-x\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        let huge_header = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(parse(huge_header.as_bytes()).is_err());
    }

    /// Round trip against a real socket: the request is what an HTTP server expects.
    #[test]
    fn posts_over_a_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(&stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).expect("read");
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .expect("content-length")
                .parse()
                .expect("number");
            let mut body = vec![0; len];
            reader.read_exact(&mut body).expect("body");
            let mut writer = &stream;
            write!(
                writer,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{len:x}\r\n"
            )
            .expect("write");
            writer.write_all(&body).expect("write");
            writer.write_all(b"\r\n0\r\n\r\n").expect("write");
            head
        });
        let body = crate::random::random_bytes(100_000);
        let r = post(addr, "/echo", &body, Duration::from_secs(10)).expect("post");
        assert_eq!(r.status, 200);
        assert!(r.body == body, "echoed body differs");
        let head = server.join().expect("server");
        assert!(head.starts_with("POST /echo HTTP/1.1\r\n"), "{head}");
    }
}
