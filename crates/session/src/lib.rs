//! The session core: what sits between kubectl's stream and the apiserver's once the gateway has
//! terminated the one and re-originated the other.
//!
//! A stream session has two **legs** — the client leg (kubectl, later also an SSH front door or
//! the web terminal) and the upstream leg (kube-apiserver) — and every leg, whatever its
//! transport, turns into the same [`ExecFrame`]s in both directions: WebSocket
//! `v5.channel.k8s.io` / `v4.channel.k8s.io` / `v4.base64.channel.k8s.io` ([`websocket`]) or
//! SPDY/3.1 streams. The [`pump`] copies frames between the two legs, shows each one to the
//! session's [`Observer`] (the recorder and the exec guard attach there), counts bytes, and
//! ends the session when either side ends or when it is cut: the client then gets a `Status`
//! failure on the error channel saying why, and both legs are closed.
//!
//! | module | what |
//! | --- | --- |
//! | [`frame`] | [`ExecFrame`], the transport-independent unit of an exec/attach session |
//! | [`leg`] | [`Leg`]: a transport's two directions as channels of frames, and how it ends |
//! | [`websocket`] | legs over the WebSocket channel protocol (RFC 6455 + `k8s.io/streaming` wsstream), either role |
//! | [`spdy`] | legs over SPDY/3.1 remotecommand streams (`k8s.io/cri-streaming` remotecommand, client-go `tools/remotecommand`), either role |
//! | [`handshake`] | the HTTP/1.1 upgrade: choosing the subprotocol, `Sec-WebSocket-Accept` (RFC 6455 §4.2.2) |
//! | [`pump`] | the session core: copy, observe, count, cut |
//! | [`record`] | the recorder: every frame of an exec/attach session into an asciicast v2 file; no recording, no session |
//! | [`portforward`] | port-forward sessions: one upstream stream pair per forwarded connection, ports checked, cut with a message |

#![forbid(unsafe_code)]

pub mod frame;
pub mod handshake;
pub mod leg;
pub mod portforward;
pub mod pump;
pub mod record;
pub mod spdy;
pub mod websocket;

mod error;

pub use error::SessionError;
pub use frame::ExecFrame;
pub use leg::{Leg, LegEnd};
pub use pump::{CutReason, Observer, SessionInfo, SessionKind, SessionSummary, Verdict, pump};
