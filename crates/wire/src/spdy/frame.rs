//! SPDY/3.1 frames as plain values: the data frame (§2.2.2) and the control frames of §2.6.1–§2.6.8.
//!
//! Fields that the wire format bounds (31-bit stream ids, 3-bit priorities, 24-bit setting ids)
//! are held in types that cannot hold anything else, or checked by the encoder.

use std::fmt;

use bytes::Bytes;

use super::header_block::HeaderBlock;

/// The only SPDY version this crate speaks (§2.2.1; SPDY/3.1 keeps version 3 on the wire).
pub const SPDY_VERSION: u16 = 3;

/// A 31-bit stream id (§2.3.1). Clients open odd ids, servers even ids; 0 names no stream
/// (the session in WINDOW_UPDATE, "none" in `associated_to` and GOAWAY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId(u32);

impl StreamId {
    /// Stream 0: no stream, or the whole session.
    pub const ZERO: StreamId = StreamId(0);
    /// The largest stream id, 2^31 - 1.
    pub const MAX: StreamId = StreamId(0x7fff_ffff);

    /// The stream id `id`, or `None` if it does not fit in 31 bits.
    pub const fn new(id: u32) -> Option<StreamId> {
        if id <= Self::MAX.0 {
            Some(StreamId(id))
        } else {
            None
        }
    }

    /// The id in a wire word whose top bit is reserved (`X` in the spec) and ignored.
    pub(crate) const fn from_wire(word: u32) -> StreamId {
        StreamId(word & Self::MAX.0)
    }

    /// The id as a number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Whether this is stream 0.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Whether a client opened this stream (odd ids, §2.3.2).
    pub const fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<u32> for StreamId {
    type Error = super::SpdyError;

    fn try_from(id: u32) -> Result<Self, Self::Error> {
        StreamId::new(id).ok_or(super::SpdyError::StreamIdOutOfRange { id })
    }
}

/// The kinds of frame, for error messages and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// DATA (§2.2.2).
    Data,
    /// SYN_STREAM (§2.6.1).
    SynStream,
    /// SYN_REPLY (§2.6.2).
    SynReply,
    /// RST_STREAM (§2.6.3).
    RstStream,
    /// SETTINGS (§2.6.4).
    Settings,
    /// PING (§2.6.5).
    Ping,
    /// GOAWAY (§2.6.6).
    GoAway,
    /// HEADERS (§2.6.7).
    Headers,
    /// WINDOW_UPDATE (§2.6.8).
    WindowUpdate,
    /// A control frame of a type SPDY/3.1 does not define (ignored on receipt, §2.2.1).
    UnknownControl,
}

impl FrameKind {
    /// The control frame type code (§2.6), or `None` for DATA and unknown types.
    pub const fn control_type(self) -> Option<u16> {
        match self {
            FrameKind::SynStream => Some(1),
            FrameKind::SynReply => Some(2),
            FrameKind::RstStream => Some(3),
            FrameKind::Settings => Some(4),
            FrameKind::Ping => Some(6),
            FrameKind::GoAway => Some(7),
            FrameKind::Headers => Some(8),
            FrameKind::WindowUpdate => Some(9),
            FrameKind::Data | FrameKind::UnknownControl => None,
        }
    }

    /// The kind of a control frame with type code `code`.
    pub const fn from_control_type(code: u16) -> FrameKind {
        match code {
            1 => FrameKind::SynStream,
            2 => FrameKind::SynReply,
            3 => FrameKind::RstStream,
            4 => FrameKind::Settings,
            6 => FrameKind::Ping,
            7 => FrameKind::GoAway,
            8 => FrameKind::Headers,
            9 => FrameKind::WindowUpdate,
            _ => FrameKind::UnknownControl,
        }
    }

    /// The name the specification uses.
    pub const fn name(self) -> &'static str {
        match self {
            FrameKind::Data => "DATA",
            FrameKind::SynStream => "SYN_STREAM",
            FrameKind::SynReply => "SYN_REPLY",
            FrameKind::RstStream => "RST_STREAM",
            FrameKind::Settings => "SETTINGS",
            FrameKind::Ping => "PING",
            FrameKind::GoAway => "GOAWAY",
            FrameKind::Headers => "HEADERS",
            FrameKind::WindowUpdate => "WINDOW_UPDATE",
            FrameKind::UnknownControl => "unknown control",
        }
    }
}

