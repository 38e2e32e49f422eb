//! port-forward: the SPDY stream headers (`portforward.k8s.io`) and the plain WebSocket form
//! (`?ports=`), following `k8s.io/cri-streaming/pkg/streaming/portforward`.
//!
//! Over SPDY (and SPDY tunnelled in WebSocket, `SPDY/3.1+portforward.k8s.io`, kubectl ≥ 1.31),
//! each forwarded connection is a pair of client-opened streams sharing a `requestid`: an `error`
//! stream (the client half-closes it at once; the server writes an error message on it if the
//! connection fails) and a `data` stream. Both carry the remote `port`.
//!
//! Over plain WebSocket, the ports are fixed by the `ports` query parameter and every port gets
//! two channels: `2i` (data, both ways) and `2i + 1` (error, server to client). The first two
//! bytes the server sends on each channel are the port, little-endian.

use bytes::Bytes;

use crate::StreamError;
use crate::error::shorten;
use crate::remotecommand::{STREAM_TYPE_HEADER, single_value};
use crate::spdy::HeaderBlock;

/// The SPDY protocol name (`X-Stream-Protocol-Version`), and the WebSocket subprotocol kubectl
/// ≥ 1.31 offers for SPDY tunnelled over WebSocket is this with the [`SPDY_TUNNEL_PREFIX`].
pub const PROTOCOL: &str = "portforward.k8s.io";

/// The prefix that marks a WebSocket subprotocol as SPDY tunnelled in WebSocket messages.
pub const SPDY_TUNNEL_PREFIX: &str = "SPDY/3.1+";

/// The WebSocket subprotocol for SPDY port-forward tunnelled in WebSocket.
pub const SPDY_TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";

/// The SYN_STREAM header with the remote port (Go's `port`).
pub const PORT_HEADER: &str = "port";

/// The SYN_STREAM header pairing a data stream with its error stream (Go's `requestID`,
/// lower-cased on the wire).
pub const REQUEST_ID_HEADER: &str = "requestid";

/// The query parameter listing ports for the plain WebSocket form (repeatable, comma-separated).
pub const PORTS_QUERY_PARAMETER: &str = "ports";

/// Most ports one plain WebSocket port-forward may name: two channels each must fit in a byte.
pub const MAX_WEBSOCKET_PORTS: usize = 127;

/// Longest request id accepted (kubectl sends a decimal counter).
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// The role of one port-forward stream or channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamType {
    /// The forwarded bytes.
    Data,
    /// Server to client: why the connection to the port failed.
    Error,
}

impl StreamType {
    /// The `streamtype` header value.
    pub const fn name(self) -> &'static str {
        match self {
            StreamType::Data => "data",
            StreamType::Error => "error",
        }
    }
}

/// What a port-forward SYN_STREAM asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortForwardStream {
    /// Data or error.
    pub stream_type: StreamType,
    /// The pod port (never 0).
    pub port: u16,
    /// Pairs the data and error streams of one connection. Clients older than Kubernetes 1.6
    /// send none, and the kubelet then pairs streams by id.
    pub request_id: Option<String>,
}

