//! `veritrail-bench`: measures the real `veritrail` server, with a baseline measured in the same
//! run on the same machine, and writes what it found as Markdown and JSON. Not a test: nothing is
//! asserted about timings. See bench/README.md.
//!
//! - `ingest`: ingest throughput and latency against raw INSERTs;
//! - `integrity`: verification speed and proof latency against SHA-256 and raw reads;
//! - `search`: search latency and embedding back-fill throughput against the raw model.

mod cpu;
mod db;
mod hashrate;
mod integrity;
mod integrity_report;
mod load;
mod profile;
mod proofs;
mod receiver;
mod report;
mod reports_bench;
mod search;
mod search_data;
mod search_questions;
mod search_report;
mod search_vocab;
mod server;
mod threads;
mod vector_scan;
mod vector_scan_data;
mod vector_scan_report;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cpu::CpuSample;
use crate::db::{Backend, BaselineRun, DatabaseRef, FreshDatabase};
use crate::load::Target;
use crate::report::{BackendLag, BackendReport, Mode, ModeRun, Report, Warmup};
use crate::server::ServerProcess;
use crate::threads::ThreadSample;
use crate::workload::Workload;

/// The allocator of the `veritrail` binary, so that what this process measures in-process (SQLite
/// inside it, decoding rows into events, canonical encoding) allocates as the server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "veritrail-bench", version, about = "Benchmarks of the real veritrail server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest throughput and latency of `veritrail serve` against a raw-INSERT baseline.
    Ingest(IngestArgs),
    /// Verification speed (hash-only and end-to-end) and Merkle proof latency at 1M events, against
    /// SHA-256 and raw-read baselines.
    Integrity(integrity::IntegrityArgs),
    /// Search latency (p50/p95/p99, incl. query embedding) and embedding back-fill throughput
    /// against the raw model, on synthetic logs of 100k and 1M events.
    Search(search::SearchArgs),
    /// Nearest-neighbour search on SQLite: the store's Rust scan of in-memory BLOB vectors against
    /// the sqlite-vec extension (vec0 and a SQL scan), same vectors and queries, 100k and 1M events.
    Vectors(vector_scan::VectorsArgs),
    /// Activity PDF rendering against ReportLab, and CSV export of 1M events against
    /// PostgreSQL's COPY.
    Reports(reports_bench::ReportsArgs),
    /// (internal) Renders the synthetic activity report once; used by `reports`.
    #[command(hide = true)]
    RenderActivity(reports_bench::RenderArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    Sqlite,
    Postgres,
    All,
}

