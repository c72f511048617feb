//! The cluster's state log: what executions commit (alerts, execution records, rule progress,
//! what threshold and new terms rules remember), workflow changes, rule switches and Office 365
//! pull checkpoints, as transitions in one replicated stream that every node applies, in the
//! stream's order, to its own store.
//!
//! Correctness does not rest on which node runs a rule. Two nodes may run the same rule at the
//! same time (each from the same coverage): both publish their commit, and every node applies
//! the first one in the stream's order and skips the other, because a commit is fenced by the
//! coverage it started from (and an execution already applied is not applied again). Since
//! every node applies the same transitions in the same order, every node's store holds the same
//! alerts, statuses and rule progress. Every node queues a commit's notifications; each attempt
//! at one is made by the node that takes its lease, and its outcome is a transition too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{consumer, stream};
use bytes::Bytes;
use ecs::date::Timestamp;
use engine::AlertId;
use engine::storage::{
    AlertStore, ExecutionRecord, MemoryUpdate, NewAlert, NewNotification, Outbox, RuleState, RuleStates, StatusChange,
    Suppressed,
};
use futures_util::StreamExt;
use rules::exceptions::{ExceptionList, Exceptions, NamespaceType};
use serde::{Deserialize, Serialize};
use store::{Access, ApiKey, AuditEntry, Tuning};
use tokio::sync::watch;

use crate::events::{Cluster, ClusterError};

/// The stream of state transitions.
pub const STATE_STREAM: &str = "VIGIL_STATE";
/// Its subject.
const SUBJECT: &str = "vigil.state";

/// One change of the state every node keeps.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Transition {
    /// An execution's outcome, as the engine commits it.
    Commit(Box<Commit>),
    /// A workflow change of some alerts, with its audit entry when a person made it (its
    /// target becomes the alerts that changed).
    Status {
        /// The node it was made on.
        author: String,
        ids: Vec<AlertId>,
        change: StatusChange,
        #[serde(default)]
        audit: Option<AuditEntry>,
    },
    /// A rule switched on or off, with its audit entry when a person did it.
    Switch {
        /// The node it was made on.
        author: String,
        rule_id: String,
        enabled: bool,
        #[serde(default)]
        audit: Option<AuditEntry>,
    },
    /// An API key made or revoked, or an entry of the audit trail.
    Access {
        /// The node it was made on.
        author: String,
        change: AccessChange,
    },
    /// A notification's delivery: sent, an attempt failed, or retried by a person.
    Delivery {
        /// The node that delivered it.
        author: String,
        /// The notification: its connector and key.
        connector: String,
        key: String,
        change: DeliveryChange,
    },
    /// An exception list or value list stored or removed, with its audit entry.
    Tuning {
        /// The node it was made on.
        author: String,
        change: TuningChange,
        audit: AuditEntry,
    },
    /// An Office 365 checkpoint: a blob taken, a listing window done, old blobs forgotten.
    Checkpoint {
        /// The node that pulled.
        author: String,
        change: CheckpointChange,
    },
}

/// A change of the Office 365 pull checkpoints, so that a node taking over a tenant's pull
/// resumes where the last one stopped.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum CheckpointChange {
    Taken { tenant: String, content_type: String, content_id: String, created: Timestamp, taken: store::Taken },
    Listed { tenant: String, content_type: String, to: Timestamp },
    Forget { before: Timestamp },
}

/// A change of the API keys or the audit trail: every node accepts the same keys and keeps the
/// same trail.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum AccessChange {
    AddKey { key: store::ApiKey, digest: [u8; 32], audit: AuditEntry },
    Revoke { id: String, at: Timestamp, audit: AuditEntry },
    Audit(AuditEntry),
}

/// What happened to a notification's delivery (as the engine's outbox records it).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum DeliveryChange {
    Sent { at: Timestamp },
    Failed { error: String, retry: Option<Timestamp> },
    Retry { now: Timestamp },
}

