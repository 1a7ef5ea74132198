//! `GET /api/v1/admin/jobs` and `POST /api/v1/admin/jobs/{name}/run`.
//!
//! Jobs are system-wide, but an admin key belongs to one tenant: run records show the caller
//! only its own tenant's part (`details.tenants.<tenant>` becomes `details.tenant`).

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use veritrail_core::access::Permission;
use veritrail_core::event::TenantId;
use veritrail_core::jobs::{JobError, JobRun};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::routes::params::{Params, flag, reject_unknown};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/admin/jobs", get(list_jobs)).route("/api/v1/admin/jobs/{name}/run", post(run_job))
}

impl From<JobError> for ApiError {
    fn from(err: JobError) -> Self {
        match err {
            JobError::Unknown(_) => ApiError::new(ErrorCode::NotFound, err.to_string()),
            JobError::Busy(_) => ApiError::new(ErrorCode::Overloaded, err.to_string()),
            JobError::Store(store) => store.into(),
        }
    }
}

/// Replaces `details.tenants` with the caller's own entry.
fn for_tenant(run: JobRun, tenant: &TenantId) -> Value {
    let mut value = serde_json::to_value(run).unwrap_or(Value::Null);
    if let Some(details) = value.get_mut("details").and_then(Value::as_object_mut)
        && let Some(Value::Object(mut tenants)) = details.remove("tenants")
    {
        details.insert("tenant".to_owned(), tenants.remove(tenant.as_str()).unwrap_or(Value::Null));
    }
    value
}

async fn list_jobs(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Admin)?;
    let jobs: Vec<Value> = state
        .jobs
        .status()
        .await?
        .into_iter()
        .map(|status| {
            json!({
                "name": status.name,
                "schedule": status.schedule,
                "next_run": status.next_run.as_ref().map(veritrail_core::event::format_time),
                "last_run": status.last_run.map(|run| for_tenant(run, caller.tenant())),
            })
        })
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}

/// Runs the job now and answers with its run record once it has finished. `integrity-check`
/// takes `?full=true` to re-verify everything instead of only what is new.
async fn run_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Admin)?;
    reject_unknown(&params, &["full"])?;
    if flag(&params, "full")? {
        if name != "integrity-check" {
            return Err(ApiError::new(ErrorCode::InvalidQuery, "full=true applies to the integrity-check job only"));
        }
        state.integrity.forget();
    }
    let run = state.jobs.run_now(&name).await?;
    Ok(Json(for_tenant(run, caller.tenant())))
}
