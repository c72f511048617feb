//! Required literals: byte strings one of which must occur in any JSON line a query matches.
//!
//! They let a scanner skip lines without decoding them. The guarantee is about lines as JSON
//! encoders write them: a string's characters appear as themselves or as one of the short
//! escapes (`\"`, `\\`, `\n`, `\t`, `\r`, `\b`, `\f`). Any other spelling needs `\u` or `\/`,
//! so [`Literals::may_match`] treats every line that holds one of those as a candidate.

use ecs::{Catalog, FieldType};
use memchr::memmem;

use crate::ast::{Expr, ExprKind, Query, Term, TermKind, ValueExpr, ValueExprKind, Wildcard};
use crate::compile::resolve;
use crate::matcher::parse_number;
use crate::text::is_query_string_space;

/// The byte strings of which at least one occurs in every JSON line the query can match;
/// empty when none can be derived (every line must then be evaluated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Literals {
    any_of: Vec<Vec<u8>>,
}

impl Literals {
    /// The alternatives (empty: no prefilter).
    pub fn alternatives(&self) -> &[Vec<u8>] {
        &self.any_of
    }

    /// Whether no literal could be derived.
    pub fn is_empty(&self) -> bool {
        self.any_of.is_empty()
    }

    /// Whether `line` may match: it holds one of the literals, or an escape (`\u`, `\/`) that
    /// could spell one differently, or there are no literals at all.
    pub fn may_match(&self, line: &[u8]) -> bool {
        self.any_of.is_empty()
            || memmem::find(line, b"\\u").is_some()
            || memmem::find(line, b"\\/").is_some()
            || self.any_of.iter().any(|lit| memmem::find(line, lit).is_some())
    }
}

impl Query {
    /// The literals a JSON line must contain to match this query (see [`Literals`]).
    ///
    /// ```
    /// let query = kql::parse("event.action:\"Set-DkimSigningConfig\" and event.outcome:success")?;
    /// let literals = query.required_literals(ecs::Catalog::builtin());
    /// assert_eq!(literals.alternatives(), [b"Set-DkimSigningConfig".to_vec()]);
    /// # Ok::<(), kql::Error>(())
    /// ```
    pub fn required_literals(&self, catalog: &Catalog) -> Literals {
        let any_of = self.root.as_ref().and_then(|e| expr_literals(e, "", catalog)).unwrap_or_default();
        Literals { any_of }
    }
}

type Alternatives = Option<Vec<Vec<u8>>>;

fn expr_literals(expr: &Expr, prefix: &str, catalog: &Catalog) -> Alternatives {
    match &expr.kind {
        ExprKind::Or(items) => union(items.iter().map(|e| expr_literals(e, prefix, catalog))),
        ExprKind::And(items) => best(items.iter().map(|e| expr_literals(e, prefix, catalog))),
        ExprKind::Not(_) | ExprKind::Range { .. } | ExprKind::Match { field: None, .. } => None,
        ExprKind::Nested { field, query } => expr_literals(query, &format!("{prefix}{}.", field.text()), catalog),
        ExprKind::Match { field: Some(field), value } => value_literals(field, value, prefix, catalog),
    }
}

fn value_literals(field: &Term, value: &ValueExpr, prefix: &str, catalog: &Catalog) -> Alternatives {
    match &value.kind {
        ValueExprKind::Or(items) => union(items.iter().map(|v| value_literals(field, v, prefix, catalog))),
        ValueExprKind::And(items) => best(items.iter().map(|v| value_literals(field, v, prefix, catalog))),
        ValueExprKind::Not(_) => None,
        ValueExprKind::Term(term) => {
            let resolved = resolve(field, prefix, catalog);
            let [(known, _, path)] = resolved.targets.as_slice() else { return None };
            if resolved.pattern.is_some() {
                return None;
            }
            let ty = known.as_ref().map(|f| f.ty());
            term_literals(ty, path, term)
        }
    }
}

/// What must occur for one value of a field of type `ty` (`None`: unmapped) at `path`.
fn term_literals(ty: Option<FieldType>, path: &str, term: &Term) -> Alternatives {
    match &term.kind {
        // `field:*` needs the field's last name segment as (the end of) some key.
        TermKind::Wildcard(w) if w.is_lone_star() => {
            let last = path.rsplit('.').next().filter(|s| !s.is_empty())?;
            Some(vec![encode(last)])
        }
        TermKind::Wildcard(w) => match ty {
            None => wildcard_literals(w),
            Some(t) if t.is_keyword() => wildcard_literals(w),
            _ => None,
        },
        TermKind::Quoted(s) | TermKind::Unquoted(s) => match ty {
            // Unmapped values compare as numbers or booleans when the JSON value is one, and
            // numbers have many spellings (`1e3`), so only other strings give a literal.
            None if parse_number(s).is_some() || s == "true" || s == "false" || s == "null" => None,
            // A keyword field indexes a JSON number as written, which may differ from the query.
            Some(t) if t.is_keyword() && parse_number(s).is_some() => None,
            None => Some(vec![encode(s)]),
            Some(t) if t.is_keyword() && !s.is_empty() => Some(vec![encode(s)]),
            Some(FieldType::Boolean) if s == "true" => Some(vec![b"true".to_vec()]),
            _ => None,
        },
    }
}

/// Each `query_string` alternative of the pattern must give a literal: the text of a plain
/// term, or the longest part of a pattern.
fn wildcard_literals(pattern: &Wildcard) -> Alternatives {
    let mut alternatives = Vec::new();
    let mut term: Vec<String> = vec![String::new()];
    let mut flush = |term: &mut Vec<String>| -> Option<()> {
        let parts = std::mem::replace(term, vec![String::new()]);
        if parts.len() == 1 && parts[0].is_empty() {
            return Some(()); // two spaces in a row: no term
        }
        let longest = parts.iter().max_by_key(|p| p.len())?;
        if longest.is_empty() {
            return None; // a lone `*` alternative matches anything
        }
        alternatives.push(encode(longest));
        Some(())
    };
    for (i, part) in pattern.parts().iter().enumerate() {
        if i > 0 {
            term.push(String::new());
        }
        for c in part.chars() {
            if is_query_string_space(c) {
                flush(&mut term)?;
            } else {
                term.last_mut().expect("term starts non-empty").push(c);
            }
        }
    }
    flush(&mut term)?;
    (!alternatives.is_empty()).then_some(alternatives)
}

/// `text` as it appears inside a JSON string written without optional escapes.
fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// Any branch may match, so every branch must give literals; their union is required.
fn union(branches: impl Iterator<Item = Alternatives>) -> Alternatives {
    let mut all = Vec::new();
    for branch in branches {
        all.extend(branch?);
    }
    all.sort();
    all.dedup();
    Some(all)
}

/// Every branch must match, so any branch's literals will do: take the most selective (the
/// longest shortest literal, then the fewest alternatives).
fn best(branches: impl Iterator<Item = Alternatives>) -> Alternatives {
    branches.flatten().max_by_key(|alts| {
        let shortest = alts.iter().map(Vec::len).min().unwrap_or(0);
        (shortest.min(16), std::cmp::Reverse(alts.len()))
    })
}
