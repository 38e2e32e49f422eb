//! The request path: authenticate → refuse impersonation → classify → authorize → forward with
//! impersonation → (long-lived responses) register under the grant and cut on expiry or revocation.
//! Every decision is written to the audit log before the response leaves.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, watch};

use jitgate_audit::{AuditEvent, Decision as AuditDecision, EventKind};

use crate::authn::{AuthnError, CertAuthenticator, Identity, TokenAuthenticator, unix_now};
use crate::body::{BodyError, BoxBody, empty};
use crate::impersonate::{
    Impersonation, downstream_headers, forbidden_impersonation, upstream_headers,
};
use crate::metrics::{Metrics, Outcome};
use crate::server::ConnInfo;
use crate::status::{status_json, status_response};
use crate::streams::{CutReason, StreamRegistry};
use crate::upstream::Upstream;
use jitgate_session::handshake::{ClientTransport, PortForwardTransport};
use jitgate_session::leg::Side;
use jitgate_session::pump::EndedBy;

/// What a client hears when its request cannot be recorded.
const AUDIT_DOWN: &str =
    "jitgate cannot write its audit log, and nothing happens unrecorded; tell the platform team";

/// A fresh random id with a prefix (`s-1f3a9c0e`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::random::<u32>())
}

pub use jitgate_authz::rfc3339;

/// Everything authorization reads, rebuilt whenever the store changes.
struct AuthzSnapshot {
    index: jitgate_authz::GrantIndex,
    ids: HashSet<String>,
    next_expiry: Option<i64>,
}

impl std::fmt::Debug for AuthzSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthzSnapshot")
            .field("grants", &self.ids.len())
            .finish()
    }
}

/// What the gateway is built from.
#[derive(Debug)]
pub struct GatewayParts {
    /// The apiserver.
    pub upstream: Arc<Upstream>,
    /// Client-certificate verification (the jitgate CA).
    pub certs: CertAuthenticator,
    /// Bearer-token verification (OIDC), if configured.
    pub tokens: Option<Arc<dyn TokenAuthenticator>>,
    /// Where grants live.
    pub store: Arc<dyn jitgate_store::GrantStore>,
    /// The decision log.
    pub audit: Arc<jitgate_audit::AuditLog>,
    /// The policy: profiles grants refer to, standing access; swapped on reload.
    pub policy: Arc<ArcSwap<jitgate_policy::Policy>>,
    /// The broker serving `/jitgate/v1` (requests, approvals, certificates), if any.
    pub broker: Option<Arc<jitgate_broker::Broker>>,
    /// The folder session recordings are written to (it exists).
    pub recordings: std::path::PathBuf,
    /// The most bytes one recording may hold.
    pub recording_cap: u64,
}

/// The gateway.
#[derive(Debug)]
pub struct Gateway {
    upstream: Arc<Upstream>,
    certs: CertAuthenticator,
    tokens: Option<Arc<dyn TokenAuthenticator>>,
    store: Arc<dyn jitgate_store::GrantStore>,
    audit: Arc<jitgate_audit::AuditLog>,
    policy: Arc<ArcSwap<jitgate_policy::Policy>>,
    broker: Option<Arc<jitgate_broker::Broker>>,
    authz: ArcSwap<AuthzSnapshot>,
    seen_change: AtomicI64,
    streams: StreamRegistry,
    metrics: Metrics,
    recordings: std::path::PathBuf,
    recording_cap: u64,
}

/// An audit event being filled in along the request path.
#[derive(Debug, Clone, Default)]
struct Draft {
    user: Option<String>,
    groups: Vec<String>,
    auth: Option<&'static str>,
    grant: Option<String>,
    session: String,
    verb: Option<String>,
    api_group: Option<String>,
    resource: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
    path: String,
    command: Option<Vec<String>>,
    source_ip: Option<std::net::IpAddr>,
    user_agent: Option<String>,
}

impl Gateway {
    /// Builds the gateway and loads the active grants once.
    pub async fn new(parts: GatewayParts) -> Result<Arc<Self>, jitgate_store::StoreError> {
        let snapshot = build_snapshot(parts.store.as_ref()).await?;
        let counter = parts.store.change_counter().await?;
        Ok(Arc::new(Self {
            upstream: parts.upstream,
            certs: parts.certs,
            tokens: parts.tokens,
            store: parts.store,
            audit: parts.audit,
            policy: parts.policy,
            broker: parts.broker,
            authz: ArcSwap::from_pointee(snapshot),
            seen_change: AtomicI64::new(counter),
            streams: StreamRegistry::default(),
            metrics: Metrics::default(),
            recordings: parts.recordings,
            recording_cap: parts.recording_cap,
        }))
    }

