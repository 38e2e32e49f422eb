//! The policy file as written: the typed shape of `policy.yaml`, from which the JSON Schema is
//! generated. Values are kept as written (durations, globs, selectors as strings); the lint
//! checks their meaning and [`crate::Policy`] holds the checked form.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;

/// The `apiVersion` of this format.
pub const API_VERSION: &str = "jitgate.dev/v1";
/// The `kind` of a policy file.
pub const KIND: &str = "Policy";

/// A jitgate policy: who may get which debugging access to which namespaces, for how long, and
/// who approves it. One file, reviewed in Git.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "jitgate policy")]
pub struct PolicyDocument {
    /// Format version: `jitgate.dev/v1`.
    #[schemars(extend("const" = "jitgate.dev/v1"))]
    pub api_version: String,
    /// Always `Policy`.
    #[schemars(extend("const" = "Policy"))]
    pub kind: String,
    /// Access profiles that can be requested, broken glass for, or held as standing access.
    #[serde(default)]
    pub profiles: Vec<ProfileSpec>,
    /// Access that needs no request: groups that always hold a profile in some namespaces.
    #[serde(default)]
    pub standing: Vec<StandingSpec>,
    /// On-call schedules, by name, for `approval.autoApprove.onlyWhileOnCall`.
    #[serde(default)]
    pub schedules: Vec<ScheduleSpec>,
    /// Where the broker sends notifications, by name, for `notify`.
    #[serde(default)]
    pub notifications: Vec<NotificationSpec>,
}

/// One access profile: what it allows (Kubernetes RBAC rules), where (scope), for how long, who
/// may request it and who approves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileSpec {
    /// Name: a DNS-1123 label (lowercase letters, digits, `-`; at most 63). It is also the
    /// reserved group `jitgate:<name>` and the name of the rendered Role.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// One line for people choosing a profile.
    #[serde(default)]
    pub description: String,
    /// Allow `*` in verbs, resources, API groups and namespaces. Only for deliberate admin
    /// profiles.
    #[serde(default)]
    pub allow_wildcards: bool,
    /// What the profile allows, with Kubernetes RBAC `PolicyRule` semantics (no
    /// `resourceNames`: narrow pods with `scope.podNames`).
    pub rules: Vec<RuleSpec>,
    /// Where the profile may be used.
    pub scope: ScopeSpec,
    /// Duration of a request that names none, e.g. `30m`. Required when the profile can be
    /// requested.
    #[serde(default)]
    #[schemars(regex(pattern = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"))]
    pub default_duration: Option<String>,
    /// Longest duration a request may ask for, e.g. `4h`. Durations are `90s`, `30m`, `4h`,
    /// `1h30m`, `2d`, between 1m and 7d.
    #[serde(default)]
    #[schemars(regex(pattern = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"))]
    pub max_duration: Option<String>,
    /// Groups whose members may request the profile.
    #[serde(default)]
    pub requesters: Vec<String>,
    /// How a request is approved. Required when there are requesters.
    #[serde(default)]
    pub approval: Option<ApprovalSpec>,
    /// Emergency self-approved access.
    #[serde(default)]
    pub break_glass: Option<BreakGlassSpec>,
    /// Notifications (names from `notifications`) for every request of this profile.
    #[serde(default)]
    pub notify: Vec<String>,
    /// Which commands `kubectl exec` may run (parsed and checked now, enforced by the exec guard).
    #[serde(default)]
    pub exec: Option<ExecSpec>,
    /// Which ports `kubectl port-forward` may open.
    #[serde(default)]
    pub port_forward: Option<PortForwardSpec>,
    /// Which ephemeral debug containers `kubectl debug` may add.
    #[serde(default)]
    pub debug: Option<DebugSpec>,
}

/// One RBAC rule: these verbs on these resources in these API groups.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleSpec {
    /// API groups; `""` is the core group.
    pub api_groups: Vec<String>,
    /// Resources and subresources: `pods`, `pods/log`, `deployments`.
    pub resources: Vec<String>,
    /// Verbs: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verbs: Vec<String>,
}

/// Where a profile may be used.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScopeSpec {
    /// Namespaces, exactly (`payments`) or as globs (`team-*`; `*` any run of characters, `?`
    /// one). Must not be empty.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Optional label selector the namespace's labels must also match (`team=payments`).
    #[serde(default)]
    pub namespace_selector: Option<String>,
    /// Optional pod-name globs (`api-*`); a grant then covers only matching pods.
    #[serde(default)]
    pub pod_names: Vec<String>,
    /// Optional label selector a pod's labels must match (`app=api,tier!=db`).
    #[serde(default)]
    pub pod_selector: Option<String>,
}

fn one() -> u32 {
    1
}

