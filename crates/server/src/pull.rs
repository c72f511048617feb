//! `[o365]`: each tenant's audit logs pulled from the Office 365 Management Activity API, again
//! and again, into the event log.
//!
//! A tenant has a thread of its own (the API client blocks). Each pull, per content type:
//! list from where the last complete listing ended, less `relist` (the API can list a blob
//! late, with an earlier `contentCreated`), or from `since` the first time, never more than
//! 7 days back; fetch each blob not taken yet; normalize its records and append them (durable);
//! only then record the blob as taken; and when a listing window is done, move the content
//! type's watermark to its end. A restart goes on from the store's checkpoints: a blob taken is
//! not fetched again, a record delivered twice (in two blobs, or after a crash between the
//! append and the checkpoint) is the same event and is stored once. When the API cannot be
//! reached the thread logs it, counts it and tries again at the next interval.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ecs::date::Timestamp;
use engine::{Events, Unnamed};
use o365::api::{ApiError, Blob, Client, Content, Sink, Tenant};
use serde_json::Value;
use store::Taken;

use crate::config::O365;
use crate::ingest::{Action, Item, ItemError, Place};
use crate::state::AppState;

const SECOND: i64 = 1_000_000_000;
/// The API lists content of the last 7 days; a margin keeps the first window inside them.
const OLDEST: i64 = 7 * 86_400 * SECOND - 300 * SECOND;

/// The API client of each configured tenant, credentials read.
///
/// # Errors
///
/// The first tenant whose credential cannot be read, by tenant id.
pub fn clients(config: &O365, env: impl Fn(&str) -> Option<String>) -> Result<Vec<Puller>, String> {
    config
        .tenants
        .iter()
        .map(|t| {
            let credential = t.credential.load(&env).map_err(|e| format!("o365 tenant {}: {e}", t.tenant_id))?;
            let tenant = Tenant {
                tenant_id: t.tenant_id.clone(),
                client_id: t.client_id.clone(),
                credential,
                cloud: t.cloud,
                publisher: t.publisher.clone().unwrap_or_else(|| t.tenant_id.clone()),
                login_base: t.login_url.clone(),
                api_base: t.api_url.clone(),
            };
            Ok(Puller {
                tenant_id: t.tenant_id.clone(),
                content_types: t.content_types.clone(),
                client: Client::new(tenant, config.retry),
            })
        })
        .collect()
}

/// One tenant's puller: its client and the content types it pulls.
#[derive(Debug)]
pub struct Puller {
    tenant_id: String,
    content_types: Vec<String>,
    client: Client,
}

/// Starts a thread per tenant; each pulls every `interval` until `stop` is set.
///
/// # Errors
///
/// When the system refuses a thread.
pub fn start(
    state: &AppState,
    pullers: Vec<Puller>,
    stop: &Arc<AtomicBool>,
) -> std::io::Result<Vec<std::thread::JoinHandle<()>>> {
    let runtime = tokio::runtime::Handle::current();
    pullers
        .into_iter()
        .map(|mut puller| {
            let (state, stop, runtime) = (state.clone(), stop.clone(), runtime.clone());
            tracing::info!(tenant = %puller.tenant_id, content_types = ?puller.content_types,
                interval = %state.config.o365.interval, "o365: pulling");
            std::thread::Builder::new().name(format!("o365 {}", puller.tenant_id)).spawn(move || {
                let interval = state.config.o365.interval.as_duration();
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    if puller.mine(&state, &runtime, interval) {
                        puller.pull(&state, &runtime, &stop);
                    }
                    while began.elapsed() < interval && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(100).min(interval));
                    }
                }
            })
        })
        .collect()
}

