//! Real kubectl as the stream client: `kubectl port-forward` with the benchmark reading the
//! forwarded local port, and `kubectl exec` with the benchmark on the far end of its stdin or
//! stdout. Each run is one kubectl process, timed from this side.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, BufReader,
};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStderr, Command};
use tokio::task::JoinHandle;

use super::content::{Content, Verifier, parse_response_head};

/// How kubectl carries the stream to the apiserver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    /// WebSocket: `v5.channel.k8s.io` for exec, SPDY tunnelled in WebSocket for port-forward
    /// (kubectl ≥ 1.31's default).
    Websocket,
    /// SPDY/3.1 over an HTTP/1.1 upgrade (`KUBECTL_*_WEBSOCKETS=false`, and kubectl ≤ 1.29).
    Spdy,
}

impl Transport {
    /// The words in the tables.
    pub fn label(self, kind: Kind) -> &'static str {
        match (self, kind) {
            (Self::Websocket, Kind::PortForward) => "SPDY in WebSocket",
            (Self::Websocket, _) => "WebSocket v5",
            (Self::Spdy, _) => "SPDY/3.1",
        }
    }

    /// The environment variable that makes kubectl use this transport for `kind`.
    fn env(self, kind: Kind) -> (&'static str, &'static str) {
        let name = match kind {
            Kind::PortForward => "KUBECTL_PORT_FORWARD_WEBSOCKETS",
            Kind::ExecStdout | Kind::ExecStdin => "KUBECTL_REMOTE_COMMAND_WEBSOCKETS",
        };
        let value = match self {
            Self::Websocket => "true",
            Self::Spdy => "false",
        };
        (name, value)
    }
}

/// Which direction of which stream is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// `kubectl port-forward POD :PORT`, then `GET /bytes?n=N` on the local port.
    PortForward,
    /// `kubectl exec POD -- sh -c 'head -c N /dev/zero'`, stdout counted here.
    ExecStdout,
    /// N bytes from here into `kubectl exec -i POD -- wc -c`, which reports what arrived.
    ExecStdin,
}

impl Kind {
    /// The words in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Self::PortForward => "port-forward",
            Self::ExecStdout => "exec stdout",
            Self::ExecStdin => "exec stdin",
        }
    }
}

/// Where a run goes and what it moves.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The kubectl binary.
    pub kubectl: &'a Path,
    /// The kubeconfig that picks the endpoint (apiserver or gateway) and the credentials.
    pub kubeconfig: &'a Path,
    /// Namespace of the pod.
    pub namespace: &'a str,
    /// The pod (its first container is used).
    pub pod: &'a str,
    /// The pod port forwarded; its server must answer `GET /bytes?n=N`.
    pub port: u16,
    /// Bytes moved.
    pub bytes: u64,
    /// How long the whole run may take before it is killed and reported.
    pub timeout: Duration,
}

/// One run's figures.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Bytes that arrived, checked against the content.
    pub bytes: u64,
    /// From the start of the measured part to its last byte.
    pub took: Duration,
    /// From the start of the measured part to the first byte, when that means something.
    pub first_byte: Option<Duration>,
}

/// A run that ended without error but did not deliver exactly what was sent: short, long or
/// different bytes. kubectl exiting 0 after losing the end of a stream is a known failure of
/// some paths (kubernetes/kubernetes#124571), so the benchmark counts these per row instead of
/// stopping.
#[derive(Debug)]
pub struct Incomplete(pub String);

impl std::fmt::Display for Incomplete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Incomplete {}

/// Fails the run as [`Incomplete`].
macro_rules! incomplete {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new(Incomplete(format!($($arg)*))))
    };
}

/// What is kept of kubectl's stderr, for error messages.
const MAX_STDERR: usize = 64 * 1024;
/// Read size on stdout and on the forwarded port.
const READ_CHUNK: usize = 1 << 20;
/// How long `kubectl port-forward` may take to say which local port it listens on.
const FORWARD_READY: Duration = Duration::from_secs(30);
/// How long the forwarded connection may stay open after the last byte of the body.
const EOF_GRACE: Duration = Duration::from_secs(10);

