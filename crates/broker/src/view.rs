//! Stored requests and grants as the API shows them (the wire types of `jitgate-api`).

use jitgate_api::{
    AccessRequest, ApprovalRecord, GoDuration, Grant, GrantState, RequestState, Timestamp,
};
use jitgate_store::{AccessRequestRecord, GrantRecord};

use crate::BrokerError;

/// Who decided an automatic approval, as the API and audit log name it.
pub const AUTO_APPROVER: &str = "jitgate";

pub(crate) fn api_state(state: jitgate_store::RequestState) -> RequestState {
    use jitgate_store::RequestState as S;
    match state {
        S::Pending => RequestState::Pending,
        S::Approved => RequestState::Approved,
        S::Active => RequestState::Active,
        S::Expired => RequestState::Expired,
        S::Revoked => RequestState::Revoked,
        S::Denied => RequestState::Denied,
        S::Cancelled => RequestState::Cancelled,
    }
}

pub(crate) fn store_state(state: RequestState) -> jitgate_store::RequestState {
    use jitgate_store::RequestState as S;
    match state {
        RequestState::Pending => S::Pending,
        RequestState::Approved => S::Approved,
        RequestState::Active => S::Active,
        RequestState::Expired => S::Expired,
        RequestState::Revoked => S::Revoked,
        RequestState::Denied => S::Denied,
        RequestState::Cancelled => S::Cancelled,
    }
}

pub(crate) fn store_grant_state(state: GrantState) -> jitgate_store::GrantState {
    match state {
        GrantState::Active => jitgate_store::GrantState::Active,
        GrantState::Expired => jitgate_store::GrantState::Expired,
        GrantState::Revoked => jitgate_store::GrantState::Revoked,
    }
}

fn seconds(secs: i64) -> GoDuration {
    GoDuration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// The API's view of a stored request.
pub(crate) fn request_view(r: &AccessRequestRecord) -> Result<AccessRequest, BrokerError> {
    Ok(AccessRequest {
        id: r.id.clone(),
        state: api_state(r.state),
        requester: r.requester.clone(),
        requester_groups: r.requester_groups.clone(),
        profile: r.profile.clone(),
        namespace: r.namespace.clone(),
        duration: seconds(r.duration),
        reason: r.reason.clone(),
        ticket: r.ticket.clone(),
        break_glass: r.break_glass,
        needs_review: r.needs_review,
        route: r.route.clone(),
        approvals_required: r.approvals_required,
        approver_groups: r.approver_groups.clone(),
        approvals: r
            .approvals
            .iter()
            .map(|a| ApprovalRecord {
                by: a.approver.clone(),
                at: Timestamp::from_unix(a.at),
                comment: a.comment.clone(),
            })
            .collect(),
        created_at: Timestamp::from_unix(r.created_at),
        decided_at: r.decided_at.map(Timestamp::from_unix),
        decided_by: r.decided_by.clone(),
        deny_reason: r.deny_reason.clone(),
        cancel_reason: r.cancel_reason.clone(),
        grant: r.grant_id.clone(),
        grant_expires_at: r.grant_expires_at.map(Timestamp::from_unix),
        ended_at: r.ended_at.map(Timestamp::from_unix),
    })
}

/// The API's view of a stored grant at `now`.
pub(crate) fn grant_view(record: &GrantRecord, now: i64) -> Result<Grant, BrokerError> {
    let g = &record.grant;
    let state = match g.state_at(now) {
        jitgate_store::GrantState::Active => GrantState::Active,
        jitgate_store::GrantState::Expired => GrantState::Expired,
        jitgate_store::GrantState::Revoked => GrantState::Revoked,
    };
    Ok(Grant {
        id: g.id.clone(),
        user: g.user.clone(),
        profile: g.profile.clone(),
        namespaces: g.namespaces.clone(),
        pod_name_glob: g.pod_name_glob.clone(),
        pod_label_selector: g.pod_label_selector.clone(),
        reason: g.reason.clone(),
        created_by: g.created_by.clone(),
        created_at: Timestamp::from_unix(g.created_at),
        expires_at: Timestamp::from_unix(g.expires_at),
        revoked_at: g.revoked_at.map(Timestamp::from_unix),
        revoked_by: g.revoked_by.clone(),
        revoke_reason: g.revoke_reason.clone(),
        state,
        request: record.request.clone(),
        break_glass: record.break_glass,
        needs_review: record.needs_review,
        reviewed_by: record.review.as_ref().map(|r| r.by.clone()),
        reviewed_at: record.review.as_ref().map(|r| Timestamp::from_unix(r.at)),
        review_comment: record.review.as_ref().map(|r| r.comment.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_maps_both_ways() {
        for state in jitgate_store::RequestState::ALL {
            assert_eq!(store_state(api_state(state)), state);
            assert_eq!(api_state(state).as_str(), state.as_str());
        }
    }
}
