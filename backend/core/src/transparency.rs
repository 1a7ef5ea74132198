//! Publishing signed checkpoints: the `checkpoint` job's work, as a plain async function the
//! scheduler, the API and tests all call.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::checkpoint::{Checkpoint, LogSigner};
use crate::event::{TenantId, normalize_time};
use crate::jobs::JobScope;
use crate::merkle::verify_consistency;
use crate::store::{CheckpointStore, EventLog, StoreError, StoredCheckpoint};

/// The log's public identity: its signing key and the origin prefix of its checkpoints.
#[derive(Debug)]
pub struct LogIdentity {
    pub signer: LogSigner,
}

impl LogIdentity {
    /// Returns the origin line of a tenant's checkpoints: `<key name>/<tenant>`.
    pub fn origin(&self, tenant: &TenantId) -> String {
        format!("{}/{tenant}", self.signer.name())
    }
}

/// What one run of the checkpoint job did for a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishOutcome {
    pub tenant: TenantId,
    /// The checkpoint published now, or `None` when the tree had not grown.
    pub published: Option<StoredCheckpoint>,
}

/// Why publishing stopped.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The tree is not an extension of the last published checkpoint: history was rewritten.
    #[error(
        "tenant {tenant}: the tree of size {size} is not consistent with the published checkpoint of size {previous}; refusing to sign"
    )]
    Inconsistent { tenant: TenantId, previous: u64, size: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Proof(#[from] crate::store::ProofError),
}

/// Signs and stores a checkpoint for every tenant of `scope` whose tree grew since its last checkpoint,
/// after checking that the new tree extends the last published one.
pub async fn publish_checkpoints(
    events: &dyn EventLog,
    checkpoints: &dyn CheckpointStore,
    identity: &LogIdentity,
    scope: &JobScope,
    now: DateTime<Utc>,
) -> Result<Vec<PublishOutcome>, PublishError> {
    let mut outcomes = Vec::new();
    for tenant in scope.tenants(events).await? {
        let published = publish_checkpoint(events, checkpoints, identity, &tenant, now).await?;
        outcomes.push(PublishOutcome { tenant, published });
    }
    Ok(outcomes)
}

/// Publishes a checkpoint for one tenant if its tree grew; returns the new checkpoint.
pub async fn publish_checkpoint(
    events: &dyn EventLog,
    checkpoints: &dyn CheckpointStore,
    identity: &LogIdentity,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<Option<StoredCheckpoint>, PublishError> {
    let Some(crate::store::TreeHead { frontier, .. }) = events.tree_head(tenant).await? else {
        return Ok(None);
    };
    let size = frontier.size();
    let previous = checkpoints.latest_checkpoint(tenant).await?;
    if size == 0 || previous.as_ref().is_some_and(|previous| previous.tree_size >= size) {
        return Ok(None);
    }
    let root_hash = frontier.root();
    if let Some(previous) = &previous {
        let proof = events.consistency_proof(tenant, previous.tree_size, size).await?;
        if !verify_consistency(previous.tree_size, size, &previous.root_hash, &root_hash, &proof) {
            return Err(PublishError::Inconsistent { tenant: tenant.clone(), previous: previous.tree_size, size });
        }
    }
    let note = identity.signer.sign(&Checkpoint { origin: identity.origin(tenant), tree_size: size, root_hash });
    let checkpoint = StoredCheckpoint { tree_size: size, root_hash, note, created_at: normalize_time(now) };
    checkpoints.save_checkpoint(tenant, &checkpoint).await?;
    // Another replica may have published the same size first; theirs is the one kept.
    Ok(checkpoints.checkpoint_at(tenant, size).await?.or(Some(checkpoint)))
}

/// Why a bundle could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum BundleBuildError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Proof(#[from] crate::store::ProofError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// The selection holds more events than one bundle may.
    #[error("the selection holds more than {max} events")]
    TooManyEvents { max: u64 },
}

/// Events read per database round trip while measuring and streaming a bundle.
const BUNDLE_PAGE: u32 = 1_000;
/// Events whose inclusion proofs are read together: one round trip, not one per event.
const PROOF_CHUNK: usize = 256;

/// An evidence bundle measured and ready to stream: the tenant's events with
/// `since <= occurred_at < until` covered by a published checkpoint, proved against it.
///
/// A tar header holds its file's size, so [`plan_bundle`] reads the selection once to count
/// and measure it (nothing is kept), and [`BundlePlan::stream`] reads it again, page by page,
/// to write it: memory stays one page whatever the size of the bundle. Events below a published
/// tree size never change, so both reads see the same events; should they differ anyway, the
/// stream fails instead of ending a tar whose sizes lie.
#[derive(Debug, Clone)]
pub struct BundlePlan {
    tenant: TenantId,
    manifest: crate::bundle::Manifest,
    /// The files written whole before the events: README, manifest, checkpoint, key.
    head: [Vec<u8>; 4],
    query: crate::store::EventQuery,
    events_len: u64,
    proofs_len: u64,
}

/// Counts and measures the bundle of the tenant's events with `since <= occurred_at < until`
/// below `checkpoint`'s tree size; refuses a selection of more than `max_events` events before
/// reading further. Signs nothing: the bundle is proved against `checkpoint`, published already.
#[allow(clippy::too_many_arguments)]
pub async fn plan_bundle(
    events: &dyn EventLog,
    identity: &LogIdentity,
    tenant: &TenantId,
    checkpoint: &StoredCheckpoint,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    max_events: u64,
) -> Result<BundlePlan, BundleBuildError> {
    use crate::bundle::{Manifest, manifest_bytes, proof_line_len, readme};
    use crate::chain::canonical_event_bytes;
    use crate::event::format_time;
    use crate::merkle::inclusion_ranges;
    use crate::store::EventQuery;

    let tree_size = checkpoint.tree_size;
    let query = EventQuery {
        since,
        until,
        before_seq: Some(tree_size),
        ascending: true,
        limit: BUNDLE_PAGE,
        ..Default::default()
    };
    let (mut count, mut events_len, mut proofs_len) = (0u64, 0u64, 0u64);
    let mut after_seq = None;
    loop {
        let page = events.list(tenant, &crate::store::EventQuery { after_seq, ..query.clone() }).await?;
        count += page.len() as u64;
        if count > max_events {
            return Err(BundleBuildError::TooManyEvents { max: max_events });
        }
        for event in &page {
            events_len += canonical_event_bytes(event).len() as u64 + 1;
            proofs_len += proof_line_len(event.seq, inclusion_ranges(event.seq, tree_size).len())?;
        }
        match page.last() {
            Some(last) if page.len() == BUNDLE_PAGE as usize => after_seq = Some(last.seq),
            _ => break,
        }
    }
    let manifest = Manifest {
        format_version: crate::chain::FORMAT_VERSION,
        tenant: tenant.to_string(),
        origin: identity.origin(tenant),
        tree_size,
        event_count: count,
        since: since.as_ref().map(format_time),
        until: until.as_ref().map(format_time),
        created_at: format_time(&normalize_time(now)),
    };
    let head = [
        readme().as_bytes().to_vec(),
        manifest_bytes(&manifest)?,
        checkpoint.note.as_bytes().to_vec(),
        identity.signer.verifier_key().into_bytes(),
    ];
    Ok(BundlePlan { tenant: tenant.clone(), manifest, head, query, events_len, proofs_len })
}

/// Where a bundle's stream is.
enum Step {
    Head,
    Events { after_seq: Option<u64>, written: u64 },
    Proofs { after_seq: Option<u64>, written: u64 },
    Done,
}

impl BundlePlan {
    /// What the bundle says about itself.
    pub fn manifest(&self) -> &crate::bundle::Manifest {
        &self.manifest
    }

    /// The size of the archive, in bytes.
    pub fn archive_len(&self) -> u64 {
        use crate::bundle::framing::{END, entry_len};
        self.head.iter().map(|file| entry_len(file.len() as u64)).sum::<u64>()
            + entry_len(self.events_len)
            + entry_len(self.proofs_len)
            + END.len() as u64
    }

    /// The archive, in pieces of about one page of events, read from `events` as it is
    /// consumed. Byte for byte what [`crate::bundle::Bundle::to_tar`] writes for the same bundle.
    pub fn stream(
        self,
        events: std::sync::Arc<dyn EventLog>,
    ) -> impl futures::Stream<Item = Result<Vec<u8>, BundleBuildError>> + Send + 'static {
        let plan = std::sync::Arc::new(self);
        futures::stream::try_unfold(Step::Head, move |step| {
            let (plan, events) = (plan.clone(), events.clone());
            async move { plan.step(events.as_ref(), step).await }
        })
    }

    /// Writes the next piece of the archive.
    async fn step(&self, events: &dyn EventLog, step: Step) -> Result<Option<(Vec<u8>, Step)>, BundleBuildError> {
        use crate::bundle::{FILES, framing, push_proof_line};

        let mut out = Vec::new();
        let next = match step {
            Step::Head => {
                for (name, file) in FILES.iter().zip(&self.head) {
                    out.extend_from_slice(&framing::header(name, file.len() as u64)?);
                    out.extend_from_slice(file);
                    out.extend_from_slice(framing::padding(file.len() as u64));
                }
                out.extend_from_slice(&framing::header(FILES[4], self.events_len)?);
                Step::Events { after_seq: None, written: 0 }
            }
            Step::Events { after_seq, written } => {
                let page = self.page(events, after_seq).await?;
                for event in &page {
                    out.extend_from_slice(&crate::chain::canonical_event_bytes(event));
                    out.push(b'\n');
                }
                let written = written + out.len() as u64;
                match page.last() {
                    Some(last) if page.len() == BUNDLE_PAGE as usize => {
                        Step::Events { after_seq: Some(last.seq), written }
                    }
                    _ => {
                        self.check_len(FILES[4], written, self.events_len)?;
                        out.extend_from_slice(framing::padding(written));
                        out.extend_from_slice(&framing::header(FILES[5], self.proofs_len)?);
                        Step::Proofs { after_seq: None, written: 0 }
                    }
                }
            }
            Step::Proofs { after_seq, written } => {
                let page = self.page(events, after_seq).await?;
                let tree_size = self.manifest.tree_size;
                for chunk in page.chunks(PROOF_CHUNK) {
                    let ranges: Vec<Vec<(u64, u64)>> =
                        chunk.iter().map(|event| crate::merkle::inclusion_ranges(event.seq, tree_size)).collect();
                    let all: Vec<(u64, u64)> = ranges.iter().flatten().copied().collect();
                    let mut roots = events.range_roots(&self.tenant, &all).await?.into_iter();
                    for (event, ranges) in chunk.iter().zip(&ranges) {
                        let proof = crate::bundle::EventProof {
                            seq: event.seq,
                            prev_hash: event.prev_hash,
                            hash: event.hash,
                            hashes: roots.by_ref().take(ranges.len()).collect(),
                        };
                        push_proof_line(&mut out, &proof)?;
                    }
                }
                let written = written + out.len() as u64;
                match page.last() {
                    Some(last) if page.len() == BUNDLE_PAGE as usize => {
                        Step::Proofs { after_seq: Some(last.seq), written }
                    }
                    _ => {
                        self.check_len(FILES[5], written, self.proofs_len)?;
                        out.extend_from_slice(framing::padding(written));
                        out.extend_from_slice(&framing::END);
                        Step::Done
                    }
                }
            }
            Step::Done => return Ok(None),
        };
        Ok(Some((out, next)))
    }

    /// One page of the selection, oldest first, after `after_seq`.
    async fn page(
        &self,
        events: &dyn EventLog,
        after_seq: Option<u64>,
    ) -> Result<Vec<crate::event::StoredEvent>, StoreError> {
        events.list(&self.tenant, &crate::store::EventQuery { after_seq, ..self.query.clone() }).await
    }

    fn check_len(&self, file: &str, written: u64, measured: u64) -> Result<(), BundleBuildError> {
        if written == measured {
            return Ok(());
        }
        Err(crate::bundle::BundleError::Inconsistent(format!(
            "{file} came to {written} bytes, {measured} when measured: the selection changed while it was written"
        ))
        .into())
    }
}

