//! Classifies a Kubernetes API request exactly as kube-apiserver's `RequestInfo` does, after
//! refusing any request whose path two parsers could read differently.
//!
//! The gateway authorizes on this classification and forwards the same request to kube-apiserver,
//! which classifies it again for RBAC. The two must agree, so [`classify`] re-implements
//! `k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory.NewRequestInfo` with the standard
//! prefixes (`/api` without group, `/apis` with one), including:
//!
//! - the method-to-verb mapping (`GET`/`HEAD` → `get`, `POST` → `create`, `PUT` → `update`,
//!   `PATCH` → `patch`, `DELETE` → `delete`, anything else → empty verb), with `get` on a
//!   collection becoming `list` or `watch` (`?watch=` anything but `0`/`false`) and `delete` on a
//!   collection becoming `deletecollection`;
//! - the legacy `/watch/` and `/proxy/` verb prefixes;
//! - `fieldSelector=metadata.name=<name>` naming the object of a `list` or `watch`, and the raw
//!   `fieldSelector`/`labelSelector` recorded for `list`, `watch` and `deletecollection` (the
//!   `AuthorizeWithSelectors` behaviour, on by default since Kubernetes 1.32);
//! - non-resource requests (`/version`, `/healthz`, `/api`, `/apis/apps`), whose verb is the
//!   lower-cased method.
//!
//! Streaming subresources keep the verb Kubernetes gives them (`get` for a WebSocket exec, `create`
//! for SPDY) but are recognised by path, never by method: see [`RequestInfo::is_streaming`] and
//! [`RequestInfo::is_proxy`].
//!
//! # Refused before classification
//!
//! [`ClassifyError`] (the gateway answers 400) for: `%` anywhere in the path, `.`/`..` segments,
//! empty segments (`//`; one trailing `/` is read as upstream reads it, i.e. ignored), backslashes,
//! control characters, non-ASCII bytes, `;`, characters RFC 3986 does not allow in a path, a path
//! not starting with `/`, paths over [`MAX_PATH_LEN`] bytes or [`MAX_SEGMENTS`] segments, a query
//! over [`MAX_QUERY_LEN`] bytes, bad percent-encoding or `;` in the query, and invalid methods.
//!
//! # Known difference from upstream
//!
//! Upstream ignores the `metadata.name` field selector when any list option fails to decode. This
//! crate reproduces that for `fieldSelector`, `limit` and `timeoutSeconds`, but does not parse
//! `labelSelector`: with a malformed label selector it may report a name upstream would not.
//! kube-apiserver rejects such a request with 400 before reading anything, so no access follows.

mod error;
mod list_options;
mod path;
mod query;

pub use error::ClassifyError;
pub use path::{MAX_PATH_LEN, MAX_SEGMENTS};
pub use query::MAX_QUERY_LEN;

/// Longest HTTP method accepted.
pub const MAX_METHOD_LEN: usize = 32;

/// What a request asks for, in Kubernetes' terms (`k8s.io/apiserver` `RequestInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Whether the request is for an API resource or subresource (under `/api` or `/apis`), as
    /// opposed to a non-resource URL such as `/version` or `/apis/apps`.
    pub is_resource_request: bool,
    /// The URL path, as received (and accepted).
    pub path: String,
    /// The Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, `proxy`; empty for an unknown method); for non-resource requests the
    /// lower-cased HTTP method.
    pub verb: String,
    /// `api` or `apis` for resource requests, else empty.
    pub api_prefix: String,
    /// The API group; empty for the core group.
    pub api_group: String,
    /// The API version, e.g. `v1`.
    pub api_version: String,
    /// The namespace; empty for cluster-scoped requests and requests across all namespaces.
    pub namespace: String,
    /// The resource, e.g. `pods` (not the kind).
    pub resource: String,
    /// The subresource, e.g. `exec`, `log`, `status`; empty if none.
    pub subresource: String,
    /// The object name, from the path or from `fieldSelector=metadata.name=<name>`; empty if none.
    pub name: String,
    /// The path parts from the resource on: `resource/name/subresource/...`.
    pub parts: Vec<String>,
    /// The raw `fieldSelector` of a `list`, `watch` or `deletecollection` (not via `/watch/`).
    pub field_selector: String,
    /// The raw `labelSelector` of a `list`, `watch` or `deletecollection` (not via `/watch/`).
    pub label_selector: String,
}

impl RequestInfo {
    /// Whether this is `pods/exec`, `pods/attach` or `pods/portforward` in the core group: a
    /// bidirectional stream, whatever the method (kubectl ≥ 1.30 sends a WebSocket `GET`, which
    /// Kubernetes maps to verb `get`; SPDY sends `POST`, verb `create`).
    #[must_use]
    pub fn is_streaming(&self) -> bool {
        self.is_resource_request
            && self.api_group.is_empty()
            && self.resource == "pods"
            && matches!(self.subresource.as_str(), "exec" | "attach" | "portforward")
    }

