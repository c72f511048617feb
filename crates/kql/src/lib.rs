//! Kibana Query Language: parse it, print it, compile it, match documents with it.
//!
//! [`parse`] turns text into a [`Query`] (a syntax tree whose nodes carry [`Span`]s), exactly as
//! Kibana's grammar reads it. [`Query::compile`] takes field types from an [`ecs::Catalog`] and
//! returns a [`Matcher`] that judges an [`ecs::Document`] as Elasticsearch would with those
//! mappings; [`Matcher::explain`] says why. [`Query::to_dsl`] gives the Query DSL Kibana would
//! send, [`Query::required_literals`] the [`Literals`] a line must hold to possibly match, and
//! `Display` the canonical form, which parses back to the same query.
//!
//! This crate does no IO and knows nothing of rules.
//!
//! ```
//! let query = kql::parse(r#"event.action:"Set-DkimSigningConfig" and o365.audit.Parameters.Enabled:False"#)?;
//! let matcher = query.compile(ecs::Catalog::builtin())?;
//! let doc = ecs::Document::parse(r#"{"event":{"action":"Set-DkimSigningConfig"},"o365.audit.Parameters.Enabled":"False"}"#).unwrap();
//! assert!(matcher.matches(&doc));
//! # Ok::<(), kql::Error>(())
//! ```
#![deny(missing_docs)]

mod ast;
mod compile;
mod dsl;
mod error;
mod literals;
mod matcher;
mod parser;
mod print;
mod span;
mod text;

pub use crate::{
    ast::{Expr, ExprKind, Query, RangeOp, Term, TermKind, ValueExpr, ValueExprKind, Wildcard},
    error::{Error, ErrorKind},
    literals::{AnyCase, Literals, has_case_hazard, has_escape},
    matcher::{Explanation, Matcher},
    parser::{MAX_DEPTH, MAX_LEN, parse},
    print::{field_name, quote},
    span::Span,
    text::tokens as analyze,
};
