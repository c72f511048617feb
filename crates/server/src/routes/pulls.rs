//! `/api/v1/o365`: how the Office 365 pulls of `[o365]` go, per tenant and content type.

use axum::Json;
use axum::extract::State;
use ecs::date::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(pulls))
}

/// Every configured tenant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Pulls {
    /// In the order of the configuration.
    pub tenants: Vec<TenantPulls>,
}

/// One tenant's pulls.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantPulls {
    /// The tenant (directory) id.
    pub tenant: String,
    /// Whether its last pull worked; absent before the first one ended.
    pub up: Option<bool>,
    /// The last failure since the service started, for people (no secret is ever in it).
    pub last_error: Option<String>,
    /// When that was.
    pub last_error_at: Option<String>,
    /// Each content type pulled.
    pub content_types: Vec<ContentTypePulls>,
}

/// Where one content type stands.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContentTypePulls {
    /// `Audit.Exchange` and so on.
    pub content_type: String,
    /// Every blob made available before this was taken (the watermark).
    pub listed_to: Option<String>,
    /// The newest `contentCreated` taken.
    pub newest: Option<String>,
    /// Now less `newest`, in seconds.
    pub lag_seconds: Option<f64>,
    /// Blobs taken over the last 8 days or so.
    pub blobs: u64,
    /// Records fetched from them.
    pub records: u64,
}

/// How each configured tenant's pulls go: up or failing with the last error, and per content
/// type the watermark, the lag and what was taken.
#[utoipa::path(get, path = "/o365", tag = "health",
    responses((status = 200, body = Pulls), (status = 503, body = ErrorBody)))]
async fn pulls(State(state): State<AppState>) -> Result<Json<Pulls>, ApiError> {
    Ok(Json(tenants(&state).await?))
}

/// Where each configured tenant's pulls stand: what the route answers, and the console shows.
///
/// # Errors
///
/// [`ApiError::Store`] when the checkpoints cannot be read.
pub(crate) async fn tenants(state: &AppState) -> Result<Pulls, ApiError> {
    let checkpoints = state.checkpoints.clone();
    let stored = state.blocking(move || checkpoints.checkpoints()).await?;
    let now = Timestamp::now();
    let tenants = state
        .config
        .o365
        .tenants
        .iter()
        .map(|tenant| {
            let pulls = state.metrics.o365_state(&tenant.tenant_id);
            let content_types = tenant
                .content_types
                .iter()
                .map(|content_type| {
                    let found = stored.iter().find(|c| c.tenant == tenant.tenant_id && &c.content_type == content_type);
                    let newest = found.and_then(|c| c.newest);
                    ContentTypePulls {
                        content_type: content_type.clone(),
                        listed_to: found.and_then(|c| c.listed_to).map(|t| t.to_string()),
                        newest: newest.map(|t| t.to_string()),
                        lag_seconds: newest.map(|t| (now.as_nanos() - t.as_nanos()).max(0) as f64 / 1e9),
                        blobs: found.map_or(0, |c| c.blobs),
                        records: found.map_or(0, |c| c.records),
                    }
                })
                .collect();
            let (last_error_at, last_error) = pulls.last_error.map(|(at, e)| (at.to_string(), e)).unzip();
            TenantPulls { tenant: tenant.tenant_id.clone(), up: pulls.up, last_error, last_error_at, content_types }
        })
        .collect();
    Ok(Pulls { tenants })
}
