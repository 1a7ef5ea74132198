//! The OpenAI-compatible embedder and chat client against a local server speaking OpenAI's wire
//! format (`POST /v1/embeddings`, `POST /v1/chat/completions`), scripted per test to fail in the
//! ways real endpoints do.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use veritrail_models::chat::{ChatError, ChatModel, OpenAiChat, OpenAiChatConfig};
use veritrail_models::embed::{EmbedError, Embedder, OpenAiEmbedder, OpenAiEmbedderConfig, RemoteError};

const DIMS: usize = 8;
const KEY: &str = "sk-test-123";

/// What the server does with the next request.
#[derive(Clone, Copy)]
enum Reply {
    /// Answer properly, with `data` in reverse order (the API does not promise order).
    Ok,
    /// Answer with this status and an OpenAI error body.
    Fail(u16),
    /// Answer properly after this long.
    Slow(Duration),
    /// Answer with vectors of the wrong width.
    Width(usize),
    /// Answer 200 with a body that is not OpenAI's format (a proxy's login page, say).
    Html,
}

#[derive(Default)]
struct Mock {
    script: Mutex<VecDeque<Reply>>,
    /// (Authorization header, JSON body) of every request, in arrival order.
    seen: Mutex<Vec<(String, Value)>>,
}

impl Mock {
    fn next(&self, headers: &HeaderMap, body: Value) -> Reply {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        self.seen.lock().expect("lock").push((auth, body));
        self.script.lock().expect("lock").pop_front().unwrap_or(Reply::Ok)
    }

    fn requests(&self) -> Vec<(String, Value)> {
        self.seen.lock().expect("lock").clone()
    }
}

/// The vector the mock gives `text`: distinct per text, not unit length (the client normalises).
fn vector_for(text: &str, width: usize) -> Vec<f32> {
    (0..width).map(|i| (text.len() + i) as f32 * if i % 2 == 0 { 1.0 } else { -0.5 }).collect()
}

fn normalised(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn error_body(status: u16) -> Response {
    let code = StatusCode::from_u16(status).expect("valid status");
    let body =
        json!({"error": {"message": format!("scripted {status}"), "type": "test_error", "param": null, "code": null}});
    (code, Json(body)).into_response()
}

async fn embeddings(State(mock): State<Arc<Mock>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let width = match mock.next(&headers, body.clone()) {
        Reply::Ok => DIMS,
        Reply::Fail(status) => return error_body(status),
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            DIMS
        }
        Reply::Width(width) => width,
        Reply::Html => return "<html>sign in</html>".into_response(),
    };
    let inputs: Vec<String> = match &body["input"] {
        Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => return error_body(400),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(i, text)| json!({"object": "embedding", "index": i, "embedding": vector_for(text, width)}))
        .collect();
    Json(json!({
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }))
    .into_response()
}

async fn chat_completions(State(mock): State<Arc<Mock>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    match mock.next(&headers, body.clone()) {
        Reply::Fail(status) => return error_body(status),
        Reply::Slow(delay) => tokio::time::sleep(delay).await,
        Reply::Html => return "<html>sign in</html>".into_response(),
        Reply::Ok | Reply::Width(_) => {}
    }
    let user = body["messages"][1]["content"].as_str().unwrap_or_default();
    Json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_763_000_000u32,
        "model": body["model"],
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("answer to: {user}"), "refusal": null},
            "finish_reason": "stop",
            "logprobs": null,
        }],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }))
    .into_response()
}

/// Starts the mock on a free loopback port; returns its `/v1` base URL. The server lives as long
/// as the test's runtime.
async fn serve(script: impl IntoIterator<Item = Reply>) -> (String, Arc<Mock>) {
    let mock = Arc::new(Mock::default());
    mock.script.lock().expect("lock").extend(script);
    let app = Router::new()
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/chat/completions", post(chat_completions))
        .with_state(Arc::clone(&mock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("loopback port");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), mock)
}

