//! `kubectl cp` is an exec of `tar`: out of the pod it runs `tar cf - PATH` and reads the archive
//! from stdout; into the pod it runs `tar -xmf - -C DIR` and writes an archive to stdin. A
//! profile's `exec.copy` says which paths may be copied out (`fromPod`) and which directories
//! may be copied into (`toPod`); under it, `tar` runs only in those two shapes.
//!
//! This module decides the command line. What an upload's archive holds is checked as it
//! streams by [`crate::tar::UploadWatch`]: the `-C` directory means nothing if a member is
//! called `../../etc/passwd`.

/// A profile's `exec.copy`, compiled: absolute, normalised path prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRules {
    from_pod: Vec<String>,
    to_pod: Vec<String>,
}

/// What an allowed `tar` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyRun {
    /// `kubectl cp POD:PATH …`: archives these paths to stdout.
    FromPod(Vec<String>),
    /// `kubectl cp … POD:DIR/NAME`: extracts stdin into this directory.
    ToPod(String),
}

impl CopyRules {
    /// Rules from the policy: paths that may be copied out of a pod, directories that may be
    /// copied into. Entries are normalised; ones that are not absolute paths (the policy linter
    /// reports them) match nothing.
    pub fn new<F, T>(from_pod: F, to_pod: T) -> Self
    where
        F: IntoIterator<Item = String>,
        T: IntoIterator<Item = String>,
    {
        let compile = |paths: Vec<String>| {
            paths
                .iter()
                .filter(|p| p.starts_with('/'))
                .map(|p| crate::exec::normalise_path(p))
                .collect()
        };
        Self {
            from_pod: compile(from_pod.into_iter().collect()),
            to_pod: compile(to_pod.into_iter().collect()),
        }
    }

    /// Decides `tar ARGS` (the argument words, values known): one of kubectl cp's two shapes,
    /// with its paths inside the allowed ones.
    ///
    /// # Errors
    /// The sentence for the person: not a kubectl cp shape, a relative path, or a path outside
    /// `fromPod` / `toPod`.
    pub fn check(&self, args: &[&str]) -> Result<CopyRun, String> {
        let line = std::iter::once("tar")
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let shape = parse_tar(args).map_err(|why| {
            format!(
                "`{line}` {why}; under exec.copy, tar runs only as kubectl cp runs it: `tar cf - \
                 PATH` out of the pod, `tar -xmf - -C DIR` into it"
            )
        })?;
        match shape {
            TarShape::Create(paths) => {
                let mut checked = Vec::with_capacity(paths.len());
                for path in &paths {
                    let path = absolute(path, &line)?;
                    if !under_any(&path, &self.from_pod) {
                        return Err(format!(
                            "copying {path} out of the pod is not allowed (exec.copy.fromPod: {}); \
                             copy from one of those paths, or ask for it to be added in the \
                             jitgate policy",
                            listed(&self.from_pod)
                        ));
                    }
                    checked.push(path);
                }
                Ok(CopyRun::FromPod(checked))
            }
            TarShape::Extract(None) => Err(format!(
                "`{line}` extracts into the container's working directory, which jitgate cannot \
                 know; copy to an absolute path (kubectl cp FILE POD:/tmp/FILE)"
            )),
            TarShape::Extract(Some(dir)) => {
                let dir = absolute(&dir, &line)?;
                if !under_any(&dir, &self.to_pod) {
                    return Err(format!(
                        "copying into {dir} is not allowed (exec.copy.toPod: {}); copy into one of \
                         those directories, or ask for it to be added in the jitgate policy",
                        listed(&self.to_pod)
                    ));
                }
                Ok(CopyRun::ToPod(dir))
            }
        }
    }
}

fn listed(paths: &[String]) -> String {
    if paths.is_empty() {
        "none".to_owned()
    } else {
        paths.join(", ")
    }
}

fn absolute(path: &str, line: &str) -> Result<String, String> {
    if path.starts_with('/') {
        Ok(crate::exec::normalise_path(path))
    } else {
        Err(format!(
            "`{line}`: {path} is relative to the container's working directory, which jitgate \
             cannot know; use an absolute path (kubectl cp POD:/var/log/app.log …)"
        ))
    }
}

