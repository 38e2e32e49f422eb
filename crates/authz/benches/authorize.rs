//! How long one decision takes with 10,000 active grants spread over 2,000 users.
//!
//! Run with `cargo bench -p jitgate-authz --bench authorize`.

// Test code: a panic is a failed test, with the message saying which input.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jitgate_authz::{Decision, Grant, GrantIndex, LabelSelector, Profiles};
use jitgate_classify::classify;

const USERS: usize = 2_000;
const GRANTS: usize = 10_000;
const NOW: i64 = 1_800_000_000;

fn grants() -> Vec<Grant> {
    (0..GRANTS)
        .map(|i| {
            let user = i % USERS;
            Grant {
                id: format!("g-{i:05}").as_str().into(),
                user: format!("user-{user}"),
                profile: "oncall-debug".into(),
                namespaces: vec![format!("ns-{}", i % 97), format!("ns-{}", (i + 1) % 97)],
                pod_name_glob: (i % 3 == 0).then(|| "api-*".to_owned()),
                pod_label_selector: (i % 5 == 0)
                    .then(|| LabelSelector::parse("app=api,tier in (web)").expect("selector")),
                expires_at: NOW + 3600 - (i as i64 % 7200),
                created_by: "approver".into(),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let index = GrantIndex::new(grants());
    let profiles = Profiles::builtin();
    // user-1 holds grants 1, 2001, 4001, 6001, 8001: namespaces ns-1/ns-2, ns-61/ns-62, ...
    let exec = classify(
        "POST",
        "/api/v1/namespaces/ns-1/pods/api-0/exec",
        Some("command=sh"),
    )
    .expect("classify");
    let denied = classify("DELETE", "/api/v1/namespaces/ns-50/pods/api-0", None).expect("classify");
    assert!(matches!(
        index.authorize(&exec, "user-1", &profiles, NOW, None),
        Decision::Allow { .. }
    ));
    assert!(matches!(
        index.authorize(&denied, "user-1", &profiles, NOW, None),
        Decision::Deny { .. }
    ));

    let mut group = c.benchmark_group("authorize, 10k grants / 2k users");
    group.bench_function("allow exec", |b| {
        b.iter(|| index.authorize(black_box(&exec), black_box("user-1"), &profiles, NOW, None));
    });
    group.bench_function("deny with message", |b| {
        b.iter(|| {
            index.authorize(
                black_box(&denied),
                black_box("user-1"),
                &profiles,
                NOW,
                None,
            )
        });
    });
    group.bench_function("unknown user", |b| {
        b.iter(|| index.authorize(black_box(&exec), black_box("nobody"), &profiles, NOW, None));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
