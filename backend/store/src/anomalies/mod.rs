//! The anomaly port (`veritrail_core::anomalies::AnomalyStore`) on both backends: anomalies,
//! feedback, suppressions and the detection job's progress.
//!
//! The store is written once, generic over the database ([`Anomalies`]): every statement is the
//! same on both backends but for its placeholders, how times are bound and the row lock feedback
//! takes, which [`crate::dialect::Dialect`] supplies. `sqlite.rs` and `postgres.rs` only name the store
//! on their backend and build it from that backend's pools.

mod postgres;
mod rows;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Database, Pool, QueryBuilder};
use veritrail_core::anomalies::{
    AnomalyQuery, AnomalyStore, FalsePositiveWindow, Feedback, NewAnomaly, NewFeedback, SavedAnomaly, StoredAnomaly,
    Suppression, Verdict,
};
use veritrail_core::event::{TenantId, normalize_time};
use veritrail_core::store::StoreError;

use self::rows::{
    ANOMALY_SELECT, AnomalyLists, FEEDBACK_SELECT, SUPPRESSION_SELECT, WINDOW_SELECT, check_anomaly, decode_anomaly,
    decode_false_positive, decode_feedback_row, decode_suppression,
};
use crate::columns::{Columns, new_id};
use crate::dialect::{Bind, Run};
use crate::rows::db_error;

pub use postgres::PostgresAnomalies;
pub use sqlite::SqliteAnomalies;

/// Anomalies in the same database as the log.
pub struct Anomalies<D: Database> {
    read_pool: Pool<D>,
    /// The pool writes go through: on SQLite the one-connection pool appends use.
    write_pool: Pool<D>,
}

impl<D: Database> Anomalies<D> {
    fn with_pools(read_pool: Pool<D>, write_pool: Pool<D>) -> Self {
        Self { read_pool, write_pool }
    }
}

/// Reads one anomaly by its key inside a transaction.
async fn anomaly_by_key<D>(
    conn: &mut D::Connection,
    tenant: &TenantId,
    anomaly: &NewAnomaly,
) -> Result<StoredAnomaly, StoreError>
where
    D: Run,
    for<'q> &'q str: Bind<'q, D>,
{
    let mut sql = QueryBuilder::new(format!("{ANOMALY_SELECT} WHERE a.tenant = "));
    sql.push_bind(tenant.as_str());
    sql.push(" AND a.subject_kind = ").push_bind(anomaly.subject.kind.as_str());
    sql.push(" AND a.subject_id = ").push_bind(anomaly.subject.id.as_str());
    sql.push(" AND a.window_start = ").push_bind(D::time(&anomaly.window_start));
    sql.push(" AND a.window_end = ").push_bind(D::time(&anomaly.window_end));
    sql.push(" AND a.reason = ").push_bind(anomaly.reason.as_str());
    decode_anomaly(&D::fetch_one(conn, sql).await?)
}

/// Writes an anomaly unless one of its key is stored; whether it was written.
async fn insert_anomaly<D>(
    conn: &mut D::Connection,
    tenant: &TenantId,
    anomaly: &NewAnomaly,
    now: DateTime<Utc>,
) -> Result<bool, StoreError>
where
    D: Run,
    for<'q> &'q str: Bind<'q, D>,
    for<'q> f64: Bind<'q, D>,
{
    let lists = AnomalyLists::of(anomaly)?;
    let mut sql = QueryBuilder::new(
        "INSERT INTO anomalies (id, tenant, subject_kind, subject_id, window_start, window_end, reason, score, \
         severity, detectors, features, narrative, event_ids, status, created_at) VALUES (",
    );
    sql.separated(", ")
        .push_bind(new_id().as_str())
        .push_bind(tenant.as_str())
        .push_bind(anomaly.subject.kind.as_str())
        .push_bind(anomaly.subject.id.as_str())
        .push_bind(D::time(&anomaly.window_start))
        .push_bind(D::time(&anomaly.window_end))
        .push_bind(anomaly.reason.as_str())
        .push_bind(anomaly.score)
        .push_bind(anomaly.severity.as_str())
        .push_bind(lists.detectors.as_str())
        .push_bind(lists.features.as_str())
        .push_bind(anomaly.narrative.as_str())
        .push_bind(lists.event_ids.as_str())
        .push("'open'")
        .push_bind(D::time(&now));
    sql.push(") ON CONFLICT (tenant, subject_kind, subject_id, window_start, window_end, reason) DO NOTHING");
    Ok(D::execute(conn, sql).await? > 0)
}

