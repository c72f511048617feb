//! Searching stored events and alerts: pages that return each match once, and budgets.

use proptest::prelude::*;
use serde_json::json;

use crate::App;

/// Every event of every page of `GET /api/v1/events?q=...`, following `next_after`.
async fn all_pages(app: &App, q: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = 0;
    for _ in 0..1000 {
        let uri = format!(
            "/api/v1/events?q={q}&since=2026-03-01T00:00:00Z&until=2026-03-03T00:00:00Z&limit={limit}&after={after}"
        );
        let (status, page) = app.call("GET", &uri, "").await;
        assert_eq!(status, 200, "{page}");
        ids.extend(
            page["events"].as_array().expect("events").iter().map(|e| e["id"].as_str().unwrap_or("").to_owned()),
        );
        match page["next_after"].as_u64() {
            Some(next) => after = next,
            None => return ids,
        }
    }
    panic!("paging never ended");
}

async fn store_events(app: &App, events: &[(u32, bool)]) {
    let body: String = events
        .iter()
        .enumerate()
        .map(|(i, (minute, hit))| {
            let doc = json!({"@timestamp": format!("2026-03-02T{:02}:{:02}:00Z", minute / 60, minute % 60),
                             "event": {"id": format!("e{i}"), "action": if *hit { "hit" } else { "miss" }}});
            format!("{doc}\n")
        })
        .collect();
    let (status, report) = app.call("POST", "/api/v1/events?index=logs-x-default", body).await;
    assert_eq!((status.as_u16(), report["stored"].as_u64()), (200, Some(events.len() as u64)), "{report}");
}

#[tokio::test]
async fn events_with_times_opposite_to_their_order_are_each_on_one_page() {
    let app = App::new();
    // Stored in this order, dated the other way round.
    store_events(&app, &[(30, true), (20, true), (10, true)]).await;
    let mut ids = all_pages(&app, "event.action:hit", 1).await;
    ids.sort();
    assert_eq!(ids, ["e0", "e1", "e2"]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Paging through any query returns each matching event exactly once.
    #[test]
    fn paging_returns_each_match_exactly_once(
        events in prop::collection::vec((0u32..1440, any::<bool>()), 0..40),
        limit in 1usize..6,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let ids = runtime.block_on(async {
            let app = App::new();
            if !events.is_empty() {
                store_events(&app, &events).await;
            }
            all_pages(&app, "event.action:hit", limit).await
        });
        let mut got = ids.clone();
        got.sort();
        got.dedup();
        prop_assert_eq!(got.len(), ids.len(), "an event on two pages: {:?}", ids);
        let mut want: Vec<String> = events.iter().enumerate().filter(|(_, e)| e.1).map(|(i, _)| format!("e{i}")).collect();
        want.sort();
        prop_assert_eq!(got, want);
    }
}

#[tokio::test]
async fn searches_over_their_budget_say_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = server::Config { search_budget: rules::Interval::from_seconds(0), ..server::Config::default() };
    let app = App::in_dir(dir, config);
    // 600 events, none matching: the scan stops at its budget and says where it got to.
    store_events(&app, &vec![(600, false); 600]).await;
    let uri = "/api/v1/events?q=event.action:hit&since=2026-03-01T00:00:00Z&until=2026-03-03T00:00:00Z";
    let (status, page) = app.call("GET", uri, "").await;
    assert_eq!((status.as_u16(), page["timed_out"].as_bool()), (200, Some(true)), "{page}");
    assert!(page["next_after"].as_u64().is_some_and(|n| n > 0 && n < 600), "{page}");
    // A KQL filter over alerts cannot answer part of its total: it is refused.
    let body: String = (0..100)
        .map(|i| {
            let record = crate::DKIM_RAW.replace("5f0c2b7e-1a2b-4c3d-9e8f-0a1b2c3d4e5f", &format!("dkim-{i}"));
            format!("{{\"create\":{{\"_index\":\"logs-o365.audit-default\"}}}}\n{record}\n")
        })
        .collect();
    app.call("POST", "/_bulk", body).await;
    let (_, run) = app.call("POST", &format!("/api/v1/rules/{}/run", crate::DKIM_RULE), "").await;
    assert_eq!(run["alerts"], 100, "{run}");
    let (status, body) = app.call("GET", "/api/v1/alerts?q=user.name:nobody", "").await;
    assert_eq!((status.as_u16(), body["error"]["type"].as_str()), (422, Some("budget_exceeded")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_whose_client_goes_away_stops() {
    use tower::ServiceExt;
    let app = App::new();
    store_events(&app, &vec![(600, false); 50_000]).await;
    // Nothing matches and there is no literal to skip documents by: every event is decoded, for
    // a long while, and the client leaves first.
    let uri = "/api/v1/events?q=not%20event.action:miss&since=2026-03-01T00:00:00Z&until=2026-03-03T00:00:00Z";
    let request = axum::http::Request::get(uri)
        .header("authorization", format!("ApiKey {}", app.admin))
        .body(axum::body::Body::empty())
        .expect("a request");
    let search = tokio::spawn(app.router.clone().oneshot(request));
    tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    search.abort();
    let mut cancelled = false;
    for _ in 0..100 {
        let (_, metrics) = app.call("GET", "/metrics", "").await;
        if metrics.as_str().unwrap_or("").lines().any(|l| l == "vigil_searches_cancelled_total 1") {
            cancelled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(cancelled, "the abandoned search stopped and was counted");
}
