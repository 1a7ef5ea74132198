//! Phase 1 of `veritrail-bench integrity`: how fast one thread verifies the hash chain when the
//! events are already in memory, against the SHA-256 throughput of the same machine measured in
//! the same run (`openssl speed -evp sha256`, and the `sha2` crate the server uses).

use std::hint::black_box;
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest, Sha256};
use veritrail_core::chain::{canonical_event_bytes, chain_hash, leaf_hash};
use veritrail_core::event::StoredEvent;
use veritrail_core::hash::Hash;
use veritrail_core::verify::ChainVerifier;

/// Nanoseconds the calling thread has spent on a CPU (`/proc/thread-self/schedstat`), when the
/// kernel reports it. Rates "per core" divide by this, so time the thread spent waiting for a CPU
/// on a shared machine does not count against it.
pub fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// One timed round of a variant: whole passes over the event set until the round's time is up.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    pub events: u64,
    pub wall_seconds: f64,
    /// On-CPU time of the measuring thread (equals `wall_seconds` where the kernel does not say).
    pub cpu_seconds: f64,
}

/// One way of verifying the events, measured in several rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    /// `a`, `b`, `c`.
    pub key: String,
    pub name: String,
    /// What is timed per event.
    pub per_event: String,
    pub rounds: Vec<Round>,
    /// Median over the rounds of events per second of the thread's CPU time: the per-core rate.
    pub cpu_events_per_second: f64,
    /// Median over the rounds of events per second of wall time.
    pub wall_events_per_second: f64,
    /// Best round, wall time.
    pub best_wall_events_per_second: f64,
    /// `cpu_events_per_second` ÷ the SHA-256 bound.
    pub vs_bound: f64,
    /// Events whose recomputed hash differed from the expected one (must be 0).
    pub mismatches: u64,
}

/// `openssl speed -evp sha256`: bytes per second (of CPU time, as openssl measures) by block size.
#[derive(Debug, Clone, Serialize)]
pub struct OpensslSpeed {
    pub command: String,
    pub version: String,
    /// (block size in bytes, bytes per second)
    pub rates: Vec<(usize, f64)>,
}

/// The physical bound the variants are compared with.
#[derive(Debug, Clone, Serialize)]
pub struct Bound {
    /// `openssl speed -evp sha256`, or the `sha2` crate when openssl is missing.
    pub source: String,
    /// The measured block size nearest (by ratio) to the leaf hash input.
    pub block_size: usize,
    pub bytes_per_second: f64,
    /// Bytes hashed per event: leaf input (1 + canonical length) plus the 64-byte chain input.
    pub bytes_per_event: f64,
    /// `bytes_per_second / bytes_per_event`.
    pub events_per_second: f64,
    /// A stricter view: SHA-256 compressions per event (leaf and chain hash, padding included)
    /// at the throughput of the largest block size, where per-call overhead vanishes.
    pub compressions_per_event: f64,
    pub compression_events_per_second: f64,
}

/// Everything phase 1 measured.
#[derive(Debug, Clone, Serialize)]
pub struct HashPhase {
    pub events: usize,
    pub mean_canonical_bytes: f64,
    pub min_canonical_bytes: usize,
    pub max_canonical_bytes: usize,
    /// Where the per-thread CPU time came from: `schedstat` or `wall clock (no schedstat)`.
    pub cpu_clock: String,
    pub variants: Vec<Variant>,
    /// `None` with `openssl_error` set when openssl could not be run.
    pub openssl: Option<OpensslSpeed>,
    pub openssl_error: Option<String>,
    /// The `sha2` crate's raw `Sha256::digest` throughput per buffer size, bytes per second of CPU.
    pub sha2_rates: Vec<(usize, f64)>,
    pub bound: Bound,
}

/// Settings of phase 1.
pub struct HashSettings {
    pub rounds: usize,
    pub round_seconds: f64,
    pub openssl_seconds: u32,
    pub skip_openssl: bool,
}

