//! Legs over the WebSocket channel protocol (`v5.channel.k8s.io`, `v4.channel.k8s.io`,
//! `v4.base64.channel.k8s.io`; `k8s.io/streaming` wsstream, client-go
//! `tools/remotecommand/websocket.go`), as the server towards kubectl or as the client towards
//! the apiserver.
//!
//! Every data message is `[channel][payload]` (base64 protocols: text, `'0'+channel`, base64
//! payload); v5 adds the close signal `[255][channel]`. A message with a channel and no payload
//! is legal (the apiserver sends one on stdout when the session is up) and is passed on. Pings
//! are answered by the WebSocket layer; as the client, the leg also pings every
//! [`PING_INTERVAL`] so idle sessions stay up through proxies, as client-go does.
//!
//! As the server towards kubectl, the leg holds its first message back until kubectl has sent
//! one or [`CLIENT_SETTLE`] has passed. client-go without kubernetes#131203 (merged in April 2025, for 1.34) starts reading
//! the connection before it has registered its streams, and drops — "Unknown stream id 3,
//! discarding message" — whatever arrives in between: a fast command's exit status is lost and
//! kubectl fails with "closed all streams". The gateway opens the apiserver's stream before it
//! answers kubectl, so a short command's output can follow the `101` at once; the hold gives
//! kubectl the time its own registration takes. kubectl sends stdin and terminal sizes only once
//! its streams exist, so an interactive session is released by its first keystroke or resize;
//! kubectl ≥ 1.34 is not held at all ([`client_settle`]).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use jitgate_wire::channel::{ChannelCodec, ChannelMessage, ChannelProtocol, MessageKind};
use jitgate_wire::remotecommand::{ResizeDecoder, StreamType};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::leg::{LEG_QUEUE, Leg, Side};
use crate::{ExecFrame, SessionError};

/// How often the client role pings the server.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);

/// How long the leg towards kubectl holds its first message back when kubectl sends nothing
/// (an exec without stdin): about the cushion kubectl has when it talks to the apiserver
/// directly (the apiserver reaches the kubelet and starts the command after its `101`), with
/// margin for a busy machine (see the module docs). [`client_settle`] drops it for kubectl
/// releases that no longer need it.
pub const CLIENT_SETTLE: Duration = Duration::from_millis(30);

/// The first kubectl minor release whose client-go registers its streams before it reads
/// (kubernetes#131203).
pub const FIRST_KUBECTL_WITHOUT_RACE: (u32, u32) = (1, 34);

/// The hold for a client with this `User-Agent`: none for kubectl ≥ 1.34 (client-go's default
/// agent, `kubectl[suffix]/v1.34.0 (linux/amd64) kubernetes/…`), [`CLIENT_SETTLE`] for older
/// kubectl and for any client whose version cannot be told — the hold costs a few
/// milliseconds, a lost exit status costs a failed command.
pub fn client_settle(user_agent: Option<&str>) -> Duration {
    match user_agent.and_then(kubectl_version) {
        Some(version) if version >= FIRST_KUBECTL_WITHOUT_RACE => Duration::ZERO,
        _ => CLIENT_SETTLE,
    }
}

/// `(major, minor)` from a kubectl `User-Agent`; `None` for anything else.
fn kubectl_version(user_agent: &str) -> Option<(u32, u32)> {
    let product = user_agent.split_whitespace().next()?;
    let (name, version) = product.split_once('/')?;
    if !name.starts_with("kubectl") {
        return None;
    }
    let mut parts = version.strip_prefix('v')?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The largest WebSocket message a leg accepts (a frame of stdin or of output).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;

/// The WebSocket subprotocols of exec and attach this crate speaks, most preferred first.
pub const EXEC_PROTOCOLS: [ChannelProtocol; 3] = [
    ChannelProtocol::V5Channel,
    ChannelProtocol::V4Channel,
    ChannelProtocol::V4Base64Channel,
];

/// Starts a leg on an upgraded connection that already switched to WebSocket with `protocol`.
/// `side` says which end of the session it is: [`Side::Client`] serves kubectl (WebSocket
/// server role; its first message is held for [`CLIENT_SETTLE`]), [`Side::Upstream`] talks to
/// the apiserver (client role, masking its frames).
pub async fn leg<S>(io: S, side: Side, protocol: ChannelProtocol) -> Leg
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settle = match side {
        Side::Client => CLIENT_SETTLE,
        Side::Upstream => Duration::ZERO,
    };
    leg_with_settle(io, side, protocol, settle).await
}

