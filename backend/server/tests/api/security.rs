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

#[tokio::test]
async fn the_dashboard_is_served_beside_the_api_with_strict_security_headers() {
    let dist = tempfile::tempdir().expect("dist");
    std::fs::create_dir(dist.path().join("assets")).expect("assets");
    std::fs::write(dist.path().join("index.html"), "<!doctype html><title>Veritrail</title>").expect("index");
    std::fs::write(dist.path().join("assets/app.js"), "console.log(1)").expect("script");
    let dir = dist.path().to_owned();
    let app = crate::helpers::spawn_app_with(veritrail_store::testing::TestDatabase::sqlite(), |config| {
        config.server.dashboard_dir = dir;
    })
    .await;
    for path in ["/", "/live", "/settings/keys"] {
        let response = app.client.get(format!("{}{path}", app.base)).send().await.expect("get");
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().expect("text");
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(response.text().await.expect("body").contains("<title>Veritrail</title>"), "{path}: the app");
    }
    let script = app.client.get(format!("{}/assets/app.js", app.base)).send().await.expect("get");
    assert!(script.headers()["content-type"].to_str().expect("text").contains("javascript"));
    // The build's gzip copy goes to a browser that takes gzip; the plain file to one that does not.
    std::fs::write(dist.path().join("assets/app.js.gz"), b"\x1f\x8b gzip bytes").expect("gzip copy");
    let gzipped = app
        .client
        .get(format!("{}/assets/app.js", app.base))
        .header("accept-encoding", "gzip, deflate")
        .send()
        .await
        .expect("get");
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert!(gzipped.headers()["content-type"].to_str().expect("text").contains("javascript"));
    assert_eq!(gzipped.bytes().await.expect("body").as_ref(), b"\x1f\x8b gzip bytes");
    let plain = app.client.get(format!("{}/assets/app.js", app.base)).send().await.expect("get");
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.text().await.expect("body"), "console.log(1)");
    // Unknown API paths stay JSON errors, never the app.
    let missing = app.client.get(format!("{}/api/v1/no-such-thing", app.base)).send().await.expect("get");
    crate::helpers::assert_error(missing, reqwest::StatusCode::NOT_FOUND, "not_found").await;
    // The dashboard gives no way around authentication.
    let events = app.client.get(format!("{}/api/v1/events", app.base)).send().await.expect("get");
    crate::helpers::assert_error(events, reqwest::StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn weak_or_published_bootstrap_secrets_stop_start_up() {
    const STRONG_PASSWORD: &str = "plinth-Quokka-74-marzipan";
    let cases = [
        // The example of docker-compose.yml, published with the repository.
        (
            Some("change-me-to-a-long-random-secret"),
            STRONG_PASSWORD,
            "VERITRAIL_BOOTSTRAP_KEY is the example value of docker-compose.yml",
        ),
        (Some("vt_test_admin_key_0123456789abcdef"), STRONG_PASSWORD, "VERITRAIL_BOOTSTRAP_KEY is too easy to guess"),
        (Some("vt_00000000000000000000000000000000"), STRONG_PASSWORD, "VERITRAIL_BOOTSTRAP_KEY is too easy to guess"),
        (Some("short-key"), STRONG_PASSWORD, "VERITRAIL_BOOTSTRAP_KEY is too easy to guess"),
        (None, "veritrail-admin-2024", "VERITRAIL_BOOTSTRAP_PASSWORD) is too easy to guess"),
        (None, "password1234", "VERITRAIL_BOOTSTRAP_PASSWORD) is too easy to guess"),
        (None, "change-me-to-a-long-random-secret", "example value of docker-compose.yml"),
        (None, "short", "at least 12 characters"),
    ];
    for (key, password, expected) in cases {
        let data_dir = tempfile::tempdir().expect("data dir");
        let mut config = crate::helpers::test_config("", data_dir.path());
        config.auth.bootstrap_password = password.into();
        let error = match veritrail_server::app::Application::build(&config, key.map(str::to_owned)).await {
            Ok(_) => panic!("{key:?} / {password:?}: start-up must be refused"),
            Err(error) => format!("{error:#}"),
        };
        assert!(error.contains(expected), "{key:?} / {password:?}: {error}");
        assert!(
            !error.contains(password) && key.is_none_or(|key| !error.contains(key)),
            "the secret is not repeated: {error}"
        );
        assert!(
            std::fs::read_dir(data_dir.path()).expect("data dir").next().is_none(),
            "refused before anything is written"
        );
    }
    // Strong values start (the generated form of a key, a passphrase).
    let data_dir = tempfile::tempdir().expect("data dir");
    let mut config = crate::helpers::test_config("", data_dir.path());
    config.auth.bootstrap_password = STRONG_PASSWORD.into();
    let key = "vt_9182da9f69432b05a750918387f445b11cb996560362ab53";
    veritrail_server::app::Application::build(&config, Some(key.to_owned())).await.expect("strong secrets start");
}

#[cfg(unix)]
#[tokio::test]
async fn a_fresh_start_keeps_the_data_directory_and_database_files_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("temporary directory");
    let data_dir = parent.path().join("data");
    let config = crate::helpers::test_config("", &data_dir);
    let app = veritrail_server::app::Application::build(&config, Some(ADMIN_KEY.to_owned())).await.expect("start");
    let mode = |name: &str| {
        let path = data_dir.join(name);
        let metadata = std::fs::metadata(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        metadata.permissions().mode() & 0o777
    };
    assert_eq!(mode(""), 0o700, "the data directory");
    // The WAL and shared-memory files exist while the database is open.
    for file in ["veritrail.db", "veritrail.db-wal", "veritrail.db-shm", "log-key.ed25519", "alert-secrets.key"] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
    drop(app);
}
