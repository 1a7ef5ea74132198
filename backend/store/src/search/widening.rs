//! The widening search shared by both backends and both kinds of ranking.
//!
//! A search ranks distinct *texts* (by similarity or full-text relevance), then takes the newest
//! documents of each text that pass the filter. A selective filter can reject the documents of
//! the best texts, so candidates are taken in rounds that grow four-fold until `limit` documents
//! are found, no remaining text could still rank among them, or every text has been considered.

use std::collections::HashSet;

use veritrail_core::search::{SearchHit, TextHash};
use veritrail_core::store::StoreError;

/// Texts in the first round of a nearest search (at least `limit`).
pub(super) const FIRST_ROUND: usize = 16;
/// Texts in the first round of a full-text search under a filter that passes many texts: the
/// filter may reject most of the best texts' documents (a time range does), and ranking costs
/// the same whatever the round's size (every matching text is scored before the best are
/// taken), so one large round replaces several small ones.
pub(super) const FILTERED_FIRST_ROUND: usize = 1_024;
/// Growth of the candidate set from one round to the next.
const ROUND_GROWTH: usize = 4;

/// A text and its score (similarity or relevance: higher is better).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ScoredText {
    pub hash: TextHash,
    pub score: f64,
}

/// One backend's queries for a widening search.
pub(super) trait TextRounds {
    /// The best `size` texts, best first (fewer when there are no more).
    async fn texts(&mut self, size: usize) -> Result<Vec<ScoredText>, StoreError>;

    /// Up to `limit` newest documents passing the filter of each of `texts`, scored with their
    /// text's score.
    async fn documents(&mut self, texts: &[ScoredText]) -> Result<Vec<SearchHit>, StoreError>;
}

/// The best documents found so far, and which texts have been looked at.
#[derive(Debug)]
pub(super) struct NearestHits {
    limit: usize,
    hits: Vec<SearchHit>,
    considered: HashSet<TextHash>,
}

impl NearestHits {
    pub fn new(limit: usize) -> Self {
        Self { limit, hits: Vec::new(), considered: HashSet::new() }
    }

    /// Keeps the candidates not looked at before (in their order) and marks them looked at.
    pub fn fresh(&mut self, candidates: Vec<ScoredText>) -> Vec<ScoredText> {
        candidates.into_iter().filter(|text| self.considered.insert(text.hash)).collect()
    }

    /// Whether a text with this similarity could still place a document among the best `limit`.
    /// An equal similarity could (a newer seq wins the tie).
    pub fn could_improve(&self, similarity: f64) -> bool {
        self.hits.len() < self.limit || self.hits.last().is_some_and(|worst| similarity >= worst.score)
    }

    /// Adds documents of one round's texts.
    pub fn add(&mut self, found: impl IntoIterator<Item = SearchHit>) {
        self.hits.extend(found);
        self.hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| b.seq.cmp(&a.seq)));
        self.hits.truncate(self.limit);
    }

    pub fn finish(self) -> Vec<SearchHit> {
        self.hits
    }
}

/// Candidate texts per document lookup: the first lookup reads few texts, since the best texts
/// usually have `limit` documents between them; later lookups grow four-fold up to the most.
const FIRST_TEXT_CHUNK: usize = 8;
const TEXT_CHUNK: usize = 256;

/// Turns ranked texts into the best `limit` documents, each scored with its text's score. The
/// caller loops:
///
/// ```text
/// while let Some(size) = widening.next_size() {
///     widening.offer(best `size` texts, best first, size);
///     while let Some(chunk) = widening.next_chunk() {
///         widening.add(newest matching documents of the chunk's texts);
///     }
/// }
/// ```
///
/// Rounds rank `limit` texts (at least [`FIRST_ROUND`]), then four times as many each time;
/// texts already looked at are skipped; it stops as soon as no further text can beat the hits
/// found, or when a round returns fewer texts than asked.
#[derive(Debug)]
pub(super) struct Widening {
    hits: NearestHits,
    /// The size of the next round.
    size: usize,
    /// Offered texts whose documents have not been read, best first.
    pending: std::collections::VecDeque<ScoredText>,
    /// Texts in the next chunk.
    chunk: usize,
    done: bool,
}

impl Widening {
    pub fn new(limit: usize) -> Self {
        Self::with_first_round(limit, FIRST_ROUND)
    }

    /// Like [`Self::new`], with a first round of `first_round` texts (at least `limit`).
    pub fn with_first_round(limit: usize, first_round: usize) -> Self {
        Self {
            hits: NearestHits::new(limit),
            size: limit.max(first_round),
            pending: std::collections::VecDeque::new(),
            chunk: FIRST_TEXT_CHUNK,
            done: false,
        }
    }

