//! `GET /api/v1/anomalies`, `GET /api/v1/anomalies/{id}` and
//! `POST /api/v1/anomalies/{id}/feedback`: what the `anomaly-detection` job found, and what people
//! said about it. A false positive suppresses the same subject and reason for the configured time
//! and teaches the detector what harmless looks like.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use veritrail_core::access::Permission;
use veritrail_core::anomalies::{AnomalyCursor, AnomalyQuery, AnomalyStatus, NewFeedback, Verdict};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::extract::JsonBody;
use crate::routes::params::{Params, reject_unknown};

/// Longest feedback note, in characters.
const MAX_NOTE_CHARS: usize = 2_000;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/anomalies", get(list))
        .route("/api/v1/anomalies/{id}", get(one))
        .route("/api/v1/anomalies/{id}/feedback", post(feedback))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    reject_unknown(&params, &["since", "until", "min_score", "status", "limit", "cursor"])?;
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidQuery, message);
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        params
            .get(name)
            .filter(|value| !value.is_empty())
            .map(|value| {
                DateTime::parse_from_rfc3339(value)
                    .map(|time| time.with_timezone(&Utc))
                    .map_err(|_| invalid(format!("{name}={value:?} must be an RFC 3339 time")))
            })
            .transpose()
    };
    let min_score = params
        .get("min_score")
        .filter(|value| !value.is_empty())
        .map(|value| match value.parse::<f64>() {
            Ok(score) if (0.0..=1.0).contains(&score) => Ok(score),
            _ => Err(invalid(format!("min_score={value:?} must be a number from 0 to 1"))),
        })
        .transpose()?;
    let status = params
        .get("status")
        .filter(|value| !value.is_empty())
        .map(|value| value.parse::<AnomalyStatus>().map_err(|err| invalid(err.to_string())))
        .transpose()?;
    let limit = match params.get("limit").filter(|value| !value.is_empty()) {
        None => state.limits.default_list_limit,
        Some(value) => match value.parse::<u32>() {
            Ok(limit) if limit > 0 => limit.min(state.limits.max_list_limit),
            _ => return Err(invalid(format!("limit={value:?} must be a positive integer"))),
        },
    };
    let before = params
        .get("cursor")
        .filter(|value| !value.is_empty())
        .map(|value| value.parse::<AnomalyCursor>().map_err(invalid))
        .transpose()?;
    let query = AnomalyQuery { since: time("since")?, until: time("until")?, min_score, status, before, limit };
    let anomalies = state.anomalies.list_anomalies(caller.tenant(), &query).await?;
    let next_cursor =
        (anomalies.len() as u32 == limit).then(|| anomalies.last().map(|last| last.cursor().to_string())).flatten();
    Ok(Json(json!({"anomalies": anomalies, "next_cursor": next_cursor})))
}

async fn one(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let anomaly = state
        .anomalies
        .get_anomaly(caller.tenant(), &id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no anomaly with id {id:?} in this tenant")))?;
    let history = state.anomalies.list_feedback(caller.tenant(), &id).await?;
    let mut body = serde_json::to_value(&anomaly).map_err(ApiError::internal)?;
    body["feedback_history"] = serde_json::to_value(history).map_err(ApiError::internal)?;
    Ok(Json(body))
}

async fn feedback(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Triage)?;
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidField, message);
    let object = body.as_object().ok_or_else(|| invalid("the body must be an object {\"verdict\": ...}".into()))?;
    if let Some(unknown) = object.keys().find(|key| !["verdict", "note"].contains(&key.as_str())) {
        return Err(invalid(format!("unknown field {unknown:?}; feedback takes verdict and note")));
    }
    let verdict = match object.get("verdict") {
        Some(Value::String(verdict)) => verdict.parse::<Verdict>().map_err(|_| {
            invalid(format!("verdict {verdict:?} must be one of acknowledged, true_positive, false_positive"))
        })?,
        Some(_) => return Err(invalid("verdict must be a string".into())),
        None => return Err(invalid("verdict is required".into())),
    };
    let note = match object.get("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(note)) if note.chars().count() <= MAX_NOTE_CHARS => Some(note.clone()),
        Some(Value::String(_)) => return Err(invalid(format!("note is longer than {MAX_NOTE_CHARS} characters"))),
        Some(_) => return Err(invalid("note must be a string".into())),
    };
    let now = Utc::now();
    let suppress_until = (verdict == Verdict::FalsePositive).then(|| now + state.false_positive_suppression);
    let feedback = NewFeedback { verdict, note, key_id: Some(caller.label()), suppress_until };
    let saved = state
        .anomalies
        .add_feedback(caller.tenant(), &id, &feedback, now)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no anomaly with id {id:?} in this tenant")))?;
    // Feedback changes what is alerted on (a false positive silences its subject): on record.
    tracing::info!(tenant = %caller.tenant(), anomaly = %id, verdict = %verdict.as_str(), by = %caller.label(),
        suppress_until = ?feedback.suppress_until, "anomaly feedback");
    let anomaly = state.anomalies.get_anomaly(caller.tenant(), &id).await?;
    Ok(Json(json!({"feedback": saved, "anomaly": anomaly})))
}
