//! Identifiers people type and read: access requests `r-7f3a09c1`, grants `g-7f3a09c1`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ApiError;

/// `prefix` followed by exactly 8 lowercase hex digits.
fn is_id(text: &str, prefix: &str) -> bool {
    text.len() == prefix.len() + 8
        && text.starts_with(prefix)
        && text[prefix.len()..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn shown(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
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

            /// Parses an id typed by a person or read from a body or a path.
            pub fn parse(text: &str) -> Result<Self, ApiError> {
                if is_id(text, $prefix) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(ApiError::InvalidId {
                        what: $what,
                        id: shown(text),
                        example: $example,
                        hint: $hint,
                    })
                }
            }

            /// The id from four random bytes (the server makes new ids this way).
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
            type Err = ApiError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ApiError;

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
    /// The id of a grant: `g-` and 8 lowercase hex digits, e.g. `g-7f3a09c1`. The same ids the
    /// gateway's grant store and the Kubernetes audit log (`jitgate.dev/grant`) use.
    GrantId,
    "g-",
    "a grant id",
    "g-7f3a09c1",
    "kubectl jit grants lists yours"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_a_prefix_and_eight_lowercase_hex_digits() {
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
            ("grant prefix", "g-7f3a09c1"),
            ("path traversal", "r-../../x"),
        ];
        for (name, text) in cases {
            assert!(RequestId::parse(text).is_err(), "{name}");
        }
    }

    #[test]
    fn the_error_shows_an_example() {
        let err = GrantId::parse("r-7f3a09c1").unwrap_err().to_string();
        assert_eq!(
            err,
            "\"r-7f3a09c1\" is not a grant id: ids look like g-7f3a09c1 (kubectl jit grants lists yours)"
        );
    }

    #[test]
    fn json_refuses_malformed_ids() {
        let id: RequestId = serde_json::from_str("\"r-0123abcd\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"r-0123abcd\"");
        assert!(serde_json::from_str::<RequestId>("\"r-0123ABCD\"").is_err());
    }

    #[test]
    fn random_ids_parse() {
        let id = RequestId::from_random_bytes([0xde, 0xad, 0x00, 0x01]);
        assert_eq!(id.as_str(), "r-dead0001");
        assert_eq!(RequestId::parse(id.as_str()).unwrap(), id);
    }
}
