//! Log throughput: a whole (not followed) container log, read by this client over each endpoint
//! and by the real kubectl through each kubeconfig, runs interleaved, median reported.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http::StatusCode;
use http_body_util::BodyExt as _;

use crate::check::Check;
use crate::conn::{Conn, Protocol};
use crate::cpu;
use crate::endpoint::Endpoint;
use crate::stats::median;

/// What to measure.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The endpoints; the first is the baseline of the `×` column.
    pub endpoints: &'a [Endpoint],
    /// Protocols this client reads the log with.
    pub protocols: &'a [Protocol],
    /// Namespace of the pod.
    pub namespace: &'a str,
    /// The pod whose (single-container) log is read.
    pub pod: &'a str,
    /// Reads per endpoint and protocol by this client.
    pub runs: usize,
    /// The exact size the log must have; every read is checked against it.
    pub expect_bytes: Option<u64>,
    /// The kubectl binary, or `None` to skip the kubectl runs.
    pub kubectl: Option<&'a Path>,
    /// `kubectl logs` runs per endpoint that has a kubeconfig.
    pub kubectl_runs: usize,
    /// Targets to report on.
    pub checks: &'a [Check],
    /// Server processes whose CPU time per read is reported.
    pub cpu: &'a [(String, u32)],
}

/// One line of the table.
#[derive(Debug)]
struct Row {
    client: String,
    endpoint: String,
    /// Bytes per second of every run.
    rates: Vec<f64>,
    /// Bytes read over all runs.
    bytes: u64,
    /// CPU time over all runs: the client's, then each of `Plan::cpu`.
    cpu: Vec<Duration>,
}

impl Row {
    fn median(&self) -> f64 {
        median(&self.rates).unwrap_or(0.0)
    }
}

