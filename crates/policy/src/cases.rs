//! Table tests of a policy (`jitgate policy test POLICY CASES`): a YAML list of "who asks for
//! what, and what should happen", run against [`Policy::route`], [`Policy::may_approve`] and
//! [`Policy::standing_for`] with no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use crate::diagnostic::{Code, Diagnostic, has_errors};
use crate::duration::{DurationProblem, format_duration, parse_duration};
use crate::lint::Linter;
use crate::policy::{Policy, typed};
use crate::route::{ApprovalRoute, OnCallAnswer, RequestAsk, RoutedRequest};
use crate::yaml::{self, join_index, join_key};

/// A file of test cases.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaseFile {
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One test case: a request (`user`, `groups`, `profile`, `namespace`, ...), an approval
/// (`approve`), or a standing-access question (`standing`), and what should happen (`expect`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    /// Shown in the pass/fail line.
    pub name: String,
    /// The requesting user.
    #[serde(default)]
    pub user: Option<String>,
    /// The user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The profile asked for.
    #[serde(default)]
    pub profile: Option<String>,
    /// The namespace asked for.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The namespace's labels (for profiles with a namespace selector).
    #[serde(default)]
    pub namespace_labels: Option<BTreeMap<String, String>>,
    /// A pod name or glob to narrow to.
    #[serde(default)]
    pub pod: Option<String>,
    /// The duration asked for (`1h`); absent means the profile's default.
    #[serde(default)]
    pub duration: Option<String>,
    /// Whether the request is break glass.
    #[serde(default)]
    pub break_glass: bool,
    /// Schedules the user is on call for; the answer for any other schedule is "no".
    #[serde(default)]
    pub on_call: Vec<String>,
    /// Schedules whose on-call answer is "unknown".
    #[serde(default)]
    pub on_call_unknown: Vec<String>,
    /// An approval to check instead of a request.
    #[serde(default)]
    pub approve: Option<ApproveCase>,
    /// A standing-access question instead of a request.
    #[serde(default)]
    pub standing: Option<StandingCase>,
    /// What should happen.
    pub expect: Expect,
}

/// "May `approver` approve `requester`'s request?"
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApproveCase {
    /// The profile; defaults to the case's `profile`, or the policy's only profile with an
    /// approval section.
    #[serde(default)]
    pub profile: Option<String>,
    /// Who asked.
    pub requester: String,
    /// Who approves.
    pub approver: String,
    /// The approver's groups.
    #[serde(default)]
    pub approver_groups: Vec<String>,
}

/// "What standing access do members of these groups hold?"
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandingCase {
    /// The user's groups.
    pub groups: Vec<String>,
}

/// The outcome a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The request is approved without a person.
    AutoApproved,
    /// The request waits for approvals.
    NeedsApprovals,
    /// The request is break glass.
    BreakGlass,
    /// The request or approval is refused.
    Refused,
    /// The approval is accepted.
    Approved,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AutoApproved => "auto-approved",
            Self::NeedsApprovals => "needs-approvals",
            Self::BreakGlass => "break-glass",
            Self::Refused => "refused",
            Self::Approved => "approved",
        })
    }
}

/// A standing-access entry a case expects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StandingExpect {
    /// The profile.
    pub profile: String,
    /// The namespaces (any order).
    pub namespaces: Vec<String>,
}

/// What a case expects: either a bare outcome (`expect: auto-approved`) or a mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExpectSpec {
    /// The outcome; implied `needs-approvals` by `approvals`/`from`.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    /// Approvals needed.
    #[serde(default)]
    pub approvals: Option<u32>,
    /// Approver groups (any order).
    #[serde(default)]
    pub from: Option<Vec<String>>,
    /// Text the refusal (or the auto-approval's or pending request's reason) must contain.
    #[serde(default)]
    pub reason: Option<String>,
    /// The effective duration (`30m`).
    #[serde(default)]
    pub duration: Option<String>,
    /// The standing access expected, exactly.
    #[serde(default)]
    pub standing: Option<Vec<StandingExpect>>,
}

