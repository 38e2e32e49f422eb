//! Access requests, approvals and reviews on a real database, as the broker uses them — each case
//! on a SQLite file and on PostgreSQL (`sqlite::…`, `postgres::…`): every transition, every
//! refusal as a typed error that changes nothing, exactly one grant under concurrent approvals
//! from several connection pools (several brokers), and the schema refusing what no writer may
//! do.

// Test helpers unwrap like the tests do: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use jitgate_store::{
    AccessRequestRecord, ApproveNow, GrantFilter, GrantRecordFilter, GrantState, GrantStore,
    ManualClock, NewAccessRequest, NewApproval, NewGrant, RequestFilter, RequestId, RequestState,
    RequestStore, SqliteStore, StoreError,
};

mod support;
use support::Db;

const T0: i64 = 1_780_000_000;

on_both_databases!(
    a_pending_request_is_approved_and_activated_with_its_grant,
    auto_approved_and_break_glass_requests_are_active_at_once,
    several_approvals_count_each_approver_once,
    approving_what_cannot_be_approved_fails_cleanly,
    concurrent_approvals_yield_exactly_one_grant,
    deny_and_cancel_follow_who_may_and_only_while_pending,
    revoking_a_grant_by_any_writer_revokes_its_request,
    expiry_moves_active_requests_whose_grant_ran_out,
    break_glass_grants_are_reviewed_once_and_never_by_their_user,
    lists_filter_and_come_newest_first,
    new_requests_and_approvals_are_validated,
    the_schema_keeps_request_life_forward_only,
);

fn ask(requester: &str, approvals: u32) -> NewAccessRequest {
    NewAccessRequest {
        requester: requester.to_owned(),
        requester_groups: vec!["payments-dev".to_owned()],
        profile: "oncall-debug".to_owned(),
        namespace: "payments".to_owned(),
        pod_name_glob: Some("api-*".to_owned()),
        pod_label_selector: Some("app=api".to_owned()),
        requested_duration: Some(1800),
        duration: 1800,
        reason: "INC-4211 checkout latency".to_owned(),
        ticket: Some("INC-4211".to_owned()),
        break_glass: false,
        route: format!("needs {approvals} approval(s) from sre-leads or payments-leads"),
        approvals_required: approvals,
        approver_groups: vec!["sre-leads".to_owned(), "payments-leads".to_owned()],
        distinct_groups: false,
        approve_now: None,
    }
}

fn approval(user: &str) -> NewApproval {
    NewApproval {
        approver: user.to_owned(),
        approver_groups: vec!["payments-leads".to_owned()],
        comment: Some(format!("{user}: go ahead")),
    }
}

/// The broker's rule when the policy is not consulted: enough distinct approvers.
fn enough(record: &AccessRequestRecord) -> bool {
    record.approvals.len() >= record.approvals_required as usize
}

