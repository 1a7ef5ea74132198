//! The SQLite backend: the default, embedded, one file under the data directory.
//!
//! Durability: WAL with `synchronous=FULL` unless configured otherwise, so a commit has reached
//! the disk when `append` returns. Appends run inside `BEGIN IMMEDIATE`, which takes SQLite's one
//! write lock up front: that serialises writers across processes (a `veritrail ingest` next to a
//! running server) and makes reading the chain head and writing after it one atomic step.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};
use veritrail_core::auth::ApiKey;
use veritrail_core::event::{NewEvent, StoredEvent, TenantId, format_time, normalize_time};
use veritrail_core::hash::Hash;
use veritrail_core::jobs::{JobRun, JobStore};
use veritrail_core::merkle::NodeId;
use veritrail_core::store::{
    ApiKeyStore, AppendError, Appended, ChainHead, CheckpointStore, EventLog, EventQuery, Readiness, StoreError,
    StoredCheckpoint, TreeHead,
};

use crate::StoreSettings;
use crate::migrate::{self, AppliedMigration};
use crate::plan::{AppendRequest, AppendResult, ExistingEvent, client_ids_of, plan_group, tenants_of};
use crate::rows::{EVENT_COLUMNS, EventColumns, db_error, details_text, hash_from_column, seq_to_db, tags_text};
use crate::sequencer::{GroupWriter, Sequencer};

/// Rows per multi-row INSERT: 21 columns x 400 rows stays under SQLite's 32,766 variables.
const INSERT_CHUNK: usize = 400;
/// Merkle nodes per multi-row INSERT (4 columns each).
const NODE_CHUNK: usize = 2_000;
/// Ids per `IN (...)` lookup.
const LOOKUP_CHUNK: usize = 500;

