//! The scheduler, stepped by hand with a movable clock, on both backends: runs are recorded,
//! failures too (and retried on the next tick), and a lease keeps a job to one replica at a time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use veritrail_core::event::TenantId;
use veritrail_core::jobs::{JobRunner, JobStore};
use veritrail_core::jobs::{JobScope, RunOutcome, Trigger};
use veritrail_scheduler::{Clock, Job, Scheduled, Scheduler};
use veritrail_store::testing::TestDatabase;

/// A clock tests move by hand.
struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|now| *now).unwrap_or_default()
    }
}

/// Fails its first `failures` runs, then succeeds; counts its runs.
struct Flaky {
    failures: u32,
    runs: AtomicU32,
}

#[async_trait]
impl Job for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }

    async fn run(&self, _scope: &JobScope) -> anyhow::Result<Value> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        anyhow::ensure!(run >= self.failures, "planned failure {run}");
        Ok(json!({"run": run}))
    }
}

struct Panics;

#[async_trait]
impl Job for Panics {
    fn name(&self) -> &'static str {
        "panics"
    }

    async fn run(&self, _scope: &JobScope) -> anyhow::Result<Value> {
        panic!("planned panic")
    }
}

fn scheduler(store: Arc<dyn JobStore>, clock: Arc<ManualClock>, holder: &str, flaky: Arc<Flaky>) -> Scheduler {
    let jobs = vec![
        Scheduled { job: flaky, cron: Some("0 * * * * *".to_owned()), run_at_start: false },
        Scheduled { job: Arc::new(Panics), cron: None, run_at_start: false },
    ];
    Scheduler::new(jobs, store, clock, holder.to_owned())
        .with_lease(std::time::Duration::from_secs(60))
        .with_manual_wait(std::time::Duration::from_millis(300))
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock(Mutex::new(DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z").expect("time").into())))
}

#[tokio::test]
async fn failed_runs_are_recorded_and_the_next_tick_retries() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let flaky = Arc::new(Flaky { failures: 1, runs: AtomicU32::new(0) });
        let scheduler = scheduler(store.jobs.clone(), clock(), "replica-a", flaky.clone());

        let failed = scheduler
            .run_once("flaky", Trigger::Schedule, JobScope::AllTenants)
            .await
            .expect("ran")
            .expect("not skipped");
        assert_eq!((failed.outcome, failed.trigger), (RunOutcome::Failure, Trigger::Schedule));
        assert!(failed.error.as_deref().is_some_and(|error| error.contains("planned failure 0")), "{failed:?}");
        let retried = scheduler
            .run_once("flaky", Trigger::Schedule, JobScope::AllTenants)
            .await
            .expect("ran")
            .expect("not skipped");
        assert_eq!(retried.outcome, RunOutcome::Success);
        assert_eq!(retried.details, json!({"run": 1}));

        let history = store.jobs.recent_runs("flaky", None, 10).await.expect("history");
        assert_eq!(
            history.iter().map(|run| run.outcome).collect::<Vec<_>>(),
            [RunOutcome::Success, RunOutcome::Failure]
        );
        let status = scheduler.status(None).await.expect("status");
        assert_eq!(status[0].name, "flaky");
        assert_eq!(status[0].schedule.as_deref(), Some("0 * * * * *"));
        assert_eq!(status[0].last_run.as_ref().map(|run| run.id.clone()), Some(retried.id));
        assert!(status[1].last_run.is_none() && status[1].schedule.is_none());
        assert!(scheduler.run_now("no-such-job", JobScope::AllTenants).await.is_err());
    }
}

#[tokio::test]
async fn a_lease_keeps_a_job_to_one_replica_until_it_expires() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let clock = clock();
        let flaky = Arc::new(Flaky { failures: 0, runs: AtomicU32::new(0) });
        let replica_b = scheduler(store.jobs.clone(), clock.clone(), "replica-b", flaky.clone());

        // Replica A crashed in the middle of a run: its lease is still there.
        let now = clock.now();
        assert!(store.jobs.acquire_lease("flaky", "replica-a", now, now + Duration::seconds(60)).await.expect("lease"));
        assert!(
            !store.jobs.acquire_lease("flaky", "replica-c", now, now + Duration::seconds(60)).await.expect("lease")
        );
        let skipped = replica_b.run_once("flaky", Trigger::Schedule, JobScope::AllTenants).await.expect("no error");
        assert!(skipped.is_none(), "{:?}: ran while another replica held the lease", db.backend);
        assert!(
            replica_b.run_now("flaky", JobScope::AllTenants).await.is_err(),
            "a manual run waits, then says the job is busy"
        );
        assert_eq!(flaky.runs.load(Ordering::SeqCst), 0);

        clock.advance(Duration::seconds(61));
        let run = replica_b
            .run_once("flaky", Trigger::Schedule, JobScope::AllTenants)
            .await
            .expect("ran")
            .expect("lease expired");
        assert_eq!(run.holder, "replica-b");
        // The lease is given back after the run, so the next tick (or another replica) runs at once.
        assert!(replica_b.run_now("flaky", JobScope::AllTenants).await.is_ok());
        assert_eq!(flaky.runs.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test]
