//! Access requests: `POST /jitgate/v1/requests`, listing, long-polling, and the approve, deny
//! and cancel actions.
//!
//! States: `pending → approved → active → expired | revoked`, or `pending → denied | cancelled`.
//! Terminal states never reopen; timestamps are never cleared.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::text::{Lines, check_dns_label, check_text};
use crate::limits::{
    MAX_COMMENT_CHARS, MAX_NAMESPACE_CHARS, MAX_PROFILE_NAME_CHARS, MAX_REASON_CHARS,
    MAX_TICKET_CHARS,
};
use crate::{ApiError, GoDuration, GrantId, RequestId, Timestamp};

/// Where an access request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    /// Waiting for approvals.
    Pending,
    /// Approved; the grant is being created.
    Approved,
    /// The grant exists and is in force.
    Active,
    /// The grant ran out.
    Expired,
    /// The grant was revoked before it ran out.
    Revoked,
    /// An approver said no.
    Denied,
    /// The requester withdrew it.
    Cancelled,
}

impl RequestState {
    /// Every state, in life order.
    pub const ALL: [Self; 7] = [
        Self::Pending,
        Self::Approved,
        Self::Active,
        Self::Expired,
        Self::Revoked,
        Self::Denied,
        Self::Cancelled,
    ];

    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
        }
    }

    /// Whether nothing can happen to the request any more.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Expired | Self::Revoked | Self::Denied | Self::Cancelled
        )
    }
}

impl fmt::Display for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestState {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| ApiError::InvalidField {
                field: "state",
                reason: format!(
                    "{:?} is not a request state; use one of {}",
                    s.chars().take(32).collect::<String>(),
                    Self::ALL.map(Self::as_str).join(", ")
                ),
            })
    }
}

/// `POST /jitgate/v1/requests`: what the requester asks for. Who asks comes from
/// authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateAccessRequest {
    /// The profile, e.g. `debug`.
    pub profile: String,
    /// The namespace, e.g. `payments`.
    pub namespace: String,
    /// How long; the profile's default when absent, capped by its maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<GoDuration>,
    /// Why, for the approvers and the audit log.
    pub reason: String,
    /// A ticket or incident reference, e.g. `INC-4211`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// An emergency: self-approved, short, loudly notified, and reviewed afterwards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub break_glass: bool,
}

impl CreateAccessRequest {
    /// Checks every field against [`crate::limits`].
    pub fn validate(&self) -> Result<(), ApiError> {
        check_dns_label("profile", &self.profile, MAX_PROFILE_NAME_CHARS)?;
        check_dns_label("namespace", &self.namespace, MAX_NAMESPACE_CHARS)?;
        check_text("reason", &self.reason, MAX_REASON_CHARS, true, Lines::Multi)?;
        if let Some(ticket) = &self.ticket {
            check_text("ticket", ticket, MAX_TICKET_CHARS, true, Lines::Single)?;
        }
        if self.duration.is_some_and(GoDuration::is_zero) {
            return Err(ApiError::InvalidField {
                field: "duration",
                reason: "it is zero; leave it out for the profile's default".to_owned(),
            });
        }
        Ok(())
    }
}

/// One approval of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRecord {
    /// The approver's user name.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// What they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// An access request as the server keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequest {
    /// `r-` and 8 hex digits.
    pub id: RequestId,
    /// Where it is in its life.
    pub state: RequestState,
    /// Who asked (from authentication).
    pub requester: String,
    /// The requester's groups when they asked.
    #[serde(default)]
    pub requester_groups: Vec<String>,
    /// The profile.
    pub profile: String,
    /// The namespace.
    pub namespace: String,
    /// How long the grant lasts once active.
    pub duration: GoDuration,
    /// Why.
    pub reason: String,
    /// Ticket or incident reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// Whether it was a break-glass request.
    #[serde(default)]
    pub break_glass: bool,
    /// Whether someone must review it afterwards (break-glass) and nobody has yet.
    #[serde(default)]
    pub needs_review: bool,
    /// How it is or was approved, in words: `auto-approved: alice is on call
    /// (payments-primary)`, `needs 1 approval from sre-leads or payments-leads`.
    pub route: String,
    /// Approvals needed in all; 0 when auto-approved.
    #[serde(default)]
    pub approvals_required: u32,
    /// Groups whose members may approve.
    #[serde(default)]
    pub approver_groups: Vec<String>,
    /// Approvals so far.
    #[serde(default)]
    pub approvals: Vec<ApprovalRecord>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was approved, denied or cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    /// Who approved (the last approval), denied or cancelled it; `jitgate` for automatic
    /// approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Why it was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_reason: Option<String>,
    /// Why it was cancelled, if the requester said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<String>,
    /// The grant it produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantId>,
    /// When that grant ends (or ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_expires_at: Option<Timestamp>,
    /// When it reached a terminal state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
}

