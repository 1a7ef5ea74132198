//! Writes on SQLite, through the store's one write connection in `BEGIN IMMEDIATE` transactions:
//! documents (with their texts, vocabulary and facets), vectors, and the resets and prunes of a
//! rebuild.

use sqlx::{QueryBuilder, Sqlite};
use veritrail_core::event::{TenantId, format_time, normalize_time};
use veritrail_core::search::{PendingText, SearchDocument, TextHash};
use veritrail_core::store::StoreError;

use super::SqliteSearch;
use super::fulltext_tables::FulltextTable;
use crate::rows::{db_error, seq_to_db};
use crate::search::filter::ip_key;
use crate::search::vectors::to_blob;
use crate::search::watermark::{self, ProgressRows};
use crate::search::{check_vectors, documents_to_insert, facets_of, first_uses, fold, vocabulary_uses};

/// Documents per multi-row INSERT: 11 columns x 500 rows stays far under SQLite's 32,766 variables.
const DOCUMENT_CHUNK: usize = 500;
/// Vectors per multi-row INSERT.
const VECTOR_CHUNK: usize = 500;
/// Facet rows per upsert: 11 columns x 500 rows.
const FACET_CHUNK: usize = 500;
/// Vocabulary rows per upsert.
const VOCABULARY_CHUNK: usize = 1_000;

pub(super) async fn put_documents(
    index: &SqliteSearch,
    tenant: &TenantId,
    documents: &[SearchDocument],
) -> Result<(), StoreError> {
    if documents.is_empty() {
        return Ok(());
    }
    let mut tx = index.write_pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    let (fresh, until) = documents_to_insert(tx.indexed_until(tenant).await?, documents)?;
    let Some(first) = fresh.first() else {
        return Ok(());
    };
    let fts = FulltextTable::create_if_missing(&mut tx, tenant).await?;
    for chunk in fresh.chunks(DOCUMENT_CHUNK) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO search_documents (tenant, seq, occurred_at, actor_key, actor_name_key, action_key, \
             resource_type_key, outcome, ip_key, text, text_hash) ",
        );
        insert.push_values(chunk, |mut values, document| {
            values
                .push_bind(tenant.as_str())
                .push_bind(seq_to_db(document.seq))
                .push_bind(format_time(&normalize_time(document.occurred_at)))
                .push_bind(fold(&document.actor_id))
                .push_bind(document.actor_name.as_deref().map(fold))
                .push_bind(fold(&document.action))
                .push_bind(document.resource_type.as_deref().map(fold))
                .push_bind(document.outcome.as_str())
                .push_bind(document.ip.as_deref().and_then(ip_key))
                .push_bind(document.text.as_str())
                .push_bind(document.text_hash.to_vec());
        });
        insert.push(" ON CONFLICT (tenant, seq) DO NOTHING");
        insert.build().execute(&mut *tx).await.map_err(db_error)?;
    }
    for chunk in first_uses(fresh).chunks(DOCUMENT_CHUNK) {
        let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO search_texts (tenant, text_hash, first_seq, text) ");
        insert.push_values(chunk, |mut values, document| {
            values
                .push_bind(tenant.as_str())
                .push_bind(document.text_hash.to_vec())
                .push_bind(seq_to_db(document.seq))
                .push_bind(document.text.as_str());
        });
        // A text used before keeps its earlier first use.
        insert.push(" ON CONFLICT (tenant, text_hash) DO NOTHING");
        insert.build().execute(&mut *tx).await.map_err(db_error)?;
    }
    fts.add_texts(&mut tx, tenant, first.seq).await?;
    for chunk in vocabulary_uses(fresh).chunks(VOCABULARY_CHUNK) {
        let mut upsert = QueryBuilder::<Sqlite>::new("INSERT INTO search_vocabulary (tenant, kind, value, uses) ");
        upsert.push_values(chunk, |mut values, counted| {
            values
                .push_bind(tenant.as_str())
                .push_bind(counted.kind)
                .push_bind(counted.value.as_str())
                .push_bind(counted.uses);
        });
        upsert.push(" ON CONFLICT (tenant, kind, value) DO UPDATE SET uses = uses + excluded.uses");
        upsert.build().execute(&mut *tx).await.map_err(db_error)?;
    }
    for chunk in facets_of(fresh).chunks(FACET_CHUNK) {
        let mut upsert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO search_text_facets (tenant, text_hash, actor_key, actor_name_key, action_key, \
             resource_type_key, outcome, ip_key, first_occurred, last_occurred, uses) ",
        );
        upsert.push_values(chunk, |mut values, (key, span)| {
            values
                .push_bind(tenant.as_str())
                .push_bind(key.text_hash.to_vec())
                .push_bind(key.actor.as_str())
                .push_bind(key.actor_name.as_str())
                .push_bind(key.action.as_str())
                .push_bind(key.resource_type.as_str())
                .push_bind(key.outcome)
                .push_bind(key.ip.as_str())
                .push_bind(format_time(&span.first))
                .push_bind(format_time(&span.last))
                .push_bind(span.uses);
        });
        upsert.push(
            " ON CONFLICT (tenant, text_hash, actor_key, actor_name_key, action_key, resource_type_key, outcome, \
             ip_key) DO UPDATE SET first_occurred = MIN(first_occurred, excluded.first_occurred), \
             last_occurred = MAX(last_occurred, excluded.last_occurred), uses = uses + excluded.uses",
        );
        upsert.build().execute(&mut *tx).await.map_err(db_error)?;
    }
    sqlx::query(
        "INSERT INTO search_progress (tenant, indexed_until) VALUES (?, ?) \
         ON CONFLICT (tenant) DO UPDATE SET indexed_until = excluded.indexed_until",
    )
    .bind(tenant.as_str())
    .bind(seq_to_db(until))
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)
}

