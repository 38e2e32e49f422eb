//! Table tests mirroring kube-apiserver's `requestinfo_test.go`, plus the streaming, selector and
//! non-resource cases the gateway relies on.

// Test code: a panic is a failed test, with the message saying which input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jitgate_classify::{RequestInfo, classify};

/// One expected classification: method, URL, then verb, prefix, group, version, namespace,
/// resource, subresource, name and parts.
struct Case {
    name: &'static str,
    method: &'static str,
    url: &'static str,
    verb: &'static str,
    prefix: &'static str,
    group: &'static str,
    version: &'static str,
    namespace: &'static str,
    resource: &'static str,
    subresource: &'static str,
    object: &'static str,
    parts: &'static [&'static str],
}

#[allow(clippy::too_many_arguments)]
const fn case(
    name: &'static str,
    method: &'static str,
    url: &'static str,
    verb: &'static str,
    prefix: &'static str,
    group: &'static str,
    version: &'static str,
    namespace: &'static str,
    resource: &'static str,
    subresource: &'static str,
    object: &'static str,
    parts: &'static [&'static str],
) -> Case {
    Case {
        name,
        method,
        url,
        verb,
        prefix,
        group,
        version,
        namespace,
        resource,
        subresource,
        object,
        parts,
    }
}

fn run(method: &str, url: &str) -> RequestInfo {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    };
    classify(method, path, query).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