async fn a_panicking_job_is_a_recorded_failure_that_frees_its_lease() {
    let db = TestDatabase::sqlite();
    let store = db.connect().await;
    let scheduler =
        scheduler(store.jobs.clone(), clock(), "replica-a", Arc::new(Flaky { failures: 0, runs: AtomicU32::new(0) }));
    let run = scheduler.run_now("panics", JobScope::AllTenants).await.expect("recorded");
    assert_eq!(run.outcome, RunOutcome::Failure);
    assert!(run.error.as_deref().is_some_and(|error| error.contains("panicked")), "{run:?}");
    assert!(scheduler.run_now("panics", JobScope::AllTenants).await.is_ok(), "the lease was released");
}

/// Runs until told to finish; counts how many of its runs are going at once.
#[derive(Default)]
struct Slow {
    going: AtomicU32,
    most_at_once: AtomicU32,
    finish: tokio::sync::Notify,
}

#[async_trait]
impl Job for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }

    async fn run(&self, _scope: &JobScope) -> anyhow::Result<Value> {
        let going = self.going.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(going, Ordering::SeqCst);
        self.finish.notified().await;
        self.going.fetch_sub(1, Ordering::SeqCst);
        Ok(json!({}))
    }
}

/// A scheduler with one job, [`Slow`], due every second; manual runs wait 300 ms for it.
fn slow_every_second(store: &veritrail_store::Store) -> (Arc<Slow>, Arc<Scheduler>) {
    let slow = Arc::new(Slow::default());
    let jobs = vec![Scheduled { job: slow.clone(), cron: Some("* * * * * *".to_owned()), run_at_start: false }];
    let scheduler = Scheduler::new(jobs, store.jobs.clone(), clock(), "replica-a".to_owned())
        .with_manual_wait(std::time::Duration::from_millis(300));
    (slow, Arc::new(scheduler))
}

#[tokio::test]
async fn a_tick_during_a_run_of_the_same_replica_is_skipped() {
    // The lease is this replica's own, so only the scheduler can tell that the job is still
    // running: the `embed-backfill` job (every 5 s) used to pile up dozens of copies of itself.
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let (slow, scheduler) = slow_every_second(&store);
        let first = tokio::spawn({
            let scheduler = scheduler.clone();
            async move { scheduler.run_once("slow", Trigger::Schedule, JobScope::AllTenants).await }
        });
        while slow.going.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let tick = scheduler.run_once("slow", Trigger::Schedule, JobScope::AllTenants).await.expect("no error");
        assert!(tick.is_none(), "{:?}: a second run started while the first was going", db.backend);
        assert!(
            scheduler.run_now("slow", JobScope::AllTenants).await.is_err(),
            "a manual run waits, then says the job is busy"
        );

        slow.finish.notify_one();
        assert!(first.await.expect("joined").expect("ran").is_some());
        let next = tokio::spawn({
            let scheduler = scheduler.clone();
            async move { scheduler.run_once("slow", Trigger::Schedule, JobScope::AllTenants).await }
        });
        while slow.going.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        slow.finish.notify_one();
        assert!(next.await.expect("joined").expect("ran").is_some(), "the next tick after the run runs");
        assert_eq!(slow.most_at_once.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn busy_ingest_defers_scheduled_runs_but_never_manual_ones() {
    use veritrail_core::activity::{BackgroundSettings, IngestActivity};
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let flaky = Arc::new(Flaky { failures: 0, runs: AtomicU32::new(0) });
        // Busy for a moment after the append below; a deferred run waits for that, then runs.
        let activity = Arc::new(IngestActivity::new(BackgroundSettings {
            quiet_after: std::time::Duration::from_millis(300),
            ..BackgroundSettings::default()
        }));
        activity.appended();
        let jobs = vec![Scheduled { job: flaky.clone(), cron: Some("0 0 0 1 1 *".to_owned()), run_at_start: true }];
        let scheduler = Arc::new(
            Scheduler::new(jobs, store.jobs.clone(), clock(), "replica-a".to_owned())
                .with_manual_wait(std::time::Duration::from_secs(30))
                .deferring(activity.clone(), &["flaky"], std::time::Duration::from_secs(3600)),
        );
        scheduler.start().await.expect("start");
        // A manual run is never deferred.
        let manual = scheduler.run_now("flaky", JobScope::AllTenants).await.expect("manual run");
        assert_eq!(manual.trigger, Trigger::Manual, "{:?}", db.backend);
        // The start-up run happens once ingest is quiet.
        while flaky.runs.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(!activity.is_busy(), "{:?}: the start-up run waited for quiet ingest", db.backend);
    }
}

/// Records the scope of each of its runs.
#[derive(Default)]
struct ScopeRecorder {
    scopes: Mutex<Vec<JobScope>>,
}

#[async_trait]
impl Job for ScopeRecorder {
    fn name(&self) -> &'static str {
        "scoped"
    }

    async fn run(&self, scope: &JobScope) -> anyhow::Result<Value> {
        self.scopes.lock().expect("lock").push(scope.clone());
        let tenant = scope.tenant().map_or("all", TenantId::as_str);
        Ok(json!({"tenants": {tenant: {"ran": true}}}))
    }
}

