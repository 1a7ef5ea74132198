//! CloudTrail import over HTTP with the real invictus-aws-stratus capture (shared/data): every
//! record stored once, mapped as documented, and a second import adds nothing.

use std::path::PathBuf;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, assert_error, spawn_app_with, spawn_apps};

fn capture_files() -> Vec<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/invictus-aws-stratus/raw/CloudTrail");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("the shared data set must be beside the repository ({}): {err}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn the_invictus_capture_imports_once_with_its_outcomes() {
    let files = capture_files();
    assert_eq!(files.len(), 55);
    for app in spawn_apps().await {
        let mut created = 0;
        for file in &files {
            let body = std::fs::read(file).expect("read capture file");
            let response = app
                .send(Method::POST, "/api/v1/ingest/cloudtrail", Some(ADMIN_KEY), Some("application/json"), body)
                .await;
            assert_eq!(response.status(), StatusCode::CREATED, "{}", file.display());
            let answer: Value = response.json().await.expect("receipts");
            created += answer["receipts"].as_array().map_or(0, Vec::len);
        }
        assert_eq!(created, 2900, "{:?}", app.db.backend);
        let again = std::fs::read(&files[0]).expect("read");
        let response =
            app.send(Method::POST, "/api/v1/ingest/cloudtrail", Some(ADMIN_KEY), Some("application/json"), again).await;
        assert_eq!(response.status(), StatusCode::OK, "a second import of a file adds nothing");
        assert_eq!(app.db.count_events().await, 2900);

        // AccessDenied (16) and Client.UnauthorizedOperation (44) are denials.
        let denied = app.get_json("/api/v1/events?outcome=denied&limit=1000").await;
        assert_eq!(denied["events"].as_array().map(Vec::len), Some(60), "{:?}", app.db.backend);
        let stop_logging = app.get_json("/api/v1/events?action=cloudtrail.amazonaws.com:StopLogging").await;
        let stop_logging = &stop_logging["events"][0];
        assert_eq!(stop_logging["actor"]["id"], json!("arn:aws:iam::123837392027:user/bert-jan"));
        assert_eq!(stop_logging["actor"]["ip"], json!("192.168.10.20"));
        assert_eq!(stop_logging["outcome"], json!("failure"), "TrailNotFound is a failure, not a denial");
        assert_eq!(stop_logging["details"]["eventName"], json!("StopLogging"), "the whole record is kept");
        let benjamin = app.get_json("/api/v1/events?actor=arn:aws:iam::123837392027:user/benjamin&limit=1").await;
        assert_eq!(benjamin["events"][0]["actor"]["name"], json!("benjamin"));
        assert_eq!(app.verify().await["checked"], json!(2900));
    }
}

#[tokio::test]
async fn bad_cloudtrail_documents_store_nothing() {
    let app = spawn_app_with(veritrail_store::testing::TestDatabase::sqlite(), |config| {
        config.limits.max_batch_events = 2;
    })
    .await;
    const PATH: &str = "/api/v1/ingest/cloudtrail";
    assert_error(
        app.post_json(PATH, ADMIN_KEY, &json!({"records": []})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    let record = json!({"eventID": "e1", "eventTime": "2023-07-10T12:00:00Z", "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a"}});
    let broken = json!({"eventID": "e2", "eventSource": "s3.amazonaws.com", "eventName": "GetObject"});
    let message = assert_error(
        app.post_json(PATH, ADMIN_KEY, &json!({"Records": [record, broken]})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    )
    .await;
    assert!(message.contains("Records[1]"), "{message}");
    assert_error(
        app.post_json(PATH, ADMIN_KEY, &json!({"Records": [record, record, record]})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "batch_too_large",
    )
    .await;
    assert_eq!(app.db.count_events().await, 0);
}
