//! HTTP load against the running server: batched ingest and single-event ingest.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Serialize;

use crate::workload::Workload;

/// Where and as whom requests go; cheap to clone (the client is a shared connection pool).
#[derive(Clone)]
pub struct Target {
    client: reqwest::Client,
    batch_url: String,
    single_url: String,
    auth: HeaderValue,
}

impl Target {
    pub fn new(base_url: &str, secret: &str, max_connections: usize) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(max_connections)
            .timeout(Duration::from_secs(120))
            .build()
            .context("build the HTTP client")?;
        Ok(Self {
            client,
            batch_url: format!("{base_url}/api/v1/events/batch"),
            single_url: format!("{base_url}/api/v1/events"),
            auth: HeaderValue::from_str(&format!("Bearer {secret}"))?,
        })
    }

    /// POSTs `body`; returns the status (or `None` for a transport error) and the response body.
    async fn post(&self, url: &str, body: Vec<u8>) -> (Option<u16>, String) {
        let sent = self
            .client
            .post(url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    // Only error answers are kept, and only their start.
                    Ok(bytes) if status >= 300 => {
                        (Some(status), String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into())
                    }
                    Ok(_) => (Some(status), String::new()),
                    Err(err) => (None, format!("reading the response: {err}")),
                }
            }
            Err(err) => (None, err.to_string()),
        }
    }
}

/// Answers other than 201 Created, by status (`transport` for connection errors).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Outcomes {
    pub created: u64,
    pub other: BTreeMap<String, u64>,
    /// First answer seen for each non-201 status, truncated.
    pub examples: BTreeMap<String, String>,
}

impl Outcomes {
    fn record(&mut self, status: Option<u16>, body: String) {
        if status == Some(201) {
            self.created += 1;
            return;
        }
        let key = status.map_or_else(|| "transport".to_owned(), |status| status.to_string());
        *self.other.entry(key.clone()).or_default() += 1;
        self.examples.entry(key).or_insert(body);
    }

    fn merge(&mut self, other: Outcomes) {
        self.created += other.created;
        for (key, count) in other.other {
            *self.other.entry(key).or_default() += count;
        }
        for (key, body) in other.examples {
            self.examples.entry(key).or_insert(body);
        }
    }

    pub fn errors(&self) -> u64 {
        self.other.values().sum()
    }

    /// E.g. `0` or `12 (429: 10, transport: 2)`.
    pub fn describe_errors(&self) -> String {
        if self.other.is_empty() {
            return "0".to_owned();
        }
        let parts: Vec<String> = self.other.iter().map(|(key, count)| format!("{key}: {count}")).collect();
        format!("{} ({})", self.errors(), parts.join(", "))
    }
}

