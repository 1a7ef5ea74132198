//! `veritrail-bench integrity`: how fast Veritrail checks what it stored, in one run, each number
//! next to a baseline measured in the same run:
//!
//! 1. hash-only chain verification on one thread against the machine's SHA-256 throughput;
//! 2. end-to-end `verify` of a freshly loaded log (SQLite and PostgreSQL) against reading the same
//!    rows with the same queries and no decoding or hashing, in-process and as the `veritrail
//!    verify` command;
//! 3. latency of tree heads and Merkle proofs, in-process and over HTTP from `veritrail serve`,
//!    every answer checked against leaves and roots computed here from the events.
//!
//! See bench/README.md. Nothing is asserted about timings.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Connection, Row};
use veritrail_core::chain::{canonical_event_bytes, chain_hash, expected_hash, leaf_hash};
use veritrail_core::event::{NewEvent, StoredEvent, TenantId, normalize_time};
use veritrail_core::hash::Hash;
use veritrail_core::merkle::Frontier;
use veritrail_core::store::{EventLog, SeqRange};
use veritrail_core::validate::{Limits, validate_event};
use veritrail_store::StoreSettings;

use crate::BackendChoice;
use crate::cpu::{CpuSample, CpuUsage};
use crate::db::{self, Backend, DatabaseRef, FreshDatabase};
use crate::hashrate::{self, HashSettings};
use crate::integrity_report::{
    self, BackendIntegrity, Breakdown, CliVerify, IntegrityParameters, IntegrityReport, LoadResult, PhaseCpu,
    ReadResult, VerifyRun,
};
use crate::proofs::{self, Http, Reference, Samples};
use crate::server::ServerProcess;
use crate::workload::{TENANT, Workload};
use crate::{profile, report};

