//! Wiring: the storage, the API and the listener of `veritrail serve`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use veritrail_alerts::Alerting;
use veritrail_api::AppState;
use veritrail_api::auth::KeyCache;
use veritrail_core::activity::{IngestActivity, Pacer};
use veritrail_core::integrity::IntegrityMonitor;
use veritrail_core::store::EventLog;
use veritrail_core::transparency::LogIdentity;
use veritrail_reports::{Reports, ReportsParts};
use veritrail_scheduler::Scheduler;
use veritrail_store::Store;

use veritrail_search::SearchEngine;
use veritrail_search::indexer::StopSignal;

use crate::config::Config;
use crate::keys;
use crate::search_setup::SearchModels;

/// How long shutdown waits for running jobs to reach a point where they can stop.
const JOBS_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// A bound, ready-to-serve Veritrail. Binding happens in [`Application::build`], so tests that
/// use port 0 know the real port before the server runs and never need to wait or retry.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    store: Store,
    scheduler: Arc<Scheduler>,
    alerting: Arc<Alerting>,
    reports: Arc<Reports>,
    /// Stops the back-fill at shutdown: its inference would otherwise keep the cores busy, and
    /// the process alive, until its batch loop ran out.
    stop_jobs: StopSignal,
    /// How busy ingest is: background work yields to it.
    activity: Arc<IngestActivity>,
}

impl Application {
    /// Connects and migrates the database, creates the first admin key if there is none (from
    /// `bootstrap_secret` when given) and the first admin user if there is none
    /// (`auth.bootstrap_password`), and binds the listen address.
    /// A bootstrap key or password that is too weak is refused before anything is opened.
    pub async fn build(config: &Config, bootstrap_secret: Option<String>) -> anyhow::Result<Self> {
        config.limits.check().map_err(anyhow::Error::msg)?;
        let bootstrap_secret =
            bootstrap_secret.map(|secret| secret.trim().to_owned()).filter(|secret| !secret.is_empty());
        if let Some(secret) = &bootstrap_secret {
            crate::strength::check_bootstrap_key(secret).map_err(anyhow::Error::msg)?;
        }
        if let Some(password) = config.auth.bootstrap_password.exposed() {
            crate::strength::check_bootstrap_password(&password).map_err(anyhow::Error::msg)?;
        }
        let store = open_store(config).await?;
        keys::bootstrap(&store, bootstrap_secret).await?;
        crate::users::bootstrap(&store, config.auth.bootstrap_password.exposed()).await?;
        let log = Arc::new(crate::log_key::load_identity(config)?);
        let integrity = Arc::new(IntegrityMonitor::default());
        let models = SearchModels::from_config(config)?;
        let alerting = build_alerting(config, &store)?;
        let provisioned = alerting
            .provision(&config.alerts.channels, &config.alerts.rules, chrono::Utc::now())
            .await
            .map_err(|error| anyhow::anyhow!("alert channels and rules of the configuration: {error}"))?;
        if provisioned.channels_created + provisioned.rules_created > 0 {
            tracing::info!(
                channels = provisioned.channels_created,
                rules = provisioned.rules_created,
                "created the alert channels and rules of the configuration"
            );
        }
        let stop_jobs = StopSignal::default();
        let reports = build_reports(&store, &log, &alerting, &models);
        let activity = Arc::new(IngestActivity::new(config.background.settings()));
        let scheduler = Arc::new(crate::jobs::scheduler(
            config, &store, &log, &integrity, &models, &alerting, &reports, &stop_jobs, &activity,
        ));
        let search =
            SearchEngine::new(store.events.clone(), store.search.clone(), models.embedder.clone(), models.chat.clone());
        let listener =
            TcpListener::bind(&config.server.addr).await.with_context(|| format!("bind {}", config.server.addr))?;
        let router = veritrail_api::router(
            AppState {
                events: store.events.clone(),
                keys: store.keys.clone(),
                checkpoints: store.checkpoints.clone(),
                readiness: store.readiness.clone(),
                log: log.clone(),
                integrity: integrity.clone(),
                jobs: scheduler.clone(),
                search,
                anomalies: store.anomalies.clone(),
                alerting: alerting.clone(),
                false_positive_suppression: chrono::Duration::hours(
                    config.anomalies.false_positive_suppression_hours.max(1),
                ),
                limits: config.limits.clone(),
                key_cache: KeyCache::default(),
                users: store.users.clone(),
                sessions: config.auth.sessions(),
                login_throttle: Default::default(),
                stream_hub: Default::default(),
                reports: reports.clone(),
                activity: activity.clone(),
            },
            Some(config.server.dashboard_dir.as_path()).filter(|dir| !dir.as_os_str().is_empty()),
        );
        Ok(Self { listener, router, store, scheduler, alerting, reports, stop_jobs, activity })
    }

