//! `/api/v1/events`: ingest (single and batch), read one, list.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use veritrail_core::access::Permission;
use veritrail_core::event::{NewEvent, Outcome, Receipt, Severity, StoredEvent};
use veritrail_core::store::{Appended, EventQuery};
use veritrail_core::validate::validate_client_event;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode, validation_error};
use crate::extract::JsonBody;
use crate::routes::params::{flag, reject_unknown};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/events",
            post(create_event).get(list_events).fallback(|| async { ApiError::method_not_allowed("GET, HEAD, POST") }),
        )
        // GET stays possible here: `batch` is also a valid client-chosen event id.
        .route(
            "/api/v1/events/batch",
            post(create_batch)
                .get(get_batch_named_event)
                .fallback(|| async { ApiError::method_not_allowed("GET, HEAD, POST") }),
        )
        .route(
            "/api/v1/ingest/cloudtrail",
            post(ingest_cloudtrail).fallback(|| async { ApiError::method_not_allowed("POST") }),
        )
        .route("/api/v1/events/{id}", get(get_event).fallback(|| async { ApiError::method_not_allowed("GET, HEAD") }))
}

/// A receipt in a batch answer: says whether this request stored it or an earlier one did.
#[derive(Debug, Serialize)]
struct BatchReceipt {
    #[serde(flatten)]
    receipt: Receipt,
    created: bool,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn create_event(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require(Permission::Ingest)?;
    let event = validate_client_event(&body, &state.limits.event, new_id).map_err(|err| validation_error(err, ""))?;
    let mut appended = state.events.append(caller.tenant(), vec![event]).await?;
    state.activity.appended();
    state.alerting.events_appended(caller.tenant());
    state.stream_hub.appended();
    let Appended { receipt, created } =
        appended.pop().ok_or_else(|| ApiError::internal("append returned no receipt"))?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/events/{}", receipt.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((status, headers, Json(receipt)).into_response())
}

async fn create_batch(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require(Permission::Ingest)?;
    let items = match &body {
        Value::Object(object) => {
            if let Some(unknown) = object.keys().find(|key| key.as_str() != "events") {
                return Err(ApiError::new(
                    ErrorCode::InvalidField,
                    format!("unknown field {unknown:?}: a batch is {{\"events\": [...]}}"),
                ));
            }
            match object.get("events") {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(ApiError::new(
                        ErrorCode::InvalidField,
                        "a batch is {\"events\": [...]} with an array of events",
                    ));
                }
            }
        }
        _ => return Err(ApiError::new(ErrorCode::InvalidField, "a batch is {\"events\": [...]}")),
    };
    if items.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidField, "events must contain at least one event"));
    }
    if items.len() > state.limits.max_batch_events {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!("a batch holds at most {} events, this one has {}", state.limits.max_batch_events, items.len()),
        ));
    }
    append_all(&state, &caller, items, "events").await
}

/// `POST /api/v1/ingest/cloudtrail`: a native CloudTrail file (`{"Records": [...]}`), mapped as
/// `veritrail_core::cloudtrail` documents, stored all or nothing like a batch.
async fn ingest_cloudtrail(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require(Permission::Ingest)?;
    let items = veritrail_core::cloudtrail::events_from_document(&body)
        .map_err(|err| ApiError::new(ErrorCode::InvalidField, err.to_string()))?;
    if items.len() > state.limits.max_batch_events {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!("at most {} records per request, this file has {}", state.limits.max_batch_events, items.len()),
        ));
    }
    append_all(&state, &caller, &items, "Records").await
}

/// Validates every item, then appends them all as one request: `201` with receipts, or `200` when
/// every event was stored before.
async fn append_all(state: &AppState, caller: &Caller, items: &[Value], what: &str) -> Result<Response, ApiError> {
    let events: Vec<NewEvent> = items
        .iter()
        .enumerate()
        .map(|(idx, item)| {
            validate_client_event(item, &state.limits.event, new_id)
                .map_err(|err| validation_error(err, &format!("{what}[{idx}].")))
        })
        .collect::<Result<_, _>>()?;
    let appended = state.events.append(caller.tenant(), events).await?;
    state.activity.appended();
    state.alerting.events_appended(caller.tenant());
    state.stream_hub.appended();
    let status = if appended.iter().any(|appended| appended.created) { StatusCode::CREATED } else { StatusCode::OK };
    let receipts: Vec<BatchReceipt> = appended
        .into_iter()
        .map(|appended| BatchReceipt { receipt: appended.receipt, created: appended.created })
        .collect();
    Ok((status, Json(serde_json::json!({ "receipts": receipts }))).into_response())
}