    /// Polls the store every `every` and applies grant changes: new grants become usable, and
    /// streams of revoked grants are cut. Runs until the task is dropped.
    pub async fn watch_grants(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The broker says when it changed a grant, so a new grant is usable (and a revoked one
        // cut) at once rather than at the next poll; the poll still sees other writers.
        let mut changes = self.broker.as_ref().map(|b| b.grant_changes());
        loop {
            match changes.as_mut() {
                Some(rx) => {
                    tokio::select! {
                        _ = tick.tick() => {}
                        changed = rx.changed() => {
                            if changed.is_err() {
                                changes = None;
                            }
                        }
                    }
                }
                None => {
                    tick.tick().await;
                }
            }
            if let Err(e) = self.refresh().await {
                tracing::warn!("reloading grants: {e}");
            }
        }
    }

    async fn refresh(&self) -> Result<(), jitgate_store::StoreError> {
        let counter = self.store.change_counter().await?;
        let now = unix_now();
        let expired_since = self.authz.load().next_expiry.is_some_and(|t| t <= now);
        if counter == self.seen_change.load(Ordering::Acquire) && !expired_since {
            return Ok(());
        }
        let snapshot = build_snapshot(self.store.as_ref()).await?;
        self.seen_change.store(counter, Ordering::Release);
        let ids = snapshot.ids.clone();
        let previous = self.authz.swap(Arc::new(snapshot));
        self.audit_grant_changes(&previous.ids, &ids).await;
        // Streams of grants that are no longer active end now, with the reason from the store.
        let mut reasons: HashMap<String, CutReason> = HashMap::new();
        let inactive: Vec<String> = self
            .streams
            .grants()
            .into_iter()
            .filter(|g| !ids.contains(g) && !g.starts_with(STANDING_PREFIX))
            .collect();
        for g in inactive {
            if reasons.contains_key(&g) {
                continue;
            }
            let found = match jitgate_store::GrantId::parse(&g) {
                Ok(id) => self.store.get(&id).await,
                Err(e) => Err(e.into()),
            };
            let reason = match found {
                Ok(Some(grant)) => cut_reason(&grant),
                _ => CutReason {
                    kind: "revoked",
                    message: format!("access ended: grant {g} no longer exists"),
                },
            };
            reasons.insert(g, reason);
        }
        // Each stream counts itself in the metrics when it ends (expiry ends some without a cut).
        for (g, reason) in &reasons {
            self.streams.cut_grant(g, reason);
        }
        Ok(())
    }

    /// Writes a `grant.create`, `grant.revoke` or `grant.expire` line for every grant that
    /// appeared or went away since the last snapshot, whoever changed the store.
    async fn audit_grant_changes(&self, before: &HashSet<String>, after: &HashSet<String>) {
        let changed = after.symmetric_difference(before);
        for id in changed {
            let Ok(gid) = jitgate_store::GrantId::parse(id) else {
                continue;
            };
            let Ok(Some(g)) = self.store.get(&gid).await else {
                continue;
            };
            let (kind, who, why) = if after.contains(id) {
                (
                    EventKind::GrantCreate,
                    g.created_by.clone(),
                    g.reason.clone(),
                )
            } else if g.revoked_at.is_some() {
                (
                    EventKind::GrantRevoke,
                    g.revoked_by.clone().unwrap_or_default(),
                    g.revoke_reason.clone().unwrap_or_default(),
                )
            } else {
                (
                    EventKind::GrantExpire,
                    String::new(),
                    format!("expired at {}", rfc3339(g.expires_at)),
                )
            };
            let mut e = AuditEvent::new(kind);
            e.user = (!who.is_empty()).then_some(who);
            e.grant = Some(id.clone());
            e.namespace = Some(g.namespaces.join(","));
            e.decision = Some(AuditDecision::Allow);
            e.reason = Some(format!("{why} (for {}, profile {})", g.user, g.profile));
            if let Err(err) = self.audit.append_async(e).await {
                tracing::error!("writing the audit log failed: {err}");
            }
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<jitgate_policy::Policy> {
        self.policy.load_full()
    }

    /// The shared handle to the policy (the broker reads the same one).
    pub fn policy_handle(&self) -> Arc<ArcSwap<jitgate_policy::Policy>> {
        Arc::clone(&self.policy)
    }

    /// Loads the policy file again if it changed since `last` (its bytes); a policy that does
    /// not validate is refused and the one in force stays, and either way a `policy.reload`
    /// line says what happened. Returns the bytes now seen.
    pub async fn reload_policy(&self, path: &std::path::Path, last: &[u8]) -> Vec<u8> {
        let text = match jitgate_policy::read_limited(path) {
            Ok(t) => t.into_bytes(),
            Err(e) => {
                tracing::warn!(
                    "policy {}: {e}; keeping the policy in force",
                    path.display()
                );
                return last.to_vec();
            }
        };
        if text == last {
            return text;
        }
        let parsed = std::str::from_utf8(&text)
            .map_err(|e| vec![format!("not UTF-8: {e}")])
            .and_then(|t| {
                jitgate_policy::Policy::parse(t).map_err(|diagnostics| {
                    diagnostics
                        .iter()
                        .filter(|d| d.severity == jitgate_policy::Severity::Error)
                        .map(|d| d.render(&path.display().to_string()))
                        .collect()
                })
            });
        let mut e = AuditEvent::new(EventKind::PolicyReload);
        e.resource = Some(path.display().to_string());
        match parsed {
            Ok(policy) => {
                let profiles: Vec<String> =
                    policy.profiles().iter().map(|p| p.name.clone()).collect();
                tracing::info!(
                    "loaded policy {} (profiles: {})",
                    path.display(),
                    profiles.join(", ")
                );
                let standing: HashSet<String> = policy
                    .standing()
                    .iter()
                    .map(|s| format!("{STANDING_PREFIX}{}", s.profile))
                    .collect();
                self.policy.store(Arc::new(policy));
                e.decision = Some(AuditDecision::Allow);
                e.reason = Some(format!("loaded; profiles: {}", profiles.join(", ")));
                // Streams opened under standing access the new policy no longer gives end now.
                for g in self.streams.grants() {
                    if g.starts_with(STANDING_PREFIX) && !standing.contains(&g) {
                        self.streams.cut_grant(
                            &g,
                            &CutReason {
                                kind: "revoked",
                                message: format!(
                                    "standing access {g} was removed from the jitgate policy; request access with kubectl jit request"
                                ),
                            },
                        );
                    }
                }
            }
            Err(errors) => {
                tracing::warn!(
                    "policy {} does not validate; keeping the policy in force:\n{}",
                    path.display(),
                    errors.join("\n")
                );
                e.decision = Some(AuditDecision::Deny);
                e.reason = Some(format!(
                    "refused, the policy in force stays: {}",
                    errors.join("; ")
                ));
            }
        }
        if let Err(err) = self.audit.append_async(e).await {
            tracing::error!("writing the audit log failed: {err}");
        }
        text
    }

    /// Ends every live stream (shutdown) and waits, at most `grace`, until each has told its
    /// client why and audited its end; returns how many were still live after `grace`.
    pub async fn cut_all(&self, message: &str, grace: Duration) -> usize {
        self.streams.cut_all(&CutReason {
            kind: "shutdown",
            message: message.to_owned(),
        });
        let until = tokio::time::Instant::now() + grace;
        while !self.streams.is_empty() && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.streams.len()
    }

    /// Whether the gateway can serve: the store answers.
    pub async fn ready(&self) -> Result<(), String> {
        self.store
            .change_counter()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The Prometheus exposition.
    pub fn metrics_text(&self) -> String {
        self.metrics.render(self.streams.len())
    }

    async fn authenticate(
        &self,
        req: &Request<Incoming>,
        conn: &ConnInfo,
    ) -> Result<Identity, AuthnError> {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        if let Some(token) = bearer {
            return match &self.tokens {
                Some(tokens) => tokens.authenticate(token).await,
                None => Err(AuthnError::Token(
                    "this gateway has no OIDC issuer configured".into(),
                )),
            };
        }
        if conn.client_chain.is_empty() {
            return Err(AuthnError::NoCredentials);
        }
        let verified = conn.verified_chain.get_or_init(|| {
            self.certs
                .authenticate(&conn.client_chain)
                .map_err(|e| e.to_string())
        });
        match verified {
            Ok(id) if id.expires_at.is_some_and(|t| t <= unix_now()) => {
                Err(AuthnError::Certificate(format!(
                    "it expired at {} while this connection was open; run `kubectl jit login` for a new one",
                    rfc3339(id.expires_at.unwrap_or_default())
                )))
            }
            Ok(id) => Ok(id.clone()),
            Err(message) => Err(AuthnError::Verified(message.clone())),
        }
    }

    /// Handles one request from kubectl.
    pub async fn handle(
        self: &Arc<Self>,
        mut req: Request<Incoming>,
        conn: Arc<ConnInfo>,
    ) -> Response<BoxBody> {
        let started = Instant::now();
        let mut draft = Draft {
            session: conn.session.clone(),
            path: req.uri().path().to_owned(),
            source_ip: Some(conn.peer.ip()),
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            ..Draft::default()
        };

        // jitgate's own API: the broker answers it; it never goes to the apiserver.
        if let Some(broker) = &self.broker
            && jitgate_broker::http::is_api_path(req.uri().path())
        {
            return self.api(broker, req, &conn, draft, started).await;
        }

        // A path that could mean two things is refused before anything else happens: it is never
        // authorized or forwarded. The caller is still identified, for the audit line only.
        let info = match jitgate_classify::classify(
            req.method().as_str(),
            req.uri().path(),
            req.uri().query(),
        ) {
            Ok(info) => info,
            Err(e) => {
                if let Ok(id) = self.authenticate(&req, &conn).await {
                    draft.user = Some(id.user);
                    draft.groups = id.groups;
                    draft.auth = Some(id.method.as_str());
                }
                return self
                    .refuse(
                        draft,
                        StatusCode::BAD_REQUEST,
                        &e.to_string(),
                        Outcome::BadRequest,
                        started,
                    )
                    .await;
            }
        };
        let identity = match self.authenticate(&req, &conn).await {
            Ok(id) => id,
            Err(e) => {
                return self
                    .refuse(
                        draft,
                        StatusCode::UNAUTHORIZED,
                        &e.to_string(),
                        Outcome::Unauthenticated,
                        started,
                    )
                    .await;
            }
        };
        draft.user = Some(identity.user.clone());
        draft.groups = identity.groups.clone();
        draft.auth = Some(identity.method.as_str());

        if let Some(name) = forbidden_impersonation(req.headers()) {
            let msg = format!(
                "jitgate refuses client impersonation ({name} header): the gateway alone asserts who you are; drop --as/--as-group/--as-uid"
            );
            return self
                .refuse(draft, StatusCode::FORBIDDEN, &msg, Outcome::Denied, started)
                .await;
        }

        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        draft.verb = Some(info.verb.clone());
        draft.api_group = non_empty(&info.api_group);
        draft.resource = non_empty(&info.resource);
        draft.namespace = non_empty(&info.namespace);
        draft.name = non_empty(&info.name);
        draft.subresource = non_empty(&info.subresource);
        if info.subresource == "exec" {
            draft.command = Some(query_values(req.uri().query(), "command"));
        }

        let snapshot = self.authz.load_full();
        let policy = self.policy.load();
        let profiles = policy.profiles();
        let now = unix_now();
        // The caller's grants, plus the standing access the policy gives their groups.
        let standing = standing_grants(&policy, &identity, now);
        let mine: std::borrow::Cow<'_, [jitgate_authz::Grant]> = if standing.is_empty() {
            std::borrow::Cow::Borrowed(snapshot.index.grants_for(&identity.user))
        } else {
            let mut all = snapshot.index.grants_for(&identity.user).to_vec();
            all.extend(standing);
            std::borrow::Cow::Owned(all)
        };
        let mut decision =
            jitgate_authz::authorize(&info, &identity.user, &mine, profiles, now, None);
        if let jitgate_authz::Decision::NeedPodLabels { pod, namespace } = &decision {
            decision = match self.pod_labels(namespace, pod, conn.shard).await {
                Ok(labels) => jitgate_authz::authorize(
                    &info,
                    &identity.user,
                    &mine,
                    profiles,
                    now,
                    Some(&labels),
                ),
                Err(why) => jitgate_authz::Decision::Deny {
                    reason: format!(
                        "could not read the labels of pod {namespace}/{pod} to check the grant's selector: {why}"
                    ),
                },
            };
        }
        let grant = match decision {
            jitgate_authz::Decision::Allow { grant, .. } => Some(grant.as_str().to_owned()),
            jitgate_authz::Decision::AllowDiscovery => None,
            jitgate_authz::Decision::Deny { reason } => {
                return self
                    .refuse(
                        draft,
                        StatusCode::FORBIDDEN,
                        &reason,
                        Outcome::Denied,
                        started,
                    )
                    .await;
            }
            jitgate_authz::Decision::NeedPodLabels { pod, namespace } => {
                let msg = format!(
                    "could not decide access to pod {namespace}/{pod}: its labels are unknown"
                );
                return self
                    .refuse(draft, StatusCode::FORBIDDEN, &msg, Outcome::Denied, started)
                    .await;
            }
        };
        draft.grant = grant.clone();
        let mut profiles: Vec<&str> = mine
            .iter()
            .filter(|g| g.expires_at > now)
            .map(|g| g.profile.as_str())
            .collect();
        profiles.sort_unstable();
        profiles.dedup();
        let chosen = grant
            .as_deref()
            .and_then(|id| mine.iter().find(|g| g.id.as_str() == id));
        let deadline =
            chosen.map(|g| Deadline::new(g.id.as_str(), g.expires_at, identity.expires_at));
        let chosen_profile = chosen.map(|g| g.profile.clone());
        let grants: Vec<&str> = match grant.as_deref() {
            Some(g) => vec![g],
            None => mine
                .iter()
                .filter(|g| g.expires_at > now)
                .map(|g| g.id.as_str())
                .collect(),
        };
        let who = Impersonation {
            user: &identity.user,
            profiles,
            grants,
            session: &conn.session,
        };

        let upgrade = upgrade_value(&req);
        let authorization = match self.upstream.authorization().await {
            Ok(a) => a,
            Err(e) => {
                let msg =
                    format!("the gateway cannot read its own credentials for the apiserver: {e}");
                return self
                    .refuse(
                        draft,
                        StatusCode::BAD_GATEWAY,
                        &msg,
                        Outcome::UpstreamError,
                        started,
                    )
                    .await;
            }
        };
        let headers = upstream_headers(
            req.headers(),
            &who,
            upgrade.as_ref(),
            authorization.as_deref(),
        );
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let uri = match self.upstream.uri(&path_and_query) {
            Ok(u) => u,
            Err(e) => {
                return self
                    .refuse(
                        draft,
                        StatusCode::BAD_REQUEST,
                        &e.to_string(),
                        Outcome::BadRequest,
                        started,
                    )
                    .await;
            }
        };
        let method = req.method().clone();
        let long_lived = info.verb == "watch"
            || (info.subresource == "log" && query_flag(req.uri().query(), "follow"));

        // exec and attach are terminated here and re-originated upstream: pick what to speak with
        // kubectl before anything is recorded as allowed.
        let exec_transport = match (&upgrade, info.subresource.as_str()) {
            (Some(_), "exec" | "attach") => {
                match jitgate_session::handshake::choose_exec_transport(req.headers()) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        return self
                            .refuse(
                                draft,
                                StatusCode::BAD_REQUEST,
                                &e.to_string(),
                                Outcome::BadRequest,
                                started,
                            )
                            .await;
                    }
                }
            }
            _ => None,
        };
        let portforward_transport = match (&upgrade, info.subresource.as_str()) {
            (Some(_), "portforward") => {
                match jitgate_session::handshake::choose_portforward_transport(req.headers()) {
                    Ok(PortForwardTransport::Channels(p)) => {
                        let values = query_values(req.uri().query(), "ports");
                        match jitgate_wire::portforward::WebSocketPorts::from_query_values(
                            values.iter().map(String::as_str),
                        ) {
                            Ok(ports) => Some((PortForwardTransport::Channels(p), Some(ports))),
                            Err(e) => {
                                let msg = format!(
                                    "a WebSocket port-forward names its ports in ?ports=: {e}"
                                );
                                return self
                                    .refuse(
                                        draft,
                                        StatusCode::BAD_REQUEST,
                                        &msg,
                                        Outcome::BadRequest,
                                        started,
                                    )
                                    .await;
                            }
                        }
                    }
                    Ok(t) => Some((t, None)),
                    Err(e) => {
                        return self
                            .refuse(
                                draft,
                                StatusCode::BAD_REQUEST,
                                &e.to_string(),
                                Outcome::BadRequest,
                                started,
                            )
                            .await;
                    }
                }
            }
            _ => None,
        };

        // Port-forward opens only the ports the grant's profile lists; the plain WebSocket form
        // names them all up front, so a closed one is refused before the session starts.
        let port_check = match &portforward_transport {
            Some((_, channel_ports)) => {
                match self.port_check(&policy, chosen_profile.as_deref(), channel_ports, &draft) {
                    Ok(check) => check,
                    Err(msg) => {
                        return self
                            .refuse(draft, StatusCode::FORBIDDEN, &msg, Outcome::Denied, started)
                            .await;
                    }
                }
            }
            None => Arc::new(jitgate_session::portforward::AnyPort),
        };

        // The exec guard: the command line must pass the grant's profile's exec rules, before
        // anything is recorded as allowed or reaches the pod.
        // What passes may still have its stdin read: kubectl cp's upload archive, the lines typed
        // into a filtered shell.
        let mut stdin_guards = StdinGuards::default();
        if info.subresource == "exec" {
            let command = draft.command.as_deref().unwrap_or_default();
            let tty = query_flag(req.uri().query(), "tty");
            match exec_check(&policy, chosen_profile.as_deref(), command, tty) {
                Ok(guards) => stdin_guards = guards,
                Err(msg) => {
                    return self
                        .refuse(draft, StatusCode::FORBIDDEN, &msg, Outcome::Denied, started)
                        .await;
                }
            }
        }

        // kubectl debug: every container a write to pods/ephemeralcontainers would add must pass
        // the grant's profile's debug rules. The body is read here and forwarded as read.
        let mut read_body: Option<Bytes> = None;
        if info.resource == "pods"
            && info.subresource == "ephemeralcontainers"
            && matches!(info.verb.as_str(), "patch" | "update")
        {
            match self
                .debug_check(&policy, chosen_profile.as_deref(), &mut req)
                .await
            {
                Ok(body) => read_body = body,
                Err((status, msg)) => {
                    return self
                        .refuse(draft, status, &msg, Outcome::Denied, started)
                        .await;
                }
            }
        }

        // The decision is written before anything goes upstream. A read is forwarded while the
        // line is being synced (its response waits for both); anything that changes the
        // cluster, and every stream, waits until the line is durable.
        let Some(ticket) = self.record_decision(&draft, started) else {
            return status_response(StatusCode::SERVICE_UNAVAILABLE, AUDIT_DOWN);
        };
        let overlap_sync = upgrade.is_none() && is_read_only(&info.verb);
        if !overlap_sync && self.audit.durable(ticket).await.is_err() {
            return status_response(StatusCode::SERVICE_UNAVAILABLE, AUDIT_DOWN);
        }

        if let Some(upgrade) = upgrade {
            let Some(deadline) = deadline else {
                let msg = "streams (exec, attach, port-forward) need a grant; request one with kubectl jit request";
                return self
                    .refuse(draft, StatusCode::FORBIDDEN, msg, Outcome::Denied, started)
                    .await;
            };
            if let Some(transport) = exec_transport {
                return self
                    .exec_session(
                        req,
                        draft,
                        deadline,
                        transport,
                        stdin_guards,
                        uri,
                        headers,
                        started,
                    )
                    .await;
            }
            if let Some((transport, ports)) = portforward_transport {
                return self
                    .portforward_session(
                        req, draft, deadline, transport, ports, port_check, uri, headers, started,
                    )
                    .await;
            }
            // Port-forward (and other upgrades, e.g. pods/proxy WebSockets) pass through.
            let client_upgrade = hyper::upgrade::on(&mut req);
            let mut up = Request::new(empty());
            *up.method_mut() = method;
            *up.uri_mut() = uri;
            *up.headers_mut() = headers;
            up.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            up.headers_mut().insert(header::UPGRADE, upgrade);
            let mut resp = match self.upstream.send_upgrade(up).await {
                Ok(r) => r,
                Err(e) => return self.upstream_failed(&draft, &e, started),
            };
            if !self.responded(&draft, resp.status(), started) {
                return status_response(StatusCode::SERVICE_UNAVAILABLE, AUDIT_DOWN);
            }
            if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
                return self.pass_response(resp);
            }
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            let mut head = Response::new(empty());
            *head.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            *head.headers_mut() = resp.headers().clone();
            let gateway = Arc::clone(self);
            tokio::spawn(async move {
                gateway
                    .splice(client_upgrade, upstream_upgrade, draft, deadline)
                    .await;
            });
            return head;
        }

        let body = match read_body {
            Some(bytes) => crate::body::full(bytes),
            None => req
                .into_body()
                .map_err(|e| -> BodyError { Box::new(e) })
                .boxed_unsync(),
        };
        let mut up = Request::new(body);
        *up.method_mut() = method;
        *up.uri_mut() = uri;
        *up.headers_mut() = headers;
        // The line is being synced meanwhile; by the time the apiserver answers it usually is,
        // and `durable` returns without a wake-up.
        let resp = self.upstream.client(conn.shard).request(up).await;
        if overlap_sync && self.audit.durable(ticket).await.is_err() {
            return status_response(StatusCode::SERVICE_UNAVAILABLE, AUDIT_DOWN);
        }
        let resp = match resp {
            Ok(r) => r,
            Err(e) => return self.upstream_failed(&draft, &e, started),
        };
        if !self.responded(&draft, resp.status(), started) {
            return status_response(StatusCode::SERVICE_UNAVAILABLE, AUDIT_DOWN);
        }
        if let Some(deadline) = deadline.filter(|_| long_lived && resp.status().is_success()) {
            return self.cut_able(resp, draft, deadline);
        }
        self.pass_response(resp)
    }

