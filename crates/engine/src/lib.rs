//! Rules meet events: the record-to-event stage, compiled rule sets, scans, alerts, schedule
//! replay and scheduled executions.
//!
//! Every source's records become events through [`Events`] (raw Office 365 records normalized,
//! the rest taken as they are; a record that cannot is a [`Problem`]). A [`RuleSet`] compiles
//! the rules vigil can run (KQL query rules) against a field catalog and builds one prefilter
//! over all of their required literals. A [`Scanner`] reads events (NDJSON
//! lines or decoded values, from [`source`]), tests each once against every rule whose index
//! patterns cover it, and hands each [`Hit`] to a [`Sink`] once per event and rule; the alert's
//! identity is `sha256(index, event id, rule_id)` ([`AlertId`]). [`Replay`] turns a scan's hits
//! into the alerts Elastic would have created execution by execution, with `max_signals`.
//! [`pipeline::scan`] runs the whole path over files on many threads, in input order;
//! [`schedule::execute`] runs it over a store's range for the service.
//!
//! The engine knows no HTTP and no SQL.
//!
//! ```
//! use engine::{Outcome, Position, RuleSet, ScanOptions, Scanner, Sink, Hit};
//!
//! struct Count(usize);
//! impl Sink for Count {
//!     type Error = std::convert::Infallible;
//!     fn hit(&mut self, _: &Hit<'_>) -> Result<bool, Self::Error> { self.0 += 1; Ok(true) }
//! }
//!
//! let (rules, _skipped) = RuleSet::compile(rules::builtin().rules, ecs::Catalog::builtin(), ecs::date::Timestamp::now());
//! let mut scanner = Scanner::new(&rules, ScanOptions { index: None });
//! let line = br#"{"event":{"dataset":"o365.audit","provider":"Exchange","category":"web","action":"Set-DkimSigningConfig","outcome":"success"},"o365":{"audit":{"Parameters":{"Enabled":"False"}}}}"#;
//! let mut count = Count(0);
//! let outcome = scanner.scan_line(line, Position { source: "example", line: 1 }, &mut count)?;
//! assert_eq!((outcome, count.0), (Outcome::Scanned, 1));
//! # Ok::<(), std::convert::Infallible>(())
//! ```
#![deny(missing_docs)]

mod alert;
pub mod exceptions;
mod filters;
mod fixtures;
mod index;
mod ingest;
pub mod overrides;
pub mod parallel;
pub mod pipeline;
mod records;
mod replay;
mod ruleset;
mod scan;
pub mod schedule;
mod sequence;
pub mod source;
pub mod storage;
pub mod suppression;
pub mod terms;

pub use crate::{
    alert::{AlertContext, AlertId, document as alert_document, event_id, event_time, field_texts, reason},
    fixtures::{Verdict, run_examples},
    index::{IndexPatterns, event_index, resolve_backing},
    ingest::{prepare, prepare_bytes},
    records::{Events, Format, Problem, RecordError, Unnamed},
    replay::{MAX_SEQUENCE_BYTES, Replay, ReplayReport, RuleReplay, Truncation},
    ruleset::{CompiledRule, RuleSet, Skipped},
    scan::{Hit, Matched, Outcome, Position, ScanOptions, ScanStats, Scanned, Scanner, Sink},
    sequence::order_time,
};
