//! Replay: executions every interval over [from, to], max_signals oldest first, truncation kept.

use engine::{Position, Replay, ScanOptions, Scanner};

use crate::{compile, rule};

fn event(id: usize, time: &str) -> String {
    format!(r#"{{"@timestamp":"{time}","event":{{"action":"x","id":"e{id}"}}}}"#)
}

#[test]
fn max_signals_truncates_and_later_executions_catch_up() {
    let set = compile(vec![rule("x", "event.action:x", "interval = \"5m\"\nfrom = \"now-30m\"\nmax_signals = 2")]);
    let mut scanner = Scanner::new(&set, ScanOptions { index: None });
    let mut replay = Replay::new(&set);
    for i in 0..20 {
        let line = event(i, &format!("2026-03-02T10:01:{:02}Z", i));
        scanner
            .scan_line(line.as_bytes(), Position { source: "t", line: i as u64 + 1 }, &mut replay)
            .expect("infallible");
    }
    let report = replay.run(&set);
    let r = &report.rules[0];
    // Six executions (10:05 to 10:30) see the events; each alerts the two oldest left.
    assert_eq!((r.executions, r.alerts, r.missed), (6, 12, 8));
    let dropped: Vec<usize> = r.truncations.iter().map(|t| t.dropped).collect();
    assert_eq!(dropped, [18, 16, 14, 12, 10, 8]);
    let mut order = Vec::new();
    report
        .for_each_alert(&set, |started, hit| {
            order.push((started.to_string(), hit.event_id.to_owned()));
            Ok::<_, std::convert::Infallible>(true)
        })
        .expect("infallible");
    assert_eq!(order[0], ("2026-03-02T10:05:00.000Z".to_owned(), "e0".to_owned()));
    assert_eq!(order[11], ("2026-03-02T10:30:00.000Z".to_owned(), "e11".to_owned()));
}

#[test]
fn events_without_a_time_are_counted_not_alerted() {
    let set = compile(vec![rule("x", "event.action:x", "timestamp_override = \"event.ingested\"")]);
    let mut scanner = Scanner::new(&set, ScanOptions { index: None });
    let mut replay = Replay::new(&set);
    let lines = [
        r#"{"event":{"action":"x","id":"a","ingested":"2026-03-02T10:00:00Z"}}"#,
        r#"{"@timestamp":"2026-03-02T10:00:00Z","event":{"action":"x","id":"b"}}"#,
        r#"{"event":{"action":"x","id":"c"}}"#,
    ];
    for (i, line) in lines.iter().enumerate() {
        scanner
            .scan_line(line.as_bytes(), Position { source: "t", line: i as u64 + 1 }, &mut replay)
            .expect("infallible");
    }
    let report = replay.run(&set);
    assert_eq!((report.rules[0].alerts, report.rules[0].untimed), (2, 1), "@timestamp is the fallback");
}

/// An EQL sequence rule replayed: each execution finds its window's sequences, alerts the oldest
/// `max_signals` of them (building blocks and a shell each), and a sequence alerts once.
#[test]
fn eql_sequences_alert_once_and_count_what_max_signals_leaves() {
    let text = "[rule]\nrule_id = \"seq\"\nname = \"seq\"\ndescription = \"d\"\ntype = \"eql\"\nlanguage = \"eql\"\nrisk_score = 50\nseverity = \"high\"\ninterval = \"5m\"\nfrom = \"now-6m\"\nmax_signals = 1\nquery = '''sequence by user.name [a where true] [b where true]'''\n";
    let mut loaded = rules::load_toml(std::path::Path::new("seq.toml"), text);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let set = compile(vec![loaded.rules.remove(0)]);
    let mut scanner = Scanner::new(&set, ScanOptions { index: None });
    let mut replay = Replay::new(&set);
    // Two users' sequences in the same minute: the execution at 10:05 finds both.
    let lines = [(1, "a", "u1"), (2, "a", "u2"), (3, "b", "u1"), (4, "b", "u2")];
    for (i, (second, category, user)) in lines.iter().enumerate() {
        let line = format!(
            r#"{{"@timestamp":"2026-03-02T10:01:0{second}Z","event":{{"category":"{category}","id":"e{i}"}},"user":{{"name":"{user}"}}}}"#
        );
        scanner
            .scan_line(line.as_bytes(), Position { source: "t", line: i as u64 + 1 }, &mut replay)
            .expect("infallible");
    }
    let report = replay.run(&set);
    let r = &report.rules[0];
    // 10:05 alerts u1's (the oldest first event) and leaves u2's; 10:10 (window 10:04-10:10)
    // no longer holds them.
    assert_eq!((r.executions, r.alerts, r.sequences_beyond_limit), (1, 3, 1));
    let mut alerted = Vec::new();
    report
        .for_each_alert(&set, |_, hit| {
            let doc = hit.document(ecs::date::Timestamp::from_nanos(0));
            alerted.push((doc["event"]["id"].as_str().map(str::to_owned), doc["kibana.alert.group.index"].as_i64()));
            Ok::<_, std::convert::Infallible>(true)
        })
        .expect("infallible");
    assert_eq!(alerted, [(Some("e0".to_owned()), Some(0)), (Some("e2".to_owned()), Some(1)), (None, None)]);
}
