//! Turns feature rows into scores: robust excess per feature against the right reference,
//! the clustering detectors, feedback, and the combination into one number in 0..1.

use chrono::{DateTime, Utc};
use veritrail_core::anomalies::{Feature, Subject, SubjectKind, Suppression};

use super::clustering::{ClusterScores, cluster_scores};
use super::features::{FeatureSpec, Row, Scale, TenantWindows};
use super::robust::Location;
use super::types::{AnomalyConfig, KnownFeedback, WindowKey, WindowScore};

/// Raw points at which the score reaches 1 − 1/e ≈ 0.63.
const SCORE_SCALE: f64 = 4.0;
/// Pseudo-count of reference windows: a score against a small population is shrunk towards 0
/// (a new tenant with three actors should not alert on the first difference between them).
const REFERENCE_PRIOR: f64 = 3.0;
/// Excesses are capped here in the clustering space so one feature cannot swamp the distance.
const CLUSTER_EXCESS_CAP: f64 = 10.0;
/// A robust part below this does not name `robust_zscore` among the detectors.
const ROBUST_FIRES: f64 = 1.0;
/// A KMeans part below this does not name `kmeans_distance` among the detectors.
const KMEANS_FIRES: f64 = 0.5;

/// One feature's excess in one window.
#[derive(Debug, Clone)]
pub struct Part {
    pub feature: usize,
    /// Spreads above the reference median.
    pub excess: f64,
    /// Points added to the raw score.
    pub points: f64,
    pub observed: f64,
    pub expected: f64,
}

/// The score of one row and how it came about.
#[derive(Debug, Clone)]
pub struct RowScore {
    pub score: f64,
    pub raw: f64,
    /// Contributing features, largest first.
    pub parts: Vec<Part>,
    pub kmeans_points: f64,
    pub dbscan_noise: bool,
    pub self_baseline: bool,
    pub suppressed: bool,
    /// How much feedback lowered the score (1 = not at all).
    pub feedback_factor: f64,
    pub reason: String,
}

/// Scores every row of a tenant.
pub fn score_tenant(tenant: &TenantWindows<'_>, config: &AnomalyConfig, feedback: KnownFeedback<'_>) -> Vec<RowScore> {
    let specs = &tenant.specs;
    let transformed: Vec<Vec<f64>> = tenant.rows.iter().map(|row| transform_row(&row.values, specs)).collect();
    let actor_rows: Vec<usize> =
        (0..tenant.rows.len()).filter(|&index| tenant.rows[index].key.subject.kind == SubjectKind::Actor).collect();
    let population = locations(&actor_rows, &transformed, specs);
    let points: Vec<Vec<f64>> = actor_rows
        .iter()
        .map(|&index| {
            transformed[index]
                .iter()
                .zip(&population)
                .zip(specs)
                .map(|((value, location), spec)| location.excess(*value).min(CLUSTER_EXCESS_CAP) * spec.weight)
                .collect()
        })
        .collect();
    let clusters = cluster_scores(&points, config.kmeans_clusters, config.dbscan_min_points, config.seed);
    let kmeans = kmeans_points(&clusters);
    let mut cluster_of_row = vec![None; tenant.rows.len()];
    for (position, &index) in actor_rows.iter().enumerate() {
        cluster_of_row[index] = Some(position);
    }
    let mut scores: Vec<RowScore> = tenant
        .rows
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let cluster = cluster_of_row[index].map(|position| (kmeans[position], clusters.dbscan_noise[position]));
            let values = &transformed[index];
            score_row(row, values, &transformed, &population, actor_rows.len(), cluster, specs)
        })
        .collect();
    apply_feedback(tenant, &points, &cluster_of_row, &mut scores, feedback, config);
    scores
}

fn transform_row(values: &[f64], specs: &[FeatureSpec]) -> Vec<f64> {
    values.iter().zip(specs).map(|(value, spec)| to_scale(*value, spec.scale)).collect()
}

fn to_scale(value: f64, scale: Scale) -> f64 {
    match scale {
        Scale::Log => value.max(0.0).ln_1p(),
        Scale::Linear => value,
    }
}

