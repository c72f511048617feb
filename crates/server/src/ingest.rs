//! Request bodies to events: Elasticsearch bulk requests and plain NDJSON or JSON arrays, raw
//! Office 365 records normalized on the way in. Each bad item is an error of its own; the rest
//! of the request still goes in.

use std::borrow::Cow;
use std::io::Read;

use ecs::date::Timestamp;
use engine::storage::NewEvent;
use engine::{Events, RecordError, Unnamed};
use serde_json::Value;

/// Admits an ingest request (a POST or PUT of a body to a bulk or events route): at most
/// `max_ingest_requests` are read at once; up to `max_ingest_queue` more wait for their turn
/// with their bodies unread (the client's socket holds them), as Elasticsearch queues bulk
/// requests; past that, the request is answered 429 at once, as Elasticsearch answers when its
/// queue is full, and shippers send it again. Memory stays bounded however many clients send.
pub async fn admit(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let route = request.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str());
    let ingest = matches!(route, Some("/_bulk" | "/{index}/_bulk" | "/api/v1/events"));
    if !ingest || !matches!(*request.method(), axum::http::Method::POST | axum::http::Method::PUT) {
        return next.run(request).await;
    }
    let Ok(_place) = state.ingest_queue.clone().try_acquire_owned() else {
        state.metrics.busy();
        return crate::error::ApiError::Busy(format!(
            "{} ingest requests are being read and {} wait (max_ingest_requests, max_ingest_queue): send this one again later",
            state.config.max_ingest_requests, state.config.max_ingest_queue
        ))
        .into_response();
    };
    // The semaphore is never closed; should it be, the request is read without a permit.
    let _permit = state.ingest_permits.clone().acquire_owned().await.ok();
    next.run(request).await
}

/// A bulk action vigil takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `index`: store the document (a second delivery of the same `_id` is a no-op).
    Index,
    /// `create`: store the document; an `_id` already stored is a version conflict.
    Create,
    /// `delete` or `update`: the event log is append-only, so these are refused per item.
    Refused(&'static str),
}

impl Action {
    /// The action's name in the response.
    pub fn name(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
            Action::Refused(name) => name,
        }
    }
}

/// One item of a request: what it asked, and the event or why not.
#[derive(Debug)]
pub struct Item {
    /// The bulk action (`index` for plain NDJSON).
    pub action: Action,
    /// Whether `line` counts lines or array elements.
    pub place: Place,
    /// The 1-based line of the request body the item's document is on.
    pub line: usize,
    /// The index asked for, if any.
    pub index: Option<String>,
    /// The `_id` asked for, if any.
    pub id: Option<String>,
    /// The event, or why the item was refused.
    pub event: Result<NewEvent, ItemError>,
}

/// Where an item is in its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A line of an NDJSON or bulk body.
    Line,
    /// An element of a JSON array body.
    Element,
}

/// Why one item of a request was not stored; the rest of the request goes on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemError {
    /// The line is too long or not JSON.
    #[error("{0}")]
    Line(LineError),
    /// The bulk action line is too long or not JSON.
    #[error("bad action: {0}")]
    BadAction(LineError),
    /// The bulk action line is JSON but not one action.
    #[error("an action line is one object such as {{\"create\":{{\"_index\":\"logs\"}}}}")]
    NotAnAction,
    /// An action vigil does not know.
    #[error("unknown action `{0}` (index, create, update or delete)")]
    UnknownAction(String),
    /// `delete` or `update`: the event log is append-only.
    #[error("{0} is not supported: vigil's event log is append-only")]
    Unsupported(&'static str),
    /// The action has no document after it.
    #[error("the action has no document line")]
    NoDocument,
    /// Neither the action nor the URL names an index.
    #[error("no index: give `_index` in the action or post to /{{index}}/_bulk")]
    NoIndex,
    /// An index name Elasticsearch refuses; the message is Elasticsearch's.
    #[error("{0}")]
    IndexName(String),
    /// The document is not an event (not an object, a raw record that cannot be normalized).
    #[error("{0}")]
    Record(RecordError),
    /// A JSON array body that is not valid JSON: where, and why.
    #[error("invalid JSON array at line {line}, column {column}: {message}")]
    Array {
        /// Its line in the body.
        line: usize,
        /// Its column.
        column: usize,
        /// What the JSON reader said.
        message: String,
    },
}

