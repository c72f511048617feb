//! The parameters of the rules that count and remember: `threshold` (alert when a group of a
//! window's matching events is large enough) and `new_terms` (alert on values not seen in a
//! history window), read from Kibana's rule shape or detection-rules TOML.

use ecs::Value;
use ecs::date::DateMath;
use serde_json::Map;

/// A threshold rule's `threshold`.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// `field`: the fields events are grouped by (none: all of the window's events are one
    /// group), at most 5 as Kibana allows.
    pub fields: Vec<String>,
    /// `value`: a group alerts when it has at least this many events.
    pub value: u64,
    /// `cardinality`: and at least this many distinct values of this field.
    pub cardinality: Option<Cardinality>,
}

/// A threshold's distinct-value condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cardinality {
    /// The field whose distinct values are counted.
    pub field: String,
    /// How many it must have at least.
    pub value: u64,
}

/// A new terms rule's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTerms {
    /// `new_terms_fields`: 1 to 3 fields whose values (or combinations) are watched.
    pub fields: Vec<String>,
    /// `history_window_start`, as written and parsed: how far back values count as seen.
    pub history_window_start: (String, DateMath),
}

/// The most group-by fields Kibana takes for a threshold.
const MAX_THRESHOLD_FIELDS: usize = 5;
/// The most fields Kibana takes for new terms.
const MAX_NEW_TERMS_FIELDS: usize = 3;

/// What is wrong with a parameter: the dotted path of the value at fault, and why.
pub(crate) type Fault = (String, String);

/// Reads `threshold` (`field` a string or a list, `value`, `cardinality` a list of at most one
/// `{field, value}`).
pub(crate) fn threshold(value: Option<&Value>) -> Result<Threshold, Fault> {
    let fault = |path: &str, message: String| (path.to_owned(), message);
    let Some(Value::Object(table)) = value else {
        return Err(fault("threshold", "a threshold rule needs `threshold` with `field` and `value`".into()));
    };
    let fields = match table.get("field") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(field)) if field.is_empty() => Vec::new(),
        Some(Value::String(field)) => vec![field.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).filter(|f| !f.is_empty()).map(str::to_owned).collect()
        }
        Some(_) => {
            return Err(fault("threshold.field", "`threshold.field` must be a field name or a list of them".into()));
        }
    };
    if fields.len() > MAX_THRESHOLD_FIELDS {
        let message =
            format!("`threshold.field` names {} fields; Kibana groups by at most {MAX_THRESHOLD_FIELDS}", fields.len());
        return Err(fault("threshold.field", message));
    }
    let value = match table.get("value").map(Value::as_i64) {
        Some(Some(n)) if n >= 1 => n.unsigned_abs(),
        Some(_) => {
            return Err(fault("threshold.value", "`threshold.value` must be a whole number of at least 1".into()));
        }
        None => return Err(fault("threshold", "`threshold` needs a `value`".into())),
    };
    let cardinality = match table.get("cardinality") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) if items.is_empty() => None,
        Some(Value::Array(items)) if items.len() == 1 => {
            let entry = &items[0];
            let field = entry.get("field").and_then(Value::as_str).filter(|f| !f.is_empty());
            let count = entry.get("value").and_then(Value::as_i64).filter(|n| *n >= 0);
            match (field, count) {
                (Some(field), Some(count)) => {
                    Some(Cardinality { field: field.to_owned(), value: count.unsigned_abs() })
                }
                _ => {
                    let message = "`threshold.cardinality` needs a `field` and a `value` of at least 0".into();
                    return Err(fault("threshold.cardinality.0", message));
                }
            }
        }
        Some(_) => {
            let message = "`threshold.cardinality` must be a list of one `{ field, value }`".into();
            return Err(fault("threshold.cardinality", message));
        }
    };
    if let Some(field) = fields.iter().find(|f| is_text(f)) {
        return Err(fault("threshold.field", not_countable(field, "group by")));
    }
    if let Some(c) = cardinality.as_ref().filter(|c| is_text(&c.field)) {
        return Err(fault("threshold.cardinality.0.field", not_countable(&c.field, "count the distinct values of")));
    }
    Ok(Threshold { fields, value, cardinality })
}

