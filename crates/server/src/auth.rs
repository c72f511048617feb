//! Who is calling, and may they: API keys, their roles, and the check every route goes through.
//!
//! A key is `vgl_<id>_<secret>`: the id finds it, the secret proves it. Only `sha256(secret)` is
//! stored (the secret is 256 random bits, so a plain digest is as strong as a slow hash, and
//! checking it costs nothing per request). Clients send it as Elasticsearch's clients do
//! (`Authorization: ApiKey <key>` or `ApiKey base64(id:secret)`), as `Bearer <key>`, or, for
//! log shippers configured with a user and password, as `Basic` with the key as the password.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ecs::date::Timestamp;
use sha2::{Digest, Sha256};
use store::{ApiKey, Role};

use crate::error::ApiError;
use crate::state::AppState;

/// The caller, once its key is checked: handlers read it from the request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The key's id.
    pub key_id: String,
    /// The key's name.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

impl Principal {
    /// How the audit trail and alert histories name the caller: `alice (k3f9a1c2e7b4)`.
    pub fn actor(&self) -> String {
        format!("{} ({})", self.name, self.key_id)
    }
}

/// A new key named `name` with `role`: the key to store, the digest of its secret, and the token
/// to hand out once.
///
/// # Errors
///
/// When the operating system gives no random bytes.
pub fn generate(name: &str, role: Role, now: Timestamp) -> Result<(ApiKey, [u8; 32], String), String> {
    let mut bytes = [0u8; 38];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random bytes for a key: {e}"))?;
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let (id, secret) = (hex(&bytes[..6]), hex(&bytes[6..]));
    let key = ApiKey { id: id.clone(), name: name.to_owned(), role, created: now, revoked: None };
    Ok((key, digest(&secret), format!("vgl_{id}_{secret}")))
}

pub(crate) fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Splits `vgl_<id>_<secret>` or `<id>:<secret>`.
fn split(token: &str) -> Option<(&str, &str)> {
    if let Some(rest) = token.strip_prefix("vgl_") {
        return rest.split_once('_');
    }
    token.split_once(':')
}

/// The key id and secret an `Authorization` header carries.
fn credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    let decoded =
        || base64::engine::general_purpose::STANDARD.decode(rest).ok().and_then(|b| String::from_utf8(b).ok());
    let owned = |(id, secret): (&str, &str)| Some((id.to_owned(), secret.to_owned()));
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => split(rest).and_then(owned),
        "apikey" => match split(rest) {
            Some(pair) => owned(pair),
            None => decoded().and_then(|text| split(&text).and_then(owned)),
        },
        // The password is the key; the user name may be anything (or the key's id).
        "basic" => decoded().and_then(|text| {
            let (_, password) = text.split_once(':')?;
            split(password).and_then(owned)
        }),
        _ => None,
    }
}

/// What a route asks of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Nothing: the health check.
    Nothing,
    /// A live key of any role: a path no route has, answered 404 for every role (so that a
    /// shipper calling an Elasticsearch route vigil lacks hears "not found", not "forbidden").
    AnyKey,
    /// A key of this role, or an admin's.
    Role(Role),
}

/// What a route needs, by the route the request matched (its template, `/api/v1/rules/{id}`, not
/// the path asked for, so that a rule id such as `_bulk` cannot pass for another route).
pub(crate) fn required(method: &Method, route: Option<&str>) -> Need {
    let read = method == Method::GET || method == Method::HEAD;
    Need::Role(match route {
        None => return Need::AnyKey,
        Some("/api/v1/health") => return Need::Nothing,
        // The console checks its own sessions (`ui::session`), and roles in its handlers.
        Some(route) if crate::ui::is_console(route) => return Need::Nothing,
        Some(route) if is_elasticsearch(route) => Role::Ingest,
        Some("/api/v1/events") if !read => Role::Ingest,
        Some("/api/v1/alerts/status") => Role::Analyst,
        // Analysts add exceptions, as Kibana's "Add rule exception"; only admins remove them.
        Some("/api/v1/alerts/{id}/exception" | "/api/v1/exceptions/{list_id}/items" | "/api/v1/exceptions/_test")
            if method == Method::POST =>
        {
            Role::Analyst
        }
        // Analysts retry a notification that failed; connector tests are for admins.
        Some("/api/v1/notifications/{id}/_retry") => Role::Analyst,
        Some("/api/v1/audit") => Role::Admin,
        _ if read => Role::Analyst,
        _ => Role::Admin,
    })
}

/// The routes of the Elasticsearch surface, which shippers call with their ingest keys.
pub(crate) fn is_elasticsearch(route: &str) -> bool {
    matches!(
        route,
        "/" | "/_bulk"
            | "/{index}/_bulk"
            | "/_license"
            | "/_cluster/health"
            | "/{index}/_refresh"
            | "/_nodes/http"
            | "/_index_template/{name}"
    )
}

/// Whether `role` may do what `needed` asks: admin may do anything; analyst and ingest only
/// their own.
fn allows(role: Role, needed: Need) -> bool {
    match needed {
        Need::Nothing | Need::AnyKey => true,
        Need::Role(needed) => role == Role::Admin || role == needed,
    }
}

