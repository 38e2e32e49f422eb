//! The checked policy: parsing with diagnostics, the embedded default, and what the gateway and
//! `jitgate rbac render` consume (authz profiles, RBAC targets, standing access).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use jitgate_authz::{LabelSelector, Profile, Profiles, Rule, glob_matches};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::PolicyError;
use crate::diagnostic::{Code, Diagnostic, has_errors};
use crate::duration::parse_duration;
use crate::lint::{Linter, edit_distance, lint_document};
use crate::model::{
    NotificationSpec, PolicyDocument, ProfileSpec, ScheduleSpec, ScopeSpec, StandingSpec,
};
use crate::ports::PortAllowlist;
use crate::yaml::{self, join_index, join_key};

/// The shipped default policy, `examples/policy.yaml`.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../../examples/policy.yaml");

/// A policy that passed the lint (it may have warnings), ready to evaluate requests.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) document: PolicyDocument,
    pub(crate) profiles: Profiles,
    pub(crate) compiled: BTreeMap<String, CompiledProfile>,
    warnings: Vec<Diagnostic>,
}

/// The parts of a profile that are parsed once.
#[derive(Debug, Clone)]
pub(crate) struct CompiledProfile {
    pub index: usize,
    pub default_duration: Option<Duration>,
    pub max_duration: Option<Duration>,
    pub break_glass_max: Option<Duration>,
    pub namespace_selector: Option<LabelSelector>,
    pub pod_selector: Option<LabelSelector>,
    pub port_forward: Option<PortAllowlist>,
    /// What `kubectl debug` may add under the profile; `None` without a `debug` block.
    pub debug: Option<jitgate_guard::DebugRules>,
    /// Which commands `kubectl exec` may run; `None` without an `exec` block.
    pub exec: Option<jitgate_guard::ExecRules>,
}

/// The result of linting a policy text: every finding, and the policy if there was no error.
#[derive(Debug)]
pub struct Lint {
    /// The policy, when no finding is an error.
    pub policy: Option<Policy>,
    /// All findings, sorted by line.
    pub diagnostics: Vec<Diagnostic>,
}

/// Standing access a user holds through a group: a profile in some namespaces, with no request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingAccess {
    /// The profile.
    pub profile: String,
    /// The namespaces, sorted.
    pub namespaces: Vec<String>,
    /// The user's groups that confer it, sorted.
    pub via_groups: Vec<String>,
}

/// Whether `namespace` is in the scope's `namespaces` (exact names or globs). The label selector
/// is not checked here.
pub(crate) fn namespace_in_scope(scope: &ScopeSpec, namespace: &str) -> bool {
    scope
        .namespaces
        .iter()
        .any(|pattern| pattern == namespace || glob_matches(pattern, namespace))
}

const ARRAY_SECTIONS: [&str; 4] = ["profiles", "standing", "schedules", "notifications"];

impl Policy {
    /// Lints a policy text (YAML or JSON): syntax, types, and every semantic check, each finding
    /// with its path, line and column.
    #[must_use]
    pub fn lint(text: &str) -> Lint {
        let loaded = match yaml::load(text) {
            Ok(loaded) => loaded,
            Err(diagnostics) => {
                return Lint {
                    policy: None,
                    diagnostics,
                };
            }
        };
        let mut linter = Linter::new(&loaded.map);
        linter.out.extend(loaded.diagnostics.iter().cloned());
        let document = typed_policy(&loaded.value, &mut linter);
        if let Some(document) = &document {
            lint_document(document, &mut linter);
        }
        let mut diagnostics = linter.out;
        sort(&mut diagnostics);
        let policy = match document {
            Some(document) if !has_errors(&diagnostics) => {
                match Self::compile(document, diagnostics.clone()) {
                    Ok(policy) => Some(policy),
                    Err(message) => {
                        let mut linter = Linter::new(&loaded.map);
                        linter.error(Code::ProfileRejected, "profiles", message);
                        diagnostics.extend(linter.out);
                        None
                    }
                }
            }
            _ => None,
        };
        Lint {
            policy,
            diagnostics,
        }
    }

