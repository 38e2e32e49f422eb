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

    /// Text that should be a grant id is not one.
    #[error("{id:?} is not a grant id (g- followed by 8 hex digits, like g-7f3a09c1)")]
    InvalidGrantId {
        /// The rejected text (shortened).
        id: String,
    },

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

    /// Every freshly drawn grant id was already taken.
    #[error(
        "could not find a free grant id after {0} attempts; the id space is nearly full, please \
         report this"
    )]
    IdsExhausted(u32),
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
