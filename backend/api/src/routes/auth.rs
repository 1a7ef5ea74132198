//! Dashboard sign-in: `POST /api/v1/auth/login`, `POST /api/v1/auth/logout`, `GET
//! /api/v1/auth/me`.
//!
//! A wrong password, an unknown user and a disabled user get the same answer after the same
//! work (an unknown user's password is checked against a dummy hash), so the answer tells
//! nothing about which accounts exist. Failures are counted per client address and per account
//! ([`LoginThrottle`]); past the limit, sign-in answers `429 rate_limited` until the window ends.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use veritrail_core::event::TenantId;
use veritrail_core::users::{Session, User, hash_password, session_token_hash, verify_password};

use crate::AppState;
use crate::auth::{Caller, Principal, SESSION_COOKIE};
use crate::error::{ApiError, ErrorCode};
use crate::extract::JsonBody;

/// Failed sign-ins allowed per client address within [`FAILURE_WINDOW`].
const MAX_FAILURES_PER_ADDRESS: u32 = 20;
/// Failed sign-ins allowed per account within [`FAILURE_WINDOW`].
const MAX_FAILURES_PER_ACCOUNT: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Bound on remembered addresses and accounts, so random names cannot grow memory.
const MAX_TRACKED: usize = 100_000;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/me", get(me))
}

/// Counts failed sign-ins per address and per account.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl LoginThrottle {
    /// Seconds until `key` may try again, when it is over `limit`.
    fn blocked(&self, key: &str, limit: u32) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (count, since) = failures.get(key)?;
        let left = FAILURE_WINDOW.checked_sub(since.elapsed())?;
        (*count >= limit).then(|| left.as_secs().max(1))
    }

    fn fail(&self, key: String) {
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = failures.entry(key).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    fn clear(&self, key: &str) {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }
}

/// The client's address, when the server was started with connection info.
pub(crate) struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    tenant: String,
    username: String,
    password: String,
}

/// A hash no password matches, checked for unknown users so they cost what known ones do.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("veritrail-dummy-password-never-valid").unwrap_or_default())
}

fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| ApiError::internal(format!("no randomness: {error}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn rate_limited(seconds: u64) -> ApiError {
    ApiError {
        retry_after: Some(seconds),
        ..ApiError::new(ErrorCode::RateLimited, "too many failed sign-ins; wait before trying again")
    }
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let login: Login = serde_json::from_value(body)
        .map_err(|error| ApiError::new(ErrorCode::InvalidField, format!("sign-in body: {error}")))?;
    let address_key = address.map(|ip| format!("ip:{ip}"));
    let account_key = format!("account:{}/{}", login.tenant, login.username.to_lowercase());
    let throttle = &state.login_throttle;
    if let Some(seconds) = address_key.as_deref().and_then(|key| throttle.blocked(key, MAX_FAILURES_PER_ADDRESS)) {
        return Err(rate_limited(seconds));
    }
    if let Some(seconds) = throttle.blocked(&account_key, MAX_FAILURES_PER_ACCOUNT) {
        return Err(rate_limited(seconds));
    }
    let found = match TenantId::parse(&login.tenant) {
        Ok(tenant) => state.users.find_user(&tenant, &login.username).await?,
        Err(_) => None,
    };
    let (user, stored) = match &found {
        Some((user, hash)) => (Some(user), hash.clone()),
        None => (None, dummy_hash().to_owned()),
    };
    let password = login.password;
    // Argon2 takes tens of milliseconds of CPU: off the async workers.
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(|error| ApiError::internal(format!("password check failed: {error}")))?;
    let Some(user) = user.filter(|user| matches && !user.disabled) else {
        if let Some(key) = address_key {
            throttle.fail(key);
        }
        throttle.fail(account_key);
        tracing::warn!(tenant = %login.tenant, username = %login.username, address = ?address, "sign-in refused");
        return Err(ApiError::new(ErrorCode::InvalidCredentials, "wrong tenant, user name or password"));
    };
    throttle.clear(&account_key);
    let token = random_token()?;
    let now = veritrail_core::event::normalize_time(Utc::now());
    let session = Session {
        token_hash: session_token_hash(&token),
        tenant: user.tenant.clone(),
        user_id: user.id.clone(),
        csrf_token: random_token()?,
        created_at: now,
        last_seen_at: now,
        expires_at: now + state.sessions.absolute,
    };
    state.users.create_session(&session).await?;
    tracing::info!(tenant = %user.tenant, username = %user.username, "signed in");
    let cookie = session_cookie(&token, state.sessions.absolute.num_seconds(), state.sessions.secure_cookie);
    let mut response = Json(me_body(user, &session)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    if let Principal::User { session, .. } = &caller.principal {
        state.users.delete_session(&session.token_hash).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0, state.sessions.secure_cookie));
    Ok(response)
}

async fn me(caller: Caller) -> Json<Value> {
    Json(match &caller.principal {
        Principal::User { user, session } => me_body(user, session),
        Principal::Key(key) => json!({"key": key}),
    })
}

fn me_body(user: &User, session: &Session) -> Value {
    json!({"user": user, "role": user.role, "csrf_token": session.csrf_token})
}

/// The session cookie: HttpOnly (scripts cannot read it), SameSite=Strict (other sites' pages do
/// not send it), whole site, `Secure` when configured. An empty token with age 0 clears it.
fn session_cookie(token: &str, max_age_seconds: i64, secure: bool) -> HeaderValue {
    let cookie = cookie::Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .path("/")
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_seconds))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}
