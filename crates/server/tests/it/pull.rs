//! `[o365]` pulls in the running service, against a local Management Activity API that pages
//! its listings, throttles, lets a token expire, serves expired and malformed blobs, repeats
//! records across blobs, lists a blob late with an earlier `contentCreated`, and goes away for a
//! while. The service must store exactly the records expected, and the DKIM rule must alert
//! once on a record that arrives late, three times, out of order.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ecs::date::Timestamp;
use engine::storage::{AlertFilter, AlertStore, EventLog, EventQuery};
use serde_json::{Value, json};

use crate::DKIM_RULE;

const MINUTE: i64 = 60_000_000_000;

/// What a blob holds.
#[derive(Clone)]
enum Body {
    Records(Vec<Value>),
    Expired,
    Malformed,
}

#[derive(Clone)]
struct Blob {
    id: &'static str,
    content_type: &'static str,
    created: Timestamp,
    body: Body,
}

/// The test API's state: the blobs it lists, and what it saw.
#[derive(Default)]
struct Feed {
    blobs: Vec<Blob>,
    /// Tokens issued so far; tokens up to `revoked_below` are refused.
    tokens: u32,
    revoked_below: u32,
    refused_tokens: u32,
    /// The next listing call is answered 429.
    throttle: bool,
    throttled: u32,
    listings: u32,
    fetches: BTreeMap<&'static str, u32>,
    without_publisher: u32,
}

type Shared = Arc<Mutex<Feed>>;

fn refuse(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": format!("{code} (test API)")}}))).into_response()
}

/// The token and publisher checks of every API call.
fn check(feed: &Shared, headers: &HeaderMap, query: &HashMap<String, String>) -> Option<Response> {
    let mut feed = feed.lock().unwrap();
    if query.get("PublisherIdentifier").map(String::as_str) != Some("t1") {
        feed.without_publisher += 1;
    }
    let token = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let number: u32 = token.strip_prefix("Bearer tok-").and_then(|n| n.parse().ok()).unwrap_or(0);
    if number == 0 || number <= feed.revoked_below {
        feed.refused_tokens += 1;
        return Some(refuse(StatusCode::UNAUTHORIZED, "AF10001"));
    }
    None
}

async fn token(State(feed): State<Shared>, body: String) -> Response {
    if !body.split('&').any(|pair| pair == "client_secret=s3cret") {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    let mut feed = feed.lock().unwrap();
    feed.tokens += 1;
    axum::Json(json!({"access_token": format!("tok-{}", feed.tokens), "expires_in": 3599})).into_response()
}

async fn start(State(feed): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    check(&feed, &headers, &q).unwrap_or_else(|| refuse(StatusCode::BAD_REQUEST, "AF20024"))
}

/// Lists the blobs made available in the window, two per page.
async fn content(State(feed): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(refused) = check(&feed, &headers, &q) {
        return refused;
    }
    let mut feed = feed.lock().unwrap();
    feed.listings += 1;
    if feed.throttle {
        feed.throttle = false;
        feed.throttled += 1;
        return refuse(StatusCode::TOO_MANY_REQUESTS, "AF429");
    }
    let time = |key: &str| Timestamp::parse(&format!("{}Z", q.get(key).map_or("", String::as_str)), false);
    let (Some(start), Some(end)) = (time("startTime"), time("endTime")) else {
        return refuse(StatusCode::BAD_REQUEST, "AF20003");
    };
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("").to_owned();
    let wanted = q.get("contentType").cloned().unwrap_or_default();
    let listed: Vec<Value> = feed
        .blobs
        .iter()
        .filter(|b| b.content_type == wanted && start <= b.created && b.created < end)
        .map(|b| {
            json!({"contentType": b.content_type, "contentId": b.id, "contentUri": format!("http://{host}/blob/{}", b.id),
                   "contentCreated": b.created.to_string(), "contentExpiration": "2099-01-01T00:00:00.000Z"})
        })
        .collect();
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let this: Vec<Value> = listed.iter().skip(page * 2).take(2).cloned().collect();
    if listed.len() > (page + 1) * 2 {
        let next = format!(
            "http://{host}/api/v1.0/t1/activity/feed/subscriptions/content?contentType={wanted}&startTime={}&endTime={}&page={}",
            q["startTime"],
            q["endTime"],
            page + 1
        );
        return ([("NextPageUri", next)], axum::Json(this)).into_response();
    }
    axum::Json(this).into_response()
}

async fn blob(
    State(feed): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refused) = check(&feed, &headers, &q) {
        return refused;
    }
    let mut feed = feed.lock().unwrap();
    let Some(found) = feed.blobs.iter().find(|b| b.id == id).cloned() else {
        return refuse(StatusCode::NOT_FOUND, "AF20050");
    };
    *feed.fetches.entry(found.id).or_default() += 1;
    match found.body {
        Body::Records(records) => axum::Json(records).into_response(),
        Body::Expired => refuse(StatusCode::BAD_REQUEST, "AF20051"),
        Body::Malformed => "{\"half\": ".into_response(),
    }
}

