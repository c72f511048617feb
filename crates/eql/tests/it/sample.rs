//! Samples: events that share join keys, one per term in any order, as Elasticsearch's
//! `SampleIterator` picks them, on small hand-made events.

use serde_json::{Value, json};

use crate::{compile, found, groups, ids};

/// An event of `category` at `t` seconds, with id `id` and the fields of `more`.
fn event(t: i64, category: &str, id: &str, more: Value) -> Value {
    let mut doc = json!({"t": t, "event": {"category": category, "id": id}});
    if let (Some(doc), Value::Object(more)) = (doc.as_object_mut(), more) {
        doc.extend(more);
    }
    doc
}

fn host(t: i64, category: &str, id: &str, host: &str) -> Value {
    event(t, category, id, json!({"host": {"id": host}}))
}

#[test]
fn events_that_share_keys_in_any_order_one_per_term_in_the_order_of_their_keys() {
    let q = "sample by host.id [a where true] [b where true]";
    let events =
        [host(1, "b", "b2", "h2"), host(2, "a", "a2", "h2"), host(3, "a", "a1", "h1"), host(4, "b", "b1", "h1")];
    // In term order whatever their times; the keys sorted (h1 before h2, though h2 came first).
    assert_eq!(groups(q, &events, 10), ids(&[&["a1", "b1"], &["a2", "b2"]]));
    // A key value that a term has no event for gives nothing.
    assert_eq!(groups(q, &[host(1, "a", "a1", "h1"), host(2, "b", "b1", "h2")], 10), ids(&[]));
    // At most the limit, the first keys; `| head` and `| tail` as for sequences.
    let limited = found(q, &events, 1);
    assert_eq!((limited.sequences, limited.beyond_limit), (ids(&[&["a1", "b1"]]), 1));
    assert_eq!(groups(&format!("{q} | tail 1"), &events, 10), ids(&[&["a2", "b2"]]));
    assert_eq!(groups(&format!("{q} | head 1"), &events, 10), ids(&[&["a1", "b1"]]));
    // Without keys, all events share the empty one.
    assert_eq!(groups("sample [a where true] [b where true]", &events, 10), ids(&[&["a2", "b2"]]));
}

#[test]
fn an_event_fills_one_term_of_a_sample_and_the_first_events_are_tried_first() {
    let q = "sample by host.id [any where true] [any where true]";
    assert_eq!(groups(q, &[host(1, "a", "e1", "h")], 10), ids(&[]), "one event cannot be two");
    assert_eq!(groups(q, &[host(2, "a", "e2", "h"), host(1, "a", "e1", "h")], 10), ids(&[&["e1", "e2"]]));
    // Each term keeps its first events (as many as there are terms) in time order, then the
    // first combination of different events is taken, trying earlier ones first.
    let q = r#"sample by host.id
        [any where event.id in ("d1", "d2", "d3")]
        [any where event.id in ("d4", "d5")]
        [any where event.id in ("d3", "d4", "d5")]"#;
    let events: Vec<Value> = (1..=5).map(|i| host(i, "x", &format!("d{i}"), "h")).collect();
    assert_eq!(groups(q, &events, 10), ids(&[&["d1", "d4", "d3"]]));
    // One event in every term's list and another only in the last: no three different ones.
    let q = r#"sample by host.id [any where event.id == "d1"] [any where event.id == "d1"] [any where true]"#;
    assert_eq!(groups(q, &events[..3], 10), ids(&[]));
    // The earliest event of a term is taken, whatever the order given.
    let q = "sample by host.id [a where true] [b where true]";
    let late_first = [host(9, "a", "a9", "h"), host(3, "a", "a3", "h"), host(5, "b", "b5", "h")];
    assert_eq!(groups(q, &late_first, 10), ids(&[&["a3", "b5"]]));
}

#[test]
fn keys_of_each_term_optional_keys_and_multi_valued_ones() {
    // A term's own keys follow the shared ones, and join across fields.
    let q = "sample by host.id [a where true] by user.id [b where true] by user.target.id";
    let a = event(1, "a", "a1", json!({"host": {"id": "h"}, "user": {"id": "u1"}}));
    let b = event(2, "b", "b1", json!({"host": {"id": "h"}, "user": {"target": {"id": "u1"}}}));
    let other = event(3, "b", "b2", json!({"host": {"id": "h"}, "user": {"target": {"id": "u2"}}}));
    assert_eq!(groups(q, &[a, b, other], 10), ids(&[&["a1", "b1"]]));
    // A required key without a value takes no part; an optional one joins the others without.
    let events = [
        host(1, "a", "a1", "h"),
        host(2, "b", "b1", "h"),
        event(3, "a", "a2", json!({})),
        event(4, "b", "b2", json!({})),
    ];
    assert_eq!(groups("sample by host.id [a where true] [b where true]", &events, 10), ids(&[&["a1", "b1"]]));
    assert_eq!(
        groups("sample by ?host.id [a where true] [b where true]", &events, 10),
        ids(&[&["a2", "b2"], &["a1", "b1"]]),
        "a missing value sorts first"
    );
    // A field with several values is under each of them.
    let both = event(1, "a", "a1", json!({"host": {"id": ["h1", "h2"]}}));
    let events = [both, host(2, "b", "b1", "h1"), host(3, "b", "b2", "h2")];
    assert_eq!(
        groups("sample by host.id [a where true] [b where true]", &events, 10),
        ids(&[&["a1", "b1"], &["a1", "b2"]])
    );
}

