//! Running one smoke case for one kubectl version: pick the versions, find the cluster and the
//! binary, give the case a fresh namespace, and turn any failure into a readable panic.

use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result, error_chain};
use crate::kubectl::{Kubectl, VERSIONS_ENV, selected_versions};
use crate::namespace::TestNamespace;
use crate::sandbox::Sandbox;

/// The kubectl versions the suite generates tests for (the binaries on the machine).
pub const SUITE_VERSIONS: [&str; 7] = ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"];

/// What a case returns: harness errors and assertion messages alike.
pub type CaseResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// What a case gets: the kubectl under test (scoped to the namespace) and the namespace, whose
/// admin kubectl is for setup.
#[derive(Debug)]
pub struct SmokeEnv {
    /// The kubectl whose behaviour is tested. Today it uses the sandbox admin kubeconfig; pointed
    /// at the jitgate gateway it will use a user's kubeconfig.
    pub kubectl: Kubectl,
    /// The test's namespace; deleted when the case ends.
    pub ns: TestNamespace,
}

/// Runs `body` as case `case` with kubectl `version`, or does nothing (and says so) when that
/// version is not selected by `JITGATE_KUBECTL_VERSIONS`.
///
/// # Panics
///
/// This is a test runner: it panics, with what happened and what to do, when the selection is
/// invalid, the sandbox or the binary is missing, or the case fails.
pub fn run_case(case: &str, version: &str, body: fn(&SmokeEnv) -> CaseResult) {
    if let Err(e) = check_selection(version) {
        panic!("{case} (kubectl {version}): {}", error_chain(&e));
    }
    let selected = selected_versions().unwrap_or_default();
    if !selected.iter().any(|v| v == version) {
        eprintln!(
            "{case}: kubectl {version} is not selected by {VERSIONS_ENV} ({}); nothing to run",
            selected.join(",")
        );
        return;
    }
    let started = Instant::now();
    let sandbox = Sandbox::from_env().unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    let kubectl = Kubectl::discover(version, &sandbox.admin_kubeconfig)
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    let ns = TestNamespace::create(&kubectl, case).unwrap_or_else(|e| {
        panic!(
            "{case} (kubectl {version}): cannot create the test namespace: {}",
            error_chain(&e)
        )
    });
    let env = SmokeEnv {
        kubectl: kubectl.in_namespace(ns.name()),
        ns,
    };
    if let Err(e) = body(&env) {
        panic!(
            "{case} (kubectl {version}, namespace {}) failed after {:.1?}:\n{}",
            env.ns.name(),
            started.elapsed(),
            error_chain(e.as_ref())
        );
    }
    eprintln!(
        "{case} (kubectl {version}): passed in {:.1?}",
        started.elapsed()
    );
}

/// Like [`run_case`], but the kubectl under test goes through the jitgate gateway of the running
/// stack (`scripts/stack.sh`, found through its env file's variables): the namespace gets
/// jitgate's rendered RBAC, a fresh user gets a jitgate client certificate and a grant of the
/// `oncall-debug` profile for that namespace, and the case runs with that user's kubeconfig.
/// Setup (pods, deletions) still goes straight to the apiserver as the administrator.
///
/// # Panics
///
/// As [`run_case`]; also when the stack is not running.
pub fn run_case_through_gateway(case: &str, version: &str, body: fn(&SmokeEnv) -> CaseResult) {
    if let Err(e) = check_selection(version) {
        panic!(
            "{case} (kubectl {version}, via jitgate): {}",
            error_chain(&e)
        );
    }
    let selected = selected_versions().unwrap_or_default();
    if !selected.iter().any(|v| v == version) {
        eprintln!(
            "{case}: kubectl {version} is not selected by {VERSIONS_ENV} ({}); nothing to run",
            selected.join(",")
        );
        return;
    }
    let started = Instant::now();
    let label = format!("{case} (kubectl {version}, via jitgate)");
    let fail = |what: &str, e: &(dyn std::error::Error + 'static)| -> ! {
        panic!("{label}: {what}: {}", error_chain(e))
    };
    let stack = crate::stack::GatewayStack::from_env()
        .unwrap_or_else(|e| fail("the gateway stack is not running", &e));
    let admin = Kubectl::discover(version, stack.admin_kubeconfig())
        .unwrap_or_else(|e| fail("kubectl", &e));
    let ns = TestNamespace::create_named(&admin, "smoke-gw", "jitgate-smoke", case)
        .unwrap_or_else(|e| fail("cannot create the test namespace", &e));
    stack
        .apply_rbac(&admin, &[ns.name()])
        .unwrap_or_else(|e| fail("cannot apply jitgate's RBAC", &e));
    let scratch = tempfile::Builder::new()
        .prefix("jitgate-smoke-gw-")
        .tempdir()
        .unwrap_or_else(|e| fail("scratch folder", &e));
    let user_name = format!("smoke-{}", crate::random::random_name(8));
    let user = stack
        .issue_cert(&user_name, &["sre"], ns.name(), scratch.path())
        .unwrap_or_else(|e| fail("cannot issue a certificate", &e));
    let _grant = stack
        .create_grant(&user_name, &[ns.name()], "30m", &format!("smoke {case}"))
        .unwrap_or_else(|e| fail("cannot create the grant", &e));
    let kubectl = admin
        .with_kubeconfig(&user.kubeconfig)
        .in_namespace(ns.name());
    // A new grant is usable at the gateway's next store poll (200 ms).
    poll(
        "the grant to be usable through the gateway",
        Duration::from_secs(10),
        Duration::from_millis(100),
        |last| {
            let out = kubectl.run(["get", "pods"])?;
            *last = out.to_string();
            Ok(out.success().then_some(()))
        },
    )
    .unwrap_or_else(|e| fail("the grant never became usable", &e));
    let env = SmokeEnv { kubectl, ns };
    if let Err(e) = body(&env) {
        panic!(
            "{label} (namespace {}) failed after {:.1?}:\n{}",
            env.ns.name(),
            started.elapsed(),
            error_chain(e.as_ref())
        );
    }
    eprintln!("{label}: passed in {:.1?}", started.elapsed());
}

