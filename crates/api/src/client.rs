//! A typed client for every endpoint, over HTTPS (hyper 1, rustls with ring) that trusts only
//! the jitgate CA and authenticates with a client certificate or a bearer ID token.
//!
//! Every call has a time limit covering connect, TLS, the answer and its body; bodies are read
//! up to a size limit; a refusal becomes [`ApiError::Server`] carrying the server's `Status`.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::limits::{DEFAULT_MAX_RESPONSE_BYTES, MAX_RECORDING_BYTES};
use crate::paths::{self, GrantAction, RequestAction};
use crate::{
    AccessRequest, AccessRequestList, ApiError, ApproveBody, CancelBody, CertificateRequest,
    CertificateResponse, CreateAccessRequest, DenyBody, Grant, GrantId, GrantList, GrantQuery,
    ProfileList, RecordedSessionList, RequestId, RequestQuery, ReviewBody, RevokeBody,
    ServerConfig, SessionId, SessionQuery, Status, WaitQuery, WhoAmI,
};

/// How the client proves who it is.
#[derive(Clone, Default)]
pub enum ClientCredential {
    /// Nobody: only `GET /jitgate/v1/config` answers.
    #[default]
    None,
    /// An OIDC ID token, sent as `Authorization: Bearer`. The only credential
    /// `POST /jitgate/v1/certificates` takes.
    BearerToken(String),
    /// A client certificate from the jitgate CA and its private key, both PEM.
    Certificate {
        /// The certificate (chain), PEM.
        cert_pem: String,
        /// The PKCS#8 private key, PEM.
        key_pem: String,
    },
}

impl fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::BearerToken(_) => f.write_str("BearerToken([secret])"),
            Self::Certificate { .. } => f.write_str("Certificate { key: [secret], .. }"),
        }
    }
}

/// Where the gateway is, what to trust, how to authenticate, and the limits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiClientConfig {
    /// The gateway's URL, `https://host:port` (a path prefix is kept).
    pub server: String,
    /// The CA certificates (PEM) to trust for the gateway; nothing else is trusted.
    pub ca_pem: Vec<u8>,
    /// How to authenticate.
    pub credential: ClientCredential,
    /// Limit on each call (a long-poll gets its wait on top). Default 30 s.
    pub timeout: Duration,
    /// Limit on each answer's body. Default 8 MiB.
    pub max_response_bytes: usize,
    /// Sent as `User-Agent`. Default `jitgate-api/<version>`.
    pub user_agent: String,
}

