//! A `Connection` against a raw peer that sends frames by hand: protocol violations, what
//! spdystream does that a `Connection` never would, and kubectl's real bytes.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::{RawPeer, headers, within};
use jitgate_spdy::{ConnectionConfig, Error, Role, RstStatus, StreamId, WindowUpdates};
use jitgate_wire::remotecommand::{Protocol, StreamType};
use jitgate_wire::spdy::{
    DataFrame, Frame, GoAway, GoAwayStatus, HeaderBlock, Ping, RstStream, Setting, SettingId,
    Settings, SynReply, SynStream, WindowUpdate,
};

fn id(n: u32) -> StreamId {
    StreamId::new(n).expect("31 bits")
}

fn syn(n: u32, fin: bool) -> Frame {
    Frame::SynStream(SynStream {
        stream_id: id(n),
        associated_to: StreamId::ZERO,
        priority: 0,
        fin,
        unidirectional: false,
        headers: headers("streamtype", "data"),
    })
}

fn data(n: u32, payload: &'static [u8], fin: bool) -> Frame {
    Frame::Data(DataFrame {
        stream_id: id(n),
        fin,
        data: Bytes::from_static(payload),
    })
}

fn is_rst(frame: &Frame, n: u32, status: RstStatus) -> bool {
    matches!(frame, Frame::RstStream(r) if r.stream_id == id(n) && r.status == status)
}

