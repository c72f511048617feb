//! Records to events: the one stage every source's records go through, whether they are
//! scanned (`vigil scan`) or stored (bulk bodies, watched files, Office 365 blobs).
//!
//! A raw Office 365 audit record (Management Activity API content, a Purview export's
//! `AuditData`) is normalized as Elastic's integration does; an ECS document, or anything else
//! that is a JSON object, is an event as it is. What cannot become an event is a
//! [`RecordError`], reported with its position ([`Problem`]), and the rest go on.

use ecs::date::Timestamp;
use serde_json::Value;

use crate::ingest::prepare;
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

/// The record-to-event stage, with the normalizer's settings.
#[derive(Clone, Debug)]
pub struct Events {
    options: o365::Options,
}

impl Events {
    /// For records read from files: events carry what Elastic Agent adds (`data_stream.*`,
    /// `event.ingested` from their own time).
    pub fn for_scan() -> Events {
        Events { options: o365::Options { agent_fields: true, ..o365::Options::default() } }
    }

    /// For records stored now: as [`Events::for_scan`], ingested at `now`.
    pub fn for_ingest(now: Timestamp) -> Events {
        Events { options: o365::Options { agent_fields: true, ingested: Some(now), ..o365::Options::default() } }
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

    /// A record on its way into the store: a JSON object, normalized when it is a raw Office 365
    /// record (each record decides for itself), then stamped, placed in `index` (or its data
    /// stream) and named by `id` (or its own identity) by [`prepare`].
    ///
    /// # Errors
    ///
    /// When the record is not an object, or a raw record that cannot be normalized.
    pub fn to_store(&self, record: Value, index: Option<&str>, id: Option<&str>) -> Result<NewEvent, RecordError> {
        let Value::Object(_) = record else { return Err(RecordError::NotAnObject) };
        let format = Format::of(&record);
        let event = self.event(record, format)?;
        let now = self.options.ingested.unwrap_or_else(Timestamp::now);
        Ok(prepare(event, index, id, now))
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
        let stored = events.to_store(raw, None, None).expect("normalizes");
        assert_eq!((stored.index.as_str(), stored.event_id.as_str()), ("logs-o365.audit-default", "9d1c"));
        let ecs = json!({"@timestamp": "2026-03-02T08:00:00Z", "event": {"id": "e1"}});
        assert_eq!(Format::of(&ecs), Format::Ecs);
        assert_eq!(events.to_store(ecs, Some("logs-x-default"), None).expect("as is").event_id, "e1");
        assert_eq!(events.to_store(json!([1]), None, None), Err(RecordError::NotAnObject));
        let broken = json!({"Operation": "x", "RecordType": 1, "CreationTime": 5});
        assert!(matches!(events.to_store(broken, None, None), Err(RecordError::O365(_))));
    }
}
