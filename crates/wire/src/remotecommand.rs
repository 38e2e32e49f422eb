//! exec and attach ("remote command"): protocol versions, the stream each SPDY SYN_STREAM opens,
//! the WebSocket channel each stream maps to, terminal sizes and the exit status on the error
//! stream.
//!
//! Follows `k8s.io/cri-streaming/pkg/streaming/remotecommand` and client-go's
//! `tools/remotecommand`. Over SPDY, the client opens one stream per standard stream, each
//! SYN_STREAM carrying a `streamtype` header; kubectl 1.27 opens `error` first, then `stdin`,
//! `stdout`, `stderr` and, with a TTY, `resize` (see the fixtures in `tests/data`). The server
//! accepts each with an empty SYN_REPLY, writes the exit status on `error`, then resets every
//! stream with CANCEL and sends GOAWAY.

use bytes::Bytes;
use serde_json::Value;

use crate::StreamError;
use crate::error::shorten;
use crate::spdy::HeaderBlock;

/// The SYN_STREAM header naming a stream's role (Go's `streamType`, lower-cased on the wire).
pub const STREAM_TYPE_HEADER: &str = "streamtype";

/// A remotecommand protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `channel.k8s.io`: the first version (known bugs: kubernetes#13394, #13395).
    V1,
    /// `v2.channel.k8s.io`.
    V2,
    /// `v3.channel.k8s.io`: adds the resize stream.
    V3,
    /// `v4.channel.k8s.io`: the error stream carries a JSON `Status` with the exit code.
    V4,
    /// `v5.channel.k8s.io`: WebSocket only; adds the close signal (channel 255).
    V5,
}

impl Protocol {
    /// What kubectl offers over SPDY, most preferred first.
    pub const SPDY_OFFER: [Protocol; 4] = [Protocol::V4, Protocol::V3, Protocol::V2, Protocol::V1];

    /// The protocol's name as negotiated.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::V1 => "channel.k8s.io",
            Protocol::V2 => "v2.channel.k8s.io",
            Protocol::V3 => "v3.channel.k8s.io",
            Protocol::V4 => "v4.channel.k8s.io",
            Protocol::V5 => "v5.channel.k8s.io",
        }
    }

    /// The protocol called `name`.
    pub fn from_name(name: &str) -> Option<Protocol> {
        [
            Protocol::V1,
            Protocol::V2,
            Protocol::V3,
            Protocol::V4,
            Protocol::V5,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }

    /// Whether the client may open a resize stream (v3 and later).
    pub const fn has_resize(self) -> bool {
        matches!(self, Protocol::V3 | Protocol::V4 | Protocol::V5)
    }

    /// Whether the error stream carries a JSON `Status` (v4 and later) rather than plain text.
    pub const fn error_is_status(self) -> bool {
        matches!(self, Protocol::V4 | Protocol::V5)
    }

    /// Whether the protocol runs over SPDY (all but v5).
    pub const fn over_spdy(self) -> bool {
        !matches!(self, Protocol::V5)
    }
}

/// The role of one exec/attach stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamType {
    /// Server to client: the exit status (a `Status` in v4+, text before).
    Error,
    /// Client to server.
    Stdin,
    /// Server to client.
    Stdout,
    /// Server to client.
    Stderr,
    /// Client to server: [`TerminalSize`] messages (v3+).
    Resize,
}

