//! Requests the gateway refuses before classifying them, because the gateway and kube-apiserver
//! (or a proxied pod) could read them differently.

// Test code: a panic is a failed test, with the message saying which input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jitgate_classify::{
    ClassifyError, MAX_PATH_LEN, MAX_QUERY_LEN, MAX_SEGMENTS, classify, classify_bytes,
};

fn refused(method: &str, path: &str, query: Option<&str>) -> ClassifyError {
    match classify(method, path, query) {
        Ok(info) => panic!("{method} {path} {query:?} was accepted as {info:?}"),
        Err(err) => err,
    }
}

#[test]
fn percent_encoding_in_the_path_is_refused_entirely() {
    for path in [
        "/api/v1/namespaces/a%2Fb/pods",
        "/api/v1/namespaces/ns/pods/%2e%2e/exec",
        "/api/v1/namespaces/ns/pods/%41pi",
        "/api/v1/namespaces/ns/services/web/proxy/a%20b",
        "/api%2fv1/pods",
        "/%",
        "/api/v1/namespaces/ns/pods/p%",
    ] {
        let err = refused("GET", path, None);
        assert!(
            matches!(err, ClassifyError::PercentInPath { .. }),
            "{path}: {err:?}"
        );
        assert!(
            err.to_string().contains("percent-encoding"),
            "{path}: {err}"
        );
    }
}

#[test]
fn dot_segments_are_refused() {
    for path in [
        "/api/v1/namespaces/ns/pods/../secrets",
        "/api/v1/namespaces/ns/pods/./p",
        "/..",
        "/.",
        "/api/v1/namespaces/ns/pods/p/..",
        "/api/v1/namespaces/ns/pods/p/../",
    ] {
        assert!(
            matches!(refused("GET", path, None), ClassifyError::DotSegment { .. }),
            "{path}"
        );
    }
    // Dots inside a segment are ordinary characters.
    let info = classify("GET", "/api/v1/namespaces/ns/pods/a..b", None).expect("a..b");
    assert_eq!(info.name, "a..b");
}

#[test]
fn empty_segments_are_refused() {
    for path in [
        "//",
        "//api/v1/pods",
        "/api//v1/pods",
        "/api/v1/namespaces//pods",
        "/api/v1/namespaces/ns/pods//",
        "/api/v1/namespaces/ns/pods/p//exec",
    ] {
        assert_eq!(
            refused("GET", path, None),
            ClassifyError::EmptySegment,
            "{path}"
        );
    }
}

#[test]
fn backslashes_controls_and_non_ascii_are_refused() {
    let cases: &[(&str, ClassifyError)] = &[
        (
            "/api/v1/namespaces/ns/pods\\..\\secrets",
            ClassifyError::Backslash,
        ),
        (
            "/api/v1/namespaces/ns/pods/p\0",
            ClassifyError::ControlCharacter { byte: 0 },
        ),
        (
            "/api/v1/namespaces/ns/pods/p\r\nX: y",
            ClassifyError::ControlCharacter { byte: b'\r' },
        ),
        (
            "/api/v1/namespaces/ns/pods/p\t",
            ClassifyError::ControlCharacter { byte: b'\t' },
        ),
        (
            "/api/v1/namespaces/ns/pods/p\x7f",
            ClassifyError::ControlCharacter { byte: 0x7f },
        ),
        ("/api/v1/namespaces/ns/pods/pé", ClassifyError::NonAscii),
        (
            "/api/v1/namespaces/ns/pods/p;x=1",
            ClassifyError::ForbiddenCharacter { ch: ';' },
        ),
        (
            "/api/v1/namespaces/ns/pods/p q",
            ClassifyError::ForbiddenCharacter { ch: ' ' },
        ),
        (
            "/api/v1/namespaces/ns/pods/p?watch=1",
            ClassifyError::ForbiddenCharacter { ch: '?' },
        ),
        (
            "/api/v1/namespaces/ns/pods/p#frag",
            ClassifyError::ForbiddenCharacter { ch: '#' },
        ),
        (
            "/api/v1/namespaces/ns/pods/\"p\"",
            ClassifyError::ForbiddenCharacter { ch: '"' },
        ),
    ];
    for (path, expected) in cases {
        assert_eq!(&refused("GET", path, None), expected, "{path:?}");
    }
}

#[test]
fn non_utf8_bytes_are_refused() {
    assert_eq!(
        classify_bytes("GET", b"/api/v1/namespaces/\xff/pods", None),
        Err(ClassifyError::NonUtf8Path)
    );
    assert!(matches!(
        classify_bytes("GET", b"/api/v1/pods", Some(b"watch=\xff")),
        Err(ClassifyError::QueryEncoding { at: 6 })
    ));
    let info = classify_bytes("GET", b"/api/v1/pods", Some(b"watch=1")).expect("valid bytes");
    assert_eq!(info.verb, "watch");
}

#[test]
fn paths_must_be_absolute() {
    for path in ["", "*", "api/v1/pods", "http://evil/api/v1/pods"] {
        assert_eq!(
            refused("GET", path, None),
            ClassifyError::PathNotAbsolute,
            "{path:?}"
        );
    }
}

#[test]
fn overlong_paths_and_too_many_segments_are_refused() {
    let long = format!("/api/v1/namespaces/ns/pods/{}", "a".repeat(MAX_PATH_LEN));
    assert!(matches!(
        refused("GET", &long, None),
        ClassifyError::PathTooLong { .. }
    ));

    let deep = format!(
        "/api/v1/namespaces/ns/pods/p/proxy{}",
        "/x".repeat(MAX_SEGMENTS)
    );
    assert!(matches!(
        refused("GET", &deep, None),
        ClassifyError::TooManySegments { .. }
    ));
}

#[test]
fn bad_queries_are_refused() {
    let path = "/api/v1/namespaces/ns/pods";
    assert!(matches!(
        refused("GET", path, Some("watch=%zz")),
        ClassifyError::QueryEncoding { .. }
    ));
    assert!(matches!(
        refused("GET", path, Some("command=%4")),
        ClassifyError::QueryEncoding { .. }
    ));
    assert_eq!(
        refused("GET", path, Some("watch=1;x")),
        ClassifyError::QuerySemicolon
    );
    assert!(matches!(
        refused("GET", path, Some(&"a".repeat(MAX_QUERY_LEN + 1))),
        ClassifyError::QueryTooLong { .. }
    ));
    assert!(matches!(
        refused("GET", path, Some("fieldSelector=%C3%28")),
        ClassifyError::QueryNotUtf8 { .. }
    ));
}

#[test]
fn invalid_methods_are_refused() {
    for method in ["", "GE T", "GET\r\n", "G(ET)", &"A".repeat(33)] {
        assert!(
            matches!(
                refused(method, "/api/v1/pods", None),
                ClassifyError::InvalidMethod { .. }
            ),
            "{method:?}"
        );
    }
}

#[test]
fn checks_run_before_classification() {
    // Even paths that would be non-resource requests are checked.
    assert!(matches!(
        refused("GET", "/version%00", None),
        ClassifyError::PercentInPath { .. }
    ));
    assert_eq!(
        refused("GET", "/healthz/../metrics", None),
        ClassifyError::DotSegment {
            segment: "..".into()
        }
    );
}

#[test]
fn errors_read_well() {
    let err = refused("GET", "/api/v1/namespaces/a%2Fb/pods", None);
    assert_eq!(
        err.to_string(),
        "percent-encoding in the request path is refused (found \"%\" at byte 20): the gateway \
         and the API server could decode it differently, and no Kubernetes name needs it"
    );
}
