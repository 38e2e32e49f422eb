//! The audit lines the broker writes: one per transition of a request or grant, one per refused
//! action, one per issued certificate and one per notification outcome.
//!
//! The audit event has no request or profile field, so broker lines use the object fields the
//! Kubernetes way: `api_group` `jitgate.dev`, `resource` `accessrequests`, `name` the request
//! id, `verb` the action (`create`, `approve`, `activate`, …), `namespace` the request's, and
//! `grant` the grant id; `reason` ends with `(request r-…, for <requester>, profile <profile>)`,
//! like the gateway's grant lines. The gateway itself writes `grant.create`, `grant.revoke` and
//! `grant.expire` when its index sees a grant come or go; the broker's own lines are `access.*`.

use jitgate_audit::{AuditEvent, Decision, EventKind};
use jitgate_notify::{DeliveryOutcome, DeliveryReport};
use jitgate_store::{AccessRequestRecord, GrantRecord};
use jitgate_wire::asciicast::SessionMeta;

use crate::Caller;

/// The `api_group` of broker lines.
pub const AUDIT_API_GROUP: &str = "jitgate.dev";
/// The `resource` of lines about access requests.
pub const AUDIT_REQUESTS: &str = "accessrequests";
/// The `resource` of lines about grants without a request.
pub const AUDIT_GRANTS: &str = "grants";
/// The `resource` of lines about recorded sessions (`name` is the session id).
pub const AUDIT_SESSIONS: &str = "sessions";
/// The `user` of lines about what jitgate did by itself (automatic approval, expiry).
pub const SYSTEM_ACTOR: &str = "jitgate";

/// Who did it: a caller, or jitgate itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Actor<'a> {
    /// A person, as authenticated.
    Caller(&'a Caller),
    /// jitgate (automatic approval, expiry).
    System,
}

fn base(kind: EventKind, verb: &str, actor: Actor<'_>) -> AuditEvent {
    let mut e = AuditEvent::new(kind);
    match actor {
        Actor::Caller(c) => {
            e.user = Some(c.user.clone());
            e.groups = c.groups.clone();
        }
        Actor::System => e.user = Some(SYSTEM_ACTOR.to_owned()),
    }
    e.verb = Some(verb.to_owned());
    e.api_group = Some(AUDIT_API_GROUP.to_owned());
    e
}

/// A line about a request's transition (or a refused action on it).
pub(crate) fn request_event(
    kind: EventKind,
    verb: &str,
    actor: Actor<'_>,
    request: &AccessRequestRecord,
    decision: Decision,
    why: &str,
) -> AuditEvent {
    let mut e = base(kind, verb, actor);
    e.resource = Some(AUDIT_REQUESTS.to_owned());
    e.name = Some(request.id.to_string());
    e.namespace = Some(request.namespace.clone());
    e.grant = request.grant_id.as_ref().map(ToString::to_string);
    e.decision = Some(decision);
    e.reason = Some(format!(
        "{why} (request {}, for {}, profile {})",
        request.id, request.requester, request.profile
    ));
    e
}

/// A line about a grant's transition (or a refused action on it), through its request when it
/// has one.
pub(crate) fn grant_event(
    kind: EventKind,
    verb: &str,
    actor: Actor<'_>,
    grant: &GrantRecord,
    decision: Decision,
    why: &str,
) -> AuditEvent {
    let mut e = base(kind, verb, actor);
    let g = &grant.grant;
    match &grant.request {
        Some(id) => {
            e.resource = Some(AUDIT_REQUESTS.to_owned());
            e.name = Some(id.to_string());
        }
        None => {
            e.resource = Some(AUDIT_GRANTS.to_owned());
            e.name = Some(g.id.to_string());
        }
    }
    e.namespace = Some(g.namespaces.join(","));
    e.grant = Some(g.id.to_string());
    e.decision = Some(decision);
    let request = grant
        .request
        .as_ref()
        .map(|r| format!("request {r}, "))
        .unwrap_or_default();
    e.reason = Some(format!(
        "{why} ({request}for {}, profile {})",
        g.user, g.profile
    ));
    e
}

/// A refused action on something that may not exist (an unknown id, a refused submission).
pub(crate) fn refusal_event(
    kind: EventKind,
    verb: &str,
    caller: &Caller,
    object: Option<&str>,
    namespace: Option<&str>,
    status: u16,
    why: &str,
) -> AuditEvent {
    let mut e = base(kind, verb, Actor::Caller(caller));
    e.resource = Some(AUDIT_REQUESTS.to_owned());
    e.name = object.map(str::to_owned);
    e.namespace = namespace.map(str::to_owned);
    e.decision = Some(Decision::Deny);
    e.status = Some(status);
    e.reason = Some(why.to_owned());
    e
}

/// A line about reading a session's recording: who read it (the caller), whose session it is,
/// allowed or refused.
pub(crate) fn recording_event(
    caller: &Caller,
    id: &str,
    owner: Option<&SessionMeta>,
    decision: Decision,
    status: u16,
    why: &str,
) -> AuditEvent {
    let mut e = base(EventKind::RecordingRead, "get", Actor::Caller(caller));
    e.resource = Some(AUDIT_SESSIONS.to_owned());
    e.name = Some(id.to_owned());
    e.subresource = Some("recording".to_owned());
    e.decision = Some(decision);
    e.status = Some(status);
    let whose = match owner {
        Some(m) => {
            e.namespace = Some(m.namespace.clone()).filter(|n| !n.is_empty());
            e.grant = Some(m.grant.clone()).filter(|g| !g.is_empty());
            format!(
                " (the {} session of {} in {}/{}, grant {})",
                m.kind, m.user, m.namespace, m.pod, m.grant
            )
        }
        None => String::new(),
    };
    e.reason = Some(format!("{why}{whose}"));
    e
}

/// A line about one notification's outcome at one sender.
pub(crate) fn delivery_event(report: &DeliveryReport) -> AuditEvent {
    let mut e = base(EventKind::NotificationDelivery, "notify", Actor::System);
    e.resource = Some(AUDIT_REQUESTS.to_owned());
    e.name = Some(report.request_id.clone());
    let urgent = if report.urgent { "urgent " } else { "" };
    let (decision, what) = match &report.outcome {
        DeliveryOutcome::Delivered { attempts, status } => (
            Decision::Allow,
            format!("delivered (HTTP {status}, {attempts} attempt(s))"),
        ),
        DeliveryOutcome::Failed { attempts, error } => (
            Decision::Deny,
            format!("failed after {attempts} attempt(s): {error}"),
        ),
        DeliveryOutcome::Dropped { reason } => (Decision::Deny, format!("dropped ({reason:?})")),
    };
    e.decision = Some(decision);
    e.reason = Some(format!(
        "{urgent}notification {} to {}: {what}",
        report.event, report.sink
    ));
    e
}
