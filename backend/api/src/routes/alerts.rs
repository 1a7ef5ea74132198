//! Alerting over HTTP: channels (`/api/v1/alerts/channels`, with a `test` action), rules
//! (`/api/v1/alerts/rules`), and what was raised and sent (`/api/v1/alerts`,
//! `/api/v1/alerts/deliveries`).
//!
//! Writes need the `admin` scope, reads `read`. A channel's configuration is sealed at rest and
//! only its redacted view is ever answered (URLs cut to scheme and host, `has_secret` /
//! `has_password` flags instead of secrets).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use veritrail_alerts::{ChannelError, DeliveryRetry};
use veritrail_core::access::Permission;
use veritrail_core::alerting::{
    AlertError, AlertQuery, ChannelSummary, DeliveryCursor, DeliveryQuery, DeliveryStatus, NewRule, RuleKind,
    StoredRule,
};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::extract::JsonBody;
use crate::routes::params::{Params, reject_unknown};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/channels", post(create_channel).get(list_channels))
        .route("/api/v1/alerts/channels/{id}", get(get_channel).delete(delete_channel))
        .route("/api/v1/alerts/channels/{id}/test", post(test_channel))
        .route("/api/v1/alerts/rules", post(create_rule).get(list_rules))
        .route("/api/v1/alerts/rules/{id}", get(get_rule).put(update_rule).delete(delete_rule))
        .route("/api/v1/alerts/deliveries", get(list_deliveries))
        .route("/api/v1/alerts/deliveries/{id}/retry", post(retry_delivery))
        .route("/api/v1/alerts/deliveries/{id}/attempts", get(list_attempts))
}

impl From<AlertError> for ApiError {
    fn from(error: AlertError) -> Self {
        match error {
            AlertError::UnknownChannel(id) => ApiError::new(
                ErrorCode::InvalidField,
                format!("channels: {id:?} is not one of this tenant's alert channels"),
            ),
            AlertError::UnknownRule(id) => ApiError::new(ErrorCode::NotFound, format!("no alert rule with id {id:?}")),
            // The API records no alert with a cooldown (only the raising paths do).
            AlertError::InCooldown(key) => ApiError::internal(format!("alert {key:?} held back by its cooldown")),
            AlertError::Store(store) => store.into(),
        }
    }
}

/// A channel as answered: the redacted configuration under `config`.
fn channel_view(channel: ChannelSummary) -> Value {
    json!({
        "id": channel.id,
        "kind": channel.kind,
        "name": channel.name,
        "config": channel.config_public,
        "disabled": channel.disabled,
        "created_at": veritrail_core::event::format_time(&channel.created_at),
    })
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("no {what} with id {id:?} in this tenant"))
}

async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require(Permission::Admin)?;
    let channel =
        state.alerting.create_channel(caller.tenant(), body, Utc::now()).await.map_err(|error| match error {
            ChannelError::Invalid(message) | ChannelError::Target(message) => {
                ApiError::new(ErrorCode::InvalidField, message)
            }
            ChannelError::Store(store) => store.into(),
        })?;
    Ok((StatusCode::CREATED, Json(channel_view(channel))).into_response())
}

async fn list_channels(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let channels = state.alerting.store().list_channels(caller.tenant()).await?;
    Ok(Json(json!({"channels": channels.into_iter().map(channel_view).collect::<Vec<_>>()})))
}

async fn get_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let channel = state
        .alerting
        .store()
        .get_channel(caller.tenant(), &id)
        .await?
        .ok_or_else(|| not_found("alert channel", &id))?;
    Ok(Json(channel_view(channel.channel)))
}

async fn delete_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::Admin)?;
    if state.alerting.store().delete_channel(caller.tenant(), &id, Utc::now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found("alert channel", &id))
    }
}

/// Sends a test message now and answers with the recorded delivery (`ok` tells whether it
/// arrived; `last_error` why not).
async fn test_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Admin)?;
    let delivery = state.alerting.test_channel(caller.tenant(), &id, Utc::now()).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound, format!("no enabled alert channel with id {id:?} in this tenant"))
    })?;
    Ok(Json(json!({"ok": delivery.status == DeliveryStatus::Delivered, "delivery": delivery})))
}

/// Parses a rule body ([`veritrail_alerts::rules::parse_rule`]); mistakes are a 422.
fn parse_rule(body: &Value) -> Result<NewRule, ApiError> {
    veritrail_alerts::rules::parse_rule(body).map_err(|message| ApiError::new(ErrorCode::InvalidField, message))
}

fn rule_view(rule: StoredRule) -> Value {
    serde_json::to_value(rule).unwrap_or(Value::Null)
}

async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require(Permission::Admin)?;
    let rule = parse_rule(&body)?;
    let stored = state.alerting.store().create_rule(caller.tenant(), &rule, Utc::now()).await?;
    state.alerting.rules_changed(caller.tenant());
    Ok((StatusCode::CREATED, Json(rule_view(stored))).into_response())
}

async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    reject_unknown(&params, &["kind"])?;
    let kind = params
        .get("kind")
        .filter(|kind| !kind.is_empty())
        .map(|kind| kind.parse::<RuleKind>().map_err(|error| ApiError::new(ErrorCode::InvalidQuery, error)))
        .transpose()?;
    let rules = state.alerting.store().list_rules(caller.tenant(), kind).await?;
    Ok(Json(json!({"rules": rules.into_iter().map(rule_view).collect::<Vec<_>>()})))
}

