//! `jitgate serve`: the gateway.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use crate::StateDirs;

/// Flags of `jitgate serve`; every one can also come from `--config FILE` (YAML, same names in
/// kebab-case). Flags win over the file.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// YAML config file (keys: listen, admin-listen, ca-dir, data-dir, store, upstream-kubeconfig,
    /// tls-san, oidc-issuer, oidc-client-id, oidc-ca-file, oidc-username-claim,
    /// oidc-groups-claim, oidc-client-secret, audit-fsync, shards, policy, public-url, admin-group,
    /// auditor-group).
    #[arg(long)]
    config: Option<PathBuf>,
    /// HTTPS address for kubectl.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Plain-HTTP address for /healthz, /readyz and /metrics.
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    #[command(flatten)]
    dirs: StateDirs,
    /// The gateway's own kubeconfig for the API server (default: in-cluster config, or
    /// .sandbox/gateway.kubeconfig when it exists).
    #[arg(long, env = "JITGATE_UPSTREAM_KUBECONFIG")]
    upstream_kubeconfig: Option<PathBuf>,
    /// Extra DNS name or IP for the serving certificate (repeatable).
    #[arg(long = "tls-san")]
    tls_sans: Vec<String>,
    /// OIDC issuer URL whose ID tokens are accepted as bearer tokens.
    #[arg(long)]
    oidc_issuer: Option<String>,
    /// OIDC client id (the tokens' audience).
    #[arg(long)]
    oidc_client_id: Option<String>,
    /// PEM CA bundle for the issuer's TLS.
    #[arg(long)]
    oidc_ca_file: Option<PathBuf>,
    /// Claim holding the user name.
    #[arg(long)]
    oidc_username_claim: Option<String>,
    /// Claim holding the groups.
    #[arg(long)]
    oidc_groups_claim: Option<String>,
    /// Client secret `kubectl jit login` sends to the token endpoint, for providers that demand
    /// one for a native client (published at /jitgate/v1/config: it is not confidential).
    #[arg(long, env = "JITGATE_OIDC_CLIENT_SECRET")]
    oidc_client_secret: Option<String>,
    /// The gateway's URL as clients reach it (kubeconfigs, /jitgate/v1/config); default
    /// https://<listen address>.
    #[arg(long)]
    public_url: Option<String>,
    /// The PagerDuty REST API (or one that speaks its `/oncalls` shape) for the policy's
    /// `pagerduty` schedules.
    #[arg(long, default_value = "https://api.pagerduty.com")]
    pagerduty_url: String,
    /// The environment variable holding the PagerDuty API key; without it, PagerDuty schedules
    /// answer "unknown" and never auto-approve.
    #[arg(long, default_value = "JITGATE_PAGERDUTY_TOKEN")]
    pagerduty_token_env: String,
    /// Group whose members may list, revoke and review every request and grant (repeatable).
    #[arg(long = "admin-group")]
    admin_groups: Vec<String>,
    /// Group whose members may read every request and grant (repeatable).
    #[arg(long = "auditor-group")]
    auditor_groups: Vec<String>,
    /// fsync every audit line before answering (default true; false only flushes to the OS).
    #[arg(long)]
    audit_fsync: Option<bool>,
    /// Threads serving kubectl, each with its own listener socket and apiserver connections
    /// (default: one per CPU).
    #[arg(long, env = "JITGATE_SHARDS")]
    shards: Option<usize>,
    /// The policy file (default: the shipped policy, `jitgate policy schema` / docs/policy.md).
    /// Edits are picked up within a second if they validate; otherwise the policy in force stays.
    #[arg(long, env = "JITGATE_POLICY")]
    policy: Option<PathBuf>,
    /// The most bytes one session's recording may hold (default 16 MiB); past it the
    /// recording ends with a marker and the session goes on.
    #[arg(long)]
    recording_cap_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ServeFile {
    listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
    ca_dir: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    store: Option<String>,
    upstream_kubeconfig: Option<PathBuf>,
    #[serde(default)]
    tls_san: Vec<String>,
    oidc_issuer: Option<String>,
    oidc_client_id: Option<String>,
    oidc_ca_file: Option<PathBuf>,
    oidc_username_claim: Option<String>,
    oidc_groups_claim: Option<String>,
    oidc_client_secret: Option<String>,
    audit_fsync: Option<bool>,
    shards: Option<usize>,
    policy: Option<PathBuf>,
    recording_cap_bytes: Option<u64>,
    public_url: Option<String>,
    #[serde(default)]
    admin_group: Vec<String>,
    #[serde(default)]
    auditor_group: Vec<String>,
}

