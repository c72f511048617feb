//! Threshold and new terms rules in a scheduled execution (the semantics are
//! [`crate::terms`]'s).
//!
//! A threshold rule counts its window's matching events per group as the pass reads them (memory
//! grows with the groups, not the events) against its signal history in the store, and alerts
//! on the groups over its threshold. A new terms rule keeps, per term of the events read, the
//! first event in the window and the first late one, and the times of the events its index has
//! not seen; then it reads from its index (in the store) the times of those terms only, checks
//! each first event against its history, and writes the terms' new times back with its alerts.
//! The index is built incrementally; it is rebuilt from the stored events of the history when it
//! is missing or the rule's query, fields or history changed.

use std::collections::HashMap;
use std::rc::Rc;

use ecs::Catalog;
use ecs::date::Timestamp;
use rules::exceptions::Exceptions;
use rules::{NewTerms, Rule, Threshold};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Candidate, Stored};
use crate::ruleset::RuleSet;
use crate::scan::{ScanOptions, Scanner};
use crate::storage::{
    EventQuery, MemoryUpdate, Store, StoreResult, TermsIndex, TermsUpdate, ThresholdUpdate, TimeColumn,
};
use crate::terms::{self, Buckets, Seen, ThresholdAlert};

/// What a rule keeps during a pass, by kind.
pub(super) enum Counting {
    /// A query rule: its candidates are kept by the pass itself.
    Query,
    Threshold(ThresholdPass),
    NewTerms(NewTermsPass),
    Sequence(SequencePass),
}

/// An EQL sequence rule: the window's events that can take part, in the order read.
pub(super) struct SequencePass {
    matcher: eql::SequenceMatcher,
    events: Vec<Candidate>,
}

pub(super) struct ThresholdPass {
    threshold: Threshold,
    /// Per group, the newest event its last alert counted.
    history: HashMap<String, Timestamp>,
    buckets: Buckets,
    /// Matching events older than the window, ingested since the last execution: not counted.
    late: u64,
}

pub(super) struct NewTermsPass {
    new_terms: NewTerms,
    index: TermsIndex,
    /// Whether the index was rebuilt by this execution (`seen` holds all of it then).
    rebuilt: bool,
    /// The index as rebuilt, or nothing (the terms needed are read after the pass).
    seen: HashMap<String, Seen>,
    /// The times of the events read that the index had not seen, per term.
    times: HashMap<String, Vec<i64>>,
    /// Per term and lateness, its first event read.
    first: HashMap<(String, bool), Candidate>,
    /// Where the history starts, and its span (what late events are checked over).
    history: (Timestamp, i64),
}

/// What a counting rule's execution comes to.
pub(super) struct Outcome {
    pub alerts: Vec<(Candidate, Vec<(String, Value)>)>,
    pub candidates: u64,
    pub held_back: u64,
    pub held_from: Option<u64>,
    /// A new terms rule's terms checked.
    pub terms: u64,
    pub warnings: Vec<String>,
    pub memory: MemoryUpdate,
}

impl Counting {
    /// What an EQL sequence rule keeps during a pass.
    pub(super) fn sequence(matcher: &eql::SequenceMatcher) -> Counting {
        Counting::Sequence(SequencePass { matcher: matcher.clone(), events: Vec::new() })
    }

    /// What `rule` needs for a pass at `scheduled`: its memory read from the store (a new terms
    /// index rebuilt from the stored events when it must be, unless the pass reads them all
    /// anyway: the rule has `covered` nothing yet).
    pub(super) fn prepare(
        store: &dyn Store,
        rule: &Rule,
        (catalog, exceptions): (&Catalog, &Exceptions),
        scheduled: Timestamp,
        (covered, up_to): (u64, u64),
    ) -> StoreResult<Counting> {
        if let Some(threshold) = &rule.threshold {
            return Ok(Counting::Threshold(ThresholdPass {
                threshold: threshold.clone(),
                history: store.threshold_history(&rule.id.0)?,
                buckets: Buckets::default(),
                late: 0,
            }));
        }
        let Some(new_terms) = &rule.new_terms else { return Ok(Counting::Query) };
        let Some(history) = terms::history(new_terms, rule, scheduled) else { return Ok(Counting::Query) };
        let fingerprint = fingerprint(rule, new_terms);
        let (index, rebuilt, seen) = match store.terms_index(&rule.id.0)? {
            Some(index) if index.fingerprint == fingerprint => (index, false, HashMap::new()),
            _ if covered == 0 => (TermsIndex { fingerprint, indexed_seq: up_to }, true, HashMap::new()),
            _ => {
                let seen = rebuild(store, rule, catalog, exceptions, scheduled, history, up_to)?;
                (TermsIndex { fingerprint, indexed_seq: up_to }, true, seen)
            }
        };
        Ok(Counting::NewTerms(NewTermsPass {
            new_terms: new_terms.clone(),
            index,
            rebuilt,
            seen,
            times: HashMap::new(),
            first: HashMap::new(),
            history,
        }))
    }

