//! Failures as Kubernetes `Status` objects (`kind: Status`, `apiVersion: v1`), the body of every
//! non-2xx answer of the API, like the gateway's refusals of Kubernetes requests.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Kubernetes `Status`. `message` is written for the person at the terminal: what happened,
/// why, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Always `Status`.
    pub kind: String,
    /// Always `v1`.
    pub api_version: String,
    /// Always empty; kept because Kubernetes clients expect the field.
    #[serde(default)]
    pub metadata: Value,
    /// `Failure` (or `Success`, which the API never sends as an error body).
    pub status: String,
    /// What happened and what to do.
    #[serde(default)]
    pub message: String,
    /// A machine-readable reason in Kubernetes' vocabulary: `BadRequest`, `Unauthorized`,
    /// `Forbidden`, `NotFound`, `Conflict`, `Invalid`, `Timeout`, `InternalError`, ….
    #[serde(default)]
    pub reason: String,
    /// The HTTP status code.
    #[serde(default)]
    pub code: u16,
    /// Optional details (Kubernetes `StatusDetails`), passed through untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl Status {
    /// A failure with `code`, the Kubernetes reason for it, and `message`.
    #[must_use]
    pub fn failure(code: u16, message: impl Into<String>) -> Self {
        Self {
            kind: "Status".to_owned(),
            api_version: "v1".to_owned(),
            metadata: Value::Object(serde_json::Map::new()),
            status: "Failure".to_owned(),
            message: message.into(),
            reason: Self::reason_for(code).to_owned(),
            code,
            details: None,
        }
    }

    /// The same failure with another `reason` (e.g. `AlreadyExists` for a 409).
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// The Kubernetes `reason` that goes with an HTTP status code.
    #[must_use]
    pub fn reason_for(code: u16) -> &'static str {
        match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            406 => "NotAcceptable",
            409 => "Conflict",
            410 => "Gone",
            413 => "RequestEntityTooLarge",
            415 => "UnsupportedMediaType",
            422 => "Invalid",
            429 => "TooManyRequests",
            502 | 503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "InternalError",
        }
    }

    /// The JSON text of this status.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            // Serializing strings and numbers cannot fail; keep a valid body regardless.
            format!(
                "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\"code\":{}}}",
                self.code
            )
        })
    }

    /// Whether a JSON value looks like a Kubernetes `Status`.
    #[must_use]
    pub fn is_status(value: &Value) -> bool {
        value.get("kind").and_then(Value::as_str) == Some("Status")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_is_what_kubernetes_clients_read() {
        let status = Status::failure(403, "you may not approve your own request r-7f3a09c1");
        let json: Value = serde_json::from_str(&status.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "you may not approve your own request r-7f3a09c1",
                "reason": "Forbidden", "code": 403,
            })
        );
        let back: Status = serde_json::from_value(json).unwrap();
        assert_eq!(back, status);
    }

    #[test]
    fn reasons_by_code() {
        let cases = [
            (400, "BadRequest"),
            (404, "NotFound"),
            (409, "Conflict"),
            (422, "Invalid"),
            (418, "InternalError"),
        ];
        for (code, reason) in cases {
            assert_eq!(Status::reason_for(code), reason, "{code}");
        }
    }

    #[test]
    fn a_minimal_status_from_another_server_reads() {
        let s: Status = serde_json::from_str(
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":401}"#,
        )
        .unwrap();
        assert_eq!(s.code, 401);
        assert!(s.message.is_empty());
    }
}
