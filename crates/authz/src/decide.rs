//! The decision: a classified request against the caller's grants, with denial messages written
//! for the person reading them at 2 AM.

use std::collections::{BTreeMap, HashMap};

use jitgate_classify::RequestInfo;

use crate::grant::{Grant, GrantId, glob_matches};
use crate::profile::Profiles;
use crate::selector::LabelSelector;

/// Non-resource paths anyone authenticated may read: API discovery, the version and OpenAPI.
/// A trailing `*` matches any rest of the path. kubectl needs these before any other request,
/// and Kubernetes grants them to every authenticated user (`system:discovery`).
pub const DISCOVERY_PATHS: [&str; 8] = [
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/version",
    "/version/",
    "/openapi/*",
    "/openapi",
];

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward it, impersonating the user with the profile's reserved group. When several grants
    /// allow the request, the one that expires last is chosen, so a session lives as long as
    /// possible.
    Allow {
        /// The grant that allows it.
        grant: GrantId,
        /// Its profile.
        profile: String,
    },
    /// Forward a read-only discovery request (see [`DISCOVERY_PATHS`]) or a review of oneself
    /// (see [`SELF_REVIEWS`]); no grant is involved, and Kubernetes' own roles decide upstream.
    AllowDiscovery,
    /// Refuse it; `reason` is for the person who sent it.
    Deny {
        /// What happened, why, and what to do.
        reason: String,
    },
    /// A grant would allow this request if the pod's labels match its selector: fetch the pod's
    /// labels and decide again with them. If the pod does not exist, deny.
    NeedPodLabels {
        /// The pod name.
        pod: String,
        /// Its namespace.
        namespace: String,
    },
}

impl Decision {
    /// Whether the request may go ahead.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow { .. } | Self::AllowDiscovery)
    }
}

/// Active grants indexed by user, so that a decision looks only at the caller's grants.
#[derive(Debug, Clone, Default)]
pub struct GrantIndex {
    by_user: HashMap<String, Vec<Grant>>,
    len: usize,
}

impl GrantIndex {
    /// Indexes grants by user. Grants are not validated here (see [`Grant::validate`]); a
    /// malformed grant simply matches nothing it should not.
    #[must_use]
    pub fn new(grants: Vec<Grant>) -> Self {
        let len = grants.len();
        let mut by_user: HashMap<String, Vec<Grant>> = HashMap::new();
        for grant in grants {
            by_user.entry(grant.user.clone()).or_default().push(grant);
        }
        Self { by_user, len }
    }

    /// The grants of one user.
    #[must_use]
    pub fn grants_for(&self, user: &str) -> &[Grant] {
        self.by_user.get(user).map_or(&[], Vec::as_slice)
    }

    /// How many grants are indexed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no grant is indexed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// [`authorize`] against the indexed grants.
    #[must_use]
    pub fn authorize(
        &self,
        req: &RequestInfo,
        user: &str,
        profiles: &Profiles,
        now: i64,
        pod_labels: Option<&BTreeMap<String, String>>,
    ) -> Decision {
        decide(
            req,
            user,
            self.grants_for(user).iter(),
            profiles,
            now,
            pod_labels,
        )
    }
}

/// Decides `req` by `user` against `grants` (anyone's; only the user's are considered) at `now`
/// (Unix seconds). Default deny.
///
/// - Non-resource requests: only `get`/`head` of [`DISCOVERY_PATHS`], for anyone.
/// - Resource requests need a namespace (cluster-scoped and all-namespace requests are denied),
///   and an unexpired grant of the user for that namespace whose profile allows the request.
///   Streaming subresources (exec, attach, port-forward) need `create` whatever the method;
///   proxy requests need `create` besides their own verb (a `GET` may become a WebSocket).
/// - A grant's pod-name glob and label selector narrow `pods` and `pods/*`: a named request must
///   match (labels are asked for with [`Decision::NeedPodLabels`]); a list or watch must name a
///   matching pod (glob) or carry a label selector at least as narrow as the grant's; any other
///   request without a pod name is denied.
///
/// `pod_labels` are the labels of the pod named in the request, once fetched.
#[must_use]
pub fn authorize(
    req: &RequestInfo,
    user: &str,
    grants: &[Grant],
    profiles: &Profiles,
    now: i64,
    pod_labels: Option<&BTreeMap<String, String>>,
) -> Decision {
    decide(
        req,
        user,
        grants.iter().filter(|g| g.user == user),
        profiles,
        now,
        pod_labels,
    )
}

