//! Sequences: a [`Sequence`] compiled into a [`SequenceMatcher`] that finds, among events in
//! time order, the ones that follow each other as Elasticsearch's sequence state machine does.
//!
//! Events are taken in order of timestamp, then of their place in the input (Elasticsearch's
//! implicit tiebreaker). Each term (a term `with runs=N` counts as N) is a stage; an event of
//! the first stage starts a pending sequence under its join keys; an event of a later stage
//! takes the most recent pending sequence of the stage before it under the same keys, and the
//! older ones there are dropped ("only one pending sequence per state"). A pending sequence also
//! ends when an event after its first is more than `maxspan` after that first one, or when an
//! `until` event with the same keys came after its last event. Completed sequences come out in
//! order of their first event.
//!
//! Join keys are fields (`sequence by host.id [..] by process.pid`), their values read as their
//! fields are typed (`7` and `"7"` are one `long`; see [`key`]); an event without a value for a
//! key takes no part, unless the key is optional (`?field`, then its value is null). A field
//! with several values joins on its first.
//!
//! Missing events (`![...]`) take no part in the state machine: a sequence of the other terms,
//! once complete, is checked as Elasticsearch checks it. With the same keys, an event of a
//! missing term between two terms' events (strictly, by millisecond) discards it; one before its
//! first event (a leading missing term) or after its last (a trailing one) discards it unless
//! the nearest such event is more than `maxspan` away (see [`SequenceMatcher::find`]).
//!
//! A `sample` compiles to the same matcher, which then finds events that share join keys, one
//! per term in any order, as Elasticsearch's samples do (see
//! [`Sample::compile`](crate::Sample::compile)); Elasticsearch answers both with
//! `hits.sequences`, and Kibana makes the same alerts of both.

mod key;
mod sample;

use std::collections::HashMap;

use ecs::{Catalog, Value};
use kql::Explanation;

use crate::ast::{Expr, ExprKind, Pipe, Query, QueryKind, Sequence, Term};
use crate::error::{Error, ErrorKind};
use crate::eval::EventMatcher;
use key::{JoinKey, Key};

/// Pending sequences held at most, over all stages and keys; past it the oldest events'
/// sequences are given up (and counted in [`Found::dropped`]).
pub const MAX_PENDING: usize = 100_000;

/// A compiled sequence or sample query: what it finds are groups of events, which
/// Elasticsearch answers with alike (`hits.sequences`) and Kibana turns into alike alerts.
#[derive(Clone, Debug)]
pub struct SequenceMatcher {
    shape: Shape,
    stages: Vec<Stage>,
    until: Option<Stage>,
    maxspan_nanos: Option<i64>,
    fields: Vec<String>,
    /// `| head N` or `| tail N`: the first or last N sequences.
    take: Option<Take>,
}

/// What a [`SequenceMatcher`] finds.
#[derive(Clone, Debug)]
enum Shape {
    /// Events in time order, one per stage (`sequence`).
    Sequence,
    /// Events that share join keys, one per stage in any order (`sample`).
    Sample,
}

#[derive(Clone, Copy, Debug)]
enum Take {
    Head(usize),
    Tail(usize),
}

#[derive(Clone, Debug)]
struct Stage {
    /// Which term it is, as explanations name it: `term 2`, `term 3 (missing)`, `until`.
    label: String,
    filter: EventMatcher,
    /// The join keys: the shared ones, then the term's own.
    keys: Vec<JoinKey>,
    /// `![...]`: no such event may come at this place.
    missing: bool,
}

/// An event offered to [`SequenceMatcher::find`]: its time (nanoseconds), its document, and what
/// the caller knows it by.
#[derive(Clone, Debug)]
pub struct Event<'a, T> {
    /// Its timestamp, nanoseconds since the epoch.
    pub time: i64,
    /// Its document.
    pub doc: &'a Value,
    /// The caller's handle.
    pub handle: T,
}

/// What [`SequenceMatcher::find`] found.
#[derive(Clone, Debug)]
pub struct Found<T> {
    /// The completed sequences, each its events' handles in stage order, oldest first sequence
    /// first; at most the `limit` asked for.
    pub sequences: Vec<Vec<T>>,
    /// Completed sequences beyond the limit.
    pub beyond_limit: usize,
    /// Pending sequences given up because more than [`MAX_PENDING`] were held; for a sample,
    /// join key values whose events took too long to choose.
    pub dropped: usize,
}

