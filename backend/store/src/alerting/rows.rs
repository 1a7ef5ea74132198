//! The alerting tables' columns as both backends select them, the row decoders, and the values
//! prepared for writing: new channels, alerts and deliveries, rule settings, seqs.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use veritrail_core::alerting::{
    AlertError, ChannelSummary, ClaimedDelivery, Delivery, DeliveryAttempt, DeliveryStatus, NewAlert, NewChannel,
    NewRule, StoredAlert, StoredChannel, StoredRule,
};
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::store::StoreError;

use crate::columns::{Columns, new_id};

/// The error recorded on pending deliveries of a channel that is deleted.
pub(super) const CHANNEL_DELETED: &str = "the channel was deleted";

/// A channel without its secret, from `alert_channels c`.
pub(super) const CHANNEL_COLUMNS: &str = "c.id AS ch_id, c.tenant AS ch_tenant, c.kind AS ch_kind, c.name AS ch_name, \
     c.config_public AS ch_config_public, (c.secret IS NOT NULL) AS ch_has_secret, c.disabled AS ch_disabled, \
     c.created_at AS ch_created_at";

/// A rule without its channels, from `alert_rules`.
pub(super) const RULE_COLUMNS: &str =
    "id, tenant, name, kind, min_severity, match_spec, cooldown_seconds, enabled, created_at";

/// An alert, from `alerts al`.
pub(super) const ALERT_COLUMNS: &str = "al.id AS al_id, al.tenant AS al_tenant, al.rule_id AS al_rule_id, \
     al.dedup_key AS al_dedup_key, al.message AS al_message, al.created_at AS al_created_at";

/// A delivery with its channel's name, from [`DELIVERY_FROM`].
pub(super) const DELIVERY_COLUMNS: &str = "d.id, d.tenant, d.alert_id, d.channel_id, c.name AS channel_name, d.status, \
     d.attempts, d.next_attempt_at, d.last_error, d.delivered_at, d.lease_holder, d.lease_until, d.created_at";

pub(super) const DELIVERY_FROM: &str = "alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id";

/// Everything a claimed delivery carries; append `WHERE ...`.
pub(super) fn claimed_select() -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS}, {ALERT_COLUMNS}, {CHANNEL_COLUMNS}, c.secret AS ch_secret \
         FROM {DELIVERY_FROM} JOIN alerts al ON al.id = d.alert_id"
    )
}

pub(super) fn decode_channel(row: &impl Columns) -> Result<ChannelSummary, StoreError> {
    Ok(ChannelSummary {
        id: row.text("ch_id")?,
        tenant: row.tenant("ch_tenant")?,
        kind: row.parsed("ch_kind")?,
        name: row.text("ch_name")?,
        config_public: row.json("ch_config_public")?,
        has_secret: row.flag("ch_has_secret")?,
        disabled: row.flag("ch_disabled")?,
        created_at: row.time("ch_created_at")?,
    })
}

/// Decodes [`CHANNEL_COLUMNS`] plus `ch_secret`.
pub(super) fn decode_stored_channel(row: &impl Columns) -> Result<StoredChannel, StoreError> {
    Ok(StoredChannel { channel: decode_channel(row)?, secret: row.opt_bytes("ch_secret")? })
}

pub(super) fn decode_rule(row: &impl Columns, channel_ids: Vec<String>) -> Result<StoredRule, StoreError> {
    let cooldown_seconds = row
        .opt_int("cooldown_seconds")?
        .map(|seconds| u32::try_from(seconds).map_err(|_| StoreError::Corrupt(format!("cooldown {seconds}"))))
        .transpose()?;
    Ok(StoredRule {
        id: row.text("id")?,
        tenant: row.tenant("tenant")?,
        name: row.text("name")?,
        kind: row.parsed("kind")?,
        min_severity: row.parsed("min_severity")?,
        channel_ids,
        match_spec: row.opt_json("match_spec")?,
        cooldown_seconds,
        enabled: row.flag("enabled")?,
        created_at: row.time("created_at")?,
    })
}

pub(super) fn decode_alert(row: &impl Columns) -> Result<StoredAlert, StoreError> {
    Ok(StoredAlert {
        id: row.text("al_id")?,
        tenant: row.tenant("al_tenant")?,
        rule_id: row.opt_text("al_rule_id")?,
        dedup_key: row.text("al_dedup_key")?,
        message: row.json("al_message")?,
        created_at: row.time("al_created_at")?,
    })
}

pub(super) fn decode_delivery(row: &impl Columns) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: row.text("id")?,
        tenant: row.tenant("tenant")?,
        alert_id: row.text("alert_id")?,
        channel_id: row.text("channel_id")?,
        channel_name: row.text("channel_name")?,
        status: row.parsed("status")?,
        attempts: row.count("attempts")?,
        next_attempt_at: row.time("next_attempt_at")?,
        last_error: row.opt_text("last_error")?,
        delivered_at: row.opt_time("delivered_at")?,
        lease_holder: row.opt_text("lease_holder")?,
        lease_until: row.opt_time("lease_until")?,
        created_at: row.time("created_at")?,
    })
}

/// Decodes a row of `alert_delivery_attempts`.
pub(super) fn decode_attempt(row: &impl Columns) -> Result<DeliveryAttempt, StoreError> {
    Ok(DeliveryAttempt {
        delivery_id: row.text("delivery_id")?,
        attempt: row.count("attempt")?,
        holder: row.text("holder")?,
        finished_at: row.time("finished_at")?,
        outcome: row.parsed("outcome")?,
        error: row.opt_text("error")?,
    })
}

