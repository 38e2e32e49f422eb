//! Durations on the wire as Go writes them (`30m`, `1h30m`, `45s`, `1.5h`), so that any client
//! — Rust, Go's `time.ParseDuration`, a shell script — reads and writes the same text.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ApiError;

/// Longest duration text accepted.
const MAX_TEXT_LEN: usize = 32;

/// Longest duration accepted: one year. Nothing in jitgate lasts longer, and the cap keeps
/// arithmetic on timestamps far from overflow.
const MAX_SECS: u64 = 366 * 24 * 3600;

/// A non-negative duration written Go-style: a sequence of decimal numbers, each with an
/// optional fraction and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `30m`, `1h30m`,
/// `1.5h`, `500ms`. Days are not a unit (Go has none): write `48h`. Signs are refused.
///
/// It is written back in the shortest such form: `1h30m`, `30m`, `45s`, `1.5s`, `0s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(Duration);

impl GoDuration {
    /// `secs` seconds.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    /// The standard-library duration.
    #[must_use]
    pub const fn as_std(self) -> Duration {
        self.0
    }

    /// Whole seconds.
    #[must_use]
    pub const fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    /// Whether it is zero.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Parses Go-style duration text (see the type's docs).
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let fail = |reason: &str| ApiError::InvalidDuration {
            text: shown(text),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(fail("it is empty; write e.g. 30m, 1h or 1h30m"));
        }
        if text.len() > MAX_TEXT_LEN {
            return Err(fail(&format!(
                "it is longer than {MAX_TEXT_LEN} characters"
            )));
        }
        if text.starts_with(['-', '+']) {
            return Err(fail("a duration cannot have a sign"));
        }
        if text == "0" {
            return Ok(Self(Duration::ZERO));
        }
        let mut total_nanos: u128 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let (number, after) = rest.split_at(number_len);
            if number.is_empty() || number == "." {
                return Err(fail("each unit needs a number before it, as in 1h30m"));
            }
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, next) = after.split_at(unit_len);
            let unit_nanos: u128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60 * 1_000_000_000,
                "h" => 3_600 * 1_000_000_000,
                "" => {
                    return Err(fail(&format!(
                        "{number} has no unit; write e.g. {number}m or {number}s"
                    )));
                }
                "d" => return Err(fail("days are not a unit; write hours, e.g. 48h")),
                other => {
                    return Err(fail(&format!(
                        "unknown unit {other:?}; use h, m, s, ms, us or ns"
                    )));
                }
            };
            total_nanos = total_nanos
                .checked_add(scaled(number, unit_nanos).ok_or_else(|| fail("it is not a number"))?)
                .ok_or_else(|| fail("it is too long"))?;
            if total_nanos > u128::from(MAX_SECS) * 1_000_000_000 {
                return Err(fail("it is longer than a year"));
            }
            rest = next;
        }
        let secs =
            u64::try_from(total_nanos / 1_000_000_000).map_err(|_| fail("it is too long"))?;
        let nanos =
            u32::try_from(total_nanos % 1_000_000_000).map_err(|_| fail("it is too long"))?;
        Ok(Self(Duration::new(secs, nanos)))
    }
}

/// `number` (digits with at most one `.`) times `unit_nanos`, truncated to whole nanoseconds.
fn scaled(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return None;
    }
    let whole_value: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = whole_value.checked_mul(unit_nanos)?;
    // Digits beyond what a nanosecond can hold change nothing; 18 keeps the arithmetic in range.
    let mut scale = unit_nanos;
    for digit in fraction.bytes().take(18) {
        scale /= 10;
        if scale == 0 {
            break;
        }
        value = value.checked_add(u128::from(digit - b'0') * scale)?;
    }
    Some(value)
}

fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_TEXT_LEN).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Self {
        d.0
    }
}

impl FromStr for GoDuration {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let nanos = self.0.subsec_nanos();
        if secs == 0 {
            return match nanos {
                0 => f.write_str("0s"),
                n if n % 1_000_000 == 0 => write!(f, "{}ms", n / 1_000_000),
                n if n % 1_000 == 0 => write!(f, "{}us", n / 1_000),
                n => write!(f, "{n}ns"),
            };
        }
        let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if nanos > 0 {
            let fraction = format!("{nanos:09}");
            write!(f, "{s}.{}s", fraction.trim_end_matches('0'))
        } else if s > 0 {
            write!(f, "{s}s")
        } else {
            Ok(())
        }
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_what_go_writes_and_people_type() {
        let cases: &[(&str, &str, Duration)] = &[
            ("minutes", "30m", Duration::from_secs(1800)),
            ("hours and minutes", "1h30m", Duration::from_secs(5400)),
            ("go's own form", "1h30m0s", Duration::from_secs(5400)),
            ("fraction of an hour", "1.5h", Duration::from_secs(5400)),
            ("milliseconds", "500ms", Duration::from_millis(500)),
            ("fractional seconds", "1.25s", Duration::from_millis(1250)),
            ("micro sign", "3µs", Duration::from_micros(3)),
            ("bare zero", "0", Duration::ZERO),
            ("zero seconds", "0s", Duration::ZERO),
            ("leading dot", ".5s", Duration::from_millis(500)),
        ];
        for (name, text, want) in cases {
            assert_eq!(
                GoDuration::parse(text).map(GoDuration::as_std).ok(),
                Some(*want),
                "{name}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration_and_says_why() {
        let cases: &[(&str, &str, &str)] = &[
            ("empty", "", "it is empty"),
            ("no unit", "30", "30 has no unit; write e.g. 30m"),
            ("days", "2d", "days are not a unit; write hours, e.g. 48h"),
            ("negative", "-5m", "cannot have a sign"),
            ("unknown unit", "5x", "unknown unit \"x\""),
            ("unit without number", "h", "needs a number"),
            ("two dots", "1.2.3s", "not a number"),
            ("too long", "9999h", "longer than a year"),
            (
                "huge number",
                "99999999999999999999999999999999h",
                "longer than 32",
            ),
        ];
        for (name, text, want) in cases {
            let err = GoDuration::parse(text).map_err(|e| e.to_string());
            assert!(
                err.as_ref().is_err_and(|e| e.contains(want)),
                "{name}: {err:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn writes_the_shortest_go_form() {
        let cases: &[(&str, Duration, &str)] = &[
            ("zero", Duration::ZERO, "0s"),
            ("minutes", Duration::from_secs(1800), "30m"),
            ("hours and minutes", Duration::from_secs(5400), "1h30m"),
            ("hours and seconds", Duration::from_secs(3601), "1h1s"),
            ("eight hours", Duration::from_secs(8 * 3600), "8h"),
            ("milliseconds", Duration::from_millis(250), "250ms"),
            ("fractional seconds", Duration::from_millis(1500), "1.5s"),
        ];
        for (name, d, want) in cases {
            assert_eq!(GoDuration::from(*d).to_string(), *want, "{name}");
        }
    }

    #[test]
    fn json_is_a_string() {
        let d: GoDuration = serde_json::from_str("\"1h30m\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"1h30m\"");
        assert!(serde_json::from_str::<GoDuration>("90").is_err());
    }

    proptest! {
        #[test]
        fn written_form_parses_back(secs in 0u64..MAX_SECS, millis in 0u32..1000) {
            let d = GoDuration::from(Duration::new(secs, millis * 1_000_000));
            prop_assert_eq!(GoDuration::parse(&d.to_string()).ok(), Some(d));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = GoDuration::parse(&text);
        }
    }
}
