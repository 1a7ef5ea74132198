//! The background jobs of `veritrail serve` and what each one does, wired to the scheduler.
//!
//! - `checkpoint`: publish a signed checkpoint for each tenant whose tree grew;
//! - `integrity-check`: verify what is new since the last run (everything every N-th run);
//!   failures are logged at ERROR, shown on `/readyz` and recorded as `critical` events.
//!
//! - `anomaly-detection`: score the windows completed since the last run and store what is
//!   unusual, with its narrative and events;
//! - `alert-delivery`: send the due deliveries of the alert outbox (new alerts also wake the
//!   worker at once, see [`crate::app`]); anomaly detection raises alerts by the anomaly rules
//!   for every stored anomaly not yet alerted on (so a run whose alerting failed is made up by
//!   the next) and integrity failures alert every channel of the tenant;
//! - `event-alerts`: evaluate the events appended since each tenant's event cursor against its
//!   event rules, in batches, moving the cursor with the alerts they raise (appends also wake it
//!   at once);
//! - `embed-backfill`: search documents for new events and vectors for texts without one
//!   (loading the local model first if its files have appeared since start-up).
//!
//! - `reports`: send the scheduled reports that are due, by e-mail, and generate reports left
//!   pending (requests also wake the report worker at once).
//!
//! Per-tenant results go under `details.tenants.<tenant>` of the run record, so the API can show
//! each caller only its own tenant.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use veritrail_alerts::Alerting;
use veritrail_core::activity::IngestActivity;
use veritrail_core::integrity::IntegrityMonitor;
use veritrail_core::jobs::JobScope;
use veritrail_core::transparency::{LogIdentity, publish_checkpoints};
use veritrail_reports::Reports;
use veritrail_scheduler::{Job, Scheduled, Scheduler, SystemClock};
use veritrail_search::indexer::{Indexer, IndexerSettings, StopSignal};
use veritrail_store::Store;

use crate::config::Config;
use crate::search_setup::SearchModels;

/// The `checkpoint` job.
pub struct CheckpointJob {
    pub store: Store,
    pub log: Arc<LogIdentity>,
}

#[async_trait]
impl Job for CheckpointJob {
    fn name(&self) -> &'static str {
        "checkpoint"
    }

    async fn run(&self, scope: &JobScope) -> anyhow::Result<Value> {
        let outcomes = publish_checkpoints(
            self.store.events.as_ref(),
            self.store.checkpoints.as_ref(),
            &self.log,
            scope,
            chrono::Utc::now(),
        )
        .await?;
        let mut tenants = Map::new();
        let mut published = 0;
        for outcome in outcomes {
            let latest = self.store.checkpoints.latest_checkpoint(&outcome.tenant).await?;
            if let Some(checkpoint) = &outcome.published {
                published += 1;
                tracing::info!(job = "checkpoint", tenant = %outcome.tenant, tree_size = checkpoint.tree_size, root = %checkpoint.root_hash, "published checkpoint");
            }
            tenants.insert(outcome.tenant.to_string(), json!({"published": outcome.published, "latest": latest}));
        }
        Ok(json!({"published": published, "tenants": tenants}))
    }
}

/// The `integrity-check` job.
pub struct IntegrityJob {
    pub store: Store,
    pub log: Arc<LogIdentity>,
    pub monitor: Arc<IntegrityMonitor>,
    pub alerting: Arc<Alerting>,
    /// Every this many runs the check starts over from seq 0.
    pub full_every_runs: u64,
    runs: AtomicU64,
}

impl IntegrityJob {
    pub fn new(
        store: Store,
        log: Arc<LogIdentity>,
        monitor: Arc<IntegrityMonitor>,
        alerting: Arc<Alerting>,
        full_every_runs: u64,
    ) -> Self {
        Self { store, log, monitor, alerting, full_every_runs: full_every_runs.max(1), runs: AtomicU64::new(0) }
    }
}

#[async_trait]
impl Job for IntegrityJob {
    fn name(&self) -> &'static str {
        "integrity-check"
    }

    async fn run(&self, scope: &JobScope) -> anyhow::Result<Value> {
        // The first run after start-up is full anyway: there are no cursors yet.
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        let full = run > 0 && run.is_multiple_of(self.full_every_runs);
        let status = self
            .monitor
            .run_job_alerting(
                self.store.events.as_ref(),
                self.store.checkpoints.as_ref(),
                &self.log,
                scope,
                full,
                Some(self.alerting.as_ref()),
                chrono::Utc::now(),
            )
            .await?;
        let mut tenants = Map::new();
        for tenant in &status.tenants {
            let failures: Vec<_> = status.failures.iter().filter(|failure| &failure.tenant == tenant).collect();
            let state = if failures.is_empty() { "ok" } else { "failed" };
            let checked = status.checked_by_tenant.get(tenant).copied().unwrap_or(0);
            tenants
                .insert(tenant.to_string(), json!({"status": state, "events_checked": checked, "failures": failures}));
        }
        Ok(json!({
            "status": status.status,
            "full": full,
            "events_checked": status.events_checked,
            "tenants": tenants,
        }))
    }
}

