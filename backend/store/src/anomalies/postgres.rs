//! Anomalies on PostgreSQL. Feedback locks its anomaly row (`SELECT ... FOR UPDATE`), so
//! concurrent feedback on one anomaly is applied one after the other and status, latest feedback
//! and suppression always agree.

use sqlx::Postgres;
use sqlx::postgres::PgPool;

use super::Anomalies;

/// Anomalies in the same PostgreSQL database as the log.
pub type PostgresAnomalies = Anomalies<Postgres>;

impl PostgresAnomalies {
    pub fn new(pool: PgPool) -> Self {
        Self::with_pools(pool.clone(), pool)
    }
}
