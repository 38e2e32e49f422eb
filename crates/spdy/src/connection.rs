//! [`Connection`]: one SPDY/3.1 session over any byte stream (a TLS stream, an upgraded HTTP/1.1
//! connection, a [`WebSocketTunnel`](crate::WebSocketTunnel)), with a reader and a writer task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jitgate_wire::spdy::{FrameEncoder, HeaderBlock};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Mutex, mpsc, watch};

use crate::config::{ConnectionConfig, Role};
use crate::error::{Error, Result};
use crate::session::{SessionEnd, Shared};
use crate::stream::{IncomingStream, Stream};
use crate::tasks;

/// A SPDY/3.1 session.
///
/// Create it with [`Connection::client`] or [`Connection::server`] inside a tokio runtime, right
/// after the HTTP/1.1 upgrade; it spawns a reader task (owning the socket's read half and the
/// peer's header decompression context) and a writer task (the write half and our compression
/// context, coalescing queued frames into few writes).
///
/// Ending it:
/// - [`Connection::close`] (also done on drop): GOAWAY(OK); no new streams either way, open
///   streams carry on; once the last one ends, the socket's write side is shut down.
/// - [`Connection::shutdown`]: now; every open stream is reset (CANCEL), GOAWAY is sent, the
///   socket closed.
/// - The peer's GOAWAY: our streams it did not process fail with
///   [`Error::StreamNotProcessed`]; the rest carry on; once none is left the socket is closed
///   (as spdystream does).
/// - A protocol error from the peer: GOAWAY(PROTOCOL_ERROR), every stream fails with
///   [`Error::ConnectionFailed`].
///
/// [`Connection::closed`] waits for the end either way.
#[derive(Debug)]
pub struct Connection {
    shared: Arc<Shared>,
    incoming: Mutex<mpsc::UnboundedReceiver<IncomingStream>>,
    done: watch::Receiver<bool>,
}

