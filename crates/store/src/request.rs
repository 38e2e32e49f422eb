//! What an access request is as stored: its id, its terms, where it is in its life, its
//! approvals, and the grant it produced; plus the break-glass review of a grant.
//!
//! States move `pending → approved → active → expired | revoked`, or
//! `pending → denied | cancelled`; terminal states never reopen and a set timestamp is never
//! cleared (the database enforces both). Durations are seconds, timestamps unix seconds (UTC).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::grant::{name_problem, text_problem};
use crate::{Grant, GrantId, GrantState, MAX_REASON_LEN, MAX_SELECTOR_LEN, StoreError};

/// Most groups stored for one requester or approver.
pub const MAX_GROUPS: usize = 256;
/// Longest route text, in bytes.
pub const MAX_ROUTE_LEN: usize = 2048;
/// Longest ticket reference, in bytes.
pub const MAX_TICKET_LEN: usize = 1024;
/// Longest approval comment, deny or cancel reason, or review comment, in bytes.
pub const MAX_COMMENT_LEN: usize = 4096;
/// Longest duration of a request, in seconds (one year; policies cap far below).
pub const MAX_DURATION_SECS: i64 = 366 * 24 * 3600;
/// Most approvals a request may require.
pub const MAX_APPROVALS_REQUIRED: u32 = 64;
/// Most items one list returns.
pub const MAX_LIST_LIMIT: u32 = 10_000;

pub use jitgate_ids::RequestId;

/// Where an access request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestState {
    /// Waiting for approvals.
    Pending,
    /// Approved; its grant is created in the same transaction.
    Approved,
    /// Its grant exists and is in force.
    Active,
    /// Its grant ran out.
    Expired,
    /// Its grant was revoked.
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

    /// The name stored in the database.
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

    /// The state named `text`, if any.
    pub fn from_name(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether nothing can happen to the request any more.
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

/// An access request to store. Identity fields come from authentication, the routing fields
/// from the policy; the broker fills both in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccessRequest {
    /// Who asks.
    pub requester: String,
    /// The requester's groups when asking.
    pub requester_groups: Vec<String>,
    /// The profile asked for.
    pub profile: String,
    /// The namespace asked for.
    pub namespace: String,
    /// The grant's pod-name glob, from the policy.
    pub pod_name_glob: Option<String>,
    /// The grant's pod label selector, from the policy.
    pub pod_label_selector: Option<String>,
    /// The duration asked for, in seconds; `None` when the requester named none.
    pub requested_duration: Option<i64>,
    /// How long the grant lasts once active, in seconds.
    pub duration: i64,
    /// Why.
    pub reason: String,
    /// A ticket or incident reference.
    pub ticket: Option<String>,
    /// Whether it is an emergency break-glass request.
    pub break_glass: bool,
    /// How it is approved, in words.
    pub route: String,
    /// Approvals needed (0 when approved at once).
    pub approvals_required: u32,
    /// Groups whose members may approve.
    pub approver_groups: Vec<String>,
    /// Whether each approval must come from a different approver group.
    pub distinct_groups: bool,
    /// `Some` to approve and activate it at once, in the same transaction that stores it
    /// (automatic approval, break glass).
    pub approve_now: Option<ApproveNow>,
}

/// Approving a request at submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproveNow {
    /// Who approved: `jitgate` for automatic approval, the requester for break glass. Also the
    /// grant's `created_by`.
    pub decided_by: String,
}

/// An approval to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApproval {
    /// Who approves (from authentication).
    pub approver: String,
    /// Their groups as authenticated now.
    pub approver_groups: Vec<String>,
    /// What they say.
    pub comment: Option<String>,
}

/// One recorded approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Who approved.
    pub approver: String,
    /// Their groups when approving.
    pub approver_groups: Vec<String>,
    /// What they said.
    pub comment: Option<String>,
    /// When.
    pub at: i64,
}

