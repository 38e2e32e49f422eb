//! SPDY over the WebSocket tunnel, both ends ours: the tunnel is a byte stream whatever the
//! message boundaries, and only binary messages are allowed.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{headers, pattern, within};
use futures_util::SinkExt;
use jitgate_spdy::{Connection, Role, WebSocketTunnel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

async fn tunnel_pair() -> (
    WebSocketTunnel<tokio::io::DuplexStream>,
    WebSocketTunnel<tokio::io::DuplexStream>,
) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    tokio::join!(
        WebSocketTunnel::from_upgraded(a, Role::Client),
        WebSocketTunnel::from_upgraded(b, Role::Server)
    )
}

#[tokio::test]
async fn spdy_runs_over_the_tunnel_unchanged() {
    let (a, b) = tunnel_pair().await;
    let client = Connection::client(a).expect("client");
    let server = Connection::server(b).expect("server");
    let opened = client
        .open_stream(headers("streamtype", "data"), false)
        .expect("open");
    let incoming = within("a stream", server.accept()).await.expect("a stream");
    assert_eq!(
        incoming
            .headers()
            .get("streamtype")
            .and_then(|h| h.value_str()),
        Some("data")
    );
    let mut accepted = incoming.reply(headers("k", "v"), false).expect("reply");
    within("reply", opened.wait_reply()).await.expect("reply");
    let data = pattern(21, 3 * 1024 * 1024);
    let (mut send, mut recv) = opened.into_split();
    let writer = tokio::spawn({
        let data = data.clone();
        async move {
            send.send(data).await.expect("send");
            send.finish().expect("finish");
            send
        }
    });
    let echo = tokio::spawn(async move {
        while let Some(chunk) = accepted.recv().await.expect("recv") {
            accepted.send(chunk).await.expect("echo");
        }
        accepted.finish().expect("finish");
        accepted
    });
    let mut got = Vec::new();
    within("the echo", recv.read_to_end(&mut got))
        .await
        .expect("read");
    assert!(got == data, "3 MiB echoed through the tunnel");
    within("writer", writer).await.expect("writer");
    within("echo", echo).await.expect("echo");
    within("a ping", client.ping())
        .await
        .expect("PING through the tunnel");
    client.close();
    within("client closed", client.closed())
        .await
        .expect("clean");
    within("server closed", server.closed())
        .await
        .expect("clean");
}

/// Bytes split across messages at any point read back as one stream (client-go writes a SPDY
/// frame in several messages).
#[tokio::test]
async fn messages_concatenate_into_one_byte_stream() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (mut ws, mut tunnel) = tokio::join!(
        WebSocketStream::from_raw_socket(
            a,
            tokio_tungstenite::tungstenite::protocol::Role::Client,
            None
        ),
        WebSocketTunnel::from_upgraded(b, Role::Server)
    );
    for piece in [&b"hel"[..], b"", b"lo ", b"wor", b"ld"] {
        ws.send(Message::Binary(Bytes::copy_from_slice(piece)))
            .await
            .expect("send");
    }
    ws.send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .expect("ping");
    ws.send(Message::Binary(Bytes::from_static(b"!")))
        .await
        .expect("send");
    ws.close(None).await.expect("close");
    let mut text = String::new();
    within("the stream", tunnel.read_to_string(&mut text))
        .await
        .expect("read");
    assert_eq!(text, "hello world!", "a close message ends the byte stream");
}

#[tokio::test]
async fn a_text_message_is_an_error() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (mut ws, mut tunnel) = tokio::join!(
        WebSocketStream::from_raw_socket(
            a,
            tokio_tungstenite::tungstenite::protocol::Role::Client,
            None
        ),
        WebSocketTunnel::from_upgraded(b, Role::Server)
    );
    ws.send(Message::text("not SPDY")).await.expect("send");
    let mut buf = [0u8; 16];
    let err = within("the error", tunnel.read(&mut buf))
        .await
        .expect_err("text is refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("text message"), "{err}");
}

#[tokio::test]
async fn each_write_is_one_binary_message() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (mut tunnel, mut ws) = tokio::join!(
        WebSocketTunnel::from_upgraded(a, Role::Client),
        WebSocketStream::from_raw_socket(
            b,
            tokio_tungstenite::tungstenite::protocol::Role::Server,
            None
        )
    );
    tunnel.write_all(b"one frame").await.expect("write");
    tunnel.flush().await.expect("flush");
    use futures_util::StreamExt;
    let message = within("a message", ws.next())
        .await
        .expect("open")
        .expect("valid");
    assert_eq!(message, Message::Binary(Bytes::from_static(b"one frame")));
    tunnel.shutdown().await.expect("close");
    let close = within("the close", ws.next())
        .await
        .expect("open")
        .expect("valid");
    assert!(matches!(close, Message::Close(_)), "{close:?}");
}
