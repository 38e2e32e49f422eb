//! End-to-end harness for jitgate: runs real kubectl binaries of several versions against a real
//! cluster — today the sandbox's kube-apiserver, later the jitgate gateway in front of it.
//!
//! Pieces:
//! - [`kubectl`]: find `kubectl.1.NN` beside `kubectl`, run it with a deadline, in the background
//!   or in a pseudo-terminal ([`pty`]);
//! - [`sandbox`]: where the cluster is (`JITGATE_SANDBOX_DIR`);
//! - [`namespace`]: a namespace per test, deleted on drop; [`pod`]: manifests;
//! - [`http`] and [`forward`]: talk to pods through `kubectl port-forward`;
//! - [`suite`]: run one case per kubectl version with clear failures.
//!
//! For the jitgate gateway in front of the cluster (`scripts/stack.sh up`):
//! - [`stack`]: the stack from its env file, and the `jitgate` admin CLI (certificates, grants,
//!   RBAC); [`gw_namespace`]: namespaces with jitgate's RBAC;
//! - [`raw_http`]: requests kubectl will not send; [`forge`]: certificates and tokens that must
//!   be refused; [`dex`]: real ID tokens; [`audit_log`]: what the gateway and apiserver recorded;
//! - [`gateway_suite`]: run a gateway case per kubectl version.
//!
//! Tests that need the cluster are `#[ignore]`d, so `cargo test` passes without one; `make test`
//! starts the sandbox and runs them with `--ignored`.

pub mod audit_log;
pub mod browser;
mod capture;
pub mod dex;
pub mod error;
pub mod forge;
pub mod forward;
pub mod gateway_suite;
pub mod gw_namespace;
pub mod http;
pub mod kubectl;
pub mod namespace;
pub mod pod;
pub mod postgres;
pub mod pty;
pub mod random;
pub mod raw_http;
pub mod sandbox;
pub mod stack;
pub mod suite;

pub use error::{HarnessError, Result};
pub use kubectl::{Background, Kubectl, Output};
pub use namespace::TestNamespace;
pub use pod::Pod;
pub use pty::{PtySession, PtySize};
pub use sandbox::Sandbox;
pub use suite::{CaseResult, SmokeEnv, run_case, run_case_through_gateway};