    /// A `/jitgate/v1` request: identified like every other (a credential that is present but
    /// invalid is a 401 here too), answered by the broker, and audited.
    async fn api(
        &self,
        broker: &jitgate_broker::Broker,
        req: Request<Incoming>,
        conn: &ConnInfo,
        mut draft: Draft,
        started: Instant,
    ) -> Response<BoxBody> {
        let has_credentials =
            !conn.client_chain.is_empty() || req.headers().contains_key(header::AUTHORIZATION);
        let caller = if has_credentials {
            match self.authenticate(&req, conn).await {
                Ok(id) => {
                    draft.user = Some(id.user.clone());
                    draft.groups = id.groups.clone();
                    draft.auth = Some(id.method.as_str());
                    Some(jitgate_broker::Caller::new(
                        id.user,
                        id.groups,
                        match id.method {
                            crate::authn::AuthMethod::ClientCert => {
                                jitgate_broker::CallerMethod::Certificate
                            }
                            crate::authn::AuthMethod::OidcToken => {
                                jitgate_broker::CallerMethod::Bearer
                            }
                        },
                        id.expires_at,
                    ))
                }
                Err(e) => {
                    return self
                        .refuse(
                            draft,
                            StatusCode::UNAUTHORIZED,
                            &e.to_string(),
                            Outcome::Unauthenticated,
                            started,
                        )
                        .await;
                }
            }
        } else {
            None
        };
        draft.verb = Some(req.method().as_str().to_ascii_lowercase());
        draft.api_group = Some("jitgate.dev".to_owned());
        let resp = jitgate_broker::http::handle(broker, caller, req).await;
        let status = resp.status();
        let decision = if status.is_success() {
            AuditDecision::Allow
        } else {
            AuditDecision::Deny
        };
        let outcome = if status.is_success() {
            Outcome::Allowed
        } else if status == StatusCode::UNAUTHORIZED {
            Outcome::Unauthenticated
        } else {
            Outcome::Denied
        };
        self.metrics.record(outcome, started.elapsed());
        // The broker made every transition durable before answering; this line records the
        // call itself.
        let event = audit_event(
            &draft,
            EventKind::Request,
            decision,
            None,
            status.as_u16(),
            0,
            0,
            started,
        );
        if let Err(e) = self.audit.write_relaxed(&event) {
            tracing::error!("writing the audit log failed: {e}");
            return status_response(StatusCode::SERVICE_UNAVAILABLE, AUDIT_DOWN);
        }
        let (parts, body) = resp.into_parts();
        Response::from_parts(parts, body.map_err(|never| match never {}).boxed_unsync())
    }

