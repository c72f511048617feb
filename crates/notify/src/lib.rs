//! Notifications: tell people when a rule fires, and never lose one.
//!
//! - [`config`]: the serve configuration's `[[connectors]]` (webhook, Slack, Teams, email,
//!   PagerDuty, syslog, file; secrets only from variables or files), `[[routes]]` for rules
//!   without actions, and `[notifications]`.
//! - [`Notifier`]: the engine's [`engine::schedule::Notify`]: which notifications an execution
//!   queues (its rule's actions with their frequency, or the routes), rendered with Kibana's
//!   template variables into each connector's message. The engine writes them in the same
//!   transaction as the alerts (the outbox).
//! - [`Sender`]: one sender per connector delivers from the outbox, with retries, backoff and
//!   jitter, at least once, each message carrying its idempotency key.
//! - [`send()`]: one message through one connector (also the connector test).
//!
//! Data flows one way: execution → outbox → sender → receiver.

pub mod config;
mod deliver;
mod plan;
mod send;

pub use crate::config::{Connector, Setup};
pub use crate::deliver::{Outcomes, Sender};
pub use crate::plan::Notifier;
pub use crate::send::{SIGNATURE_HEADER, SendError, send};
