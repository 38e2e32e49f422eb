//! Property tests: whatever the encoder writes, the decoder reads back, over one connection's
//! shared compression contexts and however the bytes are split; and no input makes either panic.

use bytes::{Bytes, BytesMut};
use jitgate_wire::channel::{ChannelCodec, ChannelMessage, ChannelProtocol, MAX_BASE64_CHANNEL};
use jitgate_wire::spdy::{
    DataFrame, Frame, FrameDecoder, FrameEncoder, GoAway, GoAwayStatus, HeaderBlock, HeadersFrame,
    Ping, RstStatus, RstStream, Setting, SettingId, Settings, StreamId, SynReply, SynStream,
    WindowUpdate,
};
use proptest::prelude::*;

fn stream_id() -> impl Strategy<Value = StreamId> {
    prop_oneof![0u32..16, 0u32..=0x7fff_ffff].prop_filter_map("31 bits", StreamId::new)
}

fn open_stream_id() -> impl Strategy<Value = StreamId> {
    stream_id().prop_filter("not stream 0", |id| !id.is_zero())
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::collection::vec(1u8..=255, 1..12), 0..4)
        .prop_map(|values| values.join(&0u8))
}

fn header_block() -> impl Strategy<Value = HeaderBlock> {
    let name = prop_oneof![
        Just("streamtype".to_owned()),
        Just("port".to_owned()),
        Just("requestid".to_owned()),
        "[!-@\\[-~]{1,24}",
    ];
    prop::collection::vec((name, header_value()), 0..8).prop_map(|pairs| {
        let mut block = HeaderBlock::new();
        for (name, value) in pairs {
            block
                .insert(&name, value)
                .expect("strategy makes valid headers");
        }
        block
    })
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            open_stream_id(),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..2048)
        )
            .prop_map(|(stream_id, fin, data)| Frame::Data(DataFrame {
                stream_id,
                fin,
                data: Bytes::from(data)
            })),
        (
            open_stream_id(),
            stream_id(),
            0u8..=7,
            any::<bool>(),
            any::<bool>(),
            header_block()
        )
            .prop_map(
                |(stream_id, associated_to, priority, fin, unidirectional, headers)| {
                    Frame::SynStream(SynStream {
                        stream_id,
                        associated_to,
                        priority,
                        fin,
                        unidirectional,
                        headers,
                    })
                }
            ),
        (open_stream_id(), any::<bool>(), header_block()).prop_map(|(stream_id, fin, headers)| {
            Frame::SynReply(SynReply {
                stream_id,
                fin,
                headers,
            })
        }),
        (open_stream_id(), any::<bool>(), header_block()).prop_map(|(stream_id, fin, headers)| {
            Frame::Headers(HeadersFrame {
                stream_id,
                fin,
                headers,
            })
        }),
        (open_stream_id(), 1u32..).prop_map(|(stream_id, status)| Frame::RstStream(RstStream {
            stream_id,
            status: RstStatus(status)
        })),
        (
            any::<bool>(),
            prop::collection::vec(
                (
                    0u32..=0x00ff_ffff,
                    any::<u32>(),
                    any::<bool>(),
                    any::<bool>()
                ),
                0..10
            )
        )
            .prop_map(|(clear_persisted, entries)| {
                Frame::Settings(Settings {
                    clear_persisted,
                    entries: entries
                        .into_iter()
                        .map(|(id, value, persist_value, persisted)| Setting {
                            id: SettingId::new(id).expect("24 bits"),
                            value,
                            persist_value,
                            persisted,
                        })
                        .collect(),
                })
            }),
        any::<u32>().prop_map(|id| Frame::Ping(Ping { id })),
        (stream_id(), any::<u32>()).prop_map(|(last_good_stream_id, status)| {
            Frame::GoAway(GoAway {
                last_good_stream_id,
                status: GoAwayStatus(status),
            })
        }),
        (stream_id(), 1u32..=0x7fff_ffff)
            .prop_map(|(stream_id, delta)| Frame::WindowUpdate(WindowUpdate { stream_id, delta })),
    ]
}

fn encode_all(frames: &[Frame]) -> BytesMut {
    let mut encoder = FrameEncoder::new().expect("encoder");
    let mut wire = BytesMut::new();
    for frame in frames {
        encoder
            .encode(frame, &mut wire)
            .expect("strategy makes encodable frames");
    }
    wire
}

/// Decodes everything, feeding the decoder chunks of the given sizes (cycled).
fn decode_in_chunks(wire: &[u8], chunks: &[usize]) -> Vec<Frame> {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = wire;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let size = (*sizes.next().unwrap_or(&1)).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(size);
        buf.extend_from_slice(chunk);
        rest = tail;
        while let Some(frame) = decoder.decode(&mut buf).expect("encoder output decodes") {
            frames.push(frame);
        }
    }
    assert!(buf.is_empty());
    frames
}

/// Runs the decoder over arbitrary bytes until it stops; it may fail, it must not panic.
fn decode_garbage(bytes: &[u8]) {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(_)) = decoder.decode(&mut buf) {}
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn frames_round_trip_on_one_connection(frames in prop::collection::vec(frame(), 1..40)) {
        let wire = encode_all(&frames);
        prop_assert_eq!(decode_in_chunks(&wire, &[wire.len()]), frames);
    }

    #[test]
    fn any_chunking_gives_the_same_frames(
        frames in prop::collection::vec(frame(), 1..20),
        chunks in prop::collection::vec(1usize..100, 1..50),
    ) {
        let wire = encode_all(&frames);
        prop_assert_eq!(decode_in_chunks(&wire, &chunks), frames);
    }

    #[test]
    fn decoder_survives_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        decode_garbage(&bytes);
    }

    #[test]
    fn decoder_survives_corrupted_sessions(
        frames in prop::collection::vec(frame(), 1..10),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut wire = encode_all(&frames).to_vec();
        for (index, xor) in flips {
            let at = index.index(wire.len());
            if let Some(byte) = wire.get_mut(at) {
                *byte ^= xor;
            }
        }
        decode_garbage(&wire);
    }

    #[test]
    fn channel_messages_round_trip(
        protocol in prop::sample::select(ChannelProtocol::ALL.to_vec()),
        channel in any::<u8>(),
        close in any::<bool>(),
        payload in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let codec = ChannelCodec::new(protocol);
        let message = if close {
            ChannelMessage::Close { channel }
        } else {
            ChannelMessage::Data { channel, payload: Bytes::from(payload) }
        };
        let encodable = match &message {
            ChannelMessage::Close { .. } => protocol.has_close_signal(),
            ChannelMessage::Data { channel, .. } => {
                let reserved = protocol.has_close_signal() && *channel == 255;
                let unwritable = protocol.is_base64() && *channel > MAX_BASE64_CHANNEL;
                !reserved && !unwritable
            }
        };
        match codec.encode(&message) {
            Ok(wire) => {
                prop_assert!(encodable);
                prop_assert_eq!(codec.decode(&wire).expect("own output decodes"), Some(message));
            }
            Err(_) => prop_assert!(!encodable),
        }
    }

    #[test]
    fn channel_decoder_survives_random_messages(
        protocol in prop::sample::select(ChannelProtocol::ALL.to_vec()),
        message in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let _ = ChannelCodec::new(protocol).decode(&message);
    }
}