/// Records feedback on an anomaly inside the caller's transaction: the feedback row, the
/// anomaly's new status and latest feedback, and its suppression (replaced, or dropped unless
/// the verdict is a false positive with an end). `None` when the tenant has no such anomaly.
async fn write_feedback<D>(
    conn: &mut D::Connection,
    tenant: &TenantId,
    anomaly_id: &str,
    feedback: &NewFeedback,
    now: DateTime<Utc>,
) -> Result<Option<Feedback>, StoreError>
where
    D: Run,
    for<'q> &'q str: Bind<'q, D>,
    for<'q> Option<&'q str>: Bind<'q, D>,
{
    // The anomaly's row lock (on PostgreSQL) applies concurrent feedback on one anomaly one
    // after the other, so status, latest feedback and suppression always agree.
    let mut target = QueryBuilder::new("SELECT subject_kind, subject_id, reason FROM anomalies WHERE tenant = ");
    target.push_bind(tenant.as_str()).push(" AND id = ").push_bind(anomaly_id).push(D::FOR_UPDATE);
    let Some(target) = D::fetch_optional(conn, target).await? else {
        return Ok(None);
    };
    let stored = Feedback {
        id: new_id(),
        anomaly_id: anomaly_id.to_owned(),
        verdict: feedback.verdict,
        note: feedback.note.clone(),
        key_id: feedback.key_id.clone(),
        created_at: normalize_time(now),
    };
    let mut insert = QueryBuilder::new(
        "INSERT INTO anomaly_feedback (id, tenant, anomaly_id, verdict, note, key_id, created_at) VALUES (",
    );
    insert
        .separated(", ")
        .push_bind(stored.id.as_str())
        .push_bind(tenant.as_str())
        .push_bind(anomaly_id)
        .push_bind(stored.verdict.as_str())
        .push_bind(stored.note.as_deref())
        .push_bind(stored.key_id.as_deref())
        .push_bind(D::time(&stored.created_at));
    insert.push(")");
    D::execute(conn, insert).await?;
    let mut status = QueryBuilder::new("UPDATE anomalies SET status = ");
    status.push_bind(stored.verdict.status().as_str()).push(", latest_feedback_id = ").push_bind(stored.id.as_str());
    status.push(" WHERE tenant = ").push_bind(tenant.as_str()).push(" AND id = ").push_bind(anomaly_id);
    D::execute(conn, status).await?;
    let mut unsuppress = QueryBuilder::new("DELETE FROM anomaly_suppressions WHERE tenant = ");
    unsuppress.push_bind(tenant.as_str()).push(" AND anomaly_id = ").push_bind(anomaly_id);
    D::execute(conn, unsuppress).await?;
    if let (Verdict::FalsePositive, Some(until)) = (feedback.verdict, &feedback.suppress_until) {
        let mut suppress = QueryBuilder::new(
            "INSERT INTO anomaly_suppressions (anomaly_id, tenant, subject_kind, subject_id, reason, created_at, \
             until) VALUES (",
        );
        suppress
            .separated(", ")
            .push_bind(anomaly_id)
            .push_bind(tenant.as_str())
            .push_bind(target.text("subject_kind")?.as_str())
            .push_bind(target.text("subject_id")?.as_str())
            .push_bind(target.text("reason")?.as_str())
            .push_bind(D::time(&stored.created_at))
            .push_bind(D::time(until));
        suppress.push(")");
        D::execute(conn, suppress).await?;
    }
    Ok(Some(stored))
}

