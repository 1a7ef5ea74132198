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
use veritrail_alerts::ChannelError;
use veritrail_alerts::rules::MatchSpec;
use veritrail_core::alerting::{
    AlertError, AlertQuery, ChannelSummary, DeliveryCursor, DeliveryQuery, DeliveryStatus, NewRule, RuleKind,
    StoredRule,
};
use veritrail_core::auth::Scopes;
use veritrail_core::event::Severity;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::extract::JsonBody;
use crate::routes::params::{Params, reject_unknown};

/// Longest rule name.
const MAX_RULE_NAME: usize = 100;
/// Most channels of one rule.
const MAX_RULE_CHANNELS: usize = 20;
/// Longest cooldown: 30 days.
const MAX_COOLDOWN_SECONDS: u64 = 30 * 24 * 3600;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/channels", post(create_channel).get(list_channels))
        .route("/api/v1/alerts/channels/{id}", get(get_channel).delete(delete_channel))
        .route("/api/v1/alerts/channels/{id}/test", post(test_channel))
        .route("/api/v1/alerts/rules", post(create_rule).get(list_rules))
        .route("/api/v1/alerts/rules/{id}", get(get_rule).put(update_rule).delete(delete_rule))
        .route("/api/v1/alerts/deliveries", get(list_deliveries))
}

impl From<AlertError> for ApiError {
    fn from(error: AlertError) -> Self {
        match error {
            AlertError::UnknownChannel(id) => ApiError::new(
                ErrorCode::InvalidField,
                format!("channels: {id:?} is not one of this tenant's alert channels"),
            ),
            AlertError::UnknownRule(id) => ApiError::new(ErrorCode::NotFound, format!("no alert rule with id {id:?}")),
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
    caller.require(Scopes::ADMIN)?;
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
    caller.require(Scopes::READ)?;
    let channels = state.alerting.store().list_channels(caller.tenant()).await?;
    Ok(Json(json!({"channels": channels.into_iter().map(channel_view).collect::<Vec<_>>()})))
}

async fn get_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scopes::READ)?;
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
    caller.require(Scopes::ADMIN)?;
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
    caller.require(Scopes::ADMIN)?;
    let delivery = state.alerting.test_channel(caller.tenant(), &id, Utc::now()).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound, format!("no enabled alert channel with id {id:?} in this tenant"))
    })?;
    Ok(Json(json!({"ok": delivery.status == DeliveryStatus::Delivered, "delivery": delivery})))
}

/// Parses a rule body: `{"name", "kind"?, "min_severity", "channels", "match"?,
/// "cooldown_seconds"?, "enabled"?}`.
fn parse_rule(body: &Value) -> Result<NewRule, ApiError> {
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidField, message);
    let object = body.as_object().ok_or_else(|| invalid("the body must be a JSON object".into()))?;
    const FIELDS: [&str; 7] = ["name", "kind", "min_severity", "channels", "match", "cooldown_seconds", "enabled"];
    if let Some(unknown) = object.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(invalid(format!("unknown field {unknown:?}; a rule takes {}", FIELDS.join(", "))));
    }
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() && name.chars().count() <= MAX_RULE_NAME => name.clone(),
        _ => return Err(invalid(format!("name: required, 1 to {MAX_RULE_NAME} characters"))),
    };
    let kind = match object.get("kind") {
        None | Some(Value::Null) => RuleKind::Anomaly,
        Some(Value::String(kind)) => kind.parse().map_err(|error: String| invalid(format!("kind: {error}")))?,
        Some(_) => return Err(invalid("kind: must be \"anomaly\" or \"event\"".into())),
    };
    let min_severity = match object.get("min_severity") {
        Some(Value::String(text)) => match serde_json::from_value::<Severity>(Value::String(text.clone())) {
            Ok(severity) if severity >= Severity::Low => severity,
            _ => return Err(invalid(format!("min_severity: {text:?} is not one of low, medium, high, critical"))),
        },
        _ => return Err(invalid("min_severity: required, one of low, medium, high, critical".into())),
    };
    let channel_ids: Vec<String> = match object.get("channels") {
        Some(Value::Array(ids)) if !ids.is_empty() && ids.len() <= MAX_RULE_CHANNELS => ids
            .iter()
            .enumerate()
            .map(|(index, id)| {
                id.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(format!("channels[{index}]: must be a channel id")))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(invalid(format!("channels: required, 1 to {MAX_RULE_CHANNELS} channel ids"))),
    };
    let match_spec = match object.get("match") {
        None | Some(Value::Null) => None,
        Some(spec) => Some(spec.clone()),
    };
    MatchSpec::parse(kind, match_spec.as_ref()).map_err(|error| invalid(error.to_string()))?;
    let cooldown_seconds = match object.get("cooldown_seconds") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64() {
            Some(seconds) if seconds <= MAX_COOLDOWN_SECONDS => Some(seconds as u32),
            _ => return Err(invalid(format!("cooldown_seconds: an integer from 0 to {MAX_COOLDOWN_SECONDS}"))),
        },
    };
    let enabled = match object.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(enabled)) => *enabled,
        Some(_) => return Err(invalid("enabled: must be true or false".into())),
    };
    Ok(NewRule { name, kind, min_severity, channel_ids, match_spec, cooldown_seconds, enabled })
}

fn rule_view(rule: StoredRule) -> Value {
    serde_json::to_value(rule).unwrap_or(Value::Null)
}

async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.require(Scopes::ADMIN)?;
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
    caller.require(Scopes::READ)?;
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
    caller.require(Scopes::READ)?;
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
    caller.require(Scopes::ADMIN)?;
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
    caller.require(Scopes::ADMIN)?;
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
    caller.require(Scopes::READ)?;
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

/// Alerts, newest first, each with its deliveries: `rule_id`, `since` (RFC 3339), `limit`.
async fn list_alerts(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Scopes::READ)?;
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
