//! `vigil scan` on the samples the project ships.

use crate::vigil;

const NOW: &str = "2026-03-03T00:00:00Z";

#[test]
fn the_built_in_pack_finds_the_dkim_changes() {
    let run = vigil(&["scan", "--output", "table", "--now", NOW, "samples/o365-ecs.ndjson"], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    insta::assert_snapshot!(run.stdout);
    assert!(run.stderr.starts_with("scanned 6 events"), "{}", run.stderr);
}

#[test]
fn jsonl_alerts_are_shaped_like_elastics() {
    let run = vigil(&["scan", "--output", "jsonl", "--now", NOW, "-q", "samples/o365-ecs.ndjson"], "");
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let alerts: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(alerts.len(), 2);
    let alert = &alerts[0];
    assert_eq!(alert["@timestamp"], "2026-03-03T00:00:00.000Z");
    assert_eq!(alert["kibana.alert.rule.name"], "Microsoft 365 Exchange DKIM Signing Configuration Disabled");
    assert_eq!(alert["kibana.alert.severity"], "medium");
    assert_eq!(alert["kibana.alert.risk_score"], 47);
    assert_eq!(alert["kibana.alert.original_time"], "2026-03-02T08:14:05.000Z");
    assert_eq!(alert["kibana.alert.workflow_status"], "open");
    assert_eq!(
        alert["kibana.alert.reason"],
        "web event by it-admin created medium alert Microsoft 365 Exchange DKIM Signing Configuration Disabled."
    );
    assert_eq!(alert["kibana.alert.ancestors"][0]["index"], "logs-o365.audit-default");
    assert_eq!(alert["kibana.alert.rule.threat"][0]["technique"][0]["id"], "T1556");
    assert_eq!(alert["event"]["kind"], "signal");
    assert_eq!(alert["o365"]["audit"]["Parameters"]["Enabled"], "False");
    assert_eq!(alert["kibana.alert.uuid"].as_str().map(str::len), Some(64));
    let again = vigil(&["scan", "--output", "jsonl", "--now", NOW, "-q", "samples/o365-ecs.ndjson"], "");
    assert_eq!(again.stdout, run.stdout, "output is deterministic");
}

#[test]
fn csv_has_one_row_per_alert() {
    let run = vigil(&["scan", "--output", "csv", "-q", "samples/o365-ecs.ndjson"], "");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "alert_id,original_time,rule_id,rule_name,severity,risk_score,index,event_id,source,line,reason"
    );
    assert_eq!(lines.len(), 3);
    assert!(lines[1].contains(",2026-03-02T08:14:05.000Z,514121ce-c7b6-474a-8237-68ff71672379,"), "{}", lines[1]);
    assert!(lines[1].contains(",samples/o365-ecs.ndjson,1,"), "{}", lines[1]);
}

#[test]
fn filters_choose_rules_and_fail_on_alert_says_so() {
    let high = vigil(&["scan", "--min-severity", "high", "samples/o365-ecs.ndjson"], "");
    assert_eq!(high.code, 2, "no rule left to run: {}", high.stderr);
    let fail = vigil(&["scan", "--fail-on-alert", "--tag", "Tactic: Persistence", "-q", "samples/o365-ecs.ndjson"], "");
    assert_eq!(fail.code, 1);
    let quiet = vigil(&["scan", "--fail-on-alert", "-q", "-"], "{\"event\":{\"action\":\"x\"}}\n");
    assert_eq!(quiet.code, 0);
}

#[test]
fn invalid_lines_are_reported_with_their_place() {
    let input = "{\"event\":{\"action\":\"Set-DkimSigningConfig\"\nnot json\n\n{\"ok\":true}\n";
    let run = vigil(&["scan", "--output", "jsonl", "-"], input);
    assert_eq!(run.code, 0);
    let mut lines = run.stderr.lines();
    assert_eq!(lines.next(), Some("<stdin>:1: invalid JSON at column 42: EOF while parsing an object"));
    assert_eq!(lines.next(), Some("<stdin>:2: invalid JSON at column 2: expected ident"));
}

