//! The append-only audit log file: one sealed JSON line per event, durable before `append`
//! returns.
//!
//! Durability is a group commit: [`AuditLog::write`] seals and writes a line at once (a short
//! `write` into the page cache) and returns a [`Ticket`]; one sync thread per log runs
//! `fdatasync` whenever lines are waiting, and [`AuditLog::durable`] resolves once a sync has
//! covered the ticket. Concurrent requests share one `fdatasync`, and a caller can overlap the
//! wait with other work (the gateway forwards a read to the apiserver meanwhile) as long as it
//! acknowledges the action only after `durable` returns `Ok`.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

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
    state: Mutex<State>,
    /// The group commit; `None` with [`Durability::Flush`].
    sync: Option<Arc<SyncShared>>,
    /// The sync thread, joined on drop so that its file handle (and with it the `flock`) is
    /// gone when the last `AuditLog` is.
    sync_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(sync) = &self.sync {
            sync.stop();
        }
        let thread = self
            .sync_thread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// The longest a line written with [`AuditLog::write_relaxed`] waits for its `fdatasync` when no
/// other line asks for one sooner.
pub const RELAXED_SYNC_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// A line that has been written but is durable only once [`AuditLog::durable`] says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[must_use = "the event is not durable until `AuditLog::durable(ticket)` returns Ok"]
pub struct Ticket(u64);

impl Ticket {
    /// The sequence number of the line in the chain.
    pub fn seq(self) -> u64 {
        self.0
    }
}

/// What the sync thread has made durable.
#[derive(Debug, Clone, Default)]
struct Synced {
    /// Every line up to this sequence number is on disk.
    seq: u64,
    /// Set when an `fdatasync` failed: nothing after `seq` can be trusted to be on disk.
    failed: Option<String>,
}

/// State shared between writers, waiters and the sync thread of one log.
#[derive(Debug)]
struct SyncShared {
    /// The highest sequence number written to the file (not necessarily synced).
    written: AtomicU64,
    /// The highest sequence number known to be on disk: a waiter whose line is already covered
    /// finds out with one load, without subscribing to (and being woken by) the sync thread.
    synced_seq: AtomicU64,
    /// What is durable; the condition variable wakes blocking waiters.
    synced: Mutex<Synced>,
    synced_changed: Condvar,
    /// The same, for async waiters.
    synced_watch: tokio::sync::watch::Sender<Synced>,
    /// Wakes the sync thread: `true` means stop.
    wake: Mutex<bool>,
    wake_changed: Condvar,
}

impl SyncShared {
    fn new(seq: u64) -> Self {
        let synced = Synced { seq, failed: None };
        Self {
            written: AtomicU64::new(seq),
            synced_seq: AtomicU64::new(seq),
            synced: Mutex::new(synced.clone()),
            synced_changed: Condvar::new(),
            synced_watch: tokio::sync::watch::Sender::new(synced),
            wake: Mutex::new(false),
            wake_changed: Condvar::new(),
        }
    }

    fn wrote(&self, seq: u64, urgent: bool) {
        self.written.fetch_max(seq, Ordering::AcqRel);
        if urgent {
            let _guard = self.wake.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake_changed.notify_one();
        }
    }

    fn stop(&self) {
        *self.wake.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.wake_changed.notify_one();
    }

    fn publish(&self, synced: Synced) {
        if synced.failed.is_none() {
            self.synced_seq.fetch_max(synced.seq, Ordering::AcqRel);
        }
        *self.synced.lock().unwrap_or_else(PoisonError::into_inner) = synced.clone();
        self.synced_changed.notify_all();
        self.synced_watch.send_replace(synced);
    }

    fn failure(&self) -> Option<String> {
        self.synced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failed
            .clone()
    }

