//! The scanner: events in, hits out to a [`Sink`].

use std::collections::{BTreeMap, HashMap, HashSet};

use ecs::date::Timestamp;
use ecs::{Document, Projection, Value};
use rules::Rule;

use crate::alert::{self, AlertContext, AlertId};
use crate::index::{event_index, resolve_backing};
use crate::records::{Problem, RecordError};
use crate::ruleset::RuleSet;
use crate::storage::StoredEvent;

/// Where an event came from: a source name (a file, `<stdin>`) and a line (or array element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position<'a> {
    /// The file or stream.
    pub source: &'a str,
    /// 1-based line number (or element number in a JSON array).
    pub line: u64,
}

/// One rule matched one event.
#[derive(Debug)]
pub struct Hit<'a> {
    /// The rule.
    pub rule: &'a Rule,
    /// The event (its `_source` when it came as a search hit).
    pub event: &'a Value,
    /// The event's index, if known.
    pub index: Option<&'a str>,
    /// The event's identity (`_id`, `event.id`, or a digest of its line).
    pub event_id: &'a str,
    /// The alert's identity.
    pub alert_id: AlertId,
    /// Where the event was read.
    pub position: Position<'a>,
    /// What the alert adds to the event's fields: the suppression fields when it stands for a
    /// group of events (`kibana.alert.suppression.*`), a threshold's result, new terms.
    pub extra: &'a [(String, Value)],
}

impl Hit<'_> {
    /// The event's time on the rule's time field.
    pub fn time(&self) -> Option<Timestamp> {
        alert::event_time(self.rule, self.event)
    }

    /// The alert document Elastic Security would store for this hit, created at `now`.
    pub fn document(&self, now: Timestamp) -> Value {
        let context = AlertContext { id: self.alert_id, index: self.index.unwrap_or(""), event_id: self.event_id, now };
        let mut document = alert::document(self.rule, self.event, &context);
        if let Value::Object(doc) = &mut document {
            doc.extend(self.extra.iter().cloned());
        }
        document
    }
}

/// Receives what a scan finds: a printer, an alert writer, a counter, a schedule replay. Only
/// [`Sink::hit`] is required; a scan of sources ([`crate::pipeline::scan`]) also says where each
/// source begins, which records it could not read, and when it is done.
pub trait Sink {
    /// What can go wrong writing.
    type Error;

    /// A source (a file, standard input) starts.
    ///
    /// # Errors
    ///
    /// When the sink cannot go on; the scan stops.
    fn begin(&mut self, _source: &str) -> Result<(), Self::Error> {
        Ok(())
    }

    /// One rule matched one event. Return `Ok(false)` to stop the scan.
    ///
    /// # Errors
    ///
    /// When the hit cannot be written; the scan stops.
    fn hit(&mut self, hit: &Hit<'_>) -> Result<bool, Self::Error>;

    /// A record of `source` did not become an event; the scan goes on with the next unless
    /// this returns `Ok(false)`.
    ///
    /// # Errors
    ///
    /// When the sink cannot go on; the scan stops.
    fn problem(&mut self, _source: &str, _problem: &Problem) -> Result<bool, Self::Error> {
        Ok(true)
    }

    /// `source` could not be read (to its end); the scan goes on with the next source unless
    /// this returns `Ok(false)`.
    ///
    /// # Errors
    ///
    /// When the sink cannot go on; the scan stops.
    fn unreadable(&mut self, _source: &str, _error: &std::io::Error) -> Result<bool, Self::Error> {
        Ok(true)
    }

    /// The scan is over: what it read.
    ///
    /// # Errors
    ///
    /// When the sink cannot finish its output.
    fn finish(&mut self, _scanned: &Scanned) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// What a scan of sources read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    /// What the scanners saw.
    pub stats: ScanStats,
    /// Bytes of records read (lines with their line breaks).
    pub bytes: u64,
}

/// What a scan saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Lines and array elements read.
    pub records: u64,
    /// Of those, decoded and tested against at least one rule.
    pub decoded: u64,
    /// Skipped unread: no rule could match them.
    pub prefiltered: u64,
    /// Not valid JSON, reported and skipped.
    pub invalid: u64,
    /// Events with no index (no `data_stream`, `event.dataset` or `_index`); every rule saw them.
    pub without_index: u64,
    /// Decoded events (those holding some rule's literals) whose index no rule's patterns
    /// cover, by index: no rule searched them.
    pub outside_indices: BTreeMap<String, u64>,
    /// Hits passed to the sink.
    pub hits: u64,
    /// Hits dropped because the same event already alerted for the same rule.
    pub duplicates: u64,
    /// Matches that exception lists removed, by the rule's place in the rule set and the list's
    /// place among the rule's lists ([`crate::exceptions::RuleExceptions::list_id`] names it).
    pub excepted: BTreeMap<(usize, usize), u64>,
}

