//! A deliberately plain HTTP/1.1 client, over TLS or TCP, that sends the request line and headers
//! byte for byte as given: for what kubectl will not send — forged tokens, crafted certificates,
//! path tricks, client-sent `Impersonate-*` headers — and for the gateway's admin port.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

use crate::stack::{StackError, StackResult};

/// How long connecting, and each read or write, may take.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a response that is read.
const MAX_RESPONSE: usize = 16 << 20;

/// Host and port of a `scheme://host:port[/prefix]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Whether the scheme is `https`.
    pub tls: bool,
    /// The path part of the URL (without a trailing `/`), e.g. `/dex`; empty if none.
    pub prefix: String,
}

impl Endpoint {
    /// Parses `http(s)://host[:port][/prefix]`.
    pub fn parse(url: &str) -> StackResult<Self> {
        let bad = |why: &str| StackError::unexpected(format!("URL {url:?}"), why.to_owned());
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad("not http:// or https://"));
        };
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse().map_err(|_| bad("the port is not a number"))?,
            ),
            _ => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let prefix = prefix.trim_end_matches('/');
        Ok(Self {
            host: host.to_owned(),
            port,
            tls,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            },
        })
    }
}

/// A request as it goes on the wire.
#[derive(Debug, Clone)]
pub struct RawRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Request target exactly as sent (may hold any bytes).
    pub target: Vec<u8>,
    /// Header lines, in order, besides `Host`, `Connection: close` and `Content-Length`.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// A request with no headers and no body.
    pub fn new(method: &str, target: impl Into<Vec<u8>>) -> Self {
        Self {
            method: method.to_owned(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds `Authorization: Bearer TOKEN`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The target as text, for messages.
    pub fn target_text(&self) -> String {
        String::from_utf8_lossy(&self.target).into_owned()
    }
}

/// A response, read to the end.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body, de-chunked.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

impl std::fmt::Display for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} ", self.status)?;
        for (k, v) in &self.headers {
            write!(f, "[{k}: {v}] ")?;
        }
        write!(f, "body: {}", self.text())
    }
}

/// A client for one endpoint, with or without a client certificate.
#[derive(Clone)]
pub struct RawClient {
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for RawClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawClient")
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// A client certificate chain (leaf first) and its key, both PEM.
#[derive(Debug, Clone, Copy)]
pub struct ClientCert<'a> {
    /// Certificate chain, PEM.
    pub cert_pem: &'a str,
    /// Private key, PEM (PKCS#8, SEC1 or PKCS#1).
    pub key_pem: &'a str,
}

impl RawClient {
    /// A plain-HTTP client for `url`.
    pub fn http(url: &str) -> StackResult<Self> {
        Ok(Self {
            endpoint: Endpoint::parse(url)?,
            tls: None,
        })
    }

