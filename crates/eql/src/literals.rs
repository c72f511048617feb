//! What a line must hold for an event filter to match it, for the scanner's prefilter.
//!
//! The filter is weakened to a KQL query it implies (every event the filter matches, the query
//! matches), from which `kql` derives the required literals as for any KQL rule. Only exact,
//! case-sensitive comparisons of keyword fields with strings carry over: the category, `==` and
//! `in`. The rest (`:` and the `~` forms, which ignore case; patterns; functions; `not`) is left
//! out of an `and` and makes an `or` that holds it say nothing, so the weakening stays sound.
//!
//! Beside that query, the comparisons of a keyword or text field with strings that ignore case or
//! hold wildcards (`:`, `like`, `like~`, `in~`, `startsWith`, `endsWith`, `stringContains` and
//! their `~` forms), in the filter's top `and`s, each require a text found in any case: the
//! longest part of each string between wildcards ([`kql::AnyCase`]). A sequence or sample takes
//! a line that holds the literals of one of its terms ([`kql::Literals::any_of`]).

use ecs::{Catalog, Copied, FieldType};

use crate::ast::{Compare, EventFilter, Expr, ExprKind, MatchKind, Query};

impl Query {
    /// The literals a line must hold for the query to take it (see [`kql::Literals`]): those
    /// of its event filter; of a sequence or sample, those of one of its terms (an event takes
    /// part when it meets one). `copied` says how a field's text reaches the searched text (see
    /// [`kql::Query::required_literals_in`]).
    pub fn literals(&self, catalog: &Catalog, category_field: &str, copied: &dyn Fn(&str) -> Copied) -> kql::Literals {
        let parts: Vec<kql::Literals> =
            self.filters().iter().map(|f| f.literals(catalog, category_field, copied)).collect();
        match parts.as_slice() {
            [one] => one.clone(),
            _ => kql::Literals::any_of(&parts),
        }
    }
}

impl EventFilter {
    /// The literals a line must hold for this filter to match it: those of the KQL query it
    /// implies, and the texts its comparisons that ignore case require in any case.
    pub fn literals(&self, catalog: &Catalog, category_field: &str, copied: &dyn Fn(&str) -> Copied) -> kql::Literals {
        let query = self.literal_query(catalog, category_field).unwrap_or_else(|| kql::Query::from_root(None));
        let mut any_case = Vec::new();
        any_case_clauses(&self.condition, catalog, &mut any_case);
        query.required_literals_with(catalog, copied, &any_case)
    }

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

/// The clauses found in any case that the top `and`s of `e` require (see the module's doc).
fn any_case_clauses(e: &Expr, catalog: &Catalog, out: &mut Vec<kql::AnyCase>) {
    let (field, strings, wildcards): (&Expr, Vec<&Expr>, bool) = match &e.kind {
        ExprKind::And(a, b) => {
            any_case_clauses(a, catalog, out);
            any_case_clauses(b, catalog, out);
            return;
        }
        ExprKind::Match { value, kind: MatchKind::Colon | MatchKind::Like, patterns, .. } => {
            (value, patterns.iter().collect(), true)
        }
        ExprKind::In { value, list, insensitive: true, negated: false } => (value, list.iter().collect(), false),
        ExprKind::Call { name, args, .. }
            if ["startswith", "endswith", "stringcontains"].contains(&name.to_ascii_lowercase().as_str()) =>
        {
            match args.as_slice() {
                // `stringContains` reads wildcards in its string, as Elasticsearch does.
                [field, string] => (field, vec![string], true),
                _ => return,
            }
        }
        _ => return,
    };
    let ExprKind::Field { path, .. } = &field.kind else { return };
    let name = path.join(".");
    match catalog.type_of(&name).map(|t| t.0) {
        Some(ty) if ty.is_keyword() || ty.is_text() => {}
        _ => return,
    }
    let any_of: Option<Vec<String>> = strings
        .iter()
        .map(|s| match &s.kind {
            ExprKind::Str(text) => longest_part(text, wildcards),
            _ => None,
        })
        .collect();
    if let Some(any_of) = any_of {
        out.push(kql::AnyCase { field: name, any_of });
    }
}

/// The longest part of `text` between wildcards (`*`, `?`, and `\`, which may escape one) that
/// is ASCII; `None` when there is none, or it could be a number (a keyword holding a JSON number
/// is compared as its text, which may be written otherwise in the line).
fn longest_part(text: &str, wildcards: bool) -> Option<String> {
    let split = |c: char| !c.is_ascii() || (wildcards && matches!(c, '*' | '?' | '\\'));
    let part = text.split(split).max_by_key(|p| p.len())?;
    let numeric = part.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    (!part.is_empty() && !numeric).then(|| part.to_owned())
}
