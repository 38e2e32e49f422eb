//! The WebSocket channel protocol of exec, attach and plain port-forward
//! (`k8s.io/streaming/pkg/httpstream/wsstream`): every WebSocket message belongs to one channel.
//!
//! - Binary framing (`channel.k8s.io`, `v4.channel.k8s.io`, `v5.channel.k8s.io`): a binary
//!   message whose first byte is the channel and whose rest is the payload.
//! - Base64 framing (`base64.channel.k8s.io`, `v4.base64.channel.k8s.io`): a text message whose
//!   first character is `'0' + channel` and whose rest is the payload in standard base64.
//! - v5 adds the close signal: channel 255 with one byte, the channel the sender will write no
//!   more to (stdin's EOF).
//!
//! Empty messages carry nothing and are skipped, as the kubelet does. Only the message payloads
//! are handled here; WebSocket framing itself (RFC 6455) belongs to a WebSocket library.
//! Channel numbers: [`crate::remotecommand::StreamType::channel`] for exec/attach,
//! [`crate::portforward::WebSocketPorts`] for port-forward.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{BufMut, Bytes, BytesMut};

use crate::StreamError;

/// The v5 close signal's channel byte.
pub const CLOSE_CHANNEL: u8 = 255;

/// Default largest payload, 16 MiB.
pub const DEFAULT_MAX_PAYLOAD_LEN: usize = 16 * 1024 * 1024;

/// Highest channel base64 framing can write while keeping the first character ASCII (`'0' + 79`).
pub const MAX_BASE64_CHANNEL: u8 = 79;

/// A WebSocket subprotocol of the channel family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelProtocol {
    /// `channel.k8s.io` (also what the kubelet assumes when no subprotocol is negotiated).
    Channel,
    /// `base64.channel.k8s.io`.
    Base64Channel,
    /// `v4.channel.k8s.io`.
    V4Channel,
    /// `v4.base64.channel.k8s.io`.
    V4Base64Channel,
    /// `v5.channel.k8s.io`: binary, with the close signal.
    V5Channel,
}

/// Whether a protocol's messages are binary or text WebSocket messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Opcode 0x2.
    Binary,
    /// Opcode 0x1.
    Text,
}

impl ChannelProtocol {
    /// All protocols, newest first (the order kubectl ≥ 1.30 offers for exec is v5, then v4).
    pub const ALL: [ChannelProtocol; 5] = [
        ChannelProtocol::V5Channel,
        ChannelProtocol::V4Channel,
        ChannelProtocol::V4Base64Channel,
        ChannelProtocol::Channel,
        ChannelProtocol::Base64Channel,
    ];

    /// The subprotocol name.
    pub const fn name(self) -> &'static str {
        match self {
            ChannelProtocol::Channel => "channel.k8s.io",
            ChannelProtocol::Base64Channel => "base64.channel.k8s.io",
            ChannelProtocol::V4Channel => "v4.channel.k8s.io",
            ChannelProtocol::V4Base64Channel => "v4.base64.channel.k8s.io",
            ChannelProtocol::V5Channel => "v5.channel.k8s.io",
        }
    }

    /// The protocol called `name`.
    pub fn from_name(name: &str) -> Option<ChannelProtocol> {
        ChannelProtocol::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether payloads are base64 in text messages.
    pub const fn is_base64(self) -> bool {
        matches!(
            self,
            ChannelProtocol::Base64Channel | ChannelProtocol::V4Base64Channel
        )
    }

    /// Whether channel 255 is the close signal.
    pub const fn has_close_signal(self) -> bool {
        matches!(self, ChannelProtocol::V5Channel)
    }

    /// The WebSocket message type to send.
    pub const fn message_kind(self) -> MessageKind {
        if self.is_base64() {
            MessageKind::Text
        } else {
            MessageKind::Binary
        }
    }
}

/// One decoded channel message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelMessage {
    /// Bytes for a channel (possibly none: the kubelet sends an empty stdout message to say the
    /// session is up).
    Data {
        /// The channel.
        channel: u8,
        /// The payload, base64 already decoded.
        payload: Bytes,
    },
    /// v5 only: the sender will write nothing more to `channel`.
    Close {
        /// The channel being closed.
        channel: u8,
    },
}