#[test]
fn gzip_arrays_and_folders_are_read() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-ecs.ndjson")).expect("sample");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(sample.as_bytes()).expect("compress");
    std::fs::write(dir.path().join("a.ndjson.gz"), gz.finish().expect("compress")).expect("write");
    let array = format!("[{}]", sample.lines().collect::<Vec<_>>().join(",\n"));
    std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("sub/b.json"), array).expect("write");
    let path = dir.path().to_string_lossy().into_owned();
    let run = vigil(&["scan", "--output", "csv", "-q", &path], "");
    let sources: Vec<&str> = run.stdout.lines().skip(1).map(|l| l.split(',').nth(8).unwrap_or_default()).collect();
    assert_eq!(sources.len(), 2, "the same events in two files alert once: {}", run.stdout);
    assert!(sources.iter().all(|s| s.ends_with("a.ndjson.gz")), "{sources:?}");
}

#[test]
fn replay_follows_the_schedule() {
    let run = vigil(&["scan", "--replay", "--output", "table", "--now", NOW, "samples/o365-ecs.ndjson"], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("Microsoft 365 Exchange DKIM Signing Configuration Disabled: 2 alerts in 2 executions (every 5m, now-30m to now)"), "{}", run.stdout);
}

#[test]
fn any_thread_count_gives_the_same_output() {
    // Enough lines for several batches, each copy of the samples with its own event ids, and
    // every tenth copy delivered twice.
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-ecs.ndjson")).expect("sample");
    let mut input = String::new();
    for copy in 0..1500 {
        let text = sample.replace("0b6f7a52-5d1e-4c8f-9a61-3f1e2d7c9a", &format!("copy-{copy:05}-"));
        input.push_str(&text);
        if copy % 10 == 0 {
            input.push_str(&text);
        }
    }
    let runs: Vec<_> = ["1", "2", "5"]
        .iter()
        .map(|threads| vigil(&["scan", "--threads", threads, "--output", "jsonl", "--now", NOW, "-q", "-"], &input))
        .collect();
    assert_eq!(runs[0].code, 0, "{}", runs[0].stderr);
    assert_eq!(runs[0].stdout.lines().count(), 1500 * 2, "two DKIM events per copy, duplicates dropped");
    assert!(runs.iter().all(|r| r.stdout == runs[0].stdout), "outputs differ between thread counts");
}

