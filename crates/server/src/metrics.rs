//! Counters the service keeps, rendered in Prometheus' text format at `/metrics`.
//!
//! A handful of atomics and one histogram: written by hand rather than with a metrics crate,
//! because the text format is a few lines and the set is fixed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use ecs::date::Timestamp;

use engine::storage::ExecutionStatus;

/// Upper bounds (seconds) of the execution duration histogram's buckets.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0];

/// How many indices the outside-indices counter names.
const INDEX_LABELS: usize = 100;

/// The service's counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: AtomicU64,
    ingested: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    busy: AtomicU64,
    connections_refused: AtomicU64,
    retention_refused: AtomicU64,
    searches_cancelled: AtomicU64,
    write_failure: Mutex<Option<(Timestamp, String)>>,
    pending: AtomicI64,
    store_errors: AtomicU64,
    exception_warnings: AtomicU64,
    executions: [AtomicU64; 3],
    duration_buckets: [AtomicU64; BUCKETS.len()],
    duration_sum_micros: AtomicU64,
    alerts_created: AtomicU64,
    schedule_delay_millis: AtomicU64,
    outside: Mutex<BTreeMap<String, u64>>,
    o365: Mutex<BTreeMap<String, TenantPulls>>,
}

/// One Office 365 tenant's pull counters.
#[derive(Debug, Default)]
struct TenantPulls {
    /// Records pulled, by content type.
    records: BTreeMap<String, u64>,
    /// Errors, by kind (`network`, `throttled`, `sign_in`, `api`, `expired`, `malformed`...).
    errors: BTreeMap<&'static str, u64>,
    /// Calls retried (throttling, server errors, refused tokens).
    retries: u64,
    /// Whether the last pull worked (`None` before the first one ended).
    up: Option<bool>,
    /// The last failure, for people.
    last_error: Option<(Timestamp, String)>,
}

