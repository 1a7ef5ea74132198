//! The report port (`veritrail_core::reports::ReportStore`) on both backends: reports with their
//! files, report schedules and their runs.
//!
//! Written once, generic over the database ([`Reports`]), like `anomalies/`: the statements are
//! the same on both backends but for placeholders and how times are bound
//! ([`crate::dialect::Dialect`]). Claims and due-time moves are guarded updates (the `WHERE`
//! names the state read), so they are exactly-once on PostgreSQL's row locks as on SQLite's one
//! write lock.

mod postgres;
mod rows;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Pool, QueryBuilder};
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::reports::{
    MAX_ATTEMPTS, NewReport, NewSchedule, ReportClaim, ReportFile, ReportOutcome, ReportStatus, ReportStore, RunEnd,
    RunStatus, ScheduleRun, StoredReport, StoredSchedule,
};
use veritrail_core::store::StoreError;

use self::rows::{
    REPORT_SELECT, RUN_SELECT, SCHEDULE_SELECT, decode_report, decode_run, decode_schedule, encode_scheduled,
};
use crate::columns::{Columns, new_id};
use crate::dialect::{Bind, Run};
use crate::rows::db_error;

pub use postgres::PostgresReports;
pub use sqlite::SqliteReports;

/// Reports in the same database as the log.
pub struct Reports<D: Database> {
    read_pool: Pool<D>,
    /// The pool writes go through: on SQLite the one-connection pool appends use.
    write_pool: Pool<D>,
}

impl<D: Database> Reports<D> {
    fn with_pools(read_pool: Pool<D>, write_pool: Pool<D>) -> Self {
        Self { read_pool, write_pool }
    }
}

fn encode(value: &impl ToJson, what: &str) -> Result<String, StoreError> {
    value.to_json().map_err(|err| StoreError::InvalidInput(format!("cannot encode {what}: {err}")))
}

/// What the report tables store as JSON text.
trait ToJson {
    fn to_json(&self) -> Result<String, serde_json::Error>;
}

impl ToJson for serde_json::Value {
    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

impl ToJson for Vec<String> {
    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

fn as_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::InvalidInput(format!("{what} {value} is too large")))
}

