//! What can be wrong with a Kubernetes stream above the framing: its headers, its WebSocket
//! channel messages, its port list, its resize messages.

/// An error in the Kubernetes streaming conventions (remotecommand, portforward, WebSocket
/// channels). SPDY framing errors are [`SpdyError`](crate::spdy::SpdyError).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// A SYN_STREAM lacks a header Kubernetes requires.
    #[error("stream has no {header:?} header, which Kubernetes requires; refuse the stream")]
    MissingHeader {
        /// The header's name.
        header: &'static str,
    },

    /// A stream header holds several NUL-separated values; Kubernetes reads only the first, so
    /// the gateway and the upstream could disagree about it.
    #[error("stream header {header:?} has several values; refuse the stream")]
    AmbiguousHeader {
        /// The header's name.
        header: &'static str,
    },

    /// A stream header has a value Kubernetes would not accept.
    #[error("stream header {header:?} is {value:?}: {reason}")]
    InvalidHeader {
        /// The header's name.
        header: &'static str,
        /// The value, shortened and escaped.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A stream type that the negotiated protocol version does not have (resize before v3).
    #[error("stream type {stream_type:?} does not exist in {protocol}; refuse the stream")]
    StreamTypeNotInProtocol {
        /// The stream type.
        stream_type: &'static str,
        /// The negotiated protocol.
        protocol: &'static str,
    },

    /// A base64-framed message's first byte is below ASCII `0`, so it names no channel.
    #[error("WebSocket message starts with {byte:#04x}, which names no channel in base64 framing")]
    InvalidChannelByte {
        /// The first byte.
        byte: u8,
    },

    /// A base64-framed message's payload is not base64.
    #[error("WebSocket message for channel {channel} is not valid base64")]
    InvalidBase64 {
        /// The channel.
        channel: u8,
    },

    /// A v5 close signal (channel 255) not followed by exactly one channel byte.
    #[error("close signal must carry exactly one channel byte, it carries {len}")]
    InvalidCloseSignal {
        /// The payload length.
        len: usize,
    },

    /// A close signal was to be written in a protocol that has none.
    #[error("{protocol} has no close signal (only v5.channel.k8s.io does)")]
    CloseNotSupported {
        /// The protocol.
        protocol: &'static str,
    },

    /// Data was to be written to channel 255, the v5 close signal.
    #[error("channel 255 is the close signal in v5.channel.k8s.io and carries no data")]
    ReservedChannel,

    /// Base64 framing writes the channel as `'0' + channel`, which must stay ASCII.
    #[error("channel {channel} cannot be written in base64 framing (at most 79)")]
    ChannelNotEncodable {
        /// The channel.
        channel: u8,
    },

    /// A WebSocket message payload over the limit.
    #[error("WebSocket message payload of {len} bytes exceeds the {max}-byte limit")]
    MessageTooLarge {
        /// The payload length.
        len: usize,
        /// The limit in force.
        max: usize,
    },

    /// The `ports` query parameter of a WebSocket port-forward is unusable.
    #[error("port-forward ports {value:?}: {reason}")]
    InvalidPorts {
        /// The offending value, shortened and escaped.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The first two bytes the server sent on a port-forward channel are not the expected port.
    #[error("port-forward channel {channel} announced port {got}, expected {expected}")]
    PortPrefixMismatch {
        /// The channel.
        channel: u8,
        /// The port requested for it.
        expected: u16,
        /// The port the server announced.
        got: u16,
    },

    /// A resize message is not a terminal size.
    #[error("resize message is not a terminal size: {reason}")]
    InvalidTerminalSize {
        /// What is wrong with it.
        reason: String,
    },

    /// The error stream's payload is not a Kubernetes Status object.
    #[error("error stream does not hold a Status object: {reason}")]
    InvalidStatus {
        /// What is wrong with it.
        reason: String,
    },
}

/// `bytes` for an error message: printable ASCII kept, the rest escaped, at most 64 bytes.
pub(crate) fn shorten(bytes: &[u8]) -> String {
    let mut out: String = bytes
        .iter()
        .take(64)
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect();
    if bytes.len() > 64 {
        out.push('…');
    }
    out
}
