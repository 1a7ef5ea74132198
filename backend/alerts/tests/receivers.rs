//! Deliveries to local HTTP servers that speak each service's webhook format and refuse
//! payloads that break the service's documented rules, as the real services do.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use veritrail_alerts::channel::{ChannelConfig, UrlConfig, WebhookConfig};
use veritrail_alerts::deliver::{DeliveryError, DeliveryOptions, deliver, deliver_with};
use veritrail_alerts::message::AlertMessage;
use veritrail_alerts::signature::{self, SignatureError};
use veritrail_alerts::ssrf::TargetPolicy;

const SECRET: &str = "whsec_8c1f2e9a7b3d4c5e";

#[derive(Debug, Clone)]
struct Captured {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    json: Value,
}

#[derive(Default)]
struct Receiver {
    captured: Mutex<Vec<Captured>>,
    /// Added to the receiver's clock: moves "now" forward to replay an old request.
    clock_offset: AtomicI64,
}

struct Server {
    addr: SocketAddr,
    state: Arc<Receiver>,
}

impl Server {
    async fn start() -> Self {
        let state = Arc::new(Receiver::default());
        let app = Router::new().fallback(receive).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a local port");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver runs") });
        Self { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn captured(&self) -> Vec<Captured> {
        self.state.captured.lock().expect("not poisoned").clone()
    }
}

fn private() -> TargetPolicy {
    TargetPolicy { allow_private: true, allow_list: vec![] }
}

fn url_channel(kind: &str, url: String) -> ChannelConfig {
    let config = UrlConfig { url: Some(url), url_env: None };
    match kind {
        "slack" => ChannelConfig::Slack(config),
        "discord" => ChannelConfig::Discord(config),
        "teams" => ChannelConfig::Teams(config),
        other => panic!("no such kind {other}"),
    }
}

fn webhook(url: String) -> ChannelConfig {
    ChannelConfig::Webhook(WebhookConfig { url, secret: Some(SECRET.to_owned()), secret_env: None })
}

async fn receive(State(state): State<Arc<Receiver>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let headers: HashMap<String, String> = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or("<binary>").to_owned()))
        .collect();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.captured.lock().expect("not poisoned").push(Captured {
        path: path.clone(),
        headers: headers.clone(),
        body: body.to_vec(),
        json: json.clone(),
    });
    let refuse = |reason: String| (StatusCode::BAD_REQUEST, reason).into_response();
    match path.as_str() {
        "/slack" => match check_slack(&json) {
            Ok(()) => (StatusCode::OK, "ok").into_response(),
            Err(reason) => refuse(reason),
        },
        "/discord" => match check_discord(&json) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(reason) => refuse(reason),
        },
        "/teams" => match check_teams(&json, body.len()) {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(reason) => refuse(reason),
        },
        "/webhook" => {
            let now = chrono::Utc::now().timestamp() + state.clock_offset.load(Ordering::SeqCst);
            let header = |name: &str| headers.get(&name.to_ascii_lowercase()).cloned().unwrap_or_default();
            let verified = signature::verify(
                SECRET.as_bytes(),
                &header(signature::TIMESTAMP_HEADER),
                &header(signature::SIGNATURE_HEADER),
                &body,
                now,
                signature::DEFAULT_TOLERANCE,
            );
            match verified
                .map_err(|error| error.to_string())
                .and_then(|()| check_webhook(&json, &header(signature::DELIVERY_HEADER)))
            {
                Ok(()) => StatusCode::OK.into_response(),
                Err(reason) => (StatusCode::UNAUTHORIZED, reason).into_response(),
            }
        }
        "/status/500" => (StatusCode::INTERNAL_SERVER_ERROR, "database on fire").into_response(),
        "/status/503" => (StatusCode::SERVICE_UNAVAILABLE, [("Retry-After", "30")], "maintenance").into_response(),
        "/status/429" => (StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "7")], "slow down").into_response(),
        "/status/429-discord" => (
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}"#,
        )
            .into_response(),
        "/status/400" => refuse("invalid_payload".to_owned()),
        "/status/404" => (StatusCode::NOT_FOUND, "no_service").into_response(),
        "/redirect" => (StatusCode::FOUND, [("Location", "http://169.254.169.254/latest/meta-data/")]).into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::OK.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

