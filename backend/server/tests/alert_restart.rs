//! The alert outbox across a real crash: `veritrail serve` is killed (SIGKILL) while a webhook
//! delivery is in flight, a new server starts on the same database and data directory, and the
//! alert arrives exactly once more — the delivery is not lost, and not sent twice by the new
//! server. SQLite always, PostgreSQL when `VERITRAIL_TEST_PG_URL` is set.

#[path = "api/receivers.rs"]
mod receivers;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use veritrail_store::testing::TestDatabase;

use receivers::{NO_ANSWER, Receiver};

const BIN: &str = env!("CARGO_BIN_EXE_veritrail");
const ADMIN_KEY: &str = "vt_9cc668a1c7d1932d4a9620a3716ddcc7ee44207467e04d7f";
const LISTENING: &str = "veritrail listening on ";

/// Starts `veritrail serve` on `database_url` with `work_dir/data`, alerts to loopback allowed,
/// a 2 s delivery time limit (so the lease is 9 s) and deliveries every second.
async fn serve(database_url: &str, work_dir: &Path) -> (Child, String) {
    let mut command = Command::new(BIN);
    command.current_dir(work_dir).env_remove("VERITRAIL_CONFIG").env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("VERITRAIL__") {
            command.env_remove(name);
        }
    }
    let log = std::fs::File::create(work_dir.join(format!("serve-{}.log", nanos()))).expect("log file");
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--database-url", database_url, "--data-dir"])
        .arg(work_dir.join("data"))
        .env("VERITRAIL_BOOTSTRAP_KEY", ADMIN_KEY)
        .env("VERITRAIL__ALERTS__ALLOW_PRIVATE_TARGETS", "true")
        .env("VERITRAIL__ALERTS__TIMEOUT_SECONDS", "2")
        // Raised to the floor of twice the time limit plus 5 s: 9 s.
        .env("VERITRAIL__ALERTS__LEASE_SECONDS", "5")
        .env("VERITRAIL__ALERTS__DELIVERY_SCHEDULE", "* * * * * *")
        .env("VERITRAIL__SEARCH__SCHEDULE", "")
        .env("VERITRAIL__ANOMALIES__SCHEDULE", "")
        .env("VERITRAIL__SEARCH__EMBEDDING__PROVIDER", "none")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true);
    let mut child = command.spawn().expect("spawn veritrail serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(base) = line.strip_prefix(LISTENING) {
                return base.trim().to_owned();
            }
        }
        panic!("veritrail serve exited before listening (see {})", work_dir.display());
    })
    .await
    .expect("veritrail serve did not start within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

async fn post(client: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    let response =
        client.post(format!("{base}{path}")).bearer_auth(ADMIN_KEY).json(&body).send().await.expect("request");
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path}: {status} {answer}");
    answer
}

#[tokio::test]
async fn a_delivery_in_flight_when_the_server_is_killed_arrives_once_after_restart() {
    for db in TestDatabase::all().await {
        let work_dir = tempfile::tempdir().expect("work dir");
        // The first request is held unanswered: the server is killed while it waits.
        let receiver = Receiver::start_with(0, 1).await;
        let client = reqwest::Client::new();
        let (mut first, base) = serve(&db.url, work_dir.path()).await;
        let channel = post(
            &client,
            &base,
            "/api/v1/alerts/channels",
            json!({"kind": "webhook", "name": "siem", "config": {"url": receiver.url("/hook"), "secret": "s3cret"}}),
        )
        .await["id"]
            .clone();
        post(
            &client,
            &base,
            "/api/v1/alerts/rules",
            json!({"name": "denied", "kind": "event", "min_severity": "high", "channels": [channel], "match": {"outcome": "denied"}}),
        )
        .await;
        post(
            &client,
            &base,
            "/api/v1/events",
            json!({"actor": {"id": "mallory", "type": "user"}, "action": "iam.delete_user", "outcome": "denied", "severity": "high"}),
        )
        .await;
        for _ in 0..200 {
            if !receiver.captured().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let in_flight = receiver.captured();
        assert_eq!(in_flight.len(), 1, "the delivery reached the receiver");
        assert_eq!(in_flight[0].status, NO_ANSWER);
        first.kill().await.expect("kill -9 the first server");

        let (_second, base) = serve(&db.url, work_dir.path()).await;
        let accepted = receiver.wait_accepted(1, 30).await;
        assert_eq!(accepted[0].header("X-Veritrail-Delivery"), in_flight[0].header("X-Veritrail-Delivery"));
        // Several more scheduled runs: nothing is sent again.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(receiver.captured().len(), 2, "{}", receiver.summary());

        let response = client
            .get(format!("{base}/api/v1/alerts/deliveries"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("deliveries");
        assert_eq!(response.status(), StatusCode::OK);
        let listed: Value = response.json().await.expect("json");
        let delivery = &listed["deliveries"][0];
        assert_eq!(delivery["status"], json!("delivered"), "{listed}");
        assert_eq!(delivery["attempts"], json!(2), "the killed attempt counts: {listed}");
    }
}
