//! API keys: only the SHA-256 of each secret is stored; a key is found by that hash.

mod postgres;
mod sqlite;

use veritrail_core::auth::ApiKey;
use veritrail_core::store::StoreError;

pub use postgres::PostgresKeys;
pub use sqlite::SqliteKeys;

use crate::columns::Columns;

/// The columns every key query selects.
const KEY_COLUMNS: &str = "id, tenant, name, scopes, created_at, revoked_at";

fn decode_key(row: &impl Columns) -> Result<ApiKey, StoreError> {
    Ok(ApiKey {
        id: row.text("id")?,
        tenant: row.tenant("tenant")?,
        name: row.text("name")?,
        scopes: row.text("scopes")?.parse().map_err(StoreError::Corrupt)?,
        created_at: row.time("created_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}
