//! I/O-free codecs for the streaming protocols kubectl speaks to kube-apiserver for exec, attach,
//! cp and port-forward, so the jitgate gateway can terminate a stream, look inside it and
//! re-originate it upstream.
//!
//! Nothing here reads or writes a socket: decoders take bytes as they arrive and return values,
//! encoders append bytes to a buffer. Every size that comes from the peer is bounded, and no input
//! can make them panic (`fuzz/` holds the targets that check it).
//!
//! | module | protocol | specification |
//! | --- | --- | --- |
//! | [`spdy`] | SPDY/3.1 framing | SPDY Protocol Draft 3.1 §2.2, §2.3.1, §2.4.1, §2.6.1–§2.6.8; Draft 3 §2.6.10 and §2.6.10.1 (header blocks and their compression, unchanged in 3.1) |
//! | [`upgrade`] | the HTTP/1.1 upgrade and subprotocol choice | `k8s.io/streaming/pkg/httpstream` (`X-Stream-Protocol-Version`); RFC 6455 §4 (`Sec-WebSocket-Protocol`) |
//! | [`remotecommand`] | exec/attach streams: `channel.k8s.io`, `v2`–`v5.channel.k8s.io` | `k8s.io/cri-streaming/pkg/streaming/remotecommand`, client-go `tools/remotecommand` |
//! | [`portforward`] | port-forward: `portforward.k8s.io` over SPDY, `?ports=` over WebSocket | `k8s.io/cri-streaming/pkg/streaming/portforward` |
//! | [`asciicast`] | session recordings: asciicast v2 header and events | <https://docs.asciinema.org/manual/asciicast/v2/> |
//! | [`channel`] | WebSocket channel messages: `v5.channel.k8s.io`, `v4.channel.k8s.io`, `v4.base64.channel.k8s.io`, and the unversioned pair | `k8s.io/streaming/pkg/httpstream/wsstream` |
//!
//! Errors: [`spdy::SpdyError`] for SPDY framing, [`StreamError`] for everything above it.

#![forbid(unsafe_code)]

pub mod asciicast;
pub mod channel;
mod error;
pub mod portforward;
pub mod remotecommand;
pub mod spdy;
pub mod upgrade;

pub use error::StreamError;