/// The `embed-backfill` job.
pub struct EmbedBackfillJob {
    pub indexer: Indexer,
    pub models: SearchModels,
}

#[async_trait]
impl Job for EmbedBackfillJob {
    fn name(&self) -> &'static str {
        "embed-backfill"
    }

    async fn run(&self, scope: &JobScope) -> anyhow::Result<Value> {
        self.models.load_if_appeared().await;
        let mut tenants = Map::new();
        let (mut documents, mut embedded) = (0u64, 0u64);
        for (tenant, report) in self.indexer.run(scope).await? {
            documents += report.documents_added;
            embedded += report.texts_embedded;
            if report.texts_embedded > 0 {
                tracing::info!(job = "embed-backfill", tenant = %tenant, texts = report.texts_embedded, seconds = report.embed_seconds, "embedded new texts");
            }
            tenants.insert(tenant.to_string(), serde_json::to_value(&report)?);
        }
        Ok(json!({
            "documents_added": documents,
            "texts_embedded": embedded,
            "search": self.models.status(),
            "tenants": tenants,
        }))
    }
}

/// The `anomaly-detection` job.
pub struct AnomalyDetectionJob {
    pub store: Store,
    pub config: veritrail_models::anomaly::AnomalyConfig,
    pub alerting: Arc<Alerting>,
}

#[async_trait]
impl Job for AnomalyDetectionJob {
    fn name(&self) -> &'static str {
        "anomaly-detection"
    }

    async fn run(&self, scope: &JobScope) -> anyhow::Result<Value> {
        let mut tenants = Map::new();
        let mut found = 0;
        let mut alerts = 0;
        let now = chrono::Utc::now();
        for tenant in scope.tenants(self.store.events.as_ref()).await? {
            let detected = crate::anomaly_job::detect_tenant(&self.store, &tenant, &self.config, now).await;
            // Raised whether or not detection worked: this also raises the anomalies an earlier
            // run stored but could not alert on (they stay marked not alerted until it works).
            let raised = self.alerting.alert_pending_anomalies(&tenant, now).await;
            let report = detected?;
            found += report.new_anomalies;
            let mut details = serde_json::to_value(&report)?;
            match raised {
                Ok(raised) => {
                    alerts += raised.alerts;
                    details["alerts"] = serde_json::to_value(raised)?;
                }
                Err(error) => {
                    tracing::error!(job = "anomaly-detection", tenant = %tenant, %error, "could not raise alerts; the next run retries");
                    details["alerts_error"] = json!(error.to_string());
                }
            }
            tenants.insert(tenant.to_string(), details);
        }
        Ok(json!({"new_anomalies": found, "alerts": alerts, "tenants": tenants}))
    }
}

/// The `alert-delivery` job: one worker step over the outbox.
pub struct AlertDeliveryJob {
    pub alerting: Arc<Alerting>,
}

#[async_trait]
impl Job for AlertDeliveryJob {
    fn name(&self) -> &'static str {
        "alert-delivery"
    }

    async fn run(&self, scope: &JobScope) -> anyhow::Result<Value> {
        let report = serde_json::to_value(self.alerting.deliver_due(scope.tenant()).await?)?;
        // A run over every tenant sends from one outbox: its counts are nobody's in particular.
        Ok(match scope.tenant() {
            Some(tenant) => json!({"tenants": {tenant.as_str(): report}}),
            None => report,
        })
    }
}

/// The `event-alerts` job: evaluates each tenant's events after its event cursor against its
/// event rules (appends also wake the evaluator at once, see [`crate::app`]).
pub struct EventAlertsJob {
    pub store: Store,
    pub alerting: Arc<Alerting>,
}

#[async_trait]
impl Job for EventAlertsJob {
    fn name(&self) -> &'static str {
        "event-alerts"
    }

    async fn run(&self, scope: &JobScope) -> anyhow::Result<Value> {
        let mut tenants = Map::new();
        let (mut evaluated, mut alerts) = (0, 0);
        for tenant in scope.tenants(self.store.events.as_ref()).await? {
            let pass = self.alerting.alert_new_events(self.store.events.as_ref(), &tenant, chrono::Utc::now()).await?;
            evaluated += pass.evaluated;
            alerts += pass.raised.alerts;
            tenants.insert(tenant.to_string(), serde_json::to_value(pass)?);
        }
        Ok(json!({"evaluated": evaluated, "alerts": alerts, "tenants": tenants}))
    }
}

