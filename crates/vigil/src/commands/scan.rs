//! `vigil scan`: run rules over log files and report what fires.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use ecs::Catalog;
use ecs::date::Timestamp;
use engine::{Replay, RuleSet, ScanOptions};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{Color, Output as Format, ScanArgs};
use crate::commands::rules::{load_selected, report_ignored, report_skipped};
use crate::exit::Exit;
use crate::input;
use crate::numbers::{count, thousands};
use crate::output::{Csv, Form, Html, Jsonl, Live, Output, Summary, Table, Timeline};
use crate::report;

/// Invalid lines reported one by one before the rest are only counted.
const REPORTED_INVALID: u64 = 20;

/// Runs `vigil scan`.
pub fn run(args: ScanArgs) -> anyhow::Result<Exit> {
    let now = match &args.now {
        Some(text) => input::date(text, Timestamp::now(), "--now")?,
        None => Timestamp::now(),
    };
    let since = args.since.as_deref().map(|text| input::date(text, now, "--since")).transpose()?;
    let until = args.until.as_deref().map(|text| input::date(text, now, "--until")).transpose()?;
    let Some(selected) = load_selected(&args.rules, &Default::default())? else { return Ok(Exit::No) };
    let exceptions = load_exceptions(&args.exceptions)?;
    let (rule_set, skipped) = RuleSet::compile_with(selected, Catalog::builtin(), now, &exceptions);
    if !args.quiet {
        report_skipped(&skipped);
    }
    for compiled in rule_set.rules() {
        for warning in &compiled.exceptions.warnings {
            report::note(&format!("warning: {}: {warning}", compiled.rule.name));
        }
        if engine::suppression::Suppression::of(&compiled.rule).is_some() {
            report::note(&format!(
                "note: {}: `alert_suppression` applies to executions: --replay (and `vigil serve`) make one alert per group; a plain scan lists every matching event",
                compiled.rule.name
            ));
        }
    }
    report_ignored(rule_set.rules().iter().map(|c| &c.rule));
    if rule_set.is_empty() {
        bail!("no rule to run: the selected rules are all of kinds vigil cannot run yet");
    }
    let fields = match (args.fields, args.output) {
        (Some(_), output) if !matches!(output, Format::Timeline | Format::TimelineJsonl) => {
            bail!("--fields chooses the columns of --output timeline and timeline-jsonl")
        }
        (Some(list), _) if list.iter().all(|f| f.trim().is_empty()) => bail!("--fields: name at least one column"),
        (fields, _) => fields.map(|list| list.into_iter().filter(|f| !f.trim().is_empty()).collect::<Vec<_>>()),
    };
    let inputs = input::files(&args.paths, args.ext.as_deref(), args.quiet)?;
    let stdout = io::stdout();
    if args.output == Format::Html && stdout.is_terminal() {
        bail!(
            "--output html writes a whole HTML file: send it to one, e.g. `vigil scan ... --output html > report.html`"
        );
    }
    let mut output: Box<dyn Output> = match (args.output, stdout.is_terminal()) {
        (Format::Table, _) | (Format::Auto, true) => {
            let choice = match args.color {
                Color::Always => anstream::ColorChoice::Always,
                Color::Never => anstream::ColorChoice::Never,
                Color::Auto => anstream::ColorChoice::Auto,
            };
            Box::new(Table::new(anstream::AutoStream::new(stdout.lock(), choice), args.building_blocks))
        }
        (Format::Jsonl, _) | (Format::Auto, false) => Box::new(Jsonl::new(io::BufWriter::new(stdout.lock()))),
        (Format::Csv, _) => Box::new(Csv::new(io::BufWriter::new(stdout.lock()))),
        (Format::Timeline, _) => Box::new(Timeline::new(io::BufWriter::new(stdout.lock()), Form::Csv, fields)),
        (Format::TimelineJsonl, _) => Box::new(Timeline::new(io::BufWriter::new(stdout.lock()), Form::Jsonl, fields)),
        (Format::Html, _) => Box::new(Html::new(io::BufWriter::new(stdout.lock()), title(&inputs), now)),
    };

    let started = Instant::now();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let options = ScanOptions { index: args.index.clone() };
    let progress = progress_bar(&inputs, args.quiet);
    // Threshold and new terms rules alert per execution, so a plain scan replays them too.
    let replay = if args.replay {
        Some(Replay::new(&rule_set))
    } else {
        rule_set.rules().iter().any(|c| Replay::counts(&c.rule)).then(|| Replay::counting(&rule_set))
    };
    let mut sink = ScanSink {
        replay,
        shown: 0,
        live: Live { output: output.as_mut(), now },
        range: (since, until),
        outside: 0,
        progress: &progress,
        problems: 0,
        unreadable: false,
    };
    let open = |path: &std::path::Path| input::open(path, &progress);
    let scanned = engine::pipeline::scan(&rule_set, &options, threads, &inputs, &open, &mut sink)?;
    progress.finish_and_clear();
    let (stats, bytes) = (scanned.stats, scanned.bytes);
    let ScanSink { replay, shown, problems, unreadable, outside, .. } = sink;
    if problems > REPORTED_INVALID {
        report::note(&format!("{} more records could not be read and were skipped", problems - REPORTED_INVALID));
    }
    let replay_report = replay.map(|r| r.run(&rule_set));
    let mut alerts = shown;
    if let Some(replayed) = &replay_report {
        alerts += replayed.alert_count() as u64;
        replayed.for_each_alert(&rule_set, |created, hit| output.alert(hit, created).map(|()| true))?;
        warn_about_replay(&rule_set, replayed);
    }
    let replay_rows = replay_report
        .as_ref()
        .filter(|_| args.replay)
        .map(|r| rule_set.rules().iter().map(|c| &c.rule).zip(r.rules.iter()).collect::<Vec<_>>());
    let elapsed = started.elapsed();
    output.finish(&Summary { stats: &stats, rules: rule_set.len(), replay: replay_rows })?;
    if !args.quiet {
        let secs = elapsed.as_secs_f64().max(1e-9);
        report::note(&format!(
            "scanned {} ({:.1} MB) in {:.2} s ({} events/s, {:.1} MB/s) with {}: {}",
            count(stats.records, "event"),
            bytes as f64 / 1e6,
            secs,
            thousands((stats.records as f64 / secs) as u64),
            bytes as f64 / 1e6 / secs,
            count(rule_set.len() as u64, "rule"),
            count(alerts, "alert"),
        ));
        if outside > 0 {
            report::note(&format!("{} outside --since/--until left out", count(outside, "matching event")));
        }
        if stats.without_index > 0 && args.index.is_none() {
            report::note(&format!(
                "note: {} no index (no data_stream.*, event.dataset or _index), so every rule searched them; --index sets one",
                if stats.without_index == 1 {
                    "1 event had".to_owned()
                } else {
                    format!("{} events had", thousands(stats.without_index))
                }
            ));
        }
    }
    if !args.quiet {
        for (&(rule, list), removed) in &stats.excepted {
            let compiled = &rule_set.rules()[rule];
            let list = compiled.exceptions.list_id(list);
            report::note(&format!(
                "exceptions: list `{list}` removed {} of {}",
                count(*removed, "match"),
                compiled.rule.name
            ));
        }
    }
    // Said even with --quiet: these events could have matched, and no rule searched them.
    for (index, events) in &stats.outside_indices {
        report::note(&format!(
            "warning: {} in index `{index}` {} what a rule looks for, but no rule's index patterns cover `{index}`; --index sets one",
            count(*events, "event"),
            if *events == 1 { "holds" } else { "hold" }
        ));
    }
    Ok(if unreadable {
        Exit::Trouble
    } else if args.fail_on_alert && alerts > 0 {
        Exit::No
    } else {
        Exit::Success
    })
}

