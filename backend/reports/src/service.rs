//! [`Reports`]: the reports service the API, the CLI and the `reports` job share. Requests only
//! record a pending report and wake the worker; the worker claims reports one at a time under a
//! lease, gathers their data, renders the file with its evidence, and records the outcome
//! (a failure with its reason). Schedules make a report for their period and e-mail it through
//! the alerting system's e-mail channels, each due run exactly once across replicas.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use veritrail_alerts::Alerting;
use veritrail_alerts::deliver::FileMail;
use veritrail_core::alerting::ChannelKind;
use veritrail_core::anomalies::AnomalyStore;
use veritrail_core::event::{TenantId, format_time};
use veritrail_core::jobs::JobScope;
use veritrail_core::reports::{
    NewReport, NewSchedule, ReportClaim, ReportFile, ReportFormat, ReportOutcome, ReportSpec, ReportStatus,
    ReportStore, RunEnd, RunStatus, ScheduleRun, StoredReport, StoredSchedule,
};
use veritrail_core::store::{CheckpointStore, EventLog, StoreError};
use veritrail_core::transparency::{LogIdentity, bundle_of_events};
use veritrail_models::chat::ChatModel;

use crate::data::{ReportData, Sources, gather};
use crate::document::{render_csv, render_pdf};
use crate::request::{RequestError, ScheduleRequest, next_run, parse_cron, parse_schedule};

/// How long a worker holds a claimed report; a dead worker's report is taken again after it.
pub const DEFAULT_LEASE: chrono::Duration = chrono::Duration::minutes(10);
/// How long a schedule's run waits for a report another worker claimed first.
const WAIT_FOR_OTHER_WORKER: std::time::Duration = std::time::Duration::from_secs(600);

/// Why a schedule was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RequestError> for ScheduleError {
    fn from(error: RequestError) -> Self {
        Self::Invalid(error.0)
    }
}

/// The ports and collaborators of the reports service.
pub struct ReportsParts {
    pub store: Arc<dyn ReportStore>,
    pub events: Arc<dyn EventLog>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub anomalies: Arc<dyn AnomalyStore>,
    pub log: Arc<LogIdentity>,
    pub alerting: Arc<Alerting>,
    /// Rewrites summaries when configured.
    pub chat: Option<Arc<dyn ChatModel>>,
}

/// The shared reports service.
pub struct Reports {
    parts: ReportsParts,
    /// This process's name in leases.
    holder: String,
    wake: Notify,
    lease: chrono::Duration,
}

