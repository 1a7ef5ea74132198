//! The PostgreSQL backend, for production and scale-out.
//!
//! Several `veritrail serve` processes may append to one database: each group commit locks the
//! chain-head row of every tenant it touches (`SELECT ... FOR UPDATE`, tenants in a fixed order
//! so two writers never deadlock), so a chain can never fork. A commit returns after PostgreSQL
//! has flushed its WAL (`synchronous_commit` as configured on the server; `on` by default).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};
use veritrail_core::auth::ApiKey;
use veritrail_core::event::{NewEvent, Receipt, StoredEvent, TenantId, normalize_time};
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

/// Arbitrary constant naming the advisory lock that serialises migrations across servers.
const MIGRATION_LOCK: i64 = 0x7665_7269_7472_6169;
/// Advisory lock serialising the creation of the first API key.
const BOOTSTRAP_LOCK: i64 = 0x7665_7269_7472_616b;

/// Event log, key store and readiness over a PostgreSQL database.
pub struct PostgresStore {
    pool: PgPool,
    sequencer: Sequencer,
}

impl PostgresStore {
    /// Connects to `url` and migrates the database.
    pub async fn open(url: &str, settings: &StoreSettings) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(2))
            .connect(url)
            .await
            .map_err(db_error)?;
        migrate_postgres(&pool).await?;
        let stored: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'event_format_version'")
            .fetch_optional(&pool)
            .await
            .map_err(db_error)?;
        crate::check_format_version(stored.as_deref())?;
        let writer = Arc::new(PostgresWriter { pool: pool.clone() });
        let sequencer = Sequencer::spawn(writer, settings.queue_capacity, settings.max_group_events);
        Ok(Self { pool, sequencer })
    }

    /// Returns the connection pool (for tests that tamper with rows and for benchmarks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Applies pending migrations under an advisory lock, so servers starting together do not race.
pub async fn migrate_postgres(pool: &PgPool) -> Result<usize, StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await.map_err(db_error)?;
    sqlx::query(migrate::CREATE_HISTORY).execute(&mut *tx).await.map_err(db_error)?;
    let applied: Vec<AppliedMigration> =
        sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|row| AppliedMigration { version: row.get(0), checksum: row.get(1) })
            .collect();
    let pending = migrate::pending(migrate::POSTGRES, &applied).map_err(StoreError::Database)?;
    for migration in &pending {
        tracing::info!(version = migration.version, name = migration.name, "applying postgres migration");
        sqlx::raw_sql(migration.sql).execute(&mut *tx).await.map_err(db_error)?;
        sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(migration.checksum())
            .bind(veritrail_core::event::format_time(&Utc::now()))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(pending.len())
}

