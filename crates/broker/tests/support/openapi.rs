//! Checks answers against `docs/openapi.yaml`: the path and method are documented, the status
//! code is one the operation documents (or one of the general errors the document's
//! description gives every endpoint), and the body validates against that response's schema.
//! Undocumented fields are errors, so the handler cannot add to the contract unnoticed.

#![allow(clippy::unwrap_used)]

use jitgate_api::{GoDuration, GrantId, RequestId, SessionId, Timestamp};
use serde_json::{Value, json};

/// Codes the description gives every endpoint: 405 from the router, 413 and 415 for bodies,
/// 503 when the store or identity provider is unreachable.
const GENERAL_ERRORS: [u16; 4] = [405, 413, 415, 503];

pub struct OpenApi {
    doc: Value,
}

impl OpenApi {
    pub fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        Self {
            doc: serde_json::to_value(yaml).unwrap(),
        }
    }

    /// The documented path template `path` (without query) falls under, if any.
    fn template(&self, path: &str) -> Option<String> {
        let wanted: Vec<&str> = path.split('/').collect();
        self.doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .find(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                parts.len() == wanted.len()
                    && parts
                        .iter()
                        .zip(&wanted)
                        .all(|(t, w)| (t.starts_with('{') && t.ends_with('}')) || t == w)
            })
            .cloned()
    }

    /// Every mismatch of one answer.
    pub fn check(
        &self,
        method: &str,
        path_and_query: &str,
        status: u16,
        body: &Value,
    ) -> Vec<String> {
        let at = format!("{method} {path_and_query} → {status}");
        let path = path_and_query.split('?').next().unwrap_or_default();
        let status_schema = json!({ "$ref": "#/components/schemas/Status" });
        let mut errors = Vec::new();
        let Some(template) = self.template(path) else {
            // An undocumented path gets a 404 Status, nothing else.
            if status != 404 {
                errors.push(format!("{at}: undocumented path answered {status}"));
            }
            self.value(&status_schema, body, &at, &mut errors);
            return errors;
        };
        let operation = &self.doc["paths"][&template][method.to_lowercase()];
        if operation.is_null() {
            if status != 405 {
                errors.push(format!("{at}: undocumented method answered {status}"));
            }
            self.value(&status_schema, body, &at, &mut errors);
            return errors;
        }
        let mut response = &operation["responses"][status.to_string()];
        if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/components/responses/");
            response = &self.doc["components"]["responses"][name];
        }
        if response.is_null() {
            if !GENERAL_ERRORS.contains(&status) {
                errors.push(format!(
                    "{at}: {status} is not documented for {method} {template}"
                ));
            }
            self.value(&status_schema, body, &at, &mut errors);
            return errors;
        }
        let schema = &response["content"]["application/json"]["schema"];
        assert!(
            !schema.is_null(),
            "{at}: the documented response has no JSON schema"
        );
        self.value(schema, body, &at, &mut errors);
        if status >= 400 && body["code"] != json!(status) {
            errors.push(format!("{at}: the Status says code {}", body["code"]));
        }
        errors
    }

    /// Mismatches of an answer that is not JSON: its path, method and status are documented
    /// with `content_type` as the response's media type.
    pub fn check_media(
        &self,
        method: &str,
        path_and_query: &str,
        status: u16,
        content_type: &str,
    ) -> Vec<String> {
        let at = format!("{method} {path_and_query} → {status} ({content_type})");
        let path = path_and_query.split('?').next().unwrap_or_default();
        let Some(template) = self.template(path) else {
            return vec![format!("{at}: undocumented path")];
        };
        let response =
            &self.doc["paths"][&template][method.to_lowercase()]["responses"][status.to_string()];
        if response["content"][content_type].is_null() {
            return vec![format!(
                "{at}: {method} {template} documents no {content_type} answer for {status}"
            )];
        }
        Vec::new()
    }

    fn value(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/components/schemas/");
            let target = &self.doc["components"]["schemas"][name];
            assert!(!target.is_null(), "{at}: dangling $ref {reference}");
            if let Some(text) = value.as_str() {
                let problem = match name {
                    "RequestId" => RequestId::parse(text).err().map(|e| e.to_string()),
                    "GrantId" => GrantId::parse(text).err().map(|e| e.to_string()),
                    "SessionId" => SessionId::parse(text).err().map(|e| e.to_string()),
                    "Timestamp" => Timestamp::parse(text).err().map(|e| e.to_string()),
                    "Duration" => GoDuration::parse(text).err().map(|e| e.to_string()),
                    _ => None,
                };
                if let Some(p) = problem {
                    errors.push(format!("{at}: {p}"));
                }
            }
            return self.value(target, value, at, errors);
        }
        if let Some(c) = schema.get("const")
            && c != value
        {
            errors.push(format!("{at}: {value} is not {c}"));
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {options:?}"));
        }
        let fits = match schema.get("type").and_then(Value::as_str) {
            None => true,
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("boolean") => value.is_boolean(),
            Some(other) => panic!("{at}: the checker does not know type {other}"),
        };
        if !fits {
            errors.push(format!("{at}: {value} is not of type {}", schema["type"]));
            return;
        }
        if let (Some(max), Some(text)) = (
            schema.get("maxLength").and_then(Value::as_u64),
            value.as_str(),
        ) && text.chars().count() as u64 > max
        {
            errors.push(format!("{at}: longer than {max}"));
        }
        if let (Some(min), Some(n)) = (
            schema.get("minimum").and_then(Value::as_i64),
            value.as_i64(),
        ) && n < min
        {
            errors.push(format!("{at}: {n} is below {min}"));
        }
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = required.as_str().unwrap();
                if !object.contains_key(name) {
                    errors.push(format!("{at}: required {name} is missing"));
                }
            }
            for (key, item) in object {
                match properties.and_then(|p| p.get(key)) {
                    Some(sub) => self.value(sub, item, &format!("{at}.{key}"), errors),
                    None if properties.is_some() => {
                        errors.push(format!("{at}: {key} is not documented"));
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.value(items, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
}

#[test]
fn the_checker_catches_what_the_document_does_not_say() {
    let doc = OpenApi::load();
    let grant = json!({
        "id": "g-0123abcd", "user": "u", "profile": "p", "namespaces": [], "reason": "r",
        "createdBy": "u", "createdAt": "2026-05-01T01:00:00Z", "expiresAt": "2026-05-01T02:00:00Z",
        "state": "active", "breakGlass": false, "needsReview": false,
    });
    assert!(
        doc.check("POST", "/jitgate/v1/grants/g-0123abcd/revoke", 200, &grant)
            .is_empty()
    );
    let mut extra = grant.clone();
    extra["sessions"] = json!(3);
    let errors = doc
        .check("POST", "/jitgate/v1/grants/g-0123abcd/revoke", 200, &extra)
        .join("\n");
    assert!(errors.contains("sessions is not documented"), "{errors}");
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "m", "reason": "Invalid", "code": 422});
    let errors = doc
        .check(
            "POST",
            "/jitgate/v1/requests/r-0123abcd/approve",
            422,
            &status,
        )
        .join("\n");
    assert!(errors.contains("422 is not documented"), "{errors}");
    assert!(
        doc.check("POST", "/jitgate/v1/requests", 422, &status)
            .is_empty()
    );
}
