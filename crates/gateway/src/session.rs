//! Stream sessions: the gateway terminates kubectl's exec and attach upgrades and re-originates
//! them to the apiserver, so that it sees every frame (the recorder and the exec guard attach to
//! the session core) and can end the session with a message when access ends.
//!
//! Upstream, the gateway speaks WebSocket `v5.channel.k8s.io` (falling back to `v4`), with the
//! same impersonation as every other request; towards kubectl it speaks whatever kubectl
//! offered (`jitgate_session::handshake::choose_exec_transport`).

use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use jitgate_session::handshake::{
    ClientTransport, PortForwardTransport, new_websocket_key, websocket_accept,
};
use jitgate_wire::channel::ChannelProtocol;

use crate::body::{BoxBody, empty};

/// The WebSocket subprotocols the gateway offers the apiserver, preferred first: v5 carries
/// stdin's end (`kubectl cp` into a pod needs it).
pub const UPSTREAM_EXEC_PROTOCOLS: [ChannelProtocol; 2] =
    [ChannelProtocol::V5Channel, ChannelProtocol::V4Channel];

/// Client headers that describe kubectl's own upgrade; the gateway's upstream upgrade sets its
/// own.
const CLIENT_UPGRADE_HEADERS: [&str; 8] = [
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "x-stream-protocol-version",
    "content-length",
];

/// The gateway's own WebSocket upgrade request to the apiserver, and the key it must see
/// accepted. `headers` are the impersonating upstream headers built for the client's request.
pub fn upstream_websocket_request(uri: Uri, mut headers: HeaderMap) -> (Request<BoxBody>, String) {
    for name in CLIENT_UPGRADE_HEADERS {
        headers.remove(name);
    }
    let key = new_websocket_key();
    let offer = UPSTREAM_EXEC_PROTOCOLS
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ");
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
    if let Ok(v) = HeaderValue::from_str(&key) {
        headers.insert("sec-websocket-key", v);
    }
    if let Ok(v) = HeaderValue::from_str(&offer) {
        headers.insert("sec-websocket-protocol", v);
    }
    let mut req = Request::new(empty());
    // WebSocket upgrades are GETs (RFC 6455 §4.1), whatever kubectl's SPDY request used.
    *req.method_mut() = http::Method::GET;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    (req, key)
}

/// Checks the apiserver's `101` to the gateway's WebSocket upgrade and returns the protocol it
/// chose, or why the answer is unusable.
pub fn accepted_upstream_protocol(
    headers: &HeaderMap,
    key: &str,
) -> Result<ChannelProtocol, String> {
    let accept = headers
        .get("sec-websocket-accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept != websocket_accept(key) {
        return Err("the apiserver's WebSocket handshake has a wrong Sec-WebSocket-Accept".into());
    }
    let chosen = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    UPSTREAM_EXEC_PROTOCOLS
        .iter()
        .copied()
        .find(|p| p.name() == chosen)
        .ok_or_else(|| {
            format!("the apiserver chose the stream protocol {chosen:?}, which the gateway did not offer")
        })
}

/// The `101 Switching Protocols` for kubectl, in the transport it asked for.
pub fn client_switching_response(
    transport: ClientTransport,
    client_headers: &HeaderMap,
) -> Response<BoxBody> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    match transport {
        ClientTransport::WebSocket(protocol) => {
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            let key = jitgate_session::handshake::websocket_key(client_headers).unwrap_or("");
            if let Ok(v) = HeaderValue::from_str(&websocket_accept(key)) {
                h.insert("sec-websocket-accept", v);
            }
            h.insert(
                "sec-websocket-protocol",
                HeaderValue::from_static(protocol.name()),
            );
        }
        ClientTransport::Spdy(protocol) => {
            h.insert(
                header::UPGRADE,
                HeaderValue::from_static(jitgate_wire::upgrade::SPDY_UPGRADE),
            );
            h.insert(
                jitgate_wire::upgrade::STREAM_PROTOCOL_VERSION_HEADER,
                HeaderValue::from_static(protocol.name()),
            );
        }
    }
    resp
}

/// The streams an exec or attach request asks for (`stdin`, `stdout`, `stderr`, `tty`), read as
/// Kubernetes reads boolean query parameters.
pub fn stream_set(query: Option<&str>) -> jitgate_session::spdy::StreamSet {
    let flag = |key: &str| {
        query
            .unwrap_or("")
            .split('&')
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (k == key).then_some(v)
            })
            .next()
            .is_some_and(|v| {
                !(v == "0" || v.eq_ignore_ascii_case("f") || v.eq_ignore_ascii_case("false"))
            })
    };
    jitgate_session::spdy::StreamSet {
        stdin: flag("stdin"),
        stdout: flag("stdout"),
        stderr: flag("stderr"),
        tty: flag("tty"),
    }
}

