//! Drives kubectl in a pseudo-terminal, as a person at a terminal would: type, read the screen
//! until a pattern shows up, resize the window.

use std::ffi::OsString;
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, native_pty_system};

use crate::capture::Capture;
use crate::error::{HarnessError, Result, not_seen_report};

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PtySize {
    /// Lines.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl PtySize {
    /// A size of `rows` lines by `cols` columns.
    pub const fn new(rows: u16, cols: u16) -> Self {
        Self { rows, cols }
    }

    fn native(self) -> portable_pty::PtySize {
        portable_pty::PtySize {
            rows: self.rows,
            cols: self.cols,
            pixel_width: 0,
            pixel_height: 0,
        }
    }
}

fn pty_error(doing: &str, err: impl std::fmt::Display) -> HarnessError {
    HarnessError::Pty {
        doing: doing.to_owned(),
        message: err.to_string(),
    }
}

/// A process running in its own pseudo-terminal. Killed on drop.
pub struct PtySession {
    command: String,
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    output: Capture,
    cursor: usize,
}

impl std::fmt::Debug for PtySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtySession")
            .field("command", &self.command)
            .field("cursor", &self.cursor)
            .finish_non_exhaustive()
    }
}

impl PtySession {
    /// Starts `argv` (program first) in a new pty of `size`, with extra environment `env`.
    pub(crate) fn spawn(
        command: String,
        argv: Vec<OsString>,
        env: &[(OsString, OsString)],
        size: PtySize,
    ) -> Result<Self> {
        let env: Vec<(OsString, Option<OsString>)> = env
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        Self::spawn_with(command, argv, &env, size)
    }

    /// Starts `cmd` (its program, arguments and environment changes; not its working directory
    /// or standard streams) in a new pty of `size`.
    pub fn from_command(cmd: &std::process::Command, size: PtySize) -> Result<Self> {
        let argv: Vec<OsString> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(std::ffi::OsStr::to_os_string)
            .collect();
        let command = argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        let env: Vec<(OsString, Option<OsString>)> = cmd
            .get_envs()
            .map(|(k, v)| (k.to_os_string(), v.map(std::ffi::OsStr::to_os_string)))
            .collect();
        Self::spawn_with(command, argv, &env, size)
    }

    /// Starts `argv` with `env` set (`Some`) or removed (`None`).
    fn spawn_with(
        command: String,
        argv: Vec<OsString>,
        env: &[(OsString, Option<OsString>)],
        size: PtySize,
    ) -> Result<Self> {
        let pair = native_pty_system()
            .openpty(size.native())
            .map_err(|e| pty_error("opening a pty", e))?;
        let mut builder = CommandBuilder::from_argv(argv);
        builder.env_remove("KUBECONFIG");
        builder.env("TERM", "xterm");
        for (k, v) in env {
            match v {
                Some(v) => builder.env(k, v),
                None => builder.env_remove(k),
            }
        }
        if let Ok(cwd) = std::env::current_dir() {
            builder.cwd(cwd);
        }
        let child = pair
            .slave
            .spawn_command(builder)
            .map_err(|e| pty_error(&format!("starting `{command}`"), e))?;
        // Only the child may hold the terminal side, so that its exit reads as EOF here.
        drop(pair.slave);
        let reader = pair
            .master
            .try_clone_reader()
            .map_err(|e| pty_error("cloning the pty reader", e))?;
        let writer = pair
            .master
            .take_writer()
            .map_err(|e| pty_error("taking the pty writer", e))?;
        let output = Capture::start("pty", reader)?;
        Ok(Self {
            command,
            master: pair.master,
            writer,
            child,
            output,
            cursor: 0,
        })
    }

    /// Types `text` (no newline added).
    pub fn send(&mut self, text: &str) -> Result<()> {
        self.writer
            .write_all(text.as_bytes())
            .and_then(|()| self.writer.flush())
            .map_err(|e| HarnessError::io(format!("typing into `{}`", self.command), e))
    }

    /// Types `line` and presses Enter.
    pub fn send_line(&mut self, line: &str) -> Result<()> {
        self.send(&format!("{line}\r"))
    }