    /// Whether this goes through the API server's proxy (`pods/proxy`, `services/proxy`,
    /// `nodes/proxy`, any other `proxy` subresource, or the legacy `/proxy/` verb prefix): the
    /// method is the backend's, and a `GET` may upgrade to a WebSocket, so a read-only method says
    /// nothing about what the request can do.
    #[must_use]
    pub fn is_proxy(&self) -> bool {
        self.is_resource_request && (self.subresource == "proxy" || self.verb == "proxy")
    }

    /// `resource` or `resource/subresource`, as RBAC rules name it.
    #[must_use]
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// Classifies a request like kube-apiserver, refusing ambiguous requests first.
///
/// `raw_path` is the path exactly as received (no decoding), `raw_query` the query without `?`.
///
/// # Errors
///
/// [`ClassifyError`] when the method, path or query is malformed or ambiguous (see the crate docs),
/// or for `/watch` and `/proxy` verb prefixes with nothing after them, as upstream.
pub fn classify(
    method: &str,
    raw_path: &str,
    raw_query: Option<&str>,
) -> Result<RequestInfo, ClassifyError> {
    check_method(method)?;
    let segments = path::split(raw_path)?;
    let query = query::Query::parse(raw_query.unwrap_or(""))?;
    resolve(method, raw_path, &segments, &query).ok_or_else(|| ClassifyError::MissingResource {
        path: raw_path.to_owned(),
    })
}

/// [`classify`] for a path and query that are still bytes (e.g. from an HTTP parser).
///
/// # Errors
///
/// As [`classify`], plus [`ClassifyError::NonUtf8Path`] (or `QueryEncoding`) for non-UTF-8 input.
pub fn classify_bytes(
    method: &str,
    raw_path: &[u8],
    raw_query: Option<&[u8]>,
) -> Result<RequestInfo, ClassifyError> {
    let path = std::str::from_utf8(raw_path).map_err(|_| ClassifyError::NonUtf8Path)?;
    let query = raw_query
        .map(|q| {
            std::str::from_utf8(q).map_err(|e| ClassifyError::QueryEncoding {
                at: e.valid_up_to(),
            })
        })
        .transpose()?;
    classify(method, path, query)
}

/// RFC 9110 `token`, bounded.
fn check_method(method: &str) -> Result<(), ClassifyError> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method.is_empty() || method.len() > MAX_METHOD_LEN || !method.bytes().all(is_tchar) {
        return Err(ClassifyError::InvalidMethod {
            method: method.chars().take(40).collect(),
            max: MAX_METHOD_LEN,
        });
    }
    Ok(())
}

/// The classification proper. `None` means a special verb with nothing after it.
fn resolve(
    method: &str,
    path: &str,
    segments: &[&str],
    query: &query::Query,
) -> Option<RequestInfo> {
    let mut info = RequestInfo {
        path: path.to_owned(),
        verb: method.to_lowercase(),
        ..RequestInfo::default()
    };
    let mut parts = segments;

    // Non-resource unless proven otherwise: /api/{version}/... or /apis/{group}/{version}/...
    let grouped = match parts.first() {
        Some(&"api") => false,
        Some(&"apis") => true,
        _ => return Some(info),
    };
    let minimum = if grouped { 4 } else { 3 };
    if parts.len() < minimum {
        return Some(info);
    }
    info.api_prefix = parts[0].to_owned();
    parts = &parts[1..];
    if grouped {
        info.api_group = parts[0].to_owned();
        parts = &parts[1..];
    }
    info.is_resource_request = true;
    info.api_version = parts[0].to_owned();
    parts = &parts[1..];

    let verb_via_path_prefix = matches!(parts[0], "proxy" | "watch");
    if verb_via_path_prefix {
        if parts.len() < 2 {
            return None;
        }
        info.verb = parts[0].to_owned();
        parts = &parts[1..];
    } else {
        info.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        }
        .to_owned();
    }

    // /namespaces/{namespace}/{resource}/...: parts become relative to the resource, unless the
    // step after the namespace is a subresource of the namespace itself.
    if parts[0] == "namespaces" && parts.len() > 1 {
        info.namespace = parts[1].to_owned();
        if parts.len() > 2 && !matches!(parts[2], "status" | "finalize") {
            parts = &parts[2..];
        }
    }
    info.parts = parts.iter().map(|&p| p.to_owned()).collect();

    // resource/name/subresource/anything-else
    if parts.len() >= 3 && info.verb != "proxy" {
        info.subresource = parts[2].to_owned();
    }
    if parts.len() >= 2 {
        info.name = parts[1].to_owned();
    }
    info.resource = parts[0].to_owned();

    if info.name.is_empty() && info.verb == "get" {
        let decision = list_options::decide(query);
        info.verb = if decision.watch { "watch" } else { "list" }.to_owned();
        if let Some(name) = decision.name {
            info.name = name;
        }
    }
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".to_owned();
    }

    if !verb_via_path_prefix && matches!(info.verb.as_str(), "list" | "watch" | "deletecollection")
    {
        info.field_selector = query.field_selector.clone().unwrap_or_default();
        info.label_selector = query.label_selector.clone().unwrap_or_default();
    }
    Some(info)
}
