//! Only the right keys in: every route but the health check needs one, and its role.

use base64::Engine as _;
use serde_json::json;

use crate::App;

#[tokio::test]
async fn without_a_valid_key_only_the_health_check_answers() {
    let app = App::new();
    let (status, _) = app.call_as(None, "GET", "/api/v1/health", "").await;
    assert_eq!(status, 200);
    for (method, uri) in [
        ("GET", "/api/v1/alerts"),
        ("POST", "/_bulk"),
        ("GET", "/metrics"),
        ("GET", "/"),
        ("GET", "/api/v1/openapi.json"),
    ] {
        let (status, body) = app.call_as(None, method, uri, "").await;
        assert_eq!((status.as_u16(), body["error"]["type"].as_str()), (401, Some("unauthorized")), "{method} {uri}");
    }
    let (status, body) = app.call_as(Some("ApiKey vgl_nope_nope"), "GET", "/api/v1/alerts", "").await;
    assert_eq!((status.as_u16(), body["error"]["reason"].as_str()), (401, Some("unknown API key")));
    let wrong_secret = format!("{}x", app.admin);
    let (status, _) = app.call_as(Some(&format!("Bearer {wrong_secret}")), "GET", "/api/v1/alerts", "").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn each_role_reaches_its_routes_only() {
    let app = App::new();
    let shipper = app.key("filebeat", store::Role::Ingest);
    let analyst = format!("ApiKey {}", app.key("alice", store::Role::Analyst));
    // Log shippers configured with a user and password send the key as the password.
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("filebeat:{shipper}")));
    let body = "{\"index\":{\"_index\":\"logs-x-default\"}}\n{\"message\":\"m\"}\n";
    let (status, answer) = app.call_as(Some(&basic), "POST", "/_bulk", body).await;
    assert_eq!((status.as_u16(), answer["errors"].as_bool()), (200, Some(false)));
    let (status, _) = app.call_as(Some(&basic), "GET", "/api/v1/alerts", "").await;
    assert_eq!(status, 403, "an ingest key reads nothing");

    let (status, _) = app.call_as(Some(&analyst), "GET", "/api/v1/alerts", "").await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call_as(Some(&analyst), "POST", "/api/v1/alerts/status", json!({"ids": [], "status": "closed"}).to_string())
        .await;
    assert_eq!(status, 200, "an analyst triages");
    let dkim = "/api/v1/rules/514121ce-c7b6-474a-8237-68ff71672379/disable";
    let (status, body) = app.call_as(Some(&analyst), "POST", dkim, "").await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["reason"], "the key `alice` has the analyst role; this needs admin");
    let (status, _) = app.call_as(Some(&analyst), "POST", "/_bulk", "").await;
    assert_eq!(status, 403, "an analyst does not ingest");
    let (status, _) = app.call_as(Some(&analyst), "GET", "/api/v1/audit", "").await;
    assert_eq!(status, 403);

    let (status, _) = app.call("POST", dkim, "").await;
    assert_eq!(status, 200);
    let (_, trail) = app.call("GET", "/api/v1/audit", "").await;
    let changes = trail["changes"].as_array().expect("changes");
    assert_eq!(changes[0]["action"], "rule.disable");
    assert!(changes[0]["actor"].as_str().unwrap().starts_with("admin ("), "{trail}");
    assert_eq!(changes[0]["target"], "514121ce-c7b6-474a-8237-68ff71672379");
}

#[tokio::test]
async fn a_revoked_key_is_refused() {
    use store::Access;
    let app = App::new();
    let token = app.key("old", store::Role::Analyst);
    let id = token.trim_start_matches("vgl_").split('_').next().expect("an id").to_owned();
    let entry = store::AuditEntry {
        at: ecs::date::Timestamp::now(),
        actor: "test".into(),
        action: "key.revoke".into(),
        target: id.clone(),
        detail: None,
    };
    assert!(app.store.revoke_key(&id, ecs::date::Timestamp::now(), &entry).expect("revoked"));
    let (status, body) = app.call_as(Some(&format!("Bearer {token}")), "GET", "/api/v1/alerts", "").await;
    assert_eq!((status.as_u16(), body["error"]["reason"].as_str()), (401, Some("this API key was revoked")));
}

