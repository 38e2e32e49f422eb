//! Credentials the jitgate CLI and Dex would never hand out, made on purpose so that tests can
//! check the gateway refuses them: certificates signed by the jitgate CA key with bad validity,
//! usage or names, certificates from foreign CAs, and tampered or forged JWTs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::stack::{StackError, StackResult};

fn crypto(what: &str) -> impl Fn(rcgen::Error) -> StackError + '_ {
    move |e| StackError::Crypto(format!("{what}: {e}"))
}

/// What goes into a crafted client certificate.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// Subject CN (the user).
    pub cn: String,
    /// Subject O entries (the groups).
    pub orgs: Vec<String>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Extended key usages.
    pub eku: Vec<ExtendedKeyUsagePurpose>,
}

impl CertSpec {
    /// A client certificate for `cn` as jitgate would issue it: clientAuth, valid from a
    /// minute ago for an hour.
    pub fn client(cn: &str) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            cn: cn.to_owned(),
            orgs: Vec::new(),
            not_before: now - Duration::minutes(1),
            not_after: now + Duration::hours(1),
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
        }
    }

    /// Valid only between `from_now` and `to_now` (offsets from now).
    pub fn valid(mut self, from_now: Duration, to_now: Duration) -> Self {
        let now = OffsetDateTime::now_utc();
        self.not_before = now + from_now;
        self.not_after = now + to_now;
        self
    }

    /// With these extended key usages instead.
    pub fn eku(mut self, eku: Vec<ExtendedKeyUsagePurpose>) -> Self {
        self.eku = eku;
        self
    }

    /// With an O (group).
    pub fn org(mut self, org: &str) -> Self {
        self.orgs.push(org.to_owned());
        self
    }
}

/// A crafted certificate and its key.
#[derive(Debug, Clone)]
pub struct CraftedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The key (PKCS#8), PEM.
    pub key_pem: String,
}

/// A CA that signs crafted certificates: the real jitgate CA (from its key) or a foreign one.
pub struct CraftingCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub cert_pem: String,
}

impl std::fmt::Debug for CraftingCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CraftingCa").finish_non_exhaustive()
    }
}

impl CraftingCa {
    /// The CA whose certificate and PKCS#8 key are given.
    pub fn load(cert_pem: &str, key_pem: &str) -> StackResult<Self> {
        let key = KeyPair::from_pem(key_pem).map_err(crypto("reading the CA key"))?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .map_err(crypto("reading the CA certificate"))?;
        Ok(Self {
            issuer,
            cert_pem: cert_pem.to_owned(),
        })
    }

    /// A new self-signed CA, unknown to the gateway, with subject `CN=<cn>, O=<org>`.
    pub fn generate(cn: &str, org: &str) -> StackResult<Self> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(crypto("generating a CA key"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        if !org.is_empty() {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org);
        }
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(1);
        let cert = params
            .self_signed(&key)
            .map_err(crypto("self-signing a CA"))?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Signs a client certificate for `spec` with a fresh P-256 key.
    pub fn issue(&self, spec: &CertSpec) -> StackResult<CraftedCert> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(crypto("generating a client key"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, &spec.cn);
        for org in &spec.orgs {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org);
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = spec.eku.clone();
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(crypto("signing a client certificate"))?;
        Ok(CraftedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// base64url without padding, as in JWTs.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT taken apart.
#[derive(Debug, Clone)]
pub struct Jwt {
    /// The decoded header.
    pub header: Value,
    /// The decoded payload (claims).
    pub payload: Value,
    /// The third part, still encoded.
    pub signature_b64: String,
}

impl Jwt {
    /// Splits and decodes a compact JWS.
    pub fn decode(token: &str) -> StackResult<Self> {
        let bad = |why: String| StackError::unexpected("a JWT", why);
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, s] = parts.as_slice() else {
            return Err(bad(format!("{} parts, not 3", parts.len())));
        };
        let json = |part: &str, what: &str| -> StackResult<Value> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|e| bad(format!("{what} is not base64url: {e}")))?;
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("{what} is not JSON: {e}")))
        };
        Ok(Self {
            header: json(h, "header")?,
            payload: json(p, "payload")?,
            signature_b64: (*s).to_owned(),
        })
    }

    /// The token with `payload` instead, re-encoded, keeping the original header and signature
    /// (which then no longer matches).
    pub fn with_payload(&self, payload: &Value) -> String {
        format!(
            "{}.{}.{}",
            b64url(self.header.to_string().as_bytes()),
            b64url(payload.to_string().as_bytes()),
            self.signature_b64
        )
    }

    /// An unsigned token (`alg: none`, empty signature) with the same claims.
    pub fn unsigned(&self) -> String {
        let mut header = self.header.clone();
        header["alg"] = Value::from("none");
        format!(
            "{}.{}.",
            b64url(header.to_string().as_bytes()),
            b64url(self.payload.to_string().as_bytes())
        )
    }

    /// The same claims signed HS256 with `secret` (the classic key-confusion attack when the
    /// secret is the issuer's public key).
    pub fn hs256(&self, secret: &[u8]) -> String {
        let mut header = self.header.clone();
        header["alg"] = Value::from("HS256");
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(self.payload.to_string().as_bytes())
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        let tag = ring::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", b64url(tag.as_ref()))
    }
}

