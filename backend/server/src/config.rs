//! Configuration: built-in defaults < optional TOML file (`--config`) < `VERITRAIL__SECTION__KEY`
//! environment variables < command-line flags. Loading has no side effects.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use veritrail_api::ApiLimits;
use veritrail_store::StoreSettings;

use crate::secret::{DatabaseUrl, Secret};

/// The whole configuration tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the SQLite file, keys and caches live.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub ingest: IngestConfig,
    pub limits: ApiLimits,
    pub log: LogConfig,
    pub checkpoints: CheckpointConfig,
    pub integrity: IntegrityConfig,
    pub search: SearchConfig,
    pub anomalies: AnomaliesConfig,
    pub alerts: AlertsConfig,
    pub auth: AuthConfig,
    pub reports: ReportsConfig,
    pub background: BackgroundConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            ingest: IngestConfig::default(),
            limits: ApiLimits::default(),
            log: LogConfig::default(),
            checkpoints: CheckpointConfig::default(),
            integrity: IntegrityConfig::default(),
            search: SearchConfig::default(),
            anomalies: AnomaliesConfig::default(),
            alerts: AlertsConfig::default(),
            auth: AuthConfig::default(),
            reports: ReportsConfig::default(),
            background: BackgroundConfig::default(),
        }
    }
}