/// `expect:` as written: a bare outcome or an [`ExpectSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect(pub ExpectSpec);

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpectVisitor;
        impl<'de> serde::de::Visitor<'de> for ExpectVisitor {
            type Value = Expect;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an outcome (auto-approved, needs-approvals, break-glass, refused, approved) \
                     or a mapping",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Expect, E> {
                let outcome = Outcome::deserialize(serde::de::value::StrDeserializer::<E>::new(v))?;
                Ok(Expect(ExpectSpec {
                    outcome: Some(outcome),
                    ..ExpectSpec::default()
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Expect, A::Error> {
                ExpectSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Expect)
            }
        }
        deserializer.deserialize_any(ExpectVisitor)
    }
}

/// A parsed case file, with the line of each case.
#[derive(Debug, Clone)]
pub struct PolicyTests {
    /// The cases.
    pub cases: Vec<Case>,
    lines: Vec<usize>,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// The case's line in the file.
    pub line: usize,
    /// Whether what happened is what was expected.
    pub passed: bool,
    /// What happened (and, on failure, what was expected).
    pub detail: String,
}

enum Kind {
    Request,
    Approve,
    Standing,
}

fn kind(case: &Case) -> Kind {
    if case.approve.is_some() {
        Kind::Approve
    } else if case.standing.is_some() {
        Kind::Standing
    } else {
        Kind::Request
    }
}

impl PolicyTests {
    /// Parses a case file, checking each case's shape.
    ///
    /// # Errors
    ///
    /// Findings with path and line, as for the policy.
    pub fn parse(text: &str) -> Result<Self, Vec<Diagnostic>> {
        let loaded = yaml::load(text)?;
        let mut linter = Linter::new(&loaded.map);
        linter.out.extend(loaded.diagnostics.iter().cloned());
        let file = typed::<CaseFile>(&loaded.value, "", &mut linter);
        let Some(file) = file else {
            return Err(linter.out);
        };
        let mut lines = Vec::new();
        for (i, case) in file.cases.iter().enumerate() {
            let path = join_index("cases", i);
            lines.push(loaded.map.locate(&path).line);
            check_case(&mut linter, &path, case);
        }
        if has_errors(&linter.out) {
            return Err(linter.out);
        }
        Ok(Self {
            cases: file.cases,
            lines,
        })
    }

    /// Runs every case against `policy`.
    #[must_use]
    pub fn run(&self, policy: &Policy) -> Vec<CaseResult> {
        self.cases
            .iter()
            .zip(&self.lines)
            .map(|(case, &line)| {
                let (passed, detail) = match kind(case) {
                    Kind::Request => run_request(policy, case),
                    Kind::Approve => run_approve(policy, case),
                    Kind::Standing => run_standing(policy, case),
                };
                CaseResult {
                    name: case.name.clone(),
                    line,
                    passed,
                    detail,
                }
            })
            .collect()
    }
}

fn check_case(linter: &mut Linter<'_>, path: &str, case: &Case) {
    let expect = &case.expect.0;
    let expect_path = join_key(path, "expect");
    let request_fields = case.user.is_some()
        || case.profile.is_some()
        || case.namespace.is_some()
        || case.break_glass
        || !case.on_call.is_empty();
    match kind(case) {
        Kind::Request => {
            for (field, present) in [
                ("user", case.user.is_some()),
                ("profile", case.profile.is_some()),
                ("namespace", case.namespace.is_some()),
            ] {
                if !present {
                    linter.error(
                        Code::BadCase,
                        path,
                        format!(
                            "case {:?} is a request but has no `{field}`; add it (or use \
                             `approve:` or `standing:`)",
                            case.name
                        ),
                    );
                }
            }
            if matches!(expect.outcome, Some(Outcome::Approved)) || expect.standing.is_some() {
                linter.error(
                    Code::BadCase,
                    &expect_path,
                    "a request case expects auto-approved, needs-approvals, break-glass or \
                     refused"
                        .to_owned(),
                );
            }
        }
        Kind::Approve => {
            if case.standing.is_some()
                || case.user.is_some()
                || case.namespace.is_some()
                || case.break_glass
                || !case.on_call.is_empty()
            {
                linter.error(
                    Code::BadCase,
                    path,
                    "an approve case has only name, profile, approve and expect".to_owned(),
                );
            }
            if !matches!(expect.outcome, Some(Outcome::Approved | Outcome::Refused)) {
                linter.error(
                    Code::BadCase,
                    &expect_path,
                    "an approve case expects `approved` or `refused`".to_owned(),
                );
            }
        }
        Kind::Standing => {
            if request_fields {
                linter.error(
                    Code::BadCase,
                    path,
                    "a standing case has only name, standing and expect".to_owned(),
                );
            }
            if expect.standing.is_none() {
                linter.error(
                    Code::BadCase,
                    &expect_path,
                    "a standing case expects `{standing: [{profile, namespaces}]}` (`[]` for \
                     none)"
                        .to_owned(),
                );
            }
        }
    }
    for (at, text) in [
        (join_key(path, "duration"), case.duration.as_deref()),
        (
            join_key(&expect_path, "duration"),
            expect.duration.as_deref(),
        ),
    ] {
        if let Some(Err(problem)) = text.map(parse_duration) {
            let message = match problem {
                DurationProblem::Syntax(m) | DurationProblem::OutOfRange(m) => m,
            };
            linter.error(Code::BadDuration, &at, message);
        }
    }
}

