//! Replay: which alerts Elastic would have created, execution by execution, from a scan's hits.
//!
//! Each rule runs every `interval`, at whole multiples of the interval since the epoch. An
//! execution started at `t` searches `[from, to]` resolved at `t` (`now-30m` .. `now`) on the
//! rule's time field, takes at most `max_signals` of the events not yet alerted, oldest first,
//! and records the rest as truncated; an event may still alert in a later, overlapping execution.
//! A rule with `alert_suppression` makes one alert per group of an execution's candidates (and,
//! with a duration, adds later executions' events of the group to it while it is younger than
//! the duration); `max_signals` counts alerts, not the events they stand for.
//!
//! Threshold and new terms rules are replayed the same way, execution by execution, with the
//! semantics of [`crate::terms`]: a threshold rule alerts on the groups of each window over its
//! threshold (events at or before a group's last alert left out), a new terms rule on the
//! first event of a window with a term not seen in its history.

use std::collections::{BTreeMap, HashMap, HashSet};

use ecs::date::Timestamp;
use ecs::{Document, Value};
use rules::Rule;
use rules::{NewTerms, Threshold};

use crate::alert::AlertId;
use crate::ruleset::RuleSet;
use crate::scan::{Hit, Position, Sink};
use crate::suppression::{Group, Suppression};
use crate::terms::{self, Buckets, ThresholdAlert};

/// A hit kept for replay.
#[derive(Debug)]
struct Kept {
    rule: usize,
    time: Option<Timestamp>,
    alert_id: AlertId,
    /// The event (a threshold rule's hits keep none: its alerts stand for groups).
    event: Value,
    index: Option<String>,
    event_id: String,
    source: String,
    line: u64,
    /// A threshold or new terms rule's terms of the event.
    terms: Vec<Vec<Value>>,
    /// A threshold rule's values of its cardinality field.
    distinct: Vec<String>,
    /// An EQL sequence rule's event as JSON text (`event` stays null until it alerts): a
    /// fraction of the decoded value's memory.
    text: Option<Box<str>>,
}

impl Kept {
    /// A kept hit that stands for an alert of its own (a threshold group's, a sequence's shell)
    /// at this hit's place in the input.
    fn stand_in(
        &self,
        time: Option<Timestamp>,
        alert_id: AlertId,
        event: Value,
        index: Option<String>,
        event_id: String,
    ) -> Kept {
        Kept {
            rule: self.rule,
            time,
            alert_id,
            event,
            index,
            event_id,
            source: self.source.clone(),
            line: self.line,
            terms: Vec::new(),
            distinct: Vec::new(),
            text: None,
        }
    }
}

/// The times of the `pending` hits (timed ones only, in time order).
fn timed(pending: &[usize], kept: &[Kept]) -> Vec<Timestamp> {
    pending.iter().map(|&at| kept[at].time.expect("timed hits only")).collect()
}

const HALF_DAY: i64 = 43_200_000_000_000;

/// How a rule turns its matches into alerts.
#[derive(Clone, Debug)]
enum Kind {
    Query,
    Threshold(Threshold),
    NewTerms(NewTerms),
    /// An EQL sequence: its executions find sequences among the window's events.
    Sequence,
}

impl Kind {
    fn of(rule: &Rule) -> Kind {
        if rule.is_eql_sequence() {
            return Kind::Sequence;
        }
        match (&rule.threshold, &rule.new_terms) {
            (Some(threshold), _) => Kind::Threshold(threshold.clone()),
            (None, Some(new_terms)) => Kind::NewTerms(new_terms.clone()),
            (None, None) => Kind::Query,
        }
    }
}

