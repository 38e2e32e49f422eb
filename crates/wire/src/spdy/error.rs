//! Everything that can go wrong reading or writing SPDY frames.

use super::frame::FrameKind;

/// A SPDY framing error.
///
/// Every decode error is a session error in the sense of SPDY/3.1 §2.4.1: the header compression
/// context may be out of step with the peer's, so the connection cannot be trusted any more. Send
/// GOAWAY (status PROTOCOL_ERROR) and close it; the [`FrameDecoder`](super::FrameDecoder) refuses
/// to decode anything after its first error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpdyError {
    /// A control frame carried a protocol version other than 3.
    #[error(
        "SPDY control frame has version {version}, only version 3 is spoken; close the connection"
    )]
    UnsupportedVersion {
        /// The version field of the frame.
        version: u16,
    },

    /// A frame's length field exceeds the configured limit.
    #[error("SPDY {kind} frame of {len} bytes exceeds the {max}-byte limit; close the connection")]
    FrameTooLarge {
        /// Which frame.
        kind: FrameKind,
        /// The frame's length field.
        len: usize,
        /// The limit in force.
        max: usize,
    },

    /// A control frame's length does not fit its type (§2.6: RST_STREAM, PING, GOAWAY and
    /// WINDOW_UPDATE have fixed lengths; the others have a minimum).
    #[error("SPDY {kind} frame has length {len}, which its type does not allow")]
    InvalidLength {
        /// Which frame.
        kind: FrameKind,
        /// The frame's length field.
        len: usize,
    },

    /// A frame carried flag bits its type does not define.
    #[error("SPDY {kind} frame has undefined flags {flags:#04x}")]
    InvalidFlags {
        /// Which frame.
        kind: FrameKind,
        /// The flags byte.
        flags: u8,
    },

    /// A frame that must name a stream named stream 0.
    #[error("SPDY {kind} frame names stream 0, which is not a stream")]
    ZeroStreamId {
        /// Which frame.
        kind: FrameKind,
    },

    /// A stream id above 2^31 - 1 was given to the encoder.
    #[error("stream id {id} does not fit in 31 bits")]
    StreamIdOutOfRange {
        /// The offending id.
        id: u32,
    },

    /// A SYN_STREAM priority above 7 was given to the encoder (§2.6.1: priority is 3 bits).
    #[error("SYN_STREAM priority {priority} does not fit in 3 bits (0 is highest, 7 lowest)")]
    InvalidPriority {
        /// The offending priority.
        priority: u8,
    },

    /// RST_STREAM with status 0, which §2.6.3 says is not a valid status.
    #[error("RST_STREAM with status 0, which is not a valid status code")]
    ZeroRstStatus,

    /// WINDOW_UPDATE with a delta outside 1..=2^31-1 (§2.6.8).
    #[error("WINDOW_UPDATE delta {delta} is outside 1..=2147483647")]
    InvalidWindowDelta {
        /// The offending delta.
        delta: u32,
    },

    /// A SETTINGS id does not fit in 24 bits (§2.6.4).
    #[error("SETTINGS id {id} does not fit in 24 bits")]
    InvalidSettingId {
        /// The offending id.
        id: u32,
    },

    /// A SETTINGS frame's entry count does not match its length.
    #[error("SETTINGS frame says {count} entries but its length is {len} bytes")]
    SettingsCountMismatch {
        /// The entry count field.
        count: u32,
        /// The frame's length field.
        len: usize,
    },

    /// A header block, once decompressed, is larger than the limit (this is what stops a zlib
    /// bomb: decompression stops one byte past the limit).
    #[error("SPDY header block decompresses to more than {max} bytes; close the connection")]
    HeaderBlockTooLarge {
        /// The limit in force.
        max: usize,
    },

    /// A header block has more name/value pairs than the limit.
    #[error("SPDY header block has {count} headers, more than the limit of {max}")]
    TooManyHeaders {
        /// The pair count.
        count: u64,
        /// The limit in force.
        max: u32,
    },

    /// A header name is longer than the limit.
    #[error("SPDY header name of {len} bytes exceeds the {max}-byte limit")]
    HeaderNameTooLong {
        /// The name's length.
        len: u64,
        /// The limit in force.
        max: u32,
    },

    /// A header value is longer than the limit.
    #[error("SPDY header value of {len} bytes for {name:?} exceeds the {max}-byte limit")]
    HeaderValueTooLong {
        /// The header's name.
        name: String,
        /// The value's length.
        len: u64,
        /// The limit in force.
        max: u32,
    },

    /// A header name is empty, not lower case, or not printable US-ASCII (draft 3 §2.6.10).
    #[error("invalid SPDY header name {name:?}: {reason}")]
    InvalidHeaderName {
        /// The name, with bytes that are not printable ASCII escaped.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A header value starts or ends with NUL, or has two NULs in a row (draft 3 §2.6.10).
    #[error("invalid SPDY header value for {name:?}: {reason}")]
    InvalidHeaderValue {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A header name appears twice in one block (draft 3 §2.6.10 forbids it; two parsers could
    /// pick different ones).
    #[error("SPDY header {name:?} appears more than once in one header block")]
    DuplicateHeader {
        /// The repeated name.
        name: String,
    },

    /// The decompressed header block does not parse: it ends early, or bytes follow its last pair.
    #[error("malformed SPDY header block: {reason}")]
    MalformedHeaderBlock {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The peer's zlib stream asked for a preset dictionary other than SPDY/3's.
    #[error("SPDY header block asks for zlib dictionary {id:#010x}, not the SPDY/3 dictionary")]
    WrongDictionary {
        /// The dictionary id the stream announced.
        id: u32,
    },

    /// The peer's compressed header bytes are not a valid zlib stream.
    #[error("SPDY header block is not valid zlib data")]
    Decompress(#[source] flate2::DecompressError),

    /// The peer ended its zlib stream, which SPDY never does: later header blocks could not be
    /// read.
    #[error("SPDY header compression stream ended; later header blocks cannot be read")]
    CompressionStreamEnded,

    /// The zlib compressor failed (not expected; reported rather than panicking).
    #[error("SPDY header compression failed")]
    Compress(#[source] flate2::CompressError),

    /// The zlib compressor made no progress (not expected; reported rather than looping).
    #[error("SPDY header compression made no progress")]
    CompressStalled,

    /// More DATA than the flow-control window allows (§2.6.8).
    #[error(
        "{len} bytes of DATA exceed the {available}-byte flow-control window (FLOW_CONTROL_ERROR)"
    )]
    FlowControlWindowExceeded {
        /// The payload length.
        len: u32,
        /// What the window allowed.
        available: u32,
    },

    /// A WINDOW_UPDATE or initial window change would grow a window past 2^31 - 1 (§2.6.8).
    #[error("flow-control window would grow past 2147483647 bytes (FLOW_CONTROL_ERROR)")]
    FlowControlOverflow,

    /// An earlier error left this decoder's decompression context unusable.
    #[error("SPDY decoder already failed on this connection; close it")]
    DecoderFailed,

    /// An earlier error left this encoder's compression context out of step with the peer's.
    #[error("SPDY encoder already failed on this connection; close it")]
    EncoderFailed,
}
