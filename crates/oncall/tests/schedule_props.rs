//! Properties of single-layer rotations in many time zones: at every instant after the start
//! exactly one user is on call, shifts tile time without gaps or overlaps, and users take turns
//! in order. Zones are chosen for their odd transitions: 30-minute DST (Lord Howe), a skipped
//! calendar day (Apia, 2011-12-30), southern-hemisphere DST (Santiago), none at all (Kolkata).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jitgate_oncall::{OnCallVia, Schedule, Timestamp};
use proptest::prelude::*;

/// A zone from the same bundled database the schedule uses, whatever the machine has.
fn bundled_zone(name: &str) -> Result<jiff::tz::TimeZone, jiff::Error> {
    jiff::tz::TimeZoneDatabase::bundled().get(name)
}

const ZONES: &[&str] = &[
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "America/Santiago",
    "Asia/Kolkata",
    "UTC",
];

/// Lengths in minutes: short ones exercise the search inside DST folds, long ones the usual case.
fn length_minutes() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(15),
        Just(30),
        Just(60),
        Just(12 * 60),
        Just(24 * 60),
        Just(7 * 24 * 60),
        15i64..=(3 * 24 * 60),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    zone: &'static str,
    users: usize,
    length_min: i64,
    /// Start as unix seconds (2010–2030), whole minutes.
    start: i64,
    /// The handoff time of day (minutes after midnight), for a date-only start.
    handoff: Option<i64>,
    /// Instants to probe, as seconds after the start.
    probes: Vec<i64>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(ZONES),
        1usize..=5,
        length_minutes(),
        (1_262_304_000i64 / 60..1_893_456_000i64 / 60).prop_map(|m| m * 60),
        prop::option::of(0i64..(24 * 60)),
        prop::collection::vec(0i64..(4 * 365 * 86_400), 1..8),
    )
        .prop_map(|(zone, users, length_min, start, handoff, probes)| Case {
            zone,
            users,
            length_min,
            start,
            handoff,
            probes,
        })
}

fn render(case: &Case) -> String {
    let users: Vec<String> = (0..case.users).map(|i| format!("user{i}")).collect();
    let start = Timestamp::from_second(case.start).unwrap();
    let (start_field, handoff_field) = match case.handoff {
        Some(minutes) => {
            let date = bundled_zone(case.zone).unwrap().to_datetime(start).date();
            (
                date.to_string(),
                format!("\n    handoff: \"{:02}:{:02}\"", minutes / 60, minutes % 60),
            )
        }
        None => (start.to_string(), String::new()),
    };
    format!(
        "timezone: {}\nrotations:\n  - name: only\n    users: [{}]\n    start: {}\n    length: {}m{}\n",
        case.zone,
        users.join(", "),
        start_field,
        case.length_min,
        handoff_field,
    )
}

