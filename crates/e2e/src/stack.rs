//! The jitgate test stack — sandbox cluster, Dex and a `jitgate serve` in front — as
//! `scripts/stack.sh up DIR` describes it in `DIR/jitgate/env`, and the `jitgate` admin CLI
//! (certificates, grants, RBAC) driven against it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::error::HarnessError;
use crate::kubectl::{Kubectl, Output, shell_quote};

/// The environment variables the stack's env file exports, all required.
pub const STACK_ENV_VARS: [&str; 7] = [
    "JITGATE_SANDBOX_DIR",
    "JITGATE_DEX_DIR",
    "JITGATE_BIN",
    "JITGATE_GATEWAY_URL",
    "JITGATE_GATEWAY_ADMIN_URL",
    "JITGATE_CA_DIR",
    "JITGATE_DATA_DIR",
];

/// How long one `jitgate` admin command may take.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything that can go wrong while setting up or talking to the stack.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// Variables of the stack's env file are not set.
    #[error(
        "the jitgate stack is not described in the environment: {missing} unset. Start it with \
         `scripts/stack.sh up $PWD/.sandbox-gw && source .sandbox-gw/jitgate/env` (or run \
         `make test`, which does both)"
    )]
    EnvMissing {
        /// The unset variables, comma separated.
        missing: String,
    },

    /// A variable is set to something unusable.
    #[error("{var}={value:?} is not usable: {reason}")]
    EnvInvalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The kubectl harness failed.
    #[error(transparent)]
    Harness(#[from] HarnessError),

    /// A command printed something the test cannot understand.
    #[error("{what}: {detail}")]
    Unexpected {
        /// What was being read.
        what: String,
        /// What was wrong.
        detail: String,
    },

    /// A TLS or HTTP exchange failed below the level of an HTTP status.
    #[error("{method} {target}: {detail}")]
    Http {
        /// Request method.
        method: String,
        /// Request target (URL or path as sent).
        target: String,
        /// What went wrong.
        detail: String,
    },

    /// Building a certificate, key or token failed.
    #[error("crypto: {0}")]
    Crypto(String),
}

impl StackError {
    /// A file could not be read or written.
    pub fn io(doing: impl Into<String>, source: std::io::Error) -> Self {
        Self::Harness(HarnessError::io(doing, source))
    }

    /// Output that does not have the expected shape.
    pub fn unexpected(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Unexpected {
            what: what.into(),
            detail: detail.into(),
        }
    }
}

/// Result with [`StackError`].
pub type StackResult<T> = Result<T, StackError>;

/// A running stack, from the env file's variables.
#[derive(Debug, Clone)]
pub struct GatewayStack {
    /// The sandbox cluster's folder (`admin.kubeconfig`, `logs/apiserver-audit.log`).
    pub sandbox_dir: PathBuf,
    /// Dex's folder (`issuer`, `ca.crt`, `client.json`, `users.json`).
    pub dex_dir: PathBuf,
    /// The `jitgate` binary.
    pub jitgate_bin: PathBuf,
    /// `https://127.0.0.1:PORT`, where kubectl talks to the gateway.
    pub gateway_url: String,
    /// `http://127.0.0.1:PORT`, health and metrics.
    pub admin_url: String,
    /// The jitgate CA folder (`ca.crt`, `ca.key`).
    pub ca_dir: PathBuf,
    /// The gateway's data folder (`jitgate.db`, `audit.jsonl`).
    pub data_dir: PathBuf,
    /// The policy file the gateway was started with and reloads (`JITGATE_POLICY`), if any.
    pub policy_file: Option<PathBuf>,
}

