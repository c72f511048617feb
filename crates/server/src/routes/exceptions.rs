//! `/api/v1/exceptions` and `/api/v1/value_lists`: the exception lists and value lists the
//! service applies to its rules — import and export in Kibana's NDJSON or vigil's TOML, show,
//! add an item (analysts, as Kibana's "Add rule exception"), remove (admin); and an exception
//! made from an alert (`/api/v1/alerts/{id}/exception`). Every change is in the audit trail.

use std::path::Path as FsPath;

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ecs::date::Timestamp;
use engine::AlertId;
use engine::exceptions::RuleExceptions;
use engine::storage::{AlertFilter, StatusChange, WorkflowStatus};
use rules::exceptions::{
    self as lists, Entry, EntryKind, ExceptionItem, ExceptionList, Exceptions, Form, NamespaceType, Operator,
    ValueList, ValueListType,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::state::{AppState, audit_entry};

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(import))
        .routes(routes!(export))
        .routes(routes!(show, delete_list))
        .routes(routes!(add_item))
        .routes(routes!(delete_item))
        .routes(routes!(put_value_list, show_value_list, delete_value_list))
        .routes(routes!(from_alert))
        .routes(routes!(test))
}

/// A list, as the summary shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListSummary {
    /// Its id, which rules refer to.
    pub list_id: String,
    /// `single` or `agnostic`.
    pub namespace_type: String,
    /// `detection`, `rule_default`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name.
    pub name: String,
    /// How many items it holds.
    pub items: usize,
    /// Rules it names besides those whose `exceptions_list` names it.
    pub rules: Vec<String>,
}

/// A value list, as the summary shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ValueListSummary {
    /// Its id.
    pub id: String,
    /// `keyword`, `ip`, `ip_range` or `text`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name.
    pub name: String,
    /// How many values it holds.
    pub values: usize,
}

/// Every list the service keeps.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Summary {
    /// Exception lists.
    pub lists: Vec<ListSummary>,
    /// Value lists.
    pub value_lists: Vec<ValueListSummary>,
}

pub(crate) async fn stored(state: &AppState) -> Result<Exceptions, ApiError> {
    let tuning = state.tuning.clone();
    state.blocking(move || tuning.exceptions()).await
}

/// Lists the exception lists and value lists.
#[utoipa::path(get, path = "/exceptions", tag = "exceptions",
    responses((status = 200, body = Summary), (status = 503, body = ErrorBody)))]
async fn summary(State(state): State<AppState>) -> Result<Json<Summary>, ApiError> {
    let exceptions = stored(&state).await?;
    Ok(Json(Summary {
        lists: exceptions
            .lists
            .iter()
            .map(|l| ListSummary {
                list_id: l.list_id.clone(),
                namespace_type: l.namespace_type.as_str().into(),
                kind: l.kind.clone(),
                name: l.name.clone(),
                items: l.items.len(),
                rules: l.rules.clone(),
            })
            .collect(),
        value_lists: exceptions
            .value_lists
            .iter()
            .map(|l| ValueListSummary {
                id: l.id.clone(),
                kind: l.kind.as_str().into(),
                name: l.name.clone(),
                values: l.values.len(),
            })
            .collect(),
    }))
}

/// Which form a body or an export is in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormQuery {
    /// `ndjson` (Kibana's export, the default) or `toml` (vigil's form).
    pub format: Option<String>,
}

fn form(query: &FormQuery, headers: &HeaderMap) -> Result<Form, ApiError> {
    let typed = headers.get(header::CONTENT_TYPE).and_then(|t| t.to_str().ok()).is_some_and(|t| t.contains("toml"));
    match query.format.as_deref() {
        Some("toml") => Ok(Form::Toml),
        Some("ndjson") => Ok(Form::Ndjson),
        None if typed => Ok(Form::Toml),
        None => Ok(Form::Ndjson),
        Some(other) => Err(ApiError::BadRequest(format!("format `{other}`: expected ndjson or toml"))),
    }
}

/// The lists a request's body holds in `form`; with any problem, a 400 that says `refused` and
/// lists every problem with its `line:column`. (A TOML value list's `file` is one: nothing is
/// read from the server's disk.)
fn parse_body(body: &[u8], form: Form, refused: &str) -> Result<Exceptions, ApiError> {
    let text = body_text(body)?;
    let (exceptions, diagnostics) = lists::parse(FsPath::new("body"), text, form);
    let errors: Vec<String> = diagnostics.iter().filter(|d| d.is_error()).map(ToString::to_string).collect();
    if !errors.is_empty() {
        return Err(ApiError::BadRequest(format!("{refused}:\n{}", errors.join("\n"))));
    }
    Ok(exceptions)
}

