//! What commands print: kubectl-style tables for people, or the API's own JSON/YAML with
//! `-o json|yaml` (which parse back as `jitgate-api` types). Rendering is I/O-free and takes
//! the current time, so tests pin it.
//!
//! Text from the server (reasons, comments, names) is printed with control characters
//! replaced, so that nobody can move the cursor or recolour the terminal of an approver.

use std::fmt::Write as _;
use std::time::Duration;

use jitgate_api::{
    AccessRequest, Grant, Profile, RecordedSession, RequestState, Timestamp, WhoAmI,
};
use serde::Serialize;

use crate::CliError;

/// How to print results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Tables and sentences for people.
    #[default]
    Table,
    /// The API's JSON, pretty-printed.
    Json,
    /// The same as YAML.
    Yaml,
}

/// `value` as JSON or YAML text (ending in a newline).
pub fn serialized<T: Serialize>(format: OutputFormat, value: &T) -> Result<String, CliError> {
    match format {
        OutputFormat::Yaml => {
            serde_yaml::to_string(value).map_err(|e| CliError::Output(e.to_string()))
        }
        _ => serde_json::to_string_pretty(value)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| CliError::Output(e.to_string())),
    }
}

/// Text from outside, safe for a terminal: control and bidirectional-override characters
/// become spaces.
pub fn safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// `safe(text)`, cut to `max` characters with an ellipsis.
pub fn shortened(text: &str, max: usize) -> String {
    let text = safe(text);
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A kubectl-style table: upper-case headers, columns separated by three spaces.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; cells are made safe.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| safe(&c)).collect());
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The text, one line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: Vec<&str>| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate().take(columns) {
                if i + 1 == columns {
                    text.push_str(cell);
                } else {
                    let pad = widths[i] - cell.chars().count();
                    text.push_str(cell);
                    text.push_str(&" ".repeat(pad + 3));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(self.headers.clone());
        for row in &self.rows {
            line(row.iter().map(String::as_str).collect());
        }
        out
    }
}

/// A duration the way kubectl shows ages: `45s`, `29m`, `1h5m`, `3d4h`.
pub fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => {
            let (h, m) = (secs / 3600, secs % 3600 / 60);
            if m == 0 {
                format!("{h}h")
            } else {
                format!("{h}h{m}m")
            }
        }
        _ => {
            let (d, h) = (secs / 86_400, secs % 86_400 / 3600);
            if h == 0 {
                format!("{d}d")
            } else {
                format!("{d}d{h}h")
            }
        }
    }
}

/// How long ago `t` was.
pub fn age(now: Timestamp, t: Timestamp) -> String {
    short_duration(now.since(t))
}

/// `in 29m` or `3m ago`.
pub fn relative(now: Timestamp, t: Timestamp) -> String {
    if t > now {
        format!("in {}", short_duration(t.since(now)))
    } else {
        format!("{} ago", short_duration(now.since(t)))
    }
}

/// `03:17:02Z (in 29m)`: the time of day when it is today, with how far off it is.
pub fn when(now: Timestamp, t: Timestamp) -> String {
    let text = t.to_string();
    let same_day = text.get(..10) == now.to_string().get(..10);
    let shown = if same_day {
        text.get(11..).unwrap_or(&text).to_owned()
    } else {
        text
    };
    format!("{shown} ({})", relative(now, t))
}

/// `whoami`.
pub fn render_whoami(who: &WhoAmI, now: Timestamp) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "user:     {}", safe(&who.user));
    let groups = if who.groups.is_empty() {
        "(none)".to_owned()
    } else {
        safe(&who.groups.join(", "))
    };
    let _ = writeln!(out, "groups:   {groups}");
    let method = match who.auth_method {
        jitgate_api::AuthMethod::Certificate => "client certificate",
        jitgate_api::AuthMethod::Oidc => "OIDC ID token",
    };
    match who.credential_expires_at {
        Some(at) => {
            let _ = writeln!(out, "via:      {method}, expires {}", when(now, at));
        }
        None => {
            let _ = writeln!(out, "via:      {method}");
        }
    }
    if who.grants.is_empty() {
        out.push_str("grants:   none active; ask with kubectl jit request PROFILE -n NAMESPACE --for 30m --reason TEXT\n");
    } else {
        out.push('\n');
        out.push_str(&render_grants(&who.grants, now));
    }
    out
}

