//! Dashboard users and their sessions.

mod postgres;
mod sqlite;

use veritrail_core::store::StoreError;
use veritrail_core::users::{Session, User};

pub use postgres::PostgresUsers;
pub use sqlite::SqliteUsers;

use crate::columns::Columns;
use crate::rows::hash_column;

/// The columns every user query selects.
const USER_COLUMNS: &str = "id, tenant, username, role, disabled, created_at";

/// A session joined with its user: the session's columns, then the user's (prefixed `u_`).
const SESSION_JOIN: &str = "SELECT s.token_hash, s.tenant, s.user_id, s.csrf_token, s.created_at, s.last_seen_at, \
     s.expires_at, u.id AS u_id, u.tenant AS u_tenant, u.username AS u_username, u.role AS u_role, \
     u.disabled AS u_disabled, u.created_at AS u_created_at \
     FROM sessions s JOIN users u ON u.id = s.user_id AND u.tenant = s.tenant";

fn decode_user(row: &impl Columns) -> Result<User, StoreError> {
    decode_user_prefixed(row, "")
}

/// A user row selected with its `password_hash`.
fn decode_user_with_hash(row: &impl Columns) -> Result<(User, String), StoreError> {
    Ok((decode_user(row)?, row.text("password_hash")?))
}

fn decode_user_prefixed(row: &impl Columns, prefix: &str) -> Result<User, StoreError> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(User {
        id: row.text(&column("id"))?,
        tenant: row.tenant(&column("tenant"))?,
        username: row.text(&column("username"))?,
        role: row.parsed(&column("role"))?,
        disabled: row.flag(&column("disabled"))?,
        created_at: row.time(&column("created_at"))?,
    })
}

/// A row of [`SESSION_JOIN`].
fn decode_session(row: &impl Columns) -> Result<(Session, User), StoreError> {
    let session = Session {
        token_hash: hash_column(row, "token_hash")?,
        tenant: row.tenant("tenant")?,
        user_id: row.text("user_id")?,
        csrf_token: row.text("csrf_token")?,
        created_at: row.time("created_at")?,
        last_seen_at: row.time("last_seen_at")?,
        expires_at: row.time("expires_at")?,
    };
    Ok((session, decode_user_prefixed(row, "u_")?))
}

/// Whether a database error is a unique-key violation (SQLSTATE 23505 on PostgreSQL, extended
/// code 2067 on SQLite): the name is taken.
fn is_unique_violation(error: &StoreError) -> bool {
    matches!(error.code(), Some("23505" | "2067"))
}
