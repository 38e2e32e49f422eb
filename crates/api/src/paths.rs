//! Where each endpoint lives, the query strings they take, and [`ApiRoute::match_request`],
//! which the server uses to decide which endpoint a request is for — so that client and
//! server cannot disagree on a path.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::limits::{DEFAULT_WAIT, MAX_LIST_ITEMS, MAX_QUERY_BYTES, MAX_WAIT};
use crate::{ApiError, GoDuration, GrantId, GrantState, RequestId, RequestState, SessionId};

/// Every API path starts with this; no Kubernetes path does.
pub const PREFIX: &str = "/jitgate/v1";
/// `GET`, no authentication: [`ServerConfig`](crate::ServerConfig).
pub const CONFIG: &str = "/jitgate/v1/config";
/// `POST`, bearer ID token only: issue a client certificate.
pub const CERTIFICATES: &str = "/jitgate/v1/certificates";
/// `GET`: [`WhoAmI`](crate::WhoAmI).
pub const WHOAMI: &str = "/jitgate/v1/whoami";
/// `GET`: [`ProfileList`](crate::ProfileList).
pub const PROFILES: &str = "/jitgate/v1/profiles";
/// `GET` lists ([`RequestQuery`]), `POST` creates.
pub const REQUESTS: &str = "/jitgate/v1/requests";
/// `GET` lists ([`GrantQuery`]).
pub const GRANTS: &str = "/jitgate/v1/grants";
/// `GET` lists recorded sessions ([`SessionQuery`]).
pub const SESSIONS: &str = "/jitgate/v1/sessions";

/// `/jitgate/v1/requests/{id}`.
#[must_use]
pub fn request(id: &RequestId) -> String {
    format!("{REQUESTS}/{id}")
}

/// `/jitgate/v1/requests/{id}/{action}`.
#[must_use]
pub fn request_action(id: &RequestId, action: RequestAction) -> String {
    format!("{REQUESTS}/{id}/{}", action.as_str())
}

/// `/jitgate/v1/sessions/{id}/recording`: the session's recording, asciicast v2.
#[must_use]
pub fn session_recording(id: &SessionId) -> String {
    format!("{SESSIONS}/{id}/recording")
}

/// `/jitgate/v1/grants/{id}/{action}`.
#[must_use]
pub fn grant_action(id: &GrantId, action: GrantAction) -> String {
    format!("{GRANTS}/{id}/{}", action.as_str())
}

/// What may be done to an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestAction {
    /// `approve`, body [`ApproveBody`](crate::ApproveBody).
    Approve,
    /// `deny`, body [`DenyBody`](crate::DenyBody).
    Deny,
    /// `cancel`, body [`CancelBody`](crate::CancelBody).
    Cancel,
}

impl RequestAction {
    /// The last path segment.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::Cancel => "cancel",
        }
    }
}

/// What may be done to a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantAction {
    /// `revoke`, body [`RevokeBody`](crate::RevokeBody).
    Revoke,
    /// `review`, body [`ReviewBody`](crate::ReviewBody).
    Review,
}

impl GrantAction {
    /// The last path segment.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revoke => "revoke",
            Self::Review => "review",
        }
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// Anyone, unauthenticated.
    None,
    /// Only an OIDC ID token as `Authorization: Bearer` (a client certificate must not be able
    /// to renew itself forever).
    BearerOnly,
    /// A jitgate client certificate or an OIDC ID token.
    Any,
}

