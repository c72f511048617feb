//! The alerts table (filters, KQL over the alert document, sort, paging, triage of many at once)
//! and the alert page (reason, rule, ATT&CK, the source event, the rule's investigation guide,
//! the status history, related events).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use ecs::date::Timestamp;
use engine::AlertId;
use engine::storage::{EventQuery, StoredEvent};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::routes::alerts::{self, AlertQuery, StatusUpdate};
use crate::routes::events::{self as event_routes, SearchQuery};
use crate::routes::exceptions::{self, FromAlert};
use crate::state::AppState;
use crate::ui::session::Signed;
use crate::ui::{Chrome, UiError, back, format, html, markdown};

/// Alerts on one page of the table.
const PAGE: usize = 50;

/// The table's filters, as the form sends them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    status: Option<String>,
    severity: Option<String>,
    rule: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    /// `on` shows the alerts of building-block rules, which are hidden otherwise.
    building_blocks: Option<String>,
    offset: Option<usize>,
}

/// One row of the table.
pub(crate) struct Row {
    pub id: String,
    pub time: String,
    pub severity: String,
    pub risk: String,
    pub rule_id: String,
    pub rule: String,
    pub reason: String,
    pub user: String,
    pub host: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct Table {
    chrome: Chrome,
    status: String,
    severity: String,
    rule: String,
    since: String,
    until: String,
    q: String,
    sort: String,
    building_blocks: bool,
    /// rule id, name: the rule filter's choices.
    rules: Vec<(String, String)>,
    rows: Vec<Row>,
    total: u64,
    /// The KQL error with its caret, or another reason the search failed.
    error: Option<String>,
    first: usize,
    last: usize,
    prev: Option<String>,
    next: Option<String>,
    /// This page's address, for the triage form to come back to.
    here: String,
}

fn nonempty(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The table's address with `filters` at `offset`.
fn address(filters: &Filters, offset: usize) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("status", &filters.status),
        ("severity", &filters.severity),
        ("rule", &filters.rule),
        ("since", &filters.since),
        ("until", &filters.until),
        ("q", &filters.q),
        ("sort", &filters.sort),
        ("building_blocks", &filters.building_blocks),
    ] {
        if let Some(value) = nonempty(value) {
            query.append_pair(name, &value);
        }
    }
    if offset > 0 {
        query.append_pair("offset", &offset.to_string());
    }
    format!("/ui/alerts?{}", query.finish())
}

pub(crate) async fn table(
    State(state): State<AppState>,
    signed: Signed,
    Query(filters): Query<Filters>,
) -> Result<Response, UiError> {
    let offset = filters.offset.unwrap_or(0);
    let query = AlertQuery {
        rule_id: nonempty(&filters.rule),
        severity: nonempty(&filters.severity),
        status: nonempty(&filters.status),
        since: nonempty(&filters.since),
        until: nonempty(&filters.until),
        q: nonempty(&filters.q),
        sort: nonempty(&filters.sort),
        building_blocks: Some(filters.building_blocks.is_some()),
        offset: Some(offset),
        limit: Some(PAGE),
    };
    let pack = state.rules();
    let name_of = |id: &str| pack.get(id).map_or_else(|| id.to_owned(), |r| r.name.clone());
    let (rows, total, error) = match alerts::search(&state, &query).await {
        Ok(page) => {
            let rows = page
                .alerts
                .into_iter()
                .map(|a| {
                    let text = |name: &str| format::field(&a.document, name).unwrap_or_default();
                    Row {
                        time: a.created.get(..19).unwrap_or(&a.created).replace('T', " "),
                        risk: text("kibana.alert.risk_score"),
                        rule: name_of(&a.rule_id),
                        reason: text("kibana.alert.reason"),
                        user: text("user.name"),
                        host: text("host.name"),
                        id: a.id,
                        severity: a.severity,
                        rule_id: a.rule_id,
                        status: a.status,
                    }
                })
                .collect();
            (rows, page.total, None)
        }
        Err(err @ (ApiError::BadRequest(_) | ApiError::BudgetExceeded(_))) => (Vec::new(), 0, Some(err.to_string())),
        Err(err) => return Err(err.into()),
    };
    let shown = offset + rows.len();
    let mut rules: Vec<(String, String)> = pack.rules.iter().map(|r| (r.id.0.clone(), r.name.clone())).collect();
    rules.sort_by(|a, b| a.1.cmp(&b.1));
    let page = Table {
        chrome: Chrome::new("alerts", &signed),
        status: filters.status.clone().unwrap_or_default(),
        severity: filters.severity.clone().unwrap_or_default(),
        rule: filters.rule.clone().unwrap_or_default(),
        since: filters.since.clone().unwrap_or_default(),
        until: filters.until.clone().unwrap_or_default(),
        q: filters.q.clone().unwrap_or_default(),
        sort: filters.sort.clone().unwrap_or_default(),
        building_blocks: filters.building_blocks.is_some(),
        rules,
        first: if rows.is_empty() { 0 } else { offset + 1 },
        last: shown,
        prev: (offset > 0).then(|| address(&filters, offset.saturating_sub(PAGE))),
        next: ((shown as u64) < total).then(|| address(&filters, shown)),
        here: address(&filters, offset),
        rows,
        total,
        error,
    };
    html(&page)
}

