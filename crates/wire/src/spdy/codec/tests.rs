use bytes::{BufMut, Bytes, BytesMut};

use super::{FrameDecoder, FrameEncoder};
use crate::spdy::{
    DataFrame, Frame, FrameKind, GoAway, GoAwayStatus, HeaderBlock, HeadersFrame, Limits, Ping,
    RstStatus, RstStream, Setting, SettingId, Settings, SpdyError, StreamId, SynReply, SynStream,
    WindowUpdate,
};

fn id(n: u32) -> StreamId {
    StreamId::new(n).expect("31-bit id")
}

fn control(kind_code: u16, flags: u8, payload: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_u32(0x8003_0000 | u32::from(kind_code));
    out.put_u32(u32::from(flags) << 24 | payload.len() as u32);
    out.put_slice(payload);
    out
}

fn decode_one(bytes: &[u8]) -> Result<Option<Frame>, SpdyError> {
    FrameDecoder::new().decode(&mut BytesMut::from(bytes))
}

fn encode(frame: &Frame) -> BytesMut {
    let mut out = BytesMut::new();
    FrameEncoder::new()
        .expect("encoder")
        .encode(frame, &mut out)
        .expect("encodes");
    out
}

#[test]
fn decodes_a_data_frame_byte_for_byte() {
    let wire = [0, 0, 0, 3, 1, 0, 0, 2, b'h', b'i'];
    assert_eq!(
        decode_one(&wire).expect("valid"),
        Some(Frame::Data(DataFrame {
            stream_id: id(3),
            fin: true,
            data: Bytes::from_static(b"hi"),
        }))
    );
}

#[test]
fn fixed_size_frames_match_the_spec_layout() {
    let cases: [(Frame, &[u8]); 5] = [
        (
            Frame::RstStream(RstStream {
                stream_id: id(5),
                status: RstStatus::CANCEL,
            }),
            &[0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 5, 0, 0, 0, 5],
        ),
        (
            Frame::Ping(Ping { id: 7 }),
            &[0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7],
        ),
        (
            Frame::GoAway(GoAway {
                last_good_stream_id: id(7),
                status: GoAwayStatus::OK,
            }),
            &[0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 7, 0, 0, 0, 0],
        ),
        (
            Frame::WindowUpdate(WindowUpdate {
                stream_id: StreamId::ZERO,
                delta: 0x7fff_ffff,
            }),
            &[
                0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff,
            ],
        ),
        (
            Frame::Settings(Settings {
                clear_persisted: true,
                entries: vec![Setting {
                    id: SettingId::INITIAL_WINDOW_SIZE,
                    value: 1 << 20,
                    persist_value: true,
                    persisted: false,
                }],
            }),
            &[
                0x80, 3, 0, 4, 1, 0, 0, 12, 0, 0, 0, 1, 1, 0, 0, 7, 0, 0x10, 0, 0,
            ],
        ),
    ];
    for (frame, wire) in cases {
        assert_eq!(&encode(&frame)[..], wire, "{frame:?}");
        assert_eq!(decode_one(wire).expect("valid"), Some(frame));
    }
}

#[test]
fn waits_for_a_whole_frame_without_consuming() {
    let wire = encode(&Frame::Ping(Ping { id: 1 }));
    let mut decoder = FrameDecoder::new();
    for cut in 0..wire.len() {
        let mut partial = BytesMut::from(&wire[..cut]);
        assert_eq!(decoder.decode(&mut partial).expect("no error"), None);
        assert_eq!(partial.len(), cut);
    }
}

#[test]
fn refuses_an_oversized_frame_from_its_header_alone() {
    let limits = Limits {
        max_data_frame_len: 1024,
        ..Limits::DEFAULT
    };
    let mut decoder = FrameDecoder::with_limits(limits);
    let mut header = BytesMut::from(&[0u8, 0, 0, 1, 0, 0, 4, 1][..]);
    assert!(matches!(
        decoder.decode(&mut header),
        Err(SpdyError::FrameTooLarge {
            kind: FrameKind::Data,
            len: 1025,
            max: 1024
        })
    ));
    let mut control_header = control(1, 0, &[]);
    control_header[5..8].copy_from_slice(&[0x01, 0x00, 0x01]);
    assert!(matches!(
        FrameDecoder::new().decode(&mut control_header),
        Err(SpdyError::FrameTooLarge {
            kind: FrameKind::SynStream,
            len: 65537,
            max: 65536
        })
    ));
}

#[test]
fn refuses_other_versions() {
    let wire = [0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1];
    assert!(matches!(
        decode_one(&wire),
        Err(SpdyError::UnsupportedVersion { version: 2 })
    ));
}

#[test]
fn skips_unknown_control_frames() {
    // Type 10 was CREDENTIAL in SPDY/3 and is gone in 3.1.
    let mut wire = control(10, 0, b"certificate");
    wire.extend_from_slice(&encode(&Frame::Ping(Ping { id: 9 })));
    let mut decoder = FrameDecoder::new();
    assert_eq!(
        decoder.decode(&mut wire).expect("valid"),
        Some(Frame::Ping(Ping { id: 9 }))
    );
    assert_eq!(decoder.skipped_control_frames(), 1);
    assert!(wire.is_empty());
}