/// Reads a new terms rule's `new_terms_fields` and `history_window_start`, as Kibana's API has
/// them, or detection-rules' `[rule.new_terms]` (`field = "new_terms_fields"`, `value`, and
/// `history_window_start` as a list of one `{field, value}`).
pub(crate) fn new_terms(fields: &Map<String, Value>) -> Result<NewTerms, Fault> {
    let (names, start, at) = match fields.get("new_terms") {
        Some(Value::Object(table)) => {
            let start = table
                .get("history_window_start")
                .and_then(Value::as_array)
                .and_then(|items| items.first())
                .and_then(|entry| entry.get("value"));
            (table.get("value"), start, "new_terms.")
        }
        _ => (fields.get("new_terms_fields"), fields.get("history_window_start"), ""),
    };
    let names: Vec<String> = match names {
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
        }
        Some(Value::String(one)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let names_path = if at.is_empty() { "new_terms_fields".to_owned() } else { format!("{at}value") };
    if names.is_empty() || names.len() > MAX_NEW_TERMS_FIELDS || names.iter().any(String::is_empty) {
        let message = format!("a new terms rule needs 1 to {MAX_NEW_TERMS_FIELDS} field names in `new_terms_fields`");
        return Err((names_path, message));
    }
    let start_path =
        if at.is_empty() { "history_window_start".to_owned() } else { format!("{at}history_window_start.0.value") };
    let Some(text) = start.and_then(Value::as_str) else {
        return Err((start_path, "a new terms rule needs `history_window_start` (date math such as now-14d)".into()));
    };
    if let Some(field) = names.iter().find(|f| is_text(f)) {
        return Err((names_path, not_countable(field, "collect the terms of")));
    }
    let math = DateMath::parse(text).map_err(|err| (start_path, format!("`history_window_start`: {err}")))?;
    Ok(NewTerms { fields: names, history_window_start: (text.to_owned(), math) })
}

/// Whether the catalog has `field` as text: analyzed into words, so Elasticsearch can neither
/// group by it nor count its values.
fn is_text(field: &str) -> bool {
    ecs::Catalog::builtin().get(field).is_some_and(|f| f.ty().is_text())
}

fn not_countable(field: &str, what: &str) -> String {
    format!("Elasticsearch cannot {what} `{field}`: it is a text field (analyzed into words, not aggregatable)")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn thresholds_read_as_kibana_and_detection_rules_write_them() {
        let t = threshold(Some(&json!({"field": ["host.id", "host.name"], "value": 2,
            "cardinality": [{"field": "user.name", "value": 5}]})))
        .expect("valid");
        assert_eq!(t.fields, ["host.id", "host.name"]);
        assert_eq!((t.value, t.cardinality), (2, Some(Cardinality { field: "user.name".into(), value: 5 })));
        let one = threshold(Some(&json!({"field": "source.ip", "value": 10}))).expect("valid");
        assert_eq!((one.fields, one.cardinality), (vec!["source.ip".to_owned()], None));
        let all = threshold(Some(&json!({"field": [], "value": 100, "cardinality": []}))).expect("valid");
        assert!(all.fields.is_empty());
    }

    #[test]
    fn a_threshold_says_what_is_wrong_where() {
        let path = |v: Option<Value>| threshold(v.as_ref()).expect_err("invalid").0;
        assert_eq!(path(None), "threshold");
        assert_eq!(path(Some(json!({"field": "a", "value": 0}))), "threshold.value");
        assert_eq!(path(Some(json!({"field": "a"}))), "threshold");
        assert_eq!(path(Some(json!({"field": 3, "value": 1}))), "threshold.field");
        assert_eq!(path(Some(json!({"field": ["a", "b", "c", "d", "e", "f"], "value": 1}))), "threshold.field");
        assert_eq!(path(Some(json!({"value": 1, "cardinality": [{"field": "x"}]}))), "threshold.cardinality.0");
        let text = threshold(Some(&json!({"value": 1, "cardinality": [{"field": "message", "value": 2}]})));
        let fault = text.expect_err("message is text");
        assert_eq!(fault.0, "threshold.cardinality.0.field");
        assert!(fault.1.contains("text field"), "{}", fault.1);
    }

    #[test]
    fn new_terms_read_from_the_api_and_from_detection_rules() {
        let api = json!({"new_terms_fields": ["o365.audit.ClientAppId"], "history_window_start": "now-14d"});
        let toml = json!({"new_terms": {"field": "new_terms_fields", "value": ["o365.audit.ClientAppId"],
            "history_window_start": [{"field": "history_window_start", "value": "now-14d"}]}});
        for fields in [api, toml] {
            let Value::Object(fields) = fields else { unreachable!("an object") };
            let n = new_terms(&fields).expect("valid");
            assert_eq!(
                (n.fields.as_slice(), n.history_window_start.0.as_str()),
                (&["o365.audit.ClientAppId".to_owned()][..], "now-14d")
            );
        }
        let Value::Object(bad) = json!({"new_terms_fields": ["a", "b", "c", "d"], "history_window_start": "now-14d"})
        else {
            unreachable!("an object")
        };
        assert_eq!(new_terms(&bad).expect_err("invalid").0, "new_terms_fields");
        let Value::Object(bad) = json!({"new_terms": {"value": ["a"], "history_window_start": [{"value": "soon"}]}})
        else {
            unreachable!("an object")
        };
        assert_eq!(new_terms(&bad).expect_err("invalid").0, "new_terms.history_window_start.0.value");
    }
}
