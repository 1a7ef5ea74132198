//! The search index port (`veritrail_core::search::SearchIndex`) on both backends: search
//! documents with filters, full text (FTS5 / `tsvector`) and vectors (an in-memory scan on SQLite,
//! pgvector HNSW on PostgreSQL).
//!
//! Architecture invariant: the index is derived data. It is written only by the indexing job,
//! never in an append's transaction, and never touches the `events` rows.
//!
//! What the backends share lives here and in the submodules: how filters become SQL (`filter`),
//! the widening search from ranked texts to documents (`widening`), reading index rows
//! (`decode`), vector arithmetic (`vectors`), and the checks and bookkeeping of writes (below).
//! The backends (`postgres`, `sqlite`) keep only their SQL and what their databases do
//! differently.
//!
//! - Ranking works on distinct texts, not documents: audit events repeat, so a million events
//!   are tens of thousands of texts. Full text (FTS5 / `tsvector` on `search_texts`) and vectors
//!   rank texts; the best texts are then turned into their newest documents that pass the filter
//!   (`widening::Widening`), widening the candidate texts until no further text can do better.
//! - A filter is first checked against the text facets (`search_text_facets`: the filter values
//!   and time span of each text's documents), which count how many documents can pass. When
//!   that is at most `PREFILTER_MAX` (or a time range holds that few), exactly those documents
//!   are read, through their texts or the time index, and ranked by their texts' scores.
//!   Otherwise only the texts whose facets pass are ranked, and every returned document is
//!   still checked against the filter.
//! - `IndexProgress::embedded` is a watermark, not a count: every document below it has a vector
//!   for the model, and the document at it (if any) does not. It is kept per tenant and model and
//!   moved forward by `put_vectors` and `pending_texts`, so reading progress is three primary-key
//!   lookups.
//! - Each distinct text is kept once more with the seq of its first document (`search_texts`):
//!   pending texts are the texts after the watermark without a vector, in order of first use, so
//!   finding them walks distinct texts, never documents.

mod decode;
mod filter;
mod postgres;
mod sqlite;
mod vectors;
mod watermark;
mod widening;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::search::{SearchDocument, TextHash};
use veritrail_core::store::StoreError;

use self::filter::FilterPlan;

pub use postgres::PostgresSearch;
pub use sqlite::SqliteSearch;
pub(crate) use sqlite::create_missing_fulltext_tables;

/// Length of every stored and queried vector (all-MiniLM-L6-v2); PostgreSQL's column is
/// `vector(384)`.
pub const VECTOR_DIMENSIONS: usize = 384;

/// Most search terms used from one question; the rest are ignored.
const MAX_TERMS: usize = 32;

/// A filtered nearest search that matches at most this many documents compares them all directly
/// instead of widening from the most similar texts: exact, and fast when the filter is selective
/// (a rare actor, one day) and the matching texts are far down the similarity list.
const PREFILTER_MAX: i64 = 5_000;

/// Most documents one `fulltext_scores` or `similarities` call scores; the rest are left out.
const MAX_SCORED: usize = 1_000;

/// Refuses a vector the index cannot store or compare.
fn check_vector(what: &str, vector: &[f32]) -> Result<(), StoreError> {
    if vector.len() != VECTOR_DIMENSIONS {
        return Err(StoreError::InvalidInput(format!(
            "{what} has {} dimensions, but the search index stores {VECTOR_DIMENSIONS}-dimensional vectors",
            vector.len()
        )));
    }
    if vector.iter().any(|value| !value.is_finite()) {
        return Err(StoreError::InvalidInput(format!("{what} contains a value that is not a finite number")));
    }
    Ok(())
}

/// Refuses a batch of vectors to store if any one of them cannot be stored.
fn check_vectors(vectors: &[(TextHash, Vec<f32>)]) -> Result<(), StoreError> {
    for (text_hash, vector) in vectors {
        check_vector(&format!("the vector for text {}", hex::encode(text_hash)), vector)?;
    }
    Ok(())
}

