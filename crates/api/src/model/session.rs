//! Recorded sessions: `GET /jitgate/v1/sessions`, and each one's recording at
//! `GET /jitgate/v1/sessions/{id}/recording` (asciicast v2, not JSON).

use serde::{Deserialize, Serialize};

use crate::{GrantId, SessionId, Timestamp};

/// One recorded exec or attach session, as its recording's header describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedSession {
    /// `s-` and 8 hex digits; also in the Kubernetes audit log as `jitgate.dev/session`.
    pub id: SessionId,
    /// Who ran it.
    pub user: String,
    /// The grant that allowed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantId>,
    /// The pod's namespace.
    #[serde(default)]
    pub namespace: String,
    /// The pod.
    #[serde(default)]
    pub pod: String,
    /// The container, when kubectl named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// `exec` or `attach`.
    #[serde(default)]
    pub kind: String,
    /// The command line of an exec.
    #[serde(default)]
    pub command: String,
    /// Whether it had a terminal.
    #[serde(default)]
    pub tty: bool,
    /// When it started.
    pub started_at: Timestamp,
    /// The recording's size in bytes, so far (a live session's recording still grows).
    pub bytes: u64,
}

/// `GET /jitgate/v1/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedSessionList {
    /// Newest first.
    #[serde(default)]
    pub items: Vec<RecordedSession>,
}