    /// An HTTPS client for `url` trusting exactly `ca_pem`, presenting `client` if given.
    ///
    /// The client certificate is sent whatever the server hints, so certificates from a
    /// foreign CA reach the server too.
    pub fn https(url: &str, ca_pem: &str, client: Option<ClientCert<'_>>) -> StackResult<Self> {
        let endpoint = Endpoint::parse(url)?;
        let tls_err = |what: &str, e: &dyn std::fmt::Display| StackError::Http {
            method: "TLS".to_owned(),
            target: url.to_owned(),
            detail: format!("{what}: {e}"),
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| tls_err("reading the CA PEM", &e))?;
            roots
                .add(cert)
                .map_err(|e| tls_err("adding the CA to the roots", &e))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("TLS versions", &e))?
        .with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some(c) => {
                let chain = CertificateDer::pem_slice_iter(c.cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| tls_err("reading the client certificate PEM", &e))?;
                let key = PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes())
                    .map_err(|e| tls_err("reading the client key PEM", &e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| tls_err("client certificate", &e))?
            }
        };
        Ok(Self {
            endpoint,
            tls: Some(Arc::new(config)),
        })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `GET path` with no extra headers.
    pub fn get(&self, path: &str) -> StackResult<RawResponse> {
        self.send(&RawRequest::new("GET", path))
    }

    /// Sends `req` on a fresh connection (`Connection: close`) and reads the whole response.
    pub fn send(&self, req: &RawRequest) -> StackResult<RawResponse> {
        let fail = self.failure(req);
        let mut conn = self.connect(req)?;
        let raw = exchange(&mut conn, &self.encode(req)).map_err(|e| fail(e.to_string()))?;
        parse_response(&raw).map_err(fail)
    }

    /// Sends `req` and reads the response on a thread as it arrives, for long-lived responses
    /// (watches, `logs -f`); the connection is closed when the [`RawStream`] is dropped.
    pub fn stream(&self, req: &RawRequest) -> StackResult<RawStream> {
        let fail = self.failure(req);
        let mut conn = self.connect(req)?;
        conn.set_read_timeout(STREAM_TICK)
            .map_err(|e| fail(format!("setting the read timeout: {e}")))?;
        conn.write_all(&self.encode(req))
            .and_then(|()| conn.flush())
            .map_err(|e| fail(format!("sending: {e}")))?;
        let shared = Arc::new(StreamShared::default());
        let feed = Arc::clone(&shared);
        thread::Builder::new()
            .name("raw-http-stream".to_owned())
            .spawn(move || {
                let mut buf = [0u8; 16 << 10];
                while !feed.stop.load(Ordering::Relaxed) {
                    match conn.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let mut state = feed.lock();
                            if state.bytes.len() < MAX_RESPONSE {
                                state.bytes.extend_from_slice(&buf[..n]);
                            }
                            drop(state);
                            feed.changed.notify_all();
                        }
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock
                                    | std::io::ErrorKind::TimedOut
                                    | std::io::ErrorKind::Interrupted
                            ) => {}
                        Err(e) => {
                            feed.lock().error = Some(e.to_string());
                            break;
                        }
                    }
                }
                let mut state = feed.lock();
                state.ended = Some(Instant::now());
                drop(state);
                feed.changed.notify_all();
            })
            .map_err(|e| fail(format!("starting the reader thread: {e}")))?;
        Ok(RawStream {
            what: format!("{} {}", req.method, req.target_text()),
            shared,
        })
    }

    fn failure(&self, req: &RawRequest) -> impl Fn(String) -> StackError + use<> {
        let method = req.method.clone();
        let target = format!(
            "{}://{}:{}{}",
            if self.endpoint.tls { "https" } else { "http" },
            self.endpoint.host,
            self.endpoint.port,
            req.target_text()
        );
        move |detail| StackError::Http {
            method: method.clone(),
            target: target.clone(),
            detail,
        }
    }

    fn connect(&self, req: &RawRequest) -> StackResult<Conn> {
        let fail = self.failure(req);
        let addr = (self.endpoint.host.as_str(), self.endpoint.port)
            .to_socket_addrs()
            .map_err(|e| fail(format!("resolving: {e}")))?
            .next()
            .ok_or_else(|| fail("the host resolves to no address".to_owned()))?;
        let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|e| fail(format!("connecting: {e}")))?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|()| tcp.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| fail(format!("setting timeouts: {e}")))?;
        match &self.tls {
            None => Ok(Conn::Plain(tcp)),
            Some(config) => {
                let name = ServerName::try_from(self.endpoint.host.clone())
                    .map_err(|e| fail(format!("server name: {e}")))?;
                let conn = rustls::ClientConnection::new(Arc::clone(config), name)
                    .map_err(|e| fail(format!("TLS: {e}")))?;
                Ok(Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
            }
        }
    }

    fn encode(&self, req: &RawRequest) -> Vec<u8> {
        let mut wire = Vec::with_capacity(256 + req.body.len());
        wire.extend_from_slice(req.method.as_bytes());
        wire.push(b' ');
        wire.extend_from_slice(&req.target);
        wire.extend_from_slice(b" HTTP/1.1\r\n");
        let host = if self.endpoint.host.contains(':') {
            format!("[{}]:{}", self.endpoint.host, self.endpoint.port)
        } else {
            format!("{}:{}", self.endpoint.host, self.endpoint.port)
        };
        let mut lines = vec![("Host".to_owned(), host)];
        lines.extend(req.headers.iter().cloned());
        lines.push(("Connection".to_owned(), "close".to_owned()));
        if !req.body.is_empty() || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH") {
            lines.push(("Content-Length".to_owned(), req.body.len().to_string()));
        }
        for (k, v) in lines {
            wire.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&req.body);
        wire
    }
}

