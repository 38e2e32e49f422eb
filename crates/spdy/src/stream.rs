//! The application's handles on SPDY streams: [`Stream`] (split into [`SendStream`] and
//! [`RecvStream`]) and [`IncomingStream`], a stream the peer opened that waits for an answer.
//!
//! Half-close works as moby/spdystream expects (SPDY/3.1 §2.3.6): [`SendStream::finish`] sends an
//! empty DATA frame with FIN and the stream stays readable until the peer's FIN or RST_STREAM —
//! kubectl closes stdin this way and goes on reading stdout.
//!
//! Dropping handles: dropping a [`SendStream`] sends nothing (the stream simply stays open in
//! that direction, as kubectl leaves stdout, stderr and error); dropping a [`RecvStream`]
//! discards what arrives from then on; dropping both before the stream has ended both ways
//! resets it with RST_STREAM(CANCEL). Dropping an [`IncomingStream`] without answering refuses
//! it with RST_STREAM(REFUSED_STREAM).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use jitgate_wire::spdy::{DataFrame, Frame, HeaderBlock, RstStatus, StreamId, SynReply};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::PollSemaphore;

use crate::error::{Error, Result};
use crate::session::{End, Reply, SendState, Shared, StreamShared, check_headers, lock};

/// A stream the peer opened (its SYN_STREAM), waiting for [`IncomingStream::reply`] or
/// [`IncomingStream::refuse`]. Dropping it refuses it (RST_STREAM(REFUSED_STREAM)).
///
/// DATA the peer sends before the reply is buffered (up to the stream buffer limit) and read
/// after it.
#[derive(Debug)]
pub struct IncomingStream {
    shared: Arc<Shared>,
    stream: Arc<StreamShared>,
    headers: HeaderBlock,
    fin: bool,
    unidirectional: bool,
    answered: bool,
}

impl IncomingStream {
    pub(crate) fn new(
        shared: Arc<Shared>,
        stream: Arc<StreamShared>,
        headers: HeaderBlock,
        fin: bool,
        unidirectional: bool,
    ) -> IncomingStream {
        IncomingStream {
            shared,
            stream,
            headers,
            fin,
            unidirectional,
            answered: false,
        }
    }

    /// The stream id (odd if a client opened it).
    pub fn id(&self) -> StreamId {
        self.stream.id
    }

    /// The headers of the SYN_STREAM (`streamtype`, `port`, `requestid` in Kubernetes).
    pub fn headers(&self) -> &HeaderBlock {
        &self.headers
    }

    /// Whether the SYN_STREAM carried FIN: the peer will send no data on this stream.
    pub fn is_fin(&self) -> bool {
        self.fin
    }

    /// Whether the SYN_STREAM carried FLAG_UNIDIRECTIONAL: we may not send on this stream.
    pub fn is_unidirectional(&self) -> bool {
        self.unidirectional
    }

    /// Accepts the stream with a SYN_REPLY carrying `headers` (Kubernetes sends none) and, with
    /// `fin`, half-closes our side at once.
    ///
    /// # Errors
    /// The peer reset the stream, or the connection ended, before the reply; or `headers` are
    /// over the limits.
    pub fn reply(mut self, headers: HeaderBlock, fin: bool) -> Result<Stream> {
        check_headers(&headers, &self.shared.config)?;
        self.answered = true;
        let id = self.stream.id;
        {
            let mut state = lock(&self.stream.state);
            match &state.send {
                SendState::AwaitingReply => {
                    state.send = if fin {
                        SendState::Ended(End::Fin)
                    } else {
                        SendState::Open
                    };
                    self.shared.push_frame(Frame::SynReply(SynReply {
                        stream_id: id,
                        fin,
                        headers,
                    }));
                }
                // Unidirectional streams get no reply (§2.6.1: the recipient sends nothing).
                SendState::NotWritable => {}
                SendState::Ended(end) => {
                    let err = end.error(id);
                    drop(state);
                    // Nothing will hold the stream any more.
                    self.shared.abandon(&self.stream);
                    return Err(err);
                }
                SendState::Open => {}
            }
        }
        if fin {
            self.shared.retire_if_done(&self.stream);
        }
        let headers = std::mem::take(&mut self.headers);
        Ok(Stream::new(
            self.shared.clone(),
            self.stream.clone(),
            headers,
        ))
    }

