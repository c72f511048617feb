//! `/api/v1/health` and the Prometheus `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::storage::{StoreResult, WorkflowStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::Snapshot;
use crate::state::AppState;

/// The health route (under `/api/v1`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(openapi))
}

/// The metrics route (at the root, where Prometheus looks).
pub fn metrics_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// How the service is.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`; `degraded` when the service works but something needs a look (see `warnings`);
    /// `unavailable` when the store fails.
    pub status: String,
    /// Why the status is not `ok`, for people.
    pub warnings: Vec<String>,
    /// vigil's version.
    pub version: String,
    /// What failed in the store, when it did (when, and what: the reason is in the service's
    /// log, not here, since anyone may ask for this).
    pub store_error: Option<String>,
    /// Events stored.
    pub events: u64,
    /// The highest ingest sequence number.
    pub last_seq: u64,
    /// Alerts by workflow status: open, acknowledged, closed.
    pub alerts: AlertCounts,
    /// Rules loaded.
    pub rules: u64,
    /// Rules enabled (and runnable).
    pub rules_enabled: u64,
    /// Events that an enabled rule has not evaluated yet.
    pub uncovered_events: u64,
    /// Candidates that enabled rules held back because of `max_signals`, for their next
    /// executions to alert on.
    pub alert_backlog: u64,
    /// Enabled rules with such a backlog.
    pub rules_with_backlog: u64,
    /// Rule files that failed to load (`GET /api/v1/rules` says which and why, with a key).
    pub rules_not_loaded: u64,
    /// In cluster mode: where this node stands in the cluster's event log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterHealth>,
}

/// A node's place in the cluster's event log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterHealth {
    /// This node's name.
    pub node: String,
    /// The newest event in the cluster's log (`None` when the NATS cluster cannot be reached).
    pub log_last_seq: Option<u64>,
    /// Events in the log this node's store does not hold yet.
    pub behind: Option<u64>,
}

/// Alerts by workflow status.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct AlertCounts {
    /// Not looked at yet.
    pub open: u64,
    /// Being looked at.
    pub acknowledged: u64,
    /// Done.
    pub closed: u64,
}

/// What the store says about itself, read in one blocking call, and how many rules are loaded.
pub(crate) async fn snapshot(state: &AppState) -> Result<(Snapshot, u64), crate::error::ApiError> {
    let pack = state.rules();
    let store = state.store.clone();
    state
        .blocking(move || -> StoreResult<(Snapshot, u64)> {
            let last_seq = store.last_seq()?;
            let mut enabled = 0;
            let mut covered = last_seq;
            let (mut backlog, mut backlogged) = (0, 0);
            let states = store.rule_states()?;
            for (_, rule_state) in pack.enabled(&states) {
                enabled += 1;
                covered = covered.min(rule_state.covered_seq);
                backlog += rule_state.backlog;
                backlogged += u64::from(rule_state.backlog > 0);
            }
            let alerts = store.alert_counts()?.into_iter().map(|(status, count)| (status.as_str(), count)).collect();
            let snapshot = Snapshot {
                events: store.event_count()?,
                last_seq,
                uncovered: last_seq.saturating_sub(covered),
                backlog: (backlog, backlogged),
                alerts,
                rules: enabled,
                ingest_reading: 0,
                ingest_waiting: 0,
                o365: Vec::new(),
                ..Snapshot::default()
            };
            Ok((snapshot, pack.rules.len() as u64))
        })
        .await
}

