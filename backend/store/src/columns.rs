//! Reading typed values out of a row of either backend, so every concern's row decoders are
//! written once.
//!
//! The backends differ only in how a few types are stored: times are TEXT on SQLite
//! (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) and TIMESTAMPTZ on PostgreSQL, flags are INTEGER 0/1 on SQLite
//! and BOOLEAN on PostgreSQL. Everything else (text, JSON as text, integers, reals, bytes) reads
//! the same way.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use veritrail_core::event::TenantId;
use veritrail_core::store::StoreError;

use crate::rows::db_error;

/// Typed column access on a row of either backend.
pub(crate) trait Columns {
    fn text(&self, column: &str) -> Result<String, StoreError>;
    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError>;
    fn real(&self, column: &str) -> Result<f64, StoreError>;
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(column)?.ok_or_else(|| StoreError::Corrupt(format!("{column} is NULL")))
    }

    /// A value stored by its wire name (statuses, kinds, severities).
    fn parsed<T: FromStr<Err = String>>(&self, column: &str) -> Result<T, StoreError> {
        self.text(column)?.parse().map_err(|err| StoreError::Corrupt(format!("{column}: {err}")))
    }

    /// A JSON text column.
    fn json(&self, column: &str) -> Result<Value, StoreError> {
        serde_json::from_str(&self.text(column)?).map_err(json_error(column))
    }

    /// A JSON text column that may be NULL.
    fn opt_json(&self, column: &str) -> Result<Option<Value>, StoreError> {
        self.opt_text(column)?.map(|text| serde_json::from_str(&text).map_err(json_error(column))).transpose()
    }

    fn tenant(&self, column: &str) -> Result<TenantId, StoreError> {
        TenantId::parse(&self.text(column)?).map_err(StoreError::Corrupt)
    }

    /// A non-negative count.
    fn count(&self, column: &str) -> Result<u32, StoreError> {
        let value = self.int(column)?;
        u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} {value} is out of range")))
    }
}

impl Columns for SqliteRow {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn real(&self, column: &str) -> Result<f64, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        Ok(self.int(column)? != 0)
    }

    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_text(column)?
            .map(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .map(|time| time.with_timezone(&Utc))
                    .map_err(|err| StoreError::Corrupt(format!("{column} {text:?}: {err}")))
            })
            .transpose()
    }
}

impl Columns for PgRow {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn real(&self, column: &str) -> Result<f64, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        self.try_get(column).map_err(db_error)
    }

    fn opt_time(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.try_get(column).map_err(db_error)
    }
}

/// Reports a JSON column that does not hold what it should.
pub(crate) fn json_error(column: &str) -> impl Fn(serde_json::Error) -> StoreError + '_ {
    move |err| StoreError::Corrupt(format!("{column}: {err}"))
}

/// A fresh row id: UUIDv7, so ids sort roughly by creation time.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
