//! The connection's two I/O tasks: the reader owns the socket's read half and the
//! [`FrameDecoder`] (the peer's header compression context), the writer owns the write half and
//! the [`FrameEncoder`] (ours). A third, optional task enforces the idle timeout.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use jitgate_wire::spdy::{DataFrame, Frame, FrameDecoder, FrameEncoder, GoAwayStatus, StreamId};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::Error;
use crate::outbox::{Batch, MAX_PENDING_ANSWERS};
use crate::session::{DataRoute, SessionEnd, Shared, lock};

/// How much the reader asks the socket for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The writer hands the socket at most this much per write; frames queued together beyond it
/// go in the next write.
const WRITE_CHUNK: usize = 256 * 1024;

/// How long the writer may go on flushing its last frames after the session ended abruptly.
const ABRUPT_END_GRACE: Duration = Duration::from_secs(1);

/// How long the reader goes on draining the socket after our side of it was shut down, waiting
/// for the peer to close its side (lingering close).
const LINGER: Duration = Duration::from_secs(2);

/// How long the reader waits for the writer to get pending answers out before it judges that
/// the peer does not read.
const ANSWER_STALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the reader stopped without an error.
enum ReadEnd {
    /// The peer closed the socket.
    Eof,
    /// The session ended some other way.
    Stopped,
}

/// Reads and dispatches frames until the peer closes the socket, the session ends, or an
/// error; a protocol error ends the session with GOAWAY(PROTOCOL_ERROR).
pub(crate) async fn run_reader<R: AsyncRead + Unpin>(shared: Arc<Shared>, mut io: R) {
    let result = read_frames(&shared, &mut io).await;
    shared.reader_done.cancel();
    match result {
        Ok(ReadEnd::Eof) => shared.end_session(SessionEnd::PeerClosed, false, None),
        Ok(ReadEnd::Stopped) => {}
        Err(err) => {
            let goaway = match &err {
                Error::MalformedFrame(_)
                | Error::ProtocolViolation { .. }
                | Error::PeerNotReading { .. } => Some(GoAwayStatus::PROTOCOL_ERROR),
                _ => None,
            };
            tracing::debug!(error = %err, "SPDY connection failed while reading");
            shared.end_session(SessionEnd::Failed(Arc::new(err)), false, goaway);
        }
    }
}

async fn read_frames<R: AsyncRead + Unpin>(
    shared: &Arc<Shared>,
    io: &mut R,
) -> Result<ReadEnd, Error> {
    let mut decoder = FrameDecoder::with_limits(shared.config.limits);
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if shared.is_ended() {
            return drain(shared, io, buf).await;
        }
        while let Some(frame) = decoder.decode(&mut buf).map_err(Error::MalformedFrame)? {
            shared.touch();
            if !dispatch(shared, frame).await? || !answers_written(shared).await? {
                return Ok(ReadEnd::Stopped);
            }
        }
        buf.reserve(READ_CHUNK);
        let read = tokio::select! {
            biased;
            () = shared.stop_reader.cancelled() => return Ok(ReadEnd::Stopped),
            read = io.read_buf(&mut buf) => read,
        };
        let n = read.map_err(|source| Error::Io {
            doing: "reading frames",
            source,
        })?;
        if n == 0 {
            return Ok(ReadEnd::Eof);
        }
    }
}

/// After the session ended: reads and discards until the peer closes its side (or the writer
/// stops us), so closing the socket with unread bytes in it does not make the kernel answer
/// with a TCP reset, which could destroy the last frames we sent before the peer reads them.
async fn drain<R: AsyncRead + Unpin>(
    shared: &Shared,
    io: &mut R,
    mut buf: BytesMut,
) -> Result<ReadEnd, Error> {
    loop {
        buf.clear();
        buf.reserve(READ_CHUNK);
        let read = tokio::select! {
            biased;
            () = shared.stop_reader.cancelled() => return Ok(ReadEnd::Stopped),
            read = io.read_buf(&mut buf) => read,
        };
        match read {
            Ok(0) | Err(_) => return Ok(ReadEnd::Stopped),
            Ok(_) => {}
        }
    }
}

/// Waits while too many answers to the peer (PING echoes, refusals) are waiting to be
/// written, so a peer cannot make them pile up by sending without reading; `false` if the
/// session ended meanwhile.
///
/// # Errors
/// [`Error::PeerNotReading`] if the writer cannot get them out for [`ANSWER_STALL_TIMEOUT`].
async fn answers_written(shared: &Shared) -> Result<bool, Error> {
    if lock(&shared.outbox).answers_pending() < MAX_PENDING_ANSWERS {
        return Ok(true);
    }
    let deadline = tokio::time::Instant::now() + ANSWER_STALL_TIMEOUT;
    loop {
        let drained = shared.outbox_drained.notified();
        if lock(&shared.outbox).answers_pending() < MAX_PENDING_ANSWERS / 2 {
            return Ok(true);
        }
        tokio::select! {
            biased;
            () = shared.stop_reader.cancelled() => return Ok(false),
            () = drained => {}
            () = tokio::time::sleep_until(deadline) => {
                return Err(Error::PeerNotReading {
                    max: MAX_PENDING_ANSWERS,
                });
            }
        }
    }
}

