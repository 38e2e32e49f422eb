//! The smoke suite: what an on-call engineer does with kubectl — get, watch, logs, exec, exec -it,
//! attach, cp, port-forward, debug — run with real kubectl binaries of each selected version
//! against a real cluster, asserting on what kubectl prints and how it exits.
//!
//! Every test needs the sandbox and is ignored by a plain `cargo test`; `make test` starts the
//! sandbox and runs `cargo test -p jitgate-e2e -- --ignored`. By hand:
//!
//! ```text
//! JITGATE_SANDBOX_DIR=$PWD/.sandbox cargo test -p jitgate-e2e --test smoke -- --ignored
//! JITGATE_KUBECTL_VERSIONS=1.27,1.30,1.33 …   # which kubectl versions (default 1.27,1.33)
//! cargo test -p jitgate-e2e --test smoke -- --ignored exec_tty::   # one case, every version
//! ```
//!
//! Test names are `<case>::kubectl_1_NN`; a version not selected passes without doing anything
//! (and says so on stderr), a selected version whose binary is missing fails.

// Test code: `expect` with a message is how a test fails.
#![allow(clippy::expect_used)]

use std::thread;
use std::time::Duration;

use jitgate_e2e::forward::forwarded_ipv4;
use jitgate_e2e::random::{random_bytes, random_name};
use jitgate_e2e::suite::{
    SUITE_VERSIONS, poll, port_forward_transports, remote_command_transports,
};
use jitgate_e2e::{CaseResult, Pod, PtySize, SmokeEnv, http};
use serde_json::Value;

/// Generates `<case>::kubectl_1_NN` for every version in [`SUITE_VERSIONS`].
macro_rules! smoke_cases {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            use jitgate_e2e::run_case;

            /// The same case with kubectl talking to the jitgate gateway (which terminates the
            /// streams and re-originates them upstream) instead of the apiserver.
            mod through_gateway {
                use jitgate_e2e::run_case_through_gateway as run;
                const CASE: &str = concat!(stringify!($case), " through jitgate");
                #[test]
                #[ignore = "needs the gateway stack: run `make test`"]
                fn kubectl_1_27() { run(CASE, "1.27", super::super::$case); }
                #[test]
                #[ignore = "needs the gateway stack: run `make test`"]
                fn kubectl_1_28() { run(CASE, "1.28", super::super::$case); }
                #[test]
                #[ignore = "needs the gateway stack: run `make test`"]
                fn kubectl_1_29() { run(CASE, "1.29", super::super::$case); }
                #[test]
                #[ignore = "needs the gateway stack: run `make test`"]
                fn kubectl_1_30() { run(CASE, "1.30", super::super::$case); }
                #[test]
                #[ignore = "needs the gateway stack: run `make test`"]
                fn kubectl_1_31() { run(CASE, "1.31", super::super::$case); }
                #[test]
                #[ignore = "needs the gateway stack: run `make test`"]
                fn kubectl_1_32() { run(CASE, "1.32", super::super::$case); }
                #[test]
                #[ignore = "needs the gateway stack: run `make test`"]
                fn kubectl_1_33() { run(CASE, "1.33", super::super::$case); }
            }

            #[test]
            #[ignore = "needs the sandbox cluster: run `make test`"]
            fn kubectl_1_27() { run_case(stringify!($case), "1.27", super::$case); }
            #[test]
            #[ignore = "needs the sandbox cluster: run `make test`"]
            fn kubectl_1_28() { run_case(stringify!($case), "1.28", super::$case); }
            #[test]
            #[ignore = "needs the sandbox cluster: run `make test`"]
            fn kubectl_1_29() { run_case(stringify!($case), "1.29", super::$case); }
            #[test]
            #[ignore = "needs the sandbox cluster: run `make test`"]
            fn kubectl_1_30() { run_case(stringify!($case), "1.30", super::$case); }
            #[test]
            #[ignore = "needs the sandbox cluster: run `make test`"]
            fn kubectl_1_31() { run_case(stringify!($case), "1.31", super::$case); }
            #[test]
            #[ignore = "needs the sandbox cluster: run `make test`"]
            fn kubectl_1_32() { run_case(stringify!($case), "1.32", super::$case); }
            #[test]
            #[ignore = "needs the sandbox cluster: run `make test`"]
            fn kubectl_1_33() { run_case(stringify!($case), "1.33", super::$case); }
        }
    )+};
}

