//! Elastic's KQL test cases (`../shared/conformance/kql`), run against vigil.
//!
//! The cases record what Elastic's Python `kql` package does. Where Kibana and Elasticsearch
//! behave otherwise, vigil follows them; each such case is listed, with the reason, in
//! `tests/kql-divergences.toml`. Every other applicable case must pass, and a listed case that
//! starts passing must be removed from the list.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use ecs::{Catalog, Document, Field, FieldType};
use kql::{Expr, ExprKind, Query, TermKind, ValueExpr, ValueExprKind};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Divergences {
    reasons: BTreeMap<String, String>,
    mappings: BTreeMap<String, String>,
    #[serde(rename = "case", default)]
    cases: Vec<Divergence>,
}

#[derive(Deserialize)]
struct Divergence {
    kind: String,
    source: String,
    query: String,
    /// For `eval` cases, the document (compact JSON), since one query may be run on several.
    #[serde(default)]
    doc: String,
    reason: String,
}

/// What running one case gave.
enum Outcome {
    Pass,
    Fail(String),
    NotApplicable,
}

#[test]
#[allow(clippy::print_stdout)]
fn elastic_kql_cases() {
    let Some(shared) = testkit::shared_dir() else { return };
    let dir = shared.join("conformance/kql");
    let divergences: Divergences =
        toml::from_str(include_str!("../kql-divergences.toml")).expect("tests/kql-divergences.toml is valid");
    let mut listed: HashMap<(String, String, String, String), &str> = HashMap::new();
    for d in &divergences.cases {
        assert!(
            divergences.reasons.contains_key(&d.reason),
            "divergence {:?} has unknown reason {:?}",
            d.query,
            d.reason
        );
        listed.insert((d.kind.clone(), d.source.clone(), d.query.clone(), d.doc.clone()), &d.reason);
    }
    let eval_catalog = Catalog::from_fields(
        divergences.mappings.iter().map(|(name, ty)| Field::new(name.as_str(), FieldType::from_mapping(ty))),
    );

    let (mut passed, mut failed, mut diverged, mut skipped) = (0, 0, 0, 0);
    let mut report = String::new();
    let mut seen_listed = Vec::new();
    for file in ["cases.jsonl", "peer_probes.jsonl"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("conformance file is readable");
        for line in text.lines() {
            let case: Value = serde_json::from_str(line).expect("conformance line is JSON");
            let kind = case["kind"].as_str().unwrap_or("?").to_owned();
            let source = case["source"].as_str().unwrap_or("?").to_owned();
            let query = case_query(&case);
            let doc = case.get("doc").map(Value::to_string).unwrap_or_default();
            let key = (kind.clone(), source.clone(), query.clone(), doc.clone());
            match run(&case, &eval_catalog) {
                Outcome::NotApplicable => skipped += 1,
                Outcome::Pass if listed.contains_key(&key) => {
                    failed += 1;
                    let _ = writeln!(
                        report,
                        "  {kind} {source} {query:?} {doc}: passes but is listed as a divergence; remove it"
                    );
                    seen_listed.push(key);
                }
                Outcome::Pass => passed += 1,
                Outcome::Fail(_) if listed.contains_key(&key) => {
                    diverged += 1;
                    seen_listed.push(key);
                }
                Outcome::Fail(why) => {
                    failed += 1;
                    let _ = writeln!(report, "  {kind} {source} {query:?} {doc}: {why}");
                }
            }
        }
    }
    for d in &divergences.cases {
        if !seen_listed.contains(&(d.kind.clone(), d.source.clone(), d.query.clone(), d.doc.clone())) {
            failed += 1;
            let _ = writeln!(
                report,
                "  {} {} {:?}: listed as a divergence but no such case ran",
                d.kind, d.source, d.query
            );
        }
    }
    println!(
        "kql conformance: {passed} passed, {failed} failed ({diverged} listed divergences, {skipped} not applicable)"
    );
    print!("{report}");
    assert_eq!(failed, 0, "kql conformance failures:\n{report}");
}

fn case_query(case: &Value) -> String {
    if let Some(q) = case["query"].as_str() {
        return q.to_owned();
    }
    match case["queries"].as_array() {
        Some(qs) => qs.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        None => String::new(),
    }
}

