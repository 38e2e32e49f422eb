//! SPDY/3.1 framing, as kubectl (≤ 1.29, or with WebSockets turned off), the kubelet and
//! kube-apiserver speak it through moby/spdystream.
//!
//! | module | implements |
//! | --- | --- |
//! | [`frame`] | SPDY Protocol Draft 3.1 §2.2 (control and data frame layout), §2.3.1 (stream ids), §2.6.1–§2.6.8 (SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE) |
//! | [`FrameDecoder`], [`FrameEncoder`] | the same sections, byte for byte; §2.2.1 (unknown control frames are ignored); §2.4.1 (any error ends the session) |
//! | header blocks ([`HeaderBlock`]) | Draft 3 §2.6.10 (name/value header block; unchanged in 3.1) |
//! | compression (internal) | Draft 3 §2.6.10.1 (zlib with the SPDY/3 dictionary, one context per direction, sync flush per block) |
//! | [`flow`] | Draft 3.1 §2.6.8 (stream and session flow-control windows) |
//!
//! Not implemented: the CREDENTIAL frame (SPDY/3 §2.6.9, removed in 3.1; skipped like any unknown
//! control frame), stream state machines (which stream is open or half-closed: the session layer's
//! job) and the HTTP layer of §3, which Kubernetes does not use (its streams carry only their own
//! headers, see [`crate::remotecommand`] and [`crate::portforward`]).
//!
//! ```
//! use bytes::BytesMut;
//! use jitgate_wire::spdy::{Frame, FrameDecoder, FrameEncoder, HeaderBlock, StreamId, SynStream};
//!
//! let mut encoder = FrameEncoder::new()?;
//! let mut wire = BytesMut::new();
//! let syn = SynStream {
//!     stream_id: StreamId::new(1).ok_or("31 bits")?,
//!     associated_to: StreamId::ZERO,
//!     priority: 0,
//!     fin: false,
//!     unidirectional: false,
//!     headers: HeaderBlock::new().with("streamtype", "error")?,
//! };
//! encoder.encode(&Frame::SynStream(syn.clone()), &mut wire)?;
//!
//! let mut decoder = FrameDecoder::new();
//! assert_eq!(decoder.decode(&mut wire)?, Some(Frame::SynStream(syn)));
//! assert_eq!(decoder.decode(&mut wire)?, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod compression;
pub mod dictionary;
mod error;
pub mod flow;
pub mod frame;
mod header_block;
mod limits;

pub use codec::{FrameDecoder, FrameEncoder};
pub use error::SpdyError;
pub use flow::{RecvWindow, SendWindow};
pub use frame::{
    DataFrame, Frame, FrameKind, GoAway, GoAwayStatus, HeadersFrame, Ping, RstStatus, RstStream,
    SPDY_VERSION, Setting, SettingId, Settings, StreamId, SynReply, SynStream, WindowUpdate,
};
pub use header_block::{Header, HeaderBlock};
pub use limits::{Limits, MAX_FRAME_LEN};
