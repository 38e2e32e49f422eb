//! Every long-lived stream (watch, `logs -f`, exec, attach, port-forward) is registered under
//! the grant that allowed it, so expiry, revocation and shutdown can end it within a second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::watch;

/// Why a stream was cut; the message is shown to the user.
pub use jitgate_session::CutReason;

#[derive(Debug)]
struct Entry {
    grant: String,
    cut: watch::Sender<Option<CutReason>>,
}

/// The live streams, by id.
#[derive(Debug, Default)]
pub struct StreamRegistry {
    next: AtomicU64,
    streams: Mutex<HashMap<u64, Entry>>,
    /// Set by [`StreamRegistry::cut_all`]: a stream registered afterwards is born cut.
    closing: OnceLock<CutReason>,
}

/// A registered stream; dropping it unregisters the stream.
#[derive(Debug)]
pub struct StreamGuard<'a> {
    registry: &'a StreamRegistry,
    id: u64,
    /// Fires (turns `Some`) when the stream must end.
    pub cut: watch::Receiver<Option<CutReason>>,
}

impl Drop for StreamGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut map) = self.registry.streams.lock() {
            map.remove(&self.id);
        }
    }
}

impl StreamRegistry {
    /// Registers a stream allowed by `grant`.
    pub fn register(&self, grant: &str) -> StreamGuard<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(self.closing.get().cloned());
        if let Ok(mut map) = self.streams.lock() {
            map.insert(
                id,
                Entry {
                    grant: grant.to_owned(),
                    cut: tx,
                },
            );
        }
        StreamGuard {
            registry: self,
            id,
            cut: rx,
        }
    }

    /// Ends every stream of `grant`; returns how many were cut.
    pub fn cut_grant(&self, grant: &str, reason: &CutReason) -> usize {
        self.cut_where(|g| g == grant, reason)
    }

    /// The grants that have live streams.
    pub fn grants(&self) -> Vec<String> {
        let Ok(map) = self.streams.lock() else {
            return Vec::new();
        };
        let mut grants: Vec<String> = map.values().map(|e| e.grant.clone()).collect();
        grants.sort_unstable();
        grants.dedup();
        grants
    }

    /// Ends every stream (gateway shutdown); a stream registered from now on is cut at once.
    pub fn cut_all(&self, reason: &CutReason) -> usize {
        let _ = self.closing.set(reason.clone());
        self.cut_where(|_| true, reason)
    }

    fn cut_where(&self, pick: impl Fn(&str) -> bool, reason: &CutReason) -> usize {
        let Ok(map) = self.streams.lock() else {
            return 0;
        };
        let mut n = 0;
        for entry in map.values() {
            if pick(&entry.grant) && entry.cut.borrow().is_none() {
                let _ = entry.cut.send(Some(reason.clone()));
                n += 1;
            }
        }
        n
    }

    /// How many streams are live.
    pub fn len(&self) -> usize {
        self.streams.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no stream is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_a_grant_reaches_only_its_streams() {
        let reg = StreamRegistry::default();
        let a = reg.register("g-a");
        let b = reg.register("g-b");
        let reason = CutReason {
            kind: "revoked",
            message: "revoked".into(),
        };
        assert_eq!(reg.cut_grant("g-a", &reason), 1);
        assert_eq!(a.cut.borrow().as_ref(), Some(&reason));
        assert!(b.cut.borrow().is_none());
        assert_eq!(reg.len(), 2);
        drop(a);
        assert_eq!(reg.len(), 1);
    }

    #[test]
    fn after_shutdown_began_a_new_stream_is_born_cut() {
        let reg = StreamRegistry::default();
        let before = reg.register("g-a");
        let reason = CutReason {
            kind: "shutdown",
            message: "shutting down".into(),
        };
        assert_eq!(reg.cut_all(&reason), 1);
        assert_eq!(before.cut.borrow().as_ref(), Some(&reason));
        let after = reg.register("g-b");
        assert_eq!(after.cut.borrow().as_ref(), Some(&reason));
    }
}
