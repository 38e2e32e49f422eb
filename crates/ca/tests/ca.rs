//! The CA as its users see it: created on disk, issuing certificates that rustls, x509-parser
//! and kubectl accept, and refusing what it must refuse.

// Test helpers unwrap like the tests do: a panic is a failed test, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use jitgate_ca::{
    CaError, CertificateAuthority, ClientCertRequest, ClientCsr, ClientIdentity, ClientKey,
    IssuedCert, kubeconfig_for, write_private_file,
};
use rustls::RootCertStore;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

const HOUR: Duration = Duration::from_secs(3600);
const MAX_TTL: Duration = Duration::from_secs(12 * 3600);

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn new_ca() -> (tempfile::TempDir, CertificateAuthority) {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::create(&tmp.path().join("ca")).unwrap();
    (tmp, ca)
}

fn alice(key: ClientKey) -> ClientCertRequest {
    ClientCertRequest::new(
        "alice@example.com",
        vec!["payments-oncall".to_owned(), "sre".to_owned()],
        key,
        MAX_TTL,
    )
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca: &CertificateAuthority) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    Arc::new(roots)
}

fn client_verifier(ca: &CertificateAuthority) -> Arc<dyn ClientCertVerifier> {
    WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap()
}

#[test]
fn create_writes_private_files_and_load_reads_them_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let created = CertificateAuthority::create(&dir).unwrap();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    assert!(
        fs::read_to_string(dir.join("ca.crt"))
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );

    let loaded = CertificateAuthority::load(&dir).unwrap();
    assert_eq!(loaded.cert_der(), created.cert_der());
    assert_eq!(loaded.cert_pem(), created.cert_pem());
    let again = CertificateAuthority::load_or_create(&dir).unwrap();
    assert_eq!(again.cert_der(), created.cert_der());

    let err = CertificateAuthority::create(&dir).unwrap_err();
    assert!(matches!(err, CaError::AlreadyExists { .. }), "{err}");

    // A certificate issued before the reload verifies against the reloaded CA.
    let issued = created
        .issue_client_cert(alice(ClientKey::Generate))
        .unwrap();
    client_verifier(&loaded)
        .verify_client_cert(&issued.cert_der, &[], UnixTime::now())
        .unwrap();

    let (_, ca_cert) = X509Certificate::from_der(created.cert_der()).unwrap();
    assert!(ca_cert.basic_constraints().unwrap().unwrap().value.ca);
    assert!(created.not_after() > OffsetDateTime::now_utc() + Duration::from_secs(9 * 365 * 86400));
}

#[test]
fn load_or_create_creates_in_an_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh");
    let ca = CertificateAuthority::load_or_create(&dir).unwrap();
    assert!(dir.join("ca.key").exists());
    assert_eq!(ca.dir(), dir);
}

