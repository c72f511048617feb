//! `vigil scan`: run rules over log files and report what fires.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use ecs::Catalog;
use ecs::date::{DateMath, Timestamp};
use engine::source::{self, Record};
use engine::{Outcome, Position, Replay, RuleSet, ScanOptions, Scanner};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{Color, Output as Format, ScanArgs};
use crate::commands::rules::{load_selected, report_skipped};
use crate::exit::Exit;
use crate::output::{Csv, Jsonl, Live, Output, Summary, Table};
use crate::report;

/// Invalid lines reported one by one before the rest are only counted.
const REPORTED_INVALID: u64 = 20;

/// Runs `vigil scan`.
pub fn run(args: ScanArgs) -> anyhow::Result<Exit> {
    let now = match &args.now {
        Some(text) => DateMath::parse(text)
            .ok()
            .and_then(|d| d.resolve(Timestamp::now(), false))
            .with_context(|| format!("--now {text}: not a date"))?,
        None => Timestamp::now(),
    };
    let Some(selected) = load_selected(&args.rules, &Default::default())? else { return Ok(Exit::No) };
    let (rule_set, skipped) = RuleSet::compile(selected, Catalog::builtin(), now);
    if !args.quiet {
        report_skipped(&skipped);
    }
    if rule_set.is_empty() {
        bail!("no rule to run: the selected rules are all of kinds vigil cannot run yet");
    }
    let inputs = if args.paths.is_empty() { vec![PathBuf::from("-")] } else { source::expand(&args.paths)? };
    let stdout = io::stdout();
    let mut output: Box<dyn Output> = match (args.output, stdout.is_terminal()) {
        (Format::Table, _) | (Format::Auto, true) => {
            let choice = match args.color {
                Color::Always => anstream::ColorChoice::Always,
                Color::Never => anstream::ColorChoice::Never,
                Color::Auto => anstream::ColorChoice::Auto,
            };
            Box::new(Table::new(anstream::AutoStream::new(stdout.lock(), choice)))
        }
        (Format::Jsonl, _) | (Format::Auto, false) => Box::new(Jsonl::new(io::BufWriter::new(stdout.lock()))),
        (Format::Csv, _) => Box::new(Csv::new(io::BufWriter::new(stdout.lock()))),
    };

    let started = Instant::now();
    let mut scanner = Scanner::new(&rule_set, ScanOptions { index: args.index.clone() });
    let progress = progress_bar(&inputs, args.quiet);
    let mut replay = args.replay.then(|| Replay::new(&rule_set));
    let mut bytes = 0u64;
    let mut unreadable = false;
    let mut problems = 0u64;
    for input in &inputs {
        let name = if input.as_os_str() == "-" { "<stdin>".to_owned() } else { input.display().to_string() };
        let mut reader = match crate::input::open(input, &progress) {
            Ok(reader) => reader,
            Err(err) => {
                report::note(&format!("error: {name}: {err}"));
                unreadable = true;
                continue;
            }
        };
        let target = match &mut replay {
            Some(replay) => Target::Replay(replay),
            None => Target::Live(Live { output: output.as_mut(), now }),
        };
        let mut feed = Feed {
            scanner: &mut scanner,
            target,
            name: &name,
            kind: None,
            bytes: 0,
            problems: &mut problems,
            progress: &progress,
        };
        let result = if crate::input::is_purview_export(&mut reader)? {
            feed.purview(reader)
        } else {
            source::read_records(reader, |r| feed.record(r))
        };
        bytes += feed.bytes;
        if let Err(err) = result {
            if err.kind() == io::ErrorKind::BrokenPipe {
                return Err(err.into());
            }
            progress.suspend(|| report::note(&format!("error: {name}: {err}")));
            unreadable = true;
        }
    }
    progress.finish_and_clear();
    let stats = scanner.stats().clone();
    if problems > REPORTED_INVALID {
        report::note(&format!("{} more records could not be read and were skipped", problems - REPORTED_INVALID));
    }
    let replay_report = replay.map(|r| r.run(&rule_set));
    let mut alerts = stats.hits;
    if let Some(replayed) = &replay_report {
        alerts = replayed.alert_count() as u64;
        replayed.for_each_alert(&rule_set, |created, hit| output.alert(hit, created).map(|()| true))?;
    }
    if let Some(replayed) = &replay_report {
        for (compiled, r) in rule_set.rules().iter().zip(&replayed.rules) {
            let rule = &compiled.rule;
            for t in &r.truncations {
                report::note(&format!(
                    "warning: {}: the execution at {} found more than max_signals {} alerts and left {} events for later executions",
                    rule.name, t.started, rule.max_signals, t.dropped
                ));
            }
            if r.missed > 0 {
                report::note(&format!(
                    "warning: {}: {} matching events were never alerted (truncated in every execution that saw them)",
                    rule.name, r.missed
                ));
            }
            if r.untimed > 0 {
                report::note(&format!(
                    "warning: {}: {} matching events have no {} and no @timestamp, so no execution saw them",
                    rule.name,
                    r.untimed,
                    rule.time_field()
                ));
            }
        }
    }
    let replay_rows = replay_report
        .as_ref()
        .map(|r| rule_set.rules().iter().map(|c| &c.rule).zip(r.rules.iter()).collect::<Vec<_>>());
    let elapsed = started.elapsed();
    output.finish(&Summary { stats: &stats, rules: rule_set.len(), replay: replay_rows })?;
    if !args.quiet {
        let secs = elapsed.as_secs_f64().max(1e-9);
        report::note(&format!(
            "scanned {} events ({:.1} MB) in {:.2} s ({:.0} events/s, {:.1} MB/s) with {} rules: {alerts} alerts",
            stats.records,
            bytes as f64 / 1e6,
            secs,
            stats.records as f64 / secs,
            bytes as f64 / 1e6 / secs,
            rule_set.len()
        ));
        if stats.without_index > 0 && args.index.is_none() {
            report::note(&format!(
                "note: {} events had no index (no data_stream.*, event.dataset or _index), so every rule searched them; --index sets one",
                stats.without_index
            ));
        }
    }
    Ok(if unreadable {
        Exit::Trouble
    } else if args.fail_on_alert && alerts > 0 {
        Exit::No
    } else {
        Exit::Success
    })
}