/// A [`Sink`] that keeps every hit for [`Replay::run`] (memory grows with hits, not events).
#[derive(Debug, Default)]
pub struct Replay {
    kept: Vec<Kept>,
    rule_ids: HashMap<String, usize>,
    kinds: Vec<Kind>,
    /// Whether the hits of query rules are kept (a replay of every rule) or only those of the
    /// rules that count and remember (a plain scan, which lists query rules' hits as they come).
    queries: bool,
    /// Per new terms rule and term, the newest time seen so far (see [`Replay::hit`]).
    latest: HashMap<(usize, String), Timestamp>,
    /// Per rule, the shortest span of a new terms history (`from - history start`).
    spans: Vec<i64>,
    /// Per EQL sequence rule, the bytes of events kept, and the events left out past
    /// [`MAX_SEQUENCE_BYTES`].
    sequence_events: Vec<(usize, usize)>,
}

/// The most a scan keeps of one EQL sequence rule's events (as JSON text): a limit on memory,
/// reported when reached (`RuleReplay::events_not_kept`).
pub const MAX_SEQUENCE_BYTES: usize = 512 << 20;

impl Replay {
    /// A replay of the rules in `rules`.
    pub fn new(rules: &RuleSet<'_>) -> Replay {
        let rule_ids = rules.rules().iter().enumerate().map(|(i, r)| (r.rule.id.0.clone(), i)).collect();
        let kinds: Vec<Kind> = rules.rules().iter().map(|r| Kind::of(&r.rule)).collect();
        let spans = rules
            .rules()
            .iter()
            .zip(&kinds)
            .map(|(r, kind)| match kind {
                // Date math with rounding makes the span vary: the shorter of two days is taken.
                Kind::NewTerms(nt) => [Timestamp::now(), Timestamp::from_nanos(Timestamp::now().as_nanos() + HALF_DAY)]
                    .into_iter()
                    .filter_map(|t| terms::history(nt, &r.rule, t).map(|(_, span)| span))
                    .min()
                    .unwrap_or(0),
                _ => 0,
            })
            .collect();
        let sequence_events = vec![(0, 0); rules.len()];
        Replay { kept: Vec::new(), rule_ids, kinds, queries: true, latest: HashMap::new(), spans, sequence_events }
    }

    /// A replay of the threshold and new terms rules in `rules` only: what a plain scan needs.
    pub fn counting(rules: &RuleSet<'_>) -> Replay {
        Replay { queries: false, ..Replay::new(rules) }
    }

    /// Whether `rule` is a threshold or new terms rule: its alerts come from a replay, not from
    /// its hits one by one.
    pub fn counts(rule: &Rule) -> bool {
        !matches!(Kind::of(rule), Kind::Query)
    }

    /// Whether this replay takes the hits of `rule`.
    pub fn takes(&self, rule: &Rule) -> bool {
        self.queries || self.rule_ids.get(&rule.id.0).is_some_and(|&at| !matches!(self.kinds[at], Kind::Query))
    }
}

impl Sink for Replay {
    type Error = std::convert::Infallible;

