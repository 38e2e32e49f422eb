//! The PagerDuty client against a real local HTTP server (hyper on 127.0.0.1:0) that speaks the
//! shape of PagerDuty's `GET /oncalls`, and checks what the client sends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jitgate_oncall::{
    OnCallAnswer, OnCallError, OnCallSource, PagerDutyClient, PagerDutyConfig, Timestamp,
};
use tokio::net::TcpListener;

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: Vec<(String, String)>,
    headers: HashMap<String, String>,
}

impl Seen {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How the server answers one request.
struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

impl Reply {
    fn json(body: &serde_json::Value) -> Self {
        Self {
            status: 200,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

struct Server {
    /// `127.0.0.1:PORT`, without a scheme.
    base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
    serve_with(handler, None).await
}

async fn serve_with(
    handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = Arc::new(handler);
    let seen_by_server = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let seen = seen_by_server.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    let seen = seen.clone();
                    async move {
                        let record = Seen {
                            path: req.uri().path().to_owned(),
                            query: form_urlencoded::parse(
                                req.uri().query().unwrap_or("").as_bytes(),
                            )
                            .into_owned()
                            .collect(),
                            headers: req
                                .headers()
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                })
                                .collect(),
                        };
                        seen.lock().unwrap().push(record.clone());
                        let reply = handler(&record);
                        tokio::time::sleep(reply.delay).await;
                        let response = Response::builder()
                            .status(reply.status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(reply.body)))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        }
                    }
                    None => {
                        let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                    }
                }
            });
        }
    });
    Server {
        base_url: format!("127.0.0.1:{}", addr.port()),
        seen,
    }
}

const SCHEDULE: &str = "PSCHED1";

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn on_call(email: Option<&str>, schedule: &str, start: &str, end: &str) -> serde_json::Value {
    let mut user = serde_json::json!({
        "id": "PUSER01",
        "type": "user",
        "summary": "Some One",
        "name": "Some One",
    });
    if let Some(email) = email {
        user["email"] = email.into();
    }
    serde_json::json!({
        "user": user,
        "schedule": {"id": schedule, "type": "schedule_reference", "summary": "Primary"},
        "escalation_policy": {"id": "PPOL001", "type": "escalation_policy_reference"},
        "escalation_level": 1,
        "start": start,
        "end": end,
    })
}

fn page(entries: &[serde_json::Value], more: bool, offset: usize) -> serde_json::Value {
    serde_json::json!({"oncalls": entries, "limit": 100, "offset": offset, "more": more, "total": null})
}

fn config(server: &Server) -> PagerDutyConfig {
    let mut c = PagerDutyConfig::new("test-key-123");
    c.base_url = format!("http://{}", server.base_url);
    c
}

fn client(server: &Server) -> PagerDutyClient {
    PagerDutyClient::new(&config(server)).unwrap()
}

const AT: &str = "2026-03-02T10:15:00Z";

#[tokio::test]
async fn on_call_user_is_yes_and_the_request_has_pagerdutys_shape() {
    let server = serve(|_| {
        Reply::json(&page(
            &[on_call(
                Some("Alice@Example.com"),
                SCHEDULE,
                "2026-03-02T09:00:00+01:00",
                "2026-03-09T09:00:00+01:00",
            )],
            false,
            0,
        ))
    })
    .await;
    let schedule = client(&server).schedule(SCHEDULE).unwrap();
    let answer = schedule.is_on_call("alice@example.com", ts(AT)).await;
    assert!(answer.is_yes(), "{answer:?}");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/oncalls");
    let cases = [
        ("schedule_ids[]", "PSCHED1"),
        ("since", "2026-03-02T10:15:00Z"),
        ("until", "2026-03-02T10:15:30Z"),
        ("earliest", "true"),
        ("include[]", "users"),
        ("limit", "100"),
        ("offset", "0"),
    ];
    for (name, want) in cases {
        assert_eq!(
            r.param(name),
            Some(want),
            "query parameter {name}: {:?}",
            r.query
        );
    }
    assert_eq!(r.headers["authorization"], "Token token=test-key-123");
    assert_eq!(
        r.headers["accept"],
        "application/vnd.pagerduty+json;version=2"
    );
}

