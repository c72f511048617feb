//! A node's storage in cluster mode: the engine's storage traits and the service's, with appends
//! going to the cluster's event log and every other change (execution commits, triage, rule
//! switches, API keys and the audit trail, exception lists, Office 365 checkpoints) to its state
//! log; every read is the node's own store, which both logs keep up to date.

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
use rules::exceptions::{ExceptionList, Exceptions, NamespaceType, ValueList};
use store::AuditEntry;

use crate::leases::Leases;
use crate::state::{
    AccessChange, Applied, CheckpointChange, Commit, DeliveryChange, StateLog, Transition, TuningChange, list_toml,
};

/// The engine's [`Store`](engine::storage::Store) for a node in cluster mode.
#[derive(Debug)]
pub struct ClusterStore {
    log: ClusterLog,
    state: StateLog,
    leases: Leases,
    local: Arc<store::Sqlite>,
    runtime: tokio::runtime::Handle,
}

impl ClusterStore {
    /// The storage of the node whose store is `local`, taking notification attempts with
    /// `leases`, on `runtime` (store calls come from blocking threads, as every store call
    /// does).
    pub fn new(
        log: ClusterLog,
        state: StateLog,
        leases: Leases,
        local: Arc<store::Sqlite>,
        runtime: tokio::runtime::Handle,
    ) -> ClusterStore {
        ClusterStore { log, state, leases, local, runtime }
    }

    /// Publishes a transition and waits until this node applied it.
    fn transition(&self, what: &'static str, transition: &Transition) -> StoreResult<Applied> {
        self.runtime.block_on(self.state.publish(transition)).map_err(|reason| StoreError::Unavailable { what, reason })
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
        self.status(ids, change, None)
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
        self.switch(rule_id, enabled, None)
    }
    fn executions(&self, rule_id: &str, limit: usize) -> StoreResult<Vec<ExecutionRecord>> {
        self.local.executions(rule_id, limit)
    }
    fn alerts_for_start(&self, rule_id: &str, scheduled: Timestamp, since: Timestamp) -> StoreResult<u64> {
        self.local.alerts_for_start(rule_id, scheduled, since)
    }
    fn last_executions(&self) -> StoreResult<HashMap<String, ExecutionRecord>> {
        self.local.last_executions()
    }
}

