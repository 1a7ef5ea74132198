//! The search index on PostgreSQL: a generated `tsvector` column for full text, pgvector HNSW for
//! vectors.
//!
//! Writers of one tenant's documents serialise on its `search_progress` row, and the embedding
//! watermark only ever moves forward (`GREATEST`), so several servers may run the indexing job.
//!
//! Searches are sent as unnamed (not cached) statements, so PostgreSQL plans each with its actual
//! values: a cached generic plan cannot tell that `occurred_at >= $2` means "the last day" and
//! falls back to scanning every document.

use async_trait::async_trait;
use pgvector::Vector;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::query::Vocabulary;
use veritrail_core::search::{
    IndexProgress, PendingText, SearchDocument, SearchFilter, SearchHit, SearchIndex, TextHash,
};
use veritrail_core::store::StoreError;

use super::filter::{FilterPlan, ip_key};
use super::vectors::{FILTERED_FIRST_ROUND, FIRST_ROUND, Widening};
use super::{
    MAX_SCORED, PREFILTER_MAX, Scope, ScopeCache, check_vector, documents_to_insert, embedded_until, facets_of,
    first_uses, fold, seq_from_db, text_hash_from_db, usable_terms, vocabulary_from_rows, vocabulary_uses,
};
use crate::rows::{db_error, seq_to_db};

/// Documents per `UNNEST` insert.
const DOCUMENT_CHUNK: usize = 2_000;
/// Vectors per `UNNEST` insert.
const VECTOR_CHUNK: usize = 500;
/// Larger candidate sets are read by an exact scan: the HNSW graph is for the top of the list.
const HNSW_MAX_CANDIDATES: usize = 1_000;
/// A filter letting at most this many texts through compares them all, in one exact scan: the
/// graph would have to walk past the texts the filter rejects, about `size ÷ share passing`
/// of them, each costing more than an exact comparison.
const EXACT_MAX_TEXTS: i64 = 4_000;
/// HNSW candidate list size: higher than pgvector's default 40 for recall.
const EF_SEARCH: &str = "100";

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
        let indexed_until = indexed_until_in(conn, tenant).await?;
        if let Some(scope) = self.scopes.get(tenant, plan, indexed_until) {
            return Ok(scope);
        }
        let fresh = scope(conn, tenant, plan).await?;
        self.scopes.put(tenant, plan, indexed_until, &fresh);
        Ok(fresh)
    }
}

fn hit(row: &PgRow, score: f64) -> Result<SearchHit, StoreError> {
    Ok(SearchHit { seq: seq_from_db(row.try_get(0).map_err(db_error)?)?, score })
}

async fn indexed_until_in(conn: &mut PgConnection, tenant: &TenantId) -> Result<u64, StoreError> {
    let until: Option<i64> = sqlx::query_scalar("SELECT indexed_until FROM search_progress WHERE tenant = $1")
        .bind(tenant.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    until.map_or(Ok(0), seq_from_db)
}

async fn embedded_until_in(conn: &mut PgConnection, tenant: &TenantId, model: &str) -> Result<u64, StoreError> {
    let until: Option<i64> =
        sqlx::query_scalar("SELECT embedded_until FROM search_embedding_progress WHERE tenant = $1 AND model = $2")
            .bind(tenant.as_str())
            .bind(model)
            .fetch_optional(conn)
            .await
            .map_err(db_error)?;
    until.map_or(Ok(0), seq_from_db)
}

/// Moves the embedding watermark forward to `until` (never back).
async fn raise_embedded_until(
    conn: &mut PgConnection,
    tenant: &TenantId,
    model: &str,
    until: u64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO search_embedding_progress (tenant, model, embedded_until) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant, model) DO UPDATE \
         SET embedded_until = GREATEST(search_embedding_progress.embedded_until, excluded.embedded_until)",
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
    conn: &mut PgConnection,
    tenant: &TenantId,
    model: &str,
    from: u64,
    limit: u32,
) -> Result<Vec<(u64, TextHash, String)>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.first_seq, t.text_hash, t.text FROM search_texts t WHERE t.tenant = $1 AND t.first_seq >= $2 \
         AND NOT EXISTS (SELECT 1 FROM search_vectors v WHERE v.tenant = t.tenant AND v.model = $3 \
         AND v.text_hash = t.text_hash) ORDER BY t.first_seq LIMIT $4",
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