/// The seqs one `fulltext_scores` or `similarities` call scores: the first [`MAX_SCORED`].
fn scored_seqs(seqs: &[u64]) -> &[u64] {
    &seqs[..seqs.len().min(MAX_SCORED)]
}

/// Returns the search terms worth sending to the database: those with a letter or digit (others
/// cannot match any token), at most [`MAX_TERMS`].
fn usable_terms(terms: &[String]) -> Vec<&str> {
    terms
        .iter()
        .map(|term| term.trim())
        .filter(|term| term.chars().any(char::is_alphanumeric))
        .take(MAX_TERMS)
        .collect()
}

/// Lower-cases a filter field the same way for stored documents and for filters.
fn fold(value: &str) -> String {
    value.to_lowercase()
}

/// Checks that `documents` are consecutive and continue (or overlap) the tenant's documents, and
/// returns the ones not stored yet together with the new `indexed_until`.
///
/// Documents below `indexed_until` already exist (the index is gap-free), so they are skipped
/// rather than inserted again: that is what makes `put_documents` idempotent.
fn documents_to_insert(
    indexed_until: u64,
    documents: &[SearchDocument],
) -> Result<(&[SearchDocument], u64), StoreError> {
    let Some(first) = documents.first() else {
        return Ok((documents, indexed_until));
    };
    for (offset, document) in documents.iter().enumerate() {
        if document.seq != first.seq + offset as u64 {
            return Err(StoreError::InvalidInput(format!(
                "search documents must have consecutive seqs: seq {} follows seq {}",
                document.seq,
                first.seq + offset as u64 - 1
            )));
        }
    }
    if first.seq > indexed_until {
        return Err(StoreError::InvalidInput(format!(
            "search documents must continue at seq {indexed_until}, the first event without one; got seq {}",
            first.seq
        )));
    }
    let skip = usize::try_from(indexed_until - first.seq).unwrap_or(usize::MAX).min(documents.len());
    let fresh = &documents[skip..];
    let until = fresh.last().map_or(indexed_until, |last| last.seq + 1);
    Ok((fresh, until))
}

/// The distinct texts of `documents` with the seq of their first document, in order of first use.
fn first_uses(documents: &[SearchDocument]) -> Vec<&SearchDocument> {
    let mut seen = HashSet::new();
    documents.iter().filter(|document| seen.insert(document.text_hash)).collect()
}

/// One row of `search_text_facets`: a text and a combination of (folded) filter values among its
/// documents; absent values are `""`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FacetKey {
    text_hash: TextHash,
    actor: String,
    actor_name: String,
    action: String,
    resource_type: String,
    outcome: &'static str,
    ip: String,
}

/// The time span and count of the documents behind one [`FacetKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FacetSpan {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    uses: i64,
}

/// Groups `documents` into facet rows, in key order (so concurrent writers lock rows in the same
/// order).
fn facets_of(documents: &[SearchDocument]) -> Vec<(FacetKey, FacetSpan)> {
    let mut facets: BTreeMap<FacetKey, FacetSpan> = BTreeMap::new();
    for document in documents {
        let key = FacetKey {
            text_hash: document.text_hash,
            actor: fold(&document.actor_id),
            actor_name: document.actor_name.as_deref().map(fold).unwrap_or_default(),
            action: fold(&document.action),
            resource_type: document.resource_type.as_deref().map(fold).unwrap_or_default(),
            outcome: document.outcome.as_str(),
            ip: document.ip.as_deref().and_then(filter::ip_key).unwrap_or_default(),
        };
        let at = normalize_time(document.occurred_at);
        facets
            .entry(key)
            .and_modify(|span| {
                span.first = span.first.min(at);
                span.last = span.last.max(at);
                span.uses += 1;
            })
            .or_insert(FacetSpan { first: at, last: at, uses: 1 });
    }
    facets.into_iter().collect()
}

