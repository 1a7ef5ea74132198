//! `GET /api/v1/stats`: the tenant's events counted by time and outcome, and its most frequent
//! actors and actions (the dashboard's overview).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{Value, json};
use veritrail_core::access::Permission;
use veritrail_core::event::Outcome;
use veritrail_core::store::StatsBucket;

use super::params::{Params, number, reject_unknown};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};

/// Longest range per bucket width, so an answer has at most a few thousand buckets.
const MAX_HOURS: i64 = 31 * 24;
const MAX_DAYS: i64 = 400;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/stats", get(stats))
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, message)
}

fn time(params: &Params, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .get(name)
        .filter(|value| !value.is_empty())
        .map(|value| {
            DateTime::parse_from_rfc3339(value)
                .map(|time| time.with_timezone(&Utc))
                .map_err(|_| invalid(format!("{name}={value:?} must be an RFC 3339 time")))
        })
        .transpose()
}

async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    reject_unknown(&params, &["since", "until", "bucket", "top"])?;
    let until = time(&params, "until")?.unwrap_or_else(Utc::now);
    let since = time(&params, "since")?.unwrap_or(until - Duration::days(7));
    if since >= until {
        return Err(invalid("since must be before until".to_owned()));
    }
    let bucket = match params.get("bucket").filter(|value| !value.is_empty()) {
        Some(value) => value.parse::<StatsBucket>().map_err(invalid)?,
        None if until - since <= Duration::days(3) => StatsBucket::Hour,
        None => StatsBucket::Day,
    };
    let (step, limit) = match bucket {
        StatsBucket::Hour => (Duration::hours(1), Duration::hours(MAX_HOURS)),
        StatsBucket::Day => (Duration::days(1), Duration::days(MAX_DAYS)),
    };
    if until - since > limit {
        return Err(invalid(format!("{bucket} buckets cover at most {} days", limit.num_days())));
    }
    let top = u32::try_from(number(&params, "top")?.unwrap_or(10)).unwrap_or(u32::MAX).clamp(1, 100);
    let found = state.events.stats(caller.tenant(), since, until, bucket, top).await?;

    // Every bucket of the range, empty ones included, so a chart needs no gap filling.
    let first = since.duration_trunc(step).map_err(|error| ApiError::internal(error.to_string()))?;
    let counted: HashMap<(DateTime<Utc>, Outcome), u64> =
        found.buckets.iter().map(|(at, outcome, count)| ((*at, *outcome), *count)).collect();
    let mut buckets = Vec::new();
    let mut start = first;
    while start < until {
        let count = |outcome: Outcome| counted.get(&(start, outcome)).copied().unwrap_or(0);
        buckets.push(json!({
            "start": start, "success": count(Outcome::Success), "failure": count(Outcome::Failure),
            "denied": count(Outcome::Denied), "unknown": count(Outcome::Unknown),
        }));
        start += step;
    }
    let top_actors: Vec<Value> = found.top_actors.iter().map(|(id, count)| json!({"id": id, "count": count})).collect();
    let top_actions: Vec<Value> =
        found.top_actions.iter().map(|(action, count)| json!({"action": action, "count": count})).collect();
    Ok(Json(json!({
        "since": since, "until": until, "bucket": bucket, "total": found.total,
        "buckets": buckets, "top_actors": top_actors, "top_actions": top_actions,
    })))
}