/// Locks the tenant's progress row (creating it), serialising writers of the tenant's documents.
async fn lock_progress(conn: &mut PgConnection, tenant: &TenantId) -> Result<u64, StoreError> {
    sqlx::query("INSERT INTO search_progress (tenant, indexed_until) VALUES ($1, 0) ON CONFLICT (tenant) DO NOTHING")
        .bind(tenant.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let until: i64 = sqlx::query_scalar("SELECT indexed_until FROM search_progress WHERE tenant = $1 FOR UPDATE")
        .bind(tenant.as_str())
        .fetch_one(conn)
        .await
        .map_err(db_error)?;
    seq_from_db(until)
}

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
) -> Result<Vec<(TextHash, f64)>, StoreError> {
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
    let mut texts = rows.iter().map(text_score).collect::<Result<Vec<_>, StoreError>>()?;
    // Iterative index scans in relaxed order may return rows slightly out of order.
    texts.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(texts)
}

/// Reads a `(text_hash, score)` row.
fn text_score(row: &PgRow) -> Result<(TextHash, f64), StoreError> {
    let hash: Vec<u8> = row.try_get(0).map_err(db_error)?;
    Ok((text_hash_from_db(&hash)?, row.try_get::<f64, _>(1).map_err(db_error)?))
}

/// Returns up to `per_text` newest documents passing `plan` of each candidate text, scored with the
/// text's score.
async fn newest_documents(
    conn: &mut PgConnection,
    tenant: &TenantId,
    candidates: &[(TextHash, f64)],
    plan: &FilterPlan,
    per_text: u32,
) -> Result<Vec<SearchHit>, StoreError> {
    let hashes: Vec<Vec<u8>> = candidates.iter().map(|(hash, _)| hash.to_vec()).collect();
    let scores: Vec<f64> = candidates.iter().map(|(_, score)| *score).collect();
    let mut query = QueryBuilder::<Postgres>::new("SELECT d.seq, c.score FROM UNNEST(");
    query.push_bind(hashes).push("::bytea[], ").push_bind(scores).push("::float8[]) AS c (hash, score)");
    // Per text, walk its documents newest first (inside the time range when there is one) and
    // stop at `per_text` matches.
    query.push(" CROSS JOIN LATERAL (SELECT x.seq FROM search_documents x WHERE x.tenant = ");
    query.push_bind(tenant.as_str()).push(" AND x.text_hash = c.hash");
    plan.push_row_conditions(&mut query, "x", |time| *time);
    query.push(" ORDER BY x.occurred_at DESC LIMIT ").push_bind(i64::from(per_text)).push(") d");
    let rows = query.build().persistent(false).fetch_all(conn).await.map_err(db_error)?;
    rows.iter().map(|row| hit(row, row.try_get(1).map_err(db_error)?)).collect()
}

/// How many texts have facets passing the filter (PostgreSQL's [`Scope::Texts`]: the texts
/// themselves stay in SQL, as a semi-join on `search_text_facets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FacetTexts {
    count: i64,
}

/// How a search filtered by `plan` finds its documents (see [`Scope`]).
async fn scope(conn: &mut PgConnection, tenant: &TenantId, plan: &FilterPlan) -> Result<Scope<FacetTexts>, StoreError> {
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
        let texts = rows
            .iter()
            .map(|row| text_hash_from_db(&row.try_get::<Vec<u8>, _>(0).map_err(db_error)?))
            .collect::<Result<Vec<_>, StoreError>>()?;
        return Ok(Scope::Few(Some(texts)));
    }
    if plan.has_time() && count_matching(conn, tenant, &plan.time_only()).await? <= PREFILTER_MAX {
        return Ok(Scope::Few(None));
    }
    Ok(Scope::Texts(FacetTexts { count }))
}

