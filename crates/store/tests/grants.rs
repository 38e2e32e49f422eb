//! The grant store as the broker, the CLI and the gateway use it, on a real database: the cases
//! named in `on_both_databases!` run on a SQLite file and on PostgreSQL (`sqlite::…`,
//! `postgres::…`); the others are about SQLite files.

// Test helpers unwrap like the tests do: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jitgate_store::{
    Clock, Grant, GrantFilter, GrantId, GrantState, GrantStore, ManualClock, NewGrant, SqliteStore,
    StoreError,
};

mod support;
use support::Db;

const T0: i64 = 1_750_000_000;

on_both_databases!(
    expiry_and_revocation_remove_grants_from_the_active_set,
    revoking_twice_or_after_expiry_is_a_clean_error_and_never_reopens,
    concurrent_revokes_of_one_grant_yield_exactly_one_success,
    change_counter_moves_with_every_write_and_is_seen_by_another_connection,
    polling_gateway_sees_a_revocation_within_a_second,
    new_grants_are_validated,
    the_schema_keeps_terms_and_revocations_final,
);

fn new_grant(user: &str, minutes: i64) -> NewGrant {
    NewGrant {
        user: user.to_owned(),
        profile: "debug".to_owned(),
        namespaces: vec!["payments".to_owned(), "checkout".to_owned()],
        pod_name_glob: Some("api-*".to_owned()),
        pod_label_selector: Some("app=api,tier!=db".to_owned()),
        reason: "INC-4211: checkout latency".to_owned(),
        created_by: "oncall-bot".to_owned(),
        expires_at: T0 + minutes * 60,
    }
}

async fn open_at(path: &Path, clock: &Arc<ManualClock>) -> SqliteStore {
    SqliteStore::open(path)
        .await
        .unwrap()
        .with_clock(clock.clone())
}

fn db_path() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("state/grants.db");
    (tmp, path)
}

#[tokio::test]
async fn create_get_list_and_reopen() {
    let (_tmp, path) = db_path();
    let clock = Arc::new(ManualClock::new(T0));
    let store = open_at(&path, &clock).await;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let a = store.create_grant(new_grant("alice", 30)).await.unwrap();
    clock.advance(1);
    let b = store.create_grant(new_grant("bob", 60)).await.unwrap();
    clock.advance(1);
    let mut plain = new_grant("alice", 5);
    plain.pod_name_glob = None;
    plain.pod_label_selector = None;
    let c = store.create_grant(plain).await.unwrap();

    assert!(a.id.as_str().starts_with("g-") && a.id.as_str().len() == 10);
    assert_ne!(a.id, b.id);
    assert_eq!(a.created_at, T0);
    assert_eq!(a.expires_at, T0 + 1800);
    assert_eq!(a.namespaces, vec!["payments", "checkout"]);
    assert_eq!(a.pod_label_selector.as_deref(), Some("app=api,tier!=db"));
    assert_eq!(c.pod_name_glob, None);
    assert_eq!(a.state_at(clock.now()), GrantState::Active);
    assert_eq!(store.get(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store
            .get(&GrantId::parse("g-00000000").unwrap())
            .await
            .unwrap(),
        None
    );

    let all = store.list(&GrantFilter::default()).await.unwrap();
    assert_eq!(
        ids(&all),
        ids(&[c.clone(), b.clone(), a.clone()]),
        "newest first"
    );
    let alices = store
        .list(&GrantFilter {
            user: Some("alice".to_owned()),
            active_only: false,
        })
        .await
        .unwrap();
    assert_eq!(ids(&alices), ids(&[c.clone(), a.clone()]));

    let mut raw = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        path.display()
    ))
    .await
    .unwrap();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(journal, "wal", "the file itself is in WAL mode");

    store.close().await;
    let reopened = open_at(&path, &clock).await;
    assert_eq!(reopened.get(&b.id).await.unwrap(), Some(b));
    assert_eq!(
        reopened.list(&GrantFilter::default()).await.unwrap().len(),
        3
    );
}

fn ids(grants: &[Grant]) -> Vec<String> {
    grants.iter().map(|g| g.id.to_string()).collect()
}

async fn expiry_and_revocation_remove_grants_from_the_active_set(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;
    let short = store.create_grant(new_grant("alice", 5)).await.unwrap();
    let long = store.create_grant(new_grant("alice", 60)).await.unwrap();
    let other = store.create_grant(new_grant("bob", 60)).await.unwrap();

    let active = store.active_grants(T0).await.unwrap();
    assert_eq!(active.len(), 3);

    // Five minutes later the short grant has expired: `expires_at` is exclusive.
    clock.set(T0 + 300);
    let active = store.active_grants(T0 + 300).await.unwrap();
    assert_eq!(ids(&active), ids(&[long.clone(), other.clone()]));
    let active_alice = store
        .list(&GrantFilter {
            user: Some("alice".to_owned()),
            active_only: true,
        })
        .await
        .unwrap();
    assert_eq!(ids(&active_alice), vec![long.id.to_string()]);

    let revoked = store
        .revoke(&long.id, "security@example.com", "done")
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(T0 + 300));
    assert_eq!(revoked.revoked_by.as_deref(), Some("security@example.com"));
    assert_eq!(revoked.revoke_reason.as_deref(), Some("done"));
    assert_eq!(revoked.state_at(T0 + 300), GrantState::Revoked);
    let active = store.active_grants(T0 + 300).await.unwrap();
    assert_eq!(ids(&active), ids(&[other]));

    let stored_short = store.get(&short.id).await.unwrap().unwrap();
    assert_eq!(stored_short.state_at(T0 + 300), GrantState::Expired);
}