#[test]
fn refuses_what_the_spec_forbids() {
    type Check = fn(&SpdyError) -> bool;
    let cases: [(BytesMut, Check); 9] = [
        (BytesMut::from(&[0u8, 0, 0, 0, 0, 0, 0, 0][..]), |e| {
            matches!(
                e,
                SpdyError::ZeroStreamId {
                    kind: FrameKind::Data
                }
            )
        }),
        (BytesMut::from(&[0u8, 0, 0, 1, 2, 0, 0, 0][..]), |e| {
            matches!(
                e,
                SpdyError::InvalidFlags {
                    kind: FrameKind::Data,
                    flags: 2
                }
            )
        }),
        (control(6, 0, &[0, 0, 0, 1, 0, 0, 0, 0]), |e| {
            matches!(
                e,
                SpdyError::InvalidLength {
                    kind: FrameKind::Ping,
                    len: 8
                }
            )
        }),
        (control(6, 1, &[0, 0, 0, 1]), |e| {
            matches!(
                e,
                SpdyError::InvalidFlags {
                    kind: FrameKind::Ping,
                    flags: 1
                }
            )
        }),
        (control(3, 0, &[0, 0, 0, 1, 0, 0, 0, 0]), |e| {
            matches!(e, SpdyError::ZeroRstStatus)
        }),
        (control(3, 0, &[0, 0, 0, 0, 0, 0, 0, 1]), |e| {
            matches!(
                e,
                SpdyError::ZeroStreamId {
                    kind: FrameKind::RstStream
                }
            )
        }),
        (control(9, 0, &[0, 0, 0, 1, 0x80, 0, 0, 0]), |e| {
            matches!(e, SpdyError::InvalidWindowDelta { delta: 0 })
        }),
        (control(4, 0, &[0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 1]), |e| {
            matches!(e, SpdyError::SettingsCountMismatch { count: 2, len: 12 })
        }),
        (control(1, 0, &[0, 0, 0, 1, 0, 0, 0, 0, 0]), |e| {
            matches!(
                e,
                SpdyError::InvalidLength {
                    kind: FrameKind::SynStream,
                    len: 9
                }
            )
        }),
    ];
    for (mut wire, expected) in cases {
        let err = FrameDecoder::new()
            .decode(&mut wire)
            .expect_err("must be refused");
        assert!(expected(&err), "unexpected error {err:?}");
    }
}

#[test]
fn refuses_a_header_block_that_is_not_zlib() {
    let wire = control(2, 0, &[0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
    assert!(matches!(decode_one(&wire), Err(SpdyError::Decompress(_))));
}

#[test]
fn stops_for_good_after_an_error() {
    let mut decoder = FrameDecoder::new();
    let mut bad = BytesMut::from(&[0u8, 0, 0, 0, 0, 0, 0, 0][..]);
    assert!(decoder.decode(&mut bad).is_err());
    let mut good = encode(&Frame::Ping(Ping { id: 1 }));
    assert!(matches!(
        decoder.decode(&mut good),
        Err(SpdyError::DecoderFailed)
    ));
}

#[test]
fn encoder_refuses_frames_the_wire_cannot_carry() {
    let mut encoder = FrameEncoder::new().expect("encoder");
    let mut out = BytesMut::new();
    let syn = SynStream {
        stream_id: id(1),
        associated_to: StreamId::ZERO,
        priority: 8,
        fin: false,
        unidirectional: false,
        headers: HeaderBlock::new(),
    };
    assert!(matches!(
        encoder.encode(&Frame::SynStream(syn.clone()), &mut out),
        Err(SpdyError::InvalidPriority { priority: 8 })
    ));
    let zero = SynStream {
        stream_id: StreamId::ZERO,
        priority: 0,
        ..syn
    };
    assert!(matches!(
        encoder.encode(&Frame::SynStream(zero), &mut out),
        Err(SpdyError::ZeroStreamId { .. })
    ));
    assert!(matches!(
        encoder.encode(
            &Frame::WindowUpdate(WindowUpdate {
                stream_id: id(1),
                delta: 0x8000_0000
            }),
            &mut out
        ),
        Err(SpdyError::InvalidWindowDelta { .. })
    ));
    assert!(matches!(
        encoder.encode(
            &Frame::RstStream(RstStream {
                stream_id: id(1),
                status: RstStatus(0)
            }),
            &mut out
        ),
        Err(SpdyError::ZeroRstStatus)
    ));
    assert!(out.is_empty(), "refused frames write nothing");
    // Refusals before compression leave the encoder usable.
    encoder
        .encode(&Frame::Ping(Ping { id: 1 }), &mut out)
        .expect("still usable");
}

#[test]
fn encoder_stops_once_its_compression_context_moved_without_a_frame() {
    let limits = Limits {
        max_control_frame_len: 32,
        ..Limits::DEFAULT
    };
    let mut encoder = FrameEncoder::with_limits(limits).expect("encoder");
    // 200 bytes that do not compress into 32.
    let value: Vec<u8> = (0..200u32)
        .map(|i| b'!' + (i.wrapping_mul(7919) % 90) as u8)
        .collect();
    let reply = Frame::SynReply(SynReply {
        stream_id: id(1),
        fin: false,
        headers: HeaderBlock::new().with("x", value).expect("valid"),
    });
    let mut out = BytesMut::new();
    assert!(matches!(
        encoder.encode(&reply, &mut out),
        Err(SpdyError::FrameTooLarge { .. })
    ));
    assert!(matches!(
        encoder.encode(&Frame::Ping(Ping { id: 1 }), &mut out),
        Err(SpdyError::EncoderFailed)
    ));
}

#[test]
fn masks_reserved_bits_of_stream_ids() {
    let wire = control(8, 0, &[0x80, 0, 0, 3]);
    // The header block is missing, so this fails in decompression, not on the reserved bit.
    assert!(!matches!(
        decode_one(&wire),
        Err(SpdyError::ZeroStreamId { .. } | SpdyError::InvalidLength { .. })
    ));
    let frame = Frame::Headers(HeadersFrame {
        stream_id: id(3),
        fin: true,
        headers: HeaderBlock::new(),
    });
    let mut wire = encode(&frame);
    wire[8] |= 0x80;
    assert_eq!(decode_one(&wire).expect("valid"), Some(frame));
}
