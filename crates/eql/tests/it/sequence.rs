//! Sequences: Elasticsearch's state machine on small, hand-made timelines.

use serde_json::{Value, json};

use crate::{compile, groups, ids};

/// The ids of the events of each sequence `query` finds among `events` (`(seconds, category, id,
/// key)`), at most `limit`.
fn find(query: &str, events: &[(i64, &str, &str, Option<&str>)], limit: usize) -> Vec<Vec<String>> {
    let docs: Vec<Value> = events
        .iter()
        .map(|(t, category, id, key)| {
            let mut doc = json!({"t": t, "event": {"category": category, "id": id}});
            if let Some(key) = key {
                doc["host"] = json!({"id": key});
            }
            doc
        })
        .collect();
    groups(query, &docs, limit)
}

#[test]
fn events_follow_in_time_and_the_latest_pending_sequence_wins() {
    let q = "sequence [a where true] [b where true]";
    assert_eq!(find(q, &[(1, "a", "a1", None), (2, "b", "b1", None)], 10), ids(&[&["a1", "b1"]]));
    assert_eq!(
        find(q, &[(2, "a", "a1", None), (1, "b", "b1", None)], 10),
        ids(&[]),
        "input order does not matter, time does"
    );
    // Two pending in the same state: the most recent one takes the next stage.
    assert_eq!(
        find(q, &[(1, "a", "a1", None), (2, "a", "a2", None), (3, "b", "b1", None), (4, "b", "b2", None)], 10),
        ids(&[&["a2", "b1"]])
    );
    // Equal times keep the input's order.
    assert_eq!(find(q, &[(1, "a", "a1", None), (1, "b", "b1", None)], 10), ids(&[&["a1", "b1"]]));
    assert_eq!(find(q, &[(1, "b", "b1", None), (1, "a", "a1", None)], 10), ids(&[]));
}

#[test]
fn join_keys_maxspan_until_and_runs() {
    let q = "sequence by host.id [a where true] [b where true]";
    let events = [
        (1, "a", "a1", Some("h1")),
        (2, "a", "a2", Some("h2")),
        (3, "b", "b2", Some("h2")),
        (4, "b", "b1", Some("h1")),
    ];
    assert_eq!(find(q, &events, 10), ids(&[&["a1", "b1"], &["a2", "b2"]]));
    assert_eq!(find(q, &events, 1), ids(&[&["a1", "b1"]]), "the limit keeps the oldest first events");
    let tail = format!("{q} | tail 1");
    assert_eq!(find(&tail, &events, 10), ids(&[&["a2", "b2"]]), "`| tail 1` keeps the newest");
    assert_eq!(find(&format!("{q} | head 1"), &events, 10), ids(&[&["a1", "b1"]]));
    // A key without a value takes no part, unless it is optional.
    assert_eq!(find(q, &[(1, "a", "a1", None), (2, "b", "b1", None)], 10), ids(&[]));
    let optional = "sequence by ?host.id [a where true] [b where true]";
    assert_eq!(find(optional, &[(1, "a", "a1", None), (2, "b", "b1", None)], 10), ids(&[&["a1", "b1"]]));
    // maxspan: every event within it of the first (equal is within).
    let span = "sequence with maxspan=10s [a where true] [b where true]";
    assert_eq!(find(span, &[(0, "a", "a1", None), (10, "b", "b1", None)], 10), ids(&[&["a1", "b1"]]));
    assert_eq!(find(span, &[(0, "a", "a1", None), (11, "b", "b1", None)], 10), ids(&[]));
    // until: A, B, C by ID matches A,B and A,B,C but not A,C,B (Elasticsearch's example).
    let until = "sequence by host.id [a where true] [b where true] until [c where true]";
    let timeline = [
        (1, "a", "a1", Some("1")),
        (2, "b", "b1", Some("1")),
        (3, "a", "a2", Some("2")),
        (4, "b", "b2", Some("2")),
        (5, "c", "c2", Some("2")),
        (6, "a", "a3", Some("3")),
        (7, "c", "c3", Some("3")),
        (8, "b", "b3", Some("3")),
    ];
    assert_eq!(find(until, &timeline, 10), ids(&[&["a1", "b1"], &["a2", "b2"]]));
    // runs=3 is the term three times.
    let runs = "sequence [a where true] with runs=3 [b where true]";
    let many = [(1, "a", "a1", None), (2, "a", "a2", None), (3, "a", "a3", None), (4, "b", "b1", None)];
    assert_eq!(find(runs, &many, 10), ids(&[&["a1", "a2", "a3", "b1"]]));
    assert_eq!(find(runs, &many[1..], 10), ids(&[]));
}

#[test]
fn term_keys_join_across_fields_and_unsupported_parts_are_errors() {
    let q = "sequence [a where true] by host.id [b where true] by host.id";
    assert_eq!(find(q, &[(1, "a", "a1", Some("x")), (2, "b", "b1", Some("x"))], 10), ids(&[&["a1", "b1"]]));
    assert_eq!(
        compile("sequence [a where true] by x [b where true]"),
        Err("every term needs as many join keys as the others".to_owned())
    );
    assert_eq!(
        compile("sequence by length(x) [a where true] [b where true]"),
        Err("join keys other than fields are not supported yet".to_owned())
    );
}

