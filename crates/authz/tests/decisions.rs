//! Table tests: what a user with given grants may do, and what the denial says.

// Test code: a panic is a failed test, with the message saying which input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use jitgate_authz::{
    Decision, Grant, GrantIndex, LabelSelector, Profile, Profiles, Rule, authorize, rfc3339,
};
use jitgate_classify::classify;

const NOW: i64 = 1_777_605_422; // 2026-05-01T03:17:02Z
const LATER: i64 = NOW + 3600;

fn grant(id: &str, user: &str, namespaces: &[&str], expires_at: i64) -> Grant {
    Grant {
        id: id.into(),
        user: user.into(),
        profile: "oncall-debug".into(),
        namespaces: namespaces.iter().map(|&n| n.to_owned()).collect(),
        pod_name_glob: None,
        pod_label_selector: None,
        expires_at,
        created_by: "approver".into(),
    }
}

fn with_glob(mut g: Grant, glob: &str) -> Grant {
    g.pod_name_glob = Some(glob.into());
    g
}

fn with_labels(mut g: Grant, selector: &str) -> Grant {
    g.pod_label_selector = Some(LabelSelector::parse(selector).expect("test selector"));
    g
}

fn with_profile(mut g: Grant, profile: &str) -> Grant {
    g.profile = profile.into();
    g
}

fn profiles() -> Profiles {
    Profiles::new(vec![
        Profile::oncall_debug(),
        Profile {
            name: "read-only".into(),
            description: "look, don't touch".into(),
            rules: vec![Rule::new(
                &[""],
                &["pods", "pods/log"],
                &["get", "list", "watch"],
            )],
        },
        Profile {
            name: "restart".into(),
            description: "delete pods".into(),
            rules: vec![Rule::new(&[""], &["pods"], &["get", "list", "delete"])],
        },
        Profile {
            name: "proxy-get".into(),
            description: "GET through the pod proxy only".into(),
            rules: vec![Rule::new(&[""], &["pods/proxy"], &["get"])],
        },
        Profile {
            name: "proxy-all".into(),
            description: "pod proxy".into(),
            rules: vec![Rule::new(
                &[""],
                &["pods/proxy", "services/proxy"],
                &["get", "create"],
            )],
        },
        Profile {
            name: "exec-get-only".into(),
            description: "misconfigured: get on exec".into(),
            rules: vec![Rule::new(&[""], &["pods/exec"], &["get"])],
        },
    ])
    .expect("test profiles")
}

