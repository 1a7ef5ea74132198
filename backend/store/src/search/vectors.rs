//! Vector arithmetic and the in-memory vector sets SQLite compares (PostgreSQL compares in
//! pgvector).

use std::collections::HashMap;

use veritrail_core::search::TextHash;
use veritrail_core::store::StoreError;

use super::VECTOR_DIMENSIONS;

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
}
