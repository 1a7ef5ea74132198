//! `veritrail-scheduler`: *when* Veritrail's background jobs run — cron expressions, a lease so
//! only one replica runs a job at a time, and a record of every run. *What* a job does stays in
//! plain async functions (see [`Job`]) that the API, the CLI and tests call too.
//!
//! Deterministic by construction: [`Scheduler::run_once`] is one step of the loop, and the clock is
//! injectable ([`Clock`]), so tests drive runs and leases without waiting for a timer. The cron
//! timer (tokio-cron-scheduler, six-field expressions with seconds first) only calls `run_once`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use veritrail_core::activity::IngestActivity;
use veritrail_core::event::TenantId;
use veritrail_core::jobs::{JobError, JobRun, JobRunner, JobScope, JobStatus, JobStore, RunOutcome, Trigger};
use veritrail_core::store::StoreError;

/// A named piece of background work.
#[async_trait]
pub trait Job: Send + Sync {
    /// The stable job name used in the API and the CLI (e.g. `checkpoint`).
    fn name(&self) -> &'static str;

    /// Does the work once for the tenants of `scope` (and nothing for any other tenant); the
    /// returned JSON becomes the run record's `details`, each tenant's part under
    /// `details.tenants.<tenant>`.
    async fn run(&self, scope: &JobScope) -> anyhow::Result<Value>;
}

/// The time, injectable so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A job and when it runs.
pub struct Scheduled {
    pub job: Arc<dyn Job>,
    /// Six-field cron expression (seconds first); `None` runs the job only on demand.
    pub cron: Option<String>,
    /// Also run once right after [`Scheduler::start`] (a scheduled job only), so a restart does
    /// not wait for the next cron tick.
    pub run_at_start: bool,
}

/// Runs jobs: on their schedule, or now.
pub struct Scheduler {
    jobs: Vec<Scheduled>,
    store: Arc<dyn JobStore>,
    clock: Arc<dyn Clock>,
    /// Identifies this replica in leases and run records.
    holder: String,
    /// How long a lease lasts; a runner that crashes blocks its job at most this long.
    lease: Duration,
    /// How long a manual run waits for a run elsewhere to finish.
    manual_wait: Duration,
    cron: tokio::sync::Mutex<Option<(tokio_cron_scheduler::JobScheduler, HashMap<&'static str, uuid::Uuid>)>>,
    /// Jobs running in this process. The lease cannot tell: it belongs to `holder`, which this
    /// process shares with itself, so without this a tick that fires while the previous run is
    /// still going would start a second, overlapping run of the same job.
    running: Arc<Mutex<HashSet<&'static str>>>,
    /// Scheduled runs of these jobs wait while ingest is busy (see [`Scheduler::deferring`]).
    deferred: Option<Deferral>,
}

/// Which scheduled runs wait for quiet ingest, and for how long at most.
struct Deferral {
    activity: Arc<IngestActivity>,
    jobs: HashSet<&'static str>,
    at_most: Duration,
}

/// How often a deferred run looks whether ingest is quiet.
const DEFER_POLL: Duration = Duration::from_secs(1);

/// Marks a job as running in this process until dropped (also when the run's future is dropped).
struct RunningGuard {
    running: Arc<Mutex<HashSet<&'static str>>>,
    name: &'static str,
}

impl RunningGuard {
    /// `None` when `name` is already running here.
    fn take(running: &Arc<Mutex<HashSet<&'static str>>>, name: &'static str) -> Option<Self> {
        let inserted = running.lock().unwrap_or_else(PoisonError::into_inner).insert(name);
        inserted.then(|| Self { running: running.clone(), name })
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.running.lock().unwrap_or_else(PoisonError::into_inner).remove(self.name);
    }
}

impl Scheduler {
    /// Builds a scheduler; nothing runs until [`Scheduler::start`] or [`Scheduler::run_once`].
    pub fn new(jobs: Vec<Scheduled>, store: Arc<dyn JobStore>, clock: Arc<dyn Clock>, holder: String) -> Self {
        Self {
            jobs,
            store,
            clock,
            holder,
            lease: Duration::from_secs(15 * 60),
            manual_wait: Duration::from_secs(60),
            cron: tokio::sync::Mutex::new(None),
            running: Arc::default(),
            deferred: None,
        }
    }

