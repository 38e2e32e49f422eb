//! A YAML (and so JSON) loader that remembers where every node is: it turns the text into a
//! `serde_json::Value` and a map from YAML path (`profiles[0].approval.approvals`) to line and
//! column, so that type errors and semantic errors alike can point at the offending line.
//!
//! One parser does both jobs (yaml-rust2's marked event parser, YAML 1.2), so the positions and
//! the values can never disagree. Plain scalars are resolved with the YAML 1.2 core schema
//! (`true`, `null`, `12`, `0x1f`, `1.5`); quoted scalars are always strings. Aliases are refused
//! (a policy is reviewed as written, and expansion is a denial-of-service vector), and so are
//! tags other than the standard `!!str`, `!!map`, `!!seq`.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Code, Diagnostic, Severity};

/// Largest policy (or test-case) file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Deepest nesting of mappings and sequences accepted.
pub const MAX_DEPTH: usize = 32;
/// Most nodes (scalars, mappings, sequences) in one file.
pub const MAX_NODES: usize = 100_000;
/// Longest scalar accepted, in bytes.
pub const MAX_SCALAR_BYTES: usize = 16 * 1024;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Self {
            line: m.line().max(1),
            column: m.col() + 1,
        }
    }
}

/// Where a node is: its key (for mapping values) and its value.
#[derive(Debug, Clone, Copy)]
struct NodeSpan {
    key: Option<Pos>,
    value: Pos,
    collection: bool,
}

/// YAML path → position of every node of a document.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceMap {
    nodes: HashMap<String, NodeSpan>,
}

impl SourceMap {
    /// Where to point for `path`: a scalar's value, a collection's key (the line that opens it),
    /// or the nearest enclosing node that exists (for a missing key).
    pub(crate) fn locate(&self, path: &str) -> Pos {
        let mut path = path;
        loop {
            if let Some(span) = self.nodes.get(path) {
                return match (span.collection, span.key) {
                    (true, Some(key)) => key,
                    _ => span.value,
                };
            }
            if path.is_empty() {
                return Pos { line: 1, column: 1 };
            }
            path = parent(path);
        }
    }

    /// Where the key of `path` is (falling back to [`Self::locate`]).
    pub(crate) fn locate_key(&self, path: &str) -> Pos {
        match self.nodes.get(path).and_then(|span| span.key) {
            Some(key) => key,
            None => self.locate(path),
        }
    }
}

/// The path of the node that contains `path`.
fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

/// `parent.key`, or `key` at the root.
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// How a path is shown to people: the root is `.`.
pub(crate) fn display_path(path: &str) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.to_owned()
    }
}

/// A loaded document: its value, where each node is, and findings that did not stop loading
/// (duplicate keys, unsupported tags).
#[derive(Debug)]
pub(crate) struct Loaded {
    pub value: Value,
    pub map: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

enum Frame {
    Map {
        path: String,
        map: Map<String, Value>,
        /// The key waiting for its value, with its position.
        key: Option<(String, Pos)>,
        first_key_seen: bool,
    },
    Seq {
        path: String,
        items: Vec<Value>,
    },
}

impl Frame {
    fn path(&self) -> &str {
        match self {
            Frame::Map { path, .. } | Frame::Seq { path, .. } => path,
        }
    }
}

fn fatal(code: Code, path: &str, pos: Pos, message: String) -> Vec<Diagnostic> {
    vec![Diagnostic {
        severity: Severity::Error,
        code,
        path: display_path(path),
        line: pos.line,
        column: pos.column,
        message,
    }]
}

struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    map: SourceMap,
    diagnostics: Vec<Diagnostic>,
    nodes: usize,
}

/// What the next node is, seen from its parent.
enum Slot {
    Root,
    Key,
    Value { path: String, key: Option<Pos> },
}

impl Builder {
    fn current_path(&self) -> &str {
        self.stack.last().map_or("", Frame::path)
    }

    fn slot(&self) -> Slot {
        match self.stack.last() {
            None => Slot::Root,
            Some(Frame::Seq { path, items }) => Slot::Value {
                path: join_index(path, items.len()),
                key: None,
            },
            Some(Frame::Map { key: None, .. }) => Slot::Key,
            Some(Frame::Map {
                path,
                key: Some((key, pos)),
                ..
            }) => Slot::Value {
                path: join_key(path, key),
                key: Some(*pos),
            },
        }
    }

