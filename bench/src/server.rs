//! The real `veritrail serve` as a child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const LISTENING: &str = "veritrail listening on http://";

/// A running server. It is killed when this value is dropped (also while unwinding a panic).
pub struct ServerProcess {
    child: Child,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    stderr_path: PathBuf,
}

/// What the server said on stderr (RUST_LOG=warn, so warnings and errors only).
pub struct StderrSummary {
    pub lines: usize,
    pub tail: Vec<String>,
}

impl ServerProcess {
    /// Starts `bin serve` on a free port with these environment variables (e.g. `RUST_LOG`, or
    /// `VERITRAIL__SECTION__KEY` settings) and waits until it listens.
    pub async fn start_with_env(
        bin: &Path,
        data_dir: &Path,
        database_url: &str,
        secret: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let stderr_path = data_dir.join("server.stderr.log");
        let stderr = std::fs::File::create(&stderr_path)?;
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--database-url")
            .arg(database_url)
            .arg("--addr")
            .arg("127.0.0.1:0")
            .env("VERITRAIL_BOOTSTRAP_KEY", secret)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {} serve", bin.display()))?;
        let pid = child.id().context("server exited at once")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let wait_for_address = async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.trim().strip_prefix(LISTENING) {
                    return Ok(Some(format!("http://{addr}")));
                }
            }
            Ok::<_, std::io::Error>(None)
        };
        let found = tokio::time::timeout(Duration::from_secs(120), wait_for_address).await;
        let base_url = match found {
            Ok(Ok(Some(url))) => url,
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child.wait().await.ok();
                bail!(
                    "the server exited ({}) before listening; its stderr:\n{}",
                    status.map_or_else(|| "?".to_owned(), |status| status.to_string()),
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            Err(_) => bail!("the server did not print {LISTENING:?} within 120 s"),
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, pid, base_url, stderr_path })
    }

    /// Asks the server to stop (SIGTERM, graceful), kills it after 15 s.
    pub async fn stop(mut self) -> anyhow::Result<StderrSummary> {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                eprintln!("  server did not stop within 15 s of SIGTERM; killing it");
                self.child.kill().await?;
            }
        }
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().filter(|line| !line.trim().is_empty()).collect();
        let tail = all.iter().rev().take(10).rev().map(|line| (*line).to_owned()).collect();
        Ok(StderrSummary { lines: all.len(), tail })
    }
}

/// `bin --version`, e.g. `veritrail 0.1.0`.
pub fn version(bin: &Path) -> anyhow::Result<String> {
    let output = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .with_context(|| format!("run {} --version", bin.display()))?;
    anyhow::ensure!(output.status.success(), "{} --version failed", bin.display());
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
