//! Guards: decisions about what a permitted request may carry, beyond what RBAC can say.
//!
//! RBAC can allow `create` on `pods/exec`; it cannot say *which* command. [`exec`] decides a
//! command line from its argv: the program that really runs (paths normalised, wrappers looked
//! through, `sh -c` scripts parsed), the profile's allow and deny lists, and what interactive
//! shells may do.
//!
//! RBAC can allow or deny `patch` on `pods/ephemeralcontainers`; it cannot say *which* debug
//! container may be added. [`debug`] reads the request body — whatever its patch type — finds
//! every ephemeral container it would add, and checks each against a profile's
//! [`DebugRules`]: images from an allowlist (optionally pinned by digest), never privileged,
//! capabilities only from an allowlist. What cannot be decided from the body is refused.
//!
//! No I/O: the gateway hands in the method, `Content-Type` and body bytes and gets a decision
//! with the sentence to show the person.

#![forbid(unsafe_code)]

pub mod debug;
pub mod exec;

pub use debug::{DebugRules, PatchKind, check_debug_request};
pub use exec::{ExecRequest, ExecRules, Interactive, check_exec};