    /// Parses and checks a policy text.
    ///
    /// # Errors
    ///
    /// Every finding (errors and warnings, sorted by line) when any is an error.
    pub fn parse(text: &str) -> Result<Self, Vec<Diagnostic>> {
        let lint = Self::lint(text);
        lint.policy.ok_or(lint.diagnostics)
    }

    /// Reads and checks a policy file.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Read`] if the file cannot be read (or is larger than the limit),
    /// [`PolicyError::Invalid`] with the findings if it does not pass the lint.
    pub fn load_file(path: &Path) -> Result<Self, PolicyError> {
        let text = crate::read_limited(path)?;
        Self::parse(&text).map_err(|diagnostics| PolicyError::Invalid {
            path: path.to_path_buf(),
            diagnostics,
        })
    }

    /// The shipped default policy (`examples/policy.yaml`, compiled in).
    ///
    /// # Panics
    ///
    /// Never in a tested build: the unit test `embedded_default_policy_is_clean` proves the
    /// compiled-in text parses.
    #[must_use]
    pub fn embedded_default() -> Self {
        match Self::parse(EMBEDDED_DEFAULT) {
            Ok(policy) => policy,
            // The text is compiled in and `embedded_default_policy_is_clean` proves it parses;
            // a broken build must not start with a guessed policy.
            Err(diagnostics) => panic!("the embedded default policy is invalid: {diagnostics:?}"),
        }
    }

    fn compile(document: PolicyDocument, warnings: Vec<Diagnostic>) -> Result<Self, String> {
        let mut compiled = BTreeMap::new();
        let mut authz = Vec::new();
        for (index, p) in document.profiles.iter().enumerate() {
            let duration = |text: &Option<String>| -> Result<Option<Duration>, String> {
                text.as_deref()
                    .map(|t| parse_duration(t).map_err(|e| format!("{e:?}")))
                    .transpose()
            };
            let selector = |text: &Option<String>| -> Result<Option<LabelSelector>, String> {
                text.as_deref()
                    .map(|t| LabelSelector::parse(t).map_err(|e| e.to_string()))
                    .transpose()
            };
            compiled.insert(
                p.name.clone(),
                CompiledProfile {
                    index,
                    default_duration: duration(&p.default_duration)?,
                    max_duration: duration(&p.max_duration)?,
                    break_glass_max: match &p.break_glass {
                        Some(b) => duration(&b.max_duration)?,
                        None => None,
                    },
                    namespace_selector: selector(&p.scope.namespace_selector)?,
                    pod_selector: selector(&p.scope.pod_selector)?,
                    port_forward: p
                        .port_forward
                        .as_ref()
                        .map(|pf| PortAllowlist::from_specs(&pf.ports))
                        .transpose()?,
                    exec: p.exec.as_ref().map(|e| {
                        let rules = jitgate_guard::ExecRules::new(
                            e.allow.iter().cloned(),
                            e.deny.iter().cloned(),
                            match e.interactive {
                                crate::model::InteractiveMode::Deny => {
                                    jitgate_guard::Interactive::Deny
                                }
                                crate::model::InteractiveMode::Record => {
                                    jitgate_guard::Interactive::Record
                                }
                                crate::model::InteractiveMode::Filter => {
                                    jitgate_guard::Interactive::Filter
                                }
                            },
                        );
                        match &e.copy {
                            Some(c) => rules.with_copy(jitgate_guard::CopyRules::new(
                                c.from_pod.iter().cloned(),
                                c.to_pod.iter().cloned(),
                            )),
                            None => rules,
                        }
                    }),
                    debug: p.debug.as_ref().map(|d| {
                        jitgate_guard::DebugRules::new(
                            d.images.iter().cloned(),
                            d.require_digest,
                            d.capabilities.iter().cloned(),
                        )
                    }),
                },
            );
            authz.push(Profile {
                name: p.name.clone(),
                description: p.description.clone(),
                rules: p
                    .rules
                    .iter()
                    .map(|r| Rule {
                        api_groups: r.api_groups.clone(),
                        resources: r.resources.clone(),
                        verbs: r.verbs.clone(),
                    })
                    .collect(),
            });
        }
        let profiles = Profiles::new(authz).map_err(|e| e.to_string())?;
        Ok(Self {
            document,
            profiles,
            compiled,
            warnings,
        })
    }

