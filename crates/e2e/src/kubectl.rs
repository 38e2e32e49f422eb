//! Finding and running real kubectl binaries: one-shot with a deadline, in the background
//! (`-w`, `logs -f`, `port-forward`), or in a pseudo-terminal (`exec -it`).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::capture::Capture;
use crate::error::{HarnessError, Result, not_seen_report};
use crate::pty::{PtySession, PtySize};

/// Environment variable that picks the kubectl minor versions the suite runs, comma separated.
pub const VERSIONS_ENV: &str = "JITGATE_KUBECTL_VERSIONS";

/// The versions run when [`VERSIONS_ENV`] is unset: the oldest (SPDY only) and the newest
/// (WebSocket) kubectl on the machine.
pub const DEFAULT_VERSIONS: &str = "1.27,1.31,1.33";

/// Environment variable naming the directory of `kubectl.1.NN` binaries, overriding discovery.
pub const KUBECTL_DIR_ENV: &str = "JITGATE_KUBECTL_DIR";

/// How long a one-shot kubectl may run unless [`Kubectl::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// How long to wait for output pipes to drain after the process has exited.
const DRAIN: Duration = Duration::from_secs(10);

/// Parses a comma-separated list of kubectl versions such as `1.27, 1.33`.
///
/// Each entry must be `1.<minor>`; duplicates are dropped, order is kept, and an empty list is an
/// error (a run that tests nothing must not look green).
pub fn parse_versions(value: &str) -> Result<Vec<String>> {
    let bad = |reason: String| HarnessError::KubectlVersions {
        value: value.to_owned(),
        reason,
    };
    let mut versions: Vec<String> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let minor = entry
            .strip_prefix("1.")
            .filter(|m| !m.is_empty() && m.len() <= 3 && m.bytes().all(|b| b.is_ascii_digit()));
        if minor.is_none() {
            return Err(bad(format!(
                "{entry:?} is not a kubectl version like 1.27 (use `1.<minor>`, comma separated)"
            )));
        }
        if !versions.iter().any(|v| v == entry) {
            versions.push(entry.to_owned());
        }
    }
    if versions.is_empty() {
        return Err(bad(
            "names no version; give e.g. 1.27,1.33 or unset it for the default".to_owned(),
        ));
    }
    Ok(versions)
}

/// The versions selected by [`VERSIONS_ENV`], or [`DEFAULT_VERSIONS`] when it is unset.
pub fn selected_versions() -> Result<Vec<String>> {
    match std::env::var(VERSIONS_ENV) {
        Ok(value) => parse_versions(&value),
        Err(std::env::VarError::NotPresent) => parse_versions(DEFAULT_VERSIONS),
        Err(std::env::VarError::NotUnicode(v)) => Err(HarnessError::KubectlVersions {
            value: v.to_string_lossy().into_owned(),
            reason: "is not UTF-8".to_owned(),
        }),
    }
}

/// The directory holding `kubectl.1.NN`: [`KUBECTL_DIR_ENV`] if set, else the directory of
/// `readlink -f $(which kubectl)`.
pub fn kubectl_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(KUBECTL_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let path = std::env::var_os("PATH").ok_or(HarnessError::KubectlNotOnPath)?;
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|candidate| is_executable(candidate))
        .ok_or(HarnessError::KubectlNotOnPath)?;
    let real = found
        .canonicalize()
        .map_err(|e| HarnessError::io(format!("resolving {}", found.display()), e))?;
    real.parent()
        .map(Path::to_path_buf)
        .ok_or(HarnessError::KubectlNotOnPath)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The minor version of `1.<minor>`, if it has that form.
pub fn minor_of(version: &str) -> Option<u32> {
    version.strip_prefix("1.")?.parse().ok()
}

