//! Test fixtures: real certificates from a throwaway jitgate CA.

use std::time::Duration;

use jitgate_api::Timestamp;
use jitgate_ca::{CertificateAuthority, ClientCertRequest, ClientCsr, ClientKey};

use crate::cache::{CachedCredential, LoginPreferences};

/// A CA in a temporary directory (kept alive with it).
pub(crate) struct TestCa {
    pub(crate) ca: CertificateAuthority,
    _dir: tempfile::TempDir,
}

impl TestCa {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::create(&dir.path().join("ca")).unwrap();
        Self { ca, _dir: dir }
    }
}

/// A credential for alice, valid for `ttl`, as `kubectl jit login` would cache it.
pub(crate) fn issued_credential(server: &str, ttl: Duration) -> CachedCredential {
    let test_ca = TestCa::new();
    let csr = ClientCsr::generate().unwrap();
    let issued = test_ca
        .ca
        .issue_client_cert(
            ClientCertRequest::new(
                "alice@example.com",
                vec!["oncall-payments".into(), "sre".into()],
                ClientKey::Csr(csr.csr_pem.clone()),
                Duration::from_secs(24 * 3600),
            )
            .with_ttl(ttl),
        )
        .unwrap();
    CachedCredential {
        server: server.trim_end_matches('/').to_owned(),
        ca_certificate: test_ca.ca.cert_pem().to_owned(),
        certificate: issued.cert_pem,
        private_key: csr.key_pem,
        user: "alice@example.com".into(),
        groups: vec!["oncall-payments".into(), "sre".into()],
        expires_at: Timestamp::from(issued.not_after),
        issued_at: Timestamp::now(),
        login: LoginPreferences::default(),
    }
}
