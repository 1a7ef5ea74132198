//! Local stand-ins for the services alerts go to: an HTTP receiver that records every request
//! (and can answer 500 to the first N, as a service that is down), and the real SMTP server
//! `scripts/smtp-sink.py` (aiosmtpd). Shared with `tests/alert_restart.rs`.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One request the receiver got, and what it answered.
#[derive(Debug, Clone)]
pub struct Captured {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub json: Value,
    pub status: u16,
}

impl Captured {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or("")
    }
}

#[derive(Clone, Default)]
struct Shared {
    captured: Arc<Mutex<Vec<Captured>>>,
    /// Requests still to be refused with 500.
    failing: Arc<AtomicUsize>,
    /// Requests still to be held without an answer (a receiver that hangs).
    hanging: Arc<AtomicUsize>,
}

/// Recorded as the status of a request that was never answered.
pub const NO_ANSWER: u16 = 0;

/// An HTTP receiver on a loopback port.
pub struct Receiver {
    pub base: String,
    shared: Shared,
}

impl Receiver {
    /// Starts a receiver that answers 500 to the first `fail_first` requests, then 200.
    pub async fn start(fail_first: usize) -> Self {
        Self::start_with(fail_first, 0).await
    }

    /// Starts a receiver that holds the first `hang_first` requests without answering (for a
    /// minute), then answers 500 to the next `fail_first`, then 200.
    pub async fn start_with(fail_first: usize, hang_first: usize) -> Self {
        Self::start_on("127.0.0.1:0", fail_first, hang_first).await
    }

    /// Starts a receiver on `addr` (a port that was free, to bring a "down" receiver up).
    pub async fn start_on(addr: &str, fail_first: usize, hang_first: usize) -> Self {
        let shared = Shared::default();
        shared.failing.store(fail_first, Ordering::SeqCst);
        shared.hanging.store(hang_first, Ordering::SeqCst);
        let app = axum::Router::new().fallback(record).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind receiver");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn captured(&self) -> Vec<Captured> {
        self.shared.captured.lock().expect("lock").clone()
    }

    /// Requests answered with 2xx.
    pub fn accepted(&self) -> Vec<Captured> {
        self.captured().into_iter().filter(|captured| (200..300).contains(&captured.status)).collect()
    }

    /// Waits until `count` requests were accepted (or panics after `seconds`).
    pub async fn wait_accepted(&self, count: usize, seconds: u64) -> Vec<Captured> {
        for _ in 0..seconds * 20 {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver accepted {} of {count} requests: {}", self.accepted().len(), self.summary());
    }

    /// `path -> status` of every request, for failure messages.
    pub fn summary(&self) -> String {
        let lines: Vec<String> =
            self.captured().iter().map(|captured| format!("{} -> {}", captured.path, captured.status)).collect();
        lines.join(", ")
    }
}

async fn record(
    State(shared): State<Shared>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let take =
        |counter: &AtomicUsize| counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
    if take(&shared.hanging) {
        shared.captured.lock().expect("lock").push(Captured {
            path: uri.path().to_owned(),
            headers,
            json: serde_json::from_slice(&body).unwrap_or(Value::Null),
            body: body.to_vec(),
            status: NO_ANSWER,
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        return (StatusCode::SERVICE_UNAVAILABLE, "too late");
    }
    let failing = take(&shared.failing);
    let status = if failing { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
    shared.captured.lock().expect("lock").push(Captured {
        path: uri.path().to_owned(),
        headers,
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        body: body.to_vec(),
        status: status.as_u16(),
    });
    (status, if failing { "down" } else { "ok" })
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

/// The Python that has aiosmtpd: `VERITRAIL_TEST_SMTP_PYTHON`, else the venv of
/// `scripts/smtp-env.sh`. The tests fail (never skip) when there is none.
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
            assert!(output.status.success(), "{} failed: the e-mail tests need aiosmtpd", script.display());
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        })
        .clone()
}

/// A running plain-text smtp-sink.py; killed when dropped.
pub struct SmtpSink {
    _child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(python())
            .arg(scripts_dir().join("smtp-sink.py"))
            .args(["127.0.0.1", "0"])
            .arg(dir.path().join("mail"))
            .args(["--tls", "none"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start smtp-sink.py: {error}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).read_line(&mut line)).await;
        assert!(matches!(read, Ok(Ok(n)) if n > 0), "smtp-sink.py did not report READY ({line:?})");
        let port = line.trim().strip_prefix("READY ").and_then(|port| port.parse().ok());
        Self { _child: child, port: port.unwrap_or_else(|| panic!("unexpected line {line:?}")), dir }
    }

    /// The raw bytes of message `n` (counting from 1), as received.
    pub fn raw(&self, n: usize) -> Vec<u8> {
        std::fs::read(self.dir.path().join("mail").join(format!("{n}.eml"))).expect("message file")
    }

    /// The sink's metadata (envelope and parsed message) of every message received, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mail_dir = self.dir.path().join("mail");
        (1..)
            .map_while(|n| std::fs::read(mail_dir.join(format!("{n}.json"))).ok())
            .map(|meta| serde_json::from_slice(&meta).expect("sink writes JSON"))
            .collect()
    }
}
