//! `veritrail witness`: an independent party's check that the log is append-only.
//!
//! The witness keeps the last checkpoint it accepted in a state file. Each new signed checkpoint
//! must verify with the log's key and be provably consistent with the stored one (an RFC 9162
//! consistency proof, checked against the *signed* roots, never against roots the server merely
//! states). A smaller tree, a different root at the same size (a split view) or a failed proof
//! means the operator rewrote history: the witness stops with a loud error and a non-zero exit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use veritrail_core::checkpoint::{Checkpoint, NoteVerifier};
use veritrail_core::hash::Hash;
use veritrail_core::merkle::verify_consistency;

/// What the witness remembers between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessState {
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: Hash,
    pub note: String,
}

/// Outcome of one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// The first checkpoint seen; trusted on first use.
    First(u64),
    Unchanged(u64),
    /// The log grew from the first size to the second, consistently.
    Grew(u64, u64),
}

/// A witness of one log (one tenant).
pub struct Witness {
    pub base_url: String,
    pub api_key: Option<String>,
    pub verifier: NoteVerifier,
    pub state_file: PathBuf,
    pub client: reqwest::Client,
}

/// The failure that must never happen: evidence that history was rewritten.
#[derive(Debug, thiserror::Error)]
#[error("WITNESS ALERT: {0}")]
pub struct Alarm(pub String);

impl Witness {
    async fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let mut request = self.client.get(format!("{}{path}", self.base_url.trim_end_matches('/')));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let body = response.text().await.with_context(|| format!("read {path}"))?;
        if !status.is_success() {
            bail!("GET {path} answered {status}: {body}");
        }
        serde_json::from_str(&body).with_context(|| format!("GET {path}: not JSON"))
    }

    /// Fetches the latest checkpoint, checks it, and records it. An [`Alarm`] in the error chain
    /// means history was rewritten; other errors are transport problems worth retrying.
    pub async fn poll(&self) -> anyhow::Result<Observation> {
        let latest = self.get_json("/api/v1/checkpoints/latest").await?;
        let note = latest["note"].as_str().context("the server's checkpoint has no note")?.to_owned();
        let checkpoint = self
            .verifier
            .verify(&note)
            .map_err(|err| Alarm(format!("the latest checkpoint does not verify with the log key: {err}")))?;
        let previous = load_state(&self.state_file)?;
        let observation = match &previous {
            None => Observation::First(checkpoint.tree_size),
            Some(previous) => self.check_against(previous, &checkpoint).await?,
        };
        if !matches!(observation, Observation::Unchanged(_)) {
            save_state(
                &self.state_file,
                &WitnessState {
                    origin: checkpoint.origin,
                    tree_size: checkpoint.tree_size,
                    root_hash: checkpoint.root_hash,
                    note,
                },
            )?;
        }
        Ok(observation)
    }

    async fn check_against(&self, previous: &WitnessState, current: &Checkpoint) -> anyhow::Result<Observation> {
        if current.origin != previous.origin {
            return Err(
                Alarm(format!("the log's origin changed from {} to {}", previous.origin, current.origin)).into()
            );
        }
        if current.tree_size < previous.tree_size {
            return Err(Alarm(format!(
                "the log shrank from {} to {} events: history was truncated or rewritten",
                previous.tree_size, current.tree_size
            ))
            .into());
        }
        if current.tree_size == previous.tree_size {
            if current.root_hash != previous.root_hash {
                return Err(Alarm(format!(
                    "split view: two different signed roots for tree size {} ({} and {})",
                    current.tree_size, previous.root_hash, current.root_hash
                ))
                .into());
            }
            return Ok(Observation::Unchanged(current.tree_size));
        }
        let proof = self
            .get_json(&format!("/api/v1/proofs/consistency?first={}&second={}", previous.tree_size, current.tree_size))
            .await?;
        let hashes: Vec<Hash> = proof["hashes"]
            .as_array()
            .context("the consistency proof has no hashes")?
            .iter()
            .map(|hash| hash.as_str().and_then(Hash::from_hex).context("a proof hash is not 64 hex digits"))
            .collect::<anyhow::Result<_>>()?;
        if !verify_consistency(previous.tree_size, current.tree_size, &previous.root_hash, &current.root_hash, &hashes)
        {
            return Err(Alarm(format!(
                "the checkpoint of size {} is not consistent with the one of size {} this witness saw: history was rewritten",
                current.tree_size, previous.tree_size
            ))
            .into());
        }
        Ok(Observation::Grew(previous.tree_size, current.tree_size))
    }

    /// Polls every `interval` until an alarm (returned as an error) or, with `once`, after one poll.
    pub async fn run(&self, interval: Duration, once: bool) -> anyhow::Result<()> {
        loop {
            match self.poll().await {
                Ok(Observation::First(size)) => {
                    println!("witness: trusting the first checkpoint seen, tree size {size}")
                }
                Ok(Observation::Unchanged(size)) => tracing::debug!(size, "no new checkpoint"),
                Ok(Observation::Grew(from, to)) => println!("witness: tree grew consistently from {from} to {to}"),
                Err(err) if err.downcast_ref::<Alarm>().is_some() || once => return Err(err),
                Err(err) => tracing::warn!(error = %format!("{err:#}"), "witness poll failed; will retry"),
            }
            if once {
                return Ok(());
            }
            tokio::time::sleep(interval).await;
        }
    }
}

fn load_state(path: &Path) -> anyhow::Result<Option<WitnessState>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).with_context(|| format!("witness state {} is corrupt", path.display()))?,
        )),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("read witness state {}", path.display())),
    }
}

/// Replaces the state file atomically (write a temporary file, sync, rename).
fn save_state(path: &Path, state: &WitnessState) -> anyhow::Result<()> {
    let temporary = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(state)?;
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&temporary).with_context(|| format!("write {}", temporary.display()))?;
        file.write_all(&bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&temporary, path).with_context(|| format!("replace {}", path.display()))
}
