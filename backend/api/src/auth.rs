//! Who is calling: a machine with a Bearer API key, or a person with a dashboard session cookie.
//! Both become one [`Caller`], checked by one [`Caller::require`] against a
//! [`Permission`] (key scopes and user roles map onto permissions in `veritrail_core::access`).
//!
//! Keys are looked up by their SHA-256. Found keys are cached for a few seconds so a busy ingest
//! path does not read the key table on every request; a revoked key therefore stops working
//! within [`KEY_CACHE_TTL`]. Sessions are read on every request (revocation is immediate).
//!
//! Cross-site request forgery: a cookie travels with any request the browser makes, so an unsafe
//! method (anything but GET, HEAD, OPTIONS) authenticated by the cookie must also carry the
//! session's token in `X-CSRF-Token` (a page of another site cannot read it), and its `Origin`,
//! when the browser sends one, must be this server's. The cookie is `SameSite=Strict` as well.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use chrono::Utc;
use veritrail_core::access::{Permission, Role};
use veritrail_core::auth::{ApiKey, hash_api_key};
use veritrail_core::event::TenantId;
use veritrail_core::hash::Hash;
use veritrail_core::users::{Session, User, session_token_hash};

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

/// How long a looked-up key is trusted without asking the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
/// Bound on cached keys, so random bearer tokens cannot grow memory.
const KEY_CACHE_MAX: usize = 10_000;
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "vt_session";
/// The header carrying the session's anti-forgery token on unsafe requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session's last activity is written at most this often (the idle expiry's resolution).
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// How dashboard sessions behave.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// A session unused this long is over.
    pub idle: chrono::Duration,
    /// A session is over this long after sign-in, however active.
    pub absolute: chrono::Duration,
    /// Mark the cookie `Secure` (the dashboard is served over HTTPS, directly or by a proxy).
    pub secure_cookie: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { idle: chrono::Duration::hours(2), absolute: chrono::Duration::hours(12), secure_cookie: false }
    }
}

/// Recently seen valid keys.
#[derive(Debug, Default, Clone)]
pub struct KeyCache {
    entries: Arc<Mutex<HashMap<Hash, (ApiKey, Instant)>>>,
}

impl KeyCache {
    fn get(&self, key_hash: &Hash) -> Option<ApiKey> {
        let entries = self.entries.lock().ok()?;
        entries.get(key_hash).filter(|(_, seen)| seen.elapsed() < KEY_CACHE_TTL).map(|(key, _)| key.clone())
    }

    fn put(&self, key_hash: Hash, key: ApiKey) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= KEY_CACHE_MAX {
                entries.clear();
            }
            entries.insert(key_hash, (key, Instant::now()));
        }
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A machine's API key.
    Key(ApiKey),
    /// A person signed in to the dashboard.
    User { user: User, session: Session },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
}

impl Caller {
    /// Returns the tenant whose data the caller may touch.
    pub fn tenant(&self) -> &TenantId {
        match &self.principal {
            Principal::Key(key) => &key.tenant,
            Principal::User { user, .. } => &user.tenant,
        }
    }

    /// Whether the caller has `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        match &self.principal {
            Principal::Key(key) => key.scopes.permits(permission),
            Principal::User { user, .. } => user.role.permits(permission),
        }
    }

    /// Refuses the request unless the caller has `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.may(permission) {
            return Ok(());
        }
        let held = match &self.principal {
            Principal::Key(key) => format!("this API key has scopes [{}]", key.scopes),
            Principal::User { user, .. } => format!("the role {}", user.role),
        };
        Err(ApiError::new(ErrorCode::Forbidden, format!("{held}, but the request needs the {permission} permission")))
    }

    /// Names the caller in records (feedback, logs): the key's id, or `user:<username>`.
    pub fn label(&self) -> String {
        match &self.principal {
            Principal::Key(key) => key.id.clone(),
            Principal::User { user, .. } => format!("user:{}", user.username),
        }
    }

    /// The signed-in user's role, when a person is calling.
    pub fn role(&self) -> Option<Role> {
        match &self.principal {
            Principal::Key(_) => None,
            Principal::User { user, .. } => Some(user.role),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Already authenticated by the expensive routes' gate (`expensive::admit`).
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        <Caller as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await?.ok_or_else(|| {
            ApiError::new(ErrorCode::Unauthorized, "sign in, or send an Authorization: Bearer <api key> header")
        })
    }
}

