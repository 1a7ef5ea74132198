//! Full-text ranking on PostgreSQL: BM25 computed in SQL over the generated `tsvector` column,
//! with each term weighed against the tenant's lexeme counts (`search_lexemes`).

use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use veritrail_core::event::TenantId;
use veritrail_core::search::{SearchFilter, SearchHit, TextHash};
use veritrail_core::store::StoreError;

use super::PostgresSearch;
use super::matching::{newest_documents, push_documents_at, push_matching};
use crate::rows::db_error;
use crate::search::decode::IndexColumns;
use crate::search::filter::FilterPlan;
use crate::search::widening::{FILTERED_FIRST_ROUND, FIRST_ROUND, ScoredText, TextRounds, Widening};
use crate::search::{Scope, scored_seqs, usable_terms};

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
    terms: Vec<WeighedTerm<'a>>,
    /// Average number of distinct lexemes per text.
    average_lexemes: f64,
}

/// One term of a question, weighed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WeighedTerm<'a> {
    term: &'a str,
    /// BM25's inverse document frequency.
    idf: f64,
    /// Whether the term finds texts (rare), or only scores those the others find (common).
    finds: bool,
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
        weighed.terms.push(WeighedTerm { term, idf, finds: !common || is_rarest });
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
    push_tsquery(query, weighed.terms.iter().filter(|weighed| weighed.finds).map(|weighed| weighed.term));
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
    for WeighedTerm { term, idf, .. } in &weighed.terms {
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
) -> Result<Vec<ScoredText>, StoreError> {
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
    rows.iter().map(IndexColumns::scored_text).collect()
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
    rows.iter().map(IndexColumns::scored_hit).collect()
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
            push_tsquery(query, weighed.terms.iter().map(|weighed| weighed.term));
        }
    }
    query.push(") SELECT m.seq, r.score FROM m JOIN r ON r.text_hash = m.text_hash");
}

pub(super) async fn search(
    index: &PostgresSearch,
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
    let mut conn = index.pool.acquire().await.map_err(db_error)?;
    let weighed = weigh_terms(&mut conn, tenant, &terms).await?;
    if weighed.terms.is_empty() {
        return Ok(Vec::new());
    }
    let first_round = match index.scope(&mut conn, tenant, &plan).await? {
        Scope::Few(texts) => {
            return fulltext_among_matching(&mut conn, tenant, &weighed, &plan, texts.as_deref(), limit).await;
        }
        Scope::Texts(_) => FILTERED_FIRST_ROUND,
        Scope::All => FIRST_ROUND,
    };
    let mut rounds = FulltextRounds { conn: &mut conn, tenant, weighed: &weighed, plan: &plan, limit };
    Widening::with_first_round(limit as usize, first_round).run(&mut rounds).await
}

/// A full-text search's rounds: texts by BM25, then their newest matching documents.
struct FulltextRounds<'a> {
    conn: &'a mut PgConnection,
    tenant: &'a TenantId,
    weighed: &'a WeighedTerms<'a>,
    plan: &'a FilterPlan,
    limit: u32,
}

impl TextRounds for FulltextRounds<'_> {
    async fn texts(&mut self, size: usize) -> Result<Vec<ScoredText>, StoreError> {
        ranked_texts(self.conn, self.tenant, self.weighed, self.plan, size).await
    }

    async fn documents(&mut self, texts: &[ScoredText]) -> Result<Vec<SearchHit>, StoreError> {
        newest_documents(self.conn, self.tenant, texts, self.plan, self.limit).await
    }
}

pub(super) async fn scores(
    index: &PostgresSearch,
    tenant: &TenantId,
    terms: &[String],
    seqs: &[u64],
) -> Result<Vec<SearchHit>, StoreError> {
    let terms = usable_terms(terms);
    let seqs = scored_seqs(seqs);
    if terms.is_empty() || seqs.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = index.pool.acquire().await.map_err(db_error)?;
    let weighed = weigh_terms(&mut conn, tenant, &terms).await?;
    if weighed.terms.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = QueryBuilder::<Postgres>::new("WITH m AS MATERIALIZED (");
    push_documents_at(&mut query, tenant, seqs);
    push_score_of_m(&mut query, tenant, &weighed, Matching::AnyTerm);
    let rows = query.build().persistent(false).fetch_all(&mut *conn).await.map_err(db_error)?;
    rows.iter().map(IndexColumns::scored_hit).collect()
}
