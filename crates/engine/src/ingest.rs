//! Events on their way into the store: stamped with `event.ingested`, placed in an index, given
//! an identity.

use ecs::date::Timestamp;
use ecs::{Path, Value};
use serde_json::json;

use crate::alert::event_id;
use crate::index::{event_index, resolve_backing};
use crate::storage::NewEvent;

/// Prepares a decoded ECS document for [`crate::storage::EventLog::append`]: sets
/// `event.ingested` to `now` (as Elastic's pipelines do, replacing any value a shipper set), and
/// takes the index from `index` (the bulk request's target) or the document's data stream or
/// dataset (empty when unknown), and the identity from `id` (the bulk action's `_id`) or the
/// document's `event.id`, else a digest of the document.
pub fn prepare(mut document: Value, index: Option<&str>, id: Option<&str>, now: Timestamp) -> NewEvent {
    let ingested = now.truncate_to_millis();
    if let Value::Object(map) = &mut document {
        map.remove("event.ingested");
        match map.entry("event").or_insert_with(|| json!({})) {
            Value::Object(event) => {
                event.insert("ingested".into(), json!(ingested.to_string()));
            }
            other => *other = json!({"ingested": ingested.to_string()}),
        }
    }
    let index = index.map(|i| resolve_backing(i).to_owned()).or_else(|| event_index(&document)).unwrap_or_default();
    let event_id = match id {
        Some(id) => id.to_owned(),
        // The digest leaves out `event.ingested`, which differs on each delivery.
        None => match Path::new("event.id").first_text(&document) {
            Some(id) => id,
            None => {
                let mut unstamped = document.clone();
                if let Some(Value::Object(event)) = unstamped.get_mut("event") {
                    event.remove("ingested");
                }
                event_id(&unstamped, None)
            }
        },
    };
    let timestamp = Path::new("@timestamp").first_text(&document).and_then(|t| Timestamp::parse(&t, false));
    NewEvent { index, event_id, timestamp, ingested, document: document.to_string() }
}

/// Whether `line` is a raw Office 365 record (a JSON object with its keys).
pub(crate) fn is_raw_line(line: &[u8]) -> bool {
    Entries::parse(line).is_some_and(|top| top.is_raw_record())
}

/// [`prepare`] for a document still in its bytes, read only as far as placing, naming and
/// stamping it needs: its top-level values are kept as they were sent (as Elasticsearch keeps
/// `_source`), `event.ingested` is written into its `event` object (replacing one a shipper
/// set, and a top-level `event.ingested`), and only `@timestamp`, `event.*` and `data_stream.*`
/// are decoded. `fresh` names a document that has neither `id` nor `event.id`. `None` when this
/// does not apply: not a JSON object, a raw Office 365 record, an `event` that is not an object,
/// or unnamed with no `fresh` (its identity is a digest of the decoded document); the caller
/// decodes it and calls [`prepare`] (through [`crate::Events::to_store`]).
pub fn prepare_bytes(
    line: &[u8],
    index: Option<&str>,
    id: Option<&str>,
    fresh: Option<&dyn Fn() -> String>,
    now: Timestamp,
) -> Option<NewEvent> {
    let top = Entries::parse(line)?;
    // A raw Office 365 record is normalized first.
    if top.is_raw_record() {
        return None;
    }
    // The fields that place, name and date it.
    let mut read = serde_json::Map::new();
    for (key, raw) in &top.0 {
        let wanted =
            key == "@timestamp" || key.split('.').next().is_some_and(|head| head == "event" || head == "data_stream");
        if wanted && key != "event.ingested" {
            let value: Value = serde_json::from_str(raw.get()).ok()?;
            // An `event` that is not an object is `prepare`'s to replace.
            if key == "event" && !value.is_object() {
                return None;
            }
            read.insert(key.clone(), value);
        }
    }
    let read = Value::Object(read);
    let own_id = Path::new("event.id").first_text(&read);
    let event_id = match (id, own_id, fresh) {
        (Some(id), _, _) => id.to_owned(),
        (None, Some(own), _) => own,
        (None, None, Some(fresh)) => fresh(),
        (None, None, None) => return None,
    };
    let ingested = now.truncate_to_millis();
    let stamp = serde_json::to_string(&ingested.to_string()).ok()?;
    let mut document = String::with_capacity(line.len() + 48);
    document.push('{');
    let mut stamped = false;
    for (key, raw) in top.0.iter().filter(|(key, _)| key != "event.ingested") {
        if document.len() > 1 {
            document.push(',');
        }
        document.push_str(&serde_json::to_string(key).ok()?);
        document.push(':');
        if key == "event" && !stamped {
            stamped = true;
            let mut event = Entries::parse(raw.get().as_bytes()).unwrap_or_default();
            event.set("ingested", &stamp);
            event.write(&mut document)?;
        } else {
            document.push_str(raw.get());
        }
    }
    if !stamped {
        if document.len() > 1 {
            document.push(',');
        }
        document.push_str("\"event\":{\"ingested\":");
        document.push_str(&stamp);
        document.push('}');
    }
    document.push('}');
    let index = index.map(|i| resolve_backing(i).to_owned()).or_else(|| event_index(&read)).unwrap_or_default();
    let timestamp = Path::new("@timestamp").first_text(&read).and_then(|t| Timestamp::parse(&t, false));
    Some(NewEvent { index, event_id, timestamp, ingested, document })
}

