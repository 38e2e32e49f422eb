//! `exec.interactive: filter`: the lines typed into an interactive shell are checked at Enter,
//! like `sh -c LINE`. Best effort, and said so: jitgate sees keystrokes, not the shell's line
//! buffer.
//!
//! With a terminal (`kubectl exec -it POD -- sh`), keystrokes go to the shell as they are typed
//! (it echoes them and keeps the line) and [`LineFilter`] keeps the same line beside it. Only
//! keys whose effect on the line is the same in readline, busybox's and zsh's line editors and
//! the terminal's line discipline reach the shell: printable ASCII, Backspace (DEL), Ctrl-U
//! (kill line), Ctrl-C (abandon), Ctrl-D on an empty line (exit), Enter — and lines up to
//! [`MAX_TYPED`] characters (the line discipline keeps at most 4095). Every other key is
//! dropped, with a bell — Tab (completion), arrows and every other escape sequence (history,
//! cursor movement, vi command mode), Ctrl-R, Ctrl-O (operate-and-get-next, which runs the
//! line), Ctrl-X Ctrl-E (edit-and-execute), Ctrl-V, Ctrl-W and Ctrl-L (whose effect differs
//! between shells), ^H (literal in the line discipline), bytes above 0x7f (Meta keys to a shell
//! in a non-UTF-8 locale) — because each could make the shell's line differ from the one
//! checked, or run it; the first drop in a session says so. At Enter the line is checked; a refused one never gets its Enter: the
//! shell gets Ctrl-C instead, which abandons the line (readline, busybox's line editor and the
//! terminal's line discipline alike) and prints a fresh prompt, and the person reads why.
//! (Were a program running in the foreground, Ctrl-C interrupts it: the refused line was typed
//! ahead of it; and what was typed or pasted after the refused line in the same piece of input is
//! not sent, since the shell drops it while it abandons the line — the person is told.) History
//! expansion (`!`, `^old^new`) recalls what jitgate did not see and is
//! refused in a line.
//!
//! Without a terminal (`kubectl exec -i POD -- sh`, commands on stdin) there is no line editing:
//! each line is held until its newline and passed on only if it is allowed; a last line without
//! a newline is checked when stdin ends.
//!
//! What it cannot see: whether the shell or a program the shell started reads the line (a line
//! typed into `cat` or `vi` is checked as a command too), and what the shell's own state makes
//! of a line (variables set earlier count as unknown values, as in scripts).

use std::time::{Duration, Instant};

use crate::exec::{ExecRules, check_typed_line};

/// The longest line held without a terminal.
pub const MAX_LINE: usize = 64 * 1024;

/// The longest line typed at a terminal: further characters are dropped.
pub const MAX_TYPED: usize = 1024;

/// How long after a refused line (and its Ctrl-C) typed input is not sent: the shell must have
/// abandoned the line before it reads more, or what it had begun to read of the next line is
/// dropped with it and the rest runs alone.
pub const SETTLE: Duration = Duration::from_millis(200);

/// Ctrl-U: kill the line (readline, and the terminal's VKILL).
const KILL: u8 = 0x15;
/// Ctrl-C: abandon the line (SIGINT through the terminal, or the line editor's own handling).
const INTERRUPT: u8 = 0x03;

/// One interactive session's typed lines.
#[derive(Debug)]
pub struct LineFilter {
    rules: ExecRules,
    profile: String,
    tty: bool,
    line: Vec<u8>,
    /// Inside an escape sequence being dropped.
    escape: Escape,
    /// A key has been dropped before in this session (the first drop is explained).
    dropped_before: bool,
    /// When the last refused line got its Ctrl-C.
    refused_at: Option<Instant>,
    /// Without a terminal: the line is too long and is being dropped up to its newline.
    dropping: bool,
}

/// Where in an escape sequence (ESC, then `[` … final byte, `O` + one, or one more byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Start,
    Csi,
    Ss3,
}

/// What became of some typed bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filtered {
    /// The bytes to pass on to the shell, in place of what was typed.
    pub to_shell: Vec<u8>,
    /// Lines that passed, in order (for the audit log).
    pub allowed: Vec<String>,
    /// Refusals, in order: the sentence to show the person (and to audit).
    pub refused: Vec<String>,
    /// Keys were dropped: the explanation the first time in a session, a bell after that.
    pub dropped: Option<Dropped>,
    /// Bytes typed after a refused line in the same piece, or within [`SETTLE`] of it, not sent
    /// (the shell is abandoning the line).
    pub discarded: usize,
}

