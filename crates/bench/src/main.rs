//! `jitgate-bench`: measures the jitgate gateway side by side with kube-apiserver directly and
//! with `kubectl proxy`, and prints Markdown tables with the ratios the issue sets as targets.
//!
//! `scripts/bench.sh` starts the sandbox, a release gateway and `kubectl proxy`, and runs:
//!
//! ```text
//! jitgate-bench latency --endpoint direct=admin.kubeconfig --endpoint gateway=bench/kubeconfig \
//!     --endpoint proxy=http://127.0.0.1:PORT --path /api/v1/namespaces/payments/pods/POD \
//!     --check 'gateway/direct<=1.15' --check 'gateway/proxy<1'
//! jitgate-bench logs --endpoint … --pod bench-log --kubectl kubectl.1.33 --check 'gateway/direct>=0.9'
//! jitgate-bench streams --endpoint direct=admin.kubeconfig --endpoint gateway=bench/kubeconfig \
//!     --kubectl kubectl.1.33 --pod POD --check 'gateway/direct>=0.9'
//! ```
//!
//! Endpoints are `NAME=KUBECONFIG` (server, CA and client certificate of its current context) or
//! `NAME=http://HOST:PORT` (plain HTTP/1.1). Every figure comes from one client process on one
//! tokio thread, so the client's own cost is the same for every endpoint.

mod check;
mod conn;
mod cpu;
mod endpoint;
mod latency;
mod logs;
mod stats;
mod streams;
mod tcp_proxy;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::check::Check;
use crate::conn::Protocol;
use crate::endpoint::Endpoint;

/// Benchmarks the jitgate gateway against the apiserver directly and `kubectl proxy`.
#[derive(Debug, Parser)]
#[command(name = "jitgate-bench", version, about, long_about = None)]
struct Cli {
    /// What to measure.
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// GET latency (p50, p99, mean) of one path, endpoints interleaved request by request.
    Latency {
        /// NAME=KUBECONFIG or NAME=http://HOST:PORT; repeatable; the first is the baseline.
        #[arg(long = "endpoint", required = true, value_parser = Endpoint::parse)]
        endpoints: Vec<Endpoint>,
        /// Path and query to GET.
        #[arg(long)]
        path: String,
        /// Measured requests per endpoint and protocol.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Unmeasured requests per endpoint and protocol sent first.
        #[arg(long, default_value_t = 200)]
        warmup: usize,
        /// Protocols, one table each (plain-HTTP endpoints only take part in http1).
        #[arg(long = "protocol", value_enum, default_values_t = [Protocol::Http1, Protocol::Http2])]
        protocols: Vec<Protocol>,
        /// A target such as `gateway/direct<=1.15`, judged on p50; repeatable.
        #[arg(long = "check")]
        checks: Vec<Check>,
        /// ENDPOINT=Header-Name: value, an extra request header for one endpoint; repeatable.
        #[arg(long = "header")]
        headers: Vec<String>,
        /// The gateway's admin URL (http://HOST:PORT), to read its own request-duration
        /// histogram over the measured requests.
        #[arg(long, value_parser = parse_admin)]
        gateway_metrics: Option<Endpoint>,
        /// NAME=PID of a server process; its CPU time over the measured requests is divided by
        /// the requests of the endpoint called NAME, or by all requests if there is none such
        /// (a shared apiserver); repeatable.
        #[arg(long = "cpu", value_parser = parse_pid)]
        cpu: Vec<(String, u32)>,
    },
    /// Throughput of reading a whole container log, with this client and with kubectl.
    Logs {
        /// NAME=KUBECONFIG or NAME=http://HOST:PORT; repeatable; the first is the baseline.
        #[arg(long = "endpoint", required = true, value_parser = Endpoint::parse)]
        endpoints: Vec<Endpoint>,
        /// Namespace of the pod.
        #[arg(long, default_value = "payments")]
        namespace: String,
        /// The pod (one container) whose log is read.
        #[arg(long, default_value = "bench-log")]
        pod: String,
        /// Reads per endpoint and protocol with this client.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Protocols this client reads with.
        #[arg(long = "protocol", value_enum, default_values_t = [Protocol::Http1, Protocol::Http2])]
        protocols: Vec<Protocol>,
        /// The exact size of the log in bytes; every read must deliver it.
        #[arg(long)]
        expect_bytes: Option<u64>,
        /// kubectl binary to time `kubectl logs` with, through every kubeconfig endpoint.
        #[arg(long)]
        kubectl: Option<PathBuf>,
        /// `kubectl logs` runs per kubeconfig endpoint.
        #[arg(long, default_value_t = 5)]
        kubectl_runs: usize,
        /// A target such as `gateway/direct>=0.9`, judged on the median MB/s; repeatable.
        #[arg(long = "check")]
        checks: Vec<Check>,
        /// NAME=PID of a server process whose CPU time per read is reported; repeatable.
        #[arg(long = "cpu", value_parser = parse_pid)]
        cpu: Vec<(String, u32)>,
    },
    /// Stream throughput with the real kubectl: port-forward and exec stdout/stdin, over
    /// WebSocket and SPDY, through each kubeconfig endpoint, runs interleaved.
    Streams {
        /// NAME=KUBECONFIG; repeatable; the first is the baseline.
        #[arg(long = "endpoint", required = true, value_parser = Endpoint::parse)]
        endpoints: Vec<Endpoint>,
        /// The kubectl binary.
        #[arg(long)]
        kubectl: PathBuf,
        /// Namespace of the pod.
        #[arg(long, default_value = "payments")]
        namespace: String,
        /// The pod exec'd into and port-forwarded to (the sandbox's container server).
        #[arg(long)]
        pod: String,
        /// The pod port forwarded; its server must answer `GET /bytes?n=N`.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Streams to measure.
        #[arg(long = "stream", value_enum,
              default_values_t = [streams::Kind::PortForward, streams::Kind::ExecStdout, streams::Kind::ExecStdin])]
        kinds: Vec<streams::Kind>,
        /// Transports kubectl uses, each stream over each.
        #[arg(long = "transport", value_enum,
              default_values_t = [streams::Transport::Websocket, streams::Transport::Spdy])]
        transports: Vec<streams::Transport>,
        /// Bytes per port-forward and exec-stdout run.
        #[arg(long, default_value_t = 1 << 30)]
        bytes: u64,
        /// Bytes per exec-stdin run.
        #[arg(long, default_value_t = 256 << 20)]
        stdin_bytes: u64,
        /// Runs per stream, transport and endpoint.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// A run slower than this many MB/s (after a minute's allowance) is killed as stalled.
        #[arg(long, default_value_t = 2)]
        min_mb_per_s: u64,
        /// A target such as `gateway/direct>=0.9`, judged on the median MB/s of every stream
        /// and transport; repeatable.
        #[arg(long = "check")]
        checks: Vec<Check>,
        /// NAME=PID of a server process whose CPU time per GiB is reported; repeatable.
        #[arg(long = "cpu", value_parser = parse_pid)]
        cpu: Vec<(String, u32)>,
    },
    /// Forward TCP connections to another address byte for byte (the `l4-proxy` endpoint: the
    /// cost of a hop alone, the floor for any gateway).
    TcpProxy {
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Where to forward.
        #[arg(long)]
        to: std::net::SocketAddr,
    },
}

