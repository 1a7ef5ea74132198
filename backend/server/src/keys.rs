//! API key commands and the first-start bootstrap key.

use anyhow::Context;
use veritrail_core::auth::{ApiKey, Scopes, generate_key_secret, new_api_key};
use veritrail_core::event::TenantId;
use veritrail_store::Store;

/// The tenant of the bootstrap admin key.
pub const DEFAULT_TENANT: &str = "default";

/// Generates a new secret: `vt_` and 48 hex digits (192 random bits).
pub fn generate_secret() -> anyhow::Result<String> {
    generate_key_secret().map_err(anyhow::Error::msg)
}

/// Stores a key with `secret` and returns its record.
pub async fn create(
    store: &Store,
    tenant: TenantId,
    scopes: Scopes,
    name: &str,
    secret: &str,
) -> anyhow::Result<ApiKey> {
    let (key, key_hash) = new_api_key(tenant, name, scopes, secret);
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
    let tenant = TenantId::parse(DEFAULT_TENANT).map_err(anyhow::Error::msg)?;
    let (key, key_hash) = new_api_key(tenant, "bootstrap", Scopes::ADMIN, &secret);
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