impl GatewayStack {
    /// The stack named by [`STACK_ENV_VARS`]; any unset variable is an error that says how to
    /// start the stack.
    pub fn from_env() -> StackResult<Self> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// The stack named by the variables `lookup` returns.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> StackResult<Self> {
        let missing: Vec<&str> = STACK_ENV_VARS
            .iter()
            .copied()
            .filter(|v| lookup(v).is_none_or(|x| x.is_empty()))
            .collect();
        if !missing.is_empty() {
            return Err(StackError::EnvMissing {
                missing: missing.join(", "),
            });
        }
        let get = |var: &str| lookup(var).unwrap_or_default();
        let path = |var: &'static str| -> StackResult<PathBuf> {
            let p = PathBuf::from(get(var));
            if p.is_absolute() {
                Ok(p)
            } else {
                Err(StackError::EnvInvalid {
                    var,
                    value: p.display().to_string(),
                    reason: "must be an absolute path (cargo runs tests from the crate folder)"
                        .to_owned(),
                })
            }
        };
        let url = |var: &'static str, scheme: &str| -> StackResult<String> {
            let value = get(var).to_string_lossy().trim_end_matches('/').to_owned();
            if value.starts_with(&format!("{scheme}://")) {
                Ok(value)
            } else {
                Err(StackError::EnvInvalid {
                    var,
                    value,
                    reason: format!("must be a {scheme}:// URL"),
                })
            }
        };
        Ok(Self {
            sandbox_dir: path("JITGATE_SANDBOX_DIR")?,
            dex_dir: path("JITGATE_DEX_DIR")?,
            jitgate_bin: path("JITGATE_BIN")?,
            gateway_url: url("JITGATE_GATEWAY_URL", "https")?,
            admin_url: url("JITGATE_GATEWAY_ADMIN_URL", "http")?,
            ca_dir: path("JITGATE_CA_DIR")?,
            data_dir: path("JITGATE_DATA_DIR")?,
            policy_file: lookup("JITGATE_POLICY")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        })
    }

    /// The cluster administrator's kubeconfig (straight to the apiserver).
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.sandbox_dir.join("admin.kubeconfig")
    }

    /// The gateway's audit log (JSON lines).
    pub fn audit_log(&self) -> PathBuf {
        self.data_dir.join("audit.jsonl")
    }

    /// The apiserver's own audit log.
    pub fn apiserver_audit_log(&self) -> PathBuf {
        self.sandbox_dir.join("logs").join("apiserver-audit.log")
    }

    /// The jitgate CA certificate, which also signed the gateway's serving certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.ca_dir.join("ca.crt")
    }

    /// The jitgate CA's private key (PKCS#8 P-256), for crafting certificates the CLI refuses.
    pub fn ca_key(&self) -> PathBuf {
        self.ca_dir.join("ca.key")
    }

    /// Runs `jitgate ARGS` with the stack's CA and data folders; a non-zero exit is not an
    /// error here (see [`Output::checked`]).
    pub fn jitgate<I, S>(&self, args: I) -> StackResult<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.jitgate_bin);
        cmd.args(args)
            .env("JITGATE_CA_DIR", &self.ca_dir)
            .env("JITGATE_DATA_DIR", &self.data_dir);
        run_with_deadline(cmd, None, CLI_TIMEOUT)
    }

    /// Runs the `jitgate` CLI like [`Self::jitgate`], with `stdin` as its standard input.
    pub fn jitgate_with_stdin<I, S>(&self, args: I, stdin: &[u8]) -> StackResult<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.jitgate_bin);
        cmd.args(args)
            .env("JITGATE_CA_DIR", &self.ca_dir)
            .env("JITGATE_DATA_DIR", &self.data_dir);
        run_with_deadline(cmd, Some(stdin), CLI_TIMEOUT)
    }

    /// `jitgate cert issue` for `user` (TTL 1h) into `out`, with a kubeconfig for the gateway
    /// whose context defaults to `namespace`.
    pub fn issue_cert(
        &self,
        user: &str,
        groups: &[&str],
        namespace: &str,
        out: &Path,
    ) -> StackResult<CertUser> {
        let mut args: Vec<OsString> = vec![
            "cert".into(),
            "issue".into(),
            "--user".into(),
            user.into(),
            "--ttl".into(),
            "1h".into(),
            "--out".into(),
            out.into(),
            "--server".into(),
            self.gateway_url.clone().into(),
            "--namespace".into(),
            namespace.into(),
        ];
        for g in groups {
            args.push("--group".into());
            args.push(g.into());
        }
        self.jitgate(args)?.checked()?;
        let read = |name: &str| {
            std::fs::read_to_string(out.join(name))
                .map_err(|e| StackError::io(format!("reading {}", out.join(name).display()), e))
        };
        Ok(CertUser {
            name: user.to_owned(),
            kubeconfig: out.join("kubeconfig"),
            cert_pem: read("client.crt")?,
            key_pem: read("client.key")?,
        })
    }

    /// `jitgate grant create` of profile `oncall-debug`; returns the grant, revoked (best effort)
    /// when dropped.
    pub fn create_grant(
        &self,
        user: &str,
        namespaces: &[&str],
        duration: &str,
        reason: &str,
    ) -> StackResult<Grant> {
        self.create_grant_for("oncall-debug", user, namespaces, duration, reason)
    }

    /// Like [`Stack::create_grant`], for another profile of the policy in force.
    pub fn create_grant_for(
        &self,
        profile: &str,
        user: &str,
        namespaces: &[&str],
        duration: &str,
        reason: &str,
    ) -> StackResult<Grant> {
        let mut args: Vec<String> = ["grant", "create", "--user", user, "--profile"]
            .map(str::to_owned)
            .to_vec();
        args.push(profile.to_owned());
        for ns in namespaces {
            args.push("-n".to_owned());
            args.push((*ns).to_owned());
        }
        args.extend(["--for", duration, "--reason", reason].map(str::to_owned));
        let out = self.jitgate(&args)?.checked()?;
        let text = out.stdout_text();
        // `g-1a2b3c4d created: alice may use …`
        let id = text
            .split_whitespace()
            .next()
            .filter(|w| w.starts_with("g-") && text.contains(" created: "))
            .ok_or_else(|| {
                StackError::unexpected("the output of `jitgate grant create`", text.clone())
            })?
            .to_owned();
        Ok(Grant {
            id,
            user: user.to_owned(),
            stack: self.clone(),
        })
    }

    /// The grant `id` as `jitgate grant list --all -o json` shows it.
    pub fn grant_json(&self, id: &str) -> StackResult<Value> {
        let out = self
            .jitgate(["grant", "list", "--all", "-o", "json"])?
            .checked()?;
        let list: Value = out.json()?;
        list.as_array()
            .and_then(|a| a.iter().find(|g| g["id"] == id))
            .cloned()
            .ok_or_else(|| {
                StackError::unexpected(
                    format!("grant {id} in `jitgate grant list --all -o json`"),
                    out.stdout_text(),
                )
            })
    }

    /// Renders the RBAC for `namespaces` (`jitgate rbac render … --gateway-user jitgate-gateway`)
    /// and applies it as the cluster administrator.
    pub fn apply_rbac(&self, admin: &Kubectl, namespaces: &[&str]) -> StackResult<()> {
        let mut args: Vec<&str> = vec!["rbac", "render"];
        for ns in namespaces {
            args.extend(["-n", ns]);
        }
        args.extend(["--gateway-user", "jitgate-gateway"]);
        // The ClusterRole and its binding are shared by every test; two tests creating them at
        // the same moment can see a conflict, which a second apply resolves. The policy file is
        // rendered from can be mid-edit by a policy test (it writes a broken one on purpose);
        // a second render reads the next version.
        let mut last = None;
        for _ in 0..15 {
            let rendered = self.jitgate(&args)?;
            if !rendered.success() {
                last = Some(rendered);
                thread::sleep(Duration::from_millis(200));
                continue;
            }
            let out = admin.run_with_stdin(["apply", "-f", "-"], &rendered.stdout)?;
            if out.success() {
                return Ok(());
            }
            last = Some(out);
            thread::sleep(Duration::from_millis(200));
        }
        match last {
            Some(out) => Err(out.checked().err().map_or_else(
                || StackError::unexpected("kubectl apply", "failed"),
                StackError::from,
            )),
            None => Err(StackError::unexpected("kubectl apply", "never ran")),
        }
    }
}

