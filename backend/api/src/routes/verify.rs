//! `GET /api/v1/verify`: checks the caller's chain and names the first bad seq.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use veritrail_core::access::Permission;
use veritrail_core::store::SeqRange;
use veritrail_core::verify::VerifyReport;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::params::{Params, number, reject_unknown};

/// Expensive: under [`crate::expensive`]'s slots and time limit.
pub(crate) fn expensive_router() -> Router<AppState> {
    Router::new().route("/api/v1/verify", get(verify).fallback(|| async { ApiError::method_not_allowed("GET, HEAD") }))
}

async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<VerifyReport>, ApiError> {
    caller.require(Permission::Verify)?;
    reject_unknown(&params, &["from_seq", "to_seq"])?;
    let range = SeqRange { from_seq: number(&params, "from_seq")?, to_seq: number(&params, "to_seq")? };
    let report = state.events.verify(caller.tenant(), range).await?;
    if !report.ok {
        tracing::error!(tenant = %caller.tenant(), first_bad_seq = ?report.first_bad_seq, reason = ?report.reason, "chain verification failed");
    }
    Ok(Json(report))
}
