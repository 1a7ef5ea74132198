use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Postgres;
use sqlx::postgres::{PgPool, PgRow};
use veritrail_core::event::{NewEvent, StoredEvent, TenantId, normalize_time};
use veritrail_core::hash::Hash;
use veritrail_core::merkle::NodeId;
use veritrail_core::store::{
    AppendError, Appended, ChainHead, EventLog, EventQuery, EventStats, StatsBucket, StoreError, TreeHead,
};

use super::plan::{AppendRequest, AppendResult, GroupPlan, client_ids_of, plan_group, tenants_of};
use super::queue_limits;
use super::sequencer::{GroupWriter, Sequencer};
use super::{
    EVENT_COLUMNS, EXISTING_COLUMNS, MAX_TOP, assemble_stats, decode_bucket, decode_event, decode_existing,
    decode_head, decode_node, decode_top, decode_tree_head, list_statement, nodes_in_order,
};
use crate::StoreSettings;
use crate::rows::{db_error, details_text, seq_to_db, tags_text};

/// The event log over PostgreSQL. Several `veritrail serve` processes may append to one
/// database: each group commit locks the chain-head row of every tenant it touches (`SELECT ...
/// FOR UPDATE`, tenants in a fixed order so two writers never deadlock), so a chain can never
/// fork.
pub struct PostgresEvents {
    pool: PgPool,
    sequencer: Sequencer,
}

impl PostgresEvents {
    pub fn new(pool: &PgPool, settings: &StoreSettings) -> Self {
        let writer = Arc::new(PostgresWriter { pool: pool.clone() });
        let sequencer = Sequencer::spawn(writer, queue_limits(settings));
        Self { pool: pool.clone(), sequencer }
    }
}

struct PostgresWriter {
    pool: PgPool,
}

#[async_trait]
impl GroupWriter for PostgresWriter {
    async fn write_group(&self, requests: &[AppendRequest]) -> Result<Vec<AppendResult>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let mut heads = BTreeMap::new();
        let mut existing = HashMap::new();
        for tenant in tenants_of(requests) {
            let head = lock_head(&mut tx, &tenant).await?;
            heads.insert(tenant.clone(), decode_tree_head(&head)?);
            let client_ids = client_ids_of(requests, &tenant);
            if !client_ids.is_empty() {
                let sql = format!("SELECT {EXISTING_COLUMNS} FROM events WHERE tenant = $1 AND id = ANY($2)");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant.as_str())
                    .bind(&client_ids)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                for row in &rows {
                    let found = decode_existing(row)?;
                    existing.insert((tenant.clone(), found.receipt.id.clone()), found);
                }
            }
        }
        let received_at = normalize_time(Utc::now());
        let plan = plan_group(requests, heads, &existing, received_at);
        if !plan.rows.is_empty() {
            write_plan(&mut tx, &plan, received_at).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(plan.results)
    }
}

