//! The Slack payload, compared with committed fixtures in tests/data (readable JSON, reviewed
//! like code). After an intended change, regenerate them with
//! `UPDATE_FIXTURES=1 cargo test -p jitgate-notify --test slack_fixture` and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use jitgate_notify::{EventKind, Notification, slack_payload, webhook_body};

fn sample(event: EventKind) -> Notification {
    let mut n = Notification::new(
        event,
        "r-7f3a",
        "alice@example.com",
        "debug",
        "payments",
        "INC-4211: checkout returns 500s <since 01:40>",
        time::macros::datetime!(2026-03-29 01:59:00 UTC),
    );
    n.ticket = Some("INC-4211".into());
    n.expires_at = Some(time::macros::datetime!(2026-03-29 02:29:00 UTC));
    n.approve_url = Some("https://jitgate.example.com/requests/r-7f3a".into());
    n
}

fn check(name: &str, got: &serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    let rendered = format!("{}\n", serde_json::to_string_pretty(got).unwrap());
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_FIXTURES=1 to create it",
            path.display()
        )
    });
    assert_eq!(rendered, want, "{name} differs from the fixture");
}

#[test]
fn slack_break_glass() {
    check(
        "slack_break_glass.json",
        &slack_payload(&sample(EventKind::BreakGlass), Some("<!here>")),
    );
}

#[test]
fn slack_request_pending() {
    let mut n = sample(EventKind::RequestPending);
    n.expires_at = None;
    n.approve_command = Some("kubectl jit approve r-7f3a".into());
    check(
        "slack_request_pending.json",
        &slack_payload(&n, Some("<!here>")),
    );
}

#[test]
fn slack_request_approved() {
    let mut n = sample(EventKind::RequestApproved);
    n.actor = Some("bob@example.com".into());
    n.approve_url = None;
    check("slack_request_approved.json", &slack_payload(&n, None));
}

#[test]
fn webhook_break_glass() {
    let body: serde_json::Value =
        serde_json::from_slice(&webhook_body(&sample(EventKind::BreakGlass)).unwrap()).unwrap();
    check("webhook_break_glass.json", &body);
}
