//! The storage the service's engine needs, as traits: an event log with ingest sequence numbers,
//! alerts with a triage workflow, and per-rule state with execution records.
//!
//! The engine declares them and the `store` crate implements them (SQLite), so that the engine
//! builds and tests without a database, and a later store can live on another engine.

use std::collections::HashSet;

use ecs::date::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::alert::AlertId;

/// What went wrong in the store. The service logs it, answers 503 without its details, and
/// keeps running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be opened or brought to the current schema.
    #[error("cannot open the store: {0}")]
    Open(String),
    /// Reading failed.
    #[error("cannot {what}: {reason}")]
    Read {
        /// What was being read, e.g. `read alerts`.
        what: &'static str,
        /// Why, as the database said.
        reason: String,
    },
    /// Writing failed; nothing of that write is stored.
    #[error("cannot {what}: {reason}")]
    Write {
        /// What was being written, e.g. `append`.
        what: &'static str,
        /// Why, as the database said (`database or disk is full`).
        reason: String,
    },
    /// A shared log (cluster mode) could not take a write now (no quorum of its servers, none
    /// reachable); nothing of that write is stored, and the same write may be made again. The
    /// node's own store is not at fault.
    #[error("cannot {what}: {reason}")]
    Unavailable {
        /// What was being written, e.g. `publish to the cluster`.
        what: &'static str,
        /// Why, as the client said.
        reason: String,
    },
    /// Something stored is not what vigil writes (a damaged file, a hand edit): never read as a
    /// default.
    #[error("corrupt data in the store: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether a write failed (the store may be full or read-only).
    pub fn is_write(&self) -> bool {
        matches!(self, StoreError::Write { .. })
    }
}

/// Results of store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// An event ready to be appended: its identity, its index, its times and its JSON document.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// The index it belongs to (`logs-o365.audit-default`).
    pub index: String,
    /// Its identity within the index (`_id`, `event.id`, or a digest of its line).
    pub event_id: String,
    /// `@timestamp`, when it has one.
    pub timestamp: Option<Timestamp>,
    /// `event.ingested`: when vigil received it.
    pub ingested: Timestamp,
    /// The document, as JSON text.
    pub document: String,
}

/// What became of one appended event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored under this sequence number.
    Stored(u64),
    /// An event with the same index and identity was already stored under this number; the new
    /// one was dropped (a re-delivered record).
    Duplicate(u64),
}

/// A stored event.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Its ingest sequence number: strictly increasing in the order events were stored.
    pub seq: u64,
    /// Its index.
    pub index: String,
    /// Its identity.
    pub event_id: String,
    /// When it was ingested.
    pub ingested: Timestamp,
    /// The document, as JSON text.
    pub document: String,
}

/// The time column a window is taken on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeColumn {
    /// `@timestamp`.
    Timestamp,
    /// `event.ingested`.
    Ingested,
}

/// Which events to read: those up to `up_to` (a sequence number) that are in the time window
/// or were ingested after `after`.
#[derive(Clone, Debug, PartialEq)]
pub struct EventQuery {
    /// A window on a time column, both ends included; `None` selects by sequence alone.
    pub window: Option<(TimeColumn, Timestamp, Timestamp)>,
    /// Events with a sequence number above this are read whatever their time.
    pub after: Option<u64>,
    /// No event above this sequence number is read.
    pub up_to: u64,
    /// At most this many events, by sequence number from the lowest (`None`: all).
    pub limit: Option<usize>,
    /// Whether events come in sequence order (what paging by [`EventQuery::from_seq`] needs);
    /// otherwise in whatever order the store reads them fastest. A `limit` implies it.
    pub ordered: bool,
    /// Only events with a sequence number above this (for paging).
    pub from_seq: u64,
}

/// Events, appended durably and read back by window and sequence.
pub trait EventLog: Send + Sync {
    /// Appends events; when this returns, every [`Appended::Stored`] event is durable.
    /// Events already stored (same index and identity) are not stored again.
    ///
    /// # Errors
    ///
    /// When the store cannot write; nothing of the batch is stored then.
    fn append(&self, events: &[NewEvent]) -> StoreResult<Vec<Appended>>;

