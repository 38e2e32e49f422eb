//! The state of one SPDY session and what each frame from the peer does to it (SPDY/3.1 §2.3
//! stream states, §2.6 control frames), without any I/O: the reader task decodes frames and calls
//! in here; streams and the connection handle change the same state; frames to send go to the
//! [`Outbox`].
//!
//! Where the specification and moby/spdystream (the SPDY stack of kubectl, kube-apiserver and the
//! kubelet) differ, this follows spdystream when that is what Kubernetes relies on, and fails
//! closed otherwise:
//! - A SYN_STREAM whose id has our parity, or is not above the last one, is a session error
//!   (§2.3.2; spdystream only resets the stream).
//! - DATA for a stream we already closed, or reset, is dropped silently (as spdystream does);
//!   DATA for a stream id never opened gets RST_STREAM(INVALID_STREAM) (§2.2.2).
//! - DATA after the peer's FIN gets RST_STREAM(STREAM_ALREADY_CLOSED) (§2.3.6; spdystream drops
//!   it): nothing the peer sends after its FIN reaches the application.
//! - DATA before the SYN_REPLY on a stream we opened gets RST_STREAM(PROTOCOL_ERROR) (§2.6.2;
//!   spdystream drops it).
//! - Data buffered before an RST_STREAM is still delivered, then the reset: kube-apiserver ends
//!   every exec stream with RST_STREAM(CANCEL) right after its last DATA, and spdystream readers
//!   see all of the data.
//! - Flow control (§2.6.8) is accounted but never waited for, since spdystream neither sends
//!   WINDOW_UPDATE nor honours it; we send WINDOW_UPDATE as the application consumes data only
//!   to peers that show they do flow control (see [`WindowUpdates`] for why not to spdystream).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jitgate_wire::spdy::{
    DataFrame, Frame, GoAway, GoAwayStatus, HeaderBlock, HeadersFrame, Ping, RstStatus, RstStream,
    SettingId, Settings, StreamId, SynReply, SynStream, WindowUpdate,
};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::{ConnectionConfig, Role, WindowUpdates};
use crate::error::Error;
use crate::outbox::Outbox;
use crate::stream::IncomingStream;

/// The initial window of every stream and of the session (§2.6.8).
const INITIAL_WINDOW: u32 = 65_536;

/// Receive credit is returned once this much has been consumed (half the initial window), so
/// small reads do not cost a WINDOW_UPDATE each.
pub(crate) const CREDIT_THRESHOLD: u32 = INITIAL_WINDOW / 2;

/// The largest window, 2^31 - 1 (§2.6.8).
const MAX_WINDOW: i64 = 0x7fff_ffff;

/// Locks a mutex, ignoring poisoning: every critical section here leaves the state consistent
/// before it can panic, and a panicking task must not take the whole connection down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How a stream direction ended.
#[derive(Debug, Clone)]
pub(crate) enum End {
    /// FIN: a clean half-close.
    Fin,
    /// The peer sent RST_STREAM.
    PeerReset(RstStatus),
    /// We sent RST_STREAM.
    LocalReset(RstStatus),
    /// The peer's GOAWAY named a last good stream below this one.
    NotProcessed,
    /// The peer closed the socket.
    PeerClosed,
    /// The connection was shut down locally.
    ShutDown,
    /// The connection failed.
    Failed(Arc<Error>),
}

impl End {
    /// The error a stream operation reports for this end (`Fin` is not an error for readers;
    /// for writers it means the stream was already finished).
    pub(crate) fn error(&self, id: StreamId) -> Error {
        match self {
            End::Fin => Error::AlreadyFinished { id },
            End::PeerReset(status) => Error::StreamReset {
                id,
                status: *status,
            },
            End::LocalReset(status) => Error::StreamResetLocally {
                id,
                status: *status,
            },
            End::NotProcessed => Error::StreamNotProcessed { id },
            End::PeerClosed => Error::ConnectionClosed { id },
            End::ShutDown => Error::ConnectionShutDown { id },
            End::Failed(cause) => Error::ConnectionFailed(cause.clone()),
        }
    }
}

/// How the whole session ended.
#[derive(Debug, Clone)]
pub(crate) enum SessionEnd {
    /// GOAWAY was exchanged and every stream finished.
    Graceful,
    /// The peer closed the socket.
    PeerClosed,
    /// `Connection::shutdown`.
    ShutDown,
    /// A failure.
    Failed(Arc<Error>),
}