/// Which documents a filtered search ranks. `T` is how a backend holds "the texts whose facets
/// pass": SQLite ranks vectors in memory and needs the list; PostgreSQL keeps them in SQL and
/// follows the rule of [`Scope::choose`] itself.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope<T = Vec<TextHash>> {
    /// No filter: every text is ranked.
    All,
    /// At most [`PREFILTER_MAX`] documents pass: they are read and ranked directly, found
    /// through their texts (`Some`: the texts whose facets pass) or through the time index
    /// (`None`: a narrow time range).
    Few(Option<Vec<TextHash>>),
    /// Many documents may pass: only these texts are ranked.
    Texts(T),
}

impl Scope {
    /// Decides from the texts whose facets pass the filter, with how many documents those facets
    /// count (exact without a time range, an upper bound with one), and, only asked when that
    /// bound is too high, how many documents lie in the time range (counted up to just above
    /// [`PREFILTER_MAX`]; `None` without a time range).
    async fn choose<F>(facets: Vec<(TextHash, i64)>, in_time_range: F) -> Result<Self, StoreError>
    where
        F: std::future::Future<Output = Result<Option<i64>, StoreError>>,
    {
        let bound: i64 = facets.iter().map(|(_, uses)| *uses).sum();
        let texts: Vec<TextHash> = facets.into_iter().map(|(hash, _)| hash).collect();
        if bound <= PREFILTER_MAX {
            return Ok(Self::Few(Some(texts)));
        }
        Ok(match in_time_range.await? {
            Some(count) if count <= PREFILTER_MAX => Self::Few(None),
            _ => Self::Texts(texts),
        })
    }
}

/// Recent filters' scopes, reused while the tenant's documents are unchanged: a hybrid search
/// asks for its filter's scope twice within milliseconds (full text at once, nearest once the
/// question is embedded). A scope depends only on the documents indexed, so one computed at the
/// same `indexed_until` is still exact; entries also expire, to bound memory.
struct ScopeCache<T> {
    entries: Mutex<HashMap<(TenantId, FilterPlan), CachedScope<T>>>,
}

struct CachedScope<T> {
    at: Instant,
    indexed_until: u64,
    scope: Scope<T>,
}

/// How long a scope is kept at most, and how many are kept.
const SCOPE_TTL: Duration = Duration::from_secs(5);
const SCOPE_CACHE_MAX: usize = 256;

impl<T> Default for ScopeCache<T> {
    fn default() -> Self {
        Self { entries: Mutex::default() }
    }
}

impl<T: Clone> ScopeCache<T> {
    /// The scope of `plan` for `tenant` if it was computed at `indexed_until`.
    fn get(&self, tenant: &TenantId, plan: &FilterPlan, indexed_until: u64) -> Option<Scope<T>> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(&(tenant.clone(), plan.clone()))
            .filter(|cached| cached.indexed_until == indexed_until && cached.at.elapsed() < SCOPE_TTL)
            .map(|cached| cached.scope.clone())
    }

    /// Drops the tenant's scopes: after its documents are rebuilt, `indexed_until` can come back
    /// to a value a scope of the old texts was computed at.
    fn forget(&self, tenant: &TenantId) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|(cached_tenant, _), _| cached_tenant != tenant);
    }

    fn put(&self, tenant: &TenantId, plan: &FilterPlan, indexed_until: u64, scope: &Scope<T>) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= SCOPE_CACHE_MAX {
            entries.retain(|_, cached| cached.at.elapsed() < SCOPE_TTL);
            if entries.len() >= SCOPE_CACHE_MAX {
                entries.clear();
            }
        }
        let cached = CachedScope { at: Instant::now(), indexed_until, scope: scope.clone() };
        entries.insert((tenant.clone(), plan.clone()), cached);
    }
}