/// Reports and scheduled reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// When the `reports` job runs (six-field cron): it sends the scheduled reports that are due
    /// and generates reports left pending. Empty: only on demand.
    pub schedule: String,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self { schedule: "30 * * * * *".to_owned() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Listen address, `HOST:PORT`.
    pub addr: String,
    /// The built dashboard (`npm run build` in `frontend/`), served at `/`; empty or missing:
    /// the API only.
    pub dashboard_dir: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { addr: "127.0.0.1:8080".to_owned(), dashboard_dir: PathBuf::from("frontend/dist") }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://...` for PostgreSQL, `sqlite://PATH` for SQLite; empty means
    /// `sqlite://<data_dir>/veritrail.db`. May hold a password: shown redacted.
    pub url: DatabaseUrl,
    pub max_connections: u32,
    /// SQLite only: `full` (every commit reaches the disk; the default) or `normal`.
    pub sqlite_synchronous: SqliteSynchronous,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: DatabaseUrl::default(), max_connections: 16, sqlite_synchronous: SqliteSynchronous::Full }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Most events written in one group commit.
    pub max_group_events: usize,
    /// Most append requests waiting for a commit; beyond it requests get 429.
    pub queue_capacity: usize,
    /// Most of those one tenant may have; beyond it that tenant's requests get 429 while the
    /// others' are still admitted.
    pub max_queued_per_tenant: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let store = StoreSettings::default();
        Self {
            max_group_events: store.max_group_events,
            queue_capacity: store.queue_capacity,
            max_queued_per_tenant: store.max_queued_per_tenant,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `veritrail=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), format: LogFormat::Text }
    }
}

/// Signed checkpoints of the Merkle trees.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Names the log: the signing key's name, and the prefix of every tenant's checkpoint origin
    /// (`<origin>/<tenant>`). No spaces or `+`.
    pub origin: String,
    /// When the `checkpoint` job runs (six-field cron, seconds first; it publishes only when a
    /// tree grew). Empty: only on demand.
    pub schedule: String,
    /// Base64 of the 32-byte Ed25519 seed. Empty: a key is generated on first start and kept in
    /// `<data_dir>/log-key.ed25519`. Replicas sharing one database must share this key.
    pub private_key: Secret,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            origin: "veritrail.local".to_owned(),
            schedule: "0 * * * * *".to_owned(),
            private_key: Secret::default(),
        }
    }
}

/// How background work (search indexing and embedding, event-rule evaluation) yields to ingest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackgroundConfig {
    /// While appends keep coming, each kind of background work pauses after every batch so that
    /// it takes at most this share of one core (0.01 to 1; 1: never pause). It catches up at full
    /// speed once ingest is quiet; `/api/v1/search/status` shows the lag meanwhile.
    pub busy_share: f64,
    /// Ingest counts as quiet this many milliseconds after the last append.
    pub quiet_after_ms: u64,
    /// The longest single pause, in seconds, so background work never stops for long.
    pub max_pause_seconds: u64,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        let defaults = veritrail_core::activity::BackgroundSettings::default();
        Self {
            busy_share: defaults.busy_share,
            quiet_after_ms: u64::try_from(defaults.quiet_after.as_millis()).unwrap_or(500),
            max_pause_seconds: defaults.max_pause.as_secs(),
        }
    }
}

impl BackgroundConfig {
    pub fn settings(&self) -> veritrail_core::activity::BackgroundSettings {
        veritrail_core::activity::BackgroundSettings {
            busy_share: self.busy_share,
            quiet_after: std::time::Duration::from_millis(self.quiet_after_ms),
            max_pause: std::time::Duration::from_secs(self.max_pause_seconds.max(1)),
        }
    }
}

/// The continuous verification job (`integrity-check`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntegrityConfig {
    /// When the job runs (six-field cron, seconds first); each run checks what is new since the
    /// last one (the first run after start-up checks everything). Empty: only on demand.
    pub schedule: String,
    /// Every this many runs the check starts over from seq 0, so an old event changed after it
    /// was verified is found too (default: hourly at the default interval).
    pub full_every_runs: u64,
}

impl Default for IntegrityConfig {
    fn default() -> Self {
        Self { schedule: "30 */5 * * * *".to_owned(), full_every_runs: 12 }
    }
}

/// The `anomaly-detection` job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomaliesConfig {
    /// When the job runs (six-field cron). Empty: only on demand.
    pub schedule: String,
    /// Window length in minutes (60 by default; 5 also works well).
    pub window_minutes: i64,
    /// How far back each actor's usual behaviour is taken from, in days.
    pub history_days: i64,
    /// Anomalies scoring below this (0..1) are not reported.
    pub min_score: f64,
    /// How long a false positive suppresses the same subject and reason, in hours.
    pub false_positive_suppression_hours: i64,
}

impl Default for AnomaliesConfig {
    fn default() -> Self {
        Self {
            schedule: "15 */5 * * * *".to_owned(),
            window_minutes: 60,
            history_days: 14,
            min_score: 0.5,
            false_positive_suppression_hours: 7 * 24,
        }
    }
}

impl AnomaliesConfig {
    /// The detector's configuration.
    pub fn detector(&self) -> veritrail_models::anomaly::AnomalyConfig {
        let mut detector = veritrail_models::anomaly::AnomalyConfig::with_window(chrono::Duration::minutes(
            self.window_minutes.max(1),
        ));
        detector.history = chrono::Duration::days(self.history_days.max(1));
        detector.min_score = self.min_score;
        detector
    }
}

/// Dashboard sign-in and sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// A session unused this long is over, in minutes.
    pub session_idle_minutes: i64,
    /// A session is over this long after sign-in, however active, in hours.
    pub session_max_hours: i64,
    /// Mark the session cookie `Secure`: set it when the dashboard is reached over HTTPS
    /// (directly or through a proxy).
    pub secure_cookie: bool,
    /// Password of the first admin user, created on a database without users; empty: one is
    /// generated and printed once. `VERITRAIL_BOOTSTRAP_PASSWORD` sets it too.
    pub bootstrap_password: Secret,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_idle_minutes: 120,
            session_max_hours: 12,
            secure_cookie: false,
            bootstrap_password: Secret::default(),
        }
    }
}

impl AuthConfig {
    pub fn sessions(&self) -> veritrail_api::auth::SessionSettings {
        veritrail_api::auth::SessionSettings {
            idle: chrono::Duration::minutes(self.session_idle_minutes.max(1)),
            absolute: chrono::Duration::hours(self.session_max_hours.max(1)),
            secure_cookie: self.secure_cookie,
        }
    }
}

/// Alerting: delivery of the outbox, retries, throttling and where alerts may be sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Admit loopback, link-local and private targets (and `http://`, SMTP without TLS): only for
    /// receivers inside a trusted network, and the tests' local receivers.
    pub allow_private_targets: bool,
    /// Targets admitted even though they are private: host names, `*.suffix`, IPs or CIDRs. In
    /// the environment, one comma-separated string.
    #[serde(deserialize_with = "list_or_comma_separated")]
    pub allow_list: Vec<String>,
    /// When the `alert-delivery` job sends due deliveries (six-field cron); new alerts also wake
    /// it at once. Empty: only on demand and on wake-up.
    pub delivery_schedule: String,
    /// When the `event-alerts` job evaluates new events against the event rules (six-field
    /// cron); appends also wake it at once. Empty: only on demand and on wake-up.
    pub event_schedule: String,
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay ceiling in milliseconds; doubles per attempt (full jitter).
    pub retry_base_ms: u64,
    /// Longest retry delay, in seconds.
    pub retry_cap_seconds: u64,
    /// Time limit of one delivery, in seconds.
    pub timeout_seconds: u64,
    /// How long a worker holds a claimed delivery, in seconds (beyond the time limit).
    pub lease_seconds: u64,
    /// Cooldown of rules that name none, and of integrity alerts, in seconds.
    pub default_cooldown_seconds: u64,
    /// More alerts than this from one rule in one evaluation are sent as one digest.
    pub digest_threshold: usize,
    /// Base URL for links in alert messages; empty: relative API paths.
    pub public_url: String,
    /// Base64 of the 32-byte key sealing channel configurations. Empty: generated once into
    /// `<data_dir>/alert-secrets.key` (mode 0600). Replicas sharing a database must share it.
    pub secret_key: Secret,
    /// Channels created through the API may name in `*_env` only environment variables starting
    /// with this prefix (never `VERITRAIL__*` settings); empty: none. Channels declared below may
    /// name any.
    pub secret_env_prefix: String,
    /// Channels created at start-up unless the tenant has one of that name (`[[alerts.channels]]`
    /// with `tenant`, `name`, `kind`, `config`; secrets as `*_env` references).
    pub channels: Vec<veritrail_alerts::provision::ConfiguredChannel>,
    /// Rules created at start-up unless the tenant has one of that name (`[[alerts.rules]]` as
    /// the API's body plus `tenant`; `channels` are channel names).
    pub rules: Vec<veritrail_alerts::provision::ConfiguredRule>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            allow_private_targets: false,
            allow_list: Vec::new(),
            delivery_schedule: "*/10 * * * * *".to_owned(),
            event_schedule: "*/5 * * * * *".to_owned(),
            max_attempts: 8,
            retry_base_ms: 5_000,
            retry_cap_seconds: 3_600,
            timeout_seconds: 10,
            lease_seconds: 120,
            default_cooldown_seconds: 900,
            digest_threshold: 5,
            public_url: String::new(),
            secret_key: Secret::default(),
            secret_env_prefix: veritrail_alerts::DEFAULT_SECRET_ENV_PREFIX.to_owned(),
            channels: Vec::new(),
            rules: Vec::new(),
        }
    }
}