#[tokio::test]
async fn a_tenants_run_is_recorded_as_its_own_and_shown_only_to_that_tenant() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let job = Arc::new(ScopeRecorder::default());
        let jobs = vec![Scheduled { job: job.clone(), cron: Some("0 * * * * *".to_owned()), run_at_start: false }];
        let scheduler = Scheduler::new(jobs, store.jobs.clone(), clock(), "replica-a".to_owned());
        let (acme, globex) = (TenantId::parse("acme").expect("tenant"), TenantId::parse("globex").expect("tenant"));

        let everyone = scheduler.run_once("scoped", Trigger::Schedule, JobScope::AllTenants).await.expect("ran");
        let everyone = everyone.expect("not skipped");
        let acme_run = scheduler.run_now("scoped", JobScope::Tenant(acme.clone())).await.expect("ran");
        let globex_run = scheduler.run_now("scoped", JobScope::Tenant(globex.clone())).await.expect("ran");
        assert_eq!(
            *job.scopes.lock().expect("lock"),
            [JobScope::AllTenants, JobScope::Tenant(acme.clone()), JobScope::Tenant(globex.clone())]
        );
        assert_eq!((everyone.tenant.as_ref(), acme_run.tenant.as_ref()), (None, Some(&acme)), "{:?}", db.backend);

        let ids = |runs: Vec<veritrail_core::jobs::JobRun>| runs.into_iter().map(|run| run.id).collect::<Vec<_>>();
        let for_acme = store.jobs.recent_runs("scoped", Some(&acme), 10).await.expect("runs");
        assert_eq!(ids(for_acme), [acme_run.id.clone(), everyone.id.clone()], "{:?}", db.backend);
        let all = store.jobs.recent_runs("scoped", None, 10).await.expect("runs");
        assert_eq!(ids(all), [globex_run.id.clone(), acme_run.id.clone(), everyone.id.clone()]);
        let status = scheduler.status(Some(&acme)).await.expect("status");
        assert_eq!(status[0].last_run.as_ref().map(|run| &run.id), Some(&acme_run.id));
        let status = scheduler.status(Some(&TenantId::parse("initech").expect("tenant"))).await.expect("status");
        assert_eq!(status[0].last_run.as_ref().map(|run| &run.id), Some(&everyone.id));
    }
}

#[tokio::test]
async fn a_tenants_run_and_a_run_over_every_tenant_never_overlap() {
    let db = TestDatabase::sqlite();
    let store = db.connect().await;
    let (slow, scheduler) = slow_every_second(&store);
    let tenant_run = tokio::spawn({
        let scheduler = scheduler.clone();
        async move { scheduler.run_now("slow", JobScope::Tenant(TenantId::parse("acme").expect("tenant"))).await }
    });
    while slow.going.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let tick = scheduler.run_once("slow", Trigger::Schedule, JobScope::AllTenants).await.expect("no error");
    assert!(tick.is_none(), "a run over every tenant started during a tenant's run");
    let other = scheduler.run_now("slow", JobScope::Tenant(TenantId::parse("globex").expect("tenant"))).await;
    assert!(other.is_err(), "another tenant's run waits, then says the job is busy");
    slow.finish.notify_one();
    assert!(tenant_run.await.expect("joined").is_ok());
    assert_eq!(slow.most_at_once.load(Ordering::SeqCst), 1);
}
