//! The work of the `embed-backfill` job: make new events searchable.
//!
//! Two steps per tenant, both resumable because their progress is the index itself:
//! 1. **Documents** for events past `indexed_until`, rendered by [`veritrail_core::render`]
//!    (full-text search works from here on, model or not); when the rendering's version differs
//!    from the one the tenant's documents were written with, they are all rebuilt first;
//! 2. **Vectors** for distinct texts without one, in batches, when an embedder is loaded.
//!
//! Ingest never waits for any of this: the job reads the log after the fact. Nor is it slowed by
//! it: with an [`IngestActivity`] attached, every batch is timed and followed by the pause that
//! holds indexing to its share of the machine while appends keep coming (none once ingest is
//! quiet), and batches of documents are smaller while ingest is busy, so that a backend with one
//! write lock (SQLite) never makes an append wait long.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};
use veritrail_core::activity::{IngestActivity, Pacer};
use veritrail_core::event::{StoredEvent, TenantId};
use veritrail_core::jobs::JobScope;
use veritrail_core::render::{RENDERING_VERSION, render};
use veritrail_core::search::{INDEX_DIMENSIONS, IndexProgress, SearchDocument, SearchIndex, TextHash};
use veritrail_core::store::{EventLog, StoreError};
use veritrail_models::embed::EmbedError;

use crate::slot::EmbedderSlot;

/// Batch sizes of the indexer.
#[derive(Debug, Clone, Copy)]
pub struct IndexerSettings {
    /// Events read and documents written per round trip.
    pub document_batch: u32,
    /// Events read and documents written per round trip while ingest is busy: each batch is one
    /// write transaction, and on SQLite appends wait for it, so there it is kept short.
    pub busy_document_batch: u32,
    /// Texts embedded per model call: small, because a stop is only seen between calls (a call
    /// of 16 texts takes a second or two on two cores).
    pub embed_batch: u32,
}

impl Default for IndexerSettings {
    /// While ingest is busy, documents go in batches of 500: about a quarter of a second of
    /// database work, evened out by the pause after it, rather than second-long bursts that every
    /// append meanwhile would feel in its latency (and a pause long enough for them would exceed
    /// the longest pause, so the share would not hold).
    fn default() -> Self {
        Self { document_batch: 2_000, busy_document_batch: 500, embed_batch: 16 }
    }
}

impl IndexerSettings {
    /// The defaults for a backend whose writes all take one lock (SQLite): while ingest is busy,
    /// documents go in batches of 100 (a few milliseconds of the write lock each).
    pub fn single_writer() -> Self {
        Self { busy_document_batch: 100, ..Self::default() }
    }
}

/// The longest single sleep of a pause, so that a stop is seen promptly.
const PAUSE_SLICE: Duration = Duration::from_millis(200);

/// Asks a running indexer to stop (the server is shutting down). The indexer looks between its
/// batches, so it stops within one batch; what it stored is kept, and the next run resumes from
/// the index itself (documents after `indexed_until`, vectors for texts that have none).
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why indexing stopped.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("embedding failed: {0}")]
    Embed(#[from] EmbedError),
    #[error(
        "the embedder {model:?} returns {got}-dimensional vectors; the index holds {expected} \
         (configure the model to return {expected} dimensions)"
    )]
    Dimensions { model: String, expected: usize, got: usize },
}

/// What one tenant's indexing did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TenantIndexReport {
    pub documents_added: u64,
    pub texts_embedded: u64,
    /// Model the vectors belong to; `None` when no embedder is loaded (keyword search only).
    pub model: Option<String>,
    pub embed_seconds: f64,
    pub events: u64,
    pub indexed: u64,
    pub embedded: u64,
}

/// Fills the search index from the log.
#[derive(Clone)]
pub struct Indexer {
    events: Arc<dyn EventLog>,
    index: Arc<dyn SearchIndex>,
    embedder: EmbedderSlot,
    settings: IndexerSettings,
    stop: StopSignal,
    /// The write path's activity; `None`: never pause.
    activity: Option<Arc<IngestActivity>>,
}

impl Indexer {
    pub fn new(
        events: Arc<dyn EventLog>,
        index: Arc<dyn SearchIndex>,
        embedder: EmbedderSlot,
        settings: IndexerSettings,
    ) -> Self {
        Self { events, index, embedder, settings, stop: StopSignal::default(), activity: None }
    }

    /// Yields to ingest: pauses after each batch while appends keep coming (see
    /// [`IngestActivity::pause_after`]).
    pub fn with_activity(mut self, activity: Arc<IngestActivity>) -> Self {
        self.activity = Some(activity);
        self
    }

    fn is_busy(&self) -> bool {
        self.activity.as_ref().is_some_and(|activity| activity.is_busy())
    }

    /// Sleeps the pause owed for the work `pacer` timed, in slices, returning early on a stop.
    async fn pause(&self, pacer: Option<Pacer<'_>>, cores: f64) {
        let Some(pacer) = pacer else { return };
        let mut left = pacer.pause_for_cores(cores);
        while !left.is_zero() && !self.stop.is_stopped() {
            let slice = left.min(PAUSE_SLICE);
            tokio::time::sleep(slice).await;
            left -= slice;
        }
    }