// --- What each service accepts, from its documentation. ---

fn text_len(value: &Value) -> Result<usize, String> {
    value.as_str().map(|s| s.chars().count()).ok_or_else(|| format!("expected a string, got {value}"))
}

fn check_slack(payload: &Value) -> Result<(), String> {
    let text = text_len(&payload["text"])?;
    if text == 0 || text > 40_000 {
        return Err(format!("text length {text}"));
    }
    let blocks = payload["blocks"].as_array().ok_or("blocks must be an array")?;
    if blocks.is_empty() || blocks.len() > 50 {
        return Err(format!("{} blocks", blocks.len()));
    }
    let check_text_object = |object: &Value, max: usize| -> Result<(), String> {
        let kind = object["type"].as_str().ok_or("text object without type")?;
        if kind != "mrkdwn" && kind != "plain_text" {
            return Err(format!("text object type {kind}"));
        }
        let len = text_len(&object["text"])?;
        if len == 0 || len > max { Err(format!("{kind} text of {len} characters (max {max})")) } else { Ok(()) }
    };
    for block in blocks {
        match block["type"].as_str().ok_or("block without type")? {
            "header" => {
                if block["text"]["type"] != "plain_text" {
                    return Err("header text must be plain_text".to_owned());
                }
                check_text_object(&block["text"], 150)?;
            }
            "section" => {
                let fields = block.get("fields").and_then(Value::as_array);
                if block.get("text").is_none() && fields.is_none() {
                    return Err("section needs text or fields".to_owned());
                }
                if let Some(text) = block.get("text") {
                    check_text_object(text, 3000)?;
                }
                if let Some(fields) = fields {
                    if fields.is_empty() || fields.len() > 10 {
                        return Err(format!("{} fields", fields.len()));
                    }
                    for field in fields {
                        check_text_object(field, 2000)?;
                    }
                }
            }
            "context" => {
                let elements = block["elements"].as_array().ok_or("context needs elements")?;
                if elements.is_empty() || elements.len() > 10 {
                    return Err(format!("{} context elements", elements.len()));
                }
                for element in elements {
                    check_text_object(element, 3000)?;
                }
            }
            other => return Err(format!("unexpected block type {other}")),
        }
    }
    Ok(())
}

fn check_discord(payload: &Value) -> Result<(), String> {
    if text_len(&payload["content"])? > 2000 {
        return Err("content over 2000".to_owned());
    }
    if payload["allowed_mentions"] != serde_json::json!({"parse": []}) {
        return Err(format!("allowed_mentions must be {{\"parse\": []}}, got {}", payload["allowed_mentions"]));
    }
    let embeds = payload["embeds"].as_array().ok_or("embeds must be an array")?;
    if embeds.is_empty() || embeds.len() > 10 {
        return Err(format!("{} embeds", embeds.len()));
    }
    for embed in embeds {
        let mut total = 0;
        let title = text_len(&embed["title"])?;
        // Optional, but never empty when present.
        let description = match embed.get("description") {
            Some(description) => match text_len(description)? {
                0 => return Err("empty description".to_owned()),
                n => n,
            },
            None => 0,
        };
        if title > 256 || description > 4096 {
            return Err(format!("title {title} / description {description}"));
        }
        total += title + description;
        let color = embed["color"].as_u64().ok_or("color must be an integer")?;
        if color > 0xFF_FFFF {
            return Err(format!("color {color}"));
        }
        let fields = embed["fields"].as_array().ok_or("fields must be an array")?;
        if fields.len() > 25 {
            return Err(format!("{} fields", fields.len()));
        }
        for field in fields {
            let (name, value) = (text_len(&field["name"])?, text_len(&field["value"])?);
            if name == 0 || name > 256 || value == 0 || value > 1024 {
                return Err(format!("field name {name} / value {value}"));
            }
            if !field["inline"].is_boolean() {
                return Err("inline must be a boolean".to_owned());
            }
            total += name + value;
        }
        let footer = text_len(&embed["footer"]["text"])?;
        if footer > 2048 {
            return Err("footer over 2048".to_owned());
        }
        total += footer;
        if total > 6000 {
            return Err(format!("embed has {total} characters"));
        }
        chrono::DateTime::parse_from_rfc3339(embed["timestamp"].as_str().ok_or("timestamp must be a string")?)
            .map_err(|error| format!("timestamp: {error}"))?;
        if let Some(url) = embed.get("url") {
            let url = url.as_str().ok_or("url must be a string")?;
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err(format!("embed url {url}"));
            }
        }
    }
    Ok(())
}

