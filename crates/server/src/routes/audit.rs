//! `/api/v1/audit`: who changed rules, keys and alert status, newest first (admin only).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::routes::page_size;
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(trail))
}

/// One change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditChange {
    /// When.
    pub at: String,
    /// Who: the key's name and id, or `vigil keys` for changes made on the server's host.
    pub actor: String,
    /// What: `rule.enable`, `rule.disable`, `rule.run`, `alert.status`, `key.create`, `key.revoke`.
    pub action: String,
    /// On what.
    pub target: String,
    /// The rest (the new status and note, a key's role).
    pub detail: Option<String>,
}

/// The audit trail, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditTrail {
    /// The changes.
    pub changes: Vec<AuditChange>,
}

/// How much of the trail.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrailQuery {
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// The newest changes.
#[utoipa::path(get, path = "/audit", tag = "audit", params(TrailQuery),
    responses((status = 200, body = AuditTrail), (status = 503, body = ErrorBody)))]
async fn trail(
    State(state): State<AppState>,
    query: Result<Query<TrailQuery>, QueryRejection>,
) -> Result<Json<AuditTrail>, ApiError> {
    let Query(query) = query?;
    let limit = page_size(query.limit, 100)?;
    let access = state.access.clone();
    let entries = state.blocking(move || access.audit_trail(limit)).await?;
    let changes = entries
        .into_iter()
        .map(|e| AuditChange {
            at: e.at.to_string(),
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
        })
        .collect();
    Ok(Json(AuditTrail { changes }))
}
