//! Flow-control windows as pure state (SPDY/3.1 §2.6.8): one pair per stream, plus one pair for
//! the whole session (stream id 0 in WINDOW_UPDATE, new in 3.1).
//!
//! Both stream and session windows start at 64 KiB. SETTINGS_INITIAL_WINDOW_SIZE changes the
//! initial size of *stream* windows, including open ones (by the difference); it never changes
//! the session window.
//!
//! Note: moby/spdystream, the SPDY stack of kubectl and the kubelet, neither sends WINDOW_UPDATE
//! nor honours it. A peer that speaks for kubectl must therefore not block on a [`SendWindow`]
//! towards it; these types serve peers that do implement flow control, and accounting.

use super::SpdyError;

/// The initial stream and session window, 64 KiB (§2.6.8).
pub const DEFAULT_INITIAL_WINDOW_SIZE: u32 = 65_536;

/// The largest a window may grow, 2^31 - 1 (§2.6.8).
pub const MAX_WINDOW_SIZE: u32 = 0x7fff_ffff;

/// How much we may still send: shrinks with every DATA payload we send, grows with every
/// WINDOW_UPDATE the peer sends. It can go negative when the peer lowers the initial window size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    window: i64,
}

impl Default for SendWindow {
    fn default() -> Self {
        SendWindow::new(DEFAULT_INITIAL_WINDOW_SIZE)
    }
}

impl SendWindow {
    /// A window of `initial` bytes.
    pub const fn new(initial: u32) -> SendWindow {
        SendWindow {
            window: initial as i64,
        }
    }

    /// How many bytes may be sent now (0 if the window is exhausted or negative).
    pub fn available(&self) -> u32 {
        u32::try_from(self.window.clamp(0, i64::from(MAX_WINDOW_SIZE))).unwrap_or(0)
    }

    /// Accounts for a DATA payload of `len` bytes about to be sent.
    ///
    /// # Errors
    /// [`SpdyError::FlowControlWindowExceeded`] if `len` is more than [`SendWindow::available`]:
    /// send less, or wait for a WINDOW_UPDATE.
    pub fn consume(&mut self, len: u32) -> Result<(), SpdyError> {
        let available = self.available();
        if len > available {
            return Err(SpdyError::FlowControlWindowExceeded { len, available });
        }
        self.window -= i64::from(len);
        Ok(())
    }

    /// Applies a WINDOW_UPDATE from the peer.
    ///
    /// # Errors
    /// [`SpdyError::FlowControlOverflow`] if the window would pass 2^31 - 1: §2.6.8 says reset
    /// the stream (or, for the session window, end the session) with FLOW_CONTROL_ERROR.
    pub fn on_window_update(&mut self, delta: u32) -> Result<(), SpdyError> {
        self.grow(i64::from(delta))
    }

    /// Applies a change of SETTINGS_INITIAL_WINDOW_SIZE from `old` to `new` to a stream window.
    ///
    /// # Errors
    /// [`SpdyError::FlowControlOverflow`] if the window would pass 2^31 - 1.
    pub fn on_initial_window_size_change(&mut self, old: u32, new: u32) -> Result<(), SpdyError> {
        self.grow(i64::from(new) - i64::from(old))
    }

    fn grow(&mut self, delta: i64) -> Result<(), SpdyError> {
        let window = self.window + delta;
        if window > i64::from(MAX_WINDOW_SIZE) {
            return Err(SpdyError::FlowControlOverflow);
        }
        self.window = window;
        Ok(())
    }
}

/// How much the peer may still send us, and when to give it more credit.
///
/// Call [`RecvWindow::on_data`] for each DATA payload received and [`RecvWindow::release`] when
/// the bytes have been passed on; `release` says when to send a WINDOW_UPDATE (once half the
/// window is waiting to be returned, so small reads do not cause a frame each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvWindow {
    size: u32,
    window: u32,
    released: u32,
}

impl Default for RecvWindow {
    fn default() -> Self {
        RecvWindow::new(DEFAULT_INITIAL_WINDOW_SIZE)
    }
}

impl RecvWindow {
    /// A window of `size` bytes (at most 2^31 - 1).
    pub const fn new(size: u32) -> RecvWindow {
        let size = if size > MAX_WINDOW_SIZE {
            MAX_WINDOW_SIZE
        } else {
            size
        };
        RecvWindow {
            size,
            window: size,
            released: 0,
        }
    }

    /// How many more bytes the peer may send before it must wait.
    pub const fn available(&self) -> u32 {
        self.window
    }

    /// Accounts for a DATA payload of `len` bytes from the peer.
    ///
    /// # Errors
    /// [`SpdyError::FlowControlWindowExceeded`] if the peer sent more than its window: §2.6.8
    /// says reset the stream with FLOW_CONTROL_ERROR.
    pub fn on_data(&mut self, len: u32) -> Result<(), SpdyError> {
        if len > self.window {
            return Err(SpdyError::FlowControlWindowExceeded {
                len,
                available: self.window,
            });
        }
        self.window -= len;
        Ok(())
    }

    /// Records that `len` received bytes were consumed. Returns the delta of the WINDOW_UPDATE to
    /// send now, if one is due.
    pub fn release(&mut self, len: u32) -> Option<u32> {
        let outstanding = self.size - self.window - self.released;
        self.released += len.min(outstanding);
        if self.released == 0 || self.released < self.size.div_ceil(2) {
            return None;
        }
        let delta = self.released;
        self.window += delta;
        self.released = 0;
        Some(delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_window_blocks_then_reopens() {
        let mut window = SendWindow::default();
        window.consume(60_000).expect("fits");
        assert_eq!(window.available(), 5_536);
        assert!(matches!(
            window.consume(6_000),
            Err(SpdyError::FlowControlWindowExceeded {
                len: 6_000,
                available: 5_536
            })
        ));
        window.on_window_update(60_000).expect("fits");
        assert_eq!(window.available(), 65_536);
    }

    #[test]
    fn send_window_can_go_negative_after_settings() {
        let mut window = SendWindow::default();
        window.consume(50_000).expect("fits");
        window
            .on_initial_window_size_change(65_536, 1_000)
            .expect("shrinks");
        assert_eq!(window.available(), 0);
        window.on_window_update(50_000).expect("grows");
        assert_eq!(window.available(), 1_000);
    }

    #[test]
    fn send_window_refuses_overflow() {
        let mut window = SendWindow::new(MAX_WINDOW_SIZE);
        assert!(matches!(
            window.on_window_update(1),
            Err(SpdyError::FlowControlOverflow)
        ));
        assert_eq!(window.available(), MAX_WINDOW_SIZE);
    }

    #[test]
    fn recv_window_updates_at_half_and_refuses_overrun() {
        let mut window = RecvWindow::default();
        window.on_data(40_000).expect("fits");
        assert_eq!(window.release(20_000), None);
        assert_eq!(window.release(20_000), Some(40_000));
        assert_eq!(window.available(), 65_536);
        assert!(matches!(
            window.on_data(65_537),
            Err(SpdyError::FlowControlWindowExceeded { .. })
        ));
        // Releasing bytes never received gives no credit.
        let mut fresh = RecvWindow::default();
        assert_eq!(fresh.release(1_000_000), None);
        assert_eq!(fresh.available(), 65_536);
    }
}
