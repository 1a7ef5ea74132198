//! Ingest, read-back, listing, idempotency, verification and method rules.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, assert_error, event, spawn_app, spawn_apps};

#[tokio::test]
async fn single_event_is_acknowledged_stored_and_read_back() {
    for app in spawn_apps().await {
        let body = json!({
            "occurred_at": "2026-03-01T09:30:00.5+01:00",
            "actor": {"id": "alice@example.com", "type": "user", "name": "Alice", "ip": "2001:db8::7", "user_agent": "cli/1.0"},
            "action": "repo.delete",
            "resource": {"type": "repository", "id": "r-1", "name": "billing"},
            "outcome": "success",
            "severity": "high",
            "details": {"reason": "cleanup", "files": 3},
            "tags": ["prod"],
        });
        let response = app.post_event(&body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let location = response.headers()["location"].to_str().expect("location").to_owned();
        let receipt: Value = response.json().await.expect("receipt");
        assert_eq!(receipt["seq"], json!(0));
        assert_eq!(receipt["prev_hash"], json!("0".repeat(64)));
        for field in ["id", "hash", "received_at"] {
            assert!(receipt[field].is_string(), "receipt has {field}: {receipt}");
        }
        let stored = app.get_json(&location).await;
        assert_eq!(stored["hash"], receipt["hash"]);
        assert_eq!(stored["occurred_at"], json!("2026-03-01T08:30:00.500000Z"));
        assert_eq!(stored["actor"]["ip"], json!("2001:db8::7"));
        assert_eq!(stored["details"], json!({"files": 3, "reason": "cleanup"}));
        assert_eq!(stored["severity"], json!("high"));
        assert_eq!(stored["tenant"], json!("default"));
        // Defaults: severity info, occurred_at = received_at.
        let minimal: Value = app.post_event(&event("login")).await.json().await.expect("receipt");
        let minimal_stored = app.get_json(&format!("/api/v1/events/{}", minimal["id"].as_str().expect("id"))).await;
        assert_eq!(minimal_stored["severity"], json!("info"));
        assert_eq!(minimal_stored["occurred_at"], minimal_stored["received_at"]);
        // `batch` is a valid id even though it is also a route name.
        let mut named = event("odd.name");
        named["id"] = json!("batch");
        assert_eq!(app.post_event(&named).await.status(), StatusCode::CREATED);
        assert_eq!(app.get_json("/api/v1/events/batch").await["action"], json!("odd.name"));
        assert_eq!(app.verify().await["ok"], json!(true));
    }
}

#[tokio::test]
async fn retries_return_the_original_receipt_and_conflicts_are_409() {
    for app in spawn_apps().await {
        let mut body = event("invoice.pay");
        body["id"] = json!("payment-7");
        let first = app.post_event(&body).await;
        assert_eq!(first.status(), StatusCode::CREATED);
        let first: Value = first.json().await.expect("receipt");
        let retry = app.post_event(&body).await;
        assert_eq!(retry.status(), StatusCode::OK);
        assert_eq!(retry.json::<Value>().await.expect("receipt"), first);

        body["outcome"] = json!("failure");
        assert_error(app.post_event(&body).await, StatusCode::CONFLICT, "idempotency_conflict").await;
        let list = app.get_json("/api/v1/events").await;
        assert_eq!(list["events"].as_array().map(Vec::len), Some(1));
    }
}

#[tokio::test]
async fn batches_are_chained_and_all_or_nothing() {
    for app in spawn_apps().await {
        let events: Vec<Value> = (0..5).map(|idx| json!({"id": format!("b-{idx}"), "actor": {"id": "svc", "type": "service"}, "action": "job.run", "outcome": "success"})).collect();
        let response = app.post_batch(events.clone()).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("receipts");
        let receipts = body["receipts"].as_array().expect("receipts");
        assert_eq!(receipts.len(), 5);
        for (idx, receipt) in receipts.iter().enumerate() {
            assert_eq!(receipt["seq"], json!(idx));
            assert_eq!(receipt["created"], json!(true));
            if idx > 0 {
                assert_eq!(receipt["prev_hash"], receipts[idx - 1]["hash"]);
            }
        }
        // The same batch again: nothing new, same receipts.
        let again = app.post_batch(events.clone()).await;
        assert_eq!(again.status(), StatusCode::OK);
        let again: Value = again.json().await.expect("receipts");
        assert_eq!(again["receipts"][4]["hash"], receipts[4]["hash"]);
        assert_eq!(again["receipts"][4]["created"], json!(false));

        // One bad event refuses the whole batch.
        let mut mixed = vec![event("ok.one"), event("ok.two")];
        mixed[1]["outcome"] = json!("sideways");
        let message =
            assert_error(app.post_batch(mixed).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field").await;
        assert!(message.contains("events[1].outcome"), "{message}");
        let verify = app.verify().await;
        assert_eq!(verify["checked"], json!(5));
        assert_eq!(verify["ok"], json!(true));
    }
}

#[tokio::test]
async fn listing_filters_and_pages_newest_first() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..25)
        .map(|idx| {
            json!({
                "actor": {"id": if idx % 2 == 0 { "alice" } else { "bob" }, "type": "user"},
                "action": if idx % 5 == 0 { "repo.delete" } else { "repo.read" },
                "resource": {"type": "repository", "id": format!("r{}", idx % 3)},
                "outcome": if idx % 4 == 0 { "denied" } else { "success" },
                "occurred_at": format!("2026-06-01T12:{idx:02}:00Z"),
            })
        })
        .collect();
    assert_eq!(app.post_batch(events).await.status(), StatusCode::CREATED);

    let mut seen = Vec::new();
    let mut path = "/api/v1/events?limit=10".to_owned();
    loop {
        let page = app.get_json(&path).await;
        seen.extend(page["events"].as_array().expect("events").iter().map(|event| event["seq"].as_u64().expect("seq")));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/events?limit=10&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, (0..25).rev().collect::<Vec<u64>>(), "every event once, newest first");

    let alice_deletes = app.get_json("/api/v1/events?actor=alice&action=repo.delete").await;
    let seqs: Vec<u64> =
        alice_deletes["events"].as_array().expect("events").iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, vec![20, 10, 0]);
    let denied_r1 = app.get_json("/api/v1/events?outcome=denied&resource_type=repository&resource_id=r1").await;
    assert_eq!(denied_r1["events"].as_array().map(Vec::len), Some(2), "{denied_r1}");
    let window = app.get_json("/api/v1/events?since=2026-06-01T12:10:00Z&until=2026-06-01T12:13:00Z").await;
    assert_eq!(window["events"].as_array().map(Vec::len), Some(3));
    let capped = app.get_json("/api/v1/events?limit=100000").await;
    assert_eq!(capped["events"].as_array().map(Vec::len), Some(25));
}