/// What the report says was scanned.
fn title(inputs: &[PathBuf]) -> String {
    match inputs {
        [one] if one.as_os_str() == "-" => "standard input".to_owned(),
        [one] => one.display().to_string(),
        [first, ..] => format!("{} and {}", first.display(), count(inputs.len() as u64 - 1, "more file")),
        [] => String::new(),
    }
}

/// The exception lists of `paths`, their problems reported (a file with an error contributes
/// nothing).
fn load_exceptions(paths: &[PathBuf]) -> anyhow::Result<rules::exceptions::Exceptions> {
    let mut exceptions = rules::exceptions::Exceptions::default();
    for path in paths {
        if !path.exists() {
            bail!("--exceptions {}: no such file or folder", path.display());
        }
        let loaded = rules::exceptions::load_exceptions(path);
        for diagnostic in &loaded.diagnostics {
            report::print_diagnostic(diagnostic, std::io::stderr().is_terminal());
        }
        exceptions.extend(loaded.exceptions);
    }
    Ok(exceptions)
}

/// Truncations and events no execution alerted on, one warning each (never silent).
fn warn_about_replay(rule_set: &RuleSet<'_>, replayed: &engine::ReplayReport) {
    for (compiled, r) in rule_set.rules().iter().zip(&replayed.rules) {
        let rule = &compiled.rule;
        for t in &r.truncations {
            report::note(&format!(
                "warning: {}: the execution at {} found more than max_signals {} alerts and left {} for later executions",
                rule.name,
                t.started,
                rule.max_signals,
                count(t.dropped as u64, "event")
            ));
        }
        if r.sequences_beyond_limit > 0 {
            report::note(&format!(
                "warning: {}: its executions found {} beyond max_signals {} (each alerts its first ones: sequences by their first event, samples by their keys; a later execution alerts the rest only while its window holds them)",
                rule.name,
                count(r.sequences_beyond_limit as u64, r.finds),
                rule.max_signals
            ));
        }
        if let Some(given_up) = &r.given_up {
            report::note(&format!("warning: {}: {given_up}", rule.name));
        }
        if r.events_not_kept > 0 {
            report::note(&format!(
                "warning: {}: {} left out of its sequences: a scan keeps at most {} MB of events for one sequence rule",
                rule.name,
                count(r.events_not_kept as u64, "matching event"),
                engine::MAX_SEQUENCE_BYTES >> 20
            ));
        }
        if r.missed > 0 {
            report::note(&format!(
                "warning: {}: {} never alerted (truncated in every execution that saw them)",
                rule.name,
                count(r.missed as u64, "matching event")
            ));
        }
        if r.untimed > 0 {
            report::note(&format!(
                "warning: {}: {} no {} and no @timestamp, so no execution saw them",
                rule.name,
                if r.untimed == 1 {
                    "1 matching event has".to_owned()
                } else {
                    format!("{} matching events have", thousands(r.untimed as u64))
                },
                rule.time_field()
            ));
        }
    }
}