    /// Refuses the stream with RST_STREAM carrying `status` (REFUSED_STREAM: "not processed,
    /// safe to retry"; spdystream's `Refuse`).
    pub fn refuse(mut self, status: RstStatus) {
        self.answered = true;
        self.shared.reset_stream(&self.stream, status);
    }
}

impl Drop for IncomingStream {
    fn drop(&mut self) {
        if !self.answered {
            self.shared
                .reset_stream(&self.stream, RstStatus::REFUSED_STREAM);
        }
    }
}

/// One SPDY stream, readable and writable. Split it with [`Stream::into_split`] to read and
/// write from different tasks; it also implements [`AsyncRead`] and [`AsyncWrite`].
#[derive(Debug)]
pub struct Stream {
    headers: HeaderBlock,
    send: SendStream,
    recv: RecvStream,
}

impl Stream {
    pub(crate) fn new(
        shared: Arc<Shared>,
        stream: Arc<StreamShared>,
        headers: HeaderBlock,
    ) -> Stream {
        Stream {
            headers,
            send: SendStream {
                shared: shared.clone(),
                stream: stream.clone(),
                budget: None,
            },
            recv: RecvStream {
                shared,
                stream,
                current: Bytes::new(),
            },
        }
    }

    /// The stream id (odd if the client opened it).
    pub fn id(&self) -> StreamId {
        self.send.stream.id
    }

    /// The headers of the SYN_STREAM that opened the stream (ours if we opened it).
    pub fn headers(&self) -> &HeaderBlock {
        &self.headers
    }

    /// Waits for the peer's SYN_REPLY on a stream we opened, and returns its headers.
    /// spdystream-based clients (client-go) wait for it before using a stream.
    ///
    /// # Errors
    /// [`Error::StreamReset`] (REFUSED_STREAM if the peer refused it),
    /// [`Error::StreamNotProcessed`] after the peer's GOAWAY, connection errors, or
    /// [`Error::NotOpenedLocally`] for a stream the peer opened.
    pub async fn wait_reply(&self) -> Result<HeaderBlock> {
        self.send.wait_reply().await
    }

    /// Sends `data` (split into DATA frames of at most the configured size); see
    /// [`SendStream::send`].
    ///
    /// # Errors
    /// As [`SendStream::send`].
    pub async fn send(&mut self, data: Bytes) -> Result<()> {
        self.send.send(data).await
    }

    /// Half-closes our side (empty DATA with FIN); see [`SendStream::finish`].
    ///
    /// # Errors
    /// As [`SendStream::finish`].
    pub fn finish(&mut self) -> Result<()> {
        self.send.finish()
    }

    /// The next payload from the peer; see [`RecvStream::recv`].
    ///
    /// # Errors
    /// As [`RecvStream::recv`].
    pub async fn recv(&mut self) -> Result<Option<Bytes>> {
        self.recv.recv().await
    }

    /// Resets the stream with RST_STREAM carrying `status` (CANCEL is what Kubernetes sends).
    pub fn reset(&mut self, status: RstStatus) {
        self.send.reset(status);
    }

    /// The sending half.
    pub fn send_half(&mut self) -> &mut SendStream {
        &mut self.send
    }

    /// The receiving half.
    pub fn recv_half(&mut self) -> &mut RecvStream {
        &mut self.recv
    }

    /// Splits the stream into its two halves.
    pub fn into_split(self) -> (SendStream, RecvStream) {
        (self.send, self.recv)
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.recv).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.send).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.send).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.send).poll_shutdown(cx)
    }
}

