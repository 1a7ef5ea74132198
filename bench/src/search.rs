//! `veritrail-bench search`: natural-language search latency and embedding back-fill throughput,
//! at log sizes of the caller's choice, on SQLite and PostgreSQL.
//!
//! Per size and backend, in a fresh database:
//! 1. load a deterministic synthetic audit log ([`crate::search_data`]) through `EventLog::append`;
//! 2. back-fill the search index with the real `Indexer` (the `embed-backfill` job's work), first
//!    the documents, then the vectors, timed apart; around the vector phase the raw model
//!    throughput (`embed_blocking` on a sample of the same distinct texts, same batch size) is
//!    measured as the baseline;
//! 3. ask ~200 questions ([`crate::search_questions`]) through `SearchEngine::search` one at a
//!    time after a warm-up pass, then time the index calls and the query embedding alone.
//!
//! See bench/README.md. Nothing is asserted about timings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeZone, Utc};
use clap::Args;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use veritrail_core::event::TenantId;
use veritrail_core::query::interpret;
use veritrail_core::search::SearchIndex;
use veritrail_models::embed::{Embedder, LocalEmbedder};
use veritrail_search::engine::{filter_of, terms_of};
use veritrail_search::indexer::{Indexer, IndexerSettings};
use veritrail_search::{EmbedderSlot, SearchEngine, SearchRequest};
use veritrail_store::{Store, StoreSettings};

use crate::BackendChoice;
use crate::cpu::CpuSample;
use crate::db::{self, Backend, DatabaseRef, FreshDatabase};
use crate::report;
use crate::search_data::{self, World};
use crate::search_questions::{self, Question, QuestionKind};
use crate::search_report::{
    self, Backfill, Components, Example, KindLatency, LoadPhase, Percentiles, PhaseCpu, RawModel, RunResult,
    SearchParameters, SearchReport,
};
use crate::workload::TENANT;

/// As `SearchEngine` does: vocabulary entries per kind, and candidates per retriever.
const VOCABULARY_LIMIT: u32 = 2_000;
const CANDIDATE_FACTOR: u32 = 4;
const MIN_CANDIDATES: u32 = 50;

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    #[arg(long, value_enum, default_value_t = BackendChoice::All)]
    backend: BackendChoice,
    /// A PostgreSQL server to create (and drop) scratch databases on, e.g. the URL
    /// `scripts/pg.sh start DIR` prints. The user needs CREATEDB.
    #[arg(long, env = "VERITRAIL_BENCH_PG_URL")]
    pg_url: Option<String>,
    /// Log sizes to measure, comma-separated; each size gets a fresh database per backend.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    events: Vec<u64>,
    /// Events per `EventLog::append` call while loading.
    #[arg(long, default_value_t = 5_000)]
    load_batch: u64,
    /// Questions asked (a quarter of each kind).
    #[arg(long, default_value_t = 200)]
    questions: usize,
    /// Results per search (the API's default).
    #[arg(long, default_value_t = 10)]
    limit: u32,
    /// Distinct texts embedded for the raw model throughput, before and after the vector phase.
    #[arg(long, default_value_t = 512)]
    raw_sample: usize,
    /// A search taking longer than this many seconds is abandoned and counted as timed out; the
    /// benchmark then waits until the abandoned statement has stopped using the CPU.
    #[arg(long, default_value_t = 15.0)]
    search_timeout: f64,
    /// After this many timed-out searches on one backend and size, the remaining questions are
    /// not asked there.
    #[arg(long, default_value_t = 3)]
    max_timeouts: usize,
    /// Longest wait, in seconds, for an abandoned search to stop using the CPU.
    #[arg(long, default_value_t = 120.0)]
    abandoned_wait: f64,
    /// Seed of the synthetic log and the questions.
    #[arg(long, default_value_t = 20_261_122)]
    seed: u64,
    /// Directory of the MiniLM files [default: the server's model directory].
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Only generate the logs and report how much their texts repeat (no database, no model).
    #[arg(long)]
    generate_only: bool,
    /// Markdown report [default: bench/results/search-<UTC date>.md]; the JSON goes next to it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keep each size's databases (a SQLite file in DIR, a PostgreSQL database named after the size
    /// and seed) and reuse them on later runs with the same DIR, skipping load and back-fill (not
    /// measured then): for iterating on search itself. Delete DIR's files (and drop the
    /// `bench_search_keep_*` databases) after changing how events are rendered or indexed.
    #[arg(long)]
    keep_dir: Option<PathBuf>,
}

/// What every measurement shares.
struct Ctx {
    args: SearchArgs,
    world: World,
    questions: Vec<Question>,
    embedder: LocalEmbedder,
    settings: IndexerSettings,
    ticks_per_second: u64,
}