impl ScanStats {
    /// Adds what another scan saw.
    pub fn add(&mut self, other: &ScanStats) {
        self.records += other.records;
        self.decoded += other.decoded;
        self.prefiltered += other.prefiltered;
        self.invalid += other.invalid;
        self.without_index += other.without_index;
        for (index, n) in &other.outside_indices {
            *self.outside_indices.entry(index.clone()).or_default() += n;
        }
        self.hits += other.hits;
        self.duplicates += other.duplicates;
        for (key, n) in &other.excepted {
            *self.excepted.entry(*key).or_default() += n;
        }
    }
}

/// What became of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Read; hits (if any) went to the sink.
    Scanned,
    /// Not an event: why. The caller reports it with its position.
    Invalid(RecordError),
    /// The sink asked to stop.
    Stopped,
}

/// An event that matched at least one rule: owned, so that it can travel between threads, and
/// not yet deduplicated ([`Scanner::deliver`] does that, in input order).
#[derive(Clone, Debug)]
pub struct Matched {
    pub(crate) event: Value,
    pub(crate) index: Option<String>,
    pub(crate) event_id: String,
    /// The rules it matched (by position in the rule set), with the alert identities.
    pub(crate) rules: Vec<(usize, AlertId)>,
    pub(crate) line: u64,
}

/// How to scan.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    /// The index every event is taken to be in (`--index`), instead of the one derived from it.
    pub index: Option<String>,
}

/// Tests events against a [`RuleSet`], each event once against every rule, and hands each hit to
/// a [`Sink`] once per event and rule.
#[derive(Debug)]
pub struct Scanner<'r, 'c> {
    rules: &'r RuleSet<'c>,
    options: ScanOptions,
    /// The alerts already handed on (by [`AlertId::short`]).
    alerted: HashSet<u128>,
    candidates: Vec<bool>,
    /// The projection for each set of candidate rules seen, up to [`PROJECTIONS`] sets.
    projections: HashMap<Vec<bool>, Option<Projection>>,
    /// Whether some rule's index patterns cover an index, by index name.
    covered: HashMap<String, bool>,
    stats: ScanStats,
}

/// Sets of candidate rules whose projections a scanner keeps. Lines of one kind of event make the
/// same rules candidates, so a few sets recur; past this many, a new set's projection is built
/// for its line and dropped.
const PROJECTIONS: usize = 1024;

impl<'r, 'c> Scanner<'r, 'c> {
    /// A scanner over `rules`.
    pub fn new(rules: &'r RuleSet<'c>, options: ScanOptions) -> Scanner<'r, 'c> {
        Scanner {
            rules,
            options,
            alerted: HashSet::new(),
            candidates: Vec::new(),
            projections: HashMap::new(),
            covered: HashMap::new(),
            stats: ScanStats::default(),
        }
    }

    /// What the scan has seen so far.
    pub fn stats(&self) -> &ScanStats {
        &self.stats
    }

    /// What the scan has seen since the last call (a worker's share, in a parallel scan).
    pub fn take_stats(&mut self) -> ScanStats {
        std::mem::take(&mut self.stats)
    }

    /// Adds what another scanner saw (a worker's, in a parallel scan).
    pub fn absorb(&mut self, other: &ScanStats) {
        self.stats.add(other);
    }

    /// Counts a record that never reached the scanner: one that could not be read or
    /// normalized.
    pub fn count_unreadable(&mut self) {
        self.stats.records += 1;
        self.stats.invalid += 1;
    }

    /// Scans one NDJSON line: [`Scanner::match_line`], then [`Scanner::deliver`].
    ///
    /// # Errors
    ///
    /// When the sink fails.
    pub fn scan_line<S: Sink>(
        &mut self,
        line: &[u8],
        position: Position<'_>,
        sink: &mut S,
    ) -> Result<Outcome, S::Error> {
        match self.match_line(line, position.line) {
            Err(message) => Ok(Outcome::Invalid(message)),
            Ok(None) => Ok(Outcome::Scanned),
            Ok(Some(matched)) => self.delivered(&matched, position.source, sink),
        }
    }