#[derive(Debug, Clone, Args)]
pub struct IntegrityArgs {
    /// The `veritrail` binary [default: target/release/veritrail of the workspace, or
    /// $CARGO_TARGET_DIR/release/veritrail].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = BackendChoice::All)]
    backend: BackendChoice,
    /// A PostgreSQL server to create (and drop) a scratch database on, e.g. the URL
    /// `scripts/pg.sh start DIR` prints. The user needs CREATEDB.
    #[arg(long, env = "VERITRAIL_BENCH_PG_URL")]
    pg_url: Option<String>,
    /// Events loaded into each backend's log (verification and proofs run on this size).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Events per `EventLog::append` call while loading.
    #[arg(long, default_value_t = 5_000)]
    load_batch: u64,
    /// Samples per kind of proof, in-process and over HTTP.
    #[arg(long, default_value_t = 1_000)]
    proof_samples: usize,
    /// Events in the in-memory chain of the hash-only phase.
    #[arg(long, default_value_t = 100_000)]
    hash_events: usize,
    /// Timed rounds per hash-only variant (the median is reported).
    #[arg(long, default_value_t = 5)]
    hash_rounds: usize,
    /// Minimum duration of one hash-only round, in seconds.
    #[arg(long, default_value_t = 1.0)]
    hash_round_seconds: f64,
    /// Seconds per block size of `openssl speed -evp sha256`.
    #[arg(long, default_value_t = 3)]
    openssl_seconds: u32,
    /// Do not run openssl (the bound then comes from the sha2 crate's own throughput).
    #[arg(long)]
    skip_openssl: bool,
    /// Do not profile an extra `veritrail verify` run with `perf` (done by default when perf exists).
    #[arg(long)]
    no_perf: bool,
    /// Markdown report [default: bench/results/integrity-<UTC date>.md]; the JSON goes next to it.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Rows per page, as `EventLog::verify` reads them (its `VERIFY_PAGE`).
const PAGE: u32 = 2_000;

/// The columns `EventLog::scan` selects, in its order.
const EVENT_COLUMNS: &str = "tenant, seq, id, occurred_at, received_at, actor_id, actor_type, actor_name, actor_ip, \
     actor_user_agent, action, resource_type, resource_id, resource_name, outcome, severity, details, tags, \
     prev_hash, hash";

/// Environment of the `veritrail` child processes: quiet logs, no scheduled jobs (an empty
/// schedule means on demand only; the integrity-check job would otherwise re-verify the whole log
/// at start-up, in the middle of the latency measurements; checkpoints are published on demand).
pub const CHILD_ENV: [(&str, &str); 3] =
    [("RUST_LOG", "warn"), ("VERITRAIL__INTEGRITY__SCHEDULE", ""), ("VERITRAIL__CHECKPOINTS__SCHEDULE", "")];

struct Ctx {
    args: IntegrityArgs,
    server_bin: PathBuf,
    workload: Workload,
    ticks_per_second: u64,
    perf: bool,
}

/// Event `n` as a client sends it (no id), validated as the server validates it, with a
/// server-style UUIDv7 id.
fn new_event(workload: &Workload, n: u64) -> anyhow::Result<NewEvent> {
    let body = workload.single_body(n, "");
    let value: serde_json::Value = serde_json::from_slice(&body).context("workload event JSON")?;
    validate_event(&value, &Limits::default(), || uuid::Uuid::now_v7().to_string())
        .map_err(|err| anyhow::anyhow!("workload event {n} is invalid: {}", err.message))
}

/// A correctly chained log of `count` events (seq 0..count), built in memory as the store would.
fn stored_chain(workload: &Workload, count: usize) -> anyhow::Result<Vec<StoredEvent>> {
    let tenant = TenantId::parse(TENANT).map_err(anyhow::Error::msg)?;
    let received_at = normalize_time(Utc::now());
    let mut prev_hash = Hash::GENESIS;
    let mut chain = Vec::with_capacity(count);
    for seq in 0..count as u64 {
        let event = new_event(workload, seq)?;
        let mut stored = StoredEvent::from_new(tenant.clone(), seq, event, received_at, prev_hash);
        stored.hash = expected_hash(&stored);
        prev_hash = stored.hash;
        chain.push(stored);
    }
    Ok(chain)
}

/// CPU ticks of this process's children that it has waited for (`/proc/self/stat` cutime +
/// cstime): how a child process that has exited is still accounted.
fn reaped_children_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0 };
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3; cutime and cstime are fields 16 and 17.
    let field = |number: usize| fields.get(number - 3).and_then(|value| value.parse::<u64>().ok()).unwrap_or(0);
    field(16) + field(17)
}

impl Ctx {
    fn phase(&self, phase: &str, seconds: f64, before: &CpuSample, after: &CpuSample) -> PhaseCpu {
        let usage = before.usage_until(after, self.ticks_per_second);
        PhaseCpu { phase: phase.to_owned(), seconds, child_cores: usage.server_cores, child: None, usage }
    }

    /// A phase in which a child (`label`) ran and was reaped: its CPU moves from `other` to `child`.
    fn phase_with_reaped_child(
        &self,
        phase: &str,
        label: &str,
        seconds: f64,
        before: &CpuSample,
        after: &CpuSample,
        child_ticks: u64,
    ) -> PhaseCpu {
        let mut usage: CpuUsage = before.usage_until(after, self.ticks_per_second);
        let child_cores = child_ticks as f64 / self.ticks_per_second as f64 / seconds.max(1e-9);
        usage.other_cores = (usage.other_cores - child_cores).max(0.0);
        usage.other_processes.remove(label);
        PhaseCpu { phase: phase.to_owned(), seconds, child_cores, child: Some(label.to_owned()), usage }
    }
}

