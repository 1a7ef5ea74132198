//! [`Alerting`]: the alerting service the API, the jobs and ingest share. It owns the store port,
//! the key that seals channel secrets, the target policy and the worker's wake-up signal.
//!
//! - channels ([`Alerting::create_channel`], [`Alerting::test_channel`]) — this file;
//! - raising alerts from anomalies, events and integrity failures — [`crate::raise`];
//! - delivering the outbox — [`crate::outbox`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::Notify;
use veritrail_core::alerting::{
    AlertError, AlertStore, ChannelSummary, DeliveryStatus, RuleKind, StoredChannel, StoredRule,
};
use veritrail_core::anomalies::AnomalyStore;
use veritrail_core::event::TenantId;
use veritrail_core::store::StoreError;

use crate::backoff::{RetryPolicy, SplitMix64};
use crate::channel::{ChannelConfig, EnvAccess, NewChannel};
use crate::deliver::{DeliveryOptions, check_target};
use crate::secret_box::SecretBox;
use crate::ssrf::TargetPolicy;

/// How long a tenant's event rules are reused without reading them again, so the evaluator does
/// not read the rule table on every wake-up. Rule writes through this server take effect at once;
/// through another replica, within this time.
pub const EVENT_RULES_TTL: Duration = Duration::from_secs(5);

/// A tenant's enabled event rules and when they were read.
type CachedRules = (Instant, Arc<Vec<StoredRule>>);

/// The default `alerts.secret_env_prefix`: the variables an operator sets for tenants' channels.
pub const DEFAULT_SECRET_ENV_PREFIX: &str = "VERITRAIL_ALERT_";

/// A channel of the operator's configuration file, as declared.
struct DeclaredChannel {
    tenant: TenantId,
    name: String,
    config: ChannelConfig,
}

/// How alerting behaves; the server builds it from its `alerts` configuration.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// Which delivery targets are allowed (checked at creation and at every delivery).
    pub policy: TargetPolicy,
    pub retry: RetryPolicy,
    pub delivery: DeliveryOptions,
    /// How long a worker holds a claimed delivery; longer than any delivery takes, so a live
    /// worker never loses one, and short enough that a dead worker's are re-sent soon.
    pub lease: chrono::Duration,
    /// Deliveries claimed per worker step.
    pub claim_batch: u32,
    /// Cooldown of rules that set none, and of integrity alerts.
    pub default_cooldown: chrono::Duration,
    /// More alerts than this from one rule in one evaluation become one digest.
    pub digest_threshold: usize,
    /// Base URL of the dashboard/API for links in messages (`https://veritrail.example.com`);
    /// `None`: links are relative API paths.
    pub public_url: Option<String>,
    /// What channels created through the API may read from the environment
    /// (`alerts.secret_env_prefix`); channels of the configuration file may read anything.
    pub api_env: EnvAccess,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            policy: TargetPolicy::strict(),
            retry: RetryPolicy::default(),
            delivery: DeliveryOptions::default(),
            lease: chrono::Duration::seconds(120),
            claim_batch: 20,
            default_cooldown: chrono::Duration::minutes(15),
            digest_threshold: 5,
            public_url: None,
            api_env: EnvAccess::Prefixed(DEFAULT_SECRET_ENV_PREFIX.to_owned()),
        }
    }
}

/// Why a channel was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The body or the configuration is wrong; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// The target is refused by the SSRF policy or cannot be resolved.
    #[error("{0}")]
    Target(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an operator's retry of a delivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryRetry {
    /// Pending again, due now, with a fresh attempt count; the worker was woken.
    Requeued,
    /// The delivery exists but is not dead-lettered (or its channel was deleted).
    NotDead,
    /// The tenant has no delivery with this id.
    Unknown,
}

