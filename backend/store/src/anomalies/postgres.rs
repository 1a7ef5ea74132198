//! Anomalies on PostgreSQL. Feedback locks its anomaly row (`SELECT ... FOR UPDATE`), so
//! concurrent feedback on one anomaly is applied one after the other and status, latest feedback
//! and suppression always agree.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use veritrail_core::anomalies::{
    AnomalyQuery, AnomalyStore, FalsePositiveWindow, Feedback, NewAnomaly, NewFeedback, SavedAnomaly, StoredAnomaly,
    Suppression, Verdict,
};
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::store::StoreError;

use super::columns::{Columns, new_id};
use super::{
    ANOMALY_SELECT, FEEDBACK_SELECT, SUPPRESSION_SELECT, WINDOW_SELECT, anomaly_json, check_anomaly, decode_anomaly,
    decode_false_positive, decode_feedback_row, decode_suppression,
};
use crate::rows::db_error;

/// Anomalies in the same PostgreSQL database as the log.
pub struct PostgresAnomalies {
    pool: PgPool,
}

impl PostgresAnomalies {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// Reads one anomaly by its key inside a transaction.
async fn anomaly_by_key(
    conn: &mut PgConnection,
    tenant: &TenantId,
    anomaly: &NewAnomaly,
) -> Result<StoredAnomaly, StoreError> {
    let sql = format!(
        "{ANOMALY_SELECT} WHERE a.tenant = $1 AND a.subject_kind = $2 AND a.subject_id = $3 AND a.window_start = $4 \
         AND a.window_end = $5 AND a.reason = $6"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .bind(anomaly.subject.kind.as_str())
        .bind(&anomaly.subject.id)
        .bind(normalize_time(anomaly.window_start))
        .bind(normalize_time(anomaly.window_end))
        .bind(&anomaly.reason)
        .fetch_one(conn)
        .await
        .map_err(db_error)?;
    decode_anomaly(&row)
}

#[async_trait]
impl AnomalyStore for PostgresAnomalies {
    async fn save_anomalies(
        &self,
        tenant: &TenantId,
        anomalies: &[NewAnomaly],
        now: DateTime<Utc>,
    ) -> Result<Vec<SavedAnomaly>, StoreError> {
        for anomaly in anomalies {
            check_anomaly(anomaly)?;
        }
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let mut saved = Vec::with_capacity(anomalies.len());
        for anomaly in anomalies {
            let (detectors, features, event_ids) = anomaly_json(anomaly)?;
            // A concurrent save of the same key waits here for the other transaction, then finds
            // its row: both report the one stored anomaly.
            let done = sqlx::query(
                "INSERT INTO anomalies (id, tenant, subject_kind, subject_id, window_start, window_end, reason, score, \
                 severity, detectors, features, narrative, event_ids, status, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'open', $14) \
                 ON CONFLICT (tenant, subject_kind, subject_id, window_start, window_end, reason) DO NOTHING",
            )
            .bind(new_id())
            .bind(tenant.as_str())
            .bind(anomaly.subject.kind.as_str())
            .bind(&anomaly.subject.id)
            .bind(normalize_time(anomaly.window_start))
            .bind(normalize_time(anomaly.window_end))
            .bind(&anomaly.reason)
            .bind(anomaly.score)
            .bind(anomaly.severity.as_str())
            .bind(detectors)
            .bind(features)
            .bind(&anomaly.narrative)
            .bind(event_ids)
            .bind(normalize_time(now))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            let stored = anomaly_by_key(&mut tx, tenant, anomaly).await?;
            saved.push(SavedAnomaly { anomaly: stored, created: done.rows_affected() > 0 });
        }
        tx.commit().await.map_err(db_error)?;
        Ok(saved)
    }

    async fn list_anomalies(&self, tenant: &TenantId, query: &AnomalyQuery) -> Result<Vec<StoredAnomaly>, StoreError> {
        let mut sql = QueryBuilder::<Postgres>::new(format!("{ANOMALY_SELECT} WHERE a.tenant = "));
        sql.push_bind(tenant.as_str());
        if let Some(since) = query.since {
            sql.push(" AND a.window_start >= ").push_bind(normalize_time(since));
        }
        if let Some(until) = query.until {
            sql.push(" AND a.window_start < ").push_bind(normalize_time(until));
        }
        if let Some(min_score) = query.min_score {
            sql.push(" AND a.score >= ").push_bind(min_score);
        }
        if let Some(status) = query.status {
            sql.push(" AND a.status = ").push_bind(status.as_str());
        }
        if let Some(before) = &query.before {
            sql.push(" AND (a.window_start, a.id) < (").push_bind(normalize_time(before.window_start));
            sql.push(", ").push_bind(before.id.clone()).push(")");
        }
        sql.push(" ORDER BY a.window_start DESC, a.id DESC LIMIT ").push_bind(i64::from(query.limit));
        sql.build().fetch_all(&self.pool).await.map_err(db_error)?.iter().map(decode_anomaly).collect()
    }

    async fn get_anomaly(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredAnomaly>, StoreError> {
        let sql = format!("{ANOMALY_SELECT} WHERE a.tenant = $1 AND a.id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(decode_anomaly)
            .transpose()
    }

    async fn add_feedback(
        &self,
        tenant: &TenantId,
        anomaly_id: &str,
        feedback: &NewFeedback,
        now: DateTime<Utc>,
    ) -> Result<Option<Feedback>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let target = sqlx::query(
            "SELECT subject_kind, subject_id, reason FROM anomalies WHERE tenant = $1 AND id = $2 FOR UPDATE",
        )
        .bind(tenant.as_str())
        .bind(anomaly_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(target) = target else {
            return Ok(None);
        };
        let created_at = normalize_time(now);
        let stored = Feedback {
            id: new_id(),
            anomaly_id: anomaly_id.to_owned(),
            verdict: feedback.verdict,
            note: feedback.note.clone(),
            key_id: feedback.key_id.clone(),
            created_at,
        };
        sqlx::query(
            "INSERT INTO anomaly_feedback (id, tenant, anomaly_id, verdict, note, key_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&stored.id)
        .bind(tenant.as_str())
        .bind(anomaly_id)
        .bind(stored.verdict.as_str())
        .bind(stored.note.as_deref())
        .bind(stored.key_id.as_deref())
        .bind(created_at)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query("UPDATE anomalies SET status = $1, latest_feedback_id = $2 WHERE tenant = $3 AND id = $4")
            .bind(stored.verdict.status().as_str())
            .bind(&stored.id)
            .bind(tenant.as_str())
            .bind(anomaly_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query("DELETE FROM anomaly_suppressions WHERE tenant = $1 AND anomaly_id = $2")
            .bind(tenant.as_str())
            .bind(anomaly_id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if let (Verdict::FalsePositive, Some(until)) = (feedback.verdict, feedback.suppress_until) {
            sqlx::query(
                "INSERT INTO anomaly_suppressions (anomaly_id, tenant, subject_kind, subject_id, reason, created_at, \
                 until) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(anomaly_id)
            .bind(tenant.as_str())
            .bind(target.text("subject_kind")?)
            .bind(target.text("subject_id")?)
            .bind(target.text("reason")?)
            .bind(created_at)
            .bind(normalize_time(until))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(Some(stored))
    }

    async fn list_feedback(&self, tenant: &TenantId, anomaly_id: &str) -> Result<Vec<Feedback>, StoreError> {
        let sql = format!("{FEEDBACK_SELECT} WHERE tenant = $1 AND anomaly_id = $2 ORDER BY created_at, id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(anomaly_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_feedback_row)
            .collect()
    }

    async fn active_suppressions(&self, tenant: &TenantId, now: DateTime<Utc>) -> Result<Vec<Suppression>, StoreError> {
        let sql = format!("{SUPPRESSION_SELECT} WHERE tenant = $1 AND until > $2 ORDER BY until, anomaly_id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(normalize_time(now))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_suppression)
            .collect()
    }

    async fn false_positive_windows(
        &self,
        tenant: &TenantId,
        since: DateTime<Utc>,
    ) -> Result<Vec<FalsePositiveWindow>, StoreError> {
        let sql = format!(
            "{WINDOW_SELECT} WHERE tenant = $1 AND status = 'false_positive' AND window_end > $2 \
             ORDER BY window_start, id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(normalize_time(since))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(decode_false_positive)
            .collect()
    }

    async fn detection_cursor(&self, tenant: &TenantId) -> Result<Option<DateTime<Utc>>, StoreError> {
        sqlx::query("SELECT window_end FROM anomaly_detection_progress WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?
            .map(|row| row.time("window_end"))
            .transpose()
    }

    async fn set_detection_cursor(&self, tenant: &TenantId, window_end: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO anomaly_detection_progress (tenant, window_end) VALUES ($1, $2) ON CONFLICT (tenant) \
             DO UPDATE SET window_end = excluded.window_end \
             WHERE anomaly_detection_progress.window_end < excluded.window_end",
        )
        .bind(tenant.as_str())
        .bind(normalize_time(window_end))
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