fn describe(routed: &RoutedRequest) -> String {
    let how = match &routed.route {
        ApprovalRoute::AutoApproved { why } => format!("auto-approved ({why})"),
        ApprovalRoute::NeedsApprovals {
            count,
            approver_groups,
            why,
            ..
        } => {
            let mut text = format!(
                "needs {count} approval{} from [{}]",
                if *count == 1 { "" } else { "s" },
                approver_groups.join(", ")
            );
            if !why.is_empty() {
                text.push_str(&format!(" ({why})"));
            }
            text
        }
        ApprovalRoute::BreakGlass { max } => format!("break glass (max {})", format_duration(*max)),
    };
    format!("{how}, for {}", format_duration(routed.duration))
}

fn run_request(policy: &Policy, case: &Case) -> (bool, String) {
    let expect = &case.expect.0;
    let on_call = |schedule: &str| {
        if case.on_call.iter().any(|s| s == schedule) {
            OnCallAnswer::Yes
        } else if case.on_call_unknown.iter().any(|s| s == schedule) {
            OnCallAnswer::Unknown("the test case says the answer is unknown".to_owned())
        } else {
            OnCallAnswer::No
        }
    };
    let duration = case
        .duration
        .as_deref()
        .and_then(|d| parse_duration(d).ok());
    let ask = RequestAsk {
        user: case.user.as_deref().unwrap_or_default(),
        groups: &case.groups,
        profile: case.profile.as_deref().unwrap_or_default(),
        namespace: case.namespace.as_deref().unwrap_or_default(),
        namespace_labels: case.namespace_labels.as_ref(),
        pod: case.pod.as_deref(),
        duration,
        break_glass: case.break_glass,
        on_call: &on_call,
    };
    let outcome =
        expect
            .outcome
            .unwrap_or(if expect.approvals.is_some() || expect.from.is_some() {
                Outcome::NeedsApprovals
            } else {
                Outcome::Refused
            });
    let result = policy.route(&ask);
    let got = match &result {
        Ok(routed) => describe(routed),
        Err(refusal) => refusal.to_string(),
    };
    let mut problems = Vec::new();
    match (&result, outcome) {
        (Ok(routed), _) => {
            let actual = match routed.route {
                ApprovalRoute::AutoApproved { .. } => Outcome::AutoApproved,
                ApprovalRoute::NeedsApprovals { .. } => Outcome::NeedsApprovals,
                ApprovalRoute::BreakGlass { .. } => Outcome::BreakGlass,
            };
            if actual != outcome {
                problems.push(format!("expected {outcome}"));
            }
            if let ApprovalRoute::NeedsApprovals {
                count,
                approver_groups,
                why,
                ..
            } = &routed.route
            {
                if let Some(want) = expect.approvals
                    && want != *count
                {
                    problems.push(format!("expected {want} approval(s)"));
                }
                if let Some(from) = &expect.from {
                    let want: BTreeSet<&String> = from.iter().collect();
                    let have: BTreeSet<&String> = approver_groups.iter().collect();
                    if want != have {
                        problems.push(format!("expected approvers [{}]", from.join(", ")));
                    }
                }
                check_reason(expect, why, &mut problems);
            }
            if let ApprovalRoute::AutoApproved { why } = &routed.route {
                check_reason(expect, why, &mut problems);
            }
            if let Some(want) = expect
                .duration
                .as_deref()
                .and_then(|d| parse_duration(d).ok())
                && want != routed.duration
            {
                problems.push(format!("expected a duration of {}", format_duration(want)));
            }
        }
        (Err(refusal), Outcome::Refused) => {
            check_reason(expect, &refusal.to_string(), &mut problems);
        }
        (Err(_), outcome) => problems.push(format!("expected {outcome}")),
    }
    verdict(&problems, got)
}

