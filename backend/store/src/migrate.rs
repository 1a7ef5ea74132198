//! Schema migrations, embedded in the binary and applied at start-up.
//!
//! Each backend has its own folder (`migrations/sqlite`, `migrations/postgres`) with paired
//! version numbers: version N means the same schema on both (a version may change one backend
//! only, when the other already has what it adds). An applied migration is never
//! edited: its SHA-256 is recorded and checked at every start, and a mismatch stops the server.

use veritrail_core::hash::sha256;

/// One embedded migration file.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// Returns the hex SHA-256 of the file, as recorded when it was applied.
    pub fn checksum(&self) -> String {
        sha256(self.sql.as_bytes()).to_hex()
    }
}

/// SQLite migrations, in order.
pub const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "0001_events.sql", sql: include_str!("../../../migrations/sqlite/0001_events.sql") },
    Migration { version: 2, name: "0002_search.sql", sql: include_str!("../../../migrations/sqlite/0002_search.sql") },
    Migration {
        version: 3,
        name: "0003_anomalies_alerts.sql",
        sql: include_str!("../../../migrations/sqlite/0003_anomalies_alerts.sql"),
    },
    Migration {
        version: 4,
        name: "0004_search_texts.sql",
        sql: include_str!("../../../migrations/sqlite/0004_search_texts.sql"),
    },
    Migration {
        version: 5,
        name: "0005_alert_attempts.sql",
        sql: include_str!("../../../migrations/sqlite/0005_alert_attempts.sql"),
    },
    Migration {
        version: 6,
        name: "0006_anomaly_alerted.sql",
        sql: include_str!("../../../migrations/sqlite/0006_anomaly_alerted.sql"),
    },
    Migration {
        version: 7,
        name: "0007_event_alert_cursor.sql",
        sql: include_str!("../../../migrations/sqlite/0007_event_alert_cursor.sql"),
    },
    Migration {
        version: 8,
        name: "0008_alert_throttle.sql",
        sql: include_str!("../../../migrations/sqlite/0008_alert_throttle.sql"),
    },
    Migration {
        version: 9,
        name: "0009_search_lexemes.sql",
        sql: include_str!("../../../migrations/sqlite/0009_search_lexemes.sql"),
    },
    Migration {
        version: 10,
        name: "0010_search_rendering.sql",
        sql: include_str!("../../../migrations/sqlite/0010_search_rendering.sql"),
    },
    Migration { version: 11, name: "0011_users.sql", sql: include_str!("../../../migrations/sqlite/0011_users.sql") },
    Migration {
        version: 12,
        name: "0012_reports.sql",
        sql: include_str!("../../../migrations/sqlite/0012_reports.sql"),
    },
    Migration {
        version: 13,
        name: "0013_job_run_tenant.sql",
        sql: include_str!("../../../migrations/sqlite/0013_job_run_tenant.sql"),
    },
    Migration {
        version: 14,
        name: "0014_search_fulltext_per_tenant.sql",
        sql: include_str!("../../../migrations/sqlite/0014_search_fulltext_per_tenant.sql"),
    },
];