/// The sending half of a stream.
///
/// Sending never waits for the peer's flow-control window (spdystream does not send
/// WINDOW_UPDATE, see `jitgate_wire::spdy::flow`), only for room in the connection's send queue
/// (`ConnectionConfig::max_queued_send_bytes`), which the writer task empties onto the socket.
#[derive(Debug)]
pub struct SendStream {
    shared: Arc<Shared>,
    stream: Arc<StreamShared>,
    budget: Option<PollSemaphore>,
}

impl SendStream {
    /// The stream id.
    pub fn id(&self) -> StreamId {
        self.stream.id
    }

    /// Waits for the SYN_REPLY of a stream we opened; see [`Stream::wait_reply`].
    ///
    /// # Errors
    /// As [`Stream::wait_reply`].
    pub async fn wait_reply(&self) -> Result<HeaderBlock> {
        let id = self.stream.id;
        loop {
            let notified = self.stream.replied.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match &lock(&self.stream.state).reply {
                Reply::Received(headers) => return Ok(headers.clone()),
                Reply::Failed(end) => return Err(end.error(id)),
                Reply::NotApplicable => return Err(Error::NotOpenedLocally { id }),
                Reply::Waiting => {}
            }
            notified.await;
        }
    }

    /// Sends `data` on the stream, in DATA frames of at most
    /// `ConnectionConfig::max_send_frame_len` bytes (split without copying). Returns once the
    /// frames are queued for the socket; waits while the connection's send queue is full.
    ///
    /// # Errors
    /// [`Error::AlreadyFinished`] after [`SendStream::finish`], [`Error::NotWritable`] on a
    /// unidirectional stream, [`Error::StreamReset`] / [`Error::StreamResetLocally`] after a
    /// reset, connection errors once the connection ended.
    pub async fn send(&mut self, mut data: Bytes) -> Result<()> {
        let max = self.shared.config.max_send_frame_len;
        while !data.is_empty() {
            self.check_open()?;
            let len = data.len().min(max);
            let permits = u32::try_from(len).unwrap_or(u32::MAX);
            let permit = self
                .shared
                .send_budget
                .clone()
                .acquire_many_owned(permits)
                .await
                .map_err(|_| self.ended_error())?;
            let chunk = data.split_to(len);
            self.push_data(chunk, false, Some(permit))?;
        }
        Ok(())
    }

    /// Half-closes our side of the stream: an empty DATA frame with FIN. The stream stays
    /// readable until the peer finishes or resets it.
    ///
    /// # Errors
    /// [`Error::AlreadyFinished`] if it was already finished; otherwise as [`SendStream::send`].
    pub fn finish(&mut self) -> Result<()> {
        self.push_data(Bytes::new(), true, None)
    }

    /// Resets the stream (both directions) with RST_STREAM carrying `status`. Data the peer
    /// already sent is discarded; further sends and receives fail with
    /// [`Error::StreamResetLocally`]. Does nothing if the stream has already ended both ways.
    pub fn reset(&mut self, status: RstStatus) {
        self.shared.reset_stream(&self.stream, status);
    }

    /// Our send window as the peer's WINDOW_UPDATEs define it. Accounting only: it goes
    /// negative when we send past it, which spdystream peers expect.
    pub fn send_window(&self) -> i64 {
        lock(&self.stream.state).send_window
    }

    /// Whether our side can still send (not finished, not reset, connection alive).
    pub fn is_open(&self) -> bool {
        matches!(lock(&self.stream.state).send, SendState::Open)
    }

    fn check_open(&self) -> Result<()> {
        let id = self.stream.id;
        match &lock(&self.stream.state).send {
            SendState::Open => Ok(()),
            SendState::NotWritable | SendState::AwaitingReply => Err(Error::NotWritable { id }),
            SendState::Ended(end) => Err(end.error(id)),
        }
    }

