//! `GET /api/v1/admin/jobs` and `POST /api/v1/admin/jobs/{name}/run`.
//!
//! A tenant's admin runs jobs for its own tenant only and sees run records cut down to its own
//! part: its tenant's figures (`details.tenants.<tenant>` becomes `details.tenant`), no replica
//! name and no error text (a failed run over every tenant may name anyone's data). A key with the
//! `operator` scope (created only from the command line) runs jobs over every tenant, or one
//! (`?tenant=`), and sees whole records.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use veritrail_core::access::Permission;
use veritrail_core::event::TenantId;
use veritrail_core::jobs::{JobError, JobRun, JobScope};

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

/// What a tenant's admin is told of a failed run; the error itself is in the server's log.
const FAILED_RUN: &str = "the run failed; the server's log has the details";

/// A run record as `tenant`'s admin may see it.
pub(crate) fn run_for_tenant(run: &JobRun, tenant: &TenantId) -> Value {
    let tenant_part = run.details.get("tenants").and_then(|tenants| tenants.get(tenant.as_str())).cloned();
    json!({
        "id": run.id,
        "job": run.job,
        "trigger": run.trigger,
        "scope": if run.tenant.is_some() { "tenant" } else { "all" },
        "started_at": veritrail_core::event::format_time(&run.started_at),
        "finished_at": veritrail_core::event::format_time(&run.finished_at),
        "outcome": run.outcome,
        "error": run.error.as_ref().map(|_| FAILED_RUN),
        "details": {"tenant": tenant_part},
    })
}

/// Whether the caller acts as the operator (every tenant, whole records) or as its tenant's admin.
fn is_operator(caller: &Caller) -> Result<bool, ApiError> {
    if caller.may(Permission::Operator) {
        return Ok(true);
    }
    caller.require(Permission::Admin)?;
    Ok(false)
}

async fn list_jobs(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let operator = is_operator(&caller)?;
    let statuses = state.jobs.status((!operator).then(|| caller.tenant())).await?;
    let jobs: Vec<Value> = statuses
        .into_iter()
        .map(|status| {
            let last_run = status.last_run.map(|run| {
                if operator {
                    serde_json::to_value(&run).unwrap_or(Value::Null)
                } else {
                    run_for_tenant(&run, caller.tenant())
                }
            });
            json!({
                "name": status.name,
                "schedule": status.schedule,
                "next_run": status.next_run.as_ref().map(veritrail_core::event::format_time),
                "last_run": last_run,
            })
        })
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}

/// Runs the job now and answers with its run record once it has finished: for the caller's
/// tenant, or for every tenant (or `?tenant=`) with an operator key. `integrity-check` takes
/// `?full=true` to re-verify everything instead of only what is new.
async fn run_job(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let operator = is_operator(&caller)?;
    reject_unknown(&params, &["full", "tenant"])?;
    let scope = match (operator, params.get("tenant")) {
        (true, None) => JobScope::AllTenants,
        (true, Some(raw)) => {
            JobScope::Tenant(TenantId::parse(raw).map_err(|message| ApiError::new(ErrorCode::InvalidQuery, message))?)
        }
        (false, None) => JobScope::Tenant(caller.tenant().clone()),
        (false, Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "tenant= is for operator keys; a tenant's admin runs jobs for its own tenant",
            ));
        }
    };
    if flag(&params, "full")? {
        if name != "integrity-check" {
            return Err(ApiError::new(ErrorCode::InvalidQuery, "full=true applies to the integrity-check job only"));
        }
        state.integrity.forget(&scope);
    }
    let run = state.jobs.run_now(&name, scope).await?;
    tracing::info!(job = %name, run = %run.id, outcome = %run.outcome, by = %caller.label(), "job run on demand");
    Ok(Json(if operator {
        serde_json::to_value(&run).unwrap_or(Value::Null)
    } else {
        run_for_tenant(&run, caller.tenant())
    }))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use veritrail_core::jobs::{RunOutcome, Trigger};

    use super::*;

    #[test]
    fn a_tenant_sees_its_own_figures_and_no_error_text_of_a_failed_run() {
        let (acme, globex) = (TenantId::parse("acme").expect("tenant"), TenantId::parse("globex").expect("tenant"));
        let run = JobRun {
            id: "run-1".into(),
            job: "event-alerts".into(),
            trigger: Trigger::Schedule,
            tenant: None,
            holder: "4242-replica".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            outcome: RunOutcome::Failure,
            error: Some("tenant globex: relation \"secret_table\" is locked".into()),
            details: json!({"evaluated": 9, "tenants": {"acme": {"evaluated": 2}, "globex": {"evaluated": 7}}}),
        };
        let shown = run_for_tenant(&run, &acme);
        assert_eq!(shown["details"], json!({"tenant": {"evaluated": 2}}));
        assert_eq!(shown["error"], FAILED_RUN);
        assert_eq!(shown["scope"], "all");
        let text = shown.to_string();
        assert!(!text.contains("globex") && !text.contains("secret_table") && !text.contains("4242"), "{text}");
        assert_eq!(run_for_tenant(&run, &globex)["details"], json!({"tenant": {"evaluated": 7}}));
    }
}
