//! What can go wrong in a stream session.

/// An error of a session leg or of the session core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The WebSocket connection failed.
    #[error("WebSocket connection failed: {0}")]
    WebSocket(#[source] tokio_tungstenite::tungstenite::Error),
    /// A message broke the Kubernetes channel protocol.
    #[error("the peer broke the stream protocol: {0}")]
    Protocol(#[source] jitgate_wire::StreamError),
    /// A message that does not belong in this direction (e.g. stdout sent by kubectl).
    #[error("the peer sent {what}, which it may not send on this side of the session")]
    WrongDirection {
        /// What arrived.
        what: &'static str,
    },
    /// The SPDY connection failed.
    #[error("SPDY connection failed: {0}")]
    Spdy(#[source] jitgate_spdy::Error),
    /// The peer did not open the streams the request asked for in time.
    #[error("the client did not open its {missing} stream(s) within {secs} s")]
    StreamsMissing {
        /// Which.
        missing: String,
        /// The time allowed.
        secs: u64,
    },
    /// A frame cannot be expressed in the leg's protocol.
    #[error("{what} cannot be sent over {protocol}")]
    NotExpressible {
        /// What was to be sent.
        what: &'static str,
        /// The leg's protocol.
        protocol: &'static str,
    },
}