fn check_teams(payload: &Value, bytes: usize) -> Result<(), String> {
    if bytes > 28 * 1024 {
        return Err(format!("message of {bytes} bytes is over the 28 KB limit"));
    }
    if payload["type"] != "message" {
        return Err("type must be message".to_owned());
    }
    let attachments = payload["attachments"].as_array().ok_or("attachments must be an array")?;
    let [attachment] = attachments.as_slice() else { return Err(format!("{} attachments", attachments.len())) };
    if attachment["contentType"] != "application/vnd.microsoft.card.adaptive" {
        return Err(format!("contentType {}", attachment["contentType"]));
    }
    let card = &attachment["content"];
    if card["type"] != "AdaptiveCard" || card["version"] != "1.4" {
        return Err(format!("card type {} version {}", card["type"], card["version"]));
    }
    for element in card["body"].as_array().ok_or("body must be an array")? {
        match element["type"].as_str().ok_or("element without type")? {
            "TextBlock" => {
                text_len(&element["text"])?;
            }
            "FactSet" => {
                for fact in element["facts"].as_array().ok_or("facts must be an array")? {
                    text_len(&fact["title"])?;
                    text_len(&fact["value"])?;
                }
            }
            other => return Err(format!("unexpected element {other}")),
        }
    }
    if let Some(actions) = card.get("actions") {
        for action in actions.as_array().ok_or("actions must be an array")? {
            if action["type"] != "Action.OpenUrl" {
                return Err(format!("action {}", action["type"]));
            }
            text_len(&action["title"])?;
            text_len(&action["url"])?;
        }
    }
    Ok(())
}

fn check_webhook(body: &Value, delivery_header: &str) -> Result<(), String> {
    let string = |key: &str| body[key].as_str().ok_or_else(|| format!("{key} must be a string"));
    let optional_string = |key: &str| match &body[key] {
        Value::Null | Value::String(_) if body.get(key).is_some() => Ok(()),
        other => Err(format!("{key} must be a string or null, got {other}")),
    };
    if string("id")? != delivery_header {
        return Err("body id differs from X-Veritrail-Delivery".to_owned());
    }
    for key in ["kind", "title", "severity", "summary"] {
        string(key)?;
    }
    for key in ["subject", "link"] {
        optional_string(key)?;
    }
    match &body["window"] {
        Value::Null if body.get("window").is_some() => {}
        Value::Object(window) => {
            for key in ["start", "end"] {
                let time = window.get(key).and_then(Value::as_str).ok_or("window needs start and end")?;
                chrono::DateTime::parse_from_rfc3339(time).map_err(|error| format!("window.{key}: {error}"))?;
            }
        }
        other => return Err(format!("window must be an object or null, got {other}")),
    }
    if !body["event_ids"].as_array().is_some_and(|ids| ids.iter().all(Value::is_string)) {
        return Err("event_ids must be an array of strings".to_owned());
    }
    let facts = body["facts"].as_array().ok_or("facts must be an array")?;
    if !facts.iter().all(|fact| fact["name"].is_string() && fact["value"].is_string()) {
        return Err("facts must be {name, value} objects".to_owned());
    }
    chrono::DateTime::parse_from_rfc3339(string("created_at")?).map_err(|error| format!("created_at: {error}"))?;
    Ok(())
}