impl Puller {
    /// Whether this node pulls the tenant now: always, except in cluster mode, where one node
    /// takes each interval's pull of each tenant (the others' pulls would only fetch the same
    /// records again, which the log would drop). A node that takes over resumes from its own
    /// checkpoints; what it fetches again is stored once.
    fn mine(&self, state: &AppState, runtime: &tokio::runtime::Handle, interval: Duration) -> bool {
        let Some(leases) = &state.leases else { return true };
        let slot =
            (Timestamp::now().as_nanos() / i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX).max(1)).to_string();
        runtime.block_on(leases.take(&["o365", &self.tenant_id, &slot]))
    }

    /// One pull of every content type.
    fn pull(&mut self, state: &AppState, runtime: &tokio::runtime::Handle, stop: &AtomicBool) {
        let Puller { tenant_id: tenant, content_types, client } = self;
        let tenant = tenant.as_str();
        let mut failure = None;
        for content_type in content_types.iter() {
            // Taken per content type: a long first pull of one must not push the next one's
            // start past the 7 days the API accepts.
            let now = Timestamp::now();
            let oldest = Timestamp::from_nanos(now.as_nanos() - OLDEST);
            let mut sink = Keeper { state, runtime, tenant, content_type, taken: HashSet::new(), stop, pending: None };
            let since = match sink.start(now) {
                Ok((since, resumed)) if since < oldest => {
                    if resumed {
                        // Down for more than a week: what the API no longer lists is gone.
                        tracing::warn!(%tenant, %content_type, from = %since,
                            "o365: content older than 7 days can no longer be pulled");
                    }
                    oldest
                }
                Ok((since, _)) => since,
                Err(err) => {
                    state.metrics.o365_error(tenant, "store");
                    tracing::warn!(%tenant, %content_type, %err, "o365: cannot read the checkpoint");
                    failure = Some(format!("{content_type}: cannot read the checkpoint: {err}"));
                    continue;
                }
            };
            let retries = client.retries;
            let result = o365::api::pull(client, std::slice::from_ref(content_type), since, now, &mut sink);
            // The last blob's records, whatever became of the pull.
            let result = match (result, sink.settle()) {
                (Err(err), _) => Err(err),
                (Ok(_), Err(err)) => Err(ApiError::Sink(err)),
                (Ok(pulled), Ok(())) => Ok(pulled),
            };
            state.metrics.o365_retries(tenant, client.retries - retries);
            match result {
                Ok(pulled) => {
                    for problem in &pulled.problems {
                        tracing::warn!(%tenant, %content_type, %problem, "o365: content skipped");
                    }
                    // Malformed blobs are counted as they are taken; refused listings here.
                    for _ in 0..pulled.unlisted {
                        state.metrics.o365_error(tenant, "api");
                    }
                    if pulled.blobs + pulled.expired + pulled.malformed > 0 {
                        tracing::info!(
                            %tenant, %content_type, blobs = pulled.blobs, records = pulled.records,
                            expired = pulled.expired, malformed = pulled.malformed, "o365: pulled"
                        );
                    }
                }
                Err(_) if stop.load(Ordering::Relaxed) => return,
                Err(err) => {
                    failure = Some(format!("{content_type}: {err}"));
                    state.metrics.o365_error(tenant, kind(&err));
                    tracing::warn!(%tenant, %content_type, %err, retry_in = ?state.config.o365.interval.as_duration(),
                        "o365: pull failed; trying again at the next interval");
                    // Nothing else of this tenant can work now: no sign-in, or no network.
                    if matches!(err, ApiError::SignIn(_) | ApiError::Network(_)) {
                        break;
                    }
                }
            }
        }
        if state.metrics.o365_pulled(tenant, failure) {
            tracing::info!(%tenant, "o365: pulls work again");
        }
        let forget = Timestamp::from_nanos(Timestamp::now().as_nanos() - OLDEST - 86_400 * SECOND);
        if let Err(err) = state.checkpoints.forget_taken(forget) {
            tracing::warn!(%err, "o365: cannot forget old content ids");
        }
    }
}

/// The metrics label of an error.
fn kind(err: &ApiError) -> &'static str {
    match err {
        ApiError::Network(_) => "network",
        ApiError::Http { status: 429, .. } => "throttled",
        ApiError::Http { .. } => "api",
        ApiError::SignIn(_) => "sign_in",
        ApiError::Expired => "expired",
        ApiError::Malformed(_) => "malformed",
        ApiError::Window(_) => "window",
        ApiError::Sink(_) => "store",
    }
}

/// Keeps pulled blobs in the store: records as events, then the blob as taken. A blob's records
/// are normalized and appended on the runtime's threads while the next blob is fetched and
/// normalized; each blob is recorded as taken once its records are durable, and the listing is
/// marked complete only when every blob of it is.
struct Keeper<'a> {
    state: &'a AppState,
    runtime: &'a tokio::runtime::Handle,
    tenant: &'a str,
    content_type: &'a str,
    taken: HashSet<String>,
    stop: &'a AtomicBool,
    /// The blob whose records are on their way to the store.
    pending: Option<Pending>,
}

