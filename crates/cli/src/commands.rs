//! The commands: where the server and credential come from, the login that ends in a cached
//! certificate, and one function per subcommand. Results go to `out`; prompts, progress and
//! the spinner go to stderr, so `-o json` and the credential plugin's stdout stay clean.

use std::io::{IsTerminal as _, Write};
use std::path::Path;
use std::time::Duration;

use jitgate_api::{
    AccessRequest, AccessRequestList, ApiClient, ApiClientConfig, ApproveBody, CancelBody,
    CertificateRequest, ClientCredential, CreateAccessRequest, DenyBody, GoDuration, GrantQuery,
    GrantScope, RequestQuery, RequestScope, RequestState, ReviewBody, RevokeBody, SessionQuery,
    SessionScope, Timestamp, WaitQuery,
};
use jitgate_ca::{ClientCsr, ClientIdentity};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::cache::{CachedCredential, CredentialCache, LoginPreferences, normalize_server};
use crate::cli::{
    ApproveArgs, CancelArgs, Cli, Command, DenyArgs, GlobalArgs, GrantsArgs, KubeconfigArgs,
    LoginArgs, LsArgs, PlayArgs, RequestArgs, ReviewArgs, RevokeArgs, SessionsArgs,
};
use crate::exec_credential::{EXEC_INFO_ENV, ExecCredential, ExecInfo};
use crate::kubeconfig::{self, KubeconfigEntry};
use crate::login::OidcLogin;
use crate::output::{
    OutputFormat, render_grant, render_grants, render_profiles, render_request, render_requests,
    render_sessions, render_whoami, request_detail, safe, serialized, when,
};
use crate::{CliError, browser};

/// Largest CA file read.
const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// Each long-poll asks the server to hold the answer this long.
const LONG_POLL: Duration = Duration::from_secs(30);

/// The user agent of API calls.
const USER_AGENT: &str = concat!("kubectl-jit/", env!("CARGO_PKG_VERSION"));

/// A gateway and the CA to trust for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The gateway URL, without trailing slash.
    pub server: String,
    /// The CA, PEM.
    pub ca_pem: String,
}

/// Runs one command line; results are written to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    let cache = CredentialCache::from_env()?;
    let g = &cli.global;
    match cli.command {
        Command::Login(args) => login_command(g, &cache, &args, out).await,
        Command::Logout => logout(g, &cache, out),
        Command::Credential => credential(g, &cache, out).await,
        Command::Kubeconfig(args) => kubeconfig_command(g, &cache, &args, out),
        Command::Whoami => whoami(g, &cache, out).await,
        Command::Profiles => profiles(g, &cache, out).await,
        Command::Request(args) => request(g, &cache, &args, out).await,
        Command::Ls(args) => ls(g, &cache, &args, out).await,
        Command::Approve(args) => approve(g, &cache, &args, out).await,
        Command::Deny(args) => deny(g, &cache, &args, out).await,
        Command::Cancel(args) => cancel(g, &cache, &args, out).await,
        Command::Grants(args) => grants(g, &cache, &args, out).await,
        Command::Revoke(args) => revoke(g, &cache, &args, out).await,
        Command::Review(args) => review(g, &cache, &args, out).await,
        Command::Sessions(args) => sessions(g, &cache, &args, out).await,
        Command::Play(args) => play(g, &cache, &args, out).await,
    }
}

fn write(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Output(e.to_string()))
}

fn stderr(text: &str) {
    let mut err = std::io::stderr();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Reads a PEM CA file, refusing one without a certificate.
pub fn read_ca_file(path: &Path) -> Result<String, CliError> {
    let text = kubeconfig::read_file(path)?.ok_or_else(|| {
        CliError::io(
            "read",
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        )
    })?;
    if text.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(CliError::Usage(format!(
            "{} is larger than {MAX_CA_FILE_BYTES} bytes; is it a CA certificate?",
            path.display()
        )));
    }
    if CertificateDer::pem_slice_iter(text.as_bytes())
        .next()
        .is_none()
    {
        return Err(CliError::Usage(format!(
            "{} holds no PEM certificate; pass the jitgate CA (ca.crt)",
            path.display()
        )));
    }
    Ok(text)
}

