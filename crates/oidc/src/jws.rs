//! JWS compact serialization (RFC 7515 §7.1) and signature verification with ring.
//!
//! The header decides only *which* algorithm the issuer claims to have used; whether that
//! algorithm is acceptable, which key verifies it and what type that key must be are decided
//! here, from the allowlist and the issuer's key set. `none` and the HMAC family have no
//! [`Algorithm`] value at all, so they cannot be allowed by mistake.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

use crate::jwk::{Jwk, PublicKey};
use crate::{OidcError, Quoted};

/// A signature algorithm this crate verifies (RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
}

impl Algorithm {
    /// Every algorithm, the default allowlist.
    pub const ALL: [Self; 6] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::ES256,
        Self::ES384,
    ];

    /// The JOSE name, as in a header's `alg`.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
        }
    }

    /// The algorithm with this JOSE name, if this crate implements it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Classifies a header's `alg`: refuses `none` and HMAC with their own errors.
    fn from_header(alg: &str) -> Result<Self, OidcError> {
        if alg.eq_ignore_ascii_case("none") {
            return Err(OidcError::Unsigned);
        }
        if alg.starts_with("HS") {
            return Err(OidcError::SymmetricAlgorithm {
                alg: Quoted::new(alg),
            });
        }
        Self::from_name(alg).ok_or_else(|| OidcError::UnsupportedAlgorithm {
            alg: Quoted::new(alg),
        })
    }

    /// Verifies `signature` over `message` with `key`, which must fit this algorithm.
    fn verify(self, key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
        let ok = match (self, key) {
            (Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256, PublicKey::Rsa { n, e }) => {
                let params: &signature::RsaParameters = match self {
                    Self::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                    Self::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                    Self::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                    _ => &signature::RSA_PSS_2048_8192_SHA256,
                };
                RsaPublicKeyComponents { n, e }.verify(params, message, signature)
            }
            (Self::ES256, PublicKey::Ec { point, .. }) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, signature)
            }
            (Self::ES384, PublicKey::Ec { point, .. }) => {
                UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point)
                    .verify(message, signature)
            }
            // A key of the wrong type never verifies, whatever the caller checked before.
            _ => return false,
        };
        ok.is_ok()
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A compact JWS split into its parts, the header parsed and checked, the signature not yet
/// verified and the payload not yet decoded.
#[derive(Debug)]
pub(crate) struct CompactJws<'a> {
    /// The algorithm the header names, already known to be implemented.
    pub alg: Algorithm,
    /// The header's key id.
    pub kid: Option<String>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: the bytes that are signed.
    signing_input: &'a str,
    payload_b64: &'a str,
    signature: Vec<u8>,
}

impl<'a> CompactJws<'a> {
    /// Splits and decodes `token`, and checks its header.
    pub fn parse(token: &'a str) -> Result<Self, OidcError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(OidcError::Malformed(
                "it does not have three dot-separated parts",
            ));
        };
        if parts.next().is_some() {
            return Err(OidcError::Malformed(
                "it has more than three dot-separated parts (encrypted tokens, JWE, are not accepted)",
            ));
        }
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        let header = decode_json_object(header_b64)
            .map_err(|()| OidcError::Malformed("its header is not base64url-encoded JSON"))?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => Algorithm::from_header(alg)?,
            Some(_) => return Err(OidcError::Malformed("its header's \"alg\" is not a string")),
            None => return Err(OidcError::Malformed("its header has no \"alg\"")),
        };
        // RFC 7515 §4.1.11: a recipient must refuse extensions it does not understand.
        if header.contains_key("crit") {
            return Err(OidcError::CriticalHeader);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(OidcError::Malformed("its header's \"kid\" is not a string")),
        };
        if signature_b64.is_empty() {
            return Err(OidcError::Malformed("its signature is empty"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| OidcError::Malformed("its signature is not base64url"))?;
        Ok(Self {
            alg,
            kid,
            signing_input,
            payload_b64,
            signature,
        })
    }

    /// Verifies the signature with `key`, which the caller chose from the issuer's key set.
    pub fn verify_with(&self, key: &Jwk) -> bool {
        key.fits(self.alg)
            && self
                .alg
                .verify(key.key(), self.signing_input.as_bytes(), &self.signature)
    }

    /// Decodes the payload as a JSON object. Call only after the signature verified.
    pub fn claims(&self) -> Result<Map<String, Value>, OidcError> {
        decode_json_object(self.payload_b64).map_err(|()| {
            OidcError::Malformed("its payload is not a base64url-encoded JSON object")
        })
    }
}

fn decode_json_object(b64: &str) -> Result<Map<String, Value>, ()> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).map_err(|_| ())?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(()),
    }
}
