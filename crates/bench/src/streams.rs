//! Stream throughput: port-forward and exec (stdout, stdin) with the real kubectl, direct and
//! through the gateway, over WebSocket and SPDY; runs interleaved across rows, every run's
//! byte count and content checked, medians, ratios and the servers' CPU per GiB reported.

pub mod content;
pub mod kubectl;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::check::Check;
use crate::cpu;
use crate::endpoint::Endpoint;
use crate::stats::median;

pub use kubectl::{Kind, Transport};

/// What to measure.
#[derive(Debug)]
pub struct Plan<'a> {
    /// Endpoints with a kubeconfig; the first is the baseline of the `×` column.
    pub endpoints: &'a [Endpoint],
    /// The kubectl binary.
    pub kubectl: &'a Path,
    /// Namespace of the pod.
    pub namespace: &'a str,
    /// The pod exec'd into and forwarded to.
    pub pod: &'a str,
    /// The pod port forwarded (its server answers `GET /bytes?n=N`).
    pub port: u16,
    /// Streams measured.
    pub kinds: &'a [Kind],
    /// Transports, each stream measured over each.
    pub transports: &'a [Transport],
    /// Bytes per port-forward and exec-stdout run.
    pub bytes: u64,
    /// Bytes per exec-stdin run.
    pub stdin_bytes: u64,
    /// Runs per row.
    pub runs: usize,
    /// The slowest rate a run may have before it is killed as stalled, bytes per second.
    pub min_rate: u64,
    /// Targets, judged on the median MB/s of each stream and transport.
    pub checks: &'a [Check],
    /// Server processes whose CPU time per GiB is reported.
    pub cpu: &'a [(String, u32)],
}

/// The most one run may move; far above any useful size, far below what overflows a count.
pub const MAX_BYTES: u64 = 1 << 40;

/// One stream over one transport through one endpoint.
#[derive(Debug)]
struct Row {
    kind: Kind,
    transport: Transport,
    endpoint: usize,
    /// Bytes per second of every run.
    rates: Vec<f64>,
    first_bytes: Vec<Duration>,
    /// Runs that delivered something other than exactly the bytes sent, and what.
    incomplete: Vec<String>,
    bytes: u64,
    /// CPU over all runs: kubectl (this process's waited-for children), this process, then
    /// each of `Plan::cpu`.
    cpu: Vec<Duration>,
}

impl Row {
    fn median(&self) -> f64 {
        median(&self.rates).unwrap_or(0.0)
    }

    fn case(&self) -> String {
        format!("{}, {}", self.kind.label(), self.transport.label(self.kind))
    }
}

