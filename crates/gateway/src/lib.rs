//! The jitgate gateway: the front door every kubectl request of an on-call engineer passes.
//!
//! The request path, one module per layer:
//! [`server`] (TLS accept loop, peer certificate) → [`authn`] (who) → [`impersonate`] (refuse
//! client `Impersonate-*`) → classify (`jitgate-classify`: what) → authorize (`jitgate-authz`:
//! may they) → [`upstream`] + [`impersonate`] (forward as the human) → [`streams`] (cut on
//! expiry or revocation); [`status`] shapes refusals; every decision goes to `jitgate-audit`.

pub mod authn;
pub mod body;
pub mod gateway;
pub mod impersonate;
pub mod metrics;
pub mod oidc;
pub mod run;
pub mod server;
pub mod session;
pub mod status;
pub mod streams;
pub mod tls;
pub mod upstream;

pub use gateway::{Gateway, GatewayParts};