smoke_cases!(
    get_pods,
    watch_pods,
    logs,
    logs_follow,
    exec_exit_code,
    exec_tty,
    attach,
    attach_keeps_output_written_just_before_exit,
    cp,
    port_forward,
    debug_ephemeral,
    debug_interactive,
);

/// The macro above and [`SUITE_VERSIONS`] must name the same versions.
#[test]
fn generated_versions_match_the_suite() {
    assert_eq!(
        SUITE_VERSIONS,
        ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"]
    );
}

/// Fails the case with a message (instead of panicking) so the failure carries its context.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

const SECOND: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(500);

/// A container that just stays up.
fn sleeper(name: &str) -> Pod {
    Pod::new(name).command(["sleep", "600"])
}

/// A container printing `line-1`, `line-2`, … twice a second.
fn counter(name: &str) -> Pod {
    Pod::shell(
        name,
        "i=1; while [ $i -le 1200 ]; do echo line-$i; i=$((i+1)); sleep 0.5; done; sleep 600",
    )
}

/// The number of a `line-N` log line.
fn line_number(line: &str) -> Option<u64> {
    line.strip_prefix("line-")?.parse().ok()
}

/// Checks that `text` is consecutive `line-N` lines starting at `first` (if given).
fn check_consecutive(text: &str, first: Option<u64>) -> Result<Vec<u64>, String> {
    let numbers: Vec<u64> = text
        .lines()
        .map(|l| line_number(l).ok_or_else(|| format!("not a counter line: {l:?} in\n{text}")))
        .collect::<Result<_, _>>()?;
    if let (Some(first), Some(&got)) = (first, numbers.first())
        && got != first
    {
        return Err(format!(
            "logs start at line-{got}, want line-{first}:\n{text}"
        ));
    }
    if numbers.windows(2).any(|w| w[1] != w[0] + 1) {
        return Err(format!("log lines are not consecutive:\n{text}"));
    }
    Ok(numbers)
}

fn get_pods(env: &SmokeEnv) -> CaseResult {
    env.ns.start_pod(&sleeper("sleeper"))?;
    let k = &env.kubectl;

    let list = k.run(["get", "pods", "-o", "json"])?.checked()?.json()?;
    ensure!(
        list["kind"] == "List" || list["kind"] == "PodList",
        "unexpected kind in {list}"
    );
    let items = list["items"]
        .as_array()
        .ok_or_else(|| format!("`get pods -o json` has no items array: {list}"))?;
    let pod = items
        .iter()
        .find(|p| p["metadata"]["name"] == "sleeper")
        .ok_or_else(|| format!("pod sleeper is not listed: {list}"))?;
    ensure!(
        pod["metadata"]["namespace"] == env.ns.name(),
        "wrong namespace: {pod}"
    );
    ensure!(
        pod["status"]["phase"] == "Running",
        "pod is not Running: {}",
        pod["status"]
    );
    ensure!(
        pod["status"]["containerStatuses"][0]["ready"] == true,
        "container not ready: {}",
        pod["status"]
    );
    ensure!(
        pod["status"]["podIP"]
            .as_str()
            .is_some_and(|ip| !ip.is_empty()),
        "pod has no IP: {}",
        pod["status"]
    );

    let one = k
        .run(["get", "pod", "sleeper", "-o", "json"])?
        .checked()?
        .json()?;
    ensure!(
        one["kind"] == "Pod" && one["metadata"]["name"] == "sleeper",
        "`get pod sleeper -o json` returned {one}"
    );

    let table = k.run(["get", "pods"])?.checked()?.stdout_text();
    ensure!(
        table.lines().next().is_some_and(|h| h.starts_with("NAME")),
        "no table header:\n{table}"
    );
    ensure!(
        table
            .lines()
            .any(|l| l.split_whitespace().next() == Some("sleeper") && l.contains("Running")),
        "sleeper Running is not in the table:\n{table}"
    );
    Ok(())
}

