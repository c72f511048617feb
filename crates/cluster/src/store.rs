//! A node's storage in cluster mode: the engine's storage traits, with appends going to the
//! cluster's event log and execution commits and workflow changes to its state log; every read
//! is the node's own store, which both logs keep up to date.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ecs::date::Timestamp;
use engine::AlertId;
use engine::storage::{
    Activity, AlertFilter, AlertStore, Appended, EventLog, EventQuery, ExecutionRecord, MemoryUpdate, NewAlert,
    NewEvent, NewNotification, Notification, NotificationCounts, NotificationFilter, Outbox, RuleMemory, RuleState,
    RuleStates, StatusChange, StoreError, StoreResult, StoredAlert, StoredEvent, Suppressed, TermsIndex,
};

use crate::events::ClusterLog;
use crate::state::{Applied, CheckpointChange, Commit, StateLog, Transition};

/// The engine's [`Store`](engine::storage::Store) for a node in cluster mode.
#[derive(Debug)]
pub struct ClusterStore {
    log: ClusterLog,
    state: StateLog,
    local: Arc<store::Sqlite>,
    runtime: tokio::runtime::Handle,
}

impl ClusterStore {
    /// The storage of the node whose store is `local`, on `runtime` (store calls come from
    /// blocking threads, as every store call does).
    pub fn new(
        log: ClusterLog,
        state: StateLog,
        local: Arc<store::Sqlite>,
        runtime: tokio::runtime::Handle,
    ) -> ClusterStore {
        ClusterStore { log, state, local, runtime }
    }

    /// Publishes a transition and waits until this node applied it.
    fn transition(&self, what: &'static str, transition: &Transition) -> StoreResult<Applied> {
        self.runtime.block_on(self.state.publish(transition)).map_err(|reason| StoreError::Write { what, reason })
    }
}

impl EventLog for ClusterStore {
    fn append(&self, events: &[NewEvent]) -> StoreResult<Vec<Appended>> {
        self.log.append(events)
    }
    fn last_seq(&self) -> StoreResult<u64> {
        self.local.last_seq()
    }
    fn scan(&self, query: &EventQuery, each: &mut dyn FnMut(StoredEvent) -> bool) -> StoreResult<()> {
        self.local.scan(query, each)
    }
    fn count_ingested_before(&self, cutoff: Timestamp, covered: u64) -> StoreResult<u64> {
        self.local.count_ingested_before(cutoff, covered)
    }
    fn remove_ingested_before(&self, cutoff: Timestamp, covered: u64) -> StoreResult<u64> {
        self.local.remove_ingested_before(cutoff, covered)
    }
    fn event_count(&self) -> StoreResult<u64> {
        self.local.event_count()
    }
}

impl AlertStore for ClusterStore {
    fn existing(&self, ids: &[AlertId]) -> StoreResult<HashSet<AlertId>> {
        self.local.existing(ids)
    }

    /// Published to the state log; applied by every node (this one first waits for it) unless
    /// another node's commit from the same coverage came first: then the other node's outcome
    /// stands everywhere, this one is dropped, and no alert is counted as new here.
    fn commit_execution(
        &self,
        record: &ExecutionRecord,
        alerts: &[NewAlert],
        suppressed: &[Suppressed],
        state: &RuleState,
        notifications: &[NewNotification],
        memory: &MemoryUpdate,
    ) -> StoreResult<u64> {
        let transition = Transition::Commit(Box::new(Commit {
            author: self.log.node().to_owned(),
            record: record.clone(),
            alerts: alerts.to_vec(),
            suppressed: suppressed.to_vec(),
            state: state.clone(),
            notifications: notifications.to_vec(),
            memory: memory.clone(),
        }));
        match self.transition("commit the execution", &transition)? {
            Applied::Commit(true) => Ok(alerts.len() as u64),
            Applied::Commit(false) => Ok(0),
            _ => Err(StoreError::Corrupt("a commit applied as another transition".into())),
        }
    }

