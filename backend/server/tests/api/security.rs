//! Authentication, scopes and tenant isolation.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{ADMIN_KEY, assert_error, event, spawn_app};

#[tokio::test]
async fn requests_without_a_valid_key_are_401() {
    let app = spawn_app().await;
    let body = event("x").to_string().into_bytes();
    let none = app.send(Method::POST, "/api/v1/events", None, Some("application/json"), body.clone()).await;
    assert_eq!(none.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
    assert_error(none, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let wrong = app.send(Method::POST, "/api/v1/events", Some("vt_not_a_key"), Some("application/json"), body).await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_error(app.get("/api/v1/verify", "nope").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn scopes_are_enforced() {
    let app = spawn_app().await;
    let ingest_only = app.create_key("default", "ingest").await;
    let read_only = app.create_key("default", "read").await;
    let created = app.post_json("/api/v1/events", &ingest_only, &event("x")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let receipt: Value = created.json().await.expect("receipt");
    assert_error(app.get("/api/v1/events", &ingest_only).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(app.post_json("/api/v1/events", &read_only, &event("y")).await, StatusCode::FORBIDDEN, "forbidden")
        .await;
    let path = format!("/api/v1/events/{}", receipt["id"].as_str().expect("id"));
    assert_eq!(app.get(&path, &read_only).await.status(), StatusCode::OK);
    assert_eq!(app.get("/api/v1/verify", &read_only).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn tenants_see_only_their_own_events() {
    let app = spawn_app().await;
    let other = app.create_key("other-tenant", "ingest,read").await;
    let receipt: Value = app.post_event(&event("default.only")).await.json().await.expect("receipt");
    let path = format!("/api/v1/events/{}", receipt["id"].as_str().expect("id"));
    assert_error(app.get(&path, &other).await, StatusCode::NOT_FOUND, "not_found").await;
    let theirs: Value =
        app.post_json("/api/v1/events", &other, &event("other.one")).await.json().await.expect("receipt");
    assert_eq!(theirs["seq"], serde_json::json!(0), "each tenant has its own chain");
    let listed: Value = app.get("/api/v1/events", &other).await.json().await.expect("list");
    assert_eq!(listed["events"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn revoked_keys_stop_working() {
    let app = spawn_app().await;
    let key = app.create_key("default", "read").await;
    let store = app.db.connect().await;
    let key_id = veritrail_core::auth::key_id_for(&veritrail_core::auth::hash_api_key(&key));
    assert!(store.keys.revoke_key(&key_id).await.expect("revoke"));
    assert_error(app.get("/api/v1/events", &key).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(app.get("/api/v1/events", ADMIN_KEY).await.status(), StatusCode::OK);
}
