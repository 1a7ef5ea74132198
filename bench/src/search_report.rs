//! What `veritrail-bench search` found: the JSON record and the Markdown page a person reads.

use std::fmt::Write as _;

use serde::Serialize;
use veritrail_core::query::Interpretation;

use crate::cpu::CpuUsage;
use crate::db::Backend;
use crate::report::{Git, Machine, cores, int};
use crate::search::SearchSample;
use crate::search_data::{DataProfile, SPAN_DAYS};
use crate::search_questions::QuestionKind;

/// Stated goals, reported next to the numbers and never asserted.
pub const GOAL_POSTGRES_P95_MS: f64 = 40.0;
pub const GOAL_SQLITE_P95_MS: f64 = 150.0;
/// The latency goals are stated at this log size.
pub const GOAL_EVENTS: u64 = 1_000_000;
/// Back-fill texts/s ÷ raw model texts/s.
pub const GOAL_BACKFILL_VS_RAW: f64 = 0.8;

/// Latency percentiles in milliseconds, exact (nearest rank over all samples). Timed-out samples
/// rank above every finished one; a percentile that falls on one is infinite (JSON `null`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Finished samples plus timeouts.
    pub samples: usize,
    pub timeouts: usize,
    /// Of the finished samples.
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    pub fn of(micros: impl IntoIterator<Item = u64>) -> Self {
        Self::with_timeouts(micros, 0)
    }

    pub fn with_timeouts(micros: impl IntoIterator<Item = u64>, timeouts: usize) -> Self {
        let mut micros: Vec<u64> = micros.into_iter().collect();
        let finished = micros.len();
        if finished + timeouts == 0 {
            return Self::default();
        }
        micros.sort_unstable();
        let mean_ms = micros.iter().sum::<u64>() as f64 / finished.max(1) as f64 / 1e3;
        micros.extend(std::iter::repeat_n(u64::MAX, timeouts));
        let n = micros.len();
        let value = |micros: u64| if micros == u64::MAX { f64::INFINITY } else { micros as f64 / 1e3 };
        // Nearest rank: the smallest sample with at least p% of the samples at or below it.
        let rank = |p: f64| value(micros[(((p / 100.0) * n as f64).ceil() as usize).clamp(1, n) - 1]);
        Self {
            samples: n,
            timeouts,
            mean_ms,
            p50_ms: rank(50.0),
            p95_ms: rank(95.0),
            p99_ms: rank(99.0),
            max_ms: value(micros[n - 1]),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseCpu {
    pub phase: String,
    pub seconds: f64,
    pub usage: CpuUsage,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadPhase {
    /// Time inside `EventLog::append` only.
    pub append_seconds: f64,
    /// Including generating and validating the events.
    pub wall_seconds: f64,
    pub events_per_second: f64,
}

/// The model alone on a sample of the distinct texts.
#[derive(Debug, Clone, Serialize)]
pub struct RawModel {
    pub texts: usize,
    pub seconds: f64,
    pub texts_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Backfill {
    pub documents: u64,
    pub documents_seconds: f64,
    pub documents_per_second: f64,
    /// Distinct texts embedded.
    pub texts: u64,
    /// Wall time of the vector phase (`index_tenant` with the model).
    pub vectors_seconds: f64,
    /// The indexer's own `embed_seconds` (its embedding loop).
    pub indexer_embed_seconds: f64,
    pub vector_texts_per_second: f64,
    /// Events made semantically searchable per second of the vector phase.
    pub vector_events_per_second: f64,
    /// Events ÷ (documents + vectors seconds).
    pub events_per_second: f64,
    pub raw_before: RawModel,
    pub raw_after: RawModel,
    /// Mean of before and after.
    pub raw_texts_per_second: f64,
    /// `vector_texts_per_second` ÷ `raw_texts_per_second`.
    pub vs_raw: f64,
    /// `IndexProgress` afterwards: events, indexed, embedded.
    pub index_progress: [u64; 3],
}

#[derive(Debug, Clone, Serialize)]
pub struct KindLatency {
    pub kind: QuestionKind,
    pub latency: Percentiles,
    pub no_results: usize,
    pub mean_results: f64,
    /// Questions with words left for full-text and vector search (the rest list filter matches).
    pub with_semantic_text: usize,
    /// Questions not asked because of earlier timeouts.
    pub not_asked: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Components {
    /// The question's semantic text embedded through the `Embedder` trait, as the engine does.
    pub embed: Percentiles,
    pub fulltext: Percentiles,
    pub nearest: Percentiles,
    /// `filtered`, for questions that are only filters.
    pub filtered: Percentiles,
    /// The whole search as shipped, and fused plainly (no score completion, no action weight),
    /// timed back to back per question in alternating order.
    pub shipped: Percentiles,
    pub plain: Percentiles,
    /// Candidates asked of `fulltext` and `nearest`.
    pub candidates: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    pub backend: Backend,
    pub events: u64,
    /// `None` when the run reused a database kept by an earlier run (`--keep-dir`).
    pub load: Option<LoadPhase>,
    pub backfill: Option<Backfill>,
    /// PostgreSQL `ANALYZE` after the documents phase, seconds.
    pub analyze_seconds: Option<f64>,
    /// PostgreSQL `VACUUM (ANALYZE)` before searching, seconds.
    pub vacuum_seconds: Option<f64>,
    /// The very first search (warm-up pass): on SQLite it reads every vector into memory.
    pub first_search_ms: f64,
    pub search: Percentiles,
    pub by_kind: Vec<KindLatency>,
    pub components: Components,
    pub searches: Vec<SearchSample>,
    pub database_bytes: Option<u64>,
    pub cpu: Vec<PhaseCpu>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchParameters {
    pub command: String,
    pub seed: u64,
    pub now: String,
    pub sizes: Vec<u64>,
    pub backends: Vec<Backend>,
    pub questions: usize,
    pub limit: u32,
    pub load_batch: u64,
    pub document_batch: u32,
    pub embed_batch: u32,
    pub raw_sample: usize,
    pub search_timeout_seconds: f64,
    pub max_timeouts: usize,
    pub abandoned_wait_seconds: f64,
    pub model: String,
    pub model_threads: usize,
    /// Where each backend's databases live (file system type).
    pub storage: Vec<String>,
    pub actors: usize,
    pub people: usize,
    pub actions: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub kind: QuestionKind,
    pub question: String,
    pub filters: String,
    pub semantic_text: String,
    pub results: usize,
    pub milliseconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoalCheck {
    pub scope: String,
    pub goal: String,
    pub measured: String,
    /// `met`, `not met`, or `reference` (the goal is stated for another size).
    pub status: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    pub benchmark: String,
    pub started_utc: String,
    pub finished_utc: String,
    pub machine: Machine,
    pub git: Git,
    pub changed_outside_bench: Vec<String>,
    pub parameters: SearchParameters,
    pub data: Vec<DataProfile>,
    pub runs: Vec<RunResult>,
    /// The questions, in the order the samples refer to them.
    pub questions: Vec<String>,
    pub examples: Vec<Example>,
    pub goals: Vec<GoalCheck>,
}

/// "since 2026-11-19 00:00, until 2026-11-20 00:00; actor alice smith; outcome failure".
pub fn describe_filters(interpretation: &Interpretation) -> String {
    let mut parts = Vec::new();
    let time = |at: &chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%d %H:%M").to_string();
    match (&interpretation.since, &interpretation.until) {
        (Some(since), Some(until)) => parts.push(format!("{} to {}", time(since), time(until))),
        (Some(since), None) => parts.push(format!("since {}", time(since))),
        (None, Some(until)) => parts.push(format!("before {}", time(until))),
        (None, None) => {}
    }
    let mut list = |label: &str, values: &[String]| {
        if !values.is_empty() {
            parts.push(format!("{label} {}", values.join(", ")));
        }
    };
    list("actor", &interpretation.actors);
    list("action", &interpretation.actions);
    list("resource type", &interpretation.resource_types);
    list("ip", &interpretation.ips);
    if let Some(outcome) = interpretation.outcome {
        parts.push(format!("outcome {}", outcome.as_str()));
    }
    if parts.is_empty() { "-".to_owned() } else { parts.join("; ") }
}

/// [`crate::report::millis`], with a timed-out search's infinite time as "timeout".
fn ms(value: f64) -> String {
    if value.is_infinite() { "timeout".to_owned() } else { crate::report::millis(value) }
}

fn label(backend: Backend) -> &'static str {
    backend.label()
}

/// How much each generated log repeats.
pub fn data_table(profiles: &[DataProfile]) -> String {
    let mut out = String::from(
        "| events | distinct texts | texts ÷ events | distinct texts in the first 10% | top 100 texts' share of events \
         | mean text chars | success / failure / denied | actors / actions / IPs seen |\n\
         |---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for profile in profiles {
        let total = profile.events.max(1) as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {:.1}% | {} | {:.0}% | {:.0} | {:.1}% / {:.1}% / {:.1}% | {} / {} / {} |",
            int(profile.events as f64),
            int(profile.distinct_texts as f64),
            100.0 * profile.distinct_texts as f64 / total,
            int(profile.distinct_texts_first_tenth as f64),
            100.0 * profile.top_100_share,
            profile.mean_text_chars,
            100.0 * profile.outcomes[0] as f64 / total,
            100.0 * profile.outcomes[1] as f64 / total,
            100.0 * profile.outcomes[2] as f64 / total,
            profile.actors_seen,
            profile.actions_seen,
            profile.ips_seen,
        );
    }
    out
}

fn latency_goal(backend: Backend) -> f64 {
    match backend {
        Backend::Postgres => GOAL_POSTGRES_P95_MS,
        Backend::Sqlite => GOAL_SQLITE_P95_MS,
    }
}

pub fn goal_checks(report: &SearchReport) -> Vec<GoalCheck> {
    let mut goals = Vec::new();
    for run in &report.runs {
        let goal = latency_goal(run.backend);
        let met = run.search.p95_ms <= goal;
        let status = match (run.events == GOAL_EVENTS, met) {
            (true, true) => "met",
            (true, false) => "not met",
            (false, true) => "reference: met (goal stated at 1,000,000)",
            (false, false) => "reference: not met (goal stated at 1,000,000)",
        };
        goals.push(GoalCheck {
            scope: format!("{} at {} events", label(run.backend), int(run.events as f64)),
            goal: format!("search p95 ≤ {goal:.0} ms (incl. query embedding)"),
            measured: format!("{} ms", ms(run.search.p95_ms)),
            status: status.to_owned(),
        });
    }
    for run in &report.runs {
        let Some(backfill) = &run.backfill else { continue };
        let met = backfill.vs_raw >= GOAL_BACKFILL_VS_RAW;
        goals.push(GoalCheck {
            scope: format!("{} at {} events", label(run.backend), int(run.events as f64)),
            goal: format!("back-fill ≥ {:.0}% of raw model texts/s", 100.0 * GOAL_BACKFILL_VS_RAW),
            measured: format!("{:.0}%", 100.0 * backfill.vs_raw),
            status: if met { "met" } else { "not met" }.to_owned(),
        });
    }
    goals
}

pub fn goals_table(report: &SearchReport) -> String {
    let mut out = String::from("| scope | goal | measured | |\n|---|---|---:|---|\n");
    for goal in &report.goals {
        let _ = writeln!(out, "| {} | {} | {} | {} |", goal.scope, goal.goal, goal.measured, goal.status);
    }
    out
}

fn backfill_table(report: &SearchReport) -> String {
    let mut out = String::from(
        "| backend | events | load events/s | documents s | documents/s | distinct texts | vectors s | \
         back-fill texts/s | raw model texts/s (before / after) | back-fill ÷ raw | vector phase events/s | \
         back-fill events/s (both phases) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in &report.runs {
        let (Some(load), Some(b)) = (&run.load, &run.backfill) else {
            let _ = writeln!(
                out,
                "| {} | {} | reused a database kept by an earlier run: not measured |||||||||||",
                label(run.backend),
                int(run.events as f64)
            );
            continue;
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {} | {} | {:.1} | {:.0} | {:.0} ({:.0} / {:.0}) | {:.2} | {} | {} |",
            label(run.backend),
            int(run.events as f64),
            int(load.events_per_second),
            b.documents_seconds,
            int(b.documents_per_second),
            int(b.texts as f64),
            b.vectors_seconds,
            b.vector_texts_per_second,
            b.raw_texts_per_second,
            b.raw_before.texts_per_second,
            b.raw_after.texts_per_second,
            b.vs_raw,
            int(b.vector_events_per_second),
            int(b.events_per_second),
        );
    }
    out
}

fn latency_table(report: &SearchReport) -> String {
    let mut out = String::from(
        "| backend | events | questions | timeouts | p50 ms | p95 ms | p99 ms | max ms | mean ms (finished) | goal p95 \
         | first search ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in &report.runs {
        let s = &run.search;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | ≤ {:.0} ms | {} |",
            label(run.backend),
            int(run.events as f64),
            s.samples,
            s.timeouts,
            ms(s.p50_ms),
            ms(s.p95_ms),
            ms(s.p99_ms),
            ms(s.max_ms),
            ms(s.mean_ms),
            latency_goal(run.backend),
            ms(run.first_search_ms),
        );
    }
    out
}

fn kind_table(report: &SearchReport) -> String {
    let mut out = String::from(
        "| backend | events | kind | asked | timeouts | with words left | p50 ms | p95 ms | max ms | mean results \
         | no results |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in &report.runs {
        for kind in &run.by_kind {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
                label(run.backend),
                int(run.events as f64),
                kind.kind.label(),
                kind.latency.samples,
                kind.latency.timeouts,
                kind.with_semantic_text,
                ms(kind.latency.p50_ms),
                ms(kind.latency.p95_ms),
                ms(kind.latency.max_ms),
                kind.mean_results,
                kind.no_results,
            );
        }
    }
    out
}

fn components_table(report: &SearchReport) -> String {
    let mut out = String::from(
        "| backend | events | query embedding p50 / p95 ms | fulltext p50 / p95 ms | nearest p50 / p95 ms | \
         filtered p50 / p95 ms (filter-only questions) | search as shipped p50 / p95 ms | plainly fused p50 / p95 ms \
         | shipped ÷ plain p50 / p95 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in &report.runs {
        let c = &run.components;
        let pair = |p: &Percentiles| format!("{} / {} (n={})", ms(p.p50_ms), ms(p.p95_ms), p.samples);
        let ratio = |shipped: f64, plain: f64| if plain > 0.0 { format!("{:.2}", shipped / plain) } else { "-".into() };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
            label(run.backend),
            int(run.events as f64),
            pair(&c.embed),
            pair(&c.fulltext),
            pair(&c.nearest),
            pair(&c.filtered),
            pair(&c.shipped),
            pair(&c.plain),
            ratio(c.shipped.p50_ms, c.plain.p50_ms),
            ratio(c.shipped.p95_ms, c.plain.p95_ms),
        );
    }
    out
}

/// The slowest finished searches of each run, with their parts timed alone.
fn slowest_table(report: &SearchReport, questions: &[String], per_run: usize) -> String {
    let mut out = String::from(
        "| backend | events | question | filters | words left | results | search ms | embed / fulltext / nearest / \
         filtered ms |\n|---|---:|---|---|---|---:|---:|---|\n",
    );
    let part = |value: Option<u64>| value.map_or("-".to_owned(), |micros| ms(micros as f64 / 1e3));
    for run in &report.runs {
        let mut finished: Vec<&SearchSample> = run.searches.iter().filter(|sample| sample.micros.is_some()).collect();
        finished.sort_by_key(|sample| std::cmp::Reverse(sample.micros));
        for sample in finished.into_iter().take(per_run) {
            let parts = sample.parts.clone().unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} / {} / {} / {} |",
                label(run.backend),
                int(run.events as f64),
                questions.get(sample.question).map_or("?", String::as_str),
                sample.filters,
                if sample.semantic_text.is_empty() { "-" } else { &sample.semantic_text },
                sample.results,
                ms(sample.micros.unwrap_or_default() as f64 / 1e3),
                part(parts.embed),
                part(parts.fulltext),
                part(parts.nearest),
                part(parts.filtered),
            );
        }
    }
    out
}