impl SessionEnd {
    /// How a stream still open when the session ended ends.
    pub(crate) fn stream_end(&self) -> End {
        match self {
            SessionEnd::Graceful | SessionEnd::ShutDown => End::ShutDown,
            SessionEnd::PeerClosed => End::PeerClosed,
            SessionEnd::Failed(cause) => End::Failed(cause.clone()),
        }
    }
}

/// The sending direction of a stream.
#[derive(Debug, Clone)]
pub(crate) enum SendState {
    /// A stream the peer opened that the application has not answered yet.
    AwaitingReply,
    /// Data may be sent.
    Open,
    /// The peer opened the stream unidirectional: we may not send.
    NotWritable,
    /// Ended: FIN sent, or reset, or the connection ended.
    Ended(End),
}

/// The SYN_REPLY of a stream we opened.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// The peer opened this stream.
    NotApplicable,
    /// Not received yet.
    Waiting,
    /// Received, with these headers.
    Received(HeaderBlock),
    /// The stream ended before a reply.
    Failed(End),
}

/// One stream's state, shared by the reader task and the stream's handles.
#[derive(Debug)]
pub(crate) struct StreamState {
    /// Received payloads not yet read by the application.
    pub(crate) queue: VecDeque<Bytes>,
    /// Their total length.
    pub(crate) buffered: usize,
    /// Why the receiving direction ended, once it has; read after `queue` is empty.
    pub(crate) recv_end: Option<End>,
    /// The task waiting in `recv`.
    pub(crate) recv_waker: Option<Waker>,
    /// The application dropped the receiving handle: data is discarded.
    pub(crate) recv_dropped: bool,
    /// Consumed bytes not yet credited to the peer.
    credit: u32,
    /// The sending direction.
    pub(crate) send: SendState,
    /// The application dropped the sending handle (without necessarily finishing).
    pub(crate) send_dropped: bool,
    /// The peer's window for us (accounted, never waited for; may go negative).
    pub(crate) send_window: i64,
    /// The SYN_REPLY, for streams we opened.
    pub(crate) reply: Reply,
    /// Removed from the session's stream table.
    retired: bool,
}

impl StreamState {
    fn new(send: SendState, reply: Reply, send_window: u32) -> StreamState {
        StreamState {
            queue: VecDeque::new(),
            buffered: 0,
            recv_end: None,
            recv_waker: None,
            recv_dropped: false,
            credit: 0,
            send,
            send_dropped: false,
            send_window: i64::from(send_window),
            reply,
            retired: false,
        }
    }

    fn send_done(&self) -> bool {
        match self.send {
            SendState::AwaitingReply => false,
            SendState::Open => self.send_dropped,
            SendState::NotWritable | SendState::Ended(_) => true,
        }
    }

    /// Whether no more frames are expected either way, so the stream can leave the table.
    fn is_done(&self) -> bool {
        self.recv_end.is_some() && self.send_done()
    }

    /// Ends the receiving direction (if it has not ended) and wakes its reader.
    fn end_recv(&mut self, end: End) -> Option<Waker> {
        if self.recv_end.is_none() {
            self.recv_end = Some(end);
        }
        self.recv_waker.take()
    }

    /// Ends both directions and any wait for a reply, keeping buffered data readable.
    fn end_all(&mut self, end: &End) -> Option<Waker> {
        if !matches!(self.send, SendState::Ended(_) | SendState::NotWritable) {
            self.send = SendState::Ended(end.clone());
        }
        if matches!(self.reply, Reply::Waiting) {
            self.reply = Reply::Failed(end.clone());
        }
        self.end_recv(end.clone())
    }

    /// Records that the application took `len` bytes; returns the stream credit to send, if due.
    pub(crate) fn consumed(&mut self, len: usize) -> u32 {
        if self.recv_end.is_some() {
            // The peer sends nothing more on this stream: it needs no more window.
            self.credit = 0;
            return 0;
        }
        self.credit = self
            .credit
            .saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
        if self.credit >= CREDIT_THRESHOLD {
            std::mem::take(&mut self.credit)
        } else {
            0
        }
    }
}

/// One stream: its id, state and the notifications its parties wait on.
#[derive(Debug)]
pub(crate) struct StreamShared {
    pub(crate) id: StreamId,
    pub(crate) state: Mutex<StreamState>,
    /// The reader waits here for room in the receive buffer (`notify_one`: a permit is kept).
    pub(crate) space: Notify,
    /// `wait_reply` waits here (`notify_waiters`).
    pub(crate) replied: Notify,
}

