//! Threshold and new terms rules in `vigil scan` (always replayed on their schedule) and
//! `vigil rules test` (scenarios).

use std::path::Path;

use serde_json::{Value, json};

use crate::vigil;

const HEAD: &str = "[rule]\ndescription = \"d\"\nrisk_score = 40\nseverity = \"medium\"\nlanguage = \"kuery\"\nquery = 'event.action:login'\ninterval = \"5m\"\nindex = [\"logs-*\"]\n";

fn write_rules(dir: &Path) {
    let new_terms = format!(
        "{HEAD}rule_id = \"nt\"\nname = \"First login from a country\"\ntype = \"new_terms\"\nfrom = \"now-9m\"\n\n\
         [rule.new_terms]\nfield = \"new_terms_fields\"\nvalue = [\"user.name\", \"source.geo.country_name\"]\n\
         [[rule.new_terms.history_window_start]]\nfield = \"history_window_start\"\nvalue = \"now-7d\"\n"
    );
    let threshold = format!(
        "{HEAD}rule_id = \"th\"\nname = \"Logins from many countries\"\ntype = \"threshold\"\nfrom = \"now-30m\"\n\n\
         [rule.threshold]\nfield = [\"user.name\"]\nvalue = 2\n[[rule.threshold.cardinality]]\nfield = \"source.geo.country_name\"\nvalue = 2\n"
    );
    std::fs::write(dir.join("nt.toml"), new_terms).expect("write");
    std::fs::write(dir.join("th.toml"), threshold).expect("write");
}

fn login(id: &str, time: &str, user: &str, country: &str) -> String {
    json!({"@timestamp": time, "event": {"id": id, "action": "login"}, "user": {"name": user},
           "source": {"geo": {"country_name": country}}, "data_stream": {"type": "logs", "dataset": "app", "namespace": "default"}})
    .to_string()
}

#[test]
fn a_plain_scan_replays_the_rules_that_count() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    write_rules(dir.path());
    let events = [
        login("1", "2026-03-01T09:00:00Z", "alice", "Sweden"),
        login("2", "2026-03-02T10:00:10Z", "alice", "Sweden"), // seen the day before
        login("3", "2026-03-02T10:01:00Z", "alice", "Brazil"), // new; and a second country
        login("4", "2026-03-09T10:02:00Z", "alice", "Brazil"), // seen 7 days and a minute before: new
    ]
    .join("\n");
    let data = dir.path().join("logins.ndjson");
    std::fs::write(&data, events + "\n").expect("write");
    let rules = dir.path().to_string_lossy().into_owned();
    let data = data.to_string_lossy().into_owned();
    let mut outputs = Vec::new();
    for extra in [&["--threads", "1"][..], &["--threads", "2"], &["--replay"]] {
        let mut args = vec!["scan", "--rules", &rules, "--output", "jsonl", "-q", &data];
        args.extend_from_slice(extra);
        let run = vigil(&args, "");
        assert_eq!(run.code, 0, "{}", run.stderr);
        let alerts: Vec<Value> = run.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
        outputs.push(alerts);
    }
    let alerts = &outputs[0];
    let new_terms: Vec<(&str, &Value)> = alerts
        .iter()
        .filter(|a| a["kibana.alert.rule.rule_id"] == "nt")
        .map(|a| (a["event"]["id"].as_str().unwrap_or(""), &a["kibana.alert.new_terms"]))
        .collect();
    assert_eq!(
        new_terms,
        [("1", &json!(["alice", "Sweden"])), ("3", &json!(["alice", "Brazil"])), ("4", &json!(["alice", "Brazil"]))]
    );
    let threshold: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["kibana.alert.rule.rule_id"] == "th")
        .map(|a| &a["kibana.alert.threshold_result"])
        .collect();
    assert_eq!(threshold.len(), 1, "{alerts:?}");
    assert_eq!(threshold[0]["count"], 2);
    assert_eq!(threshold[0]["cardinality"], json!([{"field": "source.geo.country_name", "value": 2}]));
    assert_eq!(outputs[0], outputs[1], "the same alerts on any number of threads");
    assert_eq!(outputs[0], outputs[2], "and with --replay");
}

#[test]
fn rule_tests_of_counting_rules_are_scenarios() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    write_rules(dir.path());
    let tests = dir.path().join("nt.tests");
    std::fs::create_dir(&tests).expect("mkdir");
    let alert = [
        login("1", "2026-03-02T10:00:10Z", "alice", "Sweden"),
        String::new(),
        login("2", "2026-02-01T10:00:10Z", "alice", "Sweden"),
        login("3", "2026-03-02T10:00:10Z", "alice", "Sweden"),
    ]
    .join("\n");
    let no_alert =
        [login("4", "2026-03-01T10:00:10Z", "alice", "Sweden"), login("5", "2026-03-02T10:00:10Z", "alice", "Sweden")]
            .join("\n");
    std::fs::write(tests.join("alert.ndjson"), alert + "\n").expect("write");
    std::fs::write(tests.join("no-alert.ndjson"), &no_alert).expect("write");
    let path = dir.path().join("nt.toml").to_string_lossy().into_owned();
    let run = vigil(&["rules", "test", &path], "");
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("ok   First login from a country"), "{}", run.stdout);
    // Seen the day before within a 7-day history: the scenario's last event must not alert.
    std::fs::write(tests.join("alert.ndjson"), &no_alert).expect("write");
    let run = vigil(&["rules", "test", &path], "");
    assert_eq!(run.code, 1);
    let place = tests.join("alert.ndjson:2").to_string_lossy().into_owned();
    assert!(run.stdout.contains(&format!("{place}: did not alert")), "{}", run.stdout);
}

