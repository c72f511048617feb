//! EQL rules executed on the store: an event query alerts as a query rule does; the window's
//! sequences and samples alert once, as building blocks and a shell sharing a group id.

use engine::storage::{AlertFilter, AlertStore, EventLog};
use serde_json::{Value, json};

use crate::{at, new_event, open, run};

fn rule(query: &str) -> rules::Rule {
    let text = format!(
        "[rule]\nrule_id = \"seq\"\nname = \"Failures then a success\"\ndescription = \"test\"\ntype = \"eql\"\nlanguage = \"eql\"\nrisk_score = 50\nseverity = \"high\"\ninterval = \"5m\"\nfrom = \"now-9m\"\nquery = '''{query}'''\n"
    );
    let mut loaded = rules::load_toml(std::path::Path::new("seq.toml"), &text);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded.rules.remove(0)
}

const SEQUENCE: &str = r#"sequence by user.name with maxspan=5m
  [authentication where event.outcome == "failure"] with runs=2
  [authentication where event.outcome == "success"]"#;

fn login(id: &str, time: &str, user: &str, outcome: &str) -> Value {
    json!({"@timestamp": format!("2026-03-02T{time}Z"), "event": {"id": id, "category": ["authentication"], "outcome": outcome},
           "user": {"name": user}})
}

#[test]
fn a_sequence_alerts_once_as_building_blocks_and_a_shell() {
    let (_dir, store) = open();
    let events = [
        login("a1", "10:00:00", "alice", "failure"),
        login("b1", "10:00:10", "bob", "failure"),
        login("a2", "10:00:20", "alice", "failure"),
        login("a3", "10:01:00", "alice", "success"),
        login("b2", "10:01:10", "bob", "success"),
    ];
    let stored: Vec<_> = events.into_iter().map(|e| new_event(e, at("10:02:00"))).collect();
    store.append(&stored).expect("stored");
    let rule = rule(SEQUENCE);
    let first = run(&store, &rule, at("10:05:00"));
    assert_eq!((first.alerts, first.candidates), (4, 1), "{:?}", first.warnings);
    // The next execution's window holds the same sequence: it is not alerted again.
    let second = run(&store, &rule, at("10:06:00"));
    assert_eq!((second.alerts, second.candidates), (0, 1));
    let mut alerts = Vec::new();
    store
        .alerts(&AlertFilter::default(), &mut |a| {
            alerts.push(a.document);
            true
        })
        .expect("alerts");
    assert_eq!(alerts.len(), 4);
    let group = alerts[0]["kibana.alert.group.id"].clone();
    assert!(alerts.iter().all(|a| a["kibana.alert.group.id"] == group));
    let mut blocks: Vec<(i64, String)> = alerts
        .iter()
        .filter(|a| a["kibana.alert.building_block_type"] == "default")
        .map(|a| {
            (a["kibana.alert.group.index"].as_i64().unwrap_or(-1), a["event"]["id"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    blocks.sort();
    assert_eq!(blocks, [(0, "a1".to_owned()), (1, "a2".to_owned()), (2, "a3".to_owned())]);
    let shell = alerts.iter().find(|a| a.get("kibana.alert.building_block_type").is_none()).expect("the shell");
    assert_eq!(shell["kibana.alert.uuid"], group);
    assert_eq!(shell["user"]["name"], "alice");
    assert_eq!(shell["kibana.alert.ancestors"].as_array().map(Vec::len), Some(3));
    assert_eq!(shell["kibana.alert.rule.rule_type_id"], "siem.eqlRule");
}

#[test]
fn an_event_query_alerts_as_a_query_rule_does() {
    let (_dir, store) = open();
    let events = [login("a1", "10:00:00", "alice", "failure"), login("a2", "10:00:20", "alice", "success")];
    let stored: Vec<_> = events.into_iter().map(|e| new_event(e, at("10:02:00"))).collect();
    store.append(&stored).expect("stored");
    let rule = rule(r#"authentication where event.outcome : "SUCCESS""#);
    let record = run(&store, &rule, at("10:05:00"));
    assert_eq!((record.alerts, record.candidates), (1, 1));
    let mut alerted = Vec::new();
    store
        .alerts(&AlertFilter::default(), &mut |a| {
            alerted.push((a.document["event"]["id"].clone(), a.document["kibana.alert.rule.type"].clone()));
            true
        })
        .expect("alerts");
    assert_eq!(alerted, [(json!("a2"), json!("eql"))]);
}

#[test]
fn a_sample_alerts_once_per_key_whatever_the_order_and_late_events_count() {
    let (_dir, store) = open();
    let events = [
        login("a1", "10:00:00", "alice", "failure"),
        login("a2", "10:00:20", "alice", "success"),
        login("b1", "10:00:30", "bob", "success"),
        login("b2", "10:00:40", "bob", "failure"),
        login("c1", "10:00:50", "carol", "success"),
    ];
    let stored: Vec<_> = events.into_iter().map(|e| new_event(e, at("10:02:00"))).collect();
    store.append(&stored).expect("stored");
    let rule = rule(
        r#"sample by user.name
  [authentication where event.outcome == "success"]
  [authentication where event.outcome == "failure"]"#,
    );
    let first = run(&store, &rule, at("10:05:00"));
    assert_eq!((first.alerts, first.candidates), (6, 2), "{:?}", first.warnings);
    assert_eq!(run(&store, &rule, at("10:06:00")).alerts, 0, "the same samples are not alerted again");
    // Carol's failure arrives late, still in the next window: her sample alerts then.
    store.append(&[new_event(login("c2", "10:01:00", "carol", "failure"), at("10:06:30"))]).expect("stored");
    let third = run(&store, &rule, at("10:07:00"));
    assert_eq!((third.alerts, third.candidates), (3, 3));
    let mut blocks = Vec::new();
    store
        .alerts(&AlertFilter::default(), &mut |a| {
            if let Some(index) = a.document["kibana.alert.group.index"].as_i64() {
                blocks.push((
                    a.document["user"]["name"].as_str().unwrap_or("").to_owned(),
                    index,
                    a.document["event"]["id"].clone(),
                ));
            }
            true
        })
        .expect("alerts");
    blocks.sort_by_key(|b| (b.0.clone(), b.1));
    let expected: Vec<(String, i64, Value)> = [
        ("alice", 0, "a2"),
        ("alice", 1, "a1"),
        ("bob", 0, "b1"),
        ("bob", 1, "b2"),
        ("carol", 0, "c1"),
        ("carol", 1, "c2"),
    ]
    .into_iter()
    .map(|(user, index, id)| (user.to_owned(), index, json!(id)))
    .collect();
    assert_eq!(blocks, expected, "one event per term, numbered in term order");
}
