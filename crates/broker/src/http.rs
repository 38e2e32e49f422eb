//! The `/jitgate/v1` API over HTTP, as `docs/openapi.yaml` describes it: the route from
//! [`ApiRoute::match_request`], authentication enforced per route (none, bearer only, any),
//! bodies read up to [`MAX_REQUEST_BODY_BYTES`] as `application/json` into the API's closed
//! types and validated, queries parsed by the API's own parsers (endpoints that define no query
//! parameters ignore a query, as the document gives them no 400), and every failure a
//! Kubernetes `Status` whose message says what to do next.
//!
//! The gateway authenticates (client certificate or OIDC token) and calls [`handle`] for every
//! request whose path [`is_api_path`]; it never forwards such a request to the apiserver.

use std::error::Error as StdError;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use jitgate_api::limits::MAX_REQUEST_BODY_BYTES;
use jitgate_api::paths::{
    self, ApiRoute, Authentication, GrantAction, RequestAction, RouteMismatch,
};
use jitgate_api::{
    ApproveBody, CancelBody, CertificateRequest, CreateAccessRequest, DenyBody, GrantQuery,
    RequestQuery, ReviewBody, RevokeBody, SessionQuery, Status, WaitQuery,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Broker, BrokerError, Caller, CallerMethod};

/// The body of every answer: one complete JSON document. Compose it into a boxed body with
/// `http_body_util::BodyExt::map_err(|never| match never {})`.
pub type ResponseBody = Full<Bytes>;

/// Whether `path` belongs to the jitgate API (the gateway sends it to [`handle`], never to the
/// apiserver).
pub fn is_api_path(path: &str) -> bool {
    path == paths::PREFIX
        || path
            .strip_prefix(paths::PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A refusal before or after the broker: status code, message, and for 405 the methods.
#[derive(Debug)]
struct Failure {
    code: u16,
    message: String,
    allow: Option<&'static [&'static str]>,
}

impl Failure {
    fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            allow: None,
        }
    }
}

impl From<BrokerError> for Failure {
    fn from(e: BrokerError) -> Self {
        Self::new(e.http_status(), e.to_string())
    }
}

/// Answers one API request. `caller` is who the gateway authenticated (`None` when the
/// request carried no credential it accepts); identity never comes from the body.
pub async fn handle<B>(
    broker: &Broker,
    caller: Option<Caller>,
    request: Request<B>,
) -> Response<ResponseBody>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let (parts, body) = request.into_parts();
    let route = match ApiRoute::match_request(parts.method.as_str(), parts.uri.path()) {
        Ok(route) => route,
        Err(mismatch) => return failure(&mismatched(&mismatch, &parts.method, parts.uri.path())),
    };
    let caller = match (route.authentication(), caller) {
        (Authentication::None, caller) => caller,
        (_, None) => {
            return failure(&Failure::new(
                401,
                "this endpoint needs a credential: a client certificate from the jitgate CA or an \
                 OIDC ID token as Authorization: Bearer; run kubectl jit login",
            ));
        }
        (Authentication::BearerOnly, Some(c)) if c.method != CallerMethod::Bearer => {
            let refused = BrokerError::BearerOnly;
            if c.check().is_ok() {
                broker.refuse_certificate(&c, &refused).await;
            }
            return failure(&Failure::from(refused));
        }
        (_, Some(caller)) => Some(caller),
    };
    let query = parts.uri.query().unwrap_or("");
    match dispatch(broker, caller.as_ref(), route, query, &parts.headers, body).await {
        Ok(response) => response,
        Err(f) => failure(&f),
    }
}

fn mismatched(mismatch: &RouteMismatch, method: &http::Method, path: &str) -> Failure {
    let shown: String = path.chars().take(200).collect();
    match mismatch {
        RouteMismatch::NotFound => Failure::new(
            404,
            format!(
                "there is no jitgate API endpoint {method} {shown}; docs/openapi.yaml lists them \
                 (kubectl jit calls them for you)"
            ),
        ),
        RouteMismatch::MethodNotAllowed { allow } => Failure {
            code: 405,
            message: format!("{shown} does not take {method}; use {}", allow.join(" or ")),
            allow: Some(allow),
        },
        RouteMismatch::InvalidId(why) => Failure::new(400, why.clone()),
    }
}

/// The caller of a route that needs one (authentication was enforced before).
fn who(caller: Option<&Caller>) -> Result<&Caller, Failure> {
    caller.ok_or_else(|| {
        Failure::new(
            401,
            "this endpoint needs a credential; run kubectl jit login",
        )
    })
}

