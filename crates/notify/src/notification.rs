//! What the broker tells people about: a [`Notification`] is a plain value, rendered per sink.

use time::OffsetDateTime;

/// What happened to an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A new request waits for an approver.
    RequestPending,
    /// The request was approved (by someone, or automatically while on call).
    RequestApproved,
    /// The request was denied.
    RequestDenied,
    /// Someone used break-glass: self-approved emergency access. Always urgent.
    BreakGlass,
    /// Access was revoked before it expired.
    Revoked,
    /// Access ran out.
    Expired,
}

impl EventKind {
    /// Every kind, in a stable order.
    pub const ALL: [EventKind; 6] = [
        EventKind::RequestPending,
        EventKind::RequestApproved,
        EventKind::RequestDenied,
        EventKind::BreakGlass,
        EventKind::Revoked,
        EventKind::Expired,
    ];

    /// The name used in webhook bodies and the `X-Jitgate-Event` header, e.g. `request.pending`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestPending => "request.pending",
            Self::RequestApproved => "request.approved",
            Self::RequestDenied => "request.denied",
            Self::BreakGlass => "request.break_glass",
            Self::Revoked => "request.revoked",
            Self::Expired => "request.expired",
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing to tell people about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// What happened.
    pub event: EventKind,
    /// The request's id.
    pub request_id: String,
    /// Who asked for access.
    pub requester: String,
    /// The profile asked for.
    pub profile: String,
    /// The namespace asked for.
    pub namespace: String,
    /// The requester's reason.
    pub reason: String,
    /// The ticket, if one was given.
    pub ticket: Option<String>,
    /// Whether to be loud about it. Break-glass is urgent whatever this says
    /// (see [`Notification::is_urgent`]).
    pub urgent: bool,
    /// Who approved, denied or revoked, if a person did.
    pub actor: Option<String>,
    /// Where an approver can review the request (web UI).
    pub approve_url: Option<String>,
    /// The command an approver can run, e.g. `kubectl jit approve r-7f3a`.
    pub approve_command: Option<String>,
    /// When the access ends, for approved and break-glass requests.
    pub expires_at: Option<OffsetDateTime>,
    /// When it happened.
    pub at: OffsetDateTime,
}

impl Notification {
    /// A notification with the required fields; the optional ones empty, `urgent` set for
    /// break-glass.
    pub fn new(
        event: EventKind,
        request_id: impl Into<String>,
        requester: impl Into<String>,
        profile: impl Into<String>,
        namespace: impl Into<String>,
        reason: impl Into<String>,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            event,
            request_id: request_id.into(),
            requester: requester.into(),
            profile: profile.into(),
            namespace: namespace.into(),
            reason: reason.into(),
            ticket: None,
            urgent: event == EventKind::BreakGlass,
            actor: None,
            approve_url: None,
            approve_command: None,
            expires_at: None,
            at,
        }
    }

    /// Whether this is loud: flagged urgent, or break-glass.
    pub fn is_urgent(&self) -> bool {
        self.urgent || self.event == EventKind::BreakGlass
    }

    /// One plain-English line about what happened, used by every rendering.
    pub fn summary(&self) -> String {
        let who = &self.requester;
        let what = format!("{} in {}", self.profile, self.namespace);
        match self.event {
            EventKind::RequestPending => {
                format!("{who} requests {what}: {}", self.reason)
            }
            EventKind::RequestApproved => match &self.actor {
                Some(actor) => format!("{actor} approved {who}'s request for {what}"),
                None => format!("{who}'s request for {what} was approved"),
            },
            EventKind::RequestDenied => match &self.actor {
                Some(actor) => format!("{actor} denied {who}'s request for {what}"),
                None => format!("{who}'s request for {what} was denied"),
            },
            EventKind::BreakGlass => {
                format!(
                    "BREAK-GLASS: {who} took emergency access to {what}: {}",
                    self.reason
                )
            }
            EventKind::Revoked => match &self.actor {
                Some(actor) => format!("{actor} revoked {who}'s access to {what}"),
                None => format!("{who}'s access to {what} was revoked"),
            },
            EventKind::Expired => format!("{who}'s access to {what} expired"),
        }
    }
}

/// RFC 3339 in UTC with whole seconds, e.g. `2026-03-29T01:59:00Z`.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
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
            "INC-4211 checkout 500s",
            time::macros::datetime!(2026-03-29 01:59:00 UTC),
        )
    }

    #[test]
    fn break_glass_is_always_urgent() {
        let mut n = sample(EventKind::BreakGlass);
        assert!(n.urgent);
        n.urgent = false;
        assert!(n.is_urgent());
        assert!(!sample(EventKind::RequestPending).is_urgent());
    }

    #[test]
    fn summaries() {
        let mut approved = sample(EventKind::RequestApproved);
        approved.actor = Some("bob@example.com".into());
        let cases = [
            (
                sample(EventKind::RequestPending),
                "alice@example.com requests debug in payments: INC-4211 checkout 500s",
            ),
            (
                approved,
                "bob@example.com approved alice@example.com's request for debug in payments",
            ),
            (
                sample(EventKind::RequestApproved),
                "alice@example.com's request for debug in payments was approved",
            ),
            (
                sample(EventKind::BreakGlass),
                "BREAK-GLASS: alice@example.com took emergency access to debug in payments: INC-4211 checkout 500s",
            ),
            (
                sample(EventKind::Expired),
                "alice@example.com's access to debug in payments expired",
            ),
        ];
        for (n, want) in cases {
            assert_eq!(n.summary(), want, "{}", n.event);
        }
    }

    #[test]
    fn event_names_are_distinct() {
        let mut names: Vec<&str> = EventKind::ALL.iter().map(|e| e.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
    }

    #[test]
    fn times_are_utc_rfc3339() {
        let t = time::macros::datetime!(2026-03-29 03:59:00 +02:00);
        assert_eq!(rfc3339(t), "2026-03-29T01:59:00Z");
    }
}