/// The `now` of every question: the end of the synthetic log's 30 days (a Friday afternoon).
fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).single().unwrap_or_default()
}

/// The file system type (`ext4`, `tmpfs`, ...) holding `path`, from /proc/mounts: databases on
/// tmpfs never wait for the disk, which flatters loading and back-filling (not searching, which
/// reads cached pages either way).
fn filesystem_of(path: &std::path::Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            Some((fields.next()?, fields.next()?))
        })
        .filter(|(mount, _)| path.starts_with(mount))
        .max_by_key(|(mount, _)| mount.len())
        .map_or_else(|| "unknown".to_owned(), |(_, kind)| kind.to_owned())
}

/// Where each backend's databases live, e.g. "SQLite in the temporary directory, on tmpfs".
async fn storage(backends: &[Backend], pg_url: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for backend in backends {
        let place = match backend {
            Backend::Sqlite => {
                format!("SQLite in the temporary directory ($TMPDIR), on {}", filesystem_of(&std::env::temp_dir()))
            }
            Backend::Postgres => {
                let directory = match pg_url {
                    Some(url) => match PgConnection::connect(url).await {
                        Ok(mut conn) => {
                            let directory: Option<String> =
                                sqlx::query_scalar("SHOW data_directory").fetch_one(&mut conn).await.ok();
                            conn.close().await.ok();
                            directory
                        }
                        Err(_) => None,
                    },
                    None => None,
                };
                let fs =
                    directory.map_or_else(|| "unknown".to_owned(), |dir| filesystem_of(std::path::Path::new(&dir)));
                format!("PostgreSQL data directory on {fs}")
            }
        };
        out.push(place);
    }
    out
}

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    let started = Utc::now();
    let root = crate::workspace_root();
    anyhow::ensure!(!args.events.is_empty() && args.events.iter().all(|n| *n >= 1_000), "--events: sizes ≥ 1000");
    anyhow::ensure!(
        args.load_batch > 0 && args.questions > 0 && args.limit > 0,
        "--load-batch, --questions, --limit > 0"
    );
    let backends = match args.backend {
        BackendChoice::Sqlite => vec![Backend::Sqlite],
        BackendChoice::Postgres => vec![Backend::Postgres],
        BackendChoice::All => vec![Backend::Sqlite, Backend::Postgres],
    };
    let pg_url = args.pg_url.clone().filter(|url| !url.trim().is_empty());
    if backends.contains(&Backend::Postgres) && !args.generate_only {
        let Some(url) = &pg_url else {
            bail!(
                "--backend includes PostgreSQL, but no PostgreSQL URL was given: pass --pg-url URL or set \
                 VERITRAIL_BENCH_PG_URL (`scripts/pg.sh start DIR` starts one and prints its URL), or run with \
                 --backend sqlite"
            );
        };
        let conn = PgConnection::connect(url)
            .await
            .with_context(|| format!("connect to PostgreSQL at {}", db::redact(url)))?;
        conn.close().await.ok();
    }

    let world = World::new(args.seed, fixed_now());
    let questions = search_questions::questions(&world, args.questions, args.seed);
    let mut profiles = Vec::new();
    for &events in &args.events {
        eprintln!("generating and rendering {events} events to count distinct texts");
        let (task_world, sample) = (world.clone(), args.raw_sample);
        let start = Instant::now();
        let profile = tokio::task::spawn_blocking(move || search_data::profile(&task_world, events, sample))
            .await
            .context("the generator failed")??;
        eprintln!(
            "  {} distinct texts ({:.1}% of events; {} in the first tenth), top 100 texts {:.0}% of events, {:.1} s",
            profile.distinct_texts,
            100.0 * profile.distinct_texts as f64 / events as f64,
            profile.distinct_texts_first_tenth,
            100.0 * profile.top_100_share,
            start.elapsed().as_secs_f64()
        );
        profiles.push(profile);
    }
    if args.generate_only {
        for question in &questions {
            println!("{:<14} {}", question.kind.label(), question.text);
        }
        println!("{}", search_report::data_table(&profiles));
        return Ok(());
    }

    let out_md = args.out.clone().unwrap_or_else(|| {
        root.join("bench").join("results").join(format!("search-{}.md", started.format("%Y-%m-%d")))
    });
    let out_json = out_md.with_extension("json");
    if let Some(parent) = out_md.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }

    let model_dir = args.model_dir.clone().unwrap_or_else(veritrail_models::fetch::default_model_dir);
    if !veritrail_models::fetch::model_present(&model_dir) {
        bail!("no MiniLM model in {}: run `veritrail models fetch` or pass --model-dir", model_dir.display());
    }
    let embedder = tokio::task::spawn_blocking(move || LocalEmbedder::load(&model_dir))
        .await
        .context("loading the model failed")?
        .context("load the MiniLM model")?;
    // The first forward passes allocate and fault in the weights: not part of any measurement.
    let warm: Vec<&str> = profiles[0].sample.iter().take(64).map(String::as_str).collect();
    embedder.embed_blocking(&warm).context("warm up the model")?;

    let machine = report::Machine::probe();
    let git = report::Git::probe(&root);
    let changed_outside_bench = crate::integrity_report::changed_outside_bench(&root);
    let settings = IndexerSettings::default();
    let parameters = SearchParameters {
        command: report::command_line(),
        seed: args.seed,
        now: fixed_now().to_rfc3339(),
        sizes: args.events.clone(),
        backends: backends.clone(),
        questions: args.questions,
        limit: args.limit,
        load_batch: args.load_batch,
        document_batch: settings.document_batch,
        embed_batch: settings.embed_batch,
        raw_sample: args.raw_sample,
        search_timeout_seconds: args.search_timeout,
        max_timeouts: args.max_timeouts,
        abandoned_wait_seconds: args.abandoned_wait,
        model: embedder.model_id().to_owned(),
        model_threads: std::thread::available_parallelism().map_or(1, usize::from),
        storage: storage(&backends, pg_url.as_deref()).await,
        actors: world.actors.len(),
        people: world.people().count(),
        actions: world.actions.len(),
    };
    eprintln!(
        "veritrail-bench search: sizes {:?}, backends {:?}, {} questions, model {} on {} threads",
        parameters.sizes, backends, parameters.questions, parameters.model, parameters.model_threads
    );
    let ctx = Arc::new(Ctx { args, world, questions, embedder, settings, ticks_per_second: crate::cpu::clock_ticks() });

    let mut report = SearchReport {
        benchmark: "veritrail-bench search".to_owned(),
        started_utc: started.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        finished_utc: String::new(),
        machine,
        git,
        changed_outside_bench,
        parameters,
        data: profiles,
        runs: Vec::new(),
        questions: ctx.questions.iter().map(|question| question.text.clone()).collect(),
        examples: Vec::new(),
        goals: Vec::new(),
    };
    // PostgreSQL first: if a SQLite search has to be abandoned, its statement may keep a core busy
    // for a while, and it should not disturb the other backend's numbers. The report is rewritten
    // after every run, so a run stopped half-way still leaves what it measured.
    for &backend in backends.iter().rev() {
        for idx in 0..report.data.len() {
            let (events, sample) = (report.data[idx].events, Arc::new(report.data[idx].sample.clone()));
            eprintln!("== {} at {} events ==", backend.label(), events);
            let task_ctx = ctx.clone();
            let run = match &ctx.args.keep_dir {
                Some(dir) => {
                    let kept = KeptDatabase::open(dir, backend, pg_url.as_deref(), events, ctx.args.seed).await?;
                    measure(&task_ctx, &kept.db, events, sample, Some(&kept)).await?
                }
                None => {
                    let db = FreshDatabase::create(backend, pg_url.as_deref(), "search").await?;
                    let handle = db.handle();
                    crate::guarded(db, async move { measure(&task_ctx, &handle, events, sample, None).await }).await?
                }
            };
            report.runs.push(run);
            report.machine.load_average_end = report::load_average();
            report.finished_utc = Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string();
            report.examples = examples(&ctx, &report.runs);
            report.goals = search_report::goal_checks(&report);
            std::fs::write(&out_json, serde_json::to_string_pretty(&report)? + "\n")
                .with_context(|| format!("write {}", out_json.display()))?;
            std::fs::write(&out_md, search_report::markdown(&report))
                .with_context(|| format!("write {}", out_md.display()))?;
        }
    }
    println!("{}", search_report::summary_tables(&report));
    println!("{}", search_report::goals_table(&report));
    println!("wrote {} and {}", out_md.display(), out_json.display());
    Ok(())
}

