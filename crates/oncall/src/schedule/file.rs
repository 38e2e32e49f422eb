//! The schedule file: its YAML shape, its limits, and the checks that turn it into a
//! [`Schedule`](super::Schedule) or an error naming the field to fix.

use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use serde::Deserialize;

use super::civil::{self, DAY_SECS};
use super::{Override, Rotation, Schedule, Window};
use crate::OnCallError;

/// The largest schedule file accepted, in bytes.
pub const MAX_SCHEDULE_BYTES: usize = 1024 * 1024;
/// The most rotations (layers) a schedule may have.
pub const MAX_ROTATIONS: usize = 64;
/// The most users one rotation may list.
pub const MAX_USERS_PER_ROTATION: usize = 1_000;
/// The most overrides a schedule may have.
pub const MAX_OVERRIDES: usize = 10_000;
/// The most restriction windows one rotation may have.
pub const MAX_WINDOWS_PER_ROTATION: usize = 32;
/// The longest user name or email, in bytes.
pub const MAX_USER_LEN: usize = 256;
/// The longest rotation name, in bytes.
const MAX_NAME_LEN: usize = 128;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    timezone: String,
    #[serde(default)]
    rotations: Vec<RawRotation>,
    #[serde(default)]
    overrides: Vec<RawOverride>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRotation {
    #[serde(default)]
    name: Option<String>,
    users: Vec<String>,
    start: String,
    #[serde(default)]
    end: Option<String>,
    length: String,
    #[serde(default)]
    handoff: Option<String>,
    #[serde(default)]
    restrictions: Option<Vec<RawWindow>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(default)]
    days: Option<Vec<String>>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    user: String,
    start: String,
    end: String,
}

/// The time zone database compiled into the binary: the same answers on every machine,
/// whether or not it has `/usr/share/zoneinfo`.
fn zones() -> &'static TimeZoneDatabase {
    static DB: OnceLock<TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(TimeZoneDatabase::bundled)
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> OnCallError {
    OnCallError::InvalidSchedule {
        field: field.into(),
        problem: problem.into(),
    }
}

pub(super) fn parse(text: &str) -> Result<Schedule, OnCallError> {
    if text.len() > MAX_SCHEDULE_BYTES {
        return Err(OnCallError::ScheduleTooLarge {
            len: text.len(),
            max: MAX_SCHEDULE_BYTES,
        });
    }
    let raw: RawSchedule =
        serde_yaml::from_str(text).map_err(|source| OnCallError::ScheduleYaml { source })?;
    let (zone, zone_name) = time_zone(&raw.timezone)?;

    if raw.rotations.is_empty() && raw.overrides.is_empty() {
        return Err(invalid(
            "rotations",
            "the schedule has neither rotations nor overrides, so nobody is ever on call; add a rotation",
        ));
    }
    if raw.rotations.len() > MAX_ROTATIONS {
        return Err(invalid(
            "rotations",
            format!(
                "{} rotations is more than the limit of {MAX_ROTATIONS}",
                raw.rotations.len()
            ),
        ));
    }
    if raw.overrides.len() > MAX_OVERRIDES {
        return Err(invalid(
            "overrides",
            format!(
                "{} overrides is more than the limit of {MAX_OVERRIDES}; remove ones that have ended",
                raw.overrides.len()
            ),
        ));
    }

    let mut rotations: Vec<Rotation> = Vec::with_capacity(raw.rotations.len());
    for (i, r) in raw.rotations.into_iter().enumerate() {
        let rotation = rotation(&zone, i, r)?;
        if let Some(other) = rotations.iter().position(|o| o.name == rotation.name) {
            return Err(invalid(
                format!("rotations[{i}].name"),
                format!(
                    "{:?} is also the name of rotations[{other}]; give each rotation its own name",
                    rotation.name
                ),
            ));
        }
        rotations.push(rotation);
    }
    let overrides = raw
        .overrides
        .iter()
        .enumerate()
        .map(|(i, o)| override_entry(i, o))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Schedule {
        zone,
        zone_name,
        rotations,
        overrides,
    })
}

