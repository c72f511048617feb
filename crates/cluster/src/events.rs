//! The cluster's event log: publishing to the replicated stream, and applying it to a node's
//! store.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, message::PublishMessage, stream};
use bytes::Bytes;
use ecs::date::Timestamp;
use engine::storage::{Appended, EventLog, NewEvent, StoreError, StoreResult};
use futures_util::StreamExt;

use crate::config::Settings;

/// The stream every node publishes events to.
pub const STREAM: &str = "VIGIL_EVENTS";
/// Its subject.
const SUBJECT: &str = "vigil.events";
/// How many events a node applies to its store in one transaction, at most.
const APPLY_BATCH: usize = 1_000;
/// How many acknowledgements one publish awaits at a time, at most (the client has 5,000
/// permits for all of them).
const IN_FLIGHT: usize = 512;
/// How long a replicator waits for the log before it checks that it is not stalled.
pub(crate) const IDLE: Duration = Duration::from_secs(2);

/// The headers that carry an event's fields beside its document (the payload).
const INDEX: &str = "Vigil-Index";
const EVENT_ID: &str = "Vigil-Event-Id";
const TIMESTAMP: &str = "Vigil-Timestamp";
const INGESTED: &str = "Vigil-Ingested";

/// What went wrong with the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The NATS servers could not be reached or refused the login.
    #[error("cannot connect to the NATS cluster ({urls}): {reason}")]
    Connect {
        /// The servers tried.
        urls: String,
        /// Why.
        reason: String,
    },
    /// The stream could not be created or read (JetStream off, too few servers for the
    /// replicas, a stream of the same name with another shape).
    #[error("cannot set up the stream {STREAM}: {0}")]
    Stream(String),
    /// A publish was not acknowledged: the event may or may not be in the log, and the client
    /// must send it again (its identity makes that safe).
    #[error("the cluster did not acknowledge the events: {0}")]
    Publish(String),
    /// The node's store holds events numbered past the cluster's log: it was filled on its own
    /// (single-node mode) or belongs to another cluster.
    #[error(
        "this node's store has events up to {mine} but the cluster's log only to {log}: a store filled in single-node mode (or by another cluster) cannot join; start the node on an empty data directory"
    )]
    Diverged {
        /// The store's newest sequence number.
        mine: u64,
        /// The log's.
        log: u64,
    },
}

/// A node's connection to the cluster.
#[derive(Clone, Debug)]
pub struct Cluster {
    jetstream: jetstream::Context,
    settings: Arc<Settings>,
}

