//! Search index latency on one tenant: fills a fresh database with synthetic audit documents
//! (many events, fewer distinct texts, clustered vectors), then times each kind of search.
//!
//! ```text
//! cargo run --release -p veritrail-store --features testing --example search_latency -- sqlite
//! VERITRAIL_TEST_PG_URL=... cargo run --release -p veritrail-store --features testing \
//!     --example search_latency -- postgres [DOCUMENTS] [TEXTS] [QUERIES]
//! ```
//!
//! Defaults: 100,000 documents, 10,000 distinct texts, 50 queries per kind.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use veritrail_core::event::{Outcome, TenantId};
use veritrail_core::search::{SearchDocument, SearchFilter, TextHash};
use veritrail_store::search::VECTOR_DIMENSIONS;
use veritrail_store::testing::TestDatabase;

const MODEL: &str = "bench-model";
const ACTIONS: [&str; 12] = [
    "user.login",
    "user.logout",
    "user.password_change",
    "repo.read",
    "repo.push",
    "repo.delete",
    "report.export",
    "customer.export",
    "api_key.create",
    "api_key.revoke",
    "role.grant",
    "vpn.connect",
];
const RESOURCES: [&str; 6] = ["session", "repository", "report", "customer", "api_key", "role"];
const OUTCOMES: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Denied];
const ACTORS: usize = 400;
const CLUSTERS: usize = 48;

/// splitmix64: deterministic, no dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Skewed towards 0, like how often audit texts repeat.
    fn skewed(&mut self, bound: usize) -> usize {
        ((self.unit().powi(3) * bound as f32) as usize).min(bound - 1)
    }
}

/// One distinct event kind: who did what to which resource, how it ended.
struct Template {
    actor: usize,
    action: usize,
    resource: usize,
    outcome: Outcome,
    text: String,
}

fn templates(random: &mut Random, count: usize) -> Vec<Template> {
    (0..count)
        .map(|idx| {
            let (actor, action) = (random.skewed(ACTORS), random.below(ACTIONS.len()));
            let resource = action % RESOURCES.len();
            let outcome = OUTCOMES[random.skewed(OUTCOMES.len())];
            let text = format!(
                "user{actor} (User Number {actor}) did {} on {} r{} ({}) variant {idx}",
                ACTIONS[action].replace(['.', '_'], " "),
                RESOURCES[resource],
                idx % 97,
                outcome.as_str()
            );
            Template { actor, action, resource, outcome, text }
        })
        .collect()
}

fn hash_of(text: &str) -> TextHash {
    *veritrail_core::hash::sha256(text.as_bytes()).as_bytes()
}

fn normalized(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
    vector.iter_mut().for_each(|value| *value /= norm);
    vector
}

/// Vectors clustered around a few centres, as sentence embeddings of similar events are.
fn clustered_vector(random: &mut Random, centres: &[Vec<f32>], cluster: usize) -> Vec<f32> {
    normalized(centres[cluster].iter().map(|value| value + (random.unit() - 0.5) * 0.08).collect())
}

fn percentile(samples: &mut [Duration], fraction: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() - 1) as f64 * fraction).round() as usize]
}

