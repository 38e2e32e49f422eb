//! Notifications about access requests: the broker tells people about new requests needing
//! approval, approvals, denials, break-glass use (urgent), revocations and expiries.
//!
//! - [`Notification`] is a plain value; [`webhook_body`] and [`slack_payload`] render it
//!   without I/O.
//! - A [`Sink`] is a receiver: a generic webhook (versioned JSON, HMAC-SHA256 signed; receivers
//!   check it with [`verify_signature`]) or a Slack-compatible incoming webhook.
//! - [`Notifier::notify`] never blocks and never fails: it queues, and one background task per
//!   sink delivers with retries, backoff and jitter, reporting every final outcome to a
//!   callback so the broker can audit "delivered" or "failed".
//!
//! docs/notifications.md describes the webhook body, the headers and the retry rules.
//!
//! ```
//! use jitgate_notify::{DeliveryOutcome, EventKind, Notification, Notifier, NotifierConfig, Sink};
//!
//! # async fn demo() -> Result<(), jitgate_notify::NotifyError> {
//! let sinks = vec![
//!     Sink::webhook("security", "https://hooks.example.com/jitgate", "0123456789abcdef0123")?,
//!     Sink::slack("oncall-channel", "https://hooks.slack.com/services/T0/B0/XYZ")?
//!         .with_urgent_mention("<!here>")?,
//! ];
//! let notifier = Notifier::start(sinks, &NotifierConfig::default(), |report| {
//!     if let DeliveryOutcome::Failed { error, .. } = &report.outcome {
//!         eprintln!("notification to {} failed: {error}", report.sink);
//!     }
//! })?;
//! let now = time::OffsetDateTime::now_utc();
//! notifier.notify(Notification::new(
//!     EventKind::BreakGlass, "r-7f3a", "alice@example.com", "debug", "payments", "INC-4211", now,
//! ));
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod error;
mod http_client;
mod notification;
mod notifier;
mod retry;
mod sink;
mod slack;
mod webhook;

pub use error::NotifyError;
pub use notification::{EventKind, Notification};
pub use notifier::{
    DeliveryOutcome, DeliveryReport, DropReason, Notifier, NotifierConfig, ReportFn,
};
pub use retry::RetryPolicy;
pub use sink::{MIN_SECRET_LEN, Sink, SinkKind};
pub use slack::slack_payload;
pub use webhook::{
    API_VERSION, DEFAULT_SIGNATURE_TOLERANCE, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
    sign, verify_signature, webhook_body,
};