    fn count_node(&mut self, pos: Pos) -> Result<(), Vec<Diagnostic>> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(fatal(
                Code::TooLong,
                self.current_path(),
                pos,
                format!("the file has more than {MAX_NODES} YAML nodes; a policy is not that big"),
            ));
        }
        Ok(())
    }

    fn scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        tag: Option<&Tag>,
        pos: Pos,
    ) -> Result<(), Vec<Diagnostic>> {
        self.count_node(pos)?;
        if text.len() > MAX_SCALAR_BYTES {
            return Err(fatal(
                Code::TooLong,
                self.current_path(),
                pos,
                format!("a value is longer than {MAX_SCALAR_BYTES} bytes"),
            ));
        }
        match self.slot() {
            Slot::Key => {
                if let Some(Frame::Map {
                    path,
                    map,
                    key,
                    first_key_seen,
                }) = self.stack.last_mut()
                {
                    if !*first_key_seen {
                        *first_key_seen = true;
                        // A mapping's start marker is not where its first key is; point there.
                        if let Some(span) = self.map.nodes.get_mut(path.as_str()) {
                            span.value = pos;
                        }
                    }
                    if map.contains_key(&text) {
                        self.diagnostics.push(Diagnostic {
                            severity: Severity::Error,
                            code: Code::DuplicateKey,
                            path: join_key(path, &text),
                            line: pos.line,
                            column: pos.column,
                            message: format!(
                                "`{text}` appears twice in this mapping; keep one (YAML keys \
                                 must be unique, and jitgate does not guess which one you meant)"
                            ),
                        });
                    }
                    *key = Some((text, pos));
                }
                Ok(())
            }
            Slot::Root | Slot::Value { .. } => {
                let value = match tag {
                    None if style == TScalarStyle::Plain => resolve_plain(&text),
                    None => Value::String(text),
                    Some(tag) if is_standard(tag, "str") => Value::String(text),
                    Some(tag) => {
                        self.unsupported_tag(tag, pos);
                        Value::String(text)
                    }
                };
                self.finish(value, pos, false);
                Ok(())
            }
        }
    }

    fn unsupported_tag(&mut self, tag: &Tag, pos: Pos) {
        let path = match self.slot() {
            Slot::Value { path, .. } => path,
            Slot::Root | Slot::Key => self.current_path().to_owned(),
        };
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            code: Code::UnsupportedTag,
            path: display_path(&path),
            line: pos.line,
            column: pos.column,
            message: format!(
                "the YAML tag {}{} is not supported; remove it (quote the value if it must be \
                 a string)",
                tag.handle, tag.suffix
            ),
        });
    }

    fn start(&mut self, is_map: bool, tag: Option<&Tag>, pos: Pos) -> Result<(), Vec<Diagnostic>> {
        self.count_node(pos)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(fatal(
                Code::TooDeep,
                self.current_path(),
                pos,
                format!("nesting is deeper than {MAX_DEPTH} levels"),
            ));
        }
        if let Some(tag) = tag
            && !is_standard(tag, if is_map { "map" } else { "seq" })
        {
            self.unsupported_tag(tag, pos);
        }
        let (path, key) = match self.slot() {
            Slot::Root => (String::new(), None),
            Slot::Value { path, key } => (path, key),
            Slot::Key => {
                return Err(fatal(
                    Code::UnsupportedKey,
                    self.current_path(),
                    pos,
                    "a mapping key must be a plain string, not a mapping or a list".to_owned(),
                ));
            }
        };
        self.map.nodes.insert(
            path.clone(),
            NodeSpan {
                key,
                value: pos,
                collection: true,
            },
        );
        self.stack.push(if is_map {
            Frame::Map {
                path,
                map: Map::new(),
                key: None,
                first_key_seen: false,
            }
        } else {
            Frame::Seq {
                path,
                items: Vec::new(),
            }
        });
        Ok(())
    }

    fn end(&mut self, pos: Pos) {
        let value = match self.stack.pop() {
            Some(Frame::Map { map, .. }) => Value::Object(map),
            Some(Frame::Seq { items, .. }) => Value::Array(items),
            None => return,
        };
        self.finish(value, pos, true);
    }

    /// Puts a complete node into its parent.
    fn finish(&mut self, value: Value, pos: Pos, collection: bool) {
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { path, items }) => {
                if !collection {
                    let path = join_index(path, items.len());
                    self.map.nodes.insert(
                        path,
                        NodeSpan {
                            key: None,
                            value: pos,
                            collection,
                        },
                    );
                }
                items.push(value);
            }
            Some(Frame::Map { path, map, key, .. }) => {
                if let Some((key, key_pos)) = key.take() {
                    let child = join_key(path, &key);
                    if !collection {
                        self.map.nodes.insert(
                            child,
                            NodeSpan {
                                key: Some(key_pos),
                                value: pos,
                                collection,
                            },
                        );
                    }
                    // On a duplicate key the first value stays (and the duplicate is an error).
                    map.entry(key).or_insert(value);
                }
            }
        }
    }
}

