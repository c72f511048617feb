//! The API end to end: ingest, executions, alerts and their triage, search, errors, metrics.

use serde_json::{Value, json};

use crate::{App, DKIM_RAW, DKIM_RULE};

fn bulk_body() -> String {
    format!(
        "{{\"create\":{{\"_index\":\"logs-o365.audit-default\"}}}}\n{DKIM_RAW}\n\
         {{\"create\":{{\"_index\":\"logs-o365.audit-default\"}}}}\n{DKIM_RAW}\n\
         {{\"index\":{{\"_index\":\"logs-o365.audit-default\"}}}}\n{{not json\n"
    )
}

#[tokio::test]
async fn bulk_ingest_answers_per_item_as_elasticsearch_does() {
    let app = App::new();
    let (status, body) = app.call("POST", "/_bulk", bulk_body()).await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"], true);
    let statuses: Vec<&Value> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| &i[i.as_object().unwrap().keys().next().unwrap()]["status"])
        .collect();
    assert_eq!(statuses, [&json!(201), &json!(409), &json!(400)]);
    assert_eq!(body["items"][0]["create"]["_id"], "5f0c2b7e-1a2b-4c3d-9e8f-0a1b2c3d4e5f");
    assert_eq!(body["items"][0]["create"]["_seq_no"], 1);
    assert_eq!(body["items"][1]["create"]["error"]["type"], "version_conflict_engine_exception");
    assert!(body["items"][2]["index"]["error"]["reason"].as_str().unwrap().starts_with("line 6: invalid JSON"));
    let id = body["items"][2]["index"]["_id"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 20, "a refused id-less document gets an id the client can report, as in Elasticsearch");
    // Shippers check who they talk to first.
    let (status, health) = app.call("GET", "/_cluster/health", "").await;
    assert_eq!((status.as_u16(), health["status"].as_str()), (200, Some("green")));
    let (status, info) = app.call("GET", "/", "").await;
    assert_eq!((status.as_u16(), info["version"]["number"].as_str().map(|v| v.starts_with("8."))), (200, Some(true)));
}

