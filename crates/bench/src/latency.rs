//! GET latency: the same request, one at a time, over one kept-alive connection per endpoint,
//! interleaved request by request so that machine noise hits every endpoint alike.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http::StatusCode;
use http_body_util::BodyExt as _;

use crate::check::Check;
use crate::conn::{Conn, Protocol};
use crate::cpu;
use crate::endpoint::Endpoint;
use crate::stats::{Latency, ms};

/// What to measure.
#[derive(Debug)]
pub struct Plan<'a> {
    /// The endpoints; the first is the baseline of the `×` columns.
    pub endpoints: &'a [Endpoint],
    /// One table section per protocol.
    pub protocols: &'a [Protocol],
    /// Path and query of the GET.
    pub path: &'a str,
    /// Requests per endpoint that are measured.
    pub requests: usize,
    /// Requests per endpoint sent first and not measured.
    pub warmup: usize,
    /// Targets to report on.
    pub checks: &'a [Check],
    /// The gateway's admin endpoint, for its own request-duration histogram.
    pub gateway_metrics: Option<&'a Endpoint>,
    /// Server processes whose CPU time is divided by the requests of the endpoint of that name.
    pub cpu: &'a [(String, u32)],
}

/// The figures of one endpoint under one protocol.
#[derive(Debug)]
struct Row {
    endpoint: String,
    latency: Latency,
    body_bytes: usize,
}

/// Runs the plan and prints a Markdown table per protocol, then the checks.
pub async fn run(plan: &Plan<'_>) -> anyhow::Result<()> {
    println!(
        "### GET latency: `GET {}`\n\n{} measured requests per endpoint after {} warm-up, one at a \
         time on one kept-alive connection each, interleaved request by request (rotating which \
         endpoint goes first each round). Times are from sending the request to the last byte of \
         the body.\n",
        plan.path, plan.requests, plan.warmup
    );
    let mut verdicts = Vec::new();
    for &protocol in plan.protocols {
        let endpoints: Vec<&Endpoint> = plan
            .endpoints
            .iter()
            .filter(|e| protocol.supported_by(e))
            .collect();
        let mut conns = Vec::with_capacity(endpoints.len());
        for e in &endpoints {
            conns.push(Conn::open(e, protocol).await?);
        }
        let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(plan.requests); conns.len()];
        let mut sizes = vec![0usize; conns.len()];
        rounds(
            &mut conns,
            &endpoints,
            plan.path,
            plan.warmup,
            None,
            &mut sizes,
        )
        .await?;
        let before = match plan.gateway_metrics {
            Some(m) => Some(scrape(m).await?),
            None => None,
        };
        let cpu_before = cpu_times(plan.cpu)?;
        rounds(
            &mut conns,
            &endpoints,
            plan.path,
            plan.requests,
            Some(&mut samples),
            &mut sizes,
        )
        .await?;
        let cpu_after = cpu_times(plan.cpu)?;
        let after = match plan.gateway_metrics {
            Some(m) => Some(scrape(m).await?),
            None => None,
        };
        let rows: Vec<Row> = endpoints
            .iter()
            .zip(&samples)
            .zip(&sizes)
            .filter_map(|((e, s), &body_bytes)| {
                Latency::of(s).map(|latency| Row {
                    endpoint: e.name.clone(),
                    latency,
                    body_bytes,
                })
            })
            .collect();
        print_table(protocol, &rows);
        print_cpu(plan, &endpoints, &cpu_before, &cpu_after);
        if let (Some(b), Some(a)) = (before, after) {
            let n = a.count - b.count;
            if n > 0.0 {
                println!(
                    "gateway's own `jitgate_request_duration_seconds` over the measured {protocol} \
                     requests (arrival → response head, upstream included): mean {:.3} ms over {n} \
                     requests\n",
                    (a.sum - b.sum) / n * 1e3
                );
            }
        }
        for check in plan.checks {
            let find = |name: &str| rows.iter().find(|r| r.endpoint == name);
            let (Some(s), Some(b)) = (find(&check.subject), find(&check.baseline)) else {
                continue;
            };
            let ratio = |f: fn(&Latency) -> Duration| {
                f(&s.latency).as_secs_f64() / f(&b.latency).as_secs_f64()
            };
            verdicts.push(format!(
                "- {} (p99 {:.3}×, mean {:.3}×)",
                check.verdict(&format!("{protocol} GET p50"), ratio(|l| l.p50)),
                ratio(|l| l.p99),
                ratio(|l| l.mean),
            ));
        }
    }
    if !verdicts.is_empty() {
        println!("Targets:\n\n{}\n", verdicts.join("\n"));
    }
    Ok(())
}

