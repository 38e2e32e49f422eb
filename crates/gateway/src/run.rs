//! Starting the gateway: CA, serving certificate, store, audit log, upstream, listeners.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::authn::{CertAuthenticator, TokenAuthenticator};
use crate::gateway::{Gateway, GatewayParts};
use crate::server::{serve_admin, serve_tls};
use crate::upstream::{Upstream, UpstreamConfig};

/// Everything `jitgate serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// HTTPS listener for kubectl.
    pub listen: SocketAddr,
    /// Plain-HTTP listener for /healthz, /readyz and /metrics.
    pub admin_listen: SocketAddr,
    /// Folder of the jitgate CA (created on first start).
    pub ca_dir: PathBuf,
    /// Folder for the audit log, recordings, serving certificate and (without `store`) the
    /// SQLite store.
    pub data_dir: PathBuf,
    /// Where grants and requests live; `None` means SQLite in `data_dir` (`jitgate.db`).
    pub store: Option<jitgate_store::StoreLocation>,
    /// The gateway's own kubeconfig for the apiserver; `None` means in-cluster.
    pub upstream_kubeconfig: Option<PathBuf>,
    /// Extra names for the serving certificate (besides 127.0.0.1, ::1, localhost).
    pub tls_sans: Vec<String>,
    /// How often the store is polled for grant changes.
    pub grant_poll: Duration,
    /// Whether every audit line is fsynced before the response (else flushed to the OS).
    pub audit_fsync: bool,
    /// The policy file (YAML or JSON); `None` means the shipped default policy. A changed file
    /// is loaded again if it validates.
    pub policy_file: Option<PathBuf>,
    /// The OIDC provider, for `/jitgate/v1/config` (what `kubectl jit login` uses); its tokens
    /// are verified by the authenticator given to [`start`].
    pub oidc: Option<crate::oidc::OidcSettings>,
    /// The gateway's URL as clients use it (kubeconfigs, `/jitgate/v1/config`); default
    /// `https://<listen address>`.
    pub public_url: Option<String>,
    /// The PagerDuty-style API for the policy's `pagerduty` schedules: base URL and API key.
    /// Without it those schedules answer "unknown", which never auto-approves.
    pub pagerduty: Option<(String, String)>,
    /// Groups whose members may list, revoke and review every request and grant.
    pub admin_groups: Vec<String>,
    /// Groups whose members may read every request and grant.
    pub auditor_groups: Vec<String>,
    /// Threads serving kubectl, each with its own listener socket (`SO_REUSEPORT`) and its own
    /// connections to the apiserver; 0 means one per CPU.
    pub shards: usize,
    /// The most bytes one session's recording may hold.
    pub recording_cap: u64,
}

/// The default size cap of one session recording.
pub const DEFAULT_RECORDING_CAP: u64 = jitgate_session::record::DEFAULT_CAP;

/// How often the policy file is checked for changes.
pub const POLICY_POLL: Duration = Duration::from_secs(1);

