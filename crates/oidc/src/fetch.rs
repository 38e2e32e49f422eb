//! The issuer's keys over HTTPS: discovery (OpenID Connect Discovery 1.0 §4) gives `jwks_uri`,
//! which gives the key set. Keys are cached; a token with an unknown key id triggers a refetch —
//! issuers rotate keys — but at most once per cooldown, so tokens with made-up key ids cannot
//! turn the gateway into a load generator against the issuer.

use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::Value;
use tokio::time::Instant;

use crate::{Claims, Jwks, OidcError, Verifier};

/// Where the keys come from and how long they are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksCacheConfig {
    /// The issuer URL (`https://…`); discovery is at `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// PEM certificates to trust for the issuer's TLS, instead of the system's CAs. The sandbox
    /// Dex needs its CA here.
    pub ca_bundle_pem: Option<Vec<u8>>,
    /// Least time between two fetches triggered by unknown key ids or by failures. Default 30 s.
    pub refetch_cooldown: Duration,
    /// Keys older than this are fetched again before use; if that fails, tokens are refused
    /// until it works (fail closed). Default 1 h.
    pub max_age: Duration,
    /// Limit on each request to the issuer. Default 10 s.
    pub timeout: Duration,
    /// Limit on each response body. Default 256 KiB.
    pub max_response_bytes: usize,
}

impl JwksCacheConfig {
    /// The defaults for `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            ca_bundle_pem: None,
            refetch_cooldown: Duration::from_secs(30),
            max_age: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            max_response_bytes: 256 * 1024,
        }
    }
}

/// Keys in hand and when they were fetched.
#[derive(Debug, Clone)]
struct Fetched {
    jwks: Arc<Jwks>,
    at: Instant,
}

/// The last fetch attempt; guarded by an async mutex so that one fetch runs at a time.
#[derive(Debug, Default)]
struct Attempt {
    at: Option<Instant>,
    error: Option<String>,
}

/// The issuer's key set, fetched on first use and kept (see the module docs).
#[derive(Debug)]
pub struct JwksCache {
    config: JwksCacheConfig,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    current: RwLock<Option<Fetched>>,
    attempt: tokio::sync::Mutex<Attempt>,
    fetches: AtomicU64,
}

impl JwksCache {
    /// A cache for `config`; nothing is fetched yet. Fails if the CA bundle holds no certificate
    /// or, without one, if the system has no CA certificates.
    pub fn new(config: JwksCacheConfig) -> Result<Self, OidcError> {
        if !config.issuer.starts_with("https://") {
            return Err(OidcError::Config(format!(
                "the issuer {:?} must be an https:// URL",
                config.issuer
            )));
        }
        let roots = match &config.ca_bundle_pem {
            Some(pem) => bundle_roots(pem)?,
            None => system_roots()?,
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| OidcError::Config(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Self {
            config,
            client,
            current: RwLock::new(None),
            attempt: tokio::sync::Mutex::new(Attempt::default()),
            fetches: AtomicU64::new(0),
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// How many times keys were fetched (successfully or not) so far.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// The current keys: from the cache while younger than `max_age`, fetched otherwise.
    pub async fn keys(&self) -> Result<Arc<Jwks>, OidcError> {
        if let Some(jwks) = self.fresh() {
            return Ok(jwks);
        }
        let mut attempt = self.attempt.lock().await;
        // Another task may have fetched while this one waited for the lock.
        if let Some(jwks) = self.fresh() {
            return Ok(jwks);
        }
        if let (Some(at), Some(error)) = (attempt.at, &attempt.error)
            && at.elapsed() < self.config.refetch_cooldown
        {
            return Err(OidcError::Fetch {
                what: "keys",
                url: self.config.issuer.clone(),
                reason: format!(
                    "{error} (next attempt within {}s)",
                    self.config.refetch_cooldown.as_secs()
                ),
            });
        }
        self.fetch(&mut attempt).await
    }

    /// Called when a token names a key id that `seen` lacks. Returns newer keys — fetched now,
    /// or by another task since `seen` was handed out — or `None` when the cooldown forbids a
    /// fetch and nothing newer is in hand.
    pub async fn refetch_for_unknown_key(
        &self,
        seen: &Arc<Jwks>,
    ) -> Result<Option<Arc<Jwks>>, OidcError> {
        let mut attempt = self.attempt.lock().await;
        if let Some(current) = self.current()
            && !Arc::ptr_eq(&current.jwks, seen)
        {
            return Ok(Some(current.jwks));
        }
        if attempt
            .at
            .is_some_and(|at| at.elapsed() < self.config.refetch_cooldown)
        {
            return Ok(None);
        }
        self.fetch(&mut attempt).await.map(Some)
    }

    fn current(&self) -> Option<Fetched> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn fresh(&self) -> Option<Arc<Jwks>> {
        self.current()
            .filter(|f| f.at.elapsed() < self.config.max_age)
            .map(|f| f.jwks)
    }

    async fn fetch(&self, attempt: &mut Attempt) -> Result<Arc<Jwks>, OidcError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        attempt.at = Some(now);
        match self.fetch_uncached().await {
            Ok(jwks) => {
                let jwks = Arc::new(jwks);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Fetched {
                    jwks: Arc::clone(&jwks),
                    at: now,
                });
                attempt.error = None;
                Ok(jwks)
            }
            Err(err) => {
                attempt.error = Some(err.to_string());
                Err(err)
            }
        }
    }

    async fn fetch_uncached(&self) -> Result<Jwks, OidcError> {
        let issuer = self.config.issuer.as_str();
        let discovery_url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let body = self.get("discovery document", &discovery_url).await?;
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|e| OidcError::Discovery(format!("it is not valid JSON ({e})")))?;
        // OIDC Discovery §4.3: the document must name exactly the issuer it was fetched for.
        match doc.get("issuer").and_then(Value::as_str) {
            Some(found) if found == issuer => {}
            Some(found) => {
                return Err(OidcError::Discovery(format!(
                    "it names the issuer {}, not {issuer:?}",
                    crate::Quoted::new(found)
                )));
            }
            None => return Err(OidcError::Discovery("it has no \"issuer\"".into())),
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::Discovery("it has no \"jwks_uri\"".into()))?;
        if !jwks_uri.starts_with("https://") {
            return Err(OidcError::Discovery(format!(
                "its jwks_uri {} is not an https:// URL",
                crate::Quoted::new(jwks_uri)
            )));
        }
        let body = self.get("keys (JWKS)", jwks_uri).await?;
        let jwks = Jwks::from_json(&body)?;
        if jwks.is_empty() {
            return Err(OidcError::Jwks(
                "it holds no key that can verify signatures".into(),
            ));
        }
        Ok(jwks)
    }

    async fn get(&self, what: &'static str, url: &str) -> Result<Bytes, OidcError> {
        let fail = |reason: String| OidcError::Fetch {
            what,
            url: url.to_owned(),
            reason,
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|_| fail("it is not a valid URL".into()))?;
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| fail(e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| fail(error_chain(&e)))?;
            if response.status() != http::StatusCode::OK {
                return Err(fail(format!("it answered {}", response.status())));
            }
            let limit = self.config.max_response_bytes;
            let body = Limited::new(response.into_body(), limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        fail(format!("the response is larger than {limit} bytes"))
                    } else {
                        fail(format!("reading the response failed: {e}"))
                    }
                })?;
            Ok(body.to_bytes())
        };
        tokio::time::timeout(self.config.timeout, exchange)
            .await
            .map_err(|_| {
                fail(format!(
                    "no answer within {}s",
                    self.config.timeout.as_secs_f32()
                ))
            })?
    }
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

