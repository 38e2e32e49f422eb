//! jitgate's JSON API: what `kubectl jit` and the web UI send to the gateway, and what comes
//! back.
//!
//! The API lives under [`paths::PREFIX`] (`/jitgate/v1`) on the gateway's HTTPS listener, a
//! prefix no Kubernetes path uses. Callers authenticate with a client certificate from the
//! jitgate CA or an OIDC ID token as `Authorization: Bearer`; identity always comes from that,
//! never from a body. Failures are a Kubernetes [`Status`] body with the HTTP status code, as
//! the gateway's other refusals are. `docs/openapi.yaml` describes the same contract for
//! people and other languages.
//!
//! - Bodies the server reads ([`CertificateRequest`], [`CreateAccessRequest`], the action
//!   bodies) refuse unknown fields and have a `validate()` that both sides call, so the limits
//!   in [`limits`] hold whoever sends them.
//! - Times are RFC 3339 UTC ([`Timestamp`]); durations are Go-style strings such as `30m` or
//!   `1h30m` ([`GoDuration`]).
//! - With the default `client` feature, [`ApiClient`] calls every endpoint over HTTPS, trusting
//!   only the jitgate CA.
//!
//! ```
//! use jitgate_api::{CreateAccessRequest, GoDuration};
//! let body: CreateAccessRequest = serde_json::from_str(
//!     r#"{"profile":"debug","namespace":"payments","duration":"30m","reason":"INC-4211"}"#,
//! )?;
//! body.validate()?;
//! assert_eq!(body.duration, Some(GoDuration::from_secs(1800)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

#[cfg(feature = "client")]
mod client;
mod duration;
mod error;
pub mod limits;
mod model;
pub mod paths;
mod status;
mod timestamp;

#[cfg(feature = "client")]
pub use client::{ApiClient, ApiClientConfig, ClientCredential};
pub use duration::GoDuration;
pub use error::ApiError;
pub use jitgate_ids::{GrantId, IdError, RequestId, SessionId};
pub use model::{
    AccessRequest, AccessRequestList, ApprovalPreview, ApprovalRecord, ApproveBody, AuthMethod,
    BreakGlassTerms, CancelBody, CertificatePolicy, CertificateRequest, CertificateResponse,
    CreateAccessRequest, DenyBody, Grant, GrantList, GrantState, OidcSettings, Profile,
    ProfileList, RecordedSession, RecordedSessionList, RequestState, ReviewBody, RevokeBody,
    ServerConfig, WhoAmI,
};
pub use paths::{
    GrantQuery, GrantScope, RequestQuery, RequestScope, SessionQuery, SessionScope, WaitQuery,
};
pub use status::Status;
pub use timestamp::Timestamp;
