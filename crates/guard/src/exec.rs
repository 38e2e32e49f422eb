//! The exec guard: whether `kubectl exec` may run a command line, decided from the `command`
//! parameters alone, before anything reaches the pod.
//!
//! What is checked:
//!
//! - **The command** — the program that really runs — must be in the profile's `exec.allow`
//!   (when it lists any). Paths are normalised (`/bin/../bin/rm` is `rm`), and wrappers are
//!   looked through to the program they start: `env`, `nice`, `nohup`, `timeout`, `stdbuf`,
//!   `setsid`, `ionice`, `time`, `xargs`, `busybox APPLET`, `command`, `builtin`, `exec`.
//!   Shell builtins that start nothing else (`echo`, `true`, `cd`, `exit`, `test`, …) and
//!   `sleep` are always allowed; `eval`, `source`, `.`, `trap` and `alias` never are.
//! - **Shells** (`sh`, `bash`, `dash`, `ash`, `zsh`, `ksh`, `mksh`, `busybox sh`) must be
//!   allowed themselves. With `-c SCRIPT`, the script is parsed and every simple command in it
//!   must pass, recursively. The parser takes a deliberately small, fully understood part of
//!   the shell language — words, quotes, escapes, `$NAME` / `${NAME}` / `$(( arithmetic ))`
//!   expansions in arguments, `;`, `&&`, `||`, `|`, `&`, redirections to a word, comments — and refuses
//!   everything else: command substitution (`$(…)`, backticks), arithmetic, process
//!   substitution, subshells, groups, here-documents, control flow (`if`, `for`, `while`,
//!   `case`, functions), a command name that comes from an expansion, a shell that reads its
//!   commands from a pipe. Refusing what it does not understand is the point: a guard that
//!   parses more of bash than it can reason about is a guard that can be talked past.
//! - **Interactive shells** (a shell without `-c`, reading from the terminal or stdin) follow
//!   `exec.interactive`: `deny` refuses them; `record` and `filter` let them start, and under
//!   `filter` every line typed into them is checked at Enter ([`check_typed_line`], fed by
//!   [`LineFilter`](crate::LineFilter)).
//!   A shell that runs a script file is refused: the file cannot be seen.
//! - **Denied command lines** (`exec.deny`, e.g. `rm -rf /`, `cat /etc/shadow`) win over
//!   allow. A pattern is its command, its flags and its operands; a command line matches when
//!   it runs that command with every flag of the pattern (short flags in any grouping and
//!   order: `-rf`, `-fr`, `-r -f`) and every operand (paths compared normalised: `//`,
//!   `/./`, `/etc/../etc/shadow`; `DIR/*` counts as `DIR`; a glob that could match the operand
//!   counts). An argument whose value is not known — a `$VARIABLE`, the input of `xargs` —
//!   may be anything, so a line that could match is refused as undecidable.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

use crate::copy::{CopyRules, CopyRun};

/// Every shell the guard knows; a command by one of these names is treated as a shell.
pub const SHELLS: [&str; 7] = ["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh"];

/// Shell builtins that start no other program, and `sleep`: always allowed.
pub const ALWAYS_ALLOWED: [&str; 21] = [
    ":", "true", "false", "echo", "printf", "exit", "return", "cd", "pwd", "test", "[", "read",
    "shift", "wait", "break", "continue", "export", "unset", "set", "local", "sleep",
];

/// Builtins that run code the guard cannot see, refused wherever they appear.
const CODE_BUILTINS: [&str; 5] = ["eval", "source", ".", "trap", "alias"];

/// Nested `sh -c` levels the guard follows.
const MAX_DEPTH: usize = 4;

/// What `exec.interactive` says about shells without `-c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interactive {
    /// Refused.
    Deny,
    /// Allowed, and recorded like every session.
    Record,
    /// Allowed; each line typed into it is checked at Enter ([`LineFilter`](crate::LineFilter)).
    Filter,
}

/// A profile's `exec` block, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRules {
    allow: BTreeSet<String>,
    deny: Vec<DenyPattern>,
    interactive: Interactive,
    copy: Option<CopyRules>,
}

/// One `exec.deny` entry, split into command, flags and operands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DenyPattern {
    text: String,
    command: String,
    flags: BTreeSet<String>,
    operands: Vec<String>,
}

impl ExecRules {
    /// Rules from the policy: allowed command names (empty: any command not denied), denied
    /// command lines, and what interactive shells may do.
    pub fn new<A, D>(allow: A, deny: D, interactive: Interactive) -> Self
    where
        A: IntoIterator<Item = String>,
        D: IntoIterator<Item = String>,
    {
        Self {
            allow: allow.into_iter().collect(),
            deny: deny
                .into_iter()
                .filter_map(|d| DenyPattern::parse(&d))
                .collect(),
            interactive,
            copy: None,
        }
    }

    /// With `exec.copy`: `tar` runs only as `kubectl cp` runs it, on these paths.
    #[must_use]
    pub fn with_copy(mut self, copy: CopyRules) -> Self {
        self.copy = Some(copy);
        self
    }

    fn allows(&self, name: &str) -> bool {
        self.allow.is_empty() || self.allow.contains(name) || ALWAYS_ALLOWED.contains(&name)
    }

    fn allowed_text(&self) -> String {
        self.allow.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

impl DenyPattern {
    fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        let command = basename(&normalise_path(words.next()?));
        let mut flags = BTreeSet::new();
        let mut operands = Vec::new();
        for word in words {
            if is_flag(word) {
                flags.extend(explode_flags(word));
            } else {
                operands.push(normalise_path(word));
            }
        }
        Some(Self {
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
            command,
            flags,
            operands,
        })
    }
}

/// One exec request: its argv and whether kubectl asked for a terminal.
#[derive(Debug, Clone, Copy)]
pub struct ExecRequest<'a> {
    /// The `command` parameters, in order.
    pub command: &'a [String],
    /// `tty=true`.
    pub tty: bool,
}

