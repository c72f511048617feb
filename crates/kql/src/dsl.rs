//! Elasticsearch Query DSL, built as Kibana's `toElasticsearchQuery` builds it.
//!
//! Kibana turns each `field:value` into a `bool.should` over the data view's fields that the name
//! stands for (one field unless the name has a wildcard), with `match`, `match_phrase` (quoted),
//! `query_string` (wildcards), `range` (dates, and comparisons) or `exists` (`field:*`); `and` is
//! `bool.filter`, `or` is `bool.should` with `minimum_should_match: 1`, `not` is `bool.must_not`.
//! A field the catalog does not know is sent through as written, as Kibana does.

use ecs::{Catalog, FieldType};
use serde_json::{Map, Value, json};

use crate::ast::{Expr, ExprKind, Query, Term, TermKind, ValueExpr, ValueExprKind, Wildcard};
use crate::compile::resolve;

impl Query {
    /// The Query DSL that Kibana sends to Elasticsearch for this query, with field types from
    /// the catalog (playing the data view's part).
    ///
    /// ```
    /// let dsl = kql::parse("event.action:\"Set-DkimSigningConfig\"")?.to_dsl(ecs::Catalog::builtin());
    /// assert_eq!(dsl, serde_json::json!({"bool": {"should": [{"match_phrase": {"event.action": "Set-DkimSigningConfig"}}], "minimum_should_match": 1}}));
    /// # Ok::<(), kql::Error>(())
    /// ```
    pub fn to_dsl(&self, catalog: &Catalog) -> Value {
        match &self.root {
            Some(expr) => expr_dsl(expr, "", catalog),
            None => json!({"match_all": {}}),
        }
    }
}

fn expr_dsl(expr: &Expr, prefix: &str, catalog: &Catalog) -> Value {
    match &expr.kind {
        ExprKind::Or(items) => or(items.iter().map(|e| expr_dsl(e, prefix, catalog)).collect()),
        ExprKind::And(items) => {
            json!({"bool": {"filter": items.iter().map(|e| expr_dsl(e, prefix, catalog)).collect::<Vec<_>>()}})
        }
        ExprKind::Not(inner) => json!({"bool": {"must_not": expr_dsl(inner, prefix, catalog)}}),
        ExprKind::Nested { field, query } => {
            let path = format!("{prefix}{}", field.text());
            let inner = expr_dsl(query, &format!("{path}."), catalog);
            json!({"nested": {"path": path, "query": inner, "score_mode": "none"}})
        }
        ExprKind::Range { field, op, value } => {
            let queries = field_names(field, prefix, catalog)
                .into_iter()
                .map(|(name, _)| json!({"range": {name: {op.dsl_key(): literal_value(value)}}}))
                .collect();
            should(queries)
        }
        ExprKind::Match { field: Some(field), value } => values_dsl(field, value, prefix, catalog),
        ExprKind::Match { field: None, value } => match &value.kind {
            ValueExprKind::Term(term) => free_text_dsl(term),
            _ => json!({"match_all": {}}),
        },
    }
}

fn values_dsl(field: &Term, value: &ValueExpr, prefix: &str, catalog: &Catalog) -> Value {
    match &value.kind {
        ValueExprKind::Or(items) => or(items.iter().map(|v| values_dsl(field, v, prefix, catalog)).collect()),
        ValueExprKind::And(items) => {
            json!({"bool": {"filter": items.iter().map(|v| values_dsl(field, v, prefix, catalog)).collect::<Vec<_>>()}})
        }
        ValueExprKind::Not(inner) => json!({"bool": {"must_not": values_dsl(field, inner, prefix, catalog)}}),
        ValueExprKind::Term(term) => is_dsl(field, term, prefix, catalog),
    }
}

/// Kibana's `is` function.
fn is_dsl(field: &Term, term: &Term, prefix: &str, catalog: &Catalog) -> Value {
    let lone_star = |t: &Term| matches!(&t.kind, TermKind::Wildcard(w) if w.is_lone_star());
    if lone_star(field) && lone_star(term) {
        return json!({"match_all": {}});
    }
    let queries = field_names(field, prefix, catalog)
        .into_iter()
        .map(|(name, ty)| match &term.kind {
            TermKind::Wildcard(w) if w.is_lone_star() => json!({"exists": {"field": name}}),
            TermKind::Wildcard(w) => json!({"query_string": {"fields": [name], "query": query_string(w)}}),
            _ if matches!(ty, Some(FieldType::Date | FieldType::DateNanos)) => {
                let value = literal_value(term);
                json!({"range": {name: {"gte": value, "lte": value}}})
            }
            _ => {
                let kind = if term.is_quoted() { "match_phrase" } else { "match" };
                json!({kind: {name: literal_value(term)}})
            }
        })
        .collect();
    should(queries)
}

fn free_text_dsl(term: &Term) -> Value {
    match &term.kind {
        TermKind::Wildcard(w) => json!({"query_string": {"query": query_string(w)}}),
        _ => {
            let kind = if term.is_quoted() { "phrase" } else { "best_fields" };
            json!({"multi_match": {"type": kind, "query": literal_value(term), "lenient": true}})
        }
    }
}

/// The data view fields a name stands for; a name no field matches is sent as written.
fn field_names(field: &Term, prefix: &str, catalog: &Catalog) -> Vec<(String, Option<FieldType>)> {
    let resolved = resolve(field, prefix, catalog);
    let mut names: Vec<_> =
        resolved.targets.into_iter().map(|(known, full, _)| (full, known.map(|f| f.ty()))).collect();
    if names.is_empty() {
        names.push((format!("{prefix}{}", field.text()), None));
    }
    names
}

/// A literal's value in the DSL: unquoted `true`, `false` and `null` are JSON values, the rest
/// strings (Kibana keeps numbers as the text written).
fn literal_value(term: &Term) -> Value {
    match &term.kind {
        TermKind::Unquoted(s) if s == "true" => Value::Bool(true),
        TermKind::Unquoted(s) if s == "false" => Value::Bool(false),
        TermKind::Unquoted(s) if s == "null" => Value::Null,
        _ => Value::String(term.text().into_owned()),
    }
}

/// Kibana's `wildcard.toQueryStringQuery`: query_string specials escaped, `*` kept.
fn query_string(pattern: &Wildcard) -> String {
    let mut out = String::new();
    for (i, part) in pattern.parts().iter().enumerate() {
        if i > 0 {
            out.push('*');
        }
        for c in part.chars() {
            if "+-=&|><!(){}[]^\"~*?:\\/".contains(c) {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

fn should(queries: Vec<Value>) -> Value {
    let mut bool_query = Map::new();
    bool_query.insert("should".into(), Value::Array(queries));
    bool_query.insert("minimum_should_match".into(), json!(1));
    json!({"bool": bool_query})
}

/// Kibana's `or`: one clause is returned as is.
fn or(mut clauses: Vec<Value>) -> Value {
    if clauses.len() == 1 { clauses.pop().expect("one clause") } else { should(clauses) }
}
