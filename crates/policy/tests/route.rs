//! Routing requests and approvals against the shipped policy and a few purpose-made ones.

use std::collections::BTreeMap;
use std::time::Duration;

use jitgate_policy::{
    ApprovalProgress, ApprovalRoute, Approver, OnCallAnswer, Policy, Refusal, RequestAsk,
    RoutedRequest,
};
use proptest::prelude::*;

fn groups(names: &[&str]) -> Vec<String> {
    names.iter().map(|&g| g.to_owned()).collect()
}

const MIN: Duration = Duration::from_secs(60);

/// A request by `user` in `groups` for oncall-debug in payments.
struct Ask {
    user: &'static str,
    groups: &'static [&'static str],
    profile: &'static str,
    namespace: &'static str,
    duration: Option<Duration>,
    break_glass: bool,
    on_call: OnCallAnswer,
}

const ALICE: Ask = Ask {
    user: "alice",
    groups: &["oncall-payments", "sre"],
    profile: "oncall-debug",
    namespace: "payments",
    duration: None,
    break_glass: false,
    on_call: OnCallAnswer::Yes,
};

fn route(policy: &Policy, ask: &Ask) -> Result<RoutedRequest, Refusal> {
    let groups = groups(ask.groups);
    let answer = ask.on_call.clone();
    let on_call = move |schedule: &str| {
        assert_eq!(
            schedule, "payments-primary",
            "only the profile's schedule is asked"
        );
        answer.clone()
    };
    policy.route(&RequestAsk {
        user: ask.user,
        groups: &groups,
        profile: ask.profile,
        namespace: ask.namespace,
        namespace_labels: None,
        pod: None,
        duration: ask.duration,
        break_glass: ask.break_glass,
        on_call: &on_call,
    })
}

fn needs_one(why: &str) -> ApprovalRoute {
    ApprovalRoute::NeedsApprovals {
        count: 1,
        approver_groups: groups(&["sre-leads", "payments-leads"]),
        distinct_groups: false,
        why: why.to_owned(),
    }
}