fn body_text(body: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))
}

/// What an import stored.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Imported {
    /// Exception lists stored (each replacing one with its `list_id` and namespace).
    pub lists: usize,
    /// Their items.
    pub items: usize,
    /// Value lists stored.
    pub value_lists: usize,
}

/// Imports Kibana's exception list export (NDJSON) or vigil's TOML form. Nothing is stored when
/// any line or key is wrong: the answer lists every problem with its `line:column`.
#[utoipa::path(post, path = "/exceptions/_import", tag = "exceptions", params(FormQuery),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = Imported), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn import(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    headers: HeaderMap,
    query: Result<Query<FormQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<Imported>, ApiError> {
    let Query(query) = query?;
    let exceptions = parse_body(&body, form(&query, &headers)?, "nothing was imported")?;
    let imported = Imported {
        lists: exceptions.lists.len(),
        items: exceptions.lists.iter().map(|l| l.items.len()).sum(),
        value_lists: exceptions.value_lists.len(),
    };
    for list in exceptions.lists {
        let detail = format!("{} items", list.items.len());
        put(&state, &caller, "exception_list.import", list, Some(detail)).await?;
    }
    for list in exceptions.value_lists {
        put_values(&state, &caller, list).await?;
    }
    Ok(Json(imported))
}

async fn put(
    state: &AppState,
    caller: &Principal,
    action: &str,
    list: ExceptionList,
    detail: Option<String>,
) -> Result<(), ApiError> {
    let entry =
        audit_entry(caller.actor(), action, format!("{} ({})", list.list_id, list.namespace_type.as_str()), detail);
    let tuning = state.tuning.clone();
    state.write(move || tuning.put_list(&list, &entry)).await
}

/// Changes list `list_id` in one store transaction, so that two changes made at once both land:
/// `change` gets the stored list (`None`: there is none) and returns the list to store, or an
/// error to store nothing. Returns the list stored.
async fn change(
    state: &AppState,
    caller: &Principal,
    action: &str,
    (list_id, namespace): (&str, NamespaceType),
    detail: String,
    mut change: impl FnMut(Option<ExceptionList>) -> Result<ExceptionList, ApiError> + Send + 'static,
) -> Result<ExceptionList, ApiError> {
    let entry = audit_entry(caller.actor(), action, format!("{list_id} ({})", namespace.as_str()), Some(detail));
    let (tuning, list_id) = (state.tuning.clone(), list_id.to_owned());
    state
        .write(move || {
            let mut outcome = Err(ApiError::Internal("the list was not read".into()));
            tuning.change_list(
                &list_id,
                namespace,
                &mut |stored| {
                    outcome = change(stored);
                    outcome.as_ref().ok().cloned()
                },
                &entry,
            )?;
            Ok(outcome)
        })
        .await?
}

fn missing(list_id: &str, namespace: NamespaceType) -> ApiError {
    ApiError::NotFound(format!("no exception list `{list_id}` ({})", namespace.as_str()))
}

async fn put_values(state: &AppState, caller: &Principal, list: ValueList) -> Result<(), ApiError> {
    let detail = format!("{}, {} values", list.kind.as_str(), list.values.len());
    let entry = audit_entry(caller.actor(), "value_list.put", list.id.clone(), Some(detail));
    let tuning = state.tuning.clone();
    state.write(move || tuning.put_value_list(&list, &entry)).await
}

/// Exports every list: Kibana's NDJSON (lists and items, then the summary line; value lists
/// are not part of it) or vigil's TOML (lists, the rules they name, and value lists).
#[utoipa::path(get, path = "/exceptions/_export", tag = "exceptions", params(FormQuery),
    responses((status = 200, body = String, content_type = "application/x-ndjson"), (status = 503, body = ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<FormQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let exceptions = stored(&state).await?;
    Ok(match form(&query, &headers)? {
        Form::Ndjson => {
            ([(header::CONTENT_TYPE, "application/x-ndjson")], lists::to_ndjson(&exceptions.lists)).into_response()
        }
        Form::Toml => ([(header::CONTENT_TYPE, "application/toml")], lists::to_toml(&exceptions)).into_response(),
    })
}

/// How far back a test looks.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TestQuery {
    /// `ndjson` (the default) or `toml`.
    pub format: Option<String>,
    /// Alerts created in the last this many days (default 7).
    pub days: Option<u32>,
}