/// [`leg`] with the hold of the first outgoing message chosen by the caller ([`client_settle`]
/// for kubectl); the hold ends early once the peer has sent a data message.
pub async fn leg_with_settle<S>(
    io: S,
    side: Side,
    protocol: ChannelProtocol,
    settle: Duration,
) -> Leg
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let role = match side {
        Side::Client => Role::Server,
        Side::Upstream => Role::Client,
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_LEN + 1))
        .max_frame_size(Some(MAX_MESSAGE_LEN + 1));
    let ws = WebSocketStream::from_raw_socket(io, role, Some(config)).await;
    let (mut sink, mut source) = ws.split();
    let codec = ChannelCodec::new(protocol).with_max_payload_len(MAX_MESSAGE_LEN);
    let (in_tx, in_rx) = mpsc::channel::<ExecFrame>(LEG_QUEUE);
    let (out_tx, mut out_rx) = mpsc::channel::<ExecFrame>(LEG_QUEUE);
    // Set once the peer has sent a data message: its streams exist (see CLIENT_SETTLE).
    let peer_spoke = Arc::new(Notify::new());
    let heard = Arc::clone(&peer_spoke);

    let reader = tokio::spawn(async move {
        let mut resize = ResizeDecoder::new();
        while let Some(message) = source.next().await {
            let message = message.map_err(SessionError::WebSocket)?;
            let payload = match message {
                Message::Binary(b) => b,
                Message::Text(t) => Bytes::copy_from_slice(t.as_bytes()),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            heard.notify_one();
            let Some(decoded) = decode(&codec, &payload)? else {
                continue;
            };
            for frame in to_frames(decoded, &mut resize)? {
                if !side.may_receive(&frame) {
                    return Err(SessionError::WrongDirection {
                        what: frame.describe(),
                    });
                }
                if in_tx.send(frame).await.is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    });

    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await;
        if !settle.is_zero() {
            tokio::select! {
                () = peer_spoke.notified() => {}
                () = tokio::time::sleep(settle) => {}
            }
        }
        loop {
            let frame = tokio::select! {
                frame = out_rx.recv() => frame,
                _ = ping.tick(), if side == Side::Upstream => {
                    sink.send(Message::Ping(Bytes::new())).await.map_err(SessionError::WebSocket)?;
                    continue;
                }
            };
            let Some(frame) = frame else { break };
            if let Some(message) = encode(&codec, frame)? {
                sink.feed(message).await.map_err(SessionError::WebSocket)?;
            }
            // Write everything already queued in one go, then flush once.
            while let Ok(frame) = out_rx.try_recv() {
                if let Some(message) = encode(&codec, frame)? {
                    sink.feed(message).await.map_err(SessionError::WebSocket)?;
                }
            }
            sink.flush().await.map_err(SessionError::WebSocket)?;
        }
        let bye = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        // The peer may already be gone; that is not an error of this session.
        let _ = sink.send(Message::Close(Some(bye))).await;
        let _ = sink.close().await;
        Ok(())
    });
    Leg::new(protocol.name(), in_rx, out_tx, reader, writer)
}

