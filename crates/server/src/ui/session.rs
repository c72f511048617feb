//! Console sessions: an API key, checked once at sign-in, becomes a random session token in an
//! `HttpOnly`, `SameSite=Strict` cookie (`Secure` under TLS). The key itself never reaches the
//! browser again. Sessions live in the service's memory (a restart signs everyone out), end at
//! `session_timeout`, at sign-out, and as soon as their key is revoked; every state-changing form
//! carries the session's CSRF token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use store::Role;

use crate::auth::{self, Principal, digest};
use crate::state::AppState;
use crate::ui::UiError;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "vigil_session";

/// The sign-in form's CSRF cookie: the form carries the same random value (a double submit),
/// so that another site cannot sign a browser in with a key of its choosing.
const LOGIN_COOKIE: &str = "vigil_login";

/// The most sessions kept at once; the oldest goes when a new one would pass it.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Clone, Debug)]
struct Session {
    principal: Principal,
    csrf: String,
    expires: Instant,
}

/// Every live session, by the digest of its token (a memory dump shows no usable token).
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<[u8; 32], Session>>,
}

/// 256 random bits, as hex.
pub(crate) fn random_token() -> Result<String, UiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| UiError::Internal(format!("no random bytes for a session: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Sessions {
    /// A new session for `principal` lasting `lifetime`; returns its token. A token is always
    /// new, whatever cookie the browser sent (no session fixation).
    pub(crate) fn open(&self, principal: Principal, lifetime: Duration) -> Result<String, UiError> {
        let token = random_token()?;
        let session = Session { principal, csrf: random_token()?, expires: Instant::now() + lifetime };
        let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        live.retain(|_, s| s.expires > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| *k)
        {
            live.remove(&oldest);
        }
        live.insert(digest(&token), session);
        Ok(token)
    }

    /// Ends the session of `token`, if it is live.
    pub(crate) fn close(&self, token: &str) {
        self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&digest(token));
    }

    /// Ends every session of a key.
    pub(crate) fn close_key(&self, key_id: &str) {
        let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        live.retain(|_, s| s.principal.key_id != key_id);
    }

    fn find(&self, token: &str) -> Option<Session> {
        let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = digest(token);
        match live.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                live.remove(&key);
                None
            }
            None => None,
        }
    }
}

/// The session token a request's cookies carry.
pub(crate) fn token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE)
}

/// The sign-in form's token a request's cookies carry.
pub(crate) fn login_token(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, LOGIN_COOKIE)
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.to_owned())
}

/// Whether two tokens are the same, in constant time.
pub(crate) fn same(a: &str, b: &str) -> bool {
    auth::same(&digest(a), &digest(b))
}

/// The `Set-Cookie` value that pairs a sign-in form with `token`.
pub(crate) fn login_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{LOGIN_COOKIE}={token}; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}")
}

/// The `Set-Cookie` value that hands the browser `token` for `lifetime`.
pub(crate) fn cookie(token: &str, lifetime: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}", lifetime.as_secs())
}

/// The `Set-Cookie` value that makes the browser forget its session.
pub(crate) fn forget(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// A signed-in caller: the extractor of every console page. Without a live session the page
/// answers with the sign-in form (see [`UiError::SignIn`]).
#[derive(Clone, Debug)]
pub(crate) struct Signed {
    /// Who, with which role.
    pub principal: Principal,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Signed {
    /// Whether the caller may switch and run rules and read the audit trail.
    pub(crate) fn is_admin(&self) -> bool {
        self.principal.role == Role::Admin
    }

    /// 403 unless the caller is an admin.
    pub(crate) fn admin(&self) -> Result<(), UiError> {
        if self.is_admin() {
            return Ok(());
        }
        Err(UiError::Forbidden(format!(
            "the key `{}` has the {} role; this needs admin",
            self.principal.name,
            self.principal.role.as_str()
        )))
    }

    /// 403 unless `sent` is this session's CSRF token (compared in constant time).
    pub(crate) fn check(&self, sent: &str) -> Result<(), UiError> {
        if same(sent, &self.csrf) {
            return Ok(());
        }
        Err(UiError::Forbidden("the form's CSRF token is missing or stale: reload the page and try again".into()))
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Signed, UiError> {
        let session = token(&parts.headers).and_then(|t| state.sessions.find(&t)).ok_or(UiError::SignIn)?;
        // A key revoked since sign-in ends its sessions now.
        let access = state.access.clone();
        let key_id = session.principal.key_id.clone();
        let key = state.blocking(move || access.key(&key_id)).await.map_err(UiError::Api)?;
        if key.is_none_or(|(k, _)| k.revoked.is_some()) {
            state.sessions.close_key(&session.principal.key_id);
            return Err(UiError::SignIn);
        }
        Ok(Signed { principal: session.principal, csrf: session.csrf })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal { key_id: "k1".into(), name: "alice".into(), role: Role::Analyst }
    }

    #[test]
    fn sessions_end_at_sign_out_expiry_and_revocation() {
        let sessions = Sessions::default();
        let token = sessions.open(alice(), Duration::from_secs(60)).expect("random");
        assert!(sessions.find(&token).is_some());
        assert!(sessions.find("not-a-token").is_none());
        sessions.close(&token);
        assert!(sessions.find(&token).is_none(), "reused after sign out");
        let expired = sessions.open(alice(), Duration::ZERO).expect("random");
        assert!(sessions.find(&expired).is_none());
        let (a, b) = (sessions.open(alice(), Duration::from_secs(60)), sessions.open(alice(), Duration::from_secs(60)));
        let (a, b) = (a.expect("random"), b.expect("random"));
        assert_ne!(a, b);
        sessions.close_key("k1");
        assert!(sessions.find(&a).is_none() && sessions.find(&b).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_under_tls() {
        let plain = cookie("abc", Duration::from_secs(3600), false);
        assert_eq!(plain, "vigil_session=abc; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=3600");
        assert!(cookie("abc", Duration::from_secs(1), true).ends_with("; Secure"));
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "theme=dark; vigil_session=abc".parse().expect("a header"));
        assert_eq!(token(&headers).as_deref(), Some("abc"));
    }

    #[test]
    fn a_form_needs_its_sessions_csrf_token() {
        let signed = Signed { principal: alice(), csrf: "t0k3n".into() };
        assert!(signed.check("t0k3n").is_ok());
        assert!(signed.check("").is_err() && signed.check("other").is_err());
        assert!(signed.admin().is_err());
    }
}
