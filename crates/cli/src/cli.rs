//! The command line, defined once: every flag, its help, and its default.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jitgate_api::{GoDuration, GrantId, GrantState, RequestId, RequestState, SessionId};

use crate::output::OutputFormat;

/// kubectl jit: just-in-time, audited access to production Kubernetes through jitgate.
///
/// Log in once (`kubectl jit login`), ask for access (`kubectl jit request debug -n payments
/// --for 30m --reason INC-4211 --wait`), then use plain kubectl.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-jit",
    bin_name = "kubectl jit",
    version,
    max_term_width = 100
)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The jitgate gateway, e.g. https://jitgate.example.com:8443 [default: the current
    /// kubeconfig context's, if kubectl jit kubeconfig wrote it]
    #[arg(long, global = true, env = "JITGATE_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The jitgate CA certificate (PEM) to trust for the gateway [default: the kubeconfig
    /// context's, or the one saved at login]
    #[arg(long, global = true, env = "JITGATE_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// The kubeconfig file to read and write [default: $KUBECONFIG, else ~/.kube/config]
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in with your identity provider and get a short-lived client certificate.
    Login(LoginArgs),
    /// Delete the cached credential for the server.
    Logout,
    /// The kubectl credential plugin (ExecCredential); kubeconfigs written by `kubectl jit
    /// kubeconfig` run it.
    Credential,
    /// Write (or update) a kubeconfig context that reaches the cluster through jitgate.
    Kubeconfig(KubeconfigArgs),
    /// Show who jitgate thinks you are and your active grants.
    Whoami,
    /// List the profiles you may request, and how a request would be approved.
    Profiles,
    /// Ask for access: a profile in a namespace, for a while, with a reason.
    Request(RequestArgs),
    /// List your requests, and the pending ones you may approve.
    Ls(LsArgs),
    /// Approve someone's pending request.
    Approve(ApproveArgs),
    /// Deny someone's pending request.
    Deny(DenyArgs),
    /// Withdraw your own pending request.
    Cancel(CancelArgs),
    /// List grants (active access).
    Grants(GrantsArgs),
    /// Revoke a grant: access ends and its live sessions are cut.
    Revoke(RevokeArgs),
    /// Review a break-glass grant after the fact.
    Review(ReviewArgs),
    /// List recorded exec and attach sessions: yours, or everyone's with --all.
    Sessions(SessionsArgs),
    /// Replay a recorded session on this terminal, with its timing.
    Play(PlayArgs),
}

/// `login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Use the device-code flow (enter a code on any device) instead of a browser here.
    #[arg(long)]
    pub device_code: bool,
    /// Print the login URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Certificate lifetime, e.g. 8h [default: the gateway's]
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<GoDuration>,
    /// How long to wait for the browser or device login.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub timeout: GoDuration,
}

impl LoginArgs {
    /// The wait as a standard duration.
    pub fn timeout(&self) -> Duration {
        self.timeout.as_std()
    }
}

/// `kubeconfig`.
#[derive(Debug, Clone, Args)]
pub struct KubeconfigArgs {
    /// Name of the context (and its cluster and user) [default: jitgate-HOST-PORT]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Default namespace of the context.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
}

/// `request`.
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// The profile, e.g. debug (kubectl jit profiles lists them).
    pub profile: String,
    /// The namespace.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: String,
    /// How long, e.g. 30m or 1h30m [default: the profile's]
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<GoDuration>,
    /// Why: what you are debugging.
    #[arg(long)]
    pub reason: String,
    /// A ticket or incident, e.g. INC-4211.
    #[arg(long)]
    pub ticket: Option<String>,
    /// Emergency: approve yourself now, with a short cap, loud notification and a review
    /// afterwards.
    #[arg(long)]
    pub break_glass: bool,
    /// Wait until the access is active (or denied), then say what to run.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits.
    #[arg(long, value_name = "DURATION", default_value = "15m")]
    pub wait_timeout: GoDuration,
}

/// `ls`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// Everyone's requests (for approvers and auditors) instead of yours and those you may
    /// approve.
    #[arg(long)]
    pub all: bool,
    /// Only these states, e.g. pending,active.
    #[arg(long, value_delimiter = ',', value_name = "STATE")]
    pub state: Vec<RequestState>,
    /// At most this many of each list.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
}

