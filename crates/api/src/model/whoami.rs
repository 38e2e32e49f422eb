//! `GET /jitgate/v1/whoami`: who the gateway thinks the caller is, and what they may do now.

use serde::{Deserialize, Serialize};

use super::Grant;
use crate::Timestamp;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AuthMethod {
    /// A client certificate from the jitgate CA.
    Certificate,
    /// An OIDC ID token as `Authorization: Bearer`.
    Oidc,
}

impl AuthMethod {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::Oidc => "oidc",
        }
    }
}

/// The caller's identity and live grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WhoAmI {
    /// The Kubernetes user name.
    pub user: String,
    /// The groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// How this request was authenticated.
    pub auth_method: AuthMethod,
    /// When the credential used (certificate `notAfter`, token `exp`) stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_expires_at: Option<Timestamp>,
    /// The caller's active grants.
    #[serde(default)]
    pub grants: Vec<Grant>,
}
