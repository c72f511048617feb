//! Who runs an execution: a lease per rule group and scheduled start, taken by one node.
//!
//! The leases live in a replicated key-value bucket whose entries expire after the lease's
//! time. A node runs a due execution only if it creates its key first (a create is a
//! compare-and-swap on "no such key" in the stream's order, so one node wins); the others skip
//! it. If the winner dies before committing, the key expires and the next node to find the
//! execution due takes it. Correctness does not rest on this: the state log fences commits
//! (see [`crate::StateLog`]); the lease only keeps nodes from doing the same work twice.

use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use sha2::Digest;

use crate::events::{Cluster, ClusterError};

/// The bucket of leases.
pub const BUCKET: &str = "vigil_leases";

/// A node's handle on the leases.
#[derive(Clone, Debug)]
pub struct Leases {
    bucket: kv::Store,
    node: String,
}

impl Leases {
    /// The leases of `cluster`, each held for `ttl` (after which another node may take it);
    /// makes the bucket when it does not exist.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Stream`] when the bucket cannot be made or read.
    pub async fn open(cluster: &Cluster, ttl: Duration) -> Result<Leases, ClusterError> {
        let jetstream = cluster.jetstream();
        let bucket = match jetstream.get_key_value(BUCKET).await {
            Ok(bucket) => bucket,
            Err(_) => jetstream
                .create_key_value(kv::Config {
                    bucket: BUCKET.into(),
                    history: 1,
                    max_age: ttl,
                    num_replicas: cluster.settings().replicas,
                    storage: async_nats::jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(|e| ClusterError::Stream(format!("the lease bucket {BUCKET}: {e}")))?,
        };
        Ok(Leases { bucket, node: cluster.settings().name.clone() })
    }

    /// Whether this node takes the execution named by `parts` (its rules and scheduled start):
    /// `true` when it created the lease or holds it already, `false` when another node does, or
    /// when the bucket cannot be reached after a few tries (the node's next tick asks again; a
    /// commit needs the cluster anyway).
    pub async fn take(&self, parts: &[&str]) -> bool {
        let mut hash = sha2::Sha256::new();
        for part in parts {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        let key: String = hash.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
        for attempt in 1..=3 {
            match self.bucket.create(&key, Bytes::from(self.node.clone())).await {
                Ok(_) => return true,
                Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {
                    return matches!(self.bucket.entry(&key).await, Ok(Some(entry)) if entry.value == self.node.as_bytes());
                }
                Err(err) => {
                    tracing::debug!(%err, attempt, "the lease bucket did not answer");
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
            }
        }
        tracing::warn!("the lease bucket cannot be reached; the execution waits for the next tick");
        false
    }
}