impl Ctx {
    fn phase(&self, phase: &str, seconds: f64, before: &CpuSample) -> PhaseCpu {
        let usage = before.usage_until(&CpuSample::take(None), self.ticks_per_second);
        PhaseCpu { phase: phase.to_owned(), seconds, usage }
    }
}

/// A database kept between runs (`--keep-dir`), complete once its back-fill finished.
struct KeptDatabase {
    db: DatabaseRef,
    /// Written when the back-fill is done; a database without it is rebuilt.
    marker: PathBuf,
}

impl KeptDatabase {
    /// Opens the kept database of this backend, size and seed, emptied first unless complete.
    async fn open(
        dir: &std::path::Path,
        backend: Backend,
        pg_url: Option<&str>,
        events: u64,
        seed: u64,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let name = format!("search_{}_{events}_{seed}", backend.label().to_lowercase());
        let marker = dir.join(format!("{name}.complete"));
        let complete = marker.is_file();
        let url = match backend {
            Backend::Sqlite => {
                let path = dir.join(format!("{name}.db"));
                if !complete {
                    for suffix in ["", "-wal", "-shm"] {
                        let file = PathBuf::from(format!("{}{suffix}", path.display()));
                        if file.exists() {
                            std::fs::remove_file(&file).with_context(|| format!("remove {}", file.display()))?;
                        }
                    }
                }
                format!("sqlite://{}", path.display())
            }
            Backend::Postgres => {
                let admin_url = pg_url.context("no PostgreSQL URL")?;
                let database = format!("bench_{name}");
                let mut admin = PgConnection::connect(admin_url).await?;
                let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(&database)
                    .fetch_one(&mut admin)
                    .await?;
                if !complete || !exists {
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)")))
                        .execute(&mut admin)
                        .await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
                        .execute(&mut admin)
                        .await
                        .with_context(|| format!("CREATE DATABASE {database}"))?;
                }
                admin.close().await.ok();
                db::with_database(admin_url, &database)?
            }
        };
        if !complete && marker.exists() {
            std::fs::remove_file(&marker)?;
        }
        Ok(Self { db: DatabaseRef { backend, url, data_dir: dir.to_owned() }, marker })
    }

    fn complete(&self) -> bool {
        self.marker.is_file()
    }
}