impl PortForwardStream {
    /// Reads a SYN_STREAM's headers, as strictly as the kubelet does and a little more: every
    /// header once, with one value. Other headers are ignored (and not forwarded by
    /// [`PortForwardStream::to_headers`]).
    ///
    /// # Errors
    /// A missing or unparsable `port` or `streamtype`, or a request id that is not 1 to
    /// [`MAX_REQUEST_ID_LEN`] printable ASCII bytes.
    pub fn from_headers(headers: &HeaderBlock) -> Result<PortForwardStream, StreamError> {
        let port = parse_port(single_value(headers, PORT_HEADER)?).map_err(|reason| {
            StreamError::InvalidHeader {
                header: PORT_HEADER,
                value: headers
                    .get(PORT_HEADER)
                    .map(|h| shorten(h.value()))
                    .unwrap_or_default(),
                reason,
            }
        })?;
        let stream_type = match single_value(headers, STREAM_TYPE_HEADER)? {
            b"data" => StreamType::Data,
            b"error" => StreamType::Error,
            other => {
                return Err(StreamError::InvalidHeader {
                    header: STREAM_TYPE_HEADER,
                    value: shorten(other),
                    reason: "not one of data, error",
                });
            }
        };
        let request_id = match headers.get(REQUEST_ID_HEADER) {
            None => None,
            Some(_) => {
                let value = single_value(headers, REQUEST_ID_HEADER)?;
                if value.is_empty()
                    || value.len() > MAX_REQUEST_ID_LEN
                    || !value.iter().all(u8::is_ascii_graphic)
                {
                    return Err(StreamError::InvalidHeader {
                        header: REQUEST_ID_HEADER,
                        value: shorten(value),
                        reason: "must be 1 to 64 printable ASCII characters",
                    });
                }
                Some(String::from_utf8_lossy(value).into_owned())
            }
        };
        Ok(PortForwardStream {
            stream_type,
            port,
            request_id,
        })
    }

    /// The SYN_STREAM headers opening this stream, in kubectl's order.
    pub fn to_headers(&self) -> HeaderBlock {
        let mut headers = HeaderBlock::new();
        headers.push_valid(
            STREAM_TYPE_HEADER,
            Bytes::from_static(self.stream_type.name().as_bytes()),
        );
        headers.push_valid(PORT_HEADER, Bytes::from(self.port.to_string()));
        if let Some(id) = self
            .request_id
            .as_deref()
            .filter(|id| !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN)
            .filter(|id| id.bytes().all(|b| b.is_ascii_graphic()))
        {
            headers.push_valid(REQUEST_ID_HEADER, Bytes::copy_from_slice(id.as_bytes()));
        }
        headers
    }
}

/// Parses a port as the kubelet does (`strconv.ParseUint(s, 10, 16)`, then `> 0`): decimal
/// digits only, no sign, leading zeros allowed.
fn parse_port(text: &[u8]) -> Result<u16, &'static str> {
    if text.is_empty() {
        return Err("a port must not be empty");
    }
    if !text.iter().all(u8::is_ascii_digit) {
        return Err("a port must be decimal digits");
    }
    let port = text.iter().try_fold(0u16, |acc, digit| {
        acc.checked_mul(10)?.checked_add(u16::from(digit - b'0'))
    });
    match port {
        None => Err("a port must be at most 65535"),
        Some(0) => Err("a port must be greater than 0"),
        Some(port) => Ok(port),
    }
}

/// The ports of a plain WebSocket port-forward and their channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketPorts {
    ports: Vec<u16>,
}

/// Which port and role a WebSocket channel belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortChannel {
    /// The port's position in the `ports` list.
    pub index: usize,
    /// The port.
    pub port: u16,
    /// Data (`2 * index`) or error (`2 * index + 1`).
    pub stream_type: StreamType,
}

