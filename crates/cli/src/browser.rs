//! Opening the login page in the person's browser: `$BROWSER` (a `:`-separated list of
//! commands, `%s` standing for the URL, as Python's `webbrowser` and `sensible-browser` read
//! it), else `xdg-open` (`open` on macOS). No shell is involved; the URL is one argument.

use std::process::{Command, Stdio};

/// The commands to try for `url`, in order, each as program and arguments.
pub fn browser_commands(browser_env: Option<&str>, url: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for entry in browser_env.unwrap_or("").split(':') {
        let words: Vec<&str> = entry.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let mut argv: Vec<String> = words.iter().map(|w| w.replace("%s", url)).collect();
        if !entry.contains("%s") {
            argv.push(url.to_owned());
        }
        out.push(argv);
    }
    let fallback = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    out.push(vec![fallback.to_owned(), url.to_owned()]);
    out
}

/// Starts the first command of [`browser_commands`] that can be started, with no terminal
/// attached (nothing it prints can reach kubectl). Returns the program started, or `None`.
pub fn open_browser(url: &str) -> Option<String> {
    let browser_env = std::env::var("BROWSER").ok();
    for argv in browser_commands(browser_env.as_deref(), url) {
        let Some((program, args)) = argv.split_first() else {
            continue;
        };
        let started = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = started {
            // Reap it when it exits so that no zombie is left behind.
            std::thread::spawn(move || child.wait());
            return Some(program.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_variable_is_read_like_webbrowser_does() {
        let url = "https://idp/auth?a=1&b=2";
        let fallback = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        type Case<'a> = (&'a str, Option<&'a str>, Vec<Vec<String>>);
        let cases: Vec<Case<'_>> = vec![
            ("unset", None, vec![vec![fallback.into(), url.into()]]),
            (
                "one command",
                Some("firefox"),
                vec![
                    vec!["firefox".into(), url.into()],
                    vec![fallback.into(), url.into()],
                ],
            ),
            (
                "placeholder and arguments",
                Some("chromium --new-window %s:lynx"),
                vec![
                    vec!["chromium".into(), "--new-window".into(), url.into()],
                    vec!["lynx".into(), url.into()],
                    vec![fallback.into(), url.into()],
                ],
            ),
            (
                "empty entries",
                Some("::"),
                vec![vec![fallback.into(), url.into()]],
            ),
        ];
        for (name, env, want) in cases {
            assert_eq!(browser_commands(env, url), want, "{name}");
        }
    }
}