#[tokio::test]
async fn events_cannot_be_changed_through_the_api() {
    let app = spawn_app().await;
    let receipt: Value = app.post_event(&event("x")).await.json().await.expect("receipt");
    let id = receipt["id"].as_str().expect("id");
    for (method, path, allow) in [
        (Method::PUT, format!("/api/v1/events/{id}"), "GET, HEAD"),
        (Method::PATCH, format!("/api/v1/events/{id}"), "GET, HEAD"),
        (Method::DELETE, format!("/api/v1/events/{id}"), "GET, HEAD"),
        (Method::DELETE, "/api/v1/events".to_owned(), "GET, HEAD, POST"),
        (Method::PUT, "/api/v1/events".to_owned(), "GET, HEAD, POST"),
        (Method::PATCH, "/api/v1/events/batch".to_owned(), "GET, HEAD, POST"),
    ] {
        let response = app.send(method.clone(), &path, Some(ADMIN_KEY), Some("application/json"), b"{}".to_vec()).await;
        assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some(allow), "{method} {path}");
        assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    }
    assert_eq!(app.verify().await["checked"], json!(1));
}

#[tokio::test]
async fn health_readiness_and_unknown_paths() {
    let app = spawn_app().await;
    let health = app.send(Method::GET, "/healthz", None, None, Vec::new()).await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.send(Method::GET, "/readyz", None, None, Vec::new()).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<Value>().await.expect("json")["status"], json!("ready"));
    assert_error(app.get("/api/v1/nope", ADMIN_KEY).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(app.get("/api/v1/events/missing", ADMIN_KEY).await, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn verify_endpoint_checks_ranges() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..12).map(|idx| event(&format!("step.{idx}"))).collect();
    app.post_batch(events).await;
    let range = app.get_json("/api/v1/verify?from_seq=3&to_seq=7").await;
    assert_eq!(range["ok"], json!(true));
    assert_eq!(range["checked"], json!(5));
    assert_eq!(range["head_seq"], json!(11));
    assert_error(app.get("/api/v1/verify?from_seq=-1", ADMIN_KEY).await, StatusCode::BAD_REQUEST, "invalid_query")
        .await;

    app.db.tamper(&["UPDATE events SET outcome = 'failure' WHERE seq = 9"]).await;
    let broken = app.verify().await;
    assert_eq!(broken["ok"], json!(false));
    assert_eq!(broken["first_bad_seq"], json!(9));
    assert!(broken["reason"].as_str().is_some_and(|reason| !reason.is_empty()));
}

