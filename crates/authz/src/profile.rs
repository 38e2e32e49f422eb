//! Profiles: named sets of RBAC-style rules that a grant hands out, and the built-in
//! `oncall-debug` profile.

use std::collections::BTreeMap;

use jitgate_classify::RequestInfo;

use crate::selector::is_dns1123_label;

/// The name of the built-in debugging profile.
pub const ONCALL_DEBUG: &str = "oncall-debug";

/// Subresources that are bidirectional streams. The gateway allows them only where a rule grants
/// `create` (whatever the HTTP method), and rendered RBAC grants both `get` and `create`.
pub const STREAMING_SUBRESOURCES: [&str; 3] = ["pods/exec", "pods/attach", "pods/portforward"];

/// One rule of a profile, with Kubernetes RBAC `PolicyRule` semantics (without `resourceNames`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// API groups; `""` is the core group, `"*"` any group.
    pub api_groups: Vec<String>,
    /// Resources: `"pods"`, `"pods/exec"`, `"*/scale"`, or `"*"` for every resource and
    /// subresource.
    pub resources: Vec<String>,
    /// Verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`);
    /// `"*"` for all.
    pub verbs: Vec<String>,
}

impl Rule {
    /// A rule from string slices.
    #[must_use]
    pub fn new(api_groups: &[&str], resources: &[&str], verbs: &[&str]) -> Self {
        let owned = |items: &[&str]| items.iter().map(|&s| s.to_owned()).collect();
        Self {
            api_groups: owned(api_groups),
            resources: owned(resources),
            verbs: owned(verbs),
        }
    }

    /// Whether the rule covers this group, resource and subresource, like RBAC's
    /// `APIGroupMatches` and `ResourceMatches`.
    #[must_use]
    pub fn covers_resource(&self, api_group: &str, resource: &str, subresource: &str) -> bool {
        let group_ok = self.api_groups.iter().any(|g| g == "*" || g == api_group);
        group_ok
            && self.resources.iter().any(|r| {
                if r == "*" {
                    return true;
                }
                if subresource.is_empty() {
                    return r == resource;
                }
                match r.split_once('/') {
                    Some((res, sub)) => sub == subresource && (res == resource || res == "*"),
                    None => false,
                }
            })
    }

    /// Whether the rule grants `verb`.
    #[must_use]
    pub fn covers_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == "*" || v == verb)
    }
}

/// A named set of rules that a grant refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The name; also the suffix of the reserved group `jitgate:<name>` and of the rendered Role.
    pub name: String,
    /// One line for people choosing a profile.
    pub description: String,
    /// What the profile allows.
    pub rules: Vec<Rule>,
}

impl Profile {
    /// The built-in `oncall-debug` profile: read pods, events, deployments and replica sets; read
    /// logs; exec, attach and port-forward; add ephemeral debug containers.
    #[must_use]
    pub fn oncall_debug() -> Self {
        Self {
            name: ONCALL_DEBUG.to_owned(),
            description: "Debug running workloads: read pods, events, deployments and replica \
                          sets, read logs, exec, attach, port-forward, add debug containers"
                .to_owned(),
            rules: vec![
                Rule::new(&[""], &["pods", "events"], &["get", "list", "watch"]),
                Rule::new(&[""], &["pods/log"], &["get"]),
                Rule::new(&[""], &STREAMING_SUBRESOURCES, &["get", "create"]),
                Rule::new(
                    &["apps"],
                    &["deployments", "replicasets"],
                    &["get", "list", "watch"],
                ),
                Rule::new(
                    &[""],
                    &["pods/ephemeralcontainers"],
                    &["get", "patch", "update"],
                ),
            ],
        }
    }

    /// Whether some rule allows every one of `verbs` on the request's resource (each verb may come
    /// from a different rule, as in RBAC).
    #[must_use]
    pub fn allows(&self, req: &RequestInfo, verbs: &[&str]) -> bool {
        verbs.iter().all(|verb| {
            self.rules.iter().any(|rule| {
                rule.covers_verb(verb)
                    && rule.covers_resource(&req.api_group, &req.resource, &req.subresource)
            })
        })
    }
}

