//! `GET /jitgate/v1/profiles`: what the caller may request, and how a request would be approved
//! for them right now (the policy's own routing, with the on-call answer of this moment).

use std::time::Duration;

use jitgate_api::{ApprovalPreview, BreakGlassTerms, GoDuration, Profile, ProfileList};
use jitgate_policy::{ApprovalRoute, OnCallAnswer, Policy, ProfileSpec, RequestAsk};

use crate::broker::{either, profile_approvers};
use crate::{Broker, BrokerError, Caller};

/// A policy duration (`30m`, `4h`, `1h30m`, `2d`): the lint has already checked the text.
fn policy_duration(text: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut number: u64 = 0;
    let mut digits = false;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = number.checked_mul(10)?.checked_add(u64::from(d))?;
            digits = true;
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        if !digits {
            return None;
        }
        total = total.checked_add(number.checked_mul(unit)?)?;
        (number, digits) = (0, false);
    }
    (!digits && total > 0).then(|| Duration::from_secs(total))
}

/// Whether `caller` may break glass for `spec`.
fn may_break_glass(spec: &ProfileSpec, caller: &Caller) -> bool {
    spec.break_glass.as_ref().is_some_and(|b| {
        b.allowed
            && if b.groups.is_empty() {
                caller.in_any(&spec.requesters)
            } else {
                caller.in_any(&b.groups)
            }
    })
}

impl Broker {
    /// `GET /jitgate/v1/profiles`: the profiles `caller` may request (as a requester or by
    /// breaking glass), by name, each with how a request by them would be approved now.
    ///
    /// # Errors
    ///
    /// 401 for an unusable identity.
    pub async fn profiles(&self, caller: &Caller) -> Result<ProfileList, BrokerError> {
        caller.check()?;
        let policy = self.policy.load_full();
        let now = self.clock.now();
        let mut items = Vec::new();
        for spec in &policy.document().profiles {
            let requester = caller.in_any(&spec.requesters);
            let glass = may_break_glass(spec, caller);
            let (Some(default), Some(max)) = (
                spec.default_duration.as_deref().and_then(policy_duration),
                spec.max_duration.as_deref().and_then(policy_duration),
            ) else {
                continue;
            };
            if !(requester || glass) {
                continue;
            }
            let approval = if requester {
                self.preview(&policy, spec, caller, now).await
            } else {
                ApprovalPreview {
                    auto_approved: false,
                    route: format!(
                        "break glass only: {} is not a requester of {} (requesters: {})",
                        caller.user,
                        spec.name,
                        spec.requesters.join(", ")
                    ),
                    approvals_required: 0,
                    approver_groups: profile_approvers(&policy, &spec.name),
                }
            };
            let break_glass = spec
                .break_glass
                .as_ref()
                .filter(|_| glass)
                .and_then(|b| b.max_duration.as_deref())
                .and_then(policy_duration)
                .map(|max| BreakGlassTerms {
                    max_duration: GoDuration::from(max),
                });
            items.push(Profile {
                name: spec.name.clone(),
                description: spec.description.clone(),
                default_duration: GoDuration::from(default.min(max)),
                max_duration: GoDuration::from(max),
                namespaces: spec.scope.namespaces.clone(),
                approval,
                break_glass,
            });
        }
        items.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(ProfileList { items })
    }

    /// How a request by `caller` for `spec` would be routed now: the policy's route for one of
    /// its exact namespaces, or a description from the profile when none can be tried.
    async fn preview(
        &self,
        policy: &Policy,
        spec: &ProfileSpec,
        caller: &Caller,
        now: i64,
    ) -> ApprovalPreview {
        let approver_groups = profile_approvers(policy, &spec.name);
        let fallback = || {
            let count = spec.approval.as_ref().map_or(1, |a| a.approvals.max(1));
            ApprovalPreview {
                auto_approved: false,
                route: format!(
                    "needs {count} approval{} from {}",
                    if count == 1 { "" } else { "s" },
                    either(&approver_groups)
                ),
                approvals_required: count,
                approver_groups: approver_groups.clone(),
            }
        };
        let Some(namespace) = spec
            .scope
            .namespaces
            .iter()
            .find(|ns| !ns.contains(['*', '?']))
        else {
            return fallback();
        };
        let on_call = self
            .on_call_for(policy, caller, &spec.name, false, now)
            .await;
        let answer = |schedule: &str| match &on_call {
            Some((asked, answer)) if asked == schedule => answer.clone(),
            _ => OnCallAnswer::Unknown(format!("jitgate did not ask schedule {schedule}")),
        };
        let labels = self.namespace_labels(policy, &spec.name, namespace).await;
        let pod = match spec.scope.pod_names.as_slice() {
            [_, first, ..] => Some(first.as_str()),
            _ => None,
        };
        let routed = policy.route(&RequestAsk {
            user: &caller.user,
            groups: &caller.groups,
            profile: &spec.name,
            namespace,
            namespace_labels: labels.as_ref(),
            pod,
            duration: None,
            break_glass: false,
            on_call: &answer,
        });
        match routed.map(|r| r.route) {
            Ok(ApprovalRoute::AutoApproved { why }) => ApprovalPreview {
                auto_approved: true,
                route: format!("auto-approved: {why}"),
                approvals_required: 0,
                approver_groups,
            },
            Ok(ApprovalRoute::NeedsApprovals {
                count,
                approver_groups,
                distinct_groups,
                why,
            }) => ApprovalPreview {
                auto_approved: false,
                route: crate::requests::needs_approvals_text(
                    count,
                    &approver_groups,
                    distinct_groups,
                    &why,
                ),
                approvals_required: count,
                approver_groups,
            },
            Ok(ApprovalRoute::BreakGlass { .. }) | Err(_) => fallback(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_durations() {
        let cases = [
            ("30m", Some(1800)),
            ("4h", Some(14_400)),
            ("1h30m", Some(5400)),
            ("2d", Some(172_800)),
            ("90s", Some(90)),
            ("", None),
            ("30", None),
            ("m", None),
            ("1x", None),
        ];
        for (text, want) in cases {
            assert_eq!(policy_duration(text).map(|d| d.as_secs()), want, "{text}");
        }
    }
}
