//! Everything vigil says to people on stderr: errors with the text they point at.

use std::fmt::Write as _;
use std::io::{self, Write as _};

/// Prints a KQL error for `query` to stderr.
#[allow(clippy::print_stderr)]
pub fn print_kql_error(query: &str, err: &kql::Error) {
    eprint!("{}", err.snippet(query, "query"));
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
    err.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind)
                == Some(io::ErrorKind::BrokenPipe)
    })
}

/// Shows the first admin key of a fresh install, once.
#[allow(clippy::print_stderr)]
pub fn first_admin_key(token: &str) {
    eprintln!(
        "vigil: made the first admin key; it is shown this once, keep it safe:\n\n    {token}\n\n\
         Send it as `Authorization: ApiKey <key>` (or set VIGIL_API_KEY for vigil's own commands);\n\
         make keys for shippers and analysts with `vigil keys create --role ingest|analyst|admin`.\n"
    );
}
