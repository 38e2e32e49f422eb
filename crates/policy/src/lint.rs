//! The semantic checks of `jitgate policy lint`: everything the types alone cannot say, each
//! finding pointed at the YAML path and line of the offending node.

use std::collections::{BTreeMap, BTreeSet};

use jitgate_authz::{LabelSelector, MAX_GLOB_LEN, Rule, STREAMING_SUBRESOURCES};

use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::duration::{DurationProblem, format_duration, parse_duration};
use crate::kube::{
    CAPABILITIES, ESCALATION_VERBS, NODE_ROOT_CAPABILITIES, REQUEST_VERBS, SECRET_RESOURCES,
    group_resources, groups_serving,
};
use crate::model::{
    API_VERSION, ApprovalSpec, BreakGlassSpec, CopySpec, DebugSpec, ExecSpec, KIND,
    NotificationSpec, PolicyDocument, PortForwardSpec, ProfileSpec, RuleSpec, ScheduleSpec,
    ScopeSpec, StandingSpec,
};
use crate::yaml::{SourceMap, display_path, join_index, join_key};

/// Most approvals a profile may require: more is a policy nobody can satisfy at 2 AM.
pub const MAX_APPROVALS: u32 = 5;

/// Longest group name accepted.
pub const MAX_GROUP_LEN: usize = 256;

/// Collects findings, each located through the source map.
pub(crate) struct Linter<'a> {
    map: &'a SourceMap,
    pub(crate) out: Vec<Diagnostic>,
}

impl<'a> Linter<'a> {
    pub(crate) fn new(map: &'a SourceMap) -> Self {
        Self {
            map,
            out: Vec::new(),
        }
    }

    fn push(&mut self, severity: Severity, code: Code, path: &str, message: String) {
        let pos = self.map.locate(path);
        self.out.push(Diagnostic {
            severity,
            code,
            path: display_path(path),
            line: pos.line,
            column: pos.column,
            message,
        });
    }

    pub(crate) fn error(&mut self, code: Code, path: &str, message: String) {
        self.push(Severity::Error, code, path, message);
    }

    fn warn(&mut self, code: Code, path: &str, message: String) {
        self.push(Severity::Warning, code, path, message);
    }

    /// Like [`Self::error`], but at the key of `path` (for a key that should not be there).
    pub(crate) fn error_at_key(&mut self, code: Code, path: &str, message: String) {
        let pos = self.map.locate_key(path);
        self.out.push(Diagnostic {
            severity: Severity::Error,
            code,
            path: display_path(path),
            line: pos.line,
            column: pos.column,
            message,
        });
    }
}

/// Names defined elsewhere in the document, for cross-references.
struct Names<'d> {
    schedules: BTreeSet<&'d str>,
    notifications: BTreeSet<&'d str>,
    profiles: BTreeMap<&'d str, &'d ProfileSpec>,
    standing_profiles: BTreeSet<&'d str>,
}

/// Runs every semantic check on a document that has the right types.
pub(crate) fn lint_document(doc: &PolicyDocument, linter: &mut Linter<'_>) {
    if doc.api_version != API_VERSION {
        linter.error(
            Code::WrongApiVersion,
            "apiVersion",
            format!(
                "apiVersion is {:?}; this jitgate reads {API_VERSION:?}: set `apiVersion: \
                 {API_VERSION}`",
                doc.api_version
            ),
        );
    }
    if doc.kind != KIND {
        linter.error(
            Code::WrongKind,
            "kind",
            format!("kind is {:?}; a policy file has `kind: {KIND}`", doc.kind),
        );
    }
    let names = Names {
        schedules: unique_names(
            linter,
            "schedules",
            "schedule",
            doc.schedules.iter().map(|s| s.name.as_str()),
        ),
        notifications: unique_names(
            linter,
            "notifications",
            "notification",
            doc.notifications.iter().map(|n| n.name.as_str()),
        ),
        profiles: {
            let valid = unique_names(
                linter,
                "profiles",
                "profile",
                doc.profiles.iter().map(|p| p.name.as_str()),
            );
            let mut by_name = BTreeMap::new();
            for p in doc
                .profiles
                .iter()
                .filter(|p| valid.contains(p.name.as_str()))
            {
                by_name.entry(p.name.as_str()).or_insert(p);
            }
            by_name
        },
        standing_profiles: doc.standing.iter().map(|s| s.profile.as_str()).collect(),
    };
    for (i, schedule) in doc.schedules.iter().enumerate() {
        lint_schedule(linter, &join_index("schedules", i), schedule);
    }
    for (i, notification) in doc.notifications.iter().enumerate() {
        lint_notification(linter, &join_index("notifications", i), notification);
    }
    for (i, profile) in doc.profiles.iter().enumerate() {
        lint_profile(linter, &join_index("profiles", i), profile, &names);
    }
    for (i, standing) in doc.standing.iter().enumerate() {
        lint_standing(linter, &join_index("standing", i), standing, &names);
    }
    let used: BTreeSet<&str> = doc
        .profiles
        .iter()
        .filter_map(|p| {
            p.approval
                .as_ref()?
                .auto_approve
                .as_ref()?
                .only_while_on_call
                .as_deref()
        })
        .collect();
    for (i, schedule) in doc.schedules.iter().enumerate() {
        if !used.contains(schedule.name.as_str()) {
            linter.warn(
                Code::UnusedSchedule,
                &join_key(&join_index("schedules", i), "name"),
                format!(
                    "schedule {:?} is not used by any profile's autoApprove.onlyWhileOnCall; \
                     use it or remove it",
                    schedule.name
                ),
            );
        }
    }
}