/// One alert a tested list would have removed.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WouldRemove {
    /// The alert.
    pub id: String,
    /// Its rule.
    pub rule_id: String,
    /// Its status now.
    pub status: String,
    /// When it was created.
    pub created: String,
    /// The list whose item matched.
    pub list_id: String,
}

/// What a tested list would have done.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Tested {
    /// Alerts of the period tested.
    pub alerts: u64,
    /// Those the lists would have removed (at most 1,000 listed).
    pub removed: Vec<WouldRemove>,
    /// How many, in all.
    pub removed_count: u64,
}

/// Tests lists before they are saved: which alerts of the last `days` days their items would
/// have removed. The lists apply to the rules they name (or that name them); a list that names
/// none is tested against every rule's alerts. Nothing is stored.
#[utoipa::path(post, path = "/exceptions/_test", tag = "exceptions", params(TestQuery),
    request_body(content = String, content_type = "application/x-ndjson"),
    responses((status = 200, body = Tested), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn test(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<TestQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<Tested>, ApiError> {
    let Query(query) = query?;
    let form = form(&FormQuery { format: query.format.clone() }, &headers)?;
    let mut tested = parse_body(&body, form, "nothing was tested")?;
    for list in stored(&state).await?.value_lists {
        if tested.value_list(&list.id).is_none() {
            tested.value_lists.push(list);
        }
    }
    let days = i64::from(query.days.unwrap_or(7));
    let since = Timestamp::from_nanos(Timestamp::now().as_nanos() - days * 86_400 * 1_000_000_000);
    let pack = state.rules();
    let store = state.store.clone();
    let filter = AlertFilter { since: Some(since), ..AlertFilter::default() };
    let cancel = crate::routes::Cancel::default();
    let mut budget = crate::routes::Budget::new(&cancel, &state);
    let result = state
        .blocking(move || {
            let catalog = ecs::Catalog::builtin();
            let now = Timestamp::now();
            let mut compiled: std::collections::HashMap<String, RuleExceptions<'_>> = std::collections::HashMap::new();
            let (mut alerts, mut removed, mut count, mut stopped) = (0u64, Vec::new(), 0u64, false);
            store.alerts(&filter, &mut |alert| {
                if budget.spent() {
                    stopped = true;
                    return false;
                }
                alerts += 1;
                let Some(rule) = pack.get(&alert.rule_id) else { return true };
                let exceptions = compiled.entry(alert.rule_id.clone()).or_insert_with(|| {
                    // A list that names no rule is tried on every rule.
                    let mut lists = tested.clone();
                    for list in &mut lists.lists {
                        let refs = rules::exceptions::list_refs(&rule.fields).unwrap_or_default();
                        let named = pack.rules.iter().any(|r| {
                            list.applies_to(&r.id.0, &rules::exceptions::list_refs(&r.fields).unwrap_or_default())
                        });
                        if !named && !list.applies_to(&rule.id.0, &refs) {
                            list.rules.push(rule.id.0.clone());
                        }
                    }
                    RuleExceptions::compile(rule, &lists, catalog, now)
                });
                if let Some(at) = exceptions.excluding(&alert.document) {
                    count += 1;
                    if removed.len() < crate::routes::MAX_PAGE {
                        removed.push(WouldRemove {
                            id: alert.id.to_string(),
                            rule_id: alert.rule_id.clone(),
                            status: alert.status.as_str().into(),
                            created: alert.created.to_string(),
                            list_id: exceptions.list_id(at).to_owned(),
                        });
                    }
                }
                true
            })?;
            Ok((!stopped).then_some(Tested { alerts, removed, removed_count: count }))
        })
        .await?;
    drop(cancel);
    result.map(Json).ok_or_else(|| {
        ApiError::BudgetExceeded("the test read more alerts than search_budget allows: test fewer days".into())
    })
}

/// Which namespace a list is in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Namespace {
    /// `single` (the default) or `agnostic`.
    pub namespace_type: Option<String>,
}

fn namespace(query: &Namespace) -> Result<NamespaceType, ApiError> {
    match query.namespace_type.as_deref() {
        None | Some("single") => Ok(NamespaceType::Single),
        Some("agnostic") => Ok(NamespaceType::Agnostic),
        Some(other) => Err(ApiError::BadRequest(format!("namespace_type `{other}`: expected single or agnostic"))),
    }
}

async fn find(state: &AppState, list_id: &str, namespace: NamespaceType) -> Result<ExceptionList, ApiError> {
    let exceptions = stored(state).await?;
    exceptions
        .lists
        .into_iter()
        .find(|l| l.list_id == list_id && l.namespace_type == namespace)
        .ok_or_else(|| ApiError::NotFound(format!("no exception list `{list_id}` ({})", namespace.as_str())))
}

/// One list with its items, as Kibana shapes them.
#[utoipa::path(get, path = "/exceptions/{list_id}", tag = "exceptions", params(("list_id" = String, Path), Namespace),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn show(
    State(state): State<AppState>,
    Path(list_id): Path<String>,
    query: Result<Query<Namespace>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let list = find(&state, &list_id, namespace(&query)?).await?;
    Ok(Json(lists::list_to_json(&list)))
}