    fn hit(&mut self, hit: &Hit<'_>) -> Result<bool, Self::Error> {
        let Some(&rule) = self.rule_ids.get(&hit.rule.id.0) else { return Ok(true) };
        let mut text = None;
        let (event, terms, distinct) = match &self.kinds[rule] {
            Kind::Query if !self.queries => return Ok(true),
            Kind::Query => (hit.event.clone(), Vec::new(), Vec::new()),
            Kind::Sequence => {
                let json = hit.event.to_string();
                let (bytes, left_out) = &mut self.sequence_events[rule];
                if *bytes + json.len() > MAX_SEQUENCE_BYTES {
                    *left_out += 1;
                    return Ok(true);
                }
                *bytes += json.len();
                text = Some(json.into_boxed_str());
                (Value::Null, Vec::new(), Vec::new())
            }
            Kind::Threshold(threshold) => {
                (Value::Null, terms::groups_of(threshold, hit.event), terms::cardinality_values(threshold, hit.event))
            }
            Kind::NewTerms(new_terms) => {
                let terms = terms::combinations(&new_terms.fields, hit.event);
                if terms.is_empty() {
                    return Ok(true); // no term: never new
                }
                // An event less than a history span after an earlier occurrence of each of its
                // terms is in the history of every execution that sees it: it never alerts, so
                // its document is not kept (on time-ordered input, that is most of them).
                let mut may_alert = false;
                if let Some(t) = hit.time() {
                    for values in &terms {
                        let key = (rule, terms::key(values));
                        match self.latest.get_mut(&key) {
                            Some(latest) => {
                                // Seen at or before `t` (an earlier line at the same time too).
                                let covered = *latest <= t && t.as_nanos() - latest.as_nanos() <= self.spans[rule];
                                may_alert |= !covered;
                                *latest = (*latest).max(t);
                            }
                            None => {
                                may_alert = true;
                                self.latest.insert(key, t);
                            }
                        }
                    }
                } else {
                    may_alert = true;
                }
                (if may_alert { hit.event.clone() } else { Value::Null }, terms, Vec::new())
            }
        };
        self.kept.push(Kept {
            rule,
            time: hit.time(),
            alert_id: hit.alert_id,
            event,
            index: hit.index.map(str::to_owned),
            event_id: hit.event_id.to_owned(),
            source: hit.position.source.to_owned(),
            line: hit.position.line,
            terms,
            distinct,
            text,
        });
        Ok(true)
    }
}

/// One execution that had more candidates than `max_signals`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// When the execution started.
    pub started: Timestamp,
    /// How many candidates it did not alert on.
    pub dropped: usize,
}

/// What replay found for one rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleReplay {
    /// Executions that found at least one candidate.
    pub executions: usize,
    /// Alerts created.
    pub alerts: usize,
    /// Executions that hit `max_signals`.
    pub truncations: Vec<Truncation>,
    /// Matching events never alerted: truncated and not covered by a later execution.
    pub missed: usize,
    /// Matching events without a time on the rule's time field (no execution sees them).
    pub untimed: usize,
    /// An EQL sequence rule: sequences its executions found beyond `max_signals` (each alerts
    /// the oldest; a later one alerts the rest only if its window still holds them).
    pub sequences_beyond_limit: usize,
    /// An EQL sequence or sample rule: what it finds (`"sequence"`, `"sample"`).
    pub finds: &'static str,
    /// An EQL sequence or sample rule: what was given up, in a sentence (pending sequences past
    /// [`eql::MAX_PENDING`], or key values whose sample took too long to choose).
    pub given_up: Option<String>,
    /// An EQL sequence rule: matching events left out past [`MAX_SEQUENCE_BYTES`].
    pub events_not_kept: usize,
}

/// The result of a replay.
#[derive(Debug)]
pub struct ReplayReport {
    /// Per rule, in the rule set's order.
    pub rules: Vec<RuleReplay>,
    /// The alerts, by execution start, then event time.
    alerts: Vec<Made>,
    kept: Vec<Kept>,
}

/// An alert a replay made.
#[derive(Debug)]
struct Made {
    rule: usize,
    /// The start of the execution that made it.
    started: Timestamp,
    /// Its event, in the kept hits.
    at: usize,
    id: AlertId,
    /// What the alert adds to its event's fields (suppression, threshold result, new terms).
    fields: Vec<(String, Value)>,
}

impl Made {
    fn of(rule: usize, started: Timestamp, at: usize, kept: &Kept) -> Made {
        Made { rule, started, at, id: kept.alert_id, fields: Vec::new() }
    }
}