    /// The highest sequence number stored (0 when empty).
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn last_seq(&self) -> StoreResult<u64>;

    /// Calls `each` with the events `query` selects (by sequence number when it has a
    /// `limit`); `each` returns `false` to stop.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn scan(&self, query: &EventQuery, each: &mut dyn FnMut(StoredEvent) -> bool) -> StoreResult<()>;

    /// How many events were ingested before `cutoff` and have a sequence number up to
    /// `covered`: what [`EventLog::remove_ingested_before`] would remove.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn count_ingested_before(&self, cutoff: Timestamp, covered: u64) -> StoreResult<u64>;

    /// Removes the events ingested before `cutoff` whose sequence number is at most `covered`
    /// (events a rule has not evaluated yet are kept, whatever their age); returns how many.
    ///
    /// # Errors
    ///
    /// When the store cannot write.
    fn remove_ingested_before(&self, cutoff: Timestamp, covered: u64) -> StoreResult<u64>;

    /// How many events are stored.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn event_count(&self) -> StoreResult<u64>;
}

/// Where an alert is in triage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowStatus {
    /// Not looked at yet.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Done.
    Closed,
}

impl WorkflowStatus {
    /// `open`, `acknowledged` or `closed`, as Kibana names them.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::Open => "open",
            WorkflowStatus::Acknowledged => "acknowledged",
            WorkflowStatus::Closed => "closed",
        }
    }

    /// Reads `open`, `acknowledged` or `closed`.
    pub fn parse(text: &str) -> Option<WorkflowStatus> {
        Some(match text {
            "open" => WorkflowStatus::Open,
            "acknowledged" => WorkflowStatus::Acknowledged,
            "closed" => WorkflowStatus::Closed,
            _ => return None,
        })
    }
}

/// An alert ready to be stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewAlert {
    /// Its identity.
    pub id: AlertId,
    /// The rule that raised it.
    pub rule_id: String,
    /// The rule's severity.
    pub severity: String,
    /// The source event's time on the rule's time field.
    pub event_time: Option<Timestamp>,
    /// The source event's sequence number.
    pub event_seq: u64,
    /// The alert document.
    pub document: Value,
    /// The group it stands for, when its rule suppresses alerts (`alert_suppression` with a
    /// duration): later events of the group update it instead of making new alerts.
    pub suppression_key: Option<String>,
}

/// Events of a suppressed group: the alert they went into, and their own alert ids, kept so
/// that no later execution (an overlapping window, a re-read after a hold-back) makes them an
/// alert again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Suppressed {
    /// The group's alert.
    pub id: AlertId,
    /// The alert ids the suppressed events would have had.
    pub events: Vec<AlertId>,
    /// Whether the alert was stored by an earlier execution: its count and end move on
    /// (otherwise the new alert's document already says them).
    pub into_existing: bool,
    /// The time of the group's latest event.
    pub end: Option<Timestamp>,
}

/// One change of an alert's workflow status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The status after the change.
    pub status: WorkflowStatus,
    /// Who made it.
    pub by: String,
    /// When.
    pub at: Timestamp,
    /// Why, if they said.
    pub note: Option<String>,
}

/// A stored alert.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAlert {
    /// Its identity.
    pub id: AlertId,
    /// The rule that raised it.
    pub rule_id: String,
    /// The rule's severity.
    pub severity: String,
    /// When it was created.
    pub created: Timestamp,
    /// Its workflow status now.
    pub status: WorkflowStatus,
    /// Every status change, oldest first.
    pub history: Vec<StatusChange>,
    /// The alert document, with its current workflow status.
    pub document: Value,
}

/// Which alerts to list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertFilter {
    /// Raised by this rule.
    pub rule_id: Option<String>,
    /// Of this severity.
    pub severity: Option<String>,
    /// In this workflow status.
    pub status: Option<WorkflowStatus>,
    /// Created at or after this time.
    pub since: Option<Timestamp>,
    /// Created at or before this time.
    pub until: Option<Timestamp>,
    /// Skip this many of the selected alerts.
    pub offset: usize,
    /// At most this many (`None`: all).
    pub limit: Option<usize>,
    /// In which order.
    pub order: AlertOrder,
    /// Whether to leave out the alerts of building-block rules (`kibana.alert.building_block_type`).
    pub hide_building_blocks: bool,
}

