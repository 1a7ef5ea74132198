//! Alerting on SQLite. Every write runs on the store's one write connection, multi-statement
//! writes inside `BEGIN IMMEDIATE`: that takes SQLite's write lock up front, so claims by two
//! workers (or two processes on one file) happen one after the other and never overlap.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use veritrail_core::alerting::{Delivery, StoredAlert};
use veritrail_core::event::TenantId;
use veritrail_core::store::StoreError;

use super::rows::claimed_select;
use super::{AlertDialect, Alerts};
use crate::dialect::text_time;
use crate::rows::db_error;

/// Alerting in the same SQLite file as the log.
pub type SqliteAlerts = Alerts<Sqlite>;

impl SqliteAlerts {
    /// Uses the store's pools: `write_pool` must be the one-connection pool appends use.
    pub fn new(read_pool: SqlitePool, write_pool: SqlitePool) -> Self {
        Self::with_pools(read_pool, write_pool)
    }
}

/// Appends `(?, ?, ...)` binding `ids`, for `IN`: SQLite has no arrays.
fn push_list<'a>(query: &mut QueryBuilder<Sqlite>, ids: impl IntoIterator<Item = &'a str>) {
    query.push("(");
    let mut separated = query.separated(", ");
    for id in ids {
        separated.push_bind(id);
    }
    query.push(")");
}

#[async_trait]
impl AlertDialect for Sqlite {
    async fn find_channels(
        conn: &mut SqliteConnection,
        tenant: &TenantId,
        ids: &[&str],
    ) -> Result<Vec<SqliteRow>, StoreError> {
        // The write lock of the caller's transaction keeps them from being deleted until it
        // commits.
        let mut query =
            QueryBuilder::new("SELECT id, name, disabled FROM alert_channels WHERE deleted_at IS NULL AND tenant = ");
        query.push_bind(tenant.as_str()).push(" AND id IN ");
        push_list(&mut query, ids.iter().copied());
        query.build().fetch_all(conn).await.map_err(db_error)
    }

    async fn insert_rule_channels(
        conn: &mut SqliteConnection,
        tenant: &TenantId,
        rule_id: &str,
        channel_ids: &[&str],
    ) -> Result<(), StoreError> {
        for (position, channel_id) in channel_ids.iter().enumerate() {
            sqlx::query("INSERT INTO alert_rule_channels (tenant, rule_id, channel_id, position) VALUES (?, ?, ?, ?)")
                .bind(tenant.as_str())
                .bind(rule_id)
                .bind(*channel_id)
                .bind(position as i64)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }

    async fn insert_deliveries(
        conn: &mut SqliteConnection,
        alert: &StoredAlert,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError> {
        for delivery in deliveries {
            sqlx::query(
                "INSERT INTO alert_deliveries (id, tenant, alert_id, channel_id, status, attempts, next_attempt_at, \
                 created_at) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
            )
            .bind(&delivery.id)
            .bind(alert.tenant.as_str())
            .bind(&alert.id)
            .bind(&delivery.channel_id)
            .bind(text_time(&alert.created_at))
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        }
        Ok(())
    }

    async fn mark_anomalies_alerted(
        conn: &mut SqliteConnection,
        tenant: &TenantId,
        ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut query = QueryBuilder::new("UPDATE anomalies SET alerted_at = ");
        query.push_bind(text_time(&now)).push(" WHERE alerted_at IS NULL AND tenant = ");
        query.push_bind(tenant.as_str()).push(" AND id IN ");
        push_list(&mut query, ids.iter().copied());
        Ok(query.build().execute(conn).await.map_err(db_error)?.rows_affected())
    }

    async fn last_alert_at(
        conn: &mut SqliteConnection,
        tenant: &TenantId,
        rule_id: Option<&str>,
        dedup_key: &str,
    ) -> Result<SqliteRow, StoreError> {
        // `IS` matches NULL to NULL, and SQLite still uses the index for it.
        sqlx::query("SELECT MAX(created_at) AS last FROM alerts WHERE tenant = ? AND rule_id IS ? AND dedup_key = ?")
            .bind(tenant.as_str())
            .bind(rule_id)
            .bind(dedup_key)
            .fetch_one(conn)
            .await
            .map_err(db_error)
    }

    async fn lease_due(
        conn: &mut SqliteConnection,
        tenant: Option<&str>,
        now: DateTime<Utc>,
        holder: &str,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "UPDATE alert_deliveries SET lease_holder = ?1, lease_until = ?2, attempts = attempts + 1 \
             WHERE id IN (SELECT d.id FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= ?3 AND (d.lease_until IS NULL OR d.lease_until <= ?3) \
             AND c.disabled = 0 AND c.deleted_at IS NULL AND (?5 IS NULL OR d.tenant = ?5) \
             ORDER BY d.next_attempt_at, d.id LIMIT ?4) \
             RETURNING id",
        )
        .bind(holder)
        .bind(text_time(&lease_until))
        .bind(text_time(&now))
        .bind(i64::from(limit))
        .bind(tenant)
        .fetch_all(conn)
        .await
        .map_err(db_error)
    }

    async fn select_claimed(conn: &mut SqliteConnection, ids: &[String]) -> Result<Vec<SqliteRow>, StoreError> {
        let mut query = QueryBuilder::new(format!("{} WHERE d.id IN ", claimed_select()));
        push_list(&mut query, ids.iter().map(String::as_str));
        query.push(" ORDER BY d.next_attempt_at, d.id");
        query.build().fetch_all(conn).await.map_err(db_error)
    }
}
