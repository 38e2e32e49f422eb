//! Client certificates: what a caller asks for, what it gets back, and the DER encoding.
//!
//! The certificate body is written here rather than by rcgen because Kubernetes reads one
//! group per `O` attribute, and rcgen's distinguished names hold each attribute type once.
//! The layout follows RFC 5280 §4.1; the extensions are keyUsage (§4.2.1.3, critical),
//! extKeyUsage (§4.2.1.12), basicConstraints (§4.2.1.9, critical), and the key
//! identifiers (§4.2.1.1, §4.2.1.2).

use std::fmt;
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::CertificateSigningRequestDer;
use rustls_pki_types::pem::PemObject;
use time::OffsetDateTime;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
use x509_parser::prelude::FromDer;
use yasna::models::{GeneralizedTime, ObjectIdentifier, UTCTime};
use yasna::{DERWriter, Tag};

use crate::CaError;

/// Largest CSR (PEM) accepted.
pub const MAX_CSR_PEM: usize = 16 * 1024;

const OID_ECDSA_WITH_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const OID_COMMON_NAME: &[u64] = &[2, 5, 4, 3];
const OID_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
const OID_SUBJECT_KEY_ID: &[u64] = &[2, 5, 29, 14];
const OID_KEY_USAGE: &[u64] = &[2, 5, 29, 15];
const OID_BASIC_CONSTRAINTS: &[u64] = &[2, 5, 29, 19];
const OID_AUTHORITY_KEY_ID: &[u64] = &[2, 5, 29, 35];
const OID_EXT_KEY_USAGE: &[u64] = &[2, 5, 29, 37];
const OID_CLIENT_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];

/// Where the key of a client certificate comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientKey {
    /// The CA generates a P-256 key and returns it with the certificate (admin command
    /// `jitgate cert issue`).
    Generate,
    /// The client made its own key and sends a PKCS#10 CSR (PEM); the key never leaves the
    /// client. Only the CSR's public key is used.
    Csr(String),
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Generate => f.write_str("Generate"),
            Self::Csr(pem) => write!(f, "Csr({} bytes)", pem.len()),
        }
    }
}

/// What to put in a client certificate. Identity fields come from authentication (OIDC or an
/// administrator), never from the CSR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertRequest {
    /// The Kubernetes user name, written as the subject CN.
    pub user: String,
    /// The user's groups, one subject O each; duplicates are dropped.
    pub groups: Vec<String>,
    /// Where the key comes from.
    pub key: ClientKey,
    /// Requested lifetime; `None` means [`DEFAULT_CLIENT_TTL`](crate::DEFAULT_CLIENT_TTL)
    /// capped at `max_ttl`.
    pub ttl: Option<Duration>,
    /// The longest lifetime the policy allows.
    pub max_ttl: Duration,
}

impl ClientCertRequest {
    /// A request with the default lifetime.
    pub fn new(
        user: impl Into<String>,
        groups: Vec<String>,
        key: ClientKey,
        max_ttl: Duration,
    ) -> Self {
        Self {
            user: user.into(),
            groups,
            key,
            ttl: None,
            max_ttl,
        }
    }

    /// The same request with an explicit lifetime.
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// A certificate the CA issued.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The private key (PKCS#8 PEM) when the CA generated it; `None` for a CSR.
    pub key_pem: Option<String>,
    /// The serial number, lowercase hex, for the audit log.
    pub serial_hex: String,
    /// Start of validity (one minute before issuance).
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("serial_hex", &self.serial_hex)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("key_pem", &self.key_pem.as_ref().map(|_| "[secret]"))
            .finish_non_exhaustive()
    }
}

/// A key pair and a CSR for it, made where the key is to stay (the client).
#[derive(Clone)]
pub struct ClientCsr {
    /// The PKCS#10 request, PEM, to send to the CA.
    pub csr_pem: String,
    /// The private key, PKCS#8 PEM; keep it 0600 on the client.
    pub key_pem: String,
}

impl fmt::Debug for ClientCsr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCsr")
            .field("csr_pem", &self.csr_pem)
            .field("key_pem", &"[secret]")
            .finish()
    }
}

