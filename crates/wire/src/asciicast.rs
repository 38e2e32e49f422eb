//! asciicast v2 (asciinema's recording format, <https://docs.asciinema.org/manual/asciicast/v2/>):
//! a header line (a JSON object: `version` 2, `width`, `height`, `timestamp`, optional `title`,
//! `command`, `env`), then one JSON array per event, `[seconds, code, data]`. Codes used here:
//! `"o"` output, `"i"` input, `"r"` resize (`"COLSxROWS"`), `"m"` marker; and `"e"` for stderr of
//! a session without a terminal — a jitgate extension that players skip (they show `"o"`).
//!
//! Data must be text: bytes that are not UTF-8 are written as U+FFFD, so a recording of a binary
//! stream (`kubectl cp`'s tar) shows what a terminal would, not the bytes.
//!
//! jitgate's header also carries a `jitgate` object ([`SessionMeta`]: who, where, under which
//! grant) so that who may replay a recording is decided on fields, not on a title; players
//! ignore keys they do not know. [`play`] replays a recording onto any writer.

use std::io::Write;
use std::time::Duration;

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
    /// Who, where and under which grant (`None` in recordings written before it existed, or
    /// by other tools).
    pub session: Option<SessionMeta>,
}

/// The session a recording is of, as the header's `jitgate` object holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionMeta {
    /// The session id (`s-…`), also the recording's file name.
    pub id: String,
    /// The person.
    pub user: String,
    /// The grant that allowed the session.
    pub grant: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container, if named.
    pub container: Option<String>,
    /// `exec` or `attach`.
    pub kind: String,
    /// Whether the session had a terminal.
    pub tty: bool,
}

impl SessionMeta {
    fn to_json(&self) -> Value {
        json!({
            "session": self.id,
            "user": self.user,
            "grant": self.grant,
            "namespace": self.namespace,
            "pod": self.pod,
            "container": self.container,
            "kind": self.kind,
            "tty": self.tty,
        })
    }

    /// The object as written; `None` when it is not one or lacks the session or the user.
    fn from_json(v: &Value) -> Option<Self> {
        let text = |key: &str| v[key].as_str().map(str::to_owned);
        let meta = Self {
            id: text("session")?,
            user: text("user")?,
            grant: text("grant").unwrap_or_default(),
            namespace: text("namespace").unwrap_or_default(),
            pod: text("pod").unwrap_or_default(),
            container: text("container"),
            kind: text("kind").unwrap_or_default(),
            tty: v["tty"].as_bool().unwrap_or_default(),
        };
        (!meta.id.is_empty() && !meta.user.is_empty()).then_some(meta)
    }
}

impl Header {
    /// The header as one JSON line, with its newline.
    pub fn to_line(&self) -> String {
        let mut head = json!({
            "version": 2,
            "width": self.width,
            "height": self.height,
            "timestamp": self.timestamp,
            "title": self.title,
            "command": self.command,
            "env": {"TERM": "xterm-256color"},
        });
        if let Some(meta) = &self.session {
            head["jitgate"] = meta.to_json();
        }
        let mut line = head.to_string();
        line.push('\n');
        line
    }

