//! jitgate's certificate authority.
//!
//! An ECDSA P-256 CA kept in a private directory signs short-lived client certificates for
//! humans (subject CN = user, O = each group, `extendedKeyUsage = clientAuth`, as Kubernetes
//! reads client certificates) and the gateway's own HTTPS certificate. Keys are made on the
//! client where possible ([`ClientKey::Csr`]); the CA then takes only the public key from the
//! request and the identity from its caller.
//!
//! ```no_run
//! use std::time::Duration;
//! use jitgate_ca::{CertificateAuthority, ClientCertRequest, ClientKey, ClientIdentity};
//!
//! # fn main() -> Result<(), jitgate_ca::CaError> {
//! let ca = CertificateAuthority::load_or_create("/var/lib/jitgate/ca".as_ref())?;
//! let req = ClientCertRequest::new(
//!     "alice@example.com",
//!     vec!["payments-oncall".into()],
//!     ClientKey::Generate,
//!     Duration::from_secs(12 * 3600),
//! );
//! let issued = ca.issue_client_cert(req)?;
//! let who = ClientIdentity::from_der(&issued.cert_der)?;
//! assert_eq!(who.user, "alice@example.com");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod authority;
mod error;
mod files;
mod identity;
mod issue;
mod kubeconfig;
mod names;
mod ttl;

pub use authority::{CA_CERT_FILE, CA_KEY_FILE, CertificateAuthority};
pub use error::CaError;
pub use files::{PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, write_private_file};
pub use identity::ClientIdentity;
pub use issue::{ClientCertRequest, ClientCsr, ClientKey, IssuedCert, MAX_CSR_PEM};
pub use kubeconfig::kubeconfig_for;
pub use names::{
    MAX_GROUPS, MAX_NAME_LEN, RESERVED_GROUP_PREFIX, SYSTEM_PREFIX, validate_group,
    validate_groups, validate_user,
};
pub use ttl::{
    CA_TTL, CLOCK_SKEW, DEFAULT_CLIENT_TTL, MIN_CLIENT_TTL, SERVER_CERT_TTL, human_duration,
};