/// Pushes `SELECT d.seq, d.text_hash FROM search_documents d WHERE ...`: the documents passing
/// `plan`, found through `texts` when given (the text index), else through the filter indexes.
fn push_matching(query: &mut QueryBuilder<Postgres>, tenant: &TenantId, plan: &FilterPlan, texts: Option<&[TextHash]>) {
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

/// BM25's term-frequency saturation and length normalisation, at their usual values.
const BM25_K1: f64 = 1.2;
const BM25_B: f64 = 0.75;
/// A term in more than this share of the tenant's texts, and in more than [`COMMON_TERM_TEXTS`],
/// is common: it adds to the score of the texts the rarer terms find, but finds none itself
/// (else "user" or "read" would make nearly every text a candidate to score). When every term
/// is common, the rarest finds the texts. Scoring a thousand texts is cheap, so small tenants
/// keep every term.
const COMMON_TERM_SHARE: f64 = 0.1;
const COMMON_TERM_TEXTS: f64 = 1_000.0;

/// A question's terms weighed against the tenant's texts.
#[derive(Debug)]
struct WeighedTerms<'a> {
    /// Terms found in some text, with BM25's inverse document frequency and whether they find
    /// texts (rare) or only score them (common).
    terms: Vec<(&'a str, f64, bool)>,
    /// Average number of distinct lexemes per text.
    average_lexemes: f64,
}

/// Weighs `terms` by how many of the tenant's texts hold them (`search_lexemes`); a phrase
/// counts as its rarest lexeme. Terms no text holds, and stop words, are left out.
async fn weigh_terms<'a>(
    conn: &mut PgConnection,
    tenant: &TenantId,
    terms: &[&'a str],
) -> Result<WeighedTerms<'a>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.ord, MIN(COALESCE(l.texts, 0))::bigint, \
         COALESCE((SELECT texts FROM search_progress WHERE tenant = $1), 0), \
         COALESCE((SELECT text_lexemes FROM search_progress WHERE tenant = $1), 0) \
         FROM unnest($2::text[]) WITH ORDINALITY AS t (term, ord) \
         CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('english', translate(t.term, '/.:@_', '     ')))) AS x (lexeme) \
         LEFT JOIN search_lexemes l ON l.tenant = $1 AND l.lexeme = x.lexeme GROUP BY t.ord ORDER BY t.ord",
    )
    .bind(tenant.as_str())
    .bind(terms.iter().map(|term| (*term).to_owned()).collect::<Vec<_>>())
    .persistent(false)
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    let mut weighed = WeighedTerms { terms: Vec::new(), average_lexemes: 1.0 };
    let mut counts = Vec::new();
    for row in &rows {
        let ord: i64 = row.try_get(0).map_err(db_error)?;
        let holding: i64 = row.try_get(1).map_err(db_error)?;
        let texts: i64 = row.try_get(2).map_err(db_error)?;
        let lexemes: i64 = row.try_get(3).map_err(db_error)?;
        weighed.average_lexemes = (lexemes as f64 / texts.max(1) as f64).max(1.0);
        let term = usize::try_from(ord - 1).ok().and_then(|idx| terms.get(idx));
        if let (Some(term), true) = (term, holding > 0) {
            counts.push((*term, holding, texts));
        }
    }
    let rarest = counts.iter().map(|(_, holding, _)| *holding).min();
    for (term, holding, texts) in counts {
        let is_rarest = Some(holding) == rarest;
        let (holding, texts) = (holding as f64, texts.max(holding) as f64);
        // BM25's inverse document frequency in the form that never goes negative.
        let idf = (1.0 + (texts - holding + 0.5) / (holding + 0.5)).ln();
        let common = holding > COMMON_TERM_TEXTS.max(COMMON_TERM_SHARE * texts);
        weighed.terms.push((term, idf, !common || is_rarest));
    }
    Ok(weighed)
}

/// A term as a phrase query, with the separators `search_texts.text_search` splits words at
/// (migration 0009: "staging/checkout/api-key" is the words "staging checkout api-key", as in
/// SQLite's tokenizer) turned into spaces, so a term and a text break into the same words.
const PHRASE_QUERY: &str = "phraseto_tsquery('english', translate(";
const PHRASE_QUERY_END: &str = ", '/.:@_', '     '))";

/// Pushes `(phraseto_tsquery('english', term) || ...)` of `terms`: each term parsed as plain
/// text (phraseto_tsquery knows no operators), so no term can inject tsquery syntax.
fn push_tsquery<'a>(query: &mut QueryBuilder<Postgres>, terms: impl Iterator<Item = &'a str>) {
    query.push("(");
    for (idx, term) in terms.enumerate() {
        if idx > 0 {
            query.push(" || ");
        }
        query.push(PHRASE_QUERY).push_bind(term.to_owned()).push(PHRASE_QUERY_END);
    }
    query.push(")");
}

/// Pushes ` AND t.text_search @@ <the terms that find texts>` for `search_texts` aliased `t`.
fn push_text_match(query: &mut QueryBuilder<Postgres>, weighed: &WeighedTerms) {
    query.push(" AND t.text_search @@ ");
    push_tsquery(query, weighed.terms.iter().filter(|(_, _, finds)| *finds).map(|(term, _, _)| *term));
}

