//! The typed client's mechanics over real TLS: only the jitgate CA is trusted, the client
//! certificate or bearer token is presented, paths and queries are the documented ones, a
//! refusal carries the server's Status message, and the size and time limits hold.
//!
//! The server here is a scripted HTTPS listener (a test fixture, not the gateway): it answers
//! what each test tells it and records what it received. The gateway's real answers are tested
//! once its side of the API exists.

#![cfg(feature = "client")]
// A test harness: a panic with a message is how a helper fails the test.
#![allow(clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jitgate_api::{
    ApiClient, ApiClientConfig, ApiError, ApproveBody, ClientCredential, CreateAccessRequest,
    RequestId, RequestQuery, RequestScope, RequestState, Status, WaitQuery,
};
use jitgate_ca::{CertificateAuthority, ClientCertRequest, ClientCsr, ClientIdentity, ClientKey};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What the listener saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body: String,
    client_user: Option<String>,
}

/// What the listener answers: status, body, and a delay first.
type Script = Arc<dyn Fn(&Seen) -> (u16, String, Duration) + Send + Sync>;

struct Listener {
    url: String,
    ca_pem: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    ca: CertificateAuthority,
    _dir: tempfile::TempDir,
}

async fn listener(script: Script) -> Listener {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::create(&dir.path().join("ca")).expect("CA");
    let served = ca
        .issue_server_cert(&["127.0.0.1"])
        .expect("server certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .allow_unauthenticated()
    .build()
    .expect("verifier");
    let chain = CertificateDer::pem_slice_iter(served.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain");
    let key = PrivateKeyDer::from_pem_slice(served.key_pem.as_deref().expect("key").as_bytes())
        .expect("key");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}", tcp.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = tcp.accept().await {
            let acceptor = acceptor.clone();
            let record = Arc::clone(&record);
            let script = Arc::clone(&script);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let client_user = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| ClientIdentity::from_der(c.as_ref()).expect("identity").user);
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let record = Arc::clone(&record);
                    let script = Arc::clone(&script);
                    let client_user = client_user.clone();
                    async move {
                        let header = |name: &str| {
                            req.headers()
                                .get(name)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                        };
                        let mut seen = Seen {
                            method: req.method().to_string(),
                            path_and_query: req
                                .uri()
                                .path_and_query()
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                            authorization: header("authorization"),
                            content_type: header("content-type"),
                            body: String::new(),
                            client_user,
                        };
                        let body = req.into_body().collect().await.expect("body").to_bytes();
                        seen.body = String::from_utf8_lossy(&body).into_owned();
                        let (status, text, delay) = script(&seen);
                        record.lock().expect("lock").push(seen);
                        tokio::time::sleep(delay).await;
                        let mut resp = http::Response::new(Full::new(Bytes::from(text)));
                        *resp.status_mut() = http::StatusCode::from_u16(status).expect("status");
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Listener {
        url,
        ca_pem: ca.cert_pem().to_owned(),
        seen,
        ca,
        _dir: dir,
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
        .expect("fixture")
}

fn answer(status: u16, body: String) -> Script {
    Arc::new(move |_| (status, body.clone(), Duration::ZERO))
}

fn client(l: &Listener, credential: ClientCredential) -> ApiClient {
    ApiClient::new(
        ApiClientConfig::new(l.url.clone(), l.ca_pem.clone().into_bytes())
            .with_credential(credential),
    )
    .expect("client")
}

#[tokio::test]
async fn config_needs_no_credential_and_parses() {
    let l = listener(answer(200, fixture("config.json"))).await;
    let config = client(&l, ClientCredential::None)
        .config()
        .await
        .expect("config");
    assert_eq!(config.oidc.client_id, "jitgate");
    let seen = l.seen.lock().expect("lock").clone();
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path_and_query, "/jitgate/v1/config");
    assert_eq!(seen[0].authorization, None);
    assert_eq!(seen[0].client_user, None);
}

#[tokio::test]
async fn the_client_certificate_is_presented() {
    let l = listener(answer(200, fixture("whoami.json"))).await;
    let csr = ClientCsr::generate().expect("csr");
    let issued =
        l.ca.issue_client_cert(ClientCertRequest::new(
            "alice@example.com",
            vec!["sre".into()],
            ClientKey::Csr(csr.csr_pem),
            Duration::from_secs(3600),
        ))
        .expect("certificate");
    let who = client(
        &l,
        ClientCredential::Certificate {
            cert_pem: issued.cert_pem,
            key_pem: csr.key_pem,
        },
    )
    .whoami()
    .await
    .expect("whoami");
    assert_eq!(who.user, "alice@example.com");
    let seen = l.seen.lock().expect("lock").clone();
    assert_eq!(seen[0].client_user.as_deref(), Some("alice@example.com"));
    assert_eq!(seen[0].path_and_query, "/jitgate/v1/whoami");
}

#[tokio::test]
async fn bearer_token_bodies_and_paths_are_the_documented_ones() {
    let l = listener(Arc::new(|seen: &Seen| {
        if seen.path_and_query.starts_with("/jitgate/v1/requests?") {
            (
                200,
                format!("{{\"items\":[{}]}}", fixture("access-request-pending.json")),
                Duration::ZERO,
            )
        } else if seen.method == "POST" && seen.path_and_query == "/jitgate/v1/requests" {
            (201, fixture("access-request-pending.json"), Duration::ZERO)
        } else {
            (200, fixture("access-request-active.json"), Duration::ZERO)
        }
    }))
    .await;
    let api = client(&l, ClientCredential::BearerToken("eyJ.test.token".into()));
    let created = api
        .create_request(&CreateAccessRequest {
            profile: "debug".into(),
            namespace: "payments".into(),
            duration: None,
            reason: "INC-4211".into(),
            ticket: None,
            break_glass: true,
        })
        .await
        .expect("create");
    assert_eq!(created.state, RequestState::Pending);
    let list = api
        .list_requests(&RequestQuery {
            scope: RequestScope::Approvable,
            states: vec![RequestState::Pending],
            limit: Some(5),
        })
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);
    let id = RequestId::parse("r-7f3a09c1").expect("id");
    let waited = api
        .wait_for_request(&id, &WaitQuery::for_state(RequestState::Active))
        .await
        .expect("wait");
    assert_eq!(waited.state, RequestState::Active);
    api.approve(
        &id,
        &ApproveBody {
            comment: Some("go".into()),
        },
    )
    .await
    .expect("approve");
    let seen = l.seen.lock().expect("lock").clone();
    let lines: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {} {}", s.method, s.path_and_query, s.body))
        .collect();
    assert_eq!(
        lines,
        [
            r#"POST /jitgate/v1/requests {"profile":"debug","namespace":"payments","reason":"INC-4211","breakGlass":true}"#,
            "GET /jitgate/v1/requests?scope=approvable&state=pending&limit=5 ",
            "GET /jitgate/v1/requests/r-7f3a09c1?waitFor=active&timeout=30s ",
            r#"POST /jitgate/v1/requests/r-7f3a09c1/approve {"comment":"go"}"#,
        ]
    );
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer eyJ.test.token"))
    );
    assert_eq!(seen[0].content_type.as_deref(), Some("application/json"));
}