fn embedder(base_url: &str, timeout: Duration, max_retries: u32) -> OpenAiEmbedder {
    let mut config = OpenAiEmbedderConfig::new(base_url, "test-embed-3", DIMS);
    config.api_key = Some(KEY.into());
    config.timeout = timeout;
    config.max_retries = max_retries;
    OpenAiEmbedder::new(config).expect("client builds")
}

fn texts() -> Vec<String> {
    ["actor bert-jan called cloudtrail StopLogging", "outcome failure", "a third, longer input text"]
        .map(String::from)
        .to_vec()
}

#[tokio::test]
async fn embeds_in_input_order_and_sends_the_documented_request() {
    let (url, mock) = serve([]).await;
    let embedder = embedder(&url, Duration::from_secs(5), 0);
    assert_eq!(embedder.model_id(), "test-embed-3");
    assert_eq!(embedder.dimensions(), DIMS);

    let vectors = embedder.embed(&texts()).await.expect("embeds");
    let expected: Vec<Vec<f32>> = texts().iter().map(|t| normalised(vector_for(t, DIMS))).collect();
    assert_eq!(vectors.len(), expected.len());
    for (got, want) in vectors.iter().zip(&expected) {
        let diff = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(diff < 1e-6, "{got:?} != {want:?}");
    }

    let requests = mock.requests();
    assert_eq!(requests.len(), 1);
    let (auth, body) = &requests[0];
    assert_eq!(auth, &format!("Bearer {KEY}"));
    assert_eq!(body["model"], "test-embed-3");
    assert_eq!(body["input"], json!(texts()));
    assert!(body.get("dimensions").is_none(), "dimensions sent though not configured: {body}");
}

#[tokio::test]
async fn sends_dimensions_when_configured_and_skips_the_call_for_no_texts() {
    let (url, mock) = serve([]).await;
    let mut config = OpenAiEmbedderConfig::new(&url, "text-embedding-3-small", DIMS);
    config.request_dimensions = true;
    let embedder = OpenAiEmbedder::new(config).expect("client builds");
    assert!(embedder.embed(&[]).await.expect("nothing to embed").is_empty());
    assert!(mock.requests().is_empty(), "an empty input list must not call the endpoint");

    embedder.embed(&texts()).await.expect("embeds");
    assert_eq!(mock.requests()[0].1["dimensions"], json!(DIMS));
}

#[tokio::test]
async fn server_error_is_retried_and_then_succeeds() {
    let (url, mock) = serve([Reply::Fail(500)]).await;
    let vectors = embedder(&url, Duration::from_secs(5), 2).embed(&texts()).await.expect("second attempt succeeds");
    assert_eq!(vectors.len(), 3);
    assert_eq!(mock.requests().len(), 2);
}

