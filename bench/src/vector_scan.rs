//! `veritrail-bench vectors`: nearest-neighbour search on SQLite, the store's Rust scan of BLOBs
//! held in memory against the `sqlite-vec` extension, on the same vectors and queries in one run.
//!
//! Per number of vectors, in a fresh SQLite file:
//! 1. generate clustered unit vectors ([`crate::vector_scan_data`]) and write them as BLOBs;
//! 2. read them back into memory as the store's vector cache does (timed);
//! 3. write the same vectors into a `vec0` virtual table (timed);
//! 4. ask the same queries of the Rust scan, of `vec0` and of a `vec_distance_cosine` SQL scan, and
//!    check every answer against the exact one.
//!
//! See bench/README.md. Nothing is asserted about timings.

use std::path::PathBuf;
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{TimeZone, Utc};
use clap::Args;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, Row};

use crate::report;
use crate::search_data::{self, World};
use crate::vector_scan_data::{
    DIMENSIONS, VectorSource, dot, exact_top_k, extend_from_blob, normalize, recall, rust_scan, to_blob,
};
use crate::vector_scan_report::{
    self, MethodResult, Percentiles, RUST_SCAN, SQL_SCAN, ScaleResult, VEC0, VectorsParameters, VectorsReport,
};

/// The vec0 table; its dimension must be [`DIMENSIONS`] (SQL strings are literals in sqlx).
const CREATE_VEC0: &str = "CREATE VIRTUAL TABLE vec_items USING vec0(embedding float[384] distance_metric=cosine)";
const _: () = assert!(DIMENSIONS == 384);

/// Rows per read while loading, as the store's vector cache (`CACHE_PAGE`).
const LOAD_PAGE: i64 = 5_000;
/// Below this mean recall a sqlite-vec answer is wrong, not approximate: vec0 is exact.
const MIN_RECALL: f64 = 0.99;

