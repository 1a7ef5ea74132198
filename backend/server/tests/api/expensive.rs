//! The expensive routes (verify, search, exports, evidence bundles, reports) share a capped
//! number of slots, overall and per caller, refuse at once when they are taken, and answer within
//! a time limit; cheap routes never wait for them. A search is made slow deterministically by an
//! OpenAI-compatible embedding server that holds every request until the test lets it go.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use veritrail_server::config::{Config, EmbeddingProvider};
use veritrail_store::testing::TestDatabase;

use crate::helpers::{ADMIN_KEY, TestApp, assert_error, event, spawn_app_with};

/// An embedding server whose answers wait for a permit of `release`; `entered` is told when a
/// request has arrived.
struct HeldEmbeddings {
    base: String,
    release: Arc<Semaphore>,
    entered: Arc<Notify>,
}

async fn held_embeddings() -> HeldEmbeddings {
    let release = Arc::new(Semaphore::new(0));
    let entered = Arc::new(Notify::new());
    let (gate, told) = (release.clone(), entered.clone());
    let router = axum::Router::new().route(
        "/v1/embeddings",
        post(move |Json(request): Json<Value>| {
            let (gate, told) = (gate.clone(), told.clone());
            async move {
                told.notify_one();
                gate.acquire().await.expect("gate").forget();
                let count = request["input"].as_array().map_or(1, Vec::len);
                let mut vector = vec![0f32; 384];
                vector[0] = 1.0;
                let data: Vec<Value> = (0..count)
                    .map(|index| json!({"object": "embedding", "index": index, "embedding": vector}))
                    .collect();
                Json(json!({"object": "list", "data": data, "model": "text-embedding-3-small",
                    "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    HeldEmbeddings { base, release, entered }
}

/// An app whose search embeds with `embeddings`, with the expensive limits set by `tweak`.
async fn app_with(embeddings: &HeldEmbeddings, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let base = embeddings.base.clone();
    spawn_app_with(TestDatabase::sqlite(), move |config| {
        config.search.embedding.provider = EmbeddingProvider::Openai;
        config.search.embedding.base_url = base;
        config.search.embedding.api_key = "sk-test".into();
        config.search.embedding.timeout_seconds = 120;
        tweak(config);
    })
    .await
}

/// Starts a search with `key` and returns once the embedding server holds it: from then on the
/// search holds its slot until the embeddings are released.
async fn start_held_search(
    app: &TestApp,
    embeddings: &HeldEmbeddings,
    key: &str,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let entered = embeddings.entered.notified();
    let request = app
        .client
        .post(format!("{}/api/v1/search", app.base))
        .bearer_auth(key)
        .json(&json!({"query": "who deleted the billing repository", "limit": 5}));
    let search = tokio::spawn(async move { request.send().await.expect("search") });
    tokio::time::timeout(Duration::from_secs(30), entered).await.expect("the search reached the embedding server");
    search
}

async fn assert_overloaded(response: reqwest::Response, what: &str) -> String {
    assert_eq!(response.headers().get("retry-after").map(|value| value.to_str().expect("text")), Some("1"), "{what}");
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "overloaded").await
}

#[tokio::test]
async fn a_full_class_refuses_at_once_and_cheap_routes_do_not_wait() {
    let embeddings = held_embeddings().await;
    let app = app_with(&embeddings, |config| config.limits.expensive.max_concurrent = 1).await;
    assert_eq!(app.post_event(&event("repo.delete")).await.status(), StatusCode::CREATED);
    let held = start_held_search(&app, &embeddings, ADMIN_KEY).await;

    // Every expensive route, of any caller, is refused at once while the one slot is taken.
    let reader = app.create_key("default", "read").await;
    let started = std::time::Instant::now();
    let message = assert_overloaded(app.get("/api/v1/verify", &reader).await, "verify").await;
    assert!(message.contains("expensive requests"), "{message}");
    let search = app.post_json("/api/v1/search", &reader, &json!({"query": "anything"})).await;
    assert_overloaded(search, "search").await;
    assert_overloaded(app.get("/api/v1/export/events.csv", &reader).await, "export").await;
    assert_overloaded(app.post_json("/api/v1/export/bundle", &reader, &json!({})).await, "bundle").await;
    let report =
        json!({"kind": "activity", "format": "csv", "since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z"});
    assert_overloaded(app.post_json("/api/v1/reports", ADMIN_KEY, &report).await, "report").await;
    assert!(started.elapsed() < Duration::from_secs(5), "refusals are immediate, not queued: {:?}", started.elapsed());
    // Unauthenticated callers are told so first; they never take a slot.
    assert_error(app.get("/api/v1/verify", "vt_nope").await, StatusCode::UNAUTHORIZED, "unauthorized").await;

    // Cheap routes answer as usual.
    assert_eq!(app.get("/healthz", &reader).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/events?limit=5", &reader).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/search/status", &reader).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/reports", ADMIN_KEY).await.status(), StatusCode::OK);
    assert_eq!(app.post_event(&event("repo.read")).await.status(), StatusCode::CREATED);

    // Once the held search is answered, its slot is free again.
    embeddings.release.add_permits(1_000);
    assert_eq!(held.await.expect("search task").status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/verify", &reader).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_caller_cannot_take_every_slot() {
    let embeddings = held_embeddings().await;
    let app = app_with(&embeddings, |config| {
        config.limits.expensive.max_concurrent = 4;
        config.limits.expensive.max_per_caller = 1;
    })
    .await;
    let busy = app.create_key("default", "read").await;
    let held = start_held_search(&app, &embeddings, &busy).await;
    let message = assert_overloaded(app.get("/api/v1/verify", &busy).await, "the same key").await;
    assert!(message.contains("this caller"), "{message}");
    // Another key of the same tenant still gets a slot.
    let other = app.create_key("default", "read").await;
    assert_eq!(app.get("/api/v1/verify", &other).await.status(), StatusCode::OK);
    embeddings.release.add_permits(1_000);
    assert_eq!(held.await.expect("search task").status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/verify", &busy).await.status(), StatusCode::OK, "the caller's slot came back");
}

#[tokio::test]
async fn an_expensive_request_past_its_time_limit_is_answered_with_timed_out_and_frees_its_slot() {
    let embeddings = held_embeddings().await;
    let app = app_with(&embeddings, |config| {
        config.limits.expensive.max_concurrent = 1;
        config.limits.expensive.timeout_ms = 300;
    })
    .await;
    let started = std::time::Instant::now();
    // The embedding server never answers: the handler is dropped at the time limit.
    let search =
        app.post_json("/api/v1/search", ADMIN_KEY, &json!({"query": "who deleted the billing repository"})).await;
    let message = assert_error(search, StatusCode::GATEWAY_TIMEOUT, "timed_out").await;
    assert!(message.contains("300 ms") && message.contains("limits.expensive.timeout_ms"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(app.get("/api/v1/verify", ADMIN_KEY).await.status(), StatusCode::OK, "the slot was given back");
}

#[tokio::test]
async fn a_streamed_export_keeps_its_slot_until_it_is_read_and_is_not_cut_by_the_time_limit() {
    let embeddings = held_embeddings().await;
    let app = app_with(&embeddings, |config| {
        config.limits.expensive.max_concurrent = 1;
        config.limits.expensive.timeout_ms = 500;
    })
    .await;
    // About 40 MB of events: more than the socket buffers on both ends take (here at most 32 MB
    // received, 4 MB sent), so the server is still sending while the client waits.
    let filler = "x".repeat(60_000);
    for batch in 0..44 {
        let events: Vec<Value> = (0..15)
            .map(|idx| {
                let mut body = event(&format!("bulk.{batch}.{idx}"));
                body["details"] = json!({"filler": filler});
                body
            })
            .collect();
        assert_eq!(app.post_batch(events).await.status(), StatusCode::CREATED);
    }
    let mut export = app.get("/api/v1/export/events.jsonl", ADMIN_KEY).await;
    assert_eq!(export.status(), StatusCode::OK);
    // The export is still being sent: it holds the class's only slot.
    assert_overloaded(app.get("/api/v1/verify?from_seq=0&to_seq=0", ADMIN_KEY).await, "while the export streams").await;
    // Reading late, after more than twice the time limit, does not cut the export: only a piece
    // the server takes too long to produce would.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (mut received, mut lines) = (0, 0);
    while let Some(piece) = export.chunk().await.expect("the export is not cut") {
        received += piece.len();
        lines += piece.iter().filter(|byte| **byte == b'\n').count();
    }
    assert!(received > 39_000_000, "{received} bytes");
    assert_eq!(lines, 660);
    // (A small verification: the whole 40 MB would take longer than this test's time limit.)
    let small = app.get("/api/v1/verify?from_seq=0&to_seq=0", ADMIN_KEY).await;
    assert_eq!(small.status(), StatusCode::OK, "the slot came back at the end");
}
