//! `veritrail eval search`: retrieval quality on a labelled CloudTrail data set.
//!
//! Imports the data set's CloudTrail files into a fresh store (a temporary SQLite database
//! unless `--database-url` names an empty one), indexes it with the local model, runs every
//! query of the queries file three ways in the same run — full-text only, vector only, hybrid —
//! and reports nDCG@10, recall@10 and MRR (binary relevance: the query's `relevant` event ids).
//!
//! The queries are for measuring. Nothing in the search path knows them; improving a number
//! means improving rendering, query understanding or retrieval for every question.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use veritrail_core::event::TenantId;
use veritrail_core::validate::Limits;
use veritrail_search::engine::{DEFAULT_ACTION_WEIGHT, DEFAULT_EXPAND_VERBS, DEFAULT_FUSION, Retrieval};
use veritrail_search::fusion::Fusion;
use veritrail_search::indexer::{Indexer, IndexerSettings};
use veritrail_search::{SearchEngine, SearchRequest};
use veritrail_store::{Store, StoreSettings};

use crate::config::Config;
use crate::search_setup::SearchModels;

/// Ranks scored.
const K: usize = 10;

/// Options of `veritrail eval search`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalSearchArgs {
    /// The data set directory (CloudTrail files under `raw/CloudTrail/`).
    #[arg(long, default_value = "../shared/data/invictus-aws-stratus")]
    pub dataset: PathBuf,
    /// Queries as JSON Lines: `{"id", "query", "relevant": [event ids]}` [default: the data
    /// set's `queries/queries.jsonl`].
    #[arg(long)]
    pub queries: Option<PathBuf>,
    /// An empty database to import into instead of a temporary SQLite file (e.g. PostgreSQL).
    #[arg(long)]
    pub database_url: Option<String>,
    /// `now` for the queries' time expressions [default: the end of the data set's day].
    #[arg(long)]
    pub now: Option<DateTime<Utc>>,
    /// Also write the report (Markdown) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print each query's scores.
    #[arg(long)]
    pub per_query: bool,
}

#[derive(Debug, Deserialize)]
struct Query {
    id: String,
    query: String,
    relevant: Vec<String>,
}

/// One query's scores.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scores {
    pub ndcg: f64,
    pub recall: f64,
    pub reciprocal_rank: f64,
}

