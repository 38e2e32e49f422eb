//! One audit event: who did what, to which object, what jitgate decided, and why.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EventKind {
    /// A request to the Kubernetes API, allowed or denied: the decision. For a denial it is the
    /// only line and carries the status sent back; an allowed request is followed by its
    /// [`Response`](Self::Response) line.
    #[serde(rename = "request")]
    Request,
    /// What became of an allowed request: the status the apiserver answered (or 502 when it
    /// could not be reached), bytes and latency.
    #[serde(rename = "response")]
    Response,
    /// A stream session (exec, attach, port-forward, logs -f, watch) started.
    #[serde(rename = "stream.start")]
    StreamStart,
    /// A stream session ended: by either side, or cut at expiry or revocation.
    #[serde(rename = "stream.end")]
    StreamEnd,
    /// A guard refused something a running stream session tried, e.g. a port-forward
    /// connection to a port its profile does not open; the session goes on.
    #[serde(rename = "stream.deny")]
    StreamDeny,
    /// A guard let something a running stream session tried pass: a line typed into an
    /// interactive shell under `exec.interactive: filter`.
    #[serde(rename = "stream.allow")]
    StreamAllow,
    /// Someone asked for access (broker request created).
    #[serde(rename = "access.request")]
    AccessRequest,
    /// An approver approved an access request.
    #[serde(rename = "access.approve")]
    AccessApprove,
    /// An approver denied an access request.
    #[serde(rename = "access.deny")]
    AccessDeny,
    /// The requester cancelled an access request.
    #[serde(rename = "access.cancel")]
    AccessCancel,
    /// An approved access request became active: the broker created its grant.
    #[serde(rename = "access.activate")]
    AccessActivate,
    /// An active access request ended because its grant ran out.
    #[serde(rename = "access.expire")]
    AccessExpire,
    /// Someone revoked the grant of an access request through the broker; the request ended.
    #[serde(rename = "access.revoke")]
    AccessRevoke,
    /// Someone reviewed a break-glass grant after the fact.
    #[serde(rename = "access.review")]
    AccessReview,
    /// A notification about an access request was delivered, failed or was dropped.
    #[serde(rename = "notification.delivery")]
    NotificationDelivery,
    /// A grant was created.
    #[serde(rename = "grant.create")]
    GrantCreate,
    /// A grant was revoked.
    #[serde(rename = "grant.revoke")]
    GrantRevoke,
    /// A grant reached its expiry.
    #[serde(rename = "grant.expire")]
    GrantExpire,
    /// The jitgate CA issued a client certificate.
    #[serde(rename = "cert.issue")]
    CertIssue,
    /// The gateway loaded a new policy (or refused an invalid one).
    #[serde(rename = "policy.reload")]
    PolicyReload,
    /// Someone replayed (downloaded) a session recording through the API, or was refused one.
    #[serde(rename = "recording.read")]
    RecordingRead,
}

impl EventKind {
    /// The name written to the log, e.g. `stream.start`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
            Self::StreamStart => "stream.start",
            Self::StreamEnd => "stream.end",
            Self::StreamDeny => "stream.deny",
            Self::StreamAllow => "stream.allow",
            Self::AccessRequest => "access.request",
            Self::AccessApprove => "access.approve",
            Self::AccessDeny => "access.deny",
            Self::AccessCancel => "access.cancel",
            Self::AccessActivate => "access.activate",
            Self::AccessExpire => "access.expire",
            Self::AccessRevoke => "access.revoke",
            Self::AccessReview => "access.review",
            Self::NotificationDelivery => "notification.delivery",
            Self::GrantCreate => "grant.create",
            Self::GrantRevoke => "grant.revoke",
            Self::GrantExpire => "grant.expire",
            Self::CertIssue => "cert.issue",
            Self::PolicyReload => "policy.reload",
            Self::RecordingRead => "recording.read",
        }
    }
}

/// What jitgate decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The action was allowed.
    Allow,
    /// The action was denied.
    Deny,
}