/// Sums facet rows `(text, uses)` per text, keeping the order of first appearance.
fn uses_per_text(rows: Vec<(TextHash, i64)>) -> Vec<(TextHash, i64)> {
    let mut position: HashMap<TextHash, usize> = HashMap::new();
    let mut out: Vec<(TextHash, i64)> = Vec::new();
    for (hash, uses) in rows {
        match position.get(&hash) {
            Some(&at) => out[at].1 += uses,
            None => {
                position.insert(hash, out.len());
                out.push((hash, uses));
            }
        }
    }
    out
}

/// Where the embedding watermark can move: to the first use of the oldest text without a vector
/// (`first_unembedded`), or, when every text is embedded, to `indexed_until` as read *before*
/// looking, since documents written since then were not looked at.
fn embedded_until(first_unembedded: Option<u64>, indexed_until: u64) -> u64 {
    first_unembedded.map_or(indexed_until, |seq| seq.min(indexed_until))
}

/// Vocabulary kinds, as stored in `search_vocabulary.kind`.
const KIND_ACTOR: &str = "actor";
const KIND_ACTION: &str = "action";
const KIND_RESOURCE_TYPE: &str = "resource_type";

/// How many documents use one vocabulary value; ordered by kind, then value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct VocabularyUse {
    kind: &'static str,
    value: String,
    uses: i64,
}

/// Counts how many of `documents` use each vocabulary value (a value counts once per document).
fn vocabulary_uses(documents: &[SearchDocument]) -> Vec<VocabularyUse> {
    let mut uses: HashMap<(&'static str, &str), i64> = HashMap::new();
    for document in documents {
        *uses.entry((KIND_ACTOR, document.actor_id.as_str())).or_default() += 1;
        if let Some(name) = document.actor_name.as_deref().filter(|name| *name != document.actor_id) {
            *uses.entry((KIND_ACTOR, name)).or_default() += 1;
        }
        *uses.entry((KIND_ACTION, document.action.as_str())).or_default() += 1;
        if let Some(kind) = document.resource_type.as_deref() {
            *uses.entry((KIND_RESOURCE_TYPE, kind)).or_default() += 1;
        }
    }
    let mut rows: Vec<VocabularyUse> = uses
        .into_iter()
        .map(|((kind, value), count)| VocabularyUse { kind, value: value.to_owned(), uses: count })
        .collect();
    // A fixed order, so concurrent writers touch rows in the same order.
    rows.sort();
    rows
}

/// Builds a vocabulary from `(kind, value)` rows already ordered by frequency.
fn vocabulary_from_rows(rows: Vec<(String, String)>) -> veritrail_core::query::Vocabulary {
    let mut vocabulary = veritrail_core::query::Vocabulary::default();
    for (kind, value) in rows {
        match kind.as_str() {
            KIND_ACTOR => vocabulary.actors.push(value),
            KIND_ACTION => vocabulary.actions.push(value),
            KIND_RESOURCE_TYPE => vocabulary.resource_types.push(value),
            _ => {}
        }
    }
    vocabulary
}

/// Converts a seq read from the database.
fn seq_from_db(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("search index holds a negative seq {seq}")))
}