#[test]
fn the_samples_carry_the_data_stream_fields_the_integration_writes() {
    // The DKIM rule as Elastic ships it now: by data_stream.dataset, dated by event.ingested.
    let dir = tempfile::tempdir().expect("tempdir");
    let rule = dir.path().join("dkim-now.toml");
    std::fs::write(
        &rule,
        "[rule]\nrule_id = \"dkim-now\"\nname = \"DKIM now\"\ndescription = \"d\"\ntype = \"query\"\n\
         risk_score = 47\nseverity = \"medium\"\nindex = [\"logs-o365.audit-*\"]\ntimestamp_override = \"event.ingested\"\n\
         query = '''data_stream.dataset:o365.audit and event.provider:Exchange and event.category:web and \
         event.action:\"Set-DkimSigningConfig\" and o365.audit.Parameters.Enabled:False and event.outcome:success'''\n",
    )
    .expect("writes");
    let rule = rule.to_str().expect("a UTF-8 path");
    let run = vigil(&["scan", "--output", "jsonl", "-q", "--rules", rule, "samples/o365-ecs.ndjson"], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
}

/// A raw DKIM change in tenant `tenant` by `user`.
fn dkim_change(id: u32, tenant: &str, user: &str) -> String {
    serde_json::json!({
        "CreationTime": format!("2026-03-02T08:{:02}:05", id), "Id": format!("00000000-0000-4000-8000-{id:012}"),
        "Operation": "Set-DkimSigningConfig", "OrganizationId": tenant, "RecordType": 1, "ResultStatus": "True",
        "UserType": 2, "Version": 1, "Workload": "Exchange", "ClientIP": "203.0.113.7", "ObjectId": "contoso.com",
        "UserId": user, "Parameters": [{"Name": "Identity", "Value": "contoso.com"}, {"Name": "Enabled", "Value": "False"}]
    })
    .to_string()
}

#[test]
fn an_exception_for_a_test_tenant_removes_exactly_its_alerts() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let events: String = [
        dkim_change(1, "prod-tenant", "admin@contoso.com"),
        dkim_change(2, "test-tenant", "admin@contoso.com"),
        dkim_change(3, "test-tenant", "qa@contoso.com"),
        dkim_change(4, "prod-tenant", "svc-dkim@contoso.com"),
    ]
    .join("\n");
    let data = dir.path().join("audit.ndjson");
    std::fs::write(&data, events + "\n").expect("write");
    // vigil's TOML form: a list that names the built-in rule it applies to, one item per kind
    // of approved change; the second only for the key-rotation account, until it expires.
    let lists = r#"
[[lists]]
list_id = "dkim-maintenance"
name = "DKIM maintenance"
rules = ["514121ce-c7b6-474a-8237-68ff71672379"]

[[lists.items]]
item_id = "test-tenant"
name = "Test tenant"
entries = [{ field = "organization.id", type = "match", operator = "included", value = "test-tenant" }]

[[lists.items]]
item_id = "rotation"
name = "Key rotation"
expire_time = "2000-01-01T00:00:00Z"
entries = [{ field = "user.id", type = "wildcard", operator = "included", value = "svc-dkim@*" }]
"#;
    let exceptions = dir.path().join("lists.toml");
    std::fs::write(&exceptions, lists).expect("write");
    let (data, exceptions) = (data.to_string_lossy().into_owned(), exceptions.to_string_lossy().into_owned());
    let without = vigil(&["scan", "--output", "jsonl", &data], "");
    assert_eq!(without.stdout.lines().count(), 4, "{}", without.stderr);
    let with = vigil(&["scan", "--output", "jsonl", "--exceptions", &exceptions, &data], "");
    assert_eq!(with.code, 0, "{}", with.stderr);
    let tenants: Vec<String> = with
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON")["organization"]["id"].to_string())
        .collect();
    assert_eq!(tenants, ["\"prod-tenant\"", "\"prod-tenant\""], "the expired item removes nothing");
    assert!(with.stderr.contains("exceptions: list `dkim-maintenance` removed 2 matches of"), "{}", with.stderr);
    // --replay applies them too.
    let replay = vigil(&["scan", "--replay", "--output", "jsonl", "--exceptions", &exceptions, &data], "");
    assert_eq!(replay.stdout.lines().count(), 2, "{}", replay.stderr);
    // A malformed file is reported with its place and applies nothing.
    std::fs::write(dir.path().join("lists.toml"), lists.replace("type = \"match\"", "type = \"matches\""))
        .expect("write");
    let bad = vigil(&["scan", "--output", "jsonl", "--exceptions", &exceptions, &data], "");
    assert!(bad.stderr.contains("lists.toml:10:48: error: entry type `matches`"), "{}", bad.stderr);
    assert!(bad.stderr.contains("entry type `matches`"), "{}", bad.stderr);
    assert_eq!(bad.stdout.lines().count(), 4, "nothing of the file is applied");
}

