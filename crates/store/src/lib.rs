//! Grants and access requests in a database: created by the broker, revoked by people, read by
//! the gateway.
//!
//! [`GrantStore`] is the gateway's interface; [`RequestStore`] extends it with access requests,
//! approvals and break-glass reviews for the broker. [`SqliteStore`] is the embedded
//! implementation of both, [`PgStore`] the one for several replicas (each with its migrations,
//! `migrations/sqlite/` and `migrations/postgres/`, enforcing the same rules with triggers);
//! [`StoreLocation`] picks one from a `--store` value. Timestamps are unix seconds (UTC) throughout. Once set, a timestamp
//! is never cleared, a revoked grant never reopens, and a request's state only moves forward;
//! the database enforces this with triggers.
//!
//! The gateway keeps an in-memory index of [`GrantStore::active_grants`] and polls
//! [`GrantStore::change_counter`] (every ~200 ms), rebuilding the index only when the counter
//! moved. Expiry does not move the counter: the index must compare `expires_at` with the clock
//! itself.
//!
//! ```no_run
//! use jitgate_store::{GrantStore, NewGrant, SqliteStore};
//!
//! # async fn demo() -> Result<(), jitgate_store::StoreError> {
//! let store = SqliteStore::open("/var/lib/jitgate/grants.db").await?;
//! let grant = store
//!     .create_grant(NewGrant {
//!         user: "alice@example.com".into(),
//!         profile: "debug".into(),
//!         namespaces: vec!["payments".into()],
//!         pod_name_glob: Some("api-*".into()),
//!         pod_label_selector: None,
//!         reason: "INC-4211".into(),
//!         created_by: "alice@example.com".into(),
//!         expires_at: 1_900_000_000,
//!     })
//!     .await?;
//! store.revoke(&grant.id, "security@example.com", "incident closed").await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod clock;
mod error;
mod grant;
mod id;
mod postgres;
mod postgres_request;
mod request;
mod rows;
mod sqlite;
mod sqlite_request;

use async_trait::async_trait;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use grant::{
    Grant, GrantFilter, GrantId, GrantState, MAX_NAME_LEN, MAX_NAMESPACES, MAX_REASON_LEN,
    MAX_SELECTOR_LEN, NewGrant,
};
pub use postgres::{POSTGRES_ACQUIRE_TIMEOUT, PgStore, redact_password};
pub use request::{
    AccessRequestRecord, Approval, ApprovalsComplete, ApproveNow, GrantRecord, GrantRecordFilter,
    GrantReview, MAX_APPROVALS_REQUIRED, MAX_COMMENT_LEN, MAX_DURATION_SECS, MAX_GROUPS,
    MAX_LIST_LIMIT, MAX_ROUTE_LEN, MAX_TICKET_LEN, NewAccessRequest, NewApproval, RequestFilter,
    RequestId, RequestOutcome, RequestState,
};
pub use sqlite::{BUSY_TIMEOUT, DATABASE_FILE_MODE, SqliteStore};

/// Which database holds the grants: what `--store` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file: the embedded default for one gateway replica.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL: for several replicas sharing grants, requests and revocations.
    Postgres(String),
}

impl StoreLocation {
    /// Reads `sqlite:PATH` (also `sqlite://PATH`) or `postgres://…` (also `postgresql://…`).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(text.to_owned()));
        }
        let path = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"));
        match path {
            Some(path) if !path.is_empty() => Ok(Self::Sqlite(path.into())),
            _ => Err(format!(
                "{:?} is not a store: use sqlite:PATH (a database file) or \
                 postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                redact_password(text)
            )),
        }
    }

    /// Opens (and migrates) the store.
    pub async fn open(&self) -> Result<std::sync::Arc<dyn RequestStore>, StoreError> {
        Ok(match self {
            Self::Sqlite(path) => std::sync::Arc::new(SqliteStore::open(path).await?),
            Self::Postgres(url) => std::sync::Arc::new(PgStore::open(url).await?),
        })
    }
}

impl std::fmt::Display for StoreLocation {
    /// The location for people: a PostgreSQL URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

/// Where grants live. One implementation per database; all behave the same.
///
/// The trait is object safe: hold it as `Arc<dyn GrantStore>` and pick the database at start-up.
#[async_trait]
pub trait GrantStore: Send + Sync + std::fmt::Debug {
    /// Validates `new` and stores it as a grant created now, with a fresh random id.
    async fn create_grant(&self, new: NewGrant) -> Result<Grant, StoreError>;

    /// The grant with this id, if any.
    async fn get(&self, id: &GrantId) -> Result<Option<Grant>, StoreError>;

    /// Grants matching `filter`, newest first.
    async fn list(&self, filter: &GrantFilter) -> Result<Vec<Grant>, StoreError>;