impl WebSocketPorts {
    /// Reads the values of the `ports` query parameter (already percent-decoded), each a
    /// comma-separated list, as the kubelet does.
    ///
    /// # Errors
    /// No value, an empty value, a bad port, or more than [`MAX_WEBSOCKET_PORTS`] ports.
    pub fn from_query_values<'q>(
        values: impl IntoIterator<Item = &'q str>,
    ) -> Result<WebSocketPorts, StreamError> {
        let mut ports = Vec::new();
        for value in values {
            let invalid = |reason| StreamError::InvalidPorts {
                value: shorten(value.as_bytes()),
                reason,
            };
            if value.is_empty() {
                return Err(invalid("the ports parameter must not be empty"));
            }
            for part in value.split(',') {
                if ports.len() == MAX_WEBSOCKET_PORTS {
                    return Err(invalid("more than 127 ports"));
                }
                ports.push(parse_port(part.as_bytes()).map_err(invalid)?);
            }
        }
        WebSocketPorts::new(ports)
    }

    /// The given ports, in order.
    ///
    /// # Errors
    /// None, port 0, or more than [`MAX_WEBSOCKET_PORTS`].
    pub fn new(ports: Vec<u16>) -> Result<WebSocketPorts, StreamError> {
        let invalid = |reason| StreamError::InvalidPorts {
            value: format!("{ports:?}").chars().take(64).collect(),
            reason,
        };
        if ports.is_empty() {
            return Err(invalid("at least one port is required"));
        }
        if ports.len() > MAX_WEBSOCKET_PORTS {
            return Err(invalid("more than 127 ports"));
        }
        if ports.contains(&0) {
            return Err(invalid("a port must be greater than 0"));
        }
        Ok(WebSocketPorts { ports })
    }

    /// The ports, in order.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// The data channel of the port at `index`.
    pub fn data_channel(&self, index: usize) -> Option<u8> {
        (index < self.ports.len()).then(|| (index * 2) as u8)
    }

    /// The error channel of the port at `index`.
    pub fn error_channel(&self, index: usize) -> Option<u8> {
        (index < self.ports.len()).then(|| (index * 2 + 1) as u8)
    }

    /// The port and role of `channel`, if it is one of this forward's.
    pub fn channel(&self, channel: u8) -> Option<PortChannel> {
        let index = usize::from(channel / 2);
        let port = *self.ports.get(index)?;
        let stream_type = if channel.is_multiple_of(2) {
            StreamType::Data
        } else {
            StreamType::Error
        };
        Some(PortChannel {
            index,
            port,
            stream_type,
        })
    }
}

/// The two bytes the server writes first on each plain WebSocket port-forward channel.
pub const fn port_prefix(port: u16) -> [u8; 2] {
    port.to_le_bytes()
}

/// Checks and removes the port prefix at the start of what the server sends on one channel,
/// wherever the message boundaries fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortPrefix {
    channel: u8,
    expected: [u8; 2],
    seen: usize,
}

impl PortPrefix {
    /// Expects `port` on `channel`.
    pub const fn new(channel: u8, port: u16) -> PortPrefix {
        PortPrefix {
            channel,
            expected: port_prefix(port),
            seen: 0,
        }
    }

    /// Whether the whole prefix has been seen.
    pub const fn is_complete(&self) -> bool {
        self.seen >= 2
    }