/// Removes a list and its items (admin).
#[utoipa::path(delete, path = "/exceptions/{list_id}", tag = "exceptions", params(("list_id" = String, Path), Namespace),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn delete_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(list_id): Path<String>,
    query: Result<Query<Namespace>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let namespace = namespace(&query)?;
    let entry =
        audit_entry(caller.actor(), "exception_list.delete", format!("{list_id} ({})", namespace.as_str()), None);
    let (tuning, id) = (state.tuning.clone(), list_id.clone());
    if !state.write(move || tuning.delete_list(&id, namespace, &entry)).await? {
        return Err(ApiError::NotFound(format!("no exception list `{list_id}` ({})", namespace.as_str())));
    }
    Ok(Json(json!({"deleted": list_id})))
}

/// Adds an item to a list, or replaces the item with its `item_id` (analysts may: Kibana's "Add
/// rule exception"). The body is the item as Kibana shapes it.
#[utoipa::path(post, path = "/exceptions/{list_id}/items", tag = "exceptions", params(("list_id" = String, Path), Namespace),
    request_body = Object,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn add_item(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(list_id): Path<String>,
    query: Result<Query<Namespace>, QueryRejection>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let text = body_text(&body)?;
    let item = lists::item_from_json(text).map_err(ApiError::BadRequest)?;
    let namespace = namespace(&query)?;
    let json = lists::item_to_json(&item);
    let detail = format!("item {}", item.item_id);
    let id = list_id.clone();
    change(&state, &caller, "exception_item.put", (&list_id, namespace), detail, move |stored| {
        let mut list = stored.ok_or_else(|| missing(&id, namespace))?;
        list.items.retain(|i| i.item_id != item.item_id);
        list.items.push(item.clone());
        Ok(list)
    })
    .await?;
    Ok(Json(json))
}

/// Removes an item from a list (admin).
#[utoipa::path(delete, path = "/exceptions/{list_id}/items/{item_id}", tag = "exceptions",
    params(("list_id" = String, Path), ("item_id" = String, Path), Namespace),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn delete_item(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path((list_id, item_id)): Path<(String, String)>,
    query: Result<Query<Namespace>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query?;
    let namespace = namespace(&query)?;
    let (id, item) = (list_id.clone(), item_id.clone());
    let detail = format!("item {item_id}");
    change(&state, &caller, "exception_item.delete", (&list_id, namespace), detail, move |stored| {
        let mut list = stored.ok_or_else(|| missing(&id, namespace))?;
        let before = list.items.len();
        list.items.retain(|i| i.item_id != item);
        if list.items.len() == before {
            return Err(ApiError::NotFound(format!("no item `{item}` in exception list `{id}`")));
        }
        Ok(list)
    })
    .await?;
    Ok(Json(json!({"deleted": item_id})))
}

/// A value list's type.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ValueListQuery {
    /// `keyword`, `ip`, `ip_range` or `text`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A name for people (default: the id).
    pub name: Option<String>,
}

/// Uploads a value list (admin): one value per line, replacing the list with that id. A value its
/// type cannot hold is refused with its line number, and nothing is stored.
#[utoipa::path(put, path = "/value_lists/{id}", tag = "exceptions", params(("id" = String, Path), ValueListQuery),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, body = ValueListSummary), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn put_value_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(id): Path<String>,
    query: Result<Query<ValueListQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Json<ValueListSummary>, ApiError> {
    let Query(query) = query?;
    let kind_name = query.kind.as_deref().unwrap_or("keyword");
    let kind = ValueListType::parse(kind_name)
        .ok_or_else(|| ApiError::BadRequest(format!("type `{kind_name}`: expected keyword, ip, ip_range or text")))?;
    let text = body_text(&body)?;
    let mut list = ValueList::from_lines(&id, kind, text).map_err(ApiError::BadRequest)?;
    list.name = query.name.unwrap_or_else(|| id.clone());
    let summary = ValueListSummary {
        id: id.clone(),
        kind: kind.as_str().into(),
        name: list.name.clone(),
        values: list.values.len(),
    };
    put_values(&state, &caller, list).await?;
    Ok(Json(summary))
}

