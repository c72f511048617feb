//! `vigil kql parse|dsl|match|explain`.

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use ecs::{Catalog, Document, Projection};
use engine::pipeline::{SourceRecord, read_source};
use engine::{Events, Format, RecordError};
use indicatif::ProgressBar;
use kql::{Explanation, Query};
use serde_json::Value;

use crate::cli::{ExplainArgs, KqlCommand, MatchArgs};
use crate::exit::Exit;
use crate::input;
use crate::numbers::{count, thousands};
use crate::report;

/// Invalid input lines reported one by one before the rest are only counted.
const REPORTED_BAD_LINES: u64 = 20;

/// Runs one `vigil kql` subcommand.
pub fn run(command: KqlCommand) -> anyhow::Result<Exit> {
    match command {
        KqlCommand::Parse(args) => parse(&args.query),
        KqlCommand::Dsl(args) => dsl(&args.query),
        KqlCommand::Match(args) => matches(&args),
        KqlCommand::Explain(args) => explain(&args),
    }
}

/// Parses the query, or reports why not and answers "no".
fn parse_query(text: &str) -> Result<Query, Exit> {
    kql::parse(text).map_err(|err| {
        report::print_kql_error(text, &err);
        Exit::No
    })
}

fn parse(text: &str) -> anyhow::Result<Exit> {
    let query = match parse_query(text) {
        Ok(query) => query,
        Err(exit) => return Ok(exit),
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{query}")?;
    Ok(Exit::Success)
}

fn dsl(text: &str) -> anyhow::Result<Exit> {
    let query = match parse_query(text) {
        Ok(query) => query,
        Err(exit) => return Ok(exit),
    };
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &query.to_dsl(Catalog::builtin()))?;
    writeln!(out)?;
    Ok(Exit::Success)
}

fn matches(args: &MatchArgs) -> anyhow::Result<Exit> {
    let query = match parse_query(&args.query) {
        Ok(query) => query,
        Err(exit) => return Ok(exit),
    };
    let catalog = Catalog::builtin();
    let matcher = match query.compile(catalog) {
        Ok(matcher) => matcher,
        Err(err) => {
            report::print_kql_error(&args.query, &err);
            return Ok(Exit::No);
        }
    };
    let literals = query.required_literals(catalog);
    // Only the fields the query reads are decoded; the line itself is what gets printed.
    let projection =
        (!query.reads_any_field()).then(|| Projection::new(query.field_names().iter().map(String::as_str)));
    let events = Events::for_scan();
    let mut out = BufWriter::new(io::stdout().lock());
    let (mut matched, mut bad_lines, mut unreadable) = (0u64, 0u64, false);
    for file in input::files(&args.files, None, false)? {
        let name = if file.as_os_str() == "-" { "<stdin>".to_owned() } else { file.display().to_string() };
        let reader = match input::open(&file, &ProgressBar::hidden()) {
            Ok(reader) => reader,
            Err(err) => {
                report::note(&format!("error: {name}: {err}"));
                unreadable = true;
                continue;
            }
        };
        let mut bad = |n: u64, err: &dyn std::fmt::Display| {
            bad_lines += 1;
            if bad_lines <= REPORTED_BAD_LINES {
                report::line_warning(&name, n, err);
            }
        };
        let result = read_source(reader, |format, record| {
            let (is_match, text) = match (format, record) {
                // Lines that cannot hold a match are skipped unread, unless they are garbled.
                (Format::Ecs, SourceRecord::Line(line, _)) if ecs::looks_whole(line) && !literals.may_match(line) => {
                    return Ok(true);
                }
                (Format::Ecs, SourceRecord::Line(line, n)) => match projection
                    .as_ref()
                    .map_or_else(|| Document::parse_bytes(line), |p| Document::parse_projected(line, p))
                {
                    Ok(doc) => (matcher.matches(&doc), Cow::Borrowed(line)),
                    Err(err) => {
                        bad(n, &err);
                        return Ok(true);
                    }
                },
                (format, record) => match event(&events, format, record) {
                    (_, Ok(value)) => (matcher.matches_value(&value), Cow::Owned(value.to_string().into_bytes())),
                    (n, Err(err)) => {
                        bad(n, &err);
                        return Ok(true);
                    }
                },
            };
            if is_match {
                matched += 1;
                if !args.count {
                    out.write_all(&text)?;
                    out.write_all(b"\n")?;
                }
            }
            Ok(true)
        });
        if let Err(err) = result {
            if err.kind() == io::ErrorKind::BrokenPipe {
                return Err(err.into());
            }
            report::note(&format!("error: {name}: {err}"));
            unreadable = true;
        }
    }
    if bad_lines > REPORTED_BAD_LINES {
        report::note(&format!("{} more records could not be read and were skipped", bad_lines - REPORTED_BAD_LINES));
    }
    if args.count {
        writeln!(out, "{matched}")?;
    }
    out.flush()?;
    Ok(if unreadable {
        Exit::Trouble
    } else if matched > 0 {
        Exit::Success
    } else {
        Exit::No
    })
}

