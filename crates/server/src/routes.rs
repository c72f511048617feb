//! The HTTP routes, one module per resource, and what they share.

pub mod alerts;
pub mod audit;
pub mod bulk;
pub mod events;
pub mod exceptions;
pub mod health;
pub mod notifications;
pub mod pulls;
pub mod rules;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ecs::date::{DateMath, Timestamp};
use kql::Matcher;

use crate::error::ApiError;

/// The most items one page (or one bulk status change) holds.
pub const MAX_PAGE: usize = 1000;

/// A page size: `default` when not given, a 400 over [`MAX_PAGE`] (or zero).
///
/// # Errors
///
/// [`ApiError::BadRequest`] saying the bounds.
pub fn page_size(limit: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match limit.unwrap_or(default) {
        n @ 1..=MAX_PAGE => Ok(n),
        n => Err(ApiError::BadRequest(format!("limit: {n} is not between 1 and {MAX_PAGE}"))),
    }
}

/// A page's offset: within what the store can skip (a signed 64-bit count).
///
/// # Errors
///
/// [`ApiError::BadRequest`] saying the bound.
pub fn page_offset(offset: Option<usize>) -> Result<usize, ApiError> {
    let max = usize::try_from(i64::MAX).unwrap_or(usize::MAX);
    match offset.unwrap_or(0) {
        n if n <= max => Ok(n),
        n => Err(ApiError::BadRequest(format!("offset: {n} is larger than {max}"))),
    }
}

/// Reads a time parameter: an ISO 8601 date or date math (`now-24h`), resolved at `now`.
///
/// # Errors
///
/// [`ApiError::BadRequest`] naming the parameter.
pub fn time_param(name: &str, text: &str, now: Timestamp) -> Result<Timestamp, ApiError> {
    DateMath::parse(text)
        .ok()
        .and_then(|d| d.resolve(now, false))
        .ok_or_else(|| ApiError::BadRequest(format!("{name}: `{text}` is not a date or date math like now-24h")))
}

/// Compiles the `q` parameter (empty: everything), with date math at `now`; with the parsed
/// query too (for its required literals).
///
/// # Errors
///
/// [`ApiError::BadRequest`] with the query and a caret under the mistake.
pub(crate) fn compile_parsed(q: Option<&str>, now: Timestamp) -> Result<(Matcher<'static>, kql::Query), ApiError> {
    let q = q.unwrap_or("");
    kql::parse(q)
        .and_then(|parsed| Ok((parsed.compile_at(ecs::Catalog::builtin(), now)?, parsed)))
        .map_err(|e| ApiError::BadRequest(e.snippet(q, "q")))
}

/// How long a search may go on: until its client goes away (axum drops a handler's future when
/// its client disconnects, and with it the [`Cancel`] guard) or `search_budget` is spent.
pub(crate) struct Budget {
    cancelled: Arc<AtomicBool>,
    deadline: Instant,
    read: u64,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Dropped with the handler: tells its [`Budget`] that the client has gone.
#[derive(Debug, Default)]
pub(crate) struct Cancel(Arc<AtomicBool>);

impl Drop for Cancel {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl Budget {
    /// A budget for a search of the handler holding `cancel`.
    pub(crate) fn new(cancel: &Cancel, state: &crate::state::AppState) -> Budget {
        Budget {
            cancelled: cancel.0.clone(),
            deadline: Instant::now() + state.config.search_budget.as_duration(),
            read: 0,
            metrics: state.metrics.clone(),
        }
    }

    /// Counts one item read; whether the search must stop now. The clock is looked at every 64
    /// items: cheap, and often enough.
    pub(crate) fn spent(&mut self) -> bool {
        self.read += 1;
        if !self.read.is_multiple_of(64) {
            return false;
        }
        if self.cancelled.load(Ordering::Relaxed) {
            self.metrics.search_cancelled();
            return true;
        }
        Instant::now() > self.deadline
    }

    /// How many items were read.
    pub(crate) fn read(&self) -> u64 {
        self.read
    }
}
