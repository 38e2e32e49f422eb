//! Golden-file and structural tests of the rendered RBAC.
//!
//! To update the golden files after an intended change: `JITGATE_BLESS=1 cargo test -p jitgate-rbac`.

// Test code: a panic is a failed test, with the message saying which input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use jitgate_authz::{Profile, Profiles, Rule};
use jitgate_rbac::{GatewaySubject, RenderError, Target, render, render_yaml};
use serde_yaml::Value;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn assert_golden(name: &str, actual: &str) {
    let path = data(name);
    if std::env::var_os("JITGATE_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with JITGATE_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the rendering; run with JITGATE_BLESS=1 if the change is intended\n--- rendered:\n{actual}",
        path.display()
    );
}

fn service_account() -> GatewaySubject {
    GatewaySubject::ServiceAccount {
        name: "jitgate".into(),
        namespace: "jitgate-system".into(),
    }
}

fn oncall_targets() -> Vec<Target> {
    vec![Target {
        profile: "oncall-debug".into(),
        namespaces: vec!["payments".into(), "checkout".into()],
    }]
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("valid YAML document"))
        .collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn oncall_debug_for_a_service_account_matches_the_golden_file() {
    let yaml =
        render_yaml(&Profiles::builtin(), &oncall_targets(), &service_account()).expect("render");
    assert_golden("oncall-debug.yaml", &yaml);
}

#[test]
fn two_profiles_for_a_user_match_the_golden_file() {
    let profiles = Profiles::new(vec![
        Profile::oncall_debug(),
        Profile {
            name: "restart".into(),
            description: "Delete pods so their controller recreates them".into(),
            rules: vec![Rule::new(&[""], &["pods"], &["get", "list", "delete"])],
        },
    ])
    .expect("profiles");
    let targets = vec![
        Target {
            profile: "restart".into(),
            namespaces: vec!["checkout".into(), "checkout".into()],
        },
        Target {
            profile: "oncall-debug".into(),
            namespaces: vec!["checkout".into()],
        },
    ];
    let yaml = render_yaml(
        &profiles,
        &targets,
        &GatewaySubject::User {
            name: "jitgate-gateway".into(),
        },
    )
    .expect("render");
    assert_golden("two-profiles-user.yaml", &yaml);
}

#[test]
fn every_document_is_rbac_v1_with_a_name_and_label() {
    let yaml =
        render_yaml(&Profiles::builtin(), &oncall_targets(), &service_account()).expect("render");
    let docs = documents(&yaml);
    // gateway ClusterRole + binding, pod-reader ClusterRole, 2 x (Role + RoleBinding), 2 pod-reader bindings
    assert_eq!(docs.len(), 9);
    for doc in &docs {
        assert_eq!(
            doc["apiVersion"].as_str(),
            Some("rbac.authorization.k8s.io/v1")
        );
        assert!(
            doc["metadata"]["name"]
                .as_str()
                .is_some_and(|n| !n.is_empty())
        );
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/managed-by"].as_str(),
            Some("jitgate")
        );
    }
}

#[test]
fn profile_roles_are_bound_to_the_reserved_group_never_a_user() {
    let yaml =
        render_yaml(&Profiles::builtin(), &oncall_targets(), &service_account()).expect("render");
    let bindings: Vec<Value> = documents(&yaml)
        .into_iter()
        .filter(|d| {
            d["kind"].as_str() == Some("RoleBinding")
                && d["roleRef"]["kind"].as_str() == Some("Role")
        })
        .collect();
    assert_eq!(bindings.len(), 2);
    for binding in bindings {
        assert_eq!(
            binding["roleRef"]["name"].as_str(),
            Some("jitgate:oncall-debug")
        );
        let subjects = binding["subjects"].as_sequence().expect("subjects");
        assert_eq!(subjects.len(), 1);
        assert_eq!(subjects[0]["kind"].as_str(), Some("Group"));
        assert_eq!(subjects[0]["name"].as_str(), Some("jitgate:oncall-debug"));
    }
}

