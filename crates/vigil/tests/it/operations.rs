//! Service operations without curl, against a real `vigil serve`: rules run, switched and their
//! executions; alerts shown for a terminal by id prefix and triaged by filter; the pivot from an
//! alert to its user's events; and `status` and `keys` refusing what they used to accept.

use serde_json::Value;

use crate::serve::{cli, start};

const DKIM: &str = "514121ce-c7b6-474a-8237-68ff71672379";

fn key(data: &std::path::Path, name: &str, role: &str) -> String {
    let made =
        crate::vigil(&["keys", "create", "--name", name, "--role", role, "--data-dir", &data.to_string_lossy()], "");
    assert_eq!(made.code, 0, "{}", made.stderr);
    made.stdout.trim().to_owned()
}

#[test]
fn rules_alerts_and_events_are_operated_from_the_command_line() {
    let data = tempfile::tempdir().expect("tempdir");
    let server = start(data.path(), &[], &[]);
    let url = server.url.clone();
    let admin = server.admin.clone().expect("the first admin key");
    let analyst = key(data.path(), "alice", "analyst");
    let ingest = key(data.path(), "shipper", "ingest");

    // `status` sees nothing without a key that may read, and says so (it answered "ok").
    let none = cli(&url, "", &["status"]);
    assert_eq!(none.code, 2, "{}", none.stdout);
    assert!(none.stderr.contains("no API key: give --api-key KEY or set VIGIL_API_KEY"), "{}", none.stderr);
    let wrong = cli(&url, "vgl_nope_nope", &["status"]);
    assert_eq!(wrong.code, 2);
    assert!(wrong.stderr.contains("refused the API key"), "{}", wrong.stderr);
    assert_eq!(cli(&url, &ingest, &["status"]).code, 2, "an ingest key cannot read the state");
    let revoked = key(data.path(), "bob", "analyst");
    assert_eq!(cli(&url, &revoked, &["status"]).code, 0, "a live analyst key sees the state");
    let id = revoked.split('_').nth(1).expect("the key's id");
    let revoke = crate::vigil(&["keys", "revoke", id, "--data-dir", &data.path().to_string_lossy()], "");
    assert_eq!(revoke.code, 0, "{}", revoke.stderr);
    let refused = cli(&url, &revoked, &["status"]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(refused.stderr.contains("refused the API key"), "{}", refused.stderr);

    // Two DKIM changes by two people, and a mailbox access of the first from their address.
    let samples = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-raw.ndjson"))
        .expect("samples");
    let dkim = samples.lines().next().expect("a DKIM record");
    let second = dkim
        .replace("7c1e4a90-0d1f-4b6e-9a52-5f3c2b1d0a01", "7c1e4a90-0d1f-4b6e-9a52-5f3c2b1d0a99")
        .replace("it-admin@", "helpdesk@")
        .replace("198.51.100.23", "203.0.113.200");
    let body = format!("{samples}\n{second}\n");
    ureq::post(format!("{url}/api/v1/events"))
        .header("authorization", &format!("ApiKey {ingest}"))
        .send(body.as_bytes())
        .expect("events sent");

    // Rules: disabled and enabled by a word of the name; run now; their executions listed.
    let disabled = cli(&url, &admin, &["rules", "disable", "DKIM Signing"]);
    assert_eq!(
        (disabled.code, disabled.stdout.trim()),
        (0, format!("disabled: Microsoft 365 Exchange DKIM Signing Configuration Disabled ({DKIM})").as_str()),
        "{}",
        disabled.stderr
    );
    assert_eq!(cli(&url, &analyst, &["rules", "enable", DKIM]).code, 2, "switching rules is the admin's");
    assert_eq!(cli(&url, &admin, &["rules", "enable", DKIM]).code, 0);
    let unknown = cli(&url, &admin, &["rules", "run", "no such rule"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("has no rule with the id or a name holding `no such rule`"), "{}", unknown.stderr);
    let ran = cli(&url, &admin, &["rules", "run", "dkim"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stdout.starts_with("succeeded") && ran.stdout.contains("2 alerts"), "{}", ran.stdout);
    let executions = cli(&url, &analyst, &["rules", "executions", DKIM]);
    assert_eq!(executions.code, 0, "{}", executions.stderr);
    assert!(executions.stdout.contains("2 alerts") && executions.stdout.contains("window "), "{}", executions.stdout);
    assert_eq!(cli(&url, &admin, &["rules", "run", "--all"]).code, 0);

    // Alerts: listed as CSV (it printed JSONL), shown for a terminal by a prefix of the id.
    let csv = cli(&url, &analyst, &["alerts", "list", "--output", "csv"]);
    assert_eq!(csv.code, 0, "{}", csv.stderr);
    let rows: Vec<&str> = csv.stdout.lines().collect();
    assert_eq!(rows[0], "id,created,severity,status,rule_id,rule,event_time,user,source_ip,reason");
    assert_eq!(rows.len(), 3, "{}", csv.stdout);
    let helpdesk = rows.iter().find(|r| r.contains("helpdesk")).expect("helpdesk's alert");
    let id = helpdesk.split(',').next().expect("an id").to_owned();
    let shown = cli(&url, &analyst, &["alerts", "show", &id[..8]]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    for part in [
        "Microsoft 365 Exchange DKIM Signing Configuration Disabled",
        "who       helpdesk",
        "from 203.0.113.200",
        "T1556 Modify Authentication Process",
        "Investigation guide",
        "History",
    ] {
        assert!(shown.stdout.contains(part), "{part} in\n{}", shown.stdout);
    }
    let json = cli(&url, &analyst, &["alerts", "show", &id[..8], "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&json.stdout).expect("JSON")["id"], id.as_str());
    assert_eq!(cli(&url, &analyst, &["alerts", "show", &id[..3]]).code, 2, "too short a prefix");
    assert!(cli(&url, &analyst, &["alerts", "show", "000000"]).stderr.contains("no alert"));

    // The pivot: helpdesk's and 203.0.113.200's events around the alert.
    let around = cli(&url, &analyst, &["events", "search", "--around", &id[..8], "--since", "1h", "--output", "jsonl"]);
    assert_eq!(around.code, 0, "{}", around.stderr);
    let events: Vec<Value> = around.stdout.lines().map(|l| serde_json::from_str(l).expect("JSONL")).collect();
    assert!(
        !events.is_empty()
            && events.iter().all(|e| e.to_string().contains("helpdesk") || e.to_string().contains("203.0.113.200")),
        "{}",
        around.stdout
    );
    let searched = cli(
        &url,
        &analyst,
        &["events", "search", "event.action:\"Set-DkimSigningConfig\"", "--since", "3650d", "--output", "table"],
    );
    assert!(searched.stdout.contains("3 events"), "{}", searched.stdout);

    // Bulk triage by filter: every open DKIM alert, with a note.
    assert_eq!(cli(&url, &analyst, &["alerts", "close"]).code, 2, "no ids and no filter closes nothing");
    let closed = cli(&url, &analyst, &["alerts", "close", "--rule", DKIM, "--status", "open", "--note", "maintenance"]);
    assert_eq!(closed.code, 0, "{}", closed.stderr);
    assert_eq!(closed.stdout.lines().filter(|l| l.starts_with("closed: ")).count(), 2, "{}", closed.stdout);
    let open = cli(&url, &analyst, &["alerts", "list", "--status", "open", "--output", "jsonl"]);
    assert_eq!((open.code, open.stdout.as_str()), (1, ""));
    let history = cli(&url, &analyst, &["alerts", "show", &id, "--json"]);
    assert!(history.stdout.contains("maintenance"), "{}", history.stdout);
    let mut child = server.child;
    child.kill().expect("stopped");
    child.wait().expect("ended");
}

#[test]
fn keys_are_made_only_in_a_data_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-data");
    let made = crate::vigil(
        &["keys", "create", "--name", "x", "--role", "admin", "--data-dir", &missing.to_string_lossy()],
        "",
    );
    assert_eq!(made.code, 2, "{}", made.stdout);
    assert!(
        made.stderr.contains("is not a vigil data directory") && made.stderr.contains("--data-dir"),
        "{}",
        made.stderr
    );
    assert!(!missing.exists(), "no store was made");
}