fn from_scale(value: f64, scale: Scale) -> f64 {
    match scale {
        Scale::Log => value.exp_m1(),
        Scale::Linear => value,
    }
}

fn locations(rows: &[usize], transformed: &[Vec<f64>], specs: &[FeatureSpec]) -> Vec<Location> {
    specs
        .iter()
        .enumerate()
        .map(|(feature, spec)| {
            let values: Vec<f64> = rows.iter().map(|&row| transformed[row][feature]).collect();
            Location::of(&values, spec.min_spread)
        })
        .collect()
}

/// KMeans distances as points: the log of one plus their robust excess over all windows.
fn kmeans_points(clusters: &ClusterScores) -> Vec<f64> {
    let location = Location::of(&clusters.kmeans_distance, 0.5);
    clusters.kmeans_distance.iter().map(|distance| location.excess(*distance).ln_1p()).collect()
}

#[allow(clippy::too_many_arguments)]
fn score_row(
    row: &Row,
    values: &[f64],
    transformed: &[Vec<f64>],
    population: &[Location],
    population_size: usize,
    cluster: Option<(f64, bool)>,
    specs: &[FeatureSpec],
) -> RowScore {
    let self_baseline = row.self_baseline;
    let is_tenant = row.key.subject.kind == SubjectKind::Tenant;
    if is_tenant && !self_baseline {
        // A tenant has no population to be compared with: until it has a history, say nothing.
        return RowScore {
            score: 0.0,
            raw: 0.0,
            parts: Vec::new(),
            kmeans_points: 0.0,
            dbscan_noise: false,
            self_baseline,
            suppressed: false,
            feedback_factor: 1.0,
            reason: reason_key(&row.key.subject, "quiet"),
        };
    }
    let own;
    let (reference, reference_size) = if self_baseline {
        own = locations(&row.history, transformed, specs);
        (own.as_slice(), row.history.len())
    } else {
        (population, population_size)
    };
    let mut parts: Vec<Part> = specs
        .iter()
        .enumerate()
        .filter_map(|(feature, spec)| {
            let excess = reference[feature].excess(values[feature]);
            let points = spec.weight * excess.ln_1p();
            (points > 0.0).then(|| Part {
                feature,
                excess,
                points,
                observed: row.values[feature],
                expected: from_scale(reference[feature].median, spec.scale),
            })
        })
        .collect();
    parts.sort_by(|left, right| right.points.total_cmp(&left.points).then(left.feature.cmp(&right.feature)));
    let robust: f64 = parts.iter().map(|part| part.points).sum();
    let (kmeans_points, dbscan_noise) = cluster.unwrap_or((0.0, false));
    // Noise only counts for windows with some excess: being unusually quiet is not an alert.
    let dbscan_noise = dbscan_noise && robust > 0.0;
    let raw = robust + kmeans_points + f64::from(u8::from(dbscan_noise));
    let confidence = reference_size as f64 / (reference_size as f64 + REFERENCE_PRIOR);
    let score = confidence * (1.0 - (-raw / SCORE_SCALE).exp());
    let family = parts.first().map_or("cluster_outlier", |part| reason_family(specs[part.feature].name));
    RowScore {
        score,
        raw,
        parts,
        kmeans_points,
        dbscan_noise,
        self_baseline,
        suppressed: false,
        feedback_factor: 1.0,
        reason: reason_key(&row.key.subject, family),
    }
}

/// Applies the feedback: suppressed subject + reason pairs, and the down-weighting of windows
/// that look like a known false positive (same tenant, any subject).
fn apply_feedback(
    tenant: &TenantWindows<'_>,
    points: &[Vec<f64>],
    cluster_of_row: &[Option<usize>],
    scores: &mut [RowScore],
    feedback: KnownFeedback<'_>,
    config: &AnomalyConfig,
) {
    let known_false: Vec<&Vec<f64>> = feedback
        .false_positives
        .iter()
        .filter_map(|window| {
            let index = tenant
                .rows
                .iter()
                .position(|row| row.key.subject == window.subject && row.key.window_start == window.window_start)?;
            cluster_of_row[index].map(|position| &points[position])
        })
        .collect();
    for (index, (row, score)) in tenant.rows.iter().zip(scores.iter_mut()).enumerate() {
        score.suppressed =
            feedback.suppressions.iter().any(|suppression| suppresses(suppression, &row.key, &score.reason));
        let Some(position) = cluster_of_row[index] else { continue };
        let similarity = known_false.iter().map(|known| similarity(&points[position], known)).fold(0.0, f64::max);
        score.feedback_factor = 1.0 - config.false_positive_weight.clamp(0.0, 1.0) * similarity;
        score.score *= score.feedback_factor;
    }
}

