//! vigil's service: events in over HTTP (Elasticsearch's bulk API, NDJSON) and from watched
//! files, every rule run on its schedule over the store, alerts triaged through a JSON API.
//!
//! [`router`] builds the HTTP routes over an [`AppState`] (the store, the loaded rules, the
//! metrics); [`serve`] runs them on a listener together with the background work (scheduled
//! executions, rule reloads on file change and SIGHUP, retention, watched folders, the Office
//! 365 tenants of `[o365]` pulled from the Management Activity API) until a shutdown signal.
//! [`openapi`] is the API's description, generated from the handlers.
//! Detection logic is the engine's; storage is the store's; this crate only connects them.
//!
//! ```
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! use tower::ServiceExt;
//! let dir = tempfile::tempdir()?;
//! let store = std::sync::Arc::new(store::Sqlite::open(dir.path())?);
//! let app = server::router(server::AppState::new(store, server::Config::default()));
//! let request = axum::http::Request::get("/api/v1/health").body(axum::body::Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod auth;
mod config;
mod error;
pub mod ingest;
mod listen;
mod metrics;
mod pull;
mod routes;
mod scheduler;
mod state;
mod tls;
mod ui;
mod watch;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

pub use crate::auth::{Principal, generate as generate_key};
pub use crate::config::{Config, ConfigError, O365, O365Tenant};
pub use crate::error::ApiError;
pub use crate::state::{AppState, RulePack};
pub use crate::ui::markdown::render as markdown_html;

/// How long a shutdown waits for the execution under way before abandoning it (its transaction
/// is then never committed, and the next start runs it again).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "vigil", description = "Elastic Security detection rules, run anywhere: ingest, rules, executions, alerts."),
    tags(
        (name = "alerts", description = "Alerts and their triage"),
        (name = "rules", description = "Rules, their state and executions"),
        (name = "events", description = "Send and search events"),
        (name = "health", description = "Health, metrics and Office 365 pulls"),
        (name = "audit", description = "Who changed what"),
        (name = "exceptions", description = "Exception lists and value lists, applied to the rules' candidates"),
        (name = "notifications", description = "Connectors and the notifications outbox"),
        (name = "elasticsearch", description = "The Elasticsearch-compatible surface for log shippers"),
    )
)]
struct ApiDoc;

fn routes() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new()
        .merge(routes::alerts::router())
        .merge(routes::rules::router())
        .merge(routes::events::router())
        .merge(routes::exceptions::router())
        .merge(routes::notifications::router())
        .merge(routes::audit::router())
        .merge(routes::pulls::router())
        .merge(routes::health::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api)
        .merge(routes::bulk::router())
        .merge(routes::health::metrics_router())
}

/// The API's OpenAPI document, generated from the routes themselves, with the authentication
/// every route but the health check needs.
pub fn openapi() -> serde_json::Value {
    let mut api = serde_json::to_value(routes().split_for_parts().1).unwrap_or_default();
    let error = serde_json::json!({"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}});
    api["components"]["securitySchemes"] = serde_json::json!({
        "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization",
                   "description": "`ApiKey <key>` or `ApiKey base64(id:secret)`, as Elasticsearch clients send it"},
        "bearer": {"type": "http", "scheme": "bearer"},
        "basic": {"type": "http", "scheme": "basic", "description": "any user name, the key as the password"}
    });
    if let Some(paths) = api["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut().filter(|(path, _)| path.as_str() != "/api/v1/health") {
            for operation in item.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
                operation["security"] = serde_json::json!([{"apiKey": []}, {"bearer": []}, {"basic": []}]);
                let mut unauthorized = error.clone();
                unauthorized["description"] = "no valid API key".into();
                let mut forbidden = error.clone();
                forbidden["description"] = format!("the key's role does not cover {path}").into();
                operation["responses"]["401"] = unauthorized;
                operation["responses"]["403"] = forbidden;
            }
        }
    }
    api
}

