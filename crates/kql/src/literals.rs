//! Required literals: byte strings a JSON line must contain for a query to match it.
//!
//! They let a scanner skip lines without decoding them. The guarantee is about lines as JSON
//! encoders write them: a string's characters appear as themselves or as one of the short
//! escapes (`\"`, `\\`, `\n`, `\t`, `\r`, `\b`, `\f`). Any other spelling needs `\u` or `\/`,
//! so [`Literals::may_match`] treats every line that holds one of those as a candidate.

use ecs::{Catalog, Copied, FieldType};
use memchr::memmem;

use crate::ast::{Expr, ExprKind, Query, Term, TermKind, ValueExpr, ValueExprKind, Wildcard};
use crate::compile::resolve;
use crate::matcher::parse_number;
use crate::text::is_query_string_space;

/// What a JSON line must hold to match the query: clauses, each a set of byte strings of which
/// at least one occurs in the line. No clause means no prefilter (every line is evaluated).
#[derive(Clone, Debug, Default)]
pub struct Literals {
    /// The most selective clause first.
    all_of: Vec<Vec<Vec<u8>>>,
    /// A searcher for each literal, built once.
    finders: Vec<Vec<memmem::Finder<'static>>>,
}

impl PartialEq for Literals {
    fn eq(&self, other: &Literals) -> bool {
        self.all_of == other.all_of
    }
}

impl Eq for Literals {}

/// Clauses kept per query: enough to tell apart events that share their most selective value
/// (`event.action:MailItemsAccessed and o365.audit.OperationCount >= 100`), few enough that
/// checking them stays far cheaper than decoding the line.
const MAX_CLAUSES: usize = 6;

impl Literals {
    /// The clauses, the most selective first; a line must hold a literal of each.
    pub fn clauses(&self) -> &[Vec<Vec<u8>>] {
        &self.all_of
    }

    /// Whether no literal could be derived.
    pub fn is_empty(&self) -> bool {
        self.all_of.is_empty()
    }

    /// Whether `line` may match: it holds a literal of every clause, or an escape (`\u`, `\/`)
    /// that could spell one differently, or there are no literals at all.
    pub fn may_match(&self, line: &[u8]) -> bool {
        self.finders.is_empty() || has_escape(line) || all_hold(&self.finders, line)
    }

    /// Whether `line` holds a literal of every clause after the first: for a prefilter that found
    /// the first clause itself (escapes are its business too).
    pub fn rest_hold(&self, line: &[u8]) -> bool {
        all_hold(self.finders.get(1..).unwrap_or_default(), line)
    }
}

