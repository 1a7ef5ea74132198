//! The live stream (`GET /api/v1/stream`) at the protocol level, on SQLite and PostgreSQL:
//! replay then live with no gap and no duplicate (also from another server on the same
//! database), filters, tenant isolation, and the refusals.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::helpers::{ADMIN_KEY, TestApp, event, spawn_apps, start_app};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(base: &str, key: &str, headers: &[(&'static str, &str)]) -> Result<Socket, WsError> {
    let mut request = format!("{}/api/v1/stream", base.replace("http://", "ws://")).into_client_request()?;
    request.headers_mut().insert("authorization", format!("Bearer {key}").parse().expect("header"));
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().expect("header"));
    }
    tokio_tungstenite::connect_async(request).await.map(|(socket, _)| socket)
}

async fn subscribe(base: &str, key: &str, body: Value) -> Socket {
    let mut socket = connect(base, key, &[]).await.expect("connect");
    socket.send(Message::text(body.to_string())).await.expect("subscribe");
    socket
}

/// The next `count` events' seqs (and actions), skipping heartbeats; fails after 10 s.
async fn next_events(socket: &mut Socket, count: usize) -> Vec<(u64, String)> {
    let mut found = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while found.len() < count {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("only {found:?} of {count} events arrived"))
            .expect("open")
            .expect("message");
        let Message::Text(text) = message else { continue };
        let value: Value = serde_json::from_str(&text).expect("json");
        match value["type"].as_str() {
            Some("event") => found.push((
                value["event"]["seq"].as_u64().expect("seq"),
                value["event"]["action"].as_str().expect("action").to_owned(),
            )),
            Some("heartbeat") => {}
            other => panic!("unexpected message {other:?}: {value}"),
        }
    }
    found
}

/// Nothing but heartbeats for `wait`.
async fn assert_quiet(socket: &mut Socket, wait: Duration) {
    if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(wait, socket.next()).await {
        let value: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(value["type"], json!("heartbeat"), "expected silence, got {value}");
    }
}

async fn post(app_base: &str, key: &str, action: &str) {
    let response = reqwest::Client::new()
        .post(format!("{app_base}/api/v1/events"))
        .bearer_auth(key)
        .json(&event(action))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), StatusCode::CREATED);
}

fn seqs(events: &[(u64, String)]) -> Vec<u64> {
    events.iter().map(|(seq, _)| *seq).collect()
}

#[tokio::test]
async fn events_replay_after_since_seq_then_arrive_live_with_no_gap_or_duplicate() {
    for app in spawn_apps().await {
        for n in 0..5 {
            post(&app.base, ADMIN_KEY, &format!("setup.{n}")).await;
        }
        // Without since_seq: only what is stored from now on.
        let mut live = subscribe(&app.base, ADMIN_KEY, json!({"type": "subscribe", "topics": ["events"]})).await;
        // From seq 2: 3 and 4 are replayed first.
        let mut resumed =
            subscribe(&app.base, ADMIN_KEY, json!({"type": "subscribe", "topics": ["events"], "since_seq": 2})).await;
        assert_eq!(seqs(&next_events(&mut resumed, 2).await), [3, 4]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        for n in 0..3 {
            post(&app.base, ADMIN_KEY, &format!("live.{n}")).await;
        }
        assert_eq!(seqs(&next_events(&mut live, 3).await), [5, 6, 7], "{:?}", app.db.backend);
        assert_eq!(seqs(&next_events(&mut resumed, 3).await), [5, 6, 7]);
        assert_quiet(&mut resumed, Duration::from_millis(500)).await;

        // Another server on the same database (a restart, or a second replica): a client that
        // resumes there from the last seq it saw misses nothing, and sees events the first
        // server stores (found by polling the head, not by this server's own appends).
        let (second, _dir) = start_app(&app.db.url, |_| {}).await;
        let mut elsewhere =
            subscribe(&second, ADMIN_KEY, json!({"type": "subscribe", "topics": ["events"], "since_seq": 6})).await;
        assert_eq!(seqs(&next_events(&mut elsewhere, 1).await), [7]);
        post(&app.base, ADMIN_KEY, "from.the.first.server").await;
        assert_eq!(next_events(&mut elsewhere, 1).await, [(8, "from.the.first.server".to_owned())]);
        assert_eq!(seqs(&next_events(&mut live, 1).await), [8]);
    }
}

#[tokio::test]
async fn filters_and_tenants_narrow_what_a_subscriber_sees() {
    for app in spawn_apps().await {
        let globex = app.create_key("globex", "ingest,read").await;
        let mut iam = subscribe(
            &app.base,
            ADMIN_KEY,
            json!({"type": "subscribe", "topics": ["events"], "filter": {"action": "iam.*", "outcome": "success"}}),
        )
        .await;
        let mut theirs = subscribe(&app.base, &globex, json!({"type": "subscribe", "topics": ["events"]})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for action in ["repo.read", "iam.create_user", "repo.delete", "iam.delete_user"] {
            post(&app.base, ADMIN_KEY, action).await;
        }
        let seen = next_events(&mut iam, 2).await;
        assert_eq!(
            seen.iter().map(|(_, action)| action.as_str()).collect::<Vec<_>>(),
            ["iam.create_user", "iam.delete_user"]
        );
        assert_quiet(&mut theirs, Duration::from_millis(700)).await;
        post(&app.base, &globex, "globex.own").await;
        assert_eq!(next_events(&mut theirs, 1).await, [(0, "globex.own".to_owned())], "its own chain, from seq 0");
        assert_quiet(&mut iam, Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn bad_subscriptions_foreign_origins_and_anonymous_clients_are_refused() {
    let apps: Vec<TestApp> = spawn_apps().await;
    for app in &apps {
        // No key: the handshake is refused with 401.
        let mut request =
            format!("{}/api/v1/stream", app.base.replace("http://", "ws://")).into_client_request().expect("request");
        request.headers_mut().remove("authorization");
        match tokio_tungstenite::connect_async(request).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("anonymous stream must be refused: {other:?}"),
        }
        // A page of another site cannot open a stream, even with a key.
        match connect(&app.base, ADMIN_KEY, &[("origin", "https://evil.example")]).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 403),
            other => panic!("foreign origin must be refused: {other:?}"),
        }
        // A read key works; an ingest-only key does not.
        let ingest_only = app.create_key("default", "ingest").await;
        match connect(&app.base, &ingest_only, &[]).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 403),
            other => panic!("an ingest key may not read: {other:?}"),
        }
        // A malformed subscription gets an error message and the stream closes.
        let mut socket = subscribe(&app.base, ADMIN_KEY, json!({"type": "subscribe", "topics": ["everything"]})).await;
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("answer")
            .expect("open")
            .expect("message");
        let value: Value = serde_json::from_str(message.to_text().expect("text")).expect("json");
        assert_eq!(value["type"], json!("error"), "{value}");
        assert!(value["message"].as_str().expect("message").contains("subscribe"), "{value}");
        // A plain GET is told this is a WebSocket endpoint, not a 404.
        let plain = app.get("/api/v1/stream", ADMIN_KEY).await;
        crate::helpers::assert_error(plain, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
}