#[test]
fn a_line_takes_part_when_it_holds_the_literals_of_one_term() {
    let catalog = ecs::Catalog::builtin();
    let q = r#"sequence by host.id
        [process where process.name : "CMD.exe" and process.args : "*WHOAMI*"]
        [network where destination.port == 4444]"#;
    let literals = eql::parse(q).expect("parses").literals(catalog, "event.category", &|_| ecs::Copied::ValueAndName);
    let texts: Vec<String> = literals.clauses()[0].iter().map(|t| String::from_utf8_lossy(t).into_owned()).collect();
    // The first term by its most selective part, found in any case (its others checked with
    // it); the second by its category, the port being a number.
    assert_eq!(texts, ["cmd.exe", "network"]);
    let held = |line: &str| literals.may_match(line.as_bytes());
    assert!(held(r#"{"event":{"category":"process"},"process":{"name":"cmd.EXE","args":["/c","WhoAmI"]}}"#));
    assert!(!held(r#"{"event":{"category":"process"},"process":{"name":"bash","args":["whoami"]}}"#));
    assert!(!held(r#"{"event":{"category":"process"},"process":{"name":"cmd.exe","args":["dir"]}}"#));
    assert!(held(r#"{"event":{"category":"network"},"destination":{"port":4444}}"#));
    assert!(!held(r#"{"event":{"category":"file"},"file":{"name":"whoami.txt"}}"#));
    // The events of these sequences all pass it (checked by `groups` for every test here).
    let docs = [
        json!({"t": 1, "event": {"category": "process", "id": "p"}, "host": {"id": "h"},
               "process": {"name": "Cmd.Exe", "args": ["/c", "whoami /all"]}}),
        json!({"t": 2, "event": {"category": "network", "id": "n"}, "host": {"id": "h"}, "destination": {"port": 4444}}),
    ];
    assert_eq!(groups(q, &docs, 10), ids(&[&["p", "n"]]));
}

#[test]
fn missing_events_discard_sequences_as_elasticsearch_checks_them() {
    // In the middle: a `b` between the `a` and the `c` of the same key discards it.
    let middle = "sequence by host.id with maxspan=1m [a where true] ![b where true] [c where true]";
    assert_eq!(find(middle, &[(1, "a", "a1", Some("h")), (3, "c", "c1", Some("h"))], 10), ids(&[&["a1", "c1"]]));
    assert_eq!(
        find(middle, &[(1, "a", "a1", Some("h")), (2, "b", "b1", Some("h")), (3, "c", "c1", Some("h"))], 10),
        ids(&[])
    );
    assert_eq!(
        find(middle, &[(1, "a", "a1", Some("h")), (2, "b", "b1", Some("other")), (3, "c", "c1", Some("h"))], 10),
        ids(&[&["a1", "c1"]])
    );
    // Trailing: a logon not followed by a logoff within maxspan (Elasticsearch's example).
    let trailing = "sequence by host.id with maxspan=10s [a where true] ![b where true]";
    assert_eq!(find(trailing, &[(0, "a", "a1", Some("h"))], 10), ids(&[&["a1"]]));
    assert_eq!(find(trailing, &[(0, "a", "a1", Some("h")), (5, "b", "b1", Some("h"))], 10), ids(&[]));
    assert_eq!(
        find(trailing, &[(0, "a", "a1", Some("h")), (10, "b", "b1", Some("h"))], 10),
        ids(&[]),
        "equal is within"
    );
    assert_eq!(find(trailing, &[(0, "a", "a1", Some("h")), (11, "b", "b1", Some("h"))], 10), ids(&[&["a1"]]));
    // Leading: no `b` within maxspan before the sequence's last event.
    let leading = "sequence by host.id with maxspan=10s ![b where true] [a where true] [c where true]";
    assert_eq!(
        find(leading, &[(0, "b", "b1", Some("h")), (5, "a", "a1", Some("h")), (8, "c", "c1", Some("h"))], 10),
        ids(&[])
    );
    assert_eq!(
        find(leading, &[(0, "b", "b1", Some("h")), (15, "a", "a1", Some("h")), (18, "c", "c1", Some("h"))], 10),
        ids(&[&["a1", "c1"]])
    );
}

/// Elasticsearch's own walk-through of the state machine ("How sequence queries handle
/// matches"): `attrib`, `bash`, `cat` by user over eleven events gives [2, 4, 9] for root and
/// [6, 8, 10] for elkbee.
#[test]
fn elasticsearchs_documented_example() {
    let q = r#"sequence by host.id [process where event.id in ("1", "2", "6", "7")] [process where event.id in ("3", "4", "5", "8")] [process where event.id in ("9", "10", "11")]"#;
    let (root, elkbee) = (Some("root"), Some("elkbee"));
    let events = [
        (1, "process", "1", root),
        (2, "process", "2", root),
        (3, "process", "3", elkbee),
        (4, "process", "4", root),
        (5, "process", "5", root),
        (6, "process", "6", elkbee),
        (7, "process", "7", root),
        (8, "process", "8", elkbee),
        (9, "process", "9", root),
        (10, "process", "10", elkbee),
        (11, "process", "11", root),
    ];
    assert_eq!(find(q, &events, 10), ids(&[&["2", "4", "9"], &["6", "8", "10"]]));
}