/// One endpoint of the API, with the ids in its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRoute {
    /// `GET /jitgate/v1/config`.
    Config,
    /// `POST /jitgate/v1/certificates`.
    IssueCertificate,
    /// `GET /jitgate/v1/whoami`.
    WhoAmI,
    /// `GET /jitgate/v1/profiles`.
    ListProfiles,
    /// `POST /jitgate/v1/requests`.
    CreateRequest,
    /// `GET /jitgate/v1/requests`.
    ListRequests,
    /// `GET /jitgate/v1/requests/{id}`.
    GetRequest(RequestId),
    /// `POST /jitgate/v1/requests/{id}/{approve|deny|cancel}`.
    ActOnRequest(RequestId, RequestAction),
    /// `GET /jitgate/v1/grants`.
    ListGrants,
    /// `POST /jitgate/v1/grants/{id}/{revoke|review}`.
    ActOnGrant(GrantId, GrantAction),
    /// `GET /jitgate/v1/sessions`.
    ListSessions,
    /// `GET /jitgate/v1/sessions/{id}/recording`.
    GetRecording(SessionId),
}

/// Why a request under [`PREFIX`] matches no endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMismatch {
    /// No endpoint has this path (404).
    NotFound,
    /// The path exists with other methods (405; `Allow` lists them).
    MethodNotAllowed {
        /// The methods the path takes.
        allow: &'static [&'static str],
    },
    /// An id in the path is malformed (400); the message says what ids look like.
    InvalidId(String),
}

impl ApiRoute {
    /// Which endpoint `method` and `path` (without the query) are for. Paths are matched
    /// exactly: no trailing slash, no percent-encoding, no `.` or `..` segments.
    pub fn match_request(method: &str, path: &str) -> Result<Self, RouteMismatch> {
        use RouteMismatch::{MethodNotAllowed, NotFound};
        let rest = path
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or(NotFound)?;
        let segments: Vec<&str> = rest.split('/').collect();
        let only = |allowed: &'static [&'static str], route: Self| {
            if allowed.contains(&method) {
                Ok(route)
            } else {
                Err(MethodNotAllowed { allow: allowed })
            }
        };
        match segments.as_slice() {
            ["config"] => only(&["GET"], Self::Config),
            ["certificates"] => only(&["POST"], Self::IssueCertificate),
            ["whoami"] => only(&["GET"], Self::WhoAmI),
            ["profiles"] => only(&["GET"], Self::ListProfiles),
            ["requests"] => match method {
                "GET" => Ok(Self::ListRequests),
                "POST" => Ok(Self::CreateRequest),
                _ => Err(MethodNotAllowed {
                    allow: &["GET", "POST"],
                }),
            },
            ["requests", id] => {
                let id =
                    RequestId::parse(id).map_err(|e| RouteMismatch::InvalidId(e.to_string()))?;
                only(&["GET"], Self::GetRequest(id))
            }
            ["requests", id, action] => {
                let action = match *action {
                    "approve" => RequestAction::Approve,
                    "deny" => RequestAction::Deny,
                    "cancel" => RequestAction::Cancel,
                    _ => return Err(NotFound),
                };
                let id =
                    RequestId::parse(id).map_err(|e| RouteMismatch::InvalidId(e.to_string()))?;
                only(&["POST"], Self::ActOnRequest(id, action))
            }
            ["grants"] => only(&["GET"], Self::ListGrants),
            ["grants", id, action] => {
                let action = match *action {
                    "revoke" => GrantAction::Revoke,
                    "review" => GrantAction::Review,
                    _ => return Err(NotFound),
                };
                let id = GrantId::parse(id).map_err(|e| RouteMismatch::InvalidId(e.to_string()))?;
                only(&["POST"], Self::ActOnGrant(id, action))
            }
            ["sessions"] => only(&["GET"], Self::ListSessions),
            ["sessions", id, "recording"] => {
                let id =
                    SessionId::parse(id).map_err(|e| RouteMismatch::InvalidId(e.to_string()))?;
                only(&["GET"], Self::GetRecording(id))
            }
            _ => Err(NotFound),
        }
    }

    /// Who may call it.
    #[must_use]
    pub fn authentication(&self) -> Authentication {
        match self {
            Self::Config => Authentication::None,
            Self::IssueCertificate => Authentication::BearerOnly,
            _ => Authentication::Any,
        }
    }
}

