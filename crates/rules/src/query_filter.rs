//! Kibana's query filters (a rule's `filters`): the pills under the query bar, each a piece of
//! Elasticsearch query DSL with `meta.negate` and `meta.disabled`, turned into KQL.
//!
//! Kibana's `buildEsQuery` puts every enabled filter in the search's `bool.filter` and every
//! negated one in its `bool.must_not`, beside the rule's query. The same search in KQL is
//! `(query) and (filter) and not (negated)`. The DSL a filter may hold is translated clause by
//! clause (`match_phrase`, `match`, `term`, `terms`, `exists`, `range`, `bool`, `match_all`).
//! A filter that is one Elasticsearch `wildcard` query (`?` and `case_insensitive`, which KQL
//! cannot say) is kept as it is, for the engine to test. Anything else (`query_string`, scripts,
//! a wildcard inside a `bool`...) is an error, and the rule does not run rather than run without
//! it.

use std::fmt;

use serde_json::Value;

/// One enabled filter of a rule, as vigil runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryFilter {
    /// A KQL clause the rule's query is AND'ed with (`not (...)` when the filter is negated).
    Kql(String),
    /// An Elasticsearch `wildcard` query on a field's whole value: `?` is one character, `*` any
    /// run of them, `\` makes the next one literal. A negated one passes when no value of the
    /// field matches.
    Wildcard {
        /// The field.
        field: String,
        /// The pattern, as written.
        pattern: String,
        /// Whether letter case is ignored (`case_insensitive`).
        case_insensitive: bool,
        /// Whether the filter is negated (`meta.negate`).
        negate: bool,
    },
}

impl fmt::Display for QueryFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryFilter::Kql(clause) => f.write_str(clause),
            QueryFilter::Wildcard { field, pattern, case_insensitive, negate } => {
                let not = if *negate { "not " } else { "" };
                let case = if *case_insensitive { ", any case" } else { "" };
                write!(f, "{not}{field} matches the wildcard {pattern:?}{case}")
            }
        }
    }
}

