//! The scheduled background jobs of `veritrail serve`: *when* they run. *What* they do lives in
//! plain functions of `veritrail-core` that the API (`POST /api/v1/admin/jobs/{name}/run`) and
//! tests call too.
//!
//! - `checkpoint`: publish a signed checkpoint for each tenant whose tree grew;
//! - `integrity-check`: verify what is new since the last run; failures are logged at ERROR,
//!   shown on `/readyz` and recorded as `critical` events in the tenant's chain.

use std::sync::Arc;
use std::time::Duration;

use veritrail_core::integrity::IntegrityMonitor;
use veritrail_core::transparency::{LogIdentity, publish_checkpoints};
use veritrail_store::Store;

/// How often each job runs; zero turns a job's schedule off.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub checkpoint: Duration,
    pub integrity_check: Duration,
    /// Every this many runs, `integrity-check` re-verifies everything instead of only what is new.
    pub integrity_full_every_runs: u64,
}

/// Starts the scheduled jobs on the current runtime.
pub fn spawn(store: &Store, log: &Arc<LogIdentity>, integrity: &Arc<IntegrityMonitor>, schedule: &Schedule) {
    if !schedule.checkpoint.is_zero() {
        tokio::spawn(every(schedule.checkpoint, {
            let (store, log) = (store.clone(), log.clone());
            move || {
                let (store, log) = (store.clone(), log.clone());
                async move { run_checkpoint(&store, &log).await }
            }
        }));
    }
    if !schedule.integrity_check.is_zero() {
        let full_every = schedule.integrity_full_every_runs.max(1);
        let runs = Arc::new(std::sync::atomic::AtomicU64::new(0));
        tokio::spawn(every(schedule.integrity_check, {
            let (store, log, integrity) = (store.clone(), log.clone(), integrity.clone());
            move || {
                let (store, log, integrity) = (store.clone(), log.clone(), integrity.clone());
                // The first run after start-up is full anyway (no cursors yet).
                let run = runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let full = run > 0 && run.is_multiple_of(full_every);
                async move { run_integrity_check(&store, &log, &integrity, full).await }
            }
        }));
    }
}

/// Runs `job` now and then every `interval`, never two runs at once.
async fn every<F, Fut>(interval: Duration, job: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        job().await;
    }
}

/// One run of the `checkpoint` job.
pub async fn run_checkpoint(store: &Store, log: &LogIdentity) {
    match publish_checkpoints(store.events.as_ref(), store.checkpoints.as_ref(), log, chrono::Utc::now()).await {
        Ok(outcomes) => {
            for outcome in outcomes {
                if let Some(checkpoint) = outcome.published {
                    tracing::info!(job = "checkpoint", tenant = %outcome.tenant, tree_size = checkpoint.tree_size, root = %checkpoint.root_hash, "published checkpoint");
                }
            }
        }
        Err(err) => tracing::error!(job = "checkpoint", error = %err, "checkpoint job failed"),
    }
}

/// One run of the `integrity-check` job.
pub async fn run_integrity_check(store: &Store, log: &LogIdentity, integrity: &IntegrityMonitor, full: bool) {
    match integrity.run_job(store.events.as_ref(), store.checkpoints.as_ref(), log, full, chrono::Utc::now()).await {
        Ok(status) => {
            tracing::debug!(
                job = "integrity-check",
                events_checked = status.events_checked,
                status = status.status,
                "done"
            );
        }
        Err(err) => tracing::error!(job = "integrity-check", error = %err, "integrity check could not run"),
    }
}
