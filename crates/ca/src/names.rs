//! Which user and group names may go into (or come out of) a jitgate client certificate.
//!
//! Kubernetes reserves the `system:` prefix for its own identities, and jitgate reserves the
//! `jitgate:` group prefix for the groups that only the gateway asserts when it impersonates a
//! user. A certificate carrying either would let its holder claim them, so neither is issued,
//! and the gateway rejects a certificate that carries one.

use crate::CaError;

/// Longest user or group name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// Most groups one certificate may carry.
pub const MAX_GROUPS: usize = 64;

/// Prefix Kubernetes reserves for its own users and groups.
pub const SYSTEM_PREFIX: &str = "system:";

/// Group prefix only the gateway asserts (`jitgate:<profile>`).
pub const RESERVED_GROUP_PREFIX: &str = "jitgate:";

/// Checks a user name for a client certificate.
pub fn validate_user(name: &str) -> Result<(), CaError> {
    check_common("user", name)?;
    if has_prefix_ignore_case(name, SYSTEM_PREFIX) {
        return Err(invalid(
            "user",
            name,
            "the system: prefix is reserved for Kubernetes' own identities",
        ));
    }
    Ok(())
}

/// Checks a group name for a client certificate.
pub fn validate_group(name: &str) -> Result<(), CaError> {
    check_common("group", name)?;
    if has_prefix_ignore_case(name, SYSTEM_PREFIX) {
        return Err(invalid(
            "group",
            name,
            "the system: prefix is reserved for Kubernetes' own groups",
        ));
    }
    if has_prefix_ignore_case(name, RESERVED_GROUP_PREFIX) {
        return Err(invalid(
            "group",
            name,
            "the jitgate: prefix is reserved for groups only the gateway asserts",
        ));
    }
    Ok(())
}

/// Checks every group and drops exact duplicates, keeping the first occurrence's position.
pub fn validate_groups(groups: &[String]) -> Result<Vec<String>, CaError> {
    let mut out: Vec<String> = Vec::with_capacity(groups.len());
    for group in groups {
        validate_group(group)?;
        if !out.contains(group) {
            out.push(group.clone());
        }
    }
    if out.len() > MAX_GROUPS {
        return Err(CaError::InvalidName {
            kind: "group",
            name: format!("({} groups)", out.len()),
            reason: "a certificate carries at most 64 groups; narrow the groups sent by the identity provider",
        });
    }
    Ok(out)
}

fn check_common(kind: &'static str, name: &str) -> Result<(), CaError> {
    if name.is_empty() {
        return Err(invalid(kind, name, "it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid(kind, name, "it is longer than 256 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(kind, name, "it contains control characters"));
    }
    if name.trim() != name {
        return Err(invalid(kind, name, "it starts or ends with whitespace"));
    }
    Ok(())
}

fn has_prefix_ignore_case(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn invalid(kind: &'static str, name: &str, reason: &'static str) -> CaError {
    let mut shown: String = name.chars().take(80).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    CaError::InvalidName {
        kind,
        name: shown,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        validate_user("alice@example.com").unwrap();
        validate_user("Ünïcode Üser").unwrap();
        validate_group("payments-oncall").unwrap();
        validate_group("team:payments").unwrap();
    }

    #[test]
    fn reserved_and_malformed_names_fail() {
        type Check = fn(&str) -> Result<(), CaError>;
        let cases: &[(&str, Check, &str)] = &[
            ("", validate_user, "empty"),
            ("system:admin", validate_user, "system:"),
            ("SYSTEM:admin", validate_user, "system:"),
            ("alice\n", validate_user, "control"),
            ("al\u{7f}ice", validate_user, "control"),
            (" alice", validate_user, "whitespace"),
            ("system:masters", validate_group, "system:"),
            ("jitgate:debug", validate_group, "jitgate:"),
            ("Jitgate:debug", validate_group, "jitgate:"),
            ("", validate_group, "empty"),
        ];
        for (name, check, why) in cases {
            let err = check(name).expect_err(name).to_string();
            assert!(err.contains(why), "{name:?}: {err}");
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert!(validate_user(&long).is_err());
        assert!(validate_user(&"a".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn groups_are_deduplicated_and_capped() {
        let groups = vec!["a".to_owned(), "b".to_owned(), "a".to_owned()];
        assert_eq!(validate_groups(&groups).unwrap(), vec!["a", "b"]);
        let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
        assert!(validate_groups(&many).is_err());
    }
}