/// Which gateway, and what CA: `--server` (CA from `--ca-file`, the cache, or a kubeconfig
/// context for that server), else the current kubeconfig context if `kubectl jit kubeconfig`
/// wrote it.
pub fn resolve_target(g: &GlobalArgs, cache: &CredentialCache) -> Result<Target, CliError> {
    let explicit_ca = g.ca_file.as_deref().map(read_ca_file).transpose()?;
    let docs = kubeconfig::load_documents(g.kubeconfig.as_deref());
    let (server, context_ca) = match &g.server {
        Some(server) => {
            let server = normalize_server(server);
            let context_ca = docs.as_ref().ok().and_then(|docs| {
                let name = kubeconfig::context_for_server(docs, &server)?;
                kubeconfig::target_of_context(docs, &name)
                    .ok()
                    .flatten()?
                    .ca_pem
            });
            (server, context_ca)
        }
        None => match kubeconfig::current_target(&docs?)? {
            Some(t) => (normalize_server(&t.server), t.ca_pem),
            None => return Err(CliError::NoServer),
        },
    };
    let cached_ca = || cache.load(&server).ok().flatten().map(|c| c.ca_certificate);
    let ca_pem = explicit_ca
        .or(context_ca)
        .or_else(cached_ca)
        .ok_or_else(|| CliError::NoCa {
            server: server.clone(),
        })?;
    Ok(Target { server, ca_pem })
}

/// A client authenticated with the cached certificate, or the error that says to log in.
async fn authenticated_client(
    g: &GlobalArgs,
    cache: &CredentialCache,
) -> Result<(ApiClient, Target), CliError> {
    let target = resolve_target(g, cache)?;
    let cred = usable_credential(cache, &target.server, Timestamp::now())?;
    let client = ApiClient::new(
        ApiClientConfig::new(target.server.clone(), target.ca_pem.clone().into_bytes())
            .with_user_agent(USER_AGENT)
            .with_credential(ClientCredential::Certificate {
                cert_pem: cred.certificate,
                key_pem: cred.private_key,
            }),
    )?;
    Ok((client, target))
}

/// The cached credential for `server` if it can be used at `now`.
pub fn usable_credential(
    cache: &CredentialCache,
    server: &str,
    now: Timestamp,
) -> Result<CachedCredential, CliError> {
    match cache.load(server)? {
        None => Err(CliError::NoCredential {
            server: normalize_server(server),
        }),
        Some(c) if !c.usable_at(now) => Err(CliError::CredentialExpired {
            server: normalize_server(server),
            expired_at: c.expires_at,
        }),
        Some(c) => Ok(c),
    }
}

/// How a login talks to the person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginOptions {
    /// Device-code flow instead of the browser.
    pub device_code: bool,
    /// Print the URL instead of opening a browser.
    pub no_browser: bool,
    /// Certificate lifetime to ask for.
    pub ttl: Option<GoDuration>,
    /// How long to wait for the person.
    pub timeout: Duration,
}

/// The whole login: the gateway's IdP settings, an ID token, a key and CSR made here, the
/// certificate, and the cache. Prompts go to stderr.
pub async fn login(
    target: &Target,
    cache: &CredentialCache,
    options: &LoginOptions,
) -> Result<CachedCredential, CliError> {
    let anonymous = ApiClient::new(
        ApiClientConfig::new(target.server.clone(), target.ca_pem.clone().into_bytes())
            .with_user_agent(USER_AGENT),
    )?;
    let config = anonymous.config().await?;
    let oidc = OidcLogin::discover(config.oidc).await?;
    let token = if options.device_code {
        let pending = oidc.start_device().await?;
        let mut prompt = format!(
            "To log in to jitgate, open {} and enter the code {}\n",
            pending.verification_uri, pending.user_code
        );
        if let Some(complete) = &pending.verification_uri_complete {
            prompt.push_str(&format!("(or open {complete})\n"));
        }
        prompt.push_str(&format!(
            "Waiting for you (the code is valid for {})...\n",
            GoDuration::from(pending.expires_in)
        ));
        stderr(&prompt);
        oidc.finish_device(pending).await?
    } else {
        let pending = oidc.start_auth_code().await?;
        let url = pending.authorization_url().to_owned();
        let opened = if options.no_browser {
            None
        } else {
            browser::open_browser(&url)
        };
        match opened {
            Some(program) => stderr(&format!(
                "Opened the login page with {program}. If no browser appeared, open this URL:\n\n  {url}\n\n"
            )),
            None => stderr(&format!(
                "Open this URL in a browser on this machine to log in to jitgate:\n\n  {url}\n\n"
            )),
        }
        oidc.finish_auth_code(pending, options.timeout).await?
    };
    let csr = ClientCsr::generate()?;
    let issuer = ApiClient::new(
        ApiClientConfig::new(target.server.clone(), target.ca_pem.clone().into_bytes())
            .with_user_agent(USER_AGENT)
            .with_credential(ClientCredential::BearerToken(token.raw().to_owned())),
    )?;
    let issued = issuer
        .issue_certificate(&CertificateRequest {
            csr: csr.csr_pem.clone(),
            ttl: options.ttl,
        })
        .await?;
    let der = CertificateDer::from_pem_slice(issued.certificate.as_bytes()).map_err(|e| {
        CliError::Api(jitgate_api::ApiError::ClientCertificate {
            reason: format!("the gateway returned a certificate that is not PEM ({e})"),
        })
    })?;
    check_key_matches(&der, &csr.key_pem)?;
    let identity = ClientIdentity::from_der(der.as_ref())?;
    let cred = CachedCredential {
        server: target.server.clone(),
        ca_certificate: target.ca_pem.clone(),
        certificate: issued.certificate,
        private_key: csr.key_pem,
        user: identity.user,
        groups: identity.groups,
        expires_at: Timestamp::from(identity.not_after),
        issued_at: Timestamp::now(),
        login: LoginPreferences {
            device_code: options.device_code,
            no_browser: options.no_browser,
            ttl: options.ttl,
        },
    };
    cache.store(&cred)?;
    Ok(cred)
}

