//! Opening a database: connection pools, migrations, the event-format check, and readiness.
//!
//! Every other concern of the store is built on the pools opened here, so a database that is not
//! fully migrated, or that holds events in another format version, never reaches them.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use veritrail_core::chain::FORMAT_VERSION;
use veritrail_core::store::StoreError;

pub use postgres::PostgresReadiness;
pub use sqlite::{SqlitePools, SqliteReadiness};

/// Reads the format version the database's events were written in.
const FORMAT_VERSION_SQL: &str = "SELECT value FROM meta WHERE key = 'event_format_version'";

/// Records that migrations have been applied (both dialects read it the same way).
const APPLIED_SQL: &str = "SELECT version, checksum FROM schema_migrations ORDER BY version";

/// Refuses a database whose events were written in another canonical format.
pub(crate) fn check_format_version(stored: Option<&str>) -> Result<(), StoreError> {
    match stored {
        Some(version) if version == FORMAT_VERSION.to_string() => Ok(()),
        Some(version) => Err(StoreError::Incompatible(format!(
            "the database holds events in format version {version}, but this build writes version {FORMAT_VERSION}; refusing to run"
        ))),
        None => {
            Err(StoreError::Incompatible("the database has no event_format_version row; refusing to run".to_owned()))
        }
    }
}

/// Refuses a database with fewer (or more) migrations applied than this build embeds.
pub(crate) fn check_migrated(applied: i64, embedded: usize) -> Result<(), StoreError> {
    if usize::try_from(applied).ok() == Some(embedded) {
        Ok(())
    } else {
        Err(StoreError::Incompatible(format!("{applied} of {embedded} migrations applied")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_other_format_versions_and_partial_migrations() {
        assert!(check_format_version(Some("1")).is_ok());
        assert!(check_format_version(Some("2")).is_err());
        assert!(check_format_version(None).is_err());
        assert!(check_migrated(10, 10).is_ok());
        assert!(check_migrated(9, 10).is_err());
    }
}