    /// Returns the address actually bound.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Returns the storage the app serves from.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish. The scheduled
    /// `checkpoint` job runs alongside.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        self.scheduler.start().await.context("start the job scheduler")?;
        tokio::spawn(deliver_on_wake(self.alerting.clone()));
        tokio::spawn(alert_events_on_wake(self.alerting.clone(), self.store.events.clone(), self.activity.clone()));
        tokio::spawn(generate_reports_on_request(self.reports.clone()));
        // Connection info gives handlers the client's address (sign-in throttling).
        let app = self.router.into_make_service_with_connect_info::<SocketAddr>();
        // Jobs stop as soon as shutdown begins, while in-flight requests are still finishing.
        let stop_jobs = self.stop_jobs.clone();
        let shutdown = async move {
            shutdown.await;
            stop_jobs.stop();
        };
        let served = axum::serve(self.listener, app).with_graceful_shutdown(shutdown).await.context("serve");
        // Let a back-fill store the batch it is embedding (it stops after it) rather than throw
        // it away and embed it again at the next start; bounded, so shutdown stays prompt.
        if !self.scheduler.wait_until_idle(JOBS_GRACE).await {
            tracing::warn!(grace = ?JOBS_GRACE, "jobs were still running at shutdown; stopping them mid-run");
        }
        served
    }
}

/// The alerting service: the store's alert port, the sealing key, the `alerts` settings.
pub fn build_alerting(config: &Config, store: &Store) -> anyhow::Result<Arc<Alerting>> {
    let secrets = crate::alert_key::load_secret_box(config)?;
    let settings = config.alerts.settings()?;
    Ok(Arc::new(Alerting::new(store.alerting.clone(), store.anomalies.clone(), secrets, settings)))
}

/// The reports service: the store's ports, the log's identity (reports are proved against its
/// signed checkpoints), the alerting service (scheduled reports go out by e-mail) and the chat
/// model, if one is configured (summaries).
pub fn build_reports(
    store: &Store,
    log: &Arc<LogIdentity>,
    alerting: &Arc<Alerting>,
    models: &SearchModels,
) -> Arc<Reports> {
    Arc::new(Reports::new(ReportsParts {
        store: store.reports.clone(),
        events: store.events.clone(),
        checkpoints: store.checkpoints.clone(),
        anomalies: store.anomalies.clone(),
        log: log.clone(),
        alerting: alerting.clone(),
        chat: models.chat.clone(),
    }))
}

/// Generates requested reports as soon as they are recorded, and at start-up those a previous
/// run left pending; the `reports` job picks up whatever this misses (another replica's
/// requests, a lease that ran out). Claims are leased, so replicas never make one report twice.
async fn generate_reports_on_request(reports: Arc<Reports>) {
    loop {
        if let Err(error) = reports.work(&veritrail_core::jobs::JobScope::AllTenants).await {
            tracing::error!(%error, "report generation failed; the reports job will retry");
        }
        reports.requested().await;
    }
}

/// Sends new alerts as soon as they are recorded, without waiting for the `alert-delivery`
/// schedule. Deliveries are leased one by one, so this and scheduled runs (here or on another
/// replica) never send the same delivery twice.
async fn deliver_on_wake(alerting: Arc<Alerting>) {
    loop {
        alerting.deliveries_created().await;
        if let Err(error) = alerting.deliver_due(None).await {
            tracing::error!(%error, "alert delivery failed; the scheduled run will retry");
        }
    }
}

/// Evaluates new events against the event rules as soon as they are appended, without waiting
/// for the `event-alerts` schedule (tenants without event rules wait for it: for them it only
/// moves the cursor). Passes over one tenant never overlap in this process, and
/// the event cursor keeps other replicas from evaluating the same events twice.
///
/// While ingest is busy, wake-ups are coalesced: a pass is one write transaction (the cursor and
/// the alerts it raised), and with a pass per group commit the evaluator would take the write
/// lock (SQLite) or a commit (PostgreSQL) as often as ingest itself. So a busy evaluator first
/// waits [`EVENT_COALESCE`], gathering the appends meanwhile into one pass, and pauses after it
/// as the background share says. Quiet ingest is evaluated at once.
async fn alert_events_on_wake(alerting: Arc<Alerting>, events: Arc<dyn EventLog>, activity: Arc<IngestActivity>) {
    loop {
        let tenants = alerting.tenants_with_new_events().await;
        if activity.is_busy() {
            tokio::time::sleep(EVENT_COALESCE).await;
        }
        let pacer = Pacer::start(&activity);
        for tenant in tenants {
            let pass = match alerting.watches_events(&tenant).await {
                Ok(false) => continue,
                Ok(true) => alerting.alert_new_events(events.as_ref(), &tenant, chrono::Utc::now()).await.map(drop),
                Err(error) => Err(error.into()),
            };
            if let Err(error) = pass {
                tracing::error!(tenant = %tenant, %error, "event rules could not be evaluated; the event-alerts job will retry");
            }
        }
        tokio::time::sleep(pacer.pause()).await;
    }
}

/// How long a woken event-rule evaluator gathers appends while ingest is busy: alerts leave at
/// most this much later, and a pass costs one write per this interval instead of one per commit.
const EVENT_COALESCE: std::time::Duration = std::time::Duration::from_secs(1);

/// Opens the configured database (creating the data directory, 0700, for SQLite; the database
/// files are created 0600 by the store).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    if config.database.url.is_empty() {
        crate::log_key::create_private_dir(&config.data_dir).context("create the data directory")?;
    }
    let store = veritrail_store::connect(&url, &config.store_settings())
        .await
        .with_context(|| format!("open database {}", veritrail_store::redact_url(&url)))?;
    tracing::info!(backend = ?store.backend, database = %veritrail_store::redact_url(&url), "database ready");
    Ok(store)
}