    /// Takes a match of the pass at `time` (`None`: it has no time on the rule's field):
    /// `covered` when an earlier execution evaluated it and it is not in the window (read for
    /// the index only); `candidate` makes the pass's candidate of it when one is kept.
    pub(super) fn hit(
        &mut self,
        event: &Value,
        time: Option<Timestamp>,
        seq: u64,
        (in_window, covered): (bool, bool),
        candidate: impl Fn() -> Candidate,
    ) {
        match self {
            Counting::Query => {}
            Counting::Sequence(pass) => {
                if in_window && time.is_some() {
                    pass.events.push(candidate());
                }
            }
            Counting::Threshold(pass) => match time {
                Some(time) if in_window => {
                    let groups = terms::groups_of(&pass.threshold, event);
                    let distinct = terms::cardinality_values(&pass.threshold, event);
                    let history = &pass.history;
                    pass.buckets.add(&groups, time, &distinct, seq, &|key| history.get(key).copied());
                }
                Some(_) if !covered => pass.late += 1,
                _ => {}
            },
            Counting::NewTerms(pass) => {
                let Some(time) = time else { return };
                for values in terms::combinations(&pass.new_terms.fields, event) {
                    let key = terms::key(&values);
                    if pass.rebuilt || seq > pass.index.indexed_seq {
                        pass.times.entry(key.clone()).or_default().push(time.as_nanos());
                    }
                    if covered {
                        continue;
                    }
                    let key = (key, !in_window);
                    let earlier = pass.first.get(&key).is_some_and(|first| first.key() <= (false, Some(time), seq));
                    if !earlier {
                        pass.first.insert(key, candidate());
                    }
                }
            }
        }
    }

    /// The rule's alerts (at most `max`, oldest first), what it held back and what it remembers
    /// now.
    pub(super) fn finish(
        self,
        store: &dyn Store,
        rule: &Rule,
        scheduled: Timestamp,
        window: (Timestamp, Timestamp),
        max: usize,
    ) -> StoreResult<Outcome> {
        match self {
            Counting::Query => Ok(Outcome {
                alerts: Vec::new(),
                candidates: 0,
                held_back: 0,
                held_from: None,
                terms: 0,
                warnings: Vec::new(),
                memory: MemoryUpdate::default(),
            }),
            Counting::Threshold(pass) => Ok(pass.finish(rule, scheduled, window, max)),
            Counting::Sequence(pass) => pass.finish(store, rule, max),
            Counting::NewTerms(pass) => pass.finish(store, rule, max),
        }
    }
}

impl ThresholdPass {
    fn finish(self, rule: &Rule, scheduled: Timestamp, window: (Timestamp, Timestamp), max: usize) -> Outcome {
        let over = self.buckets.over(&self.threshold);
        let mut warnings = Vec::new();
        if over.len() > max {
            warnings.push(format!(
                "max_signals ({max}) reached: {} of {} groups over the threshold not alerted (their events count again in the next windows that hold them)",
                over.len() - max,
                over.len()
            ));
        }
        if self.late > 0 {
            warnings.push(format!(
                "{} matching events older than the window arrived since the last execution: a threshold counts its window's events only",
                self.late
            ));
        }
        let candidates = over.len() as u64;
        let mut alerted = Vec::new();
        let mut alerts = Vec::new();
        for (key, bucket) in over.into_iter().take(max) {
            let alert = ThresholdAlert::new(rule, &self.threshold, scheduled, &key, &bucket);
            let event =
                Rc::new(Stored { event: alert.event, index: Some(rule.index.join(",")), event_id: alert.event_id });
            let candidate = Candidate { time: bucket.last, seq: bucket.newest, late: false, alert_id: alert.id, event };
            if let Some(last) = bucket.last {
                alerted.push((key, last));
            }
            alerts.push((candidate, alert.fields));
        }
        let memory = MemoryUpdate {
            threshold: Some(ThresholdUpdate { rule_id: rule.id.0.clone(), alerted, forget_before: window.0 }),
            terms: None,
        };
        Outcome { alerts, candidates, held_back: 0, held_from: None, terms: 0, warnings, memory }
    }
}

