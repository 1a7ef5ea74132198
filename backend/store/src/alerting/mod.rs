//! The alerting port (`veritrail_core::alerting::AlertStore`) on both backends: channels, rules,
//! and the outbox of alerts and deliveries.
//!
//! The store is written once, generic over the database ([`Alerts`]), and so is the order of the
//! steps in each transaction. The statements that differ between the backends are
//! [`AlertDialect`]'s, in `sqlite.rs` and `postgres.rs`: claiming is where they differ most:
//! SQLite serialises claimers on its one write lock (`BEGIN IMMEDIATE`), PostgreSQL lets them run
//! side by side and skips rows another claimer has locked (`FOR UPDATE SKIP LOCKED`). The others
//! are lists of ids (arrays on PostgreSQL) and PostgreSQL's row locks.

mod postgres;
mod rows;
mod sqlite;

use std::marker::PhantomData;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Pool, QueryBuilder};
use veritrail_core::alerting::{
    AlertError, AlertQuery, AlertSource, AlertStore, ChannelSummary, ClaimedDelivery, CreatedAlert, Delivery,
    DeliveryAttempt, DeliveryQuery, DeliveryStatus, NewAlert, NewChannel, NewRule, RecordError, RuleKind, StoredAlert,
    StoredChannel, StoredRule,
};
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::store::StoreError;

use self::rows::{
    ALERT_COLUMNS, CHANNEL_COLUMNS, CHANNEL_DELETED, DELIVERY_COLUMNS, DELIVERY_FROM, FoundChannel, RULE_COLUMNS,
    RuleSettings, channels_by_rule, claimed_select, cooldown_allows, decode_alert, decode_attempt, decode_channel,
    decode_claimed, decode_delivery, decode_found_channel, decode_rule, decode_stored_channel, distinct, in_order,
    new_alert, new_channel, pending_deliveries, seq_from, seq_value,
};
use crate::columns::{Columns, new_id};
use crate::dialect::{Bind, Run};
use crate::rows::db_error;

pub use postgres::PostgresAlerts;
pub use sqlite::SqliteAlerts;

/// The alerting statements that differ between the backends beyond placeholders and how times
/// are bound. Each runs inside the caller's transaction when it has one.
#[async_trait]
pub(crate) trait AlertDialect: Run {
    /// Rows of `id, name, disabled`: the tenant's undeleted channels among `ids` (not empty), in
    /// any order. They must stay undeleted until the caller's transaction commits.
    async fn find_channels(
        conn: &mut Self::Connection,
        tenant: &TenantId,
        ids: &[&str],
    ) -> Result<Vec<Self::Row>, StoreError>;

    /// Writes a rule's channel list, positions counting from 0 in the order given (not empty).
    async fn insert_rule_channels(
        conn: &mut Self::Connection,
        tenant: &TenantId,
        rule_id: &str,
        channel_ids: &[&str],
    ) -> Result<(), StoreError>;