/// The first watch event of `kind` for pod `name` in kubectl's stream of JSON objects.
fn watch_event(out: &[u8], kind: &str, name: &str) -> Option<Value> {
    serde_json::Deserializer::from_slice(out)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .find(|e| e["type"] == kind && e["object"]["metadata"]["name"] == name)
}

fn watch_pods(env: &SmokeEnv) -> CaseResult {
    let k = &env.kubectl;
    let mut watch = k.spawn(["get", "pods", "-w", "--output-watch-events", "-o", "json"])?;
    // Created before or after the watch has listed: either way it arrives as ADDED.
    env.ns.create_pod(&sleeper("watched"))?;
    let added = watch.wait_for_stdout("an ADDED event for pod watched", 60 * SECOND, |out| {
        watch_event(out, "ADDED", "watched")
    })?;
    ensure!(
        added["object"]["metadata"]["namespace"] == env.ns.name(),
        "event from the wrong namespace: {added}"
    );
    env.ns.wait_ready("watched")?;
    watch.wait_for_stdout("a MODIFIED event for pod watched", 30 * SECOND, |out| {
        watch_event(out, "MODIFIED", "watched")
    })?;
    env.ns
        .admin()
        .run(["delete", "pod", "watched", "--wait=false"])?
        .checked()?;
    watch.wait_for_stdout("a DELETED event for pod watched", 60 * SECOND, |out| {
        watch_event(out, "DELETED", "watched")
    })?;
    let stopped = watch.stop()?;
    ensure!(
        !stopped.stderr_text().contains("error"),
        "the watch reported an error: {stopped}"
    );
    Ok(())
}

fn logs(env: &SmokeEnv) -> CaseResult {
    env.ns.start_pod(&counter("counter"))?;
    let k = &env.kubectl;
    let text = poll(
        "three log lines from pod counter",
        30 * SECOND,
        POLL,
        |last| {
            let text = k.run(["logs", "counter"])?.checked()?.stdout_text();
            *last = text.clone();
            Ok((text.lines().count() >= 3).then_some(text))
        },
    )?;
    check_consecutive(&text, Some(1))?;

    let tail = k
        .run(["logs", "counter", "--tail=2"])?
        .checked()?
        .stdout_text();
    let numbers = check_consecutive(&tail, None)?;
    ensure!(
        numbers.len() == 2,
        "--tail=2 printed {} lines:\n{tail}",
        numbers.len()
    );

    let named = k
        .run(["logs", "counter", "-c", "main"])?
        .checked()?
        .stdout_text();
    ensure!(
        named.starts_with("line-1\n"),
        "`logs -c main` printed:\n{named}"
    );
    Ok(())
}

fn logs_follow(env: &SmokeEnv) -> CaseResult {
    env.ns.start_pod(&counter("counter"))?;
    let k = &env.kubectl;
    let mut follow = k.spawn(["logs", "-f", "counter"])?;
    follow.wait_for_line("line-1 (the history)", 30 * SECOND, |l| l == "line-1")?;
    // The newest line now; the one after it is printed after `logs -f` started.
    let now = k
        .run(["logs", "counter", "--tail=1"])?
        .checked()?
        .stdout_text();
    let newest =
        line_number(now.trim()).ok_or_else(|| format!("`logs --tail=1` printed {now:?}"))?;
    let next = format!("line-{}", newest + 1);
    follow.wait_for_line(
        &format!("{next}, printed after `logs -f` started"),
        30 * SECOND,
        |l| l == next,
    )?;
    let out = follow.stop()?;
    let text = out.stdout_text();
    // Only complete lines: kill may cut the last one.
    let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
    check_consecutive(complete, Some(1))?;
    Ok(())
}

