//! What a grant is: its id, its terms, and whether it is in force at a given moment.

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Longest user, profile or `created_by` name, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Longest reason (grant or revocation), in bytes.
pub const MAX_REASON_LEN: usize = 4096;
/// Most namespaces one grant may name.
pub const MAX_NAMESPACES: usize = 64;
/// Longest pod name glob or label selector, in bytes.
pub const MAX_SELECTOR_LEN: usize = 1024;

pub use jitgate_ids::GrantId;

/// The terms of a grant to create. Identity fields come from authentication, never from a
/// request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewGrant {
    /// The user the grant is for.
    pub user: String,
    /// The policy profile it grants.
    pub profile: String,
    /// The namespaces it covers (at least one).
    pub namespaces: Vec<String>,
    /// Only pods whose name matches this glob, if set.
    pub pod_name_glob: Option<String>,
    /// Only pods matching this Kubernetes label selector, if set.
    pub pod_label_selector: Option<String>,
    /// Why access was needed (ticket, incident).
    pub reason: String,
    /// Who created it: the approver, or the user for auto-approval and break-glass.
    pub created_by: String,
    /// When it ends, unix seconds; must lie in the future.
    pub expires_at: i64,
}

/// A grant as stored. Timestamps are unix seconds (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The grant's id.
    pub id: GrantId,
    /// The user the grant is for.
    pub user: String,
    /// The policy profile it grants.
    pub profile: String,
    /// The namespaces it covers.
    pub namespaces: Vec<String>,
    /// Only pods whose name matches this glob, if set.
    pub pod_name_glob: Option<String>,
    /// Only pods matching this label selector, if set.
    pub pod_label_selector: Option<String>,
    /// Why access was needed.
    pub reason: String,
    /// Who created it.
    pub created_by: String,
    /// When it was created.
    pub created_at: i64,
    /// When it ends (or ended).
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Who revoked it.
    pub revoked_by: Option<String>,
    /// Why it was revoked.
    pub revoke_reason: Option<String>,
}

/// Whether a grant is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantState {
    /// In force.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked (whether or not it would have expired since).
    Revoked,
}

impl Grant {
    /// The grant's state at `now` (unix seconds). A grant is active for `created_at <= now <
    /// expires_at` unless revoked.
    pub fn state_at(&self, now: i64) -> GrantState {
        if self.revoked_at.is_some() {
            GrantState::Revoked
        } else if now >= self.expires_at {
            GrantState::Expired
        } else {
            GrantState::Active
        }
    }

    /// Whether the grant is in force at `now`.
    pub fn is_active_at(&self, now: i64) -> bool {
        self.state_at(now) == GrantState::Active
    }
}

/// Which grants [`GrantStore::list`](crate::GrantStore::list) returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    /// Only this user's grants.
    pub user: Option<String>,
    /// Only grants in force now.
    pub active_only: bool,
}

impl NewGrant {
    /// Checks every field against its limits; `now` is the creation time.
    pub(crate) fn validate(&self, now: i64) -> Result<(), StoreError> {
        name("user", &self.user)?;
        name("profile", &self.profile)?;
        name("created_by", &self.created_by)?;
        text("reason", &self.reason, MAX_REASON_LEN)?;
        if self.namespaces.is_empty() {
            return Err(invalid("namespaces", "must name at least one namespace"));
        }
        if self.namespaces.len() > MAX_NAMESPACES {
            return Err(invalid("namespaces", "may name at most 64 namespaces"));
        }
        for ns in &self.namespaces {
            name("namespaces", ns)?;
        }
        if let Some(glob) = &self.pod_name_glob {
            text("pod_name_glob", glob, MAX_SELECTOR_LEN)?;
        }
        if let Some(selector) = &self.pod_label_selector {
            text("pod_label_selector", selector, MAX_SELECTOR_LEN)?;
        }
        if self.expires_at <= now {
            return Err(invalid("expires_at", "must lie in the future"));
        }
        Ok(())
    }
}

/// Checks a revocation's actor and reason.
pub(crate) fn validate_revocation(by: &str, reason: &str) -> Result<(), StoreError> {
    name("revoked_by", by)?;
    text("revoke_reason", reason, MAX_REASON_LEN)
}

fn name(field: &'static str, value: &str) -> Result<(), StoreError> {
    name_problem(value).map_err(|reason| StoreError::InvalidGrant { field, reason })
}

fn text(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    text_problem(value, max).map_err(|reason| StoreError::InvalidGrant { field, reason })
}

/// What is wrong with a user, group, profile or namespace name, if anything.
pub(crate) fn name_problem(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if value.len() > MAX_NAME_LEN {
        return Err("is longer than 256 bytes".to_owned());
    }
    if value.chars().any(char::is_control) {
        return Err("contains control characters".to_owned());
    }
    Ok(())
}

/// What is wrong with free text of at most `max` bytes (newlines and tabs allowed), if anything.
pub(crate) fn text_problem(value: &str, max: usize) -> Result<(), String> {
    if value.len() > max {
        return Err(format!("is longer than {max} bytes"));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("contains control characters".to_owned());
    }
    Ok(())
}

fn invalid(field: &'static str, reason: &str) -> StoreError {
    StoreError::InvalidGrant {
        field,
        reason: reason.to_owned(),
    }
}

/// Why a conditional revocation of `id` changed nothing, given the grant as it is now. Terminal
/// states never reopen, so this reading is stable.
pub(crate) fn why_not_revoked(id: &GrantId, now: Option<Grant>) -> Result<Grant, StoreError> {
    match now {
        None => Err(StoreError::NotFound { id: id.to_string() }),
        Some(Grant {
            revoked_at: Some(at),
            revoked_by,
            ..
        }) => Err(StoreError::AlreadyRevoked {
            id: id.to_string(),
            at,
            by: revoked_by.unwrap_or_default(),
        }),
        Some(grant) => Err(StoreError::Expired {
            id: id.to_string(),
            at: grant.expires_at,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_time_and_revocation() {
        let mut g = Grant {
            id: GrantId::parse("g-00000001").unwrap(),
            user: "alice".into(),
            profile: "debug".into(),
            namespaces: vec!["payments".into()],
            pod_name_glob: None,
            pod_label_selector: None,
            reason: "INC-1".into(),
            created_by: "alice".into(),
            created_at: 100,
            expires_at: 200,
            revoked_at: None,
            revoked_by: None,
            revoke_reason: None,
        };
        assert_eq!(g.state_at(150), GrantState::Active);
        assert_eq!(g.state_at(199), GrantState::Active);
        assert_eq!(g.state_at(200), GrantState::Expired);
        g.revoked_at = Some(160);
        assert_eq!(g.state_at(150), GrantState::Revoked);
        assert!(!g.is_active_at(150));
    }
}
