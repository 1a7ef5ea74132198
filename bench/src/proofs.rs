//! Phase 3 of `veritrail-bench integrity`: latency of Merkle proofs and tree heads, in-process
//! through the store and over HTTP from the real server. Every answer is checked against leaves
//! and roots this benchmark computed itself from the events (not from the stored tree), so a wrong
//! answer is counted as a failure instead of being timed as a success.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::{Deserialize, Serialize};
use veritrail_core::event::TenantId;
use veritrail_core::hash::Hash;
use veritrail_core::merkle::{verify_consistency, verify_inclusion};
use veritrail_core::store::EventLog;

use crate::load::Latency;
use crate::workload::splitmix64;

/// Untimed calls of each kind before the timed ones (connections, statement caches).
const WARMUP_CALLS: usize = 20;

/// Random arguments for one set of measurements.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// Leaf indexes (seqs) for inclusion proofs in the tree of all `n` events.
    pub inclusion: Vec<u64>,
    /// First tree sizes (`1..n`) for consistency proofs to the tree of all `n` events.
    pub consistency: Vec<u64>,
    /// Tree sizes (`1..=n`) whose root is asked for.
    pub roots: Vec<u64>,
}

impl Samples {
    /// `count` of each, drawn deterministically from `seed`.
    pub fn draw(n: u64, count: usize, seed: u64) -> Self {
        let mut state = seed;
        let mut next = |below: u64| {
            state = splitmix64(state);
            state % below.max(1)
        };
        let inclusion = (0..count).map(|_| next(n)).collect();
        let consistency = if n >= 2 { (0..count).map(|_| 1 + next(n - 1)).collect() } else { Vec::new() };
        let roots = (0..count).map(|_| 1 + next(n)).collect();
        Self { inclusion, consistency, roots }
    }
}

/// Leaves and tree roots computed by this benchmark from the events themselves.
#[derive(Debug, Default)]
pub struct Reference {
    pub leaves: HashMap<u64, Hash>,
    pub roots: HashMap<u64, Hash>,
}

/// The seqs whose leaves and the tree sizes whose roots the checks need, sorted, no duplicates.
pub fn wanted(n: u64, sets: &[&Samples]) -> (Vec<u64>, Vec<u64>) {
    let mut leaves: Vec<u64> = sets.iter().flat_map(|set| set.inclusion.iter().copied()).collect();
    let mut roots: Vec<u64> =
        sets.iter().flat_map(|set| set.consistency.iter().chain(set.roots.iter()).copied()).collect();
    roots.push(n);
    leaves.sort_unstable();
    leaves.dedup();
    roots.sort_unstable();
    roots.dedup();
    (leaves, roots)
}

/// Latency of one kind of request, and whether the answers were right.
#[derive(Debug, Clone, Serialize)]
pub struct ProofLatency {
    /// `store` (in-process, `EventLog` trait) or `http` (the real server).
    pub via: String,
    /// `inclusion`, `consistency` or `tree_root`.
    pub kind: String,
    /// What one sample is, e.g. the endpoint.
    pub call: String,
    pub latency: Latency,
    /// Wall time of all timed samples, one after another.
    pub seconds: f64,
    /// Mean number of hashes in a proof.
    pub mean_proof_hashes: f64,
    /// Answers checked against this benchmark's own leaves and roots.
    pub verified: u64,
    /// Answers that were wrong (proof does not verify, or a hash differs from the reference).
    pub wrong: u64,
    /// Calls that failed (error or non-200 answer).
    pub errors: u64,
    pub first_problem: Option<String>,
}

impl ProofLatency {
    fn new(via: &str, kind: &str, call: &str, micros: Vec<u64>, seconds: f64) -> Self {
        Self {
            via: via.to_owned(),
            kind: kind.to_owned(),
            call: call.to_owned(),
            latency: Latency::from_micros(micros),
            seconds,
            mean_proof_hashes: 0.0,
            verified: 0,
            wrong: 0,
            errors: 0,
            first_problem: None,
        }
    }

    fn problem(&mut self, what: String) {
        self.first_problem.get_or_insert(what);
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.verified += 1;
        } else {
            self.wrong += 1;
            self.problem(what());
        }
    }
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// Times `call` for every argument (after a few untimed ones) and returns the answers in order.
async fn timed<T, F, Fut>(args: &[u64], mut call: F) -> (Vec<u64>, f64, Vec<T>)
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = T>,
{
    for arg in args.iter().take(WARMUP_CALLS) {
        call(*arg).await;
    }
    let mut samples = Vec::with_capacity(args.len());
    let mut answers = Vec::with_capacity(args.len());
    let start = Instant::now();
    for arg in args {
        let sent = Instant::now();
        let answer = call(*arg).await;
        samples.push(micros(sent.elapsed()));
        answers.push(answer);
    }
    (samples, start.elapsed().as_secs_f64(), answers)
}

