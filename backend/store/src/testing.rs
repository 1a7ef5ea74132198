//! Test support: a fresh, empty database on either backend, and the raw access an attacker with
//! database credentials would have.
//!
//! PostgreSQL tests run when `VERITRAIL_TEST_PG_URL` points at a server (each test gets its own
//! database there). When it is unset they are skipped with a message, except under `CI=true` or
//! `VERITRAIL_TEST_REQUIRE_PG=1`, where a missing PostgreSQL is an error: CI never passes by skipping.

use sqlx::Connection;
use uuid::Uuid;

use crate::{Backend, Store, StoreSettings};

/// The environment variable naming the PostgreSQL server tests use.
pub const PG_URL_VAR: &str = "VERITRAIL_TEST_PG_URL";

/// Set to `1` to make a missing PostgreSQL an error (the test script sets it).
pub const REQUIRE_PG_VAR: &str = "VERITRAIL_TEST_REQUIRE_PG";

fn pg_required() -> bool {
    std::env::var("CI").is_ok_and(|ci| ci == "true") || std::env::var(REQUIRE_PG_VAR).is_ok_and(|flag| flag == "1")
}

/// A fresh database; the SQLite file lives as long as this value.
pub struct TestDatabase {
    pub backend: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Creates an empty SQLite database in a temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("veritrail.db").display());
        Self { backend: Backend::Sqlite, url, _dir: Some(dir) }
    }

    /// Creates an empty database on the test PostgreSQL server, or returns `None` when none is
    /// configured outside CI.
    pub async fn postgres() -> Option<Self> {
        let base = match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    !pg_required(),
                    "{PG_URL_VAR} is not set but PostgreSQL is required here (CI=true or {REQUIRE_PG_VAR}=1)"
                );
                eprintln!("skipping PostgreSQL case: {PG_URL_VAR} is not set");
                return None;
            }
        };
        let name = format!("vt_test_{}", Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(&base)
            .await
            .unwrap_or_else(|err| panic!("{PG_URL_VAR} is set but PostgreSQL is unreachable: {err}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let (prefix, _) = base.rsplit_once('/').expect("database url has a path");
        Some(Self { backend: Backend::Postgres, url: format!("{prefix}/{name}"), _dir: None })
    }

    /// Both backends: SQLite always, PostgreSQL when configured.
    pub async fn all() -> Vec<Self> {
        let mut databases = vec![Self::sqlite()];
        databases.extend(Self::postgres().await);
        databases
    }

    /// Connects (and migrates) with default settings.
    pub async fn connect(&self) -> Store {
        self.connect_with(&StoreSettings::default()).await
    }

    /// Connects (and migrates) with `settings`.
    pub async fn connect_with(&self, settings: &StoreSettings) -> Store {
        crate::connect(&self.url, settings).await.expect("connect to test database")
    }

    /// Runs SQL as an attacker with database access would, triggers dropped first.
    pub async fn tamper(&self, statements: &[&str]) {
        let triggers = [
            ("events", "events_no_update"),
            ("events", "events_no_delete"),
            ("merkle_nodes", "merkle_nodes_no_update"),
            ("merkle_nodes", "merkle_nodes_no_delete"),
            ("checkpoints", "checkpoints_no_update"),
            ("checkpoints", "checkpoints_no_delete"),
        ];
        let drop_triggers: String = triggers
            .iter()
            .map(|(table, trigger)| match self.backend {
                Backend::Sqlite => format!("DROP TRIGGER IF EXISTS {trigger};"),
                Backend::Postgres => format!("DROP TRIGGER IF EXISTS {trigger} ON {table};"),
            })
            .collect();
        self.execute(&drop_triggers).await.expect("drop triggers");
        for statement in statements {
            self.execute(statement).await.unwrap_or_else(|err| panic!("tamper statement {statement:?} failed: {err}"));
        }
    }

    /// Runs SQL directly against the database, returning the database's error if it refuses.
    pub async fn execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await?;
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut conn).await?;
            }
        }
        Ok(())
    }

    /// Returns the number of stored events, read directly.
    pub async fn count_events(&self) -> i64 {
        let sql = "SELECT COUNT(*) FROM events";
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("count")
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("count")
            }
        }
    }
}
