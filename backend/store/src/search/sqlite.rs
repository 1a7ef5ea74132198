//! The search index on SQLite: FTS5 for full text, vectors scanned in memory.
//!
//! Writes go through the store's one write connection in `BEGIN IMMEDIATE` transactions, like
//! appends, so they serialise with them; searches use the read pool. SQLite has no vector index,
//! so each tenant and model's vectors are cached in memory and compared by brute force: the cache
//! is filled on first use and, on each search, reads only the rows added since (by `id`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use veritrail_core::event::{TenantId, format_time, normalize_time};
use veritrail_core::query::Vocabulary;
use veritrail_core::search::{
    IndexProgress, PendingText, SearchDocument, SearchFilter, SearchHit, SearchIndex, TextHash,
};
use veritrail_core::store::StoreError;

use super::filter::{FilterPlan, ip_key};
use super::vectors::{
    FILTERED_FIRST_ROUND, FIRST_ROUND, NearestHits, Ranking, VectorSet, Widening, from_blob, normalize, to_blob,
};
use super::{
    MAX_SCORED, PREFILTER_MAX, Scope, ScopeCache, check_vector, documents_to_insert, embedded_until, facets_of,
    first_uses, fold, seq_from_db, text_hash_from_db, usable_terms, uses_per_text, vocabulary_from_rows,
    vocabulary_uses,
};
use crate::rows::{db_error, seq_to_db};

/// Documents per multi-row INSERT: 11 columns x 500 rows stays far under SQLite's 32,766 variables.
const DOCUMENT_CHUNK: usize = 500;
/// Vectors per multi-row INSERT.
const VECTOR_CHUNK: usize = 500;
/// Facet rows per upsert: 11 columns x 500 rows.
const FACET_CHUNK: usize = 500;
/// Vocabulary rows per upsert.
const VOCABULARY_CHUNK: usize = 1_000;
/// Vector rows read per statement when filling the cache.
const CACHE_PAGE: i64 = 5_000;

/// Search index over the same SQLite file as the log.
pub struct SqliteSearch {
    read_pool: SqlitePool,
    write_pool: SqlitePool,
    cache: VectorCache,
    scopes: ScopeCache<Vec<TextHash>>,
}

impl SqliteSearch {
    /// Uses the store's pools: `write_pool` must be the one-connection pool appends use.
    pub fn new(read_pool: SqlitePool, write_pool: SqlitePool) -> Self {
        Self { read_pool, write_pool, cache: VectorCache::default(), scopes: ScopeCache::default() }
    }