async fn a_pending_request_is_approved_and_activated_with_its_grant(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;
    let grants0 = store.change_counter().await.unwrap();
    let requests0 = store.request_change_counter().await.unwrap();

    let submitted = store.submit_request(ask("bob", 1)).await.unwrap();
    assert!(submitted.grant.is_none());
    let pending = submitted.request;
    assert_eq!(pending.state, RequestState::Pending);
    assert!(pending.id.as_str().starts_with("r-"));
    assert_eq!(pending.created_at, T0);
    assert_eq!(
        (pending.decided_at, pending.activated_at, pending.ended_at),
        (None, None, None)
    );
    assert_eq!(pending.requester_groups, vec!["payments-dev"]);
    assert_eq!(pending.ticket.as_deref(), Some("INC-4211"));
    assert_eq!(
        store.get_request(&pending.id).await.unwrap(),
        Some(pending.clone())
    );
    assert!(store.request_change_counter().await.unwrap() > requests0);
    assert_eq!(
        store.change_counter().await.unwrap(),
        grants0,
        "no grant yet"
    );

    clock.advance(60);
    let outcome = store
        .approve_request(&pending.id, approval("carol"), &enough)
        .await
        .unwrap();
    let grant = outcome.grant.expect("the approval completes the request");
    let active = outcome.request;
    assert_eq!(active.state, RequestState::Active);
    assert_eq!(active.decided_at, Some(T0 + 60));
    assert_eq!(active.activated_at, Some(T0 + 60));
    assert_eq!(active.decided_by.as_deref(), Some("carol"));
    assert_eq!(active.grant_id.as_ref(), Some(&grant.id));
    assert_eq!(active.grant_expires_at, Some(T0 + 60 + 1800));
    assert_eq!(active.approvals.len(), 1);
    assert_eq!(active.approvals[0].approver, "carol");
    assert_eq!(active.approvals[0].at, T0 + 60);
    assert!(!active.needs_review);

    assert_eq!(grant.user, "bob");
    assert_eq!(grant.profile, "oncall-debug");
    assert_eq!(grant.namespaces, vec!["payments"]);
    assert_eq!(grant.pod_name_glob.as_deref(), Some("api-*"));
    assert_eq!(grant.pod_label_selector.as_deref(), Some("app=api"));
    assert_eq!(grant.created_by, "carol");
    assert_eq!(grant.expires_at, T0 + 60 + 1800);
    assert!(store.change_counter().await.unwrap() > grants0);
    assert_eq!(
        store.active_grants(T0 + 60).await.unwrap(),
        vec![grant.clone()]
    );

    let record = store.grant_record(&grant.id).await.unwrap().unwrap();
    assert_eq!(record.request.as_ref(), Some(&pending.id));
    assert!(!record.break_glass && !record.needs_review && record.review.is_none());
}

async fn auto_approved_and_break_glass_requests_are_active_at_once(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;

    let mut auto = ask("alice", 0);
    auto.route =
        "auto-approved: alice is in oncall-payments and on call for payments-primary".into();
    auto.approve_now = Some(ApproveNow {
        decided_by: "jitgate".into(),
    });
    let outcome = store.submit_request(auto).await.unwrap();
    let grant = outcome.grant.unwrap();
    assert_eq!(outcome.request.state, RequestState::Active);
    assert_eq!(outcome.request.decided_at, Some(T0));
    assert_eq!(outcome.request.activated_at, Some(T0));
    assert_eq!(outcome.request.decided_by.as_deref(), Some("jitgate"));
    assert_eq!(grant.created_by, "jitgate");
    assert!(!outcome.request.needs_review);

    let mut glass = ask("dave", 0);
    glass.break_glass = true;
    glass.approve_now = Some(ApproveNow {
        decided_by: "dave".into(),
    });
    let outcome = store.submit_request(glass).await.unwrap();
    let grant = outcome.grant.unwrap();
    assert!(outcome.request.needs_review, "break glass awaits review");
    let record = store.grant_record(&grant.id).await.unwrap().unwrap();
    assert!(record.break_glass && record.needs_review);
    assert_eq!(grant.created_by, "dave");

    // A request nobody approves at submission needs at least one approval.
    let err = store.submit_request(ask("bob", 0)).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidRequest {
                field: "approvals_required",
                ..
            }
        ),
        "{err}"
    );
}

async fn several_approvals_count_each_approver_once(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;
    let id = store
        .submit_request(ask("bob", 2))
        .await
        .unwrap()
        .request
        .id;

    let first = store
        .approve_request(&id, approval("carol"), &enough)
        .await
        .unwrap();
    assert!(first.grant.is_none());
    assert_eq!(first.request.state, RequestState::Pending);
    assert_eq!(first.request.approvals.len(), 1);

    let again = store
        .approve_request(&id, approval("carol"), &enough)
        .await
        .unwrap_err();
    assert!(
        matches!(again, StoreError::AlreadyApproved { .. }),
        "{again}"
    );
    assert_eq!(
        again.to_string(),
        format!("carol already approved {id}; it needs approvals from other people")
    );

    clock.advance(5);
    let second = store
        .approve_request(&id, approval("erin"), &enough)
        .await
        .unwrap();
    assert!(second.grant.is_some());
    assert_eq!(second.request.state, RequestState::Active);
    assert_eq!(second.request.decided_by.as_deref(), Some("erin"));
    let approvers: Vec<_> = second
        .request
        .approvals
        .iter()
        .map(|a| a.approver.as_str())
        .collect();
    assert_eq!(approvers, ["carol", "erin"]);
}

