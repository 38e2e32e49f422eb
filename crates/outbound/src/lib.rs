//! The HTTPS client jitgate uses when it calls out to a service it does not run: notification
//! sinks and on-call APIs. rustls with the ring provider, the Mozilla root program's roots
//! compiled into the binary (no system store needed) or only the certificates of a configured
//! CA bundle, HTTP/1.1, pooled connections.
//!
//! The connector itself would speak plain `http` to any host; each caller admits `http` URLs
//! for loopback hosts only (tests) before a request is ever made.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// The pooled HTTP/1.1 client.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How long an idle pooled connection is kept.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configured CA bundle is unusable.
    #[error("the CA bundle is unusable: {problem}")]
    CaBundle {
        /// What is wrong with it.
        problem: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {source}")]
    Tls {
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
}

/// Builds the client. With `ca_pem`, only the certificates in it are trusted; without, the
/// bundled Mozilla roots.
pub fn build(ca_pem: Option<&[u8]>, connect_timeout: Duration) -> Result<HttpClient, BuildError> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|source| BuildError::Tls { source })?
    .with_root_certificates(roots(ca_pem)?)
    .with_no_client_auth();

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector))
}

/// The trusted roots: the bundle's certificates, or the bundled Mozilla roots.
fn roots(ca_pem: Option<&[u8]>) -> Result<rustls::RootCertStore, BuildError> {
    let bad = |problem: String| BuildError::CaBundle { problem };
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(mut pem) => {
            for cert in rustls_pemfile::certs(&mut pem) {
                let cert = cert.map_err(|e| bad(e.to_string()))?;
                roots.add(cert).map_err(|e| bad(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad("it contains no certificate".into()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_trusts_only_its_certificates() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["ca.test".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let pem = cert.pem();
        assert_eq!(roots(Some(pem.as_bytes())).expect("roots").len(), 1);
        assert!(roots(None).expect("bundled").len() > 100);
    }

    #[test]
    fn an_unusable_bundle_says_what_is_wrong() {
        let empty = roots(Some(b"not a certificate")).expect_err("no certificate");
        assert!(
            empty.to_string().contains("contains no certificate"),
            "{empty}"
        );
        let broken = roots(Some(
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        ))
        .expect_err("broken PEM");
        assert!(matches!(broken, BuildError::CaBundle { .. }), "{broken}");
    }
}
