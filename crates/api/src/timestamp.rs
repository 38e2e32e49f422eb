//! Points in time on the wire: RFC 3339 in UTC, whole seconds (`2026-05-01T03:17:02Z`), the
//! form Kubernetes writes and `expirationTimestamp` of an ExecCredential expects.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ApiError;

/// A point in time, to the second, in UTC. Reading accepts any RFC 3339 offset and converts;
/// writing is always `Z`. Fractions of a second are dropped on reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time.
    #[must_use]
    pub fn now() -> Self {
        let secs = match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
        };
        Self(secs)
    }

    /// `secs` seconds after the Unix epoch.
    #[must_use]
    pub const fn from_unix(secs: i64) -> Self {
        Self(secs)
    }

    /// Seconds after the Unix epoch.
    #[must_use]
    pub const fn unix_seconds(self) -> i64 {
        self.0
    }

    /// The same instant as a `time` value.
    #[must_use]
    pub fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `d` later, saturating.
    #[must_use]
    pub fn plus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        )
    }

    /// `d` earlier, saturating.
    #[must_use]
    pub fn minus(self, d: Duration) -> Self {
        Self(
            self.0
                .saturating_sub(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        )
    }

    /// How long from `earlier` to `self`; zero if `earlier` is not earlier.
    #[must_use]
    pub fn since(self, earlier: Self) -> Duration {
        Duration::from_secs(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }

    /// Parses RFC 3339 text.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        if text.len() > 64 {
            return Err(ApiError::InvalidTimestamp {
                text: text.chars().take(64).collect(),
                reason: "it is longer than 64 characters".to_owned(),
            });
        }
        OffsetDateTime::parse(text, &Rfc3339)
            .map(|t| Self(t.unix_timestamp()))
            .map_err(|e| ApiError::InvalidTimestamp {
                text: text.to_owned(),
                reason: e.to_string(),
            })
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        Self(t.unix_timestamp())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
        {
            Some(text) => f.write_str(&text),
            None => write!(f, "@{} (Unix seconds)", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_in_utc_to_the_second() {
        let t = Timestamp::parse("2026-05-01T05:17:02.75+02:00").unwrap();
        assert_eq!(t.to_string(), "2026-05-01T03:17:02Z");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-05-01T03:17:02Z\""
        );
        let back: Timestamp = serde_json::from_str("\"2026-05-01T03:17:02Z\"").unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn not_a_time_is_refused() {
        for bad in ["", "yesterday", "2026-05-01", "2026-05-01 03:17:02"] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_unix(100);
        assert_eq!(t.plus(Duration::from_secs(60)).unix_seconds(), 160);
        assert_eq!(t.minus(Duration::from_secs(60)).unix_seconds(), 40);
        assert_eq!(t.since(Timestamp::from_unix(40)), Duration::from_secs(60));
        assert_eq!(Timestamp::from_unix(40).since(t), Duration::ZERO);
        assert_eq!(
            Timestamp::from_unix(i64::MAX)
                .plus(Duration::MAX)
                .unix_seconds(),
            i64::MAX
        );
    }
}
