//! Records to events: the one stage every source's records go through, whether they are
//! scanned (`vigil scan`) or stored (bulk bodies, watched files, Office 365 blobs).
//!
//! A raw Office 365 audit record (Management Activity API content, a Purview export's
//! `AuditData`) is normalized as Elastic's integration does; an ECS document, or anything else
//! that is a JSON object, is an event as it is. What cannot become an event is a
//! [`RecordError`], reported with its position ([`Problem`]), and the rest go on.

use ecs::Path;
use ecs::date::Timestamp;
use serde_json::Value;

use crate::ingest::{is_raw_line, prepare, prepare_bytes};
use crate::storage::NewEvent;

/// What a source's records are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// ECS documents (or anything else), taken as they are.
    Ecs,
    /// Raw Office 365 audit records, normalized first.
    RawO365,
}

impl Format {
    /// The format `record` is in: raw Office 365 when it has the fields of one (`CreationTime`,
    /// `Operation`, `RecordType`) and no `@timestamp`.
    pub fn of(record: &Value) -> Format {
        if o365::is_raw_record(record) { Format::RawO365 } else { Format::Ecs }
    }
}

/// Why a record did not become an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// It is not JSON (or not a whole JSON document).
    #[error("{0}")]
    Json(String),
    /// A row of a Purview export that cannot be read.
    #[error("{0}")]
    Csv(String),
    /// It is JSON, but not an object.
    #[error("a document must be a JSON object")]
    NotAnObject,
    /// A raw Office 365 record that cannot be normalized; the normalizer's message says why
    /// (`CreationTime \`x\` is not an ISO 8601 date`).
    #[error("{0}")]
    O365(String),
}

/// A record that did not become an event, and where it was: its line (or array element, or
/// CSV row) in its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line, element or row.
    pub line: u64,
    /// Why.
    pub error: RecordError,
}

/// How an event with no identity of its own (no id given, no `event.id`) is named in the store.
#[derive(Clone, Copy)]
pub enum Unnamed<'a> {
    /// By a digest of its document: the same document is the same event, stored once.
    Digest,
    /// By the id this makes: a new one each time, as Elasticsearch names id-less documents
    /// (identical lines stay distinct events, and a batch sent again is stored again), or one
    /// from where the record was read (a line of a watched file, read again after a crash, is
    /// the same event).
    Named(&'a dyn Fn() -> String),
}

impl std::fmt::Debug for Unnamed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unnamed::Digest => "Digest",
            Unnamed::Named(_) => "Named",
        })
    }
}

/// The record-to-event stage, with the normalizer's settings.
#[derive(Clone, Debug)]
pub struct Events {
    options: o365::Options,
}

impl Events {
    /// For records read from files: events carry what Elastic Agent adds (`data_stream.*`,
    /// `event.ingested` from their own time).
    pub fn for_scan() -> Events {
        Events::with_options(o365::Options { agent_fields: true, ..o365::Options::default() })
    }

    /// For records stored now: as [`Events::for_scan`], ingested at `now`.
    pub fn for_ingest(now: Timestamp) -> Events {
        Events::with_options(o365::Options { agent_fields: true, ingested: Some(now), ..o365::Options::default() })
    }

    /// With these normalizer settings (tenant names, `event.original`).
    pub fn with_options(options: o365::Options) -> Events {
        Events { options }
    }

    /// The event a record of `format` stands for.
    ///
    /// # Errors
    ///
    /// A raw record that cannot be normalized.
    pub fn event(&self, record: Value, format: Format) -> Result<Value, RecordError> {
        match format {
            Format::Ecs => Ok(record),
            Format::RawO365 => o365::normalize(record, &self.options).map_err(|e| RecordError::O365(e.to_string())),
        }
    }

    /// [`Events::event`] for a raw Office 365 record still in its line: the document is written
    /// to `out` as compact JSON, the same bytes as [`Events::event`]'s document, without a
    /// `serde_json::Value` in between (`o365::normalize_line`).
    ///
    /// # Errors
    ///
    /// When the line is not JSON, or a record that cannot be normalized; `out` is unchanged.
    pub fn raw_event_line(&self, line: &[u8], out: &mut Vec<u8>) -> Result<(), RecordError> {
        o365::normalize_line(line, &self.options, out).map_err(|e| match e {
            o365::NormalizeError::Json(message) => RecordError::Json(message),
            other => RecordError::O365(other.to_string()),
        })
    }

