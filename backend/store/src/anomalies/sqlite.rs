//! Anomalies on SQLite. Writes go through the store's one write connection in `BEGIN IMMEDIATE`
//! transactions (like appends), reads use the read pool.

use sqlx::Sqlite;
use sqlx::sqlite::SqlitePool;

use super::Anomalies;

/// Anomalies in the same SQLite file as the log.
pub type SqliteAnomalies = Anomalies<Sqlite>;

impl SqliteAnomalies {
    /// Uses the store's pools: `write_pool` must be the one-connection pool appends use.
    pub fn new(read_pool: SqlitePool, write_pool: SqlitePool) -> Self {
        Self::with_pools(read_pool, write_pool)
    }
}
