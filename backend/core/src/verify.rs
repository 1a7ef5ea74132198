//! Chain verification: walks a tenant's events in `seq` order and names the first one that breaks
//! the chain, and why.
//!
//! The walk is pure ([`ChainVerifier`]); reading the rows is the storage layer's job (see
//! [`crate::store::EventLog::verify`]).

use serde::Serialize;

use crate::chain::{canonical_event_bytes, chain_hash, expected_hash, leaf_hash};
use crate::event::StoredEvent;
use crate::hash::Hash;
use crate::merkle::Frontier;

/// What kind of damage a verification found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// A `seq` is missing: a row was deleted.
    Gap,
    /// A `seq` appears twice.
    Duplicate,
    /// The row's content does not hash to its stored `hash`: a field was changed.
    HashMismatch,
    /// The row's `prev_hash` is not the previous row's `hash`.
    BrokenLink,
    /// The row holds an event that was written at another position.
    Reorder,
    /// Rows were added that the application never wrote.
    Insertion,
    /// The log ends before the recorded chain head, or its last hash differs from it.
    HeadMismatch,
}

/// The first place a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub seq: u64,
    pub kind: BreakKind,
    pub reason: String,
}

/// The outcome of verifying (part of) one tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    /// How many events were checked.
    pub checked: u64,
    /// The last seq of the chain as recorded by the log, if it has any event.
    pub head_seq: Option<u64>,
    pub head_hash: Option<Hash>,
    pub first_bad_seq: Option<u64>,
    pub kind: Option<BreakKind>,
    pub reason: Option<String>,
}

impl VerifyReport {
    /// Builds the report of a walk that ended with `result`.
    pub fn new(checked: u64, head: Option<(u64, Hash)>, result: Result<(), ChainBreak>) -> Self {
        let (head_seq, head_hash) = match head {
            Some((seq, hash)) => (Some(seq), Some(hash)),
            None => (None, None),
        };
        match result {
            Ok(()) => Self { ok: true, checked, head_seq, head_hash, first_bad_seq: None, kind: None, reason: None },
            Err(chain_break) => Self {
                ok: false,
                checked,
                head_seq,
                head_hash,
                first_bad_seq: Some(chain_break.seq),
                kind: Some(chain_break.kind),
                reason: Some(chain_break.reason),
            },
        }
    }
}

/// Checks events one by one, in the order the log returns them (by `seq`).
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next_seq: u64,
    prev_hash: Hash,
    checked: u64,
    /// The Merkle tree rebuilt from the leaves, when the walk starts at seq 0.
    tree: Option<Frontier>,
}

impl ChainVerifier {
    /// Starts a walk at `start_seq`, whose `prev_hash` must be `prev_hash`.
    pub fn new(start_seq: u64, prev_hash: Hash) -> Self {
        Self { next_seq: start_seq, prev_hash, checked: 0, tree: (start_seq == 0).then(Frontier::default) }
    }

    /// Returns how many events passed so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Returns the seq the next event must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Returns the hash of the last event that passed (or the starting `prev_hash`).
    pub fn last_hash(&self) -> Hash {
        self.prev_hash
    }

    /// Returns the Merkle tree head of the events checked so far, when the walk began at seq 0.
    pub fn tree_root(&self) -> Option<Hash> {
        self.tree.as_ref().map(Frontier::root)
    }

    /// Checks the next event.
    pub fn check(&mut self, event: &StoredEvent) -> Result<(), ChainBreak> {
        if event.seq < self.next_seq {
            return Err(ChainBreak {
                seq: event.seq,
                kind: BreakKind::Duplicate,
                reason: format!("seq {} appears more than once", event.seq),
            });
        }
        if event.seq > self.next_seq {
            return Err(ChainBreak {
                seq: self.next_seq,
                kind: BreakKind::Gap,
                reason: format!("seq {} is missing: the log jumps to seq {}", self.next_seq, event.seq),
            });
        }
        let leaf = leaf_hash(&canonical_event_bytes(event));
        if chain_hash(&event.prev_hash, &leaf) != event.hash {
            return Err(ChainBreak {
                seq: event.seq,
                kind: BreakKind::HashMismatch,
                reason: format!(
                    "the content of seq {} does not match its stored hash: the event was changed",
                    event.seq
                ),
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(ChainBreak {
                seq: event.seq,
                kind: BreakKind::BrokenLink,
                reason: format!("prev_hash of seq {} is not the hash of the event before it", event.seq),
            });
        }
        self.prev_hash = event.hash;
        self.next_seq += 1;
        if let Some(tree) = &mut self.tree {
            tree.append_with(leaf, |_, _| {});
        }
        self.checked += 1;
        Ok(())
    }
}

/// Explains a [`BreakKind::HashMismatch`] at `event` when the event is intact but sits at the wrong
/// place: `original_seq` is where its `prev_hash` says it was written.
///
/// Returns `None` when the content really was changed.
pub fn explain_displaced(event: &StoredEvent, original_seq: u64) -> Option<ChainBreak> {
    if original_seq == event.seq {
        return None;
    }
    let mut at_origin = event.clone();
    at_origin.seq = original_seq;
    if expected_hash(&at_origin) != event.hash {
        return None;
    }
    if original_seq < event.seq {
        Some(ChainBreak {
            seq: original_seq,
            kind: BreakKind::Insertion,
            reason: format!(
                "{} row(s) were inserted at seq {original_seq}: the event written at seq {original_seq} now sits at seq {}",
                event.seq - original_seq,
                event.seq
            ),
        })
    } else {
        Some(ChainBreak {
            seq: event.seq,
            kind: BreakKind::Reorder,
            reason: format!(
                "the event at seq {} was written at seq {original_seq}: rows were reordered or removed",
                event.seq
            ),
        })
    }
}