/// Moves the checked alerts (or the one alert of its page) to a status, with a note.
pub(crate) async fn triage(State(state): State<AppState>, signed: Signed, body: Bytes) -> Result<Response, UiError> {
    let (mut ids, mut status, mut note, mut csrf, mut to) = (Vec::new(), None, None, String::new(), None);
    for (name, value) in form_urlencoded::parse(&body) {
        match name.as_ref() {
            "ids" => ids.push(value.into_owned()),
            "status" => status = Some(value.into_owned()),
            "note" => note = Some(value.trim().to_owned()).filter(|n| !n.is_empty()),
            "csrf" => csrf = value.into_owned(),
            "back" => to = Some(value.into_owned()),
            _ => {}
        }
    }
    signed.check(&csrf)?;
    let status = status.ok_or_else(|| UiError::Api(ApiError::BadRequest("choose a status".into())))?;
    if !ids.is_empty() {
        alerts::change_status(&state, signed.principal.clone(), &StatusUpdate { ids, status, note }).await?;
    }
    Ok(back(to.as_deref(), "/ui/alerts"))
}

/// One status change, as the history shows it.
pub(crate) struct Change {
    pub status: String,
    pub by: String,
    pub at: String,
    pub note: String,
}

/// An event related to the alert's.
pub(crate) struct Related {
    pub seq: u64,
    pub time: String,
    pub action: String,
    pub outcome: String,
    pub source: String,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    chrome: Chrome,
    id: String,
    status: String,
    reason: String,
    rule_id: String,
    rule: String,
    severity: String,
    risk: String,
    created: String,
    event_time: String,
    late: bool,
    tactics: Vec<format::Tactic>,
    /// The source event: its sequence number, when it is still stored.
    event_seq: Option<u64>,
    fields: Vec<(String, String)>,
    json: String,
    guide: Option<String>,
    setup: Option<String>,
    history: Vec<Change>,
    /// Fields of the event an exception may hold to, with their values.
    exception_fields: Vec<(String, String)>,
    user: Option<String>,
    by_user: Result<Vec<Related>, String>,
    source_ip: Option<String>,
    by_ip: Result<Vec<Related>, String>,
}

/// Fields an exception made from an alert usually holds to, offered when the event has them.
const EXCEPTION_FIELDS: &[&str] = &[
    "user.name",
    "user.id",
    "organization.id",
    "source.ip",
    "client.ip",
    "host.name",
    "event.action",
    "event.provider",
    "o365.audit.ObjectId",
    "o365.audit.Parameters.Identity",
    "user_agent.original",
    "process.executable",
    "file.path",
];

