//! OIDC ID tokens as bearer tokens: the gateway side of `jitgate-oidc`.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use crate::authn::{AuthMethod, AuthnError, Identity, TokenAuthenticator};

/// How to trust an OIDC issuer.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The issuer URL (exactly as in its tokens' `iss`).
    pub issuer: String,
    /// The client id tokens must be issued to (`aud`).
    pub client_id: String,
    /// A PEM bundle to trust for the issuer's TLS instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// The claim holding the user name (default `email`).
    pub username_claim: String,
    /// The claim holding the groups (default `groups`).
    pub groups_claim: String,
    /// The client secret `kubectl jit login` must send to the token endpoint, for providers
    /// that insist on one for a native client (Dex with a secret configured). Not confidential:
    /// `/jitgate/v1/config` publishes it (RFC 8252 §8.5).
    pub client_secret: Option<String>,
}

/// Verifies ID tokens against one issuer.
#[derive(Debug)]
pub struct OidcTokens(jitgate_oidc::Authenticator);

impl OidcTokens {
    /// Builds the verifier and its key cache; keys are fetched on first use.
    pub fn build(s: &OidcSettings) -> Result<Arc<dyn TokenAuthenticator>, String> {
        let mut vc = jitgate_oidc::VerifierConfig::new(s.issuer.clone(), s.client_id.clone());
        vc.username_claim = s.username_claim.clone();
        vc.groups_claim = s.groups_claim.clone();
        let verifier = jitgate_oidc::Verifier::new(vc).map_err(|e| e.to_string())?;
        let mut kc = jitgate_oidc::JwksCacheConfig::new(s.issuer.clone());
        if let Some(path) = &s.ca_file {
            kc.ca_bundle_pem =
                Some(std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?);
        }
        let keys = jitgate_oidc::JwksCache::new(kc).map_err(|e| e.to_string())?;
        let auth = jitgate_oidc::Authenticator::new(verifier, keys).map_err(|e| e.to_string())?;
        Ok(Arc::new(Self(auth)))
    }
}

impl TokenAuthenticator for OidcTokens {
    fn authenticate<'a>(
        &'a self,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Identity, AuthnError>> + Send + 'a>> {
        Box::pin(async move {
            let claims = self
                .0
                .authenticate(token)
                .await
                .map_err(|e| AuthnError::Token(e.to_string()))?;
            Ok(Identity {
                user: claims.username,
                groups: claims.groups,
                method: AuthMethod::OidcToken,
                expires_at: Some(claims.expires_at),
            })
        })
    }
}