/// Checks names are DNS-1123 labels and unique; returns the valid ones (a duplicate is
/// reported once, and references to it still resolve, to its first definition).
fn unique_names<'d>(
    linter: &mut Linter<'_>,
    section: &str,
    what: &str,
    names: impl Iterator<Item = &'d str>,
) -> BTreeSet<&'d str> {
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, name) in names.enumerate() {
        let path = join_key(&join_index(section, i), "name");
        if !is_dns1123_label(name) {
            linter.error(
                Code::BadName,
                &path,
                format!(
                    "{what} name {name:?} is invalid: use up to 63 lowercase letters, digits and \
                     '-', starting and ending with a letter or digit (e.g. {:?})",
                    suggest_label(name)
                ),
            );
            continue;
        }
        match first.get(name) {
            Some(&at) => {
                linter.error(
                    Code::DuplicateName,
                    &path,
                    format!(
                        "{what} {name:?} is already defined at {section}[{at}]; rename one or \
                         merge them"
                    ),
                );
            }
            None => {
                first.insert(name, i);
            }
        }
    }
    first.into_keys().collect()
}

fn suggest_label(name: &str) -> String {
    let lowered: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let trimmed = lowered.trim_matches('-');
    if trimmed.is_empty() {
        "my-profile".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// RFC 1123 label: at most 63 lowercase alphanumerics and `-`, alphanumeric at both ends.
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether a namespace entry is a valid exact name or glob.
pub(crate) fn is_namespace_pattern(s: &str) -> bool {
    if s.contains(['*', '?']) {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-*?".contains(&b))
    } else {
        is_dns1123_label(s)
    }
}

/// Whether a pod-name glob has only characters a pod name can have (as `jitgate_authz::Grant`).
pub(crate) fn is_pod_glob(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_GLOB_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.*?".contains(&b))
}

/// The closest candidate within two edits, for "did you mean".
fn suggest<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn did_you_mean<'c>(word: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    suggest(word, candidates).map_or_else(String::new, |c| format!(" (did you mean {c:?}?)"))
}

/// Levenshtein distance, for short words.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

fn check_group(linter: &mut Linter<'_>, path: &str, group: &str) {
    if group.trim().is_empty()
        || group.len() > MAX_GROUP_LEN
        || group.trim() != group
        || group.chars().any(char::is_control)
    {
        linter.error(
            Code::BadGroup,
            path,
            format!(
                "{group:?} is not a group name: use the group as your identity provider sends it \
                 (1 to {MAX_GROUP_LEN} characters, no leading or trailing spaces)"
            ),
        );
    } else if group.starts_with("system:") || group.starts_with("jitgate:") {
        linter.error(
            Code::ReservedGroup,
            path,
            format!(
                "group {group:?} is reserved: `system:` groups are asserted by Kubernetes and \
                 `jitgate:` groups only by the gateway; name a group from your identity provider"
            ),
        );
    }
}

fn check_groups(linter: &mut Linter<'_>, path: &str, groups: &[String]) {
    for (k, group) in groups.iter().enumerate() {
        check_group(linter, &join_index(path, k), group);
    }
}

/// Parses and reports a duration; `None` if absent or invalid.
fn check_duration(
    linter: &mut Linter<'_>,
    path: &str,
    text: Option<&str>,
) -> Option<std::time::Duration> {
    match parse_duration(text?) {
        Ok(d) => Some(d),
        Err(DurationProblem::Syntax(message)) => {
            linter.error(Code::BadDuration, path, message);
            None
        }
        Err(DurationProblem::OutOfRange(message)) => {
            linter.error(Code::DurationOutOfRange, path, message);
            None
        }
    }
}

fn check_notify(linter: &mut Linter<'_>, path: &str, notify: &[String], names: &Names<'_>) {
    for (k, name) in notify.iter().enumerate() {
        if !names.notifications.contains(name.as_str()) {
            let known = names.notifications.iter().copied().collect::<Vec<_>>();
            linter.error(
                Code::UnknownNotification,
                &join_index(path, k),
                format!(
                    "no notification is named {name:?}{}; define it under `notifications` or \
                     fix the name",
                    did_you_mean(name, known)
                ),
            );
        }
    }
}

fn to_authz_rules(rules: &[RuleSpec]) -> Vec<Rule> {
    rules
        .iter()
        .map(|r| Rule {
            api_groups: r.api_groups.clone(),
            resources: r.resources.clone(),
            verbs: r.verbs.clone(),
        })
        .collect()
}

fn grants(rules: &[Rule], resource: &str, subresource: &str, verb: &str) -> bool {
    rules
        .iter()
        .any(|r| r.covers_verb(verb) && r.covers_resource("", resource, subresource))
}

fn lint_profile(linter: &mut Linter<'_>, path: &str, profile: &ProfileSpec, names: &Names<'_>) {
    let wildcards_ok = profile.allow_wildcards;
    if profile.rules.is_empty() {
        linter.error(
            Code::EmptyRules,
            &join_key(path, "rules"),
            format!(
                "profile {:?} has no rules, so it grants nothing; add rules (see \
                 examples/policy.yaml) or remove the profile",
                profile.name
            ),
        );
    }
    for (j, rule) in profile.rules.iter().enumerate() {
        lint_rule(
            linter,
            &join_index(&join_key(path, "rules"), j),
            rule,
            wildcards_ok,
        );
    }
    let rules = to_authz_rules(&profile.rules);
    lint_streaming(linter, path, profile, &rules);
    lint_scope(
        linter,
        &join_key(path, "scope"),
        &profile.scope,
        wildcards_ok,
    );

    let default = check_duration(
        linter,
        &join_key(path, "defaultDuration"),
        profile.default_duration.as_deref(),
    );
    let max = check_duration(
        linter,
        &join_key(path, "maxDuration"),
        profile.max_duration.as_deref(),
    );
    if let (Some(default), Some(max)) = (default, max)
        && default > max
    {
        linter.error(
            Code::DefaultAboveMax,
            &join_key(path, "defaultDuration"),
            format!(
                "defaultDuration {} is longer than maxDuration {}; lower defaultDuration or \
                     raise maxDuration",
                format_duration(default),
                format_duration(max)
            ),
        );
    }

    let break_glass_allowed = profile.break_glass.as_ref().is_some_and(|b| b.allowed);
    let requestable = !profile.requesters.is_empty() || break_glass_allowed;
    if requestable {
        for (field, value) in [
            ("maxDuration", &profile.max_duration),
            ("defaultDuration", &profile.default_duration),
        ] {
            if value.is_none() {
                linter.error(
                    Code::MissingDuration,
                    path,
                    format!(
                        "profile {:?} can be requested but has no {field}; add e.g. `{field}: {}`",
                        profile.name,
                        if field == "maxDuration" { "4h" } else { "30m" }
                    ),
                );
            }
        }
    }
    check_groups(linter, &join_key(path, "requesters"), &profile.requesters);
    if !requestable && !names.standing_profiles.contains(profile.name.as_str()) {
        linter.warn(
            Code::UnrequestableProfile,
            &join_key(path, "name"),
            format!(
                "nobody can get profile {:?}: it has no requesters, no break glass and no \
                 standing access, so only an admin's `jitgate grant create` hands it out; add \
                 requesters or remove the profile",
                profile.name
            ),
        );
    }

    let approval_path = join_key(path, "approval");
    match &profile.approval {
        None if !profile.requesters.is_empty() => linter.error(
            Code::MissingApproval,
            path,
            format!(
                "profile {:?} has requesters but no approval section; add `approval: \
                 {{approvals: 1, approverGroups: [...]}}`",
                profile.name
            ),
        ),
        None => {}
        Some(approval) => lint_approval(linter, &approval_path, profile, approval, names),
    }
    if let Some(break_glass) = &profile.break_glass {
        lint_break_glass(
            linter,
            &join_key(path, "breakGlass"),
            profile,
            break_glass,
            max,
            names,
        );
    }
    check_notify(linter, &join_key(path, "notify"), &profile.notify, names);
    if let Some(exec) = &profile.exec {
        lint_exec(linter, &join_key(path, "exec"), exec);
        if !grants(&rules, "pods", "exec", "create") {
            linter.warn(
                Code::UnusedGuard,
                &join_key(path, "exec"),
                "the rules never allow pods/exec (get and create), so this exec section is \
                 never used; grant pods/exec or remove the section"
                    .to_owned(),
            );
        }
    }
    if let Some(port_forward) = &profile.port_forward {
        lint_port_forward(linter, &join_key(path, "portForward"), port_forward);
        if !grants(&rules, "pods", "portforward", "create") {
            linter.warn(
                Code::UnusedGuard,
                &join_key(path, "portForward"),
                "the rules never allow pods/portforward (get and create), so this portForward \
                 section is never used; grant pods/portforward or remove the section"
                    .to_owned(),
            );
        }
    }
    if profile.exec.is_none() && grants(&rules, "pods", "exec", "create") {
        linter.warn(
            Code::MissingGuard,
            path,
            "the rules allow pods/exec but the profile has no exec section, so every command \
             runs; add `exec: {allow: [...], deny: [...]}` with the commands people debug with"
                .to_owned(),
        );
    }
    if profile.port_forward.is_none() && grants(&rules, "pods", "portforward", "create") {
        linter.warn(
            Code::MissingGuard,
            path,
            "the rules allow pods/portforward but the profile has no portForward section, so \
             every port of every pod in scope can be forwarded; add `portForward: {ports: \
             [...]}` with the ports people debug through"
                .to_owned(),
        );
    }
    if profile.debug.is_none()
        && (grants(&rules, "pods", "ephemeralcontainers", "patch")
            || grants(&rules, "pods", "ephemeralcontainers", "update"))
    {
        linter.warn(
            Code::MissingGuard,
            path,
            "the rules allow adding ephemeral containers but the profile has no debug section, \
             so kubectl debug may add any image, privileged, with any capability; add `debug: \
             {images: [...], capabilities: [...]}`"
                .to_owned(),
        );
    }
    if let Some(debug) = &profile.debug {
        lint_debug(linter, &join_key(path, "debug"), debug);
        if !grants(&rules, "pods", "ephemeralcontainers", "patch")
            && !grants(&rules, "pods", "ephemeralcontainers", "update")
        {
            linter.warn(
                Code::UnusedGuard,
                &join_key(path, "debug"),
                "the rules never allow patching pods/ephemeralcontainers, so this debug section \
                 is never used; grant pods/ephemeralcontainers patch or remove the section"
                    .to_owned(),
            );
        }
    }
}

fn wildcard_message(what: &str) -> String {
    format!(
        "`*` in {what} grants everything, including secrets and resources added later; list \
         exactly what the profile needs, or set `allowWildcards: true` on a deliberate admin \
         profile"
    )
}

fn lint_rule(linter: &mut Linter<'_>, path: &str, rule: &RuleSpec, wildcards_ok: bool) {
    for (field, list) in [
        ("apiGroups", &rule.api_groups),
        ("resources", &rule.resources),
        ("verbs", &rule.verbs),
    ] {
        if list.is_empty() {
            linter.error(
                Code::EmptyRuleField,
                &join_key(path, field),
                format!(
                    "{field} is empty, so this rule matches nothing; list at least one{}",
                    if field == "apiGroups" {
                        " (\"\" is the core group of pods and events)"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
    let groups_path = join_key(path, "apiGroups");
    let mut any_group_wildcard = false;
    let mut any_group_unknown = false;
    for (k, group) in rule.api_groups.iter().enumerate() {
        if group == "*" {
            any_group_wildcard = true;
            if !wildcards_ok {
                linter.error(
                    Code::Wildcard,
                    &join_index(&groups_path, k),
                    wildcard_message("apiGroups"),
                );
            }
        } else if group_resources(group).is_none() {
            any_group_unknown = true;
            linter.warn(
                Code::UnknownApiGroup,
                &join_index(&groups_path, k),
                format!(
                    "API group {group:?} is not a built-in Kubernetes group{}; fine for a \
                     custom resource, otherwise fix the spelling",
                    did_you_mean(
                        group,
                        crate::kube::BUILTIN_RESOURCES.iter().map(|(g, _)| *g)
                    )
                ),
            );
        }
    }
    let verbs_path = join_key(path, "verbs");
    for (k, verb) in rule.verbs.iter().enumerate() {
        let at = join_index(&verbs_path, k);
        if verb == "*" {
            if !wildcards_ok {
                linter.error(Code::Wildcard, &at, wildcard_message("verbs"));
            }
        } else if ESCALATION_VERBS.contains(&verb.as_str()) || verb.starts_with("impersonate") {
            linter.error(
                Code::EscalationVerb,
                &at,
                format!(
                    "verb {verb:?} lets the holder gain more than the profile says (bind or \
                     escalate roles, act as someone else, approve or sign certificates); \
                     jitgate profiles never grant it: remove it"
                ),
            );
        } else if !REQUEST_VERBS.contains(&verb.as_str()) {
            linter.error(
                Code::UnknownVerb,
                &at,
                format!(
                    "{verb:?} is not a Kubernetes verb{}; use {}",
                    did_you_mean(verb, REQUEST_VERBS),
                    REQUEST_VERBS.join(", ")
                ),
            );
        }
    }
    let resources_path = join_key(path, "resources");
    for (k, resource) in rule.resources.iter().enumerate() {
        let at = join_index(&resources_path, k);
        lint_resource(
            linter,
            &at,
            resource,
            rule,
            wildcards_ok,
            any_group_wildcard,
            any_group_unknown,
        );
    }
}

fn lint_resource(
    linter: &mut Linter<'_>,
    at: &str,
    resource: &str,
    rule: &RuleSpec,
    wildcards_ok: bool,
    any_group_wildcard: bool,
    any_group_unknown: bool,
) {
    if resource.contains('*') {
        if resource.ends_with("/*") && resource != "*/*" {
            let base = resource.trim_end_matches("/*");
            let subs: Vec<&str> = rule
                .api_groups
                .iter()
                .filter_map(|g| group_resources(g))
                .flatten()
                .filter(|r| r.starts_with(&format!("{base}/")))
                .copied()
                .collect();
            linter.error(
                Code::BadResource,
                at,
                format!(
                    "{resource:?} is not RBAC syntax (a subresource cannot be `*`); list the \
                     subresources you need{}",
                    if subs.is_empty() {
                        String::new()
                    } else {
                        format!(", e.g. {}", subs.join(", "))
                    }
                ),
            );
        } else if !wildcards_ok {
            linter.error(Code::Wildcard, at, wildcard_message("resources"));
        }
        return;
    }
    let well_formed = !resource.is_empty()
        && resource.matches('/').count() <= 1
        && !resource.starts_with('/')
        && !resource.ends_with('/')
        && resource
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"./-".contains(&b));
    if !well_formed {
        linter.error(
            Code::BadResource,
            at,
            format!(
                "{resource:?} is not a resource name: resources are lowercase plurals \
                 (`pods`), subresources `resource/sub` (`pods/log`)"
            ),
        );
        return;
    }
    if SECRET_RESOURCES.contains(&resource) {
        linter.error(
            Code::SecretAccess,
            at,
            format!(
                "{resource:?} hands out credentials (secret values or service-account tokens); a \
                 debugging profile must not read them: remove it"
            ),
        );
        return;
    }
    if any_group_wildcard || any_group_unknown {
        return; // a custom resource may be anything
    }
    let known = rule
        .api_groups
        .iter()
        .filter_map(|g| group_resources(g))
        .any(|resources| resources.contains(&resource));
    if known {
        return;
    }
    let group_names = rule
        .api_groups
        .iter()
        .map(|g| {
            if g.is_empty() {
                "the core group \"\"".to_owned()
            } else {
                format!("{g:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let elsewhere = groups_serving(resource);
    let hint = if !elsewhere.is_empty() {
        let where_ = elsewhere
            .iter()
            .map(|g| format!("{g:?}"))
            .collect::<Vec<_>>()
            .join(" or ");
        format!("it is served by API group {where_}: put it in a rule with that apiGroup")
    } else {
        let candidates: Vec<&str> = rule
            .api_groups
            .iter()
            .filter_map(|g| group_resources(g))
            .flatten()
            .copied()
            .collect();
        match suggest(resource, candidates) {
            Some(c) => format!("did you mean {c:?}?"),
            None => "check the spelling (`kubectl api-resources` lists them)".to_owned(),
        }
    };
    linter.error(
        Code::UnknownResource,
        at,
        format!("{resource:?} is not a resource of {group_names}; {hint}"),
    );
}

/// Streaming subresources need both `get` and `create` (WebSocket GET from kubectl ≥ 1.30,
/// `create` checked by kube-apiserver ≥ 1.35).
fn lint_streaming(linter: &mut Linter<'_>, path: &str, profile: &ProfileSpec, rules: &[Rule]) {
    for sub in STREAMING_SUBRESOURCES {
        let Some((_, name)) = sub.split_once('/') else {
            continue;
        };
        let get = grants(rules, "pods", name, "get");
        let create = grants(rules, "pods", name, "create");
        if get == create {
            continue;
        }
        let at = profile
            .rules
            .iter()
            .position(|r| r.resources.iter().any(|x| x == sub))
            .map_or_else(
                || join_key(path, "rules"),
                |j| join_key(&join_index(&join_key(path, "rules"), j), "verbs"),
            );
        let (has, lacks) = if get {
            ("get", "create")
        } else {
            ("create", "get")
        };
        linter.warn(
            Code::StreamingVerbs,
            &at,
            format!(
                "{sub} is granted {has} but not {lacks}: kubectl ≥ 1.30 opens it with a \
                 WebSocket GET and kube-apiserver ≥ 1.35 also checks create; grant both"
            ),
        );
    }
}

fn lint_scope(linter: &mut Linter<'_>, path: &str, scope: &ScopeSpec, wildcards_ok: bool) {
    let namespaces_path = join_key(path, "namespaces");
    if scope.namespaces.is_empty() {
        linter.error(
            Code::EmptyNamespaceScope,
            &namespaces_path,
            "scope.namespaces is empty, so the profile can be used nowhere; list namespaces \
             (`payments`) or globs (`team-*`)"
                .to_owned(),
        );
    }
    for (k, namespace) in scope.namespaces.iter().enumerate() {
        let at = join_index(&namespaces_path, k);
        if namespace == "*" {
            if !wildcards_ok {
                linter.error(
                    Code::Wildcard,
                    &at,
                    "namespace `*` includes kube-system and every namespace created later; list \
                     namespaces or narrower globs (`team-*`), or set `allowWildcards: true` on a \
                     deliberate admin profile"
                        .to_owned(),
                );
            }
        } else if !is_namespace_pattern(namespace) {
            linter.error(
                Code::BadNamespace,
                &at,
                format!(
                    "{namespace:?} cannot match a namespace: namespaces are up to 63 lowercase \
                     letters, digits and '-'; a glob may also use '*' and '?'"
                ),
            );
        }
    }
    for (field, selector) in [
        ("namespaceSelector", &scope.namespace_selector),
        ("podSelector", &scope.pod_selector),
    ] {
        if let Some(selector) = selector
            && let Err(e) = LabelSelector::parse(selector)
        {
            linter.error(
                Code::BadLabelSelector,
                &join_key(path, field),
                format!(
                    "{}: {}; write e.g. `team=payments` or `app in (api,web),!canary`",
                    field, e.reason
                ),
            );
        }
    }
    let pods_path = join_key(path, "podNames");
    for (k, glob) in scope.pod_names.iter().enumerate() {
        if !is_pod_glob(glob) {
            linter.error(
                Code::BadPodGlob,
                &join_index(&pods_path, k),
                format!(
                    "pod-name glob {glob:?} is invalid: use lowercase letters, digits, '-', '.', \
                     '*' and '?', at most {MAX_GLOB_LEN} characters (e.g. `api-*`)"
                ),
            );
        }
    }
}

fn lint_approval(
    linter: &mut Linter<'_>,
    path: &str,
    profile: &ProfileSpec,
    approval: &ApprovalSpec,
    names: &Names<'_>,
) {
    let approvals_path = join_key(path, "approvals");
    let approvers_path = join_key(path, "approverGroups");
    check_groups(linter, &approvers_path, &approval.approver_groups);
    let approver_groups: BTreeSet<&str> = approval
        .approver_groups
        .iter()
        .map(String::as_str)
        .collect();
    if approval.approvals == 0 {
        linter.error(
            Code::ZeroApprovals,
            &approvals_path,
            "approvals is 0, which would approve every requester without a person; use \
             `autoApprove.groups` for that, or require at least 1 approval"
                .to_owned(),
        );
    } else if approval.approvals > MAX_APPROVALS {
        linter.error(
            Code::TooManyApprovals,
            &approvals_path,
            format!(
                "approvals is {}; at most {MAX_APPROVALS} are allowed, since nobody gathers \
                 more at 2 AM",
                approval.approvals
            ),
        );
    }
    if approval.approvals > 0 && approver_groups.is_empty() {
        linter.error(
            Code::NoApprovers,
            &approvers_path,
            format!(
                "approvals is {} but approverGroups is empty, so no request can ever be \
                 approved; list the groups whose members approve",
                approval.approvals
            ),
        );
    } else if approval.distinct_groups
        && usize::try_from(approval.approvals).unwrap_or(usize::MAX) > approver_groups.len()
    {
        linter.error(
            Code::ApprovalsExceedApprovers,
            &approvals_path,
            format!(
                "approvals is {} with distinctGroups: true, but there are only {} approver \
                 group(s), so the approvals can never be gathered; lower approvals or add \
                 approver groups",
                approval.approvals,
                approver_groups.len()
            ),
        );
    }
    let requesters: BTreeSet<&str> = profile.requesters.iter().map(String::as_str).collect();
    if approval.approvals >= 1 && approver_groups.len() == 1 && requesters == approver_groups {
        let group = approver_groups.first().copied().unwrap_or_default();
        linter.warn(
            Code::LoneApproverGroup,
            &approvers_path,
            format!(
                "the only approver group is the only requester group {group:?}: requesters \
                 never approve themselves, so a member alone in {group:?} can never be \
                 approved; add another approver group"
            ),
        );
    }
    if let Some(auto) = &approval.auto_approve {
        let auto_path = join_key(path, "autoApprove");
        let groups_path = join_key(&auto_path, "groups");
        if auto.groups.is_empty() {
            linter.error(
                Code::EmptyGroups,
                &groups_path,
                "autoApprove.groups is empty, so autoApprove never applies; list groups or \
                 remove autoApprove"
                    .to_owned(),
            );
        }
        check_groups(linter, &groups_path, &auto.groups);
        for (k, group) in auto.groups.iter().enumerate() {
            if !requesters.contains(group.as_str()) {
                linter.warn(
                    Code::AutoApproveNotRequester,
                    &join_index(&groups_path, k),
                    format!(
                        "{group:?} is auto-approved but is not among the requesters, so its \
                         members cannot request this profile at all; add it to requesters"
                    ),
                );
            }
        }
        if let Some(schedule) = &auto.only_while_on_call
            && !names.schedules.contains(schedule.as_str())
        {
            let known = names.schedules.iter().copied().collect::<Vec<_>>();
            linter.error(
                Code::UnknownSchedule,
                &join_key(&auto_path, "onlyWhileOnCall"),
                format!(
                    "no schedule is named {schedule:?}{}; define it under `schedules`",
                    did_you_mean(schedule, known)
                ),
            );
        }
    }
}

fn lint_break_glass(
    linter: &mut Linter<'_>,
    path: &str,
    profile: &ProfileSpec,
    break_glass: &BreakGlassSpec,
    profile_max: Option<std::time::Duration>,
    names: &Names<'_>,
) {
    let max_path = join_key(path, "maxDuration");
    let max = check_duration(linter, &max_path, break_glass.max_duration.as_deref());
    check_groups(linter, &join_key(path, "groups"), &break_glass.groups);
    check_notify(
        linter,
        &join_key(path, "notify"),
        &break_glass.notify,
        names,
    );
    if !break_glass.allowed {
        return;
    }
    if break_glass.max_duration.is_none() {
        linter.error(
            Code::MissingBreakGlassDuration,
            path,
            "break glass is allowed without maxDuration; add a short cap, e.g. \
             `maxDuration: 1h`"
                .to_owned(),
        );
    }
    if let (Some(max), Some(profile_max)) = (max, profile_max)
        && max > profile_max
    {
        linter.error(
            Code::BreakGlassAboveMax,
            &max_path,
            format!(
                "break-glass maxDuration {} is longer than the profile's maxDuration {}; \
                     break glass is the short way in: lower it",
                format_duration(max),
                format_duration(profile_max)
            ),
        );
    }
    if break_glass.groups.is_empty() && profile.requesters.is_empty() {
        linter.error(
            Code::BreakGlassNobody,
            path,
            "break glass is allowed but nobody may use it: breakGlass.groups is empty and so \
             are the requesters it defaults to; list groups"
                .to_owned(),
        );
    }
}

fn lint_exec(linter: &mut Linter<'_>, path: &str, exec: &ExecSpec) {
    match &exec.copy {
        Some(copy) => lint_copy(linter, &join_key(path, "copy"), copy),
        None if exec.allow.iter().any(|c| c == "tar") => linter.warn(
            Code::MissingGuard,
            path,
            "exec.allow lists tar but there is no exec.copy, so kubectl cp may copy any file out \
             of the pods (/etc/shadow included) and into any directory; add `copy: {fromPod: \
             [...], toPod: [...]}` with the paths people need"
                .to_owned(),
        ),
        None => {}
    }
    let allow_path = join_key(path, "allow");
    for (k, command) in exec.allow.iter().enumerate() {
        let valid = !command.is_empty()
            && command.len() <= 255
            && command != "*"
            && !command.contains('/')
            && !command.chars().any(|c| c.is_whitespace() || c.is_control());
        if !valid {
            linter.error(
                Code::BadExecCommand,
                &join_index(&allow_path, k),
                format!(
                    "{command:?} is not a command name: exec.allow lists basenames such as `ls` \
                     or `cat` (paths are normalised, so `/bin/ls` is `ls`; leave allow empty to \
                     allow every command that is not denied)"
                ),
            );
        } else if let Some(how) = runs_anything(command) {
            linter.warn(
                Code::RunsAnything,
                &join_index(&allow_path, k),
                format!(
                    "`{command}` {how}, which the exec guard does not see: with it allowed, any \
                     command can run; remove it, or accept that this profile runs anything"
                ),
            );
        }
    }
    let deny_path = join_key(path, "deny");
    for (k, pattern) in exec.deny.iter().enumerate() {
        if pattern.trim().is_empty()
            || pattern.len() > 1024
            || pattern.chars().any(char::is_control)
        {
            linter.error(
                Code::BadExecPattern,
                &join_index(&deny_path, k),
                format!(
                    "{pattern:?} is not a deny pattern: write the command line to refuse, as its \
                     first words (`rm -rf /`), at most 1024 characters"
                ),
            );
        }
    }
}

/// How an allowed program can start others the exec guard never sees, if it can.
fn runs_anything(command: &str) -> Option<&'static str> {
    Some(match command {
        "vi" | "vim" | "nvim" | "view" | "ex" | "ed" | "nano" | "emacs" | "less" | "more"
        | "most" | "man" => "has a shell escape (`!sh`, `:!sh`)",
        "awk" | "gawk" | "mawk" | "nawk" | "find" | "make" | "git" | "rsync" | "zip" | "socat"
        | "nc" | "ncat" | "gdb" | "expect" | "parallel" => {
            "can run a command given in its arguments (`system()`, `-exec`, `-e`, hooks)"
        }
        "perl" | "python" | "python2" | "python3" | "ruby" | "node" | "nodejs" | "lua" | "php"
        | "tclsh" | "irb" => "is an interpreter",
        "strace" | "ltrace" | "chroot" | "nsenter" | "unshare" | "su" | "sudo" | "doas"
        | "runuser" | "setpriv" | "capsh" | "script" | "watch" | "flock" | "taskset" | "chrt"
        | "numactl" | "prlimit" | "systemd-run" | "ssh" | "tmux" | "screen" => {
            "starts the program named in its arguments"
        }
        _ => return None,
    })
}

fn lint_copy(linter: &mut Linter<'_>, path: &str, copy: &CopySpec) {
    for (key, paths) in [("fromPod", &copy.from_pod), ("toPod", &copy.to_pod)] {
        let list_path = join_key(path, key);
        for (k, entry) in paths.iter().enumerate() {
            let valid = entry.starts_with('/')
                && entry.len() <= 4096
                && !entry.split('/').any(|seg| seg == "..")
                && !entry
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "*?[]{}$~\\".contains(c));
            if !valid {
                linter.error(
                    Code::BadCopyPath,
                    &join_index(&list_path, k),
                    format!(
                        "{entry:?} is not a copy path: write an absolute path such as /tmp or \
                         /var/log, without `..`, globs or variables (everything below it is \
                         included)"
                    ),
                );
            }
        }
    }
}

fn lint_port_forward(linter: &mut Linter<'_>, path: &str, port_forward: &PortForwardSpec) {
    let ports_path = join_key(path, "ports");
    for (k, port) in port_forward.ports.iter().enumerate() {
        if let Err(why) = port.range() {
            linter.error(
                Code::BadPort,
                &join_index(&ports_path, k),
                format!("{why}; write a port (8080) or a range (\"9000-9100\")"),
            );
        }
    }
}

/// A parsed image reference.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ImageRef<'a> {
    pub name: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

/// Parses `[registry[:port]/]path[:tag][@sha256:<64 hex>]` as the distribution reference
/// grammar does (lowercase path components with `.`, `_`, `__` or `-` separators).
pub(crate) fn parse_image(image: &str) -> Result<ImageRef<'_>, String> {
    if image.is_empty() || image.len() > 512 {
        return Err("an image reference is 1 to 512 characters".to_owned());
    }
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => {
            let hex = digest
                .strip_prefix("sha256:")
                .ok_or("a digest must be `sha256:` and 64 lowercase hex digits")?;
            if hex.len() != 64
                || !hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err("a digest must be `sha256:` and 64 lowercase hex digits".to_owned());
            }
            (rest, Some(digest))
        }
        None => (image, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let bytes = tag.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 128
            && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
            && bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid {
            return Err(format!(
                "tag {tag:?} is invalid: letters, digits, '_', '.', '-', at most 128"
            ));
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':']) || first == "localhost" {
            check_registry(first)?;
            components.remove(0);
        }
    }
    for component in components {
        if !is_path_component(component) {
            return Err(format!(
                "{component:?} is not a valid repository path component: lowercase letters and \
                 digits, separated by '.', '_', '__' or '-'"
            ));
        }
    }
    Ok(ImageRef { name, tag, digest })
}

fn check_registry(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("registry port {port:?} is not a number"));
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
    };
    if name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("registry {host:?} is not a host name"))
    }
}

fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator: '.', '_', '__', or a run of '-'; then an alphanumeric.
        let start = i;
        match ch {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start
            || !b
                .get(i)
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return false;
        }
    }
    true
}

fn lint_debug(linter: &mut Linter<'_>, path: &str, debug: &DebugSpec) {
    let images_path = join_key(path, "images");
    for (k, image) in debug.images.iter().enumerate() {
        let at = join_index(&images_path, k);
        match parse_image(image) {
            Err(why) => linter.error(
                Code::BadImage,
                &at,
                format!(
                    "{image:?} is not an image reference: {why}; write \
                     `name[:tag][@sha256:<64 hex>]`, e.g. `busybox:1.36`"
                ),
            ),
            Ok(parsed) if debug.require_digest && parsed.digest.is_none() => linter.error(
                Code::ImageWithoutDigest,
                &at,
                format!(
                    "{image:?} has no digest but requireDigest is true; pin it as \
                     `{}@sha256:<digest>` (`crane digest {image}` prints it)",
                    parsed.name
                ),
            ),
            Ok(_) => {}
        }
    }
    let caps_path = join_key(path, "capabilities");
    for (k, cap) in debug.capabilities.iter().enumerate() {
        let at = join_index(&caps_path, k);
        if cap == "ALL" {
            linter.error(
                Code::DangerousCapability,
                &at,
                "capability ALL makes a debug container root on the node; list the \
                 capabilities it needs (`NET_ADMIN`, `SYS_PTRACE`)"
                    .to_owned(),
            );
        } else if let Some(bare) = cap.strip_prefix("CAP_") {
            linter.error(
                Code::UnknownCapability,
                &at,
                format!("Kubernetes names capabilities without `CAP_`: write {bare:?}"),
            );
        } else if !CAPABILITIES.contains(&cap.as_str()) {
            let upper = cap.to_ascii_uppercase();
            let hint = if CAPABILITIES.contains(&upper.as_str()) {
                format!(" (capabilities are uppercase: {upper:?})")
            } else {
                did_you_mean(cap, CAPABILITIES)
            };
            linter.error(
                Code::UnknownCapability,
                &at,
                format!("{cap:?} is not a Linux capability{hint}"),
            );
        } else if NODE_ROOT_CAPABILITIES.contains(&cap.as_str()) {
            linter.warn(
                Code::DangerousCapability,
                &at,
                format!(
                    "{cap} amounts to root on the node (or leaving the container); keep it only \
                     if a debugging session really needs it"
                ),
            );
        }
    }
}