/// What an allowed exec still needs while it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecApproval {
    /// The exec is `kubectl cp`'s upload into this directory: its stdin is a tar archive, to be
    /// read by an [`UploadWatch`](crate::UploadWatch) on its way to the pod.
    pub copy_into: Option<String>,
    /// The exec is an interactive shell under `exec.interactive: filter`: every line typed
    /// into it is to be checked, by a [`LineFilter`](crate::LineFilter).
    pub filter_lines: bool,
}

/// Decides an exec under `profile`'s rules; `Err` is the whole message for the person.
///
/// # Errors
///
/// The command line is refused: not allowed, denied, or not decidable.
pub fn check_exec(
    rules: &ExecRules,
    profile: &str,
    request: ExecRequest<'_>,
) -> Result<ExecApproval, String> {
    let words: Vec<Word> = request.command.iter().map(|a| Word::literal(a)).collect();
    if words.is_empty() {
        return Err(format!(
            "exec refused by profile {profile}: the request names no command"
        ));
    }
    let checker = Checker {
        rules,
        depth: 0,
        copy_into: RefCell::new(None),
        filter_lines: Cell::new(false),
    };
    checker
        .simple(&words, Origin::Argv)
        .map_err(|why| format!("exec refused by profile {profile}: {why}"))?;
    Ok(ExecApproval {
        copy_into: checker.copy_into.into_inner(),
        filter_lines: checker.filter_lines.get(),
    })
}

/// Decides a line typed into an interactive shell under `exec.interactive: filter`: the line
/// is read as the shell would read it, and every command in it must pass, as in `sh -c LINE`.
/// A shell started from it reads the same filtered terminal, so it may start.
///
/// # Errors
///
/// The line is refused: a command not allowed or denied, or a construct the guard does not
/// read.
pub fn check_typed_line(rules: &ExecRules, profile: &str, line: &str) -> Result<(), String> {
    let checker = Checker {
        rules,
        depth: 1,
        copy_into: RefCell::new(None),
        filter_lines: Cell::new(false),
    };
    parse_script(line)
        .and_then(|commands| {
            commands
                .iter()
                .try_for_each(|c| checker.simple(c, Origin::Typed))
        })
        .map_err(|why| format!("typed line refused by profile {profile}: {why}"))
}

/// Where a simple command comes from: the request's argv, a script, or a line typed into an
/// interactive shell under `exec.interactive: filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Argv,
    Script,
    Typed,
}

/// A word of a command line: its value once quotes are removed, and what the guard knows of
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    text: String,
    /// Holds an expansion (`$X`, `${X}`, `~`): the real value is not known.
    expanded: bool,
    /// Holds an unquoted glob character.
    glob: bool,
}

impl Word {
    fn literal(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            expanded: false,
            glob: false,
        }
    }
}

struct Checker<'a> {
    rules: &'a ExecRules,
    depth: usize,
    /// Set when the command is kubectl cp's upload.
    copy_into: RefCell<Option<String>>,
    /// Set when the command is an interactive shell whose typed lines are to be checked.
    filter_lines: Cell<bool>,
}

