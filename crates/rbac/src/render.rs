//! Builds the RBAC objects for profiles and the gateway, and writes them as multi-document YAML.

use std::collections::{BTreeMap, BTreeSet};

use jitgate_authz::{
    DISCOVERY_PATHS, Profile, Profiles, Rule, SELF_REVIEWS, STREAMING_SUBRESOURCES,
};

use crate::RenderError;
use crate::objects::{Object, ObjectMeta, PolicyRule, RoleRef, Subject};

/// Name of the gateway's ClusterRole and ClusterRoleBinding.
pub const GATEWAY_NAME: &str = "jitgate-gateway";
/// Name of the ClusterRole (and its RoleBindings) that lets the gateway read pods' labels.
pub const POD_READER_NAME: &str = "jitgate-gateway:pod-reader";
/// Label on every rendered object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Label naming the profile a Role or RoleBinding belongs to.
pub const PROFILE_LABEL: &str = "jitgate.dev/profile";
/// The primary verb of constrained impersonation's `user-info` mode: which users, groups and
/// extras the gateway may assert.
pub const IMPERSONATE_USER_INFO: &str = "impersonate:user-info";
/// Prefix of the secondary verbs of the `user-info` mode: `impersonate-on:user-info:<verb>` on
/// the resource (or non-resource URL) of the request, with the request's own verb.
pub const IMPERSONATE_ON_USER_INFO: &str = "impersonate-on:user-info:";
/// The verbs kube-apiserver derives from a request (the HTTP method, `list`/`watch` for
/// collections, the legacy `/watch/` and `/proxy/` prefixes): what `*` in a profile stands for
/// in an `impersonate-on` rule, where RBAC has no wildcard suffix.
pub const REQUEST_VERBS: [&str; 9] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "proxy",
];

const API_VERSION: &str = "rbac.authorization.k8s.io/v1";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";
const EXTRA_RESOURCES: [&str; 2] = [
    "userextras/jitgate.dev/grant",
    "userextras/jitgate.dev/session",
];
const HEADER: &str = "# Rendered by `jitgate rbac render`; edit the policy, not this file.\n\
                      # Apply with: kubectl apply -f -\n";

/// A profile and the namespaces it is rendered into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The profile's name.
    pub profile: String,
    /// Namespaces where its Role and RoleBinding are created.
    pub namespaces: Vec<String>,
}

/// The identity the gateway runs as, bound to its ClusterRole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewaySubject {
    /// A user (e.g. from a client certificate).
    User {
        /// The user name.
        name: String,
    },
    /// A service account (the usual in-cluster deployment).
    ServiceAccount {
        /// Its name.
        name: String,
        /// Its namespace.
        namespace: String,
    },
}

/// How kube-apiserver is to let the gateway impersonate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImpersonationMode {
    /// Constrained impersonation (KEP-5284; the `ConstrainedImpersonation` feature, beta and on
    /// by default since Kubernetes 1.36), `user-info` mode: the gateway may impersonate users
    /// only for the verbs and resources of the rendered profiles in their namespaces, plus API
    /// discovery and self-reviews. It holds no legacy `impersonate` verb.
    #[default]
    Constrained,
    /// The legacy `impersonate` verb, for clusters without `ConstrainedImpersonation`: the gateway
    /// may impersonate any user for any request.
    Legacy,
}

/// The reserved group the gateway asserts for a profile: `jitgate:<profile>`.
#[must_use]
pub fn reserved_group(profile: &str) -> String {
    format!("jitgate:{profile}")
}

/// Name of the ClusterRole (and its RoleBindings) with the gateway's `impersonate-on` rules for
/// a profile: `jitgate-gateway:impersonate-on:<profile>`.
#[must_use]
pub fn impersonate_on_name(profile: &str) -> String {
    format!("{GATEWAY_NAME}:impersonate-on:{profile}")
}