impl ReplayReport {
    /// Calls `each` with every alert, in order: the start of the execution that created it, and
    /// the hit. `each` returns `false` to stop.
    ///
    /// # Errors
    ///
    /// What `each` returns.
    pub fn for_each_alert<E>(
        &self,
        rules: &RuleSet<'_>,
        mut each: impl FnMut(Timestamp, &Hit<'_>) -> Result<bool, E>,
    ) -> Result<(), E> {
        for made in &self.alerts {
            let kept = &self.kept[made.at];
            let hit = Hit {
                rule: &rules.rules()[made.rule].rule,
                event: &kept.event,
                index: kept.index.as_deref(),
                event_id: &kept.event_id,
                alert_id: made.id,
                position: Position { source: &kept.source, line: kept.line },
                extra: &made.fields,
            };
            if !each(made.started, &hit)? {
                break;
            }
        }
        Ok(())
    }

    /// How many alerts the replay created.
    pub fn alert_count(&self) -> usize {
        self.alerts.len()
    }
}

/// A rule's schedule: executions numbered `n`, started at `n * interval`.
struct Schedule<'r> {
    rule: &'r Rule,
    interval: i64,
}

impl Schedule<'_> {
    fn new(rule: &Rule) -> Schedule<'_> {
        let interval = i64::try_from(rule.interval.as_seconds()).unwrap_or(i64::MAX).saturating_mul(1_000_000_000);
        Schedule { rule, interval: interval.max(1) }
    }

    fn start(&self, n: i64) -> Timestamp {
        Timestamp::from_nanos(n.saturating_mul(self.interval))
    }

    /// The window of execution `n`.
    fn window(&self, n: i64) -> Option<(Timestamp, Timestamp)> {
        self.window_at(self.start(n))
    }

    /// The window of an execution started at `t`.
    fn window_at(&self, t: Timestamp) -> Option<(Timestamp, Timestamp)> {
        Some((self.rule.from.1.resolve(t, false)?, self.rule.to.1.resolve(t, false)?))
    }

    /// The executions whose windows hold some of `times` (sorted), in order: each one's start and
    /// the range of `times` in its window. An execution whose window holds none is skipped.
    fn executions(&self, times: &[Timestamp]) -> Vec<(Timestamp, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        let Some(&first) = times.first() else { return out };
        let Some((mut n, _)) = self.first_reaching(first) else { return out };
        let mut low = 0;
        while low < times.len() {
            let Some((from, to)) = self.window(n) else { break };
            low += times[low..].iter().take_while(|&&t| t < from).count();
            if low == times.len() {
                break;
            }
            if times[low] > to {
                // Nothing in this window: on to the first execution that reaches the next event.
                match self.first_reaching(times[low]) {
                    Some((later, _)) => n = later.max(n + 1),
                    None => break,
                }
                continue;
            }
            let high = low + times[low..].iter().take_while(|&&t| t <= to).count();
            out.push((self.start(n), low..high));
            n += 1;
        }
        out
    }

    /// The first execution whose window can reach `t`, and how far back its windows look.
    fn first_reaching(&self, t: Timestamp) -> Option<(i64, i64)> {
        let (from, to) = self.window_at(t)?;
        let t = t.as_nanos();
        let (lookback, lead) = (t - from.as_nanos(), t - to.as_nanos());
        let n = (t + lead).div_euclid(self.interval) + i64::from((t + lead).rem_euclid(self.interval) != 0);
        Some((n, lookback))
    }
}

