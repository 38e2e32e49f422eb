//! `POST /jitgate/v1/certificates`: a short-lived client certificate for the key the client
//! made. Only an OIDC ID token (bearer) may ask; the certificate names whoever the token names.

use serde::{Deserialize, Serialize};

use super::text::{Lines, check_text};
use crate::limits::MAX_CSR_PEM_BYTES;
use crate::{ApiError, GoDuration, Timestamp};

/// What the client sends: a PKCS#10 CSR for a P-256 key it keeps, and optionally a lifetime.
/// The CSR's subject is ignored; identity comes from the bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CertificateRequest {
    /// The CSR, PEM (`-----BEGIN CERTIFICATE REQUEST-----`).
    pub csr: String,
    /// Requested lifetime; the server's `defaultTtl` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<GoDuration>,
}

impl CertificateRequest {
    /// Checks sizes and shape (the CA verifies the CSR itself).
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.csr.len() > MAX_CSR_PEM_BYTES {
            return Err(ApiError::InvalidField {
                field: "csr",
                reason: format!(
                    "it is {} bytes; at most {MAX_CSR_PEM_BYTES} are allowed",
                    self.csr.len()
                ),
            });
        }
        check_text("csr", &self.csr, MAX_CSR_PEM_BYTES, true, Lines::Multi)?;
        if !self.csr.contains("-----BEGIN CERTIFICATE REQUEST-----") {
            return Err(ApiError::InvalidField {
                field: "csr",
                reason: "it is not a PEM \"CERTIFICATE REQUEST\"".to_owned(),
            });
        }
        if self.ttl.is_some_and(GoDuration::is_zero) {
            return Err(ApiError::InvalidField {
                field: "ttl",
                reason: "it is zero; leave it out for the default lifetime".to_owned(),
            });
        }
        Ok(())
    }
}

/// The issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateResponse {
    /// The client certificate, PEM.
    pub certificate: String,
    /// The jitgate CA certificate that signed it, PEM (also the root the gateway's serving
    /// certificate chains to).
    pub ca_certificate: String,
    /// The user the certificate names (subject CN).
    pub user: String,
    /// The groups it names (subject O).
    #[serde(default)]
    pub groups: Vec<String>,
    /// The certificate's `notAfter`.
    pub expires_at: Timestamp,
}
