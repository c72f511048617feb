//! The Elasticsearch-compatible surface log shippers talk to: `/_bulk`, `/{index}/_bulk`, and the
//! cluster information (`GET /`, `GET /_license`) they check before sending.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ecs::date::Timestamp;
use engine::storage::Appended;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::ingest::{self, Action};
use crate::state::AppState;

/// The Elasticsearch version vigil answers as. Clients (Beats, Logstash, Vector, the official
/// clients) check the major version and the product header before they send anything.
const ES_VERSION: &str = "8.17.0";

/// The routes of this resource (at the root, not under `/api/v1`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(license))
        .routes(routes!(cluster_health))
        .routes(routes!(bulk))
        .routes(routes!(bulk_into))
        .routes(routes!(refresh))
        .routes(routes!(nodes_http))
        .routes(routes!(index_template))
        .routes(routes!(put_index_template))
}

/// Refreshing an index: vigil's events are searchable once stored, so there is nothing to do
/// (Logstash and some clients refresh on shutdown).
#[utoipa::path(method(post, get), path = "/{index}/_refresh", tag = "elasticsearch", params(("index" = String, Path)),
    responses((status = 200, body = Object)))]
async fn refresh(Path(_index): Path<String>) -> Response {
    Json(json!({"_shards": {"total": 1, "successful": 1, "failed": 0}})).into_response()
}

/// The nodes' HTTP addresses, as clients that sniff ask for: one node, at the address the client
/// used.
#[utoipa::path(get, path = "/_nodes/http", tag = "elasticsearch", responses((status = 200, body = Object)))]
async fn nodes_http(headers: HeaderMap) -> Response {
    let address = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:9270");
    Json(json!({
        "_nodes": {"total": 1, "successful": 1, "failed": 0},
        "cluster_name": "vigil",
        "nodes": {"vigil": {
            "name": "vigil", "version": ES_VERSION, "roles": ["data", "ingest", "master"],
            "http": {"publish_address": address, "bound_address": [address]}
        }}
    }))
    .into_response()
}

/// An index template: vigil keeps none (its field catalog types the fields), so it has none to
/// show: 404 as Elasticsearch answers for a missing one, and the shipper sends its own.
#[utoipa::path(get, path = "/_index_template/{name}", tag = "elasticsearch", params(("name" = String, Path)),
    responses((status = 404, body = Object)))]
async fn index_template(Path(name): Path<String>) -> Response {
    let reason = format!("index template matching [{name}] not found");
    let error = json!({"root_cause": [{"type": "resource_not_found_exception", "reason": reason}],
                       "type": "resource_not_found_exception", "reason": reason});
    (StatusCode::NOT_FOUND, Json(json!({"error": error, "status": 404}))).into_response()
}

/// Installing an index template: acknowledged and not kept (vigil's field catalog types the
/// fields), so that shippers that install theirs on start go on.
#[utoipa::path(method(put, post), path = "/_index_template/{name}", tag = "elasticsearch", params(("name" = String, Path)),
    responses((status = 200, body = Object)))]
async fn put_index_template(Path(_name): Path<String>) -> Response {
    Json(json!({"acknowledged": true})).into_response()
}

