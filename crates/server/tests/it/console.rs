//! The web console: sessions, roles, CSRF and security headers through the router, and an
//! analyst's triage of the DKIM alert from the samples end to end in a real browser (Debian's
//! chromium, driven over WebDriver by chromedriver, both started by the test).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use fantoccini::Locator;
use testkit::browser::Browser;
use tower::ServiceExt;

use crate::{App, DKIM_RULE};

/// Our own rule whose guide holds raw HTML, script and a `javascript:` link: all shown as text.
const XSS_RULE: &str = "vigil-console-xss";

fn xss_rule() -> String {
    format!(
        "[metadata]\ncreation_date = \"2026/12/03\"\nmaturity = \"production\"\nupdated_date = \"2026/12/03\"\n\n\
         [rule]\nauthor = [\"vigil\"]\ndescription = \"Guide with <b>markup</b>.\"\nfrom = \"now-30m\"\n\
         index = [\"logs-o365*\"]\ninterval = \"5m\"\nlanguage = \"kuery\"\nlicense = \"Apache-2.0\"\n\
         name = \"Console XSS probe <img src=x onerror=window.__xss=7>\"\nrisk_score = 21\nrule_id = \"{XSS_RULE}\"\n\
         severity = \"low\"\ntype = \"query\"\nquery = 'event.action:\"Set-DkimSigningConfig\"'\n\
         note = '''## Guide\n\n<script>window.__xss = 4</script>\n\n<img src=x onerror=\"window.__xss=5\">\n\n\
         [click me](javascript:window.__xss=6) and [docs](https://example.com/docs)\n'''\n"
    )
}

/// A raw DKIM record whose fields carry script: the rule alerts on it, the pages show it as text.
fn xss_record() -> String {
    serde_json::json!({
        "CreationTime": "2026-03-02T08:40:00", "Id": "0d0d0d0d-0000-4000-8000-000000000666",
        "Operation": "Set-DkimSigningConfig", "OrganizationId": "b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd",
        "RecordType": 1, "ResultStatus": "True", "UserType": 2, "Version": 1, "Workload": "Exchange",
        "ClientIP": "203.0.113.66", "ObjectId": "\"><img src=x onerror=\"window.__xss=2\">",
        "UserId": "<script>window.__xss=1</script>@contoso.com",
        "Parameters": [{"Name": "Identity", "Value": "javascript:window.__xss=3"}, {"Name": "Enabled", "Value": "False"}]
    })
    .to_string()
}

