//! Who is on call: the broker auto-approves a request only when the requester is on call for the
//! profile's schedule at request time.
//!
//! Two sources behind one front, [`OnCallSource`]:
//!
//! - [`Schedule`]: a schedule file (time zone, rotations, overrides), parsed once and evaluated
//!   without I/O. Time zones come from the IANA database compiled into the binary, so answers do
//!   not depend on the machine's `/usr/share/zoneinfo`.
//! - [`PagerDutySchedule`]: PagerDuty's REST API v2 (`GET /oncalls`), with a 2 s timeout, a size
//!   limit on answers and a 30 s cache.
//!
//! The answer is three-valued ([`OnCallAnswer`]): anything that prevents a clear answer is
//! [`OnCallAnswer::Unknown`], and only [`OnCallAnswer::Yes`] may lead to auto-approval.
//!
//! ```
//! use jitgate_oncall::{OnCallSource, Schedule, Timestamp};
//!
//! let schedule = Schedule::parse(r#"
//! timezone: Europe/Berlin
//! rotations:
//!   - name: primary
//!     users: [alice@example.com, bob@example.com]
//!     start: 2026-01-05T09:00:00+01:00
//!     length: 1w
//!     handoff: "09:00"
//! "#)?;
//! let at: Timestamp = "2026-01-13T10:00:00+01:00".parse()?;
//! assert_eq!(schedule.on_call_at(at), ["bob@example.com"]);
//!
//! let source = OnCallSource::File(schedule);
//! # let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! # rt.block_on(async {
//! assert!(source.is_on_call("bob@example.com", at).await.is_yes());
//! assert!(!source.is_on_call("alice@example.com", at).await.is_yes());
//! # });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod error;
mod http_client;
mod pagerduty;
mod schedule;

pub use error::OnCallError;
pub use jiff::Timestamp;
pub use pagerduty::{
    DEFAULT_BASE_URL, DEFAULT_CACHE_TTL, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_PAGES,
    DEFAULT_TIMEOUT, PagerDutyClient, PagerDutyConfig, PagerDutyOnCall, PagerDutySchedule,
};
pub use schedule::{
    MAX_OVERRIDES, MAX_ROTATIONS, MAX_SCHEDULE_BYTES, MAX_USER_LEN, MAX_USERS_PER_ROTATION,
    MAX_WINDOWS_PER_ROTATION, OnCall, OnCallVia, Schedule,
};

/// Whether someone is on call: yes, no, or no clear answer.
///
/// `Unknown` must be treated like `No` for approval (the request then needs an approver); its
/// reason belongs in the audit log.
#[derive(Debug)]
pub enum OnCallAnswer {
    /// The source puts the user on call at that instant.
    Yes,
    /// The source answered, and the user is not on call then.
    No,
    /// The source could not answer (timeout, error status, malformed answer ...).
    Unknown(OnCallError),
}

impl OnCallAnswer {
    /// True only for [`OnCallAnswer::Yes`]: the one answer that may auto-approve.
    pub fn is_yes(&self) -> bool {
        matches!(self, Self::Yes)
    }

    /// A short word for audit lines: `yes`, `no` or `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Unknown(_) => "unknown",
        }
    }
}

/// Where a profile's on-call schedule comes from.
#[derive(Debug, Clone)]
pub enum OnCallSource {
    /// A schedule file, evaluated locally.
    File(Schedule),
    /// A PagerDuty schedule, asked over HTTPS.
    PagerDuty(PagerDutySchedule),
}

impl OnCallSource {
    /// Whether `user` (a user name or email, as the identity provider gives it) is on call at
    /// `at`.
    pub async fn is_on_call(&self, user: &str, at: Timestamp) -> OnCallAnswer {
        match self {
            Self::File(schedule) => {
                if schedule.is_on_call(user, at) {
                    OnCallAnswer::Yes
                } else {
                    OnCallAnswer::No
                }
            }
            Self::PagerDuty(schedule) => schedule.is_on_call(user, at).await,
        }
    }
}
