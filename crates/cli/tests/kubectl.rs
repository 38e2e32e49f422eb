//! The kubeconfig and credential plugin with real kubectl binaries (1.27 and 1.33 by default):
//! kubectl must accept the kubeconfig `kubectl jit kubeconfig` writes, run `kubectl-jit
//! credential` through it, and present the cached certificate in the TLS handshake.
//!
//! The TLS endpoint here is a test listener that requires a client certificate from the test
//! CA and answers `/version`; it checks what kubectl sends and is not a stand-in for the
//! gateway's behaviour (that is tested with the gateway, once its API exists).
//!
//! Finds `kubectl.1.NN` beside the `kubectl` on the PATH (or in `JITGATE_KUBECTL_DIR`);
//! `JITGATE_KUBECTL_VERSIONS` picks the versions (default `1.27,1.33`).

// A test harness: a panic with a message is how a helper fails the test.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jitgate_api::Timestamp;
use jitgate_ca::{CertificateAuthority, ClientCertRequest, ClientCsr, ClientIdentity, ClientKey};
use jitgate_cli::cache::{CachedCredential, CredentialCache, LoginPreferences};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

fn kubectl_binaries() -> Vec<(String, PathBuf)> {
    let dir = std::env::var_os("JITGATE_KUBECTL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let found = Command::new("sh")
                .args(["-c", "readlink -f \"$(command -v kubectl)\""])
                .output()
                .expect("sh");
            let path = String::from_utf8_lossy(&found.stdout).trim().to_owned();
            assert!(
                !path.is_empty(),
                "no kubectl on the PATH; set JITGATE_KUBECTL_DIR to the folder of kubectl.1.27 …"
            );
            Path::new(&path)
                .parent()
                .expect("kubectl's folder")
                .to_path_buf()
        });
    let versions =
        std::env::var("JITGATE_KUBECTL_VERSIONS").unwrap_or_else(|_| "1.27,1.33".to_owned());
    versions
        .split(',')
        .map(|v| {
            let bin = dir.join(format!("kubectl.{}", v.trim()));
            assert!(
                bin.exists(),
                "{} is missing; set JITGATE_KUBECTL_DIR or JITGATE_KUBECTL_VERSIONS",
                bin.display()
            );
            (v.trim().to_owned(), bin)
        })
        .collect()
}

fn plugin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_kubectl-jit"))
}

/// `kubectl` with kubectl-jit first on the PATH and the cache in `cache`.
fn kubectl(bin: &Path, cache: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        plugin().parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(bin)
        .args(args)
        .env("PATH", path)
        .env("JITGATE_CACHE_DIR", cache)
        .env_remove("KUBECONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run kubectl")
}

struct TestCa {
    ca: CertificateAuthority,
    _dir: tempfile::TempDir,
}

fn test_ca() -> TestCa {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = CertificateAuthority::create(&dir.path().join("ca")).expect("CA");
    TestCa { ca, _dir: dir }
}

fn credential_for(ca: &CertificateAuthority, server: &str) -> CachedCredential {
    let csr = ClientCsr::generate().expect("csr");
    let issued = ca
        .issue_client_cert(
            ClientCertRequest::new(
                "alice@example.com",
                vec!["oncall-payments".into(), "sre".into()],
                ClientKey::Csr(csr.csr_pem.clone()),
                Duration::from_secs(24 * 3600),
            )
            .with_ttl(Duration::from_secs(3600)),
        )
        .expect("client certificate");
    CachedCredential {
        server: server.to_owned(),
        ca_certificate: ca.cert_pem().to_owned(),
        certificate: issued.cert_pem,
        private_key: csr.key_pem,
        user: "alice@example.com".into(),
        groups: vec!["oncall-payments".into(), "sre".into()],
        expires_at: Timestamp::from(issued.not_after),
        issued_at: Timestamp::now(),
        login: LoginPreferences::default(),
    }
}

const EXISTING: &str = "apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
users:
- name: admin
  user:
    token: abc
contexts:
- name: prod
  context:
    cluster: prod
    user: admin
current-context: prod
";

/// Runs `kubectl-jit kubeconfig` into `dir/config` (which already has a `prod` context).
fn write_kubeconfig(dir: &Path, server: &str, ca_pem: &str) -> PathBuf {
    let config = dir.join("config");
    std::fs::write(&config, EXISTING).expect("kubeconfig");
    let ca = dir.join("ca.crt");
    std::fs::write(&ca, ca_pem).expect("ca");
    let out = Command::new(plugin())
        .args(["kubeconfig", "--server", server, "--ca-file"])
        .arg(&ca)
        .arg("--kubeconfig")
        .arg(&config)
        .args(["--context", "jitgate-test", "-n", "payments"])
        .env("JITGATE_CACHE_DIR", dir.join("cache"))
        .output()
        .expect("kubectl-jit kubeconfig");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Wrote context jitgate-test to "), "{said}");
    config
}