impl Cluster {
    /// Connects to the NATS servers and makes sure the event stream exists with the
    /// configured shape.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Connect`], [`ClusterError::Stream`].
    pub async fn connect(settings: Settings) -> Result<Cluster, ClusterError> {
        let fail = |reason: String| ClusterError::Connect { urls: settings.urls.join(", "), reason };
        let mut options = async_nats::ConnectOptions::new()
            .name(&settings.name)
            .connection_timeout(Duration::from_secs(5))
            .retry_on_initial_connect();
        if let Some(path) = &settings.credentials {
            options = options.credentials_file(path).await.map_err(|e| fail(format!("{}: {e}", path.display())))?;
        }
        if let Some((user, file)) = &settings.user {
            let password = std::fs::read_to_string(file).map_err(|e| fail(format!("{}: {e}", file.display())))?;
            options = options.user_and_password(user.clone(), password.trim_end().to_owned());
        }
        if let Some(ca) = &settings.tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        if let Some((cert, key)) = &settings.tls_client {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        let client = options.connect(settings.urls.as_slice()).await.map_err(|e| fail(e.to_string()))?;
        let jetstream = jetstream::new(client);
        let config = stream::Config {
            name: STREAM.into(),
            subjects: vec![SUBJECT.into()],
            storage: stream::StorageType::File,
            num_replicas: settings.replicas,
            max_age: settings.max_age,
            max_bytes: settings.max_bytes.map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX)),
            duplicate_window: settings.duplicate_window,
            ..Default::default()
        };
        let cluster = Cluster { jetstream, settings: Arc::new(settings) };
        cluster.create_stream(config).await?;
        Ok(cluster)
    }

    /// Makes sure a stream exists (with `config` when it must be made), waiting for a cluster
    /// that has just started and may still be electing its JetStream leader.
    pub(crate) async fn create_stream(&self, config: stream::Config) -> Result<(), ClusterError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match self.jetstream.get_or_create_stream(config.clone()).await {
                Ok(_) => return Ok(()),
                Err(err) if tokio::time::Instant::now() < deadline => {
                    tracing::info!(%err, stream = %config.name, "waiting for the NATS cluster's JetStream");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(err) => return Err(ClusterError::Stream(err.to_string())),
            }
        }
    }

    /// A stream, to read.
    pub(crate) async fn stream(&self, name: &str) -> Result<stream::Stream, ClusterError> {
        self.jetstream.get_stream(name).await.map_err(|e| ClusterError::Stream(e.to_string()))
    }

    /// The sequence number of a stream's newest message.
    pub(crate) async fn stream_last_seq(&self, name: &str) -> Result<u64, ClusterError> {
        let stream = self.stream(name).await?;
        Ok(stream.get_info().await.map_err(|e| ClusterError::Stream(e.to_string()))?.state.last_sequence)
    }

    /// Publishes one message with the message id `id`, sending it again until acknowledged or
    /// `publish_timeout`; returns its sequence number (the first copy's, when a resend found it
    /// there already).
    pub(crate) async fn publish_state(&self, subject: &str, payload: Bytes, id: &str) -> Result<u64, ClusterError> {
        let deadline = tokio::time::Instant::now() + self.settings.publish_timeout;
        let mut delay = Duration::from_millis(50);
        loop {
            let message = PublishMessage::build().payload(payload.clone()).message_id(id);
            let attempt = match self.jetstream.send_publish(subject.to_owned(), message).await {
                Ok(ack) => ack.await.map(|ack| ack.sequence).map_err(|e| e.to_string()),
                Err(err) => Err(err.to_string()),
            };
            match attempt {
                Ok(seq) => return Ok(seq),
                Err(err) if tokio::time::Instant::now() + delay > deadline => return Err(ClusterError::Publish(err)),
                Err(_) => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The JetStream context.
    pub(crate) fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// The sequence number of the newest event in the cluster's log.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Stream`] when the stream cannot be read.
    pub async fn last_seq(&self) -> Result<u64, ClusterError> {
        self.stream_last_seq(STREAM).await
    }

    /// Checks that a node's store can follow the log: it holds no event the log does not
    /// (a store filled in single-node mode has numbers of its own).
    ///
    /// # Errors
    ///
    /// [`ClusterError::Diverged`] when it cannot; [`ClusterError::Stream`].
    pub async fn check(&self, local: &store::Sqlite) -> Result<(), ClusterError> {
        let (mine, log) = (local.last_seq().map_err(|e| ClusterError::Stream(e.to_string()))?, self.last_seq().await?);
        if mine > log {
            return Err(ClusterError::Diverged { mine, log });
        }
        Ok(())
    }

    /// Publishes `events` to the log and waits until the stream has acknowledged every one
    /// (stored by its quorum, or known already by its message id); returns each one's place.
    /// Events not acknowledged are sent again (their message ids make that safe) until the
    /// settings' `publish_timeout`: a server lost, or a stream leader being elected, costs a
    /// delay, not an error.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Publish`] when some are still not acknowledged at the deadline.
    pub async fn publish(&self, events: &[NewEvent]) -> Result<Vec<Appended>, ClusterError> {
        let deadline = tokio::time::Instant::now() + self.settings.publish_timeout;
        let mut out: Vec<Option<Appended>> = vec![None; events.len()];
        let mut delay = Duration::from_millis(50);
        loop {
            let last_error = self.publish_missing(events, &mut out).await;
            match last_error {
                None => return Ok(out.into_iter().flatten().collect()),
                Some(err) if tokio::time::Instant::now() + delay > deadline => {
                    return Err(ClusterError::Publish(err));
                }
                Some(err) => {
                    tracing::debug!(%err, "publish not acknowledged; sending again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// One attempt at the events of `out` still `None`; returns the last error, if any. At most
    /// [`IN_FLIGHT`] acknowledgements are awaited at a time: the client's acknowledgement permits
    /// are shared by every request, and a request holding too many would wait for itself.
    async fn publish_missing(&self, events: &[NewEvent], out: &mut [Option<Appended>]) -> Option<String> {
        let mut pending = std::collections::VecDeque::new();
        let mut error = None;
        let missing: Vec<usize> = (0..events.len()).filter(|&at| out[at].is_none()).collect();
        for at in missing {
            let event = &events[at];
            let key = store::event_key(event);
            let id: String = key.iter().map(|b| format!("{b:02x}")).collect();
            let mut message = PublishMessage::build()
                .payload(Bytes::from(event.document.clone()))
                .message_id(id)
                .header(INDEX, event.index.as_str())
                .header(EVENT_ID, event.event_id.as_str())
                .header(INGESTED, event.ingested.as_nanos().to_string().as_str());
            if let Some(timestamp) = event.timestamp {
                message = message.header(TIMESTAMP, timestamp.as_nanos().to_string().as_str());
            }
            match self.jetstream.send_publish(SUBJECT, message).await {
                Ok(ack) => pending.push_back((at, ack)),
                Err(err) => {
                    error = Some(err.to_string());
                    break;
                }
            }
            if pending.len() >= IN_FLIGHT
                && let Some((at, ack)) = pending.pop_front()
            {
                acknowledged(at, ack.await, out, &mut error);
            }
        }
        for (at, ack) in pending {
            acknowledged(at, ack.await, out, &mut error);
        }
        error
    }

    /// The replicator that applies the log to `local`, from the event after the newest it
    /// holds, as events arrive ([`Replicator::run`]). A lost connection is retried; the node's
    /// store stays behind the log meanwhile (its executions cover only what it holds).
    pub fn replicate(&self, local: Arc<store::Sqlite>) -> Replicator {
        Replicator { cluster: self.clone(), local }
    }
}

/// Applies the cluster's log to one node's store ([`Cluster::replicate`]).
#[derive(Debug)]
pub struct Replicator {
    cluster: Cluster,
    local: Arc<store::Sqlite>,
}

impl Replicator {
    /// Runs until the task is dropped: reads the stream in order from the node's newest event
    /// and stores each batch under the stream's numbers.
    pub async fn run(self) {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.follow().await {
                Ok(()) => delay = Duration::from_millis(100),
                Err(err) => {
                    tracing::warn!(%err, "the cluster's event log could not be read; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Follows the stream from the event after the node's newest, until an error.
    async fn follow(&self) -> Result<(), String> {
        let local = self.local.clone();
        let after = tokio::task::spawn_blocking(move || local.last_seq())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let stream = self.cluster.jetstream.get_stream(STREAM).await.map_err(|e| e.to_string())?;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: after + 1 },
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let messages = consumer.messages().await.map_err(|e| e.to_string())?;
        // Whatever has arrived is applied at once, up to a batch: a quiet log applies each event
        // as it comes, a busy one in large transactions.
        let mut batches = messages.ready_chunks(APPLY_BATCH);
        loop {
            // A consumer whose server was lost may go quiet instead of failing: when nothing
            // comes for a while but the log has moved past the store, it is made again.
            let batch = match tokio::time::timeout(IDLE, batches.next()).await {
                Ok(Some(batch)) => batch,
                Ok(None) => return Err("the stream's consumer ended".into()),
                Err(_) => {
                    let local = self.local.clone();
                    let mine = tokio::task::spawn_blocking(move || local.last_seq())
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| e.to_string())?;
                    let log = self.cluster.last_seq().await.map_err(|e| e.to_string())?;
                    if log > mine {
                        return Err(format!("the log is at {log} and this node at {mine} with nothing coming"));
                    }
                    continue;
                }
            };
            let mut events = Vec::with_capacity(batch.len());
            for message in batch {
                let message = message.map_err(|e| e.to_string())?;
                let seq = message.info().map_err(|e| e.to_string())?.stream_sequence;
                events.push((seq, event_of(&message.message).map_err(|e| format!("event {seq}: {e}"))?));
            }
            let local = self.local.clone();
            tokio::task::spawn_blocking(move || local.replicate(&events))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
    }
}

/// Records the acknowledgement of event `at` in `out`, or its error in `error`.
fn acknowledged(
    at: usize,
    ack: Result<async_nats::jetstream::publish::PublishAck, async_nats::jetstream::context::PublishError>,
    out: &mut [Option<Appended>],
    error: &mut Option<String>,
) {
    match ack {
        Ok(ack) if ack.duplicate => out[at] = Some(Appended::Duplicate(ack.sequence)),
        Ok(ack) => out[at] = Some(Appended::Stored(ack.sequence)),
        Err(err) => *error = Some(err.to_string()),
    }
}

/// The event a log message holds.
fn event_of(message: &async_nats::Message) -> Result<NewEvent, String> {
    let header = |name: &str| message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_owned());
    let nanos = |name: &str| -> Result<Option<Timestamp>, String> {
        header(name)
            .map(|text| text.parse::<i64>().map(Timestamp::from_nanos).map_err(|e| format!("{name}: {e}")))
            .transpose()
    };
    Ok(NewEvent {
        index: header(INDEX).ok_or("no index header")?,
        event_id: header(EVENT_ID).ok_or("no event id header")?,
        timestamp: nanos(TIMESTAMP)?,
        ingested: nanos(INGESTED)?.ok_or("no ingest time header")?,
        document: String::from_utf8(message.payload.to_vec()).map_err(|e| e.to_string())?,
    })
}

/// Where a node appends events in cluster mode: the cluster's stream, from a blocking thread
/// (the events reach the node's store through its [`Replicator`]; [`crate::ClusterStore`] reads
/// them there).
#[derive(Debug)]
pub struct ClusterLog {
    cluster: Cluster,
    runtime: tokio::runtime::Handle,
}

impl ClusterLog {
    /// Appends through `cluster` on `runtime` (appends are called off the runtime's threads, as
    /// every store call is).
    pub fn new(cluster: Cluster, runtime: tokio::runtime::Handle) -> ClusterLog {
        ClusterLog { cluster, runtime }
    }

    /// The node's name in the cluster.
    pub fn node(&self) -> &str {
        &self.cluster.settings.name
    }

    /// Publishes `events` and waits for the cluster's acknowledgements ([`Cluster::publish`]).
    ///
    /// # Errors
    ///
    /// A write error when the cluster did not acknowledge them all.
    pub fn append(&self, events: &[NewEvent]) -> StoreResult<Vec<Appended>> {
        self.runtime
            .block_on(self.cluster.publish(events))
            .map_err(|e| StoreError::Unavailable { what: "publish to the cluster", reason: e.to_string() })
    }
}
