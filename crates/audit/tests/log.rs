//! The audit log as the gateway and an auditor use it: appended across restarts and threads,
//! and checked after someone edits it.

// Test helpers unwrap like the tests do: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jitgate_audit::{
    AuditError, AuditEvent, AuditLog, Decision, Durability, EventKind, GENESIS_HASH,
    MAX_LINE_BYTES, verify,
};
use serde_json::Value;

fn event(n: usize) -> AuditEvent {
    let mut e = AuditEvent::new(EventKind::Request);
    e.user = Some(format!("user-{n}"));
    e.groups = vec!["sre".into()];
    e.verb = Some("get".into());
    e.resource = Some("pods".into());
    e.namespace = Some("payments".into());
    e.name = Some(format!("api-{n}"));
    e.decision = Some(if n.is_multiple_of(2) {
        Decision::Allow
    } else {
        Decision::Deny
    });
    e.status = Some(200);
    e
}

fn log_with(n: usize) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    let log = AuditLog::open_with(&path, Durability::Flush).unwrap();
    for i in 1..=n {
        log.append(&event(i)).unwrap();
    }
    (tmp, path)
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

#[test]
fn lines_carry_the_event_and_the_chain() {
    let (_tmp, path) = log_with(2);
    let l = lines(&path);
    assert_eq!(l.len(), 2);
    let first = json(&l[0]);
    let second = json(&l[1]);
    assert_eq!(first["seq"], 1);
    assert_eq!(first["prev_hash"], GENESIS_HASH);
    assert_eq!(first["kind"], "request");
    assert_eq!(first["user"], "user-1");
    assert_eq!(first["decision"], "deny");
    assert!(first.get("command").is_none(), "None fields are left out");
    assert_eq!(second["seq"], 2);
    assert_eq!(second["prev_hash"], first["hash"]);
    assert!(l[0].ends_with(&format!("\"hash\":{}}}", first["hash"])));
    // time: RFC 3339, UTC, milliseconds.
    let time = first["time"].as_str().unwrap();
    assert_eq!(time.len(), "2025-01-31T03:17:02.123Z".len(), "{time}");
    assert!(time.ends_with('Z'));
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 2);
    assert_eq!(report.head.seq, 2);
    assert_eq!(report.head.hash, second["hash"].as_str().unwrap());
}

#[test]
fn chain_resumes_after_reopening() {
    let (_tmp, path) = log_with(3);
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.head().seq, 3);
    log.append(&event(4)).unwrap();
    drop(log);
    let log = AuditLog::open(&path).unwrap();
    log.append(&event(5)).unwrap();
    assert_eq!(log.head().seq, 5);

    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 5);
    let seqs: Vec<u64> = lines(&path)
        .iter()
        .map(|l| json(l)["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
}

#[test]
fn empty_log_verifies_and_starts_at_genesis() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nested/dir/audit.jsonl");
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.head().seq, 0);
    assert_eq!(log.head().hash, GENESIS_HASH);
    let report = verify(&path).unwrap();
    assert!(report.is_intact());
    assert_eq!(report.events, 0);
}

/// Each way of tampering, and the line where verification must first fail.
#[test]
fn tampering_is_detected_at_the_right_line() {
    type Tamper = Box<dyn Fn(&mut Vec<String>)>;
    let cases: Vec<(&str, Tamper, u64)> = vec![
        (
            "edit a field",
            Box::new(|l| l[2] = l[2].replace("user-3", "mallory")),
            3,
        ),
        (
            "edit a field and recompute that line's hash",
            Box::new(|l| l[2] = reseal(&l[2].replace("\"deny\"", "\"allow\""))),
            4,
        ),
        (
            "reformat without changing meaning",
            Box::new(|l| l[1] = l[1].replacen(',', ", ", 1)),
            2,
        ),
        ("delete a line", Box::new(|l| drop(l.remove(2))), 3),
        ("delete the first line", Box::new(|l| drop(l.remove(0))), 1),
        ("swap two lines", Box::new(|l| l.swap(1, 2)), 2),
        (
            "insert a copy of a line",
            Box::new(|l| {
                let copy = l[1].clone();
                l.insert(3, copy);
            }),
            4,
        ),
        (
            "insert a forged line that links to its predecessor",
            Box::new(|l| {
                let prev = json(&l[1]);
                let mut forged = json(&l[1]);
                forged["seq"] = Value::from(prev["seq"].as_u64().unwrap() + 1);
                forged["prev_hash"] = prev["hash"].clone();
                forged["user"] = Value::from("ghost");
                l.insert(2, reseal(&forged.to_string()));
            }),
            4,
        ),
        (
            "append a half line",
            Box::new(|l| {
                let half = l[0][..20].to_owned();
                l.push(half);
            }),
            6,
        ),
    ];
    for (what, tamper, bad_line) in cases {
        let (_tmp, path) = log_with(5);
        let mut l = lines(&path);
        tamper(&mut l);
        write_lines(&path, &l);
        let report = verify(&path).unwrap();
        assert_eq!(report.first_bad_line, Some(bad_line), "{what}: {report:?}");
        assert_eq!(report.events, bad_line - 1, "{what}");
        assert!(report.problem.is_some(), "{what}");
    }
}

