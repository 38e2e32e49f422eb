//! On-call schedules from a file: who is on call at an instant, evaluated without I/O.
//!
//! A [`Schedule`] has a time zone, rotations (layers) and overrides; docs/oncall.md describes
//! the file. At an instant:
//!
//! 1. every **override** covering it puts its user on call, and nobody else is;
//! 2. otherwise the **last rotation** (in file order) that has a shift there and whose
//!    restrictions allow that local time decides; earlier rotations show through only where
//!    later ones have nobody (before their start, after their end, outside their restrictions).
//!
//! Shift boundaries are computed on the wall clock of the schedule's time zone, so a handoff at
//! 09:00 local stays at 09:00 local across DST changes (a daily shift on the spring-forward day
//! lasts 23 hours). Intervals are half-open: a shift, override or window includes its start and
//! excludes its end, so at the handoff instant exactly the next person is on call.

mod civil;
mod file;

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::OnCallError;

pub use file::{
    MAX_OVERRIDES, MAX_ROTATIONS, MAX_SCHEDULE_BYTES, MAX_USER_LEN, MAX_USERS_PER_ROTATION,
    MAX_WINDOWS_PER_ROTATION,
};

/// A parsed, validated on-call schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    zone: TimeZone,
    zone_name: String,
    rotations: Vec<Rotation>,
    overrides: Vec<Override>,
}

/// One layer of a schedule: users taking turns in shifts of a fixed wall-clock length.
#[derive(Debug, Clone)]
struct Rotation {
    name: String,
    users: Vec<String>,
    /// The first instant the rotation puts someone on call.
    start: Timestamp,
    /// The first instant it no longer does, if it ends.
    end: Option<Timestamp>,
    /// The local time shift 0 begins; shift k begins at `anchor + k × length` on the wall clock.
    anchor: DateTime,
    /// Shift length in wall-clock seconds.
    length_secs: i64,
    /// Local-time windows the rotation is limited to; empty means always.
    windows: Vec<Window>,
}

/// A weekly window of local time: on these weekdays, from `from` to `to` (seconds after midnight).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Window {
    /// Bit `n` set: allowed on the weekday `n` days after Monday. For a window that wraps past
    /// midnight, the day it *starts* on.
    days: u8,
    from: i64,
    to: i64,
}

/// A user put on call for a fixed window, whoever the rotations say.
#[derive(Debug, Clone)]
struct Override {
    user: String,
    start: Timestamp,
    end: Timestamp,
}

/// Somebody on call at an instant, and what put them there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    /// The user as written in the schedule.
    pub user: String,
    /// The override or rotation shift responsible.
    pub via: OnCallVia,
}

/// What put a user on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnCallVia {
    /// An entry of `overrides`.
    Override {
        /// Its position in the file's `overrides` list (0-based).
        index: usize,
        /// Its start (inclusive).
        start: Timestamp,
        /// Its end (exclusive).
        end: Timestamp,
    },
    /// A shift of a rotation.
    Rotation {
        /// The rotation's name (`rotations[N]` when the file gives none).
        name: String,
        /// The shift's number, counting from 0 at the rotation's start.
        shift: i64,
        /// The shift's start (inclusive; never before the rotation's start).
        shift_start: Timestamp,
        /// The shift's end (exclusive; never after the rotation's end). `None` only beyond the
        /// range of dates this library represents.
        shift_end: Option<Timestamp>,
    },
}

impl Schedule {
    /// Parses and validates a schedule file (YAML; JSON is YAML too).
    ///
    /// Errors name the field and say what to write instead.
    pub fn parse(text: &str) -> Result<Self, OnCallError> {
        file::parse(text)
    }

    /// The schedule's IANA time zone name, as the database spells it (e.g. `Europe/Berlin`).
    pub fn time_zone(&self) -> &str {
        &self.zone_name
    }

    /// Everyone on call at `at`, with what put them there, in precedence order.
    ///
    /// Several people only when several overrides cover `at`; nobody when no override and no
    /// rotation covers it.
    pub fn who_at(&self, at: Timestamp) -> Vec<OnCall> {
        let mut found: Vec<OnCall> = Vec::new();
        for (index, o) in self.overrides.iter().enumerate() {
            if o.start <= at && at < o.end && !found.iter().any(|f| same_user(&f.user, &o.user)) {
                found.push(OnCall {
                    user: o.user.clone(),
                    via: OnCallVia::Override {
                        index,
                        start: o.start,
                        end: o.end,
                    },
                });
            }
        }
        if !found.is_empty() {
            return found;
        }
        let local = self.zone.to_datetime(at);
        for rotation in self.rotations.iter().rev() {
            if let Some(on_call) = rotation.on_call_at(&self.zone, at, local) {
                return vec![on_call];
            }
        }
        Vec::new()
    }