/// How one grant relates to the request, best first.
#[derive(Debug)]
enum Fit<'g> {
    Allows,
    NeedsLabels,
    /// The grant's pod scope excludes the request.
    OutOfScope(String),
    /// Right namespace, but the profile does not cover the action.
    ActionNotInProfile(&'g Grant),
    UnknownProfile(&'g Grant),
    OtherNamespace,
}

fn decide<'g>(
    req: &RequestInfo,
    user: &str,
    grants: impl Iterator<Item = &'g Grant>,
    profiles: &Profiles,
    now: i64,
    pod_labels: Option<&BTreeMap<String, String>>,
) -> Decision {
    if !req.is_resource_request {
        return decide_non_resource(req);
    }
    if req.verb.is_empty() {
        return deny(format!(
            "the HTTP method of this request has no Kubernetes verb on {}; jitgate refuses it",
            req.combined_resource()
        ));
    }
    if is_self_review(req) {
        return Decision::AllowDiscovery;
    }
    if req.namespace.is_empty() {
        let action = describe_action(req);
        return deny(format!(
            "jitgate grants access per namespace, and this request has none: {user} may not \
             {action} cluster-wide or across all namespaces; add -n <namespace>"
        ));
    }
    let verbs = required_verbs(req);

    let mut allowed: Option<&Grant> = None;
    let mut needs_labels = false;
    let mut expired: Option<&Grant> = None;
    let mut best_denial: Option<Fit<'g>> = None;
    let mut namespaces_seen: Vec<&str> = Vec::new();
    for grant in grants {
        let fit = fit(grant, req, &verbs, profiles, pod_labels);
        if grant.is_expired(now) {
            if matches!(fit, Fit::Allows | Fit::NeedsLabels)
                && expired.is_none_or(|e| grant.expires_at > e.expires_at)
            {
                expired = Some(grant);
            }
            continue;
        }
        match fit {
            Fit::Allows => {
                if allowed.is_none_or(|a| grant.expires_at > a.expires_at) {
                    allowed = Some(grant);
                }
            }
            Fit::NeedsLabels => needs_labels = true,
            Fit::OtherNamespace => {
                namespaces_seen.extend(grant.namespaces.iter().map(String::as_str));
                if best_denial.is_none() {
                    best_denial = Some(Fit::OtherNamespace);
                }
            }
            other => {
                if best_denial.as_ref().is_none_or(|b| rank(&other) < rank(b)) {
                    best_denial = Some(other);
                }
            }
        }
    }

    if let Some(grant) = allowed {
        return Decision::Allow {
            grant: grant.id.clone(),
            profile: grant.profile.clone(),
        };
    }
    if needs_labels {
        return Decision::NeedPodLabels {
            pod: req.name.clone(),
            namespace: req.namespace.clone(),
        };
    }
    let ns = &req.namespace;
    let action = describe_action(req);
    let suggestion = suggest(req, &verbs, profiles);
    if let Some(grant) = expired {
        return deny(format!(
            "access expired at {} (grant {}); run kubectl jit request {} -n {ns} --reason \"...\" \
             to continue",
            rfc3339(grant.expires_at),
            grant.id,
            grant.profile,
        ));
    }
    match best_denial {
        Some(Fit::OutOfScope(reason)) => deny(reason),
        Some(Fit::ActionNotInProfile(grant)) => deny(format!(
            "your grant {} (profile {}) in namespace {ns:?} does not let you {action}; {}",
            grant.id,
            grant.profile,
            match &suggestion {
                Some(p) => format!(
                    "request a profile that does: kubectl jit request {p} -n {ns} --reason \"...\""
                ),
                None =>
                    "no jitgate profile allows it; ask your platform team if you need it".to_owned(),
            }
        )),
        Some(Fit::UnknownProfile(grant)) => deny(format!(
            "grant {} refers to profile {:?}, which the policy no longer defines; {}",
            grant.id,
            grant.profile,
            request_hint(suggestion.as_deref(), ns)
        )),
        Some(Fit::OtherNamespace) => {
            namespaces_seen.sort_unstable();
            namespaces_seen.dedup();
            let covered: Vec<String> = namespaces_seen.iter().map(|n| format!("{n:?}")).collect();
            deny(format!(
                "no active grant lets {user} {action} in namespace {ns:?} (your grants cover {}); \
                 {}",
                covered.join(", "),
                request_hint(suggestion.as_deref(), ns)
            ))
        }
        Some(Fit::Allows | Fit::NeedsLabels) | None => deny(format!(
            "no active grant lets {user} {action} in namespace {ns:?}; {}",
            request_hint(suggestion.as_deref(), ns)
        )),
    }
}

