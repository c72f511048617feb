//! The scan of sources, as `vigil scan` runs it: files (or standard input) read into batches
//! on one thread, each batch's records turned into events ([`Events`]) and tested on worker
//! threads, and what was found handed to a [`Sink`] in input order, so that any number of
//! threads gives the same output.
//!
//! ```text
//! source (file, stdin) ─► records (NDJSON lines, JSON array elements, Purview rows)
//!   ─► events (raw Office 365 normalized) ─► RuleSet (prefilter, match) ─► Sink (begin/hit/problem/finish)
//! ```
//!
//! What the source holds is decided per source, by its first record (or its CSV header): raw
//! Office 365 records are normalized; ECS documents go through the prefilter on their raw bytes.

use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, sync_channel};

use serde_json::Value;

use crate::records::{Events, Format, Problem, RecordError};
use crate::ruleset::RuleSet;
use crate::scan::{Matched, ScanOptions, ScanStats, Scanned, Scanner, Sink};
use crate::source::{self, Record};

/// Records per batch, and bytes of lines per batch, whichever comes first.
const BATCH_RECORDS: usize = 512;
const BATCH_BYTES: usize = 2 << 20;

/// Opens a source: a path, or `-` for standard input (the caller may count what it reads).
pub type Open<'a> = dyn Fn(&Path) -> io::Result<Box<dyn BufRead + Send>> + Sync + 'a;

