//! Scheduled executions on the store: windows, late events, max_signals, crash-safe commits.

use ecs::date::Timestamp;
use engine::schedule::{Silent, Trigger, due, execute, groups};
use engine::storage::StoreResult;
use engine::storage::{
    AlertFilter, AlertOrder, AlertStore, EventLog, ExecutionStatus, RuleStates, StoredAlert, WorkflowStatus,
};
use rules::Rule;

use crate::{at, dkim, new_event, open, quiet};

fn dkim_rule() -> Rule {
    rules::builtin().rules.remove(0)
}

fn alerts(store: &store::Sqlite) -> Vec<StoredAlert> {
    let mut out = Vec::new();
    store
        .alerts(&AlertFilter::default(), &mut |a| {
            out.push(a);
            true
        })
        .expect("alerts");
    out
}

#[test]
fn an_execution_alerts_on_its_window_once() {
    let (_dir, store) = open();
    let rule = dkim_rule();
    store
        .append(&[
            new_event(dkim("in", "08:10:00"), at("08:10:30")),
            new_event(quiet("other", "08:11:00"), at("08:11:30")),
        ])
        .expect("append");
    let catalog = ecs::Catalog::builtin();
    // The first execution covers every event stored so far, whatever its time.
    let first = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!((first[0].events, first[0].candidates, first[0].alerts), (2, 1, 1));
    assert_eq!(first[0].window, (at("07:45:00"), at("08:15:00")));
    assert_eq!(first[0].status, ExecutionStatus::Succeeded);
    // The next, overlapping window sees the event again but it alerted already.
    let second = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:20:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!((second[0].candidates, second[0].alerts), (0, 0));
    let stored = alerts(&store);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].document["kibana.alert.rule.name"], rule.name);
    assert_eq!(stored[0].document["vigil.alert.late"], false);
    let state = store.rule_state(&rule.id.0).expect("state");
    assert_eq!((state.covered_seq, state.last_scheduled), (2, Some(at("08:20:00"))));
    assert_eq!(store.executions(&rule.id.0, 10).expect("executions").len(), 2);
}

#[test]
fn late_events_alert_once_and_say_so() {
    let (_dir, store) = open();
    let rule = dkim_rule();
    let catalog = ecs::Catalog::builtin();
    execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    // Two hours late: far outside any later window, Kibana would never see it.
    store.append(&[new_event(dkim("late", "06:00:00"), at("08:17:00"))]).expect("append");
    let run = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:20:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!((run[0].alerts, run[0].late), (1, 1));
    let stored = alerts(&store);
    assert_eq!(stored[0].document["vigil.alert.late"], true);
    let run = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:25:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!((run[0].events, run[0].alerts), (0, 0), "a covered late event is not read again");
    // The overview's figures: alerts by severity and rule, executions, late alerts.
    let activity = store.activity(at("00:00:00"), 3_600_000_000_000).expect("activity");
    assert_eq!(activity.by_severity, [("medium".to_owned(), WorkflowStatus::Open, 1)]);
    assert_eq!(activity.by_rule, [(rule.id.0.clone(), 1, 1)]);
    assert_eq!((activity.executions, activity.failed, activity.truncated, activity.late), (3, 0, 0, 1));
    assert_eq!(activity.over_time.len(), 1);
    let last = store.last_executions().expect("last executions");
    assert_eq!(last.get(&rule.id.0).map(|e| (e.scheduled, e.late)), Some((at("08:25:00"), 0)));
    assert_eq!(store.executions(&rule.id.0, 10).expect("executions")[1].late, 1, "the late count is stored");
}

