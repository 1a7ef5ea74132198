use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite};
use veritrail_core::event::{NewEvent, StoredEvent, TenantId, format_time, normalize_time};
use veritrail_core::hash::Hash;
use veritrail_core::merkle::NodeId;
use veritrail_core::store::{
    AppendError, Appended, ChainHead, EventLog, EventQuery, EventStats, StatsBucket, StoreError, TreeHead,
};

use super::plan::{AppendRequest, AppendResult, client_ids_of, plan_group, tenants_of};
use super::queue_limits;
use super::sequencer::{GroupWriter, Sequencer};
use super::{
    EVENT_COLUMNS, EXISTING_COLUMNS, LOOKUP_CHUNK, MAX_TOP, assemble_stats, decode_bucket, decode_event,
    decode_existing, decode_head, decode_node, decode_top, decode_tree_head, list_statement, nodes_in_order,
};
use crate::StoreSettings;
use crate::database::SqlitePools;
use crate::rows::{db_error, details_text, seq_to_db, tags_text};

/// Rows per multi-row INSERT: 21 columns x 400 rows stays under SQLite's 32,766 variables.
const INSERT_CHUNK: usize = 400;
/// Merkle nodes per multi-row INSERT (4 columns each).
const NODE_CHUNK: usize = 2_000;

/// The event log over one SQLite file. Appends take the write lock with `BEGIN IMMEDIATE`, which
/// makes reading the chain head and writing after it one atomic step, across processes too.
pub struct SqliteEvents {
    pools: SqlitePools,
    sequencer: Sequencer,
}

impl SqliteEvents {
    pub fn new(pools: &SqlitePools, settings: &StoreSettings) -> Self {
        let writer = Arc::new(SqliteWriter { pool: pools.write.clone() });
        let sequencer = Sequencer::spawn(writer, queue_limits(settings));
        Self { pools: pools.clone(), sequencer }
    }
}

struct SqliteWriter {
    pool: sqlx::SqlitePool,
}

#[async_trait]
impl GroupWriter for SqliteWriter {
    async fn write_group(&self, requests: &[AppendRequest]) -> Result<Vec<AppendResult>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let mut heads = BTreeMap::new();
        let mut existing = HashMap::new();
        for tenant in tenants_of(requests) {
            let head = sqlx::query("SELECT next_seq, head_hash, frontier FROM chain_heads WHERE tenant = ?")
                .bind(tenant.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
            if let Some(row) = head {
                heads.insert(tenant.clone(), decode_tree_head(&row)?);
            }
            for ids in client_ids_of(requests, &tenant).chunks(LOOKUP_CHUNK) {
                let mut query =
                    QueryBuilder::<Sqlite>::new(format!("SELECT {EXISTING_COLUMNS} FROM events WHERE tenant = "));
                query.push_bind(tenant.as_str()).push(" AND id IN (");
                let mut separated = query.separated(", ");
                for id in ids {
                    separated.push_bind(id);
                }
                query.push(")");
                for row in query.build().fetch_all(&mut *tx).await.map_err(db_error)? {
                    let found = decode_existing(&row)?;
                    existing.insert((tenant.clone(), found.receipt.id.clone()), found);
                }
            }
        }
        let received_at = normalize_time(Utc::now());
        let plan = plan_group(requests, heads, &existing, received_at);
        for chunk in plan.rows.chunks(INSERT_CHUNK) {
            let mut insert =
                QueryBuilder::<Sqlite>::new(format!("INSERT INTO events ({EVENT_COLUMNS}, request_hash) "));
            insert.push_values(chunk, |mut values, row| {
                let event = &row.event;
                values
                    .push_bind(event.tenant.as_str())
                    .push_bind(seq_to_db(event.seq))
                    .push_bind(event.id.as_str())
                    .push_bind(format_time(&event.occurred_at))
                    .push_bind(format_time(&event.received_at))
                    .push_bind(event.actor.id.as_str())
                    .push_bind(event.actor.kind.as_str())
                    .push_bind(event.actor.name.as_deref())
                    .push_bind(event.actor.ip.as_deref())
                    .push_bind(event.actor.user_agent.as_deref())
                    .push_bind(event.action.as_str())
                    .push_bind(event.resource.as_ref().map(|resource| resource.kind.as_str()))
                    .push_bind(event.resource.as_ref().map(|resource| resource.id.as_str()))
                    .push_bind(event.resource.as_ref().and_then(|resource| resource.name.as_deref()))
                    .push_bind(event.outcome.as_str())
                    .push_bind(event.severity.as_str())
                    .push_bind(details_text(&event.details))
                    .push_bind(tags_text(&event.tags))
                    .push_bind(event.prev_hash.as_bytes().to_vec())
                    .push_bind(event.hash.as_bytes().to_vec())
                    .push_bind(row.request_hash.as_bytes().to_vec());
            });
            insert.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        for chunk in plan.nodes.chunks(NODE_CHUNK) {
            let mut insert = QueryBuilder::<Sqlite>::new("INSERT INTO merkle_nodes (tenant, level, idx, hash) ");
            insert.push_values(chunk, |mut values, node| {
                values
                    .push_bind(node.tenant.as_str())
                    .push_bind(i64::from(node.id.level))
                    .push_bind(seq_to_db(node.id.index))
                    .push_bind(node.hash.as_bytes().to_vec());
            });
            insert.build().execute(&mut *tx).await.map_err(db_error)?;
        }
        for (tenant, state) in &plan.heads {
            sqlx::query(
                "INSERT INTO chain_heads (tenant, next_seq, head_hash, frontier, updated_at) VALUES (?, ?, ?, ?, ?) \
                 ON CONFLICT (tenant) DO UPDATE SET next_seq = excluded.next_seq, head_hash = excluded.head_hash, \
                 frontier = excluded.frontier, updated_at = excluded.updated_at",
            )
            .bind(tenant.as_str())
            .bind(seq_to_db(state.head.next_seq))
            .bind(state.head.head_hash.as_bytes().to_vec())
            .bind(state.frontier.to_bytes())
            .bind(format_time(&received_at))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(plan.results)
    }
}

#[async_trait]
impl EventLog for SqliteEvents {
    async fn append(&self, tenant: &TenantId, events: Vec<NewEvent>) -> Result<Vec<Appended>, AppendError> {
        self.sequencer.append(tenant, events).await
    }

    async fn get(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = ? AND id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_event).transpose()
    }

    async fn list(&self, tenant: &TenantId, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = list_statement::<Sqlite, _>(tenant.as_str(), query, format_time);
        sql.build().fetch_all(&self.pools.read).await.map_err(db_error)?.iter().map(decode_event).collect()
    }

    async fn scan(&self, tenant: &TenantId, from_seq: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        // ORDER BY rowid as well, so duplicate seqs (possible only if an attacker rebuilt the
        // table) come back in a stable order.
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = ? AND seq >= ? ORDER BY seq, rowid LIMIT ?");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(seq_to_db(from_seq))
            .bind(i64::from(limit))
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode_event).collect()
    }