pub(super) async fn pending_texts(
    index: &SqliteSearch,
    tenant: &TenantId,
    model: &str,
    limit: u32,
) -> Result<Vec<PendingText>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut conn = index.read_pool.acquire().await.map_err(db_error)?;
    let (found, reached) = watermark::pending_texts(&mut *conn, tenant, model, limit).await?;
    drop(conn);
    if let Some(reached) = reached {
        let mut conn = index.write_pool.acquire().await.map_err(db_error)?;
        conn.raise_embedded_until(tenant, model, reached).await?;
    }
    Ok(found.into_iter().map(PendingText::from).collect())
}

pub(super) async fn put_vectors(
    index: &SqliteSearch,
    tenant: &TenantId,
    model: &str,
    vectors: &[(TextHash, Vec<f32>)],
) -> Result<(), StoreError> {
    check_vectors(vectors)?;
    if vectors.is_empty() {
        return Ok(());
    }
    let mut tx = index.write_pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    for chunk in vectors.chunks(VECTOR_CHUNK) {
        let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO search_vectors (tenant, model, text_hash, vector) ");
        insert.push_values(chunk, |mut values, (text_hash, vector)| {
            values.push_bind(tenant.as_str()).push_bind(model).push_bind(text_hash.to_vec()).push_bind(to_blob(vector));
        });
        insert.push(" ON CONFLICT (tenant, model, text_hash) DO NOTHING");
        insert.build().execute(&mut *tx).await.map_err(db_error)?;
    }
    watermark::advance(&mut *tx, tenant, model).await?;
    tx.commit().await.map_err(db_error)
}

pub(super) async fn reset_documents(index: &SqliteSearch, tenant: &TenantId, rendering: u32) -> Result<(), StoreError> {
    let mut tx = index.write_pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    if let Some(fts) = FulltextTable::of_tenant(&mut tx, tenant).await? {
        fts.clear(&mut tx).await?;
    }
    for delete in [
        "DELETE FROM search_documents WHERE tenant = ?",
        "DELETE FROM search_texts WHERE tenant = ?",
        "DELETE FROM search_text_facets WHERE tenant = ?",
        "DELETE FROM search_vocabulary WHERE tenant = ?",
        "DELETE FROM search_embedding_progress WHERE tenant = ?",
    ] {
        sqlx::query(delete).bind(tenant.as_str()).execute(&mut *tx).await.map_err(db_error)?;
    }
    sqlx::query(
        "INSERT INTO search_progress (tenant, indexed_until, rendering, prune_vectors) VALUES (?, 0, ?, 1) \
         ON CONFLICT (tenant) DO UPDATE SET indexed_until = 0, rendering = excluded.rendering, prune_vectors = 1",
    )
    .bind(tenant.as_str())
    .bind(i64::from(rendering))
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    index.scopes.forget(tenant);
    Ok(())
}

pub(super) async fn prune_vectors(index: &SqliteSearch, tenant: &TenantId) -> Result<u64, StoreError> {
    let waiting: Option<i64> = sqlx::query_scalar("SELECT prune_vectors FROM search_progress WHERE tenant = ?")
        .bind(tenant.as_str())
        .fetch_optional(&index.read_pool)
        .await
        .map_err(db_error)?;
    if waiting.unwrap_or(0) == 0 {
        return Ok(0);
    }
    let mut tx = index.write_pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    let deleted = sqlx::query(
        "DELETE FROM search_vectors WHERE tenant = ? AND NOT EXISTS (SELECT 1 FROM search_texts t \
         WHERE t.tenant = search_vectors.tenant AND t.text_hash = search_vectors.text_hash)",
    )
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db_error)?
    .rows_affected();
    sqlx::query("UPDATE search_progress SET prune_vectors = 0 WHERE tenant = ?")
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    // The in-memory sets only ever add rows: read the tenant's vectors afresh.
    index.cache.forget(tenant);
    Ok(deleted)
}