#[test]
fn streaming_subresources_allow_get_and_create() {
    let yaml =
        render_yaml(&Profiles::builtin(), &oncall_targets(), &service_account()).expect("render");
    let role = documents(&yaml)
        .into_iter()
        .find(|d| d["kind"].as_str() == Some("Role"))
        .expect("a Role");
    let rules = role["rules"].as_sequence().expect("rules");
    for sub in ["pods/exec", "pods/attach", "pods/portforward"] {
        let rule = rules
            .iter()
            .find(|r| strings(&r["resources"]).contains(&sub))
            .expect(sub);
        let verbs = strings(&rule["verbs"]);
        assert!(
            verbs.contains(&"get") && verbs.contains(&"create"),
            "{sub}: {verbs:?}"
        );
    }
    // ...and nothing else may be created.
    for rule in rules {
        if strings(&rule["verbs"]).contains(&"create") {
            assert!(
                strings(&rule["resources"])
                    .iter()
                    .all(|r| r.starts_with("pods/") && r != &"pods/ephemeralcontainers")
            );
        }
    }
}

#[test]
fn gateway_may_impersonate_only_reserved_groups() {
    let yaml =
        render_yaml(&Profiles::builtin(), &oncall_targets(), &service_account()).expect("render");
    let docs = documents(&yaml);
    let role = docs
        .iter()
        .find(|d| {
            d["kind"].as_str() == Some("ClusterRole")
                && d["metadata"]["name"].as_str() == Some("jitgate-gateway")
        })
        .expect("gateway ClusterRole");
    let rules = role["rules"].as_sequence().expect("rules");
    let groups = rules
        .iter()
        .find(|r| strings(&r["resources"]) == ["groups"])
        .expect("groups rule");
    assert_eq!(
        strings(&groups["resourceNames"]),
        ["jitgate:oncall-debug", "system:authenticated"]
    );
    let all_resources: Vec<&str> = rules
        .iter()
        .flat_map(|r| strings(&r["resources"]))
        .collect();
    assert!(
        !all_resources.contains(&"uids"),
        "uids must not be impersonable"
    );
    assert!(!all_resources.contains(&"serviceaccounts"));
    for verb in rules.iter().flat_map(|r| strings(&r["verbs"])) {
        assert!(["impersonate", "create"].contains(&verb), "{verb}");
    }
    assert!(!yaml.contains("bind") && !yaml.contains("escalate"));

    let binding = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("ClusterRoleBinding"))
        .expect("ClusterRoleBinding");
    assert_eq!(
        binding["subjects"][0]["kind"].as_str(),
        Some("ServiceAccount")
    );
    assert_eq!(
        binding["subjects"][0]["namespace"].as_str(),
        Some("jitgate-system")
    );
}

#[test]
fn pod_reading_is_bound_per_namespace_not_cluster_wide() {
    let objects =
        render(&Profiles::builtin(), &oncall_targets(), &service_account()).expect("render");
    let readers: Vec<_> = objects
        .iter()
        .filter(|o| o.metadata.name == "jitgate-gateway:pod-reader" && o.kind == "RoleBinding")
        .map(|o| o.metadata.namespace.clone().unwrap_or_default())
        .collect();
    assert_eq!(readers, ["checkout", "payments"]);
    assert!(
        !objects
            .iter()
            .any(|o| o.kind == "ClusterRoleBinding" && o.metadata.name.contains("pod-reader"))
    );
}