fn exec_exit_code(env: &SmokeEnv) -> CaseResult {
    env.ns.start_pod(&sleeper("sleeper"))?;
    for (transport, k) in remote_command_transports(&env.kubectl) {
        let out = k.run([
            "exec",
            "sleeper",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 7",
        ])?;
        ensure!(
            out.stdout_text() == "out\n",
            "{transport}: stdout is not \"out\\n\": {out}"
        );
        ensure!(
            out.stderr_text().lines().next() == Some("err"),
            "{transport}: stderr does not start with \"err\": {out}"
        );
        ensure!(
            out.code() == Some(7),
            "{transport}: exit status is not 7: {out}"
        );

        let out = k
            .run_with_stdin(
                [
                    "exec",
                    "-i",
                    "sleeper",
                    "--",
                    "sh",
                    "-c",
                    "cat; printenv POD_NAME",
                ],
                b"from-stdin\n",
            )?
            .checked()?;
        ensure!(
            out.stdout_text() == "from-stdin\nsleeper\n",
            "{transport}: `exec -i` did not pass stdin through: {out}"
        );
    }
    Ok(())
}

fn exec_tty(env: &SmokeEnv) -> CaseResult {
    env.ns.start_pod(&sleeper("sleeper"))?;
    for (transport, k) in remote_command_transports(&env.kubectl) {
        let mut pty = k.spawn_pty(["exec", "-it", "sleeper", "--", "sh"], PtySize::new(37, 91))?;
        pty.send_line("echo tty-$((40+2))")?;
        pty.expect("tty-42", 30 * SECOND)?;
        pty.send_line("tty")?;
        pty.expect("/dev/pts/", 10 * SECOND)?;
        // kubectl sends the size on its own stream, unordered with what is typed (and again
        // when it gets SIGWINCH): ask until the shell has it.
        pty.ask_until("stty size", "37 91", 15 * SECOND)
            .map_err(|e| format!("{transport}: the initial size: {e}"))?;
        pty.resize(PtySize::new(40, 100))?;
        pty.ask_until("stty size", "40 100", 15 * SECOND)
            .map_err(|e| format!("{transport}: the size after a resize: {e}"))?;

        pty.send_line("exit 3")?;
        let code = pty.wait(30 * SECOND)?;
        ensure!(
            code == 3,
            "{transport}: `exec -it … sh` ended with {code}, want the shell's 3\n{}",
            pty.transcript()
        );
    }
    Ok(())
}

fn attach(env: &SmokeEnv) -> CaseResult {
    for (transport, k) in remote_command_transports(&env.kubectl) {
        let name = format!("reader-{}", transport.to_string().to_lowercase());
        let pod = Pod::shell(
            &name,
            r#"while read l; do [ "$l" = quit ] && exit 0; echo got:$l; done"#,
        )
        .stdin(true)
        .restart_never();
        env.ns.start_pod(&pod)?;
        let out = k.run_with_stdin(["attach", "-i", &name], b"ping\nquit\n")?;
        ensure!(
            out.stdout_text().contains("got:ping"),
            "{transport}: attach did not show got:ping: {out}"
        );
        ensure!(out.success(), "{transport}: attach failed: {out}");
        poll(
            &format!("{transport}: pod {name} to succeed after quit"),
            30 * SECOND,
            POLL,
            |last| {
                let pod = env.ns.get_json(&["pod", &name])?;
                *last = pod["status"].to_string();
                Ok((pod["status"]["phase"] == "Succeeded").then_some(()))
            },
        )?;
    }
    Ok(())
}

