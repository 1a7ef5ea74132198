//! Full-text ranking on SQLite: FTS5's bm25 over the tenant's own FTS5 table (see
//! `fulltext_tables`), one row per distinct text.

use sqlx::{QueryBuilder, Sqlite};
use veritrail_core::event::TenantId;
use veritrail_core::search::{SearchFilter, SearchHit, TextHash};
use veritrail_core::store::StoreError;

use super::fulltext_tables::FulltextTable;
use super::matching::push_documents_at;
use super::{SqliteSearch, sqlite_time};
use crate::rows::db_error;
use crate::search::decode::IndexColumns;
use crate::search::filter::FilterPlan;
use crate::search::widening::{FILTERED_FIRST_ROUND, FIRST_ROUND, ScoredText, TextRounds, Widening};
use crate::search::{Scope, scored_seqs, usable_terms};

impl SqliteSearch {
    /// The best `size` texts for the FTS5 `expression`, among those a document passing `plan` may
    /// have, scored with the negated bm25 (higher is better).
    pub(super) async fn ranked_texts(
        &self,
        tenant: &TenantId,
        fts: FulltextTable,
        expression: &str,
        plan: &FilterPlan,
        size: usize,
    ) -> Result<Vec<ScoredText>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT t.text_hash, ");
        push_match(&mut query, tenant, fts, expression);
        if !plan.is_empty() {
            query.push(" AND t.text_hash IN (SELECT f.text_hash FROM search_text_facets f WHERE f.tenant = ");
            query.push_bind(tenant.as_str());
            plan.push_facet_conditions(&mut query, "f", sqlite_time);
            query.push(")");
        }
        query.push(" ORDER BY relevance, t.id LIMIT ").push_bind(i64::try_from(size).unwrap_or(i64::MAX));
        let rows = query.build().persistent(false).fetch_all(&self.read_pool).await.map_err(db_error)?;
        rows.iter()
            .map(|row| {
                // bm25() is lower for better matches.
                Ok(ScoredText { hash: row.text_hash(0)?, score: -row.score(1)? })
            })
            .collect()
    }

    /// Ranks the few documents passing `plan` by their texts' full-text relevance.
    pub(super) async fn fulltext_among_matching(
        &self,
        tenant: &TenantId,
        fts: FulltextTable,
        expression: &str,
        plan: &FilterPlan,
        texts: Option<&[TextHash]>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let mut query = QueryBuilder::<Sqlite>::new("WITH m AS MATERIALIZED (");
        Self::push_matching(&mut query, tenant, plan, texts);
        push_relevance_of_m(&mut query, tenant, fts, expression);
        query.push(" ORDER BY r.relevance, m.seq DESC LIMIT ").push_bind(i64::from(limit));
        self.relevance_hits(query).await
    }

    /// Runs a query ending in [`push_relevance_of_m`]: its `(seq, bm25)` rows as hits (negated
    /// bm25, higher is better).
    pub(super) async fn relevance_hits(&self, mut query: QueryBuilder<Sqlite>) -> Result<Vec<SearchHit>, StoreError> {
        let rows = query.build().persistent(false).fetch_all(&self.read_pool).await.map_err(db_error)?;
        rows.iter().map(|row| Ok(SearchHit { seq: row.seq(0)?, score: -row.score(1)? })).collect()
    }
}

/// The FTS5 query for any of `terms`. Each term becomes an FTS5 string (double quotes, inner
/// quotes doubled): inside one, no character is an operator, so a term can only ever match words.
fn fts_expression(terms: &[&str]) -> String {
    terms.iter().map(|term| format!("\"{}\"", term.replace('"', "\"\""))).collect::<Vec<_>>().join(" OR ")
}

