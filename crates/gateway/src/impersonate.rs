//! Impersonation: the apiserver sees the human, not the gateway.
//!
//! Client-sent `Impersonate-*` headers are refused outright (the gateway is the only one who may
//! assert identity); credentials, proxy headers and hop-by-hop headers never go upstream.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// The prefix of every group the gateway asserts for a profile.
pub const RESERVED_GROUP_PREFIX: &str = "jitgate:";
/// Extra key carrying the grant id into the Kubernetes audit log.
pub const EXTRA_GRANT: &str = "jitgate.dev/grant";
/// Extra key carrying the session id into the Kubernetes audit log.
pub const EXTRA_SESSION: &str = "jitgate.dev/session";

/// The name of the first client header that tries to impersonate, if any.
pub fn forbidden_impersonation(headers: &HeaderMap) -> Option<&HeaderName> {
    headers
        .keys()
        .find(|name| name.as_str().starts_with("impersonate-"))
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and everything that names who the caller is.
fn strip(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "authorization"
            | "host"
            | "forwarded"
            | "x-real-ip"
    ) || name.starts_with("x-forwarded-")
        || name.starts_with("x-remote-")
        || name.starts_with("impersonate-")
}

/// Who to impersonate upstream.
#[derive(Debug, Clone)]
pub struct Impersonation<'a> {
    /// The human.
    pub user: &'a str,
    /// Reserved profile groups of the caller's active grants.
    pub profiles: Vec<&'a str>,
    /// The grant this request is allowed by; for discovery and self-reviews, every active grant
    /// of the caller (so `kubectl auth whoami` shows them).
    pub grants: Vec<&'a str>,
    /// The session (connection) id.
    pub session: &'a str,
}

/// Characters percent-encoded in an `Impersonate-Extra-<key>` header name (Kubernetes decodes
/// the key with URL path unescaping; `/` is not a legal header-name character).
const EXTRA_KEY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b'%')
    .add(b':')
    .add(b'"')
    .add(b'(')
    .add(b')')
    .add(b',')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'{')
    .add(b'}');

fn extra_header(key: &str) -> Option<HeaderName> {
    let encoded = utf8_percent_encode(key, EXTRA_KEY)
        .to_string()
        .to_ascii_lowercase();
    HeaderName::from_bytes(format!("impersonate-extra-{encoded}").as_bytes()).ok()
}

/// Builds the upstream headers: the client's headers minus what must not pass, plus the
/// impersonation headers. `upgrade` keeps `Connection: Upgrade` and the `Upgrade` value.
pub fn upstream_headers(
    client: &HeaderMap,
    who: &Impersonation<'_>,
    upgrade: Option<&HeaderValue>,
    authorization: Option<&str>,
) -> HeaderMap {
    // Headers named in Connection are hop-by-hop too.
    let listed: Vec<String> = client
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(client.len() + 6);
    for (name, value) in client {
        let n = name.as_str();
        if strip(n) || listed.iter().any(|l| l == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if let Some(up) = upgrade {
        out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        out.insert(header::UPGRADE, up.clone());
    }
    if let Some(auth) = authorization
        && let Ok(v) = HeaderValue::from_str(auth)
    {
        out.insert(header::AUTHORIZATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(who.user) {
        out.insert(HeaderName::from_static("impersonate-user"), v);
    }
    let group = HeaderName::from_static("impersonate-group");
    for p in &who.profiles {
        if let Ok(v) = HeaderValue::from_str(&format!("{RESERVED_GROUP_PREFIX}{p}")) {
            out.append(group.clone(), v);
        }
    }
    out.append(group, HeaderValue::from_static("system:authenticated"));
    if let Some(name) = extra_header(EXTRA_GRANT) {
        for grant in &who.grants {
            if let Ok(v) = HeaderValue::from_str(grant) {
                out.append(name.clone(), v);
            }
        }
    }
    if let (Some(name), Ok(v)) = (
        extra_header(EXTRA_SESSION),
        HeaderValue::from_str(who.session),
    ) {
        out.insert(name, v);
    }
    out
}

/// Drops hop-by-hop headers from an upstream response before it goes back to the client.
pub fn downstream_headers(upstream: &mut HeaderMap, keep_upgrade: bool) {
    for name in [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        if keep_upgrade && (name == "connection" || name == "upgrade") {
            continue;
        }
        upstream.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap_or(HeaderName::from_static("x-bad")),
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("bad")),
            );
        }
        h
    }

    #[test]
    fn every_impersonation_header_is_caught() {
        for name in [
            "Impersonate-User",
            "impersonate-group",
            "Impersonate-Uid",
            "Impersonate-Extra-scopes",
        ] {
            assert!(
                forbidden_impersonation(&headers(&[(name, "x")])).is_some(),
                "{name}"
            );
        }
        assert!(forbidden_impersonation(&headers(&[("accept", "x")])).is_none());
    }

    #[test]
    fn credentials_and_proxy_headers_never_go_upstream() {
        let client = headers(&[
            ("authorization", "Bearer stolen"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-remote-user", "admin"),
            ("connection", "x-secret"),
            ("x-secret", "1"),
            ("accept", "application/json"),
        ]);
        let who = Impersonation {
            user: "alice",
            profiles: vec!["oncall-debug"],
            grants: vec!["g-1"],
            session: "s-1",
        };
        let out = upstream_headers(&client, &who, None, None);
        assert!(out.get("authorization").is_none());
        assert!(out.get("x-forwarded-for").is_none());
        assert!(out.get("x-remote-user").is_none());
        assert!(out.get("x-secret").is_none());
        assert_eq!(
            out.get("accept").map(HeaderValue::as_bytes),
            Some(&b"application/json"[..])
        );
        assert_eq!(
            out.get("impersonate-user").map(HeaderValue::as_bytes),
            Some(&b"alice"[..])
        );
        let groups: Vec<_> = out
            .get_all("impersonate-group")
            .iter()
            .map(|v| v.as_bytes().to_vec())
            .collect();
        assert_eq!(
            groups,
            vec![
                b"jitgate:oncall-debug".to_vec(),
                b"system:authenticated".to_vec()
            ]
        );
        assert_eq!(
            out.get("impersonate-extra-jitgate.dev%2fgrant")
                .map(HeaderValue::as_bytes),
            Some(&b"g-1"[..])
        );
        assert_eq!(
            out.get("impersonate-extra-jitgate.dev%2fsession")
                .map(HeaderValue::as_bytes),
            Some(&b"s-1"[..])
        );
    }
}
