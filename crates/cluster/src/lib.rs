//! Cluster mode: several `vigil serve` nodes on one NATS JetStream cluster.
//!
//! **Events.** The cluster's event log is one replicated JetStream stream (`VIGIL_EVENTS`,
//! file storage, `replicas` copies, retention by age and size). Any node publishes to it; a
//! publish is acknowledged once the stream's quorum has it, and only then does the node answer
//! its client. An event's message id is its identity in the store ([`store::event_key`]:
//! index and event id), so the stream drops a re-sent event within its duplicate window, and
//! every node's store drops it after that. The stream's sequence number is the event's ingest
//! sequence number: every node applies the stream, in order, to its own store
//! ([`Replicator`]), so every node holds the same events under the same numbers and the
//! engine's executions and their coverage mean the same thing on every node.
//!
//! **State.** Execution commits, workflow changes, rule switches, API keys and the audit trail,
//! exception lists and Office 365 checkpoints go to a second stream, `VIGIL_STATE`, that every
//! node applies in order to its store ([`StateLog`]); a commit is fenced by the coverage it
//! started from, so two nodes running the same rule never double its alerts.
//!
//! The engine's storage traits stay as they are: a node's [`ClusterStore`] implements them,
//! appending to the event log, committing and triaging through the state log, and reading the
//! node's store for everything else.
#![deny(missing_docs)]

mod config;
mod events;
mod leases;
mod state;
mod store;

pub use crate::config::{Settings, SettingsError, SettingsFile};
pub use crate::events::{Cluster, ClusterError, ClusterLog, Replicator};
pub use crate::leases::Leases;
pub use crate::state::{StateLog, add_key, revoke_key};
pub use crate::store::ClusterStore;
