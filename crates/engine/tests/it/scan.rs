//! Scanning: each event once against every rule, each hit once, only in the rule's indices, and
//! a prefilter that never changes the answer.

use engine::{Outcome, Position, ScanOptions, Scanner};

use crate::{Collect, compile, rule};

fn scan_lines(
    set: &engine::RuleSet<'_>,
    lines: &[&str],
    prefilter: bool,
    index: Option<&str>,
) -> Vec<(String, String, u64)> {
    let mut scanner = Scanner::new(set, ScanOptions { index: index.map(str::to_owned) });
    let mut hits = Collect::default();
    for (i, line) in lines.iter().enumerate() {
        let position = Position { source: "test", line: i as u64 + 1 };
        let outcome = if prefilter {
            scanner.scan_line(line.as_bytes(), position, &mut hits)
        } else {
            let value: serde_json::Value = serde_json::from_str(line).expect("test lines are JSON");
            scanner.scan_event(value, position, &mut hits)
        };
        assert!(matches!(outcome, Ok(Outcome::Scanned)), "line {}: {outcome:?}", i + 1);
    }
    hits.0
}

/// Events whose matching values are spelled in every way JSON allows.
const TRICKY: &[&str] = &[
    r#"{"event":{"action":"Set-DkimSigningConfig","id":"plain"}}"#,
    r#"{"event":{"action":"Set\u002dDkimSigningConfig","id":"unicode-escape"}}"#,
    r#"{"event.action":"Set-DkimSigningConfig","event.id":"dotted"}"#,
    r#"{"event":{"act\u0069on":"Set-DkimSigningConfig","id":"escaped-key"}}"#,
    r#"{ "event" : { "action" : [ "Other", "Set-DkimSigningConfig" ] , "id" : "spaced-array" } }"#,
    r#"{"file":{"path":"C:\/Windows\/evil.exe"},"event":{"id":"escaped-slash"}}"#,
    r#"{"file":{"path":"C:/Windows/evil.exe"},"event":{"id":"slash"}}"#,
    r#"{"message":"quote \" and back\\slash","event":{"id":"escapes"}}"#,
    r#"{"event":{"action":"set-dkimsigningconfig","id":"lower"}}"#,
    r#"{"process":{"name":"\u0063md.exe"},"event":{"id":"unicode-name"}}"#,
];

