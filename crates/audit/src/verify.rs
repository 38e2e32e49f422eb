//! Checking a whole log: every line sealed, numbered one after another, and linked to the line
//! before it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::chain::{self, GENESIS_HASH};
use crate::{AuditError, Head, MAX_LINE_BYTES};

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events verified before the first bad line (all of them when the log is intact).
    pub events: u64,
    /// The 1-based number of the first line that is edited, out of order, inserted, follows a
    /// deleted line, or is incomplete; `None` when the whole chain holds.
    pub first_bad_line: Option<u64>,
    /// What is wrong with `first_bad_line`.
    pub problem: Option<String>,
    /// The last event that verified. Compare it with a copy kept elsewhere: a chain cannot, by
    /// itself, reveal that lines were cut off its end.
    pub head: Head,
}

impl VerifyReport {
    /// Whether every line verified.
    pub fn is_intact(&self) -> bool {
        self.first_bad_line.is_none()
    }
}

/// Reads the log at `path` from the start and checks the chain.
///
/// Tampering is reported in the [`VerifyReport`], not as an error; an error means the file
/// could not be read.
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, AuditError> {
    verify_each(path.as_ref(), |_| Ok(()))
}

/// Like [`verify`], and shows `visit` every line that verified (without its newline), in order,
/// up to the first bad one; an error from `visit` stops the reading and is returned.
pub(crate) fn verify_each(
    path: &Path,
    mut visit: impl FnMut(&[u8]) -> Result<(), AuditError>,
) -> Result<VerifyReport, AuditError> {
    let file = File::open(path).map_err(|e| AuditError::io("open", path, e))?;
    let mut reader = BufReader::new(file);
    let mut report = VerifyReport {
        events: 0,
        first_bad_line: None,
        problem: None,
        head: Head {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        },
    };
    let mut line = Vec::with_capacity(1024);
    let mut line_no = 0u64;
    loop {
        line.clear();
        let read = reader
            .by_ref()
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(|e| AuditError::io("read", path, e))?;
        if read == 0 {
            return Ok(report);
        }
        line_no += 1;
        let problem = match line.split_last() {
            Some((&b'\n', body)) => check_next(body, &report.head).map(|head| (head, body)),
            _ if line.len() > MAX_LINE_BYTES => Err("longer than the 1 MiB line limit".to_owned()),
            _ => Err(
                "incomplete (no newline): a write was interrupted or the file was cut".to_owned(),
            ),
        };
        match problem {
            Ok((head, body)) => {
                report.head = head;
                report.events += 1;
                visit(body)?;
            }
            Err(problem) => {
                report.first_bad_line = Some(line_no);
                report.problem = Some(problem);
                return Ok(report);
            }
        }
    }
}

/// Checks that `line` is sealed and follows `prev`.
fn check_next(line: &[u8], prev: &Head) -> Result<Head, String> {
    let link = chain::check_line(line)?;
    if link.seq != prev.seq + 1 {
        return Err(format!(
            "its seq is {} where {} was expected (a line was deleted, inserted or moved)",
            link.seq,
            prev.seq + 1
        ));
    }
    if link.prev_hash != prev.hash {
        return Err(
            "its prev_hash is not the previous line's hash (a line was replaced, inserted or moved)"
                .to_owned(),
        );
    }
    Ok(Head {
        seq: link.seq,
        hash: link.hash,
    })
}