/// Applies one frame; `false` if the session ended while it waited.
async fn dispatch(shared: &Arc<Shared>, frame: Frame) -> Result<bool, Error> {
    match frame {
        Frame::Data(data) => return deliver(shared, data).await,
        Frame::SynStream(syn) => shared.on_syn_stream(syn)?,
        Frame::SynReply(reply) => shared.on_syn_reply(reply)?,
        Frame::RstStream(rst) => shared.on_rst_stream(&rst),
        Frame::Settings(settings) => shared.on_settings(&settings)?,
        Frame::Ping(ping) => shared.on_ping(ping),
        Frame::GoAway(goaway) => shared.on_goaway(&goaway),
        Frame::Headers(headers) => shared.on_headers(&headers),
        Frame::WindowUpdate(update) => shared.on_window_update(update)?,
    }
    Ok(true)
}

/// Puts a DATA payload in its stream's buffer, waiting (and so not reading the socket) while
/// the buffer is full.
async fn deliver(shared: &Arc<Shared>, frame: DataFrame) -> Result<bool, Error> {
    let len = frame.data.len();
    let DataRoute::Deliver(stream) = shared.route_data(&frame)? else {
        shared.credit(StreamId::ZERO, 0, len);
        return Ok(true);
    };
    if len > 0 {
        // A copy, so a payload kept in a slow stream's buffer does not pin the whole read
        // buffer it arrived in: the buffer limit then bounds memory exactly.
        let payload = Bytes::copy_from_slice(&frame.data);
        let max = shared.config.max_stream_buffer;
        loop {
            let step = {
                let mut state = lock(&stream.state);
                if state.recv_end.is_some() || state.recv_dropped {
                    Step::Discarded
                } else if state.buffered < max {
                    state.buffered += len;
                    state.queue.push_back(payload.clone());
                    Step::Queued(state.recv_waker.take())
                } else {
                    Step::Full
                }
            };
            match step {
                Step::Queued(waker) => {
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                    break;
                }
                Step::Discarded => {
                    shared.credit(StreamId::ZERO, 0, len);
                    break;
                }
                Step::Full => {
                    tokio::select! {
                        biased;
                        () = shared.stop_reader.cancelled() => return Ok(false),
                        () = stream.space.notified() => {}
                    }
                }
            }
        }
    }
    if frame.fin {
        shared.remote_fin(&stream);
    }
    Ok(true)
}

/// What happened to a payload offered to a stream's buffer.
enum Step {
    /// Queued; wake the stream's reader.
    Queued(Option<std::task::Waker>),
    /// The stream no longer reads: dropped.
    Discarded,
    /// No room: wait.
    Full,
}

/// Writes queued frames, coalescing everything queued at once into as few socket writes as
/// possible, until asked to finish (then shuts the write side down) or the socket fails.
pub(crate) async fn run_writer<W: AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    mut io: W,
    mut encoder: FrameEncoder,
) {
    let grace = async {
        shared.stop_writer.cancelled().await;
        tokio::time::sleep(ABRUPT_END_GRACE).await;
    };
    let result = tokio::select! {
        result = write_frames(&shared, &mut io, &mut encoder) => result,
        // The peer does not read what is left: give up on it.
        () = grace => Ok(()),
    };
    match result {
        Ok(()) => {
            // Our side is shut down; let the reader drain until the peer closes its side.
            tokio::select! {
                () = shared.reader_done.cancelled() => {}
                () = tokio::time::sleep(LINGER) => {}
            }
        }
        Err(err) => {
            tracing::debug!(error = %err, "SPDY connection failed while writing");
            shared.end_session(SessionEnd::Failed(Arc::new(err)), false, None);
        }
    }
    shared.stop_reader.cancel();
}

async fn write_frames<W: AsyncWrite + Unpin>(
    shared: &Shared,
    io: &mut W,
    encoder: &mut FrameEncoder,
) -> Result<(), Error> {
    let io_error = |source| Error::Io {
        doing: "writing frames",
        source,
    };
    let mut batch = Batch::default();
    let mut buf = BytesMut::with_capacity(WRITE_CHUNK);
    loop {
        lock(&shared.outbox).take_into(&mut batch);
        shared.outbox_drained.notify_one();
        if batch.frames.is_empty() {
            if batch.finish {
                io.flush().await.map_err(io_error)?;
                // The peer may be gone already; a failed shutdown changes nothing.
                let _ = io.shutdown().await;
                return Ok(());
            }
            shared.writer_wake.notified().await;
            continue;
        }
        let mut data_bytes = 0;
        while let Some(frame) = batch.frames.pop_front() {
            if let Frame::Data(data) = &frame {
                data_bytes += data.data.len();
            }
            encoder.encode(&frame, &mut buf).map_err(Error::Encode)?;
            if buf.len() >= WRITE_CHUNK {
                io.write_all(&buf).await.map_err(io_error)?;
                buf.clear();
                shared
                    .send_budget
                    .add_permits(std::mem::take(&mut data_bytes));
            }
        }
        if !buf.is_empty() {
            io.write_all(&buf).await.map_err(io_error)?;
            buf.clear();
        }
        io.flush().await.map_err(io_error)?;
        shared.send_budget.add_permits(data_bytes);
        shared.touch();
    }
}

/// Ends the session, resetting every stream, once nothing was read or written for `timeout`.
pub(crate) async fn watch_idle(shared: Arc<Shared>, timeout: Duration) {
    loop {
        let idle = shared.idle_for();
        if idle >= timeout {
            let err = Arc::new(Error::IdleTimeout { after: timeout });
            shared.end_session(SessionEnd::Failed(err), true, Some(GoAwayStatus::OK));
            return;
        }
        tokio::select! {
            () = shared.stop_reader.cancelled() => return,
            () = tokio::time::sleep(timeout - idle) => {}
        }
    }
}
