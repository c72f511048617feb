//! Threshold and new terms rules executed on the store: their memory across executions and
//! restarts, and the same alerts as a brute-force re-scan of every event.

use std::collections::BTreeSet;

use ecs::date::Timestamp;
use engine::storage::{AlertFilter, AlertStore, EventLog};
use proptest::prelude::*;
use rules::Rule;
use serde_json::{Value, json};

use crate::{at, new_event, open, run};

fn rule(kind: &str, extra: &str) -> Rule {
    let text = format!(
        "[rule]\nrule_id = \"{kind}\"\nname = \"{kind}\"\ndescription = \"test\"\ntype = \"{kind}\"\nlanguage = \"kuery\"\nrisk_score = 50\nseverity = \"high\"\nquery = 'event.action:login'\ninterval = \"5m\"\n{extra}\n"
    );
    let mut loaded = rules::load_toml(std::path::Path::new("test.toml"), &text);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded.rules.remove(0)
}

fn new_terms_rule(fields: &str, history: &str) -> Rule {
    rule(
        "new_terms",
        &format!(
            "from = \"now-9m\"\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = {fields}\n[[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"{history}\"\n"
        ),
    )
}

fn login(id: &str, time: Timestamp, user: &str) -> Value {
    json!({"@timestamp": time.to_string(), "event": {"id": id, "action": "login", "dataset": "o365.audit"},
           "user": {"name": user}})
}

/// The stored alerts as (event id, the fields the rule type adds).
fn alerted(store: &store::Sqlite) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    store
        .alerts(&AlertFilter::default(), &mut |a| {
            let id = a.document["kibana.alert.ancestors"][0]["id"].as_str().unwrap_or_default().to_owned();
            let added =
                a.document.get("kibana.alert.new_terms").or_else(|| a.document.get("kibana.alert.threshold_result"));
            out.insert((id, added.map(Value::to_string).unwrap_or_default()));
            true
        })
        .expect("alerts");
    out
}

#[test]
fn new_terms_remember_across_executions_and_restarts() {
    let (dir, store) = open();
    let rule = new_terms_rule("[\"user.name\"]", "now-1h");
    store.append(&[new_event(login("a1", at("10:01:00"), "alice"), at("10:01:05"))]).expect("append");
    assert_eq!(run(&store, &rule, at("10:05:00")).alerts, 1, "first seen");
    store.append(&[new_event(login("a2", at("10:12:00"), "alice"), at("10:12:05"))]).expect("append");
    assert_eq!(run(&store, &rule, at("10:10:00")).alerts, 0);
    drop(store);
    let store = store::Sqlite::open(dir.path()).expect("reopens");
    assert_eq!(run(&store, &rule, at("10:15:00")).alerts, 0, "seen 11 minutes before, remembered");
    // Two hours later alice is new again; bob, late (ingested now, 40 minutes old), is new.
    store
        .append(&[
            new_event(login("a3", at("12:31:00"), "alice"), at("12:31:05")),
            new_event(login("b1", at("11:55:00"), "bob"), at("12:32:00")),
        ])
        .expect("append");
    let record = run(&store, &rule, at("12:35:00"));
    assert_eq!((record.alerts, record.late, record.terms), (2, 1, 2));
    // A late event whose term was seen within a history span before it is not new.
    store.append(&[new_event(login("b0", at("11:30:00"), "bob"), at("12:36:00"))]).expect("append");
    store.append(&[new_event(login("b2", at("11:56:00"), "bob"), at("12:37:00"))]).expect("append");
    let record = run(&store, &rule, at("12:40:00"));
    assert_eq!(record.alerts, 1, "b0 is new (nothing in the hour before it), b2 is not (b1 a minute before)");
    let ids: Vec<String> = alerted(&store).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["a1", "a3", "b0", "b1"]);
}

#[test]
fn a_new_terms_index_is_rebuilt_when_the_rule_changes() {
    let (_dir, store) = open();
    let rule = new_terms_rule("[\"user.name\"]", "now-1h");
    let mut events = vec![new_event(login("a1", at("10:01:00"), "alice"), at("10:01:05"))];
    events.push(new_event(login("a2", at("10:20:00"), "alice"), at("10:20:05")));
    store.append(&events).expect("append");
    run(&store, &rule, at("10:05:00"));
    // The same rule on another field: its index is built from the stored history, so alice's
    // host (seen at 10:01) is not new at 10:20 either.
    let mut on_host = new_terms_rule("[\"user.name\", \"event.dataset\"]", "now-1h");
    on_host.id = rule.id.clone();
    let record = run(&store, &on_host, at("10:25:00"));
    assert_eq!(record.alerts, 0, "{record:?}");
}

/// Three logins of alice, a second apart from 10:`minute`, ingested as they happen.
fn three(prefix: &str, minute: u32) -> Vec<engine::storage::NewEvent> {
    (0..3)
        .map(|i| {
            let time = at(&format!("10:{minute:02}:0{i}"));
            new_event(login(&format!("{prefix}{i}"), time, "alice"), time)
        })
        .collect()
}

