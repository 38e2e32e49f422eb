//! Golden-file and structural tests of the rendered RBAC, and (ignored unless a sandbox runs)
//! tests that apply it to a real kube-apiserver.
//!
//! To update the golden files after an intended change: `JITGATE_BLESS=1 cargo test -p jitgate-rbac`.

// Test code: a panic is a failed test, with the message saying which input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use jitgate_authz::{DISCOVERY_PATHS, Profile, Profiles, Rule};
use jitgate_rbac::{
    GatewaySubject, ImpersonationMode, Object, RenderError, Target, render, render_yaml,
};
use serde_yaml::Value;

const CONSTRAINED: ImpersonationMode = ImpersonationMode::Constrained;
const LEGACY: ImpersonationMode = ImpersonationMode::Legacy;

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

fn oncall_yaml(mode: ImpersonationMode) -> String {
    render_yaml(
        &Profiles::builtin(),
        &oncall_targets(),
        &service_account(),
        mode,
    )
    .expect("render")
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

fn find<'a>(docs: &'a [Value], kind: &str, name: &str, namespace: Option<&str>) -> &'a Value {
    docs.iter()
        .find(|d| {
            d["kind"].as_str() == Some(kind)
                && d["metadata"]["name"].as_str() == Some(name)
                && d["metadata"]["namespace"].as_str() == namespace
        })
        .unwrap_or_else(|| panic!("{kind} {name} in {namespace:?}"))
}

fn restart_profile() -> Profile {
    Profile {
        name: "restart".into(),
        description: "Delete pods so their controller recreates them".into(),
        rules: vec![Rule::new(&[""], &["pods"], &["get", "list", "delete"])],
    }
}

fn two_profiles_yaml(mode: ImpersonationMode) -> String {
    let profiles =
        Profiles::new(vec![Profile::oncall_debug(), restart_profile()]).expect("profiles");
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
    render_yaml(
        &profiles,
        &targets,
        &GatewaySubject::User {
            name: "jitgate-gateway".into(),
        },
        mode,
    )
    .expect("render")
}

#[test]
fn oncall_debug_for_a_service_account_matches_the_golden_files() {
    assert_golden("oncall-debug.yaml", &oncall_yaml(CONSTRAINED));
    assert_golden("oncall-debug-legacy.yaml", &oncall_yaml(LEGACY));
}

#[test]
fn two_profiles_for_a_user_match_the_golden_files() {
    assert_golden("two-profiles-user.yaml", &two_profiles_yaml(CONSTRAINED));
    assert_golden("two-profiles-user-legacy.yaml", &two_profiles_yaml(LEGACY));
}

#[test]
fn constrained_is_the_default_mode() {
    assert_eq!(ImpersonationMode::default(), CONSTRAINED);
}