/// Scores a ranking against the relevant ids (binary gains).
pub fn score(ranked: &[String], relevant: &HashSet<String>) -> Scores {
    let top = &ranked[..ranked.len().min(K)];
    let dcg: f64 = top
        .iter()
        .enumerate()
        .filter(|(_, id)| relevant.contains(*id))
        .map(|(rank, _)| 1.0 / ((rank + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..relevant.len().min(K)).map(|rank| 1.0 / ((rank + 2) as f64).log2()).sum();
    let hits = top.iter().filter(|id| relevant.contains(*id)).count();
    let first = ranked.iter().position(|id| relevant.contains(id));
    Scores {
        ndcg: if ideal > 0.0 { dcg / ideal } else { 0.0 },
        recall: if relevant.is_empty() { 0.0 } else { hits as f64 / relevant.len().min(K) as f64 },
        reciprocal_rank: first.map_or(0.0, |rank| 1.0 / (rank + 1) as f64),
    }
}

/// Runs the evaluation and prints the report.
pub async fn run(config: &Config, args: &EvalSearchArgs) -> anyhow::Result<()> {
    let queries_path = args.queries.clone().unwrap_or_else(|| args.dataset.join("queries/queries.jsonl"));
    let queries = read_queries(&queries_path)?;
    let files = cloudtrail_files(&args.dataset.join("raw/CloudTrail"))?;

    let scratch = tempfile::tempdir().context("create a scratch directory")?;
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", scratch.path().join("eval.db").display()),
    };
    let store = veritrail_store::connect(&url, &StoreSettings::default()).await.context("open the evaluation store")?;
    let tenant = TenantId::parse("eval").map_err(anyhow::Error::msg)?;
    if store.events.head(&tenant).await?.is_some_and(|head| head.next_seq > 0) {
        bail!("tenant \"eval\" of {} is not empty: give an empty database", veritrail_store::redact_url(&url));
    }
    let imported = crate::ingest_cmd::import_cloudtrail(&store, &tenant, &files, &Limits::default()).await?;

    let models = SearchModels::from_config(config)?;
    let Some(embedder) = models.embedder.get() else {
        bail!("the evaluation needs the embedding model: run `veritrail models fetch` first");
    };
    let indexer = indexer(&store, &models);
    let started = Instant::now();
    let report = indexer.index_tenant(&tenant).await?;
    let index_seconds = started.elapsed().as_secs_f64();

    let engine = SearchEngine::new(store.events.clone(), store.search.clone(), models.embedder.clone(), None);
    let now = args.now.unwrap_or_else(Utc::now);
    let methods = methods(&engine);
    let mut totals = vec![Scores::default(); methods.len()];
    // nDCG@10 of each method over the odd- and even-numbered queries: a choice between methods
    // that holds on both halves is less likely to be fitted to these queries.
    let mut halves = vec![[0.0_f64; 2]; methods.len()];
    let mut per_query = String::new();
    for (query_idx, query) in queries.iter().enumerate() {
        let relevant: HashSet<String> = query.relevant.iter().cloned().collect();
        let mut line = format!("| {} | {} |", query.id, query.relevant.len());
        let mut understood = String::new();
        for (idx, method) in methods.iter().enumerate() {
            let request = SearchRequest { query: query.query.clone(), limit: K as u32, now };
            let response = method.engine.search_with(&tenant, &request, method.retrieval).await?;
            let ranked: Vec<String> = response.results.iter().map(|result| result.event.id.clone()).collect();
            let scores = score(&ranked, &relevant);
            totals[idx].ndcg += scores.ndcg;
            totals[idx].recall += scores.recall;
            totals[idx].reciprocal_rank += scores.reciprocal_rank;
            halves[idx][query_idx % 2] += scores.ndcg;
            if idx < PER_QUERY_METHODS {
                let _ = write!(line, " {:.2} |", scores.ndcg);
            }
            if idx == HYBRID {
                understood = describe_filters(&response.interpretation);
            }
        }
        let _ = writeln!(per_query, "{line} {} | {understood} |", query.query);
    }

    let n = queries.len().max(1) as f64;
    let half_sizes = [queries.len().div_ceil(2).max(1) as f64, (queries.len() / 2).max(1) as f64];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} queries on {} events ({} imported), {} distinct texts embedded with {} in {:.1} s; backend {:?}\n",
        queries.len(),
        report.events,
        imported.created,
        report.texts_embedded,
        embedder.model_id(),
        index_seconds,
        store.backend
    );
    let _ =
        writeln!(out, "| method | nDCG@10 | recall@10 | MRR | nDCG@10 odd / even queries |\n|---|---:|---:|---:|---:|");
    for ((method, total), half) in methods.iter().zip(&totals).zip(&halves) {
        let _ = writeln!(
            out,
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} / {:.3} |",
            method.name,
            total.ndcg / n,
            total.recall / n,
            total.reciprocal_rank / n,
            half[0] / half_sizes[0],
            half[1] / half_sizes[1]
        );
    }
    let ratio = |base: f64| if base > 0.0 { totals[HYBRID].ndcg / base } else { f64::INFINITY };
    let _ = writeln!(
        out,
        "\nhybrid / full-text nDCG@10 = {:.2}x (BM25 over the question's words); {:.2}x (full text with verbs expanded)",
        ratio(totals[0].ndcg),
        ratio(totals[EXPANDED_FULLTEXT].ndcg)
    );
    if args.per_query {
        let _ = writeln!(
            out,
            "\n| query | relevant | full-text | vector | hybrid | text | understood as |\n|---|---:|---:|---:|---:|---|---|"
        );
        out.push_str(&per_query);
    }
    print!("{out}");
    if let Some(path) = &args.out {
        std::fs::write(path, &out).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}

/// Rows of the report: the first [`PER_QUERY_METHODS`] also get a per-query column.
const PER_QUERY_METHODS: usize = 3;
/// The row of the engine as the API runs it.
const HYBRID: usize = 2;
/// The row of full text with verbs expanded, as the hybrid engine's full-text list is made.
const EXPANDED_FULLTEXT: usize = 3;

/// One way of searching that the evaluation scores.
struct Method {
    name: String,
    engine: SearchEngine,
    retrieval: Retrieval,
}