    fn ended_error(&self) -> Error {
        match self.check_open() {
            Err(err) => err,
            // The queue closed while the stream still looked open: the connection is ending.
            Ok(()) => match self.shared.ended() {
                Some(end) => end.stream_end().error(self.stream.id),
                None => Error::ConnectionShutDown { id: self.stream.id },
            },
        }
    }

    fn push_data(
        &self,
        data: Bytes,
        fin: bool,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<()> {
        let id = self.stream.id;
        {
            let mut state = lock(&self.stream.state);
            match &state.send {
                SendState::Open => {}
                SendState::NotWritable | SendState::AwaitingReply => {
                    return Err(Error::NotWritable { id });
                }
                SendState::Ended(end) => return Err(end.error(id)),
            }
            let len = data.len();
            state.send_window -= i64::try_from(len).unwrap_or(i64::MAX);
            if fin {
                state.send = SendState::Ended(End::Fin);
            }
            if let Some(permit) = permit {
                // The writer returns these permits once the bytes are on the socket.
                permit.forget();
            }
            self.shared.spend_session_window(len);
            self.shared.push_frame(Frame::Data(DataFrame {
                stream_id: id,
                fin,
                data,
            }));
        }
        if fin {
            self.shared.retire_if_done(&self.stream);
        }
        Ok(())
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.check_open().map_err(into_io)?;
        let len = buf.len().min(self.shared.config.max_send_frame_len);
        let permits = u32::try_from(len).unwrap_or(u32::MAX);
        let shared = self.shared.clone();
        let budget = self
            .budget
            .get_or_insert_with(|| PollSemaphore::new(shared.send_budget.clone()));
        let Some(permit) = ready!(budget.poll_acquire_many(cx, permits)) else {
            return Poll::Ready(Err(into_io(self.ended_error())));
        };
        let chunk = Bytes::copy_from_slice(buf.get(..len).unwrap_or(buf));
        self.push_data(chunk, false, Some(permit))
            .map_err(into_io)?;
        Poll::Ready(Ok(len))
    }

    /// Frames are queued for the writer task, which writes them as soon as it can: there is
    /// nothing to wait for.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// [`SendStream::finish`]; finishing twice is not an error here.
    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.finish() {
            Ok(()) | Err(Error::AlreadyFinished { .. }) => Poll::Ready(Ok(())),
            Err(err) => Poll::Ready(Err(into_io(err))),
        }
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        let abandon = {
            let mut state = lock(&self.stream.state);
            state.send_dropped = true;
            state.recv_dropped
        };
        if abandon {
            self.shared.abandon(&self.stream);
        } else {
            self.shared.retire_if_done(&self.stream);
        }
    }
}

/// The receiving half of a stream.
///
/// Received data waits in a per-stream buffer of `ConnectionConfig::max_stream_buffer` bytes.
/// While it is full the connection stops reading from its socket (head-of-line blocking for
/// every stream of the connection) until this half is read: memory stays bounded however slow
/// the reader, and a reader that never reads stalls its whole connection.
#[derive(Debug)]
pub struct RecvStream {
    shared: Arc<Shared>,
    stream: Arc<StreamShared>,
    /// The rest of a payload partly read through `AsyncRead`.
    current: Bytes,
}

impl RecvStream {
    /// The stream id.
    pub fn id(&self) -> StreamId {
        self.stream.id
    }

