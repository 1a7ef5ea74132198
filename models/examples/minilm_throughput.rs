//! Raw MiniLM throughput on this machine: sentences per second at several batch sizes, for
//! short audit-log renderings (about 20 tokens each). Measure with a release build:
//! `cargo run --release -p veritrail-models --example minilm_throughput [THREADS]`.

use std::time::Instant;

use veritrail_models::embed::LocalEmbedder;
use veritrail_models::fetch::{default_model_dir, model_present};

const ACTORS: [&str; 6] = ["bert-jan", "alice@example.com", "ci-runner", "root", "svc-backup", "deploy-bot"];
const CALLS: [(&str, &str); 6] = [
    ("cloudtrail", "StopLogging"),
    ("iam", "CreateAccessKey"),
    ("s3", "PutObject"),
    ("kms", "Decrypt"),
    ("ec2", "RunInstances"),
    ("sts", "AssumeRole"),
];

/// Distinct sentences so no cache could help: actor, service, action, target and outcome vary.
fn sentences(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let (service, action) = CALLS[i % CALLS.len()];
            let outcome = if i % 5 == 0 { "failure" } else { "success" };
            format!("actor {} called {service} {action} on resource-{i} in eu-west-1, outcome {outcome}", ACTORS[i % 6])
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = default_model_dir();
    if !model_present(&dir) {
        return Err(format!("model not found in {}: run `veritrail models fetch`", dir.display()).into());
    }
    let threads = std::env::args().nth(1).map(|t| t.parse()).transpose()?;
    let embedder = match threads {
        Some(threads) => LocalEmbedder::load_with_threads(&dir, threads)?,
        None => LocalEmbedder::load(&dir)?,
    };
    let texts = sentences(640);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    embedder.embed_blocking(&refs[..64])?; // warm-up: first-touch allocations, thread start
    println!("threads: {}", threads.map_or_else(|| "all cores".to_owned(), |t: usize| t.to_string()));
    // Larger calls are cut into internal batches of 32, so 32 is the largest batch worth timing.
    for batch in [1usize, 8, 32] {
        let n = if batch == 1 { 128 } else { refs.len() };
        let (started, cpu_before) = (Instant::now(), cpu_seconds());
        for chunk in refs[..n].chunks(batch) {
            embedder.embed_blocking(chunk)?;
        }
        let secs = started.elapsed().as_secs_f64();
        // On a shared machine wall time depends on the neighbours; CPU time much less so.
        let per_cpu_second = match (cpu_before, cpu_seconds()) {
            (Some(before), Some(after)) => format!("{:.1}", n as f64 / (after - before)),
            _ => "n/a".to_owned(),
        };
        println!(
            "batch {batch:>3}: {:>6.1} sentences/s, {per_cpu_second} per CPU-second ({n} sentences in {secs:.2} s)",
            n as f64 / secs
        );
    }
    Ok(())
}

/// User + system CPU time of this process so far (Linux only; clock ticks assumed 100 Hz, the
/// kernel's fixed USER_HZ).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