    /// How many texts the next round should rank, or `None` when the search is complete.
    pub fn next_size(&mut self) -> Option<usize> {
        if self.done {
            return None;
        }
        let size = self.size;
        self.size = size.saturating_mul(ROUND_GROWTH);
        Some(size)
    }

    /// Takes the best `size` texts (fewer when there are no more).
    pub fn offer(&mut self, texts: Vec<ScoredText>, size: usize) {
        if texts.len() < size {
            self.done = true;
        }
        let fresh = self.hits.fresh(texts);
        self.pending.extend(fresh);
    }

    /// The next texts whose documents are worth reading.
    pub fn next_chunk(&mut self) -> Option<Vec<ScoredText>> {
        let best = self.pending.front()?.score;
        if !self.hits.could_improve(best) {
            self.pending.clear();
            self.done = true;
            return None;
        }
        let take = self.chunk.min(self.pending.len());
        self.chunk = (self.chunk * ROUND_GROWTH).min(TEXT_CHUNK);
        Some(self.pending.drain(..take).collect())
    }

    pub fn add(&mut self, found: impl IntoIterator<Item = SearchHit>) {
        self.hits.add(found);
    }

    pub fn finish(self) -> Vec<SearchHit> {
        self.hits.finish()
    }

    /// Runs the rounds (the loop above) to the end and returns the best documents.
    pub async fn run(mut self, rounds: &mut impl TextRounds) -> Result<Vec<SearchHit>, StoreError> {
        while let Some(size) = self.next_size() {
            let texts = rounds.texts(size).await?;
            self.take(texts, size, rounds).await?;
        }
        Ok(self.finish())
    }

    /// Offers one round's texts (`size` were asked for) and reads the documents of those that
    /// can still place among the best.
    pub async fn take(
        &mut self,
        texts: Vec<ScoredText>,
        size: usize,
        rounds: &mut impl TextRounds,
    ) -> Result<(), StoreError> {
        self.offer(texts, size);
        while let Some(chunk) = self.next_chunk() {
            self.add(rounds.documents(&chunk).await?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_keep_the_best_with_newest_first_on_ties() {
        let mut hits = NearestHits::new(2);
        assert!(hits.could_improve(0.1));
        hits.add([
            SearchHit { seq: 1, score: 0.9 },
            SearchHit { seq: 5, score: 0.5 },
            SearchHit { seq: 7, score: 0.9 },
        ]);
        assert!(!hits.could_improve(0.8));
        assert!(hits.could_improve(0.9));
        assert_eq!(hits.finish().iter().map(|hit| hit.seq).collect::<Vec<_>>(), vec![7, 1]);
    }

    fn texts(range: std::ops::Range<u8>) -> Vec<ScoredText> {
        range.map(|idx| ScoredText { hash: [idx; 32], score: 1.0 - f64::from(idx) / 1000.0 }).collect()
    }

    #[test]
    fn rounds_grow_from_the_limit_and_skip_texts_seen() {
        let mut widening = Widening::new(5);
        assert_eq!(widening.next_size(), Some(16));
        widening.offer(texts(0..16), 16);
        assert_eq!(widening.next_chunk().map(|chunk| chunk.len()), Some(FIRST_TEXT_CHUNK));
        assert_eq!(widening.next_chunk().map(|chunk| chunk.len()), Some(16 - FIRST_TEXT_CHUNK), "the rest");
        assert_eq!(widening.next_chunk(), None);
        assert_eq!(widening.next_size(), Some(64));
        widening.offer(texts(0..64), 64);
        let second = widening.next_chunk().expect("new texts");
        assert_eq!(second.first().map(|text| text.hash[0]), Some(16), "texts of the first round are not read again");
        assert_eq!(second.len(), 48, "chunks grow four-fold");
        assert_eq!(Widening::new(100).next_size(), Some(100));
    }

    #[test]
    fn widening_stops_when_texts_run_out_or_cannot_improve() {
        let mut short = Widening::new(5);
        let size = short.next_size().expect("first round");
        short.offer(texts(0..3), size);
        assert!(short.next_chunk().is_some());
        assert_eq!(short.next_size(), None, "fewer texts than asked: there are no more");

        let mut full = Widening::new(2);
        let size = full.next_size().expect("first round");
        full.offer(texts(0..16), size);
        full.next_chunk().expect("chunk");
        full.add([SearchHit { seq: 1, score: 2.0 }, SearchHit { seq: 2, score: 2.0 }]);
        full.offer(texts(16..32), 64);
        assert_eq!(full.next_chunk(), None, "no text scores above the hits found");
        assert_eq!(full.next_size(), None);
        assert_eq!(full.finish().len(), 2);
    }
}
