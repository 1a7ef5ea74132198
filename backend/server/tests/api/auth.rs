//! Dashboard sign-in on SQLite and PostgreSQL: sessions, CSRF, throttling, roles, and the
//! tenant-scoped administration of users and keys.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, ADMIN_PASSWORD, TestApp, assert_error, event, spawn_apps};

/// A signed-in browser: its session cookie and anti-forgery token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn login(app: &TestApp, tenant: &str, username: &str, password: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&json!({"tenant": tenant, "username": username, "password": password}))
        .send()
        .await
        .expect("login")
}

async fn sign_in(app: &TestApp, tenant: &str, username: &str, password: &str) -> Browser {
    let response = login(app, tenant, username, password).await;
    assert_eq!(response.status(), StatusCode::OK, "sign in as {username}");
    let set_cookie = response.headers().get(header::SET_COOKIE).expect("cookie").to_str().expect("text").to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{attribute} missing: {set_cookie}");
    }
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["username"], json!(username));
    Browser { cookie, csrf: body["csrf_token"].as_str().expect("csrf token").to_owned() }
}

impl Browser {
    async fn request(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: bool,
    ) -> reqwest::Response {
        let mut request =
            app.client.request(method, format!("{}{path}", app.base)).header(header::COOKIE, &self.cookie);
        if csrf {
            request = request.header("x-csrf-token", &self.csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        self.request(app, Method::GET, path, None, false).await
    }

    async fn post(&self, app: &TestApp, path: &str, body: Value) -> reqwest::Response {
        self.request(app, Method::POST, path, Some(body), true).await
    }
}

#[tokio::test]
async fn a_user_signs_in_works_with_the_cookie_and_signs_out() {
    for app in spawn_apps().await {
        let browser = sign_in(&app, "default", "admin", ADMIN_PASSWORD).await;
        let me: Value = browser.get(&app, "/api/v1/auth/me").await.json().await.expect("json");
        assert_eq!((me["user"]["tenant"].clone(), me["role"].clone()), (json!("default"), json!("admin")), "{me}");
        assert!(!me.to_string().contains("argon2"), "no password hash is shown: {me}");
        assert_eq!(browser.get(&app, "/api/v1/events").await.status(), StatusCode::OK);

        // An unsafe request needs the CSRF token, and a foreign Origin is refused even with it.
        let body = json!({"username": "carol", "role": "viewer", "password": "carol-password-123"});
        let without = browser.request(&app, Method::POST, "/api/v1/users", Some(body.clone()), false).await;
        assert_error(without, StatusCode::FORBIDDEN, "forbidden").await;
        let foreign = app
            .client
            .post(format!("{}/api/v1/users", app.base))
            .header(header::COOKIE, &browser.cookie)
            .header("x-csrf-token", &browser.csrf)
            .header(header::ORIGIN, "https://evil.example")
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_error(foreign, StatusCode::FORBIDDEN, "forbidden").await;
        assert_eq!(browser.post(&app, "/api/v1/users", body).await.status(), StatusCode::CREATED);

        let logout = browser.request(&app, Method::POST, "/api/v1/auth/logout", None, true).await;
        assert_eq!(logout.status(), StatusCode::NO_CONTENT);
        assert!(logout.headers()[header::SET_COOKIE].to_str().expect("text").contains("Max-Age=0"));
        assert_error(browser.get(&app, "/api/v1/auth/me").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        // A forged or stale cookie is nobody.
        let stranger = Browser { cookie: "vt_session=forged".to_owned(), csrf: String::new() };
        assert_error(stranger.get(&app, "/api/v1/events").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}

#[tokio::test]
async fn wrong_credentials_get_one_answer_and_repeated_failures_are_throttled() {
    for app in spawn_apps().await {
        let mut messages = Vec::new();
        for (tenant, username, password) in [
            ("default", "admin", "not-the-password"),
            ("default", "nobody", ADMIN_PASSWORD),
            ("nowhere", "admin", ADMIN_PASSWORD),
            ("not a tenant!", "admin", ADMIN_PASSWORD),
        ] {
            let response = login(&app, tenant, username, password).await;
            assert!(response.headers().get(header::SET_COOKIE).is_none());
            messages.push(assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await);
        }
        messages.dedup();
        assert_eq!(messages.len(), 1, "unknown users and wrong passwords look alike: {messages:?}");

        // The admin account has one failure; four more, then even the right password waits.
        for _ in 0..4 {
            login(&app, "default", "admin", "still-wrong-password").await;
        }
        let throttled = login(&app, "default", "admin", ADMIN_PASSWORD).await;
        let retry_after: u64 =
            throttled.headers()[header::RETRY_AFTER].to_str().expect("text").parse().expect("seconds");
        assert!(retry_after > 0 && retry_after <= 900, "{retry_after}");
        assert_error(throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

        // Bad bodies are refused plainly.
        let response = app
            .client
            .post(format!("{}/api/v1/auth/login", app.base))
            .json(&json!({"tenant": "default", "username": "admin"}))
            .send()
            .await
            .expect("request");
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    }
}

#[tokio::test]
async fn roles_allow_what_they_document_and_nothing_more() {
    for app in spawn_apps().await {
        let admin = sign_in(&app, "default", "admin", ADMIN_PASSWORD).await;
        for (username, role) in [("vic", "viewer"), ("ana", "analyst"), ("aud", "auditor")] {
            let body = json!({"username": username, "role": role, "password": format!("{username}-password-123")});
            assert_eq!(admin.post(&app, "/api/v1/users", body).await.status(), StatusCode::CREATED);
        }
        assert_eq!(app.post_event(&event("x.y")).await.status(), StatusCode::CREATED);
        let viewer = sign_in(&app, "default", "vic", "vic-password-123").await;
        let analyst = sign_in(&app, "default", "ana", "ana-password-123").await;
        let auditor = sign_in(&app, "default", "aud", "aud-password-123").await;

        let search = json!({"query": "what happened"});
        let cases: [(&Browser, Method, &str, Option<Value>, StatusCode); 10] = [
            (&viewer, Method::GET, "/api/v1/events", None, StatusCode::OK),
            (&viewer, Method::POST, "/api/v1/search", Some(search.clone()), StatusCode::FORBIDDEN),
            (&viewer, Method::GET, "/api/v1/verify", None, StatusCode::FORBIDDEN),
            (&viewer, Method::GET, "/api/v1/users", None, StatusCode::FORBIDDEN),
            (&viewer, Method::POST, "/api/v1/alerts/channels", Some(json!({})), StatusCode::FORBIDDEN),
            (&analyst, Method::POST, "/api/v1/search", Some(search), StatusCode::OK),
            (&analyst, Method::GET, "/api/v1/proofs/inclusion?seq=0", None, StatusCode::FORBIDDEN),
            (&auditor, Method::GET, "/api/v1/verify", None, StatusCode::OK),
            (&auditor, Method::POST, "/api/v1/admin/jobs/checkpoint/run", Some(json!({})), StatusCode::FORBIDDEN),
            (&admin, Method::POST, "/api/v1/admin/jobs/checkpoint/run", Some(json!({})), StatusCode::OK),
        ];
        for (browser, method, path, body, expected) in cases {
            let response = browser.request(&app, method.clone(), path, body, true).await;
            assert_eq!(response.status(), expected, "{method} {path}: {:?}", response.text().await);
        }
        let proof = auditor.get(&app, "/api/v1/proofs/inclusion?seq=0").await;
        assert_eq!(proof.status(), StatusCode::OK, "{:?}", proof.text().await);

        // Disabling a user ends its session at once and refuses its sign-in.
        let users: Value = admin.get(&app, "/api/v1/users").await.json().await.expect("json");
        let vic =
            users["users"].as_array().expect("users").iter().find(|u| u["username"] == "vic").expect("vic").clone();
        let disabled =
            admin.post(&app, &format!("/api/v1/users/{}/disable", vic["id"].as_str().expect("id")), json!({})).await;
        assert_eq!(disabled.status(), StatusCode::OK);
        assert_error(viewer.get(&app, "/api/v1/events").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
        assert_error(
            login(&app, "default", "vic", "vic-password-123").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
}

#[tokio::test]
async fn users_and_keys_are_managed_within_the_callers_tenant_only() {
    for app in spawn_apps().await {
        let other_admin = app.create_key("globex", "admin").await;
        // A user and a key of tenant default.
        let created = app
            .post_json(
                "/api/v1/users",
                ADMIN_KEY,
                &json!({"username": "dora", "role": "analyst", "password": "dora-password-123"}),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let dora: Value = created.json().await.expect("json");
        let response = app.post_json("/api/v1/keys", ADMIN_KEY, &json!({"name": "ci", "scopes": ["ingest"]})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let key: Value = response.json().await.expect("json");
        let secret = key["secret"].as_str().expect("secret shown once").to_owned();
        assert_eq!(key["key"]["scopes"], json!(["ingest"]));
        assert_eq!(app.post_event(&event("x")).await.status(), StatusCode::CREATED);
        let with_new_key = app.post_json("/api/v1/events", &secret, &event("y")).await;
        assert_eq!(with_new_key.status(), StatusCode::CREATED, "the new key works");
        let listed: Value = app.get_json("/api/v1/keys").await;
        assert!(!listed.to_string().contains(&secret), "secrets are never listed");

        // Tenant globex's admin sees none of it and can change none of it.
        let theirs: Value = app.get("/api/v1/users", &other_admin).await.json().await.expect("json");
        assert_eq!(theirs["users"], json!([]));
        let their_keys: Value = app.get("/api/v1/keys", &other_admin).await.json().await.expect("json");
        assert!(!their_keys.to_string().contains(key["key"]["id"].as_str().expect("id")));
        let path = format!("/api/v1/users/{}/disable", dora["id"].as_str().expect("id"));
        assert_error(app.post_json(&path, &other_admin, &json!({})).await, StatusCode::NOT_FOUND, "not_found").await;
        let revoke = app
            .send(
                Method::DELETE,
                &format!("/api/v1/keys/{}", key["key"]["id"].as_str().expect("id")),
                Some(&other_admin),
                None,
                vec![],
            )
            .await;
        assert_error(revoke, StatusCode::NOT_FOUND, "not_found").await;
        assert_eq!(app.post_json("/api/v1/events", &secret, &event("z")).await.status(), StatusCode::CREATED);

        // Bad input: clear 4xx, nothing stored.
        for (body, code, status) in [
            (
                json!({"username": "eve", "role": "root", "password": "eve-password-123"}),
                "invalid_field",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"username": "eve", "role": "viewer", "password": "short"}),
                "invalid_field",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"username": "has space", "role": "viewer", "password": "eve-password-123"}),
                "invalid_field",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"username": "eve", "role": "viewer", "password": "eve-password-123", "admin": true}),
                "invalid_field",
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"username": "dora", "role": "viewer", "password": "dora-password-456"}),
                "already_exists",
                StatusCode::CONFLICT,
            ),
        ] {
            assert_error(app.post_json("/api/v1/users", ADMIN_KEY, &body).await, status, code).await;
        }
        let users: Value = app.get_json("/api/v1/users").await;
        assert_eq!(users["users"].as_array().map(Vec::len), Some(2), "admin and dora only: {users}");
        for body in [
            json!({"name": "x", "scopes": ["root"]}),
            json!({"name": "", "scopes": ["read"]}),
            json!({"name": "x", "scopes": []}),
        ] {
            assert_error(
                app.post_json("/api/v1/keys", ADMIN_KEY, &body).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            )
            .await;
        }
        // A read key may not manage accounts.
        let reader = app.create_key("default", "read").await;
        assert_error(app.get("/api/v1/users", &reader).await, StatusCode::FORBIDDEN, "forbidden").await;

        let revoke = app
            .send(
                Method::DELETE,
                &format!("/api/v1/keys/{}", key["key"]["id"].as_str().expect("id")),
                Some(ADMIN_KEY),
                None,
                vec![],
            )
            .await;
        assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn readiness_details_are_for_admins_only() {
    for app in spawn_apps().await {
        let anonymous = app.send(Method::GET, "/readyz", None, None, Vec::new()).await;
        assert_eq!(anonymous.status(), StatusCode::OK);
        assert_eq!(anonymous.json::<Value>().await.expect("json"), json!({"status": "ready"}));
        let reader = app.create_key("default", "ingest,read,triage").await;
        let keyed: Value = app.get("/readyz", &reader).await.json().await.expect("json");
        assert_eq!(keyed, json!({"status": "ready"}), "a key without the admin scope sees no details");

        let admin: Value = app.get("/readyz", ADMIN_KEY).await.json().await.expect("json");
        assert_eq!(admin["status"], json!("ready"));
        assert_eq!(admin["checks"]["database"], json!("ok"), "{admin}");
        assert_eq!(admin["checks"]["integrity"]["status"], json!("not_run"), "{admin}");
        assert!(admin["checks"]["search"]["semantic"].is_string(), "{admin}");

        // The dashboard's session: an admin sees the details, any other role does not.
        let browser = sign_in(&app, "default", "admin", ADMIN_PASSWORD).await;
        let signed_in: Value = browser.get(&app, "/readyz").await.json().await.expect("json");
        assert_eq!(signed_in["checks"], admin["checks"]);
        let body = json!({"username": "vera", "role": "analyst", "password": "vera-password-456"});
        assert_eq!(browser.post(&app, "/api/v1/users", body).await.status(), StatusCode::CREATED);
        let analyst = sign_in(&app, "default", "vera", "vera-password-456").await;
        let analyst: Value = analyst.get(&app, "/readyz").await.json().await.expect("json");
        assert_eq!(analyst, json!({"status": "ready"}));

        // Credentials that are presented but wrong are refused, as everywhere.
        assert_error(app.get("/readyz", "vt_not_a_key").await, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
}