/// One kubectl binary of a known version, bound to a kubeconfig (the sandbox admin today, a
/// jitgate user's kubeconfig pointing at the gateway later).
#[derive(Debug, Clone)]
pub struct Kubectl {
    /// The binary, e.g. `/usr/lib/google-cloud-sdk/bin/kubectl.1.27`.
    pub binary: PathBuf,
    /// The kubeconfig passed with `--kubeconfig`.
    pub kubeconfig: PathBuf,
    /// The version, e.g. `1.27`.
    pub version: String,
    namespace: Option<String>,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
}

impl Kubectl {
    /// A kubectl with an explicit binary.
    pub fn new(
        binary: impl Into<PathBuf>,
        kubeconfig: impl Into<PathBuf>,
        version: impl Into<String>,
    ) -> Self {
        Self {
            binary: binary.into(),
            kubeconfig: kubeconfig.into(),
            version: version.into(),
            namespace: None,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Finds `kubectl.<version>` in [`kubectl_dir`]; a missing binary is an error, never a skip.
    pub fn discover(version: &str, kubeconfig: impl Into<PathBuf>) -> Result<Self> {
        Self::discover_in(&kubectl_dir()?, version, kubeconfig)
    }

    /// Finds `kubectl.<version>` in `dir`; a missing binary is an error.
    pub fn discover_in(dir: &Path, version: &str, kubeconfig: impl Into<PathBuf>) -> Result<Self> {
        let binary = dir.join(format!("kubectl.{version}"));
        if !is_executable(&binary) {
            return Err(HarnessError::KubectlMissing {
                version: version.to_owned(),
                path: binary,
            });
        }
        Ok(Self::new(binary, kubeconfig, version))
    }

    /// The minor version number (27 for `1.27`), if the version has the usual form.
    pub fn minor(&self) -> Option<u32> {
        minor_of(&self.version)
    }

    /// The same kubectl with `--namespace` on every command.
    pub fn in_namespace(&self, namespace: impl Into<String>) -> Self {
        Self {
            namespace: Some(namespace.into()),
            ..self.clone()
        }
    }

    /// The same kubectl using another kubeconfig.
    pub fn with_kubeconfig(&self, kubeconfig: impl Into<PathBuf>) -> Self {
        Self {
            kubeconfig: kubeconfig.into(),
            ..self.clone()
        }
    }

    /// The same kubectl with an extra environment variable, e.g.
    /// `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false` to force SPDY.
    pub fn with_env(&self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        let mut next = self.clone();
        next.env.retain(|(k, _)| k != key.as_ref());
        next.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        next
    }

    /// The same kubectl with another deadline for one-shot commands.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// The environment overrides, as `KEY=value` words for messages.
    pub fn env_overrides(&self) -> String {
        self.env
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn argv<I, S>(&self, args: I) -> Vec<OsString>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut argv = vec![self.binary.clone().into_os_string()];
        let mut kubeconfig = OsString::from("--kubeconfig=");
        kubeconfig.push(&self.kubeconfig);
        argv.push(kubeconfig);
        if let Some(ns) = &self.namespace {
            argv.push(format!("--namespace={ns}").into());
        }
        argv.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        argv
    }

    /// The command line as a shell would take it, with the environment overrides.
    fn describe(&self, argv: &[OsString]) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), shell_quote(v)))
            .collect();
        words.extend(argv.iter().map(shell_quote));
        words.join(" ")
    }

    fn command(&self, argv: &[OsString]) -> Command {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd.env_remove("KUBECONFIG");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs kubectl with no stdin and waits for it, killing it after the deadline.
    ///
    /// A non-zero exit is not an error here (the exit code is often what a test checks); use
    /// [`Output::checked`] to require success.
    pub fn run<I, S>(&self, args: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.execute(&self.argv(args), None)
    }

    /// Runs kubectl with `stdin` as its standard input (then closed), killing it after the deadline.
    pub fn run_with_stdin<I, S>(&self, args: I, stdin: &[u8]) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.execute(&self.argv(args), Some(stdin))
    }

    fn execute(&self, argv: &[OsString], stdin: Option<&[u8]>) -> Result<Output> {
        run_command(self.command(argv), self.describe(argv), stdin, self.timeout)
    }

    /// Starts kubectl in the background (for `get -w`, `logs -f`, `port-forward`); it is killed
    /// when the returned handle is stopped or dropped.
    pub fn spawn<I, S>(&self, args: I) -> Result<Background>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let argv = self.argv(args);
        let command = self.describe(&argv);
        let mut child = self
            .command(&argv)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                command: command.clone(),
                source,
            })?;
        let (stdout, stderr) = capture_pipes(&mut child)?;
        Ok(Background {
            command,
            child,
            stdout,
            stderr,
        })
    }

    /// Starts kubectl with a standard input to write to later ([`Background::write_stdin`]).
    pub fn spawn_with_stdin<I, S>(&self, args: I) -> Result<Background>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let argv = self.argv(args);
        let command = self.describe(&argv);
        let mut cmd = self.command(&argv);
        cmd.stdin(Stdio::piped());
        Background::spawn_command(cmd, command)
    }

    /// Starts kubectl in a new pseudo-terminal of the given size (for `exec -it`, `attach -it`).
    pub fn spawn_pty<I, S>(&self, args: I, size: PtySize) -> Result<PtySession>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let argv = self.argv(args);
        let command = self.describe(&argv);
        PtySession::spawn(command, argv, &self.env, size)
    }
}

