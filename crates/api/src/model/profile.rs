//! `GET /jitgate/v1/profiles`: the access profiles the caller may request, and how each request
//! would be approved for them right now.

use serde::{Deserialize, Serialize};

use crate::GoDuration;

/// A profile as the caller sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The profile name, e.g. `debug`.
    pub name: String,
    /// What it allows, in a sentence.
    #[serde(default)]
    pub description: String,
    /// Duration of a request that names none.
    pub default_duration: GoDuration,
    /// Longest duration a request may ask for.
    pub max_duration: GoDuration,
    /// Namespaces it may be requested for, as the policy writes them (names; `*` for any).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// How a request by the caller would be approved now.
    pub approval: ApprovalPreview,
    /// Break-glass terms, when the profile allows break-glass requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass: Option<BreakGlassTerms>,
}

/// How a request by the caller would be approved, decided at the time of asking (on-call
/// status changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalPreview {
    /// Whether a request now would be approved without anyone else.
    pub auto_approved: bool,
    /// In words: `auto-approved: alice is on call (payments-primary)`, `needs 1 approval from
    /// sre-leads or payments-leads`.
    pub route: String,
    /// Approvals needed; 0 when auto-approved.
    pub approvals_required: u32,
    /// Groups whose members may approve.
    #[serde(default)]
    pub approver_groups: Vec<String>,
}

/// What a break-glass request of this profile gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakGlassTerms {
    /// Longest break-glass grant.
    pub max_duration: GoDuration,
}

/// The profiles the caller may request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileList {
    /// The profiles, by name.
    #[serde(default)]
    pub items: Vec<Profile>,
}
