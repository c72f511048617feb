//! The parallel side of `vigil scan`: inputs read into batches on one thread, batches tested on
//! worker threads, results consumed in input order (so any thread count gives the same output).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use ecs::Document;
use engine::source::{self, Record};
use engine::{Matched, ScanStats, Scanner};
use indicatif::ProgressBar;
use serde_json::Value;

use crate::input;

/// Records per batch, and bytes of lines per batch, whichever comes first.
const BATCH_RECORDS: usize = 512;
const BATCH_BYTES: usize = 2 << 20;

/// What an input holds, decided by its first record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ECS documents (or anything else), scanned as they are.
    Ecs,
    /// Raw Office 365 audit records, normalized first.
    RawO365,
}

/// Records of one input, for a worker.
pub struct Batch {
    source: Arc<str>,
    kind: Kind,
    /// NDJSON lines, back to back, and where each is: (line number, start, end).
    text: Vec<u8>,
    lines: Vec<(u64, usize, usize)>,
    /// Decoded records (JSON array elements, Purview rows) or why a row could not be read.
    values: Vec<(u64, Result<Value, String>)>,
}

/// What the reader sends: a batch, or an input that could not be read.
pub enum Work {
    /// Records to test.
    Batch(Batch),
    /// The input failed: its name and the error.
    Failed(Arc<str>, io::Error),
}

/// What a worker gives back for one batch.
pub struct Done {
    /// The input.
    pub source: Arc<str>,
    /// Events that matched, in input order, not yet deduplicated.
    pub matched: Vec<Matched>,
    /// Records that could not be read: line and why.
    pub problems: Vec<(u64, String)>,
    /// What the worker's scanner saw.
    pub stats: ScanStats,
    /// Bytes of lines read.
    pub bytes: u64,
    /// Set when the input failed.
    pub failure: Option<io::Error>,
}

/// Reads every input into batches and sends them; stops when the receiver is gone.
pub fn produce(inputs: &[PathBuf], progress: &ProgressBar, out: &SyncSender<Work>) {
    for path in inputs {
        let name: Arc<str> = if path.as_os_str() == "-" { "<stdin>".into() } else { path.display().to_string().into() };
        if let Err(err) = produce_one(path, &name, progress, out)
            && out.send(Work::Failed(name, err)).is_err()
        {
            return;
        }
    }
}

fn produce_one(path: &Path, name: &Arc<str>, progress: &ProgressBar, out: &SyncSender<Work>) -> io::Result<()> {
    let mut reader = input::open(path, progress)?;
    let gone = || io::Error::new(io::ErrorKind::BrokenPipe, "the scan stopped");
    let mut batch =
        Batch { source: name.clone(), kind: Kind::Ecs, text: Vec::new(), lines: Vec::new(), values: Vec::new() };
    let mut kind: Option<Kind> = None;
    let flush = |batch: &mut Batch, force: bool| -> io::Result<()> {
        let full = batch.lines.len() + batch.values.len() >= BATCH_RECORDS || batch.text.len() >= BATCH_BYTES;
        if (force || full) && (!batch.lines.is_empty() || !batch.values.is_empty()) {
            let next = Batch {
                source: batch.source.clone(),
                kind: batch.kind,
                text: Vec::with_capacity(batch.text.capacity()),
                lines: Vec::new(),
                values: Vec::new(),
            };
            out.send(Work::Batch(std::mem::replace(batch, next))).map_err(|_| gone())?;
        }
        Ok(())
    };
    if input::is_purview_export(&mut reader)? {
        batch.kind = Kind::RawO365;
        let rows = o365::purview::records(reader).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        for (row, record) in rows {
            batch.values.push((row, record));
            flush(&mut batch, false)?;
        }
        return flush(&mut batch, true);
    }
    source::read_records(reader, |record| {
        let kind = *kind.get_or_insert_with(|| {
            let raw = match &record {
                Record::Line(line, _) => serde_json::from_slice::<Value>(line).is_ok_and(|v| o365::is_raw_record(&v)),
                Record::Event(value, _) => o365::is_raw_record(value),
            };
            if raw { Kind::RawO365 } else { Kind::Ecs }
        });
        batch.kind = kind;
        match record {
            Record::Line(line, n) => {
                let start = batch.text.len();
                batch.text.extend_from_slice(line);
                batch.lines.push((n, start, batch.text.len()));
            }
            Record::Event(value, n) => batch.values.push((n, Ok(value))),
        }
        flush(&mut batch, false)?;
        Ok(true)
    })?;
    flush(&mut batch, true)
}

/// Tests one batch with a worker's scanner: ECS lines through the prefilter, raw records
/// normalized first.
pub fn process(scanner: &mut Scanner<'_, '_>, work: Work) -> Done {
    let batch = match work {
        Work::Batch(batch) => batch,
        Work::Failed(source, err) => {
            return Done {
                source,
                matched: vec![],
                problems: vec![],
                stats: ScanStats::default(),
                bytes: 0,
                failure: Some(err),
            };
        }
    };
    let options = o365::Options { agent_fields: true, ..o365::Options::default() };
    let mut matched = Vec::new();
    let mut problems = Vec::new();
    let mut bytes = 0;
    // Raw records that cannot be decoded or normalized never reach the scanner: counted here.
    let mut unreadable = 0;
    let mut raw = |scanner: &mut Scanner<'_, '_>,
                   n: u64,
                   record: Result<Value, String>,
                   matched: &mut Vec<Matched>,
                   problems: &mut Vec<(u64, String)>| {
        match record.and_then(|r| o365::normalize(r, &options).map_err(|e| e.to_string())) {
            Ok(doc) => matched.extend(scanner.match_event(doc, n)),
            Err(message) => {
                unreadable += 1;
                problems.push((n, message));
            }
        }
    };
    for &(n, start, end) in &batch.lines {
        let line = &batch.text[start..end];
        bytes += line.len() as u64 + 1;
        match batch.kind {
            Kind::Ecs => match scanner.match_line(line, n) {
                Ok(found) => matched.extend(found),
                Err(message) => problems.push((n, message)),
            },
            Kind::RawO365 => {
                let record = Document::parse_bytes(line).map(Document::into_root).map_err(|e| e.to_string());
                raw(scanner, n, record, &mut matched, &mut problems);
            }
        }
    }
    for (n, value) in batch.values {
        match (batch.kind, value) {
            (Kind::Ecs, Ok(value)) => matched.extend(scanner.match_event(value, n)),
            (_, record) => raw(scanner, n, record, &mut matched, &mut problems),
        }
    }
    let mut stats = scanner.take_stats();
    stats.records += unreadable;
    stats.invalid += unreadable;
    Done { source: batch.source, matched, problems, stats, bytes, failure: None }
}