/// One size on one backend, in the fresh database `db` (or a kept one, built only once).
async fn measure(
    ctx: &Ctx,
    db: &DatabaseRef,
    events: u64,
    sample: Arc<Vec<String>>,
    kept: Option<&KeptDatabase>,
) -> anyhow::Result<RunResult> {
    let tenant = TenantId::parse(TENANT).map_err(anyhow::Error::msg)?;
    let store = veritrail_store::connect(&db.url, &StoreSettings::default())
        .await
        .with_context(|| format!("connect the store to {}", db::redact(&db.url)))?;
    let mut cpu = Vec::new();
    let (load, backfill, analyze_seconds, vacuum_seconds) = match kept {
        Some(kept) if kept.complete() => {
            let progress = store.search.progress(&tenant, ctx.embedder.model_id()).await?;
            anyhow::ensure!(
                progress.events == events && progress.embedded == events,
                "the kept database {} is not a complete {events}-event index ({progress:?}): delete its files",
                db::redact(&db.url)
            );
            eprintln!("  reusing the kept database: load and back-fill not measured");
            (None, None, None, None)
        }
        _ => {
            let (load, backfill, analyze, vacuum) = build(ctx, db, &store, &tenant, events, sample, &mut cpu).await?;
            if let Some(kept) = kept {
                std::fs::write(&kept.marker, format!("{events} events, seed {}\n", ctx.args.seed))?;
            }
            (Some(load), Some(backfill), analyze, vacuum)
        }
    };
    let model: Arc<dyn Embedder> = Arc::new(ctx.embedder.clone());
    let slot = EmbedderSlot::new(Some(model.clone()));
    let (search, first_search_ms, by_kind, mut searches) = search(ctx, &store, &tenant, slot.clone(), &mut cpu).await?;
    let engines = Shipped {
        shipped: SearchEngine::new(store.events.clone(), store.search.clone(), slot.clone(), None),
        plain: SearchEngine::new(store.events.clone(), store.search.clone(), slot, None)
            .with_score_completion(false)
            .with_action_weight(0.0),
    };
    let components = components(ctx, &store, &tenant, model.as_ref(), &engines, &mut searches, &mut cpu).await?;
    let database_bytes = database_size(db).await.ok();
    drop(store);

    Ok(RunResult {
        backend: db.backend,
        events,
        load,
        backfill,
        analyze_seconds,
        vacuum_seconds,
        first_search_ms,
        search,
        by_kind,
        components,
        searches,
        database_bytes,
        cpu,
    })
}

