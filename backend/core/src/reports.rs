//! Reports and report schedules: what was asked for, where its generation stands, the file it
//! produced, and the schedules that ask for one periodically; with their storage port.
//!
//! A report is asked for (`pending`), claimed by one worker under a lease (`running`), and ends
//! `done` with its file or `failed` with the reason. A worker that dies leaves a lease that runs
//! out; the next claim takes the report again, up to [`MAX_ATTEMPTS`] times.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::event::TenantId;
use crate::store::StoreError;

/// Claims of one report before it is recorded as failed.
pub const MAX_ATTEMPTS: u32 = 3;

crate::wire_enum! {
    /// What a report is about.
    pub enum ReportKind ("report kind") {
        /// The period's events: summary, charts, anomalies and the event table.
        Activity => "activity",
        /// The period's anomalies with their narratives, features, feedback and events.
        Anomalies => "anomalies",
        /// Checkpoints, verification results and the log's key.
        Integrity => "integrity",
        /// Everything about one actor (a GDPR access request).
        Subject => "subject",
    }
}

crate::wire_enum! {
    /// The file a report is.
    pub enum ReportFormat ("report format") {
        Pdf => "pdf",
        Csv => "csv",
    }
}

impl ReportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

crate::wire_enum! {
    /// Where a report's generation stands.
    pub enum ReportStatus ("report status") {
        Pending => "pending",
        Running => "running",
        Done => "done",
        Failed => "failed",
    }
}

crate::wire_enum! {
    /// The period a scheduled report covers, ending when it runs.
    pub enum ReportPeriod ("period") {
        Day => "P1D",
        Week => "P7D",
        Month => "P30D",
    }
}

impl ReportPeriod {
    pub fn duration(self) -> chrono::Duration {
        match self {
            Self::Day => chrono::Duration::days(1),
            Self::Week => chrono::Duration::days(7),
            Self::Month => chrono::Duration::days(30),
        }
    }
}

/// What a report covers, as asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportSpec {
    pub kind: ReportKind,
    pub format: ReportFormat,
    #[serde(with = "crate::event::timestamp")]
    pub since: DateTime<Utc>,
    #[serde(with = "crate::event::timestamp")]
    pub until: DateTime<Utc>,
    /// Event filters (`actor`, `action`, ...), as the export takes them; `{}` for none.
    pub filter: Value,
    /// The actor of a `subject` report.
    pub subject: Option<String>,
}

/// A report to make.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    pub spec: ReportSpec,
    /// Who asked: an API key id, `user:<name>`, `cli`, `schedule:<id>`.
    pub requested_by: String,
    pub schedule_id: Option<String>,
}

/// A report as stored, without its file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredReport {
    pub id: String,
    pub tenant: TenantId,
    #[serde(flatten)]
    pub spec: ReportSpec,
    pub status: ReportStatus,
    pub requested_by: String,
    pub schedule_id: Option<String>,
    pub attempts: u32,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::event::timestamp::option")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::event::timestamp::option")]
    pub finished_at: Option<DateTime<Utc>>,
    pub pages: Option<u32>,
    pub events: Option<u64>,
    pub sha256: Option<String>,
    pub checkpoint_size: Option<u64>,
    pub checkpoint_root: Option<String>,
    pub error: Option<String>,
}

/// A generated report's file and the evidence bundle of its events (a tar archive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    pub content: Vec<u8>,
    pub evidence: Option<Vec<u8>>,
}

/// How a claimed report ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportOutcome {
    Done {
        file: ReportFile,
        pages: Option<u32>,
        events: u64,
        sha256: String,
        checkpoint_size: Option<u64>,
        checkpoint_root: Option<String>,
    },
    Failed {
        error: String,
    },
}

/// A schedule's report, as asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduledReport {
    pub kind: ReportKind,
    pub format: ReportFormat,
    pub period: ReportPeriod,
    pub filter: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// A schedule to store (create or replace).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    pub name: String,
    /// Six fields, seconds first.
    pub cron: String,
    pub report: ScheduledReport,
    /// E-mail channels of the alerting system, in order.
    pub channels: Vec<String>,
    /// When it is next due.
    pub next_run_at: DateTime<Utc>,
}

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredSchedule {
    pub id: String,
    pub tenant: TenantId,
    pub name: String,
    pub cron: String,
    pub report: ScheduledReport,
    pub channels: Vec<String>,
    #[serde(with = "crate::event::timestamp")]
    pub next_run_at: DateTime<Utc>,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::event::timestamp")]
    pub updated_at: DateTime<Utc>,
}

