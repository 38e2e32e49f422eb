//! jitgate's decision log: every request decision, broker transition and session start and end,
//! as JSON lines in a hash chain that [`verify`] checks.
//!
//! Each line carries `seq` (1, 2, …), `prev_hash` (the previous line's `hash`, or
//! [`GENESIS_HASH`] for the first) and `hash`, the SHA-256 of `prev_hash` followed by the
//! canonical JSON of the line without `hash` (see the `chain` module for the exact form). Editing,
//! deleting, reordering or inserting a line breaks the chain at that line. Cutting lines off the
//! end cannot be seen from the file alone: keep the [`Head`] somewhere else too.
//!
//! An event is durable before [`AuditLog::append`] returns; the caller acknowledges the action
//! it records only after that.
//!
//! ```no_run
//! use jitgate_audit::{AuditEvent, AuditLog, Decision, EventKind, verify};
//!
//! # fn main() -> Result<(), jitgate_audit::AuditError> {
//! let log = AuditLog::open("/var/log/jitgate/audit.jsonl")?;
//! let mut event = AuditEvent::new(EventKind::GrantRevoke);
//! event.user = Some("security@example.com".into());
//! event.grant = Some("g-7f3a09c1".into());
//! event.decision = Some(Decision::Allow);
//! log.append(&event)?; // durable from here on
//! assert!(verify("/var/log/jitgate/audit.jsonl")?.is_intact());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod chain;
mod error;
mod event;
pub mod export;
mod log;
mod verify;

pub use chain::GENESIS_HASH;
pub use error::AuditError;
pub use event::{AuditEvent, Decision, EventKind, rfc3339_ms};
pub use export::{ExportReport, Selection, export};
pub use log::{
    AUDIT_FILE_MODE, AuditLog, Durability, Head, MAX_LINE_BYTES, RELAXED_SYNC_INTERVAL, Ticket,
};
pub use verify::{VerifyReport, verify};
