//! The vectors of `veritrail-bench vectors`, the Rust scan as the SQLite store does it, and the
//! exact answer every method is checked against.
//!
//! The store's `VectorSet` and `Ranking` are private to `veritrail-store`, so [`dot`] and
//! [`top_k`] repeat their algorithm here (16-lane dot product, `select_nth_unstable_by` then a sort
//! of the best `k`, ties to the lower index). The unit tests below pin that behaviour.

use crate::search_data::Rng;

/// MiniLM's output size, as the store's `VECTOR_DIMENSIONS`.
pub const DIMENSIONS: usize = 384;

/// How a vector is put together: `GLOBAL² + CLUSTER² + NOISE² = 1` (each part a random unit
/// direction, nearly orthogonal to the others in 384 dimensions), so two vectors of different
/// clusters have a cosine of about `GLOBAL²` = 0.30 and two of one cluster about
/// `GLOBAL² + CLUSTER²` = 0.65: all positive, as sentence embeddings of one domain are.
const GLOBAL_WEIGHT: f32 = 0.548; // √0.30
const CLUSTER_WEIGHT: f32 = 0.592; // √0.35
const NOISE_WEIGHT: f32 = 0.592; // √0.35

/// Deterministic, clustered unit vectors.
pub struct VectorSource {
    global: Vec<f32>,
    centers: Vec<Vec<f32>>,
    rng: Rng,
}

impl VectorSource {
    pub fn new(seed: u64, clusters: usize) -> Self {
        let mut rng = Rng::new(seed);
        let global = random_unit(&mut rng);
        let centers = (0..clusters.max(1)).map(|_| random_unit(&mut rng)).collect();
        Self { global, centers, rng }
    }

    /// The next vector: near a cluster drawn uniformly, unit length, flat into `out`.
    pub fn push_next(&mut self, out: &mut Vec<f32>) {
        let center = &self.centers[self.rng.below(self.centers.len())];
        let noise = random_unit(&mut self.rng);
        let start = out.len();
        out.extend(
            (0..DIMENSIONS)
                .map(|idx| GLOBAL_WEIGHT * self.global[idx] + CLUSTER_WEIGHT * center[idx] + NOISE_WEIGHT * noise[idx]),
        );
        normalize(&mut out[start..]);
    }

    /// `count` vectors, flat.
    pub fn take(&mut self, count: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(count * DIMENSIONS);
        for _ in 0..count {
            self.push_next(&mut out);
        }
        out
    }
}

/// A direction drawn uniformly from the sphere (normalised standard normals, Box-Muller).
fn random_unit(rng: &mut Rng) -> Vec<f32> {
    let mut vector = Vec::with_capacity(DIMENSIONS);
    while vector.len() < DIMENSIONS {
        let radius = (-2.0 * (1.0 - rng.unit()).ln()).sqrt();
        let angle = std::f64::consts::TAU * rng.unit();
        vector.push((radius * angle.cos()) as f32);
        vector.push((radius * angle.sin()) as f32);
    }
    vector.truncate(DIMENSIONS);
    normalize(&mut vector);
    vector
}

/// Scales to unit length, as the store does on the way into its vector set.
pub fn normalize(vector: &mut [f32]) {
    let norm = dot(vector, vector).sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|value| *value /= norm);
    }
}

/// The little-endian `f32` BLOB the store writes (`vectors.rs::to_blob`); sqlite-vec reads the same.
pub fn to_blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|value| value.to_le_bytes()).collect()
}

/// Decodes a BLOB of [`DIMENSIONS`] floats into `out`.
pub fn extend_from_blob(out: &mut Vec<f32>, blob: &[u8]) -> anyhow::Result<()> {
    anyhow::ensure!(
        blob.len() == DIMENSIONS * 4,
        "stored vector of {} bytes instead of {}",
        blob.len(),
        DIMENSIONS * 4
    );
    out.extend(blob.chunks_exact(4).map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])));
    Ok(())
}

/// The store's dot product: sixteen independent partial sums, so the compiler may use vector
/// registers (a plain float sum must be added in order).
pub fn dot(left: &[f32], right: &[f32]) -> f32 {
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

/// One query as the SQLite store's `nearest` ranks without a filter: the similarity of every
/// vector, then the best `k` indices, best first (ties to the lower index).
pub fn rust_scan(values: &[f32], query: &[f32], k: usize) -> Vec<u32> {
    let similarities: Vec<f32> = values.chunks_exact(DIMENSIONS).map(|vector| dot(vector, query)).collect();
    top_k(&similarities, k)
}

/// The best `k` of `scores` by partial selection, as the store's `Ranking::rank_to`.
pub fn top_k(scores: &[f32], k: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..scores.len()).map(|idx| u32::try_from(idx).unwrap_or(u32::MAX)).collect();
    let better = |a: &u32, b: &u32| scores[*b as usize].total_cmp(&scores[*a as usize]).then_with(|| a.cmp(b));
    let wanted = k.min(order.len());
    if wanted > 0 && wanted < order.len() {
        order.select_nth_unstable_by(wanted - 1, better);
    }
    order.truncate(wanted);
    order.sort_unstable_by(better);
    order
}

