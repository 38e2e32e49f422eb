//! The generic webhook: a versioned JSON body (`apiVersion: jitgate.dev/v1`) signed with
//! HMAC-SHA256 over `timestamp + "." + body`, and the check receivers run on it.
//!
//! Headers sent with every attempt (the timestamp is the attempt's, so a retry is not mistaken
//! for a replay):
//!
//! - `X-Jitgate-Timestamp: <unix seconds>`
//! - `X-Jitgate-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
//! - `X-Jitgate-Event: request.pending` (etc.)
//!
//! Receivers call [`verify_signature`] with the raw body bytes (before any JSON parsing), then
//! deduplicate on `(request.id, event)`: each event happens at most once per request, and a
//! retried delivery carries the same body.

use std::time::{Duration, SystemTime};

use ring::hmac;
use serde::Serialize;

use crate::NotifyError;
use crate::notification::{Notification, rfc3339};

/// The `apiVersion` of the webhook body.
pub const API_VERSION: &str = "jitgate.dev/v1";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-jitgate-signature";
/// The header carrying the signed timestamp (unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-jitgate-timestamp";
/// The header carrying the event name.
pub const EVENT_HEADER: &str = "x-jitgate-event";
/// How far a signed timestamp may be from the receiver's clock by default.
pub const DEFAULT_SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    api_version: &'static str,
    kind: &'static str,
    event: &'static str,
    urgent: bool,
    time: String,
    summary: String,
    request: RequestBody<'a>,
    actor: Option<&'a str>,
    approve: Option<ApproveBody<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody<'a> {
    id: &'a str,
    requester: &'a str,
    profile: &'a str,
    namespace: &'a str,
    reason: &'a str,
    ticket: Option<&'a str>,
    expires_at: Option<String>,
}

#[derive(Serialize)]
struct ApproveBody<'a> {
    url: Option<&'a str>,
    command: Option<&'a str>,
}

/// The webhook body for a notification (compact JSON, fields in a fixed order).
pub fn webhook_body(n: &Notification) -> Result<Vec<u8>, NotifyError> {
    let approve = (n.approve_url.is_some() || n.approve_command.is_some()).then_some(ApproveBody {
        url: n.approve_url.as_deref(),
        command: n.approve_command.as_deref(),
    });
    let body = Body {
        api_version: API_VERSION,
        kind: "Notification",
        event: n.event.as_str(),
        urgent: n.is_urgent(),
        time: rfc3339(n.at),
        summary: n.summary(),
        request: RequestBody {
            id: &n.request_id,
            requester: &n.requester,
            profile: &n.profile,
            namespace: &n.namespace,
            reason: &n.reason,
            ticket: n.ticket.as_deref(),
            expires_at: n.expires_at.map(rfc3339),
        },
        actor: n.actor.as_deref(),
        approve,
    };
    serde_json::to_vec(&body).map_err(|source| NotifyError::Render { source })
}

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// The `X-Jitgate-Signature` value: `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).as_ref())
    )
}

