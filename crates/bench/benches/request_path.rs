//! Fixed costs the gateway pays on every request besides forwarding it: verifying the client
//! certificate and reading the identity from it, and writing the audit line (flushed, fsynced,
//! and through `append_async`, the tokio blocking-pool hand-off the request path uses).
//!
//! Run with `cargo bench -p jitgate-bench --bench request_path`.

// Bench code: a panic is a failed bench, with the message saying what.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use jitgate_audit::{AuditEvent, AuditLog, Decision, Durability, EventKind};
use jitgate_ca::{CertificateAuthority, ClientCertRequest, ClientKey};
use jitgate_gateway::authn::CertAuthenticator;

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("jitgate-bench")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn authn(c: &mut Criterion) {
    let ca = CertificateAuthority::load_or_create(&scratch("ca")).expect("CA");
    let cert = ca
        .issue_client_cert(
            ClientCertRequest::new(
                "bench",
                vec!["sre".into()],
                ClientKey::Generate,
                Duration::from_secs(12 * 3600),
            )
            .with_ttl(Duration::from_secs(3600)),
        )
        .expect("client certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).expect("CA root");
    let authn = CertAuthenticator::new(roots).expect("authenticator");
    let chain = vec![cert.cert_der.clone()];
    assert_eq!(authn.authenticate(&chain).expect("valid").user, "bench");
    c.bench_function("authn: verify client certificate and read identity", |b| {
        b.iter(|| authn.authenticate(black_box(&chain)).expect("valid"));
    });
}

/// What the gateway writes for an allowed `kubectl get pod`.
fn request_event() -> AuditEvent {
    let mut e = AuditEvent::new(EventKind::Request);
    e.user = Some("bench".into());
    e.groups = vec!["sre".into()];
    e.grant = Some("g-24a4de1f".into());
    e.session = Some("s-0badcafe".into());
    e.verb = Some("get".into());
    e.resource = Some("pods".into());
    e.namespace = Some("payments".into());
    e.name = Some("payments-api-7c5b976bb7-99nlp".into());
    e.decision = Some(Decision::Allow);
    e.status = Some(200);
    e.latency_ms = Some(1);
    e.source_ip = Some([127, 0, 0, 1].into());
    e.user_agent = Some("kubectl/v1.33.0 (linux/amd64) kubernetes/abcdef0".into());
    e
}

fn audit(c: &mut Criterion) {
    let event = request_event();
    let mut group = c.benchmark_group("audit append");
    // Every iteration adds a line: keep the runs short so the scratch files stay small.
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (name, durability) in [("flush", Durability::Flush), ("fsync", Durability::Fsync)] {
        let dir = scratch(&format!("audit-{name}"));
        let log = AuditLog::open_with(dir.join("audit.jsonl"), durability).expect("audit log");
        group.bench_function(name, |b| {
            b.iter(|| log.append(black_box(&event)).expect("append"));
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    // The request path's way: a 2-worker runtime, the write on the blocking pool.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let dir = scratch("audit-async");
    let log = AuditLog::open_with(dir.join("audit.jsonl"), Durability::Flush).expect("audit log");
    group.bench_function("flush via append_async (spawn_blocking)", |b| {
        b.iter(|| {
            rt.block_on(async {
                tokio::spawn({
                    let log = log.clone();
                    let event = event.clone();
                    async move { log.append_async(event).await }
                })
                .await
            })
            .expect("join")
            .expect("append");
        });
    });
    group.bench_function("baseline: the same round trip without the append", |b| {
        b.iter(|| {
            rt.block_on(async { tokio::spawn(async { black_box(0) }).await })
                .expect("join");
        });
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, authn, audit);
criterion_main!(benches);