/// A user with a client certificate from the jitgate CA and a kubeconfig for the gateway.
#[derive(Debug, Clone)]
pub struct CertUser {
    /// The user name (certificate CN).
    pub name: String,
    /// Kubeconfig pointing at the gateway with this certificate.
    pub kubeconfig: PathBuf,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its key, PEM.
    pub key_pem: String,
}

/// A grant made with the CLI; revoked (best effort) when dropped, unless already revoked.
#[derive(Debug)]
pub struct Grant {
    /// `g-…`.
    pub id: String,
    /// Whom it is for.
    pub user: String,
    stack: GatewayStack,
}

impl Grant {
    /// `jitgate grant revoke ID --reason REASON`; the CLI's output.
    pub fn revoke(&self, reason: &str) -> StackResult<Output> {
        Ok(self
            .stack
            .jitgate(["grant", "revoke", &self.id, "--reason", reason])?
            .checked()?)
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        let active = self
            .stack
            .grant_json(&self.id)
            .is_ok_and(|g| g["revoked_at"].is_null());
        if active {
            let _ = self.revoke("test finished");
        }
    }
}

/// Runs `cmd` with `stdin` (or none), collecting its output, killing it after `timeout`.
pub fn run_with_deadline(
    cmd: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> StackResult<Output> {
    let command = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ");
    Ok(crate::kubectl::run_command(cmd, command, stdin, timeout)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variables_are_all_named_with_how_to_start_the_stack() {
        let err = GatewayStack::from_lookup(|v| {
            (v == "JITGATE_BIN").then(|| OsString::from("/bin/jitgate"))
        })
        .expect_err("incomplete");
        let text = err.to_string();
        assert!(text.contains("JITGATE_SANDBOX_DIR"), "{text}");
        assert!(text.contains("JITGATE_GATEWAY_URL"), "{text}");
        assert!(!text.contains("JITGATE_BIN,"), "{text}");
        assert!(text.contains("scripts/stack.sh up"), "{text}");
    }

    #[test]
    fn relative_paths_and_wrong_schemes_are_refused() {
        let env = |rel: bool, scheme: &'static str| {
            move |v: &str| -> Option<OsString> {
                Some(match v {
                    "JITGATE_GATEWAY_URL" => format!("{scheme}://127.0.0.1:1").into(),
                    "JITGATE_GATEWAY_ADMIN_URL" => "http://127.0.0.1:2".into(),
                    "JITGATE_DATA_DIR" if rel => "data".into(),
                    _ => "/abs".into(),
                })
            }
        };
        assert!(GatewayStack::from_lookup(env(false, "https")).is_ok());
        let err = GatewayStack::from_lookup(env(true, "https")).expect_err("relative");
        assert!(err.to_string().contains("JITGATE_DATA_DIR"), "{err}");
        let err = GatewayStack::from_lookup(env(false, "http")).expect_err("scheme");
        assert!(err.to_string().contains("https://"), "{err}");
    }

    #[test]
    fn commands_are_killed_at_the_deadline() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "echo begun; sleep 30"]);
        let started = std::time::Instant::now();
        let err = run_with_deadline(cmd, None, Duration::from_millis(300)).expect_err("timeout");
        assert!(err.to_string().contains("begun"), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "waited for the orphan"
        );
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "cat; exit 4"]);
        let out = run_with_deadline(cmd, Some(b"in"), Duration::from_secs(10)).expect("runs");
        assert_eq!(out.stdout, b"in");
        assert_eq!(out.code(), Some(4));
    }
}