#[derive(Debug, Clone, Args)]
struct IngestArgs {
    /// The `veritrail` binary [default: target/release/veritrail of the workspace, or
    /// $CARGO_TARGET_DIR/release/veritrail].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = BackendChoice::All)]
    backend: BackendChoice,
    /// A PostgreSQL server to create (and drop) scratch databases on, e.g. the URL
    /// `scripts/pg.sh start DIR` prints. The user needs CREATEDB.
    #[arg(long, env = "VERITRAIL_BENCH_PG_URL")]
    pg_url: Option<String>,
    /// Events sent in the batched phase (the baseline inserts as many rows).
    #[arg(long, default_value_t = 200_000)]
    batched_events: u64,
    /// Events per batch request (the server accepts at most 1000 by default).
    #[arg(long, default_value_t = 1000)]
    batch_size: u64,
    /// Concurrent clients in the batched phase.
    #[arg(long, default_value_t = 4)]
    batch_concurrency: usize,
    /// Duration of the single-event phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    single_seconds: f64,
    /// Concurrent clients in the single-event phase.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Untimed single-event load before the timed phase, in seconds.
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Send events without ids (the server generates UUIDv7s and skips the idempotency lookup).
    #[arg(long)]
    no_client_ids: bool,
    /// Fill the baseline's hash columns with pseudo-random bytes instead of one fixed value.
    #[arg(long)]
    baseline_random_hashes: bool,
    /// Server modes to run, in this order (the order alternates in every other round): `jobs-off`
    /// (every background job unscheduled, no embedding model, no alert rule) and `product` (the
    /// defaults of `scripts/run.sh`: local model installed, every job on its default schedule,
    /// plus an event rule with a webhook channel).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Mode::JobsOff, Mode::Product])]
    modes: Vec<Mode>,
    /// Each mode runs this many times per backend, each time on a fresh database; the summary
    /// takes the median.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// The local embedding model for the product mode [default: the server's default directory].
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// After the product mode's timed phases: how long to wait for the search index to catch up
    /// (documents and vectors of every event) with no load; 0 skips the wait.
    #[arg(long, default_value_t = 300.0)]
    catch_up_seconds: f64,
    /// Extra server settings for the product mode, `KEY=VALUE` (e.g.
    /// `VERITRAIL__BACKGROUND__BUSY_SHARE=0.05`); repeatable. Shown in the report.
    #[arg(long = "product-env", value_name = "KEY=VALUE")]
    product_env: Vec<String>,
    /// Markdown report [default: bench/results/ingest-<UTC date>.md]; the JSON goes next to it.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Everything the phases share.
struct Bench {
    args: IngestArgs,
    server_bin: PathBuf,
    model_dir: PathBuf,
    workload: Arc<Workload>,
    ticks_per_second: u64,
}

fn main() -> ExitCode {
    // sqlx is built with rustls; one crypto provider for the process, as the server does.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("veritrail-bench: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Ingest(args) => runtime.block_on(ingest(args)),
        Command::Integrity(args) => runtime.block_on(integrity::run(args)),
        Command::Search(args) => runtime.block_on(search::run(args)),
        Command::Vectors(args) => runtime.block_on(vector_scan::run(args)),
        Command::Reports(args) => runtime.block_on(reports_bench::run(args)),
        Command::RenderActivity(args) => reports_bench::render_child(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("veritrail-bench: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace this binary was built from, if it is still there; else the current directory.
fn workspace_root() -> PathBuf {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
    match built_from {
        Some(root) if root.join("Cargo.toml").is_file() => root,
        _ => PathBuf::from("."),
    }
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let started = Utc::now();
    let root = workspace_root();
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
        // Fail now, not after the SQLite half has run.
        use sqlx::Connection;
        let conn = sqlx::PgConnection::connect(url)
            .await
            .with_context(|| format!("connect to PostgreSQL at {}", db::redact(url)))?;
        conn.close().await.ok();
    }
    anyhow::ensure!(args.batch_size > 0 && args.batched_events > 0, "--batch-size and --batched-events must be > 0");
    anyhow::ensure!(args.single_seconds > 0.0 && args.warmup_seconds >= 0.0, "durations must be positive");
    if args.batch_size > 1000 {
        eprintln!("warning: the server refuses batches over 1000 events unless configured otherwise");
    }

    anyhow::ensure!(!args.modes.is_empty() && args.rounds > 0, "--modes must name a mode and --rounds be > 0");
    let model_dir = args.model_dir.clone().unwrap_or_else(veritrail_models::fetch::default_model_dir);
    if args.modes.contains(&Mode::Product) && !veritrail_models::fetch::model_present(&model_dir) {
        bail!(
            "the product mode runs with the local embedding model, and there is none in {}: run `veritrail models \
             fetch` (or pass --model-dir, or --modes jobs-off)",
            model_dir.display()
        );
    }

    let out_md = args.out.clone().unwrap_or_else(|| {
        root.join("bench").join("results").join(format!("ingest-{}.md", started.format("%Y-%m-%d")))
    });
    let out_json = out_md.with_extension("json");
    if let Some(parent) = out_md.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }

    let mut machine = report::Machine::probe();
    let server_build = report::ServerBuild::probe(&server_bin, server::version(&server_bin)?);
    if server_build.profile != "release" {
        eprintln!("warning: {} does not look like a release build; its numbers say little", server_bin.display());
    }
    let git = report::Git::probe(&root);
    let workload = Arc::new(Workload::new(4096, !args.no_client_ids));
    let parameters = report::Parameters {
        batched_events: args.batched_events,
        batch_size: args.batch_size,
        batch_concurrency: args.batch_concurrency.max(1),
        single_seconds: args.single_seconds,
        single_concurrency: args.concurrency.max(1),
        warmup_seconds: args.warmup_seconds,
        client_ids: workload.client_ids(),
        mean_event_bytes: workload.mean_event_bytes(),
        event_templates: workload.template_count(),
        baseline_rows: args.batched_events,
        baseline_hash_values: if args.baseline_random_hashes { "pseudo-random" } else { "fixed" }.to_owned(),
        modes: args.modes.clone(),
        rounds: args.rounds,
        catch_up_seconds: args.catch_up_seconds,
    };
    eprintln!(
        "veritrail-bench ingest: server {} ({}), {} CPUs, backends {:?}; events ~{:.0} bytes",
        server_bin.display(),
        server_build.version,
        machine.cpus,
        backends,
        parameters.mean_event_bytes
    );

    let ctx = Arc::new(Bench { args, server_bin, model_dir, workload, ticks_per_second: cpu::clock_ticks() });
    let mut reports = Vec::new();
    for backend in backends {
        reports.push(run_backend(&ctx, backend, pg_url.as_deref()).await?);
    }

    machine.load_average_end = report::load_average();
    let report = Report {
        benchmark: "veritrail-bench ingest".to_owned(),
        started_utc: started.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        finished_utc: Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        machine,
        server: server_build,
        git,
        parameters,
        goals: report::goal_checks(&reports),
        backends: reports,
    };
    std::fs::write(&out_json, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("write {}", out_json.display()))?;
    std::fs::write(&out_md, report::markdown(&report)).with_context(|| format!("write {}", out_md.display()))?;

    println!("{}", report::summary_table(&report));
    println!("{}", report::versus_table(&report));
    println!("{}", report::goals_table(&report));
    println!("wrote {} and {}", out_md.display(), out_json.display());
    Ok(())
}

async fn run_backend(ctx: &Arc<Bench>, backend: Backend, pg_url: Option<&str>) -> anyhow::Result<BackendReport> {
    eprintln!("== {} ==", backend.label());
    let before = baseline(ctx, backend, pg_url, "before").await?;
    let mut runs = Vec::new();
    for round in 0..ctx.args.rounds {
        // Alternate the order, so that neither mode always runs on a machine warmed (or disturbed)
        // by the other.
        let mut modes = ctx.args.modes.clone();
        if round % 2 == 1 {
            modes.reverse();
        }
        for mode in modes {
            runs.push(server_phases(ctx, backend, pg_url, mode, round).await?);
        }
    }
    let after = baseline(ctx, backend, pg_url, "after").await?;
    Ok(BackendReport::new(backend, vec![before, after], runs))
}

/// Runs `work` on a task, so that a panic inside it still lets the caller drop the database.
async fn guarded<T: Send + 'static>(
    db: FreshDatabase,
    work: impl Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    let outcome = match tokio::spawn(work).await {
        Ok(result) => result,
        Err(err) => Err(anyhow::anyhow!("benchmark task failed: {err}")),
    };
    let removed = db.remove().await;
    let value = outcome?;
    removed.context("remove the scratch database")?;
    Ok(value)
}

async fn baseline(
    ctx: &Arc<Bench>,
    backend: Backend,
    pg_url: Option<&str>,
    when: &'static str,
) -> anyhow::Result<BaselineRun> {
    let db = FreshDatabase::create(backend, pg_url, "baseline").await?;
    let handle = db.handle();
    let ctx = ctx.clone();
    guarded(db, async move {
        db::migrate_with_server(&ctx.server_bin, &handle)?;
        eprintln!("  baseline ({when}): raw INSERT of {} rows", ctx.args.batched_events);
        let run = db::run_baseline(
            &handle,
            &ctx.workload,
            ctx.args.batched_events,
            ctx.args.baseline_random_hashes,
            when,
            ctx.ticks_per_second,
        )
        .await?;
        eprintln!("    {:.0} rows/s ({:.2} s)", run.rows_per_second, run.seconds);
        Ok(run)
    })
    .await
}

async fn server_phases(
    ctx: &Arc<Bench>,
    backend: Backend,
    pg_url: Option<&str>,
    mode: Mode,
    round: usize,
) -> anyhow::Result<ModeRun> {
    let db = FreshDatabase::create(backend, pg_url, "server").await?;
    let handle = db.handle();
    let ctx = ctx.clone();
    guarded(db, async move { drive_server(&ctx, &handle, mode, round).await }).await
}

/// Settings that switch every background job off: no schedule (on demand only), no model.
const JOBS_OFF: [(&str, &str); 7] = [
    ("VERITRAIL__SEARCH__EMBEDDING__PROVIDER", "none"),
    ("VERITRAIL__SEARCH__SCHEDULE", ""),
    ("VERITRAIL__CHECKPOINTS__SCHEDULE", ""),
    ("VERITRAIL__INTEGRITY__SCHEDULE", ""),
    ("VERITRAIL__ANOMALIES__SCHEDULE", ""),
    ("VERITRAIL__ALERTS__EVENT_SCHEDULE", ""),
    ("VERITRAIL__ALERTS__DELIVERY_SCHEDULE", ""),
];

/// The product mode's configuration file: a webhook channel to `receiver_url` and an event
/// rule that matches a few percent of the benchmark's events (denied deletes, token creations
/// and invitations).
fn product_config(receiver_url: &str) -> String {
    format!(
        "[alerts]\nallow_private_targets = true\n\n\
         [[alerts.channels]]\ntenant = \"{tenant}\"\nname = \"bench-hook\"\nkind = \"webhook\"\n\
         config = {{ url = \"{receiver_url}\", secret = \"bench-webhook-signing-secret\" }}\n\n\
         [[alerts.rules]]\ntenant = \"{tenant}\"\nname = \"denied-changes\"\nkind = \"event\"\n\
         min_severity = \"medium\"\nchannels = [\"bench-hook\"]\n\
         match = {{ outcome = \"denied\", actions = [\"repo.delete\", \"token.create\", \"member.invite\"] }}\n",
        tenant = workload::TENANT
    )
}

/// The batch bodies for events `0..total`, `size` per request, ids `{prefix}-{n}`.
fn batch_bodies(workload: &Workload, offset: u64, total: u64, size: u64, prefix: &str) -> Vec<(Vec<u8>, u64)> {
    (0..total.div_ceil(size))
        .map(|idx| {
            let first = idx * size;
            let count = size.min(total - first);
            (workload.batch_body(offset + first, count, prefix), count)
        })
        .collect()
}

async fn drive_server(ctx: &Bench, db: &DatabaseRef, mode: Mode, round: usize) -> anyhow::Result<ModeRun> {
    let args = &ctx.args;
    let secret = db::random_secret()?;
    let mut env: Vec<(String, String)> = vec![("RUST_LOG".to_owned(), "warn".to_owned())];
    let receiver = match mode {
        Mode::JobsOff => {
            env.extend(JOBS_OFF.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())));
            None
        }
        Mode::Product => {
            let receiver = receiver::Receiver::start().await?;
            let config_path = db.data_dir.join("bench-product.toml");
            std::fs::write(&config_path, product_config(&receiver.url))
                .with_context(|| format!("write {}", config_path.display()))?;
            env.push(("VERITRAIL_CONFIG".to_owned(), config_path.to_string_lossy().into_owned()));
            env.push((
                "VERITRAIL__SEARCH__EMBEDDING__MODEL_DIR".to_owned(),
                ctx.model_dir.to_string_lossy().into_owned(),
            ));
            for setting in &args.product_env {
                let (key, value) = setting.split_once('=').unwrap_or((setting.as_str(), ""));
                env.push((key.to_owned(), value.to_owned()));
            }
            Some(receiver)
        }
    };
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
    let server = ServerProcess::start_with_env(&ctx.server_bin, &db.data_dir, &db.url, &secret, &env_refs).await?;
    eprintln!("  {} (round {}): server pid {} on {}", mode.label(), round + 1, server.pid, server.base_url);
    let target = Target::new(&server.base_url, &secret, args.concurrency.max(args.batch_concurrency) + 8)?;
    let batch_concurrency = args.batch_concurrency.max(1);
    let concurrency = args.concurrency.max(1);

    // Warm-up: connections, key cache, the server's statement caches. Untimed.
    let warm_events = args.batch_size * batch_concurrency as u64;
    let warm = load::run_batched(
        &target,
        batch_bodies(&ctx.workload, 0, warm_events, args.batch_size, "warm"),
        batch_concurrency,
    )
    .await;
    if warm.batch_outcomes.errors() > 0 {
        eprintln!("  warning: warm-up batches failed: {}", warm.batch_outcomes.describe_errors());
    }

    let bodies = batch_bodies(&ctx.workload, warm_events, args.batched_events, args.batch_size, "bat");
    eprintln!("  batched: {} events in {} requests, {} clients", args.batched_events, bodies.len(), batch_concurrency);
    let (cpu_before, threads_before) = (CpuSample::take(Some(server.pid)), ThreadSample::take(server.pid));
    let batched = load::run_batched(&target, bodies, batch_concurrency).await;
    let batched_cpu = cpu_before.usage_until(&CpuSample::take(Some(server.pid)), ctx.ticks_per_second);
    let batched_threads = threads_before.usage_until(&ThreadSample::take(server.pid), ctx.ticks_per_second);
    eprintln!(
        "    {:.0} events/s ({:.2} s), errors {}",
        batched.events_per_second,
        batched.seconds,
        batched.batch_outcomes.describe_errors()
    );

    let mut single_warm_created = 0;
    if args.warmup_seconds > 0.0 {
        let warm_single = load::run_single(
            &target,
            ctx.workload.clone(),
            concurrency,
            Duration::from_secs_f64(args.warmup_seconds),
            "warm1",
        )
        .await;
        single_warm_created = warm_single.outcomes.created;
    }
    eprintln!("  single: {concurrency} clients for {} s", args.single_seconds);
    let (cpu_before, threads_before) = (CpuSample::take(Some(server.pid)), ThreadSample::take(server.pid));
    let single = load::run_single(
        &target,
        ctx.workload.clone(),
        concurrency,
        Duration::from_secs_f64(args.single_seconds),
        "one",
    )
    .await;
    let single_cpu = cpu_before.usage_until(&CpuSample::take(Some(server.pid)), ctx.ticks_per_second);
    let single_threads = threads_before.usage_until(&ThreadSample::take(server.pid), ctx.ticks_per_second);
    eprintln!(
        "    {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms, errors {}; server threads: {}",
        single.requests_per_second,
        single.latency.p50_ms,
        single.latency.p99_ms,
        single.outcomes.describe_errors(),
        single_threads.describe()
    );

    let background = match &receiver {
        Some(receiver) => Some(background_lag(ctx, &server, &secret, receiver).await),
        None => None,
    };
    drop(target);
    let stderr = server.stop().await?;
    if stderr.lines > 0 {
        eprintln!("  the server wrote {} lines to stderr; last: {:?}", stderr.lines, stderr.tail.last());
    }
    let events_stored = db.count_events().await?;
    let events_expected = warm.events_created + batched.events_created + single_warm_created + single.outcomes.created;
    if u64::try_from(events_stored).ok() != Some(events_expected) {
        eprintln!("  warning: {events_stored} events stored, {events_expected} expected from the 201 answers");
    }
    Ok(ModeRun {
        mode,
        round: round + 1,
        batched,
        batched_cpu,
        batched_threads,
        single,
        single_cpu,
        single_threads,
        warmup: Warmup { batch_events_created: warm.events_created, single_events_created: single_warm_created },
        events_expected,
        events_stored,
        background,
        server_stderr_lines: stderr.lines,
        server_stderr_tail: stderr.tail,
    })
}