    /// Reads a header line (the first line of a recording).
    ///
    /// # Errors
    ///
    /// A sentence saying why the line is not an asciicast v2 header.
    pub fn parse(first: &str) -> Result<Self, String> {
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
        Ok(Self {
            width: number("width")?,
            height: number("height")?,
            timestamp: head["timestamp"].as_i64().unwrap_or_default(),
            title: head["title"].as_str().unwrap_or_default().to_owned(),
            command: head["command"].as_str().unwrap_or_default().to_owned(),
            session: SessionMeta::from_json(&head["jitgate"]),
        })
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
    let header = Header::parse(first)?;
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

/// How [`play`] replays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlayOptions {
    /// Playback speed: 2.0 is twice as fast; 0 (or less) writes everything without pauses.
    pub speed: f64,
    /// The longest pause between two events.
    pub max_wait: Duration,
    /// Also write what was typed (stdin), marked `⟨…⟩`, and the markers (how it ended).
    pub input: bool,
    /// Write the output exactly as recorded, every escape sequence included. Off by default:
    /// output passes through [`TerminalFilter`], since what a pod printed must not be able to
    /// set the replaying terminal's title or clipboard, or make it answer into the shell.
    pub raw: bool,
}

impl Default for PlayOptions {
    fn default() -> Self {
        Self {
            speed: 1.0,
            max_wait: Duration::from_secs(2),
            input: false,
            raw: false,
        }
    }
}

/// Replays `recording` onto `out` as a terminal showed it: output and stderr as they came, with
/// the recorded pauses (scaled by the speed, at most `max_wait`) passed to `pause`, which
/// sleeps. `out` is flushed before every pause.
///
/// # Errors
///
/// Writing to `out` failed.
pub fn play(
    recording: &Recording,
    out: &mut impl Write,
    options: PlayOptions,
    mut pause: impl FnMut(Duration),
) -> std::io::Result<()> {
    let mut filter = TerminalFilter::default();
    let mut last = 0.0_f64;
    for (time, code, data) in &recording.events {
        if options.speed > 0.0 {
            let seconds = ((time - last) / options.speed).max(0.0);
            let wait = Duration::try_from_secs_f64(seconds)
                .unwrap_or(options.max_wait)
                .min(options.max_wait);
            if !wait.is_zero() {
                out.flush()?;
                pause(wait);
            }
        }
        last = *time;
        match code {
            EventCode::Output | EventCode::Stderr if options.raw => {
                out.write_all(data.as_bytes())?;
            }
            EventCode::Output | EventCode::Stderr => {
                out.write_all(filter.push(data).as_bytes())?;
            }
            EventCode::Input if options.input => write!(out, "⟨{}⟩", data.escape_debug())?,
            EventCode::Marker if options.input => writeln!(out, "\n⟨{}⟩", data.escape_debug())?,
            _ => {}
        }
    }
    out.flush()
}

/// What a replayed terminal may be sent of a recording's output: text, the usual controls
/// (newline, carriage return, tab, backspace, bell), and the escape sequences a program draws
/// with — cursor movement, erasing, scrolling, colours and attributes (SGR), the alternate screen,
/// hiding the cursor. Everything else is dropped: operating-system commands (window title,
/// clipboard, hyperlinks), device-control and application strings, C1 controls, and every
/// sequence that makes a terminal answer (status and attribute reports, window reports), whose
/// answer would be typed into whatever reads the terminal next.
///
/// Sequences may be split across events; the filter keeps its state between [`push`](Self::push)
/// calls. A sequence longer than any real one is dropped.
#[derive(Debug, Default, Clone)]
pub struct TerminalFilter {
    state: FilterState,
    pending: String,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum FilterState {
    #[default]
    Ground,
    /// After ESC.
    Escape,
    /// After ESC and intermediates (`ESC ( B`).
    EscapeIntermediate,
    /// Inside `ESC [`.
    Csi,
    /// Inside a string (OSC, DCS, APC, PM, SOS), dropped up to its terminator.
    Str,
    /// ESC inside a string: `\` ends it.
    StrEscape,
}

/// Longer sequences are not drawing but something else, and are dropped.
const MAX_SEQUENCE: usize = 64;

/// Private modes (`ESC [ ? N h|l`) a replay may set: cursor keys, autowrap, cursor visibility,
/// the alternate screen. Mouse reporting and the like, which make the terminal send input, may
/// not.
const SAFE_PRIVATE_MODES: [&str; 6] = ["1", "7", "25", "47", "1047", "1049"];

impl TerminalFilter {
    /// The part of `data` that may reach the terminal, given what came before.
    pub fn push(&mut self, data: &str) -> String {
        let mut out = String::with_capacity(data.len());
        for c in data.chars() {
            self.step(c, &mut out);
        }
        out
    }

