//! The service's HTTP API, called through the router (no socket), every JSON answer checked
//! against the OpenAPI document the server publishes.

mod api;
mod auth;
mod console;
mod exceptions;
mod limits;
mod openapi;
mod pull;
mod realtime;
mod search;
mod service;
mod store_failure;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// A raw Office 365 record that disables DKIM signing (what the built-in rule looks for).
const DKIM_RAW: &str = r#"{"CreationTime":"2026-03-02T08:14:05","Id":"5f0c2b7e-1a2b-4c3d-9e8f-0a1b2c3d4e5f","Operation":"Set-DkimSigningConfig","OrganizationId":"t1","RecordType":1,"ResultStatus":"True","UserKey":"u1","UserType":2,"Version":1,"Workload":"Exchange","ClientIP":"203.0.113.7","ObjectId":"contoso.com","UserId":"admin@contoso.com","AppId":"","ClientAppId":"","ExternalAccess":false,"OrganizationName":"contoso.onmicrosoft.com","OriginatingServer":"SRV01","Parameters":[{"Name":"Identity","Value":"contoso.com"},{"Name":"Enabled","Value":"False"}],"SessionId":"s1"}"#;

/// The built-in DKIM rule's id.
const DKIM_RULE: &str = "514121ce-c7b6-474a-8237-68ff71672379";

/// A service on a fresh store in a temporary folder, with an admin key.
struct App {
    router: Router,
    spec: Value,
    store: Arc<store::Sqlite>,
    admin: String,
    _dir: Option<tempfile::TempDir>,
}

impl App {
    fn new() -> App {
        let dir = tempfile::tempdir().expect("a temporary folder");
        App::in_dir(dir, server::Config::default())
    }

    fn in_dir(dir: tempfile::TempDir, config: server::Config) -> App {
        let store = Arc::new(store::Sqlite::open(dir.path()).expect("the store opens"));
        let mut app = App::over(server::AppState::new(store.clone(), config), store);
        app._dir = Some(dir);
        app
    }

    /// The routes over a service's state (running elsewhere, on `store`), with a new admin key.
    fn over(state: server::AppState, store: Arc<store::Sqlite>) -> App {
        let router = server::router(state);
        let mut app = App { router, spec: server::openapi(), store, admin: String::new(), _dir: None };
        app.admin = app.key("admin", store::Role::Admin);
        app
    }

    /// A new key with `role`; returns its token.
    fn key(&self, name: &str, role: store::Role) -> String {
        use store::Access;
        let (key, digest, token) = server::generate_key(name, role, ecs::date::Timestamp::now()).expect("random bytes");
        let entry = store::AuditEntry {
            at: ecs::date::Timestamp::now(),
            actor: "test".into(),
            action: "key.create".into(),
            target: key.id.clone(),
            detail: None,
        };
        self.store.add_key(&key, &digest, &entry).expect("the key is stored");
        token
    }

    /// [`App::call_as`] with the admin key.
    async fn call(&self, method: &str, uri: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        let auth = format!("ApiKey {}", self.admin);
        self.call_as(Some(&auth), method, uri, body).await
    }

    /// Sends a request with an `Authorization` header; returns the status and the body (JSON when it is JSON, else a string),
    /// after checking a JSON body against the OpenAPI document.
    async fn call_as(
        &self,
        authorization: Option<&str>,
        method: &str,
        uri: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, Value) {
        let (status, headers, body) = self.send(authorization, method, uri, body).await;
        if headers.get("content-type").is_some_and(|t| t.as_bytes().starts_with(b"application/json"))
            && !body.is_string()
        {
            openapi::check(&self.spec, method, uri, status.as_u16(), &body);
        }
        (status, body)
    }

    /// Sends a request as [`App::call_as`] does, without checking the answer against the OpenAPI
    /// document (for paths vigil does not serve); returns its headers too.
    async fn send(
        &self,
        authorization: Option<&str>,
        method: &str,
        uri: &str,
        body: impl Into<Body>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        // JSON routes want the content type; the NDJSON ones take any.
        let mut request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        let request = request.body(body.into()).expect("a request");
        let response = self.router.clone().oneshot(request).await.expect("an answer");
        let (status, headers) = (response.status(), response.headers().clone());
        let json = headers.get("content-type").is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
        // A HEAD answer says JSON and has no body.
        let body = if json && !bytes.is_empty() {
            serde_json::from_slice(&bytes).expect("JSON")
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        (status, headers, body)
    }
}

/// Waits until `check` holds, polling; fails the test, saying `what`, after `within`.
pub async fn eventually(what: &str, within: std::time::Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
