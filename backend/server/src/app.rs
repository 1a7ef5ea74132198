//! Wiring: the storage, the API and the listener of `veritrail serve`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use veritrail_api::AppState;
use veritrail_api::auth::KeyCache;
use veritrail_core::integrity::IntegrityMonitor;
use veritrail_scheduler::Scheduler;
use veritrail_store::Store;

use veritrail_search::SearchEngine;

use crate::config::Config;
use crate::keys;
use crate::search_setup::SearchModels;

/// A bound, ready-to-serve Veritrail. Binding happens in [`Application::build`], so tests that
/// use port 0 know the real port before the server runs and never need to wait or retry.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    store: Store,
    scheduler: Arc<Scheduler>,
}

impl Application {
    /// Connects and migrates the database, creates the first admin key if there is none (from
    /// `bootstrap_secret` when given), and binds the listen address.
    pub async fn build(config: &Config, bootstrap_secret: Option<String>) -> anyhow::Result<Self> {
        let store = open_store(config).await?;
        keys::bootstrap(&store, bootstrap_secret).await?;
        let log = Arc::new(crate::log_key::load_identity(config)?);
        let integrity = Arc::new(IntegrityMonitor::default());
        let models = SearchModels::from_config(config)?;
        let scheduler = Arc::new(crate::jobs::scheduler(config, &store, &log, &integrity, &models));
        let search =
            SearchEngine::new(store.events.clone(), store.search.clone(), models.embedder.clone(), models.chat.clone());
        let listener =
            TcpListener::bind(&config.server.addr).await.with_context(|| format!("bind {}", config.server.addr))?;
        let router = veritrail_api::router(AppState {
            events: store.events.clone(),
            keys: store.keys.clone(),
            checkpoints: store.checkpoints.clone(),
            readiness: store.readiness.clone(),
            log: log.clone(),
            integrity: integrity.clone(),
            jobs: scheduler.clone(),
            search,
            anomalies: store.anomalies.clone(),
            false_positive_suppression: chrono::Duration::hours(
                config.anomalies.false_positive_suppression_hours.max(1),
            ),
            limits: config.limits.clone(),
            key_cache: KeyCache::default(),
        });
        Ok(Self { listener, router, store, scheduler })
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
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await.context("serve")
    }
}

/// Opens the configured database (creating the data directory for SQLite).
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    if config.database.url.is_empty() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("create data directory {}", config.data_dir.display()))?;
    }
    let store = veritrail_store::connect(&url, &config.store_settings())
        .await
        .with_context(|| format!("open database {}", veritrail_store::redact_url(&url)))?;
    tracing::info!(backend = ?store.backend, database = %veritrail_store::redact_url(&url), "database ready");
    Ok(store)
}
