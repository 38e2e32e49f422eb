//! What the broker is built from: the store, the policy handle, the audit log, the CA, a clock,
//! and its settings (identity provider, certificate lifetimes, who administers, notification
//! senders, on-call services).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use jitgate_api::{CertificatePolicy, GoDuration, OidcSettings};
use jitgate_audit::AuditLog;
use jitgate_ca::CertificateAuthority;
use jitgate_notify::{NotifierConfig, Sink};
use jitgate_oncall::PagerDutyClient;
use jitgate_policy::Policy;
use jitgate_store::{Clock, RequestStore};

use crate::BrokerError;

/// How often active requests whose grant ran out are moved to expired.
pub const DEFAULT_EXPIRY_SWEEP: Duration = Duration::from_secs(1);

/// How often the store is polled for transitions made by another process (another gateway
/// replica, `jitgate grant revoke`), so long-polls see them.
pub const DEFAULT_STORE_POLL: Duration = Duration::from_millis(200);

/// Reads a namespace's labels, for profiles with a `scope.namespaceSelector`. The gateway
/// implements it with its own apiserver credentials. Without one (or when it fails) such
/// profiles cannot be requested: the policy refuses a namespace whose labels are unknown.
#[async_trait]
pub trait NamespaceLabels: Send + Sync + fmt::Debug {
    /// The labels of `namespace`; `Ok(None)` when it does not exist.
    async fn labels(&self, namespace: &str) -> Result<Option<BTreeMap<String, String>>, String>;
}

/// The broker's settings.
#[derive(Clone)]
#[non_exhaustive]
pub struct BrokerConfig {
    /// The policy file: schedule files are resolved relative to its folder.
    pub policy_path: PathBuf,
    /// The PagerDuty account for `schedules[].pagerduty`; without it those schedules answer
    /// "unknown" (never auto-approving).
    pub pagerduty: Option<PagerDutyClient>,
    /// Notification senders, named as the policy's `notifications` (see
    /// [`sinks_from_policy`]). A name the policy uses without a sender here is skipped.
    pub sinks: Vec<Sink>,
    /// Queue and retry settings of the notification senders.
    pub notifier: NotifierConfig,
    /// The identity provider, for `GET /jitgate/v1/config`.
    pub oidc: OidcSettings,
    /// The gateway's URL as clients use it, for `GET /jitgate/v1/config`.
    pub server_url: String,
    /// Client certificate lifetimes for `POST /jitgate/v1/certificates`.
    pub certificates: CertificatePolicy,
    /// Members may list, revoke and review everything ("security").
    pub admin_groups: Vec<String>,
    /// Members may list and read everything, and change nothing.
    pub auditor_groups: Vec<String>,
    /// The web UI's URL; notifications link to `<web_url>/requests/<id>`.
    pub web_url: Option<String>,
    /// How often expired requests are swept.
    pub expiry_sweep: Duration,
    /// How often the store is polled for other processes' transitions.
    pub store_poll: Duration,
    /// Reads namespace labels for profiles with a namespace selector.
    pub namespace_labels: Option<Arc<dyn NamespaceLabels>>,
    /// The folder the gateway writes session recordings to (`<id>.cast`), served by
    /// `GET /jitgate/v1/sessions`; without it the API has no recordings.
    pub recordings: Option<PathBuf>,
}

impl fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("policy_path", &self.policy_path)
            .field("pagerduty", &self.pagerduty.is_some())
            .field("sinks", &self.sinks)
            .field("oidc", &self.oidc)
            .field("server_url", &self.server_url)
            .field("certificates", &self.certificates)
            .field("admin_groups", &self.admin_groups)
            .field("auditor_groups", &self.auditor_groups)
            .field("web_url", &self.web_url)
            .field("expiry_sweep", &self.expiry_sweep)
            .field("store_poll", &self.store_poll)
            .field("namespace_labels", &self.namespace_labels)
            .field("recordings", &self.recordings)
            .finish_non_exhaustive()
    }
}

