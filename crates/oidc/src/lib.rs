//! OpenID Connect ID tokens as bearer credentials for the jitgate gateway.
//!
//! - [`Verifier`] checks one token against the issuer's keys and the time it is given, without
//!   I/O: algorithm allowlist (never `none`, never HMAC, key type decided by the algorithm, not by
//!   the token), key id, signature, `iss`, `aud`/`azp`, `exp`/`nbf`/`iat` with a clock skew,
//!   and maps the username and groups claims to a Kubernetes user (OIDC Core 1.0 §3.1.3.7).
//! - [`JwksCache`] fetches the issuer's keys over HTTPS (discovery, then `jwks_uri`), trusting a
//!   CA bundle of the issuer's if one is given, and refetches on an unknown key id at most once
//!   per cooldown.
//! - [`Authenticator`] puts the two together: `authenticate(token).await`.
//!
//! ```no_run
//! # async fn run() -> Result<(), jitgate_oidc::OidcError> {
//! use jitgate_oidc::{Authenticator, JwksCache, JwksCacheConfig, Verifier, VerifierConfig};
//! let issuer = "https://127.0.0.1:5556/dex";
//! let verifier = Verifier::new(VerifierConfig::new(issuer, "jitgate"))?;
//! let mut keys = JwksCacheConfig::new(issuer);
//! keys.ca_bundle_pem = Some(std::fs::read(".sandbox/dex/ca.crt").unwrap_or_default());
//! let auth = Authenticator::new(verifier, JwksCache::new(keys)?)?;
//! let claims = auth.authenticate("eyJ...").await?;
//! println!("{} in {:?}", claims.username, claims.groups);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod fetch;
pub mod jwk;
pub mod jws;
mod verifier;

#[cfg(test)]
mod testing;

pub use error::{OidcError, Quoted};
pub use fetch::{Authenticator, JwksCache, JwksCacheConfig};
pub use jwk::{Jwk, Jwks};
pub use jws::Algorithm;
pub use verifier::{
    Claims, DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_BYTES, MAX_GROUPS, Verifier, VerifierConfig,
};
