//! Vector arithmetic and the widening nearest-neighbour search shared by both backends.
//!
//! `nearest` ranks distinct *texts* by similarity, then takes the newest documents of each text
//! that pass the filter. A selective filter can reject the documents of the most similar texts, so
//! candidates are taken in rounds that grow four-fold until `limit` documents are found, no
//! remaining text could still rank among them, or every text has been considered.

use std::collections::{HashMap, HashSet};

use veritrail_core::search::{SearchHit, TextHash};
use veritrail_core::store::StoreError;

use super::VECTOR_DIMENSIONS;

/// Texts in the first round of a nearest search (at least `limit`).
pub(super) const FIRST_ROUND: usize = 16;
/// Texts in the first round of a full-text search under a filter that passes many texts: the
/// filter may reject most of the best texts' documents (a time range does), and ranking costs
/// the same whatever the round's size (every matching text is scored before the best are
/// taken), so one large round replaces several small ones.
pub(super) const FILTERED_FIRST_ROUND: usize = 1_024;
/// Growth of the candidate set from one round to the next.
const ROUND_GROWTH: usize = 4;

/// Encodes a vector as the little-endian `f32` BLOB SQLite stores.
pub(super) fn to_blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|value| value.to_le_bytes()).collect()
}

/// Decodes a stored BLOB, refusing one of the wrong length.
pub(super) fn from_blob(blob: &[u8]) -> Result<impl Iterator<Item = f32> + '_, StoreError> {
    if blob.len() != VECTOR_DIMENSIONS * 4 {
        return Err(StoreError::Corrupt(format!(
            "stored vector of {} bytes instead of {}",
            blob.len(),
            VECTOR_DIMENSIONS * 4
        )));
    }
    Ok(blob.chunks_exact(4).map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])))
}

/// Scales `vector` to unit length (a zero vector stays zero), so a dot product is the cosine.
pub(super) fn normalize(vector: &mut [f32]) {
    let norm = dot(vector, vector).sqrt();
    if norm > 0.0 {
        for value in vector.iter_mut() {
            *value /= norm;
        }
    }
}

