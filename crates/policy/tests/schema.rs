//! The committed JSON Schema is what the types generate, and it accepts the shipped policy and
//! refuses broken ones.

use jitgate_policy::{EMBEDDED_DEFAULT, load_yaml, schema, schema_json};

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/policy.schema.json");

#[test]
fn committed_schema_matches_the_types() {
    let generated = schema_json();
    if std::env::var_os("JITGATE_UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_FILE, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/policy.schema.json differs from what the Rust types generate; regenerate it with \
         `JITGATE_UPDATE_SCHEMA=1 cargo test -p jitgate-policy --test schema` and commit it"
    );
}

#[test]
fn shipped_policy_is_valid_against_the_schema() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let policy = load_yaml(EMBEDDED_DEFAULT).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&policy)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn schema_refuses_broken_policies() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let cases = [
        (
            "unknown field",
            "maxDuration: 4h",
            "maxDuration: 4h\n    colour: blue",
        ),
        ("too many approvals", "approvals: 1", "approvals: 9"),
        (
            "wrong apiVersion",
            "apiVersion: jitgate.dev/v1",
            "apiVersion: v1",
        ),
        ("port out of range", "ports: [8080,", "ports: [70000,"),
        (
            "interactive mode",
            "interactive: record",
            "interactive: shell",
        ),
        (
            "duration syntax",
            "defaultDuration: 30m",
            "defaultDuration: half an hour",
        ),
        (
            "rules missing",
            "    rules:\n      - apiGroups: [\"\"]\n        resources: [pods, events]\n        verbs: [get, list, watch]\n      - apiGroups: [\"\"]\n        resources: [pods/log]\n        verbs: [get]\n      - apiGroups: [apps]\n        resources: [deployments, replicasets]\n        verbs: [get, list, watch]\n    scope:\n      namespaces: [payments]\n",
            "    scope:\n      namespaces: [payments]\n",
        ),
    ];
    for (name, from, to) in cases {
        assert_eq!(
            EMBEDDED_DEFAULT.matches(from).count(),
            1,
            "{name}: {from:?}"
        );
        let text = EMBEDDED_DEFAULT.replacen(from, to, 1);
        let value = load_yaml(&text).unwrap();
        assert!(
            !validator.is_valid(&value),
            "{name}: the schema accepted it"
        );
    }
}
