//! Reports on SQLite. Writes go through the store's one write connection in `BEGIN IMMEDIATE`
//! transactions, so claims by two workers (or two processes on one file) happen one after the
//! other; reads use the read pool.

use sqlx::Sqlite;
use sqlx::sqlite::SqlitePool;

use super::Reports;

/// Reports in the same SQLite file as the log.
pub type SqliteReports = Reports<Sqlite>;

impl SqliteReports {
    /// Uses the store's pools: `write_pool` must be the one-connection pool appends use.
    pub fn new(read_pool: SqlitePool, write_pool: SqlitePool) -> Self {
        Self::with_pools(read_pool, write_pool)
    }
}