/// An access request as stored, with its approvals and what it knows of its grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequestRecord {
    /// The id.
    pub id: RequestId,
    /// Where it is in its life.
    pub state: RequestState,
    /// Who asked.
    pub requester: String,
    /// The requester's groups when asking.
    pub requester_groups: Vec<String>,
    /// The profile.
    pub profile: String,
    /// The namespace.
    pub namespace: String,
    /// The grant's pod-name glob.
    pub pod_name_glob: Option<String>,
    /// The grant's pod label selector.
    pub pod_label_selector: Option<String>,
    /// The duration asked for, in seconds.
    pub requested_duration: Option<i64>,
    /// How long the grant lasts once active, in seconds.
    pub duration: i64,
    /// Why.
    pub reason: String,
    /// Ticket or incident reference.
    pub ticket: Option<String>,
    /// Whether it was a break-glass request.
    pub break_glass: bool,
    /// How it is approved, in words.
    pub route: String,
    /// Approvals needed.
    pub approvals_required: u32,
    /// Groups whose members may approve.
    pub approver_groups: Vec<String>,
    /// Whether each approval must come from a different approver group.
    pub distinct_groups: bool,
    /// When it was submitted.
    pub created_at: i64,
    /// When it was approved, denied or cancelled.
    pub decided_at: Option<i64>,
    /// Who approved (the last approval), denied or cancelled it.
    pub decided_by: Option<String>,
    /// When its grant was created.
    pub activated_at: Option<i64>,
    /// When it reached a terminal state.
    pub ended_at: Option<i64>,
    /// Why it was denied.
    pub deny_reason: Option<String>,
    /// Why it was cancelled, if said.
    pub cancel_reason: Option<String>,
    /// The grant it produced.
    pub grant_id: Option<GrantId>,
    /// When that grant ends (or ended).
    pub grant_expires_at: Option<i64>,
    /// Whether its grant awaits its break-glass review.
    pub needs_review: bool,
    /// Approvals so far, oldest first.
    pub approvals: Vec<Approval>,
}

/// A request and, when the operation created one, its grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOutcome {
    /// The request after the operation.
    pub request: AccessRequestRecord,
    /// The grant created by this operation, if it created one.
    pub grant: Option<Grant>,
}

/// Decides, inside the approval's transaction, whether the request's approvals (the new one
/// included) are enough to approve it.
pub type ApprovalsComplete = dyn Fn(&AccessRequestRecord) -> bool + Send + Sync;

/// Which requests [`RequestStore::list_requests`](crate::RequestStore::list_requests) returns,
/// newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only this requester's.
    pub requester: Option<String>,
    /// Only those not made by this user.
    pub not_requester: Option<String>,
    /// Only these states; all when empty.
    pub states: Vec<RequestState>,
    /// Only those one of these groups may approve.
    pub approver_in: Option<Vec<String>>,
    /// At most this many (capped at [`MAX_LIST_LIMIT`]).
    pub limit: u32,
}

impl Default for RequestFilter {
    fn default() -> Self {
        Self {
            requester: None,
            not_requester: None,
            states: Vec::new(),
            approver_in: None,
            limit: 500,
        }
    }
}

/// The after-the-fact review of a break-glass grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantReview {
    /// Who reviewed it.
    pub by: String,
    /// When.
    pub at: i64,
    /// Their conclusion.
    pub comment: String,
}

/// A grant with what the broker knows about it: the request it came from and its review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// The grant.
    pub grant: Grant,
    /// The access request it came from; `None` for grants an administrator made directly.
    pub request: Option<RequestId>,
    /// Whether it came from a break-glass request.
    pub break_glass: bool,
    /// Whether it still awaits its review.
    pub needs_review: bool,
    /// Its review, once done.
    pub review: Option<GrantReview>,
}

/// Which grants [`RequestStore::list_grant_records`](crate::RequestStore::list_grant_records)
/// returns, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecordFilter {
    /// Only this user's.
    pub user: Option<String>,
    /// Only grants in these states at the store's "now"; all when empty.
    pub states: Vec<GrantState>,
    /// At most this many (capped at [`MAX_LIST_LIMIT`]).
    pub limit: u32,
}

