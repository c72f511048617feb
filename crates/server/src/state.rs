//! What every handler and background task shares: the store, the loaded rules, the metrics.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use ecs::date::Timestamp;
use engine::IndexPatterns;
use engine::exceptions::RuleExceptions;
use engine::schedule::{self, Trigger};
use engine::storage::{Appended, EventLog, ExecutionRecord, NewEvent, RuleState, Store, StoreError};
use rules::Rule;
use store::{Access, AuditEntry, Checkpoints, Tuning};

use crate::config::Config;
use crate::error::ApiError;
use crate::ingest::Item;
use crate::metrics::Metrics;

/// The rules the service runs, as last loaded, with the problems met loading them.
#[derive(Debug, Default)]
pub struct RulePack {
    /// Rules that loaded, built-in first, then each folder in order.
    pub rules: Vec<Rule>,
    /// `file:line: what is wrong`, one per rule or file that did not load.
    pub problems: Vec<String>,
    /// The rule files and their modification times, to notice changes.
    stamp: Vec<(PathBuf, Option<SystemTime>)>,
}

impl RulePack {
    /// Loads the built-in pack (when enabled) and every rule below `folders`. A rule that fails
    /// is reported in `problems` and the others load.
    pub fn load(builtin: bool, folders: &[PathBuf]) -> RulePack {
        let mut pack = RulePack::default();
        if builtin {
            pack.rules.extend(rules::builtin().rules);
        }
        for folder in folders {
            if !folder.exists() {
                pack.problems.push(format!("{}: no such file or folder", folder.display()));
                continue;
            }
            let loaded = rules::load_path(folder);
            pack.problems.extend(loaded.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.to_string()));
            pack.rules.extend(loaded.rules);
        }
        // A rule id given twice: the later one wins, as a second import does in Kibana.
        let mut seen = std::collections::HashSet::new();
        let mut kept: Vec<Rule> = pack.rules.into_iter().rev().filter(|r| seen.insert(r.id.0.clone())).collect();
        kept.reverse();
        pack.rules = kept;
        pack.stamp = stamp(folders);
        pack
    }

    /// Whether the rule files changed since this pack was loaded.
    pub fn changed(&self, folders: &[PathBuf]) -> bool {
        stamp(folders) != self.stamp
    }

    /// The rule with this `rule_id`.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id.0 == id)
    }

    /// The rules that run: runnable, and enabled by their switch in `states` (else by their
    /// file), each with its state.
    pub fn enabled<'a>(
        &'a self,
        states: &'a HashMap<String, RuleState>,
    ) -> impl Iterator<Item = (&'a Rule, RuleState)> + 'a {
        self.rules
            .iter()
            .filter(|r| r.unsupported().is_none())
            .map(|r| (r, RuleState::of(states, &r.id.0)))
            .filter(|(r, s)| s.enabled.unwrap_or(r.enabled))
    }
}

/// Every file below `folders` with its modification time, in path order.
fn stamp(folders: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>)> {
    let existing: Vec<PathBuf> = folders.iter().filter(|f| f.exists()).cloned().collect();
    let files = engine::source::expand(&existing, &[] as &[&str]).map(|e| e.files).unwrap_or_default();
    files
        .into_iter()
        .map(|f| {
            let modified = std::fs::metadata(&f).and_then(|m| m.modified()).ok();
            (f, modified)
        })
        .collect()
}

/// An audit entry made now, and logged.
pub(crate) fn audit_entry(actor: String, action: &str, target: String, detail: Option<String>) -> AuditEntry {
    tracing::info!(%actor, %action, %target, "audit");
    AuditEntry { at: Timestamp::now(), actor, action: action.to_owned(), target, detail }
}

