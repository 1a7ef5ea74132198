//! Dashboard users, their passwords and their sessions.
//!
//! Passwords are hashed with Argon2id (PHC string, salt inside) and never stored or logged in
//! the clear. A session is a random 256-bit token held by the browser in an HttpOnly cookie; the
//! store keeps only its SHA-256, so a copy of the database signs nobody in.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::access::Role;
use crate::event::TenantId;
use crate::hash::{Hash, sha256};
use crate::store::StoreError;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (Argon2 is fed the whole password; this bounds its cost).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A dashboard user (without the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub tenant: TenantId,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// A signed-in browser's session, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie's token.
    pub token_hash: Hash,
    pub tenant: TenantId,
    pub user_id: String,
    /// Sent back by the browser in `X-CSRF-Token` on unsafe requests.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Absolute expiry; the idle expiry counts from `last_seen_at`.
    pub expires_at: DateTime<Utc>,
}

/// Why a user could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("the tenant already has a user named {0:?}")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Users and sessions, each scoped to a tenant.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Stores a new user with its password hash.
    async fn create_user(&self, user: &User, password_hash: &str) -> Result<(), UserError>;
    /// Creates `user` only when no user exists at all (first start); `false` when one does.
    async fn create_first_user(&self, user: &User, password_hash: &str) -> Result<bool, StoreError>;
    /// The user and its password hash, by tenant and name.
    async fn find_user(&self, tenant: &TenantId, username: &str) -> Result<Option<(User, String)>, StoreError>;
    async fn get_user(&self, tenant: &TenantId, id: &str) -> Result<Option<User>, StoreError>;
    /// The tenant's users, or every user when `tenant` is `None` (the operator's CLI).
    async fn list_users(&self, tenant: Option<&TenantId>) -> Result<Vec<User>, StoreError>;
    /// Replaces the password hash; ends the user's sessions. `false` when there is no such user.
    async fn set_password(&self, tenant: &TenantId, id: &str, password_hash: &str) -> Result<bool, StoreError>;
    /// Disables or enables the user; disabling ends its sessions. `false` when there is no such user.
    async fn set_disabled(&self, tenant: &TenantId, id: &str, disabled: bool) -> Result<bool, StoreError>;

    async fn create_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The session and its user, when the session exists (expiry is the caller's to check).
    async fn find_session(&self, token_hash: &Hash) -> Result<Option<(Session, User)>, StoreError>;
    /// Records activity on the session (the idle expiry counts from it).
    async fn touch_session(&self, token_hash: &Hash, now: DateTime<Utc>) -> Result<(), StoreError>;
    async fn delete_session(&self, token_hash: &Hash) -> Result<(), StoreError>;
}

/// Hashes a password with Argon2id and a fresh random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| format!("no randomness for a salt: {error}"))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|error| format!("cannot encode the salt: {error}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| format!("cannot hash the password: {error}"))
}

/// Whether `password` matches the stored PHC hash. A malformed hash matches nothing.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
}

/// Refuses passwords too short or too long to be hashed safely.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("a password needs at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("a password has at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// Refuses user names that are empty, long, or hold characters other than letters, digits and
/// `. _ - @`.
pub fn check_username(username: &str) -> Result<(), String> {
    let valid = !username.is_empty()
        && username.len() <= 64
        && username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid {
        Ok(())
    } else {
        Err("a user name has 1 to 64 characters: letters, digits, `.`, `_`, `-` or `@`".to_owned())
    }
}

/// The stored form of a session token.
pub fn session_token_hash(token: &str) -> Hash {
    sha256(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterz", &hash));
        assert!(!verify_password("correct horse battery", "not a phc string"));
        assert_ne!(hash, hash_password("correct horse battery").expect("hash"), "salted");
    }

    #[test]
    fn names_and_passwords_are_checked() {
        assert!(check_username("alice@example.com").is_ok());
        for bad in ["", "has space", "semi;colon", &"x".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
        assert!(check_password("short").is_err());
        assert!(check_password("long enough pw").is_ok());
        assert!(check_password(&"x".repeat(2000)).is_err());
    }
}