impl Default for GrantRecordFilter {
    fn default() -> Self {
        Self {
            user: None,
            states: Vec::new(),
            limit: 500,
        }
    }
}

fn invalid(field: &'static str) -> impl FnOnce(String) -> StoreError {
    move |reason| StoreError::InvalidRequest { field, reason }
}

fn check_name(field: &'static str, value: &str) -> Result<(), StoreError> {
    name_problem(value).map_err(invalid(field))
}

fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    text_problem(value, max).map_err(invalid(field))
}

fn check_groups(field: &'static str, groups: &[String]) -> Result<(), StoreError> {
    if groups.len() > MAX_GROUPS {
        return Err(invalid(field)(format!(
            "lists {} groups; at most {MAX_GROUPS} are stored",
            groups.len()
        )));
    }
    groups.iter().try_for_each(|g| check_name(field, g))
}

/// Checks a decision's actor and text (deny reason, cancel reason, comment).
pub(crate) fn check_decision(
    by_field: &'static str,
    by: &str,
    text_field: &'static str,
    text: Option<&str>,
) -> Result<(), StoreError> {
    check_name(by_field, by)?;
    match text {
        Some(t) => check_text(text_field, t, MAX_COMMENT_LEN),
        None => Ok(()),
    }
}

impl NewAccessRequest {
    /// Checks every field against its limits.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        check_name("requester", &self.requester)?;
        check_groups("requester_groups", &self.requester_groups)?;
        check_name("profile", &self.profile)?;
        check_name("namespace", &self.namespace)?;
        if let Some(glob) = &self.pod_name_glob {
            check_text("pod_name_glob", glob, MAX_SELECTOR_LEN)?;
        }
        if let Some(selector) = &self.pod_label_selector {
            check_text("pod_label_selector", selector, MAX_SELECTOR_LEN)?;
        }
        let duration_ok = |d: i64| d > 0 && d <= MAX_DURATION_SECS;
        if self.requested_duration.is_some_and(|d| !duration_ok(d)) {
            return Err(invalid("requested_duration")(
                "must be between 1 second and a year".to_owned(),
            ));
        }
        if !duration_ok(self.duration) {
            return Err(invalid("duration")(
                "must be between 1 second and a year".to_owned(),
            ));
        }
        check_text("reason", &self.reason, MAX_REASON_LEN)?;
        if self.reason.trim().is_empty() {
            return Err(invalid("reason")("must not be blank".to_owned()));
        }
        if let Some(ticket) = &self.ticket {
            check_text("ticket", ticket, MAX_TICKET_LEN)?;
        }
        check_text("route", &self.route, MAX_ROUTE_LEN)?;
        if self.approvals_required > MAX_APPROVALS_REQUIRED {
            return Err(invalid("approvals_required")(format!(
                "is {}; at most {MAX_APPROVALS_REQUIRED}",
                self.approvals_required
            )));
        }
        check_groups("approver_groups", &self.approver_groups)?;
        match &self.approve_now {
            Some(now) => check_name("decided_by", &now.decided_by)?,
            None if self.approvals_required == 0 => {
                return Err(invalid("approvals_required")(
                    "is 0, but the request is not approved at submission; nobody could ever \
                     approve it"
                        .to_owned(),
                ));
            }
            None => {}
        }
        Ok(())
    }
}

impl NewApproval {
    /// Checks the approver, their groups and the comment.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        check_decision(
            "approver",
            &self.approver,
            "comment",
            self.comment.as_deref(),
        )?;
        check_groups("approver_groups", &self.approver_groups)
    }
}

/// Checks a review's reviewer and comment.
pub(crate) fn validate_review(by: &str, comment: &str) -> Result<(), StoreError> {
    check_decision("reviewed_by", by, "review_comment", Some(comment))?;
    if comment.trim().is_empty() {
        return Err(invalid("review_comment")("must not be blank".to_owned()));
    }
    Ok(())
}