#[test]
fn alert_pages_come_in_the_order_asked_and_skip_by_offset() {
    let (_dir, store) = open();
    let catalog = ecs::Catalog::builtin();
    let mut rule = dkim_rule();
    for (n, (severity, time)) in
        [("low", "08:01:00"), ("high", "08:02:00"), ("critical", "08:03:00")].iter().enumerate()
    {
        store.append(&[new_event(dkim(&format!("e{n}"), time), at(time))]).expect("append");
        rule.severity = rules::Severity::parse(severity).expect("a severity");
        let scheduled = at(&format!("08:0{}:30", n + 1));
        execute(&store, catalog, std::slice::from_ref(&rule), &Default::default(), &Silent, scheduled, Trigger::Manual)
            .expect("runs");
    }
    let page = |order, offset, limit| {
        let mut severities = Vec::new();
        let filter = AlertFilter { order, offset, limit, ..AlertFilter::default() };
        store
            .alerts(&filter, &mut |a| {
                severities.push(a.severity);
                true
            })
            .expect("alerts");
        severities
    };
    assert_eq!(page(AlertOrder::Newest, 0, None), ["critical", "high", "low"]);
    assert_eq!(page(AlertOrder::Oldest, 0, None), ["low", "high", "critical"]);
    assert_eq!(page(AlertOrder::Oldest, 1, Some(1)), ["high"]);
    assert_eq!(page(AlertOrder::Newest, 2, Some(5)), ["low"]);
    assert_eq!(page(AlertOrder::Severity, 0, Some(2)), ["critical", "high"]);
    let activity = store.activity(at("00:00:00"), 86_400_000_000_000).expect("activity");
    let open: u64 = activity.by_severity.iter().map(|(_, _, n)| n).sum();
    assert_eq!((open, activity.by_rule.len(), activity.executions), (3, 1, 3));
}

