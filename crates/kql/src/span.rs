//! Byte ranges into the query text, and errors shown under them.

/// A byte range `start..end` into the text a [`Query`](crate::Query) was parsed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span { start: clamp(start), end: clamp(end) }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// The 1-based line and column (in characters) where this span starts in `text`.
    pub fn line_col(self, text: &str) -> (usize, usize) {
        let start = (self.start as usize).min(text.len());
        let before = text.get(..start).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// Renders an error about this span rustc-style, for people: `error: {message}`,
    /// `origin:line:column`, the line of `text` it is on with carets under the span and `label`
    /// beside them, and `help` when there is some. Shared by the query languages.
    pub fn snippet(self, text: &str, origin: &str, message: &str, label: &str, help: Option<&str>) -> String {
        let (line_no, col) = self.line_col(text);
        let line = text.lines().nth(line_no - 1).unwrap_or("");
        let start = (self.start as usize).min(text.len());
        let end = (self.end as usize).clamp(start, text.len());
        let line_end = text[start..].find('\n').map_or(text.len(), |at| start + at);
        let width = text.get(start..end.min(line_end)).map_or(1, |s| s.chars().count()).max(1);
        let gutter = " ".repeat(line_no.to_string().len());
        let mut out =
            format!("error: {message}\n{gutter}--> {origin}:{line_no}:{col}\n{gutter} |\n{line_no} | {line}\n");
        out.push_str(&format!("{gutter} | {}{} {label}\n", " ".repeat(col - 1), "^".repeat(width)));
        if let Some(help) = help {
            out.push_str(&format!("{gutter} = help: {help}\n"));
        }
        out
    }
}
