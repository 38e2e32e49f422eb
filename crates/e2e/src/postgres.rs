//! The PostgreSQL server of the test run (`scripts/postgres.sh`, started by `scripts/e2e.sh`),
//! for cases that run gateway replicas on a shared store.

use std::path::PathBuf;
use std::process::Command;

use crate::random::random_name;
use crate::stack::{StackError, StackResult};

/// Where the test run's server is: a `postgres://` URL with a superuser.
pub const SERVER_ENV: &str = "JITGATE_TEST_POSTGRES_URL";

/// Creates an empty database `jitgate_<prefix>_<random>` on the test run's server and returns
/// its URL.
pub fn fresh_database(prefix: &str) -> StackResult<String> {
    let server = std::env::var(SERVER_ENV).map_err(|_| StackError::EnvMissing {
        missing: format!(
            "{SERVER_ENV} (a PostgreSQL server for the replica cases: scripts/e2e.sh starts one; \
             by hand `scripts/postgres.sh up DIR` and export {SERVER_ENV}=$(cat DIR/url))"
        ),
    })?;
    let name = format!("jitgate_{prefix}_{}", random_name(8)).replace('-', "_");
    let createdb = client_binary("createdb")?;
    let out = Command::new(&createdb)
        .arg(format!("--maintenance-db={server}"))
        .arg(&name)
        .output()
        .map_err(|e| StackError::io(format!("running {}", createdb.display()), e))?;
    if !out.status.success() {
        return Err(StackError::unexpected(
            format!("createdb {name}"),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ));
    }
    Ok(with_database(&server, &name))
}

/// `url` naming database `name` instead of its own (query parameters kept).
#[must_use]
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// A PostgreSQL client program from the Debian packages' folder (or `PATH`).
fn client_binary(name: &str) -> StackResult<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.reverse();
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            StackError::unexpected(
                format!("finding {name}"),
                "not in /usr/lib/postgresql/*/bin or PATH; install the Debian package \
                 postgresql-client",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_swapped_and_the_rest_kept() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "jitgate_x"),
            "postgres://u:p@127.0.0.1:5432/jitgate_x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "d"),
            "postgres://u@h/d?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "d"), "postgres://u@h/d");
    }
}
