//! Event Query Language, as Elasticsearch reads it.
//!
//! [`parse`] turns text into a [`Query`]: an event query (`process where ...`), a `sequence` or
//! a `sample`, with its pipes. Every node carries the [`Span`] of the text it came from, and an
//! [`Error`] points at the spot with a caret ([`Error::snippet`]). `Display` gives the canonical
//! form, which parses back to the same query.
//!
//! The grammar is Elasticsearch's (`EqlBase.g4`): keywords in lower case, `==` case-sensitive and
//! `:` case-insensitive with wildcards, `like`/`regex` and their `~` forms, `in`/`in~`/`not in`,
//! strings in double quotes with `\n \r \t \b \f \" \' \\ \u{hex}` escapes or raw in `"""`,
//! field names escaped in backticks, `?field` for optional fields, `![ ... ]` for missing events
//! in sequences and `with runs=N` for repeated ones. This crate does no IO and knows nothing of
//! rules.
//!
//! ```
//! let query = eql::parse(r#"process where process.name : "cmd.exe" and not process.args in ("/c", "/k")"#)?;
//! assert_eq!(query.to_string(), r#"process where process.name : "cmd.exe" and not process.args in ("/c", "/k")"#);
//! # Ok::<(), eql::Error>(())
//! ```
#![deny(missing_docs)]

mod ast;
mod error;
mod eval;
mod lexer;
mod literals;
mod parser;
mod print;
mod sequence;

pub use crate::{
    ast::{
        Arith, Compare, EventFilter, Expr, ExprKind, MatchKind, MaxSpan, Pipe, Query, QueryKind, Sample, Sequence, Term,
    },
    error::{Error, ErrorKind},
    eval::EventMatcher,
    parser::{MAX_DEPTH, MAX_LEN, parse},
    sequence::{Event, Found, MAX_PENDING, SequenceMatcher},
};
pub use kql::Span;