    fn pass_response(&self, resp: Response<Incoming>) -> Response<BoxBody> {
        let (mut parts, body) = resp.into_parts();
        downstream_headers(&mut parts.headers, false);
        Response::from_parts(
            parts,
            body.map_err(|e| -> BodyError { Box::new(e) })
                .boxed_unsync(),
        )
    }

    /// A long-lived response (watch, `logs -f`): copied frame by frame by a task that ends it,
    /// with a last word for the user, when the grant expires or is revoked.
    fn cut_able(
        self: &Arc<Self>,
        resp: Response<Incoming>,
        draft: Draft,
        deadline: Deadline,
    ) -> Response<BoxBody> {
        let (mut parts, mut body) = resp.into_parts();
        downstream_headers(&mut parts.headers, false);
        let json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/json"));
        let text = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/plain"));
        let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, BodyError>>(32);
        let gateway = Arc::clone(self);
        let grant = draft.grant.clone().unwrap_or_default();
        tokio::spawn(async move {
            let guard = gateway.streams.register(&grant);
            let mut cut = guard.cut.clone();
            let must_end = until_cut(&mut cut, &deadline);
            tokio::pin!(must_end);
            let mut bytes_out: u64 = 0;
            let started = Instant::now();
            let mut ended_by: Option<CutReason> = None;
            loop {
                tokio::select! {
                    frame = body.frame() => match frame {
                        Some(Ok(f)) => {
                            if let Some(d) = f.data_ref() { bytes_out += d.len() as u64; }
                            if tx.send(Ok(f)).await.is_err() { break; }
                        }
                        Some(Err(e)) => { let _ = tx.send(Err(Box::new(e))).await; break; }
                        None => break,
                    },
                    reason = &mut must_end => { ended_by = Some(reason); break; }
                    () = tx.closed() => break,
                }
            }
            if let Some(reason) = &ended_by {
                let last = if json {
                    Some(format!(
                        "{{\"type\":\"ERROR\",\"object\":{}}}\n",
                        status_json(StatusCode::FORBIDDEN, &reason.message)
                    ))
                } else if text {
                    Some(format!("\njitgate: {}\n", reason.message))
                } else {
                    None
                };
                if let Some(last) = last {
                    let _ = tx.send(Ok(Frame::data(Bytes::from(last)))).await;
                }
                gateway.metrics.streams_cut(1);
            }
            gateway
                .stream_ended(&draft, ended_by.as_ref(), 0, bytes_out, started)
                .await;
            // Unregistered only once its end is audited: shutdown waits for that.
            drop(guard);
        });
        let stream = tokio_stream_from(rx);
        Response::from_parts(parts, StreamBody::new(stream).boxed_unsync())
    }

