//! Scheduled executions over stored events, with Elastic's semantics and without its gaps.
//!
//! A rule runs every `interval`, at whole multiples of the interval since the epoch (its
//! *scheduled start*). Execution at `t` searches `[from, to]` resolved at `t` on the rule's time
//! field, as Kibana does, and also every event ingested since the rule's last covered sequence
//! number, whatever its time: events that arrive late, or while vigil was down, are evaluated
//! once, with no catch-up limit, and their alerts say they were late. Alerts already stored are
//! not candidates again; at most `max_signals` are created per execution, oldest events first,
//! as Kibana caps them. Unlike Kibana, the rest are held back, not dropped: the rule's coverage
//! stops before the first of them, so the next executions read them again and alert on them (a
//! backlog drains at `max_signals` per execution, and shows in the rule's state until it has).
//! Everything an execution produces is committed in one transaction with the rule's new state,
//! so a crash repeats an execution rather than losing or doubling its alerts.

use std::collections::{BTreeMap, BinaryHeap};
use std::rc::Rc;

use ecs::Catalog;
use ecs::date::Timestamp;
use rules::Rule;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::alert::{AlertId, event_time, short_hex};
use crate::ruleset::RuleSet;
use crate::scan::{Hit, Matched, Position, ScanOptions, Scanner};
use crate::storage::{
    EventQuery, ExecutionRecord, ExecutionStatus, NewAlert, RuleState, Store, StoreResult, TimeColumn,
};

/// The scheduled start due for `rule` at `now`: the latest multiple of its interval not after
/// `now`, unless that one already ran. A last run dated after `now` (the clock was ahead when
/// it ran, and was set back) does not hold the rule back: it is due now, and its execution
/// resets the date (see [`ran_in_the_future`]).
pub fn due(rule: &Rule, state: &RuleState, now: Timestamp) -> Option<Timestamp> {
    let interval = interval_nanos(rule);
    let latest = Timestamp::from_nanos(now.as_nanos().div_euclid(interval) * interval);
    match state.last_scheduled {
        Some(last) if last >= latest && !ran_in_the_future(state, now) => None,
        _ => Some(latest),
    }
}

/// Whether the rule's last scheduled run is dated after `now`: the clock was ahead then.
pub fn ran_in_the_future(state: &RuleState, now: Timestamp) -> bool {
    state.last_scheduled.is_some_and(|last| last > now)
}

/// When `rule` is next due after its execution scheduled at `scheduled`.
pub fn next_after(rule: &Rule, scheduled: Timestamp) -> Timestamp {
    Timestamp::from_nanos(scheduled.as_nanos().saturating_add(interval_nanos(rule)))
}

fn interval_nanos(rule: &Rule) -> i64 {
    i64::try_from(rule.interval.as_seconds()).unwrap_or(i64::MAX / 1_000_000_000).max(1) * 1_000_000_000
}

/// Splits rules due at the same start into groups that search the same events (same window,
/// time field and index patterns), so that each group is evaluated in one pass. Returns indices
/// into `rules`, groups in first-appearance order.
pub fn groups(rules: &[&Rule]) -> Vec<Vec<usize>> {
    let mut by_key: BTreeMap<(String, String, String, Vec<String>), usize> = BTreeMap::new();
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (at, rule) in rules.iter().enumerate() {
        let key = (rule.from.0.clone(), rule.to.0.clone(), rule.time_field().to_owned(), rule.index.clone());
        let group = *by_key.entry(key).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[group].push(at);
    }
    out
}

/// How an execution was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// By the schedule: the rule's `last_scheduled` moves to this start.
    Scheduled,
    /// By a person ("run now"): the schedule is left as it is.
    Manual,
}

