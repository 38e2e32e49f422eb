//! Deciding a request against the policy, with no I/O: who may request what, where, for how
//! long, and how it is approved (automatically, by N people, or break glass); and who may
//! approve it. The broker calls these; the oncall component answers the on-call question.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use jitgate_authz::{LabelSelector, glob_matches};

use crate::duration::{MIN_DURATION, format_duration};
use crate::model::ProfileSpec;
use crate::policy::{Policy, namespace_in_scope};

/// What the oncall component says about "is this user on call for this schedule now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnCallAnswer {
    /// On call now.
    Yes,
    /// Not on call now.
    No,
    /// Cannot tell (schedule unreadable, API down, ...). Never leads to auto-approval.
    Unknown(String),
}

/// A request for access, as the broker received it. Identity (user and groups) comes from
/// authentication, never from the request body.
pub struct RequestAsk<'a> {
    /// The authenticated user.
    pub user: &'a str,
    /// The user's groups, from authentication.
    pub groups: &'a [String],
    /// The profile asked for.
    pub profile: &'a str,
    /// The namespace asked for.
    pub namespace: &'a str,
    /// The namespace's labels, if known (needed when the profile has a namespace selector).
    pub namespace_labels: Option<&'a BTreeMap<String, String>>,
    /// Optionally, one pod name or pod-name glob to narrow the grant to. Required when the
    /// profile lists several `scope.podNames`.
    pub pod: Option<&'a str>,
    /// How long; `None` means the profile's default.
    pub duration: Option<Duration>,
    /// Whether this is an emergency break-glass request.
    pub break_glass: bool,
    /// Whether `user` is on call for a schedule now.
    pub on_call: &'a dyn Fn(&str) -> OnCallAnswer,
}

impl fmt::Debug for RequestAsk<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestAsk")
            .field("user", &self.user)
            .field("groups", &self.groups)
            .field("profile", &self.profile)
            .field("namespace", &self.namespace)
            .field("namespace_labels", &self.namespace_labels)
            .field("pod", &self.pod)
            .field("duration", &self.duration)
            .field("break_glass", &self.break_glass)
            .finish_non_exhaustive()
    }
}

/// How a request is approved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalRoute {
    /// Approved now, without a person.
    AutoApproved {
        /// Why, for the audit log (`alice is in oncall-payments and on call for
        /// payments-primary`).
        why: String,
    },
    /// Pending until `count` people from `approver_groups` approve (never the requester).
    NeedsApprovals {
        /// How many distinct approvers.
        count: u32,
        /// Groups whose members may approve.
        approver_groups: Vec<String>,
        /// Whether each approval must come from a different approver group.
        distinct_groups: bool,
        /// Why it was not auto-approved, when auto-approval was considered (e.g. the on-call
        /// answer was unknown); empty otherwise.
        why: String,
    },
    /// Emergency access: self-approved, capped at `max`, to be notified loudly and reviewed.
    BreakGlass {
        /// The break-glass cap.
        max: Duration,
    },
}

/// A request the policy accepts, and what the grant will be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedRequest {
    /// How it is approved.
    pub route: ApprovalRoute,
    /// The effective duration: as asked, or the profile's default (capped at the break-glass
    /// maximum for break glass).
    pub duration: Duration,
    /// The grant's pod-name glob, from `scope.podNames` or the narrower pod asked for.
    pub pod_name_glob: Option<String>,
    /// The grant's pod label selector, from `scope.podSelector`.
    pub pod_label_selector: Option<LabelSelector>,
    /// Notifications to send (names from `notifications`): the profile's, plus break glass's.
    pub notify: Vec<String>,
}