/// `ts_rank` (normalisation 0) of a text holding a single-word term once: the unit the term
/// frequency factor below is measured in.
const TS_RANK_ONCE: f64 = 0.1 / 1.644_934_066_848_226_4;

/// Pushes the BM25 score of `search_texts` aliased `t`: each term's weight times how often the
/// text holds it, scaled by the text's length against the average. The frequency factor is
/// `ts_rank` of the term alone in units of one occurrence (1, 1.25, 1.36, … for 1, 2, 3, …
/// occurrences): it saturates like BM25's and is computed from the stored positions in C.
fn push_bm25(query: &mut QueryBuilder<Postgres>, weighed: &WeighedTerms) {
    query.push("((0");
    for (term, idf, _) in &weighed.terms {
        query.push(" + ").push_bind(idf / TS_RANK_ONCE);
        query.push("::float8 * ts_rank(t.text_search, ").push(PHRASE_QUERY).push_bind((*term).to_owned());
        query.push(PHRASE_QUERY_END).push(", 0)");
    }
    query.push(format_args!(
        ") * {:.1} / (1.0 + {BM25_K1:.1} * ({:.2} + {BM25_B:.2} * length(t.text_search) / ",
        BM25_K1 + 1.0,
        1.0 - BM25_B
    ));
    query.push_bind(weighed.average_lexemes).push("::float8)))::float8");
}

/// The best `size` texts for `weighed`, among those a document passing `plan` may have.
async fn ranked_texts(
    conn: &mut PgConnection,
    tenant: &TenantId,
    weighed: &WeighedTerms<'_>,
    plan: &FilterPlan,
    size: usize,
) -> Result<Vec<(TextHash, f64)>, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new("SELECT t.text_hash, ");
    push_bm25(&mut query, weighed);
    query.push(" AS score FROM search_texts t WHERE t.tenant = ").push_bind(tenant.as_str());
    push_text_match(&mut query, weighed);
    if !plan.is_empty() {
        query.push(" AND t.text_hash IN (SELECT f.text_hash FROM search_text_facets f WHERE f.tenant = ");
        query.push_bind(tenant.as_str());
        plan.push_facet_conditions(&mut query, "f", |time| *time);
        query.push(")");
    }
    query.push(" ORDER BY score DESC, t.first_seq LIMIT ").push_bind(i64::try_from(size).unwrap_or(i64::MAX));
    let rows = query.build().persistent(false).fetch_all(conn).await.map_err(db_error)?;
    rows.iter().map(text_score).collect()
}

/// Ranks the few documents passing `plan` by their texts' full-text relevance.
async fn fulltext_among_matching(
    conn: &mut PgConnection,
    tenant: &TenantId,
    weighed: &WeighedTerms<'_>,
    plan: &FilterPlan,
    texts: Option<&[TextHash]>,
    limit: u32,
) -> Result<Vec<SearchHit>, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new("WITH m AS MATERIALIZED (");
    push_matching(&mut query, tenant, plan, texts);
    push_score_of_m(&mut query, tenant, weighed, Matching::FindingTerms);
    query.push(" ORDER BY r.score DESC, m.seq DESC LIMIT ").push_bind(i64::from(limit));
    let rows = query.build().persistent(false).fetch_all(conn).await.map_err(db_error)?;
    rows.iter().map(|row| hit(row, row.try_get(1).map_err(db_error)?)).collect()
}

/// Which of the weighed terms a text must hold to be scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matching {
    /// The terms that find texts (as [`SearchIndex::fulltext`] ranks them).
    FindingTerms,
    /// Any term, common ones too: for texts that are only scored, not looked for.
    AnyTerm,
}

/// Continues `WITH m AS MATERIALIZED (<documents: seq, text_hash>` with the BM25 score of each of
/// their texts holding the `matching` terms and selects `m.seq, r.score` (documents whose text
/// holds none are left out).
fn push_score_of_m(query: &mut QueryBuilder<Postgres>, tenant: &TenantId, weighed: &WeighedTerms, matching: Matching) {
    query.push("), r AS MATERIALIZED (SELECT t.text_hash, ");
    push_bm25(query, weighed);
    query.push(" AS score FROM search_texts t WHERE t.tenant = ").push_bind(tenant.as_str().to_owned());
    query.push(" AND t.text_hash IN (SELECT text_hash FROM m)");
    match matching {
        Matching::FindingTerms => push_text_match(query, weighed),
        Matching::AnyTerm => {
            query.push(" AND t.text_search @@ ");
            push_tsquery(query, weighed.terms.iter().map(|(term, _, _)| *term));
        }
    }
    query.push(") SELECT m.seq, r.score FROM m JOIN r ON r.text_hash = m.text_hash");
}