    /// Scans one decoded event (an element of a JSON array, a normalized record):
    /// [`Scanner::match_event`], then [`Scanner::deliver`].
    ///
    /// # Errors
    ///
    /// When the sink fails.
    pub fn scan_event<S: Sink>(
        &mut self,
        event: Value,
        position: Position<'_>,
        sink: &mut S,
    ) -> Result<Outcome, S::Error> {
        match self.match_event(event, position.line) {
            None => Ok(Outcome::Scanned),
            Some(matched) => self.delivered(&matched, position.source, sink),
        }
    }

    fn delivered<S: Sink>(&mut self, matched: &Matched, source: &str, sink: &mut S) -> Result<Outcome, S::Error> {
        Ok(if self.deliver(matched, source, sink)? { Outcome::Scanned } else { Outcome::Stopped })
    }

    /// Tests one NDJSON line against the rules. Lines no rule can match (by the rules' required
    /// literals) are not decoded, unless they do not even look like a whole JSON document.
    ///
    /// # Errors
    ///
    /// The reason a line is not a JSON document (the caller reports it).
    pub fn match_line(&mut self, line: &[u8], line_no: u64) -> Result<Option<Matched>, RecordError> {
        self.match_bytes(line, line_no, None)
    }

    /// Whether a raw Office 365 record (one NDJSON line) can be left out without normalizing it:
    /// no rule may match the document it makes, by the literals that document would copy from
    /// it. A record that does not look like a whole JSON object with a valid `CreationTime` is
    /// not left out, so that its problem is reported (as ECS lines, a record that looks whole is
    /// not checked further). Counted as prefiltered.
    pub fn raw_prefiltered(&mut self, record: &[u8]) -> bool {
        let mut candidates = std::mem::take(&mut self.candidates);
        let any = self.rules.raw_candidates(record, &mut candidates);
        self.candidates = candidates;
        let skip = !any && ecs::looks_whole(record) && creation_time(record).is_some_and(o365::is_creation_time);
        if skip {
            self.stats.records += 1;
            self.stats.prefiltered += 1;
        }
        skip
    }

    /// Tests one stored event, whose index and identity the store knows, against the rules; its
    /// sequence number stands for the line number.
    ///
    /// # Errors
    ///
    /// The reason the stored document is not JSON.
    pub fn match_stored(&mut self, event: &StoredEvent) -> Result<Option<Matched>, RecordError> {
        // An empty index is an unknown one, which every rule searches.
        let index = Some(event.index.as_str()).filter(|i| !i.is_empty());
        self.match_bytes(event.document.as_bytes(), event.seq, Some((index, &event.event_id)))
    }

    fn match_bytes(
        &mut self,
        line: &[u8],
        line_no: u64,
        known: Option<(Option<&str>, &str)>,
    ) -> Result<Option<Matched>, RecordError> {
        self.stats.records += 1;
        let mut candidates = std::mem::take(&mut self.candidates);
        let any = self.rules.candidates(line, &mut candidates);
        let outcome = if !any && ecs::looks_whole(line) {
            self.stats.prefiltered += 1;
            Ok(None)
        } else {
            // Only the fields the candidate rules read are decoded; a match decodes the whole line.
            let built;
            let projection = match self.projections.get(&candidates) {
                Some(projection) => projection.as_ref(),
                None if self.projections.len() < PROJECTIONS => self
                    .projections
                    .entry(candidates.clone())
                    .or_insert_with(|| self.rules.projection(&candidates))
                    .as_ref(),
                None => {
                    built = self.rules.projection(&candidates);
                    built.as_ref()
                }
            };
            let projected = projection.is_some();
            let decoded = match projection {
                Some(projection) => Document::parse_projected(line, projection),
                None => Document::parse_bytes(line),
            };
            match decoded {
                Err(err) => {
                    self.stats.invalid += 1;
                    Err(RecordError::Json(err.to_string()))
                }
                Ok(doc) => Ok(self.test(doc.into_root(), Some(line), line_no, &candidates, projected, known)),
            }
        };
        self.candidates = candidates;
        outcome
    }

    /// Tests one decoded event against every rule.
    pub fn match_event(&mut self, event: Value, line_no: u64) -> Option<Matched> {
        self.stats.records += 1;
        let mut all = std::mem::take(&mut self.candidates);
        all.clear();
        all.resize(self.rules.len(), true);
        let matched = self.test(event, None, line_no, &all, false, None);
        self.candidates = all;
        matched
    }

