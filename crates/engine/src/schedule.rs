//! Scheduled executions over stored events, with Elastic's semantics and without its gaps.
//!
//! A rule runs every `interval`, at whole multiples of the interval since the epoch (its
//! *scheduled start*). Execution at `t` searches `[from, to]` resolved at `t` on the rule's time
//! field, as Kibana does, and also every event ingested since the rule's last covered sequence
//! number, whatever its time: events that arrive late, or while vigil was down, are evaluated
//! once, with no catch-up limit, and their alerts say they were late. Alerts already stored are
//! not candidates again; at most `max_signals` are created per execution, oldest events first,
//! as Kibana caps them (per scheduled start when the rule also runs in real time,
//! [`Trigger::RealTime`]). Unlike Kibana, the rest are held back, not dropped: the rule's coverage
//! stops before the first of them, so the next executions read them again and alert on them (a
//! backlog drains at `max_signals` per execution, and shows in the rule's state until it has).
//! Everything an execution produces is committed in one transaction with the rule's new state,
//! so a crash repeats an execution rather than losing or doubling its alerts.

mod counting;

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::rc::Rc;

use ecs::Catalog;
use ecs::date::Timestamp;
use rules::Rule;
use rules::exceptions::Exceptions;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::alert::{AlertId, short_hex};
use crate::ruleset::RuleSet;
use crate::scan::{Hit, Position, ScanOptions, Scanner, Sink};
use crate::storage::{
    EventQuery, ExecutionRecord, ExecutionStatus, MemoryUpdate, NewAlert, NewNotification, RuleState, Store,
    StoreError, StoreResult, Suppressed, TimeColumn,
};
use crate::suppression::{Group, Suppression};
use counting::Counting;

/// The scheduled start due for `rule` at `now`: the latest multiple of its interval not after
/// `now`, unless that one already ran. A last run dated after `now` (the clock was ahead when
/// it ran, and was set back) does not hold the rule back: it is due now, and its execution
/// resets the date (see [`ran_in_the_future`]).
pub fn due(rule: &Rule, state: &RuleState, now: Timestamp) -> Option<Timestamp> {
    let latest = interval_start(rule, now);
    match state.last_scheduled {
        Some(last) if last >= latest && !ran_in_the_future(state, now) => None,
        _ => Some(latest),
    }
}

/// The scheduled start of the interval `now` is in: the latest multiple of the rule's interval
/// not after `now`.
pub fn interval_start(rule: &Rule, now: Timestamp) -> Timestamp {
    let interval = interval_nanos(rule);
    Timestamp::from_nanos(now.as_nanos().div_euclid(interval) * interval)
}

/// The scheduled start whose execution would evaluate events stored at `now`: the next one. A
/// real-time execution at `now` belongs to it ([`Trigger::RealTime`]).
pub fn evaluating_start(rule: &Rule, now: Timestamp) -> Timestamp {
    next_after(rule, interval_start(rule, now))
}

/// What `rule`'s executions for the scheduled start `start` have alerted: its scheduled
/// execution and the real-time ones of the interval before it, which share `max_signals`.
///
/// # Errors
///
/// When the store cannot be read.
pub fn alerted_for_start(store: &dyn Store, rule: &Rule, start: Timestamp) -> StoreResult<u64> {
    let since = Timestamp::from_nanos(start.as_nanos().saturating_sub(interval_nanos(rule)));
    store.alerts_for_start(&rule.id.0, start, since)
}

/// Whether `rule` can run in real time: a query rule or EQL event query without alert
/// suppression (threshold and new terms rules count over their whole window, as EQL sequences
/// look for their events in it, and suppression groups an execution's alerts, so those keep
/// their schedule).
pub fn runs_in_real_time(rule: &Rule) -> bool {
    matches!(rule.kind, rules::RuleType::Query | rules::RuleType::Eql)
        && !rule.is_eql_sequence()
        && Suppression::of(rule).is_none()
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
    /// As events are stored (`realtime` in `vigil serve`), for the scheduled start that would
    /// have evaluated them ([`evaluating_start`]; its window, so events are late or not as they
    /// would have been): it reads only what was ingested since the rule's coverage, leaves the
    /// schedule as it is, and shares `max_signals` with that start's execution and the other
    /// real-time ones before it, so the rule alerts no more per interval than on its schedule
    /// alone. The scheduled execution then finds those events' alerts stored.
    RealTime,
}

