//! The background work of the service: rule executions when they are due (and, for the rules
//! that run in real time, when events are stored), rule reloads when their files change, and
//! event retention.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ecs::date::Timestamp;
use engine::IndexPatterns;
use engine::schedule::{
    Trigger, alerted_for_start, due, evaluating_start, groups, ran_in_the_future, runs_in_real_time,
};
use engine::storage::StoreResult;
use rules::Rule;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::state::AppState;

/// How often retention runs (more often when the retention period is shorter).
const RETENTION_EVERY: Duration = Duration::from_secs(600);

/// The least time between two real-time passes: events stored meanwhile are evaluated together
/// (a pass per request would write an execution record per request).
const REALTIME_GAP: Duration = Duration::from_millis(200);

/// Runs until `shutdown` turns true; an execution under way is finished first.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut polled = Instant::now();
    let mut retained: Option<Instant> = None;
    let realtime = !state.config.realtime.is_empty();
    if realtime {
        warn_realtime_selection(&state);
    }
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.stored.notified(), if realtime => {
                if let Err(err) = run_realtime(&state, &shutdown).await {
                    tracing::warn!(%err, "real-time executions postponed");
                }
                tokio::time::sleep(REALTIME_GAP).await;
                continue;
            }
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        if polled.elapsed() >= state.config.poll.as_duration() {
            polled = Instant::now();
            if state.rules().changed(&state.config.rules) {
                state.reload_rules();
            }
        }
        if let Err(err) = run_due(&state, &shutdown).await {
            tracing::warn!(%err, "executions postponed");
        }
        let every = state.config.retention.map_or(RETENTION_EVERY, |r| r.as_duration().min(RETENTION_EVERY));
        if retained.is_none_or(|at| at.elapsed() >= every) {
            retained = Some(Instant::now());
            retain(&state).await;
        }
    }
}

/// A rule due at a scheduled start.
type Due = (Rule, Timestamp);

/// Runs every enabled rule that is due, the rules due at one start and searching the same
/// events in one pass.
async fn run_due(state: &AppState, shutdown: &watch::Receiver<bool>) -> Result<(), ApiError> {
    let pack = state.rules();
    let now = Timestamp::now();
    let store = state.store.clone();
    let (due_rules, searched) = state
        .blocking(move || -> StoreResult<(Vec<Due>, Vec<IndexPatterns>)> {
            let (mut out, mut searched) = (Vec::new(), Vec::new());
            let states = store.rule_states()?;
            for (rule, rule_state) in pack.enabled(&states) {
                searched.push(IndexPatterns::new(&rule.index));
                if ran_in_the_future(&rule_state, now) {
                    tracing::warn!(
                        rule = %rule.id, last_run = ?rule_state.last_scheduled, %now,
                        "the rule's last run is dated after now (the clock was ahead): it runs now and the date is reset"
                    );
                }
                if let Some(start) = due(rule, &rule_state, now) {
                    out.push((rule.clone(), start));
                }
            }
            Ok((out, searched))
        })
        .await?;
    state.set_searched(searched);
    run_groups(state, due_rules, Trigger::Scheduled, shutdown).await
}

/// Whether `rule` runs in real time, as the `realtime` setting selects it (by id or name, or
/// `*`), and can.
fn selected_for_real_time(rule: &Rule, selection: &[String]) -> bool {
    runs_in_real_time(rule) && selection.iter().any(|s| s == "*" || *s == rule.id.0 || *s == rule.name)
}

/// Says which `realtime` entries name no rule, and which rules named cannot run in real time.
fn warn_realtime_selection(state: &AppState) {
    let pack = state.rules();
    for entry in state.config.realtime.iter().filter(|e| *e != "*") {
        match pack.rules.iter().find(|r| r.id.0 == *entry || r.name == *entry) {
            None => tracing::warn!(rule = %entry, "realtime names no loaded rule"),
            Some(rule) if !runs_in_real_time(rule) => tracing::warn!(
                rule = %entry,
                "this rule keeps its schedule: only query rules without alert suppression run in real time"
            ),
            Some(_) => {}
        }
    }
}

