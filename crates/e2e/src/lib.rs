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
//! Tests that need the cluster are `#[ignore]`d, so `cargo test` passes without one; `make test`
//! starts the sandbox and runs them with `--ignored`.

mod capture;
pub mod error;
pub mod forward;
pub mod http;
pub mod kubectl;
pub mod namespace;
pub mod pod;
pub mod pty;
pub mod random;
pub mod sandbox;
pub mod suite;

pub use error::{HarnessError, Result};
pub use kubectl::{Background, Kubectl, Output};
pub use namespace::TestNamespace;
pub use pod::Pod;
pub use pty::{PtySession, PtySize};
pub use sandbox::Sandbox;
pub use suite::{CaseResult, SmokeEnv, run_case};