/// What an execution tells people: the notifications a rule's new alerts cause, queued in the
/// same transaction as the alerts (the outbox) and sent after.
pub trait Notify: Send + Sync {
    /// The notifications `rule`'s execution `record` queues for its new `alerts` (maybe none,
    /// maybe a summary of earlier alerts whose throttle has passed).
    ///
    /// # Errors
    ///
    /// When the store cannot be read (throttles and summaries read it).
    fn notifications(
        &self,
        store: &dyn Store,
        rule: &Rule,
        record: &ExecutionRecord,
        alerts: &[NewAlert],
    ) -> StoreResult<Vec<NewNotification>>;
}

/// Tells no one: `vigil scan` and replays, and services without connectors.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Notify for Silent {
    fn notifications(
        &self,
        _: &dyn Store,
        _: &Rule,
        _: &ExecutionRecord,
        _: &[NewAlert],
    ) -> StoreResult<Vec<NewNotification>> {
        Ok(Vec::new())
    }
}

/// Runs rules that search the same events (one of [`groups`]; in real time, any rules for one
/// start, each with its own window) once, at `scheduled`, over the events in `store`, and
/// commits each rule's alerts, execution record, state and the notifications `notify` asks
/// for. Returns the records, one per rule, in order.
///
/// # Errors
///
/// When the store fails; nothing of the failed rule's execution is stored then.
pub fn execute(
    store: &dyn Store,
    catalog: &Catalog,
    rules: &[Rule],
    exceptions: &Exceptions,
    notify: &dyn Notify,
    scheduled: Timestamp,
    trigger: Trigger,
) -> StoreResult<Vec<ExecutionRecord>> {
    let run = Run { store, scheduled, trigger, started: Timestamp::now(), up_to: store.last_seq()? };
    let clock = std::time::Instant::now();
    let stored = store.rule_states()?;
    let state_of = |rule: &Rule| RuleState::of(&stored, &rule.id.0);
    let Some(first) = rules.first() else { return Ok(Vec::new()) };
    // Each rule's window at `scheduled` (the same for a group that runs on its schedule).
    let window_of = |rule: &Rule| rule.from.1.resolve(scheduled, false).zip(rule.to.1.resolve(scheduled, false));
    let mut records = Vec::new();
    let mut runnable = Vec::with_capacity(rules.len());
    for rule in rules {
        if window_of(rule).is_some() {
            runnable.push(rule.clone());
        } else {
            // Date math that cannot be resolved (out of range) leaves nothing to search.
            let warning = format!("its window {} .. {} is out of range", rule.from.0, rule.to.0);
            records.push(run.fail(rule, &state_of(rule), (scheduled, scheduled), warning)?);
        }
    }
    let (set, skipped) = RuleSet::compile_with(runnable, catalog, scheduled, exceptions);
    for skip in &skipped {
        let warning = format!("the rule cannot run: {}", skip.reason);
        let window = window_of(&skip.rule).unwrap_or((scheduled, scheduled));
        records.push(run.fail(&skip.rule, &state_of(&skip.rule), window, warning)?);
    }
    if set.is_empty() {
        return Ok(records);
    }
    let windows: Vec<(Timestamp, Timestamp)> =
        set.rules().iter().map(|c| window_of(&c.rule).unwrap_or((scheduled, scheduled))).collect();
    let covered: Vec<u64> = set.rules().iter().map(|c| state_of(&c.rule).covered_seq).collect();
    let counting = set
        .rules()
        .iter()
        .zip(&covered)
        .map(|(c, &covered)| {
            if let Some(sequence) = c.sequence() {
                return Ok(Counting::sequence(sequence));
            }
            Counting::prepare(store, &c.rule, (catalog, exceptions), scheduled, (covered, run.up_to))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    // What the start's real-time executions alerted counts against max_signals (they and the
    // start's execution share one interval's budget; a manual run has its own).
    let spent = set
        .rules()
        .iter()
        .map(|c| match trigger {
            Trigger::Manual => Ok(0),
            Trigger::Scheduled | Trigger::RealTime => alerted_for_start(store, &c.rule, scheduled),
        })
        .collect::<StoreResult<Vec<u64>>>()?;
    let read = read(store, &set, first.time_field(), (&windows, trigger), (&covered, &spent), run.up_to, counting)?;
    let Pass { mut kept, found, held_from, counting, .. } = read.pass;
    for ((at, compiled), counting) in set.rules().iter().enumerate().zip(counting) {
        let (rule, state) = (&compiled.rule, state_of(&compiled.rule));
        let (from, to) = windows[at];
        let mut record = run.record(rule, (from, to), covered[at]);
        record.events = read.events;
        let candidates = std::mem::take(&mut kept[at]).into_sorted_vec();
        record.candidates = found[at];
        record.held_back = found[at] - candidates.len() as u64;
        record.excepted = read
            .excepted
            .range((at, 0)..(at + 1, 0))
            .map(|(&(_, list), n)| (compiled.exceptions.list_id(list).to_owned(), *n))
            .collect();
        // A list it names that is missing, and the like: said by every execution.
        record.warnings.extend(compiled.exceptions.warnings.iter().cloned());
        if let Some(first_error) = &read.first_error {
            record.warnings.push(format!("{} stored events could not be read, first {first_error}", read.unreadable));
        }
        let make = |c: &Candidate| alert(rule, c, &[], &record.id, run.started);
        let mut memory = MemoryUpdate::default();
        let (alerts, suppressed, held) = match Suppression::of(rule) {
            suppression if !matches!(counting, Counting::Query) => {
                let max = rule.max_signals as usize;
                let max = if suppression.is_some() { max.saturating_mul(SUPPRESSION_HEADROOM) } else { max };
                let out = counting.finish(store, rule, scheduled, (from, to), max)?;
                record.candidates = out.candidates;
                record.held_back = out.held_back;
                record.terms = out.terms;
                record.warnings.extend(out.warnings);
                memory = out.memory;
                let extra: HashMap<AlertId, &[(String, Value)]> =
                    out.alerts.iter().map(|(c, extra)| (c.alert_id, extra.as_slice())).collect();
                let make = |c: &Candidate| {
                    alert(rule, c, extra.get(&c.alert_id).copied().unwrap_or_default(), &record.id, run.started)
                };
                let candidates: Vec<Candidate> = out.alerts.iter().map(|(c, _)| c.clone()).collect();
                match suppression {
                    Some(suppression) => {
                        let grouped = suppress(store, rule, &suppression, &candidates, &make, run.started)?;
                        record.held_back += grouped.held_back;
                        let held = [out.held_from, grouped.held_from].into_iter().flatten().min();
                        (grouped.alerts, grouped.suppressed, held)
                    }
                    None => (candidates.iter().map(make).collect(), Vec::new(), out.held_from),
                }
            }
            Some(suppression) => {
                let out = suppress(store, rule, &suppression, &candidates, &make, run.started)?;
                record.held_back += out.held_back;
                let held = match (held_from[at], out.held_from) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                (out.alerts, out.suppressed, held)
            }
            None => (candidates.iter().map(make).collect(), Vec::new(), held_from[at]),
        };
        if record.held_back > 0 {
            let earlier = match spent[at] {
                0 => String::new(),
                n => format!(" for this interval ({n} alerted by its earlier executions)"),
            };
            record.warnings.push(format!(
                "max_signals ({}) reached{earlier}: {} of {} candidates held back for the next executions",
                rule.max_signals, record.held_back, record.candidates
            ));
        }
        record.alerts = alerts.len() as u64;
        record.late = alerts.iter().filter(|a| a.document.get("vigil.alert.late") == Some(&json!(true))).count() as u64;
        if !record.warnings.is_empty() {
            record.status = ExecutionStatus::PartialFailure;
        }
        let notifications = notify.notifications(store, rule, &record, &alerts)?;
        record.notifications = notifications.len() as u64;
        record.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Covered up to the newest event read, unless a candidate was held back: then up to just
        // before the first of those, even below the old coverage (a held-back event from the
        // window is still there for the next execution to read after the window moves on).
        let covered = match held {
            Some(seq) => seq.saturating_sub(1).min(run.up_to),
            None => run.up_to.max(state.covered_seq),
        };
        let next = run.next_state(&state, covered, record.held_back);
        store.commit_execution(&record, &alerts, &suppressed, &next, &notifications, &memory)?;
        records.push(record);
    }
    Ok(records)
}

/// One execution's settings, shared by its rules.
struct Run<'s> {
    store: &'s dyn Store,
    scheduled: Timestamp,
    trigger: Trigger,
    started: Timestamp,
    /// The newest event it reads.
    up_to: u64,
}

impl Run<'_> {
    /// A new record for `rule`, before it has read anything.
    fn record(&self, rule: &Rule, window: (Timestamp, Timestamp), covered: u64) -> ExecutionRecord {
        ExecutionRecord {
            id: execution_id(rule, self.scheduled, self.trigger, self.started),
            rule_id: rule.id.0.clone(),
            scheduled: self.scheduled,
            started: self.started,
            window,
            seq: (covered, self.up_to),
            events: 0,
            candidates: 0,
            alerts: 0,
            held_back: 0,
            late: 0,
            excepted: Vec::new(),
            notifications: 0,
            terms: 0,
            duration_ms: 0,
            status: ExecutionStatus::Succeeded,
            warnings: Vec::new(),
        }
    }

    /// The rule's state after this execution.
    fn next_state(&self, state: &RuleState, covered: u64, backlog: u64) -> RuleState {
        RuleState {
            covered_seq: covered,
            backlog,
            last_scheduled: match self.trigger {
                // A last run dated in the future is replaced, not kept as the later of the two.
                Trigger::Scheduled if ran_in_the_future(state, self.started) => Some(self.scheduled),
                Trigger::Scheduled => Some(self.scheduled.max(state.last_scheduled.unwrap_or(self.scheduled))),
                Trigger::Manual | Trigger::RealTime => state.last_scheduled,
            },
            ..state.clone()
        }
    }

    /// Commits a failed execution of `rule`: its record says why; its coverage stays.
    fn fail(
        &self,
        rule: &Rule,
        state: &RuleState,
        window: (Timestamp, Timestamp),
        warning: String,
    ) -> StoreResult<ExecutionRecord> {
        let mut failed = self.record(rule, window, state.covered_seq);
        failed.status = ExecutionStatus::Failed;
        failed.warnings.push(warning);
        let next = self.next_state(state, state.covered_seq, state.backlog);
        self.store.commit_execution(&failed, &[], &[], &next, &[], &MemoryUpdate::default())?;
        Ok(failed)
    }
}