impl AlertsConfig {
    /// The alerting service's settings; refuses a malformed allow-list entry.
    pub fn settings(&self) -> anyhow::Result<veritrail_alerts::AlertSettings> {
        let policy = veritrail_alerts::TargetPolicy::new(self.allow_private_targets, &self.allow_list)
            .map_err(|error| anyhow::anyhow!("alerts.allow_list: {error}"))?;
        let api_env = veritrail_alerts::EnvAccess::tenant(&self.secret_env_prefix)
            .map_err(|error| anyhow::anyhow!("alerts.secret_env_prefix: {error}"))?;
        let seconds = |value: u64| chrono::Duration::seconds(i64::try_from(value).unwrap_or(i64::MAX / 1000));
        let timeout = std::time::Duration::from_secs(self.timeout_seconds.max(1));
        Ok(veritrail_alerts::AlertSettings {
            policy,
            retry: veritrail_alerts::RetryPolicy {
                base: std::time::Duration::from_millis(self.retry_base_ms.max(1)),
                factor: 2,
                cap: std::time::Duration::from_secs(self.retry_cap_seconds.max(1)),
                max_attempts: self.max_attempts.max(1),
            },
            delivery: veritrail_alerts::DeliveryOptions { timeout, ..Default::default() },
            lease: seconds(self.lease_seconds.max(self.timeout_seconds * 2 + 5)),
            claim_batch: 20,
            default_cooldown: seconds(self.default_cooldown_seconds),
            digest_threshold: self.digest_threshold,
            public_url: (!self.public_url.trim().is_empty()).then(|| self.public_url.trim().to_owned()),
            api_env,
        })
    }
}