/// An object's members with their values still in their bytes, in order; a repeated key keeps
/// its first place and its last value (as a decoded map does).
#[derive(Default)]
struct Entries(Vec<(String, Box<serde_json::value::RawValue>)>);

impl Entries {
    /// The members of the JSON object `text`; `None` when it is not one.
    fn parse(text: &[u8]) -> Option<Entries> {
        serde_json::from_slice(text).ok()
    }

    /// Whether these are a raw Office 365 record's members (told by its decoded keys).
    fn is_raw_record(&self) -> bool {
        o365::has_raw_keys(|key| self.0.iter().any(|(k, _)| k == key))
    }

    /// Sets `key` to the JSON `value`.
    fn set(&mut self, key: &str, value: &str) {
        let raw = serde_json::value::RawValue::from_string(value.to_owned()).ok();
        let Some(raw) = raw else { return };
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => *old = raw,
            None => self.0.push((key.to_owned(), raw)),
        }
    }

    fn write(&self, out: &mut String) -> Option<()> {
        out.push('{');
        for (at, (key, raw)) in self.0.iter().enumerate() {
            if at > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(key).ok()?);
            out.push(':');
            out.push_str(raw.get());
        }
        out.push('}');
        Some(())
    }
}

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Entries, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out: Vec<(String, Box<serde_json::value::RawValue>)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Box<serde_json::value::RawValue>>()? {
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, old)) => *old = value,
                        None => out.push((key, value)),
                    }
                }
                Ok(Entries(out))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_stamped_placed_and_named() {
        let now = Timestamp::parse("2026-03-02T08:20:00.123456Z", false).expect("valid");
        let doc = json!({"@timestamp": "2026-03-02T08:14:05Z", "event": {"id": "r1", "dataset": "o365.audit", "ingested": "x"}});
        let event = prepare(doc, None, None, now);
        assert_eq!((event.index.as_str(), event.event_id.as_str()), ("logs-o365.audit-default", "r1"));
        assert_eq!(event.timestamp, Timestamp::parse("2026-03-02T08:14:05Z", false));
        let stored: Value = serde_json::from_str(&event.document).expect("json");
        assert_eq!(stored["event"]["ingested"], "2026-03-02T08:20:00.123Z");
        let named = prepare(json!({"message": "m"}), Some("filebeat-8"), Some("abc"), now);
        assert_eq!((named.index.as_str(), named.event_id.as_str()), ("filebeat-8", "abc"));
        let backing =
            prepare(json!({"message": "m"}), Some(".ds-logs-o365.audit-default-2026.03.02-000001"), None, now);
        assert_eq!(backing.index, "logs-o365.audit-default", "a backing index is stored as its data stream");
    }

    #[test]
    fn the_same_document_delivered_twice_has_one_identity() {
        let doc = json!({"message": "no id"});
        let a = prepare(doc.clone(), None, None, Timestamp::from_millis(1));
        let b = prepare(doc, None, None, Timestamp::from_millis(2));
        assert_eq!(a.event_id, b.event_id);
        assert_eq!(a.index, "");
    }
}
