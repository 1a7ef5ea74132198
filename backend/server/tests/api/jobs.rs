//! Who runs which job for whom: a tenant's admin runs jobs for its own tenant and sees only its
//! own part of a run; an `operator` key (command line only) runs them over every tenant.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, assert_error, event, spawn_apps};

async fn run(app: &TestApp, path: &str, key: &str) -> Value {
    let response = app.post_json(path, key, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK, "POST {path}");
    response.json().await.expect("run record")
}

/// The tenant's latest checkpoint size, `None` when it has none.
async fn latest_checkpoint(app: &TestApp, key: &str) -> Option<u64> {
    let response = app.get("/api/v1/checkpoints/latest", key).await;
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(response.status(), StatusCode::OK);
    let checkpoint: Value = response.json().await.expect("checkpoint");
    checkpoint["tree_size"].as_u64()
}

#[tokio::test]
async fn a_tenant_admin_runs_jobs_for_its_own_tenant_and_sees_only_its_part() {
    for app in spawn_apps().await {
        let acme = app.create_key("acme", "admin").await;
        for key in [ADMIN_KEY, acme.as_str()] {
            let created = app.post_json("/api/v1/events", key, &event("document.read")).await;
            assert_eq!(created.status(), StatusCode::CREATED);
        }

        let record = run(&app, "/api/v1/admin/jobs/checkpoint/run", &acme).await;
        assert_eq!(latest_checkpoint(&app, &acme).await, Some(1), "{:?}", app.db.backend);
        assert_eq!(latest_checkpoint(&app, ADMIN_KEY).await, None, "another tenant's checkpoint was signed");
        assert_eq!(record["scope"], "tenant");
        assert!(record["details"]["tenant"]["published"].is_object(), "{record}");
        // No global figures, no other tenant, no replica name.
        let details = record["details"].as_object().expect("details");
        assert_eq!(details.keys().collect::<Vec<_>>(), ["tenant"], "{record}");
        assert!(record.get("holder").is_none(), "{record}");

        // Naming another tenant is the operator's business.
        let other = app.post_json("/api/v1/admin/jobs/checkpoint/run?tenant=default", &acme, &json!({})).await;
        assert_error(other, StatusCode::FORBIDDEN, "forbidden").await;
        let bad = app.post_json("/api/v1/admin/jobs/checkpoint/run?tenant=NOT%20A%20TENANT", &acme, &json!({})).await;
        assert_error(bad, StatusCode::FORBIDDEN, "forbidden").await;

        // The listing shows each admin the last run that covered its tenant.
        let listed = app.get("/api/v1/admin/jobs", ADMIN_KEY).await.json::<Value>().await.expect("jobs");
        let checkpoint = listed["jobs"].as_array().expect("jobs").iter().find(|job| job["name"] == "checkpoint");
        assert_eq!(checkpoint.expect("checkpoint job")["last_run"], Value::Null, "{listed}");
        let listed = app.get("/api/v1/admin/jobs", &acme).await.json::<Value>().await.expect("jobs");
        let checkpoint = listed["jobs"].as_array().expect("jobs").iter().find(|job| job["name"] == "checkpoint");
        assert_eq!(checkpoint.expect("checkpoint job")["last_run"]["id"], record["id"]);
    }
}

#[tokio::test]
async fn only_an_operator_key_runs_jobs_over_every_tenant() {
    for app in spawn_apps().await {
        let acme = app.create_key("acme", "admin").await;
        let operator = app.create_key("operations", "operator").await;
        for key in [ADMIN_KEY, acme.as_str()] {
            assert_eq!(
                app.post_json("/api/v1/events", key, &event("document.read")).await.status(),
                StatusCode::CREATED
            );
        }

        let one = run(&app, "/api/v1/admin/jobs/checkpoint/run?tenant=acme", &operator).await;
        assert_eq!(one["tenant"], "acme", "{one}");
        assert_eq!((latest_checkpoint(&app, &acme).await, latest_checkpoint(&app, ADMIN_KEY).await), (Some(1), None));
        let every = run(&app, "/api/v1/admin/jobs/checkpoint/run", &operator).await;
        assert_eq!(every["tenant"], Value::Null, "{every}");
        assert_eq!(latest_checkpoint(&app, ADMIN_KEY).await, Some(1), "{:?}", app.db.backend);
        // The operator sees the whole record.
        assert!(every["details"]["tenants"]["default"].is_object() && every["holder"].is_string(), "{every}");
        let bad =
            app.post_json("/api/v1/admin/jobs/checkpoint/run?tenant=NOT%20A%20TENANT", &operator, &json!({})).await;
        assert_error(bad, StatusCode::BAD_REQUEST, "invalid_query").await;

        // Running jobs is all it may do: it reads no tenant's events.
        assert_error(app.get("/api/v1/events", &operator).await, StatusCode::FORBIDDEN, "forbidden").await;
    }
}

#[tokio::test]
async fn a_tenant_admin_can_neither_grant_nor_see_nor_revoke_the_operator_scope() {
    for app in spawn_apps().await {
        let granted = app.post_json("/api/v1/keys", ADMIN_KEY, &json!({"name": "ops", "scopes": ["operator"]})).await;
        let message = assert_error(granted, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(message.contains("operator"), "{message}");
        let mixed = json!({"name": "ops", "scopes": ["read", "operator"]});
        assert_error(
            app.post_json("/api/v1/keys", ADMIN_KEY, &mixed).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;

        // An operator key made on the command line in the admin's own tenant stays out of its reach.
        let operator = app.create_key("default", "operator").await;
        let listed = app.get("/api/v1/keys", ADMIN_KEY).await.json::<Value>().await.expect("keys");
        let scopes: Vec<&Value> = listed["keys"].as_array().expect("keys").iter().map(|key| &key["scopes"]).collect();
        assert!(scopes.iter().all(|scopes| !scopes.to_string().contains("operator")), "{listed}");
        let id = &veritrail_core::auth::key_id_for(&veritrail_core::auth::hash_api_key(&operator));
        let revoke =
            app.send(reqwest::Method::DELETE, &format!("/api/v1/keys/{id}"), Some(ADMIN_KEY), None, Vec::new()).await;
        assert_error(revoke, StatusCode::NOT_FOUND, "not_found").await;
        run(&app, "/api/v1/admin/jobs/checkpoint/run", &operator).await;
    }
}