/// The certificate must be for the key made here; anything else is refused rather than cached.
pub fn check_key_matches(cert: &CertificateDer<'static>, key_pem: &str) -> Result<(), CliError> {
    let refuse =
        |reason: String| CliError::Api(jitgate_api::ApiError::ClientCertificate { reason });
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| refuse(format!("the new private key is unreadable ({e})")))?;
    let signing = rustls::crypto::ring::sign::any_ecdsa_type(&key)
        .map_err(|e| refuse(format!("the new private key is unusable ({e})")))?;
    rustls::sign::CertifiedKey::new(vec![cert.clone()], signing)
        .keys_match()
        .map_err(|e| {
            refuse(format!(
                "the gateway returned a certificate that is not for the key made here ({e})"
            ))
        })
}

async fn login_command(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &LoginArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let target = resolve_target(g, cache)?;
    let options = LoginOptions {
        device_code: args.device_code,
        no_browser: args.no_browser,
        ttl: args.ttl,
        timeout: args.timeout(),
    };
    let cred = login(&target, cache, &options).await?;
    let now = Timestamp::now();
    match g.output {
        OutputFormat::Table => write(
            out,
            &format!(
                "Logged in to {} as {} (groups: {}); certificate valid until {}\n",
                cred.server,
                safe(&cred.user),
                safe(&cred.groups.join(", ")),
                when(now, cred.expires_at)
            ),
        ),
        format => write(out, &serialized(format, &login_summary(&cred))?),
    }
}

fn login_summary(cred: &CachedCredential) -> serde_json::Value {
    serde_json::json!({
        "server": cred.server,
        "user": cred.user,
        "groups": cred.groups,
        "expiresAt": cred.expires_at,
    })
}

fn logout(g: &GlobalArgs, cache: &CredentialCache, out: &mut dyn Write) -> Result<(), CliError> {
    let server = match &g.server {
        Some(s) => normalize_server(s),
        None => resolve_target(g, cache)?.server,
    };
    if cache.remove(&server)? {
        write(
            out,
            &format!("Deleted the cached jitgate credential for {server}\n"),
        )
    } else {
        write(out, &format!("No cached jitgate credential for {server}\n"))
    }
}