// --- The database-independent half of each transition: what a new grant is, and why a
// conditional write changed nothing. Both stores run the same checks.

/// The grant an approved request becomes when activated at `now` by `decided_by`.
pub(crate) fn grant_for(
    request: &AccessRequestRecord,
    decided_by: &str,
    now: i64,
) -> Result<crate::NewGrant, StoreError> {
    let expires_at =
        now.checked_add(request.duration)
            .ok_or_else(|| StoreError::InvalidRequest {
                field: "duration",
                reason: "overflows the clock".to_owned(),
            })?;
    Ok(crate::NewGrant {
        user: request.requester.clone(),
        profile: request.profile.clone(),
        namespaces: vec![request.namespace.clone()],
        pod_name_glob: request.pod_name_glob.clone(),
        pod_label_selector: request.pod_label_selector.clone(),
        // Requests and grants share the reason limit (MAX_REASON_LEN).
        reason: request.reason.clone(),
        created_by: decided_by.to_owned(),
        expires_at,
    })
}

/// Why a conditional update of a request changed nothing.
pub(crate) fn not_pending(record: &AccessRequestRecord, action: &'static str) -> StoreError {
    StoreError::RequestNotPending {
        id: record.id.to_string(),
        state: record.state,
        action,
    }
}

/// Whether `approver` may add an approval to `record` as it is now (read under the lock that
/// the approval's transaction holds).
pub(crate) fn check_approvable(
    record: &AccessRequestRecord,
    approver: &str,
) -> Result<(), StoreError> {
    if record.state != RequestState::Pending {
        return Err(not_pending(record, "approved"));
    }
    if record.requester == approver {
        return Err(StoreError::SelfDecision {
            id: record.id.to_string(),
            user: approver.to_owned(),
            action: "approve",
        });
    }
    if record.approvals.iter().any(|a| a.approver == approver) {
        return Err(already_approved(record, approver));
    }
    Ok(())
}

pub(crate) fn already_approved(record: &AccessRequestRecord, approver: &str) -> StoreError {
    StoreError::AlreadyApproved {
        id: record.id.to_string(),
        user: approver.to_owned(),
    }
}

/// Why denying `record` (as it is after the attempt) by `by` changed nothing.
pub(crate) fn why_not_denied(record: &AccessRequestRecord, by: &str) -> StoreError {
    if record.state == RequestState::Pending && record.requester == by {
        return StoreError::SelfDecision {
            id: record.id.to_string(),
            user: by.to_owned(),
            action: "deny",
        };
    }
    not_pending(record, "denied")
}

/// Why cancelling `record` (as it is after the attempt) by `by` changed nothing.
pub(crate) fn why_not_cancelled(record: AccessRequestRecord, by: &str) -> StoreError {
    if record.requester != by {
        return StoreError::NotRequester {
            id: record.id.to_string(),
            requester: record.requester,
        };
    }
    not_pending(&record, "cancelled")
}

/// Why reviewing the grant of `record` (as it is after the attempt) by `by` changed nothing.
pub(crate) fn why_not_reviewed(record: GrantRecord, by: &str) -> StoreError {
    let id = record.grant.id.to_string();
    if let Some(review) = record.review {
        return StoreError::AlreadyReviewed {
            id,
            by: review.by,
            at: review.at,
        };
    }
    if record.needs_review && record.grant.user == by {
        return StoreError::SelfReview {
            id,
            user: by.to_owned(),
        };
    }
    StoreError::NotBreakGlass { id }
}

/// The deny reason must say something (the database stores it as the request's end).
pub(crate) fn check_deny_reason(reason: &str) -> Result<(), StoreError> {
    if reason.trim().is_empty() {
        return Err(StoreError::InvalidRequest {
            field: "deny_reason",
            reason: "must not be blank".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_know_which_are_terminal() {
        for state in RequestState::ALL {
            assert_eq!(RequestState::from_name(state.as_str()), Some(state));
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
        assert_eq!(RequestState::from_name("Active"), None);
    }
}