#[test]
fn load_explains_what_is_wrong_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    let err = CertificateAuthority::load(dir).unwrap_err();
    assert!(matches!(err, CaError::NotFound { .. }), "{err}");

    CertificateAuthority::create(dir).unwrap();

    fs::remove_file(dir.join("ca.crt")).unwrap();
    let err = CertificateAuthority::load_or_create(dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "found ca.key but not ca.crt in {}; restore ca.crt from a backup, or delete ca.key \
             to create a new CA",
            dir.display()
        )
    );

    // Another CA's certificate beside this key.
    let other = tempfile::tempdir().unwrap();
    CertificateAuthority::create(other.path()).unwrap();
    fs::copy(other.path().join("ca.crt"), dir.join("ca.crt")).unwrap();
    let err = CertificateAuthority::load(dir).unwrap_err();
    assert!(
        err.to_string().contains("does not belong to ca.key"),
        "{err}"
    );
    fs::copy(other.path().join("ca.key"), dir.join("ca.key")).unwrap();
    CertificateAuthority::load(dir).unwrap();

    fs::set_permissions(dir.join("ca.key"), fs::Permissions::from_mode(0o644)).unwrap();
    let err = CertificateAuthority::load(dir).unwrap_err();
    assert!(
        matches!(err, CaError::InsecurePermissions { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");

    fs::set_permissions(dir.join("ca.key"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(dir.join("ca.key"), "not a key").unwrap();
    let err = CertificateAuthority::load(dir).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "ca.key in {} is not a P-256 PKCS#8 key: ",
            dir.display()
        )),
        "{msg}"
    );
    assert!(
        msg.ends_with("delete it (and ca.crt) to create a new CA"),
        "{msg}"
    );

    // A P-384 key is a key, but not the kind the CA uses.
    let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    fs::write(dir.join("ca.key"), p384.serialize_pem()).unwrap();
    let err = CertificateAuthority::load(dir).unwrap_err();
    assert!(matches!(err, CaError::InvalidKey { .. }), "{err}");
}

#[test]
fn generated_key_certificate_round_trips_through_the_parser() {
    let (_tmp, ca) = new_ca();
    let before = OffsetDateTime::now_utc();
    let issued = ca
        .issue_client_cert(alice(ClientKey::Generate).with_ttl(HOUR))
        .unwrap();

    let who = ClientIdentity::from_der(&issued.cert_der).unwrap();
    assert_eq!(who.user, "alice@example.com");
    assert_eq!(who.groups, vec!["payments-oncall", "sre"]);
    assert_eq!(who.not_after, issued.not_after);
    assert_eq!(who.serial_hex, issued.serial_hex);
    let lifetime = issued.not_after - before;
    assert!(
        lifetime <= time::Duration::HOUR
            && lifetime > time::Duration::HOUR - time::Duration::SECOND * 5,
        "{lifetime}"
    );
    let skew = issued.not_after - issued.not_before;
    assert_eq!(skew, time::Duration::HOUR + time::Duration::MINUTE);

    let (_, cert) = X509Certificate::from_der(&issued.cert_der).unwrap();
    let eku = cert.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.client_auth && !eku.value.server_auth && !eku.value.any);
    assert!(eku.value.other.is_empty());
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert!(ku.value.digital_signature() && !ku.value.key_cert_sign());
    assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
    assert_eq!(
        cert.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.10045.2.1"
    );
    // Issued by this CA, checked with the CA's key.
    let (_, ca_cert) = X509Certificate::from_der(ca.cert_der()).unwrap();
    cert.verify_signature(Some(ca_cert.public_key())).unwrap();

    // The returned key is the certificate's key.
    let key_pem = issued.key_pem.as_deref().unwrap();
    let key = rcgen::KeyPair::from_pem(key_pem).unwrap();
    assert_eq!(
        key.public_key_raw(),
        cert.public_key().subject_public_key.data.as_ref()
    );
    assert!(!format!("{issued:?}").contains("PRIVATE KEY"));

    client_verifier(&ca)
        .verify_client_cert(&issued.cert_der, &[], UnixTime::now())
        .unwrap();
}

#[test]
fn csr_certificate_carries_the_csr_key_and_the_callers_identity() {
    let (_tmp, ca) = new_ca();
    // The client claims to be system:admin in its CSR; the CA ignores that.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["evil.example".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "system:admin");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "system:masters");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();

    let issued = ca.issue_client_cert(alice(ClientKey::Csr(csr))).unwrap();
    assert!(issued.key_pem.is_none());
    let who = ClientIdentity::from_der(&issued.cert_der).unwrap();
    assert_eq!(who.user, "alice@example.com");
    assert_eq!(who.groups, vec!["payments-oncall", "sre"]);

    let (_, cert) = X509Certificate::from_der(&issued.cert_der).unwrap();
    assert_eq!(
        cert.public_key().subject_public_key.data.as_ref(),
        key.public_key_raw()
    );
    assert!(cert.subject_alternative_name().unwrap().is_none());
    let eku = cert.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.client_auth && !eku.value.server_auth);
    // Default lifetime: 8 hours.
    assert_eq!(
        issued.not_after - issued.not_before,
        time::Duration::hours(8) + time::Duration::MINUTE
    );

    let generated = ClientCsr::generate().unwrap();
    assert!(!format!("{generated:?}").contains("PRIVATE KEY"));
    ca.issue_client_cert(alice(ClientKey::Csr(generated.csr_pem)))
        .unwrap();
}