/// A blob and the task storing its records (which says how many there were).
type Pending = (Content, tokio::task::JoinHandle<Result<u64, String>>);

impl Keeper<'_> {
    /// Where listing starts, and whether that is from a checkpoint; reads which blobs since
    /// then are taken.
    fn start(&mut self, now: Timestamp) -> Result<(Timestamp, bool), String> {
        let content_type = self.content_type;
        let config = &self.state.config.o365;
        let checkpoints = &self.state.checkpoints;
        let listed_to = checkpoints.listed_to(self.tenant, content_type).map_err(|e| e.to_string())?;
        let back = |interval: rules::Interval| i64::try_from(interval.as_seconds()).unwrap_or(i64::MAX) * SECOND;
        let since = match listed_to {
            Some(to) => Timestamp::from_nanos(to.as_nanos() - back(config.relist)),
            None => Timestamp::from_nanos(now.as_nanos() - back(config.since)),
        };
        self.taken = checkpoints.taken_since(self.tenant, content_type, since).map_err(|e| e.to_string())?;
        Ok((since, listed_to.is_some()))
    }

    /// Waits until the pending blob's records are durable, then records the blob as taken.
    fn settle(&mut self) -> Result<(), String> {
        let pending = self.pending.take();
        self.settle_one(pending)
    }

    fn settle_one(&mut self, pending: Option<Pending>) -> Result<(), String> {
        let Some((content, task)) = pending else { return Ok(()) };
        let records = self.runtime.block_on(task).map_err(|e| e.to_string())??;
        self.keep(&content, Taken::Records(records))
    }

    fn keep(&mut self, content: &Content, taken: Taken) -> Result<(), String> {
        self.state
            .checkpoints
            .take(self.tenant, self.content_type, &content.content_id, content.created, taken)
            .map_err(|e| e.to_string())?;
        self.taken.insert(content.content_id.clone());
        Ok(())
    }
}

/// Normalizes a blob's records and appends them; returns how many records it held.
async fn store_records(state: AppState, tenant: String, content: Content, records: Vec<Value>) -> Result<u64, String> {
    let count = records.len() as u64;
    let items = tokio::task::spawn_blocking(move || {
        let events = Events::for_ingest(Timestamp::now());
        let item = |(at, record)| Item {
            action: Action::Index,
            place: Place::Element,
            line: at + 1,
            index: None,
            id: None,
            // Every Office 365 record has its own `Id`; a digest names one that has none.
            event: events.to_store(record, None, None, Unnamed::Digest).map_err(ItemError::Record),
        };
        records.into_iter().enumerate().map(item).collect::<Vec<Item>>()
    })
    .await
    .map_err(|e| e.to_string())?;
    for (item, reason) in items.iter().filter_map(|i| i.event.as_ref().err().map(|r| (i, r))) {
        state.metrics.o365_error(&tenant, "record");
        tracing::warn!(%tenant, content = %content.content_id, record = item.line, %reason, "o365: record not ingested");
    }
    state.store_items(&items).await.map_err(|e| e.to_string())?;
    state.metrics.o365_records(&tenant, &content.content_type, count);
    Ok(count)
}

impl Sink for Keeper<'_> {
    fn taken(&mut self, content: &Content) -> bool {
        self.taken.contains(&content.content_id)
    }

    fn blob(&mut self, content: &Content, blob: Blob) -> Result<(), String> {
        match blob {
            Blob::Records(records) => {
                if self.stop.load(Ordering::Relaxed) {
                    return Err("shutting down".into());
                }
                // This blob is normalized while the last one is appended; then the last one
                // is settled, and this one waits while the next is fetched.
                let counted = Content { content_type: self.content_type.to_owned(), ..content.clone() };
                let task =
                    self.runtime.spawn(store_records(self.state.clone(), self.tenant.to_owned(), counted, records));
                let previous = self.pending.replace((content.clone(), task));
                self.settle_one(previous)
            }
            Blob::Expired => {
                self.state.metrics.o365_error(self.tenant, "expired");
                self.keep(content, Taken::Expired)
            }
            Blob::Malformed(_) => {
                self.state.metrics.o365_error(self.tenant, "malformed");
                self.keep(content, Taken::Malformed)
            }
        }
    }

    fn listed(&mut self, _: &str, until: Timestamp) -> Result<(), String> {
        self.settle()?;
        self.state.checkpoints.set_listed_to(self.tenant, self.content_type, until).map_err(|e| e.to_string())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
