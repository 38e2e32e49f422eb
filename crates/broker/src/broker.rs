//! The broker itself: what it holds, the background tasks it runs (expiry sweeps, the store
//! poll, auditing notification outcomes), the hooks the gateway subscribes to, and the shared
//! steps of every operation (record in the audit log, announce, notify).
//!
//! The operations live beside it: `requests` (submit, approve, deny, cancel, get, wait, list),
//! `grants` (revoke, review, list, whoami), `profiles`, `certificates`.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use jitgate_api::ServerConfig;
use jitgate_audit::{AuditEvent, AuditLog, EventKind as AuditKind};
use jitgate_ca::CertificateAuthority;
use jitgate_notify::{DeliveryReport, EventKind as NotifyKind};
use jitgate_policy::Policy;
use jitgate_store::{AccessRequestRecord, Clock, RequestOutcome, RequestStore};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::audit::{Actor, SYSTEM_ACTOR, delivery_event, request_event};
use crate::notifications::{self, Notifications};
use crate::oncall::OnCallResolver;
use crate::{BrokerConfig, BrokerError, BrokerParts, Caller};

/// The broker: access requests, approvals and grants over the store, under the policy in force.
///
/// Build it once at start-up with [`Broker::start`] and share the `Arc`; every operation takes
/// the authenticated [`Caller`]. Dropping the last `Arc` stops its background tasks.
pub struct Broker {
    pub(crate) store: Arc<dyn RequestStore>,
    pub(crate) policy: Arc<ArcSwap<Policy>>,
    pub(crate) audit: AuditLog,
    pub(crate) ca: Arc<CertificateAuthority>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: BrokerConfig,
    pub(crate) on_call: OnCallResolver,
    notifications: Notifications,
    grant_changes: watch::Sender<u64>,
    request_changes: watch::Sender<u64>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("store", &self.store)
            .field("audit", &self.audit.path())
            .field("config", &self.config)
            .field("notifications", &self.notifications)
            .finish_non_exhaustive()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

impl Broker {
    /// Starts the broker on the current Tokio runtime: the notification senders, the expiry
    /// sweeper (every `config.expiry_sweep`), the store poll that notices other processes'
    /// transitions (every `config.store_poll`), and the task that audits notification outcomes.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Notify`] or [`BrokerError::Notification`] if a sender cannot start,
    /// [`BrokerError::Store`] if the store does not answer.
    pub async fn start(parts: BrokerParts) -> Result<Arc<Self>, BrokerError> {
        let BrokerParts {
            store,
            policy,
            audit,
            ca,
            clock,
            mut config,
        } = parts;
        let (reports, delivered) = mpsc::unbounded_channel();
        let notifications = Notifications::start(
            std::mem::take(&mut config.sinks),
            &config.notifier,
            &reports,
        )?;
        drop(reports);
        let requests_seen = store.request_change_counter().await?;
        let grants_seen = store.change_counter().await?;
        let on_call = OnCallResolver::new(config.policy_path.clone(), config.pagerduty.clone());
        let (sweep, poll) = (config.expiry_sweep, config.store_poll);
        let broker = Arc::new(Self {
            store,
            policy,
            audit: audit.clone(),
            ca,
            clock,
            config,
            on_call,
            notifications,
            grant_changes: watch::channel(0).0,
            request_changes: watch::channel(0).0,
            tasks: Mutex::new(Vec::new()),
        });
        let weak = Arc::downgrade(&broker);
        let tasks = vec![
            tokio::spawn(run_sweeper(weak.clone(), sweep)),
            tokio::spawn(run_store_poll(weak, poll, requests_seen, grants_seen)),
        ];
        // Not aborted with the others: it ends by itself once the last sender has reported.
        tokio::spawn(audit_deliveries(audit, delivered));
        broker
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(tasks);
        Ok(broker)
    }

    /// Stops the sweeper and the store poll, and lets the notification senders deliver what
    /// they hold for up to `grace` (what is left is audited as dropped). Returns whether every
    /// notification finished. Operations still work afterwards, without notifications.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
        self.notifications.shutdown(grace).await
    }