fn csr_der(csr_pem: &str) -> Vec<u8> {
    rustls::pki_types::CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec()
}

fn csr_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n")
}

#[test]
fn csr_with_a_bad_signature_is_rejected() {
    let (_tmp, ca) = new_ca();
    let good = ClientCsr::generate().unwrap().csr_pem;
    let der = csr_der(&good);

    // Flip a bit in the signature (the last byte of the DER).
    let mut bad_sig = der.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 0x01;
    let err = ca
        .issue_client_cert(alice(ClientKey::Csr(csr_pem(&bad_sig))))
        .unwrap_err();
    assert!(matches!(err, CaError::CsrSignature), "{err}");

    // Alter the signed content: the placeholder subject "jitgate client" becomes "jitgate clienT".
    let mut bad_body = der.clone();
    let at = bad_body
        .windows(14)
        .position(|w| w == b"jitgate client")
        .unwrap();
    bad_body[at + 13] = b'T';
    let err = ca
        .issue_client_cert(alice(ClientKey::Csr(csr_pem(&bad_body))))
        .unwrap_err();
    assert!(matches!(err, CaError::CsrSignature), "{err}");
    assert!(err.to_string().contains("generate a new request"), "{err}");

    // A signature made by another key over the same request.
    let other = ClientCsr::generate().unwrap().csr_pem;
    let other_der = csr_der(&other);
    let sig_len_good = signature_len(&der);
    let sig_len_other = signature_len(&other_der);
    if sig_len_good == sig_len_other {
        let mut swapped = der.clone();
        let n = swapped.len();
        swapped[n - sig_len_good..].copy_from_slice(&other_der[other_der.len() - sig_len_other..]);
        let err = ca
            .issue_client_cert(alice(ClientKey::Csr(csr_pem(&swapped))))
            .unwrap_err();
        assert!(matches!(err, CaError::CsrSignature), "{err}");
    }

    let err = ca
        .issue_client_cert(alice(ClientKey::Csr("garbage".to_owned())))
        .unwrap_err();
    assert!(matches!(err, CaError::InvalidCsr { .. }), "{err}");
    let err = ca
        .issue_client_cert(alice(ClientKey::Csr(csr_pem(&der[..der.len() / 2]))))
        .unwrap_err();
    assert!(matches!(err, CaError::InvalidCsr { .. }), "{err}");
    let huge = "A".repeat(jitgate_ca::MAX_CSR_PEM + 1);
    let err = ca
        .issue_client_cert(alice(ClientKey::Csr(huge)))
        .unwrap_err();
    assert!(matches!(err, CaError::InvalidCsr { .. }), "{err}");
}

/// Length of the signature BIT STRING's content after its unused-bits byte.
fn signature_len(der: &[u8]) -> usize {
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(der).unwrap();
    csr.signature_value.data.len()
}

#[test]
fn csr_with_another_key_type_is_rejected() {
    let (_tmp, ca) = new_ca();
    for (alg, found) in [
        (&rcgen::PKCS_ECDSA_P384_SHA384, "ECDSA on curve P-384"),
        (&rcgen::PKCS_ED25519, "Ed25519"),
    ] {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let csr = rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let err = ca
            .issue_client_cert(alice(ClientKey::Csr(csr)))
            .unwrap_err();
        match &err {
            CaError::UnsupportedKey { found: f } => assert_eq!(f, found),
            other => panic!("expected UnsupportedKey, got {other}"),
        }
    }
}

