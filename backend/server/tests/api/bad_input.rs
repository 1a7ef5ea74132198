//! The bad-input corpus: every malformed, oversized or conflicting request gets its documented
//! 4xx with the JSON error shape, and leaves the log exactly as it was.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, assert_error, event, spawn_app_with, spawn_apps};

/// One bad request and the answer it must get.
struct Case {
    name: &'static str,
    method: Method,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
}

fn case(name: &'static str, path: &'static str, body: Vec<u8>, status: StatusCode, code: &'static str) -> Case {
    Case { name, method: Method::POST, path, content_type: Some("application/json"), body, status, code }
}

fn json_bytes(value: Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn with(field: &str, value: Value) -> Vec<u8> {
    let mut body = event("bad.input");
    body[field] = value;
    json_bytes(body)
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn corpus() -> Vec<Case> {
    const EVENTS: &str = "/api/v1/events";
    const BATCH: &str = "/api/v1/events/batch";
    const BAD: StatusCode = StatusCode::BAD_REQUEST;
    const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
    const TOO_LARGE: StatusCode = StatusCode::PAYLOAD_TOO_LARGE;
    vec![
        case("truncated json", EVENTS, b"{\"actor\": {\"id\": ".to_vec(), BAD, "malformed_json"),
        case("empty body", EVENTS, Vec::new(), BAD, "malformed_json"),
        case("trailing garbage", EVENTS, b"{} {}".to_vec(), BAD, "malformed_json"),
        case("invalid utf-8", EVENTS, b"{\"actor\": {\"id\": \"\xff\xfe\", \"type\": \"user\"}, \"action\": \"x\", \"outcome\": \"success\"}".to_vec(), BAD, "malformed_json"),
        case("lone surrogate", EVENTS, br#"{"actor": {"id": "\ud800", "type": "user"}, "action": "x", "outcome": "success"}"#.to_vec(), BAD, "malformed_json"),
        case("nesting bomb", EVENTS, format!("{{\"actor\": {{\"id\": \"a\", \"type\": \"u\"}}, \"action\": \"x\", \"outcome\": \"success\", \"details\": {{\"d\": {}}}}}", nested(100_000)).into_bytes(), BAD, "malformed_json"),
        case("nesting bomb over the body limit", EVENTS, nested(600_000).into_bytes(), TOO_LARGE, "payload_too_large"),
        case("deep nesting", EVENTS, format!("{{\"actor\": {{\"id\": \"a\", \"type\": \"u\"}}, \"action\": \"x\", \"outcome\": \"success\", \"details\": {{\"d\": {}}}}}", nested(500)).into_bytes(), BAD, "malformed_json"),
        case("nesting over the limit", EVENTS, with("details", json!({"d": serde_json::from_str::<Value>(&nested(40)).unwrap_or_default()})), INVALID, "invalid_field"),
        case("not an object", EVENTS, b"[1, 2]".to_vec(), INVALID, "invalid_field"),
        case("missing actor", EVENTS, json_bytes(json!({"action": "x", "outcome": "success"})), INVALID, "invalid_field"),
        case("missing action", EVENTS, json_bytes(json!({"actor": {"id": "a", "type": "u"}, "outcome": "success"})), INVALID, "invalid_field"),
        case("missing outcome", EVENTS, json_bytes(json!({"actor": {"id": "a", "type": "u"}, "action": "x"})), INVALID, "invalid_field"),
        case("action of wrong type", EVENTS, with("action", json!(5)), INVALID, "invalid_field"),
        case("actor of wrong type", EVENTS, with("actor", json!("alice")), INVALID, "invalid_field"),
        case("details of wrong type", EVENTS, with("details", json!([1, 2])), INVALID, "invalid_field"),
        case("tags of wrong type", EVENTS, with("tags", json!("prod")), INVALID, "invalid_field"),
        case("unknown outcome", EVENTS, with("outcome", json!("maybe")), INVALID, "invalid_field"),
        case("unknown severity", EVENTS, with("severity", json!("apocalyptic")), INVALID, "invalid_field"),
        case("unknown field", EVENTS, with("actr", json!({})), INVALID, "invalid_field"),
        case("bad timestamp", EVENTS, with("occurred_at", json!("2026-13-45T00:00:00Z")), INVALID, "invalid_field"),
        case("words for a timestamp", EVENTS, with("occurred_at", json!("yesterday")), INVALID, "invalid_field"),
        case("timestamp without zone", EVENTS, with("occurred_at", json!("2026-01-01T00:00:00")), INVALID, "invalid_field"),
        case("numeric timestamp", EVENTS, with("occurred_at", json!(1_700_000_000)), INVALID, "invalid_field"),
        case("bad ip", EVENTS, with("actor", json!({"id": "a", "type": "u", "ip": "10.0.0.300"})), INVALID, "invalid_field"),
        case("NUL in a field", EVENTS, with("actor", json!({"id": "a\u{0}b", "type": "u"})), INVALID, "invalid_field"),
        case("NUL in details", EVENTS, with("details", json!({"note": "x\u{0}"})), INVALID, "invalid_field"),
        case("NUL in a details key", EVENTS, with("details", json!({"k\u{0}": 1})), INVALID, "invalid_field"),
        case("integer a double cannot hold", EVENTS, with("details", json!({"n": u64::MAX})), INVALID, "invalid_field"),
        case("overlong string", EVENTS, with("actor", json!({"id": "a".repeat(5000), "type": "u"})), INVALID, "invalid_field"),
        case("id with spaces", EVENTS, with("id", json!("two words")), INVALID, "invalid_field"),
        case("too many tags", EVENTS, with("tags", json!((0..100).map(|idx| format!("t{idx}")).collect::<Vec<_>>())), INVALID, "invalid_field"),
        case("oversized details", EVENTS, with("details", json!({"blob": "x".repeat(70_000)})), TOO_LARGE, "details_too_large"),
        case("oversized body", EVENTS, with("details", json!({"blob": "x".repeat(1_200_000)})), TOO_LARGE, "payload_too_large"),
        case("oversized batch", BATCH, json_bytes(json!({"events": vec![event("x"); 1001]})), TOO_LARGE, "batch_too_large"),
        case("empty batch", BATCH, json_bytes(json!({"events": []})), INVALID, "invalid_field"),
        case("batch without events", BATCH, json_bytes(json!({"items": [event("x")]})), INVALID, "invalid_field"),
        case("batch that is an array", BATCH, json_bytes(json!([event("x")])), INVALID, "invalid_field"),
        case("batch with one bad event", BATCH, json_bytes(json!({"events": [event("ok"), {"actor": {"id": "a", "type": "u"}, "action": "x", "outcome": "nope"}]})), INVALID, "invalid_field"),
        case("batch with a repeated id", BATCH, json_bytes(json!({"events": [{"id": "same", "actor": {"id": "a", "type": "u"}, "action": "x", "outcome": "success"}, {"id": "same", "actor": {"id": "a", "type": "u"}, "action": "x", "outcome": "success"}]})), INVALID, "duplicate_id"),
        case("idempotency conflict", EVENTS, json_bytes(json!({"id": "fixed-id", "actor": {"id": "a", "type": "u"}, "action": "changed", "outcome": "success"})), StatusCode::CONFLICT, "idempotency_conflict"),
        case("idempotency conflict in a batch", BATCH, json_bytes(json!({"events": [event("fresh"), {"id": "fixed-id", "actor": {"id": "a", "type": "u"}, "action": "changed", "outcome": "success"}]})), StatusCode::CONFLICT, "idempotency_conflict"),
        Case { content_type: Some("text/plain"), ..case("text content type", EVENTS, json_bytes(event("x")), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type") },
        Case { content_type: None, ..case("no content type", EVENTS, json_bytes(event("x")), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type") },
        Case { method: Method::GET, path: "/api/v1/events?limit=abc", ..case("bad limit", EVENTS, Vec::new(), BAD, "invalid_query") },
        Case { method: Method::GET, path: "/api/v1/events?limit=0", ..case("zero limit", EVENTS, Vec::new(), BAD, "invalid_query") },
        Case { method: Method::GET, path: "/api/v1/events?cursor=bogus", ..case("forged cursor", EVENTS, Vec::new(), BAD, "invalid_query") },
        Case { method: Method::GET, path: "/api/v1/events?since=monday", ..case("bad since", EVENTS, Vec::new(), BAD, "invalid_query") },
        Case { method: Method::GET, path: "/api/v1/events?outcome=meh", ..case("bad outcome filter", EVENTS, Vec::new(), BAD, "invalid_query") },
        Case { method: Method::GET, path: "/api/v1/events?colour=red", ..case("unknown parameter", EVENTS, Vec::new(), BAD, "invalid_query") },
    ]
}

async fn send(app: &TestApp, case: &Case) -> reqwest::Response {
    app.send(case.method.clone(), case.path, Some(ADMIN_KEY), case.content_type, case.body.clone()).await
}

#[tokio::test]
async fn every_bad_request_gets_its_4xx_and_stores_nothing() {
    for app in spawn_apps().await {
        let mut seed = event("seed");
        seed["id"] = json!("fixed-id");
        assert_eq!(app.post_event(&seed).await.status(), StatusCode::CREATED);
        let before = app.verify().await;
        let count_before = app.db.count_events().await;

        for case in corpus() {
            let response = send(&app, &case).await;
            let status = response.status();
            let body = response.text().await.expect("body");
            assert_eq!(status, case.status, "{:?} {}: {body}", app.db.backend, case.name);
            let parsed: Value =
                serde_json::from_str(&body).unwrap_or_else(|_| panic!("{}: body is not JSON: {body}", case.name));
            assert_eq!(parsed["error"]["code"], json!(case.code), "{}: {body}", case.name);
            assert!(
                parsed["error"]["message"].as_str().is_some_and(|message| message.len() > 10),
                "{}: {body}",
                case.name
            );
        }

        assert_eq!(app.db.count_events().await, count_before, "{:?}: nothing was stored", app.db.backend);
        assert_eq!(app.verify().await, before, "{:?}: the chain is unchanged", app.db.backend);
    }
}

#[tokio::test]
async fn limits_follow_the_configuration() {
    let app = spawn_app_with(veritrail_store::testing::TestDatabase::sqlite(), |config| {
        config.limits.max_batch_events = 3;
        config.limits.event.max_details_bytes = 100;
        config.limits.max_body_bytes = 4096;
    })
    .await;
    assert_error(app.post_batch(vec![event("x"); 4]).await, StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large").await;
    assert_eq!(app.post_batch(vec![event("x"); 3]).await.status(), StatusCode::CREATED);
    let mut big = event("x");
    big["details"] = json!({"blob": "y".repeat(200)});
    assert_error(app.post_event(&big).await, StatusCode::PAYLOAD_TOO_LARGE, "details_too_large").await;
    big["details"] = json!({"blob": "y".repeat(5000)});
    assert_error(app.post_event(&big).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

/// How many times the limit the oversized body is: enough that the part the server does not read
/// is still on its way when it answers (at twice the limit the rest has already arrived, and
/// hyper reads that much before closing), and within what the server drains after its answer.
const OVERSIZE: usize = 6;

/// Sends a request with a body several times the limit in one go over a plain TCP connection, as a client
/// that does not wait for `100 Continue` does, and reads the answer.
async fn send_oversized(app: &TestApp, limit: usize) -> std::io::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let body = vec![b' '; OVERSIZE * limit];
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn an_oversized_body_gets_its_413_and_not_a_reset_connection() {
    let app = crate::helpers::spawn_app().await;
    let limit = veritrail_api::ApiLimits::default().max_body_bytes;
    for attempt in 0..3 {
        let answer = send_oversized(&app, limit)
            .await
            .unwrap_or_else(|error| panic!("attempt {attempt}: the connection failed instead of answering: {error}"));
        assert!(answer.starts_with("HTTP/1.1 413"), "attempt {attempt}: {answer}");
        let body = answer.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
        let body: Value = serde_json::from_str(body).unwrap_or_else(|error| panic!("{error}: {answer}"));
        assert_eq!(body["error"]["code"], json!("payload_too_large"), "{answer}");
    }
    assert_eq!(app.db.count_events().await, 0);
}