impl ApiClientConfig {
    /// The defaults for `server`, trusting `ca_pem`, without credential.
    pub fn new(server: impl Into<String>, ca_pem: impl Into<Vec<u8>>) -> Self {
        Self {
            server: server.into(),
            ca_pem: ca_pem.into(),
            credential: ClientCredential::None,
            timeout: Duration::from_secs(30),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            user_agent: concat!("jitgate-api/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The same with `credential`.
    #[must_use]
    pub fn with_credential(mut self, credential: ClientCredential) -> Self {
        self.credential = credential;
        self
    }

    /// The same with another time limit per call.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same with another `User-Agent`.
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The same with another response size limit.
    #[must_use]
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }
}

/// Calls the jitgate API of one gateway. Cheap to clone; connections are pooled.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    bearer: Option<HeaderValue>,
    user_agent: HeaderValue,
    timeout: Duration,
    max_response_bytes: usize,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("bearer", &self.bearer.as_ref().map(|_| "[secret]"))
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client for `config`. Fails on a URL that is not `https://host[:port][/prefix]`, a CA
    /// bundle without certificates, or an unusable client certificate. Must be called within a
    /// Tokio runtime's context when used.
    pub fn new(config: ApiClientConfig) -> Result<Self, ApiError> {
        let ApiClientConfig {
            server,
            ca_pem,
            credential,
            timeout,
            max_response_bytes,
            user_agent,
        } = config;
        let base = base_url(&server)?;
        let roots = ca_roots(&ca_pem)?;
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::Tls {
            reason: e.to_string(),
        })?
        .with_root_certificates(roots);
        let mut bearer = None;
        let tls = match &credential {
            ClientCredential::None => builder.with_no_client_auth(),
            ClientCredential::BearerToken(token) => {
                let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    ApiError::ClientCertificate {
                        reason: "the ID token holds characters a header cannot carry".to_owned(),
                    }
                })?;
                let mut value = value;
                value.set_sensitive(true);
                bearer = Some(value);
                builder.with_no_client_auth()
            }
            ClientCredential::Certificate { cert_pem, key_pem } => {
                let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ApiError::ClientCertificate {
                        reason: format!("the certificate is not PEM ({e})"),
                    })?;
                if chain.is_empty() {
                    return Err(ApiError::ClientCertificate {
                        reason: "no CERTIFICATE in the certificate PEM".to_owned(),
                    });
                }
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
                    ApiError::ClientCertificate {
                        reason: format!("the private key is not PEM ({e})"),
                    }
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    ApiError::ClientCertificate {
                        reason: e.to_string(),
                    }
                })?
            }
        };
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let user_agent =
            HeaderValue::from_str(&user_agent).map_err(|_| ApiError::InvalidField {
                field: "user_agent",
                reason: "it holds characters a header cannot carry".to_owned(),
            })?;
        Ok(Self {
            base,
            http: Client::builder(TokioExecutor::new()).build(https),
            bearer,
            user_agent,
            timeout,
            max_response_bytes,
        })
    }

    /// The server URL requests go to (no trailing slash).
    #[must_use]
    pub fn server(&self) -> &str {
        &self.base
    }

    /// `GET /jitgate/v1/config`.
    pub async fn config(&self) -> Result<ServerConfig, ApiError> {
        self.call(
            Method::GET,
            paths::CONFIG.to_owned(),
            None,
            "a ServerConfig",
            self.timeout,
        )
        .await
    }

    /// `POST /jitgate/v1/certificates` (bearer only).
    pub async fn issue_certificate(
        &self,
        body: &CertificateRequest,
    ) -> Result<CertificateResponse, ApiError> {
        body.validate()?;
        let body = encode(body)?;
        self.call(
            Method::POST,
            paths::CERTIFICATES.to_owned(),
            Some(body),
            "a CertificateResponse",
            self.timeout,
        )
        .await
    }

    /// `GET /jitgate/v1/whoami`.
    pub async fn whoami(&self) -> Result<WhoAmI, ApiError> {
        self.call(
            Method::GET,
            paths::WHOAMI.to_owned(),
            None,
            "a WhoAmI",
            self.timeout,
        )
        .await
    }

    /// `GET /jitgate/v1/profiles`.
    pub async fn profiles(&self) -> Result<ProfileList, ApiError> {
        self.call(
            Method::GET,
            paths::PROFILES.to_owned(),
            None,
            "a ProfileList",
            self.timeout,
        )
        .await
    }

    /// `POST /jitgate/v1/requests`.
    pub async fn create_request(
        &self,
        body: &CreateAccessRequest,
    ) -> Result<AccessRequest, ApiError> {
        body.validate()?;
        let body = encode(body)?;
        self.call(
            Method::POST,
            paths::REQUESTS.to_owned(),
            Some(body),
            "an AccessRequest",
            self.timeout,
        )
        .await
    }

    /// `GET /jitgate/v1/requests?…`.
    pub async fn list_requests(&self, query: &RequestQuery) -> Result<AccessRequestList, ApiError> {
        let path = format!("{}?{}", paths::REQUESTS, query.to_query());
        self.call(
            Method::GET,
            path,
            None,
            "an AccessRequestList",
            self.timeout,
        )
        .await
    }

    /// `GET /jitgate/v1/requests/{id}`.
    pub async fn get_request(&self, id: &RequestId) -> Result<AccessRequest, ApiError> {
        self.call(
            Method::GET,
            paths::request(id),
            None,
            "an AccessRequest",
            self.timeout,
        )
        .await
    }

    /// `GET /jitgate/v1/requests/{id}?waitFor=…&timeout=…`: returns when the request reaches
    /// `wait.wait_for` or a terminal state, or after the wait; look at `state`.
    pub async fn wait_for_request(
        &self,
        id: &RequestId,
        wait: &WaitQuery,
    ) -> Result<AccessRequest, ApiError> {
        let path = format!("{}?{}", paths::request(id), wait.to_query());
        let limit = self.timeout.saturating_add(wait.effective_timeout());
        self.call(Method::GET, path, None, "an AccessRequest", limit)
            .await
    }

    /// `POST /jitgate/v1/requests/{id}/approve`.
    pub async fn approve(
        &self,
        id: &RequestId,
        body: &ApproveBody,
    ) -> Result<AccessRequest, ApiError> {
        body.validate()?;
        self.act_on_request(id, RequestAction::Approve, encode(body)?)
            .await
    }

    /// `POST /jitgate/v1/requests/{id}/deny`.
    pub async fn deny(&self, id: &RequestId, body: &DenyBody) -> Result<AccessRequest, ApiError> {
        body.validate()?;
        self.act_on_request(id, RequestAction::Deny, encode(body)?)
            .await
    }

    /// `POST /jitgate/v1/requests/{id}/cancel`.
    pub async fn cancel(
        &self,
        id: &RequestId,
        body: &CancelBody,
    ) -> Result<AccessRequest, ApiError> {
        body.validate()?;
        self.act_on_request(id, RequestAction::Cancel, encode(body)?)
            .await
    }

    /// `GET /jitgate/v1/grants?…`.
    pub async fn list_grants(&self, query: &GrantQuery) -> Result<GrantList, ApiError> {
        let path = format!("{}?{}", paths::GRANTS, query.to_query());
        self.call(Method::GET, path, None, "a GrantList", self.timeout)
            .await
    }

    /// `POST /jitgate/v1/grants/{id}/revoke`.
    pub async fn revoke_grant(&self, id: &GrantId, body: &RevokeBody) -> Result<Grant, ApiError> {
        body.validate()?;
        self.call(
            Method::POST,
            paths::grant_action(id, GrantAction::Revoke),
            Some(encode(body)?),
            "a Grant",
            self.timeout,
        )
        .await
    }

    /// `POST /jitgate/v1/grants/{id}/review`.
    pub async fn review_grant(&self, id: &GrantId, body: &ReviewBody) -> Result<Grant, ApiError> {
        body.validate()?;
        self.call(
            Method::POST,
            paths::grant_action(id, GrantAction::Review),
            Some(encode(body)?),
            "a Grant",
            self.timeout,
        )
        .await
    }

    async fn act_on_request(
        &self,
        id: &RequestId,
        action: RequestAction,
        body: Vec<u8>,
    ) -> Result<AccessRequest, ApiError> {
        self.call(
            Method::POST,
            paths::request_action(id, action),
            Some(body),
            "an AccessRequest",
            self.timeout,
        )
        .await
    }

    /// `GET /jitgate/v1/sessions`: recorded exec and attach sessions, newest first.
    pub async fn list_sessions(
        &self,
        query: &SessionQuery,
    ) -> Result<RecordedSessionList, ApiError> {
        let path = format!("{}?{}", paths::SESSIONS, query.to_query());
        self.call(
            Method::GET,
            path,
            None,
            "a RecordedSessionList",
            self.timeout,
        )
        .await
    }

    /// `GET /jitgate/v1/sessions/{id}/recording`: the session's recording as the gateway
    /// wrote it (asciicast v2), read up to [`MAX_RECORDING_BYTES`] whatever
    /// `max_response_bytes` says.
    pub async fn recording(&self, id: &SessionId) -> Result<Bytes, ApiError> {
        let (url, code, body) = self
            .exchange(
                Method::GET,
                paths::session_recording(id),
                None,
                "application/x-asciicast",
                self.max_response_bytes.max(MAX_RECORDING_BYTES),
                self.timeout,
            )
            .await?;
        if code.is_success() {
            return Ok(body);
        }
        Err(refusal(url, code.as_u16(), &body))
    }

    /// Sends one request and reads the answer as `T`, or as a refusal.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: String,
        body: Option<Vec<u8>>,
        what: &'static str,
        limit: Duration,
    ) -> Result<T, ApiError> {
        let (url, code, body) = self
            .exchange(
                method,
                path_and_query,
                body,
                "application/json",
                self.max_response_bytes,
                limit,
            )
            .await?;
        if code.is_success() {
            return serde_json::from_slice(&body).map_err(|source| ApiError::Decode {
                url,
                what,
                source,
            });
        }
        Err(refusal(url, code.as_u16(), &body))
    }

    /// Sends one request and reads the whole answer (at most `max_bytes`) within `limit`:
    /// the URL, the status and the body.
    async fn exchange(
        &self,
        method: Method,
        path_and_query: String,
        body: Option<Vec<u8>>,
        accept: &'static str,
        max_bytes: usize,
        limit: Duration,
    ) -> Result<(String, http::StatusCode, Bytes), ApiError> {
        let url = format!("{}{path_and_query}", self.base);
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::ACCEPT, accept)
            .header(header::USER_AGENT, self.user_agent.clone());
        if let Some(bearer) = &self.bearer {
            request = request.header(header::AUTHORIZATION, bearer.clone());
        }
        let body = match body {
            Some(bytes) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(|e| ApiError::InvalidServerUrl {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let exchange = async {
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| ApiError::Connect {
                    url: url.clone(),
                    reason: error_chain(&e),
                })?;
            let code = response.status();
            let body = Limited::new(response.into_body(), max_bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        ApiError::ResponseTooLarge {
                            url: url.clone(),
                            limit: max_bytes,
                        }
                    } else {
                        ApiError::Connect {
                            url: url.clone(),
                            reason: format!("reading the answer failed: {e}"),
                        }
                    }
                })?
                .to_bytes();
            Ok::<_, ApiError>((code, body))
        };
        let (code, body) =
            tokio::time::timeout(limit, exchange)
                .await
                .map_err(|_| ApiError::Timeout {
                    url: url.clone(),
                    after: limit,
                })??;
        Ok((url, code, body))
    }
}