/// Why the policy refuses a request or an approval. Each message says what happened, why, and
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No user name (unauthenticated).
    NoIdentity,
    /// The profile does not exist.
    UnknownProfile {
        /// The profile asked for.
        profile: String,
        /// The profiles that do exist.
        known: Vec<String>,
    },
    /// The user is in none of the requester groups.
    NotARequester {
        /// The user.
        user: String,
        /// The profile.
        profile: String,
        /// Who may request it.
        requesters: Vec<String>,
    },
    /// The namespace is not in the profile's scope.
    NamespaceOutsideScope {
        /// The namespace asked for.
        namespace: String,
        /// The profile.
        profile: String,
        /// The scope's namespaces.
        allowed: Vec<String>,
    },
    /// The profile has a namespace selector and the namespace's labels are not known, or do not
    /// match.
    NamespaceLabelsRefused {
        /// The namespace.
        namespace: String,
        /// The profile.
        profile: String,
        /// The selector.
        selector: String,
        /// Whether the labels were known at all.
        labels_known: bool,
    },
    /// The pod asked for is outside `scope.podNames`, or one must be chosen.
    PodOutsideScope {
        /// The pod (or glob) asked for, if any.
        pod: Option<String>,
        /// The profile.
        profile: String,
        /// The scope's pod-name globs.
        allowed: Vec<String>,
    },
    /// The duration asked for is above the maximum.
    DurationAboveMax {
        /// Asked for.
        requested: Duration,
        /// The maximum.
        max: Duration,
        /// Whether the maximum is the break-glass one.
        break_glass: bool,
    },
    /// The duration asked for is below one minute.
    DurationTooShort {
        /// Asked for.
        requested: Duration,
    },
    /// The profile has no duration limits, so it cannot be requested.
    NotRequestable {
        /// The profile.
        profile: String,
    },
    /// Break glass is not allowed for this profile, or not for this user.
    BreakGlassNotAllowed {
        /// The user.
        user: String,
        /// The profile.
        profile: String,
        /// Who may break glass (empty if nobody).
        groups: Vec<String>,
    },
    /// The approver is the requester.
    SelfApproval {
        /// The user.
        user: String,
    },
    /// The approver is in none of the approver groups.
    NotAnApprover {
        /// The approver.
        user: String,
        /// The profile.
        profile: String,
        /// Who may approve.
        approver_groups: Vec<String>,
    },
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoIdentity => f.write_str(
                "refused: the request carries no authenticated user; log in with kubectl jit login",
            ),
            Self::UnknownProfile { profile, known } => write!(
                f,
                "refused: there is no profile {profile:?} in the policy; profiles are: {}",
                list(known)
            ),
            Self::NotARequester {
                user,
                profile,
                requesters,
            } => write!(
                f,
                "refused: {user} is not a requester of profile {profile:?} (requesters: {}); \
                 ask to be added to one of those groups, or ask someone who is",
                list(requesters)
            ),
            Self::NamespaceOutsideScope {
                namespace,
                profile,
                allowed,
            } => write!(
                f,
                "refused: namespace {namespace:?} is outside the scope of profile {profile:?} \
                 (namespaces: {}); request one of those, or another profile",
                list(allowed)
            ),
            Self::NamespaceLabelsRefused {
                namespace,
                profile,
                selector,
                labels_known: true,
            } => write!(
                f,
                "refused: namespace {namespace:?} does not match the namespace selector \
                 {selector:?} of profile {profile:?}; request a namespace that does"
            ),
            Self::NamespaceLabelsRefused {
                namespace,
                profile,
                selector,
                labels_known: false,
            } => write!(
                f,
                "refused: profile {profile:?} needs namespace labels matching {selector:?}, and \
                 the labels of {namespace:?} could not be read; try again, or ask an admin"
            ),
            Self::PodOutsideScope {
                pod: Some(pod),
                profile,
                allowed,
            } => write!(
                f,
                "refused: pod {pod:?} is outside the pod scope of profile {profile:?} (pods: \
                 {}); name a pod that matches",
                list(allowed)
            ),
            Self::PodOutsideScope {
                pod: None,
                profile,
                allowed,
            } => write!(
                f,
                "refused: profile {profile:?} covers several pod groups ({}); choose one with \
                 --pod",
                list(allowed)
            ),
            Self::DurationAboveMax {
                requested,
                max,
                break_glass,
            } => write!(
                f,
                "refused: {} is longer than the {}maximum of {}; ask for {} or less",
                format_duration(*requested),
                if *break_glass { "break-glass " } else { "" },
                format_duration(*max),
                format_duration(*max)
            ),
            Self::DurationTooShort { requested } => write!(
                f,
                "refused: {} is shorter than the minimum of {}; ask for at least {}",
                format_duration(*requested),
                format_duration(MIN_DURATION),
                format_duration(MIN_DURATION)
            ),
            Self::NotRequestable { profile } => write!(
                f,
                "refused: profile {profile:?} has no duration limits, so it cannot be requested; \
                 ask an admin"
            ),
            Self::BreakGlassNotAllowed {
                user,
                profile,
                groups,
            } => {
                if groups.is_empty() {
                    write!(
                        f,
                        "refused: profile {profile:?} does not allow break glass; make a normal \
                         request"
                    )
                } else {
                    write!(
                        f,
                        "refused: {user} may not break glass for profile {profile:?} (only {}); \
                         make a normal request",
                        list(groups)
                    )
                }
            }
            Self::SelfApproval { user } => write!(
                f,
                "refused: {user} cannot approve their own request; another approver must"
            ),
            Self::NotAnApprover {
                user,
                profile,
                approver_groups,
            } => write!(
                f,
                "refused: {user} is not an approver of profile {profile:?} (approver groups: \
                 {}); ask a member of those groups",
                list(approver_groups)
            ),
        }
    }
}