async fn revoking_twice_or_after_expiry_is_a_clean_error_and_never_reopens(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;
    let g = store.create_grant(new_grant("alice", 30)).await.unwrap();
    let first = store.revoke(&g.id, "carol", "first").await.unwrap();

    clock.advance(10);
    let err = store.revoke(&g.id, "dave", "second").await.unwrap_err();
    match &err {
        StoreError::AlreadyRevoked { id, at, by } => {
            assert_eq!(
                (id.as_str(), *at, by.as_str()),
                (g.id.as_str(), T0, "carol")
            );
        }
        other => panic!("expected AlreadyRevoked, got {other}"),
    }
    assert!(
        err.to_string()
            .contains("was already revoked at 2025-06-15T15:06:40Z by carol"),
        "{err}"
    );
    assert_eq!(store.get(&g.id).await.unwrap(), Some(first), "unchanged");

    let expiring = store.create_grant(new_grant("alice", 1)).await.unwrap();
    clock.advance(60);
    let err = store
        .revoke(&expiring.id, "carol", "too late")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Expired { .. }), "{err}");
    let stored = store.get(&expiring.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, None);

    let missing = GrantId::parse("g-00000000").unwrap();
    let err = store.revoke(&missing, "carol", "x").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");

    let err = store.revoke(&g.id, "", "x").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidGrant {
                field: "revoked_by",
                ..
            }
        ),
        "{err}"
    );
}

/// Two gateways' worth of connections race to revoke the same grants: one wins each time.
async fn concurrent_revokes_of_one_grant_yield_exactly_one_success(db: Db) {
    let first = db.open_now().await;
    let second = db.open_now().await;
    let far = |user: &str| {
        let mut g = new_grant(user, 0);
        g.expires_at = i64::from(i32::MAX) * 2;
        g
    };
    for round in 0..5 {
        let grant = first
            .create_grant(far(&format!("user-{round}")))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..12 {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let id = grant.id.clone();
            tasks.push(tokio::spawn(async move {
                store.revoke(&id, &format!("revoker-{i}"), "race").await
            }));
        }
        let mut wins = Vec::new();
        let mut already = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(g) => wins.push(g),
                Err(StoreError::AlreadyRevoked { .. }) => already += 1,
                Err(other) => panic!("unexpected error: {other}"),
            }
        }
        assert_eq!(wins.len(), 1, "round {round}");
        assert_eq!(already, 11, "round {round}");
        let stored = second.get(&grant.id).await.unwrap().unwrap();
        assert_eq!(stored.revoked_by, wins[0].revoked_by);
    }
}

async fn change_counter_moves_with_every_write_and_is_seen_by_another_connection(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let broker = db.open(clock.clone()).await;
    let gateway = db.open(clock.clone()).await;

    let c0 = gateway.change_counter().await.unwrap();
    let g = broker.create_grant(new_grant("alice", 30)).await.unwrap();
    let c1 = gateway.change_counter().await.unwrap();
    assert!(c1 > c0);
    assert_eq!(gateway.active_grants(T0).await.unwrap().len(), 1);

    // Reads and refused writes leave it alone.
    broker.list(&GrantFilter::default()).await.unwrap();
    broker.get(&g.id).await.unwrap();
    broker.active_grants(T0).await.unwrap();
    let mut bad = new_grant("alice", 30);
    bad.namespaces.clear();
    broker.create_grant(bad).await.unwrap_err();
    assert_eq!(gateway.change_counter().await.unwrap(), c1);

    broker.revoke(&g.id, "carol", "done").await.unwrap();
    let c2 = gateway.change_counter().await.unwrap();
    assert!(c2 > c1);
    assert!(gateway.active_grants(T0).await.unwrap().is_empty());

    broker.revoke(&g.id, "carol", "again").await.unwrap_err();
    assert_eq!(gateway.change_counter().await.unwrap(), c2);
}

