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
    let bad_time = br#"{"CreationTime":"soon","Id":"9d1c","Operation":"x","RecordType":1}"#;
    assert!(events.to_store_bytes(bad_time, None, None, engine::Unnamed::Digest).is_none(), "its error is reported");
    let kept = events.to_store_bytes(br#"{"event":{"id":"e1"}, "n": 1.50}"#, None, None, engine::Unnamed::Digest);
    assert_eq!(
        kept.map(|e| e.document)
            .as_deref()
            .map(|d| d.starts_with(r#"{"event":{"id":"e1","ingested":"#) && d.ends_with(r#"},"n":1.50}"#)),
        Some(true),
        "values kept as sent"
    );
}

/// A raw Office 365 record stored from its bytes (normalized from its text, then placed) is the
/// event stored from it decoded: for the generator's records and every real-format sample
/// (`../shared`), and a record whose keys are escaped.
#[test]
fn raw_records_from_bytes_are_raw_records_decoded() {
    let Some(shared) = testkit::shared_dir() else { return };
    let generated = std::process::Command::new("python3")
        .arg(shared.join("tools/gen_o365.py"))
        .args(["--count", "3000", "--shape", "raw", "--seed", "5", "--positives-every", "20"])
        .output()
        .expect("python3 runs the generator");
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let mut lines: Vec<String> =
        String::from_utf8(generated.stdout).expect("UTF-8").lines().map(str::to_owned).collect();
    for entry in std::fs::read_dir(shared.join("conformance/o365-samples")).expect("samples").flatten() {
        if entry.path().extension().is_some_and(|e| e == "ndjson") {
            let text = std::fs::read_to_string(entry.path()).expect("readable");
            lines.extend(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned));
        }
    }
    lines.push(r#"{"Cr\u0065ationTime":"2026-03-02T08:14:05","Id":"9d1c","Operation":"Set-Mailbox","RecordType":1,"UserId":"a\u00e9@contoso.com"}"#.to_owned());
    let now = Timestamp::parse("2026-03-02T09:00:00.123456Z", false).expect("valid");
    let events = engine::Events::for_ingest(now);
    let fresh = || "fresh".to_owned();
    for line in &lines {
        let record: Value = serde_json::from_str(line).expect("JSON");
        assert!(o365::is_raw_record(&record), "{line}");
        let fast = events.to_store_bytes(line.as_bytes(), None, None, engine::Unnamed::Named(&fresh));
        let fast = fast.unwrap_or_else(|| panic!("stored from its bytes: {line}"));
        let slow = events.to_store(record, None, None, engine::Unnamed::Named(&fresh)).expect("stored");
        assert_eq!(
            (&fast.index, &fast.event_id, fast.timestamp, fast.ingested),
            (&slow.index, &slow.event_id, slow.timestamp, slow.ingested)
        );
        let (fast_doc, slow_doc): (Value, Value) =
            (serde_json::from_str(&fast.document).expect("JSON"), serde_json::from_str(&slow.document).expect("JSON"));
        assert_eq!(fast_doc, slow_doc, "{line}");
    }
}