fn lint_standing(linter: &mut Linter<'_>, path: &str, standing: &StandingSpec, names: &Names<'_>) {
    let profile = names.profiles.get(standing.profile.as_str()).copied();
    if profile.is_none() {
        let known = names.profiles.keys().copied().collect::<Vec<_>>();
        linter.error(
            Code::UnknownProfile,
            &join_key(path, "profile"),
            format!(
                "no profile is named {:?}{}; define it under `profiles` or fix the name",
                standing.profile,
                did_you_mean(&standing.profile, known)
            ),
        );
    }
    let groups_path = join_key(path, "groups");
    if standing.groups.is_empty() {
        linter.error(
            Code::EmptyGroups,
            &groups_path,
            "standing.groups is empty, so nobody holds this access; list groups or remove it"
                .to_owned(),
        );
    }
    check_groups(linter, &groups_path, &standing.groups);
    let namespaces_path = join_key(path, "namespaces");
    if standing.namespaces.is_empty() {
        linter.error(
            Code::EmptyNamespaceScope,
            &namespaces_path,
            "standing.namespaces is empty, so this access applies nowhere; list namespaces"
                .to_owned(),
        );
    }
    for (k, namespace) in standing.namespaces.iter().enumerate() {
        let at = join_index(&namespaces_path, k);
        if !is_dns1123_label(namespace) {
            linter.error(
                Code::BadNamespace,
                &at,
                format!(
                    "{namespace:?} is not a namespace name; standing access names namespaces \
                     exactly, without globs"
                ),
            );
        } else if let Some(profile) = profile
            && !crate::policy::namespace_in_scope(&profile.scope, namespace)
        {
            linter.error(
                Code::StandingOutsideScope,
                &at,
                format!(
                    "namespace {namespace:?} is outside the scope of profile {:?} ({}); add \
                         it to the profile's scope.namespaces or remove it here",
                    profile.name,
                    profile.scope.namespaces.join(", ")
                ),
            );
        }
    }
}