/// Serves the test API on `listener` until `stop` fires.
fn serve_api(listener: tokio::net::TcpListener, feed: Shared) -> tokio::sync::oneshot::Sender<()> {
    let feed_routes =
        Router::new().route("/subscriptions/start", post(start)).route("/subscriptions/content", get(content));
    let app = Router::new()
        .route("/t1/oauth2/v2.0/token", post(token))
        .nest("/api/v1.0/t1/activity/feed", feed_routes)
        .route("/blob/{id}", get(blob))
        .with_state(feed);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    stop
}

/// A raw Exchange audit record, `minutes` before `now`.
fn record(id: &str, operation: &str, now: Timestamp, minutes: i64) -> Value {
    let at = Timestamp::from_nanos(now.as_nanos() - minutes * MINUTE).to_string();
    let mut record: Value = serde_json::from_str(crate::DKIM_RAW).unwrap();
    record["Id"] = id.into();
    record["Operation"] = operation.into();
    record["CreationTime"] = at.trim_end_matches('Z').split('.').next().unwrap().into();
    record
}

fn blob_at(id: &'static str, content_type: &'static str, now: Timestamp, minutes: i64, body: Body) -> Blob {
    Blob { id, content_type, created: Timestamp::from_nanos(now.as_nanos() - minutes * MINUTE), body }
}

/// Every stored event id.
fn stored_ids(store: &store::Sqlite) -> Vec<String> {
    let query = EventQuery { window: None, after: None, up_to: u64::MAX, limit: None, ordered: false, from_seq: 0 };
    let mut ids = Vec::new();
    store
        .scan(&query, &mut |event| {
            ids.push(event.event_id);
            true
        })
        .unwrap();
    ids.sort();
    ids
}

fn dkim_alerts(store: &store::Sqlite) -> Vec<Value> {
    let mut alerts = Vec::new();
    let filter = AlertFilter { rule_id: Some(DKIM_RULE.into()), ..AlertFilter::default() };
    store
        .alerts(&filter, &mut |alert| {
            alerts.push(alert.document);
            true
        })
        .unwrap();
    alerts
}