/// Reads a 32-byte text hash column.
fn text_hash_from_db(bytes: &[u8]) -> Result<veritrail_core::search::TextHash, StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt(format!("text hash of {} bytes instead of 32", bytes.len())))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use veritrail_core::event::Outcome;

    use super::*;

    fn document(seq: u64) -> SearchDocument {
        SearchDocument {
            seq,
            occurred_at: Utc::now(),
            actor_id: "alice".into(),
            actor_name: Some("Alice".into()),
            action: "login".into(),
            resource_type: None,
            outcome: Outcome::Success,
            ip: None,
            text: "alice logged in".into(),
            text_hash: [0; 32],
        }
    }

    #[test]
    fn documents_must_continue_the_index() {
        let docs: Vec<SearchDocument> = (3..7).map(document).collect();
        let (fresh, until) = documents_to_insert(5, &docs).expect("overlapping batch");
        assert_eq!(fresh.iter().map(|doc| doc.seq).collect::<Vec<_>>(), vec![5, 6]);
        assert_eq!(until, 7);
        let (fresh, until) = documents_to_insert(9, &docs).expect("already stored batch");
        assert!(fresh.is_empty());
        assert_eq!(until, 9);
        assert!(documents_to_insert(2, &docs).is_err(), "a gap before the batch");
        let holey = vec![document(0), document(2)];
        assert!(documents_to_insert(0, &holey).is_err(), "a gap inside the batch");
        assert_eq!(documents_to_insert(4, &[]).expect("empty").1, 4);
    }

    #[test]
    fn texts_are_listed_once_at_their_first_use() {
        let mut docs: Vec<SearchDocument> = (0..4).map(document).collect();
        docs[1].text_hash = [1; 32];
        docs[3].text_hash = [1; 32];
        let seqs: Vec<u64> = first_uses(&docs).iter().map(|doc| doc.seq).collect();
        assert_eq!(seqs, vec![0, 1]);
    }

    #[test]
    fn the_watermark_stops_at_the_first_unembedded_text() {
        assert_eq!(embedded_until(Some(4), 10), 4);
        assert_eq!(embedded_until(None, 10), 10);
        assert_eq!(embedded_until(Some(12), 10), 10, "documents written after indexed_until was read");
    }

    #[test]
    fn vocabulary_counts_each_value_once_per_document() {
        let mut same_name = document(1);
        same_name.actor_name = Some("alice".into());
        let rows = vocabulary_uses(&[document(0), same_name]);
        let counted = |kind, value: &str, uses| VocabularyUse { kind, value: value.to_owned(), uses };
        assert!(rows.contains(&counted(KIND_ACTOR, "alice", 2)));
        assert!(rows.contains(&counted(KIND_ACTOR, "Alice", 1)));
        assert!(rows.contains(&counted(KIND_ACTION, "login", 2)));
    }

    #[tokio::test]
    async fn scope_reads_few_documents_directly_and_ranks_texts_otherwise() {
        let few = vec![([1; 32], 2_000), ([2; 32], 3_000)];
        let unused = async { panic!("the time range is not counted when the facets are few enough") };
        assert_eq!(Scope::choose(few, unused).await.expect("scope"), Scope::Few(Some(vec![[1; 32], [2; 32]])));
        let many = vec![([1; 32], 4_000), ([2; 32], 3_000)];
        let narrow = async { Ok(Some(40)) };
        assert_eq!(Scope::choose(many.clone(), narrow).await.expect("scope"), Scope::Few(None));
        let wide = async { Ok(Some(PREFILTER_MAX + 1)) };
        assert_eq!(Scope::choose(many.clone(), wide).await.expect("scope"), Scope::Texts(vec![[1; 32], [2; 32]]));
        let untimed = async { Ok(None) };
        assert_eq!(Scope::choose(many, untimed).await.expect("scope"), Scope::Texts(vec![[1; 32], [2; 32]]));
    }

    #[test]
    fn facet_uses_add_up_per_text_in_first_seen_order() {
        let rows = vec![([2; 32], 1), ([1; 32], 5), ([2; 32], 3)];
        assert_eq!(uses_per_text(rows), vec![([2; 32], 4), ([1; 32], 5)]);
    }

    #[test]
    fn terms_without_letters_or_digits_are_dropped() {
        let terms: Vec<String> = ["\"", "*", "a:b", " login ", "&|!"].iter().map(|term| term.to_string()).collect();
        assert_eq!(usable_terms(&terms), vec!["a:b", "login"]);
    }

    #[test]
    fn vectors_of_other_lengths_are_refused() {
        assert!(check_vector("v", &[0.0; VECTOR_DIMENSIONS]).is_ok());
        let err = check_vector("v", &[0.0; 3]).expect_err("short");
        assert!(err.to_string().contains("3 dimensions"), "{err}");
        let mut nan = vec![0.0; VECTOR_DIMENSIONS];
        nan[7] = f32::NAN;
        assert!(check_vector("v", &nan).is_err());
    }
}
