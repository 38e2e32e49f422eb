//! The ids people type and read: access requests `r-7f3a09c1`, grants `g-7f3a09c1`, sessions
//! `s-7f3a09c1`.
//!
//! One definition for the store (which mints them), the API (which carries them in bodies and
//! paths) and the gateway (which puts a grant id into `jitgate.dev/grant`). I/O-free: a new id is
//! made from four random bytes the caller draws.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Text that should be an id of some kind is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{id:?} is not {what}: ids look like {example} ({hint})")]
pub struct IdError {
    /// `an access request id` or `a grant id`.
    pub what: &'static str,
    /// The rejected text, at most 40 characters (`…` when cut).
    pub id: String,
    /// A well-formed example.
    pub example: &'static str,
    /// Where to find real ids.
    pub hint: &'static str,
}

/// Whether `text` is `prefix` followed by exactly 8 lowercase hex digits.
fn is_id(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == 8 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// `text` as an error message shows it: at most 40 characters, `…` when cut.
fn shortened(text: &str) -> String {
    let mut shown: String = text.chars().take(40).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal, $example:literal, $hint:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// What every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// Parses an id typed by a person or read from a body, a path or a database row.
            pub fn parse(text: &str) -> Result<Self, IdError> {
                if is_id(text, $prefix) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(IdError {
                        what: $what,
                        id: shortened(text),
                        example: $example,
                        hint: $hint,
                    })
                }
            }

            /// The id made of four random bytes (drawn by whoever mints ids).
            #[must_use]
            pub fn from_random_bytes(bytes: [u8; 4]) -> Self {
                Self(format!(
                    "{}{:02x}{:02x}{:02x}{:02x}",
                    $prefix, bytes[0], bytes[1], bytes[2], bytes[3]
                ))
            }

            /// The id as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id_type!(
    /// The id of an access request: `r-` and 8 lowercase hex digits, e.g. `r-7f3a09c1`.
    RequestId,
    "r-",
    "an access request id",
    "r-7f3a09c1",
    "kubectl jit ls lists yours"
);

id_type!(
    /// The id of a grant: `g-` and 8 lowercase hex digits, e.g. `g-7f3a09c1`. The gateway puts it
    /// into `jitgate.dev/grant`, so the Kubernetes audit log carries the same id.
    GrantId,
    "g-",
    "a grant id",
    "g-7f3a09c1",
    "kubectl jit grants lists yours"
);

id_type!(
    /// The id of a gateway session (one client connection and everything on it): `s-` and 8
    /// lowercase hex digits, e.g. `s-7f3a09c1`. The gateway puts it into `jitgate.dev/session`;
    /// an exec or attach session's recording is named after it.
    SessionId,
    "s-",
    "a session id",
    "s-7f3a09c1",
    "kubectl jit sessions lists the recorded ones"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_their_prefix_and_eight_lowercase_hex_digits() {
        assert_eq!(
            RequestId::parse("r-7f3a09c1").unwrap().as_str(),
            "r-7f3a09c1"
        );
        assert_eq!(
            GrantId::parse("g-00000000").unwrap().to_string(),
            "g-00000000"
        );
        let cases = [
            ("empty", ""),
            ("prefix only", "r-"),
            ("uppercase", "r-7F3A09C1"),
            ("short", "r-7f3a09c"),
            ("long", "r-7f3a09c12"),
            ("not hex", "r-7f3a09cz"),
            ("multi-byte", "r-7f3a09cé"),
            ("grant prefix", "g-7f3a09c1"),
            ("path traversal", "r-../../x"),
        ];
        for (name, text) in cases {
            assert!(RequestId::parse(text).is_err(), "{name}");
        }
    }

    #[test]
    fn the_error_names_the_kind_shows_an_example_and_says_where_ids_are() {
        let err = GrantId::parse("r-7f3a09c1").unwrap_err().to_string();
        assert_eq!(
            err,
            "\"r-7f3a09c1\" is not a grant id: ids look like g-7f3a09c1 (kubectl jit grants lists yours)"
        );
    }

    #[test]
    fn long_text_is_shortened_in_the_error() {
        let err = RequestId::parse(&"x".repeat(100)).unwrap_err();
        assert_eq!(err.id, format!("{}…", "x".repeat(40)));
    }

    #[test]
    fn json_refuses_malformed_ids() {
        let id: RequestId = serde_json::from_str("\"r-0123abcd\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"r-0123abcd\"");
        assert!(serde_json::from_str::<RequestId>("\"r-0123ABCD\"").is_err());
    }

    #[test]
    fn ids_from_random_bytes_parse() {
        let id = RequestId::from_random_bytes([0xde, 0xad, 0x00, 0x01]);
        assert_eq!(id.as_str(), "r-dead0001");
        assert_eq!(RequestId::parse(id.as_str()).unwrap(), id);
    }
}
