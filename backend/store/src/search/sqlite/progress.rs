//! The per-tenant bookkeeping rows on SQLite: how far documents (`search_progress`) and vectors
//! (`search_embedding_progress`) are indexed, the rendering version, and the vocabulary counts.

use sqlx::{Row, SqliteConnection};
use veritrail_core::event::TenantId;
use veritrail_core::query::Vocabulary;
use veritrail_core::search::IndexProgress;
use veritrail_core::store::StoreError;

use super::SqliteSearch;
use crate::rows::{db_error, seq_to_db};
use crate::search::decode::IndexColumns;
use crate::search::watermark::{ProgressRows, UnembeddedText};
use crate::search::{seq_from_db, vocabulary_from_rows};

pub(super) async fn indexed_until(index: &SqliteSearch, tenant: &TenantId) -> Result<u64, StoreError> {
    let mut conn = index.read_pool.acquire().await.map_err(db_error)?;
    conn.indexed_until(tenant).await
}

impl ProgressRows for SqliteConnection {
    async fn indexed_until(&mut self, tenant: &TenantId) -> Result<u64, StoreError> {
        let until: Option<i64> = sqlx::query_scalar("SELECT indexed_until FROM search_progress WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_optional(self)
            .await
            .map_err(db_error)?;
        until.map_or(Ok(0), seq_from_db)
    }

    async fn embedded_until(&mut self, tenant: &TenantId, model: &str) -> Result<u64, StoreError> {
        let until: Option<i64> =
            sqlx::query_scalar("SELECT embedded_until FROM search_embedding_progress WHERE tenant = ? AND model = ?")
                .bind(tenant.as_str())
                .bind(model)
                .fetch_optional(self)
                .await
                .map_err(db_error)?;
        until.map_or(Ok(0), seq_from_db)
    }

    async fn raise_embedded_until(&mut self, tenant: &TenantId, model: &str, until: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO search_embedding_progress (tenant, model, embedded_until) VALUES (?, ?, ?) \
             ON CONFLICT (tenant, model) DO UPDATE SET embedded_until = MAX(embedded_until, excluded.embedded_until)",
        )
        .bind(tenant.as_str())
        .bind(model)
        .bind(seq_to_db(until))
        .execute(self)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn unembedded_texts(
        &mut self,
        tenant: &TenantId,
        model: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<UnembeddedText>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.first_seq, t.text_hash, t.text FROM search_texts t WHERE t.tenant = ? AND t.first_seq >= ? \
             AND NOT EXISTS (SELECT 1 FROM search_vectors v WHERE v.tenant = t.tenant AND v.model = ? \
             AND v.text_hash = t.text_hash) ORDER BY t.first_seq LIMIT ?",
        )
        .bind(tenant.as_str())
        .bind(seq_to_db(from))
        .bind(model)
        .bind(i64::from(limit))
        .fetch_all(self)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(UnembeddedText {
                    first_seq: row.seq(0)?,
                    text_hash: row.text_hash(1)?,
                    text: row.try_get(2).map_err(db_error)?,
                })
            })
            .collect()
    }
}

pub(super) async fn rendering(index: &SqliteSearch, tenant: &TenantId) -> Result<u32, StoreError> {
    let rendering: Option<i64> = sqlx::query_scalar("SELECT rendering FROM search_progress WHERE tenant = ?")
        .bind(tenant.as_str())
        .fetch_optional(&index.read_pool)
        .await
        .map_err(db_error)?;
    Ok(rendering.and_then(|value| u32::try_from(value).ok()).unwrap_or(0))
}

pub(super) async fn progress(
    index: &SqliteSearch,
    tenant: &TenantId,
    model: &str,
) -> Result<IndexProgress, StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT next_seq FROM chain_heads WHERE tenant = ?), \
         (SELECT indexed_until FROM search_progress WHERE tenant = ?), \
         (SELECT embedded_until FROM search_embedding_progress WHERE tenant = ? AND model = ?)",
    )
    .bind(tenant.as_str())
    .bind(tenant.as_str())
    .bind(tenant.as_str())
    .bind(model)
    .fetch_one(&index.read_pool)
    .await
    .map_err(db_error)?;
    let column = |idx: usize| -> Result<u64, StoreError> {
        let value: Option<i64> = row.try_get(idx).map_err(db_error)?;
        value.map_or(Ok(0), seq_from_db)
    };
    Ok(IndexProgress { events: column(0)?, indexed: column(1)?, embedded: column(2)? })
}

pub(super) async fn vocabulary(index: &SqliteSearch, tenant: &TenantId, limit: u32) -> Result<Vocabulary, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, value FROM (SELECT kind, value, ROW_NUMBER() OVER \
         (PARTITION BY kind ORDER BY uses DESC, value) AS place FROM search_vocabulary WHERE tenant = ?) \
         WHERE place <= ? ORDER BY kind, place",
    )
    .bind(tenant.as_str())
    .bind(i64::from(limit))
    .fetch_all(&index.read_pool)
    .await
    .map_err(db_error)?;
    Ok(vocabulary_from_rows(rows))
}
