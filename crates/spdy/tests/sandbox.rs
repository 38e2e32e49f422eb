//! Against real spdystream peers: the sandbox's kube-apiserver (and, behind it, the node agent
//! built on `k8s.io/cri-streaming`), reached with the sandbox admin's client certificate.
//!
//! `JITGATE_SANDBOX_DIR` names a running, seeded sandbox (`sandbox up` + `sandbox seed`), as in
//! crates/e2e. Run: `JITGATE_SANDBOX_DIR=$PWD/.sandbox cargo test -p jitgate-spdy --test
//! sandbox -- --ignored`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use jitgate_spdy::{Connection, Error, HeaderBlock, Stream, WebSocketTunnel};
use jitgate_wire::portforward::{self, PortForwardStream};
use jitgate_wire::remotecommand::{ExitStatus, StreamType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const PATIENCE: Duration = Duration::from_secs(60);
const NAMESPACE: &str = "payments";
const APP_PORT: u16 = 8080;

/// The sandbox's API server and the admin's TLS identity.
struct Cluster {
    host: String,
    port: u16,
    tls: Arc<rustls::ClientConfig>,
}

impl Cluster {
    fn from_env() -> Cluster {
        let dir = PathBuf::from(
            std::env::var_os("JITGATE_SANDBOX_DIR")
                .filter(|v| !v.is_empty())
                .expect("JITGATE_SANDBOX_DIR names a running sandbox (see this file's doc)"),
        );
        let kubeconfig: serde_yaml::Value = serde_yaml::from_slice(
            &std::fs::read(dir.join("admin.kubeconfig")).expect("admin.kubeconfig"),
        )
        .expect("kubeconfig YAML");
        let server = kubeconfig["clusters"][0]["cluster"]["server"]
            .as_str()
            .expect("server URL");
        let authority = server.strip_prefix("https://").expect("https server");
        let (host, port) = authority.rsplit_once(':').expect("host:port");
        let b64 = |key: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(
                    kubeconfig["users"][0]["user"][key]
                        .as_str()
                        .unwrap_or_else(|| panic!("{key} in the kubeconfig")),
                )
                .expect("base64")
        };
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&b64("client-certificate-data"))
                .collect::<Result<_, _>>()
                .expect("client certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(&b64("client-key-data")).expect("client key PEM");
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(dir.join("ca.crt")).expect("ca.crt") {
            roots.add(ca.expect("CA PEM")).expect("CA certificate");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .expect("client certificate");
        Cluster {
            host: host.to_owned(),
            port: port.parse().expect("port"),
            tls: Arc::new(tls),
        }
    }

    async fn connect(&self) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .expect("connect to the apiserver");
        tcp.set_nodelay(true).expect("nodelay");
        let name = ServerName::try_from(self.host.clone()).expect("server name");
        TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .expect("TLS handshake")
    }

    /// A plain GET, read to the end (HTTP/1.0, so the body is neither chunked nor kept alive).
    async fn get_json(&self, path: &str) -> serde_json::Value {
        let mut tls = self.connect().await;
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: {}:{}\r\nAccept: application/json\r\n\r\n",
            self.host, self.port
        );
        tls.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await.expect("read");
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.contains(" 200 "), "{head}");
        serde_json::from_str(body).expect("JSON")
    }

    /// A Running pod of `payments-api` (built-in HTTP server on 8080, and a shell for exec).
    async fn api_pods(&self) -> Vec<String> {
        let pods = self
            .get_json(&format!(
                "/api/v1/namespaces/{NAMESPACE}/pods?labelSelector=app%3Dpayments-api"
            ))
            .await;
        let names: Vec<String> = pods["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        assert!(
            !names.is_empty(),
            "the sandbox is seeded (payments-api pods)"
        );
        names
    }

    /// Sends an HTTP/1.1 upgrade and returns the socket after `101 Switching Protocols`, with the
    /// response head.
    async fn upgrade(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (TlsStream<TcpStream>, String) {
        let mut tls = self.connect().await;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\n",
            self.host, self.port
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("Content-Length: 0\r\n\r\n");
        tls.write_all(request.as_bytes()).await.expect("write");
        // Byte by byte, so nothing after the head (the first SPDY frames) is read here.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            assert!(head.len() < 16 * 1024, "response head too long");
            head.push(tls.read_u8().await.expect("response head"));
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        (tls, head)
    }
}

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// An error and its causes, one line.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Opens a stream as client-go does: SYN_STREAM, then wait for the SYN_REPLY.
async fn open(connection: &Connection, headers: HeaderBlock) -> Stream {
    let stream = connection.open_stream(headers, false).expect("open");
    within("SYN_REPLY", stream.wait_reply())
        .await
        .expect("reply");
    stream
}

