//! Backend-independent planning of one group commit: which events are new, which are retries of
//! stored ones, which requests conflict, and the seq and hashes of every new event.
//!
//! The backends read the chain heads and the already-stored ids inside their transaction, call
//! [`plan_group`], then write what it returns. Keeping this logic here means SQLite and
//! PostgreSQL cannot disagree about idempotency or chaining.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use veritrail_core::chain::{canonical_event_bytes, chain_hash, leaf_hash};
use veritrail_core::event::{NewEvent, Receipt, StoredEvent, TenantId};
use veritrail_core::hash::Hash;
use veritrail_core::merkle::{Frontier, NodeId};
use veritrail_core::store::{AppendError, Appended, ChainHead, StoreError, TreeHead};

/// One client request: events for one tenant, all or nothing.
#[derive(Debug)]
pub(crate) struct AppendRequest {
    pub tenant: TenantId,
    pub events: Vec<NewEvent>,
}

pub(crate) type AppendResult = Result<Vec<Appended>, AppendError>;

/// What idempotency needs to know about an event already in the log.
#[derive(Debug, Clone)]
pub(crate) struct ExistingEvent {
    pub receipt: Receipt,
    pub request_hash: Hash,
}

/// A row to insert.
#[derive(Debug, Clone)]
pub(crate) struct NewRow {
    pub event: StoredEvent,
    pub request_hash: Hash,
}

/// Pairs a stored head with its stored frontier, refusing a mismatch.
pub(crate) fn tree_head_from_parts(head: ChainHead, frontier_bytes: &[u8]) -> Result<TreeHead, StoreError> {
    Frontier::from_bytes(head.next_seq, frontier_bytes).map(|frontier| TreeHead { head, frontier }).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "the Merkle frontier recorded with the chain head does not fit {} events",
            head.next_seq
        ))
    })
}

/// A Merkle node to insert.
#[derive(Debug, Clone)]
pub(crate) struct NewNode {
    pub tenant: TenantId,
    pub id: NodeId,
    pub hash: Hash,
}

/// Everything a backend writes for a group, and the answer for each request.
#[derive(Debug)]
pub(crate) struct GroupPlan {
    pub rows: Vec<NewRow>,
    pub nodes: Vec<NewNode>,
    /// New states of the tenants that got rows.
    pub heads: BTreeMap<TenantId, TreeHead>,
    pub results: Vec<AppendResult>,
}

/// Returns the tenants of a group in a fixed order, so concurrent writers lock heads in the same
/// order and never deadlock.
pub(crate) fn tenants_of(requests: &[AppendRequest]) -> Vec<TenantId> {
    let mut tenants: Vec<TenantId> = requests.iter().map(|request| request.tenant.clone()).collect();
    tenants.sort();
    tenants.dedup();
    tenants
}

