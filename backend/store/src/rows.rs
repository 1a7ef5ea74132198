//! Conversions between stored column values and domain types, shared by both backends.

use serde_json::{Map, Value};
use veritrail_core::hash::Hash;
use veritrail_core::store::StoreError;

use crate::columns::Columns;

/// Reads a 32-byte hash column.
pub(crate) fn hash_from_column(bytes: &[u8]) -> Option<Hash> {
    Hash::from_slice(bytes)
}

/// Returns the JSON text stored for `details` (canonical, so identical content stores identically).
pub(crate) fn details_text(details: &Map<String, Value>) -> String {
    let mut out = Vec::with_capacity(256);
    veritrail_core::canonical::write_object(&mut out, details);
    // The canonical writer emits only UTF-8 copied from `str`s and ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Returns the JSON text stored for `tags`.
pub(crate) fn tags_text(tags: &[String]) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned())
}

/// Converts a seq to the signed integer both databases store.
pub(crate) fn seq_to_db(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

/// Converts a stored seq (or size) back, refusing a negative one as corrupt; `what` names it.
pub(crate) fn seq_from_db(what: &str, stored: i64) -> Result<u64, StoreError> {
    u64::try_from(stored).map_err(|_| StoreError::Corrupt(format!("{what} {stored} is negative")))
}

/// Reads a 32-byte hash column, refusing anything else as corrupt.
pub(crate) fn hash_column(row: &impl Columns, column: &str) -> Result<Hash, StoreError> {
    row.opt_bytes(column)?
        .and_then(|bytes| hash_from_column(&bytes))
        .ok_or_else(|| StoreError::Corrupt(format!("{column} is not 32 bytes")))
}

/// Translates a sqlx error at the backend boundary, keeping it and the database's error code.
pub(crate) fn db_error(err: sqlx::Error) -> StoreError {
    let code = err.as_database_error().and_then(|database| database.code()).map(|code| code.into_owned());
    StoreError::database(code, err)
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use sqlx::Connection;

    use super::*;

    #[tokio::test]
    async fn database_errors_keep_their_driver_error_and_code() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await.expect("connect");
        sqlx::raw_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)").execute(&mut conn).await.expect("create");
        sqlx::raw_sql("INSERT INTO t VALUES (1)").execute(&mut conn).await.expect("insert");
        let refused = sqlx::raw_sql("INSERT INTO t VALUES (1)").execute(&mut conn).await.expect_err("duplicate key");
        let error = db_error(refused);
        // SQLITE_CONSTRAINT_PRIMARYKEY, as the database reported it.
        assert_eq!(error.code(), Some("1555"), "{error:?}");
        let source = error.source().expect("the driver's error is kept");
        assert!(source.downcast_ref::<sqlx::Error>().is_some(), "{source:?}");
        assert!(error.to_string().starts_with("database error: "), "{error}");
    }
}