/// Everything a stream delivers until FIN or the peer's reset (how kube-apiserver ends them).
async fn read_to_end(stream: &mut jitgate_spdy::RecvStream) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        match stream.recv().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            Ok(None) => return out,
            Err(err) if err.is_reset_by_peer() => return out,
            Err(err) => panic!("stream failed: {}", chain(&err)),
        }
    }
}

/// `kubectl exec [-i] POD -- sh -c SCRIPT` over SPDY v4: stdin in (if any), stdout, stderr and
/// the exit status out.
async fn exec(
    cluster: &Cluster,
    pod: &str,
    script: &str,
    stdin: Option<Bytes>,
) -> (Vec<u8>, Vec<u8>, ExitStatus) {
    let script = script
        .replace(' ', "%20")
        .replace(';', "%3B")
        .replace('>', "%3E")
        .replace('&', "%26");
    let path = format!(
        "/api/v1/namespaces/{NAMESPACE}/pods/{pod}/exec?command=sh&command=-c&command={script}&stdin={}&stdout=true&stderr=true",
        stdin.is_some()
    );
    let (tls, head) = cluster
        .upgrade(
            "POST",
            &path,
            &[
                ("Connection", "Upgrade"),
                ("Upgrade", "SPDY/3.1"),
                ("X-Stream-Protocol-Version", "v4.channel.k8s.io"),
            ],
        )
        .await;
    assert!(
        head.to_ascii_lowercase()
            .contains("x-stream-protocol-version: v4.channel.k8s.io"),
        "{head}"
    );
    let connection = Connection::client(tls).expect("connection");
    // client-go's order: error, stdin, stdout, stderr.
    let error = open(&connection, StreamType::Error.to_headers()).await;
    let stdin_stream = match stdin {
        Some(_) => Some(open(&connection, StreamType::Stdin.to_headers()).await),
        None => None,
    };
    let stdout = open(&connection, StreamType::Stdout.to_headers()).await;
    let stderr = open(&connection, StreamType::Stderr.to_headers()).await;
    let (_, mut stdout) = stdout.into_split();
    let (_, mut stderr) = stderr.into_split();
    let (_, mut error) = error.into_split();
    let out_task = tokio::spawn(async move { read_to_end(&mut stdout).await });
    let err_task = tokio::spawn(async move { read_to_end(&mut stderr).await });
    if let (Some(mut stream), Some(input)) = (stdin_stream, stdin) {
        for piece in input.chunks(32 * 1024) {
            stream
                .send(Bytes::copy_from_slice(piece))
                .await
                .expect("stdin");
        }
        // Half-close stdin as kubectl does; stdout keeps flowing.
        stream.finish().expect("close stdin");
    }
    let out = within("stdout", out_task).await.expect("stdout task");
    let err = within("stderr", err_task).await.expect("stderr task");
    let status = within("the status", read_to_end(&mut error)).await;
    let status = ExitStatus::from_status_json(&status).expect("a Status on the error stream");
    within("the connection to end", connection.closed())
        .await
        .expect("kube-apiserver ends the session cleanly");
    (out, err, status)
}

