//! Real bytes: SPDY sessions of kubectl 1.27 against kube-apiserver, captured on the wire, and a
//! stream written by moby/spdystream with every frame type (tests/data/README.md says how).

use std::path::Path;

use bytes::BytesMut;
use jitgate_wire::portforward::{self, PortForwardStream};
use jitgate_wire::remotecommand::{self, ExitStatus, ResizeDecoder, TerminalSize};
use jitgate_wire::spdy::{Frame, FrameDecoder, FrameEncoder, StreamId};
use jitgate_wire::upgrade::{STREAM_PROTOCOL_VERSION_HEADER, negotiate};

use crate::render;

const STREAMS: [&str; 9] = [
    "kubectl-1.27-exec-stdin.client",
    "kubectl-1.27-exec-stdin.server",
    "kubectl-1.27-exec-exit.client",
    "kubectl-1.27-exec-exit.server",
    "kubectl-1.27-exec-tty.client",
    "kubectl-1.27-exec-tty.server",
    "kubectl-1.27-portforward.client",
    "kubectl-1.27-portforward.server",
    "spdystream-all-frame-types",
];

fn data(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn frames(name: &str) -> Vec<Frame> {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::from(&data(&format!("{name}.spdy"))[..]);
    let mut out = Vec::new();
    while let Some(frame) = decoder
        .decode(&mut buf)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
    {
        out.push(frame);
    }
    assert!(buf.is_empty(), "{name}: {} bytes left over", buf.len());
    out
}

/// The values of `name` in a captured HTTP/1.1 head.
fn http_header(file: &str, name: &str) -> Vec<String> {
    String::from_utf8(data(file))
        .expect("HTTP head is text")
        .split("\r\n")
        .filter_map(|line| line.split_once(": "))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_owned())
        .collect()
}

fn data_on(frames: &[Frame], stream: u32) -> Vec<u8> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::Data(d) if d.stream_id.get() == stream => Some(&d.data[..]),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