/// Where hits go: straight to the output, or to the replay.
enum Target<'a> {
    Live(Live<'a>),
    Replay(&'a mut Replay),
}

impl engine::Sink for Target<'_> {
    type Error = io::Error;

    fn hit(&mut self, hit: &engine::Hit<'_>) -> io::Result<bool> {
        match self {
            Target::Live(live) => live.hit(hit),
            Target::Replay(replay) => replay.hit(hit).map_err(|never| match never {}),
        }
    }
}

/// What an input holds, decided by its first record.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// ECS documents (or anything else), scanned as they are.
    Ecs,
    /// Raw Office 365 audit records, normalized first.
    RawO365,
}

/// Feeds one input's records to the scanner, normalizing raw Office 365 records.
struct Feed<'a, 'r, 'c> {
    scanner: &'a mut Scanner<'r, 'c>,
    target: Target<'a>,
    name: &'a str,
    kind: Option<Kind>,
    bytes: u64,
    problems: &'a mut u64,
    progress: &'a ProgressBar,
}

impl Feed<'_, '_, '_> {
    fn record(&mut self, record: Record<'_>) -> io::Result<bool> {
        match record {
            Record::Line(line, n) => {
                self.bytes += line.len() as u64 + 1;
                let kind = *self.kind.get_or_insert_with(|| {
                    let raw = serde_json::from_slice::<serde_json::Value>(line).is_ok_and(|v| o365::is_raw_record(&v));
                    if raw { Kind::RawO365 } else { Kind::Ecs }
                });
                let position = Position { source: self.name, line: n };
                if kind == Kind::Ecs {
                    let outcome = self.scanner.scan_line(line, position, &mut self.target)?;
                    return self.outcome(outcome, n);
                }
                match serde_json::from_slice(line) {
                    Ok(record) => self.raw(record, n),
                    Err(err) => self.problem(n, &format!("invalid JSON at column {}: {err}", err.column())),
                }
            }
            Record::Event(value, n) => {
                let kind =
                    *self.kind.get_or_insert(if o365::is_raw_record(&value) { Kind::RawO365 } else { Kind::Ecs });
                if kind == Kind::RawO365 {
                    return self.raw(value, n);
                }
                let outcome =
                    self.scanner.scan_event(&value, Position { source: self.name, line: n }, &mut self.target)?;
                self.outcome(outcome, n)
            }
        }
    }

    /// A raw audit record: normalized as Elastic's integration would, then scanned. It counts as
    /// ingested when it was created.
    fn raw(&mut self, record: serde_json::Value, n: u64) -> io::Result<bool> {
        match o365::normalize(record, &o365_options()) {
            Ok(doc) => {
                let outcome =
                    self.scanner.scan_event(&doc, Position { source: self.name, line: n }, &mut self.target)?;
                self.outcome(outcome, n)
            }
            Err(err) => self.problem(n, &err),
        }
    }

    /// The `AuditData` records of a Purview audit export.
    fn purview(&mut self, input: impl io::Read) -> io::Result<()> {
        let rows = o365::purview::records(input).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        for (row, record) in rows {
            let go_on = match record {
                Ok(record) => self.raw(record, row)?,
                Err(message) => self.problem(row, &message)?,
            };
            if !go_on {
                break;
            }
        }
        Ok(())
    }

    fn outcome(&mut self, outcome: Outcome, n: u64) -> io::Result<bool> {
        match outcome {
            Outcome::Invalid(message) => self.problem(n, &message),
            Outcome::Scanned => Ok(true),
            Outcome::Stopped => Ok(false),
        }
    }

    fn problem(&mut self, n: u64, message: &dyn std::fmt::Display) -> io::Result<bool> {
        *self.problems += 1;
        if *self.problems <= REPORTED_INVALID {
            self.progress.suspend(|| report::line_warning(self.name, n, message));
        }
        Ok(true)
    }
}

/// How vigil normalizes raw records while scanning: with the fields Elastic Agent adds, and
/// `event.ingested` equal to `@timestamp` (a file has no ingest time).
fn o365_options() -> o365::Options {
    o365::Options { agent_fields: true, ..o365::Options::default() }
}

/// A byte progress bar on stderr, for large inputs on a terminal.
fn progress_bar(inputs: &[PathBuf], quiet: bool) -> ProgressBar {
    let total: u64 = inputs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    if quiet || !io::stderr().is_terminal() || total < 16 << 20 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let _ = io::stderr().flush();
    bar
}
