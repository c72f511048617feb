//! KQL text: parsing never panics, a parsed query prints to text that parses back to the same
//! query, and compiling and matching it never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(query) = kql::parse(text) else { return };
    let printed = query.to_string();
    let again = kql::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} (printed from {text:?}) does not parse: {e}"));
    assert_eq!(again, query, "printing {text:?} as {printed:?} changed the query");
    let catalog = ecs::Catalog::builtin();
    let _ = query.to_dsl(catalog);
    let literals = query.required_literals(catalog);
    if let Ok(matcher) = query.compile(catalog) {
        let doc = serde_json::json!({"event": {"action": text, "category": ["web"]}, "message": text, "source": {"ip": "10.0.0.1"}});
        let line = doc.to_string();
        if matcher.matches(&ecs::Document::new(doc)) {
            assert!(literals.may_match(line.as_bytes()), "{text:?} matches {line} but its prefilter drops it");
        }
    }
});