#[test]
fn ttl_limits_are_enforced_at_issuance() {
    let (_tmp, ca) = new_ca();
    let issue = |ttl: Option<Duration>, max: Duration| {
        let mut req = ClientCertRequest::new("bob", vec![], ClientKey::Generate, max);
        req.ttl = ttl;
        ca.issue_client_cert(req)
    };
    let lifetime = |c: IssuedCert| c.not_after - c.not_before - time::Duration::MINUTE;

    assert_eq!(
        lifetime(issue(Some(Duration::from_secs(300)), MAX_TTL).unwrap()),
        time::Duration::minutes(5)
    );
    let err = issue(Some(Duration::from_secs(299)), MAX_TTL).unwrap_err();
    assert!(matches!(err, CaError::TtlTooShort { .. }), "{err}");
    let err = issue(Some(MAX_TTL + Duration::from_secs(1)), MAX_TTL).unwrap_err();
    assert!(matches!(err, CaError::TtlTooLong { .. }), "{err}");
    assert!(err.to_string().contains("maximum of 12h"), "{err}");
    assert_eq!(lifetime(issue(None, HOUR).unwrap()), time::Duration::HOUR);
    let err = issue(None, Duration::from_secs(60)).unwrap_err();
    assert!(matches!(err, CaError::MaxTtlBelowMinimum { .. }), "{err}");

    // Nothing outlives the CA, however generous the policy.
    let forever = Duration::from_secs(u64::MAX / 4);
    let err = issue(Some(forever), forever).unwrap_err();
    assert!(matches!(err, CaError::CaExpiresFirst { .. }), "{err}");
}

#[test]
fn reserved_names_are_never_issued() {
    let (_tmp, ca) = new_ca();
    for (user, groups) in [
        ("system:admin", vec![]),
        ("alice", vec!["system:masters".to_owned()]),
        ("alice", vec!["jitgate:debug".to_owned()]),
        ("", vec![]),
        ("alice\u{0}", vec![]),
        ("alice", vec!["ops\r\n".to_owned()]),
    ] {
        let req = ClientCertRequest::new(user, groups.clone(), ClientKey::Generate, MAX_TTL);
        let err = ca.issue_client_cert(req).unwrap_err();
        assert!(
            matches!(err, CaError::InvalidName { .. }),
            "{user:?} {groups:?}: {err}"
        );
    }
}

#[test]
fn certificate_from_another_ca_fails_rustls_client_verification() {
    let (_tmp, ca) = new_ca();
    let (_tmp2, other) = new_ca();
    let verifier = client_verifier(&ca);

    let ours = ca.issue_client_cert(alice(ClientKey::Generate)).unwrap();
    verifier
        .verify_client_cert(&ours.cert_der, &[], UnixTime::now())
        .unwrap();

    let theirs = other.issue_client_cert(alice(ClientKey::Generate)).unwrap();
    let err = verifier
        .verify_client_cert(&theirs.cert_der, &[], UnixTime::now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
        ),
        "{err:?}"
    );
    // A rogue CA that copies our CA's name but not its key.
    let rogue_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let rogue = rcgen::Issuer::from_ca_cert_der(ca.cert_der(), &rogue_key).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "alice@example.com");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = OffsetDateTime::now_utc() - Duration::from_secs(60);
    params.not_after = OffsetDateTime::now_utc() + HOUR;
    let client_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let forged = params.signed_by(&client_key, &rogue).unwrap();
    let err = verifier
        .verify_client_cert(forged.der(), &[], UnixTime::now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
        ),
        "{err:?}"
    );

    // The other CA's root as "intermediate" does not help either.
    assert!(
        verifier
            .verify_client_cert(
                &theirs.cert_der,
                &[other.cert_der().clone()],
                UnixTime::now()
            )
            .is_err()
    );

    // Expired and not-yet-valid certificates fail at the TLS layer.
    let after_expiry = UnixTime::since_unix_epoch(Duration::from_secs(
        ours.not_after.unix_timestamp() as u64 + 1,
    ));
    assert!(
        verifier
            .verify_client_cert(&ours.cert_der, &[], after_expiry)
            .is_err()
    );
    let before_start = UnixTime::since_unix_epoch(Duration::from_secs(
        ours.not_before.unix_timestamp() as u64 - 1,
    ));
    assert!(
        verifier
            .verify_client_cert(&ours.cert_der, &[], before_start)
            .is_err()
    );

    // A server certificate from the right CA lacks clientAuth: rustls and the parser refuse it.
    let server = ca.issue_server_cert(&["localhost"]).unwrap();
    assert!(
        verifier
            .verify_client_cert(&server.cert_der, &[], UnixTime::now())
            .is_err()
    );
    let err = ClientIdentity::from_der(&server.cert_der).unwrap_err();
    assert!(err.to_string().contains("clientAuth"), "{err}");
}

