//! The Kubernetes RBAC objects the renderer produces, serialised in `kubectl`'s field order.

use std::collections::BTreeMap;

use serde::Serialize;

/// A `Role`, `RoleBinding`, `ClusterRole` or `ClusterRoleBinding` (`rbac.authorization.k8s.io/v1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    /// Always `rbac.authorization.k8s.io/v1`.
    pub api_version: String,
    /// `Role`, `RoleBinding`, `ClusterRole` or `ClusterRoleBinding`.
    pub kind: String,
    /// Name, namespace, labels, annotations.
    pub metadata: ObjectMeta,
    /// Rules of a (Cluster)Role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<PolicyRule>>,
    /// The role a binding refers to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_ref: Option<RoleRef>,
    /// Who a binding binds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subjects: Option<Vec<Subject>>,
}

/// `metadata` of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectMeta {
    /// Object name.
    pub name: String,
    /// Namespace, for Roles and RoleBindings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One RBAC rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    /// API groups (`""` is core); empty in a rule for non-resource URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_groups: Vec<String>,
    /// Resources and `resource/subresource`; empty in a rule for non-resource URLs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Object names the rule is limited to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_names: Vec<String>,
    /// Non-resource paths (`/version`, `/apis/*`); only in ClusterRoles, and only effective
    /// through a ClusterRoleBinding.
    #[serde(rename = "nonResourceURLs", skip_serializing_if = "Vec::is_empty")]
    pub non_resource_urls: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
}

/// `roleRef` of a binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    /// Always `rbac.authorization.k8s.io`.
    pub api_group: String,
    /// `Role` or `ClusterRole`.
    pub kind: String,
    /// The role's name.
    pub name: String,
}

/// A subject of a binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// `Group`, `User` or `ServiceAccount`.
    pub kind: String,
    /// `rbac.authorization.k8s.io` for groups and users; absent for service accounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The name.
    pub name: String,
    /// The service account's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}
