//! Lint findings: what is wrong, where (YAML path, line, column), how bad, and a stable code.

use std::fmt;

use serde::Serialize;

/// How bad a finding is. Errors make the policy unusable; warnings do not (unless
/// `jitgate policy lint --strict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy is refused.
    Error,
    /// Probably a mistake, but the policy still loads.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $text:literal, )*) => {
        /// The stable machine code of a finding (`unknown-field`, `bad-duration`, ...). The text
        /// form never changes meaning; new codes may be added.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The code as printed: lowercase words joined by `-`.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Code::$variant => $text, )*
                }
            }
        }
    };
}

codes! {
    /// The file is larger than the policy size limit.
    TooLarge = "too-large",
    /// The text is not valid YAML (or JSON).
    YamlSyntax = "yaml-syntax",
    /// The file holds no document, or an empty one.
    EmptyDocument = "empty-document",
    /// The file holds more than one YAML document.
    MultipleDocuments = "multiple-documents",
    /// Nesting deeper than the limit.
    TooDeep = "too-deep",
    /// More nodes (or a longer string) than the limits allow.
    TooLong = "too-long",
    /// A YAML alias (`*name`); values must be written out.
    AliasNotSupported = "alias-not-supported",
    /// A YAML tag other than the standard `!!str`, `!!map`, `!!seq`.
    UnsupportedTag = "unsupported-tag",
    /// A mapping key that is not a plain string.
    UnsupportedKey = "unsupported-key",
    /// The same key twice in one mapping.
    DuplicateKey = "duplicate-key",
    /// A key the schema does not have at that place.
    UnknownField = "unknown-field",
    /// A required key is absent.
    MissingField = "missing-field",
    /// A value of the wrong type (a string where a list belongs, ...).
    WrongType = "wrong-type",
    /// A value outside a fixed set (e.g. `exec.interactive`).
    UnknownValue = "unknown-value",
    /// `apiVersion` is not `jitgate.dev/v1`.
    WrongApiVersion = "wrong-api-version",
    /// `kind` is not `Policy`.
    WrongKind = "wrong-kind",
    /// A duration that does not parse (`30m`, `4h`, `1h30m`, `90s`).
    BadDuration = "bad-duration",
    /// A duration below one minute or above seven days.
    DurationOutOfRange = "duration-out-of-range",
    /// A requestable profile without `defaultDuration` or `maxDuration`.
    MissingDuration = "missing-duration",
    /// `defaultDuration` is longer than `maxDuration`.
    DefaultAboveMax = "default-above-max",
    /// A name that is not a DNS-1123 label (profiles, schedules, notifications).
    BadName = "bad-name",
    /// Two profiles, schedules or notifications with one name.
    DuplicateName = "duplicate-name",
    /// A profile without rules.
    EmptyRules = "empty-rules",
    /// A rule with an empty `apiGroups`, `resources` or `verbs`.
    EmptyRuleField = "empty-rule-field",
    /// A verb Kubernetes does not have.
    UnknownVerb = "unknown-verb",
    /// `bind`, `escalate`, `impersonate`, `approve` or `sign`.
    EscalationVerb = "escalation-verb",
    /// A resource that does not exist in the API groups named.
    UnknownResource = "unknown-resource",
    /// An API group jitgate does not know (a CRD's group, or a typo).
    UnknownApiGroup = "unknown-api-group",
    /// A resource written in a form RBAC does not have (`pods/*`, `Pods`).
    BadResource = "bad-resource",
    /// Access to `secrets` or to minting service-account tokens.
    SecretAccess = "secret-access",
    /// `*` in verbs, resources, API groups, or namespaces, without `allowWildcards: true`.
    Wildcard = "wildcard",
    /// A streaming subresource granted `get` without `create` or the other way round.
    StreamingVerbs = "streaming-verbs",
    /// A profile whose scope names no namespace.
    EmptyNamespaceScope = "empty-namespace-scope",
    /// A namespace name or glob that cannot match a namespace.
    BadNamespace = "bad-namespace",
    /// A pod-name glob with characters a pod name cannot have.
    BadPodGlob = "bad-pod-glob",
    /// A label selector that does not parse.
    BadLabelSelector = "bad-label-selector",
    /// An empty or malformed group name.
    BadGroup = "bad-group",
    /// A group named `system:*` or `jitgate:*`, which only Kubernetes or jitgate may assert.
    ReservedGroup = "reserved-group",
    /// A list of groups that must not be empty is empty.
    EmptyGroups = "empty-groups",
    /// A profile no one can request, break glass for, or hold as standing access.
    UnrequestableProfile = "unrequestable-profile",
    /// A requestable profile without an `approval` section.
    MissingApproval = "missing-approval",
    /// `approvals: 0`.
    ZeroApprovals = "zero-approvals",
    /// Approvals are required but `approverGroups` is empty.
    NoApprovers = "no-approvers",
    /// More approvals than the limit (5).
    TooManyApprovals = "too-many-approvals",
    /// `distinctGroups: true` with more approvals than approver groups.
    ApprovalsExceedApprovers = "approvals-exceed-approvers",
    /// The only approver group is the only requester group: a team of one is never approved.
    LoneApproverGroup = "lone-approver-group",
    /// An auto-approve group that is not among the requesters, so it never applies.
    AutoApproveNotRequester = "auto-approve-not-requester",
    /// A reference to a schedule that is not defined.
    UnknownSchedule = "unknown-schedule",
    /// A schedule that is not either `file` or `pagerduty`, or whose source is malformed.
    BadScheduleSource = "bad-schedule-source",
    /// A schedule nothing refers to.
    UnusedSchedule = "unused-schedule",
    /// Break glass allowed without `maxDuration`.
    MissingBreakGlassDuration = "missing-break-glass-duration",
    /// Break-glass `maxDuration` above the profile's `maxDuration`.
    BreakGlassAboveMax = "break-glass-above-max",
    /// Break glass allowed but no group may use it.
    BreakGlassNobody = "break-glass-nobody",
    /// Standing access to a profile that is not defined.
    UnknownProfile = "unknown-profile",
    /// Standing access in a namespace outside the profile's scope.
    StandingOutsideScope = "standing-outside-scope",
    /// A command name in `exec.allow` that is not a plain command name.
    BadExecCommand = "bad-exec-command",
    /// An empty or over-long `exec.deny` pattern.
    BadExecPattern = "bad-exec-pattern",
    /// An `exec.copy` path that is not an absolute path without `..`, globs or spaces.
    BadCopyPath = "bad-copy-path",
    /// An `exec.allow` entry that can start any other program (an editor's shell escape, an
    /// interpreter, a wrapper the guard does not look through).
    RunsAnything = "runs-anything",
    /// A port of 0 or above 65535, or a range that is not `LOW-HIGH` with `LOW <= HIGH`.
    BadPort = "bad-port",
    /// A debug image that is not `name[:tag][@sha256:<64 hex>]`.
    BadImage = "bad-image",
    /// `requireDigest: true` and an image without `@sha256:`.
    ImageWithoutDigest = "image-without-digest",
    /// A Linux capability name that does not exist.
    UnknownCapability = "unknown-capability",
    /// A capability that amounts to root on the node (`SYS_ADMIN`, `ALL`, ...).
    DangerousCapability = "dangerous-capability",
    /// An `exec`, `portForward` or `debug` section on a profile whose rules never grant it.
    UnusedGuard = "unused-guard",
    /// Rules that grant pods/exec, pods/portforward or pods/ephemeralcontainers without the
    /// `exec`, `portForward` or `debug` section that limits them; `tar` allowed without
    /// `exec.copy`.
    MissingGuard = "missing-guard",
    /// A notification that is not exactly one of `slack` or `webhook`.
    BadNotification = "bad-notification",
    /// A reference to a notification that is not defined.
    UnknownNotification = "unknown-notification",
    /// A URL that does not parse.
    BadUrl = "bad-url",
    /// A plain `http://` URL to anything but this machine.
    InsecureUrl = "insecure-url",
    /// A webhook without `secretEnv`: its requests cannot be signed.
    UnsignedWebhook = "unsigned-webhook",
    /// An environment variable name that is not `[A-Za-z_][A-Za-z0-9_]*`.
    BadEnvName = "bad-env-name",
    /// A test case (`jitgate policy test`) that is not a request, an approval or a standing
    /// question, or whose `expect` does not fit its kind.
    BadCase = "bad-case",
    /// A profile the gateway's authorizer refuses (should not happen after the other checks).
    ProfileRejected = "profile-rejected",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One finding of the lint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable machine code.
    pub code: Code,
    /// YAML path of the offending node, e.g. `profiles[0].approval.approvals`; `.` for the whole
    /// document.
    pub path: String,
    /// 1-based line in the file.
    pub line: usize,
    /// 1-based column (in characters) in the file.
    pub column: usize,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl Diagnostic {
    /// Whether this is an error.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The finding as a compiler-style line: `FILE:LINE:COL: error[code] path: message`.
    #[must_use]
    pub fn render(&self, file: &str) -> String {
        format!(
            "{file}:{}:{}: {}[{}] {}: {}",
            self.line, self.column, self.severity, self.code, self.path, self.message
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}[{}] {}: {}",
            self.line, self.column, self.severity, self.code, self.path, self.message
        )
    }
}

/// Whether any of the findings is an error.
#[must_use]
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn codes_are_unique_lowercase_words() {
        let mut seen = BTreeSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{text}"
            );
        }
        assert!(Code::ALL.len() >= 40, "{}", Code::ALL.len());
    }

    #[test]
    fn renders_like_a_compiler() {
        let d = Diagnostic {
            severity: Severity::Error,
            code: Code::BadDuration,
            path: "profiles[0].maxDuration".into(),
            line: 7,
            column: 18,
            message: "\"4x\" is not a duration".into(),
        };
        assert_eq!(
            d.render("policy.yaml"),
            "policy.yaml:7:18: error[bad-duration] profiles[0].maxDuration: \"4x\" is not a duration"
        );
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(json["code"], "bad-duration");
        assert_eq!(json["severity"], "error");
    }
}