/// Where a live scan's findings go: hits to the output (or to the schedule replay), records
/// that are not events and unreadable inputs to stderr.
struct ScanSink<'o, 'p> {
    /// The schedule replay of every rule (`--replay`), or of the threshold and new terms rules.
    replay: Option<Replay>,
    /// Hits shown as they came.
    shown: u64,
    live: Live<'o>,
    /// `--since` and `--until`: matches of events outside are left out.
    range: (Option<Timestamp>, Option<Timestamp>),
    /// Matches left out by `range`.
    outside: u64,
    progress: &'p ProgressBar,
    /// Records that were not events, so far; the first few are reported one by one.
    problems: u64,
    /// Whether an input could not be read.
    unreadable: bool,
}

impl engine::Sink for ScanSink<'_, '_> {
    type Error = io::Error;

    fn hit(&mut self, hit: &engine::Hit<'_>) -> io::Result<bool> {
        if let (since, until) = self.range
            && (since.is_some() || until.is_some())
            && !hit.time().is_some_and(|t| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u))
        {
            self.outside += 1;
            return Ok(true);
        }
        match &mut self.replay {
            Some(replay) if replay.takes(hit.rule) => replay.hit(hit).map_err(|never| match never {}),
            _ => {
                self.shown += 1;
                self.live.hit(hit)
            }
        }
    }

    fn problem(&mut self, source: &str, problem: &engine::Problem) -> io::Result<bool> {
        self.problems += 1;
        if self.problems <= REPORTED_INVALID {
            self.progress.suspend(|| report::line_warning(source, problem.line, &problem.error.to_string()));
        }
        Ok(true)
    }

    fn unreadable(&mut self, source: &str, error: &io::Error) -> io::Result<bool> {
        self.progress.suspend(|| report::note(&format!("error: {source}: {error}")));
        self.unreadable = true;
        Ok(true)
    }
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