/// What cannot be approved fails with a typed error and leaves the request as it was.
async fn approving_what_cannot_be_approved_fails_cleanly(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;

    let denied = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    store
        .deny_request(&denied, "carol", "use read-only")
        .await
        .unwrap();
    let cancelled = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    store.cancel_request(&cancelled, "bob", None).await.unwrap();
    let active = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    store
        .approve_request(&active, approval("carol"), &enough)
        .await
        .unwrap();
    let expired = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    store
        .approve_request(&expired, approval("carol"), &enough)
        .await
        .unwrap();
    let revoked = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    let grant = store
        .approve_request(&revoked, approval("carol"), &enough)
        .await
        .unwrap()
        .grant
        .unwrap();
    store.revoke(&grant.id, "security", "done").await.unwrap();
    clock.advance(1800);
    let swept = store.expire_requests(clock_now(&clock)).await.unwrap();
    assert_eq!(
        swept.len(),
        2,
        "the active and the expired one both ran out"
    );
    let active_too = swept.iter().any(|r| r.id == active);
    assert!(active_too);
    let own = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    let missing = RequestId::parse("r-00000000").unwrap();

    type Check = fn(&StoreError) -> bool;
    let cases: Vec<(&str, &RequestId, &str, Check, &str)> = vec![
        (
            "denied",
            &denied,
            "erin",
            |e| {
                matches!(
                    e,
                    StoreError::RequestNotPending {
                        state: RequestState::Denied,
                        ..
                    }
                )
            },
            "is denied, not pending: it can no longer be approved; the requester can ask again",
        ),
        (
            "cancelled",
            &cancelled,
            "erin",
            |e| {
                matches!(
                    e,
                    StoreError::RequestNotPending {
                        state: RequestState::Cancelled,
                        ..
                    }
                )
            },
            "is cancelled, not pending",
        ),
        (
            "expired",
            &expired,
            "erin",
            |e| {
                matches!(
                    e,
                    StoreError::RequestNotPending {
                        state: RequestState::Expired,
                        ..
                    }
                )
            },
            "is expired, not pending: it can no longer be approved; its access is over",
        ),
        (
            "revoked",
            &revoked,
            "erin",
            |e| {
                matches!(
                    e,
                    StoreError::RequestNotPending {
                        state: RequestState::Revoked,
                        ..
                    }
                )
            },
            "is revoked, not pending",
        ),
        (
            "own request",
            &own,
            "bob",
            |e| {
                matches!(
                    e,
                    StoreError::SelfDecision {
                        action: "approve",
                        ..
                    }
                )
            },
            "bob asked for",
        ),
        (
            "unknown",
            &missing,
            "erin",
            |e| matches!(e, StoreError::RequestNotFound { .. }),
            "no access request r-00000000",
        ),
    ];
    for (name, id, approver, check, message) in cases {
        let before = store.get_request(id).await.unwrap();
        let err = store
            .approve_request(id, approval(approver), &enough)
            .await
            .unwrap_err();
        assert!(check(&err), "{name}: {err:?}");
        assert!(err.to_string().contains(message), "{name}: {err}");
        assert_eq!(
            store.get_request(id).await.unwrap(),
            before,
            "{name}: unchanged"
        );
    }
    // An already active request refuses a further approval too.
    let fresh = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    store
        .approve_request(&fresh, approval("carol"), &enough)
        .await
        .unwrap();
    let err = store
        .approve_request(&fresh, approval("erin"), &enough)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::RequestNotPending {
                state: RequestState::Active,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("it is already approved"), "{err}");
}