    /// Opens an upgraded stream upstream in the families of `order`, the second only when the
    /// apiserver refuses the first (see [`crate::session::may_fall_back`]). `request` builds the
    /// upgrade request for a family (with the WebSocket key, if any); `accept` checks the
    /// apiserver's 101 against it. Returns the switched response, what `accept` made of it and a
    /// note naming a fallback for the audit line, or the response kubectl gets instead (the
    /// apiserver's own refusal as it is, or a Status); every outcome is audited.
    async fn open_upstream_stream<T>(
        self: &Arc<Self>,
        draft: &Draft,
        started: Instant,
        order: [UpstreamFamily; 2],
        what: &str,
        mut request: impl FnMut(UpstreamFamily) -> (Request<BoxBody>, Option<String>),
        accept: impl Fn(&http::HeaderMap, Option<&str>) -> Result<T, String>,
    ) -> Result<(Response<Incoming>, T, String), Response<BoxBody>> {
        let mut fallback_note = String::new();
        for (attempt, family) in order.into_iter().enumerate() {
            let (up, key) = request(family);
            let resp = match self.upstream.send_upgrade(up).await {
                Ok(r) => r,
                Err(e) => return Err(self.upstream_failed(draft, &e, started)),
            };
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                return match accept(resp.headers(), key.as_deref()) {
                    Ok(accepted) => {
                        if !self.responded(draft, resp.status(), started) {
                            return Err(status_response(
                                StatusCode::SERVICE_UNAVAILABLE,
                                AUDIT_DOWN,
                            ));
                        }
                        Ok((resp, accepted, fallback_note))
                    }
                    Err(why) => {
                        let msg = format!("jitgate could not open {what} upstream: {why}");
                        let _ = self.responded(draft, StatusCode::BAD_GATEWAY, started);
                        Err(status_response(StatusCode::BAD_GATEWAY, &msg))
                    }
                };
            }
            if attempt == 0 && crate::session::may_fall_back(resp.status()) {
                // An apiserver (or a kubelet behind it) that does not take this family.
                fallback_note = format!(
                    " ({} after the apiserver refused {} with {})",
                    order[1].name(),
                    family.name(),
                    resp.status()
                );
                drain_refusal(resp).await;
                continue;
            }
            // The apiserver's refusal (no such pod, RBAC, …) reaches kubectl as it is.
            if !self.responded(draft, resp.status(), started) {
                return Err(status_response(StatusCode::SERVICE_UNAVAILABLE, AUDIT_DOWN));
            }
            return Err(self.pass_response(resp));
        }
        let msg = format!("jitgate could not open {what} upstream over WebSocket or SPDY");
        let _ = self.responded(draft, StatusCode::BAD_GATEWAY, started);
        Err(status_response(StatusCode::BAD_GATEWAY, &msg))
    }

    /// An exec or attach session: the gateway's own upgrade to the apiserver (WebSocket v5,
    /// or SPDY when the apiserver refuses WebSocket), then `101` to kubectl in the transport it
    /// asked for, then the session core between the two until the command ends, kubectl
    /// leaves, or the grant ends.
    #[allow(clippy::too_many_arguments)]
    async fn exec_session(
        self: &Arc<Self>,
        mut req: Request<Incoming>,
        draft: Draft,
        deadline: Deadline,
        transport: ClientTransport,
        stdin_guards: StdinGuards,
        uri: http::Uri,
        headers: http::HeaderMap,
        started: Instant,
    ) -> Response<BoxBody> {
        let streams = crate::session::stream_set(req.uri().query());
        let container = query_values(req.uri().query(), "container")
            .into_iter()
            .next();
        // Upstream, the gateway speaks the client's family first: the apiserver proxies a SPDY
        // stream to the kubelet as it is, but translates a WebSocket one, at 2.5–4× the CPU
        // (docs/benchmarks.md). The other family is the fallback when the first is refused.
        let order = match transport {
            ClientTransport::Spdy(_) => [UpstreamFamily::Spdy, UpstreamFamily::WebSocket],
            ClientTransport::WebSocket(_) => [UpstreamFamily::WebSocket, UpstreamFamily::Spdy],
        };
        let opened = self
            .open_upstream_stream(
                &draft,
                started,
                order,
                "the stream",
                |family| match family {
                    UpstreamFamily::WebSocket => {
                        let (up, key) = crate::session::upstream_websocket_request(
                            uri.clone(),
                            headers.clone(),
                        );
                        (up, Some(key))
                    }
                    UpstreamFamily::Spdy => (
                        crate::session::upstream_spdy_request(uri.clone(), headers.clone()),
                        None,
                    ),
                },
                |answer, key| match key {
                    Some(key) => crate::session::accepted_upstream_protocol(answer, key)
                        .map(UpstreamExec::WebSocket),
                    None => {
                        crate::session::accepted_upstream_spdy(answer).map(|()| UpstreamExec::Spdy)
                    }
                },
            )
            .await;
        let (mut resp, upstream_protocol, fallback_note) = match opened {
            Ok(opened) => opened,
            Err(answered) => return answered,
        };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        let client_upgrade = hyper::upgrade::on(&mut req);
        let head = crate::session::client_switching_response(transport, req.headers());
        let gateway = Arc::clone(self);
        tokio::spawn(async move {
            let Some((client, upstream)) = both_upgraded(client_upgrade, upstream_upgrade).await
            else {
                return;
            };
            let upstream_leg = match upstream_protocol {
                UpstreamExec::WebSocket(p) => {
                    Ok(jitgate_session::websocket::leg(upstream, Side::Upstream, p).await)
                }
                UpstreamExec::Spdy => {
                    jitgate_session::spdy::client_leg(
                        upstream,
                        jitgate_wire::remotecommand::Protocol::V4,
                        streams,
                    )
                    .await
                }
            };
            let client_leg =
                match transport {
                    ClientTransport::WebSocket(p) => {
                        // Older kubectl drops what arrives before it has registered its streams.
                        let settle =
                            jitgate_session::websocket::client_settle(draft.user_agent.as_deref());
                        Ok(jitgate_session::websocket::leg_with_settle(
                            client,
                            Side::Client,
                            p,
                            settle,
                        )
                        .await)
                    }
                    ClientTransport::Spdy(p) => {
                        jitgate_session::spdy::server_leg(client, p, streams).await
                    }
                };
            let upstream_name = match upstream_protocol {
                UpstreamExec::WebSocket(p) => p.name(),
                UpstreamExec::Spdy => "SPDY/3.1 v4.channel.k8s.io",
            };
            let client_name = match transport {
                ClientTransport::WebSocket(p) => p.name().to_owned(),
                ClientTransport::Spdy(p) => format!("SPDY/3.1 {}", p.name()),
            };
            let (client_leg, upstream_leg) = match (client_leg, upstream_leg) {
                (Ok(c), Ok(u)) => (c, u),
                (c, u) => {
                    let why = [c.err(), u.err()]
                        .into_iter()
                        .flatten()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; ");
                    gateway
                        .write_audit(
                            &draft,
                            EventKind::StreamEnd,
                            AuditDecision::Allow,
                            Some(&format!("the session could not start: {why}")),
                            502,
                            0,
                            0,
                            Instant::now(),
                        )
                        .await;
                    return;
                }
            };
            let grant = draft.grant.clone().unwrap_or_default();
            let guard = gateway.streams.register(&grant);
            let mut cut = guard.cut.clone();
            let started = Instant::now();
            let recording_name = format!("{}.cast", draft.session);
            let recorder = jitgate_session::record::Recorder::new(
                gateway.recordings.join(&recording_name),
                gateway.recording_cap,
            );
            let log = GuardAudit {
                audit: Arc::clone(&gateway.audit),
                draft: draft.clone(),
            };
            let upload = stdin_guards.upload.map(|watch| UploadGuard {
                watch,
                profile: stdin_guards.profile.clone(),
                log: log.clone(),
            });
            let typed_lines = stdin_guards.lines.map(|filter| TypedLines { filter, log });
            // The recorder first: it keeps what a guard refuses or rewrites.
            let mut observers = (recorder, (upload, typed_lines));
            gateway
                .write_audit(
                    &draft,
                    EventKind::StreamStart,
                    AuditDecision::Allow,
                    Some(&format!(
                        "kubectl speaks {client_name}, the apiserver {upstream_name}{fallback_note}; recording recordings/{recording_name}"
                    )),
                    101,
                    0,
                    0,
                    started,
                )
                .await;
            let info = jitgate_session::SessionInfo {
                id: draft.session.clone(),
                user: draft.user.clone().unwrap_or_default(),
                groups: draft.groups.clone(),
                grant: grant.clone(),
                namespace: draft.namespace.clone().unwrap_or_default(),
                pod: draft.name.clone().unwrap_or_default(),
                container: container.clone(),
                kind: if draft.subresource.as_deref() == Some("attach") {
                    jitgate_session::SessionKind::Attach
                } else {
                    jitgate_session::SessionKind::Exec
                },
                command: draft.command.clone().unwrap_or_default(),
                tty: streams.tty,
                stdin: streams.stdin,
                client_protocol: client_name.clone(),
                upstream_protocol: upstream_name.to_owned(),
            };
            let summary = jitgate_session::pump(
                &info,
                client_leg,
                upstream_leg,
                until_cut(&mut cut, &deadline),
                &mut observers,
            )
            .await;
            let cut_reason = match &summary.ended_by {
                EndedBy::Cut(r) | EndedBy::Observer(r) => Some(r.clone()),
                EndedBy::Upstream | EndedBy::Client => None,
            };
            if matches!(summary.ended_by, EndedBy::Cut(_)) {
                gateway.metrics.streams_cut(1);
            }
            let mut why = cut_reason
                .as_ref()
                .map(|r| format!("{}: {}", r.kind, r.message))
                .unwrap_or_else(|| match summary.ended_by {
                    EndedBy::Client => "the client closed the session".to_owned(),
                    _ => "the command ended".to_owned(),
                });
            if let Some(exit) = &summary.exit {
                why.push_str(&format!("; exit: {exit:?}"));
            }
            if let Some(error) = &summary.error {
                why.push_str(&format!("; {error}"));
            }
            // The recording ends with how jitgate ended it (a command's own end is in its
            // Status, recorded as it passed).
            if let Some(r) = &cut_reason {
                observers.0.mark(&format!(
                    "jitgate ended the session ({}): {}",
                    r.kind, r.message
                ));
            }
            match observers.0.finish() {
                Ok(r) if r.bytes > 0 => why.push_str(&format!(
                    "; recorded to recordings/{recording_name} ({} bytes{})",
                    r.bytes,
                    if r.truncated {
                        ", truncated at the cap"
                    } else {
                        ""
                    }
                )),
                Ok(_) => {}
                Err(e) => why.push_str(&format!("; the recording may be incomplete: {e}")),
            }
            gateway
                .write_audit(
                    &draft,
                    EventKind::StreamEnd,
                    AuditDecision::Allow,
                    Some(&why),
                    200,
                    summary.bytes_from_client,
                    summary.bytes_to_client,
                    started,
                )
                .await;
            // Unregistered only once its end is audited: shutdown waits for that.
            drop(guard);
        });
        head
    }

    /// A port-forward session: the gateway's own SPDY connection to the apiserver (tunnelled
    /// in WebSocket, or plain SPDY when the apiserver refuses WebSocket), `101` to kubectl,
    /// then one upstream stream pair per forwarded connection until kubectl stops, the pod
    /// side goes away, or the grant ends.
    #[allow(clippy::too_many_arguments)]
    async fn portforward_session(
        self: &Arc<Self>,
        mut req: Request<Incoming>,
        draft: Draft,
        deadline: Deadline,
        transport: PortForwardTransport,
        channel_ports: Option<jitgate_wire::portforward::WebSocketPorts>,
        port_check: Arc<dyn jitgate_session::portforward::PortCheck>,
        uri: http::Uri,
        headers: http::HeaderMap,
        started: Instant,
    ) -> Response<BoxBody> {
        // The client's family first (the apiserver passes plain SPDY through but translates the
        // WebSocket tunnel), the other when it is refused.
        let order = match transport {
            PortForwardTransport::Spdy => [UpstreamFamily::Spdy, UpstreamFamily::WebSocket],
            PortForwardTransport::Tunnel | PortForwardTransport::Channels(_) => {
                [UpstreamFamily::WebSocket, UpstreamFamily::Spdy]
            }
        };
        let opened = self
            .open_upstream_stream(
                &draft,
                started,
                order,
                "the port-forward",
                |family| match family {
                    UpstreamFamily::WebSocket => {
                        let (up, key) =
                            crate::session::upstream_tunnel_request(uri.clone(), headers.clone());
                        (up, Some(key))
                    }
                    UpstreamFamily::Spdy => (
                        crate::session::upstream_portforward_spdy_request(
                            uri.clone(),
                            headers.clone(),
                        ),
                        None,
                    ),
                },
                |answer, key| match key {
                    Some(key) => {
                        crate::session::accepted_upstream_tunnel(answer, key).map(|()| true)
                    }
                    None => Ok(false),
                },
            )
            .await;
        let (mut resp, tunnelled, fallback_note) = match opened {
            Ok(opened) => opened,
            Err(answered) => return answered,
        };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        let client_upgrade = hyper::upgrade::on(&mut req);
        let head = crate::session::portforward_switching_response(transport, req.headers());
        let gateway = Arc::clone(self);
        tokio::spawn(async move {
            let Some((client, upstream)) = both_upgraded(client_upgrade, upstream_upgrade).await
            else {
                return;
            };
            let upstream_conn = if tunnelled {
                let tunnel = jitgate_spdy::WebSocketTunnel::from_upgraded(
                    upstream,
                    jitgate_spdy::Role::Client,
                )
                .await;
                jitgate_spdy::Connection::client(tunnel)
            } else {
                jitgate_spdy::Connection::client(upstream)
            };
            let client_conn = match (transport, channel_ports) {
                (PortForwardTransport::Channels(protocol), Some(ports)) => {
                    // The plain WebSocket form: no SPDY towards the client.
                    let Ok(upstream_conn) = upstream_conn else {
                        tracing::warn!("port-forward session could not start upstream");
                        return;
                    };
                    let grant = draft.grant.clone().unwrap_or_default();
                    let guard = gateway.streams.register(&grant);
                    let mut cut = guard.cut.clone();
                    let started = Instant::now();
                    let upstream_name = if tunnelled {
                        "SPDY/3.1+portforward.k8s.io (WebSocket)"
                    } else {
                        "SPDY/3.1 portforward.k8s.io"
                    };
                    gateway
                        .write_audit(
                            &draft,
                            EventKind::StreamStart,
                            AuditDecision::Allow,
                            Some(&format!(
                                "the client speaks {} (WebSocket channels, ports {:?}), the apiserver {upstream_name}{fallback_note}",
                                protocol.name(),
                                ports.ports(),
                            )),
                            101,
                            0,
                            0,
                            started,
                        )
                        .await;
                    let summary = jitgate_session::portforward::run_channels(
                        client,
                        protocol,
                        ports,
                        upstream_conn,
                        Arc::clone(&port_check),
                        until_cut(&mut cut, &deadline),
                    )
                    .await;
                    gateway.portforward_ended(&draft, &summary, started).await;
                    drop(guard);
                    return;
                }
                (PortForwardTransport::Tunnel, _) => {
                    let tunnel = jitgate_spdy::WebSocketTunnel::from_upgraded(
                        client,
                        jitgate_spdy::Role::Server,
                    )
                    .await;
                    jitgate_spdy::Connection::server(tunnel)
                }
                (_, _) => jitgate_spdy::Connection::server(client),
            };
            let (client_conn, upstream_conn) = match (client_conn, upstream_conn) {
                (Ok(c), Ok(u)) => (c, u),
                (c, u) => {
                    tracing::warn!(
                        "port-forward session could not start: client {:?}, upstream {:?}",
                        c.err(),
                        u.err()
                    );
                    return;
                }
            };
            let client_name = match transport {
                PortForwardTransport::Tunnel => "SPDY/3.1+portforward.k8s.io (WebSocket)",
                _ => "SPDY/3.1 portforward.k8s.io",
            };
            let upstream_name = if tunnelled {
                "SPDY/3.1+portforward.k8s.io (WebSocket)"
            } else {
                "SPDY/3.1 portforward.k8s.io"
            };
            let grant = draft.grant.clone().unwrap_or_default();
            let guard = gateway.streams.register(&grant);
            let mut cut = guard.cut.clone();
            let started = Instant::now();
            gateway
                .write_audit(
                    &draft,
                    EventKind::StreamStart,
                    AuditDecision::Allow,
                    Some(&format!(
                        "kubectl speaks {client_name}, the apiserver {upstream_name}{fallback_note}"
                    )),
                    101,
                    0,
                    0,
                    started,
                )
                .await;
            let summary = jitgate_session::portforward::run(
                client_conn,
                upstream_conn,
                port_check,
                until_cut(&mut cut, &deadline),
            )
            .await;
            gateway.portforward_ended(&draft, &summary, started).await;
            drop(guard);
        });
        head
    }

    /// The `stream.end` line of a port-forward session.
    async fn portforward_ended(
        &self,
        draft: &Draft,
        summary: &jitgate_session::portforward::PortForwardSummary,
        started: Instant,
    ) {
        if summary.cut.is_some() {
            self.metrics.streams_cut(1);
        }
        let ports = summary
            .ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let why = match &summary.cut {
            Some(r) => format!(
                "{}: {}; {} connection(s) to port(s) {ports}",
                r.kind, r.message, summary.connections
            ),
            None => format!(
                "the port-forward ended; {} connection(s) to port(s) {ports}, {} refused",
                summary.connections, summary.refused
            ),
        };
        self.write_audit(
            draft,
            EventKind::StreamEnd,
            AuditDecision::Allow,
            Some(&why),
            200,
            summary.bytes_from_client,
            summary.bytes_to_client,
            started,
        )
        .await;
    }

    /// Copies an upgraded connection both ways until either side closes or the grant ends.
    ///
    /// In this pass-through mode the gateway cannot speak the stream's framing, so a cut closes
    /// both connections without a message on the stream; terminating the streams (and saying
    /// why on the error channel) is the next step.
    async fn splice(
        self: Arc<Self>,
        client: hyper::upgrade::OnUpgrade,
        upstream: hyper::upgrade::OnUpgrade,
        draft: Draft,
        deadline: Deadline,
    ) {
        let started = Instant::now();
        let Some((client, upstream)) = both_upgraded(client, upstream).await else {
            return;
        };
        let grant = draft.grant.clone().unwrap_or_default();
        let guard = self.streams.register(&grant);
        let mut cut = guard.cut.clone();
        let (client_read, client_write) = tokio::io::split(client);
        let (upstream_read, upstream_write) = tokio::io::split(upstream);
        let bytes_in = Arc::new(AtomicU64::new(0));
        let bytes_out = Arc::new(AtomicU64::new(0));
        let mut to_upstream = tokio::spawn(pump(client_read, upstream_write, bytes_in.clone()));
        let mut to_client = tokio::spawn(pump(upstream_read, client_write, bytes_out.clone()));
        let must_end = until_cut(&mut cut, &deadline);
        tokio::pin!(must_end);
        let mut ended_by = None;
        let mut upstream_done = false;
        loop {
            tokio::select! {
                // The client finished sending (e.g. stdin closed): keep delivering output.
                _ = &mut to_upstream, if !upstream_done => upstream_done = true,
                // The far end finished: nothing more will come for the client.
                _ = &mut to_client => break,
                reason = &mut must_end => { ended_by = Some(reason); break; }
            }
        }
        to_upstream.abort();
        to_client.abort();
        if ended_by.is_some() {
            self.metrics.streams_cut(1);
        }
        self.stream_ended(
            &draft,
            ended_by.as_ref(),
            bytes_in.load(Ordering::Relaxed),
            bytes_out.load(Ordering::Relaxed),
            started,
        )
        .await;
        drop(guard);
    }

    async fn pod_labels(
        &self,
        namespace: &str,
        pod: &str,
        shard: usize,
    ) -> Result<BTreeMap<String, String>, String> {
        self.upstream
            .object_labels(
                &format!("/api/v1/namespaces/{namespace}/pods/{pod}"),
                Some(shard),
            )
            .await?
            .ok_or_else(|| "the pod does not exist".to_owned())
    }

    async fn refuse(
        &self,
        draft: Draft,
        code: StatusCode,
        message: &str,
        outcome: Outcome,
        started: Instant,
    ) -> Response<BoxBody> {
        self.write_audit(
            &draft,
            EventKind::Request,
            AuditDecision::Deny,
            Some(message),
            code.as_u16(),
            0,
            0,
            started,
        )
        .await;
        self.metrics.record(outcome, started.elapsed());
        status_response(code, message)
    }

    fn upstream_failed(
        &self,
        draft: &Draft,
        err: &dyn std::fmt::Display,
        started: Instant,
    ) -> Response<BoxBody> {
        let msg = format!("jitgate could not reach the Kubernetes API server: {err}");
        self.metrics
            .record(Outcome::UpstreamError, started.elapsed());
        let event = audit_event(
            draft,
            EventKind::Response,
            AuditDecision::Allow,
            Some(&msg),
            502,
            0,
            0,
            started,
        );
        if let Err(e) = self.audit.write_relaxed(&event) {
            tracing::error!("writing the audit log failed: {e}");
            return status_response(StatusCode::SERVICE_UNAVAILABLE, AUDIT_DOWN);
        }
        status_response(StatusCode::BAD_GATEWAY, &msg)
    }

    /// Writes the allowed request's decision line; `None` when the audit log cannot take it, in
    /// which case nothing may be forwarded.
    fn record_decision(&self, draft: &Draft, started: Instant) -> Option<jitgate_audit::Ticket> {
        let event = audit_event(
            draft,
            EventKind::Request,
            AuditDecision::Allow,
            None,
            0,
            0,
            0,
            started,
        );
        match self.audit.write(&event) {
            Ok(ticket) => Some(ticket),
            Err(e) => {
                tracing::error!("writing the audit log failed: {e}");
                None
            }
        }
    }

    /// Which ports a port-forward under the grant of `profile` may open; `Err` with the message
    /// for the user when the session must be refused (a port of the plain WebSocket form the
    /// profile does not open, or a profile no longer in the policy).
    fn port_check(
        &self,
        policy: &jitgate_policy::Policy,
        profile: Option<&str>,
        channel_ports: &Option<jitgate_wire::portforward::WebSocketPorts>,
        draft: &Draft,
    ) -> Result<Arc<dyn jitgate_session::portforward::PortCheck>, String> {
        // Streams without a grant are refused later, with their own message.
        let Some(profile) = profile else {
            return Ok(Arc::new(jitgate_session::portforward::AnyPort));
        };
        let allowed = match policy.port_forward_ports(profile) {
            Ok(None) => return Ok(Arc::new(jitgate_session::portforward::AnyPort)),
            Ok(Some(allowed)) => allowed.clone(),
            Err(why) => return Err(format!("port-forward refused: {why}")),
        };
        let check = ProfilePorts {
            allowed,
            profile: profile.to_owned(),
            log: GuardAudit {
                audit: Arc::clone(&self.audit),
                draft: draft.clone(),
            },
        };
        let named = channel_ports.as_ref().map_or(&[][..], |p| p.ports());
        if let Some(&closed) = named.iter().find(|p| !check.allowed.allows(**p)) {
            return Err(check.refusal(closed));
        }
        Ok(Arc::new(check))
    }

    /// The check of a write to `pods/ephemeralcontainers` under the grant of `profile`:
    /// `Ok(None)` when the profile has no `debug` block (the body streams through unread),
    /// `Ok(Some(body))` with the body read and every container it adds allowed, `Err` with the
    /// status and message of the refusal.
    async fn debug_check(
        &self,
        policy: &jitgate_policy::Policy,
        profile: Option<&str>,
        req: &mut Request<Incoming>,
    ) -> Result<Option<Bytes>, (StatusCode, String)> {
        let forbidden = |msg: String| (StatusCode::FORBIDDEN, msg);
        let Some(profile) = profile else {
            return Err(forbidden(
                "kubectl debug needs a grant; request one with kubectl jit request".to_owned(),
            ));
        };
        let rules = match policy.debug_rules(profile) {
            Ok(None) => return Ok(None),
            Ok(Some(rules)) => rules,
            Err(why) => return Err(forbidden(format!("kubectl debug refused: {why}"))),
        };
        let header_text = |name: header::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if let Some(encoding) =
            header_text(header::CONTENT_ENCODING).filter(|e| !e.eq_ignore_ascii_case("identity"))
        {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "kubectl debug refused: jitgate reads debug container requests uncompressed, \
                     and this one is {encoding}-encoded; send it without Content-Encoding"
                ),
            ));
        }
        let content_type = header_text(header::CONTENT_TYPE);
        let kind = jitgate_guard::PatchKind::of(req.method().as_str(), content_type.as_deref())
            .map_err(|why| {
                (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("kubectl debug refused: {why}"),
                )
            })?;
        let mut body = Vec::new();
        while let Some(frame) = req.body_mut().frame().await {
            let frame = frame.map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("kubectl debug refused: the request body could not be read: {e}"),
                )
            })?;
            if let Ok(data) = frame.into_data() {
                if body.len() + data.len() > MAX_DEBUG_BODY {
                    return Err((
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "kubectl debug refused: the request body is larger than {} KiB, \
                             more than any debug container needs",
                            MAX_DEBUG_BODY / 1024
                        ),
                    ));
                }
                body.extend_from_slice(&data);
            }
        }
        jitgate_guard::check_debug_request(rules, profile, kind, &body).map_err(forbidden)?;
        Ok(Some(Bytes::from(body)))
    }

    /// Records what the apiserver answered to an allowed request (the decision line is
    /// already durable or being synced); `false` when the audit log could not take it, in which
    /// case the response must not reach the client.
    fn responded(&self, draft: &Draft, status: StatusCode, started: Instant) -> bool {
        self.metrics.record(Outcome::Allowed, started.elapsed());
        let event = audit_event(
            draft,
            EventKind::Response,
            AuditDecision::Allow,
            None,
            status.as_u16(),
            0,
            0,
            started,
        );
        match self.audit.write_relaxed(&event) {
            Ok(_) => true,
            Err(e) => {
                tracing::error!("writing the audit log failed: {e}");
                false
            }
        }
    }

    async fn stream_ended(
        &self,
        draft: &Draft,
        reason: Option<&CutReason>,
        bytes_in: u64,
        bytes_out: u64,
        started: Instant,
    ) {
        let why = reason.map(|r| format!("{}: {}", r.kind, r.message));
        self.write_audit(
            draft,
            EventKind::StreamEnd,
            AuditDecision::Allow,
            why.as_deref(),
            200,
            bytes_in,
            bytes_out,
            started,
        )
        .await;
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_audit(
        &self,
        d: &Draft,
        kind: EventKind,
        decision: AuditDecision,
        reason: Option<&str>,
        status: u16,
        bytes_in: u64,
        bytes_out: u64,
        started: Instant,
    ) -> bool {
        let e = audit_event(
            d, kind, decision, reason, status, bytes_in, bytes_out, started,
        );
        match self.audit.append_async(e).await {
            Ok(()) => true,
            Err(err) => {
                tracing::error!("writing the audit log failed: {err}");
                false
            }
        }
    }
}

