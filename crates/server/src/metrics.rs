//! Counters the service keeps, rendered in Prometheus' text format at `/metrics`.
//!
//! A handful of atomics and one histogram: written by hand rather than with a metrics crate,
//! because the text format is a few lines and the set is fixed.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use engine::storage::ExecutionStatus;

/// Upper bounds (seconds) of the execution duration histogram's buckets.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0];

/// The service's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    ingested: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    pending: AtomicI64,
    store_errors: AtomicU64,
    executions: [AtomicU64; 3],
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_sum_micros: AtomicU64,
    alerts_created: AtomicU64,
    schedule_delay_millis: AtomicU64,
}

/// Gauges read from the store when the metrics are scraped.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Events stored.
    pub events: u64,
    /// The highest ingest sequence number.
    pub last_seq: u64,
    /// Events ingested that some enabled rule has not evaluated yet.
    pub uncovered: u64,
    /// Alerts by workflow status.
    pub alerts: Vec<(&'static str, u64)>,
    /// Rules loaded and enabled.
    pub rules: u64,
}

impl Metrics {
    /// One ingest request received.
    pub fn request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    /// Events stored, duplicates dropped and items rejected by one request.
    pub fn ingested(&self, stored: u64, duplicates: u64, rejected: u64) {
        self.ingested.fetch_add(stored, Relaxed);
        self.duplicates.fetch_add(duplicates, Relaxed);
        self.rejected.fetch_add(rejected, Relaxed);
    }

    /// Events waiting for the store (positive to add, negative when written or dropped).
    pub fn pending(&self, change: i64) {
        self.pending.fetch_add(change, Relaxed);
    }

    /// The store failed a call.
    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, Relaxed);
    }

    /// One rule execution ended, `delay_ms` after its scheduled start.
    pub fn execution(&self, status: ExecutionStatus, duration_ms: u64, alerts: u64, delay_ms: u64) {
        let at = ExecutionStatus::ALL.iter().position(|s| *s == status).unwrap_or(0);
        self.executions[at].fetch_add(1, Relaxed);
        let seconds = duration_ms as f64 / 1000.0;
        for (bucket, bound) in self.duration_buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.duration_sum_micros.fetch_add(duration_ms.saturating_mul(1000), Relaxed);
        self.alerts_created.fetch_add(alerts, Relaxed);
        self.schedule_delay_millis.store(delay_ms, Relaxed);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::new();
        let n = |a: &AtomicU64| a.load(Relaxed) as f64;
        let one = |value: f64| vec![(String::new(), value)];
        let by = |label: &str, pairs: &[(&str, f64)]| -> Vec<(String, f64)> {
            pairs.iter().map(|(value, count)| (format!("{{{label}=\"{value}\"}}"), *count)).collect()
        };
        family(&mut out, "vigil_ingest_requests_total", "counter", "Ingest requests received.", one(n(&self.requests)));
        family(&mut out, "vigil_events_ingested_total", "counter", "Events stored.", one(n(&self.ingested)));
        family(
            &mut out,
            "vigil_events_duplicate_total",
            "counter",
            "Events dropped because the same event was already stored.",
            one(n(&self.duplicates)),
        );
        family(
            &mut out,
            "vigil_events_rejected_total",
            "counter",
            "Items refused (bad JSON, unsupported actions).",
            one(n(&self.rejected)),
        );
        family(
            &mut out,
            "vigil_ingest_queue_depth",
            "gauge",
            "Events received and not yet durable.",
            one(self.pending.load(Relaxed) as f64),
        );
        family(&mut out, "vigil_store_errors_total", "counter", "Store calls that failed.", one(n(&self.store_errors)));
        family(&mut out, "vigil_events_stored", "gauge", "Events in the store.", one(snapshot.events as f64));
        family(
            &mut out,
            "vigil_ingest_sequence",
            "gauge",
            "The highest ingest sequence number.",
            one(snapshot.last_seq as f64),
        );
        family(
            &mut out,
            "vigil_events_uncovered",
            "gauge",
            "Events ingested that an enabled rule has not evaluated yet (execution lag, in events).",
            one(snapshot.uncovered as f64),
        );
        let statuses: Vec<(&str, f64)> =
            ExecutionStatus::ALL.iter().map(|s| s.as_str()).zip(self.executions.iter().map(n)).collect();
        family(&mut out, "vigil_executions_total", "counter", "Rule executions, by status.", by("status", &statuses));
        let total: f64 = self.executions.iter().map(n).sum();
        let mut buckets: Vec<(String, f64)> =
            BUCKETS.iter().zip(&self.duration_buckets).map(|(b, c)| (format!("_bucket{{le=\"{b}\"}}"), n(c))).collect();
        buckets.push(("_bucket{le=\"+Inf\"}".into(), total));
        buckets.push(("_sum".into(), self.duration_sum_micros.load(Relaxed) as f64 / 1e6));
        buckets.push(("_count".into(), total));
        family(&mut out, "vigil_execution_duration_seconds", "histogram", "How long rule executions take.", buckets);
        family(
            &mut out,
            "vigil_execution_delay_seconds",
            "gauge",
            "How late the last execution started after its scheduled start.",
            one(self.schedule_delay_millis.load(Relaxed) as f64 / 1000.0),
        );
        family(
            &mut out,
            "vigil_alerts_created_total",
            "counter",
            "Alerts created by executions.",
            one(n(&self.alerts_created)),
        );
        let alerts: Vec<(&str, f64)> = snapshot.alerts.iter().map(|(s, c)| (*s, *c as f64)).collect();
        family(&mut out, "vigil_alerts", "gauge", "Alerts stored, by workflow status.", by("status", &alerts));
        family(&mut out, "vigil_rules_enabled", "gauge", "Rules loaded and enabled.", one(snapshot.rules as f64));
        out
    }
}

/// One metric family: its help and type lines, then a sample per (name suffix and labels, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (suffix, value) in samples {
        let _ = writeln!(out, "{name}{suffix} {value}");
    }
}
