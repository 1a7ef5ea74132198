//! The clustering detectors, run on the standardised excesses of a tenant's actor windows.
//!
//! - KMeans (linfa, KMeans++ with a seeded Xoshiro generator, so results are reproducible):
//!   clusters are split into large ones, which together hold 90% of the windows, and small
//!   ones; a window's score is its distance to the nearest large centroid (the CBLOF idea), so
//!   a handful of extreme windows cannot hide by forming a cluster of their own.
//! - DBSCAN (linfa): windows in no dense region are noise. The neighbourhood radius is twice
//!   the median distance of a window to its `min_points`-th neighbour, and at least one spread.

use linfa::DatasetBase;
use linfa::traits::{Fit, Predict, Transformer};
use linfa_clustering::{Dbscan, KMeans, KMeansInit};
use ndarray::Array2;
use rand_xoshiro::Xoshiro256Plus;
use rand_xoshiro::rand_core::SeedableRng;

use super::robust::median;

/// Share of the windows the large clusters hold together.
const LARGE_CLUSTER_SHARE: f64 = 0.9;
/// Fewest windows the clustering detectors run on; below that they stay silent.
pub const MIN_WINDOWS: usize = 8;
/// Windows sampled to choose the DBSCAN radius (the choice is quadratic in them).
const RADIUS_SAMPLE: usize = 400;

/// What the clustering detectors say about each window.
#[derive(Debug, Clone, Default)]
pub struct ClusterScores {
    /// Distance to the nearest large KMeans centroid.
    pub kmeans_distance: Vec<f64>,
    /// DBSCAN labelled the window noise.
    pub dbscan_noise: Vec<bool>,
}

/// Runs both detectors on `points` (rows of equal length).
pub fn cluster_scores(points: &[Vec<f64>], clusters: usize, min_points: usize, seed: u64) -> ClusterScores {
    let rows = points.len();
    let dims = points.first().map_or(0, Vec::len);
    if rows < MIN_WINDOWS || dims == 0 {
        return ClusterScores { kmeans_distance: vec![0.0; rows], dbscan_noise: vec![false; rows] };
    }
    let flat: Vec<f64> = points.iter().flat_map(|row| row.iter().copied()).collect();
    let Ok(matrix) = Array2::from_shape_vec((rows, dims), flat) else {
        return ClusterScores { kmeans_distance: vec![0.0; rows], dbscan_noise: vec![false; rows] };
    };
    ClusterScores {
        kmeans_distance: kmeans_distances(&matrix, clusters, seed).unwrap_or_else(|| vec![0.0; rows]),
        dbscan_noise: dbscan_noise(&matrix, min_points).unwrap_or_else(|| vec![false; rows]),
    }
}

fn kmeans_distances(matrix: &Array2<f64>, clusters: usize, seed: u64) -> Option<Vec<f64>> {
    let rows = matrix.nrows();
    let clusters = clusters.clamp(1, (rows / 4).max(1));
    let dataset = DatasetBase::from(matrix.clone());
    let model = KMeans::params_with_rng(clusters, Xoshiro256Plus::seed_from_u64(seed))
        .init_method(KMeansInit::KMeansPlusPlus)
        .n_runs(10)
        .max_n_iterations(100)
        .tolerance(1e-6)
        .fit(&dataset)
        .ok()?;
    let memberships = model.predict(matrix);
    let centroids = model.centroids();
    let mut sizes = vec![0usize; centroids.nrows()];
    for &cluster in &memberships {
        sizes[cluster] += 1;
    }
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|left, right| sizes[*right].cmp(&sizes[*left]).then(left.cmp(right)));
    let mut large = Vec::new();
    let mut covered = 0usize;
    for cluster in order {
        if (covered as f64) >= LARGE_CLUSTER_SHARE * rows as f64 {
            break;
        }
        covered += sizes[cluster];
        large.push(cluster);
    }
    let distances = matrix
        .rows()
        .into_iter()
        .map(|point| {
            large
                .iter()
                .map(|&cluster| {
                    point
                        .iter()
                        .zip(centroids.row(cluster))
                        .map(|(value, centre)| (value - centre).powi(2))
                        .sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min)
                .sqrt()
        })
        .collect();
    Some(distances)
}

fn dbscan_noise(matrix: &Array2<f64>, min_points: usize) -> Option<Vec<bool>> {
    let min_points = min_points.max(2);
    let radius = (2.0 * neighbour_distance(matrix, min_points)).max(1.0);
    let labels = Dbscan::params(min_points).tolerance(radius).transform(matrix).ok()?;
    Some(labels.iter().map(Option::is_none).collect())
}

/// Median over (a sample of) the windows of the distance to their `k`-th nearest neighbour.
fn neighbour_distance(matrix: &Array2<f64>, k: usize) -> f64 {
    let rows = matrix.nrows();
    let step = rows.div_ceil(RADIUS_SAMPLE).max(1);
    let sample: Vec<usize> = (0..rows).step_by(step).collect();
    let kth: Vec<f64> = sample
        .iter()
        .map(|&index| {
            let point = matrix.row(index);
            let mut distances: Vec<f64> = sample
                .iter()
                .filter(|&&other| other != index)
                .map(|&other| {
                    point.iter().zip(matrix.row(other)).map(|(left, right)| (left - right).powi(2)).sum::<f64>().sqrt()
                })
                .collect();
            distances.sort_by(f64::total_cmp);
            distances.get(k.saturating_sub(1)).or(distances.last()).copied().unwrap_or(0.0)
        })
        .collect();
    median(&kth)
}