    /// Returns up to `per_text` newest documents passing `plan` of each candidate text, scored
    /// with the text's score.
    async fn newest_documents(
        &self,
        tenant: &TenantId,
        candidates: &[(TextHash, f64)],
        plan: &FilterPlan,
        per_text: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new("WITH candidates (hash, score) AS (VALUES ");
        let mut separated = query.separated(", ");
        for (hash, score) in candidates {
            separated.push("(").push_bind_unseparated(hash.to_vec()).push_unseparated(", ");
            separated.push_bind_unseparated(*score).push_unseparated(")");
        }
        // A correlated subquery per text walks the text's documents newest first (inside the
        // time range when there is one) and stops at `per_text` matches, so a text with many
        // documents is not read whole. The index is named because the planner would otherwise
        // pick a filter's index and read that filter's documents once per text.
        query.push(
            ") SELECT d.seq, candidates.score FROM candidates JOIN search_documents d ON d.id IN \
             (SELECT x.id FROM search_documents x INDEXED BY search_documents_text_time WHERE x.tenant = ",
        );
        query.push_bind(tenant.as_str()).push(" AND x.text_hash = candidates.hash");
        plan.push_row_conditions(&mut query, "x", sqlite_time);
        query.push(" ORDER BY x.occurred_at DESC LIMIT ").push_bind(i64::from(per_text)).push(")");
        let rows = query.build().fetch_all(&self.read_pool).await.map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(SearchHit {
                    seq: seq_from_db(row.try_get(0).map_err(db_error)?)?,
                    score: row.try_get(1).map_err(db_error)?,
                })
            })
            .collect()
    }

    /// How a search filtered by `plan` finds its documents (see [`Scope`]), reused while the
    /// tenant's documents are unchanged (see [`ScopeCache`]).
    async fn scope(&self, tenant: &TenantId, plan: &FilterPlan) -> Result<Scope, StoreError> {
        if plan.is_empty() {
            return Ok(Scope::All);
        }
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        let indexed_until = indexed_until_in(&mut conn, tenant).await?;
        drop(conn);
        if let Some(scope) = self.scopes.get(tenant, plan, indexed_until) {
            return Ok(scope);
        }
        let fresh = self.fresh_scope(tenant, plan).await?;
        self.scopes.put(tenant, plan, indexed_until, &fresh);
        Ok(fresh)
    }

    async fn fresh_scope(&self, tenant: &TenantId, plan: &FilterPlan) -> Result<Scope, StoreError> {
        // The texts whose facets pass, with the documents those facets count.
        let mut query =
            QueryBuilder::<Sqlite>::new("SELECT f.text_hash, f.uses FROM search_text_facets f WHERE f.tenant = ");
        query.push_bind(tenant.as_str());
        plan.push_facet_conditions(&mut query, "f", sqlite_time);
        let rows = query.build().fetch_all(&self.read_pool).await.map_err(db_error)?;
        let facets = rows
            .iter()
            .map(|row| {
                let hash: Vec<u8> = row.try_get(0).map_err(db_error)?;
                Ok((text_hash_from_db(&hash)?, row.try_get::<i64, _>(1).map_err(db_error)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let in_time_range = async {
            if plan.has_time() { self.count_matching(tenant, &plan.time_only()).await.map(Some) } else { Ok(None) }
        };
        Scope::choose(uses_per_text(facets), in_time_range).await
    }

    /// Pushes `SELECT d.seq, d.text_hash FROM search_documents d WHERE ...`: the documents passing
    /// `plan`, found through `texts` when given (the text index), else through the filter indexes.
    fn push_matching(
        query: &mut QueryBuilder<Sqlite>,
        tenant: &TenantId,
        plan: &FilterPlan,
        texts: Option<&[TextHash]>,
    ) {
        match texts {
            Some(texts) => {
                // Named, or the planner may walk a wide time or address range instead.
                query.push("SELECT d.seq, d.text_hash FROM search_documents d INDEXED BY search_documents_text_time");
                query.push(" WHERE d.tenant = ").push_bind(tenant.as_str().to_owned());
                query.push(" AND d.text_hash IN (");
                let mut separated = query.separated(", ");
                for hash in texts {
                    separated.push_bind(hash.to_vec());
                }
                // An empty IN list is valid SQLite and matches nothing.
                query.push(")");
                plan.push_row_conditions(query, "d", sqlite_time);
            }
            None => {
                query.push("SELECT d.seq, d.text_hash FROM search_documents d WHERE d.tenant = ");
                query.push_bind(tenant.as_str().to_owned());
                plan.push_conditions(query, "d", tenant.as_str(), sqlite_time);
            }
        }
    }

    /// The best `size` texts for the FTS5 `expression`, among those a document passing `plan` may
    /// have, scored with the negated bm25 (higher is better).
    async fn ranked_texts(
        &self,
        tenant: &TenantId,
        expression: &str,
        plan: &FilterPlan,
        size: usize,
    ) -> Result<Vec<(TextHash, f64)>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new(
            // CROSS JOIN keeps the full-text index as the outer loop.
            "SELECT t.text_hash, bm25(search_text_fts) AS relevance FROM search_text_fts \
             CROSS JOIN search_texts t ON t.id = search_text_fts.rowid WHERE search_text_fts MATCH ",
        );
        query.push_bind(expression.to_owned()).push(" AND t.tenant = ").push_bind(tenant.as_str());
        if !plan.is_empty() {
            query.push(" AND t.text_hash IN (SELECT f.text_hash FROM search_text_facets f WHERE f.tenant = ");
            query.push_bind(tenant.as_str());
            plan.push_facet_conditions(&mut query, "f", sqlite_time);
            query.push(")");
        }
        query.push(" ORDER BY relevance, t.id LIMIT ").push_bind(i64::try_from(size).unwrap_or(i64::MAX));
        let rows = query.build().fetch_all(&self.read_pool).await.map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let hash: Vec<u8> = row.try_get(0).map_err(db_error)?;
                // bm25() is lower for better matches.
                let relevance: f64 = row.try_get(1).map_err(db_error)?;
                Ok((text_hash_from_db(&hash)?, -relevance))
            })
            .collect()
    }

    /// Ranks the few documents passing `plan` by their texts' full-text relevance.
    async fn fulltext_among_matching(
        &self,
        tenant: &TenantId,
        expression: &str,
        plan: &FilterPlan,
        texts: Option<&[TextHash]>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new("WITH m AS MATERIALIZED (");
        Self::push_matching(&mut query, tenant, plan, texts);
        push_relevance_of_m(&mut query, tenant, expression);
        query.push(" ORDER BY r.relevance, m.seq DESC LIMIT ").push_bind(i64::from(limit));
        self.relevance_hits(query).await
    }

    /// Runs a query ending in [`push_relevance_of_m`]: its `(seq, bm25)` rows as hits (negated
    /// bm25, higher is better).
    async fn relevance_hits(&self, mut query: QueryBuilder<Sqlite>) -> Result<Vec<SearchHit>, StoreError> {
        let rows = query.build().fetch_all(&self.read_pool).await.map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let relevance: f64 = row.try_get(1).map_err(db_error)?;
                Ok(SearchHit { seq: seq_from_db(row.try_get(0).map_err(db_error)?)?, score: -relevance })
            })
            .collect()
    }

    /// Counts the documents passing `plan`, stopping just above [`PREFILTER_MAX`].
    async fn count_matching(&self, tenant: &TenantId, plan: &FilterPlan) -> Result<i64, StoreError> {
        let mut query =
            QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM (SELECT 1 FROM search_documents d WHERE d.tenant = ");
        query.push_bind(tenant.as_str());
        plan.push_conditions(&mut query, "d", tenant.as_str(), sqlite_time);
        query.push(" LIMIT ").push_bind(PREFILTER_MAX + 1).push(") matching");
        query.build().fetch_one(&self.read_pool).await.map_err(db_error)?.try_get(0).map_err(db_error)
    }

    /// Ranks every document passing `plan` by its text's similarity: for filters that let few
    /// documents through.
    async fn nearest_among_matching(
        &self,
        tenant: &TenantId,
        set: &VectorSet,
        query: &[f32],
        plan: &FilterPlan,
        texts: Option<&[TextHash]>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let mut select = QueryBuilder::<Sqlite>::new("");
        Self::push_matching(&mut select, tenant, plan, texts);
        let rows = select.build().fetch_all(&self.read_pool).await.map_err(db_error)?;
        let mut hits = NearestHits::new(limit as usize);
        let mut found = Vec::with_capacity(rows.len());
        for row in &rows {
            let hash: Vec<u8> = row.try_get(1).map_err(db_error)?;
            // Documents whose text has no vector yet cannot be ranked.
            if let Some(similarity) = set.similarity_of(&text_hash_from_db(&hash)?, query) {
                found.push(SearchHit {
                    seq: seq_from_db(row.try_get(0).map_err(db_error)?)?,
                    score: f64::from(similarity),
                });
            }
        }
        hits.add(found);
        Ok(hits.finish())
    }
}