/// The order alerts are listed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AlertOrder {
    /// Newest first.
    #[default]
    Newest,
    /// Oldest first.
    Oldest,
    /// Most severe first, then newest.
    Severity,
    /// By rule id, then newest.
    Rule,
}

impl AlertOrder {
    /// Every order, as [`AlertOrder::as_str`] names it.
    pub const ALL: [AlertOrder; 4] = [AlertOrder::Newest, AlertOrder::Oldest, AlertOrder::Severity, AlertOrder::Rule];

    /// `newest`, `oldest`, `severity`, `rule`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertOrder::Newest => "newest",
            AlertOrder::Oldest => "oldest",
            AlertOrder::Severity => "severity",
            AlertOrder::Rule => "rule",
        }
    }

    /// The order [`AlertOrder::as_str`] names.
    pub fn parse(text: &str) -> Option<AlertOrder> {
        AlertOrder::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// What the alerts and executions say in aggregate, for an overview.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Activity {
    /// Alerts by severity and workflow status.
    pub by_severity: Vec<(String, WorkflowStatus, u64)>,
    /// Alerts by rule: the rule id, how many are open, how many in all.
    pub by_rule: Vec<(String, u64, u64)>,
    /// Alerts created since the activity's start, by the start of their time bucket and severity,
    /// oldest bucket first.
    pub over_time: Vec<(Timestamp, String, u64)>,
    /// Executions since the start.
    pub executions: u64,
    /// Of those, executions that failed.
    pub failed: u64,
    /// Of those, executions that held candidates back because of `max_signals`.
    pub truncated: u64,
    /// Alerts on late events those executions created.
    pub late: u64,
}

/// How an execution ended, as Kibana records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Ran and stored what it found.
    Succeeded,
    /// Ran, with warnings: truncated by `max_signals`, or events it could not read.
    PartialFailure,
    /// Did not run to the end; nothing of it was stored but this record.
    Failed,
}

impl ExecutionStatus {
    /// Every status, in the order of [`ExecutionStatus::as_str`]'s names.
    pub const ALL: [ExecutionStatus; 3] =
        [ExecutionStatus::Succeeded, ExecutionStatus::PartialFailure, ExecutionStatus::Failed];

    /// `succeeded`, `partial_failure` or `failed`, as Kibana names them.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::PartialFailure => "partial_failure",
            ExecutionStatus::Failed => "failed",
        }
    }

    /// Reads what [`ExecutionStatus::as_str`] writes.
    pub fn parse(text: &str) -> Option<ExecutionStatus> {
        ExecutionStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One execution of one rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// Its identity: a digest of the rule and the scheduled start (manual runs add the actual
    /// start).
    pub id: String,
    /// The rule.
    pub rule_id: String,
    /// When it was due.
    pub scheduled: Timestamp,
    /// When it started.
    pub started: Timestamp,
    /// The window searched on the rule's time field: `from` .. `to`.
    pub window: (Timestamp, Timestamp),
    /// The sequence numbers covered beyond the window: above `.0`, up to `.1`.
    pub seq: (u64, u64),
    /// Events read and tested.
    pub events: u64,
    /// Events that matched, not alerted before.
    pub candidates: u64,
    /// Alerts created.
    pub alerts: u64,
    /// Candidates not alerted because of `max_signals`: held back for the next executions.
    pub held_back: u64,
    /// Alerts on late events: older than the window, ingested after it was searched (an
    /// execution in Kibana never sees them).
    pub late: u64,
    /// Matching events that exception lists removed, by list id (lists that removed none are
    /// left out).
    pub excepted: Vec<(String, u64)>,
    /// Notifications queued for its alerts (sent after the commit).
    pub notifications: u64,
    /// A new terms rule's distinct terms checked against its history (Kibana caps and pages
    /// them; vigil checks them all); 0 for other rules.
    pub terms: u64,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// How it ended.
    pub status: ExecutionStatus,
    /// What went wrong or was cut, for people.
    pub warnings: Vec<String>,
}

