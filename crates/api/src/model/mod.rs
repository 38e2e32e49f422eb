//! The request and response bodies of every endpoint, camelCase on the wire.
//!
//! Bodies the server reads refuse unknown fields (a typo must not silently drop a field such
//! as `breakGlass`) and offer `validate()`. Bodies the server writes accept unknown fields, so
//! an older `kubectl jit` keeps working against a newer gateway. Optional fields are left out
//! when empty and read as empty when missing or `null`.

mod certificate;
mod config;
mod grant;
mod profile;
mod request;
mod session;
mod text;
mod whoami;

pub use certificate::{CertificateRequest, CertificateResponse};
pub use config::{CertificatePolicy, OidcSettings, ServerConfig};
pub use grant::{Grant, GrantList, GrantState, ReviewBody, RevokeBody};
pub use profile::{ApprovalPreview, BreakGlassTerms, Profile, ProfileList};
pub use request::{
    AccessRequest, AccessRequestList, ApprovalRecord, ApproveBody, CancelBody, CreateAccessRequest,
    DenyBody, RequestState,
};
pub use session::{RecordedSession, RecordedSessionList};
pub use whoami::{AuthMethod, WhoAmI};