async fn get_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    caller.require(Permission::Read)?;
    reject_unknown(&params, &["proof"])?;
    let with_proof = flag(&params, "proof")?;
    if with_proof {
        caller.require(Permission::Proofs)?;
    }
    let event = state
        .events
        .get(caller.tenant(), &id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no event with id {id:?} in this tenant")))?;
    if !with_proof {
        return Ok(Json(event).into_response());
    }
    let latest = state.checkpoints.latest_checkpoint(caller.tenant()).await?;
    let proof = match &latest {
        Some(checkpoint) if event.seq < checkpoint.tree_size => Some(
            serde_json::to_value(
                crate::routes::transparency::build_inclusion(&state, caller.tenant(), event.seq, checkpoint.tree_size)
                    .await?,
            )
            .map_err(ApiError::internal)?,
        ),
        _ => None,
    };
    let mut body = serde_json::to_value(&event).map_err(ApiError::internal)?;
    if let Value::Object(members) = &mut body {
        let pending = proof
            .is_none()
            .then_some("the event is not yet covered by a published checkpoint; retry after the next one");
        members.insert("proof".to_owned(), proof.unwrap_or(Value::Null));
        members.insert(
            "checkpoint".to_owned(),
            serde_json::to_value(latest.filter(|_| pending.is_none())).map_err(ApiError::internal)?,
        );
        if let Some(pending) = pending {
            members.insert("proof_pending".to_owned(), Value::String(pending.to_owned()));
        }
    }
    Ok(Json(body).into_response())
}

async fn get_batch_named_event(
    state: State<AppState>,
    caller: Caller,
    params: Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    get_event(state, caller, Path("batch".to_owned()), params).await
}

#[derive(Debug, Serialize)]
struct EventPage {
    events: Vec<StoredEvent>,
    /// Pass as `cursor` to get the next (older) page; `null` on the last page.
    next_cursor: Option<String>,
}

const LIST_PARAMS: &[&str] =
    &["actor", "action", "severity", "resource_type", "resource_id", "outcome", "since", "until", "limit", "cursor"];

async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<EventPage>, ApiError> {
    caller.require(Permission::Read)?;
    let query = parse_list_query(&params, &state)?;
    let events = state.events.list(caller.tenant(), &query).await?;
    let next_cursor =
        if events.len() == query.limit as usize { events.last().map(|event| encode_cursor(event.seq)) } else { None };
    Ok(Json(EventPage { events, next_cursor }))
}

pub(crate) fn parse_list_query(params: &HashMap<String, String>, state: &AppState) -> Result<EventQuery, ApiError> {
    reject_unknown(params, LIST_PARAMS)?;
    let text = |name: &str| params.get(name).filter(|value| !value.is_empty()).cloned();
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        text(name)
            .map(|value| {
                DateTime::parse_from_rfc3339(&value).map(|time| time.with_timezone(&Utc)).map_err(|err| {
                    ApiError::new(ErrorCode::InvalidQuery, format!("{name}={value:?} is not an RFC 3339 time: {err}"))
                })
            })
            .transpose()
    };
    let limit = match text("limit") {
        None => state.limits.default_list_limit,
        Some(value) => match value.parse::<u32>() {
            Ok(0) | Err(_) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("limit={value:?} must be a positive integer"),
                ));
            }
            Ok(limit) => limit.min(state.limits.max_list_limit),
        },
    };
    let outcome = text("outcome")
        .map(|value| value.parse::<Outcome>().map_err(|message| ApiError::new(ErrorCode::InvalidQuery, message)))
        .transpose()?;
    let severity = text("severity")
        .map(|value| value.parse::<Severity>().map_err(|message| ApiError::new(ErrorCode::InvalidQuery, message)))
        .transpose()?;
    let before_seq = text("cursor").map(|cursor| decode_cursor(&cursor)).transpose()?;
    Ok(EventQuery {
        actor_id: text("actor"),
        action: text("action"),
        severity,
        resource_type: text("resource_type"),
        resource_id: text("resource_id"),
        outcome,
        since: time("since")?,
        until: time("until")?,
        before_seq,
        limit,
        ..Default::default()
    })
}

/// Cursors are opaque to clients; inside they name the seq the next page starts below.
fn encode_cursor(last_seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{last_seq}"))
}

fn decode_cursor(cursor: &str) -> Result<u64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("v1:").and_then(|seq| seq.parse().ok()))
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidQuery, "cursor is not one this server handed out"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)).ok(), Some(42));
        assert!(decode_cursor("not-a-cursor").is_err());
    }
}
