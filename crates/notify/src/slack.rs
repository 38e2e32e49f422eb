//! The Slack incoming-webhook rendering: `{"text": ..., "blocks": [...]}` in Block Kit.
//!
//! Everything a requester typed is escaped (`&`, `<`, `>`), so a reason cannot ping a channel
//! or forge a link, and cut to stay inside Slack's block limits. Break-glass is loud: a
//! `:rotating_light:` header saying BREAK-GLASS, and the sink's urgent mention (e.g. `<!here>`).

use serde_json::{Value, json};

use crate::notification::{EventKind, Notification, rfc3339};

/// Longest value shown in a field, in characters (Slack allows 2000 per field).
const MAX_FIELD_CHARS: usize = 300;
/// Longest reason shown, in characters (Slack allows 3000 per section).
const MAX_REASON_CHARS: usize = 1_000;
/// Longest header, in characters (Slack allows 150).
const MAX_HEADER_CHARS: usize = 150;

/// The Slack message for a notification. `urgent_mention` (e.g. `<!here>`) is put in front of
/// urgent messages; it is the sink's configuration, not user input, and is not escaped.
pub fn slack_payload(n: &Notification, urgent_mention: Option<&str>) -> Value {
    let urgent = n.is_urgent();
    let mention = match urgent_mention {
        Some(m) if urgent => format!("{m} "),
        _ => String::new(),
    };
    let siren = if urgent { ":rotating_light: " } else { "" };
    let text = format!(
        "{mention}{siren}{}",
        escaped(&n.summary(), MAX_REASON_CHARS)
    );

    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": cut(&header(n), MAX_HEADER_CHARS), "emoji": true},
    })];
    blocks.push(json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("{mention}{}", headline(n))},
    }));

    let mut fields = vec![
        field("Requester", &escaped(&n.requester, MAX_FIELD_CHARS)),
        field("Profile", &code(&n.profile)),
        field("Namespace", &code(&n.namespace)),
        field(
            "Ticket",
            &n.ticket
                .as_deref()
                .map_or_else(|| "none".to_owned(), |t| escaped(t, MAX_FIELD_CHARS)),
        ),
    ];
    if let Some(actor) = &n.actor {
        fields.push(field(by_label(n.event), &escaped(actor, MAX_FIELD_CHARS)));
    }
    if let Some(expires) = n.expires_at {
        fields.push(field("Until", &rfc3339(expires)));
    }
    blocks.push(json!({"type": "section", "fields": fields}));
    blocks.push(json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("*Reason*\n>{}", escaped(&n.reason, MAX_REASON_CHARS).replace('\n', "\n>"))},
    }));

    if n.event == EventKind::BreakGlass {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": ":warning: Break-glass access is self-approved. Review it now, and revoke it if it is not justified."},
        }));
    }
    if let Some(command) = &n.approve_command {
        let verb = if n.event == EventKind::RequestPending {
            "Approve with"
        } else {
            "Act with"
        };
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("{verb} {}", code(command))},
        }));
    }
    if let Some(url) = n.approve_url.as_deref().filter(|u| is_web_url(u)) {
        let (label, style) = match n.event {
            EventKind::BreakGlass => ("Review break-glass", "danger"),
            EventKind::RequestPending => ("Review request", "primary"),
            _ => ("Open request", "primary"),
        };
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": {"type": "plain_text", "text": label},
                "url": cut(url, 3_000),
                "style": style,
            }],
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": format!("jitgate · {} · request {} · {}", n.event.as_str(), code(&n.request_id), rfc3339(n.at)),
        }],
    }));
    json!({"text": text, "blocks": blocks})
}

fn header(n: &Notification) -> String {
    let title = match n.event {
        EventKind::RequestPending => ":hourglass_flowing_sand: Access request needs approval",
        EventKind::RequestApproved => ":white_check_mark: Access approved",
        EventKind::RequestDenied => ":no_entry: Access request denied",
        EventKind::BreakGlass => return ":rotating_light: BREAK-GLASS access used".to_owned(),
        EventKind::Revoked => ":lock: Access revoked",
        EventKind::Expired => ":hourglass: Access expired",
    };
    if n.is_urgent() {
        format!(":rotating_light: URGENT {title}")
    } else {
        title.to_owned()
    }
}

/// The first line, with the people in bold and the scope in code.
fn headline(n: &Notification) -> String {
    let who = format!("*{}*", escaped(&n.requester, MAX_FIELD_CHARS));
    let what = format!("{} in {}", code(&n.profile), code(&n.namespace));
    let actor = n
        .actor
        .as_deref()
        .map(|a| format!("*{}*", escaped(a, MAX_FIELD_CHARS)));
    match (n.event, actor) {
        (EventKind::RequestPending, _) => format!("{who} requests {what}"),
        (EventKind::RequestApproved, Some(a)) => format!("{a} approved {who}'s request for {what}"),
        (EventKind::RequestApproved, None) => format!("{who}'s request for {what} was approved"),
        (EventKind::RequestDenied, Some(a)) => format!("{a} denied {who}'s request for {what}"),
        (EventKind::RequestDenied, None) => format!("{who}'s request for {what} was denied"),
        (EventKind::BreakGlass, _) => {
            format!("*BREAK-GLASS*: {who} took emergency access to {what}")
        }
        (EventKind::Revoked, Some(a)) => format!("{a} revoked {who}'s access to {what}"),
        (EventKind::Revoked, None) => format!("{who}'s access to {what} was revoked"),
        (EventKind::Expired, _) => format!("{who}'s access to {what} expired"),
    }
}

