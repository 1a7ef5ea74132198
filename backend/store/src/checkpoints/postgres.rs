use async_trait::async_trait;
use sqlx::postgres::PgPool;
use veritrail_core::event::TenantId;
use veritrail_core::store::{CheckpointStore, StoreError, StoredCheckpoint};

use super::{CHECKPOINT_COLUMNS, decode_checkpoint};
use crate::rows::{db_error, seq_to_db};

pub struct PostgresCheckpoints {
    pool: PgPool,
}

impl PostgresCheckpoints {
    pub fn new(pool: &PgPool) -> Self {
        Self { pool: pool.clone() }
    }
}

#[async_trait]
impl CheckpointStore for PostgresCheckpoints {
    async fn checkpoints_after(
        &self,
        tenant: &TenantId,
        after_size: u64,
        limit: u32,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tenant = $1 AND tree_size > $2 \
             ORDER BY tree_size LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(seq_to_db(after_size))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode_checkpoint).collect()
    }

    async fn save_checkpoint(&self, tenant: &TenantId, checkpoint: &StoredCheckpoint) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO checkpoints (tenant, tree_size, root_hash, note, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant, tree_size) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(seq_to_db(checkpoint.tree_size))
        .bind(checkpoint.root_hash.as_bytes().to_vec())
        .bind(&checkpoint.note)
        .bind(checkpoint.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn latest_checkpoint(&self, tenant: &TenantId) -> Result<Option<StoredCheckpoint>, StoreError> {
        let sql =
            format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tenant = $1 ORDER BY tree_size DESC LIMIT 1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_checkpoint).transpose()
    }

    async fn checkpoint_at(&self, tenant: &TenantId, tree_size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tenant = $1 AND tree_size = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(seq_to_db(tree_size))
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_checkpoint).transpose()
    }
}
