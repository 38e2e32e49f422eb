//! The one error type of this crate: what went wrong reading a schedule or asking PagerDuty.

use std::time::Duration;

/// Why a schedule could not be read, or why an on-call service could not answer.
///
/// Every message says what happened and what to do about it. For the broker, any of these turns
/// an on-call question into [`crate::OnCallAnswer::Unknown`]: never into "on call".
#[derive(Debug, thiserror::Error)]
pub enum OnCallError {
    /// The schedule text is larger than [`crate::MAX_SCHEDULE_BYTES`].
    #[error(
        "the schedule is {len} bytes, more than the limit of {max}; a schedule this large is \
         almost certainly not a schedule: check the file"
    )]
    ScheduleTooLarge {
        /// Its size in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The schedule is not YAML, or not of the documented shape (unknown or missing fields).
    #[error(
        "the schedule is not valid: {source}; see docs/oncall.md for the fields a schedule may have"
    )]
    ScheduleYaml {
        /// What the YAML parser said, with line and column.
        #[source]
        source: serde_yaml::Error,
    },

    /// The schedule names a time zone the bundled time zone database does not know.
    #[error(
        "{field}: {name:?} is not an IANA time zone name; use a name like \"Europe/Berlin\", \
         \"America/New_York\" or \"UTC\""
    )]
    UnknownTimeZone {
        /// Where in the schedule, e.g. `timezone`.
        field: String,
        /// The name as written.
        name: String,
        /// What the time zone database said.
        #[source]
        source: jiff::Error,
    },

    /// A field of the schedule has a value that cannot be used; the message says how to fix it.
    #[error("{field}: {problem}")]
    InvalidSchedule {
        /// Where in the schedule, e.g. `rotations[0].length`.
        field: String,
        /// What is wrong and what to write instead.
        problem: String,
    },

    /// The PagerDuty client's configuration cannot be used.
    #[error("PagerDuty client configuration, {field}: {problem}")]
    InvalidConfig {
        /// The setting, e.g. `base_url`.
        field: &'static str,
        /// What is wrong and what to write instead.
        problem: String,
    },

    /// The CA bundle for the PagerDuty client could not be read or used.
    #[error(
        "the CA bundle for the on-call service is not usable: {problem}; pass PEM certificates"
    )]
    CaBundle {
        /// What is wrong with it.
        problem: String,
    },

    /// TLS could not be set up for the client.
    #[error("TLS setup for the on-call service failed: {source}")]
    Tls {
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },

    /// The on-call service did not answer within the time allowed.
    #[error(
        "the on-call service did not answer within {after:?}; treating the requester as not \
         known to be on call (the request needs an approver)"
    )]
    Timeout {
        /// The time allowed for the whole lookup (every page).
        after: Duration,
    },

    /// The HTTP request could not be made (connection refused, DNS, TLS handshake ...).
    #[error("could not reach the on-call service at {endpoint}: {source}")]
    Request {
        /// `scheme://host:port` of the service (never the token).
        endpoint: String,
        /// What the HTTP client said.
        #[source]
        source: hyper_util::client::legacy::Error,
    },

    /// A request URL could not be built (should not happen with a validated base URL).
    #[error("could not build the request to the on-call service: {source}")]
    BuildRequest {
        /// What the HTTP library said.
        #[source]
        source: http::Error,
    },

    /// The on-call service answered with a status other than 200.
    #[error("the on-call service answered {status}: {hint}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// What it usually means and what to do.
        hint: String,
    },

    /// The response body could not be read, or was larger than allowed.
    #[error("reading the on-call service's answer failed: {problem}")]
    Body {
        /// What went wrong (including "larger than N bytes").
        problem: String,
    },

    /// The response body is not JSON of the expected shape.
    #[error(
        "the on-call service's answer is not the expected JSON (`{{\"oncalls\": [...]}}`): {source}; \
         check that base_url points at a PagerDuty REST API v2"
    )]
    MalformedJson {
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },

    /// The response is JSON of the right shape but with values that cannot be used.
    #[error("the on-call service's answer cannot be used: {problem}")]
    BadResponse {
        /// What is wrong with it.
        problem: String,
    },

    /// The answer spans more pages than the client reads.
    #[error(
        "the on-call service's answer has more than {max_pages} pages; narrow the schedule or \
         raise max_pages"
    )]
    TooManyPages {
        /// The page limit.
        max_pages: usize,
    },

    /// Someone covering the instant could not be identified by email, and nobody else matched.
    #[error(
        "{count} on-call entr{plural} carry no user email, so the requester cannot be matched; \
         give the API token read access to users (the client asks for include[]=users)",
        plural = if *count == 1 { "y" } else { "ies" }
    )]
    UnidentifiedOnCall {
        /// How many covering entries had no email.
        count: usize,
    },
}