impl SequencePass {
    /// The sequences (or samples) among the window's events, the first `max` alerted: one
    /// building block alert per event and the shell alert (see [`crate::sequence`]). A sequence
    /// an earlier execution alerted (its window overlapped) is left out.
    fn finish(self, store: &dyn Store, rule: &Rule, max: usize) -> StoreResult<Outcome> {
        let offered = self
            .events
            .iter()
            .enumerate()
            .map(|(i, c)| eql::Event {
                time: crate::sequence::order_time(rule, &c.event.event, c.time),
                doc: &c.event.event,
                handle: i,
            })
            .collect();
        let found = self.matcher.find(offered, max);
        let mut warnings = Vec::new();
        if found.beyond_limit > 0 {
            warnings.push(format!(
                "max_signals ({max}) reached: {} more {}(s) found in the window not alerted",
                found.beyond_limit,
                self.matcher.finds()
            ));
        }
        if found.dropped > 0 {
            warnings.push(self.matcher.given_up(found.dropped));
        }
        let candidates = (found.sequences.len() + found.beyond_limit) as u64;
        let made: Vec<_> = found
            .sequences
            .iter()
            .map(|sequence| {
                let members: Vec<crate::sequence::Member<'_>> = sequence
                    .iter()
                    .map(|&i| {
                        let c = &self.events[i];
                        crate::sequence::Member {
                            event: &c.event.event,
                            index: c.event.index.as_deref(),
                            event_id: &c.event.event_id,
                            alert_id: c.alert_id,
                        }
                    })
                    .collect();
                crate::sequence::alerts(&rule.id.0, &members)
            })
            .collect();
        let existing = store.existing(&made.iter().map(|m| m.group).collect::<Vec<_>>())?;
        let mut alerts = Vec::new();
        for (sequence, made) in found.sequences.iter().zip(made) {
            if existing.contains(&made.group) {
                continue;
            }
            for (&i, (alert_id, fields)) in sequence.iter().zip(made.blocks) {
                alerts.push((Candidate { alert_id, ..self.events[i].clone() }, fields));
            }
            // The shell stands at its newest event (a sample's last term's event need not be).
            let newest = sequence.iter().max_by_key(|&&i| (self.events[i].time, self.events[i].seq));
            let last = &self.events[*newest.expect("a sequence has events")];
            let event = Rc::new(Stored {
                event: made.shell,
                index: last.event.index.clone(),
                event_id: made.group.to_string(),
            });
            let shell = Candidate { time: last.time, seq: last.seq, late: false, alert_id: made.group, event };
            alerts.push((shell, made.shell_fields));
        }
        Ok(Outcome {
            alerts,
            candidates,
            held_back: 0,
            held_from: None,
            terms: 0,
            warnings,
            memory: MemoryUpdate::default(),
        })
    }
}