/// Every node queues every notification (from the commits it applies); each attempt at one is
/// made by the node that takes its lease (named by the connector, the key and the attempt's
/// number), and the attempt's outcome goes through the state log. A node that dies during an
/// attempt leaves it to another once the lease expires: notifications are delivered at least
/// once, twice only when a node dies between a receiver's acceptance and its record of it
/// (receivers drop repeats by the key).
impl Outbox for ClusterStore {
    fn due(&self, connector: &str, now: Timestamp, limit: usize) -> StoreResult<Vec<Notification>> {
        let due = self.local.due(connector, now, limit)?;
        Ok(due
            .into_iter()
            .filter(|n| {
                let attempt = n.attempts.to_string();
                let lease = ["notify", &n.queued.connector, &n.queued.key, &attempt];
                self.runtime.block_on(self.leases.take(&lease))
            })
            .collect())
    }
    fn delivered(&self, id: u64, at: Timestamp) -> StoreResult<()> {
        self.delivery(id, DeliveryChange::Sent { at }).map(|_| ())
    }
    fn attempt_failed(&self, id: u64, error: &str, retry: Option<Timestamp>) -> StoreResult<()> {
        self.delivery(id, DeliveryChange::Failed { error: error.to_owned(), retry }).map(|_| ())
    }
    fn retry(&self, id: u64, now: Timestamp) -> StoreResult<bool> {
        self.delivery(id, DeliveryChange::Retry { now })
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

/// API keys and the audit trail are shared: every change goes through the state log, with its
/// audit entry, so a key made on one node works on every node and every node keeps the whole
/// trail.
impl store::Access for ClusterStore {
    fn add_key(&self, key: &store::ApiKey, digest: &[u8; 32], audit: &store::AuditEntry) -> StoreResult<()> {
        let change = AccessChange::AddKey { key: key.clone(), digest: *digest, audit: audit.clone() };
        self.access(change).map(|_| ())
    }
    fn key(&self, id: &str) -> StoreResult<Option<(store::ApiKey, [u8; 32])>> {
        self.local.key(id)
    }
    fn keys(&self) -> StoreResult<Vec<store::ApiKey>> {
        self.local.keys()
    }
    fn revoke_key(&self, id: &str, at: Timestamp, audit: &store::AuditEntry) -> StoreResult<bool> {
        self.access(AccessChange::Revoke { id: id.to_owned(), at, audit: audit.clone() })
    }
    fn set_status_audited(
        &self,
        ids: &[AlertId],
        change: &StatusChange,
        audit: &store::AuditEntry,
    ) -> StoreResult<Vec<AlertId>> {
        self.status(ids, change, Some(audit.clone()))
    }
    fn set_enabled_audited(&self, rule_id: &str, enabled: bool, audit: &store::AuditEntry) -> StoreResult<()> {
        self.switch(rule_id, enabled, Some(audit.clone()))
    }
    fn audit(&self, entry: &store::AuditEntry) -> StoreResult<()> {
        self.access(AccessChange::Audit(entry.clone())).map(|_| ())
    }
    fn audit_trail(&self, limit: usize) -> StoreResult<Vec<store::AuditEntry>> {
        self.local.audit_trail(limit)
    }
}

/// Exception lists and value lists are shared, so every node's executions apply the same ones
/// (a rule's alerts do not depend on which node ran it).
impl store::Tuning for ClusterStore {
    fn exceptions(&self) -> StoreResult<Exceptions> {
        self.local.exceptions()
    }
    fn put_list(&self, list: &ExceptionList, audit: &store::AuditEntry) -> StoreResult<()> {
        self.tune(TuningChange::Put { toml: list_toml(list), if_stored: None }, audit).map(|_| ())
    }

    /// Reads the list from this node's store once it has applied the state log as far as the
    /// cluster has it (so a list just made on another node is there), changes it, and publishes
    /// the result on the condition that the list is still as read when the log applies it; when
    /// another node's change came first, does it again from that one.
    fn change_list(
        &self,
        list_id: &str,
        namespace: NamespaceType,
        change: &mut dyn FnMut(Option<ExceptionList>) -> Option<ExceptionList>,
        audit: &store::AuditEntry,
    ) -> StoreResult<()> {
        for _ in 0..CHANGE_TRIES {
            self.runtime
                .block_on(self.state.caught_up())
                .map_err(|e| StoreError::Unavailable { what: "read the exception list", reason: e.to_string() })?;
            let mut stored = None;
            self.local.change_list(
                list_id,
                namespace,
                &mut |now| {
                    stored = now;
                    None
                },
                audit,
            )?;
            let read = stored.as_ref().map(list_toml);
            let Some(list) = change(stored) else { return Ok(()) };
            if self.tune(TuningChange::Put { toml: list_toml(&list), if_stored: Some(read) }, audit)? {
                return Ok(());
            }
        }
        let reason = format!("the list was changed by other nodes {CHANGE_TRIES} times while this change was made");
        Err(StoreError::Write { what: "store the exception list", reason })
    }
    fn delete_list(&self, list_id: &str, namespace: NamespaceType, audit: &store::AuditEntry) -> StoreResult<bool> {
        let change = TuningChange::DeleteList { list_id: list_id.to_owned(), namespace: namespace.as_str().to_owned() };
        self.tune(change, audit)
    }
    fn put_value_list(&self, list: &ValueList, audit: &store::AuditEntry) -> StoreResult<()> {
        let toml = rules::exceptions::to_toml(&Exceptions { lists: Vec::new(), value_lists: vec![list.clone()] });
        self.tune(TuningChange::Put { toml, if_stored: None }, audit).map(|_| ())
    }
    fn delete_value_list(&self, id: &str, audit: &store::AuditEntry) -> StoreResult<bool> {
        self.tune(TuningChange::DeleteValueList { id: id.to_owned() }, audit)
    }
}

/// How many times a change of an exception list is made again when other nodes' changes of it
/// keep coming first.
const CHANGE_TRIES: usize = 20;

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
    fn status(&self, ids: &[AlertId], change: &StatusChange, audit: Option<AuditEntry>) -> StoreResult<Vec<AlertId>> {
        let author = self.log.node().to_owned();
        let transition = Transition::Status { author, ids: ids.to_vec(), change: change.clone(), audit };
        match self.transition("update alerts", &transition)? {
            Applied::Status(changed) => Ok(changed),
            _ => Err(StoreError::Corrupt("a status change applied as another transition".into())),
        }
    }

    fn switch(&self, rule_id: &str, enabled: bool, audit: Option<AuditEntry>) -> StoreResult<()> {
        let author = self.log.node().to_owned();
        let transition = Transition::Switch { author, rule_id: rule_id.to_owned(), enabled, audit };
        self.transition("store the rule state", &transition).map(|_| ())
    }

    fn access(&self, change: AccessChange) -> StoreResult<bool> {
        let transition = Transition::Access { author: self.log.node().to_owned(), change };
        match self.transition("store the access change", &transition)? {
            Applied::Changed(done) => Ok(done),
            _ => Err(StoreError::Corrupt("an access change applied as another transition".into())),
        }
    }

    /// Publishes what happened to this node's notification `id`, by its identity on every node.
    fn delivery(&self, id: u64, change: DeliveryChange) -> StoreResult<bool> {
        let Some(n) = self.local.notification(id)? else { return Ok(false) };
        let NewNotification { connector, key, .. } = n.queued;
        let transition = Transition::Delivery { author: self.log.node().to_owned(), connector, key, change };
        match self.transition("record a notification's delivery", &transition)? {
            Applied::Changed(done) => Ok(done),
            _ => Err(StoreError::Corrupt("a delivery applied as another transition".into())),
        }
    }

    fn tune(&self, change: TuningChange, audit: &AuditEntry) -> StoreResult<bool> {
        let transition = Transition::Tuning { author: self.log.node().to_owned(), change, audit: audit.clone() };
        match self.transition("store the list", &transition)? {
            Applied::Changed(done) => Ok(done),
            _ => Err(StoreError::Corrupt("a list change applied as another transition".into())),
        }
    }

    /// Publishes a checkpoint change and waits until this node applied it.
    fn checkpoint(&self, change: CheckpointChange) -> StoreResult<u64> {
        let transition = Transition::Checkpoint { author: self.log.node().to_owned(), change };
        match self.transition("store the checkpoint", &transition)? {
            Applied::Checkpointed(forgotten) => Ok(forgotten),
            _ => Err(StoreError::Corrupt("a checkpoint applied as another transition".into())),
        }
    }
}
