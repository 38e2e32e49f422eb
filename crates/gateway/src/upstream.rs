//! The gateway's own way to the kube-apiserver: a kubeconfig (or in-cluster config) and the
//! HTTPS client built from it.
//!
//! The client speaks HTTP/1.1 only, on a pool of kept-alive connections; each gateway shard (one
//! thread, see `run`) has a pool of its own, so a request never waits for another thread. Upgrades (exec, attach,
//! port-forward) need it anyway, and for ordinary requests kube-apiserver 1.37 spent markedly less
//! CPU per request and per byte over HTTP/1.1 than over HTTP/2 in `make bench`
//! (docs/benchmarks.md): GET p50 through the gateway fell from 1.40× to 1.29× of direct.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use http::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::body::BoxBody;

/// Why the upstream configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig is not valid YAML of the expected shape.
    #[error("{path} is not a usable kubeconfig: {reason}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// TLS material could not be loaded.
    #[error("TLS setup for the apiserver failed: {0}")]
    Tls(String),
}

#[derive(Debug, Deserialize)]
struct Kubeconfig {
    #[serde(default)]
    clusters: Vec<Named<ClusterEntry>>,
    #[serde(default)]
    users: Vec<Named<UserEntry>>,
    #[serde(default)]
    contexts: Vec<Named<ContextEntry>>,
    #[serde(rename = "current-context", default)]
    current_context: String,
}

#[derive(Debug, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    value: T,
}

#[derive(Debug, Deserialize)]
struct ClusterEntry {
    server: String,
    #[serde(rename = "certificate-authority-data", default)]
    ca_data: Option<String>,
    #[serde(rename = "certificate-authority", default)]
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
struct UserEntry {
    #[serde(rename = "client-certificate-data", default)]
    cert_data: Option<String>,
    #[serde(rename = "client-key-data", default)]
    key_data: Option<String>,
    #[serde(rename = "client-certificate", default)]
    cert_file: Option<PathBuf>,
    #[serde(rename = "client-key", default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    token: Option<String>,
    #[serde(rename = "tokenFile", default)]
    token_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct ContextEntry {
    cluster: String,
    user: String,
}

/// How the gateway proves who it is to the apiserver.
#[derive(Debug, Clone)]
pub enum UpstreamCredential {
    /// A client certificate (sent during the TLS handshake).
    ClientCert,
    /// A bearer token, fixed.
    Token(String),
    /// A bearer token re-read from a file (projected ServiceAccount tokens rotate).
    TokenFile(PathBuf),
}

/// A resolved upstream: where the apiserver is and how to reach it.
#[derive(Debug)]
pub struct UpstreamConfig {
    /// `https://host:port` of the apiserver, without a trailing slash.
    pub server: Uri,
    ca_pem: Vec<u8>,
    client_cert: Option<(Vec<u8>, Vec<u8>)>,
    credential: UpstreamCredential,
}

fn b64(path: &Path, field: &str, value: &str) -> Result<Vec<u8>, UpstreamError> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| UpstreamError::Kubeconfig {
            path: path.to_owned(),
            reason: format!("{field} is not base64: {e}"),
        })
}

fn read(path: &Path) -> Result<Vec<u8>, UpstreamError> {
    std::fs::read(path).map_err(|source| UpstreamError::Read {
        path: path.to_owned(),
        source,
    })
}

impl UpstreamConfig {
    /// Loads the current context of a kubeconfig file.
    pub fn from_kubeconfig(path: &Path) -> Result<Self, UpstreamError> {
        let text = read(path)?;
        let bad = |reason: String| UpstreamError::Kubeconfig {
            path: path.to_owned(),
            reason,
        };
        let kc: Kubeconfig = serde_yaml::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let ctx_name = if kc.current_context.is_empty() {
            kc.contexts
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_default()
        } else {
            kc.current_context.clone()
        };
        let ctx = kc
            .contexts
            .iter()
            .find(|c| c.name == ctx_name)
            .ok_or_else(|| bad(format!("context {ctx_name:?} not found")))?;
        let cluster = kc
            .clusters
            .iter()
            .find(|c| c.name == ctx.value.cluster)
            .ok_or_else(|| bad(format!("cluster {:?} not found", ctx.value.cluster)))?;
        let user = kc
            .users
            .iter()
            .find(|u| u.name == ctx.value.user)
            .map(|u| &u.value)
            .ok_or_else(|| bad(format!("user {:?} not found", ctx.value.user)))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };

        let ca_pem = match (&cluster.value.ca_data, &cluster.value.ca_file) {
            (Some(data), _) => b64(path, "certificate-authority-data", data)?,
            (None, Some(file)) => read(&resolve(file))?,
            (None, None) => return Err(bad(
                "the cluster has no certificate authority; jitgate never skips TLS verification"
                    .into(),
            )),
        };
        let cert = match (&user.cert_data, &user.cert_file) {
            (Some(d), _) => Some(b64(path, "client-certificate-data", d)?),
            (None, Some(f)) => Some(read(&resolve(f))?),
            _ => None,
        };
        let key = match (&user.key_data, &user.key_file) {
            (Some(d), _) => Some(b64(path, "client-key-data", d)?),
            (None, Some(f)) => Some(read(&resolve(f))?),
            _ => None,
        };
        let (client_cert, credential) = match (cert, key, &user.token, &user.token_file) {
            (Some(c), Some(k), _, _) => (Some((c, k)), UpstreamCredential::ClientCert),
            (_, _, Some(t), _) => (None, UpstreamCredential::Token(t.clone())),
            (_, _, None, Some(f)) => (None, UpstreamCredential::TokenFile(resolve(f))),
            _ => {
                return Err(bad(
                    "the user has neither a client certificate and key nor a token".into(),
                ));
            }
        };
        let server: Uri = cluster
            .value
            .server
            .trim_end_matches('/')
            .parse()
            .map_err(|e| bad(format!("server URL: {e}")))?;
        if server.scheme_str() != Some("https") {
            return Err(bad("the apiserver URL must be https".into()));
        }
        Ok(Self {
            server,
            ca_pem,
            client_cert,
            credential,
        })
    }

    /// The in-cluster configuration (ServiceAccount token and CA mounted into the pod).
    pub fn in_cluster() -> Result<Self, UpstreamError> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").unwrap_or_default();
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let sa = Path::new("/var/run/secrets/kubernetes.io/serviceaccount");
        if host.is_empty() {
            return Err(UpstreamError::Kubeconfig {
                path: sa.to_owned(),
                reason: "KUBERNETES_SERVICE_HOST is not set: not running in a cluster; pass --upstream-kubeconfig".into(),
            });
        }
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let server =
            format!("https://{host}:{port}")
                .parse()
                .map_err(|e| UpstreamError::Kubeconfig {
                    path: sa.to_owned(),
                    reason: format!("server URL: {e}"),
                })?;
        Ok(Self {
            server,
            ca_pem: read(&sa.join("ca.crt"))?,
            client_cert: None,
            credential: UpstreamCredential::TokenFile(sa.join("token")),
        })
    }

    fn tls(&self) -> Result<rustls::ClientConfig, UpstreamError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut self.ca_pem.as_slice()) {
            let cert = cert.map_err(|e| UpstreamError::Tls(format!("CA bundle: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| UpstreamError::Tls(format!("CA bundle: {e}")))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| UpstreamError::Tls(e.to_string()))?
        .with_root_certificates(roots);
        let cfg = match &self.client_cert {
            Some((cert_pem, key_pem)) => {
                let certs: Vec<CertificateDer<'static>> =
                    rustls_pemfile::certs(&mut cert_pem.as_slice())
                        .collect::<Result<_, _>>()
                        .map_err(|e| UpstreamError::Tls(format!("client certificate: {e}")))?;
                let key: PrivateKeyDer<'static> =
                    rustls_pemfile::private_key(&mut key_pem.as_slice())
                        .map_err(|e| UpstreamError::Tls(format!("client key: {e}")))?
                        .ok_or_else(|| {
                            UpstreamError::Tls("client key: no private key in PEM".into())
                        })?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| UpstreamError::Tls(format!("client certificate: {e}")))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(cfg)
    }
}

/// Why an upgrade request could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UpgradeError(String);

/// The HTTPS client type used for the apiserver.
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, BoxBody>;

/// Clients and credentials for the apiserver.
#[derive(Debug)]
pub struct Upstream {
    /// Base URL of the apiserver.
    pub server: Uri,
    /// HTTP/1.1, pooled, one per shard; used for every request but upgrades.
    clients: Vec<HttpsClient>,
    /// Opens a fresh TLS connection for each upgrade (exec, attach, port-forward): an upgraded
    /// connection is never returned to a pool, and a pooled one may be closed by the apiserver
    /// right after it refused an upgrade.
    connector: HttpsConnector<HttpConnector>,
    credential: UpstreamCredential,
    token_cache: Mutex<Option<(Instant, String)>>,
}

impl Upstream {
    /// Builds one client (with its own connection pool) for each of `shards` shards.
    pub fn new(cfg: UpstreamConfig, shards: usize) -> Result<Self, UpstreamError> {
        let tls = cfg.tls()?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(10)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_only()
            .enable_http1()
            .wrap_connector(http);
        let clients = (0..shards.max(1))
            .map(|_| {
                let mut http = HttpConnector::new();
                http.enforce_http(false);
                http.set_nodelay(true);
                http.set_connect_timeout(Some(Duration::from_secs(10)));
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls.clone())
                    .https_only()
                    .enable_http1()
                    .wrap_connector(http);
                Client::builder(TokioExecutor::new())
                    .timer(hyper_util::rt::TokioTimer::new())
                    .pool_timer(hyper_util::rt::TokioTimer::new())
                    .pool_idle_timeout(Duration::from_secs(90))
                    .build(connector)
            })
            .collect();
        Ok(Self {
            server: cfg.server,
            clients,
            connector,
            credential: cfg.credential,
            token_cache: Mutex::new(None),
        })
    }

    /// Sends a request on a connection of its own (closed when the response ends, or kept for
    /// the upgraded stream): an upgrade (`Connection: Upgrade`), whose response can be upgraded
    /// with `hyper::upgrade::on`, or a rare request from outside the shards' threads.
    pub async fn send_upgrade(
        &self,
        mut req: http::Request<BoxBody>,
    ) -> Result<http::Response<hyper::body::Incoming>, UpgradeError> {
        use tower_service::Service as _;
        let uri = req.uri().clone();
        // A bare HTTP/1.1 connection sends the request target as given: make it origin-form,
        // with the Host header the pooled client would have added.
        let origin_form = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        *req.uri_mut() = origin_form
            .parse()
            .map_err(|e| UpgradeError(format!("request target: {e}")))?;
        if let Some(authority) = uri.authority()
            && let Ok(host) = http::HeaderValue::from_str(authority.as_str())
        {
            req.headers_mut().insert(http::header::HOST, host);
        }
        let mut connector = self.connector.clone();
        let io = connector
            .call(uri)
            .await
            .map_err(|e| UpgradeError(format!("connecting: {e}")))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| UpgradeError(format!("HTTP/1.1 handshake: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                tracing::debug!("upstream upgrade connection: {e}");
            }
        });
        sender
            .send_request(req)
            .await
            .map_err(|e| UpgradeError(format!("sending the upgrade: {e}")))
    }

    /// The client of shard `shard` (its connections live on that shard's thread).
    pub fn client(&self, shard: usize) -> &HttpsClient {
        &self.clients[shard % self.clients.len()]
    }

    /// The `Authorization` header value for the gateway's own identity, if it uses a token.
    pub async fn authorization(&self) -> Result<Option<String>, UpstreamError> {
        match &self.credential {
            UpstreamCredential::ClientCert => Ok(None),
            UpstreamCredential::Token(t) => Ok(Some(format!("Bearer {t}"))),
            UpstreamCredential::TokenFile(path) => {
                let mut cache = self.token_cache.lock().await;
                if let Some((at, tok)) = cache.as_ref()
                    && at.elapsed() < Duration::from_secs(60)
                {
                    return Ok(Some(format!("Bearer {tok}")));
                }
                let tok = String::from_utf8_lossy(&read(path)?).trim().to_owned();
                *cache = Some((Instant::now(), tok.clone()));
                Ok(Some(format!("Bearer {tok}")))
            }
        }
    }

    /// The `metadata.labels` of the object at `path` (e.g. `/api/v1/namespaces/payments`), read
    /// with the gateway's own credentials; `Ok(None)` when the apiserver says it does not exist.
    /// With `shard`, on that shard's pooled connections (the caller runs on that shard); without,
    /// on a connection of its own, so any thread may call it.
    pub async fn object_labels(
        &self,
        path: &str,
        shard: Option<usize>,
    ) -> Result<Option<BTreeMap<String, String>>, String> {
        use http_body_util::BodyExt as _;
        let uri = self
            .uri(path)
            .map_err(|e| format!("the path {path}: {e}"))?;
        let mut req = http::Request::new(crate::body::empty());
        *req.uri_mut() = uri;
        if let Some(auth) = self.authorization().await.map_err(|e| e.to_string())?
            && let Ok(v) = http::HeaderValue::from_str(&auth)
        {
            req.headers_mut().insert(http::header::AUTHORIZATION, v);
        }
        req.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let resp = match shard {
            Some(shard) => self
                .client(shard)
                .request(req)
                .await
                .map_err(|e| e.to_string())?,
            None => self.send_upgrade(req).await.map_err(|e| e.to_string())?,
        };
        let status = resp.status();
        let body = http_body_util::Limited::new(resp.into_body(), 4 << 20)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!(
                "the apiserver answered {status} to GET {path} with the gateway's credentials"
            ));
        }
        #[derive(Deserialize)]
        struct Meta {
            #[serde(default)]
            labels: BTreeMap<String, String>,
        }
        #[derive(Deserialize)]
        struct Object {
            metadata: Meta,
        }
        serde_json::from_slice::<Object>(&body)
            .map(|o| Some(o.metadata.labels))
            .map_err(|e| format!("GET {path} answered something that is not an object: {e}"))
    }

    /// The full upstream URI for a path and query.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        let mut parts = self.server.clone().into_parts();
        parts.path_and_query = Some(path_and_query.parse()?);
        Ok(Uri::from_parts(parts)?)
    }
}

/// Namespace labels for the broker (profiles with a `scope.namespaceSelector`), read from the
/// apiserver with the gateway's own credentials (`jitgate rbac render` gives it `get` on
/// namespaces). Each lookup opens its own connection: requests are rare, and the broker may run
/// on any thread.
#[derive(Debug, Clone)]
pub struct ApiserverNamespaceLabels(pub Arc<Upstream>);

#[async_trait::async_trait]
impl jitgate_broker::NamespaceLabels for ApiserverNamespaceLabels {
    async fn labels(&self, namespace: &str) -> Result<Option<BTreeMap<String, String>>, String> {
        if namespace.is_empty()
            || !namespace
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("{namespace:?} is not a namespace name"));
        }
        self.0
            .object_labels(&format!("/api/v1/namespaces/{namespace}"), None)
            .await
    }
}