/// A change of the exception lists or value lists, so that every node's executions apply the
/// same ones. Lists travel in vigil's TOML form.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum TuningChange {
    /// Store the one list or value list in `toml`; an exception list only if the one stored
    /// is still `if_stored` (its TOML, `None` for none), when that is given: two nodes
    /// changing a list at once never overwrite each other's items.
    Put {
        toml: String,
        if_stored: Option<Option<String>>,
    },
    DeleteList {
        list_id: String,
        namespace: String,
    },
    DeleteValueList {
        id: String,
    },
}

/// An execution's outcome, as the engine commits it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Commit {
    /// The node that ran it.
    pub author: String,
    pub record: ExecutionRecord,
    pub alerts: Vec<NewAlert>,
    pub suppressed: Vec<Suppressed>,
    pub state: RuleState,
    pub notifications: Vec<NewNotification>,
    pub memory: MemoryUpdate,
}

/// What applying a transition did, for the node that published it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Applied {
    /// The commit was applied (`true`), or skipped because another commit from the same
    /// coverage came first (`false`).
    Commit(bool),
    /// The alerts whose status changed.
    Status(Vec<AlertId>),
    /// The rule's switch is set.
    Switched,
    /// The checkpoint changed (with how many blobs were forgotten, for `Forget`).
    Checkpointed(u64),
    /// An access or tuning change was made (`true`), or had nothing to do: no such key or
    /// list, or a list changed meanwhile (`false`).
    Changed(bool),
}

/// The state log of one node: publishing transitions and applying the log to the node's store.
#[derive(Clone, Debug)]
pub struct StateLog {
    cluster: Cluster,
    local: Arc<store::Sqlite>,
    /// Where the node keeps how far it has applied the log (a file in its data directory).
    position: PathBuf,
    /// How far the node has applied the log.
    applied: watch::Sender<u64>,
    /// Outcomes of the transitions this node published, by sequence number, until read.
    outcomes: Arc<Mutex<HashMap<u64, Applied>>>,
    /// Transitions this node published (for their message ids).
    published: Arc<std::sync::atomic::AtomicU64>,
}

impl StateLog {
    /// The state log of the node whose store is `local`, keeping its position in `position`;
    /// makes sure the stream exists.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Stream`].
    pub async fn open(
        cluster: Cluster,
        local: Arc<store::Sqlite>,
        position: PathBuf,
    ) -> Result<StateLog, ClusterError> {
        let config = stream::Config {
            name: STATE_STREAM.into(),
            subjects: vec![SUBJECT.into()],
            storage: stream::StorageType::File,
            num_replicas: cluster.settings().replicas,
            ..Default::default()
        };
        cluster.create_stream(config).await?;
        let at = std::fs::read_to_string(&position).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
        let (applied, _) = watch::channel(at);
        Ok(StateLog { cluster, local, position, applied, outcomes: Arc::default(), published: Arc::default() })
    }

