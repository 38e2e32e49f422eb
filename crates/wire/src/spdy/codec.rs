//! Turns bytes into frames and frames into bytes (SPDY/3.1 §2.2 framing, §2.6 control frames),
//! each direction with its own header compression context (draft 3 §2.6.10.1).

use bytes::{BufMut, Bytes, BytesMut};

use super::compression::{HeaderCompressor, HeaderDecompressor};
use super::frame::{
    DataFrame, Frame, FrameKind, GoAway, GoAwayStatus, HeadersFrame, Ping, RstStatus, RstStream,
    SPDY_VERSION, Setting, SettingId, Settings, StreamId, SynReply, SynStream, WindowUpdate,
};
use super::header_block::HeaderBlock;
use super::{Limits, MAX_FRAME_LEN, SpdyError};

/// Every frame starts with an 8-byte header (§2.2).
const FRAME_HEADER_LEN: usize = 8;
const CONTROL_BIT: u32 = 0x8000_0000;
const FLAG_FIN: u8 = 0x01;
const FLAG_UNIDIRECTIONAL: u8 = 0x02;
const FLAG_CLEAR_SETTINGS: u8 = 0x01;
const SETTING_PERSIST_VALUE: u8 = 0x01;
const SETTING_PERSISTED: u8 = 0x02;
const MAX_WINDOW_DELTA: u32 = 0x7fff_ffff;

/// Reads frames from the bytes one peer sends, in order, keeping that peer's header
/// decompression context.
///
/// Feed it a buffer that grows as bytes arrive; each call takes at most one whole frame off the
/// front. Unknown control frame types are skipped, as §2.2.1 requires. After any error it
/// refuses to go on ([`SpdyError::DecoderFailed`]): the connection must be closed.
#[derive(Debug)]
pub struct FrameDecoder {
    limits: Limits,
    headers: HeaderDecompressor,
    failed: bool,
    skipped_control_frames: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new()
    }
}

impl FrameDecoder {
    /// A decoder with [`Limits::DEFAULT`].
    pub fn new() -> FrameDecoder {
        FrameDecoder::with_limits(Limits::DEFAULT)
    }