/// A service with the samples' DKIM alerts and the XSS probes, its rules run once.
struct Console {
    app: App,
    state: server::AppState,
    _rules: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Console {
    async fn new() -> Console {
        let (data, rules) = (tempfile::tempdir().expect("a folder"), tempfile::tempdir().expect("a folder"));
        std::fs::write(rules.path().join("xss.toml"), xss_rule()).expect("the rule is written");
        let config = server::Config {
            data_dir: data.path().to_owned(),
            rules: vec![rules.path().to_owned()],
            ..server::Config::default()
        };
        let store = Arc::new(store::Sqlite::open(data.path()).expect("the store opens"));
        let state = server::AppState::new(store.clone(), config);
        let app = App::over(state.clone(), store);
        let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/o365-raw.ndjson");
        let mut body = std::fs::read_to_string(samples).expect("samples/o365-raw.ndjson");
        body.push_str(&xss_record());
        body.push('\n');
        let (status, _) = app.call("POST", "/api/v1/events", body).await;
        assert_eq!(status, 200);
        for rule in [DKIM_RULE, XSS_RULE] {
            let (status, run) = app.call("POST", &format!("/api/v1/rules/{rule}/run"), "").await;
            assert_eq!(status, 200, "{run}");
        }
        Console { app, state, _rules: rules, _data: data }
    }

    /// The sign-in form's cookie (`name=value`) and token.
    async fn login_form(&self) -> (String, String) {
        let (status, headers, page) = self.get(None, "/ui/login").await;
        assert_eq!(status, StatusCode::OK);
        let cookie = headers.get(header::SET_COOKIE).and_then(|c| c.to_str().ok()).expect("the form's cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        (cookie.split(';').next().expect("name=value").to_owned(), csrf(&page))
    }

    /// Posts the sign-in form with `key`.
    async fn log_in(&self, key: &str) -> (StatusCode, HeaderMap, String) {
        let (cookie, token) = self.login_form().await;
        self.post(Some(&cookie), "/ui/login", format!("key={key}&csrf={token}")).await
    }

    /// Signs in through the form; returns the session cookie (`name=value`).
    async fn sign_in(&self, key: &str) -> String {
        let (status, headers, _) = self.log_in(key).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let cookie = headers.get(header::SET_COOKIE).expect("a session cookie").to_str().expect("text");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(!cookie.contains(key), "the key is never in the cookie");
        cookie.split(';').next().expect("name=value").to_owned()
    }

    async fn get(&self, cookie: Option<&str>, uri: &str) -> (StatusCode, HeaderMap, String) {
        self.request(cookie, "GET", uri, String::new()).await
    }

    async fn post(&self, cookie: Option<&str>, uri: &str, body: String) -> (StatusCode, HeaderMap, String) {
        self.request(cookie, "POST", uri, body).await
    }

    async fn request(
        &self,
        cookie: Option<&str>,
        method: &str,
        uri: &str,
        body: String,
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "vigil.test")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = self
            .app
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).expect("a request"))
            .await
            .expect("an answer");
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
        (status, headers, String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The CSRF token a page's forms carry.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[at..].split('"').next().expect("a token").to_owned()
}

fn location(headers: &HeaderMap) -> &str {
    headers.get(header::LOCATION).and_then(|l| l.to_str().ok()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_roles_csrf_and_headers_hold_on_every_page() {
    let console = Console::new().await;
    // A browser at / is sent to the console; a shipper with a key still gets the cluster info.
    let request = Request::get("/").header(header::ACCEPT, "text/html,application/xhtml+xml").body(Body::empty());
    let response = console.app.router.clone().oneshot(request.expect("a request")).await.expect("an answer");
    assert_eq!((response.status(), location(response.headers())), (StatusCode::SEE_OTHER, "/ui/"));
    let (status, info) = console.app.call("GET", "/", "").await;
    assert_eq!((status, info["version"]["number"].is_string()), (StatusCode::OK, true));
    // Without a session every page sends the browser to sign in.
    let (status, headers, _) = console.get(None, "/ui/alerts").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/ui/login"));
    // Wrong keys and ingest keys do not sign in.
    let (status, _, page) = console.log_in("vgl_nope_nope").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("unknown API key"), "{page}");
    let ingest = console.app.key("shipper", store::Role::Ingest);
    let (status, _, page) = console.log_in(&ingest).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("ingest role"), "{page}");
    // Nor does a sign-in form without its own token (another site posting a key of its choice).
    let good = console.app.key("carol", store::Role::Analyst);
    let (cookie, token) = console.login_form().await;
    for (cookie, token) in [(None, token.as_str()), (Some(cookie.as_str()), ""), (Some(cookie.as_str()), "forged")] {
        let (status, headers, _) = console.post(cookie, "/ui/login", format!("key={good}&csrf={token}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{cookie:?} {token}");
        assert!(headers.get_all(header::SET_COOKIE).iter().all(|c| !c.as_bytes().starts_with(b"vigil_session")));
    }

    let analyst_key = console.app.key("alice", store::Role::Analyst);
    let analyst = console.sign_in(&analyst_key).await;
    let (_, _, alerts) = console.get(Some(&analyst), "/ui/alerts").await;
    let alert_id = alerts
        .split("href=\"/ui/alerts/")
        .filter_map(|s| s.get(..64))
        .find(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("an alert link")
        .to_owned();
    for page in [
        "/ui/".to_owned(),
        "/ui/alerts".into(),
        format!("/ui/alerts/{alert_id}"),
        "/ui/events".into(),
        "/ui/events/1".into(),
        "/ui/rules".into(),
        format!("/ui/rules/{DKIM_RULE}"),
        "/ui/attack".into(),
        "/ui/o365".into(),
        "/ui/login".into(),
        "/ui/no-such-page".into(),
        "/ui/audit".into(),
    ] {
        let (status, headers, body) = console.get(Some(&analyst), &page).await;
        let csp = headers.get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{page}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{page}: {csp}");
        assert_eq!(headers.get(header::X_FRAME_OPTIONS).map(|v| v.as_bytes()), Some(&b"DENY"[..]), "{page}");
        assert_eq!(headers.get(header::X_CONTENT_TYPE_OPTIONS).map(|v| v.as_bytes()), Some(&b"nosniff"[..]));
        assert!(headers.contains_key(header::REFERRER_POLICY), "{page}");
        assert!(!body.contains("<script>") && !body.contains(" style="), "{page}: inline script or style");
        let expected = match page.as_str() {
            "/ui/no-such-page" => StatusCode::NOT_FOUND,
            "/ui/audit" => StatusCode::FORBIDDEN,
            _ => StatusCode::OK,
        };
        assert_eq!(status, expected, "{page}: {body}");
    }
    // The exception form, like every other, needs the session's token.
    let exception = format!("/ui/alerts/{alert_id}/exception");
    let (status, _, _) = console.post(Some(&analyst), &exception, "fields=organization.id".into()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An analyst has no rule switch, and forcing one is refused.
    let (_, _, rules) = console.get(Some(&analyst), "/ui/rules").await;
    assert!(!rules.contains("/switch\"") && !rules.contains("run-now"));
    let token = csrf(&rules);
    let switch = format!("/ui/rules/{DKIM_RULE}/switch");
    let (status, _, _) = console.post(Some(&analyst), &switch, format!("csrf={token}&enabled=false")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) =
        console.post(Some(&analyst), &format!("/ui/rules/{DKIM_RULE}/run"), format!("csrf={token}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A form without the session's token, or from another site, changes nothing.
    let triage = format!("ids={alert_id}&status=closed");
    let (status, _, _) = console.post(Some(&analyst), "/ui/alerts/status", triage.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let request = Request::post("/ui/alerts/status")
        .header(header::HOST, "vigil.test")
        .header(header::ORIGIN, "https://evil.example")
        .header(header::COOKIE, &analyst)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("{triage}&csrf={token}")))
        .expect("a request");
    let response = console.app.router.clone().oneshot(request).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (_, alert) = console.app.call("GET", &format!("/api/v1/alerts/{alert_id}"), "").await;
    assert_eq!(alert["status"], "open");
    // With the token it goes through, and back only within the console.
    let body = format!("{triage}&csrf={token}&note=dup&back=https://evil.example/");
    let (status, headers, _) = console.post(Some(&analyst), "/ui/alerts/status", body).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/ui/alerts"));
    let (_, alert) = console.app.call("GET", &format!("/api/v1/alerts/{alert_id}"), "").await;
    assert_eq!((alert["status"].as_str(), alert["history"][0]["note"].as_str()), (Some("closed"), Some("dup")));
    assert!(alert["history"][0]["by"].as_str().is_some_and(|by| by.starts_with("alice")));

    // An admin switches rules and reads the audit trail, with every change in it.
    let admin = console.sign_in(&console.app.admin).await;
    let (_, _, rules) = console.get(Some(&admin), "/ui/rules").await;
    let token = csrf(&rules);
    let (status, _, _) = console.post(Some(&admin), &switch, format!("csrf={token}&enabled=false")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, rule) = console.app.call("GET", &format!("/api/v1/rules/{DKIM_RULE}"), "").await;
    assert_eq!(rule["enabled"], false);
    let (status, _, audit) = console.get(Some(&admin), "/ui/audit").await;
    assert_eq!(status, StatusCode::OK);
    for action in ["console.sign_in", "alert.status", "rule.disable"] {
        assert!(audit.contains(action), "{action} in the audit page");
    }

    // Signing out kills the session on the server: the old cookie no longer works.
    let (_, _, page) = console.get(Some(&analyst), "/ui/").await;
    let (status, headers, _) = console.post(Some(&analyst), "/ui/logout", format!("csrf={}", csrf(&page))).await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/ui/login"));
    assert!(headers.get(header::SET_COOKIE).and_then(|c| c.to_str().ok()).is_some_and(|c| c.contains("Max-Age=0")));
    let (status, headers, _) = console.get(Some(&analyst), "/ui/alerts").await;
    assert_eq!((status, location(&headers)), (StatusCode::SEE_OTHER, "/ui/login"));
    // A made-up session token is no session (no fixation), and a revoked key ends its sessions.
    let (status, _, _) = console.get(Some("vigil_session=attacker-chosen"), "/ui/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let bob_key = console.app.key("bob", store::Role::Analyst);
    let bob = console.sign_in(&bob_key).await;
    assert_eq!(console.get(Some(&bob), "/ui/").await.0, StatusCode::OK);
    let bob_id = bob_key.split('_').nth(1).expect("an id");
    use store::Access;
    let entry = store::AuditEntry {
        at: ecs::date::Timestamp::now(),
        actor: "test".into(),
        action: "key.revoke".into(),
        target: bob_id.into(),
        detail: None,
    };
    console.app.store.revoke_key(bob_id, ecs::date::Timestamp::now(), &entry).expect("revoked");
    assert_eq!(console.get(Some(&bob), "/ui/").await.0, StatusCode::SEE_OTHER);
    drop(console.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_triages_the_dkim_alert_in_a_browser() {
    let console = Console::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(server::serve(listener, console.state.clone(), async {
        let _ = stopped.await;
    }));
    let analyst_key = console.app.key("alice", store::Role::Analyst);
    let browser = Browser::start().await;
    let b = &browser;

    // The address alone leads to the sign-in form; the key goes in a password field.
    b.client.goto(&base).await.expect("the console");
    b.find("#key").await.send_keys(&analyst_key).await.expect("typed");
    b.screenshot("login").await;
    b.follow("#sign-in").await;
    assert_eq!(b.text("#who").await, "alice");
    let url = b.client.current_url().await.expect("a url");
    assert!(!url.as_str().contains(&analyst_key), "the key is in no URL");
    let stored: serde_json::Value = b
        .client
        .execute("return [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)];", vec![])
        .await
        .expect("a script");
    assert_eq!(stored, serde_json::json!(["", "{}", "{}"]), "nothing of the session or key is readable by script");
    b.screenshot("overview").await;
    assert!(b.text("#open-total").await.parse::<u64>().expect("a count") >= 2);

    // The alerts table: the DKIM rule's alerts, then the first one opened.
    b.client.goto(&format!("{base}/ui/alerts?rule={DKIM_RULE}&q=user.name:it-admin*")).await.expect("the alerts");
    b.screenshot("alerts").await;
    b.follow("a.open-alert").await;
    let guide = b.text("#guide").await;
    assert!(guide.contains("Who made the change?"), "the investigation guide: {guide}");
    assert!(b.text("#mitre").await.contains("T1556"), "the technique");
    assert!(b.text("#reason").await.contains("DKIM"), "the reason");
    assert!(b.text("#fields").await.contains("Set-DkimSigningConfig"), "the source event");
    // The sample's other DKIM change by the same account, 6 minutes later.
    assert!(b.text("#related-user").await.contains("Set-DkimSigningConfig"), "related events of the user");
    b.find("#note").await.send_keys("planned key rotation, ticket CHG-1042").await.expect("typed");
    b.follow("#acknowledge").await;
    let history = b.text("#history").await;
    assert!(history.contains("acknowledged") && history.contains("CHG-1042") && history.contains("alice"), "{history}");
    assert_eq!(b.text("#status").await, "acknowledged");
    b.screenshot("alert").await;

    // An exception from the alert: the tenant's DKIM changes are expected maintenance.
    b.find("input[data-field='organization.id']").await.click().await.expect("ticked");
    b.find("#exception-comment").await.send_keys("tenant under DKIM key rotation").await.expect("typed");
    b.follow("#add-exception").await;
    let (status, list) = console.app.call("GET", &format!("/api/v1/exceptions/rule-{DKIM_RULE}"), "").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"][0]["entries"][0]["field"], "organization.id");
    assert_eq!(list["items"][0]["comments"][0]["comment"], "tenant under DKIM key rotation");

    // Several closed at once from the table.
    b.client.goto(&format!("{base}/ui/alerts?rule={DKIM_RULE}")).await.expect("the alerts");
    b.find("#select-all").await.click().await.expect("all selected");
    b.find("#note").await.send_keys("duplicates of the rotation").await.expect("typed");
    b.follow("#bulk-close").await;
    b.find("#count").await;
    let (_, page) = console.app.call("GET", &format!("/api/v1/alerts?rule_id={DKIM_RULE}"), "").await;
    let alerts = page["alerts"].as_array().expect("alerts");
    assert!(alerts.len() >= 2 && alerts.iter().all(|a| a["status"] == "closed"), "{page}");

    // A KQL filter, and a bad one shown with its caret.
    b.client.goto(&format!("{base}/ui/alerts")).await.expect("the alerts");
    b.find("#f-q").await.send_keys("user.name:admin*").await.expect("typed");
    b.follow("#apply").await;
    assert!(b.text("#count").await.contains("of"), "a filtered page");
    let q = b.find("#f-q").await;
    q.clear().await.expect("cleared");
    q.send_keys("user.name:(admin").await.expect("typed");
    b.follow("#apply").await;
    let error = b.text("#query-error").await;
    assert!(error.contains('^'), "the caret under the mistake: {error}");
    b.screenshot("alerts-bad-query").await;

    // XSS: fields, a rule name and a guide full of markup are text, and no payload ran.
    let (_, page) = console.app.call("GET", &format!("/api/v1/alerts?rule_id={XSS_RULE}"), "").await;
    let probe =
        page["alerts"].as_array().and_then(|a| a.iter().find(|a| a["document"].to_string().contains("__xss=1")));
    let probe = probe.and_then(|a| a["id"].as_str()).expect("the XSS record's alert").to_owned();
    for path in [
        format!("/ui/alerts/{probe}"),
        format!("/ui/alerts?rule={XSS_RULE}"),
        format!("/ui/rules/{XSS_RULE}"),
        "/ui/rules".into(),
        "/ui/events?q=event.action:Set-DkimSigningConfig&since=2026-01-01".into(),
        "/ui/".into(),
    ] {
        b.client.goto(&format!("{base}{path}")).await.expect("the page");
        b.find("main").await;
        assert_eq!(b.xss().await, serde_json::Value::Null, "a payload ran on {path}");
        let images = b.client.execute("return document.querySelectorAll('main img, main script').length;", vec![]);
        assert_eq!(images.await.expect("a script"), serde_json::json!(0), "markup from data became elements on {path}");
    }
    b.client.goto(&format!("{base}/ui/alerts/{probe}")).await.expect("the probe");
    let fields = b.text("#fields").await;
    assert!(fields.contains("<script>window.__xss=1</script>"), "the field's text as written");
    let guide = b.text("#guide").await;
    assert!(guide.contains("<script>window.__xss = 4</script>"), "raw HTML shown as text: {guide}");
    let links: serde_json::Value = b
        .client
        .execute("return Array.from(document.querySelectorAll('#guide a')).map(a => a.getAttribute('href'));", vec![])
        .await
        .expect("a script");
    assert_eq!(links, serde_json::json!(["https://example.com/docs"]), "only the http(s) link stays a link");
    b.screenshot("alert-xss").await;

    // The analyst sees no switch and no audit, and the server refuses a forced switch.
    b.client.goto(&format!("{base}/ui/rules")).await.expect("the rules");
    b.find("#rules").await;
    assert!(b.client.find(Locator::Css("button.switch")).await.is_err(), "an analyst sees no rule switch");
    assert!(b.client.find(Locator::Css("a[data-nav=audit]")).await.is_err(), "nor the audit trail");
    let forced: serde_json::Value = b
        .client
        .execute(
            "const csrf = document.querySelector('input[name=csrf]').value;
             const body = new URLSearchParams({csrf, enabled: 'false'});
             return fetch(arguments[0], {method: 'POST', body}).then(r => r.status);",
            vec![serde_json::json!(format!("/ui/rules/{DKIM_RULE}/switch"))],
        )
        .await
        .expect("a script");
    assert_eq!(forced, serde_json::json!(403));
    b.screenshot("rules").await;
    b.client.goto(&format!("{base}/ui/attack")).await.expect("the matrix");
    assert!(b.text("#matrix").await.contains("T1556"));
    b.screenshot("attack").await;
    b.client.goto(&format!("{base}/ui/events?since=2026-01-01")).await.expect("the events");
    b.find("#events").await;
    b.screenshot("events").await;

    // Signing out kills the session: the cookie the browser had no longer opens a page.
    let cookies = b.client.get_all_cookies().await.expect("cookies");
    let session = cookies.iter().find(|c| c.name() == "vigil_session").expect("the session cookie");
    assert!(session.http_only().unwrap_or(false), "HttpOnly");
    let old = format!("vigil_session={}", session.value());
    b.follow("#sign-out").await;
    b.find("#key").await;
    b.client.goto(&format!("{base}/ui/alerts")).await.expect("the alerts");
    b.find("#key").await;
    assert_eq!(console.get(Some(&old), "/ui/alerts").await.0, StatusCode::SEE_OTHER, "the old session is dead");

    // An admin runs the rule now (after the page asks) and switches it off, from its page.
    b.find("#key").await.send_keys(&console.app.admin).await.expect("typed");
    b.follow("#sign-in").await;
    b.client.goto(&format!("{base}/ui/rules/{DKIM_RULE}")).await.expect("the rule");
    let runs = b.client.find_all(Locator::Css("#executions tbody tr")).await.expect("executions").len();
    b.leaving().await;
    b.find("#run-now").await.click().await.expect("clicked");
    b.client.accept_alert().await.expect("the confirmation is accepted");
    b.arrived("run now").await;
    let after = b.client.find_all(Locator::Css("#executions tbody tr")).await.expect("executions").len();
    assert_eq!(after, runs + 1, "the run is in the rule's executions");
    b.follow("button.switch.on").await;
    b.find("button.switch:not(.on)").await;
    b.screenshot("rule").await;
    b.client.goto(&format!("{base}/ui/audit")).await.expect("the audit trail");
    let audit = b.text("#audit").await;
    assert!(audit.contains("rule.disable") && audit.contains("rule.run"), "{audit}");

    let _ = browser.client.clone().close().await;
    drop(browser);
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(40), service).await;
}