/// A list from a TOML array, or from one comma-separated string (environment variables).
fn list_or_comma_separated<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::List(list) => list,
        Raw::Text(text) => {
            text.split(',').map(str::trim).filter(|entry| !entry.is_empty()).map(str::to_owned).collect()
        }
    })
}

/// Natural-language search: the `embed-backfill` job, the embedding model and the optional chat
/// model for generated answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// When the `embed-backfill` job runs (six-field cron). Empty: only on demand.
    pub schedule: String,
    pub embedding: EmbeddingConfig,
    pub chat: ChatConfig,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            schedule: "*/5 * * * * *".to_owned(),
            embedding: EmbeddingConfig::default(),
            chat: ChatConfig::default(),
        }
    }
}

/// Where embeddings come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// `local` (all-MiniLM-L6-v2 in-process, the default), `openai` (any OpenAI-compatible
    /// endpoint) or `none` (keyword search only).
    pub provider: EmbeddingProvider,
    /// Local model directory; empty: `$VERITRAIL_MODEL_DIR`, else the user's cache directory
    /// (`veritrail models fetch` puts the files there).
    pub model_dir: String,
    /// OpenAI-compatible endpoint, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`.
    pub base_url: String,
    /// Empty: no `Authorization` header (local servers).
    pub api_key: Secret,
    /// Remote model name, e.g. `text-embedding-3-small`.
    pub model: String,
    /// Send `dimensions: 384` with each request (OpenAI's `text-embedding-3-*` can shorten their
    /// vectors; turn off for endpoints that refuse the field and serve a 384-dimension model).
    pub request_dimensions: bool,
    pub timeout_seconds: u64,
    pub max_retries: u32,
}