/// Loads the log and back-fills the index, measuring both.
async fn build(
    ctx: &Ctx,
    db: &DatabaseRef,
    store: &Store,
    tenant: &TenantId,
    events: u64,
    sample: Arc<Vec<String>>,
    cpu: &mut Vec<PhaseCpu>,
) -> anyhow::Result<(LoadPhase, Backfill, Option<f64>, Option<f64>)> {
    let load = load(ctx, store, tenant, events, cpu).await?;

    // Back-fill, documents phase: the indexer without a model writes documents only.
    eprintln!("  back-fill: documents");
    let before = CpuSample::take(None);
    let start = Instant::now();
    let documents = Indexer::new(store.events.clone(), store.search.clone(), EmbedderSlot::default(), ctx.settings)
        .index_tenant(tenant)
        .await
        .context("index documents")?;
    let documents_seconds = start.elapsed().as_secs_f64();
    cpu.push(ctx.phase("back-fill: documents", documents_seconds, &before));
    eprintln!(
        "    {} documents in {:.1} s ({:.0} events/s)",
        documents.documents_added,
        documents_seconds,
        documents.documents_added as f64 / documents_seconds.max(1e-9)
    );
    // PostgreSQL: what autovacuum does during a long back-fill anyway, done at a fixed point.
    let analyze_seconds = postgres_maintenance(db, "ANALYZE").await?;

    eprintln!("  raw model (before): {} distinct texts, batches of {}", sample.len(), ctx.settings.embed_batch);
    let before = CpuSample::take(None);
    let raw_before = raw_model(&ctx.embedder, sample.clone(), ctx.settings.embed_batch).await?;
    cpu.push(ctx.phase("raw model (before)", raw_before.seconds, &before));
    eprintln!("    {:.0} texts/s", raw_before.texts_per_second);

    eprintln!("  back-fill: vectors");
    let model: Arc<dyn Embedder> = Arc::new(ctx.embedder.clone());
    let slot = EmbedderSlot::new(Some(model.clone()));
    let before = CpuSample::take(None);
    let start = Instant::now();
    let vectors = Indexer::new(store.events.clone(), store.search.clone(), slot.clone(), ctx.settings)
        .index_tenant(tenant)
        .await
        .context("index vectors")?;
    let vectors_seconds = start.elapsed().as_secs_f64();
    cpu.push(ctx.phase("back-fill: vectors", vectors_seconds, &before));
    eprintln!(
        "    {} texts in {:.1} s ({:.0} texts/s); index: {} events, {} indexed, {} embedded",
        vectors.texts_embedded,
        vectors_seconds,
        vectors.texts_embedded as f64 / vectors_seconds.max(1e-9),
        vectors.events,
        vectors.indexed,
        vectors.embedded
    );

    eprintln!("  raw model (after)");
    let before = CpuSample::take(None);
    let raw_after = raw_model(&ctx.embedder, sample, ctx.settings.embed_batch).await?;
    cpu.push(ctx.phase("raw model (after)", raw_after.seconds, &before));
    eprintln!("    {:.0} texts/s", raw_after.texts_per_second);
    let vacuum_seconds = postgres_maintenance(db, "VACUUM (ANALYZE)").await?;

    let per_second = |count: f64, seconds: f64| count / seconds.max(1e-9);
    let raw_texts_per_second = (raw_before.texts_per_second + raw_after.texts_per_second) / 2.0;
    let vector_texts_per_second = per_second(vectors.texts_embedded as f64, vectors_seconds);
    let backfill = Backfill {
        documents: documents.documents_added,
        documents_seconds,
        documents_per_second: per_second(documents.documents_added as f64, documents_seconds),
        texts: vectors.texts_embedded,
        vectors_seconds,
        indexer_embed_seconds: vectors.embed_seconds,
        vector_texts_per_second,
        vector_events_per_second: per_second(events as f64, vectors_seconds),
        events_per_second: per_second(events as f64, documents_seconds + vectors_seconds),
        raw_before,
        raw_after,
        raw_texts_per_second,
        vs_raw: vector_texts_per_second / raw_texts_per_second.max(1e-9),
        index_progress: [vectors.events, vectors.indexed, vectors.embedded],
    };
    eprintln!(
        "    back-fill {:.0} texts/s = {:.2}× the raw model's {:.0} texts/s; {:.0} events/s overall",
        backfill.vector_texts_per_second, backfill.vs_raw, backfill.raw_texts_per_second, backfill.events_per_second
    );
    Ok((load, backfill, analyze_seconds, vacuum_seconds))
}

async fn load(
    ctx: &Ctx,
    store: &Store,
    tenant: &TenantId,
    events: u64,
    cpu: &mut Vec<PhaseCpu>,
) -> anyhow::Result<LoadPhase> {
    let batch = ctx.args.load_batch;
    eprintln!("  load: {events} events through EventLog::append, {batch} per call");
    let before = CpuSample::take(None);
    let start = Instant::now();
    let mut append = Duration::ZERO;
    let (mut first, mut next_progress) = (0, events / 5);
    while first < events {
        let count = batch.min(events - first);
        let generated =
            (first..first + count).map(|n| ctx.world.new_event(n, events)).collect::<anyhow::Result<Vec<_>>>()?;
        let appending = Instant::now();
        let appended = store
            .events
            .append(tenant, generated)
            .await
            .map_err(|err| anyhow::anyhow!("append of events {first}..{}: {err}", first + count))?;
        append += appending.elapsed();
        anyhow::ensure!(appended.len() as u64 == count, "append of events {first}..{} was incomplete", first + count);
        first += count;
        if first >= next_progress && first < events {
            eprintln!("    {first} events");
            next_progress += events / 5;
        }
    }
    let wall_seconds = start.elapsed().as_secs_f64();
    cpu.push(ctx.phase("load (generate + append)", wall_seconds, &before));
    let load = LoadPhase {
        append_seconds: append.as_secs_f64(),
        wall_seconds,
        events_per_second: events as f64 / append.as_secs_f64().max(1e-9),
    };
    eprintln!(
        "    {:.0} events/s appended ({:.1} s, {:.1} s with generating)",
        load.events_per_second, load.append_seconds, wall_seconds
    );
    Ok(load)
}

