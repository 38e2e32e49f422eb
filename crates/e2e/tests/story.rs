//! The 2 AM story, end to end, as people live it: real Dex logins, `kubectl jit` for access,
//! plain kubectl (old and new) through the gateway, and the audit trail at the end.
//!
//! - alice is on call for payments: she logs in (device code), asks for `oncall-debug` in
//!   payments and is auto-approved within a second; she reads logs, execs (kubectl 1.33 over
//!   WebSocket and 1.27 over SPDY) and port-forwards.
//! - bob is not on call: he logs in (browser, code + PKCE), asks, and waits; he cannot approve
//!   his own request; carol, a payments lead, approves it; his grant (1 minute) expires while
//!   an exec is running, and the exec is cut with a message saying so.
//! - the morning after, carol replays bob's recorded session through the API (`kubectl jit
//!   sessions --all`, `kubectl jit play`); alice replays her own and is refused bob's.
//! - every transition, and every replay, is in the hash-chained audit log.
//!
//! Needs the stack (`scripts/stack.sh up DIR`, `source DIR/jitgate/env`); `make test` runs it.

#![allow(clippy::expect_used)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use jitgate_e2e::audit_log::JsonLines;
use jitgate_e2e::browser::Browser;
use jitgate_e2e::forward::forwarded_ipv4;
use jitgate_e2e::kubectl::{Background, Output};
use jitgate_e2e::stack::GatewayStack;
use jitgate_e2e::{CaseResult, Kubectl};
use serde_json::Value;

const SECOND: Duration = Duration::from_secs(1);

/// Picks audit lines.
type Pick = Box<dyn Fn(&Value) -> bool>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

/// One person: their Dex login, their `kubectl jit` cache and kubeconfig.
struct Person {
    email: &'static str,
    password: &'static str,
    home: PathBuf,
}

struct World {
    stack: GatewayStack,
    jit_bin: PathBuf,
    dex_ca: String,
    path: OsString,
}

impl World {
    fn jit(&self, who: &Person, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.jit_bin);
        cmd.arg("--server")
            .arg(&self.stack.gateway_url)
            .arg("--ca-file")
            .arg(self.stack.ca_cert())
            .arg("--kubeconfig")
            .arg(who.home.join("kubeconfig"))
            .args(args)
            .env("JITGATE_CACHE_DIR", who.home.join("cache"))
            .env("PATH", &self.path)
            .env_remove("KUBERNETES_EXEC_INFO");
        cmd
    }

    fn run_jit(&self, who: &Person, args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
        let cmd = self.jit(who, args);
        let label = format!("kubectl jit {} (as {})", args.join(" "), who.email);
        Ok(Background::spawn_command(cmd, label)?.wait(60 * SECOND)?)
    }

    fn kubectl(&self, who: &Person, version: &str) -> Result<Kubectl, Box<dyn std::error::Error>> {
        Ok(Kubectl::discover(version, who.home.join("kubeconfig"))?
            .with_env("PATH", &self.path)
            // Where the credential plugin (`kubectl jit credential`) finds the login.
            .with_env("JITGATE_CACHE_DIR", who.home.join("cache"))
            .in_namespace("payments"))
    }

    /// `kubectl jit login` with the device-code flow: the person opens the verification URL,
    /// logs in to Dex and confirms the code.
    fn login_with_device_code(&self, who: &Person) -> CaseResult {
        let mut cmd = self.jit(who, &["login", "--device-code", "--timeout", "2m"]);
        cmd.stdin(std::process::Stdio::null());
        let mut login = Background::spawn_command(
            cmd,
            format!("kubectl jit login --device-code (as {})", who.email),
        )?;
        let url = login.wait_for_stderr("the verification URL", 30 * SECOND, |err| {
            let text = String::from_utf8_lossy(err);
            text.lines()
                .find_map(|l| l.trim().strip_prefix("(or open "))
                .map(|rest| rest.trim_end_matches(')').to_owned())
        })?;
        let landing = Browser::new(&self.dex_ca).log_in(&url, who.email, who.password)?;
        ensure!(
            landing.page.status == 200,
            "Dex's last page: {}",
            landing.page
        );
        let out = login.wait(60 * SECOND)?;
        ensure!(out.success(), "the device-code login failed: {out}");
        eprintln!(
            "{} logged in (device code): {}",
            who.email,
            out.stdout_text().trim()
        );
        Ok(())
    }

    /// `kubectl jit login` with the browser flow (auth code + PKCE on a loopback redirect).
    fn login_with_browser(&self, who: &Person) -> CaseResult {
        let mut cmd = self.jit(who, &["login", "--no-browser", "--timeout", "2m"]);
        cmd.stdin(std::process::Stdio::null());
        let mut login =
            Background::spawn_command(cmd, format!("kubectl jit login (as {})", who.email))?;
        let url = login.wait_for_stderr("the login URL", 30 * SECOND, |err| {
            let text = String::from_utf8_lossy(err);
            text.lines()
                .map(str::trim)
                .find(|l| l.starts_with("https://") && l.contains("code_challenge="))
                .map(str::to_owned)
        })?;
        let landing = Browser::new(&self.dex_ca).log_in(&url, who.email, who.password)?;
        ensure!(
            landing.url.host_str() == Some("127.0.0.1") && landing.page.status == 200,
            "the login did not end on the CLI's loopback callback: {} {}",
            landing.url,
            landing.page
        );
        let out = login.wait(60 * SECOND)?;
        ensure!(out.success(), "the browser login failed: {out}");
        eprintln!(
            "{} logged in (browser): {}",
            who.email,
            out.stdout_text().trim()
        );
        Ok(())
    }
}

