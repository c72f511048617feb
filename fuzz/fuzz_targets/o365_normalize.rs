//! Raw Office 365 records: normalizing any JSON value never panics, and what it makes is a
//! document (a JSON object) with an `@timestamp`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let options = o365::Options { agent_fields: true, ..o365::Options::default() };
    if let Ok(doc) = o365::normalize(record, &options) {
        assert!(doc.is_object(), "{doc}");
        assert!(doc.get("@timestamp").is_some(), "{doc}");
    }
});