/// Renders the gateway's objects, then each target's Roles and RoleBindings (targets sorted by
/// profile, namespaces sorted and de-duplicated), then the gateway's RoleBindings in each
/// namespace (pod-reader, and in [`ImpersonationMode::Constrained`] the `impersonate-on`
/// ClusterRole of each profile rendered there).
///
/// # Errors
///
/// [`RenderError`] for an unknown or repeated profile, a target without namespaces, an invalid
/// namespace, or an invalid gateway subject.
pub fn render(
    profiles: &Profiles,
    targets: &[Target],
    gateway: &GatewaySubject,
    mode: ImpersonationMode,
) -> Result<Vec<Object>, RenderError> {
    let subject = gateway_subject(gateway)?;
    let mut resolved: BTreeMap<&str, (&Profile, BTreeSet<&str>)> = BTreeMap::new();
    for target in targets {
        let profile = profiles
            .get(&target.profile)
            .ok_or_else(|| RenderError::UnknownProfile(target.profile.clone()))?;
        if target.namespaces.is_empty() {
            return Err(RenderError::NoNamespace(target.profile.clone()));
        }
        let mut namespaces = BTreeSet::new();
        for namespace in &target.namespaces {
            if !is_dns1123_label(namespace) {
                return Err(RenderError::InvalidNamespace(namespace.clone()));
            }
            namespaces.insert(namespace.as_str());
        }
        if resolved
            .insert(&profile.name, (profile, namespaces))
            .is_some()
        {
            return Err(RenderError::DuplicateTarget(target.profile.clone()));
        }
    }

    let groups: Vec<String> = resolved
        .keys()
        .map(|p| reserved_group(p))
        .chain(std::iter::once("system:authenticated".to_owned()))
        .collect();
    let mut objects = vec![
        gateway_cluster_role(groups, mode),
        cluster_role_binding(GATEWAY_NAME, subject.clone()),
        pod_reader_cluster_role(),
    ];
    if mode == ImpersonationMode::Constrained {
        for (profile, _) in resolved.values() {
            objects.push(impersonate_on_cluster_role(profile));
        }
    }
    // Namespace -> the profiles rendered there.
    let mut by_namespace: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (profile, namespaces) in resolved.values() {
        for namespace in namespaces {
            objects.push(profile_role(profile, namespace));
            objects.push(profile_role_binding(&profile.name, namespace));
            by_namespace
                .entry(namespace)
                .or_default()
                .push(&profile.name);
        }
    }
    for (namespace, profiles) in by_namespace {
        objects.push(gateway_role_binding(
            POD_READER_NAME,
            namespace,
            None,
            subject.clone(),
        ));
        if mode == ImpersonationMode::Constrained {
            for profile in profiles {
                objects.push(gateway_role_binding(
                    &impersonate_on_name(profile),
                    namespace,
                    Some(profile),
                    subject.clone(),
                ));
            }
        }
    }
    Ok(objects)
}

/// [`render`], written as multi-document YAML for `kubectl apply -f -`.
///
/// # Errors
///
/// As [`render`].
pub fn render_yaml(
    profiles: &Profiles,
    targets: &[Target],
    gateway: &GatewaySubject,
    mode: ImpersonationMode,
) -> Result<String, RenderError> {
    to_yaml(&render(profiles, targets, gateway, mode)?)
}

/// Writes objects as multi-document YAML, with a header comment.
///
/// # Errors
///
/// [`RenderError::Yaml`] if serialisation fails.
pub fn to_yaml(objects: &[Object]) -> Result<String, RenderError> {
    let mut out = String::from(HEADER);
    for object in objects {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(object).map_err(RenderError::Yaml)?);
    }
    Ok(out)
}

/// The profile's rules as RBAC rules. Where a rule allows `create` (or `*`) on a streaming
/// subresource, that subresource gets its own rule with both `get` and `create`, so that adding
/// `get` never widens the rule's other resources.
fn policy_rules(rules: &[Rule]) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for rule in rules {
        let core = rule.api_groups.iter().any(|g| g.is_empty() || g == "*");
        let allows_create = rule.verbs.iter().any(|v| v == "create" || v == "*");
        let (streaming, other): (Vec<&String>, Vec<&String>) = rule
            .resources
            .iter()
            .partition(|r| core && allows_create && STREAMING_SUBRESOURCES.contains(&r.as_str()));
        if !other.is_empty() {
            out.push(policy_rule(&rule.api_groups, &other, rule.verbs.clone()));
        }
        if !streaming.is_empty() {
            let mut verbs = rule.verbs.clone();
            for needed in ["get", "create"] {
                if !verbs.iter().any(|v| v == needed || v == "*") {
                    verbs.push(needed.to_owned());
                }
            }
            out.push(policy_rule(&rule.api_groups, &streaming, verbs));
        }
    }
    out
}

