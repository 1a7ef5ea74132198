//! What `veritrail-bench vectors` found: the JSON record and the Markdown page a person reads.

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::{Git, Machine, int, millis};

/// The methods compared, in the order they are reported.
pub const RUST_SCAN: &str = "Rust scan";
pub const VEC0: &str = "sqlite-vec vec0";
pub const SQL_SCAN: &str = "vec_distance_cosine scan";

#[derive(Debug, Clone, Serialize)]
pub struct VectorsReport {
    pub benchmark: String,
    pub command: String,
    pub started_utc: String,
    pub finished_utc: String,
    pub machine: Machine,
    pub git: Git,
    pub sqlite_version: String,
    pub sqlite_vec_version: String,
    pub parameters: VectorsParameters,
    pub scales: Vec<ScaleResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VectorsParameters {
    pub seed: u64,
    pub dimensions: usize,
    pub clusters: usize,
    pub queries: usize,
    pub ks: Vec<usize>,
    /// A method stops asking after this many seconds once it has `min_queries` answers.
    pub method_seconds: f64,
    pub min_queries: usize,
    pub insert_batch: usize,
    /// Mean cosine of vector pairs from different clusters and from the same cluster (a sample).
    pub cosine_other_cluster: f64,
    pub cosine_same_cluster: f64,
}

/// One number of vectors: the distinct texts of a log size, or one vector per event.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleResult {
    pub events: u64,
    /// `distinct texts` (what the store embeds and keeps) or `one per event`.
    pub scale: String,
    pub vectors: usize,
    /// Bytes of the vectors as `f32` (what the Rust scan keeps in memory).
    pub vector_bytes: u64,
    pub generate_seconds: f64,
    /// Row by row through sqlx, `insert_batch` rows per transaction.
    pub blob_insert_seconds: f64,
    /// Database pages the BLOB table (and its rowid B-tree) took.
    pub blob_table_bytes: u64,
    /// Reading every BLOB into the in-memory set, as the store's vector cache does on first use.
    pub rust_load_seconds: f64,
    pub vec0_insert_seconds: f64,
    /// Database pages the vec0 table and its shadow tables took.
    pub vec0_table_bytes: u64,
    pub methods: Vec<MethodResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MethodResult {
    pub method: String,
    pub k: usize,
    pub latency: Percentiles,
    /// This method's p50 and p95 ÷ the Rust scan's, same size and k.
    pub p50_vs_rust: f64,
    pub p95_vs_rust: f64,
    /// Of the top k, the share that is in the exact (f64, full sort) top k: mean and worst query.
    pub recall_mean: f64,
    pub recall_min: f64,
}

/// Latency percentiles in milliseconds, exact (nearest rank over all samples).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(mut micros: Vec<u64>) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        micros.sort_unstable();
        let n = micros.len();
        let rank = |p: f64| micros[(((p / 100.0) * n as f64).ceil() as usize).clamp(1, n) - 1] as f64 / 1000.0;
        Self {
            samples: n,
            mean_ms: micros.iter().sum::<u64>() as f64 / n as f64 / 1000.0,
            p50_ms: rank(50.0),
            p95_ms: rank(95.0),
            p99_ms: rank(99.0),
            max_ms: micros[n - 1] as f64 / 1000.0,
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1024.0 / 1024.0)
}

fn scale_label(scale: &ScaleResult) -> String {
    format!("{} events, {}", int(scale.events as f64), scale.scale)
}

pub fn latency_table(report: &VectorsReport) -> String {
    let mut out = String::from(
        "| vectors | of | k | method | queries | p50 ms | p95 ms | p99 ms | p50 ÷ Rust | p95 ÷ Rust | recall@k mean (min) |\n\
         |---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for scale in &report.scales {
        for method in &scale.methods {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2}× | {:.2}× | {:.4} ({:.2}) |",
                int(scale.vectors as f64),
                scale_label(scale),
                method.k,
                method.method,
                method.latency.samples,
                millis(method.latency.p50_ms),
                millis(method.latency.p95_ms),
                millis(method.latency.p99_ms),
                method.p50_vs_rust,
                method.p95_vs_rust,
                method.recall_mean,
                method.recall_min
            );
        }
    }
    out
}

pub fn build_table(report: &VectorsReport) -> String {
    let mut out = String::from(
        "| vectors | of | vectors in memory (Rust scan) | BLOB table | BLOB insert s | Rust load s | vec0 tables | vec0 insert s |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for scale in &report.scales {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {:.2} | {} | {:.1} |",
            int(scale.vectors as f64),
            scale_label(scale),
            mib(scale.vector_bytes),
            mib(scale.blob_table_bytes),
            scale.blob_insert_seconds,
            scale.rust_load_seconds,
            mib(scale.vec0_table_bytes),
            scale.vec0_insert_seconds
        );
    }
    out
}