impl StreamType {
    /// The `streamtype` header value.
    pub const fn name(self) -> &'static str {
        match self {
            StreamType::Error => "error",
            StreamType::Stdin => "stdin",
            StreamType::Stdout => "stdout",
            StreamType::Stderr => "stderr",
            StreamType::Resize => "resize",
        }
    }

    /// The stream type with header value `name`.
    pub fn from_name(name: &[u8]) -> Option<StreamType> {
        [
            StreamType::Error,
            StreamType::Stdin,
            StreamType::Stdout,
            StreamType::Stderr,
            StreamType::Resize,
        ]
        .into_iter()
        .find(|t| t.name().as_bytes() == name)
    }

    /// The WebSocket channel carrying this stream: 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize.
    pub const fn channel(self) -> u8 {
        match self {
            StreamType::Stdin => 0,
            StreamType::Stdout => 1,
            StreamType::Stderr => 2,
            StreamType::Error => 3,
            StreamType::Resize => 4,
        }
    }

    /// The stream carried on WebSocket channel `channel`.
    pub const fn from_channel(channel: u8) -> Option<StreamType> {
        match channel {
            0 => Some(StreamType::Stdin),
            1 => Some(StreamType::Stdout),
            2 => Some(StreamType::Stderr),
            3 => Some(StreamType::Error),
            4 => Some(StreamType::Resize),
            _ => None,
        }
    }

    /// Reads a SYN_STREAM's headers. Other headers are ignored (and not forwarded by
    /// [`StreamType::to_headers`]).
    ///
    /// # Errors
    /// No `streamtype`, several values, an unknown value, or `resize` before v3.
    pub fn from_headers(
        headers: &HeaderBlock,
        protocol: Protocol,
    ) -> Result<StreamType, StreamError> {
        let value = single_value(headers, STREAM_TYPE_HEADER)?;
        let stream_type =
            StreamType::from_name(value).ok_or_else(|| StreamError::InvalidHeader {
                header: STREAM_TYPE_HEADER,
                value: shorten(value),
                reason: "not one of error, stdin, stdout, stderr, resize",
            })?;
        if stream_type == StreamType::Resize && !protocol.has_resize() {
            return Err(StreamError::StreamTypeNotInProtocol {
                stream_type: stream_type.name(),
                protocol: protocol.name(),
            });
        }
        Ok(stream_type)
    }

    /// The SYN_STREAM headers opening this stream.
    pub fn to_headers(self) -> HeaderBlock {
        let mut headers = HeaderBlock::new();
        headers.push_valid(
            STREAM_TYPE_HEADER,
            Bytes::from_static(self.name().as_bytes()),
        );
        headers
    }
}

/// The one value of header `name`, refusing NUL-separated multiple values.
pub(crate) fn single_value<'h>(
    headers: &'h HeaderBlock,
    name: &'static str,
) -> Result<&'h [u8], StreamError> {
    let header = headers
        .get(name)
        .ok_or(StreamError::MissingHeader { header: name })?;
    if header.value().contains(&0) {
        return Err(StreamError::AmbiguousHeader { header: name });
    }
    Ok(header.value())
}

/// A terminal size, as the client sends it on the resize stream: `{"Width":80,"Height":24}`
/// followed by a newline (Go's `json.Encoder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

impl TerminalSize {
    /// The message a client sends for this size, newline included.
    pub fn to_json_line(self) -> Vec<u8> {
        format!("{{\"Width\":{},\"Height\":{}}}\n", self.width, self.height).into_bytes()
    }

    /// Reads one JSON object. Keys match case-insensitively and unknown keys are ignored, as Go's
    /// `encoding/json` does; both sizes must be present and fit in 16 bits.
    fn from_json(value: &Value) -> Result<TerminalSize, StreamError> {
        let invalid = |reason: &str| StreamError::InvalidTerminalSize {
            reason: reason.to_owned(),
        };
        let object = value
            .as_object()
            .ok_or_else(|| invalid("not a JSON object"))?;
        let field = |name: &str| -> Result<u16, StreamError> {
            let mut matches = object.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
            let (_, value) = matches
                .next()
                .ok_or_else(|| invalid(&format!("no {name}")))?;
            if matches.next().is_some() {
                return Err(invalid(&format!("{name} given twice")));
            }
            value
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| invalid(&format!("{name} is not an integer in 0..=65535")))
        };
        Ok(TerminalSize {
            width: field("Width")?,
            height: field("Height")?,
        })
    }
}

/// Reads [`TerminalSize`] messages from the bytes of a resize stream, however they are split
/// across DATA frames or WebSocket messages.
#[derive(Debug, Default)]
pub struct ResizeDecoder {
    pending: Vec<u8>,
}

