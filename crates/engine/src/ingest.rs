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
