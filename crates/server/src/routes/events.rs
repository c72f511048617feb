//! `/api/v1/events`: send events (NDJSON or a JSON array, ECS or raw Office 365), search them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use ecs::date::Timestamp;
use engine::storage::{Appended, EventQuery, TimeColumn};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::ingest;
use crate::routes::{Budget, Cancel, compile_parsed, page_size, time_param};
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send, search))
}

/// Where sent events go.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SendQuery {
    /// The index every event goes to; by default each goes to its data stream
    /// (`logs-o365.audit-default`) or, without one, to no index (searched by every rule).
    pub index: Option<String>,
}

/// One item that was not stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefusedItem {
    /// The line of the body (or the element of the array), from 1.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// What became of the events sent.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IngestReport {
    /// Events stored (durable).
    pub stored: u64,
    /// Events already stored (same index and identity), not stored again.
    pub duplicates: u64,
    /// Items refused.
    pub failed: u64,
    /// The highest ingest sequence number given to this request's events.
    pub last_seq: Option<u64>,
    /// Each refused item, with its line.
    pub errors: Vec<RefusedItem>,
}

/// Stores events: NDJSON (one per line) or a JSON array; ECS documents or raw Office 365 audit
/// records, which are normalized as Elastic's integration does. Each event gets
/// `event.ingested` and an ingest sequence number; a record already stored (same index and
/// `event.id`) is not stored again. Bad lines are reported, the rest are stored.
#[utoipa::path(post, path = "/events", tag = "events", params(SendQuery),
    request_body(content = String, content_type = "application/x-ndjson", description = "NDJSON or a JSON array"),
    responses((status = 200, body = IngestReport), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn send(
    State(state): State<AppState>,
    query: Result<Query<SendQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IngestReport>, ApiError> {
    let Query(query) = query?;
    if let Some(index) = &query.index {
        ingest::check_index(index).map_err(ApiError::BadRequest)?;
    }
    state.metrics.request();
    let gzip = headers.get("content-encoding").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let (limit, limits) = (state.config.max_body, state.limits());
    let now = Timestamp::now();
    let items = tokio::task::spawn_blocking(move || {
        let body = ingest::body(&body, gzip, limit)?;
        // As Elasticsearch names id-less documents: a new id each time.
        Ok::<_, ApiError>(ingest::events(&body, query.index.as_deref(), limits, now, &|_| ingest::auto_id())?)
    })
    .await??;
    let outcomes = state.store_items(&items).await?;
    let mut report = IngestReport { stored: 0, duplicates: 0, failed: 0, last_seq: None, errors: Vec::new() };
    for (item, outcome) in items.iter().zip(outcomes) {
        match (outcome, &item.event) {
            (Some(Appended::Stored(seq)), _) => {
                report.stored += 1;
                report.last_seq = Some(seq);
            }
            (Some(Appended::Duplicate(_)), _) => report.duplicates += 1,
            (None, Err(_)) => {
                report.failed += 1;
                report.errors.push(RefusedItem { line: item.line, reason: item.reason().unwrap_or_default() });
            }
            (None, Ok(_)) => {}
        }
    }
    Ok(Json(report))
}

/// Which events to find.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// A KQL query over the events (empty: all).
    pub q: Option<String>,
    /// `@timestamp` at or after this (ISO 8601 or date math; default `now-24h`).
    pub since: Option<String>,
    /// `@timestamp` at or before this (default `now`).
    pub until: Option<String>,
    /// Only events with an ingest sequence number above this (for the next page).
    pub after: Option<u64>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<usize>,
}

/// A stored event.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Its ingest sequence number.
    pub seq: u64,
    /// Its index.
    pub index: String,
    /// Its identity.
    pub id: String,
    /// When it was ingested.
    pub ingested: String,
    /// The document.
    #[schema(value_type = Object)]
    pub document: Value,
}

/// A page of events, by ingest sequence number.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    /// The events.
    pub events: Vec<Event>,
    /// The `after` of the next page, if there may be one.
    pub next_after: Option<u64>,
    /// Whether the search stopped at its time budget (`search_budget`) before it had read every
    /// event it selects, as Elasticsearch's `timed_out`: the page holds what was found, and
    /// `next_after` goes on from the last event read.
    pub timed_out: bool,
}

/// Finds stored events by a KQL query and an `@timestamp` range, in ingest order: pages go on
/// from `next_after`, and each matching event is on exactly one page.
#[utoipa::path(get, path = "/events", tag = "events", params(SearchQuery),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn search(
    State(state): State<AppState>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<EventPage>, ApiError> {
    let Query(query) = query?;
    Ok(Json(find(&state, query).await?))
}

/// The events `query` selects, one page: what the search route answers, and the console shows.
///
/// # Errors
///
/// [`ApiError::BadRequest`] for a bad parameter or query, [`ApiError::Store`].
pub(crate) async fn find(state: &AppState, query: SearchQuery) -> Result<EventPage, ApiError> {
    let now = Timestamp::now();
    let since = time_param("since", query.since.as_deref().unwrap_or("now-24h"), now)?;
    let until = time_param("until", query.until.as_deref().unwrap_or("now"), now)?;
    let search = Search::new(query.q.as_deref(), now)?;
    let limit = page_size(query.limit, 50)?;
    let store = state.store.clone();
    let cancel = Cancel::default();
    let mut budget = Budget::new(&cancel, state);
    let page = state
        .blocking(move || {
            let up_to = store.last_seq()?;
            // Paging goes by sequence number, so the scan goes in that order too.
            let scan = EventQuery {
                window: Some((TimeColumn::Timestamp, since, until)),
                after: None,
                up_to,
                limit: None,
                ordered: true,
                from_seq: query.after.unwrap_or(0),
            };
            let (mut events, mut last, mut timed_out) = (Vec::new(), None, false);
            store.scan(&scan, &mut |event| {
                if budget.spent() {
                    timed_out = true;
                    return false;
                }
                last = Some(event.seq);
                if let Some(document) = search.matches(&event.document) {
                    events.push(Event {
                        seq: event.seq,
                        index: event.index,
                        id: event.event_id,
                        ingested: event.ingested.to_string(),
                        document,
                    });
                }
                events.len() < limit
            })?;
            let next_after = (events.len() == limit || timed_out).then_some(last).flatten();
            Ok(EventPage { events, next_after, timed_out })
        })
        .await?;
    drop(cancel);
    Ok(page)
}

/// A KQL search over stored documents: the query's required literals first, on the raw text, so
/// that most documents are never decoded.
pub(crate) struct Search {
    matcher: kql::Matcher<'static>,
    literals: kql::Literals,
}

impl Search {
    pub(crate) fn new(q: Option<&str>, now: Timestamp) -> Result<Search, ApiError> {
        let (matcher, query) = compile_parsed(q, now)?;
        Ok(Search { matcher, literals: query.required_literals(ecs::Catalog::builtin()) })
    }

    /// The document, when it matches.
    pub(crate) fn matches(&self, text: &str) -> Option<Value> {
        if !self.literals.may_match(text.as_bytes()) {
            return None;
        }
        let document = serde_json::from_str::<Value>(text).ok()?;
        self.matcher.matches_value(&document).then_some(document)
    }
}
