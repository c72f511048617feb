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
//! The engine's storage traits stay as they are: a node's [`ClusterLog`] is its
//! [`EventLog`](engine::storage::EventLog) (appends go to the stream, reads to the node's
//! store), and everything else reads the node's store.
#![deny(missing_docs)]

mod config;
mod events;

pub use crate::config::{Settings, SettingsError, SettingsFile};
pub use crate::events::{Cluster, ClusterError, ClusterLog, Replicator};
