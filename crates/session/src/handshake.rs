//! The HTTP/1.1 upgrade that opens a session: which subprotocol to speak with the client, and
//! the WebSocket handshake values (RFC 6455 §4.1, §4.2.2).

use http::HeaderMap;
use jitgate_wire::channel::ChannelProtocol;
use jitgate_wire::remotecommand::Protocol;
use jitgate_wire::upgrade::{STREAM_PROTOCOL_VERSION_HEADER, WEBSOCKET_PROTOCOL_HEADER, negotiate};

use crate::websocket::EXEC_PROTOCOLS;

/// How a client asked to upgrade an exec/attach request, and what the gateway will speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTransport {
    /// WebSocket with a channel subprotocol; `key` is the client's `Sec-WebSocket-Key`.
    WebSocket(ChannelProtocol),
    /// SPDY/3.1 with a remotecommand version (v4: the error stream carries a Status).
    Spdy(Protocol),
}

impl ClientTransport {
    /// The subprotocol's name, for the 101 response and the audit log.
    pub fn protocol_name(self) -> &'static str {
        match self {
            ClientTransport::WebSocket(p) => p.name(),
            ClientTransport::Spdy(p) => p.name(),
        }
    }
}

/// Why an upgrade cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeRefusal {
    /// The `Upgrade` header names neither WebSocket nor SPDY/3.1.
    #[error("jitgate serves exec, attach and port-forward over WebSocket or SPDY/3.1, not {0:?}")]
    UnknownUpgrade(String),
    /// No offered subprotocol is one the gateway speaks.
    #[error(
        "none of the offered stream protocols ({offered}) is one jitgate speaks ({supported}); use kubectl 1.27 or newer"
    )]
    NoCommonProtocol {
        /// What the client offered.
        offered: String,
        /// What the gateway speaks.
        supported: String,
    },
    /// A WebSocket upgrade without a usable `Sec-WebSocket-Key` or version 13.
    #[error("the WebSocket handshake is incomplete: {0}")]
    BadWebSocketHandshake(&'static str),
}

/// The remotecommand versions served over SPDY: v4 only (kubectl 1.27–1.33 all offer it first;
/// older versions carry the exit status as text and have bugs the gateway need not inherit).
pub const SPDY_EXEC_PROTOCOLS: [Protocol; 1] = [Protocol::V4];

/// Picks the transport and protocol for an exec/attach upgrade from the client's headers, the
/// client's order of preference first.
pub fn choose_exec_transport(headers: &HeaderMap) -> Result<ClientTransport, UpgradeRefusal> {
    let upgrade = headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let values = |name: &str| -> Vec<&str> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    if upgrade.eq_ignore_ascii_case("websocket") {
        websocket_key(headers)?;
        let offered = values(WEBSOCKET_PROTOCOL_HEADER);
        let names: Vec<&str> = EXEC_PROTOCOLS.iter().map(|p| p.name()).collect();
        return negotiate(offered.iter().copied(), &names)
            .and_then(ChannelProtocol::from_name)
            .map(ClientTransport::WebSocket)
            .ok_or_else(|| UpgradeRefusal::NoCommonProtocol {
                offered: offered.join(", "),
                supported: names.join(", "),
            });
    }
    if upgrade.eq_ignore_ascii_case(jitgate_wire::upgrade::SPDY_UPGRADE) {
        let offered = values(STREAM_PROTOCOL_VERSION_HEADER);
        let names: Vec<&str> = SPDY_EXEC_PROTOCOLS.iter().map(|p| p.name()).collect();
        return negotiate(offered.iter().copied(), &names)
            .and_then(Protocol::from_name)
            .map(ClientTransport::Spdy)
            .ok_or_else(|| UpgradeRefusal::NoCommonProtocol {
                offered: offered.join(", "),
                supported: names.join(", "),
            });
    }
    Err(UpgradeRefusal::UnknownUpgrade(upgrade.to_owned()))
}

/// How a client asked to upgrade a port-forward request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortForwardTransport {
    /// SPDY/3.1 with `portforward.k8s.io` (kubectl ≤ 1.30, or `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`).
    Spdy,
    /// SPDY tunnelled in WebSocket binary messages (`SPDY/3.1+portforward.k8s.io`, kubectl ≥ 1.31).
    Tunnel,
    /// The plain WebSocket channel form (`?ports=`, `v4.channel.k8s.io`), used by browsers.
    Channels(ChannelProtocol),
}

