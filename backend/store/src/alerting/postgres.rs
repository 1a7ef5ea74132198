//! Alerting on PostgreSQL. Several servers may share the database: claims lock the rows they
//! take with `FOR UPDATE SKIP LOCKED`, so concurrent claimers each take different deliveries
//! without waiting for one another, and a row another claimer has just leased is re-checked
//! (its new lease excludes it).

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use veritrail_core::alerting::{
    AlertError, AlertQuery, AlertSource, AlertStore, ChannelSummary, ClaimedDelivery, CreatedAlert, Delivery,
    DeliveryAttempt, DeliveryQuery, DeliveryStatus, NewAlert, NewChannel, NewRule, RecordError, RuleKind, StoredAlert,
    StoredChannel, StoredRule,
};
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::store::StoreError;

use super::{
    ALERT_COLUMNS, CHANNEL_COLUMNS, CHANNEL_DELETED, DELIVERY_COLUMNS, DELIVERY_FROM, FoundChannel, RULE_COLUMNS,
    channels_by_rule, claimed_select, cooldown_allows, decode_alert, decode_attempt, decode_channel, decode_claimed,
    decode_delivery, decode_rule, decode_stored_channel, distinct, in_order, rule_columns, seq_from, seq_value,
};
use crate::anomalies::columns::{Columns, new_id};
use crate::rows::db_error;

/// Alerting in the same PostgreSQL database as the log.
pub struct PostgresAlerts {
    pool: PgPool,
}

