//! A namespace `gw-<random>` for one gateway test, with jitgate's rendered RBAC applied, deleted
//! when the test ends (pass or fail).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::kubectl::{Kubectl, Output};
use crate::namespace::KEEP_NAMESPACES_ENV;
use crate::pod::Pod;
use crate::random::random_name;
use crate::stack::{GatewayStack, StackError, StackResult};

/// How long a new namespace may lack its `default` ServiceAccount.
const SERVICE_ACCOUNT_GRACE: Duration = Duration::from_secs(20);

/// Namespaces created by the cluster administrator for a gateway test; deleted on drop unless
/// [`KEEP_NAMESPACES_ENV`] is set.
#[derive(Debug)]
pub struct GatewayNamespaces {
    names: Vec<String>,
    admin: Kubectl,
}

impl GatewayNamespaces {
    /// Creates `count` namespaces `gw-<random>` and applies `jitgate rbac render` for all of
    /// them (Roles and RoleBindings for the `jitgate:<profile>` groups, the gateway's
    /// impersonation ClusterRole).
    pub fn create(
        stack: &GatewayStack,
        admin: &Kubectl,
        case: &str,
        count: usize,
    ) -> StackResult<Self> {
        let mut me = Self {
            names: Vec::new(),
            admin: admin.clone(),
        };
        for _ in 0..count {
            let name = format!("gw-{}", random_name(8));
            let manifest = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {
                        "app.kubernetes.io/part-of": "jitgate-gateway-e2e",
                        "jitgate.dev/e2e-case": label_value(case),
                        "jitgate.dev/kubectl": label_value(&admin.version),
                    },
                },
            });
            admin
                .run_with_stdin(["create", "-f", "-"], manifest.to_string().as_bytes())?
                .checked()?;
            me.names.push(name);
        }
        let names: Vec<&str> = me.names.iter().map(String::as_str).collect();
        stack.apply_rbac(admin, &names)?;
        Ok(me)
    }

    /// The `i`th namespace's name.
    ///
    /// # Panics
    ///
    /// If fewer namespaces were created (a bug in the test).
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// The admin kubectl scoped to namespace `ns`.
    pub fn admin_in(&self, ns: &str) -> Kubectl {
        self.admin.in_namespace(ns)
    }

    /// Creates a pod in `ns` as admin, retrying while the `default` ServiceAccount is missing.
    pub fn create_pod(&self, ns: &str, pod: &Pod) -> StackResult<()> {
        let body = pod.to_json().to_string();
        let admin = self.admin_in(ns);
        let started = Instant::now();
        loop {
            let out = admin.run_with_stdin(["create", "-f", "-"], body.as_bytes())?;
            let waiting_for_sa = !out.success()
                && out
                    .stderr_text()
                    .contains("serviceaccount \"default\" not found")
                && started.elapsed() < SERVICE_ACCOUNT_GRACE;
            if !waiting_for_sa {
                out.checked()?;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Creates a pod in `ns` and waits until it is Ready.
    pub fn start_pod(&self, ns: &str, pod: &Pod) -> StackResult<()> {
        self.create_pod(ns, pod)?;
        let out = self.admin_in(ns).run([
            "wait",
            "--for=condition=Ready",
            &format!("pod/{}", pod.name()),
            "--timeout=60s",
        ])?;
        if out.success() {
            return Ok(());
        }
        let describe = self
            .admin_in(ns)
            .run(["describe", "pod", pod.name()])
            .map_or_else(|e| e.to_string(), |d| d.stdout_text());
        Err(StackError::unexpected(
            format!("pod {ns}/{} becoming Ready", pod.name()),
            format!("{out}\n--- kubectl describe ---\n{describe}"),
        ))
    }
}

impl Drop for GatewayNamespaces {
    fn drop(&mut self) {
        for name in &self.names {
            if std::env::var_os(KEEP_NAMESPACES_ENV).is_some() {
                eprintln!("keeping namespace {name} ({KEEP_NAMESPACES_ENV} is set)");
                continue;
            }
            let deleted = self
                .admin
                .with_timeout(Duration::from_secs(30))
                .run([
                    "delete",
                    "namespace",
                    name,
                    "--wait=false",
                    "--ignore-not-found",
                ])
                .and_then(Output::checked);
            if let Err(e) = deleted {
                eprintln!("could not delete namespace {name}: {e}");
            }
        }
    }
}

/// Makes `text` a valid label value.
fn label_value(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}
