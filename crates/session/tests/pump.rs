//! The session core with WebSocket legs on both sides, over in-memory connections: a peer
//! playing kubectl on one end and a peer playing the apiserver on the other (both speaking the
//! channel protocol through tungstenite), the pump in between.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use jitgate_session::leg::Side;
use jitgate_session::pump::{EndedBy, PassThrough};
use jitgate_session::{CutReason, ExecFrame, Observer, Verdict, pump, websocket};
use jitgate_wire::channel::ChannelProtocol;
use jitgate_wire::remotecommand::{ExitStatus, StreamType};
use tokio::io::DuplexStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

type Peer = WebSocketStream<DuplexStream>;

/// kubectl's socket, the apiserver's socket, and the running pump's outcome.
async fn session(
    client_protocol: ChannelProtocol,
    cut_after: Option<Duration>,
    observer: Box<dyn Observer>,
) -> (
    Peer,
    Peer,
    tokio::task::JoinHandle<jitgate_session::SessionSummary>,
) {
    let (kubectl_io, gateway_client_io) = tokio::io::duplex(1 << 20);
    let (gateway_upstream_io, apiserver_io) = tokio::io::duplex(1 << 20);
    let kubectl = WebSocketStream::from_raw_socket(kubectl_io, Role::Client, None).await;
    let apiserver = WebSocketStream::from_raw_socket(apiserver_io, Role::Server, None).await;
    let client_leg = websocket::leg(gateway_client_io, Side::Client, client_protocol).await;
    let upstream_leg = websocket::leg(
        gateway_upstream_io,
        Side::Upstream,
        ChannelProtocol::V5Channel,
    )
    .await;
    let summary = tokio::spawn(async move {
        let mut observer = observer;
        let cut = async move {
            match cut_after {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
            CutReason {
                kind: "revoked",
                message: "access revoked at 03:17:02Z by security (grant g-7f3a09c1)".into(),
            }
        };
        let info = jitgate_session::SessionInfo::default();
        pump(&info, client_leg, upstream_leg, cut, observer.as_mut()).await
    });
    (kubectl, apiserver, summary)
}

async fn next_binary(peer: &mut Peer) -> Option<Bytes> {
    loop {
        match peer.next().await? {
            Ok(Message::Binary(b)) => return Some(b),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

fn bin(channel: u8, payload: &[u8]) -> Message {
    let mut v = vec![channel];
    v.extend_from_slice(payload);
    Message::Binary(Bytes::from(v))
}

const EXIT_3: &[u8] = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;

#[tokio::test]
async fn stdin_output_close_signal_and_exit_status_cross_the_session() {
    let (mut kubectl, mut apiserver, summary) =
        session(ChannelProtocol::V5Channel, None, Box::new(PassThrough)).await;
    kubectl.send(bin(0, b"hello\n")).await.unwrap();
    kubectl.send(bin(255, &[0])).await.unwrap(); // stdin is done
    assert_eq!(
        next_binary(&mut apiserver).await.unwrap(),
        Bytes::from_static(b"\x00hello\n")
    );
    assert_eq!(
        next_binary(&mut apiserver).await.unwrap(),
        Bytes::from_static(&[255, 0])
    );
    apiserver.send(bin(1, b"hello\n")).await.unwrap();
    apiserver.send(bin(2, b"warn\n")).await.unwrap();
    apiserver.send(bin(3, EXIT_3)).await.unwrap();
    apiserver.close(None).await.unwrap();
    assert_eq!(
        next_binary(&mut kubectl).await.unwrap(),
        Bytes::from_static(b"\x01hello\n")
    );
    assert_eq!(
        next_binary(&mut kubectl).await.unwrap(),
        Bytes::from_static(b"\x02warn\n")
    );
    let status = next_binary(&mut kubectl).await.unwrap();
    assert_eq!(status[0], 3);
    assert_eq!(&status[1..], EXIT_3);
    assert!(
        next_binary(&mut kubectl).await.is_none(),
        "the client is closed after the status"
    );
    let summary = summary.await.unwrap();
    assert_eq!(summary.ended_by, EndedBy::Upstream);
    assert_eq!(summary.exit, Some(ExitStatus::ExitCode(3)));
    assert_eq!(summary.bytes_from_client, 6);
    assert_eq!(summary.bytes_to_client, 6 + 5 + EXIT_3.len() as u64);
}

#[tokio::test]
async fn a_v4_client_gets_no_close_signals_and_a_cut_ends_with_a_status() {
    let (mut kubectl, mut apiserver, summary) = session(
        ChannelProtocol::V4Channel,
        Some(Duration::from_millis(200)),
        Box::new(PassThrough),
    )
    .await;
    kubectl
        .send(Message::Binary(Bytes::from_static(
            b"\x04{\"Width\":80,\"Height\":24}",
        )))
        .await
        .unwrap();
    // The resize is re-encoded as a JSON line for the apiserver.
    assert_eq!(
        next_binary(&mut apiserver).await.unwrap(),
        Bytes::from_static(b"\x04{\"Width\":80,\"Height\":24}\n")
    );
    // Nothing more happens until the cut.
    let status = next_binary(&mut kubectl).await.unwrap();
    assert_eq!(status[0], 3);
    let json: serde_json::Value = serde_json::from_slice(&status[1..]).unwrap();
    assert_eq!(json["status"], "Failure");
    assert!(json["message"].as_str().unwrap().contains("access revoked"));
    assert!(next_binary(&mut kubectl).await.is_none());
    assert!(
        next_binary(&mut apiserver).await.is_none(),
        "upstream closed too"
    );
    let summary = summary.await.unwrap();
    assert!(matches!(summary.ended_by, EndedBy::Cut(ref r) if r.kind == "revoked"));
}

#[tokio::test]
async fn frames_in_the_wrong_direction_end_the_session() {
    let (mut kubectl, _apiserver, summary) =
        session(ChannelProtocol::V5Channel, None, Box::new(PassThrough)).await;
    // kubectl may not write to stdout.
    kubectl.send(bin(1, b"forged output")).await.unwrap();
    let summary = summary.await.unwrap();
    assert_eq!(summary.ended_by, EndedBy::Client);
    assert!(summary.error.unwrap().contains("stdout data"));
}

struct DenyStdin;

impl Observer for DenyStdin {
    fn on_client_frame(&mut self, frame: &ExecFrame) -> Verdict {
        match frame {
            ExecFrame::Data(StreamType::Stdin, b) if b.starts_with(b"rm -rf /") => {
                Verdict::End(CutReason {
                    kind: "denied",
                    message: "jitgate denied `rm -rf /` (policy oncall-debug)".into(),
                })
            }
            _ => Verdict::Forward,
        }
    }
}

#[tokio::test]
async fn an_observer_can_end_the_session_before_the_frame_passes() {
    let (mut kubectl, mut apiserver, summary) =
        session(ChannelProtocol::V5Channel, None, Box::new(DenyStdin)).await;
    kubectl.send(bin(0, b"ls\n")).await.unwrap();
    assert_eq!(
        next_binary(&mut apiserver).await.unwrap(),
        Bytes::from_static(b"\x00ls\n")
    );
    kubectl.send(bin(0, b"rm -rf /\n")).await.unwrap();
    let status = next_binary(&mut kubectl).await.unwrap();
    assert!(String::from_utf8_lossy(&status).contains("denied"));
    assert!(
        next_binary(&mut apiserver).await.is_none(),
        "the denied line never went upstream"
    );
    let summary = summary.await.unwrap();
    assert!(matches!(summary.ended_by, EndedBy::Observer(_)));
}

/// Rewrites `x` on stdin into `y` and answers each stdin frame with a note on stdout.
struct Rewriter;

impl Observer for Rewriter {
    fn on_client_frame(&mut self, frame: &ExecFrame) -> Verdict {
        match frame {
            ExecFrame::Data(StreamType::Stdin, b) => Verdict::Replace {
                onward: vec![ExecFrame::Data(
                    StreamType::Stdin,
                    Bytes::from(
                        b.iter()
                            .map(|c| if *c == b'x' { b'y' } else { *c })
                            .collect::<Vec<u8>>(),
                    ),
                )],
                back: vec![ExecFrame::Data(
                    StreamType::Stdout,
                    Bytes::from_static(b"note\n"),
                )],
            },
            _ => Verdict::Forward,
        }
    }
}

#[tokio::test]
async fn an_observer_can_replace_a_frame_and_answer_it() {
    let (mut kubectl, mut apiserver, summary) =
        session(ChannelProtocol::V5Channel, None, Box::new(Rewriter)).await;
    kubectl.send(bin(0, b"xox\n")).await.unwrap();
    assert_eq!(
        next_binary(&mut kubectl).await.unwrap(),
        Bytes::from_static(b"\x01note\n"),
        "the answer goes back to kubectl"
    );
    assert_eq!(
        next_binary(&mut apiserver).await.unwrap(),
        Bytes::from_static(b"\x00yoy\n"),
        "the replacement goes on in place of what was sent"
    );
    apiserver.send(bin(1, b"out")).await.unwrap();
    assert_eq!(
        next_binary(&mut kubectl).await.unwrap(),
        Bytes::from_static(b"\x01out")
    );
    apiserver
        .send(bin(3, br#"{"status":"Success"}"#))
        .await
        .unwrap();
    apiserver.close(None).await.unwrap();
    let summary = summary.await.unwrap();
    assert_eq!(summary.bytes_from_client, 4);
    assert!(matches!(summary.ended_by, EndedBy::Upstream), "{summary:?}");
}

/// client-go without kubernetes#131203 drops messages that arrive before it has registered its
/// streams, so the first message towards kubectl waits until kubectl has spoken (its streams
/// exist) or `CLIENT_SETTLE` has passed. Time is paused: the clock only moves when every task
/// waits, so the measured times are exact.
#[tokio::test(start_paused = true)]
async fn the_first_message_to_a_silent_kubectl_waits_for_it_to_register_its_streams() {
    let (mut kubectl, mut apiserver, summary) =
        session(ChannelProtocol::V5Channel, None, Box::new(PassThrough)).await;
    let opened = tokio::time::Instant::now();
    // A fast command: empty stdout (the apiserver's "session is up"), then its exit status.
    apiserver.send(bin(1, b"")).await.unwrap();
    apiserver.send(bin(3, EXIT_3)).await.unwrap();
    assert_eq!(
        next_binary(&mut kubectl).await.unwrap(),
        Bytes::from_static(&[1])
    );
    assert!(
        opened.elapsed() >= websocket::CLIENT_SETTLE,
        "the first message reached kubectl after {:?}, before CLIENT_SETTLE",
        opened.elapsed()
    );
    let status = next_binary(&mut kubectl).await.unwrap();
    assert_eq!(&status[1..], EXIT_3, "nothing is lost while held");
    apiserver.close(None).await.unwrap();
    assert_eq!(summary.await.unwrap().exit, Some(ExitStatus::ExitCode(3)));
}

#[tokio::test(start_paused = true)]
async fn a_kubectl_that_has_spoken_gets_its_output_at_once() {
    let (mut kubectl, mut apiserver, _summary) =
        session(ChannelProtocol::V5Channel, None, Box::new(PassThrough)).await;
    let opened = tokio::time::Instant::now();
    // kubectl -it sends the terminal size once its streams exist.
    kubectl
        .send(bin(4, br#"{"Width":80,"Height":24}"#))
        .await
        .unwrap();
    next_binary(&mut apiserver).await.unwrap();
    apiserver.send(bin(1, b"$ ")).await.unwrap();
    assert_eq!(
        next_binary(&mut kubectl).await.unwrap(),
        Bytes::from_static(b"\x01$ ")
    );
    assert!(
        opened.elapsed() < websocket::CLIENT_SETTLE,
        "held for {:?} although kubectl had spoken",
        opened.elapsed()
    );
}

#[allow(clippy::unwrap_used)] // a test helper: no temporary folder, no test
fn recording_path(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    (dir, path)
}

#[tokio::test]
async fn a_session_is_recorded_frame_by_frame() {
    use jitgate_session::record::Recorder;
    use jitgate_wire::asciicast::{EventCode, parse};
    let (_dir, path) = recording_path("s-1.cast");
    let (mut kubectl, mut apiserver, summary) = session(
        ChannelProtocol::V5Channel,
        None,
        Box::new(Recorder::new(&path, 1 << 20)),
    )
    .await;
    kubectl
        .send(bin(4, br#"{"Width":100,"Height":30}"#))
        .await
        .unwrap();
    kubectl.send(bin(0, b"echo hi\r")).await.unwrap();
    next_binary(&mut apiserver).await.unwrap();
    next_binary(&mut apiserver).await.unwrap();
    apiserver.send(bin(1, b"hi\r\n")).await.unwrap();
    apiserver.send(bin(2, b"oops\n")).await.unwrap();
    apiserver.send(bin(3, EXIT_3)).await.unwrap();
    apiserver.close(None).await.unwrap();
    while next_binary(&mut kubectl).await.is_some() {}
    summary.await.unwrap();
    let rec = parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let events: Vec<(EventCode, &str)> = rec
        .events
        .iter()
        .map(|(_, c, d)| (*c, d.as_str()))
        .collect();
    assert_eq!(
        events,
        vec![
            (EventCode::Resize, "100x30"),
            (EventCode::Input, "echo hi\r"),
            (EventCode::Output, "hi\r\n"),
            (EventCode::Stderr, "oops\n"),
            (EventCode::Marker, std::str::from_utf8(EXIT_3).unwrap()),
        ]
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn a_session_that_cannot_be_recorded_does_not_start() {
    use jitgate_session::record::Recorder;
    let (_dir, path) = recording_path("missing-folder/s-1.cast");
    let (mut kubectl, mut apiserver, summary) = session(
        ChannelProtocol::V5Channel,
        None,
        Box::new(Recorder::new(&path, 1 << 20)),
    )
    .await;
    let status = next_binary(&mut kubectl).await.unwrap();
    assert_eq!(status[0], 3);
    let text = String::from_utf8_lossy(&status[1..]).into_owned();
    assert!(text.contains("cannot record this session"), "{text}");
    assert!(
        next_binary(&mut apiserver).await.is_none(),
        "nothing reached the container"
    );
    let summary = summary.await.unwrap();
    assert!(matches!(summary.ended_by, EndedBy::Observer(ref r) if r.kind == "recording"));
}

#[tokio::test]
async fn a_recording_stops_at_its_cap_and_the_session_goes_on() {
    use jitgate_session::record::Recorder;
    use jitgate_wire::asciicast::{EventCode, parse};
    let (_dir, path) = recording_path("s-2.cast");
    let (mut kubectl, mut apiserver, summary) = session(
        ChannelProtocol::V5Channel,
        None,
        Box::new(Recorder::new(&path, 2048)),
    )
    .await;
    let chunk = vec![b'x'; 1000];
    for _ in 0..5 {
        apiserver.send(bin(1, &chunk)).await.unwrap();
    }
    apiserver.send(bin(3, EXIT_3)).await.unwrap();
    apiserver.close(None).await.unwrap();
    let mut received = 0;
    while let Some(m) = next_binary(&mut kubectl).await {
        if m[0] == 1 {
            received += m.len() - 1;
        }
    }
    assert_eq!(received, 5000, "the session delivered everything");
    assert_eq!(summary.await.unwrap().exit, Some(ExitStatus::ExitCode(3)));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.len() <= 2048 + 200, "{} bytes", text.len());
    let rec = parse(&text).unwrap();
    let last = rec.events.last().unwrap();
    assert_eq!(last.1, EventCode::Marker);
    assert!(last.2.contains("truncated"), "{}", last.2);
}
