//! Access requests: submit (routed by the policy: automatic, approvals, or break glass),
//! approve, deny, cancel, read, long-poll and list. Every transition is one store transaction,
//! then its audit lines (durable before the answer), then notifications and announcements.

use std::collections::BTreeMap;
use std::sync::Arc;

use jitgate_api::{
    AccessRequest, AccessRequestList, ApproveBody, CancelBody, CreateAccessRequest, DenyBody,
    RequestId, RequestQuery, RequestScope, WaitQuery,
};
use jitgate_audit::{Decision, EventKind as AuditKind};
use jitgate_notify::EventKind as NotifyKind;
use jitgate_policy::{ApprovalRoute, Approver, OnCallAnswer, Policy, Refusal, RequestAsk};
use jitgate_store::{
    AccessRequestRecord, ApproveNow, MAX_LIST_LIMIT, NewAccessRequest, NewApproval, RequestFilter,
    RequestState, StoreError,
};

use crate::audit::{Actor, refusal_event, request_event};
use crate::broker::{either, profile_approvers};
use crate::view::{AUTO_APPROVER, api_state, request_view, store_state};
use crate::{Broker, BrokerError, Caller};

/// What the caller wants to do to a request, for messages and audit lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decide {
    Approve,
    Deny,
}

impl Decide {
    fn verb(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Self::Approve => "approved",
            Self::Deny => "denied",
        }
    }
}