#[tokio::test]
async fn thirty_two_concurrent_clients_keep_one_gap_free_chain() {
    for app in spawn_apps().await {
        let app = std::sync::Arc::new(app);
        let mut tasks = Vec::new();
        for client in 0..32 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let mut seqs = Vec::new();
                for idx in 0..15 {
                    let mut body = event("load.test");
                    body["id"] = json!(format!("c{client}-{idx}"));
                    let response = app.post_event(&body).await;
                    assert_eq!(response.status(), StatusCode::CREATED);
                    let receipt: Value = response.json().await.expect("receipt");
                    seqs.push(receipt["seq"].as_u64().expect("seq"));
                }
                seqs
            }));
        }
        let mut all = HashSet::new();
        for task in tasks {
            for seq in task.await.expect("client") {
                assert!(all.insert(seq), "seq {seq} handed out twice");
            }
        }
        assert_eq!(all, (0..480).collect::<HashSet<u64>>());
        let verify = app.verify().await;
        assert_eq!(verify["ok"], json!(true), "{verify}");
        assert_eq!(verify["checked"], json!(480));
    }
}

#[tokio::test]
async fn stats_count_events_by_hour_and_outcome_with_top_actors_and_actions_per_tenant() {
    for app in crate::helpers::spawn_apps().await {
        let at = |hour: u32, minute: u32| format!("2026-11-20T{hour:02}:{minute:02}:00Z");
        let events = [
            ("alice", "repo.read", "success", at(9, 5)),
            ("alice", "repo.read", "success", at(9, 40)),
            ("bob", "repo.delete", "denied", at(9, 59)),
            ("alice", "repo.read", "failure", at(11, 0)),
            ("carol", "iam.create_user", "success", at(12, 30)),
        ];
        let batch: Vec<Value> = events
            .iter()
            .map(|(actor, action, outcome, time)| {
                json!({"actor": {"id": actor, "type": "user"}, "action": action, "outcome": outcome, "occurred_at": time})
            })
            .collect();
        assert_eq!(app.post_batch(batch).await.status(), StatusCode::CREATED);
        let stats = app.get_json("/api/v1/stats?since=2026-11-20T09:00:00Z&until=2026-11-20T12:00:00Z").await;
        assert_eq!(stats["bucket"], json!("hour"), "{stats}");
        assert_eq!(stats["total"], json!(4), "the 12:30 event is outside the range: {stats}");
        let buckets = stats["buckets"].as_array().expect("buckets");
        assert_eq!(buckets.len(), 3, "09, 10 and 11, the empty hour included: {stats}");
        assert_eq!(
            buckets[0],
            json!({"start": "2026-11-20T09:00:00Z", "success": 2, "failure": 0, "denied": 1, "unknown": 0})
        );
        assert_eq!((buckets[1]["success"].clone(), buckets[2]["failure"].clone()), (json!(0), json!(1)));
        assert_eq!(stats["top_actors"][0], json!({"id": "alice", "count": 3}));
        assert_eq!(stats["top_actions"][0], json!({"action": "repo.read", "count": 3}));
        let days = app.get_json("/api/v1/stats?since=2026-11-19T00:00:00Z&until=2026-11-21T00:00:00Z&bucket=day").await;
        assert_eq!(days["buckets"].as_array().map(Vec::len), Some(2));
        assert_eq!(days["buckets"][1]["success"], json!(3), "{days}");

        // Another tenant counts only its own events.
        let other = app.create_key("globex", "read").await;
        let theirs: Value = app
            .get("/api/v1/stats?since=2026-11-19T00:00:00Z&until=2026-11-21T00:00:00Z", &other)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!((theirs["total"].clone(), theirs["top_actors"].clone()), (json!(0), json!([])), "{theirs}");
        let ingest_only = app.create_key("default", "ingest").await;
        assert_error(app.get("/api/v1/stats", &ingest_only).await, StatusCode::FORBIDDEN, "forbidden").await;

        for query in [
            "bucket=week",
            "since=2026-11-20T10:00:00Z&until=2026-11-20T09:00:00Z",
            "since=2025-01-01T00:00:00Z&until=2026-11-20T00:00:00Z&bucket=hour",
            "since=yesterday",
            "colour=blue",
        ] {
            assert_error(
                app.get(&format!("/api/v1/stats?{query}"), ADMIN_KEY).await,
                StatusCode::BAD_REQUEST,
                "invalid_query",
            )
            .await;
        }
    }
}

