//! Delivery from the outbox: one sender per connector, so a slow or dead receiver holds up
//! only its own messages, never rule executions (they only queue) nor other connectors.
//!
//! A sender takes its connector's due notifications oldest first, sends each, and marks it
//! sent, or schedules the next attempt after an exponential backoff with jitter (from
//! `retry_base`, doubling, at most 15 minutes), until `retry_for` has passed since it was
//! queued: then it is marked failed. A receiver that refuses a message for good (an HTTP 4xx
//! other than 408 and 429, a permanent SMTP error) fails it at once. The mark is written after
//! the receiver accepted: a crash in between sends it again after the restart (at least once;
//! the idempotency key lets receivers drop the repeat).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use ecs::date::Timestamp;
use engine::storage::{Notification, Store};

use crate::config::{Connector, Setup};
use crate::send::send;

/// What became of delivery attempts, by connector: `sent`, `retried` or `failed`.
pub type Outcomes = BTreeMap<(String, &'static str), u64>;

struct Shared {
    store: Arc<dyn Store>,
    setup: Arc<Setup>,
    /// Bumped by [`Sender::wake`]; senders wait on it.
    wake: (Mutex<u64>, Condvar),
    stop: AtomicBool,
    outcomes: Mutex<Outcomes>,
}

/// The senders of every connector, running on threads of their own.
pub struct Sender {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("connectors", &self.shared.setup.connectors.len()).finish_non_exhaustive()
    }
}

impl Sender {
    /// Starts a sender for each connector of `setup`, delivering from `store`'s outbox
    /// (including what an earlier run queued and did not send).
    pub fn start(store: Arc<dyn Store>, setup: Arc<Setup>) -> Sender {
        let shared = Arc::new(Shared {
            store,
            setup,
            wake: (Mutex::new(0), Condvar::new()),
            stop: AtomicBool::new(false),
            outcomes: Mutex::new(BTreeMap::new()),
        });
        for at in 0..shared.setup.connectors.len() {
            let shared = shared.clone();
            let name = format!("notify-{}", shared.setup.connectors[at].name);
            std::thread::Builder::new()
                .name(name)
                .spawn(move || run(&shared, &shared.setup.connectors[at]))
                .expect("a thread starts");
        }
        Sender { shared }
    }

    /// Tells the senders that notifications were queued.
    pub fn wake(&self) {
        let (lock, condvar) = &self.shared.wake;
        *lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        condvar.notify_all();
    }

    /// Attempts so far, by connector and outcome.
    pub fn outcomes(&self) -> Outcomes {
        self.shared.outcomes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Tells the senders to stop after their current attempt (what is not sent stays queued);
    /// does not wait for a receiver that is slow to answer.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.wake();
    }
}

fn run(shared: &Shared, connector: &Connector) {
    let timeout = Duration::from_secs(shared.setup.settings.timeout.as_seconds());
    while !shared.stop.load(Ordering::SeqCst) {
        let seen = *shared.wake.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = match shared.store.due(&connector.name, Timestamp::now(), 32) {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(connector = %connector.name, "cannot read the outbox: {err}");
                Vec::new()
            }
        };
        for notification in &due {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            let outcome = attempt(shared, connector, notification, timeout);
            *shared
                .outcomes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry((connector.name.clone(), outcome))
                .or_default() += 1;
        }
        if due.is_empty() {
            // Until woken, or a second passes (retries come due).
            let (lock, condvar) = &shared.wake;
            let guard = lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if *guard == seen && !shared.stop.load(Ordering::SeqCst) {
                let _ = condvar.wait_timeout(guard, Duration::from_secs(1));
            }
        }
    }
}

/// One attempt at one notification, marked in the store: `sent`, `retried` or `failed`.
fn attempt(shared: &Shared, connector: &Connector, n: &Notification, timeout: Duration) -> &'static str {
    let result = send(connector, &n.queued.key, &n.queued.message, timeout);
    let now = Timestamp::now();
    let (outcome, marked) = match result {
        Ok(()) => ("sent", shared.store.delivered(n.id, now)),
        Err(err) => {
            let settings = &shared.setup.settings;
            let give_up = n.queued.created.as_nanos().saturating_add(nanos(settings.retry_for.as_seconds()));
            let next = now.as_nanos().saturating_add(backoff(settings.retry_base.as_seconds(), n.attempts));
            let retry = (!err.permanent && next <= give_up).then(|| Timestamp::from_nanos(next));
            tracing::warn!(connector = %connector.name, key = %n.queued.key, attempts = n.attempts + 1,
                retry = ?retry.map(|t| t.to_string()), "a notification was not delivered: {err}");
            (if retry.is_some() { "retried" } else { "failed" }, shared.store.attempt_failed(n.id, &err.message, retry))
        }
    };
    if let Err(err) = marked {
        tracing::warn!(connector = %connector.name, key = %n.queued.key, "cannot record a delivery attempt: {err}");
    }
    outcome
}

fn nanos(seconds: u64) -> i64 {
    i64::try_from(seconds).unwrap_or(i64::MAX / 1_000_000_000).saturating_mul(1_000_000_000)
}

/// The wait before attempt `attempts + 1`: `base` doubled per attempt, at most 15 minutes, from
/// 75% to 125% of that at random (so that retries of many messages spread out).
fn backoff(base: u64, attempts: u32) -> i64 {
    let wait = nanos(base).saturating_mul(1_i64 << attempts.min(20)).min(nanos(900));
    let jitter = getrandom::u64().unwrap_or(0) % 1000;
    wait / 1000 * (750 + i64::try_from(jitter / 2).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_with_jitter_up_to_fifteen_minutes() {
        for (attempts, seconds) in [(0, 5.0), (1, 10.0), (3, 40.0), (10, 900.0), (40, 900.0)] {
            let wait = super::backoff(5, attempts) as f64 / 1e9;
            assert!(wait >= seconds * 0.75 && wait <= seconds * 1.25, "{attempts}: {wait}");
        }
    }
}
