//! Which documents pass a filter on PostgreSQL: the filter's [`Scope`], the documents found
//! through a few texts or the filter indexes, the newest matching documents of ranked texts, and
//! the plain filtered listing.

use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use veritrail_core::event::TenantId;
use veritrail_core::search::{SearchFilter, SearchHit, TextHash};
use veritrail_core::store::StoreError;

use super::PostgresSearch;
use crate::rows::{db_error, seq_to_db};
use crate::search::decode::IndexColumns;
use crate::search::filter::FilterPlan;
use crate::search::widening::ScoredText;
use crate::search::{PREFILTER_MAX, Scope};

/// Returns up to `per_text` newest documents passing `plan` of each candidate text, scored with the
/// text's score.
pub(super) async fn newest_documents(
    conn: &mut PgConnection,
    tenant: &TenantId,
    candidates: &[ScoredText],
    plan: &FilterPlan,
    per_text: u32,
) -> Result<Vec<SearchHit>, StoreError> {
    let hashes: Vec<Vec<u8>> = candidates.iter().map(|text| text.hash.to_vec()).collect();
    let scores: Vec<f64> = candidates.iter().map(|text| text.score).collect();
    let mut query = QueryBuilder::<Postgres>::new("SELECT d.seq, c.score FROM UNNEST(");
    query.push_bind(hashes).push("::bytea[], ").push_bind(scores).push("::float8[]) AS c (hash, score)");
    // Per text, walk its documents newest first (inside the time range when there is one) and
    // stop at `per_text` matches.
    query.push(" CROSS JOIN LATERAL (SELECT x.seq FROM search_documents x WHERE x.tenant = ");
    query.push_bind(tenant.as_str()).push(" AND x.text_hash = c.hash");
    plan.push_row_conditions(&mut query, "x", |time| *time);
    query.push(" ORDER BY x.occurred_at DESC LIMIT ").push_bind(i64::from(per_text)).push(") d");
    let rows = query.build().persistent(false).fetch_all(conn).await.map_err(db_error)?;
    rows.iter().map(IndexColumns::scored_hit).collect()
}

/// How many texts have facets passing the filter (PostgreSQL's [`Scope::Texts`]: the texts
/// themselves stay in SQL, as a semi-join on `search_text_facets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FacetTexts {
    pub count: i64,
}

/// How a search filtered by `plan` finds its documents (see [`Scope`]).
pub(super) async fn scope(
    conn: &mut PgConnection,
    tenant: &TenantId,
    plan: &FilterPlan,
) -> Result<Scope<FacetTexts>, StoreError> {
    if plan.is_empty() {
        return Ok(Scope::All);
    }
    // The documents and texts the passing facets count; the texts are only listed when few.
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT COALESCE(SUM(f.uses), 0)::bigint, COUNT(DISTINCT f.text_hash) FROM search_text_facets f WHERE f.tenant = ",
    );
    query.push_bind(tenant.as_str());
    plan.push_facet_conditions(&mut query, "f", |time| *time);
    let row = query.build().persistent(false).fetch_one(&mut *conn).await.map_err(db_error)?;
    let bound: i64 = row.try_get(0).map_err(db_error)?;
    let count: i64 = row.try_get(1).map_err(db_error)?;
    // The same rule as `Scope::choose`, with the texts listed only when few.
    if bound <= PREFILTER_MAX {
        let mut query =
            QueryBuilder::<Postgres>::new("SELECT DISTINCT f.text_hash FROM search_text_facets f WHERE f.tenant = ");
        query.push_bind(tenant.as_str());
        plan.push_facet_conditions(&mut query, "f", |time| *time);
        let rows = query.build().persistent(false).fetch_all(&mut *conn).await.map_err(db_error)?;
        let texts = rows.iter().map(|row| row.text_hash(0)).collect::<Result<Vec<_>, StoreError>>()?;
        return Ok(Scope::Few(Some(texts)));
    }
    if plan.has_time() && count_matching(conn, tenant, &plan.time_only()).await? <= PREFILTER_MAX {
        return Ok(Scope::Few(None));
    }
    Ok(Scope::Texts(FacetTexts { count }))
}

