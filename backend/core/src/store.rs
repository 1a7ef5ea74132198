//! Storage ports: the small traits every backend implements.
//!
//! Architecture invariant: nothing here updates or deletes an event. The log is append-only; the
//! only writes are [`EventLog::append`] and key management.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::ApiKey;
use crate::event::{NewEvent, Outcome, Receipt, Severity, StoredEvent, TenantId};
use crate::hash::Hash;
use crate::merkle::{Frontier, NodeId, consistency_ranges, fold_subtrees, inclusion_ranges, perfect_subtrees};
use crate::verify::{ChainBreak, ChainVerifier, VerifyReport, explain_displaced};

/// The error a driver reports, kept whole so its cause and code survive to the log.
pub type DriverError = Box<dyn std::error::Error + Send + Sync>;

/// A failure of the storage layer, or a value it refuses to store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused a statement (connection lost, constraint, timeout).
    /// `code` is the database's own error code (a PostgreSQL SQLSTATE, an SQLite extended
    /// result code) when it gave one.
    #[error("database error: {source}")]
    Database {
        code: Option<String>,
        #[source]
        source: DriverError,
    },
    /// The database is not one this build can run on: an unsupported URL, migrations missing
    /// or unknown, events in another format version.
    #[error("{0}")]
    Incompatible(String),
    /// The caller asked for something the store cannot do (a vector of the wrong width,
    /// documents out of order): a mistake of the caller, not of the database.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the ingest queue is full")]
    Overloaded,
    /// This tenant has as many append requests waiting as one tenant may; other tenants' are
    /// still admitted.
    #[error("this tenant already has {limit} append requests waiting to be written")]
    TenantOverloaded { limit: usize },
    #[error("the ingest sequencer has stopped")]
    Closed,
}

impl StoreError {
    /// A database failure with its driver error and, when known, the database's code.
    pub fn database(code: Option<String>, source: impl Into<DriverError>) -> Self {
        Self::Database { code, source: source.into() }
    }

    /// The database's error code, when the failure came with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Database { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// Why an append was refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// An event reuses an `id` already stored with different content.
    #[error("event id {id:?} was already used for an event with different content")]
    IdConflict { id: String },
    /// The same `id` appears twice in one request.
    #[error("event id {id:?} appears more than once in the request")]
    DuplicateInRequest { id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a Merkle proof or tree head could not be given.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The request names sizes or indexes the tree does not have.
    #[error("{0}")]
    OutOfRange(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The result of appending one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub receipt: Receipt,
    /// `false` when the event was already stored by an earlier, identical request.
    pub created: bool,
}

/// The end of a tenant's chain, as recorded by the log in the same transaction as each append.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainHead {
    /// The seq the next event will get; equals the number of events.
    pub next_seq: u64,
    /// The hash of the last event, or [`Hash::GENESIS`] when there is none.
    pub head_hash: Hash,
}

/// The end of a tenant's log: chain head and Merkle tree edge of the same size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeHead {
    pub head: ChainHead,
    pub frontier: Frontier,
}

crate::wire_enum! {
    /// The width of a bucket of [`EventStats`].
    pub enum StatsBucket ("bucket") {
        Hour => "hour",
        Day => "day",
    }
}

/// Counts of a tenant's events by `occurred_at` in `[since, until)`: per bucket and outcome, and
/// the most frequent actors and actions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventStats {
    /// Buckets that hold events, oldest first: (bucket start, outcome, count).
    pub buckets: Vec<(DateTime<Utc>, Outcome, u64)>,
    /// Most frequent actor ids, most frequent first.
    pub top_actors: Vec<(String, u64)>,
    /// Most frequent actions, most frequent first.
    pub top_actions: Vec<(String, u64)>,
    pub total: u64,
}

/// Filters for listing events, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    pub actor_id: Option<String>,
    /// The action exactly, or a prefix when it ends in `*` (`iam.*`).
    pub action: Option<String>,
    pub severity: Option<Severity>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub outcome: Option<Outcome>,
    /// Inclusive lower bound on `occurred_at`.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `occurred_at`.
    pub until: Option<DateTime<Utc>>,
    /// Only events with a seq below this one (the pagination cursor).
    pub before_seq: Option<u64>,
    /// Only events with a seq above this one.
    pub after_seq: Option<u64>,
    /// Oldest first (exports) instead of newest first.
    pub ascending: bool,
    pub limit: u32,
}

/// A range of seqs to verify; `None` bounds mean the start and the head of the chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqRange {
    pub from_seq: Option<u64>,
    pub to_seq: Option<u64>,
}

/// How many events [`EventLog::verify`] reads per page.
const VERIFY_PAGE: u32 = 2_000;

