//! `GET /api/v1/stream`: the WebSocket of the live dashboard (protocol in [`crate::stream`]).

use std::time::Instant;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{State, ws::rejection::WebSocketUpgradeRejection};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use veritrail_core::access::Permission;
use veritrail_core::alerting::AlertQuery;
use veritrail_core::anomalies::AnomalyQuery;

use crate::AppState;
use crate::auth::{Caller, Principal, check_same_origin};
use crate::error::{ApiError, ErrorCode};
use crate::stream::{
    BATCH, HEARTBEAT, IDLE, POLL, SEND_TIMEOUT, SLOW_POLL, SUBSCRIBE_TIMEOUT, Seen, StreamSlot, Subscribe, Topic,
    error_message, event_message,
};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/v1/stream", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    caller.require(Permission::Read)?;
    // A browser's cookie goes along with any page's WebSocket, so a signed-in stream must come
    // from this server's own pages: its Origin must be present and ours.
    if matches!(caller.principal, Principal::User { .. }) && !headers.contains_key(header::ORIGIN) {
        return Err(ApiError::new(ErrorCode::Forbidden, "a signed-in stream needs the browser's Origin header"));
    }
    check_same_origin(&headers)?;
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::new(ErrorCode::InvalidQuery, format!("this endpoint speaks WebSocket only ({rejection})"))
    })?;
    let slot = state.stream_hub.enter(caller.label()).ok_or_else(|| ApiError {
        retry_after: Some(5),
        ..ApiError::new(ErrorCode::RateLimited, "too many open streams for this caller")
    })?;
    Ok(upgrade.max_message_size(64 * 1024).on_upgrade(move |socket| async move {
        if let Err(reason) = serve(socket, state, caller, slot).await {
            tracing::debug!(%reason, "stream closed");
        }
    }))
}

/// Why a stream ended early.
type Closed = String;

async fn send(socket: &mut WebSocket, message: Value) -> Result<(), Closed> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(message.to_string().into()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("send failed: {error}")),
        Err(_) => Err("lagging".to_owned()),
    }
}

async fn serve(mut socket: WebSocket, state: AppState, caller: Caller, _slot: StreamSlot) -> Result<(), Closed> {
    let subscribe = match read_subscribe(&mut socket).await {
        Ok(subscribe) => subscribe,
        Err(message) => {
            let _ = send(&mut socket, error_message(&message)).await;
            let _ = socket.send(Message::Close(None)).await;
            return Err(message);
        }
    };
    let tenant = caller.tenant().clone();
    let events = state.events.clone();
    let head = |head: Option<veritrail_core::store::ChainHead>| head.map_or(0, |head| head.next_seq);
    let mut cursor = match subscribe.since_seq {
        Some(seq) => seq.saturating_add(1),
        None => head(events.head(&tenant).await.map_err(|error| error.to_string())?),
    };
    let mut appends = state.stream_hub.subscribe_appends();
    let mut poll = tokio::time::interval(POLL);
    let mut slow = tokio::time::interval(SLOW_POLL);
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut last_heard = Instant::now();
    let mut anomalies_seen = Seen::default();
    let mut alerts_seen = Seen::default();
    let mut last_job_runs: Option<Value> = None;
    let mut last_integrity: Option<Value> = None;
    let mut first_slow_poll = true;
    let mut wake = true;
    loop {
        if wake && subscribe.wants(Topic::Events) {
            // Catch up from the cursor; a send that times out means the client stopped reading.
            loop {
                let batch = events.scan(&tenant, cursor, BATCH).await.map_err(|error| error.to_string())?;
                for event in &batch {
                    if event.seq < cursor {
                        continue;
                    }
                    if subscribe.filter.matches(event)
                        && let Err(reason) = send(&mut socket, event_message(event)).await
                    {
                        let resume = json!({"type": "lagged", "resume_from_seq": cursor.checked_sub(1)});
                        let _ =
                            tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(resume.to_string().into())))
                                .await;
                        return Err(reason);
                    }
                    cursor = event.seq + 1;
                }
                if batch.len() < BATCH as usize {
                    break;
                }
            }
        }
        wake = false;
        tokio::select! {
            changed = appends.changed() => {
                if changed.is_err() {
                    return Err("server stopping".to_owned());
                }
                wake = true;
            }
            _ = poll.tick() => {
                wake = head(events.head(&tenant).await.map_err(|error| error.to_string())?) > cursor;
            }
            _ = slow.tick() => {
                let updates = slow_updates(
                    &state, &caller, &subscribe, &mut anomalies_seen, &mut alerts_seen,
                    &mut last_job_runs, &mut last_integrity, first_slow_poll,
                ).await?;
                first_slow_poll = false;
                for update in updates {
                    send(&mut socket, update).await?;
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > IDLE {
                    let _ = socket.send(Message::Close(None)).await;
                    return Err("idle".to_owned());
                }
                send(&mut socket, json!({"type": "heartbeat", "seq": cursor.checked_sub(1)})).await?;
                let _ = socket.send(Message::Ping(Vec::new().into())).await;
            }
            incoming = socket.recv() => {
                match incoming {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Ok(_)) => last_heard = Instant::now(),
                }
            }
        }
    }
}

