//! What the rules that count and remember share between a replay and a scheduled execution:
//! the terms of an event (the values, or combinations of values, of the rule's fields), a new
//! terms rule's memory of when each was seen, and a threshold rule's groups.
//!
//! **New terms.** An execution with window `[from, to]` alerts on a term present in the window
//! that has no occurrence in `[history_window_start, from)`, on the first event of the window
//! that has it. Equivalently, an event of the window alerts for its term when no occurrence of
//! the term lies in `[history_window_start, its time)`: that is how vigil checks it, and how it
//! checks a late event (one older than the window), against `[its time - span, its time)`
//! where the span is the window's `from - history_window_start`.
//!
//! [`Seen`] keeps the occurrences of one term with memory bounded by the history, not by the
//! events: an occurrence between two kept ones at most `span / 2` apart is dropped, since every
//! interval of at least `span / 2` that holds it holds one of them.
//!
//! **Threshold.** An execution groups its window's matching events by the rule's fields (each
//! combination of an event's values is a group; an event missing a field is in none), leaves
//! out the events of a group at or before that group's last alert (its signal history), and
//! alerts once per group with at least `value` events (and `cardinality.value` distinct values
//! of the cardinality field).

use std::collections::{BTreeSet, HashMap};

use ecs::date::Timestamp;
use ecs::{Path, Value};
use rules::Rule;
use rules::{NewTerms, Threshold};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::alert::{AlertId, short_hex};

/// The most combinations one event makes (a product of arrays): beyond it the event is in no
/// group, and the execution says so.
pub const MAX_COMBINATIONS: usize = 1_000;

/// The values of `fields` in `event`, one list per combination (each field's values once, in
/// the order the event has them), or none when a field is missing or the event makes more than
/// [`MAX_COMBINATIONS`].
pub fn combinations(fields: &[String], event: &Value) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for field in fields {
        let mut values: Vec<Value> = Vec::new();
        Path::new(field).visit(event, &mut |v| {
            if !v.is_null() && !v.is_object() && !v.is_array() && !values.contains(v) {
                values.push(v.clone());
            }
            false
        });
        if values.is_empty() || out.len() * values.len() > MAX_COMBINATIONS {
            return Vec::new();
        }
        out = out
            .into_iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut combination = prefix.clone();
                    combination.push(v.clone());
                    combination
                })
            })
            .collect();
    }
    out
}

/// A combination's key: its values as a JSON array, e.g. `["alice","10.0.0.1"]`.
pub fn key(values: &[Value]) -> String {
    serde_json::to_string(values).unwrap_or_default()
}

/// The identity of a new terms alert: the event's, with the rule and the term (an event with
/// two new terms makes two alerts, as in Kibana).
pub fn new_terms_alert_id(index: &str, event_id: &str, rule_id: &str, term: &str) -> AlertId {
    AlertId::new(index, event_id, &format!("{rule_id}\u{0}{term}"))
}

/// The fields a new terms alert adds: `kibana.alert.new_terms`, the term's values.
pub fn new_terms_fields(values: &[Value]) -> Vec<(String, Value)> {
    vec![("kibana.alert.new_terms".into(), Value::Array(values.to_vec()))]
}

/// A new terms rule's history at an execution started at `started`: where it begins, and the
/// span `from - history start` that late events are checked over (at least a second).
pub fn history(terms: &NewTerms, rule: &Rule, started: Timestamp) -> Option<(Timestamp, i64)> {
    let start = terms.history_window_start.1.resolve(started, false)?;
    let from = rule.from.1.resolve(started, false)?;
    Some((start, (from.as_nanos() - start.as_nanos()).max(1_000_000_000)))
}

/// When a term was seen: a sorted set of times (nanoseconds), thinned so that it answers
/// [`Seen::any_in`] exactly for intervals of at least half the span it was built with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen(Vec<i64>);

impl Seen {
    /// The times kept, oldest first.
    pub fn times(&self) -> &[i64] {
        &self.0
    }

    /// A set of `times` as [`Seen::times`] gave them.
    pub fn from_times(mut times: Vec<i64>) -> Seen {
        times.sort_unstable();
        times.dedup();
        Seen(times)
    }

