//! Prometheus metrics: requests by decision, live streams, request latency.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The gateway's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    allowed: AtomicU64,
    denied: AtomicU64,
    unauthenticated: AtomicU64,
    bad_request: AtomicU64,
    upstream_errors: AtomicU64,
    streams_cut: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

/// What happened to a request, for the counters.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    /// Authorized and forwarded.
    Allowed,
    /// Refused by authorization or a guard.
    Denied,
    /// No valid identity.
    Unauthenticated,
    /// Malformed request.
    BadRequest,
    /// The apiserver could not be reached.
    UpstreamError,
}

impl Metrics {
    /// Counts one request.
    pub fn record(&self, outcome: Outcome, latency: Duration) {
        let counter = match outcome {
            Outcome::Allowed => &self.allowed,
            Outcome::Denied => &self.denied,
            Outcome::Unauthenticated => &self.unauthenticated,
            Outcome::BadRequest => &self.bad_request,
            Outcome::UpstreamError => &self.upstream_errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let secs = latency.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts streams ended by expiry or revocation.
    pub fn streams_cut(&self, n: usize) {
        self.streams_cut.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, active_streams: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP jitgate_requests_total Requests by decision.");
        let _ = writeln!(out, "# TYPE jitgate_requests_total counter");
        for (label, c) in [
            ("allow", &self.allowed),
            ("deny", &self.denied),
            ("unauthenticated", &self.unauthenticated),
            ("bad_request", &self.bad_request),
            ("upstream_error", &self.upstream_errors),
        ] {
            let _ = writeln!(
                out,
                "jitgate_requests_total{{decision=\"{label}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP jitgate_active_streams Live watch, log, exec, attach and port-forward streams."
        );
        let _ = writeln!(out, "# TYPE jitgate_active_streams gauge");
        let _ = writeln!(out, "jitgate_active_streams {active_streams}");
        let _ = writeln!(
            out,
            "# HELP jitgate_streams_cut_total Streams ended by expiry, revocation or shutdown."
        );
        let _ = writeln!(out, "# TYPE jitgate_streams_cut_total counter");
        let _ = writeln!(
            out,
            "jitgate_streams_cut_total {}",
            self.streams_cut.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP jitgate_request_duration_seconds Time to the response head."
        );
        let _ = writeln!(out, "# TYPE jitgate_request_duration_seconds histogram");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "jitgate_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "jitgate_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "jitgate_request_duration_seconds_sum {}",
            self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "jitgate_request_duration_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.record(Outcome::Allowed, Duration::from_millis(3));
        m.record(Outcome::Denied, Duration::from_millis(300));
        let text = m.render(2);
        assert!(text.contains("jitgate_requests_total{decision=\"allow\"} 1"));
        assert!(text.contains("jitgate_request_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("jitgate_request_duration_seconds_bucket{le=\"0.5\"} 2"));
        assert!(text.contains("jitgate_active_streams 2"));
    }
}
