//! A question in, ranked events and a cited answer out.
//!
//! 1. **Understand** the question against the tenant's own vocabulary
//!    ([`veritrail_core::query::interpret`]): time range, outcome, actors, actions, resource types
//!    and IPs become filters; the remaining words are the semantic part.
//! 2. **Retrieve** candidates twice, both with the filters applied in the database: full-text
//!    (BM25) over the words and nearest neighbours of the embedded words.
//! 3. **Fuse** the two lists ([`crate::fusion`]; by default half the full-text score relative to
//!    the best, half the cosine similarity, each candidate scored by both retrievers even when
//!    only one list held it). A question that is only
//!    filters ("denied calls yesterday") lists the matching events, newest first.
//! 4. **Answer** from the top results ([`crate::answer`]), citing event ids and seqs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use veritrail_core::event::{StoredEvent, TenantId};
use veritrail_core::query::{Interpretation, Vocabulary, interpret};
use veritrail_core::search::{IndexProgress, SearchFilter, SearchHit, SearchIndex};
use veritrail_core::store::{EventLog, StoreError};
use veritrail_models::chat::ChatModel;
use veritrail_models::embed::EmbedError;

use crate::action_match::ActionMatcher;
use crate::answer::{Answer, answer};
use crate::expand::expand_verbs;
use crate::fusion::{Completions, Fusion, fuse_completed};
use crate::slot::EmbedderSlot;

/// How long a tenant's vocabulary is reused before it is read again.
const VOCABULARY_TTL: Duration = Duration::from_secs(30);
/// Most vocabulary entries of each kind.
const VOCABULARY_LIMIT: u32 = 2_000;
/// Candidates each retriever contributes, as a multiple of the requested results.
const CANDIDATE_FACTOR: u32 = 4;
const MIN_CANDIDATES: u32 = 50;
/// How hybrid search combines its two lists (see `veritrail eval search` for the comparison).
pub const DEFAULT_FUSION: Fusion = Fusion::Convex { fulltext_weight: 0.5 };
/// Whether full-text terms are expanded with API verbs (see `veritrail eval search`).
pub const DEFAULT_EXPAND_VERBS: bool = true;

/// Whether convex fusion looks up the missing score of candidates one list did not hold (see
/// `veritrail eval search`).
pub const DEFAULT_COMPLETE_SCORES: bool = true;

/// How much naming a candidate's whole action adds to its fused score (see `veritrail eval
/// search`).
pub const DEFAULT_ACTION_WEIGHT: f64 = 0.1;

/// Which retrievers to use. The API always uses [`Retrieval::Hybrid`]; the evaluation compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Retrieval {
    Hybrid,
    FullText,
    Vector,
}

/// One search.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub limit: u32,
    /// The time relative expressions ("yesterday") refer to.
    pub now: DateTime<Utc>,
}

/// One ranked event.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub event: StoredEvent,
    pub score: f64,
    /// Which retrievers found it (`fulltext`, `vector`) and whether filters applied (`filter`).
    pub matched: Vec<&'static str>,
}

/// The answer to a search.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResponse {
    pub interpretation: Interpretation,
    pub results: Vec<SearchResult>,
    pub answer: Answer,
    /// `hybrid`, or `keyword` while no embedding model is loaded.
    pub mode: &'static str,
}

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("embedding the question failed: {0}")]
    Embed(#[from] EmbedError),
}

/// Searches one store.
#[derive(Clone)]
pub struct SearchEngine {
    events: Arc<dyn EventLog>,
    index: Arc<dyn SearchIndex>,
    embedder: EmbedderSlot,
    chat: Option<Arc<dyn ChatModel>>,
    fusion: Fusion,
    expand_verbs: bool,
    complete_scores: bool,
    action_weight: f64,
    vocabularies: Arc<Mutex<VocabularyCache>>,
}

/// Each tenant's vocabulary and when it was read.
type VocabularyCache = HashMap<TenantId, (Instant, Arc<Vocabulary>)>;

impl SearchEngine {
    pub fn new(
        events: Arc<dyn EventLog>,
        index: Arc<dyn SearchIndex>,
        embedder: EmbedderSlot,
        chat: Option<Arc<dyn ChatModel>>,
    ) -> Self {
        Self {
            events,
            index,
            embedder,
            chat,
            fusion: DEFAULT_FUSION,
            expand_verbs: DEFAULT_EXPAND_VERBS,
            complete_scores: DEFAULT_COMPLETE_SCORES,
            action_weight: DEFAULT_ACTION_WEIGHT,
            vocabularies: Arc::default(),
        }
    }