/// How often a stream's reader thread looks whether it should stop.
const STREAM_TICK: Option<Duration> = Some(Duration::from_millis(100));

/// One connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.set_read_timeout(timeout),
            Self::Tls(tls) => tls.sock.set_read_timeout(timeout),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

#[derive(Debug, Default)]
struct StreamState {
    bytes: Vec<u8>,
    ended: Option<Instant>,
    error: Option<String>,
}

#[derive(Debug, Default)]
struct StreamShared {
    state: Mutex<StreamState>,
    changed: Condvar,
    stop: AtomicBool,
}

impl StreamShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A response being read as it arrives; closed when dropped.
#[derive(Debug)]
pub struct RawStream {
    what: String,
    shared: Arc<StreamShared>,
}

impl RawStream {
    /// The request, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Everything received so far (head and body, as on the wire).
    pub fn bytes(&self) -> Vec<u8> {
        self.shared.lock().bytes.clone()
    }

    /// Everything received so far, as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.shared.lock().bytes).into_owned()
    }

    /// When the server ended the response (closed the connection), if it has.
    pub fn ended(&self) -> Option<Instant> {
        self.shared.lock().ended
    }

    /// The read error that ended the stream, if one did.
    pub fn error(&self) -> Option<String> {
        self.shared.lock().error.clone()
    }

    /// Waits until `check` finds something in what was received, or the stream ends, or
    /// `timeout` passes.
    pub fn wait_until<T>(
        &self,
        timeout: Duration,
        check: impl Fn(&[u8]) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(found) = check(&state.bytes) {
                return Some(found);
            }
            let now = Instant::now();
            if state.ended.is_some() || now >= deadline {
                return None;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits until the server ends the response; its end time, or `None` after `timeout`.
    pub fn wait_end(&self, timeout: Duration) -> Option<Instant> {
        self.wait_until(timeout, |_| None::<()>);
        self.ended()
    }
}

impl Drop for RawStream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// Writes `wire` and reads until the server closes (or the size cap).
fn exchange(mut stream: impl Read + Write, wire: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(wire)?;
    stream.flush()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > MAX_RESPONSE {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A server that closes without TLS close_notify: what came is the response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => break,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => {
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(raw)
}

/// Parses a complete HTTP/1.1 response.
pub fn parse_response(raw: &[u8]) -> Result<RawResponse, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            format!(
                "no complete response head in {} bytes: {:?}",
                raw.len(),
                String::from_utf8_lossy(&raw[..raw.len().min(300)])
            )
        })?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let header = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v);
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        rest.get(..len)
            .ok_or_else(|| format!("body shorter ({}) than Content-Length {len}", rest.len()))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size line")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("truncated chunk")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split() {
        let e = Endpoint::parse("https://127.0.0.1:8443").expect("valid");
        assert_eq!((e.host.as_str(), e.port, e.tls), ("127.0.0.1", 8443, true));
        assert_eq!(e.prefix, "");
        let e = Endpoint::parse("https://127.0.0.1:5556/dex/").expect("valid");
        assert_eq!(e.prefix, "/dex");
        let e = Endpoint::parse("http://localhost").expect("valid");
        assert_eq!((e.port, e.tls), (80, false));
        assert!(Endpoint::parse("ftp://x").is_err());
    }

    #[test]
    fn responses_are_parsed_with_and_without_chunking() {
        let r =
            parse_response(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nX-A: b\r\n\r\nnoEXTRA")
                .expect("valid");
        assert_eq!(r.status, 403);
        assert_eq!(r.body, b"no");
        assert_eq!(r.header("x-a"), Some("b"));
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .expect("valid");
        assert_eq!(r.body, b"abcde");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
