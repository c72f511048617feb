//! Cluster mode against real `nats-server` processes (three, clustered on loopback): events
//! published through two nodes reach both nodes' stores once each, under the stream's numbers,
//! through a server killed and all of them down; executions, triage, checkpoints, API keys and
//! exception lists are shared through the state log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cluster::{Cluster, ClusterLog, Settings};
use ecs::date::Timestamp;
use engine::storage::{Appended, EventLog, EventQuery, NewEvent};
use testkit::nats::NatsCluster;

fn event(n: usize) -> NewEvent {
    engine::prepare(
        serde_json::json!({"@timestamp": "2026-03-02T08:00:00Z", "event": {"id": format!("e{n}"), "dataset": "o365.audit",
            "action": "Set-DkimSigningConfig"}}),
        None,
        None,
        Timestamp::now(),
    )
}

fn settings(nats: &NatsCluster, name: &str) -> Settings {
    // Long enough for a stream leader's election after a server is killed (seen: over 3 s on a
    // loaded machine); the test waits that long for the refusal when all servers are down.
    Settings { urls: nats.urls(), name: name.into(), publish_timeout: Duration::from_secs(15), ..Settings::default() }
}

/// A node: its store, its connection, and the task applying the log to its store.
struct Node {
    _dir: tempfile::TempDir,
    local: Arc<store::Sqlite>,
    log: Arc<ClusterLog>,
}

async fn node(nats: &NatsCluster, name: &str) -> Node {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let local = Arc::new(store::Sqlite::open(dir.path()).expect("a store"));
    let cluster = Cluster::connect(settings(nats, name)).await.expect("connects");
    tokio::spawn(cluster.replicate(local.clone()).run());
    let log = Arc::new(ClusterLog::new(cluster, tokio::runtime::Handle::current()));
    Node { _dir: dir, local, log }
}

/// Appends through a node's log, off the runtime's threads as the service does.
async fn append(node: &Node, events: Vec<NewEvent>) -> Result<Vec<Appended>, String> {
    let log = node.log.clone();
    tokio::task::spawn_blocking(move || log.append(&events)).await.expect("joins").map_err(|e| e.to_string())
}

/// Every stored event of a node: (sequence number, event id), in order.
fn stored(node: &Node) -> Vec<(u64, String)> {
    let query = EventQuery { window: None, after: None, up_to: u64::MAX, limit: None, ordered: true, from_seq: 0 };
    let mut out = Vec::new();
    node.local
        .scan(&query, &mut |e| {
            out.push((e.seq, e.event_id));
            true
        })
        .expect("scans");
    out
}

/// Waits until the node's store holds `count` events.
async fn until_stored(node: &Node, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.local.event_count().expect("counts") < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} events replicated",
            node.local.event_count().unwrap_or(0)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_hold_the_same_events_once_through_a_lost_server() {
    let mut nats = NatsCluster::start(3);
    let (a, b) = (node(&nats, "a").await, node(&nats, "b").await);

    let first = append(&a, (0..100).map(event).collect()).await.expect("acknowledged");
    assert!(first.iter().all(|x| matches!(x, Appended::Stored(_))));
    let second = append(&b, (100..200).map(event).collect()).await.expect("acknowledged");
    assert!(second.iter().all(|x| matches!(x, Appended::Stored(_))));
    // Re-sent through the other node: the stream knows them by their identity.
    let again = append(&b, (0..20).map(event).collect()).await.expect("acknowledged");
    assert_eq!(
        again,
        first[..20]
            .iter()
            .map(|x| match x {
                Appended::Stored(seq) => Appended::Duplicate(*seq),
                other => *other,
            })
            .collect::<Vec<_>>()
    );
    until_stored(&a, 200).await;
    until_stored(&b, 200).await;
    assert_eq!(stored(&a), stored(&b), "the same events under the same numbers");
    assert_eq!(stored(&a).iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), (1..=200).collect::<Vec<u64>>());

    // One server killed: two of three still make a quorum.
    nats.kill(0);
    let third = append(&a, (200..300).map(event).collect()).await.expect("acknowledged by two servers");
    assert_eq!(third.len(), 100);
    until_stored(&b, 300).await;

    // All down: nothing is acknowledged, and the node says so.
    nats.kill(1);
    nats.kill(2);
    let refused = append(&a, (300..310).map(event).collect()).await;
    assert!(refused.is_err(), "{refused:?}");
    // Back up: what was acknowledged is all there, and the log goes on.
    nats.restart(&[0, 1, 2]);
    let fourth = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match append(&b, (300..310).map(event).collect()).await {
                Ok(acks) => break acks,
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    })
    .await
    .expect("the cluster takes events again");
    assert_eq!(fourth.len(), 10);
    until_stored(&a, 310).await;
    until_stored(&b, 310).await;
    let (on_a, on_b) = (stored(&a), stored(&b));
    assert_eq!(on_a, on_b);
    let ids: std::collections::BTreeSet<&str> = on_a.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), 310, "every event once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_filled_on_its_own_cannot_join() {
    let nats = NatsCluster::start(1);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let local = store::Sqlite::open(dir.path()).expect("a store");
    local.append(&[event(1), event(2)]).expect("single-node appends");
    let settings = Settings { replicas: 1, ..settings(&nats, "solo") };
    let cluster = Cluster::connect(settings).await.expect("connects");
    let refused = cluster.check(&local).await.expect_err("two events the log does not have");
    assert!(refused.to_string().contains("has events up to 2 but the cluster's log only to 0"), "{refused}");
    let other = tempfile::tempdir().expect("a temporary folder");
    let empty = store::Sqlite::open(other.path()).expect("a store");
    cluster.check(&empty).await.expect("an empty store follows the log");
}

