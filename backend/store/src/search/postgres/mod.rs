//! The search index on PostgreSQL: a generated `tsvector` column for full text, pgvector HNSW for
//! vectors.
//!
//! Writers of one tenant's documents serialise on its `search_progress` row, and the embedding
//! watermark only ever moves forward (`GREATEST`), so several servers may run the indexing job.
//!
//! Searches are sent as unnamed (not cached) statements, so PostgreSQL plans each with its actual
//! values: a cached generic plan cannot tell that `occurred_at >= $2` means "the last day" and
//! falls back to scanning every document.
//!
//! What lives where: `fulltext` ranks texts by BM25 over `tsvector`, `vectors` by pgvector
//! similarity, `matching` finds the documents that pass a filter (and the newest ones of ranked
//! texts), `writes` stores documents and vectors and resets or prunes them, and `progress` reads
//! and moves the per-tenant watermarks.

mod fulltext;
mod matching;
mod progress;
mod vectors;
mod writes;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::PgPool;
use veritrail_core::event::TenantId;
use veritrail_core::query::Vocabulary;
use veritrail_core::search::{
    IndexProgress, PendingText, SearchDocument, SearchFilter, SearchHit, SearchIndex, TextHash,
};
use veritrail_core::store::StoreError;

use self::matching::{FacetTexts, scope};
use super::filter::FilterPlan;
use super::watermark::ProgressRows;
use super::{Scope, ScopeCache};

/// Search index over the store's PostgreSQL database.
pub struct PostgresSearch {
    pool: PgPool,
    scopes: ScopeCache<FacetTexts>,
}

impl PostgresSearch {
    /// Uses the store's connection pool.
    pub fn new(pool: PgPool) -> Self {
        Self { pool, scopes: ScopeCache::default() }
    }

    /// [`scope`], reused while the tenant's documents are unchanged (see [`ScopeCache`]).
    async fn scope(
        &self,
        conn: &mut PgConnection,
        tenant: &TenantId,
        plan: &FilterPlan,
    ) -> Result<Scope<FacetTexts>, StoreError> {
        if plan.is_empty() {
            return Ok(Scope::All);
        }
        let indexed_until = conn.indexed_until(tenant).await?;
        if let Some(scope) = self.scopes.get(tenant, plan, indexed_until) {
            return Ok(scope);
        }
        let fresh = scope(conn, tenant, plan).await?;
        self.scopes.put(tenant, plan, indexed_until, &fresh);
        Ok(fresh)
    }
}

#[async_trait]
impl SearchIndex for PostgresSearch {
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
