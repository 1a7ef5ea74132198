//! Job leases (one holder at a time across replicas) and the record of every run.

mod postgres;
mod sqlite;

use veritrail_core::event::TenantId;
use veritrail_core::jobs::JobRun;
use veritrail_core::store::StoreError;

pub use postgres::PostgresJobs;
pub use sqlite::SqliteJobs;

use crate::columns::Columns;

/// The columns every run query selects.
const RUN_COLUMNS: &str = "id, job, trigger, tenant, holder, started_at, finished_at, outcome, error, details";

fn decode_job_run(row: &impl Columns) -> Result<JobRun, StoreError> {
    Ok(JobRun {
        id: row.text("id")?,
        job: row.text("job")?,
        trigger: row.parsed("trigger")?,
        tenant: row
            .opt_text("tenant")?
            .map(|tenant| TenantId::parse(&tenant))
            .transpose()
            .map_err(StoreError::Corrupt)?,
        holder: row.text("holder")?,
        started_at: row.time("started_at")?,
        finished_at: row.time("finished_at")?,
        outcome: row.parsed("outcome")?,
        error: row.opt_text("error")?,
        details: row.json("details")?,
    })
}