fn schema_catalog(case: &Value) -> Option<Catalog> {
    let schema = case["schema"].as_object()?;
    Some(Catalog::from_fields(
        schema
            .iter()
            .map(|(name, ty)| Field::new(name.as_str(), FieldType::from_mapping(ty.as_str().unwrap_or("keyword")))),
    ))
}

fn run(case: &Value, eval_catalog: &Catalog) -> Outcome {
    let query_text = case["query"].as_str().unwrap_or_default();
    let schema = schema_catalog(case);
    let parsed = kql::parse(query_text);
    match case["kind"].as_str().unwrap_or_default() {
        "eval" | "eval_error" => {
            let expect = case["expect"].as_bool().unwrap_or(false);
            let doc = Document::new(case["doc"].clone());
            let matched = parsed.map_err(|e| e.to_string()).and_then(|q| {
                q.compile(schema.as_ref().unwrap_or(eval_catalog)).map(|m| m.matches(&doc)).map_err(|e| e.to_string())
            });
            // The peer raises on some documents; Elasticsearch matches nothing there.
            match matched {
                Ok(m) if m == expect => Outcome::Pass,
                Ok(m) => Outcome::Fail(format!("matched: {m}, expected {expect}")),
                Err(e) => Outcome::Fail(format!("error: {e}")),
            }
        }
        "parse" => {
            let query = match parsed {
                Ok(q) => q,
                Err(e) => return Outcome::Fail(format!("parse error: {e}")),
            };
            if let Some(catalog) = &schema
                && let Err(e) = query.compile(catalog)
            {
                return Outcome::Fail(format!("compile error: {e}"));
            }
            if let Some(expected) = case.get("ast") {
                let ours = peer_ast(&query, case["schema"].as_object());
                return if same_json(&ours, expected) {
                    Outcome::Pass
                } else {
                    Outcome::Fail(format!("ast {ours} != {expected}"))
                };
            }
            let canonical = case["canonical"].as_str().unwrap_or_default();
            let ours = query.to_string();
            if ours == canonical {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("printed {ours:?}, peer {canonical:?}"))
            }
        }
        "parse_error" => match parsed {
            Err(_) => Outcome::Pass,
            Ok(q) => match schema.map(|catalog| q.compile(&catalog).map(|_| ())) {
                Some(Err(_)) => Outcome::Pass,
                _ => Outcome::Fail(format!("parsed as {q}")),
            },
        },
        "parse_equiv" => {
            let queries: Vec<_> = case["queries"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let sorted: Vec<_> = queries.iter().map(|q| kql::parse(q).map(|q| sorted_print(&q))).collect();
            match sorted.as_slice() {
                [Ok(a), Ok(b)] if a == b => Outcome::Pass,
                other => Outcome::Fail(format!(
                    "not equivalent: {:?}",
                    other.iter().map(|r| r.as_ref().map_err(ToString::to_string)).collect::<Vec<_>>()
                )),
            }
        }
        "field_names" => match parsed {
            Ok(q) => {
                let expected: Vec<String> = serde_json::from_value(case["fields"].clone()).unwrap_or_default();
                let ours = q.field_names();
                if ours == expected { Outcome::Pass } else { Outcome::Fail(format!("fields {ours:?}")) }
            }
            Err(e) => Outcome::Fail(format!("parse error: {e}")),
        },
        "dsl" => match parsed {
            Ok(q) => {
                let ours = normalize_dsl(&q.to_dsl(schema.as_ref().unwrap_or(&Catalog::empty())));
                let peer = normalize_dsl(&case["dsl"]);
                if ours == peer { Outcome::Pass } else { Outcome::Fail(format!("dsl {ours} != peer {peer}")) }
            }
            Err(e) => Outcome::Fail(format!("parse error: {e}")),
        },
        // EQL translation is not part of KQL evaluation.
        _ => Outcome::NotApplicable,
    }
}