/// A protocol violation ends the connection with GOAWAY(PROTOCOL_ERROR) and fails every stream.
#[tokio::test]
async fn protocol_violations_close_with_goaway_protocol_error() {
    type Case = (&'static str, Vec<Frame>, &'static [u8]);
    let cases: Vec<Case> = vec![
        ("client opens an even id", vec![syn(2, false)], b""),
        ("ids go backwards", vec![syn(5, false), syn(3, false)], b""),
        (
            "reply for a stream never opened",
            vec![Frame::SynReply(SynReply {
                stream_id: id(2),
                fin: false,
                headers: HeaderBlock::new(),
            })],
            b"",
        ),
        // A control frame of version 2: not SPDY/3.
        (
            "malformed frame",
            vec![],
            &[0x80, 0x02, 0x00, 0x01, 0, 0, 0, 0],
        ),
    ];
    for (name, frames, raw) in cases {
        let (server, mut peer) = RawPeer::connect(Role::Server, ConnectionConfig::default());
        // An accepted stream, to see it fail too.
        peer.send([syn(1, false)]).await;
        let incoming = within("a stream", server.accept()).await.expect("a stream");
        let mut stream = incoming.reply(HeaderBlock::new(), false).expect("reply");
        peer.recv_until("the reply", |f| matches!(f, Frame::SynReply(_)))
            .await;
        peer.send(frames).await;
        peer.send_bytes(raw).await;
        let goaway = peer
            .recv_until(name, |f| matches!(f, Frame::GoAway(_)))
            .await;
        assert!(
            matches!(goaway, Frame::GoAway(g) if g.status == GoAwayStatus::PROTOCOL_ERROR),
            "{name}: {goaway:?}"
        );
        let err = within("the end", server.closed()).await.expect_err(name);
        let Error::ConnectionFailed(cause) = &err else {
            panic!("{name}: {err}");
        };
        assert!(
            matches!(
                **cause,
                Error::ProtocolViolation { .. } | Error::MalformedFrame(_)
            ),
            "{name}: {cause}"
        );
        assert!(
            matches!(
                within("the stream's end", stream.recv()).await,
                Err(Error::ConnectionFailed(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                stream.send(Bytes::from_static(b"x")).await,
                Err(Error::ConnectionFailed(_))
            ),
            "{name}"
        );
    }
}

/// Frames spdystream would drop are answered per the specification, and never delivered.
#[tokio::test]
async fn stray_data_is_reset_not_delivered() {
    let (server, mut peer) = RawPeer::connect(Role::Server, ConnectionConfig::default());
    peer.send([syn(1, false), data(1, b"before", true)]).await;
    let incoming = within("a stream", server.accept()).await.expect("a stream");
    let mut stream = incoming.reply(HeaderBlock::new(), false).expect("reply");
    assert_eq!(
        within("data", stream.recv()).await.expect("ok"),
        Some(Bytes::from_static(b"before"))
    );
    assert_eq!(within("FIN", stream.recv()).await.expect("ok"), None);
    // DATA after FIN: STREAM_ALREADY_CLOSED. DATA for a stream never opened: INVALID_STREAM.
    peer.send([data(1, b"after FIN", false), data(9, b"nobody", false)])
        .await;
    peer.recv_until("RST for stream 1", |f| {
        is_rst(f, 1, RstStatus::STREAM_ALREADY_CLOSED)
    })
    .await;
    peer.recv_until("RST for stream 9", |f| {
        is_rst(f, 9, RstStatus::INVALID_STREAM)
    })
    .await;
    // Our side of stream 1 is reset too: nothing after the FIN reached us.
    assert!(matches!(
        stream.send(Bytes::from_static(b"x")).await,
        Err(Error::StreamResetLocally { .. })
    ));
    // DATA for a stream that closed normally is dropped silently; the session goes on.
    peer.send([data(1, b"late", false), Frame::Ping(Ping { id: 7 })])
        .await;
    let next = peer.recv().await.expect("a frame");
    assert_eq!(
        next,
        Frame::Ping(Ping { id: 7 }),
        "PING echoed, nothing else"
    );
}

#[tokio::test]
async fn data_before_the_reply_is_a_stream_error() {
    let (client, mut peer) = RawPeer::connect(Role::Client, ConnectionConfig::default());
    let stream = client.open_stream(headers("a", "b"), false).expect("open");
    peer.recv_until("SYN_STREAM", |f| matches!(f, Frame::SynStream(_)))
        .await;
    peer.send([data(1, b"too early", false)]).await;
    peer.recv_until("RST", |f| is_rst(f, 1, RstStatus::PROTOCOL_ERROR))
        .await;
    let err = within("the failure", stream.wait_reply())
        .await
        .expect_err("reset");
    assert_eq!(err.reset_status(), Some(RstStatus::PROTOCOL_ERROR), "{err}");
}

#[tokio::test]
async fn a_duplicate_reply_resets_the_stream() {
    let (client, mut peer) = RawPeer::connect(Role::Client, ConnectionConfig::default());
    let stream = client.open_stream(headers("a", "b"), false).expect("open");
    peer.recv_until("SYN_STREAM", |f| matches!(f, Frame::SynStream(_)))
        .await;
    let reply = Frame::SynReply(SynReply {
        stream_id: id(1),
        fin: false,
        headers: HeaderBlock::new(),
    });
    peer.send([reply.clone(), reply]).await;
    peer.recv_until("RST", |f| is_rst(f, 1, RstStatus::STREAM_IN_USE))
        .await;
    stream.wait_reply().await.expect("the first reply counted");
}

#[tokio::test]
async fn streams_above_the_peers_last_good_were_not_processed() {
    let (client, mut peer) = RawPeer::connect(Role::Client, ConnectionConfig::default());
    let first = client.open_stream(headers("n", "1"), false).expect("open");
    let second = client.open_stream(headers("n", "3"), false).expect("open");
    peer.recv_until(
        "second SYN_STREAM",
        |f| matches!(f, Frame::SynStream(s) if s.stream_id == id(3)),
    )
    .await;
    peer.send([
        Frame::SynReply(SynReply {
            stream_id: id(1),
            fin: false,
            headers: HeaderBlock::new(),
        }),
        Frame::GoAway(GoAway {
            last_good_stream_id: id(1),
            status: GoAwayStatus::OK,
        }),
    ])
    .await;
    let err = within("stream 3's end", second.wait_reply())
        .await
        .expect_err("unprocessed");
    assert!(matches!(err, Error::StreamNotProcessed { .. }), "{err}");
    first.wait_reply().await.expect("stream 1 goes on");
    assert!(matches!(
        client.open_stream(headers("n", "5"), false),
        Err(Error::GoingAway)
    ));
    // Stream 1 still carries data after GOAWAY.
    let (mut send, mut recv) = first.into_split();
    peer.send([data(1, b"after goaway", true)]).await;
    assert_eq!(
        within("data", recv.recv()).await.expect("ok"),
        Some(Bytes::from_static(b"after goaway"))
    );
    send.finish().expect("finish");
    // Both directions done and GOAWAY received: the connection closes its socket.
    let frames = peer.recv_to_end().await;
    assert!(
        frames
            .iter()
            .any(|f| matches!(f, Frame::Data(d) if d.stream_id == id(1) && d.fin)),
        "{frames:?}"
    );
    within("closed", client.closed()).await.expect("graceful");
}

#[tokio::test]
async fn the_peer_closing_its_socket_ends_streams_with_an_error() {
    let (server, mut peer) = RawPeer::connect(Role::Server, ConnectionConfig::default());
    peer.send([syn(1, false), data(1, b"partial", false)]).await;
    let incoming = within("a stream", server.accept()).await.expect("a stream");
    let mut stream = incoming.reply(HeaderBlock::new(), false).expect("reply");
    peer.close().await;
    assert_eq!(
        within("data", stream.recv()).await.expect("ok"),
        Some(Bytes::from_static(b"partial"))
    );
    let err = within("the end", stream.recv())
        .await
        .expect_err("no FIN came");
    assert!(matches!(err, Error::ConnectionClosed { .. }), "{err}");
    within("closed", server.closed())
        .await
        .expect("a peer close is not a failure");
}

/// Sends stream 1 six 16 KiB DATA frames (after `first`), reads them, and returns the stream and
/// session credit that came back: all of it if `expect_credit`, else what came before the echo
/// of a PING sent after the reads (credit is queued as data is read, so it would come first).
async fn credit_after_reading(
    config: ConnectionConfig,
    first: Option<Frame>,
    expect_credit: bool,
) -> (u32, u32) {
    let (server, mut peer) = RawPeer::connect(Role::Server, config);
    peer.send(first).await;
    peer.send([syn(1, false)]).await;
    let incoming = within("a stream", server.accept()).await.expect("a stream");
    let mut stream = incoming.reply(HeaderBlock::new(), false).expect("reply");
    let chunk: &'static [u8] = &[7; 16 * 1024];
    peer.send((0..6).map(|_| data(1, chunk, false))).await;
    let mut read = 0;
    while read < 6 * chunk.len() {
        read += within("data", stream.recv())
            .await
            .expect("ok")
            .expect("data")
            .len();
    }
    // A PING after the reads: its echo comes after any credit the reads caused.
    tokio::time::sleep(Duration::from_millis(50)).await;
    peer.send([Frame::Ping(Ping { id: 99 })]).await;
    let mut stream_credit = 0;
    let mut session_credit = 0;
    while !expect_credit || stream_credit < 96 * 1024 || session_credit < 96 * 1024 {
        match peer.recv().await {
            Some(Frame::Ping(Ping { id: 99 })) if !expect_credit => break,
            Some(Frame::WindowUpdate(WindowUpdate { stream_id, delta })) if stream_id.is_zero() => {
                session_credit += delta;
            }
            Some(Frame::WindowUpdate(WindowUpdate { stream_id, delta })) => {
                assert_eq!(stream_id, id(1));
                stream_credit += delta;
            }
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    drop(server);
    (stream_credit, session_credit)
}

#[tokio::test]
async fn consumed_data_is_credited_only_to_peers_that_do_flow_control() {
    let settings = Frame::Settings(Settings {
        clear_persisted: false,
        entries: vec![Setting {
            id: SettingId::MAX_CONCURRENT_STREAMS,
            value: 100,
            persist_value: false,
            persisted: false,
        }],
    });
    let always = ConnectionConfig {
        window_updates: WindowUpdates::Always,
        ..ConnectionConfig::default()
    };
    let never = ConnectionConfig {
        window_updates: WindowUpdates::Never,
        ..ConnectionConfig::default()
    };
    type Case = (&'static str, ConnectionConfig, Option<Frame>, (u32, u32));
    let cases: Vec<Case> = vec![
        (
            "spdystream-like peer, default",
            ConnectionConfig::default(),
            None,
            (0, 0),
        ),
        (
            "peer sent SETTINGS, default",
            ConnectionConfig::default(),
            Some(settings.clone()),
            (96 * 1024, 96 * 1024),
        ),
        ("always", always, None, (96 * 1024, 96 * 1024)),
        ("never, even after SETTINGS", never, Some(settings), (0, 0)),
    ];
    for (name, config, first, want) in cases {
        let expect_credit = want.0 > 0;
        let got = credit_after_reading(config, first, expect_credit).await;
        assert_eq!(got, want, "{name}: credit in 32 KiB steps, or none");
    }
}

#[tokio::test]
async fn peer_window_updates_and_settings_are_accounted() {
    let (client, mut peer) = RawPeer::connect(Role::Client, ConnectionConfig::default());
    let mut stream = client.open_stream(headers("a", "b"), false).expect("open");
    peer.send([
        Frame::SynReply(SynReply {
            stream_id: id(1),
            fin: false,
            headers: HeaderBlock::new(),
        }),
        Frame::Settings(Settings {
            clear_persisted: false,
            entries: vec![Setting {
                id: SettingId::INITIAL_WINDOW_SIZE,
                value: 1_000,
                persist_value: false,
                persisted: false,
            }],
        }),
        Frame::WindowUpdate(WindowUpdate {
            stream_id: id(1),
            delta: 500,
        }),
        Frame::WindowUpdate(WindowUpdate {
            stream_id: StreamId::ZERO,
            delta: 100,
        }),
    ])
    .await;
    stream.wait_reply().await.expect("reply");
    within("the window", async {
        while stream.send_half().send_window() != 1_500 || client.send_window() != 65_636 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // Sending past the window does not wait for it.
    within(
        "a send past the window",
        stream.send(Bytes::from(vec![0; 10_000])),
    )
    .await
    .expect("send");
    assert_eq!(stream.send_half().send_window(), -8_500);
    // A WINDOW_UPDATE past 2^31 - 1 resets the stream (§2.6.8).
    let huge = Frame::WindowUpdate(WindowUpdate {
        stream_id: id(1),
        delta: 0x7fff_ffff,
    });
    peer.send([huge.clone(), huge]).await;
    peer.recv_until("RST", |f| is_rst(f, 1, RstStatus::FLOW_CONTROL_ERROR))
        .await;
}

#[tokio::test]
async fn a_peer_that_pings_without_reading_is_cut_off() {
    let (server, peer) = RawPeer::connect(Role::Server, ConnectionConfig::default());
    // Never read: write pings until the connection gives up on us.
    let mut io = peer.into_io();
    let mut encoder = jitgate_wire::spdy::FrameEncoder::new().expect("encoder");
    let mut wire = bytes::BytesMut::new();
    for n in 0..200_000u32 {
        encoder
            .encode(&Frame::Ping(Ping { id: n * 2 + 1 }), &mut wire)
            .expect("encodes");
    }
    use tokio::io::AsyncWriteExt;
    // The duplex buffer holds 256 KiB of echoes; past it they pile up in the connection, and
    // past its limit it gives up: it stops reading, then closes the socket.
    let written = within("the connection to give up", io.write_all(&wire)).await;
    assert!(
        written.is_err(),
        "the connection stopped reading and closed"
    );
    let err = within("the end", server.closed())
        .await
        .expect_err("a failure");
    let Error::ConnectionFailed(cause) = &err else {
        panic!("{err}");
    };
    assert!(matches!(**cause, Error::PeerNotReading { .. }), "{cause}");
}

#[tokio::test]
async fn rst_for_an_unknown_stream_is_ignored() {
    let (server, mut peer) = RawPeer::connect(Role::Server, ConnectionConfig::default());
    peer.send([
        Frame::RstStream(RstStream {
            stream_id: id(41),
            status: RstStatus::CANCEL,
        }),
        Frame::Ping(Ping { id: 1 }),
    ])
    .await;
    assert_eq!(peer.recv().await, Some(Frame::Ping(Ping { id: 1 })));
    assert!(!server.is_closed());
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wire/tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// kubectl 1.27's real bytes for `echo "hello jitgate" | kubectl exec -i POD -- cat`, fed to our
/// server: it sees kubectl's four streams, stdin's data and its FIN.
#[tokio::test]
async fn kubectl_exec_bytes_reach_a_server_connection() {
    let (server, mut peer) = RawPeer::connect(Role::Server, ConnectionConfig::default());
    peer.send_bytes(&fixture("kubectl-1.27-exec-stdin.client.spdy"))
        .await;
    let mut streams = Vec::new();
    for _ in 0..4 {
        let incoming = within("kubectl's streams", server.accept())
            .await
            .expect("a stream");
        let kind = StreamType::from_headers(incoming.headers(), Protocol::V4).expect("streamtype");
        streams.push((
            incoming.id().get(),
            kind,
            incoming.reply(HeaderBlock::new(), false).expect("reply"),
        ));
    }
    let kinds: Vec<(u32, StreamType)> = streams.iter().map(|(id, kind, _)| (*id, *kind)).collect();
    assert_eq!(
        kinds,
        [
            (1, StreamType::Error),
            (3, StreamType::Stdin),
            (5, StreamType::Stdout),
            (7, StreamType::Stderr)
        ]
    );
    let stdin = &mut streams[1].2;
    assert_eq!(
        within("stdin", stdin.recv()).await.expect("ok"),
        Some(Bytes::from_static(b"hello jitgate\n"))
    );
    assert_eq!(within("stdin's FIN", stdin.recv()).await.expect("ok"), None);
    // Answer like kube-apiserver: replies, stdout, the status, CANCEL everything, GOAWAY.
    streams[2]
        .2
        .send(Bytes::from_static(b"hello jitgate\n"))
        .await
        .expect("stdout");
    streams[0]
        .2
        .send(Bytes::from_static(br#"{"status":"Success"}"#))
        .await
        .expect("status");
    for (_, _, stream) in &mut streams {
        stream.reset(RstStatus::CANCEL);
    }
    server.close();
    let frames = peer.recv_to_end().await;
    let replies = frames
        .iter()
        .filter(|f| matches!(f, Frame::SynReply(_)))
        .count();
    assert_eq!(replies, 4);
    let resets: Vec<u32> = frames
        .iter()
        .filter_map(|f| match f {
            Frame::RstStream(r) if r.status == RstStatus::CANCEL => Some(r.stream_id.get()),
            _ => None,
        })
        .collect();
    // stdin ended both ways already (kubectl's FIN, then... no: our side was open) — all four.
    assert_eq!(resets, [1, 3, 5, 7]);
    assert!(
        matches!(frames.last(), Some(Frame::GoAway(g)) if g.last_good_stream_id == id(7) && g.status == GoAwayStatus::OK),
        "{:?}",
        frames.last()
    );
    within("closed", server.closed()).await.expect("graceful");
}

/// A burst of PINGs from a peer that does read is answered in full: only a peer that stops
/// reading is cut off.
#[tokio::test]
async fn a_burst_of_pings_is_answered_in_full() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, peer) = RawPeer::connect(Role::Server, ConnectionConfig::default());
    let (mut read, mut write) = tokio::io::split(peer.into_io());
    let count = 5_000u32;
    let mut encoder = jitgate_wire::spdy::FrameEncoder::new().expect("encoder");
    let mut wire = bytes::BytesMut::new();
    for n in 0..count {
        encoder
            .encode(&Frame::Ping(Ping { id: n * 2 + 1 }), &mut wire)
            .expect("encodes");
    }
    let writer = tokio::spawn(async move {
        write.write_all(&wire).await.expect("write");
        write
    });
    let mut decoder = jitgate_wire::spdy::FrameDecoder::new();
    let mut buf = bytes::BytesMut::new();
    let mut echoed = Vec::new();
    within("every echo", async {
        while echoed.len() < count as usize {
            while let Some(frame) = decoder.decode(&mut buf).expect("valid") {
                if let Frame::Ping(Ping { id }) = frame {
                    echoed.push(id);
                }
            }
            if echoed.len() < count as usize {
                assert!(
                    read.read_buf(&mut buf).await.expect("read") > 0,
                    "closed early"
                );
            }
        }
    })
    .await;
    let want: Vec<u32> = (0..count).map(|n| n * 2 + 1).collect();
    assert_eq!(echoed, want, "every PING echoed, in order");
    let _write = writer.await.expect("writer");
    assert!(!server.is_closed());
}
