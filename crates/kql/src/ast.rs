//! The syntax tree of a KQL query, with a span on every node.
//!
//! The tree keeps what the user wrote (value lists, quoting, wildcards) so that the canonical
//! printer can give it back; [`Query::compile`](crate::Query::compile) gives it types.

use crate::span::Span;

/// A parsed KQL query. An empty (or blank) query matches every document.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub(crate) root: Option<Expr>,
}

impl Query {
    /// The top expression, or `None` for an empty query.
    pub fn root(&self) -> Option<&Expr> {
        self.root.as_ref()
    }

    /// A query from its top expression (`None` matches everything).
    pub fn from_root(root: Option<Expr>) -> Query {
        Query { root }
    }

    /// Whether matching may read any field of a document: free text, or a wildcard field name.
    pub fn reads_any_field(&self) -> bool {
        fn wild(term: &Term) -> bool {
            matches!(term.kind, TermKind::Wildcard(_))
        }
        fn walk(expr: &Expr) -> bool {
            match &expr.kind {
                ExprKind::Or(items) | ExprKind::And(items) => items.iter().any(walk),
                ExprKind::Not(inner) => walk(inner),
                ExprKind::Nested { field, query } => wild(field) || walk(query),
                ExprKind::Range { field, .. } | ExprKind::Match { field: Some(field), .. } => wild(field),
                ExprKind::Match { field: None, .. } => true,
            }
        }
        self.root.as_ref().is_some_and(walk)
    }

    /// Every field name the query reads, as full dotted paths, sorted and without repeats;
    /// a nested query contributes its own field and the fields inside it.
    pub fn field_names(&self) -> Vec<String> {
        fn walk(expr: &Expr, prefix: &str, out: &mut Vec<String>) {
            match &expr.kind {
                ExprKind::Or(items) | ExprKind::And(items) => items.iter().for_each(|e| walk(e, prefix, out)),
                ExprKind::Not(inner) => walk(inner, prefix, out),
                ExprKind::Nested { field, query } => {
                    let path = format!("{prefix}{}", field.text());
                    walk(query, &format!("{path}."), out);
                    out.push(path);
                }
                ExprKind::Range { field, .. } | ExprKind::Match { field: Some(field), .. } => {
                    out.push(format!("{prefix}{}", field.text()));
                }
                ExprKind::Match { field: None, .. } => {}
            }
        }
        let mut names = Vec::new();
        if let Some(root) = &self.root {
            walk(root, "", &mut names);
        }
        names.sort();
        names.dedup();
        names
    }
}

/// A boolean expression over documents.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is in the query text.
    pub span: Span,
}

/// The kinds of [`Expr`].
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `a or b or ...` (two or more).
    Or(Vec<Expr>),
    /// `a and b and ...` (two or more).
    And(Vec<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// `field:{ query }`: one object of `field` satisfies `query` (fields inside are relative).
    Nested {
        /// The nested field.
        field: Term,
        /// The query each object is tested with.
        query: Box<Expr>,
    },
    /// `field < value` and the other comparisons.
    Range {
        /// The field compared.
        field: Term,
        /// The comparison.
        op: RangeOp,
        /// The bound.
        value: Term,
    },
    /// `field:value`, `field:(a or b)`, or free text (`value` with no field).
    Match {
        /// The field, or `None` for free text searched in every field.
        field: Option<Term>,
        /// The value or value list.
        value: ValueExpr,
    },
}

/// The comparison of a range expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOp {
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
}

impl RangeOp {
    /// The operator as written in KQL.
    pub fn as_str(self) -> &'static str {
        match self {
            RangeOp::Lt => "<",
            RangeOp::Lte => "<=",
            RangeOp::Gt => ">",
            RangeOp::Gte => ">=",
        }
    }

    /// The Query DSL range key (`lt`, `lte`, `gt`, `gte`).
    pub fn dsl_key(self) -> &'static str {
        match self {
            RangeOp::Lt => "lt",
            RangeOp::Lte => "lte",
            RangeOp::Gt => "gt",
            RangeOp::Gte => "gte",
        }
    }
}

