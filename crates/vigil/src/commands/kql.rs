//! `vigil kql parse|dsl|match|explain`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use anyhow::Context;
use ecs::{Catalog, Document};
use kql::{Explanation, Query};

use crate::cli::{ExplainArgs, KqlCommand, MatchArgs};
use crate::exit::Exit;
use crate::report;

/// Invalid input lines reported one by one before the rest are only counted.
const REPORTED_BAD_LINES: usize = 20;

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

/// Counts what `kql match` saw.
#[derive(Default)]
struct Tally {
    matched: u64,
    bad_lines: usize,
    unreadable: bool,
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
    let mut out = BufWriter::new(io::stdout().lock());
    let mut tally = Tally::default();
    let stdin_only = [Path::new("-").to_path_buf()];
    let files = if args.files.is_empty() { &stdin_only[..] } else { &args.files[..] };
    for file in files {
        let (name, input): (String, Box<dyn Read>) = if file.as_os_str() == "-" {
            ("<stdin>".into(), Box::new(io::stdin().lock()))
        } else {
            match File::open(file) {
                Ok(f) => (file.display().to_string(), Box::new(f)),
                Err(err) => {
                    report::note(&format!("error: {}: {err}", file.display()));
                    tally.unreadable = true;
                    continue;
                }
            }
        };
        let mut each_match = |line: &[u8]| -> io::Result<()> {
            if !args.count {
                out.write_all(line)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        };
        scan(
            &name,
            BufReader::with_capacity(1 << 16, input),
            &mut tally,
            |line| literals.may_match(line),
            |doc| matcher.matches(doc),
            &mut each_match,
        )
        .with_context(|| format!("reading {name}"))?;
    }
    if tally.bad_lines > REPORTED_BAD_LINES {
        report::note(&format!(
            "{} more lines were not valid JSON and were skipped",
            tally.bad_lines - REPORTED_BAD_LINES
        ));
    }
    if args.count {
        writeln!(out, "{}", tally.matched)?;
    }
    out.flush()?;
    Ok(if tally.unreadable {
        Exit::Trouble
    } else if tally.matched > 0 {
        Exit::Success
    } else {
        Exit::No
    })
}

/// Reads NDJSON lines, skipping those the prefilter rules out, and hands matching lines on.
/// A line that is not JSON is reported as `name:line` and skipped.
fn scan(
    name: &str,
    mut input: impl BufRead,
    tally: &mut Tally,
    may_match: impl Fn(&[u8]) -> bool,
    is_match: impl Fn(&Document) -> bool,
    on_match: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1 << 12);
    let mut line_no = 0;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        line_no += 1;
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) || (ecs::looks_whole(line) && !may_match(line)) {
            continue;
        }
        let parsed = std::str::from_utf8(line)
            .map_err(|err| format!("not UTF-8 at byte {}", err.valid_up_to() + 1))
            .and_then(|text| Document::parse(text).map_err(|err| err.to_string()));
        match parsed {
            Ok(doc) if is_match(&doc) => {
                tally.matched += 1;
                on_match(line)?;
            }
            Ok(_) => {}
            Err(message) => {
                tally.bad_lines += 1;
                if tally.bad_lines <= REPORTED_BAD_LINES {
                    report::line_warning(name, line_no as u64, &message);
                }
            }
        }
    }
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