    fn pacer(&self) -> Option<Pacer<'_>> {
        self.activity.as_deref().map(Pacer::start)
    }

    /// Stops between batches once `stop` is signalled.
    pub fn with_stop(mut self, stop: StopSignal) -> Self {
        self.stop = stop;
        self
    }

    /// Indexes the tenants of `scope`; returns each tenant's report.
    pub async fn run(&self, scope: &JobScope) -> Result<Vec<(TenantId, TenantIndexReport)>, IndexError> {
        let mut reports = Vec::new();
        for tenant in scope.tenants(self.events.as_ref()).await? {
            if self.stop.is_stopped() {
                break;
            }
            let report = self.index_tenant(&tenant).await?;
            reports.push((tenant, report));
        }
        Ok(reports)
    }

    /// Writes the missing documents and vectors of one tenant.
    pub async fn index_tenant(&self, tenant: &TenantId) -> Result<TenantIndexReport, IndexError> {
        let mut report = TenantIndexReport { documents_added: self.add_documents(tenant).await?, ..Default::default() };
        if let Some(embedder) = self.embedder.get() {
            if embedder.dimensions() != INDEX_DIMENSIONS {
                return Err(IndexError::Dimensions {
                    model: embedder.model_id().to_owned(),
                    expected: INDEX_DIMENSIONS,
                    got: embedder.dimensions(),
                });
            }
            let model = embedder.model_id().to_owned();
            let started = Instant::now();
            // Inference keeps this many cores busy while it runs; storing vectors, one.
            let cores = embedder.compute_threads().max(1) as f64;
            while !self.stop.is_stopped() {
                let pacer = self.pacer();
                let pending = self.index.pending_texts(tenant, &model, self.settings.embed_batch).await?;
                if pending.is_empty() {
                    break;
                }
                let texts: Vec<String> = pending.iter().map(|text| text.text.clone()).collect();
                // Behind questions: a search must not wait for the back-fill.
                let vectors = embedder.embed_background(&texts).await?;
                if let Some(vector) = vectors.iter().find(|vector| vector.len() != INDEX_DIMENSIONS) {
                    return Err(IndexError::Dimensions { model, expected: INDEX_DIMENSIONS, got: vector.len() });
                }
                let rows: Vec<(TextHash, Vec<f32>)> = pending.iter().map(|text| text.text_hash).zip(vectors).collect();
                self.index.put_vectors(tenant, &model, &rows).await?;
                report.texts_embedded += rows.len() as u64;
                self.pause(pacer, cores).await;
            }
            report.embed_seconds = started.elapsed().as_secs_f64();
            report.model = Some(model);
        }
        let IndexProgress { events, indexed, embedded } =
            self.index.progress(tenant, report.model.as_deref().unwrap_or_default()).await?;
        (report.events, report.indexed, report.embedded) = (events, indexed, embedded);
        Ok(report)
    }

    async fn add_documents(&self, tenant: &TenantId) -> Result<u64, IndexError> {
        let rendering = self.index.rendering(tenant).await?;
        if rendering != RENDERING_VERSION {
            if self.index.indexed_until(tenant).await? > 0 {
                tracing::info!(
                    tenant = tenant.as_str(),
                    from = rendering,
                    to = RENDERING_VERSION,
                    "event renderings changed: rebuilding the tenant's search documents (vectors of texts that \
                     render as before are kept)"
                );
            }
            self.index.reset_documents(tenant, RENDERING_VERSION).await?;
        }
        let mut added = 0;
        loop {
            if self.stop.is_stopped() {
                return Ok(added);
            }
            let pacer = self.pacer();
            let batch = if self.is_busy() { self.settings.busy_document_batch } else { self.settings.document_batch };
            let from = self.index.indexed_until(tenant).await?;
            let events = self.events.scan(tenant, from, batch.max(1)).await?;
            if events.is_empty() {
                // Caught up: a rebuild's old texts are gone for good, and so may their vectors be.
                let pruned = self.index.prune_vectors(tenant).await?;
                if pruned > 0 {
                    tracing::info!(
                        tenant = tenant.as_str(),
                        vectors = pruned,
                        "deleted the vectors of replaced renderings"
                    );
                }
                return Ok(added);
            }
            let documents: Vec<SearchDocument> = events.iter().map(document_of).collect();
            self.index.put_documents(tenant, &documents).await?;
            added += documents.len() as u64;
            self.pause(pacer, 1.0).await;
        }
    }
}

/// The search document of `event`.
pub fn document_of(event: &StoredEvent) -> SearchDocument {
    let text = render(event);
    SearchDocument {
        seq: event.seq,
        occurred_at: event.occurred_at,
        actor_id: event.actor.id.clone(),
        actor_name: event.actor.name.clone(),
        action: event.action.clone(),
        resource_type: event.resource.as_ref().map(|resource| resource.kind.clone()),
        outcome: event.outcome,
        ip: event.actor.ip.clone(),
        text_hash: text_hash(&text),
        text,
    }
}

/// SHA-256 of a rendering.
pub fn text_hash(text: &str) -> TextHash {
    Sha256::digest(text.as_bytes()).into()
}