impl Checker<'_> {
    /// Checks one simple command: assignments, a command name, its arguments.
    fn simple(&self, words: &[Word], origin: Origin) -> Result<(), String> {
        let mut rest = words;
        if origin != Origin::Argv {
            while let Some(first) = rest.first() {
                if is_assignment(first) {
                    rest = &rest[1..];
                } else {
                    break;
                }
            }
        }
        let Some((name_word, args)) = rest.split_first() else {
            return Ok(());
        };
        if name_word.expanded || name_word.glob {
            return Err(format!(
                "the command name {:?} comes from an expansion, so what runs cannot be known",
                name_word.text
            ));
        }
        let name = basename(&normalise_path(&name_word.text));
        if CODE_BUILTINS.contains(&name.as_str()) {
            return Err(format!(
                "`{name}` runs code jitgate cannot see; run the commands themselves"
            ));
        }
        if let Some(inner) = self.look_through(&name, args)? {
            return match inner {
                Inner::Command(words) => self.simple(words, origin),
                Inner::UnknownArgs(words) => self.with_unknown_args(words, origin),
                Inner::Itself => self.program(&name, args, origin),
            };
        }
        if SHELLS.contains(&name.as_str()) {
            return self.shell(&name, args, origin);
        }
        self.program(&name, args, origin)
    }

    /// `xargs CMD ARGS…`: CMD gets more arguments from stdin, which the guard cannot see.
    fn with_unknown_args(&self, words: &[Word], origin: Origin) -> Result<(), String> {
        let mut known = words.to_vec();
        known.push(Word {
            text: "<stdin>".to_owned(),
            expanded: true,
            glob: false,
        });
        if let Some(first) = words.first()
            && SHELLS.contains(&basename(&normalise_path(&first.text)).as_str())
        {
            return Err("xargs starting a shell runs commands jitgate cannot see".to_owned());
        }
        self.simple(&known, origin)
    }

    /// A program (not a shell, not a wrapper): allowed, and no deny pattern matches.
    fn program(&self, name: &str, args: &[Word], origin: Origin) -> Result<(), String> {
        if name == "tar"
            && let Some(copy) = &self.rules.copy
        {
            return self.copy(copy, args, origin);
        }
        if !self.rules.allows(name) {
            return Err(format!(
                "`{name}` is not an allowed command (allowed: {}); run one of those, or ask for \
                 `{name}` to be added to the profile's exec.allow in the jitgate policy",
                self.rules.allowed_text()
            ));
        }
        self.not_denied(name, args)
    }

    /// `tar` under `exec.copy`: one of kubectl cp's shapes on allowed paths; an upload only as
    /// the exec's own command, whose stdin is the archive.
    fn copy(&self, copy: &CopyRules, args: &[Word], origin: Origin) -> Result<(), String> {
        if let Some(unknown) = args.iter().find(|w| w.expanded || w.glob) {
            return Err(format!(
                "`{}`: {:?} is not known before it runs (a variable, a glob, the input of \
                 xargs), so what tar would copy cannot be decided; name the path",
                command_text("tar", args),
                unknown.text
            ));
        }
        let texts: Vec<&str> = args.iter().map(|w| w.text.as_str()).collect();
        if let CopyRun::ToPod(dir) = copy.check(&texts)? {
            if origin != Origin::Argv {
                return Err(format!(
                    "`{}` inside a script extracts an archive jitgate does not read; copy into \
                     the pod with kubectl cp",
                    command_text("tar", args)
                ));
            }
            *self.copy_into.borrow_mut() = Some(dir);
        }
        self.not_denied("tar", args)
    }

    /// No `exec.deny` pattern matches, or could.
    fn not_denied(&self, name: &str, args: &[Word]) -> Result<(), String> {
        for pattern in &self.rules.deny {
            match matches_deny(pattern, name, args) {
                Match::No => {}
                Match::Yes => {
                    return Err(format!(
                        "`{}` is denied (exec.deny: {:?})",
                        command_text(name, args),
                        pattern.text
                    ));
                }
                Match::Maybe => {
                    return Err(format!(
                        "`{}` could be `{}`, which is denied (exec.deny): its arguments depend \
                         on what jitgate cannot know (variables, the working directory, the input \
                         of xargs); write them out as absolute paths",
                        command_text(name, args),
                        pattern.text
                    ));
                }
            }
        }
        Ok(())
    }

    fn shell(&self, name: &str, args: &[Word], origin: Origin) -> Result<(), String> {
        if !self.rules.allows(name) {
            return self.program(name, args, origin);
        }
        match shell_invocation(args)? {
            ShellRun::Script(script) => {
                if script.expanded {
                    return Err(format!(
                        "the script of `{name} -c` comes from an expansion and cannot be checked"
                    ));
                }
                if self.depth >= MAX_DEPTH {
                    return Err(format!(
                        "shells nested more than {MAX_DEPTH} deep are not followed"
                    ));
                }
                let inner = Checker {
                    rules: self.rules,
                    depth: self.depth + 1,
                    copy_into: RefCell::new(None),
                    filter_lines: Cell::new(false),
                };
                for command in parse_script(&script.text)? {
                    inner.simple(&command, Origin::Script)?;
                }
                Ok(())
            }
            ShellRun::File(file) => Err(format!(
                "`{name} {file}` runs a script file jitgate cannot see; run its commands with \
                 `{name} -c`"
            )),
            ShellRun::Interactive => match (origin, self.rules.interactive) {
                // A shell started from a filtered line reads the same filtered terminal.
                (Origin::Typed, _) => Ok(()),
                (Origin::Script, _) => Err(format!(
                    "a `{name}` inside a script reads its commands from a pipe or the terminal, \
                     which jitgate cannot check"
                )),
                (Origin::Argv, Interactive::Deny) => Err(format!(
                    "interactive shells are not allowed (exec.interactive: deny); run single \
                     commands (kubectl exec POD -- ps aux), or `{name} -c 'COMMANDS'`"
                )),
                (Origin::Argv, Interactive::Record) => Ok(()),
                (Origin::Argv, Interactive::Filter) => {
                    self.filter_lines.set(true);
                    Ok(())
                }
            },
        }
    }

    /// The program a wrapper starts; `None` if `name` is not a wrapper.
    fn look_through<'w>(&self, name: &str, args: &'w [Word]) -> Result<Option<Inner<'w>>, String> {
        let spec: &[(&str, bool)] = match name {
            // (option, takes a value)
            "env" => &[
                ("-i", false),
                ("-0", false),
                ("-u", true),
                ("-C", true),
                ("-v", false),
            ],
            "nice" => &[("-n", true)],
            "nohup" | "setsid" | "command" | "builtin" | "exec" => {
                &[("-f", false), ("-w", false), ("-c", false), ("-p", false)]
            }
            "timeout" => &[
                ("-s", true),
                ("-k", true),
                ("-v", false),
                ("--preserve-status", false),
                ("--foreground", false),
            ],
            "stdbuf" => &[("-i", true), ("-o", true), ("-e", true)],
            "ionice" => &[("-c", true), ("-n", true), ("-t", false)],
            "time" => &[("-p", false), ("-v", false), ("-f", true), ("-o", true)],
            "xargs" => &[
                ("-0", false),
                ("-r", false),
                ("-t", false),
                ("-x", false),
                ("-n", true),
                ("-L", true),
                ("-P", true),
                ("-s", true),
                ("-d", true),
                ("-E", true),
                ("-I", true),
                ("-a", true),
            ],
            "busybox" => &[],
            _ => return Ok(None),
        };
        let mut i = 0;
        while let Some(word) = args.get(i) {
            let text = word.text.as_str();
            if word.expanded {
                return Err(format!(
                    "an argument of `{name}` comes from an expansion, so what it starts cannot be \
                     known"
                ));
            }
            if text == "--" {
                i += 1;
                break;
            }
            if name == "env" && is_assignment(word) {
                i += 1;
                continue;
            }
            if !text.starts_with('-') || text == "-" {
                break;
            }
            if name == "nice" && text[1..].bytes().all(|b| b.is_ascii_digit()) {
                i += 1;
                continue;
            }
            // `--name=value` and `-oL` (option with its value attached).
            let known = spec.iter().find(|(opt, takes)| {
                text == *opt
                    || (text.starts_with(&format!("{opt}=")) && opt.starts_with("--"))
                    || (*takes && !opt.starts_with("--") && text.starts_with(opt) && text.len() > 2)
            });
            match known {
                Some((opt, true)) if text == *opt => i += 2,
                Some(_) => i += 1,
                None => {
                    return Err(format!(
                        "`{name} {text}`: jitgate does not know this option, so what `{name}` \
                         starts cannot be known"
                    ));
                }
            }
        }
        // timeout's duration comes before the command.
        if name == "timeout" {
            i += 1;
        }
        let inner = args.get(i..).unwrap_or_default();
        Ok(Some(match (name, inner.is_empty()) {
            (_, true) if name == "xargs" => Inner::UnknownArgs(&XARGS_DEFAULT[..]),
            (_, true) => Inner::Itself,
            ("xargs", false) => Inner::UnknownArgs(inner),
            _ => Inner::Command(inner),
        }))
    }
}