/// Runs, in real time, every enabled rule the `realtime` setting selects that has events to
/// evaluate, unless its interval's `max_signals` is spent (its held-back events then wait for
/// the next interval, as on its schedule).
async fn run_realtime(state: &AppState, shutdown: &watch::Receiver<bool>) -> Result<(), ApiError> {
    let pack = state.rules();
    let now = Timestamp::now();
    let store = state.store.clone();
    let selection = state.config.realtime.clone();
    let due_rules = state
        .blocking(move || -> StoreResult<Vec<Due>> {
            let states = store.rule_states()?;
            let newest = store.last_seq()?;
            let mut out = Vec::new();
            for (rule, rule_state) in pack.enabled(&states) {
                if rule_state.covered_seq >= newest || !selected_for_real_time(rule, &selection) {
                    continue;
                }
                // For the start that would evaluate these events.
                let start = evaluating_start(rule, now);
                if alerted_for_start(store.as_ref(), rule, start)? < u64::from(rule.max_signals) {
                    out.push((rule.clone(), start));
                }
            }
            Ok(out)
        })
        .await?;
    run_groups(state, due_rules, Trigger::RealTime, shutdown).await
}

/// Runs `due_rules` by start, the rules of a start that search the same events in one pass (in
/// real time, all of a start's rules: they read only what is new, whatever their windows).
async fn run_groups(
    state: &AppState,
    due_rules: Vec<Due>,
    trigger: Trigger,
    shutdown: &watch::Receiver<bool>,
) -> Result<(), ApiError> {
    let mut by_start: BTreeMap<Timestamp, Vec<Rule>> = BTreeMap::new();
    for (rule, start) in due_rules {
        by_start.entry(start).or_default().push(rule);
    }
    for (start, rules) in by_start {
        let refs: Vec<&Rule> = rules.iter().collect();
        let passes = match trigger {
            Trigger::RealTime => vec![(0..rules.len()).collect()],
            _ => groups(&refs),
        };
        for group in passes {
            if *shutdown.borrow() {
                return Ok(());
            }
            let group: Vec<Rule> = group.into_iter().map(|at| rules[at].clone()).collect();
            // In cluster mode one node takes each execution; the others find it done once its
            // commit reaches them.
            if let Some(leases) = &state.leases {
                let start_text = start.as_nanos().to_string();
                let mut parts: Vec<&str> = group.iter().map(|r| r.id.0.as_str()).collect();
                parts.push(&start_text);
                if !leases.take(&parts).await {
                    continue;
                }
            }
            state.execute(group, start, trigger).await?;
        }
    }
    Ok(())
}

/// Removes events ingested longer ago than the retention period, but never one an enabled rule
/// has not evaluated yet, and never more than `retention_max_percent` of the events at once: a
/// clock that jumped forward makes every event look old, and that pass is refused, loudly.
async fn retain(state: &AppState) {
    let Some(retention) = state.config.retention else { return };
    let age = i64::try_from(retention.as_seconds()).unwrap_or(i64::MAX / 1_000_000_000) * 1_000_000_000;
    let cutoff = Timestamp::from_nanos(Timestamp::now().as_nanos().saturating_sub(age));
    let store = state.store.clone();
    let pack = state.rules();
    let percent = u64::from(state.config.retention_max_percent);
    // Counted first, with a read; only a pass that removes something is a write (a write's
    // outcome is what the health check reports).
    let reader = store.clone();
    let counted = state
        .blocking(move || -> StoreResult<(u64, u64, u64)> {
            let states = reader.rule_states()?;
            let covered = pack.enabled(&states).map(|(_, s)| s.covered_seq).min().unwrap_or(u64::MAX);
            Ok((covered, reader.count_ingested_before(cutoff, covered)?, reader.event_count()?))
        })
        .await;
    let outcome = match counted {
        Err(err) => Err(err),
        Ok((_, 0, _)) => Ok(Retained::Removed(0)),
        Ok((_, removable, total)) if removable.saturating_mul(100) > percent.saturating_mul(total) => {
            Ok(Retained::Refused { removable, total })
        }
        Ok((covered, _, _)) => {
            state.write(move || store.remove_ingested_before(cutoff, covered)).await.map(Retained::Removed)
        }
    };
    match outcome {
        Ok(Retained::Removed(0)) => {}
        Ok(Retained::Removed(removed)) => tracing::info!(removed, %cutoff, "retention removed old events"),
        Ok(Retained::Refused { removable, total }) => {
            state.metrics.retention_refused();
            tracing::warn!(
                removable, total, %cutoff, max_percent = percent,
                "retention refused: it would remove more than retention_max_percent of the events at once; \
                 check the clock, or raise retention_max_percent for a purge that is meant"
            );
        }
        Err(err) => tracing::warn!(%err, "retention postponed"),
    }
}

/// What a retention pass did.
enum Retained {
    Removed(u64),
    Refused { removable: u64, total: u64 },
}
