//! Nearest texts on PostgreSQL: pgvector's HNSW index for the top of the list, exact scans for
//! large candidate sets and for filters that let few texts through.

use pgvector::Vector;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use veritrail_core::event::TenantId;
use veritrail_core::search::{SearchFilter, SearchHit, TextHash};
use veritrail_core::store::StoreError;

use super::PostgresSearch;
use super::matching::{newest_documents, push_documents_at, push_matching};
use crate::rows::db_error;
use crate::search::decode::IndexColumns;
use crate::search::filter::FilterPlan;
use crate::search::widening::{ScoredText, TextRounds, Widening};
use crate::search::{Scope, check_vector, scored_seqs};

/// Larger candidate sets are read by an exact scan: the HNSW graph is for the top of the list.
const HNSW_MAX_CANDIDATES: usize = 1_000;
/// A filter letting at most this many texts through compares them all, in one exact scan: the
/// graph would have to walk past the texts the filter rejects, about `size ÷ share passing`
/// of them, each costing more than an exact comparison.
const EXACT_MAX_TEXTS: i64 = 4_000;
/// HNSW candidate list size: higher than pgvector's default 40 for recall.
const EF_SEARCH: &str = "100";

/// Returns the `size` texts nearest to `query`, best first, by the HNSW index or by an exact scan;
/// only texts whose facets pass `facets` when given.
async fn nearest_texts(
    conn: &mut PgConnection,
    tenant: &TenantId,
    model: &str,
    query: &Vector,
    facets: Option<&FilterPlan>,
    size: usize,
    exact: bool,
) -> Result<Vec<ScoredText>, StoreError> {
    let mut select = QueryBuilder::<Postgres>::new("SELECT v.text_hash, 1 - (v.vector <=> ");
    select.push_bind(query.clone()).push(") FROM search_vectors v WHERE v.tenant = ").push_bind(tenant.as_str());
    select.push(" AND v.model = ").push_bind(model.to_owned());
    if let Some(plan) = facets {
        // A semi-join probing the facets' primary key per candidate, not a list of texts: the
        // list can be most of the tenant's texts, and `= ANY(list)` is a linear scan per row.
        select.push(" AND EXISTS (SELECT 1 FROM search_text_facets f WHERE f.tenant = v.tenant");
        select.push(" AND f.text_hash = v.text_hash");
        plan.push_facet_conditions(&mut select, "f", |time| *time);
        select.push(")");
    }
    // The index can only order by `vector <=> constant`; adding 0 makes the planner scan exactly.
    select.push(" ORDER BY (v.vector <=> ").push_bind(query.clone()).push(if exact { ") + 0" } else { ")" });
    select.push(" LIMIT ").push_bind(i64::try_from(size).unwrap_or(i64::MAX));
    let rows = select.build().persistent(false).fetch_all(conn).await.map_err(db_error)?;
    let mut texts = rows.iter().map(IndexColumns::scored_text).collect::<Result<Vec<_>, StoreError>>()?;
    // Iterative index scans in relaxed order may return rows slightly out of order.
    texts.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.hash.cmp(&b.hash)));
    Ok(texts)
}

/// Ranks every document passing `plan` by its text's similarity: for filters that let few
/// documents through.
async fn nearest_among_matching(
    conn: &mut PgConnection,
    tenant: &TenantId,
    model: &str,
    query: &Vector,
    plan: &FilterPlan,
    texts: Option<&[TextHash]>,
    limit: u32,
) -> Result<Vec<SearchHit>, StoreError> {
    let mut select = QueryBuilder::<Postgres>::new("WITH m AS MATERIALIZED (");
    push_matching(&mut select, tenant, plan, texts);
    // Compared once per distinct text, not once per document.
    select.push("), s AS MATERIALIZED (SELECT v.text_hash, 1 - (v.vector <=> ").push_bind(query.clone());
    select.push(") AS similarity FROM search_vectors v WHERE v.tenant = ").push_bind(tenant.as_str());
    select.push(" AND v.model = ").push_bind(model.to_owned());
    select.push(" AND v.text_hash IN (SELECT text_hash FROM m)) SELECT m.seq, s.similarity FROM m JOIN s");
    select.push(" ON s.text_hash = m.text_hash ORDER BY s.similarity DESC, m.seq DESC LIMIT ");
    select.push_bind(i64::from(limit));
    let rows = select.build().persistent(false).fetch_all(conn).await.map_err(db_error)?;
    rows.iter().map(IndexColumns::scored_hit).collect()
}

