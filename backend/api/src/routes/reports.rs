//! Reports and scheduled reports. Every route needs the `export` permission and touches only the
//! caller's tenant; requests only record what is asked for, the worker makes the files.
//!
//! - `POST /api/v1/reports` `{"kind", "format", "since", "until", "filter"?, "subject"?}` → 202;
//! - `GET /api/v1/reports`, `GET /api/v1/reports/{id}`;
//! - `GET /api/v1/reports/{id}/download` (the PDF or CSV), `GET /api/v1/reports/{id}/evidence`
//!   (the evidence bundle of its events, also embedded in PDFs);
//! - `POST|GET /api/v1/reports/schedules`, `GET|PUT|DELETE /api/v1/reports/schedules/{id}`,
//!   `POST /api/v1/reports/schedules/{id}/run` (sends one now), `GET .../{id}/runs`.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};
use veritrail_core::access::Permission;
use veritrail_core::event::format_time;
use veritrail_core::reports::{ReportStatus, StoredReport};
use veritrail_reports::ScheduleError;
use veritrail_reports::request::parse_report;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::extract::JsonBody;
use crate::routes::params::{Params, reject_unknown};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports", get(list))
        .route("/api/v1/reports/schedules", post(create_schedule).get(list_schedules))
        .route("/api/v1/reports/schedules/{id}", get(get_schedule).put(update_schedule).delete(delete_schedule))
        .route("/api/v1/reports/schedules/{id}/runs", get(list_runs))
        .route("/api/v1/reports/{id}", get(one))
        .route("/api/v1/reports/{id}/download", get(download))
        .route("/api/v1/reports/{id}/evidence", get(evidence))
}

/// Expensive: a report request, and a scheduled report made and sent now, are under
/// [`crate::expensive`]'s slots and time limit.
pub(crate) fn expensive_router() -> Router<AppState> {
    Router::new().route("/api/v1/reports", post(create)).route("/api/v1/reports/schedules/{id}/run", post(run_schedule))
}

/// A report as the API shows it: optional numbers only once known.
fn view(report: &StoredReport) -> Value {
    let spec = &report.spec;
    let mut view = json!({
        "id": report.id,
        "kind": spec.kind.as_str(),
        "format": spec.format.as_str(),
        "status": report.status.as_str(),
        "since": format_time(&spec.since),
        "until": format_time(&spec.until),
        "filter": spec.filter,
        "requested_by": report.requested_by,
        "created_at": format_time(&report.created_at),
        "finished_at": report.finished_at.as_ref().map(format_time),
        "download": format!("/api/v1/reports/{}/download", report.id),
    });
    let mut optional = |name: &str, value: Value| {
        if !value.is_null() {
            view[name] = value;
        }
    };
    optional("subject", json!(spec.subject));
    optional("schedule_id", json!(report.schedule_id));
    optional("started_at", json!(report.started_at.as_ref().map(format_time)));
    optional("pages", json!(report.pages));
    optional("events", json!(report.events));
    optional("sha256", json!(report.sha256));
    optional("error", json!(report.error));
    if let (Some(tree_size), Some(root_hash)) = (report.checkpoint_size, &report.checkpoint_root) {
        optional("checkpoint", json!({"tree_size": tree_size, "root_hash": root_hash}));
    }
    if report.status == ReportStatus::Done {
        optional("evidence", json!(format!("/api/v1/reports/{}/evidence", report.id)));
    }
    view
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no {what} {id:?} in this tenant"))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Permission::Export)?;
    let spec = parse_report(&body).map_err(|err| ApiError::new(ErrorCode::InvalidField, err.0))?;
    let report = state.reports.request(caller.tenant(), spec, &caller.label(), Utc::now()).await?;
    Ok((StatusCode::ACCEPTED, Json(view(&report))))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Export)?;
    reject_unknown(&params, &["limit", "cursor"])?;
    let limit = match params.get("limit").filter(|value| !value.is_empty()) {
        None => state.limits.default_list_limit,
        Some(value) => match value.parse::<u32>() {
            Ok(limit) if limit > 0 => limit.min(state.limits.max_list_limit),
            _ => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("limit={value:?} must be a positive integer"),
                ));
            }
        },
    };
    let cursor = params.get("cursor").filter(|value| !value.is_empty()).map(String::as_str);
    let reports = state.reports.store().list_reports(caller.tenant(), cursor, limit).await?;
    let next_cursor = (reports.len() as u32 == limit).then(|| reports.last().map(|last| last.id.clone())).flatten();
    Ok(Json(json!({"reports": reports.iter().map(view).collect::<Vec<_>>(), "next_cursor": next_cursor})))
}

