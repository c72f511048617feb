//! Office 365 Management Activity records to ECS, as Elastic's `o365` integration indexes them.
//!
//! [`normalize`] runs one raw audit record through the integration's ingest pipeline, processor
//! by processor, and returns the document Elastic would index (`@timestamp`, `event.*`,
//! `user.*`, `client.*`/`source.*`, `server.*`, `organization.*`, `host.*`, `related.*`, the
//! per-workload fields, and everything else under `o365.audit`). [`normalize_line`] does the
//! same for a record still in its text and writes the document's JSON, with no
//! `serde_json::Value` in between (the record is decoded once, its strings borrowed). [`Options`]
//! carries the integration's settings. Not done: the `user_agent` parser and GeoIP lookups.
//!
//! ```
//! let record = serde_json::json!({"CreationTime": "2025-03-04T09:15:42", "Id": "3f5a", "Operation": "Set-DkimSigningConfig",
//!     "RecordType": 1, "ResultStatus": "True", "UserId": "admin@contoso.com", "Workload": "Exchange",
//!     "Parameters": [{"Name": "Identity", "Value": "contoso.com"}, {"Name": "Enabled", "Value": "False"}]});
//! let doc = o365::normalize(record, &o365::Options::default())?;
//! assert_eq!(doc["event"]["action"], "Set-DkimSigningConfig");
//! assert_eq!(doc["o365"]["audit"]["Parameters"]["Enabled"], "False");
//! assert_eq!(doc["@timestamp"], "2025-03-04T09:15:42.000Z");
//! # Ok::<(), o365::NormalizeError>(())
//! ```
#![deny(missing_docs)]

mod address;
pub mod api;
mod ctx;
mod node;
mod normalize;
pub mod purview;

pub use crate::normalize::{
    NormalizeError, Options, copied, has_raw_keys, is_creation_time, is_raw_record, normalize, normalize_line,
};