#[derive(Debug)]
enum Expect {
    Allow(&'static str),
    Discovery,
    NeedLabels(&'static str, &'static str),
    /// The exact denial.
    Deny(String),
    /// Denied, with these fragments in the reason.
    DenyContaining(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    method: &'static str,
    url: &'static str,
    user: &'static str,
    grants: Vec<Grant>,
    labels: Option<&'static [(&'static str, &'static str)]>,
    expect: Expect,
}

fn case(
    name: &'static str,
    method: &'static str,
    url: &'static str,
    grants: Vec<Grant>,
    expect: Expect,
) -> Case {
    Case {
        name,
        method,
        url,
        user: "alice",
        grants,
        labels: None,
        expect,
    }
}

fn alice_checkout() -> Vec<Grant> {
    vec![grant("g-7f3a", "alice", &["checkout"], LATER)]
}

#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let exec = "/api/v1/namespaces/checkout/pods/api-0/exec";
    vec![
        // --- what oncall-debug allows
        case("get pod", "GET", "/api/v1/namespaces/checkout/pods/api-0", alice_checkout(), Expect::Allow("g-7f3a")),
        case("list pods", "GET", "/api/v1/namespaces/checkout/pods", alice_checkout(), Expect::Allow("g-7f3a")),
        case("watch pods", "GET", "/api/v1/namespaces/checkout/pods?watch=1", alice_checkout(), Expect::Allow("g-7f3a")),
        case("list events", "GET", "/api/v1/namespaces/checkout/events", alice_checkout(), Expect::Allow("g-7f3a")),
        case("logs", "GET", "/api/v1/namespaces/checkout/pods/api-0/log?follow=true", alice_checkout(), Expect::Allow("g-7f3a")),
        case("exec over websocket (GET)", "GET", exec, alice_checkout(), Expect::Allow("g-7f3a")),
        case("exec over spdy (POST)", "POST", exec, alice_checkout(), Expect::Allow("g-7f3a")),
        case("attach", "POST", "/api/v1/namespaces/checkout/pods/api-0/attach", alice_checkout(), Expect::Allow("g-7f3a")),
        case("port-forward over websocket", "GET", "/api/v1/namespaces/checkout/pods/api-0/portforward", alice_checkout(), Expect::Allow("g-7f3a")),
        case("deployments", "GET", "/apis/apps/v1/namespaces/checkout/deployments/api", alice_checkout(), Expect::Allow("g-7f3a")),
        case("replicasets watch", "GET", "/apis/apps/v1/namespaces/checkout/replicasets?watch=true", alice_checkout(), Expect::Allow("g-7f3a")),
        case("kubectl debug patches ephemeral containers", "PATCH", "/api/v1/namespaces/checkout/pods/api-0/ephemeralcontainers", alice_checkout(), Expect::Allow("g-7f3a")),
        case("get ephemeral containers", "GET", "/api/v1/namespaces/checkout/pods/api-0/ephemeralcontainers", alice_checkout(), Expect::Allow("g-7f3a")),
        // --- what it does not
        case("delete pod", "DELETE", "/api/v1/namespaces/checkout/pods/api-0", alice_checkout(),
            Expect::Deny("your grant g-7f3a (profile oncall-debug) in namespace \"checkout\" does not let you delete pods; request a profile that does: kubectl jit request restart -n checkout --reason \"...\"".into())),
        case("secrets", "GET", "/api/v1/namespaces/checkout/secrets/db", alice_checkout(),
            Expect::Deny("your grant g-7f3a (profile oncall-debug) in namespace \"checkout\" does not let you get secrets; no jitgate profile allows it; ask your platform team if you need it".into())),
        case("scale deployment", "PATCH", "/apis/apps/v1/namespaces/checkout/deployments/api/scale", alice_checkout(),
            Expect::DenyContaining(&["does not let you patch deployments.apps/scale"])),
        case("events in another group are not core events", "GET", "/apis/events.k8s.io/v1/namespaces/checkout/events", alice_checkout(),
            Expect::DenyContaining(&["list events.events.k8s.io"])),
        case("pod status update", "PUT", "/api/v1/namespaces/checkout/pods/api-0/status", alice_checkout(),
            Expect::DenyContaining(&["update pods/status"])),
        case("deletecollection", "DELETE", "/api/v1/namespaces/checkout/pods", alice_checkout(),
            Expect::DenyContaining(&["deletecollection pods"])),
        case("pod proxy is not in oncall-debug", "GET", "/api/v1/namespaces/checkout/pods/api-0/proxy/metrics", alice_checkout(),
            Expect::DenyContaining(&["does not let you proxy to pods", "kubectl jit request proxy-all"])),
        case("proxy GET needs create too", "GET", "/api/v1/namespaces/checkout/pods/api-0/proxy/", vec![with_profile(grant("g-p", "alice", &["checkout"], LATER), "proxy-get")],
            Expect::DenyContaining(&["does not let you proxy to pods"])),
        case("proxy with get and create", "GET", "/api/v1/namespaces/checkout/pods/api-0/proxy/", vec![with_profile(grant("g-p", "alice", &["checkout"], LATER), "proxy-all")],
            Expect::Allow("g-p")),
        case("service proxy POST", "POST", "/api/v1/namespaces/checkout/services/web:80/proxy/x", vec![with_profile(grant("g-p", "alice", &["checkout"], LATER), "proxy-all")],
            Expect::Allow("g-p")),
        case("exec needs create even over GET", "GET", exec, vec![with_profile(grant("g-e", "alice", &["checkout"], LATER), "exec-get-only")],
            Expect::DenyContaining(&["does not let you exec into pods", "kubectl jit request oncall-debug -n checkout"])),
        case("read-only profile cannot exec", "POST", exec, vec![with_profile(grant("g-r", "alice", &["checkout"], LATER), "read-only")],
            Expect::DenyContaining(&["grant g-r (profile read-only)", "exec into pods"])),
        // --- no grant, other namespaces, other users
        case("no grants at all", "POST", exec, vec![],
            Expect::Deny("no active grant lets alice exec into pods in namespace \"checkout\"; request one with: kubectl jit request oncall-debug -n checkout --reason \"...\"".into())),
        case("only bob has a grant", "POST", exec, vec![grant("g-bob", "bob", &["checkout"], LATER)],
            Expect::DenyContaining(&["no active grant lets alice exec into pods in namespace \"checkout\""])),
        case("grant for other namespaces", "POST", exec, vec![grant("g-1", "alice", &["payments", "search"], LATER), grant("g-2", "alice", &["billing"], LATER)],
            Expect::Deny("no active grant lets alice exec into pods in namespace \"checkout\" (your grants cover \"billing\", \"payments\", \"search\"); request one with: kubectl jit request oncall-debug -n checkout --reason \"...\"".into())),
        case("star namespace is not a wildcard", "GET", "/api/v1/namespaces/checkout/pods", vec![grant("g-star", "alice", &["*"], LATER)],
            Expect::DenyContaining(&["your grants cover \"*\""])),
        case("namespace match is exact", "GET", "/api/v1/namespaces/checkout-2/pods", alice_checkout(),
            Expect::DenyContaining(&["in namespace \"checkout-2\""])),
        case("unknown profile", "GET", "/api/v1/namespaces/checkout/pods", vec![with_profile(grant("g-old", "alice", &["checkout"], LATER), "retired")],
            Expect::DenyContaining(&["grant g-old refers to profile \"retired\", which the policy no longer defines", "kubectl jit request oncall-debug"])),
        case("nothing allows it anywhere", "DELETE", "/api/v1/namespaces/checkout/secrets/x", vec![],
            Expect::Deny("no active grant lets alice delete secrets in namespace \"checkout\"; no jitgate profile allows it; ask your platform team if you need it".into())),
        // --- expiry
        case("expired grant", "POST", exec, vec![grant("g-7f3a", "alice", &["checkout"], NOW)],
            Expect::Deny("access expired at 2026-05-01T03:17:02Z (grant g-7f3a); run kubectl jit request oncall-debug -n checkout --reason \"...\" to continue".into())),
        case("latest expired grant is named", "POST", exec, vec![grant("g-a", "alice", &["checkout"], NOW - 100), grant("g-b", "alice", &["checkout"], NOW - 10)],
            Expect::DenyContaining(&["(grant g-b)"])),
        case("expired grant that would not have helped is not blamed", "POST", exec, vec![grant("g-old", "alice", &["payments"], NOW - 10)],
            Expect::DenyContaining(&["no active grant lets alice exec into pods in namespace \"checkout\";"])),
        case("an active grant wins over an expired one", "POST", exec, vec![grant("g-old", "alice", &["checkout"], NOW - 10), grant("g-new", "alice", &["checkout"], LATER)],
            Expect::Allow("g-new")),
        case("the grant that lasts longest is chosen", "GET", "/api/v1/namespaces/checkout/pods", vec![grant("g-short", "alice", &["checkout"], NOW + 60), grant("g-long", "alice", &["checkout"], LATER), grant("g-mid", "alice", &["checkout"], NOW + 600)],
            Expect::Allow("g-long")),
        // --- cluster scope and non-resource requests
        case("pods across all namespaces", "GET", "/api/v1/pods", alice_checkout(),
            Expect::Deny("jitgate grants access per namespace, and this request has none: alice may not list pods cluster-wide or across all namespaces; add -n <namespace>".into())),
        case("nodes", "GET", "/api/v1/nodes/n1", alice_checkout(), Expect::DenyContaining(&["may not get nodes cluster-wide"])),
        case("node proxy", "GET", "/api/v1/nodes/n1/proxy/configz", alice_checkout(), Expect::DenyContaining(&["may not proxy to nodes cluster-wide"])),
        case("the namespace object itself", "GET", "/api/v1/namespaces/checkout", alice_checkout(), Expect::DenyContaining(&["does not let you get namespaces"])),
        case("unknown method", "OPTIONS", "/api/v1/namespaces/checkout/pods/api-0", alice_checkout(), Expect::DenyContaining(&["has no Kubernetes verb"])),
        case("discovery /api", "GET", "/api", vec![], Expect::Discovery),
        case("discovery /api/v1", "GET", "/api/v1", vec![], Expect::Discovery),
        case("discovery /apis", "GET", "/apis", vec![], Expect::Discovery),
        case("discovery /apis/apps/v1", "GET", "/apis/apps/v1", vec![], Expect::Discovery),
        case("version", "GET", "/version", vec![], Expect::Discovery),
        case("openapi v2", "GET", "/openapi/v2", vec![], Expect::Discovery),
        case("openapi v3", "GET", "/openapi/v3/api/v1", vec![], Expect::Discovery),
        case("discovery HEAD", "HEAD", "/version", vec![], Expect::Discovery),
        case("POST to discovery", "POST", "/apis", alice_checkout(), Expect::Deny("jitgate allows only read-only API discovery outside namespaced resources; POST /apis is not allowed".into())),
        case("healthz", "GET", "/healthz", alice_checkout(), Expect::DenyContaining(&["GET /healthz is not allowed"])),
        case("metrics", "GET", "/metrics", alice_checkout(), Expect::DenyContaining(&["GET /metrics is not allowed"])),
        case("logs endpoint", "GET", "/logs/kube-apiserver.log", alice_checkout(), Expect::DenyContaining(&["GET /logs/kube-apiserver.log"])),
        case("apis prefix lookalike", "GET", "/apisx", alice_checkout(), Expect::DenyContaining(&["GET /apisx is not allowed"])),
        case("root", "GET", "/", alice_checkout(), Expect::DenyContaining(&["GET / is not allowed"])),
        // --- pod-name glob
        case("glob matches", "POST", exec, vec![with_glob(grant("g-g", "alice", &["checkout"], LATER), "api-*")], Expect::Allow("g-g")),
        case("glob does not match", "POST", "/api/v1/namespaces/checkout/pods/db-0/exec", vec![with_glob(grant("g-g", "alice", &["checkout"], LATER), "api-*")],
            Expect::Deny("grant g-g covers only pods named \"api-*\" in namespace \"checkout\", not \"db-0\"; request one for this pod with: kubectl jit request oncall-debug -n checkout --reason \"...\"".into())),
        case("glob applies to logs", "GET", "/api/v1/namespaces/checkout/pods/db-0/log", vec![with_glob(grant("g-g", "alice", &["checkout"], LATER), "api-*")], Expect::DenyContaining(&["not \"db-0\""])),
        case("glob and list without name", "GET", "/api/v1/namespaces/checkout/pods", vec![with_glob(grant("g-g", "alice", &["checkout"], LATER), "api-*")],
            Expect::DenyContaining(&["so list pods needs a pod name", "--field-selector metadata.name=<name>"])),
        case("glob and list with matching field selector", "GET", "/api/v1/namespaces/checkout/pods?fieldSelector=metadata.name%3Dapi-0", vec![with_glob(grant("g-g", "alice", &["checkout"], LATER), "api-*")], Expect::Allow("g-g")),
        case("glob and watch with other name", "GET", "/api/v1/namespaces/checkout/pods?watch=1&fieldSelector=metadata.name%3Ddb-0", vec![with_glob(grant("g-g", "alice", &["checkout"], LATER), "api-*")], Expect::DenyContaining(&["not \"db-0\""])),
        case("glob does not limit deployments", "GET", "/apis/apps/v1/namespaces/checkout/deployments", vec![with_glob(grant("g-g", "alice", &["checkout"], LATER), "api-*")], Expect::Allow("g-g")),
        case("glob does not limit events", "GET", "/api/v1/namespaces/checkout/events", vec![with_glob(grant("g-g", "alice", &["checkout"], LATER), "api-*")], Expect::Allow("g-g")),
        case("a second grant without glob allows", "POST", "/api/v1/namespaces/checkout/pods/db-0/exec", vec![with_glob(grant("g-g", "alice", &["checkout"], LATER), "api-*"), grant("g-all", "alice", &["checkout"], NOW + 60)], Expect::Allow("g-all")),
        // --- label selector
        case("label selector asks for labels", "POST", exec, vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app=api")], Expect::NeedLabels("api-0", "checkout")),
        Case { labels: Some(&[("app", "api"), ("tier", "web")]), ..case("labels match", "POST", exec, vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app=api,tier in (web)")], Expect::Allow("g-l")) },
        Case { labels: Some(&[("app", "db")]), ..case("labels do not match", "POST", exec, vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app=api")],
            Expect::Deny("pod \"api-0\" in namespace \"checkout\" does not match the label selector \"app=api\" of grant g-l".into())) },
        Case { labels: Some(&[]), ..case("no labels, negative selector", "POST", exec, vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "!canary")], Expect::Allow("g-l")) },
        case("an unscoped grant needs no labels", "POST", exec, vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app=api"), grant("g-all", "alice", &["checkout"], NOW + 60)], Expect::Allow("g-all")),
        case("labelled list without selector", "GET", "/api/v1/namespaces/checkout/pods", vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app=api")],
            Expect::Deny("grant g-l covers only pods matching \"app=api\" in namespace \"checkout\"; to list pods, add -l 'app=api' (or name one pod)".into())),
        case("labelled list with the same selector", "GET", "/api/v1/namespaces/checkout/pods?labelSelector=app%3Dapi", vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app=api")], Expect::Allow("g-l")),
        case("labelled watch with a narrower selector", "GET", "/api/v1/namespaces/checkout/pods?watch=1&labelSelector=app%3Dapi,tier%3Dweb", vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app in (api,web)")], Expect::Allow("g-l")),
        case("labelled list with a wider selector", "GET", "/api/v1/namespaces/checkout/pods?labelSelector=app", vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app=api")], Expect::DenyContaining(&["add -l 'app=api'"])),
        case("labelled list with an invalid selector", "GET", "/api/v1/namespaces/checkout/pods?labelSelector=app%3D%3D%3D", vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app=api")], Expect::DenyContaining(&["add -l 'app=api'"])),
        case("labelled list by name asks for labels", "GET", "/api/v1/namespaces/checkout/pods?fieldSelector=metadata.name%3Dapi-0", vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app=api")], Expect::NeedLabels("api-0", "checkout")),
        case("label selector does not limit deployments", "GET", "/apis/apps/v1/namespaces/checkout/deployments/api", vec![with_labels(grant("g-l", "alice", &["checkout"], LATER), "app=api")], Expect::Allow("g-l")),
        case("expired labelled grant", "POST", exec, vec![with_labels(grant("g-l", "alice", &["checkout"], NOW - 1), "app=api")], Expect::DenyContaining(&["access expired at 2026-05-01T03:17:01Z (grant g-l)"])),
        Case { labels: Some(&[("app", "db")]), ..case("glob and labels both apply", "POST", exec, vec![with_labels(with_glob(grant("g-gl", "alice", &["checkout"], LATER), "api-*"), "app=api")], Expect::DenyContaining(&["does not match the label selector"])) },
    ]
}

fn run(
    c: &Case,
    decide: impl Fn(&jitgate_classify::RequestInfo, Option<&BTreeMap<String, String>>) -> Decision,
) -> Result<(), String> {
    let (path, query) = match c.url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (c.url, None),
    };
    let req = classify(c.method, path, query).map_err(|e| format!("{}: classify: {e}", c.name))?;
    let labels: Option<BTreeMap<String, String>> = c.labels.map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    });
    let decision = decide(&req, labels.as_ref());
    let ok = match (&c.expect, &decision) {
        (Expect::Allow(id), Decision::Allow { grant, .. }) => grant.as_str() == *id,
        (Expect::Discovery, Decision::AllowDiscovery) => true,
        (
            Expect::NeedLabels(pod, ns),
            Decision::NeedPodLabels {
                pod: p,
                namespace: n,
            },
        ) => p == pod && n == ns,
        (Expect::Deny(expected), Decision::Deny { reason }) => reason == expected,
        (Expect::DenyContaining(fragments), Decision::Deny { reason }) => {
            fragments.iter().all(|f| reason.contains(f))
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{}: expected {:?}, got {decision:?}",
            c.name, c.expect
        ))
    }
}

#[test]
fn decisions_over_a_slice() {
    let profiles = profiles();
    let failures: Vec<String> = cases()
        .iter()
        .filter_map(|c| {
            run(c, |req, labels| {
                authorize(req, c.user, &c.grants, &profiles, NOW, labels)
            })
            .err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn decisions_over_an_index_agree() {
    let profiles = profiles();
    let failures: Vec<String> = cases()
        .into_iter()
        .filter_map(|c| {
            // Mix in other users' grants, which must change nothing.
            let mut grants = c.grants.clone();
            grants.push(grant("g-mallory", "mallory", &["checkout"], LATER));
            let index = GrantIndex::new(grants);
            run(&c, |req, labels| {
                index.authorize(req, c.user, &profiles, NOW, labels)
            })
            .err()
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn allow_names_the_profile() {
    let req = classify("GET", "/api/v1/namespaces/checkout/pods", None).expect("classify");
    let grants = vec![with_profile(
        grant("g-r", "alice", &["checkout"], LATER),
        "read-only",
    )];
    assert_eq!(
        authorize(&req, "alice", &grants, &profiles(), NOW, None),
        Decision::Allow {
            grant: "g-r".into(),
            profile: "read-only".into()
        }
    );
}

#[test]
fn user_names_are_exact() {
    let req = classify("GET", "/api/v1/namespaces/checkout/pods", None).expect("classify");
    for user in ["Alice", "alice ", "", "alice@example.com"] {
        let decision = authorize(&req, user, &alice_checkout(), &profiles(), NOW, None);
        assert!(!decision.is_allowed(), "{user:?}");
    }
}

#[test]
fn timestamps_are_rfc3339_utc() {
    assert_eq!(rfc3339(NOW), "2026-05-01T03:17:02Z");
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert!(rfc3339(i64::MAX).contains("Unix seconds"));
}

#[test]
fn index_counts_grants() {
    let index = GrantIndex::new(vec![
        grant("a", "u1", &["n"], 1),
        grant("b", "u1", &["n"], 1),
        grant("c", "u2", &["n"], 1),
    ]);
    assert_eq!(index.len(), 3);
    assert_eq!(index.grants_for("u1").len(), 2);
    assert!(index.grants_for("nobody").is_empty());
    assert!(GrantIndex::new(vec![]).is_empty());
}
