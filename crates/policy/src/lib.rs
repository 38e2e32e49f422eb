//! Policy as code: the jitgate policy file (YAML, or JSON), its lint, its JSON Schema, and the
//! I/O-free decisions the broker and the gateway take from it.
//!
//! ```
//! use jitgate_policy::{ApprovalRoute, OnCallAnswer, Policy, RequestAsk};
//!
//! let policy = Policy::embedded_default();
//! let groups = vec!["oncall-payments".to_owned(), "sre".to_owned()];
//! let on_call = |schedule: &str| {
//!     if schedule == "payments-primary" { OnCallAnswer::Yes } else { OnCallAnswer::No }
//! };
//! let routed = policy
//!     .route(&RequestAsk {
//!         user: "alice",
//!         groups: &groups,
//!         profile: "oncall-debug",
//!         namespace: "payments",
//!         namespace_labels: None,
//!         pod: None,
//!         duration: None,
//!         break_glass: false,
//!         on_call: &on_call,
//!     })
//!     .unwrap();
//! assert!(matches!(routed.route, ApprovalRoute::AutoApproved { .. }));
//! assert_eq!(routed.duration.as_secs(), 30 * 60);
//! ```
//!
//! - [`Policy::lint`] / [`Policy::parse`]: every finding with its YAML path, line, column,
//!   severity and a stable [`Code`]; see `docs/policy.md` for the list.
//! - [`Policy::profiles`] feeds the gateway's authorizer and `jitgate rbac render`
//!   ([`Policy::rbac_targets`]); [`Policy::route`], [`Policy::may_approve`],
//!   [`Policy::approvals_satisfied`] and [`Policy::standing_for`] are for the broker.
//! - [`schema_json`] is `docs/policy.schema.json`; [`PolicyTests`] runs `jitgate policy test`.

#![forbid(unsafe_code)]

mod cases;
mod diagnostic;
mod duration;
mod kube;
mod lint;
mod model;
mod policy;
mod ports;
mod route;
mod schema;
mod yaml;

use std::io::Read as _;
use std::path::{Path, PathBuf};

pub use cases::{
    ApproveCase, Case, CaseFile, CaseResult, Expect, ExpectSpec, Outcome, PolicyTests,
    StandingCase, StandingExpect,
};
pub use diagnostic::{Code, Diagnostic, Severity, has_errors};
pub use duration::{MAX_DURATION, MIN_DURATION, format_duration};
pub use kube::{
    BUILTIN_RESOURCES, CAPABILITIES, ESCALATION_VERBS, NODE_ROOT_CAPABILITIES, REQUEST_VERBS,
    SECRET_RESOURCES,
};
pub use lint::{MAX_APPROVALS, MAX_GROUP_LEN};
pub use model::{
    API_VERSION, ApprovalSpec, AutoApproveSpec, BreakGlassSpec, CopySpec, DebugSpec, ExecSpec,
    InteractiveMode, KIND, NotificationSpec, PagerDutySpec, PolicyDocument, PortForwardSpec,
    PortSpec, ProfileSpec, RuleSpec, ScheduleSpec, ScopeSpec, SlackSpec, StandingSpec, WebhookSpec,
};
pub use policy::{EMBEDDED_DEFAULT, Lint, Policy, StandingAccess};
pub use ports::PortAllowlist;
pub use route::{
    ApprovalProgress, ApprovalRoute, Approver, OnCallAnswer, Refusal, RequestAsk, RoutedRequest,
};
pub use schema::{schema, schema_json};
pub use yaml::{MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES, MAX_SCALAR_BYTES};

/// Loads YAML (or JSON) text into a JSON value with the same rules as the policy loader
/// (YAML 1.2 core schema, one document, no aliases, size and depth limits), e.g. to validate a
/// file against [`schema`] with another tool.
///
/// # Errors
///
/// The findings (syntax, limits, duplicate keys, tags), with lines.
pub fn load_yaml(text: &str) -> Result<serde_json::Value, Vec<Diagnostic>> {
    let loaded = yaml::load(text)?;
    if has_errors(&loaded.diagnostics) {
        return Err(loaded.diagnostics);
    }
    Ok(loaded.value)
}

/// Why a policy (or test-case) file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read, or is larger than [`MAX_FILE_BYTES`].
    #[error("cannot read {}: {source}; check the path and its permissions", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file does not pass the lint.
    #[error(
        "{} is not a valid policy ({} error(s)); run `jitgate policy lint {}` for the details",
        path.display(),
        diagnostics.iter().filter(|d| d.is_error()).count(),
        path.display()
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every finding, errors and warnings.
        diagnostics: Vec<Diagnostic>,
    },
}

impl PolicyError {
    /// The error with every finding of an invalid file, one compiler-style line each (`FILE:LINE:
    /// COL: error[code] path: message`), for a person at a terminal or in a log.
    pub fn with_findings(&self) -> String {
        match self {
            Self::Invalid { path, diagnostics } => {
                let file = path.display().to_string();
                let findings: Vec<String> = diagnostics.iter().map(|d| d.render(&file)).collect();
                format!("policy {file} is invalid:\n{}", findings.join("\n"))
            }
            other => other.to_string(),
        }
    }
}

/// Reads a UTF-8 file of at most [`MAX_FILE_BYTES`].
///
/// # Errors
///
/// [`PolicyError::Read`] if it cannot be read, is too large, or is not UTF-8.
pub fn read_limited(path: &Path) -> Result<String, PolicyError> {
    let read = || -> std::io::Result<String> {
        let file = std::fs::File::open(path)?;
        let mut bytes = Vec::new();
        let limit = u64::try_from(MAX_FILE_BYTES).unwrap_or(u64::MAX) + 1;
        file.take(limit).read_to_end(&mut bytes)?;
        if bytes.len() > MAX_FILE_BYTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the file is larger than {MAX_FILE_BYTES} bytes"),
            ));
        }
        String::from_utf8(bytes).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the file is not UTF-8 text",
            )
        })
    };
    read().map_err(|source| PolicyError::Read {
        path: path.to_path_buf(),
        source,
    })
}