    /// Adds an occurrence at `t`, dropping the kept ones it makes redundant for intervals of at
    /// least `span / 2`.
    pub fn add(&mut self, t: i64, span: i64) {
        let at = match self.0.binary_search(&t) {
            Ok(_) => return,
            Err(at) => at,
        };
        self.0.insert(at, t);
        let gap = span / 2;
        // A kept time whose neighbours are at most `gap` apart is redundant: what it stood for
        // lies between them. Only the new time's neighbourhood can have changed.
        let mut i = at.saturating_sub(1);
        while i < (at + 2).min(self.0.len()) {
            if i > 0 && i + 1 < self.0.len() && self.0[i + 1] - self.0[i - 1] <= gap {
                self.0.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Whether an occurrence lies in `[from, until)`.
    pub fn any_in(&self, from: i64, until: i64) -> bool {
        let at = self.0.partition_point(|&t| t < from);
        self.0.get(at).is_some_and(|&t| t < until)
    }

    /// Forgets the occurrences before `before`.
    pub fn prune(&mut self, before: i64) {
        let at = self.0.partition_point(|&t| t < before);
        self.0.drain(..at);
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A threshold group in one execution: its terms and what its events add up to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bucket {
    /// The group's values, one per field.
    pub values: Vec<Value>,
    /// How many events.
    pub count: u64,
    /// The oldest and newest event times.
    pub first: Option<Timestamp>,
    /// The newest.
    pub last: Option<Timestamp>,
    /// The distinct values of the cardinality field.
    pub distinct: BTreeSet<String>,
    /// The caller's handle of its newest event (a sequence number, a place in a list).
    pub newest: u64,
}

/// The groups of one execution's events, by key.
#[derive(Debug, Default)]
pub struct Buckets {
    groups: HashMap<String, Bucket>,
}

impl Buckets {
    /// Counts an event at `time` in each of its groups (`combinations` of the threshold's
    /// fields; one empty combination without fields) unless it is at or before the group's last
    /// alert (`history`, by key); `distinct` are its values of the cardinality field, `handle`
    /// what the caller knows it by.
    pub fn add(
        &mut self,
        combinations: &[Vec<Value>],
        time: Timestamp,
        distinct: &[String],
        handle: u64,
        history: &dyn Fn(&str) -> Option<Timestamp>,
    ) {
        for values in combinations {
            let key = key(values);
            if history(&key).is_some_and(|last| time <= last) {
                continue;
            }
            let bucket =
                self.groups.entry(key).or_insert_with(|| Bucket { values: values.clone(), ..Bucket::default() });
            bucket.count += 1;
            bucket.first = Some(bucket.first.map_or(time, |t| t.min(time)));
            if bucket.last.is_none_or(|last| time >= last) {
                bucket.last = Some(time);
                bucket.newest = handle;
            }
            bucket.distinct.extend(distinct.iter().cloned());
        }
    }

    /// The groups over the threshold, by key, oldest newest event first (then by key): the
    /// order `max_signals` keeps them in.
    pub fn over(self, threshold: &Threshold) -> Vec<(String, Bucket)> {
        let mut over: Vec<(String, Bucket)> = self
            .groups
            .into_iter()
            .filter(|(_, b)| {
                b.count >= threshold.value
                    && threshold.cardinality.as_ref().is_none_or(|c| b.distinct.len() as u64 >= c.value)
            })
            .collect();
        over.sort_by(|(ka, a), (kb, b)| (a.last, ka).cmp(&(b.last, kb)));
        over
    }
}

/// The values of a threshold's cardinality field in `event`, as text.
pub fn cardinality_values(threshold: &Threshold, event: &Value) -> Vec<String> {
    threshold.cardinality.as_ref().map(|c| crate::alert::field_texts(event, &c.field)).unwrap_or_default()
}

/// The combinations a threshold groups `event` into: the one empty combination when it groups
/// by no field.
pub fn groups_of(threshold: &Threshold, event: &Value) -> Vec<Vec<Value>> {
    if threshold.fields.is_empty() { vec![Vec::new()] } else { combinations(&threshold.fields, event) }
}

/// A threshold alert: the event Kibana makes of a group (`@timestamp` its newest event, the
/// group's values at their fields), its identity and the fields the alert adds
/// (`kibana.alert.threshold_result`).
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdAlert {
    /// Its identity: a digest of the rule, the execution's scheduled start and the group.
    pub id: AlertId,
    /// The group's key (the event id its alert names).
    pub event_id: String,
    /// The event that stands for the group.
    pub event: Value,
    /// `kibana.alert.threshold_result` (and `kibana.alert.original_time`).
    pub fields: Vec<(String, Value)>,
}

impl ThresholdAlert {
    /// The alert of group `key` of `rule`, found by the execution scheduled at `started`.
    pub fn new(rule: &Rule, threshold: &Threshold, started: Timestamp, key: &str, bucket: &Bucket) -> ThresholdAlert {
        let mut hash = Sha256::new();
        for part in [rule.id.0.as_str(), &started.as_nanos().to_string(), &threshold.fields.join(","), key] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let digest = hash.finalize();
        let id = AlertId::from_bytes(digest.into());
        let time = |t: Option<Timestamp>| t.map_or(Value::Null, |t| json!(t.to_string()));
        let mut event = serde_json::Map::new();
        event.insert("@timestamp".into(), time(bucket.last));
        for (field, value) in threshold.fields.iter().zip(&bucket.values) {
            event.insert(field.clone(), value.clone());
        }
        let terms: Vec<Value> = threshold
            .fields
            .iter()
            .zip(&bucket.values)
            .map(|(field, value)| json!({"field": field, "value": value}))
            .collect();
        let cardinality: Vec<Value> =
            threshold.cardinality.iter().map(|c| json!({"field": c.field, "value": bucket.distinct.len()})).collect();
        let result =
            json!({"terms": terms, "count": bucket.count, "from": time(bucket.first), "cardinality": cardinality});
        ThresholdAlert {
            id,
            event_id: short_hex(&digest),
            event: Value::Object(event),
            fields: vec![("kibana.alert.threshold_result".into(), result)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations_expand_arrays_and_skip_missing_fields() {
        let fields = ["user.name".to_owned(), "source.ip".to_owned()];
        let event = json!({"user": {"name": ["a", "b", "a"]}, "source": {"ip": "10.0.0.1"}});
        assert_eq!(
            combinations(&fields, &event),
            vec![vec![json!("a"), json!("10.0.0.1")], vec![json!("b"), json!("10.0.0.1")]]
        );
        assert!(combinations(&fields, &json!({"user": {"name": "a"}})).is_empty());
        assert_eq!(key(&[json!("a"), json!(1)]), r#"["a",1]"#);
    }

    #[test]
    fn seen_answers_like_every_occurrence_for_long_enough_intervals() {
        let span = 100;
        let times: Vec<i64> = (0..400).map(|i| (i * 37) % 1000).collect();
        let mut seen = Seen::default();
        for &t in &times {
            seen.add(t, span);
        }
        assert!(seen.times().len() < 50, "thinned to {}", seen.times().len());
        for from in -100..1100 {
            for len in [50, 51, 80, 200] {
                let all = times.iter().any(|&t| t >= from && t < from + len);
                assert_eq!(seen.any_in(from, from + len), all, "[{from}, {})", from + len);
            }
        }
        seen.prune(500);
        assert!(seen.times().iter().all(|&t| t >= 500));
    }

    #[test]
    fn buckets_count_distinct_and_leave_out_the_signal_history() {
        let threshold = Threshold {
            fields: vec!["user.name".into()],
            value: 2,
            cardinality: Some(rules::Cardinality { field: "source.ip".into(), value: 2 }),
        };
        let at = |s: i64| Timestamp::from_nanos(s * 1_000_000_000);
        let mut buckets = Buckets::default();
        let history = |key: &str| (key == r#"["b"]"#).then(|| at(15));
        for (user, ip, t) in [("a", "1", 10), ("a", "2", 11), ("a", "2", 12), ("b", "1", 10), ("b", "2", 20)] {
            let event = json!({"user": {"name": user}, "source": {"ip": ip}});
            let distinct = cardinality_values(&threshold, &event);
            buckets.add(&groups_of(&threshold, &event), at(t), &distinct, 0, &history);
        }
        let over = buckets.over(&threshold);
        assert_eq!(over.len(), 1, "b has one event after its last alert");
        let (key, bucket) = &over[0];
        assert_eq!((key.as_str(), bucket.count, bucket.distinct.len()), (r#"["a"]"#, 3, 2));
        let rule = rules::builtin().rules.remove(0);
        let alert = ThresholdAlert::new(&rule, &threshold, at(100), key, bucket);
        assert_eq!(alert.event["user.name"], "a");
        assert_eq!(alert.fields[0].1["count"], 3);
        assert_eq!(alert.fields[0].1["cardinality"][0]["value"], 2);
        assert_eq!(alert.id, ThresholdAlert::new(&rule, &threshold, at(100), key, bucket).id);
    }
}