pub async fn run(args: IntegrityArgs) -> anyhow::Result<()> {
    let started = Utc::now();
    let root = crate::workspace_root();
    let server_bin = args.server_bin.clone().unwrap_or_else(|| db::default_server_bin(&root));
    if !server_bin.is_file() {
        bail!(
            "no server binary at {}: build it with `cargo build --release -p veritrail-server` or pass --server-bin",
            server_bin.display()
        );
    }
    let backends = match args.backend {
        BackendChoice::Sqlite => vec![Backend::Sqlite],
        BackendChoice::Postgres => vec![Backend::Postgres],
        BackendChoice::All => vec![Backend::Sqlite, Backend::Postgres],
    };
    let pg_url = args.pg_url.clone().filter(|url| !url.trim().is_empty());
    if backends.contains(&Backend::Postgres) {
        let Some(url) = &pg_url else {
            bail!(
                "--backend {} includes PostgreSQL, but no PostgreSQL URL was given: pass --pg-url URL or set \
                 VERITRAIL_BENCH_PG_URL (`scripts/pg.sh start DIR` starts one and prints its URL), or run with \
                 --backend sqlite",
                if args.backend == BackendChoice::All { "all" } else { "postgres" }
            );
        };
        let conn = PgConnection::connect(url)
            .await
            .with_context(|| format!("connect to PostgreSQL at {}", db::redact(url)))?;
        conn.close().await.ok();
    }
    anyhow::ensure!(args.events >= 2, "--events must be at least 2");
    anyhow::ensure!(args.load_batch > 0 && args.proof_samples > 0, "--load-batch and --proof-samples must be > 0");
    anyhow::ensure!(args.hash_events > 0 && args.hash_round_seconds > 0.0, "--hash-events and rounds must be > 0");

    let out_md = args.out.clone().unwrap_or_else(|| {
        root.join("bench").join("results").join(format!("integrity-{}.md", started.format("%Y-%m-%d")))
    });
    let out_json = out_md.with_extension("json");
    if let Some(parent) = out_md.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }

    let mut machine = report::Machine::probe();
    let server_build = report::ServerBuild::probe(&server_bin, crate::server::version(&server_bin)?);
    if server_build.profile != "release" {
        eprintln!("warning: {} does not look like a release build; its numbers say little", server_bin.display());
    }
    let git = report::Git::probe(&root);
    let changed_outside_bench = integrity_report::changed_outside_bench(&root);
    let perf = !args.no_perf && profile::available();
    let workload = Workload::new(4096, false);
    let parameters = IntegrityParameters {
        events: args.events,
        load_batch: args.load_batch,
        proof_samples: args.proof_samples,
        hash_events: args.hash_events,
        hash_rounds: args.hash_rounds.max(1),
        hash_round_seconds: args.hash_round_seconds,
        openssl_seconds: args.openssl_seconds.max(1),
        event_templates: workload.template_count(),
        mean_event_json_bytes: workload.mean_event_bytes(),
        verify_page_rows: PAGE,
        perf,
        tenant: TENANT.to_owned(),
    };
    eprintln!(
        "veritrail-bench integrity: server {} ({}), {} CPUs, backends {:?}, {} events each",
        server_bin.display(),
        server_build.version,
        machine.cpus,
        backends,
        args.events
    );
    let ctx = Arc::new(Ctx { args, server_bin, workload, ticks_per_second: crate::cpu::clock_ticks(), perf });

    // Phase 1, on a thread of its own (it measures that thread's CPU time).
    eprintln!("== hash-only verification, one thread ==");
    let chain = stored_chain(&ctx.workload, ctx.args.hash_events)?;
    let settings = HashSettings {
        rounds: ctx.args.hash_rounds.max(1),
        round_seconds: ctx.args.hash_round_seconds,
        openssl_seconds: ctx.args.openssl_seconds.max(1),
        skip_openssl: ctx.args.skip_openssl,
    };
    let cpu_before = CpuSample::take(None);
    let children_before = reaped_children_ticks();
    let start = Instant::now();
    let hashing = tokio::task::spawn_blocking(move || hashrate::run(&chain, &settings))
        .await
        .context("the hash-only phase failed")?;
    let seconds = start.elapsed().as_secs_f64();
    let hashing_cpu = ctx.phase_with_reaped_child(
        "hash-only (incl. openssl speed)",
        "openssl",
        seconds,
        &cpu_before,
        &CpuSample::take(None),
        reaped_children_ticks().saturating_sub(children_before),
    );
    for variant in &hashing.variants {
        eprintln!(
            "  ({}) {:.0} events/s per core ({:.2}× the SHA-256 bound of {:.0}), {:.0} events/s wall",
            variant.key,
            variant.cpu_events_per_second,
            variant.vs_bound,
            hashing.bound.events_per_second,
            variant.wall_events_per_second
        );
    }

    let mut reports = Vec::new();
    for backend in backends {
        eprintln!("== {} ==", backend.label());
        let db = FreshDatabase::create(backend, pg_url.as_deref(), "integrity").await?;
        let handle = db.handle();
        let task_ctx = ctx.clone();
        reports.push(crate::guarded(db, async move { measure_backend(&task_ctx, &handle).await }).await?);
    }

    machine.load_average_end = report::load_average();
    let mut report = IntegrityReport {
        benchmark: "veritrail-bench integrity".to_owned(),
        started_utc: started.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        finished_utc: Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        machine,
        cpu_flags: integrity_report::cpu_flags(),
        server: server_build,
        git,
        changed_outside_bench,
        parameters,
        hashing,
        hashing_cpu,
        backends: reports,
        goals: Vec::new(),
    };
    report.goals = integrity_report::goal_checks(&report);
    std::fs::write(&out_json, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("write {}", out_json.display()))?;
    std::fs::write(&out_md, integrity_report::markdown(&report))
        .with_context(|| format!("write {}", out_md.display()))?;
    println!("{}", integrity_report::summary_tables(&report));
    println!("{}", integrity_report::goals_table(&report));
    println!("wrote {} and {}", out_md.display(), out_json.display());
    Ok(())
}

