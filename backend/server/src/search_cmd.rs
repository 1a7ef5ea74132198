//! `veritrail search "QUESTION"` and `veritrail models fetch`.
//!
//! The CLI searches the database directly, like `verify`: it first brings the tenant's index up
//! to date (documents always, vectors when the model is installed), so it also works when no
//! server is running.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use veritrail_core::event::{TenantId, format_time};
use veritrail_models::fetch::{ModelSource, fetch_model, model_present, verify_model};
use veritrail_search::indexer::{Indexer, IndexerSettings};
use veritrail_search::{SearchEngine, SearchRequest, SearchResponse};
use veritrail_store::Store;

use crate::config::Config;
use crate::search_setup::SearchModels;

/// Indexes `tenant` and answers `query`.
pub async fn search(
    store: &Store,
    config: &Config,
    tenant: &TenantId,
    query: &str,
    limit: u32,
    now: Option<DateTime<Utc>>,
) -> anyhow::Result<SearchResponse> {
    let models = SearchModels::from_config(config)?;
    let indexer =
        Indexer::new(store.events.clone(), store.search.clone(), models.embedder.clone(), IndexerSettings::default());
    let report = indexer.index_tenant(tenant).await.context("bring the search index up to date")?;
    if report.documents_added > 0 || report.texts_embedded > 0 {
        eprintln!("indexed {} new events ({} new texts embedded)", report.documents_added, report.texts_embedded);
    }
    let engine = SearchEngine::new(store.events.clone(), store.search.clone(), models.embedder.clone(), models.chat);
    let request = SearchRequest { query: query.to_owned(), limit, now: now.unwrap_or_else(Utc::now) };
    Ok(engine.search(tenant, &request).await?)
}

/// A human-readable rendering of a search response.
pub fn describe(response: &SearchResponse) -> String {
    let mut out = String::new();
    let understood = &response.interpretation;
    let mut filters = Vec::new();
    if let Some(since) = understood.since {
        filters.push(format!("since {}", format_time(&since)));
    }
    if let Some(until) = understood.until {
        filters.push(format!("until {}", format_time(&until)));
    }
    for (label, values) in [
        ("actor", &understood.actors),
        ("action", &understood.actions),
        ("resource type", &understood.resource_types),
        ("ip", &understood.ips),
    ] {
        if !values.is_empty() {
            filters.push(format!("{label} {}", values.join(" or ")));
        }
    }
    if let Some(outcome) = understood.outcome {
        filters.push(format!("outcome {}", outcome.as_str()));
    }
    let _ = writeln!(
        out,
        "understood: {}{}",
        if filters.is_empty() { "no filters".to_owned() } else { filters.join(", ") },
        if understood.text.is_empty() { String::new() } else { format!("; looking for \"{}\"", understood.text) }
    );
    if response.mode == "keyword" {
        let _ = writeln!(out, "(semantic search is off: no embedding model; run `veritrail models fetch`)");
    }
    let _ = writeln!(out, "\n{}\n", response.answer.text);
    for (rank, result) in response.results.iter().enumerate() {
        let event = &result.event;
        let _ = writeln!(
            out,
            "{:>3}. seq {:<7} {}  {:<40} {:<45} {:<8} [{}]  id {}",
            rank + 1,
            event.seq,
            format_time(&event.occurred_at),
            truncate(event.actor.name.as_deref().unwrap_or(&event.actor.id), 40),
            truncate(&event.action, 45),
            event.outcome.as_str(),
            result.matched.join(","),
            event.id
        );
    }
    if response.results.is_empty() {
        let _ = writeln!(out, "no events found");
    }
    out
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(width.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// `veritrail models fetch`: downloads and verifies the local embedding model unless it is
/// already present and intact.
pub async fn fetch(dir: &Path, source: ModelSource) -> anyhow::Result<()> {
    if model_present(dir) && verify_model(dir).is_ok() {
        println!("the embedding model is already installed in {} (checksums verified)", dir.display());
        return Ok(());
    }
    fetch_model(dir, source).await.with_context(|| format!("fetch the embedding model into {}", dir.display()))?;
    verify_model(dir).context("verify the fetched model")?;
    println!("installed the embedding model in {} (checksums verified)", dir.display());
    Ok(())
}