impl StreamShared {
    fn new(id: StreamId, state: StreamState) -> Arc<StreamShared> {
        Arc::new(StreamShared {
            id,
            state: Mutex::new(state),
            space: Notify::new(),
            replied: Notify::new(),
        })
    }

    /// Wakes everyone who may be waiting on this stream.
    fn wake_all(&self, waker: Option<Waker>) {
        if let Some(waker) = waker {
            waker.wake();
        }
        self.space.notify_one();
        self.replied.notify_waiters();
    }
}

/// The session table, under one lock. Lock order: session, then a stream, then the outbox.
#[derive(Debug)]
pub(crate) struct Session {
    streams: HashMap<StreamId, Arc<StreamShared>>,
    /// The next id we open (may pass 2^31 - 1: then ids are exhausted).
    next_local_id: u64,
    /// The highest id the peer opened, 0 if none.
    last_peer_id: u32,
    accept_tx: Option<mpsc::UnboundedSender<IncomingStream>>,
    goaway_sent: bool,
    peer_last_good: Option<StreamId>,
    ended: Option<SessionEnd>,
    peer_max_streams: Option<u32>,
    peer_initial_window: u32,
    pings: HashMap<u32, oneshot::Sender<()>>,
    next_ping_id: u32,
}

/// Everything the connection's tasks and handles share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) role: Role,
    pub(crate) config: ConnectionConfig,
    session: Mutex<Session>,
    pub(crate) outbox: Mutex<Outbox>,
    /// The writer waits here (`notify_one`).
    pub(crate) writer_wake: Notify,
    /// The writer took what was queued (`notify_one`); the reader waits here when too many
    /// answers are pending.
    pub(crate) outbox_drained: Notify,
    /// DATA payload bytes that may still be queued.
    pub(crate) send_budget: Arc<Semaphore>,
    /// Stops the reader task.
    pub(crate) stop_reader: CancellationToken,
    /// Cancelled when the reader task has stopped.
    pub(crate) reader_done: CancellationToken,
    /// Cancelled when the session ends abruptly (failure, shutdown): the writer then gets a
    /// short grace to flush the last frames (RST_STREAM, GOAWAY) to a peer that may not read.
    pub(crate) stop_writer: CancellationToken,
    /// The session's send window (accounted only).
    session_send_window: AtomicI64,
    /// The peer sent SETTINGS or WINDOW_UPDATE: it does flow control.
    peer_flow_control: AtomicBool,
    started: Instant,
    /// Milliseconds since `started` of the last frame read or written.
    last_activity_ms: AtomicU64,
}

/// What the reader should do with a DATA payload.
pub(crate) enum DataRoute {
    /// Deliver to this stream.
    Deliver(Arc<StreamShared>),
    /// Drop it (the stream is gone).
    Discard,
}

impl Shared {
    pub(crate) fn new(
        role: Role,
        config: ConnectionConfig,
        accept_tx: mpsc::UnboundedSender<IncomingStream>,
    ) -> Arc<Shared> {
        let budget = config.max_queued_send_bytes.min(Semaphore::MAX_PERMITS);
        Arc::new(Shared {
            role,
            session: Mutex::new(Session {
                streams: HashMap::new(),
                next_local_id: u64::from(role.first_id()),
                last_peer_id: 0,
                accept_tx: Some(accept_tx),
                goaway_sent: false,
                peer_last_good: None,
                ended: None,
                peer_max_streams: None,
                peer_initial_window: INITIAL_WINDOW,
                pings: HashMap::new(),
                next_ping_id: role.first_id(),
            }),
            outbox: Mutex::new(Outbox::default()),
            writer_wake: Notify::new(),
            outbox_drained: Notify::new(),
            send_budget: Arc::new(Semaphore::new(budget)),
            stop_reader: CancellationToken::new(),
            reader_done: CancellationToken::new(),
            stop_writer: CancellationToken::new(),
            session_send_window: AtomicI64::new(i64::from(INITIAL_WINDOW)),
            peer_flow_control: AtomicBool::new(false),
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            config,
        })
    }

