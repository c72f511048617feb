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