/// Event log, key store and readiness over one SQLite file.
pub struct SqliteStore {
    read_pool: SqlitePool,
    write_pool: SqlitePool,
    sequencer: Sequencer,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn open(url: &str, settings: &StoreSettings) -> Result<Self, StoreError> {
        let synchronous =
            if settings.sqlite_synchronous_full { SqliteSynchronous::Full } else { SqliteSynchronous::Normal };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(db_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let write_pool =
            SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.map_err(db_error)?;
        migrate_sqlite(&write_pool).await?;
        check_format_version(&write_pool).await?;
        let read_pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .connect_with(options.read_only(true))
            .await
            .map_err(db_error)?;
        let writer = Arc::new(SqliteWriter { pool: write_pool.clone() });
        let sequencer = Sequencer::spawn(writer, settings.queue_capacity, settings.max_group_events);
        Ok(Self { read_pool, write_pool, sequencer })
    }

    /// Returns the pool that writes (for tests that tamper with rows and for benchmarks).
    pub fn write_pool(&self) -> &SqlitePool {
        &self.write_pool
    }

    /// Returns the read-only pool searches use.
    pub fn read_pool(&self) -> &SqlitePool {
        &self.read_pool
    }
}

/// Applies pending migrations in one immediate transaction each.
pub async fn migrate_sqlite(pool: &SqlitePool) -> Result<usize, StoreError> {
    sqlx::query(migrate::CREATE_HISTORY).execute(pool).await.map_err(db_error)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    let applied: Vec<AppliedMigration> =
        sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| AppliedMigration { version: row.get(0), checksum: row.get(1) })
            .collect();
    let pending = migrate::pending(migrate::SQLITE, &applied).map_err(StoreError::Database)?;
    for migration in &pending {
        tracing::info!(version = migration.version, name = migration.name, "applying sqlite migration");
        sqlx::raw_sql(migration.sql).execute(&mut *tx).await.map_err(db_error)?;
        sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(migration.checksum())
            .bind(format_time(&Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(pending.len())
}

async fn check_format_version(pool: &SqlitePool) -> Result<(), StoreError> {
    let stored: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'event_format_version'")
        .fetch_optional(pool)
        .await
        .map_err(db_error)?;
    crate::check_format_version(stored.as_deref())
}

fn decode_event(row: &SqliteRow) -> Result<StoredEvent, StoreError> {
    let time = |column: &str| -> Result<DateTime<Utc>, StoreError> {
        let text: String = row.try_get(column).map_err(db_error)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|err| StoreError::Corrupt(format!("{column} {text:?}: {err}")))
    };
    EventColumns {
        tenant: row.try_get("tenant").map_err(db_error)?,
        seq: row.try_get("seq").map_err(db_error)?,
        id: row.try_get("id").map_err(db_error)?,
        occurred_at: time("occurred_at")?,
        received_at: time("received_at")?,
        actor_id: row.try_get("actor_id").map_err(db_error)?,
        actor_type: row.try_get("actor_type").map_err(db_error)?,
        actor_name: row.try_get("actor_name").map_err(db_error)?,
        actor_ip: row.try_get("actor_ip").map_err(db_error)?,
        actor_user_agent: row.try_get("actor_user_agent").map_err(db_error)?,
        action: row.try_get("action").map_err(db_error)?,
        resource_type: row.try_get("resource_type").map_err(db_error)?,
        resource_id: row.try_get("resource_id").map_err(db_error)?,
        resource_name: row.try_get("resource_name").map_err(db_error)?,
        outcome: row.try_get("outcome").map_err(db_error)?,
        severity: row.try_get("severity").map_err(db_error)?,
        details: row.try_get("details").map_err(db_error)?,
        tags: row.try_get("tags").map_err(db_error)?,
        prev_hash: row.try_get("prev_hash").map_err(db_error)?,
        hash: row.try_get("hash").map_err(db_error)?,
    }
    .into_event()
}

struct SqliteWriter {
    pool: SqlitePool,
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
                let frontier: Vec<u8> = row.try_get("frontier").map_err(db_error)?;
                heads.insert(tenant.clone(), crate::plan::tree_head_from_parts(decode_head(&row)?, &frontier)?);
            }
            for ids in client_ids_of(requests, &tenant).chunks(LOOKUP_CHUNK) {
                let mut query = QueryBuilder::<Sqlite>::new(
                    "SELECT id, seq, hash, prev_hash, received_at, request_hash FROM events WHERE tenant = ",
                );
                query.push_bind(tenant.as_str()).push(" AND id IN (");
                let mut separated = query.separated(", ");
                for id in ids {
                    separated.push_bind(id);
                }
                query.push(")");
                for row in query.build().fetch_all(&mut *tx).await.map_err(db_error)? {
                    let found = existing_from_row(&row)?;
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

fn decode_head(row: &SqliteRow) -> Result<ChainHead, StoreError> {
    let next_seq: i64 = row.try_get("next_seq").map_err(db_error)?;
    let head_hash: Vec<u8> = row.try_get("head_hash").map_err(db_error)?;
    Ok(ChainHead {
        next_seq: u64::try_from(next_seq).map_err(|_| StoreError::Corrupt("negative next_seq".into()))?,
        head_hash: hash_from_column(&head_hash)
            .ok_or_else(|| StoreError::Corrupt("chain head hash is not 32 bytes".into()))?,
    })
}

fn existing_from_row(row: &SqliteRow) -> Result<ExistingEvent, StoreError> {
    let received_at: String = row.get("received_at");
    let hash: Vec<u8> = row.get("hash");
    let prev_hash: Vec<u8> = row.get("prev_hash");
    let request_hash: Vec<u8> = row.get("request_hash");
    let seq: i64 = row.get("seq");
    let corrupt = || StoreError::Corrupt(format!("event seq {seq} has a malformed hash or time"));
    Ok(ExistingEvent {
        receipt: veritrail_core::event::Receipt {
            id: row.get("id"),
            seq: u64::try_from(seq).map_err(|_| corrupt())?,
            hash: hash_from_column(&hash).ok_or_else(corrupt)?,
            prev_hash: hash_from_column(&prev_hash).ok_or_else(corrupt)?,
            received_at: DateTime::parse_from_rfc3339(&received_at).map_err(|_| corrupt())?.with_timezone(&Utc),
        },
        request_hash: hash_from_column(&request_hash).ok_or_else(corrupt)?,
    })
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn append(&self, tenant: &TenantId, events: Vec<NewEvent>) -> Result<Vec<Appended>, AppendError> {
        self.sequencer.append(tenant, events).await
    }

    async fn get(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = ? AND id = ?");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.read_pool)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(decode_event)
            .transpose()
    }

    async fn list(&self, tenant: &TenantId, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = QueryBuilder::<Sqlite>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = "));
        sql.push_bind(tenant.as_str());
        if let Some(actor_id) = &query.actor_id {
            sql.push(" AND actor_id = ").push_bind(actor_id.as_str());
        }
        if let Some(action) = &query.action {
            sql.push(" AND action = ").push_bind(action.as_str());
        }
        if let Some(resource_type) = &query.resource_type {
            sql.push(" AND resource_type = ").push_bind(resource_type.as_str());
        }
        if let Some(resource_id) = &query.resource_id {
            sql.push(" AND resource_id = ").push_bind(resource_id.as_str());
        }
        if let Some(outcome) = query.outcome {
            sql.push(" AND outcome = ").push_bind(outcome.as_str());
        }
        if let Some(since) = &query.since {
            sql.push(" AND occurred_at >= ").push_bind(format_time(since));
        }
        if let Some(until) = &query.until {
            sql.push(" AND occurred_at < ").push_bind(format_time(until));
        }
        if let Some(before_seq) = query.before_seq {
            sql.push(" AND seq < ").push_bind(seq_to_db(before_seq));
        }
        sql.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(query.limit));
        sql.build().fetch_all(&self.read_pool).await.map_err(db_error)?.iter().map(decode_event).collect()
    }

    async fn scan(&self, tenant: &TenantId, from_seq: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        // ORDER BY rowid as well, so duplicate seqs (possible only if an attacker rebuilt the
        // table) come back in a stable order.
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = ? AND seq >= ? ORDER BY seq, rowid LIMIT ?");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(seq_to_db(from_seq))
            .bind(i64::from(limit))
            .fetch_all(&self.read_pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_event)
            .collect()
    }

    async fn head(&self, tenant: &TenantId) -> Result<Option<ChainHead>, StoreError> {
        sqlx::query("SELECT next_seq, head_hash FROM chain_heads WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_optional(&self.read_pool)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(decode_head)
            .transpose()
    }

    async fn tree_head(&self, tenant: &TenantId) -> Result<Option<TreeHead>, StoreError> {
        let row = sqlx::query("SELECT next_seq, head_hash, frontier FROM chain_heads WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_optional(&self.read_pool)
            .await
            .map_err(db_error)?;
        row.map(|row| {
            let frontier: Vec<u8> = row.try_get("frontier").map_err(db_error)?;
            crate::plan::tree_head_from_parts(decode_head(&row)?, &frontier)
        })
        .transpose()
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
            for row in query.build().fetch_all(&self.read_pool).await.map_err(db_error)? {
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
            for row in query.build().fetch_all(&self.read_pool).await.map_err(db_error)? {
                let (id, hash) = crate::rows::decode_node(
                    row.try_get(0).map_err(db_error)?,
                    row.try_get(1).map_err(db_error)?,
                    row.try_get(2).map_err(db_error)?,
                )?;
                found.insert(id, hash);
            }
        }
        crate::rows::nodes_in_order(ids, &found)
    }

    async fn max_seq(&self, tenant: &TenantId) -> Result<Option<u64>, StoreError> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_one(&self.read_pool)
            .await
            .map_err(db_error)?;
        Ok(max.and_then(|max| u64::try_from(max).ok()))
    }

    async fn seq_of_hash(&self, tenant: &TenantId, hash: &Hash) -> Result<Option<u64>, StoreError> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM events WHERE tenant = ? AND hash = ? LIMIT 1")
            .bind(tenant.as_str())
            .bind(hash.as_bytes().to_vec())
            .fetch_optional(&self.read_pool)
            .await
            .map_err(db_error)?;
        Ok(seq.and_then(|seq| u64::try_from(seq).ok()))
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT tenant FROM chain_heads UNION SELECT DISTINCT tenant FROM events ORDER BY 1")
                .fetch_all(&self.read_pool)
                .await
                .map_err(db_error)?;
        names.iter().map(|name| TenantId::parse(name).map_err(StoreError::Corrupt)).collect()
    }
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn create_key(&self, key: &ApiKey, key_hash: &Hash) -> Result<(), StoreError> {
        insert_key(&mut *self.write_pool.acquire().await.map_err(db_error)?, key, key_hash).await?;
        Ok(())
    }

    async fn create_first_key(&self, key: &ApiKey, key_hash: &Hash) -> Result<bool, StoreError> {
        // BEGIN IMMEDIATE takes the write lock first, so two processes cannot both see no key.
        let mut tx = self.write_pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(&mut *tx).await.map_err(db_error)?;
        if count > 0 {
            return Ok(false);
        }
        insert_key(&mut tx, key, key_hash).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn find_key(&self, key_hash: &Hash) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant, name, scopes, created_at, revoked_at FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        )
        .bind(key_hash.as_bytes().to_vec())
        .fetch_optional(&self.read_pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(decode_key).transpose()
    }

    async fn list_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>, StoreError> {
        sqlx::query(
            "SELECT id, tenant, name, scopes, created_at, revoked_at FROM api_keys \
             WHERE (?1 IS NULL OR tenant = ?1) ORDER BY created_at, id",
        )
        .bind(tenant.map(TenantId::as_str))
        .fetch_all(&self.read_pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(decode_key)
        .collect()
    }

    async fn revoke_key(&self, key_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(format_time(&Utc::now()))
            .bind(key_id)
            .execute(&self.write_pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn count_keys(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(&self.read_pool).await.map_err(db_error)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

/// Inserts an API key record (only the hash of its secret).
async fn insert_key(conn: &mut sqlx::SqliteConnection, key: &ApiKey, key_hash: &Hash) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO api_keys (id, tenant, name, key_hash, scopes, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(&key.id)
        .bind(key.tenant.as_str())
        .bind(&key.name)
        .bind(key_hash.as_bytes().to_vec())
        .bind(key.scopes.to_string())
        .bind(format_time(&key.created_at))
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

fn decode_key(row: &SqliteRow) -> Result<ApiKey, StoreError> {
    let parse_time = |text: String| {
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|err| StoreError::Corrupt(format!("api key time {text:?}: {err}")))
    };
    let tenant: String = row.try_get("tenant").map_err(db_error)?;
    let scopes: String = row.try_get("scopes").map_err(db_error)?;
    let revoked_at: Option<String> = row.try_get("revoked_at").map_err(db_error)?;
    Ok(ApiKey {
        id: row.try_get("id").map_err(db_error)?,
        tenant: TenantId::parse(&tenant).map_err(StoreError::Corrupt)?,
        name: row.try_get("name").map_err(db_error)?,
        scopes: scopes.parse().map_err(StoreError::Corrupt)?,
        created_at: parse_time(row.try_get("created_at").map_err(db_error)?)?,
        revoked_at: revoked_at.map(parse_time).transpose()?,
    })
}

#[async_trait]
impl CheckpointStore for SqliteStore {
    async fn checkpoints_after(
        &self,
        tenant: &TenantId,
        after_size: u64,
        limit: u32,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        sqlx::query("SELECT tree_size, root_hash, note, created_at FROM checkpoints WHERE tenant = ? AND tree_size > ? ORDER BY tree_size LIMIT ?")
            .bind(tenant.as_str())
            .bind(seq_to_db(after_size))
            .bind(i64::from(limit))
            .fetch_all(&self.read_pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_checkpoint)
            .collect()
    }

    async fn save_checkpoint(&self, tenant: &TenantId, checkpoint: &StoredCheckpoint) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO checkpoints (tenant, tree_size, root_hash, note, created_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (tenant, tree_size) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(seq_to_db(checkpoint.tree_size))
        .bind(checkpoint.root_hash.as_bytes().to_vec())
        .bind(&checkpoint.note)
        .bind(format_time(&checkpoint.created_at))
        .execute(&self.write_pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn latest_checkpoint(&self, tenant: &TenantId) -> Result<Option<StoredCheckpoint>, StoreError> {
        sqlx::query(
            "SELECT tree_size, root_hash, note, created_at FROM checkpoints WHERE tenant = ? \
             ORDER BY tree_size DESC LIMIT 1",
        )
        .bind(tenant.as_str())
        .fetch_optional(&self.read_pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(decode_checkpoint)
        .transpose()
    }

    async fn checkpoint_at(&self, tenant: &TenantId, tree_size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        sqlx::query("SELECT tree_size, root_hash, note, created_at FROM checkpoints WHERE tenant = ? AND tree_size = ?")
            .bind(tenant.as_str())
            .bind(seq_to_db(tree_size))
            .fetch_optional(&self.read_pool)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(decode_checkpoint)
            .transpose()
    }
}

fn decode_checkpoint(row: &SqliteRow) -> Result<StoredCheckpoint, StoreError> {
    let created_at: String = row.try_get("created_at").map_err(db_error)?;
    crate::rows::checkpoint_from_columns(
        row.try_get("tree_size").map_err(db_error)?,
        row.try_get("root_hash").map_err(db_error)?,
        row.try_get("note").map_err(db_error)?,
        DateTime::parse_from_rfc3339(&created_at)
            .map_err(|err| StoreError::Corrupt(format!("checkpoint time {created_at:?}: {err}")))?
            .with_timezone(&Utc),
    )
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn acquire_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO job_leases (job, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at WHERE job_leases.expires_at < ? OR job_leases.holder = excluded.holder")
            .bind(job)
            .bind(holder)
            .bind(format_time(&until))
            .bind(format_time(&now))
            .execute(&self.write_pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn release_lease(&self, job: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE job_leases SET expires_at = ? WHERE job = ? AND holder = ?")
            .bind(format_time(&DateTime::<Utc>::UNIX_EPOCH))
            .bind(job)
            .bind(holder)
            .execute(&self.write_pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn record_run(&self, run: &JobRun) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO job_runs (id, job, trigger, holder, started_at, finished_at, outcome, error, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&run.id)
            .bind(&run.job)
            .bind(&run.trigger)
            .bind(&run.holder)
            .bind(format_time(&run.started_at))
            .bind(format_time(&run.finished_at))
            .bind(&run.outcome)
            .bind(run.error.as_deref())
            .bind(run.details.to_string())
            .execute(&self.write_pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn recent_runs(&self, job: &str, limit: u32) -> Result<Vec<JobRun>, StoreError> {
        sqlx::query("SELECT id, job, trigger, holder, started_at, finished_at, outcome, error, details FROM job_runs WHERE job = ? ORDER BY id DESC LIMIT ?")
            .bind(job)
            .bind(i64::from(limit))
            .fetch_all(&self.read_pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_job_run)
            .collect()
    }
}

fn decode_job_run(row: &SqliteRow) -> Result<JobRun, StoreError> {
    let time = |column: &str| -> Result<DateTime<Utc>, StoreError> {
        let text: String = row.try_get(column).map_err(db_error)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|err| StoreError::Corrupt(format!("job run {column} {text:?}: {err}")))
    };
    let details: String = row.try_get("details").map_err(db_error)?;
    Ok(JobRun {
        id: row.try_get("id").map_err(db_error)?,
        job: row.try_get("job").map_err(db_error)?,
        trigger: row.try_get("trigger").map_err(db_error)?,
        holder: row.try_get("holder").map_err(db_error)?,
        started_at: time("started_at")?,
        finished_at: time("finished_at")?,
        outcome: row.try_get("outcome").map_err(db_error)?,
        error: row.try_get("error").map_err(db_error)?,
        details: serde_json::from_str(&details)
            .map_err(|err| StoreError::Corrupt(format!("job run details: {err}")))?,
    })
}

#[async_trait]
impl Readiness for SqliteStore {
    async fn check_ready(&self) -> Result<(), StoreError> {
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&self.read_pool)
            .await
            .map_err(db_error)?;
        crate::check_migrated(applied, migrate::SQLITE.len())?;
        let stored: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'event_format_version'")
            .fetch_optional(&self.read_pool)
            .await
            .map_err(db_error)?;
        crate::check_format_version(stored.as_deref())
    }
}
