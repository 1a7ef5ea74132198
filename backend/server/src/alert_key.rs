//! The key that seals alert channel configurations at rest: from configuration
//! (`alerts.secret_key`), or generated once into `<data_dir>/alert-secrets.key` (mode 0600,
//! created atomically as the log key is). Losing it makes stored channels unusable (they must be
//! created again); it never makes them readable.

use anyhow::Context;
use veritrail_alerts::secret_box::SecretBox;

use crate::config::Config;
use crate::log_key::{decode_seed, load_or_create_seed};

/// File name of the generated key inside the data directory.
pub const KEY_FILE: &str = "alert-secrets.key";

/// The configured key, or the one in the data directory (created on first use).
pub fn load_secret_box(config: &Config) -> anyhow::Result<SecretBox> {
    let key = if config.alerts.secret_key.is_empty() {
        load_or_create_seed(&config.data_dir.join(KEY_FILE))?
    } else {
        decode_seed(config.alerts.secret_key.expose()).context("alerts.secret_key")?
    };
    Ok(SecretBox::new(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_key_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config { data_dir: dir.path().to_owned(), ..Config::default() };
        let sealed = load_secret_box(&config).expect("create").seal("acme", "c1", b"secret");
        let reopened = load_secret_box(&config).expect("reload").open("acme", "c1", &sealed).expect("same key");
        assert_eq!(reopened, b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).expect("key file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut configured = config.clone();
        configured.alerts.secret_key = "short".into();
        assert!(load_secret_box(&configured).is_err());
    }
}