/// Alerts, stored once each, with their triage workflow.
pub trait AlertStore: Send + Sync {
    /// Which of `ids` are already stored, or were suppressed into a stored alert.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn existing(&self, ids: &[AlertId]) -> StoreResult<HashSet<AlertId>>;

    /// Stores an execution's outcome in one transaction: its alerts (an alert already stored is
    /// kept as it is), the events suppressed into existing alerts, its record, the rule's new
    /// state, the notifications to send about it (the outbox) and what a threshold or new terms
    /// rule remembers. Returns how many alerts were new.
    ///
    /// # Errors
    ///
    /// When the store cannot write; nothing of it is stored then.
    fn commit_execution(
        &self,
        record: &ExecutionRecord,
        alerts: &[NewAlert],
        suppressed: &[Suppressed],
        state: &RuleState,
        notifications: &[NewNotification],
        memory: &MemoryUpdate,
    ) -> StoreResult<u64>;

    /// The alert of rule `rule_id` standing for suppression group `key`, created at or after
    /// `since` and not closed, if there is one.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn suppressing(&self, rule_id: &str, key: &str, since: Timestamp) -> StoreResult<Option<AlertId>>;

    /// Calls `each` with the alerts `filter` selects, newest first; `each` returns `false` to
    /// stop.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn alerts(&self, filter: &AlertFilter, each: &mut dyn FnMut(StoredAlert) -> bool) -> StoreResult<()>;

    /// [`AlertStore::alerts`], with `keep` asked first about every selected alert, in order,
    /// shown its text (its stored document followed by today's workflow fields, as JSON): an
    /// alert it refuses is skipped without being decoded. For a search's prefilter, which may
    /// keep what does not match, never refuse what does.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn alerts_where(
        &self,
        filter: &AlertFilter,
        keep: &mut dyn FnMut(&[u8]) -> bool,
        each: &mut dyn FnMut(StoredAlert) -> bool,
    ) -> StoreResult<()>;

    /// How many alerts `filter` selects, ignoring its `offset` and `limit`.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn alert_count(&self, filter: &AlertFilter) -> StoreResult<u64>;

    /// One alert.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn alert(&self, id: &AlertId) -> StoreResult<Option<StoredAlert>>;

    /// The ids of alerts that begin with `prefix` (hex digits), at most `limit`, in id order:
    /// for ids abbreviated as git abbreviates commits.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn alert_ids_with_prefix(&self, prefix: &str, limit: usize) -> StoreResult<Vec<AlertId>>;

    /// Moves alerts to a workflow status; returns the ids that exist (and were changed, unless
    /// already in that status).
    ///
    /// # Errors
    ///
    /// When the store cannot write; no alert is changed then.
    fn set_status(&self, ids: &[AlertId], change: &StatusChange) -> StoreResult<Vec<AlertId>>;

    /// How many alerts are stored, by workflow status.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn alert_counts(&self) -> StoreResult<Vec<(WorkflowStatus, u64)>>;

    /// Alerts by severity, status and rule, alerts created since `since` in buckets of `bucket`
    /// nanoseconds, and what the executions since `since` did.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn activity(&self, since: Timestamp, bucket: i64) -> StoreResult<Activity>;
}

/// What the service remembers about a rule between executions and restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    /// The rule.
    pub rule_id: String,
    /// Whether it runs; `None` follows the rule file's `enabled`.
    pub enabled: Option<bool>,
    /// Every event up to this sequence number has been evaluated by the rule (and alerted, when
    /// it matched).
    pub covered_seq: u64,
    /// Candidates its last execution held back because of `max_signals`, for the next ones.
    pub backlog: u64,
    /// The scheduled start of its last scheduled execution.
    pub last_scheduled: Option<Timestamp>,
}

