//! Session recording: an [`Observer`] that writes every frame of an exec or attach session to
//! an asciicast v2 file ([`jitgate_wire::asciicast`]) — what was typed or sent on stdin (`"i"`),
//! what came back (`"o"`; stderr of a session without a terminal as `"e"`), terminal sizes
//! (`"r"`), and how the command ended (a `"m"` marker with its `Status`).
//!
//! A session that cannot be recorded does not run: if the file cannot be created the session
//! is refused before its first frame, and if a write fails the session is ended, each with a
//! message the person reads. A recording stops growing at its size cap (a marker says so and
//! the session goes on); the cap keeps a `cat` of a large file from filling the disk.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use jitgate_wire::asciicast::{EventCode, Header, SessionMeta, event_line};
use jitgate_wire::remotecommand::StreamType;

use crate::{CutReason, ExecFrame, Observer, SessionInfo, Verdict};

/// The default size cap of one recording.
pub const DEFAULT_CAP: u64 = 16 * 1024 * 1024;

/// What became of a recording, for the session's audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSummary {
    /// The file.
    pub path: PathBuf,
    /// Bytes written.
    pub bytes: u64,
    /// Whether the cap cut it short.
    pub truncated: bool,
}

/// Records one session into one new file.
#[derive(Debug)]
pub struct Recorder {
    path: PathBuf,
    cap: u64,
    file: Option<BufWriter<File>>,
    start: Instant,
    written: u64,
    truncated: bool,
    tty: bool,
}

impl Recorder {
    /// A recorder that will create `path` (it must not exist) when the session starts and
    /// write at most `cap` bytes.
    pub fn new(path: impl Into<PathBuf>, cap: u64) -> Self {
        Self {
            path: path.into(),
            cap,
            file: None,
            start: Instant::now(),
            written: 0,
            truncated: false,
            tty: false,
        }
    }

    /// The file this recorder writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a marker (`"m"`) at this moment, e.g. why jitgate ended the session; a recording
    /// past its cap or not yet started takes none. A failed write shows in [`finish`](Self::finish).
    pub fn mark(&mut self, note: &str) {
        let _ = self.event(EventCode::Marker, note.as_bytes());
    }

    /// Writes what is buffered and says what the recording holds.
    ///
    /// # Errors
    ///
    /// The last write failed; the recording may miss its end.
    pub fn finish(&mut self) -> Result<RecordingSummary, String> {
        if let Some(file) = self.file.as_mut() {
            file.flush()
                .map_err(|e| format!("writing {}: {e}", self.path.display()))?;
        }
        Ok(RecordingSummary {
            path: self.path.clone(),
            bytes: self.written,
            truncated: self.truncated,
        })
    }

    fn event(&mut self, code: EventCode, data: &[u8]) -> Verdict {
        if self.truncated {
            return Verdict::Forward;
        }
        let seconds = self.start.elapsed().as_secs_f64();
        let mut line = event_line(seconds, code, data);
        if self.written + line.len() as u64 > self.cap {
            self.truncated = true;
            line = event_line(
                seconds,
                EventCode::Marker,
                format!(
                    "jitgate: recording truncated at its cap of {} bytes; the session goes on",
                    self.cap
                )
                .as_bytes(),
            );
        }
        self.write(&line)
    }

    fn write(&mut self, line: &str) -> Verdict {
        let Some(file) = self.file.as_mut() else {
            return Verdict::Forward;
        };
        // Written through at once: a gateway that dies mid-session leaves the recording up to
        // its last frame.
        match file.write_all(line.as_bytes()).and_then(|()| file.flush()) {
            Ok(()) => {
                self.written += line.len() as u64;
                Verdict::Forward
            }
            Err(e) => Verdict::End(CutReason {
                kind: "recording",
                message: format!(
                    "the session's recording could not be written ({e}); jitgate ends sessions \
                     it cannot record"
                ),
            }),
        }
    }
}

impl Observer for Recorder {
    fn started(&mut self, info: &SessionInfo) -> Verdict {
        let opened = open_new(&self.path);
        let file = match opened {
            Ok(f) => f,
            Err(e) => {
                return Verdict::End(CutReason {
                    kind: "recording",
                    message: format!(
                        "jitgate cannot record this session ({}: {e}), so it does not start; \
                         sessions never run unrecorded",
                        self.path.display()
                    ),
                });
            }
        };
        self.file = Some(BufWriter::new(file));
        self.tty = info.tty;
        self.start = Instant::now();
        let container = info
            .container
            .as_deref()
            .map(|c| format!(" container {c}"))
            .unwrap_or_default();
        let header = Header {
            width: 80,
            height: 24,
            timestamp: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
            title: format!(
                "{} in {}/{}{container} (grant {}, session {})",
                info.user, info.namespace, info.pod, info.grant, info.id
            ),
            command: info.command.join(" "),
            session: Some(SessionMeta {
                id: info.id.clone(),
                user: info.user.clone(),
                grant: info.grant.clone(),
                namespace: info.namespace.clone(),
                pod: info.pod.clone(),
                container: info.container.clone(),
                kind: info.kind.as_str().to_owned(),
                tty: info.tty,
            }),
        };
        self.write(&header.to_line())
    }

    fn on_client_frame(&mut self, frame: &ExecFrame) -> Verdict {
        match frame {
            ExecFrame::Data(StreamType::Stdin, data) => self.event(EventCode::Input, data),
            ExecFrame::Resize(size) => self.event(
                EventCode::Resize,
                format!("{}x{}", size.width, size.height).as_bytes(),
            ),
            _ => Verdict::Forward,
        }
    }

    fn on_upstream_frame(&mut self, frame: &ExecFrame) -> Verdict {
        match frame {
            ExecFrame::Data(StreamType::Stdout, data) => self.event(EventCode::Output, data),
            ExecFrame::Data(StreamType::Stderr, data) => {
                let code = if self.tty {
                    EventCode::Output
                } else {
                    EventCode::Stderr
                };
                self.event(code, data)
            }
            ExecFrame::Error(status) => self.event(EventCode::Marker, status),
            _ => Verdict::Forward,
        }
    }
}

/// Creates `path` for writing, refusing an existing file; owner-only on Unix.
fn open_new(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}