/// What one pass over a group's events found.
struct Read<'s> {
    pass: Pass<'s>,
    /// Matches that exception lists removed, by rule id and list id.
    excepted: BTreeMap<(usize, usize), u64>,
    events: u64,
    unreadable: u64,
    first_error: Option<String>,
}

/// One pass over the events the group's window holds (on `time_field`; a scheduled group's
/// rules share their window) and those ingested since the rule furthest behind last ran (a
/// real-time execution: those alone, for rules of any windows): the store's range is the
/// source, the scanner the matching, the pass the sink that keeps each rule's candidates, up to
/// its `max_signals` less what was `spent` in the interval.
fn read<'s>(
    store: &'s dyn Store,
    set: &RuleSet<'_>,
    time_field: &str,
    (windows, trigger): (&[(Timestamp, Timestamp)], Trigger),
    (covered, spent): (&[u64], &[u64]),
    up_to: u64,
    counting: Vec<Counting>,
) -> StoreResult<Read<'s>> {
    let query = EventQuery {
        window: match (windows.first(), time_field) {
            // What a real-time execution's windows hold was evaluated when it was stored.
            _ if trigger == Trigger::RealTime => None,
            (Some(&(from, to)), "@timestamp") => Some((TimeColumn::Timestamp, from, to)),
            (Some(&(from, to)), "event.ingested") => Some((TimeColumn::Ingested, from, to)),
            // Another field has no column to find the window by: what was ingested since the
            // coverage is read, and each event's time tested. An event covered before was
            // evaluated then, and alerted if it matched (or held back, and read again).
            _ => None,
        },
        after: Some(covered.iter().copied().min().unwrap_or(up_to)),
        up_to,
        limit: None,
        ordered: false,
        from_seq: 0,
    };
    let mut scanner = Scanner::new(set, ScanOptions { index: None });
    let mut read = Read {
        pass: Pass::new(set, store, windows.to_vec(), (covered.to_vec(), spent), counting),
        excepted: Default::default(),
        events: 0,
        unreadable: 0,
        first_error: None,
    };
    let mut failure = None;
    store.scan(&query, &mut |event| {
        read.events += 1;
        let matched = match scanner.match_stored(&event) {
            Ok(Some(matched)) => matched,
            Ok(None) => return true,
            Err(err) => {
                read.unreadable += 1;
                read.first_error.get_or_insert_with(|| format!("event {}: {err}", event.seq));
                return true;
            }
        };
        scanner.deliver(&matched, "store", &mut read.pass).unwrap_or_else(|err| {
            failure = Some(err);
            false
        })
    })?;
    if let Some(err) = failure {
        return Err(err);
    }
    read.pass.offer_new()?;
    read.excepted = scanner.stats().excepted.clone();
    Ok(read)
}