/// The value side of `field:...`: one value or a boolean list of them.
#[derive(Clone, Debug)]
pub struct ValueExpr {
    /// What the value expression is.
    pub kind: ValueExprKind,
    /// Where it is in the query text.
    pub span: Span,
}

/// The kinds of [`ValueExpr`].
#[derive(Clone, Debug, PartialEq)]
pub enum ValueExprKind {
    /// `(a or b or ...)`
    Or(Vec<ValueExpr>),
    /// `(a and b and ...)`
    And(Vec<ValueExpr>),
    /// `not a`
    Not(Box<ValueExpr>),
    /// A single value.
    Term(Term),
}

/// A field name or value as written: quoted, unquoted, or with `*` wildcards.
#[derive(Clone, Debug)]
pub struct Term {
    /// What the term is.
    pub kind: TermKind,
    /// Where it is in the query text.
    pub span: Span,
}

/// The kinds of [`Term`]; text is unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TermKind {
    /// `"quoted text"`: a phrase; `*` inside is literal.
    Quoted(String),
    /// Unquoted text with no wildcard (`true`, `false` and `null` are still text here).
    Unquoted(String),
    /// Unquoted text with at least one `*` wildcard.
    Wildcard(Wildcard),
}

/// An unquoted pattern: literal parts with a `*` (any characters) between each two.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wildcard {
    parts: Vec<String>,
}

impl Wildcard {
    /// A pattern from its literal parts; `["", ""]` is the lone `*`.
    ///
    /// Fewer than two parts means no wildcard at all; such a pattern matches its one part.
    pub fn new(parts: Vec<String>) -> Wildcard {
        Wildcard { parts }
    }

    /// The literal text between the wildcards.
    pub fn parts(&self) -> &[String] {
        &self.parts
    }

    /// Whether this is the lone `*` (which tests that a field exists).
    pub fn is_lone_star(&self) -> bool {
        self.parts.len() == 2 && self.parts.iter().all(String::is_empty)
    }

    /// Whether `text` matches the whole pattern (`*` matches any characters, newlines too).
    pub fn matches(&self, text: &str) -> bool {
        let Some((first, rest)) = self.parts.split_first() else { return text.is_empty() };
        let Some((last, middle)) = rest.split_last() else { return text == first };
        let Some(mut text) = text.strip_prefix(first.as_str()) else { return false };
        for part in middle {
            match text.find(part.as_str()) {
                Some(at) => text = &text[at + part.len()..],
                None => return false,
            }
        }
        text.len() >= last.len() && text.ends_with(last.as_str())
    }

    /// The pattern with `*` between the parts, without escaping.
    pub fn to_plain(&self) -> String {
        self.parts.join("*")
    }
}

impl Term {
    /// The term's text: unescaped for literals, with `*` for wildcards.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match &self.kind {
            TermKind::Quoted(s) | TermKind::Unquoted(s) => s.into(),
            TermKind::Wildcard(w) => w.to_plain().into(),
        }
    }

    /// Whether the term was written in double quotes.
    pub fn is_quoted(&self) -> bool {
        matches!(self.kind, TermKind::Quoted(_))
    }
}

// Spans are where a node was written, not what it means: queries compare by structure, so that
// `parse(print(q)) == q` holds although printing moves things around.
impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        self.kind == other.kind
    }
}

impl PartialEq for ValueExpr {
    fn eq(&self, other: &ValueExpr) -> bool {
        self.kind == other.kind
    }
}

impl PartialEq for Term {
    fn eq(&self, other: &Term) -> bool {
        self.kind == other.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(parts: &[&str]) -> Wildcard {
        Wildcard::new(parts.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn wildcard_matches_whole_values() {
        assert!(pattern(&["", ""]).matches(""));
        assert!(pattern(&["hel", ""]).matches("hello"));
        assert!(!pattern(&["hel", ""]).matches("HELLO"));
        assert!(pattern(&["a", "b"]).matches("a\nb"));
        assert!(pattern(&["", "ab", "ab"]).matches("xabab"));
        assert!(!pattern(&["aa", "aa"]).matches("aaa"));
        assert!(pattern(&["", "S3 Browser", ""]).matches("xx S3 Browser yy"));
    }
}
