//! The one error type of the harness: every variant says what happened and what to do.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while driving kubectl against a cluster.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// `JITGATE_SANDBOX_DIR` is not set, so there is no cluster to talk to.
    #[error(
        "JITGATE_SANDBOX_DIR is not set: run `make test` (it starts the sandbox) or set \
         JITGATE_SANDBOX_DIR to the absolute path of a running sandbox (the directory holding \
         admin.kubeconfig, ca.crt and state.json)"
    )]
    SandboxDirUnset,

    /// `JITGATE_SANDBOX_DIR` is set to a relative path.
    #[error(
        "JITGATE_SANDBOX_DIR={dir:?} is not an absolute path: cargo runs tests from the crate \
         directory, so give the absolute path (e.g. JITGATE_SANDBOX_DIR=$PWD/.sandbox)"
    )]
    SandboxDirRelative {
        /// The value as given.
        dir: PathBuf,
    },

    /// A file the sandbox writes when it is up is not there.
    #[error(
        "sandbox file {path:?} cannot be read; is the sandbox running? (`make sandbox-up` or \
         `make test` starts it)"
    )]
    SandboxFile {
        /// The file that was looked for.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },

    /// `state.json` of the sandbox is not JSON.
    #[error("sandbox state {path:?} is not valid JSON; restart the sandbox (`make sandbox-up`)")]
    SandboxState {
        /// The state file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// `JITGATE_KUBECTL_VERSIONS` cannot be understood or asks for an unsupported version.
    #[error("JITGATE_KUBECTL_VERSIONS={value:?}: {reason}")]
    KubectlVersions {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// No `kubectl` on `PATH`, so the directory of versioned binaries is unknown.
    #[error(
        "no `kubectl` on PATH: the smoke suite looks for kubectl.1.27 … kubectl.1.33 in the \
         directory of `readlink -f $(which kubectl)`; install kubectl or set JITGATE_KUBECTL_DIR"
    )]
    KubectlNotOnPath,

    /// A requested kubectl version has no binary.
    #[error(
        "kubectl {version} is requested (JITGATE_KUBECTL_VERSIONS) but {path:?} does not exist; \
         install it there or drop {version} from JITGATE_KUBECTL_VERSIONS"
    )]
    KubectlMissing {
        /// The version asked for, e.g. `1.27`.
        version: String,
        /// Where its binary was expected.
        path: PathBuf,
    },

    /// A process could not be started.
    #[error("cannot start `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// Why the start failed.
        #[source]
        source: std::io::Error,
    },

    /// A process ran past its deadline and was killed.
    #[error(
        "`{command}` did not finish within {after:?}, so it was killed\n--- stdout so far ---\n\
         {stdout}\n--- stderr so far ---\n{stderr}"
    )]
    Timeout {
        /// The command line.
        command: String,
        /// The deadline it ran past.
        after: Duration,
        /// What it printed on stdout before it was killed.
        stdout: String,
        /// What it printed on stderr before it was killed.
        stderr: String,
    },

    /// A process exited unsuccessfully where success was required.
    #[error("`{command}` failed ({status})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
        /// Its stdout.
        stdout: String,
        /// Its stderr.
        stderr: String,
    },

    /// A running process did not print what was waited for in time.
    #[error("waited {after:?} for {what} from `{command}`\n{report}")]
    NotSeen {
        /// The command line.
        command: String,
        /// What was expected, in words.
        what: String,
        /// How long it was waited for.
        after: Duration,
        /// Whether the process still runs, and everything it printed.
        report: String,
    },

    /// A condition polled for did not come true in time.
    #[error("waited {after:?} for {what}; last seen: {last}")]
    PollTimeout {
        /// What was waited for, in words.
        what: String,
        /// How long.
        after: Duration,
        /// The last observation, to tell why.
        last: String,
    },

    /// kubectl printed something that is not the JSON it was asked for.
    #[error("`{command}` did not print valid JSON")]
    Json {
        /// The command line.
        command: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// An I/O operation of the harness itself failed.
    #[error("I/O error while {doing}")]
    Io {
        /// What the harness was doing.
        doing: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The pseudo-terminal layer failed.
    #[error("pty error while {doing}: {message}")]
    Pty {
        /// What the harness was doing.
        doing: String,
        /// The error from `portable-pty`.
        message: String,
    },

    /// An HTTP exchange over a forwarded port failed or was malformed.
    #[error("HTTP {method} {path} to {addr}: {detail}")]
    Http {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
        /// Address it was sent to.
        addr: String,
        /// What went wrong.
        detail: String,
    },
}

impl HarnessError {
    /// Wraps an I/O error with what the harness was doing.
    pub fn io(doing: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            doing: doing.into(),
            source,
        }
    }
}

/// Result with [`HarnessError`].
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// The body of [`HarnessError::NotSeen`]: the process state and its output.
pub(crate) fn not_seen_report(state: &str, output: &str, stderr: Option<&str>) -> String {
    let mut report = format!("({state})\n--- output ---\n{output}");
    if let Some(stderr) = stderr {
        report.push_str("\n--- stderr ---\n");
        report.push_str(stderr);
    }
    report
}

/// Formats an error with its chain of causes, one per line, for test failure messages.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str("\ncaused by: ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