/// Runs rules that search the same events (one of [`groups`]) once, at `scheduled`, over the
/// events in `store`, and commits each rule's alerts, execution record and state. Returns the
/// records, one per rule, in order.
///
/// # Errors
///
/// When the store fails; nothing of the failed rule's execution is stored then.
pub fn execute(
    store: &dyn Store,
    catalog: &Catalog,
    rules: &[Rule],
    scheduled: Timestamp,
    trigger: Trigger,
) -> StoreResult<Vec<ExecutionRecord>> {
    let started = Timestamp::now();
    let clock = std::time::Instant::now();
    let up_to = store.last_seq()?;
    let stored = store.rule_states()?;
    let states: Vec<RuleState> = rules.iter().map(|r| RuleState::of(&stored, &r.id.0)).collect();
    let Some(first) = rules.first() else { return Ok(Vec::new()) };
    let window = first.from.1.resolve(scheduled, false).zip(first.to.1.resolve(scheduled, false));
    let (set, skipped) = RuleSet::compile(rules.to_vec(), catalog, scheduled);
    let record = |rule: &Rule, window: (Timestamp, Timestamp), covered: u64| ExecutionRecord {
        id: execution_id(rule, scheduled, trigger, started),
        rule_id: rule.id.0.clone(),
        scheduled,
        started,
        window,
        seq: (covered, up_to),
        events: 0,
        candidates: 0,
        alerts: 0,
        held_back: 0,
        duration_ms: 0,
        status: ExecutionStatus::Succeeded,
        warnings: Vec::new(),
    };
    let mut records = Vec::new();
    let next_state = |state: &RuleState, covered: u64, backlog: u64| RuleState {
        covered_seq: covered,
        backlog,
        last_scheduled: match trigger {
            // A last run dated in the future is replaced, not kept as the later of the two.
            Trigger::Scheduled if ran_in_the_future(state, started) => Some(scheduled),
            Trigger::Scheduled => Some(scheduled.max(state.last_scheduled.unwrap_or(scheduled))),
            Trigger::Manual => state.last_scheduled,
        },
        ..state.clone()
    };
    let Some((from, to)) = window else {
        // Date math that cannot be resolved (out of range) leaves nothing to search.
        for (rule, state) in rules.iter().zip(&states) {
            let mut failed = record(rule, (scheduled, scheduled), state.covered_seq);
            failed.status = ExecutionStatus::Failed;
            failed.warnings.push(format!("its window {} .. {} is out of range", rule.from.0, rule.to.0));
            store.commit_execution(&failed, &[], &next_state(state, state.covered_seq, state.backlog))?;
            records.push(failed);
        }
        return Ok(records);
    };
    for skip in &skipped {
        let state = states.iter().find(|s| s.rule_id == skip.rule.id.0).cloned().unwrap_or_default();
        let mut failed = record(&skip.rule, (from, to), state.covered_seq);
        failed.status = ExecutionStatus::Failed;
        failed.warnings.push(format!("the rule cannot run: {}", skip.reason));
        store.commit_execution(&failed, &[], &next_state(&state, state.covered_seq, state.backlog))?;
        records.push(failed);
    }

    // One pass over the events the group's window holds and those ingested since the rule that
    // is furthest behind last ran.
    let covered: Vec<u64> = set
        .rules()
        .iter()
        .map(|c| states.iter().find(|s| s.rule_id == c.rule.id.0).map_or(0, |s| s.covered_seq))
        .collect();
    let after = covered.iter().copied().min().unwrap_or(up_to);
    let query = EventQuery {
        window: match first.time_field() {
            "@timestamp" => Some((TimeColumn::Timestamp, from, to)),
            "event.ingested" => Some((TimeColumn::Ingested, from, to)),
            // Another field has no column to find the window by: what was ingested since the
            // coverage is read, and each event's time tested. An event covered before was
            // evaluated then, and alerted if it matched (or held back, and read again).
            _ => None,
        },
        after: Some(after),
        up_to,
        limit: None,
        ordered: false,
        from_seq: 0,
    };
    let mut scanner = Scanner::new(&set, ScanOptions { index: None });
    let mut pass = Pass::new(&set);
    // Matches wait here until a batch of them is checked against the stored alerts at once.
    let mut pending: Vec<(usize, Candidate)> = Vec::new();
    let (mut events, mut unreadable, mut first_error, mut failure) = (0u64, 0u64, None, None);
    store.scan(&query, &mut |event| {
        events += 1;
        let matched = match scanner.match_stored(&event) {
            Ok(Some(m)) => Rc::new(m),
            Ok(None) => return true,
            Err(err) => {
                unreadable += 1;
                first_error.get_or_insert_with(|| format!("event {}: {err}", event.seq));
                return true;
            }
        };
        for &(at, alert_id) in &matched.rules {
            let time = event_time(&set.rules()[at].rule, &matched.event);
            let in_window = time.is_some_and(|t| t >= from && t <= to);
            if !in_window && matched.line <= covered[at] {
                continue; // seen by an earlier execution, and not in this window
            }
            // Late: older than the window, so Kibana's execution would never have seen it. (An
            // event newer than the window is early, and alerts now rather than next time.)
            let late = time.is_some_and(|t| t < from);
            pending.push((at, Candidate { time, seq: matched.line, late, alert_id, event: matched.clone() }));
        }
        if pending.len() >= EXISTING_BATCH
            && let Err(err) = pass.offer_new(store, &mut pending)
        {
            failure = Some(err);
            return false;
        }
        true
    })?;
    if let Some(err) = failure {
        return Err(err);
    }
    pass.offer_new(store, &mut pending)?;
    let Pass { mut kept, found, held_from, .. } = pass;

    for (at, compiled) in set.rules().iter().enumerate() {
        let rule = &compiled.rule;
        let state = states.iter().find(|s| s.rule_id == rule.id.0).cloned().unwrap_or_default();
        let mut run = record(rule, (from, to), covered[at]);
        run.events = events;
        let candidates = std::mem::take(&mut kept[at]).into_sorted_vec();
        run.candidates = found[at];
        run.held_back = found[at] - candidates.len() as u64;
        if run.held_back > 0 {
            run.warnings.push(format!(
                "max_signals ({}) reached: {} of {} candidates held back for the next executions",
                rule.max_signals, run.held_back, found[at]
            ));
        }
        if unreadable > 0 {
            run.warnings.push(format!(
                "{unreadable} stored events could not be read, first {}",
                first_error.clone().unwrap_or_default()
            ));
        }
        let alerts: Vec<NewAlert> = candidates
            .iter()
            .map(|c| {
                let (m, seq) = (&c.event, c.seq);
                let hit = Hit {
                    rule,
                    event: &m.event,
                    index: m.index.as_deref(),
                    event_id: &m.event_id,
                    alert_id: c.alert_id,
                    position: Position { source: "store", line: seq },
                };
                let mut document = hit.document(started);
                if let Value::Object(doc) = &mut document {
                    doc.insert("kibana.alert.rule.execution.uuid".into(), json!(run.id));
                    doc.insert("vigil.alert.late".into(), json!(c.late));
                    doc.insert("vigil.event.seq".into(), json!(seq));
                }
                NewAlert {
                    id: c.alert_id,
                    rule_id: rule.id.0.clone(),
                    severity: rule.severity.as_str().to_owned(),
                    event_time: c.time,
                    event_seq: seq,
                    document,
                }
            })
            .collect();
        run.alerts = alerts.len() as u64;
        if !run.warnings.is_empty() {
            run.status = ExecutionStatus::PartialFailure;
        }
        run.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Covered up to the newest event read, unless a candidate was held back: then up to just
        // before the first of those, even below the old coverage (a held-back event from the
        // window is still there for the next execution to read after the window moves on).
        let covered = match held_from[at] {
            Some(seq) => seq.saturating_sub(1).min(up_to),
            None => up_to.max(state.covered_seq),
        };
        store.commit_execution(&run, &alerts, &next_state(&state, covered, run.held_back))?;
        records.push(run);
    }
    Ok(records)
}