/// Full text only, vector only, hybrid as the API runs it, then the other ways of expanding the
/// words and fusing the two lists, so a change of the defaults is a measured choice.
fn methods(engine: &SearchEngine) -> Vec<Method> {
    let method = |fusion: Fusion, expand: bool, retrieval: Retrieval| {
        let mut name = match retrieval {
            Retrieval::FullText => "full-text only".to_owned(),
            Retrieval::Vector => "vector only".to_owned(),
            Retrieval::Hybrid => format!("hybrid, {}", describe_fusion(fusion)),
        };
        if expand && retrieval != Retrieval::Vector {
            name.push_str(", verbs expanded");
        }
        Method { name, engine: engine.clone().with_fusion(fusion).with_verb_expansion(expand), retrieval }
    };
    // Row 0 is the baseline: BM25 over the question's own words.
    let mut methods = vec![
        method(DEFAULT_FUSION, false, Retrieval::FullText),
        method(DEFAULT_FUSION, DEFAULT_EXPAND_VERBS, Retrieval::Vector),
        method(DEFAULT_FUSION, DEFAULT_EXPAND_VERBS, Retrieval::Hybrid),
        method(DEFAULT_FUSION, true, Retrieval::FullText),
    ];
    methods[HYBRID].name.push_str(&format!(", action weight {DEFAULT_ACTION_WEIGHT} (as the API runs it)"));
    let mut uncompleted = method(DEFAULT_FUSION, DEFAULT_EXPAND_VERBS, Retrieval::Hybrid);
    uncompleted.name.push_str(", a list's missing scores counted as 0");
    uncompleted.engine = uncompleted.engine.with_score_completion(false);
    methods.push(uncompleted);
    for weight in [0.0, 0.05, 0.1, 0.2, 0.3] {
        if weight != DEFAULT_ACTION_WEIGHT {
            let mut other = method(DEFAULT_FUSION, DEFAULT_EXPAND_VERBS, Retrieval::Hybrid);
            other.name.push_str(&format!(", action weight {weight}"));
            other.engine = other.engine.with_action_weight(weight);
            methods.push(other);
        }
    }
    let mut fusions = vec![Fusion::DocumentRank, Fusion::TextRank];
    fusions.extend([0.2, 0.3, 0.4, 0.5, 0.6].map(|fulltext_weight| Fusion::Convex { fulltext_weight }));
    for fusion in fusions {
        for expand in [false, true] {
            if (fusion, expand) != (DEFAULT_FUSION, DEFAULT_EXPAND_VERBS) {
                let mut other = method(fusion, expand, Retrieval::Hybrid);
                if !matches!(fusion, Fusion::Convex { .. }) {
                    // The action weight is on the convex scale (0 to 1); rank scores are ~1/60.
                    other.engine = other.engine.with_action_weight(0.0);
                }
                methods.push(other);
            }
        }
    }
    methods
}

fn describe_fusion(fusion: Fusion) -> String {
    match fusion {
        Fusion::DocumentRank => "reciprocal rank fusion by document".into(),
        Fusion::TextRank => "reciprocal rank fusion by text".into(),
        Fusion::Convex { fulltext_weight } => format!("convex, full-text weight {fulltext_weight}"),
    }
}

/// The filters taken from a question, in short ("outcome=denied action=…; text").
fn describe_filters(interpretation: &veritrail_core::query::Interpretation) -> String {
    let mut parts = Vec::new();
    if interpretation.since.is_some() || interpretation.until.is_some() {
        parts.push("time".to_owned());
    }
    if let Some(outcome) = interpretation.outcome {
        parts.push(format!("outcome={}", outcome.as_str()));
    }
    for (name, values) in [
        ("actor", &interpretation.actors),
        ("action", &interpretation.actions),
        ("type", &interpretation.resource_types),
        ("ip", &interpretation.ips),
    ] {
        if !values.is_empty() {
            parts.push(format!("{name}={}", values.join("/")));
        }
    }
    parts.push(format!("\"{}\"", interpretation.text));
    parts.join(" ")
}

fn indexer(store: &Store, models: &SearchModels) -> Indexer {
    Indexer::new(
        store.events.clone(),
        store.search.clone(),
        models.embedder.clone(),
        IndexerSettings { embed_batch: 128, ..IndexerSettings::default() },
    )
}

fn read_queries(path: &Path) -> anyhow::Result<Vec<Query>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(idx, line)| {
            serde_json::from_str(line).with_context(|| format!("{} line {}: not a query", path.display(), idx + 1))
        })
        .collect()
}

/// The `.json` files of `dir`, sorted by name.
pub fn cloudtrail_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no CloudTrail .json files in {}", dir.display());
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let relevant: HashSet<String> = ids(&["a", "b"]).into_iter().collect();
        let scores = score(&ids(&["a", "b", "c"]), &relevant);
        assert!((scores.ndcg - 1.0).abs() < 1e-12);
        assert!((scores.recall - 1.0).abs() < 1e-12);
        assert!((scores.reciprocal_rank - 1.0).abs() < 1e-12);
    }

    #[test]
    fn late_hits_score_less() {
        let relevant: HashSet<String> = ids(&["a"]).into_iter().collect();
        let scores = score(&ids(&["x", "y", "a"]), &relevant);
        assert!((scores.ndcg - 0.5).abs() < 1e-12, "1/log2(4) = 0.5, got {}", scores.ndcg);
        assert!((scores.reciprocal_rank - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(score(&ids(&["x"]), &relevant).ndcg, 0.0);
    }

    #[test]
    fn recall_is_capped_at_k() {
        let relevant: HashSet<String> = (0..50).map(|n| n.to_string()).collect();
        let ranked: Vec<String> = (0..10).map(|n| n.to_string()).collect();
        assert!((score(&ranked, &relevant).recall - 1.0).abs() < 1e-12);
    }
}