static XARGS_DEFAULT: std::sync::LazyLock<Vec<Word>> =
    std::sync::LazyLock::new(|| vec![Word::literal("echo")]);

/// What a wrapper starts.
enum Inner<'w> {
    /// This command line.
    Command(&'w [Word]),
    /// This command line, with more arguments the guard cannot see.
    UnknownArgs(&'w [Word]),
    /// Nothing: the wrapper runs alone (`env` prints the environment).
    Itself,
}

/// What a shell's arguments make it do.
enum ShellRun<'w> {
    Script(&'w Word),
    File(String),
    Interactive,
}

fn shell_invocation(args: &[Word]) -> Result<ShellRun<'_>, String> {
    let mut i = 0;
    let mut script = false;
    while let Some(word) = args.get(i) {
        let text = word.text.as_str();
        if word.expanded {
            return Err("an option of the shell comes from an expansion".to_owned());
        }
        if text == "--" || text == "-" {
            i += 1;
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            match long {
                "norc" | "noprofile" | "login" | "posix" | "noediting" | "restricted" => {
                    i += 1;
                    continue;
                }
                "rcfile" | "init-file" => {
                    return Err(format!("`--{long}` runs a file jitgate cannot see"));
                }
                _ => {
                    return Err(format!(
                        "the shell option --{long} is not one jitgate knows"
                    ));
                }
            }
        }
        let Some(cluster) = text.strip_prefix('-').or_else(|| text.strip_prefix('+')) else {
            break;
        };
        if cluster.is_empty() || !cluster.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!(
                "the shell option {text:?} is not one jitgate knows"
            ));
        }
        i += 1;
        if cluster.contains('c') && text.starts_with('-') {
            script = true;
        }
        if cluster.contains('o') {
            i += 1; // -o OPTION
        }
    }
    if script {
        return match args.get(i) {
            Some(word) => Ok(ShellRun::Script(word)),
            None => Err("`-c` without a script".to_owned()),
        };
    }
    match args.get(i) {
        Some(file) => Ok(ShellRun::File(file.text.clone())),
        None => Ok(ShellRun::Interactive),
    }
}

/// Splits a script into its simple commands (see the module docs for the language taken).
///
/// # Errors
///
/// A construct outside that language, or a script that does not end where it should (an
/// unterminated quote, a dangling operator).
fn parse_script(script: &str) -> Result<Vec<Vec<Word>>, String> {
    let mut commands = Vec::new();
    let mut current: Vec<Word> = Vec::new();
    let mut chars = script.chars().peekable();
    let mut needs_command = false;
    let refuse = |what: &str| {
        Err(format!(
            "the script uses {what}, which jitgate does not allow in a checked script; run the \
             commands one by one"
        ))
    };
    loop {
        // Between words.
        match chars.peek().copied() {
            None => break,
            Some(' ' | '\t') => {
                chars.next();
                continue;
            }
            Some('#') => {
                while chars.next_if(|c| *c != '\n').is_some() {}
                continue;
            }
            Some('\n') => {
                chars.next();
                if !current.is_empty() {
                    commands.push(std::mem::take(&mut current));
                }
                continue;
            }
            Some(c @ (';' | '&' | '|')) => {
                chars.next();
                let doubled = chars.next_if_eq(&c).is_some();
                match (c, doubled) {
                    (';', true) => return refuse("`;;` (case)"),
                    ('&', false) if chars.peek() == Some(&'>') => {
                        chars.next();
                        chars.next_if_eq(&'>');
                        redirect_target(&mut chars)?;
                        continue;
                    }
                    ('|', false) => {
                        chars.next_if_eq(&'&');
                    }
                    _ => {}
                }
                if current.is_empty() {
                    return Err(format!("the script has `{c}` where a command should be"));
                }
                commands.push(std::mem::take(&mut current));
                needs_command = matches!((c, doubled), ('|', _) | ('&', true));
                continue;
            }
            Some('(' | ')') => return refuse("a subshell or process substitution `( … )`"),
            Some('`') => return refuse("command substitution with backticks"),
            Some('<' | '>') => {
                let op = chars.next().unwrap_or('>');
                if op == '<' && chars.peek() == Some(&'<') {
                    return refuse("a here-document `<<`");
                }
                if chars.peek() == Some(&'(') {
                    return refuse("process substitution");
                }
                chars.next_if(|c| matches!(c, '>' | '&' | '|'));
                redirect_target(&mut chars)?;
                continue;
            }
            Some(_) => {}
        }
        let word = read_word(&mut chars)?;
        // `2>file`: a number glued to a redirection is its file descriptor.
        if matches!(chars.peek(), Some('<' | '>'))
            && !word.expanded
            && !word.text.is_empty()
            && word.text.bytes().all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if current.is_empty() && is_keyword(&word) {
            return refuse(&format!(
                "`{}` (compound commands and control flow)",
                word.text
            ));
        }
        current.push(word);
        needs_command = false;
    }
    if !current.is_empty() {
        commands.push(current);
    } else if needs_command {
        return Err("the script ends with an operator where a command should be".to_owned());
    }
    Ok(commands)
}