impl Reports {
    pub fn new(parts: ReportsParts) -> Self {
        Self {
            parts,
            holder: format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple()),
            wake: Notify::new(),
            lease: DEFAULT_LEASE,
        }
    }

    pub fn store(&self) -> &Arc<dyn ReportStore> {
        &self.parts.store
    }

    /// Records a pending report and wakes the worker; generation never happens in the caller.
    pub async fn request(
        &self,
        tenant: &TenantId,
        spec: ReportSpec,
        requested_by: &str,
        now: DateTime<Utc>,
    ) -> Result<StoredReport, StoreError> {
        let report = NewReport { spec, requested_by: requested_by.to_owned(), schedule_id: None };
        let stored = self.parts.store.create_report(tenant, &report, now).await?;
        tracing::info!(%tenant, report = %stored.id, kind = stored.spec.kind.as_str(), by = requested_by, "report requested");
        self.wake.notify_one();
        Ok(stored)
    }

    /// Resolves when reports were requested since the last call (the worker's wake-up).
    pub async fn requested(&self) {
        self.wake.notified().await;
    }

    /// Generates the pending reports of `scope` (and those whose worker died) until none is
    /// left; how many were generated.
    pub async fn work(&self, scope: &JobScope) -> Result<u32, StoreError> {
        let which = scope.tenant().map_or(ReportClaim::Any, ReportClaim::OfTenant);
        let mut made = 0;
        while let Some(report) = self.claim(which).await? {
            self.generate_claimed(&report).await?;
            made += 1;
        }
        Ok(made)
    }

    async fn claim(&self, which: ReportClaim<'_>) -> Result<Option<StoredReport>, StoreError> {
        let now = Utc::now();
        self.parts.store.claim_report(which, &self.holder, now, now + self.lease).await
    }

    /// Generates one report now in this process (the CLI, a schedule's run): claims it, or
    /// waits for the worker that claimed it first; answers with the finished report.
    pub async fn generate(&self, tenant: &TenantId, id: &str) -> Result<StoredReport, StoreError> {
        if let Some(report) = self.claim(ReportClaim::One(tenant, id)).await? {
            self.generate_claimed(&report).await?;
        }
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHER_WORKER;
        loop {
            let report = self
                .parts
                .store
                .get_report(tenant, id)
                .await?
                .ok_or_else(|| StoreError::InvalidInput(format!("no report {id}")))?;
            let finished = matches!(report.status, ReportStatus::Done | ReportStatus::Failed);
            if finished || tokio::time::Instant::now() >= deadline {
                return Ok(report);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    async fn generate_claimed(&self, report: &StoredReport) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let outcome = match self.make(report).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::error!(tenant = %report.tenant, report = %report.id, %error, "report generation failed");
                ReportOutcome::Failed { error }
            }
        };
        if let ReportOutcome::Done { pages, events, .. } = &outcome {
            tracing::info!(tenant = %report.tenant, report = %report.id, pages, events, elapsed = ?started.elapsed(), "report generated");
        }
        if !self.parts.store.finish_report(&report.tenant, &report.id, &self.holder, &outcome, Utc::now()).await? {
            tracing::warn!(report = %report.id, "the report's lease ran out before it was finished; another worker has it");
        }
        Ok(())
    }

    /// Gathers, summarises and renders a report with its evidence.
    async fn make(&self, report: &StoredReport) -> Result<ReportOutcome, String> {
        let now = Utc::now();
        let sources = Sources {
            events: self.parts.events.as_ref(),
            checkpoints: self.parts.checkpoints.as_ref(),
            anomalies: self.parts.anomalies.as_ref(),
            log: &self.parts.log,
        };
        let mut data = gather(&sources, report, now).await.map_err(|error| error.to_string())?;
        let (summary, by) = crate::summary::summarise(&data, self.parts.chat.as_deref()).await;
        data.summary = summary;
        data.summary_by = by;
        let evidence = self.evidence(&data).await?;
        let (content, pages) = match report.spec.format {
            ReportFormat::Pdf => {
                let data = Arc::new(data.clone());
                let bytes = evidence.clone();
                // Layout and compression are CPU work: off the async executor.
                let rendered = tokio::task::spawn_blocking(move || {
                    render_pdf(&data, bytes.as_ref().map(|(tar, events)| (tar.as_slice(), *events)))
                })
                .await
                .map_err(|error| format!("the PDF renderer stopped: {error}"))??;
                (rendered.bytes, Some(rendered.pages))
            }
            ReportFormat::Csv => (render_csv(&data), None),
        };
        let sha256 = hex::encode(Sha256::digest(&content));
        Ok(ReportOutcome::Done {
            file: ReportFile { content, evidence: evidence.map(|(tar, _)| tar) },
            pages,
            events: match report.spec.kind {
                veritrail_core::reports::ReportKind::Anomalies => data.anomaly_events.len() as u64,
                _ => data.events.len() as u64,
            },
            sha256,
            checkpoint_size: data.checkpoint.as_ref().map(|checkpoint| checkpoint.tree_size),
            checkpoint_root: data.checkpoint.as_ref().map(|checkpoint| checkpoint.root_hash.to_hex()),
        })
    }

    /// The evidence bundle of the report's events (a tar archive) and how many it holds; `None`
    /// when the log is empty (there is no checkpoint to prove anything against).
    async fn evidence(&self, data: &ReportData) -> Result<Option<(Vec<u8>, usize)>, String> {
        let Some(checkpoint) = &data.checkpoint else {
            return Ok(None);
        };
        let events = data.evidence_events();
        let spec = &data.report.spec;
        let bundle = bundle_of_events(
            self.parts.events.as_ref(),
            &self.parts.log,
            data.tenant(),
            checkpoint,
            &events,
            Some(spec.since),
            Some(spec.until),
            data.generated_at,
        )
        .await
        .map_err(|error| format!("cannot assemble the evidence bundle: {error}"))?;
        let tar = bundle.to_tar().map_err(|error| error.to_string())?;
        Ok(Some((tar, events.len())))
    }

    /// Checks a schedule request's channels: each must be one of the tenant's e-mail channels.
    async fn check_channels(&self, tenant: &TenantId, request: &ScheduleRequest) -> Result<(), ScheduleError> {
        for id in &request.channels {
            match self.parts.alerting.store().get_channel(tenant, id).await? {
                Some(channel) if channel.channel.kind == ChannelKind::Email => {}
                Some(channel) => {
                    return Err(ScheduleError::Invalid(format!(
                        "channels: {id} is a {} channel; reports are sent by e-mail channels",
                        channel.channel.kind.as_str()
                    )));
                }
                None => return Err(ScheduleError::Invalid(format!("channels: no channel {id}"))),
            }
        }
        Ok(())
    }

    fn new_schedule(request: ScheduleRequest, now: DateTime<Utc>) -> Result<NewSchedule, ScheduleError> {
        let cron = parse_cron(&request.cron)?;
        Ok(NewSchedule {
            next_run_at: next_run(&cron, now)?,
            name: request.name,
            cron: request.cron,
            report: request.report,
            channels: request.channels,
        })
    }

    /// Validates and stores a schedule (`POST /api/v1/reports/schedules`).
    pub async fn create_schedule(
        &self,
        tenant: &TenantId,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<StoredSchedule, ScheduleError> {
        let request = parse_schedule(body)?;
        self.check_channels(tenant, &request).await?;
        Ok(self.parts.store.create_schedule(tenant, &Self::new_schedule(request, now)?, now).await?)
    }

    /// Validates and replaces a schedule; `None` when the tenant has no such schedule.
    pub async fn update_schedule(
        &self,
        tenant: &TenantId,
        id: &str,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<Option<StoredSchedule>, ScheduleError> {
        let request = parse_schedule(body)?;
        if self.parts.store.get_schedule(tenant, id).await?.is_none() {
            return Ok(None);
        }
        self.check_channels(tenant, &request).await?;
        Ok(self.parts.store.update_schedule(tenant, id, &Self::new_schedule(request, now)?, now).await?)
    }

    /// The `reports` job over `scope`: runs every due schedule once (exactly once across
    /// replicas), then generates reports left pending.
    pub async fn run_due(&self, scope: &JobScope, now: DateTime<Utc>) -> Result<Value, StoreError> {
        let mut runs = Vec::new();
        let due = self.parts.store.due_schedules(now).await?;
        for schedule in due.into_iter().filter(|schedule| scope.covers(&schedule.tenant)) {
            let next = parse_cron(&schedule.cron).and_then(|cron| next_run(&cron, now));
            let next = match next {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(schedule = %schedule.id, %error, "a stored schedule's cron no longer parses");
                    continue;
                }
            };
            let due = schedule.next_run_at;
            match self.run_schedule(&schedule, Some(due), next, now).await? {
                Some(run) => runs.push(json!({"tenant": schedule.tenant, "schedule": schedule.id, "run": run})),
                None => tracing::info!(schedule = %schedule.id, "another replica took this run"),
            }
        }
        let generated = self.work(scope).await?;
        Ok(json!({"runs": runs, "generated": generated}))
    }

    /// Runs a schedule now (`POST /api/v1/reports/schedules/{id}/run`).
    pub async fn run_now(&self, schedule: &StoredSchedule, now: DateTime<Utc>) -> Result<ScheduleRun, StoreError> {
        self.run_schedule(schedule, None, schedule.next_run_at, now)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a manual run was not recorded".into()))
    }

    /// One run: claims it (scheduled runs: once across replicas), makes the report of the
    /// period ending now, e-mails it to every channel, and records how that went.
    async fn run_schedule(
        &self,
        schedule: &StoredSchedule,
        due: Option<DateTime<Utc>>,
        next: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<ScheduleRun>, StoreError> {
        let Some(mut run) = self.parts.store.start_run(schedule, due, next, now).await? else {
            return Ok(None);
        };
        let tenant = &schedule.tenant;
        let until = due.unwrap_or(now);
        let spec = ReportSpec {
            kind: schedule.report.kind,
            format: schedule.report.format,
            since: until - schedule.report.period.duration(),
            until,
            filter: schedule.report.filter.clone(),
            subject: schedule.report.subject.clone(),
        };
        let new = NewReport {
            spec,
            requested_by: format!("schedule:{}", schedule.id),
            schedule_id: Some(schedule.id.clone()),
        };
        let report = self.parts.store.create_report(tenant, &new, now).await?;
        let report = self.generate(tenant, &report.id).await?;
        let mut end =
            RunEnd { report_id: Some(report.id.clone()), status: RunStatus::Sent, error: None, deliveries: json!([]) };
        if report.status != ReportStatus::Done {
            end.status = RunStatus::Failed;
            end.error = Some(report.error.clone().unwrap_or_else(|| "the report was not generated".to_owned()));
        } else {
            let file = self.parts.store.report_file(tenant, &report.id).await?;
            let file = file.ok_or_else(|| StoreError::Corrupt("a done report has no file".into()))?;
            let mail = self.mail(schedule, &report, &run, file.content);
            let mut deliveries = Vec::new();
            for channel in &schedule.channels {
                match self.parts.alerting.send_file(tenant, channel, &mail).await {
                    Ok(receipt) => {
                        deliveries.push(json!({"channel": channel, "status": "delivered", "reply": receipt.status}))
                    }
                    Err(error) => {
                        tracing::error!(%tenant, schedule = %schedule.id, %channel, %error, "a scheduled report could not be sent");
                        deliveries.push(json!({"channel": channel, "status": "failed", "error": error.message}));
                        end.status = RunStatus::Failed;
                        end.error = Some(format!("channel {channel}: {}", error.message));
                    }
                }
            }
            end.deliveries = Value::Array(deliveries);
        }
        self.parts.store.finish_run(tenant, &run.id, &end, Utc::now()).await?;
        run.report_id = end.report_id;
        run.status = end.status;
        run.error = end.error;
        run.deliveries = end.deliveries;
        run.finished_at = Some(Utc::now());
        Ok(Some(run))
    }

    fn mail(&self, schedule: &StoredSchedule, report: &StoredReport, run: &ScheduleRun, content: Vec<u8>) -> FileMail {
        let spec = &report.spec;
        let events = report.events.unwrap_or(0);
        let period = format!("{} to {}", format_time(&spec.since), format_time(&spec.until));
        let what = if events == 0 {
            "No events were recorded in this period; the attached report says so and carries the signed checkpoint it was built against.".to_owned()
        } else {
            format!("The attached report covers {events} events.")
        };
        let text = format!(
            "Scheduled report \"{}\" of tenant {}\nKind: {}\nPeriod: {period}\n\n{what}\n\nSigned checkpoint: tree size {}, root hash {}\nSHA-256 of the attachment: {}\nReport id: {}\n",
            schedule.name,
            schedule.tenant,
            spec.kind.as_str(),
            report.checkpoint_size.map_or_else(|| "none".to_owned(), |size| size.to_string()),
            report.checkpoint_root.as_deref().unwrap_or("none"),
            report.sha256.as_deref().unwrap_or(""),
            report.id,
        );
        FileMail {
            subject: format!("[Veritrail] {} report for {}: {period}", spec.kind.as_str(), schedule.tenant),
            text,
            id: run.id.clone(),
            file_name: format!(
                "veritrail-{}-{}-{}.{}",
                spec.kind.as_str(),
                schedule.tenant,
                spec.until.format("%Y%m%dT%H%M%SZ"),
                spec.format.as_str()
            ),
            content_type: match spec.format {
                ReportFormat::Pdf => "application/pdf".to_owned(),
                ReportFormat::Csv => "text/csv; charset=utf-8".to_owned(),
            },
            bytes: content,
        }
    }
}