    /// Changes whenever a grant is created or revoked through this broker (at once, before the
    /// API answers) or the store's grant counter moves (within `store_poll`). The gateway
    /// rebuilds its grant index on every change instead of waiting for its next poll.
    pub fn grant_changes(&self) -> watch::Receiver<u64> {
        self.grant_changes.subscribe()
    }

    /// Changes whenever a request moves (through this broker at once; through another process
    /// within `store_poll`). What long-polls wait on.
    pub fn request_changes(&self) -> watch::Receiver<u64> {
        self.request_changes.subscribe()
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.load_full()
    }

    /// `GET /jitgate/v1/config`: the identity provider and certificate lifetimes.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            oidc: self.config.oidc.clone(),
            certificate: self.config.certificates,
            server: self.config.server_url.clone(),
        }
    }

    /// Moves every active request whose grant ran out to expired, audits and announces each,
    /// and returns how many. The sweeper calls it every `expiry_sweep`; it is idempotent.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Store`] if the store fails; [`BrokerError::Audit`] if an expiry line
    /// cannot be written (the request is expired in the store all the same, since its grant
    /// ran out; the sweeper logs the error).
    pub async fn sweep_expired(&self) -> Result<usize, BrokerError> {
        let now = self.clock.now();
        let expired = self.store.expire_requests(now).await?;
        if expired.is_empty() {
            return Ok(0);
        }
        let policy = self.policy.load_full();
        let mut first_error = None;
        for request in &expired {
            let ended = request
                .ended_at
                .map(jitgate_api::Timestamp::from_unix)
                .map(|t| t.to_string())
                .unwrap_or_default();
            let event = request_event(
                AuditKind::AccessExpire,
                "expire",
                Actor::System,
                request,
                jitgate_audit::Decision::Allow,
                &format!("its grant ran out at {ended}"),
            );
            if let Err(e) = self.audit.append_async(event).await {
                first_error.get_or_insert(BrokerError::from(e));
            }
            self.notify(&policy, NotifyKind::Expired, request, None);
        }
        self.announce(true);
        match first_error {
            Some(e) => Err(e),
            None => Ok(expired.len()),
        }
    }

    /// Writes `events` to the audit log, in order, each durable before the next.
    pub(crate) async fn record(&self, events: Vec<AuditEvent>) -> Result<(), BrokerError> {
        for event in events {
            self.audit.append_async(event).await?;
        }
        Ok(())
    }

    /// Writes the line of a refused action; a failure is logged, and the refusal stands.
    pub(crate) async fn record_refusal(&self, event: AuditEvent) {
        if let Err(e) = self.audit.append_async(event).await {
            tracing::error!("writing a refusal to the audit log failed: {e}");
        }
    }

    /// Takes back what an unrecorded transition gave: its grant is revoked, a pending request
    /// just submitted is cancelled. Nothing is ever in force without its audit line.
    pub(crate) async fn undo_unrecorded(&self, outcome: &RequestOutcome, submitted: bool) {
        const WHY: &str = "jitgate could not write its audit log, and access is never given \
                           unrecorded";
        if let Some(grant) = &outcome.grant {
            if let Err(e) = self.store.revoke(&grant.id, SYSTEM_ACTOR, WHY).await {
                tracing::error!(
                    grant = grant.id.as_str(),
                    "revoking an unrecorded grant failed: {e}"
                );
            }
            self.announce(true);
        } else if submitted && outcome.request.state == jitgate_store::RequestState::Pending {
            let request = &outcome.request;
            if let Err(e) = self
                .store
                .cancel_request(&request.id, &request.requester, Some(WHY))
                .await
            {
                tracing::error!(
                    request = request.id.as_str(),
                    "cancelling an unrecorded request failed: {e}"
                );
            }
            self.announce(false);
        }
    }

    /// Tells waiters (and, when a grant came or went, the gateway) that something moved.
    pub(crate) fn announce(&self, grant_changed: bool) {
        self.request_changes.send_modify(|n| *n = n.wrapping_add(1));
        if grant_changed {
            self.grant_changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Queues the notification for `event` on `request` to its profile's notifications.
    pub(crate) fn notify(
        &self,
        policy: &Policy,
        event: NotifyKind,
        request: &AccessRequestRecord,
        actor: Option<&Caller>,
    ) {
        let targets = notifications::targets(policy, request);
        if targets.is_empty() {
            return;
        }
        let n = notifications::notification(
            event,
            request,
            actor.map(|c| c.user.as_str()),
            self.config.web_url.as_deref(),
            self.clock.now(),
        );
        self.notifications.send(&targets, &n);
    }

    /// Whether `caller` administers jitgate ("security").
    pub(crate) fn is_admin(&self, caller: &Caller) -> bool {
        caller.in_any(&self.config.admin_groups)
    }

    /// Whether `caller` may list and read everyone's requests and grants: admins, auditors, and
    /// members of any profile's approver groups.
    pub(crate) fn may_see_all(&self, policy: &Policy, caller: &Caller) -> bool {
        self.is_admin(caller)
            || caller.in_any(&self.config.auditor_groups)
            || policy
                .document()
                .profiles
                .iter()
                .any(|p| caller.in_any(&profile_approvers(policy, &p.name)))
    }

    /// The refusal of a `scope=all` listing of everyone's `what` by someone who may not see
    /// everything ([`Broker::may_see_all`]); `instead` is the scope to use.
    pub(crate) fn check_may_list_all(
        &self,
        policy: &Policy,
        caller: &Caller,
        what: &str,
        instead: &str,
    ) -> Result<(), BrokerError> {
        if self.may_see_all(policy, caller) {
            return Ok(());
        }
        Err(BrokerError::forbidden(format!(
            "scope=all lists everyone's {what} and is for approvers, auditors and admins; {} is \
             none of them: use {instead}",
            caller.user
        )))
    }
}

/// The approver groups of `profile` in `policy` (none for an unknown profile).
pub(crate) fn profile_approvers(policy: &Policy, profile: &str) -> Vec<String> {
    policy
        .profile(profile)
        .and_then(|p| p.approval.as_ref())
        .map(|a| a.approver_groups.clone())
        .unwrap_or_default()
}

/// `a or b or c`, for messages.
pub(crate) fn either(groups: &[String]) -> String {
    if groups.is_empty() {
        "nobody (the profile names no approver groups)".to_owned()
    } else {
        groups.join(" or ")
    }
}

async fn run_sweeper(broker: Weak<Broker>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(broker) = broker.upgrade() else {
            return;
        };
        if let Err(e) = broker.sweep_expired().await {
            tracing::error!("sweeping expired access requests failed: {e}");
        }
    }
}

async fn run_store_poll(broker: Weak<Broker>, every: Duration, mut requests: i64, mut grants: i64) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(broker) = broker.upgrade() else {
            return;
        };
        match broker.store.request_change_counter().await {
            Ok(now) if now != requests => {
                requests = now;
                broker.announce(false);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("polling the store for request changes: {e}"),
        }
        match broker.store.change_counter().await {
            Ok(now) if now != grants => {
                grants = now;
                broker.grant_changes.send_modify(|n| *n = n.wrapping_add(1));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("polling the store for grant changes: {e}"),
        }
    }
}

/// Writes one audit line per notification outcome, until every sender is gone.
async fn audit_deliveries(audit: AuditLog, mut delivered: mpsc::UnboundedReceiver<DeliveryReport>) {
    while let Some(report) = delivered.recv().await {
        if let Err(e) = audit.append_async(delivery_event(&report)).await {
            tracing::error!(
                sink = report.sink.as_str(),
                request = report.request_id.as_str(),
                "writing a notification outcome to the audit log failed: {e}"
            );
        }
    }
}
