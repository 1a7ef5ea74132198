//! Anomalies found by the `anomaly-detection` job, the feedback people give on them, and the
//! suppressions a false positive creates.
//!
//! An anomaly is about one *subject* (an actor or the whole tenant) in one time window, for one
//! *reason* (a stable key naming the subject and the main cause, such as `actor:alice/off_hours`).
//! Detection is re-runnable: saving the same (subject, window, reason) twice stores it once.
//!
//! Feedback sets the anomaly's status. A false positive can also suppress further anomalies of the
//! same subject and reason until a time the caller chooses; the job reads the active suppressions
//! and the windows marked false positive before scoring new windows.
//!
//! Times are always given by the caller (the stores never read the clock), so a job run with an
//! injected clock is deterministic. Stores keep them with microsecond precision.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::{Severity, TenantId, format_time};
use crate::store::StoreError;
use crate::wire_enum;

wire_enum! {
    /// What an anomaly is about. Ordered: actors before tenants.
    #[derive(PartialOrd, Ord)]
    pub enum SubjectKind ("subject kind") {
        Actor => "actor",
        Tenant => "tenant",
    }
}

wire_enum! {
    /// How bad an anomaly is. Ordered from `low` to `critical`.
    #[derive(PartialOrd, Ord)]
    pub enum AnomalySeverity ("anomaly severity") {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
}

wire_enum! {
    /// Where an anomaly stands: `open` until someone gives feedback, then the latest verdict.
    pub enum AnomalyStatus ("anomaly status") {
        Open => "open",
        Acknowledged => "acknowledged",
        TruePositive => "true_positive",
        FalsePositive => "false_positive",
    }
}

wire_enum! {
    /// What a person said about an anomaly.
    pub enum Verdict ("verdict") {
        Acknowledged => "acknowledged",
        TruePositive => "true_positive",
        FalsePositive => "false_positive",
    }
}

impl From<AnomalySeverity> for Severity {
    /// The event severity of the same name, so alert rules compare both on one scale.
    fn from(severity: AnomalySeverity) -> Self {
        match severity {
            AnomalySeverity::Low => Severity::Low,
            AnomalySeverity::Medium => Severity::Medium,
            AnomalySeverity::High => Severity::High,
            AnomalySeverity::Critical => Severity::Critical,
        }
    }
}

impl Verdict {
    /// The status an anomaly has after this verdict.
    pub fn status(self) -> AnomalyStatus {
        match self {
            Verdict::Acknowledged => AnomalyStatus::Acknowledged,
            Verdict::TruePositive => AnomalyStatus::TruePositive,
            Verdict::FalsePositive => AnomalyStatus::FalsePositive,
        }
    }
}

/// An actor (by `actor.id`) or the whole tenant (id = the tenant name). Ordered by kind, then id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Subject {
    pub kind: SubjectKind,
    pub id: String,
}

impl Subject {
    pub fn actor(id: impl Into<String>) -> Self {
        Self { kind: SubjectKind::Actor, id: id.into() }
    }

    pub fn tenant(tenant: &TenantId) -> Self {
        Self { kind: SubjectKind::Tenant, id: tenant.as_str().to_owned() }
    }
}

/// One measured feature of a window and how much it pushed the score.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Feature {
    pub name: String,
    /// The value in the window, in the feature's natural unit (a count, a ratio, ...).
    pub observed: f64,
    /// The median of the reference windows, in the same unit.
    pub expected: f64,
    /// Share of the window's raw score that this feature accounts for (0..1).
    pub contribution: f64,
}

/// An anomaly as the detection job reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAnomaly {
    pub subject: Subject,
    /// Inclusive start of the window.
    pub window_start: DateTime<Utc>,
    /// Exclusive end of the window.
    pub window_end: DateTime<Utc>,
    /// Stable key of subject and main reason, used for idempotency and suppression.
    pub reason: String,
    /// 0 (normal) to 1 (certainly anomalous).
    pub score: f64,
    pub severity: AnomalySeverity,
    /// Names of the detectors that flagged the window.
    pub detectors: Vec<String>,
    pub features: Vec<Feature>,
    /// A sentence or two for people.
    pub narrative: String,
    /// The events that explain it.
    pub event_ids: Vec<String>,
}