/// How a tenant's pulls go, as the metrics know it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullState {
    /// Whether the last pull worked (`None` before the first one ended).
    pub up: Option<bool>,
    /// The last failure: when, and what.
    pub last_error: Option<(Timestamp, String)>,
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
    /// Candidates held back by `max_signals` for later executions, and the rules holding them.
    pub backlog: (u64, u64),
    /// Alerts by workflow status.
    pub alerts: Vec<(&'static str, u64)>,
    /// Rules loaded and enabled.
    pub rules: u64,
    /// Ingest requests being read now.
    pub ingest_reading: u64,
    /// Ingest requests waiting for their turn.
    pub ingest_waiting: u64,
    /// Where each Office 365 tenant's content types stand.
    pub o365: Vec<store::Checkpoint>,
    /// Notifications waiting to be sent, by connector.
    pub notifications_pending: Vec<(String, u64)>,
    /// When the oldest of them was queued.
    pub oldest_pending: Option<Timestamp>,
    /// Delivery attempts since the start, by connector and outcome (`sent`, `retried`, `failed`).
    pub notification_outcomes: notify::Outcomes,
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

    /// An ingest request answered 429: too many were being read.
    pub fn busy(&self) {
        self.busy.fetch_add(1, Relaxed);
    }

    /// A store write ended: well (`None`), or with this failure.
    pub fn wrote(&self, failure: Option<String>) {
        let mut last = self.write_failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = failure.map(|f| (Timestamp::now(), f));
    }

    /// When the last store write failed, and why, unless a later one worked.
    pub fn write_failure(&self) -> Option<(Timestamp, String)> {
        self.write_failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// A search stopped because its client went away.
    pub fn search_cancelled(&self) {
        self.searches_cancelled.fetch_add(1, Relaxed);
    }

    /// A retention pass refused: it would have removed more than `retention_max_percent`.
    pub fn retention_refused(&self) {
        self.retention_refused.fetch_add(1, Relaxed);
    }

    /// A connection closed as it came: `max_connections` were open.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Relaxed);
    }

    /// Events waiting for the store (positive to add, negative when written or dropped).
    pub fn pending(&self, change: i64) {
        self.pending.fetch_add(change, Relaxed);
    }

    /// Events stored in indices no enabled rule searches. Up to [`INDEX_LABELS`] indices are
    /// named; the rest are counted under `_other`, so a client cannot grow the metrics without
    /// bound.
    pub fn outside_indices<'a>(&self, indices: impl Iterator<Item = &'a str>) {
        let mut outside = self.outside.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for index in indices {
            let label = if outside.contains_key(index) || outside.len() < INDEX_LABELS { index } else { "_other" };
            *outside.entry(label.to_owned()).or_default() += 1;
        }
    }

    /// The store failed a call.
    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, Relaxed);
    }

    /// Exception lists (or value lists) an execution could not apply: missing, or broken.
    pub fn exception_warnings(&self, n: u64) {
        self.exception_warnings.fetch_add(n, Relaxed);
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

    fn tenant<T>(&self, tenant: &str, f: impl FnOnce(&mut TenantPulls) -> T) -> T {
        let mut tenants = self.o365.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(tenants.entry(tenant.to_owned()).or_default())
    }

    /// Records pulled from a tenant's content type.
    pub fn o365_records(&self, tenant: &str, content_type: &str, records: u64) {
        self.tenant(tenant, |t| *t.records.entry(content_type.to_owned()).or_default() += records);
    }

    /// Something went wrong pulling from a tenant.
    pub fn o365_error(&self, tenant: &str, kind: &'static str) {
        self.tenant(tenant, |t| *t.errors.entry(kind).or_default() += 1);
    }

    /// Calls to a tenant's API that were retried.
    pub fn o365_retries(&self, tenant: &str, retries: u64) {
        self.tenant(tenant, |t| t.retries += retries);
    }

    /// A tenant's pull ended, well or with this failure; returns whether it works again after
    /// failing.
    pub fn o365_pulled(&self, tenant: &str, failure: Option<String>) -> bool {
        self.tenant(tenant, |t| {
            let recovered = failure.is_none() && t.up == Some(false);
            t.up = Some(failure.is_none());
            if let Some(failure) = failure {
                t.last_error = Some((Timestamp::now(), failure));
            }
            recovered
        })
    }

    /// How a tenant's pulls go.
    pub fn o365_state(&self, tenant: &str) -> PullState {
        self.tenant(tenant, |t| PullState { up: t.up, last_error: t.last_error.clone() })
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
            "vigil_ingest_requests_busy_total",
            "counter",
            "Ingest requests answered 429 because the ingest queue was full.",
            one(n(&self.busy)),
        );
        family(
            &mut out,
            "vigil_connections_refused_total",
            "counter",
            "Connections closed as they came because max_connections were open.",
            one(n(&self.connections_refused)),
        );
        family(
            &mut out,
            "vigil_ingest_requests_reading",
            "gauge",
            "Ingest requests being read now (at most max_ingest_requests).",
            one(snapshot.ingest_reading as f64),
        );
        family(
            &mut out,
            "vigil_ingest_requests_waiting",
            "gauge",
            "Ingest requests waiting, bodies unread, for their turn (at most max_ingest_queue).",
            one(snapshot.ingest_waiting as f64),
        );
        family(
            &mut out,
            "vigil_ingest_queue_depth",
            "gauge",
            "Events received and not yet durable.",
            one(self.pending.load(Relaxed) as f64),
        );
        family(&mut out, "vigil_store_errors_total", "counter", "Store calls that failed.", one(n(&self.store_errors)));
        family(
            &mut out,
            "vigil_exception_warnings_total",
            "counter",
            "Exception lists and value lists executions named but could not apply (missing or broken).",
            one(n(&self.exception_warnings)),
        );
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
        family(
            &mut out,
            "vigil_alert_backlog",
            "gauge",
            "Candidates enabled rules held back because of max_signals, alerted by their next executions.",
            one(snapshot.backlog.0 as f64),
        );
        family(
            &mut out,
            "vigil_rules_with_backlog",
            "gauge",
            "Enabled rules holding back candidates because of max_signals.",
            one(snapshot.backlog.1 as f64),
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
        let outside: Vec<(String, f64)> = {
            let outside = self.outside.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            outside.iter().map(|(index, n)| (format!("{{index=\"{}\"}}", label_value(index)), *n as f64)).collect()
        };
        family(
            &mut out,
            "vigil_events_outside_indices_total",
            "counter",
            "Events stored in an index no enabled rule's index patterns cover, by index: no rule searches them.",
            outside,
        );
        family(
            &mut out,
            "vigil_searches_cancelled_total",
            "counter",
            "Searches of events or alerts stopped because their client went away.",
            one(n(&self.searches_cancelled)),
        );
        family(
            &mut out,
            "vigil_retention_refused_total",
            "counter",
            "Retention passes refused because they would remove more than retention_max_percent of the events (a clock that jumped?).",
            one(n(&self.retention_refused)),
        );
        family(&mut out, "vigil_rules_enabled", "gauge", "Rules loaded and enabled.", one(snapshot.rules as f64));
        let outcomes = snapshot.notification_outcomes.iter().map(|((connector, outcome), count)| {
            (format!("{{connector=\"{}\",outcome=\"{outcome}\"}}", label_value(connector)), *count as f64)
        });
        family(
            &mut out,
            "vigil_notifications_total",
            "counter",
            "Notification delivery attempts, by connector and outcome (sent, retried, failed).",
            outcomes.collect(),
        );
        let pending = snapshot
            .notifications_pending
            .iter()
            .map(|(connector, count)| (format!("{{connector=\"{}\"}}", label_value(connector)), *count as f64));
        family(
            &mut out,
            "vigil_notifications_pending",
            "gauge",
            "Notifications queued and not sent yet, by connector.",
            pending.collect(),
        );
        let oldest =
            snapshot.oldest_pending.map_or(0.0, |t| (Timestamp::now().as_nanos() - t.as_nanos()).max(0) as f64 / 1e9);
        family(
            &mut out,
            "vigil_notification_oldest_pending_seconds",
            "gauge",
            "How long the oldest notification not sent yet has waited (0 when none waits).",
            one(oldest),
        );
        self.render_o365(&mut out, snapshot);
        out
    }

    fn render_o365(&self, out: &mut String, snapshot: &Snapshot) {
        let tenants = self.o365.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if tenants.is_empty() && snapshot.o365.is_empty() {
            return;
        }
        let label = |tenant: &str, key: &str, value: &str| format!("{{tenant=\"{tenant}\",{key}=\"{value}\"}}");
        let records = tenants
            .iter()
            .flat_map(|(tenant, t)| t.records.iter().map(|(ct, n)| (label(tenant, "content_type", ct), *n as f64)))
            .collect();
        family(
            out,
            "vigil_o365_records_total",
            "counter",
            "Office 365 records pulled, by tenant and content type.",
            records,
        );
        let errors = tenants
            .iter()
            .flat_map(|(tenant, t)| t.errors.iter().map(|(kind, n)| (label(tenant, "kind", kind), *n as f64)))
            .collect();
        family(
            out,
            "vigil_o365_errors_total",
            "counter",
            "Office 365 pull errors, by tenant and kind (network, throttled, sign_in, api, expired, malformed, record, store).",
            errors,
        );
        let retries =
            tenants.iter().map(|(tenant, t)| (format!("{{tenant=\"{tenant}\"}}"), t.retries as f64)).collect();
        family(
            out,
            "vigil_o365_retries_total",
            "counter",
            "Office 365 API calls retried (throttling, server errors, refused tokens).",
            retries,
        );
        let up = tenants
            .iter()
            .map(|(tenant, t)| (format!("{{tenant=\"{tenant}\"}}"), if t.up == Some(true) { 1.0 } else { 0.0 }))
            .collect();
        family(out, "vigil_o365_up", "gauge", "Whether the tenant's last pull worked (1) or failed (0).", up);
        let now = Timestamp::now().as_nanos();
        let lag = snapshot
            .o365
            .iter()
            .filter_map(|c| {
                let newest = c.newest?.as_nanos();
                Some((label(&c.tenant, "content_type", &c.content_type), (now - newest).max(0) as f64 / 1e9))
            })
            .collect();
        family(
            out,
            "vigil_o365_lag_seconds",
            "gauge",
            "Now less the newest contentCreated taken, by tenant and content type.",
            lag,
        );
    }
}

/// A label value in Prometheus' text format: backslash, quote and newline escaped.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One metric family: its help and type lines, then a sample per (name suffix and labels, value).
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (suffix, value) in samples {
        let _ = writeln!(out, "{name}{suffix} {value}");
    }
}