#[derive(Debug, Clone, Args)]
pub struct VectorsArgs {
    /// Log sizes in events, comma-separated. Each is measured with one vector per distinct text of
    /// the search benchmark's log of that size (what the store keeps) and one vector per event.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    sizes: Vec<u64>,
    /// Skip the one-vector-per-event scale.
    #[arg(long)]
    distinct_only: bool,
    /// Query vectors per method, size and k.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Neighbours asked for, comma-separated (the search engine asks each retriever for 50).
    #[arg(long, value_delimiter = ',', default_value = "50,10")]
    k: Vec<usize>,
    /// Cluster directions the vectors are drawn around.
    #[arg(long, default_value_t = 256)]
    clusters: usize,
    /// After this many seconds on one size and k, a method stops once it has --min-queries answers.
    #[arg(long, default_value_t = 60.0)]
    method_seconds: f64,
    #[arg(long, default_value_t = 30)]
    min_queries: usize,
    /// Rows per INSERT transaction.
    #[arg(long, default_value_t = 1_000)]
    insert_batch: usize,
    /// Seed of the vectors and of the log whose distinct texts are counted (the search benchmark's).
    #[arg(long, default_value_t = 20_261_122)]
    seed: u64,
    /// Markdown report [default: bench/results/vectors-sqlite-<UTC date>.md]; the JSON goes next to it.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One number of vectors to measure.
#[derive(Debug, Clone)]
struct Scale {
    events: u64,
    label: &'static str,
    vectors: usize,
}

pub async fn run(args: VectorsArgs) -> anyhow::Result<()> {
    let started = Utc::now();
    let root = crate::workspace_root();
    anyhow::ensure!(!args.sizes.is_empty() && args.sizes.iter().all(|size| *size > 0), "--sizes must be > 0");
    anyhow::ensure!(!args.k.is_empty() && args.k.iter().all(|k| *k > 0), "--k must be > 0");
    anyhow::ensure!(args.queries > 0 && args.insert_batch > 0, "--queries and --insert-batch must be > 0");
    let out_md = args.out.clone().unwrap_or_else(|| {
        root.join("bench").join("results").join(format!("vectors-sqlite-{}.md", started.format("%Y-%m-%d")))
    });
    let out_json = out_md.with_extension("json");
    if let Some(parent) = out_md.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    let mut machine = report::Machine::probe();
    let git = report::Git::probe(&root);

    register_sqlite_vec()?;
    let scratch = tempfile::tempdir().context("create a temporary directory")?;
    let (sqlite_version, sqlite_vec_version) = versions(&scratch.path().join("versions.db")).await?;
    eprintln!(
        "veritrail-bench vectors: SQLite {sqlite_version}, sqlite-vec {sqlite_vec_version}, {} CPUs",
        machine.cpus
    );

    let scales = scales(&args).await?;
    let (cosine_other_cluster, cosine_same_cluster) = cluster_cosines(args.seed);
    let parameters = VectorsParameters {
        seed: args.seed,
        dimensions: DIMENSIONS,
        clusters: args.clusters,
        queries: args.queries,
        ks: args.k.clone(),
        method_seconds: args.method_seconds,
        min_queries: args.min_queries,
        insert_batch: args.insert_batch,
        cosine_other_cluster,
        cosine_same_cluster,
    };
    let mut report = VectorsReport {
        benchmark: "veritrail-bench vectors".to_owned(),
        command: crate::report::command_line(),
        started_utc: started.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        finished_utc: String::new(),
        machine: machine.clone(),
        git,
        sqlite_version,
        sqlite_vec_version,
        parameters,
        scales: Vec::new(),
    };
    let mut failures = Vec::new();
    for (idx, scale) in scales.iter().enumerate() {
        eprintln!("== {} vectors ({} events, {}) ==", scale.vectors, scale.events, scale.label);
        let db_path = scratch.path().join(format!("vectors-{idx}.db"));
        let result = measure_scale(&args, scale, &db_path).await;
        std::fs::remove_file(&db_path).ok();
        std::fs::remove_file(db_path.with_extension("db-wal")).ok();
        std::fs::remove_file(db_path.with_extension("db-shm")).ok();
        let result = result?;
        failures.extend(recall_failures(&result));
        report.scales.push(result);
        // Rewritten after every size, so a long run leaves what it has measured.
        machine.load_average_end = report::load_average();
        report.machine = machine.clone();
        report.finished_utc = Utc::now().format("%Y-%m-%d %H:%M:%S UTC").to_string();
        std::fs::write(&out_json, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("write {}", out_json.display()))?;
        std::fs::write(&out_md, vector_scan_report::markdown(&report))
            .with_context(|| format!("write {}", out_md.display()))?;
    }
    println!("{}", vector_scan_report::latency_table(&report));
    println!("{}", vector_scan_report::build_table(&report));
    println!("wrote {} and {}", out_md.display(), out_json.display());
    if !failures.is_empty() {
        bail!("sqlite-vec disagrees with the exact answer, which means a set-up error: {}", failures.join("; "));
    }
    Ok(())
}

/// Makes every SQLite connection opened afterwards in this process load sqlite-vec, once.
///
/// Unsafe code is otherwise denied in this crate and forbidden in the workspace: a C extension can
/// only be registered through SQLite's C API. This is benchmark-only; the server never loads it.
#[allow(unsafe_code)]
fn register_sqlite_vec() -> anyhow::Result<()> {
    type EntryPoint = unsafe extern "C" fn(
        *mut libsqlite3_sys::sqlite3,
        *mut *mut std::ffi::c_char,
        *const libsqlite3_sys::sqlite3_api_routines,
    ) -> std::ffi::c_int;
    static REGISTER: Once = Once::new();
    static RESULT: OnceLock<std::ffi::c_int> = OnceLock::new();
    REGISTER.call_once(|| {
        // SAFETY: `sqlite3_vec_init` is the extension's C entry point, whose real signature is
        // `EntryPoint` (the crate declares it without arguments); sqlite-vec is compiled with
        // SQLITE_CORE against the SQLite linked into this process, which calls it with exactly
        // those arguments when a connection opens. `sqlite3_auto_extension` is thread-safe.
        let code = unsafe {
            let entry = std::mem::transmute::<*const (), EntryPoint>(sqlite_vec::sqlite3_vec_init as *const ());
            libsqlite3_sys::sqlite3_auto_extension(Some(entry))
        };
        let _ = RESULT.set(code);
    });
    match RESULT.get() {
        Some(&code) if code == libsqlite3_sys::SQLITE_OK => Ok(()),
        code => bail!("sqlite3_auto_extension(sqlite3_vec_init) failed with {code:?}"),
    }
}

async fn connect(path: &std::path::Path) -> anyhow::Result<SqliteConnection> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    SqliteConnection::connect_with(&options).await.with_context(|| format!("open {}", path.display()))
}

