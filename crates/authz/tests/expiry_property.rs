//! Property: an expired grant never allows anything, whatever the request, scope or labels.

// Test code: a panic is a failed test, with the message saying which input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use jitgate_authz::{Decision, Grant, GrantIndex, LabelSelector, Profiles, authorize};
use jitgate_classify::classify;
use proptest::prelude::*;

fn request() -> impl Strategy<Value = (String, String, Option<String>)> {
    let method = prop_oneof![
        Just("GET"),
        Just("POST"),
        Just("PUT"),
        Just("PATCH"),
        Just("DELETE"),
        Just("HEAD")
    ];
    let namespace = prop_oneof![Just("checkout"), Just("payments")];
    let target = prop_oneof![
        Just("pods"),
        Just("pods/api-0"),
        Just("pods/api-0/exec"),
        Just("pods/db-0/attach"),
        Just("pods/api-0/portforward"),
        Just("pods/api-0/log"),
        Just("pods/api-0/ephemeralcontainers"),
        Just("events"),
        Just("pods/api-0/proxy/x"),
    ];
    let group = prop_oneof![Just("/api/v1"), Just("/apis/apps/v1")];
    let query = prop::option::of(prop_oneof![
        Just("watch=1".to_owned()),
        Just("labelSelector=app%3Dapi".to_owned()),
        Just("fieldSelector=metadata.name%3Dapi-0".to_owned()),
    ]);
    (method, group, namespace, target, query)
        .prop_map(|(m, g, ns, t, q)| (m.to_owned(), format!("{g}/namespaces/{ns}/{t}"), q))
}

fn grant_for(expires_at: i64, glob: bool, labels: bool, namespaces: Vec<String>) -> Grant {
    Grant {
        id: "g-1".into(),
        user: "alice".into(),
        profile: "oncall-debug".into(),
        namespaces,
        pod_name_glob: glob.then(|| "api-*".to_owned()),
        pod_label_selector: labels.then(|| LabelSelector::parse("app=api").expect("selector")),
        expires_at,
        created_by: "bob".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn expired_grants_never_allow(
        (method, path, query) in request(),
        expires_at in -1_000_000i64..2_000_000_000,
        age in 0i64..1_000_000,
        glob in any::<bool>(),
        labels in any::<bool>(),
        namespaces in prop::collection::vec(prop_oneof![Just("checkout".to_owned()), Just("payments".to_owned())], 1..3),
        pod_labels in prop::option::of(prop::collection::btree_map("[a-z]{1,4}", "[a-z]{0,4}", 0..3)),
    ) {
        let now = expires_at.saturating_add(age);
        let Ok(req) = classify(&method, &path, query.as_deref()) else {
            return Ok(());
        };
        let mut pod_labels: Option<BTreeMap<String, String>> = pod_labels;
        if let Some(l) = pod_labels.as_mut() { l.insert("app".into(), "api".into()); }
        let grants = vec![grant_for(expires_at, glob, labels, namespaces)];
        let profiles = Profiles::builtin();
        for decision in [
            authorize(&req, "alice", &grants, &profiles, now, pod_labels.as_ref()),
            authorize(&req, "alice", &grants, &profiles, now, None),
            GrantIndex::new(grants.clone()).authorize(&req, "alice", &profiles, now, pod_labels.as_ref()),
        ] {
            prop_assert!(
                matches!(decision, Decision::Deny { .. }),
                "{} {} at {}: {:?}", method, path, now, decision
            );
        }
    }

    #[test]
    fn the_same_grant_one_second_earlier_is_not_denied_for_expiry(
        (method, path, query) in request(),
        expires_at in 1i64..2_000_000_000,
    ) {
        let Ok(req) = classify(&method, &path, query.as_deref()) else {
            return Ok(());
        };
        let grants = vec![grant_for(expires_at, false, false, vec!["checkout".into(), "payments".into()])];
        let decision = authorize(&req, "alice", &grants, &Profiles::builtin(), expires_at - 1, None);
        if let Decision::Deny { reason } = decision {
            prop_assert!(!reason.contains("access expired"), "{}", reason);
        }
    }
}