fn redirect_target(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<(), String> {
    while chars.next_if(|c| matches!(c, ' ' | '\t')).is_some() {}
    match chars.peek() {
        None | Some(';' | '&' | '|' | '\n' | '<' | '>' | '(' | ')') => {
            Err("a redirection without a target".to_owned())
        }
        Some(_) => read_word(chars).map(|_| ()),
    }
}

/// Reads one word at the cursor (quotes, escapes, expansions); stops before an operator or
/// blank.
fn read_word(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Word, String> {
    let mut word = Word {
        text: String::new(),
        expanded: false,
        glob: false,
    };
    let refuse = |what: &str| -> Result<Word, String> {
        Err(format!(
            "the script uses {what}, which jitgate does not allow in a checked script; run the \
             commands one by one"
        ))
    };
    let mut first = true;
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')' => break,
            '`' => return refuse("command substitution with backticks"),
            '\'' => {
                chars.next();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.text.push(ch),
                        None => return Err("the script has an unterminated ' quote".to_owned()),
                    }
                }
            }
            '"' => {
                chars.next();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('$' | '`' | '"' | '\\')) => word.text.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                word.text.push('\\');
                                word.text.push(ch);
                            }
                            None => return Err("the script ends inside a \" quote".to_owned()),
                        },
                        Some('`') => return refuse("command substitution with backticks"),
                        Some('$') => expansion(chars, &mut word)?,
                        Some(ch) => word.text.push(ch),
                        None => return Err("the script has an unterminated \" quote".to_owned()),
                    }
                }
            }
            '\\' => {
                chars.next();
                match chars.next() {
                    Some('\n') => {}
                    Some(ch) => word.text.push(ch),
                    None => return Err("the script ends with a lone \\".to_owned()),
                }
            }
            '$' => {
                chars.next();
                expansion(chars, &mut word)?;
            }
            '~' if first => {
                chars.next();
                word.expanded = true;
                word.text.push('~');
            }
            '*' | '?' | '[' => {
                chars.next();
                word.glob = true;
                word.text.push(c);
            }
            // Brace expansion makes words the guard does not spell out; `{` alone is a group.
            '{' | '}' => {
                chars.next();
                word.glob = true;
                word.text.push(c);
            }
            _ => {
                chars.next();
                word.text.push(c);
            }
        }
        first = false;
    }
    Ok(word)
}

/// After a `$`: a parameter expansion (marks the word), or a literal `$`.
fn expansion(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    word: &mut Word,
) -> Result<(), String> {
    let refuse = |what: &str| {
        Err(format!(
            "the script uses {what}, which jitgate does not allow in a checked script; run the \
             commands one by one"
        ))
    };
    match chars.peek().copied() {
        Some('(') => {
            let mut ahead = chars.clone();
            ahead.next();
            if ahead.peek() != Some(&'(') {
                return refuse("command substitution `$( … )`");
            }
            // Arithmetic `$(( … ))`: numbers, names and operators only.
            chars.next();
            chars.next();
            let mut depth = 0usize;
            let mut body = String::new();
            loop {
                match chars.next() {
                    Some(')') if depth == 0 => {
                        if chars.next_if_eq(&')').is_some() {
                            break;
                        }
                        return Err(
                            "the script has an arithmetic expansion that does not end with ))"
                                .to_owned(),
                        );
                    }
                    Some(')') => {
                        depth -= 1;
                        body.push(')');
                    }
                    Some('(') => {
                        depth += 1;
                        body.push('(');
                    }
                    Some(ch)
                        if ch.is_ascii_alphanumeric() || " \t_+-*/%<>=!&|^~?:,$".contains(ch) =>
                    {
                        body.push(ch);
                    }
                    Some(ch) => {
                        return refuse(&format!(
                            "{ch:?} inside an arithmetic expansion `$(( … ))`"
                        ));
                    }
                    None => return Err("the script has an unterminated $((".to_owned()),
                }
            }
            if body.contains("$(") {
                return refuse("command substitution inside `$(( … ))`");
            }
            word.expanded = true;
            word.text.push_str(&format!("$(({body}))"));
            Ok(())
        }
        Some('{') => {
            chars.next();
            let mut name = String::new();
            loop {
                match chars.next() {
                    Some('}') => break,
                    Some('$' | '`' | '(') => return refuse("an expansion inside `${ … }`"),
                    Some(ch) => name.push(ch),
                    None => return Err("the script has an unterminated ${".to_owned()),
                }
            }
            word.expanded = true;
            word.text.push_str(&format!("${{{name}}}"));
            Ok(())
        }
        Some(ch) if ch.is_ascii_alphabetic() || ch == '_' => {
            word.text.push('$');
            while let Some(ch) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
                word.text.push(ch);
            }
            word.expanded = true;
            Ok(())
        }
        Some(ch) if ch.is_ascii_digit() || "@*#?$!-".contains(ch) => {
            chars.next();
            word.text.push('$');
            word.text.push(ch);
            word.expanded = true;
            Ok(())
        }
        Some('\'') => refuse("`$'…'` quoting"),
        Some('"') => refuse("`$\"…\"` quoting"),
        _ => {
            word.text.push('$');
            Ok(())
        }
    }
}

fn is_keyword(word: &Word) -> bool {
    const KEYWORDS: [&str; 21] = [
        "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
        "function", "select", "[[", "]]", "!", "coproc", "time", "{", "}",
    ];
    // `time` is a keyword in bash but also a program; as a program it is a wrapper.
    word.text != "time" && KEYWORDS.contains(&word.text.as_str())
}

fn is_assignment(word: &Word) -> bool {
    match word.text.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => false,
    }
}

fn is_flag(text: &str) -> bool {
    text.len() > 1 && text.starts_with('-')
}

/// `-rf` → {`-r`, `-f`}; long flags stay whole.
fn explode_flags(text: &str) -> Vec<String> {
    if text.starts_with("--") {
        vec![text.to_owned()]
    } else {
        text[1..].chars().map(|c| format!("-{c}")).collect()
    }
}

/// Lexical normalisation: `//` → `/`, `.` segments dropped, `..` resolved; a relative path
/// keeps its leading `..`.
pub(crate) fn normalise_path(path: &str) -> String {
    if !path.contains('/') {
        return path.to_owned();
    }
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// Ordered: `No < Maybe < Yes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    No,
    Maybe,
    Yes,
}

