//! Wall-clock arithmetic for schedules: shift lengths, times of day, weekdays, and turning a
//! local date and time into an instant across DST gaps and folds.
//!
//! The one rule every schedule relies on: [`resolve`] is monotonic. If local time `a` is not
//! after local time `b`, the instant of `a` is not after the instant of `b`. So shift boundaries
//! computed on the wall clock never overlap and never leave a gap, whatever the time zone does.

use jiff::Timestamp;
use jiff::civil::{DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// Seconds in a civil (wall-clock) day. Civil arithmetic has no DST: every day has this many.
pub(crate) const DAY_SECS: i64 = 86_400;

/// The longest shift a rotation may have: a year of wall-clock time.
pub(crate) const MAX_LENGTH_SECS: i64 = 366 * DAY_SECS;

/// The instant at which the wall clock of `zone` shows `civil`.
///
/// - Unambiguous local times map to their one instant.
/// - A local time skipped by a gap (spring forward: 02:30 on the day clocks jump from 02:00 to
///   03:00) maps to the instant the gap ends: the transition itself, shown as 03:00.
/// - A local time that occurs twice (fall back) maps to its first occurrence.
///
/// Both choices keep the mapping monotonic (see the module docs). `None` only outside the
/// range jiff can represent.
pub(crate) fn resolve(zone: &TimeZone, civil: DateTime) -> Option<Timestamp> {
    match zone.to_ambiguous_timestamp(civil).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(civil).ok(),
        // `before` is the larger offset in a fold, so it gives the earlier instant.
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(civil).ok(),
        AmbiguousOffset::Gap { before, after } => {
            // With the later (larger) offset, a local time in the gap lands strictly before the
            // transition, so the first transition after it is the end of the gap.
            let probe = after.to_timestamp(civil).ok()?;
            zone.following(probe)
                .next()
                .map(|t| t.timestamp())
                .or_else(|| before.to_timestamp(civil).ok())
        }
    }
}

/// Parses a shift length: one or more `<number><unit>` parts, units `w` (7 days), `d` (day),
/// `h` (hour), `m` (minute); e.g. `1w`, `12h`, `1d12h`, `90m`. Returns wall-clock seconds.
pub(crate) fn parse_length(text: &str) -> Result<i64, String> {
    let fix =
        "write the length as a number and a unit: 1w, 2d, 12h, 30m (parts may be combined: 1d12h)";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("the length is empty; {fix}"));
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            if digits.len() >= 6 {
                return Err(format!(
                    "{text:?} has a number too large for a shift; {fix}"
                ));
            }
            digits.push(c);
            continue;
        }
        let unit = match c {
            'w' => 7 * DAY_SECS,
            'd' => DAY_SECS,
            'h' => 3_600,
            'm' => 60,
            _ => return Err(format!("{text:?} has an unknown unit {c:?}; {fix}")),
        };
        if digits.is_empty() {
            return Err(format!(
                "{text:?} has a unit {c:?} without a number before it; {fix}"
            ));
        }
        let n: i64 = digits
            .parse()
            .map_err(|_| format!("{text:?} is not a length; {fix}"))?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("{text:?} is longer than a year; use a shorter shift"))?;
    }
    if !digits.is_empty() {
        return Err(format!("{text:?} ends in a number without a unit; {fix}"));
    }
    if total <= 0 {
        return Err(format!(
            "{text:?} is zero; a shift must last at least a minute"
        ));
    }
    if total > MAX_LENGTH_SECS {
        return Err(format!(
            "{text:?} is longer than a year; use a shorter shift"
        ));
    }
    Ok(total)
}

/// Parses a local time of day `HH:MM` (24-hour clock) into seconds after midnight. With
/// `allow_end_of_day`, `24:00` is accepted as the end of the day (86 400).
pub(crate) fn parse_time_of_day(text: &str, allow_end_of_day: bool) -> Result<i64, String> {
    let fix = if allow_end_of_day {
        "write a 24-hour time as \"HH:MM\", e.g. \"09:00\" or \"17:30\" (\"24:00\" is the end of the day)"
    } else {
        "write a 24-hour time as \"HH:MM\", e.g. \"09:00\" or \"17:30\""
    };
    let bad = || format!("{text:?} is not a time of day; {fix}");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: i64 = h.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    if allow_end_of_day && h == 24 && m == 0 {
        return Ok(DAY_SECS);
    }
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 3_600 + m * 60)
}

/// A weekday from its English name or three-letter abbreviation, any case.
pub(crate) fn parse_weekday(text: &str) -> Result<Weekday, String> {
    let day = match text.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => {
            return Err(format!(
                "{text:?} is not a weekday; use mon, tue, wed, thu, fri, sat or sun"
            ));
        }
    };
    Ok(day)
}

/// Seconds after local midnight of a wall-clock time (sub-seconds ignored).
pub(crate) fn seconds_of_day(time: Time) -> i64 {
    i64::from(time.hour()) * 3_600 + i64::from(time.minute()) * 60 + i64::from(time.second())
}