/// Why a line (or array element) is not a JSON document vigil takes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Longer than `max_line`.
    #[error("longer than max_line ({0} bytes)")]
    TooLong(usize),
    /// Not JSON (or nested deeper than 128 levels).
    #[error("invalid JSON at column {column}: {message}")]
    Json {
        /// Where.
        column: usize,
        /// What the JSON reader said.
        message: String,
    },
}

impl ItemError {
    /// Elasticsearch's error type for a bulk item refused this way.
    pub fn es_type(&self) -> &'static str {
        match self {
            ItemError::Unsupported(_) => "illegal_argument_exception",
            ItemError::IndexName(_) => "invalid_index_name_exception",
            _ => "document_parsing_exception",
        }
    }
}

impl Item {
    /// Why the item was refused, for people: `line 3: ...` (or `element 3: ...`) when the
    /// reason is about its document; as it is when it is about the whole item.
    pub fn reason(&self) -> Option<String> {
        let error = self.event.as_ref().err()?;
        Some(match error {
            ItemError::Unsupported(_) | ItemError::NoIndex | ItemError::IndexName(_) | ItemError::Array { .. } => {
                error.to_string()
            }
            _ => match self.place {
                Place::Line => format!("line {}: {error}", self.line),
                Place::Element => format!("element {}: {error}", self.line),
            },
        })
    }
}

/// Why a request body is refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// It says it is gzip and is not (400).
    #[error("the body is not valid gzip: {0}")]
    NotGzip(String),
    /// It is larger than `max_body`, once decompressed (413).
    #[error("the body is larger than {0} bytes once decompressed (max_body)")]
    TooLarge(usize),
    /// It holds more than `max_items` documents (413). Counted while reading, so that a small
    /// body of many tiny documents is refused before they take any memory.
    #[error("more than {0} items in one request; max_items allows {0}: split the request")]
    TooMany(usize),
}

impl From<Refused> for crate::error::ApiError {
    fn from(refused: Refused) -> crate::error::ApiError {
        match refused {
            Refused::NotGzip(_) => crate::error::ApiError::BadRequest(refused.to_string()),
            Refused::TooLarge(_) | Refused::TooMany(_) => crate::error::ApiError::TooLarge(refused.to_string()),
        }
    }
}

/// Decodes a request body, gunzipping it when `gzip` (Filebeat compresses by default), and
/// refusing more than `limit` bytes once decompressed; a plain body is used as it is, not copied.
///
/// # Errors
///
/// When the body is not valid gzip or is larger than `limit`.
pub fn body(raw: &[u8], gzip: bool, limit: usize) -> Result<Cow<'_, [u8]>, Refused> {
    if !gzip {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = Vec::new();
    let limit_plus_one = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(raw)
        .take(limit_plus_one)
        .read_to_end(&mut out)
        .map_err(|e| Refused::NotGzip(e.to_string()))?;
    if out.len() > limit {
        return Err(Refused::TooLarge(limit));
    }
    Ok(Cow::Owned(out))
}

/// A new document id as Elasticsearch makes them: 20 URL-safe base64 characters of 15 random
/// bytes (a clock-based id should the system's generator fail).
pub fn auto_id() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 15];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = Timestamp::now().as_nanos().to_be_bytes();
        bytes[..8].copy_from_slice(&nanos);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Checks an index name as Elasticsearch does: not empty, at most 255 bytes, lowercase, none of
