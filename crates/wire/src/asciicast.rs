//! asciicast v2 (asciinema's recording format, <https://docs.asciinema.org/manual/asciicast/v2/>):
//! a header line (a JSON object: `version` 2, `width`, `height`, `timestamp`, optional `title`,
//! `command`, `env`), then one JSON array per event, `[seconds, code, data]`. Codes used here:
//! `"o"` output, `"i"` input, `"r"` resize (`"COLSxROWS"`), `"m"` marker; and `"e"` for stderr of
//! a session without a terminal — a jitgate extension that players skip (they show `"o"`).
//!
//! Data must be text: bytes that are not UTF-8 are written as U+FFFD, so a recording of a binary
//! stream (`kubectl cp`'s tar) shows what a terminal would, not the bytes.

use serde_json::{Value, json};

/// The first line of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// Terminal columns at the start.
    pub width: u16,
    /// Terminal rows at the start.
    pub height: u16,
    /// Unix seconds when the recording started.
    pub timestamp: i64,
    /// A title (who, where).
    pub title: String,
    /// The command line that ran.
    pub command: String,
}

impl Header {
    /// The header as one JSON line, with its newline.
    pub fn to_line(&self) -> String {
        let mut line = json!({
            "version": 2,
            "width": self.width,
            "height": self.height,
            "timestamp": self.timestamp,
            "title": self.title,
            "command": self.command,
            "env": {"TERM": "xterm-256color"},
        })
        .to_string();
        line.push('\n');
        line
    }
}

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventCode {
    /// Terminal output, or stdout.
    Output,
    /// stderr of a session without a terminal (jitgate extension, `"e"`).
    Stderr,
    /// Input (what was typed, or stdin).
    Input,
    /// The terminal was resized; data is `"COLSxROWS"`.
    Resize,
    /// A marker (a note in the recording, e.g. that it was truncated).
    Marker,
}

impl EventCode {
    /// The code as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Output => "o",
            Self::Stderr => "e",
            Self::Input => "i",
            Self::Resize => "r",
            Self::Marker => "m",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        Some(match code {
            "o" => Self::Output,
            "e" => Self::Stderr,
            "i" => Self::Input,
            "r" => Self::Resize,
            "m" => Self::Marker,
            _ => return None,
        })
    }
}

/// One event as a JSON line, with its newline; `seconds` since the start, to microseconds.
pub fn event_line(seconds: f64, code: EventCode, data: &[u8]) -> String {
    let seconds = (seconds * 1e6).round() / 1e6;
    let mut line = Value::Array(vec![
        json!(seconds),
        json!(code.as_str()),
        Value::String(String::from_utf8_lossy(data).into_owned()),
    ])
    .to_string();
    line.push('\n');
    line
}

/// A parsed recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// The header.
    pub header: Header,
    /// The events in order: seconds, code, data.
    pub events: Vec<(f64, EventCode, String)>,
}

/// Reads a recording; unknown event codes are skipped, as players do.
///
/// # Errors
///
/// A sentence naming the line that is not asciicast v2.
pub fn parse(text: &str) -> Result<Recording, String> {
    let mut lines = text.lines().enumerate();
    let (_, first) = lines
        .next()
        .ok_or("the recording is empty (no asciicast header)")?;
    let head: Value = serde_json::from_str(first)
        .map_err(|e| format!("line 1 is not an asciicast header: {e}"))?;
    if head["version"] != 2 {
        return Err(format!(
            "line 1: asciicast version {} is not 2",
            head["version"]
        ));
    }
    let number = |key: &str| {
        head[key]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or(format!("line 1: {key} is not a terminal size"))
    };
    let header = Header {
        width: number("width")?,
        height: number("height")?,
        timestamp: head["timestamp"].as_i64().unwrap_or_default(),
        title: head["title"].as_str().unwrap_or_default().to_owned(),
        command: head["command"].as_str().unwrap_or_default().to_owned(),
    };
    let mut events = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}", i + 1);
        let event: Value =
            serde_json::from_str(line).map_err(|e| bad(&format!("not JSON: {e}")))?;
        let (Some(time), Some(code), Some(data)) =
            (event[0].as_f64(), event[1].as_str(), event[2].as_str())
        else {
            return Err(bad("an event is [seconds, code, data]"));
        };
        if let Some(code) = EventCode::parse(code) {
            events.push((time, code, data.to_owned()));
        }
    }
    Ok(Recording { header, events })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_reads_back_as_written() {
        let header = Header {
            width: 100,
            height: 30,
            timestamp: 1_765_000_000,
            title: "alice@payments/api (grant g-1, session s-1)".into(),
            command: "sh".into(),
        };
        let text = header.to_line()
            + &event_line(0.0, EventCode::Resize, b"100x30")
            + &event_line(0.5, EventCode::Input, b"echo \"hi\"\r")
            + &event_line(0.6, EventCode::Output, b"hi\r\n\x1b[1m$ ")
            + &event_line(0.7, EventCode::Stderr, &[0xff, b'x'])
            + "[0.8, \"x\", \"unknown codes are skipped\"]\n";
        let rec = parse(&text).unwrap();
        assert_eq!(rec.header, header);
        assert_eq!(
            rec.events,
            vec![
                (0.0, EventCode::Resize, "100x30".to_owned()),
                (0.5, EventCode::Input, "echo \"hi\"\r".to_owned()),
                (0.6, EventCode::Output, "hi\r\n\x1b[1m$ ".to_owned()),
                (0.7, EventCode::Stderr, "\u{fffd}x".to_owned()),
            ]
        );
    }

    #[test]
    fn what_is_not_asciicast_v2_is_named() {
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("{\"version\":1}").unwrap_err().contains("version"));
        let head = "{\"version\":2,\"width\":80,\"height\":24}\n";
        assert!(
            parse(&format!("{head}[1, \"o\"]"))
                .unwrap_err()
                .starts_with("line 2")
        );
        assert!(
            parse(&format!("{head}nonsense"))
                .unwrap_err()
                .contains("line 2: not JSON")
        );
    }
}
