//! `jitgate grant create|list|revoke`: grants made by an admin, straight into the store the
//! gateway reads (the broker builds requests and approvals on top of this).

use std::io::Write as _;

use anyhow::Context as _;
use jitgate_store::{GrantFilter, GrantId, NewGrant, RequestStore};

use jitgate_authz::rfc3339;
use jitgate_gateway::authn::unix_now;

use crate::StateDirs;
use crate::duration::parse_duration;

/// Grant commands.
#[derive(Debug, clap::Subcommand)]
pub enum GrantCommand {
    /// Give a user a profile in some namespaces for a while.
    Create(CreateArgs),
    /// List grants.
    List(ListArgs),
    /// Revoke a grant; its live sessions end within a second.
    Revoke(RevokeArgs),
}

/// Flags of `jitgate grant create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Who gets access.
    #[arg(long)]
    user: String,
    /// Which profile (e.g. oncall-debug).
    #[arg(long)]
    profile: String,
    /// A namespace; repeatable.
    #[arg(short = 'n', long = "namespace", required = true)]
    namespaces: Vec<String>,
    /// How long.
    #[arg(long = "for", value_parser = parse_duration)]
    duration: std::time::Duration,
    /// Why (an incident, a ticket).
    #[arg(long)]
    reason: String,
    /// Only pods whose name matches this glob.
    #[arg(long)]
    pod_glob: Option<String>,
    /// Only pods matching this label selector.
    #[arg(long)]
    selector: Option<String>,
    /// Recorded as the creator.
    #[arg(long, default_value = "admin")]
    by: String,
    /// The policy whose profiles may be granted (default: the shipped policy).
    #[arg(long, env = "JITGATE_POLICY")]
    policy: Option<std::path::PathBuf>,
    #[command(flatten)]
    dirs: StateDirs,
}

/// Flags of `jitgate grant list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only this user's grants.
    #[arg(long)]
    user: Option<String>,
    /// Include expired and revoked grants.
    #[arg(long)]
    all: bool,
    /// Output format.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    output: String,
    #[command(flatten)]
    dirs: StateDirs,
}

/// Flags of `jitgate grant revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The grant id (g-…).
    id: String,
    /// Why.
    #[arg(long, default_value = "revoked by an administrator")]
    reason: String,
    /// Recorded as the revoker.
    #[arg(long, default_value = "admin")]
    by: String,
    #[command(flatten)]
    dirs: StateDirs,
}

async fn open(dirs: &StateDirs) -> anyhow::Result<std::sync::Arc<dyn RequestStore>> {
    let location = dirs.store_location()?;
    location
        .open()
        .await
        .with_context(|| format!("opening the grant store {location}"))
}

fn audit(
    dirs: &StateDirs,
    kind: jitgate_audit::EventKind,
    grant: &jitgate_store::Grant,
    by: &str,
    reason: &str,
) -> anyhow::Result<()> {
    let log = match jitgate_audit::AuditLog::open(dirs.data_dir.join("audit.jsonl")) {
        Ok(log) => log,
        // A running gateway holds the log; it records every grant change it sees within 200 ms.
        Err(jitgate_audit::AuditError::Locked { .. }) => return Ok(()),
        Err(e) => return Err(e).context("opening the audit log"),
    };
    let mut e = jitgate_audit::AuditEvent::new(kind);
    e.user = Some(by.to_owned());
    e.grant = Some(grant.id.as_str().to_owned());
    e.namespace = Some(grant.namespaces.join(","));
    e.decision = Some(jitgate_audit::Decision::Allow);
    e.reason = Some(format!(
        "{reason} (for {}, profile {})",
        grant.user, grant.profile
    ));
    log.append(&e)?;
    Ok(())
}

/// Runs a grant command.
pub fn run(cmd: GrantCommand) -> anyhow::Result<()> {
    crate::block_on(async move {
        match cmd {
            GrantCommand::Create(a) => {
                // A grant of a profile the gateway's policy lacks is refused there; a policy file
                // caught mid-edit (the gateway keeps its last good one) must not block a grant.
                match crate::load_policy(a.policy.as_deref()) {
                    Ok(policy) if policy.profiles().get(&a.profile).is_none() => {
                        let known: Vec<_> =
                            policy.profiles().iter().map(|p| p.name.clone()).collect();
                        anyhow::bail!(
                            "unknown profile {:?}; the policy{} has: {}",
                            a.profile,
                            a.policy.as_ref().map_or_else(
                                || " (the shipped one; --policy or JITGATE_POLICY names another)"
                                    .to_owned(),
                                |p| format!(" {}", p.display())
                            ),
                            known.join(", ")
                        );
                    }
                    Ok(_) => {}
                    Err(e) => eprintln!(
                        "warning: {e:#}\nthe profile {:?} is not checked here; the gateway refuses \
                         the grant if its policy has no such profile",
                        a.profile
                    ),
                }
                let store = open(&a.dirs).await?;
                let grant = store
                    .create_grant(NewGrant {
                        user: a.user,
                        profile: a.profile,
                        namespaces: a.namespaces,
                        pod_name_glob: a.pod_glob,
                        pod_label_selector: a.selector,
                        reason: a.reason.clone(),
                        created_by: a.by.clone(),
                        expires_at: unix_now() + a.duration.as_secs() as i64,
                    })
                    .await?;
                audit(
                    &a.dirs,
                    jitgate_audit::EventKind::GrantCreate,
                    &grant,
                    &a.by,
                    &a.reason,
                )?;
                println!(
                    "{} created: {} may use {} in {} until {}",
                    grant.id,
                    grant.user,
                    grant.profile,
                    grant.namespaces.join(", "),
                    rfc3339(grant.expires_at)
                );
            }
            GrantCommand::List(a) => {
                let store = open(&a.dirs).await?;
                let grants = store
                    .list(&GrantFilter {
                        user: a.user,
                        active_only: !a.all,
                    })
                    .await?;
                if a.output == "json" {
                    println!("{}", serde_json::to_string_pretty(&grants)?);
                    return Ok(());
                }
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "{:<12} {:<16} {:<16} {:<24} {:<8} EXPIRES",
                    "ID", "USER", "PROFILE", "NAMESPACES", "STATE"
                )?;
                let t = unix_now();
                for g in grants {
                    let state = match g.state_at(t) {
                        jitgate_store::GrantState::Active => "active",
                        jitgate_store::GrantState::Expired => "expired",
                        jitgate_store::GrantState::Revoked => "revoked",
                    };
                    writeln!(
                        out,
                        "{:<12} {:<16} {:<16} {:<24} {:<8} {}",
                        g.id.as_str(),
                        g.user,
                        g.profile,
                        g.namespaces.join(","),
                        state,
                        rfc3339(g.expires_at)
                    )?;
                }
            }
            GrantCommand::Revoke(a) => {
                let id = GrantId::parse(&a.id)?;
                let store = open(&a.dirs).await?;
                let grant = store.revoke(&id, &a.by, &a.reason).await?;
                audit(
                    &a.dirs,
                    jitgate_audit::EventKind::GrantRevoke,
                    &grant,
                    &a.by,
                    &a.reason,
                )?;
                println!(
                    "{} revoked: {}'s live sessions end within a second",
                    grant.id, grant.user
                );
            }
        }
        Ok(())
    })?
}