/// Picks the transport for a port-forward upgrade.
pub fn choose_portforward_transport(
    headers: &HeaderMap,
) -> Result<PortForwardTransport, UpgradeRefusal> {
    use jitgate_wire::portforward::{PROTOCOL, SPDY_TUNNEL_PROTOCOL};
    let upgrade = headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let values = |name: &str| -> Vec<&str> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    if upgrade.eq_ignore_ascii_case("websocket") {
        websocket_key(headers)?;
        let offered = values(WEBSOCKET_PROTOCOL_HEADER);
        // The kubelet's plain WebSocket port-forward speaks the v4 channel protocols (binary or
        // base64), never v5.
        let supported = vec![
            SPDY_TUNNEL_PROTOCOL,
            ChannelProtocol::V4Channel.name(),
            ChannelProtocol::V4Base64Channel.name(),
        ];
        return match negotiate(offered.iter().copied(), &supported) {
            Some(SPDY_TUNNEL_PROTOCOL) => Ok(PortForwardTransport::Tunnel),
            Some(name) => ChannelProtocol::from_name(name)
                .map(PortForwardTransport::Channels)
                .ok_or(UpgradeRefusal::UnknownUpgrade(name.to_owned())),
            None => Err(UpgradeRefusal::NoCommonProtocol {
                offered: offered.join(", "),
                supported: supported.join(", "),
            }),
        };
    }
    if upgrade.eq_ignore_ascii_case(jitgate_wire::upgrade::SPDY_UPGRADE) {
        let offered = values(STREAM_PROTOCOL_VERSION_HEADER);
        return match negotiate(offered.iter().copied(), &[PROTOCOL]) {
            Some(_) => Ok(PortForwardTransport::Spdy),
            None => Err(UpgradeRefusal::NoCommonProtocol {
                offered: offered.join(", "),
                supported: PROTOCOL.to_owned(),
            }),
        };
    }
    Err(UpgradeRefusal::UnknownUpgrade(upgrade.to_owned()))
}

/// The client's `Sec-WebSocket-Key`, checked to be what RFC 6455 §4.1 requires (16 bytes in
/// base64) together with `Sec-WebSocket-Version: 13`.
pub fn websocket_key(headers: &HeaderMap) -> Result<&str, UpgradeRefusal> {
    let version = headers
        .get("sec-websocket-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if version.trim() != "13" {
        return Err(UpgradeRefusal::BadWebSocketHandshake(
            "Sec-WebSocket-Version must be 13",
        ));
    }
    let key = headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    // 16 bytes in base64 are 24 characters ending in "==".
    if key.len() != 24 || !key.ends_with("==") {
        return Err(UpgradeRefusal::BadWebSocketHandshake(
            "Sec-WebSocket-Key must be 16 random bytes in base64",
        ));
    }
    Ok(key)
}

/// `Sec-WebSocket-Accept` for a client key (RFC 6455 §4.2.2).
pub fn websocket_accept(key: &str) -> String {
    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes())
}

/// A fresh `Sec-WebSocket-Key` for the gateway's own upstream handshake.
pub fn new_websocket_key() -> String {
    tokio_tungstenite::tungstenite::handshake::client::generate_key()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn rfc6455_accept_example() {
        // RFC 6455 §1.3's worked example.
        assert_eq!(
            websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn kubectl_offers_are_chosen_in_its_order() {
        let ws = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            (
                "sec-websocket-protocol",
                "v5.channel.k8s.io, v4.channel.k8s.io",
            ),
        ]);
        assert_eq!(
            choose_exec_transport(&ws),
            Ok(ClientTransport::WebSocket(ChannelProtocol::V5Channel))
        );
        let spdy = headers(&[
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "v4.channel.k8s.io"),
            ("x-stream-protocol-version", "v3.channel.k8s.io"),
        ]);
        assert_eq!(
            choose_exec_transport(&spdy),
            Ok(ClientTransport::Spdy(Protocol::V4))
        );
    }

    #[test]
    fn port_forward_transports_are_recognised() {
        let tunnel = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "SPDY/3.1+portforward.k8s.io"),
        ]);
        assert_eq!(
            choose_portforward_transport(&tunnel),
            Ok(PortForwardTransport::Tunnel)
        );
        let spdy = headers(&[
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "portforward.k8s.io"),
        ]);
        assert_eq!(
            choose_portforward_transport(&spdy),
            Ok(PortForwardTransport::Spdy)
        );
        let plain = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-protocol", "v4.channel.k8s.io"),
        ]);
        assert_eq!(
            choose_portforward_transport(&plain),
            Ok(PortForwardTransport::Channels(ChannelProtocol::V4Channel))
        );
    }

    #[test]
    fn what_cannot_be_served_is_refused_with_a_reason() {
        let old = headers(&[
            ("upgrade", "SPDY/3.1"),
            ("x-stream-protocol-version", "v2.channel.k8s.io"),
        ]);
        assert!(matches!(
            choose_exec_transport(&old),
            Err(UpgradeRefusal::NoCommonProtocol { .. })
        ));
        let h2c = headers(&[("upgrade", "h2c")]);
        assert!(matches!(
            choose_exec_transport(&h2c),
            Err(UpgradeRefusal::UnknownUpgrade(_))
        ));
        let no_key = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-protocol", "v5.channel.k8s.io"),
        ]);
        assert!(matches!(
            choose_exec_transport(&no_key),
            Err(UpgradeRefusal::BadWebSocketHandshake(_))
        ));
    }
}