fn threshold_rule() -> Rule {
    rule("threshold", "from = \"now-30m\"\n[rule.threshold]\nfield = [\"user.name\"]\nvalue = 3\n")
}

#[test]
fn threshold_windows_overlap_without_alerting_twice() {
    let (dir, store) = open();
    let rule = threshold_rule();
    store.append(&three("a", 1)).expect("append");
    store.append(&[new_event(login("b0", at("10:02:00"), "bob"), at("10:02:00"))]).expect("append");
    assert_eq!(run(&store, &rule, at("10:05:00")).alerts, 1);
    assert_eq!(run(&store, &rule, at("10:10:00")).alerts, 0, "her three events counted already");
    drop(store);
    let store = store::Sqlite::open(dir.path()).expect("reopens");
    store.append(&three("c", 12)).expect("append");
    assert_eq!(run(&store, &rule, at("10:15:00")).alerts, 1, "three new ones, after the restart");
    assert_eq!(run(&store, &rule, at("10:20:00")).alerts, 0);
    let results: Vec<Value> = alerted(&store)
        .into_iter()
        .map(|(_, result)| serde_json::from_str(&result).expect("json"))
        .collect::<Vec<Value>>();
    let counts: Vec<(u64, &str)> =
        results.iter().map(|r| (r["count"].as_u64().unwrap_or(0), r["from"].as_str().unwrap_or(""))).collect();
    assert!(counts.contains(&(3, "2026-03-02T10:01:00.000Z")) && counts.contains(&(3, "2026-03-02T10:12:00.000Z")));
}

/// Kibana's new terms semantics by brute force: every execution re-reads every event.
fn brute_force(events: &[(String, Timestamp, String)], starts: &[Timestamp]) -> BTreeSet<(String, String)> {
    let minutes = |m: i64| m * 60_000_000_000;
    let mut out = BTreeSet::new();
    for start in starts {
        let (from, history) = (start.as_nanos() - minutes(9), start.as_nanos() - minutes(120));
        let mut first: std::collections::BTreeMap<&str, (Timestamp, usize)> = Default::default();
        for (at, (_, time, user)) in events.iter().enumerate() {
            if time.as_nanos() >= from && *time <= *start {
                let entry = first.entry(user).or_insert((*time, at));
                *entry = (*entry).min((*time, at));
            }
        }
        for (user, (_, at)) in first {
            let seen = events.iter().any(|(_, t, u)| u == user && t.as_nanos() >= history && t.as_nanos() < from);
            if !seen {
                out.insert((events[at].0.clone(), json!([user]).to_string()));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// The store's incremental index gives the alerts of a re-scan of all events.
    #[test]
    fn the_index_gives_the_alerts_of_a_full_rescan(
        events in proptest::collection::vec((0i64..360, 0usize..4), 1..60)
    ) {
        let (_dir, store) = open();
        let rule = new_terms_rule("[\"user.name\"]", "now-2h");
        let base = at("08:00:00").as_nanos();
        let mut events: Vec<(String, Timestamp, String)> = events
            .into_iter()
            .enumerate()
            .map(|(i, (minute, user))| {
                let time = Timestamp::from_nanos(base + minute * 60_000_000_000 + (i as i64 % 7) * 1_000_000_000);
                (format!("e{i}"), time, ["alice", "bob", "carol", "dave"][user].to_owned())
            })
            .collect();
        events.sort_by_key(|(_, time, _)| *time);
        let starts: Vec<Timestamp> =
            (0..=74).map(|n| Timestamp::from_nanos(base + n * 5 * 60_000_000_000)).collect();
        let mut next = 0;
        for &start in &starts {
            let due: Vec<_> = events[next..]
                .iter()
                .take_while(|(_, time, _)| *time <= start)
                .map(|(id, time, user)| new_event(login(id, *time, user), *time))
                .collect();
            next += due.len();
            store.append(&due).expect("append");
            run(&store, &rule, start);
        }
        prop_assert_eq!(alerted(&store), brute_force(&events, &starts));
    }
}

#[test]
fn a_suppressing_threshold_rule_adds_a_groups_next_alert_to_its_first() {
    let (_dir, store) = open();
    let mut rule = threshold_rule();
    rule.fields["alert_suppression"] = json!({"duration": {"value": 1, "unit": "h"}});
    store.append(&three("a", 1)).expect("append");
    assert_eq!(run(&store, &rule, at("10:05:00")).alerts, 1);
    store.append(&three("c", 12)).expect("append");
    assert_eq!(run(&store, &rule, at("10:15:00")).alerts, 0, "suppressed into the first");
    let mut docs = Vec::new();
    store
        .alerts(&AlertFilter::default(), &mut |a| {
            docs.push(a.document);
            true
        })
        .expect("alerts");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["kibana.alert.suppression.docs_count"], 1);
}