/// The most a resize stream may buffer without completing a message; real ones are ~30 bytes.
pub const MAX_RESIZE_MESSAGE_LEN: usize = 4096;

impl ResizeDecoder {
    /// An empty decoder.
    pub fn new() -> ResizeDecoder {
        ResizeDecoder::default()
    }

    /// Adds bytes from the stream and returns every size they complete, in order.
    ///
    /// # Errors
    /// Bytes that are not JSON objects of the right shape, or more than
    /// [`MAX_RESIZE_MESSAGE_LEN`] bytes without a complete message. The stream should then be
    /// reset.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<TerminalSize>, StreamError> {
        self.pending.extend_from_slice(bytes);
        let mut sizes = Vec::new();
        let mut stream = serde_json::Deserializer::from_slice(&self.pending).into_iter::<Value>();
        let consumed = loop {
            let offset = stream.byte_offset();
            match stream.next() {
                None => break offset,
                Some(Ok(value)) => sizes.push(TerminalSize::from_json(&value)?),
                Some(Err(err)) if err.is_eof() => break offset,
                Some(Err(err)) => {
                    return Err(StreamError::InvalidTerminalSize {
                        reason: err.to_string(),
                    });
                }
            }
        };
        self.pending.drain(..consumed.min(self.pending.len()));
        if self.pending.len() > MAX_RESIZE_MESSAGE_LEN {
            return Err(StreamError::InvalidTerminalSize {
                reason: format!(
                    "more than {MAX_RESIZE_MESSAGE_LEN} bytes without a complete message"
                ),
            });
        }
        Ok(sizes)
    }
}

/// How a command ended, from the v4+ error stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// `"status":"Success"`: exit code 0.
    Success,
    /// Reason `NonZeroExitCode` with an `ExitCode` cause.
    ExitCode(i32),
    /// Any other failure (the command could not start, the session was cut, …).
    Failure {
        /// The Status `message`.
        message: String,
        /// The Status `reason`, if any.
        reason: Option<String>,
    },
}

impl ExitStatus {
    /// Reads the `Status` JSON a v4+ server writes on the error stream.
    ///
    /// # Errors
    /// [`StreamError::InvalidStatus`] if it is not a Status object.
    pub fn from_status_json(bytes: &[u8]) -> Result<ExitStatus, StreamError> {
        let invalid = |reason: &str| StreamError::InvalidStatus {
            reason: reason.to_owned(),
        };
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| StreamError::InvalidStatus {
                reason: e.to_string(),
            })?;
        let status = value
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("no status field"))?;
        if status == "Success" {
            return Ok(ExitStatus::Success);
        }
        let reason = value.get("reason").and_then(Value::as_str);
        if reason == Some("NonZeroExitCode") {
            let code = value
                .pointer("/details/causes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|cause| cause.get("reason").and_then(Value::as_str) == Some("ExitCode"))
                .find_map(|cause| cause.get("message")?.as_str()?.parse::<i32>().ok());
            if let Some(code) = code {
                return Ok(ExitStatus::ExitCode(code));
            }
        }
        Ok(ExitStatus::Failure {
            message: value
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            reason: reason.map(str::to_owned),
        })
    }
}

