//! The anomaly tables' columns as both backends select them, the row decoders, and the values
//! written for a new anomaly.

use veritrail_core::anomalies::{
    FalsePositiveWindow, Feature, Feedback, NewAnomaly, StoredAnomaly, Subject, Suppression,
};
use veritrail_core::store::StoreError;

use crate::columns::{Columns, json_error};

/// An anomaly with its latest feedback (`f_*`, NULL when there is none); append `WHERE ...`.
pub(super) const ANOMALY_SELECT: &str = "SELECT a.id, a.tenant, a.subject_kind, a.subject_id, a.window_start, a.window_end, \
     a.reason, a.score, a.severity, a.detectors, a.features, a.narrative, a.event_ids, a.status, a.created_at, \
     f.id AS f_id, f.verdict AS f_verdict, f.note AS f_note, f.key_id AS f_key_id, f.created_at AS f_created_at \
     FROM anomalies a LEFT JOIN anomaly_feedback f ON f.id = a.latest_feedback_id";

/// Feedback rows; append `WHERE ...`.
pub(super) const FEEDBACK_SELECT: &str = "SELECT id AS f_id, anomaly_id, verdict AS f_verdict, note AS f_note, \
     key_id AS f_key_id, created_at AS f_created_at FROM anomaly_feedback";

/// Suppression rows; append `WHERE ...`.
pub(super) const SUPPRESSION_SELECT: &str =
    "SELECT anomaly_id, subject_kind, subject_id, reason, created_at, until FROM anomaly_suppressions";

/// The windows of anomalies (those marked false positive); append `WHERE ...`.
pub(super) const WINDOW_SELECT: &str =
    "SELECT id, subject_kind, subject_id, reason, window_start, window_end FROM anomalies";

pub(super) fn decode_subject(row: &impl Columns) -> Result<Subject, StoreError> {
    Ok(Subject { kind: row.parsed("subject_kind")?, id: row.text("subject_id")? })
}

/// Decodes the `f_*` columns; `anomaly_id` is given because the anomaly query does not repeat it.
pub(super) fn decode_feedback(row: &impl Columns, anomaly_id: String) -> Result<Feedback, StoreError> {
    Ok(Feedback {
        id: row.text("f_id")?,
        anomaly_id,
        verdict: row.parsed("f_verdict")?,
        note: row.opt_text("f_note")?,
        key_id: row.opt_text("f_key_id")?,
        created_at: row.time("f_created_at")?,
    })
}

/// Decodes a row of [`ANOMALY_SELECT`].
pub(super) fn decode_anomaly(row: &impl Columns) -> Result<StoredAnomaly, StoreError> {
    let id = row.text("id")?;
    let feedback = match row.opt_text("f_id")? {
        Some(_) => Some(decode_feedback(row, id.clone())?),
        None => None,
    };
    Ok(StoredAnomaly {
        tenant: row.tenant("tenant")?,
        subject: decode_subject(row)?,
        window_start: row.time("window_start")?,
        window_end: row.time("window_end")?,
        reason: row.text("reason")?,
        score: row.real("score")?,
        severity: row.parsed("severity")?,
        detectors: serde_json::from_str::<Vec<String>>(&row.text("detectors")?).map_err(json_error("detectors"))?,
        features: serde_json::from_str::<Vec<Feature>>(&row.text("features")?).map_err(json_error("features"))?,
        narrative: row.text("narrative")?,
        event_ids: serde_json::from_str::<Vec<String>>(&row.text("event_ids")?).map_err(json_error("event_ids"))?,
        status: row.parsed("status")?,
        feedback,
        created_at: row.time("created_at")?,
        id,
    })
}

/// Decodes a row of [`FEEDBACK_SELECT`].
pub(super) fn decode_feedback_row(row: &impl Columns) -> Result<Feedback, StoreError> {
    decode_feedback(row, row.text("anomaly_id")?)
}

/// Decodes a row of [`SUPPRESSION_SELECT`].
pub(super) fn decode_suppression(row: &impl Columns) -> Result<Suppression, StoreError> {
    Ok(Suppression {
        anomaly_id: row.text("anomaly_id")?,
        subject: decode_subject(row)?,
        reason: row.text("reason")?,
        created_at: row.time("created_at")?,
        until: row.time("until")?,
    })
}

/// Decodes a row of [`WINDOW_SELECT`].
pub(super) fn decode_false_positive(row: &impl Columns) -> Result<FalsePositiveWindow, StoreError> {
    Ok(FalsePositiveWindow {
        anomaly_id: row.text("id")?,
        subject: decode_subject(row)?,
        reason: row.text("reason")?,
        window_start: row.time("window_start")?,
        window_end: row.time("window_end")?,
    })
}

/// The JSON texts stored for an anomaly's lists.
pub(super) struct AnomalyLists {
    pub detectors: String,
    pub features: String,
    pub event_ids: String,
}

impl AnomalyLists {
    pub(super) fn of(anomaly: &NewAnomaly) -> Result<Self, StoreError> {
        let encode = |result: Result<String, serde_json::Error>| {
            result.map_err(|err| StoreError::InvalidInput(format!("cannot encode anomaly: {err}")))
        };
        Ok(Self {
            detectors: encode(serde_json::to_string(&anomaly.detectors))?,
            features: encode(serde_json::to_string(&anomaly.features))?,
            event_ids: encode(serde_json::to_string(&anomaly.event_ids))?,
        })
    }
}

/// Refuses an anomaly the tables cannot hold faithfully.
pub(super) fn check_anomaly(anomaly: &NewAnomaly) -> Result<(), StoreError> {
    anomaly.check().map_err(|err| StoreError::InvalidInput(format!("refusing to store anomaly: {err}")))
}
