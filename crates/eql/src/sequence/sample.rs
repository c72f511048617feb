//! Samples: a [`Sample`] compiled into a [`SequenceMatcher`] that finds groups of events sharing
//! join keys, one event per term in any order, as Elasticsearch's `SampleIterator` finds them.
//!
//! For each value of the join keys that every term has events for, Elasticsearch asks each term
//! for its first events with that value (as many as there are terms), then picks one event per
//! term, all different, trying the first ones first (a backtracking search); `max_samples_per_key`
//! is its default, 1 (Kibana does not set it). Samples come in the order of their keys, as its
//! composite aggregation lists them: a missing optional value first, then ascending by the key
//! field's type. Elasticsearch takes a term's "first" events in the order its shards return them
//! (unspecified); vigil takes them in time order, ties in the order given, so that a scan and a
//! service find the same samples.
//!
//! An event whose key field has several values is under each of them (the aggregation makes a
//! bucket per value). An event without a value for a key takes no part unless the key is
//! optional (`?field`): its value is then null, and it joins the other events without one.

use std::cmp::Ordering;
use std::collections::HashMap;

use ecs::{Catalog, Value};

use super::key::KeyKind;
use super::{Event, Key, SequenceMatcher, Shape, Stage, stages};
use crate::ast::Sample;
use crate::error::Error;

/// How many samples a join key value gives: Elasticsearch's `max_samples_per_key` default.
const MAX_SAMPLES_PER_KEY: usize = 1;

/// The most join key values one event is under (the combinations of its keys' values, when
/// they have several): a bound on the work one event with huge lists can make.
const MAX_KEY_VALUES: usize = 256;

/// The most steps the search for one key value's sample may take (it is exponential in the
/// number of terms when events meet several terms' filters); past it the value gives no sample,
/// and is counted in [`super::Found::dropped`].
const MAX_STEPS: usize = 1 << 20;

impl Sample {
    /// Compiles the sample: each term's filter against `catalog` (categories read from
    /// `category_field`) and its join keys (typed from `catalog`; samples sort as the first
    /// term's keys are typed).
    ///
    /// # Errors
    ///
    /// A filter that does not compile; a join key that is not a field; terms with different
    /// numbers of keys.
    pub fn compile(&self, catalog: &Catalog, category_field: &str) -> Result<SequenceMatcher, Error> {
        let mut fields = Vec::new();
        let stages = stages(&self.by, &self.terms, catalog, category_field, &mut fields)?;
        fields.sort();
        fields.dedup();
        Ok(SequenceMatcher { shape: Shape::Sample, stages, until: None, maxspan_nanos: None, fields, take: None })
    }
}

impl Stage {
    /// Every value of the event's join keys (one per value of a multi-valued key, one per
    /// combination of several, at most [`MAX_KEY_VALUES`]); none when a required key has no
    /// value.
    fn all_keys(&self, doc: &Value) -> Vec<Key> {
        let mut keys: Vec<Key> = vec![Vec::new()];
        for join_key in &self.keys {
            let values = join_key.all(doc);
            keys = keys
                .into_iter()
                .flat_map(|key| {
                    values.iter().map(move |v| {
                        let mut key = key.clone();
                        key.push(v.clone());
                        key
                    })
                })
                .take(MAX_KEY_VALUES)
                .collect();
        }
        keys
    }
}

impl SequenceMatcher {
    /// The samples among `events` (sorted by time), each its events' places in term order, in
    /// the order of their keys; and how many key values were given up (see [`MAX_STEPS`]).
    pub(super) fn samples<T>(&self, events: &[Event<'_, T>]) -> (Vec<Vec<usize>>, usize) {
        let terms = self.stages.len();
        // Per key value, per term, its first events: as many as a search for the samples needs.
        let first = terms + MAX_SAMPLES_PER_KEY - 1;
        let mut found: HashMap<Key, Vec<Vec<usize>>> = HashMap::new();
        for (at, event) in events.iter().enumerate() {
            for (term, stage) in self.stages.iter().enumerate() {
                if !stage.filter.matches_value(event.doc) {
                    continue;
                }
                for key in stage.all_keys(event.doc) {
                    let lists = found.entry(key).or_insert_with(|| vec![Vec::new(); terms]);
                    if lists[term].len() < first {
                        lists[term].push(at);
                    }
                }
            }
        }
        let mut keyed: Vec<(Key, Vec<Vec<usize>>)> =
            found.into_iter().filter(|(_, lists)| lists.iter().all(|l| !l.is_empty())).collect();
        let kinds: Vec<KeyKind> =
            self.stages.first().map(|s| s.keys.iter().map(|k| k.kind()).collect()).unwrap_or_default();
        keyed.sort_by(|(a, _), (b, _)| compare(a, b, &kinds));
        let mut samples = Vec::new();
        let mut given_up = 0;
        for (_, lists) in keyed {
            let mut search = Search { lists: &lists, partial: Vec::new(), out: Vec::new(), steps: 0 };
            if search.pick(0) {
                samples.extend(search.out);
            } else {
                given_up += 1;
            }
        }
        (samples, given_up)
    }
}

/// What [`super::Found::dropped`] counts for a sample, in a sentence.
pub(super) fn given_up(dropped: usize) -> String {
    format!("{dropped} join key value(s) given up: choosing their sample's events took more than {MAX_STEPS} steps")
}

/// Compares two key values position by position: a missing value first, then by its kind.
fn compare(a: &Key, b: &Key, kinds: &[KeyKind]) -> Ordering {
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, pair)| match pair {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => kinds.get(i).copied().unwrap_or(KeyKind::Text).compare(x, y),
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Elasticsearch's choice of a sample's events: one per term, all different, the earliest
/// combination in the order of each term's list.
struct Search<'a> {
    lists: &'a [Vec<usize>],
    partial: Vec<usize>,
    out: Vec<Vec<usize>>,
    steps: usize,
}

impl Search<'_> {
    /// Extends the partial sample from term `term` on; `false` when it took too many steps.
    fn pick(&mut self, term: usize) -> bool {
        for &event in &self.lists[term] {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return false;
            }
            if self.partial.contains(&event) {
                continue;
            }
            self.partial.push(event);
            if term + 1 == self.lists.len() {
                self.out.push(self.partial.clone());
            } else if !self.pick(term + 1) {
                return false;
            }
            if self.out.len() == MAX_SAMPLES_PER_KEY {
                return true;
            }
            self.partial.pop();
        }
        true
    }
}