    /// Records that a frame was read or written now.
    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.store(ms, Ordering::Relaxed);
    }

    /// How long since the last frame was read or written.
    pub(crate) fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// Queues an application frame and wakes the writer.
    pub(crate) fn push_frame(&self, frame: Frame) {
        lock(&self.outbox).push(frame);
        self.writer_wake.notify_one();
    }

    /// Queues an answer to the peer and wakes the writer. The reader bounds how many wait (see
    /// `MAX_PENDING_ANSWERS`).
    fn push_answer(&self, frame: Frame) {
        lock(&self.outbox).push_answer(frame);
        self.writer_wake.notify_one();
    }

    /// Credits `len` consumed (or discarded) bytes to the session window, and `stream_credit` to
    /// a stream's, queueing WINDOW_UPDATEs as they fall due.
    pub(crate) fn credit(&self, stream: StreamId, stream_credit: u32, len: usize) {
        let send = match self.config.window_updates {
            WindowUpdates::Never => false,
            WindowUpdates::WhenPeerDoes => self.peer_flow_control.load(Ordering::Relaxed),
            WindowUpdates::Always => true,
        };
        if !send {
            return;
        }
        let mut outbox = lock(&self.outbox);
        let due = outbox.add_session_consumed(len, CREDIT_THRESHOLD);
        if stream_credit > 0 {
            outbox.add_credit(stream, stream_credit);
        }
        drop(outbox);
        if due || stream_credit > 0 {
            self.writer_wake.notify_one();
        }
    }

    /// Accounts a DATA payload we are about to send against the session window.
    pub(crate) fn spend_session_window(&self, len: usize) {
        let len = i64::try_from(len).unwrap_or(i64::MAX);
        self.session_send_window.fetch_sub(len, Ordering::Relaxed);
    }

    /// The session send window (accounted only; negative when we sent past it).
    pub(crate) fn session_send_window(&self) -> i64 {
        self.session_send_window.load(Ordering::Relaxed)
    }

    /// Opens a stream: allocates the next id and queues SYN_STREAM, under the session lock so ids
    /// leave in increasing order.
    pub(crate) fn open_stream(
        &self,
        headers: HeaderBlock,
        fin: bool,
    ) -> Result<Arc<StreamShared>, Error> {
        check_headers(&headers, &self.config)?;
        let mut session = lock(&self.session);
        if let Some(end) = &session.ended {
            return Err(match end {
                SessionEnd::Failed(cause) => Error::ConnectionFailed(cause.clone()),
                _ => Error::GoingAway,
            });
        }
        if session.goaway_sent || session.peer_last_good.is_some() {
            return Err(Error::GoingAway);
        }
        let max = self.config.max_concurrent_streams;
        let max = session.peer_max_streams.map_or(max, |peer| peer.min(max));
        if session.streams.len() >= max as usize {
            return Err(Error::TooManyStreams { max });
        }
        let id = u32::try_from(session.next_local_id)
            .ok()
            .and_then(StreamId::new)
            .ok_or(Error::StreamIdsExhausted)?;
        session.next_local_id += 2;
        let send = if fin {
            SendState::Ended(End::Fin)
        } else {
            SendState::Open
        };
        let stream = StreamShared::new(
            id,
            StreamState::new(send, Reply::Waiting, session.peer_initial_window),
        );
        session.streams.insert(id, stream.clone());
        self.push_frame(Frame::SynStream(SynStream {
            stream_id: id,
            associated_to: StreamId::ZERO,
            priority: 0,
            fin,
            unidirectional: false,
            headers,
        }));
        Ok(stream)
    }

    /// Removes `stream` from the table if nothing more is expected on it, and ends the session
    /// once it is going away and no stream is left.
    pub(crate) fn retire_if_done(&self, stream: &StreamShared) {
        let mut session = lock(&self.session);
        {
            let mut state = lock(&stream.state);
            if state.retired || !state.is_done() {
                return;
            }
            state.retired = true;
        }
        session.streams.remove(&stream.id);
        self.finish_if_drained(&mut session);
    }

    /// Called when the application dropped both handles of a stream: resets it (CANCEL) unless
    /// it already ended both ways, and removes it.
    pub(crate) fn abandon(&self, stream: &StreamShared) {
        let mut session = lock(&self.session);
        let waker = {
            let mut state = lock(&stream.state);
            if state.retired {
                return;
            }
            state.retired = true;
            let waker = if state.is_done() {
                None
            } else {
                if session.ended.is_none() {
                    self.push_frame(rst(stream.id, RstStatus::CANCEL));
                }
                state.end_all(&End::LocalReset(RstStatus::CANCEL))
            };
            state.queue.clear();
            state.buffered = 0;
            waker
        };
        stream.wake_all(waker);
        session.streams.remove(&stream.id);
        self.finish_if_drained(&mut session);
    }

    /// Resets `stream` with `status` at the application's request.
    pub(crate) fn reset_stream(&self, stream: &StreamShared, status: RstStatus) {
        let waker = {
            let session = lock(&self.session);
            let mut state = lock(&stream.state);
            let already = state.is_done() || state.retired;
            if !already && session.ended.is_none() {
                self.push_frame(rst(stream.id, status));
            }
            if already {
                None
            } else {
                state.end_all(&End::LocalReset(status))
            }
        };
        stream.wake_all(waker);
        self.retire_if_done(stream);
    }

    /// Sends the GOAWAY that starts a graceful close, if not sent yet.
    pub(crate) fn close(&self) {
        let mut session = lock(&self.session);
        self.send_goaway(&mut session, GoAwayStatus::OK);
        session.accept_tx = None;
        self.finish_if_drained(&mut session);
    }

    fn send_goaway(&self, session: &mut Session, status: GoAwayStatus) {
        if session.goaway_sent || session.ended.is_some() {
            return;
        }
        session.goaway_sent = true;
        let last_good_stream_id = StreamId::new(session.last_peer_id).unwrap_or(StreamId::ZERO);
        self.push_frame(Frame::GoAway(GoAway {
            last_good_stream_id,
            status,
        }));
    }

    /// Ends the session now: resets every open stream (`reset`, CANCEL) unless the socket is
    /// gone, sends GOAWAY if the socket is still usable, ends every stream with `end`, and tells
    /// the writer to finish.
    pub(crate) fn end_session(&self, end: SessionEnd, reset: bool, goaway: Option<GoAwayStatus>) {
        let streams: Vec<Arc<StreamShared>> = {
            let mut session = lock(&self.session);
            if session.ended.is_some() {
                return;
            }
            let stream_end = end.stream_end();
            let streams: Vec<_> = session.streams.drain().map(|(_, s)| s).collect();
            for stream in &streams {
                let mut state = lock(&stream.state);
                state.retired = true;
                if reset && !state.is_done() {
                    self.push_frame(rst(stream.id, RstStatus::CANCEL));
                }
                let waker = state.end_all(&stream_end);
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            if let Some(status) = goaway {
                self.send_goaway(&mut session, status);
            }
            session.accept_tx = None;
            session.pings.clear();
            session.ended = Some(end);
            streams
        };
        for stream in &streams {
            stream.wake_all(None);
        }
        self.send_budget.close();
        self.finish_writer();
        self.stop_writer.cancel();
    }

    /// Whether the session has ended.
    pub(crate) fn is_ended(&self) -> bool {
        lock(&self.session).ended.is_some()
    }

    /// How the session ended, once it has.
    pub(crate) fn ended(&self) -> Option<SessionEnd> {
        lock(&self.session).ended.clone()
    }

    /// Whether GOAWAY was sent or received, or the session ended.
    pub(crate) fn is_going_away(&self) -> bool {
        let session = lock(&self.session);
        session.goaway_sent || session.peer_last_good.is_some() || session.ended.is_some()
    }

    /// How many streams are open.
    pub(crate) fn open_streams(&self) -> usize {
        lock(&self.session).streams.len()
    }

    fn finish_if_drained(&self, session: &mut Session) {
        let going_away = session.goaway_sent || session.peer_last_good.is_some();
        if going_away && session.streams.is_empty() && session.ended.is_none() {
            session.ended = Some(SessionEnd::Graceful);
            session.accept_tx = None;
            session.pings.clear();
            self.send_budget.close();
            self.finish_writer();
        }
    }

    fn finish_writer(&self) {
        lock(&self.outbox).finish();
        self.writer_wake.notify_one();
    }

    /// Queues a PING and returns the receiver its echo completes.
    pub(crate) fn start_ping(&self) -> Result<oneshot::Receiver<()>, Error> {
        let mut session = lock(&self.session);
        if let Some(end) = &session.ended {
            return Err(match end {
                SessionEnd::Failed(cause) => Error::ConnectionFailed(cause.clone()),
                _ => Error::GoingAway,
            });
        }
        let id = session.next_ping_id;
        session.next_ping_id = if id > 0x7fff_fffd {
            self.role.first_id()
        } else {
            id + 2
        };
        let (tx, rx) = oneshot::channel();
        session.pings.insert(id, tx);
        self.push_frame(Frame::Ping(Ping { id }));
        Ok(rx)
    }

    // ----- frames from the peer -------------------------------------------------------------

    /// Where a DATA frame goes. Errors are session errors.
    pub(crate) fn route_data(&self, frame: &DataFrame) -> Result<DataRoute, Error> {
        let id = frame.stream_id;
        let session = lock(&self.session);
        let Some(stream) = session.streams.get(&id).cloned() else {
            if !self.was_opened(&session, id.get()) && !session.goaway_sent {
                drop(session);
                self.push_answer(rst(id, RstStatus::INVALID_STREAM));
            }
            return Ok(DataRoute::Discard);
        };
        let mut state = lock(&stream.state);
        let violation = if matches!(state.reply, Reply::Waiting) {
            Some(RstStatus::PROTOCOL_ERROR)
        } else if matches!(state.recv_end, Some(End::Fin)) {
            Some(RstStatus::STREAM_ALREADY_CLOSED)
        } else {
            None
        };
        if let Some(status) = violation {
            let waker = state.end_all(&End::LocalReset(status));
            drop(state);
            drop(session);
            stream.wake_all(waker);
            self.push_answer(rst(id, status));
            self.retire_if_done(&stream);
            return Ok(DataRoute::Discard);
        }
        if state.recv_end.is_some() || state.recv_dropped {
            return Ok(DataRoute::Discard);
        }
        drop(state);
        Ok(DataRoute::Deliver(stream))
    }

    /// The peer half-closed `stream` (FIN on DATA, SYN_REPLY or HEADERS).
    pub(crate) fn remote_fin(&self, stream: &StreamShared) {
        let waker = lock(&stream.state).end_recv(End::Fin);
        if let Some(waker) = waker {
            waker.wake();
        }
        self.retire_if_done(stream);
    }

    /// Whether `id` names a stream that was opened at some point (and may since have closed).
    fn was_opened(&self, session: &Session, id: u32) -> bool {
        if self.role.owns(id) {
            u64::from(id) < session.next_local_id
        } else {
            id <= session.last_peer_id
        }
    }

    /// SYN_STREAM: a new stream from the peer.
    pub(crate) fn on_syn_stream(self: &Arc<Self>, syn: SynStream) -> Result<(), Error> {
        let id = syn.stream_id;
        let mut session = lock(&self.session);
        if self.role.owns(id.get()) {
            return Err(Error::ProtocolViolation {
                reason: format!(
                    "SYN_STREAM for stream {id}, an id of ours to open (clients open odd ids, servers even)"
                ),
            });
        }
        if id.get() <= session.last_peer_id {
            return Err(Error::ProtocolViolation {
                reason: format!(
                    "SYN_STREAM for stream {id}, not above the last stream it opened ({})",
                    session.last_peer_id
                ),
            });
        }
        session.last_peer_id = id.get();
        let refuse = session.goaway_sent
            || session.ended.is_some()
            || session.accept_tx.is_none()
            || session.streams.len() >= self.config.max_concurrent_streams as usize;
        if refuse {
            drop(session);
            self.push_answer(rst(id, RstStatus::REFUSED_STREAM));
            return Ok(());
        }
        let send = if syn.unidirectional {
            SendState::NotWritable
        } else {
            SendState::AwaitingReply
        };
        let mut state = StreamState::new(send, Reply::NotApplicable, session.peer_initial_window);
        if syn.fin {
            state.recv_end = Some(End::Fin);
        }
        let stream = StreamShared::new(id, state);
        session.streams.insert(id, stream.clone());
        let incoming = IncomingStream::new(
            self.clone(),
            stream,
            syn.headers,
            syn.fin,
            syn.unidirectional,
        );
        let refused = match &session.accept_tx {
            Some(tx) => tx.send(incoming).err().map(|e| e.0),
            None => Some(incoming),
        };
        drop(session);
        if let Some(incoming) = refused {
            // Dropping it refuses the stream (outside the session lock: it takes it).
            drop(incoming);
        }
        Ok(())
    }

    /// SYN_REPLY: the peer accepted a stream we opened.
    pub(crate) fn on_syn_reply(&self, reply: SynReply) -> Result<(), Error> {
        let id = reply.stream_id;
        let session = lock(&self.session);
        if !self.role.owns(id.get()) || !self.was_opened(&session, id.get()) {
            return Err(Error::ProtocolViolation {
                reason: format!("SYN_REPLY for stream {id}, which we never opened"),
            });
        }
        let Some(stream) = session.streams.get(&id).cloned() else {
            return Ok(());
        };
        drop(session);
        let mut state = lock(&stream.state);
        match state.reply {
            Reply::Waiting => {
                state.reply = Reply::Received(reply.headers);
                drop(state);
                stream.replied.notify_waiters();
                if reply.fin {
                    self.remote_fin(&stream);
                }
                Ok(())
            }
            Reply::Received(_) => {
                let status = RstStatus::STREAM_IN_USE;
                let waker = state.end_all(&End::LocalReset(status));
                drop(state);
                stream.wake_all(waker);
                self.push_answer(rst(id, status));
                self.retire_if_done(&stream);
                Ok(())
            }
            Reply::NotApplicable | Reply::Failed(_) => Ok(()),
        }
    }

    /// RST_STREAM from the peer.
    pub(crate) fn on_rst_stream(&self, rst: &RstStream) {
        let stream = lock(&self.session).streams.get(&rst.stream_id).cloned();
        let Some(stream) = stream else {
            return;
        };
        let waker = lock(&stream.state).end_all(&End::PeerReset(rst.status));
        stream.wake_all(waker);
        self.retire_if_done(&stream);
    }

    /// SETTINGS: the initial window and the peer's stream limit; the rest does not apply.
    pub(crate) fn on_settings(&self, settings: &Settings) -> Result<(), Error> {
        self.peer_flow_control.store(true, Ordering::Relaxed);
        let mut session = lock(&self.session);
        for entry in &settings.entries {
            if entry.id == SettingId::MAX_CONCURRENT_STREAMS {
                session.peer_max_streams = Some(entry.value);
            } else if entry.id == SettingId::INITIAL_WINDOW_SIZE {
                if i64::from(entry.value) > MAX_WINDOW {
                    return Err(Error::ProtocolViolation {
                        reason: format!("SETTINGS_INITIAL_WINDOW_SIZE of {}", entry.value),
                    });
                }
                let delta = i64::from(entry.value) - i64::from(session.peer_initial_window);
                session.peer_initial_window = entry.value;
                for stream in session.streams.values() {
                    lock(&stream.state).send_window += delta;
                }
            }
        }
        Ok(())
    }

    /// PING: echo the peer's, complete ours.
    pub(crate) fn on_ping(&self, ping: Ping) {
        if self.role.owns(ping.id) {
            if let Some(tx) = lock(&self.session).pings.remove(&ping.id) {
                let _ = tx.send(());
            }
        } else {
            self.push_answer(Frame::Ping(ping));
        }
    }

    /// GOAWAY: no new streams; ours above its last good stream were never processed.
    pub(crate) fn on_goaway(&self, goaway: &GoAway) {
        let mut session = lock(&self.session);
        if session.peer_last_good.is_some() {
            return;
        }
        session.peer_last_good = Some(goaway.last_good_stream_id);
        let unprocessed: Vec<Arc<StreamShared>> = session
            .streams
            .values()
            .filter(|s| self.role.owns(s.id.get()) && s.id > goaway.last_good_stream_id)
            .cloned()
            .collect();
        for stream in &unprocessed {
            session.streams.remove(&stream.id);
            let waker = {
                let mut state = lock(&stream.state);
                state.retired = true;
                state.end_all(&End::NotProcessed)
            };
            stream.wake_all(waker);
        }
        self.finish_if_drained(&mut session);
    }

    /// HEADERS: only FIN matters (Kubernetes sends no HEADERS frames).
    pub(crate) fn on_headers(&self, headers: &HeadersFrame) {
        if !headers.fin {
            return;
        }
        let stream = lock(&self.session).streams.get(&headers.stream_id).cloned();
        if let Some(stream) = stream {
            self.remote_fin(&stream);
        }
    }

    /// WINDOW_UPDATE: more window for a stream or the session (accounted only).
    pub(crate) fn on_window_update(&self, update: WindowUpdate) -> Result<(), Error> {
        self.peer_flow_control.store(true, Ordering::Relaxed);
        let delta = i64::from(update.delta);
        if update.stream_id.is_zero() {
            let window = self
                .session_send_window
                .fetch_add(delta, Ordering::Relaxed)
                .saturating_add(delta);
            if window > MAX_WINDOW {
                return Err(Error::ProtocolViolation {
                    reason: "WINDOW_UPDATE grew the session window past 2^31 - 1".to_owned(),
                });
            }
            return Ok(());
        }
        let stream = lock(&self.session).streams.get(&update.stream_id).cloned();
        let Some(stream) = stream else {
            return Ok(());
        };
        let overflow = {
            let mut state = lock(&stream.state);
            state.send_window = state.send_window.saturating_add(delta);
            state.send_window > MAX_WINDOW
        };
        if overflow {
            let status = RstStatus::FLOW_CONTROL_ERROR;
            let waker = lock(&stream.state).end_all(&End::LocalReset(status));
            stream.wake_all(waker);
            self.push_answer(rst(update.stream_id, status));
            self.retire_if_done(&stream);
        }
        Ok(())
    }
}

