//! `/api/v1/alerts`: search, show, and move through triage (open, acknowledged, closed).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use ecs::date::Timestamp;
use engine::AlertId;
use engine::storage::{AlertFilter, AlertOrder, StatusChange, StoredAlert, WorkflowStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::routes::{Budget, Cancel, MAX_PAGE, compile_parsed, page_offset, page_size, time_param};
use crate::state::{AppState, audit_entry};

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(show)).routes(routes!(set_status))
}

/// One workflow change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// The status after it.
    pub status: String,
    /// Who made it.
    pub by: String,
    /// When.
    pub at: String,
    /// Why, if they said.
    pub note: Option<String>,
}

/// A stored alert.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Alert {
    /// Its identity: 64 hex digits of sha256(index, event id, rule_id).
    pub id: String,
    /// The rule that raised it.
    pub rule_id: String,
    /// The rule's severity.
    pub severity: String,
    /// When it was created.
    pub created: String,
    /// `open`, `acknowledged` or `closed`.
    pub status: String,
    /// Every workflow change, oldest first.
    pub history: Vec<Change>,
    /// The alert document, shaped like Elastic Security's (`kibana.alert.*` and the event).
    #[schema(value_type = Object)]
    pub document: Value,
}

impl From<StoredAlert> for Alert {
    fn from(a: StoredAlert) -> Alert {
        Alert {
            id: a.id.to_string(),
            rule_id: a.rule_id,
            severity: a.severity,
            created: a.created.to_string(),
            status: a.status.as_str().into(),
            history: a
                .history
                .into_iter()
                .map(|c| Change { status: c.status.as_str().into(), by: c.by, at: c.at.to_string(), note: c.note })
                .collect(),
            document: a.document,
        }
    }
}

/// A page of alerts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertPage {
    /// How many alerts the filters select in all.
    pub total: u64,
    /// This page, newest first.
    pub alerts: Vec<Alert>,
    /// The `offset` of the next page, if there is one.
    pub next_offset: Option<usize>,
}

/// Which alerts to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Raised by this rule (`rule_id`).
    pub rule_id: Option<String>,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: Option<String>,
    /// `open`, `acknowledged` or `closed`.
    pub status: Option<String>,
    /// Created at or after this time (ISO 8601 or date math, e.g. `now-24h`).
    pub since: Option<String>,
    /// Created at or before this time.
    pub until: Option<String>,
    /// A KQL query over the alert document, e.g. `user.name:admin*`.
    pub q: Option<String>,
    /// `newest` (the default), `oldest`, `severity` (most severe first) or `rule`.
    pub sort: Option<String>,
    /// `false` leaves out the alerts of building-block rules (default: all alerts).
    pub building_blocks: Option<bool>,
    /// Skip this many (default 0).
    pub offset: Option<usize>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<usize>,
}

fn status_param(text: &str) -> Result<WorkflowStatus, ApiError> {
    WorkflowStatus::parse(text)
        .ok_or_else(|| ApiError::BadRequest(format!("status `{text}`: expected open, acknowledged or closed")))
}

/// Lists alerts, newest first, by rule, severity, status, creation time and a KQL query.
#[utoipa::path(get, path = "/alerts", tag = "alerts", params(AlertQuery),
    responses((status = 200, body = AlertPage), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    query: Result<Query<AlertQuery>, QueryRejection>,
) -> Result<Json<AlertPage>, ApiError> {
    let Query(query) = query?;
    Ok(Json(search(&state, &query).await?))
}