fn check_reason(expect: &ExpectSpec, text: &str, problems: &mut Vec<String>) {
    if let Some(reason) = &expect.reason
        && !text.to_lowercase().contains(&reason.to_lowercase())
    {
        problems.push(format!("expected the reason to mention {reason:?}"));
    }
}

fn verdict(problems: &[String], got: String) -> (bool, String) {
    if problems.is_empty() {
        (true, got)
    } else {
        (false, format!("{}; got: {got}", problems.join(", ")))
    }
}

fn run_approve(policy: &Policy, case: &Case) -> (bool, String) {
    let Some(approve) = &case.approve else {
        return (false, "not an approve case".to_owned());
    };
    let expect = &case.expect.0;
    let profile = approve
        .profile
        .clone()
        .or_else(|| case.profile.clone())
        .or_else(|| {
            let mut with_approval = policy
                .document()
                .profiles
                .iter()
                .filter(|p| p.approval.is_some());
            match (with_approval.next(), with_approval.next()) {
                (Some(only), None) => Some(only.name.clone()),
                _ => None,
            }
        });
    let Some(profile) = profile else {
        return (
            false,
            "the policy has several profiles with approvals; name one with approve.profile"
                .to_owned(),
        );
    };
    let result = policy.may_approve(
        &profile,
        &approve.approver,
        &approve.approver_groups,
        &approve.requester,
    );
    let got = match &result {
        Ok(()) => format!(
            "{} may approve {}'s request for {profile}",
            approve.approver, approve.requester
        ),
        Err(refusal) => refusal.to_string(),
    };
    let mut problems = Vec::new();
    match (&result, expect.outcome) {
        (Ok(()), Some(Outcome::Approved)) => {}
        (Err(refusal), Some(Outcome::Refused)) => {
            check_reason(expect, &refusal.to_string(), &mut problems);
        }
        (_, outcome) => problems.push(format!(
            "expected {}",
            outcome.map_or_else(|| "approved or refused".to_owned(), |o| o.to_string())
        )),
    }
    verdict(&problems, got)
}

fn run_standing(policy: &Policy, case: &Case) -> (bool, String) {
    let groups = case
        .standing
        .as_ref()
        .map(|s| s.groups.clone())
        .unwrap_or_default();
    let have: BTreeSet<(String, BTreeSet<String>)> = policy
        .standing_for(&groups)
        .into_iter()
        .map(|s| (s.profile, s.namespaces.into_iter().collect()))
        .collect();
    let want: BTreeSet<(String, BTreeSet<String>)> = case
        .expect
        .0
        .standing
        .iter()
        .flatten()
        .map(|s| (s.profile.clone(), s.namespaces.iter().cloned().collect()))
        .collect();
    let show = |set: &BTreeSet<(String, BTreeSet<String>)>| {
        if set.is_empty() {
            return "no standing access".to_owned();
        }
        set.iter()
            .map(|(p, ns)| {
                format!(
                    "{p} in {}",
                    ns.iter().cloned().collect::<Vec<_>>().join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let got = show(&have);
    if have == want {
        (true, got)
    } else {
        (false, format!("expected {}; got: {got}", show(&want)))
    }
}