#[test]
fn every_document_is_rbac_v1_with_a_name_and_label() {
    // Both modes: gateway ClusterRole + binding, pod-reader ClusterRole, 2 x (Role +
    // RoleBinding), 2 pod-reader bindings; constrained adds the impersonate-on ClusterRole and
    // its 2 RoleBindings.
    for (mode, count) in [(LEGACY, 9), (CONSTRAINED, 12)] {
        let docs = documents(&oncall_yaml(mode));
        assert_eq!(docs.len(), count, "{mode:?}");
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
}

#[test]
fn profile_roles_are_bound_to_the_reserved_group_never_a_user() {
    for mode in [LEGACY, CONSTRAINED] {
        let bindings: Vec<Value> = documents(&oncall_yaml(mode))
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
}

#[test]
fn streaming_subresources_allow_get_and_create() {
    let yaml = oncall_yaml(CONSTRAINED);
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
fn legacy_gateway_may_impersonate_only_reserved_groups() {
    let yaml = oncall_yaml(LEGACY);
    let docs = documents(&yaml);
    let role = find(&docs, "ClusterRole", "jitgate-gateway", None);
    let rules = role["rules"].as_sequence().expect("rules");
    let groups = rules
        .iter()
        .find(|r| strings(&r["resources"]) == ["groups"])
        .expect("groups rule");
    assert_eq!(strings(&groups["apiGroups"]), [""]);
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
    for rule in rules {
        let verbs = strings(&rule["verbs"]);
        if strings(&rule["resources"]) == ["namespaces"] {
            // Its own read of namespace labels (profiles' namespaceSelector), nothing more.
            assert_eq!(verbs, ["get"]);
            continue;
        }
        for verb in verbs {
            assert!(["impersonate", "create"].contains(&verb), "{verb}");
        }
    }
    assert!(!yaml.contains("bind") && !yaml.contains("escalate"));
    assert!(!yaml.contains("impersonate-on") && !yaml.contains("impersonate:"));

    let binding = find(&docs, "ClusterRoleBinding", "jitgate-gateway", None);
    assert_eq!(
        binding["subjects"][0]["kind"].as_str(),
        Some("ServiceAccount")
    );
    assert_eq!(
        binding["subjects"][0]["namespace"].as_str(),
        Some("jitgate-system")
    );
}

/// Every rule of every rendered object, with the kind of the object it is in.
fn all_rules(docs: &[Value]) -> Vec<(&str, &str, &Value)> {
    docs.iter()
        .flat_map(|d| {
            let kind = d["kind"].as_str().unwrap_or_default();
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            d["rules"]
                .as_sequence()
                .map(|rules| rules.iter().map(move |r| (kind, name, r)).collect())
                .unwrap_or_else(Vec::new)
        })
        .collect()
}

#[test]
fn constrained_gateway_holds_no_legacy_impersonate_verb() {
    let yaml = oncall_yaml(CONSTRAINED);
    let docs = documents(&yaml);
    for (kind, name, rule) in all_rules(&docs) {
        for verb in strings(&rule["verbs"]) {
            assert_ne!(verb, "impersonate", "{kind} {name}");
            assert_ne!(verb, "*", "{kind} {name}");
            assert!(!verb.ends_with(":*"), "{kind} {name}: {verb}");
        }
        // Legacy impersonation checks users and groups in the core group.
        if strings(&rule["apiGroups"]).contains(&"") {
            let resources = strings(&rule["resources"]);
            assert!(
                !resources.contains(&"users") && !resources.contains(&"groups"),
                "{kind} {name}"
            );
        }
    }
    assert!(!yaml.contains("bind") && !yaml.contains("escalate"));
    assert!(!yaml.contains("uids") && !yaml.contains("serviceaccounts"));
    assert!(!yaml.contains("system:masters"));
}

#[test]
fn constrained_gateway_cluster_role_has_the_primary_and_cluster_wide_secondary_checks() {
    let docs = documents(&oncall_yaml(CONSTRAINED));
    let role = find(&docs, "ClusterRole", "jitgate-gateway", None);
    let rules = role["rules"].as_sequence().expect("rules");
    let by_resource = |resource: &str| {
        rules
            .iter()
            .find(|r| strings(&r["resources"]).contains(&resource))
            .unwrap_or_else(|| panic!("a rule on {resource}"))
    };

    let users = by_resource("users");
    assert_eq!(strings(&users["apiGroups"]), ["authentication.k8s.io"]);
    assert_eq!(strings(&users["verbs"]), ["impersonate:user-info"]);
    assert!(users["resourceNames"].is_null(), "any user");

    let groups = by_resource("groups");
    assert_eq!(strings(&groups["apiGroups"]), ["authentication.k8s.io"]);
    assert_eq!(strings(&groups["verbs"]), ["impersonate:user-info"]);
    assert_eq!(
        strings(&groups["resourceNames"]),
        ["jitgate:oncall-debug", "system:authenticated"]
    );

    let extras = by_resource("userextras/jitgate.dev/grant");
    assert_eq!(strings(&extras["apiGroups"]), ["authentication.k8s.io"]);
    assert_eq!(
        strings(&extras["resources"]),
        [
            "userextras/jitgate.dev/grant",
            "userextras/jitgate.dev/session"
        ]
    );
    assert_eq!(strings(&extras["verbs"]), ["impersonate:user-info"]);

    let whoami = by_resource("selfsubjectreviews");
    assert_eq!(strings(&whoami["apiGroups"]), ["authentication.k8s.io"]);
    assert_eq!(
        strings(&whoami["verbs"]),
        ["impersonate-on:user-info:create"]
    );
    let can_i = by_resource("selfsubjectaccessreviews");
    assert_eq!(strings(&can_i["apiGroups"]), ["authorization.k8s.io"]);
    assert_eq!(
        strings(&can_i["resources"]),
        ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]
    );
    assert_eq!(
        strings(&can_i["verbs"]),
        ["impersonate-on:user-info:create"]
    );

    let discovery = rules
        .iter()
        .find(|r| !r["nonResourceURLs"].is_null())
        .expect("a nonResourceURLs rule");
    assert!(discovery["apiGroups"].is_null() && discovery["resources"].is_null());
    assert_eq!(strings(&discovery["nonResourceURLs"]), DISCOVERY_PATHS);
    assert_eq!(
        strings(&discovery["verbs"]),
        [
            "impersonate-on:user-info:get",
            "impersonate-on:user-info:head"
        ]
    );

    let sar = by_resource("subjectaccessreviews");
    assert_eq!(strings(&sar["verbs"]), ["create"]);
    let namespaces = by_resource("namespaces");
    assert_eq!(strings(&namespaces["apiGroups"]), [""]);
    assert_eq!(strings(&namespaces["verbs"]), ["get"]);
    assert_eq!(rules.len(), 8);

    // Non-resource URLs and cluster-scoped resources count only through a ClusterRoleBinding.
    let binding = find(&docs, "ClusterRoleBinding", "jitgate-gateway", None);
    assert_eq!(binding["roleRef"]["name"].as_str(), Some("jitgate-gateway"));
}

#[test]
fn constrained_impersonate_on_mirrors_the_profile_role_in_its_namespaces_only() {
    let docs = documents(&oncall_yaml(CONSTRAINED));
    let name = "jitgate-gateway:impersonate-on:oncall-debug";
    let cluster_role = find(&docs, "ClusterRole", name, None);
    assert_eq!(
        cluster_role["metadata"]["labels"]["jitgate.dev/profile"].as_str(),
        Some("oncall-debug")
    );
    let role = find(&docs, "Role", "jitgate:oncall-debug", Some("checkout"));
    let on_rules = cluster_role["rules"].as_sequence().expect("rules");
    let role_rules = role["rules"].as_sequence().expect("rules");
    assert_eq!(on_rules.len(), role_rules.len());
    for (on, rule) in on_rules.iter().zip(role_rules) {
        assert_eq!(on["apiGroups"], rule["apiGroups"]);
        assert_eq!(on["resources"], rule["resources"]);
        let expected: Vec<String> = strings(&rule["verbs"])
            .iter()
            .map(|v| format!("impersonate-on:user-info:{v}"))
            .collect();
        assert_eq!(strings(&on["verbs"]), expected);
    }

    let bindings: Vec<&Value> = docs
        .iter()
        .filter(|d| d["roleRef"]["name"].as_str() == Some(name))
        .collect();
    assert_eq!(bindings.len(), 2);
    for (binding, namespace) in bindings.iter().zip(["checkout", "payments"]) {
        assert_eq!(binding["kind"].as_str(), Some("RoleBinding"));
        assert_eq!(binding["metadata"]["namespace"].as_str(), Some(namespace));
        assert_eq!(binding["roleRef"]["kind"].as_str(), Some("ClusterRole"));
        assert_eq!(binding["subjects"][0]["name"].as_str(), Some("jitgate"));
    }
}

#[test]
fn constrained_impersonate_on_follows_each_profiles_own_namespaces() {
    let profiles =
        Profiles::new(vec![Profile::oncall_debug(), restart_profile()]).expect("profiles");
    let targets = vec![
        Target {
            profile: "oncall-debug".into(),
            namespaces: vec!["payments".into(), "checkout".into()],
        },
        Target {
            profile: "restart".into(),
            namespaces: vec!["checkout".into()],
        },
    ];
    let objects = render(&profiles, &targets, &service_account(), CONSTRAINED).expect("render");
    let bound = |role: &str| -> Vec<String> {
        objects
            .iter()
            .filter(|o| o.kind == "RoleBinding" && o.metadata.name == role)
            .map(|o| o.metadata.namespace.clone().unwrap_or_default())
            .collect()
    };
    // Deleting pods is impersonable only where the restart profile is rendered.
    assert_eq!(
        bound("jitgate-gateway:impersonate-on:restart"),
        ["checkout"]
    );
    assert_eq!(
        bound("jitgate-gateway:impersonate-on:oncall-debug"),
        ["checkout", "payments"]
    );
    assert_eq!(
        bound("jitgate-gateway:pod-reader"),
        ["checkout", "payments"]
    );
    let restart: &Object = objects
        .iter()
        .find(|o| o.kind == "ClusterRole" && o.metadata.name.ends_with(":restart"))
        .expect("restart impersonate-on ClusterRole");
    let verbs = &restart.rules.as_ref().expect("rules")[0].verbs;
    assert_eq!(
        verbs,
        &[
            "impersonate-on:user-info:get",
            "impersonate-on:user-info:list",
            "impersonate-on:user-info:delete"
        ]
    );
}

#[test]
fn wildcard_verbs_are_spelled_out_for_impersonate_on() {
    let profiles = Profiles::new(vec![Profile {
        name: "ops".into(),
        description: String::new(),
        rules: vec![Rule::new(&["apps"], &["deployments", "*/scale"], &["*"])],
    }])
    .expect("profiles");
    let targets = vec![Target {
        profile: "ops".into(),
        namespaces: vec!["shop".into()],
    }];
    let objects = render(&profiles, &targets, &service_account(), CONSTRAINED).expect("render");
    let on = objects
        .iter()
        .find(|o| {
            o.metadata.name == "jitgate-gateway:impersonate-on:ops" && o.kind == "ClusterRole"
        })
        .expect("impersonate-on ClusterRole");
    let rules = on.rules.as_ref().expect("rules");
    assert_eq!(rules.len(), 1);
    let verbs: Vec<&str> = rules[0].verbs.iter().map(String::as_str).collect();
    assert_eq!(
        verbs,
        jitgate_rbac::REQUEST_VERBS
            .iter()
            .map(|v| format!("impersonate-on:user-info:{v}"))
            .collect::<Vec<_>>()
    );
    // The profile's own Role keeps `*`.
    let role = objects.iter().find(|o| o.kind == "Role").expect("Role");
    assert_eq!(role.rules.as_ref().expect("rules")[0].verbs, ["*"]);
}

#[test]
fn pod_reading_is_bound_per_namespace_not_cluster_wide() {
    for mode in [LEGACY, CONSTRAINED] {
        let objects = render(
            &Profiles::builtin(),
            &oncall_targets(),
            &service_account(),
            mode,
        )
        .expect("render");
        let readers: Vec<_> = objects
            .iter()
            .filter(|o| o.metadata.name == "jitgate-gateway:pod-reader" && o.kind == "RoleBinding")
            .map(|o| o.metadata.namespace.clone().unwrap_or_default())
            .collect();
        assert_eq!(readers, ["checkout", "payments"]);
        assert!(
            !objects
                .iter()
                .any(|o| o.kind == "ClusterRoleBinding" && o.metadata.name != "jitgate-gateway")
        );
    }
}

#[test]
fn bad_inputs_are_refused() {
    let profiles = Profiles::builtin();
    let sa = service_account();
    let target = |profile: &str, namespaces: &[&str]| Target {
        profile: profile.into(),
        namespaces: namespaces.iter().map(|&n| n.to_owned()).collect(),
    };
    for mode in [LEGACY, CONSTRAINED] {
        assert!(matches!(
            render(&profiles, &[target("nope", &["a"])], &sa, mode),
            Err(RenderError::UnknownProfile(_))
        ));
        assert!(matches!(
            render(&profiles, &[target("oncall-debug", &[])], &sa, mode),
            Err(RenderError::NoNamespace(_))
        ));
        for bad in ["*", "Checkout", "a_b", "", "-a"] {
            assert!(
                matches!(
                    render(&profiles, &[target("oncall-debug", &[bad])], &sa, mode),
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
                &sa,
                mode
            ),
            Err(RenderError::DuplicateTarget(_))
        ));
        let bad_sa = GatewaySubject::ServiceAccount {
            name: "Jit".into(),
            namespace: "x".into(),
        };
        assert!(matches!(
            render(&profiles, &[], &bad_sa, mode),
            Err(RenderError::InvalidSubject(_))
        ));
        let bad_user = GatewaySubject::User {
            name: String::new(),
        };
        assert!(matches!(
            render(&profiles, &[], &bad_user, mode),
            Err(RenderError::InvalidSubject(_))
        ));
    }
    let err = render(
        &profiles,
        &[target("oncall-debug", &["Checkout"])],
        &sa,
        CONSTRAINED,
    )
    .expect_err("invalid");
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

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A suffix that keeps concurrent runs apart.
/// A suffix no other test of this run uses: the clock and pid tell runs apart, the counter the
/// tests of one run (two tests once drew the same clock value and collided on a namespace).
fn random_suffix() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:x}-{n}", nanos ^ std::process::id())
}

/// What a `kubectl` run printed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `kubectl` with `kubeconfig` and `stdin`.
fn run_kubectl(kubeconfig: &Path, args: &[&str], stdin: &str) -> Run {
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
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `kubectl` as the sandbox administrator with `stdin`, returning stdout or panicking with
/// stderr.
fn kubectl(args: &[&str], stdin: &str) -> String {
    let run = run_kubectl(&sandbox_dir().join("admin.kubeconfig"), args, stdin);
    assert!(run.ok, "kubectl {args:?}: {}", run.stderr);
    run.stdout
}

/// Applies the rendering to the sandbox apiserver with `--dry-run=server` (nothing is created).
#[test]
#[ignore = "needs cluster"]
fn server_dry_run_accepts_the_rendering() {
    let targets = vec![Target {
        profile: "oncall-debug".into(),
        namespaces: vec!["default".into(), "kube-public".into()],
    }];
    for (mode, count) in [(LEGACY, 9), (CONSTRAINED, 12)] {
        let yaml =
            render_yaml(&Profiles::builtin(), &targets, &service_account(), mode).expect("render");
        let stdout = kubectl(&["apply", "--dry-run=server", "-f", "-"], &yaml);
        assert_eq!(
            stdout.matches("(server dry run)").count(),
            count,
            "{mode:?}: {stdout}"
        );
    }
}

/// Deletes what a test created, even when an assertion fails.
#[derive(Default)]
struct Cleanup {
    manifests: Vec<String>,
    namespaces: Vec<String>,
    dir: Option<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let admin = sandbox_dir().join("admin.kubeconfig");
        for manifest in &self.manifests {
            let run = run_kubectl(
                &admin,
                &["delete", "--ignore-not-found", "--wait=false", "-f", "-"],
                manifest,
            );
            if !run.ok {
                eprintln!("cleanup: {}", run.stderr);
            }
        }
        for ns in &self.namespaces {
            let run = run_kubectl(
                &admin,
                &[
                    "delete",
                    "namespace",
                    ns,
                    "--ignore-not-found",
                    "--wait=false",
                ],
                "",
            );
            if !run.ok {
                eprintln!("cleanup: {}", run.stderr);
            }
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Renders oncall-debug into `namespaces` for the user `gateway`, with the cluster-scoped objects
/// renamed from `jitgate-gateway…` to `<prefix>…` so that nothing collides with other tests or
/// with the gateway the sandbox may be running.
fn render_for_test(
    namespaces: &[&str],
    gateway: &str,
    mode: ImpersonationMode,
    prefix: &str,
) -> String {
    let targets = vec![Target {
        profile: "oncall-debug".into(),
        namespaces: namespaces.iter().map(|&n| n.to_owned()).collect(),
    }];
    let mut objects = render(
        &Profiles::builtin(),
        &targets,
        &GatewaySubject::User {
            name: gateway.to_owned(),
        },
        mode,
    )
    .expect("render");
    for object in &mut objects {
        let rename = |name: &mut String| {
            if name.starts_with("jitgate-gateway") {
                *name = name.replacen("jitgate-gateway", prefix, 1);
            }
        };
        rename(&mut object.metadata.name);
        if let Some(role_ref) = object.role_ref.as_mut() {
            rename(&mut role_ref.name);
        }
    }
    jitgate_rbac::to_yaml(&objects).expect("yaml")
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

/// Applies the legacy rendering to the sandbox apiserver (in fresh namespaces, with the
/// cluster-scoped objects renamed so that nothing collides with other tests), asks the apiserver
/// (SubjectAccessReviews) what the reserved group and the gateway may do, and deletes everything
/// again. The constrained rendering is proven with real requests in
/// [`constrained_impersonation_bounds_the_gateway_with_real_requests`].
#[test]
#[ignore = "needs cluster"]
fn applied_rendering_grants_exactly_what_it_should() {
    let suffix = random_suffix();
    let (ns_a, ns_b) = (
        format!("rbac-test-{suffix}-a"),
        format!("rbac-test-{suffix}-b"),
    );
    let gateway_user = format!("rbac-test-gateway-{suffix}");
    let yaml = render_for_test(
        &[&ns_a, &ns_b],
        &gateway_user,
        LEGACY,
        &format!("rbac-test-{suffix}"),
    );
    let _cleanup = Cleanup {
        manifests: vec![yaml.clone()],
        namespaces: vec![ns_a.clone(), ns_b.clone()],
        dir: None,
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

/// Kubeconfigs of a gateway user with a client certificate from the sandbox CA.
struct GatewayKubeconfigs {
    /// The certificate alone.
    plain: PathBuf,
    /// Also asserting the user extras the gateway sends (`jitgate.dev/grant`,
    /// `jitgate.dev/session`), as `as-user-extra`.
    jitgate_extras: PathBuf,
    /// Asserting an extra the gateway never sends.
    other_extra: PathBuf,
}

impl GatewayKubeconfigs {
    /// `$(scripts/sandbox-bin.sh) kubeconfig --dir SANDBOX --user USER --out DIR/gateway.kubeconfig`,
    /// and copies of it with impersonated extras.
    fn issue(dir: &Path, user: &str) -> Self {
        let bin = std::process::Command::new(repo_root().join("scripts/sandbox-bin.sh"))
            .current_dir(repo_root())
            .output()
            .expect("run scripts/sandbox-bin.sh");
        assert!(
            bin.status.success(),
            "scripts/sandbox-bin.sh: {}",
            String::from_utf8_lossy(&bin.stderr)
        );
        let bin = String::from_utf8_lossy(&bin.stdout).trim().to_owned();
        let plain = dir.join("gateway.kubeconfig");
        let out = std::process::Command::new(&bin)
            .arg("kubeconfig")
            .arg("--dir")
            .arg(sandbox_dir())
            .args(["--user", user, "--out"])
            .arg(&plain)
            .output()
            .expect("run the sandbox's kubeconfig command");
        assert!(
            out.status.success(),
            "{bin} kubeconfig: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let with_extras = |name: &str, extras: &[(&str, &[&str])]| {
            let mut config: Value =
                serde_yaml::from_str(&std::fs::read_to_string(&plain).expect("read kubeconfig"))
                    .expect("kubeconfig YAML");
            let mut map = serde_yaml::Mapping::new();
            for (key, values) in extras {
                map.insert(
                    Value::from(*key),
                    Value::Sequence(values.iter().map(|&v| Value::from(v)).collect()),
                );
            }
            config["users"][0]["user"]["as-user-extra"] = Value::Mapping(map);
            let path = dir.join(name);
            std::fs::write(&path, serde_yaml::to_string(&config).expect("YAML"))
                .expect("write kubeconfig");
            path
        };
        Self {
            jitgate_extras: with_extras(
                "gateway-extras.kubeconfig",
                &[
                    ("jitgate.dev/grant", &["g-rbac-test-1", "g-rbac-test-2"]),
                    ("jitgate.dev/session", &["s-rbac-test"]),
                ],
            ),
            other_extra: with_extras(
                "gateway-other-extra.kubeconfig",
                &[("other.example/key", &["x"])],
            ),
            plain,
        }
    }
}

/// Runs `kubectl` until it succeeds (RBAC reaches the authorizer's cache shortly after it is
/// written), panicking after 15 s with the last error.
fn succeeds(kubeconfig: &Path, args: &[&str]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let run = run_kubectl(kubeconfig, args, "");
        if run.ok {
            return run.stdout;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl {args:?} should succeed: {}",
            run.stderr
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Runs `kubectl`, expecting the apiserver to refuse it with a message containing `needle`.
fn refused(kubeconfig: &Path, args: &[&str], needle: &str) {
    let run = run_kubectl(kubeconfig, args, "");
    assert!(
        !run.ok,
        "kubectl {args:?} should be refused, but printed {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("Forbidden") || run.stderr.contains("forbidden"),
        "kubectl {args:?}: not a 403: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(needle),
        "kubectl {args:?}: expected {needle:?} in: {}",
        run.stderr
    );
}

fn with<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

/// Applies the constrained rendering to the real apiserver and impersonates through it with a
/// client certificate of the gateway user, as the gateway does (and as an attacker holding the
/// gateway's credentials would): alice with the profile group works within the profile in the
/// rendered namespaces (plus discovery and self-reviews) and nothing else; a user bound to
/// cluster-admin cannot be used to read secrets or delete a namespace; `system:masters`, other
/// groups, other extras and service accounts cannot be asserted. Then the legacy rendering
/// replaces it, and the same gateway reads secrets and deletes a namespace as that user, which is
/// why constrained impersonation matters.
#[test]
#[ignore = "needs cluster"]
fn constrained_impersonation_bounds_the_gateway_with_real_requests() {
    let suffix = random_suffix();
    let prefix = format!("rbac-test-{suffix}");
    let (ns_a, ns_b, victim) = (
        format!("{prefix}-a"),
        format!("{prefix}-b"),
        format!("{prefix}-victim"),
    );
    let gw = format!("{prefix}-gateway");
    let root = format!("root-{suffix}");
    let constrained = render_for_test(&[&ns_a, &ns_b], &gw, CONSTRAINED, &prefix);
    let legacy = render_for_test(&[&ns_a, &ns_b], &gw, LEGACY, &prefix);
    let root_binding = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  \
         name: {prefix}-root\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: \
         ClusterRole\n  name: cluster-admin\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  \
         kind: User\n  name: {root}\n"
    );
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let _cleanup = Cleanup {
        manifests: vec![root_binding.clone(), constrained.clone(), legacy.clone()],
        namespaces: vec![ns_a.clone(), ns_b.clone(), victim.clone()],
        dir: Some(dir.clone()),
    };
    for ns in [&ns_a, &ns_b, &victim] {
        kubectl(&["create", "namespace", ns], "");
    }
    kubectl(
        &[
            "-n",
            &ns_a,
            "create",
            "secret",
            "generic",
            "top-secret",
            "--from-literal=k=v",
        ],
        "",
    );
    kubectl(&["apply", "-f", "-"], &root_binding);
    kubectl(&["apply", "-f", "-"], &constrained);
    let kubeconfigs = GatewayKubeconfigs::issue(&dir, &gw);
    let gateway = kubeconfigs.jitgate_extras.as_path();

    // alice as the gateway asserts her: the profile's group, system:authenticated, the extras.
    let alice = [
        "--as",
        "alice",
        "--as-group",
        "jitgate:oncall-debug",
        "--as-group",
        "system:authenticated",
    ];
    let cannot = |what: &str| format!("User \"{gw}\" cannot {what}");

    // Within the profile, in the rendered namespaces: allowed.
    succeeds(gateway, &with(&alice, &["-n", &ns_a, "get", "pods"]));
    succeeds(gateway, &with(&alice, &["-n", &ns_b, "get", "pods,events"]));
    succeeds(
        gateway,
        &with(
            &alice,
            &["-n", &ns_b, "get", "deployments.apps,replicasets.apps"],
        ),
    );
    // Streaming subresources pass impersonation (and RBAC) with both WebSocket GET and POST;
    // the pod does not exist, so the apiserver answers 404 after the checks.
    for method in ["get", "create"] {
        let path = format!("/api/v1/namespaces/{ns_a}/pods/nope/exec?command=true&stdout=true");
        let mut args = with(&alice, &[method, "--raw", &path]);
        if method == "create" {
            args.extend(["-f", "/dev/null"]);
        }
        let run = run_kubectl(gateway, &args, "");
        assert!(
            !run.ok && run.stderr.contains("NotFound") && !run.stderr.contains("orbidden"),
            "{method} pods/exec: {}",
            run.stderr
        );
    }
    // Discovery (non-resource URLs) and self-reviews (cluster-scoped).
    for path in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps/v1",
        "/version",
        "/openapi/v3",
    ] {
        succeeds(gateway, &with(&alice, &["get", "--raw", path]));
    }
    let whoami = succeeds(gateway, &with(&alice, &["auth", "whoami", "-o", "json"]));
    for expected in [
        "\"alice\"",
        "jitgate:oncall-debug",
        "g-rbac-test-2",
        "s-rbac-test",
    ] {
        assert!(whoami.contains(expected), "{expected} in {whoami}");
    }
    let can_i = succeeds(
        gateway,
        &with(&alice, &["auth", "can-i", "list", "pods", "-n", &ns_a]),
    );
    assert_eq!(can_i.trim(), "yes");
    let cannot_delete = run_kubectl(
        gateway,
        &with(&alice, &["auth", "can-i", "delete", "pods", "-n", &ns_a]),
        "",
    );
    assert_eq!(
        cannot_delete.stdout.trim(),
        "no",
        "{}",
        cannot_delete.stderr
    );
    succeeds(
        gateway,
        &with(&alice, &["auth", "can-i", "--list", "-n", &ns_a]),
    );

    // Outside the profile, or outside the rendered namespaces: refused by the impersonation
    // layer, before the user's own RBAC is even consulted.
    refused(
        gateway,
        &with(&alice, &["-n", &ns_a, "delete", "pod", "x"]),
        &cannot("impersonate-on:user-info:delete resource \"pods\""),
    );
    refused(
        gateway,
        &with(
            &alice,
            &[
                "-n",
                &ns_a,
                "create",
                "configmap",
                "x",
                "--from-literal=a=b",
            ],
        ),
        &cannot("impersonate-on:user-info:create resource \"configmaps\""),
    );
    refused(
        gateway,
        &with(&alice, &["-n", &victim, "get", "pods"]),
        &cannot(&format!(
            "impersonate-on:user-info:list resource \"pods\" in API group \"\" in the namespace \"{victim}\""
        )),
    );
    refused(
        gateway,
        &with(&alice, &["get", "pods", "--all-namespaces"]),
        &cannot(
            "impersonate-on:user-info:list resource \"pods\" in API group \"\" at the cluster scope",
        ),
    );
    refused(
        gateway,
        &with(&alice, &["get", "--raw", "/healthz"]),
        &cannot("impersonate-on:user-info:get path \"/healthz\""),
    );

    // A user bound to cluster-admin: only as much as the profile allows.
    let as_root = ["--as", root.as_str()];
    refused(
        gateway,
        &with(&as_root, &["-n", &ns_a, "get", "secrets"]),
        &cannot("impersonate-on:user-info:list resource \"secrets\""),
    );
    refused(
        gateway,
        &with(&as_root, &["-n", &ns_a, "get", "secret", "top-secret"]),
        &cannot("impersonate-on:user-info:get resource \"secrets\""),
    );
    refused(
        gateway,
        &with(&as_root, &["delete", "namespace", &victim, "--wait=false"]),
        &cannot("impersonate-on:user-info:delete resource \"namespaces\""),
    );
    refused(
        gateway,
        &with(
            &as_root,
            &[
                "create",
                "clusterrolebinding",
                "x",
                "--clusterrole=cluster-admin",
                "--user=mallory",
            ],
        ),
        &cannot("impersonate-on:user-info:create resource \"clusterrolebindings\""),
    );
    assert!(
        kubectl(
            &[
                "get",
                "namespace",
                &victim,
                "-o",
                "jsonpath={.status.phase}"
            ],
            ""
        ) == "Active"
    );
    // (What remains: the profile's own verbs in the rendered namespaces, as any user.)
    succeeds(gateway, &with(&as_root, &["-n", &ns_a, "get", "pods"]));

    // Groups, extras and identities the gateway never asserts.
    refused(
        gateway,
        &[
            "--as",
            "alice",
            "--as-group",
            "system:masters",
            "-n",
            &ns_a,
            "get",
            "pods",
        ],
        "impersonating the system:masters group is not allowed",
    );
    refused(
        gateway,
        &[
            "--as",
            "alice",
            "--as-group",
            "some-other-group",
            "-n",
            &ns_a,
            "get",
            "pods",
        ],
        &cannot("impersonate:user-info resource \"groups\" in API group \"authentication.k8s.io\""),
    );
    refused(
        &kubeconfigs.other_extra,
        &with(&alice, &["-n", &ns_a, "get", "pods"]),
        &cannot("impersonate:user-info resource \"userextras/other.example/key\""),
    );
    let service_account = format!("system:serviceaccount:{ns_a}:default");
    for kubeconfig in [gateway, kubeconfigs.plain.as_path()] {
        refused(
            kubeconfig,
            &["--as", &service_account, "-n", &ns_a, "get", "pods"],
            // The `user-info` mode never applies to service accounts; which mode's refusal is
            // reported depends on the headers (the `serviceaccount` mode takes only a bare name).
            &cannot("impersonate"),
        );
    }
    // Without impersonating, the gateway itself may only get pods (for label selectors).
    refused(
        &kubeconfigs.plain,
        &["-n", &ns_a, "get", "pods"],
        &cannot("list resource \"pods\""),
    );

    // The same gateway with the legacy rendering: the user bound to cluster-admin reads secrets
    // and deletes a namespace.
    kubectl(&["delete", "-f", "-"], &constrained);
    kubectl(&["apply", "-f", "-"], &legacy);
    let secrets = succeeds(gateway, &with(&as_root, &["-n", &ns_a, "get", "secrets"]));
    assert!(secrets.contains("top-secret"), "{secrets}");
    let deleted = succeeds(
        gateway,
        &with(&as_root, &["delete", "namespace", &victim, "--wait=false"]),
    );
    assert!(deleted.contains("deleted"), "{deleted}");
    succeeds(gateway, &with(&alice, &["-n", &ns_a, "get", "pods"]));
    // resourceNames on groups still keep system:masters out.
    refused(
        gateway,
        &[
            "--as",
            "alice",
            "--as-group",
            "system:masters",
            "-n",
            &ns_a,
            "get",
            "pods",
        ],
        &cannot("impersonate resource \"groups\""),
    );
}
