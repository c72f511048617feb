//! The SQLite store, and the engine's scheduled executions on it.

mod checkpoints;
mod eql;
mod events;
mod executions;
mod terms;

use ecs::date::Timestamp;
use engine::storage::NewEvent;
use serde_json::{Value, json};

/// A time in the tests' day.
fn at(text: &str) -> Timestamp {
    Timestamp::parse(&format!("2026-03-02T{text}Z"), false).expect("a valid time")
}

/// A DKIM-disabling record in ECS form, as the o365 integration indexes it.
fn dkim(id: &str, time: &str) -> Value {
    json!({
        "@timestamp": format!("2026-03-02T{time}Z"),
        "event": {"id": id, "dataset": "o365.audit", "provider": "Exchange", "category": ["web"],
                  "action": "Set-DkimSigningConfig", "outcome": "success"},
        "o365": {"audit": {"Parameters": {"Enabled": "False"}}},
        "user": {"name": "admin"}
    })
}

/// Another Exchange record, which no rule of the built-in pack matches.
fn quiet(id: &str, time: &str) -> Value {
    json!({"@timestamp": format!("2026-03-02T{time}Z"),
           "event": {"id": id, "dataset": "o365.audit", "provider": "Exchange", "action": "MailItemsAccessed"}})
}

fn new_event(doc: Value, ingested: Timestamp) -> NewEvent {
    engine::prepare(doc, None, None, ingested)
}

/// One scheduled execution of `rule` at `start`: its record.
fn run(store: &store::Sqlite, rule: &rules::Rule, start: Timestamp) -> engine::storage::ExecutionRecord {
    let records = engine::schedule::execute(
        store,
        ecs::Catalog::builtin(),
        std::slice::from_ref(rule),
        &Default::default(),
        &engine::schedule::Silent,
        start,
        engine::schedule::Trigger::Scheduled,
    )
    .expect("runs");
    records.into_iter().next().expect("a record")
}

fn open() -> (tempfile::TempDir, store::Sqlite) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = store::Sqlite::open(dir.path()).expect("a new store opens");
    (dir, store)
}
