//! The event log: appends through group commit ([`sequencer`], planned once for both backends
//! in [`plan`]), reads, and the Merkle nodes and chain heads written with the events.
//!
//! Invariant: an append locks the tenant's chain head, writes the events, the Merkle nodes they
//! complete and the new head (with the tree's right edge) in one transaction, so tree and chain
//! always have the same size.

mod plan;
mod postgres;
mod sequencer;
mod sqlite;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::QueryBuilder;
use veritrail_core::event::{Actor, Outcome, Receipt, Resource, Severity, StoredEvent};
use veritrail_core::hash::Hash;
use veritrail_core::merkle::NodeId;
use veritrail_core::store::{ChainHead, EventQuery, EventStats, StoreError, TreeHead};

pub use postgres::PostgresEvents;
pub use sqlite::SqliteEvents;

use self::plan::ExistingEvent;
use self::sequencer::QueueLimits;
use crate::StoreSettings;
use crate::columns::Columns;
use crate::rows::{hash_column, seq_from_db, seq_to_db};

/// The columns every event query selects, in this order.
pub(crate) const EVENT_COLUMNS: &str = "tenant, seq, id, occurred_at, received_at, actor_id, actor_type, actor_name, \
     actor_ip, actor_user_agent, action, resource_type, resource_id, resource_name, outcome, severity, details, tags, \
     prev_hash, hash";

/// What idempotency reads of an event already stored.
const EXISTING_COLUMNS: &str = "id, seq, hash, prev_hash, received_at, request_hash";

/// Rows per lookup of ids, seqs or nodes in one statement.
const LOOKUP_CHUNK: usize = 500;

/// How much may wait for a group commit, from the settings.
fn queue_limits(settings: &StoreSettings) -> QueueLimits {
    QueueLimits {
        capacity: settings.queue_capacity,
        per_tenant: settings.max_queued_per_tenant,
        max_group_events: settings.max_group_events,
    }
}

/// Builds the domain event from a row, reporting corrupt values instead of guessing.
///
/// Values are taken as stored even when they are odd (a resource with only a type, say): the
/// hash check, not this decoder, decides whether a row was tampered with.
pub(crate) fn decode_event(row: &impl Columns) -> Result<StoredEvent, StoreError> {
    let seq = row.int("seq")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("event seq {seq}: {what}"));
    // Any resource column set means a resource, so a value written into an empty one changes
    // the hashed content and is caught.
    let resource = match (row.opt_text("resource_type")?, row.opt_text("resource_id")?, row.opt_text("resource_name")?)
    {
        (None, None, None) => None,
        (kind, id, name) => Some(Resource { kind: kind.unwrap_or_default(), id: id.unwrap_or_default(), name }),
    };
    let hash = |column: &str| -> Result<Hash, StoreError> {
        row.opt_bytes(column)?
            .and_then(|bytes| Hash::from_slice(&bytes))
            .ok_or_else(|| corrupt(&format!("{column} is not 32 bytes")))
    };
    Ok(StoredEvent {
        tenant: row.tenant("tenant")?,
        seq: u64::try_from(seq).map_err(|_| corrupt("negative seq"))?,
        id: row.text("id")?,
        occurred_at: row.time("occurred_at")?,
        received_at: row.time("received_at")?,
        actor: Actor {
            id: row.text("actor_id")?,
            kind: row.text("actor_type")?,
            name: row.opt_text("actor_name")?,
            ip: row.opt_text("actor_ip")?,
            user_agent: row.opt_text("actor_user_agent")?,
        },
        action: row.text("action")?,
        resource,
        outcome: row.text("outcome")?.parse::<Outcome>().map_err(|err| corrupt(&err))?,
        severity: row.text("severity")?.parse::<Severity>().map_err(|err| corrupt(&err))?,
        details: serde_json::from_str::<Map<String, Value>>(&row.text("details")?)
            .map_err(|err| corrupt(&format!("details: {err}")))?,
        tags: serde_json::from_str::<Vec<String>>(&row.text("tags")?)
            .map_err(|err| corrupt(&format!("tags: {err}")))?,
        prev_hash: hash("prev_hash")?,
        hash: hash("hash")?,
    })
}

/// A `chain_heads` row's `next_seq` and `head_hash`.
fn decode_head(row: &impl Columns) -> Result<ChainHead, StoreError> {
    Ok(ChainHead {
        next_seq: seq_from_db("chain head next_seq", row.int("next_seq")?)?,
        head_hash: hash_column(row, "head_hash")?,
    })
}

/// A `chain_heads` row read with its `frontier`.
fn decode_tree_head(row: &impl Columns) -> Result<TreeHead, StoreError> {
    let frontier = row.opt_bytes("frontier")?.unwrap_or_default();
    plan::tree_head_from_parts(decode_head(row)?, &frontier)
}