/// In-process: `tree_root`, `inclusion_proof` and `consistency_proof` of the store, one call at a
/// time.
pub async fn via_store(
    events: &dyn EventLog,
    tenant: &TenantId,
    n: u64,
    samples: &Samples,
    reference: &Reference,
) -> Vec<ProofLatency> {
    let root_n = reference.roots.get(&n).copied();
    let mut results = Vec::new();

    let (micros, seconds, answers) = timed(&samples.roots, move |size| events.tree_root(tenant, size)).await;
    let mut result =
        ProofLatency::new("store", "tree_root", "`tree_root(size)`, size random in 1..=N", micros, seconds);
    for (size, answer) in samples.roots.iter().zip(answers) {
        match answer {
            Ok(root) => result.check(reference.roots.get(size) == Some(&root), || {
                format!("tree_root({size}) differs from the reference")
            }),
            Err(err) => {
                result.errors += 1;
                result.problem(format!("tree_root({size}): {err}"));
            }
        }
    }
    results.push(result);

    let (micros, seconds, answers) = timed(&samples.inclusion, move |seq| events.inclusion_proof(tenant, seq, n)).await;
    let mut result =
        ProofLatency::new("store", "inclusion", "`inclusion_proof(seq, N)`, seq random in 0..N", micros, seconds);
    let mut hashes = 0;
    for (seq, answer) in samples.inclusion.iter().zip(answers) {
        match answer {
            Ok(proof) => {
                hashes += proof.len();
                let ok = match (reference.leaves.get(seq), root_n) {
                    (Some(leaf), Some(root)) => verify_inclusion(*seq, n, leaf, &proof, &root),
                    _ => false,
                };
                result.check(ok, || format!("the inclusion proof of seq {seq} in {n} does not verify"));
            }
            Err(err) => {
                result.errors += 1;
                result.problem(format!("inclusion_proof({seq}, {n}): {err}"));
            }
        }
    }
    result.mean_proof_hashes = hashes as f64 / samples.inclusion.len().max(1) as f64;
    results.push(result);

    let (micros, seconds, answers) =
        timed(&samples.consistency, move |first| events.consistency_proof(tenant, first, n)).await;
    let mut result = ProofLatency::new(
        "store",
        "consistency",
        "`consistency_proof(first, N)`, first random in 1..N",
        micros,
        seconds,
    );
    let mut hashes = 0;
    for (first, answer) in samples.consistency.iter().zip(answers) {
        match answer {
            Ok(proof) => {
                hashes += proof.len();
                let ok = match (reference.roots.get(first), root_n) {
                    (Some(first_root), Some(root)) => verify_consistency(*first, n, first_root, &root, &proof),
                    _ => false,
                };
                result.check(ok, || format!("the consistency proof {first} -> {n} does not verify"));
            }
            Err(err) => {
                result.errors += 1;
                result.problem(format!("consistency_proof({first}, {n}): {err}"));
            }
        }
    }
    result.mean_proof_hashes = hashes as f64 / samples.consistency.len().max(1) as f64;
    results.push(result);
    results
}

/// A keep-alive HTTP client for the server's read API.
pub struct Http {
    client: reqwest::Client,
    base_url: String,
    auth: HeaderValue,
}

/// An answer: status and body, or a transport error.
type Answer = Result<(u16, Vec<u8>), String>;

impl Http {
    pub fn new(base_url: &str, secret: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(4)
            .timeout(Duration::from_secs(60))
            .build()
            .context("build the HTTP client")?;
        Ok(Self { client, base_url: base_url.to_owned(), auth: HeaderValue::from_str(&format!("Bearer {secret}"))? })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.header(AUTHORIZATION, self.auth.clone()).send().await.map_err(|err| err.to_string())?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|err| format!("reading the answer: {err}"))?;
        Ok((status, body.to_vec()))
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.client.get(format!("{}{path}", self.base_url))).await
    }

    pub async fn post(&self, path: &str) -> Answer {
        self.send(self.client.post(format!("{}{path}", self.base_url))).await
    }
}

#[derive(Debug, Deserialize)]
struct InclusionAnswer {
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: Hash,
    hashes: Vec<Hash>,
    root_hash: Hash,
}

#[derive(Debug, Deserialize)]
struct ConsistencyAnswer {
    first: u64,
    second: u64,
    hashes: Vec<Hash>,
    first_root: Hash,
    second_root: Hash,
}

/// The answer's JSON, or why there is none.
fn decode<T: for<'de> Deserialize<'de>>(answer: Answer) -> Result<T, String> {
    let (status, body) = answer?;
    if status != 200 {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err(format!("status {status}: {text}"));
    }
    serde_json::from_slice(&body).map_err(|err| format!("unreadable answer: {err}"))
}

