//! The service as `vigil serve` runs it, on a socket: watched folders, rule reloads that keep
//! rule state, scheduled executions, and a graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use engine::storage::{AlertStore, EventLog, RuleStates};

/// Our own rule, run every second, matching the test's events.
fn marker_rule(id: &str) -> String {
    format!(
        "[metadata]\ncreation_date = \"2026/11/28\"\nmaturity = \"production\"\nupdated_date = \"2026/11/28\"\n\n\
         [rule]\nauthor = [\"vigil\"]\ndescription = \"Test events.\"\nfrom = \"now-1h\"\nindex = [\"logs-*\"]\n\
         interval = \"1s\"\nlanguage = \"kuery\"\nlicense = \"Apache-2.0\"\nname = \"Marker {id}\"\nrisk_score = 21\n\
         rule_id = \"{id}\"\nseverity = \"low\"\ntype = \"query\"\nquery = 'event.action:\"watched\"'\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_files_are_ingested_rules_reload_and_shutdown_is_clean() {
    let (data, rules, watched) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(rules.path().join("one.toml"), marker_rule("marker-one")).unwrap();
    std::fs::write(rules.path().join("broken.toml"), "[rule]\nname = \n").unwrap();
    let config = server::Config {
        data_dir: data.path().to_owned(),
        rules: vec![rules.path().to_owned()],
        watch: vec![watched.path().to_owned()],
        builtin_rules: false,
        poll: rules::Interval::from_seconds(1),
        ..server::Config::default()
    };
    let store = Arc::new(store::Sqlite::open(data.path()).unwrap());
    let state = server::AppState::new(store.clone(), config);
    assert_eq!(state.rules().rules.len(), 1, "the broken file is reported, the good rule loads");
    assert_eq!(state.rules().problems.len(), 1, "{:?}", state.rules().problems);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(server::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));

    // A file grows: complete lines go in, a half-written one waits for its end.
    let file = watched.path().join("audit.ndjson");
    let now = ecs::date::Timestamp::now();
    let line =
        |id: &str| format!("{{\"@timestamp\":\"{now}\",\"event\":{{\"id\":\"{id}\",\"action\":\"watched\"}}}}\n");
    let third = line("w3");
    let (head, tail) = third.split_at(20);
    std::fs::write(&file, format!("{}{}{head}", line("w1"), line("w2"))).unwrap();
    crate::eventually("two watched lines are stored", Duration::from_secs(30), || store.event_count().unwrap() == 2)
        .await;
    let mut append = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
    std::io::Write::write_all(&mut append, tail.as_bytes()).unwrap();
    crate::eventually("the finished line is stored", Duration::from_secs(30), || store.event_count().unwrap() == 3)
        .await;

    // The rule runs on its schedule and alerts on every watched event.
    crate::eventually("the rule covered every event", Duration::from_secs(30), || {
        store.rule_state("marker-one").unwrap().covered_seq == store.last_seq().unwrap()
    })
    .await;
    let alerts: u64 = store.alert_counts().unwrap().iter().map(|(_, n)| n).sum();
    assert_eq!(alerts, 3);

    // Switch it off, add a second rule file: the reload sees it, and the switch stays.
    store.set_enabled("marker-one", false).unwrap();
    std::fs::write(rules.path().join("two.toml"), marker_rule("marker-two")).unwrap();
    crate::eventually("the new rule is loaded", Duration::from_secs(30), || state.rules().get("marker-two").is_some())
        .await;
    assert_eq!(store.rule_state("marker-one").unwrap().enabled, Some(false));

    let _ = stop.send(());
    let finished = tokio::time::timeout(Duration::from_secs(40), service).await;
    assert!(matches!(finished, Ok(Ok(Ok(())))), "the service stops cleanly: {finished:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_events_and_keeps_alerts() {
    let data = tempfile::tempdir().unwrap();
    let config = server::Config {
        data_dir: data.path().to_owned(),
        retention: Some(rules::Interval::from_seconds(1)),
        retention_max_percent: 100,
        ..server::Config::default()
    };
    let store = Arc::new(store::Sqlite::open(data.path()).unwrap());
    let state = server::AppState::new(store.clone(), config);
    let dkim = engine::prepare(
        serde_json::json!({"@timestamp": ecs::date::Timestamp::now().to_string(),
            "event": {"id": "d1", "dataset": "o365.audit", "provider": "Exchange", "category": ["web"],
                      "action": "Set-DkimSigningConfig", "outcome": "success"},
            "o365": {"audit": {"Parameters": {"Enabled": "False"}}}}),
        None,
        None,
        ecs::date::Timestamp::now(),
    );
    store.append(&[dkim]).unwrap();
    let rule = state.rules().rules[0].clone();
    let run = state.execute(vec![rule], ecs::date::Timestamp::now(), engine::schedule::Trigger::Manual).await.unwrap();
    assert_eq!(run[0].alerts, 1);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(server::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    crate::eventually("the event is removed", Duration::from_secs(30), || store.event_count().unwrap() == 0).await;
    let alerts: u64 = store.alert_counts().unwrap().iter().map(|(_, n)| n).sum();
    assert_eq!(alerts, 1, "alerts stay");
    let _ = stop.send(());
    service.await.unwrap().unwrap();
}

/// A rule that runs once a day, so that events stored after its run stay unevaluated.
fn daily_rule() -> String {
    marker_rule("daily").replace("interval = \"1s\"", "interval = \"1d\"").replace("now-1h", "now-1d")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_what_no_rule_evaluated_and_refuses_to_remove_too_much_at_once() {
    let (data, rules) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(rules.path().join("daily.toml"), daily_rule()).unwrap();
    let config = |percent| server::Config {
        data_dir: data.path().to_owned(),
        rules: vec![rules.path().to_owned()],
        builtin_rules: false,
        retention: Some(rules::Interval::from_seconds(1)),
        retention_max_percent: percent,
        ..server::Config::default()
    };
    let store = Arc::new(store::Sqlite::open(data.path()).unwrap());
    let event = |id: &str| {
        let now = ecs::date::Timestamp::now();
        engine::prepare(serde_json::json!({"@timestamp": now.to_string(), "event": {"id": id}}), None, None, now)
    };
    // The daily rule runs (its schedule's start today) over the first event; the second comes
    // after, and no rule will evaluate it before tomorrow.
    let state = server::AppState::new(store.clone(), config(100));
    store.append(&[event("evaluated")]).unwrap();
    let rule = state.rules().rules[0].clone();
    let start = engine::schedule::due(&rule, &store.rule_state("daily").unwrap(), ecs::date::Timestamp::now()).unwrap();
    state.execute(vec![rule], start, engine::schedule::Trigger::Scheduled).await.unwrap();
    store.append(&[event("not evaluated")]).unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await; // both are older than the retention now

    // A clock that jumped makes everything old: over the share, the pass is refused.
    let refusing = server::AppState::new(store.clone(), config(25));
    let app = crate::App::over(refusing.clone(), store.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(server::serve(listener, refusing, async move {
        let _ = stopped.await;
    }));
    let mut refused = false;
    for _ in 0..100 {
        let (_, metrics) = app.call("GET", "/metrics", "").await;
        let text = metrics.as_str().unwrap_or_default().to_owned();
        if text.lines().any(|l| l.starts_with("vigil_retention_refused_total ") && !l.ends_with(" 0")) {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the refusal is counted");
    assert_eq!(store.event_count().unwrap(), 2, "a refused pass removes nothing");
    let _ = stop.send(());
    service.await.unwrap().unwrap();

    // Within the share, only the evaluated event goes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service =
        tokio::spawn(server::serve(listener, server::AppState::new(store.clone(), config(100)), async move {
            let _ = stopped.await;
        }));
    crate::eventually("the evaluated event is removed", Duration::from_secs(30), || store.event_count().unwrap() == 1)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(store.event_count().unwrap(), 1, "the event no rule evaluated stays");
    let _ = stop.send(());
    service.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_identical_lines_are_distinct_events_and_a_reread_file_stores_nothing_twice() {
    let (data, watched) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let config = || server::Config {
        data_dir: data.path().to_owned(),
        watch: vec![watched.path().to_owned()],
        builtin_rules: false,
        poll: rules::Interval::from_seconds(1),
        ..server::Config::default()
    };
    let line = "{\"@timestamp\":\"2026-03-02T08:00:00Z\",\"message\":\"Failed password for root\"}\n";
    std::fs::write(watched.path().join("auth.ndjson"), line.repeat(3)).unwrap();
    let store = Arc::new(store::Sqlite::open(data.path()).unwrap());
    for round in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service =
            tokio::spawn(server::serve(listener, server::AppState::new(store.clone(), config()), async move {
                let _ = stopped.await;
            }));
        crate::eventually("the three lines are stored", Duration::from_secs(30), || store.event_count().unwrap() == 3)
            .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(store.event_count().unwrap(), 3, "round {round}: three lines, three events, never more");
        let _ = stop.send(());
        service.await.unwrap().unwrap();
        // As after a crash before the position was saved: the file is read again from its start.
        std::fs::remove_file(data.path().join("watch-offsets.json")).unwrap();
    }
}