/// Runs the gateway until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file: ServeFile = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_yaml::from_str(&text).with_context(|| {
                format!("{} is not a valid jitgate serve config", path.display())
            })?
        }
        None => ServeFile::default(),
    };
    let default_upstream = PathBuf::from(".sandbox/gateway.kubeconfig");
    let upstream_kubeconfig = args
        .upstream_kubeconfig
        .or(file.upstream_kubeconfig)
        .or_else(|| {
            std::env::var_os("KUBERNETES_SERVICE_HOST")
                .is_none()
                .then_some(default_upstream)
        });
    let issuer = args.oidc_issuer.or(file.oidc_issuer);
    let oidc = match issuer {
        Some(issuer) => Some(jitgate_gateway::oidc::OidcSettings {
            issuer,
            client_id: args
                .oidc_client_id
                .or(file.oidc_client_id)
                .context("--oidc-issuer needs --oidc-client-id (the audience of the ID tokens)")?,
            ca_file: args.oidc_ca_file.or(file.oidc_ca_file),
            username_claim: args
                .oidc_username_claim
                .or(file.oidc_username_claim)
                .unwrap_or_else(|| "email".into()),
            groups_claim: args
                .oidc_groups_claim
                .or(file.oidc_groups_claim)
                .unwrap_or_else(|| "groups".into()),
            client_secret: args.oidc_client_secret.or(file.oidc_client_secret),
        }),
        None => None,
    };
    let cfg = jitgate_gateway::run::ServeConfig {
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443))),
        admin_listen: args
            .admin_listen
            .or(file.admin_listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9443))),
        store: match args.dirs.store.as_deref().or(file.store.as_deref()) {
            Some(text) => Some(
                jitgate_store::StoreLocation::parse(text)
                    .map_err(anyhow::Error::msg)
                    .context("--store")?,
            ),
            None => None,
        },
        ca_dir: file.ca_dir.unwrap_or(args.dirs.ca_dir),
        data_dir: file.data_dir.unwrap_or(args.dirs.data_dir),
        upstream_kubeconfig,
        tls_sans: if args.tls_sans.is_empty() {
            file.tls_san
        } else {
            args.tls_sans
        },
        grant_poll: Duration::from_millis(200),
        audit_fsync: args.audit_fsync.or(file.audit_fsync).unwrap_or(true),
        shards: args.shards.or(file.shards).unwrap_or(0),
        recording_cap: args
            .recording_cap_bytes
            .or(file.recording_cap_bytes)
            .unwrap_or(jitgate_gateway::run::DEFAULT_RECORDING_CAP),
        policy_file: args.policy.or(file.policy),
        oidc: oidc.clone(),
        public_url: args.public_url.or(file.public_url),
        pagerduty: std::env::var(&args.pagerduty_token_env)
            .ok()
            .filter(|t| !t.is_empty())
            .map(|token| (args.pagerduty_url.clone(), token)),
        admin_groups: if args.admin_groups.is_empty() {
            file.admin_group
        } else {
            args.admin_groups
        },
        auditor_groups: if args.auditor_groups.is_empty() {
            file.auditor_group
        } else {
            args.auditor_groups
        },
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JITGATE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // This runtime runs start-up, the admin listener and the grant watcher; kubectl is served by
    // the shards, each on a thread of its own.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let tokens = match &oidc {
            Some(s) => {
                Some(jitgate_gateway::oidc::OidcTokens::build(s).map_err(anyhow::Error::msg)?)
            }
            None => None,
        };
        let running = jitgate_gateway::run::start(cfg, tokens).await?;
        // One line a script can wait for.
        println!(
            "jitgate gateway listening on https://{} (admin http://{})",
            running.addr, running.admin_addr
        );
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down: cutting live streams");
        running.stop().await;
        anyhow::Ok(())
    })
}
