//! Ingest from bytes gives the events ingest from decoded documents gives: the same index,
//! identity, time and document (as JSON), `event.ingested` set in both.

use ecs::date::Timestamp;
use proptest::prelude::*;
use serde_json::{Value, json};

fn member() -> impl Strategy<Value = (String, Value)> {
    let scalar = prop::sample::select(vec![
        json!("o365.audit"),
        json!("e1"),
        json!("2026-03-02T08:14:05Z"),
        json!(5),
        json!(null),
        json!("a \"quoted\" \u{d6}rebro"),
    ]);
    let key = prop::sample::select(vec![
        "@timestamp",
        "event",
        "event.id",
        "event.ingested",
        "event.dataset",
        "data_stream",
        "data_stream.dataset",
        "message",
        "host",
    ]);
    let inner_key = prop::sample::select(vec!["id", "ingested", "dataset", "type", "namespace", "action"]);
    let object = prop::collection::vec((inner_key, scalar.clone()), 0..4)
        .prop_map(|members| Value::Object(members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    let value =
        prop_oneof![2 => scalar, 2 => object.clone(), 1 => prop::collection::vec(object, 1..3).prop_map(Value::Array)];
    (key, value).prop_map(|(k, v)| (k.to_owned(), v))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ingest_from_bytes_is_ingest_from_the_decoded_document(
        members in prop::collection::vec(member(), 0..6),
        pretty in any::<bool>(),
        index in prop::option::of(prop::sample::select(vec!["logs-x-default", ".ds-logs-o365.audit-default-2026.03.02-000001"])),
        id in prop::option::of(Just("given")),
    ) {
        let document = Value::Object(members.into_iter().collect());
        let line = if pretty { serde_json::to_string_pretty(&document) } else { serde_json::to_string(&document) };
        let line = line.expect("serializable").replace('\n', " ");
        let now = Timestamp::parse("2026-03-02T09:00:00.123456Z", false).expect("valid");
        let events = engine::Events::for_ingest(now);
        let fresh = || "fresh".to_owned();
        let Some(fast) = events.to_store_bytes(line.as_bytes(), index, id, engine::Unnamed::Named(&fresh)) else {
            // Left to the decoding path: only an `event` that is not an object.
            prop_assert!(document.get("event").is_some_and(|e| !e.is_object()), "{line}");
            return Ok(());
        };
        let slow = events.to_store(document, index, id, engine::Unnamed::Named(&fresh)).expect("stored");
        prop_assert_eq!((&fast.index, &fast.event_id, fast.timestamp, fast.ingested), (&slow.index, &slow.event_id, slow.timestamp, slow.ingested));
        let (fast_doc, slow_doc): (Value, Value) =
            (serde_json::from_str(&fast.document).expect("JSON"), serde_json::from_str(&slow.document).expect("JSON"));
        prop_assert_eq!(fast_doc, slow_doc);
    }
}

#[test]
fn what_needs_decoding_is_left_to_the_decoding_path() {
    let now = Timestamp::now();
    assert!(engine::prepare_bytes(b"[1]", None, None, None, now).is_none(), "not an object");
    assert!(engine::prepare_bytes(br#"{"message":"m"}"#, None, None, None, now).is_none(), "named by its digest");
    let events = engine::Events::for_ingest(now);
    let raw = br#"{"CreationTime":"2026-03-02T08:14:05","Id":"9d1c","Operation":"x","RecordType":1}"#;
    assert!(events.to_store_bytes(raw, None, None, engine::Unnamed::Digest).is_none(), "a raw record is normalized");
    let escaped = br#"{"CreationTime":"2026-03-02T08:14:05","Id":"9d1c","Operation":"x","RecordType":1}"#;
    assert!(events.to_store_bytes(escaped, None, None, engine::Unnamed::Digest).is_none(), "keys are read decoded");
    let kept = events.to_store_bytes(br#"{"event":{"id":"e1"}, "n": 1.50}"#, None, None, engine::Unnamed::Digest);
    assert_eq!(
        kept.map(|e| e.document)
            .as_deref()
            .map(|d| d.starts_with(r#"{"event":{"id":"e1","ingested":"#) && d.ends_with(r#"},"n":1.50}"#)),
        Some(true),
        "values kept as sent"
    );
}