/// `credential`: prints an ExecCredential for kubectl, logging in again first when needed and
/// kubectl says the person is there.
async fn credential(
    g: &GlobalArgs,
    cache: &CredentialCache,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let server = g
        .server
        .as_deref()
        .map(normalize_server)
        .ok_or_else(|| CliError::Usage("kubectl jit credential needs --server URL; the kubeconfig written by kubectl jit kubeconfig passes it".to_owned()))?;
    let info = ExecInfo::parse(std::env::var(EXEC_INFO_ENV).ok().as_deref())?;
    let now = Timestamp::now();
    let previous = match usable_credential(cache, &server, now) {
        Ok(cred) => return write(out, &ExecCredential::for_cached(&cred).to_json()?),
        // A key others could read is not silently replaced: the person must know.
        Err(e @ CliError::InsecureCache { .. }) => return Err(e),
        Err(e) if !info.interactive => {
            return Err(CliError::NotInteractive {
                server,
                reason: match e {
                    CliError::NoCredential { .. } => "no jitgate credential is cached".to_owned(),
                    CliError::CredentialExpired { expired_at, .. } => {
                        format!("the jitgate credential expired at {expired_at}")
                    }
                    other => other.to_string(),
                },
            });
        }
        Err(_) => cache.load(&server).ok().flatten(),
    };
    stderr(&format!(
        "kubectl jit: your jitgate credential for {server} is missing or expired; logging in again\n"
    ));
    let target = Target {
        ca_pem: match (&g.ca_file, &previous) {
            (Some(file), _) => read_ca_file(file)?,
            (None, Some(prev)) => prev.ca_certificate.clone(),
            (None, None) => resolve_target(g, cache)?.ca_pem,
        },
        server,
    };
    let prefs = previous.map(|p| p.login).unwrap_or_default();
    let options = LoginOptions {
        device_code: prefs.device_code,
        no_browser: prefs.no_browser,
        ttl: prefs.ttl,
        timeout: Duration::from_secs(300),
    };
    let cred = login(&target, cache, &options).await?;
    stderr(&format!(
        "kubectl jit: logged in as {}; certificate valid until {}\n",
        safe(&cred.user),
        cred.expires_at
    ));
    write(out, &ExecCredential::for_cached(&cred).to_json()?)
}

fn kubeconfig_command(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &KubeconfigArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let server = g.server.as_deref().map(normalize_server).ok_or_else(|| {
        CliError::Usage(
            "kubectl jit kubeconfig needs --server https://HOST:PORT and --ca-file FILE (the jitgate CA)".to_owned(),
        )
    })?;
    if !server.starts_with("https://") {
        return Err(CliError::Usage(format!(
            "--server {server:?} must be an https:// URL"
        )));
    }
    let ca_pem = match &g.ca_file {
        Some(file) => read_ca_file(file)?,
        None => resolve_target(g, cache)?.ca_pem,
    };
    let name = args
        .context
        .clone()
        .unwrap_or_else(|| kubeconfig::default_context_name(&server));
    let entry = KubeconfigEntry {
        name: name.clone(),
        server: server.clone(),
        ca_pem,
        namespace: args.namespace.clone(),
    };
    let path = kubeconfig::write_path(g.kubeconfig.as_deref())?;
    let written = kubeconfig::write_entry(&path, &entry)?;
    let kubeconfig_flag = match &g.kubeconfig {
        Some(p) => format!(" --kubeconfig {}", p.display()),
        None => String::new(),
    };
    write(
        out,
        &format!(
            "Wrote context {name} to {} and made it current; kubectl now reaches the cluster through {server}.\n\
             Next: kubectl jit login{kubeconfig_flag} (or run any kubectl command: it logs you in when needed)\n",
            written.display()
        ),
    )
}

async fn whoami(
    g: &GlobalArgs,
    cache: &CredentialCache,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, _) = authenticated_client(g, cache).await?;
    let who = client.whoami().await?;
    match g.output {
        OutputFormat::Table => write(out, &render_whoami(&who, Timestamp::now())),
        format => write(out, &serialized(format, &who)?),
    }
}

async fn profiles(
    g: &GlobalArgs,
    cache: &CredentialCache,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, _) = authenticated_client(g, cache).await?;
    let list = client.profiles().await?;
    match g.output {
        OutputFormat::Table if list.items.is_empty() => write(
            out,
            "No profiles you may request; ask the jitgate administrators which groups they are for\n",
        ),
        OutputFormat::Table => write(out, &render_profiles(&list.items)),
        format => write(out, &serialized(format, &list)?),
    }
}

async fn request(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &RequestArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, target) = authenticated_client(g, cache).await?;
    let body = CreateAccessRequest {
        profile: args.profile.clone(),
        namespace: args.namespace.clone(),
        duration: args.duration,
        reason: args.reason.clone(),
        ticket: args.ticket.clone(),
        break_glass: args.break_glass,
    };
    let created = client.create_request(&body).await?;
    let table = g.output == OutputFormat::Table;
    if table {
        write(out, &render_request(&created, Timestamp::now()))?;
    }
    let last = if args.wait {
        wait_until_active(&client, created, args.wait_timeout.as_std()).await?
    } else {
        created
    };
    if !table {
        return write(out, &serialized(g.output, &last)?);
    }
    if last.state == RequestState::Active {
        write(out, &next_steps(g, &target, &last))?;
    } else if !args.wait {
        write(
            out,
            &format!(
                "Follow it with kubectl jit ls; withdraw it with kubectl jit cancel {}\n",
                last.id
            ),
        )?;
    }
    Ok(())
}

