//! The HTTPS listener with its own accept loop, so the client certificate presented in the TLS
//! handshake reaches the request handler; and the plain-HTTP admin listener for health and
//! metrics (kept off the main listener so it can never shadow a Kubernetes path).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::body::{BoxBody, full};
use crate::gateway::Gateway;

/// What the handler knows about the connection a request came on.
#[derive(Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The certificate chain the client presented (not yet verified; see `authn`).
    pub client_chain: Vec<CertificateDer<'static>>,
    /// Session id for this connection (`s-…`), sent upstream as `jitgate.dev/session`.
    pub session: String,
    /// The shard (thread) serving the connection; its upstream pool is used.
    pub shard: usize,
    /// The outcome of verifying `client_chain`, worked out on the first request: the chain
    /// cannot change within a TLS connection, so later requests only re-check its expiry.
    pub verified_chain: std::sync::OnceLock<Result<crate::authn::Identity, String>>,
}

/// Runs one shard's TLS listener until `shutdown` fires.
pub async fn serve_tls(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shard: usize,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let gateway = gateway.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, "TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let client_chain = tls
                .get_ref()
                .1
                .peer_certificates()
                .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default();
            let conn = Arc::new(ConnInfo {
                peer,
                client_chain,
                session: crate::gateway::new_id("s-"),
                shard,
                verified_chain: std::sync::OnceLock::new(),
            });
            let service = service_fn(move |req: Request<Incoming>| {
                let gateway = gateway.clone();
                let conn = conn.clone();
                async move { Ok::<_, std::convert::Infallible>(gateway.handle(req, conn).await) }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(hyper_util::rt::TokioTimer::new());
            builder.http2().timer(hyper_util::rt::TokioTimer::new());
            let served = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::pin!(served);
            tokio::select! {
                res = served.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(%peer, "connection ended: {e}");
                    }
                }
                () = shutdown.cancelled() => {
                    served.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), served).await;
                }
            }
        });
    }
}

/// Serves `/healthz`, `/readyz` and `/metrics` on a separate plain-HTTP listener.
pub async fn serve_admin(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = shutdown.cancelled() => return Ok(()),
        };
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let gateway = gateway.clone();
                async move { Ok::<_, std::convert::Infallible>(admin(&gateway, &req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn admin(gateway: &Gateway, req: &Request<Incoming>) -> Response<BoxBody> {
    let text = |code: StatusCode, body: String| {
        let mut r = Response::new(full(body));
        *r.status_mut() = code;
        r
    };
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match gateway.ready().await {
            Ok(()) => text(StatusCode::OK, "ok\n".into()),
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            ),
        },
        "/metrics" => {
            let mut r = text(StatusCode::OK, gateway.metrics_text());
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "jitgate admin: /healthz, /readyz, /metrics\n".into(),
        ),
    }
}
