//! The part of `metav1.ListOptions` decoding that decides the verb (`list` or `watch`) and the
//! name of a collection request (`fieldSelector=metadata.name=...`), as kube-apiserver does it.
//!
//! Upstream decodes every `ListOptions` parameter and, if any of them fails to decode, forgets the
//! field selector and falls back to reading `watch` by hand. This module reproduces that for the
//! parameters whose decoding can fail: `fieldSelector` (`fields.ParseSelector`), `limit` and
//! `timeoutSeconds` (`strconv.ParseInt`). `labelSelector` is not parsed here; see the crate docs.

use crate::query::Query;

/// What the list options say about a collection `get`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ListDecision {
    /// `true` for `watch`, `false` for `list`.
    pub(crate) watch: bool,
    /// The name from `fieldSelector=metadata.name=<name>`, when upstream would use it.
    pub(crate) name: Option<String>,
}

pub(crate) fn decide(query: &Query) -> ListDecision {
    let decoded = decode(query);
    match decoded {
        Some((watch, name)) => ListDecision {
            watch,
            name: name.filter(|n| is_valid_path_segment_name(n)),
        },
        None => ListDecision {
            // The fallback path lower-cases instead of case-folding.
            watch: query
                .watch
                .as_deref()
                .is_some_and(|v| !matches!(v.to_lowercase().as_str(), "false" | "0")),
            name: None,
        },
    }
}

/// Returns `None` when upstream's `DecodeParameters` would fail, else the watch flag and the exact
/// `metadata.name` the field selector requires, if any.
fn decode(query: &Query) -> Option<(bool, Option<String>)> {
    for value in [&query.limit, &query.timeout_seconds].into_iter().flatten() {
        value.parse::<i64>().ok()?;
    }
    let name = match &query.field_selector {
        Some(selector) => required_exact_match(selector, "metadata.name").ok()?,
        None => None,
    };
    let watch = query.watch.as_deref().is_some_and(go_bool_true);
    Some((watch, name))
}

/// Go's `Convert_Slice_string_To_bool`: only `0` and (case-folded) `false` are false.
fn go_bool_true(value: &str) -> bool {
    !(value == "0" || equal_fold_false(value))
}

/// `strings.EqualFold(value, "false")`, with Unicode simple folding: the only non-ASCII character
/// that folds onto a letter of "false" is U+017F LATIN SMALL LETTER LONG S.
fn equal_fold_false(value: &str) -> bool {
    let mut chars = value.chars();
    for expected in "false".chars() {
        let Some(c) = chars.next() else {
            return false;
        };
        let folded = if c == '\u{17f}' {
            's'
        } else {
            c.to_ascii_lowercase()
        };
        if folded != expected {
            return false;
        }
    }
    chars.next().is_none()
}

/// The field selector could not be parsed (the reason is not needed: upstream only logs it).
#[derive(Debug)]
struct InvalidSelector;

/// `fields.ParseSelector(selector).RequiresExactMatch(field)`: terms are split on unescaped
/// commas, sorted, and the first `field=value` or `field==value` term (after sorting) wins.
fn required_exact_match(selector: &str, field: &str) -> Result<Option<String>, InvalidSelector> {
    let mut terms = split_terms(selector);
    terms.sort_unstable();
    let mut found = None;
    for term in terms {
        if term.is_empty() {
            continue;
        }
        let (lhs, op, rhs) = split_term(term).ok_or(InvalidSelector)?;
        let value = unescape_value(rhs)?;
        if found.is_none() && op != "!=" && lhs == field {
            found = Some(value);
        }
    }
    Ok(found)
}

/// Splits on commas not preceded by an escaping backslash; the backslashes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at the first operator, trying `!=`, `==`, `=` at each position in turn.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], op, rhs));
            }
        }
    }
    None
}

/// `fields.UnescapeValue`: `\\`, `\,`, `\=` are the only escapes; bare `,` and `=` are errors.
fn unescape_value(value: &str) -> Result<String, InvalidSelector> {
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(InvalidSelector),
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | '=' => return Err(InvalidSelector),
            _ => out.push(c),
        }
    }
    if escaped {
        return Err(InvalidSelector);
    }
    Ok(out)
}

/// `path.IsValidPathSegmentName`: not `.` or `..`, and no `/` or `%`.
fn is_valid_path_segment_name(name: &str) -> bool {
    name != "." && name != ".." && !name.contains(['/', '%'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(selector: &str) -> Option<Option<String>> {
        required_exact_match(selector, "metadata.name").ok()
    }

    #[test]
    fn selector_forms() {
        assert_eq!(exact(""), Some(None));
        assert_eq!(exact(","), Some(None));
        assert_eq!(exact("metadata.name=a"), Some(Some("a".into())));
        assert_eq!(exact("metadata.name==a"), Some(Some("a".into())));
        assert_eq!(exact("metadata.name!=a"), Some(None));
        assert_eq!(exact("foo=bar"), Some(None));
        assert_eq!(exact("metadata.name=a,foo"), None);
        // Terms are sorted before the first match is taken.
        assert_eq!(
            exact("metadata.name=b,metadata.name=a"),
            Some(Some("a".into()))
        );
        // Escapes.
        assert_eq!(exact(r"metadata.name=a\,b"), Some(Some("a,b".into())));
        assert_eq!(exact(r"metadata.name=a\x"), None);
        assert_eq!(exact(r"metadata.name=a\"), None);
        assert_eq!(exact("metadata.name=a=b"), None);
        // The first operator wins, so "metadata.name!=" is never an equality on another field.
        assert_eq!(exact("metadata.name!==a"), None);
    }

    #[test]
    fn go_booleans() {
        for falsy in ["0", "false", "FALSE", "False", "fal\u{17f}e"] {
            assert!(!go_bool_true(falsy), "{falsy}");
        }
        for truthy in ["", "1", "true", "no", "00", "falsey"] {
            assert!(go_bool_true(truthy), "{truthy}");
        }
    }

    #[test]
    fn bad_limit_drops_the_name_but_keeps_watch() {
        let query = Query {
            watch: Some("true".into()),
            field_selector: Some("metadata.name=a".into()),
            limit: Some("ten".into()),
            ..Query::default()
        };
        assert_eq!(
            decide(&query),
            ListDecision {
                watch: true,
                name: None
            }
        );
    }

    #[test]
    fn fallback_lowercases_rather_than_folds() {
        let query = Query {
            watch: Some("fal\u{17f}e".into()),
            timeout_seconds: Some("x".into()),
            ..Query::default()
        };
        assert!(decide(&query).watch);
    }

    #[test]
    fn name_must_be_a_valid_path_segment() {
        for bad in ["..", ".", "a/b", "a%b"] {
            let query = Query {
                field_selector: Some(format!("metadata.name={bad}")),
                ..Query::default()
            };
            assert_eq!(decide(&query).name, None, "{bad}");
        }
    }
}
