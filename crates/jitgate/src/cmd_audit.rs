//! `jitgate audit verify`: check the hash chain of the audit log.

use std::path::PathBuf;

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
}

/// Runs an audit command.
pub fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::Verify { file, dirs } = cmd;
    let path = file.unwrap_or_else(|| dirs.data_dir.join("audit.jsonl"));
    let report = jitgate_audit::verify(&path)?;
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
