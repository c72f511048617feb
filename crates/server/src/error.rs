//! One error type for every route, answered in Elasticsearch's shape:
//! `{"error": {"type", "reason"}, "status"}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use engine::storage::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// What can go wrong answering a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: a bad query, a bad parameter, a bad body.
    #[error("{0}")]
    BadRequest(String),
    /// No valid API key came with the request.
    #[error("{0}")]
    Unauthorized(String),
    /// The key's role does not cover the route.
    #[error("{0}")]
    Forbidden(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request names more than one thing (an abbreviated id that several ids begin with).
    #[error("{0}")]
    Conflict(String),
    /// The request is over a configured limit (`max_body`, `max_items`).
    #[error("{0}")]
    TooLarge(String),
    /// The request would read more than its budget (`search_budget`): narrow it.
    #[error("{0}")]
    BudgetExceeded(String),
    /// The request took longer than `request_timeout`.
    #[error("{0}")]
    Timeout(String),
    /// The service is busy (its ingest queue is full): try again later.
    #[error("{0}")]
    Busy(String),
    /// The store failed: the service is up, but cannot read or write now. The answer says
    /// which; why (SQLite's reason) goes to the log only.
    #[error("{}", store_answer(.0))]
    Store(#[from] StoreError),
    /// A bug: logged, and answered without details.
    #[error("internal error")]
    Internal(String),
}

/// What a client is told of a store failure: whether reading or writing failed, no internals.
fn store_answer(err: &StoreError) -> &'static str {
    match err {
        StoreError::Write { .. } => {
            "the store cannot write now (the service's log says why); nothing of this request was stored"
        }
        StoreError::Unavailable { .. } => {
            "the cluster cannot take writes now (the service's log says why); nothing of this request was stored, \
             send it again"
        }
        _ => "the store cannot be read now (the service's log says why)",
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
    /// The HTTP status, repeated.
    pub status: u16,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable kind: `bad_request`, `unauthorized`, `forbidden`, `not_found`, `too_large`,
    /// `busy`, `budget_exceeded`, `timeout`, `store_unavailable`, `internal`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For people.
    pub reason: String,
}

impl ApiError {
    /// Its HTTP status and stable kind.
    pub(crate) fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "ambiguous"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, "busy"),
            // 503, not 408: shippers send a batch again after a 5xx, and may drop it after a 4xx.
            ApiError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::BudgetExceeded(_) => (StatusCode::UNPROCESSABLE_ENTITY, "budget_exceeded"),
            ApiError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl ApiError {
    /// Logs what the service's operator must see (the answer says less).
    pub(crate) fn log(&self) {
        match self {
            ApiError::Internal(detail) => tracing::error!(%detail, "internal error"),
            ApiError::Store(err) => tracing::warn!(%err, "store unavailable"),
            _ => {}
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status();
        self.log();
        let body =
            ErrorBody { error: ErrorDetail { kind: kind.into(), reason: self.to_string() }, status: status.as_u16() };
        (status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> ApiError {
        ApiError::Internal(err.to_string())
    }
}