#[rustfmt::skip]
const RESOURCE_CASES: &[Case] = &[
    // resource paths
    case("list namespaces", "GET", "/api/v1/namespaces", "list", "api", "", "v1", "", "namespaces", "", "", &["namespaces"]),
    case("get namespace", "GET", "/api/v1/namespaces/other", "get", "api", "", "v1", "other", "namespaces", "", "other", &["namespaces", "other"]),
    case("list pods in namespace", "GET", "/api/v1/namespaces/other/pods", "list", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    case("get pod", "GET", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    case("head pod", "HEAD", "/api/v1/namespaces/other/pods/foo", "get", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    case("list pods all namespaces", "GET", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", &["pods"]),
    case("head pods all namespaces", "HEAD", "/api/v1/pods", "list", "api", "", "v1", "", "pods", "", "", &["pods"]),
    case("patch namespace (namespace is the object itself)", "PATCH", "/api/v1/namespaces/new-namespace", "patch", "api", "", "v1", "new-namespace", "namespaces", "", "new-namespace", &["namespaces", "new-namespace"]),
    // special verbs
    case("legacy proxy verb", "GET", "/api/v1/proxy/namespaces/other/pods/foo", "proxy", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    case("legacy proxy verb with subpath", "GET", "/api/v1/proxy/namespaces/other/pods/foo/subpath/not/a/subresource", "proxy", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo", "subpath", "not", "a", "subresource"]),
    case("legacy watch verb", "GET", "/api/v1/watch/pods", "watch", "api", "", "v1", "", "pods", "", "", &["pods"]),
    case("watch=true", "GET", "/api/v1/pods?watch=true", "watch", "api", "", "v1", "", "pods", "", "", &["pods"]),
    case("watch=false", "GET", "/api/v1/pods?watch=false", "list", "api", "", "v1", "", "pods", "", "", &["pods"]),
    case("legacy watch verb in namespace", "GET", "/api/v1/watch/namespaces/other/pods", "watch", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    case("watch=1", "GET", "/api/v1/namespaces/other/pods?watch=1", "watch", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    case("watch=0", "GET", "/api/v1/namespaces/other/pods?watch=0", "list", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    // subresource identification
    case("pod status", "GET", "/api/v1/namespaces/other/pods/foo/status", "get", "api", "", "v1", "other", "pods", "status", "foo", &["pods", "foo", "status"]),
    case("pod proxy subresource", "GET", "/api/v1/namespaces/other/pods/foo/proxy/subpath", "get", "api", "", "v1", "other", "pods", "proxy", "foo", &["pods", "foo", "proxy", "subpath"]),
    case("namespace finalize", "PUT", "/api/v1/namespaces/other/finalize", "update", "api", "", "v1", "other", "namespaces", "finalize", "other", &["namespaces", "other", "finalize"]),
    case("namespace status", "PUT", "/api/v1/namespaces/other/status", "update", "api", "", "v1", "other", "namespaces", "status", "other", &["namespaces", "other", "status"]),
    // verb identification
    case("patch pod", "PATCH", "/api/v1/namespaces/other/pods/foo", "patch", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    case("delete pod", "DELETE", "/api/v1/namespaces/other/pods/foo", "delete", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    case("create pod", "POST", "/api/v1/namespaces/other/pods", "create", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    case("replace pod", "PUT", "/api/v1/namespaces/other/pods/foo", "update", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    case("unknown method has no verb", "OPTIONS", "/api/v1/namespaces/other/pods/foo", "", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    case("methods are case sensitive", "get", "/api/v1/namespaces/other/pods/foo", "", "api", "", "v1", "other", "pods", "", "foo", &["pods", "foo"]),
    // deletecollection verb identification
    case("deletecollection nodes", "DELETE", "/api/v1/nodes", "deletecollection", "api", "", "v1", "", "nodes", "", "", &["nodes"]),
    case("deletecollection namespaces", "DELETE", "/api/v1/namespaces", "deletecollection", "api", "", "v1", "", "namespaces", "", "", &["namespaces"]),
    case("deletecollection pods", "DELETE", "/api/v1/namespaces/other/pods", "deletecollection", "api", "", "v1", "other", "pods", "", "", &["pods"]),
    case("deletecollection in group", "DELETE", "/apis/extensions/v1/namespaces/other/pods", "deletecollection", "apis", "extensions", "v1", "other", "pods", "", "", &["pods"]),
    // api group and version identification
    case("create in group", "POST", "/apis/extensions/v1/namespaces/other/pods", "create", "apis", "extensions", "v1", "other", "pods", "", "", &["pods"]),
    case("beta version", "POST", "/apis/extensions/v1beta3/namespaces/other/pods", "create", "apis", "extensions", "v1beta3", "other", "pods", "", "", &["pods"]),
    // the gateway's streaming subresources: verb follows the method, as upstream
    case("exec over websocket", "GET", "/api/v1/namespaces/checkout/pods/api-0/exec?command=sh&stdin=true&tty=true", "get", "api", "", "v1", "checkout", "pods", "exec", "api-0", &["pods", "api-0", "exec"]),
    case("exec over spdy", "POST", "/api/v1/namespaces/checkout/pods/api-0/exec?command=ls", "create", "api", "", "v1", "checkout", "pods", "exec", "api-0", &["pods", "api-0", "exec"]),
    case("attach", "POST", "/api/v1/namespaces/checkout/pods/api-0/attach?stdin=true", "create", "api", "", "v1", "checkout", "pods", "attach", "api-0", &["pods", "api-0", "attach"]),
    case("portforward", "GET", "/api/v1/namespaces/checkout/pods/api-0/portforward?ports=8080", "get", "api", "", "v1", "checkout", "pods", "portforward", "api-0", &["pods", "api-0", "portforward"]),
    case("logs", "GET", "/api/v1/namespaces/checkout/pods/api-0/log?follow=true&container=app", "get", "api", "", "v1", "checkout", "pods", "log", "api-0", &["pods", "api-0", "log"]),
    case("ephemeral containers", "PATCH", "/api/v1/namespaces/checkout/pods/api-0/ephemeralcontainers", "patch", "api", "", "v1", "checkout", "pods", "ephemeralcontainers", "api-0", &["pods", "api-0", "ephemeralcontainers"]),
    case("service proxy", "POST", "/api/v1/namespaces/checkout/services/web:80/proxy/a/b", "create", "api", "", "v1", "checkout", "services", "proxy", "web:80", &["services", "web:80", "proxy", "a", "b"]),
    case("node proxy", "GET", "/api/v1/nodes/node-1/proxy/metrics", "get", "api", "", "v1", "", "nodes", "proxy", "node-1", &["nodes", "node-1", "proxy", "metrics"]),
    case("deployments", "GET", "/apis/apps/v1/namespaces/checkout/deployments", "list", "apis", "apps", "v1", "checkout", "deployments", "", "", &["deployments"]),
    case("deployment scale", "PUT", "/apis/apps/v1/namespaces/checkout/deployments/api/scale", "update", "apis", "apps", "v1", "checkout", "deployments", "scale", "api", &["deployments", "api", "scale"]),
    case("trailing slash is ignored like upstream", "GET", "/api/v1/namespaces/checkout/pods/", "list", "api", "", "v1", "checkout", "pods", "", "", &["pods"]),
    case("namespace named like a subresource", "GET", "/api/v1/namespaces/status", "get", "api", "", "v1", "status", "namespaces", "", "status", &["namespaces", "status"]),
    case("namespaces resource in a group", "GET", "/apis/g/v1/namespaces", "list", "apis", "g", "v1", "", "namespaces", "", "", &["namespaces"]),
    // TestGetNonAPIRequestInfo's resource cases
    case("simple groupless", "GET", "/api/version/resource", "list", "api", "", "version", "", "resource", "", "", &["resource"]),
    case("simple group", "GET", "/apis/group/version/resource/name/subresource", "get", "apis", "group", "version", "", "resource", "subresource", "name", &["resource", "name", "subresource"]),
    case("more steps", "GET", "/api/version/resource/name/subresource", "get", "api", "", "version", "", "resource", "subresource", "name", &["resource", "name", "subresource"]),
    case("group list", "GET", "/apis/batch/v1/job", "list", "apis", "batch", "v1", "", "job", "", "", &["job"]),
    case("group get", "GET", "/apis/batch/v1/job/foo", "get", "apis", "batch", "v1", "", "job", "", "foo", &["job", "foo"]),
    case("group subresource", "GET", "/apis/batch/v1/job/foo/scale", "get", "apis", "batch", "v1", "", "job", "scale", "foo", &["job", "foo", "scale"]),
];

#[test]
fn resource_requests_classify_like_upstream() {
    let mut failures = Vec::new();
    for c in RESOURCE_CASES {
        let info = run(c.method, c.url);
        let expected = (
            true,
            c.verb,
            c.prefix,
            c.group,
            c.version,
            c.namespace,
            c.resource,
            c.subresource,
            c.object,
            c.parts.to_vec(),
        );
        let actual = (
            info.is_resource_request,
            info.verb.as_str(),
            info.api_prefix.as_str(),
            info.api_group.as_str(),
            info.api_version.as_str(),
            info.namespace.as_str(),
            info.resource.as_str(),
            info.subresource.as_str(),
            info.name.as_str(),
            info.parts.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        if expected != actual {
            failures.push(format!("{}: expected {expected:?}, got {actual:?}", c.name));
        }
        assert_eq!(info.path, c.url.split('?').next().unwrap_or_default());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn non_resource_requests_keep_the_lowercase_method() {
    #[rustfmt::skip]
    let cases = [
        ("root", "GET", "/", "get"),
        ("version", "GET", "/version", "get"),
        ("healthz", "GET", "/healthz", "get"),
        ("openapi v2", "GET", "/openapi/v2", "get"),
        ("openapi v3 group", "GET", "/openapi/v3/apis/apps/v1", "get"),
        ("api discovery", "GET", "/api", "get"),
        ("api version discovery", "GET", "/api/v1", "get"),
        ("just apiversion with slash", "GET", "/api/version/", "get"),
        ("apis discovery", "GET", "/apis", "get"),
        ("group discovery", "GET", "/apis/apps", "get"),
        ("group version discovery", "GET", "/apis/apps/v1", "get"),
        ("just prefix, group, version", "GET", "/apis/group/version/", "get"),
        ("bad prefix", "GET", "/badprefix/version/resource", "get"),
        ("missing api group", "POST", "/apis/version/resource", "post"),
        ("bad root", "GET", "/not-api/version/resource", "get"),
        ("group without enough steps", "GET", "/apis/extensions/v1beta1", "get"),
        ("head", "HEAD", "/version", "head"),
        ("unknown method", "PROPFIND", "/version", "propfind"),
        ("case preserved only by lowering", "Get", "/version", "get"),
    ];
    for (name, method, url, verb) in cases {
        let info = run(method, url);
        assert!(!info.is_resource_request, "{name}");
        assert_eq!(info.verb, verb, "{name}");
        assert_eq!(info.path, url, "{name}");
        assert!(
            info.api_prefix.is_empty() && info.resource.is_empty() && info.parts.is_empty(),
            "{name}"
        );
    }
}

#[test]
fn special_verb_without_resource_is_an_error_like_upstream() {
    for path in ["/api/v1/watch", "/api/v1/proxy", "/apis/apps/v1/watch/"] {
        let err = classify("GET", path, None).expect_err(path);
        assert!(
            err.to_string()
                .contains("unable to determine kind and namespace"),
            "{path}: {err}"
        );
    }
}

/// `TestFieldSelectorParsing`, plus the cases around it.
#[test]
fn field_selector_names_the_object_of_a_list_or_watch() {
    #[rustfmt::skip]
    let cases = [
        ("no selector", "/apis/group/version/resource", "", "list"),
        ("metadata.name selector", "/apis/group/version/resource?fieldSelector=metadata.name=name1", "name1", "list"),
        ("metadata.name selector with watch", "/apis/group/version/resource?watch=true&fieldSelector=metadata.name=name1", "name1", "watch"),
        ("random selector", "/apis/group/version/resource?fieldSelector=foo=bar", "", "list"),
        ("invalid selector with metadata.name", "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo", "", "list"),
        ("invalid selector with metadata.name with watch", "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=true", "", "watch"),
        ("invalid selector with metadata.name with watch false", "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo&watch=false", "", "list"),
        ("encoded selector", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dapi-0&watch=1", "api-0", "watch"),
        ("double equals", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3D%3Dapi-0", "api-0", "list"),
        ("not equals names nothing", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name!%3Dapi-0", "", "list"),
        ("sorted terms: first after sorting wins", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Db,metadata.name%3Da", "a", "list"),
        ("dot-dot name is ignored", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3D..", "", "list"),
        ("bad limit drops the name", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Da&limit=x", "", "list"),
        ("bad timeout drops the name, keeps watch", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Da&timeoutSeconds=x&watch=1", "", "watch"),
        ("good limit keeps the name", "/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Da&limit=500&timeoutSeconds=-1", "a", "list"),
        ("repeated param: first wins", "/apis/group/version/resource?fieldSelector=metadata.name=foo&fieldSelector=metadata.name=bar", "foo", "list"),
        ("legacy watch of one object keeps the path name", "/apis/group/version/watch/resource/name?fieldSelector=metadata.name=foo", "name", "watch"),
        ("legacy watch prefix ignores the selector name", "/api/v1/watch/namespaces/ns/pods?fieldSelector=metadata.name%3Da", "", "watch"),
    ];
    for (name, url, expected_name, verb) in cases {
        let info = run("GET", url);
        assert_eq!(info.name, expected_name, "{name}");
        assert_eq!(info.verb, verb, "{name}");
    }
}

#[test]
fn selectors_are_recorded_for_collection_verbs_only() {
    let info = run(
        "GET",
        "/api/v1/namespaces/ns/pods?labelSelector=app%3Dapi&fieldSelector=spec.nodeName%3Dn1",
    );
    assert_eq!(
        (info.label_selector.as_str(), info.field_selector.as_str()),
        ("app=api", "spec.nodeName=n1")
    );

    let info = run(
        "DELETE",
        "/api/v1/namespaces/ns/pods?labelSelector=app%3Dapi",
    );
    assert_eq!(
        (info.verb.as_str(), info.label_selector.as_str()),
        ("deletecollection", "app=api")
    );

    let info = run(
        "GET",
        "/api/v1/namespaces/ns/pods/a?labelSelector=app%3Dapi",
    );
    assert_eq!(
        (info.verb.as_str(), info.label_selector.as_str()),
        ("get", "")
    );

    let info = run(
        "GET",
        "/apis/group/version/resource?fieldSelector=metadata.name=foo&fieldSelector=metadata.name=bar&labelSelector=foo=bar&labelSelector=foo=baz",
    );
    assert_eq!(
        (info.field_selector.as_str(), info.label_selector.as_str()),
        ("metadata.name=foo", "foo=bar")
    );

    let info = run(
        "GET",
        "/apis/group/version/resource?fieldSelector=metadata.name=name1,foo",
    );
    assert_eq!(
        (info.name.as_str(), info.field_selector.as_str()),
        ("", "metadata.name=name1,foo")
    );

    let info = run(
        "GET",
        "/api/v1/watch/namespaces/ns/pods?labelSelector=app%3Dapi",
    );
    assert_eq!(
        (info.verb.as_str(), info.label_selector.as_str()),
        ("watch", "")
    );
}

#[test]
fn streaming_is_decided_by_path_not_method() {
    for method in ["GET", "POST"] {
        for sub in ["exec", "attach", "portforward"] {
            let info = run(method, &format!("/api/v1/namespaces/ns/pods/p/{sub}"));
            assert!(info.is_streaming(), "{method} {sub}");
            assert!(!info.is_proxy(), "{method} {sub}");
        }
    }
    for (method, url) in [
        ("GET", "/api/v1/namespaces/ns/pods/p/log"),
        ("GET", "/api/v1/namespaces/ns/pods/p"),
        ("GET", "/apis/example.com/v1/namespaces/ns/pods/p/exec"),
        ("GET", "/api/v1/namespaces/ns/pods"),
        ("GET", "/api/v1/namespaces/ns/services/s/exec"),
    ] {
        assert!(!run(method, url).is_streaming(), "{method} {url}");
    }
}

#[test]
fn proxy_is_decided_by_path_not_method() {
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"] {
        for url in [
            "/api/v1/namespaces/ns/pods/p/proxy",
            "/api/v1/namespaces/ns/pods/p:8080/proxy/metrics",
            "/api/v1/namespaces/ns/services/https:web:443/proxy/",
            "/api/v1/nodes/n/proxy/configz",
            "/api/v1/proxy/namespaces/ns/pods/p",
        ] {
            let info = run(method, url);
            assert!(info.is_proxy(), "{method} {url}");
            assert!(!info.is_streaming(), "{method} {url}");
        }
    }
    assert!(!run("GET", "/api/v1/namespaces/ns/pods/p/log").is_proxy());
}

#[test]
fn combined_resource_joins_subresource() {
    assert_eq!(
        run("GET", "/api/v1/namespaces/ns/pods/p/exec").combined_resource(),
        "pods/exec"
    );
    assert_eq!(
        run("GET", "/api/v1/namespaces/ns/pods/p").combined_resource(),
        "pods"
    );
}
