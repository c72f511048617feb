//! Which notifications an execution queues, and what they say: a rule's actions (or the routes
//! for rules without any), their frequency, Kibana's template variables, each connector's
//! message.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use ecs::date::Timestamp;
use engine::schedule::Notify;
use engine::storage::{AlertFilter, ExecutionRecord, NewAlert, NewNotification, Store, StoreResult};
use rules::actions::{Frequency, NotifyWhen};
use rules::{Rule, Severity};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use template::{Escape, Template};

use crate::config::{Connector, Kind, Setup};

/// Plans an execution's notifications from the configuration: queued by the engine with the
/// execution's alerts.
#[derive(Clone, Debug)]
pub struct Notifier {
    setup: Arc<Setup>,
}

impl Notifier {
    /// A notifier for `setup`.
    pub fn new(setup: Arc<Setup>) -> Notifier {
        Notifier { setup }
    }
}

/// One way a rule's alerts are told: an action of the rule or a route of the configuration.
struct Delivery<'s> {
    source: String,
    connector: &'s Connector,
    frequency: Frequency,
    severity_at_least: Option<Severity>,
    params: BTreeMap<String, Arc<Template>>,
    /// Recipients an email action names (`to`, `cc`, `bcc`), instead of the connector's.
    recipients: BTreeMap<String, Vec<String>>,
}

impl Notifier {
    /// The deliveries for `rule`: its actions through configured connectors, or, when it has
    /// none, the routes that take it.
    fn deliveries(&self, rule: &Rule) -> Vec<Delivery<'_>> {
        if !rule.actions.is_empty() {
            let mut out = Vec::new();
            for (i, action) in rule.actions.iter().enumerate() {
                let Some(connector) = self.setup.connector(&action.connector) else {
                    tracing::warn!(rule = %rule.id.0, connector = %action.connector, "an action names a connector that is not configured; it is not sent");
                    continue;
                };
                let mut params = BTreeMap::new();
                let mut recipients = BTreeMap::new();
                for (key, value) in action.params.as_object().into_iter().flatten() {
                    match value {
                        Value::String(text) => match Template::parse(text) {
                            Ok(t) => {
                                params.insert(key.clone(), Arc::new(t));
                            }
                            Err(err) => tracing::warn!(rule = %rule.id.0, param = %key, "not a template: {err}"),
                        },
                        Value::Array(items) if ["to", "cc", "bcc"].contains(&key.as_str()) => {
                            recipients.insert(
                                key.clone(),
                                items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                            );
                        }
                        _ => {}
                    }
                }
                out.push(Delivery {
                    source: format!("action {}", i + 1),
                    connector,
                    frequency: action.frequency,
                    severity_at_least: None,
                    params,
                    recipients,
                });
            }
            return out;
        }
        self.setup
            .routes
            .iter()
            .enumerate()
            .filter(|(_, route)| {
                (route.rules.is_empty() || route.rules.iter().any(|r| *r == rule.id.0 || *r == rule.name))
                    && (route.tags.is_empty() || route.tags.iter().any(|t| rule.tags.contains(t)))
            })
            .filter_map(|(i, route)| {
                Some(Delivery {
                    source: format!("route {}", i + 1),
                    connector: self.setup.connector(&route.connector)?,
                    frequency: route.frequency,
                    severity_at_least: route.severity_at_least,
                    params: route.params.clone(),
                    recipients: BTreeMap::new(),
                })
            })
            .collect()
    }
}

fn severity_rank(text: &str) -> u8 {
    Severity::parse(text).map_or(0, |s| match s {
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    })
}

