//! Nearest texts on SQLite: every text's vector compared with the question in memory (SQLite
//! has no vector index), then the newest matching documents of the best texts.

use std::collections::HashSet;

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};
use veritrail_core::event::TenantId;
use veritrail_core::search::{SearchFilter, SearchHit, TextHash};
use veritrail_core::store::StoreError;

use super::SqliteSearch;
use super::matching::push_documents_at;
use crate::rows::db_error;
use crate::search::decode::IndexColumns;
use crate::search::filter::FilterPlan;
use crate::search::vectors::{Ranking, VectorSet, normalize};
use crate::search::widening::{NearestHits, ScoredText, TextRounds, Widening};
use crate::search::{Scope, check_vector, scored_seqs};

impl SqliteSearch {
    /// Ranks every document passing `plan` by its text's similarity: for filters that let few
    /// documents through.
    pub(super) async fn nearest_among_matching(
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
        hits.add(similar_documents(&rows, set, query)?);
        Ok(hits.finish())
    }
}

pub(super) async fn nearest(
    index: &SqliteSearch,
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
    let set = index.cache.load(&index.read_pool, tenant, model).await?;
    let mut query = vector.to_vec();
    normalize(&mut query);
    let plan = FilterPlan::new(filter);
    // Only texts some matching document may have are ranked (all of them without a filter).
    let allowed: Option<HashSet<TextHash>> = match index.scope(tenant, &plan).await? {
        Scope::Few(texts) => {
            return index.nearest_among_matching(tenant, &set, &query, &plan, texts.as_deref(), limit).await;
        }
        Scope::Texts(texts) => Some(texts.into_iter().collect()),
        Scope::All => None,
    };
    // Comparing with every text is CPU work proportional to the tenant's texts: keep it off the
    // async workers.
    let scored = set.clone();
    let ranking = tokio::task::spawn_blocking(move || {
        let similarities = scored.similarities(&query);
        match allowed {
            Some(allowed) => Ranking::among(similarities, |idx| allowed.contains(&scored.hash(idx))),
            None => Ranking::new(similarities),
        }
    })
    .await
    .map_err(|err| StoreError::database(None, err))?;
    let mut rounds = NearestRounds { index, tenant, set: &set, ranking, plan: &plan, limit };
    Widening::new(limit as usize).run(&mut rounds).await
}

/// A nearest search's rounds: texts from the in-memory ranking, then their newest matching
/// documents.
struct NearestRounds<'a> {
    index: &'a SqliteSearch,
    tenant: &'a TenantId,
    set: &'a VectorSet,
    ranking: Ranking,
    plan: &'a FilterPlan,
    limit: u32,
}

impl TextRounds for NearestRounds<'_> {
    async fn texts(&mut self, size: usize) -> Result<Vec<ScoredText>, StoreError> {
        let top = self.ranking.top(size).to_vec();
        let similarity = |idx: u32| f64::from(self.ranking.similarity(idx));
        Ok(top.iter().map(|&idx| ScoredText { hash: self.set.hash(idx as usize), score: similarity(idx) }).collect())
    }

    async fn documents(&mut self, texts: &[ScoredText]) -> Result<Vec<SearchHit>, StoreError> {
        self.index.newest_documents(self.tenant, texts, self.plan, self.limit).await
    }
}

pub(super) async fn similarities(
    index: &SqliteSearch,
    tenant: &TenantId,
    model: &str,
    vector: &[f32],
    seqs: &[u64],
) -> Result<Vec<SearchHit>, StoreError> {
    check_vector("the query vector", vector)?;
    let seqs = scored_seqs(seqs);
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let set = index.cache.load(&index.read_pool, tenant, model).await?;
    let mut query = vector.to_vec();
    normalize(&mut query);
    let mut select = QueryBuilder::<Sqlite>::new("");
    push_documents_at(&mut select, tenant, seqs);
    let rows = select.build().fetch_all(&index.read_pool).await.map_err(db_error)?;
    similar_documents(&rows, &set, &query)
}

/// Scores `(seq, text_hash)` document rows with their text's similarity to `query` (already
/// normalised). Documents whose text has no vector yet cannot be ranked and are left out.
fn similar_documents(rows: &[SqliteRow], set: &VectorSet, query: &[f32]) -> Result<Vec<SearchHit>, StoreError> {
    let mut hits = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(similarity) = set.similarity_of(&row.text_hash(1)?, query) {
            hits.push(SearchHit { seq: row.seq(0)?, score: f64::from(similarity) });
        }
    }
    Ok(hits)
}