/// Pushes `SELECT d.seq, d.text_hash FROM search_documents d WHERE ...`: the documents passing
/// `plan`, found through `texts` when given (the text index), else through the filter indexes.
pub(super) fn push_matching(
    query: &mut QueryBuilder<Postgres>,
    tenant: &TenantId,
    plan: &FilterPlan,
    texts: Option<&[TextHash]>,
) {
    query
        .push("SELECT d.seq, d.text_hash FROM search_documents d WHERE d.tenant = ")
        .push_bind(tenant.as_str().to_owned());
    if let Some(texts) = texts {
        let hashes: Vec<Vec<u8>> = texts.iter().map(|hash| hash.to_vec()).collect();
        query.push(" AND d.text_hash = ANY(").push_bind(hashes).push(")");
    }
    // PostgreSQL combines an actor id-or-name condition from both indexes (a BitmapOr) by
    // itself, and weighs it against the time index with the actual values.
    plan.push_row_conditions(query, "d", |time| *time);
}

/// Pushes `SELECT d.seq, d.text_hash FROM search_documents d WHERE ...` for the documents `seqs`.
pub(super) fn push_documents_at(query: &mut QueryBuilder<Postgres>, tenant: &TenantId, seqs: &[u64]) {
    let seqs: Vec<i64> = seqs.iter().map(|&seq| seq_to_db(seq)).collect();
    query
        .push("SELECT d.seq, d.text_hash FROM search_documents d WHERE d.tenant = ")
        .push_bind(tenant.as_str().to_owned());
    query.push(" AND d.seq = ANY(").push_bind(seqs).push(")");
}

/// Counts the documents passing `plan`, stopping just above [`PREFILTER_MAX`].
pub(super) async fn count_matching(
    conn: &mut PgConnection,
    tenant: &TenantId,
    plan: &FilterPlan,
) -> Result<i64, StoreError> {
    let mut query =
        QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM (SELECT 1 FROM search_documents d WHERE d.tenant = ");
    query.push_bind(tenant.as_str());
    plan.push_row_conditions(&mut query, "d", |time| *time);
    query.push(" LIMIT ").push_bind(PREFILTER_MAX + 1).push(") matching");
    query.build().persistent(false).fetch_one(conn).await.map_err(db_error)?.try_get(0).map_err(db_error)
}

pub(super) async fn filtered(
    index: &PostgresSearch,
    tenant: &TenantId,
    filter: &SearchFilter,
    limit: u32,
) -> Result<Vec<SearchHit>, StoreError> {
    let plan = FilterPlan::new(filter);
    let mut conn = index.pool.acquire().await.map_err(db_error)?;
    // Few matching documents are read first and sorted: walking the newest documents until
    // `limit` pass can cross the whole log when the matches are old or absent, and the
    // planner cannot tell.
    let few = match index.scope(&mut conn, tenant, &plan).await? {
        Scope::Few(Some(texts)) if texts.is_empty() => return Ok(Vec::new()),
        Scope::Few(texts) => Some(texts),
        Scope::All | Scope::Texts(_) => None,
    };
    let mut query = QueryBuilder::<Postgres>::new("WITH m AS MATERIALIZED (");
    match &few {
        Some(texts) => push_matching(&mut query, tenant, &plan, texts.as_deref()),
        None => {
            query.push("SELECT d.seq FROM search_documents d WHERE d.tenant = ").push_bind(tenant.as_str());
            plan.push_row_conditions(&mut query, "d", |time| *time);
            query.push(" ORDER BY d.seq DESC LIMIT ").push_bind(i64::from(limit));
        }
    }
    query.push(") SELECT m.seq FROM m ORDER BY m.seq DESC LIMIT ").push_bind(i64::from(limit));
    let rows = query.build().persistent(false).fetch_all(&mut *conn).await.map_err(db_error)?;
    rows.iter().map(|row| Ok(SearchHit { seq: row.seq(0)?, score: 1.0 })).collect()
}