#[tokio::test]
async fn exports_stream_every_matching_event_oldest_first_as_csv_and_jsonl() {
    for app in spawn_apps().await {
        // 2,300 events: more than two pages of the export.
        for chunk in 0..3 {
            let events: Vec<Value> = (0..(if chunk < 2 { 1000 } else { 300 }))
                .map(|n| {
                    let action = if n % 10 == 0 { "iam.delete_user" } else { "repo.read" };
                    json!({"actor": {"id": format!("user-{}", n % 7), "type": "user", "name": "=HYPERLINK(\"http://evil\")"},
                           "action": action, "outcome": "success", "severity": if n % 10 == 0 { "high" } else { "info" },
                           "tags": ["prod"], "details": {"n": n}})
                })
                .collect();
            assert_eq!(app.post_batch(events).await.status(), StatusCode::CREATED);
        }
        let response = app.get("/api/v1/export/events.csv", ADMIN_KEY).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().expect("text").starts_with("text/csv"));
        assert!(response.headers()["content-disposition"].to_str().expect("text").contains("events-default.csv"));
        let text = response.text().await.expect("body");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
        assert_eq!(
            header.join(","),
            "seq,id,occurred_at,received_at,actor_id,actor_type,actor_name,actor_ip,action,resource_type,resource_id,\
             resource_name,outcome,severity,tags,details,hash,prev_hash"
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(|row| row.expect("row")).collect();
        assert_eq!(rows.len(), 2300, "{:?}", app.db.backend);
        assert!(rows.iter().enumerate().all(|(index, row)| row[0] == index.to_string()), "oldest first, no gap");
        assert_eq!(&rows[0][6], "'=HYPERLINK(\"http://evil\")", "formulas are neutralised");
        assert_eq!((&rows[0][14], &rows[0][15]), ("[\"prod\"]", "{\"n\":0}"));
        let first: Value = app.get_json("/api/v1/events?limit=1000&action=repo.read").await;
        assert_eq!(first["events"].as_array().map(Vec::len), Some(1000));
        let stored = app.get_json(&format!("/api/v1/events/{}", &rows[1][1])).await;
        assert_eq!(&rows[1][16], stored["hash"].as_str().expect("hash"), "the hash as stored");

        // Filters as for the list, a prefix and a severity included; JSONL lines are the events.
        let jsonl = app.get("/api/v1/export/events.jsonl?action=iam.*&severity=high", ADMIN_KEY).await;
        assert_eq!(jsonl.headers()["content-type"], "application/x-ndjson");
        let lines: Vec<Value> =
            jsonl.text().await.expect("body").lines().map(|line| serde_json::from_str(line).expect("json")).collect();
        assert_eq!(lines.len(), 230);
        assert!(lines.iter().all(|event| event["action"] == "iam.delete_user" && event["severity"] == "high"));
        assert_eq!(lines[1], app.get_json(&format!("/api/v1/events/{}", lines[1]["id"].as_str().expect("id"))).await);
        let listed = app.get_json("/api/v1/events?action=iam.*&severity=high&limit=5").await;
        assert_eq!(listed["events"][0]["seq"], json!(2290), "the list takes the same filters, newest first");

        // Another tenant exports only its own; bad input is refused before anything is sent.
        let other = app.create_key("globex", "read").await;
        let theirs = app.get("/api/v1/export/events.csv", &other).await.text().await.expect("body");
        assert_eq!(theirs.lines().count(), 1, "the header only: {theirs}");
        for query in ["limit=10", "cursor=abc", "outcome=maybe", "severity=loud", "since=yesterday", "colour=red"] {
            assert_error(
                app.get(&format!("/api/v1/export/events.csv?{query}"), ADMIN_KEY).await,
                StatusCode::BAD_REQUEST,
                "invalid_query",
            )
            .await;
        }
        let ingest_only = app.create_key("default", "ingest").await;
        assert_error(app.get("/api/v1/export/events.jsonl", &ingest_only).await, StatusCode::FORBIDDEN, "forbidden")
            .await;
    }
}