fn parse_pid(spec: &str) -> anyhow::Result<(String, u32)> {
    let (name, pid) = spec
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("{spec:?}: expected NAME=PID"))?;
    Ok((name.to_owned(), pid.parse()?))
}

fn parse_admin(url: &str) -> anyhow::Result<Endpoint> {
    Endpoint::parse(&format!("gateway-admin={url}"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // One thread: the client's own cost must not vary with scheduling between endpoints, and
    // the machine's other cores are left to the servers being measured.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Cmd::Latency {
            mut endpoints,
            headers,
            path,
            requests,
            warmup,
            protocols,
            checks,
            gateway_metrics,
            cpu,
        } => {
            Endpoint::add_headers(&mut endpoints, &headers)?;
            rt.block_on(latency::run(&latency::Plan {
                endpoints: &endpoints,
                protocols: &protocols,
                path: &path,
                requests,
                warmup,
                checks: &checks,
                gateway_metrics: gateway_metrics.as_ref(),
                cpu: &cpu,
            }))
        }
        Cmd::Logs {
            endpoints,
            namespace,
            pod,
            runs,
            protocols,
            expect_bytes,
            kubectl,
            kubectl_runs,
            checks,
            cpu,
        } => rt.block_on(logs::run(&logs::Plan {
            endpoints: &endpoints,
            protocols: &protocols,
            namespace: &namespace,
            pod: &pod,
            runs,
            expect_bytes,
            kubectl: kubectl.as_deref(),
            kubectl_runs,
            checks: &checks,
            cpu: &cpu,
        })),
        Cmd::Streams {
            endpoints,
            kubectl,
            namespace,
            pod,
            port,
            kinds,
            transports,
            bytes,
            stdin_bytes,
            runs,
            min_mb_per_s,
            checks,
            cpu,
        } => rt.block_on(streams::run(&streams::Plan {
            endpoints: &endpoints,
            kubectl: &kubectl,
            namespace: &namespace,
            pod: &pod,
            port,
            kinds: &kinds,
            transports: &transports,
            bytes,
            stdin_bytes,
            runs,
            min_rate: min_mb_per_s.saturating_mul(1_000_000),
            checks: &checks,
            cpu: &cpu,
        })),
        Cmd::TcpProxy { listen, to } => rt.block_on(tcp_proxy::run(listen, to)),
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }
}
