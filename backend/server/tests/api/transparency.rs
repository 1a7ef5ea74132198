//! Signed checkpoints and Merkle proofs over HTTP, checked the way an outside verifier would.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use veritrail_core::chain::{canonical_event_bytes, leaf_hash};
use veritrail_core::checkpoint::NoteVerifier;
use veritrail_core::event::StoredEvent;
use veritrail_core::hash::Hash;
use veritrail_core::merkle::{verify_consistency, verify_inclusion};

use crate::helpers::{ADMIN_KEY, TestApp, assert_error, event, spawn_app, spawn_apps};

fn hash(value: &Value) -> Hash {
    Hash::from_hex(value.as_str().expect("hex string")).expect("64 hex digits")
}

fn hashes(value: &Value) -> Vec<Hash> {
    value.as_array().expect("array").iter().map(hash).collect()
}

async fn publish(app: &TestApp) -> Value {
    let response = app.post_json("/api/v1/admin/jobs/checkpoint/run", ADMIN_KEY, &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("job answer")
}

async fn verifier(app: &TestApp) -> NoteVerifier {
    let key = app.get_json("/api/v1/log/key").await;
    assert_eq!(key["origin"], json!(format!("{}/default", key["key_name"].as_str().expect("name"))));
    let public_key: [u8; 32] =
        STANDARD.decode(key["public_key"].as_str().expect("key")).expect("base64").try_into().expect("32 bytes");
    let verifier = NoteVerifier::new(key["key_name"].as_str().expect("name"), &public_key).expect("verifier");
    let from_vkey = NoteVerifier::from_verifier_key(key["verifier_key"].as_str().expect("vkey")).expect("vkey");
    assert_eq!(from_vkey.name(), verifier.name());
    verifier
}

#[tokio::test]
async fn checkpoints_and_proofs_verify_offline() {
    for app in spawn_apps().await {
        let events: Vec<Value> = (0..10).map(|idx| event(&format!("step.{idx}"))).collect();
        app.post_batch(events).await;
        let job = publish(&app).await;
        assert_eq!((job["job"].as_str(), job["outcome"].as_str()), (Some("checkpoint"), Some("success")), "{job}");
        assert_eq!(job["details"]["tenant"]["published"]["tree_size"], json!(10), "{job}");
        let verifier = verifier(&app).await;

        let latest = app.get_json("/api/v1/checkpoints/latest").await;
        let checkpoint = verifier.verify(latest["note"].as_str().expect("note")).expect("signature verifies");
        assert_eq!(checkpoint.tree_size, 10);
        assert_eq!(checkpoint.root_hash, hash(&latest["root_hash"]));
        assert_eq!(checkpoint.origin, "veritrail.local/default");
        assert_eq!(app.get_json("/api/v1/checkpoints?tree_size=10").await["note"], latest["note"]);

        // Nothing new: the job publishes nothing and the latest stays.
        let again = publish(&app).await;
        assert_eq!(again["details"]["tenant"]["published"], Value::Null);
        assert_eq!(again["details"]["tenant"]["latest"]["tree_size"], json!(10));

        let listed = app.get_json("/api/v1/events?limit=100").await;
        let stored: Vec<StoredEvent> = serde_json::from_value(listed["events"].clone()).expect("events");
        for event in &stored {
            let proof = app.get_json(&format!("/api/v1/proofs/inclusion?seq={}&tree_size=10", event.seq)).await;
            let leaf = leaf_hash(&canonical_event_bytes(event));
            assert_eq!(hash(&proof["leaf_hash"]), leaf, "the served leaf is the event's own leaf hash");
            assert_eq!(hash(&proof["root_hash"]), checkpoint.root_hash);
            assert!(verify_inclusion(event.seq, 10, &leaf, &hashes(&proof["hashes"]), &checkpoint.root_hash));
        }
        let by_id = app.get_json(&format!("/api/v1/proofs/inclusion?id={}", stored[0].id)).await;
        assert_eq!(by_id["leaf_index"], json!(stored[0].seq));
        assert_eq!(by_id["tree_size"], json!(10), "defaults to the latest checkpoint");

        // The log grows; the new checkpoint provably extends the old one.
        app.post_batch((0..5).map(|idx| event(&format!("more.{idx}"))).collect()).await;
        let grown = verifier
            .verify(publish(&app).await["details"]["tenant"]["published"]["note"].as_str().expect("note"))
            .expect("new checkpoint verifies");
        assert_eq!(grown.tree_size, 15);
        let consistency = app.get_json("/api/v1/proofs/consistency?first=10&second=15").await;
        assert_eq!(hash(&consistency["first_root"]), checkpoint.root_hash);
        assert_eq!(hash(&consistency["second_root"]), grown.root_hash);
        assert!(verify_consistency(10, 15, &checkpoint.root_hash, &grown.root_hash, &hashes(&consistency["hashes"])));

        // An event read with its proof carries everything needed to check it.
        let with_proof = app.get_json(&format!("/api/v1/events/{}?proof=true", stored[3].id)).await;
        let proof = &with_proof["proof"];
        assert_eq!(proof["tree_size"], json!(15));
        let note_checkpoint = verifier.verify(with_proof["checkpoint"]["note"].as_str().expect("note")).expect("note");
        let event_back: StoredEvent = serde_json::from_value(with_proof.clone()).expect("event fields still there");
        assert!(verify_inclusion(
            event_back.seq,
            note_checkpoint.tree_size,
            &leaf_hash(&canonical_event_bytes(&event_back)),
            &hashes(&proof["hashes"]),
            &note_checkpoint.root_hash
        ));
    }
}

#[tokio::test]
async fn proofs_refuse_what_the_log_does_not_hold() {
    let app = spawn_app().await;
    assert_error(app.get("/api/v1/checkpoints/latest", ADMIN_KEY).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.get("/api/v1/proofs/inclusion?seq=0", ADMIN_KEY).await, StatusCode::NOT_FOUND, "not_found").await;
    app.post_batch(vec![event("a"), event("b"), event("c")]).await;
    let fresh: Value = app.post_event(&event("d")).await.json().await.expect("receipt");
    publish(&app).await;
    let beyond = app.get("/api/v1/proofs/inclusion?seq=2&tree_size=9", ADMIN_KEY).await;
    assert_error(beyond, StatusCode::BAD_REQUEST, "invalid_query").await;
    let outside = app.get("/api/v1/proofs/inclusion?seq=5&tree_size=4", ADMIN_KEY).await;
    assert_error(outside, StatusCode::BAD_REQUEST, "invalid_query").await;
    let backwards = app.get("/api/v1/proofs/consistency?first=4&second=2", ADMIN_KEY).await;
    assert_error(backwards, StatusCode::BAD_REQUEST, "invalid_query").await;
    assert_error(app.get("/api/v1/checkpoints?tree_size=2", ADMIN_KEY).await, StatusCode::NOT_FOUND, "not_found").await;
    let both = app.get("/api/v1/proofs/inclusion?seq=1&id=x", ADMIN_KEY).await;
    assert_error(both, StatusCode::BAD_REQUEST, "invalid_query").await;

    let reader = app.create_key("default", "read").await;
    let denied = app.post_json("/api/v1/admin/jobs/checkpoint/run", &reader, &json!({})).await;
    assert_error(denied, StatusCode::FORBIDDEN, "forbidden").await;

    // An event newer than the latest checkpoint says so instead of proving against nothing.
    let newer: Value = app.post_event(&event("e")).await.json().await.expect("receipt");
    let pending = app.get_json(&format!("/api/v1/events/{}?proof=true", newer["id"].as_str().expect("id"))).await;
    assert_eq!(pending["proof"], Value::Null);
    assert!(pending["proof_pending"].is_string());
    let covered = app.get_json(&format!("/api/v1/events/{}?proof=true", fresh["id"].as_str().expect("id"))).await;
    assert!(covered["proof"]["hashes"].is_array());
}

#[tokio::test]
async fn a_rewritten_history_is_never_signed() {
    for app in spawn_apps().await {
        app.post_batch((0..10).map(|idx| event(&format!("x.{idx}"))).collect()).await;
        publish(&app).await;
        app.post_batch((0..5).map(|idx| event(&format!("y.{idx}"))).collect()).await;
        // An operator rewrites the subtree over seqs 0..8 behind the application's back.
        let forged = match app.db.backend {
            veritrail_store::Backend::Sqlite => "zeroblob(32)",
            veritrail_store::Backend::Postgres => "decode(repeat('00', 32), 'hex')",
        };
        app.db.tamper(&[&format!("UPDATE merkle_nodes SET hash = {forged} WHERE level = 3 AND idx = 0")]).await;
        // Its admin learns that the run failed; the operator learns why.
        let run = publish(&app).await;
        assert_eq!(run["outcome"], json!("failure"), "{run}");
        let operator = app.create_key("operations", "operator").await;
        let response = app.post_json("/api/v1/admin/jobs/checkpoint/run", &operator, &json!({})).await;
        let run: Value = response.json().await.expect("run record");
        assert_eq!(run["outcome"], json!("failure"), "{run}");
        assert!(run["error"].as_str().is_some_and(|error| error.contains("not consistent")), "{run}");
        let latest = app.get_json("/api/v1/checkpoints/latest").await;
        assert_eq!(latest["tree_size"], json!(10), "{:?}: nothing was signed over the rewritten tree", app.db.backend);
    }
}

/// The sizes of the published checkpoints, oldest first.
async fn checkpoint_sizes(app: &TestApp, key: &str) -> Vec<u64> {
    let list: Value = app.get("/api/v1/checkpoints", key).await.json().await.expect("json");
    list["checkpoints"].as_array().expect("list").iter().map(|c| c["tree_size"].as_u64().expect("size")).collect()
}

async fn post_bundle(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.post_json("/api/v1/export/bundle", key, body).await
}

/// Twelve events a minute apart from 08:00.
fn timed_events(prefix: &str) -> Vec<Value> {
    (0..12)
        .map(|idx| {
            let mut body = event(&format!("{prefix}.{idx}"));
            body["occurred_at"] = json!(format!("2026-04-01T08:{idx:02}:00Z"));
            body
        })
        .collect()
}

#[tokio::test]
async fn exported_bundles_verify_offline_against_the_latest_checkpoint_and_sign_nothing() {
    for app in spawn_apps().await {
        app.post_batch(timed_events("export")).await;
        publish(&app).await;
        // Events after the latest checkpoint are not in the bundle: nothing proves them yet.
        app.post_batch(vec![event("after.checkpoint")]).await;
        assert_eq!(checkpoint_sizes(&app, ADMIN_KEY).await, [12]);
        let response =
            post_bundle(&app, ADMIN_KEY, &json!({"since": "2026-04-01T08:03:00Z", "until": "2026-04-01T08:09:00Z"}))
                .await;
        assert_eq!(response.status(), StatusCode::OK, "{:?}", app.db.backend);
        assert_eq!(response.headers()["content-type"], "application/x-tar");
        let announced: u64 = response.headers()["content-length"].to_str().expect("text").parse().expect("length");
        let bytes = response.bytes().await.expect("bundle");
        assert_eq!(bytes.len() as u64, announced);
        let bundle = veritrail_core::bundle::Bundle::from_tar(&bytes).expect("readable bundle");
        let report = bundle.verify(&verifier(&app).await).expect("bundle verifies");
        assert_eq!(report.events_verified, 6);
        assert_eq!((report.first_seq, report.last_seq, report.tree_size), (Some(3), Some(8), 12));
        let whole = post_bundle(&app, ADMIN_KEY, &json!({})).await.bytes().await.expect("bundle");
        let whole = veritrail_core::bundle::Bundle::from_tar(&whole).expect("readable");
        assert_eq!(whole.verify(&verifier(&app).await).expect("verifies").events_verified, 12);
        assert_eq!(checkpoint_sizes(&app, ADMIN_KEY).await, [12], "{:?}: a bundle signs nothing", app.db.backend);
    }
}

#[tokio::test]
async fn a_bundle_before_the_first_checkpoint_is_refused_and_signs_nothing() {
    let app = spawn_app().await;
    let empty = post_bundle(&app, ADMIN_KEY, &json!({})).await;
    assert_error(empty, StatusCode::NOT_FOUND, "not_found").await;
    app.post_batch(timed_events("early")).await;
    let message =
        assert_error(post_bundle(&app, ADMIN_KEY, &json!({})).await, StatusCode::CONFLICT, "no_checkpoint").await;
    assert!(message.contains("checkpoint job"), "{message}");
    assert_eq!(checkpoint_sizes(&app, ADMIN_KEY).await, Vec::<u64>::new(), "the request signed nothing");
    publish(&app).await;
    assert_eq!(post_bundle(&app, ADMIN_KEY, &json!({})).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_bundle_over_the_configured_size_is_refused_before_anything_is_sent() {
    let db = veritrail_store::testing::TestDatabase::sqlite();
    let app = crate::helpers::spawn_app_with(db, |config| config.limits.max_bundle_events = 5).await;
    app.post_batch(timed_events("big")).await;
    publish(&app).await;
    let message = assert_error(
        post_bundle(&app, ADMIN_KEY, &json!({})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "selection_too_large",
    )
    .await;
    assert!(message.contains("more than 5 events") && message.contains("since/until"), "{message}");
    // A narrower selection within the bound is fine.
    let narrow =
        post_bundle(&app, ADMIN_KEY, &json!({"since": "2026-04-01T08:00:00Z", "until": "2026-04-01T08:05:00Z"})).await;
    assert_eq!(narrow.status(), StatusCode::OK);
    let bundle = veritrail_core::bundle::Bundle::from_tar(&narrow.bytes().await.expect("bytes")).expect("readable");
    assert_eq!(bundle.verify(&verifier(&app).await).expect("verifies").events_verified, 5);
}

#[tokio::test]
async fn a_bundle_holds_only_the_callers_tenant_and_bad_requests_are_refused() {
    let app = spawn_app().await;
    app.post_batch(timed_events("acme")).await;
    publish(&app).await;
    // Another tenant's reader sees none of default's events, and cannot name default.
    let globex = app.create_key("globex", "read").await;
    assert_error(post_bundle(&app, &globex, &json!({})).await, StatusCode::NOT_FOUND, "not_found").await;
    let named = post_bundle(&app, &globex, &json!({"tenant": "default"})).await;
    assert_error(named, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
    let globex_event = event("globex.only");
    assert_eq!(
        app.post_json("/api/v1/events", &app.create_key("globex", "ingest").await, &globex_event).await.status(),
        StatusCode::CREATED
    );
    // Their admin publishes their checkpoint (an admin's job run covers its own tenant).
    let globex_admin = app.create_key("globex", "admin").await;
    let run = app.post_json("/api/v1/admin/jobs/checkpoint/run", &globex_admin, &json!({})).await;
    assert_eq!(run.status(), StatusCode::OK);
    let theirs = post_bundle(&app, &globex, &json!({})).await;
    assert_eq!(theirs.status(), StatusCode::OK);
    let bundle = veritrail_core::bundle::Bundle::from_tar(&theirs.bytes().await.expect("bytes")).expect("readable");
    assert_eq!((bundle.manifest.tenant.as_str(), bundle.manifest.event_count), ("globex", 1));

    for (body, code) in [
        (json!({"since": "last week"}), "invalid_field"),
        (json!({"since": 5}), "invalid_field"),
        (json!({"since": "2026-04-02T00:00:00Z", "until": "2026-04-01T00:00:00Z"}), "invalid_field"),
        (json!(["since"]), "invalid_field"),
    ] {
        assert_error(post_bundle(&app, ADMIN_KEY, &body).await, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let malformed = app
        .send(reqwest::Method::POST, "/api/v1/export/bundle", Some(ADMIN_KEY), Some("application/json"), b"{".to_vec())
        .await;
    assert_error(malformed, StatusCode::BAD_REQUEST, "malformed_json").await;
    let ingest_only = app.create_key("default", "ingest").await;
    assert_error(post_bundle(&app, &ingest_only, &json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(post_bundle(&app, "vt_nope", &json!({})).await, StatusCode::UNAUTHORIZED, "unauthorized").await;
}

#[tokio::test]
async fn every_published_checkpoint_is_listed_oldest_first_in_pages() {
    for app in spawn_apps().await {
        for size in 1..=3 {
            assert_eq!(app.post_event(&event(&format!("grow.{size}"))).await.status(), StatusCode::CREATED);
            publish(&app).await;
        }
        let all = app.get_json("/api/v1/checkpoints").await;
        let sizes: Vec<u64> = all["checkpoints"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| c["tree_size"].as_u64().expect("size"))
            .collect();
        assert_eq!(sizes, [1, 2, 3], "{all}");
        assert_eq!(all["next_after"], Value::Null);
        let first = app.get_json("/api/v1/checkpoints?limit=2").await;
        assert_eq!(first["next_after"], json!(2));
        let rest = app.get_json("/api/v1/checkpoints?after=2&limit=2").await;
        assert_eq!(rest["checkpoints"][0]["note"], all["checkpoints"][2]["note"]);
        // Another tenant has none; bad numbers are refused.
        let other = app.create_key("globex", "read").await;
        let theirs: Value = app.get("/api/v1/checkpoints", &other).await.json().await.expect("json");
        assert_eq!(theirs["checkpoints"], json!([]));
        let ingest_only = app.create_key("default", "ingest").await;
        assert_error(app.get("/api/v1/checkpoints", &ingest_only).await, StatusCode::FORBIDDEN, "forbidden").await;
        assert_error(
            app.get("/api/v1/checkpoints?after=-1", ADMIN_KEY).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
    }
}
