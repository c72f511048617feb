//! A detection as the reports keep it: what an analyst reads of one alert, taken from its hit
//! (the rule, with the event's overrides, and the event's fields) so that reports can sort and
//! group after the scan.

use std::sync::Arc;

use ecs::date::Timestamp;
use engine::Hit;
use rules::Severity;
use serde_json::Value;

/// One alert, for reports.
#[derive(Clone, Debug)]
pub struct Detection {
    /// The event's time on the rule's time field.
    pub time: Option<Timestamp>,
    /// The alert's severity (the rule's, or its `severity_mapping`'s).
    pub severity: Severity,
    /// The alert's risk score.
    pub risk_score: f64,
    /// The rule, shared by its detections.
    pub rule: Arc<RuleFacts>,
    /// The alert's rule name (the rule's, or its `rule_name_override`'s).
    pub rule_name: String,
    /// Why the alert was raised, in Kibana's words.
    pub reason: String,
    /// The alert's identity.
    pub alert_id: String,
    /// The event's identity.
    pub event_id: String,
    /// Where the event was read: file and 1-based line.
    pub source: Arc<str>,
    /// The line.
    pub line: u64,
}

/// What reports show of a rule.
#[derive(Debug)]
pub struct RuleFacts {
    /// `rule_id`.
    pub id: String,
    /// The rule's own name.
    pub name: String,
    /// `TA0006 Credential Access`, one per tactic.
    pub tactics: Vec<String>,
    /// `T1556 Modify Authentication Process`, one per technique and subtechnique.
    pub techniques: Vec<String>,
    /// Per tactic id, its techniques (`T1556 Modify Authentication Process`).
    pub matrix: Vec<(String, Vec<String>)>,
    /// The investigation guide (`note`), Markdown.
    pub guide: Option<String>,
    /// The description.
    pub description: String,
    /// The query, as written.
    pub query: Option<String>,
}

impl RuleFacts {
    /// What reports show of `rule`.
    pub fn of(rule: &rules::Rule) -> RuleFacts {
        let tactics = rule.threat.iter().map(|t| format!("{} {}", t.tactic.id, t.tactic.name)).collect();
        let label = |e: &rules::Entry| format!("{} {}", e.id, e.name);
        let matrix: Vec<(String, Vec<String>)> = rule
            .threat
            .iter()
            .map(|t| {
                let techniques = t.techniques.iter().flat_map(|t| std::iter::once(&t.entry).chain(&t.subtechniques));
                (t.tactic.id.clone(), techniques.map(label).collect())
            })
            .collect();
        let mut techniques: Vec<String> = matrix.iter().flat_map(|(_, t)| t.iter().cloned()).collect();
        techniques.dedup();
        RuleFacts {
            id: rule.id.0.clone(),
            name: rule.name.clone(),
            tactics,
            techniques,
            matrix,
            guide: rule.text("note").map(str::to_owned),
            description: rule.description.clone(),
            query: rule.query.clone(),
        }
    }
}

/// The rules met so far, each described once.
#[derive(Default)]
pub struct Rules(std::collections::HashMap<String, Arc<RuleFacts>>);

impl Rules {
    /// The detection of `hit`.
    pub fn detection(&mut self, hit: &Hit<'_>) -> Detection {
        let rule = self.0.entry(hit.rule.id.0.clone()).or_insert_with(|| Arc::new(RuleFacts::of(hit.rule))).clone();
        Detection {
            time: hit.time(),
            severity: engine::overrides::severity(hit.rule, hit.event).0,
            risk_score: engine::overrides::risk_score(hit.rule, hit.event).0,
            rule,
            rule_name: engine::overrides::rule_name(hit.rule, hit.event),
            reason: engine::reason(hit.rule, hit.event),
            alert_id: hit.alert_id.to_string(),
            event_id: hit.event_id.to_owned(),
            source: hit.position.source.into(),
            line: hit.position.line,
        }
    }
}

/// The values of a field of `event` as text, joined with `, ` (empty when it has none).
pub fn field_text(event: &Value, path: &str) -> String {
    engine::field_texts(event, path).join(", ")
}

/// Detections in time order (those without a time last), input order among equals.
pub fn sort_by_time<T>(items: &mut [T], time: impl Fn(&T) -> Option<Timestamp>) {
    items.sort_by_key(|item| match time(item) {
        Some(t) => (false, t),
        None => (true, Timestamp::from_nanos(0)),
    });
}

/// The `n` most frequent values of `counts`, most frequent first (then by value).
pub fn top(counts: std::collections::HashMap<String, usize>, n: usize) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = counts.into_iter().filter(|(v, _)| !v.is_empty()).collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts.truncate(n);
    counts
}

/// Who an event is about: `user.name`, else `user.id`.
pub fn user_of(event: &Value) -> String {
    let name = field_text(event, "user.name");
    if name.is_empty() { field_text(event, "user.id") } else { name }
}

/// Where an event came from: `source.ip`, else `client.ip`.
pub fn ip_of(event: &Value) -> String {
    let ip = field_text(event, "source.ip");
    if ip.is_empty() { field_text(event, "client.ip") } else { ip }
}