/// Pins a sandbox bug: over SPDY, `attach` lost the output a container wrote just before it
/// exited (the container log had it; kubectl printed nothing and exited 0). Ten attaches at
/// once make the race show up reliably.
fn attach_keeps_output_written_just_before_exit(env: &SmokeEnv) -> CaseResult {
    const ATTACHES: usize = 10;
    for (transport, k) in remote_command_transports(&env.kubectl) {
        let tag = transport.to_string().to_lowercase();
        let names: Vec<String> = (0..ATTACHES).map(|i| format!("{tag}-{i}")).collect();
        for name in &names {
            env.ns.create_pod(
                &Pod::shell(
                    name,
                    r#"while read l; do [ "$l" = quit ] && exit 0; echo got:$l; done"#,
                )
                .stdin(true)
                .restart_never(),
            )?;
        }
        for name in &names {
            env.ns.wait_ready(name)?;
        }
        let outputs = thread::scope(|s| {
            let attaches: Vec<_> = names
                .iter()
                .map(|name| {
                    let k = &k;
                    s.spawn(move || k.run_with_stdin(["attach", "-i", name], b"ping\nquit\n"))
                })
                .collect();
            attaches
                .into_iter()
                .map(|a| a.join().expect("attach thread"))
                .collect::<Vec<_>>()
        });
        let mut lost = Vec::new();
        for (name, out) in names.iter().zip(outputs) {
            let out = out?;
            if !out.stdout_text().contains("got:ping") || !out.success() {
                let log = env
                    .ns
                    .admin()
                    .run(["logs", name])
                    .map_or_else(|e| e.to_string(), |l| l.stdout_text());
                lost.push(format!("{name}: container log {log:?}; {out}"));
            }
        }
        ensure!(
            lost.is_empty(),
            "{transport}: {} of {ATTACHES} concurrent attaches lost the container's output:\n{}",
            lost.len(),
            lost.join("\n")
        );
    }
    Ok(())
}

fn cp(env: &SmokeEnv) -> CaseResult {
    env.ns.start_pod(&sleeper("sleeper"))?;
    let local = tempfile::tempdir()?;
    // Containers are host processes: the pod's /tmp is the host's, so the name must be unique.
    let remote_dir = format!("/tmp/jitgate-smoke-{}-{}", env.ns.name(), random_name(6));
    for (transport, k) in remote_command_transports(&env.kubectl) {
        let tag = transport.to_string().to_lowercase();
        let data = random_bytes(1 << 20);
        let src = local.path().join(format!("{tag}-src"));
        let back = local.path().join(format!("{tag}-back"));
        std::fs::write(&src, &data)?;
        let remote_path = format!("{remote_dir}/{tag}/f");
        let remote = format!("sleeper:{remote_path}");

        k.run([
            "exec",
            "sleeper",
            "--",
            "mkdir",
            "-p",
            &format!("{remote_dir}/{tag}"),
        ])?
        .checked()?;
        let src_arg = src.to_str().ok_or("temporary path is not UTF-8")?;
        k.run(["cp", src_arg, &remote])?.checked()?;

        let cat = k
            .run(["exec", "sleeper", "--", "cat", &remote_path])?
            .checked()?;
        ensure!(
            cat.stdout == data,
            "{transport}: `cat {remote_path}` gave {} bytes that differ from the {} copied",
            cat.stdout.len(),
            data.len()
        );

        let back_arg = back.to_str().ok_or("temporary path is not UTF-8")?;
        k.run(["cp", &remote, back_arg])?.checked()?;
        let got = std::fs::read(&back)?;
        ensure!(
            got == data,
            "{transport}: copied back {} bytes that differ from the {} sent",
            got.len(),
            data.len()
        );
    }
    let _ = env
        .kubectl
        .run(["exec", "sleeper", "--", "rm", "-rf", &remote_dir]);
    Ok(())
}

/// `GET /` and a 1 MiB `POST /echo` through one forwarded port.
fn exchange(addr: std::net::SocketAddr) -> Result<(), String> {
    let hello = http::get(addr, "/", 30 * SECOND).map_err(|e| e.to_string())?;
    if hello.status != 200 || hello.text() != "hello from web\n" {
        return Err(format!(
            "GET / via {addr}: status {}, body {:?}; want 200 \"hello from web\\n\"",
            hello.status,
            hello.text()
        ));
    }
    let body = random_bytes(1 << 20);
    let echo = http::post(addr, "/echo", &body, 60 * SECOND).map_err(|e| e.to_string())?;
    if echo.status != 200 || echo.body != body {
        return Err(format!(
            "POST /echo via {addr}: status {}, {} bytes back that differ from the {} sent",
            echo.status,
            echo.body.len(),
            body.len()
        ));
    }
    Ok(())
}

