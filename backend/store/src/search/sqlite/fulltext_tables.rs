//! One FTS5 table per tenant: `search_text_fts_<id>`, the id from `search_fulltext_tables`.
//!
//! FTS5's bm25() weighs a term by statistics of its whole table: the number of rows, their
//! average length and how many rows hold the term. In a table shared by all tenants, one
//! tenant's texts moved another's scores, and comparing scores told a tenant whether a word
//! occurs in someone else's events. In a table of its own, every statistic bm25() reads is the
//! tenant's, and the scores stay FTS5's own BM25 (the same numbers as before for a tenant alone).
//!
//! Weighed against BM25 computed by the store from per-tenant counts, with FTS5 only matching
//! (as on PostgreSQL): FTS5 shows a text's term frequencies and length only to an auxiliary
//! function, which is registered through its C API and so needs `unsafe` (forbidden in this
//! workspace); outside FTS5 they need a second tokenizer that splits and stems exactly as
//! FTS5's porter does, or a copy of the index in ordinary tables. `fts5vocab` counts over the
//! whole table, not per tenant. A table per tenant also lets a search read only its tenant's
//! index, where a shared one walked every tenant's texts holding a term. What it costs: five
//! schema entries and about 17 KiB per tenant with texts (a new connection reads the schema of
//! 1,000 such tenants in about 35 ms), and a schema change when a tenant's first texts are
//! indexed.

use sqlx::{AssertSqlSafe, SqliteConnection, SqlitePool};
use veritrail_core::event::TenantId;
use veritrail_core::store::StoreError;

use crate::rows::{db_error, seq_to_db};

/// A tenant's FTS5 table over its rows of `search_texts` (rowid = `search_texts.id`).
///
/// Statements naming a table are not kept prepared (`persistent(false)`): one set per tenant
/// would crowd the connections' statement caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FulltextTable(i64);

impl FulltextTable {
    /// The table's name. Built from an integer only, so it is safe to put in SQL.
    pub(super) fn name(self) -> String {
        format!("search_text_fts_{}", self.0)
    }

    /// Finds the tenant's table; `None` until the tenant's first texts are indexed.
    pub(super) async fn of(pool: &SqlitePool, tenant: &TenantId) -> Result<Option<Self>, StoreError> {
        let mut conn = pool.acquire().await.map_err(db_error)?;
        Self::of_tenant(&mut conn, tenant).await
    }