/// What to run once access is active.
fn next_steps(g: &GlobalArgs, target: &Target, r: &AccessRequest) -> String {
    let context = kubeconfig::load_documents(g.kubeconfig.as_deref())
        .ok()
        .and_then(|docs| {
            let name = kubeconfig::context_for_server(&docs, &target.server)?;
            let current = kubeconfig::current_context(&docs).map(str::to_owned);
            (current.as_deref() != Some(name.as_str())).then_some(name)
        });
    let mut kubectl = "kubectl".to_owned();
    if let Some(p) = &g.kubeconfig {
        kubectl.push_str(&format!(" --kubeconfig {}", p.display()));
    }
    if let Some(c) = context {
        kubectl.push_str(&format!(" --context {c}"));
    }
    let until = r
        .grant_expires_at
        .map(|t| format!(" until {}", when(Timestamp::now(), t)))
        .unwrap_or_default();
    let grant = r
        .grant
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "granted".to_owned());
    format!(
        "Access is active: grant {grant} ({} in {}){until}.\nNext: {kubectl} -n {} get pods\n",
        safe(&r.profile),
        safe(&r.namespace),
        safe(&r.namespace)
    )
}

/// Long-polls until `r` is active or ends, for at most `limit`; a spinner on stderr when it is
/// a terminal. Ctrl-C stops waiting (the request stays as it is).
async fn wait_until_active(
    client: &ApiClient,
    mut r: AccessRequest,
    limit: Duration,
) -> Result<AccessRequest, CliError> {
    let deadline = tokio::time::Instant::now() + limit;
    let spinner = std::io::stderr().is_terminal();
    let started = tokio::time::Instant::now();
    if !spinner && r.state != RequestState::Active && !r.state.is_terminal() {
        stderr(&format!("Waiting for {} to become active...\n", r.id));
    }
    let frames = ['|', '/', '-', '\\'];
    let mut frame = 0usize;
    while r.state != RequestState::Active && !r.state.is_terminal() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            if spinner {
                stderr("\r\x1b[2K");
            }
            return Err(CliError::RequestEnded {
                id: r.id.to_string(),
                state: format!("still {}", r.state),
                detail: format!(
                    " after {}; keep following it with kubectl jit ls, or withdraw it with kubectl jit cancel {}",
                    GoDuration::from(limit),
                    r.id
                ),
            });
        }
        let wait = WaitQuery {
            wait_for: RequestState::Active,
            timeout: GoDuration::from(LONG_POLL.min(left)),
        };
        let id = r.id.clone();
        let poll = client.wait_for_request(&id, &wait);
        tokio::pin!(poll);
        let mut tick = tokio::time::interval(Duration::from_millis(150));
        r = loop {
            tokio::select! {
                answer = &mut poll => break answer?,
                _ = tick.tick(), if spinner => {
                    frame = (frame + 1) % frames.len();
                    let waited = GoDuration::from_secs(started.elapsed().as_secs());
                    stderr(&format!(
                        "\r\x1b[2K{} waiting for {} ({}): {}",
                        frames[frame],
                        r.id,
                        waited,
                        crate::output::shortened(&request_detail(&r, Timestamp::now()), 60)
                    ));
                }
                _ = tokio::signal::ctrl_c() => {
                    if spinner {
                        stderr("\r\x1b[2K");
                    }
                    return Err(CliError::RequestEnded {
                        id: r.id.to_string(),
                        state: format!("still {}", r.state),
                        detail: format!(
                            "; stopped waiting; follow it with kubectl jit ls, or withdraw it with kubectl jit cancel {}",
                            r.id
                        ),
                    });
                }
            }
        };
    }
    if spinner {
        stderr("\r\x1b[2K");
    }
    if r.state == RequestState::Active {
        return Ok(r);
    }
    Err(ended(&r))
}

/// The error for a request that ended without becoming active.
fn ended(r: &AccessRequest) -> CliError {
    let detail = match r.state {
        RequestState::Denied => format!(
            ": denied by {}: {}; ask again with a better reason, or talk to them",
            safe(r.decided_by.as_deref().unwrap_or("an approver")),
            safe(r.deny_reason.as_deref().unwrap_or("no reason given"))
        ),
        RequestState::Cancelled => "; it was cancelled".to_owned(),
        RequestState::Expired => "; the access already ran out: request again".to_owned(),
        RequestState::Revoked => format!(
            "; the grant was revoked{}",
            r.decided_by
                .as_deref()
                .map(|b| format!(" by {}", safe(b)))
                .unwrap_or_default()
        ),
        _ => String::new(),
    };
    CliError::RequestEnded {
        id: r.id.to_string(),
        state: r.state.to_string(),
        detail,
    }
}

