//! Certificate lifetimes: the defaults, the limits, and how they read in messages.

use std::time::Duration;

use crate::CaError;

/// Lifetime of a client certificate when the request names none (capped by the policy maximum).
pub const DEFAULT_CLIENT_TTL: Duration = Duration::from_secs(8 * 3600);

/// The shortest client certificate jitgate issues: shorter ones expire mid-command.
pub const MIN_CLIENT_TTL: Duration = Duration::from_secs(5 * 60);

/// How far `not_before` is set in the past, so a client whose clock runs slightly behind
/// can use a certificate the moment it receives it.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Lifetime of the gateway's own HTTPS certificate.
pub const SERVER_CERT_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// Lifetime of a newly created CA.
pub const CA_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Picks the lifetime of a client certificate: the requested one, or the default capped by the
/// policy's maximum; rejects anything outside `[MIN_CLIENT_TTL, max]`.
pub(crate) fn client_ttl(requested: Option<Duration>, max: Duration) -> Result<Duration, CaError> {
    if max < MIN_CLIENT_TTL {
        return Err(CaError::MaxTtlBelowMinimum {
            maximum: max,
            minimum: MIN_CLIENT_TTL,
        });
    }
    let ttl = requested.unwrap_or(DEFAULT_CLIENT_TTL.min(max));
    if ttl < MIN_CLIENT_TTL {
        return Err(CaError::TtlTooShort {
            requested: ttl,
            minimum: MIN_CLIENT_TTL,
        });
    }
    if ttl > max {
        return Err(CaError::TtlTooLong {
            requested: ttl,
            maximum: max,
        });
    }
    Ok(ttl)
}

/// Formats a duration the way a person types it: `8h`, `1h30m`, `45s`, `2d`.
pub fn human_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return if d.is_zero() {
            "0s".to_owned()
        } else {
            format!("{}ms", d.as_millis())
        };
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_capped_by_policy() {
        let max = Duration::from_secs(3600);
        assert_eq!(client_ttl(None, max).unwrap(), max);
        assert_eq!(
            client_ttl(None, Duration::from_secs(24 * 3600)).unwrap(),
            DEFAULT_CLIENT_TTL
        );
    }

    #[test]
    fn limits_are_inclusive() {
        let max = Duration::from_secs(3600);
        assert_eq!(
            client_ttl(Some(MIN_CLIENT_TTL), max).unwrap(),
            MIN_CLIENT_TTL
        );
        assert_eq!(client_ttl(Some(max), max).unwrap(), max);
    }

    #[test]
    fn outside_limits_is_rejected_readably() {
        let max = Duration::from_secs(3600);
        let short = client_ttl(Some(Duration::from_secs(299)), max).unwrap_err();
        assert_eq!(
            short.to_string(),
            "certificate lifetime 4m59s is below the minimum of 5m; ask for 5m or more"
        );
        let long = client_ttl(Some(Duration::from_secs(3601)), max).unwrap_err();
        assert_eq!(
            long.to_string(),
            "certificate lifetime 1h1s exceeds the maximum of 1h allowed by policy; ask for 1h or less"
        );
        let policy = client_ttl(None, Duration::from_secs(60)).unwrap_err();
        assert!(
            matches!(policy, CaError::MaxTtlBelowMinimum { .. }),
            "{policy}"
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(Duration::from_secs(8 * 3600)), "8h");
        assert_eq!(human_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(human_duration(Duration::from_secs(86_400 + 1)), "1d1s");
        assert_eq!(human_duration(Duration::ZERO), "0s");
        assert_eq!(human_duration(Duration::from_millis(5)), "5ms");
    }
}