/// `\ / * ? " < > | , #`, spaces or `:`, not starting with `-`, `_` or `+`, not `.` or `..`.
///
/// # Errors
///
/// Elasticsearch's own message (`Invalid index name [Logs], must be lowercase`).
pub fn check_index(name: &str) -> Result<(), String> {
    let invalid = |why: &str| Err(format!("Invalid index name [{name}], {why}"));
    if name.is_empty() {
        return invalid("must not be empty");
    }
    if name.len() > 255 {
        return invalid(&format!("index name is too long, ({} > 255)", name.len()));
    }
    if name == "." || name == ".." {
        return invalid("must not be '.' or '..'");
    }
    if name.starts_with(['-', '_', '+']) {
        return invalid("must not start with '_', '-', or '+'");
    }
    if name.chars().any(|c| matches!(c, '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':' | ' ' | '\0'))
    {
        return invalid("must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?, #, :]");
    }
    if name.chars().any(char::is_uppercase) {
        return invalid("must be lowercase");
    }
    Ok(())
}

/// What one request may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest line, in bytes.
    pub max_line: usize,
    /// The most items (documents) in one request.
    pub max_items: usize,
}

/// Decodes one line. Nesting deeper than 128 levels is refused by the JSON reader itself, so a
/// hostile document cannot exhaust the stack.
fn decode(line: &[u8], limits: Limits) -> Result<Value, LineError> {
    if line.len() > limits.max_line {
        return Err(LineError::TooLong(limits.max_line));
    }
    serde_json::from_slice(line).map_err(|e| LineError::Json { column: e.column(), message: e.to_string() })
}

/// The event one line holds: an ECS document placed and stamped from its bytes when it can be
/// (most of ingest's time went to decoding documents whole and writing them out again), else
/// decoded first; the errors are the same either way.
fn line_event(
    events: &Events,
    line: &[u8],
    limits: Limits,
    index: Option<&str>,
    id: Option<&str>,
    unnamed: Unnamed<'_>,
) -> Result<NewEvent, ItemError> {
    if line.len() <= limits.max_line
        && let Some(event) = events.to_store_bytes(line, index, id, unnamed)
    {
        return Ok(event);
    }
    decode(line, limits)
        .map_err(ItemError::Line)
        .and_then(|doc| events.to_store(doc, index, id, unnamed).map_err(ItemError::Record))
}

/// Lines of a body with their 1-based numbers, blank ones left out.
fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(at, line)| (at + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| line.iter().any(|b| !b.is_ascii_whitespace()))
}

/// Reads an Elasticsearch bulk body: action lines (`index`, `create`; `delete` and `update` are
/// refused), each but `delete` followed by its document. The index comes from the action's
/// `_index`, else `default_index` (the URL's).
///
/// # Errors
///
/// [`Refused::TooMany`] as soon as the body holds more than `max_items` actions.
pub fn bulk(body: &[u8], default_index: Option<&str>, limits: Limits, now: Timestamp) -> Result<Vec<Item>, Refused> {
    let events = Events::for_ingest(now);
    let mut items = Vec::new();
    let mut lines = lines(body);
    while let Some((line, action_line)) = lines.next() {
        if items.len() == limits.max_items {
            return Err(Refused::TooMany(limits.max_items));
        }
        let refused =
            |action, index, id, line, error| Item { action, place: Place::Line, line, index, id, event: Err(error) };
        let parsed = match decode(action_line, limits) {
            Ok(Value::Object(map)) if map.len() == 1 => map.into_iter().next(),
            Ok(_) => None,
            Err(error) => {
                // Shippers send action and document in pairs: skip this item's document too.
                lines.next();
                items.push(refused(Action::Index, None, None, line, ItemError::BadAction(error)));
                continue;
            }
        };
        let Some((name, meta)) = parsed else {
            lines.next();
            items.push(refused(Action::Index, None, None, line, ItemError::NotAnAction));
            continue;
        };
        let text = |key: &str| meta.get(key).and_then(Value::as_str).map(str::to_owned);
        // Elasticsearch takes a numeric `_id` as its decimal text.
        let id = match meta.get("_id") {
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => text("_id"),
        };
        let index = text("_index").or_else(|| default_index.map(str::to_owned));
        let action = match name.as_str() {
            // `op_type: create` on an `index` action is a `create` (pino-elasticsearch sends it).
            "index" if meta.get("op_type").and_then(Value::as_str) == Some("create") => Action::Create,
            "index" => Action::Index,
            "create" => Action::Create,
            "delete" => Action::Refused("delete"),
            "update" => Action::Refused("update"),
            other => {
                lines.next();
                items.push(refused(Action::Index, index, id, line, ItemError::UnknownAction(other.to_owned())));
                continue;
            }
        };
        if let Action::Refused(name) = action {
            if name != "delete" {
                lines.next();
            }
            items.push(refused(action, index, id, line, ItemError::Unsupported(name)));
            continue;
        }
        let Some((doc_line, document)) = lines.next() else {
            items.push(refused(action, index, id, line, ItemError::NoDocument));
            break;
        };
        let Some(target) = index.clone() else {
            items.push(refused(action, None, id, doc_line, ItemError::NoIndex));
            continue;
        };
        if let Err(message) = check_index(&target) {
            items.push(refused(action, index, id, doc_line, ItemError::IndexName(message)));
            continue;
        }
        // As Elasticsearch: a document without `_id` or an id of its own is a new event each time.
        let event = line_event(&events, document, limits, Some(&target), id.as_deref(), Unnamed::Named(&auto_id));
        items.push(Item { action, place: Place::Line, line: doc_line, index, id, event });
    }
    Ok(items)
}

