//! The one error type of this crate: every message says what happened and what to do.

use std::path::PathBuf;

use time::OffsetDateTime;

use crate::ttl::human_duration;

/// Everything that can go wrong while loading the CA, issuing a certificate or reading one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// A file or directory operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "read" or "create directory".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The CA directory holds neither `ca.key` nor `ca.crt`.
    #[error(
        "no jitgate CA in {}: ca.key and ca.crt are missing; point to the directory that holds \
         them, or create a new CA there",
        dir.display()
    )]
    NotFound {
        /// The directory that was searched.
        dir: PathBuf,
    },

    /// Creating a CA would overwrite an existing one.
    #[error(
        "a jitgate CA already exists in {}; load it instead, or move ca.key and ca.crt away \
         first if you really mean to replace it (every issued certificate stops working)",
        dir.display()
    )]
    AlreadyExists {
        /// The CA directory.
        dir: PathBuf,
    },

    /// Only one of the two CA files exists.
    #[error(
        "found {present} but not {missing} in {}; restore {missing} from a backup, or delete \
         {present} to create a new CA",
        dir.display()
    )]
    Incomplete {
        /// The CA directory.
        dir: PathBuf,
        /// The file that exists.
        present: &'static str,
        /// The file that is missing.
        missing: &'static str,
    },

    /// `ca.key` cannot be used as an ECDSA P-256 signing key.
    #[error(
        "ca.key in {} is not a P-256 PKCS#8 key: {reason}; delete it (and ca.crt) to create a \
         new CA",
        dir.display()
    )]
    InvalidKey {
        /// The CA directory.
        dir: PathBuf,
        /// Why the key was rejected.
        reason: String,
    },

    /// `ca.crt` cannot be parsed or is not a CA certificate for `ca.key`.
    #[error(
        "ca.crt in {} is not a usable CA certificate: {reason}; restore it from a backup, or \
         delete ca.key and ca.crt to create a new CA",
        dir.display()
    )]
    InvalidCaCert {
        /// The CA directory.
        dir: PathBuf,
        /// Why the certificate was rejected.
        reason: String,
    },

    /// A secret file or its directory is readable by other users.
    #[error(
        "{} is accessible by group or others (mode {mode:04o}); run `chmod {wanted:o} {}` and try \
         again",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The file or directory.
        path: PathBuf,
        /// Its current permission bits.
        mode: u32,
        /// The mode it should have.
        wanted: u32,
    },

    /// A user name or group name cannot go into a certificate.
    #[error("{kind} name {name:?} is not allowed: {reason}")]
    InvalidName {
        /// "user" or "group".
        kind: &'static str,
        /// The rejected name (control characters are escaped by `{:?}`).
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The requested certificate lifetime is shorter than the minimum.
    #[error(
        "certificate lifetime {} is below the minimum of {}; ask for {} or more",
        human_duration(*requested), human_duration(*minimum), human_duration(*minimum)
    )]
    TtlTooShort {
        /// What was asked for.
        requested: std::time::Duration,
        /// The smallest lifetime jitgate issues.
        minimum: std::time::Duration,
    },

    /// The requested certificate lifetime exceeds the policy's maximum.
    #[error(
        "certificate lifetime {} exceeds the maximum of {} allowed by policy; ask for {} or less",
        human_duration(*requested), human_duration(*maximum), human_duration(*maximum)
    )]
    TtlTooLong {
        /// What was asked for.
        requested: std::time::Duration,
        /// The policy's maximum.
        maximum: std::time::Duration,
    },

    /// The policy's maximum lifetime is itself below jitgate's minimum.
    #[error(
        "the policy allows client certificates of at most {}, below jitgate's minimum of {}; \
         raise the maximum certificate lifetime in the policy",
        human_duration(*maximum), human_duration(*minimum)
    )]
    MaxTtlBelowMinimum {
        /// The policy's maximum.
        maximum: std::time::Duration,
        /// The smallest lifetime jitgate issues.
        minimum: std::time::Duration,
    },

    /// The CA itself expires before the certificate would.
    #[error(
        "the jitgate CA expires at {ca_not_after}, before the requested certificate would \
         ({requested_not_after}); ask for a shorter lifetime, or rotate the CA"
    )]
    CaExpiresFirst {
        /// When the CA certificate expires.
        ca_not_after: OffsetDateTime,
        /// When the requested certificate would have expired.
        requested_not_after: OffsetDateTime,
    },

    /// The certificate signing request cannot be parsed.
    #[error(
        "the certificate signing request is not valid: {reason}; generate a new PKCS#10 request \
         (PEM, \"CERTIFICATE REQUEST\")"
    )]
    InvalidCsr {
        /// Why it was rejected.
        reason: String,
    },

    /// The CSR's self-signature does not verify with the key it carries.
    #[error(
        "the certificate signing request's signature does not verify: it was altered, or not \
         signed with the key it contains; generate a new request"
    )]
    CsrSignature,

    /// The public key is not ECDSA P-256.
    #[error(
        "the request's key is {found}, but jitgate issues only ECDSA P-256 keys; generate a P-256 key"
    )]
    UnsupportedKey {
        /// A description of the key that was found.
        found: String,
    },

    /// A host name for a server certificate is neither an IP address nor a DNS name.
    #[error("{host:?} is not a valid IP address or DNS name for a server certificate: {reason}")]
    InvalidHost {
        /// The rejected host.
        host: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A client certificate presented to the gateway cannot be used as an identity.
    #[error("client certificate rejected: {reason}; log in again to get a new certificate")]
    InvalidClientCert {
        /// Why it was rejected.
        reason: String,
    },

    /// Key generation or signing failed inside the crypto library.
    #[error(
        "could not {action}: {source}; this is a bug or a broken crypto backend, please report it"
    )]
    Crypto {
        /// What was being done.
        action: &'static str,
        /// The crypto library's error.
        #[source]
        source: rcgen::Error,
    },
}

impl CaError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn crypto(action: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |source| Self::Crypto { action, source }
    }
}
