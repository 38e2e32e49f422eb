//! The one error type of `kubectl jit`: every message says what happened, why, and the command
//! to run next.

use std::path::PathBuf;
use std::time::Duration;

use jitgate_api::{ApiError, Timestamp};

/// Everything that can stop a `kubectl jit` command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A call to the jitgate API failed; the message is the server's when it refused.
    #[error(transparent)]
    Api(#[from] ApiError),

    /// Making a key or CSR, or reading a certificate, failed.
    #[error(transparent)]
    Ca(#[from] jitgate_ca::CaError),

    /// No credential is cached for this server.
    #[error("no jitgate credential for {server}: run kubectl jit login --server {server}")]
    NoCredential {
        /// The gateway URL.
        server: String,
    },

    /// The cached credential has expired or is about to.
    #[error(
        "your jitgate credential for {server} expired at {expired_at} (or expires within a minute): run kubectl jit login --server {server}"
    )]
    CredentialExpired {
        /// The gateway URL.
        server: String,
        /// The certificate's notAfter.
        expired_at: Timestamp,
    },

    /// The cached credential cannot be read or used.
    #[error("the cached jitgate credential {} is unusable: {reason}; run kubectl jit login --server {server} to replace it", path.display())]
    CorruptCache {
        /// The cache file.
        path: PathBuf,
        /// The gateway URL.
        server: String,
        /// Why.
        reason: String,
    },

    /// A cache file or directory is open to other users.
    #[error("{} has mode {mode:04o}, so other users may read a private key; run chmod {wanted:o} {} (or delete it and run kubectl jit login)", path.display(), path.display())]
    InsecureCache {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// What they should be.
        wanted: u32,
    },

    /// No server was given and none could be found in the kubeconfig.
    #[error(
        "no jitgate server: pass --server https://HOST:PORT (and --ca-file with the jitgate CA), or select a context written by kubectl jit kubeconfig"
    )]
    NoServer,

    /// No CA is known to trust for the server.
    #[error(
        "no CA certificate to trust for {server}: pass --ca-file with the jitgate CA (the gateway's certificate chains to it, e.g. .jitgate/ca/ca.crt)"
    )]
    NoCa {
        /// The gateway URL.
        server: String,
    },

    /// A file could not be read or written.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A kubeconfig cannot be read or merged.
    #[error("the kubeconfig {} cannot be used: {reason}", path.display())]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },

    /// The identity provider's discovery document is unusable.
    #[error("the identity provider {issuer} cannot be used: {reason}")]
    Discovery {
        /// The issuer URL.
        issuer: String,
        /// Why.
        reason: String,
    },

    /// A request to the identity provider failed.
    #[error("could not reach the identity provider at {url}: {reason}")]
    IdpRequest {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },

    /// The identity provider refused a token request.
    #[error("the identity provider refused the login: {error}{}; run kubectl jit login again", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    TokenRefused {
        /// The OAuth 2.0 error code (RFC 6749 §5.2).
        error: String,
        /// The provider's description, printable characters only.
        description: Option<String>,
    },

    /// The browser came back with an OAuth error instead of a code.
    #[error("the login was not completed: {error}{}; run kubectl jit login again", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    AuthorizationFailed {
        /// The `error` parameter of the callback.
        error: String,
        /// Its `error_description`.
        description: Option<String>,
    },

    /// The callback's `state` is not this login's.
    #[error(
        "the login callback does not belong to this login (its state parameter differs), so it was refused; it may come from an older browser tab or another site; run kubectl jit login again"
    )]
    StateMismatch,

    /// The ID token's `nonce` is missing or not this login's.
    #[error(
        "the ID token was not issued for this login (its nonce {}), so it was refused; run kubectl jit login again",
        if *missing { "is missing" } else { "differs" }
    )]
    NonceMismatch {
        /// Whether the nonce claim was absent rather than different.
        missing: bool,
    },

    /// The ID token failed verification.
    #[error(
        "the ID token from {issuer} failed verification: {source}; run kubectl jit login again, or ask the gateway's administrator to check its OIDC settings"
    )]
    IdToken {
        /// The issuer.
        issuer: String,
        /// Why.
        #[source]
        source: jitgate_oidc::OidcError,
    },

    /// Nobody completed the login in time.
    #[error("no login within {}s: run kubectl jit login again{hint}", after.as_secs())]
    LoginTimeout {
        /// The time allowed.
        after: Duration,
        /// What else to try.
        hint: &'static str,
    },

    /// The device code expired or the user declined.
    #[error("the device login ended: {reason}; run kubectl jit login --device-code again")]
    DeviceLogin {
        /// Why.
        reason: String,
    },

    /// The loopback callback server could not start.
    #[error(
        "could not listen on 127.0.0.1 for the login callback: {source}; use kubectl jit login --device-code instead"
    )]
    CallbackListener {
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The credential plugin cannot log in here and has no usable credential.
    #[error("{reason}: run kubectl jit login --server {server} in a terminal, then retry")]
    NotInteractive {
        /// The gateway URL.
        server: String,
        /// Why no credential.
        reason: String,
    },

    /// `KUBERNETES_EXEC_INFO` is unusable.
    #[error(
        "KUBERNETES_EXEC_INFO is unusable: {reason}; rewrite the kubeconfig with kubectl jit kubeconfig"
    )]
    ExecInfo {
        /// Why.
        reason: String,
    },

    /// A waited-for request ended without becoming active.
    #[error("{id} is {state}{detail}")]
    RequestEnded {
        /// The request id.
        id: String,
        /// Its final state.
        state: String,
        /// Who and why, when known, and what to do.
        detail: String,
    },

    /// The caller gave flags that do not fit together.
    #[error("{0}")]
    Usage(String),

    /// Writing output failed.
    #[error("could not write the output: {0}")]
    Output(String),

    /// The system's random number generator failed.
    #[error("the system's random number generator failed; cannot make a key, state or nonce")]
    Random,
}

impl CliError {
    /// An I/O error on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_run() {
        let cases: Vec<(CliError, &str)> = vec![
            (
                CliError::NoCredential {
                    server: "https://gw:8443".into(),
                },
                "no jitgate credential for https://gw:8443: run kubectl jit login --server https://gw:8443",
            ),
            (
                CliError::CredentialExpired {
                    server: "https://gw:8443".into(),
                    expired_at: Timestamp::from_unix(1_777_605_422),
                },
                "your jitgate credential for https://gw:8443 expired at 2026-05-01T03:17:02Z (or expires within a minute): run kubectl jit login --server https://gw:8443",
            ),
            (
                CliError::InsecureCache {
                    path: "/c/credential.json".into(),
                    mode: 0o644,
                    wanted: 0o600,
                },
                "/c/credential.json has mode 0644, so other users may read a private key; run chmod 600 /c/credential.json (or delete it and run kubectl jit login)",
            ),
            (
                CliError::TokenRefused {
                    error: "invalid_grant".into(),
                    description: Some("Invalid code_verifier.".into()),
                },
                "the identity provider refused the login: invalid_grant (Invalid code_verifier.); run kubectl jit login again",
            ),
            (
                CliError::NonceMismatch { missing: true },
                "the ID token was not issued for this login (its nonce is missing), so it was refused; run kubectl jit login again",
            ),
        ];
        for (err, want) in cases {
            assert_eq!(err.to_string(), want);
        }
    }
}