impl RuleState {
    /// `rule_id`'s state among `states` (from [`RuleStates::rule_states`]), the default state
    /// when it has none.
    pub fn of(states: &std::collections::HashMap<String, RuleState>, rule_id: &str) -> RuleState {
        states
            .get(rule_id)
            .cloned()
            .unwrap_or_else(|| RuleState { rule_id: rule_id.to_owned(), ..RuleState::default() })
    }
}

/// Rule state and execution history.
pub trait RuleStates: Send + Sync {
    /// The state of a rule (the default state when it never ran).
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn rule_state(&self, rule_id: &str) -> StoreResult<RuleState>;

    /// The state of every rule that has one, in one read (rules without a state have the
    /// default state: see [`RuleStates::rule_state`]).
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn rule_states(&self) -> StoreResult<std::collections::HashMap<String, RuleState>>;

    /// Turns a rule on or off, keeping the rest of its state.
    ///
    /// # Errors
    ///
    /// When the store cannot write.
    fn set_enabled(&self, rule_id: &str, enabled: bool) -> StoreResult<()>;

    /// A rule's executions, newest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn executions(&self, rule_id: &str, limit: usize) -> StoreResult<Vec<ExecutionRecord>>;

    /// How many alerts a rule's executions for the scheduled start `scheduled`, started since
    /// `since`, made: its scheduled execution and the real-time ones before it, which share
    /// `max_signals`.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn alerts_for_start(&self, rule_id: &str, scheduled: Timestamp, since: Timestamp) -> StoreResult<u64> {
        // Newest first: those started since `since` come before any older one.
        let records = self.executions(rule_id, 100_000)?;
        Ok(records
            .iter()
            .take_while(|e| e.started >= since)
            .filter(|e| e.scheduled == scheduled)
            .map(|e| e.alerts)
            .sum())
    }

    /// The last execution of every rule that ran, by rule id, in one read.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn last_executions(&self) -> StoreResult<std::collections::HashMap<String, ExecutionRecord>>;
}

/// A message to send through a connector, queued in the same transaction as the execution
/// that caused it, and sent after.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewNotification {
    /// The idempotency key receivers drop repeats by: the alert id (one message per alert) or
    /// the summary's id. Unique with the connector: a key queued twice for one connector is
    /// stored once.
    pub key: String,
    /// The connector's name.
    pub connector: String,
    /// The rule.
    pub rule_id: String,
    /// What asked for it: `action 1` (the rule's first action) or `route 2` (the configuration's
    /// second route); throttles are kept per rule and source.
    pub source: String,
    /// The execution that queued it.
    pub execution_id: String,
    /// The message, rendered for the connector.
    pub message: Value,
    /// When it was queued.
    pub created: Timestamp,
}

/// Where a notification is in its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// Not sent yet (maybe tried and failed, with a retry due).
    Pending,
    /// Accepted by the receiver.
    Sent,
    /// Given up: retried for the whole retry period, or refused for good.
    Failed,
}

impl Delivery {
    /// Every state, in the order of [`Delivery::as_str`]'s names.
    pub const ALL: [Delivery; 3] = [Delivery::Pending, Delivery::Sent, Delivery::Failed];

    /// `pending`, `sent` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Pending => "pending",
            Delivery::Sent => "sent",
            Delivery::Failed => "failed",
        }
    }

    /// Reads what [`Delivery::as_str`] writes.
    pub fn parse(text: &str) -> Option<Delivery> {
        Delivery::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// A queued notification and how its delivery goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    /// Its number in the outbox, in the order queued.
    pub id: u64,
    /// What was queued.
    pub queued: NewNotification,
    /// Where its delivery is.
    pub delivery: Delivery,
    /// Attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (pending ones).
    pub next_attempt: Timestamp,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
    /// When the receiver accepted it.
    pub sent: Option<Timestamp>,
}

/// Which notifications to list, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NotificationFilter {
    /// In this state.
    pub delivery: Option<Delivery>,
    /// Through this connector.
    pub connector: Option<String>,
    /// About this rule.
    pub rule_id: Option<String>,
    /// Only those numbered below this (for paging).
    pub before: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// How many notifications are in each state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NotificationCounts {
    /// By connector and state.
    pub by_connector: Vec<(String, Delivery, u64)>,
    /// When the oldest pending one was queued.
    pub oldest_pending: Option<Timestamp>,
}

