//! Every kind of mistake the lint knows, each asserted with its code, YAML path, line and
//! message, starting from one small valid policy and changing one thing.

use jitgate_policy::{Code, Diagnostic, Policy, Severity};

/// A small valid policy; the line numbers in the cases below refer to it.
const BASE: &str = r#"apiVersion: jitgate.dev/v1
kind: Policy
profiles:
  - name: debug
    rules:
      - apiGroups: [""]
        resources: [pods, pods/log]
        verbs: [get, list]
    scope:
      namespaces: [payments]
    defaultDuration: 30m
    maxDuration: 4h
    requesters: [oncall, sre]
    approval:
      autoApprove:
        groups: [oncall]
        onlyWhileOnCall: primary
      approvals: 1
      approverGroups: [leads]
    breakGlass:
      allowed: true
      maxDuration: 1h
standing:
  - profile: debug
    groups: [sre]
    namespaces: [payments]
schedules:
  - name: primary
    file: oncall/primary.yaml
notifications:
  - name: hook
    webhook:
      url: https://example.com/hook
      secretEnv: HOOK_SECRET
"#;

const EXTRA_PROFILE: &str = "  - name: orphan
    rules:
      - apiGroups: [\"\"]
        resources: [pods]
        verbs: [get]
    scope:
      namespaces: [payments]
standing:
";

struct Case {
    name: &'static str,
    /// Replace this (it must occur exactly once in BASE) ...
    from: &'static str,
    /// ... with this.
    to: &'static str,
    code: Code,
    severity: Severity,
    path: &'static str,
    line: usize,
    /// The message must contain this.
    message: &'static str,
}

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;

fn lint(text: &str) -> Vec<Diagnostic> {
    Policy::lint(text).diagnostics
}

#[test]
fn the_base_policy_is_clean() {
    assert_eq!(lint(BASE), []);
}

#[test]
fn every_mistake_is_reported_with_path_line_and_message() {
    let cases = [
        Case {
            name: "unknown field, with a suggestion",
            from: "    requesters: [oncall, sre]",
            to: "    requestors: [oncall, sre]",
            code: Code::UnknownField,
            severity: E,
            path: "profiles[0].requestors",
            line: 13,
            message: "did you mean `requesters`?",
        },
        Case {
            name: "RBAC field jitgate does not have",
            from: "        verbs: [get, list]\n",
            to: "        verbs: [get, list]\n        resourceNames: [api-0]\n",
            code: Code::UnknownField,
            severity: E,
            path: "profiles[0].rules[0].resourceNames",
            line: 9,
            message: "scope.podNames",
        },
        Case {
            name: "missing required field",
            from: "    scope:\n      namespaces: [payments]\n",
            to: "",
            code: Code::MissingField,
            severity: E,
            path: "profiles[0]",
            line: 4,
            message: "`scope` is required",
        },
        Case {
            name: "wrong type",
            from: "approvals: 1",
            to: "approvals: one",
            code: Code::WrongType,
            severity: E,
            path: "profiles[0].approval.approvals",
            line: 18,
            message: "expected a whole number",
        },
        Case {
            name: "duplicate key",
            from: "    maxDuration: 4h\n",
            to: "    maxDuration: 4h\n    maxDuration: 8h\n",
            code: Code::DuplicateKey,
            severity: E,
            path: "profiles[0].maxDuration",
            line: 13,
            message: "appears twice",
        },
        Case {
            name: "bad duration",
            from: "maxDuration: 4h",
            to: "maxDuration: 4x",
            code: Code::BadDuration,
            severity: E,
            path: "profiles[0].maxDuration",
            line: 12,
            message: "\"4x\" is not a duration",
        },
        Case {
            name: "duration below a minute",
            from: "defaultDuration: 30m",
            to: "defaultDuration: 30s",
            code: Code::DurationOutOfRange,
            severity: E,
            path: "profiles[0].defaultDuration",
            line: 11,
            message: "between 1m and 7d",
        },
        Case {
            name: "maxDuration below defaultDuration",
            from: "defaultDuration: 30m",
            to: "defaultDuration: 5h",
            code: Code::DefaultAboveMax,
            severity: E,
            path: "profiles[0].defaultDuration",
            line: 11,
            message: "defaultDuration 5h is longer than maxDuration 4h",
        },
        Case {
            name: "unknown verb",
            from: "verbs: [get, list]",
            to: "verbs: [get, lsit]",
            code: Code::UnknownVerb,
            severity: E,
            path: "profiles[0].rules[0].verbs[1]",
            line: 8,
            message: "did you mean \"list\"?",
        },
        Case {
            name: "escalation verb",
            from: "verbs: [get, list]",
            to: "verbs: [get, impersonate]",
            code: Code::EscalationVerb,
            severity: E,
            path: "profiles[0].rules[0].verbs[1]",
            line: 8,
            message: "never grant it",
        },
        Case {
            name: "resource of another group",
            from: "resources: [pods, pods/log]",
            to: "resources: [pods, deployments]",
            code: Code::UnknownResource,
            severity: E,
            path: "profiles[0].rules[0].resources[1]",
            line: 7,
            message: "served by API group \"apps\"",
        },
        Case {
            name: "misspelt subresource",
            from: "resources: [pods, pods/log]",
            to: "resources: [pods, pods/logs]",
            code: Code::UnknownResource,
            severity: E,
            path: "profiles[0].rules[0].resources[1]",
            line: 7,
            message: "did you mean \"pods/log\"?",
        },
        Case {
            name: "subresource wildcard is not RBAC",
            from: "resources: [pods, pods/log]",
            to: "resources: [pods, pods/*]",
            code: Code::BadResource,
            severity: E,
            path: "profiles[0].rules[0].resources[1]",
            line: 7,
            message: "pods/exec, pods/log",
        },
        Case {
            name: "unknown API group is a warning",
            from: "apiGroups: [\"\"]",
            to: "apiGroups: [\"example.com\"]",
            code: Code::UnknownApiGroup,
            severity: W,
            path: "profiles[0].rules[0].apiGroups[0]",
            line: 6,
            message: "custom resource",
        },
        Case {
            name: "secrets",
            from: "resources: [pods, pods/log]",
            to: "resources: [pods, secrets]",
            code: Code::SecretAccess,
            severity: E,
            path: "profiles[0].rules[0].resources[1]",
            line: 7,
            message: "credentials",
        },
        Case {
            name: "wildcard verb",
            from: "verbs: [get, list]",
            to: "verbs: ['*']",
            code: Code::Wildcard,
            severity: E,
            path: "profiles[0].rules[0].verbs[0]",
            line: 8,
            message: "allowWildcards: true",
        },
        Case {
            name: "wildcard resource",
            from: "resources: [pods, pods/log]",
            to: "resources: [\"*\"]",
            code: Code::Wildcard,
            severity: E,
            path: "profiles[0].rules[0].resources[0]",
            line: 7,
            message: "including secrets",
        },
        Case {
            name: "streaming subresource without create",
            from: "resources: [pods, pods/log]",
            to: "resources: [pods, pods/exec]",
            code: Code::StreamingVerbs,
            severity: W,
            path: "profiles[0].rules[0].verbs",
            line: 8,
            message: "pods/exec is granted get but not create",
        },
        Case {
            name: "empty rule list",
            from: "    rules:\n      - apiGroups: [\"\"]\n        resources: [pods, pods/log]\n        verbs: [get, list]\n",
            to: "    rules: []\n",
            code: Code::EmptyRules,
            severity: E,
            path: "profiles[0].rules",
            line: 5,
            message: "has no rules",
        },
        Case {
            name: "empty verbs",
            from: "verbs: [get, list]",
            to: "verbs: []",
            code: Code::EmptyRuleField,
            severity: E,
            path: "profiles[0].rules[0].verbs",
            line: 8,
            message: "verbs is empty",
        },
        Case {
            name: "too many approvals",
            from: "approvals: 1",
            to: "approvals: 6",
            code: Code::TooManyApprovals,
            severity: E,
            path: "profiles[0].approval.approvals",
            line: 18,
            message: "at most 5",
        },
        Case {
            name: "zero approvals",
            from: "approvals: 1",
            to: "approvals: 0",
            code: Code::ZeroApprovals,
            severity: E,
            path: "profiles[0].approval.approvals",
            line: 18,
            message: "autoApprove.groups",
        },
        Case {
            name: "approvals without approvers",
            from: "approverGroups: [leads]",
            to: "approverGroups: []",
            code: Code::NoApprovers,
            severity: E,
            path: "profiles[0].approval.approverGroups",
            line: 19,
            message: "no request can ever be approved",
        },
        Case {
            name: "more distinct-group approvals than approver groups",
            from: "      approvals: 1\n",
            to: "      approvals: 2\n      distinctGroups: true\n",
            code: Code::ApprovalsExceedApprovers,
            severity: E,
            path: "profiles[0].approval.approvals",
            line: 18,
            message: "only 1 approver group(s)",
        },
        Case {
            name: "the only approver group is the only requester group",
            from: "requesters: [oncall, sre]",
            to: "requesters: [leads]",
            code: Code::LoneApproverGroup,
            severity: W,
            path: "profiles[0].approval.approverGroups",
            line: 19,
            message: "can never be approved",
        },
        Case {
            name: "auto-approve group that cannot request",
            from: "        groups: [oncall]",
            to: "        groups: [oncall-team]",
            code: Code::AutoApproveNotRequester,
            severity: W,
            path: "profiles[0].approval.autoApprove.groups[0]",
            line: 16,
            message: "not among the requesters",
        },
        Case {
            name: "requestable profile without approval",
            from: "    approval:\n      autoApprove:\n        groups: [oncall]\n        onlyWhileOnCall: primary\n      approvals: 1\n      approverGroups: [leads]\n",
            to: "",
            code: Code::MissingApproval,
            severity: E,
            path: "profiles[0]",
            line: 4,
            message: "no approval section",
        },
        Case {
            name: "profile nobody can get",
            from: "standing:\n",
            to: EXTRA_PROFILE,
            code: Code::UnrequestableProfile,
            severity: W,
            path: "profiles[1].name",
            line: 23,
            message: "nobody can get profile \"orphan\"",
        },
        Case {
            name: "duplicate profile name",
            from: "standing:\n",
            to: "  - name: debug\n    rules: [{apiGroups: [\"\"], resources: [pods], verbs: [get]}]\n    scope: {namespaces: [payments]}\nstanding:\n",
            code: Code::DuplicateName,
            severity: E,
            path: "profiles[1].name",
            line: 23,
            message: "already defined at profiles[0]",
        },
        Case {
            name: "profile name that is not a DNS label",
            from: "  - name: debug",
            to: "  - name: Debug_Profile",
            code: Code::BadName,
            severity: E,
            path: "profiles[0].name",
            line: 4,
            message: "e.g. \"debug-profile\"",
        },
        Case {
            name: "reserved requester group",
            from: "requesters: [oncall, sre]",
            to: "requesters: [oncall, \"system:masters\"]",
            code: Code::ReservedGroup,
            severity: E,
            path: "profiles[0].requesters[1]",
            line: 13,
            message: "reserved",
        },
        Case {
            name: "jitgate groups are reserved too",
            from: "approverGroups: [leads]",
            to: "approverGroups: [\"jitgate:debug\"]",
            code: Code::ReservedGroup,
            severity: E,
            path: "profiles[0].approval.approverGroups[0]",
            line: 19,
            message: "only by the gateway",
        },
        Case {
            name: "standing access to an unknown profile",
            from: "  - profile: debug",
            to: "  - profile: debgu",
            code: Code::UnknownProfile,
            severity: E,
            path: "standing[0].profile",
            line: 24,
            message: "did you mean \"debug\"?",
        },
        Case {
            name: "standing access outside the profile's scope",
            from: "    namespaces: [payments]\nschedules",
            to: "    namespaces: [checkout]\nschedules",
            code: Code::StandingOutsideScope,
            severity: E,
            path: "standing[0].namespaces[0]",
            line: 26,
            message: "outside the scope of profile \"debug\"",
        },
        Case {
            name: "unknown on-call schedule",
            from: "onlyWhileOnCall: primary",
            to: "onlyWhileOnCall: primray",
            code: Code::UnknownSchedule,
            severity: E,
            path: "profiles[0].approval.autoApprove.onlyWhileOnCall",
            line: 17,
            message: "did you mean \"primary\"?",
        },
        Case {
            name: "unused schedule",
            from: "        onlyWhileOnCall: primary\n",
            to: "",
            code: Code::UnusedSchedule,
            severity: W,
            path: "schedules[0].name",
            line: 27,
            message: "not used",
        },
        Case {
            name: "schedule with two sources",
            from: "    file: oncall/primary.yaml\n",
            to: "    file: oncall/primary.yaml\n    pagerduty: {scheduleId: P1AB2CD}\n",
            code: Code::BadScheduleSource,
            severity: E,
            path: "schedules[0]",
            line: 28,
            message: "exactly one source",
        },
        Case {
            name: "break glass longer than the profile",
            from: "      maxDuration: 1h",
            to: "      maxDuration: 5h",
            code: Code::BreakGlassAboveMax,
            severity: E,
            path: "profiles[0].breakGlass.maxDuration",
            line: 22,
            message: "longer than the profile's maxDuration 4h",
        },
        Case {
            name: "break glass without a cap",
            from: "      maxDuration: 1h\n",
            to: "",
            code: Code::MissingBreakGlassDuration,
            severity: E,
            path: "profiles[0].breakGlass",
            line: 20,
            message: "without maxDuration",
        },
        Case {
            name: "unknown notification",
            from: "      maxDuration: 1h\n",
            to: "      maxDuration: 1h\n      notify: [pager]\n",
            code: Code::UnknownNotification,
            severity: E,
            path: "profiles[0].breakGlass.notify[0]",
            line: 23,
            message: "no notification is named \"pager\"",
        },
        Case {
            name: "bad pod-name glob",
            from: "      namespaces: [payments]\n",
            to: "      namespaces: [payments]\n      podNames: [API_*]\n",
            code: Code::BadPodGlob,
            severity: E,
            path: "profiles[0].scope.podNames[0]",
            line: 11,
            message: "pod-name glob \"API_*\" is invalid",
        },
        Case {
            name: "bad namespace glob",
            from: "      namespaces: [payments]\n",
            to: "      namespaces: [payments, team_*]\n",
            code: Code::BadNamespace,
            severity: E,
            path: "profiles[0].scope.namespaces[1]",
            line: 10,
            message: "cannot match a namespace",
        },
        Case {
            name: "namespace wildcard",
            from: "      namespaces: [payments]\n",
            to: "      namespaces: [payments, \"*\"]\n",
            code: Code::Wildcard,
            severity: E,
            path: "profiles[0].scope.namespaces[1]",
            line: 10,
            message: "kube-system",
        },
        Case {
            name: "bad label selector",
            from: "      namespaces: [payments]\n",
            to: "      namespaces: [payments]\n      namespaceSelector: \"team in payments\"\n",
            code: Code::BadLabelSelector,
            severity: E,
            path: "profiles[0].scope.namespaceSelector",
            line: 11,
            message: "expected '('",
        },
        Case {
            name: "empty namespace scope",
            from: "      namespaces: [payments]\n",
            to: "      namespaces: []\n",
            code: Code::EmptyNamespaceScope,
            severity: E,
            path: "profiles[0].scope.namespaces",
            line: 10,
            message: "can be used nowhere",
        },
        Case {
            name: "exec interactive mode",
            from: "    breakGlass:\n",
            to: "    exec:\n      interactive: shell\n    breakGlass:\n",
            code: Code::UnknownValue,
            severity: E,
            path: "profiles[0].exec.interactive",
            line: 21,
            message: "use one of: deny, record, filter",
        },
        Case {
            name: "exec allow entry that is a path",
            from: "    breakGlass:\n",
            to: "    exec:\n      allow: [ls, /bin/cat]\n    breakGlass:\n",
            code: Code::BadExecCommand,
            severity: E,
            path: "profiles[0].exec.allow[1]",
            line: 21,
            message: "basenames",
        },
        Case {
            name: "exec copy path that is relative",
            from: "    breakGlass:\n",
            to: "    exec:\n      copy:\n        fromPod: [/tmp, var/log]\n    breakGlass:\n",
            code: Code::BadCopyPath,
            severity: E,
            path: "profiles[0].exec.copy.fromPod[1]",
            line: 22,
            message: "\"var/log\" is not a copy path",
        },
        Case {
            name: "an allowed program that runs anything",
            from: "    breakGlass:\n",
            to: "    exec:\n      allow: [ls, less]\n    breakGlass:\n",
            code: Code::RunsAnything,
            severity: W,
            path: "profiles[0].exec.allow[1]",
            line: 21,
            message: "`less` has a shell escape",
        },
        Case {
            name: "tar allowed without exec.copy",
            from: "    breakGlass:\n",
            to: "    exec:\n      allow: [ls, tar]\n    breakGlass:\n",
            code: Code::MissingGuard,
            severity: W,
            path: "profiles[0].exec",
            line: 20,
            message: "kubectl cp may copy any file out of the pods",
        },
        Case {
            name: "exec section on a profile without exec",
            from: "    breakGlass:\n",
            to: "    exec:\n      allow: [ls]\n    breakGlass:\n",
            code: Code::UnusedGuard,
            severity: W,
            path: "profiles[0].exec",
            line: 20,
            message: "never allow pods/exec",
        },
        Case {
            name: "exec without an exec section",
            from: "        resources: [pods, pods/log]\n        verbs: [get, list]\n",
            to: "        resources: [pods, pods/log, pods/exec]\n        verbs: [get, list, create]\n",
            code: Code::MissingGuard,
            severity: W,
            path: "profiles[0]",
            line: 4,
            message: "every command runs",
        },
        Case {
            name: "port-forward without a portForward section",
            from: "        resources: [pods, pods/log]\n        verbs: [get, list]\n",
            to: "        resources: [pods, pods/log, pods/portforward]\n        verbs: [get, list, create]\n",
            code: Code::MissingGuard,
            severity: W,
            path: "profiles[0]",
            line: 4,
            message: "every port of every pod in scope can be forwarded",
        },
        Case {
            name: "ephemeral containers without a debug section",
            from: "        resources: [pods, pods/log]\n        verbs: [get, list]\n",
            to: "        resources: [pods, pods/log]\n        verbs: [get, list]\n      - apiGroups: [\"\"]\n        resources: [pods/ephemeralcontainers]\n        verbs: [patch]\n",
            code: Code::MissingGuard,
            severity: W,
            path: "profiles[0]",
            line: 4,
            message: "kubectl debug may add any image, privileged",
        },
        Case {
            name: "port out of range",
            from: "    breakGlass:\n",
            to: "    portForward:\n      ports: [8080, 70000]\n    breakGlass:\n",
            code: Code::BadPort,
            severity: E,
            path: "profiles[0].portForward.ports[1]",
            line: 21,
            message: "port 70000 is out of range",
        },
        Case {
            name: "backwards port range",
            from: "    breakGlass:\n",
            to: "    portForward:\n      ports:\n        - 8080\n        - \"9100-9000\"\n    breakGlass:\n",
            code: Code::BadPort,
            severity: E,
            path: "profiles[0].portForward.ports[1]",
            line: 23,
            message: "ends below its start",
        },
        Case {
            name: "bad debug image",
            from: "    breakGlass:\n",
            to: "    debug:\n      images: [\"Busybox:1.36\"]\n    breakGlass:\n",
            code: Code::BadImage,
            severity: E,
            path: "profiles[0].debug.images[0]",
            line: 21,
            message: "not an image reference",
        },
        Case {
            name: "image without the required digest",
            from: "    breakGlass:\n",
            to: "    debug:\n      images: [\"busybox:1.36\"]\n      requireDigest: true\n    breakGlass:\n",
            code: Code::ImageWithoutDigest,
            severity: E,
            path: "profiles[0].debug.images[0]",
            line: 21,
            message: "busybox@sha256:<digest>",
        },
        Case {
            name: "unknown capability",
            from: "    breakGlass:\n",
            to: "    debug:\n      images: [\"busybox:1.36\"]\n      capabilities: [NET_ADMN]\n    breakGlass:\n",
            code: Code::UnknownCapability,
            severity: E,
            path: "profiles[0].debug.capabilities[0]",
            line: 22,
            message: "did you mean \"NET_ADMIN\"?",
        },
        Case {
            name: "capability ALL",
            from: "    breakGlass:\n",
            to: "    debug:\n      images: [\"busybox:1.36\"]\n      capabilities: [ALL]\n    breakGlass:\n",
            code: Code::DangerousCapability,
            severity: E,
            path: "profiles[0].debug.capabilities[0]",
            line: 22,
            message: "root on the node",
        },
        Case {
            name: "wrong apiVersion",
            from: "apiVersion: jitgate.dev/v1",
            to: "apiVersion: jitgate.dev/v2",
            code: Code::WrongApiVersion,
            severity: E,
            path: "apiVersion",
            line: 1,
            message: "set `apiVersion: jitgate.dev/v1`",
        },
        Case {
            name: "wrong kind",
            from: "kind: Policy",
            to: "kind: Policies",
            code: Code::WrongKind,
            severity: E,
            path: "kind",
            line: 2,
            message: "`kind: Policy`",
        },
        Case {
            name: "plain http webhook",
            from: "url: https://example.com/hook",
            to: "url: http://example.com/hook",
            code: Code::InsecureUrl,
            severity: E,
            path: "notifications[0].webhook.url",
            line: 33,
            message: "use https",
        },
        Case {
            name: "unsigned webhook",
            from: "      secretEnv: HOOK_SECRET\n",
            to: "",
            code: Code::UnsignedWebhook,
            severity: W,
            path: "notifications[0].webhook",
            line: 32,
            message: "not HMAC-signed",
        },
        Case {
            name: "secret in place of its variable name",
            from: "secretEnv: HOOK_SECRET",
            to: "secretEnv: s3cr3t-value!",
            code: Code::BadEnvName,
            severity: E,
            path: "notifications[0].webhook.secretEnv",
            line: 34,
            message: "name the variable, not the secret",
        },
        Case {
            name: "yaml syntax error",
            from: "verbs: [get, list]",
            to: "verbs: [get, list",
            code: Code::YamlSyntax,
            severity: E,
            path: "profiles[0].rules[0].verbs",
            line: 9,
            message: "fix the YAML syntax",
        },
        Case {
            name: "alias",
            from: "      namespaces: [payments]\n",
            to: "      namespaces: &ns [payments]\n      podNames: *ns\n",
            code: Code::AliasNotSupported,
            severity: E,
            path: "profiles[0].scope.podNames",
            line: 11,
            message: "write the value out",
        },
        Case {
            name: "requestable profile without durations",
            from: "    defaultDuration: 30m\n",
            to: "",
            code: Code::MissingDuration,
            severity: E,
            path: "profiles[0]",
            line: 4,
            message: "has no defaultDuration",
        },
        Case {
            name: "break glass nobody may use",
            from: "    requesters: [oncall, sre]\n    approval:\n      autoApprove:\n        groups: [oncall]\n        onlyWhileOnCall: primary\n      approvals: 1\n      approverGroups: [leads]\n",
            to: "",
            code: Code::BreakGlassNobody,
            severity: E,
            path: "profiles[0].breakGlass",
            line: 13,
            message: "nobody may use it",
        },
        Case {
            name: "notification with both kinds",
            from: "    webhook:\n",
            to: "    slack: {url: https://example.com/slack}\n    webhook:\n",
            code: Code::BadNotification,
            severity: E,
            path: "notifications[0]",
            line: 31,
            message: "exactly one of",
        },
        Case {
            name: "URL without a scheme",
            from: "url: https://example.com/hook",
            to: "url: example.com/hook",
            code: Code::BadUrl,
            severity: E,
            path: "notifications[0].webhook.url",
            line: 33,
            message: "start it with https://",
        },
        Case {
            name: "group with trailing space",
            from: "requesters: [oncall, sre]",
            to: "requesters: [oncall, \"sre \"]",
            code: Code::BadGroup,
            severity: E,
            path: "profiles[0].requesters[1]",
            line: 13,
            message: "no leading or trailing spaces",
        },
        Case {
            name: "standing access for no group",
            from: "    groups: [sre]\n",
            to: "    groups: []\n",
            code: Code::EmptyGroups,
            severity: E,
            path: "standing[0].groups",
            line: 25,
            message: "nobody holds this access",
        },
        Case {
            name: "empty deny pattern",
            from: "    breakGlass:\n",
            to: "    exec:\n      deny: [\"  \"]\n    breakGlass:\n",
            code: Code::BadExecPattern,
            severity: E,
            path: "profiles[0].exec.deny[0]",
            line: 21,
            message: "not a deny pattern",
        },
        Case {
            name: "node-root capability is a warning",
            from: "    breakGlass:\n",
            to: "    debug:\n      images: [\"busybox:1.36\"]\n      capabilities: [SYS_ADMIN]\n    breakGlass:\n",
            code: Code::DangerousCapability,
            severity: W,
            path: "profiles[0].debug.capabilities[0]",
            line: 22,
            message: "root on the node",
        },
        Case {
            name: "capability with CAP_ prefix",
            from: "    breakGlass:\n",
            to: "    debug:\n      images: [\"busybox:1.36\"]\n      capabilities: [CAP_NET_ADMIN]\n    breakGlass:\n",
            code: Code::UnknownCapability,
            severity: E,
            path: "profiles[0].debug.capabilities[0]",
            line: 22,
            message: "write \"NET_ADMIN\"",
        },
        Case {
            name: "unsupported tag",
            from: "maxDuration: 4h",
            to: "maxDuration: !duration 4h",
            code: Code::UnsupportedTag,
            severity: E,
            path: "profiles[0].maxDuration",
            line: 12,
            message: "tag !duration is not supported",
        },
    ];
    let mut codes = std::collections::BTreeSet::new();
    for case in &cases {
        assert_eq!(
            BASE.matches(case.from).count(),
            1,
            "{}: {:?} must occur once in BASE",
            case.name,
            case.from
        );
        let text = BASE.replacen(case.from, case.to, 1);
        let found = lint(&text);
        let Some(d) = found.iter().find(|d| d.code == case.code) else {
            panic!("{}: no {} among {found:#?}", case.name, case.code);
        };
        assert_eq!(
            (d.severity, d.path.as_str(), d.line),
            (case.severity, case.path, case.line),
            "{}: {d:?}",
            case.name
        );
        assert!(
            d.message.contains(case.message),
            "{}: {:?} does not contain {:?}",
            case.name,
            d.message,
            case.message
        );
        if case.severity == Severity::Error {
            assert!(
                Policy::parse(&text).is_err(),
                "{}: must not load",
                case.name
            );
        } else {
            assert!(
                Policy::parse(&text).is_ok(),
                "{}: a warning must not stop loading",
                case.name
            );
        }
        codes.insert(case.code);
    }
    assert!(codes.len() >= 60, "{} distinct codes tested", codes.len());
}

#[test]
fn columns_point_at_the_value() {
    let text = BASE.replacen("maxDuration: 4h", "maxDuration: 4x", 1);
    let d = &lint(&text)[0];
    assert_eq!((d.line, d.column), (12, 18));
    assert_eq!(
        d.render("policy.yaml"),
        "policy.yaml:12:18: error[bad-duration] profiles[0].maxDuration: \"4x\" is not a \
         duration: 'x' is not a unit (use d, h, m or s); write e.g. 30m, 4h, 1h30m or 90s"
    );
}

#[test]
fn wildcards_are_accepted_on_a_deliberate_admin_profile() {
    let text = BASE
        .replacen(
            "  - name: debug\n",
            "  - name: debug\n    allowWildcards: true\n",
            1,
        )
        .replacen("verbs: [get, list]", "verbs: ['*']", 1);
    let found = lint(&text);
    assert!(
        !found.iter().any(|d| d.code == Code::Wildcard),
        "{found:#?}"
    );
}

#[test]
fn type_errors_in_several_profiles_are_all_reported() {
    let text = BASE
        .replacen("approvals: 1", "approvals: one", 1)
        .replacen(
            "standing:\n",
            "  - name: other\n    rules: []\n    scope: {namespaces: [payments]}\n    colour: blue\nstanding:\n",
            1,
        )
        .replacen("    groups: [sre]\n", "    groups: sre\n", 1);
    let found: Vec<(Code, String, usize)> = lint(&text)
        .into_iter()
        .map(|d| (d.code, d.path, d.line))
        .collect();
    let expected = [
        (Code::WrongType, "profiles[0].approval.approvals", 18),
        (Code::UnknownField, "profiles[1].colour", 26),
        (Code::WrongType, "standing[0].groups", 29),
    ]
    .map(|(c, p, l)| (c, p.to_owned(), l));
    assert_eq!(found, expected);
}

#[test]
fn semantic_errors_are_all_reported_at_once() {
    let text = BASE
        .replacen("verbs: [get, list]", "verbs: [get, lsit]", 1)
        .replacen("maxDuration: 4h", "maxDuration: 4x", 1)
        .replacen("approvals: 1", "approvals: 9", 1);
    let lines: Vec<(usize, Code)> = lint(&text).iter().map(|d| (d.line, d.code)).collect();
    assert_eq!(
        lines,
        [
            (8, Code::UnknownVerb),
            (12, Code::BadDuration),
            (18, Code::TooManyApprovals)
        ]
    );
}

#[test]
fn json_policies_get_lines_too() {
    let json = r#"{
  "apiVersion": "jitgate.dev/v1",
  "kind": "Policy",
  "profiles": [
    {
      "name": "debug",
      "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "destroy"]}],
      "scope": {"namespaces": ["payments"]}
    }
  ]
}"#;
    let found = lint(json);
    let d = found
        .iter()
        .find(|d| d.code == Code::UnknownVerb)
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert_eq!(
        (d.path.as_str(), d.line),
        ("profiles[0].rules[0].verbs[1]", 7)
    );
}

