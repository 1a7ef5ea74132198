use async_trait::async_trait;
use sqlx::postgres::PgPool;
use veritrail_core::auth::ApiKey;
use veritrail_core::event::TenantId;
use veritrail_core::hash::Hash;
use veritrail_core::store::{ApiKeyStore, StoreError};

use super::{KEY_COLUMNS, decode_key};
use crate::rows::db_error;

/// Advisory lock serialising the creation of the first API key.
const BOOTSTRAP_LOCK: i64 = 0x7665_7269_7472_616b;

pub struct PostgresKeys {
    pool: PgPool,
}

impl PostgresKeys {
    pub fn new(pool: &PgPool) -> Self {
        Self { pool: pool.clone() }
    }
}

#[async_trait]
impl ApiKeyStore for PostgresKeys {
    async fn create_key(&self, key: &ApiKey, key_hash: &Hash) -> Result<(), StoreError> {
        insert_key(&mut *self.pool.acquire().await.map_err(db_error)?, key, key_hash).await
    }

    async fn create_first_key(&self, key: &ApiKey, key_hash: &Hash) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Serialises first starts; the check and the insert then see each other's commits.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(BOOTSTRAP_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(&mut *tx).await.map_err(db_error)?;
        if count > 0 {
            return Ok(false);
        }
        insert_key(&mut tx, key, key_hash).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn find_key(&self, key_hash: &Hash) -> Result<Option<ApiKey>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key_hash.as_bytes().to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_key).transpose()
    }

    async fn list_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE ($1::text IS NULL OR tenant = $1) ORDER BY created_at, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.map(TenantId::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode_key).collect()
    }

    async fn revoke_key(&self, key_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(key_id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn count_keys(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(&self.pool).await.map_err(db_error)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

/// Inserts an API key record (only the hash of its secret).
async fn insert_key(conn: &mut sqlx::PgConnection, key: &ApiKey, key_hash: &Hash) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, tenant, name, key_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(key.tenant.as_str())
    .bind(&key.name)
    .bind(key_hash.as_bytes().to_vec())
    .bind(key.scopes.to_string())
    .bind(key.created_at)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}