/// Block sizes of `openssl speed`'s table; the `sha2` crate is measured at the same ones.
const SIZES: [usize; 6] = [16, 64, 256, 1024, 8192, 16384];

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

/// Runs `pass` (one pass over `events_per_pass` events, returning its mismatches) once untimed,
/// then `rounds` times for at least `round_seconds` each.
fn measure(settings: &HashSettings, events_per_pass: usize, mut pass: impl FnMut() -> u64) -> (Vec<Round>, u64) {
    let mut mismatches = pass();
    let mut rounds = Vec::with_capacity(settings.rounds);
    for _ in 0..settings.rounds.max(1) {
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        let mut passes: u64 = 0;
        loop {
            mismatches += pass();
            passes += 1;
            if start.elapsed().as_secs_f64() >= settings.round_seconds {
                break;
            }
        }
        let wall_seconds = start.elapsed().as_secs_f64();
        let cpu_seconds = match (cpu_start, thread_cpu_ns()) {
            (Some(before), Some(after)) => after.saturating_sub(before) as f64 / 1e9,
            _ => wall_seconds,
        };
        rounds.push(Round { events: passes * events_per_pass as u64, wall_seconds, cpu_seconds });
    }
    (rounds, mismatches)
}

fn variant(key: &str, name: &str, per_event: &str, rounds: Vec<Round>, mismatches: u64) -> Variant {
    let cpu_rates: Vec<f64> = rounds.iter().map(|round| round.events as f64 / round.cpu_seconds.max(1e-9)).collect();
    let wall_rates: Vec<f64> = rounds.iter().map(|round| round.events as f64 / round.wall_seconds.max(1e-9)).collect();
    Variant {
        key: key.to_owned(),
        name: name.to_owned(),
        per_event: per_event.to_owned(),
        cpu_events_per_second: median(cpu_rates),
        wall_events_per_second: median(wall_rates.clone()),
        best_wall_events_per_second: wall_rates.into_iter().fold(0.0, f64::max),
        rounds,
        vs_bound: 0.0,
        mismatches,
    }
}

/// The `sha2` crate's throughput on buffers of `size` bytes, per second of this thread's CPU.
fn sha2_rate(size: usize, seconds: f64) -> f64 {
    let buffer: Vec<u8> = (0..size).map(|idx| (idx % 251) as u8).collect();
    for _ in 0..1000 {
        black_box(Sha256::digest(black_box(&buffer)));
    }
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    let mut bytes: u64 = 0;
    while start.elapsed().as_secs_f64() < seconds {
        for _ in 0..256 {
            black_box(Sha256::digest(black_box(&buffer)));
        }
        bytes += 256 * size as u64;
    }
    let elapsed = match (cpu_start, thread_cpu_ns()) {
        (Some(before), Some(after)) => after.saturating_sub(before) as f64 / 1e9,
        _ => start.elapsed().as_secs_f64(),
    };
    bytes as f64 / elapsed.max(1e-9)
}

/// Parses the table `openssl speed` prints: a `type  16 bytes  64 bytes ...` header and a
/// `sha256  127625.16k ...` row, in 1000s of bytes per second.
pub fn parse_openssl_speed(output: &str) -> Option<Vec<(usize, f64)>> {
    let header = output.lines().rev().find(|line| line.trim_start().starts_with("type"))?;
    let sizes: Vec<usize> = header
        .split_whitespace()
        .skip(1)
        .filter(|word| *word != "bytes")
        .filter_map(|word| word.parse().ok())
        .collect();
    let row = output.lines().rev().find(|line| {
        let first = line.split_whitespace().next().unwrap_or_default();
        first.eq_ignore_ascii_case("sha256") || first.eq_ignore_ascii_case("sha2-256")
    })?;
    let values: Vec<f64> = row
        .split_whitespace()
        .skip(1)
        .filter_map(|word| word.strip_suffix('k').and_then(|number| number.parse::<f64>().ok()))
        .map(|thousands| thousands * 1000.0)
        .collect();
    (sizes.len() == values.len() && !sizes.is_empty()).then(|| sizes.into_iter().zip(values).collect())
}