// --- Tests ---

async fn deliver_ok(channel: &ChannelConfig, message: &AlertMessage) {
    let receipt = deliver(channel, message, "dlv-0001", &private()).await;
    let receipt = receipt.unwrap_or_else(|error| panic!("delivery failed: {error}"));
    assert!((200..300).contains(&receipt.status), "status {}", receipt.status);
    assert!(receipt.remote_addr.is_some_and(|addr| addr.ip().is_loopback()), "{receipt:?}");
}

#[tokio::test]
async fn slack_discord_and_teams_accept_every_kind_of_message() {
    let server = Server::start().await;
    for kind in ["slack", "discord", "teams"] {
        let channel = url_channel(kind, server.url(&format!("/{kind}")));
        for message in [support::sample(), support::hostile(), support::huge()] {
            deliver_ok(&channel, &message).await;
        }
        let test = AlertMessage::test("ops", support::at(12, 0));
        deliver_ok(&channel, &test).await;
    }
    assert_eq!(server.captured().len(), 12);
}

#[tokio::test]
async fn slack_payload_escapes_markup_and_links_to_the_events() {
    let server = Server::start().await;
    deliver_ok(&url_channel("slack", server.url("/slack")), &support::sample()).await;
    deliver_ok(&url_channel("slack", server.url("/slack")), &support::hostile()).await;
    let captured = server.captured();
    let sample = serde_json::to_string(&captured[0].json).expect("json");
    assert!(sample.contains("<https://veritrail.example/events?ids=01J0000000000000000000000A,01J0000000000000000000000B|View 2 events in Veritrail>"), "{sample}");
    assert_eq!(captured[0].json["blocks"][0]["text"]["text"], "Unusual export volume by alice");

    // Slack reads mentions and links only in mrkdwn: the fallback text and every mrkdwn object.
    // (The header is plain_text, which Slack shows verbatim.)
    let payload = &captured[1].json;
    let mut mrkdwn = vec![payload["text"].as_str().expect("fallback text").to_owned()];
    collect_mrkdwn(&payload["blocks"], &mut mrkdwn);
    let hostile = mrkdwn.join("\n");
    for raw in ["<!channel>", "<@U123>", "<!here>", "<https://evil", "<script>"] {
        assert!(!hostile.contains(raw), "{raw} reached Slack unescaped: {hostile}");
    }
    assert!(hostile.contains("&lt;!channel&gt;") && hostile.contains("&amp; co"), "{hostile}");
    assert!(!serde_json::to_string(payload).expect("json").contains("javascript:"), "a non-http link must be dropped");
}

fn collect_mrkdwn(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("mrkdwn") {
                out.push(map["text"].as_str().expect("mrkdwn text").to_owned());
            }
            map.values().for_each(|child| collect_mrkdwn(child, out));
        }
        Value::Array(items) => items.iter().for_each(|child| collect_mrkdwn(child, out)),
        _ => {}
    }
}

#[tokio::test]
async fn discord_never_pings_and_colours_by_severity() {
    let server = Server::start().await;
    deliver_ok(&url_channel("discord", server.url("/discord")), &support::hostile()).await;
    let payload = &server.captured()[0].json;
    assert_eq!(payload["allowed_mentions"]["parse"], serde_json::json!([]));
    assert_eq!(payload["embeds"][0]["color"], 0xE74C3C, "high is red");
    assert!(payload["embeds"][0].get("url").is_none(), "javascript: link dropped");
    // Markdown written by an attacker shows as text, not as a masked link or bold.
    let description = payload["embeds"][0]["description"].as_str().expect("description");
    assert!(description.contains(r"\[click here\](https://evil.example/login) \*\*now\*\*"), "{description}");
    assert!(!description.contains("[click here]("), "{description}");
}

