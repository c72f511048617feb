//! Everything vigil says to people on stderr: errors with the text they point at.

use std::fmt::Write as _;
use std::io::{self, Write as _};

/// Renders a KQL error rustc-style: the message, `origin:line:column`, the line of the query
/// and a caret under the spot.
pub fn kql_error(query: &str, origin: &str, err: &kql::Error) -> String {
    let span = err.span();
    let (line_no, col) = span.line_col(query);
    let line = query.lines().nth(line_no - 1).unwrap_or("");
    let start = (span.start as usize).min(query.len());
    let end = (span.end as usize).clamp(start, query.len());
    let line_end = query[start..].find('\n').map_or(query.len(), |at| start + at);
    let width = query.get(start..end.min(line_end)).map_or(1, |s| s.chars().count()).max(1);
    let gutter = " ".repeat(line_no.to_string().len());
    let mut out = String::new();
    let _ = writeln!(out, "error: {err}");
    let _ = writeln!(out, "{gutter}--> {origin}:{line_no}:{col}");
    let _ = writeln!(out, "{gutter} |");
    let _ = writeln!(out, "{line_no} | {line}");
    let _ = writeln!(out, "{gutter} | {}{} {}", " ".repeat(col - 1), "^".repeat(width), err.label());
    if let Some(help) = err.help() {
        let _ = writeln!(out, "{gutter} = help: {help}");
    }
    out
}

/// Prints a KQL error for `query` to stderr.
#[allow(clippy::print_stderr)]
pub fn print_kql_error(query: &str, err: &kql::Error) {
    eprint!("{}", kql_error(query, "query", err));
}

/// Prints a rule-loading problem rustc-style: `file:line:col: error: message`, the line, a caret.
#[allow(clippy::print_stderr)]
pub fn print_diagnostic(diagnostic: &rules::Diagnostic, color: bool) {
    let style = match (color, diagnostic.is_error()) {
        (false, _) => anstyle::Style::new(),
        (true, true) => anstyle::AnsiColor::Red.on_default().bold(),
        (true, false) => anstyle::AnsiColor::Yellow.on_default().bold(),
    };
    let mut out = format!("{style}{diagnostic}{style:#}\n");
    if let Some(snippet) = &diagnostic.snippet {
        let gutter = if diagnostic.line > 0 { diagnostic.line.to_string() } else { String::new() };
        let pad = " ".repeat(gutter.len());
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{gutter} | {}", snippet.text);
        let _ = writeln!(
            out,
            "{pad} | {}{style}{}{style:#}",
            " ".repeat(snippet.column.saturating_sub(1)),
            "^".repeat(snippet.width)
        );
    }
    eprint!("{out}");
}

/// Prints a warning about one input line (`file:line: message`) to stderr.
#[allow(clippy::print_stderr)]
pub fn line_warning(origin: &str, line: u64, message: &dyn std::fmt::Display) {
    eprintln!("{origin}:{line}: {message}");
}

/// Prints a note to stderr.
#[allow(clippy::print_stderr)]
pub fn note(message: &dyn std::fmt::Display) {
    eprintln!("{message}");
}

/// Prints an error that stopped a command, with its causes.
#[allow(clippy::print_stderr)]
pub fn error(err: &anyhow::Error) {
    let mut stderr = io::stderr().lock();
    let _ = write!(stderr, "error: {err}");
    for cause in err.chain().skip(1) {
        let _ = write!(stderr, ": {cause}");
    }
    let _ = writeln!(stderr);
}

/// Whether the error is stdout closing early (`vigil ... | head`), which is not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe))
}

#[cfg(test)]
mod tests {
    #[test]
    fn caret_points_at_the_error() {
        let query = "event.action:\"Set-DkimSigningConfig\" and\n  o365.audit.Parameters.Enabled:(False or";
        let err = kql::parse(query).unwrap_err();
        let rendered = super::kql_error(query, "rule.toml", &err);
        assert_eq!(
            rendered,
            "error: expected `and`, `or` or `)`, found end of query\n --> rule.toml:2:42\n  |\n2 |   o365.audit.Parameters.Enabled:(False or\n  |                                          ^ here\n"
        );
    }
}