/// The shared alerting service.
pub struct Alerting {
    pub(crate) store: Arc<dyn AlertStore>,
    pub(crate) anomalies: Arc<dyn AnomalyStore>,
    pub(crate) secrets: SecretBox,
    pub(crate) settings: AlertSettings,
    /// Signalled whenever deliveries are created, so the worker sends them at once.
    pub(crate) wake: Notify,
    /// This process's name in delivery leases.
    pub(crate) holder: String,
    pub(crate) jitter: Mutex<SplitMix64>,
    /// New events are evaluated one pass at a time in this process (wake-ups and the scheduled
    /// job), so two passes cannot both pass the same cooldown.
    pub(crate) event_rules: tokio::sync::Mutex<()>,
    /// Tenants that appended events since the evaluator last looked: at most one entry per
    /// tenant, however heavy ingest is.
    appended: Mutex<HashSet<TenantId>>,
    /// Signalled on every append, so new events are evaluated at once.
    events_wake: Notify,
    /// Each tenant's event rules, as read at the given instant.
    event_rules_cache: Mutex<HashMap<TenantId, CachedRules>>,
    /// The channels of the configuration file ([`Self::provision`]): only these may read any
    /// environment variable.
    declared: Mutex<Vec<DeclaredChannel>>,
}

impl Alerting {
    pub fn new(
        store: Arc<dyn AlertStore>,
        anomalies: Arc<dyn AnomalyStore>,
        secrets: SecretBox,
        settings: AlertSettings,
    ) -> Self {
        Self {
            store,
            anomalies,
            secrets,
            settings,
            wake: Notify::new(),
            holder: format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple()),
            jitter: Mutex::new(SplitMix64::from_entropy()),
            event_rules: tokio::sync::Mutex::new(()),
            appended: Mutex::new(HashSet::new()),
            events_wake: Notify::new(),
            event_rules_cache: Mutex::new(HashMap::new()),
            declared: Mutex::new(Vec::new()),
        }
    }

    /// Records the channels the operator declared, before they are created; see
    /// [`Self::env_access`].
    pub(crate) fn declare_channels(&self, channels: Vec<(TenantId, String, ChannelConfig)>) {
        let declared = channels.into_iter().map(|(tenant, name, config)| DeclaredChannel { tenant, name, config });
        *self.declared.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = declared.collect();
    }

    /// What a stored channel may read from the environment: anything when the configuration
    /// file declares exactly this channel (tenant, name and configuration), otherwise what
    /// channels created through the API may read. Matching the whole configuration means a
    /// tenant cannot borrow a declared channel's variable by pointing a copy elsewhere.
    pub(crate) fn env_access(&self, tenant: &TenantId, name: &str, config: &ChannelConfig) -> EnvAccess {
        let declared = self.declared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if declared.iter().any(|d| &d.tenant == tenant && d.name == name && &d.config == config) {
            EnvAccess::Operator
        } else {
            self.settings.api_env.clone()
        }
    }

    /// Forgets the cached rules of `tenant`; the API calls it after every rule write.
    pub fn rules_changed(&self, tenant: &TenantId) {
        self.event_rules_cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(tenant);
    }

    /// Ingest calls this after an append has committed: wakes the evaluator of event rules. It
    /// does no work on the request's path and queues nothing per event; the events themselves
    /// wait in the log, after the tenant's event cursor.
    pub fn events_appended(&self, tenant: &TenantId) {
        let mut appended = self.appended.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !appended.contains(tenant) {
            appended.insert(tenant.clone());
        }
        drop(appended);
        self.events_wake.notify_one();
    }

    /// Waits until events were appended, then returns the tenants that appended them since the
    /// last call.
    pub async fn tenants_with_new_events(&self) -> Vec<TenantId> {
        loop {
            self.events_wake.notified().await;
            let tenants: Vec<TenantId> =
                self.appended.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain().collect();
            if !tenants.is_empty() {
                return tenants;
            }
        }
    }

    /// Whether the tenant has an enabled event rule (from the cache while it is fresh). The
    /// wake-up skips tenants without one: moving their cursor is left to the scheduled job, so
    /// ingest of such tenants causes no extra write.
    pub async fn watches_events(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        Ok(!self.enabled_event_rules(tenant).await?.is_empty())
    }

    /// The tenant's enabled event rules, from the cache while it is fresh.
    pub(crate) async fn enabled_event_rules(&self, tenant: &TenantId) -> Result<Arc<Vec<StoredRule>>, StoreError> {
        {
            let cache = self.event_rules_cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((read_at, rules)) = cache.get(tenant)
                && read_at.elapsed() < EVENT_RULES_TTL
            {
                return Ok(rules.clone());
            }
        }
        let rules: Vec<StoredRule> = self
            .store
            .list_rules(tenant, Some(RuleKind::Event))
            .await?
            .into_iter()
            .filter(|rule| rule.enabled)
            .collect();
        let rules = Arc::new(rules);
        self.event_rules_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tenant.clone(), (Instant::now(), rules.clone()));
        Ok(rules)
    }

    pub fn store(&self) -> &Arc<dyn AlertStore> {
        &self.store
    }

    pub fn settings(&self) -> &AlertSettings {
        &self.settings
    }

    /// Resolves when deliveries were created since the last call (the worker's wake-up).
    pub async fn deliveries_created(&self) {
        self.wake.notified().await;
    }

    /// Re-queues a dead-lettered delivery (an operator's retry) and wakes the worker, so it is
    /// sent at once.
    pub async fn retry_delivery(
        &self,
        tenant: &TenantId,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<DeliveryRetry, StoreError> {
        if self.store.requeue_delivery(tenant, id, now).await? {
            self.wake.notify_one();
            return Ok(DeliveryRetry::Requeued);
        }
        // Told apart only after the refusal, so the common case costs one write.
        Ok(match self.store.list_attempts(tenant, id).await? {
            Some(_) => DeliveryRetry::NotDead,
            None => DeliveryRetry::Unknown,
        })
    }

    /// Validates `body` (`{"kind", "name", "config"}`) as a tenant's request, checks the target
    /// against the policy (resolving host names now), seals the whole configuration and stores
    /// the channel. Nothing is stored when anything is refused.
    pub async fn create_channel(
        &self,
        tenant: &TenantId,
        body: Value,
        now: DateTime<Utc>,
    ) -> Result<ChannelSummary, ChannelError> {
        self.create_channel_with(tenant, body, &self.settings.api_env, now).await
    }

    /// [`Self::create_channel`] with the environment `access` of whoever declared it.
    pub(crate) async fn create_channel_with(
        &self,
        tenant: &TenantId,
        body: Value,
        access: &EnvAccess,
        now: DateTime<Utc>,
    ) -> Result<ChannelSummary, ChannelError> {
        let channel: NewChannel = serde_path_to_error::deserialize(body).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner().to_string();
            // Config errors already name their field (`config.url: ...`).
            if path == "." || inner.starts_with("config") {
                ChannelError::Invalid(inner)
            } else {
                ChannelError::Invalid(format!("{path}: {inner}"))
            }
        })?;
        let env = |name: &str| access.read(name);
        channel.validate(&self.settings.policy, &env).map_err(|error| ChannelError::Invalid(error.to_string()))?;
        check_target(&channel.config, &self.settings.policy, &env)
            .await
            .map_err(|error| ChannelError::Target(format!("config: {}", error.message)))?;
        let id = uuid::Uuid::now_v7().to_string();
        let plaintext = serde_json::to_vec(&channel.config).expect("channel configs serialise to JSON");
        let redacted = serde_json::to_value(channel.config.redacted()).expect("redacted configs serialise to JSON");
        let new = veritrail_core::alerting::NewChannel {
            id: Some(id.clone()),
            kind: channel.config.kind(),
            name: channel.name,
            config_public: redacted.get("config").cloned().unwrap_or(Value::Null),
            secret: Some(self.secrets.seal(tenant.as_str(), &id, &plaintext)),
        };
        Ok(self.store.create_channel(tenant, &new, now).await?)
    }

    /// The channel's full configuration, unsealed.
    pub(crate) fn channel_config(&self, channel: &StoredChannel) -> Result<ChannelConfig, String> {
        let sealed = channel.secret.as_deref().ok_or("the channel has no stored configuration")?;
        let plaintext = self
            .secrets
            .open(channel.channel.tenant.as_str(), &channel.channel.id, sealed)
            .map_err(|error| error.to_string())?;
        serde_json::from_slice(&plaintext).map_err(|error| format!("the stored configuration does not parse: {error}"))
    }

    /// Sends a test message to the channel now, recorded as an alert with one delivery like any
    /// other; answers with that delivery after the attempt. A failed test is not retried.
    pub async fn test_channel(
        &self,
        tenant: &TenantId,
        channel_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<veritrail_core::alerting::Delivery>, AlertError> {
        let Some(channel) = self.store.get_channel(tenant, channel_id).await? else {
            return Ok(None);
        };
        let message = crate::message::AlertMessage::test(&channel.channel.name, now);
        let created = self
            .store
            .create_alert(
                tenant,
                &veritrail_core::alerting::NewAlert {
                    id: None,
                    rule_id: None,
                    dedup_key: message.dedup_key.clone(),
                    message: serde_json::to_value(&message).expect("messages serialise"),
                    channel_ids: vec![channel_id.to_owned()],
                    cooldown: None,
                },
                now,
            )
            .await?;
        let Some(delivery) = created.deliveries.first() else {
            // A disabled channel gets no delivery.
            return Ok(None);
        };
        let lease_until = now + self.settings.lease;
        let query = veritrail_core::alerting::DeliveryQuery {
            alert_id: Some(created.alert.id.clone()),
            limit: 1,
            ..Default::default()
        };
        if let Some(claimed) = self.store.claim_delivery(tenant, &delivery.id, now, &self.holder, lease_until).await? {
            self.deliver_claimed(claimed, false).await?;
            return Ok(self.store.list_deliveries(tenant, &query).await?.into_iter().next());
        }
        // The outbox worker (woken by other alerts, or its schedule) claimed it first: answer
        // with its outcome once it has one, within the time a delivery may take.
        let deadline = tokio::time::Instant::now() + self.settings.delivery.timeout + Duration::from_secs(2);
        loop {
            let found = self.store.list_deliveries(tenant, &query).await?.into_iter().next();
            let settled = found.as_ref().is_none_or(|found| found.status != DeliveryStatus::Pending);
            if settled || tokio::time::Instant::now() >= deadline {
                return Ok(found);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends `mail` (a file attached, such as a scheduled report) through the tenant's e-mail
    /// channel `channel_id` now, once, under the same target policy and environment rules as
    /// alert deliveries.
    pub async fn send_file(
        &self,
        tenant: &TenantId,
        channel_id: &str,
        mail: &crate::deliver::FileMail,
    ) -> Result<crate::deliver::DeliveryReceipt, crate::deliver::DeliveryError> {
        use crate::deliver::DeliveryError;
        let channel = self
            .store
            .get_channel(tenant, channel_id)
            .await
            .map_err(|error| DeliveryError::transient(format!("channel {channel_id}: {error}")))?
            .ok_or_else(|| DeliveryError::permanent(format!("channel {channel_id} does not exist")))?;
        if channel.channel.disabled {
            return Err(DeliveryError::permanent(format!("channel {channel_id} is disabled")));
        }
        let config = self.channel_config(&channel).map_err(DeliveryError::permanent)?;
        let access = self.env_access(tenant, &channel.channel.name, &config);
        let env = |name: &str| access.read(name);
        match config.resolve(&self.settings.policy, &env)? {
            crate::channel::ResolvedChannel::Email(email) => {
                crate::deliver::smtp_send_file(&email, mail, &self.settings.policy, &self.settings.delivery).await
            }
            _ => Err(DeliveryError::permanent(format!("channel {channel_id} is not an e-mail channel"))),
        }
    }
}