/// Locks the tenant's chain head for this transaction, creating it on the tenant's first append.
async fn lock_head(tx: &mut sqlx::PgConnection, tenant: &TenantId) -> Result<PgRow, StoreError> {
    const LOCK: &str = "SELECT next_seq, head_hash, frontier FROM chain_heads WHERE tenant = $1 FOR UPDATE";
    if let Some(head) = sqlx::query(LOCK).bind(tenant.as_str()).fetch_optional(&mut *tx).await.map_err(db_error)? {
        return Ok(head);
    }
    sqlx::query(
        "INSERT INTO chain_heads (tenant, next_seq, head_hash, frontier, updated_at) \
         VALUES ($1, 0, $2, '', now()) ON CONFLICT (tenant) DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(Hash::GENESIS.as_bytes().to_vec())
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    sqlx::query(LOCK).bind(tenant.as_str()).fetch_one(&mut *tx).await.map_err(db_error)
}

/// Writes a group's events, Merkle nodes and new chain heads in one statement (one round trip):
/// two UNNEST inserts and the head update as data-modifying CTEs of a single query.
async fn write_plan(
    tx: &mut sqlx::PgConnection,
    plan: &GroupPlan,
    received_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let events = plan.rows.iter().map(|row| &row.event);
    let column =
        |f: &dyn Fn(&StoredEvent) -> Option<String>| -> Vec<Option<String>> { events.clone().map(f).collect() };
    let text = |f: &dyn Fn(&StoredEvent) -> String| -> Vec<String> { events.clone().map(f).collect() };
    let nodes = &plan.nodes;
    let heads = &plan.heads;
    sqlx::query(
        "WITH new_events AS ( \
           INSERT INTO events (tenant, seq, id, occurred_at, received_at, actor_id, actor_type, actor_name, actor_ip, \
             actor_user_agent, action, resource_type, resource_id, resource_name, outcome, severity, details, tags, \
             prev_hash, hash, request_hash) \
           SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::timestamptz[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], \
             $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::bytea[], $20::bytea[], \
             $21::bytea[])), \
         new_nodes AS ( \
           INSERT INTO merkle_nodes (tenant, level, idx, hash) \
           SELECT * FROM UNNEST($22::text[], $23::bigint[], $24::bigint[], $25::bytea[])) \
         UPDATE chain_heads SET next_seq = new_head.next_seq, head_hash = new_head.head_hash, \
           frontier = new_head.frontier, updated_at = $30 \
         FROM UNNEST($26::text[], $27::bigint[], $28::bytea[], $29::bytea[]) \
           AS new_head(tenant, next_seq, head_hash, frontier) \
         WHERE chain_heads.tenant = new_head.tenant",
    )
    .bind(text(&|event| event.tenant.to_string()))
    .bind(events.clone().map(|event| seq_to_db(event.seq)).collect::<Vec<i64>>())
    .bind(text(&|event| event.id.clone()))
    .bind(events.clone().map(|event| event.occurred_at).collect::<Vec<DateTime<Utc>>>())
    .bind(events.clone().map(|event| event.received_at).collect::<Vec<DateTime<Utc>>>())
    .bind(text(&|event| event.actor.id.clone()))
    .bind(text(&|event| event.actor.kind.clone()))
    .bind(column(&|event| event.actor.name.clone()))
    .bind(column(&|event| event.actor.ip.clone()))
    .bind(column(&|event| event.actor.user_agent.clone()))
    .bind(text(&|event| event.action.clone()))
    .bind(column(&|event| event.resource.as_ref().map(|resource| resource.kind.clone())))
    .bind(column(&|event| event.resource.as_ref().map(|resource| resource.id.clone())))
    .bind(column(&|event| event.resource.as_ref().and_then(|resource| resource.name.clone())))
    .bind(text(&|event| event.outcome.as_str().to_owned()))
    .bind(text(&|event| event.severity.as_str().to_owned()))
    .bind(text(&|event| details_text(&event.details)))
    .bind(text(&|event| tags_text(&event.tags)))
    .bind(events.clone().map(|event| event.prev_hash.as_bytes().to_vec()).collect::<Vec<Vec<u8>>>())
    .bind(events.clone().map(|event| event.hash.as_bytes().to_vec()).collect::<Vec<Vec<u8>>>())
    .bind(plan.rows.iter().map(|row| row.request_hash.as_bytes().to_vec()).collect::<Vec<Vec<u8>>>())
    .bind(nodes.iter().map(|node| node.tenant.to_string()).collect::<Vec<String>>())
    .bind(nodes.iter().map(|node| i64::from(node.id.level)).collect::<Vec<i64>>())
    .bind(nodes.iter().map(|node| seq_to_db(node.id.index)).collect::<Vec<i64>>())
    .bind(nodes.iter().map(|node| node.hash.as_bytes().to_vec()).collect::<Vec<Vec<u8>>>())
    .bind(heads.keys().map(TenantId::to_string).collect::<Vec<String>>())
    .bind(heads.values().map(|state| seq_to_db(state.head.next_seq)).collect::<Vec<i64>>())
    .bind(heads.values().map(|state| state.head.head_hash.as_bytes().to_vec()).collect::<Vec<Vec<u8>>>())
    .bind(heads.values().map(|state| state.frontier.to_bytes()).collect::<Vec<Vec<u8>>>())
    .bind(received_at)
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl EventLog for PostgresEvents {
    async fn append(&self, tenant: &TenantId, events: Vec<NewEvent>) -> Result<Vec<Appended>, AppendError> {
        self.sequencer.append(tenant, events).await
    }

    async fn get(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = $1 AND id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(decode_event)
            .transpose()
    }

    async fn list(&self, tenant: &TenantId, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = list_statement::<Postgres, _>(tenant.as_str(), query, |time| *time);
        sql.build().fetch_all(&self.pool).await.map_err(db_error)?.iter().map(decode_event).collect()
    }

    async fn scan(&self, tenant: &TenantId, from_seq: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        // Index order; duplicate seqs (possible only if an attacker dropped the key) still come
        // back next to each other, which is all verification needs to report them.
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = $1 AND seq >= $2 ORDER BY seq LIMIT $3");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(seq_to_db(from_seq))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_event)
            .collect()
    }

    async fn head(&self, tenant: &TenantId) -> Result<Option<ChainHead>, StoreError> {
        sqlx::query("SELECT next_seq, head_hash FROM chain_heads WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(decode_head)
            .transpose()
    }

    async fn tree_head(&self, tenant: &TenantId) -> Result<Option<TreeHead>, StoreError> {
        let row = sqlx::query("SELECT next_seq, head_hash, frontier FROM chain_heads WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_tree_head).transpose()
    }

    async fn events_at(&self, tenant: &TenantId, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = $1 AND seq = ANY($2) ORDER BY seq");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(seqs.iter().map(|seq| seq_to_db(*seq)).collect::<Vec<i64>>())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_event)
            .collect()
    }

    async fn interior_nodes(&self, tenant: &TenantId, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        let rows = sqlx::query(
            "SELECT n.level, n.idx, n.hash FROM merkle_nodes n \
             JOIN UNNEST($2::bigint[], $3::bigint[]) AS wanted(level, idx) \
             ON n.level = wanted.level AND n.idx = wanted.idx WHERE n.tenant = $1",
        )
        .bind(tenant.as_str())
        .bind(ids.iter().map(|id| i64::from(id.level)).collect::<Vec<i64>>())
        .bind(ids.iter().map(|id| seq_to_db(id.index)).collect::<Vec<i64>>())
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let mut found = HashMap::with_capacity(ids.len());
        for row in &rows {
            let (id, hash) = decode_node(row)?;
            found.insert(id, hash);
        }
        nodes_in_order(ids, &found)
    }

    async fn max_seq(&self, tenant: &TenantId) -> Result<Option<u64>, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(max.and_then(|max| u64::try_from(max).ok()))
    }

    async fn seq_of_hash(&self, tenant: &TenantId, hash: &Hash) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM events WHERE tenant = $1 AND hash = $2 LIMIT 1")
            .bind(tenant.as_str())
            .bind(hash.as_bytes().to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(seq.and_then(|seq| u64::try_from(seq).ok()))
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT tenant FROM chain_heads UNION SELECT DISTINCT tenant FROM events ORDER BY 1")
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        names.iter().map(|name| TenantId::parse(name).map_err(StoreError::Corrupt)).collect()
    }

    async fn stats(
        &self,
        tenant: &TenantId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        bucket: StatsBucket,
        top: u32,
    ) -> Result<EventStats, StoreError> {
        let range = "tenant = $1 AND occurred_at >= $2 AND occurred_at < $3";
        let sql = format!(
            "SELECT date_trunc($4, occurred_at, 'UTC') AS bucket, outcome, COUNT(*) AS n FROM events \
             WHERE {range} GROUP BY 1, 2 ORDER BY 1, 2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(since)
            .bind(until)
            .bind(bucket.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let buckets = rows.iter().map(decode_bucket).collect::<Result<Vec<_>, _>>()?;
        let mut tops = Vec::with_capacity(2);
        for column in ["actor_id", "action"] {
            let sql = format!(
                "SELECT {column} AS value, COUNT(*) AS n FROM events WHERE {range} \
                 GROUP BY {column} ORDER BY n DESC, {column} LIMIT $4"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.as_str())
                .bind(since)
                .bind(until)
                .bind(i64::from(top.min(MAX_TOP)))
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
            tops.push(rows.iter().map(decode_top).collect::<Result<Vec<_>, _>>()?);
        }
        let top_actions = tops.pop().unwrap_or_default();
        let top_actors = tops.pop().unwrap_or_default();
        Ok(assemble_stats(buckets, top_actors, top_actions))
    }
}