/// The FTS5 query for any of `terms`. Each term becomes an FTS5 string (double quotes, inner
/// quotes doubled): inside one, no character is an operator, so a term can only ever match words.
fn fts_expression(terms: &[&str]) -> String {
    terms.iter().map(|term| format!("\"{}\"", term.replace('"', "\"\""))).collect::<Vec<_>>().join(" OR ")
}

/// Continues `WITH m AS MATERIALIZED (<documents: seq, text_hash>` with the bm25 of each of their
/// texts matching `expression` and selects `m.seq, r.relevance` (documents matching nothing are
/// left out).
fn push_relevance_of_m(query: &mut QueryBuilder<Sqlite>, tenant: &TenantId, expression: &str) {
    query.push(
        "), r AS MATERIALIZED (SELECT t.text_hash, bm25(search_text_fts) AS relevance FROM search_text_fts \
         CROSS JOIN search_texts t ON t.id = search_text_fts.rowid WHERE search_text_fts MATCH ",
    );
    query.push_bind(expression.to_owned()).push(" AND t.tenant = ").push_bind(tenant.as_str().to_owned());
    query.push(" AND t.text_hash IN (SELECT text_hash FROM m)) SELECT m.seq, r.relevance FROM m JOIN r");
    query.push(" ON r.text_hash = m.text_hash");
}

