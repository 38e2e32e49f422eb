//! Acceptance of the jitgate gateway: real kubectl binaries (1.27 speaks SPDY, 1.33 WebSocket)
//! and a raw HTTPS client against `jitgate serve` in front of a real kube-apiserver, with a real
//! OIDC provider (Dex). Every case makes its own users (`<name>-<random>`) and namespaces
//! (`gw-<random>`, with `jitgate rbac render` applied), so cases run in parallel.
//!
//! - `<case>::kubectl_1_NN`: what an on-call engineer does through the gateway with a grant —
//!   get, list, watch, logs, `logs -f`, exec with its exit code — and what is refused without
//!   one; who the apiserver sees; revocation and expiry cutting watches, `logs -f` and exec
//!   (the design says within 1 s; the tests allow 2 s and print the measured times as
//!   `MEASURED …` lines).
//! - `refused::*`: one refusal each — certificates, forged tokens, impersonation headers, path
//!   tricks, authorization — checked for its HTTP status, its Kubernetes `Status` message and
//!   its `deny` line in the gateway's audit log; `oidc::*` is their positive control.
//! - `streams::*`: streams kubectl does not open but Kubernetes serves (`?follow=True`, the
//!   legacy `/watch/` path), and a certificate expiring under a live stream.
//! - `admin::*`: health, readiness, metrics, and the audit log's hash chain.
//!
//! Every test needs the stack and is ignored by a plain `cargo test`:
//!
//! ```text
//! scripts/stack.sh up $PWD/.sandbox-gw && source .sandbox-gw/jitgate/env
//! cargo test -p jitgate-e2e --test gateway -- --ignored
//! JITGATE_KUBECTL_VERSIONS=1.27,1.30,1.33 …   # which kubectl versions (default 1.27,1.31,1.33)
//! scripts/stack.sh down .sandbox-gw
//! ```

// Test code: `expect` with a message is how a test fails.
#![allow(clippy::expect_used)]

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jitgate_e2e::PtySize;
use jitgate_e2e::audit_log::{JsonLines, is_denial};
use jitgate_e2e::dex::Dex;
use jitgate_e2e::forge::{CertSpec, CraftedCert, CraftingCa, Jwt, pem, rsa_jwk_to_spki_der};
use jitgate_e2e::forward::forwarded_ipv4;
use jitgate_e2e::gateway_suite::{GatewayCase, poll};
use jitgate_e2e::kubectl::Output;
use jitgate_e2e::raw_http::{ClientCert, RawClient, RawRequest, RawResponse};
use jitgate_e2e::stack::{CertUser, Grant, StackError};
use jitgate_e2e::suite::{port_forward_transports, remote_command_transports};
use jitgate_e2e::{CaseResult, Kubectl, Pod};
use rcgen::ExtendedKeyUsagePurpose;
use serde_json::{Value, json};

/// Generates `<case>::kubectl_1_NN` for every version the harness knows; the versions selected
/// by `JITGATE_KUBECTL_VERSIONS` (default 1.27 and 1.33) run, the others say so and pass.
macro_rules! kubectl_cases {
    ($($case:ident),+ $(,)?) => {$(
        mod $case {
            use jitgate_e2e::gateway_suite::run_gateway_case;

            #[test]
            #[ignore = "needs the jitgate stack: run make test"]
            fn kubectl_1_27() { run_gateway_case(stringify!($case), "1.27", super::$case); }
            #[test]
            #[ignore = "needs the jitgate stack: run make test"]
            fn kubectl_1_28() { run_gateway_case(stringify!($case), "1.28", super::$case); }
            #[test]
            #[ignore = "needs the jitgate stack: run make test"]
            fn kubectl_1_29() { run_gateway_case(stringify!($case), "1.29", super::$case); }
            #[test]
            #[ignore = "needs the jitgate stack: run make test"]
            fn kubectl_1_30() { run_gateway_case(stringify!($case), "1.30", super::$case); }
            #[test]
            #[ignore = "needs the jitgate stack: run make test"]
            fn kubectl_1_31() { run_gateway_case(stringify!($case), "1.31", super::$case); }
            #[test]
            #[ignore = "needs the jitgate stack: run make test"]
            fn kubectl_1_32() { run_gateway_case(stringify!($case), "1.32", super::$case); }
            #[test]
            #[ignore = "needs the jitgate stack: run make test"]
            fn kubectl_1_33() { run_gateway_case(stringify!($case), "1.33", super::$case); }
        }
    )+};
}

/// Generates `<module>::<case>`, run once (they do not depend on kubectl).
macro_rules! once_cases {
    ($module:ident: $($case:ident),+ $(,)?) => {
        mod $module {
            use jitgate_e2e::gateway_suite::run_gateway_once;
            $(
                #[test]
                #[ignore = "needs the jitgate stack: run make test"]
                fn $case() { run_gateway_once(stringify!($case), super::$case); }
            )+
        }
    };
}

kubectl_cases!(
    granted_namespace,
    kubectl_refusals,
    self_subject_review,
    oidc_token,
    revocation_cuts_streams,
    revocation_cuts_exec,
    revocation_cuts_interactive_exec,
    revocation_cuts_port_forward,
    port_forward_opens_only_the_profiles_ports,
    debug_containers_follow_the_profile,
    exec_guard_follows_the_profile,
    sessions_are_recorded,
    copies_follow_the_profile,
    typed_lines_follow_a_filtering_profile,
    expiry_cuts_watch,
    shutdown_cuts_exec_and_port_forward,
    replicas_share_grants_and_revocations,
);

once_cases!(refused:
    // Certificates: 401.
    no_credentials_at_all,
    expired_certificate,
    not_yet_valid_certificate,
    certificate_from_a_foreign_ca,
    certificate_from_an_impostor_of_the_jitgate_ca,
    server_auth_only_certificate,
    system_user_certificate,
    system_masters_group_certificate,
    reserved_jitgate_group_certificate,
    // OIDC: 401 (with a real Dex token as the positive control).
    unsigned_token,
    hs256_token_keyed_with_the_issuer_public_key,
    token_with_wrong_audience,
    token_with_wrong_issuer,
    token_with_past_expiry,
    token_with_another_users_email,
    garbage_token,
    basic_auth,
    // Client impersonation: 403.
    impersonate_user_header,
    impersonate_group_header,
    impersonate_uid_header,
    impersonate_extra_header,
    // Path tricks: 400.
    encoded_slash_in_path,
    dot_dot_segment_in_path,
    double_slash_in_path,
    dot_segment_in_path,
    backslash_in_path,
    invalid_utf8_in_path,
    // Authorization: 403.
    exec_get_without_grant,
    exec_post_without_grant,
    exec_websocket_upgrade_without_grant,
    node_proxy,
    pod_proxy_without_grant,
    cluster_scoped_nodes,
    delete_pod_in_granted_namespace,
    secrets_in_granted_namespace,
    certificate_without_any_grant,
);

once_cases!(oidc: dex_token_is_accepted);

once_cases!(policy:
    policy_reload_keeps_the_last_good_policy_and_grants_standing_access,
    namespace_selector_decides_where_a_profile_may_be_requested,
);

// Only against a stack whose sandbox refuses WebSocket streams (`scripts/e2e.sh` starts one with
// `sandbox up --legacy-streaming`): the gateway falls back to SPDY upstream.
once_cases!(fallback: spdy_upstream_when_the_apiserver_refuses_websocket);

once_cases!(streams:
    revocation_cuts_every_spelling_of_follow_and_watch,
    certificate_expiry_ends_streams,
    plain_websocket_port_forward_and_its_cut,
    plain_websocket_port_forward_to_a_closed_port_is_refused,
    the_apiserver_refusing_a_stream_reaches_the_client_as_it_is,
);

once_cases!(debug: every_patch_type_of_a_debug_container_is_checked);

once_cases!(admin: health_readiness_and_metrics);

/// Fails the case with a message (instead of panicking) so the failure carries its context.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+).into());
        }
    };
}

const SECOND: Duration = Duration::from_secs(1);

/// A bound on how long revocation or expiry may take to end a stream. The design says 1 s; the
/// bound leaves room for a loaded CI machine (kubectl itself must notice and exit), and the
/// measured time is printed so it can be quoted.
const CUT_BOUND: Duration = Duration::from_secs(2);

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

/// The first watch event of `kind` for pod `name` in kubectl's stream of JSON objects.
fn watch_event(out: &[u8], kind: &str, name: &str) -> Option<Value> {
    serde_json::Deserializer::from_slice(out)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .find(|e| e["type"] == kind && e["object"]["metadata"]["name"] == name)
}

/// A fresh namespace (RBAC rendered) with one running pod, and a certificate user holding a
/// 10-minute grant there that the gateway already honours.
struct PodUser {
    ns: jitgate_e2e::gw_namespace::GatewayNamespaces,
    user: CertUser,
    k: Kubectl,
    grant: Grant,
}

fn user_with_pod(
    env: &GatewayCase,
    prefix: &str,
    pod: &Pod,
    reason: &str,
) -> Result<PodUser, Box<dyn std::error::Error>> {
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    ns.start_pod(a, pod)?;
    let (user, k) = env.cert_user(prefix, a)?;
    let grant = env.stack.create_grant(&user.name, &[a], "10m", reason)?;
    wait_for_grant(&k)?;
    Ok(PodUser { ns, user, k, grant })
}

/// Waits until the gateway has loaded the user's new grant (it polls the store every 200 ms):
/// `get pods` succeeds.
fn wait_for_grant(k: &Kubectl) -> CaseResult {
    poll(
        "the gateway to honour the new grant (`get pods` succeeds)",
        10 * SECOND,
        Duration::from_millis(100),
        |last| {
            let out = k.run(["get", "pods"])?;
            *last = out.to_string();
            Ok(out.success().then_some(()))
        },
    )?;
    Ok(())
}

/// kubectl failed with `Error from server (Forbidden)` and a message containing `needles`.
fn expect_forbidden(out: &Output, needles: &[&str]) -> CaseResult {
    ensure!(
        !out.success(),
        "expected a refusal, but it succeeded: {out}"
    );
    let err = out.stderr_text();
    ensure!(
        err.contains("Forbidden"),
        "stderr does not say Forbidden: {out}"
    );
    for needle in needles {
        ensure!(
            err.contains(needle),
            "stderr does not mention {needle:?}: {out}"
        );
    }
    Ok(())
}

/// The user's SelfSubjectReview through the gateway: `kubectl auth whoami -o json` (1.28+), or
/// for 1.27 (whose `auth whoami` asks for the v1alpha1/v1beta1 API, which 1.37 no longer
/// serves) `create --raw` of a v1 SelfSubjectReview.
fn whoami(k: &Kubectl) -> Result<Value, Box<dyn std::error::Error>> {
    let out = if k.minor().is_some_and(|m| m >= 28) {
        k.run(["auth", "whoami", "-o", "json"])?
    } else {
        k.run_with_stdin(
            [
                "create",
                "--raw",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                "-f",
                "-",
            ],
            br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#,
        )?
    };
    let review = out.checked()?.json()?;
    ensure!(
        review["kind"] == "SelfSubjectReview",
        "not a SelfSubjectReview: {review}"
    );
    Ok(review["status"]["userInfo"].clone())
}

/// The values of extra `key` in a userInfo.
fn extra(user_info: &Value, key: &str) -> Vec<String> {
    user_info["extra"][key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// kubectl through the gateway
// ---------------------------------------------------------------------------------------------

/// With a grant in namespace A: get, list, watch, logs, `logs -f` and exec (with its exit code)
/// work through the gateway; namespace B without a grant and `--as` are refused, readably.
fn granted_namespace(env: &GatewayCase) -> CaseResult {
    let ns = env.namespaces(2)?;
    let (a, b) = (ns.name(0), ns.name(1));
    ns.start_pod(a, &counter("counter"))?;
    ns.create_pod(b, &sleeper("other"))?;
    let (user, k) = env.cert_user("alice", a)?;
    let grant = env
        .stack
        .create_grant(&user.name, &[a], "10m", "INC-e2e granted")?;
    wait_for_grant(&k)?;

    // get pods, as a table and as a JSON list.
    let table = k.run(["get", "pods"])?.checked()?.stdout_text();
    ensure!(
        table
            .lines()
            .any(|l| l.split_whitespace().next() == Some("counter") && l.contains("Running")),
        "pod counter Running is not in the table:\n{table}"
    );
    let list = k.run(["get", "pods", "-o", "json"])?.checked()?.json()?;
    let items = list["items"]
        .as_array()
        .ok_or_else(|| format!("`get pods -o json` has no items: {list}"))?;
    ensure!(
        items
            .iter()
            .any(|p| p["metadata"]["name"] == "counter" && p["metadata"]["namespace"] == a),
        "pod counter of {a} is not listed: {list}"
    );

    // get pods -w sees a pod the admin creates.
    let mut watch = k.spawn(["get", "pods", "-w", "--output-watch-events", "-o", "json"])?;
    watch.wait_for_stdout("the ADDED event of pod counter", 30 * SECOND, |out| {
        watch_event(out, "ADDED", "counter")
    })?;
    ns.create_pod(a, &sleeper("watched"))?;
    let added = watch.wait_for_stdout("an ADDED event for pod watched", 30 * SECOND, |out| {
        watch_event(out, "ADDED", "watched")
    })?;
    ensure!(
        added["object"]["metadata"]["namespace"] == a,
        "event from the wrong namespace: {added}"
    );
    drop(watch);

    // logs, then logs -f sees a line written after it started.
    let logs = poll(
        "two log lines from counter",
        30 * SECOND,
        SECOND / 2,
        |last| {
            let text = k.run(["logs", "counter"])?.checked()?.stdout_text();
            *last = text.clone();
            Ok((text.lines().count() >= 2).then_some(text))
        },
    )?;
    ensure!(
        logs.starts_with("line-1\nline-2\n"),
        "`logs counter` printed:\n{logs}"
    );
    let mut follow = k.spawn(["logs", "-f", "counter"])?;
    follow.wait_for_line("line-1", 30 * SECOND, |l| l == "line-1")?;
    let newest = k
        .run(["logs", "counter", "--tail=1"])?
        .checked()?
        .stdout_text();
    let n: u64 = newest
        .trim()
        .strip_prefix("line-")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("`logs --tail=1` printed {newest:?}"))?;
    let next = format!("line-{}", n + 1);
    follow.wait_for_line(
        &format!("{next}, written after `logs -f` started"),
        30 * SECOND,
        |l| l == next,
    )?;
    drop(follow);

    // exec: output and exit code, on every transport this kubectl has.
    for (transport, k) in remote_command_transports(&k) {
        let out = k.run(["exec", "counter", "--", "sh", "-c", "echo ok; exit 3"])?;
        ensure!(
            out.stdout_text() == "ok\n",
            "{transport}: exec stdout is not \"ok\\n\": {out}"
        );
        ensure!(
            out.code() == Some(3),
            "{transport}: exit code 3 was not propagated: {out}"
        );
    }

    // Namespace B, without a grant: refused with a message that says what to do.
    let other = k.in_namespace(b);
    let out = other.run(["get", "pods"])?;
    expect_forbidden(&out, &[b, "kubectl jit request"])?;
    let out = other.run(["exec", "other", "--", "true"])?;
    expect_forbidden(&out, &[b, "kubectl jit request"])?;

    // Impersonation by the client is refused.
    let out = k.run(["get", "pods", "--as=system:admin"])?;
    expect_forbidden(&out, &["impersonation"])?;

    // The audit log has the allowed list (with the grant) and the refusal in B.
    env.audit.wait_for(
        "an allowed `list pods` in A with the grant",
        &user.name,
        5 * SECOND,
        |e| {
            e["user"] == user.name.as_str()
                && e["decision"] == "allow"
                && e["verb"] == "list"
                && e["namespace"] == a
                && e["grant"] == grant.id.as_str()
        },
    )?;
    // The decision line is written before the request goes upstream; what the apiserver answered
    // follows in a `response` line of the same request.
    env.audit.wait_for(
        "the `response` line of the allowed `list pods` in A, with the apiserver's 200",
        &user.name,
        5 * SECOND,
        |e| {
            e["kind"] == "response"
                && e["user"] == user.name.as_str()
                && e["verb"] == "list"
                && e["namespace"] == a
                && e["status"] == 200
                && e["grant"] == grant.id.as_str()
                && e["latency_ms"].is_u64()
        },
    )?;
    env.audit.wait_for(
        "the refused `list pods` in B",
        &user.name,
        5 * SECOND,
        |e| is_denial(e, &user.name, 403) && e["namespace"] == b,
    )?;
    env.audit
        .wait_for("the refused --as", &user.name, 5 * SECOND, |e| {
            is_denial(e, &user.name, 403)
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("impersonat"))
        })?;
    Ok(())
}