/// A rule's `filters`, each enabled one as vigil runs it.
///
/// # Errors
///
/// Says which filter vigil cannot run, and why.
pub fn to_filters(filters: &Value) -> Result<Vec<QueryFilter>, String> {
    let Value::Array(filters) = filters else { return Err("`filters` must be a list of filters".into()) };
    let mut clauses = Vec::new();
    for (at, filter) in filters.iter().enumerate() {
        let Value::Object(filter) = filter else { return Err(format!("filter {} is not an object", at + 1)) };
        let meta = filter.get("meta").and_then(Value::as_object);
        let flag = |key: &str| meta.and_then(|m| m.get(key)).and_then(Value::as_bool).unwrap_or(false);
        if flag("disabled") {
            continue;
        }
        // The DSL is under `query` (Kibana 7.x and later), or the filter itself once `meta` and
        // `$state` are set aside (older exports: `{"exists": ...}`, `{"range": ...}`).
        let dsl = match filter.get("query") {
            Some(query) => query.clone(),
            None => Value::Object(
                filter
                    .iter()
                    .filter(|(k, _)| *k != "meta" && *k != "$state")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        };
        let negate = flag("negate");
        if let Some(wildcard) = wildcard(&dsl, negate).map_err(|why| format!("filter {}: {why}", at + 1))? {
            clauses.push(wildcard);
            continue;
        }
        let clause = clause(&dsl).map_err(|why| format!("filter {}: {why}", at + 1))?;
        match (clause, negate) {
            (Some(clause), false) => clauses.push(QueryFilter::Kql(format!("({clause})"))),
            (Some(clause), true) => clauses.push(QueryFilter::Kql(format!("not ({clause})"))),
            (None, false) => {} // matches everything
            (None, true) => clauses.push(QueryFilter::Kql("not *:*".into())),
        }
    }
    Ok(clauses)
}

/// A filter that is one `wildcard` query: `{"wildcard": {"file.path": {"value": "?:\\x*",
/// "case_insensitive": true}}}` (or the pattern alone, or under `wildcard`).
fn wildcard(dsl: &Value, negate: bool) -> Result<Option<QueryFilter>, String> {
    let Some(Value::Object(map)) = dsl.as_object().filter(|m| m.len() == 1).and_then(|m| m.get("wildcard")) else {
        return Ok(None);
    };
    let mut fields = map.iter();
    let (Some((field, spec)), None) = (fields.next(), fields.next()) else {
        return Err("`wildcard` names other than one field".into());
    };
    let (pattern, case_insensitive) = match spec {
        Value::String(pattern) => (pattern.clone(), false),
        Value::Object(o) => {
            let pattern = o.get("value").or_else(|| o.get("wildcard")).and_then(Value::as_str);
            let pattern = pattern.ok_or("`wildcard` without a value")?;
            (pattern.to_owned(), o.get("case_insensitive").and_then(Value::as_bool).unwrap_or(false))
        }
        _ => return Err("`wildcard` is not a pattern".into()),
    };
    Ok(Some(QueryFilter::Wildcard { field: field.clone(), pattern, case_insensitive, negate }))
}

/// One DSL query as KQL; `None` when it matches every document.
fn clause(dsl: &Value) -> Result<Option<String>, String> {
    let Value::Object(map) = dsl else { return Err("a query is not an object".into()) };
    let mut parts = Vec::new();
    for (kind, body) in map {
        let part = match kind.as_str() {
            "match_all" => None,
            "exists" => {
                let field = body.get("field").and_then(Value::as_str).ok_or("`exists` without a field")?;
                Some(format!("{}:*", field_name(field)))
            }
            "match_phrase" | "term" => {
                let (field, value) = single(body, kind)?;
                let value = match value {
                    Value::Object(o) => {
                        o.get("query").or_else(|| o.get("value")).ok_or(format!("`{kind}` without a value"))?
                    }
                    other => other,
                };
                Some(format!("{}:{}", field_name(field), quoted(value)?))
            }
            "match" => {
                let (field, value) = single(body, kind)?;
                let (value, phrase) = match value {
                    Value::Object(o) => (
                        o.get("query").ok_or("`match` without a query")?,
                        o.get("type").and_then(Value::as_str) == Some("phrase"),
                    ),
                    other => (other, false),
                };
                // An analyzed `match` of one word is the same search as KQL's unquoted value;
                // several words (any of them) would need Kibana's unquoted-phrase reading.
                let text = scalar(value)?;
                if !phrase && text.split_whitespace().count() > 1 {
                    return Err("a `match` query of several words".into());
                }
                Some(format!("{}:{}", field_name(field), quoted(value)?))
            }
            "terms" => {
                let Value::Object(o) = body else { return Err("`terms` is not an object".into()) };
                let (field, values) = o.iter().find(|(k, _)| *k != "boost").ok_or("`terms` without a field")?;
                let values = values.as_array().ok_or("`terms` values are not a list")?;
                let values = values.iter().map(quoted).collect::<Result<Vec<_>, _>>()?;
                if values.is_empty() {
                    Some("not *:*".into())
                } else {
                    Some(format!("{}:({})", field_name(field), values.join(" or ")))
                }
            }
            "range" => {
                let (field, bounds) = single(body, kind)?;
                let Value::Object(bounds) = bounds else { return Err("`range` bounds are not an object".into()) };
                let mut tests = Vec::new();
                for (op, value) in bounds {
                    let op = match op.as_str() {
                        "gte" => ">=",
                        "gt" => ">",
                        "lte" => "<=",
                        "lt" => "<",
                        "format" | "boost" => continue,
                        other => return Err(format!("range bound `{other}`")),
                    };
                    tests.push(format!("{} {op} {}", field_name(field), quoted(value)?));
                }
                Some(tests.join(" and ")).filter(|t| !t.is_empty())
            }
            "bool" => boolean(body)?,
            other => return Err(format!("a `{other}` query, which vigil cannot run yet")),
        };
        parts.extend(part);
    }
    Ok(if parts.is_empty() { None } else { Some(parts.join(" and ")) })
}

/// A `bool` query: `must` and `filter` all, `should` (at least one when it is alone, or when
/// `minimum_should_match` is 1), none of `must_not`.
fn boolean(body: &Value) -> Result<Option<String>, String> {
    let Value::Object(body) = body else { return Err("`bool` is not an object".into()) };
    let list = |key: &str| -> Vec<Value> {
        match body.get(key) {
            Some(Value::Array(items)) => items.clone(),
            Some(one) => vec![one.clone()],
            None => Vec::new(),
        }
    };
    let mut parts = Vec::new();
    for item in list("must").iter().chain(&list("filter")) {
        parts.extend(clause(item)?.map(|c| format!("({c})")));
    }
    for item in &list("must_not") {
        parts.push(match clause(item)? {
            Some(c) => format!("not ({c})"),
            None => "not *:*".into(),
        });
    }
    let should = list("should");
    if !should.is_empty() {
        let minimum = match body.get("minimum_should_match") {
            None => {
                if parts.is_empty() {
                    1
                } else {
                    0
                }
            }
            Some(value) => value
                .as_u64()
                .or_else(|| value.as_str()?.parse().ok())
                .ok_or("`minimum_should_match` other than a number")?,
        };
        match minimum {
            0 => {}
            1 => {
                let mut any = Vec::new();
                for item in &should {
                    match clause(item)? {
                        Some(c) => any.push(format!("({c})")),
                        None => {
                            any.clear();
                            break;
                        }
                    }
                }
                if !any.is_empty() {
                    parts.push(format!("({})", any.join(" or ")));
                }
            }
            _ => return Err("`minimum_should_match` above 1".into()),
        }
    }
    Ok(if parts.is_empty() { None } else { Some(parts.join(" and ")) })
}

/// The one `field: value` of a `match_phrase`, `term`, `match` or `range`.
fn single<'a>(body: &'a Value, kind: &str) -> Result<(&'a String, &'a Value), String> {
    let Value::Object(map): &Value = body else { return Err(format!("`{kind}` is not an object")) };
    let mut fields = map.iter();
    match (fields.next(), fields.next()) {
        (Some(one), None) => Ok(one),
        _ => Err(format!("`{kind}` names other than one field")),
    }
}