fn matches_deny(pattern: &DenyPattern, name: &str, args: &[Word]) -> Match {
    if pattern.command != name {
        return Match::No;
    }
    let unknown = args.iter().any(|a| a.expanded);
    let mut flags = BTreeSet::new();
    let mut operands: Vec<&Word> = Vec::new();
    let mut after_dashes = false;
    for arg in args.iter().filter(|a| !a.expanded) {
        if !after_dashes && arg.text == "--" {
            after_dashes = true;
        } else if !after_dashes && is_flag(&arg.text) {
            flags.extend(explode_flags(&arg.text));
        } else {
            operands.push(arg);
        }
    }
    let mut result = if pattern.flags.is_subset(&flags) {
        Match::Yes
    } else if unknown {
        Match::Maybe
    } else {
        return Match::No;
    };
    for p in &pattern.operands {
        let best = operands
            .iter()
            .map(|o| operand_covers(o, p))
            .max()
            .unwrap_or(Match::No);
        match (best, unknown) {
            (Match::Yes, _) => {}
            (Match::Maybe, _) | (Match::No, true) => result = Match::Maybe,
            (Match::No, false) => return Match::No,
        }
    }
    result
}

/// Whether the operand `o` names the pattern's operand `p`: certainly, possibly (a relative
/// path names different files in different working directories, and the guard does not know
/// the container's), or not.
fn operand_covers(o: &Word, p: &str) -> Match {
    let mut text = normalise_path(&o.text);
    if o.glob {
        // `DIR/*` (and `DIR/.*`) is everything in DIR: DIR itself for a deny pattern.
        while let Some(stripped) = text.strip_suffix("/*").or_else(|| text.strip_suffix("/.*")) {
            text = if stripped.is_empty() {
                "/".to_owned()
            } else {
                stripped.to_owned()
            };
        }
    }
    let equal = |t: &str, target: &str| t == target || (o.glob && glob_matches(t, target));
    if equal(&text, p) {
        return Match::Yes;
    }
    if text.starts_with('/') || !p.starts_with('/') {
        return Match::No;
    }
    // Relative: `.`, `..`, `*` could be any directory; otherwise it names `p` when `p` ends
    // with it.
    let everything = text == "." || text.split('/').all(|s| s == "..") || (o.glob && text == "*");
    let suffixes = p
        .match_indices('/')
        .map(|(i, _)| &p[i + 1..])
        .filter(|s| !s.is_empty());
    if everything || suffixes.into_iter().any(|s| equal(&text, s)) {
        Match::Maybe
    } else {
        Match::No
    }
}

