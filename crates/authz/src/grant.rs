//! Grants: time-limited permission for one user to use one profile in some namespaces, optionally
//! narrowed to some pods; and the pod-name globs that narrow them.

use std::fmt;

use crate::selector::{LabelSelector, is_dns1123_label};

/// Longest pod-name glob accepted.
pub const MAX_GLOB_LEN: usize = 253;

/// The identifier of a grant (e.g. `g-7f3a`), shown to people and put in the Kubernetes audit log.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantId(pub String);

impl GrantId {
    /// The id as a string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for GrantId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

/// Permission for `user` to use `profile` in `namespaces` until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Identifier.
    pub id: GrantId,
    /// The authenticated user name it was granted to.
    pub user: String,
    /// The profile name.
    pub profile: String,
    /// Namespaces, exactly; `*` is not a wildcard.
    pub namespaces: Vec<String>,
    /// If set, only pods whose name matches this glob (`*` any run of characters, `?` one),
    /// for `pods` and every `pods/*` subresource. A collection request (list, watch, create) on
    /// pods then needs a name, e.g. from `--field-selector metadata.name=<name>`.
    pub pod_name_glob: Option<String>,
    /// If set, only pods whose labels match, for `pods` and every `pods/*` subresource. A list or
    /// watch of pods must then carry a label selector at least as narrow.
    pub pod_label_selector: Option<LabelSelector>,
    /// End of validity, in Unix seconds; the grant is expired from this second on.
    pub expires_at: i64,
    /// Who created (approved) it.
    pub created_by: String,
}

/// Why a grant is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// An empty id, user or profile.
    #[error("grant {id:?}: {field} must not be empty")]
    Empty {
        /// The grant id (may be empty).
        id: String,
        /// The field.
        field: &'static str,
    },
    /// No namespace.
    #[error("grant {0:?} names no namespace")]
    NoNamespace(String),
    /// A namespace that is not a valid namespace name (including `*`).
    #[error(
        "grant {id:?}: {namespace:?} is not a namespace name; grants name namespaces exactly, \
         without wildcards"
    )]
    InvalidNamespace {
        /// The grant id.
        id: String,
        /// The namespace.
        namespace: String,
    },
    /// A glob with characters a pod name cannot have.
    #[error(
        "grant {id:?}: pod name glob {glob:?} is invalid: use lowercase letters, digits, '-', '.', \
         '*' and '?', at most {max} characters"
    )]
    InvalidGlob {
        /// The grant id.
        id: String,
        /// The glob.
        glob: String,
        /// The length limit.
        max: usize,
    },
}

impl Grant {
    /// Checks the grant's shape (not its profile, which may be reloaded later).
    ///
    /// # Errors
    ///
    /// [`GrantError`] for an empty id, user or profile, no or an invalid namespace, or an invalid
    /// glob.
    pub fn validate(&self) -> Result<(), GrantError> {
        let id = &self.id.0;
        for (field, value) in [("id", id), ("user", &self.user), ("profile", &self.profile)] {
            if value.is_empty() {
                return Err(GrantError::Empty {
                    id: id.clone(),
                    field,
                });
            }
        }
        if self.namespaces.is_empty() {
            return Err(GrantError::NoNamespace(id.clone()));
        }
        if let Some(namespace) = self.namespaces.iter().find(|ns| !is_dns1123_label(ns)) {
            return Err(GrantError::InvalidNamespace {
                id: id.clone(),
                namespace: namespace.clone(),
            });
        }
        if let Some(glob) = &self.pod_name_glob {
            let valid = !glob.is_empty()
                && glob.len() <= MAX_GLOB_LEN
                && glob
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.*?".contains(&b));
            if !valid {
                return Err(GrantError::InvalidGlob {
                    id: id.clone(),
                    glob: glob.clone(),
                    max: MAX_GLOB_LEN,
                });
            }
        }
        Ok(())
    }

    /// Whether the grant has expired at `now` (Unix seconds).
    #[must_use]
    pub fn is_expired(&self, now: i64) -> bool {
        now >= self.expires_at
    }

    /// Whether the grant covers `namespace` (exact match).
    #[must_use]
    pub fn covers_namespace(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|ns| ns == namespace)
    }
}

/// Matches `name` against a glob where `*` is any run of characters and `?` one character.
/// Linear-time in practice (greedy with one backtrack point), never recursive.
#[must_use]
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let (g, n) = (glob.as_bytes(), name.as_bytes());
    let (mut gi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match g.get(gi) {
            Some(b'*') => {
                star = Some((gi, ni));
                gi += 1;
            }
            Some(&c) if c == b'?' || c == n[ni] => {
                gi += 1;
                ni += 1;
            }
            _ => match star {
                Some((star_gi, star_ni)) => {
                    gi = star_gi + 1;
                    ni = star_ni + 1;
                    star = Some((star_gi, star_ni + 1));
                }
                None => return false,
            },
        }
    }
    g[gi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("api-*", "api-7d9f", true),
            ("api-*", "api-", true),
            ("api-*", "web-1", false),
            ("api-*", "xapi-1", false),
            ("*-canary", "api-canary", true),
            ("*-canary", "api-canary-2", false),
            ("api-?", "api-1", true),
            ("api-?", "api-12", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**a", "ba", true),
        ];
        for (glob, name, expected) in cases {
            assert_eq!(glob_matches(glob, name), expected, "{glob} ~ {name}");
        }
    }

    fn grant() -> Grant {
        Grant {
            id: "g-1".into(),
            user: "alice".into(),
            profile: "oncall-debug".into(),
            namespaces: vec!["checkout".into()],
            pod_name_glob: Some("api-*".into()),
            pod_label_selector: None,
            expires_at: 100,
            created_by: "bob".into(),
        }
    }

    #[test]
    fn validation() {
        assert_eq!(grant().validate(), Ok(()));
        let star = Grant {
            namespaces: vec!["*".into()],
            ..grant()
        };
        assert!(matches!(
            star.validate(),
            Err(GrantError::InvalidNamespace { .. })
        ));
        assert!(
            star.validate()
                .is_err_and(|e| e.to_string().contains("without wildcards"))
        );
        let no_ns = Grant {
            namespaces: vec![],
            ..grant()
        };
        assert_eq!(no_ns.validate(), Err(GrantError::NoNamespace("g-1".into())));
        let bad_glob = Grant {
            pod_name_glob: Some("API/*".into()),
            ..grant()
        };
        assert!(matches!(
            bad_glob.validate(),
            Err(GrantError::InvalidGlob { .. })
        ));
        let no_user = Grant {
            user: String::new(),
            ..grant()
        };
        assert!(matches!(
            no_user.validate(),
            Err(GrantError::Empty { field: "user", .. })
        ));
    }

    #[test]
    fn expiry_is_exclusive() {
        assert!(!grant().is_expired(99));
        assert!(grant().is_expired(100));
    }
}
