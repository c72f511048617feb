//! How long the console takes to render its pages, server-side, with 100,000 alerts in the
//! store: the alerts table (default, filtered, sorted, with KQL), the overview, an alert's page.
//!
//! `cargo bench -p server --bench console`. The alerts are made here: real alert documents
//! (`engine::alert_document`) of the built-in DKIM rule over generated Office 365 events, under
//! 20 rule ids and 4 severities, created over 14 days, a quarter of them closed. Each request goes
//! through the whole router (session check, store, template) with no socket.

#![allow(clippy::print_stderr)] // a benchmark tells its operator what it is doing

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_main};
use ecs::date::Timestamp;
use engine::storage::{
    AlertStore, ExecutionRecord, ExecutionStatus, NewAlert, RuleState, StatusChange, WorkflowStatus,
};
use store::Access;
use tower::ServiceExt;

const ALERTS: usize = 100_000;
const PER_EXECUTION: usize = 1_000;

fn event(n: usize) -> serde_json::Value {
    serde_json::json!({
        "@timestamp": "2026-11-01T00:08:20.000Z",
        "event": {"dataset": "o365.audit", "module": "o365", "kind": "event", "category": ["web"], "type": ["info"],
                  "id": format!("e{n}"), "provider": "Exchange", "action": "Set-DkimSigningConfig", "code": "ExchangeAdmin",
                  "outcome": "success"},
        "organization": {"id": "b86ab9d4-fcf1-4b11-8a06-7a8f91b47fbd", "name": "contoso.onmicrosoft.com"},
        "user": {"id": format!("user{}@contoso.com", n % 500), "name": format!("user{}", n % 500), "domain": "contoso.com"},
        "source": {"ip": format!("20.207.{}.{}", n % 200, n % 250)},
        "host": {"name": "contoso.onmicrosoft.com"},
        "o365": {"audit": {"UserKey": "1003AD9389DE7BEB", "RecordType": "1", "ResultStatus": "True", "ObjectId": "contoso.com",
                            "OriginatingServer": "DM6PR11MB6584 (15.20.8466.031)", "Parameters": {"Identity": "contoso.com", "Enabled": "False"}}}
    })
}

fn fill(store: &store::Sqlite) -> String {
    let mut rule = rules::builtin().rules.remove(0);
    let now = Timestamp::now().as_nanos();
    let span = 14 * 86_400 * 1_000_000_000i64;
    let severities = ["low", "medium", "high", "critical"];
    let mut some_id = String::new();
    for batch in 0..ALERTS / PER_EXECUTION {
        let started = Timestamp::from_nanos(now - span + span / (ALERTS / PER_EXECUTION) as i64 * batch as i64);
        let mut alerts = Vec::with_capacity(PER_EXECUTION);
        for i in 0..PER_EXECUTION {
            let n = batch * PER_EXECUTION + i;
            rule.id.0 = format!("rule-{}", n % 20);
            rule.severity = rules::Severity::parse(severities[n % 4]).expect("a severity");
            let id = engine::AlertId::new("logs-o365.audit-default", &format!("e{n}"), &rule.id.0);
            let context =
                engine::AlertContext { id, index: "logs-o365.audit-default", event_id: &format!("e{n}"), now: started };
            alerts.push(NewAlert {
                id,
                rule_id: rule.id.0.clone(),
                severity: severities[n % 4].into(),
                event_time: Some(started),
                event_seq: n as u64 + 1,
                document: engine::alert_document(&rule, &event(n), &context),
                suppression_key: None,
            });
        }
        some_id = alerts[0].id.to_string();
        let record = ExecutionRecord {
            id: format!("x{batch}"),
            rule_id: "rule-0".into(),
            scheduled: started,
            started,
            window: (started, started),
            seq: (0, 0),
            events: PER_EXECUTION as u64,
            candidates: PER_EXECUTION as u64,
            alerts: PER_EXECUTION as u64,
            held_back: 0,
            late: 0,
            excepted: Vec::new(),
            notifications: 0,
            terms: 0,
            duration_ms: 1,
            status: ExecutionStatus::Succeeded,
            warnings: Vec::new(),
        };
        let state = RuleState { rule_id: "rule-0".into(), ..RuleState::default() };
        store.commit_execution(&record, &alerts, &[], &state, &[], &Default::default()).expect("stored");
        let closed: Vec<_> = alerts.iter().step_by(4).map(|a| a.id).collect();
        let change = StatusChange { status: WorkflowStatus::Closed, by: "bench".into(), at: started, note: None };
        store.set_status(&closed, &change).expect("closed");
    }
    some_id
}

