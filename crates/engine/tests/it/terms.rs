//! Threshold and new terms rules replayed execution by execution.

use engine::{Position, Replay, ReplayReport, RuleSet, ScanOptions, Scanner};
use serde_json::Value;

use crate::{compile, typed_rule};

/// Scans `events` (one JSON object each) and replays the set's schedule.
fn replay(set: &RuleSet<'_>, events: &[Value]) -> ReplayReport {
    let mut scanner = Scanner::new(set, ScanOptions { index: None });
    let mut replay = Replay::new(set);
    for (i, event) in events.iter().enumerate() {
        let line = event.to_string();
        scanner
            .scan_line(line.as_bytes(), Position { source: "t", line: i as u64 + 1 }, &mut replay)
            .expect("infallible");
    }
    replay.run(set)
}

/// Each alert: (execution start, its event's line, the fields it adds).
fn alerts(set: &RuleSet<'_>, report: &ReplayReport) -> Vec<(String, u64, Value)> {
    let mut out = Vec::new();
    report
        .for_each_alert(set, |started, hit| {
            let doc = hit.document(started);
            let added = doc.get("kibana.alert.new_terms").or_else(|| doc.get("kibana.alert.threshold_result"));
            out.push((started.to_string(), hit.position.line, added.cloned().unwrap_or(Value::Null)));
            Ok::<_, std::convert::Infallible>(true)
        })
        .expect("infallible");
    out
}

fn login(id: usize, time: &str, user: &str, ip: &str) -> Value {
    serde_json::json!({"@timestamp": time, "event": {"action": "login", "id": format!("{user}{id}")},
        "user": {"name": user}, "source": {"ip": ip}})
}

fn new_terms(fields: &str, history: &str) -> RuleSet<'static> {
    let extra = format!(
        "interval = \"5m\"\nfrom = \"now-9m\"\n[rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = {fields}\n[[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"{history}\"\n"
    );
    compile(vec![typed_rule("new_terms", "nt", "event.action:login", &extra)])
}

#[test]
fn a_term_alerts_when_its_history_has_not_seen_it() {
    let set = new_terms("[\"user.name\"]", "now-1h");
    let events = [
        login(0, "2026-03-02T10:00:30Z", "alice", "10.0.0.1"), // first seen
        login(1, "2026-03-02T10:01:00Z", "alice", "10.0.0.1"), // same window, not first
        login(2, "2026-03-02T10:20:00Z", "alice", "10.0.0.1"), // seen 20 min before
        login(3, "2026-03-02T10:02:00Z", "bob", "10.0.0.2"),   // first seen
        login(4, "2026-03-02T12:00:00Z", "bob", "10.0.0.2"),   // last seen 2 h before: outside
    ];
    let report = replay(&set, &events);
    let got = alerts(&set, &report);
    let lines: Vec<u64> = got.iter().map(|(_, line, _)| *line).collect();
    assert_eq!(lines, [1, 4, 5]);
    assert_eq!(got[0].2, serde_json::json!(["alice"]));
    assert_eq!(got[0].0, "2026-03-02T10:05:00.000Z", "the first execution whose window holds it");
    assert_eq!(report.rules[0].alerts, 3);
}

#[test]
fn a_term_just_past_the_history_is_new_in_a_later_execution() {
    let set = new_terms("[\"user.name\"]", "now-62m");
    let events =
        [login(0, "2026-03-02T09:00:30Z", "alice", "10.0.0.1"), login(1, "2026-03-02T10:01:00Z", "alice", "10.0.0.1")];
    // Executions holding 10:01 are 10:05 (history from 09:03) and 10:10 (from 09:08): both past
    // 09:00:30, so the first one alerts.
    let got = alerts(&set, &replay(&set, &events));
    assert_eq!(
        got.iter().map(|a| (a.0.as_str(), a.1)).collect::<Vec<_>>(),
        [("2026-03-02T09:05:00.000Z", 1), ("2026-03-02T10:05:00.000Z", 2)]
    );
    let set = new_terms("[\"user.name\"]", "now-66m");
    // 10:05's history starts 08:59 (seen at 09:00:30), 10:10's at 09:04 (not seen): Kibana's later
    // execution finds it new.
    let got = alerts(&set, &replay(&set, &events));
    assert_eq!(
        got.iter().map(|a| (a.0.as_str(), a.1)).collect::<Vec<_>>(),
        [("2026-03-02T09:05:00.000Z", 1), ("2026-03-02T10:10:00.000Z", 2)]
    );
}

#[test]
fn combinations_of_several_fields_and_arrays_are_terms() {
    let set = new_terms("[\"user.name\", \"source.ip\"]", "now-14d");
    let mut two_ips = login(2, "2026-03-02T10:30:00Z", "alice", "x");
    two_ips["source"]["ip"] = serde_json::json!(["10.0.0.1", "10.0.0.9"]);
    let events = [
        login(0, "2026-03-02T10:00:00Z", "alice", "10.0.0.1"),
        login(1, "2026-03-02T10:10:00Z", "bob", "10.0.0.1"),
        two_ips,
        serde_json::json!({"@timestamp": "2026-03-02T10:40:00Z", "event": {"action": "login", "id": "e3"},
            "user": {"name": "carol"}}),
    ];
    let got = alerts(&set, &replay(&set, &events));
    let terms: Vec<(u64, Value)> = got.into_iter().map(|(_, line, terms)| (line, terms)).collect();
    assert_eq!(
        terms,
        [
            (1, serde_json::json!(["alice", "10.0.0.1"])),
            (2, serde_json::json!(["bob", "10.0.0.1"])),
            (3, serde_json::json!(["alice", "10.0.0.9"])),
        ]
    );
}