#[test]
fn keys_join_and_sort_as_their_fields_are_typed() {
    let q = |key: &str| format!("sample by {key} [a where true] [b where true]");
    let pair = |key: Value, n: &str| {
        let doc = |t, cat: &str| {
            let mut doc = event(t, cat, &format!("{cat}{n}"), json!({}));
            let path: Vec<&str> = key["path"].as_str().unwrap_or("").split('.').collect();
            doc[path[0]] = json!({path[1]: key["value"].clone()});
            doc
        };
        [doc(1, "a"), doc(2, "b")]
    };
    let run = |key: &str, values: [Value; 2]| {
        let events: Vec<Value> = values
            .into_iter()
            .enumerate()
            .flat_map(|(i, v)| pair(json!({"path": key, "value": v}), &i.to_string()))
            .collect();
        groups(&q(key), &events, 10)
    };
    // Numbers as numbers, keywords as text, IP addresses as addresses.
    assert_eq!(run("process.pid", [json!(10), json!(9)]), ids(&[&["a1", "b1"], &["a0", "b0"]]));
    assert_eq!(run("host.id", [json!("10"), json!("9")]), ids(&[&["a0", "b0"], &["a1", "b1"]]));
    assert_eq!(run("source.ip", [json!("10.0.0.10"), json!("10.0.0.9")]), ids(&[&["a1", "b1"], &["a0", "b0"]]));
    // Values join as the field holds them: one number, one instant, one address.
    let q = |key: &str| format!("sample by {key} [a where true] [b where true]");
    let joined = |key: &str, a: Value, b: Value| {
        let path: Vec<&str> = key.split('.').collect();
        let doc = |t, cat: &str, v: Value| {
            let mut doc = event(t, cat, cat, json!({}));
            doc[path[0]] = json!({path[1]: v});
            doc
        };
        groups(&q(key), &[doc(1, "a", a), doc(2, "b", b)], 10)
    };
    assert_eq!(joined("process.pid", json!(7), json!("7.0")), ids(&[&["a", "b"]]));
    assert_eq!(joined("file.created", json!("2022-12-17"), json!("1671235200000")), ids(&[&["a", "b"]]));
    assert_eq!(joined("source.ip", json!("::ffff:10.0.0.1"), json!("10.0.0.1")), ids(&[&["a", "b"]]));
    assert_eq!(joined("host.id", json!("7"), json!("7.0")), ids(&[]), "a keyword's text is its value");
    let (big, next) = (json!(9_007_199_254_740_993_i64), json!("9007199254740992"));
    assert_eq!(joined("process.pid", big, next), ids(&[]), "longs past 2^53 stay apart");
}

#[test]
fn a_corpus_rule_shape_and_what_does_not_compile() {
    // Five files opened by one process, in any order (the shape of Elastic's meterpreter rule).
    let q = r#"sample by host.id, process.pid, user.id
        [file where file.path == "/etc/machine-id"]
        [file where file.path == "/etc/passwd"]
        [file where file.path == "/proc/net/route"]"#;
    let open = |t, id: &str, path: &str, pid: i64| {
        event(
            t,
            "file",
            id,
            json!({"host": {"id": "h"}, "user": {"id": "0"}, "process": {"pid": pid}, "file": {"path": path}}),
        )
    };
    let events = [
        open(1, "route", "/proc/net/route", 7),
        open(2, "passwd", "/etc/passwd", 7),
        open(3, "id", "/etc/machine-id", 7),
        open(4, "other", "/etc/machine-id", 8),
    ];
    assert_eq!(groups(q, &events, 10), ids(&[&["id", "passwd", "route"]]));
    assert_eq!(
        compile("sample [a where true] by host.id [b where true]"),
        Err("every term needs as many join keys as the others".to_owned())
    );
    assert_eq!(
        compile("sample by length(host.id) [a where true] [b where true]"),
        Err("join keys other than fields are not supported yet".to_owned())
    );
    assert_eq!(compile("sample by host.id [a where true] [b where true] | tail 2"), Ok(()));
}
