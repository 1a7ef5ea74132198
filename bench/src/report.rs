//! What the run found: the JSON record and the Markdown page a person reads.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::cpu::CpuUsage;
use crate::db::{Backend, BaselineRun};
use crate::load::{BatchedResult, SingleResult};
use crate::threads::ThreadCpu;

/// Stated goals. Reported next to the numbers, never asserted.
/// Product mode ÷ jobs-off mode, throughput and (inverted) p99, both backends.
pub const GOAL_VERSUS_JOBS_OFF: f64 = 0.9;
/// PostgreSQL batched events/s ÷ raw INSERT rows/s.
pub const GOAL_PG_BATCHED_VS_BASELINE: f64 = 0.8;
/// PostgreSQL single-event requests/s and p99.
pub const GOAL_SINGLE_REQUESTS_PER_SECOND: f64 = 10_000.0;
pub const GOAL_SINGLE_P99_MS: f64 = 20.0;
/// SQLite single-event p99.
pub const GOAL_SQLITE_SINGLE_P99_MS: f64 = 25.0;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Usable CPUs (`nproc`).
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    /// /proc/loadavg when the run started and when it ended: a busy shared machine shows here.
    pub load_average_start: String,
    pub load_average_end: String,
}

impl Machine {
    pub fn probe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, model)| model.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find(|line| line.starts_with("MemTotal:"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
            .or_else(|| command_output("uname", &["-r"]))
            .unwrap_or_else(|| "unknown".to_owned());
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel,
            load_average_start: load_average(),
            load_average_end: String::new(),
        }
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Trimmed stdout of a command that succeeded.
pub fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerBuild {
    pub path: String,
    pub version: String,
    /// `release` or `debug` from the binary's directory, else `unknown`.
    pub profile: String,
    pub modified_utc: Option<String>,
}

impl ServerBuild {
    pub fn probe(bin: &Path, version: String) -> Self {
        let profile = if bin.components().any(|part| part.as_os_str() == "release") {
            "release"
        } else if bin.components().any(|part| part.as_os_str() == "debug") {
            "debug"
        } else {
            "unknown"
        };
        let modified_utc = std::fs::metadata(bin)
            .and_then(|meta| meta.modified())
            .ok()
            .map(|time| chrono::DateTime::<chrono::Utc>::from(time).format("%Y-%m-%d %H:%M UTC").to_string());
        // Reports are committed: name the binary relative to the build directory, never by a path
        // of the machine that ran it.
        let tail: Vec<String> = bin
            .components()
            .rev()
            .take(2)
            .map(|part| part.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Self { path: format!("<target>/{}", tail.join("/")), version, profile: profile.to_owned(), modified_utc }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Git {
    pub commit: Option<String>,
    /// Tracked files outside bench/ differ from the commit (others may be editing the tree).
    pub uncommitted_changes: Option<bool>,
}

impl Git {
    pub fn probe(root: &Path) -> Self {
        let root = root.to_string_lossy();
        let commit = command_output("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
        // Outside bench/: whether the server measured is the commit named.
        let uncommitted_changes = command_output(
            "git",
            &["-C", &root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench"],
        )
        .map(|status| !status.is_empty());
        Self { commit, uncommitted_changes }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Parameters {
    pub batched_events: u64,
    pub batch_size: u64,
    pub batch_concurrency: usize,
    pub single_seconds: f64,
    pub single_concurrency: usize,
    pub warmup_seconds: f64,
    pub client_ids: bool,
    pub mean_event_bytes: f64,
    pub event_templates: usize,
    pub baseline_rows: u64,
    /// `fixed` (the same 32 bytes in every row) or `pseudo-random`.
    pub baseline_hash_values: String,
    pub modes: Vec<Mode>,
    pub rounds: usize,
    pub catch_up_seconds: f64,
}

/// Requests made before the timed phases (their events are in the database too).
#[derive(Debug, Clone, Serialize)]
pub struct Warmup {
    pub batch_events_created: u64,
    pub single_events_created: u64,
}

/// How the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Background work switched off: every job's schedule empty (on demand only), no embedding
    /// model (`search.embedding.provider = none`), no alert rule.
    JobsOff,
    /// The product as `scripts/run.sh` starts it: the local embedding model installed, every job
    /// on its default schedule, plus one event rule with a webhook channel.
    Product,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::JobsOff => "jobs-off",
            Mode::Product => "product",
        }
    }
}

/// What the background work had left when the timed phases ended (product mode).
#[derive(Debug, Clone, Serialize)]
pub struct BackendLag {
    pub events: u64,
    pub indexed_at_end: u64,
    pub embedded_at_end: u64,
    /// `GET /api/v1/search/status` right after the single-event phase.
    pub status_at_end: Option<serde_json::Value>,
    /// Seconds after the phases until documents and vectors covered every event, with no load;
    /// `None`: not within `--catch-up-seconds`.
    pub caught_up_seconds: Option<f64>,
    /// The last status read while waiting.
    pub status_last: Option<serde_json::Value>,
    /// The server's threads while it caught up.
    pub catch_up_threads: ThreadCpu,
    /// Alerts the event rule's webhook received by the end of the wait.
    pub webhook_deliveries: u64,
}

/// One server run in one mode, on a fresh database.
#[derive(Debug, Clone, Serialize)]
pub struct ModeRun {
    pub mode: Mode,
    pub round: usize,
    pub batched: BatchedResult,
    pub batched_cpu: CpuUsage,
    pub batched_threads: ThreadCpu,
    pub single: SingleResult,
    pub single_cpu: CpuUsage,
    pub single_threads: ThreadCpu,
    pub warmup: Warmup,
    /// Events the server answered 201 for, warm-up included.
    pub events_expected: u64,
    /// Rows in the server's `events` table afterwards.
    pub events_stored: i64,
    pub background: Option<BackendLag>,
    pub server_stderr_lines: usize,
    pub server_stderr_tail: Vec<String>,
}

/// The median of a mode's runs.
#[derive(Debug, Clone, Serialize)]
pub struct ModeSummary {
    pub mode: Mode,
    pub runs: usize,
    pub batched_events_per_second: f64,
    pub single_requests_per_second: f64,
    pub single_p50_ms: f64,
    pub single_p99_ms: f64,
    /// Batched events/s divided by baseline rows/s.
    pub batched_vs_baseline: f64,
    /// Single-event requests/s divided by baseline rows/s.
    pub single_vs_baseline: f64,
}

/// Product mode against jobs-off, from the medians: 1.00 = background work costs ingest nothing.
/// Latency is inverted (jobs-off p99 ÷ product p99), so every ratio reads "higher is better".
#[derive(Debug, Clone, Serialize)]
pub struct ProductVsJobsOff {
    pub batched_throughput: f64,
    pub single_throughput: f64,
    pub single_p99: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    pub backend: Backend,
    pub baseline_runs: Vec<BaselineRun>,
    /// Mean of the baseline runs, rows per second.
    pub baseline_rows_per_second: f64,
    pub runs: Vec<ModeRun>,
    pub modes: Vec<ModeSummary>,
    pub product_vs_jobs_off: Option<ProductVsJobsOff>,
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

impl BackendReport {
    pub fn new(backend: Backend, baseline_runs: Vec<BaselineRun>, runs: Vec<ModeRun>) -> Self {
        let baseline_rows_per_second =
            baseline_runs.iter().map(|run| run.rows_per_second).sum::<f64>() / baseline_runs.len().max(1) as f64;
        let ratio = |value: f64| if baseline_rows_per_second > 0.0 { value / baseline_rows_per_second } else { 0.0 };
        let mut modes: Vec<Mode> = runs.iter().map(|run| run.mode).collect();
        modes.sort();
        modes.dedup();
        let modes: Vec<ModeSummary> = modes
            .into_iter()
            .map(|mode| {
                let of = |value: fn(&ModeRun) -> f64| {
                    median(runs.iter().filter(|run| run.mode == mode).map(value).collect())
                };
                let batched = of(|run| run.batched.events_per_second);
                let single = of(|run| run.single.requests_per_second);
                ModeSummary {
                    mode,
                    runs: runs.iter().filter(|run| run.mode == mode).count(),
                    batched_events_per_second: batched,
                    single_requests_per_second: single,
                    single_p50_ms: of(|run| run.single.latency.p50_ms),
                    single_p99_ms: of(|run| run.single.latency.p99_ms),
                    batched_vs_baseline: ratio(batched),
                    single_vs_baseline: ratio(single),
                }
            })
            .collect();
        let find = |mode: Mode| modes.iter().find(|summary| summary.mode == mode);
        let divide = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let product_vs_jobs_off = match (find(Mode::Product), find(Mode::JobsOff)) {
            (Some(product), Some(off)) => Some(ProductVsJobsOff {
                batched_throughput: divide(product.batched_events_per_second, off.batched_events_per_second),
                single_throughput: divide(product.single_requests_per_second, off.single_requests_per_second),
                single_p99: divide(off.single_p99_ms, product.single_p99_ms),
            }),
            _ => None,
        };
        Self { backend, baseline_runs, baseline_rows_per_second, runs, modes, product_vs_jobs_off }
    }

    /// The summary the goals are judged on: the product mode if it ran, else the first.
    pub fn judged(&self) -> Option<&ModeSummary> {
        self.modes.iter().find(|summary| summary.mode == Mode::Product).or_else(|| self.modes.first())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GoalCheck {
    pub backend: Backend,
    /// The mode the measurement comes from.
    pub mode: Mode,
    pub goal: String,
    pub measured: f64,
    /// How `measured` reads: `ratio`, `events/s`, `requests/s` or `ms`.
    pub unit: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub benchmark: String,
    pub started_utc: String,
    pub finished_utc: String,
    pub machine: Machine,
    pub server: ServerBuild,
    pub git: Git,
    pub parameters: Parameters,
    pub backends: Vec<BackendReport>,
    /// Issue 19's goals, judged on the product mode's medians.
    pub goals: Vec<GoalCheck>,
}

/// The goals (reported, never asserted): product mode keeps 0.9× of jobs-off, on both backends;
/// on PostgreSQL batched ≥ 0.8× the raw INSERT and single ≥ 10,000 requests/s with p99 ≤ 20 ms;
/// on SQLite single p99 ≤ 25 ms.
pub fn goal_checks(backends: &[BackendReport]) -> Vec<GoalCheck> {
    let mut checks = Vec::new();
    for report in backends {
        let Some(judged) = report.judged() else { continue };
        let mut check = |goal: String, measured: f64, unit: &str, met: bool| {
            checks.push(GoalCheck {
                backend: report.backend,
                mode: judged.mode,
                goal,
                measured,
                unit: unit.to_owned(),
                met,
            });
        };
        if let Some(versus) = &report.product_vs_jobs_off {
            let at_least = GOAL_VERSUS_JOBS_OFF;
            check(
                format!("batched ≥ {at_least}× jobs-off"),
                versus.batched_throughput,
                "ratio",
                versus.batched_throughput >= at_least,
            );
            check(
                format!("single ≥ {at_least}× jobs-off"),
                versus.single_throughput,
                "ratio",
                versus.single_throughput >= at_least,
            );
            check(
                format!("single p99 ≥ {at_least}× jobs-off (jobs-off p99 ÷ product p99)"),
                versus.single_p99,
                "ratio",
                versus.single_p99 >= at_least,
            );
        }
        let p99 = judged.single_p99_ms;
        match report.backend {
            Backend::Postgres => {
                let batched = judged.batched_vs_baseline;
                check(
                    format!("batched ≥ {GOAL_PG_BATCHED_VS_BASELINE}× raw INSERT"),
                    batched,
                    "ratio",
                    batched >= GOAL_PG_BATCHED_VS_BASELINE,
                );
                let single = judged.single_requests_per_second;
                check(
                    format!("single ≥ {} requests/s", int(GOAL_SINGLE_REQUESTS_PER_SECOND)),
                    single,
                    "requests/s",
                    single >= GOAL_SINGLE_REQUESTS_PER_SECOND,
                );
                check(
                    format!("single p99 ≤ {GOAL_SINGLE_P99_MS} ms"),
                    p99,
                    "ms",
                    p99 > 0.0 && p99 <= GOAL_SINGLE_P99_MS,
                );
            }
            Backend::Sqlite => {
                check(
                    format!("single p99 ≤ {GOAL_SQLITE_SINGLE_P99_MS} ms"),
                    p99,
                    "ms",
                    p99 > 0.0 && p99 <= GOAL_SQLITE_SINGLE_P99_MS,
                );
            }
        }
    }
    checks
}

/// 1234567.8 -> "1,234,568"
/// Milliseconds with about three significant digits: 0.52, 18.3, 181.
pub fn millis(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

pub fn int(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (idx, digit) in digits.chars().enumerate() {
        if idx > 0 && (digits.len() - idx) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    if value < -0.5 { format!("-{out}") } else { out }
}

pub(crate) fn ms(value: f64) -> String {
    if value >= 100.0 { format!("{value:.0}") } else { format!("{value:.1}") }
}

pub(crate) fn cores(value: f64) -> String {
    format!("{value:.2}")
}

/// E.g. `rustc 0.81, cargo 0.10`, busiest first.
pub(crate) fn other_processes(cpu: &CpuUsage) -> String {
    let mut busiest: Vec<(&String, &f64)> = cpu.other_processes.iter().collect();
    busiest.sort_by(|a, b| b.1.total_cmp(a.1));
    let parts: Vec<String> = busiest.iter().map(|(comm, used)| format!("{comm} {}", cores(**used))).collect();
    if parts.is_empty() { "-".to_owned() } else { parts.join(", ") }
}

/// The results table (also printed to stdout): one row per backend and mode (medians).
pub fn summary_table(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(
        "| backend | mode | runs | baseline rows/s | batched events/s | batched / baseline | single req/s | \
         single / baseline | p50 ms | p99 ms |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for backend in &report.backends {
        for mode in &backend.modes {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.2}× | {} | {:.2}× | {} | {} |",
                backend.backend.label(),
                mode.mode.label(),
                mode.runs,
                int(backend.baseline_rows_per_second),
                int(mode.batched_events_per_second),
                mode.batched_vs_baseline,
                int(mode.single_requests_per_second),
                mode.single_vs_baseline,
                ms(mode.single_p50_ms),
                ms(mode.single_p99_ms),
            );
        }
    }
    out
}

/// Product ÷ jobs-off per backend.
pub fn versus_table(report: &Report) -> String {
    let mut out = String::from(
        "| backend | batched: product ÷ jobs-off | single: product ÷ jobs-off | single p99: jobs-off ÷ product |\n\
         |---|---:|---:|---:|\n",
    );
    for backend in &report.backends {
        if let Some(versus) = &backend.product_vs_jobs_off {
            let _ = writeln!(
                out,
                "| {} | {:.2}× | {:.2}× | {:.2}× |",
                backend.backend.label(),
                versus.batched_throughput,
                versus.single_throughput,
                versus.single_p99
            );
        }
    }
    out
}

pub fn goals_table(report: &Report) -> String {
    let mut out = String::from("| backend | mode | goal | measured | |\n|---|---|---|---:|---|\n");
    for goal in &report.goals {
        let measured = match goal.unit.as_str() {
            "ms" => format!("{} ms", ms(goal.measured)),
            "ratio" => format!("{:.2}×", goal.measured),
            _ => int(goal.measured),
        };
        let verdict = if goal.met { "met" } else { "**not met**" };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            goal.backend.label(),
            goal.mode.label(),
            goal.goal,
            measured,
            verdict
        );
    }
    out
}

pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let machine = &report.machine;
    let params = &report.parameters;
    let _ = writeln!(out, "# Veritrail ingest benchmark, {}\n", report.started_utc);
    out.push_str(
        "The real `veritrail serve` (child process, HTTP on 127.0.0.1) in two modes, against a raw multi-row INSERT \
         of rows of the same shape into the same schema, all measured in the same run on the same machine. \
         **jobs-off**: background work switched off (every job's schedule empty, `search.embedding.provider = \
         none`, no alert rule). **product**: the product as `scripts/run.sh` starts it (local embedding model \
         installed, every job on its default schedule) plus one event rule with a webhook channel. The ratios \
         are the numbers to compare across runs; absolute numbers move with the machine and whatever else runs \
         on it.\n\n",
    );
    out.push_str("## Setup\n\n");
    let _ = writeln!(out, "- Date: {} to {}", report.started_utc, report.finished_utc);
    let _ = writeln!(
        out,
        "- Machine: {} CPUs, {}, {:.1} GiB RAM, Linux {}; load average {} at start, {} at end",
        machine.cpus,
        machine.cpu_model,
        machine.memory_gib,
        machine.kernel,
        machine.load_average_start,
        machine.load_average_end
    );
    let _ = writeln!(
        out,
        "- Server: `{}` ({} build, {}{})",
        report.server.path,
        report.server.profile,
        report.server.version,
        report.server.modified_utc.as_ref().map(|time| format!(", built {time}")).unwrap_or_default()
    );
    let commit = report.git.commit.clone().unwrap_or_else(|| "unknown".to_owned());
    let dirty = match report.git.uncommitted_changes {
        Some(true) => " (plus uncommitted changes outside bench/: the server may differ from it)",
        _ => "",
    };
    let _ = writeln!(out, "- Git commit: {commit}{dirty}");
    let _ = writeln!(out, "- Command: `{}`", command_line());
    let modes: Vec<&str> = params.modes.iter().map(|mode| mode.label()).collect();
    let _ = writeln!(
        out,
        "- Modes: {} ({} round{} per backend, each run on a fresh database, order alternating by round; the tables \
         show medians)",
        modes.join(", "),
        params.rounds,
        if params.rounds == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        out,
        "- Events: ~{:.0} bytes of JSON each ({} templates: actor with id/type/ip/user_agent, action such as \
         `repo.read`, resource, outcome, severity, details with 5 fields, 3 tags), {}; the product mode's event \
         rule matches denied `repo.delete`, `token.create` and `member.invite` (about 1% of events)",
        params.mean_event_bytes,
        params.event_templates,
        if params.client_ids { "each with a client-chosen id (idempotency key)" } else { "ids chosen by the server" }
    );
    let _ = writeln!(
        out,
        "- Batched: {} events in batches of {} (`POST /api/v1/events/batch`), {} concurrent clients, after {} \
         warm-up batches",
        int(params.batched_events as f64),
        int(params.batch_size as f64),
        params.batch_concurrency,
        params.batch_concurrency
    );
    let _ = writeln!(
        out,
        "- Single: {} concurrent clients, each POSTing one event at a time (`POST /api/v1/events`) for {} s, after \
         {} s of warm-up; latency is measured per request by the client, percentiles are exact (nearest rank)",
        params.single_concurrency, params.single_seconds, params.warmup_seconds
    );
    let _ = writeln!(
        out,
        "- Baseline: {} rows inserted by this process over one connection into `events` of a fresh database \
         migrated by `veritrail migrate` (same indexes): SQLite WAL + synchronous=FULL, 400 rows per statement, \
         1,000 rows per transaction; PostgreSQL one UNNEST INSERT of 1,000 rows per transaction. No HTTP, no \
         validation, no hashing (hash columns hold {} 32-byte values), and only `events` (the server also writes \
         its chain head and Merkle tree nodes in each transaction; that is part of what the ratio measures). \
         Measured before and after the server runs; the ratios use the mean.",
        int(params.baseline_rows as f64),
        params.baseline_hash_values
    );
    let _ = writeln!(
        out,
        "- Product mode, afterwards: the search status right after the single-event phase, then up to {} s with no \
         load for the index to catch up (documents and vectors of every event)\n",
        params.catch_up_seconds
    );

    out.push_str("## Results\n\n");
    out.push_str(&summary_table(report));
    out.push_str(
        "\nLatency columns are single-event requests. \"batched / baseline\" = server events/s ÷ raw INSERT rows/s \
         (1.00× would mean the server costs nothing over the database); \"single / baseline\" likewise for \
         single-event requests/s.\n\n",
    );
    if report.backends.iter().any(|backend| backend.product_vs_jobs_off.is_some()) {
        out.push_str("### Product mode against jobs-off (same run)\n\n");
        out.push_str(&versus_table(report));
        out.push('\n');
    }

    out.push_str("## Goals (not asserted)\n\n");
    out.push_str(&goals_table(report));

    out.push_str("\n## Where the CPU went\n\n");
    out.push_str(
        "Cores busy on average during each phase (1.00 = one core all the time), read from /proc. `bench` is this \
         process (the HTTP clients, or the SQLite baseline's inserts); `postgres` is every postgres process on the \
         machine; `other` is everything else that kept a CPU busy (other processes such as someone's build on a shared \
         machine, kernel interrupt work, steal). `machine busy`, `iowait` and `steal` are shares of all CPUs' time. The last column names the busiest other \
         processes (≥ 0.05 cores; approximate).\n\n",
    );
    out.push_str(
        "| backend | phase | seconds | server | bench | postgres | other | machine busy | iowait | steal | busiest \
         other processes |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for backend in &report.backends {
        let mut row = |phase: String, seconds: f64, cpu: &CpuUsage| {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {} | {} | {} | {} | {:.0}% | {:.0}% | {:.0}% | {} |",
                backend.backend.label(),
                phase,
                seconds,
                cores(cpu.server_cores),
                cores(cpu.bench_cores),
                cores(cpu.postgres_cores),
                cores(cpu.other_cores),
                cpu.system_busy_percent,
                cpu.iowait_percent,
                cpu.steal_percent,
                other_processes(cpu)
            );
        };
        for run in &backend.baseline_runs {
            row(format!("baseline ({})", run.when), run.seconds, &run.cpu);
        }
        for run in &backend.runs {
            row(format!("{} #{} batched", run.mode.label(), run.round), run.batched.seconds, &run.batched_cpu);
            row(format!("{} #{} single", run.mode.label(), run.round), run.single.seconds, &run.single_cpu);
        }
    }
    out.push_str(
        "\n### The server's CPU by thread\n\nThe server's own cores split by thread name (from \
         `/proc/PID/task/*/stat`): `tokio-rt-worker` is the async runtime (HTTP, validation, hashing, the \
         group commit, and the async part of jobs, indexing and rule evaluation), `tokio-runtime-w` tokio's \
         blocking pool, `minilm-bg` / `minilm-q` inference for the back-fill and for questions, `candle-bp` \
         candle's own inference workers, `sqlx-sqlite-wor` the SQLite connections (each runs its statements on \
         its own thread, whoever asked). `ended threads`: threads that exited during the phase (their last ticks \
         are not attributed).\n\n| backend | run | phase | server cores | by thread |\n|---|---|---|---:|---|\n",
    );
    for backend in &report.backends {
        for run in &backend.runs {
            let run_label = format!("{} #{}", run.mode.label(), run.round);
            let mut row = |phase: &str, threads: &ThreadCpu| {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    backend.backend.label(),
                    run_label,
                    phase,
                    cores(threads.process),
                    threads.describe()
                );
            };
            row("batched", &run.batched_threads);
            row("single", &run.single_threads);
            if let Some(lag) = &run.background {
                row("catch-up (no load)", &lag.catch_up_threads);
            }
        }
    }

    if report.backends.iter().any(|backend| backend.runs.iter().any(|run| run.background.is_some())) {
        out.push_str(
            "\n## Background lag (product mode)\n\nFrom `GET /api/v1/search/status` right after the timed phases: \
             events in the log, events with a search document (`indexed`) and with a vector for their text \
             (`embedded`); then the time with no load until both reached every event, and the alerts the event \
             rule's webhook had received by then.\n\n| backend | run | events | indexed at end | embedded at end | \
             caught up after | webhook deliveries |\n|---|---|---:|---:|---:|---:|---:|\n",
        );
        for backend in &report.backends {
            for run in &backend.runs {
                let Some(lag) = &run.background else { continue };
                let _ = writeln!(
                    out,
                    "| {} | {} #{} | {} | {} | {} | {} | {} |",
                    backend.backend.label(),
                    run.mode.label(),
                    run.round,
                    int(lag.events as f64),
                    int(lag.indexed_at_end as f64),
                    int(lag.embedded_at_end as f64),
                    lag.caught_up_seconds.map_or_else(
                        || format!("not within {} s", params.catch_up_seconds),
                        |seconds| format!("{seconds:.0} s")
                    ),
                    lag.webhook_deliveries
                );
            }
        }
    }

    out.push_str("\n## Details\n");
    for backend in &report.backends {
        let _ = writeln!(out, "\n### {}\n", backend.backend.label());
        for run in &backend.baseline_runs {
            let _ = writeln!(
                out,
                "- Baseline {}: {} rows in {:.2} s = {} rows/s ({} rows counted afterwards)",
                run.when,
                int(run.rows as f64),
                run.seconds,
                int(run.rows_per_second),
                int(run.rows_counted as f64)
            );
        }
        for run in &backend.runs {
            let _ = writeln!(out, "- **{} #{}**", run.mode.label(), run.round);
            let batched = &run.batched;
            let _ = writeln!(
                out,
                "  - Batched: {} of {} events created in {:.2} s = {} events/s; {} batch requests, {} answered 201, \
                 errors {}; batch latency p50 {} ms, p99 {} ms, max {} ms",
                int(batched.events_created as f64),
                int(batched.events as f64),
                batched.seconds,
                int(batched.events_per_second),
                batched.batches,
                batched.batch_outcomes.created,
                batched.batch_outcomes.describe_errors(),
                ms(batched.batch_latency.p50_ms),
                ms(batched.batch_latency.p99_ms),
                ms(batched.batch_latency.max_ms)
            );
            let single = &run.single;
            let _ = writeln!(
                out,
                "  - Single: {} requests in {:.2} s, {} answered 201 = {} requests/s, errors {}; latency mean {} ms, \
                 p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
                int(single.requests as f64),
                single.seconds,
                int(single.outcomes.created as f64),
                int(single.requests_per_second),
                single.outcomes.describe_errors(),
                ms(single.latency.mean_ms),
                ms(single.latency.p50_ms),
                ms(single.latency.p90_ms),
                ms(single.latency.p99_ms),
                ms(single.latency.max_ms)
            );
            for (status, example) in batched.batch_outcomes.examples.iter().chain(single.outcomes.examples.iter()) {
                let _ =
                    writeln!(out, "    - first `{status}` answer: `{}`", example.replace('`', "'").replace('\n', " "));
            }
            let _ = writeln!(
                out,
                "  - Stored events afterwards: {} (expected {} from the 201 answers, warm-up included){}",
                int(run.events_stored as f64),
                int(run.events_expected as f64),
                if u64::try_from(run.events_stored).ok() == Some(run.events_expected) { "" } else { " **MISMATCH**" }
            );
            let _ = writeln!(out, "  - Server stderr (RUST_LOG=warn): {} lines", run.server_stderr_lines);
            for line in &run.server_stderr_tail {
                let _ = writeln!(out, "    - `{}`", line.replace('`', "'"));
            }
        }
    }
    out.push_str("\nRaw numbers: the `.json` file next to this one.\n");
    out
}

/// The command line as run, without machine paths or the database password.
pub fn command_line() -> String {
    let mut words = vec!["veritrail-bench".to_owned()];
    let mut after_url = false;
    for arg in std::env::args().skip(1) {
        let word = if after_url {
            "\"$PG_URL\"".to_owned()
        } else if arg.starts_with("--pg-url=") {
            "--pg-url=\"$PG_URL\"".to_owned()
        } else if arg.starts_with('/') {
            std::path::Path::new(&arg).file_name().map_or(arg.clone(), |name| name.to_string_lossy().into_owned())
        } else {
            arg.clone()
        };
        after_url = arg == "--pg-url";
        words.push(word);
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_integers_with_separators() {
        assert_eq!(int(0.0), "0");
        assert_eq!(int(999.4), "999");
        assert_eq!(int(1000.0), "1,000");
        assert_eq!(int(1_234_567.8), "1,234,568");
    }
}