/// The error for a non-2xx answer: the server's `Status` when the body is one.
fn refusal(url: String, code: u16, body: &[u8]) -> ApiError {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && Status::is_status(&value)
        && let Ok(mut status) = serde_json::from_value::<Status>(value)
    {
        if status.code == 0 {
            status.code = code;
        }
        if status.message.is_empty() {
            status.message = format!("HTTP {code} with no message");
        }
        return ApiError::Server {
            url,
            status: Box::new(status),
        };
    }
    let snippet: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    ApiError::UnexpectedResponse {
        url,
        code,
        snippet: snippet.trim().to_owned(),
    }
}

fn encode<T: Serialize>(body: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(body).map_err(|source| ApiError::Encode { source })
}

/// `https://host[:port][/prefix]` without a trailing slash.
fn base_url(server: &str) -> Result<String, ApiError> {
    let invalid = |reason: &str| ApiError::InvalidServerUrl {
        url: server.chars().take(200).collect(),
        reason: reason.to_owned(),
    };
    let uri: http::Uri = server
        .parse()
        .map_err(|_| invalid("it is not a URL; write e.g. https://jitgate.example.com:8443"))?;
    if uri.scheme_str() != Some("https") {
        return Err(invalid("only https:// is allowed"));
    }
    let authority = uri.authority().ok_or_else(|| invalid("it names no host"))?;
    if authority.as_str().contains('@') {
        return Err(invalid("it must not hold a user name or password"));
    }
    if uri.query().is_some() {
        return Err(invalid("it must not have a query"));
    }
    let path = uri.path().trim_end_matches('/');
    Ok(format!("https://{authority}{path}"))
}

