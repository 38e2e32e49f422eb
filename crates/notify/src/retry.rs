//! When to retry a delivery and how long to wait: the I/O-free half of delivery.
//!
//! - 2xx: delivered.
//! - 408, 429 and 5xx: retried, with exponential backoff and jitter; `Retry-After` (seconds or
//!   an HTTP date) is honoured on 429 and 503 when it is not longer than `max_retry_after`.
//! - Any other status (4xx, and 3xx since redirects are not followed): a permanent failure,
//!   reported at once.
//! - Timeouts and connection errors: retried.

use std::time::{Duration, SystemTime};

/// How hard to try one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait after the first failed attempt (before jitter).
    pub initial_backoff: Duration,
    /// The longest wait between attempts (before jitter).
    pub max_backoff: Duration,
    /// Time allowed for one attempt: connect, send, and the response head.
    pub attempt_timeout: Duration,
    /// The longest `Retry-After` honoured; asked to wait longer, the delivery gives up.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, waits from 0.5 s doubling to at most 8 s, 5 s per attempt, `Retry-After` up
    /// to 60 s.
    fn default() -> Self {
        Self {
            attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            attempt_timeout: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The wait after `failed` attempts have failed (1 for the first), given `jitter` in
    /// `[0, 1]`: the exponential step (`initial_backoff × 2^(failed-1)`) ±25 %, never more than
    /// `max_backoff`. The jitter keeps senders from retrying against a recovering receiver in
    /// lockstep.
    pub fn backoff(&self, failed: u32, jitter: f64) -> Duration {
        let exp = failed.saturating_sub(1).min(31);
        let step = self
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.max_backoff);
        step.mul_f64(0.75 + 0.5 * jitter.clamp(0.0, 1.0))
            .min(self.max_backoff)
    }
}

/// What an HTTP status means for a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StatusVerdict {
    /// 2xx.
    Delivered,
    /// Worth another attempt.
    Retry,
    /// Another attempt will not help.
    Permanent,
}

pub(crate) fn classify(status: u16) -> StatusVerdict {
    match status {
        200..=299 => StatusVerdict::Delivered,
        408 | 429 | 500..=599 => StatusVerdict::Retry,
        _ => StatusVerdict::Permanent,
    }
}

/// A `Retry-After` value as a wait from `now`: delay-seconds, or an HTTP date (IMF-fixdate,
/// e.g. `Wed, 21 Oct 2015 07:28:00 GMT`). `None` if it is neither.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let when = parse_http_date(value)?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// IMF-fixdate (RFC 9110 §5.6.7), the one HTTP date format senders must use.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let rest = value.get(5..)?; // "Wed, "
    let mut parts = rest.split(' ');
    let day: u8 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => time::Month::January,
        "Feb" => time::Month::February,
        "Mar" => time::Month::March,
        "Apr" => time::Month::April,
        "May" => time::Month::May,
        "Jun" => time::Month::June,
        "Jul" => time::Month::July,
        "Aug" => time::Month::August,
        "Sep" => time::Month::September,
        "Oct" => time::Month::October,
        "Nov" => time::Month::November,
        "Dec" => time::Month::December,
        _ => return None,
    };
    let year: i32 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u8 = hms.next()?.parse().ok()?;
    let m: u8 = hms.next()?.parse().ok()?;
    let s: u8 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(h, m, s).ok()?;
    let secs = date.with_time(t).assume_utc().unix_timestamp();
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_a_quarter_of_jitter() {
        let p = RetryPolicy::default();
        let cases = [
            ("first failure, least jitter", 1, 0.0, 375),
            ("first failure, middle", 1, 0.5, 500),
            ("first failure, most jitter", 1, 1.0, 625),
            ("second", 2, 0.5, 1_000),
            ("third", 3, 0.5, 2_000),
            ("fourth", 4, 0.5, 4_000),
            ("fifth reaches 8 s", 5, 0.5, 8_000),
            ("capped, low", 9, 0.0, 6_000),
            ("capped, never above the cap", 9, 1.0, 8_000),
            ("absurd attempt count", u32::MAX, 0.5, 8_000),
            ("jitter out of range is clamped", 1, 7.0, 625),
        ];
        for (name, failed, jitter, millis) in cases {
            assert_eq!(p.backoff(failed, jitter).as_millis(), millis, "{name}");
        }
    }

    #[test]
    fn statuses() {
        let cases = [
            (200, StatusVerdict::Delivered),
            (204, StatusVerdict::Delivered),
            (301, StatusVerdict::Permanent),
            (400, StatusVerdict::Permanent),
            (401, StatusVerdict::Permanent),
            (404, StatusVerdict::Permanent),
            (408, StatusVerdict::Retry),
            (410, StatusVerdict::Permanent),
            (429, StatusVerdict::Retry),
            (500, StatusVerdict::Retry),
            (503, StatusVerdict::Retry),
        ];
        for (status, want) in cases {
            assert_eq!(classify(status), want, "{status}");
        }
    }

    #[test]
    fn retry_after_values() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_470); // 07:27:50
        let cases = [
            ("seconds", "120", Some(120)),
            ("zero", "0", Some(0)),
            ("padded", " 7 ", Some(7)),
            ("http date", "Wed, 21 Oct 2015 07:28:00 GMT", Some(10)),
            ("date in the past", "Wed, 21 Oct 2015 07:00:00 GMT", Some(0)),
            ("negative", "-5", None),
            ("fraction", "1.5", None),
            ("not gmt", "Wed, 21 Oct 2015 07:28:00 CET", None),
            ("garbage", "soon", None),
            ("huge", "99999999999", None),
        ];
        for (name, value, want) in cases {
            assert_eq!(
                parse_retry_after(value, now).map(|d| d.as_secs()),
                want,
                "{name}"
            );
        }
    }
}