/// Encodes and decodes channel message payloads for one negotiated protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelCodec {
    protocol: ChannelProtocol,
    max_payload_len: usize,
}

impl ChannelCodec {
    /// A codec for `protocol` with [`DEFAULT_MAX_PAYLOAD_LEN`].
    pub const fn new(protocol: ChannelProtocol) -> ChannelCodec {
        ChannelCodec {
            protocol,
            max_payload_len: DEFAULT_MAX_PAYLOAD_LEN,
        }
    }

    /// The same codec with another payload limit.
    pub const fn with_max_payload_len(self, max_payload_len: usize) -> ChannelCodec {
        ChannelCodec {
            max_payload_len,
            ..self
        }
    }

    /// The protocol.
    pub const fn protocol(&self) -> ChannelProtocol {
        self.protocol
    }

    /// Decodes one WebSocket message's payload (text or binary alike, as the kubelet reads
    /// both). `Ok(None)` for an empty message, which carries nothing.
    ///
    /// # Errors
    /// A malformed close signal, a base64 message whose first byte names no channel or whose
    /// payload is not base64, or a payload over the limit.
    pub fn decode(&self, message: &[u8]) -> Result<Option<ChannelMessage>, StreamError> {
        let Some((&first, rest)) = message.split_first() else {
            return Ok(None);
        };
        if self.protocol.has_close_signal() && first == CLOSE_CHANNEL {
            return match rest {
                [channel] => Ok(Some(ChannelMessage::Close { channel: *channel })),
                _ => Err(StreamError::InvalidCloseSignal { len: rest.len() }),
            };
        }
        if !self.protocol.is_base64() {
            self.check_len(rest.len())?;
            return Ok(Some(ChannelMessage::Data {
                channel: first,
                payload: Bytes::copy_from_slice(rest),
            }));
        }
        let channel = first
            .checked_sub(b'0')
            .ok_or(StreamError::InvalidChannelByte { byte: first })?;
        // Base64 is 4 characters per 3 bytes, less up to 2 of padding: refuse before decoding
        // what cannot fit.
        self.check_len((rest.len() / 4 * 3).saturating_sub(2))?;
        let payload = STANDARD
            .decode(rest)
            .map_err(|_| StreamError::InvalidBase64 { channel })?;
        self.check_len(payload.len())?;
        Ok(Some(ChannelMessage::Data {
            channel,
            payload: Bytes::from(payload),
        }))
    }

    /// Encodes one message, ready to send as a [`ChannelProtocol::message_kind`] message.
    ///
    /// # Errors
    /// A close signal outside v5, data on channel 255 in v5, a base64 channel above
    /// [`MAX_BASE64_CHANNEL`], or a payload over the limit.
    pub fn encode(&self, message: &ChannelMessage) -> Result<Bytes, StreamError> {
        match message {
            ChannelMessage::Close { channel } => {
                if !self.protocol.has_close_signal() {
                    return Err(StreamError::CloseNotSupported {
                        protocol: self.protocol.name(),
                    });
                }
                Ok(Bytes::copy_from_slice(&[CLOSE_CHANNEL, *channel]))
            }
            ChannelMessage::Data { channel, payload } => {
                self.check_len(payload.len())?;
                if self.protocol.has_close_signal() && *channel == CLOSE_CHANNEL {
                    return Err(StreamError::ReservedChannel);
                }
                if !self.protocol.is_base64() {
                    let mut out = BytesMut::with_capacity(1 + payload.len());
                    out.put_u8(*channel);
                    out.put_slice(payload);
                    return Ok(out.freeze());
                }
                if *channel > MAX_BASE64_CHANNEL {
                    return Err(StreamError::ChannelNotEncodable { channel: *channel });
                }
                let mut out = String::with_capacity(1 + payload.len().div_ceil(3) * 4);
                out.push(char::from(b'0' + *channel));
                STANDARD.encode_string(payload, &mut out);
                Ok(Bytes::from(out))
            }
        }
    }

