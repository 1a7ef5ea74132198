//! Writes on PostgreSQL: documents (with their texts, lexeme counts, vocabulary and facets),
//! vectors, and the resets and prunes of a rebuild. Each is one transaction.

use pgvector::Vector;
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::search::{PendingText, SearchDocument, TextHash};
use veritrail_core::store::StoreError;

use super::PostgresSearch;
use super::progress::lock_progress;
use crate::rows::{db_error, seq_to_db};
use crate::search::filter::ip_key;
use crate::search::watermark::{self, ProgressRows};
use crate::search::{check_vectors, documents_to_insert, facets_of, first_uses, fold, vocabulary_uses};

/// Documents per `UNNEST` insert.
const DOCUMENT_CHUNK: usize = 2_000;
/// Vectors per `UNNEST` insert.
const VECTOR_CHUNK: usize = 500;

pub(super) async fn put_documents(
    index: &PostgresSearch,
    tenant: &TenantId,
    documents: &[SearchDocument],
) -> Result<(), StoreError> {
    if documents.is_empty() {
        return Ok(());
    }
    let mut tx = index.pool.begin().await.map_err(db_error)?;
    let (fresh, until) = documents_to_insert(lock_progress(&mut tx, tenant).await?, documents)?;
    if fresh.is_empty() {
        return Ok(());
    }
    for chunk in fresh.chunks(DOCUMENT_CHUNK) {
        let seqs: Vec<i64> = chunk.iter().map(|document| seq_to_db(document.seq)).collect();
        let times: Vec<_> = chunk.iter().map(|document| normalize_time(document.occurred_at)).collect();
        let actors: Vec<String> = chunk.iter().map(|document| fold(&document.actor_id)).collect();
        let names: Vec<Option<String>> =
            chunk.iter().map(|document| document.actor_name.as_deref().map(fold)).collect();
        let actions: Vec<String> = chunk.iter().map(|document| fold(&document.action)).collect();
        let kinds: Vec<Option<String>> =
            chunk.iter().map(|document| document.resource_type.as_deref().map(fold)).collect();
        let outcomes: Vec<&str> = chunk.iter().map(|document| document.outcome.as_str()).collect();
        let ips: Vec<Option<String>> = chunk.iter().map(|document| document.ip.as_deref().and_then(ip_key)).collect();
        let texts: Vec<&str> = chunk.iter().map(|document| document.text.as_str()).collect();
        let hashes: Vec<Vec<u8>> = chunk.iter().map(|document| document.text_hash.to_vec()).collect();
        sqlx::query(
            "INSERT INTO search_documents (tenant, seq, occurred_at, actor_key, actor_name_key, action_key, \
             resource_type_key, outcome, ip_key, text, text_hash) \
             SELECT $1, * FROM UNNEST($2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::bytea[]) \
             ON CONFLICT (tenant, seq) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(seqs)
        .bind(times)
        .bind(actors)
        .bind(names)
        .bind(actions)
        .bind(kinds)
        .bind(outcomes)
        .bind(ips)
        .bind(texts)
        .bind(hashes)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    let texts = first_uses(fresh);
    // New texts count once per lexeme, in the same transaction (see search_lexemes).
    sqlx::query(
        "WITH added AS (INSERT INTO search_texts (tenant, text_hash, first_seq, text) \
         SELECT $1, * FROM UNNEST($2::bytea[], $3::bigint[], $4::text[]) \
         ON CONFLICT (tenant, text_hash) DO NOTHING RETURNING text_search), \
         counted AS (INSERT INTO search_lexemes (tenant, lexeme, texts) \
         SELECT $1, x.lexeme, COUNT(*) FROM added CROSS JOIN LATERAL \
         unnest(tsvector_to_array(added.text_search)) AS x (lexeme) GROUP BY x.lexeme ORDER BY x.lexeme \
         ON CONFLICT (tenant, lexeme) DO UPDATE SET texts = search_lexemes.texts + excluded.texts) \
         UPDATE search_progress SET texts = texts + (SELECT COUNT(*) FROM added), \
         text_lexemes = text_lexemes + (SELECT COALESCE(SUM(length(text_search)), 0) FROM added) \
         WHERE tenant = $1",
    )
    .bind(tenant.as_str())
    .bind(texts.iter().map(|document| document.text_hash.to_vec()).collect::<Vec<_>>())
    .bind(texts.iter().map(|document| seq_to_db(document.seq)).collect::<Vec<_>>())
    .bind(texts.iter().map(|document| document.text.as_str()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let uses = vocabulary_uses(fresh);
    let kinds: Vec<&str> = uses.iter().map(|counted| counted.kind).collect();
    let values: Vec<&str> = uses.iter().map(|counted| counted.value.as_str()).collect();
    let counts: Vec<i64> = uses.iter().map(|counted| counted.uses).collect();
    sqlx::query(
        "INSERT INTO search_vocabulary (tenant, kind, value, uses) \
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::bigint[]) \
         ON CONFLICT (tenant, kind, value) DO UPDATE SET uses = search_vocabulary.uses + excluded.uses",
    )
    .bind(tenant.as_str())
    .bind(kinds)
    .bind(values)
    .bind(counts)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let facets = facets_of(fresh);
    sqlx::query(
        "INSERT INTO search_text_facets (tenant, text_hash, actor_key, actor_name_key, action_key, \
         resource_type_key, outcome, ip_key, first_occurred, last_occurred, uses) \
         SELECT $1, * FROM UNNEST($2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::text[], $9::timestamptz[], $10::timestamptz[], $11::bigint[]) \
         ON CONFLICT (tenant, text_hash, actor_key, actor_name_key, action_key, resource_type_key, outcome, ip_key) \
         DO UPDATE SET first_occurred = LEAST(search_text_facets.first_occurred, excluded.first_occurred), \
         last_occurred = GREATEST(search_text_facets.last_occurred, excluded.last_occurred), \
         uses = search_text_facets.uses + excluded.uses",
    )
    .bind(tenant.as_str())
    .bind(facets.iter().map(|(key, _)| key.text_hash.to_vec()).collect::<Vec<_>>())
    .bind(facets.iter().map(|(key, _)| key.actor.as_str()).collect::<Vec<_>>())
    .bind(facets.iter().map(|(key, _)| key.actor_name.as_str()).collect::<Vec<_>>())
    .bind(facets.iter().map(|(key, _)| key.action.as_str()).collect::<Vec<_>>())
    .bind(facets.iter().map(|(key, _)| key.resource_type.as_str()).collect::<Vec<_>>())
    .bind(facets.iter().map(|(key, _)| key.outcome).collect::<Vec<_>>())
    .bind(facets.iter().map(|(key, _)| key.ip.as_str()).collect::<Vec<_>>())
    .bind(facets.iter().map(|(_, span)| span.first).collect::<Vec<_>>())
    .bind(facets.iter().map(|(_, span)| span.last).collect::<Vec<_>>())
    .bind(facets.iter().map(|(_, span)| span.uses).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    sqlx::query("UPDATE search_progress SET indexed_until = $2 WHERE tenant = $1")
        .bind(tenant.as_str())
        .bind(seq_to_db(until))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)
}

pub(super) async fn pending_texts(
    index: &PostgresSearch,
    tenant: &TenantId,
    model: &str,
    limit: u32,
) -> Result<Vec<PendingText>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut conn = index.pool.acquire().await.map_err(db_error)?;
    let (found, reached) = watermark::pending_texts(&mut *conn, tenant, model, limit).await?;
    if let Some(reached) = reached {
        conn.raise_embedded_until(tenant, model, reached).await?;
    }
    Ok(found.into_iter().map(PendingText::from).collect())
}

pub(super) async fn put_vectors(
    index: &PostgresSearch,
    tenant: &TenantId,
    model: &str,
    vectors: &[(TextHash, Vec<f32>)],
) -> Result<(), StoreError> {
    check_vectors(vectors)?;
    if vectors.is_empty() {
        return Ok(());
    }
    let mut tx = index.pool.begin().await.map_err(db_error)?;
    for chunk in vectors.chunks(VECTOR_CHUNK) {
        let hashes: Vec<Vec<u8>> = chunk.iter().map(|(hash, _)| hash.to_vec()).collect();
        let values: Vec<Vector> = chunk.iter().map(|(_, vector)| Vector::from(vector.clone())).collect();
        sqlx::query(
            "INSERT INTO search_vectors (tenant, model, text_hash, vector) \
             SELECT $1, $2, * FROM UNNEST($3::bytea[], $4::vector[]) \
             ON CONFLICT (tenant, model, text_hash) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(model)
        .bind(hashes)
        .bind(values)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    watermark::advance(&mut *tx, tenant, model).await?;
    tx.commit().await.map_err(db_error)
}

pub(super) async fn reset_documents(
    index: &PostgresSearch,
    tenant: &TenantId,
    rendering: u32,
) -> Result<(), StoreError> {
    let mut tx = index.pool.begin().await.map_err(db_error)?;
    // Serialises with document writers, which lock the same row.
    lock_progress(&mut tx, tenant).await?;
    for delete in [
        "DELETE FROM search_documents WHERE tenant = $1",
        "DELETE FROM search_texts WHERE tenant = $1",
        "DELETE FROM search_text_facets WHERE tenant = $1",
        "DELETE FROM search_lexemes WHERE tenant = $1",
        "DELETE FROM search_vocabulary WHERE tenant = $1",
        "DELETE FROM search_embedding_progress WHERE tenant = $1",
    ] {
        sqlx::query(delete).bind(tenant.as_str()).execute(&mut *tx).await.map_err(db_error)?;
    }
    sqlx::query(
        "UPDATE search_progress SET indexed_until = 0, texts = 0, text_lexemes = 0, rendering = $2, \
         prune_vectors = 1 WHERE tenant = $1",
    )
    .bind(tenant.as_str())
    .bind(i32::try_from(rendering).unwrap_or(i32::MAX))
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    index.scopes.forget(tenant);
    Ok(())
}

pub(super) async fn prune_vectors(index: &PostgresSearch, tenant: &TenantId) -> Result<u64, StoreError> {
    const WAITING: &str = "SELECT prune_vectors FROM search_progress WHERE tenant = $1";
    // Asked on every indexing run: a plain read, and the row lock only when there is work.
    let waiting: Option<i32> =
        sqlx::query_scalar(WAITING).bind(tenant.as_str()).fetch_optional(&index.pool).await.map_err(db_error)?;
    if waiting.unwrap_or(0) == 0 {
        return Ok(0);
    }
    let mut tx = index.pool.begin().await.map_err(db_error)?;
    let waiting: Option<i32> =
        sqlx::query_scalar("SELECT prune_vectors FROM search_progress WHERE tenant = $1 FOR UPDATE")
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
    if waiting.unwrap_or(0) == 0 {
        return Ok(0);
    }
    let deleted = sqlx::query(
        "DELETE FROM search_vectors v WHERE v.tenant = $1 AND NOT EXISTS (SELECT 1 FROM search_texts t \
         WHERE t.tenant = v.tenant AND t.text_hash = v.text_hash)",
    )
    .bind(tenant.as_str())
    .execute(&mut *tx)
    .await
    .map_err(db_error)?
    .rows_affected();
    sqlx::query("UPDATE search_progress SET prune_vectors = 0 WHERE tenant = $1")
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(deleted)
}
