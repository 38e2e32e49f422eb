//! A client for PagerDuty's REST API v2 on-calls endpoint: who is on call for a schedule.
//!
//! It sends `GET {base}/oncalls?schedule_ids[]=ID&since=T&until=T+ttl&earliest=true&include[]=users&limit=100&offset=N`
//! with `Authorization: Token token=KEY` and `Accept: application/vnd.pagerduty+json;version=2`,
//! and reads `{"oncalls": [{"user": {...}, "schedule": {"id": ...}, "escalation_level": 1,
//! "start": ..., "end": ...}], "more": false}`, following `more: true` with `offset`.
//! `include[]=users` makes PagerDuty return full user objects, which carry `email`; plain user
//! references do not.
//!
//! One answer covers a window `[since, since + cache_ttl]`: PagerDuty returns every on-call
//! overlapping it and the client picks the ones covering the instant asked about, so a cached
//! answer is exact for any instant in the window and at most `cache_ttl` old.
//!
//! Anything that prevents a clear answer (timeout, non-200, malformed or oversized body, too
//! many pages, a covering entry without an email) is an error, which
//! [`PagerDutySchedule::is_on_call`] reports as [`OnCallAnswer::Unknown`]: never as on call.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use jiff::Timestamp;
use serde::Deserialize;

use crate::http_client::{self, BaseUrl, HttpClient};
use crate::schedule::same_user;
use crate::{OnCallAnswer, OnCallError};

/// PagerDuty's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.pagerduty.com";
/// How long one lookup (every page of it) may take before the answer is unknown.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an answer is reused.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(30);
/// The largest response body read, per page.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most pages read for one lookup.
pub const DEFAULT_MAX_PAGES: usize = 10;
/// Entries asked for per page (PagerDuty's maximum).
const PAGE_LIMIT: usize = 100;
/// The most schedules whose answers are cached at once.
const MAX_CACHED_SCHEDULES: usize = 1_024;
/// The longest schedule id accepted (PagerDuty's are 7 characters).
const MAX_SCHEDULE_ID_LEN: usize = 64;

/// How to reach a PagerDuty-style on-call API.
#[derive(Clone)]
pub struct PagerDutyConfig {
    /// `https://api.pagerduty.com` (the default), a proxy with a path prefix, or `http://` to a
    /// loopback address for tests. Any other plain-http URL is refused.
    pub base_url: String,
    /// A REST API key, sent as `Authorization: Token token=KEY`. Never printed.
    pub api_token: String,
    /// PEM certificates to trust instead of the bundled Mozilla roots (for a proxy with a
    /// private CA).
    pub ca_pem: Option<Vec<u8>>,
    /// Time allowed for a whole lookup, every page included.
    pub timeout: Duration,
    /// How long an answer is reused.
    pub cache_ttl: Duration,
    /// The largest response body read, per page.
    pub max_body_bytes: usize,
    /// The most pages read for one lookup.
    pub max_pages: usize,
}

impl PagerDutyConfig {
    /// The defaults, against PagerDuty's public API, with this API key.
    pub fn new(api_token: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            api_token: api_token.into(),
            ca_pem: None,
            timeout: DEFAULT_TIMEOUT,
            cache_ttl: DEFAULT_CACHE_TTL,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_pages: DEFAULT_MAX_PAGES,
        }
    }
}

impl fmt::Debug for PagerDutyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagerDutyConfig")
            .field("base_url", &self.base_url)
            .field("api_token", &"<redacted>")
            .field(
                "ca_pem",
                &self.ca_pem.as_ref().map(|p| format!("{} bytes", p.len())),
            )
            .field("timeout", &self.timeout)
            .field("cache_ttl", &self.cache_ttl)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_pages", &self.max_pages)
            .finish()
    }
}

/// One on-call entry of a schedule, as PagerDuty reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagerDutyOnCall {
    /// PagerDuty's user id.
    pub user_id: String,
    /// The user's name (`summary`), if given.
    pub user_name: Option<String>,
    /// The user's email; present when the token may read users (the client asks for
    /// `include[]=users`).
    pub email: Option<String>,
    /// The escalation level this on-call serves.
    pub escalation_level: Option<u32>,
    /// Start (inclusive); `None` means since forever.
    pub start: Option<Timestamp>,
    /// End (exclusive); `None` means until further notice.
    pub end: Option<Timestamp>,
}