    /// The same engine with full-text terms expanded by [`crate::expand::expand_verbs`] or not.
    pub fn with_verb_expansion(mut self, expand: bool) -> Self {
        self.expand_verbs = expand;
        self
    }

    /// The same engine with or without score completion: convex fusion scoring each candidate
    /// with both retrievers, not only the one that found it.
    pub fn with_score_completion(mut self, complete: bool) -> Self {
        self.complete_scores = complete;
        self
    }

    /// The same engine adding `weight` x the share of each candidate's action the question names
    /// ([`crate::action_match`]) to its fused score; 0 turns it off.
    pub fn with_action_weight(mut self, weight: f64) -> Self {
        self.action_weight = weight;
        self
    }

    /// The same engine combining full-text and vector results with `fusion`.
    pub fn with_fusion(mut self, fusion: Fusion) -> Self {
        self.fusion = fusion;
        self
    }

    /// Whether semantic (vector) search is available.
    pub fn semantic_enabled(&self) -> bool {
        self.embedder.is_loaded()
    }

    /// The embedding model in use, if any.
    pub fn model_id(&self) -> Option<String> {
        self.embedder.get().map(|embedder| embedder.model_id().to_owned())
    }

    /// How far indexing has got for `tenant` (vectors counted for the model in use).
    pub async fn progress(&self, tenant: &TenantId) -> Result<IndexProgress, StoreError> {
        self.index.progress(tenant, self.model_id().as_deref().unwrap_or_default()).await
    }

    /// Answers `request` with hybrid retrieval.
    pub async fn search(&self, tenant: &TenantId, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        self.search_with(tenant, request, Retrieval::Hybrid).await
    }

    /// Answers `request` with the chosen retrievers.
    pub async fn search_with(
        &self,
        tenant: &TenantId,
        request: &SearchRequest,
        retrieval: Retrieval,
    ) -> Result<SearchResponse, SearchError> {
        let vocabulary = self.vocabulary(tenant).await?;
        let interpretation = interpret(&request.query, request.now, &vocabulary);
        let filter = filter_of(&interpretation);
        let filtered = filter != SearchFilter::default();
        let terms = terms_of(&interpretation.text);
        let limit = request.limit.max(1);
        let candidates = (limit * CANDIDATE_FACTOR).max(MIN_CANDIDATES);
        let embedder = self.embedder.get();
        let mode = if embedder.is_some() { "hybrid" } else { "keyword" };

        let use_fulltext = retrieval != Retrieval::Vector;
        let use_vector = retrieval != Retrieval::FullText && embedder.is_some();
        // The two retrievers run at once: full text waits on the database while the question is
        // embedded on the model's threads.
        let fulltext_terms = if self.expand_verbs { expand_verbs(&terms) } else { terms.clone() };
        let fulltext = async {
            if fulltext_terms.is_empty() || !use_fulltext {
                return Ok::<_, SearchError>(Vec::new());
            }
            Ok(self.index.fulltext(tenant, &fulltext_terms, &filter, candidates).await?)
        };
        let complete = self.complete_scores && use_fulltext && matches!(self.fusion, Fusion::Convex { .. });
        let vector = async {
            let Some(embedder) = embedder.as_ref().filter(|_| use_vector && !terms.is_empty()) else {
                return Ok::<_, SearchError>((Vec::new(), None, Vec::new()));
            };
            let phrase = if interpretation.phrase.is_empty() { &interpretation.text } else { &interpretation.phrase };
            let vector = embedder.embed(std::slice::from_ref(phrase)).await?.pop().unwrap_or_default();
            let hits = self.index.nearest(tenant, embedder.model_id(), &vector, &filter, candidates).await?;
            // The words' scores of these candidates are looked up while full text may still be
            // ranking (fusion ignores those of candidates the full-text list holds anyway).
            let word_scores = if complete {
                let seqs: Vec<u64> = hits.iter().map(|hit| hit.seq).collect();
                self.index.fulltext_scores(tenant, &fulltext_terms, &seqs).await?
            } else {
                Vec::new()
            };
            Ok((hits, Some((embedder.model_id().to_owned(), vector)), word_scores))
        };
        let (fulltext, (vector, question, word_scores)) = tokio::try_join!(fulltext, vector)?;
        let completions = match &question {
            Some((model, question)) if complete => Completions {
                fulltext: word_scores,
                vector: self.similarities(tenant, model, question, &fulltext, &vector).await?,
            },
            _ => Completions::default(),
        };
        let lists: [Vec<SearchHit>; 2] = [fulltext, vector];

        let boost_actions = retrieval == Retrieval::Hybrid && self.action_weight > 0.0;
        let ranked: Vec<(u64, f64, Vec<&'static str>)> = if terms.is_empty() {
            // Only filters (or nothing at all): the matching events, newest first.
            self.index
                .filtered(tenant, &filter, limit)
                .await?
                .into_iter()
                .map(|hit| (hit.seq, hit.score, if filtered { vec!["filter"] } else { Vec::new() }))
                .collect()
        } else {
            // Reordering by action looks past the first `limit`, at every candidate a list held.
            let depth = if boost_actions { candidates } else { limit };
            fuse_completed(&lists[0], &lists[1], &completions, self.fusion)
                .into_iter()
                .take(depth as usize)
                .map(|item| {
                    let mut matched: Vec<&'static str> =
                        item.sources.iter().map(|&source| if source == 0 { "fulltext" } else { "vector" }).collect();
                    matched.sort_unstable();
                    if filtered {
                        matched.push("filter");
                    }
                    (item.key, item.score, matched)
                })
                .collect()
        };

        let seqs: Vec<u64> = ranked.iter().map(|(seq, _, _)| *seq).collect();
        let mut by_seq: HashMap<u64, StoredEvent> =
            self.events.events_at(tenant, &seqs).await?.into_iter().map(|event| (event.seq, event)).collect();
        let mut results: Vec<SearchResult> = ranked
            .into_iter()
            .filter_map(|(seq, score, matched)| by_seq.remove(&seq).map(|event| SearchResult { event, score, matched }))
            .collect();
        if boost_actions && !terms.is_empty() {
            let matcher = ActionMatcher::new(&fulltext_terms);
            for result in &mut results {
                result.score += self.action_weight * matcher.share(&result.event.action);
            }
            // Stable: equal scores keep the fused order.
            results.sort_by(|a, b| b.score.total_cmp(&a.score));
            results.truncate(limit as usize);
        }
        let answer = answer(&request.query, &interpretation, &results, self.chat.as_deref()).await;
        Ok(SearchResponse { interpretation, results, answer, mode })
    }