/// A transaction of the test's own holding the database's write lock (SQLite) or the chain
/// heads (PostgreSQL): while it is held no append can commit, so whatever ingest admits waits.
enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteLock {
    async fn hold(db: &veritrail_store::testing::TestDatabase) -> Self {
        use sqlx::Connection;
        match db.backend {
            veritrail_store::Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&db.url).await.expect("connect");
                sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut conn).await.expect("take the write lock");
                Self::Sqlite(conn)
            }
            veritrail_store::Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
                sqlx::raw_sql("BEGIN; LOCK TABLE chain_heads IN EXCLUSIVE MODE")
                    .execute(&mut conn)
                    .await
                    .expect("lock");
                Self::Postgres(conn)
            }
        }
    }

    async fn release(self) {
        match self {
            Self::Sqlite(mut conn) => sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.map(drop),
            Self::Postgres(mut conn) => sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.map(drop),
        }
        .expect("release the lock");
    }
}

/// Sends `count` appends with `key` at once; their answers (status, `Retry-After`, body) arrive
/// on the returned channel as they come.
fn flood(
    app: &crate::helpers::TestApp,
    key: &str,
    count: usize,
) -> tokio::sync::mpsc::UnboundedReceiver<(StatusCode, Option<String>, Value)> {
    let (sender, answers) = tokio::sync::mpsc::unbounded_channel();
    for idx in 0..count {
        let request = app
            .client
            .post(format!("{}/api/v1/events", app.base))
            .bearer_auth(key)
            .json(&event(&format!("flood.{idx}")));
        let sender = sender.clone();
        tokio::spawn(async move {
            let response = request.send().await.expect("request");
            let retry_after =
                response.headers().get("retry-after").and_then(|value| value.to_str().ok()).map(str::to_owned);
            let status = response.status();
            let _ = sender.send((status, retry_after, response.json().await.expect("json")));
        });
    }
    answers
}

/// The next answer; the bound only keeps a broken build from hanging the test run.
async fn next_answer(
    answers: &mut tokio::sync::mpsc::UnboundedReceiver<(StatusCode, Option<String>, Value)>,
) -> (StatusCode, Option<String>, Value) {
    tokio::time::timeout(std::time::Duration::from_secs(60), answers.recv())
        .await
        .expect("an answer (a request that should have been refused at once was queued)")
        .expect("answer")
}

#[tokio::test]
async fn one_tenant_flooding_ingest_leaves_room_for_the_others() {
    for db in veritrail_store::testing::TestDatabase::all().await {
        let app = crate::helpers::spawn_app_with(db, |config| {
            config.ingest.queue_capacity = 5;
            config.ingest.max_queued_per_tenant = 2;
        })
        .await;
        let other_tenant = app.create_key("tenant-b", "ingest").await;
        let lock = WriteLock::hold(&app.db).await;
        // Tenant A floods: with nothing able to commit, all but the two it may have waiting are
        // refused at once, with the time to retry after.
        let mut from_a = flood(&app, ADMIN_KEY, 10);
        for _ in 0..8 {
            let (status, retry_after, body) = next_answer(&mut from_a).await;
            assert_eq!((status, retry_after.as_deref()), (StatusCode::TOO_MANY_REQUESTS, Some("1")), "{body}");
            assert_eq!(body["error"]["code"], json!("overloaded"), "{body}");
            assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("this tenant")), "{body}");
        }
        // Tenant B, meanwhile, still gets its own two places in the queue: only its third and
        // later requests are refused.
        let mut from_b = flood(&app, &other_tenant, 5);
        for _ in 0..3 {
            let (status, _, body) = next_answer(&mut from_b).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        }
        lock.release().await;
        for answers in [&mut from_a, &mut from_b] {
            for _ in 0..2 {
                let (status, _, body) = next_answer(answers).await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
            }
        }
        assert_eq!(app.db.count_events().await, 4);
    }
}