impl Notify for Notifier {
    fn notifications(
        &self,
        store: &dyn Store,
        rule: &Rule,
        record: &ExecutionRecord,
        alerts: &[NewAlert],
    ) -> StoreResult<Vec<NewNotification>> {
        let mut out = Vec::new();
        for delivery in self.deliveries(rule) {
            let wanted = |severity: &str| {
                delivery.severity_at_least.is_none_or(|min| severity_rank(severity) >= severity_rank(min.as_str()))
            };
            let new: Vec<(String, Value)> =
                alerts.iter().filter(|a| wanted(&a.severity)).map(|a| (a.id.to_string(), a.document.clone())).collect();
            let queue = |key: String, told: Vec<(String, Value)>, per_alert: bool| NewNotification {
                message: self.message(&delivery, rule, record, &key, &told, per_alert),
                key,
                connector: delivery.connector.name.clone(),
                rule_id: rule.id.0.clone(),
                source: delivery.source.clone(),
                execution_id: record.id.clone(),
                created: record.started,
            };
            if !delivery.frequency.summary {
                // One per alert; each alert is new once, so a throttle has nothing to hold back.
                for alert in new {
                    out.push(queue(alert.0.clone(), vec![alert], true));
                }
                continue;
            }
            let told = match (delivery.frequency.notify_when, delivery.frequency.throttle) {
                (NotifyWhen::OnThrottleInterval, Some(every)) => {
                    let every = i64::try_from(every.as_seconds()).unwrap_or(i64::MAX / 2_000_000_000) * 1_000_000_000;
                    let last = store.last_queued(&rule.id.0, &delivery.source)?;
                    if last.is_some_and(|last| record.started.as_nanos() - last.as_nanos() < every) {
                        // Within the throttle: these alerts go into the next summary.
                        continue;
                    }
                    // The alerts since the last summary (or one interval back), with this
                    // execution's, oldest first.
                    let since = last.unwrap_or(Timestamp::from_nanos(record.started.as_nanos() - every));
                    let filter = AlertFilter {
                        rule_id: Some(rule.id.0.clone()),
                        since: Some(Timestamp::from_nanos(since.as_nanos() + 1)),
                        order: engine::storage::AlertOrder::Oldest,
                        ..AlertFilter::default()
                    };
                    let mut earlier = Vec::new();
                    store.alerts(&filter, &mut |a| {
                        if wanted(&a.severity) {
                            earlier.push((a.id.to_string(), a.document));
                        }
                        true
                    })?;
                    earlier.extend(new);
                    earlier
                }
                _ => new,
            };
            if told.is_empty() {
                continue;
            }
            let digest = Sha256::digest(format!("{}\0{}\0{}", record.id, delivery.source, delivery.connector.name));
            let key = format!("summary-{}", digest[..12].iter().map(|b| format!("{b:02x}")).collect::<String>());
            out.push(queue(key, told, false));
        }
        Ok(out)
    }
}

impl Notifier {
    /// A test message for `connector`, as an alert of vigil's own DKIM rule would look through
    /// it, with its idempotency key (new at every call).
    pub fn test_message(&self, connector: &Connector) -> (String, Value) {
        let mut rule = rules::builtin().rules.swap_remove(0);
        rule.name = format!("vigil test message through {}", connector.name);
        let now = Timestamp::now();
        let key = format!("test-{}", getrandom::u64().unwrap_or_default());
        let record = ExecutionRecord {
            id: key.clone(),
            rule_id: rule.id.0.clone(),
            scheduled: now,
            started: now,
            window: (now, now),
            seq: (0, 0),
            events: 0,
            candidates: 1,
            alerts: 1,
            held_back: 0,
            late: 0,
            excepted: Vec::new(),
            notifications: 1,
            terms: 0,
            duration_ms: 0,
            status: engine::storage::ExecutionStatus::Succeeded,
            warnings: Vec::new(),
        };
        let alert = json!({
            "@timestamp": now.to_string(),
            "kibana.alert.reason": "This is a test: the connector works if you read this.",
            "kibana.alert.severity": rule.severity.as_str(),
            "user": {"name": "test@example.com"},
            "source": {"ip": "192.0.2.1"},
        });
        let delivery = Delivery {
            source: "test".into(),
            connector,
            frequency: Frequency::default(),
            severity_at_least: None,
            params: BTreeMap::new(),
            recipients: BTreeMap::new(),
        };
        let message = self.message(&delivery, &rule, &record, &key, &[(key.clone(), alert)], true);
        (key, message)
    }

