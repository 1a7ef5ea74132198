//! Conversions between stored column values and domain types, shared by both backends.

use std::collections::HashMap;

use serde_json::{Map, Value};
use veritrail_core::event::{Actor, Outcome, Resource, Severity, StoredEvent, TenantId};
use veritrail_core::hash::Hash;
use veritrail_core::merkle::NodeId;
use veritrail_core::store::StoreError;

/// The columns every event query selects, in this order.
pub(crate) const EVENT_COLUMNS: &str = "tenant, seq, id, occurred_at, received_at, actor_id, actor_type, actor_name, \
     actor_ip, actor_user_agent, action, resource_type, resource_id, resource_name, outcome, severity, details, tags, \
     prev_hash, hash";

/// Column values of one event row, after backend-specific decoding of times.
pub(crate) struct EventColumns {
    pub tenant: String,
    pub seq: i64,
    pub id: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    pub received_at: chrono::DateTime<chrono::Utc>,
    pub actor_id: String,
    pub actor_type: String,
    pub actor_name: Option<String>,
    pub actor_ip: Option<String>,
    pub actor_user_agent: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    pub outcome: String,
    pub severity: String,
    pub details: String,
    pub tags: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl EventColumns {
    /// Builds the domain event, reporting corrupt values instead of guessing.
    ///
    /// Values are taken as stored even when they are odd (a resource with only a type, say): the
    /// hash check, not this decoder, decides whether a row was tampered with.
    pub(crate) fn into_event(self) -> Result<StoredEvent, StoreError> {
        let seq = self.seq;
        let corrupt = |what: &str| StoreError::Corrupt(format!("event seq {seq}: {what}"));
        // Any resource column set means a resource, so a value written into an empty one changes
        // the hashed content and is caught.
        let resource = match (self.resource_type, self.resource_id, self.resource_name) {
            (None, None, None) => None,
            (kind, id, name) => Some(Resource { kind: kind.unwrap_or_default(), id: id.unwrap_or_default(), name }),
        };
        Ok(StoredEvent {
            tenant: TenantId::parse(&self.tenant).map_err(|err| corrupt(&err))?,
            seq: u64::try_from(self.seq).map_err(|_| corrupt("negative seq"))?,
            id: self.id,
            occurred_at: self.occurred_at,
            received_at: self.received_at,
            actor: Actor {
                id: self.actor_id,
                kind: self.actor_type,
                name: self.actor_name,
                ip: self.actor_ip,
                user_agent: self.actor_user_agent,
            },
            action: self.action,
            resource,
            outcome: self.outcome.parse::<Outcome>().map_err(|err| corrupt(&err))?,
            severity: self.severity.parse::<Severity>().map_err(|err| corrupt(&err))?,
            details: serde_json::from_str::<Map<String, Value>>(&self.details)
                .map_err(|err| corrupt(&format!("details: {err}")))?,
            tags: serde_json::from_str::<Vec<String>>(&self.tags).map_err(|err| corrupt(&format!("tags: {err}")))?,
            prev_hash: hash_from_column(&self.prev_hash).ok_or_else(|| corrupt("prev_hash is not 32 bytes"))?,
            hash: hash_from_column(&self.hash).ok_or_else(|| corrupt("hash is not 32 bytes"))?,
        })
    }
}

/// Reads a 32-byte hash column.
pub(crate) fn hash_from_column(bytes: &[u8]) -> Option<Hash> {
    Hash::from_slice(bytes)
}

/// Returns the JSON text stored for `details` (canonical, so identical content stores identically).
pub(crate) fn details_text(details: &Map<String, Value>) -> String {
    let mut out = Vec::with_capacity(256);
    veritrail_core::canonical::write_object(&mut out, details);
    // The canonical writer emits only UTF-8 copied from `str`s and ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Returns the JSON text stored for `tags`.
pub(crate) fn tags_text(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned())
}

/// Converts a seq to the signed integer both databases store.
pub(crate) fn seq_to_db(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Translates a sqlx error at the backend boundary.
pub(crate) fn db_error(err: sqlx::Error) -> StoreError {
    StoreError::Database(err.to_string())
}

/// Decodes a `merkle_nodes` row.
pub(crate) fn decode_node(level: i64, index: i64, hash: Vec<u8>) -> Result<(NodeId, Hash), StoreError> {
    let corrupt = || StoreError::Corrupt(format!("merkle node ({level}, {index}) is malformed"));
    Ok((
        NodeId {
            level: u32::try_from(level).map_err(|_| corrupt())?,
            index: u64::try_from(index).map_err(|_| corrupt())?,
        },
        hash_from_column(&hash).ok_or_else(corrupt)?,
    ))
}

/// Returns the hashes of `ids` in order, or says which node is missing.
pub(crate) fn nodes_in_order(ids: &[NodeId], found: &HashMap<NodeId, Hash>) -> Result<Vec<Hash>, StoreError> {
    ids.iter()
        .map(|id| {
            found.get(id).copied().ok_or_else(|| {
                StoreError::Corrupt(format!("merkle node (level {}, index {}) is missing", id.level, id.index))
            })
        })
        .collect()
}

/// Builds a checkpoint from its columns.
pub(crate) fn checkpoint_from_columns(
    tree_size: i64,
    root_hash: Vec<u8>,
    note: String,
    created_at: chrono::DateTime<chrono::Utc>,
) -> Result<veritrail_core::store::StoredCheckpoint, StoreError> {
    Ok(veritrail_core::store::StoredCheckpoint {
        tree_size: u64::try_from(tree_size).map_err(|_| StoreError::Corrupt("negative checkpoint size".into()))?,
        root_hash: hash_from_column(&root_hash)
            .ok_or_else(|| StoreError::Corrupt("checkpoint root is not 32 bytes".into()))?,
        note,
        created_at,
    })
}
