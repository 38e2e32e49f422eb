//! The one error type of this crate. An error from [`AuditLog::append`](crate::AuditLog::append)
//! means the event is not durable: the action it records must not be acknowledged.

use std::path::PathBuf;

/// Everything that can go wrong while opening, appending to or verifying an audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A file operation failed.
    #[error("could not {action} audit log {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "append to" or "sync".
        action: &'static str,
        /// The audit log file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The existing log ends in a line that cannot be chained onto.
    #[error(
        "audit log {} cannot be continued: {reason}; run `jitgate audit verify` on it, keep it \
         as evidence, and move it aside so a new chain can start",
        path.display()
    )]
    Corrupt {
        /// The audit log file.
        path: PathBuf,
        /// What is wrong with its last line.
        reason: String,
    },

    /// Another process (or another `AuditLog` in this one) is writing the same file.
    #[error(
        "audit log {} is already open for writing by another process; each gateway replica \
         needs its own audit log file",
        path.display()
    )]
    Locked {
        /// The audit log file.
        path: PathBuf,
    },

    /// The event serializes to more than [`MAX_LINE_BYTES`](crate::MAX_LINE_BYTES).
    #[error(
        "audit event is {size} bytes, more than the {limit} a line may hold; the action it \
         records must be refused (shorten the command or the request that produced it)"
    )]
    EventTooLarge {
        /// The size of the sealed line.
        size: usize,
        /// The limit.
        limit: usize,
    },

    /// An earlier write or sync failed in a way that left the file in an unknown state.
    #[error(
        "audit log {} stopped accepting events after an earlier failure ({reason}); check the \
         disk, run `jitgate audit verify`, and restart the gateway",
        path.display()
    )]
    Broken {
        /// The audit log file.
        path: PathBuf,
        /// The failure that broke it.
        reason: String,
    },

    /// The event could not be turned into JSON.
    #[error("could not encode the audit event as JSON: {0}")]
    Encode(#[source] serde_json::Error),
}

impl AuditError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