fn by_label(event: EventKind) -> &'static str {
    match event {
        EventKind::RequestApproved => "Approved by",
        EventKind::RequestDenied => "Denied by",
        EventKind::Revoked => "Revoked by",
        _ => "By",
    }
}

fn field(label: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{label}*\n{value}")})
}

/// `text` with the three characters Slack's mrkdwn gives meaning to (links, mentions,
/// entities) escaped and control characters other than newlines dropped, cut to at most `max`
/// characters of output (ending in `…` when cut; an entity is never split).
fn escaped(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut len = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let entity = match c {
            '&' => Some("&amp;"),
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            c if c.is_control() && c != '\n' => continue,
            _ => None,
        };
        let width = entity.map_or(1, str::len);
        // Keep room for the ellipsis unless this is the last character.
        let room = if chars.peek().is_some() {
            max.saturating_sub(1)
        } else {
            max
        };
        if len + width > room {
            out.push('…');
            return out;
        }
        match entity {
            Some(e) => out.push_str(e),
            None => out.push(c),
        }
        len += width;
    }
    out
}

/// A value in a code span: escaped, backticks replaced so the span cannot be closed early.
fn code(text: &str) -> String {
    format!("`{}`", escaped(text, MAX_FIELD_CHARS).replace('`', "'"))
}

/// At most `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn is_web_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(event: EventKind) -> Notification {
        Notification::new(
            event,
            "r-7f3a",
            "alice@example.com",
            "debug",
            "payments",
            "INC-4211",
            time::macros::datetime!(2026-03-29 01:59:00 UTC),
        )
    }

    #[test]
    fn requester_text_cannot_mention_or_link() {
        let mut n = sample(EventKind::RequestPending);
        n.reason = "<!channel> look at <https://evil.example|this> & that".into();
        n.requester = "<@U123>".into();
        let rendered = slack_payload(&n, None).to_string();
        for forbidden in ["<!channel>", "<https://evil", "<@U123>"] {
            assert!(
                !rendered.contains(forbidden),
                "{forbidden} survived: {rendered}"
            );
        }
        assert!(rendered.contains("&lt;!channel&gt;"));
        assert!(rendered.contains("&amp; that"));
    }

    #[test]
    fn code_spans_cannot_be_closed_early() {
        assert_eq!(code("a`b"), "`a'b`");
    }

    #[test]
    fn escaping_and_cutting() {
        let cases = [
            ("short", "a<b", 10, "a&lt;b"),
            ("exact fit", "abc", 3, "abc"),
            ("cut", "abcd", 3, "ab…"),
            ("entity not split", "a<bc", 4, "a…"),
            ("controls dropped", "a\u{7}b\nc", 10, "ab\nc"),
        ];
        for (name, text, max, want) in cases {
            assert_eq!(escaped(text, max), want, "{name}");
        }
    }

    #[test]
    fn break_glass_is_loud_and_mentions() {
        let n = sample(EventKind::BreakGlass);
        let p = slack_payload(&n, Some("<!here>"));
        let text = p["text"].as_str().unwrap();
        assert!(
            text.starts_with("<!here> :rotating_light: BREAK-GLASS"),
            "{text}"
        );
        assert_eq!(
            p["blocks"][0]["text"]["text"],
            ":rotating_light: BREAK-GLASS access used"
        );
        // Not urgent: no mention, no siren.
        let quiet = slack_payload(&sample(EventKind::Expired), Some("<!here>"));
        let text = quiet["text"].as_str().unwrap();
        assert!(
            !text.contains("<!here>") && !text.contains("rotating_light"),
            "{text}"
        );
    }

    #[test]
    fn urgent_non_break_glass_is_flagged() {
        let mut n = sample(EventKind::RequestPending);
        n.urgent = true;
        let p = slack_payload(&n, None);
        assert!(
            p["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .starts_with(":rotating_light: URGENT")
        );
    }

    #[test]
    fn long_values_are_cut_within_slack_limits() {
        let mut n = sample(EventKind::RequestPending);
        // `<` becomes `&lt;`: the worst case for escaped length.
        n.reason = "<".repeat(10_000);
        n.profile = "p".repeat(10_000);
        n.requester = "&".repeat(10_000);
        let p = slack_payload(&n, None);
        for block in p["blocks"].as_array().unwrap() {
            if let Some(t) = block["text"]["text"].as_str() {
                assert!(t.chars().count() <= 3_000, "{}", t.len());
            }
            for f in block["fields"].as_array().into_iter().flatten() {
                assert!(f["text"].as_str().unwrap().chars().count() <= 2_000);
            }
        }
        assert!(p["text"].as_str().unwrap().chars().count() <= 3_000);
    }

    #[test]
    fn only_web_urls_become_buttons() {
        let mut n = sample(EventKind::RequestPending);
        n.approve_url = Some("javascript:alert(1)".into());
        let p = slack_payload(&n, None);
        assert!(!p.to_string().contains("javascript:"));
        n.approve_url = Some("https://jitgate.example.com/requests/r-7f3a".into());
        let p = slack_payload(&n, None);
        assert!(p.to_string().contains("\"type\":\"actions\""));
    }
}
