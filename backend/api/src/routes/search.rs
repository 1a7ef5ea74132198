//! `POST /api/v1/search`: a question in plain language → how it was understood, the ranked
//! events, and a short answer citing them (each citation with its inclusion proof when a
//! published checkpoint covers it). `GET /api/v1/search/status`: how far indexing has got, and
//! whether it is holding back for ingest.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use veritrail_core::access::Permission;
use veritrail_search::{SearchError, SearchRequest};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::extract::JsonBody;

/// Results when the request names no limit, and the most it may ask for.
const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 100;
/// Longest question accepted, in characters.
const MAX_QUERY_CHARS: usize = 1_000;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/search/status", get(status))
}

/// Expensive (a model and perhaps a paid chat call): under [`crate::expensive`]'s slots and time
/// limit.
pub(crate) fn expensive_router() -> Router<AppState> {
    Router::new().route("/api/v1/search", post(search))
}

impl From<SearchError> for ApiError {
    fn from(err: SearchError) -> Self {
        match err {
            SearchError::Store(store) => store.into(),
            SearchError::Embed(embed) => {
                ApiError::new(ErrorCode::Unavailable, format!("the embedding model failed: {embed}"))
            }
        }
    }
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Search)?;
    let request = parse_request(&body)?;
    // Read before the search: whatever this reports as indexed, the search saw at least that.
    let index = index_status(&state, caller.tenant()).await?;
    let response = state.search.search(caller.tenant(), &request).await?;

    let latest = state.checkpoints.latest_checkpoint(caller.tenant()).await?;
    let mut citations = Vec::with_capacity(response.answer.citations.len());
    for citation in &response.answer.citations {
        let proof = match &latest {
            Some(checkpoint) if citation.seq < checkpoint.tree_size => serde_json::to_value(
                crate::routes::transparency::build_inclusion(
                    &state,
                    caller.tenant(),
                    citation.seq,
                    checkpoint.tree_size,
                )
                .await?,
            )
            .map_err(ApiError::internal)?,
            _ => Value::Null,
        };
        citations.push(json!({"id": citation.id, "seq": citation.seq, "proof": proof}));
    }
    let results: Vec<Value> = response
        .results
        .iter()
        .map(|result| json!({"event": result.event, "score": result.score, "matched": result.matched}))
        .collect();
    Ok(Json(json!({
        "interpretation": response.interpretation,
        "results": results,
        "answer": {
            "text": response.answer.text,
            "citations": citations,
            "generated_by": response.answer.generated_by,
        },
        "mode": response.mode,
        "index": index,
    })))
}

/// How complete the index a search answers from is: the search never waits for it, it says so.
async fn index_status(state: &AppState, tenant: &veritrail_core::event::TenantId) -> Result<Value, ApiError> {
    let progress = state.search.progress(tenant).await?;
    let semantic = state.search.semantic_enabled();
    let complete = progress.indexed >= progress.events && (!semantic || progress.embedded >= progress.events);
    Ok(json!({
        "complete": complete,
        "events": progress.events,
        "indexed": progress.indexed,
        "embedded": if semantic { json!(progress.embedded) } else { Value::Null },
    }))
}

/// Validates `{query, limit?, now?}`.
fn parse_request(body: &Value) -> Result<SearchRequest, ApiError> {
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidField, message);
    let object = body.as_object().ok_or_else(|| invalid("the body must be an object {\"query\": ...}".to_owned()))?;
    reject_unknown_fields(object)?;
    let query = match object.get("query") {
        Some(Value::String(query)) if !query.trim().is_empty() => query.trim().to_owned(),
        Some(Value::String(_)) => return Err(invalid("query must not be empty".to_owned())),
        Some(_) => return Err(invalid("query must be a string".to_owned())),
        None => return Err(invalid("query is required".to_owned())),
    };
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid(format!("query is longer than {MAX_QUERY_CHARS} characters")));
    }
    let limit = match object.get("limit") {
        None | Some(Value::Null) => DEFAULT_LIMIT,
        Some(value) => match value.as_u64() {
            Some(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
            _ => return Err(invalid(format!("limit must be an integer from 1 to {MAX_LIMIT}"))),
        },
    };
    let now = match object.get("now") {
        None | Some(Value::Null) => Utc::now(),
        Some(Value::String(now)) => DateTime::parse_from_rfc3339(now)
            .map_err(|err| invalid(format!("now must be an RFC 3339 time such as 2026-01-31T12:00:00Z: {err}")))?
            .with_timezone(&Utc),
        Some(_) => return Err(invalid("now must be a string".to_owned())),
    };
    Ok(SearchRequest { query, limit: limit as u32, now })
}

fn reject_unknown_fields(object: &Map<String, Value>) -> Result<(), ApiError> {
    const KNOWN: [&str; 3] = ["query", "limit", "now"];
    match object.keys().find(|key| !KNOWN.contains(&key.as_str())) {
        Some(unknown) => Err(ApiError::new(
            ErrorCode::InvalidField,
            format!("unknown field {unknown:?}; a search takes {}", KNOWN.join(", ")),
        )),
        None => Ok(()),
    }
}

async fn status(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let progress = state.search.progress(caller.tenant()).await?;
    let semantic = state.search.semantic_enabled();
    let activity = &state.activity;
    Ok(Json(json!({
        "semantic": if semantic { "on" } else { "off" },
        "model": state.search.model_id(),
        "events": progress.events,
        "indexed": progress.indexed,
        "embedded": progress.embedded,
        // Events waiting for a search document, and (with a model) for their text's vector.
        "lag": progress.events.saturating_sub(progress.indexed),
        "vectors_lag": if semantic { progress.events.saturating_sub(progress.embedded) } else { 0 },
        // While ingest is busy, indexing holds back to its share of the machine; the lag then
        // grows and shrinks again once ingest is quiet.
        "background": {
            "ingest_busy": activity.is_busy(),
            "busy_share": activity.settings().busy_share,
            "paused_seconds": activity.paused().as_secs_f64(),
        },
    })))
}