    /// [`FulltextTable::of`] on a connection (inside a transaction).
    pub(super) async fn of_tenant(conn: &mut SqliteConnection, tenant: &TenantId) -> Result<Option<Self>, StoreError> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM search_fulltext_tables WHERE tenant = ?")
            .bind(tenant.as_str())
            .fetch_optional(conn)
            .await
            .map_err(db_error)?;
        Ok(id.map(Self))
    }

    /// The tenant's table, created and filled with the tenant's texts if it has none yet. Runs
    /// inside a write transaction, so a table is never seen without its texts.
    pub(super) async fn create_if_missing(conn: &mut SqliteConnection, tenant: &TenantId) -> Result<Self, StoreError> {
        if let Some(found) = Self::of_tenant(conn, tenant).await? {
            return Ok(found);
        }
        let id: i64 = sqlx::query_scalar("INSERT INTO search_fulltext_tables (tenant) VALUES (?) RETURNING id")
            .bind(tenant.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
        let table = Self(id);
        // Porter stemming over unicode61 tokens, so "logins" finds "login"; contentless (the text
        // is in search_texts), contentless_delete so that a rebuild can empty it.
        let create = format!(
            "CREATE VIRTUAL TABLE {} USING fts5 (text, content = '', contentless_delete = 1, \
             tokenize = 'porter unicode61')",
            table.name()
        );
        sqlx::query(AssertSqlSafe(create)).persistent(false).execute(&mut *conn).await.map_err(db_error)?;
        table.add_texts(conn, tenant, 0).await?;
        Ok(table)
    }

    /// Adds the tenant's texts first used at or after `from_seq`. Documents are stored in seq
    /// order without gaps, so after storing documents from `from_seq` on, these are exactly the
    /// texts that were new.
    pub(super) async fn add_texts(
        self,
        conn: &mut SqliteConnection,
        tenant: &TenantId,
        from_seq: u64,
    ) -> Result<(), StoreError> {
        let insert = format!(
            "INSERT INTO {} (rowid, text) SELECT id, text FROM search_texts WHERE tenant = ? AND first_seq >= ?",
            self.name()
        );
        sqlx::query(AssertSqlSafe(insert))
            .persistent(false)
            .bind(tenant.as_str())
            .bind(seq_to_db(from_seq))
            .execute(conn)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Empties the table (the tenant's texts are being rebuilt).
    pub(super) async fn clear(self, conn: &mut SqliteConnection) -> Result<(), StoreError> {
        let name = self.name();
        let delete_all = format!("INSERT INTO {name} ({name}) VALUES ('delete-all')");
        sqlx::query(AssertSqlSafe(delete_all)).persistent(false).execute(conn).await.map_err(db_error)?;
        Ok(())
    }
}

/// Creates the tables of the tenants indexed before each had its own (migration 14 dropped the
/// shared one), in the migrations' transaction. Tenants with texts are those with a
/// `search_progress` row (written with every document), so this reads one row per tenant.
pub(crate) async fn create_missing_fulltext_tables(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    let tenants: Vec<String> = sqlx::query_scalar(
        "SELECT tenant FROM search_progress WHERE tenant NOT IN (SELECT tenant FROM search_fulltext_tables) \
         ORDER BY tenant",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for tenant in tenants {
        let tenant = TenantId::parse(&tenant).map_err(StoreError::Incompatible)?;
        FulltextTable::create_if_missing(conn, &tenant).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::{AssertSqlSafe, Connection};
    use veritrail_core::event::TenantId;
    use veritrail_core::search::SearchFilter;

    use crate::migrate::{self, CREATE_HISTORY};
    use crate::testing::TestDatabase;

    /// Texts as the indexing job stored them before migration 14 (the shared table's triggers
    /// indexed them); text hashes 0101…, 0202…, 0303….
    fn before_14() -> String {
        let [one, two, three] = ["01", "02", "03"].map(|byte| byte.repeat(32));
        format!(
            "INSERT INTO search_texts (tenant, text_hash, first_seq, text) VALUES
                 ('acme', x'{one}', 0, 'alice failed login'), ('acme', x'{two}', 1, 'bob read the report'),
                 ('globex', x'{three}', 0, 'carol failed login');
             INSERT INTO search_documents (tenant, seq, occurred_at, actor_key, action_key, outcome, text, text_hash)
             VALUES ('acme', 0, '2026-05-01T10:00:00.000000Z', 'alice', 'login', 'failure', 'alice failed login', x'{one}'),
                    ('acme', 1, '2026-05-01T10:01:00.000000Z', 'bob', 'read', 'success', 'bob read the report', x'{two}'),
                    ('globex', 0, '2026-05-01T10:00:00.000000Z', 'carol', 'login', 'failure', 'carol failed login',
                     x'{three}');
             INSERT INTO search_progress (tenant, indexed_until, rendering) VALUES ('acme', 2, 1), ('globex', 1, 1);"
        )
    }

    #[tokio::test]
    async fn tenants_indexed_before_migration_14_get_their_tables_at_start_up() {
        let db = TestDatabase::sqlite();
        let options = db.url.parse::<sqlx::sqlite::SqliteConnectOptions>().expect("url").create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("connect");
        sqlx::raw_sql(CREATE_HISTORY).execute(&mut conn).await.expect("history");
        for migration in migrate::SQLITE.iter().take_while(|migration| migration.version < 14) {
            sqlx::raw_sql(migration.sql).execute(&mut conn).await.expect("migration");
            sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, '')")
                .bind(migration.version)
                .bind(migration.name)
                .bind(migration.checksum())
                .execute(&mut conn)
                .await
                .expect("record");
        }
        sqlx::raw_sql(AssertSqlSafe(before_14())).execute(&mut conn).await.expect("texts");
        conn.close().await.expect("close");

        // Opened twice: the second start finds every table there.
        let (acme, globex) = (TenantId::parse("acme").expect("acme"), TenantId::parse("globex").expect("globex"));
        let (login, report) = (vec!["login".to_owned()], vec!["report".to_owned()]);
        let any = SearchFilter::default();
        for _ in 0..2 {
            let store = db.connect().await;
            let found = store.search.fulltext(&acme, &login, &any, 10).await.expect("acme");
            assert_eq!(found.iter().map(|hit| hit.seq).collect::<Vec<_>>(), vec![0]);
            let found = store.search.fulltext(&acme, &report, &any, 10).await.expect("acme");
            assert_eq!(found.iter().map(|hit| hit.seq).collect::<Vec<_>>(), vec![1]);
            let found = store.search.fulltext(&globex, &report, &any, 10).await.expect("globex");
            assert!(found.is_empty(), "acme's texts are not in globex's table");
            assert_eq!(store.search.fulltext(&globex, &login, &any, 10).await.expect("globex").len(), 1);
        }
    }
}
