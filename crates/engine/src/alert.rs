//! Alerts: their identity and their documents, shaped like Elastic Security's.

use std::fmt::{self, Write as _};

use ecs::date::Timestamp;
use ecs::{Path, Value};
use rules::Rule;
use serde_json::{Map, json};
use sha2::{Digest, Sha256};

/// An alert's identity: `sha256(index, event id, rule_id)`, so that overlapping windows,
/// re-delivered events and restarts never make a second alert for the same event and rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertId([u8; 32]);

impl AlertId {
    /// The identity of the alert `rule_id` raises on event `event_id` of `index` (empty when the
    /// index is unknown).
    pub fn new(index: &str, event_id: &str, rule_id: &str) -> AlertId {
        let mut hash = Sha256::new();
        for part in [index, event_id, rule_id] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        AlertId(hash.finalize().into())
    }

    /// The 32 bytes of the digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The identity whose digest is `bytes` (as [`AlertId::as_bytes`] gave them).
    pub fn from_bytes(bytes: [u8; 32]) -> AlertId {
        AlertId(bytes)
    }

    /// Reads the 64 hex digits [`AlertId`]'s `Display` writes.
    pub fn parse(hex: &str) -> Option<AlertId> {
        let mut bytes = [0; 32];
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks(2)) {
            *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(AlertId(bytes))
    }

    /// The first 128 bits: half the memory in a set of ids already seen, and two different
    /// alerts share them with a probability of 2^-128 per pair.
    pub(crate) fn short(&self) -> u128 {
        let mut head = [0; 16];
        head.copy_from_slice(&self.0[..16]);
        u128::from_be_bytes(head)
    }
}

/// Serialized as its 64 hex digits.
impl serde::Serialize for AlertId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for AlertId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<AlertId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        AlertId::parse(&text).ok_or_else(|| serde::de::Error::custom("an alert id is 64 hex digits"))
    }
}

