//! Problems found while loading rules, with the place in the file they are about.

use std::fmt;
use std::path::PathBuf;

/// How serious a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Worth knowing; the rule still loads.
    Warning,
    /// The rule (or file) does not load.
    Error,
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(String),
    /// The TOML or JSON does not parse.
    #[error("{0}")]
    Syntax(String),
    /// A detection-rules file without a `[rule]` table.
    #[error("no [rule] table: this is not a rule file")]
    NotARule,
    /// A required field is absent.
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    /// A field has the wrong kind of value.
    #[error("`{key}` must be {expected}")]
    WrongType {
        /// The field.
        key: String,
        /// What it must be, e.g. "a string".
        expected: &'static str,
    },
    /// Any other invalid value, explained.
    #[error("{0}")]
    Invalid(String),
    /// The query does not parse or compile.
    #[error("{0}")]
    Kql(kql::Error),
    /// The EQL query does not parse, or Elasticsearch would refuse it.
    #[error("{0}")]
    Eql(eql::Error),
    /// A key Elastic's rule schema does not have.
    #[error("unknown key `{key}` in [{table}]")]
    UnknownKey {
        /// `rule` or `metadata`.
        table: String,
        /// The key.
        key: String,
    },
}

/// A problem at a place: `file:line:column: message`, with the line for a caret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub level: Level,
    /// What is wrong.
    pub problem: Problem,
    /// The file (or `built-in:<name>`).
    pub file: PathBuf,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column in characters, 0 when unknown.
    pub column: usize,
    /// The text to show under the message, with the spot to underline.
    pub snippet: Option<Snippet>,
}

/// A line of text with a spot in it, for a caret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snippet {
    /// The line.
    pub text: String,
    /// 1-based column (in characters) of the spot.
    pub column: usize,
    /// How many characters the spot spans (at least 1).
    pub width: usize,
}

impl Diagnostic {
    /// Whether the problem stops the rule from loading.
    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: error: message` (line and column when known).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        let level = if self.is_error() { "error" } else { "warning" };
        write!(f, ": {level}: {}", self.problem)
    }
}

/// Text with line lookups, for turning byte offsets into places.
pub(crate) struct Source<'t> {
    pub(crate) path: PathBuf,
    pub(crate) text: &'t str,
}

impl Source<'_> {
    /// A diagnostic about the bytes `span` of the text (`None`: the whole file, line 0).
    pub(crate) fn diagnostic(
        &self,
        level: Level,
        problem: Problem,
        span: Option<std::ops::Range<usize>>,
    ) -> Diagnostic {
        let Some(span) = span else {
            return Diagnostic { level, problem, file: self.path.clone(), line: 0, column: 0, snippet: None };
        };
        // Spans from the TOML reader may end inside a character; snap them to its start.
        let boundary =
            |at: usize| (0..=at.min(self.text.len())).rev().find(|&i| self.text.is_char_boundary(i)).unwrap_or(0);
        let start = boundary(span.start);
        let before = &self.text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        let line_end = self.text[start..].find('\n').map_or(self.text.len(), |at| start + at);
        let column = self.text[line_start..start].chars().count() + 1;
        let end = boundary(span.end).clamp(start, line_end);
        let width = self.text[start..end].chars().count().max(1);
        let text = self.text[line_start..line_end].trim_end_matches('\r').to_owned();
        let snippet = Some(Snippet { text, column, width });
        Diagnostic { level, problem, file: self.path.clone(), line, column, snippet }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing (`fuzz/rule_toml`): a span ending inside a four-byte character panicked.
    #[test]
    fn spans_inside_a_character_snap_to_its_start() {
        let text = "name = \"\u{2449a}x\"\n";
        let source = Source { path: PathBuf::from("rule.toml"), text };
        let inside = text.find('\u{2449a}').expect("there") + 1;
        let diagnostic = source.diagnostic(Level::Error, Problem::Io("bad".into()), Some(inside..inside + 2));
        assert_eq!((diagnostic.line, diagnostic.column), (1, 9));
    }
}