#[test]
fn the_prefilter_never_changes_the_answer() {
    let set = compile(vec![
        rule("dkim", r#"event.action:"Set-DkimSigningConfig""#, ""),
        rule("path", "file.path:C\\:/Windows/*", ""),
        rule("message", r#"message:"quote""#, ""),
        rule("cmd", "process.name:cmd.exe or process.name:powershell.exe", ""),
        rule("not", "not event.action:x", ""),
    ]);
    let with = scan_lines(&set, TRICKY, true, None);
    let without = scan_lines(&set, TRICKY, false, None);
    assert_eq!(with, without);
    let dkim: Vec<_> = with.iter().filter(|h| h.0 == "dkim").map(|h| h.1.as_str()).collect();
    assert_eq!(dkim, ["plain", "unicode-escape", "dotted", "escaped-key", "spaced-array"]);
    let path: Vec<_> = with.iter().filter(|h| h.0 == "path").map(|h| h.1.as_str()).collect();
    assert_eq!(path, ["escaped-slash", "slash"]);
    assert!(with.iter().any(|h| h.0 == "cmd" && h.1 == "unicode-name"));
}

#[test]
fn an_event_delivered_twice_alerts_once() {
    let set = compile(vec![rule("dkim", r#"event.action:"Set-DkimSigningConfig""#, "")]);
    let line = r#"{"event":{"action":"Set-DkimSigningConfig","id":"e1"}}"#;
    let again_with_other_layout = r#"{"event.id":"e1","event.action":"Set-DkimSigningConfig"}"#;
    let hits = scan_lines(&set, &[line, line, again_with_other_layout], true, None);
    assert_eq!(hits.len(), 1);
    let no_id = r#"{"event":{"action":"Set-DkimSigningConfig"}}"#;
    assert_eq!(scan_lines(&set, &[no_id, no_id], true, None).len(), 1, "the same line is the same event");
}

#[test]
fn rules_only_see_their_indices() {
    let set = compile(vec![rule("o365 only", "event.action:x", "index = [\"logs-o365*\", \"filebeat-*\"]")]);
    let lines = [
        r#"{"data_stream":{"type":"logs","dataset":"o365.audit","namespace":"default"},"event":{"action":"x","id":"1"}}"#,
        r#"{"data_stream":{"type":"logs","dataset":"azure.activitylogs","namespace":"default"},"event":{"action":"x","id":"2"}}"#,
        r#"{"event":{"dataset":"o365.audit","action":"x","id":"3"}}"#,
        r#"{"event":{"action":"x","id":"4"}}"#,
        r#"{"_index":"filebeat-8.15.0-2026.03.02","_id":"5","_source":{"event":{"action":"x"}}}"#,
        r#"{"_index":"winlogbeat-8","_id":"6","_source":{"event":{"action":"x"}}}"#,
    ];
    let ids: Vec<String> = scan_lines(&set, &lines, true, None).into_iter().map(|h| h.1).collect();
    assert_eq!(ids, ["1", "3", "4", "5"], "unknown index (4) is searched; search hits carry theirs");
    let forced: Vec<String> =
        scan_lines(&set, &lines, true, Some("logs-other-default")).into_iter().map(|h| h.1).collect();
    assert_eq!(forced, Vec::<String>::new());
}

#[test]
fn search_hits_from_backing_indices_are_in_their_data_stream() {
    let set = compile(vec![rule("o365 only", "event.action:zeta", "index = [\"logs-o365*\"]")]);
    let lines = [
        r#"{"_index":".ds-logs-o365.audit-default-2026.03.02-000001","_id":"1","_source":{"event":{"action":"zeta"}}}"#,
        r#"{"_index":".ds-logs-azure.activitylogs-default-2026.03.02-000001","_id":"2","_source":{"event":{"action":"zeta"}}}"#,
        r#"{"_index":"winlogbeat-8","_id":"3","_source":{"event":{"action":"zeta"}}}"#,
        r#"{"_index":"winlogbeat-8","_id":"4","_source":{"event":{"action":"zeta2"}}}"#,
        r#"{"_index":"winlogbeat-8","_id":"5","_source":{"message":"nothing a rule looks for"}}"#,
    ];
    let mut scanner = Scanner::new(&set, ScanOptions { index: None });
    let mut hits = Collect::default();
    for (i, line) in lines.iter().enumerate() {
        let position = Position { source: "test", line: i as u64 + 1 };
        scanner.scan_line(line.as_bytes(), position, &mut hits).expect("scans");
    }
    let ids: Vec<&str> = hits.0.iter().map(|h| h.1.as_str()).collect();
    assert_eq!(ids, ["1"], "the backing index of logs-o365.audit-default is searched by logs-o365*");
    assert_eq!(hits.0[0].2, 1);
    // Events no rule's indices cover are counted by index: those a rule would have read (4's
    // action is not the rule's, 5 holds no literal of any rule: neither is decoded).
    let outside: Vec<(&str, u64)> = scanner.stats().outside_indices.iter().map(|(i, n)| (i.as_str(), *n)).collect();
    assert_eq!(outside, [("logs-azure.activitylogs-default", 1), ("winlogbeat-8", 1)]);
}

#[test]
fn bad_lines_are_reported_and_the_rest_is_scanned() {
    let set = compile(vec![rule("x", "event.action:x", "")]);
    let mut scanner = Scanner::new(&set, ScanOptions { index: None });
    let mut hits = Collect::default();
    let position = |line| Position { source: "t", line };
    let bad = scanner.scan_line(b"{\"event\":{\"action\":\"x\"}", position(1), &mut hits);
    assert!(matches!(bad, Ok(Outcome::Invalid(ref m)) if m.to_string().starts_with("invalid JSON")), "{bad:?}");
    let garbage = scanner.scan_line(b"hello", position(2), &mut hits);
    assert!(matches!(garbage, Ok(Outcome::Invalid(_))), "garbage is reported even though no rule could match it");
    let good = scanner.scan_line(br#"{"event":{"action":"x"}}"#, position(3), &mut hits);
    assert_eq!(good, Ok(Outcome::Scanned));
    assert_eq!((hits.0.len(), scanner.stats().invalid), (1, 2));
}

#[test]
fn a_negated_filter_keeps_its_events_from_alerting() {
    let filters = "[[rule.filters]]\nmeta = {negate = true}\nquery = {match_phrase = {\"user.name\" = \"svc-backup\"}}\n\
                   [[rule.filters]]\nmeta = {disabled = true}\nquery = {match_phrase = {\"user.name\" = \"nobody\"}}\n";
    let set = compile(vec![rule("dkim", r#"event.action:"Set-DkimSigningConfig""#, filters)]);
    let lines = [
        r#"{"event":{"action":"Set-DkimSigningConfig","id":"admin"},"user":{"name":"admin"}}"#,
        r#"{"event":{"action":"Set-DkimSigningConfig","id":"backup"},"user":{"name":"svc-backup"}}"#,
    ];
    for prefilter in [true, false] {
        let ids: Vec<String> = scan_lines(&set, &lines, prefilter, None).into_iter().map(|h| h.1).collect();
        assert_eq!(ids, ["admin"]);
    }
}

#[test]
fn a_query_on_a_flattened_root_finds_its_leaves_in_a_scan() {
    let set = compile(vec![rule("members", r#"o365.audit.Members:"helpdesk@contoso.com""#, "")]);
    let lines = [
        r#"{"event":{"id":"teams"},"o365":{"audit":{"Members":[{"DisplayName":"Help Desk","UPN":"helpdesk@contoso.com"}]}}}"#,
        r#"{"event":{"id":"other"},"o365":{"audit":{"Members":[{"UPN":"someone@contoso.com"}]},"x":"helpdesk@contoso.com"}}"#,
    ];
    for prefilter in [true, false] {
        let ids: Vec<String> = scan_lines(&set, &lines, prefilter, None).into_iter().map(|h| h.1).collect();
        assert_eq!(ids, ["teams"]);
    }
}

#[test]
fn a_negated_wildcard_filter_leaves_out_its_paths_in_a_scan() {
    // As the corpus's Windows rules write it: `?` for the drive, any case.
    let filters = "[[rule.filters]]\nmeta = {negate = true}\n\
                   [rule.filters.query.wildcard.\"file.path\"]\ncase_insensitive = true\n\
                   value = \"?:\\\\\\\\ProgramData\\\\\\\\Microsoft\\\\\\\\*\"\n";
    let set = compile(vec![rule("ps", "event.action:\"script\"", filters)]);
    let lines = [
        r#"{"event":{"action":"script","id":"temp"},"file":{"path":"C:\\Temp\\a.ps1"}}"#,
        r#"{"event":{"action":"script","id":"defender"},"file":{"path":"d:\\programdata\\microsoft\\a.ps1"}}"#,
    ];
    for prefilter in [true, false] {
        let ids: Vec<String> = scan_lines(&set, &lines, prefilter, None).into_iter().map(|h| h.1).collect();
        assert_eq!(ids, ["temp"], "prefilter {prefilter}");
    }
}