/// Reads a body of events: NDJSON (one per line) or one JSON array, ECS documents or raw Office
/// 365 records. `index` places them all; otherwise each goes to its data stream or dataset.
/// An event without an identity of its own gets the id `name` makes for its line (or element).
///
/// # Errors
///
/// [`Refused::TooMany`] as soon as the body holds more than `max_items` documents.
pub fn events(
    body: &[u8],
    index: Option<&str>,
    limits: Limits,
    now: Timestamp,
    name: &dyn Fn(usize) -> String,
) -> Result<Vec<Item>, Refused> {
    let events = Events::for_ingest(now);
    let item = |place, line, event| Item {
        action: Action::Index,
        place,
        line,
        index: index.map(str::to_owned),
        id: None,
        event,
    };
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        return array(body, limits).map(|elements| match elements {
            Ok(elements) => elements
                .into_iter()
                .enumerate()
                .map(|(at, element)| {
                    let event = element.map_err(ItemError::Line).and_then(|doc| {
                        let named = || name(at + 1);
                        events.to_store(doc, index, None, Unnamed::Named(&named)).map_err(ItemError::Record)
                    });
                    item(Place::Element, at + 1, event)
                })
                .collect(),
            Err(e) => {
                let error = ItemError::Array { line: e.line(), column: e.column(), message: e.to_string() };
                vec![item(Place::Line, e.line(), Err(error))]
            }
        });
    }
    let mut items = Vec::new();
    for (line, text) in lines(body) {
        if items.len() == limits.max_items {
            return Err(Refused::TooMany(limits.max_items));
        }
        let named = || name(line);
        let event = line_event(&events, text, limits, index, None, Unnamed::Named(&named));
        items.push(item(Place::Line, line, event));
    }
    Ok(items)
}

/// The elements of a JSON array body, each measured against `max_line` and decoded on its own
/// (one too long or too deep is refused alone); the array stops being read past `max_items`.
type Elements = Result<Vec<Result<Value, LineError>>, serde_json::Error>;

