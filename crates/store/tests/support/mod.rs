//! The databases the store's tests run on: a fresh SQLite file, or a fresh database on the
//! PostgreSQL server named by `JITGATE_TEST_POSTGRES_URL` (`scripts/postgres.sh` starts one;
//! `make test` always does, and sets `JITGATE_REQUIRE_POSTGRES=1` so a missing server fails the
//! run instead of skipping). Each test gets a database of its own.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use jitgate_store::{Clock, PgStore, RequestStore, SqliteStore};

/// One fresh database.
pub enum Db {
    Sqlite(tempfile::TempDir, PathBuf),
    Postgres(String),
}

impl Db {
    pub fn sqlite() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("state/grants.db");
        Db::Sqlite(tmp, path)
    }

    /// A new, empty database on the test server; `None` (after saying so) when no server is
    /// configured and none is required.
    pub async fn postgres() -> Option<Self> {
        let Ok(server) = std::env::var("JITGATE_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("JITGATE_REQUIRE_POSTGRES").is_none(),
                "JITGATE_REQUIRE_POSTGRES is set but JITGATE_TEST_POSTGRES_URL is not: start a \
                 server with scripts/postgres.sh run DIR -- cargo test"
            );
            eprintln!(
                "no PostgreSQL for this test (JITGATE_TEST_POSTGRES_URL unset): skipped; make test \
                 runs it"
            );
            return None;
        };
        let name = format!("jitgate_test_{}", hex_random());
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&server)
            .await
            .expect("connecting to JITGATE_TEST_POSTGRES_URL");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let (base, query) = match server.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (server.as_str(), String::new()),
        };
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        Some(Db::Postgres(format!("{base}/{name}{query}")))
    }

    /// A store on this database reading "now" from `clock` (every call is another connection
    /// pool: another replica, CLI or broker).
    pub async fn open(&self, clock: Arc<dyn Clock>) -> Arc<dyn RequestStore> {
        match self {
            Db::Sqlite(_, path) => {
                Arc::new(SqliteStore::open(path).await.unwrap().with_clock(clock))
            }
            Db::Postgres(url) => Arc::new(PgStore::open(url).await.unwrap().with_clock(clock)),
        }
    }

    /// A store on this database with the system clock.
    pub async fn open_now(&self) -> Arc<dyn RequestStore> {
        self.open(Arc::new(jitgate_store::SystemClock)).await
    }

    /// Runs raw SQL on this database (schema tests).
    pub async fn raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(_, path) => {
                let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
                    "sqlite://{}",
                    path.display()
                ))
                .await?;
                sqlx::raw_sql("PRAGMA foreign_keys = ON")
                    .execute(&mut conn)
                    .await?;
                sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
            }
            Db::Postgres(url) => {
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await.map(drop)
            }
        }
    }
}

fn hex_random() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// For each named `async fn NAME(db: Db)`, a test on SQLite (`sqlite::NAME`) and one on
/// PostgreSQL (`postgres::NAME`).
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Db::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::support::Db::postgres().await {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}