#[tokio::test]
async fn someone_else_on_call_is_no() {
    let server = serve(|_| {
        Reply::json(&page(
            &[on_call(
                Some("bob@example.com"),
                SCHEDULE,
                "2026-03-02T08:00:00Z",
                "2026-03-09T08:00:00Z",
            )],
            false,
            0,
        ))
    })
    .await;
    let schedule = client(&server).schedule(SCHEDULE).unwrap();
    let answer = schedule.is_on_call("alice@example.com", ts(AT)).await;
    assert!(matches!(answer, OnCallAnswer::No), "{answer:?}");
    let entries = schedule.on_call_at(ts(AT)).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].email.as_deref(), Some("bob@example.com"));
    assert_eq!(entries[0].escalation_level, Some(1));
}

#[tokio::test]
async fn nobody_on_call_is_no() {
    let server = serve(|_| Reply::json(&page(&[], false, 0))).await;
    let answer = client(&server)
        .schedule(SCHEDULE)
        .unwrap()
        .is_on_call("alice@example.com", ts(AT))
        .await;
    assert!(matches!(answer, OnCallAnswer::No), "{answer:?}");
}

#[tokio::test]
async fn slow_service_is_unknown_after_the_timeout() {
    let server = serve(|_| Reply {
        delay: Duration::from_secs(10),
        ..Reply::json(&page(
            &[on_call(
                Some("alice@example.com"),
                SCHEDULE,
                "2026-03-02T08:00:00Z",
                "2026-03-09T08:00:00Z",
            )],
            false,
            0,
        ))
    })
    .await;
    let mut c = config(&server);
    c.timeout = Duration::from_millis(300);
    let schedule = PagerDutyClient::new(&c)
        .unwrap()
        .schedule(SCHEDULE)
        .unwrap();
    let started = std::time::Instant::now();
    let answer = schedule.is_on_call("alice@example.com", ts(AT)).await;
    assert!(
        matches!(answer, OnCallAnswer::Unknown(OnCallError::Timeout { .. })),
        "{answer:?}"
    );
    assert!(!answer.is_yes());
    // The broker waits for the timeout, not for the server.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(jitgate_oncall::DEFAULT_TIMEOUT, Duration::from_secs(2));
}