/// Why a set of profiles was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// Two profiles share a name.
    #[error("profile {0:?} is defined twice")]
    Duplicate(String),
    /// The name cannot be used in a Kubernetes group, Role name and label.
    #[error(
        "profile name {0:?} is invalid: use up to 63 lowercase letters, digits and '-', \
         starting and ending with a letter or digit"
    )]
    InvalidName(String),
    /// A rule has an empty list.
    #[error("profile {profile:?}, rule {rule}: {field} must not be empty")]
    EmptyRuleField {
        /// The profile.
        profile: String,
        /// Index of the rule, from 0.
        rule: usize,
        /// `apiGroups`, `resources` or `verbs`.
        field: &'static str,
    },
}

/// The profiles the policy defines, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profiles(BTreeMap<String, Profile>);

impl Profiles {
    /// Checks and indexes profiles.
    ///
    /// # Errors
    ///
    /// [`ProfileError`] for a duplicate or invalid name, or a rule with an empty list.
    pub fn new(profiles: Vec<Profile>) -> Result<Self, ProfileError> {
        let mut map = BTreeMap::new();
        for profile in profiles {
            if !is_dns1123_label(&profile.name) {
                return Err(ProfileError::InvalidName(profile.name));
            }
            for (i, rule) in profile.rules.iter().enumerate() {
                for (field, list) in [
                    ("apiGroups", &rule.api_groups),
                    ("resources", &rule.resources),
                    ("verbs", &rule.verbs),
                ] {
                    if list.is_empty() {
                        return Err(ProfileError::EmptyRuleField {
                            profile: profile.name.clone(),
                            rule: i,
                            field,
                        });
                    }
                }
            }
            if map.contains_key(&profile.name) {
                return Err(ProfileError::Duplicate(profile.name));
            }
            map.insert(profile.name.clone(), profile);
        }
        Ok(Self(map))
    }

    /// The built-in profiles: `oncall-debug`.
    #[must_use]
    pub fn builtin() -> Self {
        let profile = Profile::oncall_debug();
        Self(BTreeMap::from([(profile.name.clone(), profile)]))
    }

    /// The profile with this name.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.0.get(name)
    }

    /// All profiles, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Profile> {
        self.0.values()
    }

    /// How many profiles there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Profiles {
    type Item = &'a Profile;
    type IntoIter = std::collections::btree_map::Values<'a, String, Profile>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_matching_follows_rbac() {
        let rule = Rule::new(&[""], &["pods", "*/scale", "pods/exec"], &["get"]);
        assert!(rule.covers_resource("", "pods", ""));
        assert!(!rule.covers_resource("", "pods", "log"));
        assert!(rule.covers_resource("", "pods", "exec"));
        assert!(rule.covers_resource("", "deployments", "scale"));
        assert!(!rule.covers_resource("", "deployments", ""));
        assert!(!rule.covers_resource("apps", "pods", ""));
        let all = Rule::new(&["*"], &["*"], &["*"]);
        assert!(all.covers_resource("apps", "deployments", "scale"));
        assert!(all.covers_verb("delete"));
        // "pods" does not cover subresources, and "pods/*" is not RBAC syntax.
        let wildcard_sub = Rule::new(&[""], &["pods/*"], &["get"]);
        assert!(!wildcard_sub.covers_resource("", "pods", "log"));
    }

    #[test]
    fn profiles_are_checked() {
        let named = |name: &str| Profile {
            name: name.into(),
            description: String::new(),
            rules: vec![],
        };
        assert_eq!(
            Profiles::new(vec![named("a"), named("a")]),
            Err(ProfileError::Duplicate("a".into()))
        );
        for bad in ["", "A", "a b", "jitgate:x", "-a", &"a".repeat(64)] {
            assert_eq!(
                Profiles::new(vec![named(bad)]),
                Err(ProfileError::InvalidName(bad.into()))
            );
        }
        let empty_verbs = Profile {
            rules: vec![Rule::new(&[""], &["pods"], &[])],
            ..named("p")
        };
        assert!(matches!(
            Profiles::new(vec![empty_verbs]),
            Err(ProfileError::EmptyRuleField { field: "verbs", .. })
        ));
        assert_eq!(Profiles::builtin().len(), 1);
        assert!(Profiles::builtin().get(ONCALL_DEBUG).is_some());
    }
}