fn syn_streams(frames: &[Frame]) -> Vec<&jitgate_wire::spdy::SynStream> {
    frames
        .iter()
        .filter_map(|f| match f {
            Frame::SynStream(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[test]
fn every_capture_decodes_as_spdystream_decodes_it() {
    for name in STREAMS {
        let got: String = frames(name)
            .iter()
            .map(|f| render::line(f) + "\n")
            .collect();
        let want = String::from_utf8(data(&format!("{name}.frames"))).expect("text");
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn captures_decode_the_same_one_byte_at_a_time() {
    for name in STREAMS {
        let bytes = data(&format!("{name}.spdy"));
        let mut decoder = FrameDecoder::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in bytes {
            buf.extend_from_slice(&[byte]);
            while let Some(frame) = decoder.decode(&mut buf).expect("valid") {
                got.push(frame);
            }
        }
        assert_eq!(got, frames(name), "{name}");
    }
}

#[test]
fn kubectl_exec_negotiates_v4_and_opens_error_stdin_stdout_stderr() {
    let offers = http_header(
        "kubectl-1.27-exec-stdin.client.http",
        STREAM_PROTOCOL_VERSION_HEADER,
    );
    let offered: Vec<&str> = offers.iter().map(String::as_str).collect();
    let expected: Vec<&str> = remotecommand::Protocol::SPDY_OFFER
        .iter()
        .map(|p| p.name())
        .collect();
    assert_eq!(offered, expected);
    let chosen = http_header(
        "kubectl-1.27-exec-stdin.server.http",
        STREAM_PROTOCOL_VERSION_HEADER,
    );
    assert_eq!(chosen, ["v4.channel.k8s.io"]);
    assert_eq!(
        negotiate(offered, &["v4.channel.k8s.io", "v3.channel.k8s.io"]),
        Some("v4.channel.k8s.io")
    );

    let client = frames("kubectl-1.27-exec-stdin.client");
    let types: Vec<_> = syn_streams(&client)
        .iter()
        .map(|s| {
            remotecommand::StreamType::from_headers(&s.headers, remotecommand::Protocol::V4)
                .map(|t| (s.stream_id.get(), t))
        })
        .collect::<Result<_, _>>()
        .expect("kubectl's streams are valid");
    use remotecommand::StreamType::{Error, Stderr, Stdin, Stdout};
    assert_eq!(types, [(1, Error), (3, Stdin), (5, Stdout), (7, Stderr)]);
    assert_eq!(data_on(&client, 3), b"hello jitgate\n");
    assert!(matches!(client.last(), Some(Frame::Data(d)) if d.fin && d.data.is_empty()));

    let server = frames("kubectl-1.27-exec-stdin.server");
    assert_eq!(data_on(&server, 5), b"hello jitgate\n");
    assert_eq!(
        ExitStatus::from_status_json(&data_on(&server, 1)),
        Ok(ExitStatus::Success)
    );
}

#[test]
fn kubectl_exec_exit_code_arrives_on_the_error_stream() {
    let server = frames("kubectl-1.27-exec-exit.server");
    assert_eq!(data_on(&server, 3), b"out\n");
    assert_eq!(data_on(&server, 5), b"err\n");
    assert_eq!(
        ExitStatus::from_status_json(&data_on(&server, 1)),
        Ok(ExitStatus::ExitCode(3))
    );
    assert!(matches!(
        server.last(),
        Some(Frame::GoAway(g)) if g.last_good_stream_id == StreamId::new(5).expect("31 bits")
    ));
}

#[test]
fn kubectl_tty_exec_sends_its_terminal_size() {
    let client = frames("kubectl-1.27-exec-tty.client");
    let resize = syn_streams(&client)
        .into_iter()
        .find(|s| {
            remotecommand::StreamType::from_headers(&s.headers, remotecommand::Protocol::V4)
                == Ok(remotecommand::StreamType::Resize)
        })
        .expect("a resize stream");
    let sizes = ResizeDecoder::new()
        .push(&data_on(&client, resize.stream_id.get()))
        .expect("valid resize messages");
    assert_eq!(
        sizes,
        [TerminalSize {
            width: 101,
            height: 33
        }]
    );
    let server = frames("kubectl-1.27-exec-tty.server");
    assert_eq!(data_on(&server, 5), b"24 80\r\n33 101\r\n");
}

#[test]
fn kubectl_port_forward_pairs_an_error_and_a_data_stream() {
    assert_eq!(
        http_header(
            "kubectl-1.27-portforward.server.http",
            STREAM_PROTOCOL_VERSION_HEADER
        ),
        [portforward::PROTOCOL]
    );
    let client = frames("kubectl-1.27-portforward.client");
    let streams: Vec<_> = syn_streams(&client)
        .iter()
        .map(|s| PortForwardStream::from_headers(&s.headers).expect("valid"))
        .collect();
    let pair = |stream_type| PortForwardStream {
        stream_type,
        port: 8080,
        request_id: Some("0".to_owned()),
    };
    assert_eq!(
        streams,
        [
            pair(portforward::StreamType::Error),
            pair(portforward::StreamType::Data)
        ]
    );
    assert!(data_on(&client, 3).starts_with(b"GET / HTTP/1.1\r\n"));
    let server = frames("kubectl-1.27-portforward.server");
    assert!(data_on(&server, 3).starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(data_on(&server, 1).is_empty());
}

#[test]
fn captured_sessions_survive_reencoding() {
    for name in STREAMS {
        let original = frames(name);
        let mut encoder = FrameEncoder::new().expect("encoder");
        let mut wire = BytesMut::new();
        for frame in &original {
            encoder.encode(frame, &mut wire).expect("encodes");
        }
        let mut decoder = FrameDecoder::new();
        let mut again = Vec::new();
        while let Some(frame) = decoder.decode(&mut wire).expect("decodes") {
            again.push(frame);
        }
        assert_eq!(again, original, "{name}");
    }
}