/// How requests of a profile are approved.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalSpec {
    /// Requesters approved without a person.
    #[serde(default)]
    pub auto_approve: Option<AutoApproveSpec>,
    /// How many people must approve otherwise (1 to 5). The requester never counts.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 5))]
    pub approvals: u32,
    /// Groups whose members may approve.
    #[serde(default)]
    pub approver_groups: Vec<String>,
    /// Whether each approval must come from a different approver group (so `approvals` can be
    /// at most the number of approver groups).
    #[serde(default)]
    pub distinct_groups: bool,
}

/// Who is approved automatically.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoApproveSpec {
    /// Members of these groups are approved automatically.
    pub groups: Vec<String>,
    /// Only while the requester is on call for this schedule (a name from `schedules`). When the
    /// on-call answer is unknown, the request needs approvals: it is never auto-approved.
    #[serde(default)]
    pub only_while_on_call: Option<String>,
}

/// Emergency access: self-approved, with a mandatory reason, a short cap and loud
/// notification; reviewed afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakGlassSpec {
    /// Whether break glass is possible for this profile.
    pub allowed: bool,
    /// Longest break-glass access, e.g. `1h`; at most the profile's `maxDuration`. Required when
    /// allowed.
    #[serde(default)]
    #[schemars(regex(pattern = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"))]
    pub max_duration: Option<String>,
    /// Who may break glass; empty means the profile's requesters.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Extra notifications (names from `notifications`) for break glass.
    #[serde(default)]
    pub notify: Vec<String>,
}

/// How an interactive (TTY) shell is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum InteractiveMode {
    /// Interactive shells are refused.
    #[default]
    Deny,
    /// Interactive shells are allowed and recorded.
    Record,
    /// Interactive shells are allowed, recorded, and each line is checked at Enter (best effort).
    Filter,
}

impl fmt::Display for InteractiveMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deny => "deny",
            Self::Record => "record",
            Self::Filter => "filter",
        })
    }
}

/// Which commands `kubectl exec` may run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecSpec {
    /// Command names (basenames, `ls`, `cat`); empty means any command not denied.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Command lines that are always refused, as argv prefixes (`rm -rf /`, `cat /etc/shadow`).
    /// Deny wins over allow.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Interactive TTY shells: `deny` (the default), `record` or `filter`.
    #[serde(default)]
    pub interactive: InteractiveMode,
    /// What `kubectl cp` may copy. With it, `tar` runs only as kubectl cp runs it, on these
    /// paths; without it, `tar` is a command like any other.
    #[serde(default)]
    pub copy: Option<CopySpec>,
}

/// Which paths `kubectl cp` may copy out of a pod, and which directories into one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CopySpec {
    /// Absolute paths (and everything below them) that may be copied out of a pod
    /// (`kubectl cp POD:/var/log/app.log .`); empty: nothing.
    #[serde(default)]
    pub from_pod: Vec<String>,
    /// Absolute directories (and everything below them) that files may be copied into
    /// (`kubectl cp file POD:/tmp/file`); empty: nothing.
    #[serde(default)]
    pub to_pod: Vec<String>,
}

/// Which ports `kubectl port-forward` may open.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortForwardSpec {
    /// Ports (`8080`) and inclusive ranges (`"9000-9100"`).
    pub ports: Vec<PortSpec>,
}

/// A port (`8080`) or an inclusive range (`"9000-9100"`), as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// A number.
    Number(i64),
    /// A string: `"8080"` or `"9000-9100"`.
    Text(String),
}

impl PortSpec {
    /// The inclusive range this stands for.
    ///
    /// # Errors
    ///
    /// A sentence saying why it is not a port or range of ports 1–65535.
    pub fn range(&self) -> Result<(u16, u16), String> {
        let port = |text: &str| -> Result<u16, String> {
            let n: u64 = text
                .trim()
                .parse()
                .map_err(|_| format!("{text:?} is not a port number"))?;
            u16::try_from(n)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("port {n} is out of range; ports are 1 to 65535"))
        };
        match self {
            Self::Number(n) => {
                let p = u16::try_from(*n)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("port {n} is out of range; ports are 1 to 65535"))?;
                Ok((p, p))
            }
            Self::Text(text) => {
                let (low, high) = match text.split_once('-') {
                    Some((low, high)) => (port(low)?, port(high)?),
                    None => {
                        let p = port(text)?;
                        (p, p)
                    }
                };
                if low > high {
                    return Err(format!(
                        "range {text:?} ends below its start; write it as LOW-HIGH"
                    ));
                }
                Ok((low, high))
            }
        }
    }
}