/// Starts the service over `data`; returns its state and the sender that stops it.
async fn start_service(
    data: &std::path::Path,
    api: &str,
) -> (
    server::AppState,
    Arc<store::Sqlite>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let secret = data.join("o365-secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let tenant = server::O365Tenant {
        tenant_id: "t1".into(),
        client_id: "app".into(),
        credential: o365::api::CredentialSource { client_secret_file: Some(secret), ..Default::default() },
        cloud: o365::api::Cloud::Commercial,
        publisher: None,
        content_types: vec!["Audit.Exchange".into(), "Audit.AzureActiveDirectory".into()],
        login_url: Some(api.to_owned()),
        api_url: Some(api.to_owned()),
    };
    let config = server::Config {
        data_dir: data.to_owned(),
        o365: server::O365 {
            interval: rules::Interval::from_seconds(1),
            tenants: vec![tenant],
            retry: o365::api::Retry { attempts: 3, base: Duration::from_millis(20) },
            ..server::O365::default()
        },
        ..server::Config::default()
    };
    let store = Arc::new(store::Sqlite::open(data).unwrap());
    let state = server::AppState::new(store.clone(), config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(server::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    (state, store, stop, service)
}

/// Runs the DKIM rule now, as "run now" does.
async fn run_dkim(state: &server::AppState) {
    let rule = state.rules().get(DKIM_RULE).cloned().expect("the built-in DKIM rule");
    state.execute(vec![rule], Timestamp::now(), engine::schedule::Trigger::Manual).await.expect("executed");
}

fn metric(state: &server::AppState, line_start: &str) -> Option<f64> {
    let text = state.metrics.render(&Default::default());
    text.lines().find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_store_exactly_the_records_and_the_dkim_rule_alerts_once() {
    let data = tempfile::tempdir().unwrap();
    let now = Timestamp::now();
    let (exchange, entra) = ("Audit.Exchange", "Audit.AzureActiveDirectory");
    let feed = Shared::default();
    {
        let mut f = feed.lock().unwrap();
        f.throttle = true;
        f.blobs = vec![
            blob_at(
                "A",
                exchange,
                now,
                20,
                Body::Records(vec![record("a1", "MailItemsAccessed", now, 21), record("a2", "Send", now, 21)]),
            ),
            blob_at("X", exchange, now, 15, Body::Expired),
            blob_at("M", exchange, now, 12, Body::Malformed),
            // a2 again, in another blob.
            blob_at(
                "C",
                exchange,
                now,
                5,
                Body::Records(vec![record("a2", "Send", now, 21), record("c1", "Send", now, 6)]),
            ),
            blob_at("B", entra, now, 10, Body::Records(vec![record("b1", "UserLoggedIn", now, 11)])),
        ];
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let api = format!("http://{address}");
    let stop_api = serve_api(listener, feed.clone());
    let (state, store, stop, service) = start_service(data.path(), &api).await;

    // Paged, throttled once; the expired and malformed blobs are skipped and counted.
    crate::eventually("the first blobs are stored", Duration::from_secs(60), || stored_ids(&store).len() == 4).await;
    assert_eq!(stored_ids(&store), ["a1", "a2", "b1", "c1"]);
    crate::eventually("every blob is taken", Duration::from_secs(60), || feed.lock().unwrap().fetches.len() == 5).await;
    run_dkim(&state).await;
    assert!(dkim_alerts(&store).is_empty());

    // The DKIM change arrives late (its blob listed after newer ones, with an earlier
    // contentCreated, and the record older than the rule's 30-minute lookback) and twice; the
    // token expires at the same time.
    {
        let mut f = feed.lock().unwrap();
        f.revoked_below = f.tokens;
        f.blobs.push(blob_at(
            "E",
            exchange,
            now,
            0,
            Body::Records(vec![record("d1", "Set-DkimSigningConfig", now, 45), record("e1", "Send", now, 1)]),
        ));
        f.blobs.push(blob_at(
            "D",
            exchange,
            now,
            40,
            Body::Records(vec![record("d1", "Set-DkimSigningConfig", now, 45)]),
        ));
    }
    crate::eventually("the late blobs are stored", Duration::from_secs(60), || stored_ids(&store).len() == 6).await;
    crate::eventually("both late blobs are taken", Duration::from_secs(60), || feed.lock().unwrap().fetches.len() == 7)
        .await;
    assert_eq!(stored_ids(&store), ["a1", "a2", "b1", "c1", "d1", "e1"]);
    run_dkim(&state).await;
    run_dkim(&state).await;
    let alerts = dkim_alerts(&store);
    assert_eq!(alerts.len(), 1, "one alert for the DKIM change");
    assert_eq!(alerts[0]["vigil.alert.late"], true, "flagged as older than the rule's window");
    assert_eq!(alerts[0]["kibana.alert.original_event.id"], "d1");

    // The API goes away: the service keeps trying and says so.
    let _ = stop_api.send(());
    crate::eventually("the outage shows in the metrics", Duration::from_secs(60), || {
        metric(&state, "vigil_o365_up{tenant=\"t1\"}") == Some(0.0)
            && metric(&state, "vigil_o365_errors_total{tenant=\"t1\",kind=\"network\"}").is_some_and(|n| n >= 1.0)
    })
    .await;
    let app = crate::App::over(state.clone(), store.clone());
    let (status, pulls) = app.call("GET", "/api/v1/o365", "").await;
    assert_eq!(status, 200);
    let tenant = &pulls["tenants"][0];
    assert_eq!((tenant["tenant"].as_str(), tenant["up"].as_bool()), (Some("t1"), Some(false)));
    assert!(tenant["last_error"].as_str().is_some_and(|e| e.contains("network")), "{tenant}");
    assert!(!pulls.to_string().contains("s3cret"));
    feed.lock().unwrap().blobs.push(blob_at(
        "F",
        exchange,
        now,
        0,
        Body::Records(vec![record("d1", "Set-DkimSigningConfig", now, 45), record("f1", "Send", now, 0)]),
    ));
    let listener = tokio::net::TcpListener::bind(address).await.expect("the same port again");
    let stop_api = serve_api(listener, feed.clone());
    crate::eventually("pulls work again", Duration::from_secs(60), || stored_ids(&store).len() == 7).await;
    crate::eventually("and say so", Duration::from_secs(60), || {
        metric(&state, "vigil_o365_up{tenant=\"t1\"}") == Some(1.0)
    })
    .await;
    run_dkim(&state).await;
    assert_eq!(dkim_alerts(&store).len(), 1, "a third delivery is still the same event");
    let (_, pulls) = app.call("GET", "/api/v1/o365", "").await;
    let tenant = &pulls["tenants"][0];
    assert_eq!(tenant["up"], true);
    let exchange = &tenant["content_types"][0];
    assert_eq!(
        (exchange["content_type"].as_str(), exchange["blobs"].as_u64()),
        (Some("Audit.Exchange"), Some(7)),
        "A, X, M, C, D, E, F"
    );
    assert_eq!(exchange["records"], 9, "records fetched from A, C, D, E, F");
    assert!(exchange["lag_seconds"].as_f64().is_some_and(|lag| lag < 600.0), "{exchange}");
    let exchange_records = metric(&state, "vigil_o365_records_total{tenant=\"t1\",content_type=\"Audit.Exchange\"}");
    assert_eq!(exchange_records, Some(9.0), "records handed over from Exchange blobs (a2 and d1 repeated)");

    // A restart goes on from the checkpoints: nothing is fetched or stored again.
    let _ = stop.send(());
    assert!(matches!(tokio::time::timeout(Duration::from_secs(40), service).await, Ok(Ok(Ok(())))));
    drop((state, store));
    let fetched = feed.lock().unwrap().fetches.clone();
    let listings = feed.lock().unwrap().listings;
    let (state, store, stop, service) = start_service(data.path(), &api).await;
    crate::eventually("the restarted service lists again", Duration::from_secs(60), || {
        feed.lock().unwrap().listings >= listings + 4
    })
    .await;
    assert_eq!(feed.lock().unwrap().fetches, fetched, "no blob fetched twice");
    assert_eq!(stored_ids(&store).len(), 7);
    run_dkim(&state).await;
    assert_eq!(dkim_alerts(&store).len(), 1);

    {
        let f = feed.lock().unwrap();
        assert!(f.fetches.values().all(|&n| n == 1), "each blob fetched once: {:?}", f.fetches);
        assert_eq!((f.throttled, f.without_publisher), (1, 0), "throttled once; PublisherIdentifier on every call");
        assert!(f.refused_tokens >= 1 && f.tokens >= 3, "the expired token was refused and replaced");
    }
    let _ = (stop.send(()), stop_api.send(()));
    assert!(matches!(tokio::time::timeout(Duration::from_secs(40), service).await, Ok(Ok(Ok(())))));
}
