//! `veritrail-store`: the SQLite and PostgreSQL implementations of the storage traits of
//! `veritrail-core`, chosen at start-up from the database URL.
//!
//! Architecture invariant: SQL lives only in this crate, next to its backend (`sqlite.rs`,
//! `postgres.rs`); the logic both share (group planning, row decoding, migrations) is written
//! once (`plan.rs`, `rows.rs`, `migrate.rs`).

pub mod alerting;
pub mod anomalies;
pub mod migrate;
mod plan;
pub mod postgres;
mod rows;
pub mod search;
mod sequencer;
pub mod sqlite;

use std::fmt;
use std::sync::Arc;

use veritrail_core::alerting::AlertStore;
use veritrail_core::anomalies::AnomalyStore;
use veritrail_core::chain::FORMAT_VERSION;
use veritrail_core::jobs::JobStore;
use veritrail_core::search::SearchIndex;
use veritrail_core::store::{ApiKeyStore, CheckpointStore, EventLog, Readiness, StoreError};

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
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self { max_connections: 16, sqlite_synchronous_full: true, max_group_events: 10_000, queue_capacity: 20_000 }
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
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub jobs: Arc<dyn JobStore>,
    pub readiness: Arc<dyn Readiness>,
    /// The search index: derived data, written by the indexing job, never by appends.
    pub search: Arc<dyn SearchIndex>,
    /// Anomalies, their feedback and suppressions, and the detection job's progress.
    pub anomalies: Arc<dyn AnomalyStore>,
    /// Alert channels and rules, and the outbox of alerts and deliveries.
    pub alerting: Arc<dyn AlertStore>,
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
            let store = Arc::new(sqlite::SqliteStore::open(url, settings).await?);
            let search = Arc::new(search::SqliteSearch::new(store.read_pool().clone(), store.write_pool().clone()));
            let anomalies =
                Arc::new(anomalies::SqliteAnomalies::new(store.read_pool().clone(), store.write_pool().clone()));
            let alerting = Arc::new(alerting::SqliteAlerts::new(store.read_pool().clone(), store.write_pool().clone()));
            Ok(Store {
                backend: Backend::Sqlite,
                events: store.clone(),
                keys: store.clone(),
                checkpoints: store.clone(),
                jobs: store.clone(),
                readiness: store,
                search,
                anomalies,
                alerting,
            })
        }
        Backend::Postgres => {
            let store = Arc::new(postgres::PostgresStore::open(url, settings).await?);
            let search = Arc::new(search::PostgresSearch::new(store.pool().clone()));
            let anomalies = Arc::new(anomalies::PostgresAnomalies::new(store.pool().clone()));
            let alerting = Arc::new(alerting::PostgresAlerts::new(store.pool().clone()));
            Ok(Store {
                backend: Backend::Postgres,
                events: store.clone(),
                keys: store.clone(),
                checkpoints: store.clone(),
                jobs: store.clone(),
                readiness: store,
                search,
                anomalies,
                alerting,
            })
        }
    }
}

/// Hides the password of a database URL, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:[redacted]@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Refuses a database whose events were written in another canonical format.
fn check_format_version(stored: Option<&str>) -> Result<(), StoreError> {
    match stored {
        Some(version) if version == FORMAT_VERSION.to_string() => Ok(()),
        Some(version) => Err(StoreError::Incompatible(format!(
            "the database holds events in format version {version}, but this build writes version {FORMAT_VERSION}; refusing to run"
        ))),
        None => {
            Err(StoreError::Incompatible("the database has no event_format_version row; refusing to run".to_owned()))
        }
    }
}

fn check_migrated(applied: i64, embedded: usize) -> Result<(), StoreError> {
    if usize::try_from(applied).ok() == Some(embedded) {
        Ok(())
    } else {
        Err(StoreError::Incompatible(format!("{applied} of {embedded} migrations applied")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:[redacted]@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/v.db"), "sqlite://data/v.db");
    }

    #[test]
    fn refuses_other_format_versions() {
        assert!(check_format_version(Some("1")).is_ok());
        assert!(check_format_version(Some("2")).is_err());
        assert!(check_format_version(None).is_err());
    }
}

#[cfg(feature = "testing")]
pub mod testing;