/// Whether a non-101 answer to the gateway's upgrade may mean "not this transport here" (so the
/// other family, WebSocket or SPDY, is tried next), rather than a refusal of the request itself
/// (401, 403, 404, …), which reaches kubectl as it is.
pub fn may_fall_back(status: StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 405 | 426 | 501)
}

/// The gateway's SPDY upgrade to the apiserver (`v4.channel.k8s.io`), after a WebSocket refusal.
pub fn upstream_spdy_request(uri: Uri, mut headers: HeaderMap) -> Request<BoxBody> {
    for name in CLIENT_UPGRADE_HEADERS {
        headers.remove(name);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        header::UPGRADE,
        HeaderValue::from_static(jitgate_wire::upgrade::SPDY_UPGRADE),
    );
    headers.insert(
        jitgate_wire::upgrade::STREAM_PROTOCOL_VERSION_HEADER,
        HeaderValue::from_static(jitgate_wire::remotecommand::Protocol::V4.name()),
    );
    let mut req = Request::new(empty());
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    req
}

/// Checks the apiserver's `101` to the gateway's SPDY upgrade.
pub fn accepted_upstream_spdy(headers: &HeaderMap) -> Result<(), String> {
    let chosen = headers
        .get(jitgate_wire::upgrade::STREAM_PROTOCOL_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if chosen == jitgate_wire::remotecommand::Protocol::V4.name() {
        Ok(())
    } else {
        Err(format!(
            "the apiserver chose the SPDY stream protocol {chosen:?}, not v4.channel.k8s.io"
        ))
    }
}

/// The gateway's WebSocket upgrade to the apiserver for port-forward: SPDY tunnelled in
/// WebSocket (`SPDY/3.1+portforward.k8s.io`), and the key it must see accepted.
pub fn upstream_tunnel_request(uri: Uri, mut headers: HeaderMap) -> (Request<BoxBody>, String) {
    for name in CLIENT_UPGRADE_HEADERS {
        headers.remove(name);
    }
    let key = new_websocket_key();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
    if let Ok(v) = HeaderValue::from_str(&key) {
        headers.insert("sec-websocket-key", v);
    }
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(jitgate_wire::portforward::SPDY_TUNNEL_PROTOCOL),
    );
    let mut req = Request::new(empty());
    *req.method_mut() = http::Method::GET;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    (req, key)
}

/// Checks the apiserver's `101` to the gateway's tunnel upgrade.
pub fn accepted_upstream_tunnel(headers: &HeaderMap, key: &str) -> Result<(), String> {
    let accept = headers
        .get("sec-websocket-accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept != websocket_accept(key) {
        return Err("the apiserver's WebSocket handshake has a wrong Sec-WebSocket-Accept".into());
    }
    let chosen = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    if chosen == jitgate_wire::portforward::SPDY_TUNNEL_PROTOCOL {
        Ok(())
    } else {
        Err(format!(
            "the apiserver chose {chosen:?} for port-forward, not SPDY/3.1+portforward.k8s.io"
        ))
    }
}

/// The gateway's plain SPDY upgrade to the apiserver for port-forward.
pub fn upstream_portforward_spdy_request(uri: Uri, mut headers: HeaderMap) -> Request<BoxBody> {
    for name in CLIENT_UPGRADE_HEADERS {
        headers.remove(name);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        header::UPGRADE,
        HeaderValue::from_static(jitgate_wire::upgrade::SPDY_UPGRADE),
    );
    headers.insert(
        jitgate_wire::upgrade::STREAM_PROTOCOL_VERSION_HEADER,
        HeaderValue::from_static(jitgate_wire::portforward::PROTOCOL),
    );
    let mut req = Request::new(empty());
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    req
}

/// The `101` for kubectl's port-forward upgrade.
pub fn portforward_switching_response(
    transport: PortForwardTransport,
    client_headers: &HeaderMap,
) -> Response<BoxBody> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    match transport {
        PortForwardTransport::Spdy => {
            h.insert(
                header::UPGRADE,
                HeaderValue::from_static(jitgate_wire::upgrade::SPDY_UPGRADE),
            );
            h.insert(
                jitgate_wire::upgrade::STREAM_PROTOCOL_VERSION_HEADER,
                HeaderValue::from_static(jitgate_wire::portforward::PROTOCOL),
            );
        }
        PortForwardTransport::Tunnel | PortForwardTransport::Channels(_) => {
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            let key = jitgate_session::handshake::websocket_key(client_headers).unwrap_or("");
            if let Ok(v) = HeaderValue::from_str(&websocket_accept(key)) {
                h.insert("sec-websocket-accept", v);
            }
            let protocol = match transport {
                PortForwardTransport::Channels(p) => p.name(),
                _ => jitgate_wire::portforward::SPDY_TUNNEL_PROTOCOL,
            };
            h.insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
        }
    }
    resp
}