/// Someone who approved a request, for [`Policy::approvals_satisfied`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// The approver's user name.
    pub user: String,
    /// The approver's groups, as authenticated at the time of approving (re-checked each time).
    pub groups: Vec<String>,
}

/// How far a request's approvals are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalProgress {
    /// Approvals that count (distinct users; distinct groups if the profile says so).
    pub have: u32,
    /// Approvals needed.
    pub need: u32,
}

impl ApprovalProgress {
    /// Whether enough approvals are in.
    #[must_use]
    pub fn is_satisfied(&self) -> bool {
        self.have >= self.need
    }
}

fn intersect<'g>(groups: &'g [String], wanted: &[String]) -> Vec<&'g str> {
    groups
        .iter()
        .filter(|g| wanted.contains(g))
        .map(String::as_str)
        .collect()
}

impl Policy {
    fn spec_or_refuse(&self, profile: &str) -> Result<&ProfileSpec, Refusal> {
        self.profile(profile)
            .ok_or_else(|| Refusal::UnknownProfile {
                profile: profile.to_owned(),
                known: self
                    .document
                    .profiles
                    .iter()
                    .map(|p| p.name.clone())
                    .collect(),
            })
    }

    /// Decides how a request is approved, or why it is refused.
    ///
    /// Checks, in order: identity, profile, namespace scope (names, then labels), pod scope;
    /// then for break glass the break-glass groups and cap; otherwise requester groups,
    /// duration, auto-approval (asking `on_call` only when the profile says
    /// `onlyWhileOnCall`), and finally approvals. An on-call answer of `No` or `Unknown`
    /// falls back to approvals, never to auto-approval.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] saying why and what to do.
    pub fn route(&self, ask: &RequestAsk<'_>) -> Result<RoutedRequest, Refusal> {
        if ask.user.is_empty() {
            return Err(Refusal::NoIdentity);
        }
        let spec = self.spec_or_refuse(ask.profile)?;
        let Some(compiled) = self.compiled.get(ask.profile) else {
            return Err(Refusal::NotRequestable {
                profile: ask.profile.to_owned(),
            });
        };
        if !namespace_in_scope(&spec.scope, ask.namespace) {
            return Err(Refusal::NamespaceOutsideScope {
                namespace: ask.namespace.to_owned(),
                profile: spec.name.clone(),
                allowed: spec.scope.namespaces.clone(),
            });
        }
        if let Some(selector) = &compiled.namespace_selector {
            let matches = ask.namespace_labels.map(|labels| selector.matches(labels));
            if matches != Some(true) {
                return Err(Refusal::NamespaceLabelsRefused {
                    namespace: ask.namespace.to_owned(),
                    profile: spec.name.clone(),
                    selector: selector.to_string(),
                    labels_known: matches.is_some(),
                });
            }
        }
        let pod_name_glob = pod_glob(spec, ask.pod)?;
        let limits = || match (compiled.default_duration, compiled.max_duration) {
            (Some(default), Some(max)) => Ok((default, max)),
            _ => Err(Refusal::NotRequestable {
                profile: spec.name.clone(),
            }),
        };
        let mut notify = spec.notify.clone();

        if ask.break_glass {
            let break_glass = spec.break_glass.as_ref().filter(|b| b.allowed);
            let groups = match break_glass {
                Some(b) if !b.groups.is_empty() => b.groups.clone(),
                Some(_) => spec.requesters.clone(),
                None => Vec::new(),
            };
            let (Some(break_glass), Some(cap)) = (break_glass, compiled.break_glass_max) else {
                return Err(Refusal::BreakGlassNotAllowed {
                    user: ask.user.to_owned(),
                    profile: spec.name.clone(),
                    groups: Vec::new(),
                });
            };
            if intersect(ask.groups, &groups).is_empty() {
                return Err(Refusal::BreakGlassNotAllowed {
                    user: ask.user.to_owned(),
                    profile: spec.name.clone(),
                    groups,
                });
            }
            let (default, _) = limits()?;
            let duration = check_duration(ask.duration, default.min(cap), cap, true)?;
            for name in &break_glass.notify {
                if !notify.contains(name) {
                    notify.push(name.clone());
                }
            }
            return Ok(RoutedRequest {
                route: ApprovalRoute::BreakGlass { max: cap },
                duration,
                pod_name_glob,
                pod_label_selector: compiled.pod_selector.clone(),
                notify,
            });
        }

        let via = intersect(ask.groups, &spec.requesters);
        if via.is_empty() {
            return Err(Refusal::NotARequester {
                user: ask.user.to_owned(),
                profile: spec.name.clone(),
                requesters: spec.requesters.clone(),
            });
        }
        let (default, max) = limits()?;
        let duration = check_duration(ask.duration, default, max, false)?;
        let Some(approval) = &spec.approval else {
            // The lint requires an approval section for requestable profiles; fail closed.
            return Err(Refusal::NotRequestable {
                profile: spec.name.clone(),
            });
        };
        let mut why = String::new();
        if let Some(auto) = &approval.auto_approve
            && let Some(group) = intersect(ask.groups, &auto.groups).first()
        {
            match &auto.only_while_on_call {
                None => {
                    return Ok(RoutedRequest {
                        route: ApprovalRoute::AutoApproved {
                            why: format!(
                                "{} is in {group}, which profile {} auto-approves",
                                ask.user, spec.name
                            ),
                        },
                        duration,
                        pod_name_glob,
                        pod_label_selector: compiled.pod_selector.clone(),
                        notify,
                    });
                }
                Some(schedule) => match (ask.on_call)(schedule) {
                    OnCallAnswer::Yes => {
                        return Ok(RoutedRequest {
                            route: ApprovalRoute::AutoApproved {
                                why: format!(
                                    "{} is in {group} and on call for {schedule}",
                                    ask.user
                                ),
                            },
                            duration,
                            pod_name_glob,
                            pod_label_selector: compiled.pod_selector.clone(),
                            notify,
                        });
                    }
                    OnCallAnswer::No => {
                        why = format!("{} is in {group} but not on call for {schedule}", ask.user);
                    }
                    OnCallAnswer::Unknown(reason) => {
                        why = format!(
                            "on-call status of {} for {schedule} is unknown ({reason}), so \
                                 the request needs approval",
                            ask.user
                        );
                    }
                },
            }
        }
        Ok(RoutedRequest {
            route: ApprovalRoute::NeedsApprovals {
                count: approval.approvals.max(1),
                approver_groups: approval.approver_groups.clone(),
                distinct_groups: approval.distinct_groups,
                why,
            },
            duration,
            pod_name_glob,
            pod_label_selector: compiled.pod_selector.clone(),
            notify,
        })
    }

