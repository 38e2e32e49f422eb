//! Why a token was refused or keys could not be had: one sentence a person understands.
//!
//! No message ever contains the token. Values read from a token (issuer, audience, key id) are
//! quoted, escaped and cut to a few dozen characters, since the token's author chose them.

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Everything that can go wrong while verifying an ID token or fetching the issuer's keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// The token is longer than the configured limit.
    #[error("the bearer token is {size} bytes, more than the {limit} bytes an ID token may have")]
    TokenTooLarge {
        /// Its length in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The token is not a signed JWT in compact form.
    #[error("the bearer token is not a signed JWT: {0}")]
    Malformed(&'static str),
    /// The header says `alg: none`: nothing is signed.
    #[error("the token is unsigned (alg \"none\"); only signed ID tokens are accepted")]
    Unsigned,
    /// The header names an HMAC algorithm, which would need a secret shared with the issuer.
    #[error(
        "the token is signed with {alg}, a shared-secret (HMAC) algorithm; only the issuer's public-key signatures are accepted"
    )]
    SymmetricAlgorithm {
        /// The algorithm from the header.
        alg: Quoted,
    },
    /// The header names an algorithm this verifier does not implement.
    #[error(
        "the token is signed with {alg}, which is not supported (RS256, RS384, RS512, PS256, ES256, ES384 are)"
    )]
    UnsupportedAlgorithm {
        /// The algorithm from the header.
        alg: Quoted,
    },
    /// The algorithm is supported but not in the configured allowlist.
    #[error(
        "the token is signed with {alg}, which this gateway does not allow (allowed: {allowed})"
    )]
    AlgorithmNotAllowed {
        /// The algorithm from the header.
        alg: &'static str,
        /// The allowlist, comma separated.
        allowed: String,
    },
    /// The header lists critical extensions (`crit`), none of which this verifier understands.
    #[error("the token header lists critical extensions (crit), which are not supported")]
    CriticalHeader,
    /// No key of the issuer has the token's `kid` (after refetching the keys, if allowed).
    #[error(
        "the token was signed with key {kid}, which the issuer does not publish (a retired or foreign key)"
    )]
    UnknownKey {
        /// The key id from the header.
        kid: Quoted,
    },
    /// The token has no `kid` and no key of the issuer fits its algorithm.
    #[error("the token names no key id and the issuer publishes no key for {alg}")]
    NoKeyForAlgorithm {
        /// The algorithm from the header.
        alg: &'static str,
    },
    /// The key the token names is of another type than its algorithm needs (for example an EC
    /// key for RS256), or the key is restricted to another algorithm.
    #[error("key {kid} of the issuer cannot verify {alg} signatures (it is {key})")]
    KeyMismatch {
        /// The key id from the header.
        kid: Quoted,
        /// The algorithm from the header.
        alg: &'static str,
        /// What the key is, e.g. "an EC P-256 key".
        key: String,
    },
    /// The signature does not verify with the issuer's key.
    #[error(
        "the token's signature does not verify with the issuer's key; it was altered or not issued by the issuer"
    )]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error("the token was issued by {found}, not by the trusted issuer {expected:?}")]
    WrongIssuer {
        /// The configured issuer.
        expected: String,
        /// The token's `iss`.
        found: Quoted,
    },
    /// `aud` does not contain the client id.
    #[error("the token is meant for {found}, not for client {expected:?}")]
    WrongAudience {
        /// The configured client id.
        expected: String,
        /// The token's audiences.
        found: Quoted,
    },
    /// The token has several audiences and `azp` names another client.
    #[error(
        "the token has several audiences and was obtained by client {found}, not by {expected:?}"
    )]
    WrongAuthorizedParty {
        /// The configured client id.
        expected: String,
        /// The token's `azp`.
        found: Quoted,
    },
    /// `exp` has passed (beyond the allowed clock skew).
    #[error("the token expired at {} ({}s ago); log in again for a new one", Rfc3339Display(*expired_at), now - expired_at)]
    Expired {
        /// The token's `exp`.
        expired_at: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `nbf` is in the future (beyond the allowed clock skew).
    #[error("the token is not valid before {} (in {}s); check the clocks of this host and the issuer", Rfc3339Display(*not_before), not_before - now)]
    NotYetValid {
        /// The token's `nbf`.
        not_before: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `iat` is in the future (beyond the allowed clock skew).
    #[error("the token claims to be issued at {} ({}s from now); check the clocks of this host and the issuer", Rfc3339Display(*issued_at), issued_at - now)]
    IssuedInFuture {
        /// The token's `iat`.
        issued_at: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// A claim the verifier needs is absent.
    #[error(
        "the token has no {claim:?} claim; ask the issuer to include it (for email and groups, request the scopes \"email\" and \"groups\")"
    )]
    MissingClaim {
        /// The claim's name.
        claim: String,
    },
    /// A claim has the wrong type or an unusable value.
    #[error("the token's {claim:?} claim is unusable: {reason}")]
    InvalidClaim {
        /// The claim's name.
        claim: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The username comes from `email`, and the issuer says the address is not verified.
    #[error("the token's email address is not verified by the issuer (email_verified is false)")]
    EmailNotVerified,
    /// The username or a group is reserved for Kubernetes or jitgate itself.
    #[error(
        "the token names the {what} {name}, which is reserved (system: and jitgate: names are never taken from an issuer)"
    )]
    ReservedName {
        /// "user" or "group".
        what: &'static str,
        /// The name.
        name: Quoted,
    },
    /// The verifier's configuration cannot work.
    #[error("invalid OIDC configuration: {0}")]
    Config(String),
    /// The issuer's CA bundle could not be read.
    #[error("invalid CA bundle for the issuer: {0}")]
    CaBundle(String),
    /// A request to the issuer failed.
    #[error("could not fetch the issuer's {what} from {url}: {reason}")]
    Fetch {
        /// "discovery document" or "keys (JWKS)".
        what: &'static str,
        /// The URL requested.
        url: String,
        /// Why it failed.
        reason: String,
    },
    /// The discovery document is unusable.
    #[error("the issuer's discovery document is unusable: {0}")]
    Discovery(String),
    /// The JWKS document is unusable.
    #[error("the issuer's key set (JWKS) is unusable: {0}")]
    Jwks(String),
}