impl Replay {
    /// Simulates every rule's schedule over the kept hits.
    pub fn run(self, rules: &RuleSet<'_>) -> ReplayReport {
        let mut report = vec![RuleReplay::default(); rules.len()];
        let mut by_rule: Vec<Vec<usize>> = vec![Vec::new(); rules.len()];
        for (at, kept) in self.kept.iter().enumerate() {
            match kept.time {
                Some(_) => by_rule[kept.rule].push(at),
                None => report[kept.rule].untimed += 1,
            }
        }
        for (stats, (_, left_out)) in report.iter_mut().zip(&self.sequence_events) {
            stats.events_not_kept = *left_out;
        }
        let mut kept = self.kept;
        let mut alerts = Vec::new();
        for (rule_index, mut pending) in by_rule.into_iter().enumerate() {
            let rule = &rules.rules()[rule_index].rule;
            pending.sort_by_key(|&at| (kept[at].time, at));
            let stats = &mut report[rule_index];
            let first = alerts.len();
            match &self.kinds[rule_index] {
                Kind::Query => replay_query(rule_index, rule, &pending, &kept, stats, &mut alerts),
                Kind::Threshold(threshold) => {
                    replay_threshold(rule_index, rule, threshold, &pending, &mut kept, stats, &mut alerts)
                }
                Kind::NewTerms(new_terms) => {
                    replay_new_terms(rule_index, rule, new_terms, &pending, &kept, stats, &mut alerts)
                }
                Kind::Sequence => {
                    let Some(matcher) = rules.rules()[rule_index].sequence() else { continue };
                    replay_sequence(rule_index, rule, matcher, &pending, &mut kept, stats, &mut alerts);
                }
            }
            if !matches!(self.kinds[rule_index], Kind::Query)
                && let Some(suppression) = Suppression::of(rule)
            {
                let made = alerts.split_off(first);
                alerts.extend(suppress_made(rule, &suppression, made, &kept, stats));
            }
        }
        alerts.sort_by_key(|m| (m.started, kept[m.at].time, m.rule, m.at));
        ReplayReport { rules: report, alerts, kept }
    }
}

/// A query rule's executions: each takes the matches of its window not alerted yet, oldest
/// first, up to `max_signals`.
fn replay_query(
    rule_index: usize,
    rule: &Rule,
    pending: &[usize],
    kept: &[Kept],
    stats: &mut RuleReplay,
    alerts: &mut Vec<Made>,
) {
    let suppression = Suppression::of(rule);
    // Per group: the kept hit that alerted, when (its execution), and what it stands for.
    let mut groups: HashMap<String, Grouped> = HashMap::new();
    let mut groups_of: HashMap<usize, Vec<(String, Value)>> = HashMap::new();
    let schedule = Schedule::new(rule);
    let first_made = alerts.len();
    let mut alerted: HashSet<AlertId> = HashSet::new();
    let mut next = 0; // first pending hit not yet decided
    let mut last_run: Option<i64> = None; // executions run so far are numbered up to this
    while next < pending.len() {
        let t = kept[pending[next]].time.expect("timed hits only");
        // The first execution whose window can reach `t`.
        let Some((mut n, lookback)) = schedule.first_reaching(t) else { break };
        // An execution runs once: a hit it truncated can only alert in a later one.
        if let Some(last) = last_run {
            n = n.max(last + 1);
        }
        let mut missed_here = true;
        while n.saturating_mul(schedule.interval) - lookback <= t.as_nanos() {
            let started = schedule.start(n);
            let Some((from, to)) = schedule.window(n) else { break };
            last_run = Some(n);
            let candidates: Vec<usize> = pending[next..]
                .iter()
                .copied()
                .take_while(|&at| kept[at].time.is_some_and(|time| time <= to))
                .filter(|&at| kept[at].time.is_some_and(|time| time >= from) && !alerted.contains(&kept[at].alert_id))
                .collect();
            if !candidates.is_empty() {
                stats.executions += 1;
                let max = rule.max_signals as usize;
                let (mut made, mut dropped) = (0, 0);
                for &at in &candidates {
                    let hit = &kept[at];
                    let group = suppression.as_ref().and_then(|s| s.group(rule, &hit.event));
                    if let Some(group) = &group
                        && let Some(grouped) = groups.get_mut(&group.key)
                        && suppression.as_ref().is_some_and(|s| grouped.takes(started, s))
                    {
                        // Suppressed into the group's alert.
                        alerted.insert(hit.alert_id);
                        grouped.add(hit.time);
                        continue;
                    }
                    if made == max {
                        dropped += 1;
                        continue;
                    }
                    if alerted.insert(hit.alert_id) {
                        alerts.push(Made::of(rule_index, started, at, hit));
                        stats.alerts += 1;
                        made += 1;
                        if let Some(group) = group {
                            let grouped = Grouped { at, group, started, start: hit.time, end: hit.time, others: 0 };
                            // The group's earlier alert is done: its fields are final.
                            if let Some(done) = groups.insert(grouped.group.key.clone(), grouped) {
                                groups_of.insert(done.at, done.fields());
                            }
                        }
                    }
                }
                if dropped > 0 {
                    stats.truncations.push(Truncation { started, dropped });
                }
            }
            if alerted.contains(&kept[pending[next]].alert_id) {
                missed_here = false;
                break;
            }
            n += 1;
        }
        if missed_here && !alerted.contains(&kept[pending[next]].alert_id) {
            stats.missed += 1;
        }
        while next < pending.len() && alerted.contains(&kept[pending[next]].alert_id) {
            next += 1;
        }
        if missed_here {
            next += 1;
        }
    }
    for grouped in groups.into_values() {
        groups_of.insert(grouped.at, grouped.fields());
    }
    for made in &mut alerts[first_made..] {
        if let Some(fields) = groups_of.remove(&made.at) {
            made.fields = fields;
        }
    }
}

