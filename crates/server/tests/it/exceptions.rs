//! Exception lists and value lists through the API: import and export, items added by analysts
//! and removed by admins, value lists, exceptions made from alerts, and what executions record.

use serde_json::json;

use crate::{App, DKIM_RAW, DKIM_RULE};

/// A Kibana export: a shared list with one item for the test tenant (`t1` is the sample's
/// tenant), and the export summary.
fn export() -> String {
    let list = json!({"list_id": "dkim-maintenance", "name": "DKIM maintenance", "description": "", "type": "detection",
                      "namespace_type": "single", "os_types": [], "tags": []});
    let item = json!({"item_id": "test-tenant", "list_id": "dkim-maintenance", "namespace_type": "single", "type": "simple",
                      "name": "Test tenant", "description": "", "comments": [], "os_types": [], "tags": [],
                      "entries": [{"field": "organization.id", "operator": "included", "type": "match", "value": "t1"}]});
    format!("{list}\n{item}\n{{\"exported_exception_list_count\":1,\"exported_exception_list_item_count\":1}}\n")
}

async fn ingest(app: &App, records: &[String]) {
    let body: String =
        records.iter().map(|r| format!("{{\"create\":{{\"_index\":\"logs-o365.audit-default\"}}}}\n{r}\n")).collect();
    let (status, _) = app.call("POST", "/_bulk", body).await;
    assert_eq!(status, 200);
}

fn record(id: &str, tenant: &str, user: &str) -> String {
    DKIM_RAW
        .replace("5f0c2b7e-1a2b-4c3d-9e8f-0a1b2c3d4e5f", id)
        .replace("\"OrganizationId\":\"t1\"", &format!("\"OrganizationId\":\"{tenant}\""))
        .replace("admin@contoso.com", user)
}

