//! SPDY tunnelled in WebSocket binary messages (`SPDY/3.1+portforward.k8s.io`): what kubectl ≥
//! 1.31 sends for port-forward and kube-apiserver accepts, as a byte stream a [`Connection`]
//! runs over unchanged.
//!
//! The tunnel is a byte stream, not one frame per message: client-go's `TunnelingConnection`
//! (`k8s.io/client-go/tools/portforward/tunneling_connection.go`) writes every `Write` call as
//! one binary message — spdystream writes a frame in several calls — and reads messages back to
//! back as one stream of bytes; a text message is an error; a close message ends the stream.
//! [`WebSocketTunnel`] does the same: each write is one binary message (the connection's writer
//! coalesces frames, so messages are large), reads concatenate binary messages, WebSocket pings
//! are answered by tungstenite.
//!
//! [`Connection`]: crate::Connection

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures_util::{Sink, Stream};
use jitgate_wire::spdy::MAX_FRAME_LEN;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role as WsRole, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::config::Role;

/// The largest WebSocket message (and frame) accepted: one SPDY frame of the largest size the
/// wire allows, plus slack. Peers write much smaller messages (a SPDY frame header, a payload of
/// 32 KiB).
pub const MAX_TUNNEL_MESSAGE_LEN: usize = MAX_FRAME_LEN as usize + 8 + 64 * 1024;

/// A WebSocket connection carrying SPDY in binary messages, as [`AsyncRead`] + [`AsyncWrite`].
#[derive(Debug)]
pub struct WebSocketTunnel<S> {
    ws: WebSocketStream<S>,
    /// The rest of the message being read.
    pending: Bytes,
    read_done: bool,
}

impl<S> WebSocketTunnel<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    /// Wraps an established WebSocket connection.
    pub fn new(ws: WebSocketStream<S>) -> WebSocketTunnel<S> {
        WebSocketTunnel {
            ws,
            pending: Bytes::new(),
            read_done: false,
        }
    }

    /// Wraps a connection whose WebSocket handshake (HTTP/1.1 `101 Switching Protocols` with
    /// `Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io`) is already done, e.g. a hyper
    /// `Upgraded`. `role` is the WebSocket role: clients mask what they send.
    pub async fn from_upgraded(io: S, role: Role) -> WebSocketTunnel<S> {
        let role = match role {
            Role::Client => WsRole::Client,
            Role::Server => WsRole::Server,
        };
        let ws = WebSocketStream::from_raw_socket(io, role, Some(websocket_config())).await;
        WebSocketTunnel::new(ws)
    }

    /// The WebSocket connection back.
    pub fn into_inner(self) -> WebSocketStream<S> {
        self.ws
    }
}

/// The WebSocket limits a tunnel uses: messages and frames up to [`MAX_TUNNEL_MESSAGE_LEN`].
pub fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_TUNNEL_MESSAGE_LEN))
        .max_frame_size(Some(MAX_TUNNEL_MESSAGE_LEN))
}

impl<S> AsyncRead for WebSocketTunnel<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let len = buf.remaining().min(self.pending.len());
                buf.put_slice(self.pending.get(..len).unwrap_or_default());
                self.pending.advance(len);
                return Poll::Ready(Ok(()));
            }
            if self.read_done || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => self.pending = data,
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                None | Some(Ok(Message::Close(_))) => {
                    self.read_done = true;
                }
                Some(Ok(Message::Text(_))) => {
                    self.read_done = true;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "the peer sent a text message in a SPDY-over-WebSocket tunnel, which carries only binary messages",
                    )));
                }
                Some(Err(err)) => {
                    self.read_done = true;
                    return Poll::Ready(Err(into_io(err)));
                }
            }
        }
    }
}

impl<S> AsyncWrite for WebSocketTunnel<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(Pin::new(&mut self.ws).poll_ready(cx)).map_err(into_io)?;
        let len = buf.len().min(MAX_TUNNEL_MESSAGE_LEN);
        let message = Message::Binary(Bytes::copy_from_slice(buf.get(..len).unwrap_or(buf)));
        Pin::new(&mut self.ws)
            .start_send(message)
            .map_err(into_io)?;
        Poll::Ready(Ok(len))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_flush(cx).map_err(into_io)
    }

    /// Sends a WebSocket close message (normal closure) and flushes it.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.ws).poll_close(cx).map_err(into_io)
    }
}

fn into_io(err: WsError) -> io::Error {
    match err {
        WsError::Io(err) => err,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            io::Error::new(io::ErrorKind::BrokenPipe, err)
        }
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}