#[tokio::test]
async fn teams_text_cannot_form_links() {
    let server = Server::start().await;
    deliver_ok(&url_channel("teams", server.url("/teams")), &support::hostile()).await;
    let body = serde_json::to_string(&server.captured()[0].json).expect("json");
    assert!(!body.contains("[click here](https://evil"), "{body}");
    assert!(body.contains("[click here]\u{200B}(https://evil.example/login)"), "{body}");
}

#[tokio::test]
async fn teams_card_has_title_facts_and_link() {
    let server = Server::start().await;
    deliver_ok(&url_channel("teams", server.url("/teams")), &support::sample()).await;
    let card = &server.captured()[0].json["attachments"][0]["content"];
    let body = serde_json::to_string(&card["body"]).expect("json");
    assert!(body.contains("Unusual export volume by alice") && body.contains("\"Score\"") && body.contains("0.97"));
    assert_eq!(card["actions"][0]["url"], support::sample().link.expect("sample has a link"));
}

#[tokio::test]
async fn webhook_is_signed_and_replays_and_tampering_are_refused() {
    let server = Server::start().await;
    let channel = webhook(server.url("/webhook"));
    let receipt = deliver(&channel, &support::sample(), "dlv-42", &private()).await.expect("signed delivery accepted");
    assert_eq!(receipt.status, 200);

    let original = server.captured().remove(0);
    assert_eq!(original.headers["x-veritrail-delivery"], "dlv-42");
    assert_eq!(original.headers["content-type"], "application/json");
    assert_eq!(original.json["id"], "dlv-42");
    assert_eq!(original.json["kind"], "anomaly");
    assert_eq!(original.json["severity"], "high");
    assert_eq!(original.json["facts"][0], serde_json::json!({"name": "Score", "value": "0.97"}));
    let timestamp: i64 = original.headers["x-veritrail-timestamp"].parse().expect("unix seconds");
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);

    // Send the captured request again, as an attacker who recorded it would.
    let resend = |body: Vec<u8>| {
        let client = reqwest::Client::new();
        let mut request = client.post(server.url("/webhook")).body(body);
        for name in ["x-veritrail-timestamp", "x-veritrail-signature", "x-veritrail-delivery", "content-type"] {
            request = request.header(name, original.headers[name].clone());
        }
        request.send()
    };
    let mut tampered = original.body.clone();
    let position = tampered.windows(4).position(|w| w == b"high").expect("severity in body");
    tampered[position..position + 4].copy_from_slice(b"info");
    let response = resend(tampered).await.expect("receiver answers");
    assert_eq!(response.status(), 401);
    assert!(response.text().await.expect("body").contains(&SignatureError::Mismatch.to_string()));

    // Ten minutes later the same bytes are a replay.
    server.state.clock_offset.store(600, Ordering::SeqCst);
    let response = resend(original.body.clone()).await.expect("receiver answers");
    assert_eq!(response.status(), 401);
    assert!(response.text().await.expect("body").contains("possible replay"));
}

#[tokio::test]
async fn failures_are_classified_for_retry() {
    let server = Server::start().await;
    let attempt = |path: &str| {
        let channel = url_channel("slack", server.url(path));
        async move { deliver(&channel, &support::sample(), "dlv-1", &private()).await.expect_err("must fail") }
    };
    let cases: [(&str, bool, Option<u64>, Option<u16>); 6] = [
        ("/status/500", true, None, Some(500)),
        ("/status/503", true, Some(30_000), Some(503)),
        ("/status/429", true, Some(7_000), Some(429)),
        ("/status/429-discord", true, Some(1_500), Some(429)),
        ("/status/400", false, None, Some(400)),
        ("/status/404", false, None, Some(404)),
    ];
    for (path, retryable, retry_after_ms, status) in cases {
        let error: DeliveryError = attempt(path).await;
        assert_eq!(error.retryable, retryable, "{path}: {error}");
        assert_eq!(error.retry_after.map(|d| d.as_millis() as u64), retry_after_ms, "{path}");
        assert_eq!(error.status, status, "{path}");
    }
    let error = attempt("/status/400").await;
    // The status only: a target's body is never shown to whoever configured the channel (it
    // could be an internal service's answer).
    assert_eq!(error.message, "HTTP 400 Bad Request");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = Server::start().await;
    let channel = url_channel("slack", server.url("/redirect"));
    let error = deliver(&channel, &support::sample(), "dlv-1", &private()).await.expect_err("redirect refused");
    assert!(!error.retryable);
    assert!(error.message.contains("redirects are not followed"), "{}", error.message);
    let captured = server.captured();
    assert_eq!(captured.len(), 1, "only the first request was sent");
    assert_eq!(captured[0].path, "/redirect");
}