/// A threshold rule's executions: each counts its window's groups, leaving out the events of a
/// group at or before its last alert, and alerts on those over the threshold (up to
/// `max_signals`, in the order [`Buckets::over`] gives).
fn replay_threshold(
    rule_index: usize,
    rule: &Rule,
    threshold: &Threshold,
    pending: &[usize],
    kept: &mut Vec<Kept>,
    stats: &mut RuleReplay,
    alerts: &mut Vec<Made>,
) {
    let times = timed(pending, kept);
    let mut history: HashMap<String, Timestamp> = HashMap::new();
    for (started, window) in Schedule::new(rule).executions(&times) {
        let mut buckets = Buckets::default();
        for i in window {
            let hit = &kept[pending[i]];
            buckets.add(&hit.terms, times[i], &hit.distinct, pending[i] as u64, &|key| history.get(key).copied());
        }
        stats.executions += 1;
        let over = buckets.over(threshold);
        let max = rule.max_signals as usize;
        if over.len() > max {
            stats.truncations.push(Truncation { started, dropped: over.len() - max });
        }
        for (key, bucket) in over.into_iter().take(max) {
            let alert = ThresholdAlert::new(rule, threshold, started, &key, &bucket);
            if let Some(last) = bucket.last {
                history.insert(key, last);
            }
            let synthetic = kept[bucket.newest as usize].stand_in(
                bucket.last,
                alert.id,
                alert.event,
                Some(rule.index.join(",")),
                alert.event_id,
            );
            kept.push(synthetic);
            alerts.push(Made { rule: rule_index, started, at: kept.len() - 1, id: alert.id, fields: alert.fields });
            stats.alerts += 1;
        }
    }
}

