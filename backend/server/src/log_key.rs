//! The log's Ed25519 signing key: from configuration, or generated once and kept in the data
//! directory (readable by its owner only).

use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use veritrail_core::checkpoint::LogSigner;
use veritrail_core::transparency::LogIdentity;

use crate::config::Config;

/// File name of the generated key inside the data directory.
pub const KEY_FILE: &str = "log-key.ed25519";

/// Returns the configured key, or the one in the data directory, creating it on first use.
pub fn load_identity(config: &Config) -> anyhow::Result<LogIdentity> {
    let seed = if config.checkpoints.private_key.is_empty() {
        load_or_create_seed(&config.data_dir.join(KEY_FILE))?
    } else {
        decode_seed(config.checkpoints.private_key.expose()).context("checkpoints.private_key")?
    };
    let signer = LogSigner::from_seed(&config.checkpoints.origin, seed).context("checkpoints.origin")?;
    Ok(LogIdentity { signer })
}

pub(crate) fn decode_seed(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = STANDARD.decode(text.trim()).context("not base64")?;
    bytes.try_into().map_err(|bytes: Vec<u8>| anyhow::anyhow!("expected 32 bytes, got {}", bytes.len()))
}

/// Reads a base64 32-byte secret from `path`, creating it (0600, atomically) on first use; also
/// the alert secret-sealing key's store.
pub(crate) fn load_or_create_seed(path: &Path) -> anyhow::Result<[u8; 32]> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode_seed(&text).with_context(|| format!("read key {}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|err| anyhow::anyhow!("no randomness available: {err}"))?;
            if let Some(dir) = path.parent() {
                create_private_dir(dir)?;
            }
            if publish_private(path, &STANDARD.encode(seed))? {
                tracing::info!(path = %path.display(), "generated a new key");
                Ok(seed)
            } else {
                // Another process starting on the same data directory created it first.
                load_or_create_seed(path)
            }
        }
        Err(err) => bail!("read key {}: {err}", path.display()),
    }
}

/// Creates `dir` and any missing parents only their owner can enter (0700): the data directory
/// holds the SQLite database and the keys. An existing directory is left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).with_context(|| format!("create directory {}", dir.display()))
}

/// Writes `text` to a new file only its owner can read, appearing at `path` complete or not at
/// all: written and synced under a temporary name, then hard-linked into place, which fails if
/// `path` exists. Returns `false` when another process got there first; an existing key is never
/// overwritten.
fn publish_private(path: &Path, text: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    let temporary = path.with_extension(format!("tmp-{}", uuid::Uuid::now_v7().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary).with_context(|| format!("create {}", temporary.display()))?;
    file.write_all(format!("{text}\n").as_bytes())?;
    file.sync_all()?;
    drop(file);
    let linked = std::fs::hard_link(&temporary, path);
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err).with_context(|| format!("create key {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
        let first = load_identity(&config).expect("create");
        let second = load_identity(&config).expect("reload");
        assert_eq!(first.signer.public_key(), second.signer.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).expect("key file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_configured_key_wins_and_bad_ones_are_refused() {
        let mut config = Config::default();
        config.checkpoints.private_key = STANDARD.encode([5u8; 32]).into();
        let identity = load_identity(&config).expect("configured");
        assert_eq!(identity.signer.public_key(), LogSigner::from_seed("x", [5u8; 32]).expect("signer").public_key());
        config.checkpoints.private_key = "not base64!".into();
        assert!(load_identity(&config).is_err());
        config.checkpoints.private_key = STANDARD.encode([5u8; 31]).into();
        assert!(load_identity(&config).is_err());
    }
}
