//! `/api/v1/rules`: list, show, switch on and off, execution history, run now.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use ecs::date::Timestamp;
use engine::schedule::Trigger;
use engine::storage::{ExecutionRecord, RuleState};
use rules::Rule;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::page_size;
use crate::state::{AppState, audit_entry};

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(executions))
        .routes(routes!(run))
}

/// A rule as the list shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleSummary {
    /// `rule_id`.
    pub rule_id: String,
    /// `name`.
    pub name: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// 0 to 100.
    pub risk_score: u8,
    /// `query`, `eql`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// How often it runs (`5m`).
    pub interval: String,
    /// The start of its window (`now-30m`).
    pub from: String,
    /// Alerts per execution at most.
    pub max_signals: u32,
    /// Index patterns it searches.
    pub index: Vec<String>,
    /// Whether it runs on its schedule.
    pub enabled: bool,
    /// Why vigil cannot run it, when it cannot.
    pub unsupported: Option<String>,
    /// Fields of the rule vigil does not apply yet, and what that means: it runs, but not as
    /// Kibana would.
    pub ignored: Vec<String>,
    /// Where it was loaded from (`built-in:...`, `file:line`).
    pub origin: String,
    /// Every event up to this ingest sequence number has been evaluated by it.
    pub covered_seq: u64,
    /// Candidates its last execution held back because of `max_signals`, alerted by the next
    /// executions.
    pub backlog: u64,
    /// The scheduled start of its last scheduled execution.
    pub last_scheduled: Option<String>,
}

/// The rules loaded, and the problems met loading the others.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleList {
    /// Rules, in load order.
    pub rules: Vec<RuleSummary>,
    /// `file:line: what is wrong`, one per rule that did not load.
    pub problems: Vec<String>,
}

/// One rule, with its full definition.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleDetail {
    /// What the list shows.
    #[serde(flatten)]
    pub summary: RuleSummary,
    /// Every field of the rule, in Kibana's JSON shape.
    #[schema(value_type = Object)]
    pub definition: Value,
}

/// One execution of one rule.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Execution {
    /// Its identity.
    pub id: String,
    /// The rule.
    pub rule_id: String,
    /// When it was due.
    pub scheduled: String,
    /// When it started.
    pub started: String,
    /// The window searched on the rule's time field.
    pub window_from: String,
    /// The end of the window.
    pub window_to: String,
    /// Events ingested after this sequence number were evaluated whatever their time...
    pub seq_after: u64,
    /// ...up to this one.
    pub seq_to: u64,
    /// Events read.
    pub events: u64,
    /// Matching events not alerted before.
    pub candidates: u64,
    /// Alerts created.
    pub alerts: u64,
    /// Candidates held back by `max_signals`; the next executions alert on them.
    pub held_back: u64,
    /// Alerts on late events: older than the window, ingested after it was searched.
    pub late: u64,
    /// Notifications queued for its alerts.
    pub notifications: u64,
    /// A new terms rule's distinct terms checked against its history.
    pub terms: u64,
    /// Matching events each exception list removed, by list id.
    pub excepted: std::collections::BTreeMap<String, u64>,
    /// How long it took.
    pub duration_ms: u64,
    /// `succeeded`, `partial_failure` or `failed`.
    pub status: String,
    /// What was cut or went wrong.
    pub warnings: Vec<String>,
}

impl From<&ExecutionRecord> for Execution {
    fn from(r: &ExecutionRecord) -> Execution {
        Execution {
            id: r.id.clone(),
            rule_id: r.rule_id.clone(),
            scheduled: r.scheduled.to_string(),
            started: r.started.to_string(),
            window_from: r.window.0.to_string(),
            window_to: r.window.1.to_string(),
            seq_after: r.seq.0,
            seq_to: r.seq.1,
            events: r.events,
            candidates: r.candidates,
            alerts: r.alerts,
            held_back: r.held_back,
            late: r.late,
            notifications: r.notifications,
            terms: r.terms,
            excepted: r.excepted.iter().cloned().collect(),
            duration_ms: r.duration_ms,
            status: r.status.as_str().into(),
            warnings: r.warnings.clone(),
        }
    }
}

/// Executions, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExecutionList {
    /// The executions.
    pub executions: Vec<Execution>,
}

pub(crate) fn summary(rule: &Rule, state: &RuleState) -> RuleSummary {
    RuleSummary {
        rule_id: rule.id.0.clone(),
        name: rule.name.clone(),
        severity: rule.severity.as_str().into(),
        risk_score: rule.risk_score,
        kind: rule.kind.as_str().into(),
        interval: rule.interval.to_string(),
        from: rule.from.0.clone(),
        max_signals: rule.max_signals,
        index: rule.index.clone(),
        enabled: state.enabled.unwrap_or(rule.enabled),
        unsupported: rule.unsupported(),
        ignored: rule.ignored().into_iter().map(|(_, message)| message).collect(),
        origin: rule.origin.to_string(),
        covered_seq: state.covered_seq,
        backlog: state.backlog,
        last_scheduled: state.last_scheduled.map(|t| t.to_string()),
    }
}