/// `path` is `prefix` or inside it, comparing whole segments (`/tmpx` is not in `/tmp`).
pub(crate) fn under(path: &str, prefix: &str) -> bool {
    prefix == "/"
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn under_any(path: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| under(path, p))
}

enum TarShape {
    Create(Vec<String>),
    Extract(Option<String>),
}

/// The options kubectl cp's tar lines use, and nothing else: `c` or `x`, `f -` (the archive is
/// stdin or stdout), `v`, `m`, `-C DIR` / `--directory=DIR` for an extract, and the two
/// `--no-same-*` options of `kubectl cp --no-preserve`.
fn parse_tar(args: &[&str]) -> Result<TarShape, String> {
    let mut mode: Option<char> = None;
    let mut archive: Option<&str> = None;
    let mut dir: Option<String> = None;
    let mut operands: Vec<String> = Vec::new();
    // Options that take their value from the next word, in the order their letters came.
    let mut wants_value: Vec<char> = Vec::new();
    let mut options_done = false;
    for (i, &word) in args.iter().enumerate() {
        if let Some(letter) = wants_value.first().copied() {
            wants_value.remove(0);
            match letter {
                'f' => archive = Some(word),
                _ => dir = Some(word.to_owned()),
            }
            continue;
        }
        if options_done || (!word.starts_with('-') && i > 0) {
            operands.push(word.to_owned());
            continue;
        }
        if word == "--" {
            options_done = true;
            continue;
        }
        if let Some(long) = word.strip_prefix("--") {
            match long.split_once('=') {
                Some(("directory", value)) => dir = Some(value.to_owned()),
                None if matches!(long, "no-same-permissions" | "no-same-owner") => {}
                _ => {
                    return Err(format!(
                        "uses the option {word}, which kubectl cp never does"
                    ));
                }
            }
            continue;
        }
        // `cf` (first word, old style) or `-xmf`.
        let letters = word.strip_prefix('-').unwrap_or(word);
        if letters.is_empty() {
            return Err("has a lone `-` where an option belongs".to_owned());
        }
        for (k, letter) in letters.char_indices() {
            match letter {
                'c' | 'x' => {
                    if mode.is_some_and(|m| m != letter) {
                        return Err("both creates and extracts".to_owned());
                    }
                    mode = Some(letter);
                }
                'v' | 'm' => {}
                'f' | 'C' => {
                    // `-C/tmp` and `-f-`: the value attached (only after a dash).
                    let rest = &letters[k + letter.len_utf8()..];
                    if word.starts_with('-') && !rest.is_empty() {
                        match letter {
                            'f' => archive = Some(rest),
                            _ => dir = Some(rest.to_owned()),
                        }
                        break;
                    }
                    wants_value.push(letter);
                }
                other => {
                    return Err(format!(
                        "uses the option `{other}`, which kubectl cp never does"
                    ));
                }
            }
        }
    }
    if !wants_value.is_empty() {
        return Err("ends where an option's value belongs".to_owned());
    }
    if archive != Some("-") {
        return Err(match archive {
            Some(file) => format!("reads or writes the file {file} in the pod"),
            None => "does not name its archive (`f -`)".to_owned(),
        });
    }
    match mode {
        Some('c') if dir.is_some() => Err("changes directory before archiving".to_owned()),
        Some('c') if operands.is_empty() => Err("archives nothing".to_owned()),
        Some('c') => Ok(TarShape::Create(operands)),
        Some(_) if !operands.is_empty() => Err(format!(
            "extracts only {}, which kubectl cp never asks for",
            operands.join(" ")
        )),
        Some(_) => Ok(TarShape::Extract(dir)),
        None => Err("neither creates (`c`) nor extracts (`x`) an archive".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> CopyRules {
        CopyRules::new(
            ["/tmp".to_owned(), "/var/log/".to_owned()],
            ["/tmp".to_owned()],
        )
    }

    fn check(line: &str) -> Result<CopyRun, String> {
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        rules().check(&words)
    }

    /// What kubectl 1.27–1.33 run, in every form they use.
    #[test]
    fn kubectl_cp_lines_inside_the_paths_pass() {
        let cases = [
            (
                "tar cf - /tmp/a/f",
                CopyRun::FromPod(vec!["/tmp/a/f".into()]),
            ),
            (
                "tar cfv - /var/log/app.log",
                CopyRun::FromPod(vec!["/var/log/app.log".into()]),
            ),
            (
                "tar cf - /var/log",
                CopyRun::FromPod(vec!["/var/log".into()]),
            ),
            ("tar -xmf - -C /tmp/d", CopyRun::ToPod("/tmp/d".into())),
            ("tar -xmf - -C /tmp", CopyRun::ToPod("/tmp".into())),
            (
                "tar --no-same-permissions --no-same-owner -xmf - -C /tmp/x/",
                CopyRun::ToPod("/tmp/x".into()),
            ),
            (
                "tar -xmf - --directory=/tmp/d",
                CopyRun::ToPod("/tmp/d".into()),
            ),
            ("tar -xmf - -C/tmp/d", CopyRun::ToPod("/tmp/d".into())),
            ("tar -x -m -f - -C /tmp/d", CopyRun::ToPod("/tmp/d".into())),
            ("tar xmf - -C /tmp/d", CopyRun::ToPod("/tmp/d".into())),
        ];
        for (line, want) in cases {
            assert_eq!(check(line), Ok(want), "{line}");
        }
    }

    #[test]
    fn other_paths_and_other_tars_are_refused() {
        let cases = [
            (
                "tar cf - /etc/shadow",
                "copying /etc/shadow out of the pod is not allowed",
            ),
            ("tar cf - /tmp/../etc/shadow", "copying /etc/shadow out"),
            ("tar cf - /tmpx/f", "copying /tmpx/f out"),
            ("tar cf - /tmp/f /etc/passwd", "copying /etc/passwd out"),
            (
                "tar cf - f",
                "relative to the container's working directory",
            ),
            (
                "tar -xmf - -C /etc",
                "copying into /etc is not allowed (exec.copy.toPod: /tmp)",
            ),
            (
                "tar -xmf - -C /tmp/../etc",
                "copying into /etc is not allowed",
            ),
            (
                "tar -xmf - -C tmp",
                "relative to the container's working directory",
            ),
            (
                "tar -xmf -",
                "extracts into the container's working directory",
            ),
            ("tar czf /tmp/x.tgz /etc", "uses the option `z`"),
            ("tar cf /tmp/x.tar /etc", "writes the file /tmp/x.tar"),
            (
                "tar -xmf /tmp/x.tar -C /tmp",
                "reads or writes the file /tmp/x.tar",
            ),
            ("tar -C /tmp -cf - f", "changes directory before archiving"),
            ("tar -xmf - -C /tmp etc/passwd", "extracts only etc/passwd"),
            (
                "tar -xmf - -C /tmp --to-command=sh",
                "uses the option --to-command=sh",
            ),
            (
                "tar --checkpoint-action=exec=sh -cf - /tmp",
                "uses the option --checkpoint",
            ),
            ("tar -tf -", "uses the option `t`"),
            ("tar -cxf - /tmp", "both creates and extracts"),
            ("tar -f", "ends where an option's value belongs"),
            ("tar cf -", "archives nothing"),
        ];
        for (line, needle) in cases {
            let err = check(line).expect_err(line);
            assert!(err.contains(needle), "{line}: {err}");
        }
        let none = CopyRules::new(Vec::new(), Vec::new());
        let err = none
            .check(&["cf", "-", "/tmp/f"])
            .expect_err("nothing may be copied");
        assert!(err.contains("(exec.copy.fromPod: none)"), "{err}");
    }

    #[test]
    fn prefixes_compare_whole_segments() {
        assert!(under("/tmp", "/tmp"));
        assert!(under("/tmp/a", "/tmp"));
        assert!(!under("/tmpa", "/tmp"));
        assert!(under("/etc", "/"));
    }
}
