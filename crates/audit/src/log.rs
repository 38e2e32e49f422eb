//! The append-only audit log file: one sealed JSON line per event, durable before `append`
//! returns.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::chain::{self, GENESIS_HASH};
use crate::{AuditError, AuditEvent};

/// Longest line (sealed event) the log writes or reads, in bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Mode of a newly created audit log file: it holds command lines and user names.
pub const AUDIT_FILE_MODE: u32 = 0o600;

/// How far [`AuditLog::append`] goes before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `write` + `fsync` (`sync_data`): the event survives a power loss. The default.
    #[default]
    Fsync,
    /// `write` only: the event survives a crash of the gateway, not of the machine. For tests
    /// and for disks where fsync is too slow and the risk is accepted.
    Flush,
}

/// The position of the chain's last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Sequence number of the last event (0 for an empty log).
    pub seq: u64,
    /// Hash of the last event ([`GENESIS_HASH`] for an empty log). Keep a copy of it somewhere
    /// else (a webhook, a ticket) to detect truncation later.
    pub hash: String,
}

/// A hash-chained audit log, open for appending.
///
/// Cloning is cheap and every clone appends to the same chain. Appends are serialized by a
/// mutex held only for the write (and fsync) of one line; the file is also locked against other
/// processes (`flock`), since two writers would fork the chain.
///
/// **The caller acknowledges the action only after `append` returns `Ok`.** An error means the
/// event is not durable and the action must be refused or ended.
#[derive(Debug, Clone)]
pub struct AuditLog {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    durability: Durability,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    file: File,
    seq: u64,
    prev_hash: String,
    /// File length after the last complete line, to cut off a half-written one.
    len: u64,
    /// Set when a failed write or sync left the file in an unknown state.
    broken: Option<String>,
}

