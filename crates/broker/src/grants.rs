//! Grants: revoke (its request ends too), the after-the-fact review of break-glass grants,
//! listing, and who the caller is with their grants in force.

use jitgate_api::{
    AuthMethod, Grant, GrantId, GrantList, GrantQuery, GrantScope, ReviewBody, RevokeBody,
    Timestamp, WhoAmI,
};
use jitgate_audit::{Decision, EventKind as AuditKind};
use jitgate_notify::EventKind as NotifyKind;
use jitgate_policy::{Policy, StandingAccess};
use jitgate_store::{GrantRecord, GrantRecordFilter, GrantState};

use crate::audit::{Actor, grant_event, refusal_event};
use crate::broker::{either, profile_approvers};
use crate::view::{grant_view, store_grant_state};
use crate::{Broker, BrokerError, Caller, CallerMethod};

impl Broker {
    /// Whether `caller` may read grant `g`: its user, approvers of its profile, and those who
    /// may see everything.
    fn may_see_grant(&self, policy: &Policy, caller: &Caller, g: &GrantRecord) -> bool {
        g.grant.user == caller.user
            || caller.in_any(&profile_approvers(policy, &g.grant.profile))
            || self.may_see_all(policy, caller)
    }

    /// The grant, if it exists and `caller` may see it; 404 otherwise.
    async fn visible_grant(
        &self,
        policy: &Policy,
        caller: &Caller,
        id: &GrantId,
    ) -> Result<GrantRecord, BrokerError> {
        match self.store.grant_record(id).await? {
            Some(g) if self.may_see_grant(policy, caller, &g) => Ok(g),
            _ => Err(BrokerError::NotFound {
                message: format!(
                    "there is no grant {id} that {} may see; kubectl jit grants lists yours",
                    caller.user
                ),
                source: None,
            }),
        }
    }

    /// Audits a refused action on a grant (under its request, when the grant exists), then
    /// hands the refusal back.
    async fn refuse_on_grant(
        &self,
        err: BrokerError,
        caller: &Caller,
        verb: &str,
        kind: AuditKind,
        id: &GrantId,
    ) -> BrokerError {
        if !err.is_refusal() {
            return err;
        }
        let found = self.store.grant_record(id).await.ok().flatten();
        let mut event = match &found {
            Some(record) => grant_event(
                kind,
                verb,
                Actor::Caller(caller),
                record,
                Decision::Deny,
                &err.to_string(),
            ),
            None => refusal_event(
                kind,
                verb,
                caller,
                None,
                None,
                err.http_status(),
                &err.to_string(),
            ),
        };
        event.grant = Some(id.to_string());
        event.status = Some(err.http_status());
        self.record_refusal(event).await;
        err
    }

    /// `POST /jitgate/v1/grants/{id}/revoke`: ends a grant now; its request becomes revoked in
    /// the same transaction, and the gateway hears of it at once through
    /// [`Broker::grant_changes`].
    ///
    /// The grant's user may revoke their own; approvers of its profile and admins any.
    ///
    /// # Errors
    ///
    /// 400 blank reason, 404, 403 not allowed, 409 already revoked or expired.
    pub async fn revoke_grant(
        &self,
        caller: &Caller,
        id: &GrantId,
        body: RevokeBody,
    ) -> Result<Grant, BrokerError> {
        caller.check()?;
        body.validate()
            .map_err(|e| BrokerError::bad_request(e.to_string()))?;
        let result = async {
            let policy = self.policy.load_full();
            let record = self.visible_grant(&policy, caller, id).await?;
            let g = &record.grant;
            let approvers = profile_approvers(&policy, &g.profile);
            let allowed =
                g.user == caller.user || caller.in_any(&approvers) || self.is_admin(caller);
            if !allowed {
                return Err(BrokerError::forbidden(format!(
                    "{} may not revoke {id}: only {}, the approvers of profile {} ({}) and \
                     admins may; ask one of them",
                    caller.user,
                    g.user,
                    g.profile,
                    either(&approvers)
                )));
            }
            self.store.revoke(&g.id, &caller.user, &body.reason).await?;
            let record = self
                .store
                .grant_record(&g.id)
                .await?
                .ok_or_else(|| BrokerError::internal(format!("grant {id} vanished")))?;
            let request = match &record.request {
                Some(r) => self.store.get_request(r).await?,
                None => None,
            };
            let recorded = self
                .record(vec![grant_event(
                    AuditKind::AccessRevoke,
                    "revoke",
                    Actor::Caller(caller),
                    &record,
                    Decision::Allow,
                    &format!("revoked: {}", body.reason),
                )])
                .await;
            self.announce(true);
            recorded?;
            if let Some(request) = &request {
                self.notify(&policy, NotifyKind::Revoked, request, Some(caller));
            }
            grant_view(&record, self.clock.now())
        }
        .await;
        match result {
            Ok(g) => Ok(g),
            Err(e) => Err(self
                .refuse_on_grant(e, caller, "revoke", AuditKind::AccessRevoke, id)
                .await),
        }
    }