/// The alert of a rule's candidate, with the fields it adds (`extra`), created at `started` by
/// execution `run_id`.
fn alert(rule: &Rule, c: &Candidate, extra: &[(String, Value)], run_id: &str, started: Timestamp) -> NewAlert {
    let (m, seq) = (&c.event, c.seq);
    let hit = Hit {
        rule,
        event: &m.event,
        index: m.index.as_deref(),
        event_id: &m.event_id,
        alert_id: c.alert_id,
        position: Position { source: "store", line: seq },
        extra,
    };
    let mut document = hit.document(started);
    if let Value::Object(doc) = &mut document {
        doc.insert("kibana.alert.rule.execution.uuid".into(), json!(run_id));
        doc.insert("vigil.alert.late".into(), json!(c.late));
        doc.insert("vigil.event.seq".into(), json!(seq));
    }
    NewAlert {
        id: c.alert_id,
        rule_id: rule.id.0.clone(),
        // The alert's own (`severity_mapping` may raise it).
        severity: document
            .get("kibana.alert.severity")
            .and_then(Value::as_str)
            .unwrap_or(rule.severity.as_str())
            .to_owned(),
        event_time: c.time,
        event_seq: seq,
        document,
        suppression_key: None,
    }
}

/// A suppressing rule's alerts: one per group of the execution's candidates, with what the group
/// holds; with a duration, a group that already has a young, unclosed alert adds its events to
/// it instead. Every suppressed event is recorded (as the alert id it would have had), so no
/// later execution alerts on it. At most `max_signals` groups get a new alert; the candidates of
/// the others wait for the next execution, as held-back candidates do: the lowest sequence
/// number of those is returned with how many there are.
fn suppress(
    store: &dyn Store,
    rule: &Rule,
    suppression: &Suppression,
    candidates: &[Candidate],
    make: &dyn Fn(&Candidate) -> NewAlert,
    started: Timestamp,
) -> StoreResult<Suppressing> {
    let mut groups: Vec<(Group, Vec<usize>)> = Vec::new();
    let mut alone = Vec::new();
    for (at, candidate) in candidates.iter().enumerate() {
        match suppression.group(rule, &candidate.event.event) {
            Some(group) => match groups.iter_mut().find(|(g, _)| g.key == group.key) {
                Some((_, members)) => members.push(at),
                None => groups.push((group, vec![at])),
            },
            None => alone.push(at),
        }
    }
    let max = rule.max_signals as usize;
    let mut out = Suppressing::default();
    let hold = |members: &[usize], out: &mut Suppressing| {
        for &at in members {
            out.held_back += 1;
            out.held_from = Some(out.held_from.map_or(candidates[at].seq, |s: u64| s.min(candidates[at].seq)));
        }
    };
    for at in alone {
        if out.alerts.len() == max {
            hold(&[at], &mut out);
        } else {
            out.alerts.push(make(&candidates[at]));
        }
    }
    for (group, members) in groups {
        let times = members.iter().filter_map(|&at| candidates[at].time);
        let (start, end) = (times.clone().min(), times.max());
        let existing = match suppression.duration {
            Some(duration) => {
                store.suppressing(&rule.id.0, &group.key, Timestamp::from_nanos(started.as_nanos() - duration))?
            }
            None => None,
        };
        if let Some(id) = existing {
            let events = members.iter().map(|&at| candidates[at].alert_id).collect();
            out.suppressed.push(Suppressed { id, events, into_existing: true, end });
            continue;
        }
        if out.alerts.len() == max {
            hold(&members, &mut out);
            continue;
        }
        let mut alert = make(&candidates[members[0]]);
        if let Value::Object(doc) = &mut alert.document {
            doc.extend(crate::suppression::fields(&group, start, end, members.len() as u64 - 1));
        }
        alert.suppression_key = suppression.duration.map(|_| group.key.clone());
        let events = members[1..].iter().map(|&at| candidates[at].alert_id).collect();
        out.suppressed.push(Suppressed { id: alert.id, events, into_existing: false, end });
        out.alerts.push(alert);
    }
    out.alerts.sort_by_key(|a| (a.event_time.is_none(), a.event_time, a.event_seq));
    Ok(out)
}

