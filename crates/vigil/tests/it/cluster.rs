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
    // Node b holds them once its replicator has applied the log.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = get(&b.url, &b_key, "/health");
        let a_health = get(&a.url, &a_key, "/health");
        if health["events"] == 3 && a_health["events"] == 3 {
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
    for server in [&mut a, &mut b] {
        server.child.kill().expect("stops");
        server.child.wait().expect("reaped");
    }
}