pub(super) async fn nearest(
    index: &PostgresSearch,
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
    let query = Vector::from(vector.to_vec());
    let plan = FilterPlan::new(filter);
    let mut tx = index.pool.begin().await.map_err(db_error)?;
    // Only texts some matching document may have are ranked (all of them without a filter);
    // few enough are compared exactly.
    let (facets, allowed_texts) = match index.scope(&mut tx, tenant, &plan).await? {
        Scope::Few(texts) => {
            let hits = nearest_among_matching(&mut tx, tenant, model, &query, &plan, texts.as_deref(), limit).await?;
            tx.commit().await.map_err(db_error)?;
            return Ok(hits);
        }
        Scope::Texts(texts) => (Some(&plan), Some(texts.count)),
        Scope::All => (None, None),
    };
    // Transaction-local: iterative scans keep walking the graph until enough rows pass the
    // tenant, model and text conditions, instead of returning fewer.
    sqlx::query(
        "SELECT set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)",
    )
    .bind(EF_SEARCH)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let mut widening = Widening::new(limit as usize);
    let mut rounds =
        NearestRounds { conn: &mut tx, tenant, model, query: &query, facets, plan: &plan, limit, exact: false };
    if let Some(count) = allowed_texts.filter(|count| *count <= EXACT_MAX_TEXTS) {
        // Every passing text ranked at once; asking for one more than there are ends the
        // widening after this round.
        let size = usize::try_from(count).unwrap_or(usize::MAX).saturating_add(1);
        let texts = nearest_texts(rounds.conn, tenant, model, &query, facets, size, true).await?;
        widening.take(texts, size, &mut rounds).await?;
    }
    let hits = widening.run(&mut rounds).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(hits)
}

/// A nearest search's rounds: texts by the HNSW index (or an exact scan once it cannot answer),
/// then their newest matching documents.
struct NearestRounds<'a> {
    conn: &'a mut PgConnection,
    tenant: &'a TenantId,
    model: &'a str,
    query: &'a Vector,
    facets: Option<&'a FilterPlan>,
    plan: &'a FilterPlan,
    limit: u32,
    /// Whether rounds scan exactly; once set it stays set.
    exact: bool,
}

impl TextRounds for NearestRounds<'_> {
    async fn texts(&mut self, size: usize) -> Result<Vec<ScoredText>, StoreError> {
        self.exact |= size > HNSW_MAX_CANDIDATES;
        let mut texts =
            nearest_texts(self.conn, self.tenant, self.model, self.query, self.facets, size, self.exact).await?;
        if texts.len() < size && !self.exact {
            // Fewer than asked: the tenant has no more texts, or the index scan gave up (it
            // visits at most hnsw.max_scan_tuples). Only an exact scan can tell.
            self.exact = true;
            texts =
                nearest_texts(self.conn, self.tenant, self.model, self.query, self.facets, size, self.exact).await?;
        }
        Ok(texts)
    }

    async fn documents(&mut self, texts: &[ScoredText]) -> Result<Vec<SearchHit>, StoreError> {
        newest_documents(self.conn, self.tenant, texts, self.plan, self.limit).await
    }
}

pub(super) async fn similarities(
    index: &PostgresSearch,
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
    let mut query = QueryBuilder::<Postgres>::new("WITH m AS MATERIALIZED (");
    push_documents_at(&mut query, tenant, seqs);
    query.push(") SELECT m.seq, 1 - (v.vector <=> ").push_bind(Vector::from(vector.to_vec()));
    query.push(") FROM m JOIN search_vectors v ON v.tenant = ").push_bind(tenant.as_str());
    query.push(" AND v.model = ").push_bind(model.to_owned()).push(" AND v.text_hash = m.text_hash");
    let rows = query.build().persistent(false).fetch_all(&index.pool).await.map_err(db_error)?;
    rows.iter().map(IndexColumns::scored_hit).collect()
}
