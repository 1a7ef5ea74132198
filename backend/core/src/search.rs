//! The search index port: derived, rebuildable data that makes the log searchable.
//!
//! For every event the index keeps a *search document*: a plain-language rendering of the event
//! (see [`crate::render`]) plus copies of the columns searches filter on. Vectors are stored once
//! per distinct rendering (keyed by the SHA-256 of the text), because audit events repeat heavily
//! and embedding a text once is what makes back-filling fast.
//!
//! Architecture invariant: the index is never the source of truth. It can lag the log (it is
//! filled by the `embed-backfill` job, off the ingest path) and could be dropped and rebuilt from
//! the events at any time; nothing in it is covered by a hash.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::event::{Outcome, TenantId};
use crate::store::StoreError;

/// Width of the stored vectors (all-MiniLM-L6-v2; OpenAI-compatible models must be asked for
/// this many dimensions). PostgreSQL's column is `vector(384)`.
pub const INDEX_DIMENSIONS: usize = 384;

/// SHA-256 of a document's text: the key of its vector.
pub type TextHash = [u8; 32];

/// One event's search document, written by the indexing job.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchDocument {
    pub seq: u64,
    pub occurred_at: DateTime<Utc>,
    /// `actor.id` as stored.
    pub actor_id: String,
    pub actor_name: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub outcome: Outcome,
    pub ip: Option<String>,
    /// The rendering that is full-text indexed and embedded.
    pub text: String,
    pub text_hash: TextHash,
}

/// A distinct text that has no vector yet for a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingText {
    pub text_hash: TextHash,
    pub text: String,
}

/// Filters applied inside the database, before ranking. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// Inclusive lower bound on `occurred_at`.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `occurred_at`.
    pub until: Option<DateTime<Utc>>,
    /// Matches `actor_id` or `actor_name`, case-insensitively and exactly.
    pub actors: Vec<String>,
    /// Matches `action` exactly (case-insensitively).
    pub actions: Vec<String>,
    /// Matches `resource_type` exactly (case-insensitively).
    pub resource_types: Vec<String>,
    pub outcome: Option<Outcome>,
    /// IP addresses or CIDR ranges (IPv4 or IPv6); an event matches if its IP is in any of them.
    pub ips: Vec<String>,
}

/// One ranked candidate; `score` is higher for better matches and only comparable within one list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchHit {
    pub seq: u64,
    pub score: f64,
}

/// How far the index has got for a tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexProgress {
    /// Events in the log (the chain head's `next_seq`).
    pub events: u64,
    /// Events with a search document: documents exist for every seq below this one.
    pub indexed: u64,
    /// Documents whose text has a vector for the model asked about, as a watermark: every
    /// document below this seq has one and the document at it (if any) does not. Documents
    /// further on whose texts already have vectors are not counted until the gap before them is
    /// embedded; the value moves when vectors are stored or pending texts are looked up.
    pub embedded: u64,
}

/// Full-text and vector search over the documents of each tenant.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// The seq of the first event without a document (0 when none has one).
    async fn indexed_until(&self, tenant: &TenantId) -> Result<u64, StoreError>;

    /// Stores documents for consecutive events starting at `indexed_until`. Idempotent: a
    /// document that already exists is left as it is. A batch that is not consecutive or starts
    /// after `indexed_until` (leaving a gap) is refused.
    async fn put_documents(&self, tenant: &TenantId, documents: &[SearchDocument]) -> Result<(), StoreError>;

    /// Distinct texts of the tenant's documents that have no vector for `model`, oldest (by first
    /// use) first.
    async fn pending_texts(&self, tenant: &TenantId, model: &str, limit: u32) -> Result<Vec<PendingText>, StoreError>;

    /// Stores vectors for texts. Idempotent: a text's first stored vector is kept. Every vector
    /// must have the index's dimensions (384) and finite values, or the whole call is refused.
    async fn put_vectors(
        &self,
        tenant: &TenantId,
        model: &str,
        vectors: &[(TextHash, Vec<f32>)],
    ) -> Result<(), StoreError>;

    /// Full-text candidates: documents matching any of `terms` (already lower-cased words), best
    /// first (BM25: SQLite FTS5's, on PostgreSQL computed over `tsvector`s), restricted by `filter`.
    async fn fulltext(
        &self,
        tenant: &TenantId,
        terms: &[String],
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// Vector candidates: documents whose text vector for `model` is nearest to `vector` by cosine
    /// distance, best first (score = cosine similarity), restricted by `filter`. Must keep recall
    /// under selective filters (it may widen its candidate set until `limit` hits are found).
    async fn nearest(
        &self,
        tenant: &TenantId,
        model: &str,
        vector: &[f32],
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// The scores [`SearchIndex::fulltext`] gives the documents `seqs` for `terms`, in no
    /// particular order; documents matching no term, or that do not exist, are left out. Hybrid
    /// search uses it to score what only the vector list found, instead of counting it as 0.
    async fn fulltext_scores(
        &self,
        tenant: &TenantId,
        terms: &[String],
        seqs: &[u64],
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// The cosine similarity to `vector` of the documents `seqs` (their texts' vectors for
    /// `model`), in no particular order; documents without a vector are left out. Hybrid search
    /// uses it to score what only the full-text list found.
    async fn similarities(
        &self,
        tenant: &TenantId,
        model: &str,
        vector: &[f32],
        seqs: &[u64],
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// Documents matching `filter` alone, newest first (score 1.0): for questions that are only
    /// filters ("failed logins yesterday").
    async fn filtered(
        &self,
        tenant: &TenantId,
        filter: &SearchFilter,
        limit: u32,
    ) -> Result<Vec<SearchHit>, StoreError>;

    /// The rendering version ([`crate::render::RENDERING_VERSION`]) the tenant's documents were
    /// written with; 0 when the tenant has none yet or they predate versions.
    async fn rendering(&self, tenant: &TenantId) -> Result<u32, StoreError>;

    /// Removes the tenant's documents, texts and all that is derived from them (full-text index,
    /// facets, vocabulary, progress) in one transaction and records `rendering`, so the indexing
    /// job renders every event again. Vectors are kept: they are keyed by text hash, so a text
    /// that renders as before is not embedded again.
    async fn reset_documents(&self, tenant: &TenantId, rendering: u32) -> Result<(), StoreError>;

    /// After [`SearchIndex::reset_documents`], once the documents have been written again:
    /// deletes the tenant's vectors that no text uses any more (the old renderings') and returns
    /// how many. Does nothing, cheaply, when no reset is waiting for it.
    async fn prune_vectors(&self, tenant: &TenantId) -> Result<u64, StoreError>;

    /// Index progress for `model`.
    async fn progress(&self, tenant: &TenantId, model: &str) -> Result<IndexProgress, StoreError>;

    /// Distinct actor ids and names, actions and resource types of the tenant's documents: the
    /// vocabulary query understanding recognises. At most `limit` of each, most frequent first.
    async fn vocabulary(&self, tenant: &TenantId, limit: u32) -> Result<crate::query::Vocabulary, StoreError>;
}
