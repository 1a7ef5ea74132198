//! Bearer-key authentication and scope checks.
//!
//! Keys are looked up by their SHA-256. Found keys are cached for a few seconds so a busy ingest
//! path does not read the key table on every request; a revoked key therefore stops working
//! within [`KEY_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use veritrail_core::auth::{ApiKey, Scopes, hash_api_key};
use veritrail_core::event::TenantId;
use veritrail_core::hash::Hash;

use crate::AppState;
use crate::error::{ApiError, ErrorCode};

/// How long a looked-up key is trusted without asking the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
/// Bound on cached keys, so random bearer tokens cannot grow memory.
const KEY_CACHE_MAX: usize = 10_000;

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

/// The caller, authenticated by its API key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: ApiKey,
}

impl Caller {
    /// Returns the tenant whose data the caller may touch.
    pub fn tenant(&self) -> &TenantId {
        &self.key.tenant
    }

    /// Refuses the request unless the key has the `needed` scopes.
    pub fn require(&self, needed: Scopes) -> Result<(), ApiError> {
        if self.key.scopes.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("this API key has scopes [{}] but the request needs [{needed}]", self.key.scopes),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header_value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "missing Authorization: Bearer <api key> header"))?;
        let text = header_value
            .to_str()
            .map_err(|_| ApiError::new(ErrorCode::Unauthorized, "the Authorization header is not valid text"))?;
        let secret = match text.split_once(' ') {
            Some((scheme, secret)) if scheme.eq_ignore_ascii_case("bearer") && !secret.trim().is_empty() => {
                secret.trim()
            }
            _ => {
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "the Authorization header must be \"Bearer <api key>\"",
                ));
            }
        };
        let key_hash = hash_api_key(secret);
        if let Some(key) = state.key_cache.get(&key_hash) {
            return Ok(Self { key });
        }
        match state.keys.find_key(&key_hash).await? {
            Some(key) => {
                state.key_cache.put(key_hash, key.clone());
                Ok(Self { key })
            }
            None => Err(ApiError::new(ErrorCode::Unauthorized, "unknown or revoked API key")),
        }
    }
}
