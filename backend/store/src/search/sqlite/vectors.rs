//! Nearest texts on SQLite: every text's vector compared with the question in memory (SQLite
//! has no vector index), then the newest matching documents of the best texts.

use std::collections::HashSet;

use sqlx::{QueryBuilder, Row, Sqlite};
use veritrail_core::event::TenantId;
use veritrail_core::search::{SearchFilter, SearchHit, TextHash};
use veritrail_core::store::StoreError;

use super::SqliteSearch;
use super::matching::push_documents_at;
use crate::rows::db_error;
use crate::search::filter::FilterPlan;
use crate::search::vectors::{NearestHits, Ranking, VectorSet, Widening, normalize};
use crate::search::{MAX_SCORED, Scope, check_vector, seq_from_db, text_hash_from_db};

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
            widening.add(index.newest_documents(tenant, &texts, &plan, limit).await?);
        }
    }
    Ok(widening.finish())
}

pub(super) async fn similarities(
    index: &SqliteSearch,
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
    let set = index.cache.load(&index.read_pool, tenant, model).await?;
    let mut query = vector.to_vec();
    normalize(&mut query);
    let mut select = QueryBuilder::<Sqlite>::new("");
    push_documents_at(&mut select, tenant, seqs);
    let rows = select.build().fetch_all(&index.read_pool).await.map_err(db_error)?;
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