/// Pushes `SELECT d.seq, d.text_hash FROM search_documents d WHERE ...` for the documents `seqs`.
fn push_documents_at(query: &mut QueryBuilder<Postgres>, tenant: &TenantId, seqs: &[u64]) {
    let seqs: Vec<i64> = seqs.iter().map(|&seq| seq_to_db(seq)).collect();
    query
        .push("SELECT d.seq, d.text_hash FROM search_documents d WHERE d.tenant = ")
        .push_bind(tenant.as_str().to_owned());
    query.push(" AND d.seq = ANY(").push_bind(seqs).push(")");
}

/// Counts the documents passing `plan`, stopping just above [`PREFILTER_MAX`].
async fn count_matching(conn: &mut PgConnection, tenant: &TenantId, plan: &FilterPlan) -> Result<i64, StoreError> {
    let mut query =
        QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM (SELECT 1 FROM search_documents d WHERE d.tenant = ");
    query.push_bind(tenant.as_str());
    plan.push_row_conditions(&mut query, "d", |time| *time);
    query.push(" LIMIT ").push_bind(PREFILTER_MAX + 1).push(") matching");
    query.build().persistent(false).fetch_one(conn).await.map_err(db_error)?.try_get(0).map_err(db_error)
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
    rows.iter().map(|row| hit(row, row.try_get(1).map_err(db_error)?)).collect()
}

#[async_trait]
impl SearchIndex for PostgresSearch {
    async fn indexed_until(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        indexed_until_in(&mut conn, tenant).await
    }

    async fn put_documents(&self, tenant: &TenantId, documents: &[SearchDocument]) -> Result<(), StoreError> {
        if documents.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(db_error)?;
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
            let ips: Vec<Option<String>> =
                chunk.iter().map(|document| document.ip.as_deref().and_then(ip_key)).collect();
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
        let kinds: Vec<&str> = uses.iter().map(|(kind, _, _)| *kind).collect();
        let values: Vec<&str> = uses.iter().map(|(_, value, _)| value.as_str()).collect();
        let counts: Vec<i64> = uses.iter().map(|(_, _, count)| *count).collect();
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

    async fn pending_texts(&self, tenant: &TenantId, model: &str, limit: u32) -> Result<Vec<PendingText>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let watermark = embedded_until_in(&mut conn, tenant, model).await?;
        let end = indexed_until_in(&mut conn, tenant).await?;
        let found = unembedded_texts(&mut conn, tenant, model, watermark, limit).await?;
        // Documents and vectors are never removed, so what this read saw stays true.
        let reached = embedded_until(found.first().map(|(seq, _, _)| *seq), end);
        if reached > watermark {
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
        let mut tx = self.pool.begin().await.map_err(db_error)?;
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
        let plan = FilterPlan::new(filter);
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let weighed = weigh_terms(&mut conn, tenant, &terms).await?;
        if weighed.terms.is_empty() {
            return Ok(Vec::new());
        }
        let first_round = match self.scope(&mut conn, tenant, &plan).await? {
            Scope::Few(texts) => {
                return fulltext_among_matching(&mut conn, tenant, &weighed, &plan, texts.as_deref(), limit).await;
            }
            Scope::Texts(_) => FILTERED_FIRST_ROUND,
            Scope::All => FIRST_ROUND,
        };
        let mut widening = Widening::with_first_round(limit as usize, first_round);
        while let Some(size) = widening.next_size() {
            widening.offer(ranked_texts(&mut conn, tenant, &weighed, &plan, size).await?, size);
            while let Some(texts) = widening.next_chunk() {
                widening.add(newest_documents(&mut conn, tenant, &texts, &plan, limit).await?);
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
        let query = Vector::from(vector.to_vec());
        let plan = FilterPlan::new(filter);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Only texts some matching document may have are ranked (all of them without a filter);
        // few enough are compared exactly.
        let (facets, allowed_texts) = match self.scope(&mut tx, tenant, &plan).await? {
            Scope::Few(texts) => {
                let hits =
                    nearest_among_matching(&mut tx, tenant, model, &query, &plan, texts.as_deref(), limit).await?;
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
        if let Some(count) = allowed_texts.filter(|count| *count <= EXACT_MAX_TEXTS) {
            // Every passing text ranked at once; asking for one more than there are ends the
            // widening after this round.
            let size = usize::try_from(count).unwrap_or(usize::MAX).saturating_add(1);
            widening.offer(nearest_texts(&mut tx, tenant, model, &query, facets, size, true).await?, size);
            while let Some(texts) = widening.next_chunk() {
                widening.add(newest_documents(&mut tx, tenant, &texts, &plan, limit).await?);
            }
        }
        let mut exact = false;
        while let Some(size) = widening.next_size() {
            exact |= size > HNSW_MAX_CANDIDATES;
            let mut texts = nearest_texts(&mut tx, tenant, model, &query, facets, size, exact).await?;
            if texts.len() < size && !exact {
                // Fewer than asked: the tenant has no more texts, or the index scan gave up (it
                // visits at most hnsw.max_scan_tuples). Only an exact scan can tell.
                exact = true;
                texts = nearest_texts(&mut tx, tenant, model, &query, facets, size, exact).await?;
            }
            widening.offer(texts, size);
            while let Some(texts) = widening.next_chunk() {
                widening.add(newest_documents(&mut tx, tenant, &texts, &plan, limit).await?);
            }
        }
        tx.commit().await.map_err(db_error)?;
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
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let weighed = weigh_terms(&mut conn, tenant, &terms).await?;
        if weighed.terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Postgres>::new("WITH m AS MATERIALIZED (");
        push_documents_at(&mut query, tenant, seqs);
        push_score_of_m(&mut query, tenant, &weighed, Matching::AnyTerm);
        let rows = query.build().persistent(false).fetch_all(&mut *conn).await.map_err(db_error)?;
        rows.iter().map(|row| hit(row, row.try_get(1).map_err(db_error)?)).collect()
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
        let mut query = QueryBuilder::<Postgres>::new("WITH m AS MATERIALIZED (");
        push_documents_at(&mut query, tenant, seqs);
        query.push(") SELECT m.seq, 1 - (v.vector <=> ").push_bind(Vector::from(vector.to_vec()));
        query.push(") FROM m JOIN search_vectors v ON v.tenant = ").push_bind(tenant.as_str());
        query.push(" AND v.model = ").push_bind(model.to_owned()).push(" AND v.text_hash = m.text_hash");
        let rows = query.build().persistent(false).fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter().map(|row| hit(row, row.try_get(1).map_err(db_error)?)).collect()
    }

    async fn filtered(
        &self,
        tenant: &TenantId,
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let plan = FilterPlan::new(filter);
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        // Few matching documents are read first and sorted: walking the newest documents until
        // `limit` pass can cross the whole log when the matches are old or absent, and the
        // planner cannot tell.
        let few = match self.scope(&mut conn, tenant, &plan).await? {
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
        rows.iter().map(|row| hit(row, 1.0)).collect()
    }

    async fn rendering(&self, tenant: &TenantId) -> Result<u32, StoreError> {
        let rendering: Option<i32> = sqlx::query_scalar("SELECT rendering FROM search_progress WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(rendering.and_then(|value| u32::try_from(value).ok()).unwrap_or(0))
    }

    async fn reset_documents(&self, tenant: &TenantId, rendering: u32) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
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
        self.scopes.forget(tenant);
        Ok(())
    }

    async fn prune_vectors(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        const WAITING: &str = "SELECT prune_vectors FROM search_progress WHERE tenant = $1";
        // Asked on every indexing run: a plain read, and the row lock only when there is work.
        let waiting: Option<i32> =
            sqlx::query_scalar(WAITING).bind(tenant.as_str()).fetch_optional(&self.pool).await.map_err(db_error)?;
        if waiting.unwrap_or(0) == 0 {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(db_error)?;
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

    async fn progress(&self, tenant: &TenantId, model: &str) -> Result<IndexProgress, StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT next_seq FROM chain_heads WHERE tenant = $1), \
             (SELECT indexed_until FROM search_progress WHERE tenant = $1), \
             (SELECT embedded_until FROM search_embedding_progress WHERE tenant = $1 AND model = $2)",
        )
        .bind(tenant.as_str())
        .bind(model)
        .fetch_one(&self.pool)
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
             (PARTITION BY kind ORDER BY uses DESC, value COLLATE \"C\") AS place FROM search_vocabulary \
             WHERE tenant = $1) ranked \
             WHERE place <= $2 ORDER BY kind, place",
        )
        .bind(tenant.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(vocabulary_from_rows(rows))
    }
}