#[test]
fn server_certificate_names_its_hosts_and_verifies_as_a_server() {
    let (_tmp, ca) = new_ca();
    let server = ca
        .issue_server_cert(&["jitgate.example.com", "localhost", "127.0.0.1", "::1"])
        .unwrap();
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots(&ca), provider())
            .build()
            .unwrap();
    for name in ["jitgate.example.com", "localhost", "127.0.0.1", "::1"] {
        verifier
            .verify_server_cert(
                &server.cert_der,
                &[],
                &ServerName::try_from(name).unwrap(),
                &[],
                UnixTime::now(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    assert!(
        verifier
            .verify_server_cert(
                &server.cert_der,
                &[],
                &ServerName::try_from("other.example.com").unwrap(),
                &[],
                UnixTime::now(),
            )
            .is_err()
    );
    // A client certificate is no server certificate.
    let client = ca.issue_client_cert(alice(ClientKey::Generate)).unwrap();
    assert!(
        verifier
            .verify_server_cert(
                &client.cert_der,
                &[],
                &ServerName::try_from("localhost").unwrap(),
                &[],
                UnixTime::now(),
            )
            .is_err()
    );

    for bad in ["", "bad host", "-lead.example", "a..b", "ünï.example"] {
        let err = ca.issue_server_cert(&[bad]).unwrap_err();
        assert!(matches!(err, CaError::InvalidHost { .. }), "{bad:?}: {err}");
    }
    assert!(ca.issue_server_cert(&[]).is_err());
    ca.issue_server_cert(&["*.jitgate.example.com"]).unwrap();
}

/// A real mutual-TLS handshake, in memory: gateway certificate and client certificate from
/// the same CA, each side verifying the other, and the gateway reading the identity.
#[test]
fn mutual_tls_handshake_yields_the_identity() {
    let (_tmp, ca) = new_ca();
    let server_cert = ca.issue_server_cert(&["localhost"]).unwrap();
    let csr = ClientCsr::generate().unwrap();
    let client_cert = ca
        .issue_client_cert(alice(ClientKey::Csr(csr.csr_pem.clone())))
        .unwrap();

    let server_config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(client_verifier(&ca))
        .with_single_cert(
            vec![server_cert.cert_der.clone()],
            PrivateKeyDer::from_pem_slice(server_cert.key_pem.as_deref().unwrap().as_bytes())
                .unwrap(),
        )
        .unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(&ca))
        .with_client_auth_cert(
            vec![client_cert.cert_der.clone()],
            PrivateKeyDer::from_pem_slice(csr.key_pem.as_bytes()).unwrap(),
        )
        .unwrap();

    let mut server = rustls::ServerConnection::new(Arc::new(server_config)).unwrap();
    let mut client = rustls::ClientConnection::new(
        Arc::new(client_config),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    for _ in 0..10 {
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
        let mut buf = Vec::new();
        client.write_tls(&mut buf).unwrap();
        server.read_tls(&mut buf.as_slice()).unwrap();
        server.process_new_packets().unwrap();
        let mut buf = Vec::new();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut buf.as_slice()).unwrap();
        client.process_new_packets().unwrap();
    }
    assert!(!server.is_handshaking() && !client.is_handshaking());
    let peer: Vec<CertificateDer<'_>> = server.peer_certificates().unwrap().to_vec();
    let who = ClientIdentity::from_der(&peer[0]).unwrap();
    assert_eq!(who.user, "alice@example.com");
    assert_eq!(who.groups, vec!["payments-oncall", "sre"]);
}

#[test]
fn kubeconfig_is_read_by_real_kubectl() {
    let (tmp, ca) = new_ca();
    let issued = ca.issue_client_cert(alice(ClientKey::Generate)).unwrap();
    let yaml = kubeconfig_for(
        "https://127.0.0.1:8443",
        ca.cert_pem(),
        &issued.cert_pem,
        issued.key_pem.as_deref().unwrap(),
        "jitgate \"prod\"",
        Some("payments"),
    );
    let path = tmp.path().join("kube/config");
    write_private_file(&path, yaml.as_bytes()).unwrap();
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&tmp.path().join("kube")), 0o700);

    let jsonpath = "{.current-context}|{.clusters[0].cluster.server}|{.contexts[0].context.namespace}|\
                    {.users[0].user.client-certificate-data}|{.clusters[0].cluster.certificate-authority-data}";
    let out = Command::new("kubectl")
        .args(["config", "view", "--raw", "-o"])
        .arg(format!("jsonpath={jsonpath}"))
        .env("KUBECONFIG", &path)
        .output()
        .expect("kubectl must be on PATH for this test (the sandbox machines have it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let fields: Vec<&str> = stdout.split('|').collect();
    assert_eq!(fields[0], "jitgate \"prod\"");
    assert_eq!(fields[1], "https://127.0.0.1:8443");
    assert_eq!(fields[2], "payments");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(b64.decode(fields[3]).unwrap(), issued.cert_pem.as_bytes());
    assert_eq!(b64.decode(fields[4]).unwrap(), ca.cert_pem().as_bytes());

    let no_ns = kubeconfig_for("https://h", "ca", "c", "k", "ctx", None);
    assert!(!no_ns.contains("namespace:"));
}