impl NewAnomaly {
    /// Refuses values a store cannot keep faithfully or that make no sense.
    pub fn check(&self) -> Result<(), String> {
        if self.subject.id.is_empty() {
            return Err("anomaly subject id is empty".to_owned());
        }
        if self.reason.is_empty() {
            return Err("anomaly reason is empty".to_owned());
        }
        if self.window_start >= self.window_end {
            return Err(format!(
                "anomaly window starts at {} but ends at {}",
                format_time(&self.window_start),
                format_time(&self.window_end)
            ));
        }
        if !(0.0..=1.0).contains(&self.score) {
            return Err(format!("anomaly score {} is outside 0..1", self.score));
        }
        // JSON has no NaN or infinity: they would not read back.
        if let Some(feature) = self
            .features
            .iter()
            .find(|feature| ![feature.observed, feature.expected, feature.contribution].iter().all(|x| x.is_finite()))
        {
            return Err(format!("anomaly feature {:?} has a value that is not a finite number", feature.name));
        }
        Ok(())
    }
}

/// One piece of feedback on an anomaly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feedback {
    pub id: String,
    pub anomaly_id: String,
    pub verdict: Verdict,
    pub note: Option<String>,
    /// The API key that gave it, if any.
    pub key_id: Option<String>,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// Feedback as submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeedback {
    pub verdict: Verdict,
    pub note: Option<String>,
    pub key_id: Option<String>,
    /// For a false positive: suppress the same subject and reason until then. Ignored for other
    /// verdicts.
    pub suppress_until: Option<DateTime<Utc>>,
}

/// A stored anomaly, as served by the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAnomaly {
    pub id: String,
    pub tenant: TenantId,
    pub subject: Subject,
    #[serde(with = "crate::event::timestamp")]
    pub window_start: DateTime<Utc>,
    #[serde(with = "crate::event::timestamp")]
    pub window_end: DateTime<Utc>,
    pub reason: String,
    pub score: f64,
    pub severity: AnomalySeverity,
    pub detectors: Vec<String>,
    pub features: Vec<Feature>,
    pub narrative: String,
    pub event_ids: Vec<String>,
    pub status: AnomalyStatus,
    /// The latest feedback, if any.
    pub feedback: Option<Feedback>,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
}

impl StoredAnomaly {
    /// The cursor that lists the anomalies after this one.
    pub fn cursor(&self) -> AnomalyCursor {
        AnomalyCursor { window_start: self.window_start, id: self.id.clone() }
    }
}

/// The result of saving one anomaly.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedAnomaly {
    pub anomaly: StoredAnomaly,
    /// `false` when the same subject, window and reason was stored before (by an earlier run):
    /// the stored anomaly is returned unchanged.
    pub created: bool,
}

/// Position in the newest-first listing: anomalies are ordered by `window_start`, then `id`.
///
/// Its text form, `<window_start>_<id>`, is what the API hands out as an opaque cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnomalyCursor {
    pub window_start: DateTime<Utc>,
    pub id: String,
}

impl fmt::Display for AnomalyCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", format_time(&self.window_start), self.id)
    }
}

impl FromStr for AnomalyCursor {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("cursor {raw:?} is invalid");
        let (time, id) = raw.split_once('_').ok_or_else(invalid)?;
        let window_start = DateTime::parse_from_rfc3339(time).map_err(|_| invalid())?.with_timezone(&Utc);
        if id.is_empty() {
            return Err(invalid());
        }
        Ok(Self { window_start, id: id.to_owned() })
    }
}

/// Filters for listing anomalies, newest window first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnomalyQuery {
    /// Inclusive lower bound on `window_start`.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `window_start`.
    pub until: Option<DateTime<Utc>>,
    /// Only anomalies scoring at least this.
    pub min_score: Option<f64>,
    pub status: Option<AnomalyStatus>,
    /// Only anomalies after this position (the pagination cursor).
    pub before: Option<AnomalyCursor>,
    pub limit: u32,
}

/// Anomalies of a subject and reason that are not to be raised before `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppression {
    /// The anomaly whose false-positive feedback created it.
    pub anomaly_id: String,
    pub subject: Subject,
    pub reason: String,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::event::timestamp")]
    pub until: DateTime<Utc>,
}

/// A window whose anomaly people marked as a false positive: what it looked like is normal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FalsePositiveWindow {
    pub anomaly_id: String,
    pub subject: Subject,
    pub reason: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
}

/// Anomalies, feedback, suppressions and the detection job's progress, per tenant.
#[async_trait]
pub trait AnomalyStore: Send + Sync {
    /// Stores anomalies (all or nothing), idempotently on (subject, window, reason): one already
    /// stored comes back unchanged with `created: false`. Results are in input order. `now` is
    /// the creation time of new ones.
    ///
    /// A job that crashed between saving and alerting finds its anomalies again this way; it
    /// should alert keyed by anomaly id (see `AlertStore::last_alert_at`), not by `created`.
    async fn save_anomalies(
        &self,
        tenant: &TenantId,
        anomalies: &[NewAnomaly],
        now: DateTime<Utc>,
    ) -> Result<Vec<SavedAnomaly>, StoreError>;