impl Connection {
    /// The client side (the one that sent the upgrade request), with default settings.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub fn client<T>(io: T) -> Result<Connection>
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Connection::new(io, Role::Client, ConnectionConfig::default())
    }

    /// The server side (the one that answered `101 Switching Protocols`), with default
    /// settings.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a tokio runtime.
    pub fn server<T>(io: T) -> Result<Connection>
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        Connection::new(io, Role::Server, ConnectionConfig::default())
    }

    /// A connection playing `role` with `config`.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a tokio runtime; [`Error::Encode`] if zlib refuses the SPDY
    /// dictionary (not expected).
    pub fn new<T>(io: T, role: Role, config: ConnectionConfig) -> Result<Connection>
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let config = config.sanitized();
        let encoder = FrameEncoder::with_limits(config.limits).map_err(Error::Encode)?;
        let idle_timeout = config.idle_timeout;
        let (accept_tx, accept_rx) = mpsc::unbounded_channel();
        let shared = Shared::new(role, config, accept_tx);
        shared.touch();
        let (read_half, write_half) = tokio::io::split(io);
        let reader = runtime.spawn(tasks::run_reader(shared.clone(), read_half));
        let writer = runtime.spawn(tasks::run_writer(shared.clone(), write_half, encoder));
        if let Some(timeout) = idle_timeout {
            runtime.spawn(tasks::watch_idle(shared.clone(), timeout));
        }
        let (done_tx, done) = watch::channel(false);
        runtime.spawn(async move {
            // A task that panicked has ended too; its JoinError says nothing more to act on.
            let _ = reader.await;
            let _ = writer.await;
            let _ = done_tx.send(true);
        });
        Ok(Connection {
            shared,
            incoming: Mutex::new(accept_rx),
            done,
        })
    }

    /// Which side this is.
    pub fn role(&self) -> Role {
        self.shared.role
    }

    /// The settings in force (after sanitising).
    pub fn config(&self) -> &ConnectionConfig {
        &self.shared.config
    }

    /// Opens a stream: queues a SYN_STREAM with `headers` (and FIN if `fin`: we will send no
    /// data) and returns at once. Call [`Stream::wait_reply`] to wait for the peer's
    /// SYN_REPLY, as Kubernetes clients do before using a stream.
    ///
    /// # Errors
    /// [`Error::GoingAway`] once GOAWAY was sent or received, [`Error::TooManyStreams`],
    /// [`Error::StreamIdsExhausted`], [`Error::HeadersTooLarge`], or the connection's failure.
    pub fn open_stream(&self, headers: HeaderBlock, fin: bool) -> Result<Stream> {
        let stream = self.shared.open_stream(headers.clone(), fin)?;
        Ok(Stream::new(self.shared.clone(), stream, headers))
    }

    /// The next stream the peer opens, or `None` once the connection is closing or closed.
    /// Answer each with [`IncomingStream::reply`] or [`IncomingStream::refuse`].
    ///
    /// Streams beyond `ConnectionConfig::max_concurrent_streams` are refused with
    /// RST_STREAM(REFUSED_STREAM) without reaching here.
    pub async fn accept(&self) -> Option<IncomingStream> {
        let mut incoming = self.incoming.lock().await;
        loop {
            let stream = incoming.recv().await?;
            if self.shared.ended().is_none() {
                return Some(stream);
            }
            // The session ended while it waited: dropping it is all there is to do.
        }
    }

    /// Sends a PING and waits for its echo; returns the round-trip time.
    ///
    /// # Errors
    /// The connection ended before the echo came back.
    pub async fn ping(&self) -> Result<Duration> {
        let start = Instant::now();
        let echo = self.shared.start_ping()?;
        match echo.await {
            Ok(()) => Ok(start.elapsed()),
            Err(_) => Err(self.end_error()),
        }
    }

    /// Starts a graceful close: sends GOAWAY(OK) naming the last stream the peer opened, refuses
    /// new streams, and ends the connection once every open stream has ended. Does nothing if
    /// already closing.
    pub fn close(&self) {
        self.shared.close();
    }

    /// Ends the connection now: resets every open stream with RST_STREAM(CANCEL), sends GOAWAY
    /// and closes the socket once those are written. Streams report
    /// [`Error::ConnectionShutDown`].
    pub fn shutdown(&self) {
        self.shared.end_session(
            SessionEnd::ShutDown,
            true,
            Some(jitgate_wire::spdy::GoAwayStatus::OK),
        );
    }

    /// Waits until the connection has ended and both its tasks have stopped.
    ///
    /// # Errors
    /// [`Error::ConnectionFailed`] with the cause if it ended by a failure (socket error,
    /// protocol error, idle timeout); `Ok` for a graceful close, a local shutdown, or the peer
    /// closing the socket.
    pub async fn closed(&self) -> Result<()> {
        let mut done = self.done.clone();
        // An error means the watcher task is gone, which only happens once it has finished.
        let _ = done.wait_for(|done| *done).await;
        match self.shared.ended() {
            Some(SessionEnd::Failed(cause)) => Err(Error::ConnectionFailed(cause)),
            _ => Ok(()),
        }
    }

    /// Whether the connection is closing or closed: GOAWAY was sent or received, or it ended.
    pub fn is_closing(&self) -> bool {
        self.shared.is_going_away()
    }

    /// Whether the connection has ended (its tasks may still be flushing the last frames).
    pub fn is_closed(&self) -> bool {
        self.shared.ended().is_some()
    }

    /// The session send window as the peer's WINDOW_UPDATEs define it (SPDY/3.1 §2.6.8).
    /// Accounting only: it goes negative when we send past it, which spdystream peers expect.
    pub fn send_window(&self) -> i64 {
        self.shared.session_send_window()
    }

    /// How many streams are open (either side's), counting streams not yet accepted.
    pub fn open_streams(&self) -> usize {
        self.shared.open_streams()
    }

    fn end_error(&self) -> Error {
        match self.shared.ended() {
            Some(SessionEnd::Failed(cause)) => Error::ConnectionFailed(cause),
            _ => Error::GoingAway,
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.close();
    }
}
