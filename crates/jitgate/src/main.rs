//! `jitgate`: just-in-time, audited debugging access to Kubernetes.
//!
//! This binary only parses flags and wires the library crates together; the work lives in
//! `crates/` (policy, rbac, wire, store, broker, gateway, audit, web, cli).

use clap::{Parser, Subcommand};

/// Just-in-time, audited debugging access to Kubernetes: a gateway in front of kube-apiserver.
#[derive(Debug, Parser)]
#[command(name = "jitgate", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The `jitgate` subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Print the jitgate version.
    Version,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => println!("jitgate {}", env!("CARGO_PKG_VERSION")),
    }
    Ok(())
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