/// The evidence bundle of `selected` (the tenant's events, oldest first, all below the
/// checkpoint's tree size), proved against `checkpoint`; `since` and `until` describe the
/// selection in the manifest.
#[allow(clippy::too_many_arguments)]
pub async fn bundle_of_events(
    events: &dyn EventLog,
    identity: &LogIdentity,
    tenant: &TenantId,
    checkpoint: &StoredCheckpoint,
    selected: &[crate::event::StoredEvent],
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<crate::bundle::Bundle, BundleBuildError> {
    use crate::bundle::{Bundle, EventProof, Manifest};
    use crate::chain::canonical_event_bytes;
    use crate::event::format_time;

    if let Some(outside) = selected.iter().find(|event| event.seq >= checkpoint.tree_size) {
        return Err(BundleBuildError::Proof(crate::store::ProofError::OutOfRange(format!(
            "seq {} is not covered by the checkpoint of tree size {}",
            outside.seq, checkpoint.tree_size
        ))));
    }
    let mut lines = Vec::with_capacity(selected.len());
    let mut proofs = Vec::with_capacity(selected.len());
    // The proofs of a few hundred events are read together: one round trip, not one per event.
    for chunk in selected.chunks(256) {
        let ranges: Vec<Vec<(u64, u64)>> =
            chunk.iter().map(|event| crate::merkle::inclusion_ranges(event.seq, checkpoint.tree_size)).collect();
        let all: Vec<(u64, u64)> = ranges.iter().flatten().copied().collect();
        let mut roots = events.range_roots(tenant, &all).await?.into_iter();
        for (event, ranges) in chunk.iter().zip(&ranges) {
            lines.push(canonical_event_bytes(event));
            proofs.push(EventProof {
                seq: event.seq,
                prev_hash: event.prev_hash,
                hash: event.hash,
                hashes: roots.by_ref().take(ranges.len()).collect(),
            });
        }
    }
    Ok(Bundle {
        manifest: Manifest {
            format_version: crate::chain::FORMAT_VERSION,
            tenant: tenant.to_string(),
            origin: identity.origin(tenant),
            tree_size: checkpoint.tree_size,
            event_count: selected.len() as u64,
            since: since.as_ref().map(format_time),
            until: until.as_ref().map(format_time),
            created_at: format_time(&normalize_time(now)),
        },
        events: lines,
        proofs,
        checkpoint_note: checkpoint.note.clone(),
        verifier_key: identity.signer.verifier_key(),
    })
}
