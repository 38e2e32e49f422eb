//! `jitgate policy test` cases: the shipped cases pass against the shipped policy, a wrong
//! expectation fails with a reason, and malformed case files are reported with lines.

use jitgate_policy::{Code, Policy, PolicyTests};

const SHIPPED_CASES: &str = include_str!("../../../examples/policy-tests.yaml");

#[test]
fn shipped_cases_pass_against_the_shipped_policy() {
    let tests = PolicyTests::parse(SHIPPED_CASES).unwrap();
    let results = tests.run(&Policy::embedded_default());
    assert!(results.len() >= 15, "{}", results.len());
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(results[0].name, "alice on call is auto-approved");
    assert_eq!(results[0].line, 5);
    assert!(
        results[0].detail.contains("auto-approved"),
        "{}",
        results[0].detail
    );
}

#[test]
fn wrong_expectations_fail_and_say_what_happened() {
    let text = r#"cases:
  - name: alice expected to need approval though on call
    user: alice
    groups: [oncall-payments]
    profile: oncall-debug
    namespace: payments
    onCall: [payments-primary]
    expect: { approvals: 1 }
  - name: bob expected two approvals
    user: bob
    groups: [sre]
    profile: oncall-debug
    namespace: payments
    expect: { approvals: 2, from: [sre-leads] }
  - name: dave expected to be refused for another reason
    user: dave
    groups: [auditors]
    profile: oncall-debug
    namespace: payments
    expect: { reason: duration }
  - name: carol expected to approve herself
    approve: { requester: carol, approver: carol, approverGroups: [payments-leads] }
    expect: approved
  - name: wrong standing
    standing: { groups: [payments-dev] }
    expect: { standing: [{ profile: oncall-debug, namespaces: [payments] }] }
"#;
    let results = PolicyTests::parse(text)
        .unwrap()
        .run(&Policy::embedded_default());
    let details: Vec<(bool, usize, &str)> = results
        .iter()
        .map(|r| (r.passed, r.line, r.detail.as_str()))
        .collect();
    let expected_fragments = [
        (2, "expected needs-approvals; got: auto-approved"),
        (
            9,
            "expected 2 approval(s), expected approvers [sre-leads]; got: needs 1 approval",
        ),
        (
            15,
            "expected the reason to mention \"duration\"; got: refused: dave is not a requester",
        ),
        (21, "expected approved; got: refused: carol cannot approve"),
        (
            24,
            "expected oncall-debug in payments; got: read-only in payments",
        ),
    ];
    assert_eq!(details.len(), expected_fragments.len());
    for ((passed, line, detail), (want_line, fragment)) in
        details.into_iter().zip(expected_fragments)
    {
        assert!(!passed, "{detail}");
        assert_eq!(line, want_line, "{detail}");
        assert!(detail.contains(fragment), "{detail:?} lacks {fragment:?}");
    }
}

#[test]
fn malformed_case_files_are_reported_with_lines() {
    let cases = [
        (
            "unknown field",
            "cases:\n  - name: x\n    usr: alice\n    expect: refused\n",
            Code::UnknownField,
            "cases[0].usr",
            3,
        ),
        (
            "unknown outcome",
            "cases:\n  - name: x\n    user: a\n    profile: p\n    namespace: n\n    expect: maybe\n",
            Code::UnknownValue,
            "cases[0].expect",
            6,
        ),
        (
            "request without a namespace",
            "cases:\n  - name: x\n    user: a\n    profile: p\n    expect: refused\n",
            Code::BadCase,
            "cases[0]",
            2,
        ),
        (
            "approve case expecting auto-approval",
            "cases:\n  - name: x\n    approve: {requester: a, approver: b}\n    expect: auto-approved\n",
            Code::BadCase,
            "cases[0].expect",
            4,
        ),
        (
            "bad duration",
            "cases:\n  - name: x\n    user: a\n    profile: p\n    namespace: n\n    duration: soon\n    expect: refused\n",
            Code::BadDuration,
            "cases[0].duration",
            6,
        ),
    ];
    for (name, text, code, path, line) in cases {
        let found = PolicyTests::parse(text).expect_err(name);
        let d = found
            .iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("{name}: {found:#?}"));
        assert_eq!((d.path.as_str(), d.line), (path, line), "{name}: {d:?}");
    }
}
