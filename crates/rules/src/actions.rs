//! A rule's actions, as Kibana's security rules define them: which connector to tell, what to
//! say (mustache params), and how often.
//!
//! ```toml
//! [[rule.actions]]
//! id = "soc-slack"              # the connector (vigil: its `name` in the serve configuration)
//! action_type_id = ".slack"
//! params = { message = "{{context.rule.name}}: {{state.signals_count}} alerts" }
//! frequency = { summary = true, notifyWhen = "onActiveAlert" }
//! ```
//!
//! Kibana exports carry the same objects (`actions: [...]`). An action without `frequency`
//! follows the rule's legacy `throttle`: `no_actions` turns actions off, `rule` (or none) is a
//! summary at each execution with new alerts, an interval (`1h`) a summary at most that often.

use serde_json::Value;

use crate::duration::Interval;

/// One action of a rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    /// The connector it sends through (Kibana's `id`).
    pub connector: String,
    /// The connector type the rule was written for (`.slack`, `.email`, `.webhook`...), when
    /// it says.
    pub action_type_id: Option<String>,
    /// The params: strings are mustache templates (checked when the rule loads).
    pub params: Value,
    /// When it sends.
    pub frequency: Frequency,
}

/// How often an action sends, as Kibana's `frequency`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frequency {
    /// One message per execution summarizing its alerts (`true`), or one per alert.
    pub summary: bool,
    /// `onActiveAlert` (each execution with new alerts) or `onThrottleInterval`.
    pub notify_when: NotifyWhen,
    /// With `onThrottleInterval`: at most one message this often.
    pub throttle: Option<Interval>,
}

impl Default for Frequency {
    fn default() -> Frequency {
        Frequency { summary: true, notify_when: NotifyWhen::OnActiveAlert, throttle: None }
    }
}

/// Kibana's `notifyWhen` (its `onActionGroupChange` does not apply to security rules, whose
/// alerts never change group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyWhen {
    /// Whenever an execution has new alerts.
    OnActiveAlert,
    /// At most once per throttle interval.
    OnThrottleInterval,
}

impl NotifyWhen {
    /// `onActiveAlert` or `onThrottleInterval`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyWhen::OnActiveAlert => "onActiveAlert",
            NotifyWhen::OnThrottleInterval => "onThrottleInterval",
        }
    }
}

/// Reads a rule's `actions` (and its legacy `throttle`), or says what is wrong with them: each
/// problem with the path of the field inside the rule (`actions.0.frequency.throttle`).
pub(crate) fn from_fields(actions: Option<&Value>, throttle: Option<&Value>) -> (Vec<Action>, Vec<(String, String)>) {
    let mut problems = Vec::new();
    let legacy = match throttle {
        None | Some(Value::Null) => Some(Frequency::default()),
        Some(Value::String(t)) if t == "no_actions" => None,
        Some(Value::String(t)) if t == "rule" => Some(Frequency::default()),
        Some(Value::String(t)) => match Interval::parse(t) {
            Ok(every) => {
                Some(Frequency { throttle: Some(every), notify_when: NotifyWhen::OnThrottleInterval, summary: true })
            }
            Err(err) => {
                problems.push(("throttle".to_owned(), format!("`throttle`: {err}, `rule` or `no_actions`")));
                Some(Frequency::default())
            }
        },
        Some(_) => {
            problems.push(("throttle".to_owned(), "`throttle` must be a string".to_owned()));
            Some(Frequency::default())
        }
    };
    let items = match actions {
        None | Some(Value::Null) => return (Vec::new(), problems),
        Some(Value::Array(items)) => items,
        Some(_) => {
            problems.push(("actions".to_owned(), "`actions` must be a list of tables".to_owned()));
            return (Vec::new(), problems);
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("actions.{i}");
        let mut problem = |at: &str, message: String| problems.push((format!("{path}{at}"), message));
        let Some(connector) = item.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) else {
            problem("", format!("action {} has no connector `id`", i + 1));
            continue;
        };
        let params = match item.get("params") {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(params @ Value::Object(_)) => params.clone(),
            Some(_) => {
                problem(".params", "`params` must be a table".to_owned());
                continue;
            }
        };
        let frequency = match item.get("frequency") {
            None | Some(Value::Null) => match legacy {
                Some(frequency) => frequency,
                // `throttle = "no_actions"`: the rule's actions are off.
                None => continue,
            },
            Some(frequency) => match read_frequency(frequency) {
                Ok(frequency) => frequency,
                Err((at, message)) => {
                    problem(&format!(".frequency{at}"), message);
                    continue;
                }
            },
        };
        out.push(Action {
            connector: connector.to_owned(),
            action_type_id: item.get("action_type_id").and_then(Value::as_str).map(str::to_owned),
            params,
            frequency,
        });
    }
    (out, problems)
}

fn read_frequency(value: &Value) -> Result<Frequency, (String, String)> {
    let summary = match value.get("summary") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err((".summary".into(), "`summary` must be true or false".into())),
    };
    let notify_when = match value.get("notifyWhen").and_then(Value::as_str) {
        None | Some("onActiveAlert") => NotifyWhen::OnActiveAlert,
        Some("onThrottleInterval") => NotifyWhen::OnThrottleInterval,
        Some(other) => {
            return Err((
                ".notifyWhen".into(),
                format!("`notifyWhen` `{other}` is not one of onActiveAlert, onThrottleInterval"),
            ));
        }
    };
    let throttle = match value.get("throttle") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            Some(Interval::parse(text).map_err(|err| (".throttle".to_owned(), format!("`throttle`: {err}")))?)
        }
        Some(_) => return Err((".throttle".into(), "`throttle` must be an interval like 1h".into())),
    };
    if notify_when == NotifyWhen::OnThrottleInterval && throttle.is_none() {
        return Err((".throttle".into(), "`onThrottleInterval` needs a `throttle` interval, like 1h".into()));
    }
    Ok(Frequency { summary, notify_when, throttle })
}

/// Every string inside `params` with its path below the action (`params.message`,
/// `params.to.0`): each is a template.
pub fn templates(params: &Value) -> Vec<(String, &str)> {
    fn walk<'v>(value: &'v Value, path: String, out: &mut Vec<(String, &'v str)>) {
        match value {
            Value::String(text) => out.push((path, text)),
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| walk(v, format!("{path}.{i}"), out)),
            Value::Object(map) => map.iter().for_each(|(k, v)| walk(v, format!("{path}.{k}"), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(params, "params".to_owned(), &mut out);
    out
}