/// Whether the service and its store work. 503 when the store fails.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(state): State<AppState>) -> Response {
    let version = env!("CARGO_PKG_VERSION").to_owned();
    let not_loaded = state.rules().problems.len() as u64;
    let unavailable = |store_error: String, rules: u64| Health {
        status: "unavailable".into(),
        warnings: Vec::new(),
        version: version.clone(),
        store_error: Some(store_error),
        events: 0,
        last_seq: 0,
        alerts: AlertCounts::default(),
        rules,
        rules_enabled: 0,
        uncovered_events: 0,
        alert_backlog: 0,
        rules_with_backlog: 0,
        rules_not_loaded: not_loaded,
        cluster: None,
    };
    // Reads go on working on a full disk: the last write says whether the store can take events.
    if let Some((at, _)) = state.metrics.write_failure() {
        let health = unavailable(format!("the last write failed, at {at}: the store cannot write"), 0);
        return (StatusCode::SERVICE_UNAVAILABLE, Json(health)).into_response();
    }
    match snapshot(&state).await {
        Ok((s, rules)) => {
            let count = |status: WorkflowStatus| {
                s.alerts.iter().find(|(name, _)| *name == status.as_str()).map_or(0, |(_, n)| *n)
            };
            let alerts = AlertCounts {
                open: count(WorkflowStatus::Open),
                acknowledged: count(WorkflowStatus::Acknowledged),
                closed: count(WorkflowStatus::Closed),
            };
            let mut warnings = Vec::new();
            let cluster = match &state.cluster {
                None => None,
                Some(cluster) => {
                    let log = tokio::time::timeout(std::time::Duration::from_secs(2), cluster.last_seq()).await;
                    let log_last_seq = log.ok().and_then(Result::ok);
                    if log_last_seq.is_none() {
                        warnings.push("the NATS cluster cannot be reached: ingest answers 503 until it can".to_owned());
                    }
                    Some(ClusterHealth {
                        node: cluster.settings().name.clone(),
                        log_last_seq,
                        behind: log_last_seq.map(|log| log.saturating_sub(s.last_seq)),
                    })
                }
            };
            if s.backlog.0 > 0 {
                warnings.push(format!(
                    "{} rules reached max_signals and hold back {} alerts for their next executions",
                    s.backlog.1, s.backlog.0
                ));
            }
            Json(Health {
                status: if warnings.is_empty() { "ok" } else { "degraded" }.into(),
                warnings,
                version,
                store_error: None,
                events: s.events,
                last_seq: s.last_seq,
                alerts,
                rules,
                rules_enabled: s.rules,
                uncovered_events: s.uncovered,
                alert_backlog: s.backlog.0,
                rules_with_backlog: s.backlog.1,
                rules_not_loaded: not_loaded,
                cluster,
            })
            .into_response()
        }
        Err(_) => {
            let health = unavailable("the store cannot be read".into(), state.rules().rules.len() as u64);
            (StatusCode::SERVICE_UNAVAILABLE, Json(health)).into_response()
        }
    }
}

/// Prometheus metrics: ingest, queue depth, executions and their durations, alerts, lag.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> Response {
    // Counters are answered even when the store fails; its gauges are then left out at zero.
    let mut snapshot = snapshot(&state).await.map(|(s, _)| s).unwrap_or_default();
    let reading = state.config.max_ingest_requests.max(1).saturating_sub(state.ingest_permits.available_permits());
    let places = state.config.max_ingest_requests.max(1).saturating_add(state.config.max_ingest_queue);
    let admitted = places.saturating_sub(state.ingest_queue.available_permits());
    snapshot.ingest_reading = reading as u64;
    snapshot.ingest_waiting = admitted.saturating_sub(reading) as u64;
    if !state.config.notifications.connectors.is_empty() {
        let store = state.store.clone();
        if let Ok(counts) = state.blocking(move || store.notification_counts()).await {
            snapshot.notifications_pending = counts
                .by_connector
                .into_iter()
                .filter(|(_, delivery, _)| *delivery == engine::storage::Delivery::Pending)
                .map(|(connector, _, count)| (connector, count))
                .collect();
            snapshot.oldest_pending = counts.oldest_pending;
        }
        snapshot.notification_outcomes = state.sender.get().map(notify::Sender::outcomes).unwrap_or_default();
    }
    // Office 365 lag, only where pulls are configured (the health check never needs it).
    if !state.config.o365.tenants.is_empty() {
        let checkpoints = state.checkpoints.clone();
        snapshot.o365 = state.blocking(move || checkpoints.checkpoints()).await.unwrap_or_default();
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(&snapshot)).into_response()
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "health", responses((status = 200, body = Object)))]
async fn openapi() -> Response {
    Json(crate::openapi()).into_response()
}
