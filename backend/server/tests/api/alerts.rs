//! Alerting end to end, on SQLite and PostgreSQL: channels (redaction, SSRF refusal, the test
//! action), rules, the outbox (retries until the receiver is up, exactly one accepted delivery,
//! dead letters, a delivery left claimed by a dead server), cooldowns and digests for event
//! rules, integrity alerts, and the invictus capture through detection to a Slack receiver and a
//! real SMTP server.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use veritrail_alerts::signature::{DEFAULT_TOLERANCE, DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use veritrail_core::alerting::NewAlert;
use veritrail_core::anomalies::{AnomalySeverity, NewAnomaly, Subject};
use veritrail_core::event::TenantId;
use veritrail_server::config::Config;
use veritrail_store::Backend;
use veritrail_store::testing::TestDatabase;

use crate::helpers::{ADMIN_KEY, TestApp, assert_error, import_invictus, run_job, spawn_app_with, start_app};
use crate::receivers::{Captured, Receiver, SmtpSink};

const WEBHOOK_SECRET: &str = "whsec-0123456789-very-secret";
/// Shared by servers on one database, as replicas must share it.
const SEALING_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Local receivers are on loopback: allowed here, as an operator would for an internal hook.
fn local_targets(config: &mut Config) {
    config.alerts.allow_private_targets = true;
    config.alerts.retry_base_ms = 20;
    config.alerts.secret_key = SEALING_KEY.into();
}

async fn apps(tweak: impl Fn(&mut Config)) -> Vec<TestApp> {
    let mut apps = Vec::new();
    for db in TestDatabase::all().await {
        apps.push(spawn_app_with(db, &tweak).await);
    }
    apps
}

async fn create(app: &TestApp, path: &str, body: Value) -> Value {
    let response = app.post_json(path, ADMIN_KEY, &body).await;
    let status = response.status();
    let answer: Value = response.json().await.expect("json");
    assert_eq!(status, StatusCode::CREATED, "POST {path}: {answer}");
    answer
}

async fn webhook_channel(app: &TestApp, url: &str) -> String {
    let body = json!({"kind": "webhook", "name": "siem", "config": {"url": url, "secret": WEBHOOK_SECRET}});
    create(app, "/api/v1/alerts/channels", body).await["id"].as_str().expect("id").to_owned()
}

async fn event_rule(app: &TestApp, channels: &[&str], cooldown: u64) -> String {
    let body = json!({
        "name": "denied admin actions", "kind": "event", "min_severity": "high", "channels": channels,
        "match": {"actions": ["iam.*"], "outcome": "denied"}, "cooldown_seconds": cooldown,
    });
    create(app, "/api/v1/alerts/rules", body).await["id"].as_str().expect("id").to_owned()
}

fn denied(actor: &str, action: &str) -> Value {
    json!({"actor": {"id": actor, "type": "user", "ip": "203.0.113.9"}, "action": action, "outcome": "denied", "severity": "high"})
}

/// Checks the webhook signature as a receiver would, and that a replayed timestamp is refused.
fn assert_signed(captured: &Captured) {
    let now = Utc::now().timestamp();
    let (timestamp, signature) = (captured.header(TIMESTAMP_HEADER), captured.header(SIGNATURE_HEADER));
    veritrail_alerts::verify(WEBHOOK_SECRET.as_bytes(), timestamp, signature, &captured.body, now, DEFAULT_TOLERANCE)
        .unwrap_or_else(|error| panic!("signature does not verify ({error}): {captured:?}"));
    assert!(
        veritrail_alerts::verify(b"another secret", timestamp, signature, &captured.body, now, DEFAULT_TOLERANCE)
            .is_err()
    );
    let replayed_later = now + 3600;
    assert!(
        veritrail_alerts::verify(
            WEBHOOK_SECRET.as_bytes(),
            timestamp,
            signature,
            &captured.body,
            replayed_later,
            DEFAULT_TOLERANCE
        )
        .is_err(),
        "an old delivery replayed an hour later must be refused"
    );
    assert_eq!(captured.json["id"], json!(captured.header(DELIVERY_HEADER)), "the signed body names the delivery");
}

async fn deliveries(app: &TestApp, query: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/alerts/deliveries{query}")).await["deliveries"].as_array().expect("list").clone()
}