fn port_forward(env: &SmokeEnv) -> CaseResult {
    env.ns.start_pod(&Pod::new("web").ports([8080, 9090]))?;
    for (transport, k) in port_forward_transports(&env.kubectl) {
        let mut forward = k.spawn(["port-forward", "pod/web", ":8080", ":9090"])?;
        let (a, b) = forward.wait_for_stdout(
            "`Forwarding from 127.0.0.1:… -> 8080` and `… -> 9090`",
            30 * SECOND,
            |out| {
                let text = String::from_utf8_lossy(out);
                Some((forwarded_ipv4(&text, 8080)?, forwarded_ipv4(&text, 9090)?))
            },
        )?;
        // Three concurrent clients per port, each a GET and a 1 MiB POST on new connections.
        let results: Vec<Result<(), String>> = thread::scope(|s| {
            let workers: Vec<_> = [a, b, a, b, a, b]
                .into_iter()
                .map(|addr| s.spawn(move || exchange(addr)))
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err("client thread panicked".to_owned()))
                })
                .collect()
        });
        let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
        ensure!(
            failures.is_empty(),
            "{transport}: {} of 6 clients failed:\n{}\n--- kubectl port-forward stderr ---\n{}",
            failures.len(),
            failures.join("\n"),
            forward.stderr_text()
        );
        ensure!(
            forward.try_status()?.is_none(),
            "{transport}: port-forward exited: {}",
            forward.stderr_text()
        );
        forward.stop()?;
    }
    Ok(())
}

fn debug_ephemeral(env: &SmokeEnv) -> CaseResult {
    env.ns.start_pod(&sleeper("target"))?;
    let k = &env.kubectl;
    k.run([
        "debug",
        "target",
        "--image=busybox:1.36",
        "-c",
        "dbg",
        "--attach=false",
        "--",
        "sh",
        "-c",
        "echo debug-started; sleep 600",
    ])?
    .checked()?;
    poll(
        "ephemeral container dbg to run",
        60 * SECOND,
        POLL,
        |last| {
            let out = k
            .run([
                "get",
                "pod",
                "target",
                "-o",
                r#"jsonpath={.status.ephemeralContainerStatuses[?(@.name=="dbg")].state.running}"#,
            ])?
            .checked()?;
            *last = format!("running state {:?}", out.stdout_text());
            Ok((!out.stdout_text().trim().is_empty()).then_some(()))
        },
    )?;

    let out = k
        .run(["exec", "target", "-c", "dbg", "--", "echo", "in-debug"])?
        .checked()?;
    ensure!(out.stdout_text() == "in-debug\n", "exec in dbg: {out}");

    poll(
        "`logs -c dbg` to show debug-started",
        20 * SECOND,
        POLL,
        |last| {
            let text = k
                .run(["logs", "target", "-c", "dbg"])?
                .checked()?
                .stdout_text();
            *last = text.clone();
            Ok(text.lines().any(|l| l == "debug-started").then_some(()))
        },
    )?;
    Ok(())
}

fn debug_interactive(env: &SmokeEnv) -> CaseResult {
    env.ns.start_pod(&sleeper("target"))?;
    let out = env.kubectl.with_timeout(120 * SECOND).run_with_stdin(
        [
            "debug",
            "-i",
            "target",
            "--image=busybox:1.36",
            "-c",
            "dbg2",
            "--",
            "sh",
        ],
        b"echo hi-from-debug\nexit\n",
    )?;
    ensure!(
        out.stdout_text().contains("hi-from-debug"),
        "`debug -i` did not show the shell's output: {out}"
    );
    ensure!(out.success(), "`debug -i` failed: {out}");
    Ok(())
}