/// `approve`.
#[derive(Debug, Clone, Args)]
pub struct ApproveArgs {
    /// The request, e.g. r-7f3a09c1.
    pub id: RequestId,
    /// A comment for the requester and the audit log.
    #[arg(long)]
    pub comment: Option<String>,
}

/// `deny`.
#[derive(Debug, Clone, Args)]
pub struct DenyArgs {
    /// The request, e.g. r-7f3a09c1.
    pub id: RequestId,
    /// Why not.
    #[arg(long)]
    pub reason: String,
}

/// `cancel`.
#[derive(Debug, Clone, Args)]
pub struct CancelArgs {
    /// Your request, e.g. r-7f3a09c1.
    pub id: RequestId,
    /// Why, optionally.
    #[arg(long)]
    pub reason: Option<String>,
}

/// `grants`.
#[derive(Debug, Clone, Args)]
pub struct GrantsArgs {
    /// Everyone's grants (for approvers and auditors).
    #[arg(long)]
    pub all: bool,
    /// Only these states, e.g. active.
    #[arg(long, value_delimiter = ',', value_name = "STATE")]
    pub state: Vec<GrantState>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// `revoke`.
#[derive(Debug, Clone, Args)]
pub struct RevokeArgs {
    /// The grant, e.g. g-7f3a09c1.
    pub id: GrantId,
    /// Why; shown to the user whose sessions are cut.
    #[arg(long)]
    pub reason: String,
}

/// `review`.
#[derive(Debug, Clone, Args)]
pub struct ReviewArgs {
    /// The break-glass grant, e.g. g-7f3a09c1.
    pub id: GrantId,
    /// Your conclusion, for the audit log.
    #[arg(long)]
    pub comment: String,
}

/// `sessions`.
#[derive(Debug, Clone, Args)]
pub struct SessionsArgs {
    /// Everyone's sessions (for approvers, auditors and admins).
    #[arg(long)]
    pub all: bool,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// `play`.
#[derive(Debug, Clone, Args)]
pub struct PlayArgs {
    /// The session, e.g. s-7f3a09c1 (kubectl jit sessions lists them).
    pub id: SessionId,
    /// Playback speed: 2 is twice as fast; 0 prints everything at once.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// The longest pause between two events, in seconds.
    #[arg(long, default_value_t = 2.0)]
    pub max_wait: f64,
    /// Also print what was typed (stdin), marked ⟨…⟩, and how the session ended.
    #[arg(long)]
    pub input: bool,
    /// Print the output exactly as recorded. Without it, escape sequences that reach beyond
    /// the screen (window title, clipboard, terminal reports) are dropped: the pod wrote them.
    #[arg(long)]
    pub raw: bool,
    /// Save the recording (asciicast v2, for asciinema play) to this file instead of playing it.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn request_flags() {
        let cli = Cli::try_parse_from([
            "kubectl-jit",
            "request",
            "debug",
            "-n",
            "payments",
            "--for",
            "30m",
            "--reason",
            "INC-4211",
            "--wait",
            "-o",
            "json",
        ])
        .unwrap();
        let Command::Request(r) = cli.command else {
            panic!("not request")
        };
        assert_eq!(r.duration, Some(GoDuration::from_secs(1800)));
        assert!(r.wait && !r.break_glass);
        assert_eq!(cli.global.output, OutputFormat::Json);
    }

    #[test]
    fn malformed_values_are_refused_by_the_parser() {
        for argv in [
            vec![
                "kubectl-jit",
                "request",
                "debug",
                "-n",
                "p",
                "--for",
                "30",
                "--reason",
                "x",
            ],
            vec!["kubectl-jit", "approve", "7f3a09c1"],
            vec!["kubectl-jit", "revoke", "r-7f3a09c1", "--reason", "x"],
            vec!["kubectl-jit", "ls", "--state", "open"],
            vec!["kubectl-jit", "deny", "r-7f3a09c1"],
        ] {
            assert!(Cli::try_parse_from(&argv).is_err(), "{argv:?}");
        }
    }
}