#[tokio::test]
async fn lists_are_imported_exported_and_changed_by_role() {
    let app = App::new();
    let analyst = format!("ApiKey {}", app.key("alice", store::Role::Analyst));
    // Importing is the admin's; a bad file is refused whole, with its places.
    let bad = export().replace("\"type\":\"match\"", "\"type\":\"matches\"");
    let (status, body) = app.call("POST", "/api/v1/exceptions/_import", bad).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["reason"].as_str().is_some_and(|r| r.contains("body:2:") && r.contains("entry type `matches`")),
        "{body}"
    );
    let (_, summary) = app.call("GET", "/api/v1/exceptions", "").await;
    assert_eq!(summary["lists"], json!([]), "nothing of a bad file is stored");
    let (status, _) = app.call_as(Some(&analyst), "POST", "/api/v1/exceptions/_import", export()).await;
    assert_eq!(status, 403);
    let (status, imported) = app.call("POST", "/api/v1/exceptions/_import", export()).await;
    assert_eq!((status.as_u16(), imported["lists"].as_u64(), imported["items"].as_u64()), (200, Some(1), Some(1)));
    // An analyst adds an item; only an admin removes it.
    let item = json!({"item_id": "rotation", "name": "Key rotation account",
                      "entries": [{"field": "user.name", "operator": "included", "type": "wildcard", "value": "svc-*"}]});
    let (status, _) =
        app.call_as(Some(&analyst), "POST", "/api/v1/exceptions/dkim-maintenance/items", item.to_string()).await;
    assert_eq!(status, 200);
    let bad_item = json!({"item_id": "x", "entries": [{"field": "source.ip", "operator": "included", "type": "match", "value": "nope"}]});
    let (status, body) = app.call("POST", "/api/v1/exceptions/dkim-maintenance/items", bad_item.to_string()).await;
    assert_eq!(status, 400, "{body}");
    let delete = "/api/v1/exceptions/dkim-maintenance/items/rotation";
    let (status, _) = app.call_as(Some(&analyst), "DELETE", delete, "").await;
    assert_eq!(status, 403);
    let (_, list) = app.call("GET", "/api/v1/exceptions/dkim-maintenance", "").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    // Exported as Kibana does, it imports again to the same lists.
    let (status, _, ndjson) =
        app.send(Some(&format!("ApiKey {}", app.admin)), "GET", "/api/v1/exceptions/_export", "").await;
    assert_eq!(status, 200);
    let ndjson = ndjson.as_str().expect("text").to_owned();
    assert!(ndjson.lines().last().is_some_and(|l| l.contains("\"exported_exception_list_item_count\":2")), "{ndjson}");
    let (status, _) = app.call("DELETE", delete, "").await;
    assert_eq!(status, 200);
    let (status, again) = app.call("POST", "/api/v1/exceptions/_import", ndjson).await;
    assert_eq!((status.as_u16(), again["items"].as_u64()), (200, Some(2)));
    // Nothing is read from the server's disk.
    let sneaky = "[[value_lists]]\nid = \"x\"\ntype = \"keyword\"\nfile = \"/etc/passwd\"\n";
    let (status, body) = app.call("POST", "/api/v1/exceptions/_import?format=toml", sneaky).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["reason"].as_str().is_some_and(|r| r.contains("gives its `values`, not a `file`")), "{body}");
    // Value lists: a bad value is refused with its line.
    let (status, body) = app.call("PUT", "/api/v1/value_lists/office?type=ip_range", "10.0.0.0/8\nnope\n").await;
    assert_eq!(status, 400);
    assert!(body["error"]["reason"].as_str().is_some_and(|r| r.starts_with("line 2:")), "{body}");
    let (status, body) =
        app.call("PUT", "/api/v1/value_lists/office?type=ip_range", "10.0.0.0/8\n203.0.113.0/24\n").await;
    assert_eq!((status.as_u16(), body["values"].as_u64()), (200, Some(2)));
    let (_, trail) = app.call("GET", "/api/v1/audit", "").await;
    let actions: Vec<&str> =
        trail["changes"].as_array().expect("changes").iter().filter_map(|c| c["action"].as_str()).collect();
    for action in ["exception_list.import", "exception_item.put", "exception_item.delete", "value_list.put"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn executions_apply_the_lists_and_say_what_they_removed() {
    let app = App::new();
    ingest(
        &app,
        &[
            record("a", "t1", "admin@contoso.com"),
            record("b", "prod", "admin@contoso.com"),
            record("c", "prod", "svc-x@contoso.com"),
        ],
    )
    .await;
    // A list the rule names by `rules`, with an item for the test tenant and one for the office
    // network through a value list.
    let lists = format!(
        "[[lists]]\nlist_id = \"dkim-maintenance\"\nrules = [\"{DKIM_RULE}\"]\n\n[[lists.items]]\nitem_id = \"test-tenant\"\n\
         entries = [{{ field = \"organization.id\", type = \"match\", operator = \"included\", value = \"t1\" }}]\n\n\
         [[lists.items]]\nitem_id = \"service\"\n\
         entries = [{{ field = \"user.name\", type = \"list\", operator = \"included\", list = {{ id = \"services\", type = \"keyword\" }} }}]\n"
    );
    let (status, body) = app.call("POST", "/api/v1/exceptions/_import?format=toml", lists).await;
    assert_eq!(status, 200, "{body}");
    // The value list is missing: the item cannot apply, and every execution says so.
    let (_, run) = app.call("POST", &format!("/api/v1/rules/{DKIM_RULE}/run"), "").await;
    assert_eq!((run["alerts"].as_u64(), run["excepted"]["dkim-maintenance"].as_u64()), (Some(2), Some(1)), "{run}");
    assert!(
        run["warnings"][0].as_str().is_some_and(|w| w.contains("value list `services`, which is missing")),
        "{run}"
    );
    let (_, metrics) = app.call("GET", "/metrics", "").await;
    assert!(metrics.as_str().is_some_and(|m| m.contains("vigil_exception_warnings_total 1")), "{metrics}");
    // With it, the service account's change is removed too: no new alert, nothing left open
    // but the production admin's.
    app.call("PUT", "/api/v1/value_lists/services?type=keyword", "svc-x\n").await;
    ingest(&app, &[record("d", "prod", "svc-x@contoso.com")]).await;
    let (_, run) = app.call("POST", &format!("/api/v1/rules/{DKIM_RULE}/run"), "").await;
    assert_eq!((run["alerts"].as_u64(), run["excepted"]["dkim-maintenance"].as_u64()), (Some(0), Some(1)), "{run}");
    assert_eq!(run["warnings"], json!([]));
}

#[tokio::test]
async fn an_exception_from_an_alert_closes_the_open_alerts_it_matches() {
    let app = App::new();
    ingest(
        &app,
        &[
            record("a", "t1", "admin@contoso.com"),
            record("b", "t1", "qa@contoso.com"),
            record("c", "prod", "admin@contoso.com"),
        ],
    )
    .await;
    app.call("POST", &format!("/api/v1/rules/{DKIM_RULE}/run"), "").await;
    let (_, page) = app.call("GET", "/api/v1/alerts?q=organization.id:t1", "").await;
    let id = page["alerts"][0]["id"].as_str().expect("an alert").to_owned();
    let analyst = format!("ApiKey {}", app.key("alice", store::Role::Analyst));
    let request = json!({"fields": ["organization.id"], "comment": "the test tenant", "close_matching": true});
    let (status, made) =
        app.call_as(Some(&analyst), "POST", &format!("/api/v1/alerts/{id}/exception"), request.to_string()).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["list_id"], format!("rule-{DKIM_RULE}"));
    assert_eq!(
        made["item"]["entries"][0],
        json!({"field": "organization.id", "type": "match", "operator": "included", "value": "t1"})
    );
    assert_eq!(made["closed"].as_array().map(Vec::len), Some(2), "both alerts of the test tenant");
    let (_, open) = app.call("GET", "/api/v1/alerts?status=open", "").await;
    assert_eq!(open["total"], 1);
    assert_eq!(open["alerts"][0]["document"]["organization"]["id"], "prod");
    let (_, closed) = app.call("GET", &format!("/api/v1/alerts/{id}"), "").await;
    assert!(closed["history"][0]["note"].as_str().is_some_and(|n: &str| n.starts_with("closed by exception alert-")));
    // The rule's own list applies from then on.
    ingest(&app, &[record("d", "t1", "admin@contoso.com")]).await;
    let (_, run) = app.call("POST", &format!("/api/v1/rules/{DKIM_RULE}/run"), "").await;
    assert_eq!(
        (run["alerts"].as_u64(), run["excepted"][format!("rule-{DKIM_RULE}")].as_u64()),
        (Some(0), Some(1)),
        "{run}"
    );
}
