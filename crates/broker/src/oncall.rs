//! Asking whether a requester is on call, for the policy's `onlyWhileOnCall`: a schedule file
//! (read again whenever it changes on disk) or PagerDuty. Anything that prevents a clear answer
//! is "unknown", which never auto-approves.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use jitgate_oncall::{MAX_SCHEDULE_BYTES, OnCallSource, PagerDutyClient, Schedule, Timestamp};
use jitgate_policy::{OnCallAnswer, Policy};

/// A schedule file as last read, and how to tell whether it changed since.
#[derive(Debug, Clone)]
struct CachedFile {
    modified: Option<SystemTime>,
    len: u64,
    schedule: Arc<Schedule>,
}

/// Answers on-call questions for the schedules of whatever policy is in force.
#[derive(Debug)]
pub(crate) struct OnCallResolver {
    policy_path: PathBuf,
    pagerduty: Option<PagerDutyClient>,
    files: Arc<Mutex<HashMap<PathBuf, CachedFile>>>,
}

impl OnCallResolver {
    pub(crate) fn new(policy_path: PathBuf, pagerduty: Option<PagerDutyClient>) -> Self {
        Self {
            policy_path,
            pagerduty,
            files: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Whether `user` is on call for the policy's schedule `name` at `at` (unix seconds).
    pub(crate) async fn answer(
        &self,
        policy: &Policy,
        name: &str,
        user: &str,
        at: i64,
    ) -> OnCallAnswer {
        let Some(spec) = policy.schedules().iter().find(|s| s.name == name) else {
            return OnCallAnswer::Unknown(format!("the policy names no schedule {name:?}"));
        };
        let when = match Timestamp::from_second(at) {
            Ok(t) => t,
            Err(e) => return OnCallAnswer::Unknown(format!("the clock reads {at}: {e}")),
        };
        let source = if let Some(path) = spec.resolve_file(&self.policy_path) {
            return match self.schedule_file(path).await {
                Ok(schedule) if schedule.is_on_call(user, when) => OnCallAnswer::Yes,
                Ok(_) => OnCallAnswer::No,
                Err(reason) => OnCallAnswer::Unknown(reason),
            };
        } else if let Some(pagerduty) = &spec.pagerduty {
            let Some(client) = &self.pagerduty else {
                return OnCallAnswer::Unknown(format!(
                    "schedule {name} is a PagerDuty schedule, and the gateway has no PagerDuty \
                     API key configured"
                ));
            };
            match client.schedule(&pagerduty.schedule_id) {
                Ok(schedule) => OnCallSource::PagerDuty(schedule),
                Err(e) => return OnCallAnswer::Unknown(e.to_string()),
            }
        } else {
            return OnCallAnswer::Unknown(format!(
                "schedule {name} names neither a file nor a PagerDuty schedule"
            ));
        };
        match source.is_on_call(user, when).await {
            jitgate_oncall::OnCallAnswer::Yes => OnCallAnswer::Yes,
            jitgate_oncall::OnCallAnswer::No => OnCallAnswer::No,
            jitgate_oncall::OnCallAnswer::Unknown(e) => OnCallAnswer::Unknown(e.to_string()),
        }
    }

    /// The schedule in `path`, read again if its size or modification time changed.
    async fn schedule_file(&self, path: PathBuf) -> Result<Arc<Schedule>, String> {
        let files = Arc::clone(&self.files);
        tokio::task::spawn_blocking(move || load_cached(&files, &path))
            .await
            .map_err(|e| format!("reading the schedule file failed: {e}"))?
    }
}

fn load_cached(
    files: &Mutex<HashMap<PathBuf, CachedFile>>,
    path: &Path,
) -> Result<Arc<Schedule>, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the schedule file {shown}: {e}"))?;
    let modified = meta.modified().ok();
    {
        let cache = files.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(hit) = cache.get(path)
            && hit.len == meta.len()
            && hit.modified == modified
            && modified.is_some()
        {
            return Ok(Arc::clone(&hit.schedule));
        }
    }
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read the schedule file {shown}: {e}"))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_SCHEDULE_BYTES).unwrap_or(u64::MAX) + 1;
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the schedule file {shown}: {e}"))?;
    if bytes.len() > MAX_SCHEDULE_BYTES {
        return Err(format!(
            "the schedule file {shown} is larger than {MAX_SCHEDULE_BYTES} bytes"
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("the schedule file {shown} is not UTF-8 text"))?;
    let schedule =
        Arc::new(Schedule::parse(&text).map_err(|e| format!("the schedule file {shown}: {e}"))?);
    files.lock().unwrap_or_else(PoisonError::into_inner).insert(
        path.to_path_buf(),
        CachedFile {
            modified,
            len: meta.len(),
            schedule: Arc::clone(&schedule),
        },
    );
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_with(schedule: &str) -> Policy {
        let text = format!(
            "apiVersion: jitgate.dev/v1\nkind: Policy\nprofiles:\n  - name: p\n    rules:\n      - \
             apiGroups: ['']\n        resources: [pods]\n        verbs: [get]\n    scope:\n      \
             namespaces: [payments]\n    defaultDuration: 30m\n    maxDuration: 1h\n    \
             requesters: [oncall]\n    approval:\n      autoApprove:\n        groups: [oncall]\n        \
             onlyWhileOnCall: primary\n      approverGroups: [leads]\nschedules:\n  - name: primary\n    \
             {schedule}\n"
        );
        Policy::parse(&text).unwrap()
    }

    const AT: i64 = 1_780_000_000;

    #[tokio::test]
    async fn file_schedules_answer_and_follow_edits_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let policy_path = dir.path().join("policy.yaml");
        std::fs::create_dir(dir.path().join("oncall")).unwrap();
        let file = dir.path().join("oncall/primary.yaml");
        let write = |user: &str| {
            std::fs::write(
                &file,
                format!(
                    "timezone: UTC\nrotations:\n  - users: [{user}]\n    start: 2026-01-05T09:00:00Z\n    length: 1w\n"
                ),
            )
            .unwrap();
        };
        write("alice");
        let policy = policy_with("file: oncall/primary.yaml");
        let resolver = OnCallResolver::new(policy_path, None);
        assert_eq!(
            resolver.answer(&policy, "primary", "alice", AT).await,
            OnCallAnswer::Yes
        );
        assert_eq!(
            resolver.answer(&policy, "primary", "bob", AT).await,
            OnCallAnswer::No
        );
        // A longer file is a different file, whatever the clock's resolution.
        write("bobby");
        assert_eq!(
            resolver.answer(&policy, "primary", "bobby", AT).await,
            OnCallAnswer::Yes
        );
        std::fs::write(&file, "timezone: Mars/Olympus\n").unwrap();
        let broken = resolver.answer(&policy, "primary", "bobby", AT).await;
        assert!(
            matches!(&broken, OnCallAnswer::Unknown(why) if why.contains("primary.yaml")),
            "{broken:?}"
        );
        std::fs::remove_file(&file).unwrap();
        let gone = resolver.answer(&policy, "primary", "bobby", AT).await;
        assert!(
            matches!(&gone, OnCallAnswer::Unknown(why) if why.contains("cannot read")),
            "{gone:?}"
        );
    }

    #[tokio::test]
    async fn sources_that_cannot_answer_are_unknown() {
        let resolver = OnCallResolver::new(PathBuf::from("/nonexistent/policy.yaml"), None);
        let pagerduty = policy_with("pagerduty: { scheduleId: P1AB2CD }");
        let cases: Vec<(&str, &Policy, &str, &str)> = vec![
            (
                "no PagerDuty key",
                &pagerduty,
                "primary",
                "no PagerDuty API key",
            ),
            (
                "unknown schedule",
                &pagerduty,
                "secondary",
                "names no schedule",
            ),
        ];
        for (name, policy, schedule, want) in cases {
            match resolver.answer(policy, schedule, "alice", AT).await {
                OnCallAnswer::Unknown(why) => assert!(why.contains(want), "{name}: {why}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    /// A PagerDuty-shaped service on 127.0.0.1 answering `GET /oncalls` with `oncall` as the
    /// person on call for schedule P1AB2CD (or nobody, or 500).
    async fn pagerduty_service(oncall: Option<&'static str>, fail: bool) -> String {
        use http_body_util::Full;
        use hyper::body::Bytes;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| async move {
                            let query = req.uri().query().unwrap_or("").to_owned();
                            let auth = req
                                .headers()
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned();
                            let (status, body) = if fail {
                                (500, "{}".to_owned())
                            } else if req.uri().path() != "/oncalls"
                                || !query.contains("schedule_ids%5B%5D=P1AB2CD")
                                || auth != "Token token=pd-test-key"
                            {
                                (
                                    400,
                                    format!(
                                        "{{\"error\":\"unexpected {} {query} {auth}\"}}",
                                        req.uri().path()
                                    ),
                                )
                            } else {
                                let oncalls = oncall.map_or(String::new(), |email| format!(
                                "{{\"user\":{{\"id\":\"PU1\",\"summary\":\"x\",\"email\":\"{email}\"}},\
                                 \"schedule\":{{\"id\":\"P1AB2CD\"}},\"escalation_level\":1,\
                                 \"start\":\"2020-01-01T00:00:00Z\",\"end\":\"2099-01-01T00:00:00Z\"}}"
                            ));
                                (
                                    200,
                                    format!(
                                        "{{\"oncalls\":[{oncalls}],\"limit\":25,\"offset\":0,\"more\":false}}"
                                    ),
                                )
                            };
                            let mut resp = hyper::Response::new(Full::new(Bytes::from(body)));
                            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(resp)
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn pagerduty_client(base_url: String) -> PagerDutyClient {
        let mut config = jitgate_oncall::PagerDutyConfig::new("pd-test-key");
        config.base_url = base_url;
        config.cache_ttl = std::time::Duration::ZERO;
        PagerDutyClient::new(&config).unwrap()
    }

    #[tokio::test]
    async fn pagerduty_schedules_are_asked_through_the_api() {
        let policy = policy_with("pagerduty: { scheduleId: P1AB2CD }");
        let on_call = OnCallResolver::new(
            PathBuf::from("/nonexistent/policy.yaml"),
            Some(pagerduty_client(
                pagerduty_service(Some("alice@example.com"), false).await,
            )),
        );
        assert_eq!(
            on_call
                .answer(&policy, "primary", "alice@example.com", AT)
                .await,
            OnCallAnswer::Yes
        );
        assert_eq!(
            on_call
                .answer(&policy, "primary", "bob@example.com", AT)
                .await,
            OnCallAnswer::No
        );
        let nobody = OnCallResolver::new(
            PathBuf::from("/nonexistent/policy.yaml"),
            Some(pagerduty_client(pagerduty_service(None, false).await)),
        );
        assert_eq!(
            nobody
                .answer(&policy, "primary", "alice@example.com", AT)
                .await,
            OnCallAnswer::No
        );
        let broken = OnCallResolver::new(
            PathBuf::from("/nonexistent/policy.yaml"),
            Some(pagerduty_client(pagerduty_service(None, true).await)),
        );
        assert!(matches!(
            broken
                .answer(&policy, "primary", "alice@example.com", AT)
                .await,
            OnCallAnswer::Unknown(_)
        ));
    }
}