fn rank(fit: &Fit<'_>) -> u8 {
    match fit {
        Fit::Allows => 0,
        Fit::NeedsLabels => 1,
        Fit::OutOfScope(_) => 2,
        Fit::ActionNotInProfile(_) => 3,
        Fit::UnknownProfile(_) => 4,
        Fit::OtherNamespace => 5,
    }
}

fn deny(reason: String) -> Decision {
    Decision::Deny { reason }
}

fn request_hint(profile: Option<&str>, ns: &str) -> String {
    match profile {
        Some(p) => format!("request one with: kubectl jit request {p} -n {ns} --reason \"...\""),
        None => "no jitgate profile allows it; ask your platform team if you need it".to_owned(),
    }
}

/// The first profile, by name, that allows the action (ignoring pod scope).
fn suggest(req: &RequestInfo, verbs: &[&str], profiles: &Profiles) -> Option<String> {
    profiles
        .iter()
        .find(|p| p.allows(req, verbs))
        .map(|p| p.name.clone())
}

/// The verbs a profile must grant. Streams need `create` whatever the method, because a WebSocket
/// `GET` execs as surely as a SPDY `POST` (and kube-apiserver ≥ 1.35 checks `create` too).
fn required_verbs(req: &RequestInfo) -> Vec<&str> {
    if req.is_streaming() {
        vec!["create"]
    } else if req.is_proxy() && req.verb != "create" {
        vec![req.verb.as_str(), "create"]
    } else {
        vec![req.verb.as_str()]
    }
}

fn fit<'g>(
    grant: &'g Grant,
    req: &RequestInfo,
    verbs: &[&str],
    profiles: &Profiles,
    pod_labels: Option<&BTreeMap<String, String>>,
) -> Fit<'g> {
    if !grant.covers_namespace(&req.namespace) {
        return Fit::OtherNamespace;
    }
    let Some(profile) = profiles.get(&grant.profile) else {
        return Fit::UnknownProfile(grant);
    };
    if !profile.allows(req, verbs) {
        return Fit::ActionNotInProfile(grant);
    }
    if req.api_group.is_empty() && req.resource == "pods" {
        return pod_scope(grant, req, pod_labels);
    }
    Fit::Allows
}