/// The service's shared state: cheap to clone, everything behind `Arc`s.
#[derive(Clone)]
pub struct AppState {
    /// Where events, alerts and rule state live.
    pub store: Arc<dyn Store>,
    /// Where ingested events are appended: the store, or in cluster mode the cluster's log
    /// (which reaches the store through its replicator).
    pub events: Arc<dyn EventLog>,
    /// API keys and the audit trail (the same database).
    pub access: Arc<dyn Access>,
    /// Where the Office 365 pulls stand (the same database).
    pub checkpoints: Arc<dyn Checkpoints>,
    /// Exception lists and value lists (the same database).
    pub tuning: Arc<dyn Tuning>,
    /// The service's configuration.
    pub config: Arc<Config>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The console's signed-in browsers.
    pub(crate) sessions: Arc<crate::ui::Sessions>,
    rules: Arc<RwLock<Arc<RulePack>>>,
    /// The index patterns of the enabled rules, as the scheduler last saw them: stored events
    /// in no index they cover are counted in the metrics.
    searched: Arc<RwLock<Arc<Vec<IndexPatterns>>>>,
    /// One permit per ingest request being read (`max_ingest_requests`).
    pub(crate) ingest_permits: Arc<tokio::sync::Semaphore>,
    /// One place per ingest request being read or waiting to be
    /// (`max_ingest_requests + max_ingest_queue`).
    pub(crate) ingest_queue: Arc<tokio::sync::Semaphore>,
    /// One execution at a time: two runs of one rule must not interleave their commits.
    executions: Arc<tokio::sync::Mutex<()>>,
    /// Woken when events are stored, for the rules that run in real time.
    pub(crate) stored: Arc<tokio::sync::Notify>,
    /// What executions queue for the connectors.
    notifier: Arc<notify::Notifier>,
    /// The connectors' senders, once the service runs them ([`crate::serve`]).
    pub(crate) sender: Arc<std::sync::OnceLock<notify::Sender>>,
    /// In cluster mode, who runs each scheduled execution.
    pub leases: Option<cluster::Leases>,
    /// In cluster mode, the cluster (for the health check).
    pub cluster: Option<cluster::Cluster>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.config).finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `backend`, with the rules `config` names loaded.
    pub fn new<B: Store + Access + Checkpoints + Tuning + 'static>(backend: Arc<B>, config: Config) -> AppState {
        let pack = RulePack::load(config.builtin_rules, &config.rules);
        for problem in &pack.problems {
            tracing::warn!(%problem, "rule not loaded");
        }
        // Until the scheduler reads the rules' switches, the rule files say which are enabled.
        let searched = pack.rules.iter().filter(|r| r.enabled && r.unsupported().is_none()).map(|r| &r.index);
        let searched = searched.map(|index| IndexPatterns::new(index)).collect();
        let ingest_permits = Arc::new(tokio::sync::Semaphore::new(config.max_ingest_requests.max(1)));
        let places = config.max_ingest_requests.max(1).saturating_add(config.max_ingest_queue);
        let ingest_queue = Arc::new(tokio::sync::Semaphore::new(places));
        AppState {
            store: backend.clone(),
            events: backend.clone(),
            access: backend.clone(),
            checkpoints: backend.clone(),
            tuning: backend,
            notifier: Arc::new(notify::Notifier::new(config.notifications.clone())),
            sender: Arc::default(),
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
            sessions: Arc::default(),
            rules: Arc::new(RwLock::new(Arc::new(pack))),
            searched: Arc::new(RwLock::new(Arc::new(searched))),
            ingest_permits,
            ingest_queue,
            executions: Arc::new(tokio::sync::Mutex::new(())),
            stored: Arc::default(),
            leases: None,
            cluster: None,
        }
    }

    /// The same state, appending ingested events to `events` instead of the store (cluster
    /// mode).
    pub fn with_event_log(self, events: Arc<dyn EventLog>) -> AppState {
        AppState { events, ..self }
    }

    /// The rules as last loaded.
    pub fn rules(&self) -> Arc<RulePack> {
        self.rules.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Loads the rules again; their state (enabled, coverage, history) is kept in the store by
    /// rule id. Returns the new pack.
    pub fn reload_rules(&self) -> Arc<RulePack> {
        let pack = Arc::new(RulePack::load(self.config.builtin_rules, &self.config.rules));
        for problem in &pack.problems {
            tracing::warn!(%problem, "rule not loaded");
        }
        tracing::info!(rules = pack.rules.len(), problems = pack.problems.len(), "rules reloaded");
        *self.rules.write().unwrap_or_else(std::sync::PoisonError::into_inner) = pack.clone();
        pack
    }

    /// Sets the index patterns of the rules enabled now.
    pub fn set_searched(&self, patterns: Vec<IndexPatterns>) {
        *self.searched.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(patterns);
    }

    /// Runs a store call off the async threads, counting failures.
    ///
    /// # Errors
    ///
    /// [`ApiError::Store`] when the store fails.
    pub async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let result = tokio::task::spawn_blocking(call).await?;
        if result.is_err() {
            self.metrics.store_error();
        }
        Ok(result?)
    }

    /// Runs a store write off the async threads, like [`AppState::blocking`], and remembers how
    /// it went: the health check answers from the last write's outcome, since reads keep
    /// working on a full disk.
    ///
    /// # Errors
    ///
    /// [`ApiError::Store`] when the store fails.
    pub async fn write<T: Send + 'static>(
        &self,
        call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let result = self.blocking(call).await;
        match &result {
            Ok(_) => self.metrics.wrote(None),
            Err(ApiError::Store(err)) if err.is_write() => self.metrics.wrote(Some(err.to_string())),
            Err(_) => {}
        }
        result
    }

    /// What one request may hold.
    pub fn limits(&self) -> crate::ingest::Limits {
        crate::ingest::Limits { max_line: self.config.max_line, max_items: self.config.max_items }
    }

    /// Records a change in the audit trail: `actor` did `action` on `target`.
    ///
    /// # Errors
    ///
    /// [`ApiError::Store`] when the store fails.
    pub async fn audit(
        &self,
        actor: String,
        action: &str,
        target: String,
        detail: Option<String>,
    ) -> Result<(), ApiError> {
        let entry = audit_entry(actor, action, target, detail);
        let access = self.access.clone();
        self.write(move || access.audit(&entry)).await
    }

    /// Appends prepared events; when this returns they are durable.
    ///
    /// # Errors
    ///
    /// [`ApiError::Store`] when the store fails; nothing of the batch is stored then.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>, ApiError> {
        let count = events.len() as i64;
        self.metrics.pending(count);
        // Events with a known index that no enabled rule searches (an empty index is searched
        // by every rule).
        let searched = self.searched.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let outside: Vec<(usize, String)> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.index.is_empty() && !searched.iter().any(|p| p.covers(Some(&e.index))))
            .map(|(at, e)| (at, e.index.clone()))
            .collect();
        let log = self.events.clone();
        let result = self.write(move || log.append(&events)).await;
        self.metrics.pending(-count);
        if let Ok(appended) = &result {
            let stored = |at: &usize| matches!(appended.get(*at), Some(Appended::Stored(_)));
            self.metrics.outside_indices(outside.iter().filter(|(at, _)| stored(at)).map(|(_, index)| index.as_str()));
            if appended.iter().any(|a| matches!(a, Appended::Stored(_))) {
                self.stored.notify_one();
            }
        }
        result
    }

    /// Appends the events of `items` in one durable write; returns what became of each item, in
    /// order (`None` for items refused before the store), and counts them in the metrics.
    ///
    /// # Errors
    ///
    /// [`ApiError::Store`] when the store fails; nothing of the items is stored then.
    pub async fn store_items(&self, items: &[Item]) -> Result<Vec<Option<Appended>>, ApiError> {
        let events: Vec<_> = items.iter().filter_map(|i| i.event.as_ref().ok().cloned()).collect();
        let mut appended = self.append(events).await?.into_iter();
        let outcomes: Vec<Option<Appended>> =
            items.iter().map(|i| if i.event.is_ok() { appended.next() } else { None }).collect();
        let stored = outcomes.iter().filter(|o| matches!(o, Some(Appended::Stored(_)))).count() as u64;
        let duplicates = outcomes.iter().filter(|o| matches!(o, Some(Appended::Duplicate(_)))).count() as u64;
        self.metrics.ingested(stored, duplicates, items.len() as u64 - stored - duplicates);
        Ok(outcomes)
    }

    /// Runs `rules` (one group that searches the same events) at `scheduled`, after any running
    /// execution ends, and records the outcome in the metrics.
    ///
    /// # Errors
    ///
    /// [`ApiError::Store`] when the store fails; that rule's execution is not stored then.
    pub async fn execute(
        &self,
        rules: Vec<Rule>,
        scheduled: Timestamp,
        trigger: Trigger,
    ) -> Result<Vec<ExecutionRecord>, ApiError> {
        let _running = self.executions.lock().await;
        let (store, tuning, notifier) = (self.store.clone(), self.tuning.clone(), self.notifier.clone());
        let records = self
            .write(move || {
                // Read at every execution: a list changed through the API applies at once.
                let exceptions = tuning.exceptions()?;
                schedule::execute(
                    store.as_ref(),
                    ecs::Catalog::builtin(),
                    &rules,
                    &exceptions,
                    notifier.as_ref(),
                    scheduled,
                    trigger,
                )
            })
            .await?;
        if records.iter().any(|r| r.notifications > 0)
            && let Some(sender) = self.sender.get()
        {
            sender.wake();
        }
        for record in &records {
            // How long after its scheduled start it ran; a real-time execution runs when events come.
            let delay = match trigger {
                Trigger::RealTime => 0,
                _ => (record.started.as_nanos() - record.scheduled.as_nanos()).max(0) / 1_000_000,
            };
            self.metrics.execution(record.status, record.duration_ms, record.alerts, delay as u64);
            let quiet = trigger == Trigger::RealTime && record.alerts == 0 && record.warnings.is_empty();
            if quiet {
                tracing::debug!(rule = %record.rule_id, events = record.events, duration_ms = record.duration_ms, "real-time execution");
            } else {
                tracing::info!(
                    rule = %record.rule_id, status = ?record.status, ?trigger, events = record.events, alerts = record.alerts,
                    held_back = record.held_back, duration_ms = record.duration_ms, "execution"
                );
            }
            for warning in &record.warnings {
                tracing::warn!(rule = %record.rule_id, %warning, "execution warning");
            }
            let exceptions = record.warnings.iter().filter(|w| w.starts_with(RuleExceptions::WARNING)).count();
            self.metrics.exception_warnings(exceptions as u64);
        }
        Ok(records)
    }
}
