//! E-mail deliveries to a real SMTP server: `scripts/smtp-sink.py` (aiosmtpd), started per test.
//!
//! The Python comes from `VERITRAIL_TEST_SMTP_PYTHON`, else from `scripts/smtp-env.sh` (which
//! creates a cached venv with aiosmtpd). If neither works the tests fail; they never skip.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use veritrail_alerts::channel::ChannelConfig;
use veritrail_alerts::deliver::{DeliveryOptions, deliver, deliver_with};
use veritrail_alerts::ssrf::TargetPolicy;

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

/// The Python that has aiosmtpd, found once per test binary.
fn python() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("VERITRAIL_TEST_SMTP_PYTHON") {
                return PathBuf::from(path);
            }
            let script = scripts_dir().join("smtp-env.sh");
            let output = std::process::Command::new("bash")
                .arg(&script)
                .stderr(Stdio::inherit())
                .output()
                .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
            assert!(
                output.status.success(),
                "{} failed ({}): the e-mail tests need a Python with aiosmtpd; \
                 set VERITRAIL_TEST_SMTP_PYTHON or fix the script's error above",
                script.display(),
                output.status
            );
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        })
        .clone()
}

/// A running smtp-sink.py; killed when dropped.
struct Sink {
    _child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Sink {
    async fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mail_dir = dir.path().join("mail");
        let mut child = Command::new(python())
            .arg(scripts_dir().join("smtp-sink.py"))
            .args(["127.0.0.1", "0"])
            .arg(&mail_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start smtp-sink.py with {}: {error}", python().display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).read_line(&mut line)).await;
        assert!(matches!(read, Ok(Ok(n)) if n > 0), "smtp-sink.py did not report READY (got {line:?}, {read:?})");
        let port = line.trim().strip_prefix("READY ").and_then(|port| port.parse().ok());
        let port = port.unwrap_or_else(|| panic!("unexpected first line from smtp-sink.py: {line:?}"));
        Self { _child: child, port, dir }
    }

    /// (metadata with the sink's own parse, raw .eml) of every message received, in order.
    fn messages(&self) -> Vec<(Value, String)> {
        let mail_dir = self.dir.path().join("mail");
        (1..)
            .map_while(|n| {
                let meta = std::fs::read(mail_dir.join(format!("{n}.json"))).ok()?;
                let eml = std::fs::read(mail_dir.join(format!("{n}.eml"))).expect(".eml is written before .json");
                Some((
                    serde_json::from_slice(&meta).expect("sink writes JSON"),
                    String::from_utf8_lossy(&eml).into_owned(),
                ))
            })
            .collect()
    }
}

struct TestCert {
    pem: String,
    cert_path: PathBuf,
    key_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// A self-signed certificate for `names`, written where the sink can read it.
fn certificate(names: &[&str]) -> TestCert {
    let generated = rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .expect("generate certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    let pem = generated.cert.pem();
    std::fs::write(&cert_path, &pem).expect("write cert");
    std::fs::write(&key_path, generated.signing_key.serialize_pem()).expect("write key");
    TestCert { pem, cert_path, key_path, _dir: dir }
}

fn channel(host: &str, port: u16, tls: &str, credentials: Option<(&str, &str)>) -> ChannelConfig {
    let mut config = json!({
        "smtp_host": host, "smtp_port": port, "tls": tls,
        "from": "Veritrail <alerts@veritrail.example>",
        "to": ["sec@example.com", "Ops Team <ops@example.com>"],
    });
    if let Some((user, password)) = credentials {
        config["username"] = json!(user);
        config["password"] = json!(password);
    }
    serde_json::from_value(json!({"kind": "email", "config": config})).expect("valid email config")
}

fn private() -> TargetPolicy {
    TargetPolicy { allow_private: true, allow_list: vec![] }
}

fn trusting(cert: &TestCert) -> DeliveryOptions {
    DeliveryOptions { extra_root_certs_pem: vec![cert.pem.clone().into_bytes()], ..DeliveryOptions::default() }
}

fn part<'a>(parsed: &'a Value, content_type: &str) -> &'a str {
    parsed["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|part| part["content_type"] == content_type)
        .and_then(|part| part["text"].as_str())
        .unwrap_or_else(|| panic!("no {content_type} part in {parsed}"))
}

#[tokio::test]
async fn plain_smtp_delivers_both_parts_to_every_recipient() {
    let sink = Sink::start(&["--tls", "none"]).await;
    let receipt = deliver(&channel("127.0.0.1", sink.port, "none", None), &support::sample(), "dlv-7f3a", &private())
        .await
        .expect("delivered");
    assert_eq!(receipt.status, 250);
    assert!(receipt.detail.contains("accepted"), "{receipt:?}");

    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let (meta, eml) = &messages[0];
    assert_eq!(meta["mail_from"], "alerts@veritrail.example");
    assert_eq!(meta["rcpt_tos"], json!(["sec@example.com", "ops@example.com"]));
    assert_eq!(meta["tls"], false);
    let parsed = &meta["parsed"];
    assert_eq!(parsed["subject"], "[Veritrail][HIGH] Unusual export volume by alice");
    assert_eq!(parsed["from"], "Veritrail <alerts@veritrail.example>");
    assert_eq!(parsed["to"], json!(["sec@example.com", "Ops Team <ops@example.com>"]));
    assert_eq!(parsed["content_type"], "multipart/alternative");
    assert_eq!(parsed["message_id"], "<dlv-7f3a.alert@veritrail.example>");
    assert_eq!(parsed["headers"]["X-Veritrail-Delivery"], "dlv-7f3a");

    let text = part(parsed, "text/plain");
    assert!(text.contains("alice exported 4,210 customer records"), "{text}");
    assert!(text.contains("Score: 0.97") && text.contains("Window: 2026-03-01 10:00:00 – 11:00:00 UTC"), "{text}");
    assert!(text.contains("View 2 events in Veritrail: https://veritrail.example/events?ids="), "{text}");
    let html = part(parsed, "text/html");
    assert!(html.contains("<h2>Unusual export volume by alice</h2>"), "{html}");
    assert!(html.contains("<a href=\"https://veritrail.example/events?ids="), "{html}");
    assert!(eml.contains("multipart/alternative"));
}

#[tokio::test]
async fn html_part_escapes_hostile_text() {
    let sink = Sink::start(&["--tls", "none"]).await;
    deliver(&channel("127.0.0.1", sink.port, "none", None), &support::hostile(), "d1", &private())
        .await
        .expect("delivered");
    let (meta, _) = &sink.messages()[0];
    let html = part(&meta["parsed"], "text/html");
    assert!(!html.contains("<script>") && !html.contains("<b>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(meta["parsed"]["subject"].as_str().expect("subject").starts_with("[Veritrail][HIGH] @everyone"));
}

#[tokio::test]
async fn starttls_with_login_and_a_trusted_certificate() {
    let cert = certificate(&["localhost", "127.0.0.1"]);
    let cert_arg = cert.cert_path.to_str().expect("utf-8 path");
    let key_arg = cert.key_path.to_str().expect("utf-8 path");
    let sink =
        Sink::start(&["--tls", "starttls", "--cert", cert_arg, "--key", key_arg, "--auth", "alerts:s3cret"]).await;
    let config = channel("localhost", sink.port, "starttls", Some(("alerts", "s3cret")));
    let receipt = deliver_with(&config, &support::sample(), "d2", &private(), &trusting(&cert), &|_| None)
        .await
        .expect("delivered over STARTTLS");
    assert_eq!(receipt.status, 250);
    let (meta, _) = &sink.messages()[0];
    assert_eq!(meta["tls"], true);
    assert_eq!(meta["auth_login"], "alerts");
    assert_eq!(meta["parsed"]["subject"], "[Veritrail][HIGH] Unusual export volume by alice");
}

#[tokio::test]
async fn implicit_tls_with_login() {
    let cert = certificate(&["localhost", "127.0.0.1"]);
    let cert_arg = cert.cert_path.to_str().expect("utf-8 path");
    let key_arg = cert.key_path.to_str().expect("utf-8 path");
    let sink = Sink::start(&["--tls", "tls", "--cert", cert_arg, "--key", key_arg, "--auth", "alerts:s3cret"]).await;
    let config = channel("localhost", sink.port, "tls", Some(("alerts", "s3cret")));
    deliver_with(&config, &support::sample(), "d3", &private(), &trusting(&cert), &|_| None)
        .await
        .expect("delivered over TLS");
    let (meta, _) = &sink.messages()[0];
    assert_eq!(meta["tls"], true);
    assert_eq!(meta["auth_login"], "alerts");
}

#[tokio::test]
async fn untrusted_or_mismatched_certificates_are_refused() {
    let cert = certificate(&["localhost", "127.0.0.1"]);
    let cert_arg = cert.cert_path.to_str().expect("utf-8 path");
    let key_arg = cert.key_path.to_str().expect("utf-8 path");
    let sink = Sink::start(&["--tls", "tls", "--cert", cert_arg, "--key", key_arg]).await;

    let error = deliver(&channel("localhost", sink.port, "tls", None), &support::sample(), "d4", &private())
        .await
        .expect_err("self-signed certificate is not trusted by default");
    assert!(!error.retryable, "{error}");

    let other = certificate(&["mail.other.example"]);
    let error = deliver_with(
        &channel("localhost", sink.port, "tls", None),
        &support::sample(),
        "d5",
        &private(),
        &trusting(&other),
        &|_| None,
    )
    .await
    .expect_err("a certificate for another name is refused");
    assert!(!error.retryable, "{error}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn starttls_never_falls_back_to_plain_text() {
    let sink = Sink::start(&["--tls", "none"]).await;
    let error = deliver(&channel("127.0.0.1", sink.port, "starttls", None), &support::sample(), "d6", &private())
        .await
        .expect_err("server without STARTTLS");
    assert!(!error.retryable, "{error}");
    assert!(sink.messages().is_empty(), "nothing may be sent in clear text");
}

#[tokio::test]
async fn wrong_password_is_permanent() {
    let cert = certificate(&["localhost", "127.0.0.1"]);
    let cert_arg = cert.cert_path.to_str().expect("utf-8 path");
    let key_arg = cert.key_path.to_str().expect("utf-8 path");
    let sink = Sink::start(&["--tls", "tls", "--cert", cert_arg, "--key", key_arg, "--auth", "alerts:s3cret"]).await;
    let config = channel("localhost", sink.port, "tls", Some(("alerts", "wrong")));
    let error = deliver_with(&config, &support::sample(), "d7", &private(), &trusting(&cert), &|_| None)
        .await
        .expect_err("bad login");
    assert!(!error.retryable, "{error}");
    assert_eq!(error.status, Some(535), "{error}");
    assert!(!error.message.contains("wrong"), "the password must not appear: {error}");
}

#[tokio::test]
async fn smtp_host_is_checked_by_the_target_policy() {
    let sink = Sink::start(&["--tls", "none"]).await;
    let config = channel("localhost", sink.port, "starttls", None);
    let error =
        deliver(&config, &support::sample(), "d8", &TargetPolicy::strict()).await.expect_err("loopback refused");
    assert!(!error.retryable && error.message.contains("localhost is not an allowed destination"), "{error}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_dead_smtp_port_is_retryable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let error = deliver(&channel("127.0.0.1", port, "none", None), &support::sample(), "d9", &private())
        .await
        .expect_err("nobody listens");
    assert!(error.retryable, "{error}");
}
