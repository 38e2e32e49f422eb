//! `jitgate`: just-in-time, audited debugging access to Kubernetes.
//!
//! This binary only parses flags and wires the library crates together; the work lives in
//! `crates/` (classify, authz, rbac, ca, store, audit, oidc, gateway).

mod cmd_audit;
mod cmd_cert;
mod cmd_grant;
mod cmd_policy;
mod cmd_rbac;
mod cmd_recording;
mod cmd_serve;
mod duration;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Just-in-time, audited debugging access to Kubernetes: a gateway in front of kube-apiserver.
#[derive(Debug, Parser)]
#[command(name = "jitgate", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// Where jitgate keeps its state (shared by `serve`, `grant`, `cert` and `audit`).
#[derive(Debug, Clone, clap::Args)]
pub struct StateDirs {
    /// Folder of the jitgate CA (created on first `serve`).
    #[arg(long, env = "JITGATE_CA_DIR", default_value = ".jitgate/ca")]
    pub ca_dir: PathBuf,
    /// Folder of the audit log, the session recordings and (unless --store says otherwise) the
    /// SQLite grant store.
    #[arg(long, env = "JITGATE_DATA_DIR", default_value = ".jitgate/data")]
    pub data_dir: PathBuf,
    /// Where grants and requests live: `sqlite:PATH`, or `postgres://USER:PASSWORD@HOST/DB` for
    /// several gateway replicas sharing them. Default: sqlite:DATA_DIR/jitgate.db.
    #[arg(long, env = "JITGATE_STORE")]
    pub store: Option<String>,
}

impl StateDirs {
    /// The grant store these options name.
    pub fn store_location(&self) -> anyhow::Result<jitgate_store::StoreLocation> {
        match &self.store {
            Some(text) => jitgate_store::StoreLocation::parse(text).map_err(anyhow::Error::msg),
            None => Ok(jitgate_store::StoreLocation::Sqlite(
                self.data_dir.join("jitgate.db"),
            )),
        }
    }
}

/// The `jitgate` subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway in front of the Kubernetes API server.
    Serve(Box<cmd_serve::ServeArgs>),
    /// Client certificates from the jitgate CA.
    #[command(subcommand)]
    Cert(cmd_cert::CertCommand),
    /// Create, list and revoke grants (admin commands; `kubectl jit request` comes later).
    #[command(subcommand)]
    Grant(cmd_grant::GrantCommand),
    /// Kubernetes RBAC for the two locks.
    #[command(subcommand)]
    Rbac(cmd_rbac::RbacCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(cmd_audit::AuditCommand),
    /// The policy file: lint it, run its table tests, print its JSON Schema.
    #[command(subcommand)]
    Policy(cmd_policy::PolicyCommand),
    /// Session recordings: list them, replay one.
    #[command(subcommand)]
    Recording(cmd_recording::RecordingCommand),
    /// Print the jitgate version.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => cmd_serve::run(*args),
        Command::Cert(cmd) => cmd_cert::run(cmd),
        Command::Grant(cmd) => cmd_grant::run(cmd),
        Command::Rbac(cmd) => cmd_rbac::run(cmd),
        Command::Audit(cmd) => cmd_audit::run(cmd),
        Command::Policy(cmd) => cmd_policy::run(cmd),
        Command::Recording(cmd) => cmd_recording::run(cmd),
        Command::Version => {
            println!("jitgate {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    }
}

/// The policy in `path`, or the shipped one; an invalid file is an error listing its findings.
pub fn load_policy(path: Option<&std::path::Path>) -> anyhow::Result<jitgate_policy::Policy> {
    match path {
        Some(path) => jitgate_policy::Policy::load_file(path)
            .map_err(|e| anyhow::anyhow!("{}\n(run jitgate policy lint on it)", e.with_findings())),
        None => Ok(jitgate_policy::Policy::embedded_default()),
    }
}

/// A single-threaded runtime for the short admin commands.
pub fn block_on<F: Future>(f: F) -> anyhow::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f))
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }
}
