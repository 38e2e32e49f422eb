//! The one error type of this crate. Every message is written for the person at the terminal:
//! what happened, why, and what to do next; [`BrokerError::http_status`] is the status code the
//! API answers with (and the `code` of its Kubernetes `Status`).

use jitgate_audit::AuditError;
use jitgate_ca::CaError;
use jitgate_notify::NotifyError;
use jitgate_store::StoreError;

/// Everything that can go wrong in the broker, grouped by how the API answers it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The caller has no usable identity (401).
    #[error("{message}")]
    Unauthenticated {
        /// What is wrong, and how to log in.
        message: String,
    },

    /// Only an OIDC ID token may do this; a client certificate cannot renew itself (403).
    #[error(
        "a client certificate cannot be used to get a new certificate: only a fresh login renews \
         access; run kubectl jit login"
    )]
    BearerOnly,

    /// Authenticated, but not allowed to do this (403).
    #[error("{message}")]
    Forbidden {
        /// Who may, and whom to ask.
        message: String,
        /// The store's refusal, when the store refused.
        #[source]
        source: Option<StoreError>,
    },

    /// Well-formed, but against policy: a duration or lifetime above the maximum (422).
    #[error("{message}")]
    Invalid {
        /// The limit, and what to ask for instead.
        message: String,
    },

    /// No such request or grant, or not one the caller may see (404).
    #[error("{message}")]
    NotFound {
        /// What was asked for, and where to find real ids.
        message: String,
        /// The store's answer, when it said so.
        #[source]
        source: Option<StoreError>,
    },

    /// The request or grant is not in a state that allows the action (409).
    #[error("{message}")]
    Conflict {
        /// Its state, and what can still be done.
        message: String,
        /// The store's refusal.
        #[source]
        source: Option<StoreError>,
    },

    /// Malformed input: a body or query the API does not accept (400).
    #[error("{message}")]
    BadRequest {
        /// What is wrong, and how to write it.
        message: String,
    },

    /// The certificate authority refused or failed to issue a certificate (400, 403, 422 or
    /// 500, by cause).
    #[error("{source}")]
    Certificate {
        /// The status code for this cause.
        status: u16,
        /// The CA's error, which says what to do.
        #[source]
        source: CaError,
    },

    /// The store failed: unreachable or busy (503: retry), or damaged (500).
    #[error("{source}")]
    Store {
        /// The store's error.
        #[source]
        source: StoreError,
    },

    /// The audit log could not record the action (500). A grant the action would have given
    /// is revoked at once and a request it just submitted is cancelled; a decision that cannot
    /// be taken back (a denial, a cancellation, a revocation, a review) stands in the store.
    #[error(
        "jitgate cannot write its audit log, and nothing happens unrecorded ({source}); tell the \
         platform team"
    )]
    Audit {
        /// The audit log's error.
        #[source]
        source: AuditError,
    },

    /// The notification senders could not be started (at start-up).
    #[error("could not start notifications: {source}")]
    Notify {
        /// The notifier's error.
        #[source]
        source: NotifyError,
    },

    /// A notification in the policy cannot be turned into a sender (at start-up).
    #[error("notification {name:?} in the policy cannot be used: {problem}")]
    Notification {
        /// The notification's name.
        name: String,
        /// What is wrong and how to fix it.
        problem: String,
    },

    /// Something that cannot happen did: an id or value the store wrote does not fit the API
    /// (500).
    #[error("internal error: {message}; please report it")]
    Internal {
        /// What did not fit.
        message: String,
    },
}

impl BrokerError {
    /// The HTTP status code the API answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Unauthenticated { .. } => 401,
            Self::BearerOnly | Self::Forbidden { .. } => 403,
            Self::Invalid { .. } => 422,
            Self::NotFound { .. } => 404,
            Self::Conflict { .. } => 409,
            Self::BadRequest { .. } => 400,
            Self::Certificate { status, .. } => *status,
            Self::Store { source } => match source {
                StoreError::Corrupt { .. }
                | StoreError::CorruptRequest { .. }
                | StoreError::Migrate(_)
                | StoreError::IdsExhausted(_) => 500,
                _ => 503,
            },
            Self::Audit { .. }
            | Self::Notify { .. }
            | Self::Notification { .. }
            | Self::Internal { .. } => 500,
        }
    }

    /// Whether this is a refusal of the caller's action (as opposed to a failure of jitgate):
    /// refusals are audited as denied decisions.
    pub fn is_refusal(&self) -> bool {
        matches!(self.http_status(), 403 | 404 | 409 | 422)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
        }
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
        }
    }
}

