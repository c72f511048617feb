//! The engine's storage traits on an embedded SQLite database: the event log, alerts and their
//! workflow, rule state and execution history; and the service's own records: API keys and the
//! audit trail ([`Access`]), the notifications outbox (the engine's
//! [`engine::storage::Outbox`]), where pulls from the Office 365 API stand ([`Checkpoints`]), exception
//! lists and value lists ([`Tuning`]).
//!
//! [`Sqlite::open`] opens (or creates) `vigil.db` in a data directory and brings its schema up to
//! date; the value implements [`engine::storage::Store`]. Writes are durable when they return
//! (write-ahead log, `synchronous = FULL`), so a process killed at any point loses nothing that
//! was acknowledged. The store knows no KQL: rules are the engine's business.
//!
//! ```
//! use engine::storage::{EventLog, NewEvent, Appended};
//! let dir = tempfile::tempdir()?;
//! let store = store::Sqlite::open(dir.path())?;
//! let event = NewEvent {
//!     index: "logs-o365.audit-default".into(),
//!     event_id: "3f5a".into(),
//!     timestamp: None,
//!     ingested: ecs::date::Timestamp::now(),
//!     document: r#"{"event":{"action":"Set-DkimSigningConfig"}}"#.into(),
//! };
//! assert_eq!(store.append(&[event.clone(), event])?, [Appended::Stored(1), Appended::Duplicate(1)]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod access;
mod checkpoints;
mod memory;
mod outbox;
mod sqlite;
mod tuning;

pub use crate::access::{Access, ApiKey, AuditEntry, Role};
pub use crate::checkpoints::{Checkpoint, Checkpoints, Taken};
pub use crate::sqlite::{Sqlite, event_key};
pub use crate::tuning::{Tuning, read_toml};