fn bad_query(e: &jitgate_api::ApiError) -> Failure {
    Failure::new(400, e.to_string())
}

async fn dispatch<B>(
    broker: &Broker,
    caller: Option<&Caller>,
    route: ApiRoute,
    query: &str,
    headers: &HeaderMap,
    body: B,
) -> Result<Response<ResponseBody>, Failure>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    match route {
        ApiRoute::Config => Ok(json(StatusCode::OK, &broker.server_config())),
        ApiRoute::IssueCertificate => {
            let body: CertificateRequest =
                read_json(headers, body, "CertificateRequest", None).await?;
            Ok(json(
                StatusCode::OK,
                &broker.issue_certificate(who(caller)?, body).await?,
            ))
        }
        ApiRoute::WhoAmI => Ok(json(StatusCode::OK, &broker.whoami(who(caller)?).await?)),
        ApiRoute::ListProfiles => Ok(json(StatusCode::OK, &broker.profiles(who(caller)?).await?)),
        ApiRoute::CreateRequest => {
            let body: CreateAccessRequest =
                read_json(headers, body, "CreateAccessRequest", None).await?;
            let created = broker.submit(who(caller)?, body).await?;
            let mut response = json(StatusCode::CREATED, &created);
            if let Ok(location) = HeaderValue::from_str(&paths::request(&created.id)) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        ApiRoute::ListRequests => {
            let query = RequestQuery::parse(query).map_err(|e| bad_query(&e))?;
            Ok(json(
                StatusCode::OK,
                &broker.list_requests(who(caller)?, &query).await?,
            ))
        }
        ApiRoute::GetRequest(id) => {
            let caller = who(caller)?;
            let found = match WaitQuery::parse(query).map_err(|e| bad_query(&e))? {
                Some(wait) => broker.wait_for_request(caller, &id, wait).await?,
                None => broker.get_request(caller, &id).await?,
            };
            Ok(json(StatusCode::OK, &found))
        }
        ApiRoute::ActOnRequest(id, action) => {
            let caller = who(caller)?;
            let done = match action {
                RequestAction::Approve => {
                    let body: ApproveBody =
                        read_json(headers, body, "ApproveBody", Some(ApproveBody::default()))
                            .await?;
                    broker.approve(caller, &id, body).await?
                }
                RequestAction::Deny => {
                    let body: DenyBody = read_json(headers, body, "DenyBody", None).await?;
                    broker.deny(caller, &id, body).await?
                }
                RequestAction::Cancel => {
                    let body: CancelBody =
                        read_json(headers, body, "CancelBody", Some(CancelBody::default())).await?;
                    broker.cancel(caller, &id, body).await?
                }
            };
            Ok(json(StatusCode::OK, &done))
        }
        ApiRoute::ListGrants => {
            let query = GrantQuery::parse(query).map_err(|e| bad_query(&e))?;
            Ok(json(
                StatusCode::OK,
                &broker.list_grants(who(caller)?, &query).await?,
            ))
        }
        ApiRoute::ActOnGrant(id, action) => {
            let caller = who(caller)?;
            let done = match action {
                GrantAction::Revoke => {
                    let body: RevokeBody = read_json(headers, body, "RevokeBody", None).await?;
                    broker.revoke_grant(caller, &id, body).await?
                }
                GrantAction::Review => {
                    let body: ReviewBody = read_json(headers, body, "ReviewBody", None).await?;
                    broker.review_grant(caller, &id, body).await?
                }
            };
            Ok(json(StatusCode::OK, &done))
        }
        ApiRoute::ListSessions => {
            let query = SessionQuery::parse(query).map_err(|e| bad_query(&e))?;
            Ok(json(
                StatusCode::OK,
                &broker.list_sessions(who(caller)?, &query).await?,
            ))
        }
        ApiRoute::GetRecording(id) => {
            let text = broker.recording(who(caller)?, &id).await?;
            Ok(with_common_headers(
                Response::new(Full::new(text)),
                "application/x-asciicast",
            ))
        }
    }
}