async fn ls(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &LsArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, _) = authenticated_client(g, cache).await?;
    let now = Timestamp::now();
    let limit = Some(args.limit.max(1));
    if args.all {
        let all = client
            .list_requests(&RequestQuery {
                scope: RequestScope::All,
                states: args.state.clone(),
                limit,
            })
            .await?;
        return match g.output {
            OutputFormat::Table if all.items.is_empty() => write(out, "No requests\n"),
            OutputFormat::Table => write(out, &render_requests(&all.items, now)),
            format => write(out, &serialized(format, &all)?),
        };
    }
    let mine = client
        .list_requests(&RequestQuery {
            scope: RequestScope::Mine,
            states: args.state.clone(),
            limit,
        })
        .await?;
    let approvable_states = if args.state.is_empty() {
        vec![RequestState::Pending]
    } else {
        args.state.clone()
    };
    let approvable = client
        .list_requests(&RequestQuery {
            scope: RequestScope::Approvable,
            states: approvable_states,
            limit,
        })
        .await?;
    match g.output {
        OutputFormat::Table => write(out, &render_ls(&mine, &approvable, now)),
        format => write(out, &serialized(format, &merged_lists(mine, approvable))?),
    }
}

/// `ls` for people: two sections.
pub fn render_ls(
    mine: &AccessRequestList,
    approvable: &AccessRequestList,
    now: Timestamp,
) -> String {
    let mut text = String::new();
    if mine.items.is_empty() {
        text.push_str("You have no requests; ask with kubectl jit request PROFILE -n NAMESPACE --for 30m --reason TEXT\n");
    } else {
        text.push_str("Your requests:\n");
        text.push_str(&render_requests(&mine.items, now));
    }
    if !approvable.items.is_empty() {
        text.push_str(
            "\nWaiting for your approval (kubectl jit approve ID, or deny ID --reason TEXT):\n",
        );
        text.push_str(&render_requests(&approvable.items, now));
    }
    text
}

/// Both lists in one, each request once, newest first: `-o json` of `ls` is an
/// `AccessRequestList`.
pub fn merged_lists(mine: AccessRequestList, approvable: AccessRequestList) -> AccessRequestList {
    let mut items = mine.items;
    for r in approvable.items {
        if !items.iter().any(|m| m.id == r.id) {
            items.push(r);
        }
    }
    items.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    AccessRequestList { items }
}

async fn print_request(
    g: &GlobalArgs,
    r: &AccessRequest,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match g.output {
        OutputFormat::Table => write(out, &render_request(r, Timestamp::now())),
        format => write(out, &serialized(format, r)?),
    }
}

async fn approve(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &ApproveArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, _) = authenticated_client(g, cache).await?;
    let r = client
        .approve(
            &args.id,
            &ApproveBody {
                comment: args.comment.clone(),
            },
        )
        .await?;
    print_request(g, &r, out).await
}

async fn deny(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &DenyArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, _) = authenticated_client(g, cache).await?;
    let r = client
        .deny(
            &args.id,
            &DenyBody {
                reason: args.reason.clone(),
            },
        )
        .await?;
    print_request(g, &r, out).await
}

async fn cancel(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &CancelArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, _) = authenticated_client(g, cache).await?;
    let r = client
        .cancel(
            &args.id,
            &CancelBody {
                reason: args.reason.clone(),
            },
        )
        .await?;
    print_request(g, &r, out).await
}

async fn grants(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &GrantsArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, _) = authenticated_client(g, cache).await?;
    let query = GrantQuery {
        scope: if args.all {
            GrantScope::All
        } else {
            GrantScope::Mine
        },
        states: args.state.clone(),
        limit: Some(args.limit.max(1)),
    };
    let list = client.list_grants(&query).await?;
    match g.output {
        OutputFormat::Table if list.items.is_empty() => write(out, "No grants\n"),
        OutputFormat::Table => write(out, &render_grants(&list.items, Timestamp::now())),
        format => write(out, &serialized(format, &list)?),
    }
}

async fn sessions(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &SessionsArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, _) = authenticated_client(g, cache).await?;
    let query = SessionQuery {
        scope: if args.all {
            SessionScope::All
        } else {
            SessionScope::Mine
        },
        limit: Some(args.limit.max(1)),
    };
    let list = client.list_sessions(&query).await?;
    match g.output {
        OutputFormat::Table if list.items.is_empty() => write(out, "No recorded sessions\n"),
        OutputFormat::Table => write(out, &render_sessions(&list.items, Timestamp::now())),
        format => write(out, &serialized(format, &list)?),
    }
}