/// Corpus rules that take their alerts' severity, risk score and name from the event, and a
/// building-block rule, on hand-made events (reads `../shared`).
#[test]
fn corpus_rules_with_overrides_and_building_blocks_alert_as_their_fields_say() {
    let Some(shared) = testkit::shared_dir() else { return };
    let rules = shared.join("corpus/detection-rules");
    let promotion = rules.join("rules/integrations/google_workspace/google_workspace_alert_center_promotion.toml");
    let endpoint = rules.join("rules/integrations/endpoint/execution_elastic_malicious_file_detected.toml");
    let building_block =
        rules.join("rules_building_block/initial_access_google_workspace_login_flagged_suspicious_by_google.toml");
    let dir = tempfile::tempdir().expect("a temporary folder");
    for rule in [&promotion, &endpoint, &building_block] {
        std::fs::copy(rule, dir.path().join(rule.file_name().expect("a name"))).expect("copied");
    }
    let now = "2026-12-01T10:00:00.000Z";
    let events = [
        serde_json::json!({"@timestamp": now, "event": {"ingested": now}, "data_stream": {"dataset": "google_workspace.alert"},
            "google_workspace": {"alert": {"type": "Leaked password", "metadata": {"severity": "LOW"}}}}),
        serde_json::json!({"@timestamp": now, "event": {"ingested": now, "kind": "alert", "code": "malicious_file", "type": "allowed",
            "risk_score": 99, "severity": 73}, "data_stream": {"dataset": "endpoint.alerts"}}),
        serde_json::json!({"@timestamp": now, "event": {"ingested": now, "provider": "login"},
            "data_stream": {"dataset": "google_workspace.login"}, "google_workspace": {"login": {"is_suspicious": true}}}),
    ];
    let input: String = events.iter().map(|e| format!("{e}\n")).collect();
    let rules_dir = dir.path().to_string_lossy().into_owned();
    let run = vigil(&["scan", "--rules", &rules_dir, "--output", "jsonl", "-"], &input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let alerts: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let by = |rule_id: &str| alerts.iter().find(|a| a["kibana.alert.rule.rule_id"] == rule_id).expect("an alert");
    // severity_mapping (LOW -> low) and rule_name_override (the alert's type) of the promotion rule.
    let promoted = by("f1a6d0f4-95b8-11ed-9517-f661ea17fbcc");
    assert_eq!(
        (promoted["kibana.alert.severity"].as_str(), promoted["kibana.alert.rule.name"].as_str()),
        (Some("low"), Some("Leaked password"))
    );
    // risk_score_mapping (event.risk_score) and severity_mapping (event.severity 73 -> high).
    let endpoint = by("f2c3caa6-ea34-11ee-a417-f661ea17fbce");
    assert_eq!(
        (endpoint["kibana.alert.risk_score"].as_i64(), endpoint["kibana.alert.severity"].as_str()),
        (Some(99), Some("high"))
    );
    // The building block's alert is marked in JSONL, and left out of the table unless asked.
    assert_eq!(by("93d2c5bf-dac1-4e0f-ab52-16f440782bb8")["kibana.alert.building_block_type"], "default");
    let table = vigil(&["scan", "--rules", &rules_dir, "--output", "table", "-"], &input);
    assert!(!table.stdout.contains("Google Workspace Login Flagged Suspicious"), "{}", table.stdout);
    assert!(table.stdout.contains("1 alert of building-block rules not shown"), "{}", table.stdout);
    let shown = vigil(&["scan", "--rules", &rules_dir, "--output", "table", "--building-blocks", "-"], &input);
    assert!(shown.stdout.contains("Google Workspace Login Flagged Suspicious"), "{}", shown.stdout);
}

#[test]
fn a_replay_suppresses_alerts_by_group() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rule = r#"[metadata]
creation_date = "2026/12/03"
maturity = "production"
updated_date = "2026/12/03"

[rule]
author = ["vigil"]
description = "DKIM changes, one alert per user an hour."
from = "now-30m"
index = ["logs-o365*"]
interval = "5m"
language = "kuery"
license = "Apache-2.0"
name = "DKIM changes by user"
risk_score = 47
rule_id = "dkim-by-user"
severity = "medium"
type = "query"
query = 'event.action:"Set-DkimSigningConfig"'

[rule.alert_suppression]
group_by = ["user.id"]
duration = {value = 1, unit = "h"}
missing_fields_strategy = "suppress"
"#;
    std::fs::write(dir.path().join("rule.toml"), rule).expect("write");
    // admin: 08:01, 08:03, 08:40 (within the hour: one alert); qa: 08:02.
    let events: String = [
        dkim_change(1, "t", "admin@contoso.com"),
        dkim_change(3, "t", "admin@contoso.com"),
        dkim_change(40, "t", "admin@contoso.com"),
        dkim_change(2, "t", "qa@contoso.com"),
    ]
    .join("\n");
    let rules = dir.path().join("rule.toml").to_string_lossy().into_owned();
    let run = vigil(&["scan", "--rules", &rules, "--replay", "--output", "jsonl", "-"], &events);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let alerts: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    assert_eq!(alerts.len(), 2, "{}", run.stdout);
    let admin = alerts.iter().find(|a| a["user"]["id"] == "admin@contoso.com").expect("admin's alert");
    assert_eq!(admin["kibana.alert.suppression.docs_count"], 2);
    assert_eq!(
        admin["kibana.alert.suppression.terms"],
        serde_json::json!([{"field": "user.id", "value": "admin@contoso.com"}])
    );
    assert_eq!(admin["kibana.alert.suppression.end"], "2026-03-02T08:40:05.000Z");
    assert!(run.stderr.contains("`alert_suppression` applies to executions"), "{}", run.stderr);
    // A plain scan lists every matching event.
    let plain = vigil(&["scan", "--rules", &rules, "--output", "jsonl", "-"], &events);
    assert_eq!(plain.stdout.lines().count(), 4);
}