/// Adds an exception made from the alert to its rule's list, optionally closing the open
/// alerts it matches.
pub(crate) async fn exception(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, UiError> {
    let (mut fields, mut comment, mut close, mut csrf) = (Vec::new(), None, false, String::new());
    for (name, value) in form_urlencoded::parse(&body) {
        match name.as_ref() {
            "fields" => fields.push(value.into_owned()),
            "comment" => comment = Some(value.trim().to_owned()).filter(|c| !c.is_empty()),
            "close_matching" => close = true,
            "csrf" => csrf = value.into_owned(),
            _ => {}
        }
    }
    signed.check(&csrf)?;
    let request = FromAlert { fields, name: None, comment, list_id: None, close_matching: close };
    exceptions::make_from_alert(&state, &signed.principal, &id, &request).await?;
    Ok(back(Some(&format!("/ui/alerts/{id}")), "/ui/alerts"))
}

/// The stored event with sequence number `seq`.
pub(crate) async fn stored_event(state: &AppState, seq: u64) -> Result<Option<StoredEvent>, UiError> {
    let store = state.store.clone();
    let query = EventQuery {
        window: None,
        after: Some(seq.saturating_sub(1)),
        up_to: seq,
        limit: Some(1),
        ordered: true,
        from_seq: seq.saturating_sub(1),
    };
    let found = state
        .blocking(move || {
            let mut found = None;
            store.scan(&query, &mut |event| {
                found = Some(event);
                false
            })?;
            Ok(found)
        })
        .await?;
    Ok(found.filter(|e| e.seq == seq))
}

/// Other stored events with `field` equal to `value`, within an hour of `at`; or why the search
/// failed, for the page to say.
async fn related(
    state: &AppState,
    field: &str,
    value: &str,
    at: Timestamp,
    except: Option<u64>,
) -> Result<Vec<Related>, String> {
    const HOUR: i64 = 3600 * 1_000_000_000;
    let query = SearchQuery {
        q: Some(format!("{field}:{}", kql::quote(value))),
        since: Some(Timestamp::from_nanos(at.as_nanos() - HOUR).to_string()),
        until: Some(Timestamp::from_nanos(at.as_nanos() + HOUR).to_string()),
        after: None,
        limit: Some(26),
    };
    let page = event_routes::find(state, query).await.map_err(|e| e.to_string())?;
    let related = page
        .events
        .into_iter()
        .filter(|e| Some(e.seq) != except)
        .take(25)
        .map(|e| {
            let text = |name: &str| format::field(&e.document, name).unwrap_or_default();
            Related {
                seq: e.seq,
                time: text("@timestamp").get(..19).unwrap_or("").replace('T', " "),
                action: text("event.action"),
                outcome: text("event.outcome"),
                source: text("source.ip"),
            }
        })
        .collect();
    Ok(related)
}

pub(crate) async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    let alert_id = AlertId::parse(&id).ok_or_else(|| UiError::NotFound(format!("`{id}` is not an alert id")))?;
    let store = state.store.clone();
    let alert = state
        .blocking(move || store.alert(&alert_id))
        .await?
        .ok_or_else(|| UiError::NotFound(format!("no alert `{id}`")))?;
    let doc = &alert.document;
    let text = |name: &str| format::field(doc, name).unwrap_or_default();
    let pack = state.rules();
    let rule = pack.get(&alert.rule_id);
    let event_seq = doc.get("vigil.event.seq").and_then(Value::as_u64);
    // The source event as stored; if retention removed it, the event's fields of the alert.
    let source = match event_seq {
        Some(seq) => stored_event(&state, seq).await?,
        None => None,
    };
    let event: Value = match &source {
        Some(stored) => serde_json::from_str(&stored.document).unwrap_or(Value::Null),
        None => match doc {
            Value::Object(map) => Value::Object(
                map.iter().filter(|(k, _)| !k.starts_with("kibana.")).map(|(k, v)| (k.clone(), v.clone())).collect(),
            ),
            other => other.clone(),
        },
    };
    let event_time = format::field(&event, "@timestamp").or_else(|| format::field(doc, "kibana.alert.original_time"));
    let at = event_time.as_deref().and_then(|t| Timestamp::parse(t, false)).unwrap_or(alert.created);
    let except = source.as_ref().map(|s| s.seq);
    let user = format::field(&event, "user.name");
    let source_ip = format::field(&event, "source.ip");
    let by_user = match &user {
        Some(user) => related(&state, "user.name", user, at, except).await,
        None => Ok(Vec::new()),
    };
    let by_ip = match &source_ip {
        Some(ip) => related(&state, "source.ip", ip, at, except).await,
        None => Ok(Vec::new()),
    };
    let page = AlertPage {
        chrome: Chrome::new("alerts", &signed),
        id: alert.id.to_string(),
        status: alert.status.as_str().to_owned(),
        reason: text("kibana.alert.reason"),
        rule_id: alert.rule_id.clone(),
        rule: rule.map_or_else(|| text("kibana.alert.rule.name"), |r| r.name.clone()),
        severity: alert.severity.clone(),
        risk: text("kibana.alert.risk_score"),
        created: format::time(alert.created),
        event_time: event_time.map(|t| t.get(..19).unwrap_or(&t).replace('T', " ")).unwrap_or_default(),
        late: doc.get("vigil.alert.late").and_then(Value::as_bool).unwrap_or(false),
        tactics: rule.map(|r| format::tactics(&r.threat)).unwrap_or_default(),
        event_seq: except,
        fields: format::fields(&event),
        json: format::json(&event),
        guide: rule.and_then(|r| r.text("note")).map(markdown::render),
        setup: rule.and_then(|r| r.text("setup")).map(markdown::render),
        exception_fields: EXCEPTION_FIELDS
            .iter()
            .filter_map(|f| format::field(doc, f).map(|v| ((*f).to_owned(), v)))
            .collect(),
        history: alert
            .history
            .iter()
            .map(|c| Change {
                status: c.status.as_str().to_owned(),
                by: c.by.clone(),
                at: format::time(c.at),
                note: c.note.clone().unwrap_or_default(),
            })
            .collect(),
        user,
        by_user,
        source_ip,
        by_ip,
    };
    html(&page)
}