#[tokio::test]
async fn rate_limit_is_retried_and_then_succeeds() {
    let (url, mock) = serve([Reply::Fail(429), Reply::Fail(429)]).await;
    let vectors = embedder(&url, Duration::from_secs(5), 3).embed(&texts()).await.expect("third attempt succeeds");
    assert_eq!(vectors.len(), 3);
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn retries_stop_at_the_configured_limit() {
    let (url, mock) = serve([Reply::Fail(503); 5]).await;
    let error = embedder(&url, Duration::from_secs(5), 2).embed(&texts()).await.expect_err("every attempt fails");
    assert!(
        matches!(error, EmbedError::Remote(RemoteError::Status { status: 503, attempts: 3, .. })),
        "unexpected error: {error:?}"
    );
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn client_error_is_not_retried_and_says_what_happened() {
    let (url, mock) = serve([Reply::Fail(400)]).await;
    let error = embedder(&url, Duration::from_secs(5), 3).embed(&texts()).await.expect_err("400 fails");
    match &error {
        EmbedError::Remote(RemoteError::Status { status: 400, attempts: 1, message }) => {
            assert!(message.contains("scripted 400"), "{message}")
        }
        other => panic!("unexpected error: {other:?}"),
    }
    assert!(error.to_string().contains("HTTP 400"), "{error}");
    assert_eq!(mock.requests().len(), 1, "a 400 must not be retried");
}

#[tokio::test]
async fn wrong_vector_width_is_a_dimensions_error() {
    let (url, _mock) = serve([Reply::Width(5)]).await;
    let error = embedder(&url, Duration::from_secs(5), 0).embed(&texts()).await.expect_err("width 5 is refused");
    assert!(matches!(error, EmbedError::Dimensions { expected: DIMS, got: 5 }), "unexpected error: {error:?}");
}

#[tokio::test]
async fn an_answer_not_in_openai_format_is_refused_without_retrying() {
    let (url, mock) = serve([Reply::Html]).await;
    let error = embedder(&url, Duration::from_secs(5), 3).embed(&texts()).await.expect_err("HTML is refused");
    match &error {
        EmbedError::Remote(RemoteError::Undecodable(message)) => assert!(message.contains("sign in"), "{message}"),
        other => panic!("unexpected error: {other:?}"),
    }
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn slow_endpoint_times_out_within_bounds() {
    let (url, mock) = serve([Reply::Slow(Duration::from_secs(5)); 2]).await;
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let error = embedder(&url, timeout, 1).embed(&texts()).await.expect_err("both attempts time out");
    let elapsed = started.elapsed();
    assert!(matches!(error, EmbedError::Remote(RemoteError::Timeout { attempts: 2 })), "unexpected error: {error:?}");
    assert_eq!(mock.requests().len(), 2);
    // Two timeouts plus one backoff of at most 200 ms, with slack for a busy machine.
    assert!(elapsed >= 2 * timeout, "gave up early: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(2000), "took {elapsed:?}");
}

#[tokio::test]
async fn unreachable_endpoint_is_a_transport_error_after_retries() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback port");
    let url = format!("http://{}/v1", listener.local_addr().expect("bound address"));
    drop(listener);
    let error = embedder(&url, Duration::from_secs(2), 1).embed(&texts()).await.expect_err("nothing listens");
    assert!(matches!(error, EmbedError::Remote(RemoteError::Transport { attempts: 2, .. })), "unexpected: {error:?}");
}

fn chat(url: &str, max_retries: u32) -> OpenAiChat {
    let mut config = OpenAiChatConfig::new(url, "test-chat-1");
    config.api_key = Some(KEY.into());
    config.timeout = Duration::from_secs(5);
    config.max_retries = max_retries;
    OpenAiChat::new(config).expect("client builds")
}

#[tokio::test]
async fn chat_completion_sends_system_and_user_and_returns_the_content() {
    let (url, mock) = serve([]).await;
    let chat = chat(&url, 0);
    assert_eq!(chat.model_id(), "test-chat-1");
    let answer = chat.complete("Answer from the cited events only.", "Who stopped logging?").await.expect("answers");
    assert_eq!(answer, "answer to: Who stopped logging?");

    let requests = mock.requests();
    let (auth, body) = &requests[0];
    assert_eq!(auth, &format!("Bearer {KEY}"));
    assert_eq!(body["model"], "test-chat-1");
    assert_eq!(body["temperature"], json!(0.0));
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], "Answer from the cited events only.");
    assert_eq!(body["messages"][1]["role"], "user");
    assert_eq!(body["messages"][1]["content"], "Who stopped logging?");
}

#[tokio::test]
async fn chat_retries_server_errors_but_not_client_errors() {
    let (url, mock) = serve([Reply::Fail(502)]).await;
    chat(&url, 1).complete("s", "u").await.expect("retry succeeds");
    assert_eq!(mock.requests().len(), 2);

    let (url, mock) = serve([Reply::Fail(401)]).await;
    let error = chat(&url, 3).complete("s", "u").await.expect_err("401 fails");
    assert!(matches!(error, ChatError::Remote(RemoteError::Status { status: 401, attempts: 1, .. })), "{error:?}");
    assert_eq!(mock.requests().len(), 1);
}
