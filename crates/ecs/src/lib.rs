//! Event documents and the field catalog that types them.
//!
//! A [`Document`] is one event as JSON; [`Document::values`] finds the values at a dotted field
//! path the way Elasticsearch indexes them: through nested objects, literal dotted keys
//! (`{"event.action": ..}`) or both, flattening arrays at every level. A [`Catalog`] says what
//! type each field has ([`FieldType`]), from ECS and the Office 365 integration's mappings, so that
//! callers can compare values as the index would. [`date`] parses Elasticsearch dates and date math.
//!
//! This crate knows no query language; `kql` builds on it.
//!
//! ```
//! let doc = ecs::Document::parse(r#"{"event.action":"Set-DkimSigningConfig","o365":{"audit":{"Parameters":{"Enabled":"False"}}}}"#)?;
//! let enabled: Vec<_> = doc.values(&ecs::Path::new("o365.audit.Parameters.Enabled")).collect();
//! assert_eq!(enabled, [&serde_json::json!("False")]);
//! let ty = ecs::Catalog::builtin().get("o365.audit.Parameters.Enabled").map(|f| f.ty());
//! assert_eq!(ty, Some(ecs::FieldType::Keyword));
//! # Ok::<(), ecs::DocumentError>(())
//! ```
#![deny(missing_docs)]

mod catalog;
pub mod date;
mod document;
mod projection;

pub use crate::{
    catalog::{Catalog, Field, FieldType},
    document::{Document, DocumentError, Path, decode, looks_whole, walk_leaves},
    projection::Projection,
};
pub use serde_json::Value;

/// How a field's text in a document got there from the record the document was made from (an
/// Office 365 audit record normalized into ECS, say): what a prefilter searching the records,
/// before they are made into documents, may look for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copied {
    /// Worked out, converted or added: neither its values nor its name may be looked for.
    No,
    /// Its string values are copied verbatim (under another name).
    Value,
    /// Its string values are copied verbatim, under a key that ends with its last name segment.
    ValueAndName,
    /// Its string values are copied verbatim (under another name), except these, which are
    /// written in place of others: a literal inside one of them may not be in the record.
    Except(&'static [&'static str]),
}