fn lint_schedule(linter: &mut Linter<'_>, path: &str, schedule: &ScheduleSpec) {
    match (&schedule.file, &schedule.pagerduty) {
        (Some(_), Some(_)) | (None, None) => linter.error(
            Code::BadScheduleSource,
            path,
            format!(
                "schedule {:?} needs exactly one source: `file: PATH` (relative to the policy \
                 file) or `pagerduty: {{scheduleId: ID}}`",
                schedule.name
            ),
        ),
        (Some(file), None) => {
            if file.trim().is_empty() || file.contains('\0') {
                linter.error(
                    Code::BadScheduleSource,
                    &join_key(path, "file"),
                    "the schedule file path is empty; give a path relative to the policy file"
                        .to_owned(),
                );
            }
        }
        (None, Some(pd)) => {
            let id = &pd.schedule_id;
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                linter.error(
                    Code::BadScheduleSource,
                    &join_key(&join_key(path, "pagerduty"), "scheduleId"),
                    format!(
                        "{id:?} is not a PagerDuty schedule id (letters and digits, e.g. \
                         `P1AB2CD`, from the schedule's URL)"
                    ),
                );
            }
        }
    }
}

/// Checks a notification URL: `https://`, or `http://` to this machine only.
pub(crate) fn check_url(url: &str) -> Result<(), (Code, String)> {
    let bad = |why: &str| Err((Code::BadUrl, format!("{url:?} is not a usable URL: {why}")));
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it is over 2048 characters or contains spaces");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return bad("it has no scheme; start it with https://");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return bad("it carries credentials; put the secret in secretEnv instead");
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return bad("the IPv6 host is not closed with ']'"),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => {
                if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                    return bad("the port is not a number");
                }
                host
            }
            None => authority,
        }
    };
    if host.is_empty() {
        return bad("it has no host");
    }
    match scheme {
        "https" => Ok(()),
        "http" if host == "localhost" || host == "::1" || host.starts_with("127.") => Ok(()),
        "http" => Err((
            Code::InsecureUrl,
            format!(
                "{url:?} is plain http: notifications carry who got access to what; use https \
                 (http is accepted only to this machine)"
            ),
        )),
        _ => bad("use https://"),
    }
}