async fn play(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &PlayArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if !(args.speed.is_finite() && args.speed >= 0.0) {
        return Err(CliError::Usage(format!(
            "--speed must be 0 (no pauses) or more, not {}",
            args.speed
        )));
    }
    if args.max_wait.is_nan() || args.max_wait < 0.0 {
        return Err(CliError::Usage(format!(
            "--max-wait is seconds, 0 or more, not {}",
            args.max_wait
        )));
    }
    let (client, _) = authenticated_client(g, cache).await?;
    let text = client.recording(&args.id).await?;
    if let Some(path) = &args.save {
        std::fs::write(path, &text).map_err(|e| CliError::io("write", path, e))?;
        return write(
            out,
            &format!(
                "Saved the recording of {} to {} ({} bytes); asciinema play {} replays it\n",
                args.id,
                path.display(),
                text.len(),
                path.display()
            ),
        );
    }
    let recording =
        jitgate_wire::asciicast::parse(&String::from_utf8_lossy(&text)).map_err(|e| {
            CliError::Usage(format!(
                "the gateway sent a recording of {} that cannot be played ({e}); save it with \
                 --save and look at it",
                args.id
            ))
        })?;
    let options = jitgate_wire::asciicast::PlayOptions {
        speed: args.speed,
        max_wait: Duration::try_from_secs_f64(args.max_wait).unwrap_or(Duration::MAX),
        input: args.input,
        raw: args.raw,
    };
    // Nothing else runs on this runtime while the recording plays: sleeping here is fine.
    match jitgate_wire::asciicast::play(&recording, &mut &mut *out, options, std::thread::sleep) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| CliError::Output(e.to_string())),
    }
}

async fn revoke(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &RevokeArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, _) = authenticated_client(g, cache).await?;
    let grant = client
        .revoke_grant(
            &args.id,
            &RevokeBody {
                reason: args.reason.clone(),
            },
        )
        .await?;
    match g.output {
        OutputFormat::Table => write(out, &render_grant(&grant, Timestamp::now())),
        format => write(out, &serialized(format, &grant)?),
    }
}