/// What suppression made of an execution's candidates.
#[derive(Default)]
struct Suppressing {
    alerts: Vec<NewAlert>,
    suppressed: Vec<Suppressed>,
    /// Candidates of groups beyond `max_signals`, left for the next execution.
    held_back: u64,
    held_from: Option<u64>,
}

/// How many candidates per alert a suppressing rule's execution keeps for grouping (the rest
/// wait for the next execution, as held-back candidates do).
const SUPPRESSION_HEADROOM: usize = 100;

/// How many matches are checked against the stored alerts in one store call.
const EXISTING_BATCH: usize = 512;

/// What one pass over the events keeps, per rule of the set: the sink of an execution.
struct Pass<'s> {
    store: &'s dyn Store,
    /// Each rule's window on its time field.
    windows: Vec<(Timestamp, Timestamp)>,
    /// Each rule's coverage before this execution.
    covered: Vec<u64>,
    /// Each rule's position in the set, by rule id.
    at: HashMap<String, usize>,
    /// Matches wait here until a batch of them is checked against the stored alerts at once.
    pending: Vec<(usize, Candidate)>,
    /// The oldest `max_signals` candidates so far: memory stays bounded by the alerts an
    /// execution may create, however many events match.
    kept: Vec<BinaryHeap<Candidate>>,
    /// How many candidates there were.
    found: Vec<u64>,
    /// The lowest sequence number of a candidate held back by `max_signals`: the rule's
    /// coverage must stop before it.
    held_from: Vec<Option<u64>>,
    /// Each rule's `max_signals`, less what the interval's earlier executions alerted.
    max: Vec<usize>,
    /// What the threshold and new terms rules keep instead.
    counting: Vec<Counting>,
}