/// The PEM `PUBLIC KEY` (SubjectPublicKeyInfo) of an RSA JWK with base64url `n` and `e`.
pub fn rsa_jwk_to_spki_der(n_b64: &str, e_b64: &str) -> StackResult<Vec<u8>> {
    let dec = |v: &str| {
        URL_SAFE_NO_PAD
            .decode(v)
            .map_err(|e| StackError::unexpected("an RSA JWK", format!("bad base64url: {e}")))
    };
    let rsa_public_key = der_seq(&[der_uint(&dec(n_b64)?), der_uint(&dec(e_b64)?)].concat());
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    let alg = der_seq(&[
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ]);
    let mut bits = vec![0u8];
    bits.extend_from_slice(&rsa_public_key);
    Ok(der_seq(&[alg, der_tlv(0x03, &bits)].concat()))
}

/// PEM-encodes DER with a label, 64 columns.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

fn der_seq(content: &[u8]) -> Vec<u8> {
    der_tlv(0x30, content)
}

fn der_uint(be: &[u8]) -> Vec<u8> {
    let trimmed: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(&trimmed);
    der_tlv(0x02, &content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(header: &Value, payload: &Value, sig: &str) -> String {
        format!(
            "{}.{}.{sig}",
            b64url(header.to_string().as_bytes()),
            b64url(payload.to_string().as_bytes())
        )
    }

    #[test]
    fn tampering_keeps_the_signature_and_forging_changes_alg() {
        let t = token(
            &json!({"alg":"RS256","kid":"k"}),
            &json!({"aud":"a"}),
            "c2ln",
        );
        let jwt = Jwt::decode(&t).expect("valid");
        let tampered = jwt.with_payload(&json!({"aud":"b"}));
        assert!(tampered.ends_with(".c2ln"));
        assert_eq!(Jwt::decode(&tampered).expect("valid").payload["aud"], "b");
        let none = jwt.unsigned();
        assert!(none.ends_with('.'));
        assert_eq!(Jwt::decode(&none).expect("valid").header["alg"], "none");
        let hs = jwt.hs256(b"k");
        let parsed = Jwt::decode(&hs).expect("valid");
        assert_eq!(parsed.header["alg"], "HS256");
        assert_eq!(parsed.header["kid"], "k");
        assert_ne!(parsed.signature_b64, "c2ln");
        assert!(Jwt::decode("a.b").is_err());
    }

    #[test]
    fn der_integers_and_lengths() {
        assert_eq!(der_uint(&[0x80]), vec![0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der_uint(&[0x00, 0x01]), vec![0x02, 0x01, 0x01]);
        assert_eq!(der_tlv(0x04, &[0u8; 200])[..3], [0x04, 0x81, 200]);
        let spki = rsa_jwk_to_spki_der(&b64url(&[0xc0; 256]), "AQAB").expect("valid");
        assert_eq!(spki[0], 0x30);
        assert!(pem("PUBLIC KEY", &spki).starts_with("-----BEGIN PUBLIC KEY-----\nMII"));
    }

    #[test]
    fn crafted_certificates_carry_what_was_asked() {
        let ca = CraftingCa::generate("foreign", "").expect("ca");
        let cert = ca
            .issue(
                &CertSpec::client("mallory")
                    .org("system:masters")
                    .valid(Duration::hours(-2), Duration::hours(-1)),
            )
            .expect("issued");
        assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(cert.key_pem.contains("PRIVATE KEY"));
        assert!(CraftingCa::load(&ca.cert_pem, "not a key").is_err());
    }
}
