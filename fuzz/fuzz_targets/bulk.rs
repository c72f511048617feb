//! Elasticsearch bulk bodies and NDJSON (or JSON array) event bodies: reading them never panics,
//! every bulk item points at a line of the body and no more come out than it has lines, and every
//! event accepted is a JSON document stamped with `event.ingested`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::ingest::{self, Item, Limits};

fn accepted_events_are_documents(items: &[Item]) {
    for event in items.iter().filter_map(|item| item.event.as_ref().ok()) {
        let doc: serde_json::Value = serde_json::from_str(&event.document).expect("stored documents are JSON");
        assert!(doc["event"]["ingested"].is_string(), "{doc}");
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_line: 4096, max_items: 1000 };
    let now = ecs::date::Timestamp::from_millis(1_772_439_245_000);
    let lines = data.split(|&b| b == b'\n').count();
    let Ok(items) = ingest::bulk(data, Some("logs-fuzz-default"), limits, now) else { return };
    assert!(items.len() <= limits.max_items);
    assert!(items.len() <= lines, "{} items from {lines} lines", items.len());
    for item in &items {
        assert!((1..=lines).contains(&item.line), "item at line {} of {lines}", item.line);
    }
    accepted_events_are_documents(&items);
    if let Ok(items) = ingest::events(data, None, limits, now, &|line| format!("fuzz-{line}")) {
        assert!(items.len() <= limits.max_items);
        accepted_events_are_documents(&items);
    }
});