/// Cluster information, as Elasticsearch answers `GET /`.
#[utoipa::path(get, path = "/", tag = "elasticsearch", responses((status = 200, body = Object)))]
async fn info() -> Response {
    Json(json!({
        "name": "vigil",
        "cluster_name": "vigil",
        "cluster_uuid": "vigil",
        "version": {
            "number": ES_VERSION,
            "build_flavor": "default",
            "build_type": "vigil",
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    }))
    .into_response()
}

/// A basic license, as Logstash and Beats ask for.
#[utoipa::path(get, path = "/_license", tag = "elasticsearch", responses((status = 200, body = Object)))]
async fn license() -> Response {
    Json(json!({"license": {"status": "active", "type": "basic", "uid": "vigil"}})).into_response()
}

/// Cluster health, as Vector's health check asks for: always green, since vigil is one node
/// whose store answers or does not (`/api/v1/health` says which).
#[utoipa::path(get, path = "/_cluster/health", tag = "elasticsearch", responses((status = 200, body = Object)))]
async fn cluster_health() -> Response {
    Json(json!({
        "cluster_name": "vigil", "status": "green", "timed_out": false,
        "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": 1, "active_shards": 1,
        "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0
    }))
    .into_response()
}

/// Elasticsearch's bulk API, for `index` and `create` actions (the index from the action or the
/// URL); each item is answered as Elasticsearch does, and acknowledged once durable. POST or PUT,
/// as Elasticsearch registers it (elasticsearch-py 8 and 9 send PUT).
#[utoipa::path(method(post, put), path = "/_bulk", tag = "elasticsearch",
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn bulk(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    ingest_bulk(state, None, headers, body).await
}

/// The bulk API with a default index; POST or PUT.
#[utoipa::path(method(post, put), path = "/{index}/_bulk", tag = "elasticsearch", params(("index" = String, Path)),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn bulk_into(
    State(state): State<AppState>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    ingest_bulk(state, Some(index), headers, body).await
}

async fn ingest_bulk(state: AppState, index: Option<String>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    state.metrics.request();
    let gzip = headers.get("content-encoding").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let (limit, limits) = (state.config.max_body, state.limits());
    let now = Timestamp::now();
    let parsed = tokio::task::spawn_blocking(move || {
        let body = ingest::body(&body, gzip, limit)?;
        Ok::<_, ApiError>(ingest::bulk(&body, index.as_deref(), limits, now)?)
    })
    .await;
    let items = match parsed {
        Ok(Ok(items)) => items,
        Ok(Err(err)) => return err.into_response(),
        Err(err) => return ApiError::from(err).into_response(),
    };
    let outcomes = match state.store_items(&items).await {
        Ok(outcomes) => outcomes,
        Err(err) => return err.into_response(),
    };
    let mut errors = false;
    let answers: Vec<Value> = items
        .iter()
        .zip(outcomes)
        .map(|(item, outcome)| {
            let index = item.index.clone().unwrap_or_default();
            let id = item.event.as_ref().map(|e| e.event_id.clone()).ok().or_else(|| item.id.clone());
            let answer = match (outcome, &item.event) {
                (Some(Appended::Stored(seq)), _) => json!({
                    "_index": index, "_id": id, "_version": 1, "result": "created",
                    "_shards": {"total": 1, "successful": 1, "failed": 0},
                    "_seq_no": seq, "_primary_term": 1, "status": 201
                }),
                // `create` of an id already stored is a conflict in Elasticsearch; shippers
                // take 409 as "already there" and move on.
                (Some(Appended::Duplicate(seq)), _) if item.action == Action::Create => {
                    errors = true;
                    json!({
                        "_index": index, "_id": id, "status": 409,
                        "error": {
                            "type": "version_conflict_engine_exception",
                            "reason": format!("[{}]: version conflict, document already exists (current version [1])",
                                id.as_deref().unwrap_or("")),
                            "index": index, "_seq_no": seq
                        }
                    })
                }
                // `index` of a stored id: vigil keeps the first delivery, so nothing changes.
                (Some(Appended::Duplicate(seq)), _) => json!({
                    "_index": index, "_id": id, "_version": 1, "result": "noop",
                    "_shards": {"total": 1, "successful": 1, "failed": 0},
                    "_seq_no": seq, "_primary_term": 1, "status": 200
                }),
                (None, Err(error)) => {
                    errors = true;
                    let reason = item.reason().unwrap_or_default();
                    // Elasticsearch gives an id-less document its id before it reads it, so a
                    // refused one has an id the client can report.
                    let id = id.unwrap_or_else(ingest::auto_id);
                    json!({"_index": index, "_id": id, "status": 400, "error": {"type": error.es_type(), "reason": reason}})
                }
                (None, Ok(_)) => json!({"_index": index, "_id": id, "status": 500}),
            };
            json!({ item.action.name(): answer })
        })
        .collect();
    let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    (StatusCode::OK, Json(json!({"took": took, "errors": errors, "items": answers}))).into_response()
}