/// `GET /api/v1/search/status` as JSON, or `None` when it cannot be read.
async fn search_status(client: &reqwest::Client, server: &ServerProcess, secret: &str) -> Option<serde_json::Value> {
    let response =
        client.get(format!("{}/api/v1/search/status", server.base_url)).bearer_auth(secret).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// How far the background work lagged when the timed phases ended, and how long it took to catch
/// up with no load (documents and vectors for every event).
async fn background_lag(
    ctx: &Bench,
    server: &ServerProcess,
    secret: &str,
    receiver: &receiver::Receiver,
) -> BackendLag {
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build().unwrap_or_default();
    let at_end = search_status(&client, server, secret).await;
    let number = |status: &Option<serde_json::Value>, key: &str| -> Option<u64> { status.as_ref()?.get(key)?.as_u64() };
    let caught_up = |status: &Option<serde_json::Value>| -> bool {
        let events = number(status, "events");
        events.is_some() && events == number(status, "indexed") && events == number(status, "embedded")
    };
    let started = std::time::Instant::now();
    let (threads_before, mut last) = (ThreadSample::take(server.pid), at_end.clone());
    let mut caught_up_seconds = None;
    if ctx.args.catch_up_seconds > 0.0 {
        eprintln!("    waiting up to {} s for the search index to catch up", ctx.args.catch_up_seconds);
        while started.elapsed().as_secs_f64() < ctx.args.catch_up_seconds {
            if caught_up(&last) {
                caught_up_seconds = Some(started.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            last = search_status(&client, server, secret).await;
        }
    }
    let catch_up_threads = threads_before.usage_until(&ThreadSample::take(server.pid), ctx.ticks_per_second);
    let lag = BackendLag {
        events: number(&at_end, "events").unwrap_or_default(),
        indexed_at_end: number(&at_end, "indexed").unwrap_or_default(),
        embedded_at_end: number(&at_end, "embedded").unwrap_or_default(),
        status_at_end: at_end,
        caught_up_seconds,
        status_last: last,
        catch_up_threads,
        webhook_deliveries: receiver.received(),
    };
    eprintln!(
        "    at the end: {} events, {} indexed, {} embedded; caught up {}; {} webhook deliveries",
        lag.events,
        lag.indexed_at_end,
        lag.embedded_at_end,
        lag.caught_up_seconds
            .map_or_else(|| "not within the wait".to_owned(), |seconds| format!("after {seconds:.0} s")),
        lag.webhook_deliveries
    );
    lag
}
