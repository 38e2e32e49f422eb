//! Delivery against a real local HTTP server (hyper on 127.0.0.1:0): signatures, retries,
//! permanent failures, Retry-After, timeouts, hanging sinks, queue overflow and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use jitgate_notify::{
    DEFAULT_SIGNATURE_TOLERANCE, DeliveryOutcome, DeliveryReport, DropReason, EventKind,
    Notification, Notifier, NotifierConfig, NotifyError, RetryPolicy, Sink, verify_signature,
};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

const SECRET: &str = "test-secret-0123456789abcdef";
/// Guards against a deadlock turning into a hung test; never a speed assertion.
const DEADLOCK_GUARD: Duration = Duration::from_secs(20);

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HashMap<String, String>,
    body: Bytes,
    at: Instant,
}

/// How the server answers.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    /// If set, the answer waits for a permit: the test decides when the server may answer.
    hold: Option<Arc<Semaphore>>,
}

impl Reply {
    fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            hold: None,
        }
    }
}

struct Server {
    url: String,
    seen: mpsc::UnboundedReceiver<Seen>,
    count: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
}

impl Server {
    async fn next_request(&mut self) -> Seen {
        tokio::time::timeout(DEADLOCK_GUARD, self.seen.recv())
            .await
            .expect("the server got no request")
            .expect("server gone")
    }
    fn requests(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// Serves `reply(n)` for the n-th request (0-based).
async fn serve(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let reply = Arc::new(reply);
    let (c, a) = (count.clone(), answered.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (reply, tx, count, answered) = (reply.clone(), tx.clone(), c.clone(), a.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (reply, tx, count, answered) =
                        (reply.clone(), tx.clone(), count.clone(), answered.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                            .collect();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let n = count.fetch_add(1, Ordering::SeqCst);
                        let _ = tx.send(Seen {
                            path,
                            headers,
                            body,
                            at: Instant::now(),
                        });
                        let r = reply(n);
                        if let Some(hold) = &r.hold {
                            let _permit = hold.acquire().await.unwrap();
                        }
                        let mut response = Response::builder().status(r.status);
                        for (k, v) in &r.headers {
                            response = response.header(*k, v);
                        }
                        answered.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(response.body(Full::new(Bytes::from(r.body))).unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Server {
        url: format!("http://127.0.0.1:{}/hooks/jitgate", addr.port()),
        seen: rx,
        count,
        answered,
    }
}

/// Fast retries for tests: the behaviour is the same, the waits are short.
fn fast(attempts: u32) -> NotifierConfig {
    NotifierConfig {
        queue_capacity: 64,
        max_in_flight: 4,
        retry: RetryPolicy {
            attempts,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            attempt_timeout: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(5),
        },
    }
}

type Reports = mpsc::UnboundedReceiver<DeliveryReport>;

fn start(sinks: Vec<Sink>, config: &NotifierConfig) -> (Notifier, Reports) {
    let (tx, rx) = mpsc::unbounded_channel();
    let notifier = Notifier::start(sinks, config, move |r| {
        let _ = tx.send(r);
    })
    .unwrap();
    (notifier, rx)
}

async fn next_report(reports: &mut Reports) -> DeliveryReport {
    tokio::time::timeout(DEADLOCK_GUARD, reports.recv())
        .await
        .expect("no report arrived")
        .expect("notifier gone")
}

fn sample(event: EventKind, id: &str) -> Notification {
    let mut n = Notification::new(
        event,
        id,
        "alice@example.com",
        "debug",
        "payments",
        "INC-4211 checkout 500s",
        time::macros::datetime!(2026-03-29 01:59:00 UTC),
    );
    n.ticket = Some("INC-4211".into());
    n
}

fn webhook(server: &Server) -> Sink {
    Sink::webhook("security", &server.url, SECRET).unwrap()
}

fn assert_signed(seen: &Seen) {
    verify_signature(
        SECRET.as_bytes(),
        &seen.headers["x-jitgate-timestamp"],
        &seen.headers["x-jitgate-signature"],
        &seen.body,
        SystemTime::now(),
        DEFAULT_SIGNATURE_TOLERANCE,
    )
    .unwrap();
}

#[tokio::test]
async fn webhook_is_signed_and_verifies() {
    let mut server = serve(|_| Reply::status(204)).await;
    let (notifier, mut reports) = start(vec![webhook(&server)], &fast(1));
    notifier.notify(sample(EventKind::RequestPending, "r-1"));

    let seen = server.next_request().await;
    assert_eq!(seen.path, "/hooks/jitgate");
    assert_signed(&seen);
    assert_eq!(seen.headers["x-jitgate-event"], "request.pending");
    assert_eq!(seen.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(body["apiVersion"], "jitgate.dev/v1");
    assert_eq!(body["request"]["id"], "r-1");

    // A receiver with another secret, or a tampered body, rejects it.
    let wrong = verify_signature(
        b"some-other-secret-entirely",
        &seen.headers["x-jitgate-timestamp"],
        &seen.headers["x-jitgate-signature"],
        &seen.body,
        SystemTime::now(),
        DEFAULT_SIGNATURE_TOLERANCE,
    );
    assert!(matches!(wrong, Err(NotifyError::SignatureMismatch)));
    let mut tampered = seen.body.to_vec();
    tampered[10] ^= 1;
    assert!(
        verify_signature(
            SECRET.as_bytes(),
            &seen.headers["x-jitgate-timestamp"],
            &seen.headers["x-jitgate-signature"],
            &tampered,
            SystemTime::now(),
            DEFAULT_SIGNATURE_TOLERANCE,
        )
        .is_err()
    );

    let report = next_report(&mut reports).await;
    assert_eq!(report.sink, "security");
    assert_eq!(report.request_id, "r-1");
    assert!(
        matches!(
            report.outcome,
            DeliveryOutcome::Delivered {
                attempts: 1,
                status: 204
            }
        ),
        "{report:?}"
    );
}

#[tokio::test]
async fn two_500s_then_success_is_delivered_on_the_third_attempt() {
    let mut server = serve(|n| {
        if n < 2 {
            Reply {
                body: "database is down".into(),
                ..Reply::status(500)
            }
        } else {
            Reply::status(200)
        }
    })
    .await;
    let (notifier, mut reports) = start(vec![webhook(&server)], &fast(5));
    notifier.notify(sample(EventKind::RequestApproved, "r-2"));

    let report = next_report(&mut reports).await;
    assert!(
        matches!(
            report.outcome,
            DeliveryOutcome::Delivered {
                attempts: 3,
                status: 200
            }
        ),
        "{report:?}"
    );
    let attempts = [
        server.next_request().await,
        server.next_request().await,
        server.next_request().await,
    ];
    assert_eq!(server.requests(), 3);
    for seen in &attempts {
        assert_signed(seen);
        assert_eq!(
            seen.body, attempts[0].body,
            "every attempt sends the same body"
        );
    }
}

#[tokio::test]
async fn status_400_is_not_retried() {
    let mut server = serve(|_| Reply {
        body: "invalid_payload".into(),
        ..Reply::status(400)
    })
    .await;
    let (notifier, mut reports) = start(vec![webhook(&server)], &fast(5));
    notifier.notify(sample(EventKind::RequestDenied, "r-3"));

    let report = next_report(&mut reports).await;
    match &report.outcome {
        DeliveryOutcome::Failed {
            attempts: 1,
            error: e @ NotifyError::Rejected { status: 400, .. },
        } => {
            let text = e.to_string();
            assert!(
                text.contains("invalid_payload") && text.contains("not retried"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    server.next_request().await;
    // The outcome is final: no further attempt was or will be made.
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn retries_give_up_after_the_last_attempt() {
    let server = serve(|_| Reply::status(503)).await;
    let (notifier, mut reports) = start(vec![webhook(&server)], &fast(3));
    notifier.notify(sample(EventKind::Expired, "r-4"));
    let report = next_report(&mut reports).await;
    assert!(
        matches!(
            report.outcome,
            DeliveryOutcome::Failed {
                attempts: 3,
                error: NotifyError::ReceiverFailed { status: 503, .. }
            }
        ),
        "{report:?}"
    );
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let mut server = serve(|n| {
        if n == 0 {
            Reply {
                headers: vec![("retry-after", "1".into())],
                ..Reply::status(429)
            }
        } else {
            Reply::status(200)
        }
    })
    .await;
    // The backoff alone would retry after ~10 ms.
    let (notifier, mut reports) = start(vec![webhook(&server)], &fast(3));
    notifier.notify(sample(EventKind::RequestPending, "r-5"));
    let report = next_report(&mut reports).await;
    assert!(
        matches!(
            report.outcome,
            DeliveryOutcome::Delivered { attempts: 2, .. }
        ),
        "{report:?}"
    );
    let first = server.next_request().await;
    let second = server.next_request().await;
    let gap = second.at.duration_since(first.at);
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[tokio::test]
async fn retry_after_longer_than_allowed_gives_up() {
    let server = serve(|_| Reply {
        headers: vec![("retry-after", "3600".into())],
        ..Reply::status(429)
    })
    .await;
    let (notifier, mut reports) = start(vec![webhook(&server)], &fast(5));
    notifier.notify(sample(EventKind::RequestPending, "r-6"));
    let report = next_report(&mut reports).await;
    assert!(
        matches!(
            report.outcome,
            DeliveryOutcome::Failed {
                attempts: 1,
                error: NotifyError::RetryAfterTooLong { .. }
            }
        ),
        "{report:?}"
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn attempts_time_out() {
    let hold = Arc::new(Semaphore::new(0));
    let held = hold.clone();
    let server = serve(move |_| Reply {
        hold: Some(held.clone()),
        ..Reply::status(200)
    })
    .await;
    let mut config = fast(2);
    config.retry.attempt_timeout = Duration::from_millis(200);
    let (notifier, mut reports) = start(vec![webhook(&server)], &config);
    notifier.notify(sample(EventKind::RequestPending, "r-7"));
    let report = next_report(&mut reports).await;
    assert!(
        matches!(
            report.outcome,
            DeliveryOutcome::Failed {
                attempts: 2,
                error: NotifyError::Timeout { .. }
            }
        ),
        "{report:?}"
    );
    assert_eq!(server.requests(), 2);
    hold.add_permits(100);
}

#[tokio::test]
async fn unreachable_receiver_fails_without_showing_the_path() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let sink = Sink::slack(
        "slack",
        &format!("http://127.0.0.1:{port}/services/T0/B0/SECRETPATH"),
    )
    .unwrap();
    let (notifier, mut reports) = start(vec![sink], &fast(2));
    notifier.notify(sample(EventKind::RequestPending, "r-8"));
    let report = next_report(&mut reports).await;
    match &report.outcome {
        DeliveryOutcome::Failed {
            attempts: 2,
            error: e @ NotifyError::Connect { .. },
        } => {
            let text = e.to_string();
            assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
            assert!(!text.contains("SECRETPATH"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn notify_on_a_hanging_sink_returns_before_the_server_may_answer() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hold = Arc::new(Semaphore::new(0));
    let held = hold.clone();
    let (mut hanging, healthy) = runtime.block_on(async {
        let hanging = serve(move |_| Reply {
            hold: Some(held.clone()),
            ..Reply::status(200)
        })
        .await;
        let healthy = serve(|_| Reply::status(200)).await;
        (hanging, healthy)
    });
    let sinks = vec![
        Sink::webhook("hanging", &hanging.url, SECRET).unwrap(),
        Sink::slack("healthy", &healthy.url).unwrap(),
    ];
    let mut config = fast(1);
    // Long enough that the held requests cannot time out while the test runs.
    config.retry.attempt_timeout = Duration::from_secs(60);
    let (notifier, mut reports) = {
        let _guard = runtime.enter();
        start(sinks, &config)
    };

    // Call notify on a plain thread, outside the runtime: if it waited for a sink, it would
    // wait for the hanging server, which answers only after this thread has returned.
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let caller = {
        let notifier = notifier.clone();
        std::thread::spawn(move || {
            for i in 0..50 {
                notifier.notify(sample(EventKind::RequestPending, &format!("r-{i}")));
            }
            done_tx.send(()).unwrap();
        })
    };
    done_rx
        .recv_timeout(DEADLOCK_GUARD)
        .expect("notify blocked on a hanging sink");
    caller.join().unwrap();
    assert_eq!(
        hanging.answered.load(Ordering::SeqCst),
        0,
        "the server may not have answered yet"
    );

    runtime.block_on(async {
        // The hanging sink really has the first notifications in hand (4 in flight) ...
        let first = hanging.next_request().await;
        assert_eq!(hanging.answered.load(Ordering::SeqCst), 0);
        let body: serde_json::Value = serde_json::from_slice(&first.body).unwrap();
        let id = body["request"]["id"].as_str().unwrap().to_owned();
        assert!(["r-0", "r-1", "r-2", "r-3"].contains(&id.as_str()), "{id}");
        // ... while the healthy sink delivers all 50 regardless.
        let mut healthy_delivered = 0;
        while healthy_delivered < 50 {
            let r = next_report(&mut reports).await;
            assert_eq!(r.sink, "healthy", "{r:?}");
            assert!(
                matches!(r.outcome, DeliveryOutcome::Delivered { .. }),
                "{r:?}"
            );
            healthy_delivered += 1;
        }
        // Release the hanging server; its deliveries complete too.
        hold.add_permits(1_000);
        let mut hanging_delivered = 0;
        while hanging_delivered < 50 {
            let r = next_report(&mut reports).await;
            assert_eq!(r.sink, "hanging");
            assert!(
                matches!(r.outcome, DeliveryOutcome::Delivered { .. }),
                "{r:?}"
            );
            hanging_delivered += 1;
        }
        assert_eq!(healthy.requests(), 50);
    });
}

#[tokio::test]
async fn full_queue_drops_the_oldest_non_urgent_notification() {
    let hold = Arc::new(Semaphore::new(0));
    let held = hold.clone();
    let mut server = serve(move |_| Reply {
        hold: Some(held.clone()),
        ..Reply::status(200)
    })
    .await;
    let config = NotifierConfig {
        queue_capacity: 2,
        max_in_flight: 1,
        ..fast(1)
    };
    let (notifier, mut reports) = start(vec![webhook(&server)], &config);
    let urgent = |id: &str| {
        let mut n = sample(EventKind::RequestPending, id);
        n.urgent = true;
        n
    };

    // `a` is in flight (the server holds it); the queue holds two more.
    notifier.notify(sample(EventKind::RequestPending, "a"));
    server.next_request().await;
    notifier.notify(sample(EventKind::RequestPending, "b"));
    notifier.notify(sample(EventKind::RequestPending, "c"));
    assert_eq!(notifier.queued(), 2);

    let dropped_by = |reports: &mut Reports| {
        let r = reports.try_recv().expect("a drop is reported at once");
        assert!(
            matches!(
                r.outcome,
                DeliveryOutcome::Dropped {
                    reason: DropReason::QueueFull
                }
            ),
            "{r:?}"
        );
        r.request_id
    };
    notifier.notify(sample(EventKind::RequestPending, "d")); // queue b c → c d
    assert_eq!(dropped_by(&mut reports), "b");
    notifier.notify(urgent("u1")); // c d → d u1
    assert_eq!(dropped_by(&mut reports), "c");
    notifier.notify(sample(EventKind::BreakGlass, "u2")); // d u1 → u1 u2 (break-glass is urgent)
    assert_eq!(dropped_by(&mut reports), "d");
    notifier.notify(sample(EventKind::RequestPending, "e")); // all urgent: the newcomer yields
    assert_eq!(dropped_by(&mut reports), "e");
    notifier.notify(urgent("u3")); // all urgent: the oldest urgent goes
    assert_eq!(dropped_by(&mut reports), "u1");
    assert!(reports.try_recv().is_err(), "nothing else reported yet");
    assert_eq!(notifier.queued(), 2);

    hold.add_permits(1_000);
    let mut delivered = Vec::new();
    for _ in 0..3 {
        let r = next_report(&mut reports).await;
        assert!(
            matches!(r.outcome, DeliveryOutcome::Delivered { .. }),
            "{r:?}"
        );
        delivered.push(r.request_id);
    }
    assert_eq!(delivered, ["a", "u2", "u3"]);
}

#[tokio::test]
async fn shutdown_delivers_what_is_queued() {
    let server = serve(|_| Reply::status(200)).await;
    let (notifier, mut reports) = start(vec![webhook(&server)], &fast(1));
    for i in 0..10 {
        notifier.notify(sample(EventKind::Expired, &format!("r-{i}")));
    }
    assert!(notifier.shutdown(Duration::from_secs(10)).await);
    let mut delivered = 0;
    while let Ok(r) = reports.try_recv() {
        assert!(
            matches!(r.outcome, DeliveryOutcome::Delivered { .. }),
            "{r:?}"
        );
        delivered += 1;
    }
    assert_eq!(delivered, 10);
    assert_eq!(server.requests(), 10);

    // After shutdown, notifications are dropped and say so.
    notifier.notify(sample(EventKind::Expired, "late"));
    let r = reports.try_recv().unwrap();
    assert!(
        matches!(
            r.outcome,
            DeliveryOutcome::Dropped {
                reason: DropReason::ShuttingDown
            }
        ),
        "{r:?}"
    );
}

#[tokio::test]
async fn shutdown_past_its_grace_reports_everything_left_as_dropped() {
    let hold = Arc::new(Semaphore::new(0));
    let held = hold.clone();
    let mut server = serve(move |_| Reply {
        hold: Some(held.clone()),
        ..Reply::status(200)
    })
    .await;
    let config = NotifierConfig {
        max_in_flight: 1,
        ..fast(1)
    };
    let (notifier, mut reports) = start(vec![webhook(&server)], &config);
    for i in 0..3 {
        notifier.notify(sample(EventKind::RequestPending, &format!("r-{i}")));
    }
    server.next_request().await;
    assert!(!notifier.shutdown(Duration::from_millis(100)).await);
    // One report per notification: the one in flight and the two queued.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = next_report(&mut reports).await;
        assert!(
            matches!(
                r.outcome,
                DeliveryOutcome::Dropped {
                    reason: DropReason::ShuttingDown
                }
            ),
            "{r:?}"
        );
        ids.push(r.request_id);
    }
    ids.sort();
    assert_eq!(ids, ["r-0", "r-1", "r-2"]);
    hold.add_permits(100);
}

#[tokio::test]
async fn slack_sink_gets_the_slack_payload() {
    let mut server = serve(|_| Reply {
        body: "ok".into(),
        ..Reply::status(200)
    })
    .await;
    let sink = Sink::slack("slack", &server.url)
        .unwrap()
        .with_urgent_mention("<!here>")
        .unwrap();
    let (notifier, mut reports) = start(vec![sink], &fast(1));
    notifier.notify(sample(EventKind::BreakGlass, "r-9"));
    let seen = server.next_request().await;
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("<!here> :rotating_light: BREAK-GLASS")
    );
    assert!(
        !seen.headers.contains_key("x-jitgate-signature"),
        "Slack gets no signature"
    );
    assert!(matches!(
        next_report(&mut reports).await.outcome,
        DeliveryOutcome::Delivered { .. }
    ));
}

#[test]
fn starting_outside_a_runtime_is_an_error() {
    let err = Notifier::start(Vec::new(), &NotifierConfig::default(), |_| {}).unwrap_err();
    assert!(matches!(err, NotifyError::NoRuntime), "{err}");
}

#[tokio::test]
async fn invalid_settings_are_refused() {
    let sink = || Sink::slack("s", "https://hooks.example.com/x").unwrap();
    let cases: [(&str, NotifierConfig, Vec<Sink>, &str); 4] = [
        (
            "zero capacity",
            NotifierConfig {
                queue_capacity: 0,
                ..NotifierConfig::default()
            },
            vec![sink()],
            "queue_capacity",
        ),
        (
            "zero in flight",
            NotifierConfig {
                max_in_flight: 0,
                ..NotifierConfig::default()
            },
            vec![sink()],
            "max_in_flight",
        ),
        ("zero attempts", fast(0), vec![sink()], "retry.attempts"),
        (
            "duplicate names",
            NotifierConfig::default(),
            vec![sink(), sink()],
            "two sinks have this name",
        ),
    ];
    for (name, config, sinks, want) in cases {
        let err = Notifier::start(sinks, &config, |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{name}: {err}");
    }
    let bad_ca = sink().with_ca_pem(b"not pem".to_vec());
    let err = Notifier::start(vec![bad_ca], &NotifierConfig::default(), |_| {}).unwrap_err();
    assert!(matches!(err, NotifyError::CaBundle { .. }), "{err}");
}

/// Reports arrive for every (notification, sink) pair, whatever happens: checked with a mix of
/// outcomes across two sinks.
#[tokio::test]
async fn every_notification_gets_one_report_per_sink() {
    let ok = serve(|_| Reply::status(200)).await;
    let bad = serve(|n| {
        if n % 2 == 0 {
            Reply::status(400)
        } else {
            Reply::status(200)
        }
    })
    .await;
    let sinks = vec![
        Sink::webhook("ok", &ok.url, SECRET).unwrap(),
        Sink::webhook("bad", &bad.url, SECRET).unwrap(),
    ];
    let (notifier, mut reports) = start(sinks, &fast(2));
    for i in 0..20 {
        notifier.notify(sample(EventKind::Revoked, &format!("r-{i}")));
    }
    let mut per_pair: HashMap<(String, String), usize> = HashMap::new();
    for _ in 0..40 {
        let r = next_report(&mut reports).await;
        *per_pair.entry((r.sink, r.request_id)).or_default() += 1;
    }
    assert_eq!(per_pair.len(), 40);
    assert!(per_pair.values().all(|&n| n == 1));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(reports.try_recv().is_err(), "no extra reports");
}
