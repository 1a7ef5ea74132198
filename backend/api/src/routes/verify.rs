//! `GET /api/v1/verify`: checks the caller's chain and names the first bad seq.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use veritrail_core::auth::Scopes;
use veritrail_core::store::SeqRange;
use veritrail_core::verify::VerifyReport;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/verify", get(verify).fallback(|| async { ApiError::method_not_allowed("GET, HEAD") }))
}

async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<VerifyReport>, ApiError> {
    caller.require(Scopes::READ)?;
    let seq = |name: &str| -> Result<Option<u64>, ApiError> {
        params
            .get(name)
            .filter(|value| !value.is_empty())
            .map(|value| {
                value.parse::<u64>().map_err(|_| {
                    ApiError::new(ErrorCode::InvalidQuery, format!("{name}={value:?} must be a non-negative integer"))
                })
            })
            .transpose()
    };
    if let Some(unknown) = params.keys().find(|key| !["from_seq", "to_seq"].contains(&key.as_str())) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("unknown query parameter {unknown:?}; use from_seq, to_seq"),
        ));
    }
    let range = SeqRange { from_seq: seq("from_seq")?, to_seq: seq("to_seq")? };
    let report = state.events.verify(caller.tenant(), range).await?;
    if !report.ok {
        tracing::error!(tenant = %caller.tenant(), first_bad_seq = ?report.first_bad_seq, reason = ?report.reason, "chain verification failed");
    }
    Ok(Json(report))
}