/// What the profile does not allow, in the granted namespace and outside it, is refused.
fn kubectl_refusals(env: &GatewayCase) -> CaseResult {
    let ns = env.namespaces(2)?;
    let (a, b) = (ns.name(0), ns.name(1));
    ns.start_pod(a, &sleeper("sleeper"))?;
    ns.create_pod(b, &sleeper("other"))?;
    let (user, k) = env.cert_user("bob", a)?;
    let _grant = env
        .stack
        .create_grant(&user.name, &[a], "10m", "INC-e2e refusals")?;
    wait_for_grant(&k)?;

    let out = k.run(["delete", "pod", "sleeper", "--wait=false"])?;
    expect_forbidden(&out, &["delete pods"])?;
    let still = ns
        .admin_in(a)
        .run(["get", "pod", "sleeper", "-o", "name"])?;
    ensure!(
        still.success(),
        "the refused delete deleted the pod anyway: {still}"
    );

    let out = k.run(["get", "secrets"])?;
    expect_forbidden(&out, &["secrets"])?;
    let out = k.run(["get", "nodes"])?;
    expect_forbidden(&out, &["nodes"])?;
    let out = k.in_namespace(b).run(["logs", "other"])?;
    expect_forbidden(&out, &[b])?;
    for (transport, k) in remote_command_transports(&k.in_namespace(b)) {
        let out = k.run(["exec", "other", "--", "true"])?;
        expect_forbidden(&out, &[b]).map_err(|e| format!("{transport}: {e}"))?;
    }

    for (what, pick) in [
        ("delete pods", ("delete", "pods")),
        ("list secrets", ("list", "secrets")),
        ("list nodes", ("list", "nodes")),
    ] {
        env.audit.wait_for(
            &format!("the refused {what}"),
            &user.name,
            5 * SECOND,
            |e| is_denial(e, &user.name, 403) && e["verb"] == pick.0 && e["resource"] == pick.1,
        )?;
    }
    // (kubectl reads the pod before it execs, so that read is what B refuses.)
    env.audit.wait_for(
        "the refused read of pod other in B",
        &user.name,
        5 * SECOND,
        |e| is_denial(e, &user.name, 403) && e["name"] == "other" && e["namespace"] == b,
    )?;
    Ok(())
}

/// The apiserver sees the human (impersonated by the gateway), the profile group, and the grant
/// and session ids — in the SelfSubjectReview and in its own audit log.
fn self_subject_review(env: &GatewayCase) -> CaseResult {
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    let (user, k) = env.cert_user("carol", a)?;
    let grant = env
        .stack
        .create_grant(&user.name, &[a], "10m", "INC-e2e whoami")?;
    wait_for_grant(&k)?;

    let info = whoami(&k)?;
    ensure!(
        info["username"] == user.name.as_str(),
        "username is not {}: {info}",
        user.name
    );
    let groups: Vec<&str> = info["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    ensure!(
        groups.contains(&"jitgate:oncall-debug"),
        "groups lack jitgate:oncall-debug: {info}"
    );
    ensure!(
        extra(&info, "jitgate.dev/grant") == vec![grant.id.clone()],
        "extra jitgate.dev/grant is not [{}]: {info}",
        grant.id
    );
    let sessions = extra(&info, "jitgate.dev/session");
    let [session] = sessions.as_slice() else {
        return Err(format!("not exactly one jitgate.dev/session: {info}").into());
    };
    ensure!(session.starts_with("s-"), "odd session id: {info}");

    // The apiserver's audit log: the gateway authenticated, the human impersonated.
    let event = env.apiserver_audit.wait_for(
        "the apiserver's audit event of the SelfSubjectReview",
        &user.name,
        15 * SECOND,
        |e| {
            e["impersonatedUser"]["username"] == user.name.as_str()
                && e["objectRef"]["resource"] == "selfsubjectreviews"
                && e["stage"] == "ResponseComplete"
        },
    )?;
    ensure!(
        event["user"]["username"] == "jitgate-gateway",
        "the apiserver did not see the gateway authenticate: {event}"
    );
    ensure!(
        extra(&event["impersonatedUser"], "jitgate.dev/grant") == vec![grant.id.clone()]
            && extra(&event["impersonatedUser"], "jitgate.dev/session") == vec![session.clone()],
        "the apiserver's event lacks grant {} / session {session}: {event}",
        grant.id
    );

    // The gateway's own audit line of the same request carries the same session.
    env.audit.wait_for(
        "the gateway's audit line of the SelfSubjectReview",
        session,
        5 * SECOND,
        |e| {
            e["user"] == user.name.as_str()
                && e["session"] == session.as_str()
                && e["resource"] == "selfsubjectreviews"
                && e["decision"] == "allow"
        },
    )?;
    Ok(())
}

