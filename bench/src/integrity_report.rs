//! What `veritrail-bench integrity` found: the JSON record and the Markdown page a person reads.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::cpu::CpuUsage;
use crate::db::Backend;
use crate::hashrate::HashPhase;
use crate::profile::Profile;
use crate::proofs::{CheckpointRun, ProofLatency};
use crate::report::{Git, Machine, ServerBuild, command_output, cores, int, other_processes};

/// Stated goals. Reported next to the numbers, never asserted.
pub const GOAL_HASH_EVENTS_PER_SECOND: f64 = 1_000_000.0;
pub const GOAL_VERIFY_EVENTS_PER_SECOND: f64 = 250_000.0;
pub const GOAL_PROOF_MS: f64 = 10.0;
/// The log size the goals are stated for.
pub const GOAL_EVENTS: u64 = 1_000_000;

#[derive(Debug, Clone, Serialize)]
pub struct IntegrityParameters {
    pub events: u64,
    pub load_batch: u64,
    pub proof_samples: usize,
    pub hash_events: usize,
    pub hash_rounds: usize,
    pub hash_round_seconds: f64,
    pub openssl_seconds: u32,
    pub event_templates: usize,
    /// Mean size of an event as a client sends it (JSON, no id).
    pub mean_event_json_bytes: f64,
    pub verify_page_rows: u32,
    pub perf: bool,
    pub tenant: String,
}