#[test]
fn requests_are_routed_as_the_shipped_policy_says() {
    let policy = Policy::embedded_default();
    type Expected = Result<(ApprovalRoute, Duration), &'static str>;
    let cases: Vec<(&str, Ask, Expected)> = vec![
        (
            "alice on call is auto-approved for the default 30m",
            ALICE,
            Ok((
                ApprovalRoute::AutoApproved {
                    why: "alice is in oncall-payments and on call for payments-primary".into(),
                },
                30 * MIN,
            )),
        ),
        (
            "alice off call needs an approval",
            Ask {
                on_call: OnCallAnswer::No,
                ..ALICE
            },
            Ok((
                needs_one("alice is in oncall-payments but not on call for payments-primary"),
                30 * MIN,
            )),
        ),
        (
            "on-call unknown falls back to approvals, never auto-approval",
            Ask {
                on_call: OnCallAnswer::Unknown("schedule file unreadable".into()),
                ..ALICE
            },
            Ok((
                needs_one(
                    "on-call status of alice for payments-primary is unknown (schedule file \
                     unreadable), so the request needs approval",
                ),
                30 * MIN,
            )),
        ),
        (
            "bob needs one approval from sre-leads or payments-leads",
            Ask {
                user: "bob",
                groups: &["sre", "sre-leads"],
                ..ALICE
            },
            Ok((needs_one(""), 30 * MIN)),
        ),
        (
            "carol asks for 2h",
            Ask {
                user: "carol",
                groups: &["payments-dev"],
                duration: Some(120 * MIN),
                ..ALICE
            },
            Ok((needs_one(""), 120 * MIN)),
        ),
        (
            "dave is not a requester",
            Ask {
                user: "dave",
                groups: &["security", "auditors"],
                ..ALICE
            },
            Err(
                "dave is not a requester of profile \"oncall-debug\" (requesters: \
                 oncall-payments, sre, payments-dev)",
            ),
        ),
        (
            "kube-system is outside the scope",
            Ask {
                namespace: "kube-system",
                ..ALICE
            },
            Err("namespace \"kube-system\" is outside the scope"),
        ),
        (
            "longer than maxDuration",
            Ask {
                duration: Some(5 * 60 * MIN),
                ..ALICE
            },
            Err("5h is longer than the maximum of 4h; ask for 4h or less"),
        ),
        (
            "shorter than a minute",
            Ask {
                duration: Some(Duration::from_secs(30)),
                ..ALICE
            },
            Err("30s is shorter than the minimum of 1m"),
        ),
        (
            "break glass by an sre",
            Ask {
                break_glass: true,
                on_call: OnCallAnswer::No,
                ..ALICE
            },
            Ok((ApprovalRoute::BreakGlass { max: 60 * MIN }, 30 * MIN)),
        ),
        (
            "break glass beyond its cap",
            Ask {
                break_glass: true,
                duration: Some(2 * 60 * MIN),
                ..ALICE
            },
            Err("2h is longer than the break-glass maximum of 1h"),
        ),
        (
            "break glass by someone not in sre",
            Ask {
                user: "carol",
                groups: &["payments-dev"],
                break_glass: true,
                ..ALICE
            },
            Err("carol may not break glass for profile \"oncall-debug\" (only sre)"),
        ),
        (
            "break glass on a profile without it",
            Ask {
                profile: "read-only",
                break_glass: true,
                ..ALICE
            },
            Err("profile \"read-only\" does not allow break glass"),
        ),
        (
            "the standing-only profile cannot be requested",
            Ask {
                user: "carol",
                groups: &["payments-dev"],
                profile: "read-only",
                ..ALICE
            },
            Err("carol is not a requester of profile \"read-only\" (requesters: none)"),
        ),
        (
            "unknown profile",
            Ask {
                profile: "admin",
                ..ALICE
            },
            Err(
                "there is no profile \"admin\" in the policy; profiles are: oncall-debug, \
                 read-only",
            ),
        ),
        (
            "no identity",
            Ask { user: "", ..ALICE },
            Err("no authenticated user"),
        ),
    ];
    for (name, ask, expected) in cases {
        let got = route(&policy, &ask);
        match (&got, expected) {
            (Ok(routed), Ok((route, duration))) => {
                assert_eq!(
                    (&routed.route, routed.duration),
                    (&route, duration),
                    "{name}"
                );
            }
            (Err(refusal), Err(text)) => {
                let message = refusal.to_string();
                assert!(message.starts_with("refused: "), "{name}: {message}");
                assert!(message.contains(text), "{name}: {message:?} lacks {text:?}");
            }
            (got, expected) => panic!("{name}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn break_glass_notifies_loudly() {
    let policy = Policy::embedded_default();
    let normal = route(&policy, &ALICE).unwrap();
    assert_eq!(normal.notify, ["audit-hook"]);
    let glass = route(
        &policy,
        &Ask {
            break_glass: true,
            ..ALICE
        },
    )
    .unwrap();
    assert_eq!(glass.notify, ["audit-hook", "sre-slack"]);
}

#[test]
fn approvals_are_never_self_approvals() {
    let policy = Policy::embedded_default();
    let cases = [
        (
            "carol cannot approve her own request",
            "carol",
            &["payments-leads"][..],
            "carol",
            Err("cannot approve their own request"),
        ),
        (
            "bob approves alice as an sre-lead",
            "bob",
            &["sre", "sre-leads"][..],
            "alice",
            Ok(()),
        ),
        (
            "carol approves bob as a payments-lead",
            "carol",
            &["payments-dev", "payments-leads"][..],
            "bob",
            Ok(()),
        ),
        (
            "alice is no approver",
            "alice",
            &["oncall-payments", "sre"][..],
            "bob",
            Err("alice is not an approver"),
        ),
        (
            "dave is no approver",
            "dave",
            &["security", "auditors"][..],
            "alice",
            Err("approver groups: sre-leads, payments-leads"),
        ),
        (
            "an empty approver",
            "",
            &["sre-leads"][..],
            "alice",
            Err("no authenticated user"),
        ),
    ];
    for (name, approver, approver_groups, requester, expected) in cases {
        let got = policy.may_approve(
            "oncall-debug",
            approver,
            &groups(approver_groups),
            requester,
        );
        match (got, expected) {
            (Ok(()), Ok(())) => {}
            (Err(refusal), Err(text)) => {
                assert!(refusal.to_string().contains(text), "{name}: {refusal}");
            }
            (got, expected) => panic!("{name}: got {got:?}, expected {expected:?}"),
        }
    }
}

const TWO_PERSON: &str = r#"apiVersion: jitgate.dev/v1
kind: Policy
profiles:
  - name: prod-exec
    rules:
      - apiGroups: [""]
        resources: [pods/exec]
        verbs: [get, create]
    scope:
      namespaces: ["team-*"]
      namespaceSelector: "env=prod"
      podNames: ["api-*", "web-*"]
    defaultDuration: 15m
    maxDuration: 1h
    requesters: [dev]
    approval:
      approvals: 2
      approverGroups: [leads, security]
      distinctGroups: true
"#;

fn approver(user: &str, groups_: &[&str]) -> Approver {
    Approver {
        user: user.to_owned(),
        groups: groups(groups_),
    }
}

#[test]
fn distinct_group_approvals_are_counted_by_matching() {
    let policy = Policy::parse(TWO_PERSON).unwrap();
    let progress =
        |approvers: &[Approver]| policy.approvals_satisfied("prod-exec", "erin", approvers);
    assert_eq!(progress(&[]), Ok(ApprovalProgress { have: 0, need: 2 }));
    let two_leads = [approver("lee", &["leads"]), approver("lou", &["leads"])];
    assert_eq!(
        progress(&two_leads),
        Ok(ApprovalProgress { have: 1, need: 2 })
    );
    let same_user_twice = [
        approver("lee", &["leads", "security"]),
        approver("lee", &["leads", "security"]),
    ];
    assert_eq!(
        progress(&same_user_twice),
        Ok(ApprovalProgress { have: 1, need: 2 })
    );
    let both = [
        approver("lee", &["leads", "security"]),
        approver("lou", &["leads"]),
    ];
    let done = progress(&both).unwrap();
    assert!(done.is_satisfied(), "{done:?}");
    let with_self = [approver("erin", &["leads"]), approver("sam", &["security"])];
    assert!(matches!(
        progress(&with_self),
        Err(Refusal::SelfApproval { .. })
    ));
}

#[test]
fn namespace_labels_and_pod_scope_are_enforced() {
    let policy = Policy::parse(TWO_PERSON).unwrap();
    let dev = groups(&["dev"]);
    let no = |_: &str| OnCallAnswer::No;
    let prod: BTreeMap<String, String> = [("env".to_owned(), "prod".to_owned())].into();
    let staging: BTreeMap<String, String> = [("env".to_owned(), "staging".to_owned())].into();
    let ask = |namespace, labels, pod| RequestAsk {
        user: "erin",
        groups: &dev,
        profile: "prod-exec",
        namespace,
        namespace_labels: labels,
        pod,
        duration: None,
        break_glass: false,
        on_call: &no,
    };
    let cases = [
        (
            "labels unknown",
            ask("team-a", None, Some("api-0")),
            Err("could not be read"),
        ),
        (
            "labels do not match",
            ask("team-a", Some(&staging), Some("api-0")),
            Err("does not match the namespace selector"),
        ),
        (
            "namespace glob does not match",
            ask("payments", Some(&prod), Some("api-0")),
            Err("outside the scope"),
        ),
        (
            "several pod globs need a choice",
            ask("team-a", Some(&prod), None),
            Err("choose one with --pod"),
        ),
        (
            "pod outside the globs",
            ask("team-a", Some(&prod), Some("db-0")),
            Err("pod \"db-0\" is outside"),
        ),
        (
            "a glob that is not one of the scope's",
            ask("team-a", Some(&prod), Some("api*")),
            Err("outside"),
        ),
        (
            "a pod name",
            ask("team-a", Some(&prod), Some("api-7d9f")),
            Ok(Some("api-7d9f")),
        ),
        (
            "one of the globs",
            ask("team-b", Some(&prod), Some("web-*")),
            Ok(Some("web-*")),
        ),
    ];
    for (name, ask, expected) in cases {
        match (policy.route(&ask), expected) {
            (Ok(routed), Ok(glob)) => {
                assert_eq!(routed.pod_name_glob.as_deref(), glob, "{name}");
                assert!(
                    matches!(
                        routed.route,
                        ApprovalRoute::NeedsApprovals {
                            count: 2,
                            distinct_groups: true,
                            ..
                        }
                    ),
                    "{name}"
                );
            }
            (Err(refusal), Err(text)) => {
                assert!(refusal.to_string().contains(text), "{name}: {refusal}");
            }
            (got, expected) => panic!("{name}: got {got:?}, expected {expected:?}"),
        }
    }
    assert!(policy.namespace_allowed("prod-exec", "team-a", Some(&prod)));
    assert!(!policy.namespace_allowed("prod-exec", "team-a", None));
}

#[test]
fn standing_access_and_rbac_targets() {
    let policy = Policy::embedded_default();
    let carol = policy.standing_for(&groups(&["payments-dev"]));
    assert_eq!(carol.len(), 1);
    assert_eq!(
        (carol[0].profile.as_str(), carol[0].namespaces.as_slice()),
        ("read-only", &["payments".to_owned()][..])
    );
    assert_eq!(carol[0].via_groups, ["payments-dev"]);
    assert!(
        policy
            .standing_for(&groups(&["sre", "sre-leads"]))
            .is_empty()
    );

    let offline = policy.rbac_targets(&BTreeMap::new());
    let rendered: Vec<(&str, Vec<&str>)> = offline
        .iter()
        .map(|t| {
            (
                t.profile.as_str(),
                t.namespaces.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        rendered,
        [
            ("oncall-debug", vec!["checkout", "ml-training", "payments"]),
            ("read-only", vec!["payments"])
        ]
    );
    // The objects render (the lead wires this into `jitgate rbac render`).
    jitgate_rbac::render(
        policy.profiles(),
        &offline,
        &jitgate_rbac::GatewaySubject::User {
            name: "jitgate-gateway".into(),
        },
        jitgate_rbac::ImpersonationMode::Constrained,
    )
    .unwrap();

    let globbed = Policy::parse(TWO_PERSON).unwrap();
    let label =
        |env: &str| -> BTreeMap<String, String> { [("env".to_owned(), env.to_owned())].into() };
    let cluster: BTreeMap<String, BTreeMap<String, String>> = [
        ("team-a".to_owned(), label("prod")),
        ("team-b".to_owned(), label("staging")),
        ("payments".to_owned(), label("prod")),
    ]
    .into();
    let targets = globbed.rbac_targets(&cluster);
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].namespaces, ["team-a"]);
    assert!(
        globbed.rbac_targets(&BTreeMap::new()).is_empty(),
        "globs need the cluster's namespaces"
    );
}

proptest! {
    /// Whatever the groups and the on-call answer, auto-approval needs an auto-approve group
    /// and a definite "yes".
    #[test]
    fn auto_approval_needs_the_group_and_a_yes(
        in_group in any::<bool>(),
        other in prop::sample::subsequence(vec!["sre", "payments-dev", "sre-leads", "security"], 0..4),
        answer in prop_oneof![Just(OnCallAnswer::Yes), Just(OnCallAnswer::No), ".{0,20}".prop_map(OnCallAnswer::Unknown)],
    ) {
        let policy = Policy::embedded_default();
        let mut user_groups: Vec<String> = other.iter().map(|g| (*g).to_owned()).collect();
        if in_group {
            user_groups.push("oncall-payments".to_owned());
        }
        let reply = answer.clone();
        let on_call = move |_: &str| reply.clone();
        let got = policy.route(&RequestAsk {
            user: "u",
            groups: &user_groups,
            profile: "oncall-debug",
            namespace: "checkout",
            namespace_labels: None,
            pod: None,
            duration: None,
            break_glass: false,
            on_call: &on_call,
        });
        let auto = matches!(got, Ok(RoutedRequest { route: ApprovalRoute::AutoApproved { .. }, .. }));
        prop_assert_eq!(auto, in_group && answer == OnCallAnswer::Yes);
    }
}
