//! The issuer's public keys: a JSON Web Key Set (RFC 7517 §5) reduced to the keys that can
//! verify signatures — RSA (RFC 7518 §6.3.1) and EC P-256/P-384 (RFC 7518 §6.2.1).
//!
//! Symmetric (`oct`) keys, encryption keys (`use: enc`) and key types this crate does not
//! implement are dropped while parsing, so no code path can ever verify with them.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::OidcError;
use crate::jws::Algorithm;

/// At most this many keys are kept from one key set; issuers publish a handful.
pub const MAX_KEYS: usize = 64;

/// RSA moduli shorter than this are refused (RFC 7518 §3.3 asks for 2048 bits or more).
const MIN_RSA_MODULUS_BYTES: usize = 256;
/// ... and longer ones than this (ring verifies up to 8192 bits).
const MAX_RSA_MODULUS_BYTES: usize = 1024;

/// An elliptic curve of an EC key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256, for ES256.
    P256,
    /// NIST P-384, for ES384.
    P384,
}

impl Curve {
    /// Bytes in one coordinate.
    fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }
}

/// A public key's material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// An RSA key.
    Rsa {
        /// The modulus, big-endian, no leading zero bytes.
        n: Vec<u8>,
        /// The public exponent, big-endian, no leading zero bytes.
        e: Vec<u8>,
    },
    /// An EC key.
    Ec {
        /// Its curve.
        curve: Curve,
        /// The uncompressed point: `0x04 || x || y`.
        point: Vec<u8>,
    },
}

impl PublicKey {
    /// What the key is, for messages: "an RSA-2048 key", "an EC P-256 key".
    pub fn describe(&self) -> String {
        match self {
            Self::Rsa { n, .. } => format!("an RSA-{} key", n.len() * 8),
            Self::Ec {
                curve: Curve::P256, ..
            } => "an EC P-256 key".to_owned(),
            Self::Ec {
                curve: Curve::P384, ..
            } => "an EC P-384 key".to_owned(),
        }
    }
}

/// One signature-verification key of the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    key: PublicKey,
}

impl Jwk {
    /// An RSA key from its big-endian modulus and exponent.
    pub fn rsa(kid: Option<&str>, n: &[u8], e: &[u8]) -> Result<Self, OidcError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if n.len() < MIN_RSA_MODULUS_BYTES || n.len() > MAX_RSA_MODULUS_BYTES {
            return Err(OidcError::Jwks(format!(
                "RSA key {} has a {}-bit modulus; 2048 to 8192 bits are accepted",
                kid_text(kid),
                n.len() * 8
            )));
        }
        if e.is_empty() || e.len() > 4 {
            return Err(OidcError::Jwks(format!(
                "RSA key {} has an invalid exponent",
                kid_text(kid)
            )));
        }
        Ok(Self {
            kid: kid.map(str::to_owned),
            alg: None,
            key: PublicKey::Rsa {
                n: n.to_vec(),
                e: e.to_vec(),
            },
        })
    }

    /// An EC key from its affine coordinates.
    pub fn ec(kid: Option<&str>, curve: Curve, x: &[u8], y: &[u8]) -> Result<Self, OidcError> {
        let len = curve.coordinate_len();
        if x.len() != len || y.len() != len {
            return Err(OidcError::Jwks(format!(
                "EC key {} has coordinates of {} and {} bytes; its curve needs {len}",
                kid_text(kid),
                x.len(),
                y.len()
            )));
        }
        let mut point = Vec::with_capacity(1 + 2 * len);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Ok(Self {
            kid: kid.map(str::to_owned),
            alg: None,
            key: PublicKey::Ec { curve, point },
        })
    }

    /// Restricts the key to one algorithm, as the JWK member `alg` does.
    pub fn with_alg(mut self, alg: &str) -> Self {
        self.alg = Some(alg.to_owned());
        self
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key material.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Whether this key may verify `alg` signatures: the key type must be the one the algorithm
    /// needs — never what the token's header claims about it — and a key restricted to an
    /// algorithm (`alg` member) verifies only that one.
    pub fn fits(&self, alg: Algorithm) -> bool {
        if self
            .alg
            .as_deref()
            .is_some_and(|restricted| restricted != alg.name())
        {
            return false;
        }
        matches!(
            (&self.key, alg),
            (
                PublicKey::Rsa { .. },
                Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256
            ) | (
                PublicKey::Ec {
                    curve: Curve::P256,
                    ..
                },
                Algorithm::ES256
            ) | (
                PublicKey::Ec {
                    curve: Curve::P384,
                    ..
                },
                Algorithm::ES384
            )
        )
    }

    /// Parses one member of a JWKS `keys` array. `Ok(None)` for a key that is valid JSON but of
    /// no use here (symmetric, for encryption, an unimplemented type or curve).
    fn from_json(value: &Value) -> Result<Option<Self>, OidcError> {
        let obj = value
            .as_object()
            .ok_or_else(|| OidcError::Jwks("a key is not a JSON object".into()))?;
        let kid = optional_str(obj, "kid")?;
        if optional_str(obj, "use")?.is_some_and(|u| u != "sig") {
            return Ok(None);
        }
        let alg = optional_str(obj, "alg")?;
        let key = match optional_str(obj, "kty")? {
            Some("RSA") => Self::rsa(
                kid,
                &b64_member(obj, "n", kid)?,
                &b64_member(obj, "e", kid)?,
            )?,
            Some("EC") => {
                let curve = match optional_str(obj, "crv")? {
                    Some("P-256") => Curve::P256,
                    Some("P-384") => Curve::P384,
                    _ => return Ok(None),
                };
                Self::ec(
                    kid,
                    curve,
                    &b64_member(obj, "x", kid)?,
                    &b64_member(obj, "y", kid)?,
                )?
            }
            Some(_) => return Ok(None),
            None => {
                return Err(OidcError::Jwks(format!(
                    "key {} has no \"kty\"",
                    kid_text(kid)
                )));
            }
        };
        Ok(Some(match alg {
            Some(alg) => key.with_alg(alg),
            None => key,
        }))
    }
}

