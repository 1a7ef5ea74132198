//! Natural-language search over HTTP: the invictus capture imported, indexed by the
//! `embed-backfill` job with the real local model, and questions answered on every backend; the
//! no-model start-up path; and the OpenAI-compatible path against a local server speaking the
//! OpenAI wire format.

use std::collections::HashMap;

use axum::Json;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};
use veritrail_store::testing::TestDatabase;

use crate::helpers::{ADMIN_KEY, TestApp, assert_error, import_invictus, operator_run_job, run_job, spawn_app_with};

/// The end of the capture's day: "today" in the questions below.
const NOW: &str = "2023-07-10T18:00:00Z";

async fn search(app: &TestApp, query: &str, limit: u32) -> Value {
    let response =
        app.post_json("/api/v1/search", ADMIN_KEY, &json!({"query": query, "limit": limit, "now": NOW})).await;
    assert_eq!(response.status(), StatusCode::OK, "search {query:?}");
    response.json().await.expect("search body")
}

fn result_ids(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| result["event"]["id"].as_str().expect("event id").to_owned())
        .collect()
}

/// The labelled relevant events of a query in the shared data set.
fn relevant(query_id: &str) -> Vec<String> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/invictus-aws-stratus/queries/queries.jsonl");
    let text = std::fs::read_to_string(&path).expect("queries.jsonl");
    let query: Value = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("query line"))
        .find(|query| query["id"] == json!(query_id))
        .unwrap_or_else(|| panic!("no query {query_id}"));
    query["relevant"].as_array().expect("relevant").iter().map(|id| id.as_str().expect("id").to_owned()).collect()
}

async fn all_backends_with(tweak: fn(&mut veritrail_server::config::Config)) -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in TestDatabase::all().await {
        apps.push(spawn_app_with(db, tweak).await);
    }
    apps
}

#[tokio::test]
async fn questions_about_the_invictus_capture_find_the_right_events() {
    for app in all_backends_with(|_| {}).await {
        assert_eq!(import_invictus(&app).await, 2900);
        // The operator's view: the model's status is the server's, not the tenant's.
        let run = operator_run_job(&app, "embed-backfill").await;
        let tenant = &run["details"]["tenants"]["default"];
        assert_eq!(tenant["indexed"], json!(2900), "{run}");
        assert_eq!(tenant["documents_added"], json!(2900), "{run}");
        assert!(tenant["texts_embedded"].as_u64().unwrap_or(0) > 100, "{run}");
        assert_eq!(run["details"]["search"]["semantic"], json!("on"), "{run}");
        run_job(&app, "checkpoint").await;

        // Each question must find all of its labelled events among the first ten of 2,900
        // (ranking quality is measured by `veritrail eval search`, not asserted here).
        for (query_id, question) in [
            ("inv-01", "someone tried to stop CloudTrail logging"),
            ("inv-05", "VPC flow logs were deleted"),
            ("inv-06", "the account tried to leave its AWS Organization"),
            ("inv-14", "security group rule opening SSH port 22 to the whole internet"),
            ("inv-28", "IAM Roles Anywhere trust anchor created with an external certificate"),
        ] {
            let body = search(&app, question, 10).await;
            let found = result_ids(&body);
            for id in relevant(query_id) {
                assert!(found.contains(&id), "{:?} {query_id} {question:?}: {id} not among {found:?}", app.db.backend);
            }
        }

        // The whole response shape, on one question.
        let body = search(&app, "someone tried to stop CloudTrail logging", 5).await;
        assert_eq!(body["mode"], json!("hybrid"));
        for field in ["since", "until", "actors", "actions", "outcome", "text"] {
            assert!(body["interpretation"].get(field).is_some(), "interpretation.{field} missing: {body}");
        }
        let first = &body["results"][0];
        assert!(first["score"].as_f64().is_some_and(|score| score > 0.0), "{first}");
        let matched: Vec<&str> =
            first["matched"].as_array().expect("matched").iter().filter_map(Value::as_str).collect();
        assert!(matched.iter().all(|kind| ["fulltext", "vector", "filter"].contains(kind)), "{matched:?}");
        assert!(!matched.is_empty());
        let answer = &body["answer"];
        assert!(answer["text"].as_str().is_some_and(|text| text.contains("matching event")), "{answer}");
        let citations = answer["citations"].as_array().expect("citations");
        assert!(!citations.is_empty(), "{answer}");
        let ids = result_ids(&body);
        for citation in citations {
            let id = citation["id"].as_str().expect("id");
            assert!(ids.iter().any(|result| result == id), "a citation outside the results: {citation}");
            let seq = citation["seq"].as_u64().expect("seq");
            assert_eq!(citation["proof"]["leaf_index"], json!(seq), "each citation carries its inclusion proof");
            assert_eq!(citation["proof"]["tree_size"], json!(2900));
        }

        // Filters from the question: an outcome and a time range relative to `now`.
        let denied = search(&app, "denied attempts to assume an IAM role today", 20).await;
        assert_eq!(denied["interpretation"]["outcome"], json!("denied"), "{}", denied["interpretation"]);
        assert!(denied["interpretation"]["since"].as_str().is_some_and(|since| since.starts_with("2023-07-10")));
        let events = denied["results"].as_array().expect("results");
        assert!(!events.is_empty());
        assert!(events.iter().all(|result| result["event"]["outcome"] == json!("denied")));
        assert!(events.iter().all(|result| result["matched"].as_array().expect("m").contains(&json!("filter"))));
        let later = app
            .post_json(
                "/api/v1/search",
                ADMIN_KEY,
                &json!({"query": "denied attempts to assume an IAM role yesterday", "now": "2023-07-20T10:00:00Z"}),
            )
            .await;
        let later: Value = later.json().await.expect("body");
        assert_eq!(later["results"], json!([]), "nothing happened on 2023-07-19");
        assert!(later["answer"]["text"].as_str().is_some_and(|text| text.starts_with("No matching events")));

        let status = app.get_json("/api/v1/search/status").await;
        assert_eq!(status["semantic"], json!("on"));
        assert_eq!(status["events"], json!(2900));
        assert_eq!(status["lag"], json!(0));
    }
}

