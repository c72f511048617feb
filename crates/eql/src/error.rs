//! Errors: what went wrong, and where in the query.

use kql::Span;

/// An EQL error: its [`ErrorKind`] and the [`Span`] of the query text it is about.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    kind: ErrorKind,
    span: Span,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, span: Span) -> Error {
        Error { kind, span }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Where in the query text.
    pub fn span(&self) -> Span {
        self.span
    }

    /// Advice for fixing the query, when there is some.
    pub fn help(&self) -> Option<&'static str> {
        match &self.kind {
            ErrorKind::Syntax { found, .. } if found == "`=`" => {
                Some("compare with `==` (case-sensitive) or `:` (not)")
            }
            ErrorKind::Syntax { found, .. } if found.starts_with("`'") => {
                Some("strings are in double quotes (\"...\"), or raw in three (\"\"\"...\"\"\")")
            }
            ErrorKind::Syntax { expected, .. } if expected.contains(&"a term `[...]`") => {
                Some("a sequence or sample needs at least two bracketed terms")
            }
            ErrorKind::TooDeep { .. } => Some("split the query, or remove parentheses that group a single clause"),
            _ => None,
        }
    }

    /// Renders the error rustc-style for people: the message, `origin:line:column`, the line
    /// of `query` it is on and a caret under the spot, and advice when there is some.
    pub fn snippet(&self, query: &str, origin: &str) -> String {
        self.span.snippet(query, origin, &self.to_string(), self.label(), self.help())
    }

    /// A short label for the spot the span points at (shown under the caret).
    pub fn label(&self) -> &'static str {
        match self.kind {
            ErrorKind::Syntax { .. } => "here",
            ErrorKind::Invalid(_) => "this",
            ErrorKind::TooDeep { .. } => "too deep from here",
            ErrorKind::TooLong { .. } => "query starts here",
        }
    }
}

/// The kinds of [`Error`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not EQL.
    #[error("expected {}, found {found}", list(expected))]
    Syntax {
        /// What would have been valid at that spot.
        expected: Vec<&'static str>,
        /// What was there instead.
        found: String,
    },
    /// Well-formed, but not something Elasticsearch accepts (a bad escape, a number out of
    /// range, `maxspan` without a unit, ...).
    #[error("{0}")]
    Invalid(String),
    /// Parentheses go deeper than the parser allows.
    #[error("the query nests deeper than {limit} levels")]
    TooDeep {
        /// The deepest nesting allowed.
        limit: usize,
    },
    /// The query is longer than the parser accepts.
    #[error("the query is {len} bytes long; the limit is {limit}")]
    TooLong {
        /// The query's length in bytes.
        len: usize,
        /// The longest query accepted.
        limit: usize,
    },
}

fn list(items: &[&str]) -> String {
    match items {
        [] => "something else".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