fn decode_event(row: &PgRow) -> Result<StoredEvent, StoreError> {
    EventColumns {
        tenant: row.try_get("tenant").map_err(db_error)?,
        seq: row.try_get("seq").map_err(db_error)?,
        id: row.try_get("id").map_err(db_error)?,
        occurred_at: row.try_get("occurred_at").map_err(db_error)?,
        received_at: row.try_get("received_at").map_err(db_error)?,
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

fn decode_head(row: &PgRow) -> Result<ChainHead, StoreError> {
    let next_seq: i64 = row.try_get("next_seq").map_err(db_error)?;
    let head_hash: Vec<u8> = row.try_get("head_hash").map_err(db_error)?;
    Ok(ChainHead {
        next_seq: u64::try_from(next_seq).unwrap_or_default(),
        head_hash: hash_from_column(&head_hash)
            .ok_or_else(|| StoreError::Corrupt("chain head hash is not 32 bytes".into()))?,
    })
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
            let frontier: Vec<u8> = head.try_get("frontier").map_err(db_error)?;
            heads.insert(tenant.clone(), crate::plan::tree_head_from_parts(decode_head(&head)?, &frontier)?);
            let client_ids = client_ids_of(requests, &tenant);
            if !client_ids.is_empty() {
                let rows = sqlx::query(
                    "SELECT id, seq, hash, prev_hash, received_at, request_hash FROM events \
                     WHERE tenant = $1 AND id = ANY($2)",
                )
                .bind(tenant.as_str())
                .bind(&client_ids)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
                for row in &rows {
                    let found = existing_from_row(row)?;
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
    plan: &crate::plan::GroupPlan,
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

fn existing_from_row(row: &PgRow) -> Result<ExistingEvent, StoreError> {
    let seq: i64 = row.try_get("seq").map_err(db_error)?;
    let corrupt = || StoreError::Corrupt(format!("event seq {seq} has a malformed hash"));
    let hash: Vec<u8> = row.try_get("hash").map_err(db_error)?;
    let prev_hash: Vec<u8> = row.try_get("prev_hash").map_err(db_error)?;
    let request_hash: Vec<u8> = row.try_get("request_hash").map_err(db_error)?;
    Ok(ExistingEvent {
        receipt: Receipt {
            id: row.try_get("id").map_err(db_error)?,
            seq: u64::try_from(seq).map_err(|_| corrupt())?,
            hash: hash_from_column(&hash).ok_or_else(corrupt)?,
            prev_hash: hash_from_column(&prev_hash).ok_or_else(corrupt)?,
            received_at: row.try_get("received_at").map_err(db_error)?,
        },
        request_hash: hash_from_column(&request_hash).ok_or_else(corrupt)?,
    })
}

#[async_trait]
impl EventLog for PostgresStore {
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
        let mut sql = QueryBuilder::<Postgres>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = "));
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
        if let Some(since) = query.since {
            sql.push(" AND occurred_at >= ").push_bind(since);
        }
        if let Some(until) = query.until {
            sql.push(" AND occurred_at < ").push_bind(until);
        }
        if let Some(before_seq) = query.before_seq {
            sql.push(" AND seq < ").push_bind(seq_to_db(before_seq));
        }
        sql.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(query.limit));
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
        row.map(|row| {
            let frontier: Vec<u8> = row.try_get("frontier").map_err(db_error)?;
            crate::plan::tree_head_from_parts(decode_head(&row)?, &frontier)
        })
        .transpose()
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
            let (id, hash) = crate::rows::decode_node(
                row.try_get(0).map_err(db_error)?,
                row.try_get(1).map_err(db_error)?,
                row.try_get(2).map_err(db_error)?,
            )?;
            found.insert(id, hash);
        }
        crate::rows::nodes_in_order(ids, &found)
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
}

#[async_trait]
impl ApiKeyStore for PostgresStore {
    async fn create_key(&self, key: &ApiKey, key_hash: &Hash) -> Result<(), StoreError> {
        insert_key(&mut *self.pool.acquire().await.map_err(db_error)?, key, key_hash).await?;
        Ok(())
    }

    async fn create_first_key(&self, key: &ApiKey, key_hash: &Hash) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Serialises first starts; the check and the insert then see each other's commits.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(BOOTSTRAP_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
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
        sqlx::query(
            "SELECT id, tenant, name, scopes, created_at, revoked_at FROM api_keys \
             WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(decode_key)
        .transpose()
    }

    async fn list_keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>, StoreError> {
        sqlx::query(
            "SELECT id, tenant, name, scopes, created_at, revoked_at FROM api_keys \
             WHERE ($1::text IS NULL OR tenant = $1) ORDER BY created_at, id",
        )
        .bind(tenant.map(TenantId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(decode_key)
        .collect()
    }

    async fn revoke_key(&self, key_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(key_id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn count_keys(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_keys").fetch_one(&self.pool).await.map_err(db_error)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

/// Inserts an API key record (only the hash of its secret).
async fn insert_key(conn: &mut sqlx::PgConnection, key: &ApiKey, key_hash: &Hash) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, tenant, name, key_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&key.id)
    .bind(key.tenant.as_str())
    .bind(&key.name)
    .bind(key_hash.as_bytes().to_vec())
    .bind(key.scopes.to_string())
    .bind(key.created_at)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

fn decode_key(row: &PgRow) -> Result<ApiKey, StoreError> {
    let tenant: String = row.try_get("tenant").map_err(db_error)?;
    let scopes: String = row.try_get("scopes").map_err(db_error)?;
    Ok(ApiKey {
        id: row.try_get("id").map_err(db_error)?,
        tenant: TenantId::parse(&tenant).map_err(StoreError::Corrupt)?,
        name: row.try_get("name").map_err(db_error)?,
        scopes: scopes.parse().map_err(StoreError::Corrupt)?,
        created_at: row.try_get("created_at").map_err(db_error)?,
        revoked_at: row.try_get("revoked_at").map_err(db_error)?,
    })
}

#[async_trait]
impl CheckpointStore for PostgresStore {
    async fn checkpoints_after(
        &self,
        tenant: &TenantId,
        after_size: u64,
        limit: u32,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        sqlx::query("SELECT tree_size, root_hash, note, created_at FROM checkpoints WHERE tenant = $1 AND tree_size > $2 ORDER BY tree_size LIMIT $3")
            .bind(tenant.as_str())
            .bind(seq_to_db(after_size))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_checkpoint)
            .collect()
    }

    async fn save_checkpoint(&self, tenant: &TenantId, checkpoint: &StoredCheckpoint) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO checkpoints (tenant, tree_size, root_hash, note, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant, tree_size) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(seq_to_db(checkpoint.tree_size))
        .bind(checkpoint.root_hash.as_bytes().to_vec())
        .bind(&checkpoint.note)
        .bind(checkpoint.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn latest_checkpoint(&self, tenant: &TenantId) -> Result<Option<StoredCheckpoint>, StoreError> {
        sqlx::query(
            "SELECT tree_size, root_hash, note, created_at FROM checkpoints WHERE tenant = $1 \
             ORDER BY tree_size DESC LIMIT 1",
        )
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(decode_checkpoint)
        .transpose()
    }

    async fn checkpoint_at(&self, tenant: &TenantId, tree_size: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        sqlx::query(
            "SELECT tree_size, root_hash, note, created_at FROM checkpoints WHERE tenant = $1 AND tree_size = $2",
        )
        .bind(tenant.as_str())
        .bind(seq_to_db(tree_size))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?
        .as_ref()
        .map(decode_checkpoint)
        .transpose()
    }
}

fn decode_checkpoint(row: &PgRow) -> Result<StoredCheckpoint, StoreError> {
    crate::rows::checkpoint_from_columns(
        row.try_get("tree_size").map_err(db_error)?,
        row.try_get("root_hash").map_err(db_error)?,
        row.try_get("note").map_err(db_error)?,
        row.try_get("created_at").map_err(db_error)?,
    )
}

#[async_trait]
impl JobStore for PostgresStore {
    async fn acquire_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at WHERE job_leases.expires_at < $4 OR job_leases.holder = excluded.holder")
            .bind(job)
            .bind(holder)
            .bind(until)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn release_lease(&self, job: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE job_leases SET expires_at = $1 WHERE job = $2 AND holder = $3")
            .bind(DateTime::<Utc>::UNIX_EPOCH)
            .bind(job)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn record_run(&self, run: &JobRun) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO job_runs (id, job, trigger, holder, started_at, finished_at, outcome, error, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&run.id)
            .bind(&run.job)
            .bind(&run.trigger)
            .bind(&run.holder)
            .bind(run.started_at)
            .bind(run.finished_at)
            .bind(&run.outcome)
            .bind(run.error.as_deref())
            .bind(run.details.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn recent_runs(&self, job: &str, limit: u32) -> Result<Vec<JobRun>, StoreError> {
        sqlx::query("SELECT id, job, trigger, holder, started_at, finished_at, outcome, error, details FROM job_runs WHERE job = $1 ORDER BY id DESC LIMIT $2")
            .bind(job)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_job_run)
            .collect()
    }
}

fn decode_job_run(row: &PgRow) -> Result<JobRun, StoreError> {
    let time = |column: &str| -> Result<DateTime<Utc>, StoreError> { row.try_get(column).map_err(db_error) };
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
impl Readiness for PostgresStore {
    async fn check_ready(&self) -> Result<(), StoreError> {
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        crate::check_migrated(applied, migrate::POSTGRES.len())?;
        let stored: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'event_format_version'")
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        crate::check_format_version(stored.as_deref())
    }
}