    /// A decoder with the given limits.
    pub fn with_limits(limits: Limits) -> FrameDecoder {
        FrameDecoder {
            limits,
            headers: HeaderDecompressor::new(),
            failed: false,
            skipped_control_frames: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many control frames of unknown type were skipped.
    pub fn skipped_control_frames(&self) -> u64 {
        self.skipped_control_frames
    }

    /// Takes the next whole frame off the front of `src`, or returns `Ok(None)` (leaving `src`
    /// untouched) if it does not hold one yet.
    ///
    /// A frame longer than the limits is refused as soon as its 8-byte header is in, before its
    /// payload is buffered.
    ///
    /// # Errors
    /// Any [`SpdyError`] other than the encoder-only ones; all of them end the session.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, SpdyError> {
        if self.failed {
            return Err(SpdyError::DecoderFailed);
        }
        let result = self.decode_frame(src);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn decode_frame(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, SpdyError> {
        loop {
            let Some(first) = word(src, 0) else {
                return Ok(None);
            };
            let Some(second) = word(src, 4) else {
                return Ok(None);
            };
            let flags = (second >> 24) as u8;
            let len = (second & MAX_FRAME_LEN) as usize;
            let control = first & CONTROL_BIT != 0;
            let kind = if control {
                let version = ((first >> 16) & 0x7fff) as u16;
                if version != SPDY_VERSION {
                    return Err(SpdyError::UnsupportedVersion { version });
                }
                FrameKind::from_control_type((first & 0xffff) as u16)
            } else {
                FrameKind::Data
            };
            let max = if control {
                self.limits.max_control_frame_len
            } else {
                self.limits.max_data_frame_len
            } as usize;
            if len > max {
                return Err(SpdyError::FrameTooLarge { kind, len, max });
            }
            if src.len() < FRAME_HEADER_LEN + len {
                return Ok(None);
            }
            let mut frame = src.split_to(FRAME_HEADER_LEN + len);
            let payload = frame.split_off(FRAME_HEADER_LEN).freeze();
            if !control {
                let stream_id = StreamId::from_wire(first);
                if stream_id.is_zero() {
                    return Err(SpdyError::ZeroStreamId { kind });
                }
                check_flags(kind, flags, FLAG_FIN)?;
                return Ok(Some(Frame::Data(DataFrame {
                    stream_id,
                    fin: flags & FLAG_FIN != 0,
                    data: payload,
                })));
            }
            if kind == FrameKind::UnknownControl {
                self.skipped_control_frames += 1;
                continue;
            }
            return self.decode_control(kind, flags, &payload).map(Some);
        }
    }

    fn decode_control(
        &mut self,
        kind: FrameKind,
        flags: u8,
        payload: &Bytes,
    ) -> Result<Frame, SpdyError> {
        let len = payload.len();
        let fixed = |expected: usize| {
            if len == expected {
                Ok(())
            } else {
                Err(SpdyError::InvalidLength { kind, len })
            }
        };
        let at_least = |minimum: usize| {
            if len >= minimum {
                Ok(())
            } else {
                Err(SpdyError::InvalidLength { kind, len })
            }
        };
        let w = |offset: usize| word(payload, offset).ok_or(SpdyError::InvalidLength { kind, len });
        match kind {
            FrameKind::SynStream => {
                at_least(10)?;
                check_flags(kind, flags, FLAG_FIN | FLAG_UNIDIRECTIONAL)?;
                let stream_id = stream(kind, w(0)?)?;
                let associated_to = StreamId::from_wire(w(4)?);
                // Priority is the top 3 bits; the other 13 bits (slot in SPDY/3) are unused in 3.1.
                let priority = payload.get(8).map_or(0, |b| b >> 5);
                let headers = self.header_block(payload.get(10..).unwrap_or_default())?;
                Ok(Frame::SynStream(SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    fin: flags & FLAG_FIN != 0,
                    unidirectional: flags & FLAG_UNIDIRECTIONAL != 0,
                    headers,
                }))
            }
            FrameKind::SynReply | FrameKind::Headers => {
                at_least(4)?;
                check_flags(kind, flags, FLAG_FIN)?;
                let stream_id = stream(kind, w(0)?)?;
                let headers = self.header_block(payload.get(4..).unwrap_or_default())?;
                let fin = flags & FLAG_FIN != 0;
                Ok(if kind == FrameKind::SynReply {
                    Frame::SynReply(SynReply {
                        stream_id,
                        fin,
                        headers,
                    })
                } else {
                    Frame::Headers(HeadersFrame {
                        stream_id,
                        fin,
                        headers,
                    })
                })
            }
            FrameKind::RstStream => {
                fixed(8)?;
                check_flags(kind, flags, 0)?;
                let stream_id = stream(kind, w(0)?)?;
                let status = w(4)?;
                if status == 0 {
                    return Err(SpdyError::ZeroRstStatus);
                }
                Ok(Frame::RstStream(RstStream {
                    stream_id,
                    status: RstStatus(status),
                }))
            }
            FrameKind::Settings => {
                at_least(4)?;
                check_flags(kind, flags, FLAG_CLEAR_SETTINGS)?;
                let count = w(0)?;
                if (count as usize)
                    .checked_mul(8)
                    .and_then(|n| n.checked_add(4))
                    != Some(len)
                {
                    return Err(SpdyError::SettingsCountMismatch { count, len });
                }
                let mut entries = Vec::with_capacity(count as usize);
                for index in 0..count as usize {
                    let id_word = w(4 + index * 8)?;
                    let value = w(8 + index * 8)?;
                    let entry_flags = (id_word >> 24) as u8;
                    check_flags(kind, entry_flags, SETTING_PERSIST_VALUE | SETTING_PERSISTED)?;
                    let id = SettingId::new(id_word & 0x00ff_ffff)
                        .ok_or(SpdyError::InvalidSettingId { id: id_word })?;
                    entries.push(Setting {
                        id,
                        value,
                        persist_value: entry_flags & SETTING_PERSIST_VALUE != 0,
                        persisted: entry_flags & SETTING_PERSISTED != 0,
                    });
                }
                Ok(Frame::Settings(Settings {
                    clear_persisted: flags & FLAG_CLEAR_SETTINGS != 0,
                    entries,
                }))
            }
            FrameKind::Ping => {
                fixed(4)?;
                check_flags(kind, flags, 0)?;
                Ok(Frame::Ping(Ping { id: w(0)? }))
            }
            FrameKind::GoAway => {
                fixed(8)?;
                check_flags(kind, flags, 0)?;
                Ok(Frame::GoAway(GoAway {
                    last_good_stream_id: StreamId::from_wire(w(0)?),
                    status: GoAwayStatus(w(4)?),
                }))
            }
            FrameKind::WindowUpdate => {
                fixed(8)?;
                check_flags(kind, flags, 0)?;
                let stream_id = StreamId::from_wire(w(0)?);
                let delta = w(4)? & MAX_WINDOW_DELTA;
                if delta == 0 {
                    return Err(SpdyError::InvalidWindowDelta { delta });
                }
                Ok(Frame::WindowUpdate(WindowUpdate { stream_id, delta }))
            }
            FrameKind::Data | FrameKind::UnknownControl => {
                Err(SpdyError::InvalidLength { kind, len })
            }
        }
    }

    fn header_block(&mut self, compressed: &[u8]) -> Result<HeaderBlock, SpdyError> {
        let limit = self.limits.max_header_block_len as usize;
        let block = self.headers.decompress(compressed, limit)?;
        HeaderBlock::parse(&Bytes::from(block), &self.limits)
    }
}

/// Writes frames for one peer, in order, keeping the header compression context that peer's
/// decoder mirrors.
///
/// Frames are checked before anything is written; a frame that is refused leaves `dst` and the
/// compression context untouched, except in the one case where the compressed block turns out
/// too long for a control frame, after which the encoder refuses to go on
/// ([`SpdyError::EncoderFailed`]).
#[derive(Debug)]
pub struct FrameEncoder {
    limits: Limits,
    headers: HeaderCompressor,
    failed: bool,
    block: Vec<u8>,
    compressed: Vec<u8>,
}

impl FrameEncoder {
    /// An encoder with [`Limits::DEFAULT`].
    ///
    /// # Errors
    /// [`SpdyError::Compress`] if zlib refuses the dictionary (not expected).
    pub fn new() -> Result<FrameEncoder, SpdyError> {
        FrameEncoder::with_limits(Limits::DEFAULT)
    }

    /// An encoder with the given limits.
    ///
    /// # Errors
    /// [`SpdyError::Compress`] if zlib refuses the dictionary (not expected).
    pub fn with_limits(limits: Limits) -> Result<FrameEncoder, SpdyError> {
        Ok(FrameEncoder {
            limits,
            headers: HeaderCompressor::new()?,
            failed: false,
            block: Vec::new(),
            compressed: Vec::new(),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends `frame` to `dst`.
    ///
    /// # Errors
    /// A frame the wire format or the limits do not allow: stream 0 where a stream is needed,
    /// priority above 7, RST_STREAM status 0, WINDOW_UPDATE delta outside 1..=2^31-1, a payload
    /// or header block over the limits.
    pub fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), SpdyError> {
        if self.failed {
            return Err(SpdyError::EncoderFailed);
        }
        let kind = frame.kind();
        match frame {
            Frame::Data(f) => {
                if f.stream_id.is_zero() {
                    return Err(SpdyError::ZeroStreamId { kind });
                }
                let max = self.limits.max_data_frame_len.min(MAX_FRAME_LEN) as usize;
                if f.data.len() > max {
                    return Err(SpdyError::FrameTooLarge {
                        kind,
                        len: f.data.len(),
                        max,
                    });
                }
                dst.reserve(FRAME_HEADER_LEN + f.data.len());
                dst.put_u32(f.stream_id.get());
                dst.put_u32(length_word(fin_flag(f.fin), f.data.len()));
                dst.put_slice(&f.data);
                Ok(())
            }
            Frame::SynStream(f) => {
                if f.priority > 7 {
                    return Err(SpdyError::InvalidPriority {
                        priority: f.priority,
                    });
                }
                let flags = fin_flag(f.fin)
                    | if f.unidirectional {
                        FLAG_UNIDIRECTIONAL
                    } else {
                        0
                    };
                let mut fixed = [0u8; 10];
                fixed[..4].copy_from_slice(&nonzero(kind, f.stream_id)?.to_be_bytes());
                fixed[4..8].copy_from_slice(&f.associated_to.get().to_be_bytes());
                fixed[8] = f.priority << 5;
                self.headers_frame(kind, flags, &fixed, &f.headers, dst)
            }
            Frame::SynReply(f) => {
                let id = nonzero(kind, f.stream_id)?.to_be_bytes();
                self.headers_frame(kind, fin_flag(f.fin), &id, &f.headers, dst)
            }
            Frame::Headers(f) => {
                let id = nonzero(kind, f.stream_id)?.to_be_bytes();
                self.headers_frame(kind, fin_flag(f.fin), &id, &f.headers, dst)
            }
            Frame::RstStream(f) => {
                let id = nonzero(kind, f.stream_id)?;
                if f.status.0 == 0 {
                    return Err(SpdyError::ZeroRstStatus);
                }
                put_control(dst, kind, 0, &[id, f.status.0]);
                Ok(())
            }
            Frame::Settings(f) => {
                let len = f
                    .entries
                    .len()
                    .checked_mul(8)
                    .and_then(|n| n.checked_add(4))
                    .filter(|len| *len <= self.limits.max_control_frame_len as usize);
                let Some(len) = len else {
                    return Err(SpdyError::FrameTooLarge {
                        kind,
                        len: f.entries.len().saturating_mul(8).saturating_add(4),
                        max: self.limits.max_control_frame_len as usize,
                    });
                };
                let flags = if f.clear_persisted {
                    FLAG_CLEAR_SETTINGS
                } else {
                    0
                };
                dst.reserve(FRAME_HEADER_LEN + len);
                put_control_header(dst, kind, flags, len);
                dst.put_u32(f.entries.len() as u32);
                for entry in &f.entries {
                    let entry_flags = if entry.persist_value {
                        SETTING_PERSIST_VALUE
                    } else {
                        0
                    } | if entry.persisted {
                        SETTING_PERSISTED
                    } else {
                        0
                    };
                    dst.put_u32(u32::from(entry_flags) << 24 | entry.id.get());
                    dst.put_u32(entry.value);
                }
                Ok(())
            }
            Frame::Ping(f) => {
                put_control(dst, kind, 0, &[f.id]);
                Ok(())
            }
            Frame::GoAway(f) => {
                put_control(dst, kind, 0, &[f.last_good_stream_id.get(), f.status.0]);
                Ok(())
            }
            Frame::WindowUpdate(f) => {
                if f.delta == 0 || f.delta > MAX_WINDOW_DELTA {
                    return Err(SpdyError::InvalidWindowDelta { delta: f.delta });
                }
                put_control(dst, kind, 0, &[f.stream_id.get(), f.delta]);
                Ok(())
            }
        }
    }

    fn headers_frame(
        &mut self,
        kind: FrameKind,
        flags: u8,
        fixed: &[u8],
        headers: &HeaderBlock,
        dst: &mut BytesMut,
    ) -> Result<(), SpdyError> {
        self.block.clear();
        headers.write_to(&self.limits, &mut self.block)?;
        self.compressed.clear();
        // From here on the compression context has moved: failing now would desynchronise it.
        if let Err(err) = self.headers.compress(&self.block, &mut self.compressed) {
            self.failed = true;
            return Err(err);
        }
        let len = fixed.len() + self.compressed.len();
        let max = self.limits.max_control_frame_len.min(MAX_FRAME_LEN) as usize;
        if len > max {
            self.failed = true;
            return Err(SpdyError::FrameTooLarge { kind, len, max });
        }
        dst.reserve(FRAME_HEADER_LEN + len);
        put_control_header(dst, kind, flags, len);
        dst.put_slice(fixed);
        dst.put_slice(&self.compressed);
        Ok(())
    }
}

/// The big-endian word at `offset`, if the bytes are there.
fn word(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let slice: [u8; 4] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u32::from_be_bytes(slice))
}

fn stream(kind: FrameKind, word: u32) -> Result<StreamId, SpdyError> {
    let id = StreamId::from_wire(word);
    if id.is_zero() {
        Err(SpdyError::ZeroStreamId { kind })
    } else {
        Ok(id)
    }
}

fn nonzero(kind: FrameKind, id: StreamId) -> Result<u32, SpdyError> {
    if id.is_zero() {
        Err(SpdyError::ZeroStreamId { kind })
    } else {
        Ok(id.get())
    }
}

fn check_flags(kind: FrameKind, flags: u8, allowed: u8) -> Result<(), SpdyError> {
    if flags & !allowed == 0 {
        Ok(())
    } else {
        Err(SpdyError::InvalidFlags { kind, flags })
    }
}

fn fin_flag(fin: bool) -> u8 {
    if fin { FLAG_FIN } else { 0 }
}

/// Flags and a length already checked to fit in 24 bits.
fn length_word(flags: u8, len: usize) -> u32 {
    u32::from(flags) << 24 | (len as u32 & MAX_FRAME_LEN)
}

fn put_control_header(dst: &mut BytesMut, kind: FrameKind, flags: u8, len: usize) {
    let code = kind.control_type().unwrap_or(0);
    dst.put_u32(CONTROL_BIT | u32::from(SPDY_VERSION) << 16 | u32::from(code));
    dst.put_u32(length_word(flags, len));
}

fn put_control(dst: &mut BytesMut, kind: FrameKind, flags: u8, words: &[u32]) {
    dst.reserve(FRAME_HEADER_LEN + words.len() * 4);
    put_control_header(dst, kind, flags, words.len() * 4);
    for w in words {
        dst.put_u32(*w);
    }
}

#[cfg(test)]
mod tests;