/// The `impersonate-on:user-info:<verb>` rules that let the gateway impersonate a user for
/// exactly the requests the profile's Role allows: the same groups and resources (streaming
/// subresources with `get` and `create`, as in the Role), each verb prefixed, and `*` spelled
/// out as [`REQUEST_VERBS`] (RBAC matches a verb whole, so `impersonate-on:user-info:*` would
/// match nothing, and a bare `*` would grant every other verb too, e.g. `impersonate` on the
/// namespace's service accounts).
fn impersonate_on_rules(rules: &[Rule]) -> Vec<PolicyRule> {
    policy_rules(rules)
        .into_iter()
        .map(|mut rule| {
            let mut verbs: Vec<String> = Vec::new();
            for verb in &rule.verbs {
                let expanded: Vec<&str> = if verb == "*" {
                    REQUEST_VERBS.to_vec()
                } else {
                    vec![verb.as_str()]
                };
                for v in expanded {
                    let prefixed = impersonate_on(v);
                    if !verbs.contains(&prefixed) {
                        verbs.push(prefixed);
                    }
                }
            }
            rule.verbs = verbs;
            rule
        })
        .collect()
}

fn policy_rule(api_groups: &[String], resources: &[&String], verbs: Vec<String>) -> PolicyRule {
    PolicyRule {
        api_groups: api_groups.to_vec(),
        resources: resources.iter().map(|r| (*r).clone()).collect(),
        resource_names: Vec::new(),
        non_resource_urls: Vec::new(),
        verbs,
    }
}

fn rule(api_group: &str, resources: &[&str], names: Vec<String>, verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: vec![api_group.to_owned()],
        resources: resources.iter().map(|&r| r.to_owned()).collect(),
        resource_names: names,
        non_resource_urls: Vec::new(),
        verbs: verbs.iter().map(|&v| v.to_owned()).collect(),
    }
}

fn non_resource_rule(urls: &[&str], verbs: &[String]) -> PolicyRule {
    PolicyRule {
        api_groups: Vec::new(),
        resources: Vec::new(),
        resource_names: Vec::new(),
        non_resource_urls: urls.iter().map(|&u| u.to_owned()).collect(),
        verbs: verbs.to_vec(),
    }
}

fn impersonate_on(verb: &str) -> String {
    format!("{IMPERSONATE_ON_USER_INFO}{verb}")
}

fn meta(name: &str, namespace: Option<&str>, profile: Option<&str>) -> ObjectMeta {
    let mut labels = BTreeMap::from([(MANAGED_BY_LABEL.to_owned(), "jitgate".to_owned())]);
    if let Some(profile) = profile {
        labels.insert(PROFILE_LABEL.to_owned(), profile.to_owned());
    }
    ObjectMeta {
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
        labels,
        annotations: BTreeMap::new(),
    }
}

fn object(kind: &str, metadata: ObjectMeta) -> Object {
    Object {
        api_version: API_VERSION.to_owned(),
        kind: kind.to_owned(),
        metadata,
        rules: None,
        role_ref: None,
        subjects: None,
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: RBAC_GROUP.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
    }
}

fn profile_role(profile: &Profile, namespace: &str) -> Object {
    let name = reserved_group(&profile.name);
    let mut metadata = meta(&name, Some(namespace), Some(&profile.name));
    if !profile.description.is_empty() {
        metadata.annotations.insert(
            "jitgate.dev/description".to_owned(),
            profile.description.clone(),
        );
    }
    Object {
        rules: Some(policy_rules(&profile.rules)),
        ..object("Role", metadata)
    }
}