    /// Returns anomalies matching `query`, newest window first, each with its latest feedback.
    async fn list_anomalies(&self, tenant: &TenantId, query: &AnomalyQuery) -> Result<Vec<StoredAnomaly>, StoreError>;

    /// Returns one anomaly with its latest feedback.
    async fn get_anomaly(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredAnomaly>, StoreError>;

    /// Records feedback in one transaction: the feedback row, the anomaly's new status, and its
    /// suppression. Any feedback ends the suppression an earlier false positive on this anomaly
    /// created; a false positive with `suppress_until` creates a new one. `None` when the tenant
    /// has no such anomaly.
    async fn add_feedback(
        &self,
        tenant: &TenantId,
        anomaly_id: &str,
        feedback: &NewFeedback,
        now: DateTime<Utc>,
    ) -> Result<Option<Feedback>, StoreError>;

    /// Returns every piece of feedback on an anomaly, oldest first.
    async fn list_feedback(&self, tenant: &TenantId, anomaly_id: &str) -> Result<Vec<Feedback>, StoreError>;

    /// Returns the suppressions still in force at `now` (`until > now`).
    async fn active_suppressions(&self, tenant: &TenantId, now: DateTime<Utc>) -> Result<Vec<Suppression>, StoreError>;

    /// Returns the windows of anomalies currently marked false positive that end after `since`,
    /// oldest first.
    async fn false_positive_windows(
        &self,
        tenant: &TenantId,
        since: DateTime<Utc>,
    ) -> Result<Vec<FalsePositiveWindow>, StoreError>;

    /// Returns the end of the last window the detection job finished for the tenant.
    async fn detection_cursor(&self, tenant: &TenantId) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Records that detection finished every window ending at or before `window_end`. Never
    /// moves back: an earlier time than the stored one is ignored.
    async fn set_detection_cursor(&self, tenant: &TenantId, window_end: DateTime<Utc>) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn anomaly() -> NewAnomaly {
        let start = Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).single().expect("time");
        NewAnomaly {
            subject: Subject::actor("alice"),
            window_start: start,
            window_end: start + chrono::Duration::hours(1),
            reason: "actor:alice/volume".into(),
            score: 0.9,
            severity: AnomalySeverity::High,
            detectors: vec!["iforest".into()],
            features: vec![Feature { name: "events".into(), observed: 90.0, expected: 10.0, contribution: 0.7 }],
            narrative: "alice did far more than usual".into(),
            event_ids: vec!["e1".into()],
        }
    }

    #[test]
    fn wire_names_round_trip() {
        for status in AnomalyStatus::ALL {
            assert_eq!(status.as_str().parse::<AnomalyStatus>(), Ok(*status));
        }
        assert_eq!(serde_json::to_value(Verdict::FalsePositive).expect("json"), "false_positive");
        let err = "bogus".parse::<Verdict>().expect_err("unknown");
        assert!(err.contains("acknowledged, true_positive, false_positive"), "{err}");
        assert!(AnomalySeverity::Critical > AnomalySeverity::Low);
        assert_eq!(Severity::from(AnomalySeverity::Medium), Severity::Medium);
        assert_eq!(Verdict::TruePositive.status(), AnomalyStatus::TruePositive);
    }

    #[test]
    fn cursors_round_trip_through_text() {
        let cursor = AnomalyCursor {
            window_start: Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).single().expect("time"),
            id: "0196-abc".into(),
        };
        assert_eq!(cursor.to_string(), "2026-05-01T10:00:00.000000Z_0196-abc");
        assert_eq!(cursor.to_string().parse::<AnomalyCursor>(), Ok(cursor));
        assert!("nonsense".parse::<AnomalyCursor>().is_err());
        assert!("2026-05-01T10:00:00Z_".parse::<AnomalyCursor>().is_err());
    }

    #[test]
    fn checks_refuse_what_cannot_be_stored() {
        assert!(anomaly().check().is_ok());
        let mut bad = anomaly();
        bad.score = 1.5;
        assert!(bad.check().is_err());
        let mut bad = anomaly();
        bad.score = f64::NAN;
        assert!(bad.check().is_err());
        let mut bad = anomaly();
        bad.window_end = bad.window_start;
        assert!(bad.check().is_err());
        let mut bad = anomaly();
        bad.features[0].expected = f64::INFINITY;
        assert!(bad.check().is_err());
        let mut bad = anomaly();
        bad.reason.clear();
        assert!(bad.check().is_err());
    }
}
