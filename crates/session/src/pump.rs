//! The session core: copies frames between the client leg and the upstream leg, shows each to
//! the session's [`Observer`], counts bytes, and ends the session — when the container's side
//! is done, when the client goes away, when the observer says so, or when the session is cut
//! (grant expired or revoked, gateway shutting down). A cut reaches the client as a `Status`
//! failure on the error stream, which kubectl prints, before both legs are closed.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use jitgate_wire::remotecommand::{ExitStatus, failure_status_json};

use crate::{ExecFrame, Leg};

/// How long a leg may take to write what is queued and close when the session ends.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why a session is being ended from outside; the message is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutReason {
    /// Short machine word for the audit log: `expired`, `revoked`, `shutdown`, …
    pub kind: &'static str,
    /// What the person at the terminal reads.
    pub message: String,
}

/// What an observer wants done with a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on.
    Forward,
    /// Pass these on in its place (none, one or more frames), and send these back to where it
    /// came from: a guard rewriting what was typed, with its explanation to the person.
    Replace {
        /// Frames for the frame's destination.
        onward: Vec<ExecFrame>,
        /// Frames for the side the frame came from.
        back: Vec<ExecFrame>,
    },
    /// End the session now; the client is told why (a guard's denial, a recording that cannot
    /// be written).
    End(CutReason),
}

/// What a session is: who, under which grant, into which container, doing what. The front end
/// that opened the session (the gateway for kubectl; later the SSH door or the web terminal)
/// fills it in; observers get it before the first frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id (`s-…`), as in `jitgate.dev/session` and the audit log.
    pub id: String,
    /// The person.
    pub user: String,
    /// Their groups.
    pub groups: Vec<String>,
    /// The grant that allows the session.
    pub grant: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container, if named.
    pub container: Option<String>,
    /// `exec` or `attach`.
    pub kind: SessionKind,
    /// The command line of an exec, one element per argument.
    pub command: Vec<String>,
    /// Whether the client asked for a terminal.
    pub tty: bool,
    /// Whether the client sends stdin.
    pub stdin: bool,
    /// What the client speaks (`v5.channel.k8s.io`, `SPDY/3.1 v4.channel.k8s.io`, …).
    pub client_protocol: String,
    /// What the gateway speaks upstream.
    pub upstream_protocol: String,
}

/// The kind of an exec-like session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SessionKind {
    /// A new process in the container.
    #[default]
    Exec,
    /// The container's main process.
    Attach,
}

impl SessionKind {
    /// The subresource: `exec` or `attach`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exec => "exec",
            Self::Attach => "attach",
        }
    }
}

/// Sees every frame of a session in both directions, before it is passed on. The recorder and
/// the exec guard are observers.
pub trait Observer: Send {
    /// The session starts; `info` says what it is. An observer that cannot work for this
    /// session (a recording that cannot be opened) ends it here, before anything happens.
    fn started(&mut self, _info: &SessionInfo) -> Verdict {
        Verdict::Forward
    }
    /// A frame from the client, on its way to the container.
    fn on_client_frame(&mut self, _frame: &ExecFrame) -> Verdict {
        Verdict::Forward
    }
    /// A frame from the container, on its way to the client.
    fn on_upstream_frame(&mut self, _frame: &ExecFrame) -> Verdict {
        Verdict::Forward
    }
}

/// An observer that lets everything through.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough;

impl Observer for PassThrough {}

/// Two observers in turn: each sees every frame, the first first; the first verdict other than
/// `Forward` is the pair's (so a recorder placed first sees what a guard after it refuses or
/// rewrites).
impl<A: Observer, B: Observer> Observer for (A, B) {
    fn started(&mut self, info: &SessionInfo) -> Verdict {
        match self.0.started(info) {
            Verdict::Forward => self.1.started(info),
            end => end,
        }
    }
    fn on_client_frame(&mut self, frame: &ExecFrame) -> Verdict {
        match self.0.on_client_frame(frame) {
            Verdict::Forward => self.1.on_client_frame(frame),
            end => end,
        }
    }
    fn on_upstream_frame(&mut self, frame: &ExecFrame) -> Verdict {
        match self.0.on_upstream_frame(frame) {
            Verdict::Forward => self.1.on_upstream_frame(frame),
            end => end,
        }
    }
}

/// An observer that is there for some sessions only.
impl<O: Observer> Observer for Option<O> {
    fn started(&mut self, info: &SessionInfo) -> Verdict {
        self.as_mut().map_or(Verdict::Forward, |o| o.started(info))
    }
    fn on_client_frame(&mut self, frame: &ExecFrame) -> Verdict {
        self.as_mut()
            .map_or(Verdict::Forward, |o| o.on_client_frame(frame))
    }
    fn on_upstream_frame(&mut self, frame: &ExecFrame) -> Verdict {
        self.as_mut()
            .map_or(Verdict::Forward, |o| o.on_upstream_frame(frame))
    }
}