fn time_zone(name: &str) -> Result<(TimeZone, String), OnCallError> {
    let unknown = |source| OnCallError::UnknownTimeZone {
        field: "timezone".into(),
        name: name.into(),
        source,
    };
    let zone = zones().get(name.trim()).map_err(unknown)?;
    // `Etc/Unknown` is jiff's placeholder, not a place; a schedule in it is a mistake.
    let canonical = zone
        .iana_name()
        .filter(|n| !n.eq_ignore_ascii_case("Etc/Unknown"))
        .ok_or_else(|| {
            invalid(
                "timezone",
                format!("{name:?} is not a usable time zone; use a name like \"Europe/Berlin\""),
            )
        })?
        .to_owned();
    Ok((zone, canonical))
}

fn rotation(zone: &TimeZone, i: usize, raw: RawRotation) -> Result<Rotation, OnCallError> {
    let name = match raw.name {
        Some(n) if n.trim().is_empty() => {
            return Err(invalid(
                format!("rotations[{i}].name"),
                "the name is empty; give the rotation a name or leave the field out",
            ));
        }
        Some(n) if n.len() > MAX_NAME_LEN => {
            return Err(invalid(
                format!("rotations[{i}].name"),
                format!("the name is longer than {MAX_NAME_LEN} bytes"),
            ));
        }
        Some(n) => n.trim().to_owned(),
        None => format!("rotations[{i}]"),
    };
    let at = |field: &str| format!("rotations[{i}].{field}");

    if raw.users.is_empty() {
        return Err(invalid(
            at("users"),
            "the rotation has no users; list who takes turns, e.g. [alice@example.com, bob@example.com]",
        ));
    }
    if raw.users.len() > MAX_USERS_PER_ROTATION {
        return Err(invalid(
            at("users"),
            format!(
                "{} users is more than the limit of {MAX_USERS_PER_ROTATION}",
                raw.users.len()
            ),
        ));
    }
    let users = raw
        .users
        .iter()
        .enumerate()
        .map(|(u, user)| user_name(&format!("rotations[{i}].users[{u}]"), user))
        .collect::<Result<Vec<_>, _>>()?;

    let length_secs = civil::parse_length(&raw.length).map_err(|p| invalid(at("length"), p))?;
    let handoff = raw
        .handoff
        .as_deref()
        .map(|h| civil::parse_time_of_day(h, false).map_err(|p| invalid(at("handoff"), p)))
        .transpose()?;

    let (start, anchor) = rotation_start(zone, &raw.start, handoff, &at("start"))?;
    let end = raw
        .end
        .as_deref()
        .map(|e| timestamp(e, &at("end")))
        .transpose()?;
    if let Some(end) = end
        && end <= start
    {
        return Err(invalid(
            at("end"),
            format!(
                "the rotation ends ({end}) at or before it starts ({start}); move end after start \
                 or remove it"
            ),
        ));
    }

    let windows = match raw.restrictions {
        None => Vec::new(),
        Some(list) if list.is_empty() => {
            return Err(invalid(
                at("restrictions"),
                "the list is empty, which would never put anyone on call; remove `restrictions` \
                 to have no restriction",
            ));
        }
        Some(list) if list.len() > MAX_WINDOWS_PER_ROTATION => {
            return Err(invalid(
                at("restrictions"),
                format!(
                    "{} windows is more than the limit of {MAX_WINDOWS_PER_ROTATION}",
                    list.len()
                ),
            ));
        }
        Some(list) => list
            .into_iter()
            .enumerate()
            .map(|(w, raw)| window(&format!("rotations[{i}].restrictions[{w}]"), raw))
            .collect::<Result<Vec<_>, _>>()?,
    };

    Ok(Rotation {
        name,
        users,
        start,
        end,
        anchor,
        length_secs,
        windows,
    })
}