/// Runs `sql` on PostgreSQL and returns how long it took; nothing on SQLite (the server never
/// runs ANALYZE there either).
async fn postgres_maintenance(db: &DatabaseRef, sql: &'static str) -> anyhow::Result<Option<f64>> {
    if db.backend != Backend::Postgres {
        return Ok(None);
    }
    eprintln!("  {sql}");
    let start = Instant::now();
    let mut conn = PgConnection::connect(&db.url).await?;
    sqlx::raw_sql(sql).execute(&mut conn).await.with_context(|| sql.to_owned())?;
    conn.close().await.ok();
    Ok(Some(start.elapsed().as_secs_f64()))
}

/// The model alone: `embed_blocking` over `texts` in batches of `batch` (as the indexer calls it),
/// on a blocking thread as the indexer's calls run.
async fn raw_model(embedder: &LocalEmbedder, texts: Arc<Vec<String>>, batch: u32) -> anyhow::Result<RawModel> {
    let embedder = embedder.clone();
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        for chunk in texts.chunks(batch.max(1) as usize) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            embedder.embed_blocking(&refs).context("embed_blocking")?;
        }
        let seconds = start.elapsed().as_secs_f64();
        Ok(RawModel { texts: texts.len(), seconds, texts_per_second: texts.len() as f64 / seconds.max(1e-9) })
    })
    .await
    .context("the raw model task failed")?
}

/// What happened to one question in one run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SearchSample {
    pub question: usize,
    /// `ok`, `timeout` (in the warm-up or the timed pass), or `not asked` (after too many timeouts).
    pub status: &'static str,
    /// Latency of the timed pass; `None` unless `ok`.
    pub micros: Option<u64>,
    pub results: usize,
    pub semantic_text: String,
    pub filters: String,
    /// Seconds an abandoned search kept this process busy after its timeout (a lower bound when
    /// `abandoned_still_busy`).
    pub abandoned_seconds: Option<f64>,
    pub abandoned_still_busy: bool,
    /// The parts timed alone (`None` when not measured).
    pub parts: Option<ComponentSample>,
}

/// One question's parts timed alone, microseconds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ComponentSample {
    pub embed: Option<u64>,
    pub fulltext: Option<u64>,
    pub nearest: Option<u64>,
    pub filtered: Option<u64>,
    /// The whole search as shipped, and with plain fusion (no score completion, no action
    /// weight), timed one right after the other.
    pub shipped: Option<u64>,
    pub plain: Option<u64>,
}

