//! The eql crate's integration tests: the parser on written cases, matching, sequences and
//! samples on hand-made events, and Elastic's rule corpus.

mod corpus;
mod differential;
mod eval;
mod parse;
mod sample;
mod sequence;

use serde_json::Value;

/// The ids (`event.id`) of the events of each sequence or sample `query` finds among `docs`,
/// each offered at its `t` (seconds), at most `limit`.
pub fn groups(query: &str, docs: &[Value], limit: usize) -> Vec<Vec<String>> {
    found(query, docs, limit).sequences
}

/// What the sequence or sample `query` finds among `docs` (see [`groups`]).
pub fn found(query: &str, docs: &[Value], limit: usize) -> eql::Found<String> {
    let parsed = eql::parse(query).unwrap_or_else(|e| panic!("{}", e.snippet(query, "query")));
    let matcher = parsed.sequence_matcher(ecs::Catalog::builtin(), "event.category").expect("compiles");
    // The prefilter keeps the line of every event that can take part.
    let literals = parsed.literals(ecs::Catalog::builtin(), "event.category", &|_| ecs::Copied::ValueAndName);
    for doc in docs.iter().filter(|d| matcher.takes(d)) {
        let line = doc.to_string();
        assert!(literals.may_match(line.as_bytes()), "{query}: literals {:?} not in {line}", literals.clauses());
    }
    let offered = docs
        .iter()
        .map(|doc| eql::Event {
            time: doc["t"].as_i64().expect("a time") * 1_000_000_000,
            doc,
            handle: doc["event"]["id"].as_str().unwrap_or("").to_owned(),
        })
        .collect();
    matcher.find(offered, limit)
}

/// Whether the sequence or sample `query` compiles, or why not.
pub fn compile(query: &str) -> Result<(), String> {
    let parsed = eql::parse(query).unwrap_or_else(|e| panic!("{}", e.snippet(query, "query")));
    parsed.sequence_matcher(ecs::Catalog::builtin(), "event.category").map(|_| ()).map_err(|e| e.to_string())
}

/// `list` as owned strings.
pub fn ids(list: &[&[&str]]) -> Vec<Vec<String>> {
    list.iter().map(|s| s.iter().map(|i| (*i).to_owned()).collect()).collect()
}
