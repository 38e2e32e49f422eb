//! The CA on disk: an ECDSA P-256 key (`ca.key`, PKCS#8 PEM, 0600) and its self-signed
//! certificate (`ca.crt`, PEM) in a 0700 directory, and the certificates it issues.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::files::{check_private_file, ensure_private_dir, read_limited, write_new};
use crate::issue::{self, ClientCertRequest, ClientKey};
use crate::names::{validate_groups, validate_user};
use crate::ttl::{CA_TTL, CLOCK_SKEW, SERVER_CERT_TTL, client_ttl};
use crate::{CaError, IssuedCert};

/// File name of the CA's private key inside the CA directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// File name of the CA's certificate inside the CA directory.
pub const CA_CERT_FILE: &str = "ca.crt";

/// Largest key or certificate file read from the CA directory.
const MAX_PEM_FILE: u64 = 64 * 1024;

/// jitgate's certificate authority, loaded from (or created in) its directory.
///
/// It signs short-lived client certificates for humans and the gateway's own server
/// certificate. The key stays in memory; `Debug` does not print it.
pub struct CertificateAuthority {
    dir: PathBuf,
    key: KeyPair,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    /// The DER of the CA's subject, copied verbatim as the issuer of every certificate.
    subject_der: Vec<u8>,
    /// The CA's subject key identifier, used as the authority key identifier of every certificate.
    key_id: Vec<u8>,
    not_after: OffsetDateTime,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("dir", &self.dir)
            .field("not_after", &self.not_after)
            .field("key", &"[secret]")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Creates a new CA in `dir` (created 0700 if missing, narrowed to 0700 if looser).
    ///
    /// Fails with [`CaError::AlreadyExists`] if either CA file is already there: replacing a CA
    /// invalidates every certificate it issued, so that is never done implicitly.
    pub fn create(dir: &Path) -> Result<Self, CaError> {
        ensure_private_dir(dir, true)?;
        let key_path = dir.join(CA_KEY_FILE);
        let cert_path = dir.join(CA_CERT_FILE);
        if key_path.exists() || cert_path.exists() {
            return Err(CaError::AlreadyExists {
                dir: dir.to_path_buf(),
            });
        }

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(CaError::crypto("generate the CA key"))?;
        let now = now_seconds();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "jitgate");
        // A random suffix tells two installations' CAs apart, in messages and in chain building.
        let id: String = issue::random_serial()[1..5]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("jitgate CA {id}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + CA_TTL;
        params.serial_number = Some(SerialNumber::from_slice(&issue::random_serial()));
        let cert = params
            .self_signed(&key)
            .map_err(CaError::crypto("self-sign the CA certificate"))?;

        write_new(&key_path, key.serialize_pem().as_bytes())?;
        if let Err(e) = write_new(&cert_path, cert.pem().as_bytes()) {
            // Leave no half CA behind: without its certificate the key is useless.
            let _ = std::fs::remove_file(&key_path);
            return Err(e);
        }
        Self::from_parts(dir, key, cert.der().clone())
    }

