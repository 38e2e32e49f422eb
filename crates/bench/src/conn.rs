//! One kept-alive connection to an endpoint, HTTP/1.1 or HTTP/2, over which every request of a
//! measurement goes: no pool, no reconnects, so only the request itself is timed.

use std::fmt;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::endpoint::Endpoint;

/// The HTTP version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// HTTP/1.1 (ALPN `http/1.1` over TLS).
    Http1,
    /// HTTP/2 (ALPN `h2`); only over TLS, as kubectl speaks it.
    Http2,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http1 => "HTTP/1.1",
            Self::Http2 => "HTTP/2",
        })
    }
}

impl Protocol {
    /// Whether `endpoint` can be reached with this protocol (no h2c: plain HTTP is HTTP/1.1).
    pub fn supported_by(self, endpoint: &Endpoint) -> bool {
        self == Self::Http1 || endpoint.tls.is_some()
    }
}

enum Sender {
    H1(http1::SendRequest<Empty<Bytes>>),
    H2(http2::SendRequest<Empty<Bytes>>),
}

/// An open connection.
pub struct Conn {
    sender: Sender,
    authority: String,
    scheme: &'static str,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("authority", &self.authority)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Connects (TCP, TLS with the endpoint's client certificate, HTTP handshake). Must run
    /// inside a tokio runtime: the connection is driven by a spawned task.
    pub async fn open(endpoint: &Endpoint, protocol: Protocol) -> anyhow::Result<Self> {
        if !protocol.supported_by(endpoint) {
            bail!("{}: {protocol} needs TLS", endpoint.name);
        }
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .with_context(|| {
                format!("{}: connecting to {}", endpoint.name, endpoint.authority())
            })?;
        tcp.set_nodelay(true)?;
        let authority = endpoint.authority();
        let Some(tls) = &endpoint.tls else {
            let sender = handshake1(TokioIo::new(tcp)).await?;
            return Ok(Self {
                sender,
                authority,
                scheme: "http",
                headers: endpoint.headers.clone(),
            });
        };
        let mut cfg = (**tls).clone();
        cfg.alpn_protocols = vec![match protocol {
            Protocol::Http1 => b"http/1.1".to_vec(),
            Protocol::Http2 => b"h2".to_vec(),
        }];
        let stream = TlsConnector::from(std::sync::Arc::new(cfg))
            .connect(endpoint.server_name()?, tcp)
            .await
            .with_context(|| format!("{}: TLS handshake with {authority}", endpoint.name))?;
        let negotiated = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let sender = match protocol {
            Protocol::Http1 => handshake1(TokioIo::new(stream)).await?,
            Protocol::Http2 => {
                if negotiated.as_deref() != Some(b"h2") {
                    bail!(
                        "{}: the server did not agree to HTTP/2 (ALPN)",
                        endpoint.name
                    );
                }
                let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                    .handshake(TokioIo::new(stream))
                    .await
                    .context("HTTP/2 handshake")?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Sender::H2(sender)
            }
        };
        Ok(Self {
            sender,
            authority,
            scheme: "https",
            headers: endpoint.headers.clone(),
        })
    }

    /// Sends `GET path_and_query` and returns the response head; the body is the caller's to read.
    pub async fn get(&mut self, path_and_query: &str) -> anyhow::Result<Response<Incoming>> {
        // HTTP/1.1 carries the authority in Host; HTTP/2 needs an absolute URI for :authority.
        let req = match &self.sender {
            Sender::H1(_) => {
                self.request(Request::get(path_and_query).header(header::HOST, &self.authority))?
            }
            Sender::H2(_) => self.request(Request::get(format!(
                "{}://{}{path_and_query}",
                self.scheme, self.authority
            )))?,
        };
        let resp = match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await.context("connection closed")?;
                s.send_request(req).await?
            }
            Sender::H2(s) => {
                s.ready().await.context("connection closed")?;
                s.send_request(req).await?
            }
        };
        Ok(resp)
    }

    fn request(
        &self,
        mut builder: http::request::Builder,
    ) -> anyhow::Result<Request<Empty<Bytes>>> {
        builder = builder
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "jitgate-bench");
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        Ok(builder.body(Empty::new())?)
    }
}

async fn handshake1<T>(io: TokioIo<T>) -> anyhow::Result<Sender>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(io).await.context("HTTP/1.1 handshake")?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Sender::H1(sender))
}