/// `Option<Caller>`, for the few routes anyone may call but that tell an authenticated caller
/// more: `None` when the request carries no credentials at all; credentials that are presented
/// but wrong are refused as for [`Caller`].
impl OptionalFromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            return key_caller(value, state).await.map(Some);
        }
        match session_token(&parts.headers) {
            Some(token) => session_caller(&token, parts, state).await.map(Some),
            None => Ok(None),
        }
    }
}

async fn key_caller(value: &header::HeaderValue, state: &AppState) -> Result<Caller, ApiError> {
    let text = value
        .to_str()
        .map_err(|_| ApiError::new(ErrorCode::Unauthorized, "the Authorization header is not valid text"))?;
    let secret = match text.split_once(' ') {
        Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") && !secret.trim().is_empty() => secret.trim(),
        _ => {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "the Authorization header must be \"Bearer <api key>\"",
            ));
        }
    };
    let key_hash = hash_api_key(secret);
    if let Some(key) = state.key_cache.get(&key_hash) {
        return Ok(Caller { principal: Principal::Key(key) });
    }
    match state.keys.find_key(&key_hash).await? {
        Some(key) => {
            state.key_cache.put(key_hash, key.clone());
            Ok(Caller { principal: Principal::Key(key) })
        }
        None => Err(ApiError::new(ErrorCode::Unauthorized, "unknown or revoked API key")),
    }
}

/// The session cookie's token, when the request carries one.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == SESSION_COOKIE && !cookie.value().is_empty())
        .map(|cookie| cookie.value().to_owned())
}

async fn session_caller(token: &str, parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let expired = || ApiError::new(ErrorCode::Unauthorized, "the session has ended; sign in again");
    let token_hash = session_token_hash(token);
    let Some((session, user)) = state.users.find_session(&token_hash).await? else {
        return Err(expired());
    };
    let now = Utc::now();
    if user.disabled || now >= session.expires_at || now - session.last_seen_at >= state.sessions.idle {
        state.users.delete_session(&token_hash).await?;
        return Err(expired());
    }
    if !is_safe(&parts.method) {
        check_same_origin(&parts.headers)?;
        let sent = parts.headers.get(CSRF_HEADER).and_then(|value| value.to_str().ok()).unwrap_or_default();
        if !constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes()) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "a signed-in request that changes something needs the session's X-CSRF-Token header",
            ));
        }
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        state.users.touch_session(&token_hash, now).await?;
    }
    Ok(Caller { principal: Principal::User { user, session } })
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a request whose `Origin` names another site than the `Host` it was sent to. Browsers
/// send `Origin` on every cross-origin request and on same-origin unsafe ones.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, authority)| authority.trim_end_matches('/'))
        .unwrap_or_default();
    if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Forbidden, "requests from another origin are refused"))
    }
}

/// Compares secrets without an early exit, so timing does not reveal a matching prefix.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "theme=dark; vt_session=abc123; other=1".parse().expect("header"));
        assert_eq!(session_token(&headers).as_deref(), Some("abc123"));
        headers.insert(header::COOKIE, "vt_session=".parse().expect("header"));
        assert_eq!(session_token(&headers), None);
    }

    #[test]
    fn origin_must_match_the_host() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().expect("header"));
        assert!(check_same_origin(&headers).is_ok(), "no Origin: not a browser's cross-site request");
        headers.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().expect("header"));
        assert!(check_same_origin(&headers).is_ok());
        headers.insert(header::ORIGIN, "https://evil.example".parse().expect("header"));
        assert!(check_same_origin(&headers).is_err());
        headers.insert(header::ORIGIN, "null".parse().expect("header"));
        assert!(check_same_origin(&headers).is_err());
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"ab"));
    }
}