/// Searches abandoned after the timeout.
fn timeouts_table(report: &SearchReport, questions: &[String]) -> Option<String> {
    let mut rows = String::new();
    for run in &report.runs {
        for sample in run.searches.iter().filter(|sample| sample.status == "timeout") {
            let kept_busy = match (sample.abandoned_seconds, sample.abandoned_still_busy) {
                (Some(seconds), false) => format!("{seconds:.0} s"),
                (Some(seconds), true) => format!("> {seconds:.0} s (still busy when the benchmark moved on)"),
                (None, _) => "-".to_owned(),
            };
            let _ = writeln!(
                rows,
                "| {} | {} | {} | {} |",
                label(run.backend),
                int(run.events as f64),
                questions.get(sample.question).map_or("?", String::as_str),
                kept_busy
            );
        }
    }
    (!rows.is_empty()).then(|| {
        format!("| backend | events | question | CPU kept busy after the timeout |\n|---|---:|---|---|\n{rows}")
    })
}

fn cpu_table(report: &SearchReport) -> String {
    let mut out = String::from(
        "| backend | events | phase | seconds | bench cores | postgres cores | other cores | busy % | iowait % | \
         busiest others |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for run in &report.runs {
        for phase in &run.cpu {
            let u = &phase.usage;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} | {} | {} | {} | {:.0} | {:.0} | {} |",
                label(run.backend),
                int(run.events as f64),
                phase.phase,
                phase.seconds,
                cores(u.bench_cores),
                cores(u.postgres_cores),
                cores(u.other_cores),
                u.system_busy_percent,
                u.iowait_percent,
                crate::report::other_processes(u),
            );
        }
    }
    out
}

