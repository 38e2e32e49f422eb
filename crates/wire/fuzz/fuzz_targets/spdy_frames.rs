//! Arbitrary bytes into the SPDY frame decoder, header decompression included, fed in chunks
//! whose sizes the input also chooses. Every frame it accepts must survive re-encoding and
//! decoding by a second encoder/decoder pair (whose compression contexts differ from the peer's).

#![no_main]

use bytes::BytesMut;
use jitgate_wire::spdy::{FrameDecoder, FrameEncoder, SpdyError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&chunking, wire)) = input.split_first() else {
        return;
    };
    // 0 feeds everything at once; n feeds n bytes at a time.
    let chunk = if chunking == 0 {
        wire.len().max(1)
    } else {
        usize::from(chunking)
    };

    let mut decoder = FrameDecoder::new();
    // Made on the first decoded frame: a zlib compressor is the costliest thing to set up.
    let mut pair: Option<(FrameEncoder, FrameDecoder)> = None;
    let mut reencoded = BytesMut::new();
    let mut reencoding = true;
    let mut buf = BytesMut::new();

    'feed: for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if !reencoding {
                        continue;
                    }
                    if pair.is_none() {
                        let encoder = FrameEncoder::new().expect("zlib accepts the dictionary");
                        pair = Some((encoder, FrameDecoder::new()));
                    }
                    let Some((encoder, mirror)) = pair.as_mut() else {
                        continue;
                    };
                    match encoder.encode(&frame, &mut reencoded) {
                        Ok(()) => {
                            let again = mirror.decode(&mut reencoded);
                            assert!(
                                matches!(&again, Ok(Some(f)) if *f == frame),
                                "re-encoded {frame:?} decoded as {again:?}"
                            );
                            assert!(reencoded.is_empty());
                        }
                        // Our compressor may do worse than the peer's on the same block.
                        Err(SpdyError::FrameTooLarge { .. }) => reencoding = false,
                        Err(err) => panic!("decoded frame {frame:?} does not encode: {err}"),
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    assert!(matches!(
                        decoder.decode(&mut buf),
                        Err(SpdyError::DecoderFailed)
                    ));
                    break 'feed;
                }
            }
        }
    }
});
