//! The broker through its HTTP API, as `kubectl jit` uses it: real TLS with jitgate client
//! certificates, real SQLite, the shipped `examples/policy.yaml` and its on-call schedule, real
//! notification deliveries, and the hash-chained audit log. Every answer is checked against
//! `docs/openapi.yaml` at the end of each test.
//!
//! The people: alice is on call (`oncall-payments`), bob is a developer (`payments-dev`),
//! carol and frank lead payments (`payments-leads`), erin leads SRE (`sre-leads`), dave is an
//! SRE (`sre`, may break glass), ivy audits (`auditors`), mallory is nobody in particular.

// A test harness: a panic with a message is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jitgate_api::{
    ApiClient, ApiError, ApproveBody, AuthMethod, CancelBody, CertificateRequest,
    CreateAccessRequest, DenyBody, GoDuration, GrantQuery, GrantScope, GrantState, RequestQuery,
    RequestScope, RequestState, ReviewBody, RevokeBody, WaitQuery,
};
use jitgate_ca::{ClientCsr, ClientIdentity};
use jitgate_store::{Clock as _, GrantStore as _, SqliteStore};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use support::{Options, Stack, Who, shipped_policy};

const ALICE: (&str, &[&str]) = ("alice", &["oncall-payments"]);
const BOB: (&str, &[&str]) = ("bob", &["payments-dev"]);
const CAROL: (&str, &[&str]) = ("carol", &["payments-leads"]);
const FRANK: (&str, &[&str]) = ("frank", &["payments-leads"]);
const ERIN: (&str, &[&str]) = ("erin", &["sre-leads"]);
const DAVE: (&str, &[&str]) = ("dave", &["sre"]);
const IVY: (&str, &[&str]) = ("ivy", &["auditors"]);
const MALLORY: (&str, &[&str]) = ("mallory", &[]);

fn client(stack: &Stack, who: (&str, &[&str])) -> ApiClient {
    stack.client(who.0, who.1)
}

fn ask(duration: Option<u64>, reason: &str) -> CreateAccessRequest {
    CreateAccessRequest {
        profile: "oncall-debug".into(),
        namespace: "payments".into(),
        duration: duration.map(GoDuration::from_secs),
        reason: reason.into(),
        ticket: None,
        break_glass: false,
    }
}

fn break_glass(duration: u64) -> CreateAccessRequest {
    CreateAccessRequest {
        break_glass: true,
        ticket: Some("INC-5000".into()),
        ..ask(Some(duration), "payments down, nobody answers the page")
    }
}

async fn post(
    stack: &Stack,
    who: Who<'_>,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> support::Answer {
    stack
        .raw(who, "POST", path, content_type, body.to_vec())
        .await
}

/// The refusal's status code and message.
fn refusal(err: &ApiError) -> (u16, String) {
    let status = err
        .status()
        .unwrap_or_else(|| panic!("not a refusal: {err}"));
    (status.code, status.message.clone())
}

fn assert_refused(result: Result<impl std::fmt::Debug, ApiError>, code: u16, says: &str) {
    let err = result.expect_err("must be refused");
    let (got, message) = refusal(&err);
    assert_eq!(got, code, "{message}");
    assert!(message.contains(says), "{says:?} not in {message:?}");
}