/// Splits a query string into decoded pairs, refusing oversized or repeated parameters and any
/// not in `known`.
fn query_pairs<'a>(query: &'a str, known: &[&str]) -> Result<Vec<(&'a str, String)>, ApiError> {
    let invalid = |reason: String| ApiError::InvalidQuery { reason };
    if query.len() > MAX_QUERY_BYTES {
        return Err(invalid(format!(
            "it is {} bytes; at most {MAX_QUERY_BYTES} are allowed",
            query.len()
        )));
    }
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        if !known.contains(&key) {
            return Err(invalid(format!(
                "unknown parameter {:?}; this endpoint takes {}",
                key.chars().take(32).collect::<String>(),
                known.join(", ")
            )));
        }
        if pairs.iter().any(|(k, _)| *k == key) {
            return Err(invalid(format!("{key} is given more than once")));
        }
        let value = percent_decode_str(&value.replace('+', " "))
            .decode_utf8()
            .map_err(|_| invalid(format!("{key} is not UTF-8")))?
            .into_owned();
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Values are plain words (scopes, states, durations, numbers): nothing needs escaping.
fn join_query(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whose access requests to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RequestScope {
    /// The caller's own.
    #[default]
    Mine,
    /// Those the caller may approve now (pending, not their own, they are in an approver
    /// group).
    Approvable,
    /// Everyone's; for approvers and auditors (the server decides who may).
    All,
}

impl RequestScope {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mine => "mine",
            Self::Approvable => "approvable",
            Self::All => "all",
        }
    }
}

impl fmt::Display for RequestScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestScope {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mine" => Ok(Self::Mine),
            "approvable" => Ok(Self::Approvable),
            "all" => Ok(Self::All),
            other => Err(ApiError::InvalidQuery {
                reason: format!(
                    "scope {:?} is unknown; use mine, approvable or all",
                    other.chars().take(32).collect::<String>()
                ),
            }),
        }
    }
}

/// `GET /jitgate/v1/requests?scope=mine|approvable|all&state=pending,active&limit=50`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestQuery {
    /// Whose requests (default `mine`).
    pub scope: RequestScope,
    /// Only these states (comma-separated on the wire); all states when empty.
    pub states: Vec<RequestState>,
    /// At most this many, newest first; the server caps it at
    /// [`MAX_LIST_ITEMS`](crate::limits::MAX_LIST_ITEMS), which is also the default.
    pub limit: Option<u32>,
}

impl RequestQuery {
    /// The query string, without `?`.
    #[must_use]
    pub fn to_query(&self) -> String {
        let states: Vec<&str> = self.states.iter().map(|s| s.as_str()).collect();
        list_query(self.scope.as_str(), &states, self.limit)
    }

    /// Parses a query string (without `?`), as the server does.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let parts = parse_list_query::<_, RequestState>(query)?;
        Ok(Self {
            scope: parts.scope.unwrap_or_default(),
            states: parts.states,
            limit: parts.limit,
        })
    }

    /// The number of items to return: `limit` capped, or the cap.
    #[must_use]
    pub fn effective_limit(&self) -> u32 {
        self.limit.map_or(MAX_LIST_ITEMS, |l| l.min(MAX_LIST_ITEMS))
    }
}

/// `scope=…&state=a,b&limit=n` of a list query (state and limit only when set).
fn list_query(scope: &str, states: &[&str], limit: Option<u32>) -> String {
    let mut pairs = vec![("scope", scope.to_owned())];
    if !states.is_empty() {
        pairs.push(("state", states.join(",")));
    }
    if let Some(limit) = limit {
        pairs.push(("limit", limit.to_string()));
    }
    join_query(&pairs)
}

/// What a list query string says, before defaults.
struct ListParts<Scope, State> {
    scope: Option<Scope>,
    /// Each once, in the order given.
    states: Vec<State>,
    limit: Option<u32>,
}

