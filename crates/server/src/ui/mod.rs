//! The web console at `/ui/`: pages rendered on the server from compile-time-checked templates
//! (`templates/`, askama, escaped by default), one stylesheet and one small script served from
//! the binary (`assets/`), no inline script or style, nothing from another host.
//!
//! The console reads and changes what the API does, through the same functions
//! (`routes::alerts::search`, `routes::alerts::change_status`, `routes::rules::switch`, ...) and
//! the same store traits; it only adds sessions (`session.rs`) and HTML. One module per page
//! group: `overview`, `alerts` (the table and the alert page), `events`, `rules` (with the
//! ATT&CK matrix), `admin` (Office 365 pulls and the audit trail).

mod admin;
mod alerts;
mod events;
mod format;
pub mod markdown;
mod overview;
mod rules;
pub(crate) mod session;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::state::AppState;

pub use session::Sessions;

/// The console's routes, under `/ui`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(overview::page))
        .route("/ui/login", get(admin::login_form).post(admin::login))
        .route("/ui/logout", post(admin::logout))
        .route("/ui/alerts", get(alerts::table))
        .route("/ui/alerts/status", post(alerts::triage))
        .route("/ui/alerts/{id}", get(alerts::page))
        .route("/ui/alerts/{id}/exception", post(alerts::exception))
        .route("/ui/events", get(events::search))
        .route("/ui/events/{seq}", get(events::page))
        .route("/ui/rules", get(rules::table))
        .route("/ui/rules/{id}", get(rules::page))
        .route("/ui/rules/{id}/switch", post(rules::switch))
        .route("/ui/rules/{id}/run", post(rules::run))
        .route("/ui/attack", get(rules::attack))
        .route("/ui/o365", get(admin::o365))
        .route("/ui/audit", get(admin::audit))
        .route("/ui/assets/{name}", get(asset))
        .route("/ui/{*rest}", get(|| async { UiError::NotFound("no such page".into()) }))
}

/// Whether a matched route is the console's (which checks sessions, not API keys).
pub(crate) fn is_console(route: &str) -> bool {
    route == "/ui" || route.starts_with("/ui/")
}

/// What a console page answers when it cannot show itself.
#[derive(Debug)]
pub(crate) enum UiError {
    /// No live session: the sign-in form.
    SignIn,
    /// The role does not allow it, or the form's CSRF token is wrong.
    Forbidden(String),
    /// No such thing.
    NotFound(String),
    /// What the API would have answered.
    Api(ApiError),
    /// A bug or the machine.
    Internal(String),
}

impl From<ApiError> for UiError {
    fn from(err: ApiError) -> UiError {
        UiError::Api(err)
    }
}

/// The page a [`UiError`] shows.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: &'static str,
    message: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            UiError::SignIn => return Redirect::to("/ui/login").into_response(),
            UiError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            UiError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            UiError::Internal(m) => {
                tracing::error!(detail = %m, "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", m)
            }
            UiError::Api(err) => {
                err.log();
                let (status, _) = err.status();
                (status, "Something went wrong", err.to_string())
            }
        };
        match (ErrorPage { title, message }).render() {
            Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
            Err(_) => status.into_response(),
        }
    }
}