    /// The document as written.
    #[must_use]
    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    /// The warnings the lint found (a policy with errors does not exist).
    #[must_use]
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The profiles, for the gateway's authorizer and `jitgate rbac render`.
    #[must_use]
    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// A profile as written.
    #[must_use]
    pub fn profile(&self, name: &str) -> Option<&ProfileSpec> {
        let compiled = self.compiled.get(name)?;
        self.document.profiles.get(compiled.index)
    }

    /// The ports `kubectl port-forward` may open under `profile`: `Ok(None)` when the profile
    /// has no `portForward` block (its RBAC rules alone decide), `Ok(Some(ports))` when it lists
    /// them.
    ///
    /// # Errors
    ///
    /// The profile is not in the policy (a grant outlived its profile): the caller must refuse,
    /// since what the profile would allow cannot be known.
    pub fn port_forward_ports(&self, profile: &str) -> Result<Option<&PortAllowlist>, String> {
        self.compiled_profile(profile)
            .map(|c| c.port_forward.as_ref())
    }

    /// A profile's compiled parts; `Err` when a grant names a profile the policy no longer has.
    fn compiled_profile(&self, profile: &str) -> Result<&CompiledProfile, String> {
        self.compiled
            .get(profile)
            .ok_or_else(|| format!("profile {profile} is no longer in the policy"))
    }

    /// Which commands `kubectl exec` may run under `profile`: `Ok(None)` when the profile has
    /// no `exec` block (its RBAC rules alone decide), `Ok(Some(rules))` when it has one.
    ///
    /// # Errors
    ///
    /// The profile is not in the policy (a grant outlived its profile): the caller must refuse.
    pub fn exec_rules(&self, profile: &str) -> Result<Option<&jitgate_guard::ExecRules>, String> {
        self.compiled_profile(profile).map(|c| c.exec.as_ref())
    }

    /// What `kubectl debug` may add to a pod under `profile`: `Ok(None)` when the profile has
    /// no `debug` block (its RBAC rules alone decide), `Ok(Some(rules))` when it has one.
    ///
    /// # Errors
    ///
    /// The profile is not in the policy (a grant outlived its profile): the caller must refuse.
    pub fn debug_rules(&self, profile: &str) -> Result<Option<&jitgate_guard::DebugRules>, String> {
        self.compiled_profile(profile).map(|c| c.debug.as_ref())
    }

    /// The on-call schedules.
    #[must_use]
    pub fn schedules(&self) -> &[ScheduleSpec] {
        &self.document.schedules
    }

    /// The notification targets.
    #[must_use]
    pub fn notifications(&self) -> &[NotificationSpec] {
        &self.document.notifications
    }

    /// The standing-access entries.
    #[must_use]
    pub fn standing(&self) -> &[StandingSpec] {
        &self.document.standing
    }

    /// Whether a namespace is in a profile's scope: its name matches `scope.namespaces`, and
    /// its labels match `scope.namespaceSelector` if there is one. Unknown labels with a
    /// selector are `false` (fail closed).
    #[must_use]
    pub fn namespace_allowed(
        &self,
        profile: &str,
        namespace: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) -> bool {
        let (Some(spec), Some(compiled)) = (self.profile(profile), self.compiled.get(profile))
        else {
            return false;
        };
        namespace_in_scope(&spec.scope, namespace)
            && match (&compiled.namespace_selector, labels) {
                (None, _) => true,
                (Some(selector), Some(labels)) => selector.matches(labels),
                (Some(_), None) => false,
            }
    }