    /// The users on call at `at` (see [`Schedule::who_at`] for the precedence).
    pub fn on_call_at(&self, at: Timestamp) -> Vec<String> {
        self.who_at(at).into_iter().map(|o| o.user).collect()
    }

    /// Whether `user` is on call at `at`. Names compare without regard to ASCII case
    /// (`Alice@Example.com` is `alice@example.com`); nothing else is normalised.
    pub fn is_on_call(&self, user: &str, at: Timestamp) -> bool {
        !user.trim().is_empty()
            && self
                .who_at(at)
                .iter()
                .any(|o| same_user(&o.user, user.trim()))
    }
}

/// Whether two user names are the same person for on-call purposes.
pub(crate) fn same_user(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

impl Rotation {
    fn on_call_at(&self, zone: &TimeZone, at: Timestamp, local: DateTime) -> Option<OnCall> {
        if at < self.start || self.end.is_some_and(|end| at >= end) {
            return None;
        }
        if !self.windows.is_empty() && !self.windows.iter().any(|w| w.contains(local)) {
            return None;
        }
        let shift = self.shift_index(zone, at, local)?;
        let count = i64::try_from(self.users.len()).ok()?;
        let user = self
            .users
            .get(usize::try_from(shift.rem_euclid(count)).ok()?)?;
        let shift_start = self.boundary(zone, shift)?.max(self.start);
        let shift_end = match (self.boundary(zone, shift.saturating_add(1)), self.end) {
            (Some(b), Some(e)) => Some(b.min(e)),
            (Some(b), None) => Some(b),
            (None, e) => e,
        };
        Some(OnCall {
            user: user.clone(),
            via: OnCallVia::Rotation {
                name: self.name.clone(),
                shift,
                shift_start,
                shift_end,
            },
        })
    }

    /// The instant shift `k` begins (before clipping to the rotation's start); `None` past the
    /// representable range, which the search treats as "later than anything".
    fn boundary(&self, zone: &TimeZone, k: i64) -> Option<Timestamp> {
        let offset = k.checked_mul(self.length_secs)?;
        let local = self
            .anchor
            .checked_add(SignedDuration::from_secs(offset))
            .ok()?;
        civil::resolve(zone, local)
    }

    /// The shift covering `at` (which is at or after the rotation's start): the largest `k ≥ 0`
    /// whose boundary is not after `at`.
    ///
    /// Boundaries are monotonic in `k` ([`civil::resolve`] is monotonic), so this is a search.
    /// The wall-clock estimate is exact except within a DST fold or gap, where a few more probes
    /// (galloping, then bisecting) find the shift. Zero-length shifts (a handoff inside a gap
    /// that swallowed a whole shift) are skipped naturally: their boundary equals the next one.
    fn shift_index(&self, zone: &TimeZone, at: Timestamp, local: DateTime) -> Option<i64> {
        let starts_by = |k: i64| matches!(self.boundary(zone, k), Some(b) if b <= at);
        if !starts_by(0) {
            return None;
        }
        let elapsed = local.duration_since(self.anchor).as_secs();
        let guess = elapsed.div_euclid(self.length_secs).max(0);
        // Invariant: starts_by(lo) and !starts_by(hi).
        let (mut lo, mut hi);
        if starts_by(guess) {
            lo = guess;
            let mut step: i64 = 1;
            loop {
                let probe = lo.saturating_add(step);
                if probe == lo || !starts_by(probe) {
                    hi = probe;
                    break;
                }
                lo = probe;
                step = step.saturating_mul(2);
            }
            if hi == lo {
                return Some(lo);
            }
        } else {
            hi = guess;
            let mut step: i64 = 1;
            loop {
                let probe = hi.saturating_sub(step).max(0);
                if starts_by(probe) {
                    lo = probe;
                    break;
                }
                hi = probe;
                step = step.saturating_mul(2);
            }
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if starts_by(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }
}

impl Window {
    /// Whether the local time falls inside this window.
    fn contains(&self, local: DateTime) -> bool {
        let day_bit = |dt: DateTime| 1u8 << dt.weekday().to_monday_zero_offset();
        let secs = civil::seconds_of_day(local.time());
        if self.from < self.to {
            self.days & day_bit(local) != 0 && self.from <= secs && secs < self.to
        } else {
            // Wraps past midnight: the evening part belongs to today, the morning part to the
            // window that started yesterday.
            let yesterday = local
                .checked_sub(SignedDuration::from_secs(civil::DAY_SECS))
                .ok();
            (secs >= self.from && self.days & day_bit(local) != 0)
                || (secs < self.to && yesterday.is_some_and(|y| self.days & day_bit(y) != 0))
        }
    }
}

#[cfg(test)]
mod tests;