/// One line of the audit log, before the chain fields (`seq`, `prev_hash`, `hash`) are added.
///
/// Optional fields that are `None` (and empty `groups`) are left out of the JSON. Build one with
/// [`AuditEvent::new`] and set the fields that apply:
///
/// ```
/// use jitgate_audit::{AuditEvent, Decision, EventKind};
/// let mut e = AuditEvent::new(EventKind::Request);
/// e.user = Some("alice@example.com".into());
/// e.verb = Some("get".into());
/// e.resource = Some("pods".into());
/// e.decision = Some(Decision::Allow);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// When it happened (UTC, written as RFC 3339 with milliseconds).
    #[serde(with = "rfc3339_ms")]
    pub time: OffsetDateTime,
    /// What kind of event this is.
    pub kind: EventKind,
    /// The authenticated user; `None` when authentication failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The user's groups as authenticated (before jitgate adds its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The grant that allowed (or was checked for) the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// The stream session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The Kubernetes verb (`get`, `create`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verb: Option<String>,
    /// The API group (`""` for the core group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The resource (`pods`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The subresource (`exec`, `log`, `portforward`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    /// The command line of an exec, one element per argument.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Allowed or denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Why, in words a person can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The HTTP status returned to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Bytes received from the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    /// Bytes sent to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
    /// How long the request or session took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<IpAddr>,
    /// The client's `User-Agent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` happening now, with every optional field empty.
    pub fn new(kind: EventKind) -> Self {
        Self::at(kind, OffsetDateTime::now_utc())
    }

    /// An event of `kind` at `time`, with every optional field empty.
    pub fn at(kind: EventKind, time: OffsetDateTime) -> Self {
        Self {
            time,
            kind,
            user: None,
            groups: Vec::new(),
            grant: None,
            session: None,
            verb: None,
            api_group: None,
            resource: None,
            namespace: None,
            name: None,
            subresource: None,
            command: None,
            decision: None,
            reason: None,
            status: None,
            bytes_in: None,
            bytes_out: None,
            latency_ms: None,
            source_ip: None,
            user_agent: None,
        }
    }
}

/// RFC 3339 in UTC with exactly three fractional digits: `2025-01-31T03:17:02.123Z`.
pub mod rfc3339_ms {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _, ser::Error as _};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;

    /// Formats `time` in UTC with milliseconds.
    pub fn format(time: OffsetDateTime) -> Result<String, time::error::Format> {
        time.to_offset(time::UtcOffset::UTC)
            .format(format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
    }

    /// Serde serializer for `#[serde(with = "rfc3339_ms")]`.
    pub fn serialize<S: Serializer>(time: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*time).map_err(S::Error::custom)?)
    }

    /// Serde deserializer: any RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_left_out_and_time_has_milliseconds() {
        let at = time::macros::datetime!(2025-01-31 03:17:02.123456 UTC);
        let mut e = AuditEvent::at(EventKind::StreamStart, at);
        e.user = Some("alice".into());
        e.command = Some(vec!["sh".into(), "-c".into(), "id".into()]);
        e.decision = Some(Decision::Allow);
        e.source_ip = Some("10.0.0.7".parse().unwrap());
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"time":"2025-01-31T03:17:02.123Z","kind":"stream.start","user":"alice","command":["sh","-c","id"],"decision":"allow","source_ip":"10.0.0.7"}"#
        );
        let back: AuditEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back.time,
            time::macros::datetime!(2025-01-31 03:17:02.123 UTC)
        );
        assert_eq!(back.command, e.command);
    }

    #[test]
    fn kind_names_match_serde() {
        for kind in [
            EventKind::Request,
            EventKind::Response,
            EventKind::StreamStart,
            EventKind::StreamEnd,
            EventKind::StreamDeny,
            EventKind::StreamAllow,
            EventKind::AccessRequest,
            EventKind::AccessApprove,
            EventKind::AccessDeny,
            EventKind::AccessCancel,
            EventKind::AccessActivate,
            EventKind::AccessExpire,
            EventKind::AccessRevoke,
            EventKind::AccessReview,
            EventKind::NotificationDelivery,
            EventKind::GrantCreate,
            EventKind::GrantRevoke,
            EventKind::GrantExpire,
            EventKind::CertIssue,
            EventKind::PolicyReload,
        ] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().to_owned())
            );
        }
    }

    #[test]
    fn non_utc_times_are_written_in_utc() {
        let at = time::macros::datetime!(2025-01-31 05:17:02 +02:00);
        assert_eq!(rfc3339_ms::format(at).unwrap(), "2025-01-31T03:17:02.000Z");
    }
}