fn poll<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut(&mut String) -> Result<Option<T>, Box<dyn std::error::Error>>,
) -> Result<T, Box<dyn std::error::Error>> {
    let start = Instant::now();
    let mut last = String::from("(nothing yet)");
    loop {
        if let Some(v) = probe(&mut last)? {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            return Err(format!("waited {timeout:?} for {what}; last: {last}").into());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn json(out: &Output) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}: {out}"))?)
}

#[test]
#[ignore = "needs the gateway stack: run `make test`"]
fn the_2am_story() {
    if let Err(e) = story() {
        panic!("the 2 AM story failed:\n{e}");
    }
}

fn story() -> CaseResult {
    let stack = GatewayStack::from_env()?;
    let jit_bin = stack.jitgate_bin.with_file_name("kubectl-jit");
    ensure!(
        jit_bin.exists(),
        "{} is missing: cargo build -p jitgate-cli",
        jit_bin.display()
    );
    let path = std::env::join_paths(
        std::iter::once(jit_bin.parent().map(Path::to_path_buf).unwrap_or_default()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ),
    )?;
    let dex_ca = std::fs::read_to_string(stack.dex_dir.join("ca.crt"))?;
    let scratch = tempfile::tempdir()?;
    let person = |email, password, name: &str| Person {
        email,
        password,
        home: scratch.path().join(name),
    };
    let alice = person("alice@example.com", "alice-password", "alice");
    let bob = person("bob@example.com", "bob-password", "bob");
    let carol = person("carol@example.com", "carol-password", "carol");
    let world = World {
        stack: stack.clone(),
        jit_bin,
        dex_ca,
        path,
    };
    let audit = JsonLines::new(stack.audit_log());
    let admin = Kubectl::discover("1.33", stack.admin_kubeconfig())?;
    // The platform team applies RBAC rendered from the policy (Roles bound to jitgate:<profile>).
    let rbac = stack
        .jitgate(["rbac", "render", "--gateway-user", "jitgate-gateway"])?
        .checked()?
        .stdout;
    admin
        .run_with_stdin(["apply", "-f", "-"], &rbac)?
        .checked()?;

    // 02:04 — alice, on call, logs in and asks for access.
    world.login_with_device_code(&alice)?;
    world
        .run_jit(&alice, &["kubeconfig", "-n", "payments"])?
        .checked()?;
    let k_alice = world.kubectl(&alice, "1.33")?;
    let before = k_alice.run(["get", "pods"])?;
    ensure!(
        !before.success() && before.stderr_text().contains("kubectl jit request"),
        "without a grant alice is refused with a hint: {before}"
    );
    let asked = Instant::now();
    let request = world.run_jit(
        &alice,
        &[
            "request",
            "oncall-debug",
            "-n",
            "payments",
            "--for",
            "30m",
            "--reason",
            "INC-4211 payments 5xx",
            "--wait",
            "-o",
            "json",
        ],
    )?;
    ensure!(request.success(), "alice's request: {request}");
    let r = json(&request)?;
    ensure!(r["state"] == "active", "alice's request is not active: {r}");
    ensure!(
        r["route"]
            .as_str()
            .is_some_and(|s| s.contains("auto-approved")),
        "alice's request was not auto-approved: {r}"
    );
    poll("alice's grant to be usable", 10 * SECOND, |last| {
        let out = k_alice.run(["get", "pods"])?;
        *last = out.to_string();
        Ok(out.success().then_some(()))
    })?;
    let usable = asked.elapsed();
    eprintln!(
        "MEASURED kubectl jit request -> grant usable through the gateway (on call): {} ms",
        usable.as_millis()
    );

    // She debugs with plain kubectl.
    let worker = k_alice
        .run([
            "get",
            "pods",
            "-l",
            "app=payments-worker",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ])?
        .checked()?
        .stdout_text();
    let logs = k_alice.run(["logs", &worker, "--tail=2"])?.checked()?;
    ensure!(!logs.stdout_text().trim().is_empty(), "no logs: {logs}");
    let exec = k_alice
        .run([
            "exec",
            &worker,
            "--",
            "sh",
            "-c",
            "echo hello from $POD_NAME",
        ])?
        .checked()?;
    ensure!(exec.stdout_text().contains("hello from"), "exec: {exec}");
    let old = world.kubectl(&alice, "1.27")?;
    let exec27 = old.run(["exec", &worker, "--", "sh", "-c", "echo spdy; exit 4"])?;
    ensure!(
        exec27.stdout_text().contains("spdy") && exec27.code() == Some(4),
        "kubectl 1.27 exec: {exec27}"
    );
    let api = k_alice
        .run([
            "get",
            "pods",
            "-l",
            "app=payments-api",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ])?
        .checked()?
        .stdout_text();
    let mut forward = k_alice.spawn(["port-forward", &api, ":8080"])?;
    let addr = forward.wait_for_stdout("the forwarded port", 30 * SECOND, |out| {
        forwarded_ipv4(&String::from_utf8_lossy(out), 8080)
    })?;
    let answer = jitgate_e2e::http::get(addr, "/", 10 * SECOND)?;
    ensure!(
        answer.status == 200,
        "the forwarded GET: {} {}",
        answer.status,
        answer.text()
    );
    forward.stop()?;

    // bob is not on call: he asks and waits.
    world.login_with_browser(&bob)?;
    world
        .run_jit(&bob, &["kubeconfig", "-n", "payments"])?
        .checked()?;
    let k_bob = world.kubectl(&bob, "1.33")?;
    // On a terminal, `--wait` shows a spinner with the request's id and state until it is
    // active.
    let mut waiting = jitgate_e2e::PtySession::from_command(
        &world.jit(
            &bob,
            &[
                "request",
                "oncall-debug",
                "-n",
                "payments",
                "--for",
                "1m",
                "--reason",
                "INC-4212 slow checkout",
                "--wait",
            ],
        ),
        jitgate_e2e::PtySize::new(24, 120),
    )?;
    waiting.expect("waiting for r-", 30 * SECOND)?;
    let shown = waiting.expect(" (", 5 * SECOND)?;
    // `shown` is what follows "waiting for r-": the rest of the id, then " (".
    let id = format!("r-{}", shown.trim_end_matches(" ("));
    ensure!(
        id.len() > 2 && id[2..].bytes().all(|b| b.is_ascii_alphanumeric()),
        "no request id in the spinner: {}",
        waiting.transcript()
    );
    // The spinner turns: a second frame follows the first.
    waiting.expect("waiting for r-", 5 * SECOND)?;
    ensure!(
        waiting.transcript().contains("pending"),
        "bob's request should wait: {}",
        waiting.transcript()
    );
    let own = world.run_jit(&bob, &["approve", &id])?;
    ensure!(
        !own.success() && own.stderr_text().to_lowercase().contains("own"),
        "bob approving his own request must fail and say why: {own}"
    );
    let still = k_bob.run(["get", "pods"])?;
    ensure!(
        !still.success(),
        "bob has no access before approval: {still}"
    );

    // carol, a payments lead, sees it and approves.
    world.login_with_device_code(&carol)?;
    let list = world.run_jit(&carol, &["ls", "-o", "json"])?.checked()?;
    ensure!(
        list.stdout_text().contains(&id),
        "carol's list does not show bob's pending request {id}: {list}"
    );
    let approved = world.run_jit(
        &carol,
        &["approve", &id, "--comment", "go ahead", "-o", "json"],
    )?;
    ensure!(approved.success(), "carol's approval: {approved}");
    let approved = json(&approved)?;
    ensure!(
        approved["state"] == "active",
        "bob's request after approval: {approved}"
    );
    // bob's `--wait` sees it at once, clears the spinner and says what to run.
    waiting.expect("Access is active", 10 * SECOND)?;
    let code = waiting.wait(10 * SECOND)?;
    ensure!(
        code == 0,
        "kubectl jit request --wait exited {code}: {}",
        waiting.transcript()
    );
    let expires_at = approved["grantExpiresAt"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    poll("bob's grant to be usable", 10 * SECOND, |last| {
        let out = k_bob.run(["get", "pods"])?;
        *last = out.to_string();
        Ok(out.success().then_some(()))
    })?;

    // bob's grant runs out while his exec runs: the exec is cut, saying why.
    let mut exec = k_bob.spawn(["exec", &worker, "--", "sh", "-c", "echo started; sleep 600"])?;
    exec.wait_for_line("the exec to start", 30 * SECOND, |l| l == "started")?;
    let ended = poll("bob's exec to be cut at expiry", 90 * SECOND, |_| {
        Ok(exec.try_status()?.map(|_| Instant::now()))
    })?;
    let out = exec.stop()?;
    let text = format!("{}{}", out.stdout_text(), out.stderr_text());
    ensure!(
        !out.success() && text.contains("access expired"),
        "bob's exec must end with the expiry message: {out}"
    );
    let _ = ended;
    eprintln!(
        "bob's exec ended at expiry ({expires_at}): {}",
        out.stderr_text().trim()
    );

    // The morning after: carol, a payments lead, replays what bob did; bob lists his own
    // sessions; alice replays hers, and bob's is not hers to replay.
    let a = alice.email;
    let bobs = json(
        &world
            .run_jit(&bob, &["sessions", "-o", "json"])?
            .checked()?,
    )?;
    let items = bobs["items"].as_array().cloned().unwrap_or_default();
    ensure!(
        !items.is_empty() && items.iter().all(|s| s["user"] == bob.email),
        "bob's sessions are his own and include the cut exec: {bobs}"
    );
    let cut_session = items
        .iter()
        .find(|s| {
            s["command"]
                .as_str()
                .is_some_and(|c| c.contains("sleep 600"))
        })
        .and_then(|s| s["id"].as_str())
        .ok_or_else(|| format!("bob's cut exec is not among his sessions: {bobs}"))?
        .to_owned();
    let everyone = json(
        &world
            .run_jit(&carol, &["sessions", "--all", "-o", "json"])?
            .checked()?,
    )?;
    let alices = everyone["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| {
            s["user"] == a
                && s["command"]
                    .as_str()
                    .is_some_and(|c| c.contains("hello from"))
        })
        .and_then(|s| s["id"].as_str())
        .ok_or_else(|| {
            format!("carol's list of everyone's sessions lacks alice's exec: {everyone}")
        })?
        .to_owned();
    let table = world.run_jit(&carol, &["sessions", "--all"])?.checked()?;
    ensure!(
        table
            .stdout_text()
            .lines()
            .any(|l| l.contains(&cut_session) && l.contains(bob.email)),
        "the sessions table does not show bob's {cut_session}: {table}"
    );
    let played = world
        .run_jit(&carol, &["play", &cut_session, "--speed", "0", "--input"])?
        .checked()?;
    ensure!(
        played.stdout_text().contains("started")
            && played.stdout_text().contains("jitgate ended the session"),
        "carol's replay of {cut_session} shows neither the output nor how it ended: {played}"
    );
    // alice replays her own exec, but bob's session is not hers to see (she approves nothing).
    let own = world
        .run_jit(&alice, &["play", &alices, "--speed", "0"])?
        .checked()?;
    ensure!(
        own.stdout_text().contains("hello from"),
        "alice replaying her own {alices}: {own}"
    );
    let refused = world.run_jit(&alice, &["play", &cut_session, "--speed", "0"])?;
    ensure!(
        !refused.success()
            && refused
                .stderr_text()
                .contains(&format!("no recording of session {cut_session}")),
        "alice replaying bob's session must be refused: {refused}"
    );
    eprintln!(
        "carol replayed bob's {cut_session}; alice replayed her {alices} and was refused bob's"
    );

    // The audit trail holds every transition (the last lines land just after kubectl exits).
    let (b, c) = (bob.email, carol.email);
    let (replayed, refused_replay) = (cut_session.clone(), cut_session.clone());
    let checks: [(&str, Pick); 9] = [
        (
            "alice's access.request",
            Box::new(move |e| e["kind"] == "access.request" && e["user"] == a),
        ),
        (
            "alice's activation",
            Box::new(move |e| {
                e["kind"] == "access.activate"
                    && e["reason"].as_str().is_some_and(|r| r.contains(a))
            }),
        ),
        (
            "bob's access.request",
            Box::new(move |e| e["kind"] == "access.request" && e["user"] == b),
        ),
        (
            "carol's approval",
            Box::new(move |e| e["kind"] == "access.approve" && e["user"] == c),
        ),
        (
            "bob's refused self-approval",
            Box::new(move |e| e["user"] == b && e["decision"] == "deny" && e["status"] == 403),
        ),
        (
            "bob's grant expiring",
            Box::new(move |e| {
                e["kind"] == "grant.expire" && e["reason"].as_str().is_some_and(|r| r.contains(b))
            }),
        ),
        (
            "bob's exec cut at expiry",
            Box::new(move |e| {
                e["kind"] == "stream.end"
                    && e["user"] == b
                    && e["reason"].as_str().is_some_and(|r| r.contains("expired"))
            }),
        ),
        (
            "carol replaying bob's session",
            Box::new(move |e| {
                e["kind"] == "recording.read"
                    && e["user"] == c
                    && e["name"] == replayed.as_str()
                    && e["decision"] == "allow"
            }),
        ),
        (
            "alice refused bob's recording",
            Box::new(move |e| {
                e["kind"] == "recording.read"
                    && e["user"] == a
                    && e["name"] == refused_replay.as_str()
                    && e["decision"] == "deny"
            }),
        ),
    ];
    for (what, pick) in &checks {
        audit.wait_for(what, "", 10 * SECOND, |e| pick(e))?;
    }
    let verified = stack.jitgate(["audit", "verify"])?.checked()?;
    eprintln!("{}", verified.stdout_text().trim());
    Ok(())
}