    fn step(&mut self, c: char, out: &mut String) {
        use FilterState::{Csi, Escape, EscapeIntermediate, Ground, Str, StrEscape};
        match self.state {
            Ground => match c {
                '\x1b' => {
                    self.state = Escape;
                    self.pending.clear();
                    self.pending.push(c);
                }
                '\n' | '\r' | '\t' | '\x08' | '\x07' => out.push(c),
                c if c.is_control() => {}
                c => out.push(c),
            },
            Escape => {
                self.pending.push(c);
                match c {
                    '[' => self.state = Csi,
                    ']' | 'P' | '_' | '^' | 'X' => self.state = Str,
                    ' '..='/' => self.state = EscapeIntermediate,
                    // ESC Z asks the terminal to identify itself.
                    'Z' => self.state = Ground,
                    '0'..='~' => self.emit(out),
                    _ => self.state = Ground,
                }
            }
            EscapeIntermediate => {
                self.pending.push(c);
                match c {
                    ' '..='/' if self.pending.len() < MAX_SEQUENCE => {}
                    '0'..='~' => self.emit(out),
                    _ => self.state = Ground,
                }
            }
            Csi => {
                self.pending.push(c);
                match c {
                    '0'..='?' | ' '..='/' if self.pending.len() < MAX_SEQUENCE => {}
                    '@'..='~' => {
                        if csi_draws(&self.pending) {
                            self.emit(out);
                        } else {
                            self.state = Ground;
                        }
                    }
                    _ => self.state = Ground,
                }
            }
            Str => match c {
                '\x07' => self.state = Ground,
                '\x1b' => self.state = StrEscape,
                _ => {}
            },
            StrEscape => self.state = if c == '\\' { Ground } else { Str },
        }
    }