/// Pushes `SELECT d.seq, d.text_hash FROM search_documents d WHERE ...` for the documents `seqs`.
fn push_documents_at(query: &mut QueryBuilder<Sqlite>, tenant: &TenantId, seqs: &[u64]) {
    query.push("SELECT d.seq, d.text_hash FROM search_documents d WHERE d.tenant = ");
    query.push_bind(tenant.as_str().to_owned()).push(" AND d.seq IN (");
    let mut separated = query.separated(", ");
    for &seq in seqs {
        separated.push_bind(seq_to_db(seq));
    }
    query.push(")");
}

/// How times are stored in `occurred_at`: the log's text format, which sorts as time.
fn sqlite_time(time: &DateTime<Utc>) -> String {
    format_time(time)
}

async fn indexed_until_in(conn: &mut SqliteConnection, tenant: &TenantId) -> Result<u64, StoreError> {
    let until: Option<i64> = sqlx::query_scalar("SELECT indexed_until FROM search_progress WHERE tenant = ?")
        .bind(tenant.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    until.map_or(Ok(0), seq_from_db)
}

async fn embedded_until_in(conn: &mut SqliteConnection, tenant: &TenantId, model: &str) -> Result<u64, StoreError> {
    let until: Option<i64> =
        sqlx::query_scalar("SELECT embedded_until FROM search_embedding_progress WHERE tenant = ? AND model = ?")
            .bind(tenant.as_str())
            .bind(model)
            .fetch_optional(conn)
            .await
            .map_err(db_error)?;
    until.map_or(Ok(0), seq_from_db)
}

/// Moves the embedding watermark forward to `until` (never back).
async fn raise_embedded_until(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    model: &str,
    until: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO search_embedding_progress (tenant, model, embedded_until) VALUES (?, ?, ?) \
         ON CONFLICT (tenant, model) DO UPDATE SET embedded_until = MAX(embedded_until, excluded.embedded_until)",
    )
    .bind(tenant.as_str())
    .bind(model)
    .bind(seq_to_db(until))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// The oldest `limit` distinct texts first used at or after seq `from` that have no vector for
/// `model`, with the seq of their first use. Walks `search_texts` in order of first use, so it
/// stops after `limit` misses.
async fn unembedded_texts(
    conn: &mut SqliteConnection,
    tenant: &TenantId,
    model: &str,
    from: u64,
    limit: u32,
) -> Result<Vec<(u64, TextHash, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.first_seq, t.text_hash, t.text FROM search_texts t WHERE t.tenant = ? AND t.first_seq >= ? \
         AND NOT EXISTS (SELECT 1 FROM search_vectors v WHERE v.tenant = t.tenant AND v.model = ? \
         AND v.text_hash = t.text_hash) ORDER BY t.first_seq LIMIT ?",
    )
    .bind(tenant.as_str())
    .bind(seq_to_db(from))
    .bind(model)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    rows.iter()
        .map(|row| {
            let hash: Vec<u8> = row.try_get(1).map_err(db_error)?;
            Ok((
                seq_from_db(row.try_get(0).map_err(db_error)?)?,
                text_hash_from_db(&hash)?,
                row.try_get(2).map_err(db_error)?,
            ))
        })
        .collect()
}

#[async_trait]
impl SearchIndex for SqliteSearch {
    async fn indexed_until(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        indexed_until_in(&mut conn, tenant).await
    }