/// Recomputes a line's hash the way an attacker who knows the format would.
fn reseal(line: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut v: Value = serde_json::from_str(line).unwrap();
    v.as_object_mut().unwrap().remove("hash");
    // serde_json without `preserve_order` sorts keys, which is the canonical order here.
    let canonical = serde_json::to_string(&sorted(&v)).unwrap();
    let mut d = Sha256::new();
    d.update(v["prev_hash"].as_str().unwrap().as_bytes());
    d.update(canonical.as_bytes());
    let hash = hex::encode(d.finalize());
    format!(
        "{},\"hash\":\"{hash}\"}}",
        &canonical[..canonical.len() - 1]
    )
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let mut out = serde_json::Map::new();
            for (k, v) in entries {
                out.insert(k.clone(), sorted(v));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[test]
fn resealing_a_line_is_only_caught_by_its_successor() {
    // The reseal helper produces a line the verifier accepts on its own: proof that the
    // "recompute the hash" case above is caught by the chain, not by a format quirk.
    let (_tmp, path) = log_with(3);
    let mut l = lines(&path);
    l[2] = reseal(&l[2].replace("user-3", "mallory"));
    write_lines(&path, &l);
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 3);
}

#[test]
fn opening_a_log_with_a_damaged_tail_is_refused() {
    let (_tmp, path) = log_with(3);
    let original = fs::read_to_string(&path).unwrap();

    fs::write(&path, original.replace("user-3", "mallory")).unwrap();
    let err = AuditLog::open(&path).unwrap_err();
    assert!(matches!(err, AuditError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("jitgate audit verify"), "{err}");

    fs::write(&path, &original[..original.len() - 10]).unwrap();
    let err = AuditLog::open(&path).unwrap_err();
    assert!(err.to_string().contains("incomplete"), "{err}");

    fs::write(&path, &original).unwrap();
    AuditLog::open(&path).unwrap();
}

#[test]
fn a_second_writer_is_refused() {
    let (_tmp, path) = log_with(1);
    let first = AuditLog::open(&path).unwrap();
    let err = AuditLog::open(&path).unwrap_err();
    assert!(matches!(err, AuditError::Locked { .. }), "{err}");
    drop(first);
    AuditLog::open(&path).unwrap();
}

#[test]
fn concurrent_appends_from_many_threads_keep_one_valid_chain() {
    const THREADS: usize = 8;
    const EACH: usize = 50;
    let (_tmp, path) = log_with(0);
    let log = AuditLog::open_with(&path, Durability::Flush).unwrap();
    let log = Arc::new(log);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let log = log.clone();
            s.spawn(move || {
                for i in 0..EACH {
                    log.append(&event(t * 1000 + i)).unwrap();
                }
            });
        }
    });
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, (THREADS * EACH) as u64);
    let users: HashSet<String> = lines(&path)
        .iter()
        .map(|l| json(l)["user"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        users.len(),
        THREADS * EACH,
        "every event written exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_appends_are_durable_when_they_return() {
    let (_tmp, path) = log_with(0);
    let log = AuditLog::open(&path).unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let log = log.clone();
        tasks.push(tokio::spawn(
            async move { log.append_async(event(i)).await },
        ));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // Every acknowledged event is in the file now, without closing the log.
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 20);
    assert_eq!(log.head().seq, 20);
}

#[test]
fn an_oversized_event_is_refused_and_the_chain_goes_on() {
    let (_tmp, path) = log_with(1);
    let log = AuditLog::open(&path).unwrap();
    let mut big = event(2);
    big.command = Some(vec!["x".repeat(MAX_LINE_BYTES)]);
    let err = log.append(&big).unwrap_err();
    assert!(matches!(err, AuditError::EventTooLarge { .. }), "{err}");
    log.append(&event(3)).unwrap();
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 2);
}

#[test]
fn strings_from_the_network_survive_the_round_trip() {
    let (_tmp, path) = log_with(0);
    let log = AuditLog::open(&path).unwrap();
    let mut e = AuditEvent::new(EventKind::StreamStart);
    e.command = Some(vec![
        "sh".into(),
        "-c".into(),
        "echo \"hi\"\n\u{1b}[31mred\u{0}\u{2028}é".into(),
    ]);
    e.user_agent = Some("kubectl/v1.33.0 (linux/amd64) \\ \"quoted\"".into());
    log.append(&e).unwrap();
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(lines(&path).len(), 1, "control characters stay escaped");
    let back: AuditEvent = serde_json::from_str(&lines(&path)[0]).unwrap();
    assert_eq!(back.command, e.command);
    assert_eq!(back.user_agent, e.user_agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_lines_become_durable_in_order_through_tickets() {
    let (_tmp, path) = log_with(0);
    let log = AuditLog::open(&path).unwrap();
    let first = log.write(&event(1)).unwrap();
    let second = log.write(&event(2)).unwrap();
    assert!(first < second, "tickets follow the chain order");
    assert_eq!((first.seq(), second.seq()), (1, 2));
    // Waiting for the later ticket covers the earlier one too (one fdatasync covers both).
    log.durable(second).await.unwrap();
    log.durable(first).await.unwrap();
    log.wait_durable(first).unwrap();
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 2);
}

#[test]
fn blocking_and_async_writers_share_one_chain_under_fsync() {
    let (_tmp, path) = log_with(0);
    let log = AuditLog::open(&path).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    log.append(&event(t * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move { log.append_async(event(1000 + i)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 150);
    assert_eq!(log.head().seq, 150);
}

#[tokio::test]
async fn flush_durability_tickets_resolve_at_once() {
    let (_tmp, path) = log_with(0);
    let log = AuditLog::open_with(&path, Durability::Flush).unwrap();
    let t = log.write(&event(1)).unwrap();
    log.durable(t).await.unwrap();
    assert_eq!(lines(&path).len(), 1);
}

#[test]
fn relaxed_lines_are_synced_without_being_waited_on() {
    let (_tmp, path) = log_with(0);
    let log = AuditLog::open(&path).unwrap();
    let relaxed = log.write_relaxed(&event(1)).unwrap();
    // Nothing asks for a sync: the interval does it.
    log.wait_durable(relaxed).unwrap();
    let urgent = log.write(&event(2)).unwrap();
    log.wait_durable(urgent).unwrap();
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 2);
}