fn bundle_roots(pem: &[u8]) -> Result<RootCertStore, OidcError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| OidcError::CaBundle(format!("it is not valid PEM ({e})")))?;
        roots
            .add(cert)
            .map_err(|e| OidcError::CaBundle(format!("a certificate in it is unusable ({e})")))?;
    }
    if roots.is_empty() {
        return Err(OidcError::CaBundle("it holds no certificate".into()));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, OidcError> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(OidcError::Config(
            "the system has no CA certificates to trust the issuer with; give the issuer's CA bundle".into(),
        ));
    }
    Ok(roots)
}

/// Verifies bearer tokens of one issuer: a [`Verifier`] over a [`JwksCache`].
#[derive(Debug)]
pub struct Authenticator {
    verifier: Verifier,
    keys: JwksCache,
}

impl Authenticator {
    /// Fails if the verifier and the cache are for different issuers.
    pub fn new(verifier: Verifier, keys: JwksCache) -> Result<Self, OidcError> {
        if verifier.config().issuer != keys.issuer() {
            return Err(OidcError::Config(format!(
                "the verifier trusts {:?} but the keys come from {:?}",
                verifier.config().issuer,
                keys.issuer()
            )));
        }
        Ok(Self { verifier, keys })
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The key cache.
    pub fn keys(&self) -> &JwksCache {
        &self.keys
    }

    /// Verifies `token` now, fetching the issuer's keys as needed.
    pub async fn authenticate(&self, token: &str) -> Result<Claims, OidcError> {
        let now = unix_now()?;
        // The size limit is checked before any key is needed, so that garbage costs nothing.
        let limit = self.verifier.config().max_token_bytes;
        if token.len() > limit {
            return Err(OidcError::TokenTooLarge {
                size: token.len(),
                limit,
            });
        }
        let jwks = self.keys.keys().await?;
        match self.verifier.verify(token, &jwks, now) {
            Err(err) if err.is_unknown_key() => {
                match self.keys.refetch_for_unknown_key(&jwks).await? {
                    Some(newer) => self.verifier.verify(token, &newer, now),
                    None => Err(err),
                }
            }
            result => result,
        }
    }
}

fn unix_now() -> Result<i64, OidcError> {
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| OidcError::Config("the system clock is before 1970".into()))?;
    i64::try_from(since_epoch.as_secs())
        .map_err(|_| OidcError::Config("the system clock is unusable".into()))
}

#[cfg(test)]
mod tests;