/// A tenant-partitioned, append-only, hash-chained event log.
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Appends `events` to the tenant's chain, all or nothing, durably before returning.
    async fn append(&self, tenant: &TenantId, events: Vec<NewEvent>) -> Result<Vec<Appended>, AppendError>;

    /// Returns the event with this id.
    async fn get(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredEvent>, StoreError>;

    /// Returns events matching `query`, newest first.
    async fn list(&self, tenant: &TenantId, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;

    /// Returns up to `limit` events with `seq >= from_seq`, in seq order, exactly as stored
    /// (duplicates and gaps included: verification must see them).
    async fn scan(&self, tenant: &TenantId, from_seq: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError>;

    /// Returns the recorded chain head, `None` for a tenant without events.
    async fn head(&self, tenant: &TenantId) -> Result<Option<ChainHead>, StoreError>;

    /// Returns the largest seq stored for the tenant, whatever the chain head says.
    async fn max_seq(&self, tenant: &TenantId) -> Result<Option<u64>, StoreError>;

    /// Returns the seq of the event whose stored hash is `hash`.
    async fn seq_of_hash(&self, tenant: &TenantId, hash: &Hash) -> Result<Option<u64>, StoreError>;

    /// Returns every tenant that has a chain.
    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError>;

    /// Counts the tenant's events by `occurred_at` in `[since, until)` (see [`EventStats`]),
    /// with `top` actors and actions.
    async fn stats(
        &self,
        tenant: &TenantId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        bucket: StatsBucket,
        top: u32,
    ) -> Result<EventStats, StoreError>;

    /// Returns the chain head and the right edge of the Merkle tree, read together (one row), so
    /// they always describe the same number of events.
    async fn tree_head(&self, tenant: &TenantId) -> Result<Option<TreeHead>, StoreError>;

    /// Returns stored interior Merkle nodes (level 1 and up) in the order asked; a missing node is
    /// [`StoreError::Corrupt`].
    async fn interior_nodes(&self, tenant: &TenantId, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError>;

    /// Returns the events with these seqs (in seq order; missing ones are simply absent).
    async fn events_at(&self, tenant: &TenantId, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError>;

    /// Returns Merkle nodes in the order asked: interior nodes from storage, leaves hashed from
    /// their events (a proof needs at most two).
    async fn tree_nodes(&self, tenant: &TenantId, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        let interior: Vec<NodeId> = ids.iter().copied().filter(|id| id.level > 0).collect();
        let leaves: Vec<u64> = ids.iter().filter(|id| id.level == 0).map(|id| id.index).collect();
        let mut interior_hashes = self.interior_nodes(tenant, &interior).await?.into_iter();
        let leaf_hashes: std::collections::HashMap<u64, Hash> = if leaves.is_empty() {
            std::collections::HashMap::new()
        } else {
            self.events_at(tenant, &leaves)
                .await?
                .iter()
                .map(|event| (event.seq, crate::chain::leaf_hash(&crate::chain::canonical_event_bytes(event))))
                .collect()
        };
        ids.iter()
            .map(|id| {
                if id.level > 0 {
                    interior_hashes.next().ok_or_else(|| StoreError::Corrupt("merkle node missing".into()))
                } else {
                    leaf_hashes
                        .get(&id.index)
                        .copied()
                        .ok_or_else(|| StoreError::Corrupt(format!("event seq {} is missing from the tree", id.index)))
                }
            })
            .collect()
    }

    /// Returns the roots of the ranges `[start, end)`, each from at most `log2(n)` stored nodes,
    /// all read in one query.
    async fn range_roots(&self, tenant: &TenantId, ranges: &[(u64, u64)]) -> Result<Vec<Hash>, StoreError> {
        let per_range: Vec<Vec<NodeId>> = ranges.iter().map(|(start, end)| perfect_subtrees(*start, *end)).collect();
        let all: Vec<NodeId> = per_range.iter().flatten().copied().collect();
        let hashes = self.tree_nodes(tenant, &all).await?;
        let mut offset = 0;
        let mut roots = Vec::with_capacity(ranges.len());
        for ids in &per_range {
            let slice = &hashes[offset..offset + ids.len()];
            offset += ids.len();
            roots.push(fold_subtrees(slice).ok_or_else(|| StoreError::Corrupt("empty Merkle range".into()))?);
        }
        Ok(roots)
    }

    /// Returns the current Merkle tree size, checking `size` against it.
    #[doc(hidden)]
    async fn tree_size_at_least(&self, tenant: &TenantId, size: u64) -> Result<u64, ProofError> {
        let current = self.head(tenant).await?.map_or(0, |head| head.next_seq);
        if size > current {
            return Err(ProofError::OutOfRange(format!("tree size {size} is larger than the log ({current} events)")));
        }
        Ok(current)
    }

    /// Returns the root of the tenant's Merkle tree at `size` (any size up to the current one).
    async fn tree_root(&self, tenant: &TenantId, size: u64) -> Result<Hash, ProofError> {
        self.tree_size_at_least(tenant, size).await?;
        if size == 0 {
            return Ok(crate::merkle::empty_root());
        }
        Ok(self.range_roots(tenant, &[(0, size)]).await?.remove(0))
    }

    /// Returns the inclusion proof of leaf `index` in the tree of `size` leaves.
    async fn inclusion_proof(&self, tenant: &TenantId, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        if index >= size {
            return Err(ProofError::OutOfRange(format!("seq {index} is not in a tree of size {size}")));
        }
        self.tree_size_at_least(tenant, size).await?;
        Ok(self.range_roots(tenant, &inclusion_ranges(index, size)).await?)
    }

    /// Returns the consistency proof between tree sizes `first` and `second`.
    async fn consistency_proof(&self, tenant: &TenantId, first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
        if first > second {
            return Err(ProofError::OutOfRange(format!("first ({first}) must not exceed second ({second})")));
        }
        self.tree_size_at_least(tenant, second).await?;
        Ok(self.range_roots(tenant, &consistency_ranges(first, second)).await?)
    }

    /// Verifies the tenant's chain over `range`, naming the first bad seq.
    ///
    /// Reads the head first and walks only up to it, so events appended while verifying do not
    /// count as tampering; rows beyond the head that exist *after* the walk are insertions.
    async fn verify(&self, tenant: &TenantId, range: SeqRange) -> Result<VerifyReport, StoreError> {
        let Some(TreeHead { head, frontier }) = self.tree_head(tenant).await? else {
            return Ok(match self.max_seq(tenant).await? {
                Some(_) => VerifyReport::new(0, None, Err(beyond_head(0, 0))),
                None => VerifyReport::new(0, None, Ok(())),
            });
        };
        let head_seq = head.next_seq.checked_sub(1);
        let head_pair = head_seq.map(|seq| (seq, head.head_hash));
        let Some(head_seq) = head_seq else {
            return Ok(VerifyReport::new(0, None, Ok(())));
        };
        let from_seq = range.from_seq.unwrap_or(0);
        let to_seq = range.to_seq.unwrap_or(head_seq).min(head_seq);
        if from_seq > to_seq {
            return Ok(VerifyReport::new(0, head_pair, Ok(())));
        }

        // Start one event early so the link into `from_seq` is checked too.
        let (mut verifier, mut cursor) = if from_seq == 0 {
            (ChainVerifier::new(0, Hash::GENESIS), 0)
        } else {
            match self.scan(tenant, from_seq - 1, 1).await?.into_iter().next() {
                Some(before) if before.seq == from_seq - 1 => (ChainVerifier::new(from_seq, before.hash), from_seq),
                _ => {
                    let gap = ChainBreak {
                        seq: from_seq - 1,
                        kind: crate::verify::BreakKind::Gap,
                        reason: format!("seq {} is missing", from_seq - 1),
                    };
                    return Ok(VerifyReport::new(0, head_pair, Err(gap)));
                }
            }
        };
        let checked_start = verifier.checked();
        let mut page = self.scan(tenant, cursor, VERIFY_PAGE).await?;
        loop {
            let last_seq = page.last().map(|event| event.seq);
            let more = matches!(last_seq, Some(last) if last < to_seq && page.len() == VERIFY_PAGE as usize);
            let next_cursor = last_seq.map_or(cursor, |last| last + 1);
            // Read the next page while this one is checked: the database works while this thread
            // encodes and hashes, instead of the two taking turns.
            let fetch = async { if more { Some(self.scan(tenant, next_cursor, VERIFY_PAGE).await) } else { None } };
            let check = async {
                page.iter()
                    .take_while(|event| event.seq <= to_seq)
                    .find_map(|event| verifier.check(event).err().map(|chain_break| (event.clone(), chain_break)))
            };
            let (next, broken) = futures::join!(fetch, check);
            if let Some((event, chain_break)) = broken {
                let refined = self.explain(tenant, &event, chain_break).await?;
                return Ok(VerifyReport::new(verifier.checked() - checked_start, head_pair, Err(refined)));
            }
            match next {
                Some(next) => {
                    page = next?;
                    cursor = next_cursor;
                }
                None => break,
            }
        }
        let checked = verifier.checked() - checked_start;
        if verifier.next_seq() <= to_seq {
            let truncated = ChainBreak {
                seq: verifier.next_seq(),
                kind: crate::verify::BreakKind::Gap,
                reason: format!(
                    "seq {} is missing: the log ends before the recorded head (seq {head_seq})",
                    verifier.next_seq()
                ),
            };
            return Ok(VerifyReport::new(checked, head_pair, Err(truncated)));
        }
        if to_seq == head_seq && verifier.last_hash() != head.head_hash {
            let mismatch = ChainBreak {
                seq: head_seq,
                kind: crate::verify::BreakKind::HeadMismatch,
                reason: format!("the hash of seq {head_seq} differs from the recorded chain head"),
            };
            return Ok(VerifyReport::new(checked, head_pair, Err(mismatch)));
        }
        if let Some(rebuilt) = verifier.tree_root().filter(|_| to_seq == head_seq)
            && frontier.root() != rebuilt
        {
            let mismatch = ChainBreak {
                seq: head_seq,
                kind: crate::verify::BreakKind::HeadMismatch,
                reason: "the Merkle tree recorded with the chain head does not match the events".to_owned(),
            };
            return Ok(VerifyReport::new(checked, head_pair, Err(mismatch)));
        }
        // Rows the application never wrote past the head. Reading max_seq before the head again
        // means a concurrent append (row and head commit together) is never mistaken for one.
        if range.to_seq.is_none() {
            let max_seq = self.max_seq(tenant).await?;
            let head_now = self.head(tenant).await?.map_or(0, |now| now.next_seq);
            if let Some(max_seq) = max_seq.filter(|max_seq| *max_seq >= head_now) {
                return Ok(VerifyReport::new(checked, head_pair, Err(beyond_head(head_now, max_seq))));
            }
        }
        Ok(VerifyReport::new(checked, head_pair, Ok(())))
    }

    /// Turns a hash mismatch into a reorder or insertion finding when the event is intact but
    /// displaced.
    #[doc(hidden)]
    async fn explain(
        &self,
        tenant: &TenantId,
        event: &StoredEvent,
        chain_break: ChainBreak,
    ) -> Result<ChainBreak, StoreError> {
        if chain_break.kind != crate::verify::BreakKind::HashMismatch {
            return Ok(chain_break);
        }
        let original_seq = if event.prev_hash == Hash::GENESIS {
            Some(0)
        } else {
            self.seq_of_hash(tenant, &event.prev_hash).await?.map(|seq| seq + 1)
        };
        Ok(original_seq.and_then(|original_seq| explain_displaced(event, original_seq)).unwrap_or(chain_break))
    }
}

fn beyond_head(head_next_seq: u64, max_seq: u64) -> ChainBreak {
    ChainBreak {
        seq: head_next_seq,
        kind: crate::verify::BreakKind::Insertion,
        reason: format!(
            "rows up to seq {max_seq} exist beyond the recorded chain head (next seq {head_next_seq}): they were inserted behind the application's back"
        ),
    }
}

/// API keys. Only a SHA-256 of each key is stored.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key.
    async fn create_key(&self, key: &ApiKey, key_hash: &Hash) -> Result<(), StoreError>;

    /// Stores `key` only if no key exists at all, atomically across processes (servers starting
    /// together on an empty database); returns whether it was stored.
    async fn create_first_key(&self, key: &ApiKey, key_hash: &Hash) -> Result<bool, StoreError>;

    /// Returns the active (not revoked) key with this hash.
    async fn find_key(&self, key_hash: &Hash) -> Result<Option<ApiKey>, StoreError>;

    /// Returns all keys, optionally of one tenant, revoked ones included.
    async fn list_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes a key; returns `false` when no active key has this id.
    async fn revoke_key(&self, key_id: &str) -> Result<bool, StoreError>;

    /// Returns how many keys exist, revoked ones included.
    async fn count_keys(&self) -> Result<u64, StoreError>;
}

/// Whether the database is reachable and carries the schema this build expects.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// Returns `Ok` when the database answers and is fully migrated.
    async fn check_ready(&self) -> Result<(), StoreError>;
}

/// A published signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCheckpoint {
    pub tree_size: u64,
    pub root_hash: Hash,
    /// The signed note, exactly as served.
    pub note: String,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// Published checkpoints; every one is kept.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Stores a checkpoint; when one of that size exists already it is kept and `false` returned.
    async fn save_checkpoint(&self, tenant: &TenantId, checkpoint: &StoredCheckpoint) -> Result<bool, StoreError>;

    /// Returns the largest published checkpoint.
    async fn latest_checkpoint(&self, tenant: &TenantId) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Returns the published checkpoint of exactly this size.
    async fn checkpoint_at(&self, tenant: &TenantId, tree_size: u64) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Returns up to `limit` checkpoints larger than `after_size`, smallest first.
    async fn checkpoints_after(
        &self,
        tenant: &TenantId,
        after_size: u64,
        limit: u32,
    ) -> Result<Vec<StoredCheckpoint>, StoreError>;
}