fn clock_now(clock: &ManualClock) -> i64 {
    jitgate_store::Clock::now(clock)
}

/// Two brokers' worth of connections race to approve the same requests: exactly one grant each
/// time, and the losers are told the request is no longer pending.
async fn concurrent_approvals_yield_exactly_one_grant(db: Db) {
    let first = db.open_now().await;
    let second = db.open_now().await;
    for round in 0..20 {
        let required = if round % 2 == 0 { 1 } else { 2 };
        let requester = format!("user-{round}");
        let id = first
            .submit_request(ask(&requester, required))
            .await
            .unwrap()
            .request
            .id;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .approve_request(&id, approval(&format!("approver-{i}")), &enough)
                    .await
            }));
        }
        let (mut with_grant, mut without_grant, mut not_pending) = (0, 0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(outcome) if outcome.grant.is_some() => with_grant += 1,
                Ok(_) => without_grant += 1,
                Err(StoreError::RequestNotPending {
                    state: RequestState::Active,
                    ..
                }) => not_pending += 1,
                Err(other) => panic!("round {round}: unexpected error: {other}"),
            }
        }
        assert_eq!(with_grant, 1, "round {round}");
        assert_eq!(without_grant, required - 1, "round {round}");
        assert_eq!(not_pending, 8 - required, "round {round}");
        let grants = second
            .list(&GrantFilter {
                user: Some(requester.clone()),
                active_only: false,
            })
            .await
            .unwrap();
        assert_eq!(grants.len(), 1, "round {round}: one grant");
        let stored = second.get_request(&id).await.unwrap().unwrap();
        assert_eq!(stored.state, RequestState::Active);
        assert_eq!(stored.grant_id.as_ref(), Some(&grants[0].id));
        assert_eq!(stored.approvals.len(), required as usize, "round {round}");
    }
}

async fn deny_and_cancel_follow_who_may_and_only_while_pending(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;
    let id = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;

    let own = store.deny_request(&id, "bob", "no").await.unwrap_err();
    assert!(
        matches!(own, StoreError::SelfDecision { action: "deny", .. }),
        "{own}"
    );
    let other = store.cancel_request(&id, "carol", None).await.unwrap_err();
    assert!(matches!(other, StoreError::NotRequester { .. }), "{other}");
    assert!(
        other.to_string().contains("only bob, who asked for"),
        "{other}"
    );
    let blank = store.deny_request(&id, "carol", "  ").await.unwrap_err();
    assert!(matches!(
        blank,
        StoreError::InvalidRequest {
            field: "deny_reason",
            ..
        }
    ));
    assert_eq!(
        store.get_request(&id).await.unwrap().unwrap().state,
        RequestState::Pending
    );

    clock.advance(30);
    let denied = store
        .deny_request(&id, "carol", "use read-only")
        .await
        .unwrap();
    assert_eq!(denied.state, RequestState::Denied);
    assert_eq!(denied.decided_at, Some(T0 + 30));
    assert_eq!(denied.ended_at, Some(T0 + 30));
    assert_eq!(denied.decided_by.as_deref(), Some("carol"));
    assert_eq!(denied.deny_reason.as_deref(), Some("use read-only"));
    let again = store.deny_request(&id, "erin", "no").await.unwrap_err();
    assert!(
        matches!(again, StoreError::RequestNotPending { .. }),
        "{again}"
    );
    let cancel = store.cancel_request(&id, "bob", None).await.unwrap_err();
    assert!(
        matches!(cancel, StoreError::RequestNotPending { .. }),
        "{cancel}"
    );

    let id = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    let cancelled = store
        .cancel_request(&id, "bob", Some("fixed it myself"))
        .await
        .unwrap();
    assert_eq!(cancelled.state, RequestState::Cancelled);
    assert_eq!(cancelled.cancel_reason.as_deref(), Some("fixed it myself"));
    assert_eq!(cancelled.decided_by.as_deref(), Some("bob"));
}

