//! Talking to the OpenID provider: discovery (OpenID Connect Discovery 1.0 §4), and form POSTs
//! to the token and device-authorization endpoints (RFC 6749 §4.1.3, RFC 8628 §3.1, §3.4).
//!
//! HTTPS only, trusting the provider's CA bundle from the gateway's config when it has one and
//! the system's CAs otherwise; every exchange has a time limit and a body size limit.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde::Deserialize;

use crate::CliError;

/// Limit on each answer from the provider.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Limit on each exchange with the provider.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The endpoints of the provider that a login uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    /// Must equal the configured issuer exactly.
    pub issuer: String,
    /// Where the browser goes.
    pub authorization_endpoint: String,
    /// Where codes become tokens.
    pub token_endpoint: String,
    /// Where a device login starts (RFC 8628), if the provider offers it.
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    /// PKCE methods (RFC 8414 §2); when listed, `S256` must be among them.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// A refusal from the token endpoint (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenErrorBody {
    /// `invalid_grant`, `authorization_pending`, `slow_down`, ….
    pub error: String,
    /// Human-readable text.
    #[serde(default)]
    pub error_description: Option<String>,
}

/// What came back from a form POST: the status and the body.
#[derive(Debug, Clone)]
pub struct FormAnswer {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

impl FormAnswer {
    /// The OAuth error in a non-2xx answer, when the body is one.
    pub fn oauth_error(&self) -> Option<TokenErrorBody> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The error for a refusal: the OAuth error when there is one, else the status.
    pub fn refusal(&self) -> CliError {
        match self.oauth_error() {
            Some(e) => CliError::TokenRefused {
                error: printable(&e.error, 64),
                description: e.error_description.map(|d| printable(&d, 300)),
            },
            None => CliError::TokenRefused {
                error: format!("HTTP {}", self.status),
                description: Some(printable(&String::from_utf8_lossy(&self.body), 200))
                    .filter(|s| !s.is_empty()),
            },
        }
    }
}

/// Keeps printable characters of text from outside, shortened to `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// HTTPS to one identity provider.
#[derive(Debug, Clone)]
pub struct IdpClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl IdpClient {
    /// A client trusting `ca_pem` (when given) or the system's CAs.
    pub fn new(ca_pem: Option<&str>) -> Result<Self, CliError> {
        let roots = match ca_pem {
            Some(pem) => bundle_roots(pem)?,
            None => system_roots()?,
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::IdpRequest {
            url: String::new(),
            reason: format!("TLS set-up failed: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(connector);
        Ok(Self {
            http: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    /// Fetches and checks the discovery document of `issuer`.
    pub async fn discover(&self, issuer: &str) -> Result<Discovery, CliError> {
        let fail = |reason: String| CliError::Discovery {
            issuer: issuer.to_owned(),
            reason,
        };
        if !issuer.starts_with("https://") {
            return Err(fail("the issuer is not an https:// URL".to_owned()));
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let answer = self.send(Method::GET, &url, None, None).await?;
        if answer.status != 200 {
            return Err(fail(format!(
                "its discovery document {url} answered HTTP {}",
                answer.status
            )));
        }
        let doc: Discovery = serde_json::from_slice(&answer.body)
            .map_err(|e| fail(format!("its discovery document is not usable JSON ({e})")))?;
        // OIDC Discovery §4.3: the document must be for exactly this issuer.
        if doc.issuer != issuer {
            return Err(fail(format!(
                "its discovery document names the issuer {:?}",
                printable(&doc.issuer, 200)
            )));
        }
        for (name, endpoint) in [
            ("authorization_endpoint", Some(&doc.authorization_endpoint)),
            ("token_endpoint", Some(&doc.token_endpoint)),
            (
                "device_authorization_endpoint",
                doc.device_authorization_endpoint.as_ref(),
            ),
        ] {
            if let Some(endpoint) = endpoint
                && !endpoint.starts_with("https://")
            {
                return Err(fail(format!("its {name} is not an https:// URL")));
            }
        }
        if let Some(methods) = &doc.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(fail(
                "it does not support PKCE with S256, which kubectl jit requires".to_owned(),
            ));
        }
        Ok(doc)
    }

    /// POSTs `form` (`application/x-www-form-urlencoded`) to `url`, with HTTP Basic client
    /// authentication when `basic` is given (RFC 6749 §2.3.1).
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<FormAnswer, CliError> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let authorization = basic.map(|(id, secret)| {
            use base64::Engine as _;
            // RFC 6749 §2.3.1: each part form-encoded before base64.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    enc(id),
                    enc(secret)
                ))
            )
        });
        self.send(Method::POST, url, Some(body), authorization.as_deref())
            .await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        form: Option<String>,
        authorization: Option<&str>,
    ) -> Result<FormAnswer, CliError> {
        let fail = |reason: String| CliError::IdpRequest {
            url: url.to_owned(),
            reason,
        };
        let mut request = Request::builder()
            .method(method)
            .uri(url)
            .header(header::ACCEPT, "application/json");
        if let Some(value) = authorization {
            let mut value = http::HeaderValue::from_str(value)
                .map_err(|_| fail("the client credentials cannot be sent in a header".into()))?;
            value.set_sensitive(true);
            request = request.header(header::AUTHORIZATION, value);
        }
        let body = match form {
            Some(form) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Full::new(Bytes::from(form))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request
            .body(body)
            .map_err(|e| fail(format!("it is not a valid URL ({e})")))?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| fail(error_chain(&e)))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        fail(format!(
                            "the answer is larger than {MAX_RESPONSE_BYTES} bytes"
                        ))
                    } else {
                        fail(format!("reading the answer failed: {e}"))
                    }
                })?
                .to_bytes();
            Ok(FormAnswer { status, body })
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| fail(format!("no answer within {}s", TIMEOUT.as_secs())))?
    }
}

fn error_chain(err: &hyper_util::client::legacy::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn bundle_roots(pem: &str) -> Result<RootCertStore, CliError> {
    let fail = |reason: String| CliError::IdpRequest {
        url: String::new(),
        reason: format!("the identity provider's CA bundle from the gateway is unusable: {reason}"),
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| fail(format!("it is not PEM ({e})")))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("a certificate in it cannot be used ({e})")))?;
    }
    if roots.is_empty() {
        return Err(fail("it holds no certificate".to_owned()));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, CliError> {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if roots.is_empty() {
        return Err(CliError::IdpRequest {
            url: String::new(),
            reason: "the system has no CA certificates to trust the identity provider with"
                .to_owned(),
        });
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_the_oauth_error() {
        let answer = FormAnswer {
            status: 400,
            body: Bytes::from_static(br#"{"error":"invalid_grant","error_description":"Invalid or expired code parameter."}"#),
        };
        assert_eq!(
            answer.refusal().to_string(),
            "the identity provider refused the login: invalid_grant (Invalid or expired code parameter.); run kubectl jit login again"
        );
        let html = FormAnswer {
            status: 502,
            body: Bytes::from_static(b"<h1>bad\ngateway</h1>"),
        };
        assert_eq!(
            html.refusal().to_string(),
            "the identity provider refused the login: HTTP 502 (<h1>badgateway</h1>); run kubectl jit login again"
        );
    }

    #[test]
    fn printable_drops_control_characters() {
        assert_eq!(printable("a\u{1b}[31mb\n", 10), "a[31mb");
        assert_eq!(printable("abcdef", 3), "abc");
    }
}