fn profile_role_binding(profile: &str, namespace: &str) -> Object {
    let name = reserved_group(profile);
    Object {
        role_ref: Some(role_ref("Role", &name)),
        subjects: Some(vec![Subject {
            kind: "Group".to_owned(),
            api_group: Some(RBAC_GROUP.to_owned()),
            name: name.clone(),
            namespace: None,
        }]),
        ..object("RoleBinding", meta(&name, Some(namespace), Some(profile)))
    }
}

fn gateway_cluster_role(groups: Vec<String>, mode: ImpersonationMode) -> Object {
    let review_subjects = rule(
        "authorization.k8s.io",
        &["subjectaccessreviews"],
        Vec::new(),
        &["create"],
    );
    // Its own reads: a namespace's labels, to check a profile's `scope.namespaceSelector` when
    // access is requested there (namespace objects hold names and labels, no secrets).
    let read_namespaces = rule("", &["namespaces"], Vec::new(), &["get"]);
    let mut rules = match mode {
        ImpersonationMode::Legacy => vec![
            rule("", &["users"], Vec::new(), &["impersonate"]),
            rule("", &["groups"], groups, &["impersonate"]),
            rule(
                AUTHENTICATION_GROUP,
                &EXTRA_RESOURCES,
                Vec::new(),
                &["impersonate"],
            ),
            review_subjects,
        ],
        ImpersonationMode::Constrained => {
            let mut rules = vec![
                // Primary checks: who may be asserted (all in authentication.k8s.io).
                rule(
                    AUTHENTICATION_GROUP,
                    &["users"],
                    Vec::new(),
                    &[IMPERSONATE_USER_INFO],
                ),
                rule(
                    AUTHENTICATION_GROUP,
                    &["groups"],
                    groups,
                    &[IMPERSONATE_USER_INFO],
                ),
                rule(
                    AUTHENTICATION_GROUP,
                    &EXTRA_RESOURCES,
                    Vec::new(),
                    &[IMPERSONATE_USER_INFO],
                ),
            ];
            // Secondary checks for what the gateway forwards without a grant: self-reviews
            // (cluster-scoped) and discovery (non-resource URLs); both only count through a
            // ClusterRoleBinding.
            let mut reviews: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (group, resource) in SELF_REVIEWS {
                reviews.entry(group).or_default().push(resource);
            }
            for (group, resources) in reviews {
                rules.push(rule(
                    group,
                    &resources,
                    Vec::new(),
                    &[&impersonate_on("create")],
                ));
            }
            rules.push(non_resource_rule(
                &DISCOVERY_PATHS,
                &[impersonate_on("get"), impersonate_on("head")],
            ));
            rules.push(review_subjects);
            rules
        }
    };
    rules.push(read_namespaces);
    Object {
        rules: Some(rules),
        ..object("ClusterRole", meta(GATEWAY_NAME, None, None))
    }
}

fn impersonate_on_cluster_role(profile: &Profile) -> Object {
    Object {
        rules: Some(impersonate_on_rules(&profile.rules)),
        ..object(
            "ClusterRole",
            meta(
                &impersonate_on_name(&profile.name),
                None,
                Some(&profile.name),
            ),
        )
    }
}

fn pod_reader_cluster_role() -> Object {
    Object {
        rules: Some(vec![rule("", &["pods"], Vec::new(), &["get"])]),
        ..object("ClusterRole", meta(POD_READER_NAME, None, None))
    }
}

fn cluster_role_binding(name: &str, subject: Subject) -> Object {
    Object {
        role_ref: Some(role_ref("ClusterRole", name)),
        subjects: Some(vec![subject]),
        ..object("ClusterRoleBinding", meta(name, None, None))
    }
}

/// A RoleBinding of the gateway to one of its ClusterRoles, in one namespace only.
fn gateway_role_binding(
    cluster_role: &str,
    namespace: &str,
    profile: Option<&str>,
    subject: Subject,
) -> Object {
    Object {
        role_ref: Some(role_ref("ClusterRole", cluster_role)),
        subjects: Some(vec![subject]),
        ..object("RoleBinding", meta(cluster_role, Some(namespace), profile))
    }
}