impl<'de> Deserialize<'de> for PortSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortVisitor;
        impl serde::de::Visitor<'_> for PortVisitor {
            type Value = PortSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number or a range string such as \"9000-9100\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PortSpec, E> {
                Ok(PortSpec::Number(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PortSpec, E> {
                Ok(PortSpec::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PortSpec, E> {
                Ok(PortSpec::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(PortVisitor)
    }
}

impl JsonSchema for PortSpec {
    fn schema_name() -> Cow<'static, str> {
        "PortSpec".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A port (8080) or an inclusive range of ports (\"9000-9100\").",
            "anyOf": [
                { "type": "integer", "minimum": 1, "maximum": 65535 },
                { "type": "string", "pattern": "^[0-9]{1,5}(-[0-9]{1,5})?$" }
            ]
        })
    }
}

/// Which ephemeral debug containers `kubectl debug` may add.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DebugSpec {
    /// Allowed images, exactly: `name[:tag][@sha256:<64 hex>]`.
    pub images: Vec<String>,
    /// Whether every image must be pinned by digest (`@sha256:...`).
    #[serde(default)]
    pub require_digest: bool,
    /// Linux capabilities a debug container may add (`NET_ADMIN`, `SYS_PTRACE`; without `CAP_`).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// Access that needs no request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandingSpec {
    /// The profile held (a name from `profiles`).
    pub profile: String,
    /// Groups whose members always hold it.
    pub groups: Vec<String>,
    /// Namespaces, exactly, within the profile's scope.
    pub namespaces: Vec<String>,
}

/// An on-call schedule. The oncall component evaluates it; the policy only names it and says
/// where it comes from: exactly one of `file` and `pagerduty`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleSpec {
    /// Name: a DNS-1123 label.
    pub name: String,
    /// A schedule file, relative to the policy file.
    #[serde(default)]
    pub file: Option<String>,
    /// A PagerDuty schedule.
    #[serde(default)]
    pub pagerduty: Option<PagerDutySpec>,
}

impl ScheduleSpec {
    /// The schedule file's path, relative to the folder of `policy_file` unless absolute.
    #[must_use]
    pub fn resolve_file(&self, policy_file: &Path) -> Option<PathBuf> {
        let file = Path::new(self.file.as_deref()?);
        Some(if file.is_absolute() {
            file.to_path_buf()
        } else {
            policy_file
                .parent()
                .unwrap_or_else(|| Path::new(""))
                .join(file)
        })
    }
}

/// A PagerDuty schedule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PagerDutySpec {
    /// The schedule's id, e.g. `P1AB2CD`.
    pub schedule_id: String,
}

/// Where the broker sends notifications: exactly one of `slack` and `webhook`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationSpec {
    /// Name: a DNS-1123 label.
    pub name: String,
    /// A Slack-compatible incoming webhook.
    #[serde(default)]
    pub slack: Option<SlackSpec>,
    /// A generic webhook (HMAC-signed JSON).
    #[serde(default)]
    pub webhook: Option<WebhookSpec>,
}

/// A Slack-compatible incoming webhook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackSpec {
    /// The webhook URL (`https://`).
    pub url: String,
}

/// A generic webhook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookSpec {
    /// The URL (`https://`; `http://` only to this machine).
    pub url: String,
    /// Environment variable that holds the HMAC key (the key never goes in the file).
    #[serde(default)]
    pub secret_env: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs() {
        let cases = [
            ("number", PortSpec::Number(8080), Ok((8080, 8080))),
            (
                "string number",
                PortSpec::Text("8080".into()),
                Ok((8080, 8080)),
            ),
            (
                "range",
                PortSpec::Text("9000-9100".into()),
                Ok((9000, 9100)),
            ),
            ("zero", PortSpec::Number(0), Err("out of range")),
            ("too big", PortSpec::Number(65_536), Err("out of range")),
            ("negative", PortSpec::Number(-1), Err("out of range")),
            (
                "backwards",
                PortSpec::Text("9100-9000".into()),
                Err("ends below"),
            ),
            ("words", PortSpec::Text("http".into()), Err("not a port")),
            (
                "open range",
                PortSpec::Text("9000-".into()),
                Err("not a port"),
            ),
            (
                "range past max",
                PortSpec::Text("1-70000".into()),
                Err("out of range"),
            ),
        ];
        for (name, spec, expected) in cases {
            match (spec.range(), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{name}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{name}: {got}"),
                (got, want) => panic!("{name}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn schedule_files_are_relative_to_the_policy() {
        let schedule = ScheduleSpec {
            name: "p".into(),
            file: Some("oncall/p.yaml".into()),
            pagerduty: None,
        };
        assert_eq!(
            schedule.resolve_file(Path::new("/etc/jitgate/policy.yaml")),
            Some(PathBuf::from("/etc/jitgate/oncall/p.yaml"))
        );
        assert_eq!(
            schedule.resolve_file(Path::new("policy.yaml")),
            Some(PathBuf::from("oncall/p.yaml"))
        );
    }
}