#[test]
fn the_shipped_policy_is_clean_and_has_the_promised_profiles() {
    let policy = Policy::embedded_default();
    assert!(policy.warnings().is_empty(), "{:#?}", policy.warnings());
    let debug = policy.profiles().get("oncall-debug").unwrap();
    assert_eq!(
        debug,
        &jitgate_authz::Profile {
            description: debug.description.clone(),
            ..jitgate_authz::Profile::oncall_debug()
        }
    );
    let read_only = policy.profiles().get("read-only").unwrap();
    assert_eq!(read_only.rules.len(), 3);
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/policy.yaml"
    ))
    .unwrap();
    assert_eq!(text, jitgate_policy::EMBEDDED_DEFAULT);
}

mod robustness {
    use proptest::prelude::*;

    use super::{BASE, Policy};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary text never panics the lint, and every finding has a position.
        #[test]
        fn arbitrary_text_is_linted_without_panicking(text in "\\PC{0,300}") {
            for d in Policy::lint(&text).diagnostics {
                prop_assert!(d.line >= 1 && d.column >= 1, "{d:?}");
            }
        }

        /// Cutting and splicing the valid policy never panics, and whatever still loads has
        /// profiles the gateway accepts.
        #[test]
        fn damaged_policies_are_linted_without_panicking(
            start in 0usize..BASE.len(),
            len in 0usize..40,
            insert in "[ \\-:\\[\\]{}\"'#*&!|>a-z0-9\n]{0,12}",
        ) {
            let start = (0..=start).rev().find(|&i| BASE.is_char_boundary(i)).unwrap_or(0);
            let end = (start + len).min(BASE.len());
            let end = (end..=BASE.len()).find(|&i| BASE.is_char_boundary(i)).unwrap_or(BASE.len());
            let text = format!("{}{}{}", &BASE[..start], insert, &BASE[end..]);
            let lint = Policy::lint(&text);
            if let Some(policy) = lint.policy {
                prop_assert!(!jitgate_policy::has_errors(&lint.diagnostics));
                prop_assert_eq!(policy.profiles().len(), policy.document().profiles.len());
            }
        }
    }
}