/// Decodes a row of [`claimed_select`].
pub(super) fn decode_claimed(row: &impl Columns) -> Result<ClaimedDelivery, StoreError> {
    Ok(ClaimedDelivery {
        delivery: decode_delivery(row)?,
        alert: decode_alert(row)?,
        channel: decode_stored_channel(row)?,
    })
}

/// The ids in first-seen order, each once.
pub(super) fn distinct(ids: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    ids.iter().map(String::as_str).filter(|id| seen.insert(*id)).collect()
}

/// A channel found for a write.
pub(super) struct FoundChannel {
    pub id: String,
    pub name: String,
    pub disabled: bool,
}

/// Decodes a row of `id, name, disabled` from `alert_channels`.
pub(super) fn decode_found_channel(row: &impl Columns) -> Result<FoundChannel, StoreError> {
    Ok(FoundChannel { id: row.text("id")?, name: row.text("name")?, disabled: row.flag("disabled")? })
}

/// Puts the channels found in the order asked, refusing the first one that was not found.
pub(super) fn in_order(wanted: &[&str], found: Vec<FoundChannel>) -> Result<Vec<FoundChannel>, AlertError> {
    let mut found: HashMap<String, FoundChannel> =
        found.into_iter().map(|channel| (channel.id.clone(), channel)).collect();
    wanted.iter().map(|id| found.remove(*id).ok_or_else(|| AlertError::UnknownChannel((*id).to_owned()))).collect()
}

/// Groups rows of `rule_id, channel_id`, already in position order, by rule.
pub(super) fn channels_by_rule(rows: &[impl Columns]) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut by_rule: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        by_rule.entry(row.text("rule_id")?).or_default().push(row.text("channel_id")?);
    }
    Ok(by_rule)
}

/// Whether an alert may be recorded `cooldown` after the last one of its rule and dedup key
/// (`last`): as `veritrail_alerts::throttle::cooldown` decides, a zero cooldown never holds back.
pub(super) fn cooldown_allows(last: Option<DateTime<Utc>>, cooldown: chrono::Duration, now: DateTime<Utc>) -> bool {
    match last {
        Some(last) if cooldown > chrono::Duration::zero() => now >= last + cooldown,
        _ => true,
    }
}

/// A seq as stored (both backends keep seqs in a signed 64-bit column).
pub(super) fn seq_value(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq} is out of range")))
}

/// A stored seq.
pub(super) fn seq_from(stored: i64) -> Result<u64, StoreError> {
    u64::try_from(stored).map_err(|_| StoreError::Corrupt(format!("negative seq {stored}")))
}

/// A rule's optional settings as stored.
pub(super) struct RuleSettings {
    /// The match as JSON text.
    pub match_spec: Option<String>,
    pub cooldown_seconds: Option<i64>,
}

impl RuleSettings {
    pub(super) fn of(rule: &NewRule) -> Self {
        Self {
            match_spec: rule.match_spec.as_ref().map(|spec| spec.to_string()),
            cooldown_seconds: rule.cooldown_seconds.map(i64::from),
        }
    }
}

/// A new channel as listed: enabled, and created `now`.
pub(super) fn new_channel(tenant: &TenantId, channel: &NewChannel, now: DateTime<Utc>) -> ChannelSummary {
    ChannelSummary {
        id: channel.id.clone().unwrap_or_else(new_id),
        tenant: tenant.clone(),
        kind: channel.kind,
        name: channel.name.clone(),
        config_public: channel.config_public.clone(),
        has_secret: channel.secret.is_some(),
        disabled: false,
        created_at: normalize_time(now),
    }
}

/// A new alert as stored, created at `created_at` (already normalized).
pub(super) fn new_alert(tenant: &TenantId, alert: &NewAlert, created_at: DateTime<Utc>) -> StoredAlert {
    StoredAlert {
        id: alert.id.clone().unwrap_or_else(new_id),
        tenant: tenant.clone(),
        rule_id: alert.rule_id.clone(),
        dedup_key: alert.dedup_key.clone(),
        message: alert.message.clone(),
        created_at,
    }
}

/// The pending deliveries of a new alert: one per channel found, skipping disabled ones, due at
/// once.
pub(super) fn pending_deliveries(alert: &StoredAlert, channels: Vec<FoundChannel>) -> Vec<Delivery> {
    channels
        .into_iter()
        .filter(|channel| !channel.disabled)
        .map(|channel| Delivery {
            id: new_id(),
            tenant: alert.tenant.clone(),
            alert_id: alert.id.clone(),
            channel_id: channel.id,
            channel_name: channel.name,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: alert.created_at,
            last_error: None,
            delivered_at: None,
            lease_holder: None,
            lease_until: None,
            created_at: alert.created_at,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_channel_ids_count_once_in_first_seen_order() {
        let ids: Vec<String> = ["b", "a", "b", "c", "a"].iter().map(|id| id.to_string()).collect();
        assert_eq!(distinct(&ids), vec!["b", "a", "c"]);
    }

    #[test]
    fn the_first_missing_channel_is_named() {
        let found = vec![FoundChannel { id: "a".into(), name: "A".into(), disabled: false }];
        match in_order(&["a", "x", "y"], found) {
            Err(AlertError::UnknownChannel(id)) => assert_eq!(id, "x"),
            other => panic!("expected an unknown channel, got {:?}", other.map(|found| found.len())),
        }
    }
}
