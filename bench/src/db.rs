//! Fresh, empty databases for one phase of the benchmark, and the raw-INSERT baseline.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite};

use crate::cpu::{CpuSample, CpuUsage};
use crate::workload::{TENANT, Workload};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// An empty database plus a temporary directory (the server's data directory). Call
/// [`FreshDatabase::remove`] when done; the directory also goes away on drop.
pub struct FreshDatabase {
    pub backend: Backend,
    pub url: String,
    dir: tempfile::TempDir,
    /// (admin URL, database name) of a PostgreSQL database to drop afterwards.
    postgres: Option<(String, String)>,
}

/// `url` with its database name replaced by `name` (query string kept).
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").context("a PostgreSQL URL looks like postgres://user@host:port/db")?;
    let authority = rest.split_once('/').map_or(rest, |(authority, _)| authority);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

fn random_hex(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|err| anyhow::anyhow!("random bytes: {err}"))?;
    Ok(hex::encode(buf))
}

/// A fresh secret for the server's bootstrap admin key.
pub fn random_secret() -> anyhow::Result<String> {
    Ok(format!("vt_bench_{}", random_hex(24)?))
}

impl FreshDatabase {
    pub async fn create(backend: Backend, pg_url: Option<&str>, purpose: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix(&format!("veritrail-bench-{purpose}-")).tempdir()?;
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("veritrail.db").display());
                Ok(Self { backend, url, dir, postgres: None })
            }
            Backend::Postgres => {
                let admin_url = pg_url.context("no PostgreSQL URL")?.to_owned();
                let name = format!("bench_{}_{}", purpose, random_hex(6)?);
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .with_context(|| format!("connect to PostgreSQL at {}", redact(&admin_url)))?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("CREATE DATABASE {name}"))?;
                admin.close().await.ok();
                let url = with_database(&admin_url, &name)?;
                Ok(Self { backend, url, dir, postgres: Some((admin_url, name)) })
            }
        }
    }

    /// What a task needs to use the database (the database itself stays with its owner).
    pub fn handle(&self) -> DatabaseRef {
        DatabaseRef { backend: self.backend, url: self.url.clone(), data_dir: self.dir.path().to_owned() }
    }

    /// Drops the PostgreSQL database (terminating leftover connections) and removes the directory.
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some((admin_url, name)) = &self.postgres {
            let mut admin = PgConnection::connect(admin_url).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut admin)
                .await
                .with_context(|| format!("DROP DATABASE {name}"))?;
            admin.close().await.ok();
        }
        self.dir.close()?;
        Ok(())
    }
}

/// A fresh database's backend, URL and data directory.
#[derive(Debug, Clone)]
pub struct DatabaseRef {
    pub backend: Backend,
    pub url: String,
    pub data_dir: PathBuf,
}

impl DatabaseRef {
    /// Number of rows in `events`, read directly.
    pub async fn count_events(&self) -> anyhow::Result<i64> {
        let sql = "SELECT COUNT(*) FROM events";
        Ok(match self.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnectOptions::from_str(&self.url)?.read_only(true).connect().await?;
                sqlx::query_scalar(sql).fetch_one(&mut conn).await?
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await?;
                sqlx::query_scalar(sql).fetch_one(&mut conn).await?
            }
        })
    }
}

/// Hides a password in a URL for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.rsplit_once('@').map(|(credentials, host)| (credentials.split_once(':'), host)) {
        Some((Some((user, _password)), host)) => format!("{scheme}://{user}:[redacted]@{host}"),
        _ => url.to_owned(),
    }
}

