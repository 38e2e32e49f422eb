//! Reading JSON-lines audit logs — the gateway's `audit.jsonl` and the apiserver's own — to
//! check that a decision was recorded.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::stack::{StackError, StackResult};

/// A JSON-lines log file, read afresh on every look.
#[derive(Debug, Clone)]
pub struct JsonLines {
    path: PathBuf,
}

impl JsonLines {
    /// The log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every complete line that is JSON (a line still being written is skipped).
    pub fn events(&self) -> StackResult<Vec<Value>> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| StackError::io(format!("reading {}", self.path.display()), e))?;
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        Ok(complete
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    /// The events for which `pick` is true.
    pub fn matching(&self, pick: impl Fn(&Value) -> bool) -> StackResult<Vec<Value>> {
        Ok(self.events()?.into_iter().filter(|e| pick(e)).collect())
    }

    /// Polls until an event satisfies `pick`; fails after `timeout` showing the events that
    /// mention `marker`, to tell why.
    pub fn wait_for(
        &self,
        what: &str,
        marker: &str,
        timeout: Duration,
        pick: impl Fn(&Value) -> bool,
    ) -> StackResult<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.events()?.into_iter().find(|e| pick(e)) {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                let related = self.mentioning(marker)?;
                return Err(StackError::unexpected(
                    format!("{what} in {} within {timeout:?}", self.path.display()),
                    format!(
                        "not found; the {} events mentioning {marker:?} are:\n{}",
                        related.len(),
                        related
                            .iter()
                            .map(Value::to_string)
                            .collect::<Vec<_>>()
                            .join("\n")
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every event whose JSON text contains `marker`.
    pub fn mentioning(&self, marker: &str) -> StackResult<Vec<Value>> {
        self.matching(|e| e.to_string().contains(marker))
    }
}

/// Whether the gateway audit event `e` is a request refused with HTTP `status` whose text
/// mentions `marker` (a unique user name, namespace or path).
pub fn is_denial(e: &Value, marker: &str, status: u16) -> bool {
    e["kind"] == "request"
        && e["decision"] == "deny"
        && e["status"] == status
        && e.to_string().contains(marker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_last_lines_are_skipped_and_denials_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.jsonl");
        std::fs::write(
            &path,
            "{\"kind\":\"request\",\"decision\":\"deny\",\"status\":403,\"user\":\"u-1\"}\n{\"kind\":\"req",
        )
        .expect("write");
        let log = JsonLines::new(&path);
        let events = log.events().expect("read");
        assert_eq!(events.len(), 1);
        assert!(is_denial(&events[0], "u-1", 403));
        assert!(!is_denial(&events[0], "u-1", 401));
        assert!(!is_denial(
            &json!({"kind":"request","decision":"allow","status":403,"user":"u-1"}),
            "u-1",
            403
        ));
        let err = log
            .wait_for("x", "u-1", Duration::from_millis(100), |_| false)
            .expect_err("absent");
        assert!(err.to_string().contains("u-1"), "{err}");
    }
}
