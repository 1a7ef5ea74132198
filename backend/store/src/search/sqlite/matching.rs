//! Which documents pass a filter on SQLite: the filter's [`Scope`], the documents found through
//! a few texts or the filter indexes, the newest matching documents of ranked texts, and the
//! plain filtered listing.

use sqlx::{QueryBuilder, Row, Sqlite};
use veritrail_core::event::TenantId;
use veritrail_core::search::{SearchFilter, SearchHit, TextHash};
use veritrail_core::store::StoreError;

use super::{SqliteSearch, sqlite_time};
use crate::rows::{db_error, seq_to_db};
use crate::search::decode::IndexColumns;
use crate::search::filter::FilterPlan;
use crate::search::watermark::ProgressRows;
use crate::search::widening::ScoredText;
use crate::search::{PREFILTER_MAX, Scope, uses_per_text};

impl SqliteSearch {
    /// Returns up to `per_text` newest documents passing `plan` of each candidate text, scored
    /// with the text's score.
    pub(super) async fn newest_documents(
        &self,
        tenant: &TenantId,
        candidates: &[ScoredText],
        plan: &FilterPlan,
        per_text: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new("WITH candidates (hash, score) AS (VALUES ");
        let mut separated = query.separated(", ");
        for text in candidates {
            separated.push("(").push_bind_unseparated(text.hash.to_vec()).push_unseparated(", ");
            separated.push_bind_unseparated(text.score).push_unseparated(")");
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
        rows.iter().map(IndexColumns::scored_hit).collect()
    }

    /// How a search filtered by `plan` finds its documents (see [`Scope`]), reused while the
    /// tenant's documents are unchanged (see [`ScopeCache`]).
    pub(super) async fn scope(&self, tenant: &TenantId, plan: &FilterPlan) -> Result<Scope, StoreError> {
        if plan.is_empty() {
            return Ok(Scope::All);
        }
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        let indexed_until = conn.indexed_until(tenant).await?;
        drop(conn);
        if let Some(scope) = self.scopes.get(tenant, plan, indexed_until) {
            return Ok(scope);
        }
        let fresh = self.fresh_scope(tenant, plan).await?;
        self.scopes.put(tenant, plan, indexed_until, &fresh);
        Ok(fresh)
    }

    pub(super) async fn fresh_scope(&self, tenant: &TenantId, plan: &FilterPlan) -> Result<Scope, StoreError> {
        // The texts whose facets pass, with the documents those facets count.
        let mut query =
            QueryBuilder::<Sqlite>::new("SELECT f.text_hash, f.uses FROM search_text_facets f WHERE f.tenant = ");
        query.push_bind(tenant.as_str());
        plan.push_facet_conditions(&mut query, "f", sqlite_time);
        let rows = query.build().fetch_all(&self.read_pool).await.map_err(db_error)?;
        let facets = rows
            .iter()
            .map(|row| Ok((row.text_hash(0)?, row.try_get::<i64, _>(1).map_err(db_error)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let in_time_range = async {
            if plan.has_time() { self.count_matching(tenant, &plan.time_only()).await.map(Some) } else { Ok(None) }
        };
        Scope::choose(uses_per_text(facets), in_time_range).await
    }

    /// Pushes `SELECT d.seq, d.text_hash FROM search_documents d WHERE ...`: the documents passing
    /// `plan`, found through `texts` when given (the text index), else through the filter indexes.
    pub(super) fn push_matching(
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

    /// Counts the documents passing `plan`, stopping just above [`PREFILTER_MAX`].
    pub(super) async fn count_matching(&self, tenant: &TenantId, plan: &FilterPlan) -> Result<i64, StoreError> {
        let mut query =
            QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM (SELECT 1 FROM search_documents d WHERE d.tenant = ");
        query.push_bind(tenant.as_str());
        plan.push_conditions(&mut query, "d", tenant.as_str(), sqlite_time);
        query.push(" LIMIT ").push_bind(PREFILTER_MAX + 1).push(") matching");
        query.build().fetch_one(&self.read_pool).await.map_err(db_error)?.try_get(0).map_err(db_error)
    }
}

/// Pushes `SELECT d.seq, d.text_hash FROM search_documents d WHERE ...` for the documents `seqs`.
pub(super) fn push_documents_at(query: &mut QueryBuilder<Sqlite>, tenant: &TenantId, seqs: &[u64]) {
    query.push("SELECT d.seq, d.text_hash FROM search_documents d WHERE d.tenant = ");
    query.push_bind(tenant.as_str().to_owned()).push(" AND d.seq IN (");
    let mut separated = query.separated(", ");
    for &seq in seqs {
        separated.push_bind(seq_to_db(seq));
    }
    query.push(")");
}

pub(super) async fn filtered(
    index: &SqliteSearch,
    tenant: &TenantId,
    filter: &SearchFilter,
    limit: u32,
) -> Result<Vec<SearchHit>, StoreError> {
    let plan = FilterPlan::new(filter);
    // Few matching documents are read first and sorted: walking the newest documents until
    // `limit` pass can cross the whole log when the matches are old or absent.
    let few = match index.scope(tenant, &plan).await? {
        Scope::Few(Some(texts)) if texts.is_empty() => return Ok(Vec::new()),
        Scope::Few(texts) => Some(texts),
        Scope::All | Scope::Texts(_) => None,
    };
    let mut query = QueryBuilder::<Sqlite>::new("");
    match &few {
        Some(texts) => {
            // MATERIALIZED: a flattened subquery would be walked newest first again.
            query.push("WITH m AS MATERIALIZED (");
            SqliteSearch::push_matching(&mut query, tenant, &plan, texts.as_deref());
            query.push(") SELECT m.seq FROM m");
        }
        None => {
            query.push("SELECT d.seq FROM search_documents d WHERE d.tenant = ").push_bind(tenant.as_str());
            plan.push_conditions(&mut query, "d", tenant.as_str(), sqlite_time);
        }
    }
    let order = if few.is_some() { "m.seq" } else { "d.seq" };
    query.push(format_args!(" ORDER BY {order} DESC LIMIT ")).push_bind(i64::from(limit));
    let rows = query.build().fetch_all(&index.read_pool).await.map_err(db_error)?;
    rows.iter().map(|row| Ok(SearchHit { seq: row.seq(0)?, score: 1.0 })).collect()
}
