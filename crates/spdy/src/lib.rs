//! SPDY/3.1 sessions over tokio, as kubectl, kube-apiserver and the kubelet speak them through
//! moby/spdystream, on top of the I/O-free codec in `jitgate_wire::spdy`.
//!
//! The gateway terminates kubectl's exec/attach/port-forward streams and re-originates them
//! upstream; [`Connection`] plays either side of that:
//! - [`Connection::server`] towards kubectl (≤ 1.29, or with
//!   `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`) after answering `Upgrade: SPDY/3.1`;
//! - [`Connection::client`] towards kube-apiserver after sending one;
//! - either over a [`WebSocketTunnel`], for SPDY tunnelled in WebSocket binary messages
//!   (`SPDY/3.1+portforward.k8s.io`, kubectl ≥ 1.31 port-forward).
//!
//! | module | implements |
//! | --- | --- |
//! | [`Connection`] | one session: a reader and a writer task, GOAWAY, PING (SPDY/3.1 §2.1, §2.6.5, §2.6.6) |
//! | session state (internal) | stream ids and states, what each frame does (§2.3, §2.6), where spdystream differs |
//! | [`Stream`], [`SendStream`], [`RecvStream`], [`IncomingStream`] | open, reply, refuse, data, half-close, reset (§2.3.1–§2.3.7, §2.6.1–§2.6.3) |
//! | [`WebSocketTunnel`] | SPDY in WebSocket binary messages, a byte stream (client-go `TunnelingConnection`) |
//!
//! ```no_run
//! # async fn example(io: tokio::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
//! use bytes::Bytes;
//! use jitgate_wire::remotecommand::StreamType;
//! use jitgate_spdy::Connection;
//!
//! // After `101 Switching Protocols` with `X-Stream-Protocol-Version: v4.channel.k8s.io`:
//! let connection = Connection::client(io)?;
//! let error = connection.open_stream(StreamType::Error.to_headers(), false)?;
//! error.wait_reply().await?;
//! let mut stdin = connection.open_stream(StreamType::Stdin.to_headers(), false)?;
//! stdin.wait_reply().await?;
//! let mut stdout = connection.open_stream(StreamType::Stdout.to_headers(), false)?;
//! stdout.wait_reply().await?;
//! stdin.send(Bytes::from_static(b"hello\n")).await?;
//! stdin.finish()?; // half-close: kubectl's way to end stdin
//! while let Some(chunk) = stdout.recv().await.or_else(|e| if e.is_reset_by_peer() { Ok(None) } else { Err(e) })? {
//!     print!("{}", String::from_utf8_lossy(&chunk));
//! }
//! connection.close();
//! connection.closed().await?;
//! # Ok(()) }
//! ```
//!
//! Flow control: spdystream neither sends WINDOW_UPDATE nor honours it (see
//! `jitgate_wire::spdy::flow`), so sending never waits for the peer's window; windows are
//! accounted, and WINDOW_UPDATE is sent as the application consumes data to peers that do flow
//! control themselves ([`WindowUpdates`] says why spdystream gets none). Backpressure comes
//! from bounded queues instead: a stream's receive buffer ([`ConnectionConfig::max_stream_buffer`])
//! — when it is full the reader stops reading the socket, which stalls every stream of the
//! connection (head-of-line blocking: safe, and what spdystream does too) — and the send queue
//! ([`ConnectionConfig::max_queued_send_bytes`]).

#![forbid(unsafe_code)]

mod config;
mod connection;
mod error;
mod outbox;
mod session;
mod stream;
mod tasks;
mod websocket;

pub use config::{ConnectionConfig, Role, WindowUpdates};
pub use connection::Connection;
pub use error::{Error, Result};
pub use stream::{IncomingStream, RecvStream, SendStream, Stream};
pub use websocket::{MAX_TUNNEL_MESSAGE_LEN, WebSocketTunnel, websocket_config};

/// The SPDY types applications need, re-exported from `jitgate_wire::spdy`.
pub use jitgate_wire::spdy::{HeaderBlock, RstStatus, StreamId};