#[async_trait]
impl<D> AnomalyStore for Anomalies<D>
where
    D: Run,
    for<'q> &'q str: Bind<'q, D>,
    for<'q> Option<&'q str>: Bind<'q, D>,
    for<'q> i64: Bind<'q, D>,
    for<'q> f64: Bind<'q, D>,
{
    async fn save_anomalies(
        &self,
        tenant: &TenantId,
        anomalies: &[NewAnomaly],
        now: DateTime<Utc>,
    ) -> Result<Vec<SavedAnomaly>, StoreError> {
        for anomaly in anomalies {
            check_anomaly(anomaly)?;
        }
        let mut tx = D::begin_write(&self.write_pool).await?;
        let mut saved = Vec::with_capacity(anomalies.len());
        for anomaly in anomalies {
            // On PostgreSQL a concurrent save of the same key waits here for the other
            // transaction, then finds its row: both report the one stored anomaly.
            let created = insert_anomaly::<D>(&mut tx, tenant, anomaly, now).await?;
            let stored = anomaly_by_key::<D>(&mut tx, tenant, anomaly).await?;
            saved.push(SavedAnomaly { anomaly: stored, created });
        }
        tx.commit().await.map_err(db_error)?;
        Ok(saved)
    }

    async fn list_anomalies(&self, tenant: &TenantId, query: &AnomalyQuery) -> Result<Vec<StoredAnomaly>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{ANOMALY_SELECT} WHERE a.tenant = "));
        sql.push_bind(tenant.as_str());
        if let Some(since) = &query.since {
            sql.push(" AND a.window_start >= ").push_bind(D::time(since));
        }
        if let Some(until) = &query.until {
            sql.push(" AND a.window_start < ").push_bind(D::time(until));
        }
        if let Some(min_score) = query.min_score {
            sql.push(" AND a.score >= ").push_bind(min_score);
        }
        if let Some(status) = query.status {
            sql.push(" AND a.status = ").push_bind(status.as_str());
        }
        if let Some(before) = &query.before {
            sql.push(" AND (a.window_start, a.id) < (").push_bind(D::time(&before.window_start));
            sql.push(", ").push_bind(before.id.as_str()).push(")");
        }
        sql.push(" ORDER BY a.window_start DESC, a.id DESC LIMIT ").push_bind(i64::from(query.limit));
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_anomaly).collect()
    }

    async fn get_anomaly(&self, tenant: &TenantId, id: &str) -> Result<Option<StoredAnomaly>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{ANOMALY_SELECT} WHERE a.tenant = "));
        sql.push_bind(tenant.as_str()).push(" AND a.id = ").push_bind(id);
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_optional(&mut conn, sql).await?.as_ref().map(decode_anomaly).transpose()
    }

    async fn add_feedback(
        &self,
        tenant: &TenantId,
        anomaly_id: &str,
        feedback: &NewFeedback,
        now: DateTime<Utc>,
    ) -> Result<Option<Feedback>, StoreError> {
        let mut tx = D::begin_write(&self.write_pool).await?;
        let Some(stored) = write_feedback::<D>(&mut tx, tenant, anomaly_id, feedback, now).await? else {
            return Ok(None);
        };
        tx.commit().await.map_err(db_error)?;
        Ok(Some(stored))
    }

    async fn list_feedback(&self, tenant: &TenantId, anomaly_id: &str) -> Result<Vec<Feedback>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{FEEDBACK_SELECT} WHERE tenant = "));
        sql.push_bind(tenant.as_str()).push(" AND anomaly_id = ").push_bind(anomaly_id);
        sql.push(" ORDER BY created_at, id");
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_feedback_row).collect()
    }

    async fn active_suppressions(&self, tenant: &TenantId, now: DateTime<Utc>) -> Result<Vec<Suppression>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{SUPPRESSION_SELECT} WHERE tenant = "));
        sql.push_bind(tenant.as_str()).push(" AND until > ").push_bind(D::time(&now));
        sql.push(" ORDER BY until, anomaly_id");
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_suppression).collect()
    }

    async fn false_positive_windows(
        &self,
        tenant: &TenantId,
        since: DateTime<Utc>,
    ) -> Result<Vec<FalsePositiveWindow>, StoreError> {
        let mut sql = QueryBuilder::new(format!("{WINDOW_SELECT} WHERE tenant = "));
        sql.push_bind(tenant.as_str())
            .push(" AND status = 'false_positive' AND window_end > ")
            .push_bind(D::time(&since));
        sql.push(" ORDER BY window_start, id");
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_all(&mut conn, sql).await?.iter().map(decode_false_positive).collect()
    }

    async fn detection_cursor(&self, tenant: &TenantId) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut sql = QueryBuilder::new("SELECT window_end FROM anomaly_detection_progress WHERE tenant = ");
        sql.push_bind(tenant.as_str());
        let mut conn = self.read_pool.acquire().await.map_err(db_error)?;
        D::fetch_optional(&mut conn, sql).await?.map(|row| row.time("window_end")).transpose()
    }

    async fn set_detection_cursor(&self, tenant: &TenantId, window_end: DateTime<Utc>) -> Result<(), StoreError> {
        let mut sql = QueryBuilder::new("INSERT INTO anomaly_detection_progress (tenant, window_end) VALUES (");
        sql.push_bind(tenant.as_str()).push(", ").push_bind(D::time(&window_end));
        sql.push(
            ") ON CONFLICT (tenant) DO UPDATE SET window_end = excluded.window_end \
             WHERE anomaly_detection_progress.window_end < excluded.window_end",
        );
        let mut conn = self.write_pool.acquire().await.map_err(db_error)?;
        D::execute(&mut conn, sql).await?;
        Ok(())
    }
}