    /// Tests a decoded event; `projected` says it holds only the rules' fields, so that a match
    /// decodes the whole line (`raw`) for the alert. `known` is the index and identity a store
    /// gave the event.
    fn test(
        &mut self,
        root: Value,
        raw: Option<&[u8]>,
        line: u64,
        candidates: &[bool],
        projected: bool,
        known: Option<(Option<&str>, &str)>,
    ) -> Option<Matched> {
        self.stats.decoded += 1;
        // A search hit (`{"_index", "_id", "_source"}`) carries its index and identity.
        let hit_index = match root.get("_source") {
            Some(Value::Object(_)) => Some(root.get("_index").and_then(Value::as_str).map(str::to_owned)),
            _ => None,
        };
        let event = match &hit_index {
            Some(_) => root.get("_source").unwrap_or(&root),
            None => &root,
        };
        let is_hit = hit_index.is_some();
        let index = match known {
            Some((index, _)) => index.map(str::to_owned),
            None => self
                .options
                .index
                .clone()
                .or(hit_index.flatten())
                .map(|i| if resolve_backing(&i).len() == i.len() { i } else { resolve_backing(&i).to_owned() })
                .or_else(|| event_index(event)),
        };
        match &index {
            None => self.stats.without_index += 1,
            Some(index) => {
                let covered = match self.covered.get(index.as_str()) {
                    Some(covered) => *covered,
                    None => {
                        let covered = self.rules.rules().iter().any(|r| r.index.covers(Some(index)));
                        self.covered.insert(index.clone(), covered);
                        covered
                    }
                };
                if !covered {
                    *self.stats.outside_indices.entry(index.clone()).or_default() += 1;
                }
            }
        }
        let mut event_id: Option<String> = None;
        let mut rules = Vec::new();
        for (at, (compiled, _)) in self.rules.rules().iter().zip(candidates).enumerate().filter(|(_, (_, c))| **c) {
            if !compiled.index.covers(index.as_deref()) || !compiled.matches(event) {
                continue;
            }
            if let Some(list) = compiled.exceptions.excluding(event) {
                *self.stats.excepted.entry((at, list)).or_default() += 1;
                continue;
            }
            let id = event_id.get_or_insert_with(|| match known {
                Some((_, id)) => id.to_owned(),
                None => alert::event_id(&root, raw),
            });
            rules.push((at, AlertId::new(index.as_deref().unwrap_or(""), id, &compiled.rule.id.0)));
        }
        if rules.is_empty() {
            return None;
        }
        let event_id = event_id.unwrap_or_default();
        let root = match raw {
            Some(raw) if projected => Document::parse_bytes(raw).map(Document::into_root).unwrap_or(root),
            _ => root,
        };
        let event = match root {
            Value::Object(mut map) if is_hit => map.remove("_source").unwrap_or_default(),
            root => root,
        };
        Some(Matched { event, index, event_id, rules, line })
    }

    /// Hands a matched event's hits to the sink, each (index, event, rule) once per scan: a
    /// re-delivered event is dropped here. Returns `false` when the sink asks to stop.
    ///
    /// # Errors
    ///
    /// When the sink fails.
    pub fn deliver<S: Sink>(&mut self, matched: &Matched, source: &str, sink: &mut S) -> Result<bool, S::Error> {
        for &(rule, alert_id) in &matched.rules {
            if !self.alerted.insert(alert_id.short()) {
                self.stats.duplicates += 1;
                continue;
            }
            self.stats.hits += 1;
            let hit = Hit {
                rule: &self.rules.rules()[rule].rule,
                event: &matched.event,
                index: matched.index.as_deref(),
                event_id: &matched.event_id,
                alert_id,
                position: Position { source, line: matched.line },
                extra: &[],
            };
            if !sink.hit(&hit)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A raw record's `CreationTime`, read from its bytes: the string after the first such key, if it
/// has no escapes.
fn creation_time(record: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"CreationTime\"";
    let at = memchr::memmem::find(record, KEY)? + KEY.len();
    let rest = record[at..].trim_ascii_start().strip_prefix(b":")?.trim_ascii_start().strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    (rest[end] == b'"').then(|| std::str::from_utf8(&rest[..end]).ok()).flatten()
}