fn array(body: &[u8], limits: Limits) -> Result<Elements, Refused> {
    use serde::de::{Deserializer as _, SeqAccess, Visitor};
    use serde_json::value::RawValue;

    struct Each(Limits);
    impl<'de> Visitor<'de> for Each {
        type Value = Result<Vec<Result<Value, LineError>>, Refused>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array of documents")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                if out.len() == self.0.max_items {
                    return Ok(Err(Refused::TooMany(self.0.max_items)));
                }
                out.push(decode(raw.get().as_bytes(), self.0));
            }
            Ok(Ok(out))
        }
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    let read = reader.deserialize_seq(Each(limits)).and_then(|elements| reader.end().map(|()| elements));
    match read {
        Ok(Ok(elements)) => Ok(Ok(elements)),
        Ok(Err(refused)) => Err(refused),
        Err(e) => Ok(Err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str = r#"{"CreationTime":"2026-03-02T08:14:05","Id":"9d1c","Operation":"Set-DkimSigningConfig","RecordType":1,"ResultStatus":"True","UserId":"admin@contoso.com","Workload":"Exchange","OrganizationId":"t1","Parameters":[{"Name":"Enabled","Value":"False"}]}"#;

    const LIMITS: Limits = Limits { max_line: 1 << 20, max_items: 1000 };

    #[test]
    fn long_lines_deep_nesting_and_too_many_items_are_refused() {
        let limits = Limits { max_line: 64, max_items: 2 };
        let long = format!("{{\"message\":\"{}\"}}\n{{\"message\":\"short\"}}\n", "x".repeat(100));
        let items = events(long.as_bytes(), None, limits, now(), &|_| auto_id()).expect("two items");
        assert_eq!(items[0].reason().expect("too long"), "line 1: longer than max_line (64 bytes)");
        assert!(items[1].event.is_ok());
        let deep = format!("{}{}\n", "[".repeat(200), "]".repeat(200));
        let items =
            events(format!("{{\"a\":{deep}}}").as_bytes(), None, LIMITS, now(), &|_| auto_id()).expect("one item");
        assert!(items[0].reason().expect("too deep").contains("recursion limit exceeded"));
        for three in ["{}\n{}\n{}\n", "[{}, {}, {}]"] {
            assert_eq!(
                events(three.as_bytes(), None, limits, now(), &|_| auto_id()).map(|i| i.len()),
                Err(Refused::TooMany(2))
            );
        }
        let pairs = "{\"index\":{}}\n{}\n".repeat(3);
        assert_eq!(bulk(pairs.as_bytes(), Some("i"), limits, now()).map(|i| i.len()), Err(Refused::TooMany(2)));
        // Array elements are measured and decoded one by one, like lines.
        let array = format!("[{{\"message\":\"{}\"}}, {{\"message\":\"short\"}}]", "x".repeat(100));
        let items = events(array.as_bytes(), None, limits, now(), &|_| auto_id()).expect("two elements");
        assert_eq!(items[0].reason().expect("too long"), "element 1: longer than max_line (64 bytes)");
        assert!(items[1].event.is_ok());
        let bad = events(b"[{}, nope]", None, limits, now(), &|_| auto_id()).expect("one report");
        assert!(bad[0].reason().expect("invalid").starts_with("invalid JSON array at line 1"), "{bad:?}");
    }

    #[test]
    fn index_names_follow_elasticsearchs_rules() {
        for good in ["logs-o365.audit-default", ".ds-logs-x-2026.03.02-000001", "filebeat-8.15.0", "a"] {
            assert_eq!(check_index(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "must not be empty"),
            ("Logs", "must be lowercase"),
            ("../etc", "must not contain"),
            ("a\0b", "must not contain"),
            ("a b", "must not contain"),
            ("_all", "must not start with"),
            ("-x", "must not start with"),
            ("..", "must not be '.' or '..'"),
        ] {
            let err = check_index(bad).expect_err(bad);
            assert!(err.starts_with(&format!("Invalid index name [{bad}], {why}")), "{err}");
        }
        assert!(check_index(&"x".repeat(256)).is_err());
    }

    #[test]
    fn auto_ids_are_twenty_url_safe_characters_and_differ() {
        let (a, b) = (auto_id(), auto_id());
        assert_eq!((a.len(), b.len()), (20, 20));
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn op_type_create_on_an_index_action_is_a_create() {
        let body = "{\"index\":{\"_id\":\"a\",\"op_type\":\"create\"}}\n{}\n{\"index\":{\"_id\":\"b\"}}\n{}\n";
        let items = bulk(body.as_bytes(), Some("logs-x-default"), LIMITS, now()).expect("under the limits");
        assert_eq!((items[0].action, items[1].action), (Action::Create, Action::Index));
    }

    #[test]
    fn a_numeric_id_is_its_decimal_text_and_a_bad_index_is_refused_per_item() {
        let body = "{\"index\":{\"_id\":42}}\n{}\n{\"index\":{\"_index\":\"Logs\"}}\n{}\n";
        let items = bulk(body.as_bytes(), Some("logs-x-default"), LIMITS, now()).expect("under the limits");
        assert_eq!(items[0].event.as_ref().map(|e| e.event_id.as_str()), Ok("42"));
        assert_eq!(items[1].reason().expect("refused"), "Invalid index name [Logs], must be lowercase");
    }

    #[test]
    fn a_gzip_body_over_max_body_is_too_large_and_bad_gzip_is_bad() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b"{}\n".repeat(1000)).expect("compresses");
        let gz = gz.finish().expect("compresses");
        assert_eq!(body(&gz, true, 100), Err(Refused::TooLarge(100)));
        assert_eq!(body(&gz, true, 3000).map(|b| b.len()), Ok(3000));
        assert!(matches!(body(b"not gzip", true, 100), Err(Refused::NotGzip(_))));
    }

    fn now() -> Timestamp {
        Timestamp::from_millis(1_772_439_245_000)
    }

    #[test]
    fn bulk_bodies_take_actions_pairs_and_report_each_bad_item() {
        let body = format!(
            "{{\"create\":{{\"_index\":\"logs-o365.audit-default\"}}}}\n{RAW}\n\
             {{\"index\":{{\"_id\":\"x1\"}}}}\n{{\"message\":\"hello\"}}\n\
             {{\"delete\":{{\"_id\":\"x1\"}}}}\n\
             {{\"index\":{{}}}}\nnot json\n\
             {{\"update\":{{\"_id\":\"x1\"}}}}\n{{\"doc\":{{}}}}\n"
        );
        let items = bulk(body.as_bytes(), Some("filebeat-8"), LIMITS, now()).expect("under the limits");
        let summary: Vec<(&str, usize, Option<&str>, bool)> =
            items.iter().map(|i| (i.action.name(), i.line, i.index.as_deref(), i.event.is_ok())).collect();
        assert_eq!(
            summary,
            [
                ("create", 2, Some("logs-o365.audit-default"), true),
                ("index", 4, Some("filebeat-8"), true),
                ("delete", 5, Some("filebeat-8"), false),
                ("index", 7, Some("filebeat-8"), false),
                ("update", 8, Some("filebeat-8"), false),
            ]
        );
        let dkim = items[0].event.as_ref().expect("normalized");
        assert_eq!(dkim.event_id, "9d1c");
        assert!(dkim.document.contains("\"action\":\"Set-DkimSigningConfig\""), "{}", dkim.document);
        assert_eq!(items[1].event.as_ref().map(|e| e.event_id.as_str()), Ok("x1"));
        assert!(items[3].reason().expect("bad json").starts_with("line 7: invalid JSON at column 2"));
    }

    #[test]
    fn event_bodies_are_ndjson_or_arrays() {
        let ndjson = format!("{RAW}\n\n[1]\n{{\"message\":\"m\"}}\n");
        let items = events(ndjson.as_bytes(), None, LIMITS, now(), &|_| auto_id()).expect("under the limits");
        let lines: Vec<(usize, bool)> = items.iter().map(|i| (i.line, i.event.is_ok())).collect();
        assert_eq!(lines, [(1, true), (3, false), (4, true)]);
        assert_eq!(items[0].event.as_ref().map(|e| e.index.as_str()), Ok("logs-o365.audit-default"));
        let array = format!("[{RAW}, 7]");
        let items = events(array.as_bytes(), Some("mine"), LIMITS, now(), &|_| auto_id()).expect("under the limits");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].event.as_ref().map(|e| e.index.as_str()), Ok("mine"));
        assert_eq!(items[1].reason().expect("not an object"), "element 2: a document must be a JSON object");
    }

    #[test]
    fn gzip_bodies_are_unpacked_within_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[b'x'; 1000]).expect("write");
        let packed = gz.finish().expect("finish");
        assert_eq!(body(&packed, true, 1000).map(|b| b.len()), Ok(1000));
        assert_eq!(body(&packed, true, 999), Err(Refused::TooLarge(999)));
        assert!(body(b"plain", true, 10).is_err());
    }
}