/// A node with the whole cluster storage: event log, state log, and its store.
struct FullNode {
    _dir: tempfile::TempDir,
    local: Arc<store::Sqlite>,
    store: Arc<cluster::ClusterStore>,
}

async fn full_node(nats: &NatsCluster, name: &str) -> FullNode {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let local = Arc::new(store::Sqlite::open(dir.path()).expect("a store"));
    let cluster = Cluster::connect(settings(nats, name)).await.expect("connects");
    tokio::spawn(cluster.replicate(local.clone()).run());
    let state = cluster::StateLog::open(cluster.clone(), local.clone(), dir.path().join("cluster-state"))
        .await
        .expect("the state log");
    tokio::spawn(state.clone().apply());
    // Short leases: the notifications test waits for one to expire.
    let leases = cluster::Leases::open(&cluster, Duration::from_secs(2)).await.expect("the lease bucket");
    let log = ClusterLog::new(cluster, tokio::runtime::Handle::current());
    let runtime = tokio::runtime::Handle::current();
    let store = Arc::new(cluster::ClusterStore::new(log, state, leases, local.clone(), runtime));
    FullNode { _dir: dir, local, store }
}

fn dkim(n: usize) -> NewEvent {
    engine::prepare(
        serde_json::json!({"@timestamp": Timestamp::now().to_string(), "event": {"id": format!("d{n}"), "dataset": "o365.audit",
            "provider": "Exchange", "category": ["web"], "action": "Set-DkimSigningConfig", "outcome": "success"},
            "o365": {"audit": {"Parameters": {"Enabled": "False"}}}}),
        None,
        None,
        Timestamp::now(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_and_triage_are_shared_and_never_doubled() {
    use engine::storage::{AlertFilter, AlertStore, RuleStates, StatusChange, WorkflowStatus};
    let nats = NatsCluster::start(3);
    let (a, b) = (full_node(&nats, "a").await, full_node(&nats, "b").await);
    let store = a.store.clone();
    tokio::task::spawn_blocking(move || store.append(&[dkim(1), dkim(2)])).await.expect("joins").expect("acknowledged");
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.local.event_count().expect("counts") < 2 || b.local.event_count().expect("counts") < 2 {
        assert!(Instant::now() < deadline, "events not replicated");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Both nodes run the DKIM rule at the same scheduled start: one commit wins everywhere.
    let rule = rules::builtin().rules.remove(0);
    let start = Timestamp::from_nanos(Timestamp::now().as_nanos() / 300_000_000_000 * 300_000_000_000);
    let run = |store: Arc<cluster::ClusterStore>, rule: rules::Rule| {
        tokio::task::spawn_blocking(move || {
            engine::schedule::execute(
                store.as_ref(),
                ecs::Catalog::builtin(),
                std::slice::from_ref(&rule),
                &Default::default(),
                &engine::schedule::Silent,
                start,
                engine::schedule::Trigger::Scheduled,
            )
        })
    };
    let (on_a, on_b) = (run(a.store.clone(), rule.clone()), run(b.store.clone(), rule.clone()));
    on_a.await.expect("joins").expect("runs");
    on_b.await.expect("joins").expect("runs");
    let alerts = |node: &FullNode| {
        let mut out = Vec::new();
        node.local
            .alerts(&AlertFilter::default(), &mut |alert| {
                out.push((alert.id, alert.status));
                true
            })
            .expect("alerts");
        out.sort_by_key(|(id, _)| *id);
        out
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while alerts(&a).len() < 2 || alerts(&b).len() < 2 {
        assert!(Instant::now() < deadline, "alerts not on both nodes: {:?} {:?}", alerts(&a), alerts(&b));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(alerts(&a), alerts(&b), "the same two alerts on both nodes, once");
    assert_eq!(alerts(&a).len(), 2);
    assert_eq!(a.local.rule_state(&rule.id.0).expect("state"), b.local.rule_state(&rule.id.0).expect("state"));
    // One execution record on each: the commit that came second was dropped everywhere.
    assert_eq!(a.local.executions(&rule.id.0, 10).expect("executions").len(), 1);
    assert_eq!(
        b.local.executions(&rule.id.0, 10).expect("executions"),
        a.local.executions(&rule.id.0, 10).expect("executions")
    );

    // Acknowledged on b: seen on a within a second.
    let id = alerts(&a)[0].0;
    let change =
        StatusChange { status: WorkflowStatus::Acknowledged, by: "alice".into(), at: Timestamp::now(), note: None };
    let store = b.store.clone();
    let changed =
        tokio::task::spawn_blocking(move || store.set_status(&[id], &change)).await.expect("joins").expect("changed");
    assert_eq!(changed, [id]);
    let deadline = Instant::now() + Duration::from_secs(1);
    while a.local.alert(&id).expect("reads").map(|x| x.status) != Some(WorkflowStatus::Acknowledged) {
        assert!(Instant::now() < deadline, "the change did not reach node a within a second");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A rule switched off, on and off again on a: off on b (the same change twice is two
    // transitions, not one re-sent).
    let store = a.store.clone();
    tokio::task::spawn_blocking(move || {
        for enabled in [false, true, false] {
            store.set_enabled("some-rule", enabled)?;
        }
        Ok::<_, engine::storage::StoreError>(())
    })
    .await
    .expect("joins")
    .expect("switched");
    assert_eq!(a.local.rule_state("some-rule").expect("reads").enabled, Some(false));

    // An Office 365 pull on a: its checkpoints are b's too, for b to resume from.
    use store::Checkpoints;
    let store = a.store.clone();
    tokio::task::spawn_blocking(move || {
        store.take("t1", "Audit.Exchange", "blob-1", Timestamp::now(), store::Taken::Records(5))?;
        store.set_listed_to("t1", "Audit.Exchange", Timestamp::from_nanos(1_800_000_000_000_000_000))
    })
    .await
    .expect("joins")
    .expect("kept");
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let on_b = b.local.checkpoints().expect("reads");
        if on_b.len() == 1 && on_b[0].blobs == 1 && on_b[0].records == 5 && on_b[0].listed_to.is_some() {
            assert_eq!(on_b, a.local.checkpoints().expect("reads"));
            // b applies in order: having the checkpoints, it has the switches published before.
            assert_eq!(b.local.rule_state("some-rule").expect("reads").enabled, Some(false));
            break;
        }
        assert!(Instant::now() < deadline, "b's checkpoints: {on_b:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_concurrent_batches_are_acknowledged() {
    // Two requests of 6,000 events at once: more than the client's 5,000 acknowledgement permits.
    let nats = NatsCluster::start(1);
    let one = |name: &str| Settings { replicas: 1, ..settings(&nats, name) };
    let dir = tempfile::tempdir().expect("a temporary folder");
    let local = Arc::new(store::Sqlite::open(dir.path()).expect("a store"));
    let cluster = Cluster::connect(one("big")).await.expect("connects");
    tokio::spawn(cluster.replicate(local.clone()).run());
    let log = Arc::new(ClusterLog::new(cluster, tokio::runtime::Handle::current()));
    let node = Node { _dir: dir, local, log };
    let (first, second) = tokio::join!(
        append(&node, (0..6_000).map(event).collect()),
        append(&node, (6_000..12_000).map(event).collect())
    );
    assert_eq!((first.expect("acknowledged").len(), second.expect("acknowledged").len()), (6_000, 6_000));
    until_stored(&node, 12_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_takes_an_execution_until_its_lease_expires() {
    let nats = NatsCluster::start(3);
    let (a, b) = (
        Cluster::connect(settings(&nats, "a")).await.expect("connects"),
        Cluster::connect(settings(&nats, "b")).await.expect("connects"),
    );
    let ttl = Duration::from_secs(2);
    let (on_a, on_b) =
        (cluster::Leases::open(&a, ttl).await.expect("leases"), cluster::Leases::open(&b, ttl).await.expect("leases"));
    let (first, second) = tokio::join!(on_a.take(&["dkim", "1000"]), on_b.take(&["dkim", "1000"]));
    assert!(first ^ second, "exactly one node takes it: {first} {second}");
    let (holder, other) = if first { (&on_a, &on_b) } else { (&on_b, &on_a) };
    assert!(holder.take(&["dkim", "1000"]).await, "the holder still holds it");
    assert!(!other.take(&["dkim", "1000"]).await);
    assert!(other.take(&["dkim", "1300"]).await, "another execution is free");
    // The holder died: once its lease expires, the other takes the execution.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(other.take(&["dkim", "1000"]).await);
}

/// One exception list item, `event.id` = `id`, in list `maintenance`.
fn item(id: &str) -> rules::exceptions::ExceptionList {
    let text = format!(
        "[[lists]]\nlist_id = \"maintenance\"\n\n[[lists.items]]\nitem_id = \"{id}\"\n\
         entries = [{{ field = \"event.id\", type = \"match\", operator = \"included\", value = \"{id}\" }}]\n"
    );
    store::read_toml("item", &text).expect("reads").lists.remove(0)
}

fn entry(action: &str) -> store::AuditEntry {
    store::AuditEntry {
        at: Timestamp::now(),
        actor: "alice".into(),
        action: action.into(),
        target: "t".into(),
        detail: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_lists_are_shared_and_changes_made_at_once_all_land() {
    use store::{Access, Tuning};
    let nats = NatsCluster::start(3);
    let (a, b) = (full_node(&nats, "a").await, full_node(&nats, "b").await);
    let store = a.store.clone();
    tokio::task::spawn_blocking(move || store.put_list(&item("first"), &entry("list.create")))
        .await
        .expect("joins")
        .expect("stored");
    // Ten items added through each node at once: each node changes the list as its store has
    // it, and a change from a list another node changed meanwhile is made again from that one.
    let add = |node: &FullNode, name: &'static str| {
        let store = node.store.clone();
        tokio::task::spawn_blocking(move || {
            for n in 0..10 {
                let new = item(&format!("{name}{n}")).items.remove(0);
                let mut add = |list: Option<rules::exceptions::ExceptionList>| {
                    let mut list = list?;
                    list.items.push(new.clone());
                    Some(list)
                };
                store.change_list(
                    "maintenance",
                    rules::exceptions::NamespaceType::Single,
                    &mut add,
                    &entry("item.add"),
                )?;
            }
            engine::storage::StoreResult::Ok(())
        })
    };
    let (on_a, on_b) = (add(&a, "a"), add(&b, "b"));
    on_a.await.expect("joins").expect("a's items");
    on_b.await.expect("joins").expect("b's items");
    let items = |node: &FullNode| {
        let lists = node.local.exceptions().expect("reads").lists;
        let mut ids: Vec<String> = lists.iter().flat_map(|l| l.items.iter().map(|i| i.item_id.clone())).collect();
        ids.sort();
        ids
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while items(&a).len() != 21 || items(&a) != items(&b) {
        assert!(Instant::now() < deadline, "a: {:?}, b: {:?}", items(&a), items(&b));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A key made on a works on b; revoked on b, it is revoked on a; both keep both entries.
    let key = store::ApiKey {
        id: "k1".into(),
        name: "filebeat".into(),
        role: store::Role::Ingest,
        created: Timestamp::now(),
        revoked: None,
    };
    let (store_a, store_b) = (a.store.clone(), b.store.clone());
    let made = key.clone();
    tokio::task::spawn_blocking(move || store_a.add_key(&made, &[7; 32], &entry("key.create")))
        .await
        .expect("joins")
        .expect("made");
    let deadline = Instant::now() + Duration::from_secs(1);
    while b.local.key("k1").expect("reads").is_none() {
        assert!(Instant::now() < deadline, "the key never reached b");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(b.local.key("k1").expect("reads"), Some((key, [7; 32])));
    let revoked = tokio::task::spawn_blocking(move || store_b.revoke_key("k1", Timestamp::now(), &entry("key.revoke")));
    assert!(revoked.await.expect("joins").expect("revoked"));
    let deadline = Instant::now() + Duration::from_secs(1);
    while a.local.keys().expect("reads")[0].revoked.is_none() {
        assert!(Instant::now() < deadline, "the key is still live on a");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let actions = |node: &FullNode| node.local.audit_trail(100).expect("reads").into_iter().map(|e| e.action);
    assert_eq!(actions(&a).filter(|a| a == "item.add").count(), 20, "one entry per item that landed");
    assert_eq!(actions(&a).collect::<Vec<_>>(), actions(&b).collect::<Vec<_>>());
}

/// One webhook notification per new alert, keyed by the alert's id.
struct PerAlert;

impl engine::schedule::Notify for PerAlert {
    fn notifications(
        &self,
        _: &dyn engine::storage::Store,
        rule: &rules::Rule,
        record: &engine::storage::ExecutionRecord,
        alerts: &[engine::storage::NewAlert],
    ) -> engine::storage::StoreResult<Vec<engine::storage::NewNotification>> {
        Ok(alerts
            .iter()
            .map(|alert| engine::storage::NewNotification {
                key: alert.id.to_string(),
                connector: "hook".into(),
                rule_id: rule.id.0.clone(),
                source: "route 1".into(),
                execution_id: record.id.clone(),
                message: serde_json::json!({"alert": alert.id.to_string()}),
                created: Timestamp::now(),
            })
            .collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_queues_notifications_and_one_attempts_each() {
    use engine::storage::{Delivery, NotificationFilter, Outbox};
    let nats = NatsCluster::start(3);
    let (a, b) = (full_node(&nats, "a").await, full_node(&nats, "b").await);
    let store = a.store.clone();
    let events = vec![dkim(1), dkim(2), dkim(3)];
    tokio::task::spawn_blocking(move || store.append(&events)).await.expect("joins").expect("acknowledged");
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.local.event_count().expect("counts") < 3 {
        assert!(Instant::now() < deadline, "events not replicated");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let store = a.store.clone();
    tokio::task::spawn_blocking(move || {
        engine::schedule::execute(
            store.as_ref(),
            ecs::Catalog::builtin(),
            &rules::builtin().rules[..1],
            &Default::default(),
            &PerAlert,
            Timestamp::now(),
            engine::schedule::Trigger::Manual,
        )
    })
    .await
    .expect("joins")
    .expect("runs");
    let outbox = |node: &FullNode| {
        let filter = NotificationFilter { limit: 100, ..NotificationFilter::default() };
        let mut out: Vec<(String, Delivery, u32)> = node
            .local
            .notifications(&filter)
            .expect("reads")
            .into_iter()
            .map(|n| (n.queued.key, n.delivery, n.attempts))
            .collect();
        out.sort_by(|x, y| x.0.cmp(&y.0));
        out
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while outbox(&b).len() < 3 {
        assert!(Instant::now() < deadline, "b never queued the execution's notifications");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // a takes the three first attempts; b, none of them while a holds them.
    let due = |node: &FullNode| {
        let store = node.store.clone();
        tokio::task::spawn_blocking(move || store.due("hook", Timestamp::now(), 32))
    };
    let on_a = due(&a).await.expect("joins").expect("due");
    assert_eq!(on_a.len(), 3);
    assert_eq!(due(&b).await.expect("joins").expect("due").len(), 0, "a holds them");
    // a delivers one, then is gone: b sees it sent, and takes the other two once a's leases expire.
    let (store, first) = (a.store.clone(), on_a[0].id);
    tokio::task::spawn_blocking(move || store.delivered(first, Timestamp::now()))
        .await
        .expect("joins")
        .expect("marked");
    // a's two leases expire one after the other; b's call answers with every attempt b may
    // make (those it already holds too), so it is asked until both are there.
    let deadline = Instant::now() + Duration::from_secs(15);
    let taken = loop {
        let taken = due(&b).await.expect("joins").expect("due");
        if taken.len() >= 2 {
            break taken;
        }
        assert!(Instant::now() < deadline, "b never took the attempts a left: {taken:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(taken.len(), 2, "the one a delivered is not due: {taken:?}");
    assert!(taken.iter().all(|n| n.id != first), "{taken:?}");
    let store = b.store.clone();
    tokio::task::spawn_blocking(move || {
        store.attempt_failed(taken[0].id, "503", Some(Timestamp::now()))?;
        store.delivered(taken[1].id, Timestamp::now())
    })
    .await
    .expect("joins")
    .expect("marked");
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let on_a = outbox(&a);
        let sent = on_a.iter().filter(|(_, d, n)| *d == Delivery::Sent && *n == 1).count();
        let retrying = on_a.iter().filter(|(_, d, n)| *d == Delivery::Pending && *n == 1).count();
        if sent == 2 && retrying == 1 && on_a == outbox(&b) {
            break;
        }
        assert!(Instant::now() < deadline, "a: {on_a:?}, b: {:?}", outbox(&b));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