    fn emit(&mut self, out: &mut String) {
        out.push_str(&self.pending);
        self.pending.clear();
        self.state = FilterState::Ground;
    }
}

/// Whether a complete `ESC [ … final` sequence only draws (and never makes the terminal answer).
fn csi_draws(sequence: &str) -> bool {
    let body = &sequence[2..];
    let Some(last) = body.chars().last() else {
        return false;
    };
    let params = &body[..body.len() - last.len_utf8()];
    if params.chars().any(|c| matches!(c, ' '..='/')) {
        return false;
    }
    if let Some(modes) = params.strip_prefix('?') {
        return matches!(last, 'h' | 'l')
            && modes.split(';').all(|m| SAFE_PRIVATE_MODES.contains(&m))
            || matches!(last, 'J' | 'K') && !modes.contains(['?', '<', '=', '>']);
    }
    if params.contains(['?', '<', '=', '>']) {
        return false;
    }
    match last {
        // Insert mode is the only ANSI mode a program draws with.
        'h' | 'l' => params == "4",
        'A'..='H'
        | 'J'
        | 'K'
        | 'L'
        | 'M'
        | 'P'
        | 'S'
        | 'T'
        | 'X'
        | '@'
        | '`'
        | 'a'
        | 'd'
        | 'e'
        | 'f'
        | 'm'
        | 'r' => true,
        _ => false,
    }
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
            session: Some(SessionMeta {
                id: "s-1".into(),
                user: "alice".into(),
                grant: "g-1".into(),
                namespace: "payments".into(),
                pod: "api".into(),
                container: None,
                kind: "exec".into(),
                tty: true,
            }),
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

    #[test]
    fn a_header_without_jitgate_fields_has_no_session() {
        let head = Header::parse(r#"{"version":2,"width":80,"height":24,"title":"x"}"#).unwrap();
        assert_eq!(head.session, None);
        let half = r#"{"version":2,"width":80,"height":24,"jitgate":{"session":"s-1"}}"#;
        assert_eq!(Header::parse(half).unwrap().session, None, "no user");
    }

    fn sample() -> Recording {
        let text = "{\"version\":2,\"width\":80,\"height\":24}\n".to_owned()
            + &event_line(0.5, EventCode::Input, b"ls\r")
            + &event_line(1.0, EventCode::Output, b"a b\r\n")
            + &event_line(1.25, EventCode::Stderr, b"warn\n")
            + &event_line(9.0, EventCode::Marker, b"exit 0");
        parse(&text).unwrap()
    }

    #[test]
    fn play_writes_output_with_scaled_pauses_capped_at_max_wait() {
        let mut out = Vec::new();
        let mut pauses = Vec::new();
        let options = PlayOptions {
            speed: 2.0,
            max_wait: Duration::from_secs(1),
            ..PlayOptions::default()
        };
        play(&sample(), &mut out, options, |d| pauses.push(d)).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a b\r\nwarn\n");
        assert_eq!(
            pauses,
            [0.25, 0.25, 0.125, 1.0]
                .map(Duration::from_secs_f64)
                .to_vec()
        );
    }

    #[test]
    fn play_at_speed_zero_never_pauses_and_input_shows_what_was_typed() {
        let mut out = Vec::new();
        let options = PlayOptions {
            speed: 0.0,
            input: true,
            ..PlayOptions::default()
        };
        play(&sample(), &mut out, options, |_| {
            panic!("no pause at speed 0")
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "⟨ls\\r⟩a b\r\nwarn\n\n⟨exit 0⟩\n"
        );
    }

    fn filtered(parts: &[&str]) -> String {
        let mut f = TerminalFilter::default();
        parts.iter().map(|p| f.push(p)).collect()
    }

    #[test]
    fn the_filter_keeps_what_draws() {
        let drawing = "\x1b[1;31mred\x1b[0m \x1b[2J\x1b[H\x1b[?1049h\x1b[?25l\x1b[10;20r\x1b(B\x1b7\x1b8\r\n\tok\x08\x07";
        assert_eq!(filtered(&[drawing]), drawing);
        assert_eq!(filtered(&["héllo ✓"]), "héllo ✓");
    }

    #[test]
    fn the_filter_drops_what_reaches_beyond_the_screen() {
        let cases = [
            ("window title (OSC, BEL)", "a\x1b]0;owned\x07b"),
            (
                "clipboard write (OSC 52, ST)",
                "a\x1b]52;c;ZWNobyBvd25lZA==\x1b\\b",
            ),
            ("hyperlink (OSC 8)", "a\x1b]8;;https://evil\x1b\\b"),
            ("device control string", "a\x1bP$qm\x1b\\b"),
            ("application program command", "a\x1b_payload\x1b\\b"),
            ("cursor position report", "a\x1b[6nb"),
            ("device attributes", "a\x1b[cb"),
            ("secondary device attributes", "a\x1b[>cb"),
            ("window report", "a\x1b[21tb"),
            ("mode report (DECRQM)", "a\x1b[?2004$pb"),
            ("mouse reporting", "a\x1b[?1000hb"),
            ("bracketed paste", "a\x1b[?2004hb"),
            ("identify (DECID)", "a\x1bZb"),
            ("C1 CSI", "a\u{9b}6nb"),
            ("other C0 controls", "a\x00\x0e\x7fb"),
        ];
        for (what, text) in cases {
            let kept = filtered(&[text]);
            assert!(
                kept.starts_with('a') && kept.ends_with('b'),
                "{what}: {kept:?}"
            );
            assert!(
                !kept.contains('\x1b') || what == "C1 CSI",
                "{what}: {kept:?}"
            );
            assert!(
                !kept.contains("owned") && !kept.contains("evil"),
                "{what}: {kept:?}"
            );
        }
        assert_eq!(filtered(&["a\u{9b}6nb"]), "a6nb", "C1 dropped, text kept");
    }

    #[test]
    fn the_filter_follows_sequences_across_events() {
        assert_eq!(filtered(&["x\x1b", "]0;ti", "tle\x07y"]), "xy");
        assert_eq!(filtered(&["x\x1b[3", "1mred"]), "x\x1b[31mred");
        assert_eq!(filtered(&["x\x1b[", "6", "ny"]), "xy");
        let endless = format!("\x1b[{}m after", "1;".repeat(100));
        let kept = filtered(&[&endless]);
        assert!(
            !kept.contains('\x1b') && kept.ends_with("m after"),
            "{kept:?}"
        );
    }

    #[test]
    fn play_filters_output_unless_raw() {
        let text = "{\"version\":2,\"width\":80,\"height\":24}\n".to_owned()
            + &event_line(
                0.1,
                EventCode::Output,
                b"\x1b]0;owned\x07\x1b[32mgreen\x1b[0m",
            )
            + &event_line(0.2, EventCode::Marker, b"ended\x1b[6n");
        let rec = parse(&text).unwrap();
        let mut options = PlayOptions {
            speed: 0.0,
            input: true,
            ..PlayOptions::default()
        };
        let mut out = Vec::new();
        play(&rec, &mut out, options, |_| {}).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\x1b[32mgreen\x1b[0m\n⟨ended\\u{1b}[6n⟩\n"
        );
        options.raw = true;
        let mut out = Vec::new();
        play(&rec, &mut out, options, |_| {}).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("\x1b]0;owned\x07")
        );
    }
}