impl Query {
    /// The query's sequence or sample compiled ([`Sequence::compile`],
    /// [`Sample::compile`](crate::Sample::compile)) with its pipes applied.
    ///
    /// # Errors
    ///
    /// An event query; what compiling the query or its pipes finds wrong.
    pub fn sequence_matcher(&self, catalog: &Catalog, category_field: &str) -> Result<SequenceMatcher, Error> {
        match &self.kind {
            QueryKind::Event(filter) => Err(Error::new(
                ErrorKind::Invalid("an event query finds no sequences or samples".to_owned()),
                filter.span,
            )),
            QueryKind::Sequence(sequence) => sequence.compile(catalog, category_field),
            QueryKind::Sample(sample) => sample.compile(catalog, category_field),
        }
        .and_then(|m| m.piped(&self.pipes))
    }
}

impl Sequence {
    /// Compiles the sequence: each term's filter against `catalog` (categories read from
    /// `category_field`), its join keys, `until` and `maxspan`.
    ///
    /// # Errors
    ///
    /// A filter that does not compile; a join key that is not a field; terms with different
    /// numbers of keys; no term that is not missing.
    pub fn compile(&self, catalog: &Catalog, category_field: &str) -> Result<SequenceMatcher, Error> {
        let mut fields = Vec::new();
        let stages = stages(&self.by, &self.terms, catalog, category_field, &mut fields)?;
        if stages.iter().all(|s| s.missing) {
            // The parser refuses it; an AST built by hand may not.
            let span = self.terms.first().map_or_else(Default::default, |t| t.span);
            return Err(Error::new(ErrorKind::Invalid("a sequence needs a term that is not missing".to_owned()), span));
        }
        let until = match &self.until {
            Some(term) => Some(stage("until".to_owned(), &self.by, term, catalog, category_field, &mut fields)?),
            None => None,
        };
        fields.sort();
        fields.dedup();
        let maxspan_nanos = self.maxspan.map(|m| i64::try_from(m.millis).unwrap_or(i64::MAX / 1_000_000) * 1_000_000);
        Ok(SequenceMatcher { shape: Shape::Sequence, stages, until, maxspan_nanos, fields, take: None })
    }
}

/// The stages of `terms` (a term `with runs=N` is N of them), each with the shared keys `by`
/// before its own; the fields they read are added to `fields`.
fn stages(
    by: &[Expr],
    terms: &[Term],
    catalog: &Catalog,
    category_field: &str,
    fields: &mut Vec<String>,
) -> Result<Vec<Stage>, Error> {
    let mut stages = Vec::new();
    let mut width = None;
    for (i, term) in terms.iter().enumerate() {
        let label = format!("term {}{}", i + 1, if term.missing { " (missing)" } else { "" });
        let stage = stage(label, by, term, catalog, category_field, fields)?;
        if *width.get_or_insert(stage.keys.len()) != stage.keys.len() {
            return Err(Error::new(
                ErrorKind::Invalid("every term needs as many join keys as the others".to_owned()),
                term.span,
            ));
        }
        for _ in 0..term.runs {
            stages.push(stage.clone());
        }
    }
    Ok(stages)
}

