//! Spawning the app and talking to it.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use veritrail_server::app::Application;
use veritrail_server::config::Config;
use veritrail_store::testing::TestDatabase;

/// The bootstrap admin key: the form the server generates (`vt_` and 48 hex digits).
pub const ADMIN_KEY: &str = "vt_609bbd2719846fec9a4b89ce7f45c4edd931b82a9ba19e06";
/// The password of the first dashboard user, `admin` of tenant `default`.
pub const ADMIN_PASSWORD: &str = "test-admin-password-0123";

/// A running app and its database.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    _data_dir: tempfile::TempDir,
}

/// Starts the app on SQLite.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(TestDatabase::sqlite()).await
}

/// Starts the app on every backend available (SQLite always, PostgreSQL when configured).
pub async fn spawn_apps() -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in TestDatabase::all().await {
        apps.push(spawn_app_on(db).await);
    }
    apps
}

/// Starts the app on `db` with a small configuration tweak.
pub async fn spawn_app_with(db: TestDatabase, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let (base, data_dir) = start_app(&db.url, tweak).await;
    TestApp { base, client: reqwest::Client::new(), db, _data_dir: data_dir }
}

/// Starts an app on the database at `url` (another server sharing one database); returns its
/// base URL and its data directory, which must be kept while it runs.
pub async fn start_app(url: &str, tweak: impl FnOnce(&mut Config)) -> (String, tempfile::TempDir) {
    let data_dir = tempfile::tempdir().expect("data dir");
    let mut config = test_config(url, data_dir.path());
    tweak(&mut config);
    let app = Application::build(&config, Some(ADMIN_KEY.to_owned())).await.expect("build app");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.run_until(std::future::pending()));
    (base, data_dir)
}

/// The configuration tests start the app with: the database at `url` (empty: SQLite in
/// `data_dir`), port 0, no scheduled jobs, the test admin's password.
pub fn test_config(url: &str, data_dir: &std::path::Path) -> Config {
    let mut config = Config { data_dir: data_dir.to_owned(), ..Config::default() };
    config.database.url = url.into();
    config.server.addr = "127.0.0.1:0".to_owned();
    // Tests run the jobs themselves (POST /api/v1/admin/jobs/{name}/run), so results never depend
    // on when a scheduled run happens to fire.
    config.checkpoints.schedule = String::new();
    config.integrity.schedule = String::new();
    config.search.schedule = String::new();
    config.anomalies.schedule = String::new();
    config.alerts.delivery_schedule = String::new();
    config.alerts.event_schedule = String::new();
    config.reports.schedule = String::new();
    config.auth.bootstrap_password = ADMIN_PASSWORD.into();
    config
}

pub async fn spawn_app_on(db: TestDatabase) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Imports every file of the invictus-aws-stratus CloudTrail capture (shared/data) through the
/// API; returns the number of events created.
pub async fn import_invictus(app: &TestApp) -> usize {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/invictus-aws-stratus/raw/CloudTrail");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("the shared data set must be beside the repository ({}): {err}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let mut created = 0;
    for file in &files {
        let body = std::fs::read(file).expect("read capture file");
        let response =
            app.send(Method::POST, "/api/v1/ingest/cloudtrail", Some(ADMIN_KEY), Some("application/json"), body).await;
        assert!(response.status().is_success(), "{}: {}", file.display(), response.status());
        let answer: Value = response.json().await.expect("receipts");
        created += answer["receipts"].as_array().map_or(0, Vec::len);
    }
    created
}

/// Runs a job through the API and returns its run record.
pub async fn run_job(app: &TestApp, name: &str) -> Value {
    let response = app.post_json(&format!("/api/v1/admin/jobs/{name}/run"), ADMIN_KEY, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK, "run {name}");
    let run: Value = response.json().await.expect("run record");
    assert_eq!(run["outcome"], json!("success"), "{run}");
    run
}

/// Runs a job over every tenant with an `operator` key and returns its whole run record.
pub async fn operator_run_job(app: &TestApp, name: &str) -> Value {
    let operator = app.create_key("operations", "operator").await;
    let response = app.post_json(&format!("/api/v1/admin/jobs/{name}/run"), &operator, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK, "run {name}");
    let run: Value = response.json().await.expect("run record");
    assert_eq!(run["outcome"], json!("success"), "{run}");
    run
}

/// A minimal valid event.
pub fn event(action: &str) -> Value {
    json!({"actor": {"id": "alice", "type": "user"}, "action": action, "outcome": "success"})
}

impl TestApp {
    /// Sends `body` (raw bytes) with `content_type` and `key`.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Response {
        let mut request = self.client.request(method, format!("{}{path}", self.base)).body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send().await.expect("request")
    }

    pub async fn post_json(&self, path: &str, key: &str, body: &Value) -> Response {
        self.send(Method::POST, path, Some(key), Some("application/json"), body.to_string().into_bytes()).await
    }

    pub async fn post_event(&self, body: &Value) -> Response {
        self.post_json("/api/v1/events", ADMIN_KEY, body).await
    }

    pub async fn post_batch(&self, events: Vec<Value>) -> Response {
        self.post_json("/api/v1/events/batch", ADMIN_KEY, &json!({ "events": events })).await
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.send(Method::GET, path, Some(key), None, Vec::new()).await
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path, ADMIN_KEY).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("json")
    }

    pub async fn verify(&self) -> Value {
        self.get_json("/api/v1/verify").await
    }

    /// Creates a key of `tenant` with `scopes` directly in the store and returns its secret.
    pub async fn create_key(&self, tenant: &str, scopes: &str) -> String {
        let store = self.db.connect().await;
        let secret = veritrail_server::keys::generate_secret().expect("secret");
        veritrail_server::keys::create(
            &store,
            veritrail_core::event::TenantId::parse(tenant).expect("tenant"),
            scopes.parse().expect("scopes"),
            "test",
            &secret,
        )
        .await
        .expect("create key");
        secret
    }
}

/// Asserts the error body shape and code, returning the message.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> String {
    assert_eq!(response.status(), status, "status");
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    let message = body["error"]["message"].as_str().expect("message").to_owned();
    assert!(!message.is_empty());
    message
}