/// Returns the client-chosen ids of a tenant's requests: the only ones that can already exist.
pub(crate) fn client_ids_of(requests: &[AppendRequest], tenant: &TenantId) -> Vec<String> {
    let mut ids: Vec<String> = requests
        .iter()
        .filter(|request| &request.tenant == tenant)
        .flat_map(|request| request.events.iter())
        .filter(|event| event.id_from_client)
        .map(|event| event.id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Plans a group. `heads` holds the locked head of every tenant in the group; `existing` the
/// stored events among the group's client ids.
pub(crate) fn plan_group(
    requests: &[AppendRequest],
    mut heads: BTreeMap<TenantId, TreeHead>,
    existing: &HashMap<(TenantId, String), ExistingEvent>,
    received_at: DateTime<Utc>,
) -> GroupPlan {
    let mut rows = Vec::new();
    let mut nodes = Vec::new();
    let mut written: HashMap<(TenantId, String), ExistingEvent> = HashMap::new();
    let mut touched: HashSet<TenantId> = HashSet::new();
    let mut results = Vec::with_capacity(requests.len());

    for request in requests {
        let state = heads.get(&request.tenant).cloned().unwrap_or_default();
        match plan_request(request, state, existing, &written, received_at, &mut nodes) {
            Ok((appended, new_rows, new_state)) => {
                for row in &new_rows {
                    written.insert(
                        (request.tenant.clone(), row.event.id.clone()),
                        ExistingEvent { receipt: row.event.receipt(), request_hash: row.request_hash },
                    );
                }
                if !new_rows.is_empty() {
                    touched.insert(request.tenant.clone());
                }
                rows.extend(new_rows);
                heads.insert(request.tenant.clone(), new_state);
                results.push(Ok(appended));
            }
            Err(err) => results.push(Err(err)),
        }
    }
    heads.retain(|tenant, _| touched.contains(tenant));
    GroupPlan { rows, nodes, heads, results }
}

fn plan_request(
    request: &AppendRequest,
    mut state: TreeHead,
    existing: &HashMap<(TenantId, String), ExistingEvent>,
    written: &HashMap<(TenantId, String), ExistingEvent>,
    received_at: DateTime<Utc>,
    nodes: &mut Vec<NewNode>,
) -> Result<(Vec<Appended>, Vec<NewRow>, TreeHead), AppendError> {
    let mut seen = HashSet::new();
    for event in &request.events {
        if !seen.insert(event.id.as_str()) {
            return Err(AppendError::DuplicateInRequest { id: event.id.clone() });
        }
    }
    // First pass: refuse the whole request if any id is reused with other content.
    let mut prior: Vec<Option<&ExistingEvent>> = Vec::with_capacity(request.events.len());
    for event in &request.events {
        let key = (request.tenant.clone(), event.id.clone());
        let found = existing.get(&key).or_else(|| written.get(&key));
        if let Some(found) = found
            && found.request_hash != event.request_hash
        {
            return Err(AppendError::IdConflict { id: event.id.clone() });
        }
        prior.push(found);
    }
    let mut appended = Vec::with_capacity(request.events.len());
    let mut rows = Vec::new();
    for (event, found) in request.events.iter().zip(prior) {
        if let Some(found) = found {
            appended.push(Appended { receipt: found.receipt.clone(), created: false });
            continue;
        }
        let mut stored = StoredEvent::from_new(
            request.tenant.clone(),
            state.head.next_seq,
            event.clone(),
            received_at,
            state.head.head_hash,
        );
        let leaf = leaf_hash(&canonical_event_bytes(&stored));
        stored.hash = chain_hash(&stored.prev_hash, &leaf);
        state.head = ChainHead { next_seq: state.head.next_seq + 1, head_hash: stored.hash };
        // Leaves (level 0) are not stored as nodes: each is the hash of its event row, which the
        // log keeps anyway; storing them again would add a row per event to every append.
        state.frontier.append_with(leaf, |id, hash| {
            if id.level > 0 {
                nodes.push(NewNode { tenant: request.tenant.clone(), id, hash });
            }
        });
        appended.push(Appended { receipt: stored.receipt(), created: true });
        rows.push(NewRow { event: stored, request_hash: event.request_hash });
    }
    Ok((appended, rows, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use veritrail_core::validate::{Limits, validate_event};

    fn event(id: &str, action: &str) -> NewEvent {
        let raw = json!({"id": id, "actor": {"id": "a", "type": "user"}, "action": action, "outcome": "success"});
        validate_event(&raw, &Limits::default(), String::new).expect("valid")
    }

    fn tenant() -> TenantId {
        TenantId::parse("t").expect("tenant")
    }

    #[test]
    fn chains_requests_in_order_and_dedupes_retries_within_a_group() {
        let requests = vec![
            AppendRequest { tenant: tenant(), events: vec![event("a", "x"), event("b", "x")] },
            AppendRequest { tenant: tenant(), events: vec![event("b", "x"), event("c", "x")] },
            AppendRequest { tenant: tenant(), events: vec![event("c", "other")] },
        ];
        let plan = plan_group(&requests, BTreeMap::new(), &HashMap::new(), Utc::now());
        assert_eq!(plan.rows.len(), 3);
        let seqs: Vec<u64> = plan.rows.iter().map(|row| row.event.seq).collect();
        assert_eq!(seqs, vec![0, 1, 2]);
        assert_eq!(plan.rows[1].event.prev_hash, plan.rows[0].event.hash);
        let second = plan.results[1].as_ref().expect("retry of b is fine");
        assert!(!second[0].created && second[1].created);
        assert!(matches!(plan.results[2], Err(AppendError::IdConflict { .. })));
        assert_eq!(plan.heads[&tenant()].head.next_seq, 3);
    }

    #[test]
    fn a_conflicting_request_writes_nothing() {
        let stored = plan_group(
            &[AppendRequest { tenant: tenant(), events: vec![event("a", "x")] }],
            BTreeMap::new(),
            &HashMap::new(),
            Utc::now(),
        );
        let existing: HashMap<_, _> = stored
            .rows
            .iter()
            .map(|row| {
                (
                    (tenant(), row.event.id.clone()),
                    ExistingEvent { receipt: row.event.receipt(), request_hash: row.request_hash },
                )
            })
            .collect();
        let requests = vec![AppendRequest { tenant: tenant(), events: vec![event("new", "x"), event("a", "changed")] }];
        let plan = plan_group(&requests, stored.heads.clone(), &existing, Utc::now());
        assert!(plan.rows.is_empty());
        assert!(plan.heads.is_empty());
        assert!(matches!(plan.results[0], Err(AppendError::IdConflict { .. })));
    }
}