async fn read_subscribe(socket: &mut WebSocket) -> Result<Subscribe, String> {
    let deadline = tokio::time::sleep(SUBSCRIBE_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return Err("no subscribe message within 10 seconds".to_owned()),
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str::<Subscribe>(&text)
                        .map_err(|error| format!("the subscribe message is not valid: {error}"));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(_)) => return Err("send a JSON text message: {\"type\": \"subscribe\", \"topics\": [...]}".to_owned()),
                None | Some(Err(_)) => return Err("the client went away".to_owned()),
            }
        }
    }
}

/// New anomalies and alerts, finished job runs and a changed integrity status, as messages. The
/// first call only records what exists, so a client is sent what happens after it subscribed.
#[allow(clippy::too_many_arguments)]
async fn slow_updates(
    state: &AppState,
    caller: &Caller,
    subscribe: &Subscribe,
    anomalies_seen: &mut Seen,
    alerts_seen: &mut Seen,
    last_job_runs: &mut Option<Value>,
    last_integrity: &mut Option<Value>,
    first: bool,
) -> Result<Vec<Value>, Closed> {
    let tenant = caller.tenant();
    let mut updates = Vec::new();
    if subscribe.wants(Topic::Anomalies) {
        let query = AnomalyQuery { limit: 50, ..Default::default() };
        let anomalies = state.anomalies.list_anomalies(tenant, &query).await.map_err(|error| error.to_string())?;
        for anomaly in anomalies {
            if anomalies_seen.first_time(&anomaly.id) && !first {
                updates.push(json!({"type": "anomaly", "anomaly": anomaly}));
            }
        }
    }
    if subscribe.wants(Topic::Alerts) {
        let query = AlertQuery { limit: 50, ..Default::default() };
        let alerts = state.alerting.store().list_alerts(tenant, &query).await.map_err(|error| error.to_string())?;
        for alert in alerts {
            if alerts_seen.first_time(&alert.id) && !first {
                updates.push(json!({"type": "alert", "alert": alert}));
            }
        }
    }
    if subscribe.wants(Topic::Jobs) && caller.may(Permission::Admin) {
        let statuses = state.jobs.status(Some(tenant)).await.map_err(|error| error.to_string())?;
        let runs: Value = statuses.iter().map(|status| json!(status.last_run.as_ref().map(|run| &run.id))).collect();
        if last_job_runs.as_ref() != Some(&runs) {
            if !first {
                for status in statuses.into_iter().filter_map(|status| status.last_run) {
                    updates.push(json!({"type": "job", "run": super::jobs::run_for_tenant(&status, tenant)}));
                }
            }
            *last_job_runs = Some(runs);
        }
    }
    if subscribe.wants(Topic::Integrity) {
        let status = state.integrity.status();
        // Another tenant's broken chain is not this tenant's business, nor is its existence.
        let failures: Vec<_> = status.failures.iter().filter(|failure| &failure.tenant == tenant).collect();
        let state = match status.status {
            "not_run" => "not_run",
            _ if failures.is_empty() => "ok",
            _ => "failed",
        };
        let shown = json!({"status": state, "last_run": status.last_run, "failures": failures});
        if last_integrity.as_ref() != Some(&shown) {
            updates.push(json!({"type": "integrity", "status": shown}));
            *last_integrity = Some(shown);
        }
    }
    Ok(updates)
}