#[tokio::test]
async fn timeouts_and_dead_ports_are_retryable() {
    let server = Server::start().await;
    let options = DeliveryOptions { timeout: Duration::from_millis(500), ..DeliveryOptions::default() };
    let channel = url_channel("slack", server.url("/slow"));
    let started = std::time::Instant::now();
    let error =
        deliver_with(&channel, &support::sample(), "d", &private(), &options, &|_| None).await.expect_err("times out");
    assert!(error.retryable && error.message.contains("did not answer"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let channel = url_channel("slack", format!("http://127.0.0.1:{port}/slack"));
    let error = deliver(&channel, &support::sample(), "d", &private()).await.expect_err("refused");
    assert!(error.retryable, "{error}");
}

#[tokio::test]
async fn errors_never_contain_the_secret_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let channel = url_channel("slack", format!("http://127.0.0.1:{port}/services/T000/B000/SECRETTOKEN"));
    let error = deliver(&channel, &support::sample(), "d", &private()).await.expect_err("refused");
    assert!(!error.message.contains("SECRETTOKEN"), "{error}");
}

#[tokio::test]
async fn a_host_name_is_pinned_to_the_checked_address() {
    let server = Server::start().await;
    let url = format!("http://localhost:{}/slack", server.addr.port());
    // Strict policy: localhost resolves to loopback, refused before any connection.
    let https = url.replace("http://", "https://");
    let error = deliver(&url_channel("slack", https), &support::sample(), "d", &TargetPolicy::strict())
        .await
        .expect_err("strict policy refuses");
    // A name's refusal does not say what it resolved to (no DNS oracle).
    assert!(!error.retryable && error.message.contains("localhost is not an allowed destination"), "{error}");
    assert!(!error.message.contains("loopback") && !error.message.contains("127.0.0.1"), "{error}");
    assert!(server.captured().is_empty());
    // Allowed: the request goes to the vetted address (and https is not demanded).
    deliver_ok(&url_channel("slack", url), &support::sample()).await;
    assert_eq!(server.captured().len(), 1);
}

#[tokio::test]
async fn strict_policy_refuses_loopback_literals_without_sending() {
    let server = Server::start().await;
    let url = server.url("/slack").replace("http://", "https://");
    let error = deliver(&url_channel("slack", url), &support::sample(), "d", &TargetPolicy::strict())
        .await
        .expect_err("refused");
    assert!(!error.retryable, "{error}");
    assert!(server.captured().is_empty());
}

#[tokio::test]
async fn secrets_can_come_from_the_environment() {
    let server = Server::start().await;
    let channel = ChannelConfig::Webhook(WebhookConfig {
        url: server.url("/webhook"),
        secret: None,
        secret_env: Some("VERITRAIL_TEST_HOOK_SECRET".to_owned()),
    });
    let env = |name: &str| (name == "VERITRAIL_TEST_HOOK_SECRET").then(|| SECRET.to_owned());
    let receipt = deliver_with(&channel, &support::sample(), "d", &private(), &DeliveryOptions::default(), &env).await;
    assert_eq!(receipt.expect("signed with the secret from the environment").status, 200);
    let error = deliver_with(&channel, &support::sample(), "d", &private(), &DeliveryOptions::default(), &|_| None)
        .await
        .expect_err("variable missing");
    assert!(!error.retryable && error.message.contains("VERITRAIL_TEST_HOOK_SECRET is not available"), "{error}");
}
