//! The jitgate broker: access requests, approvals and grants over the store, under the policy in
//! force, with on-call auto-approval, break glass, notifications and an audit line for every
//! transition; and the `/jitgate/v1` API handler the gateway serves it with.
//!
//! A request moves `pending → approved → active → expired | revoked`, or
//! `pending → denied | cancelled`. The policy ([`jitgate_policy::Policy::route`]) decides how it
//! is approved: automatically (the requester in an auto-approve group and, where the profile
//! says so, on call now — an unknown on-call answer never approves), by N approvers (checked
//! again at every approval, never the requester), or by breaking glass (self-approved, capped,
//! loudly notified, reviewed afterwards by someone else). Approval and activation are one store
//! transaction, so concurrent approvals create exactly one grant. Every transition is durable in
//! the audit log before the API answers; a grant whose activation cannot be recorded is revoked
//! at once.
//!
//! # Wiring it into the gateway
//!
//! At start-up:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn wire(
//! #     store: Arc<jitgate_store::SqliteStore>,
//! #     audit: jitgate_audit::AuditLog,
//! #     ca: Arc<jitgate_ca::CertificateAuthority>,
//! #     oidc: jitgate_api::OidcSettings,
//! # ) -> Result<(), jitgate_broker::BrokerError> {
//! use arc_swap::ArcSwap;
//! use jitgate_broker::{Broker, BrokerConfig, BrokerParts, sinks_from_policy};
//!
//! let policy_path = std::path::PathBuf::from("/etc/jitgate/policy.yaml");
//! # let loaded = jitgate_policy::Policy::embedded_default();
//! let policy = Arc::new(ArcSwap::from_pointee(loaded)); // swap it on a valid reload
//! let mut config = BrokerConfig::new(&policy_path, oidc, "https://jitgate.example.com:8443");
//! config.sinks = sinks_from_policy(&policy.load(), |name| std::env::var(name).ok())?;
//! config.admin_groups = vec!["security".into()];
//! let broker = Broker::start(BrokerParts {
//!     store: store.clone(),         // the same SqliteStore (and clock) the gateway reads
//!     policy: policy.clone(),
//!     audit: audit.clone(),         // the gateway's AuditLog (one writer per file)
//!     ca,
//!     clock: Arc::new(jitgate_store::SystemClock),
//!     config,
//! })
//! .await?;
//! let mut grants = broker.grant_changes(); // rebuild the grant index on every change
//! # let _ = grants.changed().await;
//! # Ok(()) }
//! ```
//!
//! Per request: if [`http::is_api_path`] says the path is the API's, build a [`Caller`] from
//! the gateway's authentication (or `None` when there was no credential) and answer with
//! [`http::handle`]; never forward such a path to the apiserver.

#![forbid(unsafe_code)]

mod audit;
mod broker;
mod caller;
mod certificates;
mod config;
mod error;
mod grants;
pub mod http;
mod notifications;
mod oncall;
mod profiles;
mod requests;
mod sessions;
mod view;

pub use audit::{AUDIT_API_GROUP, AUDIT_GRANTS, AUDIT_REQUESTS, AUDIT_SESSIONS, SYSTEM_ACTOR};
pub use broker::Broker;
pub use caller::{Caller, CallerMethod, MAX_CALLER_GROUPS, MAX_IDENTITY_NAME_LEN};
pub use config::{
    BrokerConfig, BrokerParts, DEFAULT_EXPIRY_SWEEP, DEFAULT_STORE_POLL, NamespaceLabels,
    sinks_from_policy,
};
pub use error::BrokerError;
pub use view::AUTO_APPROVER;
