//! The HTTPS client for sinks: rustls with ring, the bundled Mozilla roots or a sink's own CA
//! bundle, HTTP/1.1, pooled.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::NotifyError;

/// The pooled client type.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the client for one sink. With `ca_pem`, only its certificates are trusted; without,
/// the Mozilla root program's roots compiled into the binary.
pub(crate) fn build(
    sink: &str,
    ca_pem: Option<&[u8]>,
    connect_timeout: Duration,
) -> Result<HttpClient, NotifyError> {
    let bad_ca = |problem: String| NotifyError::CaBundle {
        sink: sink.to_owned(),
        problem,
    };
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            let mut reader = pem;
            for cert in rustls_pemfile::certs(&mut reader) {
                let cert = cert.map_err(|e| bad_ca(e.to_string()))?;
                roots.add(cert).map_err(|e| bad_ca(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad_ca("it contains no certificate".into()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|source| NotifyError::Tls { source })?
    .with_root_certificates(roots)
    .with_no_client_auth();

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    // The connector would speak plain http to any host, but sink URLs are checked when the sink
    // is made: http only to loopback.
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector))
}