    /// Whether `approver` may approve `requester`'s request for `profile`: never their own, and
    /// only as a member of an approver group.
    ///
    /// # Errors
    ///
    /// [`Refusal::SelfApproval`], [`Refusal::NotAnApprover`] or [`Refusal::UnknownProfile`].
    pub fn may_approve(
        &self,
        profile: &str,
        approver: &str,
        approver_groups: &[String],
        requester: &str,
    ) -> Result<(), Refusal> {
        if approver.is_empty() {
            return Err(Refusal::NoIdentity);
        }
        let spec = self.spec_or_refuse(profile)?;
        if approver == requester {
            return Err(Refusal::SelfApproval {
                user: approver.to_owned(),
            });
        }
        let groups = spec
            .approval
            .as_ref()
            .map(|a| a.approver_groups.clone())
            .unwrap_or_default();
        if intersect(approver_groups, &groups).is_empty() {
            return Err(Refusal::NotAnApprover {
                user: approver.to_owned(),
                profile: spec.name.clone(),
                approver_groups: groups,
            });
        }
        Ok(())
    }

    /// Counts the approvals of `requester`'s request: every approver is re-checked with
    /// [`Self::may_approve`], a user counts once, and with `distinctGroups` each counted
    /// approval is attributed to a different approver group (a maximum matching).
    ///
    /// # Errors
    ///
    /// The first approver the policy refuses (the broker should drop that approval), or an
    /// unknown profile.
    pub fn approvals_satisfied(
        &self,
        profile: &str,
        requester: &str,
        approvers: &[Approver],
    ) -> Result<ApprovalProgress, Refusal> {
        let spec = self.spec_or_refuse(profile)?;
        let Some(approval) = &spec.approval else {
            return Err(Refusal::NotAnApprover {
                user: approvers
                    .first()
                    .map(|a| a.user.clone())
                    .unwrap_or_default(),
                profile: spec.name.clone(),
                approver_groups: Vec::new(),
            });
        };
        let mut by_user: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for approver in approvers {
            self.may_approve(profile, &approver.user, &approver.groups, requester)?;
            by_user
                .entry(approver.user.as_str())
                .or_default()
                .extend(intersect(&approver.groups, &approval.approver_groups));
        }
        let have = if approval.distinct_groups {
            let candidates: Vec<Vec<&str>> = by_user
                .into_values()
                .map(|groups| groups.into_iter().collect())
                .collect();
            max_matching(&candidates)
        } else {
            by_user.len()
        };
        Ok(ApprovalProgress {
            have: u32::try_from(have).unwrap_or(u32::MAX),
            need: approval.approvals.max(1),
        })
    }
}

