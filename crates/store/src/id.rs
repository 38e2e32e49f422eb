//! Ids of stored records: a one-letter prefix, `-`, and 8 lowercase hex digits (`g-7f3a09c1`).

use crate::StoreError;

/// Defines an id type `$name` whose text is `$prefix` and 8 lowercase hex digits; a malformed
/// one is refused with `StoreError::$invalid { id }` (the id shortened to 40 characters).
macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $invalid:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses an id typed by a person or read from a request.
            pub fn parse(text: &str) -> Result<Self, StoreError> {
                if crate::id::is_prefixed_hex(text, $prefix) {
                    Ok(Self(text.to_owned()))
                } else {
                    Err(StoreError::$invalid {
                        id: crate::id::shortened(text),
                    })
                }
            }

            /// A new random id.
            pub(crate) fn random() -> Result<Self, StoreError> {
                crate::id::random_hex($prefix).map(Self)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = StoreError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                Self::parse(&text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }
    };
}
pub(crate) use prefixed_id;

/// Whether `text` is `prefix` followed by exactly 8 lowercase hex digits.
pub(crate) fn is_prefixed_hex(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == 8 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// `text` as an error message shows it: at most 40 characters, `…` when cut.
pub(crate) fn shortened(text: &str) -> String {
    let mut shown: String = text.chars().take(40).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// `prefix` followed by 8 random lowercase hex digits.
pub(crate) fn random_hex(prefix: &str) -> Result<String, StoreError> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(format!(
        "{prefix}{:02x}{:02x}{:02x}{:02x}",
        bytes[0], bytes[1], bytes[2], bytes[3]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_prefix_and_eight_lowercase_hex_digits_make_an_id() {
        assert!(is_prefixed_hex("g-7f3a09c1", "g-"));
        assert!(!is_prefixed_hex("r-7f3a09c1", "g-"));
        assert!(!is_prefixed_hex("g-7F3A09C1", "g-"));
        assert!(!is_prefixed_hex("g-7f3a09c", "g-"));
        assert!(!is_prefixed_hex("g-7f3a09c12", "g-"));
        assert!(!is_prefixed_hex("g-7f3a09cé", "g-"));
        assert!(!is_prefixed_hex("", "g-"));
    }

    #[test]
    fn random_ids_parse_and_long_ones_are_shortened_in_messages() {
        let id = random_hex("r-").expect("random");
        assert!(is_prefixed_hex(&id, "r-"), "{id}");
        let long = "x".repeat(100);
        assert_eq!(shortened(&long), format!("{}…", "x".repeat(40)));
        assert_eq!(shortened("g-1"), "g-1");
    }
}