/// How many shards `shards = 0` means: one per CPU the process may use.
pub fn default_shards() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The CA could not be loaded or created.
    #[error("jitgate CA in {dir}: {message}")]
    Ca {
        /// Its folder.
        dir: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The upstream configuration is unusable.
    #[error(transparent)]
    Upstream(#[from] crate::upstream::UpstreamError),
    /// The store could not be opened.
    #[error("grant store: {0}")]
    Store(#[from] jitgate_store::StoreError),
    /// The audit log could not be opened.
    #[error("audit log: {0}")]
    Audit(#[from] jitgate_audit::AuditError),
    /// The policy file could not be loaded at start-up.
    #[error(
        "{0}; fix it (jitgate policy lint FILE shows every problem) or start without --policy to use the shipped default"
    )]
    Policy(String),
    /// The broker could not start.
    #[error("broker: {0}")]
    Broker(#[from] jitgate_broker::BrokerError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// TLS setup failed.
    #[error("TLS setup: {0}")]
    Tls(String),
}

/// A started gateway: its bound addresses, and a handle to stop it.
#[derive(Debug)]
pub struct Running {
    /// Where kubectl connects.
    pub addr: SocketAddr,
    /// Where health and metrics are.
    pub admin_addr: SocketAddr,
    /// The gateway.
    pub gateway: Arc<Gateway>,
    /// Fire to stop.
    pub shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    shards: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, cuts every stream with a message, and waits for the listeners to end.
    pub async fn stop(self) {
        let left = self
            .gateway
            .cut_all(
                "the jitgate gateway is shutting down; reconnect in a moment",
                Duration::from_secs(3),
            )
            .await;
        if left > 0 {
            tracing::warn!("{left} streams had not ended 3 s after shutdown began");
        }
        self.shutdown.cancel();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
        }
        let shards = self.shards;
        let joined = tokio::task::spawn_blocking(move || {
            for shard in shards {
                let _ = shard.join();
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(5), joined).await;
    }
}

/// Binds the listening socket of each shard to the same address with `SO_REUSEPORT`, so the
/// kernel spreads connections over the shards. A port of 0 is resolved by the first bind.
fn bind_shards(addr: SocketAddr, shards: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut listeners = Vec::with_capacity(shards);
    let mut addr = addr;
    for _ in 0..shards.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        let listener: std::net::TcpListener = socket.into();
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Starts the gateway.
pub async fn start(
    cfg: ServeConfig,
    tokens: Option<Arc<dyn TokenAuthenticator>>,
) -> Result<Running, StartError> {
    let ca_err = |message: String| StartError::Ca {
        dir: cfg.ca_dir.clone(),
        message,
    };
    let ca = jitgate_ca::CertificateAuthority::load_or_create(&cfg.ca_dir)
        .map_err(|e| ca_err(e.to_string()))?;
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| StartError::Tls(format!("{}: {e}", cfg.data_dir.display())))?;

    let mut hosts: Vec<String> = vec!["127.0.0.1".into(), "::1".into(), "localhost".into()];
    hosts.extend(cfg.tls_sans.iter().cloned());
    let host_refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let serving = ca
        .issue_server_cert(&host_refs)
        .map_err(|e| ca_err(e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut serving.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| StartError::Tls(e.to_string()))?;
    let key: PrivateKeyDer<'static> =
        rustls_pemfile::private_key(&mut serving.key_pem.as_deref().unwrap_or_default().as_bytes())
            .map_err(|e| StartError::Tls(e.to_string()))?
            .ok_or_else(|| StartError::Tls("no key in the issued serving certificate".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile::certs(&mut ca.cert_pem().as_bytes()) {
        let c = c.map_err(|e| StartError::Tls(e.to_string()))?;
        roots.add(c).map_err(|e| StartError::Tls(e.to_string()))?;
    }
    let tls = crate::tls::server_config(chain, key, &roots)
        .map_err(|e| StartError::Tls(e.to_string()))?;
    let certs = CertAuthenticator::new(roots).map_err(|e| StartError::Tls(e.to_string()))?;

    let upstream_cfg = match &cfg.upstream_kubeconfig {
        Some(path) => UpstreamConfig::from_kubeconfig(path)?,
        None => UpstreamConfig::in_cluster()?,
    };
    let shards = if cfg.shards == 0 {
        default_shards()
    } else {
        cfg.shards
    };
    let upstream = Arc::new(Upstream::new(upstream_cfg, shards)?);
    let location = cfg
        .store
        .clone()
        .unwrap_or_else(|| jitgate_store::StoreLocation::Sqlite(cfg.data_dir.join("jitgate.db")));
    let requests = location.open().await?;
    tracing::info!("grant store: {location}");
    let store: Arc<dyn jitgate_store::GrantStore> = requests.clone();
    let durability = if cfg.audit_fsync {
        jitgate_audit::Durability::Fsync
    } else {
        jitgate_audit::Durability::Flush
    };
    let audit = Arc::new(jitgate_audit::AuditLog::open_with(
        cfg.data_dir.join("audit.jsonl"),
        durability,
    )?);

    let policy = match &cfg.policy_file {
        Some(path) => jitgate_policy::Policy::load_file(path)
            .map_err(|e| StartError::Policy(e.with_findings()))?,
        None => jitgate_policy::Policy::embedded_default(),
    };
    let policy = Arc::new(arc_swap::ArcSwap::from_pointee(policy));
    // The listeners are bound before the broker starts, so it knows the public URL.
    let listeners = bind_shards(cfg.listen, shards).map_err(|source| StartError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let addr = listeners
        .first()
        .map(std::net::TcpListener::local_addr)
        .transpose()
        .map_err(|source| StartError::Bind {
            addr: cfg.listen,
            source,
        })?
        .unwrap_or(cfg.listen);
    let public_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("https://{addr}"));
    let broker = {
        let oidc = match &cfg.oidc {
            Some(o) => jitgate_api::OidcSettings {
                issuer: o.issuer.clone(),
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.clone(),
                scopes: ["openid", "email", "profile", "groups"]
                    .map(str::to_owned)
                    .to_vec(),
                ca_certificate: match &o.ca_file {
                    Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                        StartError::Tls(format!("reading {}: {e}", path.display()))
                    })?),
                    None => None,
                },
            },
            // No provider: `kubectl jit login` says so; certificates from `jitgate cert issue`
            // still work for everything else.
            None => jitgate_api::OidcSettings {
                issuer: String::new(),
                client_id: String::new(),
                client_secret: None,
                scopes: Vec::new(),
                ca_certificate: None,
            },
        };
        let policy_path = cfg
            .policy_file
            .clone()
            .unwrap_or_else(|| cfg.data_dir.join("embedded-policy.yaml"));
        let mut config = jitgate_broker::BrokerConfig::new(policy_path, oidc, public_url);
        config.sinks =
            jitgate_broker::sinks_from_policy(&policy.load(), |name| std::env::var(name).ok())?;
        config.admin_groups = cfg.admin_groups.clone();
        if let Some((url, key)) = &cfg.pagerduty {
            let mut pd = jitgate_oncall::PagerDutyConfig::new(key.clone());
            pd.base_url = url.clone();
            config.pagerduty = Some(
                jitgate_oncall::PagerDutyClient::new(&pd)
                    .map_err(|e| StartError::Policy(format!("the PagerDuty client: {e}")))?,
            );
        }
        config.auditor_groups = cfg.auditor_groups.clone();
        config.recordings = Some(cfg.data_dir.join("recordings"));
        config.namespace_labels = Some(Arc::new(crate::upstream::ApiserverNamespaceLabels(
            upstream.clone(),
        )));
        jitgate_broker::Broker::start(jitgate_broker::BrokerParts {
            store: requests.clone(),
            policy: policy.clone(),
            audit: (*audit).clone(),
            ca: Arc::new(ca),
            clock: Arc::new(jitgate_store::SystemClock),
            config,
        })
        .await?
    };
    // Session recordings: one asciicast file per exec/attach session, owner-only.
    let recordings = cfg.data_dir.join("recordings");
    std::fs::create_dir_all(&recordings)
        .map_err(|e| StartError::Tls(format!("{}: {e}", recordings.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&recordings, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| StartError::Tls(format!("{}: {e}", recordings.display())))?;
    }
    let gateway = Gateway::new(GatewayParts {
        recordings,
        recording_cap: cfg.recording_cap,
        upstream,
        certs,
        tokens,
        store,
        audit,
        policy,
        broker: Some(broker.clone()),
    })
    .await?;

    let admin = TcpListener::bind(cfg.admin_listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: cfg.admin_listen,
            source,
        })?;
    let admin_addr = admin.local_addr().map_err(|source| StartError::Bind {
        addr: cfg.admin_listen,
        source,
    })?;
    let shutdown = CancellationToken::new();
    let mut tasks = Vec::new();
    // Each shard is one thread with a single-threaded runtime: a connection, the requests on it
    // and their upstream connections stay on one thread, with no cross-thread wake-ups on the
    // request path (docs/benchmarks.md measured them).
    let tls = Arc::new(tls);
    let mut shard_threads = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        let g = gateway.clone();
        let s = shutdown.clone();
        let tls = tls.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| StartError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let thread = std::thread::Builder::new()
            .name(format!("jitgate-shard-{index}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("shard {index}: listener: {e}");
                            return;
                        }
                    };
                    if let Err(e) = serve_tls(g, listener, tls, index, s).await {
                        tracing::error!("shard {index}: listener stopped: {e}");
                    }
                });
                // Streams still running on this shard end with its runtime.
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .map_err(|source| StartError::Bind {
                addr: cfg.listen,
                source,
            })?;
        shard_threads.push(thread);
    }
    {
        let g = gateway.clone();
        let s = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = serve_admin(g, admin, s).await {
                tracing::error!("admin listener stopped: {e}");
            }
        }));
    }
    {
        let g = gateway.clone();
        let s = shutdown.clone();
        let every = cfg.grant_poll;
        tasks.push(tokio::spawn(async move {
            tokio::select! {
                () = g.watch_grants(every) => {}
                () = s.cancelled() => {}
            }
        }));
    }
    if let Some(path) = cfg.policy_file.clone() {
        let g = gateway.clone();
        let s = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = std::fs::read(&path).unwrap_or_default();
            let mut tick = tokio::time::interval(POLICY_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => last = g.reload_policy(&path, &last).await,
                    () = s.cancelled() => return,
                }
            }
        }));
    }
    Ok(Running {
        addr,
        admin_addr,
        gateway,
        shutdown,
        tasks,
        shards: shard_threads,
    })
}
