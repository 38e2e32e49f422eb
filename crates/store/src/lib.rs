//! Grants in a database: created by the broker, revoked by people, read by the gateway.
//!
//! [`GrantStore`] is the interface; [`SqliteStore`] is the embedded implementation (a later one
//! adds PostgreSQL, with its own migrations under `migrations/postgres/`). Timestamps are unix
//! seconds (UTC) throughout. Once set, a timestamp is never cleared and a revoked grant never
//! reopens; the database enforces this with triggers.
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
mod sqlite;

use async_trait::async_trait;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::StoreError;
pub use grant::{
    Grant, GrantFilter, GrantId, GrantState, MAX_NAME_LEN, MAX_NAMESPACES, MAX_REASON_LEN,
    MAX_SELECTOR_LEN, NewGrant,
};
pub use sqlite::{BUSY_TIMEOUT, DATABASE_FILE_MODE, SqliteStore};

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