/// Over HTTP: `GET /api/v1/proofs/inclusion` and `/consistency`, one request at a time.
pub async fn via_http(http: &Http, n: u64, samples: &Samples, reference: &Reference) -> Vec<ProofLatency> {
    let root_n = reference.roots.get(&n).copied();
    let mut results = Vec::new();

    let (micros, seconds, answers) = timed(&samples.inclusion, move |seq| async move {
        http.get(&format!("/api/v1/proofs/inclusion?seq={seq}&tree_size={n}")).await
    })
    .await;
    let mut result = ProofLatency::new(
        "http",
        "inclusion",
        "`GET /api/v1/proofs/inclusion?seq=S&tree_size=N` (proof + leaf + root)",
        micros,
        seconds,
    );
    let mut hashes = 0;
    for (seq, answer) in samples.inclusion.iter().zip(answers) {
        match decode::<InclusionAnswer>(answer) {
            Ok(proof) => {
                hashes += proof.hashes.len();
                let ok = proof.leaf_index == *seq
                    && proof.tree_size == n
                    && reference.leaves.get(seq) == Some(&proof.leaf_hash)
                    && root_n == Some(proof.root_hash)
                    && verify_inclusion(*seq, n, &proof.leaf_hash, &proof.hashes, &proof.root_hash);
                result.check(ok, || format!("the inclusion answer for seq {seq} in {n} is wrong"));
            }
            Err(err) => {
                result.errors += 1;
                result.problem(format!("inclusion seq={seq}: {err}"));
            }
        }
    }
    result.mean_proof_hashes = hashes as f64 / samples.inclusion.len().max(1) as f64;
    results.push(result);

    let (micros, seconds, answers) = timed(&samples.consistency, move |first| async move {
        http.get(&format!("/api/v1/proofs/consistency?first={first}&second={n}")).await
    })
    .await;
    let mut result = ProofLatency::new(
        "http",
        "consistency",
        "`GET /api/v1/proofs/consistency?first=M&second=N` (proof + both roots)",
        micros,
        seconds,
    );
    let mut hashes = 0;
    for (first, answer) in samples.consistency.iter().zip(answers) {
        match decode::<ConsistencyAnswer>(answer) {
            Ok(proof) => {
                hashes += proof.hashes.len();
                let ok = proof.first == *first
                    && proof.second == n
                    && reference.roots.get(first) == Some(&proof.first_root)
                    && root_n == Some(proof.second_root)
                    && verify_consistency(*first, n, &proof.first_root, &proof.second_root, &proof.hashes);
                result.check(ok, || format!("the consistency answer {first} -> {n} is wrong"));
            }
            Err(err) => {
                result.errors += 1;
                result.problem(format!("consistency first={first}: {err}"));
            }
        }
    }
    result.mean_proof_hashes = hashes as f64 / samples.consistency.len().max(1) as f64;
    results.push(result);
    results
}

/// One `POST /api/v1/admin/jobs/checkpoint/run` on the loaded log (signs the tree head of all
/// events), then `GET /api/v1/checkpoints/latest` to check what was published.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointRun {
    /// The job request alone.
    pub milliseconds: f64,
    pub status: Option<u16>,
    pub tree_size: Option<u64>,
    /// The published root equals this benchmark's own root of all events.
    pub root_matches: Option<bool>,
    pub problem: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PublishedCheckpoint {
    tree_size: u64,
    root_hash: Hash,
}

pub async fn run_checkpoint(http: &Http, reference: &Reference, n: u64) -> CheckpointRun {
    let start = Instant::now();
    let answer = http.post("/api/v1/admin/jobs/checkpoint/run").await;
    let milliseconds = start.elapsed().as_secs_f64() * 1000.0;
    let status = answer.as_ref().ok().map(|(status, _)| *status);
    let failed = |problem: String| CheckpointRun {
        milliseconds,
        status,
        tree_size: None,
        root_matches: None,
        problem: Some(problem),
    };
    if let Err(err) = decode::<serde_json::Value>(answer) {
        return failed(format!("checkpoint job: {err}"));
    }
    match decode::<PublishedCheckpoint>(http.get("/api/v1/checkpoints/latest").await) {
        Ok(checkpoint) => {
            let matches = checkpoint.tree_size == n && reference.roots.get(&n) == Some(&checkpoint.root_hash);
            CheckpointRun {
                milliseconds,
                status,
                tree_size: Some(checkpoint.tree_size),
                root_matches: Some(matches),
                problem: (!matches).then(|| "the checkpoint's tree size or root differs from the reference".to_owned()),
            }
        }
        Err(err) => failed(format!("latest checkpoint: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_stay_in_range() {
        let samples = Samples::draw(10, 500, 7);
        assert!(samples.inclusion.iter().all(|seq| *seq < 10));
        assert!(samples.consistency.iter().all(|first| (1..10).contains(first)));
        assert!(samples.roots.iter().all(|size| (1..=10).contains(size)));
        let (leaves, roots) = wanted(10, &[&samples]);
        assert!(leaves.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(roots.last(), Some(&10));
        assert!(Samples::draw(1, 5, 1).consistency.is_empty());
    }
}
