//! CPU time of processes from `/proc`, to show which process a request's cost lands in.

use std::time::Duration;

use anyhow::Context as _;

/// CPU time (user + system) used so far by `pid`, or by this process for `"self"`.
pub fn of(pid: &str) -> anyhow::Result<Duration> {
    let f = stat_fields(pid)?;
    Ok(ticks(f.utime + f.stime))
}

/// CPU time (user + system) of this process's children that have been waited for.
pub fn of_children() -> anyhow::Result<Duration> {
    let f = stat_fields("self")?;
    Ok(ticks(f.cutime + f.cstime))
}

/// Clock ticks to time: `/proc` counts in USER_HZ, which is 100 on Linux.
fn ticks(n: u64) -> Duration {
    Duration::from_millis(n * 10)
}

#[derive(Debug)]
struct Stat {
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

fn stat_fields(pid: &str) -> anyhow::Result<Stat> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat(&text).with_context(|| format!("{path}: unexpected format"))
}

/// Fields 14–17 of proc_pid_stat(5); the command name (field 2) may contain spaces and ')'.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    // `rest` starts at field 3 (state).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |field: usize| f.get(field - 3)?.parse().ok();
    Some(Stat {
        utime: n(14)?,
        stime: n(15)?,
        cutime: n(16)?,
        cstime: n(17)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let s = "4242 (tokio rt) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 31 7 5 2 20 0 3 0";
        let f = parse_stat(s).unwrap();
        assert_eq!((f.utime, f.stime, f.cutime, f.cstime), (31, 7, 5, 2));
        assert!(parse_stat("garbage").is_none());
    }

    #[test]
    fn reads_this_process() {
        assert!(of("self").is_ok());
        assert!(of_children().is_ok());
    }
}