    /// Waits until `needle` appears in the output after everything already matched, and moves
    /// past it. Returns the output from the previous position through the match.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> Result<String> {
        let needle_bytes = needle.as_bytes();
        let found = self.output.wait_until(self.cursor, timeout, |tail| {
            tail.windows(needle_bytes.len().max(1))
                .position(|w| w == needle_bytes)
                .map(|at| at + needle_bytes.len())
        });
        match found {
            Some(end) => {
                let bytes = self.output.snapshot();
                let start = self.cursor;
                self.cursor += end;
                Ok(
                    String::from_utf8_lossy(bytes.get(start..self.cursor).unwrap_or_default())
                        .into_owned(),
                )
            }
            None => Err(self.not_seen(&format!("{needle:?} on the terminal"), timeout)),
        }
    }

    /// Like [`PtySession::expect`], but returns `None` instead of failing when `needle` does not
    /// appear within `timeout` (the position is kept).
    pub fn try_expect(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        self.expect(needle, timeout).ok()
    }

    /// Types `line` again and again until `needle` appears after one of them, or fails after
    /// `timeout` with the transcript. For what reaches the shell asynchronously, such as a
    /// terminal size: kubectl sends it on its own stream, unordered with what is typed.
    pub fn ask_until(&mut self, line: &str, needle: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.send_line(line)?;
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = left.min(Duration::from_secs(1));
            if let Some(seen) = self.try_expect(needle, wait) {
                return Ok(seen);
            }
            if Instant::now() >= deadline {
                return Err(self.not_seen(
                    &format!("{needle:?} on the terminal after typing {line:?} repeatedly"),
                    timeout,
                ));
            }
        }
    }

    fn not_seen(&mut self, what: &str, after: Duration) -> HarnessError {
        let state = match self.child.try_wait() {
            Ok(Some(status)) => format!("kubectl exited: {status}"),
            Ok(None) => "kubectl still running".to_owned(),
            Err(e) => format!("kubectl state unknown: {e}"),
        };
        HarnessError::NotSeen {
            command: self.command.clone(),
            what: what.to_owned(),
            after,
            report: not_seen_report(&state, &self.transcript(), None),
        }
    }

    /// Changes the window size, as a terminal emulator does when its window is resized.
    pub fn resize(&self, size: PtySize) -> Result<()> {
        self.master
            .resize(size.native())
            .map_err(|e| pty_error("resizing the pty", e))
    }

    /// Everything printed so far.
    pub fn transcript(&self) -> String {
        self.output.text()
    }

    /// The exit code if the process has exited, without waiting.
    pub fn try_exit_code(&mut self) -> Result<Option<u32>> {
        let polled = self
            .child
            .try_wait()
            .map_err(|e| HarnessError::io(format!("polling `{}`", self.command), e))?;
        Ok(polled.map(|status| status.exit_code()))
    }

    /// Waits for the process to exit and returns its exit code; kills it after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Result<u32> {
        let deadline = Instant::now() + timeout;
        loop {
            let polled = self
                .child
                .try_wait()
                .map_err(|e| HarnessError::io(format!("polling `{}`", self.command), e))?;
            if let Some(status) = polled {
                // Let the reader drain what was printed last, for the transcript.
                self.output.wait_eof(Duration::from_secs(2));
                return Ok(status.exit_code());
            }
            if Instant::now() >= deadline {
                let err = self.not_seen("the process to exit", timeout);
                let _ = self.child.kill();
                return Err(err);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver itself, on a local shell: typing, matching, size and resize all work.
    #[test]
    fn drives_a_local_shell() {
        let argv = vec![OsString::from("/bin/sh")];
        let mut pty =
            PtySession::spawn("sh".to_owned(), argv, &[], PtySize::new(37, 91)).expect("spawn");
        pty.send_line("echo ready-$((20+1))").expect("type");
        pty.expect("ready-21", Duration::from_secs(10))
            .expect("echo output");
        pty.send_line("stty size").expect("type");
        pty.expect("37 91", Duration::from_secs(10))
            .expect("initial size");
        pty.resize(PtySize::new(40, 100)).expect("resize");
        pty.send_line("stty size").expect("type");
        pty.expect("40 100", Duration::from_secs(10))
            .expect("new size");
        pty.send_line("exit 4").expect("type");
        assert_eq!(pty.wait(Duration::from_secs(10)).expect("exits"), 4);
    }
}
