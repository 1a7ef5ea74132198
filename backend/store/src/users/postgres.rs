use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;
use veritrail_core::event::TenantId;
use veritrail_core::hash::Hash;
use veritrail_core::store::StoreError;
use veritrail_core::users::{Session, User, UserError, UserStore};

use super::{SESSION_JOIN, USER_COLUMNS, decode_session, decode_user, decode_user_with_hash, is_unique_violation};
use crate::rows::db_error;

/// Advisory lock serialising the creation of the first user.
const BOOTSTRAP_LOCK: i64 = 0x7665_7269_7472_6175;

pub struct PostgresUsers {
    pool: PgPool,
}

impl PostgresUsers {
    pub fn new(pool: &PgPool) -> Self {
        Self { pool: pool.clone() }
    }
}

async fn insert_user(conn: &mut sqlx::PgConnection, user: &User, password_hash: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, tenant, username, role, password_hash, disabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&user.id)
    .bind(user.tenant.as_str())
    .bind(&user.username)
    .bind(user.role.as_str())
    .bind(password_hash)
    .bind(user.disabled)
    .bind(user.created_at)
    .bind(user.created_at)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl UserStore for PostgresUsers {
    async fn create_user(&self, user: &User, password_hash: &str) -> Result<(), UserError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        match insert_user(&mut conn, user, password_hash).await {
            Err(error) if is_unique_violation(&error) => Err(UserError::Exists(user.username.clone())),
            other => Ok(other?),
        }
    }

    async fn create_first_user(&self, user: &User, password_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        // Serialises first starts; the check and the insert then see each other's commits.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(BOOTSTRAP_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await.map_err(db_error)?;
        if count > 0 {
            return Ok(false);
        }
        insert_user(&mut tx, user, password_hash).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }

    async fn find_user(&self, tenant: &TenantId, username: &str) -> Result<Option<(User, String)>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE tenant = $1 AND username = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_user_with_hash).transpose()
    }

    async fn get_user(&self, tenant: &TenantId, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_user).transpose()
    }

    async fn list_users(&self, tenant: Option<&TenantId>) -> Result<Vec<User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE ($1::text IS NULL OR tenant = $1) ORDER BY tenant, username"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.map(TenantId::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode_user).collect()
    }

    async fn set_password(&self, tenant: &TenantId, id: &str, password_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE tenant = $3 AND id = $4")
            .bind(password_hash)
            .bind(Utc::now())
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query("DELETE FROM sessions WHERE tenant = $1 AND user_id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_disabled(&self, tenant: &TenantId, id: &str, disabled: bool) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let done = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE tenant = $3 AND id = $4")
            .bind(disabled)
            .bind(Utc::now())
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE tenant = $1 AND user_id = $2")
                .bind(tenant.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, tenant, user_id, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(session.token_hash.as_bytes().to_vec())
        .bind(session.tenant.as_str())
        .bind(&session.user_id)
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &Hash) -> Result<Option<(Session, User)>, StoreError> {
        let sql = format!("{SESSION_JOIN} WHERE s.token_hash = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash.as_bytes().to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_session).transpose()
    }

    async fn touch_session(&self, token_hash: &Hash, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(token_hash.as_bytes().to_vec())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &Hash) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.as_bytes().to_vec())
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