    /// The part of `payload` after the prefix (all of it once the prefix is complete).
    ///
    /// # Errors
    /// [`StreamError::PortPrefixMismatch`] if the server announced another port.
    pub fn strip<'p>(&mut self, payload: &'p [u8]) -> Result<&'p [u8], StreamError> {
        let mut rest = payload;
        while self.seen < 2 {
            let Some((first, tail)) = rest.split_first() else {
                return Ok(rest);
            };
            if self.expected.get(self.seen) != Some(first) {
                let mut got = self.expected;
                if let Some(slot) = got.get_mut(self.seen) {
                    *slot = *first;
                }
                // A wrong first byte: report what the second would complete, if it is here.
                if self.seen == 0
                    && let (Some(slot), Some(second)) = (got.get_mut(1), tail.first())
                {
                    *slot = *second;
                }
                return Err(StreamError::PortPrefixMismatch {
                    channel: self.channel,
                    expected: u16::from_le_bytes(self.expected),
                    got: u16::from_le_bytes(got),
                });
            }
            self.seen += 1;
            rest = tail;
        }
        Ok(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderBlock {
        pairs
            .iter()
            .try_fold(HeaderBlock::new(), |b, (n, v)| b.with(n, v.to_string()))
            .expect("valid SPDY headers")
    }

    #[test]
    fn reads_kubectl_stream_headers() {
        let h = headers(&[
            ("port", "8080"),
            ("requestid", "0"),
            ("streamtype", "error"),
        ]);
        let stream = PortForwardStream::from_headers(&h).expect("valid");
        assert_eq!(
            stream,
            PortForwardStream {
                stream_type: StreamType::Error,
                port: 8080,
                request_id: Some("0".to_owned())
            }
        );
        let again = PortForwardStream::from_headers(&stream.to_headers()).expect("valid");
        assert_eq!(again, stream);
        let old = headers(&[("port", "080"), ("streamtype", "data")]);
        assert_eq!(
            PortForwardStream::from_headers(&old).map(|s| (s.port, s.request_id)),
            Ok((80, None))
        );
    }

    #[test]
    fn refuses_bad_ports_types_and_ids() {
        for port in [
            "",
            "0",
            "65536",
            "+80",
            "-1",
            " 80",
            "8o",
            "99999999999999999999",
        ] {
            let h = headers(&[("port", port), ("streamtype", "data")]);
            assert!(
                matches!(
                    PortForwardStream::from_headers(&h),
                    Err(StreamError::InvalidHeader {
                        header: PORT_HEADER,
                        ..
                    })
                ),
                "port {port:?}"
            );
        }
        let h = headers(&[("port", "80"), ("streamtype", "stdin")]);
        assert!(PortForwardStream::from_headers(&h).is_err());
        let h = headers(&[("port", "80")]);
        assert_eq!(
            PortForwardStream::from_headers(&h),
            Err(StreamError::MissingHeader {
                header: STREAM_TYPE_HEADER
            })
        );
        let h = headers(&[("port", "80"), ("streamtype", "data"), ("requestid", "")]);
        assert!(PortForwardStream::from_headers(&h).is_err());
        let h = HeaderBlock::new()
            .with("port", &b"80\x0081"[..])
            .and_then(|b| b.with("streamtype", "data"))
            .expect("valid SPDY");
        assert_eq!(
            PortForwardStream::from_headers(&h),
            Err(StreamError::AmbiguousHeader {
                header: PORT_HEADER
            })
        );
    }

    #[test]
    fn websocket_ports_and_channels() {
        let ports = WebSocketPorts::from_query_values(["8080,9090", "53"]).expect("valid");
        assert_eq!(ports.ports(), [8080, 9090, 53]);
        assert_eq!(ports.data_channel(1), Some(2));
        assert_eq!(ports.error_channel(2), Some(5));
        assert_eq!(ports.error_channel(3), None);
        assert_eq!(
            ports.channel(3),
            Some(PortChannel {
                index: 1,
                port: 9090,
                stream_type: StreamType::Error
            })
        );
        assert_eq!(ports.channel(6), None);
        for bad in [&[][..], &[""], &["80,"], &["0"], &["http"]] {
            assert!(WebSocketPorts::from_query_values(bad.iter().copied()).is_err());
        }
        let many = vec!["1"; MAX_WEBSOCKET_PORTS + 1];
        assert!(WebSocketPorts::from_query_values(many).is_err());
        let most = vec!["1"; MAX_WEBSOCKET_PORTS];
        let most = WebSocketPorts::from_query_values(most).expect("fits");
        assert_eq!(most.error_channel(MAX_WEBSOCKET_PORTS - 1), Some(253));
    }

    #[test]
    fn strips_the_port_prefix_across_messages() {
        assert_eq!(port_prefix(8080), [0x90, 0x1f]);
        let mut prefix = PortPrefix::new(0, 8080);
        assert_eq!(prefix.strip(&[0x90]), Ok(&[][..]));
        assert!(!prefix.is_complete());
        assert_eq!(prefix.strip(&[0x1f, b'h', b'i']), Ok(&b"hi"[..]));
        assert!(prefix.is_complete());
        assert_eq!(prefix.strip(&[0x90, 0x1f]), Ok(&[0x90, 0x1f][..]));
        let mut wrong = PortPrefix::new(1, 8080);
        assert_eq!(
            wrong.strip(&[0x50, 0x00]),
            Err(StreamError::PortPrefixMismatch {
                channel: 1,
                expected: 8080,
                got: 80
            })
        );
    }
}