/// The ports a port-forward session may open: its grant's profile's `portForward.ports`. Each
/// refused connection is audited (`stream.deny`); the session goes on.
struct ProfilePorts {
    allowed: jitgate_policy::PortAllowlist,
    profile: String,
    log: GuardAudit,
}

/// Where a guard acting inside a running session writes its decisions: the session's audit
/// fields, written through at once (the sync follows within the relaxed interval).
#[derive(Clone)]
struct GuardAudit {
    audit: Arc<jitgate_audit::AuditLog>,
    draft: Draft,
}

impl GuardAudit {
    /// One `stream.allow` / `stream.deny` line. A failed write is logged: a refusal stands
    /// either way.
    fn line(&self, kind: EventKind, decision: AuditDecision, reason: &str, status: u16) {
        let event = audit_event(
            &self.draft,
            kind,
            decision,
            Some(reason),
            status,
            0,
            0,
            Instant::now(),
        );
        if let Err(e) = self.audit.write_relaxed(&event) {
            tracing::error!("writing the audit log failed: {e}");
        }
    }
}

impl ProfilePorts {
    fn refusal(&self, port: u16) -> String {
        format!(
            "port-forward to port {port} refused: profile {} opens only port(s) {}; forward one \
             of those, or ask for port {port} to be added to the profile's portForward.ports in \
             the jitgate policy",
            self.profile, self.allowed
        )
    }
}

