//! The alerting port (`veritrail_core::alerting::AlertStore`) on both backends: channels, rules,
//! and the outbox of alerts and deliveries.
//!
//! What both backends share lives here: the column lists they select, the row decoders and the
//! checks done before writing. Claiming is where they differ most: SQLite serialises claimers on
//! its one write lock (`BEGIN IMMEDIATE`), PostgreSQL lets them run side by side and skips rows
//! another claimer has locked (`FOR UPDATE SKIP LOCKED`).

mod postgres;
mod sqlite;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use veritrail_core::alerting::{
    AlertError, ChannelSummary, ClaimedDelivery, Delivery, DeliveryAttempt, NewRule, StoredAlert, StoredChannel,
    StoredRule,
};
use veritrail_core::store::StoreError;

use crate::anomalies::columns::Columns;

pub use postgres::PostgresAlerts;
pub use sqlite::SqliteAlerts;

/// The error recorded on pending deliveries of a channel that is deleted.
const CHANNEL_DELETED: &str = "the channel was deleted";

/// A channel without its secret, from `alert_channels c`.
const CHANNEL_COLUMNS: &str = "c.id AS ch_id, c.tenant AS ch_tenant, c.kind AS ch_kind, c.name AS ch_name, \
     c.config_public AS ch_config_public, (c.secret IS NOT NULL) AS ch_has_secret, c.disabled AS ch_disabled, \
     c.created_at AS ch_created_at";

/// A rule without its channels, from `alert_rules`.
const RULE_COLUMNS: &str = "id, tenant, name, kind, min_severity, match_spec, cooldown_seconds, enabled, created_at";

/// An alert, from `alerts al`.
const ALERT_COLUMNS: &str = "al.id AS al_id, al.tenant AS al_tenant, al.rule_id AS al_rule_id, \
     al.dedup_key AS al_dedup_key, al.message AS al_message, al.created_at AS al_created_at";

/// A delivery with its channel's name, from [`DELIVERY_FROM`].
const DELIVERY_COLUMNS: &str = "d.id, d.tenant, d.alert_id, d.channel_id, c.name AS channel_name, d.status, \
     d.attempts, d.next_attempt_at, d.last_error, d.delivered_at, d.lease_holder, d.lease_until, d.created_at";

const DELIVERY_FROM: &str = "alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id";

/// Everything a claimed delivery carries; append `WHERE ...`.
fn claimed_select() -> String {
    format!(
        "SELECT {DELIVERY_COLUMNS}, {ALERT_COLUMNS}, {CHANNEL_COLUMNS}, c.secret AS ch_secret \
         FROM {DELIVERY_FROM} JOIN alerts al ON al.id = d.alert_id"
    )
}

fn decode_channel(row: &impl Columns) -> Result<ChannelSummary, StoreError> {
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
fn decode_stored_channel(row: &impl Columns) -> Result<StoredChannel, StoreError> {
    Ok(StoredChannel { channel: decode_channel(row)?, secret: row.opt_bytes("ch_secret")? })
}

fn decode_rule(row: &impl Columns, channel_ids: Vec<String>) -> Result<StoredRule, StoreError> {
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

fn decode_alert(row: &impl Columns) -> Result<StoredAlert, StoreError> {
    Ok(StoredAlert {
        id: row.text("al_id")?,
        tenant: row.tenant("al_tenant")?,
        rule_id: row.opt_text("al_rule_id")?,
        dedup_key: row.text("al_dedup_key")?,
        message: row.json("al_message")?,
        created_at: row.time("al_created_at")?,
    })
}

fn decode_delivery(row: &impl Columns) -> Result<Delivery, StoreError> {
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
fn decode_attempt(row: &impl Columns) -> Result<DeliveryAttempt, StoreError> {
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
fn decode_claimed(row: &impl Columns) -> Result<ClaimedDelivery, StoreError> {
    Ok(ClaimedDelivery {
        delivery: decode_delivery(row)?,
        alert: decode_alert(row)?,
        channel: decode_stored_channel(row)?,
    })
}

/// The ids in first-seen order, each once.
fn distinct(ids: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    ids.iter().map(String::as_str).filter(|id| seen.insert(*id)).collect()
}

/// A channel found for a write: its name and whether it is disabled.
struct FoundChannel {
    name: String,
    disabled: bool,
}

/// Puts the channels found in the order asked, refusing the first one that was not found.
fn in_order(
    wanted: &[&str],
    mut found: HashMap<String, FoundChannel>,
) -> Result<Vec<(String, FoundChannel)>, AlertError> {
    wanted
        .iter()
        .map(|id| {
            found
                .remove(*id)
                .map(|channel| ((*id).to_owned(), channel))
                .ok_or_else(|| AlertError::UnknownChannel((*id).to_owned()))
        })
        .collect()
}

/// Groups `(rule id, channel id)` rows, already in position order, by rule.
fn channels_by_rule(rows: Vec<(String, String)>) -> HashMap<String, Vec<String>> {
    let mut by_rule: HashMap<String, Vec<String>> = HashMap::new();
    for (rule_id, channel_id) in rows {
        by_rule.entry(rule_id).or_default().push(channel_id);
    }
    by_rule
}

/// Whether an alert may be recorded `cooldown` after the last one of its rule and dedup key
/// (`last`): as `veritrail_alerts::throttle::cooldown` decides, a zero cooldown never holds back.
fn cooldown_allows(last: Option<DateTime<Utc>>, cooldown: chrono::Duration, now: DateTime<Utc>) -> bool {
    match last {
        Some(last) if cooldown > chrono::Duration::zero() => now >= last + cooldown,
        _ => true,
    }
}

/// A seq as stored (both backends keep seqs in a signed 64-bit column).
fn seq_value(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq} is out of range")))
}

/// A stored seq.
fn seq_from(stored: i64) -> Result<u64, StoreError> {
    u64::try_from(stored).map_err(|_| StoreError::Corrupt(format!("negative seq {stored}")))
}

/// The stored forms of a rule's optional settings: (match JSON text, cooldown).
fn rule_columns(rule: &NewRule) -> (Option<String>, Option<i64>) {
    (rule.match_spec.as_ref().map(|spec| spec.to_string()), rule.cooldown_seconds.map(i64::from))
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
        let found: HashMap<String, FoundChannel> =
            [("a".to_owned(), FoundChannel { name: "A".into(), disabled: false })].into_iter().collect();
        match in_order(&["a", "x", "y"], found) {
            Err(AlertError::UnknownChannel(id)) => assert_eq!(id, "x"),
            other => panic!("expected an unknown channel, got {:?}", other.map(|found| found.len())),
        }
    }
}