/// The `reports` job: sends the scheduled reports that are due (each due run exactly once
/// across replicas) and generates reports left pending.
pub struct ReportsJob {
    pub reports: Arc<Reports>,
}

#[async_trait]
impl Job for ReportsJob {
    fn name(&self) -> &'static str {
        "reports"
    }

    async fn run(&self, scope: &JobScope) -> anyhow::Result<Value> {
        let details = self.reports.run_due(scope, chrono::Utc::now()).await?;
        let mut tenants = Map::new();
        for run in details["runs"].as_array().into_iter().flatten() {
            let tenant = run["tenant"].as_str().unwrap_or_default().to_owned();
            let entry = tenants.entry(tenant).or_insert_with(|| json!({"runs": []}));
            if let Some(list) = entry["runs"].as_array_mut() {
                list.push(run["run"].clone());
            }
        }
        Ok(
            json!({"runs": details["runs"].as_array().map_or(0, Vec::len), "generated": details["generated"], "tenants": tenants}),
        )
    }
}

/// Builds the scheduler with every job and its configured schedule (an empty schedule means on
/// demand only). `stop` ends a running back-fill between two batches (at shutdown); the
/// back-fill yields to ingest as `activity` says.
#[allow(clippy::too_many_arguments)] // one collaborator per job family; a struct would only rename them
pub fn scheduler(
    config: &Config,
    store: &Store,
    log: &Arc<LogIdentity>,
    monitor: &Arc<IntegrityMonitor>,
    models: &SearchModels,
    alerting: &Arc<Alerting>,
    reports: &Arc<Reports>,
    stop: &StopSignal,
    activity: &Arc<IngestActivity>,
) -> Scheduler {
    // SQLite has one write lock, which appends wait for: index in short transactions while
    // ingest is busy.
    let indexer_settings = match store.backend {
        veritrail_store::Backend::Sqlite => IndexerSettings::single_writer(),
        veritrail_store::Backend::Postgres => IndexerSettings::default(),
    };
    let schedule = |cron: &str| (!cron.trim().is_empty()).then(|| cron.trim().to_owned());
    let jobs = vec![
        Scheduled {
            job: Arc::new(CheckpointJob { store: store.clone(), log: log.clone() }),
            cron: schedule(&config.checkpoints.schedule),
            run_at_start: true,
        },
        Scheduled {
            job: Arc::new(IntegrityJob::new(
                store.clone(),
                log.clone(),
                monitor.clone(),
                alerting.clone(),
                config.integrity.full_every_runs,
            )),
            cron: schedule(&config.integrity.schedule),
            run_at_start: true,
        },
        Scheduled {
            job: Arc::new(EmbedBackfillJob {
                indexer: Indexer::new(
                    store.events.clone(),
                    store.search.clone(),
                    models.embedder.clone(),
                    indexer_settings,
                )
                .with_stop(stop.clone())
                .with_activity(activity.clone()),
                models: models.clone(),
            }),
            cron: schedule(&config.search.schedule),
            run_at_start: true,
        },
        Scheduled {
            job: Arc::new(AnomalyDetectionJob {
                store: store.clone(),
                config: config.anomalies.detector(),
                alerting: alerting.clone(),
            }),
            cron: schedule(&config.anomalies.schedule),
            run_at_start: false,
        },
        Scheduled {
            job: Arc::new(EventAlertsJob { store: store.clone(), alerting: alerting.clone() }),
            cron: schedule(&config.alerts.event_schedule),
            // Events a previous run of the server acknowledged but did not evaluate.
            run_at_start: true,
        },
        Scheduled {
            job: Arc::new(AlertDeliveryJob { alerting: alerting.clone() }),
            cron: schedule(&config.alerts.delivery_schedule),
            // Deliveries left pending by a previous run of the server go out at start-up.
            run_at_start: true,
        },
        Scheduled {
            job: Arc::new(ReportsJob { reports: reports.clone() }),
            cron: schedule(&config.reports.schedule),
            run_at_start: false,
        },
    ];
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
    // The two jobs that read (and hash, or score) everything new in one go wait for a gap in
    // ingest, at most one default interval; the others are small or pace themselves.
    Scheduler::new(jobs, store.jobs.clone(), Arc::new(SystemClock), holder).deferring(
        activity.clone(),
        &["integrity-check", "anomaly-detection"],
        std::time::Duration::from_secs(300),
    )
}
