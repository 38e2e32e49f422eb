//! Durations in the policy file: `90s`, `30m`, `4h`, `1h30m`, `2d`, between one minute and
//! seven days.

use std::time::Duration;

/// Shortest duration a policy may name: access for less than a minute is not useful, and a
/// typo such as `30s` for `30m` is more likely.
pub const MIN_DURATION: Duration = Duration::from_secs(60);
/// Longest duration a policy may name: just-in-time access is not standing access.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 86_400);

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationProblem {
    /// It does not parse; the text says why.
    Syntax(String),
    /// It parses but is below [`MIN_DURATION`] or above [`MAX_DURATION`].
    OutOfRange(String),
}

/// Parses a policy duration: one or more `<number><unit>` with units `s`, `m`, `h`, `d`, each
/// unit at most once and from the largest to the smallest (`1h30m`, not `30m1h`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationProblem> {
    let syntax = |why: &str| {
        DurationProblem::Syntax(format!(
            "{text:?} is not a duration: {why}; write e.g. 30m, 4h, 1h30m or 90s"
        ))
    };
    if text.is_empty() {
        return Err(syntax("it is empty"));
    }
    if text.len() > 32 {
        return Err(syntax("it is too long"));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut last_unit = u64::MAX;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c {
            'd' => 86_400,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(syntax(&format!("{c:?} is not a unit (use d, h, m or s)"))),
        };
        if number.is_empty() {
            return Err(syntax(&format!("a number must come before {c:?}")));
        }
        if unit >= last_unit {
            return Err(syntax(
                "units must go from the largest to the smallest, each once",
            ));
        }
        last_unit = unit;
        let n: u64 = number
            .parse()
            .map_err(|_| syntax("a number is too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| syntax("it is too large"))?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(syntax(&format!("{number:?} has no unit")));
    }
    let duration = Duration::from_secs(total);
    if duration < MIN_DURATION || duration > MAX_DURATION {
        return Err(DurationProblem::OutOfRange(format!(
            "{text:?} is {}; durations must be between {} and {}",
            format_duration(duration),
            format_duration(MIN_DURATION),
            format_duration(MAX_DURATION)
        )));
    }
    Ok(duration)
}

/// A duration the way the policy writes it: `1h30m`, `45s`, `7d`; `0s` for zero.
#[must_use]
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, name) in [(86_400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')] {
        if secs >= unit {
            out.push_str(&(secs / unit).to_string());
            out.push(name);
            secs %= unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn durations_people_write() {
        let ok = [
            ("90s", 90),
            ("1m", 60),
            ("30m", 1800),
            ("4h", 14_400),
            ("1h30m", 5400),
            ("1d12h", 129_600),
            ("7d", 604_800),
        ];
        for (text, secs) in ok {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        let syntax = [
            "",
            "30",
            "m",
            "1x",
            "-5m",
            "1.5h",
            "30m1h",
            "1h1h",
            "1h 30m",
            "4H",
            "99999999999999999999d",
        ];
        for text in syntax {
            assert!(
                matches!(parse_duration(text), Err(DurationProblem::Syntax(_))),
                "{text}: {:?}",
                parse_duration(text)
            );
        }
        for text in ["0m", "59s", "30s", "8d", "169h"] {
            assert!(
                matches!(parse_duration(text), Err(DurationProblem::OutOfRange(_))),
                "{text}"
            );
        }
    }

    proptest! {
        #[test]
        fn formatting_round_trips(secs in 60u64..=604_800) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
