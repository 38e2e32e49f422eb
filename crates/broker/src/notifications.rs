//! Telling people about requests: which of the policy's notifications a request's events go
//! to, one background sender per notification, and every delivery outcome handed back for the
//! audit log. Sending never blocks and never fails a request.

use std::collections::BTreeMap;

use jitgate_notify::{DeliveryReport, EventKind, Notification, Notifier, NotifierConfig, Sink};
use jitgate_policy::Policy;
use jitgate_store::AccessRequestRecord;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::BrokerError;

/// One notifier per named sink, so each request reaches only the notifications its profile
/// names.
#[derive(Debug, Default)]
pub(crate) struct Notifications {
    by_name: BTreeMap<String, Notifier>,
}

impl Notifications {
    /// Starts a sender per sink; every final outcome goes to `reports`.
    pub(crate) fn start(
        sinks: Vec<Sink>,
        config: &NotifierConfig,
        reports: &mpsc::UnboundedSender<DeliveryReport>,
    ) -> Result<Self, BrokerError> {
        let mut by_name = BTreeMap::new();
        for sink in sinks {
            let name = sink.name().to_owned();
            if by_name.contains_key(&name) {
                return Err(BrokerError::Notification {
                    name,
                    problem: "two senders have this name; give each its own".to_owned(),
                });
            }
            let tx = reports.clone();
            let notifier = Notifier::start(vec![sink], config, move |report| {
                // Unbounded, so the callback never blocks; the notifier's own queues bound it.
                let _ = tx.send(report);
            })
            .map_err(|source| BrokerError::Notify { source })?;
            by_name.insert(name, notifier);
        }
        Ok(Self { by_name })
    }

    /// Lets every sender finish for up to `grace` in all; whether all finished.
    pub(crate) async fn shutdown(&self, grace: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        let mut all = true;
        for notifier in self.by_name.values() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            all &= notifier.shutdown(left).await;
        }
        all
    }

    /// Queues `n` for each of `targets` that has a sender.
    pub(crate) fn send(&self, targets: &[String], n: &Notification) {
        for target in targets {
            match self.by_name.get(target) {
                Some(notifier) => notifier.notify(n.clone()),
                None => tracing::warn!(
                    notification = target.as_str(),
                    request = n.request_id.as_str(),
                    "the policy names a notification the gateway has no sender for"
                ),
            }
        }
    }
}

/// The notifications a request's events go to under the policy in force: the profile's
/// `notify`, plus `breakGlass.notify` for break-glass requests.
pub(crate) fn targets(policy: &Policy, request: &AccessRequestRecord) -> Vec<String> {
    let Some(spec) = policy.profile(&request.profile) else {
        return Vec::new();
    };
    let mut out = spec.notify.clone();
    if request.break_glass
        && let Some(glass) = &spec.break_glass
    {
        for name in &glass.notify {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
    }
    out
}

/// The notification for `event` on `request`, by `actor` (a person), at `now`.
pub(crate) fn notification(
    event: EventKind,
    request: &AccessRequestRecord,
    actor: Option<&str>,
    web_url: Option<&str>,
    now: i64,
) -> Notification {
    let at = |secs: i64| OffsetDateTime::from_unix_timestamp(secs).ok();
    let mut n = Notification::new(
        event,
        request.id.as_str(),
        &request.requester,
        &request.profile,
        &request.namespace,
        &request.reason,
        at(now).unwrap_or(OffsetDateTime::UNIX_EPOCH),
    );
    n.ticket = request.ticket.clone();
    n.actor = actor.map(str::to_owned);
    n.expires_at = request.grant_expires_at.and_then(at);
    let page = || web_url.map(|u| format!("{}/requests/{}", u.trim_end_matches('/'), request.id));
    match event {
        EventKind::RequestPending => {
            n.approve_command = Some(format!("kubectl jit approve {}", request.id));
            n.approve_url = page();
        }
        EventKind::BreakGlass => {
            n.approve_command = request
                .grant_id
                .as_ref()
                .map(|g| format!("kubectl jit review {g} --comment TEXT"));
            n.approve_url = page();
        }
        _ => {}
    }
    n
}
