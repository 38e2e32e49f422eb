//! `jitgate cert issue`: a client certificate from the jitgate CA (admin command; people get
//! theirs from `kubectl jit login` once the broker exists).

use std::path::PathBuf;

use anyhow::Context as _;

use crate::StateDirs;
use crate::duration::parse_duration;

/// Certificate commands.
#[derive(Debug, clap::Subcommand)]
pub enum CertCommand {
    /// Issue a short-lived client certificate (and a kubeconfig with --server).
    Issue(IssueArgs),
}

/// Flags of `jitgate cert issue`.
#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    /// The Kubernetes user name (certificate CN).
    #[arg(long)]
    user: String,
    /// A group (certificate O); repeatable.
    #[arg(long = "group")]
    groups: Vec<String>,
    /// Lifetime: at least 5m, at most --max-ttl.
    #[arg(long, default_value = "8h", value_parser = parse_duration)]
    ttl: std::time::Duration,
    /// The longest lifetime allowed.
    #[arg(long, default_value = "12h", value_parser = parse_duration)]
    max_ttl: std::time::Duration,
    /// Folder to write client.crt, client.key (0600) and ca.crt into.
    #[arg(long)]
    out: PathBuf,
    /// Gateway URL; with it, OUT/kubeconfig is written too.
    #[arg(long)]
    server: Option<String>,
    /// Default namespace of the kubeconfig context.
    #[arg(long)]
    namespace: Option<String>,
    #[command(flatten)]
    dirs: StateDirs,
}

/// Runs a cert command.
pub fn run(cmd: CertCommand) -> anyhow::Result<()> {
    let CertCommand::Issue(a) = cmd;
    let ca = jitgate_ca::CertificateAuthority::load_or_create(&a.dirs.ca_dir)
        .with_context(|| format!("opening the jitgate CA in {}", a.dirs.ca_dir.display()))?;
    let req = jitgate_ca::ClientCertRequest::new(
        a.user.clone(),
        a.groups.clone(),
        jitgate_ca::ClientKey::Generate,
        a.max_ttl,
    )
    .with_ttl(a.ttl);
    let cert = ca.issue_client_cert(req)?;
    let key = cert
        .key_pem
        .as_deref()
        .context("the CA returned no key for a generated certificate")?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    std::fs::write(a.out.join("client.crt"), &cert.cert_pem)?;
    jitgate_ca::write_private_file(&a.out.join("client.key"), key.as_bytes())?;
    std::fs::write(a.out.join("ca.crt"), ca.cert_pem())?;
    if let Some(server) = &a.server {
        let kc = jitgate_ca::kubeconfig_for(
            server,
            ca.cert_pem(),
            &cert.cert_pem,
            key,
            "jitgate",
            a.namespace.as_deref(),
        );
        jitgate_ca::write_private_file(&a.out.join("kubeconfig"), kc.as_bytes())?;
    }
    let until = cert
        .not_after
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| cert.not_after.to_string());
    println!(
        "issued a certificate for {} (groups: {}) valid until {until}, serial {}, in {}",
        a.user,
        if a.groups.is_empty() {
            "none".into()
        } else {
            a.groups.join(", ")
        },
        cert.serial_hex,
        a.out.display()
    );
    Ok(())
}
