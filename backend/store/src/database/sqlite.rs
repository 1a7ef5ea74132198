//! The SQLite database: the default, embedded, one file under the data directory.
//!
//! Durability: WAL with `synchronous=FULL` unless configured otherwise, so a commit has reached
//! the disk when it returns. Writers take SQLite's one write lock up front (`BEGIN IMMEDIATE`):
//! that serialises writers across processes (a `veritrail ingest` next to a running server) and
//! makes reading state and writing after it one atomic step.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use veritrail_core::event::format_time;
use veritrail_core::store::{Readiness, StoreError};

use super::{APPLIED_SQL, FORMAT_VERSION_SQL, check_format_version, check_migrated};
use crate::StoreSettings;
use crate::migrate::{self, AppliedMigration};
use crate::rows::db_error;

/// The two pools every SQLite concern uses: one writer (SQLite has one write lock) and several
/// read-only readers.
#[derive(Clone)]
pub struct SqlitePools {
    pub read: SqlitePool,
    pub write: SqlitePool,
}

impl SqlitePools {
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
        if !url.contains(":memory:") && !url.contains("mode=memory") {
            create_private(options.get_filename())?;
        }
        let write =
            SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.map_err(db_error)?;
        migrate_sqlite(&write).await?;
        let stored: Option<String> =
            sqlx::query_scalar(FORMAT_VERSION_SQL).fetch_optional(&write).await.map_err(db_error)?;
        check_format_version(stored.as_deref())?;
        let read = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .connect_with(options.read_only(true))
            .await
            .map_err(db_error)?;
        Ok(Self { read, write })
    }
}

/// Creates the database file, when missing, readable and writable by its owner only (SQLite
/// would create it 0644, as the umask allows). SQLite gives the WAL and shared-memory files it
/// creates beside a database the database file's permissions, so they are private too. An empty
/// file is an empty SQLite database. An existing file is left as the operator set it, with a
/// warning when others may read it.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_shared(path);
            Ok(())
        }
        Err(err) => Err(StoreError::database(
            None,
            std::io::Error::new(err.kind(), format!("create the database file {}: {err}", path.display())),
        )),
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", metadata.permissions().mode() & 0o777),
            "the database file can be read by other users than its owner; `chmod 600` it (and its -wal and -shm files)"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

/// Applies pending migrations in one immediate transaction, with the tables SQL cannot create
/// (a full-text table per tenant, named after the tenant's row).
pub async fn migrate_sqlite(pool: &SqlitePool) -> Result<usize, StoreError> {
    sqlx::query(migrate::CREATE_HISTORY).execute(pool).await.map_err(db_error)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    let applied: Vec<AppliedMigration> = sqlx::query(APPLIED_SQL)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|row| AppliedMigration { version: row.get(0), checksum: row.get(1) })
        .collect();
    let pending = migrate::pending(migrate::SQLITE, &applied).map_err(StoreError::Incompatible)?;
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
    crate::search::create_missing_fulltext_tables(&mut tx).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(pending.len())
}

/// Whether the database answers and is fully migrated.
pub struct SqliteReadiness {
    pool: SqlitePool,
}

impl SqliteReadiness {
    pub fn new(pools: &SqlitePools) -> Self {
        Self { pool: pools.read.clone() }
    }
}

#[async_trait]
impl Readiness for SqliteReadiness {
    async fn check_ready(&self) -> Result<(), StoreError> {
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        check_migrated(applied, migrate::SQLITE.len())?;
        let stored: Option<String> =
            sqlx::query_scalar(FORMAT_VERSION_SQL).fetch_optional(&self.pool).await.map_err(db_error)?;
        check_format_version(stored.as_deref())
    }
}