    /// The cosine similarity of the candidates only the full-text list holds.
    async fn similarities(
        &self,
        tenant: &TenantId,
        model: &str,
        question: &[f32],
        fulltext: &[SearchHit],
        vector: &[SearchHit],
    ) -> Result<Vec<SearchHit>, SearchError> {
        let known: HashSet<u64> = vector.iter().map(|hit| hit.seq).collect();
        let only_fulltext: Vec<u64> = fulltext.iter().map(|hit| hit.seq).filter(|seq| !known.contains(seq)).collect();
        Ok(self.index.similarities(tenant, model, question, &only_fulltext).await?)
    }

    /// The tenant's vocabulary, read at most every [`VOCABULARY_TTL`].
    async fn vocabulary(&self, tenant: &TenantId) -> Result<Arc<Vocabulary>, StoreError> {
        let cached = self
            .vocabularies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(tenant)
            .filter(|(read_at, _)| read_at.elapsed() < VOCABULARY_TTL)
            .map(|(_, vocabulary)| vocabulary.clone());
        if let Some(vocabulary) = cached {
            return Ok(vocabulary);
        }
        let vocabulary = Arc::new(self.index.vocabulary(tenant, VOCABULARY_LIMIT).await?);
        self.vocabularies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(tenant.clone(), (Instant::now(), vocabulary.clone()));
        Ok(vocabulary)
    }
}

/// The database filters of an interpretation.
pub fn filter_of(interpretation: &Interpretation) -> SearchFilter {
    SearchFilter {
        since: interpretation.since,
        until: interpretation.until,
        actors: interpretation.actors.clone(),
        actions: interpretation.actions.clone(),
        resource_types: interpretation.resource_types.clone(),
        outcome: interpretation.outcome,
        ips: interpretation.ips.clone(),
    }
}

/// Lower-case words of the semantic part, for full-text search: letters and digits only, at
/// least two characters, each once.
pub fn terms_of(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if word.chars().count() >= 2 && !terms.contains(&word) {
            terms.push(word);
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_plain_lower_case_words() {
        assert_eq!(terms_of("Stop CloudTrail-logging, a \"NEAR\" x*"), ["stop", "cloudtrail", "logging", "near"]);
        assert!(terms_of("  ? ").is_empty());
    }
}