/// An EQL sequence (or sample) rule's executions: each finds the sequences among its window's
/// events (the first `max_signals` of them), and a sequence alerts once, in the first execution that finds
/// it: one building block alert per event and the shell alert (see [`crate::sequence`]).
fn replay_sequence(
    rule_index: usize,
    rule: &Rule,
    matcher: &eql::SequenceMatcher,
    pending: &[usize],
    kept: &mut Vec<Kept>,
    stats: &mut RuleReplay,
    alerts: &mut Vec<Made>,
) {
    let times = timed(pending, kept);
    let mut alerted: HashSet<AlertId> = HashSet::new();
    let mut dropped = 0;
    stats.finds = matcher.finds();
    // What the executions read of each event: the sequence's fields and the time it orders by.
    let time_field = crate::sequence::order_field(rule);
    let read = ecs::Projection::new(matcher.fields().iter().map(String::as_str).chain([time_field]));
    for (started, window) in Schedule::new(rule).executions(&times) {
        let window = &pending[window];
        // Decoded again from their text for this window (valid JSON when kept), as far as read.
        let docs: Vec<Value> = window
            .iter()
            .map(|&at| {
                let text = kept[at].text.as_deref().unwrap_or("null");
                Document::parse_projected(text.as_bytes(), &read).map_or(Value::Null, Document::into_root)
            })
            .collect();
        let events = window
            .iter()
            .zip(&docs)
            .enumerate()
            .map(|(i, (&at, doc))| eql::Event {
                time: crate::sequence::order_time(rule, doc, kept[at].time),
                doc,
                handle: i,
            })
            .collect();
        let found = matcher.find(events, rule.max_signals as usize);
        stats.executions += 1;
        stats.sequences_beyond_limit += found.beyond_limit;
        dropped += found.dropped;
        for sequence in found.sequences {
            // Its events' whole documents, decoded once.
            for &i in &sequence {
                let event = &mut kept[window[i]];
                if event.event.is_null() {
                    event.event =
                        event.text.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null);
                }
            }
            let members: Vec<crate::sequence::Member<'_>> = sequence
                .iter()
                .map(|&i| crate::sequence::Member {
                    event: &kept[window[i]].event,
                    index: kept[window[i]].index.as_deref(),
                    event_id: &kept[window[i]].event_id,
                    alert_id: kept[window[i]].alert_id,
                })
                .collect();
            let made = crate::sequence::alerts(&rule.id.0, &members);
            if !alerted.insert(made.group) {
                continue;
            }
            for (&i, (id, fields)) in sequence.iter().zip(made.blocks) {
                alerts.push(Made { rule: rule_index, started, at: window[i], id, fields });
            }
            // The shell stands at its newest event (a sample's last term's event need not be).
            let newest = sequence.iter().map(|&i| window[i]).max_by_key(|&at| kept[at].time);
            let last = &kept[newest.expect("a sequence has events")];
            let shell = last.stand_in(last.time, made.group, made.shell, last.index.clone(), made.group.to_string());
            kept.push(shell);
            alerts.push(Made {
                rule: rule_index,
                started,
                at: kept.len() - 1,
                id: made.group,
                fields: made.shell_fields,
            });
            stats.alerts += sequence.len() + 1;
        }
    }
    stats.given_up = (dropped > 0).then(|| matcher.given_up(dropped));
}