/// What to tell the person about dropped keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// The first time: why.
    Explain(String),
    /// Later: a bell.
    Bell,
}

impl LineFilter {
    /// A filter for one session under `profile`'s rules; `tty`: kubectl asked for a terminal.
    pub fn new(rules: ExecRules, profile: &str, tty: bool) -> Self {
        Self {
            rules,
            profile: profile.to_owned(),
            tty,
            line: Vec::new(),
            escape: Escape::None,
            dropped_before: false,
            refused_at: None,
            dropping: false,
        }
    }

    /// Whether the session has a terminal.
    pub fn tty(&self) -> bool {
        self.tty
    }

    /// Reads typed bytes that arrived at `now`; returns what the shell gets instead and what
    /// was decided.
    pub fn push(&mut self, input: &[u8], now: Instant) -> Filtered {
        let mut out = Filtered::default();
        if self.tty
            && self
                .refused_at
                .is_some_and(|at| now.saturating_duration_since(at) < SETTLE)
        {
            out.discarded = input.len();
            return out;
        }
        for (i, &b) in input.iter().enumerate() {
            if self.tty {
                self.key(b, &mut out);
                // The shell abandons a refused line with Ctrl-C, which drops what reaches it
                // while it does: what was typed (or pasted) after the refused line in the same
                // piece is not sent at all, and the person is told.
                if out.to_shell.last() == Some(&INTERRUPT) && b != INTERRUPT {
                    out.discarded = input.len() - i - 1;
                    self.escape = Escape::None;
                    self.refused_at = Some(now);
                    break;
                }
            } else {
                self.piped(b, &mut out);
            }
        }
        out
    }