/// The alerts `query` selects: what the list route answers, and the console shows.
///
/// # Errors
///
/// [`ApiError::BadRequest`] for a bad parameter or query, [`ApiError::BudgetExceeded`] when a
/// query reads more than the search budget allows, [`ApiError::Store`].
pub(crate) async fn search(state: &AppState, query: &AlertQuery) -> Result<AlertPage, ApiError> {
    let now = Timestamp::now();
    if let Some(severity) = &query.severity
        && rules::Severity::parse(severity).is_none()
    {
        return Err(ApiError::BadRequest(format!("severity `{severity}`: expected low, medium, high or critical")));
    }
    let mut filter = AlertFilter {
        rule_id: query.rule_id.clone(),
        severity: query.severity.clone(),
        status: query.status.as_deref().map(status_param).transpose()?,
        since: query.since.as_deref().map(|t| time_param("since", t, now)).transpose()?,
        until: query.until.as_deref().map(|t| time_param("until", t, now)).transpose()?,
        offset: 0,
        limit: None,
        order: match query.sort.as_deref() {
            None | Some("") => AlertOrder::Newest,
            Some(sort) => AlertOrder::parse(sort).ok_or_else(|| {
                ApiError::BadRequest(format!("sort `{sort}`: expected newest, oldest, severity or rule"))
            })?,
        },
        hide_building_blocks: query.building_blocks == Some(false),
    };
    let (offset, limit) = (page_offset(query.offset)?, page_size(query.limit, 50)?);
    let store = state.store.clone();
    let page = match query.q.as_deref().filter(|q| !q.trim().is_empty()) {
        // Without a query the store counts and pages.
        None => {
            filter.offset = offset;
            filter.limit = Some(limit);
            state
                .blocking(move || {
                    let total = store.alert_count(&filter)?;
                    let mut alerts = Vec::new();
                    store.alerts(&filter, &mut |alert| {
                        alerts.push(Alert::from(alert));
                        true
                    })?;
                    Ok(page_of(total, alerts, offset))
                })
                .await?
        }
        // A query reads each selected alert's document, within the search budget (its total
        // needs them all); a client that goes away stops it.
        Some(q) => {
            // The query's required literals first, on each alert's text: most alerts a selective
            // query does not match are never decoded.
            let (matcher, parsed) = compile_parsed(Some(q), now)?;
            let literals = parsed.required_literals(ecs::Catalog::builtin());
            let cancel = Cancel::default();
            let mut budget = Budget::new(&cancel, state);
            let allowed = state.config.search_budget;
            let (page, read) = state
                .blocking(move || {
                    let (mut total, mut alerts, stopped) = (0u64, Vec::new(), std::cell::Cell::new(false));
                    // Every alert read counts against the budget, decoded or not.
                    let mut keep = |text: &[u8]| {
                        if budget.spent() {
                            stopped.set(true);
                            return true;
                        }
                        literals.may_match(text)
                    };
                    store.alerts_where(&filter, &mut keep, &mut |alert| {
                        if stopped.get() {
                            return false;
                        }
                        if matcher.matches_value(&alert.document) {
                            total += 1;
                            if total as usize > offset && alerts.len() < limit {
                                alerts.push(Alert::from(alert));
                            }
                        }
                        true
                    })?;
                    let page = if stopped.get() { None } else { Some(page_of(total, alerts, offset)) };
                    Ok((page, budget.read()))
                })
                .await?;
            drop(cancel);
            page.ok_or_else(|| {
                ApiError::BudgetExceeded(format!(
                    "the query read {read} alerts in {allowed} (search_budget) without finishing: narrow it with rule_id, status, severity, since or until"
                ))
            })?
        }
    };
    Ok(page)
}

fn page_of(total: u64, alerts: Vec<Alert>, offset: usize) -> AlertPage {
    let next = offset + alerts.len();
    AlertPage { total, alerts, next_offset: (next < total as usize).then_some(next) }
}

fn alert_id(text: &str) -> Result<AlertId, ApiError> {
    AlertId::parse(text).ok_or_else(|| ApiError::BadRequest(format!("`{text}` is not an alert id (64 hex digits)")))
}

/// The fewest hex digits that name an alert by prefix.
pub const MIN_PREFIX: usize = 6;

