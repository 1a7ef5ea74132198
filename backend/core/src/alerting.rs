//! Alert channels, alert rules, and the outbox of alerts and their deliveries.
//!
//! **Outbox.** An alert and one delivery per channel are written in one transaction, so an alert
//! that was raised is never lost across a restart: the delivery worker finds the pending
//! deliveries in the database. Workers *lease* due deliveries ([`AlertStore::claim_due_deliveries`])
//! so two replicas never send the same one; a lease that runs out (the server died mid-delivery)
//! lets another worker claim it again. Delivery is therefore at least once; receivers de-duplicate
//! on the delivery id.
//!
//! **Secrets.** A channel's `secret` is opaque bytes, encrypted by the caller before it reaches
//! the store. Only [`AlertStore::get_channel`] and claimed deliveries return it; listings return a
//! [`ChannelSummary`], which has no field for it.
//!
//! **Deleting and disabling.** A disabled channel gets no new deliveries and its pending ones wait
//! until it is enabled again. A deleted channel disappears from listings and rules, and its
//! pending deliveries are dead-lettered; its row stays so delivery history keeps its name.
//!
//! Times are given by the caller, as in [`crate::anomalies`].

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::event::{Severity, TenantId};
use crate::store::StoreError;
use crate::wire_enum;

wire_enum! {
    /// Where a channel delivers.
    pub enum ChannelKind ("channel kind") {
        Slack => "slack",
        Email => "email",
        Webhook => "webhook",
        Discord => "discord",
        Teams => "teams",
    }
}

wire_enum! {
    /// What a rule watches.
    pub enum RuleKind ("rule kind") {
        /// Anomalies found by the detection job.
        Anomaly => "anomaly",
        /// Events as they are appended.
        Event => "event",
    }
}

wire_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus ("delivery status") {
        /// Not sent yet: due at `next_attempt_at`.
        Pending => "pending",
        Delivered => "delivered",
        /// Given up on (dead-lettered).
        Dead => "dead",
    }
}

wire_enum! {
    /// What one recorded delivery attempt came to.
    pub enum AttemptOutcome ("attempt outcome") {
        Delivered => "delivered",
        /// Failed; the delivery stays pending for another attempt.
        Retry => "retry",
        /// Failed for good; the delivery was dead-lettered.
        Dead => "dead",
    }
}

/// One delivery attempt whose result a worker recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryAttempt {
    pub delivery_id: String,
    /// The delivery's attempt count when it was made (1 for the first).
    pub attempt: u32,
    /// The worker that made it.
    pub holder: String,
    #[serde(with = "crate::event::timestamp")]
    pub finished_at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
}

/// Why an alerting write was refused.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The tenant has no (undeleted) channel with this id.
    #[error("alert channel {0:?} does not exist")]
    UnknownChannel(String),
    /// The tenant has no rule with this id.
    #[error("alert rule {0:?} does not exist")]
    UnknownRule(String),
    /// An alert with the same rule and dedup key was recorded within the cooldown.
    #[error("an alert for {0:?} was recorded within the cooldown")]
    InCooldown(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A channel as submitted, its configuration already split by the caller into the part that may
/// be shown and the encrypted secret.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChannel {
    /// The id to store it under; `None` lets the store choose one. A caller that binds the
    /// encrypted secret to the channel id (as associated data) chooses the id first.
    pub id: Option<String>,
    pub kind: ChannelKind,
    pub name: String,
    /// Configuration without secrets (JSON object).
    pub config_public: Value,
    /// Encrypted secret, or `None` when the channel has none.
    pub secret: Option<Vec<u8>>,
}

/// A channel as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelSummary {
    pub id: String,
    pub tenant: TenantId,
    pub kind: ChannelKind,
    pub name: String,
    pub config_public: Value,
    /// Whether a secret is stored (never the secret itself).
    pub has_secret: bool,
    pub disabled: bool,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// A channel with its encrypted secret, for delivering. Deliberately not `Serialize`.
#[derive(Clone, PartialEq)]
pub struct StoredChannel {
    pub channel: ChannelSummary,
    pub secret: Option<Vec<u8>>,
}

impl fmt::Debug for StoredChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredChannel")
            .field("channel", &self.channel)
            .field("secret", &self.secret.as_ref().map(|secret| format!("<{} bytes>", secret.len())))
            .finish()
    }
}

