//! The serde-serialisable values the detector takes and returns.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use veritrail_core::event::{Severity, TenantId};

/// Whether a window describes one actor or a whole tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    Actor,
    Tenant,
}

impl SubjectKind {
    /// Returns the wire name, `actor` or `tenant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Actor => "actor",
            Self::Tenant => "tenant",
        }
    }
}

/// Who a window is about: an actor id (as in `actor.id`) or a tenant name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: String,
}

impl Subject {
    /// An actor subject.
    pub fn actor(id: impl Into<String>) -> Self {
        Self { kind: SubjectKind::Actor, id: id.into() }
    }

    /// A tenant subject.
    pub fn tenant(id: impl Into<String>) -> Self {
        Self { kind: SubjectKind::Tenant, id: id.into() }
    }
}

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

/// Feedback that an anomaly was a false positive: stops the same subject and reason from being
/// reported until `until`, and, when `window_start` names the window that was flagged, makes
/// windows that look like it score lower from then on (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    pub subject: Subject,
    /// The anomaly's `reason` key.
    pub reason: String,
    /// Windows starting before this time are not reported for `subject` + `reason`.
    #[serde(with = "veritrail_core::event::timestamp")]
    pub until: DateTime<Utc>,
    /// Start of the window that was marked as a false positive, when known.
    #[serde(default, with = "optional_time", skip_serializing_if = "Option::is_none")]
    pub window_start: Option<DateTime<Utc>>,
}

/// One feature's part in a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureContribution {
    pub name: String,
    /// The value in this window, in the feature's natural unit (a count, a ratio, ...).
    pub observed: f64,
    /// The median of the reference windows, in the same unit.
    pub expected: f64,
    /// Share of the window's raw score that this feature accounts for (0..1).
    pub contribution: f64,
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
    pub contributions: Vec<FeatureContribution>,
    /// Stable key: subject plus main reason, used for suppression.
    pub reason: String,
    /// `true` when the score was compared with the subject's own history, `false` when with the
    /// tenant's population (cold start).
    pub self_baseline: bool,
    /// `true` when a suppression matched; such windows are never reported.
    pub suppressed: bool,
}

/// A reported anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub tenant: TenantId,
    pub subject: Subject,
    #[serde(with = "veritrail_core::event::timestamp")]
    pub window_start: DateTime<Utc>,
    #[serde(with = "veritrail_core::event::timestamp")]
    pub window_end: DateTime<Utc>,
    pub score: f64,
    pub severity: Severity,
    pub detectors: Vec<String>,
    pub top_features: Vec<FeatureContribution>,
    /// Plain-language account built only from `top_features` and the events behind them.
    pub narrative: String,
    /// Ids of the events behind the top features, most telling first, capped.
    pub event_ids: Vec<String>,
    pub reason: String,
}

/// Maps a score to a severity: `critical` from 0.9, `high` from 0.75, `medium` from 0.6.
pub fn severity_for(score: f64) -> Severity {
    if score >= 0.9 {
        Severity::Critical
    } else if score >= 0.75 {
        Severity::High
    } else if score >= 0.6 {
        Severity::Medium
    } else {
        Severity::Low
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

/// Optional times written like every Veritrail time, read from any RFC 3339 string.
mod optional_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        veritrail_core::event::timestamp::option::serialize(time, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|raw| {
                DateTime::parse_from_rfc3339(&raw)
                    .map(|time| time.with_timezone(&Utc))
                    .map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}