/// Certificates the CA would never issue, signed with its key anyway (a leaked key, another
/// tool pointed at the same CA directory): the gateway still refuses their identities.
#[test]
fn identity_parser_refuses_names_jitgate_never_issues() {
    let (tmp, ca) = new_ca();
    let ca_key =
        rcgen::KeyPair::from_pem(&fs::read_to_string(tmp.path().join("ca/ca.key")).unwrap())
            .unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(ca.cert_der(), &ca_key).unwrap();
    let sign = |cn: Option<&str>, orgs: &[&str]| {
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        for org in orgs {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, *org);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        params.signed_by(&key, &issuer).unwrap().der().clone()
    };

    let ok = ClientIdentity::from_der(&sign(Some("carol"), &["ops"])).unwrap();
    assert_eq!(
        (ok.user.as_str(), ok.groups.as_slice()),
        ("carol", &["ops".to_owned()][..])
    );
    for (cn, orgs, why) in [
        (Some("system:admin"), vec![], "system:"),
        (Some("carol"), vec!["system:masters"], "system:"),
        (Some("carol"), vec!["jitgate:debug"], "jitgate:"),
        (None, vec!["ops"], "no CN"),
    ] {
        let err = ClientIdentity::from_der(&sign(cn, &orgs)).unwrap_err();
        assert!(err.to_string().contains(why), "{cn:?} {orgs:?}: {err}");
    }
    let err = ClientIdentity::from_der(b"\x30\x03garbage").unwrap_err();
    assert!(matches!(err, CaError::InvalidClientCert { .. }), "{err}");
}
