//! `docs/openapi.yaml` and the Rust types describe the same API: every path the crate knows is
//! documented with the right methods and nothing else is; every fixture in `tests/data`, every
//! example in the document, and fully and minimally populated values of every type validate
//! against the document's schemas (unknown properties are errors here, so an undocumented field
//! fails); bodies the server reads are closed (`additionalProperties: false`) in both.

// A test harness: a panic is how a helper fails the test.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use jitgate_api::paths::ApiRoute;
use jitgate_api::{
    AccessRequest, AccessRequestList, ApprovalPreview, ApprovalRecord, ApproveBody, AuthMethod,
    BreakGlassTerms, CancelBody, CertificatePolicy, CertificateRequest, CertificateResponse,
    CreateAccessRequest, DenyBody, GoDuration, Grant, GrantId, GrantList, GrantState, OidcSettings,
    Profile, ProfileList, RecordedSession, RecordedSessionList, RequestId, RequestState,
    ReviewBody, RevokeBody, ServerConfig, SessionId, Status, Timestamp, WhoAmI,
};
use serde::Serialize;
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn document() -> Value {
    let text = std::fs::read_to_string(root().join("../../docs/openapi.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    serde_json::to_value(yaml).unwrap()
}

/// Checks `value` against `schema`, collecting every mismatch with its JSON path.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        assert!(!target.is_null(), "{at}: dangling $ref {reference}");
        // The formats the document states in words, checked with the crate's own parsers.
        if let Some(text) = value.as_str() {
            let parsed = match name {
                "RequestId" => RequestId::parse(text).err().map(|e| e.to_string()),
                "GrantId" => GrantId::parse(text).err().map(|e| e.to_string()),
                "Timestamp" => Timestamp::parse(text).err().map(|e| e.to_string()),
                "Duration" => GoDuration::parse(text).err().map(|e| e.to_string()),
                _ => None,
            };
            if let Some(e) = parsed {
                errors.push(format!("{at}: {e}"));
            }
        }
        return check(doc, target, value, at, errors);
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
    let ty = schema.get("type").and_then(Value::as_str);
    let fits = match ty {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        Some(other) => panic!("{at}: the checker does not know type {other}"),
    };
    if !fits {
        errors.push(format!(
            "{at}: {value} is not of type {}",
            ty.unwrap_or("?")
        ));
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
                Some(sub) => check(doc, sub, item, &format!("{at}.{key}"), errors),
                // Strict on purpose: a field the Rust types write but the document omits fails.
                None if properties.is_some() => {
                    errors.push(format!("{at}: {key} is not documented"));
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

fn assert_valid(doc: &Value, schema_name: &str, value: &Value, what: &str) {
    let mut errors = Vec::new();
    let schema = json!({ "$ref": format!("#/components/schemas/{schema_name}") });
    check(doc, &schema, value, what, &mut errors);
    assert!(
        errors.is_empty(),
        "{what} against {schema_name}:\n{}",
        errors.join("\n")
    );
}

fn assert_valid_rust<T: Serialize>(doc: &Value, schema_name: &str, value: &T) {
    let json = serde_json::to_value(value).unwrap();
    assert_valid(
        doc,
        schema_name,
        &json,
        &format!("Rust {schema_name} {json}"),
    );
}

#[test]
fn every_endpoint_is_documented_with_its_methods_and_nothing_else() {
    let doc = document();
    let documented: Vec<(String, Vec<String>)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let mut methods: Vec<String> = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(|k| k.to_uppercase())
                .collect();
            methods.sort();
            (path.clone(), methods)
        })
        .collect();
    let expected: Vec<(&str, Vec<&str>)> = vec![
        ("/jitgate/v1/config", vec!["GET"]),
        ("/jitgate/v1/certificates", vec!["POST"]),
        ("/jitgate/v1/whoami", vec!["GET"]),
        ("/jitgate/v1/profiles", vec!["GET"]),
        ("/jitgate/v1/requests", vec!["GET", "POST"]),
        ("/jitgate/v1/requests/{id}", vec!["GET"]),
        ("/jitgate/v1/requests/{id}/approve", vec!["POST"]),
        ("/jitgate/v1/requests/{id}/deny", vec!["POST"]),
        ("/jitgate/v1/requests/{id}/cancel", vec!["POST"]),
        ("/jitgate/v1/grants", vec!["GET"]),
        ("/jitgate/v1/grants/{id}/revoke", vec!["POST"]),
        ("/jitgate/v1/grants/{id}/review", vec!["POST"]),
        ("/jitgate/v1/sessions", vec!["GET"]),
        ("/jitgate/v1/sessions/{id}/recording", vec!["GET"]),
    ];
    let mut want: Vec<(String, Vec<String>)> = expected
        .iter()
        .map(|(p, m)| ((*p).to_owned(), m.iter().map(|s| (*s).to_owned()).collect()))
        .collect();
    let mut got = documented.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    // The router agrees with the document for every documented method, and refuses the rest.
    for (path, methods) in documented {
        let concrete = if path.starts_with("/jitgate/v1/grants/") {
            path.replace("{id}", "g-0123abcd")
        } else if path.starts_with("/jitgate/v1/sessions/") {
            path.replace("{id}", "s-0123abcd")
        } else {
            path.replace("{id}", "r-0123abcd")
        };
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let routed = ApiRoute::match_request(method, &concrete).is_ok();
            assert_eq!(
                routed,
                methods.contains(&method.to_owned()),
                "{method} {concrete}"
            );
        }
    }
    // Only the config endpoint is open; only certificates is bearer-only.
    assert_eq!(
        doc["paths"]["/jitgate/v1/config"]["get"]["security"],
        json!([])
    );
    assert_eq!(
        doc["paths"]["/jitgate/v1/certificates"]["post"]["security"],
        json!([{ "oidcToken": [] }])
    );
}

#[test]
fn fixtures_validate_and_round_trip() {
    let doc = document();
    let cases: &[(&str, &str)] = &[
        ("config.json", "ServerConfig"),
        ("access-request-pending.json", "AccessRequest"),
        ("access-request-active.json", "AccessRequest"),
        ("grant.json", "Grant"),
        ("grant-revoked.json", "Grant"),
        ("whoami.json", "WhoAmI"),
        ("profiles.json", "ProfileList"),
        ("certificate-response.json", "CertificateResponse"),
        ("status-forbidden.json", "Status"),
    ];
    for (file, schema) in cases {
        let text = std::fs::read_to_string(root().join("tests/data").join(file)).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_valid(&doc, schema, &value, file);
        // The Rust type reads it and writes back exactly the same JSON.
        let back = match *schema {
            "ServerConfig" => {
                serde_json::to_value(serde_json::from_value::<ServerConfig>(value.clone()).unwrap())
            }
            "AccessRequest" => serde_json::to_value(
                serde_json::from_value::<AccessRequest>(value.clone()).unwrap(),
            ),
            "Grant" => {
                serde_json::to_value(serde_json::from_value::<Grant>(value.clone()).unwrap())
            }
            "WhoAmI" => {
                serde_json::to_value(serde_json::from_value::<WhoAmI>(value.clone()).unwrap())
            }
            "ProfileList" => {
                serde_json::to_value(serde_json::from_value::<ProfileList>(value.clone()).unwrap())
            }
            "CertificateResponse" => serde_json::to_value(
                serde_json::from_value::<CertificateResponse>(value.clone()).unwrap(),
            ),
            "Status" => {
                serde_json::to_value(serde_json::from_value::<Status>(value.clone()).unwrap())
            }
            other => panic!("no Rust type for {other}"),
        }
        .unwrap();
        assert_eq!(back, value, "{file} round trip");
    }
}

/// Every `examples` value under a media type validates against that media type's schema.
#[test]
fn examples_in_the_document_validate() {
    let doc = document();
    let mut count = 0;
    let mut stack = vec![(String::from("$"), doc.clone())];
    while let Some((at, node)) = stack.pop() {
        if let (Some(schema), Some(examples)) = (
            node.get("schema"),
            node.get("examples").and_then(Value::as_object),
        ) {
            for (name, example) in examples {
                let mut errors = Vec::new();
                check(
                    &doc,
                    schema,
                    &example["value"],
                    &format!("{at}.examples.{name}"),
                    &mut errors,
                );
                assert!(errors.is_empty(), "{}", errors.join("\n"));
                count += 1;
            }
        }
        match node {
            Value::Object(map) => {
                stack.extend(map.into_iter().map(|(k, v)| (format!("{at}.{k}"), v)));
            }
            Value::Array(items) => {
                let children = items.into_iter().enumerate();
                stack.extend(children.map(|(i, v)| (format!("{at}[{i}]"), v)));
            }
            _ => {}
        }
    }
    assert!(count >= 10, "only {count} examples found");
}

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn full_grant() -> Grant {
    Grant {
        id: GrantId::parse("g-1d2e3f40").unwrap(),
        user: "bob@example.com".into(),
        profile: "debug".into(),
        namespaces: vec!["checkout".into()],
        pod_name_glob: Some("checkout-*".into()),
        pod_label_selector: Some("app=checkout".into()),
        reason: "r".into(),
        created_by: "bob@example.com".into(),
        created_at: ts("2026-05-01T01:00:00Z"),
        expires_at: ts("2026-05-01T01:15:00Z"),
        revoked_at: Some(ts("2026-05-01T01:05:00Z")),
        revoked_by: Some("dave@example.com".into()),
        revoke_reason: Some("done".into()),
        state: GrantState::Revoked,
        request: Some(RequestId::parse("r-00aa11bb").unwrap()),
        break_glass: true,
        needs_review: false,
        reviewed_by: Some("dave@example.com".into()),
        reviewed_at: Some(ts("2026-05-01T09:00:00Z")),
        review_comment: Some("ok".into()),
    }
}

fn minimal_grant() -> Grant {
    Grant {
        pod_name_glob: None,
        pod_label_selector: None,
        revoked_at: None,
        revoked_by: None,
        revoke_reason: None,
        state: GrantState::Active,
        request: None,
        break_glass: false,
        needs_review: false,
        reviewed_by: None,
        reviewed_at: None,
        review_comment: None,
        ..full_grant()
    }
}

fn full_request() -> AccessRequest {
    AccessRequest {
        id: RequestId::parse("r-00aa11bb").unwrap(),
        state: RequestState::Denied,
        requester: "carol@example.com".into(),
        requester_groups: vec!["payments-dev".into()],
        profile: "debug".into(),
        namespace: "payments".into(),
        duration: GoDuration::from_secs(1800),
        reason: "r".into(),
        ticket: Some("INC-1".into()),
        break_glass: true,
        needs_review: true,
        route: "needs 2 approvals from sre-leads".into(),
        approvals_required: 2,
        approver_groups: vec!["sre-leads".into()],
        approvals: vec![ApprovalRecord {
            by: "bob@example.com".into(),
            at: ts("2026-05-01T01:01:00Z"),
            comment: Some("ok".into()),
        }],
        created_at: ts("2026-05-01T01:00:00Z"),
        decided_at: Some(ts("2026-05-01T01:02:00Z")),
        decided_by: Some("dave@example.com".into()),
        deny_reason: Some("no".into()),
        cancel_reason: Some("n/a".into()),
        grant: Some(GrantId::parse("g-1d2e3f40").unwrap()),
        grant_expires_at: Some(ts("2026-05-01T01:30:00Z")),
        ended_at: Some(ts("2026-05-01T01:02:00Z")),
    }
}

#[test]
fn fully_and_minimally_populated_values_validate() {
    let doc = document();
    let minimal_request = AccessRequest {
        ticket: None,
        approvals: vec![],
        decided_at: None,
        decided_by: None,
        deny_reason: None,
        cancel_reason: None,
        grant: None,
        grant_expires_at: None,
        ended_at: None,
        ..full_request()
    };
    for r in [full_request(), minimal_request] {
        assert_valid_rust(&doc, "AccessRequest", &r);
    }
    assert_valid_rust(
        &doc,
        "AccessRequestList",
        &AccessRequestList {
            items: vec![full_request()],
        },
    );
    for g in [full_grant(), minimal_grant()] {
        assert_valid_rust(&doc, "Grant", &g);
    }
    assert_valid_rust(
        &doc,
        "GrantList",
        &GrantList {
            items: vec![full_grant()],
        },
    );
    let full_session = RecordedSession {
        id: SessionId::parse("s-0123abcd").unwrap(),
        user: "alice".into(),
        grant: Some(GrantId::parse("g-0123abcd").unwrap()),
        namespace: "payments".into(),
        pod: "api-0".into(),
        container: Some("api".into()),
        kind: "exec".into(),
        command: "sh".into(),
        tty: true,
        started_at: ts("2026-05-01T03:17:02Z"),
        bytes: 4096,
    };
    let minimal_session = RecordedSession {
        grant: None,
        container: None,
        user: String::new(),
        ..full_session.clone()
    };
    assert_valid_rust(
        &doc,
        "RecordedSessionList",
        &RecordedSessionList {
            items: vec![full_session, minimal_session],
        },
    );
    let policy = CertificatePolicy {
        default_ttl: GoDuration::from_secs(8 * 3600),
        min_ttl: GoDuration::from_secs(300),
        max_ttl: GoDuration::from_secs(12 * 3600),
    };
    for oidc in [
        OidcSettings {
            issuer: "https://i".into(),
            client_id: "c".into(),
            client_secret: Some("s".into()),
            scopes: vec!["openid".into()],
            ca_certificate: Some("PEM".into()),
        },
        OidcSettings {
            issuer: "https://i".into(),
            client_id: "c".into(),
            client_secret: None,
            scopes: vec![],
            ca_certificate: None,
        },
    ] {
        assert_valid_rust(
            &doc,
            "ServerConfig",
            &ServerConfig {
                oidc,
                certificate: policy,
                server: "https://gw".into(),
            },
        );
    }
    for (auth_method, expires) in [
        (AuthMethod::Certificate, Some(ts("2026-05-01T10:00:00Z"))),
        (AuthMethod::Oidc, None),
    ] {
        assert_valid_rust(
            &doc,
            "WhoAmI",
            &WhoAmI {
                user: "u".into(),
                groups: vec![],
                auth_method,
                credential_expires_at: expires,
                grants: vec![minimal_grant()],
            },
        );
    }
    for break_glass in [
        Some(BreakGlassTerms {
            max_duration: GoDuration::from_secs(3600),
        }),
        None,
    ] {
        let profile = Profile {
            name: "debug".into(),
            description: String::new(),
            default_duration: GoDuration::from_secs(1800),
            max_duration: GoDuration::from_secs(4 * 3600),
            namespaces: vec!["*".into()],
            approval: ApprovalPreview {
                auto_approved: false,
                route: "needs 1 approval from sre-leads".into(),
                approvals_required: 1,
                approver_groups: vec![],
            },
            break_glass,
        };
        assert_valid_rust(
            &doc,
            "ProfileList",
            &ProfileList {
                items: vec![profile],
            },
        );
    }
    assert_valid_rust(
        &doc,
        "CertificateResponse",
        &CertificateResponse {
            certificate: "C".into(),
            ca_certificate: "CA".into(),
            user: "u".into(),
            groups: vec![],
            expires_at: ts("2026-05-01T10:00:00Z"),
        },
    );
    assert_valid_rust(
        &doc,
        "Status",
        &Status::failure(409, "r-00aa11bb is denied, not pending"),
    );
    // Bodies the server reads.
    let create = CreateAccessRequest {
        profile: "debug".into(),
        namespace: "payments".into(),
        duration: Some(GoDuration::from_secs(1800)),
        reason: "x".into(),
        ticket: Some("INC-1".into()),
        break_glass: true,
    };
    assert_valid_rust(&doc, "CreateAccessRequest", &create);
    assert_valid_rust(
        &doc,
        "CertificateRequest",
        &CertificateRequest {
            csr: "-----BEGIN CERTIFICATE REQUEST-----".into(),
            ttl: Some(GoDuration::from_secs(3600)),
        },
    );
    assert_valid_rust(
        &doc,
        "ApproveBody",
        &ApproveBody {
            comment: Some("ok".into()),
        },
    );
    assert_valid_rust(&doc, "ApproveBody", &ApproveBody::default());
    assert_valid_rust(
        &doc,
        "DenyBody",
        &DenyBody {
            reason: "no".into(),
        },
    );
    assert_valid_rust(
        &doc,
        "CancelBody",
        &CancelBody {
            reason: Some("done".into()),
        },
    );
    assert_valid_rust(
        &doc,
        "RevokeBody",
        &RevokeBody {
            reason: "done".into(),
        },
    );
    assert_valid_rust(
        &doc,
        "ReviewBody",
        &ReviewBody {
            comment: "ok".into(),
        },
    );
}

#[test]
fn bodies_the_server_reads_are_closed_in_both() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let closed: Vec<&str> = schemas
        .iter()
        .filter(|(_, s)| s.get("additionalProperties") == Some(&Value::Bool(false)))
        .map(|(n, _)| n.as_str())
        .collect();
    let mut want = vec![
        "ApproveBody",
        "CancelBody",
        "CertificateRequest",
        "CreateAccessRequest",
        "DenyBody",
        "ReviewBody",
        "RevokeBody",
    ];
    want.sort_unstable();
    let mut got = closed.clone();
    got.sort_unstable();
    assert_eq!(got, want);
    let extra = |body: &str| -> Value {
        let mut v: Value = serde_json::from_str(body).unwrap();
        v["user"] = json!("mallory");
        v
    };
    assert!(serde_json::from_value::<CertificateRequest>(extra(r#"{"csr":"x"}"#)).is_err());
    assert!(
        serde_json::from_value::<CreateAccessRequest>(extra(
            r#"{"profile":"p","namespace":"n","reason":"r"}"#
        ))
        .is_err()
    );
    assert!(serde_json::from_value::<ApproveBody>(extra("{}")).is_err());
    assert!(serde_json::from_value::<DenyBody>(extra(r#"{"reason":"r"}"#)).is_err());
    assert!(serde_json::from_value::<CancelBody>(extra("{}")).is_err());
    assert!(serde_json::from_value::<RevokeBody>(extra(r#"{"reason":"r"}"#)).is_err());
    assert!(serde_json::from_value::<ReviewBody>(extra(r#"{"comment":"c"}"#)).is_err());
    // Bodies the server writes accept fields a newer gateway adds.
    let mut newer: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/data/grant.json")).unwrap(),
    )
    .unwrap();
    newer["sessionCount"] = json!(3);
    assert!(serde_json::from_value::<Grant>(newer).is_ok());
}

#[test]
fn the_checker_catches_undocumented_missing_and_malformed_fields() {
    let doc = document();
    let mut value = serde_json::to_value(minimal_grant()).unwrap();
    let mut errors = Vec::new();
    value["sessionCount"] = json!(3);
    value.as_object_mut().unwrap().remove("createdBy");
    value["expiresAt"] = json!("tomorrow");
    value["state"] = json!("paused");
    check(
        &doc,
        &json!({"$ref": "#/components/schemas/Grant"}),
        &value,
        "$",
        &mut errors,
    );
    let text = errors.join("\n");
    for want in [
        "sessionCount is not documented",
        "required createdBy is missing",
        "$.expiresAt: \"tomorrow\" is not an RFC 3339 time",
        "$.state: \"paused\" is not one of",
    ] {
        assert!(text.contains(want), "{want} not in:\n{text}");
    }
}