async fn measure_backend(ctx: &Ctx, db: &DatabaseRef) -> anyhow::Result<BackendIntegrity> {
    let n = ctx.args.events;
    let tenant = TenantId::parse(TENANT).map_err(anyhow::Error::msg)?;
    let store = veritrail_store::connect(&db.url, &StoreSettings::default())
        .await
        .with_context(|| format!("connect the store to {}", db::redact(&db.url)))?;
    let events = store.events.clone();
    let mut cpu = Vec::new();

    // Load through the real store: validated events, the real chain and Merkle tree.
    let (load, load_cpu) = load_events(ctx, events.as_ref(), &tenant).await?;
    cpu.push(load_cpu);
    let head = events.head(&tenant).await?.map_or(0, |head| head.next_seq);
    anyhow::ensure!(head == n, "after loading, the chain head says {head} events, not {n}");

    // PostgreSQL: what autovacuum would have done by now anyway, done before the clocks run.
    let vacuum_seconds = match db.backend {
        Backend::Postgres => {
            eprintln!("  VACUUM (ANALYZE)");
            let start = Instant::now();
            let mut conn = PgConnection::connect(&db.url).await?;
            sqlx::raw_sql("VACUUM (ANALYZE)").execute(&mut conn).await.context("VACUUM (ANALYZE)")?;
            conn.close().await.ok();
            Some(start.elapsed().as_secs_f64())
        }
        Backend::Sqlite => None,
    };
    let database_bytes = database_size(db).await.ok();

    // Baseline: the same paged queries as `verify`, rows read but not decoded, nothing hashed.
    eprintln!("  baseline: read the {n} rows with verify's queries, no decoding or hashing");
    let (raw_read, raw_cpu) = raw_read(ctx, db).await?;
    cpu.push(raw_cpu);
    eprintln!("    {:.0} rows/s ({:.2} s)", raw_read.rows_per_second, raw_read.seconds);
    anyhow::ensure!(raw_read.rows == n, "the baseline read {} rows, not {n}", raw_read.rows);

    // The real thing, in-process.
    eprintln!("  verify (in-process, EventLog::verify)");
    let before = CpuSample::take(None);
    let start = Instant::now();
    let verify_report = events.verify(&tenant, SeqRange::default()).await.context("EventLog::verify")?;
    let seconds = start.elapsed().as_secs_f64();
    cpu.push(ctx.phase("verify (store, in-process)", seconds, &before, &CpuSample::take(None)));
    let verify = VerifyRun {
        seconds,
        events_per_second: verify_report.checked as f64 / seconds.max(1e-9),
        ok: verify_report.ok,
        checked: verify_report.checked,
        reason: verify_report.reason.clone(),
    };
    eprintln!(
        "    {:.0} events/s ({:.2} s), ok {}, checked {}",
        verify.events_per_second, seconds, verify.ok, verify.checked
    );
    if !verify.ok || verify.checked != n {
        eprintln!("  WARNING: verify did not report ok with {n} events checked: {:?}", verify_report);
    }

    // Where verify's time goes: the same pages through `scan`, then the same per-row checks,
    // timed apart. The same pass computes the reference leaves and roots for the proof checks.
    let store_samples = Samples::draw(n, ctx.args.proof_samples, 0x5107e);
    let http_samples = Samples::draw(n, ctx.args.proof_samples, 0x4177);
    let (leaves_wanted, roots_wanted) = proofs::wanted(n, &[&store_samples, &http_samples]);
    eprintln!("  breakdown: scan pages, then check them (timed apart)");
    let before = CpuSample::take(None);
    let start = Instant::now();
    let (breakdown, reference) = breakdown_pass(events.as_ref(), &tenant, &leaves_wanted, &roots_wanted).await?;
    cpu.push(ctx.phase("breakdown (scan, then check)", start.elapsed().as_secs_f64(), &before, &CpuSample::take(None)));
    eprintln!(
        "    scan {:.2} s, check {:.2} s, {} mismatches",
        breakdown.scan_seconds, breakdown.check_seconds, breakdown.mismatches
    );

    // The command an operator runs.
    eprintln!("  veritrail verify (child process)");
    let cli_args: Vec<String> = vec![
        "verify".to_owned(),
        "--data-dir".to_owned(),
        db.data_dir.display().to_string(),
        "--database-url".to_owned(),
        db.url.clone(),
        "--json".to_owned(),
    ];
    let (cli, cli_cpu) = cli_verify(ctx, &cli_args).await?;
    cpu.push(cli_cpu);
    eprintln!(
        "    {:.0} events/s ({:.2} s), ok {:?}, checked {:?}",
        cli.events_per_second, cli.seconds, cli.ok, cli.checked
    );

    let perf = if ctx.perf {
        eprintln!("  perf record of another veritrail verify (untimed)");
        let bin = ctx.server_bin.clone();
        let dir = db.data_dir.clone();
        let args = cli_args.clone();
        let result = tokio::task::spawn_blocking(move || profile::record(&bin, &args, &CHILD_ENV, &dir))
            .await
            .map_err(|err| err.to_string())
            .and_then(|result| result);
        match &result {
            Ok(profile) => {
                let top: Vec<String> =
                    profile.categories.iter().take(4).map(|(name, share)| format!("{name} {share:.0}%")).collect();
                eprintln!("    {}", top.join(", "));
            }
            Err(err) => eprintln!("    perf failed: {err}"),
        }
        Some(result.map_err(|err| err.chars().take(500).collect::<String>()))
    } else {
        None
    };

    // Proofs in-process.
    eprintln!("  proofs via the store: {} samples each", ctx.args.proof_samples);
    let before = CpuSample::take(None);
    let start = Instant::now();
    let mut proof_results = proofs::via_store(events.as_ref(), &tenant, n, &store_samples, &reference).await;
    cpu.push(ctx.phase("proofs (store, in-process)", start.elapsed().as_secs_f64(), &before, &CpuSample::take(None)));

    // Proofs over HTTP from the real server.
    let secret = db::random_secret()?;
    let server = ServerProcess::start_with_env(&ctx.server_bin, &db.data_dir, &db.url, &secret, &CHILD_ENV).await?;
    eprintln!("  proofs over HTTP: server pid {} on {}", server.pid, server.base_url);
    let http = Http::new(&server.base_url, &secret)?;
    let before = CpuSample::take(Some(server.pid));
    let start = Instant::now();
    proof_results.extend(proofs::via_http(&http, n, &http_samples, &reference).await);
    cpu.push(ctx.phase("proofs (HTTP)", start.elapsed().as_secs_f64(), &before, &CpuSample::take(Some(server.pid))));
    let checkpoint = proofs::run_checkpoint(&http, &reference, n).await;
    drop(http);
    let stderr = server.stop().await?;
    for result in &proof_results {
        eprintln!(
            "    {} {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; verified {}, wrong {}, errors {}",
            result.via,
            result.kind,
            result.latency.p50_ms,
            result.latency.p99_ms,
            result.latency.max_ms,
            result.verified,
            result.wrong,
            result.errors
        );
    }
    eprintln!("    checkpoint run: {:.1} ms, {:?}", checkpoint.milliseconds, checkpoint.problem);
    drop(events);
    drop(store);

    Ok(BackendIntegrity {
        backend: db.backend,
        events: n,
        load,
        vacuum_seconds,
        database_bytes,
        raw_read,
        verify,
        breakdown,
        cli,
        perf,
        proofs: proof_results,
        checkpoint,
        server_stderr_lines: stderr.lines,
        server_stderr_tail: stderr.tail,
        cpu,
    })
}

