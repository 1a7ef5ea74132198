//! The search index on SQLite: FTS5 for full text, vectors scanned in memory.
//!
//! Writes go through the store's one write connection in `BEGIN IMMEDIATE` transactions, like
//! appends, so they serialise with them; searches use the read pool. SQLite has no vector index,
//! so each tenant and model's vectors are cached in memory and compared by brute force: the cache
//! is filled on first use and, on each search, reads only the rows added since (by `id`).
//!
//! What lives where: `fulltext` ranks texts with FTS5's bm25 over each tenant's own FTS5 table
//! (`fulltext_tables`: so that BM25's statistics are the tenant's), `vectors` compares them with the
//! in-memory vector sets (`vector_cache`), `matching` finds the documents that pass a filter (and
//! the newest ones of ranked texts), `writes` stores documents and vectors and resets or prunes
//! them, and `progress` reads and moves the per-tenant watermarks.

mod fulltext;
mod fulltext_tables;
mod matching;
mod progress;
mod vector_cache;
mod vectors;
mod writes;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqlitePool;
use veritrail_core::event::{TenantId, format_time};
use veritrail_core::query::Vocabulary;
use veritrail_core::search::{
    IndexProgress, PendingText, SearchDocument, SearchFilter, SearchHit, SearchIndex, TextHash,
};
use veritrail_core::store::StoreError;

pub(crate) use self::fulltext_tables::create_missing_fulltext_tables;
use self::vector_cache::VectorCache;
use super::ScopeCache;

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
}

/// How times are stored in `occurred_at`: the log's text format, which sorts as time.
fn sqlite_time(time: &DateTime<Utc>) -> String {
    format_time(time)
}

#[async_trait]
impl SearchIndex for SqliteSearch {
    async fn indexed_until(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        progress::indexed_until(self, tenant).await
    }

    async fn put_documents(&self, tenant: &TenantId, documents: &[SearchDocument]) -> Result<(), StoreError> {
        writes::put_documents(self, tenant, documents).await
    }

    async fn pending_texts(&self, tenant: &TenantId, model: &str, limit: u32) -> Result<Vec<PendingText>, StoreError> {
        writes::pending_texts(self, tenant, model, limit).await
    }

    async fn put_vectors(
        &self,
        tenant: &TenantId,
        model: &str,
        vectors: &[(TextHash, Vec<f32>)],
    ) -> Result<(), StoreError> {
        writes::put_vectors(self, tenant, model, vectors).await
    }

    async fn fulltext(
        &self,
        tenant: &TenantId,
        terms: &[String],
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        fulltext::search(self, tenant, terms, filter, limit).await
    }

    async fn nearest(
        &self,
        tenant: &TenantId,
        model: &str,
        vector: &[f32],
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        vectors::nearest(self, tenant, model, vector, filter, limit).await
    }

    async fn fulltext_scores(
        &self,
        tenant: &TenantId,
        terms: &[String],
        seqs: &[u64],
    ) -> Result<Vec<SearchHit>, StoreError> {
        fulltext::scores(self, tenant, terms, seqs).await
    }

    async fn similarities(
        &self,
        tenant: &TenantId,
        model: &str,
        vector: &[f32],
        seqs: &[u64],
    ) -> Result<Vec<SearchHit>, StoreError> {
        vectors::similarities(self, tenant, model, vector, seqs).await
    }

    async fn filtered(
        &self,
        tenant: &TenantId,
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        matching::filtered(self, tenant, filter, limit).await
    }

    async fn rendering(&self, tenant: &TenantId) -> Result<u32, StoreError> {
        progress::rendering(self, tenant).await
    }

    async fn reset_documents(&self, tenant: &TenantId, rendering: u32) -> Result<(), StoreError> {
        writes::reset_documents(self, tenant, rendering).await
    }

    async fn prune_vectors(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        writes::prune_vectors(self, tenant).await
    }

    async fn progress(&self, tenant: &TenantId, model: &str) -> Result<IndexProgress, StoreError> {
        progress::progress(self, tenant, model).await
    }

    async fn vocabulary(&self, tenant: &TenantId, limit: u32) -> Result<Vocabulary, StoreError> {
        progress::vocabulary(self, tenant, limit).await
    }
}