/// A real Dex ID token in the kubeconfig authenticates through the gateway: the username is the
/// `email` claim, the grant applies, and another namespace is refused.
fn oidc_token(env: &GatewayCase) -> CaseResult {
    let ns = env.namespaces(2)?;
    let (a, b) = (ns.name(0), ns.name(1));
    ns.start_pod(a, &sleeper("sleeper"))?;
    let dex = Dex::from_dir(&env.stack.dex_dir)?;
    let token = dex.id_token("alice@example.com", "alice-password")?;
    let grant = env
        .stack
        .create_grant("alice@example.com", &[a], "10m", "INC-e2e oidc")?;
    let kubeconfig = env.token_kubeconfig("alice-oidc", &token, a)?;
    let k = env.admin.with_kubeconfig(kubeconfig);
    wait_for_grant(&k)?;

    let list = k.run(["get", "pods", "-o", "json"])?.checked()?.json()?;
    ensure!(
        list["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|p| p["metadata"]["name"] == "sleeper")),
        "pod sleeper not listed with the OIDC token: {list}"
    );
    let info = whoami(&k)?;
    ensure!(
        info["username"] == "alice@example.com",
        "username is not the email claim: {info}"
    );
    ensure!(
        extra(&info, "jitgate.dev/grant").contains(&grant.id),
        "extra jitgate.dev/grant lacks {}: {info}",
        grant.id
    );
    let out = k.in_namespace(b).run(["get", "pods"])?;
    expect_forbidden(&out, &[b, "kubectl jit request"])?;

    env.audit.wait_for(
        "an allowed list by alice@example.com with Dex's groups",
        a,
        5 * SECOND,
        |e| {
            e["user"] == "alice@example.com"
                && e["decision"] == "allow"
                && e["namespace"] == a
                && e["groups"]
                    .as_array()
                    .is_some_and(|g| g.iter().any(|g| g == "oncall-payments"))
        },
    )?;
    Ok(())
}

/// Revoking the grant ends a running `get pods -w` and `logs -f` within the bound, each with the
/// revocation message; both ends are audited with the reason; the next request is refused.
fn revocation_cuts_streams(env: &GatewayCase) -> CaseResult {
    let PodUser { ns, user, k, grant } =
        user_with_pod(env, "dave", &counter("counter"), "INC-e2e revoke")?;
    let a = ns.name(0);

    let mut watch = k.spawn(["get", "pods", "-w"])?;
    watch.wait_for_line("the pod counter in the watch", 30 * SECOND, |l| {
        l.starts_with("counter ")
    })?;
    let mut follow = k.spawn(["logs", "-f", "counter"])?;
    follow.wait_for_line("line-1", 30 * SECOND, |l| l == "line-1")?;
    let streams = active_streams(env)?;
    ensure!(
        streams >= 2,
        "jitgate_active_streams is {streams} while this case alone holds 2"
    );

    let reason = env.unique("INC-revoked");
    let revoked = grant.revoke(&reason)?;
    let t0 = Instant::now();
    ensure!(
        revoked.stdout_text().contains("revoked"),
        "`grant revoke` printed: {revoked}"
    );
    let (mut watch_end, mut logs_end) = (None, None);
    while (watch_end.is_none() || logs_end.is_none()) && t0.elapsed() < 15 * SECOND {
        if watch_end.is_none() && watch.try_status()?.is_some() {
            watch_end = Some(t0.elapsed());
        }
        if logs_end.is_none() && follow.try_status()?.is_some() {
            logs_end = Some(t0.elapsed());
        }
        thread::sleep(Duration::from_millis(5));
    }
    let version = &env.version;
    for (what, end) in [("watch", watch_end), ("logs", logs_end)] {
        match end {
            Some(d) => eprintln!(
                "MEASURED revoke->{what} end: {} ms (kubectl {version})",
                d.as_millis()
            ),
            None => eprintln!("MEASURED revoke->{what} end: never (kubectl {version})"),
        }
    }
    let watch = watch.stop()?;
    let follow = follow.stop()?;
    ensure!(
        watch_end.is_some_and(|d| d < CUT_BOUND),
        "`get pods -w` did not end within {CUT_BOUND:?} of the revocation ({watch_end:?}): {watch}"
    );
    ensure!(
        logs_end.is_some_and(|d| d < CUT_BOUND),
        "`logs -f` did not end within {CUT_BOUND:?} of the revocation ({logs_end:?}): {follow}"
    );
    for (what, out) in [("watch", &watch), ("logs -f", &follow)] {
        let text = format!("{}{}", out.stdout_text(), out.stderr_text());
        ensure!(
            text.contains("access revoked") && text.contains(&reason),
            "the {what} does not show the revocation message with reason {reason:?}: {out}"
        );
    }

    for (what, pick) in [("watch", ("watch", "")), ("logs -f", ("get", "log"))] {
        env.audit.wait_for(
            &format!("the stream.end of the {what} with the revocation reason"),
            &user.name,
            5 * SECOND,
            |e| {
                e["kind"] == "stream.end"
                    && e["user"] == user.name.as_str()
                    && e["verb"] == pick.0
                    && (pick.1.is_empty() || e["subresource"] == pick.1)
                    && e["reason"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("revoked") && r.contains(&reason))
            },
        )?;
    }

    let out = k.run(["get", "pods"])?;
    expect_forbidden(&out, &[a, "kubectl jit request"])?;
    Ok(())
}

/// A gateway of its own in front of the suite's apiserver, with the suite's CA (so certificates
/// issued by `jitgate cert issue` work on it), its own data folder (audit log, recordings) and
/// `extra` arguments; its URL once it listens.
fn own_gateway(
    env: &GatewayCase,
    name: &str,
    extra: &[&str],
) -> Result<(jitgate_e2e::Background, String, std::path::PathBuf), Box<dyn std::error::Error>> {
    let data = env.dir(name)?;
    let mut serve = Command::new(&env.stack.jitgate_bin);
    serve
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .arg("--ca-dir")
        .arg(&env.stack.ca_dir)
        .arg("--data-dir")
        .arg(&data)
        .arg("--upstream-kubeconfig")
        .arg(env.stack.sandbox_dir.join("gateway.kubeconfig"))
        .args(extra)
        .env(
            "JITGATE_WEBHOOK_SECRET",
            format!("{}{}", env.unique("secret"), env.unique("key")),
        )
        .stdin(std::process::Stdio::null());
    let mut gateway =
        jitgate_e2e::Background::spawn_command(serve, format!("jitgate serve ({name})"))?;
    let url = gateway.wait_for_stdout("`listening on https://…`", 30 * SECOND, |out| {
        let text = String::from_utf8_lossy(out);
        let rest = text.split("listening on ").nth(1)?;
        let url = rest.split_whitespace().next()?;
        url.starts_with("https://").then(|| url.to_owned())
    })?;
    Ok((gateway, url, data))
}

/// Two gateway replicas sharing one PostgreSQL store (`--store postgres://…`), as behind a load
/// balancer: a grant made once is honoured by both, and revoking it (with the CLI, on the
/// database) ends a `get pods -w` through one replica and a `logs -f` through the other within
/// the bound DESIGN.md sets for replicas (2 s); each replica audits its own end, and both refuse
/// the next request.
fn replicas_share_grants_and_revocations(env: &GatewayCase) -> CaseResult {
    const REPLICA_BOUND: Duration = Duration::from_secs(2);
    let store = jitgate_e2e::postgres::fresh_database("replicas")?;
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    ns.start_pod(a, &counter("counter"))?;
    let store_args = ["--store", store.as_str()];
    let (replica_a, url_a, data_a) = own_gateway(env, "replica-a", &store_args)?;
    let (replica_b, url_b, data_b) = own_gateway(env, "replica-b", &store_args)?;

    let name = env.unique("ha");
    let dir = env.dir(&name)?;
    env.stack
        .jitgate([
            "cert",
            "issue",
            "--user",
            &name,
            "--group",
            "sre",
            "--ttl",
            "1h",
            "--out",
            &dir.to_string_lossy(),
            "--server",
            &url_a,
            "--namespace",
            a,
        ])?
        .checked()?;
    let kubeconfig_a = dir.join("kubeconfig");
    let kubeconfig_b = dir.join("kubeconfig-b");
    std::fs::write(
        &kubeconfig_b,
        std::fs::read_to_string(&kubeconfig_a)?.replace(&url_a, &url_b),
    )?;
    let ka = env.admin.with_kubeconfig(&kubeconfig_a).in_namespace(a);
    let kb = env.admin.with_kubeconfig(&kubeconfig_b).in_namespace(a);

    let created = env
        .stack
        .jitgate([
            "grant",
            "create",
            "--store",
            &store,
            "--user",
            &name,
            "--profile",
            "oncall-debug",
            "-n",
            a,
            "--for",
            "10m",
            "--reason",
            "INC-e2e replicas",
        ])?
        .checked()?;
    let text = created.stdout_text();
    let grant = text
        .split_whitespace()
        .find(|w| w.starts_with("g-"))
        .ok_or_else(|| format!("no grant id in `grant create`'s output: {created}"))?
        .to_owned();
    ensure!(
        !text.contains(&store) && !store.contains("***"),
        "the store URL with its password is printed: {created}"
    );
    wait_for_grant(&ka)?;
    wait_for_grant(&kb)?;

    let mut watch = ka.spawn(["get", "pods", "-w"])?;
    watch.wait_for_line("the pod counter in the watch", 30 * SECOND, |l| {
        l.starts_with("counter ")
    })?;
    let mut follow = kb.spawn(["logs", "-f", "counter"])?;
    follow.wait_for_line("line-1", 30 * SECOND, |l| l == "line-1")?;

    let reason = env.unique("INC-replica-revoked");
    env.stack
        .jitgate([
            "grant", "revoke", "--store", &store, &grant, "--reason", &reason,
        ])?
        .checked()?;
    let t0 = Instant::now();
    let (mut watch_end, mut logs_end) = (None, None);
    while (watch_end.is_none() || logs_end.is_none()) && t0.elapsed() < 15 * SECOND {
        if watch_end.is_none() && watch.try_status()?.is_some() {
            watch_end = Some(t0.elapsed());
        }
        if logs_end.is_none() && follow.try_status()?.is_some() {
            logs_end = Some(t0.elapsed());
        }
        thread::sleep(Duration::from_millis(5));
    }
    for (what, end) in [
        ("watch on replica A", watch_end),
        ("logs -f on replica B", logs_end),
    ] {
        eprintln!(
            "MEASURED revoke->{what} end: {} (kubectl {}, PostgreSQL store)",
            end.map_or("never".to_owned(), |d| format!("{} ms", d.as_millis())),
            env.version
        );
    }
    let watch = watch.stop()?;
    let follow = follow.stop()?;
    ensure!(
        watch_end.is_some_and(|d| d < REPLICA_BOUND),
        "`get pods -w` through replica A did not end within {REPLICA_BOUND:?} of the revocation \
         ({watch_end:?}): {watch}"
    );
    ensure!(
        logs_end.is_some_and(|d| d < REPLICA_BOUND),
        "`logs -f` through replica B did not end within {REPLICA_BOUND:?} of the revocation \
         ({logs_end:?}): {follow}"
    );
    for (what, out) in [("watch", &watch), ("logs -f", &follow)] {
        let text = format!("{}{}", out.stdout_text(), out.stderr_text());
        ensure!(
            text.contains("access revoked") && text.contains(&reason),
            "the {what} does not show the revocation message with reason {reason:?}: {out}"
        );
    }
    for (replica, data) in [("A", &data_a), ("B", &data_b)] {
        let audit = JsonLines::new(data.join("audit.jsonl"));
        audit.wait_for(
            &format!("replica {replica}'s stream.end with the revocation reason"),
            &name,
            5 * SECOND,
            |e| {
                e["kind"] == "stream.end"
                    && e["user"] == name.as_str()
                    && e["reason"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("revoked") && r.contains(&reason))
            },
        )?;
    }
    for k in [&ka, &kb] {
        let out = k.run(["get", "pods"])?;
        expect_forbidden(&out, &[a, "kubectl jit request"])?;
    }
    for gateway in [replica_a, replica_b] {
        gateway.terminate()?;
        let stopped = gateway.wait(10 * SECOND)?;
        ensure!(
            stopped.success(),
            "a replica did not exit cleanly: {stopped}"
        );
    }
    Ok(())
}

/// Stopping a gateway (`SIGTERM`, as a service manager or a rolling update does) ends every exec
/// and port-forward session through it within the bound: kubectl shows the reason and exits, and
/// each end is in the audit log. A gateway of its own (same CA and apiserver, its own store and
/// audit log), so the suite's gateway stays up.
fn shutdown_cuts_exec_and_port_forward(env: &GatewayCase) -> CaseResult {
    use std::io::Read as _;
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    ns.start_pod(a, &sleeper("sleeper"))?;
    ns.start_pod(a, &Pod::new("web").ports([8080]))?;

    let (gateway, url, data) = own_gateway(env, "own-gateway", &[])?;

    let name = env.unique("shut");
    let dir = env.dir(&name)?;
    env.stack
        .jitgate([
            "cert".as_ref(),
            "issue".as_ref(),
            "--user".as_ref(),
            name.as_ref(),
            "--group".as_ref(),
            "sre".as_ref(),
            "--ttl".as_ref(),
            "1h".as_ref(),
            "--out".as_ref(),
            dir.as_os_str(),
            "--server".as_ref(),
            url.as_ref(),
            "--namespace".as_ref(),
            a.as_ref(),
        ])?
        .checked()?;
    env.stack
        .jitgate([
            "grant".as_ref(),
            "create".as_ref(),
            "--data-dir".as_ref(),
            data.as_os_str(),
            "--user".as_ref(),
            name.as_ref(),
            "--profile".as_ref(),
            "oncall-debug".as_ref(),
            "-n".as_ref(),
            a.as_ref(),
            "--for".as_ref(),
            "10m".as_ref(),
            "--reason".as_ref(),
            "INC-e2e gateway shutdown".as_ref(),
        ])?
        .checked()?;
    let k = env
        .admin
        .with_kubeconfig(dir.join("kubeconfig"))
        .in_namespace(a);
    wait_for_grant(&k)?;

    enum Held {
        Exec,
        Forward(std::net::TcpStream),
    }
    let mut sessions = Vec::new();
    for (transport, k) in remote_command_transports(&k) {
        let exec = exec_that_sleeps(&k)?;
        sessions.push((
            format!("exec, {transport}"),
            exec,
            Held::Exec,
            None::<Duration>,
        ));
    }
    for (transport, k) in port_forward_transports(&k) {
        let (forward, tcp) = forward_with_open_connection(&k, transport)?;
        sessions.push((
            format!("port-forward, {transport}"),
            forward,
            Held::Forward(tcp),
            None,
        ));
    }

    gateway.terminate()?;
    let t0 = Instant::now();
    while sessions.iter().any(|s| s.3.is_none()) && t0.elapsed() < 15 * SECOND {
        for (_, process, _, end) in &mut sessions {
            if end.is_none() && process.try_status()?.is_some() {
                *end = Some(t0.elapsed());
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    let mut problems = Vec::new();
    let count = sessions.len();
    for (what, process, held, end) in sessions {
        eprintln!(
            "MEASURED shutdown->{what} end: {} (kubectl {})",
            end.map_or("never".to_owned(), |d| format!("{} ms", d.as_millis())),
            env.version
        );
        let out = process.stop()?;
        let text = format!("{}{}", out.stdout_text(), out.stderr_text());
        if end.is_none_or(|d| d >= CUT_BOUND) {
            problems.push(format!("{what}: did not end within {CUT_BOUND:?}: {out}"));
        }
        if !text.contains("shutting down") {
            problems.push(format!(
                "{what}: kubectl does not say the gateway is shutting down: {out}"
            ));
        }
        if let Held::Forward(mut tcp) = held {
            let mut rest = Vec::new();
            let _ = tcp.read_to_end(&mut rest);
        }
    }
    let stopped = gateway.wait(10 * SECOND)?;
    ensure!(problems.is_empty(), "{}", problems.join("\n\n"));
    ensure!(
        stopped.success(),
        "the gateway did not exit cleanly on SIGTERM: {stopped}"
    );
    // Every session's end was audited before the gateway exited.
    let audit = std::fs::read_to_string(data.join("audit.jsonl"))?;
    let ends = audit
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["kind"] == "stream.end"
                && e["user"] == name.as_str()
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("shutting down"))
        })
        .count();
    ensure!(
        ends >= count,
        "{ends} stream.end lines with the shutdown reason for {count} sessions in {}",
        data.join("audit.jsonl").display()
    );
    Ok(())
}

/// Revoking the grant ends running exec sessions — on every transport this kubectl has —
/// within the bound; kubectl says why and exits non-zero (the design: "the client gets a Status
/// failure on the error channel saying why, then the connection closes").
fn revocation_cuts_exec(env: &GatewayCase) -> CaseResult {
    let PodUser {
        ns: _ns,
        user,
        k,
        grant,
    } = user_with_pod(env, "frank", &sleeper("sleeper"), "INC-e2e revoke exec")?;
    let mut sessions = Vec::new();
    for (transport, k) in remote_command_transports(&k) {
        let exec = exec_that_sleeps(&k)?;
        sessions.push((transport, exec, None));
    }
    let reason = env.unique("INC-exec-revoked");
    grant.revoke(&reason)?;
    let t0 = Instant::now();
    while sessions.iter().any(|s| s.2.is_none()) && t0.elapsed() < 15 * SECOND {
        for (_, exec, end) in &mut sessions {
            if end.is_none() && exec.try_status()?.is_some() {
                *end = Some(t0.elapsed());
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    let mut problems = Vec::new();
    for (transport, exec, end) in sessions {
        match end {
            Some(d) => eprintln!(
                "MEASURED revoke->exec end: {} ms (kubectl {}, {transport})",
                d.as_millis(),
                env.version
            ),
            None => eprintln!(
                "MEASURED revoke->exec end: never (kubectl {}, {transport})",
                env.version
            ),
        }
        let out = exec.stop()?;
        let text = format!("{}{}", out.stdout_text(), out.stderr_text());
        if end.is_none_or(|d| d >= CUT_BOUND) {
            problems.push(format!(
                "{transport}: did not end within {CUT_BOUND:?}: {out}"
            ));
        }
        // The gateway ends the session with a Status on the error stream: kubectl says why and
        // exits non-zero.
        if !text.contains("access revoked") || !text.contains(&reason) || out.success() {
            problems.push(format!(
                "{transport}: kubectl did not show the revocation and its reason ({reason}) and fail: {out}"
            ));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n\n"));
    env.audit.wait_for(
        "stream.end lines of the cut exec sessions, with the reason and bytes",
        &user.name,
        5 * SECOND,
        |e| {
            e["kind"] == "stream.end"
                && e["user"] == user.name.as_str()
                && e["subresource"] == "exec"
                && e["bytes_out"].as_u64().is_some_and(|b| b > 0)
                && e["reason"].as_str().is_some_and(|r| r.contains(&reason))
        },
    )?;
    Ok(())
}

/// A grant of 8 s: a running watch ends within the bound after the expiry, saying so.
fn expiry_cuts_watch(env: &GatewayCase) -> CaseResult {
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    ns.start_pod(a, &sleeper("sleeper"))?;
    let (user, k) = env.cert_user("erin", a)?;
    let grant = env
        .stack
        .create_grant(&user.name, &[a], "8s", "INC-e2e expiry")?;
    let expires_at = env.stack.grant_json(&grant.id)?["expires_at"]
        .as_i64()
        .ok_or("the grant has no expires_at")?;
    wait_for_grant(&k)?;
    let mut watch = k.spawn(["get", "pods", "-w"])?;
    watch.wait_for_line("the pod sleeper in the watch", 30 * SECOND, |l| {
        l.starts_with("sleeper ")
    })?;
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    };
    ensure!(
        now().as_secs() < expires_at as u64,
        "the watch started only after the grant expired; the machine is too slow for this case"
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let ended_at = loop {
        if watch.try_status()?.is_some() {
            break now();
        }
        if Instant::now() >= deadline {
            let out = watch.stop()?;
            return Err(format!("the watch outlived its grant by 20 s: {out}").into());
        }
        thread::sleep(Duration::from_millis(5));
    };
    let after_ms = ended_at.as_millis() as i64 - expires_at * 1000;
    eprintln!(
        "MEASURED expiry->watch end: {after_ms} ms (kubectl {})",
        env.version
    );
    let out = watch.stop()?;
    ensure!(
        after_ms >= -100,
        "the watch ended {} ms before the grant expired: {out}",
        -after_ms
    );
    ensure!(
        after_ms < CUT_BOUND.as_millis() as i64,
        "the watch ended {after_ms} ms after the expiry (bound {CUT_BOUND:?}): {out}"
    );
    ensure!(
        out.stdout_text().contains("access expired at"),
        "the watch does not say the access expired: {out}"
    );
    env.audit.wait_for(
        "the stream.end of the watch with the expiry",
        &user.name,
        5 * SECOND,
        |e| {
            e["kind"] == "stream.end"
                && e["user"] == user.name.as_str()
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("expired") && r.contains("access expired at"))
        },
    )?;
    let out = k.run(["get", "pods"])?;
    expect_forbidden(&out, &[a])?;
    Ok(())
}

/// Kubernetes reads `follow` and `watch` as true for any value but `0`, `f` and `false` (any
/// case), so every spelling streams — and revocation must end every one of them, and the
/// legacy `/watch/` path too.
fn revocation_cuts_every_spelling_of_follow_and_watch(env: &GatewayCase) -> CaseResult {
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    ns.start_pod(a, &counter("counter"))?;
    let (user, _) = env.cert_user("gina", a)?;
    let grant = env
        .stack
        .create_grant(&user.name, &[a], "10m", "INC-e2e spellings")?;
    let http = client(env, Some((&user.cert_pem, &user.key_pem)))?;
    let pods = format!("/api/v1/namespaces/{a}/pods");
    poll(
        "the gateway to honour the new grant",
        10 * SECOND,
        Duration::from_millis(100),
        |last| {
            let resp = http.get(&pods)?;
            *last = resp.to_string();
            Ok((resp.status == 200).then_some(()))
        },
    )?;
    let mut targets: Vec<(String, &str)> = ["true", "1", "True", "t", "yes"]
        .iter()
        .map(|f| (format!("{pods}/counter/log?follow={f}"), "line-1"))
        .collect();
    targets.push((format!("{pods}/counter/log?follow"), "line-1"));
    for w in ["true", "1", "True", "yes"] {
        targets.push((format!("{pods}?watch={w}"), "ADDED"));
    }
    targets.push((format!("/api/v1/watch/namespaces/{a}/pods"), "ADDED"));
    let mut streams = Vec::new();
    for (target, first) in &targets {
        let stream = http.stream(&RawRequest::new("GET", target.as_str()))?;
        let started = stream.wait_until(30 * SECOND, |b| {
            b.windows(first.len())
                .any(|w| w == first.as_bytes())
                .then_some(())
        });
        ensure!(
            started.is_some(),
            "{target} did not stream {first:?}: {}",
            stream.text()
        );
        streams.push(stream);
    }
    let reason = env.unique("INC-spellings");
    grant.revoke(&reason)?;
    let revoked_at = Instant::now();
    let at_revocation: Vec<usize> = streams.iter().map(|s| s.bytes().len()).collect();
    for stream in &streams {
        stream.wait_end((revoked_at + CUT_BOUND).saturating_duration_since(Instant::now()));
    }
    let mut problems = Vec::new();
    for (stream, before) in streams.iter().zip(at_revocation) {
        match stream.ended() {
            None => problems.push(format!(
                "{} still streams {CUT_BOUND:?} after the revocation ({} bytes arrived since)",
                stream.what(),
                stream.bytes().len() - before
            )),
            Some(_) if !stream.text().contains("access revoked") => problems.push(format!(
                "{} ended without the revocation message: …{}",
                stream.what(),
                tail(&stream.text(), 300)
            )),
            Some(_) => {}
        }
    }
    ensure!(
        problems.is_empty(),
        "{} of {} streams were not cut properly:\n{}",
        problems.len(),
        streams.len(),
        problems.join("\n")
    );
    Ok(())
}

/// A stream opened with a client certificate ends when the certificate expires, even if the
/// grant lasts longer: `jitgate_ca::ClientIdentity::not_after` says "sessions must end by then".
fn certificate_expiry_ends_streams(env: &GatewayCase) -> CaseResult {
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    let name = env.unique("hank");
    let valid_for = 6;
    let cert = jitgate_ca(env)?.issue(&CertSpec::client(&name).org("sre").valid(
        time::Duration::minutes(-1),
        time::Duration::seconds(valid_for),
    ))?;
    let not_after = SystemTime::now() + Duration::from_secs(valid_for as u64);
    let _grant = env
        .stack
        .create_grant(&name, &[a], "10m", "INC-e2e cert expiry")?;
    let http = crafted_client(env, &cert)?;
    let pods = format!("/api/v1/namespaces/{a}/pods");
    poll(
        "the gateway to honour the new grant",
        5 * SECOND,
        Duration::from_millis(100),
        |last| {
            let resp = http.get(&pods)?;
            *last = resp.to_string();
            Ok((resp.status == 200).then_some(()))
        },
    )?;
    let watch = http.stream(&RawRequest::new("GET", format!("{pods}?watch=true")))?;
    let head = watch.wait_until(5 * SECOND, |b| {
        b.windows(4).any(|w| w == b"\r\n\r\n").then(|| b.to_vec())
    });
    ensure!(
        head.is_some_and(|h| h.starts_with(b"HTTP/1.1 200")),
        "the watch did not start: {}",
        watch.text()
    );
    let left = not_after
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    ensure!(
        left > Duration::ZERO,
        "the certificate expired before the watch started; the machine is too slow for this case"
    );
    let ended = watch.wait_end(left + CUT_BOUND);
    ensure!(
        ended.is_some(),
        "a watch opened with a certificate that expired {CUT_BOUND:?} ago still runs (the grant \
         lasts 10 minutes): {}",
        watch.text()
    );
    ensure!(
        watch.text().contains("expired"),
        "the watch ended without saying the certificate expired: {}",
        watch.text()
    );
    Ok(())
}

/// The last `n` characters of `text`.
fn tail(text: &str, n: usize) -> &str {
    let start = text.char_indices().rev().nth(n).map_or(0, |(i, _)| i);
    &text[start..]
}

// ---------------------------------------------------------------------------------------------
// Refusals, with a raw HTTPS client
// ---------------------------------------------------------------------------------------------

/// A user with a certificate and a grant for a namespace `gw-<random>` that need not exist
/// (the gateway decides before the apiserver sees anything).
struct Granted {
    user: CertUser,
    ns: String,
    client: RawClient,
    _grant: Grant,
}

fn ca_pem(env: &GatewayCase) -> Result<String, StackError> {
    std::fs::read_to_string(env.stack.ca_cert())
        .map_err(|e| StackError::io(format!("reading {}", env.stack.ca_cert().display()), e))
}

/// A client of the gateway presenting `cert` (or nothing).
fn client(env: &GatewayCase, cert: Option<(&str, &str)>) -> Result<RawClient, StackError> {
    RawClient::https(
        &env.stack.gateway_url,
        &ca_pem(env)?,
        cert.map(|(cert_pem, key_pem)| ClientCert { cert_pem, key_pem }),
    )
}

fn crafted_client(env: &GatewayCase, cert: &CraftedCert) -> Result<RawClient, StackError> {
    client(env, Some((&cert.cert_pem, &cert.key_pem)))
}

/// The jitgate CA, loaded from its key, to sign what `jitgate cert issue` refuses to.
fn jitgate_ca(env: &GatewayCase) -> Result<CraftingCa, StackError> {
    let key = std::fs::read_to_string(env.stack.ca_key())
        .map_err(|e| StackError::io(format!("reading {}", env.stack.ca_key().display()), e))?;
    CraftingCa::load(&ca_pem(env)?, &key)
}

/// A certificate user without a grant.
fn ungranted(env: &GatewayCase, prefix: &str) -> Result<(CertUser, RawClient), StackError> {
    let name = env.unique(prefix);
    let ns = env.unique("gw");
    let user = env
        .stack
        .issue_cert(&name, &["sre"], &ns, &env.dir(&name)?)?;
    let client = client(env, Some((&user.cert_pem, &user.key_pem)))?;
    Ok((user, client))
}

/// A certificate user with an active grant, once the gateway honours it: a probe request is
/// allowed under the grant (the namespace has no RBAC, so the apiserver then refuses it — the
/// second lock — which does not matter here).
fn granted(env: &GatewayCase, prefix: &str) -> Result<Granted, Box<dyn std::error::Error>> {
    let (user, client) = ungranted(env, prefix)?;
    let ns = env.unique("gw");
    let grant = env
        .stack
        .create_grant(&user.name, &[&ns], "10m", "INC-e2e refusals")?;
    let path = format!("/api/v1/namespaces/{ns}/pods");
    poll(
        "the gateway to honour the new grant",
        10 * SECOND,
        Duration::from_millis(100),
        |last| {
            let resp = client.get(&path)?;
            *last = resp.to_string();
            let allowed = env.audit.events()?.iter().any(|e| {
                e["user"] == user.name.as_str()
                    && e["decision"] == "allow"
                    && e["grant"] == grant.id.as_str()
            });
            Ok(allowed.then_some(()))
        },
    )?;
    Ok(Granted {
        user,
        ns,
        client,
        _grant: grant,
    })
}

/// Sends `req`, expects a refusal with `status`, a Kubernetes `Status` whose reason is
/// `reason` and whose message contains every one of `needles`, and a `deny` line in the audit
/// log mentioning `marker` — already there when the response arrived (the design: an event is
/// durable before the action it records is acknowledged).
fn expect_refusal(
    env: &GatewayCase,
    client: &RawClient,
    req: &RawRequest,
    status: u16,
    needles: &[&str],
    marker: &str,
) -> CaseResult {
    let resp = client.send(req)?;
    check_status(&resp, status, needles)
        .map_err(|e| format!("{} {}: {e}", req.method, req.target_text()))?;
    let pick = |e: &Value| is_denial(e, marker, status);
    if env.audit.events()?.iter().any(pick) {
        return Ok(());
    }
    let late = env
        .audit
        .wait_for("the deny line", marker, 3 * SECOND, pick)
        .map(|_| "appeared only after the response was received")
        .unwrap_or("is missing");
    Err(format!(
        "{} {} was refused ({status}) but its audit `deny` line (marker {marker:?}) {late}; \
         events mentioning it: {:?}",
        req.method,
        req.target_text(),
        env.audit.mentioning(marker)?
    )
    .into())
}

/// `resp` is a refusal with `status` carrying a failure `Status` whose message contains
/// `needles`.
fn check_status(resp: &RawResponse, status: u16, needles: &[&str]) -> CaseResult {
    ensure!(resp.status == status, "expected HTTP {status}, got {resp}");
    let body = resp
        .json()
        .ok_or_else(|| format!("the refusal is not JSON: {resp}"))?;
    let reason = match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        _ => "",
    };
    ensure!(
        body["kind"] == "Status"
            && body["status"] == "Failure"
            && body["code"] == status
            && body["reason"] == reason,
        "not a failure Status {status} {reason}: {resp}"
    );
    let message = body["message"].as_str().unwrap_or_default();
    for needle in needles {
        ensure!(
            message.contains(needle),
            "the message does not mention {needle:?}: {message}"
        );
    }
    if status == 401 {
        ensure!(
            resp.header("www-authenticate").is_some(),
            "a 401 without WWW-Authenticate: {resp}"
        );
    }
    Ok(())
}

/// A path only this request uses, so the audit line can be found by it.
fn marker_path(env: &GatewayCase) -> String {
    format!("/api/v1/namespaces/{}/pods", env.unique("gw-marker"))
}

/// Presents `cert` and expects 401 with `needles`.
fn refused_certificate(env: &GatewayCase, cert: &CraftedCert, needles: &[&str]) -> CaseResult {
    let path = marker_path(env);
    let mut all = vec!["client certificate rejected"];
    all.extend_from_slice(needles);
    expect_refusal(
        env,
        &crafted_client(env, cert)?,
        &RawRequest::new("GET", path.as_str()),
        401,
        &all,
        &path,
    )
}

fn no_credentials_at_all(env: &GatewayCase) -> CaseResult {
    let path = marker_path(env);
    expect_refusal(
        env,
        &client(env, None)?,
        &RawRequest::new("GET", path.as_str()),
        401,
        &["no credentials"],
        &path,
    )
}

fn expired_certificate(env: &GatewayCase) -> CaseResult {
    let cert = jitgate_ca(env)?.issue(
        &CertSpec::client(&env.unique("expired"))
            .valid(time::Duration::hours(-2), time::Duration::hours(-1)),
    )?;
    refused_certificate(env, &cert, &["expired"])
}

fn not_yet_valid_certificate(env: &GatewayCase) -> CaseResult {
    let cert = jitgate_ca(env)?.issue(
        &CertSpec::client(&env.unique("early"))
            .valid(time::Duration::hours(1), time::Duration::hours(2)),
    )?;
    refused_certificate(env, &cert, &["not valid"])
}

fn certificate_from_a_foreign_ca(env: &GatewayCase) -> CaseResult {
    let foreign = CraftingCa::generate("foreign CA", "mallory")?;
    let cert = foreign.issue(&CertSpec::client(&env.unique("foreign")))?;
    refused_certificate(env, &cert, &["not issued by the jitgate CA"])
}

/// A CA with the jitgate CA's own name and key identifier but another key.
fn certificate_from_an_impostor_of_the_jitgate_ca(env: &GatewayCase) -> CaseResult {
    let impostor_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| StackError::Crypto(e.to_string()))?;
    let impostor = CraftingCa::load(&ca_pem(env)?, &impostor_key.serialize_pem())?;
    let cert = impostor.issue(&CertSpec::client(&env.unique("impostor")))?;
    refused_certificate(env, &cert, &[])
}

fn server_auth_only_certificate(env: &GatewayCase) -> CaseResult {
    let cert = jitgate_ca(env)?.issue(
        &CertSpec::client(&env.unique("server")).eku(vec![ExtendedKeyUsagePurpose::ServerAuth]),
    )?;
    refused_certificate(env, &cert, &["clientAuth"])
}

/// The CLI refuses to issue `system:admin`; crafted with the CA key, the gateway refuses it.
fn system_user_certificate(env: &GatewayCase) -> CaseResult {
    let out = env.stack.jitgate([
        "cert",
        "issue",
        "--user",
        "system:admin",
        "--ttl",
        "1h",
        "--out",
        &env.dir("system-admin")?.display().to_string(),
    ])?;
    ensure!(
        !out.success() && out.stderr_text().contains("system:"),
        "`jitgate cert issue --user system:admin` was not refused: {out}"
    );
    let cert = jitgate_ca(env)?.issue(&CertSpec::client("system:admin"))?;
    refused_certificate(env, &cert, &["system:"])
}

fn system_masters_group_certificate(env: &GatewayCase) -> CaseResult {
    let cert =
        jitgate_ca(env)?.issue(&CertSpec::client(&env.unique("masters")).org("system:masters"))?;
    refused_certificate(env, &cert, &["system:"])
}

fn reserved_jitgate_group_certificate(env: &GatewayCase) -> CaseResult {
    let cert = jitgate_ca(env)?
        .issue(&CertSpec::client(&env.unique("reserved")).org("jitgate:oncall-debug"))?;
    refused_certificate(env, &cert, &["jitgate:"])
}

/// A real token from Dex for alice, taken apart.
fn dex_token(env: &GatewayCase) -> Result<(Dex, String, Jwt), Box<dyn std::error::Error>> {
    let dex = Dex::from_dir(&env.stack.dex_dir)?;
    let token = dex.id_token("alice@example.com", "alice-password")?;
    let jwt = Jwt::decode(&token)?;
    Ok((dex, token, jwt))
}

/// Sends `token` as a bearer token without a certificate and expects 401.
fn refused_token(env: &GatewayCase, token: &str) -> CaseResult {
    let path = marker_path(env);
    expect_refusal(
        env,
        &client(env, None)?,
        &RawRequest::new("GET", path.as_str()).bearer(token),
        401,
        &["bearer token rejected"],
        &path,
    )
}

/// Positive control for the token refusals: Dex's own token is accepted, with the email as
/// the user and Dex's groups in the audit line.
fn dex_token_is_accepted(env: &GatewayCase) -> CaseResult {
    let (_, token, jwt) = dex_token(env)?;
    ensure!(
        jwt.payload["email"] == "alice@example.com" && jwt.header["alg"] == "RS256",
        "unexpected Dex token: {:?}",
        jwt
    );
    let namespaces = env.namespaces(1)?;
    let ns = namespaces.name(0).to_owned();
    let _grant =
        env.stack
            .create_grant("alice@example.com", &[&ns], "10m", "INC-e2e token control")?;
    let http = client(env, None)?;
    let path = format!("/api/v1/namespaces/{ns}/pods");
    let resp = poll(
        "Dex's token to list pods in the granted namespace",
        10 * SECOND,
        Duration::from_millis(100),
        |last| {
            let resp = http.send(&RawRequest::new("GET", path.as_str()).bearer(&token))?;
            *last = resp.to_string();
            Ok((resp.status == 200).then_some(resp))
        },
    )?;
    ensure!(
        resp.json().is_some_and(|l| l["kind"] == "PodList"),
        "not a PodList: {resp}"
    );
    env.audit.wait_for(
        "the allowed request of alice@example.com",
        &ns,
        5 * SECOND,
        |e| {
            e["user"] == "alice@example.com"
                && e["decision"] == "allow"
                && e["namespace"] == ns.as_str()
                && e["groups"]
                    .as_array()
                    .is_some_and(|g| g.iter().any(|g| g == "sre"))
        },
    )?;
    // Without a grant for the namespace the same token is refused (authenticated, then 403).
    let other = env.unique("gw");
    expect_refusal(
        env,
        &http,
        &RawRequest::new("GET", format!("/api/v1/namespaces/{other}/pods")).bearer(&token),
        403,
        &[&other, "kubectl jit request"],
        &other,
    )
}

fn unsigned_token(env: &GatewayCase) -> CaseResult {
    let (_, _, jwt) = dex_token(env)?;
    refused_token(env, &jwt.unsigned())
}

/// HS256 keyed with the issuer's RSA public key — as PEM, and as DER.
fn hs256_token_keyed_with_the_issuer_public_key(env: &GatewayCase) -> CaseResult {
    let (dex, _, jwt) = dex_token(env)?;
    let jwks = dex.jwks()?;
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| {
            keys.iter()
                .find(|k| k["kid"] == jwt.header["kid"])
                .or_else(|| keys.first())
        })
        .ok_or_else(|| format!("no key in Dex's JWKS: {jwks}"))?;
    let der = rsa_jwk_to_spki_der(
        key["n"].as_str().unwrap_or_default(),
        key["e"].as_str().unwrap_or_default(),
    )?;
    refused_token(env, &jwt.hs256(pem("PUBLIC KEY", &der).as_bytes()))?;
    refused_token(env, &jwt.hs256(&der))
}

fn token_with_wrong_audience(env: &GatewayCase) -> CaseResult {
    let (_, _, jwt) = dex_token(env)?;
    let mut claims = jwt.payload.clone();
    claims["aud"] = json!("kubernetes");
    refused_token(env, &jwt.with_payload(&claims))
}

fn token_with_wrong_issuer(env: &GatewayCase) -> CaseResult {
    let (_, _, jwt) = dex_token(env)?;
    let mut claims = jwt.payload.clone();
    claims["iss"] = json!("https://evil.example.com/dex");
    refused_token(env, &jwt.with_payload(&claims))
}

fn token_with_past_expiry(env: &GatewayCase) -> CaseResult {
    let (_, _, jwt) = dex_token(env)?;
    let mut claims = jwt.payload.clone();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    claims["exp"] = json!(now - 3600);
    claims["iat"] = json!(now - 7200);
    refused_token(env, &jwt.with_payload(&claims))
}

fn token_with_another_users_email(env: &GatewayCase) -> CaseResult {
    let (_, _, jwt) = dex_token(env)?;
    let mut claims = jwt.payload.clone();
    claims["email"] = json!("bob@example.com");
    claims["groups"] = json!(["sre-leads", "system:masters"]);
    refused_token(env, &jwt.with_payload(&claims))
}

// Not covered: a token whose `email_verified` is false. Dex's static users all have verified
// addresses, so the sandbox cannot mint one with a valid signature, and flipping the claim in a
// real token is already covered by the tampering cases above (the signature breaks).

fn garbage_token(env: &GatewayCase) -> CaseResult {
    refused_token(env, "not-a-jwt")?;
    refused_token(env, "eyJhbGciOiJSUzI1NiJ9.e30.AAAA")
}

/// `Authorization: Basic` is not a credential the gateway knows.
fn basic_auth(env: &GatewayCase) -> CaseResult {
    let path = marker_path(env);
    expect_refusal(
        env,
        &client(env, None)?,
        &RawRequest::new("GET", path.as_str()).header("Authorization", "Basic YWRtaW46YWRtaW4="),
        401,
        &["no credentials"],
        &path,
    )
}

/// A granted user sends `header`; expects 403 naming it.
fn refused_impersonation(env: &GatewayCase, header: &str, value: &str) -> CaseResult {
    let g = granted(env, "imp")?;
    let lower = header.to_ascii_lowercase();
    expect_refusal(
        env,
        &g.client,
        &RawRequest::new("GET", format!("/api/v1/namespaces/{}/pods", g.ns)).header(header, value),
        403,
        &["impersonation", &lower],
        &g.user.name,
    )
}

fn impersonate_user_header(env: &GatewayCase) -> CaseResult {
    refused_impersonation(env, "Impersonate-User", "system:admin")
}

fn impersonate_group_header(env: &GatewayCase) -> CaseResult {
    refused_impersonation(env, "Impersonate-Group", "system:masters")
}

fn impersonate_uid_header(env: &GatewayCase) -> CaseResult {
    refused_impersonation(env, "Impersonate-Uid", "0")
}

fn impersonate_extra_header(env: &GatewayCase) -> CaseResult {
    refused_impersonation(env, "Impersonate-Extra-foo", "bar")
}

/// A granted user sends a tricky `target`; expects 400 with `needle`.
fn refused_path(env: &GatewayCase, target: impl Fn(&str) -> Vec<u8>, needle: &str) -> CaseResult {
    let g = granted(env, "path")?;
    expect_refusal(
        env,
        &g.client,
        &RawRequest::new("GET", target(&g.ns)),
        400,
        &[needle],
        &g.user.name,
    )
}

fn encoded_slash_in_path(env: &GatewayCase) -> CaseResult {
    refused_path(
        env,
        |ns| format!("/api/v1/namespaces/{ns}%2Fpods/pods").into_bytes(),
        "percent-encoding",
    )
}

fn dot_dot_segment_in_path(env: &GatewayCase) -> CaseResult {
    refused_path(
        env,
        |ns| format!("/api/v1/namespaces/{ns}/../kube-system/pods").into_bytes(),
        "..",
    )
}

fn double_slash_in_path(env: &GatewayCase) -> CaseResult {
    refused_path(env, |_| b"//api/v1/pods".to_vec(), "//")
}

fn dot_segment_in_path(env: &GatewayCase) -> CaseResult {
    refused_path(
        env,
        |ns| format!("/api/v1/namespaces/{ns}/pods/./p").into_bytes(),
        "dot segment",
    )
}

fn backslash_in_path(env: &GatewayCase) -> CaseResult {
    refused_path(
        env,
        |ns| format!("/api/v1/namespaces/{ns}/pods\\..\\secrets").into_bytes(),
        "backslash",
    )
}

/// `%ff` (percent-encoded invalid UTF-8).
fn invalid_utf8_in_path(env: &GatewayCase) -> CaseResult {
    refused_path(
        env,
        |ns| format!("/api/v1/namespaces/{ns}/pods/%ff").into_bytes(),
        "percent-encoding",
    )
}

/// A user with a grant for another namespace asks for `target`; expects 403 with `needles`.
fn refused_elsewhere(
    env: &GatewayCase,
    method: &str,
    target: impl Fn(&str) -> String,
    headers: &[(&str, &str)],
    needles: &[&str],
) -> CaseResult {
    let g = granted(env, "authz")?;
    let elsewhere = env.unique("gw");
    let mut req = RawRequest::new(method, target(&elsewhere));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    expect_refusal(env, &g.client, &req, 403, needles, &g.user.name)
}

fn exec_get_without_grant(env: &GatewayCase) -> CaseResult {
    refused_elsewhere(
        env,
        "GET",
        |ns| format!("/api/v1/namespaces/{ns}/pods/p/exec?command=id&stdout=true"),
        &[],
        &["kubectl jit request"],
    )
}

fn exec_post_without_grant(env: &GatewayCase) -> CaseResult {
    refused_elsewhere(
        env,
        "POST",
        |ns| format!("/api/v1/namespaces/{ns}/pods/p/exec?command=id&stdout=true"),
        &[],
        &["kubectl jit request"],
    )
}

/// The WebSocket form kubectl ≥ 1.30 uses.
fn exec_websocket_upgrade_without_grant(env: &GatewayCase) -> CaseResult {
    refused_elsewhere(
        env,
        "GET",
        |ns| format!("/api/v1/namespaces/{ns}/pods/p/exec?command=sh&stdin=true&stdout=true"),
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Protocol", "v5.channel.k8s.io"),
        ],
        &["kubectl jit request"],
    )
}

fn node_proxy(env: &GatewayCase) -> CaseResult {
    refused_elsewhere(
        env,
        "GET",
        |_| "/api/v1/nodes/sandbox-node/proxy/healthz".to_owned(),
        &[],
        &["nodes"],
    )
}

fn pod_proxy_without_grant(env: &GatewayCase) -> CaseResult {
    refused_elsewhere(
        env,
        "GET",
        |ns| format!("/api/v1/namespaces/{ns}/pods/p:8080/proxy/"),
        &[],
        &["proxy"],
    )
}

fn cluster_scoped_nodes(env: &GatewayCase) -> CaseResult {
    refused_elsewhere(env, "GET", |_| "/api/v1/nodes".to_owned(), &[], &["nodes"])
}

/// An authorized upgrade the apiserver refuses (here: no such pod) is not retried in the other
/// family and reaches the client as the apiserver said it, for every upgrade form kubectl
/// sends; the response line is audited with that status.
fn the_apiserver_refusing_a_stream_reaches_the_client_as_it_is(env: &GatewayCase) -> CaseResult {
    // A real namespace with the profile's Roles, so the apiserver's own answer is about the pod.
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    let (user, k) = env.cert_user("refusedup", a)?;
    let _grant = env
        .stack
        .create_grant(&user.name, &[a], "10m", "INC-e2e upstream refusal")?;
    wait_for_grant(&k)?;
    let raw = client(env, Some((&user.cert_pem, &user.key_pem)))?;
    let websocket = |protocol: &'static str| {
        vec![
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Protocol", protocol),
        ]
    };
    let spdy = |protocol: &'static str| {
        vec![
            ("Connection", "Upgrade"),
            ("Upgrade", "SPDY/3.1"),
            ("X-Stream-Protocol-Version", protocol),
        ]
    };
    let exec = format!("/api/v1/namespaces/{a}/pods/missing/exec?command=true&stdout=true");
    let forward = format!("/api/v1/namespaces/{a}/pods/missing/portforward");
    let forms = [
        (
            "exec, WebSocket v5",
            "GET",
            &exec,
            websocket("v5.channel.k8s.io"),
        ),
        ("exec, SPDY", "POST", &exec, spdy("v4.channel.k8s.io")),
        (
            "port-forward, SPDY in WebSocket",
            "GET",
            &forward,
            websocket("SPDY/3.1+portforward.k8s.io"),
        ),
        (
            "port-forward, SPDY",
            "POST",
            &forward,
            spdy("portforward.k8s.io"),
        ),
    ];
    for (form, method, target, headers) in forms {
        let before = env.audit.events()?.len();
        let mut req = RawRequest::new(method, target.clone());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = raw.send(&req)?;
        let body = resp
            .json()
            .ok_or_else(|| format!("{form}: the refusal is not JSON: {resp}"))?;
        ensure!(
            resp.status == 404
                && body["kind"] == "Status"
                && body["reason"] == "NotFound"
                && body["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("\"missing\" not found")),
            "{form}: want the apiserver's 404 NotFound Status for pod missing, got {resp}"
        );
        // The response line is in the file before the response leaves the gateway.
        let lines = env.audit.events()?;
        let responses: Vec<&Value> = lines[before.min(lines.len())..]
            .iter()
            .filter(|e| e["kind"] == "response" && e["user"] == user.name.as_str())
            .collect();
        ensure!(
            responses.len() == 1 && responses[0]["status"] == 404,
            "{form}: want one audited response with status 404, found {responses:?}"
        );
    }
    Ok(())
}

