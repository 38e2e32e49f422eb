//! `GET /jitgate/v1/config`: what `kubectl jit login` needs to know before anyone is logged in.

use serde::{Deserialize, Serialize};

use crate::GoDuration;

/// The gateway's public settings: which identity provider to log in with, and the certificate
/// lifetimes it issues. Served without authentication; holds nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerConfig {
    /// The identity provider.
    pub oidc: OidcSettings,
    /// Lifetimes of the client certificates `POST /jitgate/v1/certificates` issues.
    pub certificate: CertificatePolicy,
    /// The gateway's URL as clients should use it (the kubeconfig `server`), e.g.
    /// `https://jitgate.example.com:8443`.
    pub server: String,
}

/// How to log in with the gateway's OpenID Connect provider.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OidcSettings {
    /// The issuer URL (`https://…`), exactly as in the ID tokens' `iss`; discovery is at
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    /// The OAuth 2.0 client id of `kubectl jit` (a public, native client); ID tokens' `aud`.
    pub client_id: String,
    /// Sent to the token endpoint when the provider insists on one for this client (Dex does
    /// when a secret is configured). A native client's secret is not confidential (RFC 8252
    /// §8.5): it is published here for every caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Scopes to ask for, e.g. `["openid", "email", "profile", "groups"]`.
    pub scopes: Vec<String>,
    /// PEM certificates to trust for the provider's TLS instead of the system's CAs (a
    /// provider with a private CA, such as the sandbox's Dex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[set]"),
            )
            .field("scopes", &self.scopes)
            .field(
                "ca_certificate",
                &self.ca_certificate.as_ref().map(String::len),
            )
            .finish()
    }
}

/// Client certificate lifetimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificatePolicy {
    /// Lifetime when the request names none.
    pub default_ttl: GoDuration,
    /// Shortest lifetime issued.
    pub min_ttl: GoDuration,
    /// Longest lifetime issued.
    pub max_ttl: GoDuration,
}

impl CertificatePolicy {
    /// Whether `ttl` is within `[min_ttl, max_ttl]`.
    #[must_use]
    pub fn allows(&self, ttl: GoDuration) -> bool {
        self.min_ttl <= ttl && ttl <= self.max_ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_reaches_debug_output() {
        let s = OidcSettings {
            issuer: "https://dex.example/dex".into(),
            client_id: "jitgate".into(),
            client_secret: Some("hunter2".into()),
            scopes: vec!["openid".into()],
            ca_certificate: None,
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("[set]"), "{shown}");
    }

    #[test]
    fn ttl_policy_bounds_are_inclusive() {
        let p = CertificatePolicy {
            default_ttl: GoDuration::from_secs(8 * 3600),
            min_ttl: GoDuration::from_secs(300),
            max_ttl: GoDuration::from_secs(12 * 3600),
        };
        assert!(p.allows(GoDuration::from_secs(300)));
        assert!(p.allows(GoDuration::from_secs(12 * 3600)));
        assert!(!p.allows(GoDuration::from_secs(299)));
        assert!(!p.allows(GoDuration::from_secs(12 * 3600 + 1)));
    }
}
