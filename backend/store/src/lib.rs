//! `veritrail-store`: the SQLite and PostgreSQL implementations of the storage traits of
//! `veritrail-core`, chosen at start-up from the database URL.
//!
//! One shape for every concern: `concern/mod.rs` holds what both backends share (row decoding,
//! validation, conversions, planning), `concern/sqlite.rs` and `concern/postgres.rs` only SQL and
//! what genuinely differs between the dialects. Concerns: `database` (pools, migrations,
//! readiness), `events` (the log, group commit, Merkle nodes), `keys`, `users` (and sessions),
//! `checkpoints`, `jobs`,
//! `search`, `anomalies`, `alerting`, `reports`. Conversions several concerns use live in
//! `rows.rs`, typed column access in `columns.rs`, the generic stores' dialect trait in `dialect.rs`.
//!
//! Architecture invariant: SQL lives only in this crate, next to its backend.

pub mod alerting;
pub mod anomalies;
mod checkpoints;
mod columns;
pub mod database;
mod dialect;
mod events;
mod jobs;
mod keys;
pub mod migrate;
mod redact;
pub mod reports;
mod rows;
pub mod search;
mod users;

pub use redact::redact_url;

use std::fmt;
use std::sync::Arc;

use veritrail_core::alerting::AlertStore;
use veritrail_core::anomalies::AnomalyStore;
use veritrail_core::jobs::JobStore;
use veritrail_core::reports::ReportStore;
use veritrail_core::search::SearchIndex;
use veritrail_core::store::{ApiKeyStore, CheckpointStore, EventLog, Readiness, StoreError};
use veritrail_core::users::UserStore;

/// Tuning of the storage layer.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    /// Connections in the read pool (SQLite) or the whole pool (PostgreSQL).
    pub max_connections: u32,
    /// SQLite `synchronous=FULL` (durable at every commit) instead of `NORMAL`.
    pub sqlite_synchronous_full: bool,
    /// Most events in one group commit.
    pub max_group_events: usize,
    /// Most append requests waiting for a commit before new ones are refused.
    pub queue_capacity: usize,
    /// Most of those one tenant may have, so one tenant cannot fill the queue for the others.
    pub max_queued_per_tenant: usize,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            sqlite_synchronous_full: true,
            max_group_events: 10_000,
            queue_capacity: 20_000,
            max_queued_per_tenant: 5_000,
        }
    }
}

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Picks the backend from the URL scheme.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(StoreError::Incompatible(format!(
                "unsupported database url {}: use sqlite://PATH or postgres://...",
                redact_url(url)
            )))
        }
    }
}

/// The storage of a running Veritrail: each port behind its trait.
#[derive(Clone)]
pub struct Store {
    pub backend: Backend,
    pub events: Arc<dyn EventLog>,
    pub keys: Arc<dyn ApiKeyStore>,
    /// Dashboard users and their sessions.
    pub users: Arc<dyn UserStore>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub jobs: Arc<dyn JobStore>,
    pub readiness: Arc<dyn Readiness>,
    /// The search index: derived data, written by the indexing job, never by appends.
    pub search: Arc<dyn SearchIndex>,
    /// Anomalies, their feedback and suppressions, and the detection job's progress.
    pub anomalies: Arc<dyn AnomalyStore>,
    /// Alert channels and rules, and the outbox of alerts and deliveries.
    pub alerting: Arc<dyn AlertStore>,
    /// Reports with their files, report schedules and their runs.
    pub reports: Arc<dyn ReportStore>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// Connects to `url`, applies pending migrations and checks the event format version.
pub async fn connect(url: &str, settings: &StoreSettings) -> Result<Store, StoreError> {
    match Backend::of_url(url)? {
        Backend::Sqlite => {
            let pools = database::SqlitePools::open(url, settings).await?;
            Ok(Store {
                backend: Backend::Sqlite,
                events: Arc::new(events::SqliteEvents::new(&pools, settings)),
                keys: Arc::new(keys::SqliteKeys::new(&pools)),
                users: Arc::new(users::SqliteUsers::new(&pools)),
                checkpoints: Arc::new(checkpoints::SqliteCheckpoints::new(&pools)),
                jobs: Arc::new(jobs::SqliteJobs::new(&pools)),
                readiness: Arc::new(database::SqliteReadiness::new(&pools)),
                search: Arc::new(search::SqliteSearch::new(pools.read.clone(), pools.write.clone())),
                anomalies: Arc::new(anomalies::SqliteAnomalies::new(pools.read.clone(), pools.write.clone())),
                alerting: Arc::new(alerting::SqliteAlerts::new(pools.read.clone(), pools.write.clone())),
                reports: Arc::new(reports::SqliteReports::new(pools.read.clone(), pools.write.clone())),
            })
        }
        Backend::Postgres => {
            let pool = database::postgres::open(url, settings).await?;
            Ok(Store {
                backend: Backend::Postgres,
                events: Arc::new(events::PostgresEvents::new(&pool, settings)),
                keys: Arc::new(keys::PostgresKeys::new(&pool)),
                users: Arc::new(users::PostgresUsers::new(&pool)),
                checkpoints: Arc::new(checkpoints::PostgresCheckpoints::new(&pool)),
                jobs: Arc::new(jobs::PostgresJobs::new(&pool)),
                readiness: Arc::new(database::PostgresReadiness::new(&pool)),
                search: Arc::new(search::PostgresSearch::new(pool.clone())),
                anomalies: Arc::new(anomalies::PostgresAnomalies::new(pool.clone())),
                alerting: Arc::new(alerting::PostgresAlerts::new(pool.clone())),
                reports: Arc::new(reports::PostgresReports::new(pool)),
            })
        }
    }
}

#[cfg(feature = "testing")]
pub mod testing;
