//! `jitgate policy lint|test|schema`: check a policy file like a compiler (every finding with
//! file, line, column, code and YAML path), run its table tests, print its JSON Schema.

use std::path::{Path, PathBuf};

use anyhow::bail;
use jitgate_policy::{Diagnostic, Policy, PolicyTests, Severity, read_limited};

/// Policy commands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file; prints FILE:LINE:COL: error[code] path: message per finding and
    /// exits non-zero on any error (or, with --strict, any warning).
    Lint(LintArgs),
    /// Run table tests (a YAML list of requests, approvals and standing-access questions with
    /// the expected outcome) against a policy; exits non-zero if any case fails.
    Test(TestArgs),
    /// Print the JSON Schema of the policy file (the one in docs/policy.schema.json).
    Schema,
}

/// Output formats of `jitgate policy lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LintFormat {
    /// One line per finding, like a compiler.
    Text,
    /// One JSON object: file, counts and every finding.
    Json,
}

/// Flags of `jitgate policy lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// The policy file (YAML or JSON).
    file: PathBuf,
    /// Treat warnings as errors.
    #[arg(long)]
    strict: bool,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = LintFormat::Text)]
    output: LintFormat,
}

/// Flags of `jitgate policy test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The policy file.
    policy: PathBuf,
    /// The test cases (see docs/policy.md, "Testing a policy").
    cases: PathBuf,
}

/// Runs a policy command.
pub fn run(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Lint(args) => lint(&args),
        PolicyCommand::Test(args) => test(&args),
        PolicyCommand::Schema => {
            print!("{}", jitgate_policy::schema_json());
            Ok(())
        }
    }
}

fn counts(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    (errors, diagnostics.len() - errors)
}

fn summary(file: &Path, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}: {}, {}",
        file.display(),
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

fn print_diagnostics(file: &Path, diagnostics: &[Diagnostic]) {
    let name = file.display().to_string();
    for d in diagnostics {
        println!("{}", d.render(&name));
    }
}

fn lint(args: &LintArgs) -> anyhow::Result<()> {
    let text = read_limited(&args.file)?;
    let diagnostics = Policy::lint(&text).diagnostics;
    let (errors, warnings) = counts(&diagnostics);
    match args.output {
        LintFormat::Text => {
            print_diagnostics(&args.file, &diagnostics);
            if diagnostics.is_empty() {
                println!("{}: ok, no findings", args.file.display());
            }
        }
        LintFormat::Json => {
            let report = serde_json::json!({
                "file": args.file.display().to_string(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": diagnostics,
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    }
    if errors > 0 || (args.strict && warnings > 0) {
        bail!(
            "{}{}",
            summary(&args.file, errors, warnings),
            if errors == 0 {
                "; --strict treats warnings as errors"
            } else {
                "; fix the errors above (docs/policy.md explains each code)"
            }
        );
    }
    Ok(())
}

fn test(args: &TestArgs) -> anyhow::Result<()> {
    let text = read_limited(&args.policy)?;
    let lint = Policy::lint(&text);
    let Some(policy) = lint.policy else {
        print_diagnostics(&args.policy, &lint.diagnostics);
        let (errors, warnings) = counts(&lint.diagnostics);
        bail!(
            "{}; the policy must lint clean of errors before its cases run",
            summary(&args.policy, errors, warnings)
        );
    };
    let warnings: Vec<Diagnostic> = lint
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Warning)
        .collect();
    print_diagnostics(&args.policy, &warnings);
    let cases_text = read_limited(&args.cases)?;
    let tests = match PolicyTests::parse(&cases_text) {
        Ok(tests) => tests,
        Err(diagnostics) => {
            print_diagnostics(&args.cases, &diagnostics);
            let (errors, warnings) = counts(&diagnostics);
            bail!(
                "{}; fix the case file",
                summary(&args.cases, errors, warnings)
            );
        }
    };
    let results = tests.run(&policy);
    let mut failed = 0;
    for result in &results {
        if result.passed {
            println!("PASS {}: {}", result.name, result.detail);
        } else {
            failed += 1;
            println!(
                "FAIL {} ({}:{}): {}",
                result.name,
                args.cases.display(),
                result.line,
                result.detail
            );
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    if failed > 0 {
        bail!(
            "{failed} of {} policy test case(s) failed; fix the policy or the expectation",
            results.len()
        );
    }
    Ok(())
}