    /// The next DATA payload from the peer (as it arrived, never empty), or `None` once the
    /// peer has half-closed the stream (FIN). Data received before a reset or a connection
    /// failure is returned first; then the error.
    ///
    /// # Errors
    /// [`Error::StreamReset`] when the peer reset the stream (kube-apiserver ends every exec
    /// stream with RST_STREAM(CANCEL) after its last data, so this is often a normal end),
    /// [`Error::StreamResetLocally`], [`Error::ConnectionClosed`] and other connection errors.
    pub async fn recv(&mut self) -> Result<Option<Bytes>> {
        if !self.current.is_empty() {
            return Ok(Some(std::mem::take(&mut self.current)));
        }
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next payload; see [`RecvStream::recv`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>>> {
        if !self.current.is_empty() {
            return Poll::Ready(Ok(Some(std::mem::take(&mut self.current))));
        }
        let id = self.stream.id;
        let mut state = lock(&self.stream.state);
        if let Some(chunk) = state.queue.pop_front() {
            let was_full = state.buffered >= self.shared.config.max_stream_buffer;
            state.buffered -= chunk.len();
            let credit = state.consumed(chunk.len());
            drop(state);
            if was_full {
                self.stream.space.notify_one();
            }
            self.shared.credit(id, credit, chunk.len());
            return Poll::Ready(Ok(Some(chunk)));
        }
        match &state.recv_end {
            Some(End::Fin) => Poll::Ready(Ok(None)),
            Some(end) => Poll::Ready(Err(end.error(id))),
            None => {
                match &state.recv_waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => state.recv_waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// Resets the stream; see [`SendStream::reset`].
    pub fn reset(&mut self, status: RstStatus) {
        self.shared.reset_stream(&self.stream, status);
    }

    /// The status of the peer's RST_STREAM, if the peer reset the stream.
    pub fn reset_by_peer(&self) -> Option<RstStatus> {
        match lock(&self.stream.state).recv_end {
            Some(End::PeerReset(status)) => Some(status),
            _ => None,
        }
    }

    /// Whether the peer half-closed the stream (FIN received).
    pub fn is_finished_by_peer(&self) -> bool {
        matches!(lock(&self.stream.state).recv_end, Some(End::Fin))
    }

    /// Bytes received and not yet read.
    pub fn buffered(&self) -> usize {
        lock(&self.stream.state).buffered + self.current.len()
    }
}

/// Reads the stream's bytes. End of file comes with the peer's FIN **and with the peer's
/// RST_STREAM**, as spdystream's `Stream.Read` does (kube-apiserver ends exec streams with
/// RST_STREAM(CANCEL)); [`RecvStream::reset_by_peer`] tells the two apart. Other failures
/// (connection lost, local reset) are errors.
impl AsyncRead for RecvStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if self.current.is_empty() {
            match ready!(self.poll_recv(cx)) {
                Ok(Some(chunk)) => self.current = chunk,
                Ok(None) | Err(Error::StreamReset { .. }) => return Poll::Ready(Ok(())),
                Err(err) => return Poll::Ready(Err(into_io(err))),
            }
        }
        let len = buf.remaining().min(self.current.len());
        buf.put_slice(self.current.get(..len).unwrap_or_default());
        self.current.advance(len);
        Poll::Ready(Ok(()))
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        let id = self.stream.id;
        let (discarded, abandon) = {
            let mut state = lock(&self.stream.state);
            state.recv_dropped = true;
            let discarded = state.buffered;
            state.queue.clear();
            state.buffered = 0;
            (discarded, state.send_dropped)
        };
        self.stream.space.notify_one();
        if discarded > 0 {
            self.shared.credit(id, 0, discarded);
        }
        if abandon {
            self.shared.abandon(&self.stream);
        } else {
            self.shared.retire_if_done(&self.stream);
        }
    }
}

/// A stream error as an I/O error, for `AsyncRead` and `AsyncWrite`.
fn into_io(err: Error) -> io::Error {
    let kind = match &err {
        Error::StreamReset { .. } | Error::StreamResetLocally { .. } => {
            io::ErrorKind::ConnectionReset
        }
        Error::ConnectionClosed { .. } => io::ErrorKind::UnexpectedEof,
        Error::AlreadyFinished { .. } | Error::NotWritable { .. } => io::ErrorKind::BrokenPipe,
        _ => io::ErrorKind::ConnectionAborted,
    };
    io::Error::new(kind, err)
}
