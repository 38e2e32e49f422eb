//! Throughput of one SPDY stream between a client and a server `Connection` over an in-memory
//! duplex (256 MiB per iteration), beside the same bytes copied over the bare duplex, and over
//! the WebSocket tunnel.
//!
//! `cargo bench -p jitgate-spdy --bench throughput`; criterion prints MiB/s (`thrpt`).

// Test code: a panic is a failed run, with the message saying what failed.
#![allow(clippy::expect_used, clippy::unwrap_used)]
// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jitgate_spdy::{Connection, ConnectionConfig, HeaderBlock, Role, WebSocketTunnel};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};

const TOTAL: usize = 256 * 1024 * 1024;
/// What the application hands `send` at a time (Go's `io.Copy` buffer is 32 KiB).
const WRITE: usize = 32 * 1024;
const DUPLEX_BUFFER: usize = 1024 * 1024;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Pushes `TOTAL` bytes from a client stream to a server stream over `a` ↔ `b`.
async fn spdy_once<A, B>(a: A, b: B) -> Duration
where
    A: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    B: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let client = Connection::new(a, Role::Client, ConnectionConfig::default()).expect("client");
    let server = Connection::new(b, Role::Server, ConnectionConfig::default()).expect("server");
    let payload = Bytes::from(vec![0x5a; WRITE]);
    let start = Instant::now();
    let mut stream = client.open_stream(HeaderBlock::new(), false).expect("open");
    let reader = tokio::spawn(async move {
        let incoming = server.accept().await.expect("a stream");
        let mut stream = incoming.reply(HeaderBlock::new(), false).expect("reply");
        let mut received = 0;
        while let Some(chunk) = stream.recv().await.expect("recv") {
            received += chunk.len();
        }
        assert_eq!(received, TOTAL);
        server
    });
    stream.wait_reply().await.expect("reply");
    for _ in 0..TOTAL / WRITE {
        stream.send(payload.clone()).await.expect("send");
    }
    stream.finish().expect("finish");
    let _server = reader.await.expect("reader");
    start.elapsed()
}

/// The same bytes over the bare duplex.
async fn direct_once(mut a: DuplexStream, mut b: DuplexStream) -> Duration {
    let payload = vec![0x5a; WRITE];
    let start = Instant::now();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0; 64 * 1024];
        let mut received = 0;
        loop {
            let n = b.read(&mut buf).await.expect("read");
            if n == 0 {
                break;
            }
            received += n;
        }
        assert_eq!(received, TOTAL);
    });
    for _ in 0..TOTAL / WRITE {
        a.write_all(&payload).await.expect("write");
    }
    a.shutdown().await.expect("shutdown");
    reader.await.expect("reader");
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("256 MiB one stream");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(TOTAL as u64));
    let rt = runtime();
    group.bench_function("direct duplex", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let (x, y) = tokio::io::duplex(DUPLEX_BUFFER);
                    rt.block_on(direct_once(x, y))
                })
                .sum()
        });
    });
    group.bench_function("spdy over duplex", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let (x, y) = tokio::io::duplex(DUPLEX_BUFFER);
                    rt.block_on(spdy_once(x, y))
                })
                .sum()
        });
    });
    group.bench_function("spdy over websocket over duplex", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let (x, y) = tokio::io::duplex(DUPLEX_BUFFER);
                    rt.block_on(async {
                        let (x, y) = tokio::join!(
                            WebSocketTunnel::from_upgraded(x, Role::Client),
                            WebSocketTunnel::from_upgraded(y, Role::Server)
                        );
                        spdy_once(x, y).await
                    })
                })
                .sum()
        });
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
