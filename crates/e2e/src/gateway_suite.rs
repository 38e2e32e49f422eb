//! Running one gateway acceptance case: find the stack from its env file, pick the kubectl, give
//! the case a scratch folder and helpers for users, namespaces and logs, and turn any failure
//! into a readable panic.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::audit_log::JsonLines;
use crate::error::error_chain;
use crate::gw_namespace::GatewayNamespaces;
use crate::kubectl::{Kubectl, VERSIONS_ENV, selected_versions};
use crate::random::random_name;
use crate::stack::{CertUser, GatewayStack, StackError, StackResult};
use crate::suite::{CaseResult, SUITE_VERSIONS};

/// What a gateway case gets.
#[derive(Debug)]
pub struct GatewayCase {
    /// The case name, for labels and messages.
    pub case: String,
    /// The stack.
    pub stack: GatewayStack,
    /// The kubectl version under test (for version-independent cases: the first selected).
    pub version: String,
    /// kubectl of that version with the cluster administrator's kubeconfig, for setup only.
    pub admin: Kubectl,
    /// The gateway's audit log.
    pub audit: JsonLines,
    /// The apiserver's audit log.
    pub apiserver_audit: JsonLines,
    scratch: tempfile::TempDir,
}

impl GatewayCase {
    fn new(case: &str, version: &str) -> StackResult<Self> {
        let stack = GatewayStack::from_env()?;
        let admin = Kubectl::discover(version, stack.admin_kubeconfig())?;
        let scratch = tempfile::Builder::new()
            .prefix(&format!("jitgate-gw-{case}-"))
            .tempdir()
            .map_err(|e| StackError::io("creating a scratch folder", e))?;
        Ok(Self {
            case: case.to_owned(),
            audit: JsonLines::new(stack.audit_log()),
            apiserver_audit: JsonLines::new(stack.apiserver_audit_log()),
            stack,
            version: version.to_owned(),
            admin,
            scratch,
        })
    }

    /// A fresh folder inside the case's scratch folder.
    pub fn dir(&self, name: &str) -> StackResult<PathBuf> {
        let dir = self.scratch.path().join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| StackError::io(format!("creating {}", dir.display()), e))?;
        Ok(dir)
    }

    /// `count` fresh namespaces with jitgate's RBAC, deleted when the value is dropped.
    pub fn namespaces(&self, count: usize) -> StackResult<GatewayNamespaces> {
        GatewayNamespaces::create(&self.stack, &self.admin, &self.case, count)
    }

    /// A unique name `<prefix>-<random>`.
    pub fn unique(&self, prefix: &str) -> String {
        format!("{prefix}-{}", random_name(8))
    }

    /// A new user `<prefix>-<random>` with a jitgate client certificate, and the kubectl under
    /// test using it (context namespace `namespace`).
    pub fn cert_user(&self, prefix: &str, namespace: &str) -> StackResult<(CertUser, Kubectl)> {
        let name = self.unique(prefix);
        let dir = self.dir(&name)?;
        let user = self.stack.issue_cert(&name, &["sre"], namespace, &dir)?;
        let kubectl = self.admin.with_kubeconfig(&user.kubeconfig);
        Ok((user, kubectl))
    }

    /// A kubeconfig for the gateway that authenticates with the bearer `token`.
    pub fn token_kubeconfig(
        &self,
        name: &str,
        token: &str,
        namespace: &str,
    ) -> StackResult<PathBuf> {
        let dir = self.dir(name)?;
        let path = dir.join("kubeconfig");
        let ca = self.stack.ca_cert();
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: jitgate\n  cluster:\n    server: {}\n    \
             certificate-authority: {}\nusers:\n- name: {name}\n  user:\n    token: {token}\n\
             contexts:\n- name: jitgate\n  context:\n    cluster: jitgate\n    user: {name}\n    \
             namespace: {namespace}\ncurrent-context: jitgate\n",
            self.stack.gateway_url,
            ca.display()
        );
        std::fs::write(&path, text)
            .map_err(|e| StackError::io(format!("writing {}", path.display()), e))?;
        Ok(path)
    }
}

/// Runs `body` as `case` with kubectl `version`, or does nothing (and says so) when
/// `JITGATE_KUBECTL_VERSIONS` does not select that version.
///
/// # Panics
///
/// This is a test runner: it panics, saying what happened and what to do, when the stack or
/// the binary is missing or the case fails.
pub fn run_gateway_case(case: &str, version: &str, body: fn(&GatewayCase) -> CaseResult) {
    let selected = match selected_versions() {
        Ok(v) => v,
        Err(e) => panic!("{case} (kubectl {version}): {}", error_chain(&e)),
    };
    if let Some(unknown) = selected
        .iter()
        .find(|v| !SUITE_VERSIONS.contains(&v.as_str()))
    {
        panic!(
            "{VERSIONS_ENV} names kubectl {unknown}, but the gateway suite has tests for {} only",
            SUITE_VERSIONS.join(", ")
        );
    }
    if !selected.iter().any(|v| v == version) {
        eprintln!(
            "{case}: kubectl {version} is not selected by {VERSIONS_ENV} ({}); nothing to run",
            selected.join(",")
        );
        return;
    }
    run(case, version, &format!("kubectl {version}"), body);
}

/// Runs a case that does not depend on the kubectl version (raw HTTP), once, with the first
/// selected kubectl for setup.
///
/// # Panics
///
/// As [`run_gateway_case`].
pub fn run_gateway_once(case: &str, body: fn(&GatewayCase) -> CaseResult) {
    let version = match selected_versions() {
        Ok(v) => v.into_iter().next().unwrap_or_else(|| "1.33".to_owned()),
        Err(e) => panic!("{case}: {}", error_chain(&e)),
    };
    run(case, &version, "once", body);
}

fn run(case: &str, version: &str, label: &str, body: fn(&GatewayCase) -> CaseResult) {
    let started = Instant::now();
    let env = GatewayCase::new(case, version)
        .unwrap_or_else(|e| panic!("{case} ({label}): cannot set up: {}", error_chain(&e)));
    if let Err(e) = body(&env) {
        panic!(
            "{case} ({label}) failed after {:.1?}:\n{}",
            started.elapsed(),
            error_chain(e.as_ref())
        );
    }
    eprintln!("{case} ({label}): passed in {:.1?}", started.elapsed());
}

/// Calls `probe` every `interval` until it returns `Some`, failing after `timeout` with the last
/// observation `probe` reported through `last`.
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut probe: impl FnMut(&mut String) -> StackResult<Option<T>>,
) -> StackResult<T> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("(nothing yet)");
    loop {
        if let Some(found) = probe(&mut last)? {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            return Err(StackError::unexpected(
                format!("waited {timeout:?} for {what}"),
                format!("last seen: {last}"),
            ));
        }
        std::thread::sleep(interval);
    }
}
