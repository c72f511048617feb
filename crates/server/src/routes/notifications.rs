//! `/api/v1/notifications` and `/api/v1/connectors`: what the outbox holds (pending, sent,
//! failed with the last error), retrying a failed notification, the configured connectors, and
//! a connector's test message.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use engine::storage::{Delivery, Notification, NotificationFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::routes::page_size;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(retry)).routes(routes!(connectors)).routes(routes!(test))
}

/// Which notifications to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `pending`, `sent` or `failed`.
    pub status: Option<String>,
    /// Through this connector.
    pub connector: Option<String>,
    /// About this rule.
    pub rule: Option<String>,
    /// Only those numbered below this (the next page: the last `id` seen).
    pub before: Option<u64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// A notification and its delivery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    /// Its number in the outbox.
    pub id: u64,
    /// The idempotency key it carries (an alert id or a summary's id).
    pub key: String,
    /// The connector.
    pub connector: String,
    /// The rule.
    pub rule_id: String,
    /// `action N` or `route N`.
    pub source: String,
    /// The execution that queued it.
    pub execution_id: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When it was queued (or retried by hand).
    pub created: String,
    /// When the next attempt is due (pending ones).
    pub next_attempt: Option<String>,
    /// When the receiver accepted it.
    pub sent: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The message as rendered (secrets are added when it is sent, never stored).
    pub message: Value,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> NotificationView {
        NotificationView {
            id: n.id,
            key: n.queued.key,
            connector: n.queued.connector,
            rule_id: n.queued.rule_id,
            source: n.queued.source,
            execution_id: n.queued.execution_id,
            status: n.delivery.as_str().to_owned(),
            attempts: n.attempts,
            created: n.queued.created.to_string(),
            next_attempt: (n.delivery == Delivery::Pending).then(|| n.next_attempt.to_string()),
            sent: n.sent.map(|t| t.to_string()),
            last_error: n.last_error,
            message: n.queued.message,
        }
    }
}

/// A page of notifications, newest first, with the counts by connector and status.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationPage {
    /// The notifications.
    pub notifications: Vec<NotificationView>,
    /// How many are pending, sent and failed, by connector.
    pub counts: Vec<Count>,
    /// When the oldest pending one was queued.
    pub oldest_pending: Option<String>,
}

/// How many notifications of a connector are in a state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Count {
    /// The connector.
    pub connector: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// How many.
    pub count: u64,
}

/// Lists notifications, newest first.
#[utoipa::path(get, path = "/notifications", tag = "notifications", params(ListQuery),
    responses((status = 200, body = NotificationPage), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<NotificationPage>, ApiError> {
    let Query(query) = query?;
    let delivery = match query.status.as_deref() {
        None => None,
        Some(text) => Some(
            Delivery::parse(text)
                .ok_or_else(|| ApiError::BadRequest(format!("status: `{text}` is not one of pending, sent, failed")))?,
        ),
    };
    let filter = NotificationFilter {
        delivery,
        connector: query.connector,
        rule_id: query.rule,
        before: query.before,
        limit: page_size(query.limit, 100)?,
    };
    let store = state.store.clone();
    let (notifications, counts) =
        state.blocking(move || Ok((store.notifications(&filter)?, store.notification_counts()?))).await?;
    Ok(Json(NotificationPage {
        notifications: notifications.into_iter().map(NotificationView::from).collect(),
        counts: counts
            .by_connector
            .into_iter()
            .map(|(connector, status, count)| Count { connector, status: status.as_str().to_owned(), count })
            .collect(),
        oldest_pending: counts.oldest_pending.map(|t| t.to_string()),
    }))
}

/// Sends a failed notification again (its retry period starts afresh).
#[utoipa::path(post, path = "/notifications/{id}/_retry", tag = "notifications", params(("id" = u64, Path)),
    responses((status = 200, body = NotificationView), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn retry(State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<NotificationView>, ApiError> {
    let store = state.store.clone();
    let found = state
        .blocking(move || {
            let retried = store.retry(id, ecs::date::Timestamp::now())?;
            let filter = NotificationFilter { before: Some(id.saturating_add(1)), limit: 1, ..Default::default() };
            Ok((retried, store.notifications(&filter)?.into_iter().find(|n| n.id == id)))
        })
        .await?;
    match found {
        (true, Some(n)) => {
            if let Some(sender) = state.sender.get() {
                sender.wake();
            }
            Ok(Json(n.into()))
        }
        (false, Some(n)) => {
            Err(ApiError::BadRequest(format!("notification {id} is {}, not failed", n.delivery.as_str())))
        }
        (_, None) => Err(ApiError::NotFound(format!("no notification {id}"))),
    }
}

/// A configured connector.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConnectorView {
    /// Its name, which actions (`id`) and routes name.
    pub name: String,
    /// `webhook`, `slack`, `teams`, `email`, `pagerduty`, `syslog` or `file`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The configured connectors (their secrets are never shown).
#[utoipa::path(get, path = "/connectors", tag = "notifications", responses((status = 200, body = Vec<ConnectorView>)))]
async fn connectors(State(state): State<AppState>) -> Json<Vec<ConnectorView>> {
    Json(
        state
            .config
            .notifications
            .connectors
            .iter()
            .map(|c| ConnectorView { name: c.name.clone(), kind: c.type_name().to_owned() })
            .collect(),
    )
}

/// What a connector test did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestResult {
    /// The connector.
    pub connector: String,
    /// The idempotency key the test message carried.
    pub key: String,
    /// Whether the receiver accepted it.
    pub delivered: bool,
    /// Why not.
    pub error: Option<String>,
}

/// Sends a test message through a connector now (not through the outbox) and says whether the
/// receiver accepted it.
#[utoipa::path(post, path = "/connectors/{name}/_test", tag = "notifications", params(("name" = String, Path)),
    responses((status = 200, body = TestResult), (status = 404, body = ErrorBody)))]
async fn test(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<TestResult>, ApiError> {
    let setup = state.config.notifications.clone();
    let connector =
        setup.connector(&name).cloned().ok_or_else(|| ApiError::NotFound(format!("no connector `{name}`")))?;
    let notifier = notify::Notifier::new(setup.clone());
    let timeout = setup.settings.timeout.as_duration();
    let result = tokio::task::spawn_blocking(move || {
        let (key, message) = notifier.test_message(&connector);
        let sent = notify::send(&connector, &key, &message, timeout);
        (key, sent)
    })
    .await?;
    Ok(Json(TestResult {
        connector: name,
        key: result.0,
        delivered: result.1.is_ok(),
        error: result.1.err().map(|e| e.message),
    }))
}