/// The issuer's signature-verification keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Jwks {
    keys: Vec<Jwk>,
}

impl Jwks {
    /// A key set of the given keys.
    pub fn new(keys: Vec<Jwk>) -> Self {
        Self { keys }
    }

    /// Parses a JWKS document (`{"keys": [...]}`), keeping the keys that can verify signatures.
    /// A key that claims a usable type but is malformed fails the whole set: an issuer that
    /// publishes broken keys is misconfigured, and saying so beats silently dropping its key.
    pub fn from_json(json: &[u8]) -> Result<Self, OidcError> {
        let doc: Value = serde_json::from_slice(json)
            .map_err(|e| OidcError::Jwks(format!("it is not valid JSON ({e})")))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| OidcError::Jwks("it has no \"keys\" array".into()))?;
        if keys.len() > MAX_KEYS {
            return Err(OidcError::Jwks(format!(
                "it has {} keys, more than {MAX_KEYS}",
                keys.len()
            )));
        }
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(jwk) = Jwk::from_json(key)? {
                out.push(jwk);
            }
        }
        Ok(Self { keys: out })
    }

    /// Every key.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Whether the set has no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys with this key id (normally one).
    pub fn with_kid<'a>(&'a self, kid: &'a str) -> impl Iterator<Item = &'a Jwk> + 'a {
        self.keys
            .iter()
            .filter(move |k| k.kid.as_deref() == Some(kid))
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn kid_text(kid: Option<&str>) -> String {
    kid.map_or_else(
        || "(without kid)".to_owned(),
        |k| crate::Quoted::new(k).to_string(),
    )
}

fn optional_str<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, OidcError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(OidcError::Jwks(format!("a key's {name:?} is not a string"))),
    }
}

fn b64_member(
    obj: &Map<String, Value>,
    name: &str,
    kid: Option<&str>,
) -> Result<Vec<u8>, OidcError> {
    let text = optional_str(obj, name)?
        .ok_or_else(|| OidcError::Jwks(format!("key {} has no {name:?}", kid_text(kid))))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| OidcError::Jwks(format!("key {}'s {name:?} is not base64url", kid_text(kid))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn keeps_signature_keys_and_drops_the_rest() {
        let n = b64(&[0xC5; 256]);
        let x = b64(&[1; 32]);
        let doc = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": n, "e": "AQAB"},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": x, "y": x},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": x},
            {"kty": "EC", "kid": "k1", "crv": "secp256k1", "x": x, "y": x},
        ]});
        let jwks = Jwks::from_json(doc.to_string().as_bytes()).expect("valid set");
        let kids: Vec<_> = jwks.keys().iter().filter_map(Jwk::kid).collect();
        assert_eq!(kids, ["r1", "e1"]);
        let r1 = jwks.with_kid("r1").next().expect("r1");
        assert!(r1.fits(Algorithm::RS256));
        assert!(!r1.fits(Algorithm::RS512), "alg member restricts the key");
        assert!(!r1.fits(Algorithm::ES256));
        let e1 = jwks.with_kid("e1").next().expect("e1");
        assert!(e1.fits(Algorithm::ES256));
        assert!(!e1.fits(Algorithm::ES384));
        assert!(!e1.fits(Algorithm::RS256));
    }

    #[test]
    fn refuses_short_rsa_moduli() {
        let doc = serde_json::json!({"keys": [{"kty": "RSA", "kid": "weak", "n": b64(&[0xC5; 128]), "e": "AQAB"}]});
        let err = Jwks::from_json(doc.to_string().as_bytes()).expect_err("1024-bit key");
        assert!(err.to_string().contains("1024-bit modulus"), "{err}");
    }

    #[test]
    fn refuses_wrong_coordinate_lengths() {
        let doc = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-384", "x": b64(&[1; 32]), "y": b64(&[1; 32])}]});
        let err =
            Jwks::from_json(doc.to_string().as_bytes()).expect_err("P-256 sized point on P-384");
        assert!(err.to_string().contains("needs 48"), "{err}");
    }

    #[test]
    fn refuses_documents_without_keys() {
        for doc in [&b"[]"[..], b"{}", b"not json", br#"{"keys": {}}"#] {
            assert!(matches!(Jwks::from_json(doc), Err(OidcError::Jwks(_))));
        }
    }

    #[test]
    fn leading_zeros_of_the_modulus_do_not_count() {
        let mut n = vec![0u8];
        n.extend_from_slice(&[0xC5; 256]);
        let jwk = Jwk::rsa(None, &n, &[1, 0, 1]).expect("2048-bit key with a sign byte");
        assert_eq!(jwk.key().describe(), "an RSA-2048 key");
    }
}
