//! The unit of an exec/attach session, the same whatever the transport.

use bytes::Bytes;
use jitgate_wire::remotecommand::{StreamType, TerminalSize};

/// One message of an exec or attach session.
///
/// From the client: [`Data`](Self::Data) on stdin, [`Resize`](Self::Resize), and
/// [`Close`](Self::Close) of stdin (its EOF). From the container: data on stdout and stderr, and
/// one [`Error`](Self::Error) with the `Status` that says how the command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecFrame {
    /// Bytes on stdin, stdout or stderr.
    Data(StreamType, Bytes),
    /// The error stream's message: a `Status` JSON object (v4 and v5), with the exit code.
    Error(Bytes),
    /// The client's terminal size changed.
    Resize(TerminalSize),
    /// The sender will send nothing more on this stream (the v5 close signal, SPDY FIN).
    Close(StreamType),
}

impl ExecFrame {
    /// A short name for logs and errors: `stdin`, `stdout`, `stderr`, `error`, `resize`,
    /// `close stdin`, …
    pub fn describe(&self) -> &'static str {
        match self {
            ExecFrame::Data(StreamType::Stdin, _) => "stdin data",
            ExecFrame::Data(StreamType::Stdout, _) => "stdout data",
            ExecFrame::Data(StreamType::Stderr, _) => "stderr data",
            ExecFrame::Data(_, _) => "data on a control stream",
            ExecFrame::Error(_) => "an error-stream message",
            ExecFrame::Resize(_) => "a terminal size",
            ExecFrame::Close(StreamType::Stdin) => "the end of stdin",
            ExecFrame::Close(_) => "the end of a stream",
        }
    }

    /// Payload bytes the frame carries (data and error messages), for byte counts.
    pub fn payload_len(&self) -> usize {
        match self {
            ExecFrame::Data(_, b) | ExecFrame::Error(b) => b.len(),
            ExecFrame::Resize(_) | ExecFrame::Close(_) => 0,
        }
    }

    /// Whether the frame flows from the client towards the container.
    pub fn is_from_client(&self) -> bool {
        matches!(
            self,
            ExecFrame::Data(StreamType::Stdin, _)
                | ExecFrame::Resize(_)
                | ExecFrame::Close(StreamType::Stdin)
        )
    }
}