/// The (kind, decision) of each access.* line about `id`, in order.
fn transitions(stack: &Stack, id: &str) -> Vec<(String, String)> {
    stack
        .audit_lines()
        .iter()
        .filter(|l| l["name"] == id && l["kind"].as_str().unwrap().starts_with("access."))
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn allowed(kinds: &[&str]) -> Vec<(String, String)> {
    kinds
        .iter()
        .map(|k| ((*k).to_owned(), "allow".to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2am_story() {
    let stack = Stack::start().await;
    let mut grant_changes = stack.broker.grant_changes();
    grant_changes.borrow_and_update();

    // 02:47, alice is on call: approved without anyone, active in the answer.
    let started = Instant::now();
    let created = stack
        .raw(
            Who::Cert(ALICE.0, ALICE.1),
            "POST",
            "/jitgate/v1/requests",
            Some("application/json"),
            br#"{"profile":"oncall-debug","namespace":"payments","duration":"30m","reason":"INC-4211 api latency","ticket":"INC-4211"}"#.to_vec(),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(created.status, 201, "{}", created.json);
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.headers["location"],
        format!("/jitgate/v1/requests/{id}").as_str()
    );
    assert_eq!(created.json["state"], "active");
    assert_eq!(
        created.json["route"],
        "auto-approved: alice is in oncall-payments and on call for payments-primary"
    );
    assert_eq!(created.json["decidedBy"], "jitgate");
    assert_eq!(created.json["approvalsRequired"], 0);
    assert_eq!(created.json["requesterGroups"], json!(["oncall-payments"]));
    assert_eq!(created.json["ticket"], "INC-4211");
    let grant_id = created.json["grant"].as_str().unwrap().to_owned();
    assert!(
        took < Duration::from_secs(1),
        "request to grant took {took:?}"
    );
    assert!(
        grant_changes.has_changed().unwrap(),
        "the gateway hook fired before the answer"
    );

    // The grant is what the gateway indexes, and alice sees it.
    let gateway_view = SqliteStore::open(&stack.db_path).await.unwrap();
    let active = gateway_view.active_grants(stack.clock.now()).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id.as_str(), grant_id);
    assert_eq!(
        (active[0].user.as_str(), active[0].profile.as_str()),
        ("alice", "oncall-debug")
    );
    assert_eq!(active[0].namespaces, vec!["payments"]);
    assert_eq!(active[0].expires_at - active[0].created_at, 1800);
    let alice = client(&stack, ALICE);
    let me = alice.whoami().await.unwrap();
    assert_eq!(
        (me.user.as_str(), me.auth_method),
        ("alice", AuthMethod::Certificate)
    );
    assert!(me.credential_expires_at.is_some());
    assert_eq!(me.grants.len(), 1);
    assert_eq!(me.grants[0].id.as_str(), grant_id);
    assert_eq!(
        me.grants[0]
            .request
            .as_ref()
            .map(jitgate_api::RequestId::as_str),
        Some(id.as_str())
    );
    assert_eq!(me.grants[0].created_by, "jitgate");

    // bob is not on call: his request waits for an approver.
    let bob = client(&stack, BOB);
    let pending = bob
        .create_request(&ask(None, "checkout errors after deploy"))
        .await
        .unwrap();
    assert_eq!(pending.state, RequestState::Pending);
    assert_eq!(
        pending.route,
        "needs 1 approval from sre-leads or payments-leads"
    );
    assert_eq!(pending.approvals_required, 1);
    assert_eq!(pending.approver_groups, ["sre-leads", "payments-leads"]);
    assert_eq!(
        pending.duration,
        GoDuration::from_secs(1800),
        "the profile's default"
    );
    assert!(pending.grant.is_none());

    // bob cannot approve himself, and has nothing to approve.
    assert_refused(
        bob.approve(&pending.id, &ApproveBody::default()).await,
        403,
        &format!(
            "bob asked for {} and may not approve their own request",
            pending.id
        ),
    );
    let approvable = RequestQuery {
        scope: RequestScope::Approvable,
        ..RequestQuery::default()
    };
    assert!(
        bob.list_requests(&approvable)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let carol = client(&stack, CAROL);
    let for_carol = carol.list_requests(&approvable).await.unwrap();
    let ids: Vec<&str> = for_carol.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [pending.id.as_str()]);

    // bob waits; carol approves; bob's wait ends at once.
    let waiter = {
        let bob = bob.clone();
        let id = pending.id.clone();
        tokio::spawn(async move {
            let answer = bob
                .wait_for_request(&id, &WaitQuery::for_state(RequestState::Active))
                .await;
            (answer, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let approving = Instant::now();
    let approved = carol
        .approve(
            &pending.id,
            &ApproveBody {
                comment: Some("looked at the ticket; go ahead".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(approved.state, RequestState::Active);
    assert_eq!(approved.decided_by.as_deref(), Some("carol"));
    assert_eq!(approved.approvals.len(), 1);
    assert_eq!(approved.approvals[0].by, "carol");
    assert_eq!(
        approved.approvals[0].comment.as_deref(),
        Some("looked at the ticket; go ahead")
    );
    let (waited, woke) = waiter.await.unwrap();
    let waited = waited.unwrap();
    assert_eq!(waited.state, RequestState::Active);
    assert_eq!(waited.grant, approved.grant);
    assert!(
        woke.duration_since(approving) < Duration::from_secs(1),
        "the wait ended {:?} after the approval",
        woke.duration_since(approving)
    );
    let grants = bob.list_grants(&GrantQuery::default()).await.unwrap();
    assert_eq!(grants.items.len(), 1);
    assert_eq!(grants.items[0].state, GrantState::Active);
    assert_eq!(grants.items[0].created_by, "carol");
    assert_eq!(grants.items[0].request.as_ref(), Some(&pending.id));
    assert!(!grants.items[0].break_glass);

    // What each may ask for, and how it would go now.
    let profiles = |stack: &Stack, who| {
        let c = client(stack, who);
        async move { c.profiles().await.unwrap().items }
    };
    let for_alice = profiles(&stack, ALICE).await;
    assert_eq!(for_alice.len(), 1);
    assert_eq!(for_alice[0].name, "oncall-debug");
    assert!(for_alice[0].approval.auto_approved);
    assert_eq!(for_alice[0].max_duration, GoDuration::from_secs(4 * 3600));
    assert!(for_alice[0].break_glass.is_none(), "alice is not in sre");
    let for_bob = profiles(&stack, BOB).await;
    assert!(!for_bob[0].approval.auto_approved);
    assert_eq!(for_bob[0].approval.approvals_required, 1);
    let for_dave = profiles(&stack, DAVE).await;
    assert_eq!(
        for_dave[0].break_glass.map(|b| b.max_duration),
        Some(GoDuration::from_secs(3600))
    );
    assert!(profiles(&stack, MALLORY).await.is_empty());
    // Standing access needs no request (not part of the WhoAmI wire type).
    let standing = stack.broker.standing_access(&jitgate_broker::Caller::new(
        "bob",
        vec!["payments-dev".into()],
        jitgate_broker::CallerMethod::Certificate,
        None,
    ));
    assert_eq!(standing.len(), 1);
    assert_eq!(
        (
            standing[0].profile.as_str(),
            standing[0].namespaces.as_slice()
        ),
        ("read-only", &["payments".to_owned()][..])
    );

    // The approvers and the auditors heard about it (signed webhooks).
    let pending_note = stack
        .notification("request.pending for bob", |n| {
            n.event.as_deref() == Some("request.pending")
                && n.body["request"]["id"] == pending.id.as_str()
        })
        .await;
    assert!(pending_note.signature_ok);
    assert_eq!(
        pending_note.body["approve"]["command"],
        format!("kubectl jit approve {}", pending.id)
    );
    let approved_note = stack
        .notification("request.approved for bob", |n| {
            n.event.as_deref() == Some("request.approved")
                && n.body["request"]["id"] == pending.id.as_str()
        })
        .await;
    assert_eq!(approved_note.body["actor"], "carol");

    // Every transition is in the verified audit chain, with who did it.
    assert_eq!(
        transitions(&stack, &id),
        allowed(&["access.request", "access.approve", "access.activate"])
    );
    let bob_lines = transitions(&stack, pending.id.as_str());
    assert_eq!(
        bob_lines,
        vec![
            ("access.request".to_owned(), "allow".to_owned()),
            ("access.approve".to_owned(), "deny".to_owned()),
            ("access.approve".to_owned(), "allow".to_owned()),
            ("access.activate".to_owned(), "allow".to_owned()),
        ]
    );
    let lines = stack.audit_lines();
    let activation = lines
        .iter()
        .find(|l| l["kind"] == "access.activate" && l["name"] == pending.id.as_str())
        .unwrap();
    assert_eq!(activation["user"], "carol");
    assert_eq!(activation["groups"], json!(["payments-leads"]));
    assert_eq!(activation["namespace"], "payments");
    assert_eq!(
        activation["grant"],
        approved.grant.as_ref().unwrap().as_str()
    );
    assert!(
        activation["reason"].as_str().unwrap().ends_with(&format!(
            "(request {}, for bob, profile oncall-debug)",
            pending.id
        )),
        "{activation}"
    );
    stack
        .audit_line("a delivery outcome", |l| {
            l["kind"] == "notification.delivery" && l["decision"] == "allow"
        })
        .await;
    assert!(stack.check_answers_against_openapi() > 10);
    assert!(
        stack.broker.shutdown(Duration::from_secs(5)).await,
        "queued notifications are delivered on shutdown"
    );
}

/// Several approvers approve the same requests at the same moment: exactly one grant each
/// time, and everyone else is told the request is no longer pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_approvals_create_exactly_one_grant() {
    let stack = Stack::start().await;
    let bob = client(&stack, BOB);
    let approvers: Vec<ApiClient> = [CAROL, FRANK, ERIN, ("grace", &["sre-leads"][..])]
        .into_iter()
        .map(|who| client(&stack, who))
        .collect();
    for round in 0..6 {
        let id = bob
            .create_request(&ask(None, &format!("round {round}")))
            .await
            .unwrap()
            .id;
        let tasks: Vec<_> = approvers
            .iter()
            .cloned()
            .map(|c| {
                let id = id.clone();
                tokio::spawn(async move { c.approve(&id, &ApproveBody::default()).await })
            })
            .collect();
        let (mut won, mut lost) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(r) => {
                    assert_eq!(r.state, RequestState::Active);
                    won += 1;
                }
                Err(e) => {
                    let (code, message) = refusal(&e);
                    assert_eq!(code, 409, "round {round}: {message}");
                    assert!(message.contains("is active, not pending"), "{message}");
                    lost += 1;
                }
            }
        }
        assert_eq!((won, lost), (1, 3), "round {round}");
        let all = approvers[0]
            .list_grants(&GrantQuery {
                scope: GrantScope::All,
                ..GrantQuery::default()
            })
            .await
            .unwrap();
        let of_request = all
            .items
            .iter()
            .filter(|g| g.request.as_ref() == Some(&id))
            .count();
        assert_eq!(of_request, 1, "round {round}: one grant");
    }
    stack.check_answers_against_openapi();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_what_is_no_longer_pending_fails_cleanly() {
    let stack = Stack::start().await;
    let (bob, carol, erin, frank) = (
        client(&stack, BOB),
        client(&stack, CAROL),
        client(&stack, ERIN),
        client(&stack, FRANK),
    );

    // Denied: with a reason, by an approver; then nobody can approve it.
    let denied = bob.create_request(&ask(None, "one")).await.unwrap().id;
    assert_refused(
        bob.deny(
            &denied,
            &DenyBody {
                reason: "no".into(),
            },
        )
        .await,
        403,
        "may not deny their own request",
    );
    let d = carol
        .deny(
            &denied,
            &DenyBody {
                reason: "use the read-only profile for this".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(d.state, RequestState::Denied);
    assert_eq!(
        d.deny_reason.as_deref(),
        Some("use the read-only profile for this")
    );
    assert_eq!(d.decided_by.as_deref(), Some("carol"));
    assert!(d.ended_at.is_some());
    assert_refused(
        erin.approve(&denied, &ApproveBody::default()).await,
        409,
        &format!(
            "{denied} is denied, not pending: it can no longer be approved; the requester can ask again"
        ),
    );
    stack
        .notification("request.denied", |n| {
            n.event.as_deref() == Some("request.denied") && n.body["actor"] == "carol"
        })
        .await;

    // Cancelled: only by bob; then nobody can approve it.
    let cancelled = bob.create_request(&ask(None, "two")).await.unwrap().id;
    assert_refused(
        carol.cancel(&cancelled, &CancelBody::default()).await,
        403,
        "only bob, who asked for",
    );
    let c = bob
        .cancel(
            &cancelled,
            &CancelBody {
                reason: Some("fixed it myself".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(c.state, RequestState::Cancelled);
    assert_eq!(c.cancel_reason.as_deref(), Some("fixed it myself"));
    assert_refused(
        erin.approve(&cancelled, &ApproveBody::default()).await,
        409,
        "is cancelled, not pending",
    );

    // Active: a second approval is refused; cancelling says to revoke instead.
    let active = bob
        .create_request(&ask(Some(300), "three"))
        .await
        .unwrap()
        .id;
    let grant = carol
        .approve(&active, &ApproveBody::default())
        .await
        .unwrap()
        .grant
        .unwrap();
    assert_refused(
        frank.approve(&active, &ApproveBody::default()).await,
        409,
        "it is already approved",
    );
    assert_refused(
        bob.cancel(&active, &CancelBody::default()).await,
        409,
        &format!("revoking grant {grant} instead"),
    );

    // Expired: five minutes later the sweeper ends it; approving it is refused.
    stack.clock.advance(301);
    let mut state = RequestState::Active;
    for _ in 0..50 {
        state = bob.get_request(&active).await.unwrap().state;
        if state == RequestState::Expired {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        state,
        RequestState::Expired,
        "the sweeper runs every 100 ms here"
    );
    assert_refused(
        erin.approve(&active, &ApproveBody::default()).await,
        409,
        &format!(
            "{active} is expired, not pending: it can no longer be approved; its access is over"
        ),
    );
    stack
        .notification("request.expired", |n| {
            n.event.as_deref() == Some("request.expired")
                && n.body["request"]["id"] == active.as_str()
        })
        .await;
    let expiry = stack
        .audit_line("access.expire", |l| {
            l["kind"] == "access.expire" && l["name"] == active.as_str()
        })
        .await;
    assert_eq!(expiry["user"], "jitgate");
    assert_eq!(expiry["grant"], grant.as_str());

    // Invisible, unknown, or not an approver.
    let pending = bob.create_request(&ask(None, "four")).await.unwrap().id;
    assert_refused(
        client(&stack, MALLORY)
            .approve(&pending, &ApproveBody::default())
            .await,
        404,
        "there is no access request",
    );
    assert_refused(
        erin.approve(&"r-00000000".parse().unwrap(), &ApproveBody::default())
            .await,
        404,
        "there is no access request r-00000000",
    );
    assert_refused(
        client(&stack, IVY)
            .approve(&pending, &ApproveBody::default())
            .await,
        403,
        &format!(
            "ivy may not approve {pending}: only members of sre-leads or payments-leads may; ask one of them"
        ),
    );
    assert_eq!(
        bob.get_request(&pending).await.unwrap().state,
        RequestState::Pending,
        "refusals change nothing"
    );

    // Refusals are decisions too: in the audit log as denied.
    let refused: Vec<Value> = stack
        .audit_lines()
        .into_iter()
        .filter(|l| l["decision"] == "deny" && l["kind"] == "access.approve")
        .collect();
    assert!(refused.len() >= 6, "{refused:#?}");
    assert!(
        refused
            .iter()
            .any(|l| l["user"] == "ivy" && l["status"] == 403)
    );
    stack.check_answers_against_openapi();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_is_self_approved_loud_and_reviewed_by_someone_else() {
    let stack = Stack::start().await;
    let (dave, erin) = (client(&stack, DAVE), client(&stack, ERIN));

    assert_refused(
        dave.create_request(&break_glass(2 * 3600)).await,
        422,
        "break-glass maximum of 1h; ask for 1h or less",
    );
    assert_refused(
        client(&stack, BOB).create_request(&break_glass(1800)).await,
        403,
        "bob may not break glass for profile \"oncall-debug\"",
    );

    let started = Instant::now();
    let r = dave.create_request(&break_glass(1800)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(r.state, RequestState::Active);
    assert!(r.break_glass && r.needs_review);
    assert_eq!(r.decided_by.as_deref(), Some("dave"));
    assert!(
        r.route
            .starts_with("break-glass: self-approved by dave (at most 1h)"),
        "{}",
        r.route
    );
    let grant = r.grant.clone().unwrap();

    // Loud: the SRE channel is paged, the audit webhook gets it marked urgent.
    let slack = stack
        .notification("break glass on Slack", |n| n.path == "/slack")
        .await;
    assert!(
        slack.body["text"]
            .as_str()
            .unwrap()
            .starts_with("<!here> :rotating_light: BREAK-GLASS"),
        "{}",
        slack.body
    );
    let hook = stack
        .notification("break glass webhook", |n| {
            n.event.as_deref() == Some("request.break_glass")
        })
        .await;
    assert_eq!(hook.body["urgent"], true);
    assert!(hook.signature_ok);

    // Never reviewed by the one who broke the glass, nor by those who may not.
    assert_refused(
        dave.review_grant(
            &grant,
            &ReviewBody {
                comment: "all fine".into(),
            },
        )
        .await,
        403,
        &format!("dave holds {grant} and may not review it"),
    );
    assert_refused(
        client(&stack, BOB)
            .review_grant(
                &grant,
                &ReviewBody {
                    comment: "ok".into(),
                },
            )
            .await,
        404,
        "there is no grant",
    );
    assert_refused(
        client(&stack, IVY)
            .review_grant(
                &grant,
                &ReviewBody {
                    comment: "ok".into(),
                },
            )
            .await,
        403,
        "only approvers of profile oncall-debug (sre-leads or payments-leads) and admins may",
    );
    let reviewed = erin
        .review_grant(
            &grant,
            &ReviewBody {
                comment: "justified: payment outage, actions matched the ticket".into(),
            },
        )
        .await
        .unwrap();
    assert!(!reviewed.needs_review && reviewed.break_glass);
    assert_eq!(reviewed.reviewed_by.as_deref(), Some("erin"));
    assert!(reviewed.reviewed_at.is_some());
    assert!(!dave.get_request(&r.id).await.unwrap().needs_review);
    assert_refused(
        erin.review_grant(
            &grant,
            &ReviewBody {
                comment: "again".into(),
            },
        )
        .await,
        409,
        "was already reviewed",
    );
    // Only break-glass grants are reviewed.
    let normal = client(&stack, ALICE)
        .create_request(&ask(None, "INC-1"))
        .await
        .unwrap()
        .grant
        .unwrap();
    assert_refused(
        erin.review_grant(
            &normal,
            &ReviewBody {
                comment: "x".into(),
            },
        )
        .await,
        409,
        "is not a break-glass grant",
    );

    assert_eq!(
        transitions(&stack, r.id.as_str()),
        vec![
            ("access.request".to_owned(), "allow".to_owned()),
            ("access.approve".to_owned(), "allow".to_owned()),
            ("access.activate".to_owned(), "allow".to_owned()),
            // dave's own, bob's (who may not see it), ivy's (who may not review)
            ("access.review".to_owned(), "deny".to_owned()),
            ("access.review".to_owned(), "deny".to_owned()),
            ("access.review".to_owned(), "deny".to_owned()),
            ("access.review".to_owned(), "allow".to_owned()),
            // erin's second review
            ("access.review".to_owned(), "deny".to_owned()),
        ]
    );
    stack.check_answers_against_openapi();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_ends_the_request_and_reaches_the_gateway_at_once() {
    let stack = Stack::start().await;
    let alice = client(&stack, ALICE);
    let r = alice.create_request(&ask(None, "INC-2")).await.unwrap();
    let grant = r.grant.clone().unwrap();
    let mut grant_changes = stack.broker.grant_changes();
    grant_changes.borrow_and_update();

    let done = RevokeBody {
        reason: "incident closed".into(),
    };
    assert_refused(
        client(&stack, BOB).revoke_grant(&grant, &done).await,
        404,
        "there is no grant",
    );
    assert_refused(
        client(&stack, IVY).revoke_grant(&grant, &done).await,
        403,
        "ivy may not revoke",
    );
    let revoked = alice.revoke_grant(&grant, &done).await.unwrap();
    assert_eq!(revoked.state, GrantState::Revoked);
    assert_eq!(revoked.revoked_by.as_deref(), Some("alice"));
    assert_eq!(revoked.revoke_reason.as_deref(), Some("incident closed"));
    assert!(
        grant_changes.has_changed().unwrap(),
        "the gateway hears at once"
    );
    let ended = alice.get_request(&r.id).await.unwrap();
    assert_eq!(ended.state, RequestState::Revoked);
    assert!(ended.ended_at.is_some());
    assert_refused(
        alice.revoke_grant(&grant, &done).await,
        409,
        "was already revoked",
    );
    stack
        .notification("request.revoked", |n| {
            n.event.as_deref() == Some("request.revoked") && n.body["actor"] == "alice"
        })
        .await;

    // An approver of the profile may revoke someone else's grant.
    let bob = client(&stack, BOB);
    let id = bob.create_request(&ask(None, "INC-3")).await.unwrap().id;
    let bobs = client(&stack, CAROL)
        .approve(&id, &ApproveBody::default())
        .await
        .unwrap()
        .grant
        .unwrap();
    let by_lead = client(&stack, ERIN)
        .revoke_grant(&bobs, &done)
        .await
        .unwrap();
    assert_eq!(by_lead.revoked_by.as_deref(), Some("erin"));

    // Revoked by another process (`jitgate grant revoke`): a waiting long-poll sees it soon.
    let again = alice.create_request(&ask(None, "INC-4")).await.unwrap();
    let waiter = {
        let alice = alice.clone();
        let id = again.id.clone();
        tokio::spawn(async move {
            alice
                .wait_for_request(&id, &WaitQuery::for_state(RequestState::Revoked))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cli = SqliteStore::open(&stack.db_path).await.unwrap();
    let revoking = Instant::now();
    cli.revoke(
        again.grant.as_ref().expect("the request made a grant"),
        "security",
        "leaving",
    )
    .await
    .unwrap();
    let seen = waiter.await.unwrap().unwrap();
    assert_eq!(seen.state, RequestState::Revoked);
    assert!(
        revoking.elapsed() < Duration::from_secs(1),
        "{:?}",
        revoking.elapsed()
    );

    assert_eq!(
        transitions(&stack, r.id.as_str()),
        vec![
            ("access.request".to_owned(), "allow".to_owned()),
            ("access.approve".to_owned(), "allow".to_owned()),
            ("access.activate".to_owned(), "allow".to_owned()),
            // bob's (who may not see it) and ivy's (who may not revoke)
            ("access.revoke".to_owned(), "deny".to_owned()),
            ("access.revoke".to_owned(), "deny".to_owned()),
            ("access.revoke".to_owned(), "allow".to_owned()),
            // alice's second revocation
            ("access.revoke".to_owned(), "deny".to_owned()),
        ]
    );
    stack.check_answers_against_openapi();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_on_call_answer_needs_approval_and_says_why() {
    // The policy without its schedule file next to it: nobody can tell who is on call.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::copy(shipped_policy(), &policy).unwrap();
    let stack = Stack::start_with(Options {
        policy,
        ..Options::default()
    })
    .await;
    let alice = client(&stack, ALICE);
    let r = alice.create_request(&ask(None, "INC-9")).await.unwrap();
    assert_eq!(r.state, RequestState::Pending);
    assert!(
        r.route.starts_with(
            "needs 1 approval from sre-leads or payments-leads: on-call status of alice for \
             payments-primary is unknown (cannot read the schedule file"
        ),
        "{}",
        r.route
    );
    assert!(
        r.route.ends_with("so the request needs approval"),
        "{}",
        r.route
    );
    let preview = &alice.profiles().await.unwrap().items[0].approval;
    assert!(!preview.auto_approved);
    assert!(preview.route.contains("is unknown"), "{}", preview.route);
    stack.check_answers_against_openapi();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_contract() {
    let stack = Stack::start().await;
    let json_ct = Some("application/json");

    // Open, and closed.
    let config = stack
        .raw(Who::Nobody, "GET", "/jitgate/v1/config", None, vec![])
        .await;
    assert_eq!(config.status, 200);
    assert_eq!(config.json["oidc"]["clientId"], "jitgate");
    assert_eq!(
        config.json["certificate"],
        json!({"defaultTtl": "8h", "minTtl": "5m", "maxTtl": "12h"})
    );
    let nobody = stack
        .raw(Who::Nobody, "GET", "/jitgate/v1/whoami", None, vec![])
        .await;
    assert_eq!(nobody.status, 401);
    assert_eq!(
        nobody.headers["www-authenticate"],
        "Bearer realm=\"jitgate\""
    );
    assert!(
        nobody.json["message"]
            .as_str()
            .unwrap()
            .contains("kubectl jit login")
    );

    // Bodies: closed, JSON, bounded, present.
    let bob = Who::Cert(BOB.0, BOB.1);
    let sneaky = post(
        &stack,
        bob.clone(),
        "/jitgate/v1/requests",
        json_ct,
        br#"{"profile":"oncall-debug","namespace":"payments","reason":"x","user":"alice"}"#,
    )
    .await;
    assert_eq!(sneaky.status, 400);
    let message = sneaky.json["message"].as_str().unwrap();
    assert!(
        message.starts_with("the body is not a CreateAccessRequest: unknown field `user`"),
        "{message}"
    );
    assert!(
        message.ends_with("identity comes from your credential, never from the body"),
        "{message}"
    );
    let plain = post(
        &stack,
        bob.clone(),
        "/jitgate/v1/requests",
        Some("text/plain"),
        b"{}",
    )
    .await;
    assert_eq!(plain.status, 415);
    let huge = stack
        .raw_declared_oversize("bob", "/jitgate/v1/requests")
        .await;
    assert_eq!(huge.status, 413);
    assert!(
        huge.json["message"]
            .as_str()
            .unwrap()
            .contains("larger than 65536 bytes")
    );
    let id = client(&stack, BOB)
        .create_request(&ask(None, "INC-7"))
        .await
        .unwrap()
        .id;
    let deny_path = format!("/jitgate/v1/requests/{id}/deny");
    let empty = post(
        &stack,
        Who::Cert(CAROL.0, CAROL.1),
        &deny_path,
        json_ct,
        b"",
    )
    .await;
    assert_eq!(empty.status, 400);
    assert!(
        empty.json["message"]
            .as_str()
            .unwrap()
            .contains("send a JSON DenyBody")
    );
    let blank = post(
        &stack,
        Who::Cert(CAROL.0, CAROL.1),
        &deny_path,
        json_ct,
        br#"{"reason":"  "}"#,
    )
    .await;
    assert_eq!(blank.status, 400);
    assert!(
        blank.json["message"]
            .as_str()
            .unwrap()
            .starts_with("reason: it is required")
    );

    // Paths, methods, ids, queries.
    let delete = stack
        .raw(bob.clone(), "DELETE", "/jitgate/v1/requests", None, vec![])
        .await;
    assert_eq!(delete.status, 405);
    assert_eq!(delete.headers["allow"], "GET, POST");
    let bad_id = stack
        .raw(
            bob.clone(),
            "GET",
            "/jitgate/v1/requests/r-XYZ",
            None,
            vec![],
        )
        .await;
    assert_eq!(bad_id.status, 400);
    assert!(
        bad_id.json["message"]
            .as_str()
            .unwrap()
            .contains("ids look like r-7f3a09c1")
    );
    let unknown = stack
        .raw(bob.clone(), "GET", "/jitgate/v1/audit", None, vec![])
        .await;
    assert_eq!(unknown.status, 404);
    let scope = stack
        .raw(
            bob.clone(),
            "GET",
            "/jitgate/v1/requests?scope=everyone",
            None,
            vec![],
        )
        .await;
    assert_eq!(scope.status, 400);
    assert!(
        scope.json["message"]
            .as_str()
            .unwrap()
            .contains("use mine, approvable or all")
    );

    // Who may list everything.
    let all = RequestQuery {
        scope: RequestScope::All,
        ..RequestQuery::default()
    };
    assert_refused(
        client(&stack, BOB).list_requests(&all).await,
        403,
        "scope=all lists everyone's requests",
    );
    assert_eq!(
        client(&stack, CAROL)
            .list_requests(&all)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        client(&stack, IVY)
            .list_requests(&all)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_refused(
        client(&stack, BOB)
            .list_grants(&GrantQuery {
                scope: GrantScope::All,
                ..GrantQuery::default()
            })
            .await,
        403,
        "scope=all lists everyone's grants",
    );

    // What the policy refuses.
    let bob_client = client(&stack, BOB);
    assert_refused(
        bob_client
            .create_request(&ask(Some(5 * 3600), "long"))
            .await,
        422,
        "5h is longer than the maximum of 4h; ask for 4h or less",
    );
    let mut outside = ask(None, "x");
    outside.namespace = "kube-system".into();
    assert_refused(
        bob_client.create_request(&outside).await,
        403,
        "outside the scope",
    );
    let mut unknown_profile = ask(None, "x");
    unknown_profile.profile = "cluster-admin".into();
    assert_refused(
        bob_client.create_request(&unknown_profile).await,
        403,
        "there is no profile \"cluster-admin\"",
    );
    assert_refused(
        client(&stack, MALLORY)
            .create_request(&ask(None, "x"))
            .await,
        403,
        "mallory is not a requester of profile \"oncall-debug\"",
    );

    // A long-poll that times out answers with the request as it is.
    let waited = Instant::now();
    let still = bob_client
        .wait_for_request(
            &id,
            &WaitQuery {
                wait_for: RequestState::Active,
                timeout: GoDuration::from_secs(1),
            },
        )
        .await
        .unwrap();
    assert_eq!(still.state, RequestState::Pending);
    let held = waited.elapsed();
    assert!(
        held >= Duration::from_secs(1) && held < Duration::from_secs(3),
        "{held:?}"
    );

    // Certificates: only for a bearer token, for whoever the token names, within the limits.
    let csr = ClientCsr::generate().unwrap();
    let body = |ttl: Option<u64>| CertificateRequest {
        csr: csr.csr_pem.clone(),
        ttl: ttl.map(GoDuration::from_secs),
    };
    assert_refused(
        client(&stack, ALICE).issue_certificate(&body(None)).await,
        403,
        "a client certificate cannot be used to get a new certificate",
    );
    let token = stack.bearer_client("token-alice", "alice", &["oncall-payments", "sre"]);
    let issued = token.issue_certificate(&body(None)).await.unwrap();
    assert_eq!(issued.user, "alice");
    assert_eq!(issued.groups, ["oncall-payments", "sre"]);
    assert_eq!(issued.ca_certificate, stack.ca.cert_pem());
    let der = CertificateDer::from_pem_slice(issued.certificate.as_bytes()).unwrap();
    let named = ClientIdentity::from_der(der.as_ref()).unwrap();
    assert_eq!((named.user.as_str(), named.groups.len()), ("alice", 2));
    let lifetime = issued.expires_at.unix_seconds() - jitgate_store::SystemClock.now();
    assert!(
        (8 * 3600 - 120..=8 * 3600).contains(&lifetime),
        "{lifetime}"
    );
    let short = token.issue_certificate(&body(Some(3600))).await.unwrap();
    let lifetime = short.expires_at.unix_seconds() - jitgate_store::SystemClock.now();
    assert!((3600 - 120..=3600).contains(&lifetime), "{lifetime}");
    assert_refused(
        token.issue_certificate(&body(Some(13 * 3600))).await,
        422,
        "certificate lifetime 13h is outside what this gateway issues (5m to 12h)",
    );
    let forged = stack
        .raw(
            Who::Bearer("token-alice"),
            "POST",
            "/jitgate/v1/certificates",
            json_ct,
            serde_json::to_vec(&json!({
                "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
            }))
            .unwrap(),
        )
        .await;
    assert_eq!(forged.status, 400, "{}", forged.json);
    assert!(
        forged.json["message"]
            .as_str()
            .unwrap()
            .contains("certificate signing request")
    );
    let stranger = stack
        .raw(
            Who::Bearer("token-nobody"),
            "POST",
            "/jitgate/v1/certificates",
            json_ct,
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(stranger.status, 401);
    let issues: Vec<Value> = stack
        .audit_lines()
        .into_iter()
        .filter(|l| l["kind"] == "cert.issue")
        .collect();
    let decisions: Vec<&str> = issues
        .iter()
        .map(|l| l["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["deny", "allow", "allow", "deny", "deny"]);
    assert!(issues.iter().all(|l| l["user"] == "alice"));

    let checked = stack.check_answers_against_openapi();
    assert!(checked > 25, "{checked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_notification_never_blocks_a_request() {
    let stack = Stack::start_with(Options {
        slack_path: "/down",
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    let r = client(&stack, DAVE)
        .create_request(&break_glass(600))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(r.state, RequestState::Active);
    let failed = stack
        .audit_line("the failed Slack delivery", |l| {
            l["kind"] == "notification.delivery"
                && l["decision"] == "deny"
                && l["name"] == r.id.as_str()
        })
        .await;
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "urgent notification request.break_glass to sre-slack: failed after 2 attempt(s)"
        ),
        "{reason}"
    );
    stack
        .audit_line("the webhook delivery", |l| {
            l["kind"] == "notification.delivery"
                && l["decision"] == "allow"
                && l["reason"]
                    .as_str()
                    .unwrap()
                    .contains("to audit-hook: delivered")
        })
        .await;
    stack.check_answers_against_openapi();
}

/// The store and policy behind one `Arc`: a reload swaps the policy for every later request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_policy_applies_to_the_next_request() {
    let stack = Stack::start().await;
    let text = std::fs::read_to_string(shipped_policy())
        .unwrap()
        .replace("maxDuration: 4h", "maxDuration: 2h");
    let stricter = jitgate_policy::Policy::parse(&text).unwrap();
    let bob = client(&stack, BOB);
    assert!(
        bob.create_request(&ask(Some(3 * 3600), "before"))
            .await
            .is_ok()
    );
    let in_force: Arc<jitgate_policy::Policy> = stack.broker.policy();
    assert!(in_force.profile("oncall-debug").is_some());
    // What the gateway does after a reload that validates.
    stack.policy.store(Arc::new(stricter));
    assert_refused(
        bob.create_request(&ask(Some(3 * 3600), "after")).await,
        422,
        "maximum of 2h",
    );
    stack.check_answers_against_openapi();
}

/// A recording as the gateway writes it: header (with its `jitgate` fields when `owner` is
/// given) and a few events.
fn write_recording(
    stack: &Stack,
    id: &str,
    owner: Option<&str>,
    started: i64,
    said: &str,
) -> Vec<u8> {
    use jitgate_wire::asciicast::{EventCode, Header, SessionMeta, event_line};
    let header = Header {
        width: 80,
        height: 24,
        timestamp: started,
        title: "a session".into(),
        command: "sh".into(),
        session: owner.map(|user| SessionMeta {
            id: id.into(),
            user: user.into(),
            grant: "g-0000beef".into(),
            namespace: "payments".into(),
            pod: "api-0".into(),
            container: Some("api".into()),
            kind: "exec".into(),
            tty: true,
        }),
    };
    let text = header.to_line()
        + &event_line(0.1, EventCode::Input, b"echo hi\r")
        + &event_line(0.2, EventCode::Output, said.as_bytes());
    std::fs::write(stack.recordings.join(format!("{id}.cast")), &text).unwrap();
    text.into_bytes()
}

/// Recordings through the API: each person lists and replays their own; approvers, auditors
/// and admins see everyone's, including a recording whose header names nobody; anyone else gets
/// the same 404 as for an id that does not exist, and the attempt is audited; files that are
/// not recordings are skipped; one above the API's limit is refused with where to play it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recordings_are_for_their_user_and_for_those_who_see_everything() {
    use jitgate_api::{SessionId, SessionQuery, SessionScope};
    let stack = Stack::start().await;
    let hers = write_recording(
        &stack,
        "s-0000a11c",
        Some("alice"),
        1_800_000_300,
        "alice-was-here",
    );
    write_recording(
        &stack,
        "s-00000b0b",
        Some("bob"),
        1_800_000_200,
        "bob-was-here",
    );
    let legacy = write_recording(&stack, "s-000001d0", None, 1_800_000_100, "nobody-named");
    std::fs::write(stack.recordings.join("notes.txt"), "not a recording").unwrap();
    std::fs::write(stack.recordings.join("s-bad.cast"), "{}").unwrap();
    std::fs::write(stack.recordings.join("s-0000dead.cast"), "no header\n").unwrap();
    let mine = SessionQuery::default();
    let all = SessionQuery {
        scope: SessionScope::All,
        limit: None,
    };

    let alice = client(&stack, ALICE);
    let listed = alice.list_sessions(&mine).await.unwrap();
    let ids: Vec<&str> = listed.items.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["s-0000a11c"]);
    let s = &listed.items[0];
    assert_eq!(
        (
            s.user.as_str(),
            s.namespace.as_str(),
            s.pod.as_str(),
            s.kind.as_str()
        ),
        ("alice", "payments", "api-0", "exec")
    );
    assert_eq!(
        s.grant.as_ref().map(jitgate_api::GrantId::as_str),
        Some("g-0000beef")
    );
    assert_eq!(s.bytes, hers.len() as u64);
    assert_refused(
        alice.list_sessions(&all).await,
        403,
        "scope=all lists everyone's",
    );

    for who in [IVY, CAROL] {
        let listed = client(&stack, who).list_sessions(&all).await.unwrap();
        let ids: Vec<&str> = listed.items.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            ["s-0000a11c", "s-00000b0b", "s-000001d0"],
            "{}: newest first",
            who.0
        );
    }
    let limited = SessionQuery {
        scope: SessionScope::All,
        limit: Some(1),
    };
    assert_eq!(
        client(&stack, IVY)
            .list_sessions(&limited)
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    let id = |s: &str| SessionId::parse(s).unwrap();
    assert_eq!(alice.recording(&id("s-0000a11c")).await.unwrap(), hers);
    assert_eq!(
        client(&stack, IVY)
            .recording(&id("s-000001d0"))
            .await
            .unwrap(),
        legacy
    );
    for (who, session) in [
        (ALICE, "s-00000b0b"),
        (ALICE, "s-000001d0"),
        (MALLORY, "s-0000a11c"),
        (IVY, "s-0000ffff"),
    ] {
        assert_refused(
            client(&stack, who).recording(&id(session)).await,
            404,
            &format!(
                "there is no recording of session {session} that {} may see",
                who.0
            ),
        );
    }
    let malformed = stack
        .raw(
            Who::Cert("alice", &["oncall-payments"]),
            "GET",
            "/jitgate/v1/sessions/s-../recording",
            None,
            Vec::new(),
        )
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.json);

    let read = stack
        .audit_line("alice replaying her own session", |l| {
            l["kind"] == "recording.read" && l["user"] == "alice" && l["decision"] == "allow"
        })
        .await;
    assert_eq!(read["name"], "s-0000a11c");
    assert_eq!(read["grant"], "g-0000beef");
    let refused = stack
        .audit_line("alice refused bob's session", |l| {
            l["kind"] == "recording.read" && l["user"] == "alice" && l["decision"] == "deny"
        })
        .await;
    assert_eq!(refused["name"], "s-00000b0b");
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("exec session of bob in payments/api-0"),
        "{refused}"
    );
    // A refused read of a recording that does not exist is the gateway's request line only.
    assert!(
        !stack
            .audit_lines()
            .iter()
            .any(|l| l["kind"] == "recording.read" && l["name"] == "s-0000ffff")
    );

    // Larger than the API serves (a raised cap): refused, saying where to play it.
    let big = stack.recordings.join("s-0000b16b.cast");
    write_recording(&stack, "s-0000b16b", Some("alice"), 1_800_000_400, "big");
    let file = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
    file.set_len(jitgate_api::limits::MAX_RECORDING_BYTES as u64 + 1)
        .unwrap();
    assert_refused(
        alice.recording(&id("s-0000b16b")).await,
        422,
        "jitgate recording play s-0000b16b",
    );
    stack.check_answers_against_openapi();
}
