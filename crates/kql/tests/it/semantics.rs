//! vigil's matching semantics, pinned as data (`tests/data/semantics.toml`).

use ecs::date::Timestamp;
use ecs::{Catalog, Document};
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    query: String,
    doc: String,
    #[serde(rename = "match")]
    expected: bool,
    #[serde(default)]
    note: String,
}

#[test]
fn documents_match_as_elasticsearch_would() {
    let cases: Vec<Case> = crate::cases(include_str!("../data/semantics.toml"));
    let now = Timestamp::parse("2024-03-31T10:20:30Z", false).expect("valid date");
    let mut failures = Vec::new();
    for case in &cases {
        // A 1025-character value stands in for "longer than ignore_above".
        let doc = case.doc.replace("LONG1025", &"x".repeat(1025));
        let doc = Document::parse(&doc).expect("test documents are JSON");
        let query = kql::parse(&case.query).expect("test queries parse");
        let matcher = query.compile_at(Catalog::builtin(), now).expect("test queries compile");
        if matcher.matches(&doc) != case.expected {
            failures.push(format!("{} on {} should be {} ({})", case.query, case.doc, case.expected, case.note));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