/// A value list with its values.
#[utoipa::path(get, path = "/value_lists/{id}", tag = "exceptions", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn show_value_list(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let exceptions = stored(&state).await?;
    let list = exceptions.value_list(&id).ok_or_else(|| ApiError::NotFound(format!("no value list `{id}`")))?;
    Ok(Json(json!({"id": list.id, "type": list.kind.as_str(), "name": list.name, "values": list.values})))
}

/// Removes a value list (admin).
#[utoipa::path(delete, path = "/value_lists/{id}", tag = "exceptions", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn delete_value_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = audit_entry(caller.actor(), "value_list.delete", id.clone(), None);
    let (tuning, key) = (state.tuning.clone(), id.clone());
    if !state.write(move || tuning.delete_value_list(&key, &entry)).await? {
        return Err(ApiError::NotFound(format!("no value list `{id}`")));
    }
    Ok(Json(json!({"deleted": id})))
}

/// An exception made from an alert.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FromAlert {
    /// The event's fields the exception holds to (their values are the alert's), e.g.
    /// `["user.name", "organization.id"]`.
    pub fields: Vec<String>,
    /// The item's name (default: made from the fields and values).
    pub name: Option<String>,
    /// Why, kept as the item's comment.
    pub comment: Option<String>,
    /// The list to add it to (default: the rule's own, `rule-<rule_id>`, made when missing).
    pub list_id: Option<String>,
    /// Whether to close every open alert of the rule the new exception matches.
    #[serde(default)]
    pub close_matching: bool,
}

/// What the exception made from an alert did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MadeException {
    /// The list it went into.
    pub list_id: String,
    /// The new item.
    #[schema(value_type = Object)]
    pub item: Value,
    /// Open alerts of the rule it matched and closed (when asked).
    pub closed: Vec<String>,
}