/// One alert, with its workflow history; its id may be abbreviated to a unique prefix of at
/// least 6 hex digits, as git abbreviates commits.
#[utoipa::path(get, path = "/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "the alert id, or a unique prefix of at least 6 hex digits")),
    responses((status = 200, body = Alert), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Alert>, ApiError> {
    let alert = match AlertId::parse(&id) {
        Some(alert) => alert,
        None => unique_prefix(&state, &id).await?,
    };
    let store = state.store.clone();
    let found = state.blocking(move || store.alert(&alert)).await?;
    found.map(|a| Json(Alert::from(a))).ok_or_else(|| ApiError::NotFound(format!("no alert `{id}`")))
}

/// The one alert whose id begins with `prefix`.
async fn unique_prefix(state: &AppState, prefix: &str) -> Result<AlertId, ApiError> {
    let hex = prefix.to_ascii_lowercase();
    if hex.len() < MIN_PREFIX || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::BadRequest(format!(
            "`{prefix}` is not an alert id: 64 hex digits, or a unique prefix of at least {MIN_PREFIX}"
        )));
    }
    let store = state.store.clone();
    let lookup = hex.clone();
    let ids = state.blocking(move || store.alert_ids_with_prefix(&lookup, 2)).await?;
    match ids.as_slice() {
        [one] => Ok(*one),
        [] => Err(ApiError::NotFound(format!("no alert `{prefix}`"))),
        _ => Err(ApiError::Conflict(format!("`{prefix}` begins several alert ids: give more digits"))),
    }
}

/// A workflow change for several alerts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusUpdate {
    /// The alerts.
    pub ids: Vec<String>,
    /// `open`, `acknowledged` or `closed`.
    pub status: String,
    /// Why.
    pub note: Option<String>,
}

/// What a workflow change did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusUpdated {
    /// Alerts moved to the status.
    pub updated: Vec<String>,
    /// Ids that name no alert.
    pub not_found: Vec<String>,
}

/// Moves alerts to `open`, `acknowledged` or `closed`, recording who (the caller's key), when
/// and why.
#[utoipa::path(post, path = "/alerts/status", tag = "alerts", request_body = StatusUpdate,
    responses((status = 200, body = StatusUpdated), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn set_status(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    body: Result<Json<StatusUpdate>, JsonRejection>,
) -> Result<Json<StatusUpdated>, ApiError> {
    let Json(update) = body?;
    Ok(Json(change_status(&state, caller, &update).await?))
}

/// Moves the alerts of `update` to its status, with the change and its audit entry in one
/// transaction: what the status route does, and the console's triage.
///
/// # Errors
///
/// [`ApiError::BadRequest`] for a bad status, id or too many ids, [`ApiError::Store`].
pub(crate) async fn change_status(
    state: &AppState,
    caller: Principal,
    update: &StatusUpdate,
) -> Result<StatusUpdated, ApiError> {
    let status = status_param(&update.status)?;
    if update.ids.len() > MAX_PAGE {
        return Err(ApiError::BadRequest(format!("ids: at most {MAX_PAGE} alerts per request")));
    }
    let ids = update.ids.iter().map(|id| alert_id(id)).collect::<Result<Vec<_>, _>>()?;
    let change = StatusChange { status, by: caller.actor(), at: Timestamp::now(), note: update.note.clone() };
    let detail = match &update.note {
        Some(note) => format!("{}: {note}", status.as_str()),
        None => status.as_str().to_owned(),
    };
    // The change and its audit entry (naming the alerts that changed) are one transaction.
    let access = state.access.clone();
    let asked = update.ids.join(",");
    let audit = audit_entry(caller.actor(), "alert.status", asked, Some(detail));
    let changed = state.write(move || access.set_status_audited(&ids, &change, &audit)).await?;
    let updated: Vec<String> = changed.iter().map(AlertId::to_string).collect();
    let not_found = update.ids.iter().filter(|id| !updated.contains(&id.to_ascii_lowercase())).cloned().collect();
    Ok(StatusUpdated { updated, not_found })
}