/// The role each route needs, written out here apart from the server's own table: `None` for
/// the health check.
fn needed(method: &str, route: &str) -> Option<store::Role> {
    use store::Role::{Admin, Analyst, Ingest};
    let read = method == "get" || method == "head";
    Some(match route {
        "/api/v1/health" => return None,
        "/_bulk"
        | "/{index}/_bulk"
        | "/"
        | "/_license"
        | "/_cluster/health"
        | "/{index}/_refresh"
        | "/_nodes/http"
        | "/_index_template/{name}" => Ingest,
        "/api/v1/events" if !read => Ingest,
        "/api/v1/alerts/status" => Analyst,
        "/api/v1/alerts/{id}/exception" | "/api/v1/exceptions/{list_id}/items" | "/api/v1/exceptions/_test"
            if method == "post" =>
        {
            Analyst
        }
        "/api/v1/notifications/{id}/_retry" => Analyst,
        "/api/v1/audit" => Admin,
        _ if read => Analyst,
        _ => Admin,
    })
}

#[tokio::test]
async fn every_route_is_authorized_by_the_route_it_matched_for_every_role() {
    let app = App::new();
    let keys = [
        (store::Role::Ingest, format!("ApiKey {}", app.key("shipper", store::Role::Ingest))),
        (store::Role::Analyst, format!("ApiKey {}", app.key("alice", store::Role::Analyst))),
        (store::Role::Admin, format!("ApiKey {}", app.admin)),
    ];
    let mut checked = 0;
    for (route, item) in app.spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("methods").keys() {
            // Path parameters that look like other routes: a rule or alert id `_bulk`.
            let uri = route.replace("{id}", "_bulk").replace("{index}", "logs-x-default");
            for (role, key) in &keys {
                let (status, body) = app.call_as(Some(key), &method.to_uppercase(), &uri, "").await;
                let allowed = needed(method, route).is_none_or(|n| *role == store::Role::Admin || *role == n);
                assert_eq!(status == 403, !allowed, "{method} {uri} as {role:?}: {status} {body}");
                assert_ne!(status, 401, "{method} {uri} as {role:?}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 60, "{checked} route × role checks");
    // A rule id that ends like the bulk route is still a rule: an ingest key cannot read it.
    let (status, _) = app.call_as(Some(&keys[0].1), "GET", "/api/v1/rules/_bulk", "").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn shippers_hear_not_found_for_routes_vigil_lacks_and_the_product_header_on_every_answer() {
    let app = App::new();
    let shipper = format!("ApiKey {}", app.key("filebeat", store::Role::Ingest));
    for (method, uri) in [("GET", "/_cat/health"), ("GET", "/_nodes/stats"), ("POST", "/logs-x/_flush")] {
        let (status, headers, body) = app.send(Some(&shipper), method, uri, "").await;
        assert_eq!((status.as_u16(), body["error"]["type"].as_str()), (404, Some("not_found")), "{method} {uri}");
        assert_eq!(headers["x-elastic-product"], "Elasticsearch");
    }
    // Still no answer at all without a key.
    let (status, headers, _) = app.send(None, "GET", "/_cat/health", "").await;
    assert_eq!((status.as_u16(), headers["x-elastic-product"].to_str().ok()), (401, Some("Elasticsearch")));
    // The cheap routes shippers call on start and on shutdown.
    let (status, refreshed) = app.call_as(Some(&shipper), "POST", "/logs-x-default/_refresh", "").await;
    assert_eq!((status.as_u16(), refreshed["_shards"]["failed"].as_u64()), (200, Some(0)));
    let (status, nodes) = app.call_as(Some(&shipper), "GET", "/_nodes/http", "").await;
    assert_eq!(status, 200);
    assert!(nodes["nodes"]["vigil"]["http"]["publish_address"].is_string(), "{nodes}");
    let (status, missing) = app.call_as(Some(&shipper), "GET", "/_index_template/filebeat-8", "").await;
    assert_eq!((status.as_u16(), missing["error"]["type"].as_str()), (404, Some("resource_not_found_exception")));
    let (status, put) = app.call_as(Some(&shipper), "PUT", "/_index_template/filebeat-8", "{}").await;
    assert_eq!((status.as_u16(), put["acknowledged"].as_bool()), (200, Some(true)));
    let (status, headers, _) = app.send(Some(&shipper), "HEAD", "/", "").await;
    assert_eq!((status.as_u16(), headers["x-elastic-product"].to_str().ok()), (200, Some("Elasticsearch")));
}
