//! [`GrantStore`] on SQLite: the embedded default for a single gateway replica.
//!
//! The database runs in WAL mode (readers never wait for the writer) with `synchronous = FULL`
//! (a revocation that returned survives a power loss), a busy timeout so concurrent writers
//! queue instead of failing, and foreign keys on. Every grant write is a single statement, so
//! SQLite takes the write lock before reading the row it changes: two concurrent revocations of
//! one grant cannot both succeed. (Request writes that need several statements take the write
//! lock first with `BEGIN IMMEDIATE`; see `sqlite_request`.)

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::grant::validate_revocation;
use crate::rows::{Embedded, grant_from_row};
use crate::{Clock, Grant, GrantFilter, GrantId, GrantStore, NewGrant, StoreError, SystemClock};

/// How long a writer waits for another writer before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Mode of a newly created database file.
pub const DATABASE_FILE_MODE: u32 = 0o600;

/// How many fresh ids `create_grant` draws before giving up on collisions.
const ID_ATTEMPTS: u32 = 8;

/// The SQLite migrations, embedded in the binary (files in `migrations/sqlite/`).
pub(crate) const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "grants",
        include_str!("../migrations/sqlite/0001_grants.sql"),
    ),
    (
        2,
        "access_requests",
        include_str!("../migrations/sqlite/0002_access_requests.sql"),
    ),
];

pub(crate) const COLUMNS: &str = "id, user_name, profile, namespaces, pod_name_glob, pod_label_selector, \
                       reason, created_by, created_at, expires_at, revoked_at, revoked_by, \
                       revoke_reason";

/// Grants in a SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    pub(crate) clock: Arc<dyn Clock>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (mode 0600, missing parent directories 0700)
    /// if needed, and applies any pending migrations.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        create_private_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        Self::from_pool(pool).await
    }

    /// A private in-memory database, for tests. It lives as long as the store (one connection).
    pub async fn open_in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: PathBuf::from(":memory:"),
                source,
            })?;
        Self::from_pool(pool).await
    }

    async fn from_pool(pool: SqlitePool) -> Result<Self, StoreError> {
        let migrator = Migrator::new(Embedded(SQLITE_MIGRATIONS))
            .await
            .map_err(StoreError::Migrate)?;
        migrator.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(Self {
            pool,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same store reading "now" from `clock` (for tests of expiry).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Closes every connection; pending queries finish first.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn fetch(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM grants WHERE id = ?1");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::Database)?;
        row.as_ref().map(grant_from_row).transpose()
    }
}

#[async_trait]
impl GrantStore for SqliteStore {
    async fn create_grant(&self, new: NewGrant) -> Result<Grant, StoreError> {
        let now = self.clock.now();
        new.validate(now)?;
        let namespaces =
            serde_json::to_string(&new.namespaces).map_err(|e| StoreError::InvalidGrant {
                field: "namespaces",
                reason: e.to_string(),
            })?;
        let sql = format!(
            "INSERT INTO grants (id, user_name, profile, namespaces, pod_name_glob, \
             pod_label_selector, reason, created_by, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING {COLUMNS}"
        );
        for _ in 0..ID_ATTEMPTS {
            let id = GrantId::from_random_bytes(crate::id::random_bytes()?);
            let inserted = sqlx::query(&sql)
                .bind(id.as_str())
                .bind(&new.user)
                .bind(&new.profile)
                .bind(&namespaces)
                .bind(new.pod_name_glob.as_deref())
                .bind(new.pod_label_selector.as_deref())
                .bind(&new.reason)
                .bind(&new.created_by)
                .bind(now)
                .bind(new.expires_at)
                .fetch_one(&self.pool)
                .await;
            match inserted {
                Ok(row) => return grant_from_row(&row),
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => continue,
                Err(e) => return Err(StoreError::Database(e)),
            }
        }
        Err(StoreError::IdsExhausted(ID_ATTEMPTS))
    }

    async fn get(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        self.fetch(id).await
    }

    async fn list(&self, filter: &GrantFilter) -> Result<Vec<Grant>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM grants \
             WHERE (?1 IS NULL OR user_name = ?1) \
               AND (?2 = 0 OR (revoked_at IS NULL AND expires_at > ?3)) \
             ORDER BY created_at DESC, id"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.user.as_deref())
            .bind(filter.active_only)
            .bind(self.clock.now())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::Database)?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn revoke(&self, id: &GrantId, by: &str, reason: &str) -> Result<Grant, StoreError> {
        validate_revocation(by, reason)?;
        let now = self.clock.now();
        // One statement: the write lock is taken before the row is read, so of two concurrent
        // revocations exactly one finds `revoked_at IS NULL`.
        let sql = format!(
            "UPDATE grants SET revoked_at = ?1, revoked_by = ?2, revoke_reason = ?3 \
             WHERE id = ?4 AND revoked_at IS NULL AND expires_at > ?1 \
             RETURNING {COLUMNS}"
        );
        let updated = sqlx::query(&sql)
            .bind(now)
            .bind(by)
            .bind(reason)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::Database)?;
        if let Some(row) = updated {
            return grant_from_row(&row);
        }
        crate::grant::why_not_revoked(id, self.fetch(id).await?)
    }

    async fn active_grants(&self, now: i64) -> Result<Vec<Grant>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM grants WHERE revoked_at IS NULL AND expires_at > ?1 \
             ORDER BY user_name, id"
        );
        let rows = sqlx::query(&sql)
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::Database)?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn change_counter(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT value FROM change_counter WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::Database)
    }
}

/// Creates the database file 0600 (and its directory 0700) so SQLite never creates it with the
/// process umask; SQLite gives the `-wal` and `-shm` files the same mode.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|source| StoreError::Io {
                action: "create the directory of",
                path: path.to_path_buf(),
                source,
            })?;
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(DATABASE_FILE_MODE)
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::Io {
            action: "create",
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migration file that is not embedded would never run in a deployed binary.
    #[test]
    fn every_migration_file_is_embedded() {
        crate::rows::assert_embedded("migrations/sqlite", SQLITE_MIGRATIONS);
    }
}