/// The tables printed at the end of a run.
pub fn summary_tables(report: &SearchReport) -> String {
    format!("{}\n{}", backfill_table(report), latency_table(report))
}

pub fn markdown(report: &SearchReport) -> String {
    let p = &report.parameters;
    let m = &report.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# Veritrail search benchmark, {}\n", report.started_utc);
    out.push_str(
        "Natural-language search latency (query understanding, full-text and vector retrieval with the question \
         embedded by the model, rank fusion, events fetched) and the embedding back-fill's throughput next to the \
         raw model throughput measured in the same run, on SQLite and PostgreSQL, over synthetic audit logs the \
         benchmark generates. Nothing here is asserted.\n\n## Setup\n\n",
    );
    let _ = writeln!(out, "- Date: {} to {}", report.started_utc, report.finished_utc);
    let _ = writeln!(
        out,
        "- Machine: {} CPUs, {} ({}), {:.1} GiB RAM, Linux {}; load average {} at start, {} at end (the machine is \
         shared: see *Where the CPU went*)",
        m.cpus,
        m.cpu_model,
        crate::integrity_report::cpu_flags().join(", "),
        m.memory_gib,
        m.kernel,
        m.load_average_start,
        m.load_average_end
    );
    let changed = if report.changed_outside_bench.is_empty() {
        "none outside bench/".to_owned()
    } else {
        format!("{} files outside bench/ differ from it", report.changed_outside_bench.len())
    };
    let _ =
        writeln!(out, "- Git commit: {} ({changed}); release build", report.git.commit.as_deref().unwrap_or("unknown"));
    let _ = writeln!(out, "- Command: `{}`", p.command);
    let _ = writeln!(out, "- Databases: {}", p.storage.join("; "));
    let _ = writeln!(
        out,
        "- Model: {} in-process (candle, CPU, {} inference threads), the one `veritrail serve` loads. Indexer \
         settings as the `embed-backfill` job runs them: {} events per document batch, {} texts per model call.",
        p.model, p.model_threads, p.document_batch, p.embed_batch
    );
    let _ = writeln!(
        out,
        "- Data: a synthetic log per size (seed {}), loaded through `EventLog::append` ({} events per call) into a \
         fresh database: {} actors ({} people with names and email ids, each with an office and a home address, a \
         browser and a command-line tool; {} service roles with one or two addresses and an SDK), {} actions \
         (CloudTrail-style `s3.amazonaws.com:GetObject` with CloudTrail-shaped `details`, and dotted \
         `repo.delete`), resource pools, a few parameters per action, mostly successes, spread evenly over the {} \
         days before {}. Every actor has its own usual actions and favourite resources, and activity is \
         heavy-tailed, so rendered texts repeat as in real audit logs:",
        p.seed,
        p.load_batch,
        p.actors,
        p.people,
        p.actors - p.people,
        p.actions,
        SPAN_DAYS,
        p.now
    );
    out.push('\n');
    out.push_str(&data_table(&report.data));
    out.push('\n');
    let _ = writeln!(
        out,
        "- Questions: {} built from templates over the generated vocabulary, a quarter of each kind: meaning only \
         (\"who deleted repositories\"), actor + time (\"failed logins by <person> yesterday\"), IP / CIDR \
         (\"activity from 203.0.113.0/24\"), time range (\"bucket policy changes between <day> and <day>\"); \
         `now` = {}, {} results each. Examples with how they were understood are at the end.",
        p.questions, p.now, p.limit
    );
    out.push_str(
        "- Procedure per size and backend: load; back-fill **documents** (`Indexer::index_tenant` with no model: \
         renders every event, writes documents and the full-text index); on PostgreSQL `ANALYZE` (what autovacuum \
         does during a long back-fill anyway); **raw model** (`LocalEmbedder::embed_blocking` on a sample of the \
         same distinct texts spread over the log, in batches of the indexer's size, on a blocking thread); \
         back-fill **vectors** (`Indexer::index_tenant` with the model: `pending_texts`, `embed`, `put_vectors` \
         until none is pending); raw model again; on PostgreSQL `VACUUM (ANALYZE)`; then every question through \
         `SearchEngine::search` once untimed (warm-up; its first search is reported: on SQLite it reads every vector \
         into memory) and once timed, one at a time; finally the parts of each search timed alone with the \
         engine's filters and candidate counts.\n\n## Results\n\n### Embedding back-fill\n\n",
    );
    out.push_str(&backfill_table(report));
    out.push_str(
        "\n`back-fill texts/s` = distinct texts embedded ÷ wall time of the vector phase (model calls plus reading \
         pending texts and writing vectors). `raw model` is the model alone on the same kind of texts with the \
         same batch size, before and after the vector phase; the ratio uses their mean. `vector phase events/s` \
         counts the events whose texts got vectors; `back-fill events/s` spans both phases. Events repeat texts, \
         so events/s is texts/s × events per distinct text.\n\n### Search latency\n\n",
    );
    out.push_str(&latency_table(report));
    out.push_str(
        "\nOne question at a time, measured around `SearchEngine::search` (query understanding against the \
         tenant's vocabulary, query embedding, full-text and vector candidates with the filters applied in the \
         database, the two lists fused, the events fetched, the answer built without a chat model). \
         Percentiles are exact (nearest rank).\n\n",
    );
    out.push_str(&kind_table(report));
    out.push_str(
        "\n`with words left`: questions with words left after query understanding took out names, times and \
         addresses; those are embedded and searched by full text and by meaning, the others list the events \
         matching their filters, newest first, without the model.\n\n### Where a search's time goes\n\n",
    );
    out.push_str(&components_table(report));
    let candidates = report.runs.first().map_or(50, |run| run.components.candidates);
    let _ = writeln!(
        out,
        "\nEach part timed alone, with the filters the engine derives and the {candidates} candidates it asks \
         each retriever for: the question's words embedded through the `Embedder` trait (as the engine does it, \
         on the blocking pool), `SearchIndex::fulltext`, `SearchIndex::nearest`, and `SearchIndex::filtered` for \
         the filter-only questions. A search adds vocabulary lookups (cached 30 s), fusion and `events_at`. \
         Then the whole search twice per question, back to back in alternating order: as shipped, and fused \
         plainly (a list's missing scores counted as 0, no action weight), so their ratio is what completing \
         the scores and weighing the action cost, measured in one run.\n"
    );
    out.push_str("### Slowest searches\n\n");
    out.push_str(&slowest_table(report, &report.questions, 5));
    out.push_str(
        "\nThe five slowest finished searches of each run, with the same question's parts timed alone \
         afterwards (`-`: not used by that question).\n\n",
    );
    if let Some(table) = timeouts_table(report, &report.questions) {
        let _ = writeln!(
            out,
            "Searches abandoned after {:.0} s (counted as slower than every finished search; after {} timeouts \
             the remaining questions of a run are not asked). An abandoned search's statement keeps running \
             until it ends, so the benchmark waited until the CPU was quiet (at most {:.0} s) before going \
             on:\n",
            p.search_timeout_seconds, p.max_timeouts, p.abandoned_wait_seconds
        );
        out.push_str(&table);
        out.push('\n');
    }
    out.push_str("### Goals (not asserted)\n\n");
    out.push_str(&goals_table(report));
    out.push_str("\n### Where the CPU went\n\n");
    out.push_str(&cpu_table(report));
    out.push_str(
        "\nIn cores (the machine has as many as it has CPUs). `bench` is this process: the model, SQLite (which \
         runs inside it) and the benchmark itself; `postgres` every PostgreSQL process; `other` everything else \
         on the machine, i.e. other people's work disturbing the run.\n\n",
    );
    let _ = writeln!(
        out,
        "Database sizes after the run: {}.\n",
        report
            .runs
            .iter()
            .map(|run| format!(
                "{} at {} events {}",
                label(run.backend),
                int(run.events as f64),
                run.database_bytes.map_or("unknown".to_owned(), |bytes| format!("{:.2} GB", bytes as f64 / 1e9))
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    out.push_str("### Examples: how questions were understood\n\n");
    out.push_str("| kind | question | filters | words left | results | ms |\n|---|---|---|---|---:|---:|\n");
    for example in &report.examples {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            example.kind.label(),
            example.question,
            example.filters,
            if example.semantic_text.is_empty() { "-" } else { &example.semantic_text },
            example.results,
            ms(example.milliseconds)
        );
    }
    out.push_str(
        "\n(From the largest run; PostgreSQL when both ran.)\n\n## Vectors on SQLite\n\n\
         SQLite has no vector index. The store keeps each tenant's vectors as BLOBs in `search_vectors` and, per \
         tenant and model, in an in-memory cache filled on the first search and topped up incrementally with the \
         rows added since; a search computes the cosine similarity to every distinct text (a dot product per \
         text, on the blocking pool) and then fetches the newest matching documents of the best texts, widening \
         the candidate set when filters reject them. Because vectors are stored per distinct text, the scan is \
         over tens of thousands of texts, not a million events. The alternative, `sqlite-vec` (vec0 tables, also \
         brute force), needs `sqlite3_auto_extension` through `libsqlite3-sys` to register, which is `unsafe`; \
         this workspace forbids `unsafe_code`, so only the BLOB scan is measured here.\n",
    );
    out
}
