//! `kubectl jit`, jitgate's kubectl plugin, as a library: the binary `kubectl-jit` is a thin
//! `main` over [`commands::run`].
//!
//! - [`login`]: OIDC authorization code + PKCE on a loopback port, or the device flow, ending in
//!   an ID token verified here (signature, issuer, audience, expiry, nonce).
//! - [`commands::login`]: that token buys a short-lived client certificate for a P-256 key made
//!   on this machine (`POST /jitgate/v1/certificates`); key and certificate go to the
//!   [`cache`] (0600 in 0700 directories).
//! - [`exec_credential`]: the kubectl credential plugin that hands the cached certificate to
//!   kubectl, logging in again when it has expired and kubectl says a person is there.
//! - [`kubeconfig`]: writes and reads the kubeconfig context that uses the plugin.
//! - [`output`]: tables for people, the API's JSON or YAML with `-o`.

#![forbid(unsafe_code)]

pub mod browser;
pub mod cache;
pub mod cli;
pub mod commands;
mod error;
pub mod exec_credential;
pub mod idp;
pub mod kubeconfig;
pub mod login;
pub mod output;
pub mod pkce;
#[cfg(test)]
mod testing;

pub use error::CliError;