impl BrokerConfig {
    /// Settings for a policy file and an identity provider: no notification senders, no
    /// PagerDuty, no admins or auditors, certificates of 8h by default (5m to 12h), sweeps every
    /// second and store polls every 200 ms.
    pub fn new(
        policy_path: impl Into<PathBuf>,
        oidc: OidcSettings,
        server_url: impl Into<String>,
    ) -> Self {
        Self {
            policy_path: policy_path.into(),
            pagerduty: None,
            sinks: Vec::new(),
            notifier: NotifierConfig::default(),
            oidc,
            server_url: server_url.into(),
            certificates: CertificatePolicy {
                default_ttl: GoDuration::from(jitgate_ca::DEFAULT_CLIENT_TTL),
                min_ttl: GoDuration::from(jitgate_ca::MIN_CLIENT_TTL),
                max_ttl: GoDuration::from_secs(12 * 3600),
            },
            admin_groups: Vec::new(),
            auditor_groups: Vec::new(),
            web_url: None,
            expiry_sweep: DEFAULT_EXPIRY_SWEEP,
            store_poll: DEFAULT_STORE_POLL,
            namespace_labels: None,
            recordings: None,
        }
    }
}

/// Everything [`Broker::start`](crate::Broker::start) needs.
#[derive(Debug)]
pub struct BrokerParts {
    /// Requests, approvals and grants. It must read "now" from `clock`.
    pub store: Arc<dyn RequestStore>,
    /// The policy in force; the gateway swaps it on reload (only for one that validates).
    pub policy: Arc<ArcSwap<Policy>>,
    /// The audit log, shared with the gateway (one writer per file).
    pub audit: AuditLog,
    /// The jitgate CA, for client certificates.
    pub ca: Arc<CertificateAuthority>,
    /// Where "now" comes from (the store's clock).
    pub clock: Arc<dyn Clock>,
    /// Settings.
    pub config: BrokerConfig,
}

/// The notification senders for the policy's `notifications`: a Slack sink per `slack`, a
/// signed webhook per `webhook` with its secret read from the environment variable that
/// `secretEnv` names (through `secret`, e.g. `|name| std::env::var(name).ok()`).
///
/// # Errors
///
/// [`BrokerError::Notification`] for a webhook without `secretEnv` (jitgate signs every
/// webhook), a secret variable that is unset or too short, or a URL the sender refuses.
pub fn sinks_from_policy(
    policy: &Policy,
    secret: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Sink>, BrokerError> {
    let mut sinks = Vec::new();
    for spec in policy.notifications() {
        let problem = |problem: String| BrokerError::Notification {
            name: spec.name.clone(),
            problem,
        };
        let sink = match (&spec.slack, &spec.webhook) {
            (Some(slack), None) => Sink::slack(&spec.name, &slack.url),
            (None, Some(webhook)) => {
                let Some(env) = &webhook.secret_env else {
                    return Err(problem(
                        "the webhook has no secretEnv; jitgate signs every webhook, so name the \
                         environment variable that holds its HMAC key"
                            .to_owned(),
                    ));
                };
                let Some(key) = secret(env) else {
                    return Err(problem(format!(
                        "the environment variable {env} (its secretEnv) is not set; set it to \
                         the webhook's HMAC key (e.g. `openssl rand -hex 32`)"
                    )));
                };
                Sink::webhook(&spec.name, &webhook.url, key.into_bytes())
            }
            _ => {
                return Err(problem(
                    "it needs exactly one of slack and webhook; run jitgate policy lint".to_owned(),
                ));
            }
        };
        sinks.push(sink.map_err(|e| problem(e.to_string()))?);
    }
    Ok(sinks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_needs_its_webhook_secret() {
        let policy = Policy::embedded_default();
        let err = sinks_from_policy(&policy, |_| None).unwrap_err();
        assert!(
            err.to_string()
                .contains("JITGATE_WEBHOOK_SECRET (its secretEnv) is not set"),
            "{err}"
        );
        let short = sinks_from_policy(&policy, |_| Some("short".into())).unwrap_err();
        assert!(short.to_string().contains("audit-hook"), "{short}");
        let sinks = sinks_from_policy(&policy, |name| {
            (name == "JITGATE_WEBHOOK_SECRET").then(|| "0123456789abcdef0123".to_owned())
        })
        .unwrap();
        let names: Vec<&str> = sinks.iter().map(Sink::name).collect();
        assert_eq!(names, ["sre-slack", "audit-hook"]);
    }
}