impl<'s> Pass<'s> {
    fn new(
        set: &RuleSet<'_>,
        store: &'s dyn Store,
        windows: Vec<(Timestamp, Timestamp)>,
        (covered, spent): (Vec<u64>, &[u64]),
        counting: Vec<Counting>,
    ) -> Pass<'s> {
        Pass {
            counting,
            store,
            windows,
            covered,
            at: set.rules().iter().enumerate().map(|(at, c)| (c.rule.id.0.clone(), at)).collect(),
            pending: Vec::new(),
            kept: set.rules().iter().map(|_| BinaryHeap::new()).collect(),
            found: vec![0; set.len()],
            held_from: vec![None; set.len()],
            // A suppressing rule's max_signals counts alerts, not events: its groups are chosen
            // after the pass, from up to SUPPRESSION_HEADROOM times as many candidates.
            max: set
                .rules()
                .iter()
                .zip(spent)
                .map(|(c, &spent)| {
                    let max =
                        (c.rule.max_signals as usize).saturating_sub(usize::try_from(spent).unwrap_or(usize::MAX));
                    if Suppression::of(&c.rule).is_some() { max.saturating_mul(SUPPRESSION_HEADROOM) } else { max }
                })
                .collect(),
        }
    }

    /// Offers the pending matches (then none are pending) that have not alerted for their rule
    /// yet (an overlapping window, a re-run): one store call for the batch.
    fn offer_new(&mut self) -> StoreResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let ids: Vec<AlertId> = self.pending.iter().map(|(_, c)| c.alert_id).collect();
        let existing = self.store.existing(&ids)?;
        for (at, candidate) in self.pending.drain(..).filter(|(_, c)| !existing.contains(&c.alert_id)) {
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

impl Sink for Pass<'_> {
    type Error = StoreError;

    fn hit(&mut self, hit: &Hit<'_>) -> StoreResult<bool> {
        let Some(&at) = self.at.get(&hit.rule.id.0) else { return Ok(true) };
        let (from, to) = self.windows[at];
        let (time, seq) = (hit.time(), hit.position.line);
        let in_window = time.is_some_and(|t| t >= from && t <= to);
        let seen_before = !in_window && seq <= self.covered[at];
        // Late: older than the window, so Kibana's execution would never have seen it. (An event
        // newer than the window is early, and alerts now rather than next time.)
        let late = time.is_some_and(|t| t < from);
        let candidate = || Candidate {
            time,
            seq,
            late,
            alert_id: hit.alert_id,
            event: Rc::new(Stored {
                event: hit.event.clone(),
                index: hit.index.map(str::to_owned),
                event_id: hit.event_id.to_owned(),
            }),
        };
        if !matches!(self.counting[at], Counting::Query) {
            // A new terms index takes every match it has not seen, covered or not.
            self.counting[at].hit(hit.event, time, seq, (in_window, seen_before), candidate);
            return Ok(true);
        }
        if seen_before {
            return Ok(true); // seen by an earlier execution, and not in this window
        }
        self.pending.push((at, candidate()));
        if self.pending.len() >= EXISTING_BATCH {
            self.offer_new()?;
        }
        Ok(true)
    }
}

/// A matching event, as an alert will need it.
#[derive(Debug)]
struct Stored {
    event: Value,
    index: Option<String>,
    event_id: String,
}

/// A digest of the rule and the scheduled start (and the actual start, for manual runs), so a
/// scheduled execution repeated after a crash keeps its identity.
fn execution_id(rule: &Rule, scheduled: Timestamp, trigger: Trigger, started: Timestamp) -> String {
    let mut hash = Sha256::new();
    hash.update(rule.id.0.as_bytes());
    hash.update(scheduled.as_nanos().to_be_bytes());
    match trigger {
        Trigger::Scheduled => {}
        Trigger::Manual => hash.update(started.as_nanos().to_be_bytes()),
        Trigger::RealTime => {
            hash.update(b"realtime");
            hash.update(started.as_nanos().to_be_bytes());
        }
    }
    short_hex(&hash.finalize())
}

/// A matching event not alerted yet, ordered oldest first: by time on the rule's field (events
/// without one last), then by arrival.
#[derive(Clone, Debug)]
struct Candidate {
    time: Option<Timestamp>,
    seq: u64,
    late: bool,
    alert_id: AlertId,
    event: Rc<Stored>,
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