    async fn put_documents(&self, tenant: &TenantId, documents: &[SearchDocument]) -> Result<(), StoreError> {
        if documents.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let (fresh, until) = documents_to_insert(indexed_until_in(&mut tx, tenant).await?, documents)?;
        if fresh.is_empty() {
            return Ok(());
        }
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
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO search_texts (tenant, text_hash, first_seq, text) ");
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
        for chunk in vocabulary_uses(fresh).chunks(VOCABULARY_CHUNK) {
            let mut upsert = QueryBuilder::<Sqlite>::new("INSERT INTO search_vocabulary (tenant, kind, value, uses) ");
            upsert.push_values(chunk, |mut values, (kind, value, uses)| {
                values.push_bind(tenant.as_str()).push_bind(*kind).push_bind(value.as_str()).push_bind(*uses);
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

    async fn pending_texts(&self, tenant: &TenantId, model: &str, limit: u32) -> Result<Vec<PendingText>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        let watermark = embedded_until_in(&mut conn, tenant, model).await?;
        let end = indexed_until_in(&mut conn, tenant).await?;
        let found = unembedded_texts(&mut conn, tenant, model, watermark, limit).await?;
        drop(conn);
        // Documents and vectors are never removed, so what this read saw stays true.
        let reached = embedded_until(found.first().map(|(seq, _, _)| *seq), end);
        if reached > watermark {
            let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
            raise_embedded_until(&mut conn, tenant, model, reached).await?;
        }
        let pending: Vec<PendingText> =
            found.into_iter().map(|(_, text_hash, text)| PendingText { text_hash, text }).collect();
        Ok(pending)
    }

    async fn put_vectors(
        &self,
        tenant: &TenantId,
        model: &str,
        vectors: &[(TextHash, Vec<f32>)],
    ) -> Result<(), StoreError> {
        for (text_hash, vector) in vectors {
            check_vector(&format!("the vector for text {}", hex::encode(text_hash)), vector)?;
        }
        if vectors.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        for chunk in vectors.chunks(VECTOR_CHUNK) {
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO search_vectors (tenant, model, text_hash, vector) ");
            insert.push_values(chunk, |mut values, (text_hash, vector)| {
                values
                    .push_bind(tenant.as_str())
                    .push_bind(model)
                    .push_bind(text_hash.to_vec())
                    .push_bind(to_blob(vector));
            });
            insert.push(" ON CONFLICT (tenant, model, text_hash) DO NOTHING");
            insert.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        // Move the watermark past the documents whose texts now have vectors.
        let watermark = embedded_until_in(&mut tx, tenant, model).await?;
        let end = indexed_until_in(&mut tx, tenant).await?;
        let first = unembedded_texts(&mut tx, tenant, model, watermark, 1).await?;
        let reached = embedded_until(first.first().map(|(seq, _, _)| *seq), end);
        if reached > watermark {
            raise_embedded_until(&mut tx, tenant, model, reached).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn fulltext(
        &self,
        tenant: &TenantId,
        terms: &[String],
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let terms = usable_terms(terms);
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let expression = fts_expression(&terms);
        let plan = FilterPlan::new(filter);
        let first_round = match self.scope(tenant, &plan).await? {
            Scope::Few(texts) => {
                return self.fulltext_among_matching(tenant, &expression, &plan, texts.as_deref(), limit).await;
            }
            Scope::Texts(_) => FILTERED_FIRST_ROUND,
            Scope::All => FIRST_ROUND,
        };
        let mut widening = Widening::with_first_round(limit as usize, first_round);
        while let Some(size) = widening.next_size() {
            widening.offer(self.ranked_texts(tenant, &expression, &plan, size).await?, size);
            while let Some(texts) = widening.next_chunk() {
                widening.add(self.newest_documents(tenant, &texts, &plan, limit).await?);
            }
        }
        Ok(widening.finish())
    }

    async fn nearest(
        &self,
        tenant: &TenantId,
        model: &str,
        vector: &[f32],
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        check_vector("the query vector", vector)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let set = self.cache.load(&self.read_pool, tenant, model).await?;
        let mut query = vector.to_vec();
        normalize(&mut query);
        let plan = FilterPlan::new(filter);
        // Only texts some matching document may have are ranked (all of them without a filter).
        let allowed: Option<HashSet<TextHash>> = match self.scope(tenant, &plan).await? {
            Scope::Few(texts) => {
                return self.nearest_among_matching(tenant, &set, &query, &plan, texts.as_deref(), limit).await;
            }
            Scope::Texts(texts) => Some(texts.into_iter().collect()),
            Scope::All => None,
        };
        // Comparing with every text is CPU work proportional to the tenant's texts: keep it off the
        // async workers.
        let scored = set.clone();
        let mut ranking = tokio::task::spawn_blocking(move || {
            let similarities = scored.similarities(&query);
            match allowed {
                Some(allowed) => Ranking::among(similarities, |idx| allowed.contains(&scored.hash(idx))),
                None => Ranking::new(similarities),
            }
        })
        .await
        .map_err(|err| StoreError::database(None, err))?;
        let mut widening = Widening::new(limit as usize);
        while let Some(size) = widening.next_size() {
            let top = ranking.top(size).to_vec();
            let texts = top.iter().map(|&idx| (set.hash(idx as usize), f64::from(ranking.similarity(idx)))).collect();
            widening.offer(texts, size);
            while let Some(texts) = widening.next_chunk() {
                widening.add(self.newest_documents(tenant, &texts, &plan, limit).await?);
            }
        }
        Ok(widening.finish())
    }

    async fn fulltext_scores(
        &self,
        tenant: &TenantId,
        terms: &[String],
        seqs: &[u64],
    ) -> Result<Vec<SearchHit>, StoreError> {
        let terms = usable_terms(terms);
        let seqs = &seqs[..seqs.len().min(MAX_SCORED)];
        if terms.is_empty() || seqs.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Sqlite>::new("WITH m AS MATERIALIZED (");
        push_documents_at(&mut query, tenant, seqs);
        push_relevance_of_m(&mut query, tenant, &fts_expression(&terms));
        self.relevance_hits(query).await
    }

    async fn similarities(
        &self,
        tenant: &TenantId,
        model: &str,
        vector: &[f32],
        seqs: &[u64],
    ) -> Result<Vec<SearchHit>, StoreError> {
        check_vector("the query vector", vector)?;
        let seqs = &seqs[..seqs.len().min(MAX_SCORED)];
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let set = self.cache.load(&self.read_pool, tenant, model).await?;
        let mut query = vector.to_vec();
        normalize(&mut query);
        let mut select = QueryBuilder::<Sqlite>::new("");
        push_documents_at(&mut select, tenant, seqs);
        let rows = select.build().fetch_all(&self.read_pool).await.map_err(db_error)?;
        let mut hits = Vec::with_capacity(rows.len());
        for row in &rows {
            let hash: Vec<u8> = row.try_get(1).map_err(db_error)?;
            if let Some(similarity) = set.similarity_of(&text_hash_from_db(&hash)?, &query) {
                let seq = seq_from_db(row.try_get(0).map_err(db_error)?)?;
                hits.push(SearchHit { seq, score: f64::from(similarity) });
            }
        }
        Ok(hits)
    }

    async fn filtered(
        &self,
        tenant: &TenantId,
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let plan = FilterPlan::new(filter);
        // Few matching documents are read first and sorted: walking the newest documents until
        // `limit` pass can cross the whole log when the matches are old or absent.
        let few = match self.scope(tenant, &plan).await? {
            Scope::Few(Some(texts)) if texts.is_empty() => return Ok(Vec::new()),
            Scope::Few(texts) => Some(texts),
            Scope::All | Scope::Texts(_) => None,
        };
        let mut query = QueryBuilder::<Sqlite>::new("");
        match &few {
            Some(texts) => {
                // MATERIALIZED: a flattened subquery would be walked newest first again.
                query.push("WITH m AS MATERIALIZED (");
                Self::push_matching(&mut query, tenant, &plan, texts.as_deref());
                query.push(") SELECT m.seq FROM m");
            }
            None => {
                query.push("SELECT d.seq FROM search_documents d WHERE d.tenant = ").push_bind(tenant.as_str());
                plan.push_conditions(&mut query, "d", tenant.as_str(), sqlite_time);
            }
        }
        let order = if few.is_some() { "m.seq" } else { "d.seq" };
        query.push(format_args!(" ORDER BY {order} DESC LIMIT ")).push_bind(i64::from(limit));
        let rows = query.build().fetch_all(&self.read_pool).await.map_err(db_error)?;
        rows.iter()
            .map(|row| Ok(SearchHit { seq: seq_from_db(row.try_get(0).map_err(db_error)?)?, score: 1.0 }))
            .collect()
    }

    async fn rendering(&self, tenant: &TenantId) -> Result<u32, StoreError> {
        let rendering: Option<i64> = sqlx::query_scalar("SELECT rendering FROM search_progress WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_optional(&self.read_pool)
            .await
            .map_err(db_error)?;
        Ok(rendering.and_then(|value| u32::try_from(value).ok()).unwrap_or(0))
    }

    async fn reset_documents(&self, tenant: &TenantId, rendering: u32) -> Result<(), StoreError> {
        let mut tx = self.write_pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        // Deleting texts deletes their full-text rows (trigger search_texts_fts_delete).
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
        self.scopes.forget(tenant);
        Ok(())
    }

    async fn prune_vectors(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let waiting: Option<i64> = sqlx::query_scalar("SELECT prune_vectors FROM search_progress WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_optional(&self.read_pool)
            .await
            .map_err(db_error)?;
        if waiting.unwrap_or(0) == 0 {
            return Ok(0);
        }
        let mut tx = self.write_pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
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
        self.cache.forget(tenant);
        Ok(deleted)
    }

    async fn progress(&self, tenant: &TenantId, model: &str) -> Result<IndexProgress, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT next_seq FROM chain_heads WHERE tenant = ?), \
             (SELECT indexed_until FROM search_progress WHERE tenant = ?), \
             (SELECT embedded_until FROM search_embedding_progress WHERE tenant = ? AND model = ?)",
        )
        .bind(tenant.as_str())
        .bind(tenant.as_str())
        .bind(tenant.as_str())
        .bind(model)
        .fetch_one(&self.read_pool)
        .await
        .map_err(db_error)?;
        let column = |idx: usize| -> Result<u64, StoreError> {
            let value: Option<i64> = row.try_get(idx).map_err(db_error)?;
            value.map_or(Ok(0), seq_from_db)
        };
        Ok(IndexProgress { events: column(0)?, indexed: column(1)?, embedded: column(2)? })
    }

    async fn vocabulary(&self, tenant: &TenantId, limit: u32) -> Result<Vocabulary, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT kind, value FROM (SELECT kind, value, ROW_NUMBER() OVER \
             (PARTITION BY kind ORDER BY uses DESC, value) AS place FROM search_vocabulary WHERE tenant = ?) \
             WHERE place <= ? ORDER BY kind, place",
        )
        .bind(tenant.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.read_pool)
        .await
        .map_err(db_error)?;
        Ok(vocabulary_from_rows(rows))
    }
}

/// Each tenant and model's vectors in memory, refreshed incrementally.
#[derive(Default)]
struct VectorCache {
    sets: Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<CachedVectors>>>>,
}

/// Tenant and model.
type CacheKey = (String, String);

#[derive(Default)]
struct CachedVectors {
    /// The highest `search_vectors.id` read so far.
    last_id: i64,
    set: Arc<VectorSet>,
}

impl VectorCache {
    /// Drops the tenant's sets (every model): the next search reads them from the table again.
    fn forget(&self, tenant: &TenantId) {
        let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
        sets.retain(|(cached_tenant, _), _| cached_tenant != tenant.as_str());
    }

    /// Returns the tenant and model's vectors, reading the rows added since the last call first.
    async fn load(&self, pool: &SqlitePool, tenant: &TenantId, model: &str) -> Result<Arc<VectorSet>, StoreError> {
        let entry = {
            let mut sets = self.sets.lock().unwrap_or_else(PoisonError::into_inner);
            sets.entry((tenant.as_str().to_owned(), model.to_owned())).or_default().clone()
        };
        // One refresh at a time per tenant and model; searches wait for it rather than read twice.
        let mut cached = entry.lock().await;
        loop {
            let rows = sqlx::query(
                "SELECT id, text_hash, vector FROM search_vectors WHERE tenant = ? AND model = ? AND id > ? \
                 ORDER BY id LIMIT ?",
            )
            .bind(tenant.as_str())
            .bind(model)
            .bind(cached.last_id)
            .bind(CACHE_PAGE)
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            let Some(last) = rows.last() else { break };
            let last_id: i64 = last.try_get(0).map_err(db_error)?;
            // Copies the set only if a search still holds the previous version.
            let set = Arc::make_mut(&mut cached.set);
            for row in &rows {
                let hash: Vec<u8> = row.try_get(1).map_err(db_error)?;
                let blob: Vec<u8> = row.try_get(2).map_err(db_error)?;
                set.push(text_hash_from_db(&hash)?, from_blob(&blob)?);
            }
            cached.last_id = last_id;
            if (rows.len() as i64) < CACHE_PAGE {
                break;
            }
        }
        Ok(cached.set.clone())
    }
}
