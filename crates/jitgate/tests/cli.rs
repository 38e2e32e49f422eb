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
