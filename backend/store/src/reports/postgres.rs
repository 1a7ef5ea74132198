//! Reports on PostgreSQL. A claim's `UPDATE` names the state it expects (pending, or a lease
//! that ran out); a worker that waited for another's row lock finds the row changed and claims
//! nothing, so two replicas never make the same report at once. Schedules move their due time
//! the same way.

use sqlx::Postgres;
use sqlx::postgres::PgPool;

use super::Reports;

/// Reports in the same PostgreSQL database as the log.
pub type PostgresReports = Reports<Postgres>;

impl PostgresReports {
    pub fn new(pool: PgPool) -> Self {
        Self::with_pools(pool.clone(), pool)
    }
}