    /// A record on its way into the store: a JSON object, normalized when it is a raw Office 365
    /// record (each record decides for itself), then stamped, placed in `index` (or its data
    /// stream) and named by `id`, else its own `event.id` (an Office 365 record's `Id`), else as
    /// [`Unnamed`] says, by [`prepare`].
    ///
    /// # Errors
    ///
    /// When the record is not an object, or a raw record that cannot be normalized.
    pub fn to_store(
        &self,
        record: Value,
        index: Option<&str>,
        id: Option<&str>,
        unnamed: Unnamed<'_>,
    ) -> Result<NewEvent, RecordError> {
        let Value::Object(_) = record else { return Err(RecordError::NotAnObject) };
        let format = Format::of(&record);
        let event = self.event(record, format)?;
        let now = self.options.ingested.unwrap_or_else(Timestamp::now);
        let fresh = match (id, unnamed) {
            (None, Unnamed::Named(name)) if Path::new("event.id").first_text(&event).is_none() => Some(name()),
            _ => None,
        };
        Ok(prepare(event, index, id.or(fresh.as_deref()), now))
    }

    /// [`Events::to_store`] for a record still in its bytes: an ECS document is placed, named and
    /// stamped without being decoded whole ([`prepare_bytes`]); a raw Office 365 record is
    /// normalized from its text ([`Events::raw_event_line`]) and its document placed the same
    /// way. `None` for what must be decoded (what `prepare_bytes` leaves, and a raw record that
    /// cannot be normalized, whose error [`Events::to_store`] reports): [`Events::to_store`]
    /// takes those.
    pub fn to_store_bytes(
        &self,
        line: &[u8],
        index: Option<&str>,
        id: Option<&str>,
        unnamed: Unnamed<'_>,
    ) -> Option<NewEvent> {
        let now = self.options.ingested.unwrap_or_else(Timestamp::now);
        let fresh = match unnamed {
            Unnamed::Named(name) => Some(name),
            Unnamed::Digest => None,
        };
        if let Some(event) = prepare_bytes(line, index, id, fresh, now) {
            return Some(event);
        }
        if !is_raw_line(line) {
            return None;
        }
        let mut document = Vec::with_capacity(line.len() * 2);
        self.raw_event_line(line, &mut document).ok()?;
        prepare_bytes(&document, index, id, fresh, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RAW: &str = r#"{"CreationTime":"2026-03-02T08:14:05","Id":"9d1c","Operation":"Set-DkimSigningConfig","RecordType":1,"ResultStatus":"True","UserId":"admin@contoso.com","Workload":"Exchange","OrganizationId":"t1","Parameters":[{"Name":"Enabled","Value":"False"}]}"#;

    #[test]
    fn each_record_is_normalized_when_raw_and_kept_when_ecs() {
        let now = Timestamp::parse("2026-03-02T09:00:00Z", false).expect("valid");
        let events = Events::for_ingest(now);
        let raw: Value = serde_json::from_str(RAW).expect("JSON");
        assert_eq!(Format::of(&raw), Format::RawO365);
        let stored = events.to_store(raw, None, None, Unnamed::Digest).expect("normalizes");
        assert_eq!((stored.index.as_str(), stored.event_id.as_str()), ("logs-o365.audit-default", "9d1c"));
        let ecs = json!({"@timestamp": "2026-03-02T08:00:00Z", "event": {"id": "e1"}});
        assert_eq!(Format::of(&ecs), Format::Ecs);
        assert_eq!(events.to_store(ecs, Some("logs-x-default"), None, Unnamed::Digest).expect("as is").event_id, "e1");
        assert_eq!(events.to_store(json!([1]), None, None, Unnamed::Digest), Err(RecordError::NotAnObject));
        let broken = json!({"Operation": "x", "RecordType": 1, "CreationTime": 5});
        assert!(matches!(events.to_store(broken, None, None, Unnamed::Digest), Err(RecordError::O365(_))));
    }

    #[test]
    fn unnamed_events_are_one_by_digest_or_named_each_time() {
        let now = Timestamp::parse("2026-03-02T09:00:00Z", false).expect("valid");
        let events = Events::for_ingest(now);
        let line = json!({"message": "Failed password for root"});
        let store = |record: &Value, id, unnamed| events.to_store(record.clone(), None, id, unnamed).expect("stored");
        let (a, b) = (store(&line, None, Unnamed::Digest), store(&line, None, Unnamed::Digest));
        assert_eq!(a.event_id, b.event_id, "by digest: the same document, one event");
        let next = std::cell::Cell::new(0);
        let new_id = || {
            next.set(next.get() + 1);
            format!("auto-{}", next.get())
        };
        let (a, b) = (store(&line, None, Unnamed::Named(&new_id)), store(&line, None, Unnamed::Named(&new_id)));
        assert_ne!(a.event_id, b.event_id, "named each time: identical lines stay two events");
        // A given id, or the record's own, still names it, and no id is made for it.
        assert_eq!(store(&line, Some("x1"), Unnamed::Named(&new_id)).event_id, "x1");
        assert_eq!(store(&json!({"event": {"id": "e1"}}), None, Unnamed::Named(&new_id)).event_id, "e1");
        assert_eq!(next.get(), 2);
    }
}