fn stage(
    label: String,
    by: &[Expr],
    term: &Term,
    catalog: &Catalog,
    category_field: &str,
    fields: &mut Vec<String>,
) -> Result<Stage, Error> {
    let filter = term.filter.compile(catalog, category_field)?;
    fields.extend(filter.fields().iter().cloned());
    let keys = by
        .iter()
        .chain(&term.by)
        .map(|key| match &key.kind {
            ExprKind::Field { path, optional } => {
                let name = path.join(".");
                fields.push(name.clone());
                Ok(JoinKey::new(&name, *optional, catalog))
            }
            _ => Err(unsupported_key(key)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Stage { label, filter, keys, missing: term.missing })
}

fn unsupported_key(key: &Expr) -> Error {
    Error::new(ErrorKind::Invalid("join keys other than fields are not supported yet".to_owned()), key.span)
}

impl Stage {
    /// The event's keys for this stage, or `None` when a required one has no value.
    fn key(&self, doc: &Value) -> Option<Key> {
        self.keys.iter().map(|k| k.first(doc)).collect()
    }
}

/// A sequence under way: its events so far (indices into the sorted input).
#[derive(Clone, Debug)]
struct Pending {
    events: Vec<usize>,
    start: i64,
}

impl SequenceMatcher {
    /// The sequence with the query's pipes applied to what it finds: `head N` keeps the first N
    /// sequences, `tail N` the last N (each within the limit [`SequenceMatcher::find`] is given).
    ///
    /// # Errors
    ///
    /// Another pipe, or one whose argument is not a positive whole number.
    pub fn piped(mut self, pipes: &[Pipe]) -> Result<SequenceMatcher, Error> {
        for pipe in pipes {
            let n = match pipe.args.as_slice() {
                [Expr { kind: ExprKind::Int(n), .. }] if *n > 0 => usize::try_from(*n).unwrap_or(usize::MAX),
                _ if pipe.name == "head" || pipe.name == "tail" => {
                    return Err(Error::new(
                        ErrorKind::Invalid(format!("`| {}` takes one positive whole number", pipe.name)),
                        pipe.span,
                    ));
                }
                _ => 0,
            };
            self.take = Some(match pipe.name.as_str() {
                "head" => Take::Head(n),
                "tail" => Take::Tail(n),
                other => {
                    return Err(Error::new(
                        ErrorKind::Invalid(format!("the eql pipe `{other}` is not supported yet")),
                        pipe.span,
                    ));
                }
            });
        }
        Ok(self)
    }

    /// What it finds, one of them: `"sequence"` or `"sample"`.
    pub fn finds(&self) -> &'static str {
        match self.shape {
            Shape::Sequence => "sequence",
            Shape::Sample => "sample",
        }
    }

    /// What `dropped` of [`Found::dropped`] means, in a sentence.
    pub fn given_up(&self, dropped: usize) -> String {
        match self.shape {
            Shape::Sequence => {
                format!("{dropped} pending sequence(s) given up: more than {MAX_PENDING} were under way at once")
            }
            Shape::Sample => sample::given_up(dropped),
        }
    }

    /// For each term (a term `with runs=N` once; `until` last), whether `doc` can take its
    /// place: its filter explained, and its join keys' values.
    pub fn explain(&self, doc: &Value) -> Vec<Explanation> {
        let mut out: Vec<Explanation> = Vec::new();
        let mut previous = None;
        for stage in self.stages.iter().chain(&self.until) {
            if previous == Some(&stage.label) {
                continue;
            }
            previous = Some(&stage.label);
            let filter = stage.filter.explain(doc);
            let keys: Result<Vec<String>, String> = stage.keys.iter().map(|k| k.explain(doc)).collect();
            let (held, reason) = match (filter.held, keys) {
                (false, _) => (false, "its filter failed".to_owned()),
                (true, Ok(keys)) if keys.is_empty() => (true, "its filter held".to_owned()),
                (true, Ok(keys)) => (true, format!("its filter held; join keys {}", keys.join(", "))),
                (true, Err(missing)) => (false, format!("its filter held, but {missing}")),
            };
            out.push(Explanation { clause: stage.label.clone(), held, reason, children: vec![filter] });
        }
        out
    }

    /// The fields the sequence reads (its filters' and its keys').
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Whether `doc` can take part: it meets a term's filter or the `until` filter.
    pub fn takes(&self, doc: &Value) -> bool {
        self.stages.iter().chain(&self.until).any(|s| s.filter.matches_value(doc))
    }

    /// Finds the sequences (or samples) among `events` (in any order: they are sorted by time,
    /// ties kept in the order given), at most `limit` of them: the sequences whose first event
    /// is oldest, the samples whose keys sort first; or with `| tail N` the last ones.
    pub fn find<T: Clone>(&self, mut events: Vec<Event<'_, T>>, limit: usize) -> Found<T> {
        // A stable sort: equal times keep the input's order, the implicit tiebreaker.
        events.sort_by_key(|e| e.time);
        let (mut groups, dropped) = match &self.shape {
            Shape::Sequence => self.sequences(&events),
            Shape::Sample => self.samples(&events),
        };
        let found = groups.len();
        match self.take {
            None => groups.truncate(limit),
            Some(Take::Head(n)) => groups.truncate(n.min(limit)),
            Some(Take::Tail(n)) => {
                groups.drain(..found.saturating_sub(n.min(limit)));
            }
        }
        // Past the limit: what the pipe would have kept and the limit left out.
        let wanted = match self.take {
            None => found,
            Some(Take::Head(n) | Take::Tail(n)) => found.min(n),
        };
        let beyond_limit = wanted - groups.len();
        let sequences = groups.into_iter().map(|g| g.into_iter().map(|i| events[i].handle.clone()).collect()).collect();
        Found { sequences, beyond_limit, dropped }
    }

    /// The completed sequences among `events` (sorted), each its events' places in stage order,
    /// in order of their first event; and how many pending ones were given up.
    fn sequences<T>(&self, events: &[Event<'_, T>]) -> (Vec<Vec<usize>>, usize) {
        // The terms that take events; missing ones are checked once a sequence is complete.
        let positive: Vec<&Stage> = self.stages.iter().filter(|s| !s.missing).collect();
        let last = positive.len() - 1;
        // Per stage before the last, per key, the pending sequences in the order they came.
        let mut pending: Vec<HashMap<Key, Vec<Pending>>> = vec![HashMap::new(); last];
        let mut held = 0usize;
        let mut dropped = 0usize;
        // Per key, the place of the latest `until` event.
        let mut until: HashMap<Key, usize> = HashMap::new();
        let mut completed: Vec<Pending> = Vec::new();
        for (at, event) in events.iter().enumerate() {
            // Later stages first, so an event never both starts and extends one sequence.
            for stage in (0..positive.len()).rev() {
                let s = positive[stage];
                if !s.filter.matches_value(event.doc) {
                    continue;
                }
                let Some(key) = s.key(event.doc) else { continue };
                let next = if stage == 0 {
                    Pending { events: vec![at], start: event.time }
                } else {
                    let Some(group) = pending[stage - 1].get_mut(&key) else { continue };
                    let Some(mut latest) = group.pop() else { continue };
                    held -= group.len() + 1;
                    pending[stage - 1].remove(&key);
                    if self.maxspan_nanos.is_some_and(|span| event.time - latest.start > span) {
                        continue;
                    }
                    if until.get(&key).is_some_and(|&u| u > *latest.events.last().unwrap_or(&0)) {
                        continue;
                    }
                    latest.events.push(at);
                    latest
                };
                if stage == last {
                    if self.stages.len() == positive.len() || self.nothing_missing(&next, &key, events) {
                        completed.push(next);
                    }
                } else {
                    pending[stage].entry(key).or_default().push(next);
                    held += 1;
                }
            }
            if let Some(u) = &self.until
                && u.filter.matches_value(event.doc)
                && let Some(key) = u.key(event.doc)
            {
                until.insert(key, at);
            }
            if held > MAX_PENDING {
                dropped += give_up_oldest(&mut pending, held - MAX_PENDING);
                held = MAX_PENDING;
            }
        }
        completed.sort_by_key(|p| p.events[0]);
        (completed.into_iter().map(|p| p.events).collect(), dropped)
    }
}

impl SequenceMatcher {
    /// Elasticsearch's check of a complete sequence against its missing terms (its
    /// `TumblingWindow`): with the sequence's keys, an event of a middle missing term strictly
    /// between its neighbours' events (by millisecond) discards it; of the leading missing terms
    /// the latest event before the first, of the trailing ones the earliest after the last, are
    /// then weighed against `maxspan`, exactly as Elasticsearch's conditions do.
    fn nothing_missing<T>(&self, sequence: &Pending, key: &Key, events: &[Event<'_, T>]) -> bool {
        let millis = |at: usize| events[at].time.div_euclid(1_000_000);
        let (mut last_leading, mut first_trailing): (Option<i64>, Option<i64>) = (None, None);
        // Which positive event each stage sits after and before.
        let mut matched = 0;
        let first_missing = self.stages.first().is_some_and(|s| s.missing);
        let last_missing = self.stages.last().is_some_and(|s| s.missing);
        for stage in &self.stages {
            if !stage.missing {
                matched += 1;
                continue;
            }
            let times = events
                .iter()
                .filter(|e| stage.filter.matches_value(e.doc) && stage.key(e.doc).as_ref() == Some(key))
                .map(|e| e.time.div_euclid(1_000_000));
            if matched == 0 {
                let before = millis(sequence.events[0]);
                last_leading = last_leading.max(times.filter(|&t| t < before).max());
            } else if matched == sequence.events.len() {
                let after = millis(sequence.events[matched - 1]);
                let earliest = times.filter(|&t| t > after).min();
                first_trailing = match (first_trailing, earliest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            } else {
                let (from, to) = (millis(sequence.events[matched - 1]), millis(sequence.events[matched]));
                if times.into_iter().any(|t| t > from && t < to) {
                    return false;
                }
            }
        }
        let span = self.maxspan_nanos.map(|n| n / 1_000_000);
        let bigger = |from: Option<i64>, to: Option<i64>| match (from, to, span) {
            (Some(from), Some(to), Some(span)) => to - from > span,
            (Some(_), Some(_), None) => false,
            _ => true,
        };
        let (start, end) = (Some(millis(sequence.events[0])), Some(millis(*sequence.events.last().unwrap_or(&0))));
        (first_trailing.is_none() && last_leading.is_none())
            || (last_leading.is_none() && first_missing)
            || (first_trailing.is_none() && last_missing)
            || (first_missing && last_missing && bigger(last_leading, first_trailing))
            || (first_missing && !last_missing && bigger(last_leading, end))
            || (!first_missing && last_missing && bigger(start, first_trailing))
    }
}

/// Drops the `count` pending sequences that started first; returns how many it dropped.
fn give_up_oldest(pending: &mut [HashMap<Key, Vec<Pending>>], count: usize) -> usize {
    let mut starts: Vec<usize> = pending.iter().flat_map(|m| m.values().flatten().map(|p| p.events[0])).collect();
    starts.sort_unstable();
    let Some(&cut) = starts.get(count.saturating_sub(1)) else { return 0 };
    let mut dropped = 0;
    for stage in pending.iter_mut() {
        stage.retain(|_, group| {
            let before = group.len();
            group.retain(|p| p.events[0] > cut);
            dropped += before - group.len();
            !group.is_empty()
        });
    }
    dropped
}