fn suppresses(suppression: &Suppression, key: &WindowKey, reason: &str) -> bool {
    suppression.subject == key.subject && suppression.reason == reason && key.window_start < suppression.until
}

/// Similarity of two windows in the clustering space: 1 when identical, falling with the mean
/// squared difference per feature (0.37 at one weighted spread apart on average).
fn similarity(left: &[f64], right: &[f64]) -> f64 {
    let dims = left.len().max(1) as f64;
    let mean_square = left.iter().zip(right).map(|(left, right)| (left - right).powi(2)).sum::<f64>() / dims;
    (-mean_square).exp()
}

/// Groups features into the reasons an analyst would name, so the key stays stable when, say,
/// `denied_ratio` and `denied_events` swap places.
pub fn reason_family(feature: &str) -> &'static str {
    match feature {
        "denied_events" | "denied_ratio" => "denials",
        "failed_events" | "failure_ratio" => "failures",
        "sensitive_events" | "rare_sensitive_actions" => "sensitive_actions",
        "distinct_ips" | "new_ips" | "tenant_new_ips" => "new_ip",
        "distinct_user_agents" | "new_user_agents" | "tenant_new_user_agents" => "new_user_agent",
        "new_actions" | "tenant_new_actions" => "new_action",
        "new_resources" | "distinct_resources" => "new_resource",
        "new_actor" => "new_principal",
        "off_hours_ratio" => "off_hours",
        "max_action_rarity" | "mean_action_rarity" => "rare_action",
        "content_distance" => "unusual_content",
        _ => "volume",
    }
}

/// `<kind>:<id>:<reason>`.
pub fn reason_key(subject: &Subject, family: &str) -> String {
    format!("{}:{}:{family}", subject.kind.as_str(), subject.id)
}

/// Names of the detectors that fired for a row.
pub fn detectors(score: &RowScore) -> Vec<String> {
    let robust: f64 = score.parts.iter().map(|part| part.points).sum();
    let mut names = Vec::new();
    if robust >= ROBUST_FIRES {
        names.push("robust_zscore".to_owned());
    }
    if score.kmeans_points >= KMEANS_FIRES {
        names.push("kmeans_distance".to_owned());
    }
    if score.dbscan_noise {
        names.push("dbscan_noise".to_owned());
    }
    if score.feedback_factor < 1.0 {
        names.push("false_positive_similarity".to_owned());
    }
    names
}

/// The public view of a row's score.
pub fn window_score(
    row: &Row,
    score: &RowScore,
    specs: &[FeatureSpec],
    config: &AnomalyConfig,
    window_end: DateTime<Utc>,
) -> WindowScore {
    WindowScore {
        key: row.key.clone(),
        window_end,
        score: score.score,
        detectors: detectors(score),
        contributions: contributions(score, specs, usize::MAX),
        reason: score.reason.clone(),
        self_baseline: score.self_baseline,
        suppressed: score.suppressed,
    }
    .truncated(config.top_features.max(1) * 4)
}

/// The top `limit` features as shares of the raw score.
pub fn contributions(score: &RowScore, specs: &[FeatureSpec], limit: usize) -> Vec<Feature> {
    let total = score.raw.max(f64::MIN_POSITIVE);
    score
        .parts
        .iter()
        .take(limit)
        .map(|part| Feature {
            name: specs[part.feature].name.to_owned(),
            observed: part.observed,
            expected: part.expected,
            contribution: part.points / total,
        })
        .collect()
}

impl WindowScore {
    fn truncated(mut self, limit: usize) -> Self {
        self.contributions.truncate(limit);
        self
    }
}