impl Default for EmbeddingConfig {
    fn default() -> Self {
        Self {
            provider: EmbeddingProvider::Local,
            model_dir: String::new(),
            base_url: "https://api.openai.com/v1".to_owned(),
            api_key: Secret::default(),
            model: "text-embedding-3-small".to_owned(),
            request_dimensions: true,
            timeout_seconds: 30,
            max_retries: 3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingProvider {
    Local,
    Openai,
    None,
}

/// An optional OpenAI-compatible chat model that writes cited answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Empty: answers are extractive.
    pub base_url: String,
    pub api_key: Secret,
    pub model: String,
    pub timeout_seconds: u64,
    pub max_retries: u32,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            api_key: Secret::default(),
            model: "gpt-4o-mini".to_owned(),
            timeout_seconds: 30,
            max_retries: 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// Loads defaults, then `file` if given, then `VERITRAIL__*` variables from `env`.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Self> {
        let defaults = config::Config::try_from(&Config::default()).context("encode defaults")?;
        let mut builder = config::Config::builder().add_source(defaults);
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "config file {} does not exist", file.display());
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml));
        }
        let variables: config::Map<String, String> =
            env.into_iter().filter(|(name, _)| name.starts_with("VERITRAIL__")).collect();
        builder = builder.add_source(
            config::Environment::with_prefix("VERITRAIL")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(variables)),
        );
        builder.build().context("read configuration")?.try_deserialize().context("invalid configuration")
    }

    /// Returns the database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("veritrail.db").display())
        } else {
            self.database.url.expose().to_owned()
        }
    }

    /// Returns the storage tuning derived from this configuration.
    pub fn store_settings(&self) -> StoreSettings {
        StoreSettings {
            max_connections: self.database.max_connections,
            sqlite_synchronous_full: self.database.sqlite_synchronous == SqliteSynchronous::Full,
            max_group_events: self.ingest.max_group_events,
            queue_capacity: self.ingest.queue_capacity,
            max_queued_per_tenant: self.ingest.max_queued_per_tenant,
        }
    }

    /// Returns the configuration as TOML with secrets redacted (by their types).
    pub fn to_redacted_toml(&self) -> anyhow::Result<String> {
        toml::to_string_pretty(self).context("encode configuration")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    #[test]
    fn defaults_are_sqlite_on_localhost() {
        let config = Config::load(None, env(&[])).expect("load");
        assert_eq!(config.server.addr, "127.0.0.1:8080");
        assert_eq!(config.database_url(), "sqlite://./data/veritrail.db");
        assert_eq!(config.limits.max_batch_events, 1000);
        assert_eq!(config.limits.event.max_details_bytes, 65536);
    }

    #[test]
    fn file_then_environment_override_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("veritrail.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv/vt\"\n[server]\naddr = \"0.0.0.0:9000\"\n[limits]\nmax_batch_events = 50\n",
        )
        .expect("write");
        let config = Config::load(
            Some(&file),
            env(&[
                ("VERITRAIL__SERVER__ADDR", "127.0.0.1:7000"),
                ("VERITRAIL__LIMITS__MAX_DETAILS_BYTES", "1024"),
                ("VERITRAIL__DATABASE__URL", "postgres://u:pw@db/vt"),
                ("VERITRAIL_BOOTSTRAP_KEY", "not configuration"),
            ]),
        )
        .expect("load");
        assert_eq!(config.server.addr, "127.0.0.1:7000");
        assert_eq!(config.data_dir, PathBuf::from("/srv/vt"));
        assert_eq!(config.limits.max_batch_events, 50);
        assert_eq!(config.limits.event.max_details_bytes, 1024);
        assert!(!format!("{config:?}").contains("pw"), "the password must not appear in Debug");
        assert!(!config.to_redacted_toml().expect("toml").contains("pw"));
    }

    #[test]
    fn expensive_route_limits_load_from_file_and_environment_and_zero_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("veritrail.toml");
        std::fs::write(&file, "[limits]\nmax_bundle_events = 500\n[limits.expensive]\nmax_per_caller = 3\n")
            .expect("write");
        let config = Config::load(
            Some(&file),
            env(&[
                ("VERITRAIL__LIMITS__EXPENSIVE__MAX_CONCURRENT", "5"),
                ("VERITRAIL__LIMITS__EXPENSIVE__TIMEOUT_MS", "2500"),
            ]),
        )
        .expect("load");
        assert_eq!(config.limits.max_bundle_events, 500);
        let expensive = &config.limits.expensive;
        assert_eq!((expensive.max_concurrent, expensive.max_per_caller, expensive.timeout_ms), (5, 3, 2500));
        assert!(config.limits.check().is_ok());
        let shown = config.to_redacted_toml().expect("toml");
        assert!(shown.contains("[limits.expensive]") && shown.contains("max_concurrent = 5"), "{shown}");
        let defaults = Config::load(None, env(&[])).expect("load");
        assert_eq!(defaults.limits.max_bundle_events, 100_000);
        assert_eq!(defaults.limits.expensive, veritrail_api::expensive::ExpensiveLimits::default());
        let mut none = config.clone();
        none.limits.expensive.max_per_caller = 0;
        assert!(none.limits.check().expect_err("zero").contains("max_per_caller"));
        none = config;
        none.limits.max_bundle_events = 0;
        assert!(none.limits.check().expect_err("zero").contains("max_bundle_events"));
    }

    #[test]
    fn alert_settings_from_the_environment() {
        let config = Config::load(
            None,
            env(&[
                ("VERITRAIL__ALERTS__ALLOW_PRIVATE_TARGETS", "true"),
                ("VERITRAIL__ALERTS__ALLOW_LIST", "10.0.0.0/8, hooks.internal"),
                ("VERITRAIL__ALERTS__SECRET_KEY", "c2VjcmV0"),
            ]),
        )
        .expect("load");
        assert!(config.alerts.allow_private_targets);
        assert_eq!(config.alerts.allow_list, ["10.0.0.0/8", "hooks.internal"]);
        let settings = config.alerts.settings().expect("settings");
        assert!(settings.policy.allow_private && settings.policy.allow_list.len() == 2);
        assert!(!format!("{config:?}").contains("c2VjcmV0"));
        assert!(!config.to_redacted_toml().expect("toml").contains("c2VjcmV0"));
        let mut bad = config.clone();
        bad.alerts.allow_list = vec!["not a host!".to_owned()];
        assert!(bad.alerts.settings().is_err());
        assert_eq!(settings.api_env, veritrail_alerts::EnvAccess::Prefixed("VERITRAIL_ALERT_".to_owned()));
        // A prefix that would let tenants read the server's own settings is refused at start.
        for prefix in ["VERITRAIL_", "VERITRAIL__", "V", "NO_UNDERSCORE_END", "bad-name_"] {
            let mut exposing = config.clone();
            exposing.alerts.secret_env_prefix = prefix.to_owned();
            let error = exposing.alerts.settings().expect_err(prefix).to_string();
            assert!(error.contains("alerts.secret_env_prefix"), "{prefix}: {error}");
        }
    }

    #[test]
    fn declared_channels_and_rules_load_from_the_file_and_print_redacted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("veritrail.toml");
        std::fs::write(
            &file,
            "[[alerts.channels]]\ntenant = \"default\"\nname = \"sec\"\nkind = \"webhook\"\n\
             config = { url = \"https://hooks.example.com/x\", secret = \"hunter2\" }\n\
             [[alerts.rules]]\ntenant = \"default\"\nname = \"r\"\nmin_severity = \"high\"\nchannels = [\"sec\"]\n\
             match = { subject_kind = \"actor\" }\n",
        )
        .expect("write");
        let config = Config::load(Some(&file), env(&[])).expect("load");
        assert_eq!(config.alerts.channels[0].config.value()["secret"], "hunter2");
        assert_eq!(config.alerts.rules[0].channels, ["sec"]);
        assert_eq!(config.alerts.rules[0].match_spec, Some(serde_json::json!({"subject_kind": "actor"})));
        let shown = config.to_redacted_toml().expect("toml");
        assert!(!shown.contains("hunter2") && !shown.contains("hooks.example.com/x"), "{shown}");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("hooks.example.com/x"), "{debug}");
    }

    #[test]
    fn every_secret_setting_is_hidden_from_debug_and_printed_configuration() {
        let config = Config::load(
            None,
            env(&[
                ("VERITRAIL__DATABASE__URL", "postgres://app:db-pass@db.internal/veritrail"),
                ("VERITRAIL__CHECKPOINTS__PRIVATE_KEY", "log-key-value"),
                ("VERITRAIL__ALERTS__SECRET_KEY", "sealing-key-value"),
                ("VERITRAIL__SEARCH__EMBEDDING__API_KEY", "embedding-key-value"),
                ("VERITRAIL__SEARCH__CHAT__API_KEY", "chat-key-value"),
            ]),
        )
        .expect("load");
        assert_eq!(config.checkpoints.private_key.expose(), "log-key-value");
        assert_eq!(config.search.chat.api_key.expose(), "chat-key-value");
        let shown = format!("{config:?}\n{}", config.to_redacted_toml().expect("toml"));
        for secret in ["db-pass", "log-key-value", "sealing-key-value", "embedding-key-value", "chat-key-value"] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        assert!(shown.contains("db.internal"), "the database host stays visible");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("veritrail.toml");
        std::fs::write(&file, "[server]\nadress = \"typo\"\n").expect("write");
        assert!(Config::load(Some(&file), env(&[])).is_err());
    }
}