/// A login `minutes_ago` minutes before now.
fn recent(id: &str, minutes_ago: i64, user: &str, country: &str) -> String {
    let time = ecs::date::Timestamp::from_nanos(ecs::date::Timestamp::now().as_nanos() - minutes_ago * 60_000_000_000);
    login(id, &time.to_string(), user, country)
}

#[test]
fn vigil_serve_runs_new_terms_rules_and_remembers_across_a_kill() {
    let rules = tempfile::tempdir().expect("a temporary folder");
    write_rules(rules.path());
    let data = tempfile::tempdir().expect("a temporary folder");
    let args = [std::ffi::OsStr::new("--no-builtin-rules"), "--rules".as_ref(), rules.path().as_os_str()];
    let mut server = crate::serve::start(data.path(), &args, &[]);
    let (url, admin) = (server.url.clone(), server.admin.clone().expect("an admin key"));
    let send = |url: &str, lines: &[String]| {
        let body = lines.join("\n");
        ureq::post(format!("{url}/api/v1/events"))
            .header("authorization", &format!("ApiKey {admin}"))
            .send(body.as_bytes())
            .expect("events sent");
    };
    let new_terms_alerts = |url: &str| -> Vec<Value> {
        let listed = crate::serve::cli(url, &admin, &["alerts", "list", "--rule-id", "nt", "--output", "jsonl"]);
        assert_eq!(listed.code, 0, "{}", listed.stderr);
        listed.stdout.lines().map(|l| serde_json::from_str(l).expect("JSONL")).collect()
    };
    send(&url, &[recent("1", 3, "alice", "Sweden")]);
    let ran = crate::serve::cli(&url, &admin, &["rules", "run", "nt"]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    // (The schedule may have run it first: the alert is the same either way.)
    assert!(ran.stdout.contains("from 1 event, 1 term checked against the history"), "{}", ran.stdout);
    let alerts = new_terms_alerts(&url);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["document"]["kibana.alert.new_terms"], json!(["alice", "Sweden"]));
    assert_eq!(alerts[0]["document"]["kibana.alert.rule.rule_type_id"], "siem.newTermsRule");

    // Killed without a chance to save anything: the index was committed with the alert.
    server.child.kill().expect("kill -9");
    server.child.wait().expect("ends");
    let mut server = crate::serve::start(data.path(), &args, &[]);
    let url = server.url.clone();
    send(&url, &[recent("2", 2, "alice", "Sweden"), recent("3", 1, "alice", "Norway")]);
    let ran = crate::serve::cli(&url, &admin, &["rules", "run", "nt"]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    let alerts = new_terms_alerts(&url);
    let terms: Vec<&Value> = alerts.iter().map(|a| &a["document"]["kibana.alert.new_terms"]).collect();
    assert_eq!(terms.len(), 2, "alice in Sweden is not new again; Norway is: {terms:?}");
    assert!(terms.contains(&&json!(["alice", "Norway"])));
    server.child.kill().expect("stops");
    server.child.wait().expect("reaped");
}

#[test]
fn exceptions_leave_events_out_of_new_terms_and_their_history() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    write_rules(dir.path());
    let exceptions = dir.path().join("exceptions.toml");
    std::fs::write(
        &exceptions,
        "[[lists]]\nlist_id = \"vpn\"\nname = \"VPN exits\"\ntype = \"detection\"\nnamespace_type = \"single\"\nrules = [\"nt\"]\n\n\
         [[lists.items]]\nitem_id = \"vpn-exit\"\nname = \"VPN exit in Brazil\"\n\
         entries = [{ field = \"source.geo.country_name\", type = \"match\", operator = \"included\", value = \"Brazil\" }]\n",
    )
    .expect("write");
    let events = [
        login("1", "2026-03-02T10:00:10Z", "alice", "Brazil"), // excepted: neither alert nor history
        login("2", "2026-03-02T10:20:00Z", "alice", "Sweden"),
    ]
    .join("\n");
    let rules = dir.path().join("nt.toml").to_string_lossy().into_owned();
    let exceptions = exceptions.to_string_lossy().into_owned();
    let run = vigil(&["scan", "--rules", &rules, "--exceptions", &exceptions, "--output", "jsonl", "-"], &events);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ids: Vec<Value> =
        run.stdout.lines().map(|l| serde_json::from_str::<Value>(l).expect("JSON")["event"]["id"].clone()).collect();
    assert_eq!(ids, [json!("2")]);
    assert!(run.stderr.contains("exceptions: list `vpn` removed 1 match"), "{}", run.stderr);
}