/// An RST_STREAM frame.
fn rst(stream_id: StreamId, status: RstStatus) -> Frame {
    Frame::RstStream(RstStream { stream_id, status })
}

/// Checks that headers fit the limits (and so will encode), before anything is queued: an
/// encoding failure in the writer would lose the compression context and the connection.
pub(crate) fn check_headers(headers: &HeaderBlock, config: &ConnectionConfig) -> Result<(), Error> {
    let limits = &config.limits;
    let too_large = |reason: String| Err(Error::HeadersTooLarge { reason });
    if headers.len() > limits.max_headers as usize {
        return too_large(format!(
            "{} headers, more than {}",
            headers.len(),
            limits.max_headers
        ));
    }
    let mut total: usize = 4;
    for header in headers {
        if header.name().len() > limits.max_header_name_len as usize {
            return too_large(format!(
                "header name {:?} is longer than {} bytes",
                header.name(),
                limits.max_header_name_len
            ));
        }
        if header.value().len() > limits.max_header_value_len as usize {
            return too_large(format!(
                "header {:?} has a value longer than {} bytes",
                header.name(),
                limits.max_header_value_len
            ));
        }
        total += 8 + header.name().len() + header.value().len();
    }
    // zlib can grow incompressible input by a little; leave room for it and the fixed fields.
    let worst_compressed = total + total / 64 + 64;
    let block_max = limits.max_header_block_len as usize;
    let frame_max = (limits.max_control_frame_len as usize).saturating_sub(10);
    if total > block_max || worst_compressed > frame_max {
        return too_large(format!(
            "a {total}-byte header block, more than fits in one frame ({} bytes)",
            block_max.min(frame_max.saturating_sub(frame_max / 64 + 64))
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_limits_are_checked_before_queueing() {
        let config = ConnectionConfig::default();
        let many = (0..101).try_fold(HeaderBlock::new(), |block, i| {
            block.with(&format!("h{i}"), "v")
        });
        let long_name = HeaderBlock::new().with(&"n".repeat(257), "v");
        let long_value = HeaderBlock::new().with("v", vec![b'x'; 64 * 1024 + 1]);
        let big_block = (0..20).try_fold(HeaderBlock::new(), |block, i| {
            block.with(&format!("h{i}"), vec![b'x'; 4000])
        });
        let cases = [
            ("kubectl's headers", StreamTypeHeaders::ok(), true),
            ("101 headers", many, false),
            ("a 257-byte name", long_name, false),
            ("a 64 KiB + 1 value", long_value, false),
            ("80 KB in all, over one control frame", big_block, false),
        ];
        for (name, block, ok) in cases {
            let block = block.expect("valid header block");
            assert_eq!(check_headers(&block, &config).is_ok(), ok, "{name}");
        }
    }

    /// kubectl's port-forward headers.
    struct StreamTypeHeaders;

    impl StreamTypeHeaders {
        fn ok() -> Result<HeaderBlock, jitgate_wire::spdy::SpdyError> {
            HeaderBlock::new()
                .with("streamtype", "data")?
                .with("port", "8080")?
                .with("requestid", "0")
        }
    }

    #[test]
    fn stream_errors_name_the_stream_and_status() {
        let id = StreamId::new(5).expect("31 bits");
        let text = End::PeerReset(RstStatus::CANCEL).error(id).to_string();
        assert!(
            text.contains("stream 5") && text.contains("CANCEL"),
            "{text}"
        );
        let text = End::LocalReset(RstStatus(99)).error(id).to_string();
        assert!(text.contains("status 99"), "{text}");
        assert!(matches!(End::Fin.error(id), Error::AlreadyFinished { .. }));
        assert!(matches!(
            End::NotProcessed.error(id),
            Error::StreamNotProcessed { .. }
        ));
    }
}