impl fmt::Display for AlertId {
    /// 64 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// An event's identity: `_id` when it has one, else `event.id`, else a digest of its raw line
/// (so the same line delivered twice is the same event).
pub fn event_id(root: &Value, raw: Option<&[u8]>) -> String {
    for path in ["_id", "event.id"] {
        if let Some(id) = Path::new(path).first_text(root) {
            return id;
        }
    }
    let digest = match raw {
        Some(raw) => Sha256::digest(raw),
        None => Sha256::digest(root.to_string()),
    };
    short_hex(&digest)
}

/// The first 16 bytes of a digest as 32 hex digits: identities that fit in a column and a log.
pub(crate) fn short_hex(digest: &[u8]) -> String {
    digest.iter().take(16).fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The first value at `path`, as text (arrays joined with `, `), as Kibana's reason reads it.
fn text_at(root: &Value, path: &str) -> Option<String> {
    let joined = field_texts(root, path).join(", ");
    (!joined.is_empty() && joined != "-").then_some(joined)
}

/// The values of a field as text: strings as they are, numbers and booleans as JSON writes them
/// (Kibana's `normalizeEventValue`); objects and nulls are not values.
pub fn field_texts(root: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    Path::new(path).visit(root, &mut |v| {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Number(n) => out.push(n.to_string()),
            Value::Bool(b) => out.push(b.to_string()),
            _ => {}
        }
        false
    });
    out
}

/// The event's time on the rule's time field (`timestamp_override`, falling back to
/// `@timestamp` as Kibana does).
pub fn event_time(rule: &Rule, root: &Value) -> Option<Timestamp> {
    time_in(root, rule.time_field()).or_else(|| time_in(root, "@timestamp"))
}

/// The first date at `field` of the event (a date string, or epoch milliseconds).
pub(crate) fn time_in(root: &Value, field: &str) -> Option<Timestamp> {
    let mut found = None;
    Path::new(field).visit(root, &mut |v| {
        found = match v {
            Value::String(s) => Timestamp::parse(s, false),
            Value::Number(n) => n.as_i64().map(Timestamp::from_millis),
            _ => None,
        };
        found.is_some()
    });
    found
}

/// Kibana's alert reason: `web event with source 1.2.3.4 by alice on host1 created medium alert
/// <rule name>.` (the parts the event has), with the severity and name the alert takes
/// (`severity_mapping`, `rule_name_override`).
pub fn reason(rule: &Rule, event: &Value) -> String {
    reason_as(crate::overrides::severity(rule, event).0, &crate::overrides::rule_name(rule, event), event)
}

fn reason_as(severity: rules::Severity, name: &str, event: &Value) -> String {
    let field = |path| text_at(event, path);
    let mut out = String::new();
    if let Some(category) = field("event.category") {
        out.push_str(&category);
        out.push(' ');
    }
    out.push_str("event");
    let process = field("process.name");
    let parent = field("process.parent.name");
    let file = field("file.name");
    let source = (field("source.address"), field("source.port"));
    let destination = (field("destination.address"), field("destination.port"));
    let interesting = [&process, &parent, &file, &source.0, &source.1, &destination.0, &destination.1];
    if interesting.iter().any(|f| f.is_some()) {
        out.push_str(" with");
    }
    for (label, value) in [("process", &process), ("parent process", &parent), ("file", &file)] {
        if let Some(value) = value {
            let _ = write!(out, " {label} {value},");
        }
    }
    for (label, (address, port)) in [("source", &source), ("destination", &destination)] {
        if let Some(address) = address {
            let _ = write!(out, " {label} {address}");
        }
        if let Some(port) = port {
            let _ = write!(out, ":{port},");
        }
    }
    if let Some(user) = field("user.name") {
        let _ = write!(out, " by {user}");
    }
    if let Some(host) = field("host.name") {
        let _ = write!(out, " on {host}");
    }
    let _ = write!(out, " created {severity} alert {name}.");
    out
}

/// What an alert document records beyond the rule and the event.
#[derive(Clone, Debug)]
pub struct AlertContext<'a> {
    /// The alert's identity.
    pub id: AlertId,
    /// The event's index (empty when unknown).
    pub index: &'a str,
    /// The event's identity.
    pub event_id: &'a str,
    /// When the alert is created.
    pub now: Timestamp,
}