/// The grant's pod-name glob and label selector, for `pods` and `pods/*`.
fn pod_scope<'g>(
    grant: &Grant,
    req: &RequestInfo,
    pod_labels: Option<&BTreeMap<String, String>>,
) -> Fit<'g> {
    let ns = &req.namespace;
    let id = &grant.id;
    if let Some(glob) = &grant.pod_name_glob {
        if req.name.is_empty() {
            return Fit::OutOfScope(format!(
                "grant {id} covers only pods named {glob:?} in namespace {ns:?}, so {} needs a pod \
                 name: use kubectl get pod <name>, or --field-selector metadata.name=<name>",
                describe_action(req)
            ));
        }
        if !glob_matches(glob, &req.name) {
            return Fit::OutOfScope(format!(
                "grant {id} covers only pods named {glob:?} in namespace {ns:?}, not {:?}; \
                 request one for this pod with: kubectl jit request {} -n {ns} --reason \"...\"",
                req.name, grant.profile
            ));
        }
    }
    let Some(selector) = &grant.pod_label_selector else {
        return Fit::Allows;
    };
    if selector.is_empty() {
        return Fit::Allows;
    }
    if req.name.is_empty() {
        let narrow_enough = matches!(req.verb.as_str(), "list" | "watch")
            && LabelSelector::parse(&req.label_selector).is_ok_and(|s| s.is_within(selector));
        return if narrow_enough {
            Fit::Allows
        } else {
            Fit::OutOfScope(format!(
                "grant {id} covers only pods matching {:?} in namespace {ns:?}; to {}, add \
                 -l '{selector}' (or name one pod)",
                selector.to_string(),
                describe_action(req)
            ))
        };
    }
    match pod_labels {
        None => Fit::NeedsLabels,
        Some(labels) if selector.matches(labels) => Fit::Allows,
        Some(_) => Fit::OutOfScope(format!(
            "pod {:?} in namespace {ns:?} does not match the label selector {:?} of grant {id}",
            req.name,
            selector.to_string()
        )),
    }
}

fn decide_non_resource(req: &RequestInfo) -> Decision {
    let read_only = matches!(req.verb.as_str(), "get" | "head");
    if read_only && is_discovery_path(&req.path) {
        return Decision::AllowDiscovery;
    }
    deny(format!(
        "jitgate allows only read-only API discovery outside namespaced resources; {} {} is not \
         allowed",
        req.verb.to_uppercase(),
        req.path
    ))
}

/// Reviews that only tell callers about themselves: who they are (`kubectl auth whoami`) and
/// what they may do (`kubectl auth can-i`). Kubernetes lets every authenticated user create
/// them, and the answer describes the impersonated human, so no grant is needed.
pub const SELF_REVIEWS: [(&str, &str); 3] = [
    ("authentication.k8s.io", "selfsubjectreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
];

/// Whether the request creates one of [`SELF_REVIEWS`].
#[must_use]
pub fn is_self_review(req: &RequestInfo) -> bool {
    req.verb == "create"
        && req.subresource.is_empty()
        && SELF_REVIEWS
            .iter()
            .any(|(g, r)| req.api_group == *g && req.resource == *r)
}

/// Whether `path` is one of [`DISCOVERY_PATHS`] (a trailing `*` matching any rest).
#[must_use]
pub fn is_discovery_path(path: &str) -> bool {
    DISCOVERY_PATHS
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == *pattern,
        })
}

/// What the request does, in words a person would use: "exec into pods", "list deployments.apps".
#[must_use]
pub fn describe_action(req: &RequestInfo) -> String {
    let core = req.api_group.is_empty();
    if core && req.resource == "pods" {
        let phrase = match (req.subresource.as_str(), req.verb.as_str()) {
            ("exec", _) => Some("exec into pods"),
            ("attach", _) => Some("attach to pods"),
            ("portforward", _) => Some("port-forward to pods"),
            ("log", _) => Some("read logs of pods"),
            ("ephemeralcontainers", "patch" | "update") => Some("add debug containers to pods"),
            _ => None,
        };
        if let Some(phrase) = phrase {
            return phrase.to_owned();
        }
    }
    let mut resource = req.combined_resource();
    if !core {
        resource = format!("{}.{}", req.resource, req.api_group);
        if !req.subresource.is_empty() {
            resource = format!("{resource}/{}", req.subresource);
        }
    }
    if req.is_proxy() {
        return format!("proxy to {}", resource.trim_end_matches("/proxy"));
    }
    format!("{} {resource}", req.verb)
}

/// Unix seconds as RFC 3339 UTC, e.g. `2026-05-01T03:17:02Z`.
#[must_use]
pub fn rfc3339(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{unix_seconds} (Unix seconds)"))
}