    /// `POST /jitgate/v1/grants/{id}/review`: the after-the-fact review of a break-glass grant,
    /// active or ended. Approvers of its profile and admins may review, never its own user.
    ///
    /// # Errors
    ///
    /// 400 blank comment, 404, 403 the glass-breaker or not allowed, 409 not a break-glass
    /// grant awaiting review.
    pub async fn review_grant(
        &self,
        caller: &Caller,
        id: &GrantId,
        body: ReviewBody,
    ) -> Result<Grant, BrokerError> {
        caller.check()?;
        body.validate()
            .map_err(|e| BrokerError::bad_request(e.to_string()))?;
        let result = async {
            let policy = self.policy.load_full();
            let record = self.visible_grant(&policy, caller, id).await?;
            let g = &record.grant;
            if g.user == caller.user {
                return Err(BrokerError::forbidden(format!(
                    "{} holds {id} and may not review it: someone else must review break-glass \
                     use (approvers of profile {} or admins)",
                    caller.user, g.profile
                )));
            }
            let approvers = profile_approvers(&policy, &g.profile);
            if !(caller.in_any(&approvers) || self.is_admin(caller)) {
                return Err(BrokerError::forbidden(format!(
                    "{} may not review {id}: only approvers of profile {} ({}) and admins may; \
                     ask one of them",
                    caller.user,
                    g.profile,
                    either(&approvers)
                )));
            }
            let record = self
                .store
                .review_grant(&g.id, &caller.user, &body.comment)
                .await?;
            self.record(vec![grant_event(
                AuditKind::AccessReview,
                "review",
                Actor::Caller(caller),
                &record,
                Decision::Allow,
                &format!("reviewed: {}", body.comment),
            )])
            .await?;
            self.announce(false);
            grant_view(&record, self.clock.now())
        }
        .await;
        match result {
            Ok(g) => Ok(g),
            Err(e) => Err(self
                .refuse_on_grant(e, caller, "review", AuditKind::AccessReview, id)
                .await),
        }
    }

    /// `GET /jitgate/v1/grants?scope=…&state=…&limit=…`, newest first.
    ///
    /// # Errors
    ///
    /// 403 for `scope=all` by anyone but approvers, auditors and admins.
    pub async fn list_grants(
        &self,
        caller: &Caller,
        query: &GrantQuery,
    ) -> Result<GrantList, BrokerError> {
        caller.check()?;
        let policy = self.policy.load_full();
        let user = match query.scope {
            GrantScope::Mine => Some(caller.user.clone()),
            GrantScope::All => {
                self.check_may_list_all(&policy, caller, "grants", "scope=mine")?;
                None
            }
        };
        let records = self
            .store
            .list_grant_records(&GrantRecordFilter {
                user,
                states: query.states.iter().map(|s| store_grant_state(*s)).collect(),
                limit: query.effective_limit(),
            })
            .await?;
        let now = self.clock.now();
        Ok(GrantList {
            items: records
                .iter()
                .map(|g| grant_view(g, now))
                .collect::<Result<_, _>>()?,
        })
    }

    /// `GET /jitgate/v1/whoami`: the caller as authenticated, with their grants in force.
    ///
    /// # Errors
    ///
    /// 503 when the store fails.
    pub async fn whoami(&self, caller: &Caller) -> Result<WhoAmI, BrokerError> {
        caller.check()?;
        let records = self
            .store
            .list_grant_records(&GrantRecordFilter {
                user: Some(caller.user.clone()),
                states: vec![GrantState::Active],
                ..GrantRecordFilter::default()
            })
            .await?;
        let now = self.clock.now();
        Ok(WhoAmI {
            user: caller.user.clone(),
            groups: caller.groups.clone(),
            auth_method: match caller.method {
                CallerMethod::Certificate => AuthMethod::Certificate,
                CallerMethod::Bearer => AuthMethod::Oidc,
            },
            credential_expires_at: caller.credential_expires_at.map(Timestamp::from_unix),
            grants: records
                .iter()
                .map(|g| grant_view(g, now))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The standing access `caller` holds through their groups (profiles with no request), for
    /// `kubectl jit whoami`. Not part of the `WhoAmI` wire type, which has no field for it.
    pub fn standing_access(&self, caller: &Caller) -> Vec<StandingAccess> {
        self.policy.load().standing_for(&caller.groups)
    }
}