/// Parses the scope, states and limit of a list query string.
fn parse_list_query<Scope, State>(query: &str) -> Result<ListParts<Scope, State>, ApiError>
where
    Scope: FromStr<Err = ApiError>,
    State: FromStr<Err = ApiError> + PartialEq,
{
    let (mut scope, mut states, mut limit) = (None, Vec::new(), None);
    for (key, value) in query_pairs(query, &["scope", "state", "limit"])? {
        match key {
            "scope" => scope = Some(value.parse()?),
            "state" => {
                for state in value.split(',').filter(|s| !s.is_empty()) {
                    let state: State =
                        state
                            .parse()
                            .map_err(|e: ApiError| ApiError::InvalidQuery {
                                reason: e.to_string(),
                            })?;
                    if !states.contains(&state) {
                        states.push(state);
                    }
                }
            }
            _ => limit = Some(parse_limit(&value)?),
        }
    }
    Ok(ListParts {
        scope,
        states,
        limit,
    })
}

fn parse_limit(value: &str) -> Result<u32, ApiError> {
    match value.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::InvalidQuery {
            reason: format!(
                "limit {:?} is not a positive whole number",
                value.chars().take(16).collect::<String>()
            ),
        }),
    }
}

/// Whose grants to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GrantScope {
    /// The caller's own.
    #[default]
    Mine,
    /// Everyone's; for approvers and auditors (the server decides who may).
    All,
}

impl GrantScope {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mine => "mine",
            Self::All => "all",
        }
    }
}

impl FromStr for GrantScope {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mine" => Ok(Self::Mine),
            "all" => Ok(Self::All),
            other => Err(ApiError::InvalidQuery {
                reason: format!(
                    "scope {:?} is unknown; use mine or all",
                    other.chars().take(32).collect::<String>()
                ),
            }),
        }
    }
}

/// `GET /jitgate/v1/grants?scope=mine|all&state=active&limit=50`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrantQuery {
    /// Whose grants (default `mine`).
    pub scope: GrantScope,
    /// Only these states; all when empty.
    pub states: Vec<GrantState>,
    /// At most this many, newest first; capped like [`RequestQuery::limit`].
    pub limit: Option<u32>,
}

impl GrantQuery {
    /// The query string, without `?`.
    #[must_use]
    pub fn to_query(&self) -> String {
        let states: Vec<&str> = self.states.iter().map(|s| s.as_str()).collect();
        list_query(self.scope.as_str(), &states, self.limit)
    }

    /// Parses a query string (without `?`), as the server does.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let parts = parse_list_query::<_, GrantState>(query)?;
        Ok(Self {
            scope: parts.scope.unwrap_or_default(),
            states: parts.states,
            limit: parts.limit,
        })
    }

    /// The number of items to return: `limit` capped, or the cap.
    #[must_use]
    pub fn effective_limit(&self) -> u32 {
        self.limit.map_or(MAX_LIST_ITEMS, |l| l.min(MAX_LIST_ITEMS))
    }
}

/// Whose recorded sessions to list: the same two scopes as grants.
pub type SessionScope = GrantScope;

/// `GET /jitgate/v1/sessions?scope=mine|all&limit=50`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionQuery {
    /// Whose sessions (default `mine`; `all` is for approvers, auditors and admins).
    pub scope: SessionScope,
    /// At most this many, newest first; capped like [`RequestQuery::limit`].
    pub limit: Option<u32>,
}

impl SessionQuery {
    /// The query string, without `?`.
    #[must_use]
    pub fn to_query(&self) -> String {
        let mut pairs = vec![("scope", self.scope.as_str().to_owned())];
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        join_query(&pairs)
    }

    /// Parses a query string (without `?`), as the server does.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut parsed = Self::default();
        for (key, value) in query_pairs(query, &["scope", "limit"])? {
            match key {
                "scope" => parsed.scope = value.parse()?,
                _ => parsed.limit = Some(parse_limit(&value)?),
            }
        }
        Ok(parsed)
    }

    /// The number of items to return: `limit` capped, or the cap.
    #[must_use]
    pub fn effective_limit(&self) -> u32 {
        self.limit.map_or(MAX_LIST_ITEMS, |l| l.min(MAX_LIST_ITEMS))
    }
}