/// In the granted namespace, what the profile does not allow.
fn refused_in_granted(
    env: &GatewayCase,
    method: &str,
    resource: &str,
    needles: &[&str],
) -> CaseResult {
    let g = granted(env, "profile")?;
    expect_refusal(
        env,
        &g.client,
        &RawRequest::new(method, format!("/api/v1/namespaces/{}/{resource}", g.ns)),
        403,
        needles,
        &g.user.name,
    )
}

fn delete_pod_in_granted_namespace(env: &GatewayCase) -> CaseResult {
    refused_in_granted(env, "DELETE", "pods/p", &["delete pods"])
}

fn secrets_in_granted_namespace(env: &GatewayCase) -> CaseResult {
    refused_in_granted(env, "GET", "secrets", &["secrets"])
}

fn certificate_without_any_grant(env: &GatewayCase) -> CaseResult {
    let (user, client) = ungranted(env, "nogrant")?;
    let ns = env.unique("gw");
    expect_refusal(
        env,
        &client,
        &RawRequest::new("GET", format!("/api/v1/namespaces/{ns}/pods")),
        403,
        &[&user.name, &ns, "kubectl jit request"],
        &user.name,
    )
}

// ---------------------------------------------------------------------------------------------
// The admin listener
// ---------------------------------------------------------------------------------------------