impl AuditLog {
    /// Opens (or creates, 0600, with missing parent directories 0700) the log at `path` with
    /// [`Durability::Fsync`], and resumes its chain from the last line.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        Self::open_with(path, Durability::default())
    }

    /// Like [`open`](Self::open), with the given durability.
    ///
    /// Fails with [`AuditError::Corrupt`] if the last line is incomplete or its hash does not
    /// match its content, and with [`AuditError::Locked`] if another writer has the file.
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.exists()
        {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| AuditError::io("create the directory of", &path, e))?;
        }
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(AUDIT_FILE_MODE)
            .open(&path)
            .map_err(|e| AuditError::io("open", &path, e))?;
        lock(&file, &path)?;
        if !existed && durability == Durability::Fsync {
            // Make the new file's directory entry durable too, or a power loss could lose the
            // whole log along with the events already acknowledged.
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| AuditError::io("sync the directory of", &path, e))?;
        }

        let len = file
            .metadata()
            .map_err(|e| AuditError::io("inspect", &path, e))?
            .len();
        let (seq, prev_hash) = match last_line(&mut file, len, &path)? {
            None => (0, GENESIS_HASH.to_owned()),
            Some(line) => {
                let link = chain::check_line(&line).map_err(|reason| AuditError::Corrupt {
                    path: path.clone(),
                    reason: format!("its last line is not a valid chain link: {reason}"),
                })?;
                (link.seq, link.hash)
            }
        };
        Ok(Self {
            shared: Arc::new(Shared {
                path,
                durability,
                state: Mutex::new(State {
                    file,
                    seq,
                    prev_hash,
                    len,
                    broken: None,
                }),
            }),
        })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Where the chain stands now.
    pub fn head(&self) -> Head {
        let state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Head {
            seq: state.seq,
            hash: state.prev_hash.clone(),
        }
    }

    /// Seals `event` into the chain and writes it; returns once the line is written (and, with
    /// [`Durability::Fsync`], synced to disk).
    ///
    /// This blocks on file I/O for one write and one `fdatasync` (typically well under a
    /// millisecond to a few milliseconds). From async code use
    /// [`append_async`](Self::append_async), which runs it on tokio's blocking pool.
    pub fn append(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let Value::Object(members) = serde_json::to_value(event).map_err(AuditError::Encode)?
        else {
            // A struct always serializes to an object; anything else is a serde bug.
            return Err(AuditError::Encode(serde::ser::Error::custom(
                "event did not serialize to a JSON object",
            )));
        };
        let shared = &*self.shared;
        let mut state = shared.state.lock().map_err(|_| AuditError::Broken {
            path: shared.path.clone(),
            reason: "a writer panicked while holding the log".to_owned(),
        })?;
        if let Some(reason) = &state.broken {
            return Err(AuditError::Broken {
                path: shared.path.clone(),
                reason: reason.clone(),
            });
        }

        let seq = state.seq + 1;
        let (mut line, hash) =
            chain::seal(members, seq, &state.prev_hash).map_err(AuditError::Encode)?;
        if line.len() > MAX_LINE_BYTES {
            return Err(AuditError::EventTooLarge {
                size: line.len(),
                limit: MAX_LINE_BYTES,
            });
        }
        line.push(b'\n');

        if let Err(e) = state
            .file
            .write_all(&line)
            .and_then(|()| state.file.flush())
        {
            // Cut off whatever part of the line reached the file, so the chain stays intact.
            let len = state.len;
            if let Err(cut) = state.file.set_len(len) {
                state.broken = Some(format!(
                    "a write failed ({e}) and the partial line could not be removed ({cut})"
                ));
            }
            return Err(AuditError::io("append to", &shared.path, e));
        }
        if shared.durability == Durability::Fsync
            && let Err(e) = state.file.sync_data()
        {
            // After a failed fsync the kernel may have dropped the data; nothing written from
            // here on can be trusted to be on disk.
            state.broken = Some(format!("fsync failed: {e}"));
            return Err(AuditError::io("sync", &shared.path, e));
        }
        state.seq = seq;
        state.prev_hash = hash;
        state.len += line.len() as u64;
        Ok(())
    }

    /// [`append`](Self::append) on tokio's blocking thread pool, for async callers. Requires a
    /// tokio runtime. As with `append`, acknowledge the action only after this returns `Ok`.
    ///
    /// With [`Durability::Flush`] the append is one short `write` into the page cache, cheaper
    /// than a hop to the blocking pool, so it runs inline.
    pub async fn append_async(&self, event: AuditEvent) -> Result<(), AuditError> {
        if self.shared.durability == Durability::Flush {
            return self.append(&event);
        }
        let log = self.clone();
        tokio::task::spawn_blocking(move || log.append(&event))
            .await
            .map_err(AuditError::Task)?
    }
}

fn lock(file: &File, path: &Path) -> Result<(), AuditError> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(AuditError::Locked {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(AuditError::io("lock", path, e.into())),
    }
}

/// The last line of the file without its newline, or `None` for an empty file.
fn last_line(file: &mut File, len: u64, path: &Path) -> Result<Option<Vec<u8>>, AuditError> {
    if len == 0 {
        return Ok(None);
    }
    let window = len.min(MAX_LINE_BYTES as u64 + 1);
    let mut tail = vec![0u8; usize::try_from(window).unwrap_or(MAX_LINE_BYTES + 1)];
    file.seek(SeekFrom::Start(len - window))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| AuditError::io("read", path, e))?;
    let corrupt = |reason: &str| AuditError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let Some((&b'\n', body)) = tail.split_last() else {
        return Err(corrupt(
            "its last line is incomplete (no newline): a write was interrupted",
        ));
    };
    match body.iter().rposition(|&b| b == b'\n') {
        Some(at) => Ok(Some(body[at + 1..].to_vec())),
        None if window == len => Ok(Some(body.to_vec())),
        None => Err(corrupt("its last line is longer than the 1 MiB limit")),
    }
}