/// SQLite's and sqlite-vec's versions, from a fresh connection: proves the extension is loaded.
async fn versions(path: &std::path::Path) -> anyhow::Result<(String, String)> {
    let mut conn = connect(path).await?;
    let row = sqlx::query("SELECT sqlite_version(), vec_version()")
        .fetch_one(&mut conn)
        .await
        .context("sqlite-vec is not loaded on a new sqlx connection")?;
    let versions = (row.try_get(0)?, row.try_get(1)?);
    conn.close().await.ok();
    Ok(versions)
}

/// The vector counts measured, smallest first: the distinct texts of each log size and, unless
/// `--distinct-only`, one per event.
async fn scales(args: &VectorsArgs) -> anyhow::Result<Vec<Scale>> {
    let now = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).single().unwrap_or_default();
    let mut scales = Vec::new();
    for &events in &args.sizes {
        let seed = args.seed;
        let started = Instant::now();
        let profile = tokio::task::spawn_blocking(move || search_data::profile(&World::new(seed, now), events, 1))
            .await
            .context("profiling the log failed")??;
        eprintln!(
            "{events} events: {} distinct texts (counted in {:.1} s)",
            profile.distinct_texts,
            started.elapsed().as_secs_f64()
        );
        scales.push(Scale { events, label: "distinct texts", vectors: usize::try_from(profile.distinct_texts)? });
        if !args.distinct_only {
            scales.push(Scale { events, label: "one per event", vectors: usize::try_from(events)? });
        }
    }
    scales.sort_by_key(|scale| scale.vectors);
    Ok(scales)
}

/// Mean cosine across clusters and within one, from a sample of the generator's vectors.
fn cluster_cosines(seed: u64) -> (f64, f64) {
    // Two clusters only, so that same-cluster pairs are common in a small sample.
    let mut two = VectorSource::new(seed, 2);
    let sample = two.take(200);
    let vectors: Vec<&[f32]> = sample.chunks_exact(DIMENSIONS).collect();
    let cosines: Vec<f64> = (0..vectors.len())
        .flat_map(|a| (a + 1..vectors.len()).map(move |b| (a, b)))
        .map(|(a, b)| f64::from(dot(vectors[a], vectors[b])))
        .collect();
    // Pairs split at the midpoint of the two modes.
    let (same, other): (Vec<f64>, Vec<f64>) = cosines.iter().partition(|cosine| **cosine > 0.475);
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
    (mean(&other), mean(&same))
}

