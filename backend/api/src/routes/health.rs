//! `/healthz` (the process answers) and `/readyz` (the database answers and is migrated; the
//! checks behind the answer only for admins).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use veritrail_core::access::Permission;

use crate::AppState;
use crate::auth::Caller;
use veritrail_core::event::TenantId;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Anyone (a load balancer, an orchestrator's probe) learns whether the server is ready; only an
/// admin (key or dashboard session) learns why: the database error, the integrity check's
/// result, which search is on. Those details tell an outsider what is broken or tampered with.
/// The integrity result is the admin's own tenant's; an operator key sees every tenant's.
async fn readyz(State(state): State<AppState>, caller: Option<Caller>) -> (StatusCode, Json<Value>) {
    let operator = caller.as_ref().is_some_and(|caller| caller.may(Permission::Operator));
    let detailed = operator || caller.as_ref().is_some_and(|caller| caller.may(Permission::Admin));
    let tenant = caller.as_ref().filter(|_| !operator).map(Caller::tenant);
    match state.readiness.check_ready().await {
        Ok(()) if detailed => {
            (StatusCode::OK, Json(json!({"status": "ready", "checks": ready_checks(&state, tenant)})))
        }
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            let mut body = json!({
                "status": "not_ready",
                "error": {"code": "unavailable", "message": "the database is not reachable or not migrated"},
            });
            if detailed {
                body["checks"] = json!({"database": err.to_string()});
            }
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}

/// What an admin of `tenant` (an operator: `None`) sees of a ready server.
fn ready_checks(state: &AppState, tenant: Option<&TenantId>) -> Value {
    // An integrity failure is reported here but does not make the server unready: refusing new
    // audit events would only lose more evidence. It is alerted and logged at ERROR instead.
    let integrity = state.integrity.status();
    let failures =
        integrity.failures.iter().filter(|failure| tenant.is_none_or(|tenant| &failure.tenant == tenant)).count();
    // Another tenant's broken chain is neither this tenant's business nor a thing to hint at.
    let status = match integrity.status {
        "not_run" => "not_run",
        _ if failures == 0 => "ok",
        _ => "failed",
    };
    let integrity = json!({
        "status": status,
        "last_run": integrity.last_run.as_ref().map(veritrail_core::event::format_time),
        "failures": failures,
    });
    // Without an embedding model the server is still ready: keyword search works.
    let search = match state.search.model_id() {
        Some(model) => json!({"semantic": "on", "model": model}),
        None => json!({
            "semantic": "off",
            "reason": "no embedding model is loaded (run `veritrail models fetch`); keyword search only",
        }),
    };
    json!({"database": "ok", "integrity": integrity, "search": search})
}
