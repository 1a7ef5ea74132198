//! The continuous verification job (`integrity-check`) on both backends: incremental runs, and
//! every tamper scenario found, reported on /readyz and recorded as a critical event.

use reqwest::StatusCode;
use serde_json::{Value, json};
use veritrail_store::testing::TestDatabase;

use crate::helpers::{ADMIN_KEY, TestApp, event, spawn_app_on};

async fn run_job(app: &TestApp, path: &str) -> Value {
    let response = app.post_json(path, ADMIN_KEY, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.expect("job answer")
}

async fn check(app: &TestApp) -> Value {
    run_job(app, "/api/v1/admin/jobs/integrity-check/run").await
}

async fn fill(app: &TestApp, label: &str, count: usize) {
    let events: Vec<Value> = (0..count).map(|idx| event(&format!("{label}.{idx}"))).collect();
    assert_eq!(app.post_batch(events).await.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn incremental_runs_check_only_what_is_new() {
    for db in TestDatabase::all().await {
        let app = spawn_app_on(db).await;
        fill(&app, "a", 10).await;
        run_job(&app, "/api/v1/admin/jobs/checkpoint/run").await;
        let first = check(&app).await;
        let summary = |run: &Value| {
            (run["details"]["tenant"]["status"].clone(), run["details"]["tenant"]["events_checked"].clone())
        };
        assert_eq!(summary(&first), (json!("ok"), json!(10)), "{first}");
        fill(&app, "b", 4).await;
        run_job(&app, "/api/v1/admin/jobs/checkpoint/run").await;
        let second = check(&app).await;
        assert_eq!(summary(&second), (json!("ok"), json!(4)), "{second}");
        let full = run_job(&app, "/api/v1/admin/jobs/integrity-check/run?full=true").await;
        assert_eq!(full["details"]["tenant"]["events_checked"], json!(14));
        let jobs = app.get_json("/api/v1/admin/jobs").await;
        let listed = jobs["jobs"].as_array().expect("jobs");
        let integrity = listed.iter().find(|job| job["name"] == "integrity-check").expect("integrity-check listed");
        assert_eq!(integrity["last_run"]["id"], full["id"], "{jobs}");
        assert!(listed.iter().any(|job| job["name"] == "checkpoint"), "{jobs}");
        let ready: Value = app.get("/readyz", ADMIN_KEY).await.json().await.expect("json");
        assert_eq!(ready["checks"]["integrity"]["status"], json!("ok"), "{ready}");
    }
}

#[tokio::test]
async fn every_tamper_scenario_is_caught_and_alerted() {
    let swap = [
        "UPDATE events SET seq = -1 WHERE seq = 2",
        "UPDATE events SET seq = 2 WHERE seq = 6",
        "UPDATE events SET seq = 6 WHERE seq = -1",
    ];
    let appended = "INSERT INTO events SELECT tenant, 10, 'forged', occurred_at, received_at, actor_id, actor_type, actor_name, actor_ip, \
        actor_user_agent, action, resource_type, resource_id, resource_name, outcome, severity, details, tags, prev_hash, hash, request_hash \
        FROM events WHERE seq = 8";
    let cases: Vec<(&str, Vec<&str>, u64)> = vec![
        ("changed", vec!["UPDATE events SET outcome = 'failure' WHERE seq = 4"], 4),
        ("deleted", vec!["DELETE FROM events WHERE seq = 3"], 3),
        ("inserted", vec![appended], 10),
        ("reordered", swap.to_vec(), 2),
    ];
    for backend_db in TestDatabase::all().await {
        for (name, statements, bad_seq) in &cases {
            let db = match backend_db.backend {
                veritrail_store::Backend::Sqlite => TestDatabase::sqlite(),
                veritrail_store::Backend::Postgres => TestDatabase::postgres().await.expect("postgres"),
            };
            let backend = db.backend;
            let app = spawn_app_on(db).await;
            fill(&app, "t", 10).await;
            assert_eq!(check(&app).await["details"]["tenant"]["status"], json!("ok"));
            app.db.tamper(statements).await;
            // The tampering lies behind the incremental cursor: a full run finds it.
            let report = run_job(&app, "/api/v1/admin/jobs/integrity-check/run?full=true").await;
            let tenant = &report["details"]["tenant"];
            assert_eq!(tenant["status"], json!("failed"), "{backend:?} {name}: {report}");
            assert_eq!(tenant["failures"][0]["first_bad_seq"], json!(bad_seq), "{backend:?} {name}: {report}");

            let ready: Value = app.get("/readyz", ADMIN_KEY).await.json().await.expect("json");
            assert_eq!(ready["checks"]["integrity"]["status"], json!("failed"), "{backend:?} {name}: {ready}");
            let alerts = app.get_json("/api/v1/events?action=veritrail.integrity.failure").await;
            let alerts = alerts["events"].as_array().expect("events").clone();
            if *name == "inserted" {
                // The forged row occupies the next seq, so nothing more can be appended (the
                // alert included) until an operator removes it: the log fails closed.
                assert!(alerts.is_empty());
                assert_eq!(app.post_event(&event("after.forgery")).await.status(), StatusCode::SERVICE_UNAVAILABLE);
                continue;
            }
            assert_eq!(alerts.len(), 1, "{backend:?} {name}: one alert event");
            assert_eq!(alerts[0]["severity"], json!("critical"));
            assert_eq!(alerts[0]["details"]["first_bad_seq"], json!(bad_seq));
            // Seeing the same failure again records no second alert.
            run_job(&app, "/api/v1/admin/jobs/integrity-check/run?full=true").await;
            let again = app.get_json("/api/v1/events?action=veritrail.integrity.failure").await;
            assert_eq!(again["events"].as_array().map(Vec::len), Some(1), "{backend:?} {name}");
        }
    }
}

#[tokio::test]
async fn new_events_changed_after_a_run_are_caught_by_the_next_incremental_run() {
    let app = crate::helpers::spawn_app().await;
    fill(&app, "first", 5).await;
    assert_eq!(check(&app).await["details"]["tenant"]["status"], json!("ok"));
    fill(&app, "second", 5).await;
    app.db.tamper(&["UPDATE events SET action = 'x.y' WHERE seq = 7"]).await;
    let report = check(&app).await;
    assert_eq!(report["details"]["tenant"]["failures"][0]["first_bad_seq"], json!(7), "{report}");
    // Changing the last verified event breaks the link into the new ones.
    let app = crate::helpers::spawn_app().await;
    fill(&app, "first", 5).await;
    check(&app).await;
    app.db.tamper(&["UPDATE events SET hash = prev_hash WHERE seq = 4"]).await;
    fill(&app, "second", 2).await;
    let report = check(&app).await;
    assert_eq!(report["details"]["tenant"]["failures"][0]["first_bad_seq"], json!(4), "{report}");
}

#[tokio::test]
async fn a_rewritten_tree_behind_published_checkpoints_is_caught() {
    for db in TestDatabase::all().await {
        let app = spawn_app_on(db).await;
        fill(&app, "a", 12).await;
        run_job(&app, "/api/v1/admin/jobs/checkpoint/run").await;
        let forged = match app.db.backend {
            veritrail_store::Backend::Sqlite => "zeroblob(32)",
            veritrail_store::Backend::Postgres => "decode(repeat('00', 32), 'hex')",
        };
        // The subtree over seqs 0..8 is replaced, as rebuilding the tree after editing an event
        // would do.
        app.db.tamper(&[&format!("UPDATE merkle_nodes SET hash = {forged} WHERE level = 3 AND idx = 0")]).await;
        let report = check(&app).await;
        assert_eq!(report["details"]["tenant"]["status"], json!("failed"), "{report}");
        assert_eq!(report["details"]["tenant"]["failures"][0]["kind"], json!("tree_rewritten"), "{report}");
    }
}

#[tokio::test]
async fn clients_cannot_write_in_the_servers_namespace_and_the_server_still_can() {
    for db in TestDatabase::all().await {
        let app = spawn_app_on(db).await;
        let mut forged = event("x.y");
        forged["id"] = json!("integrity-chain-changed-3");
        let answer = app.post_event(&forged).await;
        let message = crate::helpers::assert_error(answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(message.starts_with("id ") && message.contains("reserved"), "{message}");
        let batch = vec![event("app.login"), event("veritrail.integrity.failure")];
        let answer = app.post_batch(batch).await;
        let message = crate::helpers::assert_error(answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(message.starts_with("events[1].action: ") && message.contains("reserved"), "{message}");
        let cloudtrail = json!({"Records": [{
            "eventVersion": "1.08", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject", "eventID": "Integrity-forged", "awsRegion": "us-east-1",
            "userIdentity": {"type": "IAMUser", "userName": "mallory", "arn": "arn:aws:iam::1:user/mallory"},
        }]});
        let answer = app.post_json("/api/v1/ingest/cloudtrail", ADMIN_KEY, &cloudtrail).await;
        let message = crate::helpers::assert_error(answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(message.starts_with("Records[0].id: "), "{message}");
        assert_eq!(app.db.count_events().await, 0, "a refused request stores nothing");

        // The server's own record of an integrity failure is still written.
        fill(&app, "t", 5).await;
        app.db.tamper(&["UPDATE events SET outcome = 'failure' WHERE seq = 2"]).await;
        run_job(&app, "/api/v1/admin/jobs/integrity-check/run?full=true").await;
        let recorded = app.get_json("/api/v1/events?action=veritrail.integrity.failure").await;
        let recorded = recorded["events"].as_array().expect("events").clone();
        assert_eq!(recorded.len(), 1, "{recorded:?}");
        assert!(recorded[0]["id"].as_str().is_some_and(|id| id.starts_with("integrity-")), "{recorded:?}");
    }
}

#[tokio::test]
async fn another_tenants_broken_chain_is_not_shown_to_a_tenant() {
    let app = spawn_app_on(TestDatabase::sqlite()).await;
    let acme = app.create_key("acme", "admin").await;
    fill(&app, "d", 3).await;
    let batch = json!({"events": (0..5).map(|idx| event(&format!("a.{idx}"))).collect::<Vec<_>>()});
    assert_eq!(app.post_json("/api/v1/events/batch", &acme, &batch).await.status(), StatusCode::CREATED);
    app.db.tamper(&["UPDATE events SET outcome = 'failure' WHERE tenant = 'acme' AND seq = 2"]).await;
    let operator = app.create_key("operations", "operator").await;
    let response = app.post_json("/api/v1/admin/jobs/integrity-check/run?full=true", &operator, &json!({})).await;
    let run: Value = response.json().await.expect("run");
    assert_eq!(run["details"]["tenants"]["acme"]["status"], json!("failed"), "{run}");

    let ready = |key: String| {
        let app = &app;
        async move { app.get("/readyz", &key).await.json::<Value>().await.expect("json")["checks"]["integrity"].clone() }
    };
    assert_eq!(ready(ADMIN_KEY.to_owned()).await["status"], json!("ok"), "another tenant's failure leaked");
    assert_eq!(ready(ADMIN_KEY.to_owned()).await["failures"], json!(0));
    assert_eq!(ready(acme).await["status"], json!("failed"));
    assert_eq!(ready(operator).await["failures"], json!(1));
}
