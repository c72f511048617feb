//! Errors: what went wrong, and where in the query.

use crate::span::Span;

/// A KQL error: its [`ErrorKind`] and the [`Span`] of the query text it is about.
///
/// The error does not hold the query text; whoever holds it renders the error (line, column and
/// a caret), e.g. with [`Span::line_col`].
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
            ErrorKind::Syntax { found, .. }
                if ["`and`", "`or`", "`not`"].iter().any(|k| k.eq_ignore_ascii_case(found)) =>
            {
                Some(
                    "`and` and `or` between spaces, and `not` before a space, are keywords even inside a value; quote the value (\"...\") or escape the word (\\and, \\or, \\Not)",
                )
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
            ErrorKind::TooDeep { .. } => "too deep from here",
            ErrorKind::TooLong { .. } => "query starts here",
            ErrorKind::InvalidValue { .. } => "this value",
            ErrorKind::NotNested { .. } => "this field",
        }
    }
}

/// The kinds of [`Error`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not KQL.
    #[error("expected {}, found {found}", list(expected))]
    Syntax {
        /// What would have been valid at that spot.
        expected: Vec<&'static str>,
        /// What was there instead.
        found: String,
    },
    /// Parentheses or nested queries go deeper than the parser allows.
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
    /// A value that the field's type cannot hold (Elasticsearch would reject the query).
    #[error("{value} is not {expected}, which field `{field}` ({ty}) needs")]
    InvalidValue {
        /// The field.
        field: String,
        /// The field's type.
        ty: &'static str,
        /// The value, as written (quoted for display).
        value: String,
        /// What the type accepts, e.g. "a number".
        expected: &'static str,
    },
    /// `field:{...}` on a field that is known not to be an object.
    #[error("`{field}` is a {ty} field, so it cannot hold a nested query")]
    NotNested {
        /// The field.
        field: String,
        /// Its type.
        ty: &'static str,
    },
}

fn list(items: &[&str]) -> String {
    match items {
        [] => "something else".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn snippets_point_a_caret_at_the_error() {
        let query = "event.action:\"Set-DkimSigningConfig\" and\n  o365.audit.Parameters.Enabled:(False or";
        let err = crate::parse(query).expect_err("unfinished");
        assert_eq!(
            err.snippet(query, "rule.toml"),
            "error: expected `and`, `or` or `)`, found end of query\n --> rule.toml:2:42\n  |\n2 |   o365.audit.Parameters.Enabled:(False or\n  |                                          ^ here\n"
        );
    }
}