    /// Loads the CA from `dir`.
    ///
    /// Checks that `ca.key` is private (no group or other access), is a P-256 PKCS#8 key, and
    /// that `ca.crt` is an unexpired CA certificate for that key.
    pub fn load(dir: &Path) -> Result<Self, CaError> {
        let key_path = dir.join(CA_KEY_FILE);
        let cert_path = dir.join(CA_CERT_FILE);
        match (key_path.exists(), cert_path.exists()) {
            (true, true) => {}
            (false, false) => {
                return Err(CaError::NotFound {
                    dir: dir.to_path_buf(),
                });
            }
            (true, false) => return Err(incomplete(dir, CA_KEY_FILE, CA_CERT_FILE)),
            (false, true) => return Err(incomplete(dir, CA_CERT_FILE, CA_KEY_FILE)),
        }

        check_private_file(&key_path)?;
        let key_pem = read_limited(&key_path, MAX_PEM_FILE)?;
        let invalid_key = |reason: String| CaError::InvalidKey {
            dir: dir.to_path_buf(),
            reason,
        };
        let pkcs8 = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| invalid_key(format!("no PKCS#8 \"PRIVATE KEY\" PEM block ({e})")))?;
        let key = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &PKCS_ECDSA_P256_SHA256)
            .map_err(|e| invalid_key(e.to_string()))?;

        let cert_pem = read_limited(&cert_path, MAX_PEM_FILE)?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(|e| {
            CaError::InvalidCaCert {
                dir: dir.to_path_buf(),
                reason: format!("no \"CERTIFICATE\" PEM block ({e})"),
            }
        })?;
        Self::from_parts(dir, key, cert_der)
    }

    /// Loads the CA from `dir`, or creates one there if neither file exists.
    ///
    /// A directory with only one of the two files is an error, never silently repaired.
    pub fn load_or_create(dir: &Path) -> Result<Self, CaError> {
        match Self::load(dir) {
            Err(CaError::NotFound { .. }) => Self::create(dir),
            other => other,
        }
    }

    fn from_parts(
        dir: &Path,
        key: KeyPair,
        cert_der: CertificateDer<'static>,
    ) -> Result<Self, CaError> {
        let invalid = |reason: String| CaError::InvalidCaCert {
            dir: dir.to_path_buf(),
            reason,
        };
        let (rest, cert) = X509Certificate::from_der(&cert_der)
            .map_err(|e| invalid(format!("it is not DER X.509 ({e})")))?;
        if !rest.is_empty() {
            return Err(invalid("trailing bytes after the certificate".to_owned()));
        }
        let is_ca = cert
            .basic_constraints()
            .map_err(|e| invalid(format!("its basic constraints are malformed ({e})")))?
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(invalid("it is not a CA certificate".to_owned()));
        }
        if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(invalid(
                "it does not belong to ca.key (the public keys differ)".to_owned(),
            ));
        }
        let not_after = cert.validity().not_after.to_datetime();
        if not_after <= OffsetDateTime::now_utc() {
            return Err(invalid(format!("it expired at {not_after}")));
        }
        let key_id = match cert
            .extensions()
            .iter()
            .find_map(|ext| match ext.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
                _ => None,
            }) {
            Some(id) => id.to_vec(),
            None => issue::key_identifier(key.public_key_raw()),
        };
        let subject_der = cert.subject().as_raw().to_vec();
        let cert_pem = pem_encode("CERTIFICATE", &cert_der);
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
            cert_der,
            cert_pem,
            subject_der,
            key_id,
            not_after,
        })
    }

    /// The CA directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate, PEM: what clients and the gateway trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER: add it to a rustls `RootCertStore`.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// When the CA certificate expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Issues a client certificate for `req.user` with `req.groups` (subject CN = user,
    /// one O per group, as Kubernetes reads client certificates).
    ///
    /// The certificate is ECDSA P-256, `keyUsage = digitalSignature` (critical),
    /// `extendedKeyUsage = clientAuth` only, `CA:FALSE`; it is valid from one minute ago
    /// ([`CLOCK_SKEW`](crate::CLOCK_SKEW)) for the requested lifetime, which must lie within
    /// [`MIN_CLIENT_TTL`](crate::MIN_CLIENT_TTL) and `req.max_ttl`. With [`ClientKey::Csr`] the
    /// CSR's signature is verified and its subject and extensions are ignored: identity comes
    /// from the caller, never from the request.
    pub fn issue_client_cert(&self, req: ClientCertRequest) -> Result<IssuedCert, CaError> {
        let ClientCertRequest {
            user,
            groups,
            key,
            ttl,
            max_ttl,
        } = req;
        validate_user(&user)?;
        let groups = validate_groups(&groups)?;
        let ttl = client_ttl(ttl, max_ttl)?;
        let (not_before, not_after) = self.validity(ttl)?;

        let (spki, public_key, key_pem) = match key {
            ClientKey::Generate => {
                let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                    .map_err(CaError::crypto("generate a client key"))?;
                use rcgen::PublicKeyData;
                (
                    key.subject_public_key_info(),
                    key.public_key_raw().to_vec(),
                    Some(key.serialize_pem()),
                )
            }
            ClientKey::Csr(pem) => {
                let csr = issue::verified_csr_key(&pem)?;
                (csr.spki, csr.public_key, None)
            }
        };

        let serial = issue::random_serial();
        let tbs = issue::client_tbs(&issue::ClientTbs {
            serial: &serial,
            issuer: &self.subject_der,
            not_before,
            not_after,
            user: &user,
            groups: &groups,
            spki: &spki,
            public_key: &public_key,
            authority_key_id: &self.key_id,
        });
        use rcgen::SigningKey;
        let signature = self
            .key
            .sign(&tbs)
            .map_err(CaError::crypto("sign the client certificate"))?;
        let cert_der = CertificateDer::from(issue::assemble(&tbs, &signature));
        Ok(IssuedCert {
            cert_pem: pem_encode("CERTIFICATE", &cert_der),
            cert_der,
            key_pem,
            serial_hex: hex(&serial),
            not_before,
            not_after,
        })
    }

    /// Issues the certificate for the gateway's own HTTPS listener, valid for every host in
    /// `hosts` (IP addresses become IP SANs, everything else DNS SANs; `*.example.com` is
    /// allowed), for [`SERVER_CERT_TTL`](crate::SERVER_CERT_TTL) or until the CA expires.
    pub fn issue_server_cert(&self, hosts: &[&str]) -> Result<IssuedCert, CaError> {
        let Some(first) = hosts.first() else {
            return Err(CaError::InvalidHost {
                host: String::new(),
                reason: "a server certificate needs at least one host".to_owned(),
            });
        };
        let mut params = CertificateParams::default();
        for host in hosts {
            params.subject_alt_names.push(server_san(host)?);
        }
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, *first);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "jitgate");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = now_seconds();
        let ca_life = (self.not_after - now).max(time::Duration::ZERO);
        let ttl = time::Duration::try_from(SERVER_CERT_TTL)
            .unwrap_or(time::Duration::MAX)
            .min(ca_life);
        params.not_before = now - CLOCK_SKEW;
        params.not_after = now + ttl;
        let serial = issue::random_serial();
        params.serial_number = Some(SerialNumber::from_slice(&serial));

        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
            .map_err(CaError::crypto("generate the server key"))?;
        let issuer = Issuer::from_ca_cert_der(&self.cert_der, &self.key)
            .map_err(CaError::crypto("read the CA certificate as issuer"))?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(CaError::crypto("sign the server certificate"))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_pem: Some(key.serialize_pem()),
            serial_hex: hex(&serial),
            not_before: params.not_before,
            not_after: params.not_after,
        })
    }

    /// Computes `[now - skew, now + ttl]`, refusing to outlive the CA.
    fn validity(&self, ttl: Duration) -> Result<(OffsetDateTime, OffsetDateTime), CaError> {
        let now = now_seconds();
        let requested_not_after = time::Duration::try_from(ttl)
            .ok()
            .and_then(|ttl| now.checked_add(ttl))
            .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc());
        if requested_not_after > self.not_after {
            return Err(CaError::CaExpiresFirst {
                ca_not_after: self.not_after,
                requested_not_after,
            });
        }
        Ok((now - CLOCK_SKEW, requested_not_after))
    }
}

fn incomplete(dir: &Path, present: &'static str, missing: &'static str) -> CaError {
    CaError::Incomplete {
        dir: dir.to_path_buf(),
        present,
        missing,
    }
}

/// Now, truncated to whole seconds (X.509 times carry no fractions).
fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn server_san(host: &str) -> Result<SanType, CaError> {
    let invalid = |reason: &str| CaError::InvalidHost {
        host: host.to_owned(),
        reason: reason.to_owned(),
    };
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    if host.is_empty() || host.len() > 253 {
        return Err(invalid("a DNS name has 1 to 253 characters"));
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(invalid(
                "each dot-separated label must be 1-63 letters, digits or inner hyphens",
            ));
        }
    }
    let dns = host
        .try_into()
        .map_err(|e: rcgen::Error| invalid(&e.to_string()))?;
    Ok(SanType::DnsName(dns))
}

pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
