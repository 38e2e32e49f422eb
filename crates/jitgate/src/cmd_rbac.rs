//! `jitgate rbac render`: the Kubernetes side of the two locks, for `kubectl apply -f -`.

use anyhow::Context as _;

/// RBAC commands.
#[derive(Debug, clap::Subcommand)]
pub enum RbacCommand {
    /// Print Roles, RoleBindings (to jitgate:<profile> groups) and the gateway's own RBAC.
    Render(RenderArgs),
}

/// Flags of `jitgate rbac render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The policy whose profiles are rendered (default: the shipped policy).
    #[arg(long, env = "JITGATE_POLICY")]
    policy: Option<std::path::PathBuf>,
    /// Profile to render (repeatable; default: every profile of the policy).
    #[arg(long = "profile")]
    profiles: Vec<String>,
    /// Render every selected profile into exactly these namespaces (repeatable), instead of
    /// each profile's scope from the policy.
    #[arg(short = 'n', long = "namespace")]
    namespaces: Vec<String>,
    /// The cluster's namespaces with their labels, as `kubectl get namespaces -o json` prints
    /// them (`-` for stdin): namespace globs and selectors of the policy's scopes expand
    /// against them. Without it, only the scopes' exact names are rendered.
    #[arg(long, conflicts_with = "namespaces")]
    namespaces_json: Option<std::path::PathBuf>,
    /// The gateway's identity: a user name (client certificate) …
    #[arg(long, conflicts_with = "gateway_service_account")]
    gateway_user: Option<String>,
    /// … or a ServiceAccount as NAMESPACE/NAME (in-cluster deployment).
    #[arg(long)]
    gateway_service_account: Option<String>,
    /// How the apiserver lets the gateway impersonate. `constrained` (KEP-5284): the gateway may
    /// act as a user only for the profiles' verbs and resources in these namespaces, plus
    /// discovery and self-reviews, and holds no `impersonate` verb. `legacy`: the `impersonate`
    /// verb, which lets it act as any user for anything; needed by clusters without the
    /// ConstrainedImpersonation feature (before Kubernetes 1.36, where it became on by default,
    /// or with the feature gate off).
    #[arg(long, value_enum, default_value_t = Impersonation::Constrained)]
    impersonation: Impersonation,
}

/// Values of `--impersonation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Impersonation {
    /// Constrained impersonation (`impersonate:user-info`, `impersonate-on:user-info:<verb>`).
    Constrained,
    /// The legacy `impersonate` verb.
    Legacy,
}

impl From<Impersonation> for jitgate_rbac::ImpersonationMode {
    fn from(value: Impersonation) -> Self {
        match value {
            Impersonation::Constrained => Self::Constrained,
            Impersonation::Legacy => Self::Legacy,
        }
    }
}

/// Runs an rbac command.
pub fn run(cmd: RbacCommand) -> anyhow::Result<()> {
    let RbacCommand::Render(a) = cmd;
    let policy = crate::load_policy(a.policy.as_deref())?;
    let profiles = policy.profiles().clone();
    for name in &a.profiles {
        if profiles.get(name).is_none() {
            anyhow::bail!(
                "profile {name:?} is not in the policy (it has: {})",
                profiles
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    let wanted = |profile: &str| a.profiles.is_empty() || a.profiles.iter().any(|p| p == profile);
    let targets: Vec<jitgate_rbac::Target> = if a.namespaces.is_empty() {
        let cluster = match &a.namespaces_json {
            Some(path) => cluster_namespaces(path)?,
            None => std::collections::BTreeMap::new(),
        };
        policy
            .rbac_targets(&cluster)
            .into_iter()
            .filter(|t| wanted(&t.profile))
            .collect()
    } else {
        profiles
            .iter()
            .filter(|p| wanted(&p.name))
            .map(|p| jitgate_rbac::Target {
                profile: p.name.clone(),
                namespaces: a.namespaces.clone(),
            })
            .collect()
    };
    if targets.is_empty() {
        anyhow::bail!(
            "nothing to render: no profile's scope names a namespace here; pass -n NAMESPACE, or \
             --namespaces-json with `kubectl get namespaces -o json` to expand globs and selectors"
        );
    }
    let subject = match (a.gateway_user, a.gateway_service_account) {
        (Some(name), None) => jitgate_rbac::GatewaySubject::User { name },
        (None, Some(sa)) => {
            let (namespace, name) = sa.split_once('/').context(
                "--gateway-service-account takes NAMESPACE/NAME, e.g. jitgate/jitgate-gateway",
            )?;
            jitgate_rbac::GatewaySubject::ServiceAccount {
                name: name.to_owned(),
                namespace: namespace.to_owned(),
            }
        }
        _ => anyhow::bail!(
            "say who the gateway is: --gateway-user NAME or --gateway-service-account NS/NAME"
        ),
    };
    print!(
        "{}",
        jitgate_rbac::render_yaml(&profiles, &targets, &subject, a.impersonation.into())?
    );
    Ok(())
}

/// Names and labels from `kubectl get namespaces -o json` (a file, or `-` for stdin).
fn cluster_namespaces(
    path: &std::path::Path,
) -> anyhow::Result<std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>>
{
    let text = if path.as_os_str() == "-" {
        let mut t = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(std::io::stdin(), 64 << 20),
            &mut t,
        )?;
        t
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    #[derive(serde::Deserialize)]
    struct List {
        items: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        metadata: Meta,
    }
    #[derive(serde::Deserialize)]
    struct Meta {
        name: String,
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
    }
    let list: List = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not the output of `kubectl get namespaces -o json`",
            path.display()
        )
    })?;
    Ok(list
        .items
        .into_iter()
        .map(|i| (i.metadata.name, i.metadata.labels))
        .collect())
}
