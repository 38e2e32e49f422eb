//! `jitgate audit verify` checks the hash chain of the audit log; `jitgate audit export` writes
//! the events a selection picks, as stored, while verifying it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Audit commands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain; exits non-zero at the first line that does not check out.
    Verify {
        /// The log (default: DATA_DIR/audit.jsonl).
        file: Option<PathBuf>,
        #[command(flatten)]
        dirs: crate::StateDirs,
    },
    /// Export events as the JSON lines they are stored as (each keeps seq, prev_hash and hash),
    /// verifying the whole chain on the way; exits non-zero if it breaks.
    Export(ExportArgs),
}

/// Flags of `jitgate audit export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The log (default: DATA_DIR/audit.jsonl).
    file: Option<PathBuf>,
    /// Events at or after this time: RFC 3339 (2026-12-07T02:00:00Z) or a duration ago (2h).
    #[arg(long, value_parser = parse_instant)]
    since: Option<OffsetDateTime>,
    /// Events before this time: RFC 3339 or a duration ago.
    #[arg(long, value_parser = parse_instant)]
    until: Option<OffsetDateTime>,
    /// Only this user's events; repeatable.
    #[arg(long = "user")]
    users: Vec<String>,
    /// Only events of this kind (request, stream.deny, access.approve, …); repeatable.
    #[arg(long = "kind")]
    kinds: Vec<String>,
    /// Only allowed or only denied decisions.
    #[arg(long, value_parser = ["allow", "deny"])]
    decision: Option<String>,
    /// Only this grant's events.
    #[arg(long)]
    grant: Option<String>,
    /// Only this session's events.
    #[arg(long)]
    session: Option<String>,
    /// Write to this file instead of stdout; it appears only if the whole chain verifies.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    dirs: crate::StateDirs,
}

fn parse_instant(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let ago = crate::duration::parse_duration(text).map_err(|_| {
        format!(
            "{text:?} is neither an RFC 3339 time (2026-12-07T02:00:00Z) nor a duration (90m, 2h)"
        )
    })?;
    Ok(OffsetDateTime::now_utc() - ago)
}

/// Runs an audit command.
pub fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { file, dirs } => {
            verify(&file.unwrap_or_else(|| dirs.data_dir.join("audit.jsonl")))
        }
        AuditCommand::Export(a) => export(a),
    }
}

fn verify(path: &Path) -> anyhow::Result<()> {
    let report = jitgate_audit::verify(path)?;
    if report.is_intact() {
        println!("{}: {} events, chain intact", path.display(), report.events);
        Ok(())
    } else {
        anyhow::bail!(
            "{}: chain broken at line {}: {}",
            path.display(),
            report.first_bad_line.unwrap_or(0),
            report.problem.unwrap_or_default()
        )
    }
}

fn export(a: ExportArgs) -> anyhow::Result<()> {
    let path = a
        .file
        .unwrap_or_else(|| a.dirs.data_dir.join("audit.jsonl"));
    let selection = jitgate_audit::Selection {
        since: a.since,
        until: a.until,
        users: a.users,
        kinds: a.kinds,
        decision: a.decision,
        grant: a.grant,
        session: a.session,
    };
    let report = match &a.out {
        Some(out) => {
            // Written beside the target and renamed only once the chain held to the end.
            let dir = out
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a file in {}", dir.display()))?;
            let report = jitgate_audit::export(&path, &selection, tmp.as_file_mut())?;
            if report.verify.is_intact() {
                tmp.persist(out)
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            report
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            match jitgate_audit::export(&path, &selection, &mut lock) {
                // The reader went away (`| head`): that is how a pipe ends, not a failure.
                Err(jitgate_audit::AuditError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::BrokenPipe =>
                {
                    return Ok(());
                }
                result => result?,
            }
        }
    };
    let v = &report.verify;
    if let Some(line) = v.first_bad_line {
        anyhow::bail!(
            "{}: chain broken at line {line}: {}; {}",
            path.display(),
            v.problem.clone().unwrap_or_default(),
            match &a.out {
                Some(out) => format!("nothing was written to {}", out.display()),
                None => format!(
                    "the {} event(s) exported before it verified; nothing after it was read",
                    report.exported
                ),
            }
        );
    }
    eprintln!(
        "exported {} of {} events from {}; chain intact through seq {} (hash {})",
        report.exported,
        v.events,
        path.display(),
        v.head.seq,
        v.head.hash
    );
    Ok(())
}