fn ca_roots(pem: &[u8]) -> Result<RootCertStore, ApiError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| ApiError::CaCertificate {
            reason: format!("it is not PEM ({e})"),
        })?;
        roots.add(cert).map_err(|e| ApiError::CaCertificate {
            reason: format!("a certificate in it cannot be used ({e})"),
        })?;
    }
    if roots.is_empty() {
        return Err(ApiError::CaCertificate {
            reason: "it holds no certificate".to_owned(),
        });
    }
    Ok(roots)
}

/// "client error (Connect): invalid peer certificate: UnknownIssuer" rather than the first link.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("https://127.0.0.1:8443", Ok("https://127.0.0.1:8443")),
            ("https://127.0.0.1:8443/", Ok("https://127.0.0.1:8443")),
            ("https://gw.example/k8s/", Ok("https://gw.example/k8s")),
            ("http://127.0.0.1:8443", Err("only https:// is allowed")),
            ("127.0.0.1:8443", Err("only https://")),
            ("https://u:p@gw.example", Err("user name or password")),
            ("https://gw.example/?a=b", Err("must not have a query")),
            ("not a url", Err("it is not a URL")),
        ];
        for (url, want) in cases {
            let got = base_url(url).map_err(|e| e.to_string());
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(*w), "{url}"),
                Err(w) => assert!(got.as_ref().is_err_and(|e| e.contains(w)), "{url}: {got:?}"),
            }
        }
    }

    #[test]
    fn refusals_carry_the_status() {
        let body = Status::failure(409, "r-0123abcd is already denied").to_json();
        let err = refusal("u".into(), 409, body.as_bytes());
        assert_eq!(
            err.to_string(),
            "jitgate refused: r-0123abcd is already denied (409 Conflict)"
        );
        let err = refusal("u".into(), 502, b"<html>Bad Gateway</html>\n");
        assert!(
            matches!(err, ApiError::UnexpectedResponse { code: 502, .. }),
            "{err}"
        );
        let err = refusal(
            "u".into(),
            500,
            br#"{"kind":"Status","apiVersion":"v1","status":"Failure"}"#,
        );
        assert_eq!(err.http_status(), Some(500));
        assert!(
            err.to_string().contains("HTTP 500 with no message"),
            "{err}"
        );
    }

    #[test]
    fn credentials_are_not_printed() {
        let shown = format!(
            "{:?} {:?}",
            ClientCredential::BearerToken("eyJsecret".into()),
            ClientCredential::Certificate {
                cert_pem: "C".into(),
                key_pem: "PRIVATEKEY".into()
            }
        );
        assert!(
            !shown.contains("eyJsecret") && !shown.contains("PRIVATEKEY"),
            "{shown}"
        );
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let err = ca_roots(b"not pem").unwrap_err();
        assert!(err.to_string().contains("holds no certificate"), "{err}");
    }
}
