//! Refuses ambiguous request paths and splits the rest into segments.
//!
//! The gateway decides on one reading of the path and forwards the same bytes to kube-apiserver,
//! so any path two parsers could read differently is refused before classification (fail closed):
//! percent-encoding, dot segments, `//`, backslashes, control and non-ASCII bytes, and anything that
//! is not an RFC 3986 `pchar` (section 3.3) other than `;`.

use crate::ClassifyError;

/// Longest request path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 4096;

/// Most path segments accepted. The deepest resource path has 8 segments; the rest is room for
/// proxy sub-paths.
pub const MAX_SEGMENTS: usize = 64;

/// Checks `path` and returns its segments, without the leading `/` and one optional trailing `/`.
///
/// Kubernetes trims slashes at both ends before splitting; a single trailing `/` is accepted and
/// read the same way, while `//` anywhere is refused.
pub(crate) fn split(path: &str) -> Result<Vec<&str>, ClassifyError> {
    if path.len() > MAX_PATH_LEN {
        return Err(ClassifyError::PathTooLong {
            len: path.len(),
            max: MAX_PATH_LEN,
        });
    }
    if !path.starts_with('/') {
        return Err(ClassifyError::PathNotAbsolute);
    }
    for (at, byte) in path.bytes().enumerate() {
        check_byte(at, byte)?;
    }
    let inner = &path[1..];
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    if inner.is_empty() {
        // "/" alone, or "//" (which strips to empty but has an empty segment).
        return if path.len() == 1 {
            Ok(Vec::new())
        } else {
            Err(ClassifyError::EmptySegment)
        };
    }
    let mut segments = Vec::new();
    for segment in inner.split('/') {
        match segment {
            "" => return Err(ClassifyError::EmptySegment),
            "." | ".." => {
                return Err(ClassifyError::DotSegment {
                    segment: segment.to_owned(),
                });
            }
            _ => {}
        }
        if segments.len() == MAX_SEGMENTS {
            return Err(ClassifyError::TooManySegments { max: MAX_SEGMENTS });
        }
        segments.push(segment);
    }
    Ok(segments)
}

fn check_byte(at: usize, byte: u8) -> Result<(), ClassifyError> {
    match byte {
        b'%' => Err(ClassifyError::PercentInPath { at }),
        b'\\' => Err(ClassifyError::Backslash),
        0x00..=0x1f | 0x7f => Err(ClassifyError::ControlCharacter { byte }),
        0x80..=0xff => Err(ClassifyError::NonAscii),
        b'/' => Ok(()),
        // RFC 3986 unreserved
        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => Ok(()),
        // RFC 3986 sub-delims (without ';', read as a matrix-parameter separator by some servers)
        // and the two extra pchar characters ':' and '@'.
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@' => {
            Ok(())
        }
        other => Err(ClassifyError::ForbiddenCharacter {
            ch: char::from(other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_no_segments() {
        assert_eq!(split("/"), Ok(vec![]));
    }

    #[test]
    fn one_trailing_slash_is_trimmed() {
        assert_eq!(split("/api/v1/"), Ok(vec!["api", "v1"]));
    }

    #[test]
    fn double_slash_alone_is_an_empty_segment() {
        assert_eq!(split("//"), Err(ClassifyError::EmptySegment));
    }

    #[test]
    fn two_trailing_slashes_are_an_empty_segment() {
        assert_eq!(split("/api//"), Err(ClassifyError::EmptySegment));
    }

    #[test]
    fn segment_limit_counts_segments() {
        let ok = "/a".repeat(MAX_SEGMENTS);
        assert_eq!(split(&ok).map(|s| s.len()), Ok(MAX_SEGMENTS));
        let too_many = "/a".repeat(MAX_SEGMENTS + 1);
        assert_eq!(
            split(&too_many),
            Err(ClassifyError::TooManySegments { max: MAX_SEGMENTS })
        );
    }

    #[test]
    fn length_limit_is_inclusive() {
        let ok = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
        assert!(split(&ok).is_ok());
        let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert_eq!(
            split(&long),
            Err(ClassifyError::PathTooLong {
                len: MAX_PATH_LEN + 1,
                max: MAX_PATH_LEN
            })
        );
    }
}
