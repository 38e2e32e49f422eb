//! The HTTP/1.1 upgrade that starts every Kubernetes stream, and subprotocol negotiation.
//!
//! SPDY: the client sends `Connection: Upgrade`, `Upgrade: SPDY/3.1` and one
//! `X-Stream-Protocol-Version` header per version it speaks, most preferred first; the server
//! answers `101 Switching Protocols` with the one it chose in `X-Stream-Protocol-Version`, or 403
//! listing what it accepts in `X-Accepted-Stream-Protocol-Versions`
//! (`k8s.io/streaming/pkg/httpstream.Handshake`). WebSocket: the same choice is made over
//! `Sec-WebSocket-Protocol` (RFC 6455 §4). In both, the *client's* order wins.

/// The header carrying remotecommand/portforward protocol versions on a SPDY upgrade.
pub const STREAM_PROTOCOL_VERSION_HEADER: &str = "X-Stream-Protocol-Version";

/// The header listing what the server accepts when negotiation fails (403).
pub const ACCEPTED_STREAM_PROTOCOL_VERSIONS_HEADER: &str = "X-Accepted-Stream-Protocol-Versions";

/// The `Upgrade` token for SPDY.
pub const SPDY_UPGRADE: &str = "SPDY/3.1";

/// The WebSocket subprotocol header (RFC 6455 §11.3.4).
pub const WEBSOCKET_PROTOCOL_HEADER: &str = "Sec-WebSocket-Protocol";

/// Picks the protocol to speak: the first of the client's offers (in header order, each header
/// value split on commas and trimmed) that the server supports. `None` means the upgrade must be
/// refused.
///
/// ```
/// use jitgate_wire::upgrade::negotiate;
/// let offers = ["v4.channel.k8s.io", "v3.channel.k8s.io, v2.channel.k8s.io"];
/// assert_eq!(negotiate(offers, &["v2.channel.k8s.io", "v3.channel.k8s.io"]), Some("v3.channel.k8s.io"));
/// assert_eq!(negotiate(["v5.channel.k8s.io"], &["v4.channel.k8s.io"]), None);
/// ```
pub fn negotiate<'c>(
    client_header_values: impl IntoIterator<Item = &'c str>,
    server_supported: &[&str],
) -> Option<&'c str> {
    client_header_values
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|offer| !offer.is_empty())
        .find(|offer| server_supported.contains(offer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_order_wins_and_blanks_are_ignored() {
        let kubectl = [
            "v4.channel.k8s.io",
            "v3.channel.k8s.io",
            "v2.channel.k8s.io",
            "channel.k8s.io",
        ];
        assert_eq!(
            negotiate(kubectl, &["channel.k8s.io", "v4.channel.k8s.io"]),
            Some("v4.channel.k8s.io")
        );
        assert_eq!(negotiate([" , ,"], &[""]), None);
        assert_eq!(negotiate([], &["portforward.k8s.io"]), None);
    }
}