/// How many matches are checked against the stored alerts in one store call.
const EXISTING_BATCH: usize = 512;

/// What one pass over the events keeps, per rule of the set.
struct Pass {
    /// The oldest `max_signals` candidates so far: memory stays bounded by the alerts an
    /// execution may create, however many events match.
    kept: Vec<BinaryHeap<Candidate>>,
    /// How many candidates there were.
    found: Vec<u64>,
    /// The lowest sequence number of a candidate held back by `max_signals`: the rule's
    /// coverage must stop before it.
    held_from: Vec<Option<u64>>,
    /// Each rule's `max_signals`.
    max: Vec<usize>,
}

impl Pass {
    fn new(set: &RuleSet<'_>) -> Pass {
        Pass {
            kept: set.rules().iter().map(|_| BinaryHeap::new()).collect(),
            found: vec![0; set.len()],
            held_from: vec![None; set.len()],
            max: set.rules().iter().map(|c| c.rule.max_signals as usize).collect(),
        }
    }

    /// Offers the matches in `pending` (emptied) that have not alerted for their rule yet (an
    /// overlapping window, a re-run): one store call for the batch.
    fn offer_new(&mut self, store: &dyn Store, pending: &mut Vec<(usize, Candidate)>) -> StoreResult<()> {
        if pending.is_empty() {
            return Ok(());
        }
        let ids: Vec<AlertId> = pending.iter().map(|(_, c)| c.alert_id).collect();
        let existing = store.existing(&ids)?;
        for (at, candidate) in pending.drain(..).filter(|(_, c)| !existing.contains(&c.alert_id)) {
            self.found[at] += 1;
            let heap = &mut self.kept[at];
            heap.push(candidate);
            if heap.len() > self.max[at]
                && let Some(newest) = heap.pop()
            {
                // The newest waits for a later execution.
                self.held_from[at] = Some(self.held_from[at].map_or(newest.seq, |seq| seq.min(newest.seq)));
            }
        }
        Ok(())
    }
}

/// A digest of the rule and the scheduled start (and the actual start, for manual runs), so a
/// scheduled execution repeated after a crash keeps its identity.
fn execution_id(rule: &Rule, scheduled: Timestamp, trigger: Trigger, started: Timestamp) -> String {
    let mut hash = Sha256::new();
    hash.update(rule.id.0.as_bytes());
    hash.update(scheduled.as_nanos().to_be_bytes());
    if trigger == Trigger::Manual {
        hash.update(started.as_nanos().to_be_bytes());
    }
    short_hex(&hash.finalize())
}

/// A matching event not alerted yet, ordered oldest first: by time on the rule's field (events
/// without one last), then by arrival.
#[derive(Debug)]
struct Candidate {
    time: Option<Timestamp>,
    seq: u64,
    late: bool,
    alert_id: AlertId,
    event: Rc<Matched>,
}

impl Candidate {
    fn key(&self) -> (bool, Option<Timestamp>, u64) {
        (self.time.is_none(), self.time, self.seq)
    }
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Candidate) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Candidate {}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Candidate) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Candidate {
    fn cmp(&self, other: &Candidate) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}