fn scalar(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err("a value that is not a string, number or boolean".into()),
    }
}

/// A value as a KQL quoted string (exact for keywords, a phrase for text).
fn quoted(value: &Value) -> Result<String, String> {
    let text = scalar(value)?;
    Ok(format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// A field name in KQL: quoted when it holds whitespace (which Kibana's grammar cannot escape),
/// else unquoted with KQL's special characters escaped.
fn field_name(field: &str) -> String {
    if field.chars().any(char::is_whitespace) {
        return format!("\"{}\"", field.replace('\\', "\\\\").replace('"', "\\\""));
    }
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        if "\\():<>\"*{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kql(filters: Value) -> Result<Vec<String>, String> {
        to_filters(&filters).map(|filters| filters.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn kibana_filters_become_kql_clauses() {
        let filters = json!([
            {"meta": {"negate": false, "disabled": false, "type": "phrase", "key": "event.outcome"},
             "query": {"match_phrase": {"event.outcome": "success"}}},
            {"meta": {"negate": true}, "query": {"match_phrase": {"user.name": {"query": "svc \"backup\""}}}},
            {"meta": {"disabled": true}, "query": {"match_phrase": {"event.action": "ignored"}}},
            {"meta": {}, "exists": {"field": "source.ip"}},
            {"meta": {}, "query": {"bool": {"should": [{"match_phrase": {"host.name": "a"}}, {"match_phrase": {"host.name": "b"}}], "minimum_should_match": 1}}},
            {"meta": {}, "range": {"event.duration": {"gte": 10, "lt": 20, "format": "x"}}},
            {"meta": {}, "query": {"terms": {"event.code": ["4624", 4625]}}},
        ]);
        assert_eq!(
            kql(filters).expect("translates"),
            [
                "(event.outcome:\"success\")",
                "not (user.name:\"svc \\\"backup\\\"\")",
                "(source.ip:*)",
                "(((host.name:\"a\") or (host.name:\"b\")))",
                "(event.duration >= \"10\" and event.duration < \"20\")",
                "(event.code:(\"4624\" or \"4625\"))",
            ]
        );
        for clause in kql(json!([{"query": {"bool": {"must_not": {"exists": {"field": "x y"}}}}}])).expect("ok") {
            assert_eq!(clause, "(not (\"x y\":*))");
            kql::parse(&clause).expect("parses");
        }
    }

    #[test]
    fn wildcard_filters_are_kept_for_the_engine() {
        let filters = json!([{"meta": {"negate": true},
            "query": {"wildcard": {"file.path": {"case_insensitive": true, "value": "?:\\\\Windows\\\\*"}}}}]);
        assert_eq!(
            to_filters(&filters),
            Ok(vec![QueryFilter::Wildcard {
                field: "file.path".into(),
                pattern: "?:\\\\Windows\\\\*".into(),
                case_insensitive: true,
                negate: true
            }])
        );
    }

    #[test]
    fn filters_vigil_cannot_run_are_errors_not_dropped() {
        let err = kql(json!([{"query": {"match_phrase": {"a": "b"}}}, {"query": {"query_string": {"query": "a:b"}}}]));
        assert_eq!(err, Err("filter 2: a `query_string` query, which vigil cannot run yet".into()));
        let inside = kql(json!([{"query": {"bool": {"must_not": {"wildcard": {"a": "b*"}}}}}]));
        assert_eq!(inside, Err("filter 1: a `wildcard` query, which vigil cannot run yet".into()));
        assert!(kql(json!({"not": "a list"})).is_err());
        assert!(kql(json!([{"query": {"match": {"message": "two words"}}}])).is_err());
    }
}
