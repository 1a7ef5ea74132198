//! Alerting on PostgreSQL. Several servers may share the database: claims lock the rows they
//! take with `FOR UPDATE SKIP LOCKED`, so concurrent claimers each take different deliveries
//! without waiting for one another, and a row another claimer has just leased is re-checked
//! (its new lease excludes it).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{PgConnection, Postgres};
use veritrail_core::alerting::{Delivery, StoredAlert};
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::store::StoreError;

use super::rows::claimed_select;
use super::{AlertDialect, Alerts};
use crate::rows::db_error;

/// Alerting in the same PostgreSQL database as the log.
pub type PostgresAlerts = Alerts<Postgres>;

impl PostgresAlerts {
    pub fn new(pool: PgPool) -> Self {
        Self::with_pools(pool.clone(), pool)
    }
}

#[async_trait]
impl AlertDialect for Postgres {
    async fn find_channels(conn: &mut PgConnection, tenant: &TenantId, ids: &[&str]) -> Result<Vec<PgRow>, StoreError> {
        // `FOR SHARE` keeps them from being deleted before the transaction that refers to them
        // commits.
        sqlx::query(
            "SELECT id, name, disabled FROM alert_channels WHERE tenant = $1 AND id = ANY($2) AND deleted_at IS NULL \
             FOR SHARE",
        )
        .bind(tenant.as_str())
        .bind(ids)
        .fetch_all(conn)
        .await
        .map_err(db_error)
    }

    async fn insert_rule_channels(
        conn: &mut PgConnection,
        tenant: &TenantId,
        rule_id: &str,
        channel_ids: &[&str],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alert_rule_channels (tenant, rule_id, channel_id, position) \
             SELECT $1, $2, channel_id, position - 1 FROM UNNEST($3::text[]) WITH ORDINALITY AS t (channel_id, position)",
        )
        .bind(tenant.as_str())
        .bind(rule_id)
        .bind(channel_ids)
        .execute(conn)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn insert_deliveries(
        conn: &mut PgConnection,
        alert: &StoredAlert,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError> {
        let ids: Vec<&str> = deliveries.iter().map(|delivery| delivery.id.as_str()).collect();
        let channel_ids: Vec<&str> = deliveries.iter().map(|delivery| delivery.channel_id.as_str()).collect();
        sqlx::query(
            "INSERT INTO alert_deliveries (id, tenant, alert_id, channel_id, status, attempts, next_attempt_at, \
             created_at) SELECT id, $1, $2, channel_id, 'pending', 0, $3, $3 \
             FROM UNNEST($4::text[], $5::text[]) AS t (id, channel_id)",
        )
        .bind(alert.tenant.as_str())
        .bind(&alert.id)
        .bind(alert.created_at)
        .bind(&ids)
        .bind(&channel_ids)
        .execute(conn)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn mark_anomalies_alerted(
        conn: &mut PgConnection,
        tenant: &TenantId,
        ids: &[&str],
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE anomalies SET alerted_at = $1 WHERE tenant = $2 AND id = ANY($3) AND alerted_at IS NULL",
        )
        .bind(normalize_time(now))
        .bind(tenant.as_str())
        .bind(ids)
        .execute(conn)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn last_alert_at(
        conn: &mut PgConnection,
        tenant: &TenantId,
        rule_id: Option<&str>,
        dedup_key: &str,
    ) -> Result<PgRow, StoreError> {
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
        query.fetch_one(conn).await.map_err(db_error)
    }

    async fn lease_due(
        conn: &mut PgConnection,
        tenant: Option<&str>,
        now: DateTime<Utc>,
        holder: &str,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "WITH due AS (SELECT d.id FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $3 AND (d.lease_until IS NULL OR d.lease_until <= $3) \
             AND NOT c.disabled AND c.deleted_at IS NULL AND ($5::text IS NULL OR d.tenant = $5) \
             ORDER BY d.next_attempt_at, d.id LIMIT $4 \
             FOR UPDATE OF d SKIP LOCKED) \
             UPDATE alert_deliveries SET lease_holder = $1, lease_until = $2, attempts = attempts + 1 \
             FROM due WHERE alert_deliveries.id = due.id RETURNING alert_deliveries.id",
        )
        .bind(holder)
        .bind(normalize_time(lease_until))
        .bind(normalize_time(now))
        .bind(i64::from(limit))
        .bind(tenant)
        .fetch_all(conn)
        .await
        .map_err(db_error)
    }

    async fn select_claimed(conn: &mut PgConnection, ids: &[String]) -> Result<Vec<PgRow>, StoreError> {
        let sql = format!("{} WHERE d.id = ANY($1) ORDER BY d.next_attempt_at, d.id", claimed_select());
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ids).fetch_all(conn).await.map_err(db_error)
    }
}