/// The outbox of notifications: queued by [`AlertStore::commit_execution`], taken by the
/// senders, marked as they go.
pub trait Outbox: Send + Sync {
    /// Pending notifications of `connector` due at `now`, oldest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn due(&self, connector: &str, now: Timestamp, limit: usize) -> StoreResult<Vec<Notification>>;

    /// Marks a notification sent.
    ///
    /// # Errors
    ///
    /// When the store cannot write.
    fn delivered(&self, id: u64, at: Timestamp) -> StoreResult<()>;

    /// Records a failed attempt: retried at `retry` when given, else failed for good.
    ///
    /// # Errors
    ///
    /// When the store cannot write.
    fn attempt_failed(&self, id: u64, error: &str, retry: Option<Timestamp>) -> StoreResult<()>;

    /// Makes a failed notification pending again, due at `now`, its attempts counted afresh;
    /// returns whether it was failed.
    ///
    /// # Errors
    ///
    /// When the store cannot write.
    fn retry(&self, id: u64, now: Timestamp) -> StoreResult<bool>;

    /// Notifications as `filter` selects them, newest first.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn notifications(&self, filter: &NotificationFilter) -> StoreResult<Vec<Notification>>;

    /// How many notifications are in each state, by connector, and when the oldest pending one
    /// was queued.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn notification_counts(&self) -> StoreResult<NotificationCounts>;

    /// When `source` last queued a notification about `rule_id` (for throttles).
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn last_queued(&self, rule_id: &str, source: &str) -> StoreResult<Option<Timestamp>>;
}

/// Everything the service stores.
pub trait Store: EventLog + AlertStore + RuleStates + Outbox + RuleMemory {}

impl<T: EventLog + AlertStore + RuleStates + Outbox + RuleMemory> Store for T {}

/// A new terms rule's index: which events it was built from, and when each term was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermsIndex {
    /// A digest of what the index depends on (the rule's query, filters, exceptions, fields and
    /// history): when the rule's changes, the index is rebuilt.
    pub fingerprint: String,
    /// Every matching event up to this sequence number is in it.
    pub indexed_seq: u64,
}

/// What an execution changes in its rule's memory (committed with its alerts).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryUpdate {
    /// A new terms rule's index.
    pub terms: Option<TermsUpdate>,
    /// A threshold rule's signal history.
    pub threshold: Option<ThresholdUpdate>,
}

/// A new terms rule's index after an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TermsUpdate {
    /// The rule.
    pub rule_id: String,
    /// What the index is now, and covers.
    pub index: TermsIndex,
    /// Whether the index was rebuilt: the terms stored before are dropped first.
    pub rebuilt: bool,
    /// The terms whose times changed, with all their times now (nanoseconds, oldest first).
    pub seen: Vec<(String, Vec<i64>)>,
    /// Terms last seen before this (nanoseconds) are forgotten: past every history.
    pub forget_before: i64,
}

/// A threshold rule's signal history after an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdUpdate {
    /// The rule.
    pub rule_id: String,
    /// Groups alerted now, with the time of their newest event: their events up to it are not
    /// counted again.
    pub alerted: Vec<(String, Timestamp)>,
    /// Entries with an older time are dropped (no window reaches them any more).
    pub forget_before: Timestamp,
}

/// What threshold and new terms rules remember between executions.
pub trait RuleMemory: Send + Sync {
    /// A new terms rule's index, if it has one.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn terms_index(&self, rule_id: &str) -> StoreResult<Option<TermsIndex>>;

    /// When each of `terms` was seen by the rule's index (terms never seen are left out).
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn seen(&self, rule_id: &str, terms: &[String]) -> StoreResult<std::collections::HashMap<String, Vec<i64>>>;

    /// A threshold rule's signal history: per group, the time of the newest event its last
    /// alert counted.
    ///
    /// # Errors
    ///
    /// When the store cannot be read.
    fn threshold_history(&self, rule_id: &str) -> StoreResult<std::collections::HashMap<String, Timestamp>>;
}
