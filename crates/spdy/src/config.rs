//! The limits and settings of one SPDY connection: which side it is, how much it buffers, when
//! it refuses.

use std::time::Duration;

use jitgate_wire::spdy::Limits;

/// The default largest DATA frame accepted: 1 MiB.
const MAX_DATA_FRAME_LEN: u32 = 1024 * 1024;

/// Which side of the SPDY session this end is (SPDY/3.1 §2.3.2): clients open odd stream ids
/// and ping with odd ids, servers use even ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The side that sent the HTTP upgrade (kubectl; the gateway towards kube-apiserver).
    Client,
    /// The side that answered `101 Switching Protocols` (kube-apiserver; the gateway towards
    /// kubectl).
    Server,
}

impl Role {
    /// The first stream id (and ping id) this side uses.
    pub(crate) const fn first_id(self) -> u32 {
        match self {
            Role::Client => 1,
            Role::Server => 2,
        }
    }

    /// Whether `id` has this side's parity.
    pub(crate) const fn owns(self, id: u32) -> bool {
        id % 2 == self.first_id() % 2
    }
}

/// Settings of one connection. [`ConnectionConfig::default`] fits Kubernetes exec, attach and
/// port-forward.
///
/// Memory per connection is bounded by `max_queued_send_bytes`, plus `max_concurrent_streams`
/// × (`max_stream_buffer` + one DATA frame of at most `limits.max_data_frame_len`) received,
/// plus one frame in the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// Frame and header limits, enforced on what the peer sends and on what we send. The
    /// default is `Limits::DEFAULT` with DATA frames of at most 1 MiB (spdystream writes one
    /// frame per `Write`, and Kubernetes copies with 32 KiB buffers), since a stream can hold one
    /// frame beyond its buffer.
    pub limits: Limits,
    /// Most streams open at once, counting both sides' streams. A SYN_STREAM beyond it is
    /// answered with RST_STREAM(REFUSED_STREAM); `open_stream` beyond it fails. Default 128.
    pub max_concurrent_streams: u32,
    /// Most bytes received on one stream and not yet read by the application. When a stream's
    /// buffer is full the connection stops reading its socket until the application reads
    /// (head-of-line blocking: every stream of the connection waits). Default 256 KiB.
    pub max_stream_buffer: usize,
    /// Most DATA payload bytes queued for the socket across all streams; `send` waits beyond it.
    /// Default 2 MiB.
    pub max_queued_send_bytes: usize,
    /// Largest DATA frame we send; longer `send`s are split. Default 64 KiB.
    pub max_send_frame_len: usize,
    /// Close the connection (resetting every stream) after this long without a frame read or
    /// written, as moby/spdystream's `SetIdleTimeout` does. Default: none.
    pub idle_timeout: Option<Duration>,
    /// When to return receive window to the peer with WINDOW_UPDATE. Default
    /// [`WindowUpdates::WhenPeerDoes`].
    pub window_updates: WindowUpdates,
}

/// When a connection sends WINDOW_UPDATE (SPDY/3.1 §2.6.8) for data the application consumed.
///
/// moby/spdystream ignores WINDOW_UPDATE, and frames it does not need are not harmless: when
/// kube-apiserver or the kubelet close the connection at the end of an exec while one of our
/// WINDOW_UPDATEs sits unread in their socket, their kernel answers with a TCP reset, and the
/// reset discards the last stdout bytes, RST_STREAMs and GOAWAY still unread in *our* socket
/// (seen against the sandbox in about half of the runs of a 100 KB `cat`). So by default a
/// connection stays as quiet as spdystream is, until the peer shows it does flow control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WindowUpdates {
    /// Never send WINDOW_UPDATE.
    Never,
    /// Send WINDOW_UPDATE once the peer has sent SETTINGS or WINDOW_UPDATE, which spdystream
    /// never does (and conformant SPDY stacks do at the start of a session). Data consumed
    /// before that is not credited.
    #[default]
    WhenPeerDoes,
    /// Always send WINDOW_UPDATE as data is consumed (every half window, 32 KiB).
    Always,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            limits: Limits {
                max_data_frame_len: MAX_DATA_FRAME_LEN,
                ..Limits::DEFAULT
            },
            max_concurrent_streams: 128,
            max_stream_buffer: 256 * 1024,
            max_queued_send_bytes: 2 * 1024 * 1024,
            max_send_frame_len: 64 * 1024,
            idle_timeout: None,
            window_updates: WindowUpdates::default(),
        }
    }
}

impl ConnectionConfig {
    /// The configuration with every size at least 1 and the send frame within the limits, so a
    /// careless value cannot stall the connection.
    pub(crate) fn sanitized(mut self) -> ConnectionConfig {
        self.max_concurrent_streams = self.max_concurrent_streams.max(1);
        self.max_stream_buffer = self.max_stream_buffer.max(1);
        self.max_send_frame_len = self
            .max_send_frame_len
            .clamp(1, self.limits.max_data_frame_len.max(1) as usize);
        // A send of one full frame must always fit in the queue, or it would wait forever.
        self.max_queued_send_bytes = self.max_queued_send_bytes.max(self.max_send_frame_len);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_own_their_parity() {
        for (role, id, owns) in [
            (Role::Client, 1, true),
            (Role::Client, 2, false),
            (Role::Server, 2, true),
            (Role::Server, 7, false),
        ] {
            assert_eq!(role.owns(id), owns, "{role:?} {id}");
        }
        assert_eq!(Role::Client.first_id(), 1);
        assert_eq!(Role::Server.first_id(), 2);
    }

    #[test]
    fn careless_sizes_are_made_workable() {
        let config = ConnectionConfig {
            max_concurrent_streams: 0,
            max_stream_buffer: 0,
            max_queued_send_bytes: 10,
            max_send_frame_len: usize::MAX,
            ..ConnectionConfig::default()
        }
        .sanitized();
        assert_eq!(config.max_concurrent_streams, 1);
        assert_eq!(config.max_stream_buffer, 1);
        assert_eq!(
            config.max_send_frame_len,
            1024 * 1024,
            "within the frame limit"
        );
        assert_eq!(
            config.max_queued_send_bytes,
            1024 * 1024,
            "one frame always fits"
        );
    }
}