/// Runs `cmd` (described as `command` in errors) with `stdin` or none, collecting its output,
/// and kills it after `timeout`.
pub fn run_command(
    mut cmd: Command,
    command: String,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output> {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HarnessError::Spawn {
            command: command.clone(),
            source,
        })?;
    let (stdout, stderr) = capture_pipes(&mut child)?;
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let data = data.to_vec();
        // Detached: if kubectl never reads its stdin, this thread ends with EPIPE when the
        // process is gone.
        thread::Builder::new()
            .name("kubectl-stdin".to_owned())
            .spawn(move || {
                let _ = pipe.write_all(&data);
            })
            .map_err(|e| HarnessError::io("starting the stdin writer thread", e))?;
    }
    let deadline = Instant::now() + timeout;
    let status = wait_until(&mut child, deadline)
        .map_err(|e| HarnessError::io(format!("waiting for `{command}`"), e))?;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(HarnessError::Timeout {
            command,
            after: timeout,
            stdout: stdout.text(),
            stderr: stderr.text(),
        });
    };
    stdout.wait_eof(DRAIN);
    stderr.wait_eof(DRAIN);
    Ok(Output {
        command,
        status,
        stdout: stdout.snapshot(),
        stderr: stderr.snapshot(),
    })
}

fn capture_pipes(child: &mut Child) -> Result<(Capture, Capture)> {
    let missing = || {
        HarnessError::io(
            "taking the child's pipes",
            std::io::ErrorKind::BrokenPipe.into(),
        )
    };
    let stdout = Capture::start("stdout", child.stdout.take().ok_or_else(missing)?)?;
    let stderr = Capture::start("stderr", child.stderr.take().ok_or_else(missing)?)?;
    Ok((stdout, stderr))
}

/// Polls `child` until it exits or `deadline` passes (then `None`).
fn wait_until(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Quotes a word for a shell if it needs it, so failure messages are paste-able.
pub(crate) fn shell_quote(word: impl AsRef<OsStr>) -> String {
    let word = word.as_ref().to_string_lossy();
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./=:,@%+".contains(&b));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What a finished kubectl did.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: Vec<u8>,
    /// Everything it printed on stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// The exit code, if it exited rather than being killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Whether it exited with 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Itself if kubectl exited with 0, else an error carrying its output.
    pub fn checked(self) -> Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            Err(HarnessError::CommandFailed {
                status: self.status.to_string(),
                stdout: self.stdout_text(),
                stderr: self.stderr_text(),
                command: self.command,
            })
        }
    }

    /// stdout parsed as one JSON value.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.stdout).map_err(|source| HarnessError::Json {
            command: self.command.clone(),
            source,
        })
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.status,
            self.stdout_text(),
            self.stderr_text()
        )
    }
}