#[tokio::test]
async fn an_ingested_record_alerts_once_and_is_triaged() {
    let app = App::new();
    app.call("POST", "/_bulk", bulk_body()).await;
    let (status, run) = app.call("POST", &format!("/api/v1/rules/{DKIM_RULE}/run"), "").await;
    assert_eq!(status, 200);
    assert_eq!(
        (run["events"].as_u64(), run["alerts"].as_u64(), run["status"].as_str()),
        (Some(1), Some(1), Some("succeeded"))
    );
    // Running again finds the alert already stored.
    let (_, again) = app.call("POST", &format!("/api/v1/rules/{DKIM_RULE}/run"), "").await;
    assert_eq!(again["alerts"], 0);

    let (status, page) = app.call("GET", "/api/v1/alerts?status=open", "").await;
    assert_eq!((status.as_u16(), page["total"].as_u64()), (200, Some(1)));
    let alert = &page["alerts"][0];
    let id = alert["id"].as_str().expect("an id").to_owned();
    assert_eq!(alert["document"]["kibana.alert.rule.rule_id"], DKIM_RULE);
    assert_eq!(alert["document"]["kibana.alert.severity"], "medium");
    assert_eq!(alert["document"]["event"]["action"], "Set-DkimSigningConfig");
    for (q, expected) in
        [("kibana.alert.severity:medium", 1), ("kibana.alert.severity:high", 0), ("user.name:admin*", 1)]
    {
        let (_, page) = app.call("GET", &format!("/api/v1/alerts?q={}", q.replace(' ', "%20")), "").await;
        assert_eq!(page["total"], expected, "q={q}");
    }

    let alice = format!("Bearer {}", app.key("alice", store::Role::Analyst));
    let update = json!({"ids": [id, "0".repeat(64)], "status": "acknowledged", "note": "on it"});
    let (status, changed) = app.call_as(Some(&alice), "POST", "/api/v1/alerts/status", update.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(changed["updated"], json!([id]));
    assert_eq!(changed["not_found"], json!(["0".repeat(64)]));
    let close = json!({"ids": [id], "status": "closed"});
    app.call("POST", "/api/v1/alerts/status", close.to_string()).await;
    let (_, shown) = app.call("GET", &format!("/api/v1/alerts/{id}"), "").await;
    assert_eq!(shown["status"], "closed");
    let history: Vec<(&str, &str)> = shown["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|c| (c["status"].as_str().unwrap_or(""), c["by"].as_str().unwrap_or("").split(' ').next().unwrap_or("")))
        .collect();
    assert_eq!(history, [("acknowledged", "alice"), ("closed", "admin")], "who is the caller's key, not what it says");
    assert_eq!(shown["document"]["kibana.alert.workflow_status"], "closed");
    let (_, open) = app.call("GET", "/api/v1/alerts?status=open", "").await;
    assert_eq!(open["total"], 0);
    // A query on the workflow fields, which the stored document does not hold: the search's
    // prefilter sees today's fields too, and never refuses a match.
    for (q, expected) in [
        ("kibana.alert.workflow_status:closed", 1),
        ("kibana.alert.workflow_status:open", 0),
        ("kibana.alert.workflow_user:admin*", 1),
        ("kibana.alert.workflow_status:closed and user.name:admin*", 1),
    ] {
        let (_, page) = app.call("GET", &format!("/api/v1/alerts?q={}", q.replace(' ', "%20")), "").await;
        assert_eq!(page["total"], expected, "q={q}");
    }

    let (_, executions) = app.call("GET", &format!("/api/v1/rules/{DKIM_RULE}/executions"), "").await;
    assert_eq!(executions["executions"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn rules_are_listed_switched_and_shown() {
    let app = App::new();
    let (_, list) = app.call("GET", "/api/v1/rules", "").await;
    assert_eq!(list["rules"][0]["rule_id"], DKIM_RULE);
    assert_eq!(list["rules"][0]["enabled"], true);
    let (_, off) = app.call("POST", &format!("/api/v1/rules/{DKIM_RULE}/disable"), "").await;
    assert_eq!(off["enabled"], false);
    let (_, shown) = app.call("GET", &format!("/api/v1/rules/{DKIM_RULE}"), "").await;
    assert_eq!((shown["enabled"].as_bool(), shown["definition"]["max_signals"].as_u64()), (Some(false), Some(100)));
    let (status, missing) = app.call("GET", "/api/v1/rules/nope", "").await;
    assert_eq!((status.as_u16(), missing["error"]["type"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn events_are_sent_with_their_bad_lines_reported_and_searched() {
    let app = App::new();
    let now = ecs::date::Timestamp::now().to_string();
    let body = format!(
        "{{\"@timestamp\":\"{now}\",\"event\":{{\"id\":\"a\",\"action\":\"FileAccessed\"}}}}\nnot json\n\
         {{\"@timestamp\":\"{now}\",\"event\":{{\"id\":\"b\",\"action\":\"UserLoggedIn\"}}}}\n"
    );
    let (status, report) = app.call("POST", "/api/v1/events", body).await;
    assert_eq!(status, 200);
    assert_eq!((report["stored"].as_u64(), report["failed"].as_u64()), (Some(2), Some(1)));
    assert_eq!(report["errors"][0]["line"], 2);
    let (_, page) = app.call("GET", "/api/v1/events?q=event.action:UserLoggedIn", "").await;
    let found: Vec<&Value> = page["events"].as_array().expect("events").iter().map(|e| &e["id"]).collect();
    assert_eq!(found, [&json!("b")]);
    assert!(page["events"][0]["document"]["event"]["ingested"].is_string());
    let (status, bad) = app.call("GET", "/api/v1/events?q=event.action:(", "").await;
    assert_eq!(status, 400);
    assert!(bad["error"]["reason"].as_str().unwrap().contains("^ here"), "{bad}");
}

#[tokio::test]
async fn oversized_bodies_are_refused_in_the_usual_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::in_dir(dir, server::Config { max_body: 1024, ..server::Config::default() });
    let (status, body) = app.call("POST", "/api/v1/events", "x".repeat(2048)).await;
    assert_eq!((status.as_u16(), body["error"]["type"].as_str()), (413, Some("too_large")));
}

#[tokio::test]
async fn health_and_metrics_tell_how_the_service_is() {
    let app = App::new();
    app.call("POST", "/_bulk", bulk_body()).await;
    let (status, health) = app.call("GET", "/api/v1/health", "").await;
    assert_eq!(status, 200);
    assert_eq!(
        (health["status"].as_str(), health["events"].as_u64(), health["uncovered_events"].as_u64()),
        (Some("ok"), Some(1), Some(1))
    );
    let (status, metrics) = app.call("GET", "/metrics", "").await;
    assert_eq!(status, 200);
    let text = metrics.as_str().expect("text");
    for line in [
        "vigil_events_ingested_total 1",
        "vigil_events_duplicate_total 1",
        "vigil_events_rejected_total 1",
        "vigil_events_uncovered 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    let (_, spec) = app.call("GET", "/api/v1/openapi.json", "").await;
    assert_eq!(spec, app.spec);
}

#[tokio::test]
async fn requests_over_a_limit_get_a_clear_4xx() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::in_dir(dir, server::Config { max_items: 2, max_line: 200, ..server::Config::default() });
    let three = "{\"message\":\"a\"}\n{\"message\":\"b\"}\n{\"message\":\"c\"}\n";
    let (status, body) = app.call("POST", "/api/v1/events", three).await;
    assert_eq!((status.as_u16(), body["error"]["type"].as_str()), (413, Some("too_large")));
    assert!(body["error"]["reason"].as_str().unwrap().contains("max_items allows 2"), "{body}");
    let long = format!("{{\"message\":\"{}\"}}\n{{\"message\":\"ok\"}}\n", "x".repeat(300));
    let (status, report) = app.call("POST", "/api/v1/events", long).await;
    assert_eq!((status.as_u16(), report["stored"].as_u64()), (200, Some(1)), "the long line alone is refused");
    assert_eq!(report["errors"][0]["reason"], "line 1: longer than max_line (200 bytes)");

    let (status, body) = app.call("GET", "/api/v1/alerts?limit=5000", "").await;
    assert_eq!(
        (status.as_u16(), body["error"]["reason"].as_str()),
        (400, Some("limit: 5000 is not between 1 and 1000"))
    );
    let (status, body) = app.call("GET", "/api/v1/alerts?offset=9223372036854775808", "").await;
    assert_eq!(
        (status.as_u16(), body["error"]["reason"].as_str()),
        (400, Some("offset: 9223372036854775808 is larger than 9223372036854775807"))
    );
    let (status, _) = app.call("GET", "/api/v1/alerts?offset=9223372036854775807", "").await;
    assert_eq!(status, 200, "the largest offset is an empty page, not a store error");
    let deep = format!("{}a:b{}", "(".repeat(200), ")".repeat(200));
    let (status, body) = app.call("GET", &format!("/api/v1/alerts?q={deep}"), "").await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn a_backlog_held_back_by_max_signals_shows_until_it_drains() {
    let app = App::new();
    // 101 DKIM records (the rule's max_signals is 100), each its own record id.
    let body: String = (0..101)
        .map(|i| {
            let record = DKIM_RAW.replace("5f0c2b7e-1a2b-4c3d-9e8f-0a1b2c3d4e5f", &format!("dkim-{i}"));
            format!("{{\"create\":{{\"_index\":\"logs-o365.audit-default\"}}}}\n{record}\n")
        })
        .collect();
    let (status, _) = app.call("POST", "/_bulk", body).await;
    assert_eq!(status, 200);
    let (_, run) = app.call("POST", &format!("/api/v1/rules/{DKIM_RULE}/run"), "").await;
    assert_eq!((run["alerts"].as_u64(), run["held_back"].as_u64()), (Some(100), Some(1)), "{run}");
    let (_, health) = app.call("GET", "/api/v1/health", "").await;
    assert_eq!(
        (health["status"].as_str(), health["alert_backlog"].as_u64(), health["rules_with_backlog"].as_u64()),
        (Some("degraded"), Some(1), Some(1)),
        "{health}"
    );
    let (_, metrics) = app.call("GET", "/metrics", "").await;
    assert!(metrics.as_str().expect("text").lines().any(|l| l == "vigil_alert_backlog 1"), "{metrics}");
    let (_, rule) = app.call("GET", &format!("/api/v1/rules/{DKIM_RULE}"), "").await;
    assert_eq!(rule["backlog"], 1);
    // The next execution alerts on the one held back.
    let (_, run) = app.call("POST", &format!("/api/v1/rules/{DKIM_RULE}/run"), "").await;
    assert_eq!((run["alerts"].as_u64(), run["held_back"].as_u64()), (Some(1), Some(0)), "{run}");
    let (_, health) = app.call("GET", "/api/v1/health", "").await;
    assert_eq!((health["status"].as_str(), health["alert_backlog"].as_u64()), (Some("ok"), Some(0)));
}

#[tokio::test]
async fn events_in_indices_no_rule_searches_are_counted_by_index() {
    let app = App::new();
    let body = format!(
        "{{\"create\":{{\"_index\":\".ds-logs-o365.audit-default-2026.03.02-000001\"}}}}\n{DKIM_RAW}\n\
         {{\"create\":{{\"_index\":\"winlogbeat-8\"}}}}\n{{\"message\":\"a\"}}\n\
         {{\"create\":{{\"_index\":\"winlogbeat-8\"}}}}\n{{\"message\":\"b\"}}\n"
    );
    let (status, _) = app.call("POST", "/_bulk", body).await;
    assert_eq!(status, 200);
    let (_, metrics) = app.call("GET", "/metrics", "").await;
    let text = metrics.as_str().expect("text");
    let outside: Vec<&str> = text.lines().filter(|l| l.starts_with("vigil_events_outside_indices_total{")).collect();
    assert_eq!(outside, ["vigil_events_outside_indices_total{index=\"winlogbeat-8\"} 2"], "{text}");
    // The record sent to a backing index is in its data stream, which the DKIM rule searches.
    let (_, run) = app.call("POST", &format!("/api/v1/rules/{DKIM_RULE}/run"), "").await;
    assert_eq!(run["alerts"], 1, "{run}");
}

#[tokio::test]
async fn bulk_is_taken_by_put_as_elasticsearch_registers_it() {
    let app = App::new();
    for (method, uri, id) in [("PUT", "/_bulk", "p1"), ("PUT", "/logs-x-default/_bulk", "p2"), ("POST", "/_bulk", "p3")]
    {
        let body =
            format!("{{\"create\":{{\"_index\":\"logs-x-default\",\"_id\":\"{id}\"}}}}\n{{\"message\":\"m\"}}\n");
        let (status, answer) = app.call(method, uri, body).await;
        assert_eq!((status.as_u16(), answer["errors"].as_bool()), (200, Some(false)), "{method} {uri}: {answer}");
        assert_eq!(answer["items"][0]["create"]["status"], 201);
    }
    let spec = &app.spec["paths"];
    assert!(spec["/_bulk"]["put"].is_object() && spec["/{index}/_bulk"]["put"].is_object(), "documented");
}

#[tokio::test]
async fn identical_lines_without_ids_stay_distinct_events_as_in_elasticsearch() {
    let app = App::new();
    let line = "{\"@timestamp\":\"2026-03-02T08:00:00Z\",\"message\":\"Failed password for root from 203.0.113.9\"}\n";
    let bulk: String =
        (0..100).map(|_| format!("{{\"create\":{{\"_index\":\"logs-system.auth-default\"}}}}\n{line}")).collect();
    let (status, answer) = app.call("POST", "/_bulk", bulk.clone()).await;
    assert_eq!((status.as_u16(), answer["errors"].as_bool()), (200, Some(false)));
    // The same id-less batch sent again (its answer lost, say) is stored again, as Elasticsearch
    // does: no 409 for documents the client never named.
    let (_, again) = app.call("POST", "/_bulk", bulk).await;
    assert_eq!(again["errors"], false, "{again}");
    let (_, sent) = app.call("POST", "/api/v1/events?index=logs-system.auth-default", line.repeat(100)).await;
    assert_eq!(sent["stored"], 100);
    let (_, health) = app.call("GET", "/api/v1/health", "").await;
    assert_eq!(health["events"], 300);
    // With an id (or a record's own), a repeat is the same event: 409 for create.
    let named = format!("{{\"create\":{{\"_index\":\"logs-x-default\",\"_id\":\"n1\"}}}}\n{line}").repeat(2);
    let (_, answer) = app.call("POST", "/_bulk", named).await;
    assert_eq!(
        (answer["items"][0]["create"]["status"].as_u64(), answer["items"][1]["create"]["status"].as_u64()),
        (Some(201), Some(409))
    );
}
