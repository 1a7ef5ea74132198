//! The PostgreSQL database, for production and scale-out: several `veritrail serve` processes
//! may share it. A commit returns after PostgreSQL has flushed its WAL (`synchronous_commit` as
//! configured on the server; `on` by default).

use async_trait::async_trait;
use chrono::Utc;
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use veritrail_core::event::format_time;
use veritrail_core::store::{Readiness, StoreError};

use super::{APPLIED_SQL, FORMAT_VERSION_SQL, check_format_version, check_migrated};
use crate::StoreSettings;
use crate::migrate::{self, AppliedMigration};
use crate::rows::db_error;

/// Arbitrary constant naming the advisory lock that serialises migrations across servers.
const MIGRATION_LOCK: i64 = 0x7665_7269_7472_6169;

/// Connects to `url`, migrates the database and checks its event format.
pub async fn open(url: &str, settings: &StoreSettings) -> Result<PgPool, StoreError> {
    let pool =
        PgPoolOptions::new().max_connections(settings.max_connections.max(2)).connect(url).await.map_err(db_error)?;
    migrate_postgres(&pool).await?;
    let stored: Option<String> =
        sqlx::query_scalar(FORMAT_VERSION_SQL).fetch_optional(&pool).await.map_err(db_error)?;
    check_format_version(stored.as_deref())?;
    Ok(pool)
}

/// Applies pending migrations under an advisory lock, so servers starting together do not race.
pub async fn migrate_postgres(pool: &PgPool) -> Result<usize, StoreError> {
    let mut tx = pool.begin().await.map_err(db_error)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await.map_err(db_error)?;
    sqlx::query(migrate::CREATE_HISTORY).execute(&mut *tx).await.map_err(db_error)?;
    let applied: Vec<AppliedMigration> = sqlx::query(APPLIED_SQL)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| AppliedMigration { version: row.get(0), checksum: row.get(1) })
        .collect();
    let pending = migrate::pending(migrate::POSTGRES, &applied).map_err(StoreError::Incompatible)?;
    for migration in &pending {
        tracing::info!(version = migration.version, name = migration.name, "applying postgres migration");
        sqlx::raw_sql(migration.sql).execute(&mut *tx).await.map_err(db_error)?;
        sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
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

/// Whether the database answers and is fully migrated.
pub struct PostgresReadiness {
    pool: PgPool,
}

impl PostgresReadiness {
    pub fn new(pool: &PgPool) -> Self {
        Self { pool: pool.clone() }
    }
}

#[async_trait]
impl Readiness for PostgresReadiness {
    async fn check_ready(&self) -> Result<(), StoreError> {
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        check_migrated(applied, migrate::POSTGRES.len())?;
        let stored: Option<String> =
            sqlx::query_scalar(FORMAT_VERSION_SQL).fetch_optional(&self.pool).await.map_err(db_error)?;
        check_format_version(stored.as_deref())
    }
}
