//! `vigil scan`: run rules over log files and report what fires.

use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
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
    for input in &inputs {
        let name = if input.as_os_str() == "-" { "<stdin>".to_owned() } else { input.display().to_string() };
        let reader = match open(input, &progress) {
            Ok(reader) => reader,
            Err(err) => {
                report::note(&format!("error: {name}: {err}"));
                unreadable = true;
                continue;
            }
        };
        let mut live = Live { output: output.as_mut(), now };
        let result = source::read_records(reader, |record| {
            let line_no = match &record {
                Record::Line(_, n) | Record::Event(_, n) => *n,
            };
            let outcome = match record {
                Record::Line(line, n) => {
                    bytes += line.len() as u64 + 1;
                    let position = Position { source: &name, line: n };
                    match &mut replay {
                        Some(replay) => Ok(scanner.scan_line(line, position, replay).unwrap_or(Outcome::Scanned)),
                        None => scanner.scan_line(line, position, &mut live),
                    }
                }
                Record::Event(value, n) => {
                    let position = Position { source: &name, line: n };
                    match &mut replay {
                        Some(replay) => Ok(scanner.scan_event(&value, position, replay).unwrap_or(Outcome::Scanned)),
                        None => scanner.scan_event(&value, position, &mut live),
                    }
                }
            };
            match outcome? {
                Outcome::Invalid(message) => {
                    let invalid = scanner.stats().invalid;
                    if invalid <= REPORTED_INVALID {
                        progress.suspend(|| report::line_warning(&name, line_no, &message));
                    }
                    Ok(true)
                }
                Outcome::Scanned => Ok(true),
                Outcome::Stopped => Ok(false),
            }
        });
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
    if stats.invalid > REPORTED_INVALID {
        report::note(&format!("{} more lines were not valid JSON and were skipped", stats.invalid - REPORTED_INVALID));
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

fn open(path: &Path, progress: &ProgressBar) -> io::Result<Box<dyn io::BufRead + Send>> {
    let raw: Box<dyn Read + Send> =
        if path.as_os_str() == "-" { Box::new(io::stdin()) } else { Box::new(std::fs::File::open(path)?) };
    source::decompress(Box::new(progress.wrap_read(raw)))
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