    /// Which namespaces to render each profile's Role into (`jitgate rbac render`), given the
    /// cluster's namespaces and their labels (empty when rendering offline).
    ///
    /// Exact names from `scope.namespaces` are always included, unless their labels are known
    /// and fail `scope.namespaceSelector`; globs expand only against the known namespaces whose
    /// labels match. Profiles that resolve to no namespace are left out (Kubernetes RBAC has no
    /// namespace globs).
    #[must_use]
    pub fn rbac_targets(
        &self,
        cluster_namespaces: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Vec<jitgate_rbac::Target> {
        let mut targets = Vec::new();
        for profile in &self.document.profiles {
            let selector = self
                .compiled
                .get(&profile.name)
                .and_then(|c| c.namespace_selector.as_ref());
            let labels_ok = |ns: &str| match (selector, cluster_namespaces.get(ns)) {
                (Some(selector), Some(labels)) => selector.matches(labels),
                (Some(_), None) => !ns.contains(['*', '?']),
                (None, _) => true,
            };
            let mut namespaces = BTreeSet::new();
            for pattern in &profile.scope.namespaces {
                if pattern.contains(['*', '?']) {
                    namespaces.extend(
                        cluster_namespaces
                            .keys()
                            .filter(|ns| glob_matches(pattern, ns) && labels_ok(ns))
                            .cloned(),
                    );
                } else if labels_ok(pattern) {
                    namespaces.insert(pattern.clone());
                }
            }
            if !namespaces.is_empty() {
                targets.push(jitgate_rbac::Target {
                    profile: profile.name.clone(),
                    namespaces: namespaces.into_iter().collect(),
                });
            }
        }
        targets
    }

    /// The standing access a user holds through `groups`, one entry per profile.
    #[must_use]
    pub fn standing_for(&self, groups: &[String]) -> Vec<StandingAccess> {
        let mut by_profile: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
        for standing in &self.document.standing {
            let via: Vec<&str> = standing
                .groups
                .iter()
                .filter(|g| groups.contains(g))
                .map(String::as_str)
                .collect();
            if via.is_empty() {
                continue;
            }
            let entry = by_profile.entry(standing.profile.as_str()).or_default();
            entry
                .0
                .extend(standing.namespaces.iter().map(String::as_str));
            entry.1.extend(via);
        }
        by_profile
            .into_iter()
            .map(|(profile, (namespaces, via))| StandingAccess {
                profile: profile.to_owned(),
                namespaces: namespaces.into_iter().map(str::to_owned).collect(),
                via_groups: via.into_iter().map(str::to_owned).collect(),
            })
            .collect()
    }
}

fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.line, a.column, a.severity, a.code).cmp(&(b.line, b.column, b.severity, b.code))
    });
}

/// Deserializes the document section by section, so that a type error in one profile does not
/// hide those in the next. Returns the document only if every part has the right types.
fn typed_policy(value: &Value, linter: &mut Linter<'_>) -> Option<PolicyDocument> {
    let mut ok = true;
    if let Value::Object(top) = value {
        let mut skeleton = serde_json::Map::new();
        for (key, section) in top {
            match (ARRAY_SECTIONS.contains(&key.as_str()), section) {
                (true, Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        let path = join_index(key, i);
                        ok &= match key.as_str() {
                            "profiles" => typed::<ProfileSpec>(item, &path, linter).is_some(),
                            "standing" => typed::<StandingSpec>(item, &path, linter).is_some(),
                            "schedules" => typed::<ScheduleSpec>(item, &path, linter).is_some(),
                            _ => typed::<NotificationSpec>(item, &path, linter).is_some(),
                        };
                    }
                    skeleton.insert(key.clone(), Value::Array(Vec::new()));
                }
                _ => {
                    skeleton.insert(key.clone(), section.clone());
                }
            }
        }
        ok &= typed::<PolicyDocument>(&Value::Object(skeleton), "", linter).is_some();
        if !ok {
            return None;
        }
    }
    typed::<PolicyDocument>(value, "", linter)
}