/// Requests as a table (newest first, as the server sends them).
pub fn render_requests(items: &[AccessRequest], now: Timestamp) -> String {
    let mut table = Table::new(&[
        "ID",
        "STATE",
        "PROFILE",
        "NAMESPACE",
        "REQUESTER",
        "FOR",
        "AGE",
        "DETAIL",
    ]);
    for r in items {
        table.row(vec![
            r.id.to_string(),
            state_label(r),
            r.profile.clone(),
            r.namespace.clone(),
            r.requester.clone(),
            r.duration.to_string(),
            age(now, r.created_at),
            shortened(&request_detail(r, now), 70),
        ]);
    }
    table.render()
}

fn state_label(r: &AccessRequest) -> String {
    let mut label = r.state.to_string();
    if r.break_glass {
        label.push_str(" (break-glass)");
    }
    label
}

/// One phrase on where a request stands.
pub fn request_detail(r: &AccessRequest, now: Timestamp) -> String {
    match r.state {
        RequestState::Pending => {
            let got = r.approvals.len();
            if r.approvals_required > 1 {
                format!("{}; {got} of {} so far", r.route, r.approvals_required)
            } else {
                r.route.clone()
            }
        }
        RequestState::Approved => format!("approved by {}", r.decided_by.as_deref().unwrap_or("?")),
        RequestState::Active => match (&r.grant, r.grant_expires_at) {
            (Some(g), Some(at)) => format!("grant {g}, ends {}", relative(now, at)),
            (Some(g), None) => format!("grant {g}"),
            _ => "active".to_owned(),
        },
        RequestState::Expired => match r.ended_at.or(r.grant_expires_at) {
            Some(at) => format!("ended {}", relative(now, at)),
            None => "ended".to_owned(),
        },
        RequestState::Revoked => format!(
            "grant revoked {}",
            r.ended_at.map(|t| relative(now, t)).unwrap_or_default()
        )
        .trim_end()
        .to_owned(),
        RequestState::Denied => format!(
            "denied by {}: {}",
            r.decided_by.as_deref().unwrap_or("?"),
            r.deny_reason.as_deref().unwrap_or("no reason given")
        ),
        RequestState::Cancelled => match &r.cancel_reason {
            Some(reason) => format!("cancelled: {reason}"),
            None => "cancelled".to_owned(),
        },
    }
}

/// A request in a few lines, after `request`, `approve`, `deny` or `cancel`.
pub fn render_request(r: &AccessRequest, now: Timestamp) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}: {} in {} for {}, requested by {}",
        r.id,
        state_label(r),
        safe(&r.profile),
        safe(&r.namespace),
        r.duration,
        safe(&r.requester)
    );
    let _ = writeln!(out, "  reason:  {}", safe(&r.reason));
    if let Some(t) = &r.ticket {
        let _ = writeln!(out, "  ticket:  {}", safe(t));
    }
    let _ = writeln!(out, "  route:   {}", safe(&r.route));
    for a in &r.approvals {
        let comment = a
            .comment
            .as_deref()
            .map(|c| format!(": {}", safe(c)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  approved by {} {}{comment}",
            safe(&a.by),
            relative(now, a.at)
        );
    }
    let detail = request_detail(r, now);
    if detail != r.route {
        let _ = writeln!(out, "  status:  {}", safe(&detail));
    }
    if r.needs_review {
        out.push_str("  review:  this break-glass access must be reviewed afterwards (kubectl jit review GRANT --comment TEXT)\n");
    }
    out
}

/// Grants as a table.
pub fn render_grants(items: &[Grant], now: Timestamp) -> String {
    let mut table = Table::new(&[
        "GRANT",
        "STATE",
        "PROFILE",
        "NAMESPACES",
        "USER",
        "ENDS",
        "REQUEST",
        "REASON",
    ]);
    for g in items {
        let mut state = g.state.to_string();
        if g.needs_review {
            state.push_str(" (needs review)");
        } else if g.break_glass {
            state.push_str(" (break-glass)");
        }
        let ends = match g.revoked_at {
            Some(at) => format!("revoked {}", relative(now, at)),
            None => relative(now, g.expires_at),
        };
        table.row(vec![
            g.id.to_string(),
            state,
            g.profile.clone(),
            g.namespaces.join(","),
            g.user.clone(),
            ends,
            g.request
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "-".to_owned()),
            shortened(&g.reason, 50),
        ]);
    }
    table.render()
}