/// Dot product of two equally long vectors.
///
/// Sixteen independent partial sums: floating-point addition is not associative, so the compiler
/// may not reorder a plain sum; separate lanes let it use vector registers.
pub(super) fn dot(left: &[f32], right: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut sums = [0.0_f32; LANES];
    let left_chunks = left.chunks_exact(LANES);
    let right_chunks = right.chunks_exact(LANES);
    let tail: f32 = left_chunks.remainder().iter().zip(right_chunks.remainder()).map(|(a, b)| a * b).sum();
    for (a, b) in left_chunks.zip(right_chunks) {
        for lane in 0..LANES {
            sums[lane] += a[lane] * b[lane];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// The distinct texts' vectors of one tenant and model, normalised, in one flat array.
#[derive(Debug, Clone, Default)]
pub(super) struct VectorSet {
    hashes: Vec<TextHash>,
    values: Vec<f32>,
    positions: HashMap<TextHash, usize>,
}

impl VectorSet {
    /// Adds one text's vector (normalised on the way in).
    pub fn push(&mut self, hash: TextHash, vector: impl Iterator<Item = f32>) {
        let start = self.values.len();
        self.values.extend(vector);
        debug_assert_eq!(self.values.len() - start, VECTOR_DIMENSIONS);
        normalize(&mut self.values[start..]);
        self.positions.insert(hash, self.hashes.len());
        self.hashes.push(hash);
    }

    /// Cosine similarity of one text to `query` (already normalised), if the text has a vector.
    pub fn similarity_of(&self, hash: &TextHash, query: &[f32]) -> Option<f32> {
        let start = self.positions.get(hash)? * VECTOR_DIMENSIONS;
        Some(dot(&self.values[start..start + VECTOR_DIMENSIONS], query))
    }

    pub fn hash(&self, idx: usize) -> TextHash {
        self.hashes[idx]
    }

    /// Cosine similarity of every text to `query` (already normalised).
    pub fn similarities(&self, query: &[f32]) -> Vec<f32> {
        self.values.chunks_exact(VECTOR_DIMENSIONS).map(|vector| dot(vector, query)).collect()
    }
}

/// Texts ranked by similarity, revealed best first in growing prefixes so that a search that
/// stops early never sorts them all.
#[derive(Debug)]
pub(super) struct Ranking {
    similarities: Vec<f32>,
    order: Vec<u32>,
    ranked: usize,
}

impl Ranking {
    pub fn new(similarities: Vec<f32>) -> Self {
        let order = (0..similarities.len()).map(|idx| u32::try_from(idx).unwrap_or(u32::MAX)).collect();
        Self { similarities, order, ranked: 0 }
    }

    /// Like [`Self::new`], ranking only the texts `allowed` accepts (by index).
    pub fn among(similarities: Vec<f32>, allowed: impl Fn(usize) -> bool) -> Self {
        let order = (0..similarities.len())
            .filter(|idx| allowed(*idx))
            .map(|idx| u32::try_from(idx).unwrap_or(u32::MAX))
            .collect();
        Self { similarities, order, ranked: 0 }
    }

    /// Ranks the best `k` texts (or all) and returns all ranked so far, best first.
    pub fn top(&mut self, k: usize) -> &[u32] {
        self.rank_to(k);
        &self.order[..self.ranked]
    }

    pub fn similarity(&self, idx: u32) -> f32 {
        self.similarities[idx as usize]
    }

    /// Ranks the best `k` texts (or all) and returns those ranked by this call, best first.
    /// Ties go to the lower index, so the order is total and prefixes nest.
    pub fn rank_to(&mut self, k: usize) -> &[u32] {
        let start = self.ranked;
        let end = k.min(self.order.len()).max(start);
        let similarities = &self.similarities;
        let better =
            |a: &u32, b: &u32| similarities[*b as usize].total_cmp(&similarities[*a as usize]).then_with(|| a.cmp(b));
        let tail = &mut self.order[start..];
        let wanted = end - start;
        if wanted > 0 && wanted < tail.len() {
            tail.select_nth_unstable_by(wanted - 1, better);
        }
        tail[..wanted].sort_unstable_by(better);
        self.ranked = end;
        &self.order[start..end]
    }
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
    pub fn fresh(&mut self, candidates: Vec<(TextHash, f64)>) -> Vec<(TextHash, f64)> {
        candidates.into_iter().filter(|(hash, _)| self.considered.insert(*hash)).collect()
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
    pending: std::collections::VecDeque<(TextHash, f64)>,
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
    pub fn offer(&mut self, texts: Vec<(TextHash, f64)>, size: usize) {
        if texts.len() < size {
            self.done = true;
        }
        let fresh = self.hits.fresh(texts);
        self.pending.extend(fresh);
    }

    /// The next texts whose documents are worth reading.
    pub fn next_chunk(&mut self) -> Option<Vec<(TextHash, f64)>> {
        let best = self.pending.front()?.1;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(component: usize) -> Vec<f32> {
        let mut vector = vec![0.0; VECTOR_DIMENSIONS];
        vector[component] = 1.0;
        vector
    }

    #[test]
    fn dot_matches_a_plain_sum() {
        let left: Vec<f32> = (0..VECTOR_DIMENSIONS + 5).map(|idx| (idx as f32).sin()).collect();
        let right: Vec<f32> = (0..VECTOR_DIMENSIONS + 5).map(|idx| (idx as f32 * 0.7).cos()).collect();
        let plain: f32 = left.iter().zip(&right).map(|(a, b)| a * b).sum();
        assert!((dot(&left, &right) - plain).abs() < 1e-3, "{} vs {plain}", dot(&left, &right));
    }

    #[test]
    fn blobs_round_trip_and_wrong_lengths_are_corrupt() {
        let vector: Vec<f32> = (0..VECTOR_DIMENSIONS).map(|idx| idx as f32 / 7.0).collect();
        let back: Vec<f32> = from_blob(&to_blob(&vector)).expect("decode").collect();
        assert_eq!(back, vector);
        assert!(from_blob(&[0; 12]).is_err());
    }

    #[test]
    fn ranking_reveals_prefixes_best_first() {
        let mut set = VectorSet::default();
        for component in 0..10 {
            let mut vector = unit(0);
            vector[1] = component as f32; // larger component 1: further from unit(0)
            set.push([component as u8; 32], vector.into_iter());
        }
        assert_eq!(set.similarity_of(&[0; 32], &unit(0)), Some(1.0));
        assert_eq!(set.similarity_of(&[99; 32], &unit(0)), None);
        let mut ranking = Ranking::new(set.similarities(&unit(0)));
        assert_eq!(ranking.rank_to(3), &[0, 1, 2]);
        assert_eq!(ranking.rank_to(5), &[3, 4]);
        assert_eq!(ranking.rank_to(100), &[5, 6, 7, 8, 9]);
        assert!(ranking.rank_to(200).is_empty());
    }

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

    fn texts(range: std::ops::Range<u8>) -> Vec<(TextHash, f64)> {
        range.map(|idx| ([idx; 32], 1.0 - f64::from(idx) / 1000.0)).collect()
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
        assert_eq!(second.first().map(|text| text.0[0]), Some(16), "texts of the first round are not read again");
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
