//! The per-tenant bookkeeping rows on PostgreSQL: how far documents (`search_progress`) and
//! vectors (`search_embedding_progress`) are indexed, the rendering version, and the vocabulary
//! counts.

use sqlx::{PgConnection, Row};
use veritrail_core::event::TenantId;
use veritrail_core::query::Vocabulary;
use veritrail_core::search::IndexProgress;
use veritrail_core::store::StoreError;

use super::PostgresSearch;
use crate::rows::{db_error, seq_to_db};
use crate::search::decode::IndexColumns;
use crate::search::watermark::{ProgressRows, UnembeddedText};
use crate::search::{seq_from_db, vocabulary_from_rows};

pub(super) async fn indexed_until(index: &PostgresSearch, tenant: &TenantId) -> Result<u64, StoreError> {
    let mut conn = index.pool.acquire().await.map_err(db_error)?;
    conn.indexed_until(tenant).await
}

impl ProgressRows for PgConnection {
    async fn indexed_until(&mut self, tenant: &TenantId) -> Result<u64, StoreError> {
        let until: Option<i64> = sqlx::query_scalar("SELECT indexed_until FROM search_progress WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_optional(self)
            .await
            .map_err(db_error)?;
        until.map_or(Ok(0), seq_from_db)
    }

    async fn embedded_until(&mut self, tenant: &TenantId, model: &str) -> Result<u64, StoreError> {
        let until: Option<i64> =
            sqlx::query_scalar("SELECT embedded_until FROM search_embedding_progress WHERE tenant = $1 AND model = $2")
                .bind(tenant.as_str())
                .bind(model)
                .fetch_optional(self)
                .await
                .map_err(db_error)?;
        until.map_or(Ok(0), seq_from_db)
    }

    async fn raise_embedded_until(&mut self, tenant: &TenantId, model: &str, until: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO search_embedding_progress (tenant, model, embedded_until) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant, model) DO UPDATE \
             SET embedded_until = GREATEST(search_embedding_progress.embedded_until, excluded.embedded_until)",
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
            "SELECT t.first_seq, t.text_hash, t.text FROM search_texts t WHERE t.tenant = $1 AND t.first_seq >= $2 \
             AND NOT EXISTS (SELECT 1 FROM search_vectors v WHERE v.tenant = t.tenant AND v.model = $3 \
             AND v.text_hash = t.text_hash) ORDER BY t.first_seq LIMIT $4",
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

/// Locks the tenant's progress row (creating it), serialising writers of the tenant's documents.
pub(super) async fn lock_progress(conn: &mut PgConnection, tenant: &TenantId) -> Result<u64, StoreError> {
    sqlx::query("INSERT INTO search_progress (tenant, indexed_until) VALUES ($1, 0) ON CONFLICT (tenant) DO NOTHING")
        .bind(tenant.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let until: i64 = sqlx::query_scalar("SELECT indexed_until FROM search_progress WHERE tenant = $1 FOR UPDATE")
        .bind(tenant.as_str())
        .fetch_one(conn)
        .await
        .map_err(db_error)?;
    seq_from_db(until)
}

pub(super) async fn rendering(index: &PostgresSearch, tenant: &TenantId) -> Result<u32, StoreError> {
    let rendering: Option<i32> = sqlx::query_scalar("SELECT rendering FROM search_progress WHERE tenant = $1")
        .bind(tenant.as_str())
        .fetch_optional(&index.pool)
        .await
        .map_err(db_error)?;
    Ok(rendering.and_then(|value| u32::try_from(value).ok()).unwrap_or(0))
}

pub(super) async fn progress(
    index: &PostgresSearch,
    tenant: &TenantId,
    model: &str,
) -> Result<IndexProgress, StoreError> {
    let row = sqlx::query(
        "SELECT (SELECT next_seq FROM chain_heads WHERE tenant = $1), \
         (SELECT indexed_until FROM search_progress WHERE tenant = $1), \
         (SELECT embedded_until FROM search_embedding_progress WHERE tenant = $1 AND model = $2)",
    )
    .bind(tenant.as_str())
    .bind(model)
    .fetch_one(&index.pool)
    .await
    .map_err(db_error)?;
    let column = |idx: usize| -> Result<u64, StoreError> {
        let value: Option<i64> = row.try_get(idx).map_err(db_error)?;
        value.map_or(Ok(0), seq_from_db)
    };
    Ok(IndexProgress { events: column(0)?, indexed: column(1)?, embedded: column(2)? })
}

pub(super) async fn vocabulary(
    index: &PostgresSearch,
    tenant: &TenantId,
    limit: u32,
) -> Result<Vocabulary, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, value FROM (SELECT kind, value, ROW_NUMBER() OVER \
         (PARTITION BY kind ORDER BY uses DESC, value COLLATE \"C\") AS place FROM search_vocabulary \
         WHERE tenant = $1) ranked \
         WHERE place <= $2 ORDER BY kind, place",
    )
    .bind(tenant.as_str())
    .bind(i64::from(limit))
    .fetch_all(&index.pool)
    .await
    .map_err(db_error)?;
    Ok(vocabulary_from_rows(rows))
}
