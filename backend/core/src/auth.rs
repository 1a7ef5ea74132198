//! API keys and their scopes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::TenantId;
use crate::hash::{Hash, sha256};

/// What a key may do. `admin` implies the others within its tenant. `triage` (anomaly feedback,
/// which can silence a subject's alerts) is its own scope: reading never implies changing.
/// `operator` (jobs over every tenant) is the server operator's: it is never implied by `admin`,
/// and only the command line grants it (see [`Scopes::grantable_by_tenant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Scopes {
    pub ingest: bool,
    pub read: bool,
    pub triage: bool,
    pub admin: bool,
    pub operator: bool,
}

impl Scopes {
    pub const INGEST: Scopes = Scopes { ingest: true, ..Scopes::NONE };
    pub const READ: Scopes = Scopes { read: true, ..Scopes::NONE };
    pub const TRIAGE: Scopes = Scopes { triage: true, ..Scopes::NONE };
    pub const ADMIN: Scopes = Scopes { ingest: true, read: true, triage: true, admin: true, operator: false };
    pub const OPERATOR: Scopes = Scopes { operator: true, ..Scopes::NONE };
    const NONE: Scopes = Scopes { ingest: false, read: false, triage: false, admin: false, operator: false };

    /// Tells whether a key with these scopes may do what `needed` asks.
    pub fn allows(&self, needed: Scopes) -> bool {
        (!needed.operator || self.operator)
            && (self.admin
                || ((!needed.ingest || self.ingest)
                    && (!needed.read || self.read)
                    && (!needed.triage || self.triage)
                    && !needed.admin))
    }

    /// Whether a tenant's admin may hand out these scopes (through the API): everything but
    /// `operator`, which reaches beyond the tenant.
    pub fn grantable_by_tenant(&self) -> bool {
        !self.operator
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.ingest, "ingest"),
            (self.read, "read"),
            (self.triage, "triage"),
            (self.admin, "admin"),
            (self.operator, "operator"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Scopes {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let mut scopes = Scopes::default();
        for name in raw.split(',').map(str::trim).filter(|name| !name.is_empty()) {
            match name {
                "ingest" => scopes.ingest = true,
                "read" => scopes.read = true,
                "triage" => scopes.triage = true,
                "admin" => scopes.admin = true,
                "operator" => scopes.operator = true,
                other => {
                    return Err(format!("unknown scope {other:?}: use ingest, read, triage, admin or operator"));
                }
            }
        }
        if scopes == Scopes::default() {
            return Err("at least one scope is needed: ingest, read, triage, admin or operator".to_owned());
        }
        Ok(scopes)
    }
}

/// A stored API key (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// Public identifier, shown in listings and used to revoke.
    pub id: String,
    pub tenant: TenantId,
    pub name: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Returns the hash under which a key is stored. Keys are random with 192 bits or more of
/// entropy (or an operator's bootstrap secret), so a plain SHA-256 suffices; no salt is needed.
pub fn hash_api_key(secret: &str) -> Hash {
    sha256(secret.as_bytes())
}

/// Returns the public id of a key: the first 12 hex digits of its hash.
pub fn key_id_for(key_hash: &Hash) -> String {
    key_hash.to_hex()[..12].to_owned()
}

/// Generates a new key secret: `vt_` and 48 hex digits (192 random bits).
pub fn generate_key_secret() -> Result<String, String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|err| format!("no randomness available: {err}"))?;
    Ok(format!("vt_{}", hex::encode(bytes)))
}

/// The record and stored hash of a new key with `secret`.
pub fn new_api_key(tenant: TenantId, name: &str, scopes: Scopes, secret: &str) -> (ApiKey, Hash) {
    let key_hash = hash_api_key(secret);
    let key = ApiKey {
        id: key_id_for(&key_hash),
        tenant,
        name: name.to_owned(),
        scopes,
        created_at: crate::event::normalize_time(chrono::Utc::now()),
        revoked_at: None,
    };
    (key, key_hash)
}