    fn suppressing(&self, rule_id: &str, key: &str, since: Timestamp) -> StoreResult<Option<AlertId>> {
        self.local.suppressing(rule_id, key, since)
    }
    fn alerts(&self, filter: &AlertFilter, each: &mut dyn FnMut(StoredAlert) -> bool) -> StoreResult<()> {
        self.local.alerts(filter, each)
    }
    fn alerts_where(
        &self,
        filter: &AlertFilter,
        keep: &mut dyn FnMut(&[u8]) -> bool,
        each: &mut dyn FnMut(StoredAlert) -> bool,
    ) -> StoreResult<()> {
        self.local.alerts_where(filter, keep, each)
    }
    fn alert_count(&self, filter: &AlertFilter) -> StoreResult<u64> {
        self.local.alert_count(filter)
    }
    fn alert(&self, id: &AlertId) -> StoreResult<Option<StoredAlert>> {
        self.local.alert(id)
    }
    fn alert_ids_with_prefix(&self, prefix: &str, limit: usize) -> StoreResult<Vec<AlertId>> {
        self.local.alert_ids_with_prefix(prefix, limit)
    }

    /// Published to the state log and applied by every node in its order; returns the alerts
    /// this node changed.
    fn set_status(&self, ids: &[AlertId], change: &StatusChange) -> StoreResult<Vec<AlertId>> {
        let transition =
            Transition::Status { author: self.log.node().to_owned(), ids: ids.to_vec(), change: change.clone() };
        match self.transition("update alerts", &transition)? {
            Applied::Status(changed) => Ok(changed),
            _ => Err(StoreError::Corrupt("a status change applied as another transition".into())),
        }
    }

    fn alert_counts(&self) -> StoreResult<Vec<(engine::storage::WorkflowStatus, u64)>> {
        self.local.alert_counts()
    }
    fn activity(&self, since: Timestamp, bucket: i64) -> StoreResult<Activity> {
        self.local.activity(since, bucket)
    }
}

impl RuleStates for ClusterStore {
    fn rule_state(&self, rule_id: &str) -> StoreResult<RuleState> {
        self.local.rule_state(rule_id)
    }
    fn rule_states(&self) -> StoreResult<HashMap<String, RuleState>> {
        self.local.rule_states()
    }
    /// Published to the state log: every node switches the rule.
    fn set_enabled(&self, rule_id: &str, enabled: bool) -> StoreResult<()> {
        let transition =
            Transition::Switch { author: self.log.node().to_owned(), rule_id: rule_id.to_owned(), enabled };
        self.transition("store the rule state", &transition).map(|_| ())
    }
    fn executions(&self, rule_id: &str, limit: usize) -> StoreResult<Vec<ExecutionRecord>> {
        self.local.executions(rule_id, limit)
    }
    fn last_executions(&self) -> StoreResult<HashMap<String, ExecutionRecord>> {
        self.local.last_executions()
    }
}

impl Outbox for ClusterStore {
    fn due(&self, connector: &str, now: Timestamp, limit: usize) -> StoreResult<Vec<Notification>> {
        self.local.due(connector, now, limit)
    }
    fn delivered(&self, id: u64, at: Timestamp) -> StoreResult<()> {
        self.local.delivered(id, at)
    }
    fn attempt_failed(&self, id: u64, error: &str, retry: Option<Timestamp>) -> StoreResult<()> {
        self.local.attempt_failed(id, error, retry)
    }
    fn retry(&self, id: u64, now: Timestamp) -> StoreResult<bool> {
        self.local.retry(id, now)
    }
    fn notifications(&self, filter: &NotificationFilter) -> StoreResult<Vec<Notification>> {
        self.local.notifications(filter)
    }
    fn notification_counts(&self) -> StoreResult<NotificationCounts> {
        self.local.notification_counts()
    }
    fn last_queued(&self, rule_id: &str, source: &str) -> StoreResult<Option<Timestamp>> {
        self.local.last_queued(rule_id, source)
    }
}

