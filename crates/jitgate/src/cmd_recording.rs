//! `jitgate recording list|play`: the session recordings the gateway writes (asciicast v2, one
//! file per exec or attach session, in DATA_DIR/recordings). `asciinema play FILE` plays them
//! too.

use std::io::{BufRead as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use jitgate_wire::asciicast::{Header, PlayOptions, parse, play};

/// Recording commands.
#[derive(Debug, clap::Subcommand)]
pub enum RecordingCommand {
    /// List the recordings: file, size, start, who and where.
    List {
        #[command(flatten)]
        dirs: crate::StateDirs,
    },
    /// Replay a recording's output on this terminal, with its timing.
    Play {
        /// A file, or a recording's name in DATA_DIR/recordings (`s-7f3a09c1`, with or
        /// without `.cast`).
        recording: String,
        /// Playback speed: 2 is twice as fast; 0 prints everything at once.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// The longest pause between two events, in seconds.
        #[arg(long, default_value_t = 2.0)]
        max_wait: f64,
        /// Also print what was typed (stdin), marked `⟨…⟩`, and the markers (how it ended).
        #[arg(long)]
        input: bool,
        /// Write the output exactly as recorded. Without it, escape sequences that reach
        /// beyond the screen (window title, clipboard, terminal reports) are dropped.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        dirs: crate::StateDirs,
    },
}

/// Runs a recording command.
pub fn run(cmd: RecordingCommand) -> anyhow::Result<()> {
    match cmd {
        RecordingCommand::List { dirs } => list(&dirs.data_dir.join("recordings")),
        RecordingCommand::Play {
            recording,
            speed,
            max_wait,
            input,
            raw,
            dirs,
        } => {
            anyhow::ensure!(
                speed >= 0.0 && speed.is_finite(),
                "--speed must be 0 (no pauses) or more, not {speed}"
            );
            let path = resolve(&dirs.data_dir.join("recordings"), &recording);
            play_file(&path, speed, max_wait.max(0.0), input, raw)
        }
    }
}

fn resolve(dir: &Path, recording: &str) -> PathBuf {
    let as_given = PathBuf::from(recording);
    if as_given.exists() {
        return as_given;
    }
    let name = if recording.ends_with(".cast") {
        recording.to_owned()
    } else {
        format!("{recording}.cast")
    };
    dir.join(name)
}

fn list(dir: &Path) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "reading {} (is --data-dir the gateway's data folder?)",
            dir.display()
        )
    })?;
    let mut rows = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "cast") {
            continue;
        }
        let size = entry.metadata()?.len();
        // Only the header line is read, not a recording of up to its cap.
        let mut first = String::new();
        let header = std::fs::File::open(&path)
            .and_then(|f| std::io::BufReader::new(f.take(64 * 1024)).read_line(&mut first))
            .ok()
            .and_then(|_| Header::parse(first.trim_end()).ok());
        let started = header
            .as_ref()
            .and_then(|h| time::OffsetDateTime::from_unix_timestamp(h.timestamp).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "?".to_owned());
        rows.push((
            started,
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size,
            header
                .as_ref()
                .map_or_else(|| "(no header)".to_owned(), |h| h.title.clone()),
            header.map(|h| h.command).unwrap_or_default(),
        ));
    }
    rows.sort();
    let mut table = String::from(
        "STARTED               RECORDING              BYTES  WHO AND WHERE / COMMAND\n",
    );
    for (started, name, size, title, command) in rows {
        table.push_str(&format!(
            "{started:<21} {name:<22} {size:>6}  {title}: {command}\n"
        ));
    }
    quiet_on_closed_pipe(std::io::stdout().lock().write_all(table.as_bytes()))
}

/// A reader that went away (`| head`) is not an error.
fn quiet_on_closed_pipe(result: std::io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn play_file(path: &Path, speed: f64, max_wait: f64, input: bool, raw: bool) -> anyhow::Result<()> {
    quiet_on_closed_pipe(replay(path, speed, max_wait, input, raw))
}

fn replay(path: &Path, speed: f64, max_wait: f64, input: bool, raw: bool) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "reading {}: {e} (`jitgate recording list` shows the recordings)",
                path.display()
            ),
        )
    })?;
    let recording = parse(&text).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })?;
    let options = PlayOptions {
        speed,
        max_wait: Duration::try_from_secs_f64(max_wait).unwrap_or(Duration::MAX),
        input,
        raw,
    };
    play(
        &recording,
        &mut std::io::stdout().lock(),
        options,
        std::thread::sleep,
    )
}