/// The effective duration: as asked (within `MIN_DURATION..=max`) or `default`.
fn check_duration(
    asked: Option<Duration>,
    default: Duration,
    max: Duration,
    break_glass: bool,
) -> Result<Duration, Refusal> {
    match asked {
        None => Ok(default.min(max)),
        Some(requested) if requested > max => Err(Refusal::DurationAboveMax {
            requested,
            max,
            break_glass,
        }),
        Some(requested) if requested < MIN_DURATION => Err(Refusal::DurationTooShort { requested }),
        Some(requested) => Ok(requested),
    }
}

/// The grant's pod-name glob: the scope's only glob, or the pod asked for if the scope allows
/// it (a pod name matching one of the globs, or exactly one of the globs).
fn pod_glob(spec: &ProfileSpec, pod: Option<&str>) -> Result<Option<String>, Refusal> {
    let globs = &spec.scope.pod_names;
    let refuse = |pod: Option<&str>| Refusal::PodOutsideScope {
        pod: pod.map(str::to_owned),
        profile: spec.name.clone(),
        allowed: globs.clone(),
    };
    match pod {
        None => match globs.as_slice() {
            [] => Ok(None),
            [only] => Ok(Some(only.clone())),
            _ => Err(refuse(None)),
        },
        Some(pod) => {
            if !crate::lint::is_pod_glob(pod) {
                return Err(refuse(Some(pod)));
            }
            let is_glob = pod.contains(['*', '?']);
            let allowed = globs.is_empty()
                || globs
                    .iter()
                    .any(|g| g == pod || (!is_glob && glob_matches(g, pod)));
            if allowed {
                Ok(Some(pod.to_owned()))
            } else {
                Err(refuse(Some(pod)))
            }
        }
    }
}

/// Size of a maximum matching of users (each with the groups they may stand for) to distinct
/// groups (augmenting paths; the inputs are a handful of approvals).
fn max_matching(candidates: &[Vec<&str>]) -> usize {
    fn augment<'g>(
        user: usize,
        candidates: &[Vec<&'g str>],
        owner: &mut BTreeMap<&'g str, usize>,
        seen: &mut BTreeSet<&'g str>,
    ) -> bool {
        for &group in &candidates[user] {
            if !seen.insert(group) {
                continue;
            }
            let free = match owner.get(group) {
                None => true,
                Some(&other) => augment(other, candidates, owner, seen),
            };
            if free {
                owner.insert(group, user);
                return true;
            }
        }
        false
    }
    let mut owner = BTreeMap::new();
    (0..candidates.len())
        .filter(|&user| augment(user, candidates, &mut owner, &mut BTreeSet::new()))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_attributes_each_approval_to_a_different_group() {
        let cases: [(&str, Vec<Vec<&str>>, usize); 5] = [
            ("nobody", vec![], 0),
            ("two users one group", vec![vec!["a"], vec!["a"]], 1),
            ("two users two groups", vec![vec!["a"], vec!["b"]], 2),
            // The first user could take `a`, but must take `b` so the second gets `a`.
            ("needs re-routing", vec![vec!["a", "b"], vec!["a"]], 2),
            (
                "three users two groups",
                vec![vec!["a", "b"], vec!["a", "b"], vec!["a"]],
                2,
            ),
        ];
        for (name, candidates, expected) in cases {
            assert_eq!(max_matching(&candidates), expected, "{name}");
        }
    }
}
