//! API key commands and the first-start bootstrap key.

use anyhow::Context;
use chrono::Utc;
use veritrail_core::auth::{ApiKey, Scopes, hash_api_key, key_id_for};
use veritrail_core::event::TenantId;
use veritrail_store::Store;

/// The tenant of the bootstrap admin key.
pub const DEFAULT_TENANT: &str = "default";

/// Generates a new secret: `vt_` and 48 hex digits (192 random bits).
pub fn generate_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("no randomness available: {err}"))?;
    Ok(format!("vt_{}", hex::encode(bytes)))
}

/// Stores a key with `secret` and returns its record.
pub async fn create(
    store: &Store,
    tenant: TenantId,
    scopes: Scopes,
    name: &str,
    secret: &str,
) -> anyhow::Result<ApiKey> {
    let key_hash = hash_api_key(secret);
    let key = ApiKey {
        id: key_id_for(&key_hash),
        tenant,
        name: name.to_owned(),
        scopes,
        created_at: veritrail_core::event::normalize_time(Utc::now()),
        revoked_at: None,
    };
    store.keys.create_key(&key, &key_hash).await.context("store API key")?;
    Ok(key)
}

/// On an empty key table, creates the admin key of tenant `default`: the operator's
/// `VERITRAIL_BOOTSTRAP_KEY` if given, otherwise a generated one printed once. Safe when several
/// servers start together on one empty database: exactly one key is created.
pub async fn bootstrap(store: &Store, configured_secret: Option<String>) -> anyhow::Result<()> {
    if store.keys.count_keys().await? > 0 {
        return Ok(());
    }
    let configured = configured_secret.map(|secret| secret.trim().to_owned()).filter(|secret| !secret.is_empty());
    let secret = match &configured {
        Some(secret) => secret.clone(),
        None => generate_secret()?,
    };
    let key_hash = hash_api_key(&secret);
    let key = ApiKey {
        id: key_id_for(&key_hash),
        tenant: TenantId::parse(DEFAULT_TENANT).map_err(anyhow::Error::msg)?,
        name: "bootstrap".to_owned(),
        scopes: Scopes::ADMIN,
        created_at: veritrail_core::event::normalize_time(Utc::now()),
        revoked_at: None,
    };
    if !store.keys.create_first_key(&key, &key_hash).await.context("store bootstrap API key")? {
        return Ok(());
    }
    if configured.is_some() {
        tracing::info!(key_id = %key.id, "created admin key of tenant default from VERITRAIL_BOOTSTRAP_KEY");
    } else {
        // Printed, not logged: logs are often shipped elsewhere, and the key must be seen once.
        println!(
            "\nveritrail: created the first admin key (tenant \"default\", id {}).\n\
             It is shown only this once; store it now:\n\n    {secret}\n",
            key.id
        );
    }
    Ok(())
}