#[test]
fn bad_inputs_are_refused() {
    let profiles = Profiles::builtin();
    let sa = service_account();
    let target = |profile: &str, namespaces: &[&str]| Target {
        profile: profile.into(),
        namespaces: namespaces.iter().map(|&n| n.to_owned()).collect(),
    };
    assert!(matches!(
        render(&profiles, &[target("nope", &["a"])], &sa),
        Err(RenderError::UnknownProfile(_))
    ));
    assert!(matches!(
        render(&profiles, &[target("oncall-debug", &[])], &sa),
        Err(RenderError::NoNamespace(_))
    ));
    for bad in ["*", "Checkout", "a_b", "", "-a"] {
        assert!(
            matches!(
                render(&profiles, &[target("oncall-debug", &[bad])], &sa),
                Err(RenderError::InvalidNamespace(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        render(
            &profiles,
            &[
                target("oncall-debug", &["a"]),
                target("oncall-debug", &["b"])
            ],
            &sa
        ),
        Err(RenderError::DuplicateTarget(_))
    ));
    let bad_sa = GatewaySubject::ServiceAccount {
        name: "Jit".into(),
        namespace: "x".into(),
    };
    assert!(matches!(
        render(&profiles, &[], &bad_sa),
        Err(RenderError::InvalidSubject(_))
    ));
    let bad_user = GatewaySubject::User {
        name: String::new(),
    };
    assert!(matches!(
        render(&profiles, &[], &bad_user),
        Err(RenderError::InvalidSubject(_))
    ));
    let err =
        render(&profiles, &[target("oncall-debug", &["Checkout"])], &sa).expect_err("invalid");
    assert_eq!(
        err.to_string(),
        "\"Checkout\" is not a valid namespace name (lowercase letters, digits and '-', at most 63)"
    );
}

/// The sandbox to test against: `JITGATE_SANDBOX_DIR`, or the demo sandbox in `.sandbox/`.
fn sandbox_dir() -> PathBuf {
    std::env::var_os("JITGATE_SANDBOX_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.sandbox"))
}

/// Applies the rendering to the sandbox apiserver with `--dry-run=server` (nothing is created).
#[test]
#[ignore = "needs cluster"]
fn server_dry_run_accepts_the_rendering() {
    let kubeconfig = sandbox_dir().join("admin.kubeconfig");
    let targets = vec![Target {
        profile: "oncall-debug".into(),
        namespaces: vec!["default".into(), "kube-public".into()],
    }];
    let yaml = render_yaml(&Profiles::builtin(), &targets, &service_account()).expect("render");
    let mut child = std::process::Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(["apply", "--dry-run=server", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kubectl");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), yaml.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("kubectl output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("(server dry run)").count(), 9, "{stdout}");
}

/// Runs `kubectl` against the sandbox apiserver with `stdin`, returning stdout or panicking with
/// stderr.
fn kubectl(args: &[&str], stdin: &str) -> String {
    let kubeconfig = sandbox_dir().join("admin.kubeconfig");
    let mut child = std::process::Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kubectl");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("kubectl output");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deletes what the test applied, even when an assertion fails.
struct Cleanup {
    yaml: String,
    namespaces: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| {
            kubectl(
                &["delete", "--ignore-not-found", "--wait=false", "-f", "-"],
                &self.yaml,
            );
        });
        for ns in &self.namespaces {
            let _ = std::panic::catch_unwind(|| {
                kubectl(
                    &[
                        "delete",
                        "namespace",
                        ns,
                        "--ignore-not-found",
                        "--wait=false",
                    ],
                    "",
                );
            });
        }
    }
}

/// Asks the apiserver (SubjectAccessReview) whether `user` in `groups` may do something.
fn allowed(user: &str, groups: &[&str], attributes: &Attrs) -> bool {
    let review = format!(
        r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{{"user":"{user}","groups":[{}],"resourceAttributes":{{"namespace":"{}","verb":"{}","group":"{}","resource":"{}","subresource":"{}","name":"{}"}}}}}}"#,
        groups
            .iter()
            .map(|g| format!("\"{g}\""))
            .collect::<Vec<_>>()
            .join(","),
        attributes.namespace,
        attributes.verb,
        attributes.group,
        attributes.resource,
        attributes.subresource,
        attributes.name,
    );
    kubectl(
        &["create", "-f", "-", "-o", "jsonpath={.status.allowed}"],
        &review,
    ) == "true"
}

/// `resourceAttributes` of a SubjectAccessReview.
struct Attrs {
    namespace: String,
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
    name: &'static str,
}