    /// The sync thread: one `fdatasync` covers every line written before it started.
    fn run(&self, file: &File) {
        loop {
            let target = {
                let mut stop = self.wake.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    let written = self.written.load(Ordering::Acquire);
                    let synced = self
                        .synced
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .seq;
                    if written > synced {
                        break written;
                    }
                    if *stop {
                        return;
                    }
                    // Relaxed lines do not wake this thread; the timeout syncs them.
                    stop = self
                        .wake_changed
                        .wait_timeout(stop, RELAXED_SYNC_INTERVAL)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            };
            match file.sync_data() {
                Ok(()) => self.publish(Synced {
                    seq: target,
                    failed: None,
                }),
                Err(e) => {
                    let mut synced = self
                        .synced
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    synced.failed = Some(format!("fsync failed: {e}"));
                    self.publish(synced);
                    return;
                }
            }
        }
    }
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
        let (sync, sync_thread) = match durability {
            Durability::Flush => (None, None),
            Durability::Fsync => {
                let sync = Arc::new(SyncShared::new(seq));
                let sync_file = file
                    .try_clone()
                    .map_err(|e| AuditError::io("open a sync handle for", &path, e))?;
                let thread_sync = Arc::clone(&sync);
                let thread = std::thread::Builder::new()
                    .name("jitgate-audit-sync".into())
                    .spawn(move || thread_sync.run(&sync_file))
                    .map_err(|e| AuditError::io("start the sync thread for", &path, e))?;
                (Some(sync), Some(thread))
            }
        };
        Ok(Self {
            shared: Arc::new(Shared {
                path,
                state: Mutex::new(State {
                    file,
                    seq,
                    prev_hash,
                    len,
                    broken: None,
                }),
                sync,
                sync_thread: Mutex::new(sync_thread),
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
            .unwrap_or_else(PoisonError::into_inner);
        Head {
            seq: state.seq,
            hash: state.prev_hash.clone(),
        }
    }

    /// Seals `event` into the chain and writes it; returns once the line is written (and, with
    /// [`Durability::Fsync`], synced to disk). Blocks the calling thread; from async code use
    /// [`append_async`](Self::append_async), or [`write`](Self::write) and
    /// [`durable`](Self::durable).
    pub fn append(&self, event: &AuditEvent) -> Result<(), AuditError> {
        let ticket = self.write(event)?;
        self.wait_durable(ticket)
    }

    /// [`append`](Self::append) for async callers: the line is written at once and the future
    /// resolves when it is durable. As with `append`, acknowledge the action only after this
    /// returns `Ok`.
    pub async fn append_async(&self, event: AuditEvent) -> Result<(), AuditError> {
        let ticket = self.write(&event)?;
        self.durable(ticket).await
    }

    /// Seals `event` into the chain and writes it to the file now (one short `write`), without
    /// waiting for it to reach the disk. The event counts as recorded only once
    /// [`durable`](Self::durable) (or [`wait_durable`](Self::wait_durable)) returns `Ok` for
    /// the ticket.
    pub fn write(&self, event: &AuditEvent) -> Result<Ticket, AuditError> {
        self.write_line(event, true)
    }

    /// Like [`write`](Self::write), for an event that nothing waits on (the outcome of an action
    /// whose decision is already durable): the line is in the file at once and synced with the
    /// next line that is waited on, or within [`RELAXED_SYNC_INTERVAL`], without an
    /// `fdatasync` of its own.
    pub fn write_relaxed(&self, event: &AuditEvent) -> Result<Ticket, AuditError> {
        self.write_line(event, false)
    }

    fn write_line(&self, event: &AuditEvent, urgent: bool) -> Result<Ticket, AuditError> {
        let Value::Object(members) = serde_json::to_value(event).map_err(AuditError::Encode)?
        else {
            // A struct always serializes to an object; anything else is a serde bug.
            return Err(AuditError::Encode(serde::ser::Error::custom(
                "event did not serialize to a JSON object",
            )));
        };
        let shared = &*self.shared;
        if let Some(reason) = shared.sync.as_ref().and_then(|s| s.failure()) {
            return Err(self.broken(reason));
        }
        let mut state = shared.state.lock().map_err(|_| AuditError::Broken {
            path: shared.path.clone(),
            reason: "a writer panicked while holding the log".to_owned(),
        })?;
        if let Some(reason) = &state.broken {
            return Err(self.broken(reason.clone()));
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
        state.seq = seq;
        state.prev_hash = hash;
        state.len += line.len() as u64;
        drop(state);
        if let Some(sync) = &shared.sync {
            sync.wrote(seq, urgent);
        }
        Ok(Ticket(seq))
    }

    /// Resolves once the line of `ticket` is durable: at once with [`Durability::Flush`] (the
    /// line is in the page cache), otherwise after an `fdatasync` that covers it.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), AuditError> {
        let Some(sync) = &self.shared.sync else {
            return Ok(());
        };
        if sync.synced_seq.load(Ordering::Acquire) >= ticket.0 {
            return Ok(());
        }
        let mut rx = sync.synced_watch.subscribe();
        loop {
            {
                let synced = rx.borrow_and_update();
                if synced.seq >= ticket.0 {
                    return Ok(());
                }
                if let Some(reason) = &synced.failed {
                    return Err(self.broken(reason.clone()));
                }
            }
            if rx.changed().await.is_err() {
                return Err(self.broken("the sync thread stopped".to_owned()));
            }
        }
    }

    /// [`durable`](Self::durable), blocking the calling thread.
    pub fn wait_durable(&self, ticket: Ticket) -> Result<(), AuditError> {
        let Some(sync) = &self.shared.sync else {
            return Ok(());
        };
        let mut synced = sync.synced.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if synced.seq >= ticket.0 {
                return Ok(());
            }
            if let Some(reason) = &synced.failed {
                return Err(self.broken(reason.clone()));
            }
            synced = sync
                .synced_changed
                .wait(synced)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn broken(&self, reason: String) -> AuditError {
        AuditError::Broken {
            path: self.shared.path.clone(),
            reason,
        }
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