/// Corpus query rules with `alert_suppression` and with a negated wildcard filter, on
/// hand-made events (reads `../shared`).
#[test]
fn corpus_rules_with_suppression_and_filters_behave_as_their_fields_say() {
    let Some(shared) = testkit::shared_dir() else { return };
    let rules = shared.join("corpus/detection-rules/rules");
    let dir = tempfile::tempdir().expect("a temporary folder");
    for rule in [
        "integrations/google_workspace/persistence_google_workspace_2sv_policy_disabled.toml",
        "windows/execution_posh_psreflect.toml",
    ] {
        let from = rules.join(rule);
        std::fs::copy(&from, dir.path().join(from.file_name().expect("a name"))).expect("copied");
    }
    let at = |minute: u32| format!("2026-12-01T10:{minute:02}:00.000Z");
    let disable = |minute: u32, user: &str, ip: &str| {
        serde_json::json!({"@timestamp": at(minute), "event": {"ingested": at(minute), "action": "2sv_disable"},
            "data_stream": {"dataset": "google_workspace.login"}, "user": {"email": user}, "source": {"ip": ip}})
    };
    // (`powershell.file.script_block_text` is not in vigil's catalog, which has ECS and the
    // Office 365 fields: it is a keyword by dynamic mapping, so the event holds the whole value.)
    let script = |minute: u32, path: &str| {
        serde_json::json!({"@timestamp": at(minute), "event": {"ingested": at(minute), "category": "process"},
            "data_stream": {"dataset": "windows.powershell_operational"}, "host": {"os": {"type": "windows"}},
            "user": {"id": "S-1-5-21-1"}, "file": {"path": path},
            "powershell": {"file": {"script_block_text": "New-InMemoryModule"}}})
    };
    let events = [
        disable(1, "eve@example.com", "198.51.100.1"),
        disable(20, "eve@example.com", "198.51.100.1"),
        disable(50, "eve@example.com", "198.51.100.1"),
        disable(21, "eve@example.com", "203.0.113.9"),
        script(5, "C:\\Users\\eve\\run.ps1"),
        script(6, "C:\\ProgramData\\MaaS360\\Cloud Extender\\AR\\Scripts\\ASModuleCommon.ps1"),
    ];
    let input: String = events.iter().map(|e| format!("{e}\n")).collect();
    let rules_dir = dir.path().to_string_lossy().into_owned();
    let run = vigil(&["scan", "--rules", &rules_dir, "--replay", "--output", "jsonl", "-"], &input);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let alerts: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let suppressed: Vec<&serde_json::Value> =
        alerts.iter().filter(|a| a["kibana.alert.rule.name"].as_str().is_some_and(|n| n.contains("2SV"))).collect();
    // One alert per (user, source ip) within the 130-minute duration: three events, then one.
    let mut counts: Vec<i64> =
        suppressed.iter().filter_map(|a| a["kibana.alert.suppression.docs_count"].as_i64()).collect();
    counts.sort_unstable();
    assert_eq!(counts, [0, 2], "{}", run.stdout);
    // The filter leaves out the vendor's script path (a case-insensitive wildcard, negated).
    let scripts: Vec<&serde_json::Value> = alerts.iter().filter(|a| a["file"]["path"].is_string()).collect();
    assert_eq!(scripts.len(), 1, "{}", run.stdout);
    assert_eq!(scripts[0]["file"]["path"], "C:\\Users\\eve\\run.ps1");
}

/// An EQL sequence rule in a scan: replayed on its schedule, each sequence alerts once, as one
/// building block per event and a shell that share a group id.
/// Of each alert: its event's id and its place in its group (`None` for a shell).
type Grouped = Vec<(Option<String>, Option<i64>)>;