/// This process's CPU time so far, in clock ticks (utime + stime of /proc/self/stat).
fn own_cpu_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0 };
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3).and_then(|value| value.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

/// After a search was abandoned, its statement may still run on a database thread of this
/// process (SQLite) or in a PostgreSQL backend: waits until the CPU quietens (this process and
/// PostgreSQL together under a fifth of a core for a second) or `cap` passes. Returns the seconds
/// waited and whether it was still busy at the end.
async fn wait_until_quiet(ctx: &Ctx, cap: Duration) -> (f64, bool) {
    let start = Instant::now();
    loop {
        let before = CpuSample::take(None);
        let ticks = own_cpu_ticks();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let usage = before.usage_until(&CpuSample::take(None), ctx.ticks_per_second);
        let own = own_cpu_ticks().saturating_sub(ticks) as f64 / ctx.ticks_per_second as f64;
        if own + usage.postgres_cores < 0.2 {
            return (start.elapsed().as_secs_f64(), false);
        }
        if start.elapsed() >= cap {
            return (start.elapsed().as_secs_f64(), true);
        }
    }
}

type SearchOutcome = (Percentiles, f64, Vec<KindLatency>, Vec<SearchSample>);

/// Every question through `SearchEngine::search`: one untimed pass (its first search is reported:
/// on SQLite it reads every vector into memory), then one timed pass, one question at a time.
/// A search over `--search-timeout` is abandoned, counted as a timeout (slower than every
/// completed search in the percentiles) and not asked again.
async fn search(
    ctx: &Ctx,
    store: &Store,
    tenant: &TenantId,
    slot: EmbedderSlot,
    cpu: &mut Vec<PhaseCpu>,
) -> anyhow::Result<SearchOutcome> {
    let engine = SearchEngine::new(store.events.clone(), store.search.clone(), slot, None);
    let timeout = Duration::from_secs_f64(ctx.args.search_timeout);
    let request =
        |question: &Question| SearchRequest { query: question.text.clone(), limit: ctx.args.limit, now: ctx.world.now };
    let mut samples: Vec<SearchSample> = (0..ctx.questions.len())
        .map(|question| SearchSample {
            question,
            status: "not asked",
            micros: None,
            results: 0,
            semantic_text: String::new(),
            filters: String::new(),
            abandoned_seconds: None,
            abandoned_still_busy: false,
            parts: None,
        })
        .collect();
    let mut timeouts = 0;
    // Abandons a search: records it and waits for its statement to stop.
    let abandon = |sample: &mut SearchSample, pass: &str| {
        eprintln!(
            "    {pass}: question {} ({:?}) took over {:.0} s; abandoned",
            sample.question, ctx.questions[sample.question].text, ctx.args.search_timeout
        );
        sample.status = "timeout";
    };

    eprintln!("  search: warm-up pass over {} questions", ctx.questions.len());
    let mut first_search_ms = 0.0;
    for (idx, (sample, question)) in samples.iter_mut().zip(&ctx.questions).enumerate() {
        if timeouts >= ctx.args.max_timeouts {
            eprintln!("    {timeouts} timeouts: the remaining questions are not asked");
            break;
        }
        let start = Instant::now();
        match tokio::time::timeout(timeout, engine.search(tenant, &request(question))).await {
            Ok(result) => {
                result.with_context(|| format!("search {:?}", question.text))?;
                sample.status = "ok";
            }
            Err(_) => {
                abandon(sample, "warm-up");
                timeouts += 1;
                let (waited, busy) = wait_until_quiet(ctx, Duration::from_secs_f64(ctx.args.abandoned_wait)).await;
                (sample.abandoned_seconds, sample.abandoned_still_busy) = (Some(waited), busy);
            }
        }
        if idx == 0 {
            first_search_ms = start.elapsed().as_secs_f64() * 1e3;
        }
    }

    eprintln!("  search: timed pass");
    let before = CpuSample::take(None);
    let start = Instant::now();
    for sample in samples.iter_mut().filter(|sample| sample.status == "ok") {
        let question = &ctx.questions[sample.question];
        let asked = Instant::now();
        match tokio::time::timeout(timeout, engine.search(tenant, &request(question))).await {
            Ok(result) => {
                let response = result.with_context(|| format!("search {:?}", question.text))?;
                sample.micros = Some(u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX));
                sample.results = response.results.len();
                sample.semantic_text = response.interpretation.text.clone();
                sample.filters = search_report::describe_filters(&response.interpretation);
            }
            Err(_) => {
                abandon(sample, "timed pass");
                let (waited, busy) = wait_until_quiet(ctx, Duration::from_secs_f64(ctx.args.abandoned_wait)).await;
                (sample.abandoned_seconds, sample.abandoned_still_busy) = (Some(waited), busy);
            }
        }
    }
    cpu.push(ctx.phase("search (timed pass)", start.elapsed().as_secs_f64(), &before));
    let latencies = |kind: Option<QuestionKind>| {
        let of_kind =
            samples.iter().filter(move |sample| kind.is_none_or(|kind| ctx.questions[sample.question].kind == kind));
        // A timeout counts as slower than anything that finished; questions not asked do not count.
        Percentiles::with_timeouts(
            of_kind.clone().filter_map(|sample| sample.micros),
            of_kind.filter(|sample| sample.status == "timeout").count(),
        )
    };
    let all = latencies(None);
    let by_kind = QuestionKind::ALL
        .iter()
        .map(|&kind| {
            let answered: Vec<&SearchSample> = samples
                .iter()
                .filter(|sample| ctx.questions[sample.question].kind == kind && sample.micros.is_some())
                .collect();
            KindLatency {
                kind,
                latency: latencies(Some(kind)),
                no_results: answered.iter().filter(|sample| sample.results == 0).count(),
                mean_results: answered.iter().map(|sample| sample.results).sum::<usize>() as f64
                    / answered.len().max(1) as f64,
                with_semantic_text: answered
                    .iter()
                    .filter(|sample| !terms_of(&sample.semantic_text).is_empty())
                    .count(),
                not_asked: samples
                    .iter()
                    .filter(|sample| ctx.questions[sample.question].kind == kind && sample.status == "not asked")
                    .count(),
            }
        })
        .collect();
    eprintln!(
        "    p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, {} timeouts (first search of the warm-up {:.0} ms)",
        all.p50_ms, all.p95_ms, all.p99_ms, all.timeouts, first_search_ms
    );
    Ok((all, first_search_ms, by_kind, samples))
}

/// The engine as shipped and one fusing the two lists plainly (a list's missing scores counted as
/// 0, no action weight): what score completion and the action weight cost, measured in one run.
struct Shipped {
    shipped: SearchEngine,
    plain: SearchEngine,
}