impl jitgate_session::portforward::PortCheck for ProfilePorts {
    fn check(&self, port: u16) -> Result<(), String> {
        if self.allowed.allows(port) {
            return Ok(());
        }
        let why = self.refusal(port);
        self.log
            .line(EventKind::StreamDeny, AuditDecision::Deny, &why, 403);
        Err(why)
    }
}

/// `exec.interactive: filter`: every line typed into an interactive shell is checked at Enter
/// by the exec guard's [`LineFilter`](jitgate_guard::LineFilter); each decision is audited
/// (`stream.allow` / `stream.deny`, with the line) before the shell gets its Enter, and a
/// refusal is explained on the person's terminal.
struct TypedLines {
    filter: jitgate_guard::LineFilter,
    log: GuardAudit,
}

impl TypedLines {
    fn verdict(
        &mut self,
        filtered: jitgate_guard::Filtered,
        close: bool,
    ) -> jitgate_session::Verdict {
        use jitgate_session::ExecFrame;
        use jitgate_wire::remotecommand::StreamType;
        for line in &filtered.allowed {
            self.log.line(
                EventKind::StreamAllow,
                AuditDecision::Allow,
                &format!("typed: {line}"),
                200,
            );
        }
        for why in &filtered.refused {
            self.log
                .line(EventKind::StreamDeny, AuditDecision::Deny, why, 403);
        }
        let (stream, newline) = if self.filter.tty() {
            (StreamType::Stdout, "\r\n")
        } else {
            (StreamType::Stderr, "\n")
        };
        let mut back: Vec<ExecFrame> = filtered
            .refused
            .iter()
            .map(|why| {
                ExecFrame::Data(
                    stream,
                    Bytes::from(format!("{newline}jitgate: {why}{newline}")),
                )
            })
            .collect();
        if filtered.discarded > 0 {
            back.push(ExecFrame::Data(
                stream,
                Bytes::from(format!(
                    "jitgate: {} byte(s) typed right after the refused line were not sent; type them again{newline}",
                    filtered.discarded
                )),
            ));
        }
        match filtered.dropped {
            Some(jitgate_guard::Dropped::Explain(why)) => back.push(ExecFrame::Data(
                stream,
                Bytes::from(format!("\x07{newline}jitgate: {why}{newline}")),
            )),
            Some(jitgate_guard::Dropped::Bell) => {
                back.push(ExecFrame::Data(stream, Bytes::from_static(b"\x07")));
            }
            None => {}
        }
        let mut onward = Vec::new();
        if !filtered.to_shell.is_empty() {
            onward.push(ExecFrame::Data(
                StreamType::Stdin,
                Bytes::from(filtered.to_shell),
            ));
        }
        if close {
            onward.push(ExecFrame::Close(StreamType::Stdin));
        }
        jitgate_session::Verdict::Replace { onward, back }
    }
}

impl jitgate_session::Observer for TypedLines {
    fn on_client_frame(&mut self, frame: &jitgate_session::ExecFrame) -> jitgate_session::Verdict {
        use jitgate_session::ExecFrame;
        use jitgate_wire::remotecommand::StreamType;
        match frame {
            ExecFrame::Data(StreamType::Stdin, bytes) => {
                let filtered = self.filter.push(bytes, Instant::now());
                self.verdict(filtered, false)
            }
            ExecFrame::Close(StreamType::Stdin) => {
                let filtered = self.filter.end();
                self.verdict(filtered, true)
            }
            _ => jitgate_session::Verdict::Forward,
        }
    }
}

/// `kubectl cp`'s upload: its stdin is a tar archive, read on its way to the pod by the exec
/// guard's [`UploadWatch`](jitgate_guard::UploadWatch); the first member that would land
/// outside the allowed directory ends the session before tar in the container sees it, and the
/// refusal is audited (`stream.deny`).
struct UploadGuard {
    watch: jitgate_guard::UploadWatch,
    profile: String,
    log: GuardAudit,
}

impl jitgate_session::Observer for UploadGuard {
    fn on_client_frame(&mut self, frame: &jitgate_session::ExecFrame) -> jitgate_session::Verdict {
        let jitgate_session::ExecFrame::Data(jitgate_wire::remotecommand::StreamType::Stdin, bytes) =
            frame
        else {
            return jitgate_session::Verdict::Forward;
        };
        match self.watch.push(bytes) {
            Ok(()) => jitgate_session::Verdict::Forward,
            Err(why) => {
                let message = format!("copy refused by profile {}: {why}", self.profile);
                self.log
                    .line(EventKind::StreamDeny, AuditDecision::Deny, &message, 403);
                jitgate_session::Verdict::End(CutReason {
                    kind: "refused",
                    message,
                })
            }
        }
    }
}

/// The audit line for a request or stream as far as `d` has it.
#[allow(clippy::too_many_arguments)]
fn audit_event(
    d: &Draft,
    kind: EventKind,
    decision: AuditDecision,
    reason: Option<&str>,
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    started: Instant,
) -> AuditEvent {
    let mut e = AuditEvent::new(kind);
    e.user = d.user.clone();
    e.groups = d.groups.clone();
    e.grant = d.grant.clone();
    e.session = Some(d.session.clone());
    e.verb = d.verb.clone();
    e.api_group = d.api_group.clone();
    e.resource = d
        .resource
        .clone()
        .or_else(|| (!d.path.is_empty()).then(|| d.path.clone()));
    e.namespace = d.namespace.clone();
    e.name = d.name.clone();
    e.subresource = d.subresource.clone();
    e.command = d.command.clone();
    e.decision = Some(decision);
    e.reason = reason.map(str::to_owned);
    e.status = (status != 0).then_some(status);
    e.bytes_in = (bytes_in > 0).then_some(bytes_in);
    e.bytes_out = (bytes_out > 0).then_some(bytes_out);
    e.latency_ms =
        (kind != EventKind::Request || status != 0).then(|| started.elapsed().as_millis() as u64);
    e.source_ip = d.source_ip;
    e.user_agent = d.user_agent.clone();
    e
}

/// Reads (and drops) at most 64 KiB of a refused upgrade's body within a second.
async fn drain_refusal(resp: Response<Incoming>) {
    let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024).collect();
    let _ = tokio::time::timeout(Duration::from_secs(1), body).await;
}