fn is_standard(tag: &Tag, suffix: &str) -> bool {
    tag.handle == "tag:yaml.org,2002:" && tag.suffix == suffix
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        // An integer too large for 64 bits stays a string rather than losing digits.
        return resolve_int(text).map_or_else(|| Value::String(text.to_owned()), Value::Number);
    }
    if let Some(n) = resolve_int(text) {
        return Value::Number(n);
    }
    if is_core_float(text)
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

fn resolve_int(text: &str) -> Option<Number> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(hex) = text.strip_prefix("0x") {
        (16, hex)
    } else if let Some(oct) = text.strip_prefix("0o") {
        (8, oct)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    if radix != 10 && text.len() != digits.len() + 2 {
        return None; // no sign on hex and octal in the core schema
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        let value = i64::try_from(magnitude).ok()?;
        Some(Number::from(-value))
    } else {
        Some(Number::from(magnitude))
    }
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// Loads one YAML document.
///
/// Fatal problems (syntax, size, depth, aliases, no or several documents) are returned as the
/// error; problems that still allow a value (duplicate keys, unsupported tags) come with it.
pub(crate) fn load(text: &str) -> Result<Loaded, Vec<Diagnostic>> {
    if text.len() > MAX_FILE_BYTES {
        return Err(fatal(
            Code::TooLarge,
            "",
            Pos { line: 1, column: 1 },
            format!(
                "the file is {} bytes; the limit is {MAX_FILE_BYTES} bytes",
                text.len()
            ),
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder {
        stack: Vec::new(),
        root: None,
        map: SourceMap::default(),
        diagnostics: Vec::new(),
        nodes: 0,
    };
    let mut documents = 0;
    loop {
        let (event, marker) = match parser.next_token() {
            Ok(next) => next,
            Err(e) => {
                return Err(fatal(
                    Code::YamlSyntax,
                    builder.current_path(),
                    Pos::from(*e.marker()),
                    format!("{}; fix the YAML syntax here", e.info()),
                ));
            }
        };
        let pos = Pos::from(marker);
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(fatal(
                        Code::MultipleDocuments,
                        "",
                        pos,
                        "the file holds more than one YAML document (`---`); put the whole \
                         policy in one document"
                            .to_owned(),
                    ));
                }
            }
            Event::Alias(_) => {
                let path = match builder.slot() {
                    Slot::Value { path, .. } => path,
                    Slot::Root | Slot::Key => builder.current_path().to_owned(),
                };
                return Err(fatal(
                    Code::AliasNotSupported,
                    &path,
                    pos,
                    "YAML aliases (`*name`) are not supported; write the value out, so a \
                     reviewer sees what each profile grants"
                        .to_owned(),
                ));
            }
            Event::Scalar(value, style, _anchor, tag) => {
                builder.scalar(value, style, tag.as_ref(), pos)?;
            }
            Event::MappingStart(_anchor, tag) => builder.start(true, tag.as_ref(), pos)?,
            Event::SequenceStart(_anchor, tag) => builder.start(false, tag.as_ref(), pos)?,
            Event::MappingEnd | Event::SequenceEnd => builder.end(pos),
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
        }
    }
    match builder.root {
        None | Some(Value::Null) => Err(fatal(
            Code::EmptyDocument,
            "",
            Pos { line: 1, column: 1 },
            "the file is empty; start from examples/policy.yaml".to_owned(),
        )),
        Some(value) => Ok(Loaded {
            value,
            map: builder.map,
            diagnostics: builder.diagnostics,
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn loaded(text: &str) -> Loaded {
        load(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    fn first_error(text: &str) -> Diagnostic {
        load(text).expect_err(text).remove(0)
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let cases = [
            ("plain string", "a: hello", json!({"a": "hello"})),
            (
                "quoted number stays a string",
                "a: '8080'",
                json!({"a": "8080"}),
            ),
            ("integer", "a: 8080", json!({"a": 8080})),
            ("negative", "a: -3", json!({"a": -3})),
            ("hex", "a: 0x1F", json!({"a": 31})),
            ("octal", "a: 0o17", json!({"a": 15})),
            ("float", "a: 1.5", json!({"a": 1.5})),
            ("bools", "a: [true, False]", json!({"a": [true, false]})),
            ("yaml 1.1 yes is a string", "a: yes", json!({"a": "yes"})),
            ("null forms", "a: [~, null, ]", json!({"a": [null, null]})),
            ("empty value", "a:\nb: 1", json!({"a": null, "b": 1})),
            ("durations stay strings", "a: 30m", json!({"a": "30m"})),
            (
                "ranges stay strings",
                "a: 9000-9100",
                json!({"a": "9000-9100"}),
            ),
            ("str tag", "a: !!str 5", json!({"a": "5"})),
            (
                "huge ints stay strings",
                "a: 99999999999999999999",
                json!({"a": "99999999999999999999"}),
            ),
            (
                "json is yaml",
                r#"{"a": [1, "x", {"b": null}]}"#,
                json!({"a": [1, "x", {"b": null}]}),
            ),
        ];
        for (name, text, expected) in cases {
            assert_eq!(loaded(text).value, expected, "{name}");
        }
    }

    #[test]
    fn every_node_has_a_position() {
        let text = "apiVersion: v1\nprofiles:\n  - name: a\n    rules:\n      - verbs: [get, list]\n    approval:\n      approvals: 2\n";
        let map = loaded(text).map;
        let cases = [
            ("apiVersion", 1, 13),
            ("profiles", 2, 1),
            ("profiles[0]", 3, 5),
            ("profiles[0].name", 3, 11),
            ("profiles[0].rules", 4, 5),
            ("profiles[0].rules[0].verbs[1]", 5, 22),
            ("profiles[0].approval", 6, 5),
            ("profiles[0].approval.approvals", 7, 18),
            // Missing nodes point at the nearest existing ancestor.
            ("profiles[0].approval.approverGroups", 6, 5),
            ("", 1, 1),
        ];
        for (path, line, column) in cases {
            assert_eq!(map.locate(path), Pos { line, column }, "{path}");
        }
        assert_eq!(
            map.locate_key("profiles[0].approval.approvals"),
            Pos { line: 7, column: 7 }
        );
    }

    #[test]
    fn refuses_what_a_policy_must_not_contain() {
        let cases = [
            ("syntax", "a: [1, 2\nb: c\n", Code::YamlSyntax, 2),
            ("alias", "a: &x 1\nb: *x\n", Code::AliasNotSupported, 2),
            (
                "two documents",
                "a: 1\n---\nb: 2\n",
                Code::MultipleDocuments,
                2,
            ),
            ("empty", "", Code::EmptyDocument, 1),
            ("only a comment", "# nothing\n", Code::EmptyDocument, 1),
            ("complex key", "? [a]\n: 1\n", Code::UnsupportedKey, 1),
        ];
        for (name, text, code, line) in cases {
            let d = first_error(text);
            assert_eq!((d.code, d.line), (code, line), "{name}: {d:?}");
        }
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(first_error(&deep).code, Code::TooDeep);
        // Inputs that made other YAML parsers panic: here they are findings, never a policy.
        for crasher in [
            "{-",
            "[!,",
            "a: ''|\n 0",
            ">\n@",
            "0000: 000000000000\n-000000000/000: >",
            "? - : -\n",
        ] {
            let lint = crate::Policy::lint(crasher);
            assert!(
                lint.policy.is_none() && !lint.diagnostics.is_empty(),
                "{crasher:?}"
            );
        }
        let big = "a".repeat(MAX_FILE_BYTES + 1);
        assert_eq!(first_error(&big).code, Code::TooLarge);
        let long = format!("a: {}", "x".repeat(MAX_SCALAR_BYTES + 1));
        assert_eq!(first_error(&long).code, Code::TooLong);
        let many = format!("[{}]", "1,".repeat(MAX_NODES));
        assert_eq!(first_error(&many).code, Code::TooLong);
    }

    #[test]
    fn duplicate_keys_and_tags_are_reported_with_their_line() {
        let l = loaded("a: 1\nb: 2\na: 3\nc: !foo x\n");
        assert_eq!(l.value, json!({"a": 1, "b": 2, "c": "x"}));
        let found: Vec<_> = l
            .diagnostics
            .iter()
            .map(|d| (d.code, d.path.as_str(), d.line))
            .collect();
        assert_eq!(
            found,
            [(Code::DuplicateKey, "a", 3), (Code::UnsupportedTag, "c", 4)]
        );
    }
}