impl ClientCsr {
    /// Generates a P-256 key and a CSR signed with it. The CSR's subject is a placeholder:
    /// the CA takes identity from authentication.
    pub fn generate() -> Result<Self, CaError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(CaError::crypto("generate a client key"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "jitgate client");
        let csr = params
            .serialize_request(&key)
            .and_then(|csr| csr.pem())
            .map_err(CaError::crypto("create a certificate signing request"))?;
        Ok(Self {
            csr_pem: csr,
            key_pem: key.serialize_pem(),
        })
    }
}

/// The public key of a CSR whose signature verified.
pub(crate) struct CsrKey {
    /// The SubjectPublicKeyInfo, DER.
    pub(crate) spki: Vec<u8>,
    /// The raw public key (uncompressed EC point).
    pub(crate) public_key: Vec<u8>,
}

/// Parses a PEM CSR, requires an ECDSA P-256 key, and verifies the self-signature.
pub(crate) fn verified_csr_key(pem: &str) -> Result<CsrKey, CaError> {
    let invalid = |reason: String| CaError::InvalidCsr { reason };
    if pem.len() > MAX_CSR_PEM {
        return Err(invalid(format!(
            "it is {} bytes, more than the {MAX_CSR_PEM} allowed",
            pem.len()
        )));
    }
    let der = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| invalid(format!("no \"CERTIFICATE REQUEST\" PEM block ({e})")))?;
    let (rest, csr) = X509CertificationRequest::from_der(der.as_ref())
        .map_err(|e| invalid(format!("it is not DER PKCS#10 ({e})")))?;
    if !rest.is_empty() {
        return Err(invalid("trailing bytes after the request".to_owned()));
    }
    let spki = &csr.certification_request_info.subject_pki;
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return Err(CaError::UnsupportedKey {
            found: key_algorithm_name(&spki.algorithm.algorithm.to_id_string()).to_owned(),
        });
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    if curve.as_ref() != Some(&OID_EC_P256) {
        return Err(CaError::UnsupportedKey {
            found: match curve {
                Some(oid) => format!("ECDSA on curve {}", curve_name(&oid.to_id_string())),
                None => "ECDSA without a named curve".to_owned(),
            },
        });
    }
    csr.verify_signature().map_err(|_| CaError::CsrSignature)?;
    Ok(CsrKey {
        spki: spki.raw.to_vec(),
        public_key: spki.subject_public_key.data.to_vec(),
    })
}

fn key_algorithm_name(oid: &str) -> &str {
    match oid {
        "1.2.840.113549.1.1.1" => "RSA",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        other => other,
    }
}

fn curve_name(oid: &str) -> &str {
    match oid {
        "1.3.132.0.34" => "P-384",
        "1.3.132.0.35" => "P-521",
        other => other,
    }
}

/// A positive 127-bit serial number with a non-zero first byte (RFC 5280 §4.1.2.2).
pub(crate) fn random_serial() -> Vec<u8> {
    let mut serial = vec![0u8; 16];
    if SystemRandom::new().fill(&mut serial).is_err() {
        // ring's SystemRandom only fails if the OS has no randomness at all; fall back to the
        // clock so issuance still yields distinct serials rather than refusing every login.
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        serial[..16].copy_from_slice(&nanos.to_be_bytes());
    }
    serial[0] = (serial[0] & 0x7f).max(1);
    serial
}

/// SHA-256 of the public key, truncated to 160 bits (RFC 7093 §2, method 1).
pub(crate) fn key_identifier(public_key: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, public_key).as_ref()[..20].to_vec()
}

/// Fields of a client certificate body.
pub(crate) struct ClientTbs<'a> {
    pub(crate) serial: &'a [u8],
    pub(crate) issuer: &'a [u8],
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) user: &'a str,
    pub(crate) groups: &'a [String],
    pub(crate) spki: &'a [u8],
    pub(crate) public_key: &'a [u8],
    pub(crate) authority_key_id: &'a [u8],
}

