//! `veritrail report`: reports from the command line, made exactly as the API's worker makes
//! them (the report is recorded, then generated in this process) and written to a file.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde_json::json;
use veritrail_core::event::TenantId;
use veritrail_core::reports::{ReportSpec, ReportStatus, StoredReport};
use veritrail_reports::Reports;
use veritrail_store::Store;

use crate::config::Config;

/// The reports service of a CLI process.
pub fn service(config: &Config, store: &Store) -> anyhow::Result<Arc<Reports>> {
    let log = Arc::new(crate::log_key::load_identity(config)?);
    let alerting = crate::app::build_alerting(config, store)?;
    let models = crate::search_setup::SearchModels::from_config(config)?;
    Ok(crate::app::build_reports(store, &log, &alerting, &models))
}

/// A report as printed: the fields of `GET /api/v1/reports/{id}`.
pub fn describe(report: &StoredReport) -> serde_json::Value {
    json!({
        "id": report.id,
        "tenant": report.tenant,
        "kind": report.spec.kind.as_str(),
        "format": report.spec.format.as_str(),
        "status": report.status.as_str(),
        "since": report.spec.since,
        "until": report.spec.until,
        "filter": report.spec.filter,
        "subject": report.spec.subject,
        "created_at": report.created_at,
        "finished_at": report.finished_at,
        "pages": report.pages,
        "events": report.events,
        "sha256": report.sha256,
        "checkpoint": report.checkpoint_size.map(|size| json!({"tree_size": size, "root_hash": report.checkpoint_root})),
        "error": report.error,
    })
}

/// Records and generates a report; fails when its generation failed.
pub async fn create(reports: &Reports, tenant: &TenantId, spec: ReportSpec) -> anyhow::Result<StoredReport> {
    let requested = reports.request(tenant, spec, "cli", chrono::Utc::now()).await?;
    let report = reports.generate(tenant, &requested.id).await?;
    if report.status != ReportStatus::Done {
        anyhow::bail!(
            "report {} {}: {}",
            report.id,
            report.status.as_str(),
            report.error.as_deref().unwrap_or("not finished in time")
        );
    }
    Ok(report)
}

/// Writes a done report's file (and its evidence bundle when `evidence` is given).
pub async fn download(
    reports: &Reports,
    tenant: &TenantId,
    id: &str,
    output: &Path,
    evidence: Option<&Path>,
) -> anyhow::Result<()> {
    let file = reports
        .store()
        .report_file(tenant, id)
        .await?
        .with_context(|| format!("no done report {id} in tenant {tenant}"))?;
    std::fs::write(output, &file.content).with_context(|| format!("write {}", output.display()))?;
    if let Some(path) = evidence {
        let bundle = file.evidence.context("the report has no evidence bundle: the log was empty")?;
        std::fs::write(path, bundle).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}