/// `kubectl jit sessions`.
pub fn render_sessions(items: &[RecordedSession], now: Timestamp) -> String {
    let mut table = Table::new(&[
        "SESSION", "USER", "KIND", "WHERE", "COMMAND", "STARTED", "BYTES", "GRANT",
    ]);
    for s in items {
        let container = s
            .container
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        table.row(vec![
            s.id.to_string(),
            safe(&s.user),
            safe(&s.kind),
            safe(&format!("{}/{}{container}", s.namespace, s.pod)),
            shortened(&s.command, 40),
            relative(now, s.started_at),
            s.bytes.to_string(),
            s.grant
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    table.render()
}

/// A grant in a few lines, after `revoke` or `review`.
pub fn render_grant(g: &Grant, now: Timestamp) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}: {} for {} in {}",
        g.id,
        g.state,
        safe(&g.profile),
        safe(&g.user),
        safe(&g.namespaces.join(", "))
    );
    let _ = writeln!(out, "  reason:  {}", safe(&g.reason));
    let _ = writeln!(
        out,
        "  created: by {} {}",
        safe(&g.created_by),
        relative(now, g.created_at)
    );
    match (g.revoked_at, &g.revoked_by) {
        (Some(at), by) => {
            let why = g
                .revoke_reason
                .as_deref()
                .map(|r| format!(": {}", safe(r)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  revoked: by {} {}{why}",
                safe(by.as_deref().unwrap_or("?")),
                relative(now, at)
            );
        }
        (None, _) => {
            let _ = writeln!(out, "  ends:    {}", when(now, g.expires_at));
        }
    }
    if let (Some(by), Some(at)) = (&g.reviewed_by, g.reviewed_at) {
        let comment = g
            .review_comment
            .as_deref()
            .map(|c| format!(": {}", safe(c)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  reviewed: by {} {}{comment}",
            safe(by),
            relative(now, at)
        );
    } else if g.needs_review {
        out.push_str("  review:  still needed\n");
    }
    out
}

/// Profiles as a table.
pub fn render_profiles(items: &[Profile]) -> String {
    let mut table = Table::new(&[
        "PROFILE",
        "DEFAULT",
        "MAX",
        "BREAK-GLASS",
        "NAMESPACES",
        "APPROVAL",
        "DESCRIPTION",
    ]);
    for p in items {
        table.row(vec![
            p.name.clone(),
            p.default_duration.to_string(),
            p.max_duration.to_string(),
            p.break_glass
                .map_or_else(|| "no".to_owned(), |b| format!("up to {}", b.max_duration)),
            p.namespaces.join(","),
            shortened(&p.approval.route, 60),
            shortened(&p.description, 50),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
        let path = format!("{}/../api/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn now() -> Timestamp {
        Timestamp::parse("2026-05-01T03:07:02Z").unwrap()
    }

    #[test]
    fn request_table() {
        let items: Vec<AccessRequest> = vec![
            fixture("access-request-pending.json"),
            fixture("access-request-active.json"),
        ];
        let text = render_requests(&items, now());
        let want = "\
ID           STATE     PROFILE   NAMESPACE   REQUESTER           FOR   AGE   DETAIL
r-7f3a09c1   pending   debug     payments    carol@example.com   30m   4m    needs 1 approval from sre-leads or payments-leads
r-0b5e44d2   active    debug     payments    alice@example.com   30m   20m   grant g-9c01d7aa, ends in 10m
";
        assert_eq!(text, want);
    }

    #[test]
    fn pending_request_text_is_what_docs_cli_md_shows() {
        let r: AccessRequest = fixture("access-request-pending.json");
        assert_eq!(
            render_request(&r, now()),
            "r-7f3a09c1 pending: debug in payments for 30m, requested by carol@example.com\n  \
             reason:  checkout errors after deploy\n  ticket:  INC-4211\n  \
             route:   needs 1 approval from sre-leads or payments-leads\n"
        );
        let active: AccessRequest = fixture("access-request-active.json");
        assert!(
            render_request(&active, now()).ends_with("  status:  grant g-9c01d7aa, ends in 10m\n")
        );
    }

    #[test]
    fn grant_table_and_detail() {
        let items: Vec<Grant> = vec![fixture("grant.json"), fixture("grant-revoked.json")];
        let text = render_grants(&items, now());
        let want = "\
GRANT        STATE                   PROFILE   NAMESPACES   USER                ENDS               REQUEST      REASON
g-9c01d7aa   active                  debug     payments     alice@example.com   in 10m             r-0b5e44d2   INC-4211 api latency
g-1d2e3f40   revoked (break-glass)   debug     checkout     bob@example.com     revoked 2h2m ago   r-00aa11bb   break glass: checkout down
";
        assert_eq!(text, want);
        assert!(text.contains("revoked 2h2m ago"), "{text}");
        let detail = render_grant(&items[1], now());
        assert!(
            detail.contains("revoked: by dave@example.com 2h2m ago: fixed; closing access"),
            "{detail}"
        );
        assert!(
            detail.contains("reviewed: by dave@example.com in 5h52m: justified"),
            "{detail}"
        );
    }

    #[test]
    fn whoami_text() {
        let who: WhoAmI = fixture("whoami.json");
        let text = render_whoami(&who, now());
        assert!(text.starts_with("user:     alice@example.com\ngroups:   oncall-payments, sre\nvia:      client certificate, expires 10:40:00Z (in 7h32m)\n"), "{text}");
        assert!(text.contains("g-9c01d7aa"), "{text}");
    }

    #[test]
    fn server_text_cannot_drive_the_terminal() {
        let mut r: AccessRequest = fixture("access-request-pending.json");
        r.reason = "ok\u{1b}[2J\u{1b}]0;pwned\u{7}\u{202e}evil".into();
        let text = render_request(&r, now());
        assert!(
            !text
                .chars()
                .any(|c| c == '\u{1b}' || c == '\u{7}' || c == '\u{202e}'),
            "{text:?}"
        );
        assert!(text.contains("reason:  ok [2J ]0;pwned  evil"), "{text}");
    }

    #[test]
    fn durations_and_times() {
        let cases = [
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h"),
            (3900, "1h5m"),
            (86_400, "1d"),
            (90_000, "1d1h"),
        ];
        for (secs, want) in cases {
            assert_eq!(short_duration(Duration::from_secs(secs)), want, "{secs}");
        }
        let t = Timestamp::parse("2026-05-01T03:17:02Z").unwrap();
        assert_eq!(when(now(), t), "03:17:02Z (in 10m)");
        let tomorrow = Timestamp::parse("2026-05-02T03:17:02Z").unwrap();
        assert_eq!(when(now(), tomorrow), "2026-05-02T03:17:02Z (in 1d)");
        assert_eq!(
            relative(now(), Timestamp::parse("2026-05-01T03:00:02Z").unwrap()),
            "7m ago"
        );
    }

    #[test]
    fn json_output_parses_back_as_api_types() {
        let items: Vec<AccessRequest> = vec![
            fixture("access-request-pending.json"),
            fixture("access-request-active.json"),
        ];
        let list = jitgate_api::AccessRequestList { items };
        for format in [OutputFormat::Json, OutputFormat::Yaml] {
            let text = serialized(format, &list).unwrap();
            let back: jitgate_api::AccessRequestList = match format {
                OutputFormat::Yaml => serde_yaml::from_str(&text).unwrap(),
                _ => serde_json::from_str(&text).unwrap(),
            };
            assert_eq!(back, list, "{format:?}");
        }
        let grant: Grant = fixture("grant-revoked.json");
        let back: Grant =
            serde_json::from_str(&serialized(OutputFormat::Json, &grant).unwrap()).unwrap();
        assert_eq!(back, grant);
    }

    #[test]
    fn profile_table() {
        let list: jitgate_api::ProfileList = fixture("profiles.json");
        let text = render_profiles(&list.items);
        assert!(
            text.starts_with(
                "PROFILE     DEFAULT   MAX   BREAK-GLASS   NAMESPACES          APPROVAL  "
            ),
            "{text}"
        );
        assert!(text.contains("read-only   1h        8h    no            *                   needs 1 approval from sre-leads"), "{text}");
        assert!(text.contains("up to 1h"), "{text}");
    }
}