/// Adds an exception made from an alert to its rule (analysts may, as Kibana's "Add rule
/// exception" from an alert): one entry per field named, prefilled with the alert's values
/// (`match`, or `match_any` for several). Optionally closes every open alert of the rule it
/// matches.
#[utoipa::path(post, path = "/alerts/{id}/exception", tag = "exceptions", params(("id" = String, Path)),
    request_body = FromAlert,
    responses((status = 200, body = MadeException), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
async fn from_alert(
    State(state): State<AppState>,
    Extension(caller): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<FromAlert>, JsonRejection>,
) -> Result<Json<MadeException>, ApiError> {
    let Json(request) = body?;
    Ok(Json(make_from_alert(&state, &caller, &id, &request).await?))
}

/// Adds the exception `request` describes, made from alert `id`, to its rule's list (or the one
/// named): what the route does, and the console's "Add exception".
///
/// # Errors
///
/// [`ApiError::BadRequest`] for a bad id or a field the alert lacks, [`ApiError::NotFound`],
/// [`ApiError::Store`].
pub(crate) async fn make_from_alert(
    state: &AppState,
    caller: &Principal,
    id: &str,
    request: &FromAlert,
) -> Result<MadeException, ApiError> {
    let alert_id =
        AlertId::parse(id).ok_or_else(|| ApiError::BadRequest(format!("`{id}` is not an alert id (64 hex digits)")))?;
    let store = state.store.clone();
    let alert = state
        .blocking(move || store.alert(&alert_id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert `{id}`")))?;
    if request.fields.is_empty() {
        return Err(ApiError::BadRequest("name at least one field of the alert's event".into()));
    }
    let mut entries = Vec::new();
    for field in &request.fields {
        let mut values = engine::field_texts(&alert.document, field);
        values.dedup();
        let kind = match values.len() {
            0 => return Err(ApiError::BadRequest(format!("the alert has no value at `{field}`"))),
            1 => EntryKind::Match { value: values.remove(0), case_insensitive: false },
            _ => EntryKind::MatchAny { values, case_insensitive: false },
        };
        entries.push(Entry { field: field.clone(), operator: Operator::Included, kind });
    }
    let now = Timestamp::now();
    let name = request.name.clone().unwrap_or_else(|| {
        let shown: Vec<String> = entries
            .iter()
            .map(|e| match &e.kind {
                EntryKind::Match { value, .. } => format!("{} is {value}", e.field),
                EntryKind::MatchAny { values, .. } => format!("{} is one of {}", e.field, values.join(", ")),
                _ => e.field.clone(),
            })
            .collect();
        shown.join(" and ")
    });
    let item = ExceptionItem {
        id: None,
        item_id: format!("alert-{}-{}", &id[..12.min(id.len())], now.as_millis()),
        name,
        description: format!("Made from alert {id}"),
        entries,
        expire_time: None,
        comments: request
            .comment
            .iter()
            .map(|c| lists::Comment {
                comment: c.clone(),
                created_by: Some(caller.actor()),
                created_at: Some(now.to_string()),
            })
            .collect(),
        os_types: Vec::new(),
        tags: Vec::new(),
    };
    let list_id = request.list_id.clone().unwrap_or_else(|| format!("rule-{}", alert.rule_id));
    // The rule's own list is made on its first exception; a list named by the caller must exist.
    let own = request.list_id.is_none().then(|| ExceptionList {
        id: None,
        list_id: list_id.clone(),
        namespace_type: NamespaceType::Single,
        kind: "rule_default".into(),
        name: format!(
            "Exceptions of {}",
            state.rules().get(&alert.rule_id).map_or(alert.rule_id.as_str(), |r| r.name.as_str())
        ),
        description: "Made from alerts in vigil".into(),
        os_types: Vec::new(),
        tags: Vec::new(),
        items: Vec::new(),
        rules: vec![alert.rule_id.clone()],
        origin: "vigil".into(),
    });
    let json = lists::item_to_json(&item);
    let detail = format!("item {} from alert {id}", item.item_id);
    let (key, added) = (list_id.clone(), item.clone());
    let list = change(state, caller, "exception_item.put", (&list_id, NamespaceType::Single), detail, move |stored| {
        let mut list = stored.or_else(|| own.clone()).ok_or_else(|| missing(&key, NamespaceType::Single))?;
        list.items.push(added.clone());
        Ok(list)
    })
    .await?;
    let closed = if request.close_matching {
        close_matching(state, caller, &alert.rule_id, list, item).await?
    } else {
        Vec::new()
    };
    Ok(MadeException { list_id, item: json, closed })
}

/// Closes the open alerts of `rule_id` that `item` matches.
async fn close_matching(
    state: &AppState,
    caller: &Principal,
    rule_id: &str,
    mut list: ExceptionList,
    item: ExceptionItem,
) -> Result<Vec<String>, ApiError> {
    let rule = crate::routes::rules::find(state, rule_id)?;
    list.items = vec![item.clone()];
    list.rules = vec![rule_id.to_owned()];
    let only = Exceptions { lists: vec![list], value_lists: stored(state).await?.value_lists };
    let store = state.store.clone();
    let filter =
        AlertFilter { rule_id: Some(rule_id.to_owned()), status: Some(WorkflowStatus::Open), ..AlertFilter::default() };
    let matching = state
        .blocking(move || {
            let compiled = RuleExceptions::compile(&rule, &only, ecs::Catalog::builtin(), Timestamp::now());
            let mut ids = Vec::new();
            store.alerts(&filter, &mut |alert| {
                if compiled.excluding(&alert.document).is_some() {
                    ids.push(alert.id);
                }
                true
            })?;
            Ok(ids)
        })
        .await?;
    let mut closed = Vec::new();
    for chunk in matching.chunks(crate::routes::MAX_PAGE) {
        let note = format!("closed by exception {}", item.item_id);
        let change = StatusChange {
            status: WorkflowStatus::Closed,
            by: caller.actor(),
            at: Timestamp::now(),
            note: Some(note.clone()),
        };
        let (access, ids) = (state.access.clone(), chunk.to_vec());
        let asked = ids.iter().map(AlertId::to_string).collect::<Vec<_>>().join(",");
        let audit = audit_entry(caller.actor(), "alert.status", asked, Some(format!("closed: {note}")));
        let changed = state.write(move || access.set_status_audited(&ids, &change, &audit)).await?;
        closed.extend(changed.iter().map(AlertId::to_string));
    }
    Ok(closed)
}