impl fmt::Display for FrameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One SPDY frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Stream data (§2.2.2).
    Data(DataFrame),
    /// Opens a stream (§2.6.1).
    SynStream(SynStream),
    /// Accepts a stream (§2.6.2).
    SynReply(SynReply),
    /// Aborts a stream (§2.6.3).
    RstStream(RstStream),
    /// Session parameters (§2.6.4).
    Settings(Settings),
    /// Round-trip probe (§2.6.5).
    Ping(Ping),
    /// Ends the session (§2.6.6).
    GoAway(GoAway),
    /// More headers for a stream (§2.6.7).
    Headers(HeadersFrame),
    /// Flow-control credit (§2.6.8).
    WindowUpdate(WindowUpdate),
}

impl Frame {
    /// Which kind of frame this is.
    pub const fn kind(&self) -> FrameKind {
        match self {
            Frame::Data(_) => FrameKind::Data,
            Frame::SynStream(_) => FrameKind::SynStream,
            Frame::SynReply(_) => FrameKind::SynReply,
            Frame::RstStream(_) => FrameKind::RstStream,
            Frame::Settings(_) => FrameKind::Settings,
            Frame::Ping(_) => FrameKind::Ping,
            Frame::GoAway(_) => FrameKind::GoAway,
            Frame::Headers(_) => FrameKind::Headers,
            Frame::WindowUpdate(_) => FrameKind::WindowUpdate,
        }
    }

    /// The stream the frame belongs to, for frames that belong to one (WINDOW_UPDATE for the
    /// session returns stream 0).
    pub const fn stream_id(&self) -> Option<StreamId> {
        match self {
            Frame::Data(f) => Some(f.stream_id),
            Frame::SynStream(f) => Some(f.stream_id),
            Frame::SynReply(f) => Some(f.stream_id),
            Frame::RstStream(f) => Some(f.stream_id),
            Frame::Headers(f) => Some(f.stream_id),
            Frame::WindowUpdate(f) => Some(f.stream_id),
            Frame::Settings(_) | Frame::Ping(_) | Frame::GoAway(_) => None,
        }
    }
}

/// DATA (§2.2.2): bytes for one stream. `fin` half-closes the sender's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFrame {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// FLAG_FIN: the sender's last frame on this stream.
    pub fin: bool,
    /// The payload.
    pub data: Bytes,
}

/// SYN_STREAM (§2.6.1): opens a stream with a header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynStream {
    /// The new stream (never 0).
    pub stream_id: StreamId,
    /// The stream this one is associated with (server push), or 0.
    pub associated_to: StreamId,
    /// 0 (highest) to 7 (lowest).
    pub priority: u8,
    /// FLAG_FIN: the sender sends nothing more on this stream.
    pub fin: bool,
    /// FLAG_UNIDIRECTIONAL: the recipient may not send on this stream.
    pub unidirectional: bool,
    /// The stream's headers. Kubernetes puts `streamtype` (and `port`, `requestid`) here.
    pub headers: HeaderBlock,
}

/// SYN_REPLY (§2.6.2): accepts a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynReply {
    /// The accepted stream (never 0).
    pub stream_id: StreamId,
    /// FLAG_FIN: the sender sends nothing more on this stream.
    pub fin: bool,
    /// Reply headers (empty from Kubernetes).
    pub headers: HeaderBlock,
}

/// HEADERS (§2.6.7): more headers for an open stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadersFrame {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// FLAG_FIN: the sender sends nothing more on this stream.
    pub fin: bool,
    /// The headers.
    pub headers: HeaderBlock,
}

/// RST_STREAM (§2.6.3): aborts a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RstStream {
    /// The stream (never 0).
    pub stream_id: StreamId,
    /// Why (never 0).
    pub status: RstStatus,
}

/// An RST_STREAM status code (§2.6.3). Unknown codes are kept, not rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RstStatus(pub u32);

impl RstStatus {
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: RstStatus = RstStatus(1);
    /// INVALID_STREAM: a frame for a stream that is not active.
    pub const INVALID_STREAM: RstStatus = RstStatus(2);
    /// REFUSED_STREAM: refused before any processing.
    pub const REFUSED_STREAM: RstStatus = RstStatus(3);
    /// UNSUPPORTED_VERSION.
    pub const UNSUPPORTED_VERSION: RstStatus = RstStatus(4);
    /// CANCEL: the stream is no longer needed (what Kubernetes sends when an exec ends).
    pub const CANCEL: RstStatus = RstStatus(5);
    /// INTERNAL_ERROR.
    pub const INTERNAL_ERROR: RstStatus = RstStatus(6);
    /// FLOW_CONTROL_ERROR.
    pub const FLOW_CONTROL_ERROR: RstStatus = RstStatus(7);
    /// STREAM_IN_USE: SYN_REPLY for a stream already open.
    pub const STREAM_IN_USE: RstStatus = RstStatus(8);
    /// STREAM_ALREADY_CLOSED: data or headers on a half-closed stream.
    pub const STREAM_ALREADY_CLOSED: RstStatus = RstStatus(9);
    /// FRAME_TOO_LARGE.
    pub const FRAME_TOO_LARGE: RstStatus = RstStatus(11);
}

