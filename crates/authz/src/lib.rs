//! The gateway's first lock: decides a classified Kubernetes request against the caller's active
//! grants. No I/O: the gateway fetches grants, profiles and (when asked) pod labels.
//!
//! ```
//! use jitgate_authz::{Decision, Grant, GrantIndex, Profiles};
//!
//! let grants = GrantIndex::new(vec![Grant {
//!     id: "g-7f3a".into(),
//!     user: "alice".into(),
//!     profile: "oncall-debug".into(),
//!     namespaces: vec!["checkout".into()],
//!     pod_name_glob: None,
//!     pod_label_selector: None,
//!     expires_at: 1_900_000_000,
//!     created_by: "bob".into(),
//! }]);
//! let req = jitgate_classify::classify("GET", "/api/v1/namespaces/checkout/pods/api-0/exec", None)?;
//! let decision = grants.authorize(&req, "alice", &Profiles::builtin(), 1_800_000_000, None);
//! assert_eq!(decision, Decision::Allow { grant: "g-7f3a".into(), profile: "oncall-debug".into() });
//! # Ok::<(), jitgate_classify::ClassifyError>(())
//! ```
//!
//! Kubernetes RBAC decides again upstream (the second lock), on Roles rendered from the same
//! profiles by `jitgate-rbac`.

mod decide;
mod grant;
mod profile;
mod selector;

pub use decide::{
    DISCOVERY_PATHS, Decision, GrantIndex, SELF_REVIEWS, authorize, describe_action,
    is_discovery_path, is_self_review, rfc3339,
};
pub use grant::{Grant, GrantError, GrantId, MAX_GLOB_LEN, glob_matches};
pub use profile::{ONCALL_DEBUG, Profile, ProfileError, Profiles, Rule, STREAMING_SUBRESOURCES};
pub use selector::{LabelSelector, MAX_SELECTOR_LEN, Operator, Requirement, SelectorError};