fn shift_at(s: &Schedule, at: Timestamp) -> (String, i64, Timestamp, Timestamp) {
    let who = s.who_at(at);
    assert_eq!(who.len(), 1, "exactly one user at {at}: {who:?}");
    match &who[0].via {
        OnCallVia::Rotation {
            shift,
            shift_start,
            shift_end: Some(end),
            ..
        } => (who[0].user.clone(), *shift, *shift_start, *end),
        other => panic!("unexpected source {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn exactly_one_user_and_shifts_tile_time(case in case()) {
        let text = render(&case);
        let s = Schedule::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        // The first instant anyone is on call: walk back shift by shift from two days after
        // the start (a date-only start is at most a day after `case.start`).
        let probe = Timestamp::from_second(case.start + 2 * 86_400).unwrap();
        let mut first = shift_at(&s, probe).2;
        loop {
            let earlier = first.checked_sub(jiff::SignedDuration::from_nanos(1)).unwrap();
            if s.who_at(earlier).is_empty() {
                break;
            }
            first = shift_at(&s, earlier).2;
        }
        let before = first.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap();
        prop_assert!(s.on_call_at(before).is_empty(), "someone on call before the start\n{text}");
        let (user0, shift0, _, _) = shift_at(&s, first);
        prop_assert_eq!(shift0, 0);
        prop_assert_eq!(user0, "user0");

        // Random instants, and instants around the zone's next few transitions (where gaps
        // and folds make wall-clock shifts tricky).
        let mut probes: Vec<Timestamp> = case
            .probes
            .iter()
            .map(|o| first.checked_add(jiff::SignedDuration::from_secs(*o)).unwrap())
            .collect();
        let tz = bundled_zone(case.zone).unwrap();
        for transition in tz.following(first).take(4) {
            for step in -12i64..=12 {
                let at = transition
                    .timestamp()
                    .checked_add(jiff::SignedDuration::from_secs(step * 450))
                    .unwrap();
                if at >= first {
                    probes.push(at);
                }
            }
        }
        for at in probes {
            let (user, shift, start, end) = shift_at(&s, at);
            prop_assert!(start <= at && at < end, "{at} outside its shift [{start}, {end})\n{text}");
            prop_assert_eq!(user, format!("user{}", shift.rem_euclid(case.users as i64)));
            // The shift's end is the next shift's start: no gap, no overlap.
            let (_, next_shift, next_start, _) = shift_at(&s, end);
            prop_assert!(next_shift > shift);
            prop_assert_eq!(next_start, end);
            // And the instant before its start is the previous shift.
            if start > first {
                let just_before = start.checked_sub(jiff::SignedDuration::from_nanos(1)).unwrap();
                let (_, prev_shift, _, prev_end) = shift_at(&s, just_before);
                prop_assert!(prev_shift < shift);
                prop_assert_eq!(prev_end, start);
            }
        }
    }

    #[test]
    fn daily_handoffs_happen_at_the_handoff_time_unless_it_does_not_exist(
        zone in prop::sample::select(ZONES),
        // Night-time handoffs are where transitions happen; bias towards them.
        handoff in prop_oneof![0i64..(24 * 60), 0i64..(4 * 60)],
        nth in 0usize..6,
    ) {
        let tz = bundled_zone(zone).unwrap();
        let from: Timestamp = "2024-01-02T00:00:00Z".parse().unwrap();
        let transition = tz.following(from).nth(nth);
        prop_assume!(transition.is_some(), "{} has no transitions", zone);
        let transition = transition.unwrap().timestamp();
        let text = format!(
            "timezone: {zone}\nrotations:\n  - users: [a, b]\n    start: 2024-01-01\n    length: 1d\n    handoff: \"{:02}:{:02}\"\n",
            handoff / 60,
            handoff % 60
        );
        let s = Schedule::parse(&text).unwrap();
        // The shift covering the last minute of the transition's local day began at that
        // day's handoff.
        let day = tz.to_datetime(transition).date();
        let at = tz.to_timestamp(day.at(23, 59, 0, 0)).unwrap();
        let (_, _, start, _) = shift_at(&s, at);
        let local = tz.to_datetime(start);
        let wall_minutes = i64::from(local.hour()) * 60 + i64::from(local.minute());
        let wanted = day.at((handoff / 60) as i8, (handoff % 60) as i8, 0, 0);
        match tz.to_ambiguous_timestamp(wanted).offset() {
            // That time did not exist: the handoff happened when the gap ended.
            jiff::tz::AmbiguousOffset::Gap { .. } => prop_assert_eq!(start, transition, "\n{}", text),
            // It existed (once, or twice: then the first time).
            jiff::tz::AmbiguousOffset::Fold { before, .. } => {
                prop_assert_eq!(start, before.to_timestamp(wanted).unwrap(), "\n{}", text);
            }
            jiff::tz::AmbiguousOffset::Unambiguous { .. } => {
                prop_assert_eq!(local.date(), day);
                prop_assert_eq!(wall_minutes, handoff, "handoff at {} local\n{}", local, text);
            }
        }
    }
}