    /// Publishes `transition` and waits until this node has applied it; returns what that did.
    /// Its message id is this call's own (the node, the time, a counter): resends of it are
    /// dropped by the stream, and the same change made again later (a rule switched off, on and
    /// off) is a transition of its own.
    pub(crate) async fn publish(&self, transition: &Transition) -> Result<Applied, String> {
        let n = self.published.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seq = send(&self.cluster, transition, n).await.map_err(|e| e.to_string())?;
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(Duration::from_secs(30), applied.wait_for(|&at| at >= seq))
            .await
            .map_err(|_| "this node did not apply its own transition within 30 s".to_owned())?
            .map_err(|e| e.to_string())?;
        let outcome = self.outcomes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&seq);
        outcome.ok_or_else(|| format!("transition {seq} was applied without an outcome"))
    }

    /// Waits until this node has applied the log as far as it went when called (a node starting
    /// catches up with what the others did while it was away, before it looks at its keys).
    ///
    /// # Errors
    ///
    /// [`ClusterError::Stream`] when the stream cannot be read.
    pub async fn caught_up(&self) -> Result<(), ClusterError> {
        let last = self.cluster.stream_last_seq(STATE_STREAM).await?;
        let _ = self.applied.subscribe().wait_for(|&at| at >= last).await;
        Ok(())
    }

    /// Applies the log to the node's store, in order, from where it stopped; runs until the
    /// task is dropped, retrying when the cluster cannot be read.
    pub async fn apply(self) {
        let mut delay = Duration::from_millis(100);
        loop {
            if let Err(err) = self.follow().await {
                tracing::warn!(%err, "the cluster's state log could not be applied; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            } else {
                delay = Duration::from_millis(100);
            }
        }
    }

    async fn follow(&self) -> Result<(), String> {
        let start = *self.applied.borrow() + 1;
        let stream = self.cluster.stream(STATE_STREAM).await.map_err(|e| e.to_string())?;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: start },
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
        loop {
            let message = match tokio::time::timeout(crate::events::IDLE, messages.next()).await {
                Ok(Some(message)) => message.map_err(|e| e.to_string())?,
                Ok(None) => return Err("the state log's consumer ended".into()),
                Err(_) => {
                    let log = self.cluster.stream_last_seq(STATE_STREAM).await.map_err(|e| e.to_string())?;
                    if log > *self.applied.borrow() {
                        return Err(format!("the state log is at {log} with nothing coming"));
                    }
                    continue;
                }
            };
            let seq = message.info().map_err(|e| e.to_string())?.stream_sequence;
            let transition: Transition =
                serde_json::from_slice(&message.payload).map_err(|e| format!("state transition {seq}: {e}"))?;
            let local = self.local.clone();
            let me = self.cluster.settings().name.clone();
            let outcome = tokio::task::spawn_blocking(move || apply(&local, &me, transition))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("state transition {seq}: {e}"))?;
            if let Some(outcome) = outcome {
                self.outcomes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(seq, outcome);
            }
            std::fs::write(&self.position, seq.to_string()).map_err(|e| format!("{}: {e}", self.position.display()))?;
            self.applied.send_replace(seq);
        }
    }
}

/// Publishes `transition` as its publisher's `n`th; returns its sequence number.
async fn send(cluster: &Cluster, transition: &Transition, n: u64) -> Result<u64, ClusterError> {
    let payload = serde_json::to_vec(transition).map_err(|e| ClusterError::Stream(e.to_string()))?;
    let id = format!("{}-{}-{n}", cluster.settings().name, Timestamp::now().as_nanos());
    cluster.publish_state(SUBJECT, Bytes::from(payload), &id).await
}

/// Makes an API key for every node, from a node's host whether or not its service runs
/// (`vigil keys create` in cluster mode): published to the state log, never written to the
/// local store, which the node's service keeps from the log.
///
/// # Errors
///
/// [`ClusterError`] when the log cannot take it (no node ever started: no log).
pub async fn add_key(
    cluster: &Cluster,
    key: &ApiKey,
    digest: &[u8; 32],
    audit: &AuditEntry,
) -> Result<(), ClusterError> {
    let change = AccessChange::AddKey { key: key.clone(), digest: *digest, audit: audit.clone() };
    send(cluster, &Transition::Access { author: cluster.settings().name.clone(), change }, 0).await.map(|_| ())
}

/// Revokes an API key on every node, as [`add_key`] makes one.
///
/// # Errors
///
/// As [`add_key`].
pub async fn revoke_key(cluster: &Cluster, id: &str, at: Timestamp, audit: &AuditEntry) -> Result<(), ClusterError> {
    let change = AccessChange::Revoke { id: id.to_owned(), at, audit: audit.clone() };
    send(cluster, &Transition::Access { author: cluster.settings().name.clone(), change }, 0).await.map(|_| ())
}