/// Whether `line` holds a literal of each clause.
fn all_hold(clauses: &[Vec<memmem::Finder<'static>>], line: &[u8]) -> bool {
    clauses.iter().all(|clause| clause.iter().any(|lit| lit.find(line).is_some()))
}

/// Whether `line` holds a JSON escape that could spell a literal differently: `\u0041` for `A`,
/// `\/` for `/`. (An escaped backslash before `u` or `/` counts too, which only costs a decode.)
pub fn has_escape(line: &[u8]) -> bool {
    memchr::memchr_iter(b'\\', line).any(|at| matches!(line.get(at + 1), Some(b'u' | b'/')))
}

impl Query {
    /// The literals a JSON line must contain to match this query (see [`Literals`]).
    ///
    /// ```
    /// let query = kql::parse("event.action:\"Set-DkimSigningConfig\" and event.outcome:success")?;
    /// let literals = query.required_literals(ecs::Catalog::builtin());
    /// assert_eq!(literals.clauses(), [vec![b"Set-DkimSigningConfig".to_vec()], vec![b"success".to_vec()]]);
    /// # Ok::<(), kql::Error>(())
    /// ```
    pub fn required_literals(&self, catalog: &Catalog) -> Literals {
        self.required_literals_in(catalog, &|_| Copied::ValueAndName)
    }

    /// The literals a record must contain for the document made of it to match this query,
    /// where `copied` says how each field's text reaches the document from the record (by its
    /// path): only literals of fields copied verbatim are required, so a
    /// prefilter over the records never drops one whose document matches.
    ///
    /// ```
    /// use ecs::Copied;
    /// let query = kql::parse("event.action:\"Set-DkimSigningConfig\" and event.outcome:success")?;
    /// // `event.action` is the record's `Operation`; `event.outcome` is worked out from it.
    /// let copied = |field: &str| if field == "event.action" { Copied::Value } else { Copied::No };
    /// let literals = query.required_literals_in(ecs::Catalog::builtin(), &copied);
    /// assert_eq!(literals.clauses(), [vec![b"Set-DkimSigningConfig".to_vec()]]);
    /// # Ok::<(), kql::Error>(())
    /// ```
    pub fn required_literals_in(&self, catalog: &Catalog, copied: &dyn Fn(&str) -> Copied) -> Literals {
        let cx = Cx { catalog, copied };
        let mut clauses = self.root.as_ref().map(|e| expr_literals(e, "", &cx)).unwrap_or_default();
        clauses.sort_by_key(|found| std::cmp::Reverse(found.selectivity()));
        let mut all_of: Vec<Vec<Vec<u8>>> = Vec::new();
        for found in clauses {
            if !all_of.contains(&found.any_of) {
                all_of.push(found.any_of);
            }
        }
        all_of.truncate(MAX_CLAUSES);
        let finders = all_of
            .iter()
            .map(|clause| clause.iter().map(|lit| memmem::Finder::new(lit).into_owned()).collect())
            .collect();
        Literals { all_of, finders }
    }
}

/// A clause: literals one of which must occur, and how selective they are likely to be ([`Rank`]).
#[derive(Clone, Debug)]
struct Found {
    any_of: Vec<Vec<u8>>,
    rank: Rank,
}

impl Found {
    /// How well the clause narrows lines down: by rank, then the longest shortest literal, then
    /// the fewest alternatives.
    fn selectivity(&self) -> (Rank, usize, std::cmp::Reverse<usize>) {
        let shortest = self.any_of.iter().map(Vec::len).min().unwrap_or(0);
        (self.rank, shortest.min(16), std::cmp::Reverse(self.any_of.len()))
    }
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

/// Clauses that all hold (none: nothing is required).
type Clauses = Vec<Found>;

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

/// What literals are derived with: the field catalog, and how fields reach the searched text.
struct Cx<'a> {
    catalog: &'a Catalog,
    copied: &'a dyn Fn(&str) -> Copied,
}

fn expr_literals(expr: &Expr, prefix: &str, cx: &Cx<'_>) -> Clauses {
    match &expr.kind {
        ExprKind::Or(items) => union(items.iter().map(|e| expr_literals(e, prefix, cx))),
        ExprKind::And(items) => items.iter().flat_map(|e| expr_literals(e, prefix, cx)).collect(),
        ExprKind::Not(_) | ExprKind::Match { field: None, .. } => Vec::new(),
        ExprKind::Range { field, .. } => {
            let resolved = resolve(field, prefix, cx.catalog);
            match (resolved.targets.as_slice(), resolved.pattern) {
                ([(_, _, path)], None) => field_name(path, cx),
                _ => Vec::new(),
            }
        }
        ExprKind::Nested { field, query } => expr_literals(query, &format!("{prefix}{}.", field.text()), cx),
        ExprKind::Match { field: Some(field), value } => value_literals(field, value, prefix, cx),
    }
}

fn value_literals(field: &Term, value: &ValueExpr, prefix: &str, cx: &Cx<'_>) -> Clauses {
    match &value.kind {
        ValueExprKind::Or(items) => union(items.iter().map(|v| value_literals(field, v, prefix, cx))),
        ValueExprKind::And(items) => items.iter().flat_map(|v| value_literals(field, v, prefix, cx)).collect(),
        ValueExprKind::Not(_) => Vec::new(),
        ValueExprKind::Term(term) => {
            let resolved = resolve(field, prefix, cx.catalog);
            let [(known, _, path)] = resolved.targets.as_slice() else { return Vec::new() };
            if resolved.pattern.is_some() {
                return Vec::new();
            }
            let ty = known.as_ref().map(|f| f.ty());
            let rank = if CATEGORIZATION_FIELDS.contains(&path.as_str()) { Rank::Categorization } else { Rank::Value };
            match term_literals(ty, term) {
                // A value that may not reach the searched text as it is requires nothing there.
                Some(any_of) if !reaches(&any_of, (cx.copied)(path)) => Vec::new(),
                Some(any_of) => vec![Found { any_of, rank }],
                // Whatever the value, a field that matches is in the line: its name is a key.
                None => field_name(path, cx),
            }
        }
    }
}

/// Whether a field's literals reach the searched text as they are.
fn reaches(any_of: &[Vec<u8>], copied: Copied) -> bool {
    match copied {
        Copied::No => false,
        Copied::Value | Copied::ValueAndName => true,
        Copied::Except(written) => {
            !any_of.iter().any(|lit| written.iter().any(|w| memmem::find(w.as_bytes(), lit).is_some()))
        }
    }
}

/// A field's last name segment, which ends some key of any line where the field has a value
/// (`{"a":{"b":1}}`, `{"a.b":1}`), when the name reaches the searched text as it is.
fn field_name(path: &str, cx: &Cx<'_>) -> Clauses {
    if (cx.copied)(path) != Copied::ValueAndName {
        return Vec::new();
    }
    let last = path.rsplit('.').next().filter(|s| !s.is_empty());
    last.map(|last| Found { any_of: vec![encode(last)], rank: Rank::FieldName }).into_iter().collect()
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

/// Any branch may match, so every branch must give a clause; the union of each branch's most
/// selective clause is required (ranked as its weakest branch).
fn union(branches: impl Iterator<Item = Clauses>) -> Clauses {
    let mut all = Vec::new();
    let mut rank = Rank::Value;
    for branch in branches {
        let Some(best) = branch.into_iter().max_by_key(Found::selectivity) else { return Vec::new() };
        rank = rank.min(best.rank);
        all.extend(best.any_of);
    }
    all.sort();
    all.dedup();
    if all.is_empty() {
        return Vec::new();
    }
    vec![Found { any_of: all, rank }]
}