/// Shell pattern matching on a path: `*` any run of characters but `/`, `?` one character
/// but `/`, `[…]` one of a set (treated as `?`, so it matches more, never less).
fn glob_matches(glob: &str, name: &str) -> bool {
    let glob: Vec<char> = {
        let mut out = Vec::new();
        let mut chars = glob.chars();
        while let Some(c) = chars.next() {
            if c == '[' {
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                }
                out.push('?');
            } else {
                out.push(c);
            }
        }
        out
    };
    let name: Vec<char> = name.chars().collect();
    let (mut g, mut n) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while n < name.len() {
        if g < glob.len() && ((glob[g] == '?' && name[n] != '/') || glob[g] == name[n]) {
            g += 1;
            n += 1;
        } else if g < glob.len() && glob[g] == '*' {
            star = Some(g);
            mark = n;
            g += 1;
        } else if let Some(s) = star.filter(|_| name[mark] != '/') {
            g = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    while g < glob.len() && glob[g] == '*' {
        g += 1;
    }
    g == glob.len()
}

fn command_text(name: &str, args: &[Word]) -> String {
    std::iter::once(name)
        .chain(args.iter().map(|a| a.text.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped `oncall-debug` exec block.
    fn rules(interactive: Interactive) -> ExecRules {
        let allow = [
            "ls", "cat", "ps", "env", "sh", "bash", "top", "df", "du", "grep", "tail", "head",
            "curl", "nslookup", "dig", "tar",
        ];
        ExecRules::new(
            allow.map(str::to_owned),
            ["rm -rf /".to_owned(), "cat /etc/shadow".to_owned()],
            interactive,
        )
    }

    fn run(argv: &[&str]) -> Result<(), String> {
        let command: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
        check_exec(
            &rules(Interactive::Record),
            "oncall-debug",
            ExecRequest {
                command: &command,
                tty: false,
            },
        )
        .map(|_| ())
    }

    fn script(text: &str) -> Result<(), String> {
        run(&["sh", "-c", text])
    }

    #[test]
    fn allowed_commands_run_and_others_are_refused_with_the_list() {
        assert_eq!(run(&["ls", "-la", "/var/log"]), Ok(()));
        assert_eq!(run(&["/bin/cat", "/etc/hostname"]), Ok(()));
        assert_eq!(run(&["true"]), Ok(()), "builtins are always allowed");
        assert_eq!(run(&["sleep", "600"]), Ok(()));
        let err = run(&["mkfs.ext4", "/dev/sda"]).unwrap_err();
        assert!(
            err.starts_with(
                "exec refused by profile oncall-debug: `mkfs.ext4` is not an allowed command"
            ),
            "{err}"
        );
        assert!(err.contains("allowed: bash, cat, curl"), "{err}");
        assert!(err.contains("exec.allow"), "{err}");
        assert!(
            check_exec(
                &rules(Interactive::Record),
                "p",
                ExecRequest {
                    command: &[],
                    tty: false
                }
            )
            .is_err()
        );
    }

    #[test]
    fn denied_lines_are_refused_in_every_spelling() {
        for argv in [
            &["rm", "-rf", "/"][..],
            &["rm", "-fr", "/"],
            &["rm", "-r", "-f", "/"],
            &["rm", "-rfv", "/tmp", "/"],
            &["rm", "-rf", "//"],
            &["rm", "-rf", "/."],
            &["rm", "-rf", "--", "/"],
            &["/bin/../bin/rm", "-rf", "/"],
            &["cat", "/etc/shadow"],
            &["cat", "/etc//shadow"],
            &["cat", "/etc/../etc/./shadow"],
        ] {
            // rm is not even allowed; allow it to see the deny list win.
            let rules = ExecRules::new(
                ["rm".to_owned(), "cat".to_owned()],
                ["rm -rf /".to_owned(), "cat /etc/shadow".to_owned()],
                Interactive::Deny,
            );
            let command: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
            let err = check_exec(
                &rules,
                "p",
                ExecRequest {
                    command: &command,
                    tty: false,
                },
            )
            .unwrap_err();
            assert!(err.contains("is denied (exec.deny"), "{argv:?}: {err}");
        }
        assert_eq!(run(&["cat", "/etc/passwd"]), Ok(()));
        assert_eq!(run(&["cat", "/etc/shadow.example"]), Ok(()));
    }

    #[test]
    fn globs_variables_and_relative_paths_that_could_be_denied_are_undecidable() {
        for text in [
            "cat /etc/sha*",
            "cat /etc/shado?",
            "cat $F",
            "cat \"$HOME/../../etc/shadow\"",
            "cat shadow",
            "cd /etc; cat shadow",
            "cat *",
        ] {
            let err = script(text).unwrap_err();
            assert!(
                err.contains("which is denied") || err.contains("is denied"),
                "{text}: {err}"
            );
        }
        assert!(script("rm -rf /*").is_err(), "rm is not allowed at all");
        assert!(
            script("cat /etc/hostname $F").is_err(),
            "$F could be /etc/shadow"
        );
        assert_eq!(script("cat README.md"), Ok(()));
        assert_eq!(script("cat /var/log/*.log"), Ok(()));
    }

    #[test]
    fn wrappers_are_looked_through() {
        assert_eq!(run(&["env", "FOO=1", "ls"]), Ok(()));
        assert_eq!(run(&["env"]), Ok(()), "env alone prints the environment");
        assert_eq!(run(&["nice", "-n", "10", "ls"]), Ok(()));
        assert_eq!(run(&["timeout", "-s", "KILL", "5s", "ls"]), Ok(()));
        assert_eq!(run(&["nohup", "ls"]), Ok(()));
        for argv in [
            &["env", "-i", "cat", "/etc/shadow"][..],
            &["nice", "-5", "cat", "/etc/shadow"],
            &["timeout", "10", "cat", "/etc/shadow"],
            &["stdbuf", "-oL", "cat", "/etc/shadow"],
            &["busybox", "cat", "/etc/shadow"],
            &["setsid", "nohup", "env", "cat", "/etc/shadow"],
        ] {
            assert!(run(argv).unwrap_err().contains("is denied"), "{argv:?}");
        }
        assert!(
            run(&["env", "mkfs", "/dev/sda"])
                .unwrap_err()
                .contains("`mkfs` is not an allowed")
        );
        assert!(run(&["busybox", "sh", "-c", "mkfs /dev/sda"]).is_err());
        assert!(
            run(&["env", "--split-string=rm -rf /"]).is_err(),
            "unknown options are undecidable"
        );
        // xargs gets arguments from stdin: a command that could be denied is refused.
        assert!(
            run(&["xargs", "cat"])
                .unwrap_err()
                .contains("could be `cat /etc/shadow`")
        );
        assert!(run(&["xargs", "sh"]).is_err());
        assert_eq!(run(&["xargs", "ls"]), Ok(()));
    }

    #[test]
    fn shell_scripts_are_parsed_and_every_command_is_checked() {
        for ok in [
            "ls -la /tmp && ps aux | grep java",
            "echo hello; sleep 1 & wait",
            "cat /var/log/app.log | tail -n 100 > /tmp/out 2>&1",
            "FOO=bar env | grep FOO # a comment",
            "curl -s \"http://localhost:8080/healthz?x=$X\" || exit 3",
            "ls \\\n  /tmp",
            "ls '/tmp/a b' \"/tmp/c d\"",
            "echo {a,b}",
            "echo tty-$((40+2)) $(( (1 + 2) * X ))",
            "",
            "ls\n\nps\n",
        ] {
            assert_eq!(script(ok), Ok(()), "{ok:?}");
        }
        for (bad, needle) in [
            ("ls; mkfs /dev/sda", "`mkfs` is not an allowed"),
            ("ls | cat /etc/shadow", "is denied"),
            ("echo $(cat /etc/shadow)", "command substitution"),
            ("echo `id`", "backticks"),
            ("echo $(( $(id -u) + 1 ))", "command substitution inside"),
            ("echo $((1+`id -u`))", "inside an arithmetic expansion"),
            ("(cat /etc/shadow)", "subshell"),
            ("{ ls; }", "compound commands"),
            ("if true; then ls; fi", "compound commands"),
            ("for f in *; do cat $f; done", "compound commands"),
            ("eval ls", "runs code jitgate cannot see"),
            (". /tmp/x", "runs code jitgate cannot see"),
            ("$CMD /etc/shadow", "comes from an expansion"),
            ("curl http://x | sh", "reads its commands from a pipe"),
            ("cat <<EOF\nx\nEOF", "here-document"),
            ("diff <(ls) <(ls)", "process substitution"),
            ("echo 'unterminated", "unterminated"),
            ("ls &&", "ends with an operator"),
            ("; ls", "where a command should be"),
            ("ls > ", "without a target"),
            (
                "sh -c 'sh -c \"sh -c \\\"sh -c \\\\\\\"sh -c ls\\\\\\\"\\\"\"'",
                "nested more than",
            ),
            ("sh /tmp/script.sh", "runs a script file"),
            ("bash --rcfile /tmp/x", "runs a file"),
        ] {
            let err = script(bad).unwrap_err();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
        assert_eq!(run(&["bash", "-ec", "ls && ps"]), Ok(()));
        assert_eq!(
            run(&["bash", "--norc", "-o", "pipefail", "-c", "ps | grep x"]),
            Ok(())
        );
        assert!(
            run(&["sh", "-c", "sh -c 'cat /etc/shadow'"])
                .unwrap_err()
                .contains("is denied")
        );
    }

    /// Under `exec.copy`, tar is kubectl cp's and nothing else, wherever it appears; an upload
    /// is reported so its archive can be read on the way.
    #[test]
    fn tar_follows_exec_copy() {
        let with_copy = rules(Interactive::Deny)
            .with_copy(CopyRules::new(["/tmp".to_owned()], ["/tmp/in".to_owned()]));
        let check = |argv: &[&str]| {
            let command: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
            check_exec(
                &with_copy,
                "p",
                ExecRequest {
                    command: &command,
                    tty: false,
                },
            )
        };
        assert_eq!(
            check(&["tar", "cf", "-", "/tmp/f"]),
            Ok(ExecApproval::default())
        );
        let upload = ExecApproval {
            copy_into: Some("/tmp/in/d".to_owned()),
            filter_lines: false,
        };
        assert_eq!(
            check(&["tar", "-xmf", "-", "-C", "/tmp/in/d"]),
            Ok(upload.clone())
        );
        assert_eq!(
            check(&["env", "nice", "tar", "-xmf", "-", "-C", "/tmp/in/d"]),
            Ok(upload)
        );
        assert_eq!(
            check(&["sh", "-c", "tar cf - /tmp/f | tail -c+10"]),
            Ok(ExecApproval::default())
        );
        let refused: [(&[&str], &str); 6] = [
            (
                &["tar", "cf", "-", "/etc/shadow"],
                "copying /etc/shadow out of the pod",
            ),
            (
                &["/bin/../bin/tar", "-xmf", "-", "-C", "/tmp"],
                "copying into /tmp is not allowed",
            ),
            (
                &["tar", "czf", "/tmp/x", "/tmp/f"],
                "tar runs only as kubectl cp runs it",
            ),
            (
                &["sh", "-c", "tar -xmf - -C /tmp/in"],
                "inside a script extracts an archive",
            ),
            (
                &["sh", "-c", "tar cf - $HOME"],
                "\"$HOME\" is not known before it runs",
            ),
            (
                &["sh", "-c", "tar cf - /tmp/*"],
                "is not known before it runs",
            ),
        ];
        for (argv, needle) in refused {
            let err = check(argv).expect_err(needle);
            assert!(err.contains(needle), "{argv:?}: {err}");
        }
        // Without exec.copy, tar is a command like any other.
        assert_eq!(run(&["tar", "czf", "/tmp/x", "/etc"]), Ok(()));
    }

    #[test]
    fn interactive_shells_follow_the_profile() {
        let shell = ["sh".to_owned()];
        let request = ExecRequest {
            command: &shell,
            tty: true,
        };
        assert_eq!(
            check_exec(&rules(Interactive::Record), "p", request),
            Ok(ExecApproval::default())
        );
        assert_eq!(
            check_exec(&rules(Interactive::Filter), "p", request),
            Ok(ExecApproval {
                copy_into: None,
                filter_lines: true
            })
        );
        let err = check_exec(&rules(Interactive::Deny), "p", request).unwrap_err();
        assert!(err.contains("exec.interactive: deny"), "{err}");
        let bash_i = ["bash".to_owned(), "-il".to_owned()];
        assert!(
            check_exec(
                &rules(Interactive::Deny),
                "p",
                ExecRequest {
                    command: &bash_i,
                    tty: true
                }
            )
            .is_err()
        );
        // Not a shell: checked as a program, terminal or not.
        let top = ["top".to_owned()];
        assert_eq!(
            check_exec(
                &rules(Interactive::Deny),
                "p",
                ExecRequest {
                    command: &top,
                    tty: true
                }
            ),
            Ok(ExecApproval::default())
        );
    }

    #[test]
    fn an_empty_allow_list_allows_everything_not_denied() {
        let open = ExecRules::new(
            Vec::<String>::new(),
            ["rm -rf /".to_owned()],
            Interactive::Record,
        );
        let ok = ["mkdir".to_owned(), "-p".to_owned(), "/tmp/x".to_owned()];
        assert_eq!(
            check_exec(
                &open,
                "p",
                ExecRequest {
                    command: &ok,
                    tty: false
                }
            ),
            Ok(ExecApproval::default())
        );
        let bad = ["rm".to_owned(), "-rf".to_owned(), "/".to_owned()];
        assert!(
            check_exec(
                &open,
                "p",
                ExecRequest {
                    command: &bad,
                    tty: false
                }
            )
            .is_err()
        );
    }

    #[test]
    fn messages_say_what_and_why() {
        for (line, expected) in [
            (
                "cat *",
                "exec refused by profile oncall-debug: `cat *` could be `cat /etc/shadow`, which is denied (exec.deny): its arguments depend on what jitgate cannot know (variables, the working directory, the input of xargs); write them out as absolute paths",
            ),
            (
                "cat /etc/shadow",
                "exec refused by profile oncall-debug: `cat /etc/shadow` is denied (exec.deny: \"cat /etc/shadow\")",
            ),
            (
                "echo $(id)",
                "exec refused by profile oncall-debug: the script uses command substitution `$( … )`, which jitgate does not allow in a checked script; run the commands one by one",
            ),
        ] {
            assert_eq!(script(line).unwrap_err(), expected);
        }
    }

    #[test]
    fn paths_are_normalised_lexically() {
        assert_eq!(normalise_path("/bin/../bin/rm"), "/bin/rm");
        assert_eq!(normalise_path("//etc/./shadow/"), "/etc/shadow");
        assert_eq!(normalise_path("/../.."), "/");
        assert_eq!(normalise_path("../a/../b"), "../b");
        assert_eq!(normalise_path("./"), ".");
        assert!(glob_matches("/etc/sh[a-z]dow", "/etc/shadow"));
        assert!(!glob_matches("/etc/*.conf", "/etc/shadow"));
        assert!(!glob_matches("/*", "/etc/shadow"), "* does not cross /");
        assert!(glob_matches("/*/shadow", "/etc/shadow"));
    }

    proptest::proptest! {
        /// Any script is decided — allowed or refused with a message — never a panic.
        #[test]
        fn any_script_is_decided(text in "[ -~\n\t]{0,80}") {
            let _ = script(&text);
        }

        #[test]
        fn any_argv_is_decided(argv in proptest::collection::vec("[ -~]{0,12}", 0..6)) {
            let command: Vec<String> = argv;
            let _ = check_exec(&rules(Interactive::Deny), "p", ExecRequest { command: &command, tty: false });
        }
    }
}