/// A rendered page.
pub(crate) fn html(page: &impl Template) -> Result<Response, UiError> {
    let body = page.render().map_err(|e| UiError::Internal(format!("a page did not render: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

/// Back to `to` after a form, only ever within the console (no open redirect).
pub(crate) fn back(to: Option<&str>, default: &str) -> Response {
    let to = to.filter(|t| t.starts_with("/ui/") && !t.starts_with("/ui//") && !t.contains('\\')).unwrap_or(default);
    Redirect::to(to).into_response()
}

/// The headers of every console answer: a strict Content-Security-Policy (scripts and styles
/// only from the console's own files), no framing, no referrer to other sites, no sniffing, no caching. A
/// state-changing request from another origin is refused before it reaches a handler (the CSRF
/// token is checked by each form too).
pub(crate) async fn guard(request: Request, next: Next) -> Response {
    let console = request.uri().path() == "/ui" || request.uri().path().starts_with("/ui/");
    if console && request.method() != Method::GET && request.method() != Method::HEAD && !same_origin(&request) {
        return UiError::Forbidden("a form from another site: refused".into()).into_response();
    }
    let mut response = next.run(request).await;
    if console {
        let headers = response.headers_mut();
        let set = |headers: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
            headers.insert(name, HeaderValue::from_static(value));
        };
        set(
            headers,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        );
        set(headers, header::X_FRAME_OPTIONS, "DENY");
        // Not `no-referrer`: with it browsers send `Origin: null` on the console's own forms.
        set(headers, header::REFERRER_POLICY, "same-origin");
        set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
        if !headers.contains_key(header::CACHE_CONTROL) {
            set(headers, header::CACHE_CONTROL, "no-store");
        }
    }
    response
}

/// Whether a request's `Origin` (or, without one, its `Referer`) is this server. Browsers send
/// `Origin` with every form post; a request with neither is not from a page of another site.
fn same_origin(request: &Request) -> bool {
    let headers = request.headers();
    // HTTP/2 carries the host in the URI's authority, HTTP/1.1 in `Host`.
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let Some(host) = host.or_else(|| request.uri().authority().map(|a| a.as_str())) else { return false };
    let from = headers.get(header::ORIGIN).or_else(|| headers.get(header::REFERER)).and_then(|h| h.to_str().ok());
    match from {
        None => true,
        Some(from) => {
            let rest = from.split_once("://").map_or("", |(_, rest)| rest);
            rest.split('/').next() == Some(host)
        }
    }
}

/// A browser asking for `/` (HTML, no API key) is sent to the console; Elasticsearch clients
/// and shippers, which send a key, get the cluster information they check before sending.
pub(crate) async fn front_door(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let browser = request.uri().path() == "/"
        && request.method() == Method::GET
        && !headers.contains_key(header::AUTHORIZATION)
        && headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if browser {
        return Redirect::to("/ui/").into_response();
    }
    next.run(request).await
}

/// The console's stylesheet and script, from the binary.
async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind): (&'static str, &str) = match name.as_str() {
        "vigil.css" => (include_str!("../../assets/vigil.css"), "text/css; charset=utf-8"),
        "vigil.js" => (include_str!("../../assets/vigil.js"), "text/javascript; charset=utf-8"),
        _ => return UiError::NotFound(format!("no asset `{name}`")).into_response(),
    };
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(kind).unwrap_or(HeaderValue::from_static("text/plain")));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
    response
}

/// What every signed-in page shows around itself: who, what they may do, the sign-out form.
#[derive(Clone, Debug)]
pub(crate) struct Chrome {
    /// The page's navigation entry (`alerts`, `rules`, ...).
    pub active: &'static str,
    /// The caller's key name.
    pub name: String,
    /// `analyst` or `admin`.
    pub role: &'static str,
    /// Whether admin-only controls show.
    pub admin: bool,
    /// The session's CSRF token, for forms.
    pub csrf: String,
}

impl Chrome {
    /// The chrome of `active` for `signed`.
    pub(crate) fn new(active: &'static str, signed: &session::Signed) -> Chrome {
        Chrome {
            active,
            name: signed.principal.name.clone(),
            role: signed.principal.role.as_str(),
            admin: signed.is_admin(),
            csrf: signed.csrf.clone(),
        }
    }

    /// The navigation, with whether each entry is the page's.
    pub(crate) fn nav(&self) -> Vec<(&'static str, &'static str, &'static str, bool)> {
        let mut entries = vec![
            ("overview", "/ui/", "Overview"),
            ("alerts", "/ui/alerts", "Alerts"),
            ("events", "/ui/events", "Events"),
            ("rules", "/ui/rules", "Rules"),
            ("attack", "/ui/attack", "ATT&CK"),
            ("o365", "/ui/o365", "Office 365"),
        ];
        if self.admin {
            entries.push(("audit", "/ui/audit", "Audit"));
        }
        entries.into_iter().map(|(id, href, label)| (id, href, label, id == self.active)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_only_send_back_within_the_console() {
        let location = |r: Response| r.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).map(str::to_owned);
        assert_eq!(location(back(Some("/ui/alerts?status=open"), "/ui/")).as_deref(), Some("/ui/alerts?status=open"));
        for evil in ["https://evil.example/", "//evil.example/", "/ui//evil.example", "/ui/\\evil", "/api/v1/keys"] {
            assert_eq!(location(back(Some(evil), "/ui/")).as_deref(), Some("/ui/"), "{evil}");
        }
    }

    #[test]
    fn posts_from_other_sites_are_refused() {
        let post = |origin: Option<&str>| {
            let mut builder = Request::post("/ui/logout").header(header::HOST, "vigil.local:9270");
            if let Some(origin) = origin {
                builder = builder.header(header::ORIGIN, origin);
            }
            same_origin(&builder.body(Body::empty()).expect("a request"))
        };
        assert!(post(Some("https://vigil.local:9270")) && post(None));
        assert!(!post(Some("https://evil.example")) && !post(Some("null")));
        assert!(!post(Some("https://vigil.local:9270.evil.example")));
    }
}