#[tokio::test]
#[ignore = "needs the sandbox"]
async fn exec_cat_echoes_ten_mebibytes_byte_for_byte() {
    let cluster = Cluster::from_env();
    let pod = cluster.api_pods().await.remove(0);
    let input: Bytes = (0..10 * 1024 * 1024)
        .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect::<Vec<u8>>()
        .into();
    let (out, err, status) = exec(&cluster, &pod, "cat", Some(input.clone())).await;
    assert_eq!(out.len(), input.len(), "stdout length");
    assert!(out == input, "stdout is stdin, byte for byte");
    assert!(err.is_empty(), "stderr: {}", String::from_utf8_lossy(&err));
    assert_eq!(status, ExitStatus::Success);
}

#[tokio::test]
#[ignore = "needs the sandbox"]
async fn exec_exit_code_arrives_on_the_error_stream() {
    let cluster = Cluster::from_env();
    let pod = cluster.api_pods().await.remove(0);
    let (out, err, status) = exec(&cluster, &pod, "echo out; echo err >&2; exit 3", None).await;
    assert_eq!(out, b"out\n");
    assert_eq!(err, b"err\n");
    assert_eq!(status, ExitStatus::ExitCode(3));
}

/// One forwarded TCP connection, as kubectl makes it: an error stream (half-closed at once) and
/// a data stream sharing a request id; writes `request`, reads the whole response.
async fn forward_once(connection: &Connection, request_id: u32, request: Vec<u8>) -> Vec<u8> {
    let pair = |stream_type| PortForwardStream {
        stream_type,
        port: APP_PORT,
        request_id: Some(request_id.to_string()),
    };
    let mut error = open(
        connection,
        pair(portforward::StreamType::Error).to_headers(),
    )
    .await;
    error
        .finish()
        .expect("half-close the error stream, as kubectl does");
    let data = open(connection, pair(portforward::StreamType::Data).to_headers()).await;
    let (mut send, mut recv) = data.into_split();
    let reader = tokio::spawn(async move { read_to_end(&mut recv).await });
    for piece in request.chunks(32 * 1024) {
        send.send(Bytes::copy_from_slice(piece))
            .await
            .expect("send");
    }
    let response = within("the response", reader).await.expect("reader");
    let _ = send.finish();
    let (_, mut error) = error.into_split();
    let failure = within("the error stream", read_to_end(&mut error)).await;
    assert!(
        failure.is_empty(),
        "port-forward error: {}",
        String::from_utf8_lossy(&failure)
    );
    response
}

/// The body of an HTTP/1.1 response with Content-Length.
fn http_body(response: &[u8]) -> &[u8] {
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..at]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("Content-Length");
    let body = &response[at + 4..];
    assert_eq!(body.len(), length, "the whole body arrived");
    body
}

/// `GET /bytes?n=N` and `POST /echo` with a 1 MiB body through one port-forward connection.
async fn check_forwarding(connection: Arc<Connection>, salt: u8) {
    let n = 4 * 1024 * 1024;
    let get = format!("GET /bytes?n={n} HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n");
    let body_pattern: Vec<u8> = b"0123456789abcdef"
        .iter()
        .copied()
        .cycle()
        .take(n)
        .collect();
    let echo_body: Vec<u8> = (0..1024 * 1024)
        .map(|i: usize| (i % 253) as u8 ^ salt)
        .collect();
    let mut post = format!(
        "POST /echo HTTP/1.1\r\nHost: pod\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        echo_body.len()
    )
    .into_bytes();
    post.extend_from_slice(&echo_body);
    // Two forwarded connections at once on this SPDY connection.
    let (bytes, echoed) = tokio::join!(
        forward_once(&connection, 0, get.into_bytes()),
        forward_once(&connection, 1, post)
    );
    assert!(http_body(&bytes) == &body_pattern[..], "GET /bytes body");
    assert!(http_body(&echoed) == &echo_body[..], "POST /echo body");
}