impl From<StoreError> for BrokerError {
    /// Sorts the store's refusals by what the API answers; its messages already say what to do.
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::RequestNotPending { .. }
            | StoreError::AlreadyApproved { .. }
            | StoreError::AlreadyRevoked { .. }
            | StoreError::Expired { .. }
            | StoreError::AlreadyReviewed { .. }
            | StoreError::NotBreakGlass { .. } => Self::Conflict {
                message,
                source: Some(e),
            },
            StoreError::SelfDecision { .. }
            | StoreError::NotRequester { .. }
            | StoreError::SelfReview { .. } => Self::Forbidden {
                message,
                source: Some(e),
            },
            StoreError::NotFound { .. } | StoreError::RequestNotFound { .. } => Self::NotFound {
                message,
                source: Some(e),
            },
            StoreError::InvalidRequest { .. }
            | StoreError::InvalidGrant { .. }
            | StoreError::InvalidId(_) => Self::BadRequest { message },
            other => Self::Store { source: other },
        }
    }
}

impl From<AuditError> for BrokerError {
    fn from(source: AuditError) -> Self {
        Self::Audit { source }
    }
}

impl From<CaError> for BrokerError {
    /// A lifetime outside the policy is 422, a bad CSR 400, a name that cannot be certified
    /// 403, anything else the CA's own failure (500).
    fn from(source: CaError) -> Self {
        let status = match &source {
            CaError::TtlTooShort { .. }
            | CaError::TtlTooLong { .. }
            | CaError::MaxTtlBelowMinimum { .. }
            | CaError::CaExpiresFirst { .. } => 422,
            CaError::InvalidCsr { .. } | CaError::CsrSignature | CaError::UnsupportedKey { .. } => {
                400
            }
            CaError::InvalidName { .. } => 403,
            _ => 500,
        };
        Self::Certificate { status, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jitgate_store::RequestState;

    #[test]
    fn store_refusals_become_the_documented_status_codes() {
        let cases: Vec<(&str, StoreError, u16)> = vec![
            (
                "not pending",
                StoreError::RequestNotPending {
                    id: "r-00000001".into(),
                    state: RequestState::Denied,
                    action: "approved",
                },
                409,
            ),
            (
                "own request",
                StoreError::SelfDecision {
                    id: "r-00000001".into(),
                    user: "bob".into(),
                    action: "approve",
                },
                403,
            ),
            (
                "unknown",
                StoreError::RequestNotFound {
                    id: "r-00000001".into(),
                },
                404,
            ),
            (
                "already revoked",
                StoreError::AlreadyRevoked {
                    id: "g-00000001".into(),
                    at: 0,
                    by: "x".into(),
                },
                409,
            ),
            (
                "random failed",
                StoreError::Random("no entropy".into()),
                503,
            ),
        ];
        for (name, store, code) in cases {
            let message = store.to_string();
            let err = BrokerError::from(store);
            assert_eq!(err.http_status(), code, "{name}");
            assert_eq!(
                err.to_string(),
                message,
                "{name}: the store's message is kept"
            );
        }
    }

    #[test]
    fn certificate_errors_by_cause() {
        let long = BrokerError::from(CaError::TtlTooLong {
            requested: std::time::Duration::from_secs(7200),
            maximum: std::time::Duration::from_secs(3600),
        });
        assert_eq!(long.http_status(), 422);
        assert!(long.to_string().contains("ask for 1h or less"), "{long}");
        assert_eq!(BrokerError::from(CaError::CsrSignature).http_status(), 400);
        assert!(BrokerError::BearerOnly.is_refusal());
        assert!(!BrokerError::bad_request("x").is_refusal());
    }
}