/// `count` rounds of one request per connection; records the times into `samples` if given.
async fn rounds(
    conns: &mut [Conn],
    endpoints: &[&Endpoint],
    path: &str,
    count: usize,
    mut samples: Option<&mut Vec<Vec<Duration>>>,
    sizes: &mut [usize],
) -> anyhow::Result<()> {
    let k = conns.len();
    for round in 0..count {
        for j in 0..k {
            let i = (round + j) % k;
            let started = Instant::now();
            let resp = conns[i].get(path).await?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .with_context(|| format!("{}: reading the body", endpoints[i].name))?
                .to_bytes();
            let took = started.elapsed();
            if status != StatusCode::OK {
                bail!(
                    "{}: GET {path} answered {status}: {}",
                    endpoints[i].name,
                    String::from_utf8_lossy(&body[..body.len().min(500)])
                );
            }
            sizes[i] = body.len();
            if let Some(s) = samples.as_deref_mut() {
                s[i].push(took);
            }
        }
    }
    Ok(())
}

fn print_table(protocol: Protocol, rows: &[Row]) {
    let Some(base) = rows.first() else {
        return;
    };
    println!(
        "| {protocol} | p50 ms | p99 ms | mean ms | p50 ×{0} | p99 ×{0} | body bytes |",
        base.endpoint
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let x = |f: fn(&Latency) -> Duration| {
            f(&r.latency).as_secs_f64() / f(&base.latency).as_secs_f64()
        };
        println!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {} |",
            r.endpoint,
            ms(r.latency.p50),
            ms(r.latency.p99),
            ms(r.latency.mean),
            x(|l| l.p50),
            x(|l| l.p99),
            r.body_bytes
        );
    }
    println!();
}

/// The gateway's request-duration histogram: sum (seconds) and count.
#[derive(Debug, Clone, Copy)]
struct Histogram {
    sum: f64,
    count: f64,
}

async fn scrape(admin: &Endpoint) -> anyhow::Result<Histogram> {
    let mut conn = Conn::open(admin, Protocol::Http1).await?;
    let resp = conn.get("/metrics").await?;
    let body = resp.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    let value = |name: &str| -> anyhow::Result<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .with_context(|| format!("{name} missing from the gateway's /metrics"))?
            .trim()
            .parse()
            .with_context(|| format!("{name} in the gateway's /metrics"))
    };
    Ok(Histogram {
        sum: value("jitgate_request_duration_seconds_sum")?,
        count: value("jitgate_request_duration_seconds_count")?,
    })
}

/// CPU time of this process and of each `(name, pid)`, in that order.
fn cpu_times(procs: &[(String, u32)]) -> anyhow::Result<Vec<Duration>> {
    let mut out = vec![cpu::of("self")?];
    for (name, pid) in procs {
        out.push(cpu::of(&pid.to_string()).with_context(|| format!("CPU time of {name}"))?);
    }
    Ok(out)
}

fn print_cpu(plan: &Plan<'_>, endpoints: &[&Endpoint], before: &[Duration], after: &[Duration]) {
    if plan.cpu.is_empty() {
        return;
    }
    let used = |i: usize| after[i].saturating_sub(before[i]);
    let all = plan.requests * endpoints.len();
    println!("| CPU over the measured requests | ms | requests | µs per request |");
    println!("|---|---:|---:|---:|");
    println!(
        "| jitgate-bench (this client, all endpoints) | {} | {all} | {:.0} |",
        used(0).as_millis(),
        used(0).as_secs_f64() * 1e6 / all as f64
    );
    for (i, (name, _)) in plan.cpu.iter().enumerate() {
        let served = if endpoints.iter().any(|e| e.name == *name) {
            plan.requests
        } else if plan.endpoints.iter().any(|e| e.name == *name) {
            continue; // an endpoint that does not speak this protocol
        } else {
            all
        };
        println!(
            "| {name} | {} | {served} | {:.0} |",
            used(i + 1).as_millis(),
            used(i + 1).as_secs_f64() * 1e6 / served as f64
        );
    }
    println!();
}