/// `GET /jitgate/v1/requests`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequestList {
    /// Newest first.
    #[serde(default)]
    pub items: Vec<AccessRequest>,
}

/// `POST /jitgate/v1/requests/{id}/approve`. An empty body means `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApproveBody {
    /// What the approver says, for the requester and the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl ApproveBody {
    /// Checks the comment's length and characters.
    pub fn validate(&self) -> Result<(), ApiError> {
        match &self.comment {
            Some(c) => check_text("comment", c, MAX_COMMENT_CHARS, false, Lines::Multi),
            None => Ok(()),
        }
    }
}

/// `POST /jitgate/v1/requests/{id}/deny`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DenyBody {
    /// Why not; required.
    pub reason: String,
}

impl DenyBody {
    /// Checks that a reason is given and within limits.
    pub fn validate(&self) -> Result<(), ApiError> {
        check_text("reason", &self.reason, MAX_REASON_CHARS, true, Lines::Multi)
    }
}

/// `POST /jitgate/v1/requests/{id}/cancel`. An empty body means `{}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelBody {
    /// Why, optionally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl CancelBody {
    /// Checks the reason's length and characters.
    pub fn validate(&self) -> Result<(), ApiError> {
        match &self.reason {
            Some(r) => check_text("reason", r, MAX_REASON_CHARS, false, Lines::Multi),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: &str) -> Result<CreateAccessRequest, String> {
        let body: CreateAccessRequest = serde_json::from_str(json).map_err(|e| e.to_string())?;
        body.validate().map_err(|e| e.to_string())?;
        Ok(body)
    }

    #[test]
    fn create_bodies() {
        let ok = create(r#"{"profile":"debug","namespace":"payments","reason":"INC-4211","ticket":"INC-4211","breakGlass":true,"duration":"30m"}"#).unwrap();
        assert!(ok.break_glass);
        assert_eq!(ok.duration, Some(GoDuration::from_secs(1800)));
        let cases: &[(&str, &str, &str)] = &[
            (
                "unknown field",
                r#"{"profile":"debug","namespace":"payments","reason":"x","user":"bob"}"#,
                "unknown field `user`",
            ),
            (
                "snake case",
                r#"{"profile":"debug","namespace":"payments","reason":"x","break_glass":true}"#,
                "unknown field `break_glass`",
            ),
            (
                "no reason",
                r#"{"profile":"debug","namespace":"payments"}"#,
                "missing field `reason`",
            ),
            (
                "blank reason",
                r#"{"profile":"debug","namespace":"payments","reason":"  "}"#,
                "reason: it is required",
            ),
            (
                "bad namespace",
                r#"{"profile":"debug","namespace":"Pay_ments","reason":"x"}"#,
                "namespace:",
            ),
            (
                "bad duration",
                r#"{"profile":"debug","namespace":"payments","reason":"x","duration":"30"}"#,
                "30 has no unit",
            ),
            (
                "zero duration",
                r#"{"profile":"debug","namespace":"payments","reason":"x","duration":"0s"}"#,
                "duration: it is zero",
            ),
            (
                "ticket with newline",
                r#"{"profile":"debug","namespace":"payments","reason":"x","ticket":"a\nb"}"#,
                "ticket:",
            ),
        ];
        for (name, json, want) in cases {
            let err = create(json).unwrap_err();
            assert!(err.contains(want), "{name}: {err}");
        }
    }

    #[test]
    fn optional_fields_are_left_out() {
        let body = CreateAccessRequest {
            profile: "debug".into(),
            namespace: "payments".into(),
            duration: None,
            reason: "INC-1".into(),
            ticket: None,
            break_glass: false,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"profile":"debug","namespace":"payments","reason":"INC-1"}"#
        );
    }

    #[test]
    fn states() {
        for state in RequestState::ALL {
            assert_eq!(state.as_str().parse::<RequestState>().unwrap(), state);
            assert_eq!(
                serde_json::to_string(&state).unwrap(),
                format!("\"{state}\"")
            );
        }
        let terminal: Vec<_> = RequestState::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                RequestState::Expired,
                RequestState::Revoked,
                RequestState::Denied,
                RequestState::Cancelled
            ]
        );
        assert!("Active".parse::<RequestState>().is_err());
    }

    #[test]
    fn action_bodies() {
        assert!(
            serde_json::from_str::<ApproveBody>("{}")
                .unwrap()
                .validate()
                .is_ok()
        );
        assert!(serde_json::from_str::<DenyBody>("{}").is_err());
        assert!(
            serde_json::from_str::<DenyBody>(r#"{"reason":""}"#)
                .unwrap()
                .validate()
                .is_err()
        );
        assert!(serde_json::from_str::<CancelBody>(r#"{"reason":"done","x":1}"#).is_err());
        let long = ApproveBody {
            comment: Some("x".repeat(MAX_COMMENT_CHARS + 1)),
        };
        assert!(long.validate().is_err());
    }
}