/// Latency percentiles in milliseconds, exact (nearest rank over all sorted samples).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// `micros` need not be sorted.
    pub fn from_micros(mut micros: Vec<u64>) -> Self {
        if micros.is_empty() {
            return Self::default();
        }
        micros.sort_unstable();
        let n = micros.len();
        // Nearest rank: the smallest sample with at least p% of samples at or below it.
        let rank = |p: f64| -> f64 {
            let rank = ((p / 100.0) * n as f64).ceil() as usize;
            micros[rank.clamp(1, n) - 1] as f64 / 1000.0
        };
        Self {
            samples: n,
            mean_ms: micros.iter().sum::<u64>() as f64 / n as f64 / 1000.0,
            p50_ms: rank(50.0),
            p90_ms: rank(90.0),
            p99_ms: rank(99.0),
            max_ms: micros[n - 1] as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchedResult {
    pub batches: u64,
    pub events: u64,
    /// Events in batches answered 201.
    pub events_created: u64,
    pub concurrency: usize,
    pub seconds: f64,
    /// Events in batches answered 201, per second of wall time.
    pub events_per_second: f64,
    pub batch_outcomes: Outcomes,
    /// Latency of a whole batch request.
    pub batch_latency: Latency,
}

/// Sends the pre-serialised batch bodies (each with its number of events) with `concurrency`
/// clients, each taking the next body when its previous request is answered.
pub async fn run_batched(target: &Target, bodies: Vec<(Vec<u8>, u64)>, concurrency: usize) -> BatchedResult {
    let batches = bodies.len() as u64;
    let events = bodies.iter().map(|(_, count)| count).sum();
    let queue = Arc::new(Mutex::new(bodies.into_iter()));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let target = target.clone();
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut outcomes = Outcomes::default();
                let mut micros = Vec::new();
                let mut created = 0;
                loop {
                    let next = queue.lock().ok().and_then(|mut queue| queue.next());
                    let Some((body, count)) = next else { break };
                    let sent_at = Instant::now();
                    let (status, answer) = target.post(&target.batch_url, body).await;
                    if status == Some(201) {
                        micros.push(u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX));
                        created += count;
                    }
                    outcomes.record(status, answer);
                }
                (outcomes, micros, created)
            })
        })
        .collect();
    let mut outcomes = Outcomes::default();
    let mut micros = Vec::new();
    let mut events_created = 0;
    for worker in futures::future::join_all(workers).await {
        match worker {
            Ok((worker_outcomes, worker_micros, worker_created)) => {
                outcomes.merge(worker_outcomes);
                micros.extend(worker_micros);
                events_created += worker_created;
            }
            Err(err) => outcomes.record(None, format!("client task failed: {err}")),
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    BatchedResult {
        batches,
        events,
        events_created,
        concurrency,
        seconds,
        events_per_second: events_created as f64 / seconds.max(1e-9),
        batch_outcomes: outcomes,
        batch_latency: Latency::from_micros(micros),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SingleResult {
    pub concurrency: usize,
    pub seconds: f64,
    pub requests: u64,
    /// Requests answered 201, per second of wall time.
    pub requests_per_second: f64,
    pub outcomes: Outcomes,
    /// Latency of requests answered 201 (errors are counted, not timed).
    pub latency: Latency,
}

/// `concurrency` clients each POST one event after another until `duration` is up. Ids are
/// `{prefix}-{client}-{n}`, unique within the run.
pub async fn run_single(
    target: &Target,
    workload: Arc<Workload>,
    concurrency: usize,
    duration: Duration,
    prefix: &str,
) -> SingleResult {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|client| {
            let target = target.clone();
            let workload = workload.clone();
            let stop = stop.clone();
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let mut outcomes = Outcomes::default();
                // Sized for ~30k req/s spread over the clients, to avoid regrowth while timing.
                let mut micros = Vec::with_capacity(4096);
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let event_number = ((client as u64) << 40) | n;
                    let body = workload.single_body(event_number, &format!("{prefix}-{client:03}-{n:09}"));
                    let sent_at = Instant::now();
                    let (status, answer) = target.post(&target.single_url, body).await;
                    if status == Some(201) {
                        micros.push(u64::try_from(sent_at.elapsed().as_micros()).unwrap_or(u64::MAX));
                    }
                    outcomes.record(status, answer);
                    n += 1;
                }
                (outcomes, micros, n)
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Outcomes::default();
    let mut micros = Vec::new();
    let mut requests = 0;
    for worker in futures::future::join_all(workers).await {
        match worker {
            Ok((worker_outcomes, worker_micros, worker_requests)) => {
                outcomes.merge(worker_outcomes);
                micros.extend(worker_micros);
                requests += worker_requests;
            }
            Err(err) => outcomes.record(None, format!("client task failed: {err}")),
        }
    }
    // Wall time includes the requests still in flight when the clock ran out.
    let seconds = start.elapsed().as_secs_f64();
    SingleResult {
        concurrency,
        seconds,
        requests,
        requests_per_second: outcomes.created as f64 / seconds.max(1e-9),
        outcomes,
        latency: Latency::from_micros(micros),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let latency = Latency::from_micros((1..=100).rev().map(|ms| ms * 1000).collect());
        assert_eq!((latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.max_ms), (50.0, 90.0, 99.0, 100.0));
        assert!((latency.mean_ms - 50.5).abs() < 1e-9);
        let one = Latency::from_micros(vec![1500]);
        assert_eq!((one.p50_ms, one.p99_ms), (1.5, 1.5));
        assert_eq!(Latency::from_micros(Vec::new()).samples, 0);
    }
}
