//! `vigil serve` in cluster mode: two nodes on a three-server NATS JetStream cluster (real
//! `nats-server` processes on loopback) share one event log.

use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::nats::NatsCluster;

use crate::serve::{Server, start};

const DKIM: &str = "514121ce-c7b6-474a-8237-68ff71672379";

fn node(nats: &NatsCluster, name: &str) -> (tempfile::TempDir, Server, String) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let urls: Vec<String> = nats.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let config = dir.path().join("vigil.toml");
    std::fs::write(&config, format!("[cluster]\nurls = [{}]\nname = \"{name}\"\n", urls.join(", "))).expect("write");
    let data = dir.path().join("data");
    let server = start(&data, &["--config".as_ref(), config.as_os_str()], &[]);
    let key = server.admin.clone().expect("an admin key");
    (dir, server, key)
}

fn get(url: &str, key: &str, path: &str) -> Value {
    ureq::get(format!("{url}/api/v1{path}"))
        .header("authorization", &format!("ApiKey {key}"))
        .call()
        .expect("answers")
        .body_mut()
        .read_json()
        .expect("JSON")
}

#[test]
fn events_sent_to_one_node_are_evaluated_on_the_other() {
    let nats = NatsCluster::start(3);
    let (_a_dir, mut a, a_key) = node(&nats, "a");
    let (_b_dir, mut b, b_key) = node(&nats, "b");
    let samples =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-raw.ndjson")).expect("samples");
    ureq::post(format!("{}/api/v1/events", a.url))
        .header("authorization", &format!("ApiKey {a_key}"))
        .send(&samples[..])
        .expect("acknowledged by the cluster");
    // Node b holds them once its replicator has applied the log; health says where it stands.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = get(&b.url, &b_key, "/health");
        let a_health = get(&a.url, &a_key, "/health");
        if health["events"] == 3 && a_health["events"] == 3 {
            assert_eq!(health["cluster"]["node"], "b");
            assert_eq!(
                (health["cluster"]["log_last_seq"].as_u64(), health["cluster"]["behind"].as_u64()),
                (Some(3), Some(0))
            );
            break;
        }
        assert!(Instant::now() < deadline, "b: {health}, a: {a_health}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran: Value = ureq::post(format!("{}/api/v1/rules/{DKIM}/run", b.url))
        .header("authorization", &format!("ApiKey {b_key}"))
        .send_empty()
        .expect("ran")
        .body_mut()
        .read_json()
        .expect("JSON");
    assert_eq!((ran["events"].as_u64(), ran["alerts"].as_u64()), (Some(3), Some(1)), "{ran}");

    // The alert is on node a too, once; acknowledged there, it is acknowledged on b.
    let listed = crate::serve::cli(&a.url, &a_key, &["alerts", "list", "--output", "jsonl"]);
    let alerts: Vec<Value> = listed.stdout.lines().map(|l| serde_json::from_str(l).expect("JSONL")).collect();
    assert_eq!(alerts.len(), 1, "{}", listed.stdout);
    let id = alerts[0]["id"].as_str().expect("an id").to_owned();
    let acked = crate::serve::cli(&a.url, &a_key, &["alerts", "ack", &id]);
    assert_eq!(acked.code, 0, "{}", acked.stderr);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let alert = get(&b.url, &b_key, &format!("/alerts/{id}"));
        if alert["status"] == "acknowledged" {
            break;
        }
        assert!(Instant::now() < deadline, "not acknowledged on b within a second: {alert}");
        std::thread::sleep(Duration::from_millis(20));
    }

    // A late record (two hours old, after the rule ran) through b: the next execution, on a,
    // still evaluates it, and both nodes hold its alert, marked late.
    let two_hours_ago = ecs::date::Timestamp::from_nanos(ecs::date::Timestamp::now().as_nanos() - 7_200_000_000_000);
    let mut late: Value = serde_json::from_str(&record("late-1", true)).expect("JSON");
    late["@timestamp"] = two_hours_ago.to_string().into();
    send(&b.url, &b_key, &[late.to_string()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&a.url, &a_key, "/health")["events"] != 4 {
        assert!(Instant::now() < deadline, "a never held the late record");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ran = crate::serve::cli(&a.url, &a_key, &["rules", "run", DKIM]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (on_a, on_b) = (alert_ids(&a.url, &a_key), alert_ids(&b.url, &b_key));
        if on_a.len() == 2 && on_a == on_b {
            break;
        }
        assert!(Instant::now() < deadline, "a: {on_a:?}, b: {on_b:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let page = get(&b.url, &b_key, &format!("/alerts?rule_id={DKIM}&limit=10"));
    let late_alert = page["alerts"].as_array().into_iter().flatten().find(|a| a["document"]["event"]["id"] == "late-1");
    assert_eq!(late_alert.map(|a| &a["document"]["vigil.alert.late"]), Some(&Value::Bool(true)));

    // Switched off on a: off on b too.
    let disabled = crate::serve::cli(&a.url, &a_key, &["rules", "disable", DKIM]);
    assert_eq!(disabled.code, 0, "{}", disabled.stderr);
    let deadline = Instant::now() + Duration::from_secs(1);
    while get(&b.url, &b_key, &format!("/rules/{DKIM}"))["enabled"] != false {
        assert!(Instant::now() < deadline, "the rule is still on on b");
        std::thread::sleep(Duration::from_millis(20));
    }
    for server in [&mut a, &mut b] {
        server.child.kill().expect("stops");
        server.child.wait().expect("reaped");
    }
}

/// An Office 365 record in ECS form: a DKIM-disabling change (the built-in rule's match) or a
/// mailbox access, `seconds` ago.
fn record(id: &str, dkim: bool) -> String {
    let action = if dkim { "Set-DkimSigningConfig" } else { "MailItemsAccessed" };
    serde_json::json!({"@timestamp": ecs::date::Timestamp::now().to_string(),
        "event": {"id": id, "dataset": "o365.audit", "provider": "Exchange", "category": ["web"], "action": action,
                  "outcome": "success"},
        "o365": {"audit": {"Parameters": {"Enabled": "False"}}},
        "data_stream": {"type": "logs", "dataset": "o365.audit", "namespace": "default"}})
    .to_string()
}

fn send(url: &str, key: &str, lines: &[String]) {
    ureq::post(format!("{url}/api/v1/events"))
        .header("authorization", &format!("ApiKey {key}"))
        .send(lines.join("\n").as_bytes())
        .expect("acknowledged by the cluster");
}

/// The ids of a node's alerts of the DKIM rule, sorted.
fn alert_ids(url: &str, key: &str) -> Vec<String> {
    let page = get(url, key, &format!("/alerts?rule_id={DKIM}&limit=1000"));
    let mut ids: Vec<String> =
        page["alerts"].as_array().into_iter().flatten().filter_map(|a| a["id"].as_str().map(str::to_owned)).collect();
    ids.sort();
    ids
}

#[test]
fn a_killed_nats_server_and_a_killed_node_lose_and_double_nothing() {
    let mut nats = NatsCluster::start(3);
    let (a_dir, mut a, a_key) = node(&nats, "a");
    let (_b_dir, mut b, b_key) = node(&nats, "b");
    // 40 DKIM changes and 60 other records, through both nodes; 10 of a's sent again through b.
    let records: Vec<String> = (0..100).map(|i| record(&format!("r{i}"), i % 5 < 2)).collect();
    send(&a.url, &a_key, &records[..50]);
    send(&b.url, &b_key, &records[50..]);
    send(&b.url, &b_key, &records[..10]);
    // The DKIM rule runs on a, which is killed (kill -9) while it does; so is a NATS server.
    let run_url = format!("{}/api/v1/rules/{DKIM}/run", a.url);
    let auth = format!("ApiKey {a_key}");
    let running = std::thread::spawn(move || ureq::post(run_url).header("authorization", &auth).send_empty().is_ok());
    std::thread::sleep(Duration::from_millis(30));
    a.child.kill().expect("kill -9 node a");
    a.child.wait().expect("reaped");
    let _ = running.join();
    nats.kill(0);
    // Meanwhile 20 more DKIM changes arrive through b.
    let more: Vec<String> = (100..120).map(|i| record(&format!("r{i}"), true)).collect();
    send(&b.url, &b_key, &more);
    // Both come back; the rule runs on b.
    nats.restart(&[0]);
    let config = a_dir.path().join("vigil.toml");
    let mut a = start(&a_dir.path().join("data"), &["--config".as_ref(), config.as_os_str()], &[]);
    // (An execution covers what its node's store holds: b runs once its replicator has the 120.)
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&b.url, &b_key, "/health")["events"] != 120 {
        assert!(Instant::now() < deadline, "b never held the 120 events");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ran = crate::serve::cli(&b.url, &b_key, &["rules", "run", DKIM]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    // Every node: the 120 events once, and exactly one alert per DKIM change, the same ones.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (on_a, on_b) = (alert_ids(&a.url, &a_key), alert_ids(&b.url, &b_key));
        let events =
            (get(&a.url, &a_key, "/health")["events"].clone(), get(&b.url, &b_key, "/health")["events"].clone());
        if on_a.len() == 60 && on_a == on_b && events == (120.into(), 120.into()) {
            break;
        }
        assert!(Instant::now() < deadline, "a: {} alerts, b: {} alerts, events {events:?}", on_a.len(), on_b.len());
        std::thread::sleep(Duration::from_millis(100));
    }
    for server in [&mut a, &mut b] {
        server.child.kill().expect("stops");
        server.child.wait().expect("reaped");
    }
}
