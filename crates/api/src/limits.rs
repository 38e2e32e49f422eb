//! Limits on everything a caller sends, enforced by `validate()` on both sides of the API, and
//! on what a client reads back.

/// Largest request body the server reads, in bytes.
pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;

/// Largest response body [`ApiClient`](crate::ApiClient) reads by default, in bytes (a list of
/// a few thousand requests).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Largest recording the API serves and [`ApiClient`](crate::ApiClient) reads, in bytes: four
/// times the gateway's default recording cap. A larger one (the cap was raised) is played on
/// the gateway's machine with `jitgate recording play`.
pub const MAX_RECORDING_BYTES: usize = 64 * 1024 * 1024;

/// Largest CSR (PEM) accepted, in bytes; the same limit as the jitgate CA's.
pub const MAX_CSR_PEM_BYTES: usize = 16 * 1024;

/// Longest reason (for a request, a denial, a revocation, a cancellation), in characters.
pub const MAX_REASON_CHARS: usize = 1024;

/// Longest approval or review comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 1024;

/// Longest ticket reference (`INC-4211`, a URL), in characters.
pub const MAX_TICKET_CHARS: usize = 256;

/// Longest profile name, in characters (a DNS-1123 label, as it becomes part of a group name).
pub const MAX_PROFILE_NAME_CHARS: usize = 63;

/// Longest namespace name (a DNS-1123 label).
pub const MAX_NAMESPACE_CHARS: usize = 63;

/// Longest `timeout` a long-poll may ask for; the server caps longer ones to this.
pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// `timeout` of a long-poll that names none.
pub const DEFAULT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Most items one list returns; `limit` above it is capped.
pub const MAX_LIST_ITEMS: u32 = 500;

/// Longest query string the server parses, in bytes.
pub const MAX_QUERY_BYTES: usize = 1024;