/// A policy refusal as the API answers it: a duration over (or under) the limit is 422,
/// anything else 403.
fn refused(refusal: &Refusal) -> BrokerError {
    match refusal {
        Refusal::DurationAboveMax { .. } | Refusal::DurationTooShort { .. } => {
            BrokerError::Invalid {
                message: refusal.to_string(),
            }
        }
        _ => BrokerError::forbidden(refusal.to_string()),
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// "needs 1 approval from sre-leads or payments-leads", with why it was not automatic.
pub(crate) fn needs_approvals_text(
    count: u32,
    groups: &[String],
    distinct: bool,
    why: &str,
) -> String {
    let mut text = format!(
        "needs {count} approval{} from {}",
        if count == 1 { "" } else { "s" },
        either(groups)
    );
    if distinct {
        text.push_str(", each from a different group");
    }
    if !why.is_empty() {
        text.push_str(": ");
        text.push_str(why);
    }
    text
}

/// `text` cut to at most `max` bytes at a character boundary, marked with `…` when cut (route
/// texts carry on-call errors, whose length jitgate does not control).
fn bounded(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

/// Whether the request's approvals are enough under the policy in force: every approver is
/// checked again (never the requester, in an approver group now and at request time), and the
/// count must satisfy both the policy now and the number required at request time.
pub(crate) fn approvals_complete(policy: &Policy, r: &AccessRequestRecord) -> bool {
    let counted: Vec<Approver> = r
        .approvals
        .iter()
        .filter(|a| {
            a.approver != r.requester
                && a.approver_groups
                    .iter()
                    .any(|g| r.approver_groups.contains(g))
                && policy
                    .may_approve(&r.profile, &a.approver, &a.approver_groups, &r.requester)
                    .is_ok()
        })
        .map(|a| Approver {
            user: a.approver.clone(),
            groups: a.approver_groups.clone(),
        })
        .collect();
    match policy.approvals_satisfied(&r.profile, &r.requester, &counted) {
        Ok(progress) => {
            progress.is_satisfied() && progress.have >= progress.need.max(r.approvals_required)
        }
        Err(_) => false,
    }
}

/// Whether a long-poll for `wait` ends with the request in `state`: in `waitFor` or a terminal
/// state, as the API says; and, since `approved` lasts only inside the transaction that makes
/// the request active, `active` ends a wait for `approved`.
fn wait_is_over(wait: &WaitQuery, state: RequestState) -> bool {
    wait.is_satisfied_by(api_state(state))
        || (wait.wait_for == jitgate_api::RequestState::Approved && state == RequestState::Active)
}

/// "r-… is denied, not pending: it can no longer be approved; the requester can ask again".
fn not_pending(r: &AccessRequestRecord, action: &'static str) -> BrokerError {
    let mut message = StoreError::RequestNotPending {
        id: r.id.to_string(),
        state: r.state,
        action,
    }
    .to_string();
    if action == "cancelled"
        && r.state == RequestState::Active
        && let Some(g) = &r.grant_id
    {
        message = format!(
            "{} is active, not pending: it can no longer be cancelled; end its access by \
             revoking grant {g} instead (kubectl jit revoke {g} --reason TEXT)",
            r.id
        );
    }
    BrokerError::Conflict {
        message,
        source: None,
    }
}

/// A refused action, for its audit line.
struct Attempt<'a> {
    kind: AuditKind,
    verb: &'a str,
    request: Option<&'a str>,
    namespace: Option<&'a str>,
    /// What was asked, appended to the refusal's message.
    context: String,
}

impl<'a> Attempt<'a> {
    /// An action on the request `id`.
    fn on(kind: AuditKind, verb: &'a str, id: &'a RequestId) -> Self {
        Self {
            kind,
            verb,
            request: Some(id.as_str()),
            namespace: None,
            context: String::new(),
        }
    }
}

impl Broker {
    /// Whether `caller` may read `r`: its requester, members of its approver groups (then or
    /// now), and those who may see everything.
    pub(crate) fn may_see_request(
        &self,
        policy: &Policy,
        caller: &Caller,
        r: &AccessRequestRecord,
    ) -> bool {
        r.requester == caller.user
            || caller.in_any(&r.approver_groups)
            || caller.in_any(&profile_approvers(policy, &r.profile))
            || self.may_see_all(policy, caller)
    }

    /// The request, if it exists and `caller` may see it; 404 otherwise (for others a request
    /// they may not see does not exist).
    async fn visible_request(
        &self,
        policy: &Policy,
        caller: &Caller,
        id: &RequestId,
    ) -> Result<AccessRequestRecord, BrokerError> {
        match self.store.get_request(id).await? {
            Some(r) if self.may_see_request(policy, caller, &r) => Ok(r),
            _ => Err(BrokerError::NotFound {
                message: format!(
                    "there is no access request {id} that {} may see; kubectl jit ls lists yours \
                     and those you may approve",
                    caller.user
                ),
                source: None,
            }),
        }
    }

    /// Audits a refused action, then hands the refusal back.
    async fn refuse(&self, err: BrokerError, caller: &Caller, attempt: Attempt<'_>) -> BrokerError {
        if err.is_refusal() {
            self.record_refusal(refusal_event(
                attempt.kind,
                attempt.verb,
                caller,
                attempt.request,
                attempt.namespace,
                err.http_status(),
                &format!("{err}{}", attempt.context),
            ))
            .await;
        }
        err
    }

    /// `POST /jitgate/v1/requests`: asks for access as `caller`.
    ///
    /// The policy routes it: automatic approval (the caller in an auto-approve group and, if
    /// the profile says so, on call now: an unknown on-call answer counts as not on call, and
    /// the route says why), approvals, or break glass (self-approved, capped, loudly notified,
    /// its grant marked for review). Approved requests are active in the answer.
    ///
    /// # Errors
    ///
    /// 400 for a malformed body, 403 for what the policy refuses (with its reason), 422 for a
    /// duration outside the profile's limits, 500/503 when the audit log or store fails.
    pub async fn submit(
        &self,
        caller: &Caller,
        body: CreateAccessRequest,
    ) -> Result<AccessRequest, BrokerError> {
        caller.check()?;
        body.validate()
            .map_err(|e| BrokerError::bad_request(e.to_string()))?;
        match self.submit_checked(caller, &body).await {
            Ok(r) => Ok(r),
            Err(e) => Err(self
                .refuse(
                    e,
                    caller,
                    Attempt {
                        kind: AuditKind::AccessRequest,
                        verb: "create",
                        request: None,
                        namespace: Some(&body.namespace),
                        context: format!(
                            " (asked for profile {} in {}{})",
                            body.profile,
                            body.namespace,
                            if body.break_glass {
                                ", break glass"
                            } else {
                                ""
                            }
                        ),
                    },
                )
                .await),
        }
    }

    async fn submit_checked(
        &self,
        caller: &Caller,
        body: &CreateAccessRequest,
    ) -> Result<AccessRequest, BrokerError> {
        let policy = self.policy.load_full();
        let now = self.clock.now();
        let on_call = self
            .on_call_for(&policy, caller, &body.profile, body.break_glass, now)
            .await;
        let labels = self
            .namespace_labels(&policy, &body.profile, &body.namespace)
            .await;
        let answer = |schedule: &str| match &on_call {
            Some((asked, answer)) if asked == schedule => answer.clone(),
            _ => OnCallAnswer::Unknown(format!("jitgate did not ask schedule {schedule}")),
        };
        let routed = policy
            .route(&RequestAsk {
                user: &caller.user,
                groups: &caller.groups,
                profile: &body.profile,
                namespace: &body.namespace,
                namespace_labels: labels.as_ref(),
                pod: None,
                duration: body.duration.map(jitgate_api::GoDuration::as_std),
                break_glass: body.break_glass,
                on_call: &answer,
            })
            .map_err(|r| refused(&r))?;
        let profile_groups = profile_approvers(&policy, &body.profile);
        let (route, approvals_required, approver_groups, distinct_groups, approve_now) =
            match &routed.route {
                ApprovalRoute::AutoApproved { why } => (
                    format!("auto-approved: {why}"),
                    0,
                    profile_groups,
                    false,
                    Some(ApproveNow {
                        decided_by: AUTO_APPROVER.to_owned(),
                    }),
                ),
                ApprovalRoute::NeedsApprovals {
                    count,
                    approver_groups,
                    distinct_groups,
                    why,
                } => (
                    needs_approvals_text(*count, approver_groups, *distinct_groups, why),
                    *count,
                    approver_groups.clone(),
                    *distinct_groups,
                    None,
                ),
                ApprovalRoute::BreakGlass { max } => (
                    format!(
                        "break-glass: self-approved by {} (at most {}); someone else must review \
                         it afterwards",
                        caller.user,
                        jitgate_policy::format_duration(*max)
                    ),
                    0,
                    profile_groups,
                    false,
                    Some(ApproveNow {
                        decided_by: caller.user.clone(),
                    }),
                ),
            };
        let outcome = self
            .store
            .submit_request(NewAccessRequest {
                requester: caller.user.clone(),
                requester_groups: caller.groups.clone(),
                profile: body.profile.clone(),
                namespace: body.namespace.clone(),
                pod_name_glob: routed.pod_name_glob.clone(),
                pod_label_selector: routed.pod_label_selector.as_ref().map(ToString::to_string),
                requested_duration: body.duration.map(|d| secs(d.as_std())),
                duration: secs(routed.duration),
                reason: body.reason.clone(),
                ticket: body.ticket.clone(),
                break_glass: body.break_glass,
                route: bounded(route, jitgate_store::MAX_ROUTE_LEN),
                approvals_required,
                approver_groups,
                distinct_groups,
                approve_now,
            })
            .await?;
        let r = &outcome.request;
        let mut events = vec![request_event(
            AuditKind::AccessRequest,
            "create",
            Actor::Caller(caller),
            r,
            Decision::Allow,
            &format!(
                "asked for {} in {} for {}{}: {}; route: {}",
                r.profile,
                r.namespace,
                jitgate_policy::format_duration(routed.duration),
                if r.break_glass { " (break glass)" } else { "" },
                r.reason,
                r.route
            ),
        )];
        if let Some(grant) = &outcome.grant {
            let approver = if r.break_glass {
                Actor::Caller(caller)
            } else {
                Actor::System
            };
            events.push(request_event(
                AuditKind::AccessApprove,
                "approve",
                approver,
                r,
                Decision::Allow,
                &r.route,
            ));
            events.push(request_event(
                AuditKind::AccessActivate,
                "activate",
                approver,
                r,
                Decision::Allow,
                &format!(
                    "grant {} in force until {}{}",
                    grant.id,
                    jitgate_api::Timestamp::from_unix(grant.expires_at),
                    if r.break_glass {
                        "; it needs review by someone else"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if let Err(e) = self.record(events).await {
            self.undo_unrecorded(&outcome, true).await;
            return Err(e);
        }
        let event = match (r.state, r.break_glass) {
            (RequestState::Pending, _) => NotifyKind::RequestPending,
            (_, true) => NotifyKind::BreakGlass,
            (_, false) => NotifyKind::RequestApproved,
        };
        self.notify(&policy, event, r, None);
        self.announce(outcome.grant.is_some());
        request_view(r)
    }

    /// The on-call answer the route needs, asked before routing (the policy decides without
    /// I/O): only for a caller in the profile's auto-approve groups, with `onlyWhileOnCall`.
    pub(crate) async fn on_call_for(
        &self,
        policy: &Policy,
        caller: &Caller,
        profile: &str,
        break_glass: bool,
        now: i64,
    ) -> Option<(String, OnCallAnswer)> {
        if break_glass {
            return None;
        }
        let auto = policy
            .profile(profile)?
            .approval
            .as_ref()?
            .auto_approve
            .as_ref()?;
        if !caller.in_any(&auto.groups) {
            return None;
        }
        let schedule = auto.only_while_on_call.as_ref()?;
        let answer = self
            .on_call
            .answer(policy, schedule, &caller.user, now)
            .await;
        if let OnCallAnswer::Unknown(why) = &answer {
            tracing::warn!(
                user = caller.user.as_str(),
                schedule = schedule.as_str(),
                "on-call status unknown, so no automatic approval: {why}"
            );
        }
        Some((schedule.clone(), answer))
    }

    /// The namespace's labels, when the profile has a namespace selector and the gateway can
    /// read them; `None` otherwise (which the policy refuses for such profiles).
    pub(crate) async fn namespace_labels(
        &self,
        policy: &Policy,
        profile: &str,
        namespace: &str,
    ) -> Option<BTreeMap<String, String>> {
        policy.profile(profile)?.scope.namespace_selector.as_ref()?;
        let source = self.config.namespace_labels.as_ref()?;
        match source.labels(namespace).await {
            Ok(labels) => labels,
            Err(e) => {
                tracing::warn!(namespace, "reading namespace labels failed: {e}");
                None
            }
        }
    }

    /// Checks that `caller` may approve or deny `r` now: not their own, still pending, and a
    /// member of its approver groups under both the request and the policy in force.
    fn check_decider(
        policy: &Policy,
        caller: &Caller,
        r: &AccessRequestRecord,
        decide: Decide,
    ) -> Result<(), BrokerError> {
        if r.requester == caller.user {
            return Err(BrokerError::forbidden(format!(
                "{} asked for {} and may not {} their own request; ask someone in {}",
                caller.user,
                r.id,
                decide.verb(),
                either(&r.approver_groups)
            )));
        }
        if r.state != RequestState::Pending {
            return Err(not_pending(r, decide.done()));
        }
        let allowed = caller.in_any(&r.approver_groups)
            && policy
                .may_approve(&r.profile, &caller.user, &caller.groups, &r.requester)
                .is_ok();
        if !allowed {
            return Err(BrokerError::forbidden(format!(
                "{} may not {} {}: only members of {} may; ask one of them",
                caller.user,
                decide.verb(),
                r.id,
                either(&r.approver_groups)
            )));
        }
        Ok(())
    }

    /// `POST /jitgate/v1/requests/{id}/approve`.
    ///
    /// The approver is checked again now (group membership, never the requester); the approval
    /// is recorded and, when it completes the required approvals, the request becomes approved
    /// and active with its grant, in one transaction: of concurrent approvals exactly one
    /// creates the grant.
    ///
    /// # Errors
    ///
    /// 404 unknown (or invisible) request, 403 own request or not an approver, 409 not pending
    /// or already approved by this caller.
    pub async fn approve(
        &self,
        caller: &Caller,
        id: &RequestId,
        body: ApproveBody,
    ) -> Result<AccessRequest, BrokerError> {
        caller.check()?;
        body.validate()
            .map_err(|e| BrokerError::bad_request(e.to_string()))?;
        match self.approve_checked(caller, id, body).await {
            Ok(r) => Ok(r),
            Err(e) => Err(self
                .refuse(
                    e,
                    caller,
                    Attempt::on(AuditKind::AccessApprove, "approve", id),
                )
                .await),
        }
    }

    async fn approve_checked(
        &self,
        caller: &Caller,
        id: &RequestId,
        body: ApproveBody,
    ) -> Result<AccessRequest, BrokerError> {
        let policy = self.policy.load_full();
        let r = self.visible_request(&policy, caller, id).await?;
        Self::check_decider(&policy, caller, &r, Decide::Approve)?;
        let in_force = Arc::clone(&policy);
        let complete = move |r: &AccessRequestRecord| approvals_complete(&in_force, r);
        let outcome = self
            .store
            .approve_request(
                id,
                NewApproval {
                    approver: caller.user.clone(),
                    approver_groups: caller.groups.clone(),
                    comment: body.comment.clone(),
                },
                &complete,
            )
            .await?;
        let r = &outcome.request;
        let comment = body
            .comment
            .as_deref()
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        let mut events = vec![request_event(
            AuditKind::AccessApprove,
            "approve",
            Actor::Caller(caller),
            r,
            Decision::Allow,
            &format!(
                "approval {} of {}{comment}",
                r.approvals.len(),
                r.approvals_required
            ),
        )];
        if let Some(grant) = &outcome.grant {
            events.push(request_event(
                AuditKind::AccessActivate,
                "activate",
                Actor::Caller(caller),
                r,
                Decision::Allow,
                &format!(
                    "grant {} in force until {}",
                    grant.id,
                    jitgate_api::Timestamp::from_unix(grant.expires_at)
                ),
            ));
        }
        if let Err(e) = self.record(events).await {
            self.undo_unrecorded(&outcome, false).await;
            return Err(e);
        }
        if outcome.grant.is_some() {
            self.notify(&policy, NotifyKind::RequestApproved, r, Some(caller));
        }
        self.announce(outcome.grant.is_some());
        request_view(r)
    }

    /// `POST /jitgate/v1/requests/{id}/deny`: the same rules on who as approving.
    ///
    /// # Errors
    ///
    /// 400 blank reason, 404, 403 own request or not an approver, 409 not pending.
    pub async fn deny(
        &self,
        caller: &Caller,
        id: &RequestId,
        body: DenyBody,
    ) -> Result<AccessRequest, BrokerError> {
        caller.check()?;
        body.validate()
            .map_err(|e| BrokerError::bad_request(e.to_string()))?;
        let result = async {
            let policy = self.policy.load_full();
            let r = self.visible_request(&policy, caller, id).await?;
            Self::check_decider(&policy, caller, &r, Decide::Deny)?;
            let r = self
                .store
                .deny_request(id, &caller.user, &body.reason)
                .await?;
            self.record(vec![request_event(
                AuditKind::AccessDeny,
                "deny",
                Actor::Caller(caller),
                &r,
                Decision::Allow,
                &format!("denied: {}", body.reason),
            )])
            .await?;
            self.notify(&policy, NotifyKind::RequestDenied, &r, Some(caller));
            self.announce(false);
            request_view(&r)
        }
        .await;
        match result {
            Ok(r) => Ok(r),
            Err(e) => Err(self
                .refuse(e, caller, Attempt::on(AuditKind::AccessDeny, "deny", id))
                .await),
        }
    }

    /// `POST /jitgate/v1/requests/{id}/cancel`: the requester withdraws a pending request.
    ///
    /// # Errors
    ///
    /// 404, 403 not the requester, 409 not pending (revoke the grant of an active one).
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: &RequestId,
        body: CancelBody,
    ) -> Result<AccessRequest, BrokerError> {
        caller.check()?;
        body.validate()
            .map_err(|e| BrokerError::bad_request(e.to_string()))?;
        let result = async {
            let policy = self.policy.load_full();
            let r = self.visible_request(&policy, caller, id).await?;
            if r.requester != caller.user {
                return Err(BrokerError::forbidden(format!(
                    "only {}, who asked for {}, may cancel it; deny it instead if you are an \
                     approver",
                    r.requester, r.id
                )));
            }
            if r.state != RequestState::Pending {
                return Err(not_pending(&r, "cancelled"));
            }
            let r = self
                .store
                .cancel_request(id, &caller.user, body.reason.as_deref())
                .await?;
            let why = body
                .reason
                .as_deref()
                .map(|c| format!("cancelled: {c}"))
                .unwrap_or_else(|| "cancelled".to_owned());
            self.record(vec![request_event(
                AuditKind::AccessCancel,
                "cancel",
                Actor::Caller(caller),
                &r,
                Decision::Allow,
                &why,
            )])
            .await?;
            self.announce(false);
            request_view(&r)
        }
        .await;
        match result {
            Ok(r) => Ok(r),
            Err(e) => Err(self
                .refuse(
                    e,
                    caller,
                    Attempt::on(AuditKind::AccessCancel, "cancel", id),
                )
                .await),
        }
    }

    /// `GET /jitgate/v1/requests/{id}`.
    ///
    /// # Errors
    ///
    /// 404 when it does not exist or `caller` may not see it.
    pub async fn get_request(
        &self,
        caller: &Caller,
        id: &RequestId,
    ) -> Result<AccessRequest, BrokerError> {
        caller.check()?;
        let policy = self.policy.load_full();
        request_view(&self.visible_request(&policy, caller, id).await?)
    }

    /// `GET /jitgate/v1/requests/{id}?waitFor=…&timeout=…`: answers when the request is in
    /// `waitFor` or a terminal state, or when the (capped) timeout has passed, with the request
    /// as it then is (`approved` lasts only inside the transaction that activates a request, so
    /// `active` ends a wait for it). Woken by every transition through this broker at once, and
    /// by other processes' transitions within `store_poll`.
    ///
    /// # Errors
    ///
    /// 404 as for [`Broker::get_request`].
    pub async fn wait_for_request(
        &self,
        caller: &Caller,
        id: &RequestId,
        wait: WaitQuery,
    ) -> Result<AccessRequest, BrokerError> {
        caller.check()?;
        let deadline = tokio::time::Instant::now() + wait.effective_timeout();
        // Subscribe before the first read, so no transition slips between the two.
        let mut changes = self.request_changes();
        let policy = self.policy.load_full();
        let mut r = self.visible_request(&policy, caller, id).await?;
        while !wait_is_over(&wait, r.state) {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                () = tokio::time::sleep_until(deadline) => break,
            }
            match self.store.get_request(id).await? {
                Some(now) => r = now,
                None => break,
            }
        }
        request_view(&r)
    }

    /// `GET /jitgate/v1/requests?scope=…&state=…&limit=…`, newest first.
    ///
    /// `mine`: the caller's. `approvable`: pending requests of others the caller may approve
    /// now and has not approved yet. `all`: everyone's, for approvers, auditors and admins.
    ///
    /// # Errors
    ///
    /// 403 for `scope=all` by anyone else.
    pub async fn list_requests(
        &self,
        caller: &Caller,
        query: &RequestQuery,
    ) -> Result<AccessRequestList, BrokerError> {
        caller.check()?;
        let policy = self.policy.load_full();
        let limit = query.effective_limit();
        let states: Vec<RequestState> = query.states.iter().map(|s| store_state(*s)).collect();
        let records = match query.scope {
            RequestScope::Mine => {
                self.store
                    .list_requests(&RequestFilter {
                        requester: Some(caller.user.clone()),
                        states,
                        limit,
                        ..RequestFilter::default()
                    })
                    .await?
            }
            RequestScope::Approvable => {
                if !states.is_empty() && !states.contains(&RequestState::Pending) {
                    Vec::new()
                } else {
                    let mut pending = self
                        .store
                        .list_requests(&RequestFilter {
                            not_requester: Some(caller.user.clone()),
                            states: vec![RequestState::Pending],
                            approver_in: Some(caller.groups.clone()),
                            limit: MAX_LIST_LIMIT,
                            ..RequestFilter::default()
                        })
                        .await?;
                    pending.retain(|r| {
                        Self::check_decider(&policy, caller, r, Decide::Approve).is_ok()
                            && !r.approvals.iter().any(|a| a.approver == caller.user)
                    });
                    pending.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                    pending
                }
            }
            RequestScope::All => {
                self.check_may_list_all(
                    &policy,
                    caller,
                    "requests",
                    "scope=mine or scope=approvable",
                )?;
                self.store
                    .list_requests(&RequestFilter {
                        states,
                        limit,
                        ..RequestFilter::default()
                    })
                    .await?
            }
        };
        Ok(AccessRequestList {
            items: records.iter().map(request_view).collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_texts() {
        let groups = vec!["sre-leads".to_owned(), "payments-leads".to_owned()];
        let cases = [
            (
                "one",
                needs_approvals_text(1, &groups, false, ""),
                "needs 1 approval from sre-leads or payments-leads",
            ),
            (
                "two distinct",
                needs_approvals_text(2, &groups, true, ""),
                "needs 2 approvals from sre-leads or payments-leads, each from a different group",
            ),
            (
                "with why",
                needs_approvals_text(
                    1,
                    &groups[..1],
                    false,
                    "alice is in oncall-payments but not on call for payments-primary",
                ),
                "needs 1 approval from sre-leads: alice is in oncall-payments but not on call for payments-primary",
            ),
        ];
        for (name, got, want) in cases {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn waits_end_in_the_state_asked_for_or_a_terminal_one() {
        use jitgate_api::RequestState as Wire;
        let cases = [
            (Wire::Active, RequestState::Pending, false),
            (Wire::Active, RequestState::Active, true),
            (Wire::Active, RequestState::Denied, true),
            (Wire::Active, RequestState::Expired, true),
            (Wire::Approved, RequestState::Active, true),
            (Wire::Approved, RequestState::Pending, false),
            (Wire::Revoked, RequestState::Active, false),
        ];
        for (wait_for, state, over) in cases {
            let wait = WaitQuery::for_state(wait_for);
            assert_eq!(wait_is_over(&wait, state), over, "{wait_for} / {state}");
        }
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        assert_eq!(bounded("short".into(), 10), "short");
        let cut = bounded("ééééé".into(), 7);
        assert!(cut.len() <= 7, "{cut}");
        assert_eq!(cut, "éé…");
    }

    #[test]
    fn durations_over_the_limit_are_invalid_and_other_refusals_forbidden() {
        let long = refused(&Refusal::DurationAboveMax {
            requested: std::time::Duration::from_secs(7200),
            max: std::time::Duration::from_secs(3600),
            break_glass: true,
        });
        assert_eq!(long.http_status(), 422);
        assert!(
            long.to_string().contains("break-glass maximum of 1h"),
            "{long}"
        );
        let outside = refused(&Refusal::NamespaceOutsideScope {
            namespace: "kube-system".into(),
            profile: "oncall-debug".into(),
            allowed: vec!["payments".into()],
        });
        assert_eq!(outside.http_status(), 403);
    }

    fn record(approvals: &[(&str, &[&str])], required: u32) -> AccessRequestRecord {
        AccessRequestRecord {
            id: RequestId::parse("r-00000001").unwrap(),
            state: RequestState::Pending,
            requester: "bob".into(),
            requester_groups: vec!["payments-dev".into()],
            profile: "oncall-debug".into(),
            namespace: "payments".into(),
            pod_name_glob: None,
            pod_label_selector: None,
            requested_duration: None,
            duration: 1800,
            reason: "r".into(),
            ticket: None,
            break_glass: false,
            route: String::new(),
            approvals_required: required,
            approver_groups: vec!["sre-leads".into(), "payments-leads".into()],
            distinct_groups: false,
            created_at: 0,
            decided_at: None,
            decided_by: None,
            activated_at: None,
            ended_at: None,
            deny_reason: None,
            cancel_reason: None,
            grant_id: None,
            grant_expires_at: None,
            needs_review: false,
            approvals: approvals
                .iter()
                .map(|(user, groups)| jitgate_store::Approval {
                    approver: (*user).into(),
                    approver_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                    comment: None,
                    at: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn approvals_are_counted_again_under_the_policy_in_force() {
        let policy = Policy::embedded_default();
        let cases: Vec<(&str, AccessRequestRecord, bool)> = vec![
            ("none", record(&[], 1), false),
            (
                "one lead",
                record(&[("carol", &["payments-leads"])], 1),
                true,
            ),
            (
                "not an approver group",
                record(&[("mallory", &["payments-dev"])], 1),
                false,
            ),
            (
                "the requester never counts",
                record(&[("bob", &["payments-leads"])], 1),
                false,
            ),
            (
                "one of two required at request time",
                record(&[("carol", &["payments-leads"])], 2),
                false,
            ),
            (
                "two of two",
                record(
                    &[("carol", &["payments-leads"]), ("erin", &["sre-leads"])],
                    2,
                ),
                true,
            ),
        ];
        for (name, r, want) in cases {
            assert_eq!(approvals_complete(&policy, &r), want, "{name}");
        }
    }
}
