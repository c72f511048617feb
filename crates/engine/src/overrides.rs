//! What an alert takes from its event instead of its rule, as Kibana's executors decide it:
//! `severity_mapping`, `risk_score_mapping` and `rule_name_override`.

use ecs::Value;
use rules::{Rule, Severity};

use crate::alert::field_texts;

/// The alert's severity: the highest severity of the rule's `severity_mapping` whose field holds
/// its value (`operator: equals`), else the rule's; with the field that decided it.
pub fn severity(rule: &Rule, event: &Value) -> (Severity, Option<String>) {
    let mut best: Option<(Severity, String)> = None;
    for mapping in rule.fields.get("severity_mapping").and_then(Value::as_array).into_iter().flatten() {
        let text = |key: &str| mapping.get(key).and_then(Value::as_str).unwrap_or_default();
        let (field, value) = (text("field"), text("value"));
        let Some(severity) = Severity::parse(text("severity")) else { continue };
        if field.is_empty() || text("operator") != "equals" && !text("operator").is_empty() {
            continue;
        }
        if field_texts(event, field).iter().any(|v| v == value) && best.as_ref().is_none_or(|(b, _)| severity > *b) {
            best = Some((severity, field.to_owned()));
        }
    }
    match best {
        Some((severity, field)) => (severity, Some(field)),
        None => (rule.severity, None),
    }
}

/// The alert's risk score: the first value between 0 and 100 of the field the rule's
/// `risk_score_mapping` names (a number, or text that reads as one), else the rule's; with the
/// field that decided it.
pub fn risk_score(rule: &Rule, event: &Value) -> (f64, Option<String>) {
    for mapping in rule.fields.get("risk_score_mapping").and_then(Value::as_array).into_iter().flatten() {
        let Some(field) = mapping.get("field").and_then(Value::as_str).filter(|f| !f.is_empty()) else { continue };
        let score = field_texts(event, field)
            .iter()
            .filter_map(|v| v.trim().parse::<f64>().ok())
            .find(|n| (0.0..=100.0).contains(n));
        if let Some(score) = score {
            return (score, Some(field.to_owned()));
        }
    }
    (f64::from(rule.risk_score), None)
}

/// The alert's rule name: the value of the field `rule_name_override` names, when the event has
/// one, else the rule's.
pub fn rule_name(rule: &Rule, event: &Value) -> String {
    rule.fields
        .get("rule_name_override")
        .and_then(Value::as_str)
        .and_then(|field| field_texts(event, field).into_iter().find(|v| !v.is_empty()))
        .unwrap_or_else(|| rule.name.clone())
}

/// Whether the rule's alerts are building blocks (`building_block_type: "default"`): stored and
/// marked, and left out of listings unless asked for, as Kibana does.
pub fn is_building_block(rule: &Rule) -> bool {
    rule.fields.get("building_block_type").and_then(Value::as_str).is_some_and(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(fields: Value) -> Rule {
        let mut rule = rules::builtin().rules.remove(0);
        if let (Value::Object(own), Value::Object(extra)) = (&mut rule.fields, fields) {
            own.extend(extra);
        }
        rule
    }

    #[test]
    fn severity_mapping_takes_the_highest_that_matches() {
        let mapped = rule(json!({"severity_mapping": [
            {"field": "event.severity", "operator": "equals", "value": "21", "severity": "low"},
            {"field": "user.name", "operator": "equals", "value": "admin", "severity": "critical"},
            {"field": "event.severity", "operator": "equals", "value": "73", "severity": "high"},
        ]}));
        assert_eq!(
            severity(&mapped, &json!({"event": {"severity": 73}})),
            (Severity::High, Some("event.severity".into()))
        );
        let both = json!({"event": {"severity": 21}, "user": {"name": ["x", "admin"]}});
        assert_eq!(severity(&mapped, &both), (Severity::Critical, Some("user.name".into())));
        assert_eq!(severity(&mapped, &json!({})), (Severity::Medium, None), "the rule's own");
    }

    #[test]
    fn risk_score_mapping_takes_the_events_score_when_it_is_one() {
        let mapped =
            rule(json!({"risk_score_mapping": [{"field": "event.risk_score", "operator": "equals", "value": ""}]}));
        assert_eq!(risk_score(&mapped, &json!({"event": {"risk_score": 88}})), (88.0, Some("event.risk_score".into())));
        assert_eq!(risk_score(&mapped, &json!({"event": {"risk_score": "12.5"}})).0, 12.5);
        assert_eq!(risk_score(&mapped, &json!({"event": {"risk_score": 250}})), (47.0, None), "out of range");
        assert_eq!(risk_score(&mapped, &json!({})), (47.0, None));
    }

    #[test]
    fn the_rule_name_may_come_from_the_event_and_building_blocks_are_marked() {
        let named = rule(json!({"rule_name_override": "message", "building_block_type": "default"}));
        assert_eq!(rule_name(&named, &json!({"message": "Malware detected: Eicar"})), "Malware detected: Eicar");
        assert_eq!(rule_name(&named, &json!({})), named.name);
        assert!(is_building_block(&named) && !is_building_block(&rule(json!({}))));
    }
}