/// A kubectl running in the background; killed on [`Background::stop`] or drop.
#[derive(Debug)]
pub struct Background {
    command: String,
    child: Child,
    stdout: Capture,
    stderr: Capture,
}

impl Background {
    /// Starts any command in the background the way [`Kubectl::spawn`] starts kubectl (stdout
    /// and stderr captured; stdin as `cmd` sets it, null by default); `command` names it in
    /// messages.
    pub fn spawn_command(mut cmd: Command, command: String) -> Result<Background> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                command: command.clone(),
                source,
            })?;
        let (stdout, stderr) = capture_pipes(&mut child)?;
        Ok(Background {
            command,
            child,
            stdout,
            stderr,
        })
    }

    /// Writes to the process's standard input (if it was started with one).
    pub fn write_stdin(&mut self, bytes: &[u8]) -> Result<()> {
        use std::io::Write as _;
        match self.child.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(bytes)
                .map_err(|e| HarnessError::io(format!("writing to `{}`", self.command), e)),
            None => Err(HarnessError::io(
                format!("writing to `{}`", self.command),
                std::io::Error::other("started without a standard input"),
            )),
        }
    }

    /// Calls `check` on all of stderr each time more arrives until it returns `Some`; fails
    /// with everything printed so far if `timeout` passes first.
    pub fn wait_for_stderr<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        check: impl FnMut(&[u8]) -> Option<T>,
    ) -> Result<T> {
        if let Some(found) = self.stderr.wait_until(0, timeout, check) {
            return Ok(found);
        }
        let state = match self.child.try_wait() {
            Ok(Some(status)) => format!("exited: {status}"),
            Ok(None) => "still running".to_owned(),
            Err(e) => format!("state unknown: {e}"),
        };
        Err(HarnessError::NotSeen {
            command: self.command.clone(),
            what: what.to_owned(),
            after: timeout,
            report: not_seen_report(&state, &self.stdout.text(), Some(&self.stderr.text())),
        })
    }

    /// Waits up to `timeout` for the process to exit by itself (killing it after that) and
    /// returns what it printed.
    pub fn wait(mut self, timeout: Duration) -> Result<Output> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.stop()
    }

    /// The command line, for messages.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// Calls `check` on all of stdout each time more arrives until it returns `Some`; fails with
    /// everything printed so far if `timeout` passes or kubectl exits first.
    pub fn wait_for_stdout<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        check: impl FnMut(&[u8]) -> Option<T>,
    ) -> Result<T> {
        if let Some(found) = self.stdout.wait_until(0, timeout, check) {
            return Ok(found);
        }
        let state = match self.child.try_wait() {
            Ok(Some(status)) => format!("kubectl exited: {status}"),
            Ok(None) => "kubectl still running".to_owned(),
            Err(e) => format!("kubectl state unknown: {e}"),
        };
        Err(HarnessError::NotSeen {
            command: self.command.clone(),
            what: what.to_owned(),
            after: timeout,
            report: not_seen_report(&state, &self.stdout.text(), Some(&self.stderr.text())),
        })
    }

    /// Waits for a stdout line for which `matches` is true and returns it.
    pub fn wait_for_line(
        &mut self,
        what: &str,
        timeout: Duration,
        mut matches: impl FnMut(&str) -> bool,
    ) -> Result<String> {
        self.wait_for_stdout(what, timeout, |out| {
            let text = String::from_utf8_lossy(out);
            // Only complete lines: a line still being written could match too early.
            let complete = text.rfind('\n').map_or("", |end| &text[..end]);
            complete.lines().find(|l| matches(l)).map(str::to_owned)
        })
    }

    /// stdout so far.
    pub fn stdout(&self) -> Vec<u8> {
        self.stdout.snapshot()
    }

    /// stderr so far, as text.
    pub fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the process to stop (`SIGTERM`), as a service manager does; it is not waited for.
    pub fn terminate(&self) -> Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .map_err(|e| HarnessError::io(format!("kill -TERM `{}`", self.command), e))?;
        if status.success() {
            Ok(())
        } else {
            Err(HarnessError::io(
                format!("kill -TERM `{}`", self.command),
                std::io::Error::other(format!("kill exited {status}")),
            ))
        }
    }

    /// Whether kubectl has exited, without waiting.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .map_err(|e| HarnessError::io(format!("polling `{}`", self.command), e))
    }

    /// Kills kubectl (if still running) and returns what it printed.
    pub fn stop(mut self) -> Result<Output> {
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .map_err(|e| HarnessError::io(format!("reaping `{}`", self.command), e))?;
        self.stdout.wait_eof(DRAIN);
        self.stderr.wait_eof(DRAIN);
        Ok(Output {
            command: self.command.clone(),
            status,
            stdout: self.stdout.snapshot(),
            stderr: self.stderr.snapshot(),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_trim_and_dedupe() {
        assert_eq!(
            parse_versions(" 1.27, 1.33,1.27,").expect("valid"),
            vec!["1.27", "1.33"]
        );
    }

    #[test]
    fn versions_reject_garbage_and_empty() {
        for bad in ["", " , ", "1.x", "27", "v1.27", "1.", "2.0"] {
            let err = parse_versions(bad).expect_err(bad);
            assert!(
                err.to_string().contains("JITGATE_KUBECTL_VERSIONS"),
                "{err}"
            );
        }
    }

    #[test]
    fn default_versions_are_valid() {
        assert_eq!(
            parse_versions(DEFAULT_VERSIONS).expect("valid"),
            vec!["1.27", "1.31", "1.33"]
        );
    }

    #[test]
    fn minor_versions() {
        assert_eq!(minor_of("1.27"), Some(27));
        assert_eq!(minor_of("x"), None);
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("get"), "get");
        assert_eq!(
            shell_quote("--for=condition=Ready"),
            "--for=condition=Ready"
        );
        assert_eq!(shell_quote("echo out; exit 7"), "'echo out; exit 7'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    /// `run` enforces its deadline on a real process and reports what it printed.
    #[test]
    fn run_kills_at_the_deadline() {
        let sh =
            Kubectl::new("/bin/sh", "/dev/null", "0.0").with_timeout(Duration::from_millis(300));
        // `sh --kubeconfig=…` would fail, so build the command by hand through `execute`.
        let argv: Vec<OsString> = ["/bin/sh", "-c", "echo started; sleep 30"]
            .iter()
            .map(OsString::from)
            .collect();
        let started = Instant::now();
        let err = sh.execute(&argv, None).expect_err("must time out");
        assert!(started.elapsed() < Duration::from_secs(10));
        let text = err.to_string();
        assert!(text.contains("did not finish within"), "{text}");
        assert!(text.contains("started"), "{text}");
    }

    #[test]
    fn run_passes_stdin_and_reports_exit_codes() {
        let sh = Kubectl::new("/bin/sh", "/dev/null", "0.0");
        let argv: Vec<OsString> = ["/bin/sh", "-c", "cat; echo err >&2; exit 3"]
            .iter()
            .map(OsString::from)
            .collect();
        let out = sh.execute(&argv, Some(b"hello\n")).expect("runs");
        assert_eq!(out.stdout, b"hello\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.code(), Some(3));
        assert!(out.checked().is_err());
    }

    #[test]
    fn missing_binary_is_an_error_not_a_skip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Kubectl::discover_in(dir.path(), "1.99", "/dev/null").expect_err("missing");
        let text = err.to_string();
        assert!(text.contains("kubectl 1.99 is requested"), "{text}");
    }
}
