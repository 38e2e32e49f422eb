//! Tests of schedule evaluation: DST, boundaries, precedence, restrictions, and file errors.

use super::*;

fn ts(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn schedule(yaml: &str) -> Schedule {
    match Schedule::parse(yaml) {
        Ok(s) => s,
        Err(e) => panic!("schedule does not parse: {e}\n{yaml}"),
    }
}

fn only(s: &Schedule, at: &str) -> String {
    let users = s.on_call_at(ts(at));
    assert_eq!(users.len(), 1, "at {at}: {users:?}");
    users[0].clone()
}

fn shift_bounds(s: &Schedule, at: &str) -> (Timestamp, Option<Timestamp>) {
    match &s.who_at(ts(at))[..] {
        [
            OnCall {
                via:
                    OnCallVia::Rotation {
                        shift_start,
                        shift_end,
                        ..
                    },
                ..
            },
        ] => (*shift_start, *shift_end),
        other => panic!("at {at}: {other:?}"),
    }
}

const WEEKLY: &str = r#"
timezone: Europe/Berlin
rotations:
  - name: primary
    users: [alice@example.com, bob@example.com]
    start: 2026-01-05T09:00:00+01:00
    length: 1w
    handoff: "09:00"
overrides:
  - user: carol@example.com
    start: 2026-12-24T18:00:00+01:00
    end: 2026-12-26T09:00:00+01:00
"#;

#[test]
fn weekly_rotation_takes_turns() {
    let s = schedule(WEEKLY);
    assert_eq!(s.time_zone(), "Europe/Berlin");
    let cases = [
        (
            "first shift begins at start",
            "2026-01-05T09:00:00+01:00",
            "alice@example.com",
        ),
        (
            "middle of the first week",
            "2026-01-08T15:00:00+01:00",
            "alice@example.com",
        ),
        (
            "second week",
            "2026-01-12T09:00:00+01:00",
            "bob@example.com",
        ),
        (
            "third week is alice again",
            "2026-01-19T09:00:00+01:00",
            "alice@example.com",
        ),
        // Weekly handoffs stay at 09:00 local in summer (07:00 UTC instead of 08:00); 2026-07-06
        // begins week 26.
        (
            "summer handoff at 09:00 CEST",
            "2026-07-06T09:00:00+02:00",
            "alice@example.com",
        ),
        (
            "a second before it",
            "2026-07-06T08:59:59+02:00",
            "bob@example.com",
        ),
        (
            "08:00 UTC would be too late",
            "2026-07-06T07:30:00Z",
            "alice@example.com",
        ),
    ];
    for (name, at, want) in cases {
        assert_eq!(only(&s, at), want, "{name}");
    }
    assert!(
        s.on_call_at(ts("2026-01-05T08:59:59+01:00")).is_empty(),
        "before start"
    );
}

#[test]
fn override_replaces_the_rotation_in_its_window_only() {
    let s = schedule(WEEKLY);
    // 2026-12-21 is a Monday; the rotation has alice on weeks 0, 2, ... → week 50 is alice.
    assert_eq!(only(&s, "2026-12-24T17:59:59+01:00"), "alice@example.com");
    assert_eq!(only(&s, "2026-12-24T18:00:00+01:00"), "carol@example.com");
    assert_eq!(only(&s, "2026-12-26T08:59:59+01:00"), "carol@example.com");
    assert_eq!(only(&s, "2026-12-26T09:00:00+01:00"), "alice@example.com");
    assert!(matches!(
        s.who_at(ts("2026-12-25T12:00:00+01:00"))[0].via,
        OnCallVia::Override { index: 0, .. }
    ));
}

#[test]
fn override_spanning_a_handoff() {
    let s = schedule(
        r#"
timezone: Europe/Berlin
rotations:
  - users: [alice, bob]
    start: 2026-03-02
    handoff: "09:00"
    length: 1d
overrides:
  - user: carol
    start: 2026-03-03T08:00:00+01:00
    end: 2026-03-03T10:00:00+01:00
"#,
    );
    let cases = [
        (
            "before the override, the old shift",
            "2026-03-03T07:59:59+01:00",
            "alice",
        ),
        ("override starts", "2026-03-03T08:00:00+01:00", "carol"),
        (
            "override covers the handoff instant",
            "2026-03-03T09:00:00+01:00",
            "carol",
        ),
        (
            "override's last second",
            "2026-03-03T09:59:59+01:00",
            "carol",
        ),
        (
            "after it, the new shift",
            "2026-03-03T10:00:00+01:00",
            "bob",
        ),
    ];
    for (name, at, want) in cases {
        assert_eq!(only(&s, at), want, "{name}");
    }
}

#[test]
fn handoff_boundary_is_half_open() {
    let s = schedule(WEEKLY);
    let handoff = ts("2026-01-12T08:00:00Z");
    let just_before = handoff.checked_sub(SignedDuration::from_nanos(1)).unwrap();
    assert_eq!(s.on_call_at(just_before), ["alice@example.com"]);
    assert_eq!(s.on_call_at(handoff), ["bob@example.com"]);
    let (start, end) = shift_bounds(&s, "2026-01-12T08:00:00Z");
    assert_eq!(start, handoff);
    assert_eq!(end, Some(ts("2026-01-19T08:00:00Z")));
}

const DAILY_BERLIN: &str = r#"
timezone: Europe/Berlin
rotations:
  - name: daily
    users: [alice, bob, carol]
    start: 2026-03-20
    length: 1d
    handoff: "09:00"
"#;

#[test]
fn daily_handoff_stays_at_nine_local_across_spring_forward() {
    // 2026-03-29 02:00 CET → 03:00 CEST. The 28th's shift lasts 23 hours.
    let s = schedule(DAILY_BERLIN);
    let (start, end) = shift_bounds(&s, "2026-03-28T12:00:00+01:00");
    assert_eq!(start, ts("2026-03-28T09:00:00+01:00"));
    assert_eq!(end, Some(ts("2026-03-29T09:00:00+02:00")));
    assert_eq!(end.unwrap().duration_since(start).as_hours(), 23);
    let before = only(&s, "2026-03-29T08:59:59+02:00");
    let after = only(&s, "2026-03-29T09:00:00+02:00");
    assert_ne!(before, after);
    // 08:30 UTC on the 29th is 10:30 local: already the new shift (it would not be if
    // handoffs had stayed at 08:00 UTC).
    assert_eq!(only(&s, "2026-03-29T07:30:00Z"), after);
}

#[test]
fn daily_handoff_stays_at_nine_local_across_fall_back() {
    // 2026-10-25 03:00 CEST → 02:00 CET. The 24th's shift lasts 25 hours.
    let s = schedule(DAILY_BERLIN);
    let (start, end) = shift_bounds(&s, "2026-10-24T12:00:00+02:00");
    assert_eq!(start, ts("2026-10-24T09:00:00+02:00"));
    assert_eq!(end, Some(ts("2026-10-25T09:00:00+01:00")));
    assert_eq!(end.unwrap().duration_since(start).as_hours(), 25);
    let shift = |at: &str| match &s.who_at(ts(at))[0].via {
        OnCallVia::Rotation { shift, .. } => *shift,
        other => panic!("{other:?}"),
    };
    // Both occurrences of 02:30 belong to the same shift.
    assert_eq!(
        shift("2026-10-25T02:30:00+02:00"),
        shift("2026-10-25T02:30:00+01:00")
    );
    assert_eq!(
        shift("2026-10-25T09:00:00+01:00"),
        shift("2026-10-25T08:59:59+01:00") + 1
    );
}

#[test]
fn daily_handoff_across_us_dst() {
    let s = schedule(
        r#"
timezone: America/New_York
rotations:
  - users: [ana, ben]
    start: 2026-03-01
    length: 1d
    handoff: "09:00"
"#,
    );
    // 2026-03-08 is the US spring-forward day: 09:00 EDT is 13:00 UTC, the day before 14:00 UTC.
    let (start, end) = shift_bounds(&s, "2026-03-08T10:00:00-04:00");
    assert_eq!(start, ts("2026-03-08T13:00:00Z"));
    assert_eq!(end, Some(ts("2026-03-09T13:00:00Z")));
    let (start, _) = shift_bounds(&s, "2026-03-07T10:00:00-05:00");
    assert_eq!(start, ts("2026-03-07T14:00:00Z"));
}

#[test]
fn handoff_inside_the_spring_gap_happens_when_the_gap_ends() {
    // 02:30 does not exist on 2026-03-29 in Berlin: that handoff happens at 03:00 CEST.
    let s = schedule(
        r#"
timezone: Europe/Berlin
rotations:
  - users: [night-a, night-b]
    start: 2026-03-27
    length: 1d
    handoff: "02:30"
"#,
    );
    let (start, end) = shift_bounds(&s, "2026-03-29T12:00:00+02:00");
    assert_eq!(start, ts("2026-03-29T03:00:00+02:00"));
    assert_eq!(end, Some(ts("2026-03-30T02:30:00+02:00")));
    let a = only(&s, "2026-03-29T01:59:59+01:00");
    let b = only(&s, "2026-03-29T03:00:00+02:00");
    assert_ne!(a, b);
}

#[test]
fn handoff_inside_the_autumn_fold_happens_at_the_first_occurrence() {
    let s = schedule(
        r#"
timezone: Europe/Berlin
rotations:
  - users: [night-a, night-b]
    start: 2026-10-23
    length: 1d
    handoff: "02:30"
"#,
    );
    let (start, _) = shift_bounds(&s, "2026-10-25T12:00:00+01:00");
    assert_eq!(start, ts("2026-10-25T02:30:00+02:00"));
    // At the second 02:30 (CET), the new person has been on for an hour.
    assert_eq!(
        only(&s, "2026-10-25T02:30:00+01:00"),
        only(&s, "2026-10-25T02:30:00+02:00")
    );
    assert_ne!(
        only(&s, "2026-10-25T02:29:59+02:00"),
        only(&s, "2026-10-25T02:30:00+02:00")
    );
}

#[test]
fn twelve_hour_shifts_keep_their_wall_clock_times() {
    let s = schedule(
        r#"
timezone: Europe/Berlin
rotations:
  - users: [day, night]
    start: 2026-03-27
    handoff: "09:00"
    length: 12h
"#,
    );
    // Before and after the change, day starts at 09:00 and night at 21:00 local.
    let cases = [
        (
            "day before DST",
            "2026-03-28T10:00:00+01:00",
            "day",
            "2026-03-28T09:00:00+01:00",
        ),
        (
            "night across DST",
            "2026-03-29T03:30:00+02:00",
            "night",
            "2026-03-28T21:00:00+01:00",
        ),
        (
            "day after DST",
            "2026-03-29T10:00:00+02:00",
            "day",
            "2026-03-29T09:00:00+02:00",
        ),
        (
            "night after DST",
            "2026-03-29T22:00:00+02:00",
            "night",
            "2026-03-29T21:00:00+02:00",
        ),
    ];
    for (name, at, user, start) in cases {
        assert_eq!(only(&s, at), user, "{name}");
        assert_eq!(shift_bounds(&s, at).0, ts(start), "{name}");
    }
    // The night of the change is 11 hours long.
    let (start, end) = shift_bounds(&s, "2026-03-29T03:30:00+02:00");
    assert_eq!(end.unwrap().duration_since(start).as_hours(), 11);
}

#[test]
fn later_layers_win_and_restricted_layers_let_earlier_ones_show() {
    let s = schedule(
        r#"
timezone: Europe/Berlin
rotations:
  - name: follow-the-sun
    users: [sun]
    start: 2026-01-01T00:00:00Z
    length: 1w
  - name: office-hours
    users: [office]
    start: 2026-01-01T00:00:00Z
    length: 1w
    restrictions:
      - days: [mon, tue, wed, thu, fri]
        from: "09:00"
        to: "17:00"
"#,
    );
    // 2026-03-02 is a Monday.
    let cases = [
        (
            "monday before office hours",
            "2026-03-02T08:59:59+01:00",
            "sun",
        ),
        (
            "monday 09:00 exactly",
            "2026-03-02T09:00:00+01:00",
            "office",
        ),
        ("monday afternoon", "2026-03-02T16:59:59+01:00", "office"),
        ("monday 17:00 exactly", "2026-03-02T17:00:00+01:00", "sun"),
        ("saturday noon", "2026-03-07T12:00:00+01:00", "sun"),
        (
            "summer monday 09:00 local",
            "2026-07-06T09:00:00+02:00",
            "office",
        ),
    ];
    for (name, at, want) in cases {
        assert_eq!(only(&s, at), want, "{name}");
    }
}

#[test]
fn restriction_window_can_wrap_midnight() {
    let s = schedule(
        r#"
timezone: UTC
rotations:
  - users: [weekend-night]
    start: 2026-01-01T00:00:00Z
    length: 1w
    restrictions:
      - days: [fri]
        from: "22:00"
        to: "06:00"
"#,
    );
    // 2026-03-06 is a Friday.
    let cases = [
        ("friday 21:59", "2026-03-06T21:59:59Z", false),
        ("friday 22:00", "2026-03-06T22:00:00Z", true),
        (
            "saturday 03:00 belongs to friday's window",
            "2026-03-07T03:00:00Z",
            true,
        ),
        ("saturday 06:00 is the end", "2026-03-07T06:00:00Z", false),
        (
            "friday 03:00 belongs to thursday's window",
            "2026-03-06T03:00:00Z",
            false,
        ),
        ("saturday 22:00", "2026-03-07T22:00:00Z", false),
    ];
    for (name, at, on) in cases {
        assert_eq!(s.is_on_call("weekend-night", ts(at)), on, "{name}");
    }
}

#[test]
fn rotation_end_lets_the_layer_below_show() {
    let s = schedule(
        r#"
timezone: UTC
rotations:
  - users: [base]
    start: 2026-01-01T00:00:00Z
    length: 1d
  - users: [temp]
    start: 2026-02-01T00:00:00Z
    end: 2026-02-03T00:00:00Z
    length: 1d
"#,
    );
    assert_eq!(only(&s, "2026-01-31T23:59:59Z"), "base");
    assert_eq!(only(&s, "2026-02-01T00:00:00Z"), "temp");
    assert_eq!(only(&s, "2026-02-02T23:59:59Z"), "temp");
    assert_eq!(only(&s, "2026-02-03T00:00:00Z"), "base");
    let (_, end) = shift_bounds(&s, "2026-02-02T12:00:00Z");
    assert_eq!(end, Some(ts("2026-02-03T00:00:00Z")));
}

#[test]
fn overlapping_overrides_put_everyone_on_call_once() {
    let s = schedule(
        r#"
timezone: UTC
overrides:
  - user: carol
    start: 2026-01-01T00:00:00Z
    end: 2026-01-02T00:00:00Z
  - user: dave
    start: 2026-01-01T12:00:00Z
    end: 2026-01-03T00:00:00Z
  - user: Carol
    start: 2026-01-01T00:00:00Z
    end: 2026-01-01T13:00:00Z
"#,
    );
    assert_eq!(s.on_call_at(ts("2026-01-01T06:00:00Z")), ["carol"]);
    assert_eq!(s.on_call_at(ts("2026-01-01T12:30:00Z")), ["carol", "dave"]);
    assert_eq!(s.on_call_at(ts("2026-01-02T12:00:00Z")), ["dave"]);
    assert!(s.on_call_at(ts("2026-01-03T00:00:00Z")).is_empty());
}

#[test]
fn user_names_compare_without_ascii_case() {
    let s = schedule(WEEKLY);
    let at = ts("2026-01-06T12:00:00+01:00");
    assert!(s.is_on_call("Alice@Example.COM", at));
    assert!(s.is_on_call(" alice@example.com ", at));
    assert!(!s.is_on_call("bob@example.com", at));
    assert!(!s.is_on_call("", at));
    assert!(!s.is_on_call("alice@example.co", at));
}

#[test]
fn date_only_start_uses_the_handoff_time() {
    let s = schedule(
        r#"
timezone: Asia/Tokyo
rotations:
  - users: [a, b]
    start: 2026-04-01
    handoff: "10:00"
    length: 1d
"#,
    );
    assert!(s.on_call_at(ts("2026-04-01T09:59:59+09:00")).is_empty());
    assert_eq!(only(&s, "2026-04-01T10:00:00+09:00"), "a");
    assert_eq!(only(&s, "2026-04-02T10:00:00+09:00"), "b");
}

#[test]
fn json_is_accepted_too() {
    let s = schedule(
        r#"{"timezone": "UTC", "rotations": [{"users": ["a"], "start": "2026-01-01T00:00:00Z", "length": "1d"}]}"#,
    );
    assert_eq!(only(&s, "2026-05-01T00:00:00Z"), "a");
}

#[test]
fn schedule_errors_name_the_field_and_the_fix() {
    let rotation = |extra: &str| {
        format!(
            "timezone: Europe/Berlin\nrotations:\n  - name: primary\n    users: [alice]\n    start: 2026-01-05T09:00:00+01:00\n{extra}"
        )
    };
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "unknown time zone",
            "timezone: Europe/Atlantis\nrotations: []\n".into(),
            &["timezone", "Europe/Atlantis", "IANA"],
        ),
        (
            "placeholder time zone",
            "timezone: Etc/Unknown\nrotations:\n  - {users: [a], start: 2026-01-01, length: 1d}\n".into(),
            &["timezone", "not a usable time zone"],
        ),
        (
            "nothing in it",
            "timezone: UTC\n".into(),
            &["rotations", "nobody is ever on call"],
        ),
        (
            "empty users",
            "timezone: UTC\nrotations:\n  - users: []\n    start: 2026-01-01\n    length: 1d\n".into(),
            &["rotations[0].users", "no users"],
        ),
        (
            "blank user",
            "timezone: UTC\nrotations:\n  - users: [\"  \"]\n    start: 2026-01-01\n    length: 1d\n".into(),
            &["rotations[0].users[0]", "empty"],
        ),
        (
            "user with a space",
            "timezone: UTC\nrotations:\n  - users: [\"alice smith\"]\n    start: 2026-01-01\n    length: 1d\n".into(),
            &["rotations[0].users[0]", "spaces"],
        ),
        ("bad length", rotation("    length: 1y\n"), &["rotations[0].length", "unknown unit", "1w"]),
        ("zero length", rotation("    length: 0d\n"), &["rotations[0].length", "zero"]),
        ("missing length", rotation(""), &["missing field `length`"]),
        (
            "handoff disagrees with start",
            rotation("    length: 1d\n    handoff: \"08:00\"\n"),
            &["rotations[0].start", "is 09:00:00 in Europe/Berlin", "handoff is 08:00"],
        ),
        (
            "summer offset mistaken for winter",
            "timezone: Europe/Berlin\nrotations:\n  - users: [a]\n    start: 2026-07-06T09:00:00+01:00\n    length: 1d\n    handoff: \"09:00\"\n".into(),
            &["rotations[0].start", "is 10:00:00", "2026-07-06"],
        ),
        ("bad handoff", rotation("    length: 1d\n    handoff: \"9am\"\n"), &["rotations[0].handoff", "HH:MM"]),
        (
            "start without offset",
            "timezone: UTC\nrotations:\n  - users: [a]\n    start: 2026-01-05T09:00:00\n    length: 1d\n".into(),
            &["rotations[0].start", "RFC 3339", "offset"],
        ),
        (
            "rotation end before start",
            rotation("    length: 1d\n    end: 2026-01-01T00:00:00Z\n"),
            &["rotations[0].end", "at or before it starts"],
        ),
        (
            "override end before start",
            "timezone: UTC\noverrides:\n  - user: carol\n    start: 2026-12-26T09:00:00+01:00\n    end: 2026-12-24T18:00:00+01:00\n".into(),
            &["overrides[0].end", "at or before it starts"],
        ),
        (
            "override end equal to start",
            "timezone: UTC\noverrides:\n  - user: carol\n    start: 2026-12-26T09:00:00Z\n    end: 2026-12-26T09:00:00Z\n".into(),
            &["overrides[0].end"],
        ),
        (
            "typo in a field name",
            "timezone: UTC\noverides: []\nrotations: []\n".into(),
            &["unknown field `overides`", "docs/oncall.md"],
        ),
        (
            "typo in a rotation field",
            rotation("    length: 1d\n    hand_off: \"09:00\"\n"),
            &["unknown field `hand_off`"],
        ),
        (
            "empty restrictions",
            rotation("    length: 1d\n    restrictions: []\n"),
            &["rotations[0].restrictions", "remove `restrictions`"],
        ),
        (
            "window with from only",
            rotation("    length: 1d\n    restrictions:\n      - from: \"09:00\"\n"),
            &["rotations[0].restrictions[0].to", "give both"],
        ),
        (
            "window of zero length",
            rotation("    length: 1d\n    restrictions:\n      - {from: \"09:00\", to: \"09:00\"}\n"),
            &["rotations[0].restrictions[0].to", "same time"],
        ),
        (
            "bad weekday",
            rotation("    length: 1d\n    restrictions:\n      - days: [mon, funday]\n"),
            &["rotations[0].restrictions[0].days[1]", "funday"],
        ),
        (
            "duplicate rotation names",
            "timezone: UTC\nrotations:\n  - {name: a, users: [x], start: 2026-01-01, length: 1d}\n  - {name: a, users: [y], start: 2026-01-01, length: 1d}\n".into(),
            &["rotations[1].name", "also the name of rotations[0]"],
        ),
        ("not yaml at all", "timezone: [unclosed".into(), &["not valid"]),
    ];
    for (name, yaml, wants) in &cases {
        let err = match Schedule::parse(yaml) {
            Ok(_) => panic!("{name}: parsed, but should not have"),
            Err(e) => e.to_string(),
        };
        for want in *wants {
            assert!(err.contains(want), "{name}: {err:?} lacks {want:?}");
        }
    }
}

#[test]
fn oversized_schedule_is_refused_before_parsing() {
    let text = format!("timezone: UTC\n#{}\n", "x".repeat(MAX_SCHEDULE_BYTES));
    assert!(matches!(
        Schedule::parse(&text),
        Err(OnCallError::ScheduleTooLarge { .. })
    ));
}

#[test]
fn time_zone_names_are_case_insensitive_and_canonicalised() {
    let s = schedule(
        "timezone: europe/berlin\noverrides: [{user: a, start: 2026-01-01T00:00:00Z, end: 2026-01-02T00:00:00Z}]\n",
    );
    assert_eq!(s.time_zone(), "Europe/Berlin");
}

#[test]
fn unquoted_yaml_scalars_are_read_as_written() {
    // YAML 1.1 would read 09:00 as the number 540 and `on`/`no` as booleans; the schedule reads
    // every scalar as the text it is.
    let s = schedule(
        "timezone: UTC\nrotations:\n  - name: no\n    users: [on, 1234]\n    start: 2026-01-05\n    handoff: 09:00\n    length: 1d\n",
    );
    assert_eq!(only(&s, "2026-01-05T09:00:00Z"), "on");
    assert_eq!(only(&s, "2026-01-06T09:00:00Z"), "1234");
}