/// `GET /jitgate/v1/requests/{id}?waitFor=active&timeout=30s`: answer when the request is in
/// `waitFor` or a terminal state, or when `timeout` has passed — whichever comes first — with
/// the request as it then is (200 in every case; the caller looks at `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitQuery {
    /// The state to wait for.
    pub wait_for: RequestState,
    /// How long the server may hold the answer; default
    /// [`DEFAULT_WAIT`](crate::limits::DEFAULT_WAIT), capped at
    /// [`MAX_WAIT`](crate::limits::MAX_WAIT).
    pub timeout: GoDuration,
}

impl WaitQuery {
    /// Wait for `state`, at most the default time.
    #[must_use]
    pub fn for_state(state: RequestState) -> Self {
        Self {
            wait_for: state,
            timeout: GoDuration::from(DEFAULT_WAIT),
        }
    }

    /// The query string, without `?`.
    #[must_use]
    pub fn to_query(&self) -> String {
        join_query(&[
            ("waitFor", self.wait_for.as_str().to_owned()),
            ("timeout", self.timeout.to_string()),
        ])
    }

    /// Parses a query string (without `?`); `None` when it has no `waitFor` (a plain GET).
    pub fn parse(query: &str) -> Result<Option<Self>, ApiError> {
        let mut wait_for = None;
        let mut timeout = None;
        for (key, value) in query_pairs(query, &["waitFor", "timeout"])? {
            if key == "waitFor" {
                wait_for = Some(
                    value
                        .parse()
                        .map_err(|e: ApiError| ApiError::InvalidQuery {
                            reason: e.to_string(),
                        })?,
                );
            } else {
                timeout = Some(
                    GoDuration::parse(&value).map_err(|e| ApiError::InvalidQuery {
                        reason: format!("timeout: {e}"),
                    })?,
                );
            }
        }
        match (wait_for, timeout) {
            (Some(wait_for), timeout) => Ok(Some(Self {
                wait_for,
                timeout: timeout.unwrap_or(GoDuration::from(DEFAULT_WAIT)),
            })),
            (None, Some(_)) => Err(ApiError::InvalidQuery {
                reason: "timeout needs waitFor".to_owned(),
            }),
            (None, None) => Ok(None),
        }
    }

