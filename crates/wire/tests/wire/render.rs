//! Renders frames one per line, in the format of the `.frames` files next to the fixtures (written
//! by moby/spdystream's decoder, see tests/data/README.md), so the two decoders can be compared.

use jitgate_wire::spdy::{Frame, HeaderBlock};

fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if (0x20..=0x7e).contains(&b) && b != b'\\' && b != b'"' {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

fn headers(block: &HeaderBlock) -> String {
    let mut pairs: Vec<_> = block
        .iter()
        .map(|h| format!("{}=\"{}\"", escape(h.name().as_bytes()), escape(h.value())))
        .collect();
    pairs.sort();
    format!("{{{}}}", pairs.join(" "))
}

pub fn line(frame: &Frame) -> String {
    let fin = |fin: bool| u8::from(fin);
    match frame {
        Frame::SynStream(f) => format!(
            "SYN_STREAM stream={} assoc={} pri={} flags=0x{:02x} headers={}",
            f.stream_id,
            f.associated_to,
            f.priority,
            fin(f.fin) | u8::from(f.unidirectional) << 1,
            headers(&f.headers)
        ),
        Frame::SynReply(f) => format!(
            "SYN_REPLY stream={} flags=0x{:02x} headers={}",
            f.stream_id,
            fin(f.fin),
            headers(&f.headers)
        ),
        Frame::Headers(f) => format!(
            "HEADERS stream={} flags=0x{:02x} headers={}",
            f.stream_id,
            fin(f.fin),
            headers(&f.headers)
        ),
        Frame::RstStream(f) => format!("RST_STREAM stream={} status={}", f.stream_id, f.status.0),
        Frame::Settings(f) => format!(
            "SETTINGS flags=0x{:02x} entries=[{}]",
            u8::from(f.clear_persisted),
            f.entries
                .iter()
                .map(|e| format!(
                    "0x{:02x}:{}={}",
                    u8::from(e.persist_value) | u8::from(e.persisted) << 1,
                    e.id.get(),
                    e.value
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Frame::Ping(f) => format!("PING id={}", f.id),
        Frame::GoAway(f) => format!(
            "GOAWAY last_good={} status={}",
            f.last_good_stream_id, f.status.0
        ),
        Frame::WindowUpdate(f) => {
            format!("WINDOW_UPDATE stream={} delta={}", f.stream_id, f.delta)
        }
        Frame::Data(f) => format!(
            "DATA stream={} flags=0x{:02x} data=\"{}\"",
            f.stream_id,
            fin(f.fin),
            escape(&f.data)
        ),
    }
}