    /// Scheduled runs (cron ticks and start-up runs, never manual ones) of `jobs` wait while
    /// `activity` says ingest is busy, at most `at_most`, then run anyway: heavy jobs (reading and
    /// hashing the whole new part of the log, scoring every window) run in the gaps of ingest
    /// rather than in the middle of it, and still run when ingest never pauses.
    pub fn deferring(mut self, activity: Arc<IngestActivity>, jobs: &[&'static str], at_most: Duration) -> Self {
        self.deferred = Some(Deferral { activity, jobs: jobs.iter().copied().collect(), at_most });
        self
    }

    /// Waits as [`Scheduler::deferring`] says before a scheduled run of `name`.
    async fn defer(&self, name: &'static str) {
        let Some(deferral) = self.deferred.as_ref().filter(|deferral| deferral.jobs.contains(name)) else {
            return;
        };
        let deadline = tokio::time::Instant::now() + deferral.at_most;
        let mut waited = false;
        while deferral.activity.is_busy() && tokio::time::Instant::now() < deadline {
            waited = true;
            tokio::time::sleep(DEFER_POLL).await;
        }
        if waited {
            tracing::debug!(
                job = name,
                busy = deferral.activity.is_busy(),
                "scheduled run deferred while ingest was busy"
            );
        }
    }

    /// A scheduled run: deferred as configured, then [`Scheduler::run_once`].
    async fn run_scheduled(&self, name: &'static str) -> Result<Option<JobRun>, JobError> {
        self.defer(name).await;
        self.run_once(name, Trigger::Schedule, JobScope::AllTenants).await
    }

    /// Sets how long leases last (default 15 minutes).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets how long a manual run waits for a run elsewhere (default 60 s).
    pub fn with_manual_wait(mut self, wait: Duration) -> Self {
        self.manual_wait = wait;
        self
    }

    fn find(&self, name: &str) -> Option<&Scheduled> {
        self.jobs.iter().find(|scheduled| scheduled.job.name() == name)
    }

    /// One step: takes the job's lease, runs it over `scope`, records the run and gives the lease
    /// back. Returns `Ok(None)` when another replica holds the lease, or the job is still running
    /// in this process (a scheduled run is then skipped). The lease and the in-process guard are
    /// per job, whatever the scope: a tenant's run and a run over every tenant never overlap.
    pub async fn run_once(&self, name: &str, trigger: Trigger, scope: JobScope) -> Result<Option<JobRun>, JobError> {
        let scheduled = self.find(name).ok_or_else(|| JobError::Unknown(name.to_owned()))?;
        let name = scheduled.job.name();
        let Some(_running) = RunningGuard::take(&self.running, name) else {
            tracing::debug!(job = name, "the previous run is still going; skipping this run");
            return Ok(None);
        };
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::minutes(15));
        if !self.store.acquire_lease(name, &self.holder, now, until).await? {
            tracing::debug!(job = name, "lease held elsewhere; skipping this run");
            return Ok(None);
        }
        let started_at = self.clock.now();
        // A panicking job must neither take the scheduler down nor keep its lease: run it apart.
        let job = scheduled.job.clone();
        let tenant = scope.tenant().cloned();
        let result = match tokio::spawn(async move { job.run(&scope).await }).await {
            Ok(result) => result,
            Err(panic) => Err(anyhow::anyhow!("the job panicked: {panic}")),
        };
        let (outcome, error, details) = match result {
            Ok(details) => (RunOutcome::Success, None, details),
            Err(err) => (RunOutcome::Failure, Some(format!("{err:#}")), Value::Null),
        };
        let run = JobRun {
            id: uuid::Uuid::now_v7().to_string(),
            job: name.to_owned(),
            trigger,
            tenant,
            holder: self.holder.clone(),
            started_at: veritrail_core::event::normalize_time(started_at),
            finished_at: veritrail_core::event::normalize_time(self.clock.now()),
            outcome,
            error,
            details,
        };
        if let Some(error) = &run.error {
            tracing::error!(job = name, error = %error, "job run failed");
        }
        let recorded = self.store.record_run(&run).await;
        let released = self.store.release_lease(name, &self.holder).await;
        recorded?;
        released?;
        Ok(Some(run))
    }

    /// Waits until no job runs in this process, at most `timeout`; returns whether none does.
    /// For shutdown, after jobs were asked to stop (so they finish their step and record it).
    pub async fn wait_until_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.running.lock().unwrap_or_else(PoisonError::into_inner).is_empty() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Registers every scheduled job with the cron timer and starts it.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        let timer = tokio_cron_scheduler::JobScheduler::new().await?;
        let mut ids = HashMap::new();
        for scheduled in &self.jobs {
            let Some(cron) = &scheduled.cron else { continue };
            let name = scheduled.job.name();
            let scheduler = Arc::downgrade(self);
            let cron_job = tokio_cron_scheduler::Job::new_async(cron.as_str(), move |_id, _timer| {
                let scheduler = scheduler.clone();
                Box::pin(async move {
                    if let Some(scheduler) = scheduler.upgrade()
                        && let Err(err) = scheduler.run_scheduled(name).await
                    {
                        tracing::error!(job = name, error = %err, "scheduled run could not start");
                    }
                })
            })
            .map_err(|err| anyhow::anyhow!("job {name}: invalid cron expression {cron:?}: {err}"))?;
            ids.insert(name, timer.add(cron_job).await?);
        }
        timer.start().await?;
        *self.cron.lock().await = Some((timer, ids));
        for scheduled in self.jobs.iter().filter(|scheduled| scheduled.run_at_start && scheduled.cron.is_some()) {
            let name = scheduled.job.name();
            let scheduler = Arc::downgrade(self);
            tokio::spawn(async move {
                if let Some(scheduler) = scheduler.upgrade()
                    && let Err(err) = scheduler.run_scheduled(name).await
                {
                    tracing::error!(job = name, error = %err, "start-up run could not start");
                }
            });
        }
        Ok(())
    }
}

#[async_trait]
impl JobRunner for Scheduler {
    async fn run_now(&self, name: &str, scope: JobScope) -> Result<JobRun, JobError> {
        let deadline = tokio::time::Instant::now() + self.manual_wait;
        loop {
            if let Some(run) = self.run_once(name, Trigger::Manual, scope.clone()).await? {
                return Ok(run);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(JobError::Busy(name.to_owned()));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn status(&self, tenant: Option<&TenantId>) -> Result<Vec<JobStatus>, StoreError> {
        let mut cron = self.cron.lock().await;
        let mut statuses = Vec::with_capacity(self.jobs.len());
        for scheduled in &self.jobs {
            let name = scheduled.job.name();
            let next_run = match cron.as_mut() {
                Some((timer, ids)) => match ids.get(name) {
                    Some(id) => timer.next_tick_for_job(*id).await.ok().flatten(),
                    None => None,
                },
                None => None,
            };
            let last_run = self.store.recent_runs(name, tenant, 1).await?.into_iter().next();
            statuses.push(JobStatus { name: name.to_owned(), schedule: scheduled.cron.clone(), next_run, last_run });
        }
        Ok(statuses)
    }
}