fn run_openssl(seconds: u32) -> Result<OpensslSpeed, String> {
    let version = crate::report::command_output("openssl", &["version"])
        .ok_or_else(|| "`openssl version` failed: openssl is not installed or not on PATH".to_owned())?;
    // `OpenSSL 3.0.19 27 Jan 2026 (Library: ...)`: the part before the library note.
    let version = version.split(" (").next().unwrap_or(&version).trim().to_owned();
    let seconds_arg = seconds.max(1).to_string();
    let args = ["speed", "-evp", "sha256", "-seconds", seconds_arg.as_str()];
    let output = std::process::Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| format!("cannot run openssl speed: {err}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("openssl speed failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr)));
    }
    let rates =
        parse_openssl_speed(&stdout).ok_or_else(|| format!("cannot read the table of openssl speed:\n{stdout}"))?;
    Ok(OpensslSpeed { command: format!("openssl {}", args.join(" ")), version, rates })
}

/// The rate measured at the size nearest `bytes` (by ratio, i.e. on a log scale).
fn nearest(rates: &[(usize, f64)], bytes: f64) -> Option<(usize, f64)> {
    rates.iter().copied().min_by(|a, b| {
        let distance = |size: usize| ((size as f64).ln() - bytes.max(1.0).ln()).abs();
        distance(a.0).total_cmp(&distance(b.0))
    })
}

/// SHA-256 compressions to hash `len` bytes (64-byte blocks, at least 9 bytes of padding).
fn compressions(len: usize) -> usize {
    (len + 9).div_ceil(64)
}