/// Runs one measurement of `kind` over `transport`; kubectl is waited for on every path that
/// returns `Ok` (so its CPU time counts as this process's children's).
pub async fn run(kind: Kind, transport: Transport, t: &Target<'_>) -> anyhow::Result<Sample> {
    let what = format!(
        "{} over {} with {}",
        kind.label(),
        transport.label(kind),
        t.kubeconfig.display()
    );
    let run = async {
        match kind {
            Kind::PortForward => port_forward(transport, t).await,
            Kind::ExecStdout => exec_stdout(transport, t).await,
            Kind::ExecStdin => exec_stdin(transport, t).await,
        }
    };
    match tokio::time::timeout(t.timeout, run).await {
        Ok(r) => r.with_context(|| what.clone()),
        Err(_) => bail!(
            "{what}: not done after {:?} (moving {} bytes); kubectl was killed. Is the stack \
             overloaded, or does the stream stall? Look at the gateway's and the node agent's logs",
            t.timeout,
            t.bytes
        ),
    }
}

fn kubectl(kind: Kind, transport: Transport, t: &Target<'_>) -> Command {
    let mut cmd = Command::new(t.kubectl);
    let (var, value) = transport.env(kind);
    cmd.env(var, value)
        .arg("--kubeconfig")
        .arg(t.kubeconfig)
        .args(["-n", t.namespace])
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Keeps the first [`MAX_STDERR`] bytes of kubectl's stderr and discards the rest, so kubectl
/// never blocks on a full pipe.
fn collect_stderr(stderr: Option<ChildStderr>) -> JoinHandle<String> {
    tokio::spawn(async move {
        let Some(mut stderr) = stderr else {
            return String::new();
        };
        let mut kept = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let room = MAX_STDERR.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        String::from_utf8_lossy(&kept).trim().to_owned()
    })
}

/// Waits for kubectl and fails, with its stderr, unless it exited 0.
async fn finish(
    mut child: Child,
    stderr: JoinHandle<String>,
    allow_failure: bool,
) -> anyhow::Result<()> {
    let status = child.wait().await.context("waiting for kubectl")?;
    let stderr = stderr.await.unwrap_or_default();
    if !status.success() && !allow_failure {
        bail!("kubectl exited with {status}: {stderr}");
    }
    Ok(())
}

/// `kubectl port-forward pod/POD :PORT`, then one `GET /bytes?n=N` on the local port, timed from
/// sending the request to the body's last byte (kubectl's start-up is not in it).
async fn port_forward(transport: Transport, t: &Target<'_>) -> anyhow::Result<Sample> {
    let mut cmd = kubectl(Kind::PortForward, transport, t);
    cmd.args(["port-forward", "--address", "127.0.0.1"])
        .arg(format!("pod/{}", t.pod))
        .arg(format!(":{}", t.port))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", t.kubectl.display()))?;
    let stderr = collect_stderr(child.stderr.take());
    let Some(stdout) = child.stdout.take() else {
        bail!("kubectl's stdout was not captured");
    };
    // kubectl keeps writing a line per connection: its stdout stays open (and read) to the end.
    let mut stdout = BufReader::new(stdout);
    let local = match tokio::time::timeout(FORWARD_READY, forwarded_local_port(&mut stdout)).await {
        Ok(Ok(port)) => port,
        Ok(Err(e)) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            let stderr = stderr.await.unwrap_or_default();
            return Err(e.context(format!("kubectl port-forward did not start: {stderr}")));
        }
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            let stderr = stderr.await.unwrap_or_default();
            bail!("kubectl port-forward named no local port within {FORWARD_READY:?}: {stderr}");
        }
    };
    let drain = tokio::spawn(async move {
        let mut sink = Vec::new();
        while let Ok(n) = stdout.read_buf(&mut sink).await {
            if n == 0 {
                break;
            }
            sink.clear();
        }
    });
    let result = get_bytes(local, t.bytes).await;
    // kubectl port-forward runs until it is stopped: stop it, then reap it for its CPU time.
    let _ = child.start_kill();
    finish(child, stderr, true).await?;
    drain.abort();
    result
}

/// Reads kubectl's stdout until it says `Forwarding from 127.0.0.1:PORT -> …`.
async fn forwarded_local_port<R: AsyncRead + Unpin>(out: &mut BufReader<R>) -> anyhow::Result<u16> {
    let mut line = String::new();
    for _ in 0..32 {
        line.clear();
        // A line is a few dozen bytes; a longer one is not what is looked for.
        let n = (&mut *out).take(1024).read_line(&mut line).await?;
        if n == 0 {
            bail!("kubectl exited before it listened");
        }
        if let Some(port) = parse_forwarding_line(&line) {
            return Ok(port);
        }
    }
    bail!("kubectl printed 32 lines without `Forwarding from 127.0.0.1:PORT`")
}

