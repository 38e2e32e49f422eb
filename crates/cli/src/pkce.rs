//! Proof Key for Code Exchange (RFC 7636) with the S256 method, and the random `state` and
//! `nonce` values of a login.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::CliError;

/// `n` random bytes, base64url without padding: 32 bytes make 43 characters, the shortest
/// verifier RFC 7636 §4.1 allows and 256 bits of entropy.
pub fn random_token(bytes: usize) -> Result<String, CliError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| CliError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// A code verifier and its S256 challenge (RFC 7636 §4.1–4.2).
#[derive(Clone)]
pub struct Pkce {
    verifier: String,
    challenge: String,
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &"[secret]")
            .field("challenge", &self.challenge)
            .finish()
    }
}

impl Pkce {
    /// A fresh verifier from 32 random bytes.
    pub fn generate() -> Result<Self, CliError> {
        Ok(Self::from_verifier(random_token(32)?))
    }

    /// The pair for a given verifier: `challenge = BASE64URL(SHA256(ASCII(verifier)))`.
    pub fn from_verifier(verifier: String) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        Self {
            challenge: URL_SAFE_NO_PAD.encode(digest.as_ref()),
            verifier,
        }
    }

    /// The secret sent to the token endpoint.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// The value sent in the authorization request.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// Always `S256`; `plain` is never used.
    pub fn method(&self) -> &'static str {
        "S256"
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_test_vector() {
        let pkce = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned());
        assert_eq!(
            pkce.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(pkce.method(), "S256");
    }

    #[test]
    fn generated_verifiers_are_43_unreserved_characters_and_differ() {
        let a = Pkce::generate().unwrap();
        let b = Pkce::generate().unwrap();
        assert_eq!(a.verifier().len(), 43);
        assert!(
            a.verifier()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "RFC 7636 §4.1 unreserved characters only"
        );
        assert_ne!(a.verifier(), b.verifier());
        assert_eq!(
            Pkce::from_verifier(a.verifier().to_owned()).challenge(),
            a.challenge()
        );
    }

    #[test]
    fn verifier_is_not_printed() {
        let pkce = Pkce::generate().unwrap();
        assert!(!format!("{pkce:?}").contains(pkce.verifier()));
    }

    #[test]
    fn secrets_compare() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert!(!constant_time_eq("", "a"));
    }
}