/// Polls `GET /api/v1/alerts` until it has `count` alerts (event rules run after the append).
async fn wait_alerts(app: &TestApp, count: usize) -> Vec<Value> {
    for _ in 0..200 {
        let alerts = app.get_json("/api/v1/alerts").await["alerts"].as_array().expect("alerts").clone();
        if alerts.len() >= count {
            return alerts;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {count} alerts were raised");
}

#[tokio::test]
async fn channels_are_sealed_redacted_tested_and_deleted() {
    let receiver = Receiver::start(0).await;
    for app in apps(local_targets).await {
        let created = create(
            &app,
            "/api/v1/alerts/channels",
            json!({"kind": "webhook", "name": "siem", "config": {"url": receiver.url("/hook?token=abc"), "secret": WEBHOOK_SECRET}}),
        )
        .await;
        let id = created["id"].as_str().expect("id").to_owned();
        assert_eq!(created["kind"], json!("webhook"));
        assert_eq!(created["config"]["has_secret"], json!(true), "{created}");
        for shown in [created.clone(), app.get_json(&format!("/api/v1/alerts/channels/{id}")).await] {
            let text = shown.to_string();
            assert!(!text.contains(WEBHOOK_SECRET) && !text.contains("token=abc"), "secret echoed: {text}");
        }
        let listed = app.get_json("/api/v1/alerts/channels").await;
        assert_eq!(listed["channels"].as_array().map(Vec::len), Some(1));
        assert!(!listed.to_string().contains(WEBHOOK_SECRET));

        // Sealed at rest: the stored bytes show neither the secret nor the URL.
        let store = app.db.connect().await;
        let stored = store
            .alerting
            .get_channel(&TenantId::parse("default").expect("tenant"), &id)
            .await
            .expect("get")
            .expect("row");
        let sealed = stored.secret.expect("sealed config");
        for plain in [WEBHOOK_SECRET.as_bytes(), b"token=abc".as_slice()] {
            assert!(!sealed.windows(plain.len()).any(|window| window == plain), "plaintext at rest");
        }
        assert!(!stored.channel.config_public.to_string().contains("token=abc"));

        // The test action sends now and answers with the recorded delivery.
        let before = receiver.accepted().len();
        let response = app.post_json(&format!("/api/v1/alerts/channels/{id}/test"), ADMIN_KEY, &json!({})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let tested: Value = response.json().await.expect("json");
        assert_eq!(tested["ok"], json!(true), "{tested}");
        assert_eq!(tested["delivery"]["status"], json!("delivered"));
        assert_eq!(tested["delivery"]["attempts"], json!(1));
        let accepted = receiver.accepted();
        assert_eq!(accepted.len(), before + 1);
        let request = accepted.last().expect("request");
        assert_eq!(request.path, "/hook");
        assert_eq!(request.json["kind"], json!("test"));
        assert_signed(request);
        let recorded = deliveries(&app, "?status=delivered").await;
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0]["id"], tested["delivery"]["id"]);

        // Refusals: clear 422s naming the field, nothing stored.
        for (body, needle) in [
            (json!({"kind": "sms", "name": "x", "config": {}}), "sms"),
            (json!({"kind": "webhook", "name": "x", "config": {"url": receiver.url("/h")}}), "config.secret"),
            (json!({"kind": "slack", "name": "x", "config": {"url": "notaurl"}}), "config.url"),
            (
                json!({"kind": "email", "name": "x", "config": {"smtp_host": "127.0.0.1", "smtp_port": 25, "tls": "none", "from": "a@b.c", "to": []}}),
                "config.to",
            ),
        ] {
            let message = assert_error(
                app.post_json("/api/v1/alerts/channels", ADMIN_KEY, &body).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            )
            .await;
            assert!(message.contains(needle), "{needle}: {message}");
        }
        let reader = app.create_key("default", "read").await;
        assert_error(
            app.post_json("/api/v1/alerts/channels", &reader, &json!({"kind": "slack", "name": "x", "config": {}}))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
        assert_eq!(app.get_json("/api/v1/alerts/channels").await["channels"].as_array().map(Vec::len), Some(1));

        let response = app
            .send(reqwest::Method::DELETE, &format!("/api/v1/alerts/channels/{id}"), Some(ADMIN_KEY), None, vec![])
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_error(
            app.get(&format!("/api/v1/alerts/channels/{id}"), ADMIN_KEY).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
}

/// The variable a test channel may read through the API when the operator's prefix is
/// `CARGO_PKG_`: cargo sets it for every test process.
const PREFIXED_VARIABLE: &str = "CARGO_PKG_NAME";

#[tokio::test]
async fn channels_created_through_the_api_cannot_read_the_servers_environment() {
    for app in apps(|config| {
        local_targets(config);
        config.alerts.secret_env_prefix = "CARGO_PKG_".to_owned();
    })
    .await
    {
        let receiver = Receiver::start(0).await;
        // An e-mail channel pointed at the attacker's SMTP server, asking for the log's signing
        // key as its AUTH password: refused before anything is stored or sent, with the same
        // answer as for a variable that does not exist.
        let email = |variable: &str| {
            json!({"kind": "email", "name": "exfil", "config": {
                "smtp_host": "127.0.0.1", "smtp_port": 465, "tls": "tls", "from": "a@example.com",
                "to": ["b@example.com"], "username": "u", "password_env": variable}})
        };
        let hook = |variable: &str| json!({"kind": "webhook", "name": "exfil", "config": {"url": receiver.url("/exfil"), "secret_env": variable}});
        let mut answers = Vec::new();
        for (body, variable) in [
            (email("VERITRAIL__CHECKPOINTS__PRIVATE_KEY"), "VERITRAIL__CHECKPOINTS__PRIVATE_KEY"),
            (email("PATH"), "PATH"),
            (email("CARGO_PKG_SURELY_NOT_SET"), "CARGO_PKG_SURELY_NOT_SET"),
            (hook("HOME"), "HOME"),
            (hook("VERITRAIL__ALERTS__SECRET_KEY"), "VERITRAIL__ALERTS__SECRET_KEY"),
        ] {
            let message = assert_error(
                app.post_json("/api/v1/alerts/channels", ADMIN_KEY, &body).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            )
            .await;
            assert!(
                message.starts_with("config.password_env") || message.starts_with("config.secret_env"),
                "{message}"
            );
            answers.push(message.replace(variable, "NAME").replace("config.password_env", "config.secret_env"));
        }
        // Set (PATH, HOME), unset, or a server setting: one answer, no oracle.
        answers.dedup();
        assert_eq!(answers.len(), 1, "{answers:?}");
        assert_eq!(app.get_json("/api/v1/alerts/channels").await["channels"], json!([]));
        assert!(receiver.captured().is_empty());

        // A variable under the operator's prefix works, and signs the delivery.
        let secret = std::env::var(PREFIXED_VARIABLE).expect("cargo sets CARGO_PKG_NAME for tests");
        let created = create(&app, "/api/v1/alerts/channels", hook(PREFIXED_VARIABLE)).await;
        assert_eq!(created["config"]["secret_env"], json!(PREFIXED_VARIABLE));
        let id = created["id"].as_str().expect("id");
        let tested: Value = app
            .post_json(&format!("/api/v1/alerts/channels/{id}/test"), ADMIN_KEY, &json!({}))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(tested["ok"], json!(true), "{tested}");
        let accepted = receiver.accepted();
        let request = accepted.last().expect("delivered");
        let now = Utc::now().timestamp();
        veritrail_alerts::verify(
            secret.as_bytes(),
            request.header(TIMESTAMP_HEADER),
            request.header(SIGNATURE_HEADER),
            &request.body,
            now,
            DEFAULT_TOLERANCE,
        )
        .expect("signed with the prefixed variable's value");
    }
}

#[tokio::test]
async fn only_channels_the_configuration_file_declares_read_any_variable_and_only_while_declared() {
    use veritrail_alerts::provision::ConfiguredChannel;
    let receiver = Receiver::start(0).await;
    let declared = ConfiguredChannel {
        tenant: "default".into(),
        name: "ops-hook".into(),
        kind: veritrail_core::alerting::ChannelKind::Webhook,
        config: json!({"url": receiver.url("/ops"), "secret_env": "PATH"}).into(),
    };
    for db in TestDatabase::all().await {
        let url = db.url.clone();
        let declare = |config: &mut Config| {
            local_targets(config);
            config.alerts.channels = vec![declared.clone()];
        };
        let app = spawn_app_with(db, declare).await;
        let channels = app.get_json("/api/v1/alerts/channels").await["channels"].clone();
        let id = channels[0]["id"].as_str().expect("declared channel").to_owned();
        let test = |base: String, id: String| async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/api/v1/alerts/channels/{id}/test"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({}))
                .send()
                .await
                .expect("test");
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.expect("json")
        };
        let tested = test(app.base.clone(), id.clone()).await;
        assert_eq!(tested["ok"], json!(true), "the operator's channel reads its variable: {tested}");
        let before = receiver.captured().len();

        // A tenant admin's copy of that channel, pointed elsewhere, gets nothing.
        let copy = json!({"kind": "webhook", "name": "ops-hook-2", "config": {"url": receiver.url("/copy"), "secret_env": "PATH"}});
        assert_error(
            app.post_json("/api/v1/alerts/channels", ADMIN_KEY, &copy).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;

        // Once the file no longer declares it, the stored channel cannot read the variable:
        // the delivery fails at once and nothing is sent.
        let (second, _dir) = start_app(&url, local_targets).await;
        let tested = test(second, id).await;
        assert_eq!(tested["ok"], json!(false), "{tested}");
        assert_eq!(tested["delivery"]["status"], json!("dead"), "{tested}");
        let error = tested["delivery"]["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("not available to alert channels") && !error.contains("/usr"), "{error}");
        assert_eq!(receiver.captured().len(), before, "nothing sent");
    }
}

#[tokio::test]
async fn private_and_internal_targets_are_refused_by_default() {
    let receiver = Receiver::start(0).await;
    let db = TestDatabase::sqlite();
    let app = spawn_app_with(db, |_| {}).await;
    for (kind, config) in [
        ("slack", json!({"url": receiver.url("/slack")})),
        ("webhook", json!({"url": "https://169.254.169.254/latest/meta-data", "secret": "s"})),
        ("discord", json!({"url": "https://10.1.2.3/api/webhooks/1/x"})),
        (
            "email",
            json!({"smtp_host": "127.0.0.1", "smtp_port": 587, "tls": "starttls", "from": "a@b.c", "to": ["d@e.f"]}),
        ),
    ] {
        let body = json!({"kind": kind, "name": "internal", "config": config});
        let message = assert_error(
            app.post_json("/api/v1/alerts/channels", ADMIN_KEY, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        )
        .await;
        assert!(message.starts_with("config"), "{kind}: {message}");
    }
    assert_eq!(app.get_json("/api/v1/alerts/channels").await["channels"], json!([]));
    assert!(receiver.captured().is_empty());
}

#[tokio::test]
async fn rules_are_validated_and_managed() {
    for app in apps(local_targets).await {
        let receiver = Receiver::start(0).await;
        let channel = webhook_channel(&app, &receiver.url("/h")).await;
        for (body, needle) in [
            (json!({"name": "r", "min_severity": "high", "channels": ["nope"]}), "nope"),
            (json!({"name": "r", "min_severity": "severe", "channels": [channel]}), "min_severity"),
            (json!({"name": "r", "min_severity": "info", "channels": [channel]}), "min_severity"),
            (json!({"name": "r", "min_severity": "high", "channels": []}), "channels"),
            (
                json!({"name": "r", "min_severity": "high", "channels": [channel], "kind": "event", "match": {"action": ["x"]}}),
                "action",
            ),
            (
                json!({"name": "r", "min_severity": "high", "channels": [channel], "match": {"detectors": "kmeans"}}),
                "match.detectors",
            ),
            (
                json!({"name": "r", "min_severity": "high", "channels": [channel], "cooldown_seconds": -1}),
                "cooldown_seconds",
            ),
            (json!({"name": "", "min_severity": "high", "channels": [channel]}), "name"),
        ] {
            let message = assert_error(
                app.post_json("/api/v1/alerts/rules", ADMIN_KEY, &body).await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
            )
            .await;
            assert!(message.contains(needle), "{needle}: {message}");
        }
        assert_eq!(app.get_json("/api/v1/alerts/rules").await["rules"], json!([]));

        let rule = create(
            &app,
            "/api/v1/alerts/rules",
            json!({"name": "attacks", "min_severity": "medium", "channels": [channel], "match": {"subject_kind": "actor"}}),
        )
        .await;
        assert_eq!(rule["kind"], json!("anomaly"));
        assert_eq!(rule["channels"], json!([channel]));
        let id = rule["id"].as_str().expect("id");
        let path = format!("/api/v1/alerts/rules/{id}");
        let updated = app
            .send(
                reqwest::Method::PUT,
                &path,
                Some(ADMIN_KEY),
                Some("application/json"),
                json!({"name": "attacks", "min_severity": "critical", "channels": [channel], "cooldown_seconds": 60})
                    .to_string()
                    .into_bytes(),
            )
            .await;
        assert_eq!(updated.status(), StatusCode::OK);
        let shown = app.get_json(&path).await;
        assert_eq!((shown["min_severity"].clone(), shown["cooldown_seconds"].clone()), (json!("critical"), json!(60)));
        let deleted = app.send(reqwest::Method::DELETE, &path, Some(ADMIN_KEY), None, vec![]).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_error(app.get(&path, ADMIN_KEY).await, StatusCode::NOT_FOUND, "not_found").await;
    }
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_retries_then_exactly_one_delivery_and_hopeless_ones_are_dead_lettered() {
    for app in apps(|config| {
        local_targets(config);
        config.alerts.max_attempts = 4;
    })
    .await
    {
        let flaky = Receiver::start(2).await;
        let gone = Receiver::start(usize::MAX).await;
        let flaky_channel = webhook_channel(&app, &flaky.url("/flaky")).await;
        let gone_channel = webhook_channel(&app, &gone.url("/gone")).await;
        event_rule(&app, &[&flaky_channel, &gone_channel], 0).await;

        // Does not match: wrong outcome, too low a severity, another action.
        assert!(app.post_event(&json!({"actor": {"id": "eve", "type": "user"}, "action": "iam.delete_user", "outcome": "success", "severity": "high"})).await.status().is_success());
        assert!(app.post_event(&json!({"actor": {"id": "eve", "type": "user"}, "action": "iam.delete_user", "outcome": "denied", "severity": "medium"})).await.status().is_success());
        assert!(app.post_event(&denied("eve", "repo.delete")).await.status().is_success());
        // Matches.
        assert_eq!(app.post_event(&denied("mallory", "iam.delete_user")).await.status(), StatusCode::CREATED);

        let alerts = wait_alerts(&app, 1).await;
        assert_eq!(alerts.len(), 1, "only the matching event alerts: {alerts:?}");
        assert!(alerts[0]["message"]["title"].as_str().expect("title").contains("mallory"));

        // The wake-up sends at once; later attempts come from runs of the job after the backoff.
        for _ in 0..100 {
            if flaky.accepted().len() == 1 && deliveries(&app, "?status=pending").await.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
            run_job(&app, "alert-delivery").await;
        }
        let requests = flaky.captured();
        let statuses: Vec<u16> = requests.iter().map(|request| request.status).collect();
        assert_eq!(statuses, [500, 500, 200], "two refusals, then accepted once");
        let ids: HashSet<&str> = requests.iter().map(|request| request.header(DELIVERY_HEADER)).collect();
        assert_eq!(ids.len(), 1, "every attempt is the same delivery");
        assert_signed(&requests[2]);
        assert_eq!(requests[2].json["kind"], json!("event_rule"));
        assert_eq!(requests[2].json["severity"], json!("high"));

        let delivered = deliveries(&app, "?status=delivered").await;
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0]["attempts"], json!(3));
        assert!(delivered[0]["last_error"].as_str().is_some_and(|error| error.contains("500")), "{:?}", delivered[0]);
        let dead = deliveries(&app, "?status=dead").await;
        assert_eq!(dead.len(), 1, "the receiver that never recovers is dead-lettered");
        assert_eq!(dead[0]["attempts"], json!(4));
        // Each attempt is recorded with its outcome.
        let history = |id: &Value| format!("/api/v1/alerts/deliveries/{}/attempts", id.as_str().expect("id"));
        let attempts = app.get_json(&history(&delivered[0]["id"])).await["attempts"].clone();
        let outcomes: Vec<&str> =
            attempts.as_array().expect("attempts").iter().map(|a| a["outcome"].as_str().expect("o")).collect();
        assert_eq!(outcomes, ["retry", "retry", "delivered"], "{attempts}");
        assert!(attempts[0]["error"].as_str().is_some_and(|error| error.contains("500")), "{attempts}");
        let attempts = app.get_json(&history(&dead[0]["id"])).await["attempts"].clone();
        let outcomes: Vec<&str> =
            attempts.as_array().expect("attempts").iter().map(|a| a["outcome"].as_str().expect("o")).collect();
        assert_eq!(outcomes, ["retry", "retry", "retry", "dead"], "{attempts}");
        assert_error(
            app.get("/api/v1/alerts/deliveries/nope/attempts", ADMIN_KEY).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert_eq!(gone.captured().len(), 4);

        // More runs send nothing more.
        run_job(&app, "alert-delivery").await;
        assert_eq!(flaky.captured().len(), 3);
        assert_eq!(gone.captured().len(), 4);
        let alerts = app.get_json("/api/v1/alerts").await;
        assert_eq!(alerts["alerts"][0]["deliveries"].as_array().map(Vec::len), Some(2), "{alerts}");
    }
}

#[tokio::test]
async fn a_delivery_left_claimed_by_a_dead_server_is_sent_once_by_the_next_one() {
    for db in TestDatabase::all().await {
        let receiver = Receiver::start(0).await;
        let first = spawn_app_with(db, local_targets).await;
        let channel = webhook_channel(&first, &receiver.url("/hook")).await;

        // The first server records an alert and claims its delivery, then dies before sending:
        // its lease (2 s) is all that is left of it.
        let store = first.db.connect().await;
        let tenant = TenantId::parse("default").expect("tenant");
        let message = veritrail_alerts::AlertMessage::test("siem", Utc::now());
        let created = store
            .alerting
            .create_alert(
                &tenant,
                &NewAlert {
                    id: None,
                    rule_id: None,
                    dedup_key: "restart".into(),
                    message: serde_json::to_value(&message).expect("json"),
                    channel_ids: vec![channel],
                    cooldown: None,
                },
                Utc::now(),
            )
            .await
            .expect("alert");
        let now = Utc::now();
        let claimed = store
            .alerting
            .claim_due_deliveries(None, now, "dead-server", now + chrono::Duration::seconds(2), 10)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);

        // A new server on the same database (sharing the sealing key, as replicas must).
        let (second, _data_dir) = start_app(&first.db.url, local_targets).await;
        let client = reqwest::Client::new();
        let run = || async {
            let response = client
                .post(format!("{second}/api/v1/admin/jobs/alert-delivery/run"))
                .bearer_auth(ADMIN_KEY)
                .json(&json!({}))
                .send()
                .await
                .expect("run");
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.expect("run record")
        };
        let early = run().await;
        assert_eq!(early["details"]["tenant"]["claimed"], json!(0), "the lease is still running: {early}");
        assert!(receiver.captured().is_empty());
        tokio::time::sleep(Duration::from_millis(2100)).await;
        let late = run().await;
        assert_eq!(late["details"]["tenant"]["delivered"], json!(1), "{late}");
        run().await;
        let accepted = receiver.wait_accepted(1, 5).await;
        assert_eq!(receiver.captured().len(), 1, "sent exactly once");
        assert_eq!(accepted[0].header(DELIVERY_HEADER), created.deliveries[0].id);
        assert_signed(&accepted[0]);
        let shown = deliveries(&first, "").await;
        assert_eq!(shown[0]["status"], json!("delivered"));
        assert_eq!(shown[0]["attempts"], json!(2), "the dead server's attempt counts");
        // The dead server cannot record anything on a delivery it no longer holds.
        assert!(
            !store.alerting.mark_delivered(&created.deliveries[0].id, "dead-server", Utc::now()).await.expect("mark")
        );
    }
}

#[tokio::test]
async fn repeats_within_the_cooldown_alert_once_and_bursts_become_a_digest() {
    for app in apps(|config| {
        local_targets(config);
        config.alerts.digest_threshold = 3;
    })
    .await
    {
        let receiver = Receiver::start(0).await;
        let channel = webhook_channel(&app, &receiver.url("/hook")).await;
        let rule = event_rule(&app, &[&channel], 3600).await;

        for _ in 0..3 {
            assert!(app.post_event(&denied("mallory", "iam.create_access_key")).await.status().is_success());
        }
        // A batch repeating the same subject counts once too.
        let batch = vec![denied("mallory", "iam.attach_policy"), denied("mallory", "iam.put_user_policy")];
        assert_eq!(app.post_batch(batch).await.status(), StatusCode::CREATED);
        assert_eq!(app.post_event(&denied("trent", "iam.delete_role")).await.status(), StatusCode::CREATED);
        let alerts = wait_alerts(&app, 2).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let alerts_now = app.get_json("/api/v1/alerts").await["alerts"].as_array().expect("alerts").clone();
        assert_eq!(alerts_now.len(), alerts.len());
        let subjects: Vec<&str> = alerts.iter().map(|alert| alert["dedup_key"].as_str().expect("key")).collect();
        assert_eq!(subjects.len(), 2, "one alert per subject within the cooldown: {subjects:?}");
        assert!(subjects.contains(&"actor:mallory") && subjects.contains(&"actor:trent"));
        receiver.wait_accepted(2, 10).await;

        // Four new subjects in one request: more than the threshold, so one digest message.
        let burst: Vec<Value> = ["a1", "a2", "a3", "a4"].iter().map(|actor| denied(actor, "iam.delete_user")).collect();
        assert_eq!(app.post_batch(burst).await.status(), StatusCode::CREATED);
        let accepted = receiver.wait_accepted(3, 10).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.accepted().len(), 3, "the burst is one message");
        let digest = &accepted[2].json;
        assert_eq!(digest["kind"], json!("digest"), "{digest}");
        assert_eq!(digest["items"].as_array().map(Vec::len), Some(4), "{digest}");
        // Each subject of the digest is in cooldown now.
        assert_eq!(app.post_event(&denied("a2", "iam.delete_user")).await.status(), StatusCode::CREATED);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.captured().len(), 3);

        // A deleted rule stops alerting at once (its cached copy is dropped).
        let path = format!("/api/v1/alerts/rules/{rule}");
        let deleted = app.send(reqwest::Method::DELETE, &path, Some(ADMIN_KEY), None, vec![]).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.post_event(&denied("newcomer", "iam.delete_user")).await.status(), StatusCode::CREATED);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.captured().len(), 3);
    }
}

#[tokio::test]
async fn integrity_failures_alert_every_channel_without_a_rule() {
    for app in apps(local_targets).await {
        let receiver = Receiver::start(0).await;
        webhook_channel(&app, &receiver.url("/a")).await;
        webhook_channel(&app, &receiver.url("/b")).await;
        let events: Vec<Value> = (0..6).map(|n| crate::helpers::event(&format!("doc.read.{n}"))).collect();
        assert_eq!(app.post_batch(events).await.status(), StatusCode::CREATED);
        app.db.tamper(&["UPDATE events SET outcome = 'failure' WHERE seq = 3"]).await;
        let report = app
            .post_json("/api/v1/admin/jobs/integrity-check/run?full=true", ADMIN_KEY, &json!({}))
            .await
            .json::<Value>()
            .await
            .expect("run");
        assert_eq!(report["details"]["tenant"]["status"], json!("failed"), "{report}");
        let accepted = receiver.wait_accepted(2, 10).await;
        let paths: HashSet<&str> = accepted.iter().map(|request| request.path.as_str()).collect();
        assert_eq!(paths, HashSet::from(["/a", "/b"]));
        for request in &accepted {
            assert_eq!(request.json["kind"], json!("integrity"));
            assert_eq!(request.json["severity"], json!("critical"));
            assert_signed(request);
        }
        // Found again on the next run: within the cooldown, not sent again.
        app.post_json("/api/v1/admin/jobs/integrity-check/run?full=true", ADMIN_KEY, &json!({})).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(receiver.captured().len(), 2);
    }
}

#[tokio::test]
async fn event_rules_alert_about_a_second_after_the_append_without_running_the_job() {
    for app in apps(local_targets).await {
        let receiver = Receiver::start(0).await;
        let channel = webhook_channel(&app, &receiver.url("/hook")).await;
        event_rule(&app, &[&channel], 3600).await;
        let appended = std::time::Instant::now();
        assert_eq!(app.post_event(&denied("mallory", "iam.create_access_key")).await.status(), StatusCode::CREATED);
        let alerts = wait_alerts(&app, 1).await;
        let latency = appended.elapsed();
        assert!(latency < Duration::from_secs(2), "alerted {latency:?} after the append");
        assert_eq!(alerts[0]["dedup_key"], json!("actor:mallory"));
        receiver.wait_accepted(1, 10).await;
    }
}

#[tokio::test]
async fn events_acknowledged_but_not_evaluated_are_alerted_once_by_the_next_server() {
    for db in TestDatabase::all().await {
        let first = spawn_app_with(db, local_targets).await;
        let receiver = Receiver::start(0).await;
        let channel = webhook_channel(&first, &receiver.url("/hook")).await;
        // No cooldown: an event evaluated twice would alert twice.
        event_rule(&first, &[&channel], 0).await;
        assert_eq!(first.post_event(&crate::helpers::event("doc.read")).await.status(), StatusCode::CREATED);
        // Evaluated by the wake-up or this run, whichever came first.
        assert_eq!(run_job(&first, "event-alerts").await["details"]["tenant"]["cursor"], json!(1));

        // What a server that died between the append's commit and the evaluation leaves: events
        // in the log, acknowledged, that no one has evaluated.
        let store = first.db.connect().await;
        let limits = veritrail_core::validate::Limits::default();
        let events: Vec<_> = ["mallory", "trent"]
            .iter()
            .map(|actor| {
                veritrail_core::validate::validate_event(&denied(actor, "iam.delete_user"), &limits, || {
                    uuid::Uuid::now_v7().to_string()
                })
                .expect("valid event")
            })
            .collect();
        let tenant = TenantId::parse("default").expect("tenant");
        store.events.append(&tenant, events).await.expect("append");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(first.get_json("/api/v1/alerts").await["alerts"].as_array().expect("alerts").is_empty());

        // The next server evaluates them at start-up, with no one running the job by hand.
        let (second, _data_dir) = start_app(&first.db.url, |config| {
            local_targets(config);
            config.alerts.event_schedule = "0 0 0 1 1 *".to_owned();
        })
        .await;
        let mut alerts = Vec::new();
        for _ in 0..200 {
            alerts = call(&second, reqwest::Method::GET, "/api/v1/alerts").await["alerts"]
                .as_array()
                .expect("alerts")
                .clone();
            if alerts.len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let mut subjects: Vec<&str> = alerts.iter().map(|alert| alert["dedup_key"].as_str().expect("key")).collect();
        subjects.sort_unstable();
        assert_eq!(subjects, ["actor:mallory", "actor:trent"]);
        // Evaluated once: later runs on either server find nothing new.
        assert_eq!(run_job(&first, "event-alerts").await["details"]["tenant"]["evaluated"], json!(0));
        let run = call(&second, reqwest::Method::POST, "/api/v1/admin/jobs/event-alerts/run").await;
        assert_eq!(run["details"]["tenant"]["evaluated"], json!(0), "{run}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(first.get_json("/api/v1/alerts").await["alerts"].as_array().map(Vec::len), Some(2));
        assert_eq!(receiver.wait_accepted(2, 10).await.len(), 2);
    }
}

/// An admin request to the server at `base` (one started with `start_app`); answers its JSON.
async fn call(base: &str, method: reqwest::Method, path: &str) -> Value {
    let mut request = reqwest::Client::new().request(method, format!("{base}{path}")).bearer_auth(ADMIN_KEY);
    if path.ends_with("/run") {
        request = request.json(&json!({}));
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.expect("json")
}

#[tokio::test]
async fn a_dead_delivery_is_retried_by_an_admin_and_then_sent() {
    for app in apps(|config| {
        local_targets(config);
        config.alerts.max_attempts = 2;
    })
    .await
    {
        // Refuses twice (dead after two attempts), then accepts.
        let receiver = Receiver::start(2).await;
        let channel = webhook_channel(&app, &receiver.url("/hook")).await;
        event_rule(&app, &[&channel], 0).await;
        assert_eq!(app.post_event(&denied("mallory", "iam.delete_user")).await.status(), StatusCode::CREATED);
        wait_alerts(&app, 1).await;
        let mut dead = Vec::new();
        for _ in 0..100 {
            dead = deliveries(&app, "?status=dead").await;
            if !dead.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
            run_job(&app, "alert-delivery").await;
        }
        assert_eq!(dead.len(), 1, "dead-lettered after two attempts");
        let id = dead[0]["id"].as_str().expect("id").to_owned();
        let retry = format!("/api/v1/alerts/deliveries/{id}/retry");

        let reader = app.create_key("default", "read").await;
        assert_error(app.post_json(&retry, &reader, &json!({})).await, StatusCode::FORBIDDEN, "forbidden").await;
        let response = app.post_json(&retry, ADMIN_KEY, &json!({})).await;
        assert_eq!(response.status(), StatusCode::OK);
        let answer: Value = response.json().await.expect("json");
        assert_eq!(answer, json!({"delivery_id": id, "status": "pending"}));

        // Sent at once, without running the job, and counted afresh.
        receiver.wait_accepted(1, 10).await;
        let mut delivered = Vec::new();
        for _ in 0..100 {
            delivered = deliveries(&app, "?status=delivered").await;
            if !delivered.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0]["id"], json!(id));
        assert_eq!(delivered[0]["attempts"], json!(1));
        assert_eq!(receiver.captured().len(), 3);

        assert_error(app.post_json(&retry, ADMIN_KEY, &json!({})).await, StatusCode::CONFLICT, "delivery_not_dead")
            .await;
        assert_error(
            app.post_json("/api/v1/alerts/deliveries/nope/retry", ADMIN_KEY, &json!({})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert_eq!(receiver.captured().len(), 3, "refused retries send nothing");
    }
}

/// Makes every insert into `alerts` fail (`true`) or work again (`false`), as a database that
/// refuses alerting writes for a while would.
async fn refuse_alert_writes(app: &TestApp, refuse: bool) {
    let sql = match (app.db.backend, refuse) {
        (Backend::Sqlite, true) => {
            "CREATE TRIGGER alerts_refused BEFORE INSERT ON alerts BEGIN SELECT RAISE(ABORT, 'alerting is down'); END;"
        }
        (Backend::Sqlite, false) => "DROP TRIGGER alerts_refused;",
        (Backend::Postgres, true) => {
            "CREATE FUNCTION refuse_alerts() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'alerting is down'; END $$; \
             CREATE TRIGGER alerts_refused BEFORE INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION refuse_alerts();"
        }
        (Backend::Postgres, false) => "DROP TRIGGER alerts_refused ON alerts; DROP FUNCTION refuse_alerts();",
    };
    app.db.execute(sql).await.expect("alert writes trigger");
}

#[tokio::test]
async fn an_anomaly_whose_alerting_failed_is_alerted_once_by_the_next_run() {
    for app in apps(local_targets).await {
        let receiver = Receiver::start(0).await;
        let channel = webhook_channel(&app, &receiver.url("/hook")).await;
        create(
            &app,
            "/api/v1/alerts/rules",
            json!({"name": "unusual principals", "min_severity": "low", "channels": [channel],
                   "match": {"subject_kind": "actor"}}),
        )
        .await;
        // The tenant's log, and an anomaly stored as the detection job stores it before raising
        // its alerts.
        assert_eq!(app.post_event(&crate::helpers::event("doc.read")).await.status(), StatusCode::CREATED);
        let tenant = TenantId::parse("default").expect("tenant");
        let now = Utc::now();
        let anomaly = NewAnomaly {
            subject: Subject::actor("mallory"),
            window_start: now - chrono::Duration::hours(1),
            window_end: now,
            reason: "actor:mallory/volume".into(),
            score: 0.95,
            severity: AnomalySeverity::High,
            detectors: vec!["zscore".into()],
            features: Vec::new(),
            narrative: "mallory read 40 times more documents than usual".into(),
            event_ids: vec!["ev-1".into()],
        };
        let store = app.db.connect().await;
        store.anomalies.save_anomalies(&tenant, &[anomaly], now).await.expect("save anomaly");

        refuse_alert_writes(&app, true).await;
        let failed = run_job(&app, "anomaly-detection").await;
        assert!(failed["details"]["tenant"]["alerts_error"].is_string(), "{failed}");
        assert!(app.get_json("/api/v1/alerts").await["alerts"].as_array().expect("alerts").is_empty());

        refuse_alert_writes(&app, false).await;
        let retried = run_job(&app, "anomaly-detection").await;
        assert_eq!(retried["details"]["tenant"]["alerts"]["alerts"], json!(1), "{retried}");
        run_job(&app, "anomaly-detection").await;
        let alerts = app.get_json("/api/v1/alerts").await["alerts"].as_array().expect("alerts").clone();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0]["dedup_key"], json!("actor:mallory"));
        let accepted = receiver.wait_accepted(1, 10).await;
        assert!(accepted[0].json["summary"].as_str().is_some_and(|summary| summary.contains("40 times")));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(receiver.captured().len(), 1);
    }
}

/// (attack principals, benign IAM users) of the capture's 60-minute labels.
fn labelled_actors() -> (HashSet<String>, HashSet<String>) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/invictus-aws-stratus/labels/actor_windows_60min.jsonl");
    let (mut bad, mut good) = (HashSet::new(), HashSet::new());
    for line in std::fs::read_to_string(&path).expect("labels").lines() {
        let label: Value = serde_json::from_str(line).expect("label");
        let actor = label["actor"].as_str().expect("actor").to_owned();
        if label["anomalous"] == json!(true) {
            bad.insert(actor)
        } else {
            good.insert(actor)
        };
    }
    good.retain(|actor| !bad.contains(actor) && actor.contains(":user/"));
    (bad, good)
}

#[tokio::test]
async fn invictus_attack_principals_reach_slack_and_email_with_narratives_and_benign_users_do_not() {
    let (attackers, benign) = labelled_actors();
    let slack = Receiver::start(0).await;
    let smtp = SmtpSink::start().await;
    for app in apps(|config| {
        local_targets(config);
        config.alerts.digest_threshold = 1000;
        config.alerts.public_url = "https://veritrail.example".to_owned();
    })
    .await
    {
        let slack_before = slack.accepted().len();
        let mail_before = smtp.messages().len();
        let slack_channel = create(
            &app,
            "/api/v1/alerts/channels",
            json!({"kind": "slack", "name": "#security", "config": {"url": slack.url("/services/T000/B000/XXXX")}}),
        )
        .await["id"]
            .clone();
        let email_channel = create(
            &app,
            "/api/v1/alerts/channels",
            json!({"kind": "email", "name": "security team", "config": {
                "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "tls": "none",
                "from": "Veritrail <alerts@veritrail.example>", "to": ["soc@example.com", "ciso@example.com"]}}),
        )
        .await["id"]
            .clone();
        create(
            &app,
            "/api/v1/alerts/rules",
            json!({"name": "unusual principals", "min_severity": "low", "channels": [slack_channel, email_channel],
                   "match": {"subject_kind": "actor"}}),
        )
        .await;

        import_invictus(&app).await;
        let run = run_job(&app, "anomaly-detection").await;
        let raised = run["details"]["tenant"]["alerts"]["alerts"].as_u64().expect("alerts raised");
        assert!(raised > 0, "{run}");
        run_job(&app, "alert-delivery").await;
        let slack_messages: Vec<Captured> =
            slack.wait_accepted(slack_before + raised as usize, 30).await[slack_before..].to_vec();
        let mut mails = smtp.messages();
        for _ in 0..100 {
            if mails.len() >= mail_before + raised as usize {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            mails = smtp.messages();
        }
        let mails = mails[mail_before..].to_vec();
        assert_eq!(mails.len(), raised as usize, "one e-mail per alert");

        // Slack: Block Kit as Slack documents it (fallback text, header, sections, context).
        let mut slack_subjects = HashSet::new();
        for message in &slack_messages {
            let payload = &message.json;
            assert!(payload["text"].as_str().is_some_and(|text| !text.is_empty()), "{payload}");
            let blocks = payload["blocks"].as_array().expect("blocks");
            assert_eq!(blocks[0]["type"], json!("header"));
            assert_eq!(blocks[0]["text"]["type"], json!("plain_text"));
            for block in blocks {
                let kind = block["type"].as_str().expect("block type");
                assert!(["header", "section", "context", "divider"].contains(&kind), "{block}");
                if kind == "section" {
                    assert!(block.get("text").is_some() || block.get("fields").is_some(), "{block}");
                }
            }
            let title = blocks[0]["text"]["text"].as_str().expect("title");
            let subject = title.strip_prefix("Unusual activity by ").expect("anomaly title").to_owned();
            let whole = payload.to_string();
            assert!(whole.contains("Top features (observed vs expected)"), "narrative and features: {whole}");
            assert!(whole.contains("https://veritrail.example/api/v1/anomalies/"), "link: {whole}");
            slack_subjects.insert(subject);
        }
        // E-mail: subject, recipients, text and HTML parts with the narrative.
        let mut mail_subjects = HashSet::new();
        for mail in &mails {
            assert_eq!(mail["rcpt_tos"], json!(["soc@example.com", "ciso@example.com"]));
            let parsed = &mail["parsed"];
            let subject = parsed["subject"].as_str().expect("subject");
            assert!(subject.starts_with("[Veritrail]["), "{subject}");
            let parts = parsed["parts"].as_array().expect("parts");
            let text = parts.iter().find(|part| part["content_type"] == "text/plain").expect("text part");
            let html = parts.iter().find(|part| part["content_type"] == "text/html").expect("html part");
            assert!(text["text"].as_str().is_some_and(|text| text.contains("Top features")), "{text}");
            assert!(html["text"].as_str().is_some_and(|html| html.contains("<h2>Unusual activity by ")), "{html}");
            let actor = subject.split("Unusual activity by ").nth(1).expect("actor in subject").trim().to_owned();
            mail_subjects.insert(actor);
        }
        assert_eq!(slack_subjects, mail_subjects, "both receivers hear of the same principals");
        // Measured: three attack principals (the attacker's IAM user and two stratus-red-team
        // roles) and the Secrets Manager service principal working on their behalf.
        let alerted_attackers = slack_subjects.iter().filter(|actor| attackers.contains(*actor)).count();
        assert!(alerted_attackers >= 2, "too few attack principals alerted: {slack_subjects:?}");
        let false_alarms: Vec<&String> = slack_subjects.iter().filter(|actor| benign.contains(*actor)).collect();
        assert!(false_alarms.is_empty(), "benign users alerted: {false_alarms:?}");

        let delivered = deliveries(&app, "?status=delivered&limit=1000").await;
        assert_eq!(delivered.len(), 2 * raised as usize);

        // Pages of three, newest first, follow on from each other without gaps or repeats.
        let mut paged = Vec::new();
        let mut query = "?status=delivered&limit=3".to_owned();
        loop {
            let page = app.get_json(&format!("/api/v1/alerts/deliveries{query}")).await;
            paged.extend(page["deliveries"].as_array().expect("page").iter().map(|d| d["id"].clone()));
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("?status=delivered&limit=3&cursor={cursor}"),
                None => break,
            }
        }
        let all: Vec<Value> = delivered.iter().map(|d| d["id"].clone()).collect();
        assert_eq!(paged, all);
        assert_error(
            app.get("/api/v1/alerts/deliveries?cursor=garbage", ADMIN_KEY).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        )
        .await;
    }
}

#[tokio::test]
async fn channels_and_rules_declared_in_the_configuration_are_created_once_and_work() {
    use veritrail_alerts::provision::{ConfiguredChannel, ConfiguredRule};
    let receiver = Receiver::start(0).await;
    let declare = |config: &mut Config, rule_channel: &str| {
        local_targets(config);
        config.alerts.channels = vec![ConfiguredChannel {
            tenant: "default".into(),
            name: "declared-siem".into(),
            kind: veritrail_core::alerting::ChannelKind::Webhook,
            config: json!({"url": receiver.url("/declared"), "secret": WEBHOOK_SECRET}).into(),
        }];
        config.alerts.rules = vec![ConfiguredRule {
            tenant: "default".into(),
            name: "declared denied".into(),
            kind: Some("event".into()),
            min_severity: "high".into(),
            channels: vec![rule_channel.to_owned()],
            match_spec: Some(json!({"outcome": "denied"})),
            cooldown_seconds: None,
            enabled: None,
        }];
    };
    for db in TestDatabase::all().await {
        let url = db.url.clone();
        let app = spawn_app_with(db, |config| declare(config, "declared-siem")).await;
        // A second server on the same database with the same file creates nothing more.
        let (_second, _dir) = start_app(&url, |config| declare(config, "declared-siem")).await;
        let channels = app.get_json("/api/v1/alerts/channels").await["channels"].as_array().expect("list").clone();
        assert_eq!(channels.len(), 1, "{channels:?}");
        assert_eq!(channels[0]["name"], json!("declared-siem"));
        assert!(!channels[0].to_string().contains(WEBHOOK_SECRET));
        let rules = app.get_json("/api/v1/alerts/rules").await["rules"].as_array().expect("list").clone();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["channels"], json!([channels[0]["id"]]));

        let before = receiver.accepted().len();
        assert_eq!(app.post_event(&denied("mallory", "iam.delete_user")).await.status(), StatusCode::CREATED);
        let accepted = receiver.wait_accepted(before + 1, 10).await;
        assert_signed(&accepted[before]);

        // A rule naming a channel that is declared nowhere stops start-up, naming it.
        let data_dir = tempfile::tempdir().expect("data dir");
        let mut config = Config { data_dir: data_dir.path().to_owned(), ..Config::default() };
        config.database.url = url.clone().into();
        config.server.addr = "127.0.0.1:0".to_owned();
        declare(&mut config, "nowhere");
        config.alerts.rules[0].name = "misdeclared".into();
        let error = match veritrail_server::app::Application::build(&config, Some(ADMIN_KEY.to_owned())).await {
            Ok(_) => panic!("start-up must fail"),
            Err(error) => format!("{error:#}"),
        };
        assert!(error.contains("alerts.rules[0]") && error.contains("nowhere"), "{error}");
    }
}

#[tokio::test]
async fn slack_discord_and_teams_channels_send_the_payload_each_service_documents() {
    let receiver = Receiver::start(0).await;
    let app = spawn_app_with(TestDatabase::sqlite(), local_targets).await;
    for kind in ["slack", "discord", "teams"] {
        let body =
            json!({"kind": kind, "name": format!("{kind} ops"), "config": {"url": receiver.url(&format!("/{kind}"))}});
        let id = create(&app, "/api/v1/alerts/channels", body).await["id"].as_str().expect("id").to_owned();
        let tested: Value = app
            .post_json(&format!("/api/v1/alerts/channels/{id}/test"), ADMIN_KEY, &json!({}))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(tested["ok"], json!(true), "{kind}: {tested}");
    }
    let accepted = receiver.wait_accepted(3, 10).await;
    let by_path = |path: &str| accepted.iter().find(|request| request.path == path).expect("request").json.clone();

    // Slack incoming webhook: fallback `text` plus Block Kit `blocks`, header first.
    let slack = by_path("/slack");
    assert!(slack["text"].as_str().is_some_and(|text| text.contains("Test alert")), "{slack}");
    assert_eq!(slack["blocks"][0]["type"], json!("header"));
    assert_eq!(slack["blocks"][0]["text"]["type"], json!("plain_text"));
    // Discord execute-webhook: `content`, `embeds`, and no mention can ping anyone.
    let discord = by_path("/discord");
    assert!(discord["content"].is_string(), "{discord}");
    assert!(discord["embeds"][0]["title"].as_str().is_some_and(|title| title.contains("Test alert")), "{discord}");
    assert_eq!(discord["allowed_mentions"]["parse"], json!([]));
    // Teams: a message carrying one Adaptive Card.
    let teams = by_path("/teams");
    assert_eq!(teams["type"], json!("message"));
    let attachment = &teams["attachments"][0];
    assert_eq!(attachment["contentType"], json!("application/vnd.microsoft.card.adaptive"));
    assert_eq!(attachment["content"]["type"], json!("AdaptiveCard"));
    assert!(attachment["content"]["body"].as_array().is_some_and(|body| !body.is_empty()), "{teams}");
}

#[tokio::test]
async fn a_receiver_that_refuses_connections_gets_the_alert_once_it_is_up() {
    for app in apps(local_targets).await {
        // A port nothing listens on: connections are refused.
        let address = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
        let channel = webhook_channel(&app, &format!("http://{address}/hook")).await;
        event_rule(&app, &[&channel], 0).await;
        assert_eq!(app.post_event(&denied("mallory", "iam.delete_user")).await.status(), StatusCode::CREATED);
        let mut pending = Vec::new();
        for _ in 0..100 {
            pending = deliveries(&app, "?status=pending").await;
            if pending.first().is_some_and(|delivery| delivery["last_error"].is_string()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            run_job(&app, "alert-delivery").await;
        }
        assert_eq!(pending.len(), 1, "still pending after the refused attempt");
        let error = pending[0]["last_error"].as_str().expect("last error");
        assert!(error.contains("retryable"), "{error}");

        let receiver = Receiver::start_on(&address.to_string(), 0, 0).await;
        for _ in 0..100 {
            if !receiver.accepted().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            run_job(&app, "alert-delivery").await;
        }
        run_job(&app, "alert-delivery").await;
        assert_eq!(receiver.captured().len(), 1, "delivered exactly once: {}", receiver.summary());
        assert_signed(&receiver.captured()[0]);
        let delivered = deliveries(&app, "?status=delivered").await;
        assert_eq!(delivered.len(), 1);
        assert!(delivered[0]["attempts"].as_u64().is_some_and(|attempts| attempts >= 2), "{:?}", delivered[0]);
    }
}