/// Applies the server's schema with `veritrail migrate`, so the baseline table is the real one.
pub fn migrate_with_server(server_bin: &Path, db: &DatabaseRef) -> anyhow::Result<()> {
    let output = std::process::Command::new(server_bin)
        .arg("migrate")
        .arg("--data-dir")
        .arg(&db.data_dir)
        .arg("--database-url")
        .arg(&db.url)
        .env("RUST_LOG", "warn")
        .output()
        .with_context(|| format!("run {} migrate", server_bin.display()))?;
    if !output.status.success() {
        bail!(
            "{} migrate failed ({}): {}{}",
            server_bin.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// One baseline measurement.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineRun {
    /// `before` or `after` the server phases.
    pub when: String,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub rows_counted: i64,
    /// CPU use during the inserts (the database work is in `bench_cores` for SQLite, which runs
    /// in this process, and in `postgres_cores` for PostgreSQL).
    pub cpu: CpuUsage,
}

/// Rows per multi-row INSERT statement on SQLite (the server uses the same chunk).
const SQLITE_ROWS_PER_STATEMENT: u64 = 400;
/// Rows per transaction, both backends.
const ROWS_PER_TRANSACTION: u64 = 1000;

const INSERT_COLUMNS: &str = "tenant, seq, id, occurred_at, received_at, actor_id, actor_type, actor_name, actor_ip, \
     actor_user_agent, action, resource_type, resource_id, resource_name, outcome, severity, details, tags, \
     prev_hash, hash, request_hash";

/// The 32-byte values written into the hash columns: fixed, unless `random_hashes` asks for
/// cheap pseudo-random bytes (SplitMix64, not SHA-256) so the `events_hash` index sees spread keys.
fn hash_value(seq: u64, column: u64, random_hashes: bool) -> [u8; 32] {
    if !random_hashes {
        return [0xAB; 32];
    }
    let mut out = [0u8; 32];
    for (idx, chunk) in out.chunks_mut(8).enumerate() {
        let word = crate::workload::splitmix64(seq.wrapping_mul(4).wrapping_add(idx as u64) ^ (column << 60));
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

fn baseline_id(n: u64) -> String {
    format!("base-{n:09}")
}

/// Inserts `rows` events straight into `events` of the fresh, migrated database `db`: no HTTP,
/// no validation, no hashing, one connection, [`ROWS_PER_TRANSACTION`] rows per transaction.
pub async fn run_baseline(
    db: &DatabaseRef,
    workload: &Workload,
    rows: u64,
    random_hashes: bool,
    when: &str,
    ticks_per_second: u64,
) -> anyhow::Result<BaselineRun> {
    let received_at = veritrail_core::event::normalize_time(Utc::now());
    // The closing sample is taken before the connection closes, while its PostgreSQL backend
    // process still shows in /proc.
    let sample = || CpuSample::take(None);
    let (seconds, cpu_before, cpu_after) = match db.backend {
        Backend::Sqlite => baseline_sqlite(&db.url, workload, rows, random_hashes, received_at, sample).await?,
        Backend::Postgres => baseline_postgres(&db.url, workload, rows, random_hashes, received_at, sample).await?,
    };
    let cpu = cpu_before.usage_until(&cpu_after, ticks_per_second);
    let rows_counted = db.count_events().await?;
    Ok(BaselineRun {
        when: when.to_owned(),
        rows,
        seconds: seconds.as_secs_f64(),
        rows_per_second: rows as f64 / seconds.as_secs_f64().max(1e-9),
        rows_counted,
        cpu,
    })
}

async fn baseline_sqlite(
    url: &str,
    workload: &Workload,
    rows: u64,
    random_hashes: bool,
    received_at: DateTime<Utc>,
    sample: impl Fn() -> CpuSample,
) -> anyhow::Result<(Duration, CpuSample, CpuSample)> {
    // The server's write connection: WAL, synchronous=FULL (its default), BEGIN IMMEDIATE.
    let mut conn = SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await?;
    let received = veritrail_core::event::format_time(&received_at);
    let cpu_before = sample();
    let start = Instant::now();
    let mut txn_start = 0;
    while txn_start < rows {
        let txn_end = (txn_start + ROWS_PER_TRANSACTION).min(rows);
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut chunk_start = txn_start;
        while chunk_start < txn_end {
            let chunk_end = (chunk_start + SQLITE_ROWS_PER_STATEMENT).min(txn_end);
            let mut insert = QueryBuilder::<Sqlite>::new(format!("INSERT INTO events ({INSERT_COLUMNS}) "));
            insert.push_values(chunk_start..chunk_end, |mut values, n| {
                let t = workload.template(n);
                values
                    .push_bind(TENANT)
                    .push_bind(i64::try_from(n).unwrap_or(i64::MAX))
                    .push_bind(baseline_id(n))
                    .push_bind(veritrail_core::event::format_time(&t.occurred_at))
                    .push_bind(received.as_str())
                    .push_bind(t.actor_id.as_str())
                    .push_bind(t.actor_type)
                    .push_bind(None::<&str>)
                    .push_bind(t.actor_ip.as_str())
                    .push_bind(t.actor_user_agent)
                    .push_bind(t.action)
                    .push_bind(t.resource_type)
                    .push_bind(t.resource_id.as_str())
                    .push_bind(t.resource_name.as_str())
                    .push_bind(t.outcome)
                    .push_bind(t.severity)
                    .push_bind(t.details_text.as_str())
                    .push_bind(t.tags_text.as_str())
                    .push_bind(hash_value(n, 1, random_hashes).to_vec())
                    .push_bind(hash_value(n, 2, random_hashes).to_vec())
                    .push_bind(hash_value(n, 3, random_hashes).to_vec());
            });
            insert.build().execute(&mut *tx).await?;
            chunk_start = chunk_end;
        }
        tx.commit().await?;
        txn_start = txn_end;
    }
    let elapsed = start.elapsed();
    let cpu_after = sample();
    conn.close().await.ok();
    Ok((elapsed, cpu_before, cpu_after))
}

async fn baseline_postgres(
    url: &str,
    workload: &Workload,
    rows: u64,
    random_hashes: bool,
    received_at: DateTime<Utc>,
    sample: impl Fn() -> CpuSample,
) -> anyhow::Result<(Duration, CpuSample, CpuSample)> {
    let mut conn = PgConnection::connect(url).await?;
    let sql = format!(
        "INSERT INTO events ({INSERT_COLUMNS}) SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], \
         $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
         $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], \
         $19::bytea[], $20::bytea[], $21::bytea[])"
    );
    let cpu_before = sample();
    let start = Instant::now();
    let mut txn_start = 0;
    while txn_start < rows {
        let txn_end = (txn_start + ROWS_PER_TRANSACTION).min(rows);
        let range = txn_start..txn_end;
        let templates: Vec<_> = range.clone().map(|n| workload.template(n)).collect();
        let text = |f: &dyn Fn(&crate::workload::EventTemplate) -> &str| -> Vec<&str> {
            templates.iter().map(|t| f(t)).collect()
        };
        let hashes = |column: u64| -> Vec<Vec<u8>> {
            range.clone().map(|n| hash_value(n, column, random_hashes).to_vec()).collect()
        };
        let mut tx = conn.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(vec![TENANT; templates.len()])
            .bind(range.clone().map(|n| i64::try_from(n).unwrap_or(i64::MAX)).collect::<Vec<i64>>())
            .bind(range.clone().map(baseline_id).collect::<Vec<String>>())
            .bind(templates.iter().map(|t| t.occurred_at).collect::<Vec<DateTime<Utc>>>())
            .bind(vec![received_at; templates.len()])
            .bind(text(&|t| &t.actor_id))
            .bind(text(&|t| t.actor_type))
            .bind(vec![None::<&str>; templates.len()])
            .bind(text(&|t| &t.actor_ip))
            .bind(text(&|t| t.actor_user_agent))
            .bind(text(&|t| t.action))
            .bind(text(&|t| t.resource_type))
            .bind(text(&|t| &t.resource_id))
            .bind(text(&|t| &t.resource_name))
            .bind(text(&|t| t.outcome))
            .bind(text(&|t| t.severity))
            .bind(text(&|t| &t.details_text))
            .bind(text(&|t| &t.tags_text))
            .bind(hashes(1))
            .bind(hashes(2))
            .bind(hashes(3))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        txn_start = txn_end;
    }
    let elapsed = start.elapsed();
    let cpu_after = sample();
    conn.close().await.ok();
    Ok((elapsed, cpu_before, cpu_after))
}

/// The server binary to use when none is given: the workspace's release build.
pub fn default_server_bin(workspace_root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("release").join("veritrail"),
        _ => workspace_root.join("target").join("release").join("veritrail"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_name_only() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/veritrail", "bench_x").ok().as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/bench_x")
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "b").ok().as_deref(),
            Some("postgres://u:p@h/b?sslmode=disable")
        );
        assert_eq!(with_database("postgres://h:1", "b").ok().as_deref(), Some("postgres://h:1/b"));
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:[redacted]@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
