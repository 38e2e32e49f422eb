//! A real stack around the broker's handler: SQLite in a temp dir, the jitgate CA, a hash-chained
//! audit log, the shipped policy and on-call schedule, an HTTPS listener on 127.0.0.1:0 that
//! authenticates like the gateway (client certificates of the jitgate CA; bearer tokens from a
//! fixed table, standing in for the gateway's OIDC verification, which is not under test here)
//! and hands the request to `jitgate_broker::http::handle`, and a notification receiver.
//!
//! Every answer the listener sends is recorded, so a test can check them all against
//! `docs/openapi.yaml` at the end.

// A test harness: a panic with a message is how a helper fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

pub mod openapi;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jitgate_api::{ApiClient, ApiClientConfig, ClientCredential, OidcSettings};
use jitgate_audit::{AuditLog, Durability};
use jitgate_broker::{Broker, BrokerConfig, BrokerParts, Caller, CallerMethod};
use jitgate_ca::{CertificateAuthority, ClientCertRequest, ClientIdentity, ClientKey};
use jitgate_notify::{NotifierConfig, RetryPolicy, Sink};
use jitgate_policy::Policy;
use jitgate_store::{Clock, ManualClock, SqliteStore, SystemClock};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;

/// The HMAC key of the test's webhook sink.
pub const WEBHOOK_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// The repository's `examples/policy.yaml`, next to `examples/oncall/payments.yaml`.
pub fn shipped_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/policy.yaml")
}

/// One answer the listener sent.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The `Content-Type` answered.
    pub content_type: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

/// One notification the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub event: Option<String>,
    pub body: Value,
    pub signature_ok: bool,
}

/// What to change about the stack.
#[derive(Debug, Clone)]
pub struct Options {
    /// The policy file (its schedules are read relative to it).
    pub policy: PathBuf,
    /// The receiver path of the `sre-slack` sink; `/down` answers 500.
    pub slack_path: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            policy: shipped_policy(),
            slack_path: "/slack",
        }
    }
}

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub broker: Arc<Broker>,
    pub policy: Arc<ArcSwap<Policy>>,
    pub db_path: PathBuf,
    pub audit_path: PathBuf,
    /// Where the broker reads session recordings (the gateway writes them there).
    pub recordings: PathBuf,
    pub clock: Arc<ManualClock>,
    pub ca: Arc<CertificateAuthority>,
    pub url: String,
    pub exchanges: Arc<Mutex<Vec<Exchange>>>,
    pub received: Arc<Mutex<Vec<Received>>>,
    tokens: Arc<Mutex<HashMap<String, Caller>>>,
}