/// A failure `Status` for the error stream (v4+), as the gateway sends when it ends a session:
/// kubectl prints `message` and exits non-zero.
pub fn failure_status_json(message: &str, reason: &str, code: u16) -> Vec<u8> {
    serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip() {
        for p in [
            Protocol::V1,
            Protocol::V2,
            Protocol::V3,
            Protocol::V4,
            Protocol::V5,
        ] {
            assert_eq!(Protocol::from_name(p.name()), Some(p));
        }
        assert_eq!(Protocol::from_name("v6.channel.k8s.io"), None);
        assert!(!Protocol::V2.has_resize() && Protocol::V3.has_resize());
        assert!(!Protocol::V3.error_is_status() && Protocol::V4.error_is_status());
        assert!(Protocol::V4.over_spdy() && !Protocol::V5.over_spdy());
    }

    #[test]
    fn stream_types_from_headers() {
        let stdin = StreamType::Stdin.to_headers();
        assert_eq!(
            StreamType::from_headers(&stdin, Protocol::V4),
            Ok(StreamType::Stdin)
        );
        let resize = StreamType::Resize.to_headers();
        assert!(matches!(
            StreamType::from_headers(&resize, Protocol::V2),
            Err(StreamError::StreamTypeNotInProtocol { .. })
        ));
        let two = HeaderBlock::new()
            .with(STREAM_TYPE_HEADER, &b"stdin\0stdout"[..])
            .expect("valid SPDY");
        assert_eq!(
            StreamType::from_headers(&two, Protocol::V4),
            Err(StreamError::AmbiguousHeader {
                header: STREAM_TYPE_HEADER
            })
        );
        let odd = HeaderBlock::new()
            .with(STREAM_TYPE_HEADER, "STDIN")
            .expect("valid SPDY");
        assert!(matches!(
            StreamType::from_headers(&odd, Protocol::V4),
            Err(StreamError::InvalidHeader { .. })
        ));
        assert_eq!(
            StreamType::from_headers(&HeaderBlock::new(), Protocol::V4),
            Err(StreamError::MissingHeader {
                header: STREAM_TYPE_HEADER
            })
        );
        for channel in 0..=4 {
            let t = StreamType::from_channel(channel).expect("defined");
            assert_eq!(t.channel(), channel);
        }
        assert_eq!(StreamType::from_channel(5), None);
    }

    #[test]
    fn resize_messages_split_anywhere() {
        let wire = b"{\"Width\":101,\"Height\":33}\n{\"width\":80,\"height\":24,\"extra\":1}\n";
        for cut in 0..wire.len() {
            let mut decoder = ResizeDecoder::new();
            let mut sizes = decoder.push(&wire[..cut]).expect("valid");
            sizes.extend(decoder.push(&wire[cut..]).expect("valid"));
            assert_eq!(
                sizes,
                [
                    TerminalSize {
                        width: 101,
                        height: 33
                    },
                    TerminalSize {
                        width: 80,
                        height: 24
                    }
                ],
                "cut at {cut}"
            );
        }
        let size = TerminalSize {
            width: 7,
            height: 9,
        };
        assert_eq!(
            ResizeDecoder::new().push(&size.to_json_line()),
            Ok(vec![size])
        );
    }

    #[test]
    fn resize_refuses_garbage_and_hoarding() {
        assert!(ResizeDecoder::new().push(b"[1,2]").is_err());
        assert!(
            ResizeDecoder::new()
                .push(b"{\"Width\":70000,\"Height\":1}")
                .is_err()
        );
        assert!(ResizeDecoder::new().push(b"{\"Width\":1}").is_err());
        assert!(
            ResizeDecoder::new()
                .push(b"{\"Width\":1,\"width\":2,\"Height\":1}")
                .is_err()
        );
        assert!(ResizeDecoder::new().push(b"}").is_err());
        let mut decoder = ResizeDecoder::new();
        let open = vec![b'['; MAX_RESIZE_MESSAGE_LEN + 1];
        assert!(decoder.push(&open).is_err());
    }

    #[test]
    fn exit_status_from_captured_status() {
        let failure = br#"{"status":"Failure","message":"command terminated with non-zero exit code: command exited with 3: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
        assert_eq!(
            ExitStatus::from_status_json(failure),
            Ok(ExitStatus::ExitCode(3))
        );
        assert_eq!(
            ExitStatus::from_status_json(br#"{"status":"Success"}"#),
            Ok(ExitStatus::Success)
        );
        let cut = failure_status_json("access expired; run kubectl jit request", "Forbidden", 403);
        assert_eq!(
            ExitStatus::from_status_json(&cut),
            Ok(ExitStatus::Failure {
                message: "access expired; run kubectl jit request".to_owned(),
                reason: Some("Forbidden".to_owned())
            })
        );
        assert!(ExitStatus::from_status_json(b"oops").is_err());
        assert!(ExitStatus::from_status_json(b"{}").is_err());
    }
}