/// `start` is an RFC 3339 instant, or a date meaning that date at `handoff` (default 00:00)
/// local time. With both an instant and `handoff`, they must agree, so that a file never says
/// two different things about when shifts change.
fn rotation_start(
    zone: &TimeZone,
    text: &str,
    handoff: Option<i64>,
    field: &str,
) -> Result<(Timestamp, DateTime), OnCallError> {
    let text = text.trim();
    if !text.contains(['T', 't', ' '])
        && let Ok(date) = text.parse::<Date>()
    {
        let secs = handoff.unwrap_or(0);
        let time = time_of_day(secs).ok_or_else(|| invalid(field, "bad handoff time"))?;
        let anchor = date.to_datetime(time);
        let start = civil::resolve(zone, anchor)
            .ok_or_else(|| invalid(field, format!("{text:?} is out of the supported range")))?;
        return Ok((start, anchor));
    }
    let start = timestamp(text, field)?;
    let anchor = zone.to_datetime(start);
    if let Some(h) = handoff {
        let local = civil::seconds_of_day(anchor.time());
        if local != h || anchor.subsec_nanosecond() != 0 {
            return Err(invalid(
                field,
                format!(
                    "{text} is {local_time} in {zone_name}, but handoff is {handoff}; write start \
                     at {handoff} local time (or just its date, e.g. {date}), or change handoff",
                    local_time = anchor.time(),
                    zone_name = zone.iana_name().unwrap_or("the schedule's time zone"),
                    handoff = civil::format_time_of_day(h),
                    date = anchor.date(),
                ),
            ));
        }
    }
    Ok((start, anchor))
}

fn time_of_day(secs: i64) -> Option<Time> {
    let h = i8::try_from(secs / 3_600).ok()?;
    let m = i8::try_from((secs % 3_600) / 60).ok()?;
    Time::new(h, m, 0, 0).ok()
}

fn timestamp(text: &str, field: &str) -> Result<Timestamp, OnCallError> {
    text.trim().parse::<Timestamp>().map_err(|e| {
        invalid(
            field,
            format!(
                "{text:?} is not an RFC 3339 time with an offset ({e}); write e.g. \
                 2026-01-05T09:00:00+01:00 or 2026-01-05T08:00:00Z"
            ),
        )
    })
}

fn user_name(field: &str, user: &str) -> Result<String, OnCallError> {
    let user = user.trim();
    if user.is_empty() {
        return Err(invalid(
            field,
            "the user is empty; write a user name or email",
        ));
    }
    if user.len() > MAX_USER_LEN {
        return Err(invalid(
            field,
            format!("the user is longer than {MAX_USER_LEN} bytes"),
        ));
    }
    if user.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            field,
            format!(
                "{user:?} contains spaces or control characters; write the user name or email as the identity provider spells it"
            ),
        ));
    }
    Ok(user.to_owned())
}

fn window(field: &str, raw: RawWindow) -> Result<Window, OnCallError> {
    let days = match raw.days {
        None => 0b111_1111,
        Some(list) if list.is_empty() => {
            return Err(invalid(
                format!("{field}.days"),
                "the list is empty; list weekdays (mon ... sun) or leave the field out for every day",
            ));
        }
        Some(list) => {
            let mut mask = 0u8;
            for (d, name) in list.iter().enumerate() {
                let day = civil::parse_weekday(name)
                    .map_err(|p| invalid(format!("{field}.days[{d}]"), p))?;
                mask |= 1 << day.to_monday_zero_offset();
            }
            mask
        }
    };
    let (from, to) = match (raw.from, raw.to) {
        (None, None) => (0, DAY_SECS),
        (Some(f), Some(t)) => {
            let from = civil::parse_time_of_day(&f, false)
                .map_err(|p| invalid(format!("{field}.from"), p))?;
            let to = civil::parse_time_of_day(&t, true)
                .map_err(|p| invalid(format!("{field}.to"), p))?;
            if from == to {
                return Err(invalid(
                    format!("{field}.to"),
                    "the window starts and ends at the same time; leave out from and to for whole days",
                ));
            }
            (from, to)
        }
        (Some(_), None) => {
            return Err(invalid(
                format!("{field}.to"),
                "from is set but to is not; give both (e.g. from: \"09:00\", to: \"17:00\") or neither",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                format!("{field}.from"),
                "to is set but from is not; give both (e.g. from: \"09:00\", to: \"17:00\") or neither",
            ));
        }
    };
    Ok(Window { days, from, to })
}

fn override_entry(i: usize, raw: &RawOverride) -> Result<Override, OnCallError> {
    let field = |f: &str| format!("overrides[{i}].{f}");
    let user = user_name(&field("user"), &raw.user)?;
    let start = timestamp(&raw.start, &field("start"))?;
    let end = timestamp(&raw.end, &field("end"))?;
    if end <= start {
        return Err(invalid(
            field("end"),
            format!(
                "the override ends ({end}) at or before it starts ({start}); swap them or fix the \
                 dates"
            ),
        ));
    }
    Ok(Override { user, start, end })
}
