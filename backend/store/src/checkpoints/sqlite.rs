use async_trait::async_trait;
use veritrail_core::event::{TenantId, format_time};
use veritrail_core::store::{CheckpointStore, StoreError, StoredCheckpoint};

use super::{CHECKPOINT_COLUMNS, decode_checkpoint};
use crate::database::SqlitePools;
use crate::rows::{db_error, seq_to_db};

pub struct SqliteCheckpoints {
    pools: SqlitePools,
}

impl SqliteCheckpoints {
    pub fn new(pools: &SqlitePools) -> Self {
        Self { pools: pools.clone() }
    }
}

#[async_trait]
impl CheckpointStore for SqliteCheckpoints {
    async fn checkpoints_after(
        &self,
        tenant: &TenantId,
        after_size: u64,
        limit: u32,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let sql = format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tenant = ? AND tree_size > ? ORDER BY tree_size LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(seq_to_db(after_size))
            .bind(i64::from(limit))
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode_checkpoint).collect()
    }

    async fn save_checkpoint(&self, tenant: &TenantId, checkpoint: &StoredCheckpoint) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO checkpoints (tenant, tree_size, root_hash, note, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (tenant, tree_size) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(seq_to_db(checkpoint.tree_size))
        .bind(checkpoint.root_hash.as_bytes().to_vec())
        .bind(&checkpoint.note)
        .bind(format_time(&checkpoint.created_at))
        .execute(&self.pools.write)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn latest_checkpoint(&self, tenant: &TenantId) -> Result<Option<StoredCheckpoint>, StoreError> {
        let sql =
            format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tenant = ? ORDER BY tree_size DESC LIMIT 1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_checkpoint).transpose()
    }

    async fn checkpoint_at(&self, tenant: &TenantId, tree_size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE tenant = ? AND tree_size = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(seq_to_db(tree_size))
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_checkpoint).transpose()
    }
}
