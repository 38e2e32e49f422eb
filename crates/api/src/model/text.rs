//! Checks on free text and names that callers send: length, emptiness, control characters.

use crate::ApiError;

/// Whether control characters other than newline and tab may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lines {
    /// One line: no control characters at all.
    Single,
    /// Newlines and tabs allowed (reasons, comments).
    Multi,
}

/// `value` is at most `max` characters, not blank when `required`, and free of control
/// characters (but for newlines and tabs with [`Lines::Multi`]).
pub(crate) fn check_text(
    field: &'static str,
    value: &str,
    max: usize,
    required: bool,
    lines: Lines,
) -> Result<(), ApiError> {
    let invalid = |reason: String| ApiError::InvalidField { field, reason };
    if required && value.trim().is_empty() {
        return Err(invalid("it is required and must not be blank".to_owned()));
    }
    let count = value.chars().count();
    if count > max {
        return Err(invalid(format!(
            "it is {count} characters long; at most {max} are allowed"
        )));
    }
    let allowed = |c: char| lines == Lines::Multi && (c == '\n' || c == '\t');
    if let Some(c) = value.chars().find(|&c| c.is_control() && !allowed(c)) {
        return Err(invalid(format!(
            "it contains the control character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(())
}

/// `value` is a DNS-1123 label: 1 to `max` characters of `a-z`, `0-9` and `-`, starting and
/// ending with a letter or digit (Kubernetes namespaces; jitgate profile names).
pub(crate) fn check_dns_label(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), ApiError> {
    let invalid = |reason: String| ApiError::InvalidField { field, reason };
    if value.is_empty() {
        return Err(invalid("it is required".to_owned()));
    }
    if value.len() > max {
        return Err(invalid(format!(
            "it is {} characters long; at most {max} are allowed",
            value.len()
        )));
    }
    let bytes = value.as_bytes();
    let inner_ok = bytes
        .iter()
        .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'));
    let ends_ok = bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if !inner_ok || !ends_ok {
        let shown: String = value.chars().take(max).collect();
        return Err(invalid(format!(
            "{shown:?} is not a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_checks() {
        type Case<'a> = (&'a str, &'a str, usize, bool, Lines, Option<&'a str>);
        let cases: &[Case<'_>] = &[
            ("ok", "INC-4211 api latency", 64, true, Lines::Single, None),
            (
                "blank required",
                "  ",
                64,
                true,
                Lines::Single,
                Some("required"),
            ),
            ("empty optional", "", 64, false, Lines::Single, None),
            (
                "too long",
                "abcdef",
                5,
                false,
                Lines::Single,
                Some("6 characters long; at most 5"),
            ),
            (
                "newline in one line",
                "a\nb",
                64,
                false,
                Lines::Single,
                Some("U+000A"),
            ),
            ("newline in text", "a\nb", 64, false, Lines::Multi, None),
            (
                "escape sequence",
                "a\u{1b}[2Jb",
                64,
                false,
                Lines::Multi,
                Some("U+001B"),
            ),
            (
                "multibyte counted as chars",
                "ééééé",
                5,
                false,
                Lines::Single,
                None,
            ),
        ];
        for (name, value, max, required, lines, want) in cases {
            let got =
                check_text("reason", value, *max, *required, *lines).map_err(|e| e.to_string());
            match want {
                None => assert!(got.is_ok(), "{name}: {got:?}"),
                Some(w) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(w)),
                    "{name}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn dns_labels() {
        for ok in ["payments", "a", "ml-training", "x1"] {
            assert!(check_dns_label("namespace", ok, 63).is_ok(), "{ok}");
        }
        for bad in ["", "Payments", "-a", "a-", "a_b", "a.b", &"a".repeat(64)] {
            assert!(check_dns_label("namespace", bad, 63).is_err(), "{bad}");
        }
    }
}
