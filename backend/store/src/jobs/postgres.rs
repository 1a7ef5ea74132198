use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use veritrail_core::event::TenantId;
use veritrail_core::jobs::{JobRun, JobStore};
use veritrail_core::store::StoreError;

use super::{RUN_COLUMNS, decode_job_run};
use crate::rows::db_error;

pub struct PostgresJobs {
    pool: PgPool,
}

impl PostgresJobs {
    pub fn new(pool: &PgPool) -> Self {
        Self { pool: pool.clone() }
    }
}

#[async_trait]
impl JobStore for PostgresJobs {
    async fn acquire_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) ON CONFLICT (job) DO UPDATE \
             SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE job_leases.expires_at < $4 OR job_leases.holder = excluded.holder",
        )
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
        let sql = format!("INSERT INTO job_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&run.id)
            .bind(&run.job)
            .bind(run.trigger.as_str())
            .bind(run.tenant.as_ref().map(TenantId::as_str))
            .bind(&run.holder)
            .bind(run.started_at)
            .bind(run.finished_at)
            .bind(run.outcome.as_str())
            .bind(run.error.as_deref())
            .bind(run.details.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn recent_runs(&self, job: &str, tenant: Option<&TenantId>, limit: u32) -> Result<Vec<JobRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM job_runs WHERE job = $1 AND ($2::text IS NULL OR tenant IS NULL OR tenant = $2) \
             ORDER BY id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(job)
            .bind(tenant.map(TenantId::as_str))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode_job_run).collect()
    }
}
