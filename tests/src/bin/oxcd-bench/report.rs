//! Latency statistics and their text and JSON forms.

use std::time::Duration;

/// What one load run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The workload's name (`put`, `range`, …).
    pub workload: String,
    /// Requests that succeeded (one latency each).
    pub latencies: Vec<Duration>,
    /// Requests that failed.
    pub errors: u64,
    /// The first few error messages.
    pub error_samples: Vec<String>,
    /// Wall time of the measured phase.
    pub elapsed: Duration,
}

/// Summary numbers of a report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Successful requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Seconds of the measured phase.
    pub seconds: f64,
    /// Successful requests per second.
    pub qps: f64,
    /// Mean latency, ms.
    pub mean_ms: f64,
    /// Percentiles, ms.
    pub p50_ms: f64,
    /// 90th percentile, ms.
    pub p90_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// 99.9th percentile, ms.
    pub p999_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The nearest-rank percentile of sorted samples (`q` in 0..=1).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Report {
    /// Summarizes (sorts the latencies).
    pub fn summary(&mut self) -> Summary {
        self.latencies.sort_unstable();
        let sorted = &self.latencies;
        let requests = sorted.len() as u64;
        let seconds = self.elapsed.as_secs_f64();
        let total: Duration = sorted.iter().sum();
        Summary {
            requests,
            errors: self.errors,
            seconds,
            qps: if seconds > 0.0 { requests as f64 / seconds } else { 0.0 },
            mean_ms: if requests > 0 { ms(total) / requests as f64 } else { 0.0 },
            p50_ms: ms(percentile(sorted, 0.50)),
            p90_ms: ms(percentile(sorted, 0.90)),
            p99_ms: ms(percentile(sorted, 0.99)),
            p999_ms: ms(percentile(sorted, 0.999)),
            max_ms: ms(sorted.last().copied().unwrap_or_default()),
        }
    }

    /// Human-readable text.
    pub fn text(&mut self) -> String {
        let s = self.summary();
        let mut out = format!(
            "{}: {} requests, {} errors in {:.2} s: {:.1} requests/s\n  latency ms: mean {:.3}  p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}\n",
            self.workload, s.requests, s.errors, s.seconds, s.qps, s.mean_ms, s.p50_ms, s.p90_ms, s.p99_ms, s.p999_ms, s.max_ms
        );
        for sample in &self.error_samples {
            out.push_str(&format!("  error: {sample}\n"));
        }
        out
    }

    /// One JSON object.
    pub fn json(&mut self) -> serde_json::Value {
        let s = self.summary();
        serde_json::json!({
            "workload": self.workload,
            "requests": s.requests,
            "errors": s.errors,
            "seconds": s.seconds,
            "qps": s.qps,
            "latency_ms": {
                "mean": s.mean_ms, "p50": s.p50_ms, "p90": s.p90_ms,
                "p99": s.p99_ms, "p99_9": s.p999_ms, "max": s.max_ms,
            },
            "error_samples": self.error_samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
        assert_eq!(percentile(&sorted, 0.5), Duration::from_millis(500));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_millis(990));
        assert_eq!(percentile(&sorted, 0.999), Duration::from_millis(999));
        assert_eq!(percentile(&sorted, 1.0), Duration::from_millis(1000));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn summary_counts_and_rates() {
        let mut report = Report {
            workload: "put".into(),
            latencies: vec![
                Duration::from_millis(3),
                Duration::from_millis(1),
                Duration::from_millis(2),
            ],
            errors: 1,
            error_samples: vec![],
            elapsed: Duration::from_secs(2),
        };
        let s = report.summary();
        assert_eq!((s.requests, s.errors), (3, 1));
        assert!((s.qps - 1.5).abs() < 1e-9);
        assert!((s.p50_ms - 2.0).abs() < 1e-9 && (s.max_ms - 3.0).abs() < 1e-9);
        assert!(report.json()["latency_ms"]["p99_9"].as_f64().unwrap() > 2.9);
    }
}