#[test]
fn max_signals_takes_the_oldest_and_records_the_rest() {
    let (_dir, store) = open();
    let mut rule = dkim_rule();
    rule.max_signals = 2;
    let events: Vec<_> = ["08:03:00", "08:01:00", "08:04:00", "08:02:00"]
        .iter()
        .enumerate()
        .map(|(i, time)| new_event(dkim(&format!("e{i}"), time), at("08:05:00")))
        .collect();
    store.append(&events).expect("append");
    let run = execute(
        &store,
        ecs::Catalog::builtin(),
        &[rule],
        &Default::default(),
        &Silent,
        at("08:10:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!((run[0].candidates, run[0].alerts, run[0].held_back), (4, 2, 2));
    assert_eq!(run[0].status, ExecutionStatus::PartialFailure);
    assert!(run[0].warnings[0].contains("2 of 4 candidates held back"), "{:?}", run[0].warnings);
    let mut times: Vec<String> = alerts(&store)
        .iter()
        .map(|a| a.document["kibana.alert.original_time"].as_str().unwrap_or("").to_owned())
        .collect();
    times.sort();
    assert_eq!(times, ["2026-03-02T08:01:00Z", "2026-03-02T08:02:00Z"]);
}

#[test]
fn candidates_held_back_by_max_signals_alert_in_the_next_executions() {
    let (_dir, store) = open();
    let mut rule = dkim_rule();
    rule.max_signals = 2;
    let catalog = ecs::Catalog::builtin();
    execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    // Five records two hours late (a backlog after downtime): outside every later window, so
    // only the rule's coverage can bring them back once an execution holds them back.
    let late: Vec<_> =
        (0..5).map(|i| new_event(dkim(&format!("late{i}"), &format!("06:0{i}:00")), at("08:17:00"))).collect();
    store.append(&late).expect("append");
    let mut runs = Vec::new();
    for start in ["08:20:00", "08:25:00", "08:30:00", "08:35:00"] {
        let run = execute(
            &store,
            catalog,
            std::slice::from_ref(&rule),
            &Default::default(),
            &Silent,
            at(start),
            Trigger::Scheduled,
        )
        .expect("runs");
        let backlog = store.rule_state(&rule.id.0).expect("state").backlog;
        runs.push((run[0].alerts, run[0].held_back, backlog));
    }
    assert_eq!(runs, [(2, 3, 3), (2, 1, 1), (1, 0, 0), (0, 0, 0)], "(alerts, held back, backlog) per execution");
    assert_eq!(alerts(&store).len(), 5, "every late record alerted, once");
    assert_eq!(store.rule_state(&rule.id.0).expect("state").covered_seq, 5, "covered once drained");
}

#[test]
fn an_execution_repeated_after_a_crash_creates_no_second_alert() {
    let (dir, store) = open();
    let rule = dkim_rule();
    store.append(&[new_event(dkim("x", "08:10:00"), at("08:10:00"))]).expect("append");
    execute(
        &store,
        ecs::Catalog::builtin(),
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    drop(store);
    let store = store::Sqlite::open(dir.path()).expect("reopens");
    // A manual run over the same window finds the alert stored.
    let run = execute(
        &store,
        ecs::Catalog::builtin(),
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Manual,
    )
    .expect("runs");
    assert_eq!((run[0].candidates, run[0].alerts), (0, 0));
    assert_eq!(alerts(&store).len(), 1);
    assert_eq!(store.rule_state(&rule.id.0).expect("state").last_scheduled, Some(at("08:15:00")));
}

#[test]
fn schedules_start_on_interval_multiples_and_group_by_window() {
    let rule = dkim_rule();
    let mut state = engine::storage::RuleState::default();
    assert_eq!(due(&rule, &state, at("08:17:31")), Some(at("08:15:00")));
    state.last_scheduled = Some(at("08:15:00"));
    assert_eq!(due(&rule, &state, at("08:19:59")), None);
    assert_eq!(due(&rule, &state, at("08:20:00")), Some(at("08:20:00")));
    let mut other = rule.clone();
    other.id = rules::RuleId("other".into());
    let mut elsewhere = rule.clone();
    elsewhere.index = vec!["logs-endpoint*".into()];
    assert_eq!(groups(&[&rule, &elsewhere, &other]), [vec![0, 2], vec![1]]);
}

#[test]
fn a_last_run_dated_in_the_future_does_not_stall_the_schedule() {
    let (_dir, store) = open();
    let rule = dkim_rule();
    let catalog = ecs::Catalog::builtin();
    // The clock was a day ahead when the rule last ran.
    let ahead = ecs::date::Timestamp::from_nanos(ecs::date::Timestamp::now().as_nanos() + 86_400_000_000_000);
    let start = due(&rule, &store.rule_state(&rule.id.0).expect("state"), ahead).expect("due");
    execute(&store, catalog, std::slice::from_ref(&rule), &Default::default(), &Silent, start, Trigger::Scheduled)
        .expect("runs");
    // Set back, it is due now all the same, and its execution dates the last run again.
    let now = ecs::date::Timestamp::now();
    let state = store.rule_state(&rule.id.0).expect("state");
    assert!(engine::schedule::ran_in_the_future(&state, now));
    let start = due(&rule, &state, now).expect("due now, not in a day");
    execute(&store, catalog, std::slice::from_ref(&rule), &Default::default(), &Silent, start, Trigger::Scheduled)
        .expect("runs");
    let state = store.rule_state(&rule.id.0).expect("state");
    assert_eq!(state.last_scheduled, Some(start), "the future date is replaced");
    assert_eq!(due(&rule, &state, now), None, "and the schedule goes on from there");
}

#[test]
fn corrupt_stored_data_fails_loudly_instead_of_reading_as_a_default() {
    let (dir, store) = open();
    let rule = dkim_rule();
    store.append(&[new_event(dkim("x", "08:10:00"), at("08:10:00"))]).expect("append");
    execute(
        &store,
        ecs::Catalog::builtin(),
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    let db = rusqlite::Connection::open(dir.path().join("vigil.db")).expect("opens");
    db.execute("UPDATE alerts SET status = 'snoozed'", []).expect("a hand edit");
    let err = store.alerts(&AlertFilter::default(), &mut |_| true).expect_err("an unknown status is an error");
    assert!(err.to_string().contains("unknown workflow status `snoozed`"), "{err}");
    db.execute("UPDATE alerts SET status = 'open', doc = 'not json'", []).expect("a hand edit");
    let err = store.alerts(&AlertFilter::default(), &mut |_| true).expect_err("a bad document is an error");
    assert!(err.to_string().contains("its document is not JSON"), "{err}");
    db.execute("UPDATE executions SET status = 'maybe'", []).expect("a hand edit");
    let err = store.executions(&rule.id.0, 10).expect_err("an unknown execution status is an error");
    assert!(err.to_string().contains("unknown execution status `maybe`"), "{err}");
}

#[test]
fn a_change_and_its_audit_entry_are_stored_together_or_not_at_all() {
    use store::{Access, AuditEntry};
    let (dir, store) = open();
    let rule = dkim_rule();
    store.append(&[new_event(dkim("x", "08:10:00"), at("08:10:00"))]).expect("append");
    execute(
        &store,
        ecs::Catalog::builtin(),
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    let id = alerts(&store)[0].id;
    let change = engine::storage::StatusChange {
        status: engine::storage::WorkflowStatus::Closed,
        by: "alice".into(),
        at: at("09:00:00"),
        note: None,
    };
    let entry = |action: &str| AuditEntry {
        at: at("09:00:00"),
        actor: "alice".into(),
        action: action.into(),
        target: rule.id.0.clone(),
        detail: None,
    };
    // The audit trail cannot be written: the change it would record is not stored either.
    let db = rusqlite::Connection::open(dir.path().join("vigil.db")).expect("opens");
    db.execute_batch("CREATE TRIGGER no_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'audit refused'); END;")
        .expect("a trigger");
    assert!(store.set_status_audited(&[id], &change, &entry("alert.status")).is_err());
    assert_eq!(alerts(&store)[0].status, engine::storage::WorkflowStatus::Open, "no change without its entry");
    assert!(store.set_enabled_audited(&rule.id.0, false, &entry("rule.disable")).is_err());
    assert_eq!(store.rule_state(&rule.id.0).expect("state").enabled, None, "no switch without its entry");
    db.execute_batch("DROP TRIGGER no_audit;").expect("dropped");
    let changed = store.set_status_audited(&[id], &change, &entry("alert.status"));
    assert_eq!(changed.expect("stored"), [id]);
    assert_eq!(store.audit_trail(10).expect("trail")[0].target, id.to_string());
}

/// The SQLite store, counting the calls an execution makes to find stored alerts and events.
struct Counting {
    inner: store::Sqlite,
    existing: std::sync::atomic::AtomicUsize,
}

impl engine::storage::EventLog for Counting {
    fn append(
        &self,
        events: &[engine::storage::NewEvent],
    ) -> engine::storage::StoreResult<Vec<engine::storage::Appended>> {
        self.inner.append(events)
    }
    fn last_seq(&self) -> engine::storage::StoreResult<u64> {
        self.inner.last_seq()
    }
    fn scan(
        &self,
        query: &engine::storage::EventQuery,
        each: &mut dyn FnMut(engine::storage::StoredEvent) -> bool,
    ) -> engine::storage::StoreResult<()> {
        self.inner.scan(query, each)
    }
    fn count_ingested_before(&self, cutoff: ecs::date::Timestamp, covered: u64) -> engine::storage::StoreResult<u64> {
        self.inner.count_ingested_before(cutoff, covered)
    }
    fn remove_ingested_before(&self, cutoff: ecs::date::Timestamp, covered: u64) -> engine::storage::StoreResult<u64> {
        self.inner.remove_ingested_before(cutoff, covered)
    }
    fn event_count(&self) -> engine::storage::StoreResult<u64> {
        self.inner.event_count()
    }
}

impl engine::storage::RuleMemory for Counting {
    fn terms_index(&self, rule_id: &str) -> engine::storage::StoreResult<Option<engine::storage::TermsIndex>> {
        self.inner.terms_index(rule_id)
    }
    fn seen(
        &self,
        rule_id: &str,
        terms: &[String],
    ) -> engine::storage::StoreResult<std::collections::HashMap<String, Vec<i64>>> {
        self.inner.seen(rule_id, terms)
    }
    fn threshold_history(
        &self,
        rule_id: &str,
    ) -> engine::storage::StoreResult<std::collections::HashMap<String, ecs::date::Timestamp>> {
        self.inner.threshold_history(rule_id)
    }
}

impl AlertStore for Counting {
    fn existing(
        &self,
        ids: &[engine::AlertId],
    ) -> engine::storage::StoreResult<std::collections::HashSet<engine::AlertId>> {
        self.existing.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.existing(ids)
    }
    fn commit_execution(
        &self,
        record: &engine::storage::ExecutionRecord,
        alerts: &[engine::storage::NewAlert],
        suppressed: &[engine::storage::Suppressed],
        state: &engine::storage::RuleState,
        notifications: &[engine::storage::NewNotification],
        memory: &engine::storage::MemoryUpdate,
    ) -> engine::storage::StoreResult<u64> {
        self.inner.commit_execution(record, alerts, suppressed, state, notifications, memory)
    }
    fn suppressing(
        &self,
        rule_id: &str,
        key: &str,
        since: ecs::date::Timestamp,
    ) -> engine::storage::StoreResult<Option<engine::AlertId>> {
        self.inner.suppressing(rule_id, key, since)
    }
    fn alerts(
        &self,
        filter: &AlertFilter,
        each: &mut dyn FnMut(StoredAlert) -> bool,
    ) -> engine::storage::StoreResult<()> {
        self.inner.alerts(filter, each)
    }
    fn alerts_where(
        &self,
        filter: &AlertFilter,
        keep: &mut dyn FnMut(&[u8]) -> bool,
        each: &mut dyn FnMut(StoredAlert) -> bool,
    ) -> engine::storage::StoreResult<()> {
        self.inner.alerts_where(filter, keep, each)
    }
    fn alert_count(&self, filter: &AlertFilter) -> engine::storage::StoreResult<u64> {
        self.inner.alert_count(filter)
    }
    fn alert(&self, id: &engine::AlertId) -> engine::storage::StoreResult<Option<StoredAlert>> {
        self.inner.alert(id)
    }
    fn alert_ids_with_prefix(&self, prefix: &str, limit: usize) -> engine::storage::StoreResult<Vec<engine::AlertId>> {
        self.inner.alert_ids_with_prefix(prefix, limit)
    }
    fn set_status(
        &self,
        ids: &[engine::AlertId],
        change: &engine::storage::StatusChange,
    ) -> engine::storage::StoreResult<Vec<engine::AlertId>> {
        self.inner.set_status(ids, change)
    }
    fn alert_counts(&self) -> engine::storage::StoreResult<Vec<(engine::storage::WorkflowStatus, u64)>> {
        self.inner.alert_counts()
    }
    fn activity(
        &self,
        since: ecs::date::Timestamp,
        bucket: i64,
    ) -> engine::storage::StoreResult<engine::storage::Activity> {
        self.inner.activity(since, bucket)
    }
}

impl engine::storage::Outbox for Counting {
    fn due(&self, connector: &str, now: Timestamp, limit: usize) -> StoreResult<Vec<engine::storage::Notification>> {
        self.inner.due(connector, now, limit)
    }
    fn delivered(&self, id: u64, at: Timestamp) -> StoreResult<()> {
        self.inner.delivered(id, at)
    }
    fn attempt_failed(&self, id: u64, error: &str, retry: Option<Timestamp>) -> StoreResult<()> {
        self.inner.attempt_failed(id, error, retry)
    }
    fn retry(&self, id: u64, now: Timestamp) -> StoreResult<bool> {
        self.inner.retry(id, now)
    }
    fn notifications(
        &self,
        filter: &engine::storage::NotificationFilter,
    ) -> StoreResult<Vec<engine::storage::Notification>> {
        self.inner.notifications(filter)
    }
    fn notification_counts(&self) -> StoreResult<engine::storage::NotificationCounts> {
        self.inner.notification_counts()
    }
    fn last_queued(&self, rule_id: &str, source: &str) -> StoreResult<Option<Timestamp>> {
        self.inner.last_queued(rule_id, source)
    }
}

impl RuleStates for Counting {
    fn rule_state(&self, rule_id: &str) -> engine::storage::StoreResult<engine::storage::RuleState> {
        self.inner.rule_state(rule_id)
    }
    fn rule_states(
        &self,
    ) -> engine::storage::StoreResult<std::collections::HashMap<String, engine::storage::RuleState>> {
        self.inner.rule_states()
    }
    fn set_enabled(&self, rule_id: &str, enabled: bool) -> engine::storage::StoreResult<()> {
        self.inner.set_enabled(rule_id, enabled)
    }
    fn executions(
        &self,
        rule_id: &str,
        limit: usize,
    ) -> engine::storage::StoreResult<Vec<engine::storage::ExecutionRecord>> {
        self.inner.executions(rule_id, limit)
    }
    fn last_executions(
        &self,
    ) -> engine::storage::StoreResult<std::collections::HashMap<String, engine::storage::ExecutionRecord>> {
        self.inner.last_executions()
    }
}

#[test]
fn stored_alerts_are_looked_up_in_batches_and_custom_time_fields_read_only_what_is_new() {
    let (_dir, inner) = open();
    let store = Counting { inner, existing: std::sync::atomic::AtomicUsize::new(0) };
    let mut rule = dkim_rule();
    rule.max_signals = 1000;
    let events: Vec<_> = (0..600).map(|i| new_event(dkim(&format!("e{i}"), "08:10:00"), at("08:10:00"))).collect();
    store.append(&events).expect("append");
    let run = execute(
        &store,
        ecs::Catalog::builtin(),
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!(run[0].alerts, 600);
    let calls = store.existing.load(std::sync::atomic::Ordering::Relaxed);
    assert!(calls <= 2, "600 matches looked up in {calls} store calls");

    // A rule dated by another field reads what came since its coverage, not the whole log.
    let mut dated = dkim_rule();
    dated.id = rules::RuleId("dated".into());
    dated.timestamp_override = Some("event.created".into());
    dated.max_signals = 1000;
    let first = execute(
        &store,
        ecs::Catalog::builtin(),
        std::slice::from_ref(&dated),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!(first[0].events, 600, "the first execution reads everything");
    store.append(&[new_event(quiet("new", "08:16:00"), at("08:16:00"))]).expect("append");
    let next = execute(
        &store,
        ecs::Catalog::builtin(),
        std::slice::from_ref(&dated),
        &Default::default(),
        &Silent,
        at("08:20:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!(next[0].events, 1, "the next reads only the event ingested since");
}

/// The DKIM rule, suppressing by user for `duration` (none: per execution).
fn suppressing(duration: Option<&str>) -> Rule {
    let mut rule = dkim_rule();
    let mut settings = serde_json::json!({"group_by": ["user.name"], "missing_fields_strategy": "suppress"});
    if let Some(minutes) = duration {
        settings["duration"] = serde_json::json!({"value": minutes.parse::<i64>().expect("minutes"), "unit": "m"});
    }
    rule.fields["alert_suppression"] = settings;
    rule
}

fn by_user(id: &str, time: &str, user: &str) -> serde_json::Value {
    let mut event = dkim(id, time);
    event["user"]["name"] = serde_json::json!(user);
    event
}

#[test]
fn suppression_makes_one_alert_per_group_and_execution() {
    let (_dir, store) = open();
    let rule = suppressing(None);
    let catalog = ecs::Catalog::builtin();
    store
        .append(&[
            new_event(by_user("a1", "08:01:00", "alice"), at("08:01:30")),
            new_event(by_user("a2", "08:03:00", "alice"), at("08:03:30")),
            new_event(by_user("b1", "08:02:00", "bob"), at("08:02:30")),
        ])
        .expect("append");
    let run = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:05:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!((run[0].candidates, run[0].alerts), (3, 2));
    let stored = alerts(&store);
    let alice = stored.iter().find(|a| a.document["user"]["name"] == "alice").expect("alice's alert");
    assert_eq!(alice.document["kibana.alert.suppression.docs_count"], 1);
    assert_eq!(
        alice.document["kibana.alert.suppression.terms"],
        serde_json::json!([{"field": "user.name", "value": "alice"}])
    );
    assert_eq!(alice.document["kibana.alert.suppression.start"], "2026-03-02T08:01:00.000Z");
    assert_eq!(alice.document["kibana.alert.suppression.end"], "2026-03-02T08:03:00.000Z");
    // The next window overlaps: what was suppressed is not alerted again.
    let again = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:10:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!(again[0].alerts, 0);
    assert_eq!(alerts(&store).len(), 2);
}

#[test]
fn suppression_with_a_duration_spans_executions_restarts_and_late_events() {
    let dir = tempfile::tempdir().expect("a folder");
    let rule = suppressing(Some("60"));
    let catalog = ecs::Catalog::builtin();
    {
        let store = store::Sqlite::open(dir.path()).expect("opens");
        store.append(&[new_event(by_user("a1", "08:01:00", "alice"), at("08:01:30"))]).expect("append");
        let run = execute(
            &store,
            catalog,
            std::slice::from_ref(&rule),
            &Default::default(),
            &Silent,
            at("08:05:00"),
            Trigger::Scheduled,
        )
        .expect("runs");
        assert_eq!(run[0].alerts, 1);
    }
    // After a restart, a later event of the group and a late one (dated before the window) add
    // to the same alert.
    let store = store::Sqlite::open(dir.path()).expect("opens again");
    store
        .append(&[
            new_event(by_user("a2", "08:07:00", "alice"), at("08:07:30")),
            new_event(by_user("a0", "07:00:00", "alice"), at("08:08:00")),
        ])
        .expect("append");
    let run = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:10:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!(run[0].alerts, 0, "suppressed into the open alert");
    let stored = alerts(&store);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].document["kibana.alert.suppression.docs_count"], 2);
    assert_eq!(stored[0].document["kibana.alert.suppression.end"], "2026-03-02T08:07:00.000Z");
    // A closed alert takes in nothing more: the group's next event makes a new alert.
    let change = engine::storage::StatusChange {
        status: WorkflowStatus::Closed,
        by: "alice".into(),
        at: ecs::date::Timestamp::now(),
        note: None,
    };
    store.set_status(&[stored[0].id], &change).expect("closed");
    store.append(&[new_event(by_user("a3", "08:12:00", "alice"), at("08:12:30"))]).expect("append");
    let run = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!(run[0].alerts, 1);
}

#[test]
fn max_signals_counts_a_suppressing_rules_groups_and_a_suppressed_event_never_alerts_again() {
    let (_dir, store) = open();
    let mut rule = suppressing(None);
    rule.max_signals = 1;
    let catalog = ecs::Catalog::builtin();
    store
        .append(&[
            new_event(by_user("a1", "08:01:00", "alice"), at("08:01:30")),
            new_event(by_user("b1", "08:02:00", "bob"), at("08:02:30")),
            new_event(by_user("a2", "08:03:00", "alice"), at("08:03:30")),
        ])
        .expect("append");
    let first = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:05:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!((first[0].alerts, first[0].held_back), (1, 1), "alice's group; bob's waits");
    // The next execution re-reads from bob's event on: alice's suppressed event is not a
    // candidate again, bob's group alerts.
    let second = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:10:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!((second[0].alerts, second[0].held_back), (1, 0));
    let third = execute(
        &store,
        catalog,
        std::slice::from_ref(&rule),
        &Default::default(),
        &Silent,
        at("08:15:00"),
        Trigger::Scheduled,
    )
    .expect("runs");
    assert_eq!(third[0].alerts, 0);
    let stored = alerts(&store);
    let counts: Vec<(String, i64)> = stored
        .iter()
        .map(|a| {
            (
                a.document["user"]["name"].as_str().unwrap_or("").to_owned(),
                a.document["kibana.alert.suppression.docs_count"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(counts.len(), 2);
    assert!(counts.contains(&("alice".into(), 1)) && counts.contains(&("bob".into(), 0)), "{counts:?}");
}