impl OidcError {
    /// Whether refetching the issuer's keys could make the token verify: its key id is unknown.
    pub fn is_unknown_key(&self) -> bool {
        matches!(
            self,
            Self::UnknownKey { .. } | Self::NoKeyForAlgorithm { .. }
        )
    }
}

/// A value from a token or from the issuer, made safe to show: quoted, escaped and cut to at
/// most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted(String);

impl Quoted {
    const MAX_CHARS: usize = 64;

    /// Quotes `value`.
    pub fn new(value: &str) -> Self {
        let mut chars = value.chars();
        let head: String = chars.by_ref().take(Self::MAX_CHARS).collect();
        let more = chars.next().is_some();
        Self(if more {
            format!("{head:?}…")
        } else {
            format!("{head:?}")
        })
    }

    /// The quoted text, as shown in messages.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shows seconds since the epoch as RFC 3339 UTC.
struct Rfc3339Display(i64);

impl fmt::Display for Rfc3339Display {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
        {
            Some(text) => f.write_str(&text),
            None => write!(f, "unix time {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_escapes_and_truncates() {
        assert_eq!(Quoted::new("a\"b\n").as_str(), r#""a\"b\n""#);
        let long = "x".repeat(100);
        let q = Quoted::new(&long);
        assert!(q.as_str().ends_with("\"…"), "{q}");
        assert_eq!(q.as_str().chars().filter(|c| *c == 'x').count(), 64);
    }

    #[test]
    fn expiry_message_names_the_time() {
        let err = OidcError::Expired {
            expired_at: 1_700_000_000,
            now: 1_700_000_090,
        };
        assert_eq!(
            err.to_string(),
            "the token expired at 2023-11-14T22:13:20Z (90s ago); log in again for a new one"
        );
    }
}