async fn get_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let rule =
        state.alerting.store().get_rule(caller.tenant(), &id).await?.ok_or_else(|| not_found("alert rule", &id))?;
    Ok(Json(rule_view(rule)))
}

async fn update_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Admin)?;
    let rule = parse_rule(&body)?;
    let stored = state
        .alerting
        .store()
        .update_rule(caller.tenant(), &id, &rule)
        .await?
        .ok_or_else(|| not_found("alert rule", &id))?;
    state.alerting.rules_changed(caller.tenant());
    Ok(Json(rule_view(stored)))
}

async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Permission::Admin)?;
    let deleted = state.alerting.store().delete_rule(caller.tenant(), &id).await?;
    state.alerting.rules_changed(caller.tenant());
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(not_found("alert rule", &id)) }
}

fn limit(state: &AppState, params: &Params) -> Result<u32, ApiError> {
    match params.get("limit").filter(|value| !value.is_empty()) {
        None => Ok(state.limits.default_list_limit),
        Some(value) => match value.parse::<u32>() {
            Ok(limit) if limit > 0 => Ok(limit.min(state.limits.max_list_limit)),
            _ => Err(ApiError::new(ErrorCode::InvalidQuery, format!("limit={value:?} must be a positive integer"))),
        },
    }
}

/// Deliveries, newest first: `status` (pending, delivered, dead), `alert_id`, `limit`, `cursor`
/// (the `next_cursor` of the previous page).
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    reject_unknown(&params, &["status", "alert_id", "limit", "cursor"])?;
    let status = params
        .get("status")
        .filter(|value| !value.is_empty())
        .map(|value| value.parse::<DeliveryStatus>().map_err(|error| ApiError::new(ErrorCode::InvalidQuery, error)))
        .transpose()?;
    let before = params
        .get("cursor")
        .filter(|value| !value.is_empty())
        .map(|value| value.parse::<DeliveryCursor>().map_err(|error| ApiError::new(ErrorCode::InvalidQuery, error)))
        .transpose()?;
    let limit = limit(&state, &params)?;
    let query = DeliveryQuery {
        status,
        alert_id: params.get("alert_id").filter(|value| !value.is_empty()).cloned(),
        before,
        limit,
    };
    let deliveries = state.alerting.store().list_deliveries(caller.tenant(), &query).await?;
    let next_cursor =
        (deliveries.len() as u32 == limit).then(|| deliveries.last().map(|last| last.cursor().to_string()));
    Ok(Json(json!({"deliveries": deliveries, "next_cursor": next_cursor.flatten()})))
}

/// Every attempt of one delivery whose result was recorded, oldest first: `{attempt, holder,
/// finished_at, outcome: delivered|retry|dead, error}`.
async fn list_attempts(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    let attempts =
        state.alerting.store().list_attempts(caller.tenant(), &id).await?.ok_or_else(|| not_found("delivery", &id))?;
    Ok(Json(json!({"delivery_id": id, "attempts": attempts})))
}

/// `POST /api/v1/alerts/deliveries/{id}/retry`: puts a dead-lettered delivery back in the outbox,
/// due now with a fresh attempt count; the worker sends it at once.
async fn retry_delivery(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Admin)?;
    match state.alerting.retry_delivery(caller.tenant(), &id, Utc::now()).await? {
        DeliveryRetry::Requeued => Ok(Json(json!({"delivery_id": id, "status": DeliveryStatus::Pending}))),
        DeliveryRetry::NotDead => Err(ApiError::new(
            ErrorCode::DeliveryNotDead,
            format!(
                "delivery {id:?} is not dead-lettered (or its channel was deleted); only dead deliveries can be retried"
            ),
        )),
        DeliveryRetry::Unknown => Err(not_found("delivery", &id)),
    }
}

/// Alerts, newest first, each with its deliveries: `rule_id`, `since` (RFC 3339), `limit`.
async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Permission::Read)?;
    reject_unknown(&params, &["rule_id", "since", "limit"])?;
    let since = params
        .get("since")
        .filter(|value| !value.is_empty())
        .map(|value| {
            DateTime::parse_from_rfc3339(value).map(|time| time.with_timezone(&Utc)).map_err(|_| {
                ApiError::new(ErrorCode::InvalidQuery, format!("since={value:?} must be an RFC 3339 time"))
            })
        })
        .transpose()?;
    let query = AlertQuery {
        rule_id: params.get("rule_id").filter(|value| !value.is_empty()).cloned(),
        since,
        limit: limit(&state, &params)?,
    };
    let store = state.alerting.store();
    let alerts = store.list_alerts(caller.tenant(), &query).await?;
    let mut answered = Vec::with_capacity(alerts.len());
    for alert in alerts {
        let deliveries = store
            .list_deliveries(
                caller.tenant(),
                &DeliveryQuery { alert_id: Some(alert.id.clone()), limit: 100, ..Default::default() },
            )
            .await?;
        let mut value = serde_json::to_value(alert).map_err(ApiError::internal)?;
        if let Value::Object(object) = &mut value {
            object.insert("deliveries".into(), serde_json::to_value(deliveries).map_err(ApiError::internal)?);
        } else {
            value = Value::Object(Map::new());
        }
        answered.push(value);
    }
    Ok(Json(json!({"alerts": answered})))
}
