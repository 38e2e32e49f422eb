//! `jitgate policy lint|test|schema` run as a user would, on the shipped examples and on broken
//! copies of them.

// Test code: `expect` with a message is how a test fails.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn jitgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .args(args)
        .output()
        .expect("the jitgate binary runs")
}

fn example(name: &str) -> String {
    format!("{}/../../examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Writes `text` to a file of this test's own in cargo's temporary folder.
fn scratch(name: &str, text: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("policy-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn shipped_policy() -> String {
    std::fs::read_to_string(example("policy.yaml")).unwrap()
}

#[test]
fn lint_accepts_the_shipped_policy() {
    let out = jitgate(&["policy", "lint", &example("policy.yaml"), "--strict"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("ok, no findings"), "{}", stdout(&out));
}

#[test]
fn lint_prints_errors_like_a_compiler_and_fails() {
    let broken = shipped_policy()
        .replacen("maxDuration: 4h", "maxDuration: 4x", 1)
        .replacen("verbs: [get, list, watch]", "verbs: [get, lsit, watch]", 1);
    let file = scratch("broken.yaml", &broken);
    let out = jitgate(&["policy", "lint", &file]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        [
            format!(
                "{file}:14:22: error[unknown-verb] profiles[0].rules[0].verbs[1]: \"lsit\" is not \
                 a Kubernetes verb (did you mean \"list\"?); use get, list, watch, create, \
                 update, patch, delete, deletecollection"
            ),
            format!(
                "{file}:31:18: error[bad-duration] profiles[0].maxDuration: \"4x\" is not a \
                 duration: 'x' is not a unit (use d, h, m or s); write e.g. 30m, 4h, 1h30m or 90s"
            ),
        ]
    );
    assert!(
        stderr(&out).contains("2 errors, 0 warnings"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn lint_json_output_and_strict_warnings() {
    let warned = shipped_policy().replacen("      secretEnv: JITGATE_WEBHOOK_SECRET\n", "", 1);
    let file = scratch("warned.yaml", &warned);
    let out = jitgate(&["policy", "lint", &file, "-o", "json"]);
    assert!(out.status.success(), "a warning alone passes: {out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["errors"], 0);
    assert_eq!(report["warnings"], 1);
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "unsigned-webhook");
    assert_eq!(d["severity"], "warning");
    assert_eq!(d["path"], "notifications[1].webhook");
    // The line of the one `webhook:` key in the shipped policy.
    let webhook_line = warned
        .lines()
        .position(|l| l.trim() == "webhook:")
        .map(|i| i + 1)
        .unwrap();
    assert_eq!(d["line"], webhook_line);

    let strict = jitgate(&["policy", "lint", &file, "--strict"]);
    assert_eq!(strict.status.code(), Some(1), "{strict:?}");
    assert!(
        stdout(&strict).contains("warning[unsigned-webhook]"),
        "{}",
        stdout(&strict)
    );
    assert!(stderr(&strict).contains("--strict treats warnings as errors"));
}

#[test]
fn lint_reports_a_missing_file_readably() {
    let out = jitgate(&["policy", "lint", "/nonexistent/policy.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read /nonexistent/policy.yaml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn test_runs_the_shipped_cases() {
    let out = jitgate(&[
        "policy",
        "test",
        &example("policy.yaml"),
        &example("policy-tests.yaml"),
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("PASS alice on call is auto-approved: auto-approved"),
        "{text}"
    );
    assert!(
        text.contains("PASS carol cannot approve her own request: refused:"),
        "{text}"
    );
    assert!(!text.contains("FAIL"), "{text}");
    let cases = text.lines().filter(|l| l.starts_with("PASS ")).count();
    assert_eq!(
        text.lines().last(),
        Some(format!("{cases} passed, 0 failed").as_str())
    );
}

#[test]
fn test_fails_on_a_wrong_expectation() {
    let cases = scratch(
        "wrong-cases.yaml",
        "cases:\n  - name: dave is auto-approved\n    user: dave\n    groups: [auditors]\n    \
         profile: oncall-debug\n    namespace: payments\n    expect: auto-approved\n",
    );
    let out = jitgate(&["policy", "test", &example("policy.yaml"), &cases]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "FAIL dave is auto-approved ({cases}:2): expected auto-approved; got: refused: dave \
             is not a requester"
        )),
        "{text}"
    );
    assert!(text.contains("0 passed, 1 failed"), "{text}");
    assert!(stderr(&out).contains("1 of 1 policy test case(s) failed"));
}

#[test]
fn test_refuses_a_policy_with_errors() {
    let policy = scratch(
        "bad-policy.yaml",
        &shipped_policy().replacen("kind: Policy", "kind: Rules", 1),
    );
    let out = jitgate(&["policy", "test", &policy, &example("policy-tests.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("error[wrong-kind] kind:"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("must lint clean"), "{}", stderr(&out));
}

#[test]
fn schema_prints_the_committed_schema() {
    let out = jitgate(&["policy", "schema"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(format!(
        "{}/../../docs/policy.schema.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert!(
        stdout(&out) == committed,
        "`jitgate policy schema` differs from docs/policy.schema.json; regenerate it with \
         JITGATE_UPDATE_SCHEMA=1 cargo test -p jitgate-policy --test schema"
    );
}