    fn check_len(&self, len: usize) -> Result<(), StreamError> {
        if len > self.max_payload_len {
            return Err(StreamError::MessageTooLarge {
                len,
                max: self.max_payload_len,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(channel: u8, payload: &'static [u8]) -> ChannelMessage {
        ChannelMessage::Data {
            channel,
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn names_round_trip() {
        for p in ChannelProtocol::ALL {
            assert_eq!(ChannelProtocol::from_name(p.name()), Some(p));
        }
        assert_eq!(
            ChannelProtocol::from_name("SPDY/3.1+portforward.k8s.io"),
            None
        );
    }

    #[test]
    fn binary_framing() {
        let codec = ChannelCodec::new(ChannelProtocol::V4Channel);
        assert_eq!(
            codec.decode(b"\x01hello").expect("valid"),
            Some(data(1, b"hello"))
        );
        assert_eq!(codec.decode(b"").expect("valid"), None);
        assert_eq!(codec.decode(b"\x03").expect("valid"), Some(data(3, b"")));
        // Without v5, 255 is just a channel nobody uses.
        assert_eq!(
            codec.decode(b"\xff\x00").expect("valid"),
            Some(data(255, b"\0"))
        );
        assert_eq!(
            &codec.encode(&data(0, b"ls\n")).expect("valid")[..],
            b"\x00ls\n"
        );
        assert!(matches!(
            codec.encode(&ChannelMessage::Close { channel: 0 }),
            Err(StreamError::CloseNotSupported { .. })
        ));
    }

    #[test]
    fn v5_close_signal() {
        let codec = ChannelCodec::new(ChannelProtocol::V5Channel);
        assert_eq!(
            codec.decode(b"\xff\x00").expect("valid"),
            Some(ChannelMessage::Close { channel: 0 })
        );
        for bad in [&b"\xff"[..], b"\xff\x00\x01"] {
            assert!(matches!(
                codec.decode(bad),
                Err(StreamError::InvalidCloseSignal { .. })
            ));
        }
        assert_eq!(
            &codec
                .encode(&ChannelMessage::Close { channel: 0 })
                .expect("valid")[..],
            b"\xff\x00"
        );
        assert_eq!(
            codec.encode(&data(255, b"x")),
            Err(StreamError::ReservedChannel)
        );
    }

    #[test]
    fn base64_framing_matches_the_wsstream_example() {
        // From wsstream's documentation: "foo\n\n" on stdin is `0Zm9vCgo=`.
        let codec = ChannelCodec::new(ChannelProtocol::V4Base64Channel);
        assert_eq!(
            codec.decode(b"0Zm9vCgo=").expect("valid"),
            Some(data(0, b"foo\n\n"))
        );
        assert_eq!(codec.decode(b"1Cg==").expect("valid"), Some(data(1, b"\n")));
        assert_eq!(
            &codec.encode(&data(0, b"foo\n\n")).expect("valid")[..],
            b"0Zm9vCgo="
        );
        assert_eq!(codec.decode(b"1").expect("valid"), Some(data(1, b"")));
        assert!(matches!(
            codec.decode(b"/Zm9v"),
            Err(StreamError::InvalidChannelByte { byte: b'/' })
        ));
        assert!(matches!(
            codec.decode(b"0Zm9v!"),
            Err(StreamError::InvalidBase64 { channel: 0 })
        ));
        assert_eq!(
            codec.encode(&data(80, b"")),
            Err(StreamError::ChannelNotEncodable { channel: 80 })
        );
        assert_eq!(codec.protocol().message_kind(), MessageKind::Text);
    }

    #[test]
    fn payload_limit_applies_both_ways() {
        let binary = ChannelCodec::new(ChannelProtocol::V5Channel).with_max_payload_len(4);
        assert!(binary.decode(b"\x01abcd").is_ok());
        assert!(matches!(
            binary.decode(b"\x01abcde"),
            Err(StreamError::MessageTooLarge { len: 5, max: 4 })
        ));
        assert!(binary.encode(&data(1, b"abcde")).is_err());
        let text = ChannelCodec::new(ChannelProtocol::Base64Channel).with_max_payload_len(4);
        assert!(text.decode(b"1YWJjZA==").is_ok());
        assert!(text.decode(b"1YWJjZGVmZ2g=").is_err());
    }
}
