//! Collects what a child process (or a pty) prints, on a thread, so tests can wait for patterns.

use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};

/// The most a capture keeps; the smoke cases print far less. Past this, bytes are dropped.
const MAX_CAPTURE: usize = 64 << 20;

#[derive(Debug, Default)]
struct State {
    bytes: Vec<u8>,
    eof: bool,
    dropped: usize,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A growing buffer fed by a reader thread until end of file.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    shared: Arc<Shared>,
}

impl Capture {
    /// Starts a thread that reads `reader` to its end into the buffer.
    pub(crate) fn start(name: &str, mut reader: impl Read + Send + 'static) -> Result<Self> {
        let shared = Arc::new(Shared::default());
        let feed = Arc::clone(&shared);
        thread::Builder::new()
            .name(format!("capture-{name}"))
            .spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    match reader.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let mut state = feed.lock();
                            let room = MAX_CAPTURE.saturating_sub(state.bytes.len());
                            let keep = n.min(room);
                            state.bytes.extend_from_slice(&buf[..keep]);
                            state.dropped += n - keep;
                            drop(state);
                            feed.changed.notify_all();
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        // A pty master reports EIO once the child side is closed: that is EOF.
                        Err(_) => break,
                    }
                }
                feed.lock().eof = true;
                feed.changed.notify_all();
            })
            .map_err(|e| HarnessError::io(format!("starting the reader thread for {name}"), e))?;
        Ok(Self { shared })
    }

    /// A copy of everything read so far.
    pub(crate) fn snapshot(&self) -> Vec<u8> {
        self.shared.lock().bytes.clone()
    }

    /// Everything read so far as text (lossy), noting bytes dropped past the cap.
    pub(crate) fn text(&self) -> String {
        let state = self.shared.lock();
        let mut text = String::from_utf8_lossy(&state.bytes).into_owned();
        if state.dropped > 0 {
            text.push_str(&format!("\n[… {} more bytes dropped]", state.dropped));
        }
        text
    }

    /// Calls `check` on the bytes from `from` on, each time more arrive, until it returns `Some`,
    /// the stream ends, or `timeout` passes.
    pub(crate) fn wait_until<T>(
        &self,
        from: usize,
        timeout: Duration,
        mut check: impl FnMut(&[u8]) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            let tail = state.bytes.get(from..).unwrap_or_default();
            if let Some(found) = check(tail) {
                return Some(found);
            }
            let now = Instant::now();
            if state.eof || now >= deadline {
                return None;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits until the stream has ended; false if `timeout` passed first.
    pub(crate) fn wait_eof(&self, timeout: Duration) -> bool {
        self.wait_until(0, timeout, |_| None::<()>);
        self.shared.lock().eof
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn reads_to_end_and_finds_patterns() {
        let capture = Capture::start("test", Cursor::new(b"one\ntwo\n".to_vec())).expect("start");
        assert!(capture.wait_eof(Duration::from_secs(5)));
        assert_eq!(capture.snapshot(), b"one\ntwo\n");
        let pos = capture.wait_until(0, Duration::from_secs(1), |b| {
            b.windows(3).position(|w| w == b"two")
        });
        assert_eq!(pos, Some(4));
        let from_five = capture.wait_until(5, Duration::from_secs(1), |b| {
            b.windows(3).position(|w| w == b"one")
        });
        assert_eq!(
            from_five, None,
            "searching from an offset skips earlier output"
        );
    }
}