/// The alert document, shaped like Elastic Security's: the source event's fields, with
/// `event.kind: signal`, plus `kibana.alert.*` (identity, rule, severity, risk score, reason,
/// original time and event, ancestors, workflow status, MITRE threat).
pub fn document(rule: &Rule, event: &Value, context: &AlertContext<'_>) -> Value {
    let mut doc = match event {
        Value::Object(map) => map.clone(),
        other => Map::from_iter([("event".to_owned(), json!({"original": other.to_string()}))]),
    };
    let now = context.now.to_string();
    let mut original_event = Map::new();
    if let Some(Value::Object(event_fields)) = doc.get("event") {
        for (key, value) in event_fields {
            original_event.insert(format!("kibana.alert.original_event.{key}"), value.clone());
        }
    }
    for (key, value) in doc.iter().filter(|(k, _)| k.starts_with("event.")) {
        original_event.insert(format!("kibana.alert.original_event.{}", &key["event.".len()..]), value.clone());
    }
    // The alert's own time replaces the event's (kept as `kibana.alert.original_time`).
    doc.retain(|key, _| key != "event.kind" && key != "@timestamp" && !key.starts_with("kibana."));
    match doc.get_mut("event") {
        Some(Value::Object(event_fields)) => {
            event_fields.insert("kind".into(), json!("signal"));
        }
        _ => {
            doc.insert("event.kind".into(), json!("signal"));
        }
    }
    let original_time = Path::new("@timestamp").first_text(event);
    let (severity, _) = crate::overrides::severity(rule, event);
    let (risk_score, _) = crate::overrides::risk_score(rule, event);
    let name = crate::overrides::rule_name(rule, event);
    // Whole scores as integers, as the rule's own are written.
    let risk_score = if risk_score.fract() == 0.0 { json!(risk_score as i64) } else { json!(risk_score) };
    let mut rule_fields = Map::new();
    rule_fields.insert("kibana.alert.rule.uuid".into(), json!(rule.id.0));
    rule_fields.insert("kibana.alert.rule.rule_id".into(), json!(rule.id.0));
    rule_fields.insert("kibana.alert.rule.name".into(), json!(name));
    rule_fields.insert("kibana.alert.rule.description".into(), json!(rule.description));
    rule_fields.insert("kibana.alert.rule.type".into(), json!(rule.kind.as_str()));
    let (type_id, category) = match rule.kind {
        rules::RuleType::Threshold => ("siem.thresholdRule", "Threshold Rule"),
        rules::RuleType::NewTerms => ("siem.newTermsRule", "New Terms Rule"),
        rules::RuleType::Eql => ("siem.eqlRule", "Event Correlation Rule"),
        _ => ("siem.queryRule", "Custom Query Rule"),
    };
    rule_fields.insert("kibana.alert.rule.rule_type_id".into(), json!(type_id));
    rule_fields.insert("kibana.alert.rule.category".into(), json!(category));
    if let Some(threshold) = &rule.threshold {
        let cardinality: Vec<Value> =
            threshold.cardinality.iter().map(|c| json!({"field": c.field, "value": c.value})).collect();
        rule_fields.insert(
            "kibana.alert.rule.threshold".into(),
            json!({"field": threshold.fields, "value": threshold.value, "cardinality": cardinality}),
        );
    }
    if let Some(new_terms) = &rule.new_terms {
        rule_fields.insert("kibana.alert.rule.new_terms_fields".into(), json!(new_terms.fields));
        rule_fields.insert("kibana.alert.rule.history_window_start".into(), json!(new_terms.history_window_start.0));
    }
    rule_fields.insert("kibana.alert.rule.consumer".into(), json!("siem"));
    rule_fields.insert("kibana.alert.rule.producer".into(), json!("siem"));
    rule_fields.insert("kibana.alert.rule.severity".into(), json!(rule.severity.as_str()));
    rule_fields.insert("kibana.alert.rule.risk_score".into(), json!(rule.risk_score));
    rule_fields.insert("kibana.alert.rule.version".into(), json!(rule.version));
    rule_fields.insert("kibana.alert.rule.enabled".into(), json!(rule.enabled));
    rule_fields.insert("kibana.alert.rule.interval".into(), json!(rule.interval.to_string()));
    rule_fields.insert("kibana.alert.rule.from".into(), json!(rule.from.0));
    rule_fields.insert("kibana.alert.rule.to".into(), json!(rule.to.0));
    rule_fields.insert("kibana.alert.rule.max_signals".into(), json!(rule.max_signals));
    rule_fields.insert("kibana.alert.rule.index".into(), json!(rule.index));
    rule_fields.insert("kibana.alert.rule.tags".into(), json!(rule.tags));
    rule_fields.insert("kibana.alert.rule.threat".into(), rule.fields.get("threat").cloned().unwrap_or(json!([])));
    for key in ["query", "timestamp_override", "license"] {
        if let Some(value) = rule.fields.get(key) {
            rule_fields.insert(format!("kibana.alert.rule.{key}"), value.clone());
        }
    }
    if let Some(language) = &rule.language {
        rule_fields.insert("kibana.alert.rule.language".into(), json!(language));
    }
    for key in ["author", "references", "false_positives"] {
        rule_fields.insert(format!("kibana.alert.rule.{key}"), json!(rule.texts(key)));
    }
    let ancestors = json!([{"id": context.event_id, "type": "event", "index": context.index, "depth": 0}]);
    let alert = [
        ("@timestamp", json!(now)),
        ("kibana.alert.uuid", json!(context.id.to_string())),
        ("kibana.alert.start", json!(now)),
        ("kibana.alert.last_detected", json!(now)),
        ("kibana.alert.status", json!("active")),
        ("kibana.alert.workflow_status", json!("open")),
        ("kibana.alert.depth", json!(1)),
        ("kibana.alert.severity", json!(severity.as_str())),
        ("kibana.alert.risk_score", risk_score),
        ("kibana.alert.reason", json!(reason_as(severity, &name, event))),
        ("kibana.alert.original_time", original_time.map_or(Value::Null, Value::String)),
        ("kibana.alert.ancestors", ancestors),
        ("kibana.space_ids", json!(["default"])),
    ];
    let mut out = Map::new();
    for (key, value) in alert {
        out.insert(key.to_owned(), value);
    }
    if crate::overrides::is_building_block(rule) {
        out.insert("kibana.alert.building_block_type".into(), json!("default"));
    }
    out.extend(rule_fields);
    out.extend(original_event);
    out.extend(doc);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dkim() -> Rule {
        rules::builtin().rules.remove(0)
    }

    #[test]
    fn alert_ids_are_stable_and_distinct() {
        let a = AlertId::new("logs-o365.audit-default", "e1", "r1");
        assert_eq!(a, AlertId::new("logs-o365.audit-default", "e1", "r1"));
        assert_ne!(a, AlertId::new("logs-o365.audit-default", "e1", "r2"));
        assert_ne!(AlertId::new("ab", "c", "r"), AlertId::new("a", "bc", "r"));
        assert_eq!(a.to_string().len(), 64);
        assert_eq!(AlertId::parse(&a.to_string()), Some(a));
        assert_eq!(AlertId::parse("xyz"), None);
        assert_eq!(AlertId::parse(&"é".repeat(32)), None);
    }

    #[test]
    fn reasons_read_like_kibanas() {
        let event = json!({"event": {"category": ["web"]}, "user": {"name": "admin2"}, "host": {"name": "contoso"}});
        assert_eq!(
            reason(&dkim(), &event),
            "web event by admin2 on contoso created medium alert Microsoft 365 Exchange DKIM Signing Configuration Disabled."
        );
        let event = json!({"source": {"address": "10.0.0.1", "port": 443}, "process": {"name": "cmd.exe"}});
        assert_eq!(
            reason(&dkim(), &event),
            "event with process cmd.exe, source 10.0.0.1:443, created medium alert Microsoft 365 Exchange DKIM Signing Configuration Disabled."
        );
    }

    #[test]
    fn documents_carry_the_event_and_the_rule() {
        let rule = dkim();
        let event = json!({"@timestamp": "2026-03-02T08:14:05.000Z", "event": {"kind": "event", "action": "Set-DkimSigningConfig"}});
        let now = Timestamp::parse("2026-03-02T08:20:00Z", false).expect("valid");
        let id = AlertId::new("logs-o365.audit-default", "e1", &rule.id.0);
        let doc = document(&rule, &event, &AlertContext { id, index: "logs-o365.audit-default", event_id: "e1", now });
        assert_eq!(doc["event"]["kind"], "signal");
        assert_eq!(doc["kibana.alert.original_event.kind"], "event");
        assert_eq!(doc["kibana.alert.original_event.action"], "Set-DkimSigningConfig");
        assert_eq!(doc["kibana.alert.original_time"], "2026-03-02T08:14:05.000Z");
        assert_eq!(doc["kibana.alert.rule.rule_id"], "514121ce-c7b6-474a-8237-68ff71672379");
        assert_eq!(doc["kibana.alert.rule.threat"][0]["tactic"]["id"], "TA0003");
        assert_eq!(doc["kibana.alert.workflow_status"], "open");
        assert_eq!(doc["kibana.alert.ancestors"][0]["id"], "e1");
        assert_eq!(doc["kibana.alert.risk_score"], 47);
    }
}