/// Deserializes one node, reporting a type error at its path.
pub(crate) fn typed<T: DeserializeOwned>(
    value: &Value,
    prefix: &str,
    linter: &mut Linter<'_>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(t) => Some(t),
        Err(e) => {
            let mut path = prefix.to_owned();
            for segment in e.path() {
                match segment {
                    serde_path_to_error::Segment::Seq { index } => {
                        path = join_index(&path, *index);
                    }
                    serde_path_to_error::Segment::Map { key } => path = join_key(&path, key),
                    serde_path_to_error::Segment::Enum { .. }
                    | serde_path_to_error::Segment::Unknown => {}
                }
            }
            report_serde_error(linter, &path, &e.into_inner().to_string());
            None
        }
    }
}

/// The `backticked` words of a serde message.
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// Known field names from other tools, and what to write instead.
const FOREIGN_FIELDS: [(&str, &str); 4] = [
    (
        "resourceNames",
        "jitgate rules have no resourceNames; narrow pods with scope.podNames or \
         scope.podSelector",
    ),
    (
        "nonResourceURLs",
        "jitgate rules cover resources only; the gateway allows discovery by itself",
    ),
    (
        "namespace",
        "profiles are scoped with scope.namespaces (a list)",
    ),
    ("duration", "profiles have defaultDuration and maxDuration"),
];

fn readable_type(message: &str) -> String {
    let mut out = message.to_owned();
    for (from, to) in [
        ("expected u32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected a mapping"),
        ("invalid type: sequence", "invalid type: a list"),
        ("invalid type: map", "invalid type: a mapping"),
    ] {
        out = out.replace(from, to);
    }
    if let Some(at) = out.find("expected struct ") {
        out.replace_range(at.., "expected a mapping");
    }
    out
}

fn report_serde_error(linter: &mut Linter<'_>, path: &str, message: &str) {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let words = backticked(rest);
        let field = words.first().copied().unwrap_or_default();
        let expected = words.get(1..).unwrap_or_default();
        let hint = FOREIGN_FIELDS
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, hint)| format!("; {hint}"))
            .or_else(|| {
                expected
                    .iter()
                    .map(|c| {
                        (
                            edit_distance(&field.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                            *c,
                        )
                    })
                    .filter(|(d, _)| *d <= 3)
                    .min_by_key(|(d, _)| *d)
                    .map(|(_, c)| format!("; did you mean `{c}`?"))
            })
            .unwrap_or_default();
        let allowed = if expected.is_empty() {
            "nothing".to_owned()
        } else {
            expected.join(", ")
        };
        linter.error_at_key(
            Code::UnknownField,
            path,
            format!("unknown field `{field}`{hint} (allowed here: {allowed}); remove or rename it"),
        );
    } else if let Some(rest) = message.strip_prefix("missing field ") {
        let field = backticked(rest)
            .first()
            .copied()
            .unwrap_or_default()
            .to_owned();
        linter.error(
            Code::MissingField,
            path,
            format!("`{field}` is required here; add it"),
        );
    } else if let Some(rest) = message.strip_prefix("unknown variant ") {
        let words = backticked(rest);
        let value = words.first().copied().unwrap_or_default();
        let allowed = words.get(1..).unwrap_or_default().join(", ");
        linter.error(
            Code::UnknownValue,
            path,
            format!("{value:?} is not allowed here; use one of: {allowed}"),
        );
    } else {
        let mut text = readable_type(message);
        if message.starts_with("invalid type: null") {
            text.push_str(" (the value is empty: write [] for an empty list, or remove the key)");
        }
        linter.error(
            Code::WrongType,
            path,
            format!("{text}; fix the value's type"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_policy_is_clean() {
        let lint = Policy::lint(EMBEDDED_DEFAULT);
        assert_eq!(lint.diagnostics, [], "examples/policy.yaml must lint clean");
        let policy = Policy::embedded_default();
        assert!(policy.profile("oncall-debug").is_some());
        assert!(policy.profile("read-only").is_some());
    }

    #[test]
    fn serde_messages_are_made_readable() {
        assert_eq!(
            readable_type("invalid type: string \"x\", expected struct ProfileSpec"),
            "invalid type: string \"x\", expected a mapping"
        );
        assert_eq!(backticked("`a`, expected one of `b`, `c`"), ["a", "b", "c"]);
    }
}
