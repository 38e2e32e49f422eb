//! `kubectl-jit`: kubectl runs it for `kubectl jit ...`.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use jitgate_cli::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let mut stdout = std::io::stdout().lock();
    runtime.block_on(jitgate_cli::commands::run(cli, &mut stdout))?;
    Ok(())
}
