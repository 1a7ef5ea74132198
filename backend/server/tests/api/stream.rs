//! The live stream (`GET /api/v1/stream`) at the protocol level, on SQLite and PostgreSQL:
//! replay then live with no gap and no duplicate (also from another server on the same
//! database), filters, tenant isolation, a client that stops reading, the per-caller limit, and
//! the refusals.

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

/// A client with a small receive window (so the server's buffers fill with a few megabytes).
async fn connect_slowly(base: &str, key: &str) -> Socket {
    let address: std::net::SocketAddr = base.trim_start_matches("http://").parse().expect("address");
    let tcp = tokio::net::TcpSocket::new_v4().expect("socket");
    tcp.set_recv_buffer_size(16 * 1024).expect("receive buffer");
    let stream = tcp.connect(address).await.expect("connect");
    let mut request = format!("{}/api/v1/stream", base.replace("http://", "ws://")).into_client_request().expect("url");
    request.headers_mut().insert("authorization", format!("Bearer {key}").parse().expect("header"));
    let (socket, _) = tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
        .await
        .expect("handshake");
    socket
}

#[tokio::test]
async fn a_client_that_stops_reading_is_told_where_to_resume_and_never_holds_up_ingest() {
    for app in spawn_apps().await {
        let mut slow = connect_slowly(&app.base, ADMIN_KEY).await;
        slow.send(Message::text(json!({"type": "subscribe", "topics": ["events"], "since_seq": 0}).to_string()))
            .await
            .expect("subscribe");
        // 1,000 events of ~16 KB while the client reads nothing: far more than the socket
        // buffers hold. Every write is acknowledged as usual.
        let padding = "x".repeat(16 * 1024 - 200);
        for batch in 0..20 {
            let events = (0..50)
                .map(|n| {
                    let mut event = event(&format!("bulk.{}", batch * 50 + n));
                    event["details"] = json!({ "padding": padding });
                    event
                })
                .collect();
            assert_eq!(app.post_batch(events).await.status(), StatusCode::CREATED, "{:?}", app.db.backend);
        }
        // Past the server's send timeout, the client reads what was buffered: a gap-free run
        // of events, then (best effort) `lagged`, then the end of the stream.
        tokio::time::sleep(veritrail_api::stream::SEND_TIMEOUT + Duration::from_secs(2)).await;
        let mut received = Vec::new();
        let mut resume_from = None;
        while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(10), slow.next()).await {
            let Message::Text(text) = message else { continue };
            let value: Value = serde_json::from_str(&text).expect("json");
            match value["type"].as_str() {
                Some("event") => received.push(value["event"]["seq"].as_u64().expect("seq")),
                Some("lagged") => resume_from = Some(value["resume_from_seq"].as_u64().expect("resume_from_seq")),
                Some("heartbeat") => {}
                other => panic!("unexpected {other:?}: {value}"),
            }
        }
        assert!(received.len() < 999, "the stream should have been cut, got all {} events", received.len());
        assert_eq!(received, (1..=received.len() as u64).collect::<Vec<_>>(), "gap-free until cut");
        let last = *received.last().expect("some events arrived");
        if let Some(resume_from) = resume_from {
            assert!(resume_from <= last, "resume point {resume_from} is past what was delivered ({last})");
        }
        // Resuming from the last seq it holds gives the rest, with no gap and no duplicate.
        let mut resumed =
            subscribe(&app.base, ADMIN_KEY, json!({"type": "subscribe", "topics": ["events"], "since_seq": last}))
                .await;
        // Seqs run from 0: the 1,000 events are 0..=999.
        let rest = next_events(&mut resumed, (999 - last) as usize).await;
        assert_eq!(seqs(&rest), (last + 1..=999).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn one_caller_may_hold_only_a_bounded_number_of_streams() {
    for app in spawn_apps().await {
        let mut open = Vec::new();
        for _ in 0..veritrail_api::stream::MAX_STREAMS_PER_CALLER {
            open.push(subscribe(&app.base, ADMIN_KEY, json!({"type": "subscribe", "topics": ["events"]})).await);
        }
        match connect(&app.base, ADMIN_KEY, &[]).await {
            Err(WsError::Http(response)) => assert_eq!(response.status(), 429),
            other => panic!("one stream too many must be refused: {other:?}"),
        }
        // Another caller is not affected, and closing a stream frees its place.
        let other = app.create_key("default", "read").await;
        connect(&app.base, &other, &[]).await.expect("another caller");
        let mut closed = open.pop().expect("a stream");
        closed.close(None).await.expect("close");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match connect(&app.base, ADMIN_KEY, &[]).await {
                Ok(_) => break,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(error) => panic!("a closed stream's place was not given back: {error}"),
            }
        }
    }
}