    async fn head(&self, tenant: &TenantId) -> Result<Option<ChainHead>, StoreError> {
        let row = sqlx::query("SELECT next_seq, head_hash FROM chain_heads WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_head).transpose()
    }

    async fn tree_head(&self, tenant: &TenantId) -> Result<Option<TreeHead>, StoreError> {
        let row = sqlx::query("SELECT next_seq, head_hash, frontier FROM chain_heads WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_tree_head).transpose()
    }

    async fn events_at(&self, tenant: &TenantId, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(LOOKUP_CHUNK) {
            let mut query = QueryBuilder::<Sqlite>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = "));
            query.push_bind(tenant.as_str()).push(" AND seq IN (");
            let mut separated = query.separated(", ");
            for seq in chunk {
                separated.push_bind(seq_to_db(*seq));
            }
            query.push(") ORDER BY seq");
            for row in query.build().fetch_all(&self.pools.read).await.map_err(db_error)? {
                events.push(decode_event(&row)?);
            }
        }
        Ok(events)
    }

    async fn interior_nodes(&self, tenant: &TenantId, ids: &[NodeId]) -> Result<Vec<Hash>, StoreError> {
        let mut found: HashMap<NodeId, Hash> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let mut query = QueryBuilder::<Sqlite>::new("SELECT level, idx, hash FROM merkle_nodes WHERE tenant = ");
            query.push_bind(tenant.as_str()).push(" AND (level, idx) IN (VALUES ");
            let mut separated = query.separated(", ");
            for id in chunk {
                separated.push("(").push_bind_unseparated(i64::from(id.level)).push_unseparated(", ");
                separated.push_bind_unseparated(seq_to_db(id.index)).push_unseparated(")");
            }
            query.push(")");
            for row in query.build().fetch_all(&self.pools.read).await.map_err(db_error)? {
                let (id, hash) = decode_node(&row)?;
                found.insert(id, hash);
            }
        }
        nodes_in_order(ids, &found)
    }

    async fn max_seq(&self, tenant: &TenantId) -> Result<Option<u64>, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_one(&self.pools.read)
            .await
            .map_err(db_error)?;
        Ok(max.and_then(|max| u64::try_from(max).ok()))
    }

    async fn seq_of_hash(&self, tenant: &TenantId, hash: &Hash) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM events WHERE tenant = ? AND hash = ? LIMIT 1")
            .bind(tenant.as_str())
            .bind(hash.as_bytes().to_vec())
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?;
        Ok(seq.and_then(|seq| u64::try_from(seq).ok()))
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT tenant FROM chain_heads UNION SELECT DISTINCT tenant FROM events ORDER BY 1")
                .fetch_all(&self.pools.read)
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
        // Times are stored as fixed-width text, so a bucket is a prefix of it, completed to a time.
        let bucket_sql = match bucket {
            StatsBucket::Hour => "substr(occurred_at, 1, 13) || ':00:00Z'",
            StatsBucket::Day => "substr(occurred_at, 1, 10) || 'T00:00:00Z'",
        };
        let range = "tenant = ? AND occurred_at >= ? AND occurred_at < ?";
        let (since, until) = (format_time(&since), format_time(&until));
        let sql = format!(
            "SELECT {bucket_sql} AS bucket, outcome, COUNT(*) AS n FROM events WHERE {range} GROUP BY 1, 2 ORDER BY 1, 2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(&since)
            .bind(&until)
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?;
        let buckets = rows.iter().map(decode_bucket).collect::<Result<Vec<_>, _>>()?;
        let mut tops = Vec::with_capacity(2);
        for column in ["actor_id", "action"] {
            let sql = format!(
                "SELECT {column} AS value, COUNT(*) AS n FROM events WHERE {range} \
                 GROUP BY {column} ORDER BY n DESC, {column} LIMIT ?"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(tenant.as_str())
                .bind(&since)
                .bind(&until)
                .bind(i64::from(top.min(MAX_TOP)))
                .fetch_all(&self.pools.read)
                .await
                .map_err(db_error)?;
            tops.push(rows.iter().map(decode_top).collect::<Result<Vec<_>, _>>()?);
        }
        let top_actions = tops.pop().unwrap_or_default();
        let top_actors = tops.pop().unwrap_or_default();
        Ok(assemble_stats(buckets, top_actors, top_actions))
    }
}
