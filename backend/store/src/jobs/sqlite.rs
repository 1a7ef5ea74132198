use async_trait::async_trait;
use chrono::{DateTime, Utc};
use veritrail_core::event::{TenantId, format_time};
use veritrail_core::jobs::{JobRun, JobStore};
use veritrail_core::store::StoreError;

use super::{RUN_COLUMNS, decode_job_run};
use crate::database::SqlitePools;
use crate::rows::db_error;

pub struct SqliteJobs {
    pools: SqlitePools,
}

impl SqliteJobs {
    pub fn new(pools: &SqlitePools) -> Self {
        Self { pools: pools.clone() }
    }
}

#[async_trait]
impl JobStore for SqliteJobs {
    async fn acquire_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO job_leases (job, holder, expires_at) VALUES (?, ?, ?) ON CONFLICT (job) DO UPDATE \
             SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE job_leases.expires_at < ? OR job_leases.holder = excluded.holder",
        )
        .bind(job)
        .bind(holder)
        .bind(format_time(&until))
        .bind(format_time(&now))
        .execute(&self.pools.write)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn release_lease(&self, job: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE job_leases SET expires_at = ? WHERE job = ? AND holder = ?")
            .bind(format_time(&DateTime::<Utc>::UNIX_EPOCH))
            .bind(job)
            .bind(holder)
            .execute(&self.pools.write)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn record_run(&self, run: &JobRun) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO job_runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&run.id)
            .bind(&run.job)
            .bind(run.trigger.as_str())
            .bind(run.tenant.as_ref().map(TenantId::as_str))
            .bind(&run.holder)
            .bind(format_time(&run.started_at))
            .bind(format_time(&run.finished_at))
            .bind(run.outcome.as_str())
            .bind(run.error.as_deref())
            .bind(run.details.to_string())
            .execute(&self.pools.write)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn recent_runs(&self, job: &str, tenant: Option<&TenantId>, limit: u32) -> Result<Vec<JobRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM job_runs WHERE job = ? AND (? IS NULL OR tenant IS NULL OR tenant = ?) \
             ORDER BY id DESC LIMIT ?"
        );
        let tenant = tenant.map(TenantId::as_str);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(job)
            .bind(tenant)
            .bind(tenant)
            .bind(i64::from(limit))
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode_job_run).collect()
    }
}