    /// How long the server holds the answer: `timeout` capped at
    /// [`MAX_WAIT`](crate::limits::MAX_WAIT).
    #[must_use]
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.as_std().min(MAX_WAIT)
    }

    /// Whether a request in `state` ends the wait.
    #[must_use]
    pub fn is_satisfied_by(&self, state: RequestState) -> bool {
        state == self.wait_for || state.is_terminal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let rid = RequestId::parse("r-0123abcd").unwrap();
        let gid = GrantId::parse("g-0123abcd").unwrap();
        let cases: Vec<(&str, &str, &str, Result<ApiRoute, RouteMismatch>)> = vec![
            ("config", "GET", "/jitgate/v1/config", Ok(ApiRoute::Config)),
            (
                "config by POST",
                "POST",
                "/jitgate/v1/config",
                Err(RouteMismatch::MethodNotAllowed { allow: &["GET"] }),
            ),
            (
                "issue",
                "POST",
                "/jitgate/v1/certificates",
                Ok(ApiRoute::IssueCertificate),
            ),
            ("whoami", "GET", "/jitgate/v1/whoami", Ok(ApiRoute::WhoAmI)),
            (
                "profiles",
                "GET",
                "/jitgate/v1/profiles",
                Ok(ApiRoute::ListProfiles),
            ),
            (
                "create",
                "POST",
                "/jitgate/v1/requests",
                Ok(ApiRoute::CreateRequest),
            ),
            (
                "list",
                "GET",
                "/jitgate/v1/requests",
                Ok(ApiRoute::ListRequests),
            ),
            (
                "delete requests",
                "DELETE",
                "/jitgate/v1/requests",
                Err(RouteMismatch::MethodNotAllowed {
                    allow: &["GET", "POST"],
                }),
            ),
            (
                "get",
                "GET",
                "/jitgate/v1/requests/r-0123abcd",
                Ok(ApiRoute::GetRequest(rid.clone())),
            ),
            (
                "approve",
                "POST",
                "/jitgate/v1/requests/r-0123abcd/approve",
                Ok(ApiRoute::ActOnRequest(rid.clone(), RequestAction::Approve)),
            ),
            (
                "deny",
                "POST",
                "/jitgate/v1/requests/r-0123abcd/deny",
                Ok(ApiRoute::ActOnRequest(rid.clone(), RequestAction::Deny)),
            ),
            (
                "cancel",
                "POST",
                "/jitgate/v1/requests/r-0123abcd/cancel",
                Ok(ApiRoute::ActOnRequest(rid, RequestAction::Cancel)),
            ),
            (
                "approve by GET",
                "GET",
                "/jitgate/v1/requests/r-0123abcd/approve",
                Err(RouteMismatch::MethodNotAllowed { allow: &["POST"] }),
            ),
            (
                "unknown action",
                "POST",
                "/jitgate/v1/requests/r-0123abcd/reopen",
                Err(RouteMismatch::NotFound),
            ),
            (
                "grants",
                "GET",
                "/jitgate/v1/grants",
                Ok(ApiRoute::ListGrants),
            ),
            (
                "revoke",
                "POST",
                "/jitgate/v1/grants/g-0123abcd/revoke",
                Ok(ApiRoute::ActOnGrant(gid.clone(), GrantAction::Revoke)),
            ),
            (
                "review",
                "POST",
                "/jitgate/v1/grants/g-0123abcd/review",
                Ok(ApiRoute::ActOnGrant(gid, GrantAction::Review)),
            ),
            (
                "sessions",
                "GET",
                "/jitgate/v1/sessions",
                Ok(ApiRoute::ListSessions),
            ),
            (
                "recording",
                "GET",
                "/jitgate/v1/sessions/s-0123abcd/recording",
                Ok(ApiRoute::GetRecording(
                    SessionId::parse("s-0123abcd").unwrap(),
                )),
            ),
            (
                "recording by DELETE",
                "DELETE",
                "/jitgate/v1/sessions/s-0123abcd/recording",
                Err(RouteMismatch::MethodNotAllowed { allow: &["GET"] }),
            ),
            (
                "session without what",
                "GET",
                "/jitgate/v1/sessions/s-0123abcd",
                Err(RouteMismatch::NotFound),
            ),
            (
                "trailing slash",
                "GET",
                "/jitgate/v1/whoami/",
                Err(RouteMismatch::NotFound),
            ),
            (
                "prefix alone",
                "GET",
                "/jitgate/v1",
                Err(RouteMismatch::NotFound),
            ),
            (
                "kubernetes path",
                "GET",
                "/api/v1/pods",
                Err(RouteMismatch::NotFound),
            ),
            (
                "lookalike prefix",
                "GET",
                "/jitgate/v10/config",
                Err(RouteMismatch::NotFound),
            ),
            (
                "dot segments",
                "GET",
                "/jitgate/v1/../v1/config",
                Err(RouteMismatch::NotFound),
            ),
        ];
        for (name, method, path, want) in cases {
            assert_eq!(ApiRoute::match_request(method, path), want, "{name}");
        }
        assert!(matches!(
            ApiRoute::match_request("GET", "/jitgate/v1/requests/r-XYZ"),
            Err(RouteMismatch::InvalidId(_))
        ));
        assert!(matches!(
            ApiRoute::match_request("POST", "/jitgate/v1/grants/r-0123abcd/revoke"),
            Err(RouteMismatch::InvalidId(_))
        ));
        for traversal in ["..", "s-../../x", "s-0123abcd.cast", "s-0123abcd%2F"] {
            assert!(
                ApiRoute::match_request(
                    "GET",
                    &format!("/jitgate/v1/sessions/{traversal}/recording")
                )
                .is_err(),
                "{traversal}"
            );
        }
    }

    #[test]
    fn session_queries_round_trip() {
        let q = SessionQuery {
            scope: SessionScope::All,
            limit: Some(20),
        };
        assert_eq!(q.to_query(), "scope=all&limit=20");
        assert_eq!(SessionQuery::parse(&q.to_query()).unwrap(), q);
        assert_eq!(SessionQuery::parse("").unwrap(), SessionQuery::default());
        assert!(SessionQuery::parse("state=active").is_err());
        assert!(SessionQuery::parse("scope=everyone").is_err());
        assert_eq!(
            SessionQuery::parse("limit=9999").unwrap().effective_limit(),
            MAX_LIST_ITEMS
        );
    }

    #[test]
    fn only_certificates_is_bearer_only_and_only_config_is_open() {
        assert_eq!(ApiRoute::Config.authentication(), Authentication::None);
        assert_eq!(
            ApiRoute::IssueCertificate.authentication(),
            Authentication::BearerOnly
        );
        assert_eq!(ApiRoute::WhoAmI.authentication(), Authentication::Any);
    }

    #[test]
    fn request_queries_round_trip() {
        let q = RequestQuery {
            scope: RequestScope::Approvable,
            states: vec![RequestState::Pending, RequestState::Active],
            limit: Some(20),
        };
        assert_eq!(
            q.to_query(),
            "scope=approvable&state=pending,active&limit=20"
        );
        assert_eq!(RequestQuery::parse(&q.to_query()).unwrap(), q);
        assert_eq!(RequestQuery::parse("").unwrap(), RequestQuery::default());
        assert_eq!(
            RequestQuery::parse("state=pending%2Cactive")
                .unwrap()
                .states
                .len(),
            2
        );
        assert_eq!(
            RequestQuery::parse("limit=100000")
                .unwrap()
                .effective_limit(),
            MAX_LIST_ITEMS
        );
    }

    #[test]
    fn bad_queries_are_refused_with_the_reason() {
        let cases: &[(&str, &str)] = &[
            ("scope=everyone", "scope \"everyone\" is unknown"),
            ("state=open", "\"open\" is not a request state"),
            ("user=bob", "unknown parameter \"user\""),
            ("scope=mine&scope=all", "scope is given more than once"),
            ("limit=0", "not a positive whole number"),
            ("limit=-1", "not a positive whole number"),
        ];
        for (query, want) in cases {
            let err = RequestQuery::parse(query).unwrap_err().to_string();
            assert!(err.contains(want), "{query}: {err}");
        }
        assert!(RequestQuery::parse(&"a".repeat(MAX_QUERY_BYTES + 1)).is_err());
    }

    #[test]
    fn grant_queries_round_trip() {
        let q = GrantQuery {
            scope: GrantScope::All,
            states: vec![GrantState::Active],
            limit: None,
        };
        assert_eq!(q.to_query(), "scope=all&state=active");
        assert_eq!(GrantQuery::parse(&q.to_query()).unwrap(), q);
        assert!(GrantQuery::parse("scope=approvable").is_err());
    }

    #[test]
    fn wait_queries() {
        let q = WaitQuery::for_state(RequestState::Active);
        assert_eq!(q.to_query(), "waitFor=active&timeout=30s");
        assert_eq!(WaitQuery::parse(&q.to_query()).unwrap(), Some(q));
        assert_eq!(WaitQuery::parse("").unwrap(), None);
        let long = WaitQuery::parse("waitFor=active&timeout=10m")
            .unwrap()
            .unwrap();
        assert_eq!(long.effective_timeout(), MAX_WAIT);
        assert!(WaitQuery::parse("timeout=5s").is_err());
        assert!(q.is_satisfied_by(RequestState::Active));
        assert!(q.is_satisfied_by(RequestState::Denied));
        assert!(!q.is_satisfied_by(RequestState::Pending));
        assert!(!q.is_satisfied_by(RequestState::Approved));
    }
}