fn pages(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a folder");
    let store = Arc::new(store::Sqlite::open(dir.path()).expect("the store"));
    eprintln!("filling the store with {ALERTS} alerts ...");
    let alert = fill(&store);
    let (key, digest, token) = server::generate_key("bench", store::Role::Analyst, Timestamp::now()).expect("random");
    let entry = store::AuditEntry {
        at: Timestamp::now(),
        actor: "bench".into(),
        action: "key.create".into(),
        target: key.id.clone(),
        detail: None,
    };
    store.add_key(&key, &digest, &entry).expect("a key");
    let router = server::router(server::AppState::new(store, server::Config::default()));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let call = |request: Request<Body>| {
        runtime.block_on(async {
            let response = router.clone().oneshot(request).await.expect("an answer");
            let status = response.status();
            let cookie = response.headers().get(header::SET_COOKIE).map(|c| c.to_str().unwrap_or("").to_owned());
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
            (status, cookie, body)
        })
    };
    // Sign in as a browser does: the form (its token and cookie), then the key.
    let (_, form_cookie, form) = call(Request::get("/ui/login").body(Body::empty()).expect("a request"));
    let form = String::from_utf8_lossy(&form).into_owned();
    let csrf = form.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("a token");
    let login = Request::post("/ui/login")
        .header(header::HOST, "bench")
        .header(header::COOKIE, form_cookie.expect("the form's cookie").split(';').next().expect("a cookie"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("key={token}&csrf={csrf}")))
        .expect("a request");
    let cookie = call(login).1.expect("a session").split(';').next().expect("a cookie").to_owned();
    let mut group = c.benchmark_group("console_100k_alerts");
    group.sample_size(20);
    for (name, path) in [
        ("alerts_newest", "/ui/alerts".to_owned()),
        ("alerts_open_high", "/ui/alerts?status=open&severity=high".into()),
        ("alerts_by_severity", "/ui/alerts?sort=severity".into()),
        ("alerts_rule_last_day", "/ui/alerts?rule=rule-7&since=now-1d".into()),
        ("alerts_page_1000", "/ui/alerts?offset=50000".into()),
        ("alerts_kql_last_day", "/ui/alerts?since=now-1d&q=user.name:user7*".into()),
        ("overview", "/ui/".into()),
        ("alert", format!("/ui/alerts/{alert}")),
        ("rules", "/ui/rules".into()),
    ] {
        let request =
            || Request::get(path.as_str()).header(header::COOKIE, &cookie).body(Body::empty()).expect("a request");
        let (status, _, body) = call(request());
        assert!(status.is_success(), "{path}: {status}");
        eprintln!("{name}: {} bytes", body.len());
        group.bench_function(name, |b| b.iter(|| call(request())));
    }
    group.finish();
    // KQL over every alert: a selective query (its literal in 2% of the documents), and one with
    // no literal to skip by, which decodes all 100,000 (within the default 10 s search budget).
    let mut group = c.benchmark_group("console_100k_alerts_kql_all");
    group.sample_size(10);
    for (name, path) in [
        ("alerts_kql_selective", "/ui/alerts?q=user.name:user7*"),
        ("alerts_kql_no_literal", "/ui/alerts?q=not%20user.name:user7*"),
    ] {
        let request = || Request::get(path).header(header::COOKIE, &cookie).body(Body::empty()).expect("a request");
        let (status, _, body) = call(request());
        assert!(status.is_success(), "{path}: {status}");
        eprintln!("{name}: {} bytes", body.len());
        group.bench_function(name, |b| b.iter(|| call(request())));
    }
    group.finish();
}

fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    pages(&mut criterion);
}

criterion_main!(benches);
