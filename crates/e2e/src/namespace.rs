//! A namespace of its own for each test, deleted when the test ends (pass or fail).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::{HarnessError, Result};
use crate::kubectl::Kubectl;
use crate::pod::Pod;
use crate::random::random_name;

/// Set to keep test namespaces after the run, for looking at what a failed case left behind.
pub const KEEP_NAMESPACES_ENV: &str = "JITGATE_E2E_KEEP_NAMESPACES";

/// How long a new namespace may lack its `default` ServiceAccount (the controller-manager
/// creates it within a second or two).
const SERVICE_ACCOUNT_GRACE: Duration = Duration::from_secs(20);

/// A namespace `smoke-<random>` created for one test; deleted on drop (best effort, without
/// waiting) unless [`KEEP_NAMESPACES_ENV`] is set.
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
    kubectl: Kubectl,
}

impl TestNamespace {
    /// Creates a fresh namespace `smoke-<random>` with `admin`, labelled with the case and the
    /// kubectl version.
    pub fn create(admin: &Kubectl, case: &str) -> Result<Self> {
        Self::create_named(admin, "smoke", "jitgate-smoke", case)
    }

    /// Creates a fresh namespace `<prefix>-<random>`, labelled as part of `suite`, with the case
    /// and the kubectl version.
    pub fn create_named(admin: &Kubectl, prefix: &str, suite: &str, case: &str) -> Result<Self> {
        let name = format!("{prefix}-{}", random_name(8));
        let manifest = json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {
                    "app.kubernetes.io/part-of": suite,
                    "jitgate.dev/e2e-case": label_value(case),
                    "jitgate.dev/kubectl": label_value(&admin.version),
                },
            },
        });
        admin
            .run_with_stdin(["create", "-f", "-"], manifest.to_string().as_bytes())?
            .checked()?;
        Ok(Self {
            kubectl: admin.in_namespace(&name),
            name,
        })
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The admin kubectl, scoped to this namespace (for setup, not for the step under test).
    pub fn admin(&self) -> &Kubectl {
        &self.kubectl
    }

    /// Creates an object from its manifest, retrying while the namespace's `default`
    /// ServiceAccount does not exist yet.
    pub fn create_object(&self, manifest: &Value) -> Result<()> {
        let body = manifest.to_string();
        let started = Instant::now();
        loop {
            let out = self
                .kubectl
                .run_with_stdin(["create", "-f", "-"], body.as_bytes())?;
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

    /// Creates a pod.
    pub fn create_pod(&self, pod: &Pod) -> Result<()> {
        self.create_object(&pod.to_json())
    }

    /// Creates a pod and waits until it is Ready.
    pub fn start_pod(&self, pod: &Pod) -> Result<()> {
        self.create_pod(pod)?;
        self.wait_ready(pod.name())
    }

    /// `kubectl wait --for=condition=Ready pod/<name> --timeout=60s`; on failure the error
    /// carries `kubectl describe pod` to show why.
    pub fn wait_ready(&self, pod: &str) -> Result<()> {
        let out = self.kubectl.run([
            "wait",
            "--for=condition=Ready",
            &format!("pod/{pod}"),
            "--timeout=60s",
        ])?;
        if out.success() {
            return Ok(());
        }
        let describe = self
            .kubectl
            .run(["describe", "pod", pod])
            .map_or_else(|e| e.to_string(), |d| d.stdout_text());
        Err(HarnessError::CommandFailed {
            command: out.command.clone(),
            status: out.status.to_string(),
            stdout: out.stdout_text(),
            stderr: format!(
                "{}\n--- kubectl describe pod {pod} ---\n{describe}",
                out.stderr_text()
            ),
        })
    }

    /// `kubectl get <args> -o json`, parsed.
    pub fn get_json(&self, args: &[&str]) -> Result<Value> {
        let mut argv: Vec<&str> = vec!["get"];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["-o", "json"]);
        self.kubectl.run(argv)?.checked()?.json()
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_NAMESPACES_ENV).is_some() {
            eprintln!(
                "keeping namespace {} ({KEEP_NAMESPACES_ENV} is set)",
                self.name
            );
            return;
        }
        let deleted = self
            .kubectl
            .with_timeout(Duration::from_secs(30))
            .run([
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ])
            .and_then(crate::kubectl::Output::checked);
        if let Err(e) = deleted {
            eprintln!("could not delete namespace {}: {e}", self.name);
        }
    }
}

/// Makes `text` a valid label value (alphanumerics, `-`, `_`, `.`; at most 63 characters).
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

#[cfg(test)]
mod tests {
    use super::label_value;

    #[test]
    fn label_values_are_valid() {
        assert_eq!(label_value("exec_exit_code"), "exec_exit_code");
        assert_eq!(label_value("1.27"), "1.27");
        assert_eq!(label_value("a b/c"), "a_b_c");
        assert_eq!(label_value(&"x".repeat(80)).len(), 63);
    }
}
