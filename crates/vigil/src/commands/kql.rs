//! `vigil kql parse|dsl|match|explain`.

use std::borrow::Cow;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use ecs::{Catalog, Document, Projection};
use engine::source::{self, Record};
use indicatif::ProgressBar;
use kql::{Explanation, Query};

use crate::cli::{ExplainArgs, KqlCommand, MatchArgs};
use crate::exit::Exit;
use crate::input;
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
    let mut out = BufWriter::new(io::stdout().lock());
    let (mut matched, mut bad_lines, mut unreadable) = (0u64, 0u64, false);
    let stdin_only = [PathBuf::from("-")];
    let files = if args.files.is_empty() { &stdin_only[..] } else { &args.files[..] };
    for file in files {
        let name = if file.as_os_str() == "-" { "<stdin>".to_owned() } else { file.display().to_string() };
        let reader = match input::open(file, &ProgressBar::hidden()) {
            Ok(reader) => reader,
            Err(err) => {
                report::note(&format!("error: {name}: {err}"));
                unreadable = true;
                continue;
            }
        };
        let result = source::read_records(reader, |record| {
            let (is_match, text) = match record {
                // Lines that cannot hold a match are skipped unread, unless they are garbled.
                Record::Line(line, _) if ecs::looks_whole(line) && !literals.may_match(line) => return Ok(true),
                Record::Line(line, n) => match projection
                    .as_ref()
                    .map_or_else(|| Document::parse_bytes(line), |p| Document::parse_projected(line, p))
                {
                    Ok(doc) => (matcher.matches(&doc), Cow::Borrowed(line)),
                    Err(err) => {
                        bad_lines += 1;
                        if bad_lines <= REPORTED_BAD_LINES {
                            report::line_warning(&name, n, &err);
                        }
                        return Ok(true);
                    }
                },
                Record::Event(value, _) => (matcher.matches_value(&value), Cow::Owned(value.to_string().into_bytes())),
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
        report::note(&format!("{} more lines were not valid JSON and were skipped", bad_lines - REPORTED_BAD_LINES));
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
    let text = if args.document == "-" {
        let mut text = String::new();
        io::stdin().read_to_string(&mut text).context("reading the document from standard input")?;
        text
    } else {
        args.document.clone()
    };
    let doc = Document::parse(text.trim()).context("the document")?;
    let explanation = matcher.explain(&doc);
    let mut out = io::stdout().lock();
    write_explanation(&mut out, &explanation, 0)?;
    Ok(if explanation.held { Exit::Success } else { Exit::No })
}

fn write_explanation(out: &mut impl Write, e: &Explanation, depth: usize) -> io::Result<()> {
    let mark = if e.held { "held  " } else { "failed" };
    let clause = if e.clause.is_empty() { "(empty query)" } else { &e.clause };
    writeln!(out, "{}{mark} {clause}", "  ".repeat(depth))?;
    writeln!(out, "{}       {}", "  ".repeat(depth), e.reason)?;
    for child in &e.children {
        write_explanation(out, child, depth + 1)?;
    }
    Ok(())
}