/// Applies one transition to a node's store; returns its outcome when this node (`me`) is the
/// one waiting for it (always for status changes, which the publisher waits for too).
fn apply(local: &store::Sqlite, me: &str, transition: Transition) -> engine::storage::StoreResult<Option<Applied>> {
    match transition {
        Transition::Commit(commit) => {
            let Commit { author, record, alerts, suppressed, state, notifications, memory } = *commit;
            let current = local.rule_state(&record.rule_id)?;
            let done = local.executions(&record.rule_id, 50)?.iter().any(|e| e.id == record.id);
            // Fenced: applied only from the coverage it started from, and only once.
            let wins = current.covered_seq == record.seq.0 && !done;
            if wins {
                // Every node queues its notifications; one node delivers each (see ClusterStore's
                // outbox), so that they go out even when the node that ran it is gone.
                local.commit_execution(&record, &alerts, &suppressed, &state, &notifications, &memory)?;
            } else {
                tracing::info!(rule = %record.rule_id, execution = %record.id, %author, "an execution committed by another node first was skipped");
            }
            Ok((author == me).then_some(Applied::Commit(wins)))
        }
        Transition::Status { author, ids, change, audit } => {
            let changed = match audit {
                Some(audit) => local.set_status_audited(&ids, &change, &audit)?,
                None => local.set_status(&ids, &change)?,
            };
            Ok((author == me).then_some(Applied::Status(changed)))
        }
        Transition::Switch { author, rule_id, enabled, audit } => {
            match audit {
                Some(audit) => local.set_enabled_audited(&rule_id, enabled, &audit)?,
                None => local.set_enabled(&rule_id, enabled)?,
            }
            Ok((author == me).then_some(Applied::Switched))
        }
        Transition::Access { author, change } => {
            let done = match change {
                AccessChange::AddKey { key, digest, audit } => local.add_key(&key, &digest, &audit).map(|()| true)?,
                AccessChange::Revoke { id, at, audit } => local.revoke_key(&id, at, &audit)?,
                AccessChange::Audit(entry) => local.audit(&entry).map(|()| true)?,
            };
            Ok((author == me).then_some(Applied::Changed(done)))
        }
        Transition::Delivery { author, connector, key, change } => {
            let Some(n) = local.notification_for(&connector, &key)? else {
                return Ok((author == me).then_some(Applied::Changed(false)));
            };
            let done = match change {
                DeliveryChange::Sent { at } => local.delivered(n.id, at).map(|()| true)?,
                DeliveryChange::Failed { error, retry } => local.attempt_failed(n.id, &error, retry).map(|()| true)?,
                DeliveryChange::Retry { now } => local.retry(n.id, now)?,
            };
            Ok((author == me).then_some(Applied::Changed(done)))
        }
        Transition::Tuning { author, change, audit } => {
            let done = tune(local, change, &audit)?;
            Ok((author == me).then_some(Applied::Changed(done)))
        }
        Transition::Checkpoint { author, change } => {
            use store::Checkpoints;
            let forgotten = match change {
                CheckpointChange::Taken { tenant, content_type, content_id, created, taken } => {
                    local.take(&tenant, &content_type, &content_id, created, taken)?;
                    0
                }
                CheckpointChange::Listed { tenant, content_type, to } => {
                    local.set_listed_to(&tenant, &content_type, to)?;
                    0
                }
                CheckpointChange::Forget { before } => local.forget_taken(before)?,
            };
            Ok((author == me).then_some(Applied::Checkpointed(forgotten)))
        }
    }
}

/// Applies a change of the exception lists or value lists; returns whether it changed anything.
fn tune(local: &store::Sqlite, change: TuningChange, audit: &AuditEntry) -> engine::storage::StoreResult<bool> {
    match change {
        TuningChange::Put { toml, if_stored } => {
            let mut lists = store::read_toml("a list in the cluster's state log", &toml)?;
            if let Some(list) = lists.value_lists.pop() {
                return local.put_value_list(&list, audit).map(|()| true);
            }
            let Some(list) = lists.lists.pop() else { return Ok(false) };
            let mut stored = false;
            local.change_list(
                &list.list_id.clone(),
                list.namespace_type,
                &mut |now| {
                    let now = now.as_ref().map(list_toml);
                    stored = if_stored.as_ref().is_none_or(|want| *want == now);
                    stored.then(|| list.clone())
                },
                audit,
            )?;
            Ok(stored)
        }
        TuningChange::DeleteList { list_id, namespace } => {
            let Some(namespace) = NamespaceType::parse(&namespace) else { return Ok(false) };
            local.delete_list(&list_id, namespace, audit)
        }
        TuningChange::DeleteValueList { id } => local.delete_value_list(&id, audit),
    }
}

/// One exception list in vigil's TOML form.
pub(crate) fn list_toml(list: &ExceptionList) -> String {
    rules::exceptions::to_toml(&Exceptions { lists: vec![list.clone()], value_lists: Vec::new() })
}