async fn revoking_a_grant_by_any_writer_revokes_its_request(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let broker = db.open(clock.clone()).await;
    let admin_cli = db.open(clock.clone()).await;
    let id = broker
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    let grant = broker
        .approve_request(&id, approval("carol"), &enough)
        .await
        .unwrap()
        .grant
        .unwrap();
    let requests = broker.request_change_counter().await.unwrap();

    clock.advance(120);
    admin_cli
        .revoke(&grant.id, "security", "incident closed")
        .await
        .unwrap();
    let revoked = broker.get_request(&id).await.unwrap().unwrap();
    assert_eq!(revoked.state, RequestState::Revoked);
    assert_eq!(revoked.ended_at, Some(T0 + 120));
    assert!(broker.request_change_counter().await.unwrap() > requests);
    // Nothing left to expire, and the revoked request stays revoked.
    clock.advance(3600);
    assert!(
        broker
            .expire_requests(clock_now(&clock))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        broker.get_request(&id).await.unwrap().unwrap().state,
        RequestState::Revoked
    );
}

async fn expiry_moves_active_requests_whose_grant_ran_out(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;
    let short = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    store
        .approve_request(&short, approval("carol"), &enough)
        .await
        .unwrap();
    let mut long_ask = ask("bob", 1);
    long_ask.duration = 7200;
    let long = store.submit_request(long_ask).await.unwrap().request.id;
    store
        .approve_request(&long, approval("carol"), &enough)
        .await
        .unwrap();

    assert!(store.expire_requests(T0 + 1799).await.unwrap().is_empty());
    let expired = store.expire_requests(T0 + 1800).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, short);
    assert_eq!(expired[0].state, RequestState::Expired);
    assert_eq!(
        expired[0].ended_at,
        Some(T0 + 1800),
        "when the grant ran out"
    );
    assert!(
        store.expire_requests(T0 + 1900).await.unwrap().is_empty(),
        "once"
    );
    assert_eq!(
        store.get_request(&long).await.unwrap().unwrap().state,
        RequestState::Active
    );
}

async fn break_glass_grants_are_reviewed_once_and_never_by_their_user(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;
    let mut glass = ask("dave", 0);
    glass.break_glass = true;
    glass.approve_now = Some(ApproveNow {
        decided_by: "dave".into(),
    });
    let outcome = store.submit_request(glass).await.unwrap();
    let grant = outcome.grant.unwrap();
    let normal = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    let normal_grant = store
        .approve_request(&normal, approval("carol"), &enough)
        .await
        .unwrap()
        .grant
        .unwrap();
    let admin_grant = store
        .create_grant(NewGrant {
            user: "frank".into(),
            profile: "oncall-debug".into(),
            namespaces: vec!["payments".into()],
            pod_name_glob: None,
            pod_label_selector: None,
            reason: "maintenance".into(),
            created_by: "admin".into(),
            expires_at: T0 + 600,
        })
        .await
        .unwrap();

    let own = store
        .review_grant(&grant.id, "dave", "fine")
        .await
        .unwrap_err();
    assert!(matches!(own, StoreError::SelfReview { .. }), "{own}");
    let blank = store
        .review_grant(&grant.id, "erin", " ")
        .await
        .unwrap_err();
    assert!(matches!(
        blank,
        StoreError::InvalidRequest {
            field: "review_comment",
            ..
        }
    ));
    for id in [&normal_grant.id, &admin_grant.id] {
        let err = store.review_grant(id, "erin", "fine").await.unwrap_err();
        assert!(matches!(err, StoreError::NotBreakGlass { .. }), "{err}");
    }
    let missing = jitgate_store::GrantId::parse("g-00000000").unwrap();
    let err = store.review_grant(&missing, "erin", "x").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");

    // The review may come after the grant ended.
    clock.advance(7200);
    let reviewed = store
        .review_grant(&grant.id, "erin", "justified: payment outage")
        .await
        .unwrap();
    assert!(!reviewed.needs_review && reviewed.break_glass);
    let review = reviewed.review.unwrap();
    assert_eq!(
        (review.by.as_str(), review.at, review.comment.as_str()),
        ("erin", T0 + 7200, "justified: payment outage")
    );
    let request = store
        .get_request(&outcome.request.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!request.needs_review);
    let again = store
        .review_grant(&grant.id, "frank", "me too")
        .await
        .unwrap_err();
    assert!(
        matches!(again, StoreError::AlreadyReviewed { .. }),
        "{again}"
    );
    assert!(again.to_string().contains("already reviewed at"), "{again}");
}