/// Runs the plan and prints a Markdown table, then the checks.
pub async fn run(plan: &Plan<'_>) -> anyhow::Result<()> {
    let path = format!(
        "/api/v1/namespaces/{}/pods/{}/log",
        plan.namespace, plan.pod
    );
    // Every (client, endpoint) pair, in the order the table shows them.
    let mut rows: Vec<Row> = Vec::new();
    let mut jobs: Vec<(usize, Job<'_>)> = Vec::new();
    for &protocol in plan.protocols {
        for e in plan.endpoints.iter().filter(|e| protocol.supported_by(e)) {
            jobs.push((rows.len(), Job::Client(e, protocol)));
            rows.push(Row {
                client: format!("jitgate-bench {protocol}"),
                endpoint: e.name.clone(),
                rates: Vec::new(),
                bytes: 0,
                cpu: vec![Duration::ZERO; plan.cpu.len() + 1],
            });
        }
    }
    if let Some(kubectl) = plan.kubectl {
        for e in plan.endpoints {
            if let Some(kc) = &e.kubeconfig {
                jobs.push((rows.len(), Job::Kubectl(kubectl, kc)));
                rows.push(Row {
                    client: kubectl_label(kubectl),
                    endpoint: e.name.clone(),
                    rates: Vec::new(),
                    bytes: 0,
                    cpu: vec![Duration::ZERO; plan.cpu.len() + 1],
                });
            }
        }
    }

    let mut size = plan.expect_bytes;
    let runs = plan.runs.max(plan.kubectl_runs);
    for round in 0..runs {
        for j in 0..jobs.len() {
            let (row, job) = &jobs[(round + j) % jobs.len()];
            let wanted = match job {
                Job::Client(..) => plan.runs,
                Job::Kubectl(..) => plan.kubectl_runs,
            };
            if rows[*row].rates.len() >= wanted {
                continue;
            }
            let cpu_before = cpu_times(job, plan.cpu)?;
            let (bytes, took) = match job {
                Job::Client(e, protocol) => read_log(e, *protocol, &path).await?,
                Job::Kubectl(kubectl, kc) => {
                    let took = kubectl_logs(kubectl, kc, plan.namespace, plan.pod)?;
                    let Some(bytes) = size else {
                        bail!(
                            "the log size is unknown: measure with this client too, or pass --expect-bytes"
                        );
                    };
                    (bytes, took)
                }
            };
            match size {
                Some(s) if s != bytes => bail!(
                    "{} via {} read {bytes} bytes of the log, expected {s}",
                    rows[*row].client,
                    rows[*row].endpoint
                ),
                _ => size = Some(bytes),
            }
            let cpu_after = cpu_times(job, plan.cpu)?;
            let r = &mut rows[*row];
            r.rates.push(bytes as f64 / took.as_secs_f64());
            r.bytes += bytes;
            for (total, (a, b)) in r.cpu.iter_mut().zip(cpu_after.iter().zip(&cpu_before)) {
                *total += a.saturating_sub(*b);
            }
        }
    }

    println!(
        "### Log throughput: `kubectl logs {}` (`GET {path}`)\n\n{:.1} MB per read; median of {} \
         reads per row with this client, {} with kubectl (stdout to /dev/null); reads interleaved \
         across rows. MB/s = 10^6 bytes per second of wall time, request to last byte.\n",
        plan.pod,
        size.unwrap_or(0) as f64 / 1e6,
        plan.runs,
        plan.kubectl_runs,
    );
    let base = plan.endpoints.first().map_or("", |e| e.name.as_str());
    print_table(&rows, base);
    print_cpu(&rows, plan.cpu);
    let mut verdicts = Vec::new();
    let clients: Vec<&str> = {
        let mut c: Vec<&str> = rows.iter().map(|r| r.client.as_str()).collect();
        c.dedup();
        c
    };
    for check in plan.checks {
        for client in &clients {
            let find = |name: &str| {
                rows.iter()
                    .find(|r| r.client == *client && r.endpoint == name)
            };
            if let (Some(s), Some(b)) = (find(&check.subject), find(&check.baseline)) {
                verdicts.push(format!(
                    "- {}",
                    check.verdict(&format!("{client} MB/s"), s.median() / b.median())
                ));
            }
        }
    }
    if !verdicts.is_empty() {
        println!("Targets:\n\n{}\n", verdicts.join("\n"));
    }
    Ok(())
}

/// The client's CPU time (this process, or the waited-for kubectl children), then each process's.
fn cpu_times(job: &Job<'_>, procs: &[(String, u32)]) -> anyhow::Result<Vec<Duration>> {
    let mut out = vec![match job {
        Job::Client(..) => cpu::of("self")?,
        Job::Kubectl(..) => cpu::of_children()?,
    }];
    for (name, pid) in procs {
        out.push(cpu::of(&pid.to_string()).with_context(|| format!("CPU time of {name}"))?);
    }
    Ok(out)
}

fn print_cpu(rows: &[Row], procs: &[(String, u32)]) {
    if procs.is_empty() {
        return;
    }
    let names: Vec<&str> = procs.iter().map(|(n, _)| n.as_str()).collect();
    println!(
        "| CPU ms per 100 MB read | client | {} |",
        names.join(" | ")
    );
    println!("|---|---:|{}", "---:|".repeat(names.len()));
    for r in rows {
        let per = |d: &Duration| d.as_secs_f64() * 1e3 * 1e8 / r.bytes.max(1) as f64;
        let cells: Vec<String> = r.cpu.iter().map(|d| format!("{:.0}", per(d))).collect();
        println!("| {} → {} | {} |", r.client, r.endpoint, cells.join(" | "));
    }
    println!();
}

#[derive(Debug)]
enum Job<'a> {
    Client(&'a Endpoint, Protocol),
    Kubectl(&'a Path, &'a Path),
}

fn kubectl_label(kubectl: &Path) -> String {
    let name = kubectl
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kubectl".into());
    format!("{name} (HTTP/2)")
}

/// Reads the whole log once on a fresh connection; the time excludes the connection setup.
async fn read_log(
    endpoint: &Endpoint,
    protocol: Protocol,
    path: &str,
) -> anyhow::Result<(u64, Duration)> {
    let mut conn = Conn::open(endpoint, protocol).await?;
    let started = Instant::now();
    let resp = conn.get(path).await?;
    let status = resp.status();
    let mut body = resp.into_body();
    if status != StatusCode::OK {
        let text = body.collect().await?.to_bytes();
        bail!(
            "{}: GET {path} answered {status}: {}",
            endpoint.name,
            String::from_utf8_lossy(&text[..text.len().min(500)])
        );
    }
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.with_context(|| format!("{}: reading the log", endpoint.name))?;
        if let Some(data) = frame.data_ref() {
            bytes += data.len() as u64;
        }
    }
    Ok((bytes, started.elapsed()))
}

/// Runs `kubectl logs` once with its output thrown away; returns the wall time.
fn kubectl_logs(
    kubectl: &Path,
    kubeconfig: &Path,
    namespace: &str,
    pod: &str,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["-n", namespace, "logs", pod])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {}", kubectl.display()))?;
    let took = started.elapsed();
    if !out.status.success() {
        bail!(
            "{} --kubeconfig {} logs {pod} failed ({}): {}",
            kubectl.display(),
            kubeconfig.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

fn print_table(rows: &[Row], base_endpoint: &str) {
    println!("| client | endpoint | median MB/s | min | max | reads | median ×{base_endpoint} |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in rows {
        let base = rows
            .iter()
            .find(|b| b.client == r.client && b.endpoint == base_endpoint)
            .map_or(f64::NAN, Row::median);
        let min = r.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.rates.iter().copied().fold(0.0, f64::max);
        println!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.3} |",
            r.client,
            r.endpoint,
            r.median() / 1e6,
            min / 1e6,
            max / 1e6,
            r.rates.len(),
            r.median() / base
        );
    }
    println!();
}