/// The exact best `k`: similarities in `f64`, fully sorted. Slow on purpose; the reference only.
pub fn exact_top_k(values: &[f32], query: &[f32], k: usize) -> Vec<u32> {
    let scores: Vec<f64> = values
        .chunks_exact(DIMENSIONS)
        .map(|vector| vector.iter().zip(query).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum())
        .collect();
    let mut order: Vec<u32> = (0..scores.len()).map(|idx| u32::try_from(idx).unwrap_or(u32::MAX)).collect();
    order.sort_unstable_by(|a, b| scores[*b as usize].total_cmp(&scores[*a as usize]).then_with(|| a.cmp(b)));
    order.truncate(k);
    order
}

/// Share of `exact` found in `found` (1.0 when `exact` is empty).
pub fn recall(found: &[u32], exact: &[u32]) -> f64 {
    if exact.is_empty() {
        return 1.0;
    }
    let hits = exact.iter().filter(|idx| found.contains(idx)).count();
    hits as f64 / exact.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_unit_length_and_clustered() {
        let first = VectorSource::new(7, 4).take(50);
        assert_eq!(first, VectorSource::new(7, 4).take(50), "same seed, same vectors");
        assert_ne!(first, VectorSource::new(8, 4).take(50));
        let vectors: Vec<&[f32]> = first.chunks_exact(DIMENSIONS).collect();
        for vector in &vectors {
            assert!((dot(vector, vector) - 1.0).abs() < 1e-5);
        }
        // Like real embeddings of one domain: every pair points the same way, some pairs closely.
        let cosines: Vec<f32> = (0..vectors.len())
            .flat_map(|a| (a + 1..vectors.len()).map(move |b| (a, b)))
            .map(|(a, b)| dot(vectors[a], vectors[b]))
            .collect();
        assert!(cosines.iter().all(|cosine| *cosine > 0.1), "all positive");
        assert!(cosines.iter().any(|cosine| *cosine > 0.55), "same-cluster pairs are close");
        assert!(cosines.iter().any(|cosine| *cosine < 0.4), "other-cluster pairs are not");
    }

    #[test]
    fn top_k_equals_a_full_sort_with_ties_to_the_lower_index() {
        let mut rng = Rng::new(3);
        // Few distinct values: many ties.
        let scores: Vec<f32> = (0..500).map(|_| (rng.below(40) as f32) / 40.0).collect();
        let mut sorted: Vec<u32> = (0..500).collect();
        sorted.sort_by(|a, b| scores[*b as usize].total_cmp(&scores[*a as usize]).then_with(|| a.cmp(b)));
        for k in [0, 1, 10, 50, 499, 500, 600] {
            assert_eq!(top_k(&scores, k), sorted[..k.min(500)], "k = {k}");
        }
    }

    #[test]
    fn rust_scan_finds_the_exact_neighbours() {
        let mut source = VectorSource::new(11, 8);
        let values = source.take(2_000);
        let query = source.take(1);
        let found = rust_scan(&values, &query, 50);
        let exact = exact_top_k(&values, &query, 50);
        assert!(recall(&found, &exact) >= 0.98, "recall {}", recall(&found, &exact));
        assert_eq!(found[0], exact[0]);
    }

    #[test]
    fn blobs_round_trip() {
        let vector = VectorSource::new(1, 1).take(1);
        let mut back = Vec::new();
        extend_from_blob(&mut back, &to_blob(&vector)).expect("decode");
        assert_eq!(back, vector);
        assert!(extend_from_blob(&mut back, &[0; 8]).is_err());
    }

    #[test]
    fn dot_matches_a_plain_sum() {
        let left: Vec<f32> = (0..DIMENSIONS + 5).map(|idx| (idx as f32).sin()).collect();
        let right: Vec<f32> = (0..DIMENSIONS + 5).map(|idx| (idx as f32 * 0.7).cos()).collect();
        let plain: f32 = left.iter().zip(&right).map(|(a, b)| a * b).sum();
        assert!((dot(&left, &right) - plain).abs() < 1e-3);
    }
}
