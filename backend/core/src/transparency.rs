//! Publishing signed checkpoints: the `checkpoint` job's work, as a plain async function the
//! scheduler, the API and tests all call.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::checkpoint::{Checkpoint, LogSigner};
use crate::event::{TenantId, normalize_time};
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

/// Signs and stores a checkpoint for every tenant whose tree grew since its last checkpoint,
/// after checking that the new tree extends the last published one.
pub async fn publish_checkpoints(
    events: &dyn EventLog,
    checkpoints: &dyn CheckpointStore,
    identity: &LogIdentity,
    now: DateTime<Utc>,
) -> Result<Vec<PublishOutcome>, PublishError> {
    let mut outcomes = Vec::new();
    for tenant in events.tenants().await? {
        let published = publish_tenant(events, checkpoints, identity, &tenant, now).await?;
        outcomes.push(PublishOutcome { tenant, published });
    }
    Ok(outcomes)
}

async fn publish_tenant(
    events: &dyn EventLog,
    checkpoints: &dyn CheckpointStore,
    identity: &LogIdentity,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<Option<StoredCheckpoint>, PublishError> {
    let Some(frontier) = events.frontier(tenant).await? else {
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
