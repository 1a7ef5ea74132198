//! The detector's own values: its configuration, the windows and scores it computes, and what
//! [`super::detect`] reports. What it shares with the rest of Veritrail (subjects, features,
//! anomalies, suppressions, false-positive windows) comes from `veritrail_core::anomalies`.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use veritrail_core::anomalies::{AnomalySeverity, FalsePositiveWindow, Feature, NewAnomaly, Subject, Suppression};
use veritrail_core::event::TenantId;

/// One row of the feature table: a subject during one window of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WindowKey {
    pub tenant: TenantId,
    pub subject: Subject,
    #[serde(with = "veritrail_core::event::timestamp")]
    pub window_start: DateTime<Utc>,
}

/// Tunable parameters. `Default` is the documented configuration (60-minute windows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnomalyConfig {
    /// Window length; windows are aligned on multiples of it since the Unix epoch (clock hours
    /// for 60 minutes, 5-minute buckets for 5 minutes).
    #[serde(with = "seconds")]
    pub window: Duration,
    /// How far before the scored range events still count as history.
    #[serde(with = "seconds")]
    pub history: Duration,
    /// Windows scoring below this are not reported by [`super::detect`].
    pub min_score: f64,
    /// Number of KMeans clusters fitted on the actor windows of a tenant (fewer when there are
    /// few windows).
    pub kmeans_clusters: usize,
    /// Seed of the KMeans initialisation: same input and seed, same output.
    pub seed: u64,
    /// DBSCAN's minimum neighbourhood size.
    pub dbscan_min_points: usize,
    /// Past active windows an actor (or tenant) needs before it is compared with itself rather
    /// than with the tenant's population of actors.
    pub min_history_windows: usize,
    /// ... and those windows must go back at least this far: twenty minutes of a busy actor is
    /// not a baseline.
    #[serde(with = "seconds")]
    pub min_history_span: Duration,
    /// Most recent past windows of a subject used as its baseline (bounds the cost per row).
    pub max_history_windows: usize,
    /// While a tenant's log covers less than `min_history_span`, only windows scoring at least
    /// this much are reported (the bar falls linearly to `min_score` as the history grows): a
    /// new tenant still hears about strong incidents, not about every first difference.
    pub cold_start_min_score: f64,
    /// Contributing features reported per anomaly.
    pub top_features: usize,
    /// Event ids reported per anomaly.
    pub max_evidence: usize,
    /// How much a window identical to a known false positive is down-weighted (0 = not at all,
    /// 1 = to zero); less similar windows are down-weighted less.
    pub false_positive_weight: f64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            window: Duration::minutes(60),
            history: Duration::days(30),
            min_score: 0.5,
            kmeans_clusters: 4,
            seed: 42,
            dbscan_min_points: 3,
            min_history_windows: 4,
            min_history_span: Duration::days(1),
            max_history_windows: 200,
            cold_start_min_score: 0.8,
            top_features: 5,
            max_evidence: 20,
            false_positive_weight: 0.6,
        }
    }
}

impl AnomalyConfig {
    /// The default configuration with another window length (e.g. 5 minutes).
    pub fn with_window(window: Duration) -> Self {
        Self { window, ..Self::default() }
    }
}

/// What people said about earlier anomalies, as the detector uses it (see the module
/// documentation of [`super`], step 7).
#[derive(Debug, Clone, Copy, Default)]
pub struct KnownFeedback<'a> {
    /// A window whose subject and reason match one of these, and that starts before its `until`,
    /// is never reported.
    pub suppressions: &'a [Suppression],
    /// Windows marked false positive: every actor window of the tenant that looks like one scores
    /// lower. Each must be among the input events.
    pub false_positives: &'a [FalsePositiveWindow],
}

/// The score of one window, whether reported or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowScore {
    pub key: WindowKey,
    #[serde(with = "veritrail_core::event::timestamp")]
    pub window_end: DateTime<Utc>,
    /// 0..1, higher is more anomalous.
    pub score: f64,
    /// Names of the detectors that fired.
    pub detectors: Vec<String>,
    /// Features by decreasing contribution (only those that contributed).
    pub contributions: Vec<Feature>,
    /// Stable key: subject plus main reason, used for suppression.
    pub reason: String,
    /// `true` when the score was compared with the subject's own history, `false` when with the
    /// tenant's population (cold start).
    pub self_baseline: bool,
    /// `true` when a suppression matched; such windows are never reported.
    pub suppressed: bool,
}

/// An anomaly [`super::detect`] reports, with the tenant whose events raised it (the detector
/// takes several tenants' events at once).
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    pub tenant: TenantId,
    pub anomaly: NewAnomaly,
}

/// Maps a score to a severity: `critical` from 0.9, `high` from 0.75, `medium` from 0.6.
pub fn severity_for(score: f64) -> AnomalySeverity {
    if score >= 0.9 {
        AnomalySeverity::Critical
    } else if score >= 0.75 {
        AnomalySeverity::High
    } else if score >= 0.6 {
        AnomalySeverity::Medium
    } else {
        AnomalySeverity::Low
    }
}

/// Durations as whole seconds on the wire.
mod seconds {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(duration.num_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs = i64::deserialize(deserializer)?;
        Duration::try_seconds(secs).ok_or_else(|| serde::de::Error::custom("duration out of range"))
    }
}
