//! Exporting the log: the events a [`Selection`] picks, as the JSON lines they are stored as
//! (each keeps its `seq`, `prev_hash` and `hash`), read while the whole chain is verified. A
//! consumer gets exactly what the log holds, and learns whether the chain held through the end.

use std::io::Write;
use std::path::Path;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::verify::verify_each;
use crate::{AuditError, VerifyReport};

/// Which events to export; an empty field selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Events before this time.
    pub until: Option<OffsetDateTime>,
    /// Events of these users (the `user` field).
    pub users: Vec<String>,
    /// Events of these kinds (`request`, `stream.deny`, `access.approve`, …).
    pub kinds: Vec<String>,
    /// Only `allow` or only `deny` decisions.
    pub decision: Option<String>,
    /// Events of this grant.
    pub grant: Option<String>,
    /// Events of this session.
    pub session: Option<String>,
}

impl Selection {
    /// Whether `event` is selected. An event whose `time` does not parse is selected only when
    /// no time bound is set.
    pub fn matches(&self, event: &Value) -> bool {
        let text = |key: &str| event.get(key).and_then(Value::as_str);
        let one_of = |key: &str, wanted: &[String]| {
            wanted.is_empty() || text(key).is_some_and(|v| wanted.iter().any(|w| w == v))
        };
        let equals = |key: &str, wanted: &Option<String>| {
            wanted.as_deref().is_none_or(|w| text(key) == Some(w))
        };
        if self.since.is_some() || self.until.is_some() {
            let Some(at) = text("time").and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            else {
                return false;
            };
            if self.since.is_some_and(|s| at < s) || self.until.is_some_and(|u| at >= u) {
                return false;
            }
        }
        one_of("user", &self.users)
            && one_of("kind", &self.kinds)
            && equals("decision", &self.decision)
            && equals("grant", &self.grant)
            && equals("session", &self.session)
    }
}

/// What [`export`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// The chain, as [`crate::verify`] reports it: intact through `head`, or where it broke.
    pub verify: VerifyReport,
    /// Lines written.
    pub exported: u64,
}

/// Writes the events of the log at `path` that `selection` picks to `out`, one stored line
/// each, while verifying the whole chain. Reading stops at the first line that does not verify;
/// the report says where (what was written before it verified).
///
/// # Errors
/// The log cannot be read, or `out` cannot be written.
pub fn export(
    path: impl AsRef<Path>,
    selection: &Selection,
    out: &mut dyn Write,
) -> Result<ExportReport, AuditError> {
    let path = path.as_ref();
    let mut exported = 0u64;
    let verify = verify_each(path, |line| {
        let event: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
        if selection.matches(&event) {
            out.write_all(line)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| AuditError::io("write the export of", path, e))?;
            exported += 1;
        }
        Ok(())
    })?;
    out.flush()
        .map_err(|e| AuditError::io("write the export of", path, e))?;
    Ok(ExportReport { verify, exported })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::{AuditEvent, AuditLog, Decision, EventKind};

    fn log_with_events(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(&path).expect("open");
        for (kind, user, decision, at) in [
            (
                EventKind::Request,
                "alice",
                Decision::Allow,
                datetime!(2026-12-07 02:14 UTC),
            ),
            (
                EventKind::Request,
                "alice",
                Decision::Deny,
                datetime!(2026-12-07 02:15 UTC),
            ),
            (
                EventKind::StreamDeny,
                "bob",
                Decision::Deny,
                datetime!(2026-12-07 02:16 UTC),
            ),
            (
                EventKind::GrantRevoke,
                "carol",
                Decision::Allow,
                datetime!(2026-12-07 03:00 UTC),
            ),
        ] {
            let mut e = AuditEvent::at(kind, at);
            e.user = Some(user.into());
            e.decision = Some(decision);
            log.append(&e).expect("append");
        }
        path
    }

    fn run(path: &Path, selection: &Selection) -> (ExportReport, Vec<Value>) {
        let mut out = Vec::new();
        let report = export(path, selection, &mut out).expect("export");
        let events = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("a JSON line"))
            .collect();
        (report, events)
    }

    #[test]
    fn selected_events_are_exported_as_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = log_with_events(dir.path());
        let (report, all) = run(&path, &Selection::default());
        assert!(report.verify.is_intact());
        assert_eq!((report.exported, all.len()), (4, 4));
        let stored = std::fs::read_to_string(&path).expect("read");
        let mut out = Vec::new();
        export(&path, &Selection::default(), &mut out).expect("export");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            stored,
            "byte for byte"
        );

        let denials = Selection {
            decision: Some("deny".into()),
            since: Some(datetime!(2026-12-07 02:15 UTC)),
            until: Some(datetime!(2026-12-07 02:16 UTC)),
            ..Selection::default()
        };
        let (report, picked) = run(&path, &denials);
        assert_eq!(report.exported, 1, "until is exclusive, since inclusive");
        assert_eq!(picked[0]["user"], json!("alice"));
        let by_kind = Selection {
            kinds: vec!["stream.deny".into(), "grant.revoke".into()],
            users: vec!["bob".into()],
            ..Selection::default()
        };
        let (_, picked) = run(&path, &by_kind);
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0]["seq"], json!(3));
    }

    #[test]
    fn a_broken_chain_stops_the_export_where_it_breaks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = log_with_events(dir.path());
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replacen("\"bob\"", "\"mallory\"", 1)).expect("tamper");
        let (report, picked) = run(&path, &Selection::default());
        assert_eq!(report.verify.first_bad_line, Some(3));
        assert_eq!((report.exported, picked.len()), (2, 2));
    }
}