async fn time_queries<F, Fut>(name: &str, queries: usize, mut run: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut samples = Vec::with_capacity(queries);
    let mut found = 0;
    for idx in 0..queries {
        let started = Instant::now();
        found += run(idx).await;
        samples.push(started.elapsed());
    }
    println!(
        "{name:<44} p50 {:>8.2?}  p95 {:>8.2?}  ({:.1} hits/query)",
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.95),
        found as f64 / queries as f64
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite");
    let number = |idx: usize, default: usize| args.get(idx).map_or(default, |raw| raw.parse().expect("a number"));
    let (documents, texts, queries) = (number(2, 100_000), number(3, 10_000), number(4, 50));
    let db = match backend {
        "sqlite" => TestDatabase::sqlite(),
        "postgres" => TestDatabase::postgres().await.expect("set VERITRAIL_TEST_PG_URL to a PostgreSQL with pgvector"),
        other => panic!("unknown backend {other:?}: use sqlite or postgres"),
    };
    let store = db.connect().await;
    let search = store.search.as_ref();
    let tenant_id = TenantId::parse("bench").expect("tenant");
    let tenant = &tenant_id;
    let mut random = Random(7);
    let templates = templates(&mut random, texts);
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("time");

    let started = Instant::now();
    let docs: Vec<SearchDocument> = (0..documents)
        .map(|seq| {
            let template = &templates[random.skewed(templates.len())];
            SearchDocument {
                seq: seq as u64,
                occurred_at: start + chrono::Duration::seconds(seq as i64 * 30),
                actor_id: format!("user{}", template.actor),
                actor_name: Some(format!("User Number {}", template.actor)),
                action: ACTIONS[template.action].to_owned(),
                resource_type: Some(RESOURCES[template.resource].to_owned()),
                outcome: template.outcome,
                ip: Some(format!("10.{}.{}.{}", template.actor % 4, template.actor % 250, seq % 250)),
                text: template.text.clone(),
                text_hash: hash_of(&template.text),
            }
        })
        .collect();
    for batch in docs.chunks(5_000) {
        search.put_documents(tenant, batch).await.expect("put documents");
    }
    let elapsed = started.elapsed();
    println!("{backend}: {documents} documents in {elapsed:.2?} ({:.0}/s)", documents as f64 / elapsed.as_secs_f64());

    let centres: Vec<Vec<f32>> =
        (0..CLUSTERS).map(|_| normalized((0..VECTOR_DIMENSIONS).map(|_| random.unit() - 0.5).collect())).collect();
    let started = Instant::now();
    let mut embedded = 0;
    let mut in_pending = Duration::ZERO;
    loop {
        let asked = Instant::now();
        let pending = search.pending_texts(tenant, MODEL, 512).await.expect("pending");
        in_pending += asked.elapsed();
        if pending.is_empty() {
            break;
        }
        let vectors: Vec<(TextHash, Vec<f32>)> = pending
            .iter()
            .map(|text| {
                let cluster = text.text.len() % CLUSTERS;
                (text.text_hash, clustered_vector(&mut random, &centres, cluster))
            })
            .collect();
        embedded += vectors.len();
        search.put_vectors(tenant, MODEL, &vectors).await.expect("put vectors");
    }
    let elapsed = started.elapsed();
    println!(
        "{backend}: {embedded} distinct texts embedded in {elapsed:.2?} without a model ({in_pending:.2?} in pending_texts, \
         the rest in put_vectors)"
    );
    let progress = search.progress(tenant, MODEL).await.expect("progress");
    println!("{backend}: progress {progress:?}");

    if backend == "postgres" {
        // What autovacuum does within a minute of a bulk load: without statistics the planner
        // misjudges how many rows the tenant has. SQLite is left as the server leaves it.
        db.execute("ANALYZE").await.expect("analyze");
    }

    let query_vectors: Vec<Vec<f32>> =
        (0..queries).map(|idx| clustered_vector(&mut random, &centres, idx % CLUSTERS)).collect();
    let any = &SearchFilter::default();
    let started = Instant::now();
    search.nearest(tenant, MODEL, &query_vectors[0], any, 20).await.expect("nearest");
    println!("{:<44} {:>8.2?}", "first nearest (SQLite loads its vector cache)", started.elapsed());

    time_queries("nearest, limit 20", queries, |idx| {
        let vector = &query_vectors[idx];
        async move { search.nearest(tenant, MODEL, vector, any, 20).await.expect("nearest").len() }
    })
    .await;
    let one_actor = SearchFilter { actors: vec!["user250".into()], ..SearchFilter::default() };
    time_queries("nearest, limit 20, one rare actor", queries, |idx| {
        let (vector, filter) = (&query_vectors[idx], &one_actor);
        async move { search.nearest(tenant, MODEL, vector, filter, 20).await.expect("nearest").len() }
    })
    .await;
    let last_day = SearchFilter {
        since: Some(start + chrono::Duration::seconds(documents as i64 * 30 - 86_400)),
        outcome: Some(Outcome::Failure),
        ..SearchFilter::default()
    };
    time_queries("nearest, limit 20, last day + failures", queries, |idx| {
        let (vector, filter) = (&query_vectors[idx], &last_day);
        async move { search.nearest(tenant, MODEL, vector, filter, 20).await.expect("nearest").len() }
    })
    .await;

    let questions: Vec<Vec<String>> = [
        vec!["failed", "login"],
        vec!["customer", "export"],
        vec!["password", "change", "denied"],
        vec!["vpn", "connect", "user12"],
        vec!["api", "key", "revoke"],
    ]
    .iter()
    .map(|words| words.iter().map(|word| word.to_string()).collect())
    .collect();
    time_queries("fulltext, limit 20", queries, |idx| {
        let terms = &questions[idx % questions.len()];
        async move { search.fulltext(tenant, terms, any, 20).await.expect("fulltext").len() }
    })
    .await;
    time_queries("fulltext, limit 20, last day + failures", queries, |idx| {
        let (terms, filter) = (&questions[idx % questions.len()], &last_day);
        async move { search.fulltext(tenant, terms, filter, 20).await.expect("fulltext").len() }
    })
    .await;
    let exports = SearchFilter { actions: vec!["customer.export".into()], ..SearchFilter::default() };
    time_queries("filtered, limit 50, one action", queries, |_| async {
        search.filtered(tenant, &exports, 50).await.expect("filtered").len()
    })
    .await;
    time_queries("filtered, limit 50, last day + failures", queries, |_| async {
        search.filtered(tenant, &last_day, 50).await.expect("filtered").len()
    })
    .await;
    time_queries("progress", queries, |_| async {
        search.progress(tenant, MODEL).await.expect("progress").indexed as usize
    })
    .await;
    time_queries("vocabulary, limit 200", queries, |_| async {
        search.vocabulary(tenant, 200).await.expect("vocabulary").actors.len()
    })
    .await;
}
