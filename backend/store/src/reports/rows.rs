//! The report tables' columns as both backends select them, and the row decoders.

use veritrail_core::reports::{ReportSpec, ScheduleRun, ScheduledReport, StoredReport, StoredSchedule};
use veritrail_core::store::StoreError;

use crate::columns::{Columns, json_error};

/// A report without its file; append `WHERE ...`.
pub(super) const REPORT_SELECT: &str = "SELECT id, tenant, kind, format, status, since, until, filter, subject, \
     requested_by, schedule_id, attempts, created_at, started_at, finished_at, pages, events, sha256, \
     checkpoint_size, checkpoint_root, error FROM reports";

/// A schedule; append `WHERE ...`.
pub(super) const SCHEDULE_SELECT: &str =
    "SELECT id, tenant, name, cron, report, channels, next_run_at, created_at, updated_at FROM report_schedules";

/// A run; append `WHERE ...`.
pub(super) const RUN_SELECT: &str = "SELECT id, schedule_id, run_trigger, scheduled_for, report_id, status, error, \
     deliveries, created_at, finished_at FROM report_runs";

fn unsigned(row: &impl Columns, column: &str) -> Result<Option<u64>, StoreError> {
    row.opt_int(column)?
        .map(|value| u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} {value} is negative"))))
        .transpose()
}

pub(super) fn decode_report(row: &impl Columns) -> Result<StoredReport, StoreError> {
    Ok(StoredReport {
        id: row.text("id")?,
        tenant: row.tenant("tenant")?,
        spec: ReportSpec {
            kind: row.parsed("kind")?,
            format: row.parsed("format")?,
            since: row.time("since")?,
            until: row.time("until")?,
            filter: row.json("filter")?,
            subject: row.opt_text("subject")?,
        },
        status: row.parsed("status")?,
        requested_by: row.text("requested_by")?,
        schedule_id: row.opt_text("schedule_id")?,
        attempts: row.count("attempts")?,
        created_at: row.time("created_at")?,
        started_at: row.opt_time("started_at")?,
        finished_at: row.opt_time("finished_at")?,
        pages: unsigned(row, "pages")?.map(|pages| pages as u32),
        events: unsigned(row, "events")?,
        sha256: row.opt_text("sha256")?,
        checkpoint_size: unsigned(row, "checkpoint_size")?,
        checkpoint_root: row.opt_text("checkpoint_root")?,
        error: row.opt_text("error")?,
    })
}

/// The JSON stored for a schedule's report.
pub(super) fn encode_scheduled(report: &ScheduledReport) -> String {
    let mut value = serde_json::json!({
        "kind": report.kind.as_str(),
        "format": report.format.as_str(),
        "period": report.period.as_str(),
        "filter": report.filter,
    });
    if let Some(subject) = &report.subject {
        value["subject"] = subject.clone().into();
    }
    value.to_string()
}

fn decode_scheduled(text: &str) -> Result<ScheduledReport, StoreError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(json_error("report"))?;
    let field = |name: &str| {
        value
            .get(name)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| StoreError::Corrupt(format!("report.{name} is missing")))
    };
    let parse = |name: &str| -> Result<String, StoreError> { field(name).map(str::to_owned) };
    Ok(ScheduledReport {
        kind: parse("kind")?.parse().map_err(StoreError::Corrupt)?,
        format: parse("format")?.parse().map_err(StoreError::Corrupt)?,
        period: parse("period")?.parse().map_err(StoreError::Corrupt)?,
        filter: value.get("filter").cloned().unwrap_or_else(|| serde_json::json!({})),
        subject: value.get("subject").and_then(serde_json::Value::as_str).map(str::to_owned),
    })
}

pub(super) fn decode_schedule(row: &impl Columns) -> Result<StoredSchedule, StoreError> {
    Ok(StoredSchedule {
        id: row.text("id")?,
        tenant: row.tenant("tenant")?,
        name: row.text("name")?,
        cron: row.text("cron")?,
        report: decode_scheduled(&row.text("report")?)?,
        channels: serde_json::from_str(&row.text("channels")?).map_err(json_error("channels"))?,
        next_run_at: row.time("next_run_at")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(super) fn decode_run(row: &impl Columns) -> Result<ScheduleRun, StoreError> {
    Ok(ScheduleRun {
        id: row.text("id")?,
        schedule_id: row.text("schedule_id")?,
        trigger: row.text("run_trigger")?,
        scheduled_for: row.time("scheduled_for")?,
        report_id: row.opt_text("report_id")?,
        status: row.parsed("status")?,
        error: row.opt_text("error")?,
        deliveries: row.json("deliveries")?,
        created_at: row.time("created_at")?,
        finished_at: row.opt_time("finished_at")?,
    })
}