async fn one(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Export)?;
    let report = state.reports.store().get_report(caller.tenant(), &id).await?;
    Ok(Json(view(&report.ok_or_else(|| not_found("report", &id))?)))
}

/// The report, which must be done; refuses a pending, running or failed one with 409.
async fn done_report(state: &AppState, caller: &Caller, id: &str) -> Result<StoredReport, ApiError> {
    let report = state.reports.store().get_report(caller.tenant(), id).await?.ok_or_else(|| not_found("report", id))?;
    if report.status != ReportStatus::Done {
        let why = report.error.as_deref().map(|error| format!(": {error}")).unwrap_or_default();
        return Err(ApiError::new(
            ErrorCode::ReportNotReady,
            format!("report {id} is {}{why}; download it once its status is done", report.status.as_str()),
        ));
    }
    Ok(report)
}

async fn download(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(Permission::Export)?;
    let report = done_report(&state, &caller, &id).await?;
    let file =
        state.reports.store().report_file(caller.tenant(), &id).await?.ok_or_else(|| not_found("report", &id))?;
    tracing::info!(tenant = %caller.tenant(), report = %id, by = %caller.label(), "report downloaded");
    let name = format!(
        "veritrail-{}-{}-{}.{}",
        report.spec.kind.as_str(),
        caller.tenant(),
        report.spec.until.format("%Y%m%d"),
        report.spec.format.as_str()
    );
    Ok((
        [
            (header::CONTENT_TYPE, report.spec.format.content_type().to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        file.content,
    )
        .into_response())
}

async fn evidence(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    caller.require(Permission::Export)?;
    done_report(&state, &caller, &id).await?;
    let file =
        state.reports.store().report_file(caller.tenant(), &id).await?.ok_or_else(|| not_found("report", &id))?;
    let bytes = file.evidence.ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound, "this report has no evidence bundle: the log was empty when it was made")
    })?;
    let name = format!("veritrail-evidence-{}-{id}.tar", caller.tenant());
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}

fn schedule_error(error: ScheduleError) -> ApiError {
    match error {
        ScheduleError::Invalid(message) => ApiError::new(ErrorCode::InvalidField, message),
        ScheduleError::Store(store) => store.into(),
    }
}

async fn create_schedule(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Permission::Export)?;
    let schedule = state.reports.create_schedule(caller.tenant(), &body, Utc::now()).await.map_err(schedule_error)?;
    tracing::info!(tenant = %caller.tenant(), schedule = %schedule.id, by = %caller.label(), "report schedule created");
    Ok((StatusCode::CREATED, Json(json!(schedule))))
}

async fn list_schedules(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Export)?;
    Ok(Json(json!({"schedules": state.reports.store().list_schedules(caller.tenant()).await?})))
}

async fn get_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Export)?;
    let schedule = state.reports.store().get_schedule(caller.tenant(), &id).await?;
    Ok(Json(json!(schedule.ok_or_else(|| not_found("schedule", &id))?)))
}

async fn update_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Export)?;
    let schedule =
        state.reports.update_schedule(caller.tenant(), &id, &body, Utc::now()).await.map_err(schedule_error)?;
    Ok(Json(json!(schedule.ok_or_else(|| not_found("schedule", &id))?)))
}

async fn delete_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::Export)?;
    if !state.reports.store().delete_schedule(caller.tenant(), &id).await? {
        return Err(not_found("schedule", &id));
    }
    tracing::info!(tenant = %caller.tenant(), schedule = %id, by = %caller.label(), "report schedule deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn run_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Export)?;
    let schedule =
        state.reports.store().get_schedule(caller.tenant(), &id).await?.ok_or_else(|| not_found("schedule", &id))?;
    let run = state.reports.run_now(&schedule, Utc::now()).await?;
    Ok(Json(json!(run)))
}

async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Export)?;
    if state.reports.store().get_schedule(caller.tenant(), &id).await?.is_none() {
        return Err(not_found("schedule", &id));
    }
    Ok(Json(json!({"runs": state.reports.store().list_runs(caller.tenant(), &id, 100).await?})))
}