/// The two families of stream transports the apiserver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpstreamFamily {
    /// WebSocket (channel protocols; SPDY tunnelled in WebSocket for port-forward).
    WebSocket,
    /// Plain SPDY/3.1.
    Spdy,
}

impl UpstreamFamily {
    fn name(self) -> &'static str {
        match self {
            Self::WebSocket => "WebSocket",
            Self::Spdy => "SPDY",
        }
    }
}

/// What the gateway speaks to the apiserver for an exec or attach session.
#[derive(Debug, Clone, Copy)]
enum UpstreamExec {
    /// WebSocket with this channel protocol.
    WebSocket(jitgate_wire::channel::ChannelProtocol),
    /// SPDY/3.1, `v4.channel.k8s.io`.
    Spdy,
}

/// Grant ids of standing access (policy `standing:`) start with this; they live as long as the
/// credential and the policy entry.
pub const STANDING_PREFIX: &str = "standing:";

/// The standing access of `identity`'s groups as grants the authorizer can weigh with the real
/// ones: id `standing:<profile>`, valid while the credential is.
fn standing_grants(
    policy: &jitgate_policy::Policy,
    identity: &Identity,
    now: i64,
) -> Vec<jitgate_authz::Grant> {
    policy
        .standing_for(&identity.groups)
        .into_iter()
        .map(|s| jitgate_authz::Grant {
            id: jitgate_authz::GrantId(format!("{STANDING_PREFIX}{}", s.profile)),
            user: identity.user.clone(),
            profile: s.profile,
            namespaces: s.namespaces,
            pod_name_glob: None,
            pod_label_selector: None,
            expires_at: identity.expires_at.unwrap_or(now + 3600),
            created_by: format!("policy: standing access of {}", s.via_groups.join(", ")),
        })
        .collect()
}

/// Verbs that only read: their decision line may be synced while the request is upstream.
fn is_read_only(verb: &str) -> bool {
    matches!(verb, "get" | "list" | "watch")
}

/// The guards an allowed exec keeps on its stdin while it runs.
#[derive(Debug, Default)]
struct StdinGuards {
    /// The grant's profile, for their messages.
    profile: String,
    /// kubectl cp's upload: the archive must stay in its directory.
    upload: Option<jitgate_guard::UploadWatch>,
    /// An interactive shell under `exec.interactive: filter`.
    lines: Option<jitgate_guard::LineFilter>,
}

/// The exec guard's decision for a command line under the grant of `profile`, with the guards
/// its stdin needs; `Err` is the message for the person.
fn exec_check(
    policy: &jitgate_policy::Policy,
    profile: Option<&str>,
    command: &[String],
    tty: bool,
) -> Result<StdinGuards, String> {
    // An exec without a grant is refused later, with its own message.
    let Some(profile) = profile else {
        return Ok(StdinGuards::default());
    };
    match policy.exec_rules(profile) {
        Ok(None) => Ok(StdinGuards::default()),
        Ok(Some(rules)) => {
            let approval = jitgate_guard::check_exec(
                rules,
                profile,
                jitgate_guard::ExecRequest { command, tty },
            )?;
            Ok(StdinGuards {
                profile: profile.to_owned(),
                upload: approval
                    .copy_into
                    .map(|dir| jitgate_guard::UploadWatch::new(&dir)),
                lines: approval
                    .filter_lines
                    .then(|| jitgate_guard::LineFilter::new(rules.clone(), profile, tty)),
            })
        }
        Err(why) => Err(format!("exec refused: {why}")),
    }
}

/// The largest body of a write to `pods/ephemeralcontainers` the gateway reads to check it.
const MAX_DEBUG_BODY: usize = 1024 * 1024;

/// One end of an upgraded (101) connection.
type UpgradedIo = TokioIo<hyper::upgrade::Upgraded>;

/// Both ends of an upgraded connection, once the client's and the apiserver's 101 have taken
/// effect; `None` (logged) when either failed, e.g. the client left in between.
async fn both_upgraded(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
) -> Option<(UpgradedIo, UpgradedIo)> {
    match tokio::join!(client, upstream) {
        (Ok(c), Ok(u)) => Some((TokioIo::new(c), TokioIo::new(u))),
        (c, u) => {
            tracing::debug!(
                "upgrade failed: client {:?}, upstream {:?}",
                c.err(),
                u.err()
            );
            None
        }
    }
}

/// Resolves, with the reason to tell the user, once a stream must end: its grant was revoked
/// (or the gateway is shutting down), or its deadline passed.
async fn until_cut(cut: &mut watch::Receiver<Option<CutReason>>, deadline: &Deadline) -> CutReason {
    let registry = async {
        loop {
            if let Some(reason) = cut.borrow_and_update().clone() {
                return reason;
            }
            if cut.changed().await.is_err() {
                // The registry entry is gone; only the deadline can end the stream now.
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        reason = registry => reason,
        () = tokio::time::sleep_until(deadline.instant()) => deadline.reason.clone(),
    }
}

/// Copies `from` into `to`, counting bytes, and shuts `to` down at the end.
async fn pump<R, W>(mut from: R, mut to: W, count: Arc<AtomicU64>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                count.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
    let _ = to.shutdown().await;
}

fn expired_reason(grant: &str, expires_at: i64) -> CutReason {
    CutReason {
        kind: "expired",
        message: format!(
            "access expired at {} (grant {grant}); run kubectl jit request to continue",
            rfc3339(expires_at)
        ),
    }
}

fn cut_reason(grant: &jitgate_store::Grant) -> CutReason {
    if let Some(at) = grant.revoked_at {
        let by = grant.revoked_by.as_deref().unwrap_or("an approver");
        let why = grant
            .revoke_reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        return CutReason {
            kind: "revoked",
            message: format!(
                "access revoked at {} by {by} (grant {}){why}; run kubectl jit request to continue",
                rfc3339(at),
                grant.id.as_str()
            ),
        };
    }
    expired_reason(grant.id.as_str(), grant.expires_at)
}

/// When a stream must end and what the user is told then: the earlier of the grant's expiry and
/// the expiry of the credential the stream was opened with.
#[derive(Debug, Clone)]
struct Deadline {
    at: i64,
    reason: CutReason,
}

impl Deadline {
    fn new(grant: &str, grant_expires_at: i64, credential_expires_at: Option<i64>) -> Self {
        match credential_expires_at {
            Some(c) if c < grant_expires_at => Self {
                at: c,
                reason: CutReason {
                    kind: "credential-expired",
                    message: format!(
                        "your jitgate credential expired at {}; run kubectl jit login, then reconnect",
                        rfc3339(c)
                    ),
                },
            },
            _ => Self {
                at: grant_expires_at,
                reason: expired_reason(grant, grant_expires_at),
            },
        }
    }

    fn instant(&self) -> tokio::time::Instant {
        deadline_instant(self.at)
    }
}

fn deadline_instant(expires_at: i64) -> tokio::time::Instant {
    let left = expires_at.saturating_sub(unix_now()).max(0) as u64;
    tokio::time::Instant::now() + Duration::from_secs(left)
}

fn upgrade_value(req: &Request<Incoming>) -> Option<HeaderValue> {
    let wants = req
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        });
    if !wants || req.method() == Method::CONNECT {
        return None;
    }
    req.headers().get(header::UPGRADE).cloned()
}

fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
}

fn query_values(query: Option<&str>, key: &str) -> Vec<String> {
    query_pairs(query)
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

/// A boolean query parameter as Kubernetes reads it: present and not `0`, `f` or `false`
/// (any case) means true — a bare `?follow` included.
fn query_flag(query: Option<&str>, key: &str) -> bool {
    query_pairs(query)
        .find(|(k, _)| k == key)
        .is_some_and(|(_, v)| {
            !(v == "0" || v.eq_ignore_ascii_case("f") || v.eq_ignore_ascii_case("false"))
        })
}

async fn build_snapshot(
    store: &dyn jitgate_store::GrantStore,
) -> Result<AuthzSnapshot, jitgate_store::StoreError> {
    let now = unix_now();
    let grants = store.active_grants(now).await?;
    let mut ids = HashSet::new();
    let mut next_expiry: Option<i64> = None;
    let mut authz = Vec::with_capacity(grants.len());
    for g in grants {
        ids.insert(g.id.as_str().to_owned());
        next_expiry = Some(next_expiry.map_or(g.expires_at, |n| n.min(g.expires_at)));
        authz.extend(to_authz_grant(&g));
    }
    Ok(AuthzSnapshot {
        index: jitgate_authz::GrantIndex::new(authz),
        ids,
        next_expiry,
    })
}

fn to_authz_grant(g: &jitgate_store::Grant) -> Option<jitgate_authz::Grant> {
    let pod_label_selector = match g
        .pod_label_selector
        .as_deref()
        .map(jitgate_authz::LabelSelector::parse)
    {
        None => None,
        Some(Ok(sel)) => Some(sel),
        Some(Err(e)) => {
            // A selector that does not parse must not widen the grant: leave the grant out.
            tracing::warn!(
                grant = g.id.as_str(),
                "ignoring grant with an unusable label selector: {e}"
            );
            return None;
        }
    };
    Some(jitgate_authz::Grant {
        id: jitgate_authz::GrantId(g.id.as_str().to_owned()),
        user: g.user.clone(),
        profile: g.profile.clone(),
        namespaces: g.namespaces.clone(),
        pod_name_glob: g.pod_name_glob.clone(),
        pod_label_selector,
        expires_at: g.expires_at,
        created_by: g.created_by.clone(),
    })
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Frame<Bytes>, BodyError>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, BodyError>> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
