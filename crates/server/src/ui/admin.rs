//! Signing in and out, the Office 365 pulls, and the audit trail (admin).

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use store::Role;

use crate::auth;
use crate::routes::pulls;
use crate::state::AppState;
use crate::ui::session::{self, Signed};
use crate::ui::{Chrome, UiError, back, format, html};

#[derive(Template)]
#[template(path = "login.html")]
struct Login {
    error: Option<String>,
    csrf: String,
}

/// The sign-in form with a new CSRF token (in the form and in its cookie), answering `status`.
fn login_page(state: &AppState, status: StatusCode, error: Option<String>) -> Result<Response, UiError> {
    let csrf = session::random_token()?;
    let mut response = html(&Login { error, csrf: csrf.clone() })?;
    *response.status_mut() = status;
    let cookie = session::login_cookie(&csrf, state.config.tls.is_some());
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie.parse().map_err(|_| UiError::Internal("a cookie".into()))?);
    Ok(response)
}

pub(crate) async fn login_form(State(state): State<AppState>) -> Result<Response, UiError> {
    login_page(&state, StatusCode::OK, None)
}

/// The sign-in form, as sent.
#[derive(Debug, Deserialize)]
pub(crate) struct Credentials {
    key: String,
    csrf: String,
}

/// Checks the form's token and the key; an analyst's or admin's key opens a new session
/// (whatever session cookie came with the form), an ingest key or a wrong one shows the form
/// again with why.
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Result<Response, UiError> {
    if !session::login_token(&headers).is_some_and(|t| session::same(&t, &form.csrf)) {
        let stale = "the sign-in form is stale or came from another site: sign in again".to_owned();
        return login_page(&state, StatusCode::FORBIDDEN, Some(stale));
    }
    let principal = match auth::sign_in(&state, &form.key).await? {
        Ok(principal) => principal,
        Err(reason) => return login_page(&state, StatusCode::UNAUTHORIZED, Some(reason.to_owned())),
    };
    if principal.role == Role::Ingest {
        let reason = "this key has the ingest role: the console needs an analyst or admin key".to_owned();
        return login_page(&state, StatusCode::UNAUTHORIZED, Some(reason));
    }
    if let Some(old) = session::token(&headers) {
        state.sessions.close(&old);
    }
    let lifetime = state.config.session_timeout.as_duration();
    state.audit(principal.actor(), "console.sign_in", "console".into(), None).await?;
    let token = state.sessions.open(principal, lifetime)?;
    let mut response = back(None, "/ui/");
    let cookie = session::cookie(&token, lifetime, state.config.tls.is_some());
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie.parse().map_err(|_| UiError::Internal("a cookie".into()))?);
    Ok(response)
}

/// A form with only its CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct Token {
    csrf: String,
}

/// Ends the session: its token is dead on the server, whatever the browser keeps.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    signed: Signed,
    Form(form): Form<Token>,
) -> Result<Response, UiError> {
    signed.check(&form.csrf)?;
    if let Some(token) = session::token(&headers) {
        state.sessions.close(&token);
    }
    state.audit(signed.principal.actor(), "console.sign_out", "console".into(), None).await?;
    let mut response = back(None, "/ui/login");
    let forget = session::forget(state.config.tls.is_some());
    response
        .headers_mut()
        .insert(header::SET_COOKIE, forget.parse().map_err(|_| UiError::Internal("a cookie".into()))?);
    Ok(response.into_response())
}

#[derive(Template)]
#[template(path = "o365.html")]
struct O365 {
    chrome: Chrome,
    tenants: Vec<pulls::TenantPulls>,
}

pub(crate) async fn o365(State(state): State<AppState>, signed: Signed) -> Result<Response, UiError> {
    let tenants = pulls::tenants(&state).await?.tenants;
    html(&O365 { chrome: Chrome::new("o365", &signed), tenants })
}

/// One change in the trail.
pub(crate) struct Change {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct Audit {
    chrome: Chrome,
    changes: Vec<Change>,
}

pub(crate) async fn audit(State(state): State<AppState>, signed: Signed) -> Result<Response, UiError> {
    signed.admin()?;
    let access = state.access.clone();
    let entries = state.blocking(move || access.audit_trail(500)).await?;
    let changes = entries
        .into_iter()
        .map(|e| Change {
            at: format::time(e.at),
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail.unwrap_or_default(),
        })
        .collect();
    html(&Audit { chrome: Chrome::new("audit", &signed), changes })
}
