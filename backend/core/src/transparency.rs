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
    Publish(#[from] PublishError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Proof(#[from] crate::store::ProofError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error("the tenant has no events to put in a bundle")]
    Empty,
}

/// Assembles an evidence bundle of the tenant's events with `since <= occurred_at < until`,
/// proved against a checkpoint published now (so every selected event is covered).
pub async fn assemble_bundle(
    events: &dyn EventLog,
    checkpoints: &dyn CheckpointStore,
    identity: &LogIdentity,
    tenant: &TenantId,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<crate::bundle::Bundle, BundleBuildError> {
    use crate::store::EventQuery;

    publish_checkpoint(events, checkpoints, identity, tenant, now).await?;
    let checkpoint = checkpoints.latest_checkpoint(tenant).await?.ok_or(BundleBuildError::Empty)?;
    let mut selected = Vec::new();
    let mut query =
        EventQuery { since, until, before_seq: Some(checkpoint.tree_size), limit: 1_000, ..Default::default() };
    loop {
        let page = events.list(tenant, &query).await?;
        let Some(last) = page.last() else { break };
        query.before_seq = Some(last.seq);
        let full = page.len() == query.limit as usize;
        selected.extend(page);
        if !full {
            break;
        }
    }
    selected.reverse();
    bundle_of_events(events, identity, tenant, &checkpoint, &selected, since, until, now).await
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
