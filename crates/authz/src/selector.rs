//! Kubernetes label selectors (`app=api,tier in (web),!canary`): parsing, matching a pod's labels,
//! and deciding whether one selector is at least as narrow as another.
//!
//! The grammar and validation follow `k8s.io/apimachinery/pkg/labels.Parse`, so a selector means
//! the same here as in the API server, except that `>` and `<` (`gt`/`lt`) are refused.

use std::collections::BTreeMap;
use std::fmt;

/// Longest selector accepted, in bytes.
pub const MAX_SELECTOR_LEN: usize = 4096;

/// Why a label selector could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {selector:?}: {reason}")]
pub struct SelectorError {
    /// The selector as given (truncated to 200 characters).
    pub selector: String,
    /// What is wrong with it.
    pub reason: String,
}

/// How a requirement compares a label with its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// `key=value` or `key==value`: the label is present with this value.
    Equals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key in (a,b)`: the label is present with one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
}

/// One comma-separated term of a selector.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and de-duplicated; one value for `Equals`/`NotEquals`, none for `Exists` and
    /// `DoesNotExist`.
    values: Vec<String>,
}

impl Requirement {
    /// The label key.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    #[must_use]
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted.
    #[must_use]
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a set of labels satisfies this requirement.
    #[must_use]
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::Equals | Operator::In => value.is_some_and(|v| self.contains(v)),
            Operator::NotEquals | Operator::NotIn => value.is_none_or(|v| !self.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }

    fn contains(&self, value: &str) -> bool {
        self.values
            .binary_search_by(|v| v.as_str().cmp(value))
            .is_ok()
    }

    /// Whether every label set that satisfies `self` also satisfies `other` (on the same key).
    fn implies(&self, other: &Self) -> bool {
        use Operator::{DoesNotExist, Equals, Exists, In, NotEquals, NotIn};
        if self.key != other.key {
            return false;
        }
        // Values `self` may take when the label is present; None = any value or absent.
        let present_values = match self.operator {
            Equals | In => Some(&self.values),
            _ => None,
        };
        match other.operator {
            Exists => matches!(self.operator, Equals | In | Exists),
            DoesNotExist => self.operator == DoesNotExist,
            Equals | In => present_values.is_some_and(|vs| vs.iter().all(|v| other.contains(v))),
            NotEquals | NotIn => match self.operator {
                DoesNotExist => true,
                Equals | In => {
                    present_values.is_some_and(|vs| vs.iter().all(|v| !other.contains(v)))
                }
                NotEquals | NotIn => other.values.iter().all(|v| self.contains(v)),
                Exists => false,
            },
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.operator {
            Operator::Equals => write!(f, "{}={}", self.key, self.values.join(",")),
            Operator::NotEquals => write!(f, "{}!={}", self.key, self.values.join(",")),
            Operator::In => write!(f, "{} in ({})", self.key, self.values.join(",")),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, self.values.join(",")),
            Operator::Exists => f.write_str(&self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
        }
    }
}

/// A parsed label selector: all requirements must hold. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses a selector in Kubernetes syntax: `k=v`, `k==v`, `k!=v`, `k`, `!k`,
    /// `k in (a,b)`, `k notin (a,b)`, separated by commas.
    ///
    /// # Errors
    ///
    /// [`SelectorError`] for a syntax error, an invalid label key or value, `>`/`<`, or a
    /// selector longer than [`MAX_SELECTOR_LEN`].
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let fail = |reason: String| SelectorError {
            selector: selector.chars().take(200).collect(),
            reason,
        };
        if selector.len() > MAX_SELECTOR_LEN {
            return Err(fail(format!("longer than {MAX_SELECTOR_LEN} bytes")));
        }
        let mut parser = Parser {
            tokens: lex(selector),
            at: 0,
        };
        let mut requirements = parser.parse().map_err(fail)?;
        requirements.sort();
        requirements.dedup();
        Ok(Self { requirements })
    }

    /// The requirements, sorted.
    #[must_use]
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether the selector matches everything.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether a set of labels satisfies every requirement.
    #[must_use]
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether everything `self` selects is also selected by `wider`: each requirement of `wider`
    /// is implied by some requirement of `self`. Sound but not complete (it never says yes
    /// wrongly; it may say no to a combination of several requirements that together imply one).
    #[must_use]
    pub fn is_within(&self, wider: &Self) -> bool {
        wider
            .requirements
            .iter()
            .all(|w| self.requirements.iter().any(|n| n.implies(w)))
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for LabelSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Identifier(&'a str),
    Bang,
    NotEquals,
    Equals,
    DoubleEquals,
    OpenPar,
    ClosedPar,
    Comma,
    Greater,
    Less,
    End,
}

impl Token<'_> {
    fn describe(&self) -> String {
        match self {
            Token::Identifier(s) => format!("'{s}'"),
            Token::Bang => "'!'".into(),
            Token::NotEquals => "'!='".into(),
            Token::Equals => "'='".into(),
            Token::DoubleEquals => "'=='".into(),
            Token::OpenPar => "'('".into(),
            Token::ClosedPar => "')'".into(),
            Token::Comma => "','".into(),
            Token::Greater => "'>'".into(),
            Token::Less => "'<'".into(),
            Token::End => "end of selector".into(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '!' | '=' | '(' | ')' | ',' | '>' | '<')
}

fn lex(input: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut rest = input;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            tokens.push(Token::End);
            return tokens;
        };
        if is_special(c) {
            let (token, len) = if rest.starts_with("!=") {
                (Token::NotEquals, 2)
            } else if rest.starts_with("==") {
                (Token::DoubleEquals, 2)
            } else {
                let token = match c {
                    '!' => Token::Bang,
                    '=' => Token::Equals,
                    '(' => Token::OpenPar,
                    ')' => Token::ClosedPar,
                    ',' => Token::Comma,
                    '>' => Token::Greater,
                    _ => Token::Less,
                };
                (token, 1)
            };
            tokens.push(token);
            rest = &rest[len..];
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || is_special(c))
                .unwrap_or(rest.len());
            tokens.push(Token::Identifier(&rest[..end]));
            rest = &rest[end..];
        }
    }
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token<'a> {
        self.tokens.get(self.at).unwrap_or(&Token::End)
    }

    fn next(&mut self) -> Token<'a> {
        let token = self.peek().clone();
        if self.at < self.tokens.len() {
            self.at += 1;
        }
        token
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            match self.peek() {
                Token::End => return Ok(requirements),
                Token::Identifier(_) | Token::Bang => {
                    requirements.push(self.requirement()?);
                    match self.next() {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            if !matches!(self.peek(), Token::Identifier(_) | Token::Bang) {
                                return Err(format!(
                                    "found {}, expected a label key after ','",
                                    self.peek().describe()
                                ));
                            }
                        }
                        other => {
                            return Err(format!(
                                "found {}, expected ',' or the end",
                                other.describe()
                            ));
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "found {}, expected '!' or a label key",
                        other.describe()
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let negated = *self.peek() == Token::Bang;
        if negated {
            self.next();
        }
        let key = match self.next() {
            Token::Identifier(key) => key,
            other => return Err(format!("found {}, expected a label key", other.describe())),
        };
        check_key(key)?;
        let requirement = |operator, values: Vec<&str>| {
            let mut values: Vec<String> = values.into_iter().map(str::to_owned).collect();
            values.sort();
            values.dedup();
            Requirement {
                key: key.to_owned(),
                operator,
                values,
            }
        };
        if negated || matches!(self.peek(), Token::End | Token::Comma) {
            let operator = if negated {
                Operator::DoesNotExist
            } else {
                Operator::Exists
            };
            return Ok(requirement(operator, Vec::new()));
        }
        let operator = match self.next() {
            Token::Equals | Token::DoubleEquals => Operator::Equals,
            Token::NotEquals => Operator::NotEquals,
            Token::Identifier("in") => Operator::In,
            Token::Identifier("notin") => Operator::NotIn,
            Token::Greater | Token::Less => {
                return Err("'>' and '<' are not supported by jitgate".into());
            }
            other => {
                return Err(format!(
                    "found {}, expected '=', '==', '!=', 'in' or 'notin'",
                    other.describe()
                ));
            }
        };
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => vec![self.exact_value()?],
        };
        for value in &values {
            check_value(value)?;
        }
        Ok(requirement(operator, values))
    }

    fn exact_value(&mut self) -> Result<&'a str, String> {
        match self.peek() {
            Token::End | Token::Comma => Ok(""),
            Token::Identifier(value) => {
                let value = *value;
                self.next();
                Ok(value)
            }
            other => Err(format!("found {}, expected a value", other.describe())),
        }
    }

    /// `( v1, v2 )`, exactly as upstream's `parseValues`/`parseIdentifiersList`, including its
    /// treatment of empty entries: `()`, `(,)` and `(a,)` contain "", `(a,,)` is an error.
    fn value_set(&mut self) -> Result<Vec<&'a str>, String> {
        match self.next() {
            Token::OpenPar => {}
            other => return Err(format!("found {}, expected '('", other.describe())),
        }
        if *self.peek() == Token::ClosedPar {
            self.next();
            return Ok(vec![""]);
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Token::Identifier(value) => {
                    values.push(value);
                    match self.peek() {
                        Token::Comma => {}
                        Token::ClosedPar => break,
                        other => {
                            return Err(format!("found {}, expected ',' or ')'", other.describe()));
                        }
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.push("");
                    }
                    match self.peek() {
                        Token::ClosedPar => {
                            values.push("");
                            break;
                        }
                        Token::Comma => {
                            self.next();
                            values.push("");
                        }
                        _ => {}
                    }
                }
                other => {
                    return Err(format!(
                        "found {}, expected a value, ',' or ')'",
                        other.describe()
                    ));
                }
            }
        }
        self.next(); // the ')' seen above
        Ok(values)
    }
}

/// A label name part: at most 63 characters, alphanumeric at both ends, `-_.` inside.
fn is_label_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// RFC 1123 subdomain: at most 253 characters, dot-separated lowercase labels.
pub(crate) fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// RFC 1123 label: at most 63 lowercase alphanumerics and `-`, alphanumeric at both ends.
pub(crate) fn is_dns1123_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_key(key: &str) -> Result<(), String> {
    let valid = match key.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty() && is_dns1123_subdomain(prefix) && is_label_name(name)
        }
        None => is_label_name(key),
    };
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{key:?} is not a valid label key (an optional DNS subdomain prefix and '/', then \
             up to 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric)"
        ))
    }
}

fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_name(value) {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a valid label value (up to 63 alphanumerics, '-', '_' or '.', \
             starting and ending alphanumeric)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_and_prints_every_form() {
        let cases = [
            ("", ""),
            ("app=api", "app=api"),
            ("app==api", "app=api"),
            ("app!=api", "app!=api"),
            ("app", "app"),
            ("!app", "!app"),
            ("tier in (web)", "tier in (web)"),
            ("tier in (web, api ,web)", "tier in (api,web)"),
            ("tier notin (a,b)", "tier notin (a,b)"),
            ("app=api,tier in (web)", "app=api,tier in (web)"),
            ("  app = api , ! canary ", "app=api,!canary"),
            ("example.com/team=payments", "example.com/team=payments"),
            ("app=", "app="),
            ("k in ()", "k in ()"),
            ("k in (a,)", "k in (,a)"),
            ("k in (,)", "k in ()"),
            ("k in (a,,b)", "k in (,a,b)"),
            ("app==", "app="),
            ("in", "in"),
            ("app=in", "app=in"),
        ];
        for (input, printed) in cases {
            assert_eq!(sel(input).to_string(), printed, "{input}");
        }
    }

    #[test]
    fn rejects_bad_selectors() {
        for bad in [
            "app=api,",
            ",app",
            "app=a=b",
            "!app=x",
            "app in a",
            "app in (a",
            "app in (a b)",
            "app notin",
            "app > 1",
            "app < 1",
            "app=(",
            "-app=x",
            "app=-x",
            "app=Ünïcode",
            "a/b/c=x",
            "/x=y",
            "Example.com/x=y",
            "=x",
            "k in (a,,)",
            "k in (,,)",
            "app x",
        ] {
            let err = LabelSelector::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid label selector"), "{err}");
        }
        let long = format!("app={}", "a".repeat(64));
        assert!(LabelSelector::parse(&long).is_err());
        assert!(LabelSelector::parse(&"a,".repeat(MAX_SELECTOR_LEN)).is_err());
    }

    #[test]
    fn matching_follows_kubernetes_semantics() {
        let pod = labels(&[("app", "api"), ("tier", "web")]);
        let cases = [
            ("", true),
            ("app=api", true),
            ("app=db", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("tier in (web,api)", true),
            ("tier in (db)", false),
            ("missing in (x)", false),
            ("tier notin (db)", true),
            ("tier notin (web)", false),
            ("missing notin (x)", true),
            ("app=api,tier in (web)", true),
            ("app=api,tier in (db)", false),
        ];
        for (s, expected) in cases {
            assert_eq!(sel(s).matches(&pod), expected, "{s}");
        }
    }

    #[test]
    fn narrower_selectors_are_within_wider_ones() {
        let cases = [
            ("app=api", "app=api", true),
            ("app=api,tier=web", "app=api", true),
            ("app=api", "app=api,tier=web", false),
            ("", "app=api", false),
            ("app=api", "", true),
            ("app=api", "app in (api,db)", true),
            ("app in (api)", "app=api", true),
            ("app in (api,db)", "app=api", false),
            ("app in (api)", "app in (api,db)", true),
            ("app=api", "app", true),
            ("app in (a)", "app", true),
            ("app!=x", "app", false),
            ("!app", "!app", true),
            ("!app", "app!=x", true),
            ("!app", "app notin (x,y)", true),
            ("app=api", "app!=db", true),
            ("app=api", "app!=api", false),
            ("app in (a,b)", "app notin (c)", true),
            ("app in (a,b)", "app notin (b)", false),
            ("app notin (a,b)", "app notin (a)", true),
            ("app notin (a)", "app notin (a,b)", false),
            ("app!=a", "app notin (a)", true),
            ("app", "app!=a", false),
            ("app=a", "other=a", false),
        ];
        for (narrow, wide, expected) in cases {
            assert_eq!(
                sel(narrow).is_within(&sel(wide)),
                expected,
                "{narrow} within {wide}"
            );
        }
    }
}