/// Who a raw request is from.
#[derive(Debug, Clone)]
pub enum Who<'a> {
    Nobody,
    Cert(&'a str, &'a [&'a str]),
    Bearer(&'a str),
}

/// A raw answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: Value,
}

fn groups(list: &[&str]) -> Vec<String> {
    list.iter().map(|g| (*g).to_owned()).collect()
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Arc::new(CertificateAuthority::create(&dir.path().join("ca")).unwrap());
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let db_path = dir.path().join("data/grants.db");
        let store = Arc::new(
            SqliteStore::open(&db_path)
                .await
                .unwrap()
                .with_clock(clock.clone()),
        );
        let audit_path = dir.path().join("data/audit.jsonl");
        let audit = AuditLog::open_with(&audit_path, Durability::Flush).unwrap();
        let policy = Policy::load_file(&options.policy).unwrap();

        let received = Arc::new(Mutex::new(Vec::new()));
        let receiver = notification_receiver(received.clone()).await;
        let oidc = OidcSettings {
            issuer: "https://dex.example/dex".into(),
            client_id: "jitgate".into(),
            client_secret: None,
            scopes: vec!["openid".into(), "groups".into()],
            ca_certificate: None,
        };
        let mut config = BrokerConfig::new(&options.policy, oidc, "https://127.0.0.1:8443");
        config.sinks = vec![
            Sink::slack("sre-slack", &format!("{receiver}{}", options.slack_path))
                .unwrap()
                .with_urgent_mention("<!here>")
                .unwrap(),
            Sink::webhook("audit-hook", &format!("{receiver}/audit"), WEBHOOK_SECRET).unwrap(),
        ];
        config.notifier = NotifierConfig {
            retry: RetryPolicy {
                attempts: 2,
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(100),
                attempt_timeout: Duration::from_secs(2),
                max_retry_after: Duration::from_secs(1),
            },
            ..NotifierConfig::default()
        };
        config.admin_groups = vec!["security".into()];
        config.auditor_groups = vec!["auditors".into()];
        config.web_url = Some("https://jitgate.example.com".into());
        let recordings = dir.path().join("data/recordings");
        std::fs::create_dir_all(&recordings).unwrap();
        config.recordings = Some(recordings.clone());
        config.expiry_sweep = Duration::from_millis(100);
        let policy = Arc::new(ArcSwap::from_pointee(policy));
        let broker = Broker::start(BrokerParts {
            store,
            policy: policy.clone(),
            audit,
            ca: ca.clone(),
            clock: clock.clone(),
            config,
        })
        .await
        .unwrap();

        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let tokens = Arc::new(Mutex::new(HashMap::new()));
        let url = serve(&ca, broker.clone(), exchanges.clone(), tokens.clone()).await;
        Self {
            dir,
            broker,
            policy,
            db_path,
            audit_path,
            recordings,
            clock,
            ca,
            url,
            exchanges,
            received,
            tokens,
        }
    }

    /// A typed client authenticating with a fresh client certificate for `user` and `groups`.
    pub fn client(&self, user: &str, member_of: &[&str]) -> ApiClient {
        let issued = self
            .ca
            .issue_client_cert(ClientCertRequest::new(
                user,
                groups(member_of),
                ClientKey::Generate,
                Duration::from_secs(3600),
            ))
            .unwrap();
        ApiClient::new(
            ApiClientConfig::new(self.url.clone(), self.ca.cert_pem().as_bytes().to_vec())
                .with_credential(ClientCredential::Certificate {
                    cert_pem: issued.cert_pem,
                    key_pem: issued.key_pem.unwrap(),
                })
                .with_timeout(Duration::from_secs(10)),
        )
        .unwrap()
    }

    /// Registers a bearer token naming `user` and `groups`, and a typed client sending it.
    pub fn bearer_client(&self, token: &str, user: &str, member_of: &[&str]) -> ApiClient {
        self.tokens.lock().unwrap().insert(
            token.to_owned(),
            Caller::new(user, groups(member_of), CallerMethod::Bearer, None),
        );
        ApiClient::new(
            ApiClientConfig::new(self.url.clone(), self.ca.cert_pem().as_bytes().to_vec())
                .with_credential(ClientCredential::BearerToken(token.to_owned())),
        )
        .unwrap()
    }

    /// Sends one request as written, over TLS, and reads the answer as JSON.
    pub async fn raw(
        &self,
        who: Who<'_>,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.cert_der().clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let tls = match &who {
            Who::Cert(user, member_of) => {
                let issued = self
                    .ca
                    .issue_client_cert(ClientCertRequest::new(
                        *user,
                        groups(member_of),
                        ClientKey::Generate,
                        Duration::from_secs(3600),
                    ))
                    .unwrap();
                let key =
                    PrivateKeyDer::from_pem_slice(issued.key_pem.unwrap().as_bytes()).unwrap();
                builder
                    .with_client_auth_cert(vec![issued.cert_der], key)
                    .unwrap()
            }
            _ => builder.with_no_client_auth(),
        };
        let addr = self.url.trim_start_matches("https://");
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, addr);
        if let Some(ct) = content_type {
            request = request.header(http::header::CONTENT_TYPE, ct);
        }
        if let Who::Bearer(token) = who {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{method} {path}: answer is not JSON ({e}): {bytes:?}"));
        Answer {
            status,
            headers,
            json,
        }
    }

    /// Sends only the head of a POST whose `Content-Length` says 1 MiB, as `user` (no groups),
    /// and reads the answer: the body is refused before any of it is read.
    pub async fn raw_declared_oversize(&self, user: &str, path: &str) -> Answer {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.cert_der().clone()).unwrap();
        let issued = self
            .ca
            .issue_client_cert(ClientCertRequest::new(
                user,
                Vec::new(),
                ClientKey::Generate,
                Duration::from_secs(3600),
            ))
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(issued.key_pem.unwrap().as_bytes()).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![issued.cert_der], key)
        .unwrap();
        let addr = self.url.trim_start_matches("https://");
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
            .await
            .unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: 1048576\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        Answer {
            status,
            headers: http::HeaderMap::new(),
            json: serde_json::from_str(body.trim()).unwrap(),
        }
    }

    /// Every answer so far checked against `docs/openapi.yaml`; returns how many were checked.
    pub fn check_answers_against_openapi(&self) -> usize {
        let doc = openapi::OpenApi::load();
        let exchanges = self.exchanges.lock().unwrap().clone();
        let mut errors = Vec::new();
        for x in &exchanges {
            if x.content_type == "application/json" {
                errors.extend(doc.check(&x.method, &x.path, x.status, &x.body));
            } else {
                errors.extend(doc.check_media(&x.method, &x.path, x.status, &x.content_type));
            }
        }
        assert!(
            errors.is_empty(),
            "answers against docs/openapi.yaml:\n{}",
            errors.join("\n")
        );
        exchanges.len()
    }

    /// The audit log: verified as a chain, then its lines as JSON.
    pub fn audit_lines(&self) -> Vec<Value> {
        let report = jitgate_audit::verify(&self.audit_path).unwrap();
        assert!(report.is_intact(), "audit chain broken: {report:?}");
        std::fs::read_to_string(&self.audit_path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The kinds of the audit lines about request `id`, in order.
    pub fn audit_kinds_for(&self, id: &str) -> Vec<String> {
        self.audit_lines()
            .iter()
            .filter(|l| l["name"] == id)
            .map(|l| l["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits (up to 5 s) until the receiver got a notification matching `pred`.
    pub async fn notification(&self, what: &str, pred: impl Fn(&Received) -> bool) -> Received {
        for _ in 0..100 {
            if let Some(n) = self.received.lock().unwrap().iter().find(|n| pred(n)) {
                return n.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no notification {what} within 5 s; got {:#?}",
            self.received.lock().unwrap()
        );
    }

    /// Waits (up to 5 s) for an audit line matching `pred`.
    pub async fn audit_line(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..100 {
            if let Some(l) = self.audit_lines().into_iter().find(|l| pred(l)) {
                return l;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no audit line {what} within 5 s");
    }
}

/// The listener: TLS with optional client certificates of the jitgate CA, the caller from the
/// certificate or a bearer token, then the broker's handler.
async fn serve(
    ca: &CertificateAuthority,
    broker: Arc<Broker>,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    tokens: Arc<Mutex<HashMap<String, Caller>>>,
) -> String {
    let served = ca.issue_server_cert(&["127.0.0.1"]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .unwrap();
    let chain = CertificateDer::pem_slice_iter(served.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(served.key_pem.unwrap().as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", tcp.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = tcp.accept().await {
            let acceptor = acceptor.clone();
            let broker = broker.clone();
            let exchanges = exchanges.clone();
            let tokens = tokens.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let from_cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(|c| ClientIdentity::from_der(c.as_ref()).ok())
                    .map(|id| {
                        Caller::new(
                            id.user,
                            id.groups,
                            CallerMethod::Certificate,
                            Some(id.not_after.unix_timestamp()),
                        )
                    });
                let service = service_fn(move |req: http::Request<Incoming>| {
                    let broker = broker.clone();
                    let exchanges = exchanges.clone();
                    let tokens = tokens.clone();
                    let from_cert = from_cert.clone();
                    async move {
                        let bearer = req
                            .headers()
                            .get(http::header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.strip_prefix("Bearer "))
                            .map(str::to_owned);
                        let caller = match bearer {
                            Some(token) => tokens.lock().unwrap().get(&token).cloned(),
                            None => from_cert,
                        };
                        let method = req.method().to_string();
                        let path = req
                            .uri()
                            .path_and_query()
                            .map(ToString::to_string)
                            .unwrap_or_default();
                        let response = jitgate_broker::http::handle(&broker, caller, req).await;
                        let (parts, body) = response.into_parts();
                        let bytes = body.collect().await.unwrap().to_bytes();
                        exchanges.lock().unwrap().push(Exchange {
                            method,
                            path,
                            status: parts.status.as_u16(),
                            content_type: parts
                                .headers
                                .get(http::header::CONTENT_TYPE)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or_default()
                                .to_owned(),
                            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                        });
                        Ok::<_, Infallible>(http::Response::from_parts(parts, Full::new(bytes)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    url
}

/// A plain-HTTP receiver on 127.0.0.1 that records every notification (checking webhook
/// signatures) and answers 200, or 500 on `/down`.
async fn notification_receiver(received: Arc<Mutex<Vec<Received>>>) -> String {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", tcp.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = tcp.accept().await {
            let received = received.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<Incoming>| {
                    let received = received.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let header = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                        };
                        let event = header("x-jitgate-event");
                        let signature = header("x-jitgate-signature");
                        let timestamp = header("x-jitgate-timestamp");
                        let bytes = req.into_body().collect().await.unwrap().to_bytes();
                        let signature_ok = match (timestamp, signature) {
                            (Some(ts), Some(sig)) => jitgate_notify::verify_signature(
                                WEBHOOK_SECRET.as_bytes(),
                                &ts,
                                &sig,
                                &bytes,
                                std::time::SystemTime::now(),
                                jitgate_notify::DEFAULT_SIGNATURE_TOLERANCE,
                            )
                            .is_ok(),
                            _ => false,
                        };
                        let down = path == "/down";
                        received.lock().unwrap().push(Received {
                            path,
                            event,
                            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                            signature_ok,
                        });
                        let mut response =
                            http::Response::new(Full::new(Bytes::from_static(b"ok")));
                        if down {
                            *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}