async fn measure_scale(args: &VectorsArgs, scale: &Scale, db_path: &std::path::Path) -> anyhow::Result<ScaleResult> {
    let started = Instant::now();
    let (seed, clusters, count, queries) = (args.seed, args.clusters, scale.vectors, args.queries);
    let (values, query_values) = tokio::task::spawn_blocking(move || {
        let mut source = VectorSource::new(seed, clusters);
        let values = source.take(count);
        // Drawn after the stored vectors, so a query is never one of them.
        (values, source.take(queries))
    })
    .await
    .context("generating vectors failed")?;
    let generate_seconds = started.elapsed().as_secs_f64();
    let queries: Vec<Vec<f32>> = query_values.chunks_exact(DIMENSIONS).map(<[f32]>::to_vec).collect();

    let mut conn = connect(db_path).await?;
    sqlx::query("CREATE TABLE vectors (id INTEGER PRIMARY KEY, vector BLOB NOT NULL)").execute(&mut conn).await?;
    sqlx::query(CREATE_VEC0).execute(&mut conn).await.context("create the vec0 table")?;

    let pages_before = database_bytes(&mut conn).await?;
    let blob_insert_seconds =
        insert_all(&mut conn, "INSERT INTO vectors (id, vector) VALUES (?, ?)", &values, args.insert_batch).await?;
    let pages_after_blobs = database_bytes(&mut conn).await?;
    eprintln!("  BLOB table: {blob_insert_seconds:.1} s");
    let vec0_insert_seconds =
        insert_all(&mut conn, "INSERT INTO vec_items (rowid, embedding) VALUES (?, ?)", &values, args.insert_batch)
            .await?;
    let pages_after_vec0 = database_bytes(&mut conn).await?;
    eprintln!("  vec0 table: {vec0_insert_seconds:.1} s");

    let load_started = Instant::now();
    let loaded = Arc::new(load_vectors(&mut conn).await?);
    let rust_load_seconds = load_started.elapsed().as_secs_f64();
    anyhow::ensure!(loaded.len() == values.len(), "loaded {} floats, wrote {}", loaded.len(), values.len());
    eprintln!("  Rust load: {rust_load_seconds:.2} s");
    drop(values);

    // Every query's exact answer, once for all k (a prefix of the best 50 is the best 10).
    let exact_started = Instant::now();
    let exact = exact_answers(&loaded, &queries, args.k.iter().copied().max().unwrap_or(1)).await?;
    eprintln!("  exact answers: {:.1} s", exact_started.elapsed().as_secs_f64());
    let mut methods = Vec::new();
    for &k in &args.k {
        let budget = Budget { queries: queries.len(), seconds: args.method_seconds, min_queries: args.min_queries };
        let rust = time_rust_scan(&loaded, &queries, k, &budget).await?;
        let vec0 = time_sql(&mut conn, VEC0_QUERY, &queries, k, &budget).await?;
        let scan = time_sql(&mut conn, SQL_SCAN_QUERY, &queries, k, &budget).await?;
        let rust_latency = Percentiles::of(rust.micros.clone());
        for (name, timed) in [(RUST_SCAN, rust), (VEC0, vec0), (SQL_SCAN, scan)] {
            let result = method_result(name, k, timed, &exact, &rust_latency);
            eprintln!(
                "  k={k} {name}: p50 {:.2} ms, p95 {:.2} ms ({:.2}× Rust), recall {:.4}, {} queries",
                result.latency.p50_ms,
                result.latency.p95_ms,
                result.p95_vs_rust,
                result.recall_mean,
                result.latency.samples
            );
            methods.push(result);
        }
    }
    conn.close().await.ok();
    Ok(ScaleResult {
        events: scale.events,
        scale: scale.label.to_owned(),
        vectors: scale.vectors,
        vector_bytes: (scale.vectors * DIMENSIONS * 4) as u64,
        generate_seconds,
        blob_insert_seconds,
        blob_table_bytes: pages_after_blobs.saturating_sub(pages_before),
        rust_load_seconds,
        vec0_insert_seconds,
        vec0_table_bytes: pages_after_vec0.saturating_sub(pages_after_blobs),
        methods,
    })
}

/// The database's size in bytes (pages in use, WAL checkpointed first).
async fn database_bytes(conn: &mut SqliteConnection) -> anyhow::Result<u64> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut *conn).await?;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut *conn).await?;
    let free: i64 = sqlx::query_scalar("PRAGMA freelist_count").fetch_one(&mut *conn).await?;
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&mut *conn).await?;
    Ok(u64::try_from((pages - free) * page_size)?)
}

