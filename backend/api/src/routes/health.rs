//! `/healthz` (the process answers) and `/readyz` (the database answers and is migrated).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    // An integrity failure is reported here but does not make the server unready: refusing new
    // audit events would only lose more evidence. It is alerted and logged at ERROR instead.
    let integrity = state.integrity.status();
    let integrity = json!({
        "status": integrity.status,
        "last_run": integrity.last_run.as_ref().map(veritrail_core::event::format_time),
        "failures": integrity.failures.len(),
    });
    // Without an embedding model the server is still ready: keyword search works.
    let search = match state.search.model_id() {
        Some(model) => json!({"semantic": "on", "model": model}),
        None => json!({
            "semantic": "off",
            "reason": "no embedding model is loaded (run `veritrail models fetch`); keyword search only",
        }),
    };
    match state.readiness.check_ready().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ready", "checks": {"database": "ok", "integrity": integrity, "search": search}})),
        ),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "not_ready",
                    "checks": {"database": err.to_string()},
                    "error": {"code": "unavailable", "message": "the database is not reachable or not migrated"},
                })),
            )
        }
    }
}