/// The event a record of a source is: decoded, and normalized when the source holds raw Office
/// 365 records; or its position and why not.
pub fn event(events: &Events, format: Format, record: SourceRecord<'_>) -> (u64, Result<Value, RecordError>) {
    let (n, value) = match record {
        SourceRecord::Line(line, n) => {
            (n, Document::parse_bytes(line).map(Document::into_root).map_err(|e| RecordError::Json(e.to_string())))
        }
        SourceRecord::Value(n, value) => (n, value),
    };
    (n, value.and_then(|v| events.event(v, format)))
}

fn explain(args: &ExplainArgs) -> anyhow::Result<Exit> {
    let query = match parse_query(&args.query) {
        Ok(query) => query,
        Err(exit) => return Ok(exit),
    };
    let matcher = match query.compile(Catalog::builtin()) {
        Ok(matcher) => matcher,
        Err(err) => {
            report::print_kql_error(&args.query, &err);
            return Ok(Exit::No);
        }
    };
    let path = PathBuf::from(&args.document);
    let mut out = io::stdout().lock();
    let held = if args.document == "-" || (!args.document.trim_start().starts_with(['{', '[']) && path.exists()) {
        explain_file(&mut out, &path, &mut |_, value| vec![matcher.explain(&Document::new(value))])?
    } else {
        let doc = Document::parse(args.document.trim())
            .context("the document (JSON text, a file, or - for standard input)")?;
        let explanation = matcher.explain(&doc);
        write_explanation(&mut out, &explanation, 0)?;
        explanation.held
    };
    Ok(if held { Exit::Success } else { Exit::No })
}

/// Explains every event of `path` (any input `scan` reads, `-` for standard input; raw Office
/// 365 records normalized) with `explain` (given its line and document; an EQL sequence explains
/// each of its terms), each under its `file:line`; whether any matched.
pub fn explain_file(
    out: &mut dyn Write,
    path: &Path,
    explain: &mut dyn FnMut(u64, Value) -> Vec<Explanation>,
) -> anyhow::Result<bool> {
    let name = if path.as_os_str() == "-" { "<stdin>".to_owned() } else { path.display().to_string() };
    let reader = input::open(path, &ProgressBar::hidden()).with_context(|| name.clone())?;
    let events = Events::for_scan();
    let (mut held, mut total, mut matched) = (false, 0u64, 0u64);
    read_source(reader, |format, record| {
        match event(&events, format, record) {
            (n, Ok(value)) => {
                total += 1;
                let time = match value.get("@timestamp").and_then(|t| t.as_str()) {
                    Some(time) => format!(" ({time})"),
                    None => String::new(),
                };
                let explanations = explain(n, value);
                let this = explanations.iter().any(|e| e.held);
                matched += u64::from(this);
                held |= this;
                let verdict = if this { "matches" } else { "does not match" };
                writeln!(out, "{name}:{n}: {verdict}{time}")?;
                for explanation in &explanations {
                    write_explanation(out, explanation, 1)?;
                }
            }
            (n, Err(err)) => report::line_warning(&name, n, &err),
        }
        Ok(true)
    })
    .with_context(|| name.clone())?;
    writeln!(out, "{} of {} matched", thousands(matched), count(total, "event"))?;
    Ok(held)
}
fn write_explanation(out: &mut dyn Write, e: &Explanation, depth: usize) -> io::Result<()> {
    let mark = if e.held { "held  " } else { "failed" };
    let clause = if e.clause.is_empty() { "(empty query)" } else { &e.clause };
    writeln!(out, "{}{mark} {clause}", "  ".repeat(depth))?;
    writeln!(out, "{}       {}", "  ".repeat(depth), e.reason)?;
    for child in &e.children {
        write_explanation(out, child, depth + 1)?;
    }
    Ok(())
}
