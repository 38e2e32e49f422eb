//! The queue of frames waiting for the connection's writer task, so every stream and the
//! reader can hand frames over without touching the socket, and the writer can coalesce them
//! into one write.
//!
//! Three queues, drained in this order each time the writer wakes:
//! - answers: frames the reader queues in reply to the peer (PING echoes, RST_STREAM refusals),
//!   bounded so a peer that does not read cannot make them grow without end;
//! - window credit: WINDOW_UPDATE deltas merged per stream, so however much is consumed it is
//!   at most one pending frame per stream;
//! - frames: everything the application sends, in order (SYN_STREAM ids therefore leave in
//!   increasing order, and a stream's DATA never overtakes its SYN_STREAM, SYN_REPLY or
//!   RST_STREAM).

use std::collections::VecDeque;

use jitgate_wire::spdy::{Frame, StreamId, WindowUpdate};

/// Most answers queued before the reader stops reading until the writer has written them;
/// if it cannot within a few seconds, the peer is judged not to read them.
pub(crate) const MAX_PENDING_ANSWERS: usize = 1024;

/// Frames waiting to be written.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    answers: VecDeque<Frame>,
    credit: Vec<(StreamId, u32)>,
    frames: VecDeque<Frame>,
    /// Bytes consumed (or discarded) on the session and not yet credited.
    session_consumed: u32,
    /// The writer should write what is queued, shut the socket's write side and stop.
    finish: bool,
}

/// One batch taken by the writer.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) frames: VecDeque<Frame>,
    pub(crate) finish: bool,
}

impl Outbox {
    /// Queues an answer to the peer.
    pub(crate) fn push_answer(&mut self, frame: Frame) {
        self.answers.push_back(frame);
    }

    /// How many answers wait to be written.
    pub(crate) fn answers_pending(&self) -> usize {
        self.answers.len()
    }

    /// Queues a frame of the application's.
    pub(crate) fn push(&mut self, frame: Frame) {
        self.frames.push_back(frame);
    }

    /// Adds `delta` bytes of receive credit for `stream` (0: the session).
    pub(crate) fn add_credit(&mut self, stream: StreamId, delta: u32) {
        if delta == 0 {
            return;
        }
        match self.credit.iter_mut().find(|(id, _)| *id == stream) {
            Some((_, pending)) => *pending = pending.saturating_add(delta).min(MAX_DELTA),
            None => self.credit.push((stream, delta.min(MAX_DELTA))),
        }
    }

    /// Adds consumed bytes to the session credit, queueing the session's WINDOW_UPDATE once
    /// `threshold` has built up. Returns whether one was queued.
    pub(crate) fn add_session_consumed(&mut self, len: usize, threshold: u32) -> bool {
        self.session_consumed = self
            .session_consumed
            .saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
        if self.session_consumed >= threshold {
            let delta = std::mem::take(&mut self.session_consumed);
            self.add_credit(StreamId::ZERO, delta);
            true
        } else {
            false
        }
    }

    /// Asks the writer to stop once everything queued is written.
    pub(crate) fn finish(&mut self) {
        self.finish = true;
    }

    /// Whether there is anything for the writer to do.
    #[cfg(test)]
    pub(crate) fn is_idle(&self) -> bool {
        self.answers.is_empty() && self.credit.is_empty() && self.frames.is_empty() && !self.finish
    }

    /// Moves everything queued into `batch` (whose queue must be empty), answers first.
    pub(crate) fn take_into(&mut self, batch: &mut Batch) {
        batch.frames.append(&mut self.answers);
        for (stream_id, delta) in self.credit.drain(..) {
            batch
                .frames
                .push_back(Frame::WindowUpdate(WindowUpdate { stream_id, delta }));
        }
        if batch.frames.is_empty() {
            std::mem::swap(&mut batch.frames, &mut self.frames);
        } else {
            batch.frames.append(&mut self.frames);
        }
        batch.finish = self.finish;
    }
}

/// The largest WINDOW_UPDATE delta, 2^31 - 1 (§2.6.8).
const MAX_DELTA: u32 = 0x7fff_ffff;

#[cfg(test)]
mod tests {
    use jitgate_wire::spdy::{DataFrame, Ping};

    use super::*;

    fn id(n: u32) -> StreamId {
        StreamId::new(n).expect("31 bits")
    }

    #[test]
    fn answers_then_credit_then_frames_in_order() {
        let mut outbox = Outbox::default();
        for n in [1, 3] {
            outbox.push(Frame::Data(DataFrame {
                stream_id: id(n),
                fin: false,
                data: bytes::Bytes::from_static(b"x"),
            }));
        }
        outbox.add_credit(id(5), 10);
        outbox.add_credit(id(5), 20);
        outbox.add_credit(StreamId::ZERO, 7);
        outbox.push_answer(Frame::Ping(Ping { id: 2 }));
        let mut batch = Batch::default();
        outbox.take_into(&mut batch);
        let kinds: Vec<String> = batch
            .frames
            .iter()
            .map(|f| match f {
                Frame::Ping(p) => format!("ping {}", p.id),
                Frame::WindowUpdate(w) => format!("credit {} {}", w.stream_id, w.delta),
                Frame::Data(d) => format!("data {}", d.stream_id),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            ["ping 2", "credit 5 30", "credit 0 7", "data 1", "data 3"]
        );
        assert!(outbox.is_idle());
    }

    #[test]
    fn answers_are_counted() {
        let mut outbox = Outbox::default();
        for n in 0..MAX_PENDING_ANSWERS {
            outbox.push_answer(Frame::Ping(Ping { id: n as u32 }));
        }
        assert_eq!(outbox.answers_pending(), MAX_PENDING_ANSWERS);
        outbox.take_into(&mut Batch::default());
        assert_eq!(outbox.answers_pending(), 0);
    }

    #[test]
    fn credit_saturates_at_the_largest_delta() {
        let mut outbox = Outbox::default();
        outbox.add_credit(id(1), MAX_DELTA);
        outbox.add_credit(id(1), 5);
        outbox.add_credit(id(1), 0);
        let mut batch = Batch::default();
        outbox.take_into(&mut batch);
        assert_eq!(
            batch.frames.into_iter().collect::<Vec<_>>(),
            [Frame::WindowUpdate(WindowUpdate {
                stream_id: id(1),
                delta: MAX_DELTA
            })]
        );
    }
}