#[tokio::test]
async fn server_error_is_unknown_and_not_cached() {
    let server = serve(|_| Reply {
        status: 500,
        body: r#"{"error":{"message":"Internal Server Error","code":2000}}"#.into(),
        delay: Duration::ZERO,
    })
    .await;
    let schedule = client(&server).schedule(SCHEDULE).unwrap();
    for _ in 0..2 {
        let answer = schedule.is_on_call("alice@example.com", ts(AT)).await;
        match &answer {
            OnCallAnswer::Unknown(e @ OnCallError::Status { status: 500, .. }) => {
                assert!(e.to_string().contains("Internal Server Error"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        server.requests().len(),
        2,
        "an error answer must not be cached"
    );
}

#[tokio::test]
async fn refused_token_is_unknown_with_a_hint() {
    let server = serve(|_| Reply {
        status: 401,
        body: r#"{"error":{"message":"Unauthorized","code":2006}}"#.into(),
        delay: Duration::ZERO,
    })
    .await;
    let answer = client(&server)
        .schedule(SCHEDULE)
        .unwrap()
        .is_on_call("alice@example.com", ts(AT))
        .await;
    let OnCallAnswer::Unknown(e) = answer else {
        panic!("{answer:?}")
    };
    assert!(e.to_string().contains("API token was refused"), "{e}");
}

#[tokio::test]
async fn malformed_json_is_unknown() {
    let cases = [
        ("not json", "<html>gateway</html>"),
        ("truncated", r#"{"oncalls": [{"user": {"id": "P1""#),
        ("wrong shape", r#"{"schedules": []}"#),
        ("oncalls not a list", r#"{"oncalls": {"user": 1}}"#),
    ];
    for (name, body) in cases {
        let server = serve(move |_| Reply {
            status: 200,
            body: body.into(),
            delay: Duration::ZERO,
        })
        .await;
        let answer = client(&server)
            .schedule(SCHEDULE)
            .unwrap()
            .is_on_call("alice@example.com", ts(AT))
            .await;
        assert!(
            matches!(
                answer,
                OnCallAnswer::Unknown(OnCallError::MalformedJson { .. })
            ),
            "{name}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn bad_times_in_an_entry_are_unknown() {
    let server = serve(|_| {
        Reply::json(&page(
            &[on_call(
                Some("alice@example.com"),
                SCHEDULE,
                "yesterday",
                "2026-03-09T08:00:00Z",
            )],
            false,
            0,
        ))
    })
    .await;
    let answer = client(&server)
        .schedule(SCHEDULE)
        .unwrap()
        .is_on_call("alice@example.com", ts(AT))
        .await;
    assert!(
        matches!(
            answer,
            OnCallAnswer::Unknown(OnCallError::BadResponse { .. })
        ),
        "{answer:?}"
    );
}

#[tokio::test]
async fn pages_are_followed_while_more_is_true() {
    let server = serve(|seen| {
        let offset: usize = seen.param("offset").unwrap().parse().unwrap();
        match offset {
            0 => Reply::json(&page(
                &[
                    on_call(
                        Some("bob@example.com"),
                        SCHEDULE,
                        "2026-03-02T08:00:00Z",
                        "2026-03-09T08:00:00Z",
                    ),
                    on_call(
                        Some("carol@example.com"),
                        SCHEDULE,
                        "2026-03-02T08:00:00Z",
                        "2026-03-09T08:00:00Z",
                    ),
                ],
                true,
                0,
            )),
            2 => Reply::json(&page(
                &[on_call(
                    Some("alice@example.com"),
                    SCHEDULE,
                    "2026-03-02T08:00:00Z",
                    "2026-03-09T08:00:00Z",
                )],
                false,
                2,
            )),
            other => Reply {
                status: 400,
                body: format!("unexpected offset {other}"),
                delay: Duration::ZERO,
            },
        }
    })
    .await;
    let schedule = client(&server).schedule(SCHEDULE).unwrap();
    assert!(
        schedule
            .is_on_call("alice@example.com", ts(AT))
            .await
            .is_yes()
    );
    let offsets: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.param("offset").unwrap().to_owned())
        .collect();
    assert_eq!(offsets, ["0", "2"]);
    assert_eq!(schedule.on_call_at(ts(AT)).await.unwrap().len(), 3);
}

#[tokio::test]
async fn endless_pages_are_unknown() {
    let server = serve(|seen| {
        let offset: usize = seen.param("offset").unwrap().parse().unwrap();
        Reply::json(&page(
            &[on_call(
                Some("bob@example.com"),
                SCHEDULE,
                "2026-03-02T08:00:00Z",
                "2026-03-09T08:00:00Z",
            )],
            true,
            offset,
        ))
    })
    .await;
    let mut c = config(&server);
    c.max_pages = 3;
    let answer = PagerDutyClient::new(&c)
        .unwrap()
        .schedule(SCHEDULE)
        .unwrap()
        .is_on_call("alice@example.com", ts(AT))
        .await;
    assert!(
        matches!(
            answer,
            OnCallAnswer::Unknown(OnCallError::TooManyPages { max_pages: 3 })
        ),
        "{answer:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn more_with_an_empty_page_is_unknown() {
    let server = serve(|_| Reply::json(&page(&[], true, 0))).await;
    let answer = client(&server)
        .schedule(SCHEDULE)
        .unwrap()
        .is_on_call("alice@example.com", ts(AT))
        .await;
    assert!(
        matches!(
            answer,
            OnCallAnswer::Unknown(OnCallError::BadResponse { .. })
        ),
        "{answer:?}"
    );
}

#[tokio::test]
async fn oversized_body_is_unknown() {
    let server = serve(|_| {
        let entries: Vec<_> = (0..200)
            .map(|i| {
                on_call(
                    Some(&format!("user{i}@example.com")),
                    SCHEDULE,
                    "2026-03-02T08:00:00Z",
                    "2026-03-09T08:00:00Z",
                )
            })
            .collect();
        Reply::json(&page(&entries, false, 0))
    })
    .await;
    let mut c = config(&server);
    c.max_body_bytes = 4 * 1024;
    let answer = PagerDutyClient::new(&c)
        .unwrap()
        .schedule(SCHEDULE)
        .unwrap()
        .is_on_call("user199@example.com", ts(AT))
        .await;
    match answer {
        OnCallAnswer::Unknown(e @ OnCallError::Body { .. }) => {
            assert!(e.to_string().contains("larger than 4096 bytes"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn entries_without_email_make_a_non_match_unknown() {
    // Without `include[]=users` taking effect (e.g. a token that may not read users), PagerDuty
    // returns user references without email.
    let server = serve(|_| {
        Reply::json(&page(
            &[
                on_call(
                    None,
                    SCHEDULE,
                    "2026-03-02T08:00:00Z",
                    "2026-03-09T08:00:00Z",
                ),
                on_call(
                    Some("bob@example.com"),
                    SCHEDULE,
                    "2026-03-02T08:00:00Z",
                    "2026-03-09T08:00:00Z",
                ),
            ],
            false,
            0,
        ))
    })
    .await;
    let schedule = client(&server).schedule(SCHEDULE).unwrap();
    let answer = schedule.is_on_call("alice@example.com", ts(AT)).await;
    match &answer {
        OnCallAnswer::Unknown(e @ OnCallError::UnidentifiedOnCall { count: 1 }) => {
            assert!(e.to_string().contains("read access to users"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // A matching email still answers yes.
    assert!(
        schedule
            .is_on_call("bob@example.com", ts(AT))
            .await
            .is_yes()
    );
}

#[tokio::test]
async fn entries_of_other_schedules_do_not_count() {
    let server = serve(|_| {
        Reply::json(&page(
            &[on_call(
                Some("alice@example.com"),
                "POTHER9",
                "2026-03-02T08:00:00Z",
                "2026-03-09T08:00:00Z",
            )],
            false,
            0,
        ))
    })
    .await;
    let answer = client(&server)
        .schedule(SCHEDULE)
        .unwrap()
        .is_on_call("alice@example.com", ts(AT))
        .await;
    assert!(matches!(answer, OnCallAnswer::No), "{answer:?}");
}

#[tokio::test]
async fn one_answer_covers_the_cache_window_exactly() {
    // Bob until 10:15:10, then alice: the window [10:15:00, 10:15:30] holds both.
    let server = serve(|_| {
        Reply::json(&page(
            &[
                on_call(
                    Some("bob@example.com"),
                    SCHEDULE,
                    "2026-03-02T08:00:00Z",
                    "2026-03-02T10:15:10Z",
                ),
                on_call(
                    Some("alice@example.com"),
                    SCHEDULE,
                    "2026-03-02T10:15:10Z",
                    "2026-03-09T08:00:00Z",
                ),
            ],
            false,
            0,
        ))
    })
    .await;
    let schedule = client(&server).schedule(SCHEDULE).unwrap();
    let cases = [
        (
            "bob's last second",
            "2026-03-02T10:15:09Z",
            "bob@example.com",
            true,
        ),
        (
            "alice not yet",
            "2026-03-02T10:15:09Z",
            "alice@example.com",
            false,
        ),
        (
            "handoff instant",
            "2026-03-02T10:15:10Z",
            "alice@example.com",
            true,
        ),
        (
            "bob no longer",
            "2026-03-02T10:15:10Z",
            "bob@example.com",
            false,
        ),
        (
            "end of window",
            "2026-03-02T10:15:30Z",
            "alice@example.com",
            true,
        ),
    ];
    assert!(
        schedule
            .is_on_call("bob@example.com", ts(AT))
            .await
            .is_yes()
    );
    for (name, at, user, yes) in cases {
        let answer = schedule.is_on_call(user, ts(at)).await;
        assert_eq!(answer.is_yes(), yes, "{name}: {answer:?}");
    }
    assert_eq!(
        server.requests().len(),
        1,
        "answers within the window come from the cache"
    );
    // An instant outside the window asks again.
    let _ = schedule
        .is_on_call("alice@example.com", ts("2026-03-02T10:20:00Z"))
        .await;
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn on_call_source_front_for_pagerduty() {
    let server = serve(|_| {
        Reply::json(&page(
            &[on_call(
                Some("alice@example.com"),
                SCHEDULE,
                "2026-03-02T08:00:00Z",
                "2026-03-09T08:00:00Z",
            )],
            false,
            0,
        ))
    })
    .await;
    let source = OnCallSource::PagerDuty(client(&server).schedule(SCHEDULE).unwrap());
    assert!(
        source
            .is_on_call("alice@example.com", ts(AT))
            .await
            .is_yes()
    );
    assert_eq!(
        source.is_on_call("bob@example.com", ts(AT)).await.as_str(),
        "no"
    );
}

#[tokio::test]
async fn unreachable_service_is_unknown() {
    // Bind and drop a listener to get a port that refuses connections.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = PagerDutyConfig::new("k");
    c.base_url = format!("http://127.0.0.1:{port}");
    let answer = PagerDutyClient::new(&c)
        .unwrap()
        .schedule(SCHEDULE)
        .unwrap()
        .is_on_call("alice@example.com", ts(AT))
        .await;
    match answer {
        OnCallAnswer::Unknown(e @ OnCallError::Request { .. }) => {
            assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn configuration_is_checked() {
    type Change = fn(&mut PagerDutyConfig);
    let cases: &[(&str, Change, &str)] = &[
        (
            "plain http off loopback",
            |c| c.base_url = "http://pagerduty.internal".into(),
            "use https",
        ),
        ("empty token", |c| c.api_token = "  ".into(), "empty"),
        (
            "token with a newline",
            |c| c.api_token = "abc\ndef".into(),
            "not allowed in an HTTP header",
        ),
        ("zero timeout", |c| c.timeout = Duration::ZERO, "zero"),
        (
            "bad CA",
            |c| c.ca_pem = Some(b"junk".to_vec()),
            "no certificate",
        ),
    ];
    for (name, change, want) in cases {
        let mut c = PagerDutyConfig::new("key");
        change(&mut c);
        let err = PagerDutyClient::new(&c).unwrap_err().to_string();
        assert!(err.contains(want), "{name}: {err}");
    }
    let client = PagerDutyClient::new(&PagerDutyConfig::new("key")).unwrap();
    for bad in ["", "PI7 DH85", "../etc", &"P".repeat(65)] {
        assert!(client.schedule(bad).is_err(), "{bad:?}");
    }
    assert!(client.schedule("PI7DH85").is_ok());
    // The token never shows in debug output.
    let c = PagerDutyConfig::new("super-secret-token");
    assert!(!format!("{c:?}").contains("super-secret"));
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn test_pki() -> (String, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    (
        ca_cert.pem(),
        tokio_rustls::TlsAcceptor::from(Arc::new(server_config)),
    )
}

#[tokio::test]
async fn https_with_a_configured_ca() {
    let (ca_pem, acceptor) = test_pki();
    let handler = |_: &Seen| {
        Reply::json(&page(
            &[on_call(
                Some("alice@example.com"),
                SCHEDULE,
                "2026-03-02T08:00:00Z",
                "2026-03-09T08:00:00Z",
            )],
            false,
            0,
        ))
    };
    let server = serve_with(handler, Some(acceptor.clone())).await;
    let mut c = PagerDutyConfig::new("k");
    c.base_url = format!("https://{}", server.base_url);
    c.ca_pem = Some(ca_pem.into_bytes());
    let answer = PagerDutyClient::new(&c)
        .unwrap()
        .schedule(SCHEDULE)
        .unwrap()
        .is_on_call("alice@example.com", ts(AT))
        .await;
    assert!(answer.is_yes(), "{answer:?}");
    assert_eq!(server.requests().len(), 1);

    // Without that CA (the bundled public roots only), the same server is not trusted.
    let server = serve_with(handler, Some(acceptor)).await;
    let mut c = PagerDutyConfig::new("k");
    c.base_url = format!("https://{}", server.base_url);
    let answer = PagerDutyClient::new(&c)
        .unwrap()
        .schedule(SCHEDULE)
        .unwrap()
        .is_on_call("alice@example.com", ts(AT))
        .await;
    assert!(
        matches!(answer, OnCallAnswer::Unknown(OnCallError::Request { .. })),
        "{answer:?}"
    );
    assert!(
        server.requests().is_empty(),
        "no request may pass an untrusted TLS handshake"
    );
}
