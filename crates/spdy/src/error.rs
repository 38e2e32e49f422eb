//! Everything that can go wrong on a SPDY connection or one of its streams.

use std::sync::Arc;
use std::time::Duration;

use jitgate_wire::spdy::{RstStatus, SpdyError, StreamId};

/// A SPDY connection or stream error.
///
/// Connection-level failures (the socket, a malformed frame, a peer breaking the protocol) end
/// every stream of the connection; each stream then reports [`Error::ConnectionFailed`] with the
/// shared cause as its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the underlying connection failed.
    #[error(
        "the SPDY connection's socket failed while {doing}; the peer is gone, open a new connection"
    )]
    Io {
        /// What the connection was doing.
        doing: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The peer sent bytes that are not valid SPDY/3.1; the connection was closed with
    /// GOAWAY(PROTOCOL_ERROR).
    #[error(
        "the peer sent a malformed SPDY frame, so the connection was closed with GOAWAY(PROTOCOL_ERROR)"
    )]
    MalformedFrame(#[source] SpdyError),

    /// The peer broke the SPDY session rules (a stream id out of order or of the wrong parity, a
    /// reply for a stream never opened, …); the connection was closed with GOAWAY(PROTOCOL_ERROR).
    #[error(
        "the peer broke the SPDY protocol ({reason}), so the connection was closed with GOAWAY(PROTOCOL_ERROR)"
    )]
    ProtocolViolation {
        /// What the peer did.
        reason: String,
    },

    /// The peer sent control frames that need an answer (PING, SYN_STREAM to refuse) faster than
    /// it read our answers; the connection was closed rather than queue answers without bound.
    #[error(
        "the peer sent more than {max} control frames needing an answer without reading the answers; the connection was closed"
    )]
    PeerNotReading {
        /// The limit on unanswered control frames.
        max: usize,
    },

    /// Encoding a frame failed: a header block over the limits, or (not expected) the compressor.
    #[error(
        "a SPDY frame could not be encoded; the connection's compression state may be lost, so it was closed"
    )]
    Encode(#[source] SpdyError),

    /// Headers given to `open_stream` or `reply` exceed the connection's header limits.
    #[error(
        "the stream headers are too large ({reason}); send fewer or shorter headers (limits: jitgate_wire::spdy::Limits)"
    )]
    HeadersTooLarge {
        /// Which limit was exceeded.
        reason: String,
    },

    /// No frame was read or written for the idle timeout; every stream was reset and the
    /// connection closed, as moby/spdystream does.
    #[error("the SPDY connection was idle for {after:?} and was closed; open a new connection")]
    IdleTimeout {
        /// The idle timeout in force.
        after: Duration,
    },

    /// The connection failed; the source says why. Every stream of the connection reports this.
    #[error("the SPDY connection failed")]
    ConnectionFailed(#[source] Arc<Error>),

    /// The peer closed the connection (end of stream on the socket) before this stream ended.
    #[error(
        "the peer closed the SPDY connection before stream {id} ended; the data sent or received on it may be incomplete"
    )]
    ConnectionClosed {
        /// The stream.
        id: StreamId,
    },

    /// The connection was shut down locally (`Connection::shutdown`, or the connection handle
    /// was dropped while this stream was still waiting) before this stream ended.
    #[error("the SPDY connection was shut down locally before stream {id} ended")]
    ConnectionShutDown {
        /// The stream.
        id: StreamId,
    },

    /// The connection is going away (we or the peer sent GOAWAY, or it ended): no new streams.
    #[error(
        "the SPDY connection is closing (GOAWAY), so no new stream can be opened; open a new connection"
    )]
    GoingAway,

    /// The peer reset the stream with RST_STREAM.
    #[error("the peer reset stream {id} with RST_STREAM status {}", status_name(*.status))]
    StreamReset {
        /// The stream.
        id: StreamId,
        /// The status the peer gave.
        status: RstStatus,
    },

    /// We reset the stream (`reset`, or a protocol error on the stream); nothing more can be
    /// sent or received on it.
    #[error("stream {id} was reset locally with RST_STREAM status {}", status_name(*.status))]
    StreamResetLocally {
        /// The stream.
        id: StreamId,
        /// The status we sent.
        status: RstStatus,
    },

    /// The peer sent GOAWAY naming a last good stream below this one: it never processed it.
    /// Retrying it on a new connection is safe.
    #[error(
        "the peer went away (GOAWAY) without processing stream {id}; retry it on a new connection"
    )]
    StreamNotProcessed {
        /// The stream.
        id: StreamId,
    },

    /// More streams would be open than the limit allows.
    #[error(
        "{max} streams are already open on this SPDY connection, the most allowed; close one or open a new connection"
    )]
    TooManyStreams {
        /// The limit in force (ours, or the peer's SETTINGS_MAX_CONCURRENT_STREAMS).
        max: u32,
    },

    /// Every stream id of our parity has been used (2^30 streams).
    #[error("every SPDY stream id of this connection has been used; open a new connection")]
    StreamIdsExhausted,

    /// Data or FIN after this side already half-closed the stream (`finish`, or a FIN flag).
    #[error(
        "stream {id} was already half-closed by this side (FIN sent); nothing more can be sent on it"
    )]
    AlreadyFinished {
        /// The stream.
        id: StreamId,
    },

    /// The stream was opened unidirectional by the peer: this side may not send on it.
    #[error(
        "stream {id} is unidirectional (the peer set FLAG_UNIDIRECTIONAL), so nothing can be sent on it"
    )]
    NotWritable {
        /// The stream.
        id: StreamId,
    },

    /// `wait_reply` on a stream the peer opened (only the opener waits for SYN_REPLY).
    #[error(
        "stream {id} was opened by the peer; only the side that opens a stream waits for its SYN_REPLY"
    )]
    NotOpenedLocally {
        /// The stream.
        id: StreamId,
    },

    /// `Connection::client` or `server` was called outside a tokio runtime.
    #[error(
        "a SPDY connection needs a tokio runtime for its reader and writer tasks; create it inside one"
    )]
    NoRuntime,
}

/// The specification's name for an RST_STREAM status.
pub(crate) fn status_name(status: RstStatus) -> String {
    let name = match status {
        RstStatus::PROTOCOL_ERROR => "PROTOCOL_ERROR",
        RstStatus::INVALID_STREAM => "INVALID_STREAM",
        RstStatus::REFUSED_STREAM => "REFUSED_STREAM",
        RstStatus::UNSUPPORTED_VERSION => "UNSUPPORTED_VERSION",
        RstStatus::CANCEL => "CANCEL",
        RstStatus::INTERNAL_ERROR => "INTERNAL_ERROR",
        RstStatus::FLOW_CONTROL_ERROR => "FLOW_CONTROL_ERROR",
        RstStatus::STREAM_IN_USE => "STREAM_IN_USE",
        RstStatus::STREAM_ALREADY_CLOSED => "STREAM_ALREADY_CLOSED",
        RstStatus::FRAME_TOO_LARGE => "FRAME_TOO_LARGE",
        RstStatus(other) => return format!("{other}"),
    };
    name.to_owned()
}

impl Error {
    /// Whether this error means the peer reset the stream (with any status).
    pub fn is_reset_by_peer(&self) -> bool {
        matches!(self, Error::StreamReset { .. })
    }

    /// The RST_STREAM status if the stream was reset, by either side.
    pub fn reset_status(&self) -> Option<RstStatus> {
        match self {
            Error::StreamReset { status, .. } | Error::StreamResetLocally { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