/// PostgreSQL migrations, in order.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_events.sql",
        sql: include_str!("../../../migrations/postgres/0001_events.sql"),
    },
    Migration {
        version: 2,
        name: "0002_search.sql",
        sql: include_str!("../../../migrations/postgres/0002_search.sql"),
    },
    Migration {
        version: 3,
        name: "0003_anomalies_alerts.sql",
        sql: include_str!("../../../migrations/postgres/0003_anomalies_alerts.sql"),
    },
    Migration {
        version: 4,
        name: "0004_search_texts.sql",
        sql: include_str!("../../../migrations/postgres/0004_search_texts.sql"),
    },
    Migration {
        version: 5,
        name: "0005_alert_attempts.sql",
        sql: include_str!("../../../migrations/postgres/0005_alert_attempts.sql"),
    },
    Migration {
        version: 6,
        name: "0006_anomaly_alerted.sql",
        sql: include_str!("../../../migrations/postgres/0006_anomaly_alerted.sql"),
    },
    Migration {
        version: 7,
        name: "0007_event_alert_cursor.sql",
        sql: include_str!("../../../migrations/postgres/0007_event_alert_cursor.sql"),
    },
    Migration {
        version: 8,
        name: "0008_alert_throttle.sql",
        sql: include_str!("../../../migrations/postgres/0008_alert_throttle.sql"),
    },
    Migration {
        version: 9,
        name: "0009_search_lexemes.sql",
        sql: include_str!("../../../migrations/postgres/0009_search_lexemes.sql"),
    },
    Migration {
        version: 10,
        name: "0010_search_rendering.sql",
        sql: include_str!("../../../migrations/postgres/0010_search_rendering.sql"),
    },
    Migration { version: 11, name: "0011_users.sql", sql: include_str!("../../../migrations/postgres/0011_users.sql") },
    Migration {
        version: 12,
        name: "0012_reports.sql",
        sql: include_str!("../../../migrations/postgres/0012_reports.sql"),
    },
    Migration {
        version: 13,
        name: "0013_job_run_tenant.sql",
        sql: include_str!("../../../migrations/postgres/0013_job_run_tenant.sql"),
    },
    Migration {
        version: 14,
        name: "0014_search_fulltext_per_tenant.sql",
        sql: include_str!("../../../migrations/postgres/0014_search_fulltext_per_tenant.sql"),
    },
];

/// Creates the table that records applied migrations (same SQL on both backends).
pub(crate) const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";

/// A migration recorded as applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppliedMigration {
    pub version: i64,
    pub checksum: String,
}

/// Decides which migrations to apply, refusing edited or unknown ones.
pub(crate) fn pending<'a>(
    embedded: &'a [Migration],
    applied: &[AppliedMigration],
) -> Result<Vec<&'a Migration>, String> {
    for record in applied {
        match embedded.iter().find(|migration| migration.version == record.version) {
            None => {
                return Err(format!(
                    "the database has migration {} which this build does not know: it was migrated by a newer Veritrail",
                    record.version
                ));
            }
            Some(migration) if migration.checksum() != record.checksum => {
                return Err(format!(
                    "migration {} ({}) was changed after it was applied; restore the original file",
                    migration.version, migration.name
                ));
            }
            Some(_) => {}
        }
    }
    Ok(embedded.iter().filter(|migration| !applied.iter().any(|record| record.version == migration.version)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations").join(dir);
        let mut names: Vec<String> = std::fs::read_dir(&path)
            .unwrap_or_else(|err| panic!("read {}: {err}", path.display()))
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_file_is_embedded_and_versions_pair_up() {
        for (dir, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let embedded_names: Vec<String> = embedded.iter().map(|migration| migration.name.to_owned()).collect();
            assert_eq!(files_in(dir), embedded_names, "migrations/{dir} and the embedded list differ");
            for (idx, migration) in embedded.iter().enumerate() {
                assert_eq!(migration.version, idx as i64 + 1, "versions must be 1, 2, 3, ...");
                assert!(migration.name.starts_with(&format!("{:04}_", migration.version)));
            }
        }
        let sqlite_names: Vec<&str> = SQLITE.iter().map(|migration| migration.name).collect();
        let postgres_names: Vec<&str> = POSTGRES.iter().map(|migration| migration.name).collect();
        assert_eq!(sqlite_names, postgres_names, "every version needs a file of the same name for both backends");
    }

    #[test]
    fn edited_or_unknown_migrations_are_refused() {
        let ok = AppliedMigration { version: 1, checksum: SQLITE[0].checksum() };
        let later: Vec<i64> = pending(SQLITE, std::slice::from_ref(&ok))
            .expect("fine")
            .iter()
            .map(|migration| migration.version)
            .collect();
        assert_eq!(later, (2..=SQLITE.len() as i64).collect::<Vec<_>>(), "only the later migrations are pending");
        let all: Vec<AppliedMigration> = SQLITE
            .iter()
            .map(|migration| AppliedMigration { version: migration.version, checksum: migration.checksum() })
            .collect();
        assert!(pending(SQLITE, &all).expect("fine").is_empty());
        let edited = AppliedMigration { version: 1, checksum: "00".to_owned() };
        assert!(pending(SQLITE, &[edited]).is_err());
        let unknown = AppliedMigration { version: 99, checksum: "00".to_owned() };
        assert!(pending(SQLITE, &[ok, unknown]).is_err());
    }
}