/// The local port in kubectl's `Forwarding from 127.0.0.1:41234 -> 8080`.
pub fn parse_forwarding_line(line: &str) -> Option<u16> {
    let rest = line.trim().strip_prefix("Forwarding from 127.0.0.1:")?;
    let (port, _) = rest.split_once(" -> ")?;
    port.parse().ok()
}

/// One `GET /bytes?n=N` over plain TCP on the forwarded port: checks the head, every byte of
/// the body, and that the connection ends right after it.
async fn get_bytes(local_port: u16, n: u64) -> anyhow::Result<Sample> {
    let mut conn = TcpStream::connect(("127.0.0.1", local_port))
        .await
        .with_context(|| format!("connecting to the forwarded port 127.0.0.1:{local_port}"))?;
    conn.set_nodelay(true)?;
    let started = Instant::now();
    conn.write_all(
        format!("GET /bytes?n={n} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut head_buf = Vec::new();
    let mut first_byte = None;
    let (head, body_start) = loop {
        let got = conn.read(&mut buf).await?;
        if got == 0 {
            bail!(
                "the forwarded connection closed after {} bytes, before a complete response head",
                head_buf.len()
            );
        }
        first_byte.get_or_insert_with(|| started.elapsed());
        head_buf.extend_from_slice(&buf[..got]);
        if let Some(head) = parse_response_head(&head_buf)? {
            break (head, head_buf.split_off(head.len));
        }
    };
    if head.status != 200 {
        bail!(
            "GET /bytes?n={n} on the forwarded port answered {}: {}",
            head.status,
            String::from_utf8_lossy(&body_start[..body_start.len().min(300)])
        );
    }
    if head.content_length != Some(n) {
        bail!(
            "GET /bytes?n={n} announced Content-Length {:?}; the pod's server is not the sandbox's",
            head.content_length
        );
    }
    let mut body = Verifier::new(Content::HttpBytesPattern);
    body.feed(&body_start);
    while body.bytes() < n {
        let got = conn.read(&mut buf).await?;
        if got == 0 {
            incomplete!(
                "the forwarded connection closed after {} of {n} body bytes",
                body.bytes()
            );
        }
        body.feed(&buf[..got]);
    }
    let took = started.elapsed();
    let at_last_byte = body.bytes();
    // Nothing more may come, and the close must reach this side (the server sent
    // `Connection: close`).
    loop {
        match tokio::time::timeout(EOF_GRACE, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(got)) => body.feed(&buf[..got]),
            Err(_) => incomplete!(
                "the forwarded connection stayed open {EOF_GRACE:?} after the body's last byte \
                 (the pod's server closes it): the close did not come through"
            ),
        }
    }
    if body.bytes() != n {
        incomplete!(
            "GET /bytes?n={n}: {} body bytes arrived, {} more than announced",
            body.bytes(),
            body.bytes() - at_last_byte
        );
    }
    if let Some(at) = body.first_mismatch() {
        incomplete!("GET /bytes?n={n}: byte {at} of the body is not what the pod's server sends");
    }
    Ok(Sample {
        bytes: n,
        took,
        first_byte,
    })
}

/// `kubectl exec POD -- sh -c 'head -c N /dev/zero'`, timed from starting kubectl to the last
/// byte on its stdout (kubectl's start-up and the exec handshake are in it).
async fn exec_stdout(transport: Transport, t: &Target<'_>) -> anyhow::Result<Sample> {
    let mut cmd = kubectl(Kind::ExecStdout, transport, t);
    cmd.args(["exec", t.pod, "--", "sh", "-c"])
        .arg(format!("head -c {} /dev/zero", t.bytes))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", t.kubectl.display()))?;
    let stderr = collect_stderr(child.stderr.take());
    let Some(mut stdout) = child.stdout.take() else {
        bail!("kubectl's stdout was not captured");
    };
    let mut buf = vec![0u8; READ_CHUNK];
    let mut out = Verifier::new(Content::Zeros);
    let mut first_byte = None;
    loop {
        let got = stdout.read(&mut buf).await?;
        if got == 0 {
            break;
        }
        first_byte.get_or_insert_with(|| started.elapsed());
        out.feed(&buf[..got]);
    }
    let took = started.elapsed();
    finish(child, stderr, false).await?;
    if out.bytes() != t.bytes {
        incomplete!(
            "kubectl exec exited 0 after writing {} bytes to stdout, not {}",
            out.bytes(),
            t.bytes
        );
    }
    if let Some(at) = out.first_mismatch() {
        incomplete!("kubectl exec: stdout byte {at} is not a zero");
    }
    Ok(Sample {
        bytes: out.bytes(),
        took,
        first_byte,
    })
}

/// N zero bytes into `kubectl exec -i POD -- wc -c`, timed from starting kubectl to its exit;
/// the count `wc` prints must be N (so every byte reached the container, and the end of stdin
/// too).
async fn exec_stdin(transport: Transport, t: &Target<'_>) -> anyhow::Result<Sample> {
    let mut cmd = kubectl(Kind::ExecStdin, transport, t);
    cmd.args(["exec", "-i", t.pod, "--", "wc", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", t.kubectl.display()))?;
    let stderr = collect_stderr(child.stderr.take());
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("kubectl's stdin and stdout were not captured");
    };
    let total = t.bytes;
    let feed = async move {
        let zeros = vec![0u8; READ_CHUNK];
        let mut left = total;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(zeros.len());
            stdin.write_all(&zeros[..n]).await?;
            left -= n as u64;
        }
        stdin.shutdown().await?;
        drop(stdin);
        Ok::<_, std::io::Error>(())
    };
    let read = async move {
        // `wc -c` prints one number: a little is plenty.
        let mut out = String::new();
        stdout.take(256).read_to_string(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    let (fed, out) = tokio::join!(feed, read);
    let took = started.elapsed();
    let out = out.context("reading kubectl's stdout")?;
    let fed = fed.context("writing kubectl's stdin");
    finish(child, stderr, false).await?;
    fed?;
    let counted: u64 = out
        .trim()
        .parse()
        .with_context(|| format!("`wc -c` in the pod printed {out:?}, not a byte count"))?;
    if counted != t.bytes {
        incomplete!(
            "{counted} bytes reached the container's stdin, {} were sent",
            t.bytes
        );
    }
    Ok(Sample {
        bytes: counted,
        took,
        first_byte: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_lines() {
        let cases = [
            (
                "ipv4",
                "Forwarding from 127.0.0.1:41234 -> 8080\n",
                Some(41234),
            ),
            (
                "ipv6 is not asked for",
                "Forwarding from [::1]:41234 -> 8080",
                None,
            ),
            ("per connection", "Handling connection for 41234", None),
            ("bad port", "Forwarding from 127.0.0.1:99999 -> 8080", None),
            ("empty", "", None),
        ];
        for (name, line, want) in cases {
            assert_eq!(parse_forwarding_line(line), want, "{name}");
        }
    }

    #[test]
    fn transports_pick_kubectls_switch() {
        assert_eq!(
            Transport::Spdy.env(Kind::PortForward),
            ("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")
        );
        assert_eq!(
            Transport::Websocket.env(Kind::ExecStdin),
            ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "true")
        );
        assert_eq!(
            Transport::Spdy.env(Kind::ExecStdout),
            ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
        );
    }

    /// The forwarded-port reader against a real local server that behaves like the sandbox's.
    #[tokio::test(flavor = "current_thread")]
    async fn get_bytes_checks_count_content_and_close() {
        use tokio::net::TcpListener;
        // (name, bytes the server sends after the head, announced length, want Ok)
        let n = 300_000u64;
        let good: Vec<u8> = (0..n as usize)
            .map(|i| b"0123456789abcdef"[i % 16])
            .collect();
        let mut corrupt = good.clone();
        corrupt[123_456] = b'x';
        let mut long = good.clone();
        long.extend_from_slice(b"extra");
        let cases: [(&str, Vec<u8>, u64, bool); 4] = [
            ("exact", good.clone(), n, true),
            ("short", good[..1000].to_vec(), n, false),
            ("corrupt", corrupt, n, false),
            ("more than announced", long, n, false),
        ];
        for (name, body, announced, ok) in cases {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut req = [0u8; 1024];
                let _ = s.read(&mut req).await.unwrap();
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\n\r\n");
                s.write_all(head.as_bytes()).await.unwrap();
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
            let got = get_bytes(port, n)
                .await
                .context("wrapped as run() wraps it");
            match got {
                Ok(sample) => {
                    assert!(ok, "{name}: accepted");
                    assert_eq!(sample.bytes, n, "{name}");
                }
                Err(e) => {
                    assert!(!ok, "{name}: {e:#}");
                    assert!(
                        e.downcast_ref::<Incomplete>().is_some(),
                        "{name}: counted as incomplete, not fatal: {e:#}"
                    );
                }
            }
            server.await.unwrap();
        }
    }
}
