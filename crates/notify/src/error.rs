//! The one error type of this crate: bad sink configuration, failed deliveries, and signatures
//! that do not verify.

use std::time::Duration;

/// What went wrong configuring, delivering or verifying a notification.
///
/// Delivery errors arrive in [`crate::DeliveryOutcome::Failed`]; `notify` itself never fails.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A sink's configuration cannot be used.
    #[error("notification sink {sink:?}: {problem}")]
    InvalidSink {
        /// The sink's name.
        sink: String,
        /// What is wrong and what to write instead.
        problem: String,
    },

    /// The notifier's settings cannot be used.
    #[error("notifier settings, {field}: {problem}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong and what to write instead.
        problem: String,
    },

    /// A sink's CA bundle is not usable.
    #[error(
        "notification sink {sink:?}: the CA bundle is not usable: {problem}; pass PEM certificates"
    )]
    CaBundle {
        /// The sink's name.
        sink: String,
        /// What is wrong with it.
        problem: String,
    },

    /// TLS could not be set up.
    #[error("TLS setup for notification sinks failed: {source}")]
    Tls {
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },

    /// [`crate::Notifier::start`] was called outside a Tokio runtime.
    #[error(
        "the notifier needs a Tokio runtime to deliver in the background; start it from async code"
    )]
    NoRuntime,

    /// A notification could not be rendered as JSON (should not happen).
    #[error("rendering the notification failed: {source}")]
    Render {
        /// What serde_json said.
        #[source]
        source: serde_json::Error,
    },

    /// A request could not be built (should not happen with a validated URL).
    #[error("building the request failed: {source}")]
    BuildRequest {
        /// What the HTTP library said.
        #[source]
        source: http::Error,
    },

    /// The receiver did not answer within the per-attempt timeout.
    #[error("the receiver did not answer within {after:?}")]
    Timeout {
        /// The per-attempt timeout.
        after: Duration,
    },

    /// The receiver could not be reached (connection refused, DNS, TLS handshake ...).
    #[error("could not reach {endpoint}: {source}")]
    Connect {
        /// `scheme://host:port` of the receiver (never the path: Slack's path is a secret).
        endpoint: String,
        /// What the HTTP client said.
        #[source]
        source: hyper_util::client::legacy::Error,
    },

    /// The receiver answered 4xx (other than 408/429) or 3xx: retrying will not help.
    #[error(
        "the receiver refused the notification with {status}{snippet}; not retried: fix the \
         sink's URL or the receiver (redirects are not followed)",
        snippet = snippet_suffix(body)
    )]
    Rejected {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, for the operator.
        body: String,
    },

    /// The receiver answered 5xx, 408 or 429 on the last attempt.
    #[error(
        "the receiver failed with {status}{snippet}; gave up after the last attempt",
        snippet = snippet_suffix(body)
    )]
    ReceiverFailed {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },

    /// The receiver asked to wait (`Retry-After`) longer than the policy allows.
    #[error(
        "the receiver asked to retry after {requested:?}, longer than the {max:?} allowed; gave up \
         (raise max_retry_after if the receiver is right)"
    )]
    RetryAfterTooLong {
        /// What the receiver asked for.
        requested: Duration,
        /// The policy's limit.
        max: Duration,
    },

    /// A signature header could not be read.
    #[error("the signature headers are malformed: {problem}")]
    SignatureMalformed {
        /// What is wrong.
        problem: String,
    },

    /// The signature does not match the body and timestamp under this secret.
    #[error(
        "the signature does not match: the body or timestamp was changed, or the secret differs \
         from the sender's"
    )]
    SignatureMismatch,

    /// The signed timestamp is too far from now: a replay, or clocks out of sync.
    #[error(
        "the signed timestamp {timestamp} is {skew:?} away from now, more than the {tolerance:?} \
         allowed; a replayed request, or clocks out of sync (check NTP)"
    )]
    TimestampOutOfWindow {
        /// The signed timestamp (unix seconds).
        timestamp: u64,
        /// How far it is from now.
        skew: Duration,
        /// The tolerance.
        tolerance: Duration,
    },
}

fn snippet_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(" ({body:?})")
    }
}