/// A rule as submitted (also the whole new state on update).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRule {
    pub name: String,
    pub kind: RuleKind,
    /// Alerts only for anomalies or events at least this severe.
    pub min_severity: Severity,
    /// Channels to deliver to, in order; each must be one of the tenant's channels.
    pub channel_ids: Vec<String>,
    /// Further conditions (JSON object), interpreted by the rule evaluator.
    pub match_spec: Option<Value>,
    /// Least time between two alerts of the rule with the same dedup key; `None` means the
    /// server's default.
    pub cooldown_seconds: Option<u32>,
    pub enabled: bool,
}

/// A stored rule, as served (`channels`, `match` are the API's names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRule {
    pub id: String,
    pub tenant: TenantId,
    pub name: String,
    pub kind: RuleKind,
    pub min_severity: Severity,
    #[serde(rename = "channels")]
    pub channel_ids: Vec<String>,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_spec: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_seconds: Option<u32>,
    pub enabled: bool,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// An alert to record and deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// The id to store it under; `None` lets the store choose one. A caller that refers to the
    /// alert from another alert of the same batch (a digest) chooses it first.
    pub id: Option<String>,
    /// The rule that raised it; `None` for alerts no rule raises (integrity failures).
    pub rule_id: Option<String>,
    /// Identifies "the same alert" for cooldowns (an anomaly id, an actor, ...).
    pub dedup_key: String,
    /// The message to deliver (JSON), rendered per channel by the worker.
    pub message: Value,
    /// Channels to deliver to; repeats are delivered once.
    pub channel_ids: Vec<String>,
    /// When set (and positive), the alert is recorded only if no alert of the same rule and
    /// dedup key was recorded less than this long before: checked and updated under a lock in
    /// the database, so replicas raising the same subject at once record it once.
    pub cooldown: Option<chrono::Duration>,
}

/// What a batch of alerts was raised from. [`AlertStore::record_alerts`] records it in the same
/// transaction as the alerts, so each source is alerted on exactly once even when raising fails
/// half-way or two workers raise at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertSource {
    /// These stored anomalies, now evaluated against the anomaly rules (each is marked alerted;
    /// none may be marked already).
    Anomalies(Vec<String>),
    /// The tenant's events with `from_seq <= seq < to_seq`, now evaluated against the event
    /// rules: the tenant's event cursor ([`AlertStore::event_alert_cursor`]) must still be at
    /// `from_seq` and moves to `to_seq`.
    Events { from_seq: u64, to_seq: u64 },
}

/// Why [`AlertStore::record_alerts`] refused a batch.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Another worker recorded (part of) this source first; nothing was written.
    #[error("the alerts of this source were already recorded")]
    AlreadyRecorded,
    /// The source itself is wrong (an event cursor moving backwards).
    #[error("invalid alert source: {0}")]
    InvalidSource(String),
    #[error(transparent)]
    Alert(#[from] AlertError),
}

impl RecordError {
    /// As an [`AlertError`], for a caller that has handled [`RecordError::AlreadyRecorded`] (the
    /// other refusals are its own mistakes or the store's).
    pub fn into_alert_error(self) -> AlertError {
        match self {
            Self::Alert(error) => error,
            refused => AlertError::Store(StoreError::InvalidInput(refused.to_string())),
        }
    }
}

impl From<StoreError> for RecordError {
    fn from(error: StoreError) -> Self {
        Self::Alert(AlertError::Store(error))
    }
}

/// A recorded alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredAlert {
    pub id: String,
    pub tenant: TenantId,
    pub rule_id: Option<String>,
    pub dedup_key: String,
    pub message: Value,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// One alert's delivery to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub id: String,
    pub tenant: TenantId,
    pub alert_id: String,
    pub channel_id: String,
    pub channel_name: String,
    pub status: DeliveryStatus,
    /// Attempts started so far, counted when a worker claims the delivery (so an attempt cut
    /// short by a crash counts too).
    pub attempts: u32,
    /// When the delivery is (or was last) due.
    #[serde(with = "crate::event::timestamp")]
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    #[serde(with = "crate::event::timestamp::option")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// The worker holding the delivery, while its lease lasts.
    pub lease_holder: Option<String>,
    #[serde(with = "crate::event::timestamp::option")]
    pub lease_until: Option<DateTime<Utc>>,
    #[serde(with = "crate::event::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// An alert as recorded, with the deliveries written in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedAlert {
    pub alert: StoredAlert,
    /// One per enabled channel, in the order the channels were given.
    pub deliveries: Vec<Delivery>,
}

/// A delivery a worker now holds, with what it needs to send it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub delivery: Delivery,
    pub alert: StoredAlert,
    pub channel: StoredChannel,
}

/// A position in the newest-first list of deliveries: `(created_at, id)` of the last one seen.
/// Its text form, `<created_at>_<id>`, is the API's opaque cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

impl fmt::Display for DeliveryCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", crate::event::format_time(&self.created_at), self.id)
    }
}

