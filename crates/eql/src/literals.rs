//! What a line must hold for an event filter to match it, for the scanner's prefilter.
//!
//! The filter is weakened to a KQL query it implies (every event the filter matches, the query
//! matches), from which `kql` derives the required literals as for any KQL rule. Only exact,
//! case-sensitive comparisons of keyword fields with strings carry over: the category, `==` and
//! `in`. The rest (`:` and the `~` forms, which ignore case; patterns; functions; `not`) is left
//! out of an `and` and makes an `or` that holds it say nothing, so the weakening stays sound.

use ecs::{Catalog, FieldType};

use crate::ast::{Compare, EventFilter, Expr, ExprKind};

impl EventFilter {
    /// A KQL query this filter implies, for [`kql::Query::required_literals`]; `None` when no
    /// part of it carries over.
    pub fn literal_query(&self, catalog: &Catalog, category_field: &str) -> Option<kql::Query> {
        let category = self.category.as_ref().map(|c| format!("{}:{}", kql::field_name(category_field), kql::quote(c)));
        let condition = implied(&self.condition, catalog);
        let text = match (category, condition) {
            (Some(c), Some(q)) => format!("{c} and ({q})"),
            (one, other) => one.or(other)?,
        };
        kql::parse(&text).ok()
    }
}

/// The KQL that `e` implies, as text.
fn implied(e: &Expr, catalog: &Catalog) -> Option<String> {
    match &e.kind {
        ExprKind::And(a, b) => match (implied(a, catalog), implied(b, catalog)) {
            (Some(a), Some(b)) => Some(format!("({a}) and ({b})")),
            (one, other) => one.or(other),
        },
        ExprKind::Or(a, b) => Some(format!("({}) or ({})", implied(a, catalog)?, implied(b, catalog)?)),
        ExprKind::Compare(Compare::Eq, a, b) => {
            let (field, value) = match (&a.kind, &b.kind) {
                (ExprKind::Field { path, .. }, ExprKind::Str(s)) | (ExprKind::Str(s), ExprKind::Field { path, .. }) => {
                    (path, s)
                }
                _ => return None,
            };
            exact(field, catalog).map(|f| format!("{f}:{}", kql::quote(value)))
        }
        ExprKind::In { value, list, insensitive: false, negated: false } => {
            let ExprKind::Field { path, .. } = &value.kind else { return None };
            let field = exact(path, catalog)?;
            let values: Option<Vec<String>> = list
                .iter()
                .map(|v| match &v.kind {
                    ExprKind::Str(s) => Some(kql::quote(s)),
                    _ => None,
                })
                .collect();
            Some(format!("{field}:({})", values?.join(" or ")))
        }
        _ => None,
    }
}

/// The field's KQL name when the catalog types it as a keyword (compared exactly, as EQL's
/// `==` compares it).
fn exact(path: &[String], catalog: &Catalog) -> Option<String> {
    let name = path.join(".");
    match catalog.type_of(&name)?.0 {
        FieldType::Keyword | FieldType::ConstantKeyword | FieldType::Wildcard => Some(kql::field_name(&name)),
        _ => None,
    }
}