/// Writes every vector with `statement` (id 1..n, BLOB), `batch` rows per transaction.
async fn insert_all(
    conn: &mut SqliteConnection,
    statement: &'static str,
    values: &[f32],
    batch: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut id: i64 = 0;
    for rows in values.chunks(batch * DIMENSIONS) {
        let mut tx = conn.begin().await?;
        for vector in rows.chunks_exact(DIMENSIONS) {
            id += 1;
            sqlx::query(statement)
                .bind(id)
                .bind(to_blob(vector))
                .execute(&mut *tx)
                .await
                .with_context(|| format!("{statement} (row {id})"))?;
        }
        tx.commit().await?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Every BLOB into one flat, normalised array, paged by id as the store's vector cache reads.
async fn load_vectors(conn: &mut SqliteConnection) -> anyhow::Result<Vec<f32>> {
    let mut values = Vec::new();
    let mut last_id = 0_i64;
    loop {
        let rows = sqlx::query("SELECT id, vector FROM vectors WHERE id > ? ORDER BY id LIMIT ?")
            .bind(last_id)
            .bind(LOAD_PAGE)
            .fetch_all(&mut *conn)
            .await?;
        for row in &rows {
            let start = values.len();
            extend_from_blob(&mut values, row.try_get::<&[u8], _>(1)?)?;
            normalize(&mut values[start..]);
        }
        match rows.last() {
            Some(last) if rows.len() as i64 == LOAD_PAGE => last_id = last.try_get(0)?,
            _ => break,
        }
    }
    Ok(values)
}

const VEC0_QUERY: &str = "SELECT rowid FROM vec_items WHERE embedding MATCH ? AND k = ? ORDER BY distance";
const SQL_SCAN_QUERY: &str = "SELECT id FROM vectors ORDER BY vec_distance_cosine(vector, ?) LIMIT ?";

/// How many queries a method is asked: all of them, unless it is slow enough to run out of time.
#[derive(Debug, Clone, Copy)]
struct Budget {
    queries: usize,
    seconds: f64,
    min_queries: usize,
}

impl Budget {
    fn more(&self, asked: usize, started: Instant) -> bool {
        asked < self.queries && (asked < self.min_queries || started.elapsed() < Duration::from_secs_f64(self.seconds))
    }
}

/// Each answer (0-based indices, best first) and its latency.
struct Timed {
    answers: Vec<Vec<u32>>,
    micros: Vec<u64>,
}

async fn time_rust_scan(
    values: &Arc<Vec<f32>>,
    queries: &[Vec<f32>],
    k: usize,
    budget: &Budget,
) -> anyhow::Result<Timed> {
    let values = values.clone();
    let queries = queries.to_vec();
    let budget = *budget;
    // CPU work, off the async workers, as the store does it.
    tokio::task::spawn_blocking(move || {
        let mut query = queries[0].clone();
        normalize(&mut query);
        let _ = rust_scan(&values, &query, k); // untimed: warms the caches
        let mut timed = Timed { answers: Vec::new(), micros: Vec::new() };
        let started = Instant::now();
        while budget.more(timed.answers.len(), started) {
            let one = Instant::now();
            // The store normalises the query vector, then scans.
            let mut query = queries[timed.answers.len()].clone();
            normalize(&mut query);
            let answer = rust_scan(&values, &query, k);
            timed.micros.push(micros_since(one));
            timed.answers.push(answer);
        }
        timed
    })
    .await
    .context("the Rust scan failed")
}

async fn time_sql(
    conn: &mut SqliteConnection,
    statement: &'static str,
    queries: &[Vec<f32>],
    k: usize,
    budget: &Budget,
) -> anyhow::Result<Timed> {
    let k_bound = i64::try_from(k)?;
    let ask = async |conn: &mut SqliteConnection, query: &[f32]| -> anyhow::Result<Vec<u32>> {
        let ids: Vec<i64> = sqlx::query_scalar(statement)
            .bind(to_blob(query))
            .bind(k_bound)
            .fetch_all(&mut *conn)
            .await
            .with_context(|| statement.to_owned())?;
        ids.into_iter().map(|id| Ok(u32::try_from(id - 1)?)).collect()
    };
    ask(conn, &queries[0]).await?; // untimed: prepares the statement, warms the page cache
    let mut timed = Timed { answers: Vec::new(), micros: Vec::new() };
    let started = Instant::now();
    while budget.more(timed.answers.len(), started) {
        let one = Instant::now();
        let answer = ask(conn, &queries[timed.answers.len()]).await?;
        timed.micros.push(micros_since(one));
        timed.answers.push(answer);
    }
    Ok(timed)
}

fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The exact best `k` of each query.
async fn exact_answers(values: &Arc<Vec<f32>>, queries: &[Vec<f32>], k: usize) -> anyhow::Result<Vec<Vec<u32>>> {
    let values = values.clone();
    let queries = queries.to_vec();
    tokio::task::spawn_blocking(move || {
        queries
            .iter()
            .map(|query| {
                let mut query = query.clone();
                normalize(&mut query);
                exact_top_k(&values, &query, k)
            })
            .collect()
    })
    .await
    .context("the exact answers failed")
}

fn method_result(name: &str, k: usize, timed: Timed, exact: &[Vec<u32>], rust: &Percentiles) -> MethodResult {
    let recalls: Vec<f64> =
        timed.answers.iter().zip(exact).map(|(found, exact)| recall(found, &exact[..k.min(exact.len())])).collect();
    let latency = Percentiles::of(timed.micros);
    let ratio = |value: f64, base: f64| if base > 0.0 { value / base } else { 0.0 };
    MethodResult {
        method: name.to_owned(),
        k,
        p50_vs_rust: ratio(latency.p50_ms, rust.p50_ms),
        p95_vs_rust: ratio(latency.p95_ms, rust.p95_ms),
        latency,
        recall_mean: recalls.iter().sum::<f64>() / recalls.len().max(1) as f64,
        recall_min: recalls.iter().copied().fold(1.0, f64::min),
    }
}

/// sqlite-vec answers that are too far from the exact ones to be a speed difference.
fn recall_failures(scale: &ScaleResult) -> Vec<String> {
    scale
        .methods
        .iter()
        .filter(|method| method.method != RUST_SCAN && method.recall_mean < MIN_RECALL)
        .map(|method| {
            format!(
                "{} at {} vectors, k={}: mean recall {:.3}",
                method.method, scale.vectors, method.k, method.recall_mean
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sqlite-vec loads on a plain sqlx connection and its vec0 answer is the Rust scan's.
    #[tokio::test]
    async fn vec0_agrees_with_the_rust_scan() {
        register_sqlite_vec().expect("register");
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut conn = connect(&dir.path().join("test.db")).await.expect("open");
        sqlx::query(CREATE_VEC0).execute(&mut conn).await.expect("create vec0");
        let mut source = VectorSource::new(5, 16);
        let values = source.take(600);
        insert_all(&mut conn, "INSERT INTO vec_items (rowid, embedding) VALUES (?, ?)", &values, 250)
            .await
            .expect("insert");
        let queries: Vec<Vec<f32>> = source.take(5).chunks_exact(DIMENSIONS).map(<[f32]>::to_vec).collect();
        let budget = Budget { queries: queries.len(), seconds: 10.0, min_queries: 0 };
        let timed = time_sql(&mut conn, VEC0_QUERY, &queries, 20, &budget).await.expect("query");
        assert_eq!(timed.answers.len(), queries.len());
        for (query, answer) in queries.iter().zip(&timed.answers) {
            assert_eq!(answer, &rust_scan(&values, query, 20));
        }
    }
}
