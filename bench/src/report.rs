//! What the run found: the JSON record and the Markdown page a person reads.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::cpu::CpuUsage;
use crate::db::{Backend, BaselineRun};
use crate::load::{BatchedResult, SingleResult};

/// Stated goals (PostgreSQL). Reported next to the numbers, never asserted.
pub const GOAL_BATCHED_EVENTS_PER_SECOND: f64 = 25_000.0;
pub const GOAL_SINGLE_REQUESTS_PER_SECOND: f64 = 10_000.0;
pub const GOAL_SINGLE_P99_MS: f64 = 20.0;

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
}

/// Requests made before the timed phases (their events are in the database too).
#[derive(Debug, Clone, Serialize)]
pub struct Warmup {
    pub batch_events_created: u64,
    pub single_events_created: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    pub backend: Backend,
    pub baseline_runs: Vec<BaselineRun>,
    /// Mean of the baseline runs, rows per second.
    pub baseline_rows_per_second: f64,
    pub batched: BatchedResult,
    pub batched_cpu: CpuUsage,
    /// Batched events/s divided by baseline rows/s.
    pub batched_vs_baseline: f64,
    pub single: SingleResult,
    pub single_cpu: CpuUsage,
    /// Single-event requests/s divided by baseline rows/s.
    pub single_vs_baseline: f64,
    pub warmup: Warmup,
    /// Events the server answered 201 for, warm-up included.
    pub events_expected: u64,
    /// Rows in the server's `events` table afterwards.
    pub events_stored: i64,
    pub server_stderr_lines: usize,
    pub server_stderr_tail: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoalCheck {
    pub backend: Backend,
    pub goal: String,
    pub measured: f64,
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
    /// Goals are stated for PostgreSQL; SQLite is checked against them for reference only.
    pub goals: Vec<GoalCheck>,
}

pub fn goal_checks(backends: &[BackendReport]) -> Vec<GoalCheck> {
    let mut checks = Vec::new();
    for report in backends {
        let mut check = |goal: String, measured: f64, met: bool| {
            checks.push(GoalCheck { backend: report.backend, goal, measured, met });
        };
        let batched = report.batched.events_per_second;
        check(
            format!("batched ≥ {} events/s", int(GOAL_BATCHED_EVENTS_PER_SECOND)),
            batched,
            batched >= GOAL_BATCHED_EVENTS_PER_SECOND,
        );
        let single = report.single.requests_per_second;
        check(
            format!("single ≥ {} requests/s", int(GOAL_SINGLE_REQUESTS_PER_SECOND)),
            single,
            single >= GOAL_SINGLE_REQUESTS_PER_SECOND,
        );
        let p99 = report.single.latency.p99_ms;
        let has_samples = report.single.latency.samples > 0;
        check(format!("single p99 ≤ {GOAL_SINGLE_P99_MS} ms"), p99, has_samples && p99 <= GOAL_SINGLE_P99_MS);
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

/// The results table (also printed to stdout).
pub fn summary_table(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(
        "| backend | baseline rows/s | batched events/s | batched / baseline | single req/s | single / baseline \
         | p50 ms | p90 ms | p99 ms | max ms | errors (batch requests / single requests) |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for backend in &report.backends {
        let latency = &backend.single.latency;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2}× | {} | {:.2}× | {} | {} | {} | {} | {} / {} |",
            backend.backend.label(),
            int(backend.baseline_rows_per_second),
            int(backend.batched.events_per_second),
            backend.batched_vs_baseline,
            int(backend.single.requests_per_second),
            backend.single_vs_baseline,
            ms(latency.p50_ms),
            ms(latency.p90_ms),
            ms(latency.p99_ms),
            ms(latency.max_ms),
            backend.batched.batch_outcomes.describe_errors(),
            backend.single.outcomes.describe_errors(),
        );
    }
    out
}

pub fn goals_table(report: &Report) -> String {
    let mut out = String::from("| backend | goal | measured | |\n|---|---|---:|---|\n");
    for goal in &report.goals {
        let measured = if goal.goal.contains("ms") { format!("{} ms", ms(goal.measured)) } else { int(goal.measured) };
        let verdict = match (goal.backend, goal.met) {
            (Backend::Postgres, true) => "met",
            (Backend::Postgres, false) => "**not met**",
            (_, true) => "met (reference only)",
            (_, false) => "not met (reference only)",
        };
        let _ = writeln!(out, "| {} | {} | {} | {} |", goal.backend.label(), goal.goal, measured, verdict);
    }
    out
}

pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let machine = &report.machine;
    let params = &report.parameters;
    let _ = writeln!(out, "# Veritrail ingest benchmark, {}\n", report.started_utc);
    out.push_str(
        "The real `veritrail serve` (child process, HTTP on 127.0.0.1) against a raw multi-row INSERT of rows of the \
         same shape into the same schema, measured in the same run on the same machine. The ratios are the numbers \
         to compare across runs; absolute numbers move with the machine and whatever else runs on it.\n\n",
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
    let _ = writeln!(
        out,
        "- Events: ~{:.0} bytes of JSON each ({} templates: actor with id/type/ip/user_agent, action such as \
         `repo.read`, resource, outcome, severity, details with 5 fields, 3 tags), {}",
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
         Measured before and after the server phases; the ratios use the mean.",
        int(params.baseline_rows as f64),
        params.baseline_hash_values
    );
    out.push_str("- Server settings: defaults (group commit, SQLite synchronous=FULL, PostgreSQL synchronous_commit as the server has it)\n\n");

    out.push_str("## Results\n\n");
    out.push_str(&summary_table(report));
    out.push_str(
        "\nLatency columns are single-event requests. \"batched / baseline\" = server events/s ÷ raw INSERT rows/s \
         (1.00× would mean the server costs nothing over the database); \"single / baseline\" likewise for \
         single-event requests/s.\n\n",
    );

    out.push_str("## Goals (stated for PostgreSQL, not asserted)\n\n");
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
        row("batched".to_owned(), backend.batched.seconds, &backend.batched_cpu);
        row("single".to_owned(), backend.single.seconds, &backend.single_cpu);
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
        let batched = &backend.batched;
        let _ = writeln!(
            out,
            "- Batched: {} of {} events created in {:.2} s = {} events/s; {} batch requests, {} answered 201, errors {}; \
             batch latency p50 {} ms, p99 {} ms, max {} ms",
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
        let single = &backend.single;
        let _ = writeln!(
            out,
            "- Single: {} requests in {:.2} s, {} answered 201 = {} requests/s, errors {}; latency mean {} ms, \
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
            let _ = writeln!(out, "  - first `{status}` answer: `{}`", example.replace('`', "'").replace('\n', " "));
        }
        let _ = writeln!(
            out,
            "- Stored events afterwards: {} (expected {} from the 201 answers, warm-up included){}",
            int(backend.events_stored as f64),
            int(backend.events_expected as f64),
            if u64::try_from(backend.events_stored).ok() == Some(backend.events_expected) {
                ""
            } else {
                " **MISMATCH**"
            }
        );
        let _ = writeln!(out, "- Server stderr (RUST_LOG=warn): {} lines", backend.server_stderr_lines);
        for line in &backend.server_stderr_tail {
            let _ = writeln!(out, "  - `{}`", line.replace('`', "'"));
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
