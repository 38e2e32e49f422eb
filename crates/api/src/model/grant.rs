//! Grants: `GET /jitgate/v1/grants`, and the revoke and review actions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::text::{Lines, check_text};
use crate::limits::{MAX_COMMENT_CHARS, MAX_REASON_CHARS};
use crate::{ApiError, GrantId, RequestId, Timestamp};

/// Whether a grant is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantState {
    /// In force until `expiresAt`.
    Active,
    /// Ran out.
    Expired,
    /// Revoked before it ran out; its sessions were cut.
    Revoked,
}

impl GrantState {
    /// Every state.
    pub const ALL: [Self; 3] = [Self::Active, Self::Expired, Self::Revoked];

    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

impl fmt::Display for GrantState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantState {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| ApiError::InvalidField {
                field: "state",
                reason: format!(
                    "{:?} is not a grant state; use one of active, expired, revoked",
                    s.chars().take(32).collect::<String>()
                ),
            })
    }
}

/// Permission for one user to use one profile in some namespaces until `expiresAt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// `g-` and 8 hex digits; also in the Kubernetes audit log as `jitgate.dev/grant`.
    pub id: GrantId,
    /// The user it is for.
    pub user: String,
    /// The profile.
    pub profile: String,
    /// The namespaces, exactly.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Only pods whose name matches this glob (`*`, `?`), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name_glob: Option<String>,
    /// Only pods matching this label selector (`app=api,tier!=db`), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_label_selector: Option<String>,
    /// Why it exists (the request's reason, or the administrator's).
    #[serde(default)]
    pub reason: String,
    /// Who created it: the last approver, `jitgate` for automatic approval, or an
    /// administrator.
    pub created_by: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it ends.
    pub expires_at: Timestamp,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
    /// Who revoked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    /// Why it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_reason: Option<String>,
    /// Whether it is in force.
    pub state: GrantState,
    /// The access request it came from; absent for grants an administrator made directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestId>,
    /// Whether it came from a break-glass request.
    #[serde(default)]
    pub break_glass: bool,
    /// Whether it still awaits its after-the-fact review (break-glass).
    #[serde(default)]
    pub needs_review: bool,
    /// Who reviewed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_by: Option<String>,
    /// When it was reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reviewed_at: Option<Timestamp>,
    /// What the reviewer said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_comment: Option<String>,
}

/// `GET /jitgate/v1/grants`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantList {
    /// Newest first.
    #[serde(default)]
    pub items: Vec<Grant>,
}

/// `POST /jitgate/v1/grants/{id}/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RevokeBody {
    /// Why; required, shown to the user whose sessions are cut.
    pub reason: String,
}

impl RevokeBody {
    /// Checks that a reason is given and within limits.
    pub fn validate(&self) -> Result<(), ApiError> {
        check_text("reason", &self.reason, MAX_REASON_CHARS, true, Lines::Multi)
    }
}

/// `POST /jitgate/v1/grants/{id}/review`: the after-the-fact review of a break-glass grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviewBody {
    /// The reviewer's conclusion; required.
    pub comment: String,
}

impl ReviewBody {
    /// Checks that a comment is given and within limits.
    pub fn validate(&self) -> Result<(), ApiError> {
        check_text(
            "comment",
            &self.comment,
            MAX_COMMENT_CHARS,
            true,
            Lines::Multi,
        )
    }
}
