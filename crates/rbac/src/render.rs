//! Builds the RBAC objects for profiles and the gateway, and writes them as multi-document YAML.

use std::collections::{BTreeMap, BTreeSet};

use jitgate_authz::{Profile, Profiles, Rule, STREAMING_SUBRESOURCES};

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

const API_VERSION: &str = "rbac.authorization.k8s.io/v1";
const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
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

/// The reserved group the gateway asserts for a profile: `jitgate:<profile>`.
#[must_use]
pub fn reserved_group(profile: &str) -> String {
    format!("jitgate:{profile}")
}

/// Renders the gateway's objects, then each target's Roles and RoleBindings (targets sorted by
/// profile, namespaces sorted and de-duplicated), then the pod-reader RoleBindings.
///
/// # Errors
///
/// [`RenderError`] for an unknown or repeated profile, a target without namespaces, an invalid
/// namespace, or an invalid gateway subject.
pub fn render(
    profiles: &Profiles,
    targets: &[Target],
    gateway: &GatewaySubject,
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
        gateway_cluster_role(groups),
        cluster_role_binding(GATEWAY_NAME, subject.clone()),
        pod_reader_cluster_role(),
    ];
    let mut all_namespaces = BTreeSet::new();
    for (profile, namespaces) in resolved.values() {
        for namespace in namespaces {
            objects.push(profile_role(profile, namespace));
            objects.push(profile_role_binding(&profile.name, namespace));
            all_namespaces.insert(*namespace);
        }
    }
    for namespace in all_namespaces {
        objects.push(pod_reader_role_binding(namespace, subject.clone()));
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
) -> Result<String, RenderError> {
    to_yaml(&render(profiles, targets, gateway)?)
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

fn policy_rule(api_groups: &[String], resources: &[&String], verbs: Vec<String>) -> PolicyRule {
    PolicyRule {
        api_groups: api_groups.to_vec(),
        resources: resources.iter().map(|r| (*r).clone()).collect(),
        resource_names: Vec::new(),
        verbs,
    }
}

fn rule(api_group: &str, resources: &[&str], names: Vec<String>, verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: vec![api_group.to_owned()],
        resources: resources.iter().map(|&r| r.to_owned()).collect(),
        resource_names: names,
        verbs: verbs.iter().map(|&v| v.to_owned()).collect(),
    }
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

fn gateway_cluster_role(groups: Vec<String>) -> Object {
    Object {
        rules: Some(vec![
            rule("", &["users"], Vec::new(), &["impersonate"]),
            rule("", &["groups"], groups, &["impersonate"]),
            rule(
                "authentication.k8s.io",
                &[
                    "userextras/jitgate.dev/grant",
                    "userextras/jitgate.dev/session",
                ],
                Vec::new(),
                &["impersonate"],
            ),
            rule(
                "authorization.k8s.io",
                &["subjectaccessreviews"],
                Vec::new(),
                &["create"],
            ),
        ]),
        ..object("ClusterRole", meta(GATEWAY_NAME, None, None))
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

fn pod_reader_role_binding(namespace: &str, subject: Subject) -> Object {
    Object {
        role_ref: Some(role_ref("ClusterRole", POD_READER_NAME)),
        subjects: Some(vec![subject]),
        ..object("RoleBinding", meta(POD_READER_NAME, Some(namespace), None))
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
    fn streaming_names_outside_the_core_group_are_not_special() {
        let rules = policy_rules(&[Rule::new(&["example.com"], &["pods/exec"], &["create"])]);
        assert_eq!(
            rules,
            vec![rule("example.com", &["pods/exec"], Vec::new(), &["create"])]
        );
    }
}
