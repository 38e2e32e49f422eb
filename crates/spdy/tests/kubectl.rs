//! The server role against a real spdystream client: `kubectl.1.27 port-forward` talks to a
//! small HTTPS server of ours (a throwaway CA, a pod that is Running, just enough discovery), and
//! its port-forward upgrade is served by `Connection::server`, which echoes every forwarded
//! connection back. Bytes go through kubectl's local port and come back intact.
//!
//! Needs the kubectl binaries beside `kubectl` on the PATH (`kubectl.1.27`), nothing else:
//! `cargo test -p jitgate-spdy --test kubectl -- --ignored`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use jitgate_spdy::{Connection, HeaderBlock, IncomingStream};
use jitgate_wire::portforward::{self, PortForwardStream};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const PATIENCE: Duration = Duration::from_secs(60);

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// `kubectl.1.27`, from the folder of the `kubectl` on the PATH.
fn kubectl_127() -> PathBuf {
    let path = std::env::var_os("PATH").expect("PATH");
    let kubectl = std::env::split_paths(&path)
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.is_file())
        .expect("kubectl on the PATH");
    let real = std::fs::canonicalize(kubectl).expect("resolve kubectl");
    let binary = real.parent().expect("a folder").join("kubectl.1.27");
    assert!(binary.is_file(), "{} exists", binary.display());
    binary
}

/// A CA and a server certificate for 127.0.0.1 signed by it: (CA PEM, server chain, key).
fn certificates() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("server key");
    let mut server = CertificateParams::default();
    server.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
    let cert = server.signed_by(&key, &issuer).expect("server certificate");
    (
        ca_cert.pem(),
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// Answers of the fake apiserver, by path.
fn answer(path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let json = match path {
        "/api" => serde_json::json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]
        }),
        "/apis" => serde_json::json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
        "/api/v1" => serde_json::json!({
            "kind": "APIResourceList", "groupVersion": "v1",
            "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                 "verbs": ["get", "list"], "shortNames": ["po"]},
                {"name": "pods/portforward", "singularName": "", "namespaced": true,
                 "kind": "PodPortForwardOptions", "verbs": ["create", "get"]}
            ]
        }),
        "/api/v1/namespaces/default/pods/x" => serde_json::json!({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "x", "namespace": "default", "uid": "00000000-0000-0000-0000-000000000001"},
            "spec": {"containers": [{"name": "app", "image": "none",
                                      "ports": [{"containerPort": 80, "protocol": "TCP"}]}]},
            "status": {"phase": "Running"}
        }),
        _ => return None,
    };
    Some(json.to_string())
}

/// Serves one connection from kubectl: plain requests until the port-forward upgrade.
async fn serve(tls: tokio_rustls::server::TlsStream<TcpStream>) {
    let mut tls = tls;
    loop {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            match tls.read_u8().await {
                Ok(byte) => head.push(byte),
                Err(_) => return,
            }
            assert!(head.len() < 64 * 1024, "request head too long");
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut words = head.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        if method == "POST" && path.ends_with("/portforward") {
            let lower = head.to_ascii_lowercase();
            assert!(lower.contains("upgrade: spdy/3.1"), "{head}");
            assert!(
                lower.contains("x-stream-protocol-version: portforward.k8s.io"),
                "{head}"
            );
            tls.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n",
            )
            .await
            .expect("101");
            serve_port_forward(Connection::server(tls).expect("connection")).await;
            return;
        }
        let response = match answer(path) {
            Some(body) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            None => {
                let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#;
                format!(
                    "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
        };
        tls.write_all(response.as_bytes()).await.expect("response");
    }
}

/// The kubelet's part: every data stream is echoed back; error streams stay silent and are
/// finished once their data stream is done.
async fn serve_port_forward(connection: Connection) {
    let connection = Arc::new(connection);
    let mut error_streams = std::collections::HashMap::new();
    while let Some(incoming) = connection.accept().await {
        let request =
            PortForwardStream::from_headers(incoming.headers()).expect("kubectl's headers");
        assert_eq!(request.port, 80);
        let id = request.request_id.clone().expect("a request id");
        match request.stream_type {
            portforward::StreamType::Error => {
                let stream = incoming.reply(HeaderBlock::new(), false).expect("reply");
                error_streams.insert(id, stream);
            }
            portforward::StreamType::Data => {
                let error = error_streams.remove(&id);
                tokio::spawn(echo(incoming, error));
            }
        }
    }
}

async fn echo(incoming: IncomingStream, error: Option<jitgate_spdy::Stream>) {
    let mut stream = incoming.reply(HeaderBlock::new(), false).expect("reply");
    while let Ok(Some(chunk)) = stream.recv().await {
        if stream.send(chunk).await.is_err() {
            return;
        }
    }
    let _ = stream.finish();
    if let Some(mut error) = error {
        let _ = error.finish();
    }
}

#[tokio::test]
#[ignore = "needs kubectl.1.27 beside kubectl on the PATH"]
async fn kubectl_127_port_forward_through_a_server_connection() {
    let (ca_pem, chain, key) = certificates();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("listen");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => serve(tls).await,
                    Err(err) => eprintln!("fake apiserver: TLS handshake failed: {err}"),
                }
            });
        }
    });

    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();
    let kubeconfig = dir.join("kubeconfig");
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: https://{address}\n    certificate-authority-data: {ca}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: nobody\n    namespace: default\ncurrent-context: fake\nusers:\n- name: nobody\n  user:\n    token: not-checked\n"
        ),
    )
    .expect("kubeconfig");
    let mut kubectl = tokio::process::Command::new(kubectl_127())
        .args(["--kubeconfig"])
        .arg(&kubeconfig)
        .args(["--cache-dir"])
        .arg(dir.join("cache"))
        .args(["port-forward", "pod/x", ":80"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start kubectl");
    let stdout = kubectl.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let local = within("kubectl to listen", async {
        while let Some(line) = lines.next_line().await.expect("kubectl output") {
            // "Forwarding from 127.0.0.1:PORT -> 80"
            if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
                return rest
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse::<u16>().ok());
            }
        }
        None
    })
    .await;
    let Some(local) = local else {
        let mut err = String::new();
        if let Some(mut stderr) = kubectl.stderr.take() {
            let _ = stderr.read_to_string(&mut err).await;
        }
        panic!("kubectl did not start forwarding: {err}");
    };

    // Two forwarded connections at once, 1 MiB each way, echoed through our server connection.
    let exchange = |salt: u8| async move {
        let mut tcp = TcpStream::connect(("127.0.0.1", local))
            .await
            .expect("connect");
        let data: Vec<u8> = (0..1024 * 1024)
            .map(|i: usize| (i % 251) as u8 ^ salt)
            .collect();
        let (mut read, mut write) = tcp.split();
        let writer = async {
            write.write_all(&data).await.expect("write");
            write.shutdown().await.expect("half-close");
        };
        let mut echoed = Vec::new();
        let reader = read.read_to_end(&mut echoed);
        let ((), read) = tokio::join!(writer, reader);
        read.expect("read");
        assert!(echoed == data, "connection {salt}: bytes echoed intact");
    };
    within("two forwarded connections", async {
        tokio::join!(exchange(1), exchange(2))
    })
    .await;
    kubectl.kill().await.expect("stop kubectl");
}