/// Our tree in the peer's AST encoding (see the cases README), values typed as the peer types
/// them: numbers and `true`/`false`/`null` when unquoted, or by the schema's field type.
fn peer_ast(query: &Query, schema: Option<&serde_json::Map<String, Value>>) -> Value {
    fn expr(e: &Expr, prefix: &str, schema: Option<&serde_json::Map<String, Value>>) -> Value {
        match &e.kind {
            ExprKind::Or(items) => json!({"OrExpr": items.iter().map(|i| expr(i, prefix, schema)).collect::<Vec<_>>()}),
            ExprKind::And(items) => {
                json!({"AndExpr": items.iter().map(|i| expr(i, prefix, schema)).collect::<Vec<_>>()})
            }
            ExprKind::Not(inner) => json!({"NotExpr": expr(inner, prefix, schema)}),
            ExprKind::Nested { field, query } => {
                let inner_prefix = format!("{prefix}{}.", field.text());
                json!({"NestedQuery": {"field": field.text(), "expr": expr(query, &inner_prefix, schema)}})
            }
            ExprKind::Range { field, op, value } => {
                let ty = field_type(schema, &format!("{prefix}{}", field.text()));
                json!({"FieldRange": {"field": field.text(), "op": op.as_str(), "value": term(value, ty)}})
            }
            ExprKind::Match { field: Some(field), value } => {
                let ty = field_type(schema, &format!("{prefix}{}", field.text()));
                json!({"FieldComparison": {"field": field.text(), "value": values(value, ty)}})
            }
            ExprKind::Match { field: None, value: ValueExpr { kind: ValueExprKind::Term(t), .. } } => {
                // A lone `*` is `exists` only after a field; as free text the peer calls it a wildcard.
                let value = match &t.kind {
                    TermKind::Wildcard(w) => json!({"Wildcard": w.to_plain()}),
                    _ => term(t, None),
                };
                json!({"FreeText": {"value": value, "is_quoted": t.is_quoted()}})
            }
            ExprKind::Match { field: None, .. } => Value::Null,
        }
    }
    fn values(v: &ValueExpr, ty: Option<&str>) -> Value {
        match &v.kind {
            ValueExprKind::Or(items) => json!({"OrValues": items.iter().map(|i| values(i, ty)).collect::<Vec<_>>()}),
            ValueExprKind::And(items) => json!({"AndValues": items.iter().map(|i| values(i, ty)).collect::<Vec<_>>()}),
            ValueExprKind::Not(inner) => json!({"NotValue": values(inner, ty)}),
            ValueExprKind::Term(t) => term(t, ty),
        }
    }
    fn term(t: &kql::Term, ty: Option<&str>) -> Value {
        let numeric = ty.is_some_and(|ty| {
            matches!(FieldType::from_mapping(ty), FieldType::Long | FieldType::Integer | FieldType::Float)
        });
        let stringy = ty.is_some_and(|ty| !numeric && ty != "boolean");
        match &t.kind {
            TermKind::Wildcard(w) if w.is_lone_star() => json!({"Exists": null}),
            TermKind::Wildcard(w) => json!({"Wildcard": w.to_plain()}),
            TermKind::Quoted(s) | TermKind::Unquoted(s) => {
                let unquoted = matches!(t.kind, TermKind::Unquoted(_));
                match s.as_str() {
                    "true" | "false" if unquoted && !stringy => json!({"Boolean": s == "true"}),
                    "null" if unquoted && !stringy => json!({"Null": null}),
                    _ => match s.parse::<f64>() {
                        Ok(n) if (unquoted && !stringy) || numeric => json!({"Number": n}),
                        _ => json!({"String": s}),
                    },
                }
            }
        }
    }
    match query.root() {
        Some(root) => expr(root, "", schema),
        None => Value::Null,
    }
}

fn field_type<'s>(schema: Option<&'s serde_json::Map<String, Value>>, name: &str) -> Option<&'s str> {
    schema?.get(name)?.as_str()
}

/// JSON equality with numbers compared by value, and the peer's `Wildcard` without `*` (it
/// evaluates `?` literally) compared as a `String`.
fn same_json(ours: &Value, peer: &Value) -> bool {
    match (ours, peer) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Object(a), Value::Object(b)) => {
            if let (Some(Value::String(s)), Some(Value::String(w))) = (a.get("String"), b.get("Wildcard")) {
                return !w.contains('*') && s == w;
            }
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_json(x, y)),
        _ => ours == peer,
    }
}