/// Checks a delivery as a receiver: the timestamp is within `tolerance` of `now`, and one of the
/// signatures in the header (comma-separated `sha256=` values) matches. The comparison is
/// constant-time.
///
/// `timestamp_header` and `signature_header` are the raw header values; `body` the raw bytes.
pub fn verify_signature(
    secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), NotifyError> {
    let malformed = |problem: &str| NotifyError::SignatureMalformed {
        problem: problem.to_owned(),
    };
    let ts_text = timestamp_header.trim();
    if ts_text.is_empty() || ts_text.len() > 20 || !ts_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            "X-Jitgate-Timestamp is not a number of seconds since 1970",
        ));
    }
    let timestamp: u64 = ts_text
        .parse()
        .map_err(|_| malformed("X-Jitgate-Timestamp is out of range"))?;
    let now_secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let skew = Duration::from_secs(now_secs.abs_diff(timestamp));
    if skew > tolerance {
        return Err(NotifyError::TimestampOutOfWindow {
            timestamp,
            skew,
            tolerance,
        });
    }
    if signature_header.len() > 1024 {
        return Err(malformed("X-Jitgate-Signature is too long"));
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut message = Vec::with_capacity(ts_text.len() + 1 + body.len());
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    let mut saw_sha256 = false;
    for part in signature_header.split(',') {
        let Some(hex_tag) = part.trim().strip_prefix("sha256=") else {
            continue;
        };
        saw_sha256 = true;
        let Ok(tag) = hex::decode(hex_tag) else {
            continue;
        };
        if hmac::verify(&key, &message, &tag).is_ok() {
            return Ok(());
        }
    }
    if saw_sha256 {
        Err(NotifyError::SignatureMismatch)
    } else {
        Err(malformed("X-Jitgate-Signature has no sha256= value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn known_answer() {
        // Computed independently: Python's hmac.new(b"key", b'1700000000.{"a":1}', sha256).
        assert_eq!(
            sign(b"key", 1_700_000_000, br#"{"a":1}"#),
            "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
        );
    }

    #[test]
    fn verification_cases() {
        let body = br#"{"apiVersion":"jitgate.dev/v1"}"#;
        let good = sign(SECRET, 1_000_000, body);
        let tol = DEFAULT_SIGNATURE_TOLERANCE;
        // name, secret, timestamp header, signature header, body, receiver's clock, result
        type Case<'a> = (
            &'a str,
            &'a [u8],
            &'a str,
            String,
            &'a [u8],
            u64,
            Result<(), &'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "valid",
                SECRET,
                "1000000",
                good.clone(),
                body,
                1_000_000,
                Ok(()),
            ),
            (
                "valid, receiver clock 4 min ahead",
                SECRET,
                "1000000",
                good.clone(),
                body,
                1_000_240,
                Ok(()),
            ),
            (
                "valid among several",
                SECRET,
                "1000000",
                format!("sha256=00ff, {good}"),
                body,
                1_000_000,
                Ok(()),
            ),
            (
                "body changed",
                SECRET,
                "1000000",
                good.clone(),
                br#"{"apiVersion":"jitgate.dev/v2"}"#,
                1_000_000,
                Err("does not match"),
            ),
            (
                "timestamp changed",
                SECRET,
                "1000001",
                good.clone(),
                body,
                1_000_000,
                Err("does not match"),
            ),
            (
                "other secret",
                b"another secret entirely, 32 byte",
                "1000000",
                good.clone(),
                body,
                1_000_000,
                Err("does not match"),
            ),
            (
                "replayed later",
                SECRET,
                "1000000",
                good.clone(),
                body,
                1_000_301,
                Err("away from now"),
            ),
            (
                "from the future",
                SECRET,
                "1000000",
                good.clone(),
                body,
                999_600,
                Err("away from now"),
            ),
            (
                "timestamp not a number",
                SECRET,
                "yesterday",
                good.clone(),
                body,
                1_000_000,
                Err("not a number"),
            ),
            (
                "no sha256 value",
                SECRET,
                "1000000",
                "md5=abc".into(),
                body,
                1_000_000,
                Err("no sha256"),
            ),
            (
                "not hex",
                SECRET,
                "1000000",
                "sha256=zz".into(),
                body,
                1_000_000,
                Err("does not match"),
            ),
            (
                "truncated tag",
                SECRET,
                "1000000",
                good[..good.len() - 2].to_owned(),
                body,
                1_000_000,
                Err("does not match"),
            ),
        ];
        for (name, secret, ts, sig, body, now, want) in cases {
            let got = verify_signature(secret, ts, &sig, body, at(now), tol);
            match (want, got) {
                (Ok(()), Ok(())) => {}
                (Err(w), Err(e)) => assert!(e.to_string().contains(w), "{name}: {e}"),
                (want, got) => panic!("{name}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn body_has_the_documented_shape() {
        let mut n = Notification::new(
            EventKind::RequestPending,
            "r-7f3a",
            "alice@example.com",
            "debug",
            "payments",
            "INC-4211 checkout 500s",
            time::macros::datetime!(2026-03-29 01:59:00 UTC),
        );
        n.ticket = Some("INC-4211".into());
        n.approve_command = Some("kubectl jit approve r-7f3a".into());
        let body: serde_json::Value = serde_json::from_slice(&webhook_body(&n).unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "apiVersion": "jitgate.dev/v1",
                "kind": "Notification",
                "event": "request.pending",
                "urgent": false,
                "time": "2026-03-29T01:59:00Z",
                "summary": "alice@example.com requests debug in payments: INC-4211 checkout 500s",
                "request": {
                    "id": "r-7f3a",
                    "requester": "alice@example.com",
                    "profile": "debug",
                    "namespace": "payments",
                    "reason": "INC-4211 checkout 500s",
                    "ticket": "INC-4211",
                    "expiresAt": null
                },
                "actor": null,
                "approve": {"url": null, "command": "kubectl jit approve r-7f3a"}
            })
        );
    }
}