/// Runs the plan and prints Markdown tables, then the checks.
pub async fn run(plan: &Plan<'_>) -> anyhow::Result<()> {
    if plan.bytes == 0
        || plan.bytes > MAX_BYTES
        || plan.stdin_bytes == 0
        || plan.stdin_bytes > MAX_BYTES
    {
        bail!("stream sizes must be between 1 byte and {MAX_BYTES} bytes");
    }
    let mut kubeconfigs = Vec::new();
    for e in plan.endpoints {
        let Some(kc) = &e.kubeconfig else {
            bail!(
                "endpoint {}: streams are measured with kubectl, which needs NAME=KUBECONFIG",
                e.name
            );
        };
        kubeconfigs.push(kc.as_path());
    }
    let index = |name: &str| plan.endpoints.iter().position(|e| e.name == name);
    let mut checks = Vec::new();
    for check in plan.checks {
        // Checked before the first run, so a typo does not cost a whole benchmark.
        let (Some(subject), Some(baseline)) = (index(&check.subject), index(&check.baseline))
        else {
            bail!("--check {check}: both sides must be endpoints of this run");
        };
        checks.push((check, subject, baseline));
    }
    let mut rows = Vec::new();
    for &kind in plan.kinds {
        for &transport in plan.transports {
            for endpoint in 0..plan.endpoints.len() {
                rows.push(Row {
                    kind,
                    transport,
                    endpoint,
                    rates: Vec::new(),
                    first_bytes: Vec::new(),
                    incomplete: Vec::new(),
                    bytes: 0,
                    cpu: vec![Duration::ZERO; plan.cpu.len() + 2],
                });
            }
        }
    }
    // Round by round through every row, each round starting one row later, so that machine
    // noise and slow drift land on every endpoint alike (direct, gateway, direct, …). A row
    // whose run came back incomplete gets another run in a later round, up to `runs` more.
    for round in 0..plan.runs * 2 {
        if rows.iter().all(|r| r.rates.len() >= plan.runs) {
            break;
        }
        for j in 0..rows.len() {
            let i = (round + j) % rows.len();
            if rows[i].rates.len() >= plan.runs {
                continue;
            }
            let bytes = match rows[i].kind {
                Kind::ExecStdin => plan.stdin_bytes,
                _ => plan.bytes,
            };
            let target = kubectl::Target {
                kubectl: plan.kubectl,
                kubeconfig: kubeconfigs[rows[i].endpoint],
                namespace: plan.namespace,
                pod: plan.pod,
                port: plan.port,
                bytes,
                timeout: Duration::from_secs(60 + bytes / plan.min_rate.max(1)),
            };
            let label = format!(
                "{} via {}, round {}",
                rows[i].case(),
                plan.endpoints[rows[i].endpoint].name,
                round + 1
            );
            let before = cpu_times(plan.cpu)?;
            let sample = match kubectl::run(rows[i].kind, rows[i].transport, &target).await {
                Ok(sample) => sample,
                Err(e) if e.downcast_ref::<kubectl::Incomplete>().is_some() => {
                    eprintln!("bench: {label}: INCOMPLETE: {e:#}");
                    rows[i].incomplete.push(format!("{label}: {e:#}"));
                    continue;
                }
                Err(e) => return Err(e.context(label)),
            };
            let after = cpu_times(plan.cpu)?;
            let r = &mut rows[i];
            r.rates
                .push(sample.bytes as f64 / sample.took.as_secs_f64());
            r.first_bytes.extend(sample.first_byte);
            r.bytes += sample.bytes;
            for (total, (a, b)) in r.cpu.iter_mut().zip(after.iter().zip(&before)) {
                *total += a.saturating_sub(*b);
            }
            eprintln!(
                "bench: {label}: {:.1} MB/s",
                r.rates.last().copied().unwrap_or(0.0) / 1e6
            );
        }
    }

    print_intro(plan);
    let base = plan.endpoints.first().map_or("", |e| e.name.as_str());
    print_table(&rows, plan.endpoints, base);
    print_cpu(&rows, plan.endpoints, plan.cpu);
    let mut verdicts = Vec::new();
    for (check, subject, baseline) in checks {
        for s in rows.iter().filter(|r| r.endpoint == subject) {
            if let Some(b) = rows
                .iter()
                .find(|b| b.endpoint == baseline && b.kind == s.kind && b.transport == s.transport)
            {
                verdicts.push(format!(
                    "- {}",
                    check.verdict(&format!("{} MB/s", s.case()), s.median() / b.median())
                ));
            }
        }
    }
    if !verdicts.is_empty() {
        println!("Targets:\n\n{}\n", verdicts.join("\n"));
    }
    Ok(())
}

/// kubectl's CPU (waited-for children), this process's, then each process's.
fn cpu_times(procs: &[(String, u32)]) -> anyhow::Result<Vec<Duration>> {
    let mut out = vec![cpu::of_children()?, cpu::of("self")?];
    for (name, pid) in procs {
        out.push(cpu::of(&pid.to_string()).with_context(|| format!("CPU time of {name}"))?);
    }
    Ok(out)
}

