//! A fake issuer for unit tests: real keys (RSA from tests/data, EC made fresh) that sign any
//! header and claims, honest or forged.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::{Value, json};

use crate::jwk::{Curve, Jwk, Jwks};

pub const ISSUER: &str = "https://idp.example.test/dex";
pub const CLIENT_ID: &str = "jitgate";
pub const NOW: i64 = 1_790_000_000;

const RSA_A: &str = include_str!("../tests/data/rsa-a.pem");
const RSA_B: &str = include_str!("../tests/data/rsa-b.pem");

/// A signing key of the fake issuer.
pub enum SigningKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, Curve),
}

pub struct FakeIssuer {
    pub rsa: SigningKey,
    pub rsa_other: SigningKey,
    pub p256: SigningKey,
    pub p384: SigningKey,
    rng: SystemRandom,
}

fn rsa(pem: &str) -> SigningKey {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).expect("test key is PKCS#8 PEM");
    SigningKey::Rsa(RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).expect("test key is RSA"))
}

fn ec(curve: Curve, rng: &SystemRandom) -> SigningKey {
    let alg = match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        Curve::P384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    };
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, rng).expect("EC key generation");
    SigningKey::Ec(
        EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), rng).expect("fresh EC key"),
        curve,
    )
}

impl SigningKey {
    /// The public half as a JWK with id `kid`.
    pub fn jwk(&self, kid: &str) -> Jwk {
        match self {
            Self::Rsa(key) => {
                let public: RsaPublicKeyComponents<Vec<u8>> = key.public().into();
                Jwk::rsa(Some(kid), &public.n, &public.e).expect("valid RSA JWK")
            }
            Self::Ec(key, curve) => {
                let point = key.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                Jwk::ec(Some(kid), *curve, &point[1..=len], &point[1 + len..])
                    .expect("valid EC JWK")
            }
        }
    }

    /// The public key as PEM (SubjectPublicKeyInfo), what a naive HS256 verifier would load as
    /// its "secret".
    pub fn public_pem(&self) -> String {
        let Self::Rsa(key) = self else {
            panic!("only RSA keys are used for the HS256 confusion test")
        };
        // SubjectPublicKeyInfo = SEQUENCE { rsaEncryption AlgorithmIdentifier, BIT STRING { RSAPublicKey } }
        let rsa_public = key.public().as_ref();
        let mut bit_string = vec![0u8];
        bit_string.extend_from_slice(rsa_public);
        let mut body = vec![
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ];
        body.extend(der_tlv(0x03, &bit_string));
        let spki = der_tlv(0x30, &body);
        let b64 = base64::engine::general_purpose::STANDARD.encode(spki);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_json(value: &Value) -> String {
    b64(value.to_string().as_bytes())
}

impl FakeIssuer {
    pub fn new() -> Self {
        let rng = SystemRandom::new();
        Self {
            rsa: rsa(RSA_A),
            rsa_other: rsa(RSA_B),
            p256: ec(Curve::P256, &rng),
            p384: ec(Curve::P384, &rng),
            rng,
        }
    }

    /// The published key set: "rsa-1", "ec-256", "ec-384" (not rsa_other).
    pub fn jwks(&self) -> Jwks {
        Jwks::new(vec![
            self.rsa.jwk("rsa-1"),
            self.p256.jwk("ec-256"),
            self.p384.jwk("ec-384"),
        ])
    }

    /// Claims of a good token for alice.
    pub fn claims(&self) -> Value {
        json!({
            "iss": ISSUER,
            "sub": "CiQwZDNjMmYxZS1hMTFjLTQwMDAtODAwMC0wMDAwMDAwMDAwMDESBWxvY2Fs",
            "aud": CLIENT_ID,
            "exp": NOW + 3600,
            "iat": NOW - 10,
            "email": "alice@example.com",
            "email_verified": true,
            "groups": ["oncall-payments", "sre"],
        })
    }

    /// A good RS256 token for alice.
    pub fn token(&self) -> String {
        self.sign_rs256(&self.claims())
    }

    pub fn sign_rs256(&self, claims: &Value) -> String {
        self.sign(
            &self.rsa,
            &json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}),
            claims,
        )
    }

    /// Signs header and claims with `key` using the algorithm the header names (for RSA and
    /// EC), whatever the header says otherwise.
    pub fn sign(&self, key: &SigningKey, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64_json(header), b64_json(claims));
        let alg = header["alg"].as_str().unwrap_or("RS256");
        let signature = match key {
            SigningKey::Rsa(key) => {
                let padding: &dyn signature::RsaEncoding = match alg {
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "RS512" => &signature::RSA_PKCS1_SHA512,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; key.public().modulus_len()];
                key.sign(padding, &self.rng, input.as_bytes(), &mut sig)
                    .expect("RSA signing");
                sig
            }
            SigningKey::Ec(key, _) => key
                .sign(&self.rng, input.as_bytes())
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", b64(&signature))
    }

    /// `header.claims.HMAC(secret)`.
    pub fn sign_hmac(header: &Value, claims: &Value, secret: &[u8]) -> String {
        let input = format!("{}.{}", b64_json(header), b64_json(claims));
        let alg = match header["alg"].as_str() {
            Some("HS384") => ring::hmac::HMAC_SHA384,
            Some("HS512") => ring::hmac::HMAC_SHA512,
            _ => ring::hmac::HMAC_SHA256,
        };
        let tag = ring::hmac::sign(&ring::hmac::Key::new(alg, secret), input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    }
}

/// The key set as a JWKS document, as an issuer would publish it.
pub fn jwks_json(jwks: &Jwks) -> String {
    use crate::jwk::PublicKey;
    let keys: Vec<Value> = jwks
        .keys()
        .iter()
        .map(|k| match k.key() {
            PublicKey::Rsa { n, e } => {
                json!({"kty": "RSA", "use": "sig", "kid": k.kid(), "n": b64(n), "e": b64(e)})
            }
            PublicKey::Ec { curve, point } => {
                let len = (point.len() - 1) / 2;
                let crv = if *curve == Curve::P256 {
                    "P-256"
                } else {
                    "P-384"
                };
                json!({"kty": "EC", "use": "sig", "kid": k.kid(), "crv": crv,
                       "x": b64(&point[1..=len]), "y": b64(&point[1 + len..])})
            }
        })
        .collect();
    json!({ "keys": keys }).to_string()
}