    /// Revokes a grant in force, recording who and why, and returns it as revoked.
    ///
    /// A grant that is already revoked ([`StoreError::AlreadyRevoked`]) or expired
    /// ([`StoreError::Expired`]) is left as it is. Of concurrent revocations of one grant,
    /// exactly one succeeds.
    async fn revoke(&self, id: &GrantId, by: &str, reason: &str) -> Result<Grant, StoreError>;

    /// Every user's grants in force at `now` (unix seconds): what the gateway indexes.
    async fn active_grants(&self, now: i64) -> Result<Vec<Grant>, StoreError>;

    /// A number that changes, in the same transaction, with every write to grants. Cheap enough
    /// to poll every 200 ms.
    async fn change_counter(&self) -> Result<i64, StoreError>;
}

/// Access requests, their approvals and break-glass reviews: what the broker needs on top of
/// grants. Every transition is one transaction with a conditional state check, so concurrent
/// callers (in this process or another) never both succeed at something only one may do.
///
/// Object safe, like [`GrantStore`]: hold it as `Arc<dyn RequestStore>` (and upcast to
/// `Arc<dyn GrantStore>` for the gateway).
#[async_trait]
pub trait RequestStore: GrantStore {
    /// Validates and stores a new request, pending. With `new.approve_now` it is moved
    /// `pending → approved → active` and its grant (`user` = requester, `expires_at` = now +
    /// duration, marked for review when break glass) is created, all in the same transaction.
    async fn submit_request(&self, new: NewAccessRequest) -> Result<RequestOutcome, StoreError>;

    /// Records `approval` of a pending request and, when `complete` says the approvals (the new
    /// one included) are enough, moves it `approved → active` with a new grant whose
    /// `created_by` is this approver — all in one transaction.
    ///
    /// Fails, changing nothing, with [`StoreError::RequestNotFound`],
    /// [`StoreError::RequestNotPending`] (denied, cancelled, already active, expired, …),
    /// [`StoreError::SelfDecision`] (the approver asked for it) or
    /// [`StoreError::AlreadyApproved`]. Of concurrent approvals that would each complete a
    /// request, exactly one creates the grant; the others see it no longer pending.
    async fn approve_request(
        &self,
        id: &RequestId,
        approval: NewApproval,
        complete: &ApprovalsComplete,
    ) -> Result<RequestOutcome, StoreError>;

    /// Denies a pending request (never by its requester), recording who and why.
    async fn deny_request(
        &self,
        id: &RequestId,
        by: &str,
        reason: &str,
    ) -> Result<AccessRequestRecord, StoreError>;

    /// Cancels a pending request; only its requester may.
    async fn cancel_request(
        &self,
        id: &RequestId,
        by: &str,
        reason: Option<&str>,
    ) -> Result<AccessRequestRecord, StoreError>;

    /// The request with this id, if any.
    async fn get_request(&self, id: &RequestId) -> Result<Option<AccessRequestRecord>, StoreError>;

    /// Requests matching `filter`, newest first.
    async fn list_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<AccessRequestRecord>, StoreError>;

    /// Moves every active request whose grant ran out by `now` to expired (`ended_at` = the
    /// grant's expiry) and returns them. (Revoking a grant ends its request by itself.)
    async fn expire_requests(&self, now: i64) -> Result<Vec<AccessRequestRecord>, StoreError>;

    /// Records the after-the-fact review of a break-glass grant (active or ended) by someone
    /// other than its user; it then no longer needs review.
    async fn review_grant(
        &self,
        id: &GrantId,
        by: &str,
        comment: &str,
    ) -> Result<GrantRecord, StoreError>;

    /// The grant with this id, with its request and review, if any.
    async fn grant_record(&self, id: &GrantId) -> Result<Option<GrantRecord>, StoreError>;

    /// Grants matching `filter`, with their requests and reviews, newest first.
    async fn list_grant_records(
        &self,
        filter: &GrantRecordFilter,
    ) -> Result<Vec<GrantRecord>, StoreError>;

    /// A number that changes, in the same transaction, with every write to requests, approvals
    /// and reviews. Cheap enough to poll every 200 ms.
    async fn request_change_counter(&self) -> Result<i64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_locations_are_read_and_shown_without_passwords() {
        assert_eq!(
            StoreLocation::parse("sqlite:/var/lib/jitgate/jitgate.db"),
            Ok(StoreLocation::Sqlite("/var/lib/jitgate/jitgate.db".into()))
        );
        assert_eq!(
            StoreLocation::parse("sqlite://data/j.db"),
            Ok(StoreLocation::Sqlite("data/j.db".into()))
        );
        let pg = StoreLocation::parse("postgresql://jitgate:pw@db:5432/jitgate").unwrap();
        assert_eq!(pg.to_string(), "postgresql://jitgate:***@db:5432/jitgate");
        for bad in ["", "sqlite:", "/var/lib/jitgate.db", "mysql://u:pw@h/d"] {
            let err = StoreLocation::parse(bad).unwrap_err();
            assert!(
                err.contains("sqlite:PATH") && !err.contains("pw@"),
                "{bad}: {err}"
            );
        }
    }
}