/// Every route over `state`, with the body limit of its configuration.
pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    let limit = state.config.max_body;
    router
        .merge(ui::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(state.clone(), deadline))
        // Admission after authentication: an unauthenticated request never holds a permit.
        .layer(axum::middleware::from_fn_with_state(state.clone(), ingest::admit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::check))
        // A browser at `/` goes to the console before `/` asks it for a key; the console's
        // answers get its security headers.
        .layer(axum::middleware::from_fn(ui::front_door))
        .layer(axum::middleware::from_fn(ui::guard))
        .layer(DefaultBodyLimit::max(limit))
        // axum answers an oversized body in plain text; give it the shape of every other error.
        .layer(axum::middleware::map_response(move |response: axum::response::Response| async move {
            let plain = response
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .is_none_or(|t| t.as_bytes().starts_with(b"text/"));
            if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE && plain {
                return ApiError::TooLarge(format!("the request body is larger than max_body ({limit} bytes)"))
                    .into_response();
            }
            response
        }))
        // Elasticsearch clients refuse a server without this header, on errors too (outermost,
        // so that every answer has it).
        .layer(axum::middleware::map_response(|mut response: axum::response::Response| async move {
            response.headers_mut().insert(
                axum::http::HeaderName::from_static("x-elastic-product"),
                axum::http::HeaderValue::from_static("Elasticsearch"),
            );
            response
        }))
        .with_state(state)
}

/// Answers 503 `timeout` when a request (its body included) takes longer than `request_timeout`;
/// work it started off the async threads finishes on its own (an ingest's events are stored or
/// not as a whole, and a repeat stores nothing twice).
async fn deadline(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let limit = state.config.request_timeout;
    match tokio::time::timeout(limit.as_duration(), next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(format!("the request took longer than request_timeout ({limit})")).into_response(),
    }
}

/// Serves `state` on `listener` with the background work, until `shutdown` completes; then
/// stops taking requests, lets running ones finish, and waits for the execution under way (up
/// to 30 seconds). HTTP/1.1 and HTTP/2; over TLS when the configuration names a certificate.
///
/// # Errors
///
/// When the certificate or key cannot be used, or the listener fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = match &state.config.tls {
        Some((cert, key)) => Some(tls::load(cert, key).map_err(std::io::Error::other)?),
        None => None,
    };
    let pullers = pull::clients(&state.config.o365, |var| std::env::var(var).ok()).map_err(std::io::Error::other)?;
    let stop_pulls = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pulls = pull::start(&state, pullers, &stop_pulls)?;
    // Before the first execution: what an earlier run queued and did not send goes out first.
    let _ = state.sender.set(notify::Sender::start(state.store.clone(), state.config.notifications.clone()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(scheduler::run(state.clone(), stopped.clone()));
    let watcher = (!state.config.watch.is_empty())
        .then(|| tokio::spawn(watch::run(state.clone(), state.config.watch.clone(), stopped.clone())));
    let reloads = tokio::spawn(reload_on_hangup(state.clone()));
    let limits = listen::Limits {
        max_connections: state.config.max_connections,
        header_timeout: state.config.header_timeout.as_duration(),
        grace: SHUTDOWN_GRACE,
    };
    let metrics = state.metrics.clone();
    let senders = state.sender.clone();
    let result = listen::serve(listener, router(state), tls, limits, metrics, shutdown).await;
    let _ = stop.send(true);
    // A sender stops after the attempt under way; what is not sent stays queued for next time.
    if let Some(sender) = senders.get() {
        sender.stop();
    }
    reloads.abort();
    if tokio::time::timeout(SHUTDOWN_GRACE, scheduler).await.is_err() {
        tracing::warn!("shutdown: the execution under way was abandoned; it runs again at the next start");
    }
    if let Some(watcher) = watcher {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, watcher).await;
    }
    // A puller stops between two blobs; one waiting out a throttled call is left behind after
    // the grace period (what it fetched and did not store is fetched again next time).
    stop_pulls.store(true, std::sync::atomic::Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while pulls.iter().any(|p| !p.is_finished()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    result
}

/// Reloads the rules on SIGHUP, as daemons do.
async fn reload_on_hangup(state: AppState) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else { return };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading rules");
        state.reload_rules();
    }
}