/// Whether the `Content-Type` is `application/json` (parameters such as `charset` allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads the body (at most [`MAX_REQUEST_BODY_BYTES`]) as JSON `T`; an empty body is
/// `empty`, when the endpoint allows one.
async fn read_json<T, B>(
    headers: &HeaderMap,
    body: B,
    what: &str,
    empty: Option<T>,
) -> Result<T, Failure>
where
    T: DeserializeOwned,
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let too_large = || {
        Failure::new(
            413,
            format!(
                "the body is larger than {MAX_REQUEST_BODY_BYTES} bytes; no jitgate request is \
                 that large, so check what is being sent"
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = match Limited::new(body, MAX_REQUEST_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err(Failure::new(
                400,
                format!("could not read the body ({e}); send it again"),
            ));
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return empty.ok_or_else(|| {
            Failure::new(
                400,
                format!("the body is empty; send a JSON {what} (see docs/openapi.yaml)"),
            )
        });
    }
    if !is_json(headers) {
        return Err(Failure::new(
            415,
            format!("send the {what} as Content-Type: application/json"),
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        let text = e.to_string();
        let hint = if text.contains("unknown field") {
            "; identity comes from your credential, never from the body"
        } else {
            ""
        };
        Failure::new(400, format!("the body is not a {what}: {text}{hint}"))
    })
}

fn with_common_headers(
    mut response: Response<ResponseBody>,
    content_type: &'static str,
) -> Response<ResponseBody> {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json<T: Serialize>(code: StatusCode, value: &T) -> Response<ResponseBody> {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut response = Response::new(Full::new(Bytes::from(bytes)));
            *response.status_mut() = code;
            with_common_headers(response, "application/json")
        }
        Err(e) => failure(&Failure::new(
            500,
            format!("could not write the answer as JSON ({e}); please report it"),
        )),
    }
}

fn failure(f: &Failure) -> Response<ResponseBody> {
    let status = Status::failure(f.code, f.message.clone());
    let mut response = Response::new(Full::new(Bytes::from(status.to_json())));
    *response.status_mut() =
        StatusCode::from_u16(f.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = with_common_headers(response, "application/json");
    let headers = response.headers_mut();
    if f.code == 401 {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"jitgate\""),
        );
    }
    if let Some(allow) = f.allow
        && let Ok(value) = HeaderValue::from_str(&allow.join(", "))
    {
        headers.insert(header::ALLOW, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths() {
        let cases = [
            ("/jitgate/v1", true),
            ("/jitgate/v1/requests", true),
            ("/jitgate/v1/", true),
            ("/jitgate/v10/config", false),
            ("/jitgate/v1x", false),
            ("/api/v1/namespaces", false),
            ("/", false),
        ];
        for (path, want) in cases {
            assert_eq!(is_api_path(path), want, "{path}");
        }
    }

    #[test]
    fn json_content_types() {
        let cases = [
            (Some("application/json"), true),
            (Some("application/json; charset=utf-8"), true),
            (Some("Application/JSON"), true),
            (Some("text/plain"), false),
            (Some("application/jsonx"), false),
            (None, false),
        ];
        for (value, want) in cases {
            let mut headers = HeaderMap::new();
            if let Some(v) = value {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
            }
            assert_eq!(is_json(&headers), want, "{value:?}");
        }
    }

    #[tokio::test]
    async fn bodies_are_bounded_even_without_a_declared_length() {
        let big = Full::new(Bytes::from(vec![b' '; MAX_REQUEST_BODY_BYTES + 1]));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let err = read_json::<DenyBody, _>(&headers, big, "DenyBody", None)
            .await
            .unwrap_err();
        assert_eq!(err.code, 413, "{}", err.message);
        let fits = Full::new(Bytes::from_static(br#"{"reason":"no"}"#));
        let body = read_json::<DenyBody, _>(&headers, fits, "DenyBody", None)
            .await
            .unwrap();
        assert_eq!(body.reason, "no");
        let empty = read_json(
            &HeaderMap::new(),
            Full::new(Bytes::new()),
            "ApproveBody",
            Some(ApproveBody::default()),
        )
        .await
        .unwrap();
        assert_eq!(empty, ApproveBody::default(), "an empty body means {{}}");
    }

    #[test]
    fn failures_are_statuses_with_the_right_headers() {
        let unauthorized = failure(&Failure::new(401, "log in"));
        assert_eq!(unauthorized.status(), 401);
        assert_eq!(
            unauthorized.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"jitgate\""
        );
        let not_allowed = failure(&mismatched(
            &RouteMismatch::MethodNotAllowed {
                allow: &["GET", "POST"],
            },
            &http::Method::DELETE,
            "/jitgate/v1/requests",
        ));
        assert_eq!(not_allowed.status(), 405);
        assert_eq!(not_allowed.headers()[header::ALLOW], "GET, POST");
        assert_eq!(
            not_allowed.headers()[header::CONTENT_TYPE],
            "application/json"
        );
    }
}