/// Constant time, so that how long a comparison takes says nothing of the digest.
pub(crate) fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the caller of every route but the health check: 401 without a valid live key, 403
/// when its role does not cover the route. The caller goes into the request's extensions.
pub async fn check(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let needed = required(request.method(), route.as_deref());
    if needed == Need::Nothing {
        return next.run(request).await;
    }
    let Some((id, secret)) = credentials(request.headers()) else {
        return unauthorized(
            "send an API key: `Authorization: ApiKey <key>` (or Bearer, or Basic with the key as password)",
        );
    };
    let principal = match verify(&state, id, &secret).await {
        Ok(Ok(principal)) => principal,
        Ok(Err(reason)) => return unauthorized(reason),
        Err(err) => return err.into_response(),
    };
    if let Need::Role(role) = needed
        && !allows(principal.role, needed)
    {
        let reason = format!(
            "the key `{}` has the {} role; this needs {}",
            principal.name,
            principal.role.as_str(),
            role.as_str()
        );
        return ApiError::Forbidden(reason).into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// The caller a key id and secret prove, or why they prove none.
async fn verify(state: &AppState, id: String, secret: &str) -> Result<Result<Principal, &'static str>, ApiError> {
    let access = state.access.clone();
    let found = state.blocking(move || access.key(&id)).await?;
    Ok(match found {
        Some((key, stored)) if key.revoked.is_none() && same(&stored, &digest(secret)) => {
            Ok(Principal { key_id: key.id, name: key.name, role: key.role })
        }
        Some((key, _)) if key.revoked.is_some() => Err("this API key was revoked"),
        _ => Err("unknown API key"),
    })
}

/// The caller a key as it was handed out (`vgl_<id>_<secret>`, or `<id>:<secret>`) proves: the
/// console's sign-in.
///
/// # Errors
///
/// [`ApiError::Store`] when the store fails.
pub(crate) async fn sign_in(state: &AppState, key: &str) -> Result<Result<Principal, &'static str>, ApiError> {
    match split(key.trim()) {
        Some((id, secret)) => verify(state, id.to_owned(), secret).await,
        None => Ok(Err("that is not an API key (vgl_…)")),
    }
}

fn unauthorized(reason: &str) -> Response {
    let mut response = ApiError::Unauthorized(reason.to_owned()).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("ApiKey, Bearer, Basic realm=\"vigil\" charset=\"UTF-8\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().expect("a header value"));
        headers
    }

    #[test]
    fn keys_are_read_in_every_accepted_form() {
        let pair = Some(("k1".to_owned(), "s3cret".to_owned()));
        assert_eq!(credentials(&headers("ApiKey vgl_k1_s3cret")), pair);
        assert_eq!(credentials(&headers("Bearer vgl_k1_s3cret")), pair);
        let es = base64::engine::general_purpose::STANDARD.encode("k1:s3cret");
        assert_eq!(credentials(&headers(&format!("ApiKey {es}"))), pair);
        let basic = base64::engine::general_purpose::STANDARD.encode("filebeat:vgl_k1_s3cret");
        assert_eq!(credentials(&headers(&format!("Basic {basic}"))), pair);
        assert_eq!(credentials(&headers("Basic !!")), None);
        assert_eq!(credentials(&headers("Digest x")), None);
        assert_eq!(credentials(&HeaderMap::new()), None);
    }

    #[test]
    fn routes_need_the_roles_the_issue_gives() {
        let get = |route| required(&Method::GET, Some(route));
        let post = |route| required(&Method::POST, Some(route));
        let role = Need::Role;
        assert_eq!(get("/api/v1/health"), Need::Nothing);
        assert_eq!((get("/ui/alerts"), post("/ui/rules/{id}/run")), (Need::Nothing, Need::Nothing));
        assert_eq!((post("/_bulk"), post("/{index}/_bulk")), (role(Role::Ingest), role(Role::Ingest)));
        assert_eq!((post("/api/v1/events"), get("/api/v1/events")), (role(Role::Ingest), role(Role::Analyst)));
        assert_eq!(post("/api/v1/alerts/status"), role(Role::Analyst));
        assert_eq!(post("/api/v1/alerts/{id}/exception"), role(Role::Analyst));
        assert_eq!(post("/api/v1/exceptions/{list_id}/items"), role(Role::Analyst));
        assert_eq!(post("/api/v1/exceptions/_import"), role(Role::Admin));
        assert_eq!(required(&Method::DELETE, Some("/api/v1/exceptions/{list_id}/items/{item_id}")), role(Role::Admin));
        assert_eq!(post("/api/v1/rules/{id}/disable"), role(Role::Admin));
        assert_eq!((get("/api/v1/audit"), get("/metrics")), (role(Role::Admin), role(Role::Analyst)));
        // A rule whose id is `_bulk` is a rule, not the bulk route.
        assert_eq!(get("/api/v1/rules/{id}"), role(Role::Analyst));
        assert_eq!((required(&Method::GET, None), required(&Method::DELETE, None)), (Need::AnyKey, Need::AnyKey));
        assert!(allows(Role::Admin, role(Role::Ingest)) && !allows(Role::Analyst, role(Role::Ingest)));
        assert!(!allows(Role::Ingest, role(Role::Analyst)) && !allows(Role::Analyst, role(Role::Admin)));
        assert!(allows(Role::Ingest, Need::AnyKey));
    }

    #[test]
    fn generated_keys_hold_their_id_and_a_256_bit_secret() {
        let (key, stored, token) = generate("alice", Role::Analyst, Timestamp::from_millis(0)).expect("random");
        let (id, secret) = split(&token).expect("a token");
        assert_eq!((id, key.id.as_str(), secret.len()), (key.id.as_str(), id, 64));
        assert!(same(&stored, &digest(secret)));
        let (other, _, _) = generate("bob", Role::Admin, Timestamp::from_millis(0)).expect("random");
        assert_ne!(key.id, other.id);
    }
}
