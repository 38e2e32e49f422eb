//! Both ends ours over `tokio::io::duplex`: streams, half-close, reset, GOAWAY, PING, limits.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{PATIENCE, headers, pair, pair_with, pattern, within};
use jitgate_spdy::{Connection, ConnectionConfig, Error, RstStatus, Stream, WindowUpdates};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads a stream to its FIN.
async fn read_all(stream: &mut Stream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = within("data", stream.recv()).await.expect("no error") {
        assert!(!chunk.is_empty(), "recv never yields empty payloads");
        out.extend_from_slice(&chunk);
    }
    out
}

/// The server accepts one stream and replies with `reply` headers.
async fn accept_one(server: &Connection, reply: &str) -> Stream {
    let incoming = within("a stream", server.accept()).await.expect("a stream");
    incoming
        .reply(headers("reply", reply), false)
        .expect("reply")
}

#[tokio::test]
async fn open_accept_reply_and_exchange_data() {
    let (client, server) = pair();
    let mut opened = client
        .open_stream(headers("streamtype", "stdout"), false)
        .expect("open");
    assert_eq!(opened.id().get(), 1, "clients open odd ids from 1");
    let incoming = within("a stream", server.accept()).await.expect("a stream");
    assert_eq!(incoming.id().get(), 1);
    assert_eq!(
        incoming
            .headers()
            .get("streamtype")
            .and_then(|h| h.value_str()),
        Some("stdout")
    );
    assert!(!incoming.is_fin() && !incoming.is_unidirectional());
    let mut accepted = incoming
        .reply(headers("answer", "yes"), false)
        .expect("reply");
    let reply = within("the reply", opened.wait_reply())
        .await
        .expect("replied");
    assert_eq!(reply.get("answer").and_then(|h| h.value_str()), Some("yes"));

    opened
        .send(Bytes::from_static(b"ping?"))
        .await
        .expect("send");
    opened.finish().expect("finish");
    assert_eq!(read_all(&mut accepted).await, b"ping?");
    accepted
        .send(Bytes::from_static(b"pong!"))
        .await
        .expect("send");
    accepted.finish().expect("finish");
    assert_eq!(read_all(&mut opened).await, b"pong!");

    // Both directions finished: the stream leaves both tables.
    within("streams to close", async {
        while client.open_streams() + server.open_streams() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(matches!(
        opened.send(Bytes::from_static(b"late")).await,
        Err(Error::AlreadyFinished { .. })
    ));
}

#[tokio::test]
async fn server_opened_streams_use_even_ids() {
    let (client, server) = pair();
    let mut pushed = server
        .open_stream(headers("streamtype", "data"), false)
        .expect("open");
    assert_eq!(pushed.id().get(), 2, "servers open even ids from 2");
    let second = server
        .open_stream(headers("streamtype", "data"), true)
        .expect("open");
    assert_eq!(second.id().get(), 4);
    let incoming = within("a stream", client.accept()).await.expect("a stream");
    let mut accepted = incoming.reply(headers("k", "v"), false).expect("reply");
    within("the reply", pushed.wait_reply())
        .await
        .expect("replied");
    pushed.send(pattern(7, 100_000)).await.expect("send");
    pushed.finish().expect("finish");
    assert_eq!(read_all(&mut accepted).await, pattern(7, 100_000));
    // The second stream was opened with FIN: the client sees a stream with nothing to read.
    let incoming = within("a stream", client.accept()).await.expect("a stream");
    assert!(incoming.is_fin());
    let mut fin_stream = incoming.reply(headers("k", "v"), false).expect("reply");
    assert_eq!(within("FIN", fin_stream.recv()).await.expect("ok"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_streams_keep_their_data_apart() {
    let (client, server) = pair();
    let client = std::sync::Arc::new(client);
    let server_task = tokio::spawn(async move {
        let mut echoes = Vec::new();
        for _ in 0..100 {
            let mut stream = accept_one(&server, "ok").await;
            echoes.push(tokio::spawn(async move {
                // Echo everything back, then half-close.
                while let Some(chunk) = stream.recv().await.expect("recv") {
                    stream.send(chunk).await.expect("echo");
                }
                stream.finish().expect("finish");
            }));
        }
        for echo in echoes {
            echo.await.expect("echo task");
        }
        server
    });
    let mut clients = Vec::new();
    for i in 0..100u32 {
        let client = client.clone();
        clients.push(tokio::spawn(async move {
            let stream = client
                .open_stream(headers("n", &i.to_string()), false)
                .expect("open");
            stream.wait_reply().await.expect("reply");
            let data = pattern(i as u8, 1000 + 997 * i as usize);
            let (mut send, mut recv) = stream.into_split();
            let writer = tokio::spawn({
                let data = data.clone();
                async move {
                    for piece in data.chunks(1500) {
                        send.send(Bytes::copy_from_slice(piece))
                            .await
                            .expect("send");
                    }
                    send.finish().expect("finish");
                    send
                }
            });
            let mut echoed = Vec::new();
            recv.read_to_end(&mut echoed).await.expect("read");
            let _send = writer.await.expect("writer");
            assert_eq!(echoed, data, "stream {i}");
        }));
    }
    for task in clients {
        within("a client stream", task).await.expect("client task");
    }
    let _server = within("the server", server_task)
        .await
        .expect("server task");
}

#[tokio::test]
async fn stdin_half_closed_while_stdout_still_flows() {
    // kubectl `exec -i … cat`: stdin ends with FIN, stdout keeps coming afterwards.
    let (client, server) = pair();
    let mut stdin = client
        .open_stream(headers("streamtype", "stdin"), false)
        .expect("open");
    let mut stdout = client
        .open_stream(headers("streamtype", "stdout"), false)
        .expect("open");
    let mut server_stdin = accept_one(&server, "").await;
    let mut server_stdout = accept_one(&server, "").await;
    stdin.wait_reply().await.expect("reply");
    stdout.wait_reply().await.expect("reply");

    stdin.send(pattern(1, 50_000)).await.expect("send");
    stdin.finish().expect("half-close stdin");
    let input = read_all(&mut server_stdin).await;
    assert_eq!(input, pattern(1, 50_000));
    // After stdin's FIN, the server still writes stdout and the client still reads it.
    server_stdout.send(Bytes::from(input)).await.expect("send");
    server_stdout.finish().expect("finish");
    assert_eq!(read_all(&mut stdout).await, pattern(1, 50_000));
    // stdin is half-closed on our side only: the server may still write on it.
    server_stdin
        .send(Bytes::from_static(b"late but legal"))
        .await
        .expect("send");
    server_stdin.finish().expect("finish");
    assert_eq!(read_all(&mut stdin).await, b"late but legal");
}

#[tokio::test]
async fn server_half_closes_first_and_client_keeps_sending() {
    let (client, server) = pair();
    let mut opened = client.open_stream(headers("a", "b"), false).expect("open");
    let incoming = within("a stream", server.accept()).await.expect("a stream");
    let mut accepted = incoming
        .reply(HeaderBlock::new(), true)
        .expect("reply with FIN");
    within("reply", opened.wait_reply()).await.expect("reply");
    assert_eq!(within("FIN", opened.recv()).await.expect("ok"), None);
    opened
        .send(pattern(3, 10_000))
        .await
        .expect("send after peer FIN");
    opened.finish().expect("finish");
    assert_eq!(read_all(&mut accepted).await, pattern(3, 10_000));
    assert!(matches!(
        accepted.send(Bytes::from_static(b"x")).await,
        Err(Error::AlreadyFinished { .. })
    ));
}

use jitgate_spdy::HeaderBlock;

#[tokio::test]
async fn data_before_a_reset_is_delivered_then_the_reset() {
    // kube-apiserver's way to end exec: the last DATA, then RST_STREAM(CANCEL).
    let (client, server) = pair();
    let mut opened = client.open_stream(headers("a", "b"), false).expect("open");
    let mut accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    accepted.send(pattern(9, 200_000)).await.expect("send");
    accepted.reset(RstStatus::CANCEL);
    let mut got = Vec::new();
    let err = loop {
        match within("data", opened.recv()).await {
            Ok(Some(chunk)) => got.extend_from_slice(&chunk),
            Ok(None) => panic!("a reset is not a FIN"),
            Err(err) => break err,
        }
    };
    assert_eq!(
        got,
        pattern(9, 200_000),
        "all data sent before the reset arrives"
    );
    assert!(
        matches!(
            err,
            Error::StreamReset {
                status: RstStatus::CANCEL,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_reset_by_peer());
    assert!(matches!(
        accepted.send(Bytes::from_static(b"x")).await,
        Err(Error::StreamResetLocally { .. })
    ));
    assert!(matches!(
        opened.send(Bytes::from_static(b"x")).await,
        Err(Error::StreamReset { .. })
    ));
}

#[tokio::test]
async fn async_read_ends_at_a_reset_like_spdystream() {
    let (client, server) = pair();
    let opened = client.open_stream(headers("a", "b"), false).expect("open");
    let mut accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    accepted
        .send(Bytes::from_static(b"status"))
        .await
        .expect("send");
    accepted.reset(RstStatus::CANCEL);
    let (_send, mut recv) = opened.into_split();
    let mut text = String::new();
    within("EOF", recv.read_to_string(&mut text))
        .await
        .expect("EOF, not an error");
    assert_eq!(text, "status");
    assert_eq!(recv.reset_by_peer(), Some(RstStatus::CANCEL));
    assert!(!recv.is_finished_by_peer());
}

#[tokio::test]
async fn refused_and_dropped_incoming_streams_are_resets() {
    let (client, server) = pair();
    let first = client.open_stream(headers("a", "1"), false).expect("open");
    let second = client.open_stream(headers("a", "2"), false).expect("open");
    let incoming = within("a stream", server.accept()).await.expect("a stream");
    incoming.refuse(RstStatus::REFUSED_STREAM);
    let err = within("refusal", first.wait_reply())
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            Error::StreamReset {
                status: RstStatus::REFUSED_STREAM,
                ..
            }
        ),
        "{err}"
    );
    drop(within("a stream", server.accept()).await.expect("a stream"));
    let err = within("refusal", second.wait_reply())
        .await
        .expect_err("refused");
    assert_eq!(err.reset_status(), Some(RstStatus::REFUSED_STREAM), "{err}");
}

#[tokio::test]
async fn dropping_both_halves_cancels_the_stream() {
    let (client, server) = pair();
    let opened = client.open_stream(headers("a", "b"), false).expect("open");
    let mut accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    drop(opened);
    let err = within("the reset", accepted.recv())
        .await
        .expect_err("reset");
    assert_eq!(err.reset_status(), Some(RstStatus::CANCEL), "{err}");
    within("tables to empty", async {
        while client.open_streams() + server.open_streams() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn dropping_only_the_send_half_keeps_reading() {
    // client-go never half-closes stdout; the gateway may drop the send half it does not need.
    let (client, server) = pair();
    let opened = client
        .open_stream(headers("streamtype", "stdout"), false)
        .expect("open");
    let mut accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    let (send, mut recv) = opened.into_split();
    drop(send);
    accepted
        .send(Bytes::from_static(b"still here"))
        .await
        .expect("send");
    accepted.finish().expect("finish");
    let mut text = Vec::new();
    recv.read_to_end(&mut text).await.expect("read");
    assert_eq!(text, b"still here");
}

#[tokio::test]
async fn goaway_refuses_new_streams_and_lets_open_ones_finish() {
    let (client, server) = pair();
    let mut opened = client.open_stream(headers("a", "b"), false).expect("open");
    let mut accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    server.close();
    assert!(server.is_closing());
    assert!(matches!(
        server.open_stream(headers("a", "b"), false),
        Err(Error::GoingAway)
    ));
    within("GOAWAY to arrive", async {
        while !client.is_closing() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(matches!(
        client.open_stream(headers("a", "b"), false),
        Err(Error::GoingAway)
    ));
    // The open stream still works both ways.
    opened.send(pattern(4, 70_000)).await.expect("send");
    opened.finish().expect("finish");
    assert_eq!(read_all(&mut accepted).await, pattern(4, 70_000));
    accepted
        .send(Bytes::from_static(b"bye"))
        .await
        .expect("send");
    assert!(!server.is_closed(), "a stream is still open");
    accepted.finish().expect("finish");
    assert_eq!(read_all(&mut opened).await, b"bye");
    within("the server to close", server.closed())
        .await
        .expect("clean close");
    within("the client to close", client.closed())
        .await
        .expect("clean close");
    assert!(server.accept().await.is_none());
}

#[tokio::test]
async fn shutdown_resets_every_stream() {
    let (client, server) = pair();
    let opened = client.open_stream(headers("a", "b"), false).expect("open");
    let mut accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    let (_send, mut recv) = opened.into_split();
    client.shutdown();
    let err = within("the reset", accepted.recv())
        .await
        .expect_err("reset");
    assert_eq!(err.reset_status(), Some(RstStatus::CANCEL), "{err}");
    assert!(matches!(
        within("local end", recv.recv()).await,
        Err(Error::ConnectionShutDown { .. })
    ));
    within("client closed", client.closed())
        .await
        .expect("shutdown is not a failure");
    within("server closed", server.closed())
        .await
        .expect("peer closed cleanly");
    assert!(matches!(
        client.open_stream(headers("a", "b"), false),
        Err(Error::GoingAway)
    ));
}

#[tokio::test]
async fn pings_are_answered_both_ways() {
    let (client, server) = pair();
    let rtt = within("a ping", client.ping()).await.expect("echo");
    assert!(rtt < PATIENCE);
    within("a ping", server.ping()).await.expect("echo");
    within("a second ping", client.ping()).await.expect("echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_bounds_memory_and_stalls_the_sender() {
    let config = ConnectionConfig {
        max_stream_buffer: 64 * 1024,
        max_queued_send_bytes: 128 * 1024,
        max_send_frame_len: 16 * 1024,
        ..ConnectionConfig::default()
    };
    let (client, server) = pair_with(config.clone(), config.clone());
    let opened = client.open_stream(headers("a", "b"), false).expect("open");
    let mut accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    let total = 8 * 1024 * 1024;
    let data = pattern(5, total);
    let (mut send, _recv) = opened.into_split();
    let sender = tokio::spawn({
        let data = data.clone();
        async move {
            send.send(data).await.expect("send");
            send.finish().expect("finish");
            send
        }
    });
    // Nobody reads: the sender must stall with the receive buffer at its limit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !sender.is_finished(),
        "8 MiB cannot fit in the bounded queues"
    );
    let buffered = accepted.recv_half().buffered();
    assert!(
        buffered <= config.max_stream_buffer + config.max_send_frame_len,
        "{buffered} bytes buffered"
    );
    assert!(
        buffered >= config.max_stream_buffer,
        "{buffered} bytes buffered"
    );
    // Reading drains it all, in order.
    let got = read_all(&mut accepted).await;
    assert_eq!(got.len(), total);
    assert!(got == data, "data arrives complete and in order");
    within("the sender", sender).await.expect("sender task");
}

#[tokio::test]
async fn over_the_stream_limit_is_refused() {
    let server_config = ConnectionConfig {
        max_concurrent_streams: 2,
        ..ConnectionConfig::default()
    };
    let (client, server) = pair_with(ConnectionConfig::default(), server_config);
    let first = client.open_stream(headers("n", "1"), false).expect("open");
    let second = client.open_stream(headers("n", "2"), false).expect("open");
    let third = client.open_stream(headers("n", "3"), false).expect("open");
    let err = within("refusal", third.wait_reply())
        .await
        .expect_err("refused");
    assert_eq!(err.reset_status(), Some(RstStatus::REFUSED_STREAM), "{err}");
    let _a = accept_one(&server, "").await;
    let _b = accept_one(&server, "").await;
    first.wait_reply().await.expect("reply");
    second.wait_reply().await.expect("reply");
    assert_eq!(server.open_streams(), 2);

    let local_limit = ConnectionConfig {
        max_concurrent_streams: 1,
        ..ConnectionConfig::default()
    };
    let (client, _server) = pair_with(local_limit, ConnectionConfig::default());
    let _open = client.open_stream(headers("n", "1"), false).expect("open");
    assert!(matches!(
        client.open_stream(headers("n", "2"), false),
        Err(Error::TooManyStreams { max: 1 })
    ));
}

#[tokio::test]
async fn oversized_headers_are_refused_before_anything_is_sent() {
    let (client, _server) = pair();
    let mut big = HeaderBlock::new();
    for i in 0..50 {
        big.insert(&format!("h{i}"), vec![b'x'; 4000])
            .expect("valid");
    }
    assert!(matches!(
        client.open_stream(big, false),
        Err(Error::HeadersTooLarge { .. })
    ));
    // The connection is unharmed.
    let ok = client.open_stream(headers("a", "b"), false).expect("open");
    assert_eq!(ok.id().get(), 1, "the refused open used no id");
}

#[tokio::test]
async fn peer_closing_the_socket_ends_open_streams() {
    let (client, server) = pair();
    let opened = client.open_stream(headers("a", "b"), false).expect("open");
    let accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    drop(accepted);
    server.shutdown();
    drop(server);
    let (_send, mut recv) = opened.into_split();
    let err = within("the end", recv.recv()).await.expect_err("ended");
    assert!(
        matches!(
            err,
            Error::StreamReset { .. } | Error::ConnectionClosed { .. }
        ),
        "{err}"
    );
    within("client closed", client.closed())
        .await
        .expect("peer close is not a failure");
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let config = ConnectionConfig {
        idle_timeout: Some(Duration::from_millis(200)),
        ..ConnectionConfig::default()
    };
    let (client, server) = pair_with(config, ConnectionConfig::default());
    let opened = client.open_stream(headers("a", "b"), false).expect("open");
    let mut accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    let err = within("the idle timeout", client.closed())
        .await
        .expect_err("idle is a failure");
    let Error::ConnectionFailed(cause) = &err else {
        panic!("{err}");
    };
    assert!(matches!(**cause, Error::IdleTimeout { .. }), "{cause}");
    let err = within("the reset", accepted.recv())
        .await
        .expect_err("reset");
    assert_eq!(err.reset_status(), Some(RstStatus::CANCEL), "{err}");
}

#[tokio::test]
async fn streams_work_as_async_read_and_write() {
    let (client, server) = pair();
    let mut opened = client.open_stream(headers("a", "b"), false).expect("open");
    let mut accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    let data = pattern(11, 300_000);
    let echo = tokio::spawn(async move {
        let (mut recv_half, mut send_half) = tokio::io::split(&mut accepted);
        tokio::io::copy(&mut recv_half, &mut send_half)
            .await
            .expect("copy");
        send_half.shutdown().await.expect("finish");
    });
    let (mut recv, mut send) = tokio::io::split(&mut opened);
    let write = async {
        send.write_all(&data).await.expect("write");
        send.shutdown().await.expect("shutdown");
    };
    let mut got = Vec::new();
    let read = recv.read_to_end(&mut got);
    let ((), read) = within("the echo", async { tokio::join!(write, read) }).await;
    read.expect("read");
    assert!(got == data, "echoed intact");
    within("echo task", echo).await.expect("echo");
}

#[tokio::test]
async fn window_updates_are_accounted() {
    let always = ConnectionConfig {
        window_updates: WindowUpdates::Always,
        ..ConnectionConfig::default()
    };
    let (client, server) = pair_with(ConnectionConfig::default(), always);
    let mut opened = client.open_stream(headers("a", "b"), false).expect("open");
    let mut accepted = accept_one(&server, "").await;
    opened.wait_reply().await.expect("reply");
    // Send more than the 64 KiB initial window: nothing waits for it.
    opened
        .send(pattern(2, 200_000))
        .await
        .expect("send past the window");
    assert!(opened.send_half().send_window() < 0);
    let got = read_all_exact(&mut accepted, 200_000).await;
    assert_eq!(got, pattern(2, 200_000));
    // The server credits what it read; the client's window comes back up.
    within("window credit", async {
        while opened.send_half().send_window() < 0 || client.send_window() < 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

async fn read_all_exact(stream: &mut Stream, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < len {
        let chunk = within("data", stream.recv())
            .await
            .expect("ok")
            .expect("data");
        out.extend_from_slice(&chunk);
    }
    out
}

#[test]
fn a_connection_needs_a_runtime() {
    let (a, _b) = tokio_duplex_outside_runtime();
    assert!(matches!(Connection::client(a), Err(Error::NoRuntime)));
}

fn tokio_duplex_outside_runtime() -> (tokio::io::DuplexStream, tokio::io::DuplexStream) {
    tokio::io::duplex(64)
}