crate::wire_enum! {
    /// Where one run of a schedule stands.
    pub enum RunStatus ("run status") {
        Running => "running",
        Sent => "sent",
        Failed => "failed",
    }
}

/// One run of a schedule: the report it made and whether it was sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleRun {
    pub id: String,
    pub schedule_id: String,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// The due time it ran for (a manual run: when it was asked for).
    #[serde(with = "crate::event::timestamp")]
    pub scheduled_for: DateTime<Utc>,
    pub report_id: Option<String>,
    pub status: RunStatus,
    pub error: Option<String>,
    /// What each channel answered.
    pub deliveries: Value,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::event::timestamp::option")]
    pub finished_at: Option<DateTime<Utc>>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    pub report_id: Option<String>,
    pub status: RunStatus,
    pub error: Option<String>,
    pub deliveries: Value,
}

/// Reports, schedules and runs. Every read and write is scoped to a tenant, except the worker's
/// claims, which look across tenants and return the tenant with what they claimed.
/// Which reports a worker may claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportClaim<'a> {
    /// Any tenant's.
    Any,
    /// One tenant's (a run of the `reports` job for that tenant).
    OfTenant(&'a TenantId),
    /// This one report.
    One(&'a TenantId, &'a str),
}

#[async_trait]
pub trait ReportStore: Send + Sync {
    async fn create_report(
        &self,
        tenant: &TenantId,
        report: &NewReport,
        now: DateTime<Utc>,
    ) -> Result<StoredReport, StoreError>;

    async fn get_report(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredReport>, StoreError>;

    /// The tenant's reports, newest first, created before `before` (a report id) when given.
    async fn list_reports(
        &self,
        tenant: &TenantId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredReport>, StoreError>;

    /// The file of a `done` report.
    async fn report_file(&self, tenant: &TenantId, id: &str) -> Result<Option<ReportFile>, StoreError>;

    /// Claims the oldest report of `which` that is pending, or running with a lease that ran out,
    /// for `holder` until `lease_until`, counting the attempt. A report that has had
    /// [`MAX_ATTEMPTS`] claims is marked failed instead.
    async fn claim_report(
        &self,
        which: ReportClaim<'_>,
        holder: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<StoredReport>, StoreError>;

    /// Records how a claimed report ended; `false` when `holder` no longer holds it.
    async fn finish_report(
        &self,
        tenant: &TenantId,
        id: &str,
        holder: &str,
        outcome: &ReportOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    async fn create_schedule(
        &self,
        tenant: &TenantId,
        schedule: &NewSchedule,
        now: DateTime<Utc>,
    ) -> Result<StoredSchedule, StoreError>;

    async fn list_schedules(&self, tenant: &TenantId) -> Result<Vec<StoredSchedule>, StoreError>;

    async fn get_schedule(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredSchedule>, StoreError>;

    /// Replaces a schedule; `None` when the tenant has no such schedule.
    async fn update_schedule(
        &self,
        tenant: &TenantId,
        id: &str,
        schedule: &NewSchedule,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredSchedule>, StoreError>;

    /// Deletes a schedule and its runs; `false` when there was none.
    async fn delete_schedule(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError>;

    /// Every tenant's schedules due at `now`.
    async fn due_schedules(&self, now: DateTime<Utc>) -> Result<Vec<StoredSchedule>, StoreError>;

    /// Starts a run of `schedule`. A scheduled run (`due: Some`) moves the schedule from its
    /// due time to `next_run_at` in the same transaction, only if it is still due at that time:
    /// of several replicas, exactly one gets the run, the others `None`. A manual run
    /// (`due: None`) always starts.
    async fn start_run(
        &self,
        schedule: &StoredSchedule,
        due: Option<DateTime<Utc>>,
        next_run_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<ScheduleRun>, StoreError>;

    /// Records how a run ended.
    async fn finish_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        end: &RunEnd,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The schedule's runs, newest first.
    async fn list_runs(&self, tenant: &TenantId, schedule_id: &str, limit: u32)
    -> Result<Vec<ScheduleRun>, StoreError>;
}