    /// Stdin ends: without a terminal, a last line without its newline is decided now.
    pub fn end(&mut self) -> Filtered {
        let mut out = Filtered::default();
        if !self.tty && !self.dropping && !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            if self.decide(&line, &mut out) {
                out.to_shell.extend_from_slice(&line);
            }
        }
        out
    }

    fn key(&mut self, b: u8, out: &mut Filtered) {
        match self.escape {
            Escape::None => {}
            Escape::Start => {
                self.escape = match b {
                    b'[' => Escape::Csi,
                    b'O' => Escape::Ss3,
                    _ => Escape::None,
                };
                return;
            }
            Escape::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.escape = Escape::None;
                }
                return;
            }
            Escape::Ss3 => {
                self.escape = Escape::None;
                return;
            }
        }
        match b {
            b'\r' | b'\n' => {
                let line = std::mem::take(&mut self.line);
                let allowed = self.decide(&line, out);
                out.to_shell.push(if allowed { b } else { INTERRUPT });
                return;
            }
            // Backspace: DEL erases one character in readline, busybox, zsh and the terminal's
            // line discipline (its default VERASE). ^H is not erase there, so it is dropped.
            0x7f => {
                self.line.pop();
            }
            KILL | INTERRUPT => self.line.clear(),
            // Ctrl-D on an empty line ends the shell.
            0x04 if self.line.is_empty() => {}
            0x1b => {
                self.escape = Escape::Start;
                self.drop_key(out);
                return;
            }
            // Printable ASCII, up to MAX_TYPED: past the terminal's line limit (4095 bytes in
            // canonical mode) the shell would get less than jitgate checked.
            0x20..=0x7e if self.line.len() < MAX_TYPED => self.line.push(b),
            // Every other control key; Ctrl-W and Ctrl-L too (their effect differs between
            // shells and the line discipline); bytes above 0x7f (a shell in a non-UTF-8 locale
            // reads them as Meta keys).
            _ => {
                self.drop_key(out);
                return;
            }
        }
        out.to_shell.push(b);
    }

    fn drop_key(&mut self, out: &mut Filtered) {
        if out.dropped.is_some() {
            return;
        }
        out.dropped = Some(if std::mem::replace(&mut self.dropped_before, true) {
            Dropped::Bell
        } else {
            Dropped::Explain(format!(
                "profile {} checks every line typed here (exec.interactive: filter): only \
                 printable ASCII, Backspace, Ctrl-U and Ctrl-C reach the shell, lines up to \
                 {MAX_TYPED} characters; Tab, arrows, history and other editing keys are off; \
                 type each command out and press Enter",
                self.profile
            ))
        });
    }

    fn piped(&mut self, b: u8, out: &mut Filtered) {
        if b == b'\n' {
            let line = std::mem::take(&mut self.line);
            if std::mem::take(&mut self.dropping) {
                return;
            }
            if self.decide(&line, out) {
                out.to_shell.extend_from_slice(&line);
                out.to_shell.push(b'\n');
            }
            return;
        }
        if self.dropping {
            return;
        }
        if self.line.len() >= MAX_LINE {
            self.line.clear();
            self.dropping = true;
            out.refused.push(format!(
                "typed line refused by profile {}: a line longer than {MAX_LINE} bytes",
                self.profile
            ));
            return;
        }
        self.line.push(b);
    }

    /// Checks one complete line; blank lines and comments pass.
    fn decide(&self, line: &[u8], out: &mut Filtered) -> bool {
        let Ok(text) = std::str::from_utf8(line) else {
            out.refused.push(format!(
                "typed line refused by profile {}: it is not UTF-8 text",
                self.profile
            ));
            return false;
        };
        if text.trim().is_empty() {
            return true;
        }
        if text.contains('!') || text.trim_start().starts_with('^') {
            out.refused.push(format!(
                "typed line refused by profile {}: `!` and `^…^` are history expansion, which \
                 recalls lines jitgate does not see; write the command out",
                self.profile
            ));
            return false;
        }
        match check_typed_line(&self.rules, &self.profile, text) {
            Ok(()) => {
                out.allowed.push(text.to_owned());
                true
            }
            Err(why) => {
                out.refused.push(why);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Interactive;

    /// Pushes as a person types: well after the previous piece.
    trait Typist {
        fn push_later(&mut self, input: &[u8]) -> Filtered;
    }

    impl Typist for LineFilter {
        fn push_later(&mut self, input: &[u8]) -> Filtered {
            let later = self.refused_at.map_or_else(Instant::now, |at| at + SETTLE);
            self.push(input, later)
        }
    }

    fn filter(tty: bool) -> LineFilter {
        let rules = ExecRules::new(
            ["ls", "cat", "ps", "sh"].map(str::to_owned),
            ["cat /etc/shadow".to_owned()],
            Interactive::Filter,
        );
        LineFilter::new(rules, "p", tty)
    }

    #[test]
    fn typed_lines_are_checked_at_enter() {
        let mut f = filter(true);
        let out = f.push_later(b"ls -l\r");
        assert_eq!(out.to_shell, b"ls -l\r");
        assert_eq!(out.allowed, ["ls -l"]);
        // Keystrokes pass as typed; the refused Enter becomes Ctrl-C.
        let out = f.push_later(b"cat /etc//shadow\r");
        assert_eq!(out.to_shell, b"cat /etc//shadow\x03");
        assert!(
            out.refused[0].contains("`cat /etc//shadow` is denied"),
            "{out:?}"
        );
        let out = f.push_later(b"rm -rf /tmp/x\r");
        assert!(
            out.refused[0].contains("`rm` is not an allowed command"),
            "{out:?}"
        );
        // The next line starts afresh.
        assert!(f.push_later(b"ps\r").refused.is_empty());
        assert!(
            f.push_later(b"\r").refused.is_empty(),
            "an empty line passes"
        );
        // What follows a refused line in the same piece (a paste) is not sent, and counted.
        let out = f.push_later(b"ls; cat /etc/shadow\rps\r");
        assert_eq!(out.to_shell, b"ls; cat /etc/shadow\x03");
        assert_eq!((out.refused.len(), out.discarded), (1, 3));
        // A nested shell reads the same filtered terminal.
        assert!(f.push_later(b"sh\r").refused.is_empty());
    }

    #[test]
    fn line_editing_is_followed_and_other_keys_never_reach_the_shell() {
        let mut f = filter(true);
        // Typing `rm`, erasing it, typing `ls`: the line is `ls`.
        assert!(f.push_later(b"rm\x7f\x7fls\r").refused.is_empty());
        assert!(
            f.push_later(b"rm -rf /\x15ls\r").refused.is_empty(),
            "Ctrl-U kills"
        );
        // ^H, Ctrl-W and Ctrl-L mean different things to different shells: never sent. ^H
        // "erasing" `cat /etc/shadow ` would reach a line-discipline shell as part of the line.
        let out = f.push_later(b"cat /etc/shadow \x08\x08\x08\x17\x0cls\r");
        assert_eq!(out.to_shell, b"cat /etc/shadow ls\x03");
        assert!(
            out.refused[0].contains("is denied"),
            "checked as the shell has it: {out:?}"
        );
        assert!(
            matches!(out.dropped, Some(Dropped::Explain(ref m)) if m.contains("editing keys are off")),
            "the first drop is explained: {out:?}"
        );
        assert!(f.push_later(b"rm -rf /\x03").refused.is_empty());
        assert!(
            f.push_later(b"ls\r").refused.is_empty(),
            "Ctrl-C abandons the line"
        );
        // Up, Home, Tab, Ctrl-O (run the line), Ctrl-X Ctrl-E (edit and run), Alt-. : dropped.
        let out = f.push_later(b"cat /etc/sha\x1b[A\x1b[1;5H\x1bOH\tdow\x0f\x18\x05\x1b.");
        assert_eq!(out.to_shell, b"cat /etc/shadow");
        assert_eq!(
            out.dropped,
            Some(Dropped::Bell),
            "explained once, a bell after"
        );
        let out = f.push_later(b"\r");
        assert_eq!(
            out.to_shell, b"\x03",
            "the line the shell holds is the one refused"
        );
        assert!(
            out.refused[0].contains("`cat /etc/shadow` is denied"),
            "{out:?}"
        );
        // A bracketed paste: the markers are dropped, the lines are checked.
        let out = f.push_later(b"\x1b[200~ls\rcat /etc/shadow\r\x1b[201~");
        assert_eq!(out.to_shell, b"ls\rcat /etc/shadow\x03");
        assert_eq!(out.discarded, 6);
        // History expansion recalls what was not seen.
        for line in ["cat !$\r", "^ls^cat\r", "echo hi!\r"] {
            let out = f.push_later(line.as_bytes());
            assert!(
                out.refused[0].contains("history expansion"),
                "{line:?}: {out:?}"
            );
        }
        // Bytes above 0x7f (Meta keys to a shell in the C locale) are dropped; Ctrl-D ends an
        // empty line only.
        assert_eq!(f.push_later("lsé\r".as_bytes()).to_shell, b"ls\r");
        assert_eq!(f.push_later(b"ls\x04").to_shell, b"ls");
        assert_eq!(f.push_later(b"\x15\x04").to_shell, b"\x15\x04");
    }

    /// Past MAX_TYPED nothing more reaches the shell (the terminal would cut the line where
    /// jitgate did not): `cat` + padding + `/etc/shadow` + `X` cannot be cut into a denied line.
    #[test]
    fn lines_are_capped_where_the_terminal_would_cut_them() {
        let mut f = filter(true);
        let mut typed = b"cat".to_vec();
        typed.resize(MAX_TYPED - b"/etc/shadow".len(), b' ');
        typed.extend_from_slice(b"/etc/shadowX\r");
        let out = f.push_later(&typed);
        assert_eq!(out.to_shell.len(), MAX_TYPED + 1, "the X is not sent");
        assert!(
            out.refused[0].contains("is denied"),
            "checked as the shell has it: {out:?}"
        );
    }

    /// Typed within SETTLE of a refused line's Ctrl-C: not sent at all.
    #[test]
    fn input_right_after_a_refusal_is_not_sent() {
        let mut f = filter(true);
        let t = Instant::now();
        assert_eq!(
            f.push(b"cat /etc/shadow\r", t).to_shell,
            b"cat /etc/shadow\x03"
        );
        let soon = f.push(b"echo cat /etc/shadow\r", t + SETTLE / 2);
        assert!(soon.to_shell.is_empty() && soon.discarded == 21, "{soon:?}");
        let later = f.push(b"ls\r", t + SETTLE);
        assert_eq!(later.to_shell, b"ls\r");
    }

    #[test]
    fn without_a_terminal_lines_are_held_until_allowed() {
        let mut f = filter(false);
        let out = f.push_later(b"ls\ncat /etc/shadow\nps\nc");
        assert_eq!(out.to_shell, b"ls\nps\n");
        assert_eq!(out.refused.len(), 1);
        let out = f.push_later(b"at /etc/shadow");
        assert!(out.to_shell.is_empty());
        let out = f.end();
        assert!(out.to_shell.is_empty(), "the last line is refused: {out:?}");
        let mut f = filter(false);
        f.push_later(b"ps");
        assert_eq!(f.end().to_shell, b"ps");
        let mut f = filter(false);
        let out = f.push_later(&vec![b'a'; MAX_LINE + 10]);
        assert!(out.refused[0].contains("longer than"), "{out:?}");
        let out = f.push_later(b"aaa\nls\n");
        assert_eq!(
            out.to_shell, b"ls\n",
            "the long line is dropped, the next passes"
        );
        let out = f.push_later(b"\xff\n");
        assert!(out.refused[0].contains("not UTF-8"), "{out:?}");
    }
}