/// Sends `frames` to `leg`, counting their payload; `false` once the leg is gone.
async fn deliver(leg: &Leg, frames: Vec<ExecFrame>, count: &mut u64) -> bool {
    for frame in frames {
        *count += frame.payload_len() as u64;
        if !leg.send(frame).await {
            return false;
        }
    }
    true
}

/// Who or what ended a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndedBy {
    /// The container's side finished (the command exited).
    Upstream,
    /// The client closed its connection.
    Client,
    /// Cut from outside: expiry, revocation, shutdown.
    Cut(CutReason),
    /// An observer ended it.
    Observer(CutReason),
}

/// What a session amounted to, for the `stream.end` audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// Payload bytes from the client (stdin).
    pub bytes_from_client: u64,
    /// Payload bytes to the client (stdout, stderr, error stream).
    pub bytes_to_client: u64,
    /// How it ended.
    pub ended_by: EndedBy,
    /// How the command ended, if the error stream said so.
    pub exit: Option<ExitStatus>,
    /// A transport error of either leg, if one ended or broke the session.
    pub error: Option<String>,
}

/// Runs a session until it ends, then closes both legs. `cut` resolves when the session must
/// be ended from outside.
pub async fn pump<C>(
    info: &SessionInfo,
    mut client: Leg,
    mut upstream: Leg,
    cut: C,
    observer: &mut dyn Observer,
) -> SessionSummary
where
    C: Future<Output = CutReason>,
{
    tokio::pin!(cut);
    let mut from_client: u64 = 0;
    let mut to_client: u64 = 0;
    let mut exit = None;
    let refused = match observer.started(info) {
        // Nothing to replace before the first frame.
        Verdict::Forward | Verdict::Replace { .. } => None,
        Verdict::End(reason) => Some(end_with_status(&client, reason, EndedBy::Observer).await),
    };
    let ended_by = if let Some(ended) = refused {
        ended
    } else {
        loop {
            tokio::select! {
                reason = &mut cut => break end_with_status(&client, reason, EndedBy::Cut).await,
                frame = upstream.recv() => {
                    let Some(frame) = frame else { break EndedBy::Upstream };
                    match observer.on_upstream_frame(&frame) {
                        Verdict::Forward => {}
                        Verdict::End(reason) => {
                            break end_with_status(&client, reason, EndedBy::Observer).await;
                        }
                        Verdict::Replace { onward, back } => {
                            if !deliver(&upstream, back, &mut from_client).await {
                                break EndedBy::Upstream;
                            }
                            if !deliver(&client, onward, &mut to_client).await {
                                break EndedBy::Client;
                            }
                            continue;
                        }
                    }
                    if let ExecFrame::Error(status) = &frame {
                        exit = ExitStatus::from_status_json(status).ok();
                    }
                    to_client += frame.payload_len() as u64;
                    tokio::select! {
                        sent = client.send(frame) => if !sent { break EndedBy::Client },
                        reason = &mut cut => break EndedBy::Cut(reason),
                    }
                }
                frame = client.recv() => {
                    let Some(frame) = frame else { break EndedBy::Client };
                    match observer.on_client_frame(&frame) {
                        Verdict::Forward => {}
                        Verdict::End(reason) => {
                            break end_with_status(&client, reason, EndedBy::Observer).await;
                        }
                        Verdict::Replace { onward, back } => {
                            if !deliver(&client, back, &mut to_client).await {
                                break EndedBy::Client;
                            }
                            if !deliver(&upstream, onward, &mut from_client).await {
                                break EndedBy::Upstream;
                            }
                            continue;
                        }
                    }
                    from_client += frame.payload_len() as u64;
                    tokio::select! {
                        sent = upstream.send(frame) => if !sent { break EndedBy::Upstream },
                        reason = &mut cut => break end_with_status(&client, reason, EndedBy::Cut).await,
                    }
                }
            }
        }
    };
    // The container's side first, so it stops; then the client's, after it got everything.
    let (up_end, client_end) =
        tokio::join!(upstream.finish(CLOSE_GRACE), client.finish(CLOSE_GRACE));
    // Once the command's exit status reached kubectl, kubectl hanging up abruptly is how
    // sessions end, not a failure.
    let client_error = if ended_by == EndedBy::Upstream && exit.is_some() {
        None
    } else {
        client_end.error
    };
    let error = up_end
        .error
        .map(|e| format!("upstream: {e}"))
        .or_else(|| client_error.map(|e| format!("client: {e}")));
    SessionSummary {
        bytes_from_client: from_client,
        bytes_to_client: to_client,
        ended_by,
        exit,
        error,
    }
}

/// Tells the client why the session ends (a `Status` failure on the error stream).
async fn end_with_status(
    client: &Leg,
    reason: CutReason,
    ended: fn(CutReason) -> EndedBy,
) -> EndedBy {
    let status = failure_status_json(&reason.message, "Forbidden", 403);
    // A client that is gone or stalled does not hold the session open.
    let _ = tokio::time::timeout(
        Duration::from_millis(500),
        client.send(ExecFrame::Error(Bytes::from(status))),
    )
    .await;
    ended(reason)
}
