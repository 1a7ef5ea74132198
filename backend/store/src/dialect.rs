//! What the two backends do differently in every statement the generic stores (anomalies,
//! alerting) run, so that those are written once, generic over the database, with `QueryBuilder`
//! (whose `push_bind` writes `?` on SQLite and `$n` on PostgreSQL).
//!
//! The differences: how a time is bound (TEXT `YYYY-MM-DDTHH:MM:SS.ffffffZ` on SQLite,
//! TIMESTAMPTZ on PostgreSQL), how a write transaction begins, and how a row is locked.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgQueryResult;
use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Postgres, QueryBuilder, Sqlite, Transaction, Type};
use veritrail_core::event::{format_time, normalize_time};
use veritrail_core::store::StoreError;

use crate::columns::Columns;
use crate::rows::db_error;

/// A value a statement may bind on the backend `D`.
pub(crate) trait Bind<'q, D: Database>: Encode<'q, D> + Type<D> {}

impl<'q, D: Database, T: Encode<'q, D> + Type<D>> Bind<'q, D> for T {}

/// A backend, as the generic stores see it.
#[async_trait]
pub(crate) trait Dialect: Database<Row: Columns> {
    /// A time as bound.
    type Time: for<'q> Bind<'q, Self> + Send;

    /// Appended to a `SELECT` that reads a row the transaction then changes on the strength of
    /// what it read. PostgreSQL locks the row (`FOR UPDATE`), so a concurrent writer of the same
    /// row waits and then sees this transaction's change; SQLite needs nothing, its write
    /// transactions (`BEGIN IMMEDIATE`) already hold the database's one write lock.
    const FOR_UPDATE: &'static str;

    /// A time as bound (and compared) in this backend's columns.
    fn time(time: &DateTime<Utc>) -> Self::Time;

    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Begins a transaction that writes. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`) on `pool`, which must be the store's one-connection write pool.
    async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, StoreError>;
}

/// Times as stored on SQLite: the fixed-width text that sorts as time.
pub(crate) fn text_time(time: &DateTime<Utc>) -> String {
    format_time(&normalize_time(*time))
}

#[async_trait]
impl Dialect for Sqlite {
    type Time = String;

    const FOR_UPDATE: &'static str = "";

    fn time(time: &DateTime<Utc>) -> String {
        text_time(time)
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn begin_write(pool: &Pool<Sqlite>) -> Result<Transaction<'static, Sqlite>, StoreError> {
        pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)
    }
}

#[async_trait]
impl Dialect for Postgres {
    type Time = DateTime<Utc>;

    const FOR_UPDATE: &'static str = " FOR UPDATE";

    fn time(time: &DateTime<Utc>) -> DateTime<Utc> {
        normalize_time(*time)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn begin_write(pool: &Pool<Postgres>) -> Result<Transaction<'static, Postgres>, StoreError> {
        pool.begin().await.map_err(db_error)
    }
}

/// Runs a built statement on a connection of either backend.
#[async_trait]
pub(crate) trait Run: Dialect {
    /// Runs a statement that writes; how many rows it changed.
    async fn execute(conn: &mut Self::Connection, query: QueryBuilder<Self>) -> Result<u64, StoreError>;
    async fn fetch_all(conn: &mut Self::Connection, query: QueryBuilder<Self>) -> Result<Vec<Self::Row>, StoreError>;
    async fn fetch_optional(
        conn: &mut Self::Connection,
        query: QueryBuilder<Self>,
    ) -> Result<Option<Self::Row>, StoreError>;
    async fn fetch_one(conn: &mut Self::Connection, query: QueryBuilder<Self>) -> Result<Self::Row, StoreError>;
}

#[async_trait]
impl<D: Dialect> Run for D
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
{
    async fn execute(conn: &mut D::Connection, mut query: QueryBuilder<D>) -> Result<u64, StoreError> {
        let done = query.build().execute(conn).await.map_err(db_error)?;
        Ok(D::rows_affected(&done))
    }

    async fn fetch_all(conn: &mut D::Connection, mut query: QueryBuilder<D>) -> Result<Vec<D::Row>, StoreError> {
        query.build().fetch_all(conn).await.map_err(db_error)
    }

    async fn fetch_optional(
        conn: &mut D::Connection,
        mut query: QueryBuilder<D>,
    ) -> Result<Option<D::Row>, StoreError> {
        query.build().fetch_optional(conn).await.map_err(db_error)
    }

    async fn fetch_one(conn: &mut D::Connection, mut query: QueryBuilder<D>) -> Result<D::Row, StoreError> {
        query.build().fetch_one(conn).await.map_err(db_error)
    }
}
