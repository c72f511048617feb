//! Alert suppression (a rule's `alert_suppression`), as Kibana's query rules apply it: the
//! candidates of an execution that share the values of `group_by` make one alert, which says how
//! many events it stands for (`kibana.alert.suppression.docs_count`, `.start`, `.end`,
//! `.terms`); with a `duration`, later executions add their events of the group to that alert
//! while it is younger than the duration and not closed, instead of making new ones.
//!
//! Threshold rules suppress by their own group-by fields (`threshold.field`; Kibana takes only a
//! `duration` for them), new terms rules by `group_by` as query rules do.

use ecs::date::Timestamp;
use ecs::{Path, Value};
use rules::Rule;
use serde_json::json;
use sha2::{Digest, Sha256};

/// A rule's suppression settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Suppression {
    /// The fields whose values make a group (1 to 3).
    pub group_by: Vec<String>,
    /// How long an alert takes in its group's later events, in nanoseconds (`None`: one
    /// execution).
    pub duration: Option<i64>,
    /// Whether events missing a `group_by` field are grouped together (`suppress`, Kibana's
    /// default) rather than alerted one by one (`doNotSuppress`).
    pub suppress_missing: bool,
}

/// A group: its key and its terms (`[{field, value}]`, a missing field's value `null`).
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// A digest of the rule and the terms: the group's identity.
    pub key: String,
    /// `kibana.alert.suppression.terms`.
    pub terms: Value,
}

impl Suppression {
    /// The rule's settings, if it suppresses.
    pub fn of(rule: &Rule) -> Option<Suppression> {
        let settings = rule.fields.get("alert_suppression")?;
        let group_by: Vec<String> = match &rule.threshold {
            Some(threshold) => threshold.fields.clone(),
            None => settings.get("group_by")?.as_array()?.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        };
        if group_by.is_empty() && rule.threshold.is_none() {
            return None;
        }
        let duration = settings.get("duration").and_then(|d| {
            let value = d.get("value").and_then(Value::as_i64)?;
            let unit = match d.get("unit").and_then(Value::as_str)? {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => return None,
            };
            Some(value.saturating_mul(unit).saturating_mul(1_000_000_000))
        });
        let strategy = settings.get("missing_fields_strategy").and_then(Value::as_str).unwrap_or("suppress");
        Some(Suppression { group_by, duration, suppress_missing: strategy != "doNotSuppress" })
    }

    /// The group of `event`, or `None` when a field is missing and such events are not
    /// suppressed.
    pub fn group(&self, rule: &Rule, event: &Value) -> Option<Group> {
        let mut terms = Vec::new();
        let mut hash = Sha256::new();
        hash.update(rule.id.0.as_bytes());
        for field in &self.group_by {
            let mut values = Vec::new();
            Path::new(field).visit(event, &mut |v| {
                if !v.is_null() && !v.is_object() {
                    values.push(v.clone());
                }
                false
            });
            let value = match values.len() {
                0 if !self.suppress_missing => return None,
                0 => Value::Null,
                1 => values.remove(0),
                _ => Value::Array(values),
            };
            hash.update([0]);
            hash.update(field.as_bytes());
            hash.update([0]);
            hash.update(value.to_string().as_bytes());
            terms.push(json!({"field": field, "value": value}));
        }
        let key = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Some(Group { key, terms: Value::Array(terms) })
    }
}

/// The suppression fields of a group's alert: its terms, the first and last event time, and
/// how many events beyond the first it stands for.
pub fn fields(group: &Group, start: Option<Timestamp>, end: Option<Timestamp>, others: u64) -> Vec<(String, Value)> {
    let time = |t: Option<Timestamp>| t.map_or(Value::Null, |t| json!(t.to_string()));
    vec![
        ("kibana.alert.instance.id".into(), json!(group.key)),
        ("kibana.alert.suppression.terms".into(), group.terms.clone()),
        ("kibana.alert.suppression.start".into(), time(start)),
        ("kibana.alert.suppression.end".into(), time(end)),
        ("kibana.alert.suppression.docs_count".into(), json!(others)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(settings: Value) -> Rule {
        let mut rule = rules::builtin().rules.remove(0);
        rule.fields["alert_suppression"] = settings;
        rule
    }

    #[test]
    fn settings_and_groups_follow_kibana() {
        let r = rule(json!({"group_by": ["user.name", "source.ip"], "duration": {"value": 30, "unit": "m"}}));
        let s = Suppression::of(&r).expect("suppression");
        assert_eq!((s.duration, s.suppress_missing), (Some(1_800_000_000_000), true));
        let a = s.group(&r, &json!({"user": {"name": "a"}, "source": {"ip": "1.2.3.4"}})).expect("a group");
        let b = s.group(&r, &json!({"user": {"name": "a"}, "source": {"ip": "1.2.3.4"}, "x": 1})).expect("a group");
        let c = s.group(&r, &json!({"user": {"name": "b"}, "source": {"ip": "1.2.3.4"}})).expect("a group");
        assert_eq!(a, b);
        assert_ne!(a.key, c.key);
        assert_eq!(a.terms, json!([{"field": "user.name", "value": "a"}, {"field": "source.ip", "value": "1.2.3.4"}]));
        let missing = s.group(&r, &json!({"user": {"name": "a"}})).expect("grouped with null");
        assert_eq!(missing.terms[1]["value"], Value::Null);
        let strict = rule(json!({"group_by": ["user.name"], "missing_fields_strategy": "doNotSuppress"}));
        let s = Suppression::of(&strict).expect("suppression");
        assert_eq!((s.duration, s.group(&strict, &json!({}))), (None, None));
        assert_eq!(Suppression::of(&rule(json!({"group_by": []}))), None);
    }
}