async fn review(
    g: &GlobalArgs,
    cache: &CredentialCache,
    args: &ReviewArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let (client, _) = authenticated_client(g, cache).await?;
    let grant = client
        .review_grant(
            &args.id,
            &ReviewBody {
                comment: args.comment.clone(),
            },
        )
        .await?;
    match g.output {
        OutputFormat::Table => write(out, &render_grant(&grant, Timestamp::now())),
        format => write(out, &serialized(format, &grant)?),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::testing::issued_credential;

    fn global(
        server: Option<&str>,
        ca_file: Option<PathBuf>,
        kubeconfig: Option<PathBuf>,
    ) -> GlobalArgs {
        GlobalArgs {
            server: server.map(str::to_owned),
            ca_file,
            kubeconfig,
            output: OutputFormat::Table,
        }
    }

    #[test]
    fn missing_and_expired_credentials_say_to_log_in() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CredentialCache::new(tmp.path());
        let err = usable_credential(&cache, "https://gw:8443", Timestamp::now()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no jitgate credential for https://gw:8443: run kubectl jit login --server https://gw:8443"
        );
        let cred = issued_credential("https://gw:8443", Duration::from_secs(600));
        cache.store(&cred).unwrap();
        assert!(usable_credential(&cache, "https://gw:8443/", Timestamp::now()).is_ok());
        let later = cred.expires_at.minus(Duration::from_secs(30));
        let err = usable_credential(&cache, "https://gw:8443", later)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("your jitgate credential for https://gw:8443 expired at "),
            "{err}"
        );
        assert!(
            err.ends_with("run kubectl jit login --server https://gw:8443"),
            "{err}"
        );
    }

    #[test]
    fn target_from_flags_cache_and_kubeconfig() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = CredentialCache::new(tmp.path().join("cache"));
        let kubeconfig_path = tmp.path().join("config");
        let ca_path = tmp.path().join("ca.crt");
        let cred = issued_credential("https://gw:8443", Duration::from_secs(600));
        std::fs::write(&ca_path, &cred.ca_certificate).unwrap();

        // Nothing known: say how to name a server.
        let err =
            resolve_target(&global(None, None, Some(kubeconfig_path.clone())), &cache).unwrap_err();
        assert!(matches!(err, CliError::NoServer), "{err}");
        // A server but no CA anywhere.
        let err = resolve_target(
            &global(Some("https://gw:8443"), None, Some(kubeconfig_path.clone())),
            &cache,
        )
        .unwrap_err();
        assert!(err.to_string().contains("pass --ca-file"), "{err}");
        // --ca-file.
        let t = resolve_target(
            &global(
                Some("https://gw:8443/"),
                Some(ca_path.clone()),
                Some(kubeconfig_path.clone()),
            ),
            &cache,
        )
        .unwrap();
        assert_eq!(
            t,
            Target {
                server: "https://gw:8443".into(),
                ca_pem: cred.ca_certificate.clone()
            }
        );
        // The CA saved at login.
        cache.store(&cred).unwrap();
        let t = resolve_target(
            &global(Some("https://gw:8443"), None, Some(kubeconfig_path.clone())),
            &cache,
        )
        .unwrap();
        assert_eq!(t.ca_pem, cred.ca_certificate);
        // The current context written by kubectl jit kubeconfig: no flags at all.
        kubeconfig::write_entry(
            &kubeconfig_path,
            &KubeconfigEntry {
                name: "jitgate-gw".into(),
                server: "https://gw:8443".into(),
                ca_pem: cred.ca_certificate.clone(),
                namespace: None,
            },
        )
        .unwrap();
        let empty_cache = CredentialCache::new(tmp.path().join("empty"));
        let t = resolve_target(&global(None, None, Some(kubeconfig_path)), &empty_cache).unwrap();
        assert_eq!(
            t,
            Target {
                server: "https://gw:8443".into(),
                ca_pem: cred.ca_certificate
            }
        );
    }

    #[test]
    fn a_certificate_for_another_key_is_refused() {
        let cred = issued_credential("https://gw", Duration::from_secs(600));
        let der = CertificateDer::from_pem_slice(cred.certificate.as_bytes()).unwrap();
        assert!(check_key_matches(&der, &cred.private_key).is_ok());
        let other = ClientCsr::generate().unwrap();
        let err = check_key_matches(&der, &other.key_pem)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not for the key made here"), "{err}");
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ca.crt");
        std::fs::write(&path, "hello").unwrap();
        let err = read_ca_file(&path).unwrap_err().to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
        let err = read_ca_file(&tmp.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("could not read"), "{err}");
    }

    fn fixture(name: &str) -> AccessRequest {
        let path = format!("{}/../api/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn ls_merges_without_duplicates_newest_first() {
        let pending = fixture("access-request-pending.json");
        let active = fixture("access-request-active.json");
        let merged = merged_lists(
            AccessRequestList {
                items: vec![active.clone()],
            },
            AccessRequestList {
                items: vec![pending.clone(), active.clone()],
            },
        );
        assert_eq!(merged.items, vec![pending.clone(), active.clone()]);
        let text = render_ls(
            &AccessRequestList {
                items: vec![active],
            },
            &AccessRequestList {
                items: vec![pending],
            },
            Timestamp::now(),
        );
        assert!(text.starts_with("Your requests:\nID "), "{text}");
        assert!(text.contains("\nWaiting for your approval (kubectl jit approve ID, or deny ID --reason TEXT):\nID "), "{text}");
    }

    #[test]
    fn ended_requests_explain_themselves() {
        let mut r = fixture("access-request-pending.json");
        r.state = RequestState::Denied;
        r.decided_by = Some("bob@example.com".into());
        r.deny_reason = Some("use the read-only profile".into());
        assert_eq!(
            ended(&r).to_string(),
            "r-7f3a09c1 is denied: denied by bob@example.com: use the read-only profile; ask again with a better reason, or talk to them"
        );
    }

    #[test]
    fn next_steps_name_the_namespace() {
        let tmp = tempfile::tempdir().unwrap();
        let g = global(Some("https://gw:8443"), None, Some(tmp.path().join("none")));
        let target = Target {
            server: "https://gw:8443".into(),
            ca_pem: String::new(),
        };
        let text = next_steps(&g, &target, &fixture("access-request-active.json"));
        assert!(
            text.starts_with("Access is active: grant g-9c01d7aa (debug in payments) until "),
            "{text}"
        );
        assert!(
            text.ends_with(&format!(
                "Next: kubectl --kubeconfig {} -n payments get pods\n",
                tmp.path().join("none").display()
            )),
            "{text}"
        );
    }
}
