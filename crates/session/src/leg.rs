//! A leg: one transport of a session (kubectl's connection, or the gateway's own to the
//! apiserver) seen as two channels of [`ExecFrame`]s and a way to end it.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{ExecFrame, SessionError};

/// Frames a leg buffers in each direction before the other side must wait (backpressure).
pub const LEG_QUEUE: usize = 64;

/// Which end of the session a leg is; it decides which frames the leg may receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The leg towards the person (kubectl): it may receive stdin, resizes and stdin's end.
    Client,
    /// The leg towards the container (through the apiserver): it may receive stdout, stderr,
    /// the error stream and the end of streams.
    Upstream,
}

impl Side {
    /// Whether a frame may arrive on a leg of this side.
    pub fn may_receive(self, frame: &ExecFrame) -> bool {
        match self {
            Side::Client => frame.is_from_client(),
            Side::Upstream => !frame.is_from_client(),
        }
    }
}

/// How a leg ended.
#[derive(Debug, Default)]
pub struct LegEnd {
    /// The error that ended it, if it did not end cleanly.
    pub error: Option<SessionError>,
}

/// One transport of a session: frames from the peer, frames to the peer, and the tasks doing
/// the I/O. Dropping the leg aborts its I/O; [`finish`](Self::finish) ends it gracefully.
#[derive(Debug)]
pub struct Leg {
    protocol: &'static str,
    incoming: mpsc::Receiver<ExecFrame>,
    outgoing: Option<mpsc::Sender<ExecFrame>>,
    reader: JoinHandle<Result<(), SessionError>>,
    writer: JoinHandle<Result<(), SessionError>>,
}

impl Leg {
    /// A leg from its parts: the receiving end of what its reader task decodes, the sending end
    /// of what its writer task encodes (the writer ends the transport gracefully once every
    /// sender is gone), and the two tasks.
    pub fn new(
        protocol: &'static str,
        incoming: mpsc::Receiver<ExecFrame>,
        outgoing: mpsc::Sender<ExecFrame>,
        reader: JoinHandle<Result<(), SessionError>>,
        writer: JoinHandle<Result<(), SessionError>>,
    ) -> Self {
        Self {
            protocol,
            incoming,
            outgoing: Some(outgoing),
            reader,
            writer,
        }
    }

    /// The negotiated protocol (`v5.channel.k8s.io`, `SPDY/3.1 v4.channel.k8s.io`, …).
    pub fn protocol(&self) -> &'static str {
        self.protocol
    }

    /// The next frame from the peer; `None` once the peer is gone or has closed the connection.
    pub async fn recv(&mut self) -> Option<ExecFrame> {
        self.incoming.recv().await
    }

    /// Queues a frame for the peer; `false` if the leg can no longer send.
    pub async fn send(&self, frame: ExecFrame) -> bool {
        match &self.outgoing {
            Some(tx) => tx.send(frame).await.is_ok(),
            None => false,
        }
    }

    /// Ends the leg: everything queued is written, the transport is closed the way its
    /// protocol closes (WebSocket close frame, SPDY FIN/GOAWAY), and the tasks are awaited for
    /// at most `grace`; whatever is still running after that is aborted.
    pub async fn finish(mut self, grace: Duration) -> LegEnd {
        self.outgoing = None;
        let mut end = LegEnd::default();
        match tokio::time::timeout(grace, &mut self.writer).await {
            Ok(Ok(Err(e))) => end.error = Some(e),
            Ok(_) => {}
            Err(_) => self.writer.abort(),
        }
        self.reader.abort();
        if let Ok(Err(e)) = (&mut self.reader).await
            && end.error.is_none()
        {
            end.error = Some(e);
        }
        end
    }
}

impl Drop for Leg {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}
