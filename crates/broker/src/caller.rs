//! Who is calling the broker: the identity the gateway authenticated, never anything from a
//! request body.

use crate::BrokerError;

/// Longest user or group name accepted from authentication, in bytes.
pub const MAX_IDENTITY_NAME_LEN: usize = 256;
/// Most groups accepted from authentication.
pub const MAX_CALLER_GROUPS: usize = 256;

/// How the caller authenticated to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerMethod {
    /// A client certificate from the jitgate CA.
    Certificate,
    /// An OIDC ID token as `Authorization: Bearer`.
    Bearer,
}

/// An authenticated caller, as the gateway's authentication established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user name (certificate CN, or the token's user claim).
    pub user: String,
    /// The groups (certificate O values, or the token's groups claim).
    pub groups: Vec<String>,
    /// How they authenticated.
    pub method: CallerMethod,
    /// When the credential stops working (certificate `notAfter`, token `exp`), unix seconds.
    pub credential_expires_at: Option<i64>,
}

impl Caller {
    /// A caller with these names, authenticated by `method`.
    pub fn new(
        user: impl Into<String>,
        groups: Vec<String>,
        method: CallerMethod,
        credential_expires_at: Option<i64>,
    ) -> Self {
        Self {
            user: user.into(),
            groups,
            method,
            credential_expires_at,
        }
    }

    /// Refuses identities no authentication should produce: an empty or oversized user, too
    /// many or malformed groups. Fail closed: such a caller is treated as unauthenticated.
    pub(crate) fn check(&self) -> Result<(), BrokerError> {
        let refuse = |why: String| BrokerError::Unauthenticated {
            message: format!(
                "the credential names an identity jitgate cannot use ({why}); log in again \
                 with kubectl jit login, or ask the platform team to check the identity provider"
            ),
        };
        let name_ok = |name: &str| {
            !name.is_empty()
                && name.len() <= MAX_IDENTITY_NAME_LEN
                && !name.chars().any(char::is_control)
        };
        if !name_ok(&self.user) {
            return Err(refuse(
                "the user name is empty, too long or has control characters".into(),
            ));
        }
        if self.groups.len() > MAX_CALLER_GROUPS {
            return Err(refuse(format!(
                "{} groups; at most {MAX_CALLER_GROUPS}",
                self.groups.len()
            )));
        }
        if !self.groups.iter().all(|g| name_ok(g)) {
            return Err(refuse(
                "a group name is empty, too long or has control characters".into(),
            ));
        }
        Ok(())
    }

    /// Whether the caller is in any of `groups`.
    pub(crate) fn in_any(&self, groups: &[String]) -> bool {
        self.groups.iter().any(|g| groups.contains(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_jitgate_cannot_use_are_refused() {
        let ok = Caller::new("alice", vec!["sre".into()], CallerMethod::Certificate, None);
        assert!(ok.check().is_ok());
        let cases: Vec<(&str, Caller)> = vec![
            (
                "empty user",
                Caller {
                    user: String::new(),
                    ..ok.clone()
                },
            ),
            (
                "long user",
                Caller {
                    user: "a".repeat(257),
                    ..ok.clone()
                },
            ),
            (
                "control character",
                Caller {
                    user: "al\nice".into(),
                    ..ok.clone()
                },
            ),
            (
                "empty group",
                Caller {
                    groups: vec![String::new()],
                    ..ok.clone()
                },
            ),
            (
                "too many groups",
                Caller {
                    groups: (0..257).map(|i| format!("g{i}")).collect(),
                    ..ok.clone()
                },
            ),
        ];
        for (name, caller) in cases {
            let err = caller.check().unwrap_err();
            assert!(matches!(err, BrokerError::Unauthenticated { .. }), "{name}");
            assert!(
                err.to_string().contains("kubectl jit login"),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn group_membership() {
        let c = Caller::new(
            "carol",
            vec!["payments-leads".into()],
            CallerMethod::Bearer,
            None,
        );
        assert!(c.in_any(&["sre-leads".into(), "payments-leads".into()]));
        assert!(!c.in_any(&["sre-leads".into()]));
        assert!(!c.in_any(&[]));
    }
}