/// Scans `inputs` (files, or `-` for standard input) with `rules` on `threads` threads: each
/// source's records become events and are tested once against every rule, and `sink` hears,
/// in input order, where each source begins, its hits, its records that are not events, a
/// source that cannot be read, and at the end what was read.
///
/// # Errors
///
/// The sink's first error; the scan stops there.
pub fn scan<S: Sink>(
    rules: &RuleSet<'_>,
    options: &ScanOptions,
    threads: usize,
    inputs: &[PathBuf],
    open: &Open<'_>,
    sink: &mut S,
) -> Result<Scanned, S::Error> {
    let mut scanner = Scanner::new(rules, options.clone());
    let mut bytes = 0;
    let mut current: Option<Arc<str>> = None;
    let (work_tx, work_rx) = sync_channel(threads.max(1) * 2);
    std::thread::scope(|scope| {
        scope.spawn(move || produce(inputs, open, &work_tx));
        let consume = |done: Done| -> Result<bool, S::Error> {
            if current.as_ref().is_none_or(|c| !Arc::ptr_eq(c, &done.source)) {
                sink.begin(&done.source)?;
                current = Some(done.source.clone());
            }
            bytes += done.bytes;
            scanner.absorb(&done.stats);
            for problem in &done.problems {
                if !sink.problem(&done.source, problem)? {
                    return Ok(false);
                }
            }
            if let Some(err) = &done.failure
                && !sink.unreadable(&done.source, err)?
            {
                return Ok(false);
            }
            for matched in &done.matched {
                if !scanner.deliver(matched, &done.source, sink)? {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        crate::parallel::ordered(
            threads,
            work_rx.into_iter().map(Ok),
            || (Scanner::new(rules, options.clone()), Events::for_scan()),
            |(scanner, events), work| process(scanner, events, work),
            consume,
        )
    })?;
    let scanned = Scanned { stats: scanner.stats().clone(), bytes };
    sink.finish(&scanned)?;
    Ok(scanned)
}

/// Records of one source, for a worker.
struct Batch {
    source: Arc<str>,
    format: Format,
    /// NDJSON lines, back to back, and where each is: (line number, start, end).
    text: Vec<u8>,
    lines: Vec<(u64, usize, usize)>,
    /// Decoded records (JSON array elements, Purview rows) or why a row could not be read.
    values: Vec<(u64, Result<Value, RecordError>)>,
}

impl Batch {
    fn new(source: Arc<str>, format: Format, capacity: usize) -> Batch {
        Batch { source, format, text: Vec::with_capacity(capacity), lines: Vec::new(), values: Vec::new() }
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.values.is_empty()
    }

    fn is_full(&self) -> bool {
        self.lines.len() + self.values.len() >= BATCH_RECORDS || self.text.len() >= BATCH_BYTES
    }
}

/// What the reader sends: a batch, or a source that could not be read.
enum Work {
    Batch(Batch),
    Failed(Arc<str>, io::Error),
}

/// What a worker gives back for one batch.
struct Done {
    source: Arc<str>,
    /// Events that matched, in input order, not yet deduplicated.
    matched: Vec<Matched>,
    /// Records that did not become events.
    problems: Vec<Problem>,
    /// What the worker's scanner saw.
    stats: ScanStats,
    /// Bytes of lines read.
    bytes: u64,
    /// Set when the source failed.
    failure: Option<io::Error>,
}

/// Reads every source into batches and sends them; stops when the receiver is gone.
fn produce(inputs: &[PathBuf], open: &Open<'_>, out: &SyncSender<Work>) {
    for path in inputs {
        let name: Arc<str> = if path.as_os_str() == "-" { "<stdin>".into() } else { path.display().to_string().into() };
        if let Err(err) = produce_one(path, &name, open, out)
            && out.send(Work::Failed(name, err)).is_err()
        {
            return;
        }
    }
}

fn produce_one(path: &Path, name: &Arc<str>, open: &Open<'_>, out: &SyncSender<Work>) -> io::Result<()> {
    let reader = open(path)?;
    let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the scan stopped");
    let mut batch = Batch::new(name.clone(), Format::Ecs, 0);
    let flush = |batch: &mut Batch, force: bool| -> io::Result<()> {
        if (force || batch.is_full()) && !batch.is_empty() {
            let next = Batch::new(batch.source.clone(), batch.format, batch.text.capacity());
            out.send(Work::Batch(std::mem::replace(batch, next))).map_err(|_| gone())?;
        }
        Ok(())
    };
    read_source(reader, |format, record| {
        batch.format = format;
        match record {
            SourceRecord::Line(line, n) => {
                let start = batch.text.len();
                batch.text.extend_from_slice(line);
                batch.lines.push((n, start, batch.text.len()));
            }
            SourceRecord::Value(n, value) => batch.values.push((n, value)),
        }
        flush(&mut batch, false)?;
        Ok(true)
    })?;
    flush(&mut batch, true)
}

/// One record of a source.
#[derive(Debug)]
pub enum SourceRecord<'a> {
    /// An NDJSON line (without its line break), with its 1-based line number.
    Line(&'a [u8], u64),
    /// A decoded record with its 1-based position (JSON array element, document, search hit,
    /// Purview row), or why a Purview row cannot be read.
    Value(u64, Result<Value, RecordError>),
}

/// Reads every record of a source and hands it to `each` with what the source holds (decided by
/// its first record, or its CSV header): a Purview audit export's rows, or the records
/// [`source::read_records`] finds. `each` returns `false` to stop.
///
/// # Errors
///
/// When the input cannot be read or is malformed as a whole; `each`'s errors.
pub fn read_source(
    mut reader: Box<dyn BufRead + Send>,
    mut each: impl FnMut(Format, SourceRecord<'_>) -> io::Result<bool>,
) -> io::Result<()> {
    if source::is_purview_export(&mut reader)? {
        let rows = o365::purview::records(reader).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        for (row, record) in rows {
            if !each(Format::RawO365, SourceRecord::Value(row, record.map_err(RecordError::Csv)))? {
                break;
            }
        }
        return Ok(());
    }
    let mut format: Option<Format> = None;
    source::read_records(reader, |record| {
        let format = *format.get_or_insert_with(|| match &record {
            Record::Line(line, _) => serde_json::from_slice::<Value>(line).map_or(Format::Ecs, |v| Format::of(&v)),
            Record::Event(value, _) => Format::of(value),
        });
        each(
            format,
            match record {
                Record::Line(line, n) => SourceRecord::Line(line, n),
                Record::Event(value, n) => SourceRecord::Value(n, Ok(value)),
            },
        )
    })
}

/// Tests one batch with a worker's scanner: ECS lines through the prefilter, raw records
/// normalized first.
fn process(scanner: &mut Scanner<'_, '_>, events: &Events, work: Work) -> Done {
    let batch = match work {
        Work::Batch(batch) => batch,
        Work::Failed(source, err) => {
            let stats = ScanStats::default();
            return Done { source, matched: vec![], problems: vec![], stats, bytes: 0, failure: Some(err) };
        }
    };
    let mut matched = Vec::new();
    let mut problems = Vec::new();
    let mut bytes = 0;
    let mut document = Vec::new();
    // A raw record that cannot be decoded or normalized never reaches the rules; it is counted.
    let raw = |scanner: &mut Scanner<'_, '_>,
               line: u64,
               record: Result<Value, RecordError>,
               matched: &mut Vec<Matched>,
               problems: &mut Vec<Problem>| {
        match record.and_then(|r| events.event(r, Format::RawO365)) {
            Ok(event) => matched.extend(scanner.match_event(event, line)),
            Err(error) => {
                scanner.count_unreadable();
                problems.push(Problem { line, error });
            }
        }
    };
    for &(n, start, end) in &batch.lines {
        let line = &batch.text[start..end];
        bytes += line.len() as u64 + 1;
        match batch.format {
            Format::Ecs => match scanner.match_line(line, n) {
                Ok(found) => matched.extend(found),
                Err(error) => problems.push(Problem { line: n, error }),
            },
            Format::RawO365 => {
                if scanner.raw_prefiltered(line) {
                    continue;
                }
                // Normalized from its text; the document then goes through the prefilter and is
                // decoded only as far as the rules it may match read, as an ECS line is.
                document.clear();
                match events.raw_event_line(line, &mut document) {
                    Ok(()) => match scanner.match_line(&document, n) {
                        Ok(found) => matched.extend(found),
                        Err(error) => problems.push(Problem { line: n, error }),
                    },
                    Err(error) => {
                        scanner.count_unreadable();
                        problems.push(Problem { line: n, error });
                    }
                }
            }
        }
    }
    for (n, value) in batch.values {
        match (batch.format, value) {
            (Format::Ecs, Ok(value)) => matched.extend(scanner.match_event(value, n)),
            (_, record) => raw(scanner, n, record, &mut matched, &mut problems),
        }
    }
    Done { source: batch.source, matched, problems, stats: scanner.take_stats(), bytes, failure: None }
}