impl PostgresAlerts {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Finds the tenant's undeleted channels among `ids`, in the order asked. `FOR SHARE` keeps them
/// from being deleted before the transaction that refers to them commits.
async fn find_channels(
    conn: &mut PgConnection,
    tenant: &TenantId,
    ids: &[&str],
) -> Result<Vec<(String, FoundChannel)>, AlertError> {
    let mut found = HashMap::new();
    if !ids.is_empty() {
        let rows = sqlx::query(
            "SELECT id, name, disabled FROM alert_channels WHERE tenant = $1 AND id = ANY($2) AND deleted_at IS NULL \
             FOR SHARE",
        )
        .bind(tenant.as_str())
        .bind(ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
        for row in &rows {
            found.insert(row.text("id")?, FoundChannel { name: row.text("name")?, disabled: row.flag("disabled")? });
        }
    }
    in_order(ids, found)
}

/// Writes a rule's channel list (after checking every channel is the tenant's).
async fn write_rule_channels(
    conn: &mut PgConnection,
    tenant: &TenantId,
    rule_id: &str,
    channel_ids: &[&str],
) -> Result<(), AlertError> {
    find_channels(conn, tenant, channel_ids).await?;
    if channel_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO alert_rule_channels (tenant, rule_id, channel_id, position) \
         SELECT $1, $2, channel_id, position - 1 FROM UNNEST($3::text[]) WITH ORDINALITY AS t (channel_id, position)",
    )
    .bind(tenant.as_str())
    .bind(rule_id)
    .bind(channel_ids)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Reads the tenant's rules (one by `id`, or those of `kind`, or all) with their channels.
async fn read_rules(
    conn: &mut PgConnection,
    tenant: &TenantId,
    id: Option<&str>,
    kind: Option<RuleKind>,
) -> Result<Vec<StoredRule>, StoreError> {
    let sql = format!(
        "SELECT {RULE_COLUMNS} FROM alert_rules WHERE tenant = $1 AND ($2::text IS NULL OR id = $2) \
         AND ($3::text IS NULL OR kind = $3) ORDER BY created_at, id"
    );
    let rules = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(id)
        .bind(kind.map(RuleKind::as_str))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let links: Vec<(String, String)> = sqlx::query_as(
        "SELECT rule_id, channel_id FROM alert_rule_channels WHERE tenant = $1 AND ($2::text IS NULL OR rule_id = $2) \
         ORDER BY rule_id, position",
    )
    .bind(tenant.as_str())
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let mut by_rule = channels_by_rule(links);
    rules
        .iter()
        .map(|row| {
            let channels = by_rule.remove(&row.text("id")?).unwrap_or_default();
            decode_rule(row, channels)
        })
        .collect()
}

/// Checks an alert's cooldown against its throttle row and, when it may go, moves the row to
/// `now`, all under the row's lock: `false` when an alert of the same rule and dedup key was
/// recorded within the cooldown.
async fn pass_cooldown(
    conn: &mut PgConnection,
    tenant: &TenantId,
    alert: &NewAlert,
    cooldown: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let rule_key = alert.rule_id.as_deref().unwrap_or_default();
    sqlx::query("INSERT INTO alert_throttle (tenant, rule_key, dedup_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(tenant.as_str())
        .bind(rule_key)
        .bind(&alert.dedup_key)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    // The row lock makes a concurrent raiser of the same subject wait, then see this alert.
    let last = sqlx::query(
        "SELECT last_alert_at FROM alert_throttle WHERE tenant = $1 AND rule_key = $2 AND dedup_key = $3 FOR UPDATE",
    )
    .bind(tenant.as_str())
    .bind(rule_key)
    .bind(&alert.dedup_key)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_error)?
    .opt_time("last_alert_at")?;
    if !cooldown_allows(last, cooldown, now) {
        return Ok(false);
    }
    let latest = last.map_or(now, |last| last.max(now));
    sqlx::query("UPDATE alert_throttle SET last_alert_at = $1 WHERE tenant = $2 AND rule_key = $3 AND dedup_key = $4")
        .bind(latest)
        .bind(tenant.as_str())
        .bind(rule_key)
        .bind(&alert.dedup_key)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(true)
}

/// Writes one alert and a pending delivery per enabled channel inside the caller's transaction;
/// `None` when its cooldown holds it back (nothing written).
async fn insert_alert(
    conn: &mut PgConnection,
    tenant: &TenantId,
    alert: &NewAlert,
    now: DateTime<Utc>,
) -> Result<Option<CreatedAlert>, AlertError> {
    let created_at = normalize_time(now);
    if let Some(cooldown) = alert.cooldown
        && !pass_cooldown(conn, tenant, alert, cooldown, created_at).await?
    {
        return Ok(None);
    }
    let stored = StoredAlert {
        id: alert.id.clone().unwrap_or_else(new_id),
        tenant: tenant.clone(),
        rule_id: alert.rule_id.clone(),
        dedup_key: alert.dedup_key.clone(),
        message: alert.message.clone(),
        created_at,
    };
    // The alert row is written first and checked after: any refusal below rolls it back with
    // the rest, which is what makes the outbox all or nothing.
    sqlx::query(
        "INSERT INTO alerts (id, tenant, rule_id, dedup_key, message, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&stored.id)
    .bind(tenant.as_str())
    .bind(stored.rule_id.as_deref())
    .bind(&stored.dedup_key)
    .bind(stored.message.to_string())
    .bind(created_at)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if let Some(rule_id) = &stored.rule_id {
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM alert_rules WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(rule_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
        if exists.is_none() {
            return Err(AlertError::UnknownRule(rule_id.clone()));
        }
    }
    let channels = find_channels(conn, tenant, &distinct(&alert.channel_ids)).await?;
    let deliveries: Vec<Delivery> = channels
        .into_iter()
        .filter(|(_, channel)| !channel.disabled)
        .map(|(channel_id, channel)| Delivery {
            id: new_id(),
            tenant: tenant.clone(),
            alert_id: stored.id.clone(),
            channel_id,
            channel_name: channel.name,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: created_at,
            last_error: None,
            delivered_at: None,
            lease_holder: None,
            lease_until: None,
            created_at,
        })
        .collect();
    if !deliveries.is_empty() {
        let ids: Vec<&str> = deliveries.iter().map(|delivery| delivery.id.as_str()).collect();
        let channel_ids: Vec<&str> = deliveries.iter().map(|delivery| delivery.channel_id.as_str()).collect();
        sqlx::query(
            "INSERT INTO alert_deliveries (id, tenant, alert_id, channel_id, status, attempts, next_attempt_at, \
             created_at) SELECT id, $1, $2, channel_id, 'pending', 0, $3, $3 \
             FROM UNNEST($4::text[], $5::text[]) AS t (id, channel_id)",
        )
        .bind(tenant.as_str())
        .bind(&stored.id)
        .bind(created_at)
        .bind(&ids)
        .bind(&channel_ids)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    Ok(Some(CreatedAlert { alert: stored, deliveries }))
}

/// Marks what a batch of alerts was raised from, inside the caller's transaction. A source
/// already marked (or unknown) refuses the batch: a second worker raising the same anomalies
/// waits for the first one's row locks, then finds them marked and records nothing.
async fn mark_source(
    conn: &mut PgConnection,
    tenant: &TenantId,
    source: &AlertSource,
    now: DateTime<Utc>,
) -> Result<(), RecordError> {
    match source {
        AlertSource::Anomalies(ids) => {
            let ids = distinct(ids);
            if ids.is_empty() {
                return Ok(());
            }
            let done = sqlx::query(
                "UPDATE anomalies SET alerted_at = $1 WHERE tenant = $2 AND id = ANY($3) AND alerted_at IS NULL",
            )
            .bind(normalize_time(now))
            .bind(tenant.as_str())
            .bind(&ids)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            if done.rows_affected() != ids.len() as u64 {
                return Err(RecordError::AlreadyRecorded);
            }
        }
        AlertSource::Events { from_seq, to_seq } => {
            if to_seq < from_seq {
                return Err(RecordError::InvalidSource(format!("event cursor from {from_seq} back to {to_seq}")));
            }
            sqlx::query(
                "INSERT INTO event_alert_progress (tenant, next_seq) VALUES ($1, 0) ON CONFLICT (tenant) DO NOTHING",
            )
            .bind(tenant.as_str())
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            // The row lock makes a second worker wait here, then find the cursor moved.
            let done = sqlx::query("UPDATE event_alert_progress SET next_seq = $1 WHERE tenant = $2 AND next_seq = $3")
                .bind(seq_value(*to_seq)?)
                .bind(tenant.as_str())
                .bind(seq_value(*from_seq)?)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            if done.rows_affected() != 1 {
                return Err(RecordError::AlreadyRecorded);
            }
        }
    }
    Ok(())
}

#[async_trait]
impl AlertStore for PostgresAlerts {
    async fn create_channel(
        &self,
        tenant: &TenantId,
        channel: &NewChannel,
        now: DateTime<Utc>,
    ) -> Result<ChannelSummary, StoreError> {
        let summary = ChannelSummary {
            id: channel.id.clone().unwrap_or_else(new_id),
            tenant: tenant.clone(),
            kind: channel.kind,
            name: channel.name.clone(),
            config_public: channel.config_public.clone(),
            has_secret: channel.secret.is_some(),
            disabled: false,
            created_at: normalize_time(now),
        };
        sqlx::query(
            "INSERT INTO alert_channels (id, tenant, kind, name, config_public, secret, disabled, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, false, $7)",
        )
        .bind(&summary.id)
        .bind(tenant.as_str())
        .bind(channel.kind.as_str())
        .bind(&channel.name)
        .bind(channel.config_public.to_string())
        .bind(channel.secret.as_deref())
        .bind(summary.created_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(summary)
    }

    async fn list_channels(&self, tenant: &TenantId) -> Result<Vec<ChannelSummary>, StoreError> {
        let sql = format!(
            "SELECT {CHANNEL_COLUMNS} FROM alert_channels c WHERE c.tenant = $1 AND c.deleted_at IS NULL \
             ORDER BY c.created_at, c.id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_channel)
            .collect()
    }

    async fn get_channel(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredChannel>, StoreError> {
        let sql = format!(
            "SELECT {CHANNEL_COLUMNS}, c.secret AS ch_secret FROM alert_channels c \
             WHERE c.tenant = $1 AND c.id = $2 AND c.deleted_at IS NULL"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(decode_stored_channel)
            .transpose()
    }

    async fn set_channel_disabled(&self, tenant: &TenantId, id: &str, disabled: bool) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE alert_channels SET disabled = $1 WHERE tenant = $2 AND id = $3 AND deleted_at IS NULL")
                .bind(disabled)
                .bind(tenant.as_str())
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_channel(&self, tenant: &TenantId, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE alert_channels SET deleted_at = $1 WHERE tenant = $2 AND id = $3 AND deleted_at IS NULL",
        )
        .bind(normalize_time(now))
        .bind(tenant.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM alert_rule_channels WHERE tenant = $1 AND channel_id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "UPDATE alert_deliveries SET status = 'dead', last_error = $1, lease_holder = NULL, lease_until = NULL \
             WHERE tenant = $2 AND channel_id = $3 AND status = 'pending'",
        )
        .bind(CHANNEL_DELETED)
        .bind(tenant.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn create_rule(
        &self,
        tenant: &TenantId,
        rule: &NewRule,
        now: DateTime<Utc>,
    ) -> Result<StoredRule, AlertError> {
        let id = new_id();
        let channel_ids = distinct(&rule.channel_ids);
        let (match_spec, cooldown) = rule_columns(rule);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        sqlx::query(
            "INSERT INTO alert_rules (id, tenant, name, kind, min_severity, match_spec, cooldown_seconds, enabled, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(tenant.as_str())
        .bind(&rule.name)
        .bind(rule.kind.as_str())
        .bind(rule.min_severity.as_str())
        .bind(match_spec)
        .bind(cooldown)
        .bind(rule.enabled)
        .bind(normalize_time(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        write_rule_channels(&mut tx, tenant, &id, &channel_ids).await?;
        let stored = read_rules(&mut tx, tenant, Some(&id), None).await?.pop();
        tx.commit().await.map_err(db_error)?;
        stored.ok_or_else(|| AlertError::Store(StoreError::Corrupt(format!("rule {id} vanished while created"))))
    }

    async fn list_rules(&self, tenant: &TenantId, kind: Option<RuleKind>) -> Result<Vec<StoredRule>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        read_rules(&mut conn, tenant, None, kind).await
    }

    async fn get_rule(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredRule>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        Ok(read_rules(&mut conn, tenant, Some(id), None).await?.pop())
    }

    async fn update_rule(&self, tenant: &TenantId, id: &str, rule: &NewRule) -> Result<Option<StoredRule>, AlertError> {
        let channel_ids = distinct(&rule.channel_ids);
        let (match_spec, cooldown) = rule_columns(rule);
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query(
            "UPDATE alert_rules SET name = $1, kind = $2, min_severity = $3, match_spec = $4, cooldown_seconds = $5, \
             enabled = $6 WHERE tenant = $7 AND id = $8",
        )
        .bind(&rule.name)
        .bind(rule.kind.as_str())
        .bind(rule.min_severity.as_str())
        .bind(match_spec)
        .bind(cooldown)
        .bind(rule.enabled)
        .bind(tenant.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("DELETE FROM alert_rule_channels WHERE tenant = $1 AND rule_id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        write_rule_channels(&mut tx, tenant, id, &channel_ids).await?;
        let stored = read_rules(&mut tx, tenant, Some(id), None).await?.pop();
        tx.commit().await.map_err(db_error)?;
        Ok(stored)
    }

    async fn delete_rule(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        // The rule's channel list goes with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM alert_rules WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_alert(
        &self,
        tenant: &TenantId,
        alert: &NewAlert,
        now: DateTime<Utc>,
    ) -> Result<CreatedAlert, AlertError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Any refusal returns before the commit and rolls back what was written: all or nothing.
        let created = insert_alert(&mut tx, tenant, alert, now)
            .await?
            .ok_or_else(|| AlertError::InCooldown(alert.dedup_key.clone()))?;
        tx.commit().await.map_err(db_error)?;
        Ok(created)
    }

    async fn record_alerts(
        &self,
        tenant: &TenantId,
        alerts: &[NewAlert],
        source: &AlertSource,
        now: DateTime<Utc>,
    ) -> Result<Vec<CreatedAlert>, RecordError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        mark_source(&mut tx, tenant, source, now).await?;
        let mut created = Vec::with_capacity(alerts.len());
        for alert in alerts {
            created.extend(insert_alert(&mut tx, tenant, alert, now).await?);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(created)
    }

    async fn anomalies_to_alert(&self, tenant: &TenantId, limit: u32) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT id FROM anomalies WHERE tenant = $1 AND alerted_at IS NULL ORDER BY created_at, id LIMIT $2",
        )
        .bind(tenant.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)
    }

    async fn event_alert_cursor(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let next: Option<i64> = sqlx::query_scalar("SELECT next_seq FROM event_alert_progress WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        seq_from(next.unwrap_or(0))
    }

    async fn last_alert_at(
        &self,
        tenant: &TenantId,
        rule_id: Option<&str>,
        dedup_key: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        // Two statements rather than IS NOT DISTINCT FROM, which cannot use the index.
        let query = match rule_id {
            Some(rule_id) => sqlx::query(
                "SELECT MAX(created_at) AS last FROM alerts WHERE tenant = $1 AND dedup_key = $2 AND rule_id = $3",
            )
            .bind(tenant.as_str())
            .bind(dedup_key)
            .bind(rule_id),
            None => sqlx::query(
                "SELECT MAX(created_at) AS last FROM alerts WHERE tenant = $1 AND dedup_key = $2 AND rule_id IS NULL",
            )
            .bind(tenant.as_str())
            .bind(dedup_key),
        };
        query.fetch_one(&self.pool).await.map_err(db_error)?.opt_time("last")
    }

    async fn list_alerts(&self, tenant: &TenantId, query: &AlertQuery) -> Result<Vec<StoredAlert>, StoreError> {
        let mut sql =
            QueryBuilder::<Postgres>::new(format!("SELECT {ALERT_COLUMNS} FROM alerts al WHERE al.tenant = "));
        sql.push_bind(tenant.as_str());
        if let Some(rule_id) = &query.rule_id {
            sql.push(" AND al.rule_id = ").push_bind(rule_id.clone());
        }
        if let Some(since) = query.since {
            sql.push(" AND al.created_at >= ").push_bind(normalize_time(since));
        }
        sql.push(" ORDER BY al.created_at DESC, al.id DESC LIMIT ").push_bind(i64::from(query.limit));
        sql.build().fetch_all(&self.pool).await.map_err(db_error)?.iter().map(decode_alert).collect()
    }

    async fn claim_due_deliveries(
        &self,
        now: DateTime<Utc>,
        holder: &str,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let claimed: Vec<String> = sqlx::query_scalar(
            "WITH due AS (SELECT d.id FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $3 AND (d.lease_until IS NULL OR d.lease_until <= $3) \
             AND NOT c.disabled AND c.deleted_at IS NULL ORDER BY d.next_attempt_at, d.id LIMIT $4 \
             FOR UPDATE OF d SKIP LOCKED) \
             UPDATE alert_deliveries SET lease_holder = $1, lease_until = $2, attempts = attempts + 1 \
             FROM due WHERE alert_deliveries.id = due.id RETURNING alert_deliveries.id",
        )
        .bind(holder)
        .bind(normalize_time(lease_until))
        .bind(normalize_time(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("{} WHERE d.id = ANY($1) ORDER BY d.next_attempt_at, d.id", claimed_select());
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&claimed).fetch_all(&mut *tx).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        rows.iter().map(decode_claimed).collect()
    }

    async fn claim_delivery(
        &self,
        tenant: &TenantId,
        id: &str,
        now: DateTime<Utc>,
        holder: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<ClaimedDelivery>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let claimed = sqlx::query(
            "UPDATE alert_deliveries SET lease_holder = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id = $3 AND tenant = $4 AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $5)",
        )
        .bind(holder)
        .bind(normalize_time(lease_until))
        .bind(id)
        .bind(tenant.as_str())
        .bind(normalize_time(now))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if claimed.rows_affected() == 0 {
            return Ok(None);
        }
        let sql = format!("{} WHERE d.id = $1", claimed_select());
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_one(&mut *tx).await.map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        decode_claimed(&row).map(Some)
    }

    async fn mark_delivered(&self, id: &str, holder: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        record_attempt(&mut tx, id, holder, at, "'delivered'", None).await?;
        let done = sqlx::query(
            "UPDATE alert_deliveries SET status = 'delivered', delivered_at = $1, lease_holder = NULL, \
             lease_until = NULL WHERE id = $2 AND lease_holder = $3 AND status = 'pending'",
        )
        .bind(normalize_time(at))
        .bind(id)
        .bind(holder)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn mark_failed(
        &self,
        id: &str,
        holder: &str,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let outcome = if next_attempt_at.is_some() { "'retry'" } else { "'dead'" };
        record_attempt(&mut tx, id, holder, at, outcome, Some(error)).await?;
        let done = sqlx::query(
            "UPDATE alert_deliveries SET status = CASE WHEN $1::timestamptz IS NULL THEN 'dead' ELSE 'pending' END, \
             next_attempt_at = COALESCE($1, next_attempt_at), last_error = $2, lease_holder = NULL, \
             lease_until = NULL WHERE id = $3 AND lease_holder = $4 AND status = 'pending'",
        )
        .bind(next_attempt_at.map(normalize_time))
        .bind(error)
        .bind(id)
        .bind(holder)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_attempts(
        &self,
        tenant: &TenantId,
        delivery_id: &str,
    ) -> Result<Option<Vec<DeliveryAttempt>>, StoreError> {
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM alert_deliveries WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(delivery_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT delivery_id, attempt, holder, finished_at, outcome, error FROM alert_delivery_attempts \
             WHERE tenant = $1 AND delivery_id = $2 ORDER BY finished_at, id",
        )
        .bind(tenant.as_str())
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter().map(decode_attempt).collect::<Result<Vec<_>, _>>().map(Some)
    }

    async fn requeue_delivery(&self, tenant: &TenantId, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE alert_deliveries SET status = 'pending', next_attempt_at = $1, attempts = 0 \
             WHERE tenant = $2 AND id = $3 AND status = 'dead' \
             AND channel_id IN (SELECT id FROM alert_channels WHERE deleted_at IS NULL)",
        )
        .bind(normalize_time(now))
        .bind(tenant.as_str())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_deliveries(&self, tenant: &TenantId, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        let mut sql =
            QueryBuilder::<Postgres>::new(format!("SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.tenant = "));
        sql.push_bind(tenant.as_str());
        if let Some(status) = query.status {
            sql.push(" AND d.status = ").push_bind(status.as_str());
        }
        if let Some(alert_id) = &query.alert_id {
            sql.push(" AND d.alert_id = ").push_bind(alert_id.clone());
        }
        if let Some(before) = &query.before {
            sql.push(" AND (d.created_at, d.id) < (")
                .push_bind(normalize_time(before.created_at))
                .push(", ")
                .push_bind(before.id.clone())
                .push(")");
        }
        sql.push(" ORDER BY d.created_at DESC, d.id DESC LIMIT ").push_bind(i64::from(query.limit));
        sql.build().fetch_all(&self.pool).await.map_err(db_error)?.iter().map(decode_delivery).collect()
    }
}

/// Writes the attempt row for the delivery `id` held by `holder`, inside the transaction that
/// records its result; writes nothing when `holder` no longer holds it.
async fn record_attempt(
    tx: &mut PgConnection,
    id: &str,
    holder: &str,
    at: DateTime<Utc>,
    // A literal: `'delivered'`, `'retry'` or `'dead'`.
    outcome_sql: &'static str,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO alert_delivery_attempts (id, tenant, delivery_id, attempt, holder, finished_at, outcome, error) \
         SELECT $1, tenant, id, attempts, lease_holder, $2, {outcome_sql}, $3 FROM alert_deliveries \
         WHERE id = $4 AND lease_holder = $5 AND status = 'pending'"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(new_id())
        .bind(normalize_time(at))
        .bind(error)
        .bind(id)
        .bind(holder)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    Ok(())
}