/// What the gateway does: poll the counter every 200 ms and rebuild on change. A revocation
/// reaches the index well within a second.
async fn polling_gateway_sees_a_revocation_within_a_second(db: Db) {
    let broker = db.open_now().await;
    let gateway = db.open_now().await;
    let mut g = new_grant("alice", 0);
    g.expires_at = i64::from(i32::MAX) * 2;
    let grant = broker.create_grant(g).await.unwrap();

    let now = T0;
    let poller = tokio::spawn(async move {
        let mut seen = gateway.change_counter().await.unwrap();
        let mut index = gateway.active_grants(now).await.unwrap();
        assert_eq!(index.len(), 1);
        let started = std::time::Instant::now();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let counter = gateway.change_counter().await.unwrap();
            if counter != seen {
                seen = counter;
                index = gateway.active_grants(now).await.unwrap();
            }
            if index.is_empty() {
                return started.elapsed();
            }
            assert!(started.elapsed().as_secs() < 5, "revocation never arrived");
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let revoked_at = std::time::Instant::now();
    broker.revoke(&grant.id, "security", "stop").await.unwrap();
    let waited = poller.await.unwrap();
    assert!(
        revoked_at.elapsed() < std::time::Duration::from_secs(1),
        "{waited:?}"
    );
}

async fn new_grants_are_validated(db: Db) {
    let store = db.open(Arc::new(ManualClock::new(T0))).await;
    type Breaker = fn(&mut NewGrant);
    let cases: &[(&str, Breaker)] = &[
        ("user", |g| g.user.clear()),
        ("profile", |g| g.profile = "a\u{0}b".to_owned()),
        ("created_by", |g| g.created_by = "x".repeat(257)),
        ("namespaces", |g| g.namespaces.clear()),
        ("namespaces", |g| g.namespaces = vec![String::new()]),
        ("namespaces", |g| {
            g.namespaces = (0..65).map(|i| format!("ns{i}")).collect();
        }),
        ("reason", |g| g.reason = "r".repeat(4097)),
        ("pod_label_selector", |g| {
            g.pod_label_selector = Some("\u{1b}[2J".to_owned());
        }),
        ("expires_at", |g| g.expires_at = T0),
    ];
    for (field, breaker) in cases {
        let mut g = new_grant("alice", 30);
        breaker(&mut g);
        match store.create_grant(g).await {
            Err(StoreError::InvalidGrant { field: f, .. }) => assert_eq!(f, *field),
            other => panic!("{field}: expected InvalidGrant, got {other:?}"),
        }
    }
    assert!(
        store
            .list(&GrantFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    // A reason may span lines.
    let mut multi = new_grant("alice", 30);
    multi.reason = "INC-1\n\tcheckout down".to_owned();
    store.create_grant(multi).await.unwrap();
}

/// The database itself refuses to reopen, rewrite or delete a grant, whoever writes to it.
async fn the_schema_keeps_terms_and_revocations_final(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;
    let g = store.create_grant(new_grant("alice", 30)).await.unwrap();
    store.revoke(&g.id, "carol", "done").await.unwrap();

    let id = g.id.as_str();
    let mut cases = vec![
        format!("UPDATE grants SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL WHERE id = '{id}'"),
        format!("UPDATE grants SET revoked_by = 'mallory' WHERE id = '{id}'"),
        format!("UPDATE grants SET expires_at = expires_at + 3600 WHERE id = '{id}'"),
        format!("UPDATE grants SET user_name = 'mallory' WHERE id = '{id}'"),
        format!("DELETE FROM grants WHERE id = '{id}'"),
        "INSERT INTO grants (id, user_name, profile, namespaces, reason, created_by, created_at, expires_at) \
         VALUES ('bad-id', 'x', 'p', '[]', '', 'x', 1, 2)"
            .to_owned(),
        "INSERT INTO grants (id, user_name, profile, namespaces, reason, created_by, created_at, expires_at) \
         VALUES ('g-0000000a', 'x', 'p', '[]', '', 'x', 2, 1)"
            .to_owned(),
    ];
    if matches!(db, Db::Postgres(_)) {
        // Row triggers do not see TRUNCATE; a statement trigger refuses it.
        cases.push("TRUNCATE grants CASCADE".to_owned());
    }
    for sql in cases {
        assert!(db.raw(&sql).await.is_err(), "{sql} must fail");
    }
    let stored = store.get(&g.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_by.as_deref(), Some("carol"));
    assert_eq!(stored.user, "alice");
}

#[tokio::test]
async fn in_memory_store_works_behind_the_trait_object() {
    let store: Arc<dyn GrantStore> = Arc::new(
        SqliteStore::open_in_memory()
            .await
            .unwrap()
            .with_clock(Arc::new(ManualClock::new(T0))),
    );
    let g = store.create_grant(new_grant("alice", 30)).await.unwrap();
    assert_eq!(store.active_grants(T0).await.unwrap().len(), 1);
    store.revoke(&g.id, "carol", "done").await.unwrap();
    assert!(store.active_grants(T0).await.unwrap().is_empty());
    assert_eq!(store.change_counter().await.unwrap(), 2);
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("grants.db");
    std::fs::write(
        &path,
        "this is not a database, it is a text file of some length\n".repeat(100),
    )
    .unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, StoreError::Open { .. } | StoreError::Migrate(_)),
        "{msg}"
    );
    assert!(msg.contains("grant database"), "{msg}");
}
