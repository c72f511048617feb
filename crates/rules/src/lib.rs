//! Elastic detection rules as data: load them, validate them, keep every field.
//!
//! [`load_path`] reads detection-rules TOML files and Kibana rule exports (NDJSON), from a file or
//! a folder tree, into [`Rule`]s; every problem becomes a [`Diagnostic`] with `file:line:column`
//! (KQL errors point into the query inside the file), and one bad rule never stops the others.
//! [`builtin`] is the pack compiled into vigil. Defaults are Elastic's: `from` now-6m, `to` now,
//! `interval` 5m, `max_signals` 100.
//!
//! This crate describes rules; it runs nothing (`engine` does).
//!
//! ```
//! let loaded = rules::builtin();
//! let dkim = &loaded.rules[0];
//! assert_eq!(dkim.name, "Microsoft 365 Exchange DKIM Signing Configuration Disabled");
//! assert_eq!((dkim.interval.to_string(), dkim.from.0.as_str(), dkim.max_signals), ("5m".into(), "now-30m", 100));
//! assert!(dkim.unsupported().is_none());
//! ```
#![deny(missing_docs)]

pub mod actions;
mod diagnostic;
mod duration;
pub mod exceptions;
mod filter;
mod load;
mod model;
mod pack;
mod query_filter;
mod terms;
mod threat;
mod validate;

pub use crate::{
    diagnostic::{Diagnostic, Level, Problem, Snippet},
    duration::{Interval, IntervalError},
    filter::Filter,
    load::{Loaded, builtin, load_file, load_ndjson, load_path, load_toml},
    model::{Origin, Rule, RuleId, RuleType, Severity},
    pack::{PACK, PackRule},
    query_filter::QueryFilter,
    terms::{Cardinality, NewTerms, Threshold},
    threat::{Entry, TACTICS, Technique, Threat},
};
pub use ecs::date::{DateMath, DateMathError, Timestamp};