impl std::str::FromStr for DeliveryCursor {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("cursor {raw:?} is invalid");
        let (time, id) = raw.split_once('_').ok_or_else(invalid)?;
        let created_at = DateTime::parse_from_rfc3339(time).map_err(|_| invalid())?.with_timezone(&Utc);
        if id.is_empty() {
            return Err(invalid());
        }
        Ok(Self { created_at, id: id.to_owned() })
    }
}

impl Delivery {
    /// The cursor that lists the deliveries after this one.
    pub fn cursor(&self) -> DeliveryCursor {
        DeliveryCursor { created_at: self.created_at, id: self.id.clone() }
    }
}

/// Filters for listing deliveries, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub status: Option<DeliveryStatus>,
    pub alert_id: Option<String>,
    /// Only deliveries after this position (the pagination cursor).
    pub before: Option<DeliveryCursor>,
    pub limit: u32,
}

/// Filters for listing alerts, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertQuery {
    pub rule_id: Option<String>,
    /// Inclusive lower bound on `created_at`.
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// Channels, rules, alerts and the delivery outbox.
///
/// Tenant-scoped methods never see or change another tenant's rows; the delivery worker's
/// methods (`claim_due_deliveries`, `mark_*`) work across tenants, by delivery id and lease.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Stores a channel.
    async fn create_channel(
        &self,
        tenant: &TenantId,
        channel: &NewChannel,
        now: DateTime<Utc>,
    ) -> Result<ChannelSummary, StoreError>;

    /// Returns the tenant's channels (disabled ones included), oldest first, without secrets.
    async fn list_channels(&self, tenant: &TenantId) -> Result<Vec<ChannelSummary>, StoreError>;

    /// Returns one channel with its encrypted secret.
    async fn get_channel(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredChannel>, StoreError>;

    /// Disables or enables a channel; `false` when there is no such channel.
    async fn set_channel_disabled(&self, tenant: &TenantId, id: &str, disabled: bool) -> Result<bool, StoreError>;

    /// Deletes a channel: removes it from rules and dead-letters its pending deliveries, in one
    /// transaction. `false` when there is no such channel.
    async fn delete_channel(&self, tenant: &TenantId, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Stores a rule; every channel must be one of the tenant's.
    async fn create_rule(
        &self,
        tenant: &TenantId,
        rule: &NewRule,
        now: DateTime<Utc>,
    ) -> Result<StoredRule, AlertError>;

    /// Returns the tenant's rules, optionally of one kind, oldest first.
    async fn list_rules(&self, tenant: &TenantId, kind: Option<RuleKind>) -> Result<Vec<StoredRule>, StoreError>;

    /// Returns one rule.
    async fn get_rule(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredRule>, StoreError>;

    /// Replaces a rule's settings (its id and creation time stay); `None` when there is no such
    /// rule.
    async fn update_rule(&self, tenant: &TenantId, id: &str, rule: &NewRule) -> Result<Option<StoredRule>, AlertError>;

    /// Deletes a rule; alerts it raised stay. `false` when there is no such rule.
    async fn delete_rule(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError>;

    /// Records an alert and a pending delivery (due at `now`) for each enabled channel, in one
    /// transaction: an unknown channel or rule, or a cooldown in force
    /// ([`AlertError::InCooldown`]), stores nothing at all.
    async fn create_alert(
        &self,
        tenant: &TenantId,
        alert: &NewAlert,
        now: DateTime<Utc>,
    ) -> Result<CreatedAlert, AlertError>;

    /// Records a batch of alerts, each with its deliveries as [`AlertStore::create_alert`] does,
    /// and marks `source` as alerted, all in one transaction: either all of it is stored or
    /// nothing is. The batch may be empty (the source had nothing to alert on). Alerts held back
    /// by their cooldown are left out of the batch (and of the answer), not refused.
    async fn record_alerts(
        &self,
        tenant: &TenantId,
        alerts: &[NewAlert],
        source: &AlertSource,
        now: DateTime<Utc>,
    ) -> Result<Vec<CreatedAlert>, RecordError>;

    /// Ids of the tenant's stored anomalies no batch of alerts has been recorded for yet, oldest
    /// first, at most `limit`.
    async fn anomalies_to_alert(&self, tenant: &TenantId, limit: u32) -> Result<Vec<String>, StoreError>;

    /// The seq of the tenant's first event not yet evaluated against its event rules (0 when
    /// none was).
    async fn event_alert_cursor(&self, tenant: &TenantId) -> Result<u64, StoreError>;

    /// Returns when an alert with this rule (`None`: no rule) and dedup key was last recorded,
    /// for cooldowns.
    async fn last_alert_at(
        &self,
        tenant: &TenantId,
        rule_id: Option<&str>,
        dedup_key: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Returns the tenant's alerts, newest first.
    async fn list_alerts(&self, tenant: &TenantId, query: &AlertQuery) -> Result<Vec<StoredAlert>, StoreError>;

    /// Atomically leases up to `limit` due deliveries (pending, `next_attempt_at <= now`, not
    /// leased or lease expired, channel enabled) of `tenant` (any tenant when `None`) to `holder`
    /// until `lease_until`, counting an attempt on each; earliest due first. Concurrent callers
    /// get disjoint sets.
    async fn claim_due_deliveries(
        &self,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
        holder: &str,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Leases one pending delivery of the tenant to `holder` (due or not, unless another worker's
    /// lease is running), counting an attempt: for sending it at once, as a channel test does.
    /// `None` when there is no such pending, unleased delivery.
    async fn claim_delivery(
        &self,
        tenant: &TenantId,
        id: &str,
        now: DateTime<Utc>,
        holder: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<ClaimedDelivery>, StoreError>;

    /// Records a successful delivery, and the attempt in the same transaction. `false` when
    /// `holder` no longer holds it (another worker re-claimed it after the lease ran out) or it is
    /// not pending.
    async fn mark_delivered(&self, id: &str, holder: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Records a failed attempt at `at`, and the attempt in the same transaction: with
    /// `next_attempt_at` the delivery stays pending and becomes due then; with `None` it is
    /// dead-lettered. Releases the lease. `false` as for [`AlertStore::mark_delivered`].
    async fn mark_failed(
        &self,
        id: &str,
        holder: &str,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Returns the recorded attempts of one of the tenant's deliveries, oldest first; `None`
    /// when the tenant has no such delivery.
    async fn list_attempts(
        &self,
        tenant: &TenantId,
        delivery_id: &str,
    ) -> Result<Option<Vec<DeliveryAttempt>>, StoreError>;

    /// Makes a dead delivery pending again, due at `now` with a fresh attempt count (an
    /// operator's retry). `false` when the tenant has no dead delivery with this id or its channel
    /// was deleted.
    async fn requeue_delivery(&self, tenant: &TenantId, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Returns the tenant's deliveries, newest first, with their channel names.
    async fn list_deliveries(&self, tenant: &TenantId, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_the_api() {
        let kinds: Vec<&str> = ChannelKind::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(kinds, ["slack", "email", "webhook", "discord", "teams"]);
        assert_eq!("event".parse::<RuleKind>(), Ok(RuleKind::Event));
        assert!("sms".parse::<ChannelKind>().is_err());
        assert_eq!(DeliveryStatus::Dead.to_string(), "dead");
    }

    #[test]
    fn delivery_cursors_round_trip_and_refuse_garbage() {
        let cursor = DeliveryCursor {
            created_at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::microseconds(1_700_000_000_123_456),
            id: "0190-ab_c".into(),
        };
        assert_eq!(cursor.to_string().parse::<DeliveryCursor>(), Ok(cursor));
        for bad in ["", "x", "2026-01-01T00:00:00Z_", "yesterday_abc"] {
            assert!(bad.parse::<DeliveryCursor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let channel = StoredChannel {
            channel: ChannelSummary {
                id: "c1".into(),
                tenant: TenantId::parse("acme").expect("tenant"),
                kind: ChannelKind::Webhook,
                name: "ops".into(),
                config_public: serde_json::json!({"url": "https://example.com/…"}),
                has_secret: true,
                disabled: false,
                created_at: DateTime::<Utc>::UNIX_EPOCH,
            },
            secret: Some(b"top secret".to_vec()),
        };
        let shown = format!("{channel:?}");
        assert!(shown.contains("<10 bytes>") && !shown.contains("top secret"), "{shown}");
    }

    #[test]
    fn rules_serialise_with_the_api_names() {
        let rule = StoredRule {
            id: "r1".into(),
            tenant: TenantId::parse("acme").expect("tenant"),
            name: "high".into(),
            kind: RuleKind::Anomaly,
            min_severity: Severity::High,
            channel_ids: vec!["c1".into()],
            match_spec: Some(serde_json::json!({"action": "user.login"})),
            cooldown_seconds: None,
            enabled: true,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let json = serde_json::to_value(&rule).expect("json");
        assert_eq!(json["channels"], serde_json::json!(["c1"]));
        assert_eq!(json["match"]["action"], "user.login");
        assert_eq!(json["min_severity"], "high");
        assert!(json.get("cooldown_seconds").is_none());
    }
}