    /// Writes the pending deliveries of a new alert (not empty).
    async fn insert_deliveries(
        conn: &mut Self::Connection,
        alert: &StoredAlert,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError>;

    /// Marks the tenant's anomalies `ids` (not empty, distinct) alerted at `now` where they are
    /// not yet; how many were marked.
    async fn mark_anomalies_alerted(
        conn: &mut Self::Connection,
        tenant: &TenantId,
        ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// A row with `last`: when the last alert of the rule (or of no rule) and dedup key was
    /// recorded, NULL when none was.
    async fn last_alert_at(
        conn: &mut Self::Connection,
        tenant: &TenantId,
        rule_id: Option<&str>,
        dedup_key: &str,
    ) -> Result<Self::Row, StoreError>;

    /// Leases up to `limit` deliveries that are due at `now` to `holder` until `lease_until`,
    /// counting the attempt, the earliest due first; their ids.
    async fn lease_due(
        conn: &mut Self::Connection,
        tenant: Option<&str>,
        now: DateTime<Utc>,
        holder: &str,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;

    /// The rows of [`claimed_select`] for the deliveries `ids` (not empty), the earliest due first.
    async fn select_claimed(conn: &mut Self::Connection, ids: &[String]) -> Result<Vec<Self::Row>, StoreError>;
}

/// Alerting in the same database as the log.
pub struct Alerts<D: Database> {
    read_pool: Pool<D>,
    /// The pool writes go through: on SQLite the one-connection pool appends use.
    write_pool: Pool<D>,
}

impl<D: Database> Alerts<D> {
    fn with_pools(read_pool: Pool<D>, write_pool: Pool<D>) -> Self {
        Self { read_pool, write_pool }
    }
}

/// The steps of the alerting transactions on the backend `D`, each inside the caller's
/// transaction.
struct Steps<D>(PhantomData<D>);

impl<D> Steps<D>
where
    D: AlertDialect,
    for<'q> &'q str: Bind<'q, D>,
    for<'q> Option<&'q str>: Bind<'q, D>,
    for<'q> i64: Bind<'q, D>,
    for<'q> Option<i64>: Bind<'q, D>,
    for<'q> bool: Bind<'q, D>,
{
    /// Finds the tenant's undeleted channels among `ids`, in the order asked, refusing the first
    /// one that is not found.
    async fn find_channels(
        conn: &mut D::Connection,
        tenant: &TenantId,
        ids: &[&str],
    ) -> Result<Vec<FoundChannel>, AlertError> {
        let found = match ids {
            [] => Vec::new(),
            ids => {
                D::find_channels(conn, tenant, ids).await?.iter().map(decode_found_channel).collect::<Result<_, _>>()?
            }
        };
        in_order(ids, found)
    }

    /// Writes a rule's channel list (after checking every channel is the tenant's).
    async fn write_rule_channels(
        conn: &mut D::Connection,
        tenant: &TenantId,
        rule_id: &str,
        channel_ids: &[&str],
    ) -> Result<(), AlertError> {
        Self::find_channels(conn, tenant, channel_ids).await?;
        if !channel_ids.is_empty() {
            D::insert_rule_channels(conn, tenant, rule_id, channel_ids).await?;
        }
        Ok(())
    }

    /// Reads the tenant's rules (one by `id`, or those of `kind`, or all) with their channels.
    async fn read_rules(
        conn: &mut D::Connection,
        tenant: &TenantId,
        id: Option<&str>,
        kind: Option<RuleKind>,
    ) -> Result<Vec<StoredRule>, StoreError> {
        let mut rules = QueryBuilder::new(format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE tenant = "));
        rules.push_bind(tenant.as_str());
        if let Some(id) = id {
            rules.push(" AND id = ").push_bind(id);
        }
        if let Some(kind) = kind {
            rules.push(" AND kind = ").push_bind(kind.as_str());
        }
        rules.push(" ORDER BY created_at, id");
        let rules = D::fetch_all(conn, rules).await?;
        let mut links = QueryBuilder::new("SELECT rule_id, channel_id FROM alert_rule_channels WHERE tenant = ");
        links.push_bind(tenant.as_str());
        if let Some(id) = id {
            links.push(" AND rule_id = ").push_bind(id);
        }
        links.push(" ORDER BY rule_id, position");
        let mut by_rule = channels_by_rule(&D::fetch_all(conn, links).await?)?;
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
        conn: &mut D::Connection,
        tenant: &TenantId,
        alert: &NewAlert,
        cooldown: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let rule_key = alert.rule_id.as_deref().unwrap_or_default();
        let throttle_row = |sql: &mut QueryBuilder<D>| {
            sql.push(" WHERE tenant = ").push_bind(tenant.as_str());
            sql.push(" AND rule_key = ")
                .push_bind(rule_key)
                .push(" AND dedup_key = ")
                .push_bind(alert.dedup_key.as_str());
        };
        let mut insert = QueryBuilder::new("INSERT INTO alert_throttle (tenant, rule_key, dedup_key) VALUES (");
        insert.separated(", ").push_bind(tenant.as_str()).push_bind(rule_key).push_bind(alert.dedup_key.as_str());
        insert.push(") ON CONFLICT DO NOTHING");
        D::execute(conn, insert).await?;
        // On PostgreSQL the row lock makes a concurrent raiser of the same subject wait, then see
        // this alert; on SQLite the one write lock (BEGIN IMMEDIATE) already keeps other writers
        // out until commit.
        let mut select = QueryBuilder::new("SELECT last_alert_at FROM alert_throttle");
        throttle_row(&mut select);
        select.push(D::FOR_UPDATE);
        let last = D::fetch_one(conn, select).await?.opt_time("last_alert_at")?;
        if !cooldown_allows(last, cooldown, now) {
            return Ok(false);
        }
        let latest = last.map_or(now, |last| last.max(now));
        let mut update = QueryBuilder::new("UPDATE alert_throttle SET last_alert_at = ");
        update.push_bind(D::time(&latest));
        throttle_row(&mut update);
        D::execute(conn, update).await?;
        Ok(true)
    }

    /// Writes one alert and a pending delivery per enabled channel inside the caller's
    /// transaction; `None` when its cooldown holds it back (nothing written).
    async fn insert_alert(
        conn: &mut D::Connection,
        tenant: &TenantId,
        alert: &NewAlert,
        now: DateTime<Utc>,
    ) -> Result<Option<CreatedAlert>, AlertError> {
        let created_at = normalize_time(now);
        if let Some(cooldown) = alert.cooldown
            && !Self::pass_cooldown(conn, tenant, alert, cooldown, created_at).await?
        {
            return Ok(None);
        }
        let stored = new_alert(tenant, alert, created_at);
        // The alert row is written first and checked after: any refusal below rolls it back with
        // the rest, which is what makes the outbox all or nothing.
        let mut insert =
            QueryBuilder::new("INSERT INTO alerts (id, tenant, rule_id, dedup_key, message, created_at) VALUES (");
        insert
            .separated(", ")
            .push_bind(stored.id.as_str())
            .push_bind(tenant.as_str())
            .push_bind(stored.rule_id.as_deref())
            .push_bind(stored.dedup_key.as_str())
            .push_bind(stored.message.to_string().as_str())
            .push_bind(D::time(&created_at));
        insert.push(")");
        D::execute(conn, insert).await?;
        if let Some(rule_id) = &stored.rule_id {
            let mut exists = QueryBuilder::new("SELECT 1 FROM alert_rules WHERE tenant = ");
            exists.push_bind(tenant.as_str()).push(" AND id = ").push_bind(rule_id.as_str());
            if D::fetch_optional(conn, exists).await?.is_none() {
                return Err(AlertError::UnknownRule(rule_id.clone()));
            }
        }
        let channels = Self::find_channels(conn, tenant, &distinct(&alert.channel_ids)).await?;
        let deliveries = pending_deliveries(&stored, channels);
        if !deliveries.is_empty() {
            D::insert_deliveries(conn, &stored, &deliveries).await?;
        }
        Ok(Some(CreatedAlert { alert: stored, deliveries }))
    }

    /// Marks what a batch of alerts was raised from, inside the caller's transaction. A source
    /// already marked (or unknown) refuses the batch, so a second worker raising the same
    /// anomalies records nothing: on PostgreSQL it waits for the first one's row locks, then
    /// finds them marked.
    async fn mark_source(
        conn: &mut D::Connection,
        tenant: &TenantId,
        source: &AlertSource,
        now: DateTime<Utc>,
    ) -> Result<(), RecordError> {
        match source {
            AlertSource::Anomalies(ids) => {
                let ids = distinct(ids);
                if !ids.is_empty() && D::mark_anomalies_alerted(conn, tenant, &ids, now).await? != ids.len() as u64 {
                    return Err(RecordError::AlreadyRecorded);
                }
            }
            AlertSource::Events { from_seq, to_seq } => {
                if to_seq < from_seq {
                    return Err(RecordError::InvalidSource(format!("event cursor from {from_seq} back to {to_seq}")));
                }
                let mut insert = QueryBuilder::new("INSERT INTO event_alert_progress (tenant, next_seq) VALUES (");
                insert.push_bind(tenant.as_str()).push(", 0) ON CONFLICT (tenant) DO NOTHING");
                D::execute(conn, insert).await?;
                // On PostgreSQL the row lock makes a second worker wait here, then find the
                // cursor moved.
                let mut update = QueryBuilder::new("UPDATE event_alert_progress SET next_seq = ");
                update.push_bind(seq_value(*to_seq)?).push(" WHERE tenant = ").push_bind(tenant.as_str());
                update.push(" AND next_seq = ").push_bind(seq_value(*from_seq)?);
                if D::execute(conn, update).await? != 1 {
                    return Err(RecordError::AlreadyRecorded);
                }
            }
        }
        Ok(())
    }

    /// Writes the attempt row for the delivery `id` held by `holder`, inside the transaction that
    /// records its result; writes nothing when `holder` no longer holds it.
    async fn record_attempt(
        conn: &mut D::Connection,
        id: &str,
        holder: &str,
        at: DateTime<Utc>,
        // A literal: `'delivered'`, `'retry'` or `'dead'`.
        outcome_sql: &'static str,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut insert = QueryBuilder::new(
            "INSERT INTO alert_delivery_attempts (id, tenant, delivery_id, attempt, holder, finished_at, outcome, \
             error) SELECT ",
        );
        insert.push_bind(new_id().as_str()).push(", tenant, id, attempts, lease_holder, ").push_bind(D::time(&at));
        insert.push(", ").push(outcome_sql).push(", ").push_bind(error);
        insert.push(" FROM alert_deliveries WHERE id = ").push_bind(id);
        insert.push(" AND lease_holder = ").push_bind(holder).push(" AND status = 'pending'");
        D::execute(conn, insert).await?;
        Ok(())
    }
}

/// Appends the condition that the delivery `id` is still pending and held by `holder`.
fn held_by<D: Database>(sql: &mut QueryBuilder<D>, id: &str, holder: &str)
where
    for<'q> &'q str: Bind<'q, D>,
{
    sql.push(" WHERE id = ").push_bind(id).push(" AND lease_holder = ").push_bind(holder);
    sql.push(" AND status = 'pending'");
}

#[async_trait]
impl<D> AlertStore for Alerts<D>
where
    D: AlertDialect,
    for<'q> &'q str: Bind<'q, D>,
    for<'q> Option<&'q str>: Bind<'q, D>,
    for<'q> i64: Bind<'q, D>,
    for<'q> Option<i64>: Bind<'q, D>,
    for<'q> bool: Bind<'q, D>,
    for<'q> Option<&'q [u8]>: Bind<'q, D>,
{
    async fn create_channel(
        &self,
        tenant: &TenantId,
        channel: &NewChannel,
        now: DateTime<Utc>,
    ) -> Result<ChannelSummary, StoreError> {
        let summary = new_channel(tenant, channel, now);
        let mut sql = QueryBuilder::new(
            "INSERT INTO alert_channels (id, tenant, kind, name, config_public, secret, disabled, created_at) VALUES (",
        );
        sql.separated(", ")
            .push_bind(summary.id.as_str())
            .push_bind(tenant.as_str())
            .push_bind(channel.kind.as_str())
            .push_bind(channel.name.as_str())
            .push_bind(channel.config_public.to_string().as_str())
            .push_bind(channel.secret.as_deref())
            .push_bind(summary.disabled)
            .push_bind(D::time(&summary.created_at));
        sql.push(")");
        let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
        D::execute(&mut conn, sql).await?;
        Ok(summary)
    }

    async fn list_channels(&self, tenant: &TenantId) -> Result<Vec<ChannelSummary>, StoreError> {
        let mut sql = QueryBuilder::new(format!("SELECT {CHANNEL_COLUMNS} FROM alert_channels c WHERE c.tenant = "));
        sql.push_bind(tenant.as_str()).push(" AND c.deleted_at IS NULL ORDER BY c.created_at, c.id");
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_channel).collect()
    }

    async fn get_channel(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredChannel>, StoreError> {
        let mut sql = QueryBuilder::new(format!(
            "SELECT {CHANNEL_COLUMNS}, c.secret AS ch_secret FROM alert_channels c WHERE c.tenant = "
        ));
        sql.push_bind(tenant.as_str()).push(" AND c.id = ").push_bind(id).push(" AND c.deleted_at IS NULL");
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_optional(&mut conn, sql).await?.as_ref().map(decode_stored_channel).transpose()
    }

    async fn set_channel_disabled(&self, tenant: &TenantId, id: &str, disabled: bool) -> Result<bool, StoreError> {
        let mut sql = QueryBuilder::new("UPDATE alert_channels SET disabled = ");
        sql.push_bind(disabled).push(" WHERE tenant = ").push_bind(tenant.as_str());
        sql.push(" AND id = ").push_bind(id).push(" AND deleted_at IS NULL");
        let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
        Ok(D::execute(&mut conn, sql).await? > 0)
    }

    async fn delete_channel(&self, tenant: &TenantId, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = D::begin_write(&self.write_pool).await?;
        let mut delete = QueryBuilder::new("UPDATE alert_channels SET deleted_at = ");
        delete.push_bind(D::time(&now)).push(" WHERE tenant = ").push_bind(tenant.as_str());
        delete.push(" AND id = ").push_bind(id).push(" AND deleted_at IS NULL");
        if D::execute(&mut tx, delete).await? == 0 {
            return Ok(false);
        }
        let mut unlink = QueryBuilder::new("DELETE FROM alert_rule_channels WHERE tenant = ");
        unlink.push_bind(tenant.as_str()).push(" AND channel_id = ").push_bind(id);
        D::execute(&mut tx, unlink).await?;
        let mut give_up = QueryBuilder::new("UPDATE alert_deliveries SET status = 'dead', last_error = ");
        give_up.push_bind(CHANNEL_DELETED).push(", lease_holder = NULL, lease_until = NULL WHERE tenant = ");
        give_up.push_bind(tenant.as_str()).push(" AND channel_id = ").push_bind(id).push(" AND status = 'pending'");
        D::execute(&mut tx, give_up).await?;
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
        let settings = RuleSettings::of(rule);
        let mut tx = D::begin_write(&self.write_pool).await?;
        let mut insert = QueryBuilder::new(
            "INSERT INTO alert_rules (id, tenant, name, kind, min_severity, match_spec, cooldown_seconds, enabled, \
             created_at) VALUES (",
        );
        insert
            .separated(", ")
            .push_bind(id.as_str())
            .push_bind(tenant.as_str())
            .push_bind(rule.name.as_str())
            .push_bind(rule.kind.as_str())
            .push_bind(rule.min_severity.as_str())
            .push_bind(settings.match_spec.as_deref())
            .push_bind(settings.cooldown_seconds)
            .push_bind(rule.enabled)
            .push_bind(D::time(&now));
        insert.push(")");
        D::execute(&mut tx, insert).await?;
        Steps::<D>::write_rule_channels(&mut tx, tenant, &id, &channel_ids).await?;
        let stored = Steps::<D>::read_rules(&mut tx, tenant, Some(&id), None).await?.pop();
        tx.commit().await.map_err(db_error)?;
        stored.ok_or_else(|| AlertError::Store(StoreError::Corrupt(format!("rule {id} vanished while created"))))
    }

    async fn list_rules(&self, tenant: &TenantId, kind: Option<RuleKind>) -> Result<Vec<StoredRule>, StoreError> {
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        Steps::<D>::read_rules(&mut conn, tenant, None, kind).await
    }

    async fn get_rule(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredRule>, StoreError> {
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        Ok(Steps::<D>::read_rules(&mut conn, tenant, Some(id), None).await?.pop())
    }

    async fn update_rule(&self, tenant: &TenantId, id: &str, rule: &NewRule) -> Result<Option<StoredRule>, AlertError> {
        let channel_ids = distinct(&rule.channel_ids);
        let settings = RuleSettings::of(rule);
        let mut tx = D::begin_write(&self.write_pool).await?;
        let mut update = QueryBuilder::new("UPDATE alert_rules SET name = ");
        update.push_bind(rule.name.as_str()).push(", kind = ").push_bind(rule.kind.as_str());
        update.push(", min_severity = ").push_bind(rule.min_severity.as_str());
        update.push(", match_spec = ").push_bind(settings.match_spec.as_deref());
        update.push(", cooldown_seconds = ").push_bind(settings.cooldown_seconds);
        update.push(", enabled = ").push_bind(rule.enabled);
        update.push(" WHERE tenant = ").push_bind(tenant.as_str()).push(" AND id = ").push_bind(id);
        if D::execute(&mut tx, update).await? == 0 {
            return Ok(None);
        }
        let mut unlink = QueryBuilder::new("DELETE FROM alert_rule_channels WHERE tenant = ");
        unlink.push_bind(tenant.as_str()).push(" AND rule_id = ").push_bind(id);
        D::execute(&mut tx, unlink).await?;
        Steps::<D>::write_rule_channels(&mut tx, tenant, id, &channel_ids).await?;
        let stored = Steps::<D>::read_rules(&mut tx, tenant, Some(id), None).await?.pop();
        tx.commit().await.map_err(db_error)?;
        Ok(stored)
    }

    async fn delete_rule(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        // The rule's channel list goes with it (ON DELETE CASCADE).
        let mut sql = QueryBuilder::new("DELETE FROM alert_rules WHERE tenant = ");
        sql.push_bind(tenant.as_str()).push(" AND id = ").push_bind(id);
        let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
        Ok(D::execute(&mut conn, sql).await? > 0)
    }

    async fn create_alert(
        &self,
        tenant: &TenantId,
        alert: &NewAlert,
        now: DateTime<Utc>,
    ) -> Result<CreatedAlert, AlertError> {
        let mut tx = D::begin_write(&self.write_pool).await?;
        // Any refusal returns before the commit and rolls back what was written: all or nothing.
        let created = Steps::<D>::insert_alert(&mut tx, tenant, alert, now)
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
        let mut tx = D::begin_write(&self.write_pool).await?;
        Steps::<D>::mark_source(&mut tx, tenant, source, now).await?;
        let mut created = Vec::with_capacity(alerts.len());
        for alert in alerts {
            created.extend(Steps::<D>::insert_alert(&mut tx, tenant, alert, now).await?);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(created)
    }

    async fn anomalies_to_alert(&self, tenant: &TenantId, limit: u32) -> Result<Vec<String>, StoreError> {
        let mut sql = QueryBuilder::new("SELECT id FROM anomalies WHERE tenant = ");
        sql.push_bind(tenant.as_str()).push(" AND alerted_at IS NULL ORDER BY created_at, id LIMIT ");
        sql.push_bind(i64::from(limit));
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(|row| row.text("id")).collect()
    }

    async fn event_alert_cursor(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let mut sql = QueryBuilder::new("SELECT next_seq FROM event_alert_progress WHERE tenant = ");
        sql.push_bind(tenant.as_str());
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        let next = D::fetch_optional(&mut conn, sql).await?.map(|row| row.int("next_seq")).transpose()?;
        seq_from(next.unwrap_or(0))
    }

    async fn last_alert_at(
        &self,
        tenant: &TenantId,
        rule_id: Option<&str>,
        dedup_key: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::last_alert_at(&mut conn, tenant, rule_id, dedup_key).await?.opt_time("last")
    }

    async fn list_alerts(&self, tenant: &TenantId, query: &AlertQuery) -> Result<Vec<StoredAlert>, StoreError> {
        let mut sql = QueryBuilder::new(format!("SELECT {ALERT_COLUMNS} FROM alerts al WHERE al.tenant = "));
        sql.push_bind(tenant.as_str());
        if let Some(rule_id) = &query.rule_id {
            sql.push(" AND al.rule_id = ").push_bind(rule_id.as_str());
        }
        if let Some(since) = &query.since {
            sql.push(" AND al.created_at >= ").push_bind(D::time(since));
        }
        sql.push(" ORDER BY al.created_at DESC, al.id DESC LIMIT ").push_bind(i64::from(query.limit));
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_alert).collect()
    }

    async fn claim_due_deliveries(
        &self,
        tenant: Option<&TenantId>,
        now: DateTime<Utc>,
        holder: &str,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let mut tx = D::begin_write(&self.write_pool).await?;
        let claimed = D::lease_due(&mut tx, tenant.map(TenantId::as_str), now, holder, lease_until, limit).await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let rows = D::select_claimed(&mut tx, &claimed).await?;
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
        let mut tx = D::begin_write(&self.write_pool).await?;
        let mut lease = QueryBuilder::new("UPDATE alert_deliveries SET lease_holder = ");
        lease.push_bind(holder).push(", lease_until = ").push_bind(D::time(&lease_until));
        lease
            .push(", attempts = attempts + 1 WHERE id = ")
            .push_bind(id)
            .push(" AND tenant = ")
            .push_bind(tenant.as_str());
        lease.push(" AND status = 'pending' AND (lease_until IS NULL OR lease_until <= ").push_bind(D::time(&now));
        lease.push(")");
        if D::execute(&mut tx, lease).await? == 0 {
            return Ok(None);
        }
        let mut select = QueryBuilder::new(format!("{} WHERE d.id = ", claimed_select()));
        select.push_bind(id);
        let row = D::fetch_one(&mut tx, select).await?;
        tx.commit().await.map_err(db_error)?;
        decode_claimed(&row).map(Some)
    }

    async fn mark_delivered(&self, id: &str, holder: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = D::begin_write(&self.write_pool).await?;
        Steps::<D>::record_attempt(&mut tx, id, holder, at, "'delivered'", None).await?;
        let mut done = QueryBuilder::new("UPDATE alert_deliveries SET status = 'delivered', delivered_at = ");
        done.push_bind(D::time(&at)).push(", lease_holder = NULL, lease_until = NULL");
        held_by(&mut done, id, holder);
        let changed = D::execute(&mut tx, done).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(changed > 0)
    }

    async fn mark_failed(
        &self,
        id: &str,
        holder: &str,
        error: &str,
        next_attempt_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = D::begin_write(&self.write_pool).await?;
        let outcome = if next_attempt_at.is_some() { "'retry'" } else { "'dead'" };
        Steps::<D>::record_attempt(&mut tx, id, holder, at, outcome, Some(error)).await?;
        // Pending again when there is a next attempt, dead otherwise.
        let mut failed = QueryBuilder::new("UPDATE alert_deliveries SET status = ");
        match &next_attempt_at {
            Some(next) => {
                failed.push_bind(DeliveryStatus::Pending.as_str()).push(", next_attempt_at = ").push_bind(D::time(next))
            }
            None => failed.push_bind(DeliveryStatus::Dead.as_str()),
        };
        failed.push(", last_error = ").push_bind(error).push(", lease_holder = NULL, lease_until = NULL");
        held_by(&mut failed, id, holder);
        let changed = D::execute(&mut tx, failed).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(changed > 0)
    }

    async fn list_attempts(
        &self,
        tenant: &TenantId,
        delivery_id: &str,
    ) -> Result<Option<Vec<DeliveryAttempt>>, StoreError> {
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        let mut exists = QueryBuilder::new("SELECT 1 FROM alert_deliveries WHERE tenant = ");
        exists.push_bind(tenant.as_str()).push(" AND id = ").push_bind(delivery_id);
        if D::fetch_optional(&mut conn, exists).await?.is_none() {
            return Ok(None);
        }
        let mut sql = QueryBuilder::new(
            "SELECT delivery_id, attempt, holder, finished_at, outcome, error FROM alert_delivery_attempts \
             WHERE tenant = ",
        );
        sql.push_bind(tenant.as_str()).push(" AND delivery_id = ").push_bind(delivery_id);
        sql.push(" ORDER BY finished_at, id");
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_attempt).collect::<Result<Vec<_>, _>>().map(Some)
    }

    async fn requeue_delivery(&self, tenant: &TenantId, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut sql = QueryBuilder::new("UPDATE alert_deliveries SET status = 'pending', next_attempt_at = ");
        sql.push_bind(D::time(&now)).push(", attempts = 0 WHERE tenant = ").push_bind(tenant.as_str());
        sql.push(" AND id = ").push_bind(id).push(" AND status = 'dead'");
        sql.push(" AND channel_id IN (SELECT id FROM alert_channels WHERE deleted_at IS NULL)");
        let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
        Ok(D::execute(&mut conn, sql).await? > 0)
    }

    async fn list_deliveries(&self, tenant: &TenantId, query: &DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
        let mut sql = QueryBuilder::new(format!("SELECT {DELIVERY_COLUMNS} FROM {DELIVERY_FROM} WHERE d.tenant = "));
        sql.push_bind(tenant.as_str());
        if let Some(status) = query.status {
            sql.push(" AND d.status = ").push_bind(status.as_str());
        }
        if let Some(alert_id) = &query.alert_id {
            sql.push(" AND d.alert_id = ").push_bind(alert_id.as_str());
        }
        if let Some(before) = &query.before {
            sql.push(" AND (d.created_at, d.id) < (").push_bind(D::time(&before.created_at));
            sql.push(", ").push_bind(before.id.as_str()).push(")");
        }
        sql.push(" ORDER BY d.created_at DESC, d.id DESC LIMIT ").push_bind(i64::from(query.limit));
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_delivery).collect()
    }
}