/// Phase 1. `events` must be a chain starting at seq 0 (what a verifier walks).
pub fn run(events: &[StoredEvent], settings: &HashSettings) -> HashPhase {
    let encoded: Vec<(Vec<u8>, Hash)> = events.iter().map(|event| (canonical_event_bytes(event), event.hash)).collect();
    let lengths: Vec<usize> = encoded.iter().map(|(bytes, _)| bytes.len()).collect();
    let count = events.len().max(1);
    let mean_canonical_bytes = lengths.iter().sum::<usize>() as f64 / count as f64;
    let compressions_per_event =
        lengths.iter().map(|len| (compressions(1 + len) + compressions(64)) as f64).sum::<f64>() / count as f64;

    eprintln!("  (a) leaf + chain hash of pre-encoded events");
    let (rounds, mismatches) = measure(settings, encoded.len(), || {
        let mut prev = Hash::GENESIS;
        let mut bad = 0;
        for (bytes, expected) in &encoded {
            let hash = chain_hash(&prev, &leaf_hash(black_box(bytes)));
            if hash != *expected {
                bad += 1;
            }
            prev = hash;
        }
        black_box(prev);
        bad
    });
    let a = variant(
        "a",
        "hash only, pre-encoded",
        "`leaf_hash(canonical bytes)` + `chain_hash(prev, leaf)` + compare with the stored hash",
        rounds,
        mismatches,
    );

    eprintln!("  (b) canonical encoding + leaf + chain hash");
    let (rounds, mismatches) = measure(settings, events.len(), || {
        let mut bad = 0;
        for event in events {
            let leaf = leaf_hash(&canonical_event_bytes(black_box(event)));
            if chain_hash(&event.prev_hash, &leaf) != event.hash {
                bad += 1;
            }
        }
        bad
    });
    let b = variant(
        "b",
        "encode + hash",
        "`canonical_event_bytes(&StoredEvent)` + leaf + chain + compare",
        rounds,
        mismatches,
    );

    eprintln!("  (c) ChainVerifier::check (what EventLog::verify runs per row)");
    let (rounds, mismatches) = measure(settings, events.len(), || {
        let mut verifier = ChainVerifier::new(0, Hash::GENESIS);
        let mut bad = 0;
        for event in events {
            if verifier.check(black_box(event)).is_err() {
                bad += 1;
                verifier = ChainVerifier::new(event.seq + 1, event.hash);
            }
        }
        black_box(verifier.tree_root());
        bad
    });
    let c = variant(
        "c",
        "`ChainVerifier::check`",
        "(b) + seq and link checks + appending the leaf to the rebuilt Merkle tree (about one more node hash)",
        rounds,
        mismatches,
    );

    eprintln!("  sha2 crate raw throughput");
    let sha2_rates: Vec<(usize, f64)> = SIZES.iter().map(|size| (*size, sha2_rate(*size, 0.4))).collect();

    let (openssl, openssl_error) = if settings.skip_openssl {
        (None, Some("skipped (--skip-openssl)".to_owned()))
    } else {
        eprintln!(
            "  openssl speed -evp sha256 -seconds {} (about {} s)",
            settings.openssl_seconds,
            6 * settings.openssl_seconds
        );
        match run_openssl(settings.openssl_seconds) {
            Ok(speed) => (Some(speed), None),
            Err(err) => {
                eprintln!("  warning: {err}; the bound falls back to the sha2 crate's own throughput");
                (None, Some(err))
            }
        }
    };

    let leaf_input = 1.0 + mean_canonical_bytes;
    let bytes_per_event = leaf_input + 64.0;
    let (source, rates) = match &openssl {
        Some(speed) => (speed.command.clone(), speed.rates.clone()),
        None => ("sha2 crate, `Sha256::digest` (openssl unavailable)".to_owned(), sha2_rates.clone()),
    };
    let (block_size, bytes_per_second) = nearest(&rates, leaf_input).unwrap_or((0, 0.0));
    let largest = rates.iter().copied().max_by_key(|(size, _)| *size).map_or(0.0, |(_, rate)| rate);
    let bound = Bound {
        source,
        block_size,
        bytes_per_second,
        bytes_per_event,
        events_per_second: bytes_per_second / bytes_per_event,
        compressions_per_event,
        compression_events_per_second: largest / 64.0 / compressions_per_event.max(1e-9),
    };
    let mut variants = vec![a, b, c];
    for variant in &mut variants {
        variant.vs_bound = variant.cpu_events_per_second / bound.events_per_second.max(1e-9);
    }
    HashPhase {
        events: events.len(),
        mean_canonical_bytes,
        min_canonical_bytes: lengths.iter().copied().min().unwrap_or(0),
        max_canonical_bytes: lengths.iter().copied().max().unwrap_or(0),
        cpu_clock: if thread_cpu_ns().is_some() { "schedstat" } else { "wall clock (no schedstat)" }.to_owned(),
        variants,
        openssl,
        openssl_error,
        sha2_rates,
        bound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_openssl_speed_table() {
        let output = "CPUINFO: OPENSSL_ia32cap=0x0\nThe 'numbers' are in 1000s of bytes per second processed.\n\
                      type             16 bytes     64 bytes    256 bytes   1024 bytes   8192 bytes  16384 bytes\n\
                      sha256          127625.16k   417940.52k   946938.40k  1445809.69k  1669212.49k  1710131.20k\n";
        let rates = parse_openssl_speed(output).expect("table");
        assert_eq!(rates.len(), 6);
        assert_eq!(rates[0], (16, 127_625_160.0));
        assert_eq!(rates[5].0, 16384);
        assert_eq!(nearest(&rates, 561.0).map(|(size, _)| size), Some(1024));
        assert_eq!(nearest(&rates, 400.0).map(|(size, _)| size), Some(256));
        assert!(parse_openssl_speed("nothing here").is_none());
    }

    #[test]
    fn counts_compressions_with_padding() {
        assert_eq!(compressions(55), 1);
        assert_eq!(compressions(56), 2);
        assert_eq!(compressions(64), 2);
        assert_eq!(compressions(561), 9);
    }
}
