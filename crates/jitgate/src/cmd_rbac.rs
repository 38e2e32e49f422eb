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
    /// Profile to render (repeatable; default: every built-in profile).
    #[arg(long = "profile")]
    profiles: Vec<String>,
    /// Namespace the profiles may be granted in (repeatable).
    #[arg(short = 'n', long = "namespace", required = true)]
    namespaces: Vec<String>,
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
    let profiles = jitgate_authz::Profiles::builtin();
    let names: Vec<String> = if a.profiles.is_empty() {
        profiles.iter().map(|p| p.name.clone()).collect()
    } else {
        a.profiles
    };
    let targets: Vec<jitgate_rbac::Target> = names
        .into_iter()
        .map(|profile| jitgate_rbac::Target {
            profile,
            namespaces: a.namespaces.clone(),
        })
        .collect();
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