/// An event already stored, as idempotency needs it ([`EXISTING_COLUMNS`]).
fn decode_existing(row: &impl Columns) -> Result<ExistingEvent, StoreError> {
    let seq = row.int("seq")?;
    Ok(ExistingEvent {
        receipt: Receipt {
            id: row.text("id")?,
            seq: seq_from_db("event seq", seq)?,
            hash: hash_column(row, "hash")?,
            prev_hash: hash_column(row, "prev_hash")?,
            received_at: row.time("received_at")?,
        },
        request_hash: hash_column(row, "request_hash")?,
    })
}

/// A `merkle_nodes` row (`level, idx, hash`).
fn decode_node(row: &impl Columns) -> Result<(NodeId, Hash), StoreError> {
    let (level, index) = (row.int("level")?, row.int("idx")?);
    let corrupt = || StoreError::Corrupt(format!("merkle node ({level}, {index}) is malformed"));
    let id = NodeId {
        level: u32::try_from(level).map_err(|_| corrupt())?,
        index: u64::try_from(index).map_err(|_| corrupt())?,
    };
    let hash = row.opt_bytes("hash")?.and_then(|bytes| Hash::from_slice(&bytes)).ok_or_else(corrupt)?;
    Ok((id, hash))
}

/// Returns the hashes of `ids` in order, or says which node is missing.
fn nodes_in_order(ids: &[NodeId], found: &HashMap<NodeId, Hash>) -> Result<Vec<Hash>, StoreError> {
    ids.iter()
        .map(|id| {
            found.get(id).copied().ok_or_else(|| {
                StoreError::Corrupt(format!("merkle node (level {}, index {}) is missing", id.level, id.index))
            })
        })
        .collect()
}

/// `SELECT ... FROM events WHERE` the query's filters, newest (or oldest) first: the same
/// statement in both dialects, except for how a time is bound (`time`).
fn list_statement<DB, T>(tenant: &str, query: &EventQuery, time: impl Fn(&DateTime<Utc>) -> T) -> QueryBuilder<DB>
where
    DB: sqlx::Database,
    DB::Arguments: Default,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i32: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> T: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut sql = QueryBuilder::<DB>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = "));
    sql.push_bind(tenant);
    let action = query.action.as_deref();
    let action_prefix = action.and_then(|action| action.strip_suffix('*'));
    let text_filters = [
        ("actor_id", query.actor_id.as_deref()),
        ("action", action.filter(|_| action_prefix.is_none())),
        ("resource_type", query.resource_type.as_deref()),
        ("resource_id", query.resource_id.as_deref()),
        ("outcome", query.outcome.map(Outcome::as_str)),
        ("severity", query.severity.map(Severity::as_str)),
    ];
    for (column, value) in text_filters {
        if let Some(value) = value {
            sql.push(format!(" AND {column} = ")).push_bind(value);
        }
    }
    if let Some(prefix) = action_prefix {
        // substr, not LIKE: `_` and `%` are common in action names and mean nothing here.
        // An `int4`: PostgreSQL's substr takes `integer` lengths.
        let length = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
        sql.push(" AND substr(action, 1, ").push_bind(length).push(") = ").push_bind(prefix);
    }
    if let Some(since) = &query.since {
        sql.push(" AND occurred_at >= ").push_bind(time(since));
    }
    if let Some(until) = &query.until {
        sql.push(" AND occurred_at < ").push_bind(time(until));
    }
    if let Some(before_seq) = query.before_seq {
        sql.push(" AND seq < ").push_bind(seq_to_db(before_seq));
    }
    if let Some(after_seq) = query.after_seq {
        sql.push(" AND seq > ").push_bind(seq_to_db(after_seq));
    }
    sql.push(if query.ascending { " ORDER BY seq LIMIT " } else { " ORDER BY seq DESC LIMIT " });
    sql.push_bind(i64::from(query.limit));
    sql
}

/// Most actors or actions [`EventStats`] lists.
pub(crate) const MAX_TOP: u32 = 100;

/// A row of a per-bucket count (`bucket` as a time, `outcome`, `n`).
fn decode_bucket(row: &impl Columns) -> Result<(DateTime<Utc>, Outcome, u64), StoreError> {
    let outcome = row.text("outcome")?.parse::<Outcome>().map_err(StoreError::Corrupt)?;
    Ok((row.time("bucket")?, outcome, u64::try_from(row.int("n")?).unwrap_or_default()))
}

/// A row of a top list (`value`, `n`).
fn decode_top(row: &impl Columns) -> Result<(String, u64), StoreError> {
    Ok((row.text("value")?, u64::try_from(row.int("n")?).unwrap_or_default()))
}

/// Stats from the decoded rows; the total is the buckets' sum.
fn assemble_stats(
    buckets: Vec<(DateTime<Utc>, Outcome, u64)>,
    top_actors: Vec<(String, u64)>,
    top_actions: Vec<(String, u64)>,
) -> EventStats {
    let total = buckets.iter().map(|(_, _, count)| count).sum();
    EventStats { buckets, top_actors, top_actions, total }
}