async fn lists_filter_and_come_newest_first(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;
    let b1 = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    clock.advance(1);
    let b2 = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    let mut other = ask("carol", 1);
    other.approver_groups = vec!["sre-leads".into()];
    let c1 = store.submit_request(other).await.unwrap().request.id;
    store
        .approve_request(&b1, approval("carol"), &enough)
        .await
        .unwrap();

    let ids = |records: Vec<AccessRequestRecord>| -> Vec<RequestId> {
        records.into_iter().map(|r| r.id).collect()
    };
    let cases: Vec<(&str, RequestFilter, Vec<RequestId>)> = vec![
        (
            "all",
            RequestFilter::default(),
            vec![c1.clone(), b2.clone(), b1.clone()],
        ),
        (
            "bob's",
            RequestFilter {
                requester: Some("bob".into()),
                ..RequestFilter::default()
            },
            vec![b2.clone(), b1.clone()],
        ),
        (
            "pending",
            RequestFilter {
                states: vec![RequestState::Pending],
                ..RequestFilter::default()
            },
            vec![c1.clone(), b2.clone()],
        ),
        (
            "approvable by payments-leads, not carol's own",
            RequestFilter {
                not_requester: Some("carol".into()),
                states: vec![RequestState::Pending],
                approver_in: Some(vec!["payments-leads".into()]),
                ..RequestFilter::default()
            },
            vec![b2.clone()],
        ),
        (
            "approvable by sre-leads",
            RequestFilter {
                states: vec![RequestState::Pending],
                approver_in: Some(vec!["sre-leads".into(), "other".into()]),
                ..RequestFilter::default()
            },
            vec![c1.clone(), b2.clone()],
        ),
        (
            "limited",
            RequestFilter {
                limit: 1,
                ..RequestFilter::default()
            },
            vec![c1.clone()],
        ),
    ];
    for (name, filter, want) in cases {
        assert_eq!(
            ids(store.list_requests(&filter).await.unwrap()),
            want,
            "{name}"
        );
    }
    let listed = store
        .list_requests(&RequestFilter::default())
        .await
        .unwrap();
    assert_eq!(
        listed[2].approvals.len(),
        1,
        "approvals come with lists too"
    );

    // Grants by state at the store's clock.
    let g = store
        .get_request(&b1)
        .await
        .unwrap()
        .unwrap()
        .grant_id
        .unwrap();
    let by_state = |states: Vec<GrantState>| GrantRecordFilter {
        states,
        ..GrantRecordFilter::default()
    };
    let active = store
        .list_grant_records(&by_state(vec![GrantState::Active]))
        .await
        .unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].grant.id, g);
    assert_eq!(active[0].request.as_ref(), Some(&b1));
    clock.advance(1800);
    assert!(
        store
            .list_grant_records(&by_state(vec![GrantState::Active]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_grant_records(&by_state(vec![GrantState::Expired, GrantState::Revoked]))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .list_grant_records(&GrantRecordFilter {
                user: Some("carol".into()),
                ..GrantRecordFilter::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
}

async fn new_requests_and_approvals_are_validated(db: Db) {
    let store = db.open(Arc::new(ManualClock::new(T0))).await;
    type Breaker = fn(&mut NewAccessRequest);
    let cases: &[(&str, Breaker)] = &[
        ("requester", |r| r.requester.clear()),
        ("requester_groups", |r| {
            r.requester_groups = (0..257).map(|i| format!("g{i}")).collect();
        }),
        ("requester_groups", |r| {
            r.requester_groups = vec!["a\u{0}".into()];
        }),
        ("profile", |r| r.profile = "x".repeat(257)),
        ("namespace", |r| r.namespace.clear()),
        ("duration", |r| r.duration = 0),
        ("duration", |r| r.duration = 400 * 24 * 3600),
        ("requested_duration", |r| r.requested_duration = Some(-5)),
        ("reason", |r| r.reason = "  ".into()),
        ("reason", |r| r.reason = "r".repeat(4097)),
        ("ticket", |r| r.ticket = Some("\u{1b}[2J".into())),
        ("approvals_required", |r| r.approvals_required = 65),
        ("pod_label_selector", |r| {
            r.pod_label_selector = Some("s".repeat(1025));
        }),
    ];
    for (field, breaker) in cases {
        let mut r = ask("bob", 1);
        breaker(&mut r);
        match store.submit_request(r).await {
            Err(StoreError::InvalidRequest { field: f, .. }) => assert_eq!(f, *field),
            other => panic!("{field}: expected InvalidRequest, got {other:?}"),
        }
    }
    assert!(
        store
            .list_requests(&RequestFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let id = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    let mut long = approval("carol");
    long.comment = Some("c".repeat(4097));
    let err = store.approve_request(&id, long, &enough).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::InvalidRequest {
                field: "comment",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        store
            .get_request(&id)
            .await
            .unwrap()
            .unwrap()
            .approvals
            .is_empty()
    );
}

/// The database itself refuses to reopen, rewrite or delete requests, approvals and reviews,
/// whoever writes to it.
async fn the_schema_keeps_request_life_forward_only(db: Db) {
    let clock = Arc::new(ManualClock::new(T0));
    let store = db.open(clock.clone()).await;
    let denied = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    store.deny_request(&denied, "carol", "no").await.unwrap();
    let active = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    let grant = store
        .approve_request(&active, approval("carol"), &enough)
        .await
        .unwrap()
        .grant
        .unwrap();
    let pending = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    let mut glass = ask("dave", 0);
    glass.break_glass = true;
    glass.approve_now = Some(ApproveNow {
        decided_by: "dave".into(),
    });
    let glass_grant = store
        .submit_request(glass.clone())
        .await
        .unwrap()
        .grant
        .unwrap();
    store
        .review_grant(&glass_grant.id, "erin", "ok")
        .await
        .unwrap();
    let unreviewed = store.submit_request(glass).await.unwrap().grant.unwrap();

    let (d, a, p, g, bg, ug) = (
        denied.as_str(),
        active.as_str(),
        pending.as_str(),
        grant.id.as_str(),
        glass_grant.id.as_str(),
        unreviewed.id.as_str(),
    );
    let cases = [
        ("reopen a denied request", format!("UPDATE access_requests SET state = 'pending', decided_at = NULL, decided_by = NULL, deny_reason = NULL, ended_at = NULL WHERE id = '{d}'")),
        ("approve a denied request", format!("UPDATE access_requests SET state = 'approved', deny_reason = NULL, ended_at = NULL WHERE id = '{d}'")),
        ("change who denied", format!("UPDATE access_requests SET decided_by = 'mallory' WHERE id = '{d}'")),
        ("move a decision time", format!("UPDATE access_requests SET decided_at = decided_at + 1 WHERE id = '{a}'")),
        ("swap the grant", format!("UPDATE access_requests SET grant_id = '{bg}' WHERE id = '{a}'")),
        ("go back to pending", format!("UPDATE access_requests SET state = 'pending' WHERE id = '{a}'")),
        ("skip to active", format!("UPDATE access_requests SET state = 'active', decided_at = {T0}, decided_by = 'x', activated_at = {T0}, grant_id = '{g}' WHERE id = '{p}'")),
        ("approve without saying when or by whom", format!("UPDATE access_requests SET state = 'approved' WHERE id = '{p}'")),
        ("deny without a reason", format!("UPDATE access_requests SET state = 'denied', decided_at = {T0}, decided_by = 'x', ended_at = {T0} WHERE id = '{p}'")),
        ("change the terms", format!("UPDATE access_requests SET duration = 99999 WHERE id = '{p}'")),
        ("change the requester", format!("UPDATE access_requests SET requester = 'mallory' WHERE id = '{p}'")),
        ("delete a request", format!("DELETE FROM access_requests WHERE id = '{p}'")),
        ("insert an active request", format!("INSERT INTO access_requests (id, requester, requester_groups, profile, namespace, duration, reason, break_glass, route, approvals_required, approver_groups, distinct_groups, state, created_at, decided_at, decided_by, activated_at, grant_id) VALUES ('r-0000000a', 'x', '[]', 'p', 'n', 60, 'r', 0, 'r', 1, '[]', 0, 'active', 1, 1, 'x', 1, '{g}')")),
        ("approve a non-pending request", format!("INSERT INTO approvals (request_id, approver, approver_groups, approved_at) VALUES ('{d}', 'erin', '[]', 1)")),
        ("approve one's own request", format!("INSERT INTO approvals (request_id, approver, approver_groups, approved_at) VALUES ('{p}', 'bob', '[]', 1)")),
        ("rewrite an approval", format!("UPDATE approvals SET approver = 'mallory' WHERE request_id = '{a}'")),
        ("delete an approval", format!("DELETE FROM approvals WHERE request_id = '{a}'")),
        ("mark a grant for review again", format!("UPDATE grants SET needs_review = 1 WHERE id = '{bg}'")),
        ("rewrite a review", format!("UPDATE grants SET reviewed_by = 'mallory' WHERE id = '{bg}'")),
        ("review a grant that needs none", format!("UPDATE grants SET needs_review = 0, reviewed_by = 'x', reviewed_at = 1, review_comment = 'c' WHERE id = '{g}'")),
        ("clear a review flag without a review", format!("UPDATE grants SET needs_review = 0 WHERE id = '{ug}'")),
        ("review without a comment", format!("UPDATE grants SET needs_review = 0, reviewed_by = 'x', reviewed_at = 1 WHERE id = '{ug}'")),
        ("create a grant already reviewed", "INSERT INTO grants (id, user_name, profile, namespaces, reason, created_by, created_at, expires_at, reviewed_by, reviewed_at, review_comment) VALUES ('g-0000000b', 'x', 'p', '[\"n\"]', '', 'x', 1, 2, 'y', 1, 'c')".to_owned()),
    ];
    for (name, sql) in &cases {
        assert!(db.raw(sql).await.is_err(), "{name}: {sql} must fail");
    }
    let still = store.get_request(&denied).await.unwrap().unwrap();
    assert_eq!(still.state, RequestState::Denied);
    assert_eq!(still.decided_by.as_deref(), Some("carol"));
    let still = store.get_request(&active).await.unwrap().unwrap();
    assert_eq!(still.state, RequestState::Active);
    assert_eq!(still.approvals.len(), 1);
    assert_eq!(
        store.get_request(&pending).await.unwrap().unwrap().state,
        RequestState::Pending
    );
    let reviewed = store.grant_record(&glass_grant.id).await.unwrap().unwrap();
    assert_eq!(reviewed.review.unwrap().by, "erin");
    assert!(
        store
            .grant_record(&unreviewed.id)
            .await
            .unwrap()
            .unwrap()
            .needs_review
    );
}

#[tokio::test]
async fn a_request_store_works_behind_trait_objects() {
    let store: Arc<dyn RequestStore> = Arc::new(
        SqliteStore::open_in_memory()
            .await
            .unwrap()
            .with_clock(Arc::new(ManualClock::new(T0))),
    );
    let id = store
        .submit_request(ask("bob", 1))
        .await
        .unwrap()
        .request
        .id;
    store
        .approve_request(&id, approval("carol"), &enough)
        .await
        .unwrap();
    // The gateway keeps reading grants through the narrower trait.
    let grants: Arc<dyn GrantStore> = store.clone();
    assert_eq!(grants.active_grants(T0).await.unwrap().len(), 1);
}
