//! Logging a person in with the gateway's OpenID provider and getting a verified ID token.
//!
//! Two flows, each in two steps so that the caller decides how the person is told what to do
//! (open a browser, print a URL, print a code):
//! - authorization code with PKCE S256 and a loopback redirect (RFC 8252 §7.3, RFC 7636):
//!   [`OidcLogin::start_auth_code`], then [`OidcLogin::finish_auth_code`];
//! - device authorization (RFC 8628): [`OidcLogin::start_device`], then
//!   [`OidcLogin::finish_device`].
//!
//! The ID token is verified here before anyone else sees it — signature against the
//! provider's keys, `iss`, `aud`, expiry (jitgate-oidc's verifier, the gateway's own) and, in
//! the code flow, the `nonce` this login sent (OIDC Core §3.1.3.7 item 11).

mod auth_code;
mod device;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jitgate_api::OidcSettings;
use jitgate_oidc::{Authenticator, Claims, JwksCache, JwksCacheConfig, Verifier, VerifierConfig};

pub use auth_code::{CallbackParams, PendingAuthCode};
pub use device::{DevicePoll, PendingDevice, PollStep};

use crate::CliError;
use crate::idp::{Discovery, IdpClient};
use crate::pkce::constant_time_eq;

/// A verified ID token. The raw token is never printed.
#[derive(Clone)]
pub struct IdToken {
    raw: String,
    /// Who it names, as the gateway will read it.
    pub claims: Claims,
    /// The nonce it carried, which matched the login's (code flow); `None` in the device flow,
    /// which has no nonce.
    pub nonce: Option<String>,
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdToken")
            .field("raw", &"[secret]")
            .field("claims", &self.claims)
            .field("nonce", &self.nonce)
            .finish()
    }
}

impl IdToken {
    /// The compact JWS, to send as a bearer token. Never log it.
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// A login against one provider: its settings (from the gateway), endpoints and keys.
#[derive(Debug)]
pub struct OidcLogin {
    settings: OidcSettings,
    http: IdpClient,
    discovery: Discovery,
    authenticator: Authenticator,
}

impl OidcLogin {
    /// Discovers the provider's endpoints. Nothing is asked of the person yet.
    pub async fn discover(settings: OidcSettings) -> Result<Self, CliError> {
        let http = IdpClient::new(settings.ca_certificate.as_deref())?;
        let discovery = http.discover(&settings.issuer).await?;
        let verifier = Verifier::new(VerifierConfig::new(
            settings.issuer.clone(),
            settings.client_id.clone(),
        ))
        .map_err(|source| CliError::IdToken {
            issuer: settings.issuer.clone(),
            source,
        })?;
        let mut keys = JwksCacheConfig::new(settings.issuer.clone());
        keys.ca_bundle_pem = settings
            .ca_certificate
            .as_ref()
            .map(|pem| pem.as_bytes().to_vec());
        let authenticator = JwksCache::new(keys)
            .and_then(|keys| Authenticator::new(verifier, keys))
            .map_err(|source| CliError::IdToken {
                issuer: settings.issuer.clone(),
                source,
            })?;
        Ok(Self {
            settings,
            http,
            discovery,
            authenticator,
        })
    }

    /// The provider's endpoints.
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// The scopes to ask for: the gateway's, with `openid` always first.
    fn scope(&self) -> String {
        let mut scopes = vec!["openid"];
        scopes.extend(
            self.settings
                .scopes
                .iter()
                .map(String::as_str)
                .filter(|s| *s != "openid"),
        );
        scopes.join(" ")
    }

    /// The client's basic credentials, when the provider wants a secret.
    fn basic(&self) -> Option<(&str, &str)> {
        self.settings
            .client_secret
            .as_deref()
            .map(|secret| (self.settings.client_id.as_str(), secret))
    }

    /// Verifies `raw` and, when `expected_nonce` is given, that its `nonce` equals it.
    async fn verify(&self, raw: String, expected_nonce: Option<&str>) -> Result<IdToken, CliError> {
        let claims = self
            .authenticator
            .authenticate(&raw)
            .await
            .map_err(|source| CliError::IdToken {
                issuer: self.settings.issuer.clone(),
                source,
            })?;
        // The signature verified, so the payload can be read for the nonce.
        let nonce = nonce_claim(&raw);
        if let Some(expected) = expected_nonce {
            check_nonce(nonce.as_deref(), expected)?;
        }
        Ok(IdToken { raw, claims, nonce })
    }
}

/// The token's nonce must be the one this login sent.
fn check_nonce(found: Option<&str>, expected: &str) -> Result<(), CliError> {
    match found {
        None => Err(CliError::NonceMismatch { missing: true }),
        Some(found) if !constant_time_eq(found, expected) => {
            Err(CliError::NonceMismatch { missing: false })
        }
        Some(_) => Ok(()),
    }
}

/// The `nonce` claim of a compact JWS whose signature was verified.
fn nonce_claim(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("nonce")?.as_str().map(str::to_owned)
}

/// The `id_token` of a successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
fn id_token_of(body: &[u8]) -> Result<String, CliError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| CliError::TokenRefused {
            error: "unreadable token response".to_owned(),
            description: Some(e.to_string()),
        })?;
    value
        .get("id_token")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| CliError::TokenRefused {
            error: "no id_token in the token response".to_owned(),
            description: Some("is the openid scope allowed for this client?".to_owned()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_with(payload: &serde_json::Value) -> String {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(payload.to_string())
        )
    }

    #[test]
    fn nonce_is_read_from_the_payload() {
        let t = token_with(&serde_json::json!({"nonce": "n-123", "sub": "x"}));
        assert_eq!(nonce_claim(&t).as_deref(), Some("n-123"));
        let none = token_with(&serde_json::json!({"sub": "x"}));
        assert_eq!(nonce_claim(&none), None);
        assert_eq!(nonce_claim("garbage"), None);
    }

    #[test]
    fn nonce_must_match() {
        assert!(check_nonce(Some("n-1"), "n-1").is_ok());
        assert!(matches!(
            check_nonce(Some("n-2"), "n-1"),
            Err(CliError::NonceMismatch { missing: false })
        ));
        assert!(matches!(
            check_nonce(None, "n-1"),
            Err(CliError::NonceMismatch { missing: true })
        ));
        assert!(matches!(
            check_nonce(Some(""), "n-1"),
            Err(CliError::NonceMismatch { missing: false })
        ));
    }

    #[test]
    fn token_responses() {
        assert_eq!(
            id_token_of(br#"{"id_token":"a.b.c","access_token":"x"}"#).unwrap(),
            "a.b.c"
        );
        assert!(id_token_of(br#"{"access_token":"x"}"#).is_err());
        assert!(id_token_of(b"not json").is_err());
    }
}