fn gateway_subject(gateway: &GatewaySubject) -> Result<Subject, RenderError> {
    match gateway {
        GatewaySubject::User { name } => {
            if name.is_empty() || name.chars().any(char::is_control) {
                return Err(RenderError::InvalidSubject(format!(
                    "user name {name:?} must be non-empty and printable"
                )));
            }
            Ok(Subject {
                kind: "User".to_owned(),
                api_group: Some(RBAC_GROUP.to_owned()),
                name: name.clone(),
                namespace: None,
            })
        }
        GatewaySubject::ServiceAccount { name, namespace } => {
            if !is_dns1123_subdomain(name) {
                return Err(RenderError::InvalidSubject(format!(
                    "service account name {name:?} is not a valid DNS subdomain"
                )));
            }
            if !is_dns1123_label(namespace) {
                return Err(RenderError::InvalidSubject(format!(
                    "service account namespace {namespace:?} is not a valid namespace name"
                )));
            }
            Ok(Subject {
                kind: "ServiceAccount".to_owned(),
                api_group: None,
                name: name.clone(),
                namespace: Some(namespace.clone()),
            })
        }
    }
}

fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_subresources_get_their_own_rule_with_get_and_create() {
        let rules = policy_rules(&[Rule::new(
            &[""],
            &["pods", "pods/exec", "pods/log"],
            &["create"],
        )]);
        assert_eq!(
            rules,
            vec![
                rule("", &["pods", "pods/log"], Vec::new(), &["create"]),
                rule("", &["pods/exec"], Vec::new(), &["create", "get"]),
            ]
        );
    }

    #[test]
    fn streaming_without_create_is_left_alone() {
        // The gateway never allows exec on `get` alone; rendering `create` would widen RBAC.
        let rules = policy_rules(&[Rule::new(&[""], &["pods/exec"], &["get"])]);
        assert_eq!(rules, vec![rule("", &["pods/exec"], Vec::new(), &["get"])]);
    }

    #[test]
    fn wildcard_verbs_stay_wildcard() {
        let rules = policy_rules(&[Rule::new(&["*"], &["pods/attach"], &["*"])]);
        assert_eq!(rules, vec![rule("*", &["pods/attach"], Vec::new(), &["*"])]);
    }

    #[test]
    fn impersonate_on_rules_mirror_the_profile_with_prefixed_verbs() {
        let rules = impersonate_on_rules(&[
            Rule::new(&["", "apps"], &["pods", "pods/exec"], &["get", "create"]),
            Rule::new(&["*"], &["*/scale"], &["*"]),
        ]);
        let on =
            |verbs: &[&str]| -> Vec<String> { verbs.iter().map(|v| impersonate_on(v)).collect() };
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].resources, ["pods"]);
        assert_eq!(rules[0].verbs, on(&["get", "create"]));
        assert_eq!(rules[0].api_groups, ["", "apps"]);
        assert_eq!(rules[1].resources, ["pods/exec"]);
        assert_eq!(rules[1].verbs, on(&["get", "create"]));
        assert_eq!(rules[2].resources, ["*/scale"]);
        assert_eq!(rules[2].verbs, on(&REQUEST_VERBS));
        assert!(
            rules
                .iter()
                .flat_map(|r| &r.verbs)
                .all(|v| v.starts_with(IMPERSONATE_ON_USER_INFO) && !v.ends_with('*'))
        );
    }

    #[test]
    fn impersonate_on_streaming_gets_get_and_create_like_the_role() {
        let rules = impersonate_on_rules(&[Rule::new(&[""], &["pods/attach"], &["create"])]);
        assert_eq!(rules.len(), 1);
        assert_eq!(
            rules[0].verbs,
            [impersonate_on("create"), impersonate_on("get")]
        );
    }

    #[test]
    fn streaming_names_outside_the_core_group_are_not_special() {
        let rules = policy_rules(&[Rule::new(&["example.com"], &["pods/exec"], &["create"])]);
        assert_eq!(
            rules,
            vec![rule("example.com", &["pods/exec"], Vec::new(), &["create"])]
        );
    }
}
