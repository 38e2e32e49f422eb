//! Property tests: classification never panics, and what it accepts is consistent.

// Test code: a panic is a failed test, with the message saying which input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jitgate_classify::{classify, classify_bytes};
use proptest::prelude::*;

/// Paths built from the pieces that matter, so that many of them are accepted.
fn pathish() -> impl Strategy<Value = String> {
    let segment = prop_oneof![
        Just("api".to_owned()),
        Just("apis".to_owned()),
        Just("v1".to_owned()),
        Just("apps".to_owned()),
        Just("namespaces".to_owned()),
        Just("ns".to_owned()),
        Just("pods".to_owned()),
        Just("p".to_owned()),
        Just("exec".to_owned()),
        Just("proxy".to_owned()),
        Just("watch".to_owned()),
        Just("status".to_owned()),
        Just("finalize".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just(String::new()),
        "[a-z0-9%.:;\\\\-]{1,6}",
    ];
    (prop::collection::vec(segment, 0..10), any::<bool>()).prop_map(|(segments, trailing)| {
        let mut path = format!("/{}", segments.join("/"));
        if trailing {
            path.push('/');
        }
        path
    })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        Just("PATCH".to_owned()),
        Just("DELETE".to_owned()),
        Just("HEAD".to_owned()),
        ".{0,8}",
    ]
}

fn queryish() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        "((watch|fieldSelector|labelSelector|limit|timeoutSeconds|x)=[a-z0-9%=,!\\\\.+]{0,12}&?){0,4}",
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn arbitrary_strings_never_panic(method in ".{0,40}", path in ".{0,200}", query in prop::option::of(".{0,200}")) {
        let _ = classify(&method, &path, query.as_deref());
    }

    #[test]
    fn arbitrary_bytes_never_panic(path in prop::collection::vec(any::<u8>(), 0..200), query in prop::option::of(prop::collection::vec(any::<u8>(), 0..200))) {
        let _ = classify_bytes("GET", &path, query.as_deref());
    }

    #[test]
    fn accepted_requests_are_consistent(method in method(), path in pathish(), query in queryish()) {
        if let Ok(info) = classify(&method, &path, query.as_deref()) {
            prop_assert_eq!(&info.path, &path);
            prop_assert!(!path.contains('%') && !path.contains("//") && !path.contains('\\'));
            prop_assert!(!path.split('/').any(|s| s == "." || s == ".."));
            if info.is_resource_request {
                prop_assert!(info.api_prefix == "api" || info.api_prefix == "apis");
                prop_assert!(!info.resource.is_empty());
                prop_assert_eq!(info.parts.first(), Some(&info.resource));
                if !info.subresource.is_empty() {
                    prop_assert!(!info.name.is_empty());
                }
            } else {
                prop_assert_eq!(&info.verb, &method.to_lowercase());
            }
            // One trailing slash never changes the classification.
            if path.len() > 1 && !path.ends_with('/') {
                let with_slash = format!("{path}/");
                if let Ok(other) = classify(&method, &with_slash, query.as_deref()) {
                    prop_assert_eq!(RequestView::from(&info), RequestView::from(&other));
                }
            }
        }
    }
}

/// The classification without the path, for comparisons across equivalent paths.
#[derive(Debug, PartialEq)]
struct RequestView {
    fields: Vec<String>,
}

impl From<&jitgate_classify::RequestInfo> for RequestView {
    fn from(info: &jitgate_classify::RequestInfo) -> Self {
        let mut fields = vec![
            info.is_resource_request.to_string(),
            info.verb.clone(),
            info.api_group.clone(),
            info.api_version.clone(),
            info.namespace.clone(),
            info.resource.clone(),
            info.subresource.clone(),
            info.name.clone(),
        ];
        fields.extend(info.parts.iter().cloned());
        Self { fields }
    }
}
