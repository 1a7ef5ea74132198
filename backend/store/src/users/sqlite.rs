use async_trait::async_trait;
use chrono::{DateTime, Utc};
use veritrail_core::event::{TenantId, format_time};
use veritrail_core::hash::Hash;
use veritrail_core::store::StoreError;
use veritrail_core::users::{Session, User, UserError, UserStore};

use super::{SESSION_JOIN, USER_COLUMNS, decode_session, decode_user, decode_user_with_hash, is_unique_violation};
use crate::database::SqlitePools;
use crate::rows::db_error;

pub struct SqliteUsers {
    pools: SqlitePools,
}

impl SqliteUsers {
    pub fn new(pools: &SqlitePools) -> Self {
        Self { pools: pools.clone() }
    }
}

async fn insert_user(conn: &mut sqlx::SqliteConnection, user: &User, password_hash: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, tenant, username, role, password_hash, disabled, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&user.id)
    .bind(user.tenant.as_str())
    .bind(&user.username)
    .bind(user.role.as_str())
    .bind(password_hash)
    .bind(i64::from(user.disabled))
    .bind(format_time(&user.created_at))
    .bind(format_time(&user.created_at))
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl UserStore for SqliteUsers {
    async fn create_user(&self, user: &User, password_hash: &str) -> Result<(), UserError> {
        let mut conn = self.pools.write.acquire().await.map_err(db_error)?;
        match insert_user(&mut conn, user, password_hash).await {
            Err(error) if is_unique_violation(&error) => Err(UserError::Exists(user.username.clone())),
            other => Ok(other?),
        }
    }

    async fn create_first_user(&self, user: &User, password_hash: &str) -> Result<bool, StoreError> {
        // BEGIN IMMEDIATE takes the write lock first, so two processes cannot both see no user.
        let mut tx = self.pools.write.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
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
        let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE tenant = ? AND username = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(username)
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_user_with_hash).transpose()
    }

    async fn get_user(&self, tenant: &TenantId, id: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE tenant = ? AND id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_user).transpose()
    }

    async fn list_users(&self, tenant: Option<&TenantId>) -> Result<Vec<User>, StoreError> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE (?1 IS NULL OR tenant = ?1) ORDER BY tenant, username");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.map(TenantId::as_str))
            .fetch_all(&self.pools.read)
            .await
            .map_err(db_error)?;
        rows.iter().map(decode_user).collect()
    }

    async fn set_password(&self, tenant: &TenantId, id: &str, password_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.pools.write.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let done = sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE tenant = ? AND id = ?")
            .bind(password_hash)
            .bind(format_time(&Utc::now()))
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query("DELETE FROM sessions WHERE tenant = ? AND user_id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_disabled(&self, tenant: &TenantId, id: &str, disabled: bool) -> Result<bool, StoreError> {
        let mut tx = self.pools.write.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        let done = sqlx::query("UPDATE users SET disabled = ?, updated_at = ? WHERE tenant = ? AND id = ?")
            .bind(i64::from(disabled))
            .bind(format_time(&Utc::now()))
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE tenant = ? AND user_id = ?")
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
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(session.token_hash.as_bytes().to_vec())
        .bind(session.tenant.as_str())
        .bind(&session.user_id)
        .bind(&session.csrf_token)
        .bind(format_time(&session.created_at))
        .bind(format_time(&session.last_seen_at))
        .bind(format_time(&session.expires_at))
        .execute(&self.pools.write)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn find_session(&self, token_hash: &Hash) -> Result<Option<(Session, User)>, StoreError> {
        let sql = format!("{SESSION_JOIN} WHERE s.token_hash = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash.as_bytes().to_vec())
            .fetch_optional(&self.pools.read)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode_session).transpose()
    }

    async fn touch_session(&self, token_hash: &Hash, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?")
            .bind(format_time(&now))
            .bind(token_hash.as_bytes().to_vec())
            .execute(&self.pools.write)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &Hash) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash.as_bytes().to_vec())
            .execute(&self.pools.write)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