/// CPU use of one phase. `child_cores` is the `veritrail` child process of the phase (the server,
/// or the CLI), if any.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseCpu {
    pub phase: String,
    pub seconds: f64,
    pub child_cores: f64,
    /// Set when the child was a short-lived process accounted after it exited.
    pub child: Option<String>,
    pub usage: CpuUsage,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    pub events: u64,
    pub batches: u64,
    /// Time inside `EventLog::append` calls.
    pub append_seconds: f64,
    /// Time building and validating the events (between the calls).
    pub generate_seconds: f64,
    pub wall_seconds: f64,
    /// Events per second of append time.
    pub events_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReadResult {
    pub rows: u64,
    pub pages: u64,
    /// Bytes of column values received (text and blobs; 8 per integer, 8 per timestamp).
    pub bytes: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub megabytes_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyRun {
    pub seconds: f64,
    pub events_per_second: f64,
    pub ok: bool,
    pub checked: u64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    pub rows: u64,
    pub pages: u64,
    /// Inside `EventLog::scan` (queries, row decoding into `StoredEvent`).
    pub scan_seconds: f64,
    /// Canonical encoding, leaf and chain hash, link check, Merkle frontier.
    pub check_seconds: f64,
    pub mean_canonical_bytes: f64,
    /// Rows whose seq, link or hash did not check out (must be 0).
    pub mismatches: u64,
    pub reference_leaves: usize,
    pub reference_roots: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CliVerify {
    /// From spawning `veritrail verify` to its exit (start-up, connecting, migrations check included).
    pub seconds: f64,
    pub events_per_second: f64,
    pub exit_code: Option<i32>,
    pub ok: Option<bool>,
    pub checked: Option<u64>,
    /// CPU time of the child process itself (user + system).
    pub child_cpu_seconds: f64,
    pub stderr_tail: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackendIntegrity {
    pub backend: Backend,
    pub events: u64,
    pub load: LoadResult,
    pub vacuum_seconds: Option<f64>,
    pub database_bytes: Option<u64>,
    pub raw_read: ReadResult,
    pub verify: VerifyRun,
    pub breakdown: Breakdown,
    pub cli: CliVerify,
    /// `None` when not profiled; `Some(Err(..))` when perf failed.
    pub perf: Option<Result<Profile, String>>,
    pub proofs: Vec<ProofLatency>,
    pub checkpoint: CheckpointRun,
    pub server_stderr_lines: usize,
    pub server_stderr_tail: Vec<String>,
    pub cpu: Vec<PhaseCpu>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoalCheck {
    pub scope: String,
    pub goal: String,
    pub measured: String,
    pub met: bool,
    /// Checked for reference only (the goal is stated for something else).
    pub reference_only: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct IntegrityReport {
    pub benchmark: String,
    pub started_utc: String,
    pub finished_utc: String,
    pub machine: Machine,
    /// CPU features that matter for SHA-256 (from /proc/cpuinfo).
    pub cpu_flags: Vec<String>,
    pub server: ServerBuild,
    pub git: Git,
    /// Tracked files outside bench/ that differ from the commit when the run started.
    pub changed_outside_bench: Vec<String>,
    pub parameters: IntegrityParameters,
    pub hashing: HashPhase,
    pub hashing_cpu: PhaseCpu,
    pub backends: Vec<BackendIntegrity>,
    pub goals: Vec<GoalCheck>,
}

/// `sha_ni`, `avx2`, `avx512f`: each as `name` or `no name`.
pub fn cpu_flags() -> Vec<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|line| line.starts_with("flags"))
        .and_then(|line| line.split_once(':'))
        .map(|(_, flags)| flags.split_whitespace().collect())
        .unwrap_or_default();
    ["sha_ni", "avx2", "avx512f"]
        .iter()
        .map(|flag| if flags.contains(flag) { (*flag).to_owned() } else { format!("no {flag}") })
        .collect()
}

/// Tracked files outside bench/ with uncommitted changes (paths relative to the workspace).
pub fn changed_outside_bench(root: &Path) -> Vec<String> {
    let root = root.to_string_lossy();
    command_output("git", &["-C", &root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench"])
        .map(|status| {
            // `XY path` (the output was trimmed, so the first line may have lost a leading space of its
            // status); for renames `old -> new`, the new path.
            status
                .lines()
                .filter_map(|line| line.trim_start().split_once(' ').map(|(_, path)| path.trim()))
                .map(|path| path.rsplit(" -> ").next().unwrap_or(path).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn megabytes(bytes_per_second: f64) -> String {
    int(bytes_per_second / 1e6)
}

pub fn goal_checks(report: &IntegrityReport) -> Vec<GoalCheck> {
    let mut checks = Vec::new();
    for variant in &report.hashing.variants {
        let rate = variant.cpu_events_per_second;
        checks.push(GoalCheck {
            scope: format!("hash-only ({}) {}", variant.key, variant.name),
            goal: format!("≥ {} events/s per core", int(GOAL_HASH_EVENTS_PER_SECOND)),
            measured: int(rate),
            met: rate >= GOAL_HASH_EVENTS_PER_SECOND,
            reference_only: variant.key != "a",
        });
    }
    let at_goal_size = report.parameters.events == GOAL_EVENTS;
    for backend in &report.backends {
        let label = backend.backend.label();
        let postgres = backend.backend == Backend::Postgres;
        let store_ok = backend.verify.ok && backend.verify.checked == backend.events;
        checks.push(GoalCheck {
            scope: format!("{label}, verify in-process"),
            goal: format!("≥ {} events/s end-to-end", int(GOAL_VERIFY_EVENTS_PER_SECOND)),
            measured: int(backend.verify.events_per_second),
            met: store_ok && backend.verify.events_per_second >= GOAL_VERIFY_EVENTS_PER_SECOND,
            reference_only: !postgres || !at_goal_size,
        });
        let cli_ok = backend.cli.ok == Some(true) && backend.cli.checked == Some(backend.events);
        checks.push(GoalCheck {
            scope: format!("{label}, `veritrail verify`"),
            goal: format!("≥ {} events/s end-to-end", int(GOAL_VERIFY_EVENTS_PER_SECOND)),
            measured: int(backend.cli.events_per_second),
            met: cli_ok && backend.cli.events_per_second >= GOAL_VERIFY_EVENTS_PER_SECOND,
            reference_only: !postgres || !at_goal_size,
        });
        for proof in &backend.proofs {
            let clean = proof.wrong == 0 && proof.errors == 0 && proof.latency.samples > 0;
            checks.push(GoalCheck {
                scope: format!("{label}, {} via {}", proof.kind, proof.via),
                goal: format!("p99 ≤ {GOAL_PROOF_MS} ms"),
                measured: format!(
                    "{} ms (p50 {} ms)",
                    crate::report::millis(proof.latency.p99_ms),
                    crate::report::millis(proof.latency.p50_ms)
                ),
                met: clean && proof.latency.p99_ms <= GOAL_PROOF_MS,
                reference_only: !at_goal_size,
            });
        }
    }
    checks
}

pub fn goals_table(report: &IntegrityReport) -> String {
    let mut out = String::from("| scope | goal | measured | |\n|---|---|---:|---|\n");
    for goal in &report.goals {
        let verdict = match (goal.met, goal.reference_only) {
            (true, false) => "met",
            (false, false) => "**not met**",
            (true, true) => "met (reference only)",
            (false, true) => "not met (reference only)",
        };
        let _ = writeln!(out, "| {} | {} | {} | {} |", goal.scope, goal.goal, goal.measured, verdict);
    }
    out
}

fn hash_table(report: &IntegrityReport) -> String {
    let hashing = &report.hashing;
    let mut out = String::from(
        "| variant | timed per event | events/s per core | × SHA-256 bound | events/s wall (median / best) | \
         mismatches |\n|---|---|---:|---:|---:|---:|\n",
    );
    for variant in &hashing.variants {
        let _ = writeln!(
            out,
            "| ({}) {} | {} | {} | {:.2}× | {} / {} | {} |",
            variant.key,
            variant.name,
            variant.per_event,
            int(variant.cpu_events_per_second),
            variant.vs_bound,
            int(variant.wall_events_per_second),
            int(variant.best_wall_events_per_second),
            variant.mismatches
        );
    }
    let _ = writeln!(
        out,
        "| bound | SHA-256 alone: {} MB/s ÷ {:.0} bytes per event | {} | 1.00× | | |",
        megabytes(hashing.bound.bytes_per_second),
        hashing.bound.bytes_per_event,
        int(hashing.bound.events_per_second)
    );
    out
}

fn e2e_table(report: &IntegrityReport) -> String {
    let mut out = String::from(
        "| backend | events | load events/s | baseline read rows/s | verify (store) events/s | verify / baseline \
         | `veritrail verify` events/s | CLI / baseline | result |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for backend in &report.backends {
        let baseline = backend.raw_read.rows_per_second.max(1e-9);
        let store_result = if backend.verify.ok && backend.verify.checked == backend.events {
            "ok".to_owned()
        } else {
            format!("**NOT OK** ({} checked)", int(backend.verify.checked as f64))
        };
        let cli_result = match (backend.cli.ok, backend.cli.checked) {
            (Some(true), Some(checked)) if checked == backend.events => "ok".to_owned(),
            (ok, checked) => format!("**NOT OK** (ok {ok:?}, checked {checked:?}, exit {:?})", backend.cli.exit_code),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.2}× | {} | {:.2}× | store {}, CLI {} |",
            backend.backend.label(),
            int(backend.events as f64),
            int(backend.load.events_per_second),
            int(backend.raw_read.rows_per_second),
            int(backend.verify.events_per_second),
            backend.verify.events_per_second / baseline,
            int(backend.cli.events_per_second),
            backend.cli.events_per_second / baseline,
            store_result,
            cli_result
        );
    }
    out
}

fn breakdown_table(report: &IntegrityReport) -> String {
    let mut out = String::from(
        "| backend | verify (store) s | scan: fetch + decode s | of which baseline read s | decode ≈ scan − read s \
         | check: encode + hash + tree s | scan + check s | hash-only (b) would take s |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let encode_hash_rate =
        report.hashing.variants.iter().find(|variant| variant.key == "b").map_or(0.0, |v| v.cpu_events_per_second);
    for backend in &report.backends {
        let breakdown = &backend.breakdown;
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            backend.backend.label(),
            backend.verify.seconds,
            breakdown.scan_seconds,
            backend.raw_read.seconds,
            breakdown.scan_seconds - backend.raw_read.seconds,
            breakdown.check_seconds,
            breakdown.scan_seconds + breakdown.check_seconds,
            backend.events as f64 / encode_hash_rate.max(1e-9)
        );
    }
    out
}

fn proof_table(report: &IntegrityReport) -> String {
    let mut out = String::from(
        "| backend | via | kind | samples | p50 ms | p90 ms | p99 ms | max ms | mean ms | hashes per proof | checked ok \
         / wrong / errors |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for backend in &report.backends {
        for proof in &backend.proofs {
            let latency = &proof.latency;
            let hashes =
                if proof.kind == "tree_root" { "-".to_owned() } else { format!("{:.1}", proof.mean_proof_hashes) };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} |",
                backend.backend.label(),
                proof.via,
                proof.kind,
                int(latency.samples as f64),
                crate::report::millis(latency.p50_ms),
                crate::report::millis(latency.p90_ms),
                crate::report::millis(latency.p99_ms),
                crate::report::millis(latency.max_ms),
                crate::report::millis(latency.mean_ms),
                hashes,
                int(proof.verified as f64),
                proof.wrong,
                proof.errors
            );
        }
    }
    out
}

/// The results tables (also printed to stdout).
pub fn summary_tables(report: &IntegrityReport) -> String {
    let mut out = String::new();
    out.push_str(&hash_table(report));
    out.push('\n');
    out.push_str(&e2e_table(report));
    out.push('\n');
    out.push_str(&breakdown_table(report));
    out.push('\n');
    out.push_str(&proof_table(report));
    out
}

fn cpu_row(out: &mut String, scope: &str, phase: &PhaseCpu) {
    let cpu = &phase.usage;
    let child = if phase.child_cores > 0.0 || phase.child.is_some() || phase.phase.contains("HTTP") {
        cores(phase.child_cores)
    } else {
        "-".to_owned()
    };
    let _ = writeln!(
        out,
        "| {} | {} | {:.1} | {} | {} | {} | {} | {:.0}% | {:.0}% | {:.0}% | {} |",
        scope,
        phase.phase,
        phase.seconds,
        cores(cpu.bench_cores),
        child,
        cores(cpu.postgres_cores),
        cores(cpu.other_cores),
        cpu.system_busy_percent,
        cpu.iowait_percent,
        cpu.steal_percent,
        other_processes(cpu)
    );
}

fn profile_section(out: &mut String, backend: &BackendIntegrity) {
    let label = backend.backend.label();
    match &backend.perf {
        None => {}
        Some(Err(err)) => {
            let _ = writeln!(out, "\n### {label}\n\nperf failed: `{}`", err.replace('`', "'").replace('\n', " "));
        }
        Some(Ok(profile)) => {
            let _ = writeln!(
                out,
                "\n### {label}\n\n`{}` ({:.1} s under perf). Self time of the `veritrail` process only; {}.\n",
                profile.command,
                profile.wall_seconds,
                if backend.backend == Backend::Postgres {
                    "PostgreSQL's own work is in its processes (see the CPU table)"
                } else {
                    "SQLite runs inside this process, so its work is included"
                }
            );
            out.push_str("| category | share of samples |\n|---|---:|\n");
            for (category, share) in &profile.categories {
                let _ = writeln!(out, "| {category} | {share:.1}% |");
            }
            out.push_str("\n| symbol | shared object | share | category |\n|---|---|---:|---|\n");
            for symbol in &profile.top_symbols {
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {:.1}% | {} |",
                    symbol.symbol.replace('`', "'").replace('|', "\\|"),
                    symbol.dso,
                    symbol.percent,
                    symbol.category
                );
            }
        }
    }
}

pub fn markdown(report: &IntegrityReport) -> String {
    let mut out = String::new();
    let machine = &report.machine;
    let params = &report.parameters;
    let hashing = &report.hashing;
    let _ = writeln!(out, "# Veritrail integrity benchmark, {}\n", report.started_utc);
    let _ = writeln!(
        out,
        "How fast Veritrail checks what it has stored, at {} events: (1) hash-only chain verification on one thread \
         against this machine's SHA-256 throughput; (2) end-to-end verification from SQLite and PostgreSQL against \
         reading the same rows with the same queries and nothing else; (3) Merkle proof and tree-head latency, \
         in-process and over HTTP from the real server. Every baseline was measured in the same run on the same \
         machine; the ratios are what to compare across runs. Nothing here is asserted.\n",
        int(params.events as f64)
    );

    out.push_str("## Setup\n\n");
    let _ = writeln!(out, "- Date: {} to {}", report.started_utc, report.finished_utc);
    let _ = writeln!(
        out,
        "- Machine: {} CPUs, {} ({}), {:.1} GiB RAM, Linux {}; load average {} at start, {} at end",
        machine.cpus,
        machine.cpu_model,
        report.cpu_flags.join(", "),
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
    let changes = if report.changed_outside_bench.is_empty() {
        "none outside bench/".to_owned()
    } else {
        format!(
            "uncommitted changes outside bench/ when the run started: {}",
            report.changed_outside_bench.iter().map(|path| format!("`{path}`")).collect::<Vec<_>>().join(", ")
        )
    };
    let _ = writeln!(out, "- Git commit: {} ({changes})", report.git.commit.as_deref().unwrap_or("unknown"));
    let _ = writeln!(
        out,
        "- Events: {} per backend in tenant `{}`, loaded through `EventLog::append` ({} per call) as \
         `validate_event` returns them: the ingest benchmark's shapes ({} templates, ~{:.0} bytes of JSON as a \
         client sends them, no client id), server-style UUIDv7 ids; canonical encoding {:.0} bytes on average \
         (hash-only set: {} to {} bytes)",
        int(params.events as f64),
        params.tenant,
        int(params.load_batch as f64),
        params.event_templates,
        params.mean_event_json_bytes,
        hashing.mean_canonical_bytes,
        hashing.min_canonical_bytes,
        hashing.max_canonical_bytes
    );
    let _ = writeln!(
        out,
        "- Hash-only: a correctly chained log of {} events in memory; per variant one untimed pass, then {} rounds \
         of whole passes lasting ≥ {} s each; the median round is reported. \"Per core\" divides by the measuring \
         thread's own on-CPU time ({}), so waiting for a CPU on a shared machine does not count; `openssl speed` \
         also divides by CPU time.",
        int(params.hash_events as f64),
        params.hash_rounds,
        params.hash_round_seconds,
        hashing.cpu_clock
    );
    let _ = writeln!(
        out,
        "- End-to-end: right after loading, so the OS page cache holds the database{}. The baseline reads every row \
         with `EventLog::scan`'s query ({} rows per page, same ORDER BY) over one connection, borrowing each column \
         without building events; it runs first. `verify (store)` is `EventLog::verify(tenant, SeqRange::default())` \
         in this process (which allocates with mimalloc, as `veritrail` does); `veritrail verify` is \
         `<target>/release/veritrail verify --data-dir DIR --database-url URL --json` as a child process, timed from \
         spawn to exit.",
        if report.backends.iter().any(|backend| backend.vacuum_seconds.is_some()) {
            "; PostgreSQL got a `VACUUM (ANALYZE)` after the load (what autovacuum does by then anyway), before any \
             clock ran"
        } else {
            ""
        },
        int(f64::from(params.verify_page_rows))
    );
    let _ = writeln!(
        out,
        "- Proofs: {} samples per kind and way, random arguments (fixed seeds), one call at a time after 20 untimed \
         ones, on the log of N = {} events. The `veritrail` child processes run with {} (an empty schedule means \
         on demand only: otherwise the server's start-up integrity check re-verifies the whole log during the \
         measurement). Every answer is checked with `merkle::verify_inclusion` / `verify_consistency` against \
         leaves and roots this benchmark computed from the events themselves, not from the stored tree.\n",
        int(params.proof_samples as f64),
        int(params.events as f64),
        crate::integrity::CHILD_ENV
            .iter()
            .map(|(name, value)| format!("`{name}={value}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    out.push_str("## Results\n\n");
    out.push_str("### 1. Hash-only verification, one thread\n\n");
    out.push_str(&hash_table(report));
    let bound = &hashing.bound;
    let _ = writeln!(
        out,
        "\nThe bound is what SHA-256 alone allows: {} MB/s ({}, at {}-byte blocks, the measured size nearest the \
         {:.0}-byte leaf input) ÷ {:.0} bytes hashed per event (leaf input 1 + {:.0} canonical bytes, plus the \
         64-byte chain input) = {} events/s. Counting SHA-256 compressions instead ({:.1} per event with padding) at \
         the largest block size's throughput gives {} events/s. (c) also appends each leaf to the rebuilt Merkle \
         tree, about one more node hash per event, so it cannot reach the bound.\n",
        megabytes(bound.bytes_per_second),
        bound.source,
        bound.block_size,
        1.0 + hashing.mean_canonical_bytes,
        bound.bytes_per_event,
        hashing.mean_canonical_bytes,
        int(bound.events_per_second),
        bound.compressions_per_event,
        int(bound.compression_events_per_second)
    );
    out.push_str("SHA-256 throughput, MB/s of CPU time, by input size:\n\n| source |");
    let sizes: Vec<usize> = hashing.sha2_rates.iter().map(|(size, _)| *size).collect();
    for size in &sizes {
        let _ = write!(out, " {size} B |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(sizes.len()));
    out.push('\n');
    match &hashing.openssl {
        Some(speed) => {
            let _ = write!(out, "| `{}` ({}) |", speed.command, speed.version);
            for size in &sizes {
                let rate = speed.rates.iter().find(|(s, _)| s == size).map_or("-".to_owned(), |(_, r)| megabytes(*r));
                let _ = write!(out, " {rate} |");
            }
            out.push('\n');
        }
        None => {
            let _ = writeln!(
                out,
                "| openssl: {} |{}",
                hashing.openssl_error.as_deref().unwrap_or("not run").replace('\n', " ").replace('|', "/"),
                " - |".repeat(sizes.len())
            );
        }
    }
    out.push_str("| `sha2` crate, `Sha256::digest` (what the server uses) |");
    for (_, rate) in &hashing.sha2_rates {
        let _ = write!(out, " {} |", megabytes(*rate));
    }
    out.push_str("\n\n");

    let _ = writeln!(out, "### 2. End-to-end verification at {} events\n", int(params.events as f64));
    out.push_str(&e2e_table(report));
    out.push_str(
        "\n`load events/s` counts time inside `append` only. `verify / baseline` = verify events/s ÷ baseline rows/s: \
         1.00× would mean decoding, encoding and hashing cost nothing over reading the rows.\n\n",
    );
    out.push_str(
        "Where `verify`'s time goes: a second pass pages through the log with `EventLog::scan` (the same calls \
         `verify` makes) and then runs the per-row checks on each page, timing the two apart.\n\n",
    );
    out.push_str(&breakdown_table(report));
    out.push_str(
        "\n`decode` is what `scan` adds to the baseline read: building `StoredEvent`s (strings copied, `details` and \
         `tags` parsed from JSON text, times parsed on SQLite). `check` is canonical encoding, leaf and chain hash, \
         link check and the rebuilt Merkle tree, i.e. (c) of section 1 on real rows. The last column is what the \
         encode + hash work alone, at rate (b), would take.\n\n",
    );

    let _ = writeln!(out, "### 3. Proof latency at {} events\n", int(params.events as f64));
    out.push_str(&proof_table(report));
    out.push_str(
        "\n`store` calls the `EventLog` trait in-process (`tree_root` at a random size; `inclusion_proof(seq, N)`; \
         `consistency_proof(first, N)`). `http` is the real server: the inclusion endpoint also reads the leaf and \
         the root, the consistency endpoint both roots. Latency is measured by the caller per call, percentiles are \
         exact (nearest rank).\n\n",
    );
    for backend in &report.backends {
        let checkpoint = &backend.checkpoint;
        let _ = writeln!(
            out,
            "- {}: `POST /api/v1/admin/jobs/checkpoint/run` (sign the tree head of all events, once): {} ms, status {}, \
             tree size {}, root matches the reference: {}{}",
            backend.backend.label(),
            crate::report::millis(checkpoint.milliseconds),
            checkpoint.status.map_or("-".to_owned(), |status| status.to_string()),
            checkpoint.tree_size.map_or("-".to_owned(), |size| int(size as f64)),
            checkpoint.root_matches.map_or("-", |matches| if matches { "yes" } else { "**NO**" }),
            checkpoint.problem.as_ref().map(|problem| format!(" ({problem})")).unwrap_or_default()
        );
    }

    out.push_str("\n## Goals (not asserted)\n\n");
    out.push_str(&goals_table(report));
    let _ = writeln!(
        out,
        "\nThe end-to-end goal is stated for PostgreSQL (SQLite is shown for reference), the hash-only goal for (a); \
         proofs count as met when p99 ≤ {GOAL_PROOF_MS} ms and every answer was right.{}",
        if params.events == GOAL_EVENTS {
            String::new()
        } else {
            format!(
                " The goals are stated for {} events; this run used {}.",
                int(GOAL_EVENTS as f64),
                int(params.events as f64)
            )
        }
    );

    out.push_str("\n## Where the CPU went\n\n");
    out.push_str(
        "Cores busy on average during each phase (1.00 = one core all the time), read from /proc. `bench` is this \
         process (SQLite runs inside it for the in-process phases); `veritrail` is the child process of the phase \
         (the CLI, accounted when it exits, or the server); `postgres` is every postgres process on the machine; \
         `other` is everything else that kept a CPU busy (such as someone's build on a shared machine, or openssl \
         in the first row). `machine busy`, `iowait` and `steal` are shares of all CPUs' time; the last column \
         names the busiest other processes (≥ 0.05 cores; approximate).\n\n",
    );
    out.push_str(
        "| backend | phase | seconds | bench | veritrail | postgres | other | machine busy | iowait | steal | \
         busiest other processes |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    cpu_row(&mut out, "-", &report.hashing_cpu);
    for backend in &report.backends {
        for phase in &backend.cpu {
            cpu_row(&mut out, backend.backend.label(), phase);
        }
    }

    if report.backends.iter().any(|backend| backend.perf.is_some()) {
        out.push_str("\n## Profile of `veritrail verify` (perf)\n\n");
        out.push_str(
            "One more `veritrail verify` run per backend under `perf record` (untimed), summarised by self time. \
             Categories come from symbol names and are approximate (inlined code counts where it was inlined).\n",
        );
        for backend in &report.backends {
            profile_section(&mut out, backend);
        }
    }

    out.push_str("\n## Details\n");
    for backend in &report.backends {
        let _ = writeln!(out, "\n### {}\n", backend.backend.label());
        let load = &backend.load;
        let _ = writeln!(
            out,
            "- Load: {} events in {} `append` calls, {:.1} s inside `append` = {} events/s; building and validating \
             the events took {:.1} s more ({:.1} s wall)",
            int(load.events as f64),
            int(load.batches as f64),
            load.append_seconds,
            int(load.events_per_second),
            load.generate_seconds,
            load.wall_seconds
        );
        if let Some(bytes) = backend.database_bytes {
            let _ = writeln!(out, "- Database size after the load: {:.2} GB", bytes as f64 / 1e9);
        }
        if let Some(seconds) = backend.vacuum_seconds {
            let _ = writeln!(out, "- `VACUUM (ANALYZE)` after the load: {seconds:.1} s (not timed in any result)");
        }
        let read = &backend.raw_read;
        let _ = writeln!(
            out,
            "- Baseline read: {} rows in {} pages, {:.2} s = {} rows/s, {:.0} MB/s of column values",
            int(read.rows as f64),
            int(read.pages as f64),
            read.seconds,
            int(read.rows_per_second),
            read.megabytes_per_second
        );
        let verify = &backend.verify;
        let _ = writeln!(
            out,
            "- verify (store): ok {}, {} events checked in {:.2} s = {} events/s{}",
            verify.ok,
            int(verify.checked as f64),
            verify.seconds,
            int(verify.events_per_second),
            verify.reason.as_ref().map(|reason| format!("; {reason}")).unwrap_or_default()
        );
        let breakdown = &backend.breakdown;
        let _ = writeln!(
            out,
            "- Breakdown pass: {} rows in {} pages, mean canonical encoding {:.0} bytes, {} rows failed the check; \
             {} reference leaves and {} reference roots recorded for the proof checks",
            int(breakdown.rows as f64),
            int(breakdown.pages as f64),
            breakdown.mean_canonical_bytes,
            breakdown.mismatches,
            breakdown.reference_leaves,
            breakdown.reference_roots
        );
        let cli = &backend.cli;
        let _ = writeln!(
            out,
            "- `veritrail verify`: exit {}, ok {}, checked {}, {:.2} s = {} events/s; the process used {:.2} s of CPU",
            cli.exit_code.map_or("?".to_owned(), |code| code.to_string()),
            cli.ok.map_or("?".to_owned(), |ok| ok.to_string()),
            cli.checked.map_or("?".to_owned(), |checked| int(checked as f64)),
            cli.seconds,
            int(cli.events_per_second),
            cli.child_cpu_seconds
        );
        for line in &cli.stderr_tail {
            let _ = writeln!(out, "  - stderr: `{}`", line.replace('`', "'"));
        }
        for proof in backend.proofs.iter().filter(|proof| proof.first_problem.is_some()) {
            let _ = writeln!(
                out,
                "- {} {} first problem: `{}`",
                proof.via,
                proof.kind,
                proof.first_problem.as_deref().unwrap_or_default().replace('`', "'").replace('\n', " ")
            );
        }
        let _ = writeln!(out, "- Server stderr (RUST_LOG=warn): {} lines", backend.server_stderr_lines);
        for line in &backend.server_stderr_tail {
            let _ = writeln!(out, "  - `{}`", line.replace('`', "'"));
        }
    }
    out.push_str("\nRaw numbers: the `.json` file next to this one.\n");
    out
}
