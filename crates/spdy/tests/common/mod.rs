//! Shared pieces of the connection tests: a connected pair over `tokio::io::duplex`, and a raw
//! peer that writes and reads frames itself (with jitgate-wire's codec) to send what a
//! well-behaved `Connection` never would.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jitgate_spdy::{Connection, ConnectionConfig, Role};
use jitgate_wire::spdy::{Frame, FrameDecoder, FrameEncoder, HeaderBlock};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// How long a test waits for anything before it fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A client and a server connected back to back.
pub fn pair() -> (Connection, Connection) {
    pair_with(ConnectionConfig::default(), ConnectionConfig::default())
}

/// A client and a server with the given settings.
pub fn pair_with(client: ConnectionConfig, server: ConnectionConfig) -> (Connection, Connection) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    (
        Connection::new(a, Role::Client, client).expect("client"),
        Connection::new(b, Role::Server, server).expect("server"),
    )
}

/// Headers with one `name: value`.
pub fn headers(name: &str, value: &str) -> HeaderBlock {
    HeaderBlock::new()
        .with(name, value.to_owned())
        .expect("valid header")
}

/// `len` bytes of a pattern that depends on `seed`, so misrouted data shows.
pub fn pattern(seed: u8, len: usize) -> Bytes {
    (0..len)
        .map(|i| seed.wrapping_mul(31).wrapping_add((i % 251) as u8))
        .collect::<Vec<u8>>()
        .into()
}

/// Waits for `future` or fails the test.
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// The other end of a `Connection`, driven frame by frame.
pub struct RawPeer {
    io: DuplexStream,
    encoder: FrameEncoder,
    decoder: FrameDecoder,
    buf: BytesMut,
}

impl RawPeer {
    /// A `Connection` playing `role` against a raw peer.
    pub fn connect(role: Role, config: ConnectionConfig) -> (Connection, RawPeer) {
        let (a, b) = tokio::io::duplex(256 * 1024);
        let connection = Connection::new(a, role, config).expect("connection");
        (
            connection,
            RawPeer {
                io: b,
                encoder: FrameEncoder::new().expect("encoder"),
                decoder: FrameDecoder::new(),
                buf: BytesMut::new(),
            },
        )
    }

    /// Sends frames.
    pub async fn send(&mut self, frames: impl IntoIterator<Item = Frame>) {
        let mut wire = BytesMut::new();
        for frame in frames {
            self.encoder.encode(&frame, &mut wire).expect("encodes");
        }
        self.io.write_all(&wire).await.expect("write");
    }

    /// Sends raw bytes.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.expect("write");
    }

    /// The next frame, or `None` at end of stream.
    pub async fn recv(&mut self) -> Option<Frame> {
        within("a frame from the connection", async {
            loop {
                if let Some(frame) = self.decoder.decode(&mut self.buf).expect("valid frames") {
                    return Some(frame);
                }
                let n = self.io.read_buf(&mut self.buf).await.expect("read");
                if n == 0 {
                    return None;
                }
            }
        })
        .await
    }

    /// Frames until one matches `pick`, which is returned; fails at end of stream.
    pub async fn recv_until(&mut self, what: &str, pick: impl Fn(&Frame) -> bool) -> Frame {
        loop {
            match self.recv().await {
                Some(frame) if pick(&frame) => return frame,
                Some(_) => {}
                None => panic!("connection closed before {what}"),
            }
        }
    }

    /// Every frame until end of stream.
    pub async fn recv_to_end(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.recv().await {
            frames.push(frame);
        }
        frames
    }

    /// Closes the raw peer's side of the socket.
    pub async fn close(&mut self) {
        self.io.shutdown().await.expect("shutdown");
    }

    /// Gives the socket up entirely.
    pub fn into_io(self) -> DuplexStream {
        self.io
    }
}