impl RuleMemory for ClusterStore {
    fn terms_index(&self, rule_id: &str) -> StoreResult<Option<TermsIndex>> {
        self.local.terms_index(rule_id)
    }
    fn seen(&self, rule_id: &str, terms: &[String]) -> StoreResult<HashMap<String, Vec<i64>>> {
        self.local.seen(rule_id, terms)
    }
    fn threshold_history(&self, rule_id: &str) -> StoreResult<HashMap<String, Timestamp>> {
        self.local.threshold_history(rule_id)
    }
}

/// API keys and the audit trail stay the node's own; a workflow change goes through the state
/// log (so every node applies it), and its audit entry is recorded here once applied.
impl store::Access for ClusterStore {
    fn add_key(&self, key: &store::ApiKey, digest: &[u8; 32], audit: &store::AuditEntry) -> StoreResult<()> {
        self.local.add_key(key, digest, audit)
    }
    fn key(&self, id: &str) -> StoreResult<Option<(store::ApiKey, [u8; 32])>> {
        self.local.key(id)
    }
    fn keys(&self) -> StoreResult<Vec<store::ApiKey>> {
        self.local.keys()
    }
    fn revoke_key(&self, id: &str, at: Timestamp, audit: &store::AuditEntry) -> StoreResult<bool> {
        self.local.revoke_key(id, at, audit)
    }
    fn set_status_audited(
        &self,
        ids: &[AlertId],
        change: &StatusChange,
        audit: &dyn Fn(&[AlertId]) -> store::AuditEntry,
    ) -> StoreResult<Vec<AlertId>> {
        let changed = self.set_status(ids, change)?;
        if !changed.is_empty() {
            self.local.audit(&audit(&changed))?;
        }
        Ok(changed)
    }
    fn set_enabled_audited(&self, rule_id: &str, enabled: bool, audit: &store::AuditEntry) -> StoreResult<()> {
        self.set_enabled(rule_id, enabled)?;
        self.local.audit(audit)
    }
    fn audit(&self, entry: &store::AuditEntry) -> StoreResult<()> {
        self.local.audit(entry)
    }
    fn audit_trail(&self, limit: usize) -> StoreResult<Vec<store::AuditEntry>> {
        self.local.audit_trail(limit)
    }
}

/// Office 365 pull checkpoints are shared: every change goes through the state log, so the node
/// that takes a tenant's next pull resumes where the last one stopped.
impl store::Checkpoints for ClusterStore {
    fn listed_to(&self, tenant: &str, content_type: &str) -> StoreResult<Option<Timestamp>> {
        self.local.listed_to(tenant, content_type)
    }
    fn set_listed_to(&self, tenant: &str, content_type: &str, to: Timestamp) -> StoreResult<()> {
        let change = CheckpointChange::Listed { tenant: tenant.into(), content_type: content_type.into(), to };
        self.checkpoint(change).map(|_| ())
    }
    fn taken_since(&self, tenant: &str, content_type: &str, since: Timestamp) -> StoreResult<HashSet<String>> {
        self.local.taken_since(tenant, content_type, since)
    }
    fn take(
        &self,
        tenant: &str,
        content_type: &str,
        content_id: &str,
        created: Timestamp,
        taken: store::Taken,
    ) -> StoreResult<()> {
        let change = CheckpointChange::Taken {
            tenant: tenant.into(),
            content_type: content_type.into(),
            content_id: content_id.into(),
            created,
            taken,
        };
        self.checkpoint(change).map(|_| ())
    }
    fn forget_taken(&self, before: Timestamp) -> StoreResult<u64> {
        self.checkpoint(CheckpointChange::Forget { before })
    }
    fn checkpoints(&self) -> StoreResult<Vec<store::Checkpoint>> {
        self.local.checkpoints()
    }
}

impl ClusterStore {
    /// Publishes a checkpoint change and waits until this node applied it.
    fn checkpoint(&self, change: CheckpointChange) -> StoreResult<u64> {
        let transition = Transition::Checkpoint { author: self.log.node().to_owned(), change };
        match self.transition("store the checkpoint", &transition)? {
            Applied::Checkpointed(forgotten) => Ok(forgotten),
            _ => Err(StoreError::Corrupt("a checkpoint applied as another transition".into())),
        }
    }
}
