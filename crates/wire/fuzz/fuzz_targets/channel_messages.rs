//! Arbitrary WebSocket message payloads into the channel codec of every protocol, plus the
//! parsers that read channel contents (resize messages, exit Status, port lists). Whatever
//! decodes must re-encode to something that decodes the same.

#![no_main]

use jitgate_wire::channel::{ChannelCodec, ChannelProtocol};
use jitgate_wire::portforward::{PortPrefix, WebSocketPorts};
use jitgate_wire::remotecommand::{ExitStatus, ResizeDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&selector, message)) = input.split_first() else {
        return;
    };
    let protocol = ChannelProtocol::ALL[usize::from(selector) % ChannelProtocol::ALL.len()];
    let codec = ChannelCodec::new(protocol).with_max_payload_len(4096);
    if let Ok(Some(decoded)) = codec.decode(message) {
        if let Ok(encoded) = codec.encode(&decoded) {
            assert_eq!(codec.decode(&encoded), Ok(Some(decoded)));
        }
    }

    let mut resize = ResizeDecoder::new();
    for piece in message.chunks(usize::from(selector).max(1)) {
        if resize.push(piece).is_err() {
            break;
        }
    }
    let _ = ExitStatus::from_status_json(message);
    let text = String::from_utf8_lossy(message);
    let _ = WebSocketPorts::from_query_values(text.split('&'));
    let mut prefix = PortPrefix::new(selector, u16::from(selector) * 257);
    for piece in message.chunks(3) {
        if prefix.strip(piece).is_err() {
            break;
        }
    }
});