/// Pushes `bm25(..) AS relevance FROM <the tenant's table> CROSS JOIN search_texts t ... WHERE
/// <it matches expression>`: the tenant's texts matching `expression`, with their bm25. The
/// statements name a tenant's table, so they are not kept prepared (see [`FulltextTable`]).
fn push_match(query: &mut QueryBuilder<Sqlite>, tenant: &TenantId, fts: FulltextTable, expression: &str) {
    let fts = fts.name();
    // CROSS JOIN keeps the full-text index as the outer loop. Every row of the table is one of
    // the tenant's texts; the tenant is still checked.
    query.push(format_args!(
        "bm25({fts}) AS relevance FROM {fts} CROSS JOIN search_texts t ON t.id = {fts}.rowid WHERE {fts} MATCH "
    ));
    query.push_bind(expression.to_owned()).push(" AND t.tenant = ").push_bind(tenant.as_str().to_owned());
}

/// Continues `WITH m AS MATERIALIZED (<documents: seq, text_hash>` with the bm25 of each of their
/// texts matching `expression` and selects `m.seq, r.relevance` (documents matching nothing are
/// left out).
fn push_relevance_of_m(query: &mut QueryBuilder<Sqlite>, tenant: &TenantId, fts: FulltextTable, expression: &str) {
    query.push("), r AS MATERIALIZED (SELECT t.text_hash, ");
    push_match(query, tenant, fts, expression);
    query.push(" AND t.text_hash IN (SELECT text_hash FROM m)) SELECT m.seq, r.relevance FROM m JOIN r");
    query.push(" ON r.text_hash = m.text_hash");
}

pub(super) async fn search(
    index: &SqliteSearch,
    tenant: &TenantId,
    terms: &[String],
    filter: &SearchFilter,
    limit: u32,
) -> Result<Vec<SearchHit>, StoreError> {
    let terms = usable_terms(terms);
    if terms.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let Some(fts) = FulltextTable::of(&index.read_pool, tenant).await? else {
        return Ok(Vec::new());
    };
    let expression = fts_expression(&terms);
    let plan = FilterPlan::new(filter);
    let first_round = match index.scope(tenant, &plan).await? {
        Scope::Few(texts) => {
            return index.fulltext_among_matching(tenant, fts, &expression, &plan, texts.as_deref(), limit).await;
        }
        Scope::Texts(_) => FILTERED_FIRST_ROUND,
        Scope::All => FIRST_ROUND,
    };
    let mut rounds = FulltextRounds { index, tenant, fts, expression: &expression, plan: &plan, limit };
    Widening::with_first_round(limit as usize, first_round).run(&mut rounds).await
}

/// A full-text search's rounds: texts by bm25, then their newest matching documents.
struct FulltextRounds<'a> {
    index: &'a SqliteSearch,
    tenant: &'a TenantId,
    fts: FulltextTable,
    expression: &'a str,
    plan: &'a FilterPlan,
    limit: u32,
}

impl TextRounds for FulltextRounds<'_> {
    async fn texts(&mut self, size: usize) -> Result<Vec<ScoredText>, StoreError> {
        self.index.ranked_texts(self.tenant, self.fts, self.expression, self.plan, size).await
    }

    async fn documents(&mut self, texts: &[ScoredText]) -> Result<Vec<SearchHit>, StoreError> {
        self.index.newest_documents(self.tenant, texts, self.plan, self.limit).await
    }
}

pub(super) async fn scores(
    index: &SqliteSearch,
    tenant: &TenantId,
    terms: &[String],
    seqs: &[u64],
) -> Result<Vec<SearchHit>, StoreError> {
    let terms = usable_terms(terms);
    let seqs = scored_seqs(seqs);
    if terms.is_empty() || seqs.is_empty() {
        return Ok(Vec::new());
    }
    let Some(fts) = FulltextTable::of(&index.read_pool, tenant).await? else {
        return Ok(Vec::new());
    };
    let mut query = QueryBuilder::<Sqlite>::new("WITH m AS MATERIALIZED (");
    push_documents_at(&mut query, tenant, seqs);
    push_relevance_of_m(&mut query, tenant, fts, &fts_expression(&terms));
    index.relevance_hits(query).await
}