/// Decodes a message, slicing binary payloads instead of copying them.
fn decode(codec: &ChannelCodec, payload: &Bytes) -> Result<Option<ChannelMessage>, SessionError> {
    let protocol = codec.protocol();
    if !protocol.is_base64()
        && payload.len() > 1
        && !(protocol.has_close_signal() && payload[0] == jitgate_wire::channel::CLOSE_CHANNEL)
    {
        if payload.len() - 1 > MAX_MESSAGE_LEN {
            return Err(SessionError::Protocol(
                jitgate_wire::StreamError::MessageTooLarge {
                    len: payload.len() - 1,
                    max: MAX_MESSAGE_LEN,
                },
            ));
        }
        return Ok(Some(ChannelMessage::Data {
            channel: payload[0],
            payload: payload.slice(1..),
        }));
    }
    codec.decode(payload).map_err(SessionError::Protocol)
}

fn to_frames(
    message: ChannelMessage,
    resize: &mut ResizeDecoder,
) -> Result<Vec<ExecFrame>, SessionError> {
    let unknown = || SessionError::WrongDirection {
        what: "a message on a channel exec and attach do not have",
    };
    match message {
        ChannelMessage::Close { channel } => {
            let stream = StreamType::from_channel(channel).ok_or_else(unknown)?;
            Ok(vec![ExecFrame::Close(stream)])
        }
        ChannelMessage::Data { channel, payload } => {
            match StreamType::from_channel(channel).ok_or_else(unknown)? {
                StreamType::Resize => Ok(resize
                    .push(&payload)
                    .map_err(SessionError::Protocol)?
                    .into_iter()
                    .map(ExecFrame::Resize)
                    .collect()),
                StreamType::Error => Ok(vec![ExecFrame::Error(payload)]),
                data => Ok(vec![ExecFrame::Data(data, payload)]),
            }
        }
    }
}

/// The message for a frame; `None` for what the protocol cannot say (the close signal before
/// v5: the peer then learns of the end only when the connection closes).
fn encode(codec: &ChannelCodec, frame: ExecFrame) -> Result<Option<Message>, SessionError> {
    let protocol = codec.protocol();
    let message = match frame {
        ExecFrame::Data(stream, payload) => ChannelMessage::Data {
            channel: stream.channel(),
            payload,
        },
        ExecFrame::Error(payload) => ChannelMessage::Data {
            channel: StreamType::Error.channel(),
            payload,
        },
        ExecFrame::Resize(size) => ChannelMessage::Data {
            channel: StreamType::Resize.channel(),
            payload: Bytes::from(size.to_json_line()),
        },
        ExecFrame::Close(stream) => {
            if !protocol.has_close_signal() {
                return Ok(None);
            }
            ChannelMessage::Close {
                channel: stream.channel(),
            }
        }
    };
    let bytes = codec.encode(&message).map_err(SessionError::Protocol)?;
    Ok(Some(match protocol.message_kind() {
        MessageKind::Binary => Message::Binary(bytes),
        MessageKind::Text => match std::str::from_utf8(&bytes) {
            Ok(text) => Message::text(text.to_owned()),
            Err(_) => {
                return Err(SessionError::NotExpressible {
                    what: "a non-text base64 message",
                    protocol: protocol.name(),
                });
            }
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_before_1_34_and_unknown_clients_are_held_and_newer_kubectl_is_not() {
        let held = [
            Some("kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0"),
            Some("kubectl.1.31/v1.31.4 (linux/amd64) kubernetes/a78aa47"),
            Some("kubectl/v1.30.0-gke.100 (darwin/arm64) kubernetes/abc"),
            Some("my-operator/v0.0.0 (linux/amd64) kubernetes/$Format"),
            Some("kubectl/vbroken"),
            Some("kubectl"),
            Some(""),
            None,
        ];
        for agent in held {
            assert_eq!(client_settle(agent), CLIENT_SETTLE, "{agent:?}");
        }
        for agent in [
            "kubectl/v1.34.0 (linux/amd64) kubernetes/1234567",
            "kubectl.1.35/v1.35.2 (linux/amd64) kubernetes/1234567",
            "kubectl/v2.0.0 (linux/amd64) kubernetes/1234567",
        ] {
            assert_eq!(client_settle(Some(agent)), Duration::ZERO, "{agent}");
        }
    }
}