#[tokio::test]
async fn a_refusal_carries_the_servers_message() {
    let l = listener(answer(403, fixture("status-forbidden.json"))).await;
    let err = client(&l, ClientCredential::None)
        .approve(
            &RequestId::parse("r-7f3a09c1").expect("id"),
            &ApproveBody::default(),
        )
        .await
        .expect_err("refused");
    assert_eq!(
        err.to_string(),
        "jitgate refused: carol@example.com may not approve r-7f3a09c1: only members of sre-leads or payments-leads may; ask one of them (403 Forbidden)"
    );
    assert_eq!(
        err.status().map(|s| s.reason.clone()),
        Some("Forbidden".to_owned())
    );
}

#[tokio::test]
async fn a_non_status_error_and_a_non_json_success_are_reported() {
    let l = listener(answer(502, "<html>upstream down</html>".into())).await;
    let err = client(&l, ClientCredential::None)
        .whoami()
        .await
        .expect_err("502");
    assert!(
        matches!(err, ApiError::UnexpectedResponse { code: 502, .. }),
        "{err}"
    );
    let l = listener(answer(200, "{\"user\":3}".into())).await;
    let err = client(&l, ClientCredential::None)
        .whoami()
        .await
        .expect_err("bad JSON");
    assert!(err.to_string().contains("is not a WhoAmI"), "{err}");
}

#[tokio::test]
async fn invalid_bodies_are_refused_before_anything_is_sent() {
    let l = listener(answer(
        500,
        Status::failure(500, "must not be called").to_json(),
    ))
    .await;
    let err = client(&l, ClientCredential::None)
        .create_request(&CreateAccessRequest {
            profile: "debug".into(),
            namespace: "Payments".into(),
            duration: None,
            reason: "x".into(),
            ticket: None,
            break_glass: false,
        })
        .await
        .expect_err("invalid");
    assert!(err.to_string().starts_with("namespace: "), "{err}");
    assert!(l.seen.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn answers_over_the_size_limit_are_refused() {
    let l = listener(answer(200, "x".repeat(64 * 1024))).await;
    let api = ApiClient::new(
        ApiClientConfig::new(l.url.clone(), l.ca_pem.clone().into_bytes())
            .with_max_response_bytes(1024),
    )
    .expect("client");
    let err = api.config().await.expect_err("too large");
    assert!(
        matches!(err, ApiError::ResponseTooLarge { limit: 1024, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let l = listener(Arc::new(|_: &Seen| {
        (200, fixture("config.json"), Duration::from_secs(5))
    }))
    .await;
    let api = ApiClient::new(
        ApiClientConfig::new(l.url.clone(), l.ca_pem.clone().into_bytes())
            .with_timeout(Duration::from_millis(300)),
    )
    .expect("client");
    let err = api.config().await.expect_err("timeout");
    assert!(matches!(err, ApiError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn a_server_with_another_ca_is_not_trusted() {
    let l = listener(answer(200, fixture("config.json"))).await;
    let other = tempfile::tempdir().expect("tempdir");
    let other_ca = CertificateAuthority::create(&other.path().join("ca")).expect("CA");
    let api = ApiClient::new(ApiClientConfig::new(
        l.url.clone(),
        other_ca.cert_pem().as_bytes().to_vec(),
    ))
    .expect("client");
    let err = api.config().await.expect_err("untrusted");
    let text = err.to_string();
    assert!(text.starts_with("could not reach jitgate at "), "{text}");
    assert!(text.contains("certificate"), "{text}");
    assert!(l.seen.lock().expect("lock").is_empty());
}
