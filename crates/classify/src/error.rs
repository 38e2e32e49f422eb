//! Why a request could not be classified; every variant becomes a 400 at the gateway.

/// A request the gateway refuses to classify, because it is malformed or because the gateway and
/// kube-apiserver (or anything between them) could read it differently.
///
/// The `Display` text is meant for the person who sent the request: it says what was wrong and why
/// the gateway refuses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    /// The HTTP method is empty, too long or not an RFC 9110 token.
    #[error("invalid HTTP method {method:?}: a method is 1 to {max} token characters")]
    InvalidMethod {
        /// The method as received (truncated to 40 characters).
        method: String,
        /// The longest method accepted.
        max: usize,
    },
    /// The path does not start with `/` (absolute-form, authority-form or `*` request targets).
    #[error("request path must start with \"/\"")]
    PathNotAbsolute,
    /// The path is longer than the gateway accepts.
    #[error("request path is {len} bytes long; the gateway accepts at most {max}")]
    PathTooLong {
        /// Length of the path in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The path has more segments than the gateway accepts.
    #[error("request path has more than {max} segments")]
    TooManySegments {
        /// The limit.
        max: usize,
    },
    /// The path contains `%`. Percent-encoding is refused outright: the gateway classifies one
    /// reading of the path while kube-apiserver (which decodes `%2F` into `/`) or a proxied pod may
    /// see another, and no Kubernetes object name can contain `%` anyway.
    #[error(
        "percent-encoding in the request path is refused (found \"%\" at byte {at}): the gateway \
         and the API server could decode it differently, and no Kubernetes name needs it"
    )]
    PercentInPath {
        /// Byte offset of the `%`.
        at: usize,
    },
    /// A `.` or `..` segment, which clients and servers normalise differently.
    #[error(
        "dot segment {segment:?} in the request path is refused: servers normalise it differently"
    )]
    DotSegment {
        /// The offending segment.
        segment: String,
    },
    /// An empty segment (`//`); only one trailing `/` is accepted.
    #[error(
        "empty segment (\"//\") in the request path is refused: servers collapse it differently"
    )]
    EmptySegment,
    /// A backslash, which some servers treat as a path separator.
    #[error("backslash in the request path is refused: some servers treat it as \"/\"")]
    Backslash,
    /// A control character (NUL, CR, LF, TAB, DEL, ...).
    #[error("control character 0x{byte:02x} in the request path is refused")]
    ControlCharacter {
        /// The offending byte.
        byte: u8,
    },
    /// A byte outside ASCII; RFC 3986 requires such bytes to be percent-encoded, which is refused.
    #[error("non-ASCII byte in the request path is refused")]
    NonAscii,
    /// The path is not valid UTF-8 (only from [`crate::classify_bytes`]).
    #[error("request path is not valid UTF-8")]
    NonUtf8Path,
    /// Any other character that is not allowed unencoded in a path segment, or that intermediaries
    /// read differently (`;` matrix parameters, `?`, `#`, spaces, quotes).
    #[error("character {ch:?} in the request path is refused")]
    ForbiddenCharacter {
        /// The offending character.
        ch: char,
    },
    /// The query string is longer than the gateway accepts.
    #[error("query string is {len} bytes long; the gateway accepts at most {max}")]
    QueryTooLong {
        /// Length of the query in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Bad percent-encoding in the query (`%` not followed by two hex digits).
    #[error("invalid percent-encoding in the query string at byte {at}")]
    QueryEncoding {
        /// Byte offset of the `%` within the query.
        at: usize,
    },
    /// A `;` in the query: Go used to treat it as a separator and now drops the pair, other
    /// servers still split on it, so its meaning is ambiguous.
    #[error(
        "\";\" in the query string is refused: servers disagree on whether it separates parameters"
    )]
    QuerySemicolon,
    /// A query parameter the classification reads decodes to bytes that are not UTF-8.
    #[error("query parameter {key:?} is not valid UTF-8 once decoded")]
    QueryNotUtf8 {
        /// The parameter name.
        key: String,
    },
    /// `/api/v1/watch` or `/api/v1/proxy` with nothing after the verb, which kube-apiserver also
    /// rejects ("unable to determine kind and namespace from url").
    #[error("unable to determine kind and namespace from path {path:?}")]
    MissingResource {
        /// The request path.
        path: String,
    },
}
