//! Real-time rules (`realtime`): alerts as events are stored, with the ids the schedule would
//! give them, at most `max_signals` per interval, and a scheduled execution that finds them
//! already alerted.

use std::sync::Arc;
use std::time::Duration;

use ecs::date::Timestamp;
use engine::schedule::{Trigger, evaluating_start, interval_start};
use engine::storage::{AlertFilter, AlertStore, EventLog, RuleStates};

/// A query rule run every hour (so only real time alerts within the test), at most 2 alerts.
const RULE: &str = "[metadata]\ncreation_date = \"2026/12/04\"\nmaturity = \"production\"\nupdated_date = \"2026/12/04\"\n\n\
    [rule]\nauthor = [\"vigil\"]\ndescription = \"Test events.\"\nfrom = \"now-2h\"\nindex = [\"logs-*\"]\n\
    interval = \"1h\"\nlanguage = \"kuery\"\nlicense = \"Apache-2.0\"\nname = \"Marker\"\nrisk_score = 21\nmax_signals = 2\n\
    rule_id = \"marker\"\nseverity = \"low\"\ntype = \"query\"\nquery = 'event.action:\"marked\"'\n";

fn event(id: &str, action: &str) -> engine::storage::NewEvent {
    let now = Timestamp::now();
    let doc = serde_json::json!({"@timestamp": now.to_string(), "event": {"id": id, "action": action}});
    engine::prepare(doc, Some("logs-test-default"), None, now)
}

/// Another rule over the same events with another window and index patterns (another group on
/// the schedule), without a max_signals of its own.
fn other_rule() -> String {
    RULE.replace("from = \"now-2h\"", "from = \"now-10m\"")
        .replace("[\"logs-*\"]", "[\"logs-test-*\"]")
        .replace("max_signals = 2\n", "")
        .replace("rule_id = \"marker\"", "rule_id = \"other\"")
        .replace("name = \"Marker\"", "name = \"Other\"")
}

fn alert_ids(store: &store::Sqlite) -> Vec<String> {
    rule_alerts(store, "marker")
}