async fn load_events(ctx: &Ctx, events: &dyn EventLog, tenant: &TenantId) -> anyhow::Result<(LoadResult, PhaseCpu)> {
    let n = ctx.args.events;
    let batch = ctx.args.load_batch;
    eprintln!("  load: {n} events through EventLog::append, {batch} per call");
    let before = CpuSample::take(None);
    let start = Instant::now();
    let (mut append, mut generate) = (Duration::ZERO, Duration::ZERO);
    let (mut first, mut batches, mut next_progress) = (0, 0, n / 5);
    while first < n {
        let count = batch.min(n - first);
        let generated = Instant::now();
        let batch_events =
            (first..first + count).map(|k| new_event(&ctx.workload, k)).collect::<anyhow::Result<Vec<_>>>()?;
        generate += generated.elapsed();
        let appending = Instant::now();
        let appended = events
            .append(tenant, batch_events)
            .await
            .map_err(|err| anyhow::anyhow!("append of events {first}..{}: {err}", first + count))?;
        append += appending.elapsed();
        anyhow::ensure!(
            appended.len() as u64 == count && appended.iter().all(|one| one.created),
            "append of events {first}..{} did not create them all",
            first + count
        );
        first += count;
        batches += 1;
        if first >= next_progress && first < n {
            eprintln!("    {first} events, {:.0} events/s", first as f64 / append.as_secs_f64().max(1e-9));
            next_progress += n / 5;
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = ctx.phase("load (generate + append)", wall, &before, &CpuSample::take(None));
    let load = LoadResult {
        events: n,
        batches,
        append_seconds: append.as_secs_f64(),
        generate_seconds: generate.as_secs_f64(),
        wall_seconds: wall,
        events_per_second: n as f64 / append.as_secs_f64().max(1e-9),
    };
    eprintln!(
        "    {:.0} events/s appended ({:.1} s; generating the events took {:.1} s more)",
        load.events_per_second, load.append_seconds, load.generate_seconds
    );
    Ok((load, cpu))
}

/// Size of the database on disk: the SQLite file with its WAL, or `pg_database_size`.
async fn database_size(db: &DatabaseRef) -> anyhow::Result<u64> {
    match db.backend {
        Backend::Sqlite => {
            let mut total = 0;
            for entry in std::fs::read_dir(&db.data_dir)?.flatten() {
                if entry.file_name().to_string_lossy().starts_with("veritrail.db") {
                    total += entry.metadata()?.len();
                }
            }
            Ok(total)
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&db.url).await?;
            let size: i64 =
                sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&mut conn).await?;
            conn.close().await.ok();
            Ok(u64::try_from(size).unwrap_or_default())
        }
    }
}

