//! The HTTPS client for on-call services: rustls with ring, the bundled Mozilla roots or a
//! configured CA bundle, and plain HTTP only to loopback addresses (for tests).

use std::net::IpAddr;
use std::time::Duration;

use http::Uri;

use crate::OnCallError;

/// The pooled HTTP/1.1 client type.
pub(crate) use jitgate_outbound::HttpClient;

/// A validated base URL: `https://host[:port][/prefix]`, or `http://` to a loopback host.
#[derive(Debug, Clone)]
pub(crate) struct BaseUrl {
    /// Scheme and authority, e.g. `https://api.pagerduty.com`; safe to print.
    pub(crate) origin: String,
    /// Path prefix without a trailing slash (often empty).
    pub(crate) prefix: String,
}

impl BaseUrl {
    pub(crate) fn parse(text: &str) -> Result<Self, OnCallError> {
        let bad = |problem: String| OnCallError::InvalidConfig {
            field: "base_url",
            problem,
        };
        let uri: Uri = text.trim().parse().map_err(|e| {
            bad(format!(
                "{text:?} is not a URL ({e}); write e.g. https://api.pagerduty.com"
            ))
        })?;
        let authority = uri.authority().ok_or_else(|| {
            bad(format!(
                "{text:?} has no host; write e.g. https://api.pagerduty.com"
            ))
        })?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "the URL carries user information; put the API token in api_token instead".into(),
            ));
        }
        if uri.query().is_some() {
            return Err(bad(
                "the URL has a query string; give only scheme, host and path".into(),
            ));
        }
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if is_loopback(authority.host()) => {}
            Some("http") => {
                return Err(bad(format!(
                    "{text:?} is plain http to a host that is not loopback; the API token must \
                     not cross the network unencrypted: use https"
                )));
            }
            _ => return Err(bad(format!("{text:?} must start with https://"))),
        }
        let scheme = uri.scheme_str().unwrap_or("https");
        Ok(Self {
            origin: format!("{scheme}://{authority}"),
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// Whether a URL host is a loopback address (or `localhost`).
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Builds the client ([`jitgate_outbound`]'s). With `ca_pem`, only the certificates in it are
/// trusted; without, the Mozilla root program's roots compiled into the binary (so no system
/// store is needed). Plain http is allowed by the connector but only ever used for URLs that
/// passed `BaseUrl::parse`, which admits it for loopback hosts alone.
pub(crate) fn build(
    ca_pem: Option<&[u8]>,
    connect_timeout: Duration,
) -> Result<HttpClient, OnCallError> {
    jitgate_outbound::build(ca_pem, connect_timeout).map_err(|e| match e {
        jitgate_outbound::BuildError::CaBundle { problem } => OnCallError::CaBundle { problem },
        jitgate_outbound::BuildError::Tls { source } => OnCallError::Tls { source },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
        let cases: &[Case] = &[
            (
                "pagerduty",
                "https://api.pagerduty.com",
                Some(("https://api.pagerduty.com", "")),
            ),
            (
                "prefix",
                "https://proxy.example.com/pd/",
                Some(("https://proxy.example.com", "/pd")),
            ),
            (
                "loopback http",
                "http://127.0.0.1:8080",
                Some(("http://127.0.0.1:8080", "")),
            ),
            (
                "loopback v6",
                "http://[::1]:8080",
                Some(("http://[::1]:8080", "")),
            ),
            (
                "localhost",
                "http://localhost:1",
                Some(("http://localhost:1", "")),
            ),
            ("remote http", "http://api.pagerduty.com", None),
            ("private http", "http://10.0.0.1", None),
            ("no scheme", "api.pagerduty.com", None),
            ("ftp", "ftp://api.pagerduty.com", None),
            ("userinfo", "https://user:pw@api.pagerduty.com", None),
            ("query", "https://api.pagerduty.com/?x=1", None),
        ];
        for (name, text, want) in cases {
            let got = BaseUrl::parse(text).ok();
            let got = got.as_ref().map(|b| (b.origin.as_str(), b.prefix.as_str()));
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn ca_bundle_without_certificates_is_refused() {
        let err = build(Some(b"not a certificate"), Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
    }
}