fn is_env_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

fn lint_notification(linter: &mut Linter<'_>, path: &str, notification: &NotificationSpec) {
    let url = match (&notification.slack, &notification.webhook) {
        (Some(slack), None) => Some((join_key(&join_key(path, "slack"), "url"), &slack.url)),
        (None, Some(webhook)) => {
            let webhook_path = join_key(path, "webhook");
            match &webhook.secret_env {
                None => linter.warn(
                    Code::UnsignedWebhook,
                    &webhook_path,
                    "this webhook has no secretEnv, so its requests are not HMAC-signed and the \
                     receiver cannot tell them from forgeries; add `secretEnv: NAME` of an \
                     environment variable holding the key"
                        .to_owned(),
                ),
                Some(env) if !is_env_name(env) => linter.error(
                    Code::BadEnvName,
                    &join_key(&webhook_path, "secretEnv"),
                    format!(
                        "{env:?} is not an environment variable name (letters, digits and '_', \
                         not starting with a digit); name the variable, not the secret"
                    ),
                ),
                Some(_) => {}
            }
            Some((join_key(&webhook_path, "url"), &webhook.url))
        }
        _ => {
            linter.error(
                Code::BadNotification,
                path,
                format!(
                    "notification {:?} needs exactly one of `slack: {{url: ...}}` or \
                     `webhook: {{url: ..., secretEnv: ...}}`",
                    notification.name
                ),
            );
            None
        }
    };
    if let Some((url_path, url)) = url
        && let Err((code, message)) = check_url(url)
    {
        linter.error(code, &url_path, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        let digest = "sha256:".to_owned() + &"a".repeat(64);
        let ok = [
            "busybox",
            "busybox:1.36",
            "ghcr.io/acme/debug:v1",
            "localhost:5000/debug",
            "registry.example.com:443/team/tool_x__y-z:latest",
            "nicolaka/netshoot",
        ];
        for image in ok {
            assert!(
                parse_image(image).is_ok(),
                "{image}: {:?}",
                parse_image(image)
            );
        }
        let pinned = format!("ghcr.io/acme/debug@{digest}");
        assert_eq!(
            parse_image(&pinned),
            Ok(ImageRef {
                name: "ghcr.io/acme/debug",
                tag: None,
                digest: Some(&digest),
            })
        );
        let both = format!("busybox:1.36@{digest}");
        assert_eq!(parse_image(&both).map(|i| i.tag), Ok(Some("1.36")));
        let bad = [
            "",
            "BusyBox",
            "busybox:",
            "busybox:-x",
            "busybox@sha256:abc",
            "busybox@md5:0123",
            "-busybox",
            "a//b",
            "a/b c",
            "registry..io/x",
        ];
        for image in bad {
            assert!(parse_image(image).is_err(), "{image}");
        }
    }

    #[test]
    fn urls() {
        let cases = [
            ("https://hooks.slack.com/services/T/B/X", None),
            ("https://example.com:8443/hook", None),
            ("http://127.0.0.1:9000/hook", None),
            ("http://localhost/hook", None),
            ("http://[::1]:9000/hook", None),
            ("http://example.com/hook", Some(Code::InsecureUrl)),
            ("ftp://example.com", Some(Code::BadUrl)),
            ("hooks.slack.com/x", Some(Code::BadUrl)),
            ("https://user:pw@example.com/", Some(Code::BadUrl)),
            ("https:///path", Some(Code::BadUrl)),
            ("https://example.com:port/", Some(Code::BadUrl)),
            ("https://exa mple.com/", Some(Code::BadUrl)),
        ];
        for (url, expected) in cases {
            assert_eq!(check_url(url).err().map(|(c, _)| c), expected, "{url}");
        }
    }

    #[test]
    fn names_and_globs() {
        assert!(is_namespace_pattern("team-*"));
        assert!(is_namespace_pattern("payments"));
        assert!(!is_namespace_pattern("Payments"));
        assert!(!is_namespace_pattern("team_*"));
        assert!(!is_namespace_pattern(""));
        assert!(is_pod_glob("api-*"));
        assert!(!is_pod_glob("api-[0-9]"));
        assert_eq!(edit_distance("lsit", "list"), 2);
        assert_eq!(edit_distance("get", "get"), 0);
        assert_eq!(suggest("wacth", REQUEST_VERBS), Some("watch"));
        assert_eq!(suggest("frobnicate", REQUEST_VERBS), None);
        assert_eq!(suggest_label("On Call"), "on-call");
    }
}