fn rule_alerts(store: &store::Sqlite, rule_id: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let filter = AlertFilter { rule_id: Some(rule_id.into()), ..AlertFilter::default() };
    store
        .alerts(&filter, &mut |a| {
            ids.push(a.id.to_string());
            true
        })
        .unwrap();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_time_rules_alert_as_events_are_stored_within_max_signals_per_interval() {
    // The test's events must fall in one hour (one interval): close to the hour's end, wait.
    let into_hour = Timestamp::now().as_nanos().rem_euclid(3_600_000_000_000);
    if into_hour > 3_570_000_000_000 {
        tokio::time::sleep(Duration::from_nanos((3_601_000_000_000 - into_hour) as u64)).await;
    }
    let (data, rules) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(rules.path().join("marker.toml"), RULE).unwrap();
    std::fs::write(rules.path().join("other.toml"), other_rule()).unwrap();
    let config = server::Config {
        data_dir: data.path().to_owned(),
        rules: vec![rules.path().to_owned()],
        builtin_rules: false,
        realtime: vec!["Marker".into(), "other".into()],
        ..server::Config::default()
    };
    let store = Arc::new(store::Sqlite::open(data.path()).unwrap());
    let state = server::AppState::new(store.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(server::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    // The hour's scheduled execution runs at start, over nothing.
    crate::eventually("the scheduled executions ran", Duration::from_secs(30), || {
        ["marker", "other"].iter().all(|r| store.rule_state(r).unwrap().last_scheduled.is_some())
    })
    .await;

    // Each event alerts as it is stored, an hour before the rule's next scheduled start.
    state.append(vec![event("e1", "marked"), event("n1", "other")]).await.unwrap();
    crate::eventually("e1 alerted", Duration::from_secs(30), || alert_ids(&store).len() == 1).await;
    state.append(vec![event("e2", "marked")]).await.unwrap();
    crate::eventually("e2 alerted", Duration::from_secs(30), || alert_ids(&store).len() == 2).await;

    // max_signals (2) is spent for this interval: a third waits, held back, for the next one.
    state.append(vec![event("e3", "marked")]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(alert_ids(&store).len(), 2, "no more than max_signals in the interval");
    let rule = state.rules().rules.iter().find(|r| r.id.0 == "marker").unwrap().clone();
    let now = Timestamp::now();
    let (start, began) = (evaluating_start(&rule, now), interval_start(&rule, now));
    assert_eq!(store.alerts_for_start("marker", start, began).unwrap(), 2);
    let executions = store.executions("marker", 100).unwrap();
    let realtime: Vec<_> = executions.iter().filter(|e| e.scheduled == start && e.started < start).collect();
    assert!(realtime.iter().filter(|e| e.alerts > 0).count() >= 1, "{executions:?}");
    assert!(realtime.iter().all(|e| e.events <= 2), "a real-time execution reads only new events: {realtime:?}");
    let state_now = store.rule_state("marker").unwrap();
    assert!(state_now.covered_seq < store.last_seq().unwrap(), "e3 is not covered yet");
    // The other rule, another group on its schedule, ran in the same passes, with its own window.
    assert_eq!(rule_alerts(&store, "other").len(), 3, "its own max_signals");
    let other: Vec<_> = store
        .executions("other", 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.scheduled == start && e.started < start)
        .collect();
    assert!(!other.is_empty());
    assert!(other.iter().all(|e| e.window == (Timestamp::from_nanos(start.as_nanos() - 600_000_000_000), start)));
    // (marker sits out the passes after its budget is spent; other is in every one.)
    assert!(realtime.iter().all(|m| other.iter().any(|o| o.started == m.started)), "one pass for both rules");

    // The scheduled execution that would have evaluated them (run here, early) finds e1 and e2
    // alerted and the budget spent; the one after alerts e3.
    let again = state.execute(vec![rule.clone()], start, Trigger::Scheduled).await.unwrap();
    assert_eq!((again[0].alerts, again[0].candidates), (0, 1), "{again:?}");
    let next = Timestamp::from_nanos(start.as_nanos() + 3_600_000_000_000);
    let later = state.execute(vec![rule.clone()], next, Trigger::Scheduled).await.unwrap();
    assert_eq!(later[0].alerts, 1, "{later:?}");
    let realtime_ids = alert_ids(&store);
    assert_eq!(realtime_ids.len(), 3);
    let _ = stop.send(());
    service.await.unwrap().unwrap();

    // The same events on the schedule alone get the same alert ids.
    let scheduled_dir = tempfile::tempdir().unwrap();
    let scheduled_store = Arc::new(store::Sqlite::open(scheduled_dir.path()).unwrap());
    let events: Vec<_> =
        ["e1", "n1", "e2", "e3"].iter().map(|id| event(id, if *id == "n1" { "other" } else { "marked" })).collect();
    scheduled_store.append(&events).unwrap();
    let mut unlimited = rule.clone();
    unlimited.max_signals = 100;
    engine::schedule::execute(
        scheduled_store.as_ref(),
        ecs::Catalog::builtin(),
        &[unlimited],
        &Default::default(),
        &engine::schedule::Silent,
        start,
        Trigger::Scheduled,
    )
    .unwrap();
    assert_eq!(alert_ids(&scheduled_store), realtime_ids, "the same alert ids");
}

#[test]
fn realtime_is_refused_in_cluster_mode_and_read_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, "realtime = [\"*\"]\n[cluster]\nurls = [\"nats://127.0.0.1:4222\"]\nname = \"a\"\n").unwrap();
    let err = server::Config::load(Some(&path), |_| None).unwrap_err();
    assert!(err.to_string().contains("realtime is not available in cluster mode"), "{err}");
    let config =
        server::Config::load(None, |k| (k == "VIGIL_REALTIME").then(|| "marker, Other rule".to_owned())).unwrap();
    assert_eq!(config.realtime, ["marker", "Other rule"]);
}