/// The alerts `vigil scan` makes of `events` with one EQL rule of `query` (every 5 minutes,
/// `from = now-9m`), and each one's [`Grouped`] summary.
fn scan_eql(query: &str, events: &str) -> (Vec<serde_json::Value>, Grouped) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let rule = format!(
        "[rule]\nrule_id = \"eql\"\nname = \"EQL\"\ndescription = \"d\"\ntype = \"eql\"\nlanguage = \"eql\"\nrisk_score = 47\nseverity = \"medium\"\ninterval = \"5m\"\nfrom = \"now-9m\"\nquery = '''\n{query}\n'''\n"
    );
    std::fs::write(dir.path().join("eql.toml"), rule).expect("write");
    let rules = dir.path().to_string_lossy().into_owned();
    let run = vigil(&["scan", "--rules", &rules, "--output", "jsonl", "-q", "-"], events);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let alerts: Vec<serde_json::Value> = run.stdout.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let summary = alerts
        .iter()
        .map(|a| (a["event"]["id"].as_str().map(str::to_owned), a["kibana.alert.group.index"].as_i64()))
        .collect();
    (alerts, summary)
}

/// `(Some(id), Some(index))` for a building block, `(None, None)` for a shell.
fn groups(list: &[(Option<&str>, Option<i64>)]) -> Grouped {
    list.iter().map(|(id, index)| (id.map(str::to_owned), *index)).collect()
}

#[test]
fn an_eql_sequence_alerts_as_building_blocks_and_a_shell() {
    let query = "sequence by user.name with maxspan=5m\n  [authentication where event.outcome == \"failure\"] with runs=2\n  [authentication where event.outcome == \"success\"]";
    let login = |id: &str, time: &str, user: &str, outcome: &str| {
        format!(
            "{{\"@timestamp\":\"2026-03-02T{time}Z\",\"event\":{{\"id\":\"{id}\",\"category\":[\"authentication\"],\"outcome\":\"{outcome}\"}},\"user\":{{\"name\":\"{user}\"}}}}\n"
        )
    };
    let events = [
        login("a1", "08:00:00", "alice", "failure"),
        login("a2", "08:00:10", "alice", "failure"),
        login("b1", "08:00:20", "bob", "failure"),
        login("a3", "08:00:30", "alice", "success"),
        login("b2", "08:00:40", "bob", "success"),
        // Carol's success comes more than maxspan after her first failure.
        login("c1", "08:20:00", "carol", "failure"),
        login("c2", "08:21:00", "carol", "failure"),
        login("c3", "08:30:00", "carol", "success"),
    ]
    .concat();
    let (alerts, summary) = scan_eql(query, &events);
    assert_eq!(summary, groups(&[(Some("a1"), Some(0)), (Some("a2"), Some(1)), (Some("a3"), Some(2)), (None, None)]));
    assert!(alerts.iter().all(|a| a["kibana.alert.group.id"] == alerts[3]["kibana.alert.uuid"]));
    assert_eq!(alerts[3]["user"]["name"], "alice");
    assert_eq!(alerts[3]["kibana.alert.rule.type"], "eql");
}

#[test]
fn an_eql_sample_alerts_once_for_events_that_share_keys_in_any_order() {
    let query = "sample by host.id, process.pid\n  [file where file.path == \"/etc/passwd\"]\n  [network where destination.port == 4444]";
    let event = |id: &str, time: &str, host: &str, pid: u32, category: &str, detail: &str| {
        format!(
            "{{\"@timestamp\":\"2026-03-02T{time}Z\",\"event\":{{\"id\":\"{id}\",\"category\":[\"{category}\"]}},\"host\":{{\"id\":\"{host}\"}},\"process\":{{\"pid\":{pid}}},{detail}}}\n"
        )
    };
    let events = [
        // The connection before the read: a sample has no order.
        event("n1", "08:00:00", "h1", 7, "network", "\"destination\":{\"port\":4444}"),
        event("f1", "08:01:00", "h1", 7, "file", "\"file\":{\"path\":\"/etc/passwd\"}"),
        // Another process of the host reads it, and connects nowhere.
        event("f2", "08:02:00", "h1", 8, "file", "\"file\":{\"path\":\"/etc/passwd\"}"),
    ]
    .concat();
    // Every execution whose window holds both events finds the sample; it alerts once: the
    // building blocks (listed in time order, numbered in term order), then the shell.
    let (alerts, summary) = scan_eql(query, &events);
    assert_eq!(summary, groups(&[(Some("n1"), Some(1)), (Some("f1"), Some(0)), (None, None)]));
    assert!(alerts.iter().all(|a| a["kibana.alert.group.id"] == alerts[2]["kibana.alert.uuid"]));
    assert_eq!((alerts[2]["host"]["id"].as_str(), alerts[2]["process"]["pid"].as_i64()), (Some("h1"), Some(7)));
}
