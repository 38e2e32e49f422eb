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
//! Under `exec.interactive: filter`, [`line`] rebuilds the lines typed into an interactive shell
//! from its keystrokes and checks each at Enter ([`LineFilter`]), best effort.
//!
//! `kubectl cp` is an exec of `tar`: [`copy`] holds it to the two shapes kubectl uses and to a
//! profile's paths ([`CopyRules`]), and [`tar`] reads an upload's archive as it streams
//! ([`UploadWatch`]) so no member lands outside the directory it was allowed into.
//!
//! No I/O: the gateway hands in the method, `Content-Type` and body bytes and gets a decision
//! with the sentence to show the person.

#![forbid(unsafe_code)]

pub mod copy;
pub mod debug;
pub mod exec;
pub mod line;
pub mod tar;

pub use copy::{CopyRules, CopyRun};
pub use debug::{DebugRules, PatchKind, check_debug_request};
pub use exec::{ExecApproval, ExecRequest, ExecRules, Interactive, check_exec, check_typed_line};
pub use line::{Dropped, Filtered, LineFilter};
pub use tar::UploadWatch;
