//! Background jobs as the rest of Veritrail sees them: run records, leases, and the port through
//! which the API and the CLI run a job now. *When* jobs run is the scheduler crate's business.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::TenantId;
use crate::store::{EventLog, StoreError};

crate::wire_enum! {
    /// How a run was started.
    pub enum Trigger ("job trigger") {
        /// By the job's cron schedule (or at start-up).
        Schedule => "schedule",
        /// On demand: the API, the command line.
        Manual => "manual",
    }
}

crate::wire_enum! {
    /// How a run ended. A run that found problems (a broken chain) still succeeded: its findings
    /// are in `details`; `failure` means the job itself could not do its work.
    pub enum RunOutcome ("job outcome") {
        Success => "success",
        Failure => "failure",
    }
}

/// Which tenants a run covers. A tenant's admin runs a job for its own tenant only; a run over
/// every tenant (the schedule, the command line, an `operator` key) is the operator's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobScope {
    AllTenants,
    Tenant(TenantId),
}

impl JobScope {
    /// The one tenant of a tenant's run; `None` for a run over every tenant.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::AllTenants => None,
            Self::Tenant(tenant) => Some(tenant),
        }
    }

    /// Whether the run covers `tenant`.
    pub fn covers(&self, tenant: &TenantId) -> bool {
        self.tenant().is_none_or(|only| only == tenant)
    }

    /// The tenants with a log that the run covers.
    pub async fn tenants(&self, events: &dyn EventLog) -> Result<Vec<TenantId>, StoreError> {
        Ok(events.tenants().await?.into_iter().filter(|tenant| self.covers(tenant)).collect())
    }
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    pub id: String,
    pub job: String,
    pub trigger: Trigger,
    /// The tenant a tenant's run covered; `None` for a run over every tenant.
    pub tenant: Option<TenantId>,
    /// The replica that ran it.
    pub holder: String,
    #[serde(with = "crate::event::timestamp")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "crate::event::timestamp")]
    pub finished_at: DateTime<Utc>,
    pub outcome: RunOutcome,
    pub error: Option<String>,
    /// Counts and findings; per-tenant parts live under `details.tenants.<tenant>`.
    pub details: Value,
}

/// A job as listed by `GET /api/v1/admin/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStatus {
    pub name: String,
    /// Six-field cron expression (seconds first), or `None` when the job runs only on demand.
    pub schedule: Option<String>,
    #[serde(with = "crate::event::timestamp::option")]
    pub next_run: Option<DateTime<Utc>>,
    pub last_run: Option<JobRun>,
}

/// Why a job could not be run now.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("there is no job named {0:?}")]
    Unknown(String),
    #[error("job {0:?} is running elsewhere; try again when it has finished")]
    Busy(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Leases and run history, kept in the database so every replica sees them.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Takes the job's lease until `until` if it is free, expired, or already `holder`'s.
    async fn acquire_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Gives the lease back early.
    async fn release_lease(&self, job: &str, holder: &str) -> Result<(), StoreError>;

    /// Records a finished run.
    async fn record_run(&self, run: &JobRun) -> Result<(), StoreError>;

    /// Returns the job's latest runs that covered `tenant` (runs over every tenant and that
    /// tenant's own), or every run when `tenant` is `None`; newest first.
    async fn recent_runs(&self, job: &str, tenant: Option<&TenantId>, limit: u32) -> Result<Vec<JobRun>, StoreError>;
}

/// Runs jobs on demand and reports on them (implemented by the scheduler).
#[async_trait]
pub trait JobRunner: Send + Sync {
    /// Runs the job now over `scope`, waiting for a run elsewhere to finish first (one run of a
    /// job at a time, whatever its scope), and returns its record.
    async fn run_now(&self, name: &str, scope: JobScope) -> Result<JobRun, JobError>;

    /// Returns every job with its schedule, next run, and last run that covered `tenant` (any
    /// run when `None`).
    async fn status(&self, tenant: Option<&TenantId>) -> Result<Vec<JobStatus>, StoreError>;
}
