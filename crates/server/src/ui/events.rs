//! A small Discover: KQL over the stored events in a time range, a page at a time, and each
//! event's fields and JSON.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use crate::error::ApiError;
use crate::routes::events::{self as event_routes, SearchQuery};
use crate::state::AppState;
use crate::ui::alerts::stored_event;
use crate::ui::session::Signed;
use crate::ui::{Chrome, UiError, format, html};

/// The search form, as sent.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Search {
    q: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<u64>,
}

/// One found event.
pub(crate) struct Found {
    pub seq: u64,
    pub time: String,
    pub index: String,
    pub dataset: String,
    pub action: String,
    pub user: String,
    pub source: String,
}

#[derive(Template)]
#[template(path = "events.html")]
struct Events {
    chrome: Chrome,
    q: String,
    since: String,
    until: String,
    events: Vec<Found>,
    error: Option<String>,
    timed_out: bool,
    next: Option<String>,
}

pub(crate) async fn search(
    State(state): State<AppState>,
    signed: Signed,
    Query(form): Query<Search>,
) -> Result<Response, UiError> {
    let since = form.since.clone().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "now-24h".into());
    let until = form.until.clone().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "now".into());
    let q = form.q.clone().unwrap_or_default();
    let query = SearchQuery {
        q: Some(q.clone()),
        since: Some(since.clone()),
        until: Some(until.clone()),
        after: form.after,
        limit: Some(50),
    };
    let (events, error, timed_out, next) = match event_routes::find(&state, query).await {
        Ok(page) => {
            let next = page.next_after.map(|after| {
                let mut query = form_urlencoded::Serializer::new(String::new());
                query.append_pair("q", &q).append_pair("since", &since).append_pair("until", &until);
                query.append_pair("after", &after.to_string());
                format!("/ui/events?{}", query.finish())
            });
            let events = page
                .events
                .into_iter()
                .map(|e| {
                    let text = |name: &str| format::field(&e.document, name).unwrap_or_default();
                    Found {
                        seq: e.seq,
                        time: text("@timestamp").get(..19).unwrap_or("").replace('T', " "),
                        dataset: text("event.dataset"),
                        action: text("event.action"),
                        user: text("user.name"),
                        source: text("source.ip"),
                        index: e.index,
                    }
                })
                .collect();
            (events, None, page.timed_out, next)
        }
        Err(err @ ApiError::BadRequest(_)) => (Vec::new(), Some(err.to_string()), false, None),
        Err(err) => return Err(err.into()),
    };
    html(&Events { chrome: Chrome::new("events", &signed), q, since, until, events, error, timed_out, next })
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    chrome: Chrome,
    seq: u64,
    index: String,
    event_id: String,
    ingested: String,
    fields: Vec<(String, String)>,
    json: String,
}

pub(crate) async fn page(
    State(state): State<AppState>,
    signed: Signed,
    Path(seq): Path<u64>,
) -> Result<Response, UiError> {
    let event = stored_event(&state, seq).await?.ok_or_else(|| UiError::NotFound(format!("no stored event {seq}")))?;
    let document: serde_json::Value = serde_json::from_str(&event.document).unwrap_or_default();
    html(&EventPage {
        chrome: Chrome::new("events", &signed),
        seq,
        index: event.index,
        event_id: event.event_id,
        ingested: format::time(event.ingested),
        fields: format::fields(&document),
        json: format::json(&document),
    })
}