    /// Kibana's variables for a message about `told` alerts of `rule`.
    fn vars(&self, rule: &Rule, record: &ExecutionRecord, told: &[(String, Value)], per_alert: bool) -> Value {
        let base = &self.setup.settings.public_url;
        let alerts: Vec<Value> = told
            .iter()
            .map(|(id, doc)| {
                let mut doc = doc.clone();
                if let Value::Object(map) = &mut doc {
                    map.insert("_id".into(), json!(id));
                    map.insert("_index".into(), json!(".internal.alerts-security.alerts-default-000001"));
                    map.insert("vigil.alert.link".into(), json!(format!("{base}/ui/alerts/{id}")));
                }
                doc
            })
            .collect();
        let results_link = match told {
            [(id, _)] => format!("{base}/ui/alerts/{id}"),
            _ => format!("{base}/ui/alerts?rule={}", encode(&rule.id.0)),
        };
        let mut rule_vars = match &rule.fields {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        rule_vars.insert("id".into(), json!(rule.id.0));
        rule_vars.insert("name".into(), json!(rule.name));
        rule_vars.insert("severity".into(), json!(rule.severity.as_str()));
        rule_vars.insert("risk_score".into(), json!(rule.risk_score));
        let count = told.len();
        let mut vars = json!({
            "context": {"rule": rule_vars, "alerts": alerts, "results_link": results_link},
            "state": {"signals_count": count},
            "alerts": {
                "new": {"count": count, "data": alerts},
                "ongoing": {"count": 0, "data": []},
                "recovered": {"count": 0, "data": []},
                "all": {"count": count, "data": alerts},
            },
            "rule": {
                "id": rule.id.0, "name": rule.name, "tags": rule.tags, "type": "siem.queryRule",
                "spaceId": "default", "url": format!("{base}/ui/rules/{}", encode(&rule.id.0)),
            },
            "date": record.started.to_string(),
            "kibanaBaseUrl": base,
            "vigil": {"execution": record.id, "severity": top_severity(told, rule)},
        });
        if per_alert && let Some((id, _)) = told.first() {
            vars["alert"] = json!({
                "id": id, "uuid": id, "actionGroup": "default", "actionGroupName": "Default",
                "flapping": false, "consecutiveMatches": 1,
            });
        }
        vars
    }

    /// The message for `delivery`'s connector, rendered (its secrets are added when it is sent).
    fn message(
        &self,
        delivery: &Delivery<'_>,
        rule: &Rule,
        record: &ExecutionRecord,
        key: &str,
        told: &[(String, Value)],
        per_alert: bool,
    ) -> Value {
        let vars = self.vars(rule, record, told, per_alert);
        let param = |name: &str| delivery.params.get(name).or_else(|| delivery.connector.params.get(name)).cloned();
        let render = |name: &str, default: &Template, escape: Escape| {
            param(name).as_deref().unwrap_or(default).render(&vars, escape)
        };
        let severity = vars["vigil"]["severity"].as_str().unwrap_or("low").to_owned();
        let link = vars["context"]["results_link"].as_str().unwrap_or_default().to_owned();
        match &delivery.connector.kind {
            Kind::Webhook { .. } => match param("body") {
                Some(t) => json!({"body": t.render(&vars, Escape::Json)}),
                None => json!({"body": json!({
                    "key": key,
                    "rule": {"id": rule.id.0, "name": rule.name, "severity": rule.severity.as_str(), "risk_score": rule.risk_score},
                    "count": told.len(),
                    "link": link,
                    "date": vars["date"],
                    "alerts": vars["context"]["alerts"],
                }).to_string()}),
            },
            Kind::Slack { .. } => json!({"text": render("message", &DEFAULT_SLACK, Escape::Slack)}),
            Kind::Teams { .. } => teams_card(&render("message", &DEFAULT_MARKDOWN, Escape::Markdown), &vars, &link),
            Kind::Email(email) => {
                let text = render("message", &DEFAULT_MARKDOWN, Escape::Markdown);
                let list = |name: &str, default: &[String]| {
                    delivery.recipients.get(name).cloned().unwrap_or_else(|| default.to_vec())
                };
                json!({
                    "subject": render("subject", &DEFAULT_SUBJECT, Escape::None),
                    "text": text,
                    "html": markdown_html(&text),
                    "to": list("to", &email.to),
                    "cc": list("cc", &email.cc),
                    "bcc": list("bcc", &email.bcc),
                })
            }
            Kind::PagerDuty { .. } => {
                // Kibana's `summary` param, else the message: never rendered text parsed again
                // as a template (event fields may hold `{{`).
                let summary = match param("summary") {
                    Some(t) => t.render(&vars, Escape::None),
                    None => render("message", &DEFAULT_LINE, Escape::None),
                };
                let first = told.first().map(|(_, doc)| doc.clone()).unwrap_or(Value::Null);
                let text = |field: &str| first.get(field).cloned().unwrap_or(Value::Null);
                json!({
                    "event_action": "trigger",
                    "dedup_key": param("dedupKey").map_or_else(|| key.to_owned(), |t| t.render(&vars, Escape::None)),
                    "payload": {
                        "summary": summary.chars().take(1024).collect::<String>(),
                        "source": param("source").map_or_else(|| "vigil".to_owned(), |t| t.render(&vars, Escape::None)),
                        "severity": match severity.as_str() { "critical" => "critical", "high" => "error", "medium" => "warning", _ => "info" },
                        "timestamp": text("@timestamp"),
                        "component": param("component").map_or_else(|| text("event.dataset"), |t| json!(t.render(&vars, Escape::None))),
                        "group": param("group").map_or_else(|| json!(rule.name), |t| json!(t.render(&vars, Escape::None))),
                        "class": param("class").map_or_else(|| json!(rule.kind.as_str()), |t| json!(t.render(&vars, Escape::None))),
                        "custom_details": {
                            "rule": rule.name, "rule_id": rule.id.0, "alerts": told.len(),
                            "reason": text("kibana.alert.reason"), "link": link,
                        },
                    },
                    "links": [{"href": link, "text": "Open in vigil"}],
                })
            }
            Kind::Syslog { .. } => json!({
                "severity": severity,
                "text": render("message", &DEFAULT_LINE, Escape::None).replace(['\r', '\n'], " "),
                "msgid": if per_alert { "alert" } else { "summary" },
                "rule_id": rule.id.0,
            }),
            Kind::File { .. } => json!({
                "key": key,
                "rule": {"id": rule.id.0, "name": rule.name, "severity": rule.severity.as_str()},
                "count": told.len(),
                "link": link,
                "date": vars["date"],
                "alerts": vars["context"]["alerts"],
            }),
        }
    }
}

/// The most severe of the alerts' severities (a `severity_mapping` may raise an alert's).
fn top_severity(told: &[(String, Value)], rule: &Rule) -> String {
    told.iter()
        .filter_map(|(_, doc)| doc.get("kibana.alert.severity").and_then(Value::as_str))
        .max_by_key(|s| severity_rank(s))
        .unwrap_or(rule.severity.as_str())
        .to_owned()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A default message, parsed once.
macro_rules! template {
    ($source:expr) => {
        LazyLock::new(|| Template::parse($source).expect("the default templates parse"))
    };
}

/// The default Slack message: the rule, then a line per alert with its reason, user, source IP
/// and link.
static DEFAULT_SLACK: LazyLock<Template> = template!(
    "*{{context.rule.name}}*: {{state.signals_count}} new alert(s), severity {{vigil.severity}}, risk score {{context.rule.risk_score}}\n{{#context.alerts}}• {{kibana.alert.reason}}{{#user.name}} | user {{user.name}}{{/user.name}}{{#source.ip}} | source IP {{source.ip}}{{/source.ip}} | <{{vigil.alert.link}}|open in vigil>\n{{/context.alerts}}"
);

/// The default markdown message (email, Teams).
static DEFAULT_MARKDOWN: LazyLock<Template> = template!(
    "**{{context.rule.name}}**: {{state.signals_count}} new alert(s), severity {{vigil.severity}}, risk score {{context.rule.risk_score}}\n\n{{#context.alerts}}- {{kibana.alert.reason}}{{#user.name}}; user {{user.name}}{{/user.name}}{{#source.ip}}; source IP {{source.ip}}{{/source.ip}}; [open in vigil]({{{vigil.alert.link}}})\n{{/context.alerts}}\n[All alerts of the rule]({{{context.results_link}}})"
);

/// The default mail subject.
static DEFAULT_SUBJECT: LazyLock<Template> =
    template!("[vigil] {{vigil.severity}}: {{context.rule.name}} ({{state.signals_count}} new alert(s))");

/// The default one-line message (syslog, PagerDuty's summary).
static DEFAULT_LINE: LazyLock<Template> = template!(
    "{{context.rule.name}}: {{state.signals_count}} new alert(s), severity {{vigil.severity}}{{#context.alerts}} | {{kibana.alert.reason}}{{#user.name}}, user {{user.name}}{{/user.name}}{{#source.ip}}, source IP {{source.ip}}{{/source.ip}}{{/context.alerts}} | {{{context.results_link}}}"
);

/// An Adaptive Card for Teams: the message, the facts of the first alert, a link.
fn teams_card(text: &str, vars: &Value, link: &str) -> Value {
    let first = &vars["context"]["alerts"][0];
    let fact = |title: &str, field: &str| {
        first.get(field).and_then(Value::as_str).map(|v| json!({"title": title, "value": v}))
    };
    let facts: Vec<Value> = [
        Some(json!({"title": "Severity", "value": vars["vigil"]["severity"]})),
        Some(json!({"title": "Alerts", "value": vars["state"]["signals_count"].to_string()})),
        fact("User", "user.name").or_else(|| {
            first.pointer("/user/name").and_then(Value::as_str).map(|v| json!({"title": "User", "value": v}))
        }),
        fact("Source IP", "source.ip").or_else(|| {
            first.pointer("/source/ip").and_then(Value::as_str).map(|v| json!({"title": "Source IP", "value": v}))
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": true,
                     "text": format!("vigil: {}", vars["context"]["rule"]["name"].as_str().unwrap_or_default())},
                    {"type": "TextBlock", "wrap": true, "text": text},
                    {"type": "FactSet", "facts": facts},
                ],
                "actions": [{"type": "Action.OpenUrl", "title": "Open in vigil", "url": link}],
            },
        }],
    })
}

/// Markdown as HTML for the mail's HTML part; raw HTML in it is shown as text.
fn markdown_html(text: &str) -> String {
    use pulldown_cmark::{Event, Parser, html};
    let events = Parser::new(text).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}