/// The value of an unlabelled or labelled sample in a Prometheus exposition.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn metrics_text(env: &GatewayCase) -> Result<String, Box<dyn std::error::Error>> {
    let resp = RawClient::http(&env.stack.admin_url)?.get("/metrics")?;
    ensure!(resp.status == 200, "GET /metrics: {resp}");
    Ok(resp.text())
}

fn active_streams(env: &GatewayCase) -> Result<u64, Box<dyn std::error::Error>> {
    let text = metrics_text(env)?;
    metric(&text, "jitgate_active_streams")
        .map(|v| v as u64)
        .ok_or_else(|| format!("no jitgate_active_streams in /metrics:\n{text}").into())
}

fn health_readiness_and_metrics(env: &GatewayCase) -> CaseResult {
    let admin = RawClient::http(&env.stack.admin_url)?;
    for path in ["/healthz", "/readyz"] {
        let resp = admin.get(path)?;
        ensure!(resp.status == 200, "GET {path}: {resp}");
    }
    // The admin listener never answers for Kubernetes paths.
    let resp = admin.get("/api/v1/namespaces/default/pods")?;
    ensure!(
        resp.status == 404,
        "the admin port served a Kubernetes path: {resp}"
    );

    let deny = "jitgate_requests_total{decision=\"deny\"}";
    let before = metric(&metrics_text(env)?, deny).ok_or("no deny counter in /metrics")?;
    let (user, client) = ungranted(env, "metrics")?;
    let resp = client.get(&format!("/api/v1/namespaces/{}/pods", env.unique("gw")))?;
    ensure!(
        resp.status == 403,
        "an ungranted request was not refused: {resp}"
    );
    let text = metrics_text(env)?;
    let after = metric(&text, deny).ok_or("no deny counter in /metrics")?;
    ensure!(
        after >= before + 1.0 && after > 0.0,
        "{deny} went from {before} to {after} over a refusal (user {}):\n{text}",
        user.name
    );
    ensure!(
        metric(&text, "jitgate_active_streams").is_some(),
        "no jitgate_active_streams gauge:\n{text}"
    );
    ensure!(
        metric(
            &text,
            "jitgate_requests_total{decision=\"unauthenticated\"}"
        )
        .is_some(),
        "no unauthenticated counter:\n{text}"
    );

    // The audit log's hash chain holds (a line being written at that moment is retried).
    let verified = poll(
        "`jitgate audit verify` to pass",
        10 * SECOND,
        Duration::from_millis(200),
        |last| {
            let out = env.stack.jitgate(["audit", "verify"])?;
            *last = out.to_string();
            Ok(out.success().then_some(out))
        },
    )?;
    ensure!(
        verified.stdout_text().contains("chain intact"),
        "`jitgate audit verify`: {verified}"
    );
    Ok(())
}

#[test]
fn metric_samples_are_read() {
    let text = "# HELP x\njitgate_requests_total{decision=\"deny\"} 7\njitgate_active_streams 2\n";
    assert_eq!(
        metric(text, "jitgate_requests_total{decision=\"deny\"}"),
        Some(7.0)
    );
    assert_eq!(metric(text, "jitgate_active_streams"), Some(2.0));
    assert_eq!(metric(text, "jitgate_active"), None);
}

/// The policy cases edit the one policy file of the stack: one at a time.
static POLICY_EDITS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Puts a file's original text back whatever happens in a case.
struct Restore(std::path::PathBuf, String);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.0, &self.1);
    }
}

/// The stack's policy with a profile added (the YAML of one `profiles` entry, inserted before
/// `standing:`), linted and in force: the gateway's accepted reload is audited. Holds the policy
/// lock and puts the original back when dropped.
struct AddedProfile {
    /// The edited policy, as a file of the case (for `--policy`).
    edited: std::path::PathBuf,
    _restore: Restore,
    _lock: std::sync::MutexGuard<'static, ()>,
}

fn add_profile(
    env: &GatewayCase,
    profile_yaml: &str,
) -> Result<AddedProfile, Box<dyn std::error::Error>> {
    let Some(policy_file) = env.stack.policy_file.clone() else {
        return Err("the stack was started without --policy (JITGATE_POLICY is not set)".into());
    };
    let lock = POLICY_EDITS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let original = std::fs::read_to_string(&policy_file)?;
    let restore = Restore(policy_file.clone(), original.clone());
    let with_profile = original.replacen(
        "\nstanding:\n",
        &format!("\n{profile_yaml}\nstanding:\n"),
        1,
    );
    ensure!(
        with_profile != original,
        "the shipped policy has no `standing:` section to insert a profile before; update this test"
    );
    let edited = env.dir("policy")?.join("policy.yaml");
    std::fs::write(&edited, &with_profile)?;
    let lint = env
        .stack
        .jitgate(["policy".as_ref(), "lint".as_ref(), edited.as_os_str()])?;
    ensure!(lint.success(), "the test's policy does not lint: {lint}");
    std::fs::write(&policy_file, &with_profile)?;
    env.audit.wait_for(
        "an accepted policy.reload",
        "policy.reload",
        10 * SECOND,
        |e| e["kind"] == "policy.reload" && e["decision"] == "allow",
    )?;
    Ok(AddedProfile {
        edited,
        _restore: restore,
        _lock: lock,
    })
}