#[tokio::test]
async fn search_requests_are_validated() {
    let app = spawn_app_with(TestDatabase::sqlite(), |config| {
        config.search.embedding.provider = veritrail_server::config::EmbeddingProvider::None;
    })
    .await;
    for (body, fragment) in [
        (json!({}), "query is required"),
        (json!({"query": ""}), "must not be empty"),
        (json!({"query": 5}), "must be a string"),
        (json!({"query": "x", "limit": 0}), "limit"),
        (json!({"query": "x", "limit": 101}), "limit"),
        (json!({"query": "x", "limit": "ten"}), "limit"),
        (json!({"query": "x", "now": "yesterday"}), "RFC 3339"),
        (json!({"query": "x", "filters": {}}), "unknown field"),
        (json!(["query"]), "must be an object"),
        (json!({"query": "x".repeat(1001)}), "longer than"),
    ] {
        let message = assert_error(
            app.post_json("/api/v1/search", ADMIN_KEY, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;
        assert!(message.contains(fragment), "{body}: {message}");
    }
    let reader = app.create_key("default", "ingest").await;
    assert_error(
        app.post_json("/api/v1/search", &reader, &json!({"query": "x"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn without_a_model_search_is_keyword_only_until_the_model_appears() {
    let model_dir = tempfile::tempdir().expect("model dir");
    let dir = model_dir.path().to_owned();
    let app = spawn_app_with(TestDatabase::sqlite(), move |config| {
        config.search.embedding.model_dir = dir.display().to_string();
    })
    .await;
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["status"], json!("ready"), "no model must not make the server unready");
    assert_eq!(ready["checks"]["search"]["semantic"], json!("off"), "{ready}");
    assert!(ready["checks"]["search"]["reason"].as_str().is_some_and(|reason| reason.contains("models fetch")));

    import_invictus(&app).await;
    let run = run_job(&app, "embed-backfill").await;
    assert_eq!(run["details"]["tenant"]["documents_added"], json!(2900));
    assert_eq!(run["details"]["tenant"]["texts_embedded"], json!(0));
    let body = search(&app, "someone tried to stop CloudTrail logging", 5).await;
    assert_eq!(body["mode"], json!("keyword"));
    // Without a model, complete means every event is in the full-text index.
    assert_eq!(body["index"], json!({"complete": true, "events": 2900, "indexed": 2900, "embedded": null}));
    let found = result_ids(&body);
    for id in relevant("inv-01") {
        assert!(found.contains(&id), "keyword search alone finds StopLogging: {found:?}");
    }
    assert!(body["results"].as_array().expect("results").iter().all(|result| result["matched"] == json!(["fulltext"])));

    // The model appears (as `veritrail models fetch` would put it): the next run loads it and
    // back-fills the vectors.
    let installed = veritrail_models::fetch::default_model_dir();
    assert!(
        veritrail_models::fetch::model_present(&installed),
        "model not found in {}: run `veritrail models fetch`",
        installed.display()
    );
    for file in veritrail_models::fetch::MODEL_FILES {
        std::fs::copy(installed.join(file.name), model_dir.path().join(file.name)).expect("copy model file");
    }
    let run = run_job(&app, "embed-backfill").await;
    assert!(run["details"]["tenant"]["texts_embedded"].as_u64().unwrap_or(0) > 100, "{run}");
    assert_eq!(app.get_json("/readyz").await["checks"]["search"]["semantic"], json!("on"));
    assert_eq!(search(&app, "someone tried to stop CloudTrail logging", 5).await["mode"], json!("hybrid"));
}

/// A vector for `text`: word hashes folded into 384 dimensions, L2-normalised, so texts sharing
/// words are near each other, like a (very small) real model.
fn bag_of_words_vector(text: &str) -> Vec<f32> {
    let mut vector = vec![0f32; 384];
    for word in text.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()) {
        let hash = word
            .to_lowercase()
            .bytes()
            .fold(1469598103934665603u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(1099511628211));
        vector[(hash % 384) as usize] += 1.0;
    }
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt().max(1e-6);
    vector.iter().map(|value| value / norm).collect()
}

/// A local server speaking the OpenAI embeddings and chat-completions wire format. The chat
/// model cites the first event it was shown and one id that does not exist.
async fn fake_openai() -> (String, std::sync::Arc<std::sync::Mutex<HashMap<String, usize>>>) {
    let calls: std::sync::Arc<std::sync::Mutex<HashMap<String, usize>>> = Default::default();
    let embed_calls = calls.clone();
    let chat_calls = calls.clone();
    let router = axum::Router::new()
        .route(
            "/v1/embeddings",
            post(move |headers: axum::http::HeaderMap, Json(request): Json<Value>| {
                let calls = embed_calls.clone();
                async move {
                    assert_eq!(headers["authorization"], "Bearer sk-test", "the key is sent as a bearer token");
                    assert_eq!(request["model"], json!("text-embedding-3-small"));
                    assert_eq!(request["dimensions"], json!(384));
                    *calls.lock().expect("calls").entry("embeddings".to_owned()).or_default() += 1;
                    let inputs: Vec<String> = match &request["input"] {
                        Value::String(one) => vec![one.clone()],
                        Value::Array(many) => many.iter().map(|text| text.as_str().unwrap_or("").to_owned()).collect(),
                        other => panic!("unexpected input {other}"),
                    };
                    let data: Vec<Value> = inputs
                        .iter()
                        .enumerate()
                        .map(|(index, text)| json!({"object": "embedding", "index": index, "embedding": bag_of_words_vector(text)}))
                        .collect();
                    Json(json!({"object": "list", "data": data, "model": "text-embedding-3-small",
                        "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
                }
            }),
        )
        .route(
            "/v1/chat/completions",
            post(move |Json(request): Json<Value>| {
                let calls = chat_calls.clone();
                async move {
                    *calls.lock().expect("calls").entry("chat".to_owned()).or_default() += 1;
                    let prompt = request["messages"]
                        .as_array()
                        .and_then(|messages| messages.last())
                        .and_then(|message| message["content"].as_str())
                        .unwrap_or_default()
                        .to_owned();
                    let first_id = prompt
                        .split('[')
                        .nth(1)
                        .and_then(|rest| rest.split(']').next())
                        .unwrap_or("none")
                        .to_owned();
                    let content = format!(
                        "The trail logging was targeted [{first_id}], and also [00000000-made-up-id-0000]."
                    );
                    Json(json!({
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
                        "model": request["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
                    }))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    (base, calls)
}

#[tokio::test]
async fn openai_compatible_models_embed_and_answer_with_checked_citations() {
    let (base, calls) = fake_openai().await;
    let app = spawn_app_with(TestDatabase::sqlite(), move |config| {
        config.search.embedding.provider = veritrail_server::config::EmbeddingProvider::Openai;
        config.search.embedding.base_url = base.clone();
        config.search.embedding.api_key = "sk-test".into();
        config.search.chat.base_url = base.clone();
        config.search.chat.api_key = "sk-test".into();
        config.search.chat.model = "gpt-test".to_owned();
    })
    .await;
    import_invictus(&app).await;
    let run = operator_run_job(&app, "embed-backfill").await;
    assert_eq!(run["details"]["search"]["model"], json!("text-embedding-3-small"), "{run}");
    assert!(run["details"]["texts_embedded"].as_u64().unwrap_or(0) > 100);

    let body = search(&app, "someone tried to stop CloudTrail logging", 5).await;
    assert_eq!(body["mode"], json!("hybrid"));
    let answer = &body["answer"];
    assert_eq!(answer["generated_by"], json!("gpt-test"));
    let first = body["results"][0]["event"]["id"].as_str().expect("first id").to_owned();
    assert_eq!(answer["citations"].as_array().map(Vec::len), Some(1), "{answer}");
    assert_eq!(answer["citations"][0]["id"], json!(first));
    let text = answer["text"].as_str().expect("text");
    assert!(text.contains(&first), "{text}");
    assert!(!text.contains("made-up"), "the invented citation is removed: {text}");
    let calls = calls.lock().expect("calls").clone();
    assert!(calls.get("embeddings").copied().unwrap_or(0) >= 2, "{calls:?}");
    assert_eq!(calls.get("chat").copied(), Some(1), "{calls:?}");
}

/// How long the scheduled back-fill of the invictus capture may take in the test build: its
/// 1,379 texts embed in about two minutes on two shared cores (more than four times the margin).
const BACKFILL_BOUND: std::time::Duration = std::time::Duration::from_secs(600);

/// The scheduled back-fill, ticking every second, embeds every text of the invictus capture on a
/// running server: ticks that fire while a run is still going are skipped instead of starting
/// overlapping runs that embed the same texts and queue behind each other until nothing is stored
/// any more. Meanwhile a question is answered at once: its embedding does not queue behind the
/// back-fill's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_backfill_finishes_and_questions_do_not_wait_for_it() {
    let app = spawn_app_with(TestDatabase::sqlite(), |config| config.search.schedule = "* * * * * *".to_owned()).await;
    assert_eq!(import_invictus(&app).await, 2900);
    let started = std::time::Instant::now();
    let mut asked = false;
    loop {
        let status = app.get_json("/api/v1/search/status").await;
        let embedded = status["embedded"].as_u64().unwrap_or(0);
        if status["events"] == json!(2900) && status["embedded"] == status["events"] {
            break;
        }
        if !asked && embedded > 0 {
            // The back-fill is under way: a question must not wait for it.
            let asking = std::time::Instant::now();
            let body = search(&app, "someone tried to stop CloudTrail logging", 5).await;
            let took = asking.elapsed();
            assert_eq!(body["mode"], json!("hybrid"), "{body}");
            // It says it answered from an incomplete index, and how far that index had got.
            let index = &body["index"];
            assert_eq!(index["complete"], json!(false), "{index}");
            assert_eq!(index["events"], json!(2900), "{index}");
            assert!(index["embedded"].as_u64().is_some_and(|done| done < 2900), "{index}");
            // Seconds at most even on a loaded machine; before, it waited minutes behind the back-fill.
            assert!(took < std::time::Duration::from_secs(20), "a search during the back-fill took {took:?}");
            let still = app.get_json("/api/v1/search/status").await;
            assert!(still["embedded"].as_u64() < still["events"].as_u64(), "asked after the back-fill: {still}");
            println!("search during the back-fill: {took:?} (embedded {embedded} of 2900 events)");
            asked = true;
        }
        assert!(started.elapsed() < BACKFILL_BOUND, "the back-fill stalled: {status} after {:?}", started.elapsed());
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    println!("scheduled back-fill of the invictus capture: {:?}", started.elapsed());
    assert!(asked, "the back-fill finished before a question could be asked during it");
    let index = &search(&app, "someone tried to stop CloudTrail logging", 5).await["index"];
    assert_eq!(*index, json!({"complete": true, "events": 2900, "indexed": 2900, "embedded": 2900}));
}