/// Applies the rendering to the sandbox apiserver (in fresh namespaces, with the cluster-scoped
/// objects renamed so that nothing collides with other tests), asks the apiserver what the
/// reserved group and the gateway may do, and deletes everything again.
#[test]
#[ignore = "needs cluster"]
fn applied_rendering_grants_exactly_what_it_should() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let suffix = format!("{:x}", nanos ^ std::process::id());
    let (ns_a, ns_b) = (
        format!("rbac-test-{suffix}-a"),
        format!("rbac-test-{suffix}-b"),
    );
    let gateway_user = format!("rbac-test-gateway-{suffix}");
    let targets = vec![Target {
        profile: "oncall-debug".into(),
        namespaces: vec![ns_a.clone(), ns_b.clone()],
    }];
    let mut objects = render(
        &Profiles::builtin(),
        &targets,
        &GatewaySubject::User {
            name: gateway_user.clone(),
        },
    )
    .expect("render");
    for object in &mut objects {
        let rename = |name: &mut String| {
            if name.starts_with("jitgate-gateway") {
                *name = name.replacen("jitgate-gateway", &format!("rbac-test-{suffix}"), 1);
            }
        };
        rename(&mut object.metadata.name);
        if let Some(role_ref) = object.role_ref.as_mut() {
            rename(&mut role_ref.name);
        }
    }
    let yaml = jitgate_rbac::to_yaml(&objects).expect("yaml");
    let _cleanup = Cleanup {
        yaml: yaml.clone(),
        namespaces: vec![ns_a.clone(), ns_b.clone()],
    };
    kubectl(&["create", "namespace", &ns_a], "");
    kubectl(&["create", "namespace", &ns_b], "");
    kubectl(&["apply", "-f", "-"], &yaml);

    let debug = ["jitgate:oncall-debug", "system:authenticated"];
    let attrs = |namespace: &str, verb, group, resource, subresource, name| Attrs {
        namespace: namespace.to_owned(),
        verb,
        group,
        resource,
        subresource,
        name,
    };
    for sub in ["exec", "attach", "portforward"] {
        for verb in ["get", "create"] {
            assert!(
                allowed("alice", &debug, &attrs(&ns_a, verb, "", "pods", sub, "p")),
                "{verb} pods/{sub}"
            );
        }
    }
    assert!(allowed(
        "alice",
        &debug,
        &attrs(&ns_b, "patch", "", "pods", "ephemeralcontainers", "p")
    ));
    assert!(allowed(
        "alice",
        &debug,
        &attrs(&ns_b, "list", "apps", "deployments", "", "")
    ));
    assert!(!allowed(
        "alice",
        &debug,
        &attrs(&ns_a, "delete", "", "pods", "", "p")
    ));
    assert!(!allowed(
        "alice",
        &debug,
        &attrs(&ns_a, "create", "", "pods", "", "")
    ));
    assert!(!allowed(
        "alice",
        &debug,
        &attrs(&ns_a, "get", "", "secrets", "", "s")
    ));
    assert!(!allowed(
        "alice",
        &debug,
        &attrs("default", "create", "", "pods", "exec", "p")
    ));
    assert!(!allowed(
        "alice",
        &["system:authenticated"],
        &attrs(&ns_a, "create", "", "pods", "exec", "p")
    ));

    let gw = gateway_user.as_str();
    let none = ["system:authenticated"];
    assert!(allowed(
        gw,
        &none,
        &attrs("", "impersonate", "", "users", "", "alice")
    ));
    assert!(allowed(
        gw,
        &none,
        &attrs("", "impersonate", "", "groups", "", "jitgate:oncall-debug")
    ));
    assert!(!allowed(
        gw,
        &none,
        &attrs("", "impersonate", "", "groups", "", "system:masters")
    ));
    assert!(allowed(
        gw,
        &none,
        &attrs(
            "",
            "impersonate",
            "authentication.k8s.io",
            "userextras",
            "jitgate.dev/grant",
            "g-1"
        )
    ));
    assert!(allowed(
        gw,
        &none,
        &attrs(
            "",
            "impersonate",
            "authentication.k8s.io",
            "userextras",
            "jitgate.dev/session",
            "s-1"
        )
    ));
    assert!(!allowed(
        gw,
        &none,
        &attrs(
            "",
            "impersonate",
            "authentication.k8s.io",
            "userextras",
            "scopes",
            "x"
        )
    ));
    assert!(!allowed(
        gw,
        &none,
        &attrs("", "impersonate", "authentication.k8s.io", "uids", "", "1")
    ));
    assert!(!allowed(
        gw,
        &none,
        &attrs(&ns_a, "impersonate", "", "serviceaccounts", "", "default")
    ));
    assert!(allowed(
        gw,
        &none,
        &attrs(&ns_a, "get", "", "pods", "", "p")
    ));
    assert!(!allowed(
        gw,
        &none,
        &attrs("default", "get", "", "pods", "", "p")
    ));
    assert!(!allowed(
        gw,
        &none,
        &attrs(&ns_a, "list", "", "pods", "", "")
    ));
}