/// SETTINGS (§2.6.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// FLAG_SETTINGS_CLEAR_SETTINGS: forget previously persisted settings.
    pub clear_persisted: bool,
    /// The entries, in wire order.
    pub entries: Vec<Setting>,
}

/// One SETTINGS entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Which setting.
    pub id: SettingId,
    /// Its value.
    pub value: u32,
    /// FLAG_SETTINGS_PERSIST_VALUE: the server asks the client to persist it.
    pub persist_value: bool,
    /// FLAG_SETTINGS_PERSISTED: the client returns a persisted value.
    pub persisted: bool,
}

/// A 24-bit SETTINGS id (§2.6.4). Unknown ids are kept, not rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SettingId(u32);

impl SettingId {
    /// SETTINGS_UPLOAD_BANDWIDTH.
    pub const UPLOAD_BANDWIDTH: SettingId = SettingId(1);
    /// SETTINGS_DOWNLOAD_BANDWIDTH.
    pub const DOWNLOAD_BANDWIDTH: SettingId = SettingId(2);
    /// SETTINGS_ROUND_TRIP_TIME.
    pub const ROUND_TRIP_TIME: SettingId = SettingId(3);
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: SettingId = SettingId(4);
    /// SETTINGS_CURRENT_CWND.
    pub const CURRENT_CWND: SettingId = SettingId(5);
    /// SETTINGS_DOWNLOAD_RETRANS_RATE.
    pub const DOWNLOAD_RETRANS_RATE: SettingId = SettingId(6);
    /// SETTINGS_INITIAL_WINDOW_SIZE: the initial per-stream window (§2.6.8).
    pub const INITIAL_WINDOW_SIZE: SettingId = SettingId(7);
    /// SETTINGS_CLIENT_CERTIFICATE_VECTOR_SIZE.
    pub const CLIENT_CERTIFICATE_VECTOR_SIZE: SettingId = SettingId(8);

    /// The id `id`, or `None` if it does not fit in 24 bits.
    pub const fn new(id: u32) -> Option<SettingId> {
        if id <= 0x00ff_ffff {
            Some(SettingId(id))
        } else {
            None
        }
    }

    /// The id as a number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// PING (§2.6.5). Clients use odd ids, servers even ids; the recipient echoes the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    /// The ping id.
    pub id: u32,
}

/// GOAWAY (§2.6.6): no new streams; streams above `last_good_stream_id` were not processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoAway {
    /// The last stream the sender acted on, or 0.
    pub last_good_stream_id: StreamId,
    /// Why.
    pub status: GoAwayStatus,
}

/// A GOAWAY status code (§2.6.6). Unknown codes are kept, not rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GoAwayStatus(pub u32);

impl GoAwayStatus {
    /// OK: a normal teardown.
    pub const OK: GoAwayStatus = GoAwayStatus(0);
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: GoAwayStatus = GoAwayStatus(1);
    /// INTERNAL_ERROR.
    pub const INTERNAL_ERROR: GoAwayStatus = GoAwayStatus(2);
}

/// WINDOW_UPDATE (§2.6.8): `delta` more bytes may be sent on the stream (or, for stream 0, on
/// the session, SPDY/3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUpdate {
    /// The stream, or 0 for the session window.
    pub stream_id: StreamId,
    /// 1 to 2^31 - 1.
    pub delta: u32,
}

macro_rules! frame_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl From<$ty> for Frame {
            fn from(frame: $ty) -> Frame {
                Frame::$variant(frame)
            }
        })*
    };
}

frame_from!(
    Data(DataFrame),
    SynStream(SynStream),
    SynReply(SynReply),
    RstStream(RstStream),
    Settings(Settings),
    Ping(Ping),
    GoAway(GoAway),
    Headers(HeadersFrame),
    WindowUpdate(WindowUpdate),
);