/// Fails if the selection cannot be parsed or names a version the suite has no tests for, so
/// that a requested version is never silently left out.
fn check_selection(version: &str) -> Result<()> {
    let selected = selected_versions()?;
    if let Some(unknown) = selected
        .iter()
        .find(|v| !SUITE_VERSIONS.contains(&v.as_str()))
    {
        return Err(HarnessError::KubectlVersions {
            value: selected.join(","),
            reason: format!(
                "the smoke suite has tests for kubectl {} only, not {unknown}; add it to \
                 SUITE_VERSIONS and the test macro",
                SUITE_VERSIONS.join(", ")
            ),
        });
    }
    debug_assert!(SUITE_VERSIONS.contains(&version));
    Ok(())
}

/// Calls `probe` every `interval` until it returns `Some`, failing after `timeout` with the last
/// observation `probe` reported through `last`.
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut probe: impl FnMut(&mut String) -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("(nothing yet)");
    loop {
        if let Some(found) = probe(&mut last)? {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::PollTimeout {
                what: what.to_owned(),
                after: timeout,
                last,
            });
        }
        std::thread::sleep(interval);
    }
}

/// How kubectl carries exec/attach/cp streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamTransport {
    /// SPDY/3.1 (`X-Stream-Protocol-Version`).
    Spdy,
    /// WebSocket (`v5.channel.k8s.io`).
    WebSocket,
}

impl std::fmt::Display for StreamTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Spdy => "SPDY",
            Self::WebSocket => "WebSocket",
        })
    }
}

/// Every transport `kubectl` can use for exec/attach/cp, each with the kubectl that forces it:
/// SPDY only before 1.29; from 1.29 (alpha, opt-in) both, chosen with
/// `KUBECTL_REMOTE_COMMAND_WEBSOCKETS`.
pub fn remote_command_transports(kubectl: &Kubectl) -> Vec<(StreamTransport, Kubectl)> {
    transports(kubectl, 29, "KUBECTL_REMOTE_COMMAND_WEBSOCKETS")
}

/// Every transport `kubectl port-forward` can use: SPDY only before 1.30; from 1.30 also SPDY
/// tunnelled in WebSocket, chosen with `KUBECTL_PORT_FORWARD_WEBSOCKETS`.
pub fn port_forward_transports(kubectl: &Kubectl) -> Vec<(StreamTransport, Kubectl)> {
    transports(kubectl, 30, "KUBECTL_PORT_FORWARD_WEBSOCKETS")
}

fn transports(kubectl: &Kubectl, since: u32, env: &str) -> Vec<(StreamTransport, Kubectl)> {
    if kubectl.minor().is_some_and(|m| m >= since) {
        vec![
            (StreamTransport::WebSocket, kubectl.with_env(env, "true")),
            (StreamTransport::Spdy, kubectl.with_env(env, "false")),
        ]
    } else {
        vec![(StreamTransport::Spdy, kubectl.clone())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_kubectl_only_speaks_spdy() {
        let k = Kubectl::new("/x/kubectl.1.27", "/k", "1.27");
        let t = remote_command_transports(&k);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].0, StreamTransport::Spdy);
        assert_eq!(t[0].1.env_overrides(), "");
    }

    #[test]
    fn new_kubectl_is_forced_to_each_transport() {
        let k = Kubectl::new("/x/kubectl.1.33", "/k", "1.33");
        let t = port_forward_transports(&k);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0].1.env_overrides(),
            "KUBECTL_PORT_FORWARD_WEBSOCKETS=true"
        );
        assert_eq!(
            t[1].1.env_overrides(),
            "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"
        );
    }

    #[test]
    fn poll_reports_the_last_observation() {
        let err = poll(
            "a thing",
            Duration::from_millis(50),
            Duration::from_millis(10),
            |last| {
                *last = "still no".to_owned();
                Ok(None::<()>)
            },
        )
        .expect_err("times out");
        assert!(err.to_string().contains("still no"), "{err}");
    }
}
