//! The hash chain: how a line is sealed and how a sealed line is checked. No I/O.
//!
//! A line is the canonical JSON of the event plus `seq` and `prev_hash`, with `"hash"` appended
//! as the last member. Canonical JSON here means: object members sorted by key (bytewise UTF-8),
//! no insignificant whitespace, strings and numbers as `serde_json` writes them. `hash` is the
//! lowercase hex SHA-256 of `prev_hash` (its 64 hex characters) followed by the canonical JSON of
//! the line without `hash`. The first line's `prev_hash` is [`GENESIS_HASH`].
//!
//! A checked line must be byte-for-byte what sealing its content produces, so any edit —
//! even one that keeps the JSON meaning, such as reordering members — breaks the line.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first line of a log.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a line's chain fields say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) seq: u64,
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
}

/// Writes `value` as canonical JSON.
pub(crate) fn canonical_json(value: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                canonical_json(member, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

/// The chain hash of a line whose canonical JSON without `hash` is `canonical`.
pub(crate) fn chain_hash(prev_hash: &str, canonical: &[u8]) -> String {
    let mut digest = Sha256::new();
    digest.update(prev_hash.as_bytes());
    digest.update(canonical);
    hex::encode(digest.finalize())
}

/// Adds `seq` and `prev_hash` to the event's members and returns the sealed line (without the
/// trailing newline) and its hash.
pub(crate) fn seal(
    mut members: Map<String, Value>,
    seq: u64,
    prev_hash: &str,
) -> Result<(Vec<u8>, String), serde_json::Error> {
    members.insert("seq".to_owned(), Value::from(seq));
    members.insert("prev_hash".to_owned(), Value::from(prev_hash));
    members.remove("hash");
    let mut line = Vec::with_capacity(512);
    canonical_json(&Value::Object(members), &mut line)?;
    let hash = chain_hash(prev_hash, &line);
    append_hash(&mut line, &hash);
    Ok((line, hash))
}

fn append_hash(canonical: &mut Vec<u8>, hash: &str) {
    // `canonical` is a non-empty object, so it ends with `}` and has at least `seq`.
    canonical.pop();
    canonical.extend_from_slice(b",\"hash\":\"");
    canonical.extend_from_slice(hash.as_bytes());
    canonical.extend_from_slice(b"\"}");
}

/// Checks that `line` (without its newline) is a sealed line whose hash matches its content,
/// and returns its chain fields. Whether it links to the previous line is the caller's check.
pub(crate) fn check_line(line: &[u8]) -> Result<Link, String> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON object ({e})"))?;
    let Value::Object(mut members) = value else {
        return Err("not a JSON object".to_owned());
    };
    let hash = match members.remove("hash") {
        Some(Value::String(h)) if is_hex_sha256(&h) => h,
        Some(_) => return Err("\"hash\" is not 64 lowercase hex digits".to_owned()),
        None => return Err("no \"hash\"".to_owned()),
    };
    let seq = members
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or("no numeric \"seq\"")?;
    let prev_hash = match members.get("prev_hash") {
        Some(Value::String(h)) if is_hex_sha256(h) => h.clone(),
        _ => return Err("\"prev_hash\" is missing or not 64 lowercase hex digits".to_owned()),
    };

    let mut canonical = Vec::with_capacity(line.len());
    canonical_json(&Value::Object(members), &mut canonical)
        .map_err(|e| format!("cannot be re-encoded ({e})"))?;
    let expected = chain_hash(&prev_hash, &canonical);
    append_hash(&mut canonical, &hash);
    if canonical != line {
        return Err("not in canonical form (the line was rewritten)".to_owned());
    }
    if expected != hash {
        return Err("its hash does not match its content (the line was edited)".to_owned());
    }
    Ok(Link {
        seq,
        prev_hash,
        hash,
    })
}

fn is_hex_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_recursively_without_spaces() {
        let v = json!({"b": 1, "a": {"d": [true, null, "x\"y"], "c": -2}, "é": 0, "Z": 1});
        let mut out = Vec::new();
        canonical_json(&v, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"Z":1,"a":{"c":-2,"d":[true,null,"x\"y"]},"b":1,"é":0}"#
        );
    }

    #[test]
    fn sealed_line_checks_and_any_edit_breaks_it() {
        let members = json!({"kind": "request", "user": "alice"});
        let Value::Object(members) = members else {
            unreachable!()
        };
        let (line, hash) = seal(members, 1, GENESIS_HASH).unwrap();
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"kind":"request","prev_hash":"000"#),
            "{text}"
        );
        assert!(text.ends_with(&format!(r#""seq":1,"user":"alice","hash":"{hash}"}}"#)));
        let link = check_line(&line).unwrap();
        assert_eq!(
            link,
            Link {
                seq: 1,
                prev_hash: GENESIS_HASH.to_owned(),
                hash
            }
        );

        let edited = text.replace("alice", "alicf");
        assert!(
            check_line(edited.as_bytes())
                .unwrap_err()
                .contains("edited")
        );
        let reordered = text
            .replace(r#"{"kind":"request","#, r#"{"#)
            .replace(r#""user":"alice","#, r#""user":"alice","kind":"request","#);
        assert!(
            check_line(reordered.as_bytes())
                .unwrap_err()
                .contains("canonical")
        );
        let spaced = text.replacen(',', ", ", 1);
        assert!(check_line(spaced.as_bytes()).is_err());
        assert!(check_line(b"[]").is_err());
        assert!(check_line(b"{\"seq\":1}").is_err());
    }
}