/// Bytes of a row's columns, read as borrowed values (no copies, no parsing beyond the driver's).
fn touch_sqlite(row: &SqliteRow) -> Result<u64, sqlx::Error> {
    let mut bytes = 8;
    for idx in (0..18).filter(|idx| *idx != 1) {
        bytes += row.try_get::<Option<&str>, _>(idx)?.map_or(0, str::len);
    }
    let _: i64 = row.try_get(1)?;
    bytes += row.try_get::<&[u8], _>(18)?.len() + row.try_get::<&[u8], _>(19)?.len();
    Ok(bytes as u64)
}

fn touch_postgres(row: &PgRow) -> Result<u64, sqlx::Error> {
    let mut bytes = 8 + 16;
    for idx in (0..18).filter(|idx| ![1, 3, 4].contains(idx)) {
        bytes += row.try_get::<Option<&str>, _>(idx)?.map_or(0, str::len);
    }
    let _: i64 = row.try_get(1)?;
    let _: chrono::DateTime<Utc> = row.try_get(3)?;
    let _: chrono::DateTime<Utc> = row.try_get(4)?;
    bytes += row.try_get::<&[u8], _>(18)?.len() + row.try_get::<&[u8], _>(19)?.len();
    Ok(bytes as u64)
}

/// The baseline of phase 2: every row of the tenant read with the queries `EventLog::scan` runs
/// (pages of [`PAGE`] rows, same ORDER BY), over one connection, without building events.
async fn raw_read(ctx: &Ctx, db: &DatabaseRef) -> anyhow::Result<(ReadResult, PhaseCpu)> {
    let (mut rows, mut bytes, mut pages) = (0u64, 0u64, 0u64);
    let mut cursor: i64 = 0;
    let before;
    let start;
    let after;
    match db.backend {
        Backend::Sqlite => {
            let mut conn = SqliteConnectOptions::from_str(&db.url)?.read_only(true).connect().await?;
            let sql =
                format!("SELECT {EVENT_COLUMNS} FROM events WHERE tenant = ? AND seq >= ? ORDER BY seq, rowid LIMIT ?");
            before = CpuSample::take(None);
            start = Instant::now();
            loop {
                let page = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(TENANT)
                    .bind(cursor)
                    .bind(i64::from(PAGE))
                    .fetch_all(&mut conn)
                    .await?;
                pages += 1;
                for row in &page {
                    bytes += touch_sqlite(row)?;
                }
                rows += page.len() as u64;
                match page.last() {
                    Some(last) if page.len() == PAGE as usize => cursor = last.try_get::<i64, _>(1)? + 1,
                    _ => break,
                }
            }
            after = CpuSample::take(None);
            conn.close().await.ok();
        }
        Backend::Postgres => {
            let mut conn = PgConnection::connect(&db.url).await?;
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE tenant = $1 AND seq >= $2 ORDER BY seq, ctid LIMIT $3"
            );
            before = CpuSample::take(None);
            start = Instant::now();
            loop {
                let page = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(TENANT)
                    .bind(cursor)
                    .bind(i64::from(PAGE))
                    .fetch_all(&mut conn)
                    .await?;
                pages += 1;
                for row in &page {
                    bytes += touch_postgres(row)?;
                }
                rows += page.len() as u64;
                match page.last() {
                    Some(last) if page.len() == PAGE as usize => cursor = last.try_get::<i64, _>(1)? + 1,
                    _ => break,
                }
            }
            after = CpuSample::take(None);
            conn.close().await.ok();
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let read = ReadResult {
        rows,
        pages,
        bytes,
        seconds,
        rows_per_second: rows as f64 / seconds.max(1e-9),
        megabytes_per_second: bytes as f64 / 1e6 / seconds.max(1e-9),
    };
    Ok((read, ctx.phase("baseline read (verify's queries, no decoding)", seconds, &before, &after)))
}

/// Pages through the log with `EventLog::scan` (fetch + decode into `StoredEvent`) and checks each
/// page as `ChainVerifier` does (canonical encoding, leaf and chain hash, link, Merkle frontier),
/// timing the two apart. Records the leaves and tree roots the proof checks need.
async fn breakdown_pass(
    events: &dyn EventLog,
    tenant: &TenantId,
    leaves_wanted: &[u64],
    roots_wanted: &[u64],
) -> anyhow::Result<(Breakdown, Reference)> {
    let mut reference = Reference::default();
    let (mut scan, mut check) = (Duration::ZERO, Duration::ZERO);
    let (mut rows, mut pages, mut mismatches, mut canonical_bytes) = (0u64, 0u64, 0u64, 0u64);
    let (mut next_leaf, mut next_root) = (0usize, 0usize);
    let mut frontier = Frontier::default();
    let mut prev = Hash::GENESIS;
    let mut cursor = 0;
    loop {
        let scanning = Instant::now();
        let page = events.scan(tenant, cursor, PAGE).await.context("EventLog::scan")?;
        scan += scanning.elapsed();
        pages += 1;
        let checking = Instant::now();
        for event in &page {
            let bytes = canonical_event_bytes(event);
            canonical_bytes += bytes.len() as u64;
            let leaf = leaf_hash(&bytes);
            if event.seq != rows || event.prev_hash != prev || chain_hash(&event.prev_hash, &leaf) != event.hash {
                mismatches += 1;
            }
            prev = event.hash;
            frontier.append_with(leaf, |_, _| {});
            rows += 1;
            if leaves_wanted.get(next_leaf) == Some(&event.seq) {
                reference.leaves.insert(event.seq, leaf);
                next_leaf += 1;
            }
            if roots_wanted.get(next_root) == Some(&frontier.size()) {
                reference.roots.insert(frontier.size(), frontier.root());
                next_root += 1;
            }
        }
        check += checking.elapsed();
        match page.last() {
            Some(last) if page.len() == PAGE as usize => cursor = last.seq + 1,
            _ => break,
        }
    }
    let breakdown = Breakdown {
        rows,
        pages,
        scan_seconds: scan.as_secs_f64(),
        check_seconds: check.as_secs_f64(),
        mean_canonical_bytes: canonical_bytes as f64 / rows.max(1) as f64,
        mismatches,
        reference_leaves: reference.leaves.len(),
        reference_roots: reference.roots.len(),
    };
    Ok((breakdown, reference))
}

/// `veritrail verify --json` as a child process, timed from spawn to exit.
async fn cli_verify(ctx: &Ctx, args: &[String]) -> anyhow::Result<(CliVerify, PhaseCpu)> {
    let before = CpuSample::take(None);
    let children_before = reaped_children_ticks();
    let start = Instant::now();
    let output = tokio::process::Command::new(&ctx.server_bin)
        .args(args)
        .envs(CHILD_ENV)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("run {} verify", ctx.server_bin.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    let child_ticks = reaped_children_ticks().saturating_sub(children_before);
    let after = CpuSample::take(None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut ok = None;
    let mut checked = None;
    for line in stdout.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if value["tenant"] == TENANT {
            ok = value["report"]["ok"].as_bool();
            checked = value["report"]["checked"].as_u64();
        }
    }
    let cli = CliVerify {
        seconds,
        events_per_second: checked.unwrap_or(0) as f64 / seconds.max(1e-9),
        exit_code: output.status.code(),
        ok,
        checked,
        child_cpu_seconds: child_ticks as f64 / ctx.ticks_per_second as f64,
        stderr_tail: stderr.lines().rev().take(5).map(str::to_owned).collect::<Vec<_>>().into_iter().rev().collect(),
    };
    let cpu =
        ctx.phase_with_reaped_child("verify (CLI child process)", "veritrail", seconds, &before, &after, child_ticks);
    Ok((cli, cpu))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_memory_chain_verifies_and_is_realistic() {
        let workload = Workload::new(16, false);
        let chain = stored_chain(&workload, 20).expect("chain");
        let mut verifier = veritrail_core::verify::ChainVerifier::new(0, Hash::GENESIS);
        for event in &chain {
            verifier.check(event).expect("intact");
        }
        let mean = chain.iter().map(|event| canonical_event_bytes(event).len()).sum::<usize>() / chain.len();
        assert!((400..=700).contains(&mean), "canonical size {mean}");
    }
}
