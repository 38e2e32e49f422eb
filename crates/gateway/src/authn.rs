//! Authentication: who is calling. A client certificate from the jitgate CA, or an OIDC ID token
//! as a bearer token. Nothing else authenticates; every failure is a 401 that says why.

use std::sync::Arc;
use std::time::SystemTime;

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{CertificateError, RootCertStore};

/// How a caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A client certificate from the jitgate CA.
    ClientCert,
    /// An OIDC ID token.
    OidcToken,
}

impl AuthMethod {
    /// Short name for audit lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCert => "x509",
            Self::OidcToken => "oidc",
        }
    }
}

/// An authenticated human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User name.
    pub user: String,
    /// Groups from the certificate or the IdP.
    pub groups: Vec<String>,
    /// How they authenticated.
    pub method: AuthMethod,
    /// When the credential stops being valid (certificate `notAfter`, token `exp`), unix
    /// seconds; a stream opened with it ends then.
    pub expires_at: Option<i64>,
}

/// Why a caller could not be authenticated (always answered with 401).
#[derive(Debug, thiserror::Error)]
pub enum AuthnError {
    /// No certificate and no bearer token.
    #[error(
        "no credentials: present a client certificate from the jitgate CA or an OIDC ID token (run `kubectl jit login`)"
    )]
    NoCredentials,
    /// The client certificate failed verification.
    #[error("client certificate rejected: {0}")]
    Certificate(String),
    /// A failure already explained when the connection's certificate was first checked.
    #[error("{0}")]
    Verified(String),
    /// The bearer token failed verification.
    #[error("bearer token rejected: {0}")]
    Token(String),
}

/// Verifies bearer tokens (OIDC ID tokens).
pub trait TokenAuthenticator: Send + Sync + std::fmt::Debug {
    /// Verifies `token` and returns who it names.
    fn authenticate<'a>(
        &'a self,
        token: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Identity, AuthnError>> + Send + 'a>>;
}

/// Verifies client certificate chains against the jitgate CA.
#[derive(Debug)]
pub struct CertAuthenticator {
    verifier: Arc<dyn ClientCertVerifier>,
}

fn rfc3339(secs: u64) -> String {
    jitgate_authz::rfc3339(i64::try_from(secs).unwrap_or(i64::MAX))
}

impl CertAuthenticator {
    /// Trusts exactly `roots` (the jitgate CA).
    pub fn new(roots: RootCertStore) -> Result<Self, rustls::server::VerifierBuilderError> {
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()?;
        Ok(Self { verifier })
    }

    /// Verifies the chain the client presented and reads user and groups from the leaf.
    pub fn authenticate(&self, chain: &[CertificateDer<'static>]) -> Result<Identity, AuthnError> {
        let (leaf, intermediates) = chain.split_first().ok_or(AuthnError::NoCredentials)?;
        let now = UnixTime::now();
        if let Err(err) = self.verifier.verify_client_cert(leaf, intermediates, now) {
            return Err(AuthnError::Certificate(explain(err)));
        }
        let id = jitgate_ca::ClientIdentity::from_der(leaf.as_ref())
            .map_err(|e| AuthnError::Certificate(e.to_string()))?;
        Ok(Identity {
            user: id.user,
            groups: id.groups,
            method: AuthMethod::ClientCert,
            expires_at: Some(id.not_after.unix_timestamp()),
        })
    }
}

fn explain(err: rustls::Error) -> String {
    let login = "run `kubectl jit login` for a new one";
    match err {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::Expired => format!("it has expired; {login}"),
            CertificateError::ExpiredContext { not_after, .. } => {
                format!("it expired at {}; {login}", rfc3339(not_after.as_secs()))
            }
            CertificateError::NotValidYet => "it is not valid yet (check the clock)".into(),
            CertificateError::NotValidYetContext { not_before, .. } => {
                format!(
                    "it is not valid before {} (check the clock)",
                    rfc3339(not_before.as_secs())
                )
            }
            CertificateError::UnknownIssuer => {
                format!("it was not issued by the jitgate CA; {login}")
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                "it is not a client certificate (extended key usage clientAuth is missing)".into()
            }
            CertificateError::BadSignature => "its signature does not verify".into(),
            CertificateError::BadEncoding => "it could not be parsed".into(),
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

/// Seconds since the epoch, now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