/// The parts of a search timed alone, with the engine's filters and candidate counts: the query
/// embedding, full-text and vector candidates, and the filter-only listing; then the whole search
/// as shipped and with plain fusion, in alternating order. Questions that timed out are left out.
async fn components(
    ctx: &Ctx,
    store: &Store,
    tenant: &TenantId,
    model: &dyn Embedder,
    engines: &Shipped,
    samples: &mut [SearchSample],
    cpu: &mut Vec<PhaseCpu>,
) -> anyhow::Result<Components> {
    eprintln!("  components: embedding, fulltext, nearest, filtered, timed alone; search as shipped and plainly fused");
    let index: &dyn SearchIndex = store.search.as_ref();
    let vocabulary = index.vocabulary(tenant, VOCABULARY_LIMIT).await?;
    let limit = ctx.args.limit;
    let candidates = (limit * CANDIDATE_FACTOR).max(MIN_CANDIDATES);
    let micros = |start: Instant| Some(u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
    let before = CpuSample::take(None);
    let started = Instant::now();
    for sample in samples.iter_mut().filter(|sample| sample.micros.is_some()) {
        let interpretation = interpret(&ctx.questions[sample.question].text, ctx.world.now, &vocabulary);
        let filter = filter_of(&interpretation);
        let terms = terms_of(&interpretation.text);
        let mut parts = ComponentSample::default();
        if terms.is_empty() {
            let start = Instant::now();
            index.filtered(tenant, &filter, limit).await?;
            parts.filtered = micros(start);
        } else {
            let start = Instant::now();
            index.fulltext(tenant, &terms, &filter, candidates).await?;
            parts.fulltext = micros(start);
            let start = Instant::now();
            let vector = model.embed(std::slice::from_ref(&interpretation.text)).await?.pop().unwrap_or_default();
            parts.embed = micros(start);
            let start = Instant::now();
            index.nearest(tenant, model.model_id(), &vector, &filter, candidates).await?;
            parts.nearest = micros(start);
        }
        let request = SearchRequest { query: ctx.questions[sample.question].text.clone(), limit, now: ctx.world.now };
        // Alternating which goes first, so neither always finds the other's pages in the cache.
        let order = if sample.question % 2 == 0 { [true, false] } else { [false, true] };
        for shipped in order {
            let engine = if shipped { &engines.shipped } else { &engines.plain };
            let start = Instant::now();
            engine.search(tenant, &request).await?;
            if shipped {
                parts.shipped = micros(start);
            } else {
                parts.plain = micros(start);
            }
        }
        sample.parts = Some(parts);
    }
    cpu.push(ctx.phase("components (timed alone)", started.elapsed().as_secs_f64(), &before));
    let part = |get: fn(&ComponentSample) -> Option<u64>| {
        Percentiles::of(samples.iter().filter_map(|sample| sample.parts.as_ref().and_then(get)))
    };
    let components = Components {
        embed: part(|parts| parts.embed),
        fulltext: part(|parts| parts.fulltext),
        nearest: part(|parts| parts.nearest),
        filtered: part(|parts| parts.filtered),
        shipped: part(|parts| parts.shipped),
        plain: part(|parts| parts.plain),
        candidates,
    };
    eprintln!(
        "    embed p50 {:.1} ms, fulltext p50 {:.1} ms, nearest p50 {:.1} ms, filtered p50 {:.1} ms",
        components.embed.p50_ms, components.fulltext.p50_ms, components.nearest.p50_ms, components.filtered.p50_ms
    );
    eprintln!(
        "    search as shipped p50 {:.1} / p95 {:.1} ms, plainly fused p50 {:.1} / p95 {:.1} ms",
        components.shipped.p50_ms, components.shipped.p95_ms, components.plain.p50_ms, components.plain.p95_ms
    );
    Ok(components)
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

/// The first two questions of each kind, as the largest run understood and answered them.
fn examples(ctx: &Ctx, runs: &[RunResult]) -> Vec<Example> {
    let Some(run) = runs.iter().max_by_key(|run| (run.events, run.backend == Backend::Postgres)) else {
        return Vec::new();
    };
    QuestionKind::ALL
        .iter()
        .flat_map(|&kind| {
            run.searches
                .iter()
                .filter(move |sample| ctx.questions[sample.question].kind == kind && sample.micros.is_some())
                .take(2)
        })
        .map(|sample| Example {
            kind: ctx.questions[sample.question].kind,
            question: ctx.questions[sample.question].text.clone(),
            filters: sample.filters.clone(),
            semantic_text: sample.semantic_text.clone(),
            results: sample.results,
            milliseconds: sample.micros.unwrap_or_default() as f64 / 1e3,
        })
        .collect()
}