/// The canonical print with value lists and boolean clauses in sorted order (for `parse_equiv`).
fn sorted_print(query: &Query) -> String {
    fn expr(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Or(items) | ExprKind::And(items) => {
                let mut parts: Vec<_> = items.iter().map(expr).collect();
                parts.sort();
                format!("({})", parts.join(if matches!(e.kind, ExprKind::Or(_)) { " or " } else { " and " }))
            }
            ExprKind::Match { field: Some(f), value } => format!("{}:{}", f.text(), values(value)),
            _ => e.to_string(),
        }
    }
    fn values(v: &ValueExpr) -> String {
        match &v.kind {
            ValueExprKind::Or(items) | ValueExprKind::And(items) => {
                let mut parts: Vec<_> = items.iter().map(values).collect();
                parts.sort();
                format!("({})", parts.join(if matches!(v.kind, ValueExprKind::Or(_)) { " or " } else { " and " }))
            }
            ValueExprKind::Not(inner) => format!("not {}", values(inner)),
            ValueExprKind::Term(t) => t.text().into_owned(),
        }
    }
    query.root().map(expr).unwrap_or_default()
}

/// Rewrites a bool query into a canonical shape that means the same in filter context: single
/// clauses unwrapped, `filter` in `filter` and `should` in `should` flattened, a `must_not`-only
/// or `should`-only clause of a `filter` hoisted into its parent, scalars as strings. Kibana
/// wraps each `field:value` in a one-clause `bool.should`; the peer does not; both mean the same.
fn normalize_dsl(dsl: &Value) -> Value {
    let Value::Object(map) = dsl else {
        return match dsl {
            Value::Array(items) => Value::Array(items.iter().map(normalize_dsl).collect()),
            Value::Number(n) => Value::String(n.to_string()),
            other => other.clone(),
        };
    };
    let Some(Value::Object(b)) = map.get("bool").filter(|_| map.len() == 1) else {
        return Value::Object(map.iter().map(|(k, v)| (k.clone(), normalize_dsl(v))).collect());
    };
    let list = |key: &str| -> Vec<Value> {
        match b.get(key) {
            Some(Value::Array(items)) => items.iter().map(normalize_dsl).collect(),
            Some(one) => vec![normalize_dsl(one)],
            None => vec![],
        }
    };
    let (mut filter, mut should, mut must_not) = (Vec::new(), Vec::new(), Vec::new());
    for clause in list("filter").into_iter().chain(list("must")) {
        match bool_parts(&clause) {
            Some((f, s, n)) if s.is_empty() && n.is_empty() => filter.extend(f),
            Some((f, s, n)) if f.is_empty() && s.is_empty() => must_not.extend(n),
            Some((f, s, n)) if f.is_empty() && n.is_empty() && should.is_empty() && b.get("should").is_none() => {
                should.extend(s)
            }
            _ => filter.push(clause),
        }
    }
    for clause in list("should") {
        match bool_parts(&clause) {
            Some((f, s, n)) if f.is_empty() && n.is_empty() => should.extend(s),
            _ => should.push(clause),
        }
    }
    for clause in list("must_not") {
        match bool_parts(&clause) {
            Some((f, s, n)) if f.is_empty() && n.is_empty() => must_not.extend(s),
            _ => must_not.push(clause),
        }
    }
    match (filter.len(), should.len(), must_not.len()) {
        (1, 0, 0) => return filter.pop().unwrap_or_default(),
        (0, 1, 0) => return should.pop().unwrap_or_default(),
        _ => {}
    }
    let mut out = serde_json::Map::new();
    if !filter.is_empty() {
        out.insert("filter".into(), Value::Array(filter));
    }
    if !should.is_empty() {
        out.insert("should".into(), Value::Array(should));
        out.insert("minimum_should_match".into(), json!("1"));
    }
    if !must_not.is_empty() {
        out.insert("must_not".into(), Value::Array(must_not));
    }
    json!({"bool": out})
}

/// The (filter, should, must_not) lists of a normalized bool query.
fn bool_parts(clause: &Value) -> Option<(Vec<Value>, Vec<Value>, Vec<Value>)> {
    let b = clause.get("bool")?.as_object()?;
    let list = |key: &str| b.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    Some((list("filter"), list("should"), list("must_not")))
}