fn threshold(extra: &str) -> RuleSet<'static> {
    let extra = format!("interval = \"5m\"\nfrom = \"now-30m\"\n{extra}");
    compile(vec![typed_rule("threshold", "th", "event.action:login", &extra)])
}

fn failures(user: &str, start_minute: u32, n: usize, ips: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let time = format!("2026-03-02T10:{:02}:{:02}Z", start_minute, i % 60);
            login(i, &time, user, &format!("10.0.0.{}", i % ips))
        })
        .collect()
}

#[test]
fn a_group_over_the_threshold_alerts_once_for_its_events() {
    let set = threshold("[rule.threshold]\nfield = [\"user.name\"]\nvalue = 5\n");
    let mut events = failures("alice", 1, 6, 1);
    events.extend(failures("bob", 2, 4, 1));
    let report = replay(&set, &events);
    let got = alerts(&set, &report);
    // Windows of 10:05 .. 10:30 all hold alice's six events: one alert, then her history.
    assert_eq!(got.len(), 1, "{got:?}");
    let result = &got[0].2;
    assert_eq!(result["count"], 6);
    assert_eq!(result["terms"], serde_json::json!([{"field": "user.name", "value": "alice"}]));
    assert_eq!(result["from"], "2026-03-02T10:01:00.000Z");
    assert_eq!(got[0].1, 6, "stands for its newest event");
    // Five more of hers later: a new alert for those only.
    let mut more = events.clone();
    more.extend((0..5).map(|i| login(100 + i, &format!("2026-03-02T10:20:0{i}Z"), "alice", "10.0.0.1")));
    let got = alerts(&set, &replay(&set, &more));
    assert_eq!(got.len(), 2);
    assert_eq!((got[1].2["count"].as_u64(), got[1].2["from"].as_str()), (Some(5), Some("2026-03-02T10:20:00.000Z")));
}

#[test]
fn cardinality_and_no_group_by() {
    let set = threshold(
        "[rule.threshold]\nfield = [\"user.name\"]\nvalue = 3\n[[rule.threshold.cardinality]]\nfield = \"source.ip\"\nvalue = 3\n",
    );
    let mut events = failures("alice", 1, 6, 2); // 2 distinct IPs
    events.extend(failures("bob", 2, 3, 3)); // 3 distinct IPs
    let got = alerts(&set, &replay(&set, &events));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2["terms"][0]["value"], "bob");
    assert_eq!(got[0].2["cardinality"], serde_json::json!([{"field": "source.ip", "value": 3}]));

    let all = threshold("[rule.threshold]\nfield = []\nvalue = 9\n");
    let got = alerts(&all, &replay(&all, &events));
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].2["count"].as_u64(), got[0].2["terms"].as_array().map(Vec::len)), (Some(9), Some(0)));
}

#[test]
fn the_rule_type_shows_in_the_alert() {
    let set = new_terms("[\"user.name\"]", "now-14d");
    let report = replay(&set, &[login(0, "2026-03-02T10:00:00Z", "alice", "10.0.0.1")]);
    report
        .for_each_alert(&set, |started, hit| {
            let doc = hit.document(started);
            assert_eq!(doc["kibana.alert.rule.rule_type_id"], "siem.newTermsRule");
            assert_eq!(doc["kibana.alert.rule.new_terms_fields"], serde_json::json!(["user.name"]));
            assert_eq!(doc["kibana.alert.rule.history_window_start"], "now-14d");
            Ok::<_, std::convert::Infallible>(true)
        })
        .expect("infallible");
}

#[test]
fn suppression_folds_a_groups_later_alerts_into_its_first() {
    let set = threshold(
        "[rule.threshold]\nfield = [\"user.name\"]\nvalue = 5\n[rule.alert_suppression]\nduration = {value = 1, unit = \"h\"}\n",
    );
    let mut events = failures("alice", 1, 5, 1);
    events.extend((0..5).map(|i| login(100 + i, &format!("2026-03-02T10:20:0{i}Z"), "alice", "10.0.0.1")));
    let report = replay(&set, &events);
    let mut docs = Vec::new();
    report
        .for_each_alert(&set, |started, hit| {
            docs.push(hit.document(started));
            Ok::<_, std::convert::Infallible>(true)
        })
        .expect("infallible");
    assert_eq!(docs.len(), 1, "the 10:25 alert of the group went into the 10:05 one");
    assert_eq!(docs[0]["kibana.alert.suppression.docs_count"], 1);
    assert_eq!(
        docs[0]["kibana.alert.suppression.terms"],
        serde_json::json!([{"field": "user.name", "value": "alice"}])
    );
    assert_eq!(docs[0]["kibana.alert.threshold_result"]["count"], 5);
    assert_eq!(report.rules[0].alerts, 1);
}
