//! Body types shared by the server and the upstream client.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};

/// The error type of every body the gateway moves.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A boxed body: what the gateway sends upstream and returns to clients.
pub type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BodyError>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> BoxBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> BoxBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}
