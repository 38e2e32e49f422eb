//! Kubernetes `Status` objects: how every refusal reaches kubectl as a readable message.
//!
//! kubectl prints `Error from server (Forbidden): <message>` for a `Status` with `reason`
//! `Forbidden`, so the message is written for the person at the terminal.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

use crate::body::{BoxBody, full};

/// The `reason` field kubectl shows in parentheses.
fn reason_for(code: StatusCode) -> &'static str {
    match code {
        StatusCode::BAD_REQUEST => "BadRequest",
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::PAYLOAD_TOO_LARGE => "RequestEntityTooLarge",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
        StatusCode::GATEWAY_TIMEOUT => "Timeout",
        _ => "InternalError",
    }
}

/// The JSON text of a failure `Status`.
pub fn status_json(code: StatusCode, message: &str) -> String {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason_for(code),
        "code": code.as_u16(),
    })
    .to_string()
}

/// A complete HTTP response carrying a failure `Status`.
pub fn status_response(code: StatusCode, message: &str) -> Response<BoxBody> {
    let mut resp = Response::new(full(Bytes::from(status_json(code, message))));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if code == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"jitgate\""),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_status_is_what_kubectl_expects() {
        let v: serde_json::Value =
            serde_json::from_str(&status_json(StatusCode::FORBIDDEN, "no grant"))
                .unwrap_or_default();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["reason"], "Forbidden");
        assert_eq!(v["code"], 403);
        assert_eq!(v["message"], "no grant");
    }
}