async fn state_of(state: &AppState, id: &str) -> Result<RuleState, ApiError> {
    let (store, id) = (state.store.clone(), id.to_owned());
    state.blocking(move || store.rule_state(&id)).await
}

pub(crate) fn find(state: &AppState, id: &str) -> Result<Rule, ApiError> {
    state.rules().get(id).cloned().ok_or_else(|| ApiError::NotFound(format!("no rule with rule_id `{id}`")))
}

/// Lists the loaded rules with their state.
#[utoipa::path(get, path = "/rules", tag = "rules",
    responses((status = 200, body = RuleList), (status = 503, body = ErrorBody)))]
async fn list(State(state): State<AppState>) -> Result<Json<RuleList>, ApiError> {
    let pack = state.rules();
    let store = state.store.clone();
    let stored = state.blocking(move || store.rule_states()).await?;
    let rules = pack.rules.iter().map(|rule| summary(rule, &RuleState::of(&stored, &rule.id.0))).collect();
    Ok(Json(RuleList { rules, problems: pack.problems.clone() }))
}

/// One rule, with its definition.
#[utoipa::path(get, path = "/rules/{id}", tag = "rules", params(("id" = String, Path, description = "rule_id")),
    responses((status = 200, body = RuleDetail), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<RuleDetail>, ApiError> {
    let rule = find(&state, &id)?;
    let rule_state = state_of(&state, &id).await?;
    Ok(Json(RuleDetail { summary: summary(&rule, &rule_state), definition: rule.fields.clone() }))
}

/// Turns rule `id` on or off, with its audit entry in the same transaction.
///
/// # Errors
///
/// [`ApiError::NotFound`] for an unknown rule, [`ApiError::Store`].
pub(crate) async fn switch(
    state: &AppState,
    caller: Principal,
    id: String,
    enabled: bool,
) -> Result<RuleSummary, ApiError> {
    let rule = find(state, &id)?;
    let action = if enabled { "rule.enable" } else { "rule.disable" };
    let entry = audit_entry(caller.actor(), action, id.clone(), Some(rule.name.clone()));
    let (access, key) = (state.access.clone(), id.clone());
    state.write(move || access.set_enabled_audited(&key, enabled, &entry)).await?;
    Ok(summary(&rule, &state_of(state, &id).await?))
}

/// Turns a rule on: it runs on its schedule, covering every event ingested since it last ran.
#[utoipa::path(post, path = "/rules/{id}/enable", tag = "rules", params(("id" = String, Path, description = "rule_id")),
    responses((status = 200, body = RuleSummary), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn enable(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<RuleSummary>, ApiError> {
    switch(&state, caller, id, true).await.map(Json)
}

/// Turns a rule off.
#[utoipa::path(post, path = "/rules/{id}/disable", tag = "rules", params(("id" = String, Path, description = "rule_id")),
    responses((status = 200, body = RuleSummary), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn disable(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<RuleSummary>, ApiError> {
    switch(&state, caller, id, false).await.map(Json)
}

/// How many executions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Limit {
    /// At most this many (default 20, at most 1000).
    pub limit: Option<usize>,
}

/// A rule's executions, newest first.
#[utoipa::path(get, path = "/rules/{id}/executions", tag = "rules",
    params(("id" = String, Path, description = "rule_id"), Limit),
    responses((status = 200, body = ExecutionList), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn executions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<Limit>, QueryRejection>,
) -> Result<Json<ExecutionList>, ApiError> {
    let Query(query) = query?;
    find(&state, &id)?;
    let limit = page_size(query.limit, 20)?;
    let store = state.store.clone();
    let records = state.blocking(move || store.executions(&id, limit)).await?;
    Ok(Json(ExecutionList { executions: records.iter().map(Execution::from).collect() }))
}

/// Runs a rule now, over the window its `from` and `to` give now and every event ingested
/// since it last ran; its schedule is left as it is.
#[utoipa::path(post, path = "/rules/{id}/run", tag = "rules", params(("id" = String, Path, description = "rule_id")),
    responses((status = 200, body = Execution), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Execution>, ApiError> {
    run_now(&state, caller, &id).await.map(|r| Json(Execution::from(&r)))
}

/// Runs rule `id` now, recording who asked in the audit trail.
///
/// # Errors
///
/// [`ApiError::NotFound`] for an unknown rule, [`ApiError::BadRequest`] for a rule vigil cannot
/// run, [`ApiError::Store`].
pub(crate) async fn run_now(state: &AppState, caller: Principal, id: &str) -> Result<ExecutionRecord, ApiError> {
    let rule = find(state, id)?;
    if let Some(reason) = rule.unsupported() {
        return Err(ApiError::BadRequest(format!("rule `{id}` cannot run: {reason}")));
    }
    state.audit(caller.actor(), "rule.run", id.to_owned(), Some(rule.name.clone())).await?;
    let records = state.execute(vec![rule], Timestamp::now(), Trigger::Manual).await?;
    records.into_iter().next().ok_or_else(|| ApiError::Internal("no execution record".into()))
}
