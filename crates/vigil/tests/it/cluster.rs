//! `vigil serve` in cluster mode: two and three nodes on a three-server NATS JetStream cluster
//! (real `nats-server` processes on loopback) share one event log and one state log.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::nats::NatsCluster;

use crate::notify::Receiver;
use crate::serve::{Server, start};

const DKIM: &str = "514121ce-c7b6-474a-8237-68ff71672379";

/// A node's data directory and configuration: `[cluster]` on `nats`, then `extra`.
struct Node {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Node {
    fn new(nats: &NatsCluster, name: &str, extra: &str) -> Node {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let urls: Vec<String> = nats.urls().iter().map(|u| format!("\"{u}\"")).collect();
        let config = dir.path().join("vigil.toml");
        let text = format!("[cluster]\nurls = [{}]\nname = \"{name}\"\n{extra}", urls.join(", "));
        std::fs::write(&config, text).expect("write");
        Node { dir, config }
    }

    fn start(&self) -> Server {
        start(&self.dir.path().join("data"), &["--config".as_ref(), self.config.as_os_str()], &[])
    }
}

/// A node's answer to `GET /api/v1{path}`, whatever its status (health answers 503 while the
/// node is degraded, with the same body).
fn get(url: &str, key: &str, path: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut answer = agent
        .get(format!("{url}/api/v1{path}"))
        .header("authorization", &format!("ApiKey {key}"))
        .call()
        .expect("answers");
    answer.body_mut().read_json().expect("JSON")
}

/// Polls `done` every 50 ms until it holds, failing with `what` after `limit`.
fn wait_until(what: &dyn Fn() -> String, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{}", what());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn events_sent_to_one_node_are_evaluated_on_the_other() {
    let nats = NatsCluster::start(3);
    let (a_node, b_node) = (Node::new(&nats, "a", ""), Node::new(&nats, "b", ""));
    let mut a = a_node.start();
    let mut b = b_node.start();
    // One cluster, one first key: b finds a's in the state log and makes none.
    let key = a.admin.clone().expect("the cluster's first admin key");
    assert_eq!(b.admin, None, "a second node makes no key of its own");
    let samples =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/o365-raw.ndjson")).expect("samples");
    ureq::post(format!("{}/api/v1/events", a.url))
        .header("authorization", &format!("ApiKey {key}"))
        .send(&samples[..])
        .expect("acknowledged by the cluster");
    // Node b holds them once its replicator has applied the log; health says where it stands.
    let what = || format!("b: {}, a: {}", get(&b.url, &key, "/health"), get(&a.url, &key, "/health"));
    wait_until(&what, Duration::from_secs(30), || {
        get(&b.url, &key, "/health")["events"] == 3 && get(&a.url, &key, "/health")["events"] == 3
    });
    let health = get(&b.url, &key, "/health");
    assert_eq!(health["cluster"]["node"], "b");
    assert_eq!((health["cluster"]["log_last_seq"].as_u64(), health["cluster"]["behind"].as_u64()), (Some(3), Some(0)));
    let ran: Value = ureq::post(format!("{}/api/v1/rules/{DKIM}/run", b.url))
        .header("authorization", &format!("ApiKey {key}"))
        .send_empty()
        .expect("ran")
        .body_mut()
        .read_json()
        .expect("JSON");
    assert_eq!((ran["events"].as_u64(), ran["alerts"].as_u64()), (Some(3), Some(1)), "{ran}");

    // The alert is on node a too, once; acknowledged there, it is acknowledged on b.
    let listed = crate::serve::cli(&a.url, &key, &["alerts", "list", "--output", "jsonl"]);
    let alerts: Vec<Value> = listed.stdout.lines().map(|l| serde_json::from_str(l).expect("JSONL")).collect();
    assert_eq!(alerts.len(), 1, "{}", listed.stdout);
    let id = alerts[0]["id"].as_str().expect("an id").to_owned();
    let acked = crate::serve::cli(&a.url, &key, &["alerts", "ack", &id]);
    assert_eq!(acked.code, 0, "{}", acked.stderr);
    let what = || format!("not acknowledged on b within a second: {}", get(&b.url, &key, &format!("/alerts/{id}")));
    wait_until(&what, Duration::from_secs(1), || {
        get(&b.url, &key, &format!("/alerts/{id}"))["status"] == "acknowledged"
    });

    // A late record (two hours old, after the rule ran) through b: the next execution, on a,
    // still evaluates it, and both nodes hold its alert, marked late.
    let two_hours_ago = ecs::date::Timestamp::from_nanos(ecs::date::Timestamp::now().as_nanos() - 7_200_000_000_000);
    let mut late: Value = serde_json::from_str(&record("late-1", true)).expect("JSON");
    late["@timestamp"] = two_hours_ago.to_string().into();
    send(&b.url, &key, &[late.to_string()]).expect("acknowledged");
    let what = || "a never held the late record".to_owned();
    wait_until(&what, Duration::from_secs(30), || get(&a.url, &key, "/health")["events"] == 4);
    let ran = crate::serve::cli(&a.url, &key, &["rules", "run", DKIM]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    let what = || format!("a: {:?}, b: {:?}", alert_ids(&a.url, &key), alert_ids(&b.url, &key));
    wait_until(&what, Duration::from_secs(10), || {
        let on_a = alert_ids(&a.url, &key);
        on_a.len() == 2 && on_a == alert_ids(&b.url, &key)
    });
    let page = get(&b.url, &key, &format!("/alerts?rule_id={DKIM}&limit=10"));
    let late_alert = page["alerts"].as_array().into_iter().flatten().find(|a| a["document"]["event"]["id"] == "late-1");
    assert_eq!(late_alert.map(|a| &a["document"]["vigil.alert.late"]), Some(&Value::Bool(true)));

    // A key made with `vigil keys` on b's host works on a.
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["keys", "create", "--name", "alice", "--role", "analyst", "--config"])
        .arg(&b_node.config)
        .arg("--data-dir")
        .arg(b_node.dir.path().join("data"))
        .output()
        .expect("vigil keys runs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let alice = String::from_utf8(made.stdout).expect("UTF-8").trim().to_owned();
    let what = || "alice's key does not work on a".to_owned();
    wait_until(&what, Duration::from_secs(5), || {
        ureq::get(format!("{}/api/v1/alerts", a.url)).header("authorization", &format!("ApiKey {alice}")).call().is_ok()
    });

    // Exception lists are shared: a list imported on a and an item added to it on b both apply
    // to an execution on b, and both nodes list both items.
    let lists = a_node.dir.path().join("lists.toml");
    std::fs::write(
        &lists,
        format!(
            "[[lists]]\nlist_id = \"dkim-maintenance\"\nrules = [\"{DKIM}\"]\n\n[[lists.items]]\nitem_id = \"first\"\n\
             entries = [{{ field = \"event.id\", type = \"match\", operator = \"included\", value = \"excepted-1\" }}]\n"
        ),
    )
    .expect("write");
    let imported = crate::serve::cli(&a.url, &key, &["exceptions", "import", &lists.to_string_lossy()]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let added = crate::serve::cli(
        &b.url,
        &key,
        &["exceptions", "add", "dkim-maintenance", "--item-id", "second", "--match", "event.id=excepted-2"],
    );
    assert_eq!(added.code, 0, "{}", added.stderr);
    for node in [&a, &b] {
        let exported = crate::serve::cli(&node.url, &key, &["exceptions", "export", "--format", "toml"]);
        let items = ["item_id = \"first\"", "item_id = \"second\""];
        assert!(items.iter().all(|item| exported.stdout.contains(item)), "{}", exported.stdout);
    }
    let excepted = [record("excepted-1", true), record("excepted-2", true)];
    send(&a.url, &key, &excepted).expect("acknowledged");
    let what = || "b never held the excepted records".to_owned();
    wait_until(&what, Duration::from_secs(30), || get(&b.url, &key, "/health")["events"] == 6);
    let ran = crate::serve::cli(&b.url, &key, &["rules", "run", DKIM]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(alert_ids(&b.url, &key).len(), 2, "the exception list applied on b");

    // Switched off on a: off on b too; and b's audit trail holds what was done on a.
    let disabled = crate::serve::cli(&a.url, &key, &["rules", "disable", DKIM]);
    assert_eq!(disabled.code, 0, "{}", disabled.stderr);
    let what = || "the rule is still on on b".to_owned();
    wait_until(&what, Duration::from_secs(1), || get(&b.url, &key, &format!("/rules/{DKIM}"))["enabled"] == false);
    let trail = get(&b.url, &key, "/audit?limit=100");
    let actions: Vec<&str> =
        trail["changes"].as_array().into_iter().flatten().filter_map(|c| c["action"].as_str()).collect();
    for action in ["key.create", "alert.status", "rule.disable"] {
        assert!(actions.contains(&action), "{action} not in b's trail: {actions:?}");
    }
    let acked_entry = trail["changes"].as_array().into_iter().flatten().find(|c| c["action"] == "alert.status");
    assert_eq!(acked_entry.map(|c| c["target"].clone()), Some(Value::from(id)), "the alerts that changed");
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

/// Sends `lines` to a node's events API; `Err` with the status when it is not acknowledged.
fn send(url: &str, key: &str, lines: &[String]) -> Result<(), u16> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let answer = agent
        .post(format!("{url}/api/v1/events"))
        .header("authorization", &format!("ApiKey {key}"))
        .send(lines.join("\n").as_bytes())
        .expect("answers");
    if answer.status() == 200 { Ok(()) } else { Err(answer.status().as_u16()) }
}

/// The ids of a node's alerts of the DKIM rule, sorted.
fn alert_ids(url: &str, key: &str) -> Vec<String> {
    let page = get(url, key, &format!("/alerts?rule_id={DKIM}&limit=1000"));
    let mut ids: Vec<String> =
        page["alerts"].as_array().into_iter().flatten().filter_map(|a| a["id"].as_str().map(str::to_owned)).collect();
    ids.sort();
    ids
}

/// The statuses of a node's alerts of the DKIM rule, by id.
fn statuses(url: &str, key: &str) -> Vec<(String, String)> {
    let page = get(url, key, &format!("/alerts?rule_id={DKIM}&limit=1000"));
    let alerts = page["alerts"].as_array().into_iter().flatten();
    let mut out: Vec<(String, String)> = alerts.map(|a| (a["id"].to_string(), a["status"].to_string())).collect();
    out.sort();
    out
}

#[test]
fn a_killed_stream_leader_and_a_node_killed_mid_execution_lose_and_double_nothing() {
    // The DKIM rule runs at every fifth minute, and the first part of the test needs its next
    // start away (a scheduled execution there would alert before a's): less than 90 s before
    // one, the test starts after it.
    let into = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs() % 300;
    if into > 210 {
        std::thread::sleep(Duration::from_secs(300 - into + 2));
    }
    let mut nats = NatsCluster::start(3);
    // Every node sends the DKIM rule's alerts to one webhook.
    let hook = Receiver::start();
    let extra = format!(
        "\n[[connectors]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n\n[[routes]]\nconnector = \"hook\"\nrules = [\"{DKIM}\"]\n",
        hook.url("/hook")
    );
    let nodes = [Node::new(&nats, "a", &extra), Node::new(&nats, "b", &extra), Node::new(&nats, "c", &extra)];
    let mut a = nodes[0].start();
    let key = a.admin.clone().expect("the cluster's first admin key");
    let (mut b, mut c) = (nodes[1].start(), nodes[2].start());
    let events = |server: &Server| get(&server.url, &key, "/health")["events"].as_u64();
    // The rule's first scheduled execution (on the empty log) is done before anything is sent:
    // its next one is 5 minutes away, so the executions below are the test's own.
    let what = || "the DKIM rule's first scheduled execution never came".to_owned();
    wait_until(&what, Duration::from_secs(30), || {
        get(&a.url, &key, &format!("/rules/{DKIM}"))["last_scheduled"].is_string()
    });

    // 100 records (40 DKIM changes) in ten requests through a and b; the event log's leader is
    // killed (kill -9) after the third, and every request is still acknowledged; 10 of them
    // are sent again through b.
    let records: Vec<String> = (0..100).map(|i| record(&format!("r{i}"), i % 5 < 2)).collect();
    let mut killed = None;
    for (n, batch) in records.chunks(10).enumerate() {
        let via = if n % 2 == 0 { &a } else { &b };
        assert_eq!(send(&via.url, &key, batch), Ok(()), "request {n}");
        if n == 2 {
            let leader = nats.leader("VIGIL_EVENTS").expect("the event log has a leader");
            nats.kill(leader);
            killed = Some(leader);
        }
    }
    assert_eq!(send(&b.url, &key, &records[..10]), Ok(()), "sent again");
    nats.restart(&[killed.expect("a leader was killed")]);
    let what = || format!("events on a, b, c: {:?}", [&a, &b, &c].map(events));
    wait_until(&what, Duration::from_secs(60), || [&a, &b, &c].iter().all(|s| events(s) == Some(100)));

    // Every NATS server down: a runs the DKIM rule (its 40 alerts), and its execution waits to
    // commit; a is killed (kill -9) in the middle of it. Ingest answers 503 meanwhile.
    for i in 0..3 {
        nats.kill(i);
    }
    let run_url = format!("{}/api/v1/rules/{DKIM}/run", a.url);
    let auth = format!("ApiKey {key}");
    let running = std::thread::spawn(move || ureq::post(run_url).header("authorization", &auth).send_empty().is_ok());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!running.is_finished(), "a's execution is waiting for the cluster to take its commit");
    a.child.kill().expect("kill -9 node a");
    a.child.wait().expect("reaped");
    let _ = running.join();
    assert_eq!(send(&b.url, &key, &[record("down-1", true)]), Err(503), "nothing acknowledged with no server up");
    for node in [&b, &c] {
        assert_eq!(alert_ids(&node.url, &key).len(), 0, "searches still answer; a's execution left nothing");
    }

    // The servers and a come back; the refused record is sent again (through c), with 20 more
    // DKIM changes; the rule runs on b.
    nats.restart(&[0, 1, 2]);
    let mut a = nodes[0].start();
    let more: Vec<String> = (100..120).map(|i| record(&format!("r{i}"), true)).collect();
    assert_eq!(send(&c.url, &key, &[record("down-1", true)]), Ok(()), "sent again after the 503");
    assert_eq!(send(&c.url, &key, &more), Ok(()));
    let what = || format!("events on a, b, c: {:?}", [&a, &b, &c].map(events));
    wait_until(&what, Duration::from_secs(60), || [&a, &b, &c].iter().all(|s| events(s) == Some(121)));
    let ran = crate::serve::cli(&b.url, &key, &["rules", "run", DKIM]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);

    // Every node: the 121 events once, one alert per DKIM change (61), the same ones, and the
    // rule's progress at the end of the log.
    let what = || format!("alerts on a, b, c: {:?}", [&a, &b, &c].map(|s| alert_ids(&s.url, &key).len()));
    wait_until(&what, Duration::from_secs(30), || {
        let on_a = alert_ids(&a.url, &key);
        on_a.len() == 61 && on_a == alert_ids(&b.url, &key) && on_a == alert_ids(&c.url, &key)
    });
    for node in [&a, &b, &c] {
        let rule = get(&node.url, &key, &format!("/rules/{DKIM}"));
        assert_eq!(rule["covered_seq"].as_u64(), Some(121), "{rule}");
    }
    // Five closed on c: closed on every node.
    let ids = alert_ids(&c.url, &key);
    let mut close = vec!["alerts", "close"];
    close.extend(ids[..5].iter().map(String::as_str));
    let closed = crate::serve::cli(&c.url, &key, &close);
    assert_eq!(closed.code, 0, "{}", closed.stderr);
    let what = || format!("statuses differ: {:?}", [&a, &b, &c].map(|s| statuses(&s.url, &key)));
    wait_until(&what, Duration::from_secs(5), || {
        let on_c = statuses(&c.url, &key);
        on_c.iter().filter(|(_, status)| status == "\"closed\"").count() == 5
            && on_c == statuses(&a.url, &key)
            && on_c == statuses(&b.url, &key)
    });
    // One notification per alert, from the node whose execution committed, none twice.
    let what = || format!("{} notifications for 61 alerts", hook.keys().len());
    wait_until(&what, Duration::from_secs(30), || hook.keys().len() >= 61);
    std::thread::sleep(Duration::from_secs(2));
    let mut notified = hook.keys();
    notified.sort();
    assert_eq!(notified, ids, "each alert notified once");
    for server in [&mut a, &mut b, &mut c] {
        server.child.kill().expect("stops");
        server.child.wait().expect("reaped");
    }
}
