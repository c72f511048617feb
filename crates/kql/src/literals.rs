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
        let any_of =
            self.root.as_ref().and_then(|e| expr_literals(e, "", catalog)).map(|f| f.any_of).unwrap_or_default();
        Literals { any_of }
    }
}

/// Literals one of which must occur, and how selective they are likely to be ([`Rank`]).
#[derive(Clone, Debug)]
struct Found {
    any_of: Vec<Vec<u8>>,
    rank: Rank,
}

/// How much a literal narrows the lines down, from least to most. Values of fields that sort
/// events into kinds (`event.dataset:o365.audit`) occur in most lines of an index, and field
/// names in more; a prefilter on them skips little, so they are chosen only when nothing better is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    FieldName,
    Categorization,
    Value,
}

type Alternatives = Option<Found>;

/// Fields whose values are shared by most events of a data stream.
const CATEGORIZATION_FIELDS: &[&str] = &[
    "data_stream.dataset",
    "data_stream.namespace",
    "data_stream.type",
    "event.agent_id_status",
    "event.category",
    "event.dataset",
    "event.kind",
    "event.module",
    "event.outcome",
    "event.provider",
    "event.type",
    "host.os.family",
    "host.os.platform",
    "host.os.type",
    "cloud.provider",
    "ecs.version",
    "input.type",
    "agent.type",
];

fn expr_literals(expr: &Expr, prefix: &str, catalog: &Catalog) -> Alternatives {
    match &expr.kind {
        ExprKind::Or(items) => union(items.iter().map(|e| expr_literals(e, prefix, catalog))),
        ExprKind::And(items) => best(items.iter().map(|e| expr_literals(e, prefix, catalog))),
        ExprKind::Not(_) | ExprKind::Match { field: None, .. } => None,
        ExprKind::Range { field, .. } => {
            let resolved = resolve(field, prefix, catalog);
            match (resolved.targets.as_slice(), resolved.pattern) {
                ([(_, _, path)], None) => field_name(path),
                _ => None,
            }
        }
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
            let rank = if CATEGORIZATION_FIELDS.contains(&path.as_str()) { Rank::Categorization } else { Rank::Value };
            match term_literals(ty, term) {
                Some(any_of) => Some(Found { any_of, rank }),
                // Whatever the value, a field that matches is in the line: its name is a key.
                None => field_name(path),
            }
        }
    }
}

/// A field's last name segment, which ends some key of any line where the field has a value
/// (`{"a":{"b":1}}`, `{"a.b":1}`).
fn field_name(path: &str) -> Alternatives {
    let last = path.rsplit('.').next().filter(|s| !s.is_empty())?;
    Some(Found { any_of: vec![encode(last)], rank: Rank::FieldName })
}

/// The values one of which must occur for one value of a field of type `ty` (`None`: unmapped).
fn term_literals(ty: Option<FieldType>, term: &Term) -> Option<Vec<Vec<u8>>> {
    match &term.kind {
        TermKind::Wildcard(w) if w.is_lone_star() => None,
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
fn wildcard_literals(pattern: &Wildcard) -> Option<Vec<Vec<u8>>> {
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

/// Any branch may match, so every branch must give literals; their union is required (ranked as
/// its weakest branch).
fn union(branches: impl Iterator<Item = Alternatives>) -> Alternatives {
    let mut all = Vec::new();
    let mut rank = Rank::Value;
    for branch in branches {
        let branch = branch?;
        rank = rank.min(branch.rank);
        all.extend(branch.any_of);
    }
    all.sort();
    all.dedup();
    Some(Found { any_of: all, rank })
}

/// Every branch must match, so any branch's literals will do: take the most selective (by rank,
/// then the longest shortest literal, then the fewest alternatives).
fn best(branches: impl Iterator<Item = Alternatives>) -> Alternatives {
    branches.flatten().max_by_key(|found| {
        let shortest = found.any_of.iter().map(Vec::len).min().unwrap_or(0);
        (found.rank, shortest.min(16), std::cmp::Reverse(found.any_of.len()))
    })
}