#[async_trait]
impl<D> ReportStore for Reports<D>
where
    D: Run,
    for<'q> &'q str: Bind<'q, D>,
    for<'q> Option<&'q str>: Bind<'q, D>,
    for<'q> i64: Bind<'q, D>,
    for<'q> Option<i64>: Bind<'q, D>,
    for<'q> Option<&'q [u8]>: Bind<'q, D>,
{
    async fn create_report(
        &self,
        tenant: &TenantId,
        report: &NewReport,
        now: DateTime<Utc>,
    ) -> Result<StoredReport, StoreError> {
        let id = new_id();
        let spec = &report.spec;
        if !spec.filter.is_object() {
            return Err(StoreError::InvalidInput("a report's filter must be a JSON object".into()));
        }
        let filter = encode(&spec.filter, "filter")?;
        let mut sql = QueryBuilder::new(
            "INSERT INTO reports (id, tenant, kind, format, status, since, until, filter, subject, requested_by, \
             schedule_id, attempts, created_at) VALUES (",
        );
        sql.separated(", ")
            .push_bind(id.as_str())
            .push_bind(tenant.as_str())
            .push_bind(spec.kind.as_str())
            .push_bind(spec.format.as_str())
            .push_bind(ReportStatus::Pending.as_str())
            .push_bind(D::time(&spec.since))
            .push_bind(D::time(&spec.until))
            .push_bind(filter.as_str())
            .push_bind(spec.subject.as_deref())
            .push_bind(report.requested_by.as_str())
            .push_bind(report.schedule_id.as_deref())
            .push("0")
            .push_bind(D::time(&now));
        sql.push(")");
        let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
        D::execute(&mut conn, sql).await?;
        drop(conn);
        self.get_report(tenant, &id).await?.ok_or_else(|| StoreError::Corrupt("the new report is missing".into()))
    }

    async fn get_report(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredReport>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{REPORT_SELECT} WHERE tenant = "));
        sql.push_bind(tenant.as_str()).push(" AND id = ").push_bind(id);
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_optional(&mut conn, sql).await?.as_ref().map(decode_report).transpose()
    }

    async fn list_reports(
        &self,
        tenant: &TenantId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredReport>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{REPORT_SELECT} WHERE tenant = "));
        sql.push_bind(tenant.as_str());
        if let Some(before) = before {
            sql.push(" AND id < ").push_bind(before);
        }
        sql.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(limit));
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_report).collect()
    }

    async fn report_file(&self, tenant: &TenantId, id: &str) -> Result<Option<ReportFile>, StoreError> {
        let mut sql = QueryBuilder::new("SELECT content, evidence FROM reports WHERE tenant = ");
        sql.push_bind(tenant.as_str()).push(" AND id = ").push_bind(id).push(" AND status = 'done'");
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        let Some(row) = D::fetch_optional(&mut conn, sql).await? else {
            return Ok(None);
        };
        let content =
            row.opt_bytes("content")?.ok_or_else(|| StoreError::Corrupt("a done report has no file".into()))?;
        Ok(Some(ReportFile { content, evidence: row.opt_bytes("evidence")? }))
    }

    async fn claim_report(
        &self,
        which: ReportClaim<'_>,
        holder: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<StoredReport>, StoreError> {
        let mut tx = D::begin_write(&self.write_pool).await?;
        // Reports whose workers died too often are given up on, with the reason.
        let mut give_up = QueryBuilder::new("UPDATE reports SET status = 'failed', finished_at = ");
        give_up.push_bind(D::time(&now));
        give_up.push(format!(
            ", error = 'generation was started {MAX_ATTEMPTS} times and never finished', lease_holder = NULL, \
             lease_until = NULL WHERE status = 'running' AND lease_until <= "
        ));
        give_up.push_bind(D::time(&now)).push(" AND attempts >= ").push_bind(i64::from(MAX_ATTEMPTS));
        D::execute(&mut tx, give_up).await?;

        let claimable = |sql: &mut QueryBuilder<D>| {
            sql.push(" (status = 'pending' OR (status = 'running' AND lease_until <= ");
            sql.push_bind(D::time(&now)).push("))");
        };
        let mut find = QueryBuilder::new("SELECT id, tenant FROM reports WHERE");
        claimable(&mut find);
        match which {
            ReportClaim::Any => {}
            ReportClaim::OfTenant(tenant) => {
                find.push(" AND tenant = ").push_bind(tenant.as_str());
            }
            ReportClaim::One(tenant, id) => {
                find.push(" AND tenant = ").push_bind(tenant.as_str()).push(" AND id = ").push_bind(id);
            }
        }
        find.push(" ORDER BY created_at, id LIMIT 1");
        let Some(found) = D::fetch_optional(&mut tx, find).await? else {
            tx.commit().await.map_err(db_error)?;
            return Ok(None);
        };
        let (id, tenant) = (found.text("id")?, found.tenant("tenant")?);
        let mut claim =
            QueryBuilder::new("UPDATE reports SET status = 'running', attempts = attempts + 1, lease_holder = ");
        claim.push_bind(holder).push(", lease_until = ").push_bind(D::time(&lease_until));
        claim.push(", started_at = ").push_bind(D::time(&now));
        claim.push(" WHERE id = ").push_bind(id.as_str()).push(" AND");
        // Checked again under the row's lock: a claimer that waited for another finds it taken.
        claimable(&mut claim);
        let claimed = D::execute(&mut tx, claim).await? > 0;
        tx.commit().await.map_err(db_error)?;
        if !claimed {
            return Ok(None);
        }
        self.get_report(&tenant, &id).await
    }

    async fn finish_report(
        &self,
        tenant: &TenantId,
        id: &str,
        holder: &str,
        outcome: &ReportOutcome,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut sql = QueryBuilder::new("UPDATE reports SET lease_holder = NULL, lease_until = NULL, finished_at = ");
        sql.push_bind(D::time(&now));
        match outcome {
            ReportOutcome::Done { file, pages, events, sha256, checkpoint_size, checkpoint_root } => {
                sql.push(", status = 'done', error = NULL, pages = ").push_bind(pages.map(i64::from));
                sql.push(", events = ").push_bind(as_i64(*events, "events")?);
                sql.push(", sha256 = ").push_bind(sha256.as_str());
                sql.push(", checkpoint_size = ")
                    .push_bind(checkpoint_size.map(|size| as_i64(size, "tree size")).transpose()?);
                sql.push(", checkpoint_root = ").push_bind(checkpoint_root.as_deref());
                sql.push(", content = ").push_bind(Some(file.content.as_slice()));
                sql.push(", evidence = ").push_bind(file.evidence.as_deref());
            }
            ReportOutcome::Failed { error } => {
                sql.push(", status = 'failed', error = ").push_bind(error.as_str());
            }
        }
        sql.push(" WHERE tenant = ").push_bind(tenant.as_str()).push(" AND id = ").push_bind(id);
        sql.push(" AND status = 'running' AND lease_holder = ").push_bind(holder);
        let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
        Ok(D::execute(&mut conn, sql).await? > 0)
    }

    async fn create_schedule(
        &self,
        tenant: &TenantId,
        schedule: &NewSchedule,
        now: DateTime<Utc>,
    ) -> Result<StoredSchedule, StoreError> {
        let id = new_id();
        let (report, channels) = (encode_scheduled(&schedule.report), encode(&schedule.channels, "channels")?);
        let mut sql = QueryBuilder::new(
            "INSERT INTO report_schedules (id, tenant, name, cron, report, channels, next_run_at, created_at, \
             updated_at) VALUES (",
        );
        sql.separated(", ")
            .push_bind(id.as_str())
            .push_bind(tenant.as_str())
            .push_bind(schedule.name.as_str())
            .push_bind(schedule.cron.as_str())
            .push_bind(report.as_str())
            .push_bind(channels.as_str())
            .push_bind(D::time(&schedule.next_run_at))
            .push_bind(D::time(&now))
            .push_bind(D::time(&now));
        sql.push(")");
        let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
        D::execute(&mut conn, sql).await?;
        drop(conn);
        self.get_schedule(tenant, &id).await?.ok_or_else(|| StoreError::Corrupt("the new schedule is missing".into()))
    }

    async fn list_schedules(&self, tenant: &TenantId) -> Result<Vec<StoredSchedule>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{SCHEDULE_SELECT} WHERE tenant = "));
        sql.push_bind(tenant.as_str()).push(" ORDER BY created_at, id");
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_schedule).collect()
    }

    async fn get_schedule(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredSchedule>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{SCHEDULE_SELECT} WHERE tenant = "));
        sql.push_bind(tenant.as_str()).push(" AND id = ").push_bind(id);
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_optional(&mut conn, sql).await?.as_ref().map(decode_schedule).transpose()
    }

    async fn update_schedule(
        &self,
        tenant: &TenantId,
        id: &str,
        schedule: &NewSchedule,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredSchedule>, StoreError> {
        let (report, channels) = (encode_scheduled(&schedule.report), encode(&schedule.channels, "channels")?);
        let mut sql = QueryBuilder::new("UPDATE report_schedules SET name = ");
        sql.push_bind(schedule.name.as_str()).push(", cron = ").push_bind(schedule.cron.as_str());
        sql.push(", report = ").push_bind(report.as_str()).push(", channels = ").push_bind(channels.as_str());
        sql.push(", next_run_at = ").push_bind(D::time(&schedule.next_run_at));
        sql.push(", updated_at = ").push_bind(D::time(&now));
        sql.push(" WHERE tenant = ").push_bind(tenant.as_str()).push(" AND id = ").push_bind(id);
        let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
        let updated = D::execute(&mut conn, sql).await? > 0;
        drop(conn);
        if !updated {
            return Ok(None);
        }
        self.get_schedule(tenant, id).await
    }

    async fn delete_schedule(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        let mut tx = D::begin_write(&self.write_pool).await?;
        let mut runs = QueryBuilder::new("DELETE FROM report_runs WHERE tenant = ");
        runs.push_bind(tenant.as_str()).push(" AND schedule_id = ").push_bind(id);
        D::execute(&mut tx, runs).await?;
        let mut sql = QueryBuilder::new("DELETE FROM report_schedules WHERE tenant = ");
        sql.push_bind(tenant.as_str()).push(" AND id = ").push_bind(id);
        let deleted = D::execute(&mut tx, sql).await? > 0;
        tx.commit().await.map_err(db_error)?;
        Ok(deleted)
    }

    async fn due_schedules(&self, now: DateTime<Utc>) -> Result<Vec<StoredSchedule>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{SCHEDULE_SELECT} WHERE next_run_at <= "));
        sql.push_bind(D::time(&now)).push(" ORDER BY next_run_at, id");
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_schedule).collect()
    }

    async fn start_run(
        &self,
        schedule: &StoredSchedule,
        due: Option<DateTime<Utc>>,
        next_run_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<ScheduleRun>, StoreError> {
        let tenant = &schedule.tenant;
        let mut tx = D::begin_write(&self.write_pool).await?;
        if let Some(due) = &due {
            let mut advance = QueryBuilder::new("UPDATE report_schedules SET next_run_at = ");
            advance.push_bind(D::time(&next_run_at));
            advance
                .push(" WHERE tenant = ")
                .push_bind(tenant.as_str())
                .push(" AND id = ")
                .push_bind(schedule.id.as_str());
            // Under the row's lock: a replica that waited for another's move finds it moved.
            advance.push(" AND next_run_at = ").push_bind(D::time(due));
            if D::execute(&mut tx, advance).await? == 0 {
                return Ok(None);
            }
        }
        let run = ScheduleRun {
            id: new_id(),
            schedule_id: schedule.id.clone(),
            trigger: if due.is_some() { "schedule" } else { "manual" }.to_owned(),
            scheduled_for: normalize_time(due.unwrap_or(now)),
            report_id: None,
            status: RunStatus::Running,
            error: None,
            deliveries: serde_json::json!([]),
            created_at: normalize_time(now),
            finished_at: None,
        };
        let mut insert = QueryBuilder::new(
            "INSERT INTO report_runs (id, tenant, schedule_id, run_trigger, scheduled_for, status, deliveries, \
             created_at) VALUES (",
        );
        insert
            .separated(", ")
            .push_bind(run.id.as_str())
            .push_bind(tenant.as_str())
            .push_bind(run.schedule_id.as_str())
            .push_bind(run.trigger.as_str())
            .push_bind(D::time(&run.scheduled_for))
            .push_bind(run.status.as_str())
            .push("'[]'")
            .push_bind(D::time(&run.created_at));
        insert.push(")");
        D::execute(&mut tx, insert).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(Some(run))
    }

    async fn finish_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        end: &RunEnd,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let deliveries = encode(&end.deliveries, "deliveries")?;
        let mut sql = QueryBuilder::new("UPDATE report_runs SET status = ");
        sql.push_bind(end.status.as_str()).push(", report_id = ").push_bind(end.report_id.as_deref());
        sql.push(", error = ").push_bind(end.error.as_deref()).push(", deliveries = ").push_bind(deliveries.as_str());
        sql.push(", finished_at = ").push_bind(D::time(&now));
        sql.push(" WHERE tenant = ").push_bind(tenant.as_str()).push(" AND id = ").push_bind(run_id);
        let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
        D::execute(&mut conn, sql).await?;
        Ok(())
    }

    async fn list_runs(
        &self,
        tenant: &TenantId,
        schedule_id: &str,
        limit: u32,
    ) -> Result<Vec<ScheduleRun>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{RUN_SELECT} WHERE tenant = "));
        sql.push_bind(tenant.as_str()).push(" AND schedule_id = ").push_bind(schedule_id);
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(i64::from(limit));
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_run).collect()
    }
}