pub fn markdown(report: &VectorsReport) -> String {
    let mut out = String::new();
    let machine = &report.machine;
    let params = &report.parameters;
    let _ = writeln!(out, "# Veritrail SQLite vector search: Rust scan against sqlite-vec, {}\n", report.started_utc);
    let _ = writeln!(
        out,
        "The SQLite store ranks vectors by reading the tenant's vector BLOBs into memory once and scanning them in \
         Rust. This compares that, in the same run on the same vectors and queries, with the `sqlite-vec` \
         extension ({}): its `vec0` virtual table (`MATCH ? AND k = ?`) and a plain SQL scan of the BLOB table with \
         its `vec_distance_cosine`. Nothing here is asserted about timings; compare the ratios, which were measured \
         side by side.\n",
        report.sqlite_vec_version
    );

    out.push_str("## Setup\n\n");
    let _ = writeln!(out, "- Command: `{}`", report.command);
    let _ = writeln!(out, "- Date: {} to {}", report.started_utc, report.finished_utc);
    let _ = writeln!(
        out,
        "- Machine: {} CPUs, {}, {:.1} GiB RAM, Linux {}; load average {} at start, {} at end (a shared machine: \
         other work ran at the same time, so absolute numbers are noisy)",
        machine.cpus,
        machine.cpu_model,
        machine.memory_gib,
        machine.kernel,
        machine.load_average_start,
        machine.load_average_end
    );
    let _ = writeln!(
        out,
        "- Git commit: {}{}",
        report.git.commit.as_deref().unwrap_or("unknown"),
        if report.git.uncommitted_changes == Some(true) { " (with uncommitted changes outside bench/)" } else { "" }
    );
    let _ = writeln!(
        out,
        "- SQLite {} (the one sqlx links, bundled by libsqlite3-sys); sqlite-vec {} built by its crate (plain C, \
         no SIMD flags), registered with `sqlite3_auto_extension`, so every sqlx connection has it",
        report.sqlite_version, report.sqlite_vec_version
    );
    let _ = writeln!(
        out,
        "- Vectors: {} dimensions, synthetic and deterministic (seed {}): each is normalise(0.55·g + 0.59·c + 0.59·n) \
         with g one direction shared by all, c one of {} cluster directions and n its own noise, all random unit \
         vectors. Like sentence embeddings of one domain every pair has a positive cosine: {:.2} on average across \
         clusters, {:.2} within one (sampled). Queries are drawn the same way.",
        params.dimensions, params.seed, params.clusters, params.cosine_other_cluster, params.cosine_same_cluster
    );
    let _ = writeln!(
        out,
        "- Sizes: per log size, the number of distinct rendered texts of the search benchmark's synthetic log (the \
         store embeds and keeps one vector per distinct text; counted with `search_data::profile`), and one vector \
         per event (what the choice must survive if texts stopped repeating)."
    );
    let _ = writeln!(
        out,
        "- Both tables live in one SQLite file (WAL, `synchronous=NORMAL`) in a temporary directory, written row by \
         row through sqlx, {} rows per transaction; ids are 1..n. All reads come from the OS page cache.",
        int(params.insert_batch as f64)
    );
    let _ = writeln!(
        out,
        "- Queries: {} per method, size and k (k = {}), one at a time after one untimed query; a method stops early \
         after {} s once it has {} answers. **{}**: the store's algorithm on the in-memory set (16-lane `f32` dot \
         product with every vector, `select_nth_unstable_by` for the best k, then a sort of those; `VectorSet` and \
         `Ranking` are private to the store, so the bench repeats them), timed from the query vector to the k ids. \
         **{}**: `SELECT rowid FROM vec_items WHERE embedding MATCH ? AND k = ? ORDER BY distance` on \
         `vec0(embedding float[{}] distance_metric=cosine)` through sqlx, the query as a BLOB. **{}**: \
         `SELECT id FROM vectors ORDER BY vec_distance_cosine(vector, ?) LIMIT ?` on the BLOB table. The SQL \
         timings include sqlx (a statement cached on one connection).",
        params.queries,
        params.ks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        params.method_seconds,
        params.min_queries,
        RUST_SCAN,
        VEC0,
        params.dimensions,
        SQL_SCAN
    );
    let _ = writeln!(
        out,
        "- Recall@k: against the exact answer (similarities in `f64`, full sort) for every query asked; the run fails \
         if a sqlite-vec method's mean recall is below 0.99 (a set-up error, not a speed difference).\n"
    );

    out.push_str("## Query latency\n\n");
    out.push_str(&latency_table(report));
    out.push_str("\n## Load and build\n\n");
    out.push_str(
        "`Rust load` reads every BLOB (5,000 per query, as the store's vector cache pages) and decodes and normalises \
         it into one flat array: a search pays it once per process and tenant, then only for new rows. The table \
         sizes are the database pages each took.\n\n",
    );
    out.push_str(&build_table(report));
    out
}
