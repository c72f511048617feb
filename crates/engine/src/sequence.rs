//! EQL sequence rules: a matched sequence becomes alerts as Kibana writes them, one building
//! block alert per event and a "shell" alert that stands for the sequence, all sharing
//! `kibana.alert.group.id`.
//!
//! The shell's document holds what all the sequence's events share (Kibana's intersection: a
//! field stays when every event has the same value; of lists, the values all of them hold). Its
//! id, the group id, is a digest of the rule and of the events' own alert ids, so a sequence
//! found again by a later, overlapping execution is the same alert; each building block's id is
//! a digest of the group id and its place. (Kibana derives them from the same inputs with its own
//! digest, so the ids differ from Kibana's, as every vigil alert id does.)

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::AlertId;

/// Where a sequence rule's events are ordered: Elasticsearch orders EQL by its
/// `timestamp_field` (a rule's `timestamp_field`, else `@timestamp`), whatever field
/// `timestamp_override` gives the execution's window; an event without it keeps `fallback`
/// (nanoseconds since the epoch; 0 without either).
pub fn order_time(rule: &rules::Rule, event: &Value, fallback: Option<ecs::date::Timestamp>) -> i64 {
    crate::alert::time_in(event, order_field(rule)).or(fallback).map_or(0, ecs::date::Timestamp::as_nanos)
}

/// The field [`order_time`] reads.
pub(crate) fn order_field(rule: &rules::Rule) -> &str {
    rule.text("timestamp_field").unwrap_or("@timestamp")
}

/// One event of a matched sequence: its document, index, id and the alert id a query rule
/// would give it.
pub(crate) struct Member<'a> {
    pub event: &'a Value,
    pub index: Option<&'a str>,
    pub event_id: &'a str,
    pub alert_id: AlertId,
}

/// The alerts of one sequence.
pub(crate) struct SequenceAlerts {
    /// The group id: the shell alert's id.
    pub group: AlertId,
    /// Per event, in order: its building block's id and the fields it adds.
    pub blocks: Vec<(AlertId, Vec<(String, Value)>)>,
    /// The shell's document: what the events share.
    pub shell: Value,
    /// The fields the shell adds.
    pub shell_fields: Vec<(String, Value)>,
}

/// The alerts `rule_id` raises for the sequence of `members`.
pub(crate) fn alerts(rule_id: &str, members: &[Member<'_>]) -> SequenceAlerts {
    let mut hash = Sha256::new();
    hash.update(b"eql-sequence\0");
    hash.update(rule_id.as_bytes());
    for m in members {
        hash.update(m.alert_id.as_bytes());
    }
    let group = AlertId::from_bytes(hash.finalize().into());
    let blocks = members
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let mut hash = Sha256::new();
            hash.update(group.as_bytes());
            hash.update((i as u64).to_be_bytes());
            let id = AlertId::from_bytes(hash.finalize().into());
            let fields = vec![
                ("kibana.alert.building_block_type".to_owned(), json!("default")),
                ("kibana.alert.group.id".to_owned(), json!(group.to_string())),
                ("kibana.alert.group.index".to_owned(), json!(i)),
            ];
            (id, fields)
        })
        .collect();
    let shell = members.iter().skip(1).fold(members.first().map_or(Value::Null, |m| m.event.clone()), |acc, m| {
        intersection(&acc, m.event).unwrap_or(Value::Object(Map::new()))
    });
    let ancestors: Vec<Value> = members
        .iter()
        .map(|m| json!({"id": m.event_id, "type": "event", "index": m.index.unwrap_or(""), "depth": 0}))
        .collect();
    let shell_fields = vec![
        ("kibana.alert.group.id".to_owned(), json!(group.to_string())),
        ("kibana.alert.ancestors".to_owned(), Value::Array(ancestors)),
    ];
    SequenceAlerts { group, blocks, shell, shell_fields }
}

/// What `a` and `b` share: equal values; of objects, the shared fields; of lists (or a list and
/// a value), the values in both. `None` when nothing is shared.
fn intersection(a: &Value, b: &Value) -> Option<Value> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let shared: Map<String, Value> =
                x.iter().filter_map(|(k, v)| Some((k.clone(), intersection(v, y.get(k)?)?))).collect();
            (!shared.is_empty()).then_some(Value::Object(shared))
        }
        (x, y) if x == y => Some(x.clone()),
        (Value::Array(_), _) | (_, Value::Array(_)) => {
            let list = |v: &Value| match v {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            let (xs, ys) = (list(a), list(b));
            Some(Value::Array(xs.into_iter().filter(|v| ys.contains(v)).collect()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_holds_what_the_events_share_and_ids_are_stable() {
        let a = json!({"host": {"id": "h1", "name": "web"}, "event": {"category": ["process"], "id": "1"}, "tags": ["x", "y"]});
        let b =
            json!({"host": {"id": "h1", "name": "db"}, "event": {"category": ["network"], "id": "2"}, "tags": ["y"]});
        let members = [
            Member { event: &a, index: Some("logs"), event_id: "1", alert_id: AlertId::new("logs", "1", "r") },
            Member { event: &b, index: Some("logs"), event_id: "2", alert_id: AlertId::new("logs", "2", "r") },
        ];
        let made = alerts("r", &members);
        assert_eq!(made.shell, json!({"host": {"id": "h1"}, "event": {"category": []}, "tags": ["y"]}));
        assert_eq!(made.blocks.len(), 2);
        assert_ne!(made.blocks[0].0, made.blocks[1].0);
        assert_eq!(made.blocks[1].1[2], ("kibana.alert.group.index".to_owned(), json!(1)));
        assert_eq!(alerts("r", &members).group, made.group, "the same sequence, the same alerts");
        assert_ne!(alerts("other", &members).group, made.group);
        assert_eq!(made.shell_fields[1].1[1]["id"], "2");
    }
}