impl NewTermsPass {
    fn finish(mut self, store: &dyn Store, rule: &Rule, max: usize) -> StoreResult<Outcome> {
        let (start, span) = self.history;
        let mut terms: Vec<String> = self.first.keys().map(|(term, _)| term.clone()).collect();
        terms.extend(self.times.keys().cloned());
        terms.sort_unstable();
        terms.dedup();
        if !self.rebuilt {
            let needed: Vec<String> = terms.iter().filter(|t| !self.seen.contains_key(*t)).cloned().collect();
            for (term, times) in store.seen(&rule.id.0, &needed)? {
                self.seen.insert(term, Seen::from_times(times));
            }
        }
        let forget_before = start.as_nanos().saturating_sub(span);
        for (term, times) in &self.times {
            let seen = self.seen.entry(term.clone()).or_default();
            for &t in times {
                seen.add(t, span);
            }
            seen.prune(forget_before);
        }
        let mut new: Vec<(Candidate, String)> = Vec::new();
        for ((term, late), candidate) in self.first {
            let Some(t) = candidate.time else { continue };
            let t = t.as_nanos();
            let from = if late { t.saturating_sub(span) } else { start.as_nanos() };
            if !self.seen.get(&term).is_some_and(|seen| seen.any_in(from, t)) {
                let index = candidate.event.index.as_deref().unwrap_or("");
                let alert_id = terms::new_terms_alert_id(index, &candidate.event.event_id, &rule.id.0, &term);
                new.push((Candidate { alert_id, ..candidate }, term));
            }
        }
        let ids: Vec<_> = new.iter().map(|(c, _)| c.alert_id).collect();
        let existing = store.existing(&ids)?;
        new.retain(|(c, _)| !existing.contains(&c.alert_id));
        new.sort_by(|(a, ta), (b, tb)| (a.key(), ta).cmp(&(b.key(), tb)));
        let candidates = new.len() as u64;
        let held = new.split_off(new.len().min(max));
        let held_from = held.iter().map(|(c, _)| c.seq).min();
        let alerts = new
            .into_iter()
            .map(|(c, term)| {
                let values: Vec<Value> = serde_json::from_str(&term).unwrap_or_default();
                (c, terms::new_terms_fields(&values))
            })
            .collect();
        let warnings = Vec::new();
        let seen = self
            .seen
            .into_iter()
            .filter(|(term, _)| self.rebuilt || self.times.contains_key(term))
            .map(|(term, seen)| (term, seen.times().to_vec()))
            .collect();
        let memory = MemoryUpdate {
            terms: Some(TermsUpdate {
                rule_id: rule.id.0.clone(),
                index: self.index,
                rebuilt: self.rebuilt,
                seen,
                forget_before,
            }),
            threshold: None,
        };
        let checked = terms.len() as u64;
        Ok(Outcome { alerts, candidates, held_back: held.len() as u64, held_from, terms: checked, warnings, memory })
    }
}

/// What a new terms index depends on: the rule's query, filters, exception lists, time field,
/// indices, fields and history.
fn fingerprint(rule: &Rule, new_terms: &NewTerms) -> String {
    let mut hash = Sha256::new();
    let parts = [
        rule.effective_query(),
        rule.fields.get("filters").map(Value::to_string).unwrap_or_default(),
        rule.fields.get("exceptions_list").map(Value::to_string).unwrap_or_default(),
        rule.time_field().to_owned(),
        rule.index.join(","),
        new_terms.fields.join(","),
        new_terms.history_window_start.0.clone(),
    ];
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    crate::alert::short_hex(&hash.finalize())
}

/// A new terms index built from the stored events of the rule's history (`[start, now]` on its
/// time field, up to `up_to`).
fn rebuild(
    store: &dyn Store,
    rule: &Rule,
    catalog: &Catalog,
    exceptions: &Exceptions,
    scheduled: Timestamp,
    (start, span): (Timestamp, i64),
    up_to: u64,
) -> StoreResult<HashMap<String, Seen>> {
    let (set, _) = RuleSet::compile_with(vec![rule.clone()], catalog, scheduled, exceptions);
    let Some(compiled) = set.rules().first() else { return Ok(HashMap::new()) };
    let new_terms = compiled.rule.new_terms.clone().unwrap_or_else(|| unreachable!("a new terms rule"));
    let column = match rule.time_field() {
        "event.ingested" => TimeColumn::Ingested,
        _ => TimeColumn::Timestamp,
    };
    let query = EventQuery {
        window: Some((column, start, Timestamp::from_nanos(i64::MAX))),
        after: None,
        up_to,
        limit: None,
        ordered: false,
        from_seq: 0,
    };
    let mut scanner = Scanner::new(&set, ScanOptions { index: None });
    let mut seen: HashMap<String, Seen> = HashMap::new();
    store.scan(&query, &mut |event| {
        if let Ok(Some(matched)) = scanner.match_stored(&event)
            && let Some(time) = crate::alert::event_time(&compiled.rule, &matched.event)
        {
            for values in terms::combinations(&new_terms.fields, &matched.event) {
                seen.entry(terms::key(&values)).or_default().add(time.as_nanos(), span);
            }
        }
        true
    })?;
    Ok(seen)
}