/// A profile with `scope.namespaceSelector` may be requested only in namespaces whose labels
/// match, read by the gateway from the apiserver at request time: the matching namespace is
/// auto-approved into a grant, the other is refused with the selector named, and `jitgate rbac
/// render --namespaces-json` renders the profile's Role into the matching namespace only.
fn namespace_selector_decides_where_a_profile_may_be_requested(env: &GatewayCase) -> CaseResult {
    let ns = env.namespaces(2)?;
    let (matching, other) = (ns.name(0), ns.name(1));
    let tier = env.unique("tier");
    for (namespace, value) in [(matching, tier.as_str()), (other, "elsewhere")] {
        env.admin
            .run([
                "label",
                "namespace",
                namespace,
                &format!("e2e.jitgate.dev/tier={value}"),
            ])?
            .checked()?;
    }
    let group = env.unique("selector-e2e");
    let profile = env.unique("labelled");
    let added = add_profile(
        env,
        &format!(
            "  - name: {profile}
    description: Read pods where the namespace is labelled for it (e2e)
    rules:
      - apiGroups: [\"\"]
        resources: [pods]
        verbs: [get, list]
    scope:
      namespaces: [{matching}, {other}]
      namespaceSelector: \"e2e.jitgate.dev/tier={tier}\"
    defaultDuration: 10m
    maxDuration: 1h
    requesters: [{group}]
    approval:
      autoApprove:
        groups: [{group}]
      approverGroups: [sre-leads]
"
        ),
    )?;

    let name = env.unique("sel");
    let user = env
        .stack
        .issue_cert(&name, &[&group], matching, &env.dir(&name)?)?;
    let api = client(env, Some((&user.cert_pem, &user.key_pem)))?;
    let ask = |namespace: &str| {
        let body = json!({
            "profile": profile,
            "namespace": namespace,
            "reason": "INC-e2e namespace selector",
        });
        api.send(
            &RawRequest::new("POST", "/jitgate/v1/requests")
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
    };
    // Wait until the reloaded policy knows the profile (the reload was audited before it took
    // effect on every thread).
    let refused = poll(
        "the request in the namespace that does not match to be refused by its labels",
        10 * SECOND,
        Duration::from_millis(200),
        |last| {
            let resp = ask(other)?;
            *last = resp.to_string();
            Ok((resp.text().contains("namespace selector")).then_some(resp))
        },
    )?;
    ensure!(
        refused.status == 403
            && refused.text().contains(other)
            && refused
                .text()
                .contains(&format!("e2e.jitgate.dev/tier={tier}")),
        "the refusal names the namespace and the selector: {refused}"
    );
    let granted = ask(matching)?;
    let body = granted.json().unwrap_or_default();
    ensure!(
        granted.status == 201 || granted.status == 200,
        "a request where the labels match: {granted}"
    );
    ensure!(
        body["state"] == "active" && body["grant"].is_string() && body["namespace"] == matching,
        "auto-approved into an active grant: {body}"
    );
    let grant = body["grant"].as_str().unwrap_or_default().to_owned();
    env.audit
        .wait_for("the grant's activation", &grant, 5 * SECOND, |e| {
            e["grant"] == grant.as_str()
        })?;

    // The rendered RBAC follows the selector too: a Role in the matching namespace only.
    let namespaces = env
        .admin
        .run(["get", "namespaces", "-o", "json"])?
        .checked()?
        .stdout;
    let rendered = env
        .stack
        .jitgate_with_stdin(
            [
                "rbac".as_ref(),
                "render".as_ref(),
                "--policy".as_ref(),
                added.edited.as_os_str(),
                "--profile".as_ref(),
                profile.as_ref(),
                "--namespaces-json".as_ref(),
                "-".as_ref(),
                "--gateway-user".as_ref(),
                "jitgate-gateway".as_ref(),
            ],
            &namespaces,
        )?
        .checked()?
        .stdout_text();
    ensure!(
        rendered.contains(&format!("namespace: {matching}"))
            && !rendered.contains(&format!("namespace: {other}")),
        "rbac render --namespaces-json for the selector profile:\n{rendered}"
    );
    Ok(())
}

/// The gateway reloads its policy file: a broken edit is refused (audited, the policy in force
/// stays), a valid one takes effect within seconds — here a standing read-only access for a
/// group, which needs no grant, reads pods, and cannot exec.
fn policy_reload_keeps_the_last_good_policy_and_grants_standing_access(
    env: &GatewayCase,
) -> CaseResult {
    let Some(policy_file) = env.stack.policy_file.clone() else {
        return Err("the stack was started without --policy (JITGATE_POLICY is not set)".into());
    };
    let _edit = POLICY_EDITS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let original = std::fs::read_to_string(&policy_file)?;
    let _restore = Restore(policy_file.clone(), original.clone());

    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    ns.start_pod(a, &sleeper("sleeper"))?;
    let group = env.unique("standing-e2e");
    let name = env.unique("stan");
    let dir = env.dir(&name)?;
    let user = env.stack.issue_cert(&name, &[&group], a, &dir)?;
    let k = env.admin.with_kubeconfig(&user.kubeconfig);
    let out = k.run(["get", "pods"])?;
    expect_forbidden(&out, &[a])?;

    // 1. A broken policy is refused and audited; the gateway goes on with the one in force.
    std::fs::write(&policy_file, format!("{original}\nprofiles: [oops\n"))?;
    env.audit.wait_for(
        "a refused policy.reload",
        "policy.reload",
        10 * SECOND,
        |e| e["kind"] == "policy.reload" && e["decision"] == "deny",
    )?;
    let out = k.run(["get", "pods"])?;
    expect_forbidden(&out, &[a])?;

    // 2. A valid edit giving the group standing read-only access takes effect.
    // (The read-only profile's scope grows by the test namespace: standing access must stay
    // within a profile's scope.)
    let standing = original.replacen(
        "      namespaces: [payments]\n\nstanding:\n",
        &format!(
            "      namespaces: [payments, {a}]\n\nstanding:\n  - profile: read-only\n    \
             groups: [{group}]\n    namespaces: [{a}]\n"
        ),
        1,
    );
    if standing == original {
        return Err("the shipped policy no longer ends read-only's scope with \
                    `namespaces: [payments]` before `standing:`; update this test"
            .into());
    }
    std::fs::write(&policy_file, standing)?;
    env.audit.wait_for(
        "an accepted policy.reload",
        "policy.reload",
        10 * SECOND,
        |e| e["kind"] == "policy.reload" && e["decision"] == "allow",
    )?;
    let listed = poll(
        "standing access to list pods",
        10 * SECOND,
        Duration::from_millis(200),
        |last| {
            let out = k.run(["get", "pods", "-o", "name"])?;
            *last = out.to_string();
            Ok(out.success().then(|| out.stdout_text()))
        },
    )?;
    ensure!(
        listed.contains("pod/sleeper"),
        "standing access listed {listed:?}"
    );
    // read-only has no exec.
    let out = k.run(["exec", "sleeper", "--", "true"])?;
    expect_forbidden(&out, &["exec"])?;
    // The apiserver saw the reserved group of the standing profile.
    let me = whoami(&k)?;
    ensure!(
        me["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == "jitgate:read-only")),
        "whoami through standing access: {me}"
    );
    env.audit.wait_for(
        "an allowed list under standing access",
        &name,
        5 * SECOND,
        |e| {
            e["user"] == name.as_str()
                && e["decision"] == "allow"
                && e["grant"] == "standing:read-only"
        },
    )?;
    Ok(())
}

/// Revoking the grant ends an interactive `exec -it … sh` on every transport within the bound:
/// the terminal shows why, and kubectl exits non-zero.
fn revocation_cuts_interactive_exec(env: &GatewayCase) -> CaseResult {
    let PodUser {
        ns: _ns,
        user,
        k,
        grant,
    } = user_with_pod(env, "ivan", &sleeper("sleeper"), "INC-e2e revoke exec -it")?;
    let mut sessions = Vec::new();
    for (transport, k) in remote_command_transports(&k) {
        let mut pty = k.spawn_pty(["exec", "-it", "sleeper", "--", "sh"], PtySize::new(24, 80))?;
        pty.send_line("echo ready-$((40+2))")?;
        pty.expect("ready-42", 30 * SECOND)?;
        sessions.push((transport, pty, None::<(Duration, u32)>));
    }
    let reason = env.unique("INC-tty-revoked");
    grant.revoke(&reason)?;
    let t0 = Instant::now();
    while sessions.iter().any(|s| s.2.is_none()) && t0.elapsed() < 15 * SECOND {
        for (_, pty, end) in &mut sessions {
            if end.is_none()
                && let Some(code) = pty.try_exit_code()?
            {
                *end = Some((t0.elapsed(), code));
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    let mut problems = Vec::new();
    for (transport, mut pty, end) in sessions {
        eprintln!(
            "MEASURED revoke->exec -it end: {} (kubectl {}, {transport})",
            end.map_or("never".to_owned(), |(d, _)| format!("{} ms", d.as_millis())),
            env.version
        );
        let _ = pty.wait(5 * SECOND);
        let text = pty.transcript();
        match end {
            Some((d, code)) if d < CUT_BOUND && code != 0 => {}
            other => problems.push(format!(
                "{transport}: want an exit within {CUT_BOUND:?} with a non-zero code, got {other:?}:\n{text}"
            )),
        }
        if !text.contains("access revoked") || !text.contains(&reason) {
            problems.push(format!(
                "{transport}: the terminal does not show the revocation and its reason ({reason}):\n{text}"
            ));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n\n"));
    env.audit.wait_for(
        "stream.end lines of the cut interactive sessions",
        &user.name,
        5 * SECOND,
        |e| {
            e["kind"] == "stream.end"
                && e["user"] == user.name.as_str()
                && e["command"][0] == "sh"
                && e["reason"].as_str().is_some_and(|r| r.contains(&reason))
        },
    )?;
    Ok(())
}

/// Starts `kubectl exec sleeper -- sh -c "echo started; sleep 600"` and waits until it runs.
fn exec_that_sleeps(k: &Kubectl) -> Result<jitgate_e2e::Background, Box<dyn std::error::Error>> {
    let mut exec = k.spawn([
        "exec",
        "sleeper",
        "--",
        "sh",
        "-c",
        "echo started; sleep 600",
    ])?;
    exec.wait_for_line("started", 30 * SECOND, |l| l == "started")?;
    Ok(exec)
}

/// Starts `kubectl port-forward pod/web :8080` and opens a connection through it that stays
/// open: one request answered, the connection kept alive.
fn forward_with_open_connection(
    k: &Kubectl,
    transport: impl std::fmt::Display,
) -> Result<(jitgate_e2e::Background, std::net::TcpStream), Box<dyn std::error::Error>> {
    use std::io::{Read as _, Write as _};
    let mut forward = k.spawn(["port-forward", "pod/web", ":8080"])?;
    let addr = forward.wait_for_stdout(
        "`Forwarding from 127.0.0.1:… -> 8080`",
        30 * SECOND,
        |out| forwarded_ipv4(&String::from_utf8_lossy(out), 8080),
    )?;
    let mut tcp = std::net::TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(10 * SECOND))?;
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")?;
    let mut first = [0u8; 12];
    tcp.read_exact(&mut first)?;
    ensure!(
        first.starts_with(b"HTTP/1.1 200"),
        "{transport}: the forwarded GET answered {:?}",
        String::from_utf8_lossy(&first)
    );
    Ok((forward, tcp))
}

/// Revoking the grant ends `kubectl port-forward` with an open TCP connection through it on
/// every transport within the bound; kubectl shows why and exits, and the open connection is
/// closed.
fn revocation_cuts_port_forward(env: &GatewayCase) -> CaseResult {
    use std::io::Read as _;
    let PodUser {
        ns: _ns,
        user,
        k,
        grant,
    } = user_with_pod(
        env,
        "judy",
        &Pod::new("web").ports([8080]),
        "INC-e2e revoke port-forward",
    )?;
    let mut sessions = Vec::new();
    for (transport, k) in port_forward_transports(&k) {
        let (forward, tcp) = forward_with_open_connection(&k, transport)?;
        sessions.push((transport, forward, tcp, None::<Duration>));
    }
    let reason = env.unique("INC-pf-revoked");
    grant.revoke(&reason)?;
    let t0 = Instant::now();
    while sessions.iter().any(|s| s.3.is_none()) && t0.elapsed() < 15 * SECOND {
        for (_, forward, _, end) in &mut sessions {
            if end.is_none() && forward.try_status()?.is_some() {
                *end = Some(t0.elapsed());
            }
        }
        thread::sleep(Duration::from_millis(5));
    }
    let mut problems = Vec::new();
    for (transport, forward, mut tcp, end) in sessions {
        eprintln!(
            "MEASURED revoke->port-forward end: {} (kubectl {}, {transport})",
            end.map_or("never".to_owned(), |d| format!("{} ms", d.as_millis())),
            env.version
        );
        let out = forward.stop()?;
        let text = format!("{}{}", out.stdout_text(), out.stderr_text());
        if end.is_none_or(|d| d >= CUT_BOUND) {
            problems.push(format!(
                "{transport}: did not end within {CUT_BOUND:?}: {out}"
            ));
        }
        if !text.contains("access revoked") || !text.contains(&reason) {
            problems.push(format!(
                "{transport}: kubectl does not show the revocation and its reason ({reason}): {out}"
            ));
        }
        // The forwarded connection is closed too (EOF or reset, not a hang).
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest);
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n\n"));
    env.audit.wait_for(
        "stream.end lines of the cut port-forwards, with the reason and bytes",
        &user.name,
        5 * SECOND,
        |e| {
            e["kind"] == "stream.end"
                && e["user"] == user.name.as_str()
                && e["subresource"] == "portforward"
                && e["bytes_out"].as_u64().is_some_and(|b| b > 0)
                && e["reason"].as_str().is_some_and(|r| r.contains(&reason))
        },
    )?;
    Ok(())
}

/// The shipped `oncall-debug` profile opens ports 8080, 8443 and 9000-9100 to port-forward. On
/// every transport, one `kubectl port-forward` of 8080 and 5432 (both served by the pod): 8080
/// answers; a connection to 5432 is refused by the gateway, with kubectl showing why, and the
/// refusal is audited as `stream.deny`.
fn port_forward_opens_only_the_profiles_ports(env: &GatewayCase) -> CaseResult {
    use std::io::{Read as _, Write as _};
    let PodUser {
        ns: _ns,
        user,
        k,
        grant: _grant,
    } = user_with_pod(
        env,
        "ports",
        &Pod::new("web").ports([8080, 5432]),
        "INC-e2e port allowlist",
    )?;
    let get = |addr: std::net::SocketAddr| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let mut tcp = std::net::TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(10 * SECOND))?;
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")?;
        let mut answer = Vec::new();
        // EOF, or a reset once refused: either way what arrived is what counts.
        let _ = tcp.read_to_end(&mut answer);
        Ok(answer)
    };
    let mut problems = Vec::new();
    for (transport, k) in port_forward_transports(&k) {
        let mut forward = k.spawn(["port-forward", "pod/web", ":8080", ":5432"])?;
        let (open, closed) = forward.wait_for_stdout(
            "`Forwarding from 127.0.0.1:… -> 8080` and `-> 5432`",
            30 * SECOND,
            |out| {
                let out = String::from_utf8_lossy(out);
                Some((forwarded_ipv4(&out, 8080)?, forwarded_ipv4(&out, 5432)?))
            },
        )?;
        let answered = get(open)?;
        if !answered.starts_with(b"HTTP/1.1 200") {
            problems.push(format!(
                "{transport}: the open port 8080 answered {:?}",
                String::from_utf8_lossy(&answered)
            ));
        }
        let refused = get(closed)?;
        if !refused.is_empty() {
            problems.push(format!(
                "{transport}: port 5432 is not in the profile, yet bytes came back: {:?}",
                String::from_utf8_lossy(&refused)
            ));
        }
        // kubectl prints the error stream's message (and, from 1.31 on, ends the forward).
        let shown = forward.wait_for_stderr("the refusal", 10 * SECOND, |err| {
            String::from_utf8_lossy(err)
                .contains("port-forward to port 5432 refused")
                .then_some(())
        });
        let out = forward.stop()?;
        if shown.is_err() {
            problems.push(format!(
                "{transport}: kubectl does not show the refusal: {out}"
            ));
        }
        let text = format!("{}{}", out.stdout_text(), out.stderr_text());
        if !text.contains("profile oncall-debug opens only port(s) 8080, 8443, 9000-9100") {
            problems.push(format!(
                "{transport}: the refusal does not name the profile and its ports: {out}"
            ));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n\n"));
    env.audit.wait_for(
        "a stream.deny line for the connection to port 5432",
        &user.name,
        5 * SECOND,
        |e| {
            e["kind"] == "stream.deny"
                && e["decision"] == "deny"
                && e["subresource"] == "portforward"
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("port-forward to port 5432 refused"))
        },
    )?;
    Ok(())
}

/// Against a cluster whose streams are SPDY only (the apiserver passes WebSocket upgrades through
/// and the node agent refuses them with 400), kubectl's WebSocket exec and tunnelled
/// port-forward still work through the gateway: it re-originates them upstream over SPDY.
fn spdy_upstream_when_the_apiserver_refuses_websocket(env: &GatewayCase) -> CaseResult {
    use std::io::{Read as _, Write as _};
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    ns.start_pod(a, &sleeper("sleeper"))?;
    ns.start_pod(a, &Pod::new("web").ports([8080]))?;
    let (user, k) = env.cert_user("legacy", a)?;
    let _grant = env
        .stack
        .create_grant(&user.name, &[a], "10m", "INC-e2e spdy fallback")?;
    wait_for_grant(&k)?;
    let k =
        Kubectl::discover("1.33", env.stack.admin_kubeconfig())?.with_kubeconfig(&user.kubeconfig);
    let k = k.in_namespace(a);

    // kubectl itself sees WebSocket accepted (by the gateway) and never falls back.
    let out = k
        .with_env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "true")
        .run([
            "exec",
            "sleeper",
            "--",
            "sh",
            "-c",
            "echo over-spdy; exit 3",
        ])?;
    ensure!(
        out.stdout_text().contains("over-spdy") && out.code() == Some(3),
        "exec through the fallback: want over-spdy and exit 3: {out}"
    );
    let with_stdin = k
        .with_env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "true")
        .run_with_stdin(["exec", "-i", "sleeper", "--", "cat"], b"stdin-ends-here\n")?;
    ensure!(
        with_stdin.success() && with_stdin.stdout_text().contains("stdin-ends-here"),
        "exec -i through the fallback must see stdin's end: {with_stdin}"
    );
    env.audit.wait_for(
        "the exec session's start line naming the SPDY fallback",
        &user.name,
        5 * SECOND,
        |e| {
            e["kind"] == "stream.start"
                && e["subresource"] == "exec"
                && e["reason"].as_str().is_some_and(|r| {
                    r.contains("kubectl speaks v5.channel.k8s.io")
                        && r.contains("SPDY after the apiserver refused WebSocket with 400")
                })
        },
    )?;

    let mut forward = k
        .with_env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "true")
        .spawn(["port-forward", "pod/web", ":8080"])?;
    let addr = forward.wait_for_stdout(
        "`Forwarding from 127.0.0.1:… -> 8080`",
        30 * SECOND,
        |out| forwarded_ipv4(&String::from_utf8_lossy(out), 8080),
    )?;
    let mut tcp = std::net::TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(10 * SECOND))?;
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer)?;
    ensure!(
        answer.starts_with(b"HTTP/1.1 200"),
        "port-forward through the fallback answered {:?}",
        String::from_utf8_lossy(&answer)
    );
    forward.stop()?;
    env.audit.wait_for(
        "the port-forward session's start line naming the SPDY fallback",
        &user.name,
        10 * SECOND,
        |e| {
            e["kind"] == "stream.start"
                && e["subresource"] == "portforward"
                && e["reason"].as_str().is_some_and(|r| {
                    r.contains("SPDY after the apiserver refused WebSocket with 400")
                })
        },
    )?;
    Ok(())
}

/// The plain WebSocket form of port-forward (`?ports=`, `v4.channel.k8s.io`; what browsers use —
/// kubectl tunnels SPDY instead), through the gateway with a real WebSocket client: the port
/// prefixes on both channels, an HTTP exchange on the data channel, and on revocation the
/// reason on the error channel before the WebSocket closes.
fn plain_websocket_port_forward_and_its_cut(env: &GatewayCase) -> CaseResult {
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    ns.start_pod(a, &Pod::new("web").ports([8080]))?;
    let (user, k) = env.cert_user("wsport", a)?;
    let grant = env.stack.create_grant(
        &user.name,
        &[a],
        "10m",
        "INC-e2e plain websocket port-forward",
    )?;
    wait_for_grant(&k)?;
    let ca = std::fs::read_to_string(env.stack.ca_cert())?;
    let url = format!(
        "{}/api/v1/namespaces/{a}/pods/web/portforward?ports=8080",
        env.stack.gateway_url.replacen("https://", "wss://", 1)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reason = env.unique("INC-wsport-revoked");
    let (said, error_text) = rt.block_on(async {
        let mut ws = websocket_client(
            &url,
            &ca,
            &user.cert_pem,
            &user.key_pem,
            "v4.channel.k8s.io",
        )
        .await?;
        // The kubelet's (and so the gateway's) first message on each channel: the port, LE.
        let mut prefixes = Vec::new();
        while prefixes.len() < 2 {
            prefixes.push(next_binary_message(&mut ws).await?);
        }
        ensure!(
            prefixes.contains(&vec![0, 0x90, 0x1f]) && prefixes.contains(&vec![1, 0x90, 0x1f]),
            "port prefixes on channels 0 and 1: {prefixes:?}"
        );
        let mut request = vec![0u8];
        request.extend_from_slice(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n");
        use futures_util::SinkExt as _;
        ws.send(tokio_tungstenite::tungstenite::Message::Binary(
            request.into(),
        ))
        .await?;
        let mut said = Vec::new();
        while !String::from_utf8_lossy(&said).contains("hello from") {
            let m = next_binary_message(&mut ws).await?;
            ensure!(m.first() == Some(&0), "data on channel {:?}", m.first());
            said.extend_from_slice(&m[1..]);
        }
        // Revoke while the connection is open: the error channel says why, then it closes.
        let revoke = {
            let grant = &grant;
            let reason = reason.clone();
            async move { grant.revoke(&reason) }
        };
        revoke.await?;
        let mut error_text = String::new();
        loop {
            match tokio::time::timeout(10 * SECOND, next_binary_message(&mut ws)).await {
                Ok(Ok(m)) if m.first() == Some(&1) => {
                    error_text.push_str(&String::from_utf8_lossy(&m[1..]));
                }
                Ok(Ok(_)) => {}
                Ok(Err(_)) => break,
                Err(_) => return Err("the WebSocket stayed open 10 s after the revocation".into()),
            }
        }
        Ok::<_, Box<dyn std::error::Error>>((said, error_text))
    })?;
    ensure!(
        String::from_utf8_lossy(&said).starts_with("HTTP/1.1 200"),
        "the forwarded GET answered {:?}",
        String::from_utf8_lossy(&said)
    );
    ensure!(
        error_text.contains("access revoked") && error_text.contains(&reason),
        "the error channel did not say why the port-forward ended: {error_text:?}"
    );
    env.audit.wait_for(
        "the plain WebSocket port-forward's start and cut end",
        &user.name,
        5 * SECOND,
        |e| {
            e["kind"] == "stream.end"
                && e["subresource"] == "portforward"
                && e["reason"].as_str().is_some_and(|r| r.contains(&reason))
        },
    )?;
    Ok(())
}

/// The plain WebSocket form names its ports up front (`?ports=8080&ports=5432`), so a port the
/// profile does not open is refused before the session starts: 403 with the reason, audited.
fn plain_websocket_port_forward_to_a_closed_port_is_refused(env: &GatewayCase) -> CaseResult {
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    ns.start_pod(a, &Pod::new("web").ports([8080, 5432]))?;
    let (user, k) = env.cert_user("wsclosed", a)?;
    let _grant =
        env.stack
            .create_grant(&user.name, &[a], "10m", "INC-e2e websocket closed port")?;
    wait_for_grant(&k)?;
    let ca = std::fs::read_to_string(env.stack.ca_cert())?;
    let url = format!(
        "{}/api/v1/namespaces/{a}/pods/web/portforward?ports=8080&ports=5432",
        env.stack.gateway_url.replacen("https://", "wss://", 1)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(websocket_client(
        &url,
        &ca,
        &user.cert_pem,
        &user.key_pem,
        "v4.channel.k8s.io",
    ));
    let Err(err) = outcome else {
        return Err("the WebSocket port-forward to port 5432 was upgraded".into());
    };
    let Some(tokio_tungstenite::tungstenite::Error::Http(response)) =
        err.downcast_ref::<tokio_tungstenite::tungstenite::Error>()
    else {
        return Err(format!("the upgrade failed, but not with an HTTP answer: {err}").into());
    };
    let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default());
    ensure!(
        response.status() == 403
            && body.contains("port-forward to port 5432 refused")
            && body.contains("profile oncall-debug"),
        "expected 403 naming port 5432 and the profile, got {} {body}",
        response.status()
    );
    env.audit.wait_for(
        "the refused WebSocket port-forward",
        &user.name,
        5 * SECOND,
        |e| is_forbidden_line(e, "portforward", &[]),
    )?;
    Ok(())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A WebSocket client with a jitgate client certificate, offering `protocol`.
async fn websocket_client(
    url: &str,
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    protocol: &str,
) -> Result<Ws, Box<dyn std::error::Error>> {
    use rustls::pki_types::pem::PemObject as _;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let chain: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)?;
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse()?);
    let host = request.uri().host().unwrap_or("127.0.0.1").to_owned();
    let port = request.uri().port_u16().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    let name = rustls::pki_types::ServerName::try_from(host)?;
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
        .connect(name, tcp)
        .await?;
    let (ws, response) = tokio_tungstenite::client_async(request, stream).await?;
    ensure!(
        response
            .headers()
            .get("sec-websocket-protocol")
            .is_some_and(|v| v == protocol),
        "the gateway chose another subprotocol: {response:?}"
    );
    Ok(ws)
}

async fn next_binary_message(ws: &mut Ws) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    use futures_util::StreamExt as _;
    loop {
        match tokio::time::timeout(30 * SECOND, ws.next()).await? {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(b))) => return Ok(b.to_vec()),
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None => {
                return Err("the WebSocket closed".into());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// A `request` audit line refusing (403) a request for `subresource`, whose reason contains
/// every one of `needles`.
fn is_forbidden_line(e: &Value, subresource: &str, needles: &[&str]) -> bool {
    e["kind"] == "request"
        && e["decision"] == "deny"
        && e["status"] == 403
        && e["subresource"] == subresource
        && e["reason"]
            .as_str()
            .is_some_and(|r| needles.iter().all(|n| r.contains(n)))
}

/// The names of a pod's ephemeral containers, read with the admin's kubectl.
fn ephemeral_names(admin: &Kubectl, pod: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let out = admin
        .run([
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.spec.ephemeralContainers[*].name}",
        ])?
        .checked()?;
    Ok(out
        .stdout_text()
        .split_whitespace()
        .map(str::to_owned)
        .collect())
}

/// `kubectl debug` through the gateway adds only what the grant's profile allows (shipped
/// `oncall-debug`: images busybox:1.36 and nicolaka/netshoot:v0.13, capabilities NET_ADMIN and
/// SYS_PTRACE, never privileged); a refusal reaches kubectl as a Forbidden Status naming the
/// profile and what it allows, and is audited; the pod gains nothing.
fn debug_containers_follow_the_profile(env: &GatewayCase) -> CaseResult {
    let PodUser {
        ns,
        user,
        k,
        grant: _grant,
    } = user_with_pod(env, "debugger", &sleeper("target"), "INC-e2e debug images")?;
    let a = ns.name(0);
    let debug = |name: &str, extra: &[&str]| -> Result<Output, Box<dyn std::error::Error>> {
        let mut args = vec!["debug", "target", "-c", name, "--attach=false"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sleep", "600"]);
        Ok(k.run(args)?)
    };
    let mut refused = vec![(
        "dbg-alpine",
        vec!["--image=alpine:3.20"],
        vec![
            "kubectl debug refused by profile oncall-debug",
            "image \"alpine:3.20\", which is not allowed",
            "allowed images: busybox:1.36, nicolaka/netshoot:v0.13",
        ],
    )];
    // --profile=netadmin and sysadmin exist from kubectl 1.28 on.
    if k.minor().is_some_and(|m| m >= 28) {
        refused.push((
            "dbg-sysadmin",
            vec!["--image=busybox:1.36", "--profile=sysadmin"],
            vec!["asks to be privileged"],
        ));
        refused.push((
            "dbg-netadmin",
            vec!["--image=busybox:1.36", "--profile=netadmin"],
            vec!["adds capability NET_RAW", "allowed: NET_ADMIN, SYS_PTRACE"],
        ));
    }
    for (name, flags, needles) in &refused {
        let out = debug(name, flags)?;
        ensure!(
            !out.success(),
            "kubectl debug {flags:?} was not refused: {out}"
        );
        expect_forbidden(&out, needles)?;
        env.audit.wait_for(
            &format!("the deny line of kubectl debug {flags:?}"),
            &user.name,
            5 * SECOND,
            |e| is_forbidden_line(e, "ephemeralcontainers", needles),
        )?;
    }
    // The positive control: an allowed image, with the general profile's SYS_PTRACE on kubectl
    // versions that have profiles.
    let mut flags = vec!["--image=busybox:1.36"];
    if k.minor().is_some_and(|m| m >= 28) {
        flags.push("--profile=general");
    }
    debug("dbg-ok", &flags)?.checked()?;
    let names = ephemeral_names(&ns.admin_in(a), "target")?;
    ensure!(
        names == ["dbg-ok"],
        "the pod should have gained only dbg-ok, it has {names:?}"
    );
    Ok(())
}

/// Every way to write `pods/ephemeralcontainers` is read and checked: strategic merge (what
/// kubectl sends), JSON merge patch, JSON patch (whole containers in; edits inside a
/// container refused as undecidable), server-side apply (YAML), PUT, and bodies the guard
/// cannot read (protobuf, compressed). Allowed writes reach the apiserver and add their
/// container.
fn every_patch_type_of_a_debug_container_is_checked(env: &GatewayCase) -> CaseResult {
    let PodUser {
        ns,
        user,
        k: _k,
        grant: _grant,
    } = user_with_pod(
        env,
        "patcher",
        &sleeper("target"),
        "INC-e2e debug patch types",
    )?;
    let a = ns.name(0);
    let client = client(env, Some((&user.cert_pem, &user.key_pem)))?;
    let path = format!("/api/v1/namespaces/{a}/pods/target/ephemeralcontainers");
    let container = |name: &str, image: &str, security: Value| {
        json!({"name": name, "image": image, "command": ["sleep", "600"],
               "terminationMessagePolicy": "File", "securityContext": security})
    };
    let patch = |ct: &str, body: String| {
        RawRequest::new("PATCH", path.clone())
            .header("Content-Type", ct)
            .body(body)
    };
    let smp = "application/strategic-merge-patch+json";
    let merge = "application/merge-patch+json";
    let json_patch = "application/json-patch+json";
    let apply = "application/apply-patch+yaml";
    // An allowed JSON patch adds its container (the pod has no list yet, so the patch adds
    // the list).
    let good = json!([{"op": "add", "path": "/spec/ephemeralContainers",
                       "value": [container("ok-json", "busybox:1.36", json!({}))]}]);
    let resp = client.send(&patch(json_patch, good.to_string()))?;
    ensure!(
        resp.status == 200,
        "the allowed JSON patch was refused: {resp}"
    );
    let refusals: Vec<(RawRequest, u16, Vec<&str>)> = vec![
        (
            patch(
                smp,
                json!({"spec": {"ephemeralContainers": [container("bad-smp", "alpine:3.20", json!({}))]}})
                    .to_string(),
            ),
            403,
            vec!["profile oncall-debug", "image \"alpine:3.20\""],
        ),
        (
            patch(
                merge,
                json!({"spec": {"ephemeralContainers": [container("bad-merge", "busybox:1.36", json!({"privileged": true}))]}})
                    .to_string(),
            ),
            403,
            vec!["asks to be privileged"],
        ),
        (
            patch(
                json_patch,
                json!([{"op": "add", "path": "/spec/ephemeralContainers/-",
                        "value": container("bad-json", "busybox:1.36", json!({"capabilities": {"add": ["SYS_ADMIN"]}}))}])
                    .to_string(),
            ),
            403,
            vec!["adds capability SYS_ADMIN"],
        ),
        (
            patch(
                json_patch,
                json!([{"op": "replace", "path": "/spec/ephemeralContainers/0/image", "value": "alpine:3.20"}])
                    .to_string(),
            ),
            403,
            vec!["cannot check"],
        ),
        (
            RawRequest::new("PATCH", format!("{path}?fieldManager=e2e"))
                .header("Content-Type", apply)
                .body(
                    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: target\nspec:\n  ephemeralContainers:\n  - name: bad-apply\n    image: nicolaka/netshoot:latest\n",
                ),
            403,
            vec!["image \"nicolaka/netshoot:latest\""],
        ),
        (
            RawRequest::new("PUT", path.clone())
                .header("Content-Type", "application/vnd.kubernetes.protobuf")
                .body(b"k8s\x00".to_vec()),
            415,
            vec!["cannot read Content-Type application/vnd.kubernetes.protobuf"],
        ),
        (
            patch(smp, "{}".to_owned()).header("Content-Encoding", "gzip"),
            415,
            vec!["gzip-encoded"],
        ),
    ];
    for (req, status, needles) in &refusals {
        let resp = client.send(req)?;
        check_status(&resp, *status, needles)
            .map_err(|e| format!("{} {}: {e}", req.method, req.target_text()))?;
    }
    // A merge patch of the whole list passes when every container in it is allowed (the
    // existing one included), and adds the new one.
    let list = json!({"spec": {"ephemeralContainers": [
        container("ok-json", "busybox:1.36", json!({})),
        container("ok-merge", "nicolaka/netshoot:v0.13", json!({"capabilities": {"add": ["NET_ADMIN"]}})),
    ]}});
    let resp = client.send(&patch(merge, list.to_string()))?;
    ensure!(
        resp.status == 200,
        "the allowed merge patch was refused: {resp}"
    );
    let names = ephemeral_names(&ns.admin_in(a), "target")?;
    ensure!(
        names == ["ok-json", "ok-merge"],
        "the pod should have gained exactly ok-json and ok-merge, it has {names:?}"
    );
    let denials = env
        .audit
        .events()?
        .into_iter()
        .filter(|e| {
            e["user"] == user.name.as_str()
                && e["kind"] == "request"
                && e["decision"] == "deny"
                && e["subresource"] == "ephemeralcontainers"
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("kubectl debug refused"))
        })
        .count();
    ensure!(
        denials == refusals.len(),
        "{} refusals, {denials} audited deny lines",
        refusals.len()
    );
    Ok(())
}

/// The exec guard on every transport: a denied command line, a command the profile does not
/// list (inside an `sh -c` script), and a construct the guard cannot check are refused with a
/// Forbidden Status naming the profile and why, audited, and nothing of the refused script
/// runs; an allowed script runs.
fn exec_guard_follows_the_profile(env: &GatewayCase) -> CaseResult {
    let PodUser {
        ns: _ns,
        user,
        k,
        grant: _grant,
    } = user_with_pod(env, "guarded", &sleeper("sleeper"), "INC-e2e exec guard")?;
    let marker = format!("/tmp/jitgate-guard-{}", env.unique("ran"));
    let refused: [(Vec<String>, &str); 4] = [
        (
            vec!["cat".into(), "/etc//shadow".into()],
            "`cat /etc//shadow` is denied (exec.deny: \"cat /etc/shadow\")",
        ),
        (
            vec![
                "sh".into(),
                "-c".into(),
                format!("mkdir -p {marker}; mkfs /dev/sda"),
            ],
            "`mkfs` is not an allowed command",
        ),
        (
            vec![
                "sh".into(),
                "-c".into(),
                format!("mkdir -p {marker} && echo $(cat /etc/shadow)"),
            ],
            "command substitution",
        ),
        (
            vec![
                "env".into(),
                "nice".into(),
                "cat".into(),
                "/etc/shadow".into(),
            ],
            "is denied",
        ),
    ];
    for (transport, k) in remote_command_transports(&k) {
        for (argv, needle) in &refused {
            let mut args = vec!["exec".to_owned(), "sleeper".to_owned(), "--".to_owned()];
            args.extend(argv.iter().cloned());
            let out = k.run(&args)?;
            expect_forbidden(&out, &["exec refused by profile oncall-debug", needle])
                .map_err(|e| format!("{transport}: {e}"))?;
        }
        let out = k
            .run([
                "exec",
                "sleeper",
                "--",
                "sh",
                "-c",
                "echo guard-ok; ls / >/dev/null",
            ])?
            .checked()?;
        ensure!(
            out.stdout_text() == "guard-ok\n",
            "{transport}: the allowed script printed {out}"
        );
    }
    let probe = env
        .admin
        .in_namespace(_ns.name(0))
        .run(["exec", "sleeper", "--", "ls", "-d", &marker])?;
    ensure!(
        !probe.success(),
        "a refused script ran anyway: {marker} exists ({probe})"
    );
    env.audit.wait_for(
        "the deny line of the refused `cat /etc//shadow`",
        &user.name,
        5 * SECOND,
        |e| {
            is_forbidden_line(e, "exec", &["is denied (exec.deny"])
                && e["command"] == json!(["cat", "/etc//shadow"])
        },
    )?;
    Ok(())
}

/// The recording names in the `stream.end` lines of `user`'s exec sessions, oldest first.
fn recordings_of(env: &GatewayCase, user: &str) -> Result<Vec<String>, StackError> {
    Ok(env
        .audit
        .events()?
        .iter()
        .filter(|e| e["kind"] == "stream.end" && e["user"] == user && e["subresource"] == "exec")
        .filter_map(|e| {
            let reason = e["reason"].as_str()?;
            let name = reason.split("recorded to recordings/").nth(1)?;
            Some(name.split(' ').next()?.to_owned())
        })
        .collect())
}

/// Every exec session is recorded (asciicast v2, DATA_DIR/recordings): an interactive shell
/// on a real pty — what was typed, what came back, the terminal size — and a command without a
/// terminal, its stderr apart; `jitgate recording play` replays them and `list` names them,
/// with who and where. On every transport.
fn sessions_are_recorded(env: &GatewayCase) -> CaseResult {
    let PodUser {
        ns: _ns,
        user,
        k,
        grant: _grant,
    } = user_with_pod(env, "recorded", &sleeper("sleeper"), "INC-e2e recording")?;
    let mut expected = 0;
    for (transport, k) in remote_command_transports(&k) {
        let mut pty = k.spawn_pty(["exec", "-it", "sleeper", "--", "sh"], PtySize::new(31, 97))?;
        pty.send_line("echo rec-$((6*7))")?;
        pty.expect("rec-42", 30 * SECOND)?;
        // kubectl sends the terminal size on its own stream, unordered with what is typed: the
        // shell must have it before it exits, or the session may end before it is sent.
        pty.ask_until("stty size", "31 97", 15 * SECOND)
            .map_err(|e| format!("{transport}: the terminal size: {e}"))?;
        pty.send_line("exit 0")?;
        pty.wait(30 * SECOND)?;
        k.run([
            "exec",
            "sleeper",
            "--",
            "sh",
            "-c",
            "echo out-1; echo err-1 >&2",
        ])?
        .checked()?;
        expected += 2;
        let names = poll(
            &format!("{transport}: both sessions' stream.end lines naming their recordings"),
            10 * SECOND,
            Duration::from_millis(100),
            |last| {
                let names = recordings_of(env, &user.name)?;
                *last = format!("{names:?}");
                Ok((names.len() == expected).then_some(names))
            },
        )?;
        let (tty, plain) = (&names[expected - 2], &names[expected - 1]);
        let text = std::fs::read_to_string(env.stack.data_dir.join("recordings").join(tty))?;
        let header: Value = serde_json::from_str(text.lines().next().unwrap_or_default())?;
        ensure!(
            header["version"] == 2
                && header["command"] == "sh"
                && header["title"]
                    .as_str()
                    .is_some_and(|t| t.starts_with(&format!("{} in ", user.name)))
                && header["jitgate"]["user"] == user.name.as_str()
                && header["jitgate"]["kind"] == "exec"
                && header["jitgate"]["tty"] == true
                && header["jitgate"]["pod"] == "sleeper"
                && header["jitgate"]["session"]
                    .as_str()
                    .is_some_and(|id| tty.as_str() == format!("{id}.cast")),
            "{transport}: header of {tty}: {header}"
        );
        ensure!(
            text.contains(r#""r","97x31"]"#),
            "{transport}: {tty} has no resize to 97x31:\n{text}"
        );
        ensure!(
            text.contains(r#""i","echo rec-$((6*7))"#) || text.contains(r#""i","e"]"#),
            "{transport}: {tty} does not hold what was typed:\n{text}"
        );
        let played = env
            .stack
            .jitgate(["recording", "play", tty.as_str(), "--speed", "0"])?
            .checked()?;
        ensure!(
            played.stdout_text().contains("rec-42"),
            "{transport}: playing {tty} does not show rec-42: {played}"
        );
        let text = std::fs::read_to_string(env.stack.data_dir.join("recordings").join(plain))?;
        ensure!(
            text.contains(r#""o","out-1\n"]"#) && text.contains(r#""e","err-1\n"]"#),
            "{transport}: {plain} does not keep stdout and stderr apart:\n{text}"
        );
        let list = env.stack.jitgate(["recording", "list"])?.checked()?;
        ensure!(
            list.stdout_text()
                .lines()
                .any(|l| l.contains(plain.as_str()) && l.contains(&user.name)),
            "{transport}: `jitgate recording list` does not show {plain}: {list}"
        );
    }
    Ok(())
}

/// kubectl cp under the shipped profile's `exec.copy` (out of the pod from /tmp and /var/log,
/// into it below /tmp): a round trip inside the paths works; copying /etc/hostname out, or a
/// file into /etc, is refused with the allowed paths named; a tar that is not kubectl cp's is
/// refused; and an upload whose archive holds a member that climbs out (`../…`) is cut at that
/// member — nothing from it on reaches the pod — with a `stream.deny` line.
/// On every transport.
fn copies_follow_the_profile(env: &GatewayCase) -> CaseResult {
    let PodUser {
        ns,
        user,
        k,
        grant: _grant,
    } = user_with_pod(env, "copier", &sleeper("sleeper"), "INC-e2e copy")?;
    let admin = env.admin.in_namespace(ns.name(0));
    // Containers are host processes: the pod's /tmp is the host's, so the names must be unique.
    let remote = format!(
        "/tmp/jitgate-e2e-cp-{}",
        jitgate_e2e::random::random_name(8)
    );
    let local = tempfile::tempdir()?;
    let src = local.path().join("src");
    std::fs::write(&src, b"copied through jitgate\n")?;
    let src_arg = src.to_str().ok_or("temporary path is not UTF-8")?;
    // The crafted upload: ok1, then ../escaped (climbs out of the directory), then ok2.
    let parts = local.path().join("parts");
    std::fs::create_dir(&parts)?;
    for name in ["ok1", "bad", "ok2"] {
        std::fs::write(parts.join(name), name)?;
    }
    let crafted = Command::new("tar")
        .arg("-cf")
        .arg("-")
        .arg("-P")
        .arg("-C")
        .arg(&parts)
        .arg("--transform=s,^bad$,../escaped,")
        .args(["ok1", "bad", "ok2"])
        .output()?;
    ensure!(
        crafted.status.success(),
        "building the crafted archive with tar failed: {}",
        String::from_utf8_lossy(&crafted.stderr)
    );
    for (transport, k) in remote_command_transports(&k) {
        let tag = transport.to_string().to_lowercase();
        let dir = format!("{remote}/{tag}");
        admin
            .run(["exec", "sleeper", "--", "mkdir", "-p", &dir])?
            .checked()?;

        // Inside the paths: there and back.
        k.run(["cp", src_arg, &format!("sleeper:{dir}/f")])?
            .checked()?;
        let back = local.path().join(format!("back-{tag}"));
        let back_arg = back.to_str().ok_or("temporary path is not UTF-8")?;
        k.run(["cp", &format!("sleeper:{dir}/f"), back_arg])?
            .checked()?;
        ensure!(
            std::fs::read(&back)? == b"copied through jitgate\n",
            "{transport}: the round trip through {dir} changed the file"
        );

        // Outside them, both ways, and a tar of its own.
        let out = k.run(["cp", "sleeper:/etc/hostname", back_arg])?;
        ensure!(
            !out.success()
                && out.stderr_text().contains(
                    "copying /etc/hostname out of the pod is not allowed (exec.copy.fromPod: /tmp, /var/log)"
                ),
            "{transport}: copying /etc/hostname out was not refused with the allowed paths: {out}"
        );
        let out = k.run(["cp", src_arg, "sleeper:/etc/jitgate-e2e-copied"])?;
        ensure!(
            !out.success()
                && out
                    .stderr_text()
                    .contains("copying into /etc is not allowed (exec.copy.toPod: /tmp)"),
            "{transport}: copying into /etc was not refused with the allowed directory: {out}"
        );
        let out = k.run([
            "exec",
            "sleeper",
            "--",
            "tar",
            "czf",
            &format!("{dir}/etc.tgz"),
            "/etc",
        ])?;
        expect_forbidden(&out, &["tar runs only as kubectl cp runs it"])
            .map_err(|e| format!("{transport}: {e}"))?;

        // The crafted archive: cut at ../escaped.
        let out = k.run_with_stdin(
            [
                "exec", "-i", "sleeper", "--", "tar", "-xmf", "-", "-C", &dir,
            ],
            &crafted.stdout,
        )?;
        ensure!(
            !out.success()
                && out.stderr_text().contains(&format!(
                    "copy refused by profile oncall-debug: upload into {dir} refused after 1 member(s): the member ../escaped climbs out with `..`"
                )),
            "{transport}: the crafted upload was not cut at ../escaped: {out}"
        );
        // tar in the container would skip ../escaped and go on with ok2: it never got there.
        let listing = admin
            .run(["exec", "sleeper", "--", "ls", &dir])?
            .checked()?;
        ensure!(
            !listing
                .stdout_text()
                .lines()
                .any(|l| l == "ok2" || l == "escaped"),
            "{transport}: members from the refused one on reached the pod: {dir} holds {listing}"
        );
    }
    env.audit.wait_for(
        "the stream.deny line of the crafted upload",
        &user.name,
        5 * SECOND,
        |e| {
            e["kind"] == "stream.deny"
                && e["decision"] == "deny"
                && e["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("../escaped climbs out"))
        },
    )?;
    let _ = admin.run(["exec", "sleeper", "--", "rm", "-rf", &remote]);
    Ok(())
}

/// `exec.interactive: filter`, under a profile the test adds to the policy: in `kubectl exec
/// -it … -- sh` on a real pty, an allowed line runs, a denied line and a line with an unlisted
/// command never get their Enter (the person reads why, the shell gives a fresh prompt, and the
/// refused `mkdir` left nothing behind), an arrow key never reaches the shell (explained), a
/// history expansion is refused;
/// without a terminal (`exec -i`, commands on stdin) only the allowed lines reach the shell.
/// Each decision is audited with the line. On every transport.
fn typed_lines_follow_a_filtering_profile(env: &GatewayCase) -> CaseResult {
    let profile = env.unique("filtered");
    let _added = add_profile(
        env,
        &format!(
            "  - name: {profile}
    description: A shell whose typed lines are checked (e2e)
    rules:
      - apiGroups: [\"\"]
        resources: [pods]
        verbs: [get, list]
      - apiGroups: [\"\"]
        resources: [pods/exec]
        verbs: [get, create]
    scope:
      namespaces: [\"gw-*\"]
    defaultDuration: 10m
    maxDuration: 1h
    requesters: [sre]
    approval:
      approverGroups: [sre-leads]
    exec:
      allow: [sh, ls, cat]
      deny: [\"cat /etc/shadow\"]
      interactive: filter
"
        ),
    )?;
    // Namespaces made now get the new profile's Role, and the gateway may impersonate its group.
    let ns = env.namespaces(1)?;
    let a = ns.name(0);
    ns.start_pod(a, &sleeper("sleeper"))?;
    let (user, k) = env.cert_user("typist", a)?;
    let _grant = env
        .stack
        .create_grant_for(&profile, &user.name, &[a], "10m", "INC-e2e filter")?;
    poll(
        "an exec under the new profile to work (grant loaded, RBAC applied)",
        15 * SECOND,
        Duration::from_millis(200),
        |last| {
            let out = k.run(["exec", "sleeper", "--", "ls", "/"])?;
            *last = out.to_string();
            if !out.success() {
                env.stack.apply_rbac(&env.admin, &[a])?;
            }
            Ok(out.success().then_some(()))
        },
    )?;
    let marker = format!(
        "/tmp/jitgate-e2e-typed-{}",
        jitgate_e2e::random::random_name(8)
    );
    for (transport, k) in remote_command_transports(&k) {
        let mut pty = k.spawn_pty(
            ["exec", "-it", "sleeper", "--", "sh"],
            PtySize::new(30, 100),
        )?;
        pty.send_line("echo typed-$((6*7))")?;
        pty.expect("typed-42", 30 * SECOND)?;
        // Each refusal: the reason on the terminal; then, since the shell abandons the line
        // with Ctrl-C and drops what reaches it meanwhile, ask until it answers again.
        let refusals = [
            (
                "cat /etc//shadow".to_owned(),
                format!("typed line refused by profile {profile}: `cat /etc//shadow` is denied"),
            ),
            (
                format!("mkdir {marker}"),
                "`mkdir` is not an allowed command".to_owned(),
            ),
            ("echo !!".to_owned(), "history expansion".to_owned()),
        ];
        for (round, (line, needle)) in refusals.iter().enumerate() {
            pty.send_line(line)?;
            pty.expect(needle, 10 * SECOND)
                .map_err(|e| format!("{transport}: {e}"))?;
            pty.ask_until(
                &format!("echo back-$(({round}+100))"),
                &format!("back-{}", round + 100),
                15 * SECOND,
            )
            .map_err(|e| format!("{transport}: after refusing {line:?}: {e}"))?;
        }
        // Up would recall a line jitgate did not see: editing keys never reach the shell.
        pty.send("\x1b[A")?;
        pty.expect(
            "Tab, arrows, history and other editing keys are off",
            10 * SECOND,
        )
        .map_err(|e| format!("{transport}: {e}"))?;
        // The shell is still there, and the refused mkdir never ran.
        pty.ask_until(
            &format!("ls -d {marker} || echo absent-$((1+1))"),
            "absent-2",
            15 * SECOND,
        )
        .map_err(|e| format!("{transport}: {e}"))?;
        pty.send_line("exit 0")?;
        pty.wait(30 * SECOND)?;

        let out = k.run_with_stdin(
            ["exec", "-i", "sleeper", "--", "sh"],
            format!("echo one\nmkdir {marker}\necho two\n").as_bytes(),
        )?;
        ensure!(
            out.stdout_text() == "one\ntwo\n"
                && out
                    .stderr_text()
                    .contains("jitgate: typed line refused by profile")
                && out
                    .stderr_text()
                    .contains("`mkdir` is not an allowed command"),
            "{transport}: exec -i sh with a refused line on stdin: {out}"
        );
    }
    let probe = env
        .admin
        .in_namespace(a)
        .run(["exec", "sleeper", "--", "ls", "-d", &marker])?;
    ensure!(
        !probe.success(),
        "a refused line ran anyway: {marker} exists ({probe})"
    );
    for (what, kind, needle) in [
        (
            "the stream.deny line of the typed `cat /etc//shadow`",
            "stream.deny",
            "`cat /etc//shadow` is denied",
        ),
        (
            "the stream.allow line of the typed echo",
            "stream.allow",
            "typed: echo typed-$((6*7))",
        ),
    ] {
        env.audit.wait_for(what, &user.name, 5 * SECOND, |e| {
            e["kind"] == kind && e["reason"].as_str().is_some_and(|r| r.contains(needle))
        })?;
    }
    Ok(())
}