/// Encodes the TBSCertificate of a client certificate (RFC 5280 §4.1.2).
pub(crate) fn client_tbs(t: &ClientTbs<'_>) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            // version: v3
            w.next().write_tagged(Tag::context(0), |w| w.write_u8(2));
            w.next().write_bigint_bytes(t.serial, true);
            write_signature_algorithm(w.next());
            w.next().write_der(t.issuer);
            w.next().write_sequence(|w| {
                write_time(w.next(), t.not_before);
                write_time(w.next(), t.not_after);
            });
            // Subject: one RDN per group (O), then the user (CN), as Kubernetes writes them.
            w.next().write_sequence(|w| {
                for group in t.groups {
                    write_rdn(w.next(), OID_ORGANIZATION, group);
                }
                write_rdn(w.next(), OID_COMMON_NAME, t.user);
            });
            w.next().write_der(t.spki);
            w.next().write_tagged(Tag::context(3), |w| {
                w.write_sequence(|w| {
                    write_extension(w.next(), OID_KEY_USAGE, true, |w| {
                        // digitalSignature is bit 0.
                        w.write_bitvec_bytes(&[0x80], 1);
                    });
                    write_extension(w.next(), OID_EXT_KEY_USAGE, false, |w| {
                        w.write_sequence(|w| {
                            w.next()
                                .write_oid(&ObjectIdentifier::from_slice(OID_CLIENT_AUTH));
                        });
                    });
                    write_extension(w.next(), OID_BASIC_CONSTRAINTS, true, |w| {
                        w.write_sequence(|_| {});
                    });
                    write_extension(w.next(), OID_SUBJECT_KEY_ID, false, |w| {
                        w.write_bytes(&key_identifier(t.public_key));
                    });
                    write_extension(w.next(), OID_AUTHORITY_KEY_ID, false, |w| {
                        w.write_sequence(|w| {
                            w.next().write_tagged_implicit(Tag::context(0), |w| {
                                w.write_bytes(t.authority_key_id);
                            });
                        });
                    });
                });
            });
        });
    })
}

/// Wraps a TBSCertificate and its ECDSA signature into a Certificate.
pub(crate) fn assemble(tbs: &[u8], signature: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(tbs);
            write_signature_algorithm(w.next());
            w.next().write_bitvec_bytes(signature, signature.len() * 8);
        });
    })
}

fn write_signature_algorithm(w: DERWriter<'_>) {
    // ecdsa-with-SHA256 takes no parameters (RFC 5758 §3.2).
    w.write_sequence(|w| {
        w.next()
            .write_oid(&ObjectIdentifier::from_slice(OID_ECDSA_WITH_SHA256));
    });
}

fn write_rdn(w: DERWriter<'_>, oid: &[u64], value: &str) {
    w.write_set(|w| {
        w.next().write_sequence(|w| {
            w.next().write_oid(&ObjectIdentifier::from_slice(oid));
            w.next().write_utf8_string(value);
        });
    });
}

fn write_extension(
    w: DERWriter<'_>,
    oid: &[u64],
    critical: bool,
    value: impl FnOnce(DERWriter<'_>),
) {
    w.write_sequence(|w| {
        w.next().write_oid(&ObjectIdentifier::from_slice(oid));
        if critical {
            w.next().write_bool(true);
        }
        w.next().write_bytes(&yasna::construct_der(value));
    });
}

/// UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
fn write_time(w: DERWriter<'_>, at: OffsetDateTime) {
    if at.year() < 2050
        && let Some(utc) = UTCTime::from_datetime_opt(at)
    {
        w.write_utctime(&utc);
        return;
    }
    match GeneralizedTime::from_datetime_opt(at) {
        Some(generalized) => w.write_generalized_time(&generalized),
        // Out of range for X.509 altogether; validity() caps times at the CA's own expiry,
        // so this is unreachable, but encode the latest representable time rather than panic.
        None => w.write_generalized_time(&GeneralizedTime::from_datetime(
            time::macros::datetime!(9999-12-31 23:59:59 UTC),
        )),
    }
}