#[test]
fn every_kubectl_accepts_the_kubeconfig_and_keeps_other_contexts() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca();
    let config = write_kubeconfig(tmp.path(), "https://127.0.0.1:8443", ca.ca.cert_pem());
    for (version, bin) in kubectl_binaries() {
        let out = kubectl(
            &bin,
            &tmp.path().join("cache"),
            &[
                "config",
                "view",
                "--kubeconfig",
                &config.to_string_lossy(),
                "-o",
                "json",
            ],
        );
        assert!(
            out.status.success(),
            "kubectl {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let view: Value = serde_json::from_slice(&out.stdout).expect("kubectl's JSON");
        assert_eq!(view["current-context"], "jitgate-test", "kubectl {version}");
        let names = |list: &str| -> Vec<String> {
            view[list]
                .as_array()
                .expect("list")
                .iter()
                .map(|i| i["name"].as_str().expect("name").to_owned())
                .collect()
        };
        assert_eq!(
            names("contexts"),
            ["jitgate-test", "prod"],
            "kubectl {version} (sorted by kubectl)"
        );
        let user = view["users"]
            .as_array()
            .expect("users")
            .iter()
            .find(|u| u["name"] == "jitgate-test")
            .expect("our user");
        let exec = &user["user"]["exec"];
        assert_eq!(exec["command"], "kubectl-jit", "kubectl {version}");
        assert_eq!(
            exec["apiVersion"], "client.authentication.k8s.io/v1",
            "kubectl {version}"
        );
        assert_eq!(exec["interactiveMode"], "IfAvailable", "kubectl {version}");
        assert_eq!(
            exec["args"],
            serde_json::json!(["credential", "--server", "https://127.0.0.1:8443"]),
            "kubectl {version}"
        );
        let cluster = view["clusters"]
            .as_array()
            .expect("clusters")
            .iter()
            .find(|c| c["name"] == "jitgate-test")
            .expect("our cluster");
        assert_eq!(
            cluster["cluster"]["server"], "https://127.0.0.1:8443",
            "kubectl {version}"
        );
        assert_eq!(
            cluster["cluster"]["extensions"][0]["name"], "jitgate.dev/cli",
            "kubectl {version}"
        );
        let context = view["contexts"]
            .as_array()
            .expect("contexts")
            .iter()
            .find(|c| c["name"] == "jitgate-test")
            .expect("our context");
        assert_eq!(
            context["context"]["namespace"], "payments",
            "kubectl {version}"
        );
    }
}

/// A TLS listener that requires a client certificate from `ca`, answers every request with a
/// Kubernetes `/version` body, and records the client certificate's user.
async fn tls_listener(ca: &CertificateAuthority) -> (String, Arc<Mutex<Vec<String>>>) {
    let served = ca
        .issue_server_cert(&["127.0.0.1"])
        .expect("server certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert_der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::clone(&provider),
    )
    .build()
    .expect("client verifier");
    let chain = CertificateDer::pem_slice_iter(served.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain");
    let key = PrivateKeyDer::from_pem_slice(served.key_pem.as_deref().expect("key").as_bytes())
        .expect("key");
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server config");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("https://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Some(cert) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
                    let who = ClientIdentity::from_der(cert.as_ref()).expect("client identity");
                    record.lock().expect("lock").push(who.user);
                }
                let service = service_fn(|_req: http::Request<hyper::body::Incoming>| async {
                    let body = r#"{"major":"1","minor":"33","gitVersion":"v1.33.0-jitgate-test","platform":"linux/amd64"}"#;
                    let mut resp =
                        http::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
                    resp.headers_mut().insert(
                        "content-type",
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_runs_the_plugin_and_presents_the_cached_certificate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca();
    let (server, seen) = tls_listener(&ca.ca).await;
    let cache_dir = tmp.path().join("cache");
    CredentialCache::new(&cache_dir)
        .store(&credential_for(&ca.ca, &server))
        .expect("cache");
    let config = write_kubeconfig(tmp.path(), &server, ca.ca.cert_pem());
    for (version, bin) in kubectl_binaries() {
        let bin = bin.clone();
        let cache_dir = cache_dir.clone();
        let config = config.clone();
        let out = tokio::task::spawn_blocking(move || {
            kubectl(
                &bin,
                &cache_dir,
                &[
                    "--kubeconfig",
                    &config.to_string_lossy(),
                    "get",
                    "--raw",
                    "/version",
                ],
            )
        })
        .await
        .expect("kubectl task");
        assert!(
            out.status.success(),
            "kubectl {version}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("v1.33.0-jitgate-test"),
            "kubectl {version}"
        );
        let users = seen.lock().expect("lock").clone();
        assert_eq!(
            users.last().map(String::as_str),
            Some("alice@example.com"),
            "kubectl {version}: {users:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_credential_kubectl_says_to_log_in_and_nothing_is_sent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca();
    let (server, seen) = tls_listener(&ca.ca).await;
    let config = write_kubeconfig(tmp.path(), &server, ca.ca.cert_pem());
    for (version, bin) in kubectl_binaries() {
        let bin = bin.clone();
        let cache_dir = tmp.path().join("empty-cache");
        let config = config.clone();
        let out = tokio::task::spawn_blocking(move || {
            kubectl(
                &bin,
                &cache_dir,
                &[
                    "--kubeconfig",
                    &config.to_string_lossy(),
                    "get",
                    "--raw",
                    "/version",
                ],
            )
        })
        .await
        .expect("kubectl task");
        assert!(!out.status.success(), "kubectl {version} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!(
            "no jitgate credential is cached: run kubectl jit login --server {server} in a terminal, then retry"
        );
        assert!(stderr.contains(&want), "kubectl {version}: {stderr}");
    }
    assert!(
        seen.lock().expect("lock").is_empty(),
        "no client certificate may reach the server"
    );
}