/// `HH:MM` for seconds after midnight, for messages.
pub(crate) fn format_time_of_day(secs: i64) -> String {
    format!("{:02}:{:02}", secs / 3_600, (secs % 3_600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn lengths() {
        let cases: &[(&str, &str, Result<i64, &str>)] = &[
            ("one week", "1w", Ok(7 * DAY_SECS)),
            ("one day", "1d", Ok(DAY_SECS)),
            ("twelve hours", "12h", Ok(12 * 3_600)),
            ("minutes", "90m", Ok(90 * 60)),
            ("combined", "1d12h", Ok(DAY_SECS + 12 * 3_600)),
            ("spaces around", " 2d ", Ok(2 * DAY_SECS)),
            ("empty", "", Err("empty")),
            ("zero", "0h", Err("zero")),
            ("no unit", "12", Err("without a unit")),
            ("unit first", "h12", Err("without a number")),
            ("unknown unit", "1y", Err("unknown unit")),
            ("seconds are not a unit", "30s", Err("unknown unit")),
            ("more than a year", "53w", Err("longer than a year")),
            ("huge number", "99999999999999999999d", Err("too large")),
        ];
        for (name, text, want) in cases {
            let got = parse_length(text);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(w, g, "{name}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{name}: {g}"),
                _ => panic!("{name}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn times_of_day() {
        let cases: &[(&str, &str, bool, Option<i64>)] = &[
            ("morning", "09:00", false, Some(9 * 3_600)),
            ("single digit hour", "9:05", false, Some(9 * 3_600 + 300)),
            ("last minute", "23:59", false, Some(DAY_SECS - 60)),
            ("midnight", "00:00", false, Some(0)),
            ("end of day allowed", "24:00", true, Some(DAY_SECS)),
            ("end of day not allowed", "24:00", false, None),
            ("hour out of range", "25:00", true, None),
            ("minute out of range", "10:60", false, None),
            ("no colon", "0900", false, None),
            ("seconds", "09:00:00", false, None),
            ("letters", "ab:cd", false, None),
            ("negative", "-1:00", false, None),
        ];
        for (name, text, end, want) in cases {
            assert_eq!(parse_time_of_day(text, *end).ok(), *want, "{name}");
        }
    }

    #[test]
    fn weekdays() {
        assert_eq!(parse_weekday("Mon").ok(), Some(Weekday::Monday));
        assert_eq!(parse_weekday("sunday").ok(), Some(Weekday::Sunday));
        assert!(parse_weekday("funday").is_err());
    }

    fn berlin() -> TimeZone {
        jiff::tz::TimeZoneDatabase::bundled()
            .get("Europe/Berlin")
            .unwrap()
    }

    #[test]
    fn resolve_gap_maps_to_the_end_of_the_gap() {
        // 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST (01:00 UTC).
        let tz = berlin();
        let transition: Timestamp = "2026-03-29T01:00:00Z".parse().unwrap();
        for (h, m) in [(2, 0), (2, 30), (2, 59)] {
            let got = resolve(&tz, date(2026, 3, 29).at(h, m, 0, 0)).unwrap();
            assert_eq!(got, transition, "{h:02}:{m:02}");
        }
        let three = resolve(&tz, date(2026, 3, 29).at(3, 0, 0, 0)).unwrap();
        assert_eq!(three, transition);
        let before = resolve(&tz, date(2026, 3, 29).at(1, 59, 0, 0)).unwrap();
        assert_eq!(before.to_string(), "2026-03-29T00:59:00Z");
    }

    #[test]
    fn resolve_fold_maps_to_the_first_occurrence() {
        // 2026-10-25: Berlin falls back from 03:00 CEST to 02:00 CET; 02:30 happens twice.
        let tz = berlin();
        let got = resolve(&tz, date(2026, 10, 25).at(2, 30, 0, 0)).unwrap();
        assert_eq!(got.to_string(), "2026-10-25T00:30:00Z");
        let after = resolve(&tz, date(2026, 10, 25).at(3, 0, 0, 0)).unwrap();
        assert_eq!(after.to_string(), "2026-10-25T02:00:00Z");
    }

    #[test]
    fn resolve_is_monotonic_across_both_transitions() {
        let tz = berlin();
        for day in [date(2026, 3, 29), date(2026, 10, 25)] {
            let mut last: Option<Timestamp> = None;
            let mut civil = day.at(0, 0, 0, 0);
            let end = day.at(6, 0, 0, 0);
            while civil < end {
                let now = resolve(&tz, civil).unwrap();
                if let Some(prev) = last {
                    assert!(prev <= now, "{civil}: {prev} then {now}");
                }
                last = Some(now);
                civil = civil
                    .checked_add(jiff::SignedDuration::from_secs(60))
                    .unwrap();
            }
        }
    }
}
