//! The one error type of this crate.

use std::path::PathBuf;

/// Everything that can go wrong while opening the store or reading and writing grants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file or its directory could not be prepared.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The database could not be opened.
    #[error(
        "could not open the grant database {}: {source}; check the path, its permissions and \
         free disk space",
        path.display()
    )]
    Open {
        /// The database file.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// The PostgreSQL server could not be reached or refused the connection.
    #[error(
        "could not connect to the PostgreSQL grant database {target}: {source}; check the URL \
         (host, port, database, user and password) and that the server runs and accepts this user"
    )]
    Connect {
        /// The URL without its password.
        target: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// The schema could not be brought up to date.
    #[error(
        "could not migrate the grant database: {0}; if a newer jitgate already migrated it, run \
         that version (or restore a backup)"
    )]
    Migrate(#[source] sqlx::migrate::MigrateError),

    /// A query failed.
    #[error(
        "grant database query failed: {0}; retry, and if it persists check the database file \
         and the disk"
    )]
    Database(#[source] sqlx::Error),

    /// No grant has this id.
    #[error("no grant {id}; check the id against the list of grants")]
    NotFound {
        /// The id asked for.
        id: String,
    },

    /// The grant was already revoked; revocation is final and is not repeated.
    #[error("grant {id} was already revoked at {} by {by}; nothing to do", rfc3339(*at))]
    AlreadyRevoked {
        /// The grant.
        id: String,
        /// When it was revoked.
        at: i64,
        /// Who revoked it.
        by: String,
    },

    /// The grant already expired; there is nothing left to revoke.
    #[error("grant {id} already expired at {}; nothing to revoke", rfc3339(*at))]
    Expired {
        /// The grant.
        id: String,
        /// When it expired.
        at: i64,
    },

    /// A field of a new grant or a revocation is out of bounds.
    #[error("invalid grant: {field} {reason}")]
    InvalidGrant {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// Text that should be a grant or access request id is not one.
    #[error(transparent)]
    InvalidId(#[from] jitgate_ids::IdError),

    /// A stored row cannot be read back as a grant.
    #[error("grant {id} in the database is damaged: {reason}; restore the database from a backup")]
    Corrupt {
        /// The grant's id as stored.
        id: String,
        /// What is wrong.
        reason: String,
    },

    /// The operating system's random number generator failed.
    #[error("could not draw a random grant id: {0}; check the system's entropy source")]
    Random(String),

    /// No access request has this id.
    #[error("no access request {id}; check the id against the list of requests (kubectl jit ls)")]
    RequestNotFound {
        /// The id asked for.
        id: String,
    },

    /// A field of a new access request, approval or decision is out of bounds.
    #[error("invalid access request: {field} {reason}")]
    InvalidRequest {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The request is not pending, so it can no longer be approved, denied or cancelled.
    #[error("{id} is {state}, not pending: it can no longer be {action}{}", next_step(*state))]
    RequestNotPending {
        /// The request.
        id: String,
        /// Its state.
        state: crate::RequestState,
        /// What was attempted: `approved`, `denied` or `cancelled`.
        action: &'static str,
    },

    /// The requester tried to approve or deny their own request.
    #[error("{user} asked for {id} and may not {action} it; ask someone in its approver groups")]
    SelfDecision {
        /// The request.
        id: String,
        /// The requester.
        user: String,
        /// `approve` or `deny`.
        action: &'static str,
    },

    /// Someone other than the requester tried to cancel a request.
    #[error(
        "only {requester}, who asked for {id}, may cancel it; deny it instead if you are an approver"
    )]
    NotRequester {
        /// The request.
        id: String,
        /// Who asked for it.
        requester: String,
    },

    /// The approver already approved this request; an approver counts once.
    #[error("{user} already approved {id}; it needs approvals from other people")]
    AlreadyApproved {
        /// The request.
        id: String,
        /// The approver.
        user: String,
    },

    /// The grant is not a break-glass grant awaiting review.
    #[error("grant {id} is not a break-glass grant; only break-glass grants are reviewed")]
    NotBreakGlass {
        /// The grant.
        id: String,
    },

    /// The break-glass grant was already reviewed; a review is final.
    #[error("grant {id} was already reviewed at {} by {by}; a review is final", rfc3339(*at))]
    AlreadyReviewed {
        /// The grant.
        id: String,
        /// Who reviewed it.
        by: String,
        /// When.
        at: i64,
    },

    /// The grant's own user tried to review it.
    #[error(
        "{user} holds grant {id} and may not review it; someone else must review break-glass use"
    )]
    SelfReview {
        /// The grant.
        id: String,
        /// The grant's user.
        user: String,
    },

    /// A stored row cannot be read back as an access request.
    #[error(
        "access request {id} in the database is damaged: {reason}; restore the database from a \
         backup"
    )]
    CorruptRequest {
        /// The request's id as stored.
        id: String,
        /// What is wrong.
        reason: String,
    },

    /// Every freshly drawn grant id was already taken.
    #[error(
        "could not find a free grant id after {0} attempts; the id space is nearly full, please \
         report this"
    )]
    IdsExhausted(u32),
}

/// What the person can still do about a request in `state`.
fn next_step(state: crate::RequestState) -> &'static str {
    use crate::RequestState::{Active, Approved, Cancelled, Denied, Expired, Pending, Revoked};
    match state {
        Active | Approved => "; it is already approved",
        Expired | Revoked => "; its access is over, and the requester can ask again",
        Denied | Cancelled => "; the requester can ask again",
        Pending => "",
    }
}

/// Formats unix seconds as `2025-01-31T03:17:02Z` for messages.
pub(crate) fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
            ))
            .ok()
        })
        .unwrap_or_else(|| format!("unix time {secs}"))
}