impl PagerDutyOnCall {
    fn covers(&self, at: Timestamp) -> bool {
        self.start.is_none_or(|s| s <= at) && self.end.is_none_or(|e| at < e)
    }
}

/// A connection pool, credentials and answer cache for one PagerDuty account. Cheap to clone.
#[derive(Clone)]
pub struct PagerDutyClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    http: HttpClient,
    base: BaseUrl,
    authorization: HeaderValue,
    timeout: Duration,
    cache_ttl: Duration,
    max_body_bytes: usize,
    max_pages: usize,
    cache: Mutex<HashMap<String, CachedWindow>>,
}

#[derive(Debug, Clone)]
struct CachedWindow {
    fetched: Instant,
    since: Timestamp,
    until: Timestamp,
    entries: Arc<Vec<PagerDutyOnCall>>,
}

impl fmt::Debug for PagerDutyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagerDutyClient")
            .field("base_url", &self.inner.base.origin)
            .field("timeout", &self.inner.timeout)
            .field("cache_ttl", &self.inner.cache_ttl)
            .finish_non_exhaustive()
    }
}

impl PagerDutyClient {
    /// Validates the configuration and builds the client (no request is made yet).
    pub fn new(config: &PagerDutyConfig) -> Result<Self, OnCallError> {
        let base = BaseUrl::parse(&config.base_url)?;
        let token = config.api_token.trim();
        if token.is_empty() {
            return Err(OnCallError::InvalidConfig {
                field: "api_token",
                problem: "the API token is empty; create a read-only REST API key in PagerDuty"
                    .into(),
            });
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Token token={token}")).map_err(|_| {
                OnCallError::InvalidConfig {
                field: "api_token",
                problem:
                    "the API token contains characters not allowed in an HTTP header; copy it again"
                        .into(),
            }
            })?;
        authorization.set_sensitive(true);
        if config.timeout.is_zero() {
            return Err(OnCallError::InvalidConfig {
                field: "timeout",
                problem: "the timeout is zero; use e.g. 2s".into(),
            });
        }
        if config.max_pages == 0 || config.max_body_bytes == 0 {
            return Err(OnCallError::InvalidConfig {
                field: "max_pages",
                problem: "max_pages and max_body_bytes must be at least 1".into(),
            });
        }
        let http = http_client::build(config.ca_pem.as_deref(), config.timeout)?;
        Ok(Self {
            inner: Arc::new(ClientInner {
                http,
                base,
                authorization,
                timeout: config.timeout,
                cache_ttl: config.cache_ttl,
                max_body_bytes: config.max_body_bytes,
                max_pages: config.max_pages,
                cache: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// A handle on one schedule of this account (shares the pool and the cache).
    pub fn schedule(
        &self,
        schedule_id: impl Into<String>,
    ) -> Result<PagerDutySchedule, OnCallError> {
        let id = schedule_id.into();
        let id = id.trim();
        if id.is_empty()
            || id.len() > MAX_SCHEDULE_ID_LEN
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(OnCallError::InvalidConfig {
                field: "schedule_id",
                problem: format!(
                    "{id:?} is not a PagerDuty schedule id; copy it from the schedule's URL \
                     (e.g. PI7DH85)"
                ),
            });
        }
        Ok(PagerDutySchedule {
            client: self.clone(),
            id: id.to_owned(),
        })
    }
}

/// One PagerDuty schedule: ask who is on call, or whether someone is.
#[derive(Debug, Clone)]
pub struct PagerDutySchedule {
    client: PagerDutyClient,
    id: String,
}

impl PagerDutySchedule {
    /// The schedule id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The on-call entries of this schedule covering `at` (from the cache when it can answer).
    pub async fn on_call_at(&self, at: Timestamp) -> Result<Vec<PagerDutyOnCall>, OnCallError> {
        let window = self.window_for(at).await?;
        Ok(window
            .entries
            .iter()
            .filter(|e| e.covers(at))
            .cloned()
            .collect())
    }

    /// Whether the user with this email is on call for the schedule at `at`.
    ///
    /// [`OnCallAnswer::Yes`] only when a covering entry's email matches (ASCII case aside);
    /// [`OnCallAnswer::Unknown`] when the service could not answer, or when nobody matched but
    /// some covering entry had no email to compare.
    pub async fn is_on_call(&self, user_email: &str, at: Timestamp) -> OnCallAnswer {
        let user = user_email.trim();
        if user.is_empty() {
            return OnCallAnswer::No;
        }
        let entries = match self.on_call_at(at).await {
            Ok(entries) => entries,
            Err(e) => return OnCallAnswer::Unknown(e),
        };
        if entries
            .iter()
            .any(|e| e.email.as_deref().is_some_and(|m| same_user(m, user)))
        {
            return OnCallAnswer::Yes;
        }
        let unidentified = entries.iter().filter(|e| e.email.is_none()).count();
        if unidentified > 0 {
            return OnCallAnswer::Unknown(OnCallError::UnidentifiedOnCall {
                count: unidentified,
            });
        }
        OnCallAnswer::No
    }

    async fn window_for(&self, at: Timestamp) -> Result<CachedWindow, OnCallError> {
        let inner = &self.client.inner;
        if let Some(hit) = self.cached(at) {
            return Ok(hit);
        }
        // Whole seconds: PagerDuty's times have no fractions.
        let since =
            Timestamp::from_second(at.as_second()).map_err(|e| OnCallError::BadResponse {
                problem: format!("the instant {at} cannot be used: {e}"),
            })?;
        let ttl = inner.cache_ttl.max(Duration::from_secs(1));
        let until = since
            .checked_add(ttl)
            .map_err(|e| OnCallError::BadResponse {
                problem: format!("the instant {at} cannot be used: {e}"),
            })?;
        let entries = tokio::time::timeout(inner.timeout, self.fetch(since, until))
            .await
            .map_err(|_| OnCallError::Timeout {
                after: inner.timeout,
            })??;
        let window = CachedWindow {
            fetched: Instant::now(),
            since,
            until,
            entries: Arc::new(entries),
        };
        if !inner.cache_ttl.is_zero() {
            self.remember(window.clone());
        }
        Ok(window)
    }

    fn cached(&self, at: Timestamp) -> Option<CachedWindow> {
        let inner = &self.client.inner;
        let cache = inner.cache.lock().ok()?;
        let hit = cache.get(&self.id)?;
        (hit.fetched.elapsed() < inner.cache_ttl && hit.since <= at && at <= hit.until)
            .then(|| hit.clone())
    }

    fn remember(&self, window: CachedWindow) {
        let inner = &self.client.inner;
        let Ok(mut cache) = inner.cache.lock() else {
            return;
        };
        if cache.len() >= MAX_CACHED_SCHEDULES && !cache.contains_key(&self.id) {
            cache.retain(|_, w| w.fetched.elapsed() < inner.cache_ttl);
            if cache.len() >= MAX_CACHED_SCHEDULES {
                cache.clear();
            }
        }
        cache.insert(self.id.clone(), window);
    }

    /// Every page of on-calls overlapping `[since, until]`.
    async fn fetch(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<PagerDutyOnCall>, OnCallError> {
        let inner = &self.client.inner;
        let mut entries = Vec::new();
        let mut offset = 0usize;
        for _ in 0..inner.max_pages {
            let page = self.fetch_page(since, until, offset).await?;
            let received = page.oncalls.len();
            for raw in page.oncalls {
                if let Some(entry) = raw.into_entry(&self.id)? {
                    entries.push(entry);
                }
            }
            if !page.more {
                return Ok(entries);
            }
            if received == 0 {
                return Err(OnCallError::BadResponse {
                    problem: "a page with no entries says there are more (`more: true`)".into(),
                });
            }
            offset = offset.saturating_add(received);
        }
        Err(OnCallError::TooManyPages {
            max_pages: inner.max_pages,
        })
    }

    async fn fetch_page(
        &self,
        since: Timestamp,
        until: Timestamp,
        offset: usize,
    ) -> Result<Page, OnCallError> {
        let inner = &self.client.inner;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("schedule_ids[]", &self.id)
            .append_pair("since", &since.to_string())
            .append_pair("until", &until.to_string())
            .append_pair("earliest", "true")
            .append_pair("include[]", "users")
            .append_pair("limit", &PAGE_LIMIT.to_string())
            .append_pair("offset", &offset.to_string())
            .finish();
        let uri = format!("{}{}/oncalls?{query}", inner.base.origin, inner.base.prefix);
        let request = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(AUTHORIZATION, inner.authorization.clone())
            .header(ACCEPT, "application/vnd.pagerduty+json;version=2")
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("jitgate-oncall/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::new()))
            .map_err(|source| OnCallError::BuildRequest { source })?;
        let response =
            inner
                .http
                .request(request)
                .await
                .map_err(|source| OnCallError::Request {
                    endpoint: inner.base.origin.clone(),
                    source,
                })?;
        let status = response.status();
        let body = Limited::new(response.into_body(), inner.max_body_bytes)
            .collect()
            .await
            .map_err(|e| OnCallError::Body {
                problem: if e.is::<http_body_util::LengthLimitError>() {
                    format!("the body is larger than {} bytes", inner.max_body_bytes)
                } else {
                    e.to_string()
                },
            })?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(OnCallError::Status {
                status: status.as_u16(),
                hint: status_hint(status, &body),
            });
        }
        serde_json::from_slice(&body).map_err(|source| OnCallError::MalformedJson { source })
    }
}

/// What a non-200 status usually means, with PagerDuty's own message when it sent one.
fn status_hint(status: StatusCode, body: &[u8]) -> String {
    let hint = match status.as_u16() {
        400 => "the query was rejected; check the schedule id",
        401 => "the API token was refused; check it (a REST API key)",
        403 => "the API token may not read on-calls; give it read access",
        404 => "not found; check base_url and the schedule id",
        429 => "rate limited; answers are unknown until the limit resets",
        500..=599 => "the on-call service failed; it may recover shortly",
        _ => "unexpected status",
    };
    #[derive(Deserialize)]
    struct ErrorBody {
        error: ErrorDetail,
    }
    #[derive(Deserialize)]
    struct ErrorDetail {
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => {
            let message: String = b
                .error
                .message
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            format!("{hint} (service said: {message})")
        }
        Err(_) => hint.to_owned(),
    }
}

#[derive(Debug, Deserialize)]
struct Page {
    oncalls: Vec<RawOnCall>,
    #[serde(default)]
    more: bool,
}

#[derive(Debug, Deserialize)]
struct RawOnCall {
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    schedule: Option<RawReference>,
    #[serde(default)]
    escalation_level: Option<u32>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawUser {
    id: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawReference {
    id: String,
}

impl RawOnCall {
    /// The entry, if it belongs to `schedule_id`. Entries of other schedules (or of none: direct
    /// user targets of an escalation policy) are not this schedule's on-calls and are skipped.
    fn into_entry(self, schedule_id: &str) -> Result<Option<PagerDutyOnCall>, OnCallError> {
        if self.schedule.as_ref().is_none_or(|s| s.id != schedule_id) {
            return Ok(None);
        }
        let time = |field: &str, value: Option<String>| -> Result<Option<Timestamp>, OnCallError> {
            value
                .map(|v| {
                    v.parse::<Timestamp>()
                        .map_err(|e| OnCallError::BadResponse {
                            problem: format!(
                                "an on-call {field} {v:?} is not an RFC 3339 time: {e}"
                            ),
                        })
                })
                .transpose()
        };
        let start = time("start", self.start)?;
        let end = time("end", self.end)?;
        let Some(user) = self.user else {
            // An entry without a user covers someone unknown: keep it so the answer can say so.
            return Ok(Some(PagerDutyOnCall {
                user_id: String::new(),
                user_name: None,
                email: None,
                escalation_level: self.escalation_level,
                start,
                end,
            }));
        };
        Ok(Some(PagerDutyOnCall {
            user_id: user.id,
            user_name: user.name.or(user.summary),
            email: user.email.filter(|e| !e.trim().is_empty()),
            escalation_level: self.escalation_level,
            start,
            end,
        }))
    }
}
