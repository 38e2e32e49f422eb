//! Runs the built `jitgate` binary as a user would.

// Test code: `expect` with a message is how a test fails.
#![allow(clippy::expect_used)]

use std::process::Command;

fn jitgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .args(args)
        .output()
        .expect("the jitgate binary runs")
}

#[test]
fn version_flag_prints_the_package_version() {
    let out = jitgate(&["--version"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("jitgate {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn version_subcommand_prints_the_package_version() {
    let out = jitgate(&["version"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("jitgate {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_the_subcommands() {
    let out = jitgate(&["--help"]);
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: jitgate"), "{help}");
    assert!(help.contains("version"), "{help}");
}

#[test]
fn no_arguments_shows_help_and_fails() {
    let out = jitgate(&[]);
    assert!(!out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage: jitgate"));
}

/// `jitgate audit export`: the selected events, byte for byte as stored, into `--out` only
/// when the whole chain verifies; a tampered log writes nothing and says where it broke.
#[test]
fn audit_export_selects_verifies_and_refuses_a_broken_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("audit.jsonl");
    let log = jitgate_audit::AuditLog::open(&log_path).expect("open the log");
    for (kind, user) in [
        (jitgate_audit::EventKind::Request, "alice"),
        (jitgate_audit::EventKind::StreamDeny, "alice"),
        (jitgate_audit::EventKind::Request, "bob"),
    ] {
        let mut e = jitgate_audit::AuditEvent::new(kind);
        e.user = Some(user.into());
        e.decision = Some(jitgate_audit::Decision::Allow);
        log.append(&e).expect("append");
    }
    drop(log);
    let log_arg = log_path.to_str().expect("utf-8 path");
    let out_path = dir.path().join("export.jsonl");
    let out_arg = out_path.to_str().expect("utf-8 path");

    let out = jitgate(&[
        "audit", "export", log_arg, "--user", "alice", "--kind", "request", "--since", "1h",
        "--out", out_arg,
    ]);
    assert!(out.status.success(), "{out:?}");
    let stored: Vec<String> = std::fs::read_to_string(&log_path)
        .expect("read the log")
        .lines()
        .map(str::to_owned)
        .collect();
    let exported = std::fs::read_to_string(&out_path).expect("the export exists");
    assert_eq!(
        exported,
        format!("{}\n", stored[0]),
        "exactly alice's request, as stored"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exported 1 of 3 events"),
        "{out:?}"
    );

    let bad = jitgate(&["audit", "export", log_arg, "--since", "yesterday"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("neither an RFC 3339 time"),
        "{bad:?}"
    );

    std::fs::remove_file(&out_path).expect("remove");
    let tampered = stored.join("\n").replacen("\"bob\"", "\"mallory\"", 1) + "\n";
    std::fs::write(&log_path, tampered).expect("tamper");
    let out = jitgate(&["audit", "export", log_arg, "--out", out_arg]);
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("chain broken at line 3") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!out_path.exists(), "no export from a broken chain");
}
