//! [`GrantStore`] on PostgreSQL: for several gateway replicas behind a load balancer.
//!
//! Every replica opens the same database and polls [`GrantStore::change_counter`], so a
//! revocation made through any replica (or `jitgate grant revoke`) reaches all of them within
//! one poll. Transactions run at PostgreSQL's default `READ COMMITTED`; a conditional single
//! statement (`UPDATE … WHERE revoked_at IS NULL`) re-reads the row after waiting for a
//! concurrent writer's lock, so of two concurrent revocations of one grant exactly one succeeds.
//! Multi-statement transitions lock the request row first (see `postgres_request`). The
//! migrations (`migrations/postgres/`) carry the same rules as SQLite's as PL/pgSQL triggers; the
//! migrator takes an advisory lock, so replicas starting together migrate once.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::grant::validate_revocation;
use crate::rows::{Embedded, grant_from_row};
use crate::sqlite::COLUMNS;
use crate::{Clock, Grant, GrantFilter, GrantId, GrantStore, NewGrant, StoreError, SystemClock};

/// The PostgreSQL migrations, embedded in the binary (files in `migrations/postgres/`).
pub(crate) const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "grants",
        include_str!("../migrations/postgres/0001_grants.sql"),
    ),
    (
        2,
        "access_requests",
        include_str!("../migrations/postgres/0002_access_requests.sql"),
    ),
];

/// How long opening the store, or any query, waits for a free connection.
pub const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many fresh ids are drawn before giving up on collisions.
const ID_ATTEMPTS: u32 = 8;

/// Grants (and requests) in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) clock: Arc<dyn Clock>,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, or
    /// `postgres:///database?host=/run/postgresql` for a Unix socket) and applies any pending
    /// migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let target = redact_password(url);
        let connect_error = |source| StoreError::Connect {
            target: target.clone(),
            source,
        };
        let options = PgConnectOptions::from_str(url).map_err(connect_error)?;
        // One connection first: the pool would report any failure as a timeout, while this
        // says what went wrong (refused, unknown host, wrong password, no such database).
        let probe = tokio::time::timeout(
            POSTGRES_ACQUIRE_TIMEOUT,
            PgConnection::connect_with(&options),
        )
        .await
        .map_err(|_| connect_error(sqlx::Error::PoolTimedOut))?
        .map_err(connect_error)?;
        probe.close().await.map_err(connect_error)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        let migrator = Migrator::new(Embedded(POSTGRES_MIGRATIONS))
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
        let sql = format!("SELECT {COLUMNS} FROM grants WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::Database)?;
        row.as_ref().map(grant_from_row).transpose()
    }
}

/// `url` with its password (if any) replaced, for messages and logs.
#[must_use]
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_owned(),
    }
}

/// Inserts a grant created at `now` under a fresh id (inside the caller's transaction, if any).
pub(crate) async fn insert_grant(
    conn: &mut PgConnection,
    new: &NewGrant,
    now: i64,
    needs_review: bool,
) -> Result<Grant, StoreError> {
    new.validate(now)?;
    let namespaces =
        serde_json::to_string(&new.namespaces).map_err(|e| StoreError::InvalidGrant {
            field: "namespaces",
            reason: e.to_string(),
        })?;
    // A colliding id changes nothing (and, unlike a unique violation, does not abort the
    // transaction), so another id is drawn.
    let sql = format!(
        "INSERT INTO grants (id, user_name, profile, namespaces, pod_name_glob, \
         pod_label_selector, reason, created_by, created_at, expires_at, needs_review) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO NOTHING RETURNING {COLUMNS}"
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
            .bind(i64::from(needs_review))
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::Database)?;
        if let Some(row) = inserted {
            return grant_from_row(&row);
        }
    }
    Err(StoreError::IdsExhausted(ID_ATTEMPTS))
}

#[async_trait]
impl GrantStore for PgStore {
    async fn create_grant(&self, new: NewGrant) -> Result<Grant, StoreError> {
        let now = self.clock.now();
        let mut conn = self.pool.acquire().await.map_err(StoreError::Database)?;
        insert_grant(&mut conn, &new, now, false).await
    }

    async fn get(&self, id: &GrantId) -> Result<Option<Grant>, StoreError> {
        self.fetch(id).await
    }

    async fn list(&self, filter: &GrantFilter) -> Result<Vec<Grant>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM grants \
             WHERE ($1::text IS NULL OR user_name = $1) \
               AND (NOT $2 OR (revoked_at IS NULL AND expires_at > $3)) \
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
        // One statement: a concurrent revocation holds the row lock, and this one re-checks
        // `revoked_at IS NULL` on the row it committed, so exactly one succeeds.
        let sql = format!(
            "UPDATE grants SET revoked_at = $1, revoked_by = $2, revoke_reason = $3 \
             WHERE id = $4 AND revoked_at IS NULL AND expires_at > $1 \
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
            "SELECT {COLUMNS} FROM grants WHERE revoked_at IS NULL AND expires_at > $1 \
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_password("postgres://jitgate:s3cret@db:5432/jitgate?sslmode=require"),
            "postgres://jitgate:***@db:5432/jitgate?sslmode=require"
        );
        assert_eq!(
            redact_password("postgres://a:b:c@h/d"),
            "postgres://a:***@h/d"
        );
        assert_eq!(
            redact_password("postgres://jitgate@db/jitgate"),
            "postgres://jitgate@db/jitgate"
        );
        assert_eq!(
            redact_password("postgres:///jitgate?host=/run/postgresql"),
            "postgres:///jitgate?host=/run/postgresql"
        );
        assert_eq!(redact_password("not a url"), "not a url");
    }

    /// A migration file that is not embedded would never run in a deployed binary.
    #[test]
    fn every_migration_file_is_embedded() {
        crate::rows::assert_embedded("migrations/postgres", POSTGRES_MIGRATIONS);
    }
}