/// A new terms rule's executions: an event of a window alerts for each of its terms with no
/// occurrence between the execution's history start and the event (so it is also the first of
/// the window to have it), in the first execution where that holds, up to `max_signals` per
/// execution (the rest try the next executions that still see them).
fn replay_new_terms(
    rule_index: usize,
    rule: &Rule,
    new_terms: &NewTerms,
    pending: &[usize],
    kept: &[Kept],
    stats: &mut RuleReplay,
    alerts: &mut Vec<Made>,
) {
    let schedule = Schedule::new(rule);
    // Per term, its occurrences in time order: (time, kept hit).
    let mut occurrences: HashMap<String, Vec<(Timestamp, usize)>> = HashMap::new();
    for &at in pending {
        for values in &kept[at].terms {
            occurrences.entry(terms::key(values)).or_default().push((kept[at].time.expect("timed hits only"), at));
        }
    }
    // Per execution, the candidates it alerts on: (time, kept hit, term, last execution seeing it).
    let mut by_execution: BTreeMap<i64, Vec<(Timestamp, usize, String, i64)>> = BTreeMap::new();
    for (term, seen) in &occurrences {
        for (i, &(t, at)) in seen.iter().enumerate() {
            let previous = i.checked_sub(1).map(|p| seen[p].0);
            let Some((first, _)) = schedule.first_reaching(t) else { continue };
            // Every execution whose window holds `t` checks it, each against a later history.
            let (mut n, mut alerting) = (first, None);
            while schedule.window(n).is_some_and(|(from, _)| from <= t) {
                let new = match (previous, terms::history(new_terms, rule, schedule.start(n))) {
                    (None, _) => true,
                    (Some(p), Some((start, _))) => p < start,
                    (Some(_), None) => false,
                };
                if new && alerting.is_none() {
                    alerting = Some(n);
                }
                n += 1;
            }
            if let Some(at_n) = alerting {
                by_execution.entry(at_n).or_default().push((t, at, term.clone(), n - 1));
            }
        }
    }
    let max = rule.max_signals as usize;
    while let Some((n, mut candidates)) = by_execution.pop_first() {
        candidates.sort();
        stats.executions += 1;
        let started = schedule.start(n);
        let mut dropped = 0;
        for (made, (t, at, term, last)) in candidates.into_iter().enumerate() {
            if made >= max {
                if last > n {
                    by_execution.entry(n + 1).or_default().push((t, at, term, last));
                } else {
                    stats.missed += 1;
                }
                dropped += 1;
                continue;
            }
            let hit = &kept[at];
            let values: Vec<Value> = serde_json::from_str(&term).unwrap_or_default();
            let id = terms::new_terms_alert_id(hit.index.as_deref().unwrap_or(""), &hit.event_id, &rule.id.0, &term);
            alerts.push(Made { rule: rule_index, started, at, id, fields: terms::new_terms_fields(&values) });
            stats.alerts += 1;
        }
        if dropped > 0 {
            stats.truncations.push(Truncation { started, dropped });
        }
    }
}

/// A threshold or new terms rule's alerts (in the order its executions made them) suppressed: an
/// alert whose group already has one from the same execution, or with a duration a younger one,
/// goes into that one.
fn suppress_made(
    rule: &Rule,
    suppression: &Suppression,
    made: Vec<Made>,
    kept: &[Kept],
    stats: &mut RuleReplay,
) -> Vec<Made> {
    let mut out: Vec<Made> = Vec::with_capacity(made.len());
    // Per group key: its alert's place in `out`, and what it stands for.
    let mut open: HashMap<String, (usize, Grouped)> = HashMap::new();
    for alert in made {
        let hit = &kept[alert.at];
        let Some(group) = suppression.group(rule, &hit.event) else {
            out.push(alert);
            continue;
        };
        if let Some((_, grouped)) = open.get_mut(&group.key)
            && grouped.takes(alert.started, suppression)
        {
            grouped.add(hit.time);
            stats.alerts -= 1;
            continue;
        }
        let grouped =
            Grouped { at: alert.at, group, started: alert.started, start: hit.time, end: hit.time, others: 0 };
        out.push(alert);
        if let Some((done, earlier)) = open.insert(grouped.group.key.clone(), (out.len() - 1, grouped)) {
            out[done].fields.extend(earlier.fields());
        }
    }
    for (at, grouped) in open.into_values() {
        out[at].fields.extend(grouped.fields());
    }
    out
}

/// A group's alert in a replay.
struct Grouped {
    /// Its kept hit.
    at: usize,
    group: Group,
    /// The execution that made it.
    started: Timestamp,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    /// Events it stands for besides its own.
    others: u64,
}

impl Grouped {
    /// Whether an execution started at `started` adds its events of the group to this alert:
    /// the same execution always, a later one while the alert is younger than the duration.
    fn takes(&self, started: Timestamp, suppression: &Suppression) -> bool {
        started == self.started
            || suppression.duration.is_some_and(|d| started.as_nanos() - self.started.as_nanos() < d)
    }

    fn add(&mut self, time: Option<Timestamp>) {
        self.others += 1;
        self.start = match (self.start, time) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.end = self.end.max(time);
    }

    fn fields(&self) -> Vec<(String, Value)> {
        crate::suppression::fields(&self.group, self.start, self.end, self.others)
    }
}
