//! The one error type of this crate: malformed values on either side of the API, and what can
//! go wrong calling it. Every message says what happened and what to do next.

use std::time::Duration;

use crate::Status;

/// Everything that can go wrong reading, checking or exchanging API values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A duration is not Go-style duration text.
    #[error("{text:?} is not a duration: {reason}")]
    InvalidDuration {
        /// The text, shortened.
        text: String,
        /// Why, and what to write instead.
        reason: String,
    },

    /// A time is not RFC 3339.
    #[error("{text:?} is not an RFC 3339 time such as 2026-05-01T03:17:02Z: {reason}")]
    InvalidTimestamp {
        /// The text, shortened.
        text: String,
        /// The parser's complaint.
        reason: String,
    },

    /// An id is malformed.
    #[error(transparent)]
    InvalidId(#[from] jitgate_ids::IdError),

    /// A field of a body breaks a rule.
    #[error("{field}: {reason}")]
    InvalidField {
        /// The field's wire name.
        field: &'static str,
        /// The rule it breaks.
        reason: String,
    },

    /// A query string is malformed.
    #[error("invalid query: {reason}")]
    InvalidQuery {
        /// What is wrong with it.
        reason: String,
    },

    /// The server URL cannot be used.
    #[error("{url:?} cannot be used as the jitgate server: {reason}")]
    InvalidServerUrl {
        /// The URL, shortened.
        url: String,
        /// Why.
        reason: String,
    },

    /// The CA bundle to trust for the server is unusable.
    #[error(
        "the jitgate CA certificate is unusable: {reason}; pass the CA the gateway's certificate chains to (e.g. --ca-file .jitgate/ca/ca.crt)"
    )]
    CaCertificate {
        /// Why.
        reason: String,
    },

    /// The client certificate or key is unusable.
    #[error("the jitgate client certificate is unusable: {reason}; run kubectl jit login again")]
    ClientCertificate {
        /// Why.
        reason: String,
    },

    /// The TLS configuration could not be built.
    #[error("could not set up TLS: {reason}")]
    Tls {
        /// Why.
        reason: String,
    },

    /// The request never got an answer: connection refused, TLS failure, broken connection.
    #[error(
        "could not reach jitgate at {url}: {reason}; check the server URL and that the gateway is running"
    )]
    Connect {
        /// The URL requested.
        url: String,
        /// The cause chain, as text.
        reason: String,
    },

    /// No complete answer within the time limit.
    #[error("jitgate at {url} did not answer within {}s; try again, or check the gateway", after.as_secs())]
    Timeout {
        /// The URL requested.
        url: String,
        /// The time limit.
        after: Duration,
    },

    /// The answer is larger than allowed.
    #[error(
        "the answer from {url} is larger than {limit} bytes; narrow the query (e.g. --state or --limit)"
    )]
    ResponseTooLarge {
        /// The URL requested.
        url: String,
        /// The limit, in bytes.
        limit: usize,
    },

    /// The server refused, and said why in a Kubernetes `Status`.
    #[error("jitgate refused: {} ({} {})", status.message, status.code, status.reason)]
    Server {
        /// The URL requested.
        url: String,
        /// The server's answer.
        status: Box<Status>,
    },

    /// The server answered with an error that is not a `Status` (a proxy, another server).
    #[error("{url} answered HTTP {code} without a jitgate error body{}; is this a jitgate gateway?", if snippet.is_empty() { String::new() } else { format!(" ({snippet})") })]
    UnexpectedResponse {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        code: u16,
        /// The start of the body, printable characters only.
        snippet: String,
    },

    /// A successful answer is not the expected JSON.
    #[error(
        "the answer from {url} is not {what}: {source}; is kubectl jit older than the gateway?"
    )]
    Decode {
        /// The URL requested.
        url: String,
        /// What was expected, e.g. `an AccessRequest`.
        what: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A body could not be written as JSON.
    #[error("could not encode the request body: {source}")]
    Encode {
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

impl ApiError {
    /// The server's `Status`, when it refused.
    #[must_use]
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::Server { status, .. } => Some(status),
            _ => None,
        }
    }

    /// The HTTP status code of a refusal or unexpected answer.
    #[must_use]
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Server { status, .. } => Some(status.code),
            Self::UnexpectedResponse { code, .. } => Some(*code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_carry_the_status_message() {
        let err = ApiError::Server {
            url: "https://jitgate.example/jitgate/v1/requests/r-0123abcd/approve".into(),
            status: Box::new(Status::failure(
                403,
                "alice may not approve her own request r-0123abcd; ask someone in sre-leads",
            )),
        };
        assert_eq!(
            err.to_string(),
            "jitgate refused: alice may not approve her own request r-0123abcd; ask someone in sre-leads (403 Forbidden)"
        );
        assert_eq!(err.http_status(), Some(403));
        assert_eq!(err.status().map(|s| s.reason.as_str()), Some("Forbidden"));
    }

    #[test]
    fn unexpected_answers_say_so() {
        let err = ApiError::UnexpectedResponse {
            url: "https://x/jitgate/v1/whoami".into(),
            code: 502,
            snippet: "Bad Gateway".into(),
        };
        assert_eq!(
            err.to_string(),
            "https://x/jitgate/v1/whoami answered HTTP 502 without a jitgate error body (Bad Gateway); is this a jitgate gateway?"
        );
    }
}