fn size(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn print_intro(plan: &Plan<'_>) {
    let kubectl = plan
        .kubectl
        .file_name()
        .map_or_else(|| "kubectl".into(), |n| n.to_string_lossy().into_owned());
    let mut what = Vec::new();
    for kind in plan.kinds {
        what.push(match kind {
            Kind::PortForward => format!(
                "**port-forward**: `{kubectl} port-forward pod/{} :{}`, then this client sends \
                 `GET /bytes?n={}` ({}) on the local port over plain TCP and checks the head, \
                 every body byte and the close after it; timed from the request to the body's \
                 last byte (kubectl's start-up and the port-forward handshake are not in it)",
                plan.pod,
                plan.port,
                plan.bytes,
                size(plan.bytes)
            ),
            Kind::ExecStdout => format!(
                "**exec stdout**: `{kubectl} exec {} -- sh -c 'head -c {} /dev/zero'` ({}) with \
                 its stdout read and checked by this client; timed from starting kubectl to the \
                 last byte (start-up and the exec handshake are in it: see the first-byte column)",
                plan.pod,
                plan.bytes,
                size(plan.bytes)
            ),
            Kind::ExecStdin => format!(
                "**exec stdin**: {} of zeros from this client into `{kubectl} exec -i {} -- wc -c`, \
                 which must print exactly that count; timed from starting kubectl to its exit",
                size(plan.stdin_bytes),
                plan.pod
            ),
        });
    }
    let transports: Vec<String> = plan
        .transports
        .iter()
        .map(|t| match t {
            Transport::Websocket => "WebSocket (kubectl's default: exec over `v5.channel.k8s.io`, \
                 port-forward as SPDY tunnelled in WebSocket)"
                .to_owned(),
            Transport::Spdy => "SPDY/3.1 (`KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`, \
                 `KUBECTL_PORT_FORWARD_WEBSOCKETS=false`)"
                .to_owned(),
        })
        .collect();
    println!("### Stream throughput: port-forward and exec with real kubectl\n");
    for w in &what {
        println!("- {w}");
    }
    println!(
        "\nTransports: {}. Median of {} runs per row, one kubectl process per run, runs \
         interleaved across rows (each round starts one row later). MB/s = 10^6 bytes per second \
         of wall time.\n",
        transports.join("; "),
        plan.runs,
    );
}

fn print_table(rows: &[Row], endpoints: &[Endpoint], base: &str) {
    println!(
        "| stream | transport | endpoint | median MB/s | min | max | runs | median ×{base} | first byte ms | incomplete runs |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let base_rate = rows
            .iter()
            .find(|b| {
                b.kind == r.kind && b.transport == r.transport && endpoints[b.endpoint].name == base
            })
            .map_or(f64::NAN, Row::median);
        let min = r.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.rates.iter().copied().fold(0.0, f64::max);
        let first = {
            let mut f = r.first_bytes.clone();
            f.sort_unstable();
            f.get(f.len().saturating_sub(1) / 2).map_or_else(
                || "–".to_owned(),
                |d| format!("{:.0}", d.as_secs_f64() * 1e3),
            )
        };
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.3} | {first} | {} |",
            r.kind.label(),
            r.transport.label(r.kind),
            endpoints[r.endpoint].name,
            r.median() / 1e6,
            min / 1e6,
            max / 1e6,
            r.rates.len(),
            r.median() / base_rate,
            r.incomplete.len(),
        );
    }
    println!();
    let incomplete: Vec<&String> = rows.iter().flat_map(|r| &r.incomplete).collect();
    if !incomplete.is_empty() {
        println!(
            "Incomplete runs (kubectl exited 0, but not exactly the bytes sent arrived; each was \
             run again, and is not in the figures):\n"
        );
        for line in incomplete {
            println!("- {line}");
        }
        println!();
    }
}

fn print_cpu(rows: &[Row], endpoints: &[Endpoint], procs: &[(String, u32)]) {
    let names: Vec<&str> = ["kubectl", "jitgate-bench"]
        .into_iter()
        .chain(procs.iter().map(|(n, _)| n.as_str()))
        .collect();
    // With every process on the same few cores, a CPU-bound stream's rate follows the total:
    // the last column is what the whole path spends per GiB.
    println!(
        "| CPU ms per GiB moved | {} | all of these |",
        names.join(" | ")
    );
    println!("|---|{}---:|", "---:|".repeat(names.len()));
    for r in rows {
        let per =
            |d: &Duration| d.as_secs_f64() * 1e3 * (1u64 << 30) as f64 / r.bytes.max(1) as f64;
        let cells: Vec<String> = r.cpu.iter().map(|d| format!("{:.0}", per(d))).collect();
        let total: Duration = r.cpu.iter().sum();
        println!(
            "| {} → {} | {} | {:.0} |",
            r.case(),
            endpoints[r.endpoint].name,
            cells.join(" | "),
            per(&total)
        );
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(1 << 30), "1 GiB");
        assert_eq!(size(256 << 20), "256 MiB");
        assert_eq!(size(1000), "1000 bytes");
    }
}