async fn spdy_port_forward(cluster: &Cluster, pod: &str) -> Connection {
    let (tls, head) = cluster
        .upgrade(
            "POST",
            &format!("/api/v1/namespaces/{NAMESPACE}/pods/{pod}/portforward"),
            &[
                ("Connection", "Upgrade"),
                ("Upgrade", "SPDY/3.1"),
                ("X-Stream-Protocol-Version", portforward::PROTOCOL),
            ],
        )
        .await;
    assert!(
        head.to_ascii_lowercase()
            .contains("x-stream-protocol-version: portforward.k8s.io"),
        "{head}"
    );
    Connection::client(tls).expect("connection")
}

#[tokio::test]
#[ignore = "needs the sandbox"]
async fn port_forward_over_spdy_on_two_connections() {
    let cluster = Cluster::from_env();
    let pods = cluster.api_pods().await;
    let first = Arc::new(spdy_port_forward(&cluster, &pods[0]).await);
    let second = Arc::new(spdy_port_forward(&cluster, pods.last().expect("a pod")).await);
    within("both port-forwards", async {
        tokio::join!(
            check_forwarding(first.clone(), 1),
            check_forwarding(second.clone(), 2)
        )
    })
    .await;
    // kubectl pings every 10 s on the tunnel; the apiserver answers ours too.
    within("a ping", first.ping()).await.expect("PING echoed");
    for connection in [first, second] {
        connection.close();
        within("close", connection.closed())
            .await
            .expect("graceful close");
    }
}

#[tokio::test]
#[ignore = "needs the sandbox"]
async fn port_forward_over_the_websocket_tunnel() {
    let cluster = Cluster::from_env();
    let pods = cluster.api_pods().await;
    let mut connections = Vec::new();
    for pod in [&pods[0], pods.last().expect("a pod")] {
        let tls = cluster.connect().await;
        let url = format!(
            "wss://{}:{}/api/v1/namespaces/{NAMESPACE}/pods/{pod}/portforward",
            cluster.host, cluster.port
        );
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            portforward::SPDY_TUNNEL_PROTOCOL
                .parse()
                .expect("header value"),
        );
        let (ws, response) = within(
            "the WebSocket handshake",
            tokio_tungstenite::client_async_with_config(
                request,
                tls,
                Some(jitgate_spdy::websocket_config()),
            ),
        )
        .await
        .expect("WebSocket upgrade");
        assert_eq!(
            response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok()),
            Some(portforward::SPDY_TUNNEL_PROTOCOL)
        );
        connections.push(Arc::new(
            Connection::client(WebSocketTunnel::new(ws)).expect("connection"),
        ));
    }
    within("both tunnelled port-forwards", async {
        tokio::join!(
            check_forwarding(connections[0].clone(), 3),
            check_forwarding(connections[1].clone(), 4)
        )
    })
    .await;
    for connection in connections {
        connection.close();
        within("close", connection.closed())
            .await
            .expect("graceful close");
    }
}

#[tokio::test]
#[ignore = "needs the sandbox"]
async fn a_stream_for_an_unknown_port_fails_on_its_error_stream() {
    let cluster = Cluster::from_env();
    let pod = cluster.api_pods().await.remove(0);
    let connection = spdy_port_forward(&cluster, &pod).await;
    let pair = |stream_type| PortForwardStream {
        stream_type,
        port: 1,
        request_id: Some("0".to_owned()),
    };
    let mut error = open(
        &connection,
        pair(portforward::StreamType::Error).to_headers(),
    )
    .await;
    error.finish().expect("half-close");
    let _data = open(
        &connection,
        pair(portforward::StreamType::Data).to_headers(),
    )
    .await;
    let (_, mut error) = error.into_split();
    let message = within("the error", read_to_end(&mut error)).await;
    assert!(
        !message.is_empty(),
        "the kubelet reports the refused connection"
    );
    connection.shutdown();
    let ended = within("the end", connection.closed()).await;
    assert!(ended.is_ok() || matches!(ended, Err(Error::ConnectionFailed(_))));
}
